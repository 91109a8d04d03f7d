//! potok's own Kafka clients: producer, consumer and admin. They speak the Kafka protocol, so they work against a
//! potok broker and against Apache Kafka alike; config keys, defaults and semantics are Kafka's.
//!
//! The IO-free parts (config, partitioners, assignors, metadata, the producer's sans-IO sender and record
//! accumulator, the consumer's sans-IO fetcher, group membership and record decoding) build everywhere; the parts that talk to brokers need the `native` feature (tokio). Public calls
//! are blocking and thread-safe; each runs its network work on one shared client runtime ([`runtime`]).
//!
//! [`partitioner`] hashes keys with murmur2 exactly as the Java client does and runs the sticky built-in
//! partitioner for keyless records; [`assignor`] computes consumer-group assignments byte- and
//! result-compatible with the Java client and librdkafka, so potok consumers can share a group with them.

pub mod assignor;
pub mod config;
pub mod consumer;
pub mod error;
pub mod metadata;
pub mod partitioner;
pub mod producer;

pub mod admin;
#[cfg(feature = "native")]
pub mod cluster;
pub(crate) mod requests;
#[cfg(feature = "native")]
pub mod runtime;

pub use error::{ClientError, Result};

/// A topic name and partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition { topic: topic.into(), partition }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A committed offset: the next offset to read, the leader epoch of the last record read, and free-form metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetAndMetadata {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: String,
}

impl OffsetAndMetadata {
    pub fn new(offset: i64) -> OffsetAndMetadata {
        OffsetAndMetadata { offset, leader_epoch: None, metadata: String::new() }
    }
}

/// Which offset ListOffsets looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this one.
    Timestamp(i64),
}

impl OffsetSpec {
    /// The timestamp ListOffsets carries for this spec (-2 earliest, -1 latest, -3 max timestamp).
    pub fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    #[default]
    ReadUncommitted = 0,
    ReadCommitted = 1,
}

/// FindCoordinator as version `version` carries it, however it was built: from v4 the keys go in
/// `coordinator_keys`, before it in `key` (the field a version lacks is cleared: an encoder refuses a value in a
/// field its version does not have).
pub fn find_coordinator_for_version(
    request: kafka_protocol::messages::FindCoordinatorRequest,
    version: i16,
) -> kafka_protocol::messages::FindCoordinatorRequest {
    use kafka_protocol::protocol::StrBytes;
    if version >= 4 {
        let keys = if request.coordinator_keys.is_empty() {
            vec![request.key.clone()]
        } else {
            request.coordinator_keys.clone()
        };
        request.with_key(StrBytes::default()).with_coordinator_keys(keys)
    } else {
        let key = match request.coordinator_keys.first() {
            Some(k) if request.key.is_empty() => k.clone(),
            _ => request.key.clone(),
        };
        request.with_key(key).with_coordinator_keys(Vec::new())
    }
}
