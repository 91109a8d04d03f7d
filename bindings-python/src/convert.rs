//! Conversions between Python values and the engine's types, shared by the client classes.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use potok::client::cluster::ConnectionFailure;
use potok::client::{ClientError, TopicPartition};
use pyo3::prelude::*;

/// The most connection failures kept for `error_cb` between two polls; older ones are dropped first.
const CONNECTION_ERRORS_MAX: usize = 100;

/// Connection failures the engine reported (on its IO threads), waiting for the public layer to hand them to
/// `error_cb` from `poll()`, on the polling thread, as confluent-kafka does.
#[derive(Debug, Default, Clone)]
pub struct ConnectionErrors(Arc<Mutex<VecDeque<ClientError>>>);

impl ConnectionErrors {
    /// The listener to give the engine client.
    pub fn listener(&self) -> impl Fn(&ConnectionFailure) + Send + Sync + 'static {
        let queue = self.0.clone();
        move |failure| {
            let mut queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.len() == CONNECTION_ERRORS_MAX {
                queue.pop_front();
            }
            queue.push_back(failure.error.clone());
        }
    }

    /// The failures reported since the last call, as exceptions (`KafkaConnectionError` for `_TRANSPORT`).
    pub fn take<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let taken: Vec<ClientError> = self.0.lock().unwrap_or_else(PoisonError::into_inner).drain(..).collect();
        taken.iter().map(|e| crate::errors::client_exception(py, e)).collect()
    }
}

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

pub fn topic_partitions(items: Vec<(String, i32)>) -> Vec<TopicPartition> {
    items.into_iter().map(|(topic, partition)| TopicPartition::new(topic, partition)).collect()
}

/// Releases the GIL around a blocking engine call and raises its error as a typed exception.
pub fn blocking<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, ClientError> + Send) -> PyResult<T> {
    py.detach(f).map_err(|e| crate::errors::client_error(py, &e))
}
