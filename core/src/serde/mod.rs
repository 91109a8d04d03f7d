//! Serializers and deserializers, writing the bytes the Java client's do.
//!
//! The primitive ones mirror `org.apache.kafka.common.serialization`: byte arrays as they are, strings as UTF-8,
//! short/integer/long big-endian, float/double as big-endian IEEE 754, booleans as one byte, UUIDs as their
//! string form, and JSON as compact text (Kafka's `connect-json` serializer). Deserializers check sizes with
//! Kafka's own messages ("Size of data received by IntegerDeserializer is not 4"). A null value stays null both
//! ways, as in Kafka.
//!
//! [`json_schema`] validates a JSON value against a JSON Schema before it is written, [`avro`] encodes and
//! decodes Avro binary from a schema given as JSON text, and [`confluent`] frames either payload in the
//! Confluent wire format (magic byte 0, 4-byte schema id). Everything here is synchronous and IO-free, except
//! [`registry`] (feature `native`): the schema registry client and the serializers that ask it for ids.

pub mod avro;
pub mod confluent;
pub mod json_schema;
#[cfg(feature = "native")]
pub mod registry;

use serde_json::Value;
use uuid::Uuid;

/// Kafka's `SerializationException`: a value could not be written or read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SerializationError {
    #[error("Size of data received by {deserializer} is not {expected}")]
    Size { deserializer: &'static str, expected: usize },
    #[error("Unexpected byte received by BooleanDeserializer: {0}")]
    UnexpectedBoolean(i8),
    #[error("Error parsing data into UUID")]
    Uuid,
    #[error("Error deserializing JSON: {0}")]
    Json(String),
    #[error(transparent)]
    Validation(#[from] json_schema::ValidationErrors),
    #[error(transparent)]
    Avro(#[from] avro::AvroError),
    #[error(transparent)]
    WireFormat(#[from] confluent::WireFormatError),
    /// The schema registry refused (HTTP `status`, Confluent's `error_code`) or could not be reached, or a
    /// registry serializer is misconfigured (status 0, code -1).
    #[error("{}", registry_message(*status, *error_code, message))]
    Registry { status: u16, error_code: i64, message: String },
}

fn registry_message(status: u16, error_code: i64, message: &str) -> String {
    if status == 0 {
        message.to_string()
    } else {
        format!("schema registry error {error_code} (HTTP {status}): {message}")
    }
}

impl SerializationError {
    /// A registry serializer's own failure (bad config, unsupported schema type).
    pub fn registry(message: impl Into<String>) -> SerializationError {
        SerializationError::Registry { status: 0, error_code: -1, message: message.into() }
    }
}

/// Turns values into record key or value bytes (Kafka's `Serializer`). `None` is a null key or value.
pub trait Serializer<T: ?Sized>: Send + Sync {
    fn serialize(&self, topic: &str, data: Option<&T>) -> Result<Option<Vec<u8>>, SerializationError>;
}

/// Turns record key or value bytes back into values (Kafka's `Deserializer`).
pub trait Deserializer<T>: Send + Sync {
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<T>, SerializationError>;
}

fn exact<const N: usize>(deserializer: &'static str, data: &[u8]) -> Result<[u8; N], SerializationError> {
    data.try_into().map_err(|_| SerializationError::Size { deserializer, expected: N })
}

macro_rules! number_serde {
    ($ser:ident, $de:ident, $t:ty, $name:literal, $doc:literal) => {
        #[doc = concat!("Kafka's `", stringify!($ser), "`: ", $doc)]
        #[derive(Debug, Default, Clone, Copy)]
        pub struct $ser;

        impl Serializer<$t> for $ser {
            fn serialize(&self, _topic: &str, data: Option<&$t>) -> Result<Option<Vec<u8>>, SerializationError> {
                Ok(data.map(|v| v.to_be_bytes().to_vec()))
            }
        }

        #[doc = concat!("Kafka's `", stringify!($de), "`: ", $doc)]
        #[derive(Debug, Default, Clone, Copy)]
        pub struct $de;

        impl Deserializer<$t> for $de {
            fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<$t>, SerializationError> {
                data.map(|d| exact($name, d).map(<$t>::from_be_bytes)).transpose()
            }
        }
    };
}

number_serde!(ShortSerializer, ShortDeserializer, i16, "ShortDeserializer", "two bytes, big-endian.");
number_serde!(IntegerSerializer, IntegerDeserializer, i32, "IntegerDeserializer", "four bytes, big-endian.");
number_serde!(LongSerializer, LongDeserializer, i64, "LongDeserializer", "eight bytes, big-endian.");
// Kafka's float and double deserializers name themselves just "Deserializer" in the message for byte arrays.
number_serde!(FloatSerializer, FloatDeserializer, f32, "Deserializer", "IEEE 754 single, big-endian.");
number_serde!(DoubleSerializer, DoubleDeserializer, f64, "Deserializer", "IEEE 754 double, big-endian.");

/// Kafka's `ByteArraySerializer` and `ByteArrayDeserializer`: the bytes as they are.
#[derive(Debug, Default, Clone, Copy)]
pub struct BytesSerde;

impl Serializer<[u8]> for BytesSerde {
    fn serialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<Vec<u8>>, SerializationError> {
        Ok(data.map(<[u8]>::to_vec))
    }
}

impl Deserializer<Vec<u8>> for BytesSerde {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<Vec<u8>>, SerializationError> {
        Ok(data.map(<[u8]>::to_vec))
    }
}

/// Kafka's `StringSerializer` and `StringDeserializer` (UTF-8). Like Java's `new String(bytes, UTF_8)`, reading
/// replaces malformed UTF-8 with U+FFFD instead of failing.
#[derive(Debug, Default, Clone, Copy)]
pub struct StringSerde;

impl Serializer<str> for StringSerde {
    fn serialize(&self, _topic: &str, data: Option<&str>) -> Result<Option<Vec<u8>>, SerializationError> {
        Ok(data.map(|s| s.as_bytes().to_vec()))
    }
}

impl Deserializer<String> for StringSerde {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<String>, SerializationError> {
        Ok(data.map(|d| String::from_utf8_lossy(d).into_owned()))
    }
}

/// Kafka's `BooleanSerializer` and `BooleanDeserializer`: one byte, 1 or 0.
#[derive(Debug, Default, Clone, Copy)]
pub struct BooleanSerde;

impl Serializer<bool> for BooleanSerde {
    fn serialize(&self, _topic: &str, data: Option<&bool>) -> Result<Option<Vec<u8>>, SerializationError> {
        Ok(data.map(|&b| vec![u8::from(b)]))
    }
}

impl Deserializer<bool> for BooleanSerde {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<bool>, SerializationError> {
        data.map(|d| match exact::<1>("BooleanDeserializer", d)? {
            [1] => Ok(true),
            [0] => Ok(false),
            [b] => Err(SerializationError::UnexpectedBoolean(b as i8)),
        })
        .transpose()
    }
}

/// Kafka's `UUIDSerializer` and `UUIDDeserializer`: the UUID's string form in UTF-8, read back with the rules of
/// Java's `UUID.fromString`.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidSerde;

impl Serializer<Uuid> for UuidSerde {
    fn serialize(&self, _topic: &str, data: Option<&Uuid>) -> Result<Option<Vec<u8>>, SerializationError> {
        Ok(data.map(|u| u.hyphenated().to_string().into_bytes()))
    }
}

impl Deserializer<Uuid> for UuidSerde {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<Uuid>, SerializationError> {
        data.map(|d| java_uuid_from_string(&String::from_utf8_lossy(d)).ok_or(SerializationError::Uuid)).transpose()
    }
}

/// Java's `Long.parseLong(s, 16)`: an optional sign, then at least one hex digit, within the range of a long.
fn java_parse_hex_long(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for c in digits.chars() {
        let d = i64::from(c.to_digit(16)?);
        // Accumulate negatively as Java does, so i64::MIN parses and one past it does not.
        value = value.checked_mul(16)?.checked_sub(d)?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// Java's `UUID.fromString`: five dash-separated hex fields of any length up to 36 characters in all, each field
/// masked to its width (so `1-2-3-4-5` is a valid UUID there, and so here).
pub fn java_uuid_from_string(name: &str) -> Option<Uuid> {
    if name.encode_utf16().count() > 36 {
        return None;
    }
    let fields: Vec<&str> = name.split('-').collect();
    if fields.len() != 5 {
        return None;
    }
    let f: Vec<u64> = fields.iter().map(|s| java_parse_hex_long(s).map(|v| v as u64)).collect::<Option<_>>()?;
    let most = ((f[0] & 0xffff_ffff) << 32) | ((f[1] & 0xffff) << 16) | (f[2] & 0xffff);
    let least = ((f[3] & 0xffff) << 48) | (f[4] & 0xffff_ffff_ffff);
    Some(Uuid::from_u64_pair(most, least))
}

/// Kafka's `connect-json` `JsonSerializer`/`JsonDeserializer`: compact JSON text of a JSON tree.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSerde;

impl Serializer<Value> for JsonSerde {
    fn serialize(&self, _topic: &str, data: Option<&Value>) -> Result<Option<Vec<u8>>, SerializationError> {
        data.map(|v| serde_json::to_vec(v).map_err(|e| SerializationError::Json(e.to_string()))).transpose()
    }
}

impl Deserializer<Value> for JsonSerde {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<Value>, SerializationError> {
        // serde_json refuses nesting deeper than 128 levels, so hostile input cannot exhaust the stack.
        data.map(|d| serde_json::from_slice(d).map_err(|e| SerializationError::Json(e.to_string()))).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_are_big_endian_as_in_kafka() {
        assert_eq!(IntegerSerializer.serialize("t", Some(&1)).expect("ser"), Some(vec![0, 0, 0, 1]));
        assert_eq!(ShortSerializer.serialize("t", Some(&-2)).expect("ser"), Some(vec![0xff, 0xfe]));
        assert_eq!(LongSerializer.serialize("t", Some(&258)).expect("ser"), Some(vec![0, 0, 0, 0, 0, 0, 1, 2]));
        assert_eq!(FloatSerializer.serialize("t", Some(&1.5)).expect("ser"), Some(vec![0x3f, 0xc0, 0, 0]));
        assert_eq!(DoubleSerializer.serialize("t", Some(&-2.0)).expect("ser"), Some(vec![0xc0, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(IntegerDeserializer.deserialize("t", Some(&[0, 0, 1, 0])).expect("de"), Some(256));
        assert_eq!(IntegerSerializer.serialize("t", None).expect("ser"), None);
        assert_eq!(LongDeserializer.deserialize("t", None).expect("de"), None);
    }

    #[test]
    fn wrong_sizes_carry_kafkas_messages() {
        let msg = |e: SerializationError| e.to_string();
        assert_eq!(
            msg(IntegerDeserializer.deserialize("t", Some(&[1, 2, 3])).expect_err("size")),
            "Size of data received by IntegerDeserializer is not 4"
        );
        assert_eq!(
            msg(ShortDeserializer.deserialize("t", Some(&[1])).expect_err("size")),
            "Size of data received by ShortDeserializer is not 2"
        );
        assert_eq!(
            msg(LongDeserializer.deserialize("t", Some(&[])).expect_err("size")),
            "Size of data received by LongDeserializer is not 8"
        );
        assert_eq!(
            msg(DoubleDeserializer.deserialize("t", Some(&[0; 4])).expect_err("size")),
            "Size of data received by Deserializer is not 8"
        );
        assert_eq!(
            msg(BooleanSerde.deserialize("t", Some(&[2])).expect_err("byte")),
            "Unexpected byte received by BooleanDeserializer: 2"
        );
        assert_eq!(BooleanSerde.deserialize("t", Some(&[1])).expect("de"), Some(true));
    }

    #[test]
    fn strings_and_uuids() {
        assert_eq!(StringSerde.serialize("t", Some("héllo")).expect("ser"), Some("héllo".as_bytes().to_vec()));
        assert_eq!(StringSerde.deserialize("t", Some(b"a\xffb")).expect("de"), Some("a\u{fffd}b".into()));
        let u = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let bytes = UuidSerde.serialize("t", Some(&u)).expect("ser").expect("some");
        assert_eq!(bytes, b"01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(UuidSerde.deserialize("t", Some(&bytes)).expect("de"), Some(u));
        // Java's lenient forms: short fields, upper case, a sign.
        assert_eq!(
            java_uuid_from_string("1-2-3-4-5"),
            Some(Uuid::from_u128(0x0000_0001_0002_0003_0004_0000_0000_0005))
        );
        assert_eq!(java_uuid_from_string("0123456789AB-0-0-0-0").map(|u| u.as_u64_pair().0 >> 32), Some(0x4567_89ab));
        for bad in ["", "1-2-3-4", "1-2-3-4-5-6", "g-0-0-0-0", "--0-0-0", "01234567-89ab-cdef-0123-456789abcdef0"] {
            assert_eq!(java_uuid_from_string(bad), None, "{bad}");
        }
        assert_eq!(UuidSerde.deserialize("t", Some(b"nope")), Err(SerializationError::Uuid));
    }

    #[test]
    fn json_is_compact_text() {
        let v = serde_json::json!({"b": [1, 2.5, null], "a": "x"});
        let bytes = JsonSerde.serialize("t", Some(&v)).expect("ser").expect("some");
        assert_eq!(bytes, br#"{"a":"x","b":[1,2.5,null]}"#);
        assert_eq!(JsonSerde.deserialize("t", Some(&bytes)).expect("de"), Some(v));
        assert!(matches!(JsonSerde.deserialize("t", Some(b"{")), Err(SerializationError::Json(_))));
        let deep = "[".repeat(10_000);
        assert!(JsonSerde.deserialize("t", Some(deep.as_bytes())).is_err());
    }

    proptest! {
        #[test]
        fn numbers_round_trip(i in any::<i32>(), l in any::<i64>(), s in any::<i16>(), d in any::<f64>()) {
            let ib = IntegerSerializer.serialize("t", Some(&i)).expect("ser");
            prop_assert_eq!(IntegerDeserializer.deserialize("t", ib.as_deref()).expect("de"), Some(i));
            let lb = LongSerializer.serialize("t", Some(&l)).expect("ser");
            prop_assert_eq!(LongDeserializer.deserialize("t", lb.as_deref()).expect("de"), Some(l));
            let sb = ShortSerializer.serialize("t", Some(&s)).expect("ser");
            prop_assert_eq!(ShortDeserializer.deserialize("t", sb.as_deref()).expect("de"), Some(s));
            let db = DoubleSerializer.serialize("t", Some(&d)).expect("ser");
            let back = DoubleDeserializer.deserialize("t", db.as_deref()).expect("de").expect("some");
            prop_assert_eq!(back.to_bits(), d.to_bits());
        }

        #[test]
        fn uuids_round_trip(n in any::<u128>()) {
            let u = Uuid::from_u128(n);
            let b = UuidSerde.serialize("t", Some(&u)).expect("ser");
            prop_assert_eq!(UuidSerde.deserialize("t", b.as_deref()).expect("de"), Some(u));
        }
    }
}
