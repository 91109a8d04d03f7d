//! `Producer`: potok's Kafka producer (`potok::client::producer`) for Python.
//!
//! Delivery reports follow confluent-kafka's model: the engine completes each record on a client IO thread,
//! which only queues the outcome here; `poll()` and `flush()` hand the queued reports to Python on the
//! caller's thread, where the public layer runs the `on_delivery` callbacks. Records sent without a callback
//! are only counted, so a million fire-and-forget records keep no per-record state in the binding. `send`
//! never blocks (the engine's `try_send`, librdkafka's model): a full buffer raises `BufferError`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use potok::client::producer::{ConsumerGroupMetadata, Producer as EngineProducer, ProducerRecord, RecordMetadata};
use potok::client::{ClientError, OffsetAndMetadata, TopicPartition};
use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::{self, blocking, ConnectionErrors};
use crate::errors;

/// The most delivery reports one `poll()` returns; the rest wait for the next call, as in librdkafka.
const REPORTS_PER_POLL_MAX: usize = 10_000;

/// Outcomes of records sent with a callback token, waiting for `poll()`, and the count of records in flight.
#[derive(Debug, Default)]
struct Reports {
    queue: Mutex<VecDeque<(u64, Result<RecordMetadata, ClientError>)>>,
    ready: Condvar,
    in_flight: AtomicUsize,
}

impl Reports {
    fn complete(&self, token: Option<u64>, result: Result<RecordMetadata, ClientError>) {
        if let Some(token) = token {
            self.queue.lock().unwrap_or_else(PoisonError::into_inner).push_back((token, result));
        }
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.ready.notify_all();
    }

    /// Waits up to `timeout` for a report (none: forever), then takes at most `REPORTS_PER_POLL_MAX`.
    fn take(&self, timeout: Option<Duration>) -> Vec<(u64, Result<RecordMetadata, ClientError>)> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        while queue.is_empty() {
            let wait = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => break,
                },
                // Waking up now and then keeps an unbounded poll interruptible by Ctrl-C between waits.
                None => Duration::from_millis(100),
            };
            queue = self.ready.wait_timeout(queue, wait).unwrap_or_else(PoisonError::into_inner).0;
        }
        let n = queue.len().min(REPORTS_PER_POLL_MAX);
        queue.drain(..n).collect()
    }
}

/// A consumer's group membership (`Consumer.consumer_group_metadata()`), for `send_offsets_to_transaction`.
#[pyclass(module = "potok._native", frozen)]
#[derive(Debug)]
pub struct GroupMetadata {
    pub inner: ConsumerGroupMetadata,
}

/// A Kafka producer configured by Kafka config pairs.
#[pyclass(module = "potok._native", frozen)]
#[derive(Debug)]
pub struct Producer {
    inner: EngineProducer,
    reports: Arc<Reports>,
    connection_errors: ConnectionErrors,
}

type Headers = Vec<(String, Option<Vec<u8>>)>;

#[pymethods]
impl Producer {
    #[new]
    fn new(py: Python<'_>, config: Vec<(String, String)>) -> PyResult<Self> {
        let inner = blocking(py, || EngineProducer::new(&config))?;
        let connection_errors = ConnectionErrors::default();
        inner.set_connection_listener(connection_errors.listener());
        Ok(Producer { inner, reports: Arc::default(), connection_errors })
    }

    /// Queues one record without blocking. `token` asks for a delivery report from `poll()` under that number.
    /// A record for a topic whose metadata is not known yet waits in the engine; a full `buffer.memory` raises
    /// `BufferError`, as confluent-kafka's queue limit does.
    #[pyo3(signature = (topic, value=None, key=None, partition=None, timestamp=None, headers=None, token=None))]
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        py: Python<'_>,
        topic: String,
        value: Option<&[u8]>,
        key: Option<&[u8]>,
        partition: Option<i32>,
        timestamp: Option<i64>,
        headers: Option<Headers>,
        token: Option<u64>,
    ) -> PyResult<()> {
        let record = ProducerRecord {
            topic,
            partition,
            key: convert::bytes(key),
            value: convert::bytes(value),
            timestamp,
            headers: headers.unwrap_or_default().into_iter().map(|(k, v)| (k, v.map(bytes::Bytes::from))).collect(),
        };
        let reports = self.reports.clone();
        self.reports.in_flight.fetch_add(1, Ordering::AcqRel);
        let sent = self.inner.try_send_with_callback(record, move |result| reports.complete(token, result));
        sent.map_err(|e| {
            self.reports.in_flight.fetch_sub(1, Ordering::AcqRel);
            match e {
                ClientError::BufferFull(_) => PyBufferError::new_err(format!("Local: Queue full ({e})")),
                e => errors::client_error(py, &e),
            }
        })
    }

    /// Connection failures since the last call (for `error_cb`).
    fn connection_errors<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.connection_errors.take(py)
    }

    /// Waits up to `timeout` seconds (None: forever) for delivery reports and returns them as
    /// `(token, topic, partition, offset, timestamp, error)` tuples, `error` an exception or None.
    #[pyo3(signature = (timeout=None))]
    fn poll<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let timeout = convert::timeout(timeout);
        let taken = py.detach(|| self.reports.take(timeout));
        taken
            .into_iter()
            .map(|(token, result)| {
                let tuple = match result {
                    Ok(m) => (token, m.topic, m.partition, m.offset, m.timestamp, py.None().into_bound(py)),
                    Err(e) => (token, String::new(), -1, -1, -1, errors::client_exception(py, &e)?),
                };
                tuple.into_pyobject(py)
            })
            .collect()
    }

    /// Records sent and not yet acknowledged or failed.
    #[getter]
    fn in_flight(&self) -> usize {
        self.reports.in_flight.load(Ordering::Acquire)
    }

    /// Sends what is queued and waits up to `timeout` seconds for every record sent so far; returns how many
    /// are still in flight (0 when all completed).
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<usize> {
        match py.detach(|| self.inner.flush(convert::timeout(timeout))) {
            Ok(()) | Err(ClientError::Timeout(_)) => Ok(self.in_flight()),
            Err(e) => Err(errors::client_error(py, &e)),
        }
    }

    /// The partition indexes of `topic` (waiting up to `max.block.ms` for its metadata).
    fn partitions_for(&self, py: Python<'_>, topic: String) -> PyResult<Vec<i32>> {
        let partitions = blocking(py, || self.inner.partitions_for(&topic))?;
        Ok(partitions.into_iter().map(|p| p.partition).collect())
    }

    #[pyo3(signature = (timeout=None))]
    fn close(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        blocking(py, || self.inner.close(convert::timeout(timeout)))
    }

    #[pyo3(signature = (timeout=None))]
    fn init_transactions(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        blocking(py, || self.inner.init_transactions(convert::timeout(timeout)))
    }

    fn begin_transaction(&self, py: Python<'_>) -> PyResult<()> {
        blocking(py, || self.inner.begin_transaction())
    }

    /// Adds `(topic, partition, offset, metadata)` offsets of a consumer group to the open transaction.
    #[pyo3(signature = (offsets, group_metadata, timeout=None))]
    fn send_offsets_to_transaction(
        &self,
        py: Python<'_>,
        offsets: Vec<(String, i32, i64, Option<String>)>,
        group_metadata: &GroupMetadata,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = offsets
            .into_iter()
            .map(|(topic, partition, offset, metadata)| {
                let mut value = OffsetAndMetadata::new(offset);
                value.metadata = metadata.unwrap_or_default();
                (TopicPartition::new(topic, partition), value)
            })
            .collect();
        let group: &ConsumerGroupMetadata = &group_metadata.inner;
        blocking(py, || self.inner.send_offsets_to_transaction(&offsets, group, convert::timeout(timeout)))
    }

    #[pyo3(signature = (timeout=None))]
    fn commit_transaction(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        blocking(py, || self.inner.commit_transaction(convert::timeout(timeout)))
    }

    #[pyo3(signature = (timeout=None))]
    fn abort_transaction(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        blocking(py, || self.inner.abort_transaction(convert::timeout(timeout)))
    }
}
