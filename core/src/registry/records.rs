//! The records of the `_schemas` topic, in Confluent's JSON formats, so a Confluent registry reads what potok
//! writes and potok reads what a Confluent registry wrote.
//!
//! Keys (`SchemaRegistryKey` subclasses, Jackson with `NON_EMPTY`, so a null subject is left out):
//! `{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}`, `{"keytype":"CONFIG","subject":"s","magic":0}`,
//! `{"keytype":"MODE","magic":0}`, `{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}`,
//! `{"keytype":"CLEAR_SUBJECT","subject":"s","magic":0}`, `{"keytype":"NOOP","magic":0}`.
//! Values: `SchemaValue` `{"subject","version","id","schemaType","references","schema","deleted"}`,
//! `ConfigValue` `{"subject","compatibilityLevel"}` (plus `normalize`), `ModeValue` `{"subject","mode"}`,
//! `DeleteSubjectValue` `{"subject","version"}`, `ClearSubjectValue` `{"subject"}`. A tombstone (null value)
//! removes a schema version, a config or a mode. Key types potok does not use (`CONTEXT`, `ASSOC`, ...) are
//! read and skipped, as is any field potok does not know.

use serde_json::Value;

use super::node::write_string;
use super::{CompatibilityLevel, Mode, Reference, SchemaType};

/// A `_schemas` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Schema {
        subject: String,
        version: i32,
    },
    Config {
        subject: Option<String>,
    },
    Mode {
        subject: Option<String>,
    },
    DeleteSubject {
        subject: String,
    },
    ClearSubject {
        subject: String,
    },
    Noop,
    /// A key type potok ignores (kept so replay can skip it).
    Other(String),
}

/// A registered schema version (Confluent's `SchemaValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    pub schema_type: SchemaType,
    pub references: Vec<Reference>,
    pub schema: String,
    pub deleted: bool,
}

/// A subject's or the global config (Confluent's `ConfigValue`; the fields potok acts on).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigValue {
    pub compatibility_level: Option<CompatibilityLevel>,
    pub normalize: Option<bool>,
}

/// A `_schemas` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Schema(SchemaValue),
    Config(Option<String>, ConfigValue),
    Mode(Option<String>, Mode),
    DeleteSubject { subject: String, version: i32 },
    ClearSubject { subject: String },
    Noop,
}

/// Why a `_schemas` record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable _schemas record: {0}")]
pub struct RecordError(pub String);

fn subject_field(out: &mut String, subject: Option<&str>) {
    if let Some(s) = subject {
        out.push_str(",\"subject\":");
        write_string(out, s);
    }
}

impl Key {
    /// The key's JSON, field order as Confluent writes it.
    pub fn encode(&self) -> String {
        let mut out = String::from("{\"keytype\":");
        let (keytype, subject, version, magic) = match self {
            Key::Schema { subject, version } => ("SCHEMA", Some(subject.as_str()), Some(*version), 1),
            Key::Config { subject } => ("CONFIG", subject.as_deref(), None, 0),
            Key::Mode { subject } => ("MODE", subject.as_deref(), None, 0),
            Key::DeleteSubject { subject } => ("DELETE_SUBJECT", Some(subject.as_str()), None, 0),
            Key::ClearSubject { subject } => ("CLEAR_SUBJECT", Some(subject.as_str()), None, 0),
            Key::Noop => ("NOOP", None, None, 0),
            Key::Other(t) => (t.as_str(), None, None, 0),
        };
        write_string(&mut out, keytype);
        subject_field(&mut out, subject);
        if let Some(v) = version {
            out.push_str(&format!(",\"version\":{v}"));
        }
        out.push_str(&format!(",\"magic\":{magic}}}"));
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Key, RecordError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| RecordError(e.to_string()))?;
        let keytype =
            v.get("keytype").and_then(Value::as_str).ok_or_else(|| RecordError("key without keytype".into()))?;
        let subject = v.get("subject").and_then(Value::as_str).map(str::to_string);
        let need_subject = || subject.clone().ok_or_else(|| RecordError(format!("{keytype} key without subject")));
        Ok(match keytype {
            "SCHEMA" => Key::Schema {
                subject: need_subject()?,
                version: v
                    .get("version")
                    .and_then(Value::as_i64)
                    .and_then(|x| i32::try_from(x).ok())
                    .ok_or_else(|| RecordError("SCHEMA key without version".into()))?,
            },
            "CONFIG" => Key::Config { subject },
            "MODE" => Key::Mode { subject },
            "DELETE_SUBJECT" => Key::DeleteSubject { subject: need_subject()? },
            "CLEAR_SUBJECT" => Key::ClearSubject { subject: need_subject()? },
            "NOOP" => Key::Noop,
            other => Key::Other(other.to_string()),
        })
    }
}

impl Record {
    /// The key this value is stored under.
    pub fn key(&self) -> Key {
        match self {
            Record::Schema(s) => Key::Schema { subject: s.subject.clone(), version: s.version },
            Record::Config(subject, _) => Key::Config { subject: subject.clone() },
            Record::Mode(subject, _) => Key::Mode { subject: subject.clone() },
            Record::DeleteSubject { subject, .. } => Key::DeleteSubject { subject: subject.clone() },
            Record::ClearSubject { subject } => Key::ClearSubject { subject: subject.clone() },
            Record::Noop => Key::Noop,
        }
    }

    /// The value's JSON, field order as Confluent's Jackson writes it.
    pub fn encode(&self) -> String {
        let mut out = String::from("{");
        match self {
            Record::Schema(s) => {
                out.push_str("\"subject\":");
                write_string(&mut out, &s.subject);
                out.push_str(&format!(",\"version\":{},\"id\":{},\"schemaType\":", s.version, s.id));
                write_string(&mut out, s.schema_type.name());
                if !s.references.is_empty() {
                    out.push_str(",\"references\":");
                    out.push_str(&Reference::list_json(&s.references));
                }
                out.push_str(",\"schema\":");
                write_string(&mut out, &s.schema);
                out.push_str(&format!(",\"deleted\":{}", s.deleted));
            }
            Record::Config(subject, c) => {
                let mut first = true;
                let mut field = |out: &mut String, name: &str, value: String| {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(&format!("\"{name}\":{value}"));
                };
                if let Some(s) = subject {
                    let mut q = String::new();
                    write_string(&mut q, s);
                    field(&mut out, "subject", q);
                }
                if let Some(n) = c.normalize {
                    field(&mut out, "normalize", n.to_string());
                }
                if let Some(l) = c.compatibility_level {
                    field(&mut out, "compatibilityLevel", format!("\"{}\"", l.name()));
                }
            }
            Record::Mode(subject, m) => {
                if let Some(s) = subject {
                    out.push_str("\"subject\":");
                    write_string(&mut out, s);
                    out.push(',');
                }
                out.push_str(&format!("\"mode\":\"{}\"", m.name()));
            }
            Record::DeleteSubject { subject, version } => {
                out.push_str("\"subject\":");
                write_string(&mut out, subject);
                out.push_str(&format!(",\"version\":{version}"));
            }
            Record::ClearSubject { subject } => {
                out.push_str("\"subject\":");
                write_string(&mut out, subject);
            }
            Record::Noop => {}
        }
        out.push('}');
        out
    }

    /// Reads the value stored under `key`; `Ok(None)` for a key type potok skips.
    pub fn decode(key: &Key, bytes: &[u8]) -> Result<Option<Record>, RecordError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| RecordError(e.to_string()))?;
        let subject_of = |fallback: Option<&String>| {
            v.get("subject").and_then(Value::as_str).map(str::to_string).or_else(|| fallback.cloned())
        };
        Ok(Some(match key {
            Key::Schema { subject, version } => {
                let id = v
                    .get("id")
                    .and_then(Value::as_i64)
                    .and_then(|x| i32::try_from(x).ok())
                    .ok_or_else(|| RecordError("schema value without id".into()))?;
                let schema = v
                    .get("schema")
                    .and_then(Value::as_str)
                    .ok_or_else(|| RecordError("schema value without schema".into()))?
                    .to_string();
                let schema_type = match v.get("schemaType").and_then(Value::as_str) {
                    None => SchemaType::Avro,
                    Some(t) => SchemaType::from_name(t).ok_or_else(|| RecordError(format!("schema type {t}")))?,
                };
                let references = match v.get("references") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(r) => Reference::from_json(r).map_err(RecordError)?,
                };
                Record::Schema(SchemaValue {
                    subject: subject_of(Some(subject)).unwrap_or_default(),
                    version: *version,
                    id,
                    schema_type,
                    references,
                    schema,
                    deleted: v.get("deleted").and_then(Value::as_bool).unwrap_or(false),
                })
            }
            Key::Config { subject } => Record::Config(
                subject_of(subject.as_ref()),
                ConfigValue {
                    compatibility_level: v
                        .get("compatibilityLevel")
                        .and_then(Value::as_str)
                        .and_then(CompatibilityLevel::from_name),
                    normalize: v.get("normalize").and_then(Value::as_bool),
                },
            ),
            Key::Mode { subject } => {
                let Some(mode) = v.get("mode").and_then(Value::as_str).and_then(Mode::from_name) else {
                    return Ok(None);
                };
                Record::Mode(subject_of(subject.as_ref()), mode)
            }
            Key::DeleteSubject { subject } => Record::DeleteSubject {
                subject: subject_of(Some(subject)).unwrap_or_default(),
                version: v
                    .get("version")
                    .and_then(Value::as_i64)
                    .and_then(|x| i32::try_from(x).ok())
                    .ok_or_else(|| RecordError("DELETE_SUBJECT value without version".into()))?,
            },
            Key::ClearSubject { subject } => {
                Record::ClearSubject { subject: subject_of(Some(subject)).unwrap_or_default() }
            }
            Key::Noop => Record::Noop,
            Key::Other(_) => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_as_confluent_writes_them() {
        let k = Key::Schema { subject: "pos-value".into(), version: 1 };
        assert_eq!(k.encode(), r#"{"keytype":"SCHEMA","subject":"pos-value","version":1,"magic":1}"#);
        assert_eq!(Key::decode(k.encode().as_bytes()), Ok(k));
        assert_eq!(Key::Config { subject: None }.encode(), r#"{"keytype":"CONFIG","magic":0}"#);
        assert_eq!(Key::decode(br#"{"keytype":"CONFIG","subject":null,"magic":0}"#), Ok(Key::Config { subject: None }));
        assert_eq!(Key::Mode { subject: Some("s".into()) }.encode(), r#"{"keytype":"MODE","subject":"s","magic":0}"#);
        assert_eq!(Key::decode(br#"{"keytype":"CONTEXT","tenant":"t","magic":0}"#), Ok(Key::Other("CONTEXT".into())));
        let v = Record::Schema(SchemaValue {
            subject: "pos-value".into(),
            version: 1,
            id: 7,
            schema_type: SchemaType::Avro,
            references: vec![],
            schema: "\"string\"".into(),
            deleted: false,
        });
        assert_eq!(
            v.encode(),
            r#"{"subject":"pos-value","version":1,"id":7,"schemaType":"AVRO","schema":"\"string\"","deleted":false}"#
        );
        assert_eq!(Record::decode(&v.key(), v.encode().as_bytes()), Ok(Some(v.clone())));
        // Values written by older registries carry no schemaType and no subject in the config value.
        let old = br#"{"subject":"pos-value","version":1,"id":7,"schema":"\"string\"","deleted":false}"#;
        assert_eq!(Record::decode(&v.key(), old), Ok(Some(v)));
        let c =
            Record::Config(None, ConfigValue { compatibility_level: Some(CompatibilityLevel::Full), normalize: None });
        assert_eq!(c.encode(), r#"{"compatibilityLevel":"FULL"}"#);
        let subject_config = Key::Config { subject: Some("s".into()) };
        assert_eq!(
            Record::decode(&subject_config, br#"{"compatibilityLevel":"NONE"}"#),
            Ok(Some(Record::Config(
                Some("s".into()),
                ConfigValue { compatibility_level: Some(CompatibilityLevel::None), normalize: None }
            )))
        );
        assert_eq!(Record::Mode(None, Mode::ReadOnly).encode(), r#"{"mode":"READONLY"}"#);
        assert_eq!(
            Record::DeleteSubject { subject: "s".into(), version: 3 }.encode(),
            r#"{"subject":"s","version":3}"#
        );
        assert!(Key::decode(b"not json").is_err());
    }
}
