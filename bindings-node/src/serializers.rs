//! Serializers: core's, chosen by name (`potok::host::serde`), with nothing of their own here. JavaScript
//! values that are JSON trees cross as JSON text: the JavaScript layer (`lib/serializers.js`) writes them with
//! `JSON.stringify`, which already refuses cycles and BigInts, and parses what comes back with `JSON.parse`;
//! serde_json parses the text here with its nesting limit, so a deep value cannot exhaust the stack. Every
//! failure is a `SerializationError` carrying the failing fields' JSON Pointers.

use std::sync::OnceLock;

use napi::bindgen_prelude::Buffer;
use napi::Env;
use napi_derive::napi;
use potok::host::serde::{Datum, Framing, NamedSerde};
use potok::host::{ErrorKind, HostError};
use serde_json::Value;

use crate::error::{serialization, Failure};

/// Core's serializers take a topic (Kafka's interface does); none of the ones exposed here looks at it.
const TOPIC: &str = "";

/// Every failure here is JavaScript's `SerializationError`, a schema that cannot be used included.
fn failure(env: &Env, e: HostError) -> napi::Error {
    let e = match e.kind {
        ErrorKind::Serialization => e,
        _ => HostError::serialization(e.message, e.paths, Default::default()),
    };
    Failure::from(e).into_js(env)
}

fn named(env: &Env, name: &str, schema: Option<&str>, schema_id: Option<i32>) -> napi::Result<NamedSerde> {
    let framing = Framing { schema_id, framed: schema_id.is_some() };
    NamedSerde::new(name, schema, framing).map_err(|e| failure(env, e))
}

/// The schema-less serializers, made once.
fn primitive(name: &'static str) -> &'static NamedSerde {
    static STRING: OnceLock<NamedSerde> = OnceLock::new();
    static INTEGER: OnceLock<NamedSerde> = OnceLock::new();
    static JSON: OnceLock<NamedSerde> = OnceLock::new();
    let cell = match name {
        "string" => &STRING,
        "integer" => &INTEGER,
        _ => &JSON,
    };
    // The three names are core's own, so making them cannot fail; a failure would be a bug, reported as such.
    cell.get_or_init(|| NamedSerde::new(name, None, Framing::default()).unwrap_or_else(|e| panic!("{e:?}")))
}

fn write(env: &Env, serde: &NamedSerde, value: Datum) -> napi::Result<Buffer> {
    match serde.serialize(TOPIC, Some(&value), Default::default()) {
        Ok(Some(b)) => Ok(Buffer::from(b)),
        // A null result only comes from a null input, which the JavaScript layer answers itself.
        Ok(None) => Err(serialization("the serializer wrote no bytes for a value".into(), Vec::new()).into_js(env)),
        Err(e) => Err(failure(env, e)),
    }
}

fn read(env: &Env, serde: &NamedSerde, data: &[u8]) -> napi::Result<Datum> {
    let side = potok::host::SerdeSide { key: false, deserializing: true };
    match serde.deserialize(TOPIC, Some(data), side) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(serialization("the deserializer read no value".into(), Vec::new()).into_js(env)),
        Err(e) => Err(failure(env, e)),
    }
}

fn parse_json(env: &Env, text: &str) -> napi::Result<Datum> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| serialization(format!("Error deserializing JSON: {e}"), Vec::new()).into_js(env))?;
    Ok(Datum::Json(value))
}

fn json_text(env: &Env, datum: Datum) -> napi::Result<String> {
    let Datum::Json(v) = datum else {
        return Err(serialization(format!("expected a JSON value, got {datum:?}"), Vec::new()).into_js(env));
    };
    serde_json::to_string(&v)
        .map_err(|e| serialization(format!("Error deserializing JSON: {e}"), Vec::new()).into_js(env))
}

/// Kafka's `StringSerializer`: UTF-8.
#[napi]
pub fn serialize_string(env: Env, value: String) -> napi::Result<Buffer> {
    write(&env, primitive("string"), Datum::Text(value))
}

/// Kafka's `StringDeserializer`: UTF-8, malformed sequences read as U+FFFD (as Java's decoder does).
#[napi]
pub fn deserialize_string(env: Env, data: Buffer) -> napi::Result<String> {
    match read(&env, primitive("string"), &data)? {
        Datum::Text(s) => Ok(s),
        other => Err(serialization(format!("expected text, got {other:?}"), Vec::new()).into_js(&env)),
    }
}

/// Kafka's `IntegerSerializer`: four bytes, big-endian. A JavaScript number must be an integer in Java's `int`
/// range; anything else would be silently changed by the conversion, so it is refused (by core).
#[napi]
pub fn serialize_integer(env: Env, value: f64) -> napi::Result<Buffer> {
    write(&env, primitive("integer"), Datum::Double(value))
}

/// Kafka's `IntegerDeserializer`: exactly four bytes, big-endian.
#[napi]
pub fn deserialize_integer(env: Env, data: Buffer) -> napi::Result<i32> {
    match read(&env, primitive("integer"), &data)? {
        Datum::Int(i) => {
            i32::try_from(i).map_err(|_| serialization(format!("{i} is not an int"), Vec::new()).into_js(&env))
        }
        other => Err(serialization(format!("expected an integer, got {other:?}"), Vec::new()).into_js(&env)),
    }
}

/// Kafka's `connect-json` `JsonSerializer`: the value (given as JSON text) as compact JSON.
#[napi]
pub fn serialize_json(env: Env, json: String) -> napi::Result<Buffer> {
    let value = parse_json(&env, &json)?;
    write(&env, primitive("json"), value)
}

/// Kafka's `connect-json` `JsonDeserializer`; returns the value's JSON text.
#[napi]
pub fn deserialize_json(env: Env, data: Buffer) -> napi::Result<String> {
    let value = read(&env, primitive("json"), &data)?;
    json_text(&env, value)
}

/// Confluent's wire-format schema id: `None` (plain payloads) unless the JavaScript layer passed one.
fn checked_schema_id(env: &Env, id: Option<f64>) -> napi::Result<Option<i32>> {
    match id {
        None => Ok(None),
        Some(id) if id.fract() == 0.0 && (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&id) => {
            Ok(Some(id as i32))
        }
        Some(id) => Err(serialization(format!("schemaId must be a 32-bit integer, got {id}"), Vec::new()).into_js(env)),
    }
}

/// A JSON Schema serializer: values are validated before they are written (and after they are read), and a
/// failure names every failing field. With a schema id, payloads are framed in the Confluent wire format.
#[napi]
#[derive(Debug)]
pub struct NativeJsonSchemaSerde {
    serde: NamedSerde,
}

#[napi]
impl NativeJsonSchemaSerde {
    /// Compiles the schema (JSON text); an unusable schema is an error here, not at the first value.
    #[napi(constructor)]
    pub fn new(env: Env, schema: String, schema_id: Option<f64>) -> napi::Result<NativeJsonSchemaSerde> {
        let id = checked_schema_id(&env, schema_id)?;
        Ok(NativeJsonSchemaSerde { serde: named(&env, "json", Some(&schema), id)? })
    }

    /// Validates the value (JSON text) and writes it as compact JSON.
    #[napi]
    pub fn serialize(&self, env: Env, json: String) -> napi::Result<Buffer> {
        let value = parse_json(&env, &json)?;
        write(&env, &self.serde, value)
    }

    /// Reads and validates a value; returns its JSON text.
    #[napi]
    pub fn deserialize(&self, env: Env, data: Buffer) -> napi::Result<String> {
        let value = read(&env, &self.serde, &data)?;
        json_text(&env, value)
    }
}

/// An Avro serializer for one schema (given as its JSON text), writing Avro binary as Java's does; with a schema
/// id, framed in the Confluent wire format (and reading only values framed with that id).
#[napi]
#[derive(Debug)]
pub struct NativeAvroSerde {
    serde: NamedSerde,
}

#[napi]
impl NativeAvroSerde {
    /// Parses the schema; an invalid schema (or a default that does not fit its field) is an error here.
    #[napi(constructor)]
    pub fn new(env: Env, schema: String, schema_id: Option<f64>) -> napi::Result<NativeAvroSerde> {
        let id = checked_schema_id(&env, schema_id)?;
        Ok(NativeAvroSerde { serde: named(&env, "avro", Some(&schema), id)? })
    }

    /// Encodes the value (JSON text, Avro's JSON conventions for unions and bytes) as Avro binary.
    #[napi]
    pub fn serialize(&self, env: Env, json: String) -> napi::Result<Buffer> {
        let value = parse_json(&env, &json)?;
        write(&env, &self.serde, value)
    }

    /// Decodes Avro binary; returns the value's JSON text.
    #[napi]
    pub fn deserialize(&self, env: Env, data: Buffer) -> napi::Result<String> {
        let value = read(&env, &self.serde, &data)?;
        json_text(&env, value)
    }
}
