"""Transactions with confluent-kafka (librdkafka): committed and aborted transactions as read_committed and
read_uncommitted consumers see them, the curriculum's two-topic exercise (T1 committed, T2 aborted), fencing of
an older producer with the same transactional.id, consume-transform-produce with send_offsets_to_transaction,
and the coordinator aborting a transaction that outlives transaction.timeout.ms.

Every test uses its own topics, transactional ids and groups, so the file is re-runnable on one broker."""

import struct
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from conftest import BOOTSTRAP, OP_TIMEOUT


def txn_producer(transactional_id, **extra):
    config = {"bootstrap.servers": BOOTSTRAP, "transactional.id": transactional_id, "linger.ms": 5}
    config.update(extra)
    p = Producer(config)
    p.init_transactions(OP_TIMEOUT)
    return p


def new_txn_id(hint):
    return f"potok-txn-{hint}-{uuid.uuid4().hex[:10]}"


def read_all(topics_partitions, isolation, timeout=OP_TIMEOUT):
    """Every record of the given (topic, partitions) pairs from offset 0 up to the end the isolation level
    allows (the last stable offset for read_committed), as (topic, partition, offset, key, value) tuples."""
    c = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": f"potok-txn-reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        assignment = [TopicPartition(t, p, 0) for t, parts in topics_partitions for p in parts]
        c.assign(assignment)
        pending = {(tp.topic, tp.partition) for tp in assignment}
        out = []
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard((m.topic(), m.partition()))
                    continue
                raise KafkaException(m.error())
            out.append((m.topic(), m.partition(), m.offset(), m.key(), m.value()))
        assert not pending, f"no end of partition for {pending} in {timeout}s"
        return out
    finally:
        c.close()


def values(records):
    return sorted(r[4] for r in records)


def test_committed_and_aborted_transactions_per_isolation_level(topic_factory):
    topic = topic_factory(partitions=3)
    p = txn_producer(new_txn_id("isolation"))
    p.begin_transaction()
    for i in range(30):
        p.produce(topic, key=str(i).encode(), value=f"committed-{i}".encode(), partition=i % 3)
    p.commit_transaction(OP_TIMEOUT)
    p.begin_transaction()
    for i in range(15):
        p.produce(topic, key=str(i).encode(), value=f"aborted-{i}".encode(), partition=i % 3)
    # Sent before the abort, so the aborted records are really in the log (librdkafka drops unsent ones).
    assert p.flush(OP_TIMEOUT) == 0
    p.abort_transaction(OP_TIMEOUT)
    p.begin_transaction()
    p.produce(topic, value=b"after", partition=0)
    p.commit_transaction(OP_TIMEOUT)

    committed = read_all([(topic, range(3))], "read_committed")
    assert values(committed) == sorted([f"committed-{i}".encode() for i in range(30)] + [b"after"])
    uncommitted = read_all([(topic, range(3))], "read_uncommitted")
    expected = [f"committed-{i}".encode() for i in range(30)] + [f"aborted-{i}".encode() for i in range(15)]
    assert values(uncommitted) == sorted(expected + [b"after"])
    # The control batches (one marker per partition per transaction) take offsets but are never records.
    offsets = {(r[1], r[2]) for r in uncommitted}
    for part in range(3):
        c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"wm-{uuid.uuid4().hex[:8]}"})
        _, high = c.get_watermark_offsets(TopicPartition(topic, part), timeout=OP_TIMEOUT)
        c.close()
        data = len([o for (pp, o) in offsets if pp == part])
        markers = 3 if part == 0 else 2
        assert high == data + markers, (part, high, data)


def test_curriculum_t1_committed_t2_aborted(topic_factory):
    """CURRICULUM §3: topics hello-producer-1 and -2 (5 partitions), transactional.id Hello-Producer-Trans; T1
    sends keys 1-2 to both topics and commits, T2 does the same and aborts; read_committed sees only T1."""
    t1, t2 = topic_factory(partitions=5), topic_factory(partitions=5)
    p = txn_producer(new_txn_id("Hello-Producer-Trans"))
    for name, commit in (("T1", True), ("T2", False)):
        p.begin_transaction()
        for i in (1, 2):
            # Integer keys as Java's IntegerSerializer writes them: 4 bytes, big-endian.
            key = struct.pack(">i", i)
            p.produce(t1, key=key, value=f"Simple Message-{name}-{i}".encode())
            p.produce(t2, key=key, value=f"Simple Message-{name}-{i}".encode())
        if commit:
            p.commit_transaction(OP_TIMEOUT)
        else:
            assert p.flush(OP_TIMEOUT) == 0
            p.abort_transaction(OP_TIMEOUT)
    seen = read_all([(t1, range(5)), (t2, range(5))], "read_committed")
    assert sorted((r[0], r[4]) for r in seen) == sorted(
        (t, f"Simple Message-T1-{i}".encode()) for t in (t1, t2) for i in (1, 2)
    )
    everything = read_all([(t1, range(5)), (t2, range(5))], "read_uncommitted")
    assert len(everything) == 8
    # The same key lands in the same partition in both transactions.
    by_key = {}
    for topic, part, _, key, _ in everything:
        by_key.setdefault((topic, key), set()).add(part)
    assert all(len(parts) == 1 for parts in by_key.values()), by_key


def test_second_producer_with_the_same_transactional_id_fences_the_first(topic_factory):
    topic = topic_factory(partitions=1)
    txn_id = new_txn_id("fence")
    first = txn_producer(txn_id)
    first.begin_transaction()
    first.produce(topic, value=b"from-the-first")
    assert first.flush(OP_TIMEOUT) == 0
    # The new producer's InitProducerId aborts the first one's open transaction and bumps the epoch.
    second = txn_producer(txn_id)
    with pytest.raises(KafkaException) as fenced:
        first.commit_transaction(OP_TIMEOUT)
    assert fenced.value.args[0].fatal() or fenced.value.args[0].code() in (
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
    ), fenced.value
    second.begin_transaction()
    second.produce(topic, value=b"from-the-second")
    second.commit_transaction(OP_TIMEOUT)
    assert values(read_all([(topic, [0])], "read_committed")) == [b"from-the-second"]
    assert values(read_all([(topic, [0])], "read_uncommitted")) == [b"from-the-first", b"from-the-second"]


def test_consume_transform_produce_is_exactly_once(topic_factory, unique_group):
    source, sink = topic_factory(partitions=2), topic_factory(partitions=2)
    plain = Producer({"bootstrap.servers": BOOTSTRAP})
    for i in range(100):
        plain.produce(source, key=str(i).encode(), value=str(i).encode(), partition=i % 2)
    assert plain.flush(OP_TIMEOUT) == 0

    def consumer():
        c = Consumer(
            {
                "bootstrap.servers": BOOTSTRAP,
                "group.id": unique_group,
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        c.subscribe([source])
        return c

    def transform_round(c, p, commit, limit):
        """Reads up to `limit` records, writes their doubles in one transaction with the consumer's offsets."""
        p.begin_transaction()
        got = 0
        deadline = time.monotonic() + OP_TIMEOUT
        while got < limit and time.monotonic() < deadline:
            for m in c.consume(limit - got, timeout=1.0):
                assert m.error() is None, m.error()
                p.produce(sink, key=m.key(), value=str(int(m.value()) * 2).encode(), partition=m.partition())
                got += 1
        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), OP_TIMEOUT)
        if commit:
            p.commit_transaction(OP_TIMEOUT)
        else:
            assert p.flush(OP_TIMEOUT) == 0
            p.abort_transaction(OP_TIMEOUT)
        return got

    p = txn_producer(new_txn_id("ctp"))
    c = consumer()
    try:
        # A round that aborts: its output and its offsets vanish, and a new member re-reads its input.
        assert transform_round(c, p, commit=False, limit=30) == 30
    finally:
        c.close()
    c = consumer()
    try:
        done = 0
        while done < 100:
            done += transform_round(c, p, commit=True, limit=min(40, 100 - done))
    finally:
        c.close()

    out = read_all([(sink, range(2))], "read_committed")
    assert sorted(int(r[4]) for r in out) == [2 * i for i in range(100)], "each output exactly once"
    assert len(read_all([(sink, range(2))], "read_uncommitted")) == 130, "the aborted round's 30 stay in the log"
    checker = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": unique_group, "enable.auto.commit": False})
    try:
        committed = checker.committed([TopicPartition(source, 0), TopicPartition(source, 1)], timeout=OP_TIMEOUT)
        assert sorted((tp.partition, tp.offset) for tp in committed) == [(0, 50), (1, 50)]
    finally:
        checker.close()


def test_transaction_timeout_aborts_a_hanging_transaction(topic_factory):
    topic = topic_factory(partitions=1)
    p = txn_producer(new_txn_id("timeout"), **{"transaction.timeout.ms": 2000})
    p.begin_transaction()
    p.produce(topic, value=b"never-committed")
    assert p.flush(OP_TIMEOUT) == 0
    # The coordinator looks for timed-out transactions every 10 s (Kafka's default check interval): once it has
    # aborted this one, the last stable offset passes the marker and read_committed reaches the end.
    deadline = time.monotonic() + 40
    while True:
        c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"wm-{uuid.uuid4().hex[:8]}"})
        _, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT)
        c.close()
        if high == 2:  # the record and the coordinator's abort marker
            break
        assert time.monotonic() < deadline, "the transaction was not aborted"
        time.sleep(0.5)
    assert values(read_all([(topic, [0])], "read_committed")) == []
    assert values(read_all([(topic, [0])], "read_uncommitted")) == [b"never-committed"]
    # The producer was fenced by the abort: committing now fails.
    with pytest.raises(KafkaException):
        p.commit_transaction(OP_TIMEOUT)
