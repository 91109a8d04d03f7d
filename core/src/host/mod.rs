//! What every host binding needs, written once: Python (pyo3) and Node (napi) use it now, a C ABI, JNI and
//! wasm next. Plain data in and out — no binding framework types — so a binding keeps only its conversions,
//! its async bridging, its typed host errors and its idiomatic surface.
//!
//! - [`error`]: every failure classified once ([`HostError`]: kind, Kafka code and name, librdkafka's local
//!   code, retriable, config key, field paths).
//! - [`broker`]: the embedded broker's defaults (127.0.0.1, port 0, a temporary log directory).
//! - [`serde`]: serializers chosen by name.
//! - [`records`]: the flat record layout a batch crosses the boundary in, with 64-bit offsets.
//! - [`log`]: the engine's `tracing` events as plain records for a host's logger.

#[cfg(feature = "native")]
pub mod broker;
pub mod error;
pub mod log;
pub mod records;
pub mod serde;

pub use error::{ErrorKind, HostError, SerdeSide};
