//! `SchemaRegistryClient`, `RegistrySerializer` and `RegistryDeserializer`: potok's schema registry client and
//! registry-aware Avro / JSON Schema serializers (`potok::serde::registry`) for Python, behind the public package
//! `potok.schema_registry`. Conversions only; a registry's refusal becomes
//! `potok.schema_registry.SchemaRegistryError` with its HTTP status and Confluent error code, as
//! confluent-kafka's client raises it.

use std::sync::Arc;

use potok::host::SerdeSide;
use potok::serde::registry::{
    RegisteredSchema, RegistryDeserializer as CoreDeserializer, RegistryError, RegistrySchema, RegistrySerdeConfig,
    RegistrySerializer as CoreSerializer, SchemaRegistryClient as CoreClient,
};
use potok::serde::{Deserializer as _, SerializationError, Serializer as _};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde_json::Value;

use crate::serde::{to_py, to_value_for};

type Refs = Vec<(String, String, i32)>;
/// `(id, subject, version, schema, schema_type, references)`.
type Registered = (i32, String, i32, String, String, Refs);

fn registry_error(py: Python<'_>, status: u16, code: i64, message: &str) -> PyErr {
    let built = py
        .import("potok.schema_registry")
        .and_then(|m| m.getattr("SchemaRegistryError"))
        .and_then(|cls| cls.call1((status, code, message)));
    match built {
        Ok(e) => PyErr::from_value(e),
        Err(_) => PyRuntimeError::new_err(format!("schema registry error {code} (HTTP {status}): {message}")),
    }
}

/// An argument the binding cannot use (`potok.errors.InvalidArgumentError`).
fn invalid_argument(py: Python<'_>, message: &str) -> PyErr {
    crate::errors::raise(py, &potok::host::HostError::invalid_argument(message))
}

fn client_error(py: Python<'_>, e: RegistryError) -> PyErr {
    registry_error(py, e.status, e.error_code, &e.message)
}

fn registered(r: RegisteredSchema) -> Registered {
    (r.id, r.subject, r.version, r.schema.schema, r.schema.schema_type, r.schema.references)
}

fn schema(schema_str: String, schema_type: &str, references: Refs) -> RegistrySchema {
    RegistrySchema { references, ..RegistrySchema::new(schema_type, schema_str) }
}

/// A client of a Confluent-compatible schema registry (`url`: `http://host:port`, comma-separated for several).
#[pyclass(module = "potok._native", frozen)]
#[derive(Debug)]
pub struct SchemaRegistryClient {
    inner: Arc<CoreClient>,
}

#[pymethods]
impl SchemaRegistryClient {
    #[new]
    fn new(py: Python<'_>, url: &str) -> PyResult<Self> {
        CoreClient::new(url).map(|c| SchemaRegistryClient { inner: Arc::new(c) }).map_err(|e| client_error(py, e))
    }

    /// Registers a schema under `subject` (idempotent); its id.
    #[pyo3(signature = (subject, schema_str, schema_type="AVRO", references=Vec::new(), normalize=false))]
    fn register_schema(
        &self,
        py: Python<'_>,
        subject: &str,
        schema_str: String,
        schema_type: &str,
        references: Refs,
        normalize: bool,
    ) -> PyResult<i32> {
        let s = schema(schema_str, schema_type, references);
        py.detach(|| self.inner.register(subject, &s, normalize)).map_err(|e| client_error(py, e))
    }

    /// The registration of a schema under `subject`: `(id, subject, version, schema, type, references)`.
    #[pyo3(signature = (subject, schema_str, schema_type="AVRO", references=Vec::new(), normalize=false))]
    fn lookup_schema(
        &self,
        py: Python<'_>,
        subject: &str,
        schema_str: String,
        schema_type: &str,
        references: Refs,
        normalize: bool,
    ) -> PyResult<Registered> {
        let s = schema(schema_str, schema_type, references);
        py.detach(|| self.inner.lookup(subject, &s, normalize)).map(registered).map_err(|e| client_error(py, e))
    }

    /// The schema of id `schema_id`: `(schema, type, references)`.
    fn get_schema(&self, py: Python<'_>, schema_id: i32) -> PyResult<(String, String, Refs)> {
        py.detach(|| self.inner.schema_by_id(schema_id))
            .map(|s| (s.schema, s.schema_type, s.references))
            .map_err(|e| client_error(py, e))
    }

    /// A version of `subject` (None: the latest).
    #[pyo3(signature = (subject, version=None))]
    fn get_version(&self, py: Python<'_>, subject: &str, version: Option<i32>) -> PyResult<Registered> {
        py.detach(|| self.inner.version(subject, version)).map(registered).map_err(|e| client_error(py, e))
    }

    /// Any REST call: `method`, `path` (with its query) and a JSON body as text; the JSON answer as text.
    #[pyo3(signature = (method, path, body=None))]
    fn request(&self, py: Python<'_>, method: &str, path: &str, body: Option<&str>) -> PyResult<String> {
        let body: Option<Value> = match body {
            Some(b) => Some(
                serde_json::from_str(b).map_err(|e| invalid_argument(py, &format!("request body is not JSON: {e}")))?,
            ),
            None => None,
        };
        py.detach(|| self.inner.request(method, path, body.as_ref()))
            .map(|v| v.to_string())
            .map_err(|e| client_error(py, e))
    }
}

fn serde_error(py: Python<'_>, e: &SerializationError, key: bool, deserializing: bool) -> PyErr {
    match e {
        SerializationError::Registry { status, error_code, message } if *status != 0 => {
            registry_error(py, *status, *error_code, message)
        }
        other => crate::errors::raise(py, &potok::host::serde::serialization(other, SerdeSide { key, deserializing })),
    }
}

/// A registry-aware serializer: `schema_type` "AVRO" or "JSON", Confluent's `conf` keys
/// (`auto.register.schemas`, `use.latest.version`, `normalize.schemas`).
#[pyclass(module = "potok._native", frozen)]
#[derive(Debug)]
pub struct RegistrySerializer {
    inner: CoreSerializer,
    avro: bool,
    key: bool,
}

#[pymethods]
impl RegistrySerializer {
    #[new]
    #[pyo3(signature = (client, schema_type, schema_str=None, key=false, conf=Vec::new()))]
    fn new(
        py: Python<'_>,
        client: &SchemaRegistryClient,
        schema_type: &str,
        schema_str: Option<&str>,
        key: bool,
        conf: Vec<(String, String)>,
    ) -> PyResult<Self> {
        let config = RegistrySerdeConfig::from_pairs(&conf).map_err(|e| invalid_argument(py, &e.to_string()))?;
        let inner = CoreSerializer::new(client.inner.clone(), schema_type, schema_str, key, config)
            .map_err(|e| invalid_argument(py, &e.to_string()))?;
        Ok(RegistrySerializer { inner, avro: schema_type.eq_ignore_ascii_case("avro"), key })
    }

    /// The framed bytes of `value` for a record of `topic` (None for None).
    fn serialize<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if value.is_none() {
            return Ok(None);
        }
        let v = to_value_for(py, value, self.avro, self.key)?;
        match py.detach(|| self.inner.serialize(topic, Some(&v))) {
            Ok(bytes) => Ok(bytes.map(|b| PyBytes::new(py, &b))),
            Err(e) => Err(serde_error(py, &e, self.key, false)),
        }
    }
}

/// A registry-aware deserializer: reads the writer's schema id from the frame and decodes with that schema.
#[pyclass(module = "potok._native", frozen)]
#[derive(Debug)]
pub struct RegistryDeserializer {
    inner: CoreDeserializer,
}

#[pymethods]
impl RegistryDeserializer {
    #[new]
    fn new(client: &SchemaRegistryClient, schema_type: &str) -> Self {
        RegistryDeserializer { inner: CoreDeserializer::new(client.inner.clone(), schema_type) }
    }

    /// The value of framed bytes (None for None).
    #[pyo3(signature = (topic, data, key=false))]
    fn deserialize<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        data: Option<&[u8]>,
        key: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        match py.detach(|| self.inner.deserialize(topic, data)) {
            Ok(Some(v)) => to_py(py, &v),
            Ok(None) => Ok(py.None().into_bound(py)),
            Err(e) => Err(serde_error(py, &e, key, true)),
        }
    }
}
