//! Kafka's producer: `send` appends a record to the accumulator (blocking up to `max.block.ms` for metadata
//! or `buffer.memory`, as the Java client does), a background sender drains ready batches to partition leaders,
//! retries what failed with a retriable error until `delivery.timeout.ms`, and completes each record's future or
//! callback with its topic, partition, offset and timestamp. `try_send` never blocks (librdkafka's model, for
//! hosts such as confluent-kafka's `produce()`): a record for a topic whose metadata is not known yet waits in
//! the producer until the sender learns it, and a full `buffer.memory` is an error instead of a wait.
//! Idempotence (the default) numbers batches per partition so retries are written once; with
//! `transactional.id` the producer runs Kafka's transactional protocol.
//!
//! The sender's decisions live in [`sender`], a sans-IO state machine over the [`accumulator`] that builds for
//! every target, and with it those of a transactional producer ([`transaction`], Kafka's TransactionManager);
//! natively, `driver.rs` runs them as a tokio task, `native.rs` holds the blocking public API and
//! `transactions.rs` its transactional calls.

pub mod accumulator;
pub mod awaiting;
#[cfg_attr(not(feature = "native"), allow(dead_code))]
pub(crate) mod config;
#[cfg(feature = "native")]
mod driver;
#[cfg(feature = "native")]
mod native;
pub mod sender;
pub mod transaction;
#[cfg(feature = "native")]
mod transactions;

use bytes::Bytes;

#[cfg(feature = "native")]
pub(crate) use native::lock;
#[cfg(feature = "native")]
pub use native::{DeliveryFuture, Producer};
pub use transaction::ConsumerGroupMetadata;

/// A record to send. `partition` and `timestamp` are chosen by the producer when `None`.
#[derive(Debug, Clone, Default)]
pub struct ProducerRecord {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

impl ProducerRecord {
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord { topic: topic.into(), value: Some(value.into()), ..Default::default() }
    }

    pub fn key(mut self, key: impl Into<Bytes>) -> ProducerRecord {
        self.key = Some(key.into());
        self
    }

    pub fn partition(mut self, partition: i32) -> ProducerRecord {
        self.partition = Some(partition);
        self
    }

    pub fn timestamp(mut self, timestamp: i64) -> ProducerRecord {
        self.timestamp = Some(timestamp);
        self
    }

    pub fn header(mut self, key: impl Into<String>, value: Option<Bytes>) -> ProducerRecord {
        self.headers.push((key.into(), value));
        self
    }
}

/// Where a record was written. `offset` is -1 with `acks=0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
}
