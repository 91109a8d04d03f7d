"""kafka-python (pure-Python client) against the broker: admin topic lifecycle and configs, error
codes, produce with acks=1/all, assign()-based consumption (group_id=None), offset lookups and
DeleteRecords."""

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import (
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    InvalidTopicError,
    TopicAlreadyExistsError,
)

from conftest import BOOTSTRAP, OP_TIMEOUT, admin_client, wait_for_topic

TIMEOUT_MS = int(OP_TIMEOUT * 1000)


@pytest.fixture
def admin():
    a = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=TIMEOUT_MS, client_id="potok-test-kpy-admin")
    yield a
    a.close()


def make_consumer():
    return KafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        group_id=None,
        enable_auto_commit=False,
        allow_auto_create_topics=False,
        request_timeout_ms=TIMEOUT_MS,
        consumer_timeout_ms=1000,
        client_id="potok-test-kpy-consumer",
    )


@pytest.fixture
def consumer():
    c = make_consumer()
    yield c
    c.close()


def create(admin, name, partitions=1, configs=None):
    admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, topic_configs=configs or {})],
        timeout_ms=TIMEOUT_MS,
    )
    wait_partitions(admin, name, partitions)
    # And until every partition serves requests (see conftest.wait_for_topic).
    wait_for_topic(admin_client(), name, partitions)
    return name


def partition_count(admin, name):
    """Partitions of `name` in metadata, or None if the topic is not there (asked by name: the
    admin client's Metadata requests never auto-create topics)."""
    [t] = admin.describe_topics([name])
    if t["error_code"] != 0:
        return None
    if any(p["error_code"] != 0 or p["leader"] < 0 for p in t["partitions"]):
        return -1
    return len(t["partitions"])


def wait_partitions(admin, name, want, timeout=OP_TIMEOUT):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = partition_count(admin, name)
        if got == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name}: {got} partitions in metadata, want {want}")


def topic_configs(admin, name):
    [resp] = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    [res] = resp.to_object()["resources"]
    assert res["error_code"] == 0, res
    assert res["resource_name"] == name
    return {e["config_names"]: e for e in res["config_entries"]}


def consume_all(consumer, tp, expect, timeout=OP_TIMEOUT):
    """assign(tp), seek to the beginning and poll until `expect` records arrived."""
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    records = []
    deadline = time.monotonic() + timeout
    while len(records) < expect and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    assert len(records) == expect, f"got {len(records)} records from {tp}, want {expect}"
    return records


def produce(topic, records, acks=1, partition=0):
    """records: (key, value, headers, timestamp_ms) tuples. Returns the RecordMetadata list."""
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks=acks, request_timeout_ms=TIMEOUT_MS,
                             client_id="potok-test-kpy-producer")
    try:
        futures = [
            producer.send(topic, key=k, value=v, headers=h, partition=partition, timestamp_ms=ts)
            for k, v, h, ts in records
        ]
        producer.flush(timeout=OP_TIMEOUT)
        return [f.get(timeout=OP_TIMEOUT) for f in futures]
    finally:
        producer.close(timeout=OP_TIMEOUT)


def test_create_topic_with_configs_then_describe(admin, unique_topic):
    create(admin, unique_topic, partitions=2, configs={"retention.ms": "3600000", "segment.bytes": "1048576"})
    assert partition_count(admin, unique_topic) == 2
    assert unique_topic in admin.list_topics()

    cfg = topic_configs(admin, unique_topic)
    assert cfg["retention.ms"]["config_value"] == "3600000"
    assert cfg["segment.bytes"]["config_value"] == "1048576"
    # Set on the topic: source DYNAMIC_TOPIC_CONFIG (1), not read-only, not sensitive.
    for name in ("retention.ms", "segment.bytes"):
        assert cfg[name]["config_source"] == 1, cfg[name]
        assert cfg[name]["read_only"] is False and cfg[name]["is_sensitive"] is False
    # Not set: the broker's default (DEFAULT_CONFIG = 5).
    assert cfg["cleanup.policy"]["config_value"] == "delete"
    assert cfg["cleanup.policy"]["config_source"] == 5


def test_create_existing_topic_fails(admin, unique_topic):
    create(admin, unique_topic)
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic(unique_topic, 1, 1)], timeout_ms=TIMEOUT_MS)


def test_create_zero_partitions_fails(admin, unique_topic):
    with pytest.raises(InvalidPartitionsError):
        admin.create_topics([NewTopic(unique_topic, 0, 1)], timeout_ms=TIMEOUT_MS)
    assert partition_count(admin, unique_topic) is None


def test_create_replication_factor_above_brokers_fails(admin, unique_topic):
    with pytest.raises(InvalidReplicationFactorError):
        admin.create_topics([NewTopic(unique_topic, 1, 3)], timeout_ms=TIMEOUT_MS)
    assert partition_count(admin, unique_topic) is None


def test_create_invalid_topic_name_fails(admin):
    with pytest.raises(InvalidTopicError):
        admin.create_topics([NewTopic("bad topic!", 1, 1)], timeout_ms=TIMEOUT_MS)


def test_delete_topic(admin, unique_topic):
    create(admin, unique_topic)
    admin.delete_topics([unique_topic], timeout_ms=TIMEOUT_MS)
    deadline = time.monotonic() + OP_TIMEOUT
    while unique_topic in admin.list_topics() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert unique_topic not in admin.list_topics()
    assert partition_count(admin, unique_topic) is None


def test_create_partitions_grows_topic(admin, unique_topic):
    create(admin, unique_topic, partitions=1)
    admin.create_partitions({unique_topic: NewPartitions(total_count=4)}, timeout_ms=TIMEOUT_MS)
    wait_partitions(admin, unique_topic, 4)
    wait_for_topic(admin_client(), unique_topic, 4)
    # The new partitions take writes.
    [md] = produce(unique_topic, [(b"k", b"v", [], None)], partition=3)
    assert (md.partition, md.offset) == (3, 0)


@pytest.mark.parametrize("acks", [1, "all"])
def test_produce_consume_roundtrip(admin, consumer, unique_topic, acks):
    create(admin, unique_topic)
    records = [
        (f"key-{i}".encode(), f"value-{i}".encode() * (i + 1), [("h1", f"{i}".encode()), ("h2", b"")], None)
        for i in range(20)
    ]
    records.append((None, b"no key", [], None))
    records.append((b"no value", None, [("only", b"header")], None))
    metas = produce(unique_topic, records, acks=acks)
    assert [m.offset for m in metas] == list(range(len(records)))
    assert all(m.topic == unique_topic and m.partition == 0 for m in metas)

    got = consume_all(consumer, TopicPartition(unique_topic, 0), len(records))
    assert [r.offset for r in got] == list(range(len(records)))
    for (k, v, h, _), r in zip(records, got):
        assert (r.key, r.value, list(r.headers)) == (k, v, h)
        assert r.timestamp_type == 0  # CreateTime
        assert r.timestamp > 0


def test_offsets_for_times(admin, consumer, unique_topic):
    create(admin, unique_topic)
    base = int(time.time() * 1000) - 60_000
    produce(unique_topic, [(None, f"v{i}".encode(), [], base + i * 1000) for i in range(10)])
    tp = TopicPartition(unique_topic, 0)

    res = consumer.offsets_for_times({tp: base + 2500})
    assert (res[tp].offset, res[tp].timestamp) == (3, base + 3000)
    res = consumer.offsets_for_times({tp: base})
    assert (res[tp].offset, res[tp].timestamp) == (0, base)
    res = consumer.offsets_for_times({tp: 0})
    assert res[tp].offset == 0
    res = consumer.offsets_for_times({tp: base + 9000})
    assert res[tp].offset == 9
    # Later than every record: no offset.
    res = consumer.offsets_for_times({tp: base + 9001})
    assert res[tp] is None

    consumer.assign([tp])
    consumer.seek(tp, 3)
    got = []
    deadline = time.monotonic() + OP_TIMEOUT
    while not got and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            got.extend(batch)
    assert got and got[0].offset == 3 and got[0].timestamp == base + 3000


def test_beginning_and_end_offsets(admin, consumer, unique_topic):
    create(admin, unique_topic, partitions=2)
    tps = [TopicPartition(unique_topic, 0), TopicPartition(unique_topic, 1)]
    assert consumer.beginning_offsets(tps) == {tps[0]: 0, tps[1]: 0}
    assert consumer.end_offsets(tps) == {tps[0]: 0, tps[1]: 0}
    produce(unique_topic, [(None, b"x", [], None)] * 7, partition=1)
    assert consumer.beginning_offsets(tps) == {tps[0]: 0, tps[1]: 0}
    assert consumer.end_offsets(tps) == {tps[0]: 0, tps[1]: 7}


def test_delete_records_moves_beginning_offset(admin, consumer, unique_topic):
    create(admin, unique_topic)
    produce(unique_topic, [(None, f"v{i}".encode(), [], None) for i in range(10)])
    tp = TopicPartition(unique_topic, 0)

    res = admin.delete_records({tp: 4}, timeout_ms=TIMEOUT_MS)
    assert res[tp]["error_code"] == 0
    assert res[tp]["low_watermark"] == 4
    assert consumer.beginning_offsets([tp]) == {tp: 4}
    assert consumer.end_offsets([tp]) == {tp: 10}

    got = consume_all(consumer, tp, 6)
    assert [r.offset for r in got] == list(range(4, 10))
    assert [r.value for r in got] == [f"v{i}".encode() for i in range(4, 10)]

    # -1 means "up to the high watermark".
    res = admin.delete_records({tp: -1}, timeout_ms=TIMEOUT_MS)
    assert res[tp]["low_watermark"] == 10
    assert consumer.beginning_offsets([tp]) == {tp: 10}


def test_alter_configs(admin, unique_topic):
    create(admin, unique_topic)
    resp = admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, unique_topic, configs={"retention.ms": "7200000"})]
    )
    assert [r[0] for r in resp.resources] == [0], resp  # error_code per resource
    # Kafka applies the change through its controller: a describe right after may still show the
    # old value for a moment.
    deadline = time.monotonic() + OP_TIMEOUT
    cfg = topic_configs(admin, unique_topic)
    while cfg["retention.ms"]["config_value"] != "7200000" and time.monotonic() < deadline:
        time.sleep(0.1)
        cfg = topic_configs(admin, unique_topic)
    assert cfg["retention.ms"]["config_value"] == "7200000"
    assert cfg["retention.ms"]["config_source"] == 1

