//! Idempotent-producer state of one partition: for each producer id, its epoch and the metadata of its last
//! five batches, which is what lets the log acknowledge a retried batch with its original offsets instead of
//! writing it twice, and refuse gaps and stale epochs.
//!
//! Rules (Kafka's): a batch from a known producer with an older epoch is refused (INVALID_PRODUCER_EPOCH); a new
//! epoch must start at sequence 0; within an epoch, a batch equal to one of the last five is a duplicate, and
//! any other batch must start right after the last sequence (wrapping after i32::MAX), else it is out of order.
//! A producer the partition has never seen must start at sequence 0.

use std::collections::{HashMap, VecDeque};

use crate::record::BatchHeader;

/// How many recent batches per producer are remembered for duplicate detection (Kafka's
/// max.in.flight.requests.per.connection limit under idempotence).
pub const BATCHES_REMEMBERED: usize = 5;

/// A batch as remembered for duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMetadata>,
}

/// What the state says about an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Accept,
    /// Already in the log: answer with these offsets, write nothing.
    Duplicate(BatchMetadata),
    /// The producer's epoch is older than the one the partition knows.
    StaleEpoch,
    /// A gap or reordering: the sequence does not follow the last one.
    OutOfOrder,
}

#[derive(Debug, Default)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
}

pub(crate) fn last_seq(h: &BatchHeader) -> i32 {
    if h.base_sequence < 0 {
        return -1;
    }
    // Sequences wrap to 0 after i32::MAX.
    ((i64::from(h.base_sequence) + i64::from(h.last_offset_delta)) % (i64::from(i32::MAX) + 1)) as i32
}

pub(crate) fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerState {
    /// Checks a client batch (one with a producer id) against the state.
    pub fn check(&self, h: &BatchHeader) -> SequenceCheck {
        let Some(entry) = self.producers.get(&h.producer_id) else {
            return if h.base_sequence == 0 { SequenceCheck::Accept } else { SequenceCheck::OutOfOrder };
        };
        if h.producer_epoch < entry.epoch {
            return SequenceCheck::StaleEpoch;
        }
        if h.producer_epoch > entry.epoch {
            return if h.base_sequence == 0 { SequenceCheck::Accept } else { SequenceCheck::OutOfOrder };
        }
        let last = last_seq(h);
        if let Some(dup) = entry.batches.iter().find(|b| b.first_seq == h.base_sequence && b.last_seq == last) {
            return SequenceCheck::Duplicate(*dup);
        }
        match entry.batches.back() {
            Some(prev) if h.base_sequence != next_seq(prev.last_seq) => SequenceCheck::OutOfOrder,
            _ => SequenceCheck::Accept,
        }
    }

    /// Records a batch that was appended (or found in the log on recovery) at `first_offset`.
    pub fn update(&mut self, h: &BatchHeader, first_offset: i64, timestamp: i64) {
        if !h.has_producer_id() || h.is_control() {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if h.base_sequence < 0 {
            return;
        }
        entry.batches.push_back(BatchMetadata {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            first_offset,
            last_offset: first_offset + i64::from(h.last_offset_delta),
            timestamp,
        });
        while entry.batches.len() > BATCHES_REMEMBERED {
            entry.batches.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression};

    fn header(pid: i64, epoch: i16, seq: i32, records: usize) -> BatchHeader {
        let mut b = BatchBuilder::new(Compression::None).producer(pid, epoch, seq, false);
        for _ in 0..records {
            b.append(0, None, Some(b"v"), &[]);
        }
        BatchHeader::parse(&b.build().unwrap()).unwrap()
    }

    #[test]
    fn duplicates_gaps_and_epochs() {
        let mut s = ProducerState::default();
        assert_eq!(s.check(&header(7, 0, 3, 1)), SequenceCheck::OutOfOrder, "a new producer starts at 0");
        let first = header(7, 0, 0, 3);
        assert_eq!(s.check(&first), SequenceCheck::Accept);
        s.update(&first, 100, -1);
        assert!(
            matches!(s.check(&first), SequenceCheck::Duplicate(b) if b.first_offset == 100 && b.last_offset == 102)
        );
        assert_eq!(s.check(&header(7, 0, 4, 1)), SequenceCheck::OutOfOrder, "seq 3 is missing");
        let next = header(7, 0, 3, 2);
        assert_eq!(s.check(&next), SequenceCheck::Accept);
        s.update(&next, 103, -1);
        let bumped = header(7, 1, 0, 1);
        assert_eq!(s.check(&bumped), SequenceCheck::Accept);
        s.update(&bumped, 105, -1);
        assert_eq!(s.check(&header(7, 0, 5, 1)), SequenceCheck::StaleEpoch);
        for i in 1..=6 {
            let h = header(7, 1, i, 1);
            s.update(&h, 105 + i64::from(i), -1);
        }
        assert_eq!(s.check(&header(7, 1, 1, 1)), SequenceCheck::OutOfOrder, "only the last five are remembered");
        assert!(matches!(s.check(&header(7, 1, 6, 1)), SequenceCheck::Duplicate(_)));
    }
}
