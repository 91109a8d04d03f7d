"""The pytest plugin (entry point ``pytest11``, loaded automatically once ``potok`` is installed).

Fixtures:

* ``potok_broker`` (session scope): one embedded :class:`potok.Broker` for the whole test run, started on
  first use in milliseconds and stopped cleanly at the end. Point any Kafka client at
  ``potok_broker.bootstrap_servers``.
* ``potok_new_topic``: a factory ``potok_new_topic(prefix="topic", partitions=1, config=None) -> str`` that
  creates a fresh, uniquely named topic on ``potok_broker`` and returns its name, so tests sharing the
  session broker never see each other's records.

``potok`` is imported only when a fixture is used, so installing the package never breaks a test run that
does not use it.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Optional

import pytest

if TYPE_CHECKING:
    from potok import Broker


def _fresh_name(prefix: str, node_name: str) -> str:
    # Kafka topic names allow [a-zA-Z0-9._-] up to 249 characters.
    hint = re.sub(r"[^a-zA-Z0-9._-]+", "-", f"{prefix}-{node_name}").strip("-")[:80] or "topic"
    return f"{hint}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def potok_broker() -> Iterator["Broker"]:
    """An embedded potok broker shared by the whole session."""
    import potok

    with potok.Broker() as broker:
        yield broker


@pytest.fixture
def potok_new_topic(potok_broker: "Broker", request: pytest.FixtureRequest) -> Callable[..., str]:
    """A factory of fresh topics on ``potok_broker``: ``potok_new_topic(partitions=3)`` returns a new name."""

    def new_topic(
        prefix: str = "topic",
        partitions: int = 1,
        config: Optional[Mapping[str, str]] = None,
    ) -> str:
        return potok_broker.create_topic(_fresh_name(prefix, request.node.name), partitions, config=config)

    return new_topic
