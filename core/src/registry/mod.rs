//! A schema registry speaking Confluent's REST API, kept in a compacted `_schemas` topic with Confluent's record
//! formats. Everything here is sans-IO: [`Registry`] is the state rebuilt by replaying `_schemas`
//! ([`Registry::apply`]), and [`Registry::handle`] turns one HTTP request into either a response or the records to
//! append first (a [`Outcome::Write`]). The HTTP server and the Kafka store around it live in `net::registry`.
//!
//! - [`records`]: the `_schemas` keys and values, byte-compatible with Confluent's registry.
//! - [`avro`], [`json_schema`]: schema parsing, canonical and normalised forms, compatibility rules.
//! - [`rest`]: the REST routes, request bodies, response bodies and Confluent's error codes.
//!
//! Invariants: the state changes only by applying `_schemas` records in log order, so every registry reading the
//! log reaches the same state; ids are never reused while the records that used them are in the log; a write is
//! planned against state that has caught up with the log, and its records are applied when read back, like any
//! other registry's.

pub mod avro;
pub mod json_schema;
pub mod node;
pub mod records;
pub mod rest;
mod state;
#[cfg(test)]
mod tests;

pub use rest::{Outcome, Request, Response};
pub use state::Registry;

use serde_json::Value;

/// The schema formats the registry knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaType {
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }

    pub fn from_name(s: &str) -> Option<SchemaType> {
        match s.to_ascii_uppercase().as_str() {
            "AVRO" => Some(SchemaType::Avro),
            "JSON" => Some(SchemaType::Json),
            "PROTOBUF" => Some(SchemaType::Protobuf),
            _ => None,
        }
    }
}

/// A subject's compatibility level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompatibilityLevel {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl CompatibilityLevel {
    pub fn name(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    pub fn from_name(s: &str) -> Option<CompatibilityLevel> {
        Some(match s.to_ascii_uppercase().as_str() {
            "NONE" => CompatibilityLevel::None,
            "BACKWARD" => CompatibilityLevel::Backward,
            "BACKWARD_TRANSITIVE" => CompatibilityLevel::BackwardTransitive,
            "FORWARD" => CompatibilityLevel::Forward,
            "FORWARD_TRANSITIVE" => CompatibilityLevel::ForwardTransitive,
            "FULL" => CompatibilityLevel::Full,
            "FULL_TRANSITIVE" => CompatibilityLevel::FullTransitive,
            _ => return None,
        })
    }
}

/// A registry's or a subject's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadWrite,
    ReadOnly,
    ReadOnlyOverride,
    Import,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::ReadOnlyOverride => "READONLY_OVERRIDE",
            Mode::Import => "IMPORT",
        }
    }

    pub fn from_name(s: &str) -> Option<Mode> {
        Some(match s.to_ascii_uppercase().as_str() {
            "READWRITE" => Mode::ReadWrite,
            "READONLY" => Mode::ReadOnly,
            "READONLY_OVERRIDE" => Mode::ReadOnlyOverride,
            "IMPORT" => Mode::Import,
            _ => return None,
        })
    }
}

/// A schema reference: a name the schema uses for the schema registered under `subject`, `version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

impl Reference {
    /// `[{"name":..,"subject":..,"version":..}]`.
    pub fn list_json(refs: &[Reference]) -> String {
        let mut out = String::from("[");
        for (i, r) in refs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            node::write_string(&mut out, &r.name);
            out.push_str(",\"subject\":");
            node::write_string(&mut out, &r.subject);
            out.push_str(&format!(",\"version\":{}}}", r.version));
        }
        out.push(']');
        out
    }

    pub fn from_json(v: &Value) -> Result<Vec<Reference>, String> {
        let Some(items) = v.as_array() else { return Err("references is not an array".into()) };
        items
            .iter()
            .map(|r| {
                let name = r.get("name").and_then(Value::as_str);
                let subject = r.get("subject").and_then(Value::as_str);
                let version = r.get("version").and_then(Value::as_i64).and_then(|v| i32::try_from(v).ok());
                match (name, subject, version) {
                    (Some(n), Some(s), Some(v)) => {
                        Ok(Reference { name: n.to_string(), subject: s.to_string(), version: v })
                    }
                    _ => Err(format!("invalid reference {r}")),
                }
            })
            .collect()
    }
}

/// A schema parsed by its provider.
#[derive(Debug, Clone)]
pub enum ParsedSchema {
    Avro(avro::AvroSchema),
    Json(json_schema::JsonSchemaDoc),
}

impl ParsedSchema {
    pub fn schema_type(&self) -> SchemaType {
        match self {
            ParsedSchema::Avro(_) => SchemaType::Avro,
            ParsedSchema::Json(_) => SchemaType::Json,
        }
    }

    pub fn canonical(&self) -> String {
        match self {
            ParsedSchema::Avro(s) => s.canonical(),
            ParsedSchema::Json(s) => s.canonical(),
        }
    }

    pub fn normalized(&self) -> String {
        match self {
            ParsedSchema::Avro(s) => s.normalized(),
            ParsedSchema::Json(s) => s.normalized(),
        }
    }

    /// Confluent's `isBackwardCompatible(previous)`: whether this schema reads data written with `previous`, as
    /// messages with `%s` already filled with `reader` and `writer`.
    pub fn backward_messages(&self, previous: &ParsedSchema, reader: &str, writer: &str) -> Vec<String> {
        match (self, previous) {
            (ParsedSchema::Avro(new), ParsedSchema::Avro(old)) => {
                new.incompatibilities_reading(old).iter().map(|i| i.describe(reader, writer)).collect()
            }
            (ParsedSchema::Json(new), ParsedSchema::Json(old)) => {
                new.incompatibilities_since(old).iter().map(|d| d.describe(reader, writer)).collect()
            }
            _ => vec!["Incompatible because of different schema type".into()],
        }
    }
}
