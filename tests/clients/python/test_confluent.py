"""confluent-kafka (librdkafka) against the broker: compressed produce/consume for every codec,
watermarks, metadata, message size limits, timestamps, and the AdminClient's topic/config/offset
calls.

librdkafka's consumer needs a group.id string even for assign(); it is set but the consumers here
never subscribe() and never commit (enable.auto.commit=false, enable.auto.offset.store=false) and
always assign explicit offsets, so no group state is read or written."""

import os
import time

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from conftest import BOOTSTRAP, OP_TIMEOUT, admin_client, wait_for_topic_gone

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def make_producer(**conf):
    base = {"bootstrap.servers": BOOTSTRAP, "client.id": "potok-test-confluent-producer", "message.timeout.ms": int(OP_TIMEOUT * 1000), "socket.timeout.ms": 10000}
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return Producer(base)


def make_consumer():
    return Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "client.id": "potok-test-confluent-consumer",
            "group.id": "potok-unused-assign-only",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "socket.timeout.ms": 10000,
        }
    )


@pytest.fixture
def consumer():
    c = make_consumer()
    yield c
    c.close()


@pytest.fixture
def admin():
    return admin_client()


def produce_all(producer, topic, records, partition=0):
    """records: dicts of produce() kwargs (key, value, headers, timestamp). Returns the delivery
    reports as (err, msg), in produce order."""
    reports = [None] * len(records)
    for i, r in enumerate(records):

        def cb(err, msg, i=i):
            reports[i] = (err, msg)

        while True:
            try:
                producer.produce(topic, partition=partition, on_delivery=cb, **r)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(OP_TIMEOUT) == 0, "undelivered messages after flush"
    assert all(r is not None for r in reports)
    return reports


def consume_n(consumer, topic, n, partition=0, offset=OFFSET_BEGINNING, timeout=OP_TIMEOUT):
    consumer.assign([TopicPartition(topic, partition, offset)])
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        for m in consumer.consume(num_messages=n - len(got), timeout=0.5):
            assert m.error() is None, m.error()
            got.append(m)
    assert len(got) == n, f"consumed {len(got)} of {n}"
    return got


def describe_topic_configs(admin, topic):
    res = ConfigResource(ResourceType.TOPIC, topic)
    [fut] = admin.describe_configs([res], request_timeout=OP_TIMEOUT).values()
    return fut.result(timeout=OP_TIMEOUT)


def await_topic_config(admin, topic, name, value, timeout=OP_TIMEOUT):
    """Describes the topic's configs until `name` has `value`, and returns them. (Kafka applies an
    alter through its controller and metadata log: a describe right after it may show the old value.)"""
    deadline = time.monotonic() + timeout
    while True:
        cfg = describe_topic_configs(admin, topic)
        if cfg[name].value == value or time.monotonic() > deadline:
            return cfg
        time.sleep(0.1)


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_produce_consume(topic_factory, consumer, codec):
    topic = topic_factory()
    n = 500
    records = [
        {
            "key": f"key-{i}".encode(),
            "value": (f"value {i} " * (i % 17 + 1)).encode(),
            "headers": [("dup", b"first"), ("i", str(i).encode()), ("dup", b"second"), ("empty", b""), ("null", None)],
        }
        for i in range(n)
    ]
    records[7]["key"] = None
    records[8]["value"] = None
    producer = make_producer(compression_type=codec, linger_ms=50)
    reports = produce_all(producer, topic, records)
    errors = [err for err, _ in reports if err is not None]
    assert not errors, errors[:3]
    assert [m.offset() for _, m in reports] == list(range(n))
    assert all(m.partition() == 0 and m.topic() == topic for _, m in reports)

    got = consume_n(consumer, topic, n)
    assert [m.offset() for m in got] == list(range(n))
    for r, m in zip(records, got):
        assert m.key() == r["key"]
        assert m.value() == r["value"]
        assert m.headers() == r["headers"]  # duplicate keys kept, in order
        ts_type, ts = m.timestamp()
        assert ts_type == TIMESTAMP_CREATE_TIME and ts > 0


def test_watermark_offsets(topic_factory, consumer):
    topic = topic_factory(partitions=2)
    for p in (0, 1):
        assert consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=OP_TIMEOUT) == (0, 0)
    produce_all(make_producer(), topic, [{"value": b"v"}] * 12, partition=1)
    assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT) == (0, 0)
    assert consumer.get_watermark_offsets(TopicPartition(topic, 1), timeout=OP_TIMEOUT) == (0, 12)


def test_list_topics_metadata(topic_factory, admin):
    topic = topic_factory(partitions=3)
    host, port = BOOTSTRAP.rsplit(":", 1)
    md = admin.list_topics(timeout=OP_TIMEOUT)
    assert md.cluster_id, "cluster id must be non-empty"
    assert len(md.brokers) == 1
    [broker] = md.brokers.values()
    assert (broker.host, broker.port) == (host, int(port))
    assert md.controller_id == broker.id
    assert md.orig_broker_id == broker.id

    t = md.topics[topic]
    assert t.error is None
    assert sorted(t.partitions) == [0, 1, 2]
    for pid, p in t.partitions.items():
        assert p.id == pid and p.error is None
        assert p.leader == broker.id
        assert p.replicas == [broker.id] and p.isrs == [broker.id]

    # Asking for the one topic gives the same answer.
    t1 = admin.list_topics(topic=topic, timeout=OP_TIMEOUT).topics[topic]
    assert sorted(t1.partitions) == [0, 1, 2]


def test_large_record_accepted_and_oversized_refused(topic_factory, consumer):
    topic = topic_factory()
    # Raise the producer's own limit well above the broker's, so that the BROKER has to refuse.
    producer = make_producer(message_max_bytes=3_000_000, compression_type="none")
    big = os.urandom(900 * 1024)
    [(err, msg)] = produce_all(producer, topic, [{"key": b"big", "value": big}])
    assert err is None and msg.offset() == 0

    too_big = os.urandom(2 * 1024 * 1024)
    [(err, msg)] = produce_all(producer, topic, [{"key": b"too-big", "value": too_big}])
    assert err is not None, "a 2 MiB record must be refused by max.message.bytes=1048588"
    assert err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    assert not err.retriable()

    # The refused record left nothing behind; the accepted one reads back whole.
    assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT) == (0, 1)
    [m] = consume_n(consumer, topic, 1)
    assert (m.key(), m.value()) == (b"big", big)


def test_future_timestamp_refused(topic_factory):
    # Kafka 4.x: message.timestamp.after.max.ms defaults to 1 hour; a CreateTime record further in the
    # future fails its whole batch with INVALID_TIMESTAMP. Old timestamps are fine (before.max.ms = max).
    topic = topic_factory()
    now = int(time.time() * 1000)
    producer = make_producer()
    [(err, msg)] = produce_all(producer, topic, [{"value": b"old", "timestamp": now - 30 * 86400_000}])
    assert err is None and msg.timestamp() == (TIMESTAMP_CREATE_TIME, now - 30 * 86400_000)
    [(err, _)] = produce_all(producer, topic, [{"value": b"future", "timestamp": now + 2 * 3600_000}])
    assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP, err


def test_offsets_for_times(topic_factory, consumer):
    topic = topic_factory()
    base = int(time.time() * 1000) - 100_000
    produce_all(make_producer(linger_ms=20), topic, [{"value": b"v%d" % i, "timestamp": base + i * 10} for i in range(20)])

    def lookup(ts):
        [tp] = consumer.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=OP_TIMEOUT)
        assert tp.error is None
        return tp.offset

    assert lookup(base) == 0
    assert lookup(base - 1) == 0
    assert lookup(base + 55) == 6
    assert lookup(base + 190) == 19
    assert lookup(base + 191) == -1  # past every record: OFFSET_END (-1)


def test_create_topics_validate_only(admin, unique_topic):
    futs = admin.create_topics([NewTopic(unique_topic, 3, 1)], validate_only=True, request_timeout=OP_TIMEOUT)
    assert futs[unique_topic].result(timeout=OP_TIMEOUT) is None
    # Validation still applies.
    futs = admin.create_topics([NewTopic(unique_topic, 1, 3)], validate_only=True, request_timeout=OP_TIMEOUT)
    with pytest.raises(KafkaException) as e:
        futs[unique_topic].result(timeout=OP_TIMEOUT)
    assert e.value.args[0].code() == KafkaError.INVALID_REPLICATION_FACTOR
    time.sleep(0.5)
    assert unique_topic not in admin.list_topics(timeout=OP_TIMEOUT).topics


def test_create_existing_topic_and_delete(admin, topic_factory):
    topic = topic_factory()
    futs = admin.create_topics([NewTopic(topic, 1, 1)], request_timeout=OP_TIMEOUT)
    with pytest.raises(KafkaException) as e:
        futs[topic].result(timeout=OP_TIMEOUT)
    assert e.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    futs = admin.delete_topics([topic], request_timeout=OP_TIMEOUT, operation_timeout=OP_TIMEOUT)
    assert futs[topic].result(timeout=OP_TIMEOUT) is None
    wait_for_topic_gone(admin, topic)

    futs = admin.delete_topics([topic], request_timeout=OP_TIMEOUT)
    with pytest.raises(KafkaException) as e:
        futs[topic].result(timeout=OP_TIMEOUT)
    assert e.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_describe_configs_defaults(admin, topic_factory):
    topic = topic_factory(config={"retention.ms": "86400000"})
    cfg = describe_topic_configs(admin, topic)
    expect_defaults = {
        "cleanup.policy": "delete",
        "compression.type": "producer",
        "max.message.bytes": "1048588",
        "message.timestamp.type": "CreateTime",
        "segment.bytes": "1073741824",
        "retention.bytes": "-1",
    }
    for name, value in expect_defaults.items():
        assert cfg[name].value == value, name
        assert cfg[name].source == ConfigSource.DEFAULT_CONFIG.value, name
        assert cfg[name].is_default, name
    assert cfg["retention.ms"].value == "86400000"
    assert cfg["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not cfg["retention.ms"].is_default


def test_describe_broker_socket_buffer_configs(admin):
    """The broker describes its socket buffer sizes as Kafka does: an int, -1 for the OS's own sizing (potok's
    default) or a size in bytes (Kafka's default, 102400)."""
    node = sorted(admin.list_topics(timeout=OP_TIMEOUT).brokers)[0]
    res = ConfigResource(ResourceType.BROKER, str(node))
    [fut] = admin.describe_configs([res], request_timeout=OP_TIMEOUT).values()
    cfg = fut.result(timeout=OP_TIMEOUT)
    for name in ("socket.send.buffer.bytes", "socket.receive.buffer.bytes"):
        value = int(cfg[name].value)
        assert value == -1 or value > 0, (name, value)


def test_incremental_alter_configs(admin, topic_factory):
    topic = topic_factory()
    assert describe_topic_configs(admin, topic)["retention.ms"].value == "604800000"

    def alter(*entries):
        res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=list(entries))
        [fut] = admin.incremental_alter_configs([res], request_timeout=OP_TIMEOUT).values()
        assert fut.result(timeout=OP_TIMEOUT) is None

    alter(
        ConfigEntry("retention.ms", "123456", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET),
    )
    cfg = await_topic_config(admin, topic, "retention.ms", "123456")
    assert cfg["retention.ms"].value == "123456"
    assert cfg["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["cleanup.policy"].value == "compact"

    alter(ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE))
    cfg = await_topic_config(admin, topic, "retention.ms", "604800000")
    assert cfg["retention.ms"].value == "604800000"
    assert cfg["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert cfg["cleanup.policy"].value == "compact"

    # An unknown config name is refused with INVALID_CONFIG.
    res = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET)],
    )
    [fut] = admin.incremental_alter_configs([res], request_timeout=OP_TIMEOUT).values()
    with pytest.raises(KafkaException) as e:
        fut.result(timeout=OP_TIMEOUT)
    assert e.value.args[0].code() == KafkaError.INVALID_CONFIG


def test_list_offsets(admin, topic_factory):
    topic = topic_factory()
    tp = TopicPartition(topic, 0)

    def list_offset(spec):
        [fut] = admin.list_offsets({tp: spec}, request_timeout=OP_TIMEOUT).values()
        r = fut.result(timeout=OP_TIMEOUT)
        return r.offset, r.timestamp

    assert list_offset(OffsetSpec.earliest())[0] == 0
    assert list_offset(OffsetSpec.latest())[0] == 0

    base = int(time.time() * 1000) - 100_000
    # One batch (linger), the max timestamp in the middle of it: the answer is that exact record.
    deltas = [3, 1, 4, 1, 2]
    produce_all(make_producer(linger_ms=100), topic, [{"value": b"x", "timestamp": base + d * 1000} for d in deltas])

    assert list_offset(OffsetSpec.earliest())[0] == 0
    assert list_offset(OffsetSpec.latest())[0] == len(deltas)
    assert list_offset(OffsetSpec.max_timestamp()) == (2, base + 4000)
    assert list_offset(OffsetSpec.for_timestamp(base + 2000))[0] == 0  # first with ts >= t: 3000 at 0
    assert list_offset(OffsetSpec.for_timestamp(base + 3500))[0] == 2


def test_log_append_time_topic(topic_factory, consumer):
    topic = topic_factory(config={"message.timestamp.type": "LogAppendTime"})
    old = int(time.time() * 1000) - 86400_000
    before = int(time.time() * 1000)
    reports = produce_all(make_producer(), topic, [{"value": b"a", "timestamp": old}, {"value": b"b"}])
    after = int(time.time() * 1000)
    for err, msg in reports:
        assert err is None
        # The produce response carries the broker's append time.
        ts_type, ts = msg.timestamp()
        assert ts_type == TIMESTAMP_LOG_APPEND_TIME
        assert before - 1000 <= ts <= after + 1000

    got = consume_n(consumer, topic, 2)
    for m in got:
        ts_type, ts = m.timestamp()
        assert ts_type == TIMESTAMP_LOG_APPEND_TIME
        assert before - 1000 <= ts <= after + 1000, (ts, before, after)
    assert [m.value() for m in got] == [b"a", b"b"]
