"""Real Kafka clients (confluent-kafka / librdkafka and kafka-python) against the embedded potok.Broker:
produce, consume, consumer groups with committed offsets, and admin operations."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from conftest import OP_TIMEOUT, fresh
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic as KpNewTopic


@pytest.fixture(scope="module")
def bootstrap(potok_broker):
    return potok_broker.bootstrap_servers


def confluent_create(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=OP_TIMEOUT).values():
        future.result(OP_TIMEOUT)


def test_confluent_produce_and_group_consume(bootstrap):
    topic = fresh("cf")
    confluent_create(bootstrap, topic, 3)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    delivered = []
    for i in range(300):
        producer.produce(
            topic,
            value=f"v{i}".encode(),
            key=f"k{i % 10}".encode(),
            headers=[("h", b"1")],
            on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())),
        )
    assert producer.flush(OP_TIMEOUT) == 0
    assert len(delivered) == 300 and all(err is None for err, _, _ in delivered)
    # The default partitioner spreads ten keys over the three partitions.
    assert {p for _, p, _ in delivered} == {0, 1, 2}

    group = fresh("cf-group")
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    consumer.subscribe([topic])
    seen = {}
    try:
        while len(seen) < 300:
            message = consumer.poll(OP_TIMEOUT)
            assert message is not None, f"only {len(seen)} records arrived"
            assert message.error() is None, message.error()
            seen[message.value()] = message
            assert message.headers() == [("h", b"1")]
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=OP_TIMEOUT)
        assert sum(tp.offset for tp in committed) == 300
    finally:
        consumer.close()
    # Same key, same partition.
    by_key = {}
    for message in seen.values():
        by_key.setdefault(message.key(), set()).add(message.partition())
    assert all(len(parts) == 1 for parts in by_key.values())


def test_confluent_admin_errors_are_kafkas(bootstrap):
    topic = fresh("dup")
    confluent_create(bootstrap, topic, 1)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.create_topics([NewTopic(topic, 1, 1)])[topic]
    with pytest.raises(Exception) as info:
        future.result(OP_TIMEOUT)
    assert info.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


def test_kafka_python_round_trip_with_group(bootstrap):
    topic = fresh("kp")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(OP_TIMEOUT * 1000))
    try:
        admin.create_topics([KpNewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    futures = [producer.send(topic, key=b"k%d" % (i % 4), value=b"kp-%d" % i) for i in range(100)]
    offsets = [f.get(timeout=OP_TIMEOUT) for f in futures]
    producer.close(timeout=OP_TIMEOUT)
    assert {m.partition for m in offsets} <= {0, 1}

    group = fresh("kp-group")
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(OP_TIMEOUT * 1000),
    )
    try:
        values = set()
        for message in consumer:
            values.add(message.value)
            if len(values) == 100:
                break
        assert values == {b"kp-%d" % i for i in range(100)}
        consumer.commit()
    finally:
        consumer.close()

    # A second consumer in the same group starts from the committed offsets: nothing left to read.
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, key=b"k0", value=b"after-commit").get(timeout=OP_TIMEOUT)
    producer.close(timeout=OP_TIMEOUT)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(OP_TIMEOUT * 1000),
    )
    try:
        first = next(iter(consumer))
        assert first.value == b"after-commit"
    finally:
        consumer.close()


def test_confluent_and_kafka_python_see_each_others_records(bootstrap):
    topic = fresh("mixed")
    confluent_create(bootstrap, topic, 1)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, b"from-librdkafka", key=b"k", headers=[("src", b"c")])
    assert producer.flush(OP_TIMEOUT) == 0
    kp = KafkaProducer(bootstrap_servers=bootstrap)
    kp.send(topic, b"from-kafka-python", key=b"k", headers=[("src", b"p")]).get(timeout=OP_TIMEOUT)
    kp.close(timeout=OP_TIMEOUT)

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=int(OP_TIMEOUT * 1000))
    from kafka import TopicPartition as KpTopicPartition

    consumer.assign([KpTopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    got = []
    for message in consumer:
        got.append((message.value, message.headers))
        if len(got) == 2:
            break
    consumer.close()
    assert got == [(b"from-librdkafka", [("src", b"c")]), (b"from-kafka-python", [("src", b"p")])]


def test_many_clients_at_once(bootstrap):
    topic = fresh("fan")
    confluent_create(bootstrap, topic, 1)
    producers = [Producer({"bootstrap.servers": bootstrap}) for _ in range(8)]
    for i, producer in enumerate(producers):
        producer.produce(topic, b"p%d" % i)
    assert all(producer.flush(OP_TIMEOUT) == 0 for producer in producers)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": fresh("g")})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT)
    finally:
        consumer.close()
    assert (low, high) == (0, 8)
