//! A Confluent schema registry client (feature `native`), and the registry-aware Avro and JSON Schema
//! serializers built on it, writing what Confluent's `KafkaAvroSerializer` / `KafkaJsonSchemaSerializer` (and
//! confluent-kafka-python's `AvroSerializer` / `JSONSerializer`) write: the Confluent wire format with the id the
//! registry gave the schema.
//!
//! The client speaks the registry's REST API over HTTP/1.1 (hyper, on potok's client runtime) and caches what
//! never changes: the schema of an id, and the id of a schema registered or looked up under a subject. Config
//! keys are Confluent's: `auto.register.schemas` (default true), `use.latest.version` (default false),
//! `normalize.schemas` (default false); subjects follow the default `TopicNameStrategy` (`<topic>-key`,
//! `<topic>-value`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{json, Value};

use super::avro::{AvroSchema, DecodeLimits};
use super::json_schema::JsonSchema;
use super::{confluent, Deserializer, SerializationError, Serializer};

/// Largest registry response read.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// How long one registry request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most entries of each cache (Confluent's clients default to 1000).
pub const CACHE_CAPACITY: usize = 1000;

const V1_JSON: &str = "application/vnd.schemaregistry.v1+json";

/// A registry answer that is not a success: Confluent's `error_code` and message (`-1` when the body was not
/// Confluent's error JSON), or a transport failure (status 0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema registry error {error_code} (HTTP {status}): {message}")]
pub struct RegistryError {
    pub status: u16,
    pub error_code: i64,
    pub message: String,
}

impl RegistryError {
    fn transport(message: impl Into<String>) -> RegistryError {
        RegistryError { status: 0, error_code: -1, message: message.into() }
    }
}

impl From<RegistryError> for SerializationError {
    fn from(e: RegistryError) -> Self {
        SerializationError::Registry { status: e.status, error_code: e.error_code, message: e.message }
    }
}

/// A schema as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistrySchema {
    /// `AVRO`, `JSON` or `PROTOBUF`.
    pub schema_type: String,
    pub schema: String,
    /// `(name, subject, version)` of each reference.
    pub references: Vec<(String, String, i32)>,
}

impl RegistrySchema {
    pub fn new(schema_type: &str, schema: impl Into<String>) -> RegistrySchema {
        RegistrySchema { schema_type: schema_type.to_ascii_uppercase(), schema: schema.into(), references: Vec::new() }
    }

    fn body(&self) -> Value {
        json!({
            "schema": self.schema,
            "schemaType": self.schema_type,
            "references": self.references.iter().map(|(n, s, v)| json!({"name": n, "subject": s, "version": v})).collect::<Vec<_>>(),
        })
    }

    fn from_body(v: &Value) -> Option<RegistrySchema> {
        Some(RegistrySchema {
            schema_type: v.get("schemaType").and_then(Value::as_str).unwrap_or("AVRO").to_string(),
            schema: v.get("schema")?.as_str()?.to_string(),
            references: v
                .get("references")
                .and_then(Value::as_array)
                .map(|refs| {
                    refs.iter()
                        .filter_map(|r| {
                            Some((
                                r.get("name")?.as_str()?.to_string(),
                                r.get("subject")?.as_str()?.to_string(),
                                i32::try_from(r.get("version")?.as_i64()?).ok()?,
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// A schema registered under a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    pub id: i32,
    pub subject: String,
    pub version: i32,
    pub schema: RegistrySchema,
}

impl RegisteredSchema {
    fn from_body(v: &Value) -> Option<RegisteredSchema> {
        Some(RegisteredSchema {
            id: i32::try_from(v.get("id")?.as_i64()?).ok()?,
            subject: v.get("subject")?.as_str()?.to_string(),
            version: i32::try_from(v.get("version")?.as_i64()?).ok()?,
            schema: RegistrySchema::from_body(v)?,
        })
    }
}

#[derive(Debug, Default)]
struct Caches {
    by_id: HashMap<i32, RegistrySchema>,
    id_by_subject_schema: HashMap<(String, RegistrySchema, bool), i32>,
}

/// A client of one registry (`url` may list several, comma-separated; each is tried in turn on failure).
#[derive(Debug)]
pub struct SchemaRegistryClient {
    bases: Vec<(String, u16, String)>,
    caches: Mutex<Caches>,
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl SchemaRegistryClient {
    /// A client of the registry at `url` (`http://host:port[/path]`, comma-separated for several).
    pub fn new(url: &str) -> Result<SchemaRegistryClient, RegistryError> {
        let mut bases = Vec::new();
        for u in url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let rest = u.strip_prefix("http://").ok_or_else(|| {
                RegistryError::transport(format!("invalid schema.registry.url {u:?}: only http:// is supported"))
            })?;
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                    (h.trim_start_matches('[').trim_end_matches(']'), p.parse::<u16>().ok())
                }
                _ => (authority, Some(80)),
            };
            let port =
                port.ok_or_else(|| RegistryError::transport(format!("invalid port in schema.registry.url {u:?}")))?;
            if host.is_empty() {
                return Err(RegistryError::transport(format!("no host in schema.registry.url {u:?}")));
            }
            let path = path.trim_end_matches('/');
            bases.push((host.to_string(), port, if path.is_empty() { String::new() } else { format!("/{path}") }));
        }
        if bases.is_empty() {
            return Err(RegistryError::transport("schema.registry.url is empty"));
        }
        Ok(SchemaRegistryClient { bases, caches: Mutex::new(Caches::default()) })
    }

    /// Sends one request and returns the JSON answer (trying each URL in turn on a transport failure or 5xx).
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, RegistryError> {
        let mut last = RegistryError::transport("no registry URL");
        for (host, port, prefix) in &self.bases {
            let uri = format!("{prefix}{path}");
            let (host, port, method, body) = (host.clone(), *port, method.to_string(), body.map(|b| b.to_string()));
            let result = crate::client::runtime::block_on(async move {
                tokio::time::timeout(REQUEST_TIMEOUT, send(host, port, method, uri, body)).await
            })
            .map_err(|e| RegistryError::transport(e.to_string()))?;
            match result {
                Err(_) => last = RegistryError::transport("schema registry request timed out"),
                Ok(Err(e)) => last = e,
                Ok(Ok((status, bytes))) => {
                    if (200..300).contains(&status) {
                        if bytes.is_empty() {
                            return Ok(Value::Null);
                        }
                        return serde_json::from_slice(&bytes)
                            .map_err(|e| RegistryError::transport(format!("unreadable registry answer: {e}")));
                    }
                    let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
                    let err = RegistryError {
                        status,
                        error_code: parsed
                            .as_ref()
                            .and_then(|v| v.get("error_code"))
                            .and_then(Value::as_i64)
                            .unwrap_or(-1),
                        message: parsed
                            .as_ref()
                            .and_then(|v| v.get("message"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
                    };
                    if status < 500 {
                        return Err(err);
                    }
                    last = err;
                }
            }
        }
        Err(last)
    }

    /// Registers `schema` under `subject` (or finds it registered); its id. Cached.
    pub fn register(&self, subject: &str, schema: &RegistrySchema, normalize: bool) -> Result<i32, RegistryError> {
        let key = (subject.to_string(), schema.clone(), normalize);
        if let Some(&id) = self.lock().id_by_subject_schema.get(&key) {
            return Ok(id);
        }
        let answer = self.request(
            "POST",
            &format!("/subjects/{}/versions?normalize={normalize}", percent_encode(subject)),
            Some(&schema.body()),
        )?;
        let id = answer
            .get("id")
            .and_then(Value::as_i64)
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| RegistryError::transport(format!("register answered without an id: {answer}")))?;
        self.remember(key, id, schema);
        Ok(id)
    }

    /// The version of `schema` under `subject`, without registering it. Cached.
    pub fn lookup(
        &self,
        subject: &str,
        schema: &RegistrySchema,
        normalize: bool,
    ) -> Result<RegisteredSchema, RegistryError> {
        let answer = self.request(
            "POST",
            &format!("/subjects/{}?normalize={normalize}", percent_encode(subject)),
            Some(&schema.body()),
        )?;
        let registered = RegisteredSchema::from_body(&answer)
            .ok_or_else(|| RegistryError::transport(format!("unexpected look-up answer: {answer}")))?;
        self.remember((subject.to_string(), schema.clone(), normalize), registered.id, &registered.schema);
        Ok(registered)
    }

    /// The latest version under `subject` (never cached: it changes).
    pub fn latest_version(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        self.version(subject, None)
    }

    /// One version of `subject` (`None`: the latest).
    pub fn version(&self, subject: &str, version: Option<i32>) -> Result<RegisteredSchema, RegistryError> {
        let v = version.map_or("latest".to_string(), |v| v.to_string());
        let answer = self.request("GET", &format!("/subjects/{}/versions/{v}", percent_encode(subject)), None)?;
        let registered = RegisteredSchema::from_body(&answer)
            .ok_or_else(|| RegistryError::transport(format!("unexpected version answer: {answer}")))?;
        self.lock().by_id.entry(registered.id).or_insert_with(|| registered.schema.clone());
        Ok(registered)
    }

    /// The schema with registry id `id`. Cached.
    pub fn schema_by_id(&self, id: i32) -> Result<RegistrySchema, RegistryError> {
        if let Some(s) = self.lock().by_id.get(&id) {
            return Ok(s.clone());
        }
        let answer = self.request("GET", &format!("/schemas/ids/{id}"), None)?;
        let schema = RegistrySchema::from_body(&answer)
            .ok_or_else(|| RegistryError::transport(format!("unexpected schema answer: {answer}")))?;
        let mut caches = self.lock();
        if caches.by_id.len() >= CACHE_CAPACITY {
            caches.by_id.clear();
        }
        caches.by_id.insert(id, schema.clone());
        Ok(schema)
    }

    fn remember(&self, key: (String, RegistrySchema, bool), id: i32, schema: &RegistrySchema) {
        let mut caches = self.lock();
        if caches.id_by_subject_schema.len() >= CACHE_CAPACITY {
            caches.id_by_subject_schema.clear();
        }
        caches.id_by_subject_schema.insert(key, id);
        if caches.by_id.len() >= CACHE_CAPACITY {
            caches.by_id.clear();
        }
        caches.by_id.entry(id).or_insert_with(|| schema.clone());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Caches> {
        self.caches.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One HTTP/1.1 exchange on a fresh connection: the status and the body.
async fn send(
    host: String,
    port: u16,
    method: String,
    uri: String,
    body: Option<String>,
) -> Result<(u16, Bytes), RegistryError> {
    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| {
        RegistryError::transport(format!("cannot connect to the schema registry at {host}:{port}: {e}"))
    })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| RegistryError::transport(e.to_string()))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut builder = hyper::Request::builder()
        .method(method.as_str())
        .uri(uri)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, format!("{V1_JSON}, application/vnd.schemaregistry+json, application/json"));
    if body.is_some() {
        builder = builder.header(hyper::header::CONTENT_TYPE, V1_JSON);
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| RegistryError::transport(e.to_string()))?;
    let response = sender.send_request(request).await.map_err(|e| RegistryError::transport(e.to_string()))?;
    let status = response.status().as_u16();
    let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| RegistryError::transport(format!("reading the registry's answer: {e}")))?
        .to_bytes();
    Ok((status, bytes))
}

/// How a registry-aware serializer picks the schema id (Confluent's serializer configs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySerdeConfig {
    /// `auto.register.schemas`: register the serializer's schema (else look it up).
    pub auto_register_schemas: bool,
    /// `use.latest.version`: write with the subject's latest schema instead of the serializer's.
    pub use_latest_version: bool,
    /// `normalize.schemas`.
    pub normalize_schemas: bool,
}

impl Default for RegistrySerdeConfig {
    fn default() -> Self {
        RegistrySerdeConfig { auto_register_schemas: true, use_latest_version: false, normalize_schemas: false }
    }
}

impl RegistrySerdeConfig {
    /// Reads Confluent's config keys (unknown keys are refused so a typo is not silently ignored).
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<RegistrySerdeConfig, SerializationError> {
        let mut c = RegistrySerdeConfig::default();
        for (k, v) in pairs {
            let flag = || match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(SerializationError::registry(format!("{k} must be true or false, not {v:?}"))),
            };
            match k.as_str() {
                "auto.register.schemas" => c.auto_register_schemas = flag()?,
                "use.latest.version" => c.use_latest_version = flag()?,
                "normalize.schemas" => c.normalize_schemas = flag()?,
                // Confluent's default subject naming is the only one potok has.
                "subject.name.strategy" if v.contains("TopicNameStrategy") || v == "topic_subject_name_strategy" => {}
                other => return Err(SerializationError::registry(format!("unknown serializer config {other}"))),
            }
        }
        if c.use_latest_version && c.auto_register_schemas {
            // Confluent's Python serializer refuses this combination too.
            return Err(SerializationError::registry(
                "cannot enable both use.latest.version and auto.register.schemas",
            ));
        }
        Ok(c)
    }
}

/// `TopicNameStrategy`: `<topic>-key` or `<topic>-value`.
pub fn subject_name(topic: &str, is_key: bool) -> String {
    format!("{topic}-{}", if is_key { "key" } else { "value" })
}

/// A parsed writer schema of either format.
#[derive(Debug)]
enum Parsed {
    Avro(AvroSchema),
    Json(JsonSchema),
}

fn parse(schema: &RegistrySchema) -> Result<Parsed, SerializationError> {
    match schema.schema_type.as_str() {
        "AVRO" => Ok(Parsed::Avro(AvroSchema::parse(&schema.schema)?)),
        "JSON" => JsonSchema::parse(&schema.schema)
            .map(Parsed::Json)
            .map_err(|e| SerializationError::registry(format!("invalid JSON Schema: {e}"))),
        other => Err(SerializationError::registry(format!("schema type {other} is not supported"))),
    }
}

/// Writes values with a schema registered in the registry: Avro binary (`schema_type` AVRO) or validated JSON
/// text (JSON), framed with the schema's id.
#[derive(Debug)]
pub struct RegistrySerializer {
    client: Arc<SchemaRegistryClient>,
    /// The serializer's own schema (absent when it writes with the subject's latest).
    schema: Option<RegistrySchema>,
    schema_type: String,
    is_key: bool,
    config: RegistrySerdeConfig,
    /// The id and parsed schema per subject.
    resolved: Mutex<HashMap<String, (i32, Arc<Parsed>)>>,
}

impl RegistrySerializer {
    /// `schema_type` is `AVRO` or `JSON`; `schema` may be absent only with `use.latest.version`.
    pub fn new(
        client: Arc<SchemaRegistryClient>,
        schema_type: &str,
        schema: Option<&str>,
        is_key: bool,
        config: RegistrySerdeConfig,
    ) -> Result<RegistrySerializer, SerializationError> {
        let schema_type = schema_type.to_ascii_uppercase();
        let schema = schema.map(|s| RegistrySchema::new(&schema_type, s));
        if let Some(s) = &schema {
            parse(s)?;
        } else if !config.use_latest_version {
            return Err(SerializationError::registry("a schema is required unless use.latest.version is set"));
        }
        Ok(RegistrySerializer { client, schema, schema_type, is_key, config, resolved: Mutex::new(HashMap::new()) })
    }

    fn resolve(&self, subject: &str) -> Result<(i32, Arc<Parsed>), SerializationError> {
        if let Some(r) = self.resolved.lock().unwrap_or_else(PoisonError::into_inner).get(subject) {
            return Ok(r.clone());
        }
        let (id, schema) = if self.config.use_latest_version {
            let latest = self.client.latest_version(subject)?;
            if latest.schema.schema_type != self.schema_type {
                return Err(SerializationError::registry(format!(
                    "the latest schema of {subject} is {}, not {}",
                    latest.schema.schema_type, self.schema_type
                )));
            }
            (latest.id, latest.schema)
        } else {
            let schema = self.schema.clone().ok_or_else(|| SerializationError::registry("no schema"))?;
            let id = if self.config.auto_register_schemas {
                self.client.register(subject, &schema, self.config.normalize_schemas)?
            } else {
                self.client.lookup(subject, &schema, self.config.normalize_schemas)?.id
            };
            (id, schema)
        };
        let resolved = (id, Arc::new(parse(&schema)?));
        // The latest version can change: only a fixed schema's id is kept.
        if !self.config.use_latest_version {
            self.resolved.lock().unwrap_or_else(PoisonError::into_inner).insert(subject.to_string(), resolved.clone());
        }
        Ok(resolved)
    }
}

impl Serializer<Value> for RegistrySerializer {
    fn serialize(&self, topic: &str, data: Option<&Value>) -> Result<Option<Vec<u8>>, SerializationError> {
        let Some(value) = data else { return Ok(None) };
        let (id, parsed) = self.resolve(&subject_name(topic, self.is_key))?;
        let payload = match parsed.as_ref() {
            Parsed::Avro(s) => s.encode(value)?,
            Parsed::Json(s) => {
                s.validate(value)?;
                serde_json::to_vec(value).map_err(|e| SerializationError::Json(e.to_string()))?
            }
        };
        Ok(Some(confluent::frame(id, &payload)))
    }
}

/// Reads values framed with a registry id: fetches (and caches) the writer's schema by id and decodes with it
/// (Avro), or parses and validates against it (JSON).
#[derive(Debug)]
pub struct RegistryDeserializer {
    client: Arc<SchemaRegistryClient>,
    schema_type: String,
    limits: DecodeLimits,
    parsed: Mutex<HashMap<i32, Arc<Parsed>>>,
}

impl RegistryDeserializer {
    pub fn new(client: Arc<SchemaRegistryClient>, schema_type: &str) -> RegistryDeserializer {
        RegistryDeserializer {
            client,
            schema_type: schema_type.to_ascii_uppercase(),
            limits: DecodeLimits::default(),
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// The writer schema of `id`.
    fn writer(&self, id: i32) -> Result<Arc<Parsed>, SerializationError> {
        if let Some(p) = self.parsed.lock().unwrap_or_else(PoisonError::into_inner).get(&id) {
            return Ok(p.clone());
        }
        let schema = self.client.schema_by_id(id)?;
        if schema.schema_type != self.schema_type {
            return Err(SerializationError::registry(format!(
                "schema {id} is {}, not {}",
                schema.schema_type, self.schema_type
            )));
        }
        let parsed = Arc::new(parse(&schema)?);
        let mut cache = self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(id, parsed.clone());
        Ok(parsed)
    }

    /// The writer's schema id and the value.
    pub fn deserialize_with_id(&self, data: &[u8]) -> Result<(i32, Value), SerializationError> {
        self.decode(data, false)
    }

    /// Like [`RegistryDeserializer::deserialize_with_id`], with Avro values in Avro's JSON encoding (unions name
    /// their branch), as Confluent's Avro console consumer prints them.
    pub fn deserialize_json_encoding(&self, data: &[u8]) -> Result<(i32, Value), SerializationError> {
        self.decode(data, true)
    }

    fn decode(&self, data: &[u8], json_encoding: bool) -> Result<(i32, Value), SerializationError> {
        let (id, payload) = confluent::unframe(data)?;
        let value = match self.writer(id)?.as_ref() {
            Parsed::Avro(s) if json_encoding => s.decode_json_encoding(payload, self.limits)?,
            Parsed::Avro(s) => s.decode(payload, self.limits)?,
            Parsed::Json(s) => {
                let v: Value = serde_json::from_slice(payload).map_err(|e| SerializationError::Json(e.to_string()))?;
                s.validate(&v)?;
                v
            }
        };
        Ok((id, value))
    }
}

impl Deserializer<Value> for RegistryDeserializer {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<Value>, SerializationError> {
        data.map(|d| self.deserialize_with_id(d).map(|(_, v)| v)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_configs() {
        let c = SchemaRegistryClient::new("http://127.0.0.1:8081, http://[::1]:9/base/").expect("urls");
        assert_eq!(c.bases[0], ("127.0.0.1".into(), 8081, String::new()));
        assert_eq!(c.bases[1], ("::1".into(), 9, "/base".into()));
        assert!(SchemaRegistryClient::new("https://x:1").is_err());
        assert!(SchemaRegistryClient::new("").is_err());
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
        let pairs = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let c = RegistrySerdeConfig::from_pairs(&pairs(&[
            ("auto.register.schemas", "false"),
            ("use.latest.version", "true"),
        ]))
        .expect("config");
        assert!(!c.auto_register_schemas && c.use_latest_version);
        assert!(RegistrySerdeConfig::from_pairs(&pairs(&[("use.latest.version", "true")])).is_err());
        assert!(RegistrySerdeConfig::from_pairs(&pairs(&[("auto.register.schema", "true")])).is_err());
        assert_eq!(subject_name("pos", false), "pos-value");
    }
}
