//! `Producer`: potok's Kafka producer (`potok::client::producer`) for Python.
//!
//! `produce()` is this class's own method with confluent-kafka's signature, and the public `potok.Producer`
//! subclasses the class, so a call crosses into native code once with no Python frame in between, as
//! confluent-kafka's C `produce()` does. Values and keys (bytes, str, bytearray, memoryview) are copied once
//! into the record; the topic's name is converted once and reused while the caller passes the same `str`.
//!
//! Delivery reports follow confluent-kafka's model: the engine completes each record on a client IO thread,
//! which only queues the outcome (with the callback and the record's key, value and headers) here; `poll()`
//! and `flush()` hand the queued reports to Python on the caller's thread, where the public layer runs the
//! callbacks. Records sent without a callback are only counted, so a million fire-and-forget records keep no
//! per-record state in the binding and wake no thread. `produce` never blocks (the engine's `try_send`,
//! librdkafka's model): a full buffer raises `BufferError`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use potok::client::producer::{ConsumerGroupMetadata, Producer as EngineProducer, ProducerRecord, RecordMetadata};
use potok::client::{ClientError, OffsetAndMetadata, TopicPartition};
use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMapping, PyString, PyTuple};

use crate::convert::{self, blocking, ConnectionErrors};
use crate::errors;

/// The most delivery reports one `poll()` returns; the rest wait for the next call, as in librdkafka.
const REPORTS_PER_POLL_MAX: usize = 10_000;

/// What a delivery callback gets besides the outcome: the callback itself and the record as Python gave it
/// (key and value as bytes, headers as passed).
#[derive(Debug)]
struct Report {
    callback: Py<PyAny>,
    key: Option<Py<PyAny>>,
    value: Option<Py<PyAny>>,
    headers: Option<Py<PyAny>>,
}

type Outcome = (Report, Result<RecordMetadata, ClientError>);

/// Outcomes of records sent with a callback, waiting for `poll()`, and the count of records in flight.
#[derive(Debug, Default)]
struct Reports {
    queue: Mutex<VecDeque<Outcome>>,
    ready: Condvar,
    /// Threads waiting in `take` (changed and read with `queue` locked): a completion wakes nobody when zero,
    /// so the IO thread makes no wake-up call per record.
    waiting: AtomicUsize,
    in_flight: AtomicUsize,
}

impl Reports {
    fn complete(&self, report: Option<Report>, result: Result<RecordMetadata, ClientError>) {
        if let Some(report) = report {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.push_back((report, result));
            let wake = self.waiting.load(Ordering::Relaxed) > 0;
            drop(queue);
            if wake {
                self.ready.notify_all();
            }
        }
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Waits up to `timeout` for a report (none: forever), then takes at most `REPORTS_PER_POLL_MAX`.
    fn take(&self, timeout: Option<Duration>) -> Vec<Outcome> {
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
            self.waiting.fetch_add(1, Ordering::Relaxed);
            queue = self.ready.wait_timeout(queue, wait).unwrap_or_else(PoisonError::into_inner).0;
            self.waiting.fetch_sub(1, Ordering::Relaxed);
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

/// A Kafka producer configured by Kafka config pairs (subclassed by the public `potok.Producer`).
#[pyclass(module = "potok._native", frozen, subclass)]
#[derive(Debug)]
pub struct Producer {
    inner: EngineProducer,
    reports: Arc<Reports>,
    connection_errors: ConnectionErrors,
    /// The callback of records produced without one (`on_delivery` in the config).
    default_callback: Option<Py<PyAny>>,
    /// The last topic `produce` was given and its name, reused while the same `str` object comes back.
    last_topic: Mutex<Option<(Py<PyString>, String)>>,
}

/// A key, value or header value as the record's bytes, and as the `bytes` object a delivery report returns.
fn payload<'py>(what: &str, data: Option<&Bound<'py, PyAny>>) -> PyResult<Option<(Bytes, Bound<'py, PyAny>)>> {
    let Some(data) = data.filter(|d| !d.is_none()) else { return Ok(None) };
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(Some((Bytes::copy_from_slice(b.as_bytes()), data.clone())));
    }
    let converted = if let Ok(s) = data.cast::<PyString>() {
        s.encode_utf8()?
    } else if data.cast::<PyByteArray>().is_ok() || data.is_instance_of::<pyo3::types::PyMemoryView>() {
        data.py().get_type::<PyBytes>().call1((data,))?.cast_into::<PyBytes>()?
    } else {
        let kind = data.get_type().name()?;
        return Err(PyTypeError::new_err(format!("{what} must be bytes, str or None, not {kind}")));
    };
    Ok(Some((Bytes::copy_from_slice(converted.as_bytes()), converted.into_any())))
}

/// Headers as confluent-kafka takes them: a mapping or a list of `(name, value)` pairs, `str` values encoded
/// as UTF-8.
fn headers(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Option<Bytes>)>> {
    let items = match headers.cast::<PyMapping>() {
        Ok(mapping) => mapping.items()?.into_any(),
        Err(_) => headers.clone(),
    };
    let mut out = Vec::new();
    for item in items.try_iter()? {
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
        let name = name.str()?.to_cow()?.into_owned();
        let value = if value.is_none() {
            None
        } else if let Ok(b) = value.cast::<PyBytes>() {
            Some(Bytes::copy_from_slice(b.as_bytes()))
        } else if let Ok(s) = value.cast::<PyString>() {
            Some(Bytes::copy_from_slice(s.encode_utf8()?.as_bytes()))
        } else {
            Some(Bytes::from(value.extract::<Vec<u8>>()?))
        };
        out.push((name, value));
    }
    Ok(out)
}

impl Producer {
    /// The topic's name, converted only when `topic` is not the `str` object of the last call.
    fn topic_name(&self, topic: &Bound<'_, PyString>) -> PyResult<String> {
        let mut last = self.last_topic.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached, name)) = last.as_ref() {
            if cached.as_ptr() == topic.as_ptr() {
                return Ok(name.clone());
            }
        }
        let name = topic.to_cow()?.into_owned();
        *last = Some((topic.clone().unbind(), name.clone()));
        Ok(name)
    }
}

#[pymethods]
impl Producer {
    #[new]
    #[pyo3(signature = (config, on_delivery=None))]
    fn new(py: Python<'_>, config: Vec<(String, String)>, on_delivery: Option<Py<PyAny>>) -> PyResult<Self> {
        let inner = blocking(py, || EngineProducer::new(&config))?;
        let connection_errors = ConnectionErrors::default();
        inner.set_connection_listener(connection_errors.listener());
        Ok(Producer {
            inner,
            reports: Arc::default(),
            connection_errors,
            default_callback: on_delivery,
            last_topic: Mutex::new(None),
        })
    }

    /// Queues one record without blocking; `partition=-1` lets the partitioner choose, `timestamp=0` means
    /// now. `on_delivery` (or `callback`, or the config's `on_delivery`) gets a report from `poll()`/`flush()`.
    /// A record for a topic whose metadata is not known yet waits in the engine; a full `buffer.memory`
    /// raises `BufferError` (call `poll()` and retry), as confluent-kafka's queue limit does.
    #[pyo3(signature = (topic, value=None, key=None, partition=Some(-1), on_delivery=None, timestamp=Some(0), headers=None, callback=None))]
    #[allow(clippy::too_many_arguments)]
    fn produce(
        &self,
        py: Python<'_>,
        topic: &Bound<'_, PyString>,
        value: Option<&Bound<'_, PyAny>>,
        key: Option<&Bound<'_, PyAny>>,
        partition: Option<i32>,
        on_delivery: Option<&Bound<'_, PyAny>>,
        timestamp: Option<i64>,
        headers: Option<&Bound<'_, PyAny>>,
        callback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let value = payload("value", value)?;
        let key = payload("key", key)?;
        let header_list = match headers.filter(|h| !h.is_none()) {
            Some(h) => self::headers(h)?,
            None => Vec::new(),
        };
        let report = on_delivery
            .or(callback)
            .filter(|c| !c.is_none())
            .map(|c| c.clone().unbind())
            .or_else(|| self.default_callback.as_ref().map(|c| c.clone_ref(py)))
            .map(|callback| Report {
                callback,
                key: key.as_ref().map(|(_, k)| k.clone().unbind()),
                value: value.as_ref().map(|(_, v)| v.clone().unbind()),
                headers: headers.map(|h| h.clone().unbind()),
            });
        let record = ProducerRecord {
            topic: self.topic_name(topic)?,
            partition: partition.filter(|p| *p >= 0),
            key: key.map(|(k, _)| k),
            value: value.map(|(v, _)| v),
            timestamp: timestamp.filter(|t| *t != 0),
            headers: header_list,
        };
        let reports = self.reports.clone();
        self.reports.in_flight.fetch_add(1, Ordering::AcqRel);
        let sent = self.inner.try_send_with_callback(record, move |result| reports.complete(report, result));
        sent.map_err(|e| {
            self.reports.in_flight.fetch_sub(1, Ordering::AcqRel);
            match e {
                ClientError::BufferFull(_) => PyBufferError::new_err(format!("Local: Queue full ({e})")),
                e => errors::client_error(py, &e),
            }
        })
    }

    /// Connection failures since the last call (for `error_cb`).
    #[pyo3(name = "_connection_errors")]
    fn connection_errors<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.connection_errors.take(py)
    }

    /// Waits up to `timeout` seconds (None: forever) for delivery reports and returns them as
    /// `(callback, key, value, headers, topic, partition, offset, timestamp, error)` tuples, `error` an
    /// exception or None.
    #[pyo3(name = "_reports", signature = (timeout=None))]
    fn reports<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let timeout = convert::timeout(timeout);
        let taken = py.detach(|| self.reports.take(timeout));
        taken
            .into_iter()
            .map(|(report, result)| {
                let Report { callback, key, value, headers } = report;
                let tuple = match result {
                    Ok(m) => (
                        callback,
                        key,
                        value,
                        headers,
                        m.topic,
                        m.partition,
                        m.offset,
                        m.timestamp,
                        py.None().into_bound(py),
                    ),
                    Err(e) => {
                        (callback, key, value, headers, String::new(), -1, -1, -1, errors::client_exception(py, &e)?)
                    }
                };
                tuple.into_pyobject(py)
            })
            .collect()
    }

    /// Records produced and not yet acknowledged or failed.
    fn __len__(&self) -> usize {
        self.reports.in_flight.load(Ordering::Acquire)
    }

    /// Sends what is queued and waits up to `timeout` seconds for every record produced so far; returns how
    /// many are still in flight (0 when all completed).
    #[pyo3(name = "_flush", signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<usize> {
        match py.detach(|| self.inner.flush(convert::timeout(timeout))) {
            Ok(()) | Err(ClientError::Timeout(_)) => Ok(self.__len__()),
            Err(e) => Err(errors::client_error(py, &e)),
        }
    }

    /// The partition indexes of `topic` (waiting up to `max.block.ms` for its metadata).
    fn partitions_for(&self, py: Python<'_>, topic: String) -> PyResult<Vec<i32>> {
        let partitions = blocking(py, || self.inner.partitions_for(&topic))?;
        Ok(partitions.into_iter().map(|p| p.partition).collect())
    }

    #[pyo3(name = "_close", signature = (timeout=None))]
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
    #[pyo3(name = "_send_offsets_to_transaction", signature = (offsets, group_metadata, timeout=None))]
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

    #[pyo3(name = "_commit_transaction", signature = (timeout=None))]
    fn commit_transaction(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        blocking(py, || self.inner.commit_transaction(convert::timeout(timeout)))
    }

    #[pyo3(name = "_abort_transaction", signature = (timeout=None))]
    fn abort_transaction(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        blocking(py, || self.inner.abort_transaction(convert::timeout(timeout)))
    }
}
