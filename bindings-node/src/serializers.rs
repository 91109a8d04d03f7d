//! Serializers: core's `potok::serde` (Kafka's string and integer serializers, JSON, JSON Schema, Avro) with
//! nothing of their own here. JavaScript values that are JSON trees cross as JSON text: the JavaScript layer
//! (`lib/serializers.js`) writes them with `JSON.stringify`, which already refuses cycles and BigInts, and parses
//! what comes back with `JSON.parse`; serde_json parses the text here with its nesting limit, so a deep value
//! cannot exhaust the stack. Every failure is a `SerializationError` carrying the failing fields' JSON Pointers.

use napi::bindgen_prelude::Buffer;
use napi::Env;
use napi_derive::napi;
use potok::serde::avro::{AvroDeserializer, AvroError, AvroSchema, AvroSerializer, DecodeLimits};
use potok::serde::json_schema::{JsonSchema, JsonSchemaDeserializer, JsonSchemaSerializer};
use potok::serde::{
    Deserializer, IntegerDeserializer, IntegerSerializer, JsonSerde, SerializationError, Serializer, StringSerde,
};
use serde_json::Value;

use crate::error::{serialization, Failure};

/// Core's serializers take a topic (Kafka's interface does); none of the ones exposed here looks at it.
const TOPIC: &str = "";

fn failure(e: SerializationError) -> Failure {
    let paths = match &e {
        SerializationError::Validation(errors) => errors.0.iter().map(|v| v.instance_path.clone()).collect(),
        SerializationError::Avro(AvroError::Value { path, .. }) => vec![path.clone()],
        _ => Vec::new(),
    };
    serialization(e.to_string(), paths)
}

/// A null result only comes from a null input, which the JavaScript layer answers itself; should core ever
/// return one for a value, it is reported rather than turned into an empty buffer.
fn bytes(env: &Env, result: Result<Option<Vec<u8>>, SerializationError>) -> napi::Result<Buffer> {
    match result {
        Ok(Some(b)) => Ok(Buffer::from(b)),
        Ok(None) => Err(serialization("the serializer wrote no bytes for a value".into(), Vec::new()).into_js(env)),
        Err(e) => Err(failure(e).into_js(env)),
    }
}

fn value<T>(env: &Env, result: Result<Option<T>, SerializationError>) -> napi::Result<T> {
    match result {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(serialization("the deserializer read no value".into(), Vec::new()).into_js(env)),
        Err(e) => Err(failure(e).into_js(env)),
    }
}

fn parse_json(env: &Env, text: &str) -> napi::Result<Value> {
    serde_json::from_str(text).map_err(|e| failure(SerializationError::Json(e.to_string())).into_js(env))
}

fn json_text(env: &Env, v: &Value) -> napi::Result<String> {
    serde_json::to_string(v).map_err(|e| failure(SerializationError::Json(e.to_string())).into_js(env))
}

/// Kafka's `StringSerializer`: UTF-8.
#[napi]
pub fn serialize_string(env: Env, value: String) -> napi::Result<Buffer> {
    bytes(&env, StringSerde.serialize(TOPIC, Some(&value)))
}

/// Kafka's `StringDeserializer`: UTF-8, malformed sequences read as U+FFFD (as Java's decoder does).
#[napi]
pub fn deserialize_string(env: Env, data: Buffer) -> napi::Result<String> {
    value(&env, StringSerde.deserialize(TOPIC, Some(&data)))
}

/// Kafka's `IntegerSerializer`: four bytes, big-endian. A JavaScript number must be an integer in Java's `int`
/// range; anything else would be silently changed by the conversion, so it is refused.
#[napi]
pub fn serialize_integer(env: Env, value: f64) -> napi::Result<Buffer> {
    if value.fract() != 0.0 || !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&value) {
        let message = format!("IntegerSerializer takes an integer from {} to {}, got {value}", i32::MIN, i32::MAX);
        return Err(serialization(message, Vec::new()).into_js(&env));
    }
    bytes(&env, IntegerSerializer.serialize(TOPIC, Some(&(value as i32))))
}

/// Kafka's `IntegerDeserializer`: exactly four bytes, big-endian.
#[napi]
pub fn deserialize_integer(env: Env, data: Buffer) -> napi::Result<i32> {
    value(&env, IntegerDeserializer.deserialize(TOPIC, Some(&data)))
}

/// Kafka's `connect-json` `JsonSerializer`: the value (given as JSON text) as compact JSON.
#[napi]
pub fn serialize_json(env: Env, json: String) -> napi::Result<Buffer> {
    let v = parse_json(&env, &json)?;
    bytes(&env, JsonSerde.serialize(TOPIC, Some(&v)))
}

/// Kafka's `connect-json` `JsonDeserializer`; returns the value's JSON text.
#[napi]
pub fn deserialize_json(env: Env, data: Buffer) -> napi::Result<String> {
    let v = value(&env, JsonSerde.deserialize(TOPIC, Some(&data)))?;
    json_text(&env, &v)
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
    serializer: JsonSchemaSerializer,
    deserializer: JsonSchemaDeserializer,
}

#[napi]
impl NativeJsonSchemaSerde {
    /// Compiles the schema (JSON text); an unusable schema is an error here, not at the first value.
    #[napi(constructor)]
    pub fn new(env: Env, schema: String, schema_id: Option<f64>) -> napi::Result<NativeJsonSchemaSerde> {
        let id = checked_schema_id(&env, schema_id)?;
        let schema = JsonSchema::parse(&schema).map_err(|e| serialization(e.to_string(), Vec::new()).into_js(&env))?;
        Ok(NativeJsonSchemaSerde {
            serializer: JsonSchemaSerializer { schema: schema.clone(), schema_id: id },
            deserializer: JsonSchemaDeserializer { schema, framed: id.is_some() },
        })
    }

    /// Validates the value (JSON text) and writes it as compact JSON.
    #[napi]
    pub fn serialize(&self, env: Env, json: String) -> napi::Result<Buffer> {
        let v = parse_json(&env, &json)?;
        bytes(&env, self.serializer.serialize(TOPIC, Some(&v)))
    }

    /// Reads and validates a value; returns its JSON text.
    #[napi]
    pub fn deserialize(&self, env: Env, data: Buffer) -> napi::Result<String> {
        let v = value(&env, self.deserializer.deserialize(TOPIC, Some(&data)))?;
        json_text(&env, &v)
    }
}

/// An Avro serializer for one schema (given as its JSON text), writing Avro binary as Java's does; with a schema
/// id, framed in the Confluent wire format (and reading only values framed with that id).
#[napi]
#[derive(Debug)]
pub struct NativeAvroSerde {
    serializer: AvroSerializer,
    deserializer: AvroDeserializer,
}

#[napi]
impl NativeAvroSerde {
    /// Parses the schema; an invalid schema (or a default that does not fit its field) is an error here.
    #[napi(constructor)]
    pub fn new(env: Env, schema: String, schema_id: Option<f64>) -> napi::Result<NativeAvroSerde> {
        let id = checked_schema_id(&env, schema_id)?;
        let schema = AvroSchema::parse(&schema).map_err(|e| serialization(e.to_string(), Vec::new()).into_js(&env))?;
        Ok(NativeAvroSerde {
            serializer: AvroSerializer { schema: schema.clone(), schema_id: id },
            deserializer: AvroDeserializer {
                schema,
                framed: id.is_some(),
                expected_schema_id: id,
                limits: DecodeLimits::default(),
            },
        })
    }

    /// Encodes the value (JSON text, Avro's JSON conventions for unions and bytes) as Avro binary.
    #[napi]
    pub fn serialize(&self, env: Env, json: String) -> napi::Result<Buffer> {
        let v = parse_json(&env, &json)?;
        bytes(&env, self.serializer.serialize(TOPIC, Some(&v)))
    }

    /// Decodes Avro binary; returns the value's JSON text.
    #[napi]
    pub fn deserialize(&self, env: Env, data: Buffer) -> napi::Result<String> {
        let v = value(&env, self.deserializer.deserialize(TOPIC, Some(&data)))?;
        json_text(&env, &v)
    }
}
