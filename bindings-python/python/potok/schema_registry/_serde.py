"""The registry-aware serializers shared by the Avro and JSON Schema modules."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from .. import _native
from ..serialization import Deserializer, MessageField, SerializationContext, Serializer
from . import SchemaRegistryClient

_CONF_KEYS = ("auto.register.schemas", "use.latest.version", "normalize.schemas")


def _pairs(conf: Optional[Mapping[str, Any]]) -> List[Tuple[str, str]]:
    out = []
    for k, v in (conf or {}).items():
        if k not in _CONF_KEYS:
            raise ValueError(f"Unrecognized properties: {k}")
        out.append((k, "true" if v is True else "false" if v is False else str(v)))
    return out


class _RegistrySerializer(Serializer[Any]):
    __slots__ = ("_client", "_type", "_schema_str", "_conf", "_to_dict", "_by_field")

    def __init__(
        self,
        schema_type: str,
        client: SchemaRegistryClient,
        schema_str: Optional[str],
        to_dict: Optional[Callable[[Any, SerializationContext], Dict[str, Any]]],
        conf: Optional[Mapping[str, Any]],
    ) -> None:
        if not isinstance(client, SchemaRegistryClient):
            raise TypeError("schema_registry_client must be a potok.schema_registry.SchemaRegistryClient")
        self._client = client
        self._type = schema_type
        self._schema_str = schema_str
        self._conf = _pairs(conf)
        self._to_dict = to_dict
        # One native serializer per side (key or value): the subject depends on it.
        self._by_field: Dict[bool, Any] = {}
        self._native(False)

    def _native(self, key: bool) -> Any:
        native = self._by_field.get(key)
        if native is None:
            native = _native.RegistrySerializer(self._client._native, self._type, self._schema_str, key, self._conf)
            self._by_field[key] = native
        return native

    def __call__(self, obj: Any, ctx: Optional[SerializationContext] = None) -> Optional[bytes]:
        if obj is None:
            return None
        ctx = ctx or SerializationContext("", MessageField.VALUE)
        if self._to_dict is not None:
            obj = self._to_dict(obj, ctx)
        result: Optional[bytes] = self._native(ctx.field == MessageField.KEY).serialize(ctx.topic, obj)
        return result


class _RegistryDeserializer(Deserializer[Any]):
    __slots__ = ("_native_de", "_from_dict")

    def __init__(
        self,
        schema_type: str,
        client: SchemaRegistryClient,
        from_dict: Optional[Callable[[Dict[str, Any], SerializationContext], Any]],
    ) -> None:
        if not isinstance(client, SchemaRegistryClient):
            raise TypeError("schema_registry_client must be a potok.schema_registry.SchemaRegistryClient")
        self._native_de = _native.RegistryDeserializer(client._native, schema_type)
        self._from_dict = from_dict

    def __call__(self, data: Optional[bytes], ctx: Optional[SerializationContext] = None) -> Any:
        if data is None:
            return None
        ctx = ctx or SerializationContext("", MessageField.VALUE)
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        value = self._native_de.deserialize(ctx.topic, data, ctx.field == MessageField.KEY)
        if self._from_dict is not None and value is not None:
            return self._from_dict(value, ctx)
        return value
