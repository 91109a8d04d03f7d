//! `EmbeddedBroker`: a potok broker running inside the Python process on its own threads, listening on a
//! real TCP socket so any Kafka client can reach it.

use std::sync::{Mutex, PoisonError};

use potok::host::broker::embedded_config;
use potok::net::RunningBroker;
use pyo3::prelude::*;

use crate::errors;

/// A broker started in-process from Kafka config pairs; stopped by `stop()` or when collected.
#[pyclass(module = "potok._native", frozen)]
#[derive(Debug)]
pub struct EmbeddedBroker {
    running: Mutex<Option<RunningBroker>>,
    host: String,
    port: u16,
    log_dir: String,
}

#[pymethods]
impl EmbeddedBroker {
    /// Starts a broker configured by `config`, a sequence of `(key, value)` pairs with Kafka's
    /// `server.properties` keys, applied in order over the embedded defaults (`potok::host::broker`: 127.0.0.1,
    /// a free port, a temporary log directory). Returns once the broker accepts connections.
    #[new]
    fn new(py: Python<'_>, config: Vec<(String, String)>) -> PyResult<Self> {
        let broker_config = embedded_config(&config).map_err(|e| errors::config_error(py, &e))?;
        let running = py.detach(|| RunningBroker::start(broker_config)).map_err(|e| errors::server_error(py, e))?;
        let address = running.address();
        Ok(EmbeddedBroker {
            host: address.ip().to_string(),
            port: address.port(),
            log_dir: running.log_dir().to_string_lossy().into_owned(),
            running: Mutex::new(Some(running)),
        })
    }

    /// `host:port`, ready for a client's `bootstrap.servers`.
    #[getter]
    fn bootstrap_servers(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The address the listener is bound to.
    #[getter]
    fn host(&self) -> &str {
        &self.host
    }

    /// The bound port (the one the OS picked when port 0 was asked for).
    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// The log directory (a temporary one, removed on stop, unless `log.dirs` was given).
    #[getter]
    fn log_dir(&self) -> &str {
        &self.log_dir
    }

    /// Whether the broker is still serving.
    #[getter]
    fn running(&self) -> bool {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// Stops serving, flushes and closes the logs and waits for that; does nothing when already stopped.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner).take();
        match running {
            Some(running) => py.detach(|| running.stop()).map_err(|e| errors::server_error(py, e)),
            None => Ok(()),
        }
    }

    fn __repr__(&self) -> String {
        let state = if self.running() { "running" } else { "stopped" };
        format!("<EmbeddedBroker {} {state}>", self.bootstrap_servers())
    }
}
