"""potok's own Producer and AdminClient (confluent-kafka's API, potok's engine) against the embedded broker,
checked with confluent-kafka as an independent reader."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer as ConfluentConsumer
from confluent_kafka import TopicPartition as ConfluentTopicPartition
from conftest import OP_TIMEOUT, fresh

import potok
from potok.admin import ConfigResource, NewPartitions, NewTopic, OffsetSpec


@pytest.fixture
def admin(potok_broker):
    client = potok.AdminClient({"bootstrap.servers": potok_broker.bootstrap_servers})
    yield client
    client.close()


def read_with_confluent(bootstrap, topic, partition, count):
    consumer = ConfluentConsumer({"bootstrap.servers": bootstrap, "group.id": fresh("g"), "enable.auto.commit": False})
    try:
        consumer.assign([ConfluentTopicPartition(topic, partition, 0)])
        messages = consumer.consume(count, timeout=OP_TIMEOUT)
        assert all(m.error() is None for m in messages)
        return messages
    finally:
        consumer.close()


def test_produce_with_delivery_callbacks_on_the_calling_thread(potok_broker, potok_new_topic):
    topic = potok_new_topic("cb", partitions=3)
    producer = potok.Producer({"bootstrap.servers": potok_broker.bootstrap_servers, "linger.ms": 2})
    reports = []
    caller = threading.get_ident()

    def on_delivery(err, msg):
        reports.append((err, msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(), threading.get_ident()))

    for i in range(30):
        producer.produce(topic, value=f"v{i}", key=f"k{i % 5}", headers={"n": str(i)}, on_delivery=on_delivery)
    assert len(producer) <= 30
    assert producer.flush(OP_TIMEOUT) == 0
    assert len(producer) == 0
    assert len(reports) == 30
    assert all(r[0] is None and r[1] == topic for r in reports)
    assert {r[6] for r in reports} == {caller}
    # The same key always lands in the same partition, and offsets per partition are 0..n-1.
    by_key = {}
    for _, _, partition, _, key, _, _ in reports:
        by_key.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in by_key.values())
    for partition in range(3):
        offsets = sorted(r[3] for r in reports if r[2] == partition)
        assert offsets == list(range(len(offsets)))
    # An independent client reads exactly what potok wrote, headers and all.
    first = [r for r in reports if r[2] == reports[0][2]]
    messages = read_with_confluent(potok_broker.bootstrap_servers, topic, reports[0][2], len(first))
    assert [m.value() for m in messages] == [r[5] for r in sorted(first, key=lambda r: r[3])]
    assert all(m.headers()[0][0] == "n" for m in messages)


def test_produce_takes_confluent_kafkas_value_types_and_reports_what_was_sent(potok_broker, potok_new_topic):
    # produce() is the native class's own method: str, bytes, bytearray and memoryview values and keys, headers
    # as a dict or a list, the callback= alias and the config's on_delivery all reach the record and its report.
    topic = potok_new_topic("types")
    defaults = []
    producer = potok.Producer(
        {"bootstrap.servers": potok_broker.bootstrap_servers, "on_delivery": lambda e, m: defaults.append(m)}
    )
    reports = []
    producer.produce(topic, "s\u00e9", key=bytearray(b"k1"), headers={"h": "v"}, callback=lambda e, m: reports.append(m))
    producer.produce(topic, memoryview(b"mv"), key="k2", headers=[("a", b"1"), ("a", None)])
    producer.produce(topic, bytearray(b"ba"), partition=0, timestamp=1_600_000_000_000)
    producer.produce(topic)
    with pytest.raises(TypeError, match="value must be bytes, str or None, not int"):
        producer.produce(topic, 5)
    with pytest.raises(TypeError, match="key must be bytes, str or None, not list"):
        producer.produce(topic, b"x", key=[1])
    assert producer.flush(OP_TIMEOUT) == 0
    (sent,) = reports
    assert isinstance(sent, potok.Message)
    assert (sent.topic(), sent.partition(), sent.offset(), sent.error()) == (topic, 0, 0, None)
    assert (sent.key(), sent.value(), sent.headers()) == (b"k1", "s\u00e9".encode(), [("h", b"v")])
    assert [(m.offset(), m.key(), m.value()) for m in defaults] == [(1, b"k2", b"mv"), (2, None, b"ba"), (3, None, None)]
    assert defaults[1].timestamp() == (1, 1_600_000_000_000)

    consumer = potok.Consumer({"bootstrap.servers": potok_broker.bootstrap_servers, "group.id": fresh("g")})
    try:
        consumer.assign([potok.TopicPartition(topic, 0, potok.OFFSET_BEGINNING)])
        got = []
        deadline = time.monotonic() + OP_TIMEOUT
        while len(got) < 4 and time.monotonic() < deadline:
            got += consumer.consume(10, 0.5)
    finally:
        consumer.close()
    assert [(m.key(), m.value(), m.headers()) for m in got] == [
        (b"k1", "s\u00e9".encode(), [("h", b"v")]),
        (b"k2", b"mv", [("a", b"1"), ("a", None)]),
        (None, b"ba", None),
        (None, None, None),
    ]
    assert got[0].topic() is got[1].topic()  # one str per topic, shared by its messages
    assert len(got[0]) == len("s\u00e9".encode()) and len(got[3]) == 0
    assert repr(got[2]) == f"<potok.Message topic={topic} partition=0 offset=2 key=None error=None>"
    got[2].set_headers([("x", b"y")])
    got[2].set_value("v")
    assert (got[2].headers(), got[2].value(), len(got[2])) == ([("x", b"y")], "v", 1)
    made = potok.Message("t", 1, 2, b"k", b"v", timestamp=5, timestamp_type=1, leader_epoch=3)
    assert (made.topic(), made.partition(), made.offset(), made.timestamp(), made.leader_epoch()) == ("t", 1, 2, (1, 5), 3)


def test_poll_serves_reports_and_explicit_partition_and_timestamp(potok_broker, potok_new_topic):
    topic = potok_new_topic("poll", partitions=2)
    producer = potok.Producer({"bootstrap.servers": potok_broker.bootstrap_servers})
    got = []
    producer.produce(topic, b"x", partition=1, timestamp=1_600_000_000_000, on_delivery=lambda e, m: got.append(m))
    deadline = time.monotonic() + OP_TIMEOUT
    while not got and time.monotonic() < deadline:
        producer.poll(0.1)
    assert got and got[0].partition() == 1 and got[0].error() is None
    (message,) = read_with_confluent(potok_broker.bootstrap_servers, topic, 1, 1)
    assert message.timestamp() == (1, 1_600_000_000_000)


def test_default_callback_from_config_and_failed_delivery(potok_broker):
    errors = []
    producer = potok.Producer(
        {"bootstrap.servers": potok_broker.bootstrap_servers, "on_delivery": lambda e, m: errors.append(e)}
    )
    producer.produce(fresh("auto"), b"ok")
    producer.flush(OP_TIMEOUT)
    assert errors == [None]


def test_producer_errors_are_typed(potok_broker, potok_new_topic):
    with pytest.raises(potok.KafkaConfigError) as info:
        potok.Producer({"bootstrap.servers": potok_broker.bootstrap_servers, "no.such.key": "1"})
    assert "no.such.key" in str(info.value)
    with pytest.raises(potok.KafkaConfigError):
        potok.Producer({"linger.ms": 1})  # bootstrap.servers is required
    producer = potok.Producer({"bootstrap.servers": potok_broker.bootstrap_servers})
    topic = potok_new_topic("one", partitions=1)
    # Before the producer knows the topic, a partition it lacks fails in the delivery report (produce() does
    # not wait for metadata); once it knows, produce() raises at once, as confluent-kafka does.
    reports = []
    producer.produce(topic, b"x", partition=5, on_delivery=lambda err, msg: reports.append(err))
    assert producer.flush(OP_TIMEOUT) == 0
    assert reports[0] is not None and reports[0].code() == potok.KafkaError._INVALID_ARG
    producer.produce(topic, b"x")
    assert producer.flush(OP_TIMEOUT) == 0
    with pytest.raises(potok.InvalidArgumentError):
        producer.produce(topic, b"x", partition=5)
    with pytest.raises(TypeError):
        producer.produce(topic, 12345)
    producer = potok.Producer({"bootstrap.servers": potok_broker.bootstrap_servers, "max.request.size": 1000})
    with pytest.raises(potok.RecordTooLargeError) as too_large:
        producer.produce(topic, b"x" * 2000)
    assert too_large.value.code == 10 and not too_large.value.retriable


def test_produce_returns_at_once_without_a_broker_and_flush_bounds_the_wait():
    # Nothing listens on port 1. As in confluent-kafka, produce() queues and returns, flush(timeout) gives up
    # after its timeout with the records still in flight, they fail after message.timeout.ms, and error_cb
    # hears about the connection failure from poll()/flush().
    errors = []
    producer = potok.Producer(
        {"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 1500, "error_cb": errors.append}
    )
    reports = []
    started = time.monotonic()
    for i in range(3):
        producer.produce("nowhere", f"v{i}", on_delivery=lambda err, msg: reports.append(err))
    # A blocking produce would have waited max.block.ms (60 s) for the topic's metadata.
    assert time.monotonic() - started < 30
    assert producer.flush(0.2) == 3
    assert len(producer) == 3
    assert producer.flush(OP_TIMEOUT) == 0
    assert [e.code() for e in reports] == [potok.KafkaError._TIMED_OUT] * 3
    assert all("127.0.0.1:1" in e.str() for e in reports)
    assert len(errors) == 1, errors
    assert errors[0].code() == potok.KafkaError._TRANSPORT and "127.0.0.1:1" in errors[0].str()


def test_produce_raises_buffer_error_when_the_queue_is_full():
    producer = potok.Producer({"bootstrap.servers": "127.0.0.1:1", "buffer.memory": 4096})
    started = time.monotonic()
    with pytest.raises(BufferError):
        while time.monotonic() - started < 30:
            producer.produce("nowhere", b"x" * 500)
    assert 1 <= len(producer) <= 10
    with pytest.raises(potok.KafkaTimeoutError):
        producer.close(0)


def test_consumer_error_cb_hears_about_an_unreachable_broker():
    errors = []
    consumer = potok.Consumer(
        {"bootstrap.servers": "127.0.0.1:1", "group.id": fresh("g"), "enable.auto.commit": False, "error_cb": errors.append}
    )
    consumer.subscribe(["nowhere"])
    deadline = time.monotonic() + OP_TIMEOUT
    while not errors and time.monotonic() < deadline:
        assert consumer.poll(0.2) is None
    assert errors and errors[0].code() == potok.KafkaError._TRANSPORT and "127.0.0.1:1" in errors[0].str()
    consumer.close()


def test_flush_releases_the_gil(potok_broker, potok_new_topic):
    # While flush blocks in the engine, another Python thread keeps running.
    topic = potok_new_topic("gil")
    producer = potok.Producer({"bootstrap.servers": potok_broker.bootstrap_servers, "linger.ms": 200})
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        producer.produce(topic, b"x")
        before = len(ticks)
        producer._reports(0.3)  # blocks 0.3 s without the GIL: no report is pending
        assert len(ticks) - before > 10
    finally:
        stop.set()
        thread.join(5)
    assert producer.flush(OP_TIMEOUT) == 0


def test_admin_topics_partitions_configs_offsets(potok_broker, admin):
    name = fresh("adm")
    futures = admin.create_topics([NewTopic(name, 2, 1, config={"retention.ms": "3600000"})])
    assert futures[name].result(OP_TIMEOUT) is None
    with pytest.raises(potok.TopicAlreadyExistsError):
        admin.create_topics([NewTopic(name, 2, 1)])[name].result(OP_TIMEOUT)
    with pytest.raises(potok.InvalidReplicationFactorError):
        admin.create_topics([NewTopic(fresh("rf3"), 1, 3)]).popitem()[1].result(OP_TIMEOUT)

    metadata = admin.list_topics(timeout=OP_TIMEOUT)
    assert sorted(metadata.topics[name].partitions) == [0, 1]
    assert len(metadata.brokers) == 1

    admin.create_partitions([NewPartitions(name, 4)])[name].result(OP_TIMEOUT)
    assert len(admin.list_topics(name, timeout=OP_TIMEOUT).topics[name].partitions) == 4

    producer = potok.Producer({"bootstrap.servers": potok_broker.bootstrap_servers})
    for i in range(5):
        producer.produce(name, b"r%d" % i, partition=0)
    assert producer.flush(OP_TIMEOUT) == 0
    tp = potok.TopicPartition(name, 0)
    assert admin.list_offsets({tp: OffsetSpec.latest()})[tp].result(OP_TIMEOUT).offset == 5
    deleted = admin.delete_records([potok.TopicPartition(name, 0, 2)])
    assert next(iter(deleted.values())).result(OP_TIMEOUT).low_watermark == 2
    assert admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(OP_TIMEOUT).offset == 2

    assert admin.delete_topics([name])[name].result(OP_TIMEOUT) is None
    with pytest.raises(potok.UnknownTopicOrPartitionError):
        admin.delete_topics([name])[name].result(OP_TIMEOUT)


def test_admin_groups(potok_broker, admin, potok_new_topic):
    topic = potok_new_topic("grp")
    group = fresh("grp")
    producer = potok.Producer({"bootstrap.servers": potok_broker.bootstrap_servers})
    producer.produce(topic, b"x")
    producer.flush(OP_TIMEOUT)
    consumer = ConfluentConsumer(
        {"bootstrap.servers": potok_broker.bootstrap_servers, "group.id": group, "auto.offset.reset": "earliest"}
    )
    try:
        consumer.subscribe([topic])
        message = consumer.poll(OP_TIMEOUT)
        assert message is not None and message.error() is None
        consumer.commit(message, asynchronous=False)
        listed = admin.list_consumer_groups().result(OP_TIMEOUT)
        assert group in {g.group_id for g in listed.valid}
        description = admin.describe_consumer_groups([group])[group].result(OP_TIMEOUT)
        assert description.state.lower() == "stable" and len(description.members) == 1
        assert [(tp.topic, tp.partition) for tp in description.members[0].assignment] == [(topic, 0)]
        offsets = admin.list_consumer_group_offsets(group).result(OP_TIMEOUT)
        assert [(tp.topic, tp.partition, tp.offset) for tp in offsets] == [(topic, 0, 1)]
    finally:
        consumer.close()
    assert admin.delete_consumer_groups([group])[group].result(OP_TIMEOUT) is None


def test_fresh_topic_helper_creates_partitions(potok_broker, potok_new_topic, admin):
    topic = potok_new_topic("parts", partitions=4, config={"cleanup.policy": "delete"})
    assert len(admin.list_topics(topic, timeout=OP_TIMEOUT).topics[topic].partitions) == 4


def test_admin_describe_configs(potok_broker, admin):
    topic = potok_broker.create_topic(fresh("cfg"), config={"retention.ms": "3600000"})
    resource = ConfigResource("topic", topic)
    configs = admin.describe_configs([resource])[resource].result(OP_TIMEOUT)
    assert configs["retention.ms"].value == "3600000"


def test_retries_after_lost_produce_responses_are_written_once(potok_broker, potok_new_topic):
    """Issue 6's proxy test with potok's own producer: a proxy drops the responses to two Produce requests after
    the broker wrote their batches (and cuts the connection); the idempotent producer resends them with the same
    sequence numbers, and the broker acknowledges the retries without writing anything twice."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "clients" / "python"))
    from dropping_proxy import DroppingProxy

    topic = potok_new_topic("lost-responses", partitions=1)
    proxy = DroppingProxy(potok_broker.bootstrap_servers, drop_produce={2, 4})
    delivered = []
    try:
        producer = potok.Producer(
            {"bootstrap.servers": proxy.address, "linger.ms": 0, "retry.backoff.ms": 50, "reconnect.backoff.ms": 50}
        )
        for round_ in range(6):
            for i in range(20):
                producer.produce(
                    topic,
                    value=str(round_ * 20 + i).encode(),
                    on_delivery=lambda err, msg: delivered.append((err, msg.offset())),
                )
            assert producer.flush(OP_TIMEOUT) == 0
        assert proxy.dropped == 2, "the proxy dropped two responses"
    finally:
        proxy.close()
    assert [err for err, _ in delivered if err is not None] == []
    offsets = sorted(offset for _, offset in delivered)
    # A retried batch acknowledged as a duplicate may come back without its offsets (-1), as Kafka's producer
    # reports DUPLICATE_SEQUENCE_NUMBER; every other record has its own offset.
    assert [o for o in offsets if o >= 0] == sorted(set(o for o in offsets if o >= 0))
    consumer = potok.Consumer({"bootstrap.servers": potok_broker.bootstrap_servers, "group.id": fresh("lost")})
    try:
        low, high = consumer.get_watermark_offsets(potok.TopicPartition(topic, 0), timeout=OP_TIMEOUT)
        assert (low, high) == (0, 120), "no batch was written twice"
    finally:
        consumer.close()
