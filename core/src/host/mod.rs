//! What every host binding needs, written once: Python (pyo3) and Node (napi) use it now, a C ABI, JNI and
//! wasm next. Plain data in and out — no binding framework types — so a binding keeps only its conversions,
//! its async bridging, its typed host errors and its idiomatic surface.
//!
//! - [`error`]: every failure classified once ([`HostError`]: kind, Kafka code and name, librdkafka's local
//!   code, retriable, config key, field paths).
//! - [`broker`]: the embedded broker's defaults (127.0.0.1, port 0, a temporary log directory), and those of a
//!   broker in memory.
//! - [`memory`]: a single-node broker in memory driven by its host: request frames in, response frames out,
//!   time as an argument (the web page's broker).
//! - [`page_client`]: potok's producer, consumer and admin in the page, running the client's sans-IO machines
//!   against a [`memory`] broker through Kafka frames.
//! - [`memory_cluster`]: a KRaft cluster in memory (N brokers, one controller, an in-memory network with links
//!   to cut), driven the same way, with stop, kill and restart per node (the web page's cluster).
//! - [`inspect`]: what a broker holds, as plain data for pictures: topics, partitions, segments, indexes,
//!   batches, groups, transactions; and a segment's bytes annotated with Kafka's batch and record fields.
//! - [`cluster`]: an embedded cluster of N nodes with stop, kill and start per node.
//! - [`serde`]: serializers chosen by name.
//! - [`records`]: the flat record layout a batch crosses the boundary in, with 64-bit offsets.
//! - [`log`]: the engine's `tracing` events as plain records for a host's logger.

// A HostError is plain data a binding reads field by field (kind, codes, names, key, paths); boxing it would
// only add an allocation at the boundary it exists for.
#![allow(clippy::result_large_err)]

pub mod broker;
#[cfg(feature = "native")]
pub mod cluster;
pub mod error;
pub mod inspect;
pub mod log;
pub mod memory;
pub mod memory_cluster;
pub mod page_client;
pub mod records;
pub mod serde;

pub use error::{ErrorKind, HostError, SerdeSide};
