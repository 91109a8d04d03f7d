//! `EmbeddedCluster`: N potok nodes (broker and controller each, or brokers beside dedicated controllers)
//! inside the Python process (`potok::host::cluster`).

// HostError is plain data a binding reads field by field; boxing it would only add an allocation here.
#![allow(clippy::result_large_err)]

use std::sync::{Mutex, PoisonError};

use potok::host::cluster::EmbeddedCluster as Cluster;
use potok::host::HostError;
use pyo3::prelude::*;

use crate::errors;

#[pyclass(module = "potok._native", frozen)]
#[derive(Debug)]
pub struct EmbeddedCluster {
    cluster: Mutex<Option<Cluster>>,
}

impl EmbeddedCluster {
    fn with<T>(&self, py: Python<'_>, f: impl FnOnce(&mut Cluster) -> Result<T, HostError> + Send) -> PyResult<T>
    where
        T: Send,
    {
        let mut guard = self.cluster.lock().unwrap_or_else(PoisonError::into_inner);
        let cluster = guard.as_mut().ok_or_else(|| errors::raise(py, &HostError::state("the cluster is stopped")))?;
        py.detach(|| f(cluster)).map_err(|e| errors::raise(py, &e))
    }
}

#[pymethods]
impl EmbeddedCluster {
    /// Starts `brokers` nodes (broker-only beside `controllers` controller-only nodes, or combined when
    /// `controllers` is 0) with Kafka config pairs applied to each; returns once every broker is registered and
    /// unfenced in the cluster's metadata.
    #[new]
    #[pyo3(signature = (brokers, config, controllers = 0))]
    fn new(py: Python<'_>, brokers: usize, config: Vec<(String, String)>, controllers: usize) -> PyResult<Self> {
        let cluster = py
            .detach(|| Cluster::start_with_controllers(brokers, controllers, &config))
            .map_err(|e| errors::raise(py, &e))?;
        Ok(EmbeddedCluster { cluster: Mutex::new(Some(cluster)) })
    }

    #[getter]
    fn bootstrap_servers(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |c| Ok(c.bootstrap_servers()))
    }

    #[getter]
    fn running(&self, py: Python<'_>) -> PyResult<Vec<i32>> {
        self.with(py, |c| Ok(c.running()))
    }

    /// Each node's id and log directory, as (id, path) pairs.
    #[getter]
    fn log_dirs(&self, py: Python<'_>) -> PyResult<Vec<(i32, String)>> {
        self.with(py, |c| Ok(c.log_dirs().into_iter().map(|(id, p)| (id, p.display().to_string())).collect()))
    }

    /// Every running broker's schema registry URL, comma-separated (None without registries).
    #[getter]
    fn schema_registry_url(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.with(py, |c| Ok(c.schema_registry_urls()))
    }

    /// Broker `id`'s schema registry URL while it runs (None when it does not, or without registries).
    fn broker_schema_registry_url(&self, py: Python<'_>, id: i32) -> PyResult<Option<String>> {
        self.with(py, |c| c.schema_registry_url(id))
    }

    fn stop_broker(&self, py: Python<'_>, id: i32) -> PyResult<()> {
        self.with(py, |c| c.stop_broker(id))
    }

    fn kill_broker(&self, py: Python<'_>, id: i32) -> PyResult<()> {
        self.with(py, |c| c.kill_broker(id))
    }

    fn start_broker(&self, py: Python<'_>, id: i32) -> PyResult<()> {
        self.with(py, |c| c.start_broker(id))
    }

    /// Stops every node and removes the cluster's data; does nothing when already stopped.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let cluster = self.cluster.lock().unwrap_or_else(PoisonError::into_inner).take();
        match cluster {
            Some(cluster) => py.detach(|| cluster.stop()).map_err(|e| errors::raise(py, &e)),
            None => Ok(()),
        }
    }
}
