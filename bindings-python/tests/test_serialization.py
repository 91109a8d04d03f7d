"""potok.serialization: confluent-kafka-style callables over potok's native serializers. Bytes are checked against
independent writers (confluent-kafka's own serializers for the Kafka primitives, Apache Avro's reference
implementation for the Avro vectors in core/src/serde/testdata), the course's PosInvoice goes through JSON
Schema and Avro, and records round-trip through potok's Producer and Consumer."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
from confluent_kafka import serialization as confluent
from conftest import OP_TIMEOUT, fresh

import potok
from potok.errors import InvalidArgumentError, KafkaError, SerializationError
from potok.serialization import (
    AvroDeserializer,
    AvroSerializer,
    Deserializer,
    DoubleDeserializer,
    DoubleSerializer,
    IntegerDeserializer,
    IntegerSerializer,
    JSONDeserializer,
    JSONSerializer,
    MessageField,
    SerializationContext,
    Serializer,
    StringDeserializer,
    StringSerializer,
)

TESTDATA = Path(__file__).resolve().parents[2] / "core" / "src" / "serde" / "testdata"
POS_JSON_SCHEMA = (TESTDATA / "pos-invoice.schema.json").read_text()
POS_AVRO_SCHEMA = (TESTDATA / "pos-invoice.avsc").read_text()
VALUE = SerializationContext("pos", MessageField.VALUE)
KEY = SerializationContext("pos", MessageField.KEY)


def invoice():
    """One invoice of the course's POS simulator (CURRICULUM.md §4)."""
    return {
        "InvoiceNumber": "51058379", "CreatedTime": 1595140882000, "StoreID": "STR7188", "PosID": "POS956",
        "CashierID": "OAS134", "CustomerType": "PRIME", "CustomerCardNo": "4629185211", "TotalAmount": 11114.0,
        "NumberOfItems": 4, "PaymentMethod": "CARD", "TaxableAmount": 11114.0, "CGST": 277.85, "SGST": 277.85,
        "CESS": 13.8925, "DeliveryType": "HOME-DELIVERY",
        "DeliveryAddress": {"AddressLine": "13436 Sundance Lane", "City": "Pune", "State": "Maharashtra",
                            "PinCode": "411001", "ContactNumber": "2306117245"},
        "InvoiceLineItems": [
            {"ItemCode": "458", "ItemDescription": "Wine glass", "ItemPrice": 1644.0, "ItemQty": 2, "TotalValue": 3288.0},
            {"ItemCode": "283", "ItemDescription": "Sauce Pan", "ItemPrice": 1913.0, "ItemQty": 1, "TotalValue": 1913.0},
        ],
    }


# --- Kafka's primitives ---------------------------------------------------------------------------------------


def test_integer_is_four_big_endian_bytes():
    ser = IntegerSerializer()
    assert ser(1) == b"\x00\x00\x00\x01"
    assert ser(-2, VALUE) == b"\xff\xff\xff\xfe"
    assert ser(None) is None
    de = IntegerDeserializer()
    for i in (0, 1, -1, 256, 2**31 - 1, -(2**31)):
        assert ser(i) == confluent.IntegerSerializer()(i)
        assert de(ser(i), VALUE) == i
    assert de(None) is None


def test_double_and_string_bytes_match_confluent_kafka():
    ser, de = DoubleSerializer(), DoubleDeserializer()
    for d in (0.0, -2.0, 277.85, 1e300, -0.0, math.inf):
        assert ser(d) == confluent.DoubleSerializer()(d)
        assert de(ser(d)) == d
    assert ser(-2.0) == b"\xc0" + bytes(7)
    assert math.isnan(de(ser(math.nan)))
    assert ser(3) == confluent.DoubleSerializer()(3)
    s, sd = StringSerializer(), StringDeserializer("utf-8")
    assert s("héllo") == "héllo".encode() == confluent.StringSerializer()("héllo")
    assert sd(s("héllo")) == "héllo"
    assert sd(bytearray(b"ab")) == "ab"
    # Kafka's StringDeserializer is Java's `new String(bytes, UTF_8)`: malformed bytes become U+FFFD.
    assert sd(b"a\xffb") == "a\ufffdb"
    assert s(None) is None and sd(None) is None


def test_wrong_sizes_and_types_raise_typed_errors_with_kafkas_messages():
    with pytest.raises(SerializationError, match="Size of data received by IntegerDeserializer is not 4") as e:
        IntegerDeserializer()(b"\x00\x01", VALUE)
    assert e.value.code == KafkaError._VALUE_DESERIALIZATION
    with pytest.raises(SerializationError, match="Size of data received by Deserializer is not 8") as e:
        DoubleDeserializer()(b"\x00" * 4, KEY)
    assert e.value.code == KafkaError._KEY_DESERIALIZATION and e.value.name == "_KEY_DESERIALIZATION"
    with pytest.raises(SerializationError, match="32-bit") as e:
        IntegerSerializer()(2**31, KEY)
    assert e.value.code == KafkaError._KEY_SERIALIZATION
    with pytest.raises(SerializationError, match="int expected, not str") as e:
        IntegerSerializer()("1", VALUE)
    assert e.value.code == KafkaError._VALUE_SERIALIZATION
    with pytest.raises(SerializationError, match="str expected"):
        StringSerializer()(b"bytes")
    with pytest.raises(SerializationError, match="float expected"):
        DoubleSerializer()("1.0")
    # A SerializationError is also a ValueError, as the engine's typed errors are elsewhere.
    assert isinstance(e.value, ValueError) and isinstance(e.value, potok.KafkaException)
    with pytest.raises(InvalidArgumentError, match="UTF-8 only"):
        StringSerializer("latin-1")


# --- JSON and JSON Schema ---------------------------------------------------------------------------------------


def test_json_is_compact_text_and_round_trips():
    value = {"b": [1, 2.5, None, True], "a": "x", "n": {"deep": (1, 2)}}
    data = JSONSerializer()(value, VALUE)
    assert data == b'{"a":"x","b":[1,2.5,null,true],"n":{"deep":[1,2]}}'
    assert json.loads(data) == {"b": [1, 2.5, None, True], "a": "x", "n": {"deep": [1, 2]}}
    back = JSONDeserializer()(data, VALUE)
    assert back == {"a": "x", "b": [1, 2.5, None, True], "n": {"deep": [1, 2]}}
    assert isinstance(back["b"][0], int) and isinstance(back["b"][1], float)
    assert JSONDeserializer()(b"9223372036854775807") == 2**63 - 1
    with pytest.raises(SerializationError, match="Error deserializing JSON"):
        JSONDeserializer()(b"{", VALUE)


def test_values_without_a_json_form_name_their_path():
    ser = JSONSerializer()
    with pytest.raises(SerializationError, match="/a/1: Object of type set is not JSON serializable") as e:
        ser({"a": [0, {1}]})
    assert e.value.field_paths == ("/a/1",)
    with pytest.raises(SerializationError, match="/x: NaN has no JSON form"):
        ser({"x": math.nan})
    with pytest.raises(SerializationError, match="keys must be str"):
        ser({1: 2})
    with pytest.raises(SerializationError, match="64 bits"):
        ser(2**64)
    looped: list = []
    looped.append(looped)
    with pytest.raises(SerializationError, match="nested deeper than 128"):
        ser(looped)


def test_pos_invoice_json_schema_round_trip_and_framing():
    ser = JSONSerializer(POS_JSON_SCHEMA)
    data = ser(invoice(), VALUE)
    assert json.loads(data) == invoice()
    assert JSONDeserializer(POS_JSON_SCHEMA)(data, VALUE) == invoice()
    framed = JSONSerializer(POS_JSON_SCHEMA, schema_id=7)(invoice(), VALUE)
    assert framed[:5] == b"\x00\x00\x00\x00\x07" and framed[5:] == data
    assert JSONDeserializer(POS_JSON_SCHEMA, framed=True)(framed) == invoice()
    assert JSONDeserializer(framed=True)(framed) == invoice()
    with pytest.raises(SerializationError, match="Unknown magic byte!"):
        JSONDeserializer(framed=True)(data)


def test_an_invalid_pos_invoice_names_the_failing_fields():
    bad = invoice()
    bad["InvoiceLineItems"][1]["ItemQty"] = 0
    bad["CustomerType"] = "VIP"
    del bad["StoreID"]
    with pytest.raises(SerializationError) as e:
        JSONSerializer(POS_JSON_SCHEMA)(bad, VALUE)
    message = str(e.value)
    assert message.startswith("_VALUE_SERIALIZATION: JSON Schema validation failed: "), message
    assert "/InvoiceLineItems/1/ItemQty" in message and "/CustomerType" in message and "/StoreID" in message
    assert set(e.value.field_paths) == {"/InvoiceLineItems/1/ItemQty", "/CustomerType", "/StoreID"}
    assert e.value.code == KafkaError._VALUE_SERIALIZATION
    # The deserializer validates too: JSON written without the schema is refused on the way in.
    with pytest.raises(SerializationError, match="/CustomerType") as e:
        JSONDeserializer(POS_JSON_SCHEMA)(JSONSerializer()(bad), VALUE)
    assert e.value.code == KafkaError._VALUE_DESERIALIZATION


def test_a_bad_json_schema_is_an_invalid_argument():
    with pytest.raises(InvalidArgumentError, match="invalid JSON Schema"):
        JSONSerializer('{"type": "object", "properties": {"a": {"pattern": "("}}}')
    with pytest.raises(InvalidArgumentError, match="invalid JSON Schema"):
        JSONDeserializer("not json")


# --- Avro ---------------------------------------------------------------------------------------------------------


def test_avro_bytes_match_apache_avros_reference_vectors():
    vectors = json.loads((TESTDATA / "avro-vectors.json").read_text())
    assert len(vectors) >= 20
    for vector in vectors:
        schema = vector["schema"]
        text = (TESTDATA / schema).read_text() if schema == "pos-invoice.avsc" else json.dumps(schema)
        expected = bytes.fromhex(vector["hex"])
        if vector["value"] is None:
            # None is a null record value (no bytes at all), as with every Kafka serializer, Confluent's Avro
            # one included; the union's null branch is checked inside records below.
            assert AvroSerializer(text)(None) is None
            continue
        assert AvroSerializer(text)(vector["value"], VALUE) == expected, vector
        back = AvroDeserializer(text)(expected, VALUE)
        if vector["schema"] in ("float", "double"):
            assert back == pytest.approx(vector["value"])
        else:
            # Records come back with every field, defaults included, so compare what the vector gives.
            assert back == vector["value"] or all(back[k] == v for k, v in vector["value"].items()), vector


def test_pos_invoice_avro_round_trip_and_confluent_framing():
    ser = AvroSerializer(POS_AVRO_SCHEMA)
    data = ser(invoice(), VALUE)
    assert AvroDeserializer(POS_AVRO_SCHEMA)(data, VALUE) == invoice()
    framed = AvroSerializer(POS_AVRO_SCHEMA, schema_id=42)(invoice(), VALUE)
    assert framed == b"\x00\x00\x00\x00\x2a" + data
    assert AvroDeserializer(POS_AVRO_SCHEMA, schema_id=42)(framed) == invoice()
    assert AvroDeserializer(POS_AVRO_SCHEMA, framed=True)(framed) == invoice()
    with pytest.raises(SerializationError, match="schema id 42, expected 7"):
        AvroDeserializer(POS_AVRO_SCHEMA, schema_id=7)(framed)
    # Avro fields are all ["null", T]: a takeaway invoice has no address.
    takeaway = dict(invoice(), DeliveryType="TAKEAWAY", DeliveryAddress=None)
    assert AvroDeserializer(POS_AVRO_SCHEMA)(ser(takeaway)) == takeaway


def test_an_invalid_avro_invoice_names_the_failing_field():
    bad = invoice()
    bad["DeliveryAddress"]["PinCode"] = 411001
    with pytest.raises(SerializationError, match="/DeliveryAddress/PinCode") as e:
        AvroSerializer(POS_AVRO_SCHEMA)(bad, VALUE)
    assert e.value.field_paths == ("/DeliveryAddress/PinCode",)
    with pytest.raises(SerializationError, match="malformed Avro data") as e:
        AvroDeserializer(POS_AVRO_SCHEMA)(AvroSerializer(POS_AVRO_SCHEMA)(invoice())[:-3], KEY)
    assert e.value.code == KafkaError._KEY_DESERIALIZATION
    with pytest.raises(InvalidArgumentError, match="invalid Avro schema"):
        AvroSerializer('{"type": "record", "name": "R"}')


def test_avro_bytes_fields_take_python_bytes():
    schema = json.dumps({"type": "record", "name": "B", "fields": [{"name": "b", "type": "bytes"}]})
    data = AvroSerializer(schema)({"b": b"\x00\xe9\xff"})
    assert data == b"\x06\x00\xe9\xff"
    assert AvroDeserializer(schema)(data) == {"b": "\x00\xe9\xff"}


def test_serializers_are_confluent_style_callables():
    assert isinstance(StringSerializer(), Serializer) and isinstance(AvroDeserializer(POS_AVRO_SCHEMA), Deserializer)

    class Upper(Serializer):
        def __call__(self, obj, ctx=None):
            return obj.upper().encode()

    assert Upper()("a", KEY) == b"A"
    assert (KEY.topic, KEY.field, KEY.headers) == ("pos", "key", None)
    with pytest.raises(NotImplementedError):
        Deserializer()(b"x")


# --- Through potok's own clients ----------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["json", "avro"])
def test_pos_invoices_through_potoks_producer_and_consumer(potok_broker, potok_new_topic, codec):
    topic = potok_new_topic(f"pos-{codec}", partitions=3)
    key_ser, key_de = StringSerializer(), StringDeserializer()
    if codec == "json":
        value_ser, value_de = JSONSerializer(POS_JSON_SCHEMA), JSONDeserializer(POS_JSON_SCHEMA)
    else:
        value_ser, value_de = AvroSerializer(POS_AVRO_SCHEMA, schema_id=1), AvroDeserializer(POS_AVRO_SCHEMA, schema_id=1)
    invoices = []
    for i in range(12):
        inv = invoice()
        inv["InvoiceNumber"] = str(51058379 + i)
        inv["StoreID"] = f"STR{7188 + i % 4}"
        invoices.append(inv)

    producer = potok.Producer({"bootstrap.servers": potok_broker.bootstrap_servers, "linger.ms": 2})
    for inv in invoices:
        producer.produce(
            topic,
            key=key_ser(inv["StoreID"], SerializationContext(topic, MessageField.KEY)),
            value=value_ser(inv, SerializationContext(topic, MessageField.VALUE)),
        )
    assert producer.flush(OP_TIMEOUT) == 0
    producer.close()

    consumer = potok.Consumer({
        "bootstrap.servers": potok_broker.bootstrap_servers,
        "group.id": fresh("pos"),
        "auto.offset.reset": "earliest",
    })
    try:
        consumer.subscribe([topic])
        received = []
        deadline = time.monotonic() + OP_TIMEOUT
        while len(received) < len(invoices) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None
            key = key_de(message.key(), SerializationContext(topic, MessageField.KEY))
            value = value_de(message.value(), SerializationContext(topic, MessageField.VALUE, message.headers()))
            assert key == value["StoreID"]
            received.append(value)
    finally:
        consumer.close()
    by_number = {inv["InvoiceNumber"]: inv for inv in received}
    assert by_number == {inv["InvoiceNumber"]: inv for inv in invoices}
