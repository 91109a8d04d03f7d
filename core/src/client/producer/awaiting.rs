//! Records sent without blocking ([`Producer::try_send`](super::Producer::try_send)) to a topic whose partitions
//! the producer does not know yet. They wait here, per topic in send order and holding their share of
//! `buffer.memory`, until the sender learns the topic's metadata and moves them into the accumulator, or until
//! `delivery.timeout.ms` passes and they fail (librdkafka's producer queues such records the same way). No IO:
//! time comes in as an argument, as in the accumulator.
//!
//! Ordering invariant: while a topic has records here, later records for it queue behind them, whether or not
//! its metadata became known in between, so one thread's records for a partition keep their send order.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::accumulator::Thunk;
use super::ProducerRecord;

/// One record waiting for its topic's metadata.
pub struct AwaitingRecord {
    pub record: ProducerRecord,
    pub thunk: Thunk,
    /// Bytes of `buffer.memory` it holds.
    pub reserved_bytes: usize,
    queued_at: Instant,
}

/// Records waiting for metadata, by topic.
#[derive(Default)]
pub struct AwaitingMetadata {
    topics: HashMap<String, VecDeque<AwaitingRecord>>,
    len: usize,
}

impl AwaitingMetadata {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn has(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    pub fn push(&mut self, record: ProducerRecord, thunk: Thunk, reserved_bytes: usize, now: Instant) {
        self.topics.entry(record.topic.clone()).or_default().push_back(AwaitingRecord {
            record,
            thunk,
            reserved_bytes,
            queued_at: now,
        });
        self.len += 1;
    }

    /// The topics with waiting records, sorted (one metadata request asks for all of them).
    pub fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.topics.keys().cloned().collect();
        topics.sort();
        topics
    }

    /// Takes every record of `topic`, oldest first.
    pub fn take(&mut self, topic: &str) -> VecDeque<AwaitingRecord> {
        let taken = self.topics.remove(topic).unwrap_or_default();
        self.len -= taken.len();
        taken
    }

    /// Takes the records that waited `timeout` or longer.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<AwaitingRecord> {
        let mut expired = Vec::new();
        for queue in self.topics.values_mut() {
            while queue.front().is_some_and(|r| r.queued_at + timeout <= now) {
                expired.extend(queue.pop_front());
            }
        }
        self.topics.retain(|_, queue| !queue.is_empty());
        self.len -= expired.len();
        expired
    }

    /// Takes every waiting record (close without waiting).
    pub fn take_all(&mut self) -> Vec<AwaitingRecord> {
        self.len = 0;
        self.topics.drain().flat_map(|(_, queue)| queue).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str, value: &'static str) -> ProducerRecord {
        ProducerRecord::new(topic, value)
    }

    fn thunk() -> Thunk {
        Thunk::Callback(Box::new(|_| {}))
    }

    #[test]
    fn keeps_send_order_per_topic_and_counts() {
        let now = Instant::now();
        let mut awaiting = AwaitingMetadata::default();
        awaiting.push(record("b", "1"), thunk(), 10, now);
        awaiting.push(record("a", "2"), thunk(), 10, now);
        awaiting.push(record("b", "3"), thunk(), 10, now);
        assert_eq!(awaiting.len(), 3);
        assert_eq!(awaiting.topics(), ["a", "b"]);
        assert!(awaiting.has("b"));
        let b: Vec<_> = awaiting.take("b").into_iter().map(|r| r.record.value).collect();
        assert_eq!(b, [Some("1".into()), Some("3".into())]);
        assert_eq!(awaiting.len(), 1);
        assert!(!awaiting.has("b"));
        assert!(awaiting.take("b").is_empty());
        assert_eq!(awaiting.take_all().len(), 1);
        assert_eq!(awaiting.len(), 0);
    }

    #[test]
    fn expires_only_what_waited_long_enough() {
        let start = Instant::now();
        let timeout = Duration::from_secs(5);
        let mut awaiting = AwaitingMetadata::default();
        awaiting.push(record("a", "old"), thunk(), 10, start);
        awaiting.push(record("a", "new"), thunk(), 10, start + Duration::from_secs(3));
        awaiting.push(record("b", "new"), thunk(), 10, start + Duration::from_secs(3));
        assert!(awaiting.expire(start + Duration::from_secs(4), timeout).is_empty());
        let expired = awaiting.expire(start + timeout, timeout);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].record.value, Some("old".into()));
        assert_eq!(awaiting.len(), 2);
        assert_eq!(awaiting.expire(start + Duration::from_secs(8), timeout).len(), 2);
        assert_eq!(awaiting.len(), 0);
        assert!(awaiting.topics().is_empty());
    }
}
