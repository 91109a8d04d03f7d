//! Producer state of one partition: for each producer id, its epoch, the metadata of its last five batches,
//! the coordinator epoch of the last transaction marker and the first offset of its ongoing transaction. This
//! is what lets the log acknowledge a retried batch with its original offsets instead of writing it twice,
//! refuse gaps and stale epochs, and know its last stable offset.
//!
//! Rules (Kafka's): a batch from a known producer with an older epoch is refused (INVALID_PRODUCER_EPOCH); a new
//! epoch must start at sequence 0; within an epoch, a batch equal to one of the last five is a duplicate, and
//! any other batch must start right after the last sequence (wrapping after i32::MAX), else it is out of order.
//! A producer the partition has never seen must start at sequence 0. A transactional batch opens a transaction
//! for its producer if none is open; a non-transactional batch while one is open is refused
//! (INVALID_TXN_STATE). A commit or abort marker closes the producer's transaction; a marker with an older
//! producer epoch or coordinator epoch than the partition has seen is refused.
//!
//! Invariant: `ongoing` holds exactly the producers whose entry has a `current_txn_first_offset`, keyed by it.
//!
//! The state is saved as Kafka's producer snapshot (`<offset>.snapshot`): version i16 (1), CRC32C u32 of what
//! follows, then an array (i32 count) of entries of producerId i64, epoch i16, lastSequence i32, lastOffset i64,
//! offsetDelta i32, timestamp i64, coordinatorEpoch i32, currentTxnFirstOffset i64. Like Kafka's, a snapshot
//! keeps only each producer's last batch.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::record::BatchHeader;

/// How many recent batches per producer are remembered for duplicate detection (Kafka's
/// max.in.flight.requests.per.connection limit under idempotence).
pub const BATCHES_REMEMBERED: usize = 5;

/// The snapshot format version Kafka writes and reads.
const SNAPSHOT_VERSION: i16 = 1;
/// Bytes of one snapshot entry.
const SNAPSHOT_ENTRY_BYTES: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;
/// Bytes before the entries: version, CRC and the array length.
const SNAPSHOT_HEADER_BYTES: usize = 2 + 4 + 4;

/// A batch as remembered for duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp as stored (the append time on LogAppendTime topics).
    pub timestamp: i64,
}

/// One producer's state in the partition.
#[derive(Debug, Clone)]
pub struct ProducerEntry {
    pub epoch: i16,
    batches: VecDeque<BatchMetadata>,
    /// The coordinator epoch of the last transaction marker written for this producer (-1 before any).
    pub coordinator_epoch: i32,
    /// The first offset of the producer's open transaction in this partition.
    pub current_txn_first_offset: Option<i64>,
    /// The timestamp of the producer's last write, which producer expiry counts from.
    pub last_timestamp: i64,
}

impl ProducerEntry {
    /// The sequence of the producer's last record in this partition under its current epoch, if any.
    pub fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }
}

impl Default for ProducerEntry {
    fn default() -> Self {
        ProducerEntry {
            epoch: -1,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            current_txn_first_offset: None,
            last_timestamp: -1,
        }
    }
}

impl ProducerEntry {
    fn set_epoch(&mut self, epoch: i16) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }
}

/// A transaction closed by a marker in this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of the marker.
    pub last_offset: i64,
    pub aborted: bool,
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
    /// A non-transactional batch from a producer whose transaction is open.
    InvalidTxnState,
}

/// Why a marker may not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerCheck {
    Accept,
    /// The marker's producer epoch is older than the partition's.
    StaleEpoch,
    /// The marker comes from an older transaction coordinator than the last one seen.
    StaleCoordinator,
}

/// What the log cleaner must keep of an active producer (Kafka's `LastRecord`): the batch ending at its last
/// data offset, which carries its last sequence, or, when its last write under the current epoch was a marker,
/// a marker with that epoch, which fences older epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastRecord {
    pub last_data_offset: Option<i64>,
    pub producer_epoch: i16,
}

/// Why a snapshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad producer state snapshot: {0}")]
pub struct SnapshotError(pub &'static str);

#[derive(Debug, Default, Clone)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
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
        // A producer this partition knows nothing of must start at 0. Kafka (KIP-360) accepts any sequence here,
        // because the producer's state may have gone with its records (retention, DeleteRecords); but then a
        // first batch refused NOT_LEADER_OR_FOLLOWER and a second one written leave the first one's retries
        // OUT_OF_ORDER_SEQUENCE_NUMBER for good (KAFKA-15591) and the partition out of order. potok refuses
        // the gap instead: the client bumps its epoch and starts again at 0, reordering nothing.
        let Some(entry) = self.producers.get(&h.producer_id) else {
            return if h.base_sequence == 0 { SequenceCheck::Accept } else { SequenceCheck::OutOfOrder };
        };
        if h.producer_epoch < entry.epoch {
            return SequenceCheck::StaleEpoch;
        }
        if entry.current_txn_first_offset.is_some() && !h.is_transactional() {
            return SequenceCheck::InvalidTxnState;
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
            // Nothing written under this epoch yet (only a marker was): the first batch starts at 0.
            None if h.base_sequence != 0 => SequenceCheck::OutOfOrder,
            _ => SequenceCheck::Accept,
        }
    }

    /// Checks a transaction marker for `producer_id` against the state.
    pub fn check_marker(&self, producer_id: i64, producer_epoch: i16, coordinator_epoch: i32) -> MarkerCheck {
        match self.producers.get(&producer_id) {
            Some(e) if producer_epoch < e.epoch => MarkerCheck::StaleEpoch,
            Some(e) if coordinator_epoch < e.coordinator_epoch => MarkerCheck::StaleCoordinator,
            _ => MarkerCheck::Accept,
        }
    }

    /// Records a data batch that was appended (or found in the log on recovery) at `first_offset`, with its
    /// stored max timestamp.
    pub fn update(&mut self, h: &BatchHeader, first_offset: i64, timestamp: i64) {
        if !h.has_producer_id() || h.is_control() {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        entry.set_epoch(h.producer_epoch);
        entry.last_timestamp = timestamp;
        if h.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(first_offset);
            self.ongoing.insert(first_offset, h.producer_id);
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

    /// Records a commit or abort marker written at `offset`. Returns the transaction it closed, if the producer
    /// had written data in this partition since its last marker (a marker for an empty transaction closes
    /// nothing).
    pub fn update_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        aborted: bool,
        offset: i64,
        timestamp: i64,
    ) -> Option<CompletedTxn> {
        let entry = self.producers.entry(producer_id).or_default();
        entry.set_epoch(producer_epoch);
        entry.coordinator_epoch = coordinator_epoch;
        entry.last_timestamp = timestamp;
        let first_offset = entry.current_txn_first_offset.take()?;
        self.ongoing.remove(&first_offset);
        Some(CompletedTxn { producer_id, first_offset, last_offset: offset, aborted })
    }

    /// The first offset of the earliest open transaction.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Whether `producer_id` has an open transaction in this partition.
    pub fn has_ongoing_txn(&self, producer_id: i64) -> bool {
        self.producers.get(&producer_id).is_some_and(|e| e.current_txn_first_offset.is_some())
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// The last record of every producer the state remembers, for the log cleaner.
    pub fn last_records(&self) -> HashMap<i64, LastRecord> {
        self.producers
            .iter()
            .map(|(&id, e)| {
                (id, LastRecord { last_data_offset: e.batches.back().map(|b| b.last_offset), producer_epoch: e.epoch })
            })
            .collect()
    }

    /// Forgets producers with no open transaction whose last write is older than `expiration_ms`
    /// (`producer.id.expiration.ms`).
    pub fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) {
        self.producers.retain(|_, e| e.current_txn_first_offset.is_some() || now_ms - e.last_timestamp < expiration_ms);
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Encodes the state as Kafka's producer snapshot file.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        let mut buf = Vec::with_capacity(SNAPSHOT_HEADER_BYTES + ids.len() * SNAPSHOT_ENTRY_BYTES);
        buf.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&(ids.len() as i32).to_be_bytes());
        for id in ids {
            let e = &self.producers[id];
            let last = e.batches.back();
            buf.extend_from_slice(&id.to_be_bytes());
            buf.extend_from_slice(&e.epoch.to_be_bytes());
            buf.extend_from_slice(&last.map_or(-1, |b| b.last_seq).to_be_bytes());
            buf.extend_from_slice(&last.map_or(-1, |b| b.last_offset).to_be_bytes());
            buf.extend_from_slice(&last.map_or(0, |b| (b.last_offset - b.first_offset) as i32).to_be_bytes());
            buf.extend_from_slice(&last.map_or(e.last_timestamp, |b| b.timestamp).to_be_bytes());
            buf.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            buf.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
        }
        let crc = crc32c::crc32c(&buf[6..]);
        buf[2..6].copy_from_slice(&crc.to_be_bytes());
        buf
    }

    /// Decodes a snapshot file, checking its version, CRC and length before trusting any count.
    pub fn from_snapshot(bytes: &[u8]) -> Result<ProducerState, SnapshotError> {
        if bytes.len() < SNAPSHOT_HEADER_BYTES {
            return Err(SnapshotError("truncated"));
        }
        let i16_at = |at: usize| i16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let i32_at = |at: usize| i32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&bytes[at..at + 8]);
            i64::from_be_bytes(a)
        };
        if i16_at(0) != SNAPSHOT_VERSION {
            return Err(SnapshotError("unknown version"));
        }
        if i32_at(2) as u32 != crc32c::crc32c(&bytes[6..]) {
            return Err(SnapshotError("CRC mismatch"));
        }
        let count = i32_at(6);
        if count < 0 || (count as usize).saturating_mul(SNAPSHOT_ENTRY_BYTES) != bytes.len() - SNAPSHOT_HEADER_BYTES {
            return Err(SnapshotError("entry count does not match the length"));
        }
        let mut state = ProducerState::default();
        for i in 0..count as usize {
            let at = SNAPSHOT_HEADER_BYTES + i * SNAPSHOT_ENTRY_BYTES;
            let producer_id = i64_at(at);
            let last_seq = i32_at(at + 10);
            let last_offset = i64_at(at + 14);
            let offset_delta = i32_at(at + 22);
            let timestamp = i64_at(at + 26);
            let current_txn_first_offset = i64_at(at + 38);
            let mut entry = ProducerEntry {
                epoch: i16_at(at + 8),
                batches: VecDeque::new(),
                coordinator_epoch: i32_at(at + 34),
                current_txn_first_offset: (current_txn_first_offset >= 0).then_some(current_txn_first_offset),
                last_timestamp: timestamp,
            };
            if last_offset >= 0 && last_seq >= 0 && offset_delta >= 0 {
                entry.batches.push_back(BatchMetadata {
                    first_seq: ((i64::from(last_seq) - i64::from(offset_delta)).rem_euclid(i64::from(i32::MAX) + 1))
                        as i32,
                    last_seq,
                    first_offset: last_offset - i64::from(offset_delta),
                    last_offset,
                    timestamp,
                });
            }
            if let Some(first) = entry.current_txn_first_offset {
                state.ongoing.insert(first, producer_id);
            }
            state.producers.insert(producer_id, entry);
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression};

    fn header_txn(pid: i64, epoch: i16, seq: i32, records: usize, transactional: bool) -> BatchHeader {
        let mut b = BatchBuilder::new(Compression::None).producer(pid, epoch, seq, transactional);
        for _ in 0..records {
            b.append(0, None, Some(b"v"), &[]);
        }
        BatchHeader::parse(&b.build().unwrap()).unwrap()
    }

    fn header(pid: i64, epoch: i16, seq: i32, records: usize) -> BatchHeader {
        header_txn(pid, epoch, seq, records, false)
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

    #[test]
    fn transactions_open_and_close_with_markers() {
        let mut s = ProducerState::default();
        let t1 = header_txn(1, 0, 0, 2, true);
        s.update(&t1, 10, 5);
        let t2 = header_txn(2, 3, 0, 1, true);
        s.update(&t2, 12, 5);
        assert_eq!(s.first_unstable_offset(), Some(10));
        assert!(s.has_ongoing_txn(1));
        // A second transactional batch of the same transaction does not move its first offset.
        let t1b = header_txn(1, 0, 2, 1, true);
        assert_eq!(s.check(&t1b), SequenceCheck::Accept);
        s.update(&t1b, 13, 5);
        assert_eq!(s.check(&header(1, 0, 3, 1)), SequenceCheck::InvalidTxnState);
        assert_eq!(s.check_marker(2, 2, 0), MarkerCheck::StaleEpoch);
        let done = s.update_marker(1, 0, 4, true, 14, 6).unwrap();
        assert_eq!(done, CompletedTxn { producer_id: 1, first_offset: 10, last_offset: 14, aborted: true });
        assert_eq!(s.first_unstable_offset(), Some(12));
        assert_eq!(s.check_marker(1, 0, 3), MarkerCheck::StaleCoordinator);
        assert_eq!(s.update_marker(1, 0, 4, false, 15, 6), None, "an empty transaction closes nothing");
        s.update_marker(2, 3, 4, false, 16, 6);
        assert_eq!(s.first_unstable_offset(), None);
        assert_eq!(s.check(&header_txn(1, 0, 3, 1, true)), SequenceCheck::Accept);
    }

    #[test]
    fn snapshots_round_trip_and_refuse_damage() {
        let mut s = ProducerState::default();
        s.update(&header(7, 2, 0, 3), 100, 1_000);
        s.update(&header(7, 2, 3, 2), 103, 1_001);
        s.update(&header_txn(9, 0, 0, 1, true), 105, 1_002);
        s.update_marker(11, 4, 2, false, 106, 1_003);
        let bytes = s.to_snapshot();
        assert_eq!(bytes.len(), SNAPSHOT_HEADER_BYTES + 3 * SNAPSHOT_ENTRY_BYTES);
        let loaded = ProducerState::from_snapshot(&bytes).unwrap();
        assert_eq!(loaded.first_unstable_offset(), Some(105));
        let e = loaded.entry(7).unwrap();
        assert_eq!((e.epoch, e.batches.len()), (2, 1));
        assert!(matches!(loaded.check(&header(7, 2, 3, 2)), SequenceCheck::Duplicate(b) if b.first_offset == 103));
        assert_eq!(loaded.check(&header(7, 2, 5, 1)), SequenceCheck::Accept);
        assert_eq!(loaded.entry(11).unwrap().coordinator_epoch, 2);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert_eq!(ProducerState::from_snapshot(&bad).unwrap_err(), SnapshotError("CRC mismatch"));
        assert!(ProducerState::from_snapshot(&bytes[..bytes.len() - 1]).is_err());
        let mut huge = bytes[..SNAPSHOT_HEADER_BYTES].to_vec();
        huge[6..10].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&huge[6..]);
        huge[2..6].copy_from_slice(&crc.to_be_bytes());
        assert!(ProducerState::from_snapshot(&huge).is_err(), "a count the length cannot hold is refused");
    }
}
