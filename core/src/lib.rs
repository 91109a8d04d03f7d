//! potok — a Kafka-compatible streaming engine.
//!
//! The crate is the one native engine every binding wraps. Its parts, bottom up:
//!
//! - [`record`]: the record batch v2 codec (magic 2, CRC32C, varints, headers, control batches) and the four
//!   compression codecs, byte-compatible with what the Java client and librdkafka write.
//! - [`storage`]: the partition log in Kafka's own on-disk format (segments, sparse offset and time indexes,
//!   checkpoints, recovery, retention) over a narrow [`storage::Backend`] trait with a file backend (native) and
//!   a memory backend (tests, wasm).
//! - [`client`]: potok's own Kafka client; so far its IO-free parts: partitioners (murmur2 as the Java client,
//!   the sticky built-in partitioner) and the consumer-group assignors with the consumer protocol's bytes.
//! - [`serde`]: serializers as Kafka's Java ones write (primitives, JSON), JSON Schema validation, an Avro
//!   codec, and the Confluent wire format.
//!
//! Everything here is synchronous and sans-IO apart from the storage backends: time comes in as an argument
//! (`now_ms`), never from a clock, so the same code runs natively, in virtual time and in wasm32.

pub mod broker;
pub mod client;
pub mod controller;
pub mod coordinator;
#[cfg(feature = "native")]
pub mod net;
pub mod protocol;
pub mod record;
pub mod registry;
pub mod serde;
pub mod storage;
