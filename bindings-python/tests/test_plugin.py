"""The pytest plugin's fixtures, used the way a Kafka user's test suite would use them."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition
from conftest import OP_TIMEOUT, fresh


def test_session_broker_serves_a_round_trip(potok_broker, potok_new_topic):
    topic = potok_new_topic("orders")
    assert topic.startswith("orders-test_session_broker_serves_a_round_trip-")
    producer = Producer({"bootstrap.servers": potok_broker.bootstrap_servers})
    producer.produce(topic, b"order-1")
    assert producer.flush(OP_TIMEOUT) == 0
    consumer = Consumer({"bootstrap.servers": potok_broker.bootstrap_servers, "group.id": fresh("g")})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        message = consumer.poll(OP_TIMEOUT)
        assert message is not None and message.error() is None
        assert message.value() == b"order-1"
    finally:
        consumer.close()


def test_fresh_topics_are_distinct(potok_new_topic):
    names = {potok_new_topic() for _ in range(10)}
    assert len(names) == 10


def test_the_broker_is_shared_across_the_session(potok_broker, request):
    assert potok_broker is request.getfixturevalue("potok_broker")
    assert potok_broker.running
