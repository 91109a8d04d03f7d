//! Turns engine errors into the typed exceptions of `potok.errors` (a pure-Python module, so the tree can be
//! subclassed, pickled and documented like any Python exception hierarchy).
//!
//! Which failure is which (kind, Kafka code and name, librdkafka's local code, retriable, field paths) is
//! decided once in core (`potok::host::error`); this module only builds the exception: `potok.errors._from_native`
//! picks the class by the kind's name, or by the Kafka code for broker errors. Python sees librdkafka's codes
//! (`_TIMED_OUT` -185, ...) for errors that never crossed the wire, as confluent-kafka users expect.

use potok::client::ClientError;
use potok::host::{ErrorKind, HostError, SerdeSide};
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;

/// Kafka's name and retriable flag for a protocol error code, from core's one table (`potok.errors` takes the
/// retriable defaults of its exception classes from here).
#[pyfunction]
pub fn kafka_error_info(code: i16) -> (String, bool) {
    potok::host::error::kafka_error(code)
}

/// The exception instance for one classified error.
pub fn exception<'py>(py: Python<'py>, error: &HostError) -> PyResult<Bound<'py, PyAny>> {
    // Kafka errors are classified by their code on the Python side; an empty kind says so.
    let kind = if error.kind == ErrorKind::Kafka { "" } else { error.kind.as_str() };
    let args = (kind, error.local_code, error.local_name.as_str(), error.text.as_str(), error.retriable);
    let exception = py.import("potok.errors")?.getattr("_from_native")?.call1(args)?;
    if error.kind == ErrorKind::Serialization {
        exception.setattr("field_paths", pyo3::types::PyTuple::new(py, &error.paths)?)?;
    }
    Ok(exception)
}

/// A classified error, ready to raise.
pub fn raise(py: Python<'_>, error: &HostError) -> PyErr {
    match exception(py, error) {
        Ok(exception) => PyErr::from_value(exception),
        // Only reachable when `_native` is imported outside its package; still say what went wrong.
        Err(_) => PyRuntimeError::new_err(format!("{} ({}): {}", error.local_name, error.local_code, error.text)),
    }
}

/// A client error as the matching `potok.errors` exception, ready to raise.
pub fn client_error(py: Python<'_>, error: &ClientError) -> PyErr {
    raise(py, &HostError::from(error))
}

/// A client error as an exception instance (for per-item results and delivery reports, which carry errors
/// rather than raise them).
pub fn client_exception<'py>(py: Python<'py>, error: &ClientError) -> PyResult<Bound<'py, PyAny>> {
    exception(py, &HostError::from(error))
}

/// A broker configuration key that is unknown or has a bad value (`potok.errors.KafkaConfigError`).
pub fn config_error(py: Python<'_>, error: &HostError) -> PyErr {
    raise(py, error)
}

/// A value that could not be serialized or deserialized (`potok.errors.SerializationError`), with librdkafka's
/// code for the key or value side and the JSON Pointers of the failing fields as `field_paths`.
pub fn serialization_error(py: Python<'_>, message: &str, paths: Vec<String>, key: bool, deserializing: bool) -> PyErr {
    raise(py, &HostError::serialization(message, paths, SerdeSide { key, deserializing }))
}

/// The embedded broker could not start or stop.
pub fn server_error(py: Python<'_>, error: potok::net::ServerError) -> PyErr {
    match error {
        // Binding a socket and reading the log directory fail like any Python socket or file call would.
        potok::net::ServerError::Bind { address, source } => os_error(py, &source, Some(&address)),
        potok::net::ServerError::Io(source) => os_error(py, &source, None),
        other => raise(py, &HostError::from(&other)),
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
