"""Classic consumer groups with kafka-python's KafkaConsumer (group_id set, subscribe()): two members
split a topic's partitions and read each record once; offsets (with metadata) committed by
kafka-python are read back by confluent-kafka and the other way round, and a member of either
library resumes from the other's commits; KafkaAdminClient lists and describes the group and its
offsets.

Commit metadata across the two libraries: confluent-kafka 2.16 sends a metadata string with its C
terminator (metadata "m" goes on the wire as b"m\x00", which the broker keeps verbatim and
kafka-python reads back as "m\x00"), and reads metadata back as a C string (up to the first NUL,
beyond the field's end when there is none). So metadata that kafka-python writes for confluent-kafka
to read ends with "\x00" here.

kafka-python members run in their own threads (a KafkaConsumer is not thread-safe, and a blocked
poll() of one must not hold up the other's rebalance)."""

import threading
import time

from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as CkTopicPartition
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.structs import OffsetAndMetadata

from conftest import BOOTSTRAP, OP_TIMEOUT, new_group_name

TIMEOUT_MS = int(OP_TIMEOUT * 1000)


def kpy_consumer(group, **conf):
    base = dict(
        bootstrap_servers=BOOTSTRAP,
        group_id=group,
        client_id="potok-test-group-kpy",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        allow_auto_create_topics=False,
        heartbeat_interval_ms=500,
        session_timeout_ms=10000,
        request_timeout_ms=TIMEOUT_MS,
    )
    base.update(conf)
    return KafkaConsumer(**base)


def kpy_subscribe(c, topic):
    """Subscribes a kafka-python consumer once it has the topic's metadata. Otherwise kafka-python may join with
    its metadata request still in flight, assign nothing, and not rejoin when the metadata arrives: a race in the
    client (dpkp/kafka-python#1590; the Java client and librdkafka wait for the metadata before joining). It
    stalled a member in 2 of 3 CI runs. A broker's group.initial.rebalance.delay.ms hides it; potok's default,
    like the one in Kafka's quickstart config, is 0."""
    assert c.partitions_for_topic(topic), f"no metadata for {topic}"
    c.subscribe([topic])


def ck_consumer(group):
    return Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": group,
            "group.protocol": "classic",
            "client.id": "potok-test-group-kpy-ck",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "heartbeat.interval.ms": 500,
            "socket.timeout.ms": 10000,
        }
    )


def kpy_admin():
    return KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=TIMEOUT_MS, client_id="potok-test-group-kpy-admin")


def produce(topic, count, start=0):
    """Keyed records k<i>/v<i>, default partitioner. Returns {(partition, offset): (key, value)}."""
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, client_id="potok-test-group-kpy-producer", acks="all", linger_ms=5)
    try:
        futs = [(i, p.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode())) for i in range(start, start + count)]
        p.flush(timeout=OP_TIMEOUT)
        out = {}
        for i, f in futs:
            md = f.get(timeout=OP_TIMEOUT)
            out[(md.partition, md.offset)] = (f"k{i}".encode(), f"v{i}".encode())
        return out
    finally:
        p.close(timeout=10)


def ends_of(records, partitions):
    return {p: max((o + 1 for q, o in records if q == p), default=0) for p in range(partitions)}


class Member:
    """A kafka-python group member polling in its own thread; it commits (synchronously) after each
    non-empty poll. `seen` is {(partition, offset): (key, value)}, shared by the members of a test to
    catch a record delivered twice."""

    def __init__(self, group, topic, seen, lock, name):
        self.group, self.topic, self.seen, self.lock, self.name = group, topic, seen, lock, name
        self.partitions = None  # sorted partitions after the last poll
        self.mine = set()
        self.failure = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            c = kpy_consumer(self.group, client_id=f"potok-test-group-kpy-{self.name}")
            try:
                kpy_subscribe(c, self.topic)
                while not self.stop.is_set():
                    batch = c.poll(timeout_ms=100)
                    with self.lock:
                        for tp, msgs in batch.items():
                            for m in msgs:
                                rec = (m.partition, m.offset)
                                assert rec not in self.seen, f"{rec} delivered twice (now to {self.name})"
                                self.seen[rec] = (m.key, m.value)
                                self.mine.add(rec)
                    if batch:
                        c.commit()
                    parts = sorted(tp.partition for tp in c.assignment())
                    with self.lock:
                        self.partitions = parts
            finally:
                c.close()
        except BaseException as e:  # reported by the test thread
            self.failure = e

    def close(self):
        self.stop.set()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), f"member {self.name} did not stop"
        assert self.failure is None, self.failure


def wait_until(cond, what, timeout=OP_TIMEOUT, members=()):
    deadline = time.monotonic() + timeout
    while not cond():
        for m in members:
            assert m.failure is None, m.failure
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_two_members_split_partitions(topic_factory, unique_group):
    topic = topic_factory(partitions=4)
    seen, lock = {}, threading.Lock()
    members = [Member(unique_group, topic, seen, lock, name) for name in ("a", "b")]
    try:

        def settled():
            with lock:
                owned = [m.partitions for m in members]
            return all(owned) and sorted(p for o in owned for p in o) == [0, 1, 2, 3]

        wait_until(settled, "both members to own partitions", members=members)
        with lock:
            owned = [m.partitions for m in members]
        assert not set(owned[0]) & set(owned[1]), owned

        records = produce(topic, 80)
        wait_until(lambda: len(seen) >= len(records), f"{len(records)} records", members=members)
        time.sleep(0.5)  # a duplicate would show by now
        with lock:
            assert seen == records
            for m, parts in zip(members, owned):
                assert {p for p, _ in m.mine} <= set(parts), (m.name, parts)
            assert [m.partitions for m in members] == owned, "the group rebalanced while consuming"

        # Offsets committed by kafka-python, read by confluent-kafka.
        ends = ends_of(records, 4)

        def committed_ends():
            c = ck_consumer(unique_group)
            try:
                got = c.committed([CkTopicPartition(topic, p) for p in range(4)], timeout=OP_TIMEOUT)
            finally:
                c.close()
            return {tp.partition: tp.offset for tp in got}

        wait_until(lambda: committed_ends() == ends, f"committed offsets {ends}")

        admin = kpy_admin()
        try:
            assert (unique_group, "consumer") in admin.list_consumer_groups()
            [g] = admin.describe_consumer_groups([unique_group])
            assert g.error_code == 0 and g.group == unique_group
            assert g.state == "Stable"
            assert g.protocol_type == "consumer"
            assert g.protocol == "range"  # kafka-python's first partition_assignment_strategy
            # kafka-python asks DescribeGroups v3 for the authorized operations; with no authorizer
            # that is every operation on a group (Kafka 4.x: the bit field 3400).
            assert sorted(g.authorized_operations) == sorted(["READ", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"])
            assert len(g.members) == 2
            assigned = sorted(tp.partition for m in g.members for tp in m.member_assignment.partitions())
            assert assigned == [0, 1, 2, 3]
            assert sorted(sorted(tp.partition for tp in m.member_assignment.partitions()) for m in g.members) == sorted(owned)
            assert {m.client_id for m in g.members} == {"potok-test-group-kpy-a", "potok-test-group-kpy-b"}
            assert {m.client_host for m in g.members} == {"/" + BOOTSTRAP.rsplit(":", 1)[0]}
            offsets = admin.list_consumer_group_offsets(unique_group)
            assert {tp: om.offset for tp, om in offsets.items()} == {TopicPartition(topic, p): o for p, o in ends.items()}
        finally:
            admin.close()
    finally:
        for m in members:
            m.close()

    admin = kpy_admin()
    try:
        deadline = time.monotonic() + OP_TIMEOUT
        while True:
            [g] = admin.describe_consumer_groups([unique_group])
            if g.state == "Empty" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert (g.error_code, g.state, g.protocol_type, g.members) == (0, "Empty", "consumer", [])
        # A group that does not exist: no error, state Dead.
        never = new_group_name("never")
        [g] = admin.describe_consumer_groups([never])
        assert (g.error_code, g.group, g.state, g.protocol_type, g.protocol, g.members) == (0, never, "Dead", "", "", [])
    finally:
        admin.close()


def test_kafka_python_commits_read_by_confluent(topic_factory, unique_group):
    topic = topic_factory(partitions=2)
    records = produce(topic, 30)
    ends = ends_of(records, 2)
    assert all(ends.values())
    start_at = {p: ends[p] // 2 for p in range(2)}

    c = kpy_consumer(unique_group)
    try:
        kpy_subscribe(c, topic)
        got = {}
        deadline = time.monotonic() + OP_TIMEOUT
        while len(got) < len(records) and time.monotonic() < deadline:
            for msgs in c.poll(timeout_ms=200).values():
                got.update({(m.partition, m.offset): (m.key, m.value) for m in msgs})
        assert got == records
        # A member's commit: explicit offsets (not the positions) with metadata (NUL-terminated, for
        # confluent-kafka: see the module's docstring).
        c.commit({TopicPartition(topic, p): OffsetAndMetadata(o, f"kpy-{p}\x00", -1) for p, o in start_at.items()})
        assert c.committed(TopicPartition(topic, 0), metadata=True)[:2] == (start_at[0], "kpy-0\x00")
    finally:
        c.close()

    ck = ck_consumer(unique_group)
    try:
        back = ck.committed([CkTopicPartition(topic, p) for p in range(2)], timeout=OP_TIMEOUT)
        assert {tp.partition: (tp.offset, tp.metadata) for tp in back} == {p: (o, f"kpy-{p}") for p, o in start_at.items()}
        # A confluent-kafka member resumes from kafka-python's commits.
        ck.subscribe([topic])
        resumed = {}
        want = {rec for rec in records if rec[1] >= start_at[rec[0]]}
        deadline = time.monotonic() + OP_TIMEOUT
        while len(resumed) < len(want) and time.monotonic() < deadline:
            m = ck.poll(0.1)
            if m is not None:
                assert m.error() is None, m.error()
                resumed[(m.partition(), m.offset())] = (m.key(), m.value())
        assert set(resumed) == want
    finally:
        ck.close()


def test_confluent_commits_read_by_kafka_python(topic_factory, unique_group):
    topic = topic_factory(partitions=2)
    records = produce(topic, 30)
    ends = ends_of(records, 2)
    start_at = {p: (ends[p] + 1) // 3 for p in range(2)}

    ck = ck_consumer(unique_group)
    try:  # a commit outside any generation (no subscribe): the group is empty
        ck.commit(offsets=[CkTopicPartition(topic, p, o, metadata=f"ck-{p}") for p, o in start_at.items()], asynchronous=False)
    finally:
        ck.close()

    c = kpy_consumer(unique_group)
    try:
        for p, o in start_at.items():
            om = c.committed(TopicPartition(topic, p), metadata=True)
            assert (om.offset, om.metadata) == (o, f"ck-{p}\x00"), om  # with confluent-kafka's NUL
        # A kafka-python member resumes from confluent-kafka's commits.
        kpy_subscribe(c, topic)
        resumed = {}
        want = {rec: kv for rec, kv in records.items() if rec[1] >= start_at[rec[0]]}
        deadline = time.monotonic() + OP_TIMEOUT
        while len(resumed) < len(want) and time.monotonic() < deadline:
            for msgs in c.poll(timeout_ms=200).values():
                for m in msgs:
                    rec = (m.partition, m.offset)
                    assert rec not in resumed, f"{rec} delivered twice"
                    resumed[rec] = (m.key, m.value)
        assert resumed == want
    finally:
        c.close()

    admin = kpy_admin()
    try:
        offsets = admin.list_consumer_group_offsets(unique_group)
        assert {tp: (om.offset, om.metadata) for tp, om in offsets.items()} == {
            TopicPartition(topic, p): (o, f"ck-{p}\x00") for p, o in start_at.items()
        }
    finally:
        admin.close()
