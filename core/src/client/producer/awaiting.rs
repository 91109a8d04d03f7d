//! Records sent without blocking ([`Producer::try_send`](super::Producer::try_send)) to a topic whose partitions
//! the producer does not know yet. They wait here, per topic in send order and holding their share of
//! `buffer.memory`, until the sender learns the topic's metadata and moves them into the accumulator, or until
//! `delivery.timeout.ms` passes and they fail (librdkafka's producer queues such records the same way). It also
//! decides when the topics' metadata is asked for: at once, then with a backoff doubling from `retry.backoff.ms` to
//! `retry.backoff.max.ms` while lookups fail (an unreachable cluster is asked less and less often, as Kafka's
//! clients back off their reconnects), reset by a success. Sans-IO like the sender: time is a millisecond count
//! on the driver's clock, the driver performs the lookups and moves records whose topic became known into the
//! accumulator (choosing their partition), so it builds for every target.
//!
//! Ordering invariant: while a topic has records here, later records for it queue behind them, whether or not
//! its metadata became known in between, so one thread's records for a partition keep their send order.

use std::collections::{HashMap, VecDeque};

use super::accumulator::Thunk;
use super::ProducerRecord;
use crate::client::error::ClientError;

/// One record waiting for its topic's metadata.
#[derive(Debug)]
pub struct AwaitingRecord {
    pub record: ProducerRecord,
    pub thunk: Thunk,
    /// Bytes of `buffer.memory` it holds.
    pub reserved_bytes: usize,
    queued_ms: u64,
}

/// Records waiting for metadata, by topic, and when to look their topics up.
#[derive(Debug)]
pub struct AwaitingMetadata {
    topics: HashMap<String, VecDeque<AwaitingRecord>>,
    len: usize,
    retry_backoff_ms: u64,
    retry_backoff_max_ms: u64,
    /// No lookup before this time.
    lookup_at_ms: u64,
    backoff_ms: u64,
    /// Why the last lookup failed, for the error of records that time out waiting.
    last_error: Option<ClientError>,
}

impl AwaitingMetadata {
    pub fn new(retry_backoff_ms: u64, retry_backoff_max_ms: u64) -> AwaitingMetadata {
        AwaitingMetadata {
            topics: HashMap::new(),
            len: 0,
            retry_backoff_ms,
            retry_backoff_max_ms: retry_backoff_max_ms.max(retry_backoff_ms),
            lookup_at_ms: 0,
            backoff_ms: retry_backoff_ms,
            last_error: None,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn has(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    pub fn push(&mut self, record: ProducerRecord, thunk: Thunk, reserved_bytes: usize, now_ms: u64) {
        self.topics.entry(record.topic.clone()).or_default().push_back(AwaitingRecord {
            record,
            thunk,
            reserved_bytes,
            queued_ms: now_ms,
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

    /// Takes the records that waited `timeout_ms` or longer.
    pub fn expire(&mut self, now_ms: u64, timeout_ms: u64) -> Vec<AwaitingRecord> {
        let mut expired = Vec::new();
        for queue in self.topics.values_mut() {
            while queue.front().is_some_and(|r| r.queued_ms.saturating_add(timeout_ms) <= now_ms) {
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

    /// The error of a record of `topic` that waited `timeout_ms` in vain, naming why the last lookup failed.
    pub fn expiry_error(&self, topic: &str, timeout_ms: u64) -> ClientError {
        let why = self.last_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
        ClientError::Timeout(format!("topic {topic} not present in metadata after {timeout_ms} ms{why}"))
    }

    /// Whether the waiting topics may be looked up at `now_ms` (the backoff after a failed lookup has passed).
    pub fn lookup_due(&self, now_ms: u64) -> bool {
        now_ms >= self.lookup_at_ms
    }

    /// When the next lookup may go.
    pub fn next_lookup_ms(&self) -> u64 {
        self.lookup_at_ms
    }

    /// A lookup ended at `now_ms`: a success resets the backoff, a failure doubles it.
    pub fn lookup_done(&mut self, now_ms: u64, result: Result<(), ClientError>) {
        match result {
            Ok(()) => {
                self.last_error = None;
                self.backoff_ms = self.retry_backoff_ms;
            }
            Err(e) => {
                self.last_error = Some(e);
                self.backoff_ms = self.backoff_ms.saturating_mul(2).min(self.retry_backoff_max_ms);
            }
        }
        // At least 1 ms: a zero backoff must not spin.
        self.lookup_at_ms = now_ms + self.backoff_ms.max(1);
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
        let now = 0;
        let mut awaiting = AwaitingMetadata::new(100, 1000);
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
        let start = 1_000;
        let timeout = 5_000;
        let mut awaiting = AwaitingMetadata::new(100, 1000);
        awaiting.push(record("a", "old"), thunk(), 10, start);
        awaiting.push(record("a", "new"), thunk(), 10, start + 3_000);
        awaiting.push(record("b", "new"), thunk(), 10, start + 3_000);
        assert!(awaiting.expire(start + 4_000, timeout).is_empty());
        let expired = awaiting.expire(start + timeout, timeout);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].record.value, Some("old".into()));
        assert_eq!(awaiting.len(), 2);
        assert_eq!(awaiting.expire(start + 8_000, timeout).len(), 2);
        assert_eq!(awaiting.len(), 0);
        assert!(awaiting.topics().is_empty());
    }

    #[test]
    fn lookups_back_off_while_they_fail_and_reset_on_success() {
        let mut awaiting = AwaitingMetadata::new(100, 1000);
        assert!(awaiting.lookup_due(0), "the first lookup goes at once");
        let down = ClientError::Io("connection refused".into());
        awaiting.lookup_done(10, Err(down.clone()));
        assert!(!awaiting.lookup_due(209));
        assert_eq!(awaiting.next_lookup_ms(), 210, "twice retry.backoff.ms after a failure");
        awaiting.lookup_done(210, Err(down.clone()));
        awaiting.lookup_done(610, Err(down.clone()));
        awaiting.lookup_done(1410, Err(down));
        assert_eq!(awaiting.next_lookup_ms(), 2410, "capped at retry.backoff.max.ms");
        let error = awaiting.expiry_error("t", 120_000);
        assert!(error.to_string().contains("connection refused"), "{error}");
        awaiting.lookup_done(2410, Ok(()));
        assert_eq!(awaiting.next_lookup_ms(), 2510);
        assert!(!awaiting.expiry_error("t", 1).to_string().contains("refused"));
    }
}
