"""Registry-aware Avro serializers with confluent-kafka's API (``confluent_kafka.schema_registry.avro``)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional

from ..serialization import SerializationContext
from . import SchemaRegistryClient
from ._serde import _RegistryDeserializer, _RegistrySerializer


class AvroSerializer(_RegistrySerializer):
    """Avro binary in the Confluent wire format, with the id the registry gives ``schema_str`` under the
    subject ``<topic>-value`` (``-key`` for keys). ``conf``: ``auto.register.schemas`` (default true),
    ``use.latest.version``, ``normalize.schemas``."""

    __slots__ = ()

    def __init__(
        self,
        schema_registry_client: SchemaRegistryClient,
        schema_str: Optional[str] = None,
        to_dict: Optional[Callable[[Any, SerializationContext], Dict[str, Any]]] = None,
        conf: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__("AVRO", schema_registry_client, schema_str, to_dict, conf)


class AvroDeserializer(_RegistryDeserializer):
    """Reads the Confluent wire format: the writer's schema is fetched from the registry by the id in each
    value (and cached), and the record comes back as a dict (``from_dict`` may turn it into an object)."""

    __slots__ = ()

    def __init__(
        self,
        schema_registry_client: SchemaRegistryClient,
        schema_str: Optional[str] = None,
        from_dict: Optional[Callable[[Dict[str, Any], SerializationContext], Any]] = None,
    ) -> None:
        # Values are read with the writer's schema; a reader schema (`schema_str`) is not applied.
        super().__init__("AVRO", schema_registry_client, from_dict)


__all__ = ["AvroDeserializer", "AvroSerializer"]
