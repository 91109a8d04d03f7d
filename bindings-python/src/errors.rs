//! Turns engine errors into the typed exceptions of `potok.errors` (a pure-Python module, so the tree can be
//! subclassed, pickled and documented like any Python exception hierarchy).
//!
//! Kafka errors carry their protocol code and upper-case name; errors that never crossed the wire use
//! librdkafka's negative local codes (`_TIMED_OUT`, `_INVALID_ARG`, ...), because that is what a
//! confluent-kafka user already compares `code` against. Which Python class a client-side error becomes is
//! decided here, by the engine's error variant, and named to `potok.errors._from_native` by a short kind.

use potok::client::ClientError;
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;

/// librdkafka's local error codes used for errors that have no Kafka protocol code.
mod local {
    pub const BAD_MSG: i32 = -199;
    pub const DESTROY: i32 = -197;
    pub const FAIL: i32 = -196;
    pub const TRANSPORT: i32 = -195;
    pub const INVALID_ARG: i32 = -186;
    pub const QUEUE_FULL: i32 = -184;
    pub const TIMED_OUT: i32 = -185;
    pub const STATE: i32 = -172;
    pub const KEY_SERIALIZATION: i32 = -162;
    pub const VALUE_SERIALIZATION: i32 = -161;
    pub const KEY_DESERIALIZATION: i32 = -160;
    pub const VALUE_DESERIALIZATION: i32 = -159;
    pub const INTR: i32 = -141;
}

/// The exception instance for one error: `kind` picks a local class ("" looks the Kafka `code` up).
fn exception<'py>(
    py: Python<'py>,
    kind: &str,
    code: i32,
    name: &str,
    message: &str,
    retriable: bool,
) -> PyResult<Bound<'py, PyAny>> {
    py.import("potok.errors")?.getattr("_from_native")?.call1((kind, code, name, message, retriable))
}

fn raise(py: Python<'_>, kind: &str, code: i32, name: &str, message: &str, retriable: bool) -> PyErr {
    match exception(py, kind, code, name, message, retriable) {
        Ok(exception) => PyErr::from_value(exception),
        // Only reachable when `_native` is imported outside its package; still say what went wrong.
        Err(_) => PyRuntimeError::new_err(format!("{name} ({code}): {message}")),
    }
}

/// The pieces `potok.errors._from_native` takes for a client error.
fn parts(error: &ClientError) -> (&'static str, i32, String, String, bool) {
    let message = error.to_string();
    match error {
        ClientError::Kafka { code, name, message: detail } => {
            let text = detail.clone().unwrap_or_else(|| name.clone());
            ("", i32::from(*code), name.clone(), text, error.is_retriable())
        }
        ClientError::Timeout(_) => ("timeout", local::TIMED_OUT, "_TIMED_OUT".into(), message, true),
        ClientError::Config { .. } => ("config", local::INVALID_ARG, "_INVALID_ARG".into(), message, false),
        ClientError::Io(_) => ("connection", local::TRANSPORT, "_TRANSPORT".into(), message, true),
        ClientError::Protocol(_) => ("protocol", local::BAD_MSG, "_BAD_MSG".into(), message, false),
        ClientError::Closed => ("closed", local::DESTROY, "_DESTROY".into(), message, false),
        ClientError::Wakeup => ("wakeup", local::INTR, "_INTR".into(), message, false),
        ClientError::Serialization(_) => {
            ("serialization", local::VALUE_SERIALIZATION, "_VALUE_SERIALIZATION".into(), message, false)
        }
        ClientError::InvalidArgument(_) => {
            ("invalid_argument", local::INVALID_ARG, "_INVALID_ARG".into(), message, false)
        }
        ClientError::IllegalState(_) => ("state", local::STATE, "_STATE".into(), message, false),
        ClientError::BufferFull(_) => ("", local::QUEUE_FULL, "_QUEUE_FULL".into(), message, true),
        // The engine's error enum is non-exhaustive: a new variant still arrives typed, as a generic failure.
        _ => ("", local::FAIL, "_FAIL".into(), message, error.is_retriable()),
    }
}

/// A client error as the matching `potok.errors` exception, ready to raise.
pub fn client_error(py: Python<'_>, error: &ClientError) -> PyErr {
    let (kind, code, name, message, retriable) = parts(error);
    raise(py, kind, code, &name, &message, retriable)
}

/// A client error as an exception instance (for per-item results and delivery reports, which carry errors
/// rather than raise them).
pub fn client_exception<'py>(py: Python<'py>, error: &ClientError) -> PyResult<Bound<'py, PyAny>> {
    let (kind, code, name, message, retriable) = parts(error);
    exception(py, kind, code, &name, &message, retriable)
}

/// A configuration key that is unknown or has a bad value (`potok.errors.KafkaConfigError`).
pub fn config_error(py: Python<'_>, message: &str) -> PyErr {
    raise(py, "config", local::INVALID_ARG, "_INVALID_ARG", message, false)
}

/// An argument the binding cannot use (`potok.errors.InvalidArgumentError`), e.g. a schema that does not parse.
pub fn invalid_argument(py: Python<'_>, message: &str) -> PyErr {
    raise(py, "invalid_argument", local::INVALID_ARG, "_INVALID_ARG", message, false)
}

/// A value that could not be serialized or deserialized (`potok.errors.SerializationError`), with librdkafka's
/// code for the key or value side and the JSON Pointers of the failing fields as `field_paths`.
pub fn serialization_error(py: Python<'_>, message: &str, paths: Vec<String>, key: bool, deserializing: bool) -> PyErr {
    let (code, name) = match (key, deserializing) {
        (true, false) => (local::KEY_SERIALIZATION, "_KEY_SERIALIZATION"),
        (false, false) => (local::VALUE_SERIALIZATION, "_VALUE_SERIALIZATION"),
        (true, true) => (local::KEY_DESERIALIZATION, "_KEY_DESERIALIZATION"),
        (false, true) => (local::VALUE_DESERIALIZATION, "_VALUE_DESERIALIZATION"),
    };
    let built = exception(py, "serialization", code, name, message, false).and_then(|exception| {
        exception.setattr("field_paths", pyo3::types::PyTuple::new(py, paths)?).map(|()| exception)
    });
    match built {
        Ok(exception) => PyErr::from_value(exception),
        Err(_) => PyRuntimeError::new_err(format!("{name} ({code}): {message}")),
    }
}

/// The embedded broker could not start or stop.
pub fn server_error(py: Python<'_>, error: potok::net::ServerError) -> PyErr {
    match error {
        // Binding a socket and reading the log directory fail like any Python socket or file call would.
        potok::net::ServerError::Bind { address, source } => os_error(py, &source, Some(&address)),
        potok::net::ServerError::Io(source) => os_error(py, &source, None),
        other => raise(py, "", local::FAIL, "_FAIL", &other.to_string(), false),
    }
}

/// An `OSError` as Python's own socket and file calls raise it: `errno`, `strerror` and, for a bind, the
/// address in the `filename` slot (`[Errno 98] Address already in use: '127.0.0.1:9092'`).
fn os_error(py: Python<'_>, source: &std::io::Error, address: Option<&str>) -> PyErr {
    let Some(errno) = source.raw_os_error() else {
        return PyOSError::new_err(source.to_string());
    };
    let strerror = py
        .import("os")
        .and_then(|os| os.call_method1("strerror", (errno,)))
        .and_then(|s| s.extract::<String>())
        .unwrap_or_else(|_| source.to_string());
    match address {
        Some(address) => PyOSError::new_err((errno, strerror, address.to_string())),
        None => PyOSError::new_err((errno, strerror)),
    }
}
