"""Shared fixtures for the client suites (kcat, kafka-python, confluent-kafka).

The broker under test is at $POTOK_BOOTSTRAP (default 127.0.0.1:9092): Apache Kafka to validate the
tests, potok's broker to test potok. Every test makes its own uniquely named topics (and consumer
groups), so the suite is re-runnable on the same broker. Outside the test_groups_*.py files no
test uses a consumer group: consumers assign() partitions, start from explicit offsets, and never
commit.
"""

import os
import re
import time
import uuid

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

BOOTSTRAP = os.environ.get("POTOK_BOOTSTRAP", "127.0.0.1:9092")
# Every client wait is bounded by this; pytest-timeout (60 s per test) is the outer bound.
OP_TIMEOUT = 30.0


def new_topic_name(hint="t"):
    """A fresh, valid topic name: potok-<hint>-<random>."""
    hint = re.sub(r"[^a-zA-Z0-9._-]+", "-", hint).strip("-")[:60] or "t"
    return f"potok-{hint}-{uuid.uuid4().hex[:12]}"


def new_group_name(hint="g"):
    """A fresh consumer group id: potok-grp-<hint>-<random>."""
    hint = re.sub(r"[^a-zA-Z0-9._-]+", "-", hint).strip("-")[:60] or "g"
    return f"potok-grp-{hint}-{uuid.uuid4().hex[:12]}"


def admin_client():
    return AdminClient({"bootstrap.servers": BOOTSTRAP, "client.id": "potok-test-confluent-admin", "socket.timeout.ms": 10000})


def wait_for_topic(admin, name, partitions, timeout=OP_TIMEOUT):
    """Polls full-cluster metadata until `name` has `partitions` partitions, each with a leader.

    Lists all topics rather than asking for `name` alone, so that no metadata request could
    auto-create it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=10)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions:
            if all(p.leader >= 0 and p.error is None for p in t.partitions.values()):
                break
        last = t
        time.sleep(0.1)
    else:
        raise AssertionError(f"topic {name} not ready with {partitions} partitions after {timeout}s: {last}")
    # Kafka can name a leader in Metadata a moment before that leader serves the partition
    # (ListOffsets then fails with NOT_LEADER_OR_FOLLOWER): wait until every partition answers.
    while time.monotonic() < deadline:
        futs = admin.list_offsets(
            {TopicPartition(name, p): OffsetSpec.latest() for p in range(partitions)}, request_timeout=10
        )
        errors = []
        for f in futs.values():  # wait for every future, so that none is left pending
            try:
                f.result(timeout=15)
            except KafkaException as e:
                errors.append(e)
        if not errors:
            return md
        last = errors
        time.sleep(0.1)
    raise AssertionError(f"topic {name}: partitions not serving ListOffsets after {timeout}s: {last}")


def wait_for_topic_gone(admin, name, timeout=OP_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name not in admin.list_topics(timeout=10).topics:
            return
        time.sleep(0.1)
    raise AssertionError(f"topic {name} still in metadata after {timeout}s")


def create_topic(name, partitions=1, config=None, timeout=OP_TIMEOUT):
    """Creates a topic with confluent-kafka's AdminClient and waits until every partition has a
    leader in metadata. Returns the name."""
    admin = admin_client()
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    try:
        futures[name].result(timeout=timeout)
    except KafkaException as e:  # pragma: no cover - reported as the test's failure
        raise AssertionError(f"creating topic {name}: {e}") from e
    wait_for_topic(admin, name, partitions, timeout)
    return name


@pytest.fixture(scope="session", autouse=True)
def broker_answers_metadata():
    """Stops the whole run at once, rather than test by test at the timeout, when the broker does
    not answer a Metadata request."""
    try:
        admin_client().list_topics(timeout=15)
    except KafkaException as e:
        pytest.exit(f"the broker at {BOOTSTRAP} does not answer Metadata: {e}", returncode=1)


@pytest.fixture(scope="session")
def bootstrap():
    return BOOTSTRAP


@pytest.fixture
def unique_topic(request):
    """A fresh topic name (not created) derived from the test's name."""
    return new_topic_name(request.node.name.removeprefix("test_"))


@pytest.fixture
def unique_group(request):
    """A fresh consumer group id derived from the test's name."""
    return new_group_name(request.node.name.removeprefix("test_"))


@pytest.fixture
def topic_factory(request):
    """make(partitions=1, config=None) -> name of a new, created, leader-ready topic."""

    def make(partitions=1, config=None):
        return create_topic(new_topic_name(request.node.name.removeprefix("test_")), partitions, config)

    return make
