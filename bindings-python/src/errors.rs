//! Turns engine errors into the typed exceptions of `potok.errors` (a pure-Python module, so the tree can be
//! subclassed, pickled and documented like any Python exception hierarchy).
//!
//! Kafka errors carry their protocol code and upper-case name; errors that never crossed the wire use
//! librdkafka's negative local codes (`_TIMED_OUT`, `_INVALID_ARG`, ...), because that is what a
//! confluent-kafka user already compares `code` against.

use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;

/// librdkafka's local error codes used for errors that have no Kafka protocol code.
pub mod local {
    pub const FAIL: i32 = -196;
    pub const INVALID_ARG: i32 = -186;
}

/// Builds the exception `potok.errors` registers for `code`/`name` (a subclass when one exists).
pub fn kafka_exception(py: Python<'_>, code: i32, name: &str, message: &str, retriable: bool) -> PyErr {
    let built = py
        .import("potok.errors")
        .and_then(|errors| errors.getattr("_from_native"))
        .and_then(|from_native| from_native.call1((code, name, message, retriable)));
    match built {
        Ok(exception) => PyErr::from_value(exception),
        // Only reachable when `_native` is imported outside its package; still say what went wrong.
        Err(_) => PyRuntimeError::new_err(format!("{name} ({code}): {message}")),
    }
}

/// A configuration key that is unknown or has a bad value (`potok.errors.KafkaConfigError`).
pub fn config_error(py: Python<'_>, message: &str) -> PyErr {
    kafka_exception(py, local::INVALID_ARG, "_INVALID_ARG", message, false)
}

/// The embedded broker could not start or stop.
pub fn server_error(py: Python<'_>, error: potok::net::ServerError) -> PyErr {
    match error {
        // Binding a socket and reading the log directory fail like any Python socket or file call would.
        potok::net::ServerError::Bind { address, source } => os_error(py, &source, Some(&address)),
        potok::net::ServerError::Io(source) => os_error(py, &source, None),
        other => kafka_exception(py, local::FAIL, "_FAIL", &other.to_string(), false),
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
