"""Registry-aware JSON Schema serializers with confluent-kafka's API
(``confluent_kafka.schema_registry.json_schema``)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional

from ..serialization import SerializationContext
from . import SchemaRegistryClient
from ._serde import _RegistryDeserializer, _RegistrySerializer


class JSONSerializer(_RegistrySerializer):
    """JSON text validated against ``schema_str`` (a JSON Schema), in the Confluent wire format with the id the
    registry gives the schema under ``<topic>-value``. Note confluent-kafka's argument order: the schema first."""

    __slots__ = ()

    def __init__(
        self,
        schema_str: Optional[str],
        schema_registry_client: SchemaRegistryClient,
        to_dict: Optional[Callable[[Any, SerializationContext], Dict[str, Any]]] = None,
        conf: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__("JSON", schema_registry_client, schema_str, to_dict, conf)


class JSONDeserializer(_RegistryDeserializer):
    """Reads the Confluent wire format and validates each value against the writer's schema from the
    registry."""

    __slots__ = ()

    def __init__(
        self,
        schema_str: Optional[str] = None,
        from_dict: Optional[Callable[[Dict[str, Any], SerializationContext], Any]] = None,
        schema_registry_client: Optional[SchemaRegistryClient] = None,
    ) -> None:
        if schema_registry_client is None:
            raise ValueError("potok's JSONDeserializer reads the writer's schema from a schema_registry_client")
        super().__init__("JSON", schema_registry_client, from_dict)


__all__ = ["JSONDeserializer", "JSONSerializer"]
