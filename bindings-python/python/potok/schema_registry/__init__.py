"""A Confluent schema registry client with confluent-kafka's API, run by potok's native engine.

:class:`SchemaRegistryClient` talks to any Confluent-compatible registry (potok's own, started with
``potok.Broker(schema_registry=True)``, or Confluent's) and caches schemas by id and ids by schema::

    from potok.schema_registry import SchemaRegistryClient, Schema
    from potok.schema_registry.avro import AvroSerializer, AvroDeserializer

    registry = SchemaRegistryClient({"url": broker.schema_registry_url})
    to_avro = AvroSerializer(registry, schema_str)            # registers under "<topic>-value" on first use
    producer.produce("pos", value=to_avro(invoice, SerializationContext("pos", MessageField.VALUE)))

The serializers (:mod:`potok.schema_registry.avro`, :mod:`potok.schema_registry.json_schema`) write the
Confluent wire format (magic byte 0, the schema id as 4 bytes, then Avro binary or JSON text) and take
Confluent's ``conf`` keys ``auto.register.schemas``, ``use.latest.version`` and ``normalize.schemas``. A refusal
of the registry is :class:`SchemaRegistryError` with ``http_status_code``, ``error_code`` (``40401``, ``40901``,
``42201``, ...) and ``error_message``.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Tuple, cast
from urllib.parse import quote

from .. import _native


class SchemaRegistryError(Exception):
    """An error answer of the schema registry (or ``error_code`` -1 when it could not be reached)."""

    UNKNOWN = -1

    def __init__(self, http_status_code: int, error_code: int, error_message: str) -> None:
        super().__init__(f"{error_message} (HTTP status code {http_status_code}, SR code {error_code})")
        self.http_status_code = http_status_code
        self.error_code = error_code
        self.error_message = error_message


class SchemaReference:
    """A named reference to the schema registered under ``subject``, ``version``."""

    def __init__(self, name: str, subject: str, version: int) -> None:
        self.name = name
        self.subject = subject
        self.version = version

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SchemaReference) and (self.name, self.subject, self.version) == (
            other.name,
            other.subject,
            other.version,
        )

    def __repr__(self) -> str:
        return f"SchemaReference({self.name!r}, {self.subject!r}, {self.version})"


class Schema:
    """A schema: its text, its type (``AVRO``, ``JSON``) and its references."""

    def __init__(self, schema_str: str, schema_type: str = "AVRO", references: Optional[List[SchemaReference]] = None) -> None:
        self.schema_str = schema_str
        self.schema_type = schema_type
        self.references = list(references or [])

    def _refs(self) -> List[Tuple[str, str, int]]:
        return [(r.name, r.subject, r.version) for r in self.references]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and (self.schema_str, self.schema_type, self.references) == (
            other.schema_str,
            other.schema_type,
            other.references,
        )

    def __hash__(self) -> int:
        return hash((self.schema_str, self.schema_type))

    def __repr__(self) -> str:
        return f"Schema({self.schema_str!r}, schema_type={self.schema_type!r})"


def _schema(schema_str: str, schema_type: str, refs: List[Tuple[str, str, int]]) -> Schema:
    return Schema(schema_str, schema_type, [SchemaReference(n, s, v) for n, s, v in refs])


class RegisteredSchema:
    """A schema registered under a subject: ``schema_id``, ``subject``, ``version`` and ``schema``."""

    def __init__(self, schema_id: int, schema: Schema, subject: str, version: int) -> None:
        self.schema_id = schema_id
        self.schema = schema
        self.subject = subject
        self.version = version

    def __repr__(self) -> str:
        return f"RegisteredSchema(schema_id={self.schema_id}, subject={self.subject!r}, version={self.version})"


def _registered(t: Tuple[int, str, int, str, str, List[Tuple[str, str, int]]]) -> RegisteredSchema:
    schema_id, subject, version, schema_str, schema_type, refs = t
    return RegisteredSchema(schema_id, _schema(schema_str, schema_type, refs), subject, version)


def _q(subject: str) -> str:
    return quote(subject, safe="")


class SchemaRegistryClient:
    """A client of a schema registry, configured as confluent-kafka's: ``{"url": "http://host:port"}``."""

    def __init__(self, conf: Mapping[str, Any]) -> None:
        conf = dict(conf)
        url = conf.pop("url", None)
        if not url:
            raise ValueError("Missing required configuration property url")
        # Confluent's TLS and authentication keys have no meaning for potok's plain-HTTP client.
        unsupported = [k for k in conf if k.startswith(("ssl.", "basic.auth", "bearer.auth"))]
        if unsupported:
            raise ValueError(f"unsupported configuration properties: {', '.join(sorted(unsupported))}")
        self._native = _native.SchemaRegistryClient(str(url))

    def __enter__(self) -> "SchemaRegistryClient":
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def _request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        answer = self._native.request(method, path, None if body is None else json.dumps(body))
        return json.loads(answer)

    def register_schema(self, subject_name: str, schema: Schema, normalize_schemas: bool = False) -> int:
        """Registers ``schema`` under ``subject_name`` (or finds it there) and returns its id."""
        return self._native.register_schema(subject_name, schema.schema_str, schema.schema_type, schema._refs(), normalize_schemas)

    def lookup_schema(self, subject_name: str, schema: Schema, normalize_schemas: bool = False) -> RegisteredSchema:
        """The registration of ``schema`` under ``subject_name``; :class:`SchemaRegistryError` 40403 if absent."""
        return _registered(
            self._native.lookup_schema(subject_name, schema.schema_str, schema.schema_type, schema._refs(), normalize_schemas)
        )

    def get_schema(self, schema_id: int, subject_name: Optional[str] = None, fmt: Optional[str] = None) -> Schema:
        """The schema with id ``schema_id`` (cached)."""
        schema_str, schema_type, refs = self._native.get_schema(schema_id)
        return _schema(schema_str, schema_type, refs)

    def get_latest_version(self, subject_name: str, fmt: Optional[str] = None) -> RegisteredSchema:
        return _registered(self._native.get_version(subject_name, None))

    def get_version(self, subject_name: str, version: int, deleted: bool = False, fmt: Optional[str] = None) -> RegisteredSchema:
        if deleted:
            d = self._request("GET", f"/subjects/{_q(subject_name)}/versions/{version}?deleted=true")
            refs = [(r["name"], r["subject"], r["version"]) for r in d.get("references", [])]
            return RegisteredSchema(d["id"], _schema(d["schema"], d.get("schemaType", "AVRO"), refs), d["subject"], d["version"])
        return _registered(self._native.get_version(subject_name, version))

    def get_subjects(self) -> List[str]:
        return cast(List[str], self._request("GET", "/subjects"))

    def get_versions(self, subject_name: str) -> List[int]:
        return cast(List[int], self._request("GET", f"/subjects/{_q(subject_name)}/versions"))

    def delete_subject(self, subject_name: str, permanent: bool = False) -> List[int]:
        suffix = "?permanent=true" if permanent else ""
        return cast(List[int], self._request("DELETE", f"/subjects/{_q(subject_name)}{suffix}"))

    def delete_version(self, subject_name: str, version: int, permanent: bool = False) -> int:
        suffix = "?permanent=true" if permanent else ""
        return cast(int, self._request("DELETE", f"/subjects/{_q(subject_name)}/versions/{version}{suffix}"))

    def get_schema_types(self) -> List[str]:
        return cast(List[str], self._request("GET", "/schemas/types"))

    def set_compatibility(self, subject_name: Optional[str] = None, level: Optional[str] = None) -> Dict[str, Any]:
        if level is None:
            raise ValueError("level must be set")
        path = "/config" if subject_name is None else f"/config/{_q(subject_name)}"
        return cast(Dict[str, Any], self._request("PUT", path, {"compatibility": level.upper()}))

    def get_compatibility(self, subject_name: Optional[str] = None) -> str:
        path = "/config" if subject_name is None else f"/config/{_q(subject_name)}"
        return cast(str, self._request("GET", path)["compatibilityLevel"])

    def test_compatibility(self, subject_name: str, schema: Schema, version: Any = "latest") -> bool:
        body = {"schema": schema.schema_str, "schemaType": schema.schema_type, "references": [r.__dict__ for r in schema.references]}
        return cast(bool, self._request("POST", f"/compatibility/subjects/{_q(subject_name)}/versions/{version}", body)["is_compatible"])

    def get_mode(self, subject_name: str) -> str:
        return cast(str, self._request("GET", f"/mode/{_q(subject_name)}")["mode"])

    def update_mode(self, subject_name: str, mode: str) -> str:
        return cast(str, self._request("PUT", f"/mode/{_q(subject_name)}", {"mode": mode})["mode"])


__all__ = [
    "RegisteredSchema",
    "Schema",
    "SchemaReference",
    "SchemaRegistryClient",
    "SchemaRegistryError",
]
