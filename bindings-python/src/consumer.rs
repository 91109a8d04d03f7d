//! `Consumer`: potok's Kafka consumer (`potok::client::consumer`) for Python, with confluent-kafka's semantics.
//!
//! confluent-kafka's `poll()` hands out one message and `consume(n)` at most `n`; both map onto the engine's
//! `poll_at_most`, which keeps records fetched beyond that inside the engine and does not count them as
//! consumed. Positions, commits without explicit offsets, automatic commits (`enable.auto.commit` and
//! `auto.commit.interval.ms` go to the engine unchanged), pauses and seeks are therefore all the engine's own;
//! this module only converts values, releases the GIL and maps errors. `poll()` and `consume()` are this class's
//! own public methods (the public `potok.Consumer` subclasses it) and make each record a native `Message`
//! directly, so handing out a record runs no Python code; the methods the public layer wraps are `_`-prefixed.
//!
//! Rebalance callbacks run inside the engine's `poll`, on the thread calling it, with no engine lock held; the
//! listener re-takes the GIL to call Python. An exception raised by a callback is kept and raised from `poll()`
//! once the engine returns, as confluent-kafka does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use potok::client::consumer::{Consumer as EngineConsumer, ConsumerRecord, RebalanceListener};
use potok::client::{ClientError, OffsetAndMetadata, TopicPartition};
use potok::record::TimestampType;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::convert::{self, blocking, ConnectionErrors};
use crate::errors;
use crate::message::Message;
use crate::producer::GroupMetadata;

/// The most records one `consume()` call may ask for (librdkafka's limit as well).
const CONSUME_MAX: usize = 1_000_000;

/// Where a Python rebalance callback's exception waits until `poll()` raises it.
type CallbackError = Arc<Mutex<Option<PyErr>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Calls the Python dispatcher `callback(kind, [(topic, partition), ...])` around rebalances. Committing before
/// a revocation (with auto commit on) and dropping a revoked partition's fetched records are the engine's job.
struct Listener {
    callback: Py<PyAny>,
    error: CallbackError,
}

impl Listener {
    fn call(&self, kind: &str, partitions: &[TopicPartition]) {
        let items: Vec<(String, i32)> = partitions.iter().map(|tp| (tp.topic.clone(), tp.partition)).collect();
        Python::attach(|py| {
            if let Err(e) = self.callback.call1(py, (kind, items)) {
                let mut slot = lock(&self.error);
                if slot.is_none() {
                    *slot = Some(e);
                }
            }
        });
    }
}

impl RebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        self.call("revoke", partitions);
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        self.call("assign", partitions);
    }

    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        self.call("lost", partitions);
    }
}

/// A Kafka consumer configured by Kafka config pairs (subclassed by the public `potok.Consumer`, so that
/// `poll()` and `consume()` are one crossing into native code, as confluent-kafka's are).
#[pyclass(module = "potok._native", frozen, subclass)]
#[derive(Debug)]
pub struct Consumer {
    inner: EngineConsumer,
    callback_error: CallbackError,
    connection_errors: ConnectionErrors,
    /// Called with each connection failure's `KafkaError` from `poll()` and `consume()` (`error_cb`).
    error_cb: Option<Py<PyAny>>,
    /// The last topic a record came from and its name as a Python `str`, shared by the next records of it.
    last_topic: Mutex<Option<(String, Py<PyAny>)>>,
}

/// `(topic, partition, offset, metadata)`, as offsets cross the boundary.
type OffsetItem = (String, i32, i64, Option<String>);

/// A record as a `Message`; `last_topic` keeps the Python `str` of the last topic's name for the next records.
fn message<'py>(
    py: Python<'py>,
    last_topic: &mut Option<(String, Py<PyAny>)>,
    r: ConsumerRecord,
) -> PyResult<Bound<'py, Message>> {
    let topic = match last_topic {
        Some((name, topic)) if *name == r.topic => topic.clone_ref(py),
        _ => {
            let topic = PyString::new(py, &r.topic).into_any().unbind();
            *last_topic = Some((r.topic, topic.clone_ref(py)));
            topic
        }
    };
    let bytes = |b: Option<bytes::Bytes>| b.map(|b| PyBytes::new(py, &b).into_any().unbind());
    let timestamp_type = match r.timestamp_type {
        TimestampType::CreateTime => 1,
        TimestampType::LogAppendTime => 2,
    };
    let headers = if r.headers.is_empty() {
        None
    } else {
        let list: Vec<(String, Option<Py<PyAny>>)> = r.headers.into_iter().map(|(k, v)| (k, bytes(v))).collect();
        Some(list.into_pyobject(py)?.into_any().unbind())
    };
    let message = Message {
        topic: Some(topic),
        partition: Some(r.partition),
        offset: Some(r.offset),
        key: bytes(r.key),
        value: bytes(r.value),
        headers,
        timestamp: r.timestamp,
        timestamp_type: if r.timestamp < 0 { 0 } else { timestamp_type },
        error: None,
        leader_epoch: r.leader_epoch,
    };
    Bound::new(py, message)
}

impl Consumer {
    fn raise_callback_error(&self) -> PyResult<()> {
        match lock(&self.callback_error).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[pymethods]
impl Consumer {
    /// `config` are Kafka config pairs, handed to the engine as they are.
    #[new]
    #[pyo3(signature = (config, error_cb=None))]
    fn new(py: Python<'_>, config: Vec<(String, String)>, error_cb: Option<Py<PyAny>>) -> PyResult<Self> {
        let inner = blocking(py, || EngineConsumer::new(&config))?;
        let connection_errors = ConnectionErrors::default();
        inner.set_connection_listener(connection_errors.listener());
        Ok(Consumer {
            inner,
            callback_error: CallbackError::default(),
            connection_errors,
            error_cb,
            last_topic: Mutex::new(None),
        })
    }

    /// One message, or None if none arrived within `timeout` seconds (None or negative: wait as long as it
    /// takes).
    #[pyo3(signature = (timeout=None))]
    fn poll<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Option<Bound<'py, Message>>> {
        Ok(self.messages(py, 1, timeout)?.pop())
    }

    /// Up to `num_messages` messages: what is available once the first arrives, or [] after `timeout`.
    #[pyo3(signature = (num_messages=1, timeout=None))]
    fn consume<'py>(
        &self,
        py: Python<'py>,
        num_messages: usize,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Bound<'py, Message>>> {
        self.messages(py, num_messages, timeout)
    }

    /// Subscribes to topics (a name starting with `^` is a regex); `listener(kind, partitions)` is called
    /// from `poll()` with kind "assign", "revoke" or "lost".
    #[pyo3(name = "_subscribe", signature = (topics, listener=None))]
    fn subscribe(&self, py: Python<'_>, topics: Vec<String>, listener: Option<Py<PyAny>>) -> PyResult<()> {
        if let Some(callback) = listener {
            self.inner.set_rebalance_listener(Box::new(Listener { callback, error: self.callback_error.clone() }));
        }
        blocking(py, || self.inner.subscribe(&topics))
    }

    fn unsubscribe(&self, py: Python<'_>) -> PyResult<()> {
        blocking(py, || self.inner.unsubscribe())
    }

    /// Assigns partitions by hand; `(topic, partition, offset)` with offset None keeps the committed or
    /// reset position, a negative offset is one of -2 (beginning) and -1 (end).
    #[pyo3(name = "_assign")]
    fn assign(&self, py: Python<'_>, partitions: Vec<(String, i32, Option<i64>)>) -> PyResult<()> {
        let tps: Vec<TopicPartition> = partitions.iter().map(|(t, p, _)| TopicPartition::new(t.clone(), *p)).collect();
        blocking(py, || self.inner.assign(&tps))?;
        for (tp, (_, _, offset)) in tps.iter().zip(&partitions) {
            self.seek_one(py, tp, *offset)?;
        }
        Ok(())
    }

    #[pyo3(name = "_assignment")]
    fn assignment(&self) -> Vec<(String, i32)> {
        self.inner.assignment().into_iter().map(|tp| (tp.topic, tp.partition)).collect()
    }

    /// Commits `offsets` (`(topic, partition, offset, metadata)`; None: what has been consumed). Returns the
    /// committed offsets (for the synchronous form).
    #[pyo3(name = "_commit", signature = (offsets=None, asynchronous=true))]
    fn commit(
        &self,
        py: Python<'_>,
        offsets: Option<Vec<OffsetItem>>,
        asynchronous: bool,
    ) -> PyResult<Vec<(String, i32, i64)>> {
        let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = match offsets {
            Some(list) => list
                .into_iter()
                .map(|(topic, partition, offset, metadata)| {
                    let mut value = OffsetAndMetadata::new(offset);
                    value.metadata = metadata.unwrap_or_default();
                    (TopicPartition::new(topic, partition), value)
                })
                .collect(),
            None => self.inner.offsets_to_commit(),
        };
        let committed = offsets.iter().map(|(tp, o)| (tp.topic.clone(), tp.partition, o.offset)).collect();
        if offsets.is_empty() {
            return Err(errors::client_error(
                py,
                &ClientError::Kafka {
                    code: -168,
                    name: "_NO_OFFSET".into(),
                    message: Some("no offset to commit".into()),
                },
            ));
        }
        if asynchronous {
            self.inner.commit_async(Some(offsets), None);
        } else {
            blocking(py, || self.inner.commit_sync(Some(&offsets), None))?;
        }
        Ok(committed)
    }

    /// The group's committed offsets: `(topic, partition, offset or -1001, metadata)`.
    #[pyo3(name = "_committed", signature = (partitions, timeout=None))]
    fn committed(
        &self,
        py: Python<'_>,
        partitions: Vec<(String, i32)>,
        timeout: Option<f64>,
    ) -> PyResult<Vec<OffsetItem>> {
        let tps = convert::topic_partitions(partitions);
        let found = blocking(py, || self.inner.committed(&tps, convert::timeout(timeout)))?;
        Ok(tps
            .into_iter()
            .map(|tp| match found.get(&tp) {
                Some(o) => (tp.topic, tp.partition, o.offset, Some(o.metadata.clone())),
                None => (tp.topic, tp.partition, -1001, None),
            })
            .collect())
    }

    /// The next offset the application will read per partition (-1001 when not known yet).
    #[pyo3(name = "_position")]
    fn position(&self, py: Python<'_>, partitions: Vec<(String, i32)>) -> Vec<(String, i32, i64)> {
        convert::topic_partitions(partitions)
            .into_iter()
            .map(|tp| {
                let offset = py.detach(|| self.inner.position(&tp, Some(Duration::ZERO))).unwrap_or(-1001);
                (tp.topic, tp.partition, offset)
            })
            .collect()
    }

    /// Moves a partition's position: an offset, or -2 (beginning) / -1 (end).
    #[pyo3(name = "_seek")]
    fn seek(&self, py: Python<'_>, topic: String, partition: i32, offset: i64) -> PyResult<()> {
        self.seek_one(py, &TopicPartition::new(topic, partition), Some(offset))
    }

    #[pyo3(name = "_pause")]
    fn pause(&self, py: Python<'_>, partitions: Vec<(String, i32)>) -> PyResult<()> {
        let tps = convert::topic_partitions(partitions);
        blocking(py, || self.inner.pause(&tps))
    }

    #[pyo3(name = "_resume")]
    fn resume(&self, py: Python<'_>, partitions: Vec<(String, i32)>) -> PyResult<()> {
        let tps = convert::topic_partitions(partitions);
        blocking(py, || self.inner.resume(&tps))
    }

    /// `(low, high)` offsets of a partition, asked of its leader.
    #[pyo3(name = "_watermark_offsets", signature = (topic, partition, timeout=None))]
    fn watermark_offsets(
        &self,
        py: Python<'_>,
        topic: String,
        partition: i32,
        timeout: Option<f64>,
    ) -> PyResult<(i64, i64)> {
        let tps = vec![TopicPartition::new(topic, partition)];
        let timeout = convert::timeout(timeout);
        let low = blocking(py, || self.inner.beginning_offsets(&tps, timeout))?;
        let high = blocking(py, || self.inner.end_offsets(&tps, timeout))?;
        Ok((low.get(&tps[0]).copied().unwrap_or(-1001), high.get(&tps[0]).copied().unwrap_or(-1001)))
    }

    /// For each `(topic, partition, timestamp)`, the first offset at or after the timestamp (-1: none).
    #[pyo3(name = "_offsets_for_times", signature = (specs, timeout=None))]
    fn offsets_for_times(
        &self,
        py: Python<'_>,
        specs: Vec<(String, i32, i64)>,
        timeout: Option<f64>,
    ) -> PyResult<Vec<(String, i32, i64)>> {
        let specs: Vec<(TopicPartition, i64)> =
            specs.into_iter().map(|(t, p, ts)| (TopicPartition::new(t, p), ts)).collect();
        let found = blocking(py, || self.inner.offsets_for_times(&specs, convert::timeout(timeout)))?;
        Ok(specs
            .into_iter()
            .map(|(tp, _)| {
                let offset = found.get(&tp).and_then(|i| i.as_ref()).map_or(-1, |i| i.offset);
                (tp.topic, tp.partition, offset)
            })
            .collect())
    }

    /// The consumer's group membership, for `Producer.send_offsets_to_transaction`.
    #[pyo3(name = "_group_metadata")]
    fn group_metadata(&self, py: Python<'_>) -> PyResult<GroupMetadata> {
        match self.inner.group_metadata() {
            Some(inner) => Ok(GroupMetadata { inner }),
            None => {
                Err(errors::client_error(py, &ClientError::InvalidArgument("this consumer has no group.id".into())))
            }
        }
    }

    /// Commits what was consumed (with auto commit on), leaves the group and closes connections.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let result = blocking(py, || self.inner.close(None));
        self.raise_callback_error()?;
        result
    }

    /// Interrupts a blocking `poll()` from another thread.
    fn wakeup(&self) {
        self.inner.wakeup();
    }
}

impl Consumer {
    /// Waits up to `timeout` seconds (None: forever) and returns at most `max` records as `Message`s, then
    /// hands connection failures to `error_cb`.
    fn messages<'py>(&self, py: Python<'py>, max: usize, timeout: Option<f64>) -> PyResult<Vec<Bound<'py, Message>>> {
        if max == 0 || max > CONSUME_MAX {
            return Err(errors::client_error(
                py,
                &ClientError::InvalidArgument(format!("num_messages must be between 1 and {CONSUME_MAX}")),
            ));
        }
        let timeout = convert::timeout(timeout);
        let deadline = timeout.map(|t| Instant::now() + t);
        let records = loop {
            // An unbounded poll waits in slices so Ctrl-C (checked between them) can interrupt it.
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_millis(200),
            };
            let polled = py.detach(|| self.inner.poll_at_most(slice, max));
            self.raise_callback_error()?;
            let polled = polled.map_err(|e| errors::client_error(py, &e))?;
            if !polled.is_empty() || deadline.is_some() {
                break polled;
            }
            py.check_signals()?;
        };
        let mut last_topic = lock(&self.last_topic);
        let messages = records.into_iter().map(|r| message(py, &mut last_topic, r)).collect::<PyResult<Vec<_>>>()?;
        drop(last_topic);
        if let Some(error_cb) = &self.error_cb {
            for error in self.connection_errors.take(py)? {
                error_cb.call1(py, (error.getattr("args")?.get_item(0)?,))?;
            }
        }
        Ok(messages)
    }

    fn seek_one(&self, py: Python<'_>, tp: &TopicPartition, offset: Option<i64>) -> PyResult<()> {
        let Some(offset) = offset else { return Ok(()) };
        let tps = std::slice::from_ref(tp);
        let result = match offset {
            -2 => py.detach(|| self.inner.seek_to_beginning(tps)),
            -1 => py.detach(|| self.inner.seek_to_end(tps)),
            // OFFSET_STORED and OFFSET_INVALID: keep the committed (or reset) position.
            -1000 | -1001 => Ok(()),
            offset => py.detach(|| self.inner.seek(tp, offset)),
        };
        result.map_err(|e| errors::client_error(py, &e))
    }
}
