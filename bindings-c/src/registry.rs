//! `potok_registry_serializer` / `potok_registry_deserializer`: core's registry-aware Avro and JSON Schema
//! serializers (`potok::serde::registry`) behind plain C types. Values cross as JSON text (Avro `bytes` and
//! `fixed` as strings of code points U+0000..U+00FF, Avro's JSON convention); the bytes written are the
//! Confluent wire format (magic byte 0, the schema id as 4 bytes big-endian, the payload), as Confluent's
//! `KafkaAvroSerializer` and `KafkaJsonSchemaSerializer` write them.
//!
//! A failure the registry answered (an incompatible schema on auto-registration, an unknown subject on a
//! lookup) is a `POTOK_ERROR_SERIALIZATION` error whose `potok_error_registry_status` and
//! `potok_error_registry_code` give the HTTP status and Confluent's `error_code`.

use std::ffi::c_char;
use std::sync::Arc;

use engine::host::serde::serialization;
use engine::host::{HostError, SerdeSide};
use engine::serde::registry::{RegistryDeserializer, RegistrySerdeConfig, RegistrySerializer, SchemaRegistryClient};
use engine::serde::{SerializationError, Serializer};

use crate::error::potok_error;
use crate::ffi::{bytes_arg, check_out, config_arg, guard, handle, opt_str_arg, owned_string, str_arg, write_out};

/// The most bytes one serialized value or one JSON text may take (Kafka's default `message.max.bytes` is
/// about 1 MiB; this leaves room for brokers configured larger).
pub const POTOK_REGISTRY_VALUE_MAX_BYTES: usize = 64 * 1024 * 1024;

/// A registry-aware serializer (`schema_type` AVRO or JSON). May be used from any thread at once.
pub struct potok_registry_serializer {
    inner: RegistrySerializer,
    side: SerdeSide,
}

/// A registry-aware deserializer (`schema_type` AVRO or JSON). May be used from any thread at once.
pub struct potok_registry_deserializer {
    inner: RegistryDeserializer,
    side: SerdeSide,
}

impl std::fmt::Debug for potok_registry_serializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::fmt::Debug for potok_registry_deserializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// Runs `body` like [`guard`], keeping the registry's status and error code of a serializer's failure.
fn guard_serde(side: SerdeSide, body: impl FnOnce() -> Result<(), SerializationError>) -> *mut potok_error {
    let mut answered = None;
    let error = guard(|| {
        body().map_err(|e| {
            if let SerializationError::Registry { status, error_code, .. } = &e {
                if *status != 0 {
                    answered = Some((*status, *error_code));
                }
            }
            serialization(&e, side)
        })
    });
    match answered {
        Some((status, code)) if !error.is_null() => {
            // SAFETY: `error` was just made by `guard` with `Box::into_raw` and is ours; it is replaced once.
            let boxed = unsafe { Box::from_raw(error) };
            Box::into_raw(Box::new(potok_error::from_registry(boxed.error.clone(), status, code)))
        }
        _ => error,
    }
}

fn schema_type_arg(schema_type: &str) -> Result<&'static str, HostError> {
    match schema_type.to_ascii_uppercase().as_str() {
        "AVRO" => Ok("AVRO"),
        "JSON" => Ok("JSON"),
        other => Err(HostError::invalid_argument(format!("schema type {other} is not supported (AVRO or JSON)"))),
    }
}

fn client(url: &str) -> Result<Arc<SchemaRegistryClient>, SerializationError> {
    Ok(Arc::new(SchemaRegistryClient::new(url)?))
}

/// Makes a serializer writing values with a schema registered at the registry `url` (`http://host:port`,
/// comma-separated for several) under the subject `<topic>-key` or `<topic>-value` (`is_key`).
/// `schema_type` is "AVRO" or "JSON"; `schema` is the writer schema's text, or NULL with
/// `use.latest.version=true`. `config` takes Confluent's serializer keys: `auto.register.schemas` (default true),
/// `use.latest.version` (default false), `normalize.schemas` (default false); an unknown key is refused.
/// On success `*out` is a serializer to free with `potok_registry_serializer_destroy`.
///
/// # Safety
/// `url` and `schema_type` are NUL-terminated strings, `schema` NULL or one; `config` is NULL or a
/// NULL-terminated list of NUL-terminated strings; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_registry_serializer_new(
    url: *const c_char,
    schema_type: *const c_char,
    schema: *const c_char,
    is_key: bool,
    config: *const *const c_char,
    out: *mut *mut potok_registry_serializer,
) -> *mut potok_error {
    let side = SerdeSide { key: is_key, deserializing: false };
    let mut args = None;
    let error = guard(|| {
        check_out(out, "out")?;
        // SAFETY (all four): as the caller guarantees.
        let url = unsafe { str_arg(url, "url") }?;
        let schema_type = schema_type_arg(unsafe { str_arg(schema_type, "schema_type") }?)?;
        let schema = unsafe { opt_str_arg(schema, "schema") }?;
        let pairs = unsafe { config_arg(config) }?;
        args = Some((url, schema_type, schema, pairs));
        Ok(())
    });
    let Some((url, schema_type, schema, pairs)) = args else { return error };
    // Bad config and a schema that does not parse are serialization errors, as Confluent's serializers throw.
    let mut made = None;
    let error = guard_serde(side, || {
        let config = RegistrySerdeConfig::from_pairs(&pairs)?;
        made = Some(RegistrySerializer::new(client(url)?, schema_type, schema, is_key, config)?);
        Ok(())
    });
    let Some(inner) = made else { return error };
    guard(|| {
        let serializer = Box::new(potok_registry_serializer { inner, side });
        // SAFETY: checked non-NULL above; writable as the caller guarantees.
        unsafe { write_out(out, Box::into_raw(serializer), "out") }
    })
}

/// Serializes one value given as JSON text for `topic`: registers (or looks up, or takes the subject's latest)
/// the schema on first use, checks the value against it and writes the Confluent wire format. On success
/// `*out_data` / `*out_len` are the bytes, freed with `potok_bytes_free`. A value that does not fit the schema
/// is a `POTOK_ERROR_SERIALIZATION` error with the failing fields (`potok_error_path`); a registry refusal also
/// has `potok_error_registry_status` / `potok_error_registry_code`.
///
/// # Safety
/// `serializer` is a live serializer; `topic` and `json` are NUL-terminated strings; the out parameters are
/// valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_registry_serializer_serialize(
    serializer: *const potok_registry_serializer,
    topic: *const c_char,
    json: *const c_char,
    out_data: *mut *mut u8,
    out_len: *mut usize,
) -> *mut potok_error {
    let mut args = None;
    let error = guard(|| {
        check_out(out_data, "out_data")?;
        check_out(out_len, "out_len")?;
        // SAFETY (all three): as the caller guarantees.
        let serializer = unsafe { handle(serializer, "serializer") }?;
        args = Some((serializer, unsafe { str_arg(topic, "topic") }?, unsafe { str_arg(json, "json") }?));
        Ok(())
    });
    let Some((serializer, topic, json)) = args else { return error };
    guard_serde(serializer.side, || {
        if json.len() > POTOK_REGISTRY_VALUE_MAX_BYTES {
            return Err(SerializationError::registry(format!(
                "a value of {} bytes is over the limit of {POTOK_REGISTRY_VALUE_MAX_BYTES}",
                json.len()
            )));
        }
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| SerializationError::Json(e.to_string()))?;
        let bytes = serializer.inner.serialize(topic, Some(&value))?.unwrap_or_default();
        let (data, len) = owned_bytes(bytes);
        // SAFETY: both checked non-NULL above and writable as the caller guarantees.
        unsafe {
            out_data.write(data);
            out_len.write(len);
        }
        Ok(())
    })
}

/// Frees a serializer. NULL is ignored.
///
/// # Safety
/// `serializer` is NULL or from `potok_registry_serializer_new`, not freed yet, with no other call on it running.
#[no_mangle]
pub unsafe extern "C" fn potok_registry_serializer_destroy(serializer: *mut potok_registry_serializer) {
    if !serializer.is_null() {
        // SAFETY: made by `Box::into_raw` in `potok_registry_serializer_new`, handed back once.
        crate::ffi::quiet((), || drop(unsafe { Box::from_raw(serializer) }));
    }
}

/// Makes a deserializer reading values in the Confluent wire format: it fetches (and caches) the writer's
/// schema by the id in the frame from the registry at `url` and decodes with it. `schema_type` is "AVRO" or
/// "JSON" (a frame whose schema is of the other type is refused). `*out` is freed with
/// `potok_registry_deserializer_destroy`.
///
/// # Safety
/// `url` and `schema_type` are NUL-terminated strings; `out` is valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_registry_deserializer_new(
    url: *const c_char,
    schema_type: *const c_char,
    is_key: bool,
    out: *mut *mut potok_registry_deserializer,
) -> *mut potok_error {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: as the caller guarantees.
        let url = unsafe { str_arg(url, "url") }?;
        // SAFETY: as the caller guarantees.
        let schema_type = schema_type_arg(unsafe { str_arg(schema_type, "schema_type") }?)?;
        let side = SerdeSide { key: is_key, deserializing: true };
        let client = client(url).map_err(|e| serialization(&e, side))?;
        let inner = RegistryDeserializer::new(client, schema_type);
        let deserializer = Box::new(potok_registry_deserializer { inner, side });
        // SAFETY: checked non-NULL above; writable as the caller guarantees.
        unsafe { write_out(out, Box::into_raw(deserializer), "out") }
    })
}

/// Deserializes `len` bytes at `data` (the Confluent wire format). On success `*out_json` is the value as JSON
/// text (free with `potok_string_free`) and `*out_schema_id` the writer's schema id.
///
/// # Safety
/// `deserializer` is a live deserializer; `data` is valid for reading `len` bytes; the out parameters are
/// valid for writing.
#[no_mangle]
pub unsafe extern "C" fn potok_registry_deserializer_deserialize(
    deserializer: *const potok_registry_deserializer,
    data: *const u8,
    len: usize,
    out_json: *mut *mut c_char,
    out_schema_id: *mut i32,
) -> *mut potok_error {
    let mut args = None;
    let error = guard(|| {
        check_out(out_json, "out_json")?;
        check_out(out_schema_id, "out_schema_id")?;
        // SAFETY (both): as the caller guarantees.
        args = Some((unsafe { handle(deserializer, "deserializer") }?, unsafe { bytes_arg(data, len, "data") }?));
        Ok(())
    });
    let Some((deserializer, bytes)) = args else { return error };
    guard_serde(deserializer.side, || {
        let (id, value) = deserializer.inner.deserialize_with_id(bytes)?;
        // SAFETY: both checked non-NULL above and writable as the caller guarantees.
        unsafe {
            out_json.write(owned_string(&value.to_string()));
            out_schema_id.write(id);
        }
        Ok(())
    })
}

/// Frees a deserializer. NULL is ignored.
///
/// # Safety
/// `deserializer` is NULL or from `potok_registry_deserializer_new`, not freed yet, with no other call on it
/// running.
#[no_mangle]
pub unsafe extern "C" fn potok_registry_deserializer_destroy(deserializer: *mut potok_registry_deserializer) {
    if !deserializer.is_null() {
        // SAFETY: made by `Box::into_raw` in `potok_registry_deserializer_new`, handed back once.
        crate::ffi::quiet((), || drop(unsafe { Box::from_raw(deserializer) }));
    }
}

/// Bytes handed to the caller: a boxed slice's pointer and length, freed by `potok_bytes_free`.
fn owned_bytes(bytes: Vec<u8>) -> (*mut u8, usize) {
    let boxed = bytes.into_boxed_slice();
    let len = boxed.len();
    (Box::into_raw(boxed).cast::<u8>(), len)
}

/// Frees bytes the library returned (`potok_registry_serializer_serialize`), with the length it returned.
/// NULL is ignored.
///
/// # Safety
/// `data` is NULL or bytes returned by this library with this `len`, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn potok_bytes_free(data: *mut u8, len: usize) {
    if !data.is_null() {
        // SAFETY: made by `owned_bytes` from a boxed slice of `len` bytes, freed once, as the caller guarantees.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, len)) });
    }
}
