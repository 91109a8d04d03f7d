"""Shared helpers for the potok package's tests. The fixtures `potok_broker` and `potok_new_topic` come from
potok's own pytest plugin (its `pytest11` entry point), so these tests also check that the plugin loads."""

from __future__ import annotations

import time
import uuid

# Every client wait in these tests is bounded by this; pytest-timeout is the outer bound.
OP_TIMEOUT = 30.0


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_until(predicate, timeout=OP_TIMEOUT, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
