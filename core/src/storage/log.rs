//! A partition's log: an ordered run of segments, the last one active.
//!
//! Invariants: segments are contiguous (each starts where the previous ends); only the last (active) segment
//! takes appends and has full-size indexes; `log_start_offset <= log_end_offset`; everything below
//! `recovery_point` is fsynced; an append either writes every batch it was given or none; the producer state
//! describes the log up to its end offset, and the transaction index of each segment lists the transactions
//! aborted by markers in that segment.
//!
//! Producer state survives restarts through Kafka's `<offset>.snapshot` files: one is written when a segment
//! rolls (at the new segment's base offset) and on a clean close (at the log end offset). Opening loads the
//! latest snapshot at or below the log end offset and replays the batches after it, rebuilding the transaction
//! index entries of the markers it replays.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::backend::Backend;
use super::backend::{read_whole, write_atomic};
use super::checkpoint::LeaderEpochCache;
use super::producer_state::{CompletedTxn, ProducerState};
use super::segment::{self, AppendedBatch, Segment};
use super::txn_index::{AbortedTxn, TXN_INDEX_SUFFIX};
use super::{LogConfig, StorageError};
use crate::record::{self, Batches, ControlType, EndTxnMarker, RecordError, TimestampType, RECORD_BATCH_OVERHEAD};

/// The suffix of producer state snapshot files, named by the offset they describe the log up to.
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";
/// The file in which Kafka keeps a partition's topic id beside its segments.
pub const PARTITION_METADATA: &str = "partition.metadata";
/// A snapshot larger than this is not a producer snapshot potok wrote (it would hold millions of producers).
const SNAPSHOT_MAX_BYTES: u64 = 256 << 20;

/// Who is appending, which decides what the log checks and rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer: offsets and leader epoch are assigned here, control batches are refused.
    Client,
    /// The group or transaction coordinator (writes control batches and internal topics).
    Coordinator,
    /// A follower copying the leader: offsets and epochs are kept as they are.
    Replication,
}

/// What the caller knows about the log from before this process started. The default (nothing known) makes
/// open recover the whole log.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Offset below which everything was flushed (from `recovery-point-offset-checkpoint`).
    pub recovery_point: i64,
    /// From `log-start-offset-checkpoint`.
    pub log_start_offset: i64,
    /// Whether the previous process shut down cleanly, so nothing past the recovery point needs checking.
    pub had_clean_shutdown: bool,
    /// From `replication-offset-checkpoint`: the high watermark last checkpointed (clamped to the log on open).
    pub high_watermark: i64,
}

/// The outcome of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    /// The timestamp stamped on the batches when the topic uses LogAppendTime.
    pub log_append_time: Option<i64>,
    pub batch_count: usize,
    pub record_count: i64,
    pub bytes: usize,
    pub log_start_offset: i64,
    /// The batch was a retry of one already in the log: nothing was written and the offsets are the original's.
    pub duplicate: bool,
}

/// The outcome of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadInfo {
    /// Whole batches, exactly as stored.
    pub records: Vec<u8>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// Whole batches as a read returns them: their bytes, or (for a Fetch on a backend that can send files) the
/// range of the segment file that holds them.
#[derive(Debug, Clone)]
pub enum Records {
    Bytes(Vec<u8>),
    File(super::FileSlice),
}

impl Records {
    pub fn len(&self) -> usize {
        match self {
            Records::Bytes(b) => b.len(),
            Records::File(f) => f.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, read from the file for a file range.
    pub fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        match self {
            Records::Bytes(bytes) => Ok(bytes),
            Records::File(slice) => slice.read_to_vec(),
        }
    }
}

/// The outcome of [`Log::read_records`].
#[derive(Debug, Clone)]
pub struct ReadRecords {
    pub records: Records,
    /// One past the last offset of the last batch read; `None` when no batch was.
    pub next_offset: Option<i64>,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

#[derive(Debug)]
pub struct Log {
    backend: Arc<dyn Backend>,
    dir: PathBuf,
    config: LogConfig,
    segments: BTreeMap<i64, Segment>,
    log_start_offset: i64,
    recovery_point: i64,
    unflushed_messages: i64,
    last_flush_ms: i64,
    leader_epochs: LeaderEpochCache,
    producers: ProducerState,
    /// The offset of the newest producer snapshot on disk, if known: close writes none when it is the log end.
    last_snapshot_offset: Option<i64>,
    /// The offset below which every record is replicated to the whole ISR (Kafka keeps it in the log too, so
    /// retention and the last stable offset can see it). The partition's replica logic moves it.
    high_watermark: i64,
    /// The contents of [`PARTITION_METADATA`] while it is still to be written (see
    /// [`Log::set_partition_metadata`]).
    partition_metadata: Option<Vec<u8>>,
}

/// What [`Log::append_validated`] writes in place of a batch's stored bytes where it assigns offsets.
enum Rewritten {
    /// The first [`RECORD_BATCH_OVERHEAD`] bytes, rewritten; the rest of the batch is written as it came.
    Header([u8; RECORD_BATCH_OVERHEAD]),
    /// The whole batch, rewritten (its CRC changed).
    Batch(Vec<u8>),
}

/// Batches that passed [`Log::validate`], ready for [`Log::append_validated`].
#[derive(Debug, Clone)]
pub struct ValidatedBatches {
    /// Each batch's byte range in the appended buffer and its header.
    spans: Vec<(usize, usize, record::BatchHeader)>,
    /// The transaction marker each batch carries, if it is one.
    markers: Vec<Option<EndTxnMarker>>,
    record_count: i64,
}

impl ValidatedBatches {
    /// The batches' headers, in order.
    pub fn headers(&self) -> impl Iterator<Item = &record::BatchHeader> {
        self.spans.iter().map(|(_, _, h)| h)
    }

    /// Each batch's header with the transaction marker it carries, in order.
    pub fn batches(&self) -> impl Iterator<Item = (&record::BatchHeader, Option<&EndTxnMarker>)> {
        self.spans.iter().zip(&self.markers).map(|((_, _, h), m)| (h, m.as_ref()))
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn record_count(&self) -> i64 {
        self.record_count
    }

    fn total_bytes(&self) -> usize {
        self.spans.last().map_or(0, |(_, end, _)| *end)
    }
}

fn parse_offset_name(name: &str, suffix: &str) -> Option<i64> {
    let digits = name.strip_suffix(suffix)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

fn parse_segment_name(name: &str) -> Option<i64> {
    parse_offset_name(name, segment::LOG_SUFFIX)
}

impl Log {
    /// Opens (or creates) the log in `dir`, recovering what may be damaged: after an unclean shutdown every
    /// segment from the one holding the recovery point on is re-validated, and any segment whose indexes fail
    /// their sanity check gets them rebuilt. A torn or corrupt tail is truncated to the last valid batch and
    /// the segments after it are removed.
    pub fn open(
        backend: Arc<dyn Backend>,
        dir: &Path,
        config: LogConfig,
        options: OpenOptions,
        now_ms: i64,
    ) -> Result<Log, StorageError> {
        backend.create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        super::swap::complete_interrupted_swaps(backend.as_ref(), dir, &config, now_ms)?;
        let names = backend.list_dir(dir).map_err(|e| StorageError::io(dir, e))?;
        let mut bases: Vec<i64> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
        bases.sort_unstable();
        Self::remove_leftovers(backend.as_ref(), dir, &names, &bases)?;

        let recover_from = if options.had_clean_shutdown {
            i64::MAX
        } else {
            bases.iter().copied().filter(|&b| b <= options.recovery_point).max().unwrap_or(i64::MIN)
        };
        let mut segments: BTreeMap<i64, Segment> = BTreeMap::new();
        let mut truncated_at: Option<i64> = None;
        let last_base = bases.last().copied();
        for (i, &base) in bases.iter().enumerate() {
            if truncated_at.is_some() {
                // Everything after a truncated segment is unreachable: the offsets no longer follow on.
                let (seg, _) = Segment::open(backend.as_ref(), dir, base, &config, now_ms)?;
                seg.delete(backend.as_ref())?;
                continue;
            }
            let (mut seg, indexes_ok) = Segment::open(backend.as_ref(), dir, base, &config, now_ms)?;
            if base >= recover_from || !indexes_ok {
                // Sealed segments may have offset gaps where the cleaner removed batches; the active one may not.
                let truncated = seg.recover(bases.get(i + 1).copied())?;
                if truncated > 0 {
                    truncated_at = Some(seg.next_offset());
                }
                if Some(base) != last_base && truncated_at.is_none() {
                    seg.seal()?;
                }
                seg.flush()?;
            }
            segments.insert(base, seg);
        }

        let first_base = segments.keys().next().copied().unwrap_or(0);
        let log_end_offset = segments.values().next_back().map_or(first_base, Segment::next_offset);
        let log_start_offset = options.log_start_offset.max(first_base).clamp(0, log_end_offset.max(0));
        // The active segment's indexes grow back to full size on its first append (`ensure_appendable`).
        if segments.is_empty() {
            let seg = Segment::create(backend.as_ref(), dir, log_start_offset, &config, now_ms)?;
            segments.insert(log_start_offset, seg);
        }
        let mut leader_epochs = LeaderEpochCache::load(backend.as_ref(), dir)?;
        leader_epochs.truncate_from_end(backend.as_ref(), log_end_offset)?;
        leader_epochs.truncate_from_start(backend.as_ref(), log_start_offset)?;
        let high_watermark = options.high_watermark.clamp(log_start_offset, log_end_offset);
        // Recovered segments were flushed above and the rest were flushed before.
        let mut log =
            Log::assemble(backend, dir, config, segments, log_start_offset, leader_epochs, high_watermark, now_ms);
        log.rebuild_producer_state()?;
        Ok(log)
    }

    /// Creates the log of a new partition in `dir`, whose parent must exist and which must not (an `Io` error of
    /// kind `AlreadyExists` says it does; a caller that finds such a leftover removes it and tries again): the
    /// directory and an empty first segment at offset 0. Unlike [`Log::open`] it looks for nothing that an
    /// existing directory could hold (segments to recover, a crashed cleaner's swap files, leftovers, snapshots,
    /// a leader epoch checkpoint), and it creates each file without first checking that it is not there, which
    /// together were two thirds of the system calls of making a partition.
    pub fn create(backend: Arc<dyn Backend>, dir: &Path, config: LogConfig, now_ms: i64) -> Result<Log, StorageError> {
        backend.create_dir(dir).map_err(|e| StorageError::io(dir, e))?;
        let segment = Segment::create_in_new_dir(backend.as_ref(), dir, 0, &config, now_ms)?;
        let leader_epochs = LeaderEpochCache::empty(dir);
        Ok(Log::assemble(backend, dir, config, BTreeMap::from([(0, segment)]), 0, leader_epochs, 0, now_ms))
    }

    /// A log of these segments, all flushed, with no producer state yet.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        backend: Arc<dyn Backend>,
        dir: &Path,
        config: LogConfig,
        segments: BTreeMap<i64, Segment>,
        log_start_offset: i64,
        leader_epochs: LeaderEpochCache,
        high_watermark: i64,
        now_ms: i64,
    ) -> Log {
        let log_end_offset = segments.values().next_back().map_or(log_start_offset, Segment::next_offset);
        Log {
            backend,
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            recovery_point: log_end_offset,
            unflushed_messages: 0,
            last_flush_ms: now_ms,
            leader_epochs,
            producers: ProducerState::default(),
            last_snapshot_offset: None,
            high_watermark,
            partition_metadata: None,
        }
    }

    /// Gives the log the contents of its [`PARTITION_METADATA`] file, to be written later, as Kafka writes it:
    /// off the path of the request that made the partition (each write syncs a file and the directory, and a
    /// topic of thousands of partitions would wait for thousands of them). [`Log::write_partition_metadata`]
    /// writes it, and at the latest the first append or flush does, so no batch reaches the disk before it.
    /// `None` forgets a file still to be written.
    pub fn set_partition_metadata(&mut self, contents: Option<Vec<u8>>) {
        self.partition_metadata = contents;
    }

    /// Writes (atomically, synced) the [`PARTITION_METADATA`] file still to be written, if any.
    pub fn write_partition_metadata(&mut self) -> Result<(), StorageError> {
        if let Some(contents) = &self.partition_metadata {
            let path = self.dir.join(PARTITION_METADATA);
            write_atomic(self.backend.as_ref(), &path, contents).map_err(|e| StorageError::io(&path, e))?;
            self.partition_metadata = None;
        }
        Ok(())
    }

    /// Offsets of the snapshot files in the log directory, ascending.
    fn snapshot_offsets(&self) -> Result<Vec<i64>, StorageError> {
        let names = self.backend.list_dir(&self.dir).map_err(|e| StorageError::io(&self.dir, e))?;
        let mut offsets: Vec<i64> = names.iter().filter_map(|n| parse_offset_name(n, SNAPSHOT_SUFFIX)).collect();
        offsets.sort_unstable();
        Ok(offsets)
    }

    fn snapshot_path(&self, offset: i64) -> PathBuf {
        self.dir.join(segment::file_name(offset, SNAPSHOT_SUFFIX))
    }

    fn remove_snapshot(&self, offset: i64) -> Result<(), StorageError> {
        let path = self.snapshot_path(offset);
        match self.backend.remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(&path, e)),
        }
    }

    /// Writes the producer state as of the log end offset to `<log end offset>.snapshot`.
    pub fn write_snapshot(&self) -> Result<(), StorageError> {
        let path = self.snapshot_path(self.log_end_offset());
        write_atomic(self.backend.as_ref(), &path, &self.producers.to_snapshot())
            .map_err(|e| StorageError::io(&path, e))
    }

    /// Writes a snapshot unless one describes the log end already, or the log is empty (as Kafka takes one only
    /// when the state has moved past the last snapshot).
    fn write_snapshot_if_stale(&mut self) -> Result<(), StorageError> {
        let log_end_offset = self.log_end_offset();
        if self.last_snapshot_offset != Some(log_end_offset) && log_end_offset > self.log_start_offset {
            self.write_snapshot()?;
            self.last_snapshot_offset = Some(self.log_end_offset());
        }
        Ok(())
    }

    /// Loads the latest usable snapshot (removing those past the log end, which a truncation made stale, and
    /// unreadable ones) and replays the batches after it. Without a snapshot the whole log is replayed.
    fn rebuild_producer_state(&mut self) -> Result<(), StorageError> {
        let log_end_offset = self.log_end_offset();
        let mut start = self.log_start_offset;
        for offset in self.snapshot_offsets()?.into_iter().rev() {
            if offset > log_end_offset || offset < self.log_start_offset {
                self.remove_snapshot(offset)?;
                continue;
            }
            let path = self.snapshot_path(offset);
            let loaded = self
                .backend
                .open(&path, false)
                .map(|f| f.len())
                .and_then(|len| {
                    if len > SNAPSHOT_MAX_BYTES {
                        Err(std::io::Error::other("snapshot too large"))
                    } else {
                        read_whole(self.backend.as_ref(), &path)
                    }
                })
                .ok()
                .and_then(|bytes| ProducerState::from_snapshot(&bytes).ok());
            match loaded {
                Some(state) => {
                    self.producers = state;
                    start = offset;
                    self.last_snapshot_offset = Some(offset);
                    break;
                }
                // Kafka deletes a snapshot it cannot read and falls back to an older one.
                None => self.remove_snapshot(offset)?,
            }
        }
        for seg in self.segments.values_mut() {
            seg.truncate_txn_index_from(start)?;
        }
        // Read a bounded amount, then apply it (the state is updated between reads, so this cannot borrow the
        // log through `for_each_batch`).
        let mut offset = start;
        while offset < log_end_offset {
            let read = self.read(offset, 1 << 20, i64::MAX, true)?;
            if read.records.is_empty() {
                break;
            }
            for batch in Batches::new(&read.records) {
                let batch = batch?;
                let h = record::BatchHeader::parse(batch)?;
                offset = h.next_offset();
                if h.last_offset() < start {
                    continue;
                }
                if h.is_control() && h.has_producer_id() {
                    // A marker potok cannot read was still accepted when it was written; skip it rather than fail.
                    if let Ok(marker) = record::end_txn_marker(batch) {
                        self.apply_marker(&h, marker, h.base_offset, h.max_timestamp)?;
                    }
                } else {
                    self.producers.update(&h, h.base_offset, h.max_timestamp);
                }
            }
        }
        Ok(())
    }

    /// Calls `visit` with every batch from the one holding `from` to the log end, in order, reading a bounded
    /// amount at a time. Coordinators and the metadata store replay their logs through this.
    pub fn for_each_batch<E: From<StorageError>>(
        &self,
        from: i64,
        mut visit: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        const READ_BYTES: usize = 1 << 20;
        let mut offset = from.max(self.log_start_offset);
        while offset < self.log_end_offset() {
            let read = self.read(offset, READ_BYTES, i64::MAX, true)?;
            if read.records.is_empty() {
                break;
            }
            for batch in Batches::new(&read.records) {
                let batch = batch.map_err(StorageError::from)?;
                offset = record::BatchHeader::parse(batch).map_err(StorageError::from)?.next_offset();
                visit(batch)?;
            }
        }
        Ok(())
    }

    /// Applies a marker written at `offset` to the producer state and, for an abort, to the transaction index.
    fn apply_marker(
        &mut self,
        h: &record::BatchHeader,
        marker: EndTxnMarker,
        offset: i64,
        timestamp: i64,
    ) -> Result<Option<CompletedTxn>, StorageError> {
        let aborted = match marker.control_type {
            ControlType::Abort => true,
            ControlType::Commit => false,
            ControlType::Unknown(_) => return Ok(None),
        };
        let completed = self.producers.update_marker(
            h.producer_id,
            h.producer_epoch,
            marker.coordinator_epoch,
            aborted,
            offset,
            timestamp,
        );
        if let Some(txn) = completed.filter(|t| t.aborted) {
            // The last stable offset once this transaction is closed: the first offset of the earliest other open
            // transaction, or just past the marker.
            let last_stable_offset = self.producers.first_unstable_offset().unwrap_or(offset + 1);
            let backend = self.backend.clone();
            if let Some((_, seg)) = self.segments.range_mut(..=offset).next_back() {
                seg.append_aborted_txn(
                    backend.as_ref(),
                    AbortedTxn {
                        producer_id: txn.producer_id,
                        first_offset: txn.first_offset,
                        last_offset: txn.last_offset,
                        last_stable_offset,
                    },
                )?;
            }
        }
        Ok(completed)
    }

    /// The first offset of the earliest transaction still open in this log, if any.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers.first_unstable_offset()
    }

    /// The last stable offset: below the high watermark, and no record at or past it belongs to a transaction
    /// that is still open.
    pub fn last_stable_offset(&self) -> i64 {
        self.producers.first_unstable_offset().map_or(self.high_watermark, |o| o.min(self.high_watermark))
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Moves the high watermark, kept within `[log start offset, log end offset]`. The replica logic decides the
    /// value; it only moves down when a follower truncates.
    pub fn set_high_watermark(&mut self, high_watermark: i64) {
        self.high_watermark = high_watermark.clamp(self.log_start_offset, self.log_end_offset());
    }

    /// Whether `producer_id` has an open transaction in this partition.
    pub fn has_ongoing_txn(&self, producer_id: i64) -> bool {
        self.producers.has_ongoing_txn(producer_id)
    }

    pub fn producer_state(&self) -> &ProducerState {
        &self.producers
    }

    /// Forgets idle producers (`producer.id.expiration.ms`), as Kafka does, so the state stays bounded.
    pub fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) {
        self.producers.remove_expired(now_ms, expiration_ms);
    }

    /// The aborted transactions a read_committed fetch from `fetch_offset` needs for records below
    /// `upper_bound_offset`, searching the segment holding `fetch_offset` and those after it until an entry's
    /// last stable offset shows nothing later can overlap.
    pub fn collect_aborted_txns(&self, fetch_offset: i64, upper_bound_offset: i64) -> Vec<AbortedTxn> {
        let from = self.segments.range(..=fetch_offset).next_back().map_or(i64::MIN, |(base, _)| *base);
        let mut out = Vec::new();
        for seg in self.segments.range(from..).map(|(_, s)| s) {
            if seg.txn_index().collect(fetch_offset, upper_bound_offset, &mut out) {
                break;
            }
        }
        out
    }

    /// Removes files a crash can leave behind: index files without a log, temporary and deleted files.
    fn remove_leftovers(
        backend: &dyn Backend,
        dir: &Path,
        names: &[String],
        bases: &[i64],
    ) -> Result<(), StorageError> {
        for name in names {
            let orphan_index =
                [segment::INDEX_SUFFIX, segment::TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX].iter().any(|suffix| {
                    name.strip_suffix(suffix)
                        .filter(|digits| digits.len() == 20)
                        .and_then(|digits| digits.parse::<i64>().ok())
                        .is_some_and(|base| !bases.contains(&base))
                });
            let leftover = [".tmp", ".deleted", ".cleaned"].iter().any(|s| name.ends_with(s));
            if orphan_index || leftover {
                let path = dir.join(name);
                backend.remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            }
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Applies new topic configs; they take effect from the next append, roll or retention pass.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// One past the last offset written.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    pub fn size_in_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    pub fn leader_epochs(&self) -> &LeaderEpochCache {
        &self.leader_epochs
    }

    /// The segments, oldest first; the last one is active.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.values()
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Swaps a cleaned segment (sealed, flushed, with `.cleaned` files) in for the sealed segments whose ids
    /// are `replaces`, crash-safely (see `storage::swap`). Returns false, and removes the cleaned files, when
    /// those segments are no longer all in the log (retention, deletion or truncation got there first).
    pub fn replace_segments(&mut self, cleaned: Segment, replaces: &[u64], now_ms: i64) -> Result<bool, StorageError> {
        let active_base = self.active().base_offset();
        let old: Vec<i64> = self
            .segments
            .values()
            .filter(|s| replaces.contains(&s.id()) && s.base_offset() < active_base)
            .map(Segment::base_offset)
            .collect();
        if old.len() != replaces.len() || old.first() != Some(&cleaned.base_offset()) {
            cleaned.delete(self.backend.as_ref())?;
            return Ok(false);
        }
        let segment = super::swap::swap_in(self.backend.as_ref(), &self.dir, cleaned, &old, &self.config, now_ms)?;
        for base in &old {
            self.segments.remove(base);
        }
        self.segments.insert(segment.base_offset(), segment);
        Ok(true)
    }

    fn active(&self) -> &Segment {
        // A log always has at least one segment: open creates one and retention rolls before deleting them all.
        self.segments.values().next_back().expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments.values_mut().next_back().expect("a log always has an active segment")
    }

    /// Checks batches before an append: framing, magic, CRC, record structure, `max.message.bytes`, the
    /// records' keys and timestamps (see [`Log::record_rules`]), no control batches from clients, the
    /// transaction marker a control batch carries, replicated batches following the log end, and the whole
    /// append fitting in a segment. Nothing is written; the producer and transaction rules are the partition's
    /// to check on top (see `crate::partition`).
    pub fn validate(
        &self,
        records: &[u8],
        origin: AppendOrigin,
        now_ms: i64,
    ) -> Result<ValidatedBatches, StorageError> {
        let mut spans = Vec::new();
        let mut markers = Vec::new();
        let mut offset = self.log_end_offset();
        let mut record_count = 0i64;
        let rules = self.record_rules(origin, now_ms);
        for batch in Batches::new(records) {
            let batch = batch?;
            if batch.len() > self.config.max_message_bytes as usize {
                return Err(StorageError::MessageTooLarge { size: batch.len(), max: self.config.max_message_bytes });
            }
            let header = record::validate_batch(batch)?;
            if origin == AppendOrigin::Client && header.is_control() {
                return Err(RecordError::InvalidRecord("clients may not write control batches").into());
            }
            record::validate_records(&header, batch, record::DecodeLimits::default(), rules)?;
            let marker = if header.is_control() && header.has_producer_id() {
                Some(record::end_txn_marker(batch)?)
            } else {
                None
            };
            markers.push(marker);
            if origin == AppendOrigin::Replication && header.base_offset != offset {
                return Err(RecordError::InvalidRecord("replicated batch does not follow the log end offset").into());
            }
            let start = spans.last().map_or(0, |(_, end, _)| *end);
            spans.push((start, start + batch.len(), header));
            offset += i64::from(header.last_offset_delta) + 1;
            record_count += i64::from(header.records_count);
        }
        let validated = ValidatedBatches { spans, markers, record_count };
        if validated.is_empty() {
            return Err(RecordError::InvalidRecord("no record batches to append").into());
        }
        let total = validated.total_bytes();
        if total > self.config.segment_bytes as usize {
            return Err(StorageError::RecordListTooLarge { size: total, max: self.config.segment_bytes });
        }
        Ok(validated)
    }

    /// What this log requires of each record a producer writes at `now_ms`, as Kafka's leader does: a key in a
    /// compacted topic, and in a CreateTime topic a timestamp within `message.timestamp.before.max.ms` /
    /// `after.max.ms` of the broker's time. A follower copies what its leader accepted. The broker's own
    /// writes (coordinators, the metadata log) are not held to them: they carry keys where the topic is
    /// compacted and the time of writing, and re-writing stored records must not depend on the clock.
    fn record_rules(&self, origin: AppendOrigin, now_ms: i64) -> record::RecordRules {
        if origin != AppendOrigin::Client {
            return record::RecordRules::default();
        }
        let create_time = self.config.message_timestamp_type == TimestampType::CreateTime;
        record::RecordRules {
            require_keys: self.config.compact,
            timestamps: create_time.then(|| {
                (
                    now_ms.saturating_sub(self.config.message_timestamp_before_max_ms),
                    now_ms.saturating_add(self.config.message_timestamp_after_max_ms),
                )
            }),
        }
    }

    /// Validates and appends batches, with no producer or transaction rules (those are the partition's).
    pub fn append(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        origin: AppendOrigin,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let validated = self.validate(records, origin, now_ms)?;
        self.append_validated(records, &validated, leader_epoch, origin, now_ms)
    }

    /// Appends batches that [`Log::validate`] accepted for this log's current end. For client and coordinator
    /// appends, the batches get consecutive offsets from the log end, `leader_epoch`, and (for LogAppendTime
    /// topics) `now_ms` as timestamp; the rest of each batch is stored byte for byte. Replicated batches keep
    /// their offsets and epochs. Producer state, the transaction index and the leader epoch cache follow.
    /// `records` is not changed: a batch's rewritten header is written ahead of the rest of it, which is written
    /// straight from `records` (no copy of the request's bytes).
    pub fn append_validated(
        &mut self,
        records: &[u8],
        validated: &ValidatedBatches,
        leader_epoch: i32,
        origin: AppendOrigin,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        self.write_partition_metadata()?;
        let spans = &validated.spans;
        let total = validated.total_bytes();
        let first_offset = self.log_end_offset();
        let log_append_time = (self.config.message_timestamp_type == TimestampType::LogAppendTime
            && origin != AppendOrigin::Replication)
            .then_some(now_ms);

        let mut appended = Vec::with_capacity(spans.len());
        // Per batch, what is written instead of its first bytes: the header with the offset and epoch assigned,
        // or (LogAppendTime, whose CRC changes) the whole batch rewritten.
        let mut rewritten: Vec<Rewritten> = Vec::with_capacity(spans.len());
        let mut next = first_offset;
        let (mut max_timestamp, mut offset_of_max_timestamp) = (record::NO_TIMESTAMP, first_offset);
        for (start, end, header) in spans {
            let batch = &records[*start..*end];
            if origin != AppendOrigin::Replication {
                if let Some(ts) = log_append_time {
                    let mut whole = batch.to_vec();
                    record::set_base_offset(&mut whole, next);
                    record::set_partition_leader_epoch(&mut whole, leader_epoch);
                    record::set_log_append_time(&mut whole, ts);
                    rewritten.push(Rewritten::Batch(whole));
                } else {
                    let mut head = [0u8; RECORD_BATCH_OVERHEAD];
                    head.copy_from_slice(&batch[..RECORD_BATCH_OVERHEAD]);
                    record::set_base_offset(&mut head, next);
                    record::set_partition_leader_epoch(&mut head, leader_epoch);
                    rewritten.push(Rewritten::Header(head));
                }
            }
            let last_offset = next + i64::from(header.last_offset_delta);
            let batch_max_timestamp = log_append_time.unwrap_or(header.max_timestamp);
            if batch_max_timestamp > max_timestamp {
                max_timestamp = batch_max_timestamp;
                offset_of_max_timestamp = last_offset;
            }
            appended.push(AppendedBatch { last_offset, max_timestamp: batch_max_timestamp, size: end - start });
            next = last_offset + 1;
        }
        let last_offset = next - 1;

        // Grown before the roll check (which looks at index fullness) and again after a roll.
        self.active_mut().ensure_appendable()?;
        self.maybe_roll(total, last_offset, max_timestamp, now_ms)?;
        self.active_mut().ensure_appendable()?;
        let parts: Vec<&[u8]> = if rewritten.is_empty() {
            vec![&records[..total]]
        } else {
            let mut parts = Vec::with_capacity(2 * spans.len());
            for ((start, end, _), rewritten) in spans.iter().zip(&rewritten) {
                match rewritten {
                    Rewritten::Header(head) => {
                        parts.push(&head[..]);
                        parts.push(&records[start + RECORD_BATCH_OVERHEAD..*end]);
                    }
                    Rewritten::Batch(whole) => parts.push(whole),
                }
            }
            parts
        };
        self.active_mut().append(&parts, &appended)?;
        let mut first = first_offset;
        for ((_, _, h), marker) in spans.iter().zip(&validated.markers) {
            let timestamp = log_append_time.unwrap_or(h.max_timestamp);
            match marker {
                Some(marker) => {
                    self.apply_marker(h, *marker, first, timestamp)?;
                }
                None => self.producers.update(h, first, timestamp),
            }
            first += i64::from(h.last_offset_delta) + 1;
        }
        let backend = self.backend.clone();
        match origin {
            // A follower learns each epoch's start from the batches it copies.
            AppendOrigin::Replication => {
                for (_, _, h) in spans {
                    self.leader_epochs.assign(backend.as_ref(), h.partition_leader_epoch, h.base_offset)?;
                }
            }
            _ => self.leader_epochs.assign(backend.as_ref(), leader_epoch, first_offset)?,
        }
        self.unflushed_messages = self.unflushed_messages.saturating_add(validated.record_count);
        self.maybe_flush(now_ms)?;
        Ok(AppendInfo {
            first_offset,
            last_offset,
            max_timestamp,
            offset_of_max_timestamp,
            log_append_time,
            batch_count: spans.len(),
            record_count: validated.record_count,
            bytes: total,
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    /// Rolls to a new segment if the active one cannot take `bytes` more, has aged past `segment.ms`, has a
    /// full index, or would need relative offsets beyond what its index can hold.
    fn maybe_roll(
        &mut self,
        bytes: usize,
        last_offset: i64,
        max_timestamp: i64,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let active = self.active();
        if active.is_empty() {
            return Ok(());
        }
        let full = active.size() + bytes as u64 > u64::from(self.config.segment_bytes);
        let aged = active.age_ms(now_ms, max_timestamp) > self.config.segment_ms;
        let offset_overflow = last_offset - active.base_offset() > i64::from(i32::MAX);
        if full || aged || offset_overflow || active.indexes_full() {
            self.roll(now_ms)?;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at the log end offset. The sealed segment is flushed, as
    /// Kafka flushes a segment once it rolls, so the recovery point moves up to the new segment.
    pub fn roll(&mut self, now_ms: i64) -> Result<(), StorageError> {
        let base = self.log_end_offset();
        if self.active().base_offset() == base {
            return Ok(());
        }
        let active = self.active_mut();
        active.seal()?;
        active.flush()?;
        self.recovery_point = self.recovery_point.max(base);
        let seg = Segment::create(self.backend.as_ref(), &self.dir, base, &self.config, now_ms)?;
        self.segments.insert(base, seg);
        // Kafka snapshots producer state at every new segment, so a restart replays at most the active segment.
        self.write_snapshot_if_stale()
    }

    /// Reads whole batches starting with the one that holds `offset`, at most `max_bytes` of them (but at least
    /// one batch when `min_one_batch`), none starting at or beyond `max_offset` (the high watermark for
    /// consumers). Like Kafka, one read returns batches from a single segment.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<ReadInfo, StorageError> {
        let read = self.read_records(offset, max_bytes, max_offset, min_one_batch, false)?;
        let records = read.records.into_bytes().map_err(|e| StorageError::io(&self.dir, e))?;
        Ok(ReadInfo { records, log_start_offset: read.log_start_offset, log_end_offset: read.log_end_offset })
    }

    /// As [`Log::read`]; with `zero_copy`, a backend that can send files answers with a slice of the segment
    /// file (held open, so retention or compaction deleting the segment later leaves it readable).
    pub fn read_records(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
        zero_copy: bool,
    ) -> Result<ReadRecords, StorageError> {
        let log_end_offset = self.log_end_offset();
        if offset < self.log_start_offset || offset > log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset,
            });
        }
        let from = self.segments.range(..=offset).next_back().map_or(offset, |(base, _)| *base);
        let mut records = Records::Bytes(Vec::new());
        let mut next_offset = None;
        for seg in self.segments.range(from..).map(|(_, s)| s) {
            if let Some((found, next)) = seg.read_records(offset, max_bytes, max_offset, min_one_batch, zero_copy)? {
                records = found;
                next_offset = next;
                break;
            }
        }
        Ok(ReadRecords { records, next_offset, log_start_offset: self.log_start_offset, log_end_offset })
    }

    /// The bytes a read from `from` bounded by `to` could return (whole batches from the one holding `from` to
    /// the one holding `to`), found from the indexes without reading records: what a waiting fetch checks.
    pub fn bytes_between(&self, from: i64, to: i64) -> Result<u64, StorageError> {
        if to <= from {
            return Ok(0);
        }
        let first = self.segments.range(..=from).next_back().map_or(i64::MIN, |(base, _)| *base);
        let mut total = 0u64;
        for seg in self.segments.range(first..).map(|(_, s)| s) {
            if seg.base_offset() >= to {
                break;
            }
            let start = if seg.base_offset() <= from { seg.position_of(from)?.unwrap_or(seg.size()) } else { 0 };
            let end = if seg.next_offset() > to { seg.position_of(to)?.unwrap_or(seg.size()) } else { seg.size() };
            total += end.saturating_sub(start);
        }
        Ok(total)
    }

    /// The first offset whose record timestamp is `>= timestamp`, with that timestamp (ListOffsets by time).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, StorageError> {
        for seg in self.segments.values() {
            if seg.max_timestamp() < timestamp || seg.next_offset() <= self.log_start_offset {
                continue;
            }
            if let Some(found) = seg.find_offset_by_timestamp(timestamp, self.log_start_offset)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The largest timestamp in the log and the offset of the batch holding it (ListOffsets MAX_TIMESTAMP).
    pub fn max_timestamp_and_offset(&self) -> Option<(i64, i64)> {
        self.segments
            .values()
            .filter(|s| s.max_timestamp() != record::NO_TIMESTAMP)
            .map(|s| (s.max_timestamp(), s.offset_of_max_timestamp()))
            .fold(None, |best: Option<(i64, i64)>, cur| match best {
                Some(b) if b.0 >= cur.0 => Some(b),
                _ => Some(cur),
            })
    }

    /// The record with the largest timestamp (the first such record if several share it), as (timestamp,
    /// offset): what ListOffsets answers for MAX_TIMESTAMP since Kafka 3.8.
    pub fn max_timestamp_record(&self) -> Result<Option<(i64, i64)>, StorageError> {
        let Some((timestamp, batch_offset)) = self.max_timestamp_and_offset() else {
            return Ok(None);
        };
        if batch_offset < self.log_start_offset {
            return Ok(None);
        }
        let read = self.read(batch_offset, 1, i64::MAX, true)?;
        for batch in Batches::new(&read.records) {
            let (_, records) = record::decode_records(batch?, record::DecodeLimits::default())?;
            if let Some(r) = records.iter().find(|r| r.timestamp == timestamp) {
                return Ok(Some((timestamp, r.offset)));
            }
        }
        Ok(Some((timestamp, batch_offset)))
    }

    /// Deletes whole segments that fall outside retention: below the log start offset and, when
    /// `cleanup.policy` has `delete`, older than `retention.ms` or beyond `retention.bytes` (oldest first). Only
    /// segments wholly below the high watermark go. If every segment goes, the log rolls first so it keeps an
    /// empty active segment.
    /// Returns how many segments were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, StorageError> {
        let high_watermark = self.high_watermark;
        let log_start_offset = self.log_start_offset;
        let mut deleted =
            self.delete_oldest(high_watermark, now_ms, |_, next_base, _| next_base <= log_start_offset)?;
        // A compact-only log keeps every segment the cleaner keeps: time and size retention need `delete`.
        if !self.config.delete {
            return Ok(deleted);
        }
        if self.config.retention_ms >= 0 {
            let retention_ms = self.config.retention_ms;
            // A segment the cleaner emptied has no timestamp; like Kafka, time retention lets it go.
            deleted += self.delete_oldest(high_watermark, now_ms, |seg, _, _| {
                seg.is_empty()
                    || (seg.max_timestamp() != record::NO_TIMESTAMP && now_ms - seg.max_timestamp() > retention_ms)
            })?;
        }
        if self.config.retention_bytes >= 0 {
            let mut excess = self.size_in_bytes() as i64 - self.config.retention_bytes;
            deleted += self.delete_oldest(high_watermark, now_ms, |seg, _, _| {
                let fits = excess - seg.size() as i64 >= 0;
                if fits {
                    excess -= seg.size() as i64;
                }
                fits
            })?;
        }
        Ok(deleted)
    }

    /// Deletes segments from the oldest while `deletable(segment, next segment's base, is_active)` holds.
    fn delete_oldest(
        &mut self,
        high_watermark: i64,
        now_ms: i64,
        mut deletable: impl FnMut(&Segment, i64, bool) -> bool,
    ) -> Result<usize, StorageError> {
        let mut doomed = Vec::new();
        let count = self.segments.len();
        for (i, (&base, seg)) in self.segments.iter().enumerate() {
            let is_active = i + 1 == count;
            let next_base = match self.segments.range((Bound::Excluded(base), Bound::Unbounded)).next() {
                Some((&next, _)) => next,
                None => seg.next_offset(),
            };
            if next_base > high_watermark || (is_active && seg.is_empty()) || !deletable(seg, next_base, is_active) {
                break;
            }
            doomed.push(base);
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        if doomed.len() == count {
            self.roll(now_ms)?;
        }
        for base in &doomed {
            if let Some(seg) = self.segments.remove(base) {
                seg.delete(self.backend.as_ref())?;
            }
        }
        let first_base = self.segments.keys().next().copied().unwrap_or(self.log_start_offset);
        if first_base > self.log_start_offset {
            self.log_start_offset = first_base;
            let backend = self.backend.clone();
            self.leader_epochs.truncate_from_start(backend.as_ref(), first_base)?;
        }
        // Snapshots of deleted segments can no longer be replayed from.
        for offset in self.snapshot_offsets()? {
            if offset < first_base {
                self.remove_snapshot(offset)?;
            }
        }
        Ok(doomed.len())
    }

    /// Moves the log start offset up (DeleteRecords); segments wholly below it are deleted.
    /// Only offsets up to the high watermark may go.
    pub fn increment_log_start_offset(&mut self, new_start: i64, now_ms: i64) -> Result<(), StorageError> {
        let high_watermark = self.high_watermark;
        if new_start > high_watermark {
            return Err(StorageError::OffsetOutOfRange {
                offset: new_start,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        if new_start <= self.log_start_offset {
            return Ok(());
        }
        self.log_start_offset = new_start;
        let backend = self.backend.clone();
        self.leader_epochs.truncate_from_start(backend.as_ref(), new_start)?;
        self.delete_oldest(high_watermark, now_ms, |_, next_base, _| next_base <= new_start)?;
        Ok(())
    }

    /// Removes everything at and after `offset` (a follower dropping a tail that diverged from its leader).
    /// The cut falls on a batch boundary: a batch holding `offset` goes whole, so the log may end below
    /// `offset`. Indexes, the transaction index, producer state (reloaded from the newest snapshot at or below the
    /// new end, then replayed), the leader epoch cache, the recovery point and the high watermark follow.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError> {
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        if offset <= self.log_start_offset {
            return self.truncate_fully_and_start_at(self.log_start_offset.max(offset), 0);
        }
        let doomed: Vec<i64> = self.segments.range(offset..).map(|(base, _)| *base).collect();
        // Keep at least one segment: the one holding `offset` is truncated instead of deleted.
        let keep_first = self.segments.range(..=offset).next_back().map(|(b, _)| *b);
        for base in doomed {
            if Some(base) == keep_first {
                continue;
            }
            if let Some(seg) = self.segments.remove(&base) {
                seg.delete(self.backend.as_ref())?;
            }
        }
        if let Some((_, active)) = self.segments.iter_mut().next_back() {
            active.truncate_to(offset)?;
            active.reopen_for_append()?;
        }
        self.after_truncation()
    }

    /// Empties the log and restarts it at `start_offset` (a follower whose fetch offset fell below its leader's
    /// log start offset, or a replica that diverged from before its own log start).
    pub fn truncate_fully_and_start_at(&mut self, start_offset: i64, now_ms: i64) -> Result<(), StorageError> {
        for (_, seg) in std::mem::take(&mut self.segments) {
            seg.delete(self.backend.as_ref())?;
        }
        for offset in self.snapshot_offsets()? {
            self.remove_snapshot(offset)?;
        }
        let seg = Segment::create(self.backend.as_ref(), &self.dir, start_offset, &self.config, now_ms)?;
        self.segments.insert(start_offset, seg);
        self.log_start_offset = start_offset;
        let backend = self.backend.clone();
        self.leader_epochs.truncate_from_end(backend.as_ref(), start_offset)?;
        self.producers = ProducerState::default();
        self.recovery_point = start_offset;
        self.high_watermark = start_offset;
        Ok(())
    }

    fn after_truncation(&mut self) -> Result<(), StorageError> {
        let end = self.log_end_offset();
        let backend = self.backend.clone();
        self.leader_epochs.truncate_from_end(backend.as_ref(), end)?;
        self.recovery_point = self.recovery_point.min(end);
        self.high_watermark = self.high_watermark.min(end);
        self.producers = ProducerState::default();
        self.rebuild_producer_state()
    }

    /// Flushes when `flush.messages` or `flush.ms` says so.
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<(), StorageError> {
        let by_count = self.unflushed_messages >= self.config.flush_messages;
        let by_time = now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_ms && self.unflushed_messages > 0;
        if by_count || by_time {
            self.flush(now_ms)?;
        }
        Ok(())
    }

    /// Fsyncs every segment from the recovery point on and moves the recovery point to the log end. A log with
    /// nothing written since its last flush costs nothing.
    pub fn flush(&mut self, now_ms: i64) -> Result<(), StorageError> {
        self.write_partition_metadata()?;
        if self.recovery_point >= self.log_end_offset() && self.unflushed_messages == 0 {
            self.last_flush_ms = now_ms;
            return Ok(());
        }
        let from = self.segments.range(..=self.recovery_point).next_back().map_or(i64::MIN, |(b, _)| *b);
        for seg in self.segments.range(from..).map(|(_, s)| s) {
            seg.flush()?;
        }
        self.recovery_point = self.log_end_offset();
        self.unflushed_messages = 0;
        self.last_flush_ms = now_ms;
        Ok(())
    }

    /// Flushes and seals the active segment, so the next open finds nothing to recover. Only what changed since
    /// the log was opened is written: a log nobody appended to closes without touching a file.
    pub fn close(mut self, now_ms: i64) -> Result<(), StorageError> {
        self.flush(now_ms)?;
        self.write_snapshot_if_stale()?;
        if self.active().is_appendable() {
            self.active_mut().seal()?;
            self.active().flush()?;
        }
        Ok(())
    }

    /// Removes the log and its directory.
    pub fn delete(self) -> Result<(), StorageError> {
        let dir = self.dir.clone();
        let backend = self.backend.clone();
        drop(self);
        backend.remove_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))
    }
}
