"""Serializers and deserializers with confluent-kafka's API, run by potok's native engine.

Each one is a callable ``(value, ctx)`` as in ``confluent_kafka.serialization``, and writes the bytes Kafka's
Java serializers write::

    from potok.serialization import IntegerSerializer, JSONSerializer, SerializationContext, MessageField

    IntegerSerializer()(1)                                  # b"\\x00\\x00\\x00\\x01"
    to_json = JSONSerializer(schema_str)                    # validated against a JSON Schema
    producer.produce("pos", value=to_json(invoice, SerializationContext("pos", MessageField.VALUE)))

:class:`StringSerializer` (UTF-8), :class:`IntegerSerializer` (4 bytes, big-endian), :class:`DoubleSerializer`
(IEEE 754, big-endian), :class:`JSONSerializer` (compact JSON text; with ``schema_str`` every value is first
validated against that JSON Schema) and :class:`AvroSerializer` (Avro binary of a schema given as JSON text),
each with its deserializer. A ``schema_id`` frames JSON and Avro in the Confluent wire format (magic byte 0,
the id as 4 bytes), as Confluent's schema-registry serializers write them for a schema registered under that
id; the registry itself is not contacted.

JSON and Avro values are Python's JSON types: dict (str keys), list or tuple, str, int (64-bit), float, bool
and None. Avro records are dicts by field name; a union takes the first branch the value fits, or the branch
named as ``{"string": "x"}``; ``bytes`` and ``fixed`` values may be given as bytes and are read back as str of
code points U+0000..U+00FF (Avro's JSON convention).

Every failure is :class:`potok.errors.SerializationError`: its message and ``field_paths`` name the failing
fields as JSON Pointers (``/DeliveryAddress/PinCode``), and its ``code`` is librdkafka's
``_KEY_SERIALIZATION``/``_VALUE_SERIALIZATION`` (``..._DESERIALIZATION`` when reading), by ``ctx.field``.
"""

from __future__ import annotations

import codecs
from typing import Any, Generic, Optional, Tuple, TypeVar

from . import _native
from ._types import Headers
from .errors import InvalidArgumentError, SerializationError

_T = TypeVar("_T")


class MessageField:
    """Which part of a record a value is: ``MessageField.KEY`` or ``MessageField.VALUE``."""

    NONE = "none"
    KEY = "key"
    VALUE = "value"


class SerializationContext:
    """What a (de)serializer is working on: the record's ``topic``, its ``field`` (a :class:`MessageField`)
    and its ``headers``."""

    __slots__ = ("topic", "field", "headers")

    def __init__(self, topic: str, field: str, headers: Optional[Headers] = None) -> None:
        self.topic = topic
        self.field = field
        self.headers = headers

    def __repr__(self) -> str:
        return f"SerializationContext(topic={self.topic!r}, field={self.field!r})"


class Serializer(Generic[_T]):
    """Base of the serializers: ``serializer(value, ctx)`` returns the record bytes, None for None."""

    __slots__ = ()

    def __call__(self, obj: Optional[_T], ctx: Optional[SerializationContext] = None) -> Optional[bytes]:
        raise NotImplementedError


class Deserializer(Generic[_T]):
    """Base of the deserializers: ``deserializer(data, ctx)`` returns the value, None for None."""

    __slots__ = ()

    def __call__(self, value: Optional[bytes], ctx: Optional[SerializationContext] = None) -> Optional[_T]:
        raise NotImplementedError


def _topic_and_key(ctx: Optional[SerializationContext]) -> Tuple[str, bool]:
    if ctx is None:
        return "", False
    return ctx.topic, ctx.field == MessageField.KEY


def _check_codec(codec: str) -> None:
    # potok's string serde is Kafka's: UTF-8 only.
    try:
        name = codecs.lookup(codec).name
    except LookupError:
        name = codec
    if name != "utf-8":
        raise InvalidArgumentError(f"potok's string serializers write UTF-8 only, not {codec!r}")


class _NativeSerializer(Serializer[_T]):
    __slots__ = ("_native",)

    def __init__(self, kind: str, schema_str: Optional[str] = None, schema_id: Optional[int] = None) -> None:
        self._native = _native.Serializer(kind, schema_str, schema_id)

    def __call__(self, obj: Optional[_T], ctx: Optional[SerializationContext] = None) -> Optional[bytes]:
        topic, key = _topic_and_key(ctx)
        return self._native.serialize(topic, obj, key)


class _NativeDeserializer(Deserializer[_T]):
    __slots__ = ("_native",)

    def __init__(
        self, kind: str, schema_str: Optional[str] = None, framed: bool = False, schema_id: Optional[int] = None
    ) -> None:
        self._native = _native.Deserializer(kind, schema_str, framed, schema_id)

    def __call__(self, value: Optional[bytes], ctx: Optional[SerializationContext] = None) -> Optional[_T]:
        topic, key = _topic_and_key(ctx)
        if isinstance(value, (bytearray, memoryview)):
            value = bytes(value)
        result: Optional[_T] = self._native.deserialize(topic, value, key)
        return result


class StringSerializer(_NativeSerializer[str]):
    """Kafka's ``StringSerializer``: the str as UTF-8."""

    __slots__ = ()

    def __init__(self, codec: str = "utf_8") -> None:
        _check_codec(codec)
        super().__init__("string")


class StringDeserializer(_NativeDeserializer[str]):
    """Kafka's ``StringDeserializer``: UTF-8, with malformed bytes replaced by U+FFFD as Java does."""

    __slots__ = ()

    def __init__(self, codec: str = "utf_8") -> None:
        _check_codec(codec)
        super().__init__("string")


class IntegerSerializer(_NativeSerializer[int]):
    """Kafka's ``IntegerSerializer``: a 32-bit int as 4 bytes, big-endian (1 is ``00 00 00 01``)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("integer")


class IntegerDeserializer(_NativeDeserializer[int]):
    """Kafka's ``IntegerDeserializer``: exactly 4 bytes, big-endian."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("integer")


class DoubleSerializer(_NativeSerializer[float]):
    """Kafka's ``DoubleSerializer``: an IEEE 754 double as 8 bytes, big-endian."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("double")


class DoubleDeserializer(_NativeDeserializer[float]):
    """Kafka's ``DoubleDeserializer``: exactly 8 bytes, big-endian."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("double")


class JSONSerializer(_NativeSerializer[Any]):
    """Compact JSON text (Kafka's ``connect-json`` serializer); with ``schema_str`` (a JSON Schema as text)
    each value is validated first and a failure names every failing field. ``schema_id`` frames the JSON in
    the Confluent wire format."""

    __slots__ = ()

    def __init__(self, schema_str: Optional[str] = None, *, schema_id: Optional[int] = None) -> None:
        super().__init__("json", schema_str, schema_id)


class JSONDeserializer(_NativeDeserializer[Any]):
    """Parses JSON text (validated against ``schema_str`` when given); ``framed=True`` reads the Confluent
    wire format."""

    __slots__ = ()

    def __init__(self, schema_str: Optional[str] = None, *, framed: bool = False) -> None:
        super().__init__("json", schema_str, framed)


class AvroSerializer(_NativeSerializer[Any]):
    """Avro binary of values of the schema ``schema_str`` (Avro's JSON schema text); ``schema_id`` frames it
    in the Confluent wire format."""

    __slots__ = ()

    def __init__(self, schema_str: str, *, schema_id: Optional[int] = None) -> None:
        super().__init__("avro", schema_str, schema_id)


class AvroDeserializer(_NativeDeserializer[Any]):
    """Reads Avro binary written with ``schema_str``; ``framed=True`` reads the Confluent wire format, and
    ``schema_id`` (which implies framed) also requires the frame to carry that id."""

    __slots__ = ()

    def __init__(self, schema_str: str, *, framed: bool = False, schema_id: Optional[int] = None) -> None:
        super().__init__("avro", schema_str, framed, schema_id)


__all__ = [
    "AvroDeserializer",
    "AvroSerializer",
    "Deserializer",
    "DoubleDeserializer",
    "DoubleSerializer",
    "IntegerDeserializer",
    "IntegerSerializer",
    "JSONDeserializer",
    "JSONSerializer",
    "MessageField",
    "SerializationContext",
    "SerializationError",
    "Serializer",
    "StringDeserializer",
    "StringSerializer",
]
