//! `potok_error`: a failure as core's host layer classifies it (`potok::host::HostError`) — which kind it is,
//! Kafka's numeric code and upper-case name, whether a retry can help, the message, the offending config key and
//! the failing fields of a serialization error. Strings returned by the accessors belong to the error and live
//! until `potok_error_destroy`.

use std::ffi::{c_char, CString};

use engine::host::{ErrorKind, HostError};

use crate::ffi::{c_string, quiet};

/// Which kind of failure an error is (the same classes every potok binding raises); `potok_error_kind()` reads it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum potok_error_kind_t {
    /// A broker answered with a Kafka error code (`potok_error_code`).
    POTOK_ERROR_KAFKA = 1,
    /// A deadline passed (Kafka's `TimeoutException`).
    POTOK_ERROR_TIMEOUT = 2,
    /// A config key is unknown or its value malformed (`potok_error_config_key` names it).
    POTOK_ERROR_CONFIG = 3,
    /// A broker could not be reached or the connection broke.
    POTOK_ERROR_CONNECTION = 4,
    /// A broker sent something that does not follow Kafka's protocol.
    POTOK_ERROR_PROTOCOL = 5,
    /// The client is closed.
    POTOK_ERROR_CLOSED = 6,
    /// `potok_consumer_wakeup` interrupted a blocking call.
    POTOK_ERROR_WAKEUP = 7,
    /// A value could not be serialized or deserialized.
    POTOK_ERROR_SERIALIZATION = 8,
    /// An argument the library cannot use (a NULL pointer, a malformed string).
    POTOK_ERROR_INVALID_ARGUMENT = 9,
    /// A call that does not fit the current state (a transaction call before `init_transactions`).
    POTOK_ERROR_STATE = 10,
    /// The embedded broker failed to start or stop.
    POTOK_ERROR_BROKER = 11,
    /// Anything else (including an internal error of potok).
    POTOK_ERROR_OTHER = 12,
}

/// `potok_error_code`'s answer when Kafka has no error code for the failure (a closed client, a bad argument).
pub const POTOK_ERROR_CODE_NONE: i32 = -32768;

/// A failure. Owned by the caller of the function that returned it; freed with `potok_error_destroy`.
pub struct potok_error {
    pub(crate) error: HostError,
    name: CString,
    message: CString,
    key: Option<CString>,
    paths: Vec<CString>,
    /// The schema registry's answer behind a registry serializer's failure: HTTP status (0 when none, or
    /// when the registry could not be reached) and Confluent's `error_code` (-1 when none).
    registry: (u16, i64),
}

impl std::fmt::Debug for potok_error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl potok_error {
    pub(crate) fn new(error: HostError) -> potok_error {
        potok_error {
            name: c_string(&error.name),
            message: c_string(&error.message),
            key: error.key.as_deref().map(c_string),
            paths: error.paths.iter().map(|p| c_string(p)).collect(),
            registry: (0, -1),
            error,
        }
    }

    /// An error that the schema registry answered with (`status`, Confluent's `error_code`).
    pub(crate) fn from_registry(error: HostError, status: u16, error_code: i64) -> potok_error {
        potok_error { registry: (status, error_code), ..potok_error::new(error) }
    }

    pub(crate) fn boxed(error: HostError) -> *mut potok_error {
        Box::into_raw(Box::new(potok_error::new(error)))
    }
}

fn kind(kind: ErrorKind) -> potok_error_kind_t {
    match kind {
        ErrorKind::Kafka => potok_error_kind_t::POTOK_ERROR_KAFKA,
        ErrorKind::Timeout => potok_error_kind_t::POTOK_ERROR_TIMEOUT,
        ErrorKind::Config => potok_error_kind_t::POTOK_ERROR_CONFIG,
        ErrorKind::Connection => potok_error_kind_t::POTOK_ERROR_CONNECTION,
        ErrorKind::Protocol => potok_error_kind_t::POTOK_ERROR_PROTOCOL,
        ErrorKind::Closed => potok_error_kind_t::POTOK_ERROR_CLOSED,
        ErrorKind::Wakeup => potok_error_kind_t::POTOK_ERROR_WAKEUP,
        ErrorKind::Serialization => potok_error_kind_t::POTOK_ERROR_SERIALIZATION,
        ErrorKind::InvalidArgument => potok_error_kind_t::POTOK_ERROR_INVALID_ARGUMENT,
        ErrorKind::State => potok_error_kind_t::POTOK_ERROR_STATE,
        ErrorKind::Broker => potok_error_kind_t::POTOK_ERROR_BROKER,
        _ => potok_error_kind_t::POTOK_ERROR_OTHER,
    }
}

fn with<T>(error: *const potok_error, fallback: T, read: impl FnOnce(&potok_error) -> T) -> T {
    // SAFETY: the caller passes NULL or an error this library returned and has not freed.
    match unsafe { error.as_ref() } {
        Some(e) => quiet(fallback, || read(e)),
        None => fallback,
    }
}

/// The kind of failure (`POTOK_ERROR_OTHER` for NULL).
///
/// # Safety
/// `error` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn potok_error_kind(error: *const potok_error) -> potok_error_kind_t {
    with(error, potok_error_kind_t::POTOK_ERROR_OTHER, |e| kind(e.error.kind))
}

/// Kafka's numeric error code (`3` for UNKNOWN_TOPIC_OR_PARTITION, `7` for a timeout, `40` for a config error),
/// or `POTOK_ERROR_CODE_NONE` when Kafka has none for this failure.
///
/// # Safety
/// `error` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn potok_error_code(error: *const potok_error) -> i32 {
    with(error, POTOK_ERROR_CODE_NONE, |e| e.error.code.map_or(POTOK_ERROR_CODE_NONE, i32::from))
}

/// Kafka's upper-case name of the error (`UNKNOWN_TOPIC_OR_PARTITION`), or the client's name for a client-side
/// failure (`ILLEGAL_STATE`, `INVALID_ARGUMENT`). Owned by the error. NULL for a NULL error.
///
/// # Safety
/// `error` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn potok_error_name(error: *const potok_error) -> *const c_char {
    with(error, std::ptr::null(), |e| e.name.as_ptr())
}

/// The whole message (`UNKNOWN_TOPIC_OR_PARTITION (3): ...`). Owned by the error. NULL for a NULL error.
///
/// # Safety
/// `error` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn potok_error_message(error: *const potok_error) -> *const c_char {
    with(error, std::ptr::null(), |e| e.message.as_ptr())
}

/// Whether Kafka classifies the failure as retriable (a retry may succeed).
///
/// # Safety
/// `error` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn potok_error_retriable(error: *const potok_error) -> bool {
    with(error, false, |e| e.error.retriable)
}

/// The config key a `POTOK_ERROR_CONFIG` error is about, otherwise NULL. Owned by the error.
///
/// # Safety
/// `error` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn potok_error_config_key(error: *const potok_error) -> *const c_char {
    with(error, std::ptr::null(), |e| e.key.as_ref().map_or(std::ptr::null(), |k| k.as_ptr()))
}

/// How many failing fields (JSON Pointers) a `POTOK_ERROR_SERIALIZATION` error names.
///
/// # Safety
/// `error` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn potok_error_path_count(error: *const potok_error) -> usize {
    with(error, 0, |e| e.paths.len())
}

/// The `index`th failing field (`/CustomerType`), NULL when out of range. Owned by the error.
///
/// # Safety
/// `error` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn potok_error_path(error: *const potok_error, index: usize) -> *const c_char {
    with(error, std::ptr::null(), |e| e.paths.get(index).map_or(std::ptr::null(), |p| p.as_ptr()))
}

/// For a failure the schema registry answered (a registry serializer's register or lookup refused): the HTTP
/// status (409 for an incompatible schema, 404, 422...); 0 for any other error.
///
/// # Safety
/// `error` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn potok_error_registry_status(error: *const potok_error) -> i32 {
    with(error, 0, |e| i32::from(e.registry.0))
}

/// For a failure the schema registry answered: Confluent's `error_code` (40401 subject not found, 40901
/// incompatible, 42201 invalid schema...); -1 for any other error or an answer without one.
///
/// # Safety
/// `error` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn potok_error_registry_code(error: *const potok_error) -> i64 {
    with(error, -1, |e| e.registry.1)
}

/// Frees an error. NULL is ignored.
///
/// # Safety
/// `error` is NULL or an error returned by this library, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn potok_error_destroy(error: *mut potok_error) {
    if !error.is_null() {
        // SAFETY: made by `Box::into_raw` in `potok_error::boxed`, freed once, as the caller guarantees.
        quiet((), || drop(unsafe { Box::from_raw(error) }));
    }
}
