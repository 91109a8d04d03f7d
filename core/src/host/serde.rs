//! Serializers by name, for hosts that pick one with a string (`"string"`, `"integer"`, `"double"`, `"json"`,
//! `"avro"`) rather than a Rust type: the binding converts its language's value into a [`Datum`] of the kind
//! [`NamedSerde::input`] asks for, and everything else (validation, encoding, the Confluent framing, errors with
//! field paths) happens here, in `potok::serde`.

use serde_json::Value;

use super::error::SerdeSide;
use super::HostError;
use crate::serde::avro::{AvroDeserializer, AvroError, AvroSchema, AvroSerializer, DecodeLimits};
use crate::serde::json_schema::{JsonSchema, JsonSchemaDeserializer, JsonSchemaSerializer};
use crate::serde::{
    Deserializer, DoubleDeserializer, DoubleSerializer, IntegerDeserializer, IntegerSerializer, JsonSerde,
    SerializationError, Serializer, StringSerde,
};

/// A value on its way into or out of a serializer.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    Text(String),
    Int(i64),
    /// A double; also what hosts whose only number type is a double (JavaScript) give an integer serializer.
    Double(f64),
    Json(Value),
}

/// What a serializer takes, so the binding knows which conversion to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Text,
    Integer,
    Double,
    /// A JSON tree; for Avro, bytes and fixed values are strings of code points U+0000..U+00FF (Avro's JSON
    /// convention), so a host may hand its byte strings over that way.
    Json {
        bytes_as_code_points: bool,
    },
}

/// How the Confluent wire format applies: `schema_id` frames written payloads (and, for Avro, is the only id a
/// framed payload may carry when read); `framed` makes the deserializer read framed payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Framing {
    pub schema_id: Option<i32>,
    pub framed: bool,
}

#[derive(Debug)]
enum Kind {
    String,
    Integer,
    Double,
    Json,
    JsonSchema(JsonSchemaSerializer, JsonSchemaDeserializer),
    Avro(AvroSerializer, AvroDeserializer),
}

/// One of potok's serializers and its deserializer, chosen by name.
#[derive(Debug)]
pub struct NamedSerde {
    kind: Kind,
}

/// The names [`NamedSerde::new`] takes.
pub const NAMES: &[&str] = &["string", "integer", "double", "json", "avro"];

impl NamedSerde {
    /// `name` is one of [`NAMES`]. `"json"` validates against `schema` when one is given (a framed JSON payload
    /// without a schema is validated against `true`, which accepts everything); `"avro"` needs `schema`. An
    /// unknown name or a schema that cannot be used is an invalid-argument error saying why.
    pub fn new(name: &str, schema: Option<&str>, framing: Framing) -> Result<NamedSerde, HostError> {
        let kind = match name {
            "string" => Kind::String,
            "integer" => Kind::Integer,
            "double" => Kind::Double,
            "json" if schema.is_none() && framing.schema_id.is_none() && !framing.framed => Kind::Json,
            "json" => {
                let schema = match schema {
                    Some(text) => JsonSchema::parse(text),
                    None => JsonSchema::new(Value::Bool(true)),
                }
                .map_err(|e| HostError::invalid_argument(format!("invalid JSON Schema: {e}")))?;
                Kind::JsonSchema(
                    JsonSchemaSerializer { schema: schema.clone(), schema_id: framing.schema_id },
                    JsonSchemaDeserializer { schema, framed: framing.framed },
                )
            }
            "avro" => {
                let text = schema.ok_or_else(|| HostError::invalid_argument("the Avro serializers need a schema"))?;
                let schema = AvroSchema::parse(text)
                    .map_err(|e| HostError::invalid_argument(format!("invalid Avro schema: {e}")))?;
                Kind::Avro(
                    AvroSerializer { schema: schema.clone(), schema_id: framing.schema_id },
                    AvroDeserializer {
                        schema,
                        framed: framing.framed,
                        expected_schema_id: framing.schema_id,
                        limits: DecodeLimits::default(),
                    },
                )
            }
            other => {
                return Err(HostError::invalid_argument(format!(
                    "unknown serializer {other:?} (one of {})",
                    NAMES.join(", ")
                )))
            }
        };
        Ok(NamedSerde { kind })
    }

    /// The kind of [`Datum`] `serialize` takes and `deserialize` returns.
    pub fn input(&self) -> Input {
        match self.kind {
            Kind::String => Input::Text,
            Kind::Integer => Input::Integer,
            Kind::Double => Input::Double,
            Kind::Json | Kind::JsonSchema(..) => Input::Json { bytes_as_code_points: false },
            Kind::Avro(..) => Input::Json { bytes_as_code_points: true },
        }
    }

    /// The record bytes of `value` (`None` writes a null key or value). `side` picks the error's code.
    pub fn serialize(&self, topic: &str, value: Option<&Datum>, side: SerdeSide) -> Result<Option<Vec<u8>>, HostError> {
        let Some(value) = value else { return Ok(None) };
        let wrong = || {
            HostError::serialization(format!("{:?} serializer cannot write {value:?}", self.input()), Vec::new(), side)
        };
        let result = match (&self.kind, value) {
            (Kind::String, Datum::Text(s)) => StringSerde.serialize(topic, Some(s.as_str())),
            (Kind::Integer, Datum::Int(i)) => match i32::try_from(*i) {
                Ok(i) => IntegerSerializer.serialize(topic, Some(&i)),
                Err(_) => return Err(integer_range(*i as f64, side)),
            },
            (Kind::Integer, Datum::Double(d)) => {
                // A host number that is not exactly a Java int would be changed silently by a cast: refuse it.
                if d.fract() != 0.0 || !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(d) {
                    return Err(integer_range(*d, side));
                }
                IntegerSerializer.serialize(topic, Some(&(*d as i32)))
            }
            (Kind::Double, Datum::Double(d)) => DoubleSerializer.serialize(topic, Some(d)),
            (Kind::Double, Datum::Int(i)) => DoubleSerializer.serialize(topic, Some(&(*i as f64))),
            (Kind::Json, Datum::Json(v)) => JsonSerde.serialize(topic, Some(v)),
            (Kind::JsonSchema(s, _), Datum::Json(v)) => s.serialize(topic, Some(v)),
            (Kind::Avro(s, _), Datum::Json(v)) => s.serialize(topic, Some(v)),
            _ => return Err(wrong()),
        };
        result.map_err(|e| serialization(&e, side))
    }

    /// The value of record bytes (`None` for a null key or value).
    pub fn deserialize(&self, topic: &str, data: Option<&[u8]>, side: SerdeSide) -> Result<Option<Datum>, HostError> {
        let fail = |e: SerializationError| serialization(&e, side);
        Ok(match &self.kind {
            Kind::String => StringSerde.deserialize(topic, data).map_err(fail)?.map(Datum::Text),
            Kind::Integer => IntegerDeserializer.deserialize(topic, data).map_err(fail)?.map(|i| Datum::Int(i.into())),
            Kind::Double => DoubleDeserializer.deserialize(topic, data).map_err(fail)?.map(Datum::Double),
            Kind::Json => JsonSerde.deserialize(topic, data).map_err(fail)?.map(Datum::Json),
            Kind::JsonSchema(_, d) => d.deserialize(topic, data).map_err(fail)?.map(Datum::Json),
            Kind::Avro(_, d) => d.deserialize(topic, data).map_err(fail)?.map(Datum::Json),
        })
    }
}

fn integer_range(value: f64, side: SerdeSide) -> HostError {
    let message = format!("IntegerSerializer takes an integer from {} to {}, got {value}", i32::MIN, i32::MAX);
    HostError::serialization(message, Vec::new(), side)
}

/// The JSON Pointers of the fields a serializer's error names (empty when no field is to blame).
pub fn field_paths(error: &SerializationError) -> Vec<String> {
    match error {
        SerializationError::Validation(errors) => errors.0.iter().map(|v| v.instance_path.clone()).collect(),
        SerializationError::Avro(AvroError::Value { path, .. }) => vec![path.clone()],
        _ => Vec::new(),
    }
}

/// A serializer's error as a host error, with its field paths.
pub fn serialization(error: &SerializationError, side: SerdeSide) -> HostError {
    HostError::serialization(error.to_string(), field_paths(error), side)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::ErrorKind;

    fn serde(name: &str, schema: Option<&str>, framing: Framing) -> NamedSerde {
        NamedSerde::new(name, schema, framing).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn primitives_write_what_kafka_writes() {
        let side = SerdeSide::default();
        let int = serde("integer", None, Framing::default());
        assert_eq!(int.serialize("t", Some(&Datum::Int(1)), side).ok().flatten(), Some(vec![0, 0, 0, 1]));
        assert_eq!(int.serialize("t", Some(&Datum::Double(258.0)), side).ok().flatten(), Some(vec![0, 0, 1, 2]));
        assert!(int.serialize("t", Some(&Datum::Double(1.5)), side).is_err());
        assert!(int.serialize("t", Some(&Datum::Int(1 << 40)), side).is_err());
        assert_eq!(int.deserialize("t", Some(&[0, 0, 0, 7]), side).ok().flatten(), Some(Datum::Int(7)));
        let text = serde("string", None, Framing::default());
        assert_eq!(
            text.serialize("t", Some(&Datum::Text("é".into())), side).ok().flatten(),
            Some("é".as_bytes().to_vec())
        );
        assert_eq!(text.serialize("t", None, side).ok(), Some(None));
        let wrong = text.serialize("t", Some(&Datum::Int(1)), side).err().map(|e| e.kind);
        assert_eq!(wrong, Some(ErrorKind::Serialization));
    }

    #[test]
    fn schemas_are_checked_when_made_and_values_when_written() {
        let bad = NamedSerde::new("avro", Some("\"nosuchtype\""), Framing::default()).err();
        assert!(bad.is_some_and(|e| e.kind == ErrorKind::InvalidArgument && e.message.contains("invalid Avro schema")));
        assert!(NamedSerde::new("yaml", None, Framing::default()).is_err());
        let schema = r#"{"type":"object","properties":{"n":{"type":"integer"}}}"#;
        let json = serde("json", Some(schema), Framing { schema_id: Some(5), framed: true });
        let side = SerdeSide { key: true, deserializing: false };
        let e = json.serialize("t", Some(&Datum::Json(serde_json::json!({"n": "x"}))), side).err();
        assert!(e.is_some_and(|e| e.paths == ["/n"] && e.local_name == "_KEY_SERIALIZATION"));
        let bytes = json.serialize("t", Some(&Datum::Json(serde_json::json!({"n": 1}))), side).ok().flatten();
        assert_eq!(bytes.as_deref().map(|b| b[..5].to_vec()), Some(vec![0, 0, 0, 0, 5]), "Confluent framing");
        let back = json.deserialize("t", bytes.as_deref(), side).ok().flatten();
        assert_eq!(back, Some(Datum::Json(serde_json::json!({"n": 1}))));
    }
}
