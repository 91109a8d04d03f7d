"""The KIP-848 consumer group protocol (group.protocol=consumer) with confluent-kafka: the broker computes
the assignment; members split partitions without overlap, a leaving member's partitions move to the
others, and committed offsets are honoured."""

import time
import uuid

from confluent_kafka import Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions, Producer

from conftest import BOOTSTRAP, OP_TIMEOUT, admin_client


def consumer(group):
    return Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": group,
            "group.protocol": "consumer",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )


def produce(topic, count, start=0):
    p = Producer({"bootstrap.servers": BOOTSTRAP})
    for i in range(start, start + count):
        p.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    assert p.flush(OP_TIMEOUT) == 0


def poll_once(consumers, seen):
    """One poll round: records each delivered (partition, offset) in `seen` (asserting no record comes
    twice) and commits it synchronously."""
    for i, c in enumerate(consumers):
        m = c.poll(0.1)
        if m is None:
            continue
        assert m.error() is None, m.error()
        key = (m.partition(), m.offset())
        assert key not in seen, f"{key} delivered twice"
        seen[key] = i
        c.commit(message=m, asynchronous=False)


def drain(consumers, want, seen=None, deadline_s=OP_TIMEOUT):
    """Polls until `want` records are in `seen`. Returns `seen` ({(partition, offset): consumer index})."""
    seen = {} if seen is None else seen
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and len(seen) < want:
        poll_once(consumers, seen)
    return seen


def wait_assigned(consumers, partitions, seen, deadline_s=OP_TIMEOUT):
    """Polls (recording records in `seen`) until every consumer owns partitions and together they own all
    `partitions` exactly once. Returns each consumer's sorted partitions."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        poll_once(consumers, seen)
        owned = [sorted(tp.partition for tp in c.assignment()) for c in consumers]
        if sorted(p for o in owned for p in o) == list(range(partitions)) and all(owned):
            return owned
    raise AssertionError(f"assignment did not settle: {[c.assignment() for c in consumers]}")


def test_members_split_partitions_and_take_over_after_a_leave(topic_factory):
    topic = topic_factory(partitions=4)
    group = f"potok-848-{uuid.uuid4().hex[:8]}"
    produce(topic, 40)
    a, b = consumer(group), consumer(group)
    try:
        a.subscribe([topic])
        b.subscribe([topic])
        seen = {}
        owned = wait_assigned([a, b], 4, seen)
        assert not set(owned[0]) & set(owned[1])
        drain([a, b], 40, seen)
        assert len(seen) == 40
        b.close()
        produce(topic, 20, start=40)
        later = {}
        assert wait_assigned([a], 4, later) == [[0, 1, 2, 3]]
        # Nothing committed is delivered again; only the 20 new records arrive.
        drain([a], 20, later)
        assert len(later) == 20
        assert not set(later) & set(seen)
    finally:
        a.close()


def test_admin_sees_the_consumer_group(topic_factory):
    topic = topic_factory(partitions=2)
    group = f"potok-848-{uuid.uuid4().hex[:8]}"
    produce(topic, 4)
    c = consumer(group)
    try:
        c.subscribe([topic])
        seen = {}
        wait_assigned([c], 2, seen)
        assert len(drain([c], 4, seen)) == 4
        admin = admin_client()
        listed = admin.list_consumer_groups().result(OP_TIMEOUT)
        assert group in [g.group_id for g in listed.valid]
        committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        offsets = {tp.partition: tp.offset for tp in committed[group].result(OP_TIMEOUT).topic_partitions}
        # Each partition's committed offset is the count of its records (all 4 may hash to one partition).
        assert set(offsets) <= {0, 1} and sum(o for o in offsets.values() if o > 0) == 4, offsets
    finally:
        c.close()
    # The client must outlive its futures: an AdminClient dropped mid-request fails them with _DESTROY.
    admin = admin_client()
    deadline = time.monotonic() + OP_TIMEOUT
    while time.monotonic() < deadline:
        listed = admin.list_consumer_groups().result(OP_TIMEOUT)
        states = {g.group_id: g.state for g in listed.valid}
        if states.get(group) == ConsumerGroupState.EMPTY:
            break
        time.sleep(0.2)
    assert states.get(group) == ConsumerGroupState.EMPTY
