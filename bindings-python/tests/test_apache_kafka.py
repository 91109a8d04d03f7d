"""potok's Producer, Consumer and AdminClient against Apache Kafka 4.x (scripts/python-tests.sh starts one and sets
POTOK_KAFKA_BOOTSTRAP), read back with confluent-kafka: the same code works against a real cluster."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer as ConfluentConsumer
from confluent_kafka import TopicPartition as ConfluentTopicPartition
from conftest import OP_TIMEOUT, fresh

import potok
from potok.admin import NewTopic, OffsetSpec

KAFKA = os.environ.get("POTOK_KAFKA_BOOTSTRAP")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "names.py"
# scripts/python-tests.sh always provides Apache Kafka; a bare `pytest` run on a developer machine may not.
pytestmark = pytest.mark.skipif(not KAFKA, reason="POTOK_KAFKA_BOOTSTRAP (an Apache Kafka broker) is not set")


def test_admin_and_producer_against_apache_kafka():
    admin = potok.AdminClient({"bootstrap.servers": KAFKA})
    topic = fresh("apache")
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(OP_TIMEOUT)
    with pytest.raises(potok.TopicAlreadyExistsError):
        admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(OP_TIMEOUT)
    assert sorted(admin.list_topics(topic, timeout=OP_TIMEOUT).topics[topic].partitions) == [0, 1, 2]

    producer = potok.Producer({"bootstrap.servers": KAFKA, "linger.ms": 5})
    reports = []
    for i in range(60):
        producer.produce(topic, f"v{i}", key=f"k{i % 6}", on_delivery=lambda e, m: reports.append((e, m)))
    assert producer.flush(OP_TIMEOUT) == 0
    assert len(reports) == 60 and all(e is None for e, _ in reports)

    total = 0
    for partition in range(3):
        tp = potok.TopicPartition(topic, partition)
        end = admin.list_offsets({tp: OffsetSpec.latest()})[tp].result(OP_TIMEOUT).offset
        total += end
    assert total == 60

    consumer = ConfluentConsumer({"bootstrap.servers": KAFKA, "group.id": fresh("g"), "enable.auto.commit": False})
    try:
        consumer.assign([ConfluentTopicPartition(topic, p, 0) for p in range(3)])
        values = set()
        while len(values) < 60:
            messages = consumer.consume(60, timeout=OP_TIMEOUT)
            assert messages, f"only {len(values)} records read back"
            values.update(m.value() for m in messages if m.error() is None)
    finally:
        consumer.close()
    assert values == {f"v{i}".encode() for i in range(60)}
    admin.delete_topics([topic])[topic].result(OP_TIMEOUT)
    admin.close()


def test_transactions_against_apache_kafka():
    admin = potok.AdminClient({"bootstrap.servers": KAFKA})
    topic = fresh("txn")
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(OP_TIMEOUT)
    producer = potok.Producer({"bootstrap.servers": KAFKA, "transactional.id": fresh("tx")})
    producer.init_transactions(OP_TIMEOUT)
    producer.begin_transaction()
    producer.produce(topic, b"aborted")
    producer.abort_transaction(10)
    producer.begin_transaction()
    producer.produce(topic, b"committed")
    producer.commit_transaction(OP_TIMEOUT)

    consumer = ConfluentConsumer(
        {
            "bootstrap.servers": KAFKA,
            "group.id": fresh("g"),
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        consumer.assign([ConfluentTopicPartition(topic, 0, 0)])
        values = [m.value() for m in consumer.consume(10, timeout=5) if m.error() is None]
    finally:
        consumer.close()
    assert values == [b"committed"]
    admin.close()


def test_consumer_against_apache_kafka():
    admin = potok.AdminClient({"bootstrap.servers": KAFKA})
    topic = fresh("apache-consume")
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(OP_TIMEOUT)
    producer = potok.Producer({"bootstrap.servers": KAFKA})
    for i in range(30):
        producer.produce(topic, f"v{i}", key=f"k{i}")
    assert producer.flush(OP_TIMEOUT) == 0
    producer.close()

    group = fresh("g")
    assigned = []
    consumer = potok.Consumer(
        {"bootstrap.servers": KAFKA, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    try:
        consumer.subscribe([topic], on_assign=lambda c, tps: assigned.extend(tp.partition for tp in tps))
        values = []
        deadline = time.monotonic() + OP_TIMEOUT
        while len(values) < 30 and time.monotonic() < deadline:
            values.extend(m.value() for m in consumer.consume(30, timeout=1.0))
        assert sorted(values) == sorted(f"v{i}".encode() for i in range(30))
        assert sorted(assigned) == [0, 1]
        consumer.commit(asynchronous=False)
        committed = consumer.committed([potok.TopicPartition(topic, p) for p in range(2)], timeout=OP_TIMEOUT)
        assert sum(tp.offset for tp in committed) == 30
        low, high = consumer.get_watermark_offsets(potok.TopicPartition(topic, 0), timeout=OP_TIMEOUT)
        assert low == 0 and high == committed[0].offset
    finally:
        consumer.close()
    offsets = admin.list_consumer_group_offsets(group).result(OP_TIMEOUT)
    assert sum(tp.offset for tp in offsets) == 30
    admin.delete_topics([topic])[topic].result(OP_TIMEOUT)
    admin.close()


def test_course_names_exercise_against_apache_kafka():
    spec = importlib.util.spec_from_file_location("names_example", EXAMPLE)
    names = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(names)
    topic, group = fresh("names"), fresh("names-consumer-group")
    read = names.run(KAFKA, topic=topic, group=group, quiet=True)
    assert len(read) == 100
