//! `Message`: one record as a consumer returns it or a delivery report describes it (confluent-kafka's
//! `Message`), a native class so that a consumer hands out a record without running any Python code: the
//! consumer fills it in directly, sharing one `str` for the topic's name across a poll's records.

use pyo3::prelude::*;
use pyo3::types::PyString;

/// One record: `topic()`, `partition()`, `offset()`, `key()`, `value()`, `headers()`, `timestamp()`,
/// `error()`, `leader_epoch()`, as confluent-kafka's `Message`.
#[pyclass(module = "potok._native")]
#[derive(Debug)]
pub struct Message {
    pub topic: Option<Py<PyAny>>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub key: Option<Py<PyAny>>,
    pub value: Option<Py<PyAny>>,
    pub headers: Option<Py<PyAny>>,
    pub timestamp: i64,
    pub timestamp_type: i32,
    pub error: Option<Py<PyAny>>,
    pub leader_epoch: Option<i32>,
}

#[pymethods]
impl Message {
    #[new]
    #[pyo3(signature = (topic, partition, offset, key, value, headers=None, timestamp=-1, timestamp_type=0, error=None, leader_epoch=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        topic: Option<Py<PyAny>>,
        partition: Option<i32>,
        offset: Option<i64>,
        key: Option<Py<PyAny>>,
        value: Option<Py<PyAny>>,
        headers: Option<Py<PyAny>>,
        timestamp: i64,
        timestamp_type: i32,
        error: Option<Py<PyAny>>,
        leader_epoch: Option<i32>,
    ) -> Message {
        Message { topic, partition, offset, key, value, headers, timestamp, timestamp_type, error, leader_epoch }
    }

    fn topic(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.topic.as_ref().map(|t| t.clone_ref(py))
    }

    fn partition(&self) -> Option<i32> {
        self.partition
    }

    fn offset(&self) -> Option<i64> {
        self.offset
    }

    fn key(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.key.as_ref().map(|k| k.clone_ref(py))
    }

    fn value(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.value.as_ref().map(|v| v.clone_ref(py))
    }

    /// `[(name, value), ...]`, or None when the record has no headers.
    fn headers(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.headers.as_ref().map(|h| h.clone_ref(py))
    }

    /// `(timestamp type, milliseconds since the epoch)`.
    fn timestamp(&self) -> (i32, i64) {
        (self.timestamp_type, self.timestamp)
    }

    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.error.as_ref().map(|e| e.clone_ref(py))
    }

    fn leader_epoch(&self) -> Option<i32> {
        self.leader_epoch
    }

    fn set_key(&mut self, key: Option<Py<PyAny>>) {
        self.key = key;
    }

    fn set_value(&mut self, value: Option<Py<PyAny>>) {
        self.value = value;
    }

    fn set_headers(&mut self, headers: Option<Py<PyAny>>) {
        self.headers = headers;
    }

    /// The value's length when it is bytes or str, else 0.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        match &self.value {
            Some(v)
                if v.bind(py).is_instance_of::<pyo3::types::PyBytes>() || v.bind(py).is_instance_of::<PyString>() =>
            {
                v.bind(py).len()
            }
            _ => Ok(0),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let or_none = |v: Option<String>| v.unwrap_or_else(|| "None".to_string());
        let repr = |v: &Option<Py<PyAny>>| -> PyResult<String> {
            match v {
                Some(v) => Ok(v.bind(py).repr()?.to_cow()?.into_owned()),
                None => Ok("None".to_string()),
            }
        };
        let topic = match &self.topic {
            Some(t) => t.bind(py).str()?.to_cow()?.into_owned(),
            None => "None".to_string(),
        };
        Ok(format!(
            "<potok.Message topic={topic} partition={} offset={} key={} error={}>",
            or_none(self.partition.map(|p| p.to_string())),
            or_none(self.offset.map(|o| o.to_string())),
            repr(&self.key)?,
            repr(&self.error)?,
        ))
    }
}
