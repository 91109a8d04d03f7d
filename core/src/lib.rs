//! potok — a Kafka-compatible streaming engine.
//!
//! The crate is the one native engine every binding wraps. Its parts, bottom up:
//!
//! - [`record`]: the record batch v2 codec (magic 2, CRC32C, varints, headers, control batches) and the four
//!   compression codecs, byte-compatible with what the Java client and librdkafka write.
//! - [`storage`]: the partition log in Kafka's own on-disk format (segments, sparse offset and time indexes,
//!   checkpoints, recovery, retention, truncation) over a narrow [`storage::Backend`] trait with a file backend
//!   (native) and a memory backend (tests, wasm).
//! - [`protocol`]: framing and version negotiation over the `kafka-protocol` crate's message schemas (patched in
//!   `vendor/` so that an array count is checked against the bytes left before anything is allocated).
//! - [`partition`]: a replica of one partition over its log — leadership, leader and partition epochs, ISR,
//!   high watermark, followers' progress, and the producer/transaction rules a leader applies to appends.
//! - [`controller`]: cluster metadata as a log of records (proposed, then applied) and the image they build.
//! - [`coordinator`]: the group and transaction coordinators, sans-IO state machines over their internal topics.
//! - [`broker`]: one file per Kafka API turning requests into calls on the state above, and a purgatory of
//!   requests waiting for an event or a deadline; [`broker::Broker::poll`] runs the time-driven work.
//! - [`net`] (feature `native`): the tokio server that moves bytes between sockets and the broker,
//!   [`net::RunningBroker`] for embedding, and the client connection.
//! - [`client`]: potok's own Kafka client. IO-free: partitioners (murmur2 as the Java client, the sticky
//!   built-in partitioner), the consumer-group assignors with the consumer protocol's bytes, cluster metadata,
//!   and the producer's sender, a sans-IO state machine over its record accumulator; native: the producer's
//!   tokio driver, public API and transactions, the consumer (group membership, `consumer/fetcher.rs`), the
//!   admin client, and `requests.rs`, the offset requests all three share.
//! - [`serde`]: serializers as Kafka's Java ones write (primitives, JSON), JSON Schema validation, an Avro
//!   codec, and the Confluent wire format.
//! - [`host`]: what every binding (Python, Node; C, JVM and wasm next) shares, as plain data: error
//!   classification, embedded-broker defaults, serializers by name, the flat record layout, log records.
//!
//! Everything here is synchronous and sans-IO apart from the storage backends: time comes in as an argument
//! (`now_ms`), never from a clock, so the same code runs natively, in virtual time and in wasm32. The engine
//! logs through `tracing`; [`host::log`] hands the events to a host's logger.

pub mod broker;
pub mod client;
pub mod controller;
pub mod coordinator;
pub mod host;
#[cfg(feature = "native")]
pub mod net;
pub mod partition;
pub mod protocol;
pub mod record;
pub mod registry;
pub mod serde;
pub mod storage;
