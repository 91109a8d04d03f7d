"""Classic consumer groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup, OffsetCommit/OffsetFetch) with
confluent-kafka (librdkafka, group.protocol=classic): members split a topic's partitions without
overlap, every record is consumed exactly once with synchronous commits, a member that leaves or
dies hands its partitions over from its committed offsets, concurrent joins settle into one
generation, and the AdminClient's group calls (list, describe, offsets, delete) see it all.

All consumers of a test are polled round-robin from one thread (librdkafka serves rebalances from
poll()), except where a test runs members in threads or a subprocess on purpose. Records are keyed
k<i>/v<i>; a record is identified by (partition, offset)."""

import json
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    ConsumerGroupType,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from conftest import BOOTSTRAP, OP_TIMEOUT, admin_client, new_group_name

# The broker's default group.min.session.timeout.ms is 6000: the shortest session a member may ask for.
KILL_SESSION_TIMEOUT_S = 6.0
# After a member dies, the survivor has its partitions within the session timeout plus this much
# (the survivor learns of the rebalance at its next heartbeat, then rejoins and syncs).
TAKEOVER_MARGIN_S = 4.0
# A group's authorized operations when there is no authorizer (DescribeGroups v3+ with
# include_authorized_operations): Kafka 4.1's bit field 3400.
GROUP_OPERATIONS = ["READ", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"]


def group_consumer(group, **conf):
    base = {
        "bootstrap.servers": BOOTSTRAP,
        "group.id": group,
        "group.protocol": "classic",
        "client.id": "potok-test-group-confluent",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        # Members notice a rebalance at their next heartbeat: keep rebalances quick.
        "heartbeat.interval.ms": 500,
        "session.timeout.ms": 10000,
        "socket.timeout.ms": 10000,
    }
    base.update(conf)
    return Consumer(base)


def produce(topic, count, start=0):
    """Produces keyed records k<i>/v<i> for i in [start, start+count) with the default (key-hash)
    partitioner. Returns {(partition, offset): (key, value)} from the delivery reports."""
    p = Producer({"bootstrap.servers": BOOTSTRAP, "client.id": "potok-test-group-producer", "linger.ms": 5, "message.timeout.ms": int(OP_TIMEOUT * 1000)})
    out, errors = {}, []

    def cb(err, msg):
        if err is not None:
            errors.append(err)
        else:
            out[(msg.partition(), msg.offset())] = (msg.key(), msg.value())

    for i in range(start, start + count):
        p.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), on_delivery=cb)
    assert p.flush(OP_TIMEOUT) == 0, "undelivered records after flush"
    assert not errors, errors[:3]
    assert len(out) == count
    return out


def partitions_of(consumer):
    return sorted(tp.partition for tp in consumer.assignment())


def poll_once(consumers, seen, timeout=0.05):
    """One poll round over `consumers`: each delivered record goes into `seen`
    ({(partition, offset): (consumer index, key, value)}; a record delivered twice fails the test)
    and is committed synchronously right after."""
    for i, c in enumerate(consumers):
        m = c.poll(timeout)
        if m is None:
            continue
        assert m.error() is None, m.error()
        rec = (m.partition(), m.offset())
        assert rec not in seen, f"{rec} delivered twice (first to consumer {seen[rec][0]}, now to {i})"
        seen[rec] = (i, m.key(), m.value())
        c.commit(message=m, asynchronous=False)


def drain(consumers, want, seen, deadline_s=OP_TIMEOUT):
    """Polls until `seen` holds `want` records; then a little longer, so that a duplicate shows."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and len(seen) < want:
        poll_once(consumers, seen)
    assert len(seen) == want, f"consumed {len(seen)} of {want} records"
    for _ in range(5):
        poll_once(consumers, seen)
    assert len(seen) == want, f"consumed {len(seen)} records, want {want}"
    return seen


def wait_assigned(consumers, partitions, seen, deadline_s=OP_TIMEOUT):
    """Polls (records go into `seen`) until every consumer owns partitions and together they own
    each of the `partitions` exactly once. Returns each consumer's sorted partitions."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        poll_once(consumers, seen)
        owned = [partitions_of(c) for c in consumers]
        if all(owned) and sorted(p for o in owned for p in o) == list(range(partitions)):
            return owned
    raise AssertionError(f"assignment did not settle in {deadline_s}s: {[partitions_of(c) for c in consumers]}")


def close_all(consumers):
    for c in consumers:
        try:
            c.close()
        except RuntimeError:  # already closed
            pass


def group_offsets(admin, group):
    """{(topic, partition): (offset, metadata)} committed for `group`, via the AdminClient."""
    fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=OP_TIMEOUT)[group]
    res = fut.result(timeout=OP_TIMEOUT)
    assert res.group_id == group
    return {(tp.topic, tp.partition): (tp.offset, tp.metadata) for tp in res.topic_partitions}


def describe_group(admin, group):
    [fut] = admin.describe_consumer_groups([group], request_timeout=OP_TIMEOUT).values()
    return fut.result(timeout=OP_TIMEOUT)


def listed_groups(admin):
    res = admin.list_consumer_groups(request_timeout=OP_TIMEOUT).result(timeout=OP_TIMEOUT)
    assert not res.errors, res.errors
    return {g.group_id: g for g in res.valid}


def wait_group_state(admin, group, state, deadline_s=OP_TIMEOUT):
    deadline = time.monotonic() + deadline_s
    while True:
        d = describe_group(admin, group)
        if d.state == state or time.monotonic() > deadline:
            return d
        time.sleep(0.1)


def cgm_generation_and_member(consumer):
    """The generation id and member id in the consumer's group metadata. librdkafka writes it as
    b"CGMDv2:" + int32 generation (native order) + group id NUL + member id NUL + ..."""
    raw = bytes(consumer.consumer_group_metadata())
    assert raw.startswith(b"CGMDv2:"), raw
    (generation,) = struct.unpack("=i", raw[7:11])
    _group, member, _rest = raw[11:].split(b"\x00", 2)
    return generation, member.decode()


def test_three_members_split_partitions_and_consume_each_record_once(topic_factory, unique_group):
    topic = topic_factory(partitions=6)
    expected = produce(topic, 150)
    assert {p for p, _ in expected} == set(range(6)), "keys should hash to every partition"
    consumers = [group_consumer(unique_group) for _ in range(3)]
    try:
        for c in consumers:
            c.subscribe([topic])
        seen = {}
        owned = wait_assigned(consumers, 6, seen)
        for i in range(3):
            for j in range(i + 1, 3):
                assert not set(owned[i]) & set(owned[j]), owned
        # Records produced now are read by their partition's owner.
        later = produce(topic, 150, start=150)
        expected.update(later)
        drain(consumers, len(expected), seen)
        assert {rec: kv for rec, (_, *kv) in seen.items()} == {rec: list(kv) for rec, kv in expected.items()}
        for (p, _), (i, _, _) in ((rec, seen[rec]) for rec in later):
            assert p in owned[i], f"partition {p} read by consumer {i}, which owns {owned[i]}"
        # Each key is in one partition.
        key_partitions = {}
        for (p, _), (k, _) in expected.items():
            assert key_partitions.setdefault(k, p) == p
        # What was committed is every partition's end.
        ends = {p: max(o for q, o in expected if q == p) + 1 for p in range(6)}
        committed = consumers[0].committed([TopicPartition(topic, p) for p in range(6)], timeout=OP_TIMEOUT)
        assert {tp.partition: tp.offset for tp in committed} == ends
        assert [partitions_of(c) for c in consumers] == owned, "the group rebalanced while consuming"
    finally:
        close_all(consumers)


def test_clean_leave_hands_partitions_over(topic_factory, unique_group):
    topic = topic_factory(partitions=6)
    first = produce(topic, 60)
    a, b = group_consumer(unique_group), group_consumer(unique_group)
    try:
        a.subscribe([topic])
        b.subscribe([topic])
        seen = {}
        owned = wait_assigned([a, b], 6, seen)
        assert not set(owned[0]) & set(owned[1])
        drain([a, b], len(first), seen)
        assert set(seen) == set(first)

        b.close()  # LeaveGroup: a gets b's partitions at the next rebalance, without waiting for a session timeout
        t0 = time.monotonic()
        later_records = produce(topic, 60, start=60)
        later = {}
        assert wait_assigned([a], 6, later, deadline_s=10) == [list(range(6))]
        took = time.monotonic() - t0
        print(f"takeover {took:.2f}s after the clean leave")
        # Nothing committed is delivered again: only the new records arrive.
        drain([a], len(later_records), later)
        assert set(later) == set(later_records)
        assert not set(later) & set(seen)
        assert took < 5, f"takeover after a clean leave took {took:.1f}s (session.timeout.ms is 10000)"
    finally:
        close_all([a, b])


# A group member run in a subprocess (argv: BOOTSTRAP GROUP TOPIC SESSION_TIMEOUT_MS): it reports
# each assignment and each record it has committed (synchronously) as a JSON line on stdout, and never
# leaves the group; it is killed with SIGKILL, or exits by itself after 50 s.
MEMBER_SCRIPT = r"""
import json, os, sys, time
from confluent_kafka import Consumer

bootstrap, group, topic, session_ms = sys.argv[1:5]

def say(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()

c = Consumer({
    "bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "classic",
    "client.id": "potok-test-group-victim", "auto.offset.reset": "earliest",
    "enable.auto.commit": False, "session.timeout.ms": int(session_ms),
    "heartbeat.interval.ms": 500, "socket.timeout.ms": 10000,
})
c.subscribe(
    [topic],
    on_assign=lambda c, parts: say(assigned=sorted(p.partition for p in parts)),
    on_revoke=lambda c, parts: say(revoked=sorted(p.partition for p in parts)),
)
deadline = time.monotonic() + 50
while time.monotonic() < deadline:
    m = c.poll(0.1)
    if m is None:
        continue
    if m.error():
        say(error=str(m.error()))
        continue
    c.commit(message=m, asynchronous=False)
    say(committed=[m.partition(), m.offset()])
os._exit(3)  # never a clean leave
"""


class Member:
    """The subprocess member: its current partitions and committed records, read from its stdout by
    a thread."""

    def __init__(self, group, topic, stderr_path):
        self.lock = threading.Lock()
        self.partitions = []
        self.committed = set()
        self.errors = []
        self.stderr_path = stderr_path
        self.stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", MEMBER_SCRIPT, BOOTSTRAP, group, topic, str(int(KILL_SESSION_TIMEOUT_S * 1000))],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            ev = json.loads(line)
            with self.lock:
                if "assigned" in ev:
                    self.partitions = ev["assigned"]
                elif "revoked" in ev:
                    self.partitions = []
                elif "committed" in ev:
                    self.committed.add(tuple(ev["committed"]))
                else:
                    self.errors.append(ev)

    def snapshot(self):
        with self.lock:
            return list(self.partitions), set(self.committed), list(self.errors)

    def log(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")[-3000:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.reader.join(timeout=5)
        self.stderr.close()


def test_killed_member_partitions_move_after_session_timeout(topic_factory, unique_group, tmp_path):
    topic = topic_factory(partitions=6)
    victim = Member(unique_group, topic, tmp_path / "member.stderr")
    survivor = group_consumer(unique_group)
    try:
        survivor.subscribe([topic])
        seen = {}
        deadline = time.monotonic() + OP_TIMEOUT
        while True:
            poll_once([survivor], seen)
            theirs, _, errors = victim.snapshot()
            assert not errors, errors
            mine = partitions_of(survivor)
            if mine and theirs and sorted(mine + theirs) == list(range(6)):
                break
            assert victim.proc.poll() is None, f"member exited: {victim.log()}"
            assert time.monotonic() < deadline, f"no settled assignment: survivor {mine}, member {theirs}\n{victim.log()}"

        records = produce(topic, 120)
        deadline = time.monotonic() + OP_TIMEOUT
        while True:
            poll_once([survivor], seen)
            _, theirs_committed, errors = victim.snapshot()
            assert not errors, errors
            if len(seen) + len(theirs_committed) >= len(records):
                break
            assert time.monotonic() < deadline, f"consumed {len(seen)} + {len(theirs_committed)} of {len(records)}"
        theirs, theirs_committed, _ = victim.snapshot()
        assert not set(seen) & theirs_committed
        assert set(seen) | theirs_committed == set(records)
        assert theirs_committed, "the member committed nothing"
        assert {p for p, _ in theirs_committed} <= set(theirs)

        victim.kill()  # no LeaveGroup: the broker finds out when the member's session expires
        killed = time.monotonic()
        later_records = produce(topic, 60, start=120)
        later = {}
        limit = KILL_SESSION_TIMEOUT_S + TAKEOVER_MARGIN_S
        assert wait_assigned([survivor], 6, later, deadline_s=limit + 5) == [list(range(6))]
        took = time.monotonic() - killed
        print(f"takeover {took:.2f}s after the kill (session.timeout.ms={int(KILL_SESSION_TIMEOUT_S * 1000)})")
        assert took <= limit, f"the survivor got the dead member's partitions after {took:.1f}s (limit {limit}s)"
        try:
            drain([survivor], len(later_records), later)
        except AssertionError:
            # Once in CI (2026-12-05) a 61st record arrived and the log could not say which: name it next time.
            extra = {k: v for k, v in later.items() if k not in later_records}
            print(f"records beyond the new ones: {extra}; seen before the kill: {[k for k in extra if k in seen]}; "
                  f"committed by the killed member: {sorted(c for c in theirs_committed if c in extra)}; "
                  f"partitions before: survivor {mine}, member {theirs}")
            raise
        # From the dead member's partitions, only what it had not committed (the new records) arrives.
        assert set(later) == set(later_records)
        assert not set(later) & theirs_committed
    finally:
        victim.kill()
        close_all([survivor])


def test_concurrent_joins_settle_into_one_generation(topic_factory, unique_group):
    topic = topic_factory(partitions=6)
    start = threading.Barrier(3, timeout=OP_TIMEOUT)
    stop = threading.Event()
    lock = threading.Lock()
    state = [None, None, None]  # per member: (partitions, generation, member id)
    failures = []

    def member(i):
        try:
            c = group_consumer(unique_group)
            try:
                start.wait()
                c.subscribe([topic])
                while not stop.is_set():
                    m = c.poll(0.1)
                    assert m is None or m.error() is None, m.error()
                    generation, member_id = cgm_generation_and_member(c)
                    with lock:
                        state[i] = (partitions_of(c), generation, member_id)
            finally:
                c.close()
        except BaseException as e:  # reported by the test thread
            failures.append(e)

    threads = [threading.Thread(target=member, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + OP_TIMEOUT
        settled = None
        while time.monotonic() < deadline and not failures:
            with lock:
                snap = list(state)
            if all(snap):
                owned = [s[0] for s in snap]
                if all(owned) and sorted(p for o in owned for p in o) == list(range(6)) and len({s[1] for s in snap}) == 1:
                    settled = snap
                    break
            time.sleep(0.05)
        assert not failures, failures
        assert settled is not None, f"members did not settle into one generation: {state}"
        generation = settled[0][1]
        assert generation > 0
        member_ids = {s[2] for s in settled}
        assert len(member_ids) == 3 and "" not in member_ids

        admin = admin_client()
        d = wait_group_state(admin, unique_group, ConsumerGroupState.STABLE)
        assert d.state == ConsumerGroupState.STABLE
        assert {m.member_id for m in d.members} == member_ids
        by_member = {s[2]: s[0] for s in settled}
        for m in d.members:
            assert sorted(tp.partition for tp in m.assignment.topic_partitions) == by_member[m.member_id]
            assert all(tp.topic == topic for tp in m.assignment.topic_partitions)
        # Nothing changed while we looked: still one generation, the same partitions.
        with lock:
            now = list(state)
        assert now == settled, (now, settled)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=20)
        assert not any(t.is_alive() for t in threads), "a member thread did not stop"
    assert not failures, failures


def test_commit_metadata_and_admin_group_calls(topic_factory, unique_group):
    topic = topic_factory(partitions=6)
    admin = admin_client()
    c = group_consumer(unique_group, **{"client.id": "potok-test-group-admin-member"})
    try:
        c.subscribe([topic])
        seen = {}
        assert wait_assigned([c], 6, seen) == [list(range(6))]
        offsets = [TopicPartition(topic, p, 10 * p + 1, metadata=f"meta-{p}-é") for p in range(6)]
        offsets[5] = TopicPartition(topic, 5, 7)  # no metadata
        res = c.commit(offsets=offsets, asynchronous=False)
        assert all(tp.error is None for tp in res), res
        got = c.committed([TopicPartition(topic, p) for p in range(6)], timeout=OP_TIMEOUT)
        assert [(tp.partition, tp.offset, tp.metadata) for tp in got] == [
            (0, 1, "meta-0-é"),
            (1, 11, "meta-1-é"),
            (2, 21, "meta-2-é"),
            (3, 31, "meta-3-é"),
            (4, 41, "meta-4-é"),
            (5, 7, None),
        ]
        # Partitions never committed answer OFFSET_INVALID (-1001).
        other = topic_factory(partitions=1)
        [none] = c.committed([TopicPartition(other, 0)], timeout=OP_TIMEOUT)
        assert none.offset == -1001 and none.error is None

        listed = listed_groups(admin)
        assert unique_group in listed
        g = listed[unique_group]
        assert g.state == ConsumerGroupState.STABLE
        assert not g.is_simple_consumer_group
        assert g.type in (ConsumerGroupType.CLASSIC, ConsumerGroupType.UNKNOWN)

        d = wait_group_state(admin, unique_group, ConsumerGroupState.STABLE)
        assert d.group_id == unique_group
        assert d.state == ConsumerGroupState.STABLE
        assert not d.is_simple_consumer_group
        assert d.partition_assignor == "range"  # librdkafka's first choice in partition.assignment.strategy
        assert d.coordinator is not None and d.coordinator.port == int(BOOTSTRAP.rsplit(":", 1)[1])
        assert d.authorized_operations is None  # not asked for
        [m] = d.members
        assert m.client_id == "potok-test-group-admin-member"
        assert m.member_id
        assert m.host == "/" + BOOTSTRAP.rsplit(":", 1)[0]  # Kafka writes the client's address as "/127.0.0.1"
        assert sorted((tp.topic, tp.partition) for tp in m.assignment.topic_partitions) == [(topic, p) for p in range(6)]

        # Asked for, with no authorizer: every operation on a group (Kafka 4.x counts the group
        # configs' DESCRIBE_CONFIGS and ALTER_CONFIGS among them).
        [fut] = admin.describe_consumer_groups([unique_group], include_authorized_operations=True, request_timeout=OP_TIMEOUT).values()
        ops = fut.result(timeout=OP_TIMEOUT).authorized_operations
        assert sorted(op.name for op in ops) == sorted(GROUP_OPERATIONS), ops

        assert group_offsets(admin, unique_group) == {
            (topic, p): (o, md) for p, o, md in [(tp.partition, tp.offset, tp.metadata) for tp in got]
        }

        # The states filter (ListGroups v4+).
        res = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}, request_timeout=OP_TIMEOUT).result(timeout=OP_TIMEOUT)
        assert unique_group in {g.group_id for g in res.valid}
        assert {g.state for g in res.valid} == {ConsumerGroupState.STABLE}
        res = admin.list_consumer_groups(states={ConsumerGroupState.EMPTY}, request_timeout=OP_TIMEOUT).result(timeout=OP_TIMEOUT)
        assert unique_group not in {g.group_id for g in res.valid}

        # While the group has members, a commit from outside it (generation -1, no member id) is
        # refused with UNKNOWN_MEMBER_ID: from a consumer that never joined, and from the AdminClient.
        outsider = group_consumer(unique_group)
        try:
            with pytest.raises(KafkaException) as e:
                outsider.commit(offsets=[TopicPartition(topic, 0, 99)], asynchronous=False)
            assert e.value.args[0].code() == KafkaError.UNKNOWN_MEMBER_ID, e.value
        finally:
            outsider.close()
        fut = admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(unique_group, [TopicPartition(topic, 0, 99)])], request_timeout=OP_TIMEOUT
        )[unique_group]
        [tp] = fut.result(timeout=OP_TIMEOUT).topic_partitions
        assert tp.error is not None and tp.error.code() == KafkaError.UNKNOWN_MEMBER_ID, tp
        assert group_offsets(admin, unique_group)[(topic, 0)] == (1, "meta-0-é")

        # An active group cannot be deleted.
        [fut] = admin.delete_consumer_groups([unique_group], request_timeout=OP_TIMEOUT).values()
        with pytest.raises(KafkaException) as e:
            fut.result(timeout=OP_TIMEOUT)
        assert e.value.args[0].code() == KafkaError.NON_EMPTY_GROUP, e.value
    finally:
        c.close()

    # Once its only member has left, the group is Empty (offsets kept) and can be deleted.
    d = wait_group_state(admin, unique_group, ConsumerGroupState.EMPTY)
    assert d.state == ConsumerGroupState.EMPTY and d.members == []
    assert not d.is_simple_consumer_group  # its protocol type is still "consumer"
    assert listed_groups(admin)[unique_group].state == ConsumerGroupState.EMPTY
    assert len(group_offsets(admin, unique_group)) == 6
    # An empty group takes the AdminClient's commits.
    fut = admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(unique_group, [TopicPartition(topic, 0, 3, metadata="admin")])], request_timeout=OP_TIMEOUT
    )[unique_group]
    [tp] = fut.result(timeout=OP_TIMEOUT).topic_partitions
    assert tp.error is None and tp.offset == 3, tp
    assert group_offsets(admin, unique_group)[(topic, 0)] == (3, "admin")
    [fut] = admin.delete_consumer_groups([unique_group], request_timeout=OP_TIMEOUT).values()
    assert fut.result(timeout=OP_TIMEOUT) is None
    assert unique_group not in listed_groups(admin)
    assert group_offsets(admin, unique_group) == {}
    # Deleting it again, or a group that never existed: GROUP_ID_NOT_FOUND.
    never = new_group_name("never")
    for group in (unique_group, never):
        [fut] = admin.delete_consumer_groups([group], request_timeout=OP_TIMEOUT).values()
        with pytest.raises(KafkaException) as e:
            fut.result(timeout=OP_TIMEOUT)
        assert e.value.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND, e.value
    # Describing a group that does not exist is no error: it is Dead, with no members.
    for group in (unique_group, never):
        d = describe_group(admin, group)
        assert (d.group_id, d.state, d.members, d.partition_assignor) == (group, ConsumerGroupState.DEAD, [], "")


def test_commit_without_membership_and_resume(topic_factory, unique_group):
    """A consumer that never joins (no subscribe) commits for an empty group (generation -1); a
    member that joins later starts from those offsets."""
    topic = topic_factory(partitions=2)
    records = produce(topic, 40)
    ends = {p: max(o for q, o in records if q == p) + 1 for p in range(2)}
    start_at = {p: ends[p] // 2 for p in range(2)}
    c = group_consumer(unique_group)
    try:
        c.commit(offsets=[TopicPartition(topic, p, o, metadata="simple") for p, o in start_at.items()], asynchronous=False)
        got = c.committed([TopicPartition(topic, p) for p in range(2)], timeout=OP_TIMEOUT)
        assert {tp.partition: (tp.offset, tp.metadata) for tp in got} == {p: (o, "simple") for p, o in start_at.items()}
    finally:
        c.close()
    # A group that only ever had commits is a "simple" one: Empty, no protocol type.
    admin = admin_client()
    g = listed_groups(admin)[unique_group]
    assert g.state == ConsumerGroupState.EMPTY and g.is_simple_consumer_group
    d = describe_group(admin, unique_group)
    assert (d.state, d.members, d.is_simple_consumer_group) == (ConsumerGroupState.EMPTY, [], True)

    c = group_consumer(unique_group)
    try:
        c.subscribe([topic])
        seen = {}
        wait_assigned([c], 2, seen)
        drain([c], sum(ends[p] - start_at[p] for p in range(2)), seen)
        assert set(seen) == {(p, o) for (p, o) in records if o >= start_at[p]}
    finally:
        c.close()


def test_protocol_selection_and_inconsistent_protocol(topic_factory, unique_group):
    """The coordinator picks the assignor every member supports (roundrobin here, though one member
    prefers range); a member that supports none of the group's assignors is refused with
    INCONSISTENT_GROUP_PROTOCOL and the group carries on undisturbed."""
    topic = topic_factory(partitions=4)
    a = group_consumer(unique_group, **{"partition.assignment.strategy": "roundrobin"})
    b = group_consumer(unique_group, **{"partition.assignment.strategy": "range,roundrobin"})
    c = None
    try:
        a.subscribe([topic])
        b.subscribe([topic])
        seen = {}
        owned = wait_assigned([a, b], 4, seen)
        admin = admin_client()
        d = wait_group_state(admin, unique_group, ConsumerGroupState.STABLE)
        assert (d.state, d.partition_assignor, len(d.members)) == (ConsumerGroupState.STABLE, "roundrobin", 2)

        c = group_consumer(unique_group, **{"partition.assignment.strategy": "range"})
        c.subscribe([topic])
        error = None
        deadline = time.monotonic() + 10
        while error is None and time.monotonic() < deadline:
            poll_once([a, b], seen)
            m = c.poll(0.05)
            if m is not None:
                assert m.error() is not None, f"the refused member got a record: {m.partition()}:{m.offset()}"
                error = m.error()
        assert error is not None and error.code() == KafkaError.INCONSISTENT_GROUP_PROTOCOL, error
        assert c.assignment() == []
        for _ in range(10):  # the two members keep their partitions
            poll_once([a, b], seen)
        assert [partitions_of(a), partitions_of(b)] == owned
        d = describe_group(admin, unique_group)
        assert (d.state, d.partition_assignor, len(d.members)) == (ConsumerGroupState.STABLE, "roundrobin", 2)
    finally:
        close_all([x for x in (a, b, c) if x is not None])


def test_cooperative_sticky_incremental_rebalance(topic_factory, unique_group):
    """librdkafka's cooperative-sticky assignor over the classic protocol: a member joining takes
    partitions from the others without them giving up the rest (two join rounds: the owners revoke
    only what moves, then rejoin); records are still read exactly once."""
    topic = topic_factory(partitions=6)
    revoked = {0: [], 1: [], 2: []}

    def member(i):
        c = group_consumer(unique_group, **{"partition.assignment.strategy": "cooperative-sticky"})
        c.subscribe([topic], on_revoke=lambda _c, parts: revoked[i].extend(tp.partition for tp in parts))
        return c

    consumers = [member(0), member(1)]
    try:
        seen = {}
        before = wait_assigned(consumers, 6, seen)
        for r in revoked.values():  # member 0 may have given up partitions to member 1 already
            r.clear()
        expected = produce(topic, 60)
        drain(consumers, len(expected), seen)
        assert [partitions_of(c) for c in consumers] == before, "the group rebalanced while consuming"
        assert revoked == {0: [], 1: [], 2: []}

        consumers.append(member(2))
        after = wait_assigned(consumers, 6, seen)
        # Sticky and incremental: the old members keep what they keep, and revoke only what moved.
        for i in (0, 1):
            assert set(after[i]) <= set(before[i]), (before, after)
            assert sorted(revoked[i]) == sorted(set(before[i]) - set(after[i])), (before, after, revoked)
        assert len(after[2]) == 2 and revoked[2] == []

        later = produce(topic, 60, start=60)
        expected.update(later)
        drain(consumers, len(expected), seen)
        assert set(seen) == set(expected)
        for rec in later:
            i = seen[rec][0]
            assert rec[0] in after[i], f"{rec} read by consumer {i}, which owns {after[i]}"
        d = wait_group_state(admin_client(), unique_group, ConsumerGroupState.STABLE)
        assert (d.state, d.partition_assignor, len(d.members)) == (ConsumerGroupState.STABLE, "cooperative-sticky", 3)
    finally:
        close_all(consumers)
