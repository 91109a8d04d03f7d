//! `potok._native`: the private native module behind the Python package `potok`.
//!
//! It holds conversions, GIL handling and typed errors only: every broker and client behaviour lives in
//! `potok-core`. The public, documented surface is the pure-Python package in `python/potok/`, which wraps
//! these classes; `python/potok/_native.pyi` describes this module and a test checks it against the build.
//! `potok.Producer` and `potok.Consumer` subclass `Producer` and `Consumer` here, so that their per-record
//! calls (`produce`, `poll`, `consume`) run no Python code between the caller and the engine, and
//! `potok.Message` is `Message` here.
//!
//! Blocking work (starting and stopping a broker, every client call) runs with the GIL released, so other
//! Python threads keep running while the engine waits on the network or the disk.

mod admin;
mod broker;
mod cluster;
mod consumer;
mod convert;
mod errors;
mod log;
mod message;
mod producer;
mod registry;
mod serde;

use pyo3::prelude::*;

/// The native engine's version (the Cargo package version).
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(log::forward_logs, m)?)?;
    m.add_function(wrap_pyfunction!(errors::kafka_error_info, m)?)?;
    m.add_class::<broker::EmbeddedBroker>()?;
    m.add_class::<cluster::EmbeddedCluster>()?;
    m.add_class::<producer::Producer>()?;
    m.add_class::<producer::GroupMetadata>()?;
    m.add_class::<message::Message>()?;
    m.add_class::<consumer::Consumer>()?;
    m.add_class::<admin::Admin>()?;
    m.add_class::<serde::Serializer>()?;
    m.add_class::<serde::Deserializer>()?;
    m.add_class::<registry::SchemaRegistryClient>()?;
    m.add_class::<registry::RegistrySerializer>()?;
    m.add_class::<registry::RegistryDeserializer>()?;
    Ok(())
}
