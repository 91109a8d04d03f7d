//! Conversions between Python values and the engine's types, shared by the client classes.

use std::time::Duration;

use bytes::Bytes;
use potok::client::{ClientError, TopicPartition};
use pyo3::prelude::*;

/// A timeout in seconds as Python passes it: `None` or a negative number waits without limit (confluent-kafka
/// uses -1 for that), anything else is capped at a day so a huge float cannot overflow a deadline.
pub fn timeout(seconds: Option<f64>) -> Option<Duration> {
    const MAX_SECONDS: f64 = 86_400.0;
    match seconds {
        Some(s) if s >= 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s.min(MAX_SECONDS))),
        Some(s) if s.is_finite() => None,
        Some(_) | None => None,
    }
}

/// Bytes handed in by Python, copied once: the engine keeps records after the call returns.
pub fn bytes(value: Option<&[u8]>) -> Option<Bytes> {
    value.map(Bytes::copy_from_slice)
}

pub fn topic_partitions(items: Vec<(String, i32)>) -> Vec<TopicPartition> {
    items.into_iter().map(|(topic, partition)| TopicPartition::new(topic, partition)).collect()
}

/// Releases the GIL around a blocking engine call and raises its error as a typed exception.
pub fn blocking<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, ClientError> + Send) -> PyResult<T> {
    py.detach(f).map_err(|e| crate::errors::client_error(py, &e))
}
