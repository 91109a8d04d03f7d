"""A compacted topic (cleanup.policy=compact) read by real clients: once the log cleaner has run, a reader
from the start gets exactly the latest record of every key, at its original offset (offsets have gaps); a
tombstone reads as a null value until delete.retention.ms after the cleaning that kept it and is gone after
the next one; a record without a key is refused with INVALID_RECORD.

Segments roll by segment.ms (the cleaner never touches the active segment), min.cleanable.dirty.ratio is low
so the cleaner takes the topic at once, and the brokers run with log.cleaner.backoff.ms=1000 (scripts/kafka.sh,
scripts/potok-broker.sh). The tests share one topic and run in file order: the last one changes it."""

import subprocess
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.errors import InvalidRecordError

from conftest import BOOTSTRAP, admin_client, new_topic_name, wait_for_topic

DELETE_RETENTION_MS = 3000
# How long a test waits for the cleaner (which sleeps 1 s between looks) to get to a topic.
CLEAN_TIMEOUT = 40


def produce(producer, topic, key, value):
    """Produces one record to partition 0 and returns its offset."""
    done = []
    producer.produce(topic, key=key, value=value, partition=0, on_delivery=lambda e, m: done.append((e, m)))
    producer.flush(30)
    err, msg = done[0]
    assert err is None, err
    return msg.offset()


def read_confluent(topic):
    """(offset, key, value) of every record in partition 0, from the start to the end offset."""
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "unused", "enable.auto.commit": False})
    try:
        tp = TopicPartition(topic, 0, OFFSET_BEGINNING)
        _, end = c.get_watermark_offsets(tp, timeout=10)
        c.assign([tp])
        out, position = [], -1
        deadline = time.monotonic() + 20
        while position < end - 1 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                # The end offset may be past the last record (a removed batch): stop when position says so.
                if c.position([TopicPartition(topic, 0)])[0].offset >= end:
                    break
                continue
            out.append((m.offset(), m.key().decode(), None if m.value() is None else m.value().decode()))
            position = m.offset()
        return out
    finally:
        c.close()


def await_compacted(topic, expected, timeout=CLEAN_TIMEOUT):
    """Waits until the topic reads back as exactly `expected` (key -> value), one record per key."""
    deadline = time.monotonic() + timeout
    while True:
        read = read_confluent(topic)
        if len(read) == len(expected) and {k: v for _, k, v in read} == expected:
            return read
        assert time.monotonic() < deadline, f"not compacted after {timeout}s: {read}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def compacted():
    """A compacted topic written in four rounds over ten keys (k9's last write a tombstone), each round in its
    own segment, then cleaned. Returns (topic, latest value per key, latest offset per key)."""
    admin = admin_client()
    topic = new_topic_name("compacted")
    config = {
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": str(DELETE_RETENTION_MS),
    }
    admin.create_topics([NewTopic(topic, 1, 1, config=config)])[topic].result(30)
    wait_for_topic(admin, topic, 1)
    # An idempotent producer: the cleaner must also keep its last batch's sequence right.
    p = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": True, "linger.ms": 0})
    expected, offsets = {}, {}
    for rnd in range(4):
        for k in range(10):
            key, value = f"k{k}", f"v{rnd}-{k}"
            if rnd == 3 and k == 9:
                value = None
            offsets[key] = produce(p, topic, key, value)
            expected[key] = value
        # The next append comes after segment.ms, so it rolls the segment and the round can be cleaned.
        time.sleep(0.3)
    offsets["roll-1"] = produce(p, topic, "roll-1", "x")
    expected["roll-1"] = "x"
    await_compacted(topic, expected)
    return topic, expected, offsets


def check(read, expected, offsets):
    assert {k: v for _, k, v in read} == expected
    assert len(read) == len(expected), read
    for offset, key, _ in read:
        assert offsets[key] == offset, f"{key} keeps its original offset"
    assert [o for o, _, _ in read] == sorted(o for o, _, _ in read)


def test_confluent_reads_the_latest_value_per_key(compacted):
    topic, expected, offsets = compacted
    read = read_confluent(topic)
    check(read, expected, offsets)
    assert read[0][0] > 0, "the log still starts at 0: the cleaned records leave a gap"


def test_kafka_python_reads_the_latest_value_per_key(compacted):
    topic, expected, offsets = compacted
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, consumer_timeout_ms=20000)
    try:
        tp = KpTopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        end = c.end_offsets([tp])[tp]
        read = []
        deadline = time.monotonic() + 20
        while c.position(tp) < end and time.monotonic() < deadline:
            for records in c.poll(timeout_ms=500).values():
                for r in records:
                    read.append((r.offset, r.key.decode(), None if r.value is None else r.value.decode()))
        check(read, expected, offsets)
    finally:
        c.close()


def test_kcat_reads_the_latest_value_per_key(compacted):
    topic, expected, offsets = compacted
    cmd = ["kcat", "-b", BOOTSTRAP, "-q", "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-Z",
           "-f", "%o %k %s\\n"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    read = []
    for line in out.splitlines():
        offset, key, value = line.split(" ", 2)
        read.append((int(offset), key, None if value == "NULL" else value))
    check(read, expected, offsets)


def test_records_without_a_key_are_refused(compacted):
    topic, _, _ = compacted
    p = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 0})
    done = []
    p.produce(topic, value=b"no key", partition=0, on_delivery=lambda e, m: done.append(e))
    p.flush(30)
    assert done and done[0] is not None and done[0].code() == KafkaError.INVALID_RECORD, done
    kp = KafkaProducer(bootstrap_servers=BOOTSTRAP, retries=0)
    try:
        with pytest.raises(InvalidRecordError):
            kp.send(topic, value=b"no key", partition=0).get(timeout=30)
    finally:
        kp.close()


def test_tombstone_goes_after_delete_retention(compacted):
    topic, expected, offsets = compacted
    assert expected["k9"] is None and ("k9", None) in [(k, v) for _, k, v in read_confluent(topic)]
    # Past delete.retention.ms the next cleaning (new dirty data, a rolled segment) drops the tombstone.
    time.sleep(DELETE_RETENTION_MS / 1000 + 0.5)
    p = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 0})
    produce(p, topic, "k0", "after")
    time.sleep(0.3)
    produce(p, topic, "roll-2", "y")
    expected = dict(expected, k0="after", **{"roll-2": "y"})
    del expected["k9"]
    await_compacted(topic, expected)
