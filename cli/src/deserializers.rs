//! The console consumer's key and value deserializers: Kafka's `--key-deserializer`/`--value-deserializer`
//! (class names or short names) and Confluent's formatters, turning record bytes into the text printed.
//!
//! Registry-aware ones (`io.confluent.kafka.serializers.KafkaAvroDeserializer`, `avro`, the
//! `AvroMessageFormatter`, and their JSON Schema counterparts) read the writer's schema from the registry at
//! `--property schema.registry.url=...` and print Avro in Avro's JSON encoding, as Confluent's Avro console
//! consumer does.

use std::sync::Arc;

use anyhow::{bail, Context};
use potok::serde::registry::{RegistryDeserializer, SchemaRegistryClient};
use potok::serde::{
    Deserializer, DoubleDeserializer, FloatDeserializer, IntegerDeserializer, LongDeserializer, ShortDeserializer,
};

/// How record bytes become text.
pub enum Decoder {
    /// The bytes as they are (Kafka's default, a `StringDeserializer` or `ByteArrayDeserializer`).
    Raw,
    Short,
    Integer,
    Long,
    Float,
    Double,
    /// The Confluent wire format, the schema fetched from the registry by id.
    Registry(RegistryDeserializer),
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decoder::Raw => "Raw",
            Decoder::Short => "Short",
            Decoder::Integer => "Integer",
            Decoder::Long => "Long",
            Decoder::Float => "Float",
            Decoder::Double => "Double",
            Decoder::Registry(_) => "Registry",
        })
    }
}

fn registry(url: Option<&str>, schema_type: &str, what: &str) -> anyhow::Result<Decoder> {
    let Some(url) = url else {
        bail!("{what} needs --property schema.registry.url=http://HOST:PORT");
    };
    let client = SchemaRegistryClient::new(url).context("schema.registry.url")?;
    Ok(Decoder::Registry(RegistryDeserializer::new(Arc::new(client), schema_type)))
}

impl Decoder {
    /// The decoder a `--key-deserializer`/`--value-deserializer` names.
    pub fn named(name: &str, registry_url: Option<&str>) -> anyhow::Result<Decoder> {
        let short = name.rsplit('.').next().unwrap_or(name);
        Ok(match short {
            "StringDeserializer" | "ByteArrayDeserializer" | "BytesDeserializer" | "string" | "bytes" => Decoder::Raw,
            "ShortDeserializer" | "short" => Decoder::Short,
            "IntegerDeserializer" | "integer" | "int" => Decoder::Integer,
            "LongDeserializer" | "long" => Decoder::Long,
            "FloatDeserializer" | "float" => Decoder::Float,
            "DoubleDeserializer" | "double" => Decoder::Double,
            "KafkaAvroDeserializer" | "avro" => registry(registry_url, "AVRO", name)?,
            "KafkaJsonSchemaDeserializer" | "json-schema" | "jsonschema" => registry(registry_url, "JSON", name)?,
            _ => bail!("unknown deserializer {name}: use a Kafka or Confluent deserializer class, or avro, json-schema, string, integer, long, double"),
        })
    }

    /// The value decoder of a `--formatter` (None: Kafka's default formatter).
    pub fn for_formatter(formatter: &str, registry_url: Option<&str>) -> anyhow::Result<Option<Decoder>> {
        let short = formatter.rsplit('.').next().unwrap_or(formatter);
        Ok(match short {
            "DefaultMessageFormatter" => None,
            "AvroMessageFormatter" => Some(registry(registry_url, "AVRO", formatter)?),
            "JsonSchemaMessageFormatter" => Some(registry(registry_url, "JSON", formatter)?),
            _ => bail!("unknown formatter {formatter}"),
        })
    }

    /// The text of `data`.
    pub fn decode(&self, topic: &str, data: &[u8]) -> anyhow::Result<Vec<u8>> {
        let text = match self {
            Decoder::Raw => return Ok(data.to_vec()),
            Decoder::Short => ShortDeserializer.deserialize(topic, Some(data))?.map(|v| v.to_string()),
            Decoder::Integer => IntegerDeserializer.deserialize(topic, Some(data))?.map(|v| v.to_string()),
            Decoder::Long => LongDeserializer.deserialize(topic, Some(data))?.map(|v| v.to_string()),
            Decoder::Float => FloatDeserializer.deserialize(topic, Some(data))?.map(java_float),
            Decoder::Double => DoubleDeserializer.deserialize(topic, Some(data))?.map(java_double),
            Decoder::Registry(d) => Some(d.deserialize_json_encoding(data)?.1.to_string()),
        };
        Ok(text.unwrap_or_default().into_bytes())
    }
}

/// Java's `Double.toString` (`1.0`, `2.5`, `1.0E10`, `NaN`, `Infinity`).
fn java_double(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        potok::registry::node::java_double(v)
    }
}

/// Java's `Float.toString`: the shortest digits of the float, in Java's notation.
fn java_float(v: f32) -> String {
    if !v.is_finite() {
        return java_double(f64::from(v));
    }
    // The float's shortest decimal digits, read as a double, print as Java prints the float.
    v.to_string().parse::<f64>().map_or_else(|_| v.to_string(), java_double)
}
