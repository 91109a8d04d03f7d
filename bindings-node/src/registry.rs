//! The schema registry client and registry-aware serializers (core's `potok::serde::registry`) for Node. Every
//! call that may reach the registry runs on libuv's thread pool. A registry's refusal resolves as JSON text
//! `{"status": 409, "error_code": 40901, "message": "..."}` (status 0 when the registry could not be reached),
//! which the JavaScript layer (`lib/registry.js`) throws as its `SchemaRegistryError`; a value that does not fit
//! its schema rejects as a `SerializationError`, as the other serializers do.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, Either};
use napi::{Env, Task};
use napi_derive::napi;
use potok::serde::registry::{
    RegistryDeserializer, RegistryError, RegistrySerdeConfig, RegistrySerializer, SchemaRegistryClient,
};
use potok::serde::{confluent, SerializationError};
use serde_json::{json, Value};

use crate::error::{serialization, Failure};

fn registry_json(status: u16, error_code: i64, message: &str) -> String {
    json!({"status": status, "error_code": error_code, "message": message}).to_string()
}

fn from_registry(e: &RegistryError) -> String {
    registry_json(e.status, e.error_code, &e.message)
}

/// A `SerializationError` naming the failing fields.
fn failure(e: SerializationError) -> Failure {
    let paths = match &e {
        SerializationError::Validation(errors) => errors.0.iter().map(|v| v.instance_path.clone()).collect(),
        SerializationError::Avro(potok::serde::avro::AvroError::Value { path, .. }) => vec![path.clone()],
        _ => Vec::new(),
    };
    serialization(e.to_string(), paths)
}

/// A serializer failure: the registry's refusal as JSON text, anything else as a `SerializationError`.
fn split(e: SerializationError) -> Result<String, Failure> {
    match e {
        SerializationError::Registry { status, error_code, message } if status != 0 => {
            Ok(registry_json(status, error_code, &message))
        }
        other => Err(failure(other)),
    }
}

/// A client of a schema registry (`url`: `http://host:port`, comma-separated for several).
#[napi]
#[derive(Debug)]
pub struct NativeSchemaRegistry {
    client: Arc<SchemaRegistryClient>,
}

#[napi]
impl NativeSchemaRegistry {
    #[napi(constructor)]
    pub fn new(env: Env, url: String) -> napi::Result<NativeSchemaRegistry> {
        SchemaRegistryClient::new(&url)
            .map(|c| NativeSchemaRegistry { client: Arc::new(c) })
            .map_err(|e| crate::error::invalid_argument(e.message).into_js(&env))
    }

    /// One REST call; resolves with `{"status": 200, "body": <answer>}` or the registry's error as JSON text.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn request(&self, method: String, path: String, body: Option<String>) -> AsyncTask<RegistryRequest> {
        AsyncTask::new(RegistryRequest { client: self.client.clone(), method, path, body })
    }

    /// Encodes `json` (a value as JSON text) with the schema of id `schema_id`, framed with that id; resolves with
    /// the bytes, or the registry's error as JSON text.
    #[napi(ts_return_type = "Promise<Buffer | string>")]
    pub fn encode(&self, schema_id: i32, json: String) -> AsyncTask<Encode> {
        AsyncTask::new(Encode { client: self.client.clone(), schema_id, json, failure: None })
    }
}

#[derive(Debug)]
pub struct RegistryRequest {
    client: Arc<SchemaRegistryClient>,
    method: String,
    path: String,
    body: Option<String>,
}

impl Task for RegistryRequest {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<String> {
        let body: Option<Value> = match &self.body {
            Some(b) => match serde_json::from_str(b) {
                Ok(v) => Some(v),
                Err(e) => return Ok(registry_json(0, -1, &format!("request body is not JSON: {e}"))),
            },
            None => None,
        };
        Ok(match self.client.request(&self.method, &self.path, body.as_ref()) {
            Ok(answer) => json!({"status": 200, "body": answer}).to_string(),
            Err(e) => from_registry(&e),
        })
    }

    fn resolve(&mut self, _env: Env, output: String) -> napi::Result<String> {
        Ok(output)
    }
}

#[derive(Debug)]
pub struct Encode {
    client: Arc<SchemaRegistryClient>,
    schema_id: i32,
    json: String,
    failure: Option<Failure>,
}

impl Encode {
    fn run(&self) -> Result<Result<Vec<u8>, String>, Failure> {
        let value: Value = serde_json::from_str(&self.json).map_err(|e| serialization(e.to_string(), Vec::new()))?;
        let schema = match self.client.schema_by_id(self.schema_id) {
            Ok(s) => s,
            Err(e) => return Ok(Err(from_registry(&e))),
        };
        let payload = match schema.schema_type.as_str() {
            "AVRO" => potok::serde::avro::AvroSchema::parse(&schema.schema)
                .and_then(|s| s.encode(&value))
                .map_err(|e| failure(e.into()))?,
            "JSON" => {
                let s = potok::serde::json_schema::JsonSchema::parse(&schema.schema)
                    .map_err(|e| serialization(e.to_string(), Vec::new()))?;
                s.validate(&value).map_err(|e| failure(e.into()))?;
                self.json.as_bytes().to_vec()
            }
            other => return Err(serialization(format!("schema type {other} is not supported"), Vec::new())),
        };
        Ok(Ok(confluent::frame(self.schema_id, &payload)))
    }
}

impl Task for Encode {
    type Output = Either<Vec<u8>, String>;
    type JsValue = Either<Buffer, String>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        match self.run() {
            Ok(Ok(bytes)) => Ok(Either::A(bytes)),
            Ok(Err(registry)) => Ok(Either::B(registry)),
            Err(f) => {
                let placeholder = f.placeholder();
                self.failure = Some(f);
                Err(placeholder)
            }
        }
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(match output {
            Either::A(bytes) => Either::A(Buffer::from(bytes)),
            Either::B(s) => Either::B(s),
        })
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(self.failure.take().map_or(err, |f| f.into_js(&env)))
    }
}

/// A registry-aware serializer for one schema type (`AVRO` or `JSON`) and side (key or value), with Confluent's
/// `auto.register.schemas`, `use.latest.version` and `normalize.schemas`.
#[napi]
#[derive(Debug)]
pub struct NativeRegistrySerde {
    serializer: Option<Arc<RegistrySerializer>>,
    deserializer: Arc<RegistryDeserializer>,
}

#[napi]
impl NativeRegistrySerde {
    // napi constructors take their arguments positionally; the JavaScript layer names them.
    #[allow(clippy::too_many_arguments)]
    #[napi(constructor)]
    pub fn new(
        env: Env,
        registry: &NativeSchemaRegistry,
        schema_type: String,
        schema: Option<String>,
        is_key: bool,
        auto_register_schemas: bool,
        use_latest_version: bool,
        normalize_schemas: bool,
    ) -> napi::Result<NativeRegistrySerde> {
        let config = RegistrySerdeConfig { auto_register_schemas, use_latest_version, normalize_schemas };
        let serializer = if schema.is_some() || use_latest_version {
            Some(Arc::new(
                RegistrySerializer::new(registry.client.clone(), &schema_type, schema.as_deref(), is_key, config)
                    .map_err(|e| serialization(e.to_string(), Vec::new()).into_js(&env))?,
            ))
        } else {
            None
        };
        let deserializer = Arc::new(RegistryDeserializer::new(registry.client.clone(), &schema_type));
        Ok(NativeRegistrySerde { serializer, deserializer })
    }

    /// The framed bytes of `json` (a value as JSON text) for `topic`, or the registry's error as JSON text.
    #[napi(ts_return_type = "Promise<Buffer | string>")]
    pub fn serialize(&self, env: Env, topic: String, json: String) -> napi::Result<AsyncTask<SerdeTask>> {
        let Some(serializer) = self.serializer.clone() else {
            return Err(serialization(
                "this serializer has no schema (give one, or useLatestVersion)".into(),
                Vec::new(),
            )
            .into_js(&env));
        };
        Ok(AsyncTask::new(SerdeTask { work: Work::Serialize(serializer, topic, json), failure: None }))
    }

    /// The value of framed bytes as JSON text (`{"value": ...}`), or the registry's error as JSON text.
    #[napi(ts_return_type = "Promise<Buffer | string>")]
    pub fn deserialize(&self, data: Buffer) -> AsyncTask<SerdeTask> {
        AsyncTask::new(SerdeTask { work: Work::Deserialize(self.deserializer.clone(), data.to_vec()), failure: None })
    }
}

#[derive(Debug)]
enum Work {
    Serialize(Arc<RegistrySerializer>, String, String),
    Deserialize(Arc<RegistryDeserializer>, Vec<u8>),
}

#[derive(Debug)]
pub struct SerdeTask {
    work: Work,
    failure: Option<Failure>,
}

impl SerdeTask {
    /// `A`: bytes (serialize) or the value's JSON text as bytes (deserialize); `B`: a registry error.
    fn run(&self) -> Result<Either<Vec<u8>, String>, Failure> {
        use potok::serde::{Deserializer as _, Serializer as _};
        let result = match &self.work {
            Work::Serialize(s, topic, json) => {
                let value: Value = serde_json::from_str(json).map_err(|e| serialization(e.to_string(), Vec::new()))?;
                s.serialize(topic, Some(&value)).map(|b| b.unwrap_or_default())
            }
            Work::Deserialize(d, data) => d
                .deserialize("", Some(data))
                .map(|v| json!({"value": v.unwrap_or(Value::Null)}).to_string().into_bytes()),
        };
        match result {
            Ok(bytes) => Ok(Either::A(bytes)),
            Err(e) => split(e).map(Either::B),
        }
    }
}

impl Task for SerdeTask {
    type Output = Either<Vec<u8>, String>;
    type JsValue = Either<Buffer, String>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        self.run().map_err(|f| {
            let placeholder = f.placeholder();
            self.failure = Some(f);
            placeholder
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(match output {
            Either::A(bytes) => Either::A(Buffer::from(bytes)),
            Either::B(s) => Either::B(s),
        })
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Self::JsValue> {
        Err(self.failure.take().map_or(err, |f| f.into_js(&env)))
    }
}
