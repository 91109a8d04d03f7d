//! The record accumulator: per partition, a queue of batches being filled (`batch.size`, `linger.ms`) and
//! batches waiting to be sent or resent. It decides what is ready to send and never does IO itself: time comes
//! in as an argument (milliseconds on the caller's monotonic clock), so the rules (linger, backoff, in-flight
//! limits, retry order, expiry) are unit-tested and it builds for wasm32, where no clock may be read.
//!
//! Ordering invariant: per partition, batches leave in the order they were appended. Once a batch got a
//! sequence number (idempotence) a retried batch goes back into the queue in sequence order, and while a
//! partition has a batch waiting for retry no later batch is sent ahead of it.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use crate::client::error::ClientError;
use crate::client::producer::RecordMetadata;
use crate::client::TopicPartition;
use crate::record::{BatchBuilder, Compression, Header};

/// How a record's outcome reaches its sender.
pub enum Thunk {
    #[cfg(feature = "native")]
    Channel(tokio::sync::oneshot::Sender<Result<RecordMetadata, ClientError>>),
    Callback(Box<dyn FnOnce(Result<RecordMetadata, ClientError>) + Send>),
}

impl std::fmt::Debug for Thunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            #[cfg(feature = "native")]
            Thunk::Channel(_) => "Thunk::Channel",
            Thunk::Callback(_) => "Thunk::Callback",
        })
    }
}

impl Thunk {
    pub fn complete(self, result: Result<RecordMetadata, ClientError>) {
        match self {
            #[cfg(feature = "native")]
            Thunk::Channel(tx) => {
                let _ = tx.send(result);
            }
            Thunk::Callback(f) => f(result),
        }
    }
}

struct RecordThunk {
    thunk: Thunk,
    timestamp: i64,
}

/// One batch of records for one partition.
pub struct ProducerBatch {
    pub tp: TopicPartition,
    /// The records; open for appends until first encoded, kept so the batch can be re-encoded after the
    /// producer's epoch changes.
    builder: Option<BatchBuilder>,
    /// The encoded batch, once drained (kept for retries: the bytes, sequence included, never change).
    pub encoded: Option<Bytes>,
    thunks: Vec<RecordThunk>,
    /// Bytes of `buffer.memory` this batch holds.
    pub reserved_bytes: usize,
    created_ms: u64,
    pub base_sequence: i32,
    pub attempts: u32,
    retry_at_ms: Option<u64>,
    /// The accumulator's sequence generation the batch was numbered in (see [`Accumulator::reset_sequences`]).
    generation: u64,
    /// An attempt ended without a clear answer (a timeout, a lost connection, or an acks=all write the ISR did
    /// not confirm): the broker may have the batch.
    pub maybe_written: bool,
}

impl std::fmt::Debug for ProducerBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBatch")
            .field("tp", &self.tp)
            .field("records", &self.thunks.len())
            .field("base_sequence", &self.base_sequence)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl ProducerBatch {
    pub fn record_count(&self) -> usize {
        self.thunks.len()
    }

    /// Encodes the batch for sending (once) with the producer's id, epoch and the batch's base sequence.
    pub fn encode(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        transactional: bool,
    ) -> Result<Bytes, crate::record::RecordError> {
        if let Some(bytes) = &self.encoded {
            return Ok(bytes.clone());
        }
        let builder = self.builder.get_or_insert_with(|| BatchBuilder::new(Compression::None));
        if producer_id >= 0 {
            builder.set_producer(producer_id, producer_epoch, self.base_sequence, transactional);
        }
        let bytes = Bytes::from(builder.build()?);
        self.encoded = Some(bytes.clone());
        Ok(bytes)
    }

    /// Completes every record: offsets are consecutive from `base_offset` (-1 stays -1, as with acks=0);
    /// `log_append_time` replaces the records' own timestamps when the topic uses LogAppendTime.
    pub fn complete(self, base_offset: i64, log_append_time: i64) {
        for (i, r) in self.thunks.into_iter().enumerate() {
            let offset = if base_offset < 0 { -1 } else { base_offset + i as i64 };
            let timestamp = if log_append_time >= 0 { log_append_time } else { r.timestamp };
            r.thunk.complete(Ok(RecordMetadata {
                topic: self.tp.topic.clone(),
                partition: self.tp.partition,
                offset,
                timestamp,
            }));
        }
    }

    pub fn fail(self, error: &ClientError) {
        for r in self.thunks {
            r.thunk.complete(Err(error.clone()));
        }
    }
}

#[derive(Debug, Default)]
struct PartitionQueue {
    batches: VecDeque<ProducerBatch>,
    in_flight: usize,
    /// Base sequences of the batches in flight (idempotence), to tell an out-of-order answer caused by an
    /// earlier batch's failure from a real gap.
    in_flight_sequences: std::collections::BTreeSet<i32>,
    next_sequence: i32,
    /// A batch of this partition waits for a retry: nothing later may overtake it.
    retrying: bool,
}

/// Settings the accumulator applies.
#[derive(Debug, Clone)]
pub struct AccumulatorConfig {
    pub batch_size: usize,
    pub linger_ms: u64,
    pub compression: Compression,
    pub max_in_flight: usize,
    pub delivery_timeout_ms: u64,
    pub retry_backoff_ms: u64,
    pub retry_backoff_max_ms: u64,
    pub idempotent: bool,
}

/// What `append` did, for the partitioner and the sender.
#[derive(Debug)]
pub struct Appended {
    pub appended_bytes: usize,
    /// The last batch is full or more than one batch is queued (Kafka's `allBatchesFull`).
    pub all_batches_full: bool,
    /// The sender should look now (a batch filled up, or a new one started and its linger clock runs).
    pub wake_sender: bool,
}

/// What `drain` found.
#[derive(Debug, Default)]
pub struct Drained {
    /// Batches to send, by partition (one per partition per call).
    pub batches: Vec<ProducerBatch>,
    /// Partitions with sendable batches but no known leader.
    pub unknown_leader: Vec<TopicPartition>,
    /// When something next becomes ready (linger or backoff ends).
    pub next_ready_ms: Option<u64>,
}

/// Per-partition batch queues.
#[derive(Debug)]
pub struct Accumulator {
    config: AccumulatorConfig,
    queues: HashMap<TopicPartition, PartitionQueue>,
    /// Batches not yet completed (queued or in flight).
    incomplete_batches: usize,
    /// Bumped by every [`Accumulator::reset_sequences`]: a batch numbered in an older generation is numbered
    /// again when it comes back for a retry.
    generation: u64,
}

impl Accumulator {
    pub fn new(config: AccumulatorConfig) -> Accumulator {
        Accumulator { config, queues: HashMap::new(), incomplete_batches: 0, generation: 0 }
    }

    /// Whether `batch` was numbered under the producer id and epoch in use now.
    pub fn is_current(&self, batch: &ProducerBatch) -> bool {
        batch.generation == self.generation
    }

    pub fn incomplete_batches(&self) -> usize {
        self.incomplete_batches
    }

    /// Bytes a record adds to a batch (an upper bound for a new batch), for `max.request.size` and memory checks.
    pub fn record_size_upper_bound(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
        let builder = BatchBuilder::new(Compression::None);
        builder.estimated_size() + builder.record_size(0, key, value, headers) + 16
    }

    /// Appends a record to the partition's open batch, or to a new one when it is full.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        tp: &TopicPartition,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        reserved_bytes: usize,
        thunk: Thunk,
        now_ms: u64,
    ) -> Appended {
        let batch_size = self.config.batch_size;
        let compression = self.config.compression;
        let queue = self.queues.entry(tp.clone()).or_default();
        let fits = queue.batches.back().is_some_and(|b| {
            b.encoded.is_none()
                && b.builder.as_ref().is_some_and(|builder| {
                    builder.estimated_size() + builder.record_size(timestamp, key, value, headers) <= batch_size
                })
        });
        // A new batch always wakes the sender: it may be sleeping past this batch's linger deadline.
        let mut wake_sender = false;
        if !fits {
            wake_sender = true;
            queue.batches.push_back(ProducerBatch {
                tp: tp.clone(),
                builder: Some(BatchBuilder::new(compression)),
                encoded: None,
                thunks: Vec::new(),
                reserved_bytes: 0,
                created_ms: now_ms,
                base_sequence: -1,
                attempts: 0,
                retry_at_ms: None,
                generation: 0,
                maybe_written: false,
            });
            self.incomplete_batches += 1;
        }
        let batch = queue.batches.back_mut().expect_append_target();
        let builder = batch.builder.as_mut().expect_builder();
        let before = builder.estimated_size();
        builder.append(timestamp, key, value, headers);
        let after = builder.estimated_size();
        batch.thunks.push(RecordThunk { thunk, timestamp });
        batch.reserved_bytes += reserved_bytes;
        let full = after >= batch_size;
        Appended {
            appended_bytes: after - before,
            all_batches_full: full || queue.batches.len() > 1,
            wake_sender: wake_sender || full,
        }
    }

    /// Takes the batches ready to send: full, lingered long enough, or everything when `flush` is set; at most
    /// one per partition, respecting in-flight limits, retry backoff and retry order.
    pub fn drain(
        &mut self,
        now_ms: u64,
        flush: bool,
        leader_of: impl Fn(&TopicPartition) -> Option<i32>,
        may_send: impl Fn(&TopicPartition) -> bool,
    ) -> Drained {
        let mut drained = Drained::default();
        let config = &self.config;
        let generation = self.generation;
        for (tp, queue) in self.queues.iter_mut() {
            let Some(front) = queue.batches.front() else { continue };
            if queue.in_flight >= config.max_in_flight || (queue.retrying && queue.in_flight > 0) {
                continue;
            }
            if let Some(at) = front.retry_at_ms {
                if at > now_ms {
                    drained.next_ready_ms = Some(drained.next_ready_ms.map_or(at, |n| n.min(at)));
                    continue;
                }
            }
            let full = queue.batches.len() > 1
                || front.encoded.is_some()
                || front.builder.as_ref().is_some_and(|b| b.estimated_size() >= config.batch_size);
            let linger_end = front.created_ms + config.linger_ms;
            if !(full || flush || linger_end <= now_ms) {
                drained.next_ready_ms = Some(drained.next_ready_ms.map_or(linger_end, |n| n.min(linger_end)));
                continue;
            }
            if leader_of(tp).is_none() {
                drained.unknown_leader.push(tp.clone());
                continue;
            }
            if !may_send(tp) {
                continue;
            }
            let Some(mut batch) = queue.batches.pop_front() else { continue };
            if config.idempotent && batch.base_sequence < 0 {
                batch.generation = generation;
                batch.base_sequence = queue.next_sequence;
                let count = batch.record_count() as i32;
                queue.next_sequence = queue.next_sequence.checked_add(count).unwrap_or(count - 1);
            }
            queue.in_flight += 1;
            if batch.base_sequence >= 0 {
                queue.in_flight_sequences.insert(batch.base_sequence);
            }
            drained.batches.push(batch);
        }
        drained
    }

    /// A sent batch succeeded (or failed for good): it leaves the accumulator.
    pub fn done(&mut self, tp: &TopicPartition, base_sequence: i32) {
        self.incomplete_batches = self.incomplete_batches.saturating_sub(1);
        if let Some(queue) = self.queues.get_mut(tp) {
            queue.in_flight_sequences.remove(&base_sequence);
            queue.in_flight = queue.in_flight.saturating_sub(1);
            if queue.in_flight == 0 && queue.batches.front().is_none_or(|b| b.attempts == 0) {
                queue.retrying = false;
            }
        }
    }

    /// Puts a batch back for another attempt after a backoff, ahead of batches with later sequences.
    pub fn reenqueue(&mut self, mut batch: ProducerBatch, now_ms: u64) {
        batch.attempts += 1;
        let stale = batch.generation != self.generation && batch.base_sequence >= 0;
        let exp = self.config.retry_backoff_ms.saturating_mul(1 << batch.attempts.min(10).saturating_sub(1));
        batch.retry_at_ms = Some(now_ms + exp.min(self.config.retry_backoff_max_ms));
        let queue = self.queues.entry(batch.tp.clone()).or_default();
        queue.in_flight_sequences.remove(&batch.base_sequence);
        queue.in_flight = queue.in_flight.saturating_sub(1);
        queue.retrying = true;
        if stale {
            // Sent under the producer id the sequences were reset from: numbered (and encoded) again, ahead of
            // the partition's other batches, which were all appended after it.
            batch.base_sequence = -1;
            batch.encoded = None;
        }
        let position = if batch.base_sequence >= 0 {
            queue
                .batches
                .iter()
                .position(|b| b.base_sequence < 0 || b.base_sequence > batch.base_sequence)
                .unwrap_or(queue.batches.len())
        } else {
            0
        };
        queue.batches.insert(position, batch);
    }

    /// Whether a batch with a lower sequence than `base_sequence` is still in flight or waiting for a retry: then
    /// an OUT_OF_ORDER_SEQUENCE_NUMBER answer only means that batch has not reached the broker yet.
    pub fn has_earlier_unresolved(&self, tp: &TopicPartition, base_sequence: i32) -> bool {
        self.queues.get(tp).is_some_and(|q| {
            q.in_flight_sequences.range(..base_sequence).next().is_some()
                || q.batches.iter().any(|b| b.attempts > 0 && b.base_sequence >= 0 && b.base_sequence < base_sequence)
        })
    }

    /// Whether the batch may still be retried (`delivery.timeout.ms` not passed).
    pub fn within_delivery_timeout(&self, batch: &ProducerBatch, now_ms: u64) -> bool {
        now_ms < batch.created_ms + self.config.delivery_timeout_ms
    }

    /// Removes queued (not in-flight) batches older than `delivery.timeout.ms`.
    pub fn expire(&mut self, now_ms: u64) -> Vec<ProducerBatch> {
        let mut expired = Vec::new();
        let timeout = self.config.delivery_timeout_ms;
        for queue in self.queues.values_mut() {
            while queue.batches.front().is_some_and(|b| b.created_ms + timeout <= now_ms) {
                if let Some(b) = queue.batches.pop_front() {
                    expired.push(b);
                }
            }
        }
        self.incomplete_batches = self.incomplete_batches.saturating_sub(expired.len());
        expired
    }

    /// Removes every queued batch (close without waiting, a fatal producer error).
    pub fn take_all(&mut self) -> Vec<ProducerBatch> {
        let mut all = Vec::new();
        for queue in self.queues.values_mut() {
            all.extend(queue.batches.drain(..));
        }
        self.incomplete_batches = self.incomplete_batches.saturating_sub(all.len());
        all
    }

    /// Forgets sequence numbers after the producer got a new id or epoch: queued batches are re-encoded and
    /// numbered again from 0.
    pub fn reset_sequences(&mut self) {
        self.generation += 1;
        for queue in self.queues.values_mut() {
            queue.next_sequence = 0;
            queue.retrying = false;
            for b in queue.batches.iter_mut() {
                if b.encoded.is_some() {
                    b.base_sequence = -1;
                    b.encoded = None;
                }
            }
        }
    }

    /// Partitions with queued batches.
    pub fn partitions_with_data(&self) -> Vec<TopicPartition> {
        self.queues.iter().filter(|(_, q)| !q.batches.is_empty()).map(|(tp, _)| tp.clone()).collect()
    }
}

/// `Option` accessors that state the accumulator's invariants instead of unwrapping.
trait Invariant<T> {
    fn expect_append_target(self) -> T;
    fn expect_builder(self) -> T;
}

impl<T> Invariant<T> for Option<T> {
    #[allow(clippy::expect_used)]
    fn expect_append_target(self) -> T {
        self.expect("append always has an open batch: one was pushed when none fit")
    }

    #[allow(clippy::expect_used)]
    fn expect_builder(self) -> T {
        self.expect("the open batch is the last one and has not been drained")
    }
}
