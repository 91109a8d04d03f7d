"""The schema registry a potok broker serves (``potok.Broker(schema_registry=True)``), judged by confluent-kafka's
own ``SchemaRegistryClient`` and serializers, and potok's registry client and serializers against the same."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import potok
from potok.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from potok.schema_registry.avro import AvroDeserializer, AvroSerializer
from potok.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from potok.serialization import MessageField, SerializationContext

confluent_kafka = pytest.importorskip("confluent_kafka")
import confluent_kafka.admin  # noqa: E402
from confluent_kafka.schema_registry import Schema as CSchema  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient as CClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroDeserializer as CAvroDeserializer  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroSerializer as CAvroSerializer  # noqa: E402
from confluent_kafka.schema_registry.error import SchemaRegistryError as CError  # noqa: E402
from confluent_kafka.schema_registry.json_schema import JSONDeserializer as CJSONDeserializer  # noqa: E402
from confluent_kafka.schema_registry.json_schema import JSONSerializer as CJSONSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField as CField  # noqa: E402
from confluent_kafka.serialization import SerializationContext as CCtx  # noqa: E402

from conftest import OP_TIMEOUT, fresh  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "python" / "avro_pos_simulator.py"

V1 = json.dumps({"type": "record", "name": "Reading", "namespace": "t", "fields": [{"name": "sensor", "type": "string"}]})
V2 = json.dumps(
    {
        "type": "record",
        "name": "Reading",
        "namespace": "t",
        "fields": [{"name": "sensor", "type": "string"}, {"name": "celsius", "type": ["null", "double"], "default": None}],
    }
)
BAD = json.dumps({"type": "record", "name": "Reading", "namespace": "t", "fields": [{"name": "sensor", "type": "int"}]})
PERSON = json.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Person",
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name"],
        "additionalProperties": False,
    }
)


@pytest.fixture(scope="module")
def broker():
    with potok.Broker(schema_registry=True) as b:
        yield b


def consume_all(bootstrap, topic, count, deserializer, field=CField.VALUE):
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": fresh("g"), "auto.offset.reset": "earliest"})
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
    out = []
    try:
        import time

        deadline = time.monotonic() + OP_TIMEOUT
        while len(out) < count and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is None or m.error():
                continue
            out.append(deserializer(m.value(), CCtx(topic, field)))
    finally:
        consumer.close()
    return out


def test_broker_serves_a_registry(broker):
    assert broker.schema_registry_url.startswith("http://127.0.0.1:")
    with potok.Broker() as plain:
        assert plain.schema_registry_url is None


def test_confluents_client_registers_evolves_refuses_and_reads_back(broker):
    client = CClient({"url": broker.schema_registry_url})
    subject = fresh("readings") + "-value"
    id1 = client.register_schema(subject, CSchema(V1, "AVRO"))
    assert client.register_schema(subject, CSchema(V1, "AVRO")) == id1, "idempotent"
    id2 = client.register_schema(subject, CSchema(V2, "AVRO"))
    assert id2 != id1
    with pytest.raises(CError) as refused:
        client.register_schema(subject, CSchema(BAD, "AVRO"))
    assert refused.value.http_status_code == 409
    assert refused.value.error_code == 40901
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" not in refused.value.error_message  # a type change, not a field
    assert "TYPE_MISMATCH" in refused.value.error_message
    latest = client.get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (id2, 2)
    assert json.loads(client.get_schema(id1).schema_str) == json.loads(V1)
    assert client.get_versions(subject) == [1, 2]
    found = client.lookup_schema(subject, CSchema(V1, "AVRO"))
    assert (found.schema_id, found.version) == (id1, 1)
    assert client.test_compatibility(subject, CSchema(V2, "AVRO")) is True
    assert client.test_compatibility(subject, CSchema(BAD, "AVRO")) is False
    assert "AVRO" in client.get_schema_types() and "JSON" in client.get_schema_types()
    client.set_compatibility(subject, "NONE")
    assert client.get_compatibility(subject) == "NONE"
    assert client.register_schema(subject, CSchema(BAD, "AVRO")) > id2
    assert client.delete_version(subject, 3) == 3
    assert subject in client.get_subjects()
    assert client.delete_subject(subject) == [1, 2]
    assert subject not in client.get_subjects()
    assert client.delete_subject(subject, permanent=True) == [1, 2, 3]
    with pytest.raises(CError) as gone:
        # A fresh client: confluent-kafka caches the latest versions it has seen.
        CClient({"url": broker.schema_registry_url}).get_latest_version(subject)
    assert (gone.value.http_status_code, gone.value.error_code) == (404, 40401)


def test_confluents_avro_serializers_through_the_broker(broker):
    client = CClient({"url": broker.schema_registry_url})
    topic = fresh("avro")
    serialize = CAvroSerializer(client, V2)
    producer = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap_servers})
    readings = [{"sensor": f"s{i}", "celsius": i * 1.5 if i % 2 else None} for i in range(10)]
    for r in readings:
        producer.produce(topic, value=serialize(r, CCtx(topic, CField.VALUE)))
    assert producer.flush(OP_TIMEOUT) == 0
    assert consume_all(broker.bootstrap_servers, topic, 10, CAvroDeserializer(client)) == readings
    # potok's deserializer reads what Confluent's serializer wrote.
    ours = AvroDeserializer(SchemaRegistryClient({"url": broker.schema_registry_url}))
    assert consume_all(broker.bootstrap_servers, topic, 10, ours) == readings


def test_confluents_json_schema_serializer(broker):
    client = CClient({"url": broker.schema_registry_url})
    topic = fresh("json")
    serialize = CJSONSerializer(PERSON, client)
    value = serialize({"name": "Ada", "age": 36}, CCtx(topic, CField.VALUE))
    assert value[0] == 0
    registered = client.get_latest_version(f"{topic}-value")
    assert registered.schema.schema_type == "JSON"
    assert int.from_bytes(value[1:5], "big") == registered.schema_id
    assert CJSONDeserializer(PERSON)(value, CCtx(topic, CField.VALUE)) == {"name": "Ada", "age": 36}
    ours = JSONDeserializer(schema_registry_client=SchemaRegistryClient({"url": broker.schema_registry_url}))
    assert ours(value, SerializationContext(topic, MessageField.VALUE)) == {"name": "Ada", "age": 36}
    # A JSON Schema change that breaks readers of the old data is refused: here a new bound on a property.
    closed = json.loads(PERSON)
    closed["properties"]["age"]["maximum"] = 150
    with pytest.raises(CError) as refused:
        client.register_schema(f"{topic}-value", CSchema(json.dumps(closed), "JSON"))
    assert refused.value.error_code == 40901


def test_potoks_serializers_and_confluents_read_each_other(broker):
    ours = SchemaRegistryClient({"url": broker.schema_registry_url})
    theirs = CClient({"url": broker.schema_registry_url})
    topic = fresh("mixed")
    ctx = SerializationContext(topic, MessageField.VALUE)
    to_avro = AvroSerializer(ours, V1)
    data = to_avro({"sensor": "a"}, ctx)
    assert data[:1] == b"\x00"
    assert CAvroDeserializer(theirs)(data, CCtx(topic, CField.VALUE)) == {"sensor": "a"}
    assert AvroDeserializer(ours)(CAvroSerializer(theirs, V1)({"sensor": "b"}, CCtx(topic, CField.VALUE)), ctx) == {"sensor": "b"}
    # Keys register under "<topic>-key".
    AvroSerializer(ours, V1)({"sensor": "k"}, SerializationContext(topic, MessageField.KEY))
    assert f"{topic}-key" in ours.get_subjects()
    # use.latest.version writes with the subject's latest schema; auto.register.schemas=False only looks up.
    ours.register_schema(f"{topic}-value", Schema(V2))
    latest = AvroSerializer(ours, None, conf={"use.latest.version": True, "auto.register.schemas": False})
    framed = latest({"sensor": "c", "celsius": 1.0}, ctx)
    assert int.from_bytes(framed[1:5], "big") == ours.get_latest_version(f"{topic}-value").schema_id
    with pytest.raises(SchemaRegistryError) as missing:
        AvroSerializer(ours, BAD, conf={"auto.register.schemas": False})({"sensor": 1}, ctx)
    assert missing.value.error_code == 40403
    with pytest.raises(SchemaRegistryError) as incompatible:
        AvroSerializer(ours, BAD)({"sensor": 1}, ctx)
    assert (incompatible.value.http_status_code, incompatible.value.error_code) == (409, 40901)
    # A subject holds one schema type: a JSON Schema under this Avro subject is refused.
    with pytest.raises(SchemaRegistryError) as other_type:
        JSONSerializer(PERSON, ours)({"name": "x"}, ctx)
    assert "different schema type" in other_type.value.error_message
    to_json = JSONSerializer(PERSON, ours)
    with pytest.raises(potok.SerializationError) as invalid:
        to_json({"name": 5}, SerializationContext(fresh("people"), MessageField.VALUE))
    assert "/name" in invalid.value.field_paths
    with pytest.raises(ValueError):
        AvroSerializer(ours, V1, conf={"auto.register.schema": True})


def test_schemas_survive_a_restart(tmp_path):
    with potok.Broker(schema_registry=True, log_dirs=str(tmp_path)) as b:
        client = CClient({"url": b.schema_registry_url})
        id1 = client.register_schema("kept-value", CSchema(V1, "AVRO"))
        id2 = client.register_schema("kept-value", CSchema(V2, "AVRO"))
    with potok.Broker(schema_registry=True, log_dirs=str(tmp_path)) as b:
        client = CClient({"url": b.schema_registry_url})
        assert client.get_versions("kept-value") == [1, 2]
        assert json.loads(client.get_schema(id2).schema_str) == json.loads(V2)
        assert client.register_schema("kept-value", CSchema(V1, "AVRO")) == id1
        assert client.register_schema("new-value", CSchema(BAD, "AVRO")) == id2 + 1



def test_a_clusters_schemas_survive_the_loss_of_the_broker_leading_them():
    """``potok.Cluster(schema_registry=True)``: a registry on every broker over one ``_schemas`` topic on three
    replicas; the broker leading it is killed and confluent-kafka's client, given every URL, reads back by id
    and registers again."""
    with potok.Cluster(3, schema_registry=True) as cluster:
        urls = cluster.schema_registry_url.split(",")
        assert len(urls) == 3
        admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
        described = admin.describe_topics(confluent_kafka.TopicCollection(["_schemas"]))["_schemas"]
        partition = described.result(OP_TIMEOUT).partitions[0]
        assert len(partition.replicas) == 3
        leader = partition.leader.id
        lost_url = cluster.broker_schema_registry_url(leader)
        id1 = CClient({"url": lost_url}).register_schema("pos-value", CSchema(V1, "AVRO"))
        cluster.kill_broker(leader)
        assert cluster.broker_schema_registry_url(leader) is None
        survivors = cluster.schema_registry_url
        assert lost_url not in survivors
        client = CClient({"url": survivors.split(",")[0]})
        assert json.loads(client.get_schema(id1).schema_str) == json.loads(V1)
        # Writes go on once _schemas has a new leader (the lost broker's session times out first).
        writer = CClient({"url": survivors.split(",")[1]})
        deadline = time.monotonic() + OP_TIMEOUT
        while True:
            try:
                id2 = writer.register_schema("pos-value", CSchema(V2, "AVRO"))
                break
            except CError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert id2 != id1
        with pytest.raises(CError) as refused:
            writer.register_schema("pos-value", CSchema(BAD, "AVRO"))
        assert refused.value.http_status_code == 409
        cluster.start_broker(leader)
        assert cluster.broker_schema_registry_url(leader) == lost_url
        assert CClient({"url": lost_url}).get_latest_version("pos-value").schema_id == id2

def raw(url, method, path, body=None, content_type="application/vnd.schemaregistry.v1+json"):
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=OP_TIMEOUT) as r:
            return r.status, r.headers.get("Content-Type"), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), json.loads(e.read())


def test_bad_input_gets_confluents_error_bodies_never_a_500(broker):
    url = broker.schema_registry_url
    cases = [
        ("POST", "/subjects/x/versions", "{not json", 400, 400),
        ("POST", "/subjects/x/versions", json.dumps({"schema": "{\"type\": \"recrod\"}"}), 422, 42201),
        ("POST", "/subjects/x/versions", json.dumps({"schema": "{}", "schemaType": "JSON"}) + "", None, None),
        ("POST", "/subjects/x/versions", json.dumps({"schema": V1, "schemaType": "XML"}), 422, 42201),
        ("GET", "/subjects/no-such-subject/versions", None, 404, 40401),
        ("GET", "/subjects/no-such-subject/versions/latest", None, 404, 40401),
        ("GET", "/schemas/ids/999999", None, 404, 40403),
        ("GET", "/subjects/x/versions/abc", None, 422, 42202),
        ("PUT", "/config", json.dumps({"compatibility": "SOMETIMES"}), 422, 42203),
        ("DELETE", "/subjects/no-such-subject", None, 404, 40401),
    ]
    for method, path, body, status, code in cases:
        got_status, content_type, answer = raw(url, method, path, body)
        assert got_status < 500, (method, path, answer)
        assert content_type == "application/vnd.schemaregistry.v1+json"
        if status is not None:
            assert (got_status, answer["error_code"]) == (status, code), (method, path, answer)
            assert answer["message"]
    status, _, answer = raw(url, "POST", "/subjects/x/versions", json.dumps({"schema": V1}), content_type="text/plain")
    assert (status, answer["error_code"]) == (415, 415)


def load_example():
    spec = importlib.util.spec_from_file_location("avro_pos_simulator", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def potok_cli():
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "debug" / "potok"
    return binary if binary.exists() else None


def test_avro_pos_simulator_end_to_end(broker):
    """CURRICULUM §4: the Avro POS simulator writes `pos` with an Avro serializer and subject `pos-value`; an Avro
    console consumer reads the invoices back as JSON."""
    example = load_example()
    topic = fresh("pos")
    sent = example.run(broker.bootstrap_servers, broker.schema_registry_url, topic, producers=2, count=40, quiet=True)
    assert len(sent) == 40
    client = CClient({"url": broker.schema_registry_url})
    registered = client.get_latest_version(f"{topic}-value")
    assert json.loads(registered.schema.schema_str)["name"] == "PosInvoice"
    # Confluent's deserializer reads every invoice back as sent.
    got = consume_all(broker.bootstrap_servers, topic, 40, CAvroDeserializer(client))
    for invoice in got:
        # fastavro reads timestamp-millis as a datetime.
        invoice["CreatedTime"] = round(invoice["CreatedTime"].timestamp() * 1000)
    key = lambda i: i["InvoiceNumber"]  # noqa: E731
    assert sorted(got, key=key) == sorted(sent, key=key)
    cli = potok_cli()
    if cli is None:
        pytest.skip("the potok CLI is not built (cargo build -p potok-cli)")
    out = subprocess.run(
        [str(cli), "console-consumer", "--bootstrap-server", broker.bootstrap_servers, "--topic", topic,
         "--from-beginning", "--max-messages", "40", "--timeout-ms", "20000", "--value-deserializer", "avro",
         "--property", f"schema.registry.url={broker.schema_registry_url}"],
        capture_output=True, text=True, timeout=60,
    )
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 40, out.stderr
    # Avro's JSON encoding, as Confluent's Avro console consumer prints it: unions name their branch.
    first = lines[0]
    assert set(first["StoreID"]) == {"string"}
    assert first["InvoiceLineItems"]["array"][0]["ItemCode"]["string"]
    assert {line["InvoiceNumber"]["string"] for line in lines} == {invoice["InvoiceNumber"] for invoice in sent}
