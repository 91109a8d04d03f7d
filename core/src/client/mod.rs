//! potok's own Kafka client: the producer, consumer and admin client that talk to any Kafka cluster.
//!
//! The IO-free building blocks live here beside the client proper: [`partitioner`] decides which partition a
//! record goes to (murmur2 exactly as the Java client hashes keys, the sticky built-in partitioner for keyless
//! records), and [`assignor`] computes consumer-group assignments byte- and result-compatible with the Java
//! client and librdkafka, so potok consumers can share a group with them.

pub mod assignor;
pub mod partitioner;

/// One partition of one topic, ordered by topic name and then partition as Kafka's assignors sort them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
}
