"""confluent-kafka's schema-registry client and serializers against the registry of the broker under test
(`potok broker --override schema.registry.listeners=...`, at $POTOK_SCHEMA_REGISTRY_URL): register, evolve
compatibly, refuse an incompatible change, produce and consume Avro and JSON Schema values, read back by id.
Skipped when no registry URL is given (e.g. against a plain Apache Kafka)."""

import json
import os
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import BOOTSTRAP, OP_TIMEOUT, new_topic_name

REGISTRY = os.environ.get("POTOK_SCHEMA_REGISTRY_URL")
pytestmark = pytest.mark.skipif(not REGISTRY, reason="no POTOK_SCHEMA_REGISTRY_URL")

READING = {"type": "record", "name": "Reading", "namespace": "potok.test", "fields": [{"name": "sensor", "type": "string"}]}
READING_V2 = dict(READING, fields=READING["fields"] + [{"name": "celsius", "type": ["null", "double"], "default": None}])
READING_BAD = dict(READING, fields=[{"name": "sensor", "type": "long"}])


def read_values(topic, count, deserializer):
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"potok-sr-{uuid.uuid4().hex[:8]}"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    deadline = time.monotonic() + OP_TIMEOUT
    try:
        while len(values) < count and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and not m.error():
                values.append(deserializer(m.value(), SerializationContext(topic, MessageField.VALUE)))
    finally:
        consumer.close()
    return values


def test_register_evolve_refuse_and_read_back_by_id():
    client = SchemaRegistryClient({"url": REGISTRY})
    subject = new_topic_name("sr") + "-value"
    id1 = client.register_schema(subject, Schema(json.dumps(READING), "AVRO"))
    id2 = client.register_schema(subject, Schema(json.dumps(READING_V2), "AVRO"))
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(json.dumps(READING_BAD), "AVRO"))
    assert (refused.value.http_status_code, refused.value.error_code) == (409, 40901)
    assert json.loads(client.get_schema(id1).schema_str) == READING
    assert json.loads(client.get_schema(id2).schema_str) == READING_V2
    assert client.get_versions(subject) == [1, 2]


def test_avro_and_json_schema_values_through_the_broker():
    client = SchemaRegistryClient({"url": REGISTRY})
    topic = new_topic_name("sr-avro")
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    to_avro = AvroSerializer(client, json.dumps(READING_V2))
    sent = [{"sensor": f"s{i}", "celsius": float(i)} for i in range(5)]
    for value in sent:
        producer.produce(topic, value=to_avro(value, SerializationContext(topic, MessageField.VALUE)), partition=0)
    assert producer.flush(OP_TIMEOUT) == 0
    assert read_values(topic, 5, AvroDeserializer(client)) == sent

    person = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    json_topic = new_topic_name("sr-json")
    to_json = JSONSerializer(json.dumps(person), client)
    producer.produce(json_topic, value=to_json({"name": "Ada"}, SerializationContext(json_topic, MessageField.VALUE)), partition=0)
    assert producer.flush(OP_TIMEOUT) == 0
    assert read_values(json_topic, 1, JSONDeserializer(json.dumps(person))) == [{"name": "Ada"}]
