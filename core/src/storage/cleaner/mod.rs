//! The log cleaner: compaction of `cleanup.policy=compact` logs, as Kafka's `LogCleaner` does it.
//!
//! A compacted log is a clean head (already cleaned), a dirty section written since, and an uncleanable tail:
//! the active segment, anything at or past the last stable offset, and segments younger than
//! `min.compaction.lag.ms`. A cleaning pass (Kafka's `Cleaner.doClean`):
//!
//! 1. builds an [`OffsetMap`] of key -> last offset over the dirty section (as far as the map holds), skipping
//!    batches of aborted transactions;
//! 2. recopies every segment from the log start up to where the map ends, grouped so that each group of
//!    segments fits one segment (`segment.bytes`, `segment.index.bytes`, offsets within a 32-bit delta), keeping
//!    a record only if no later record of its key is in the map, dropping tombstones and removable transaction
//!    markers once their delete horizon (`delete.retention.ms` after the pass that first kept them) has passed,
//!    dropping aborted transactions' batches, and keeping (emptied if need be) the last batch of each active
//!    producer and the last batch of the pass, so sequence numbers and the offsets' end stay known;
//! 3. writes each group as `<base>.log.cleaned` (with `.index`, `.timeindex`, `.txnindex`), then has the log
//!    swap it in under its lock ([`Log::replace_segments`]: `.cleaned` -> `.swap`, old segments -> `.deleted`,
//!    `.swap` -> final names; `Log::open` completes or discards a swap a crash interrupted).
//!
//! Offsets never change: retained records keep their offsets and batches their base and last offsets, so a
//! cleaned log has gaps. Only steps 3's swap holds the log's lock; reading and writing the segments does not,
//! so produce and fetch keep flowing. Nothing here reads a clock or sleeps: time is an argument and IO
//! throttling is a callback the runtime supplies ([`Throttle`]).
//!
//! [`LogCleaner`] picks the log to clean (dirtiest first, by cleanable bytes over total bytes, or any log
//! past `max.compaction.lag.ms`) and keeps `cleaner-offset-checkpoint`, where each log's first dirty offset is.

mod manager;
mod offset_map;
mod txn;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use manager::{LogCleaner, CLEANER_OFFSET_CHECKPOINT};
pub use offset_map::OffsetMap;

use self::txn::CleanedTxnMetadata;
use super::backend::{Backend, BackendFile};
use super::producer_state::LastRecord;
use super::segment::{AppendedBatch, Segment};
use super::txn_index::AbortedTxn;
use super::{lock, Log, LogConfig, SharedLog, StorageError};
use crate::record::{self, BatchHeader, DecodeLimits, Retained, RECORD_BATCH_OVERHEAD};

/// The broker-wide cleaner settings, with Kafka's keys and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`.
    pub enable: bool,
    /// `log.cleaner.threads`.
    pub threads: usize,
    /// `log.cleaner.dedupe.buffer.size`: memory for the offset maps of all cleaner threads together.
    pub dedupe_buffer_size: u64,
    /// `log.cleaner.io.buffer.load.factor`: how full an offset map may get.
    pub dedupe_buffer_load_factor: f64,
    /// `log.cleaner.io.buffer.size`: read and write buffers of all cleaner threads together.
    pub io_buffer_size: usize,
    /// `log.cleaner.io.max.bytes.per.second`: the cleaners' combined read and write rate.
    pub io_max_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms`: how long a cleaner thread sleeps when no log needs cleaning.
    pub backoff_ms: i64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            enable: true,
            threads: 1,
            dedupe_buffer_size: 128 << 20,
            dedupe_buffer_load_factor: 0.9,
            io_buffer_size: 512 << 10,
            io_max_bytes_per_second: f64::MAX,
            backoff_ms: 15_000,
        }
    }
}

impl CleanerConfig {
    /// The offset map memory one thread may use.
    pub fn dedupe_buffer_per_thread(&self) -> usize {
        (self.dedupe_buffer_size / self.threads.max(1) as u64).min(i32::MAX as u64) as usize
    }

    /// Each thread's read buffer (its write buffer is as large), as Kafka splits `log.cleaner.io.buffer.size`.
    pub fn io_buffer_per_thread(&self) -> usize {
        (self.io_buffer_size / self.threads.max(1) / 2).max(RECORD_BATCH_OVERHEAD)
    }
}

/// Why a cleaning pass stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CleanerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The runtime asked the pass to stop (shutdown); nothing was swapped for the unfinished group.
    #[error("cleaning aborted")]
    Aborted,
    #[error("offset map of {slots} slots cannot hold a single key; raise log.cleaner.dedupe.buffer.size")]
    MapTooSmall { slots: usize },
}

/// How the runtime limits the cleaner's IO: told of every read and write, it may sleep.
pub trait Throttle {
    fn bytes(&self, bytes: u64);
}

/// No limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unthrottled;

impl Throttle for Unthrottled {
    fn bytes(&self, _bytes: u64) {}
}

/// What a cleaning pass did, for the runtime's log line and the benchmarks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanerStats {
    /// Bytes and records read while building the offset map.
    pub map_bytes_read: u64,
    pub map_records_read: u64,
    /// Bytes and records of the segments recopied.
    pub bytes_read: u64,
    pub records_read: u64,
    pub bytes_written: u64,
    pub records_written: u64,
    /// Keyless records found (and dropped): a compacted log should have none.
    pub invalid_records: u64,
    pub buffer_utilization: f64,
    pub groups_swapped: usize,
    /// Groups not swapped because the log changed under them (retention, deletion, truncation).
    pub groups_abandoned: usize,
}

/// The cleanable range of a log and how dirty it is (Kafka's `LogToClean`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogToClean {
    pub first_dirty_offset: i64,
    /// The base offset of the first segment that may not be cleaned.
    pub first_uncleanable_offset: i64,
    pub clean_bytes: u64,
    pub cleanable_bytes: u64,
    /// Some records are older than `max.compaction.lag.ms` allows to stay dirty.
    pub need_compaction_now: bool,
    /// The checkpointed offset was outside the log and was reset to `first_dirty_offset`.
    pub reset_checkpoint: bool,
}

impl LogToClean {
    pub fn total_bytes(&self) -> u64 {
        self.clean_bytes + self.cleanable_bytes
    }

    /// Dirty bytes over total bytes.
    pub fn cleanable_ratio(&self) -> f64 {
        if self.total_bytes() == 0 {
            0.0
        } else {
            self.cleanable_bytes as f64 / self.total_bytes() as f64
        }
    }

    /// Whether the cleaner should take this log now: dirty enough, or holding records past the max lag.
    pub fn is_cleanable(&self, min_cleanable_dirty_ratio: f64) -> bool {
        (self.need_compaction_now && self.cleanable_bytes > 0) || self.cleanable_ratio() > min_cleanable_dirty_ratio
    }

    /// Measures `log` from its checkpointed first dirty offset (Kafka's `cleanableOffsets` and
    /// `calculateCleanableBytes`). The caller holds the log's lock.
    pub fn assess(log: &Log, checkpoint: Option<i64>, now_ms: i64) -> LogToClean {
        let start = log.log_start_offset();
        let checkpointed = checkpoint.unwrap_or(start);
        let reset = checkpointed < start || checkpointed > log.log_end_offset();
        let first_dirty_offset = if reset { start } else { checkpointed };
        let config = log.config();
        let segments: Vec<&Segment> = log.segments().collect();
        let active_base = segments.last().map_or(0, |s| s.base_offset());
        let sealed = &segments[..segments.len().saturating_sub(1)];
        // The first dirty segment younger than the min compaction lag, if that lag is set.
        let lagging = (config.min_compaction_lag_ms > 0)
            .then(|| {
                sealed
                    .iter()
                    .filter(|s| upper_bound(&segments, s) > first_dirty_offset)
                    .find(|s| s.max_timestamp() > now_ms.saturating_sub(config.min_compaction_lag_ms))
                    .map(|s| s.base_offset())
            })
            .flatten();
        let uncleanable = [Some(log.last_stable_offset()), Some(active_base), lagging]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(active_base)
            .max(first_dirty_offset);
        // Cleaning works on whole segments: round down to the segment holding the uncleanable offset.
        let first_uncleanable_offset =
            sealed.iter().find(|s| upper_bound(&segments, s) > uncleanable).map_or(active_base, |s| s.base_offset());
        let clean_bytes = segments.iter().filter(|s| s.base_offset() < first_dirty_offset).map(|s| s.size()).sum();
        let from = first_dirty_offset.min(first_uncleanable_offset);
        let cleanable_bytes = segments
            .iter()
            .filter(|s| s.base_offset() < first_uncleanable_offset && upper_bound(&segments, s) > from)
            .map(|s| s.size())
            .sum();
        // Kafka's maxCompactionDelay: how far past max.compaction.lag.ms the oldest dirty record is.
        let earliest_dirty = sealed
            .iter()
            .filter(|s| upper_bound(&segments, s) > first_dirty_offset)
            .filter_map(|s| s.first_batch_timestamp())
            .filter(|&t| t > 0)
            .min();
        let clean_until = now_ms.saturating_sub(config.max_compaction_lag_ms.max(0));
        let need_compaction_now = earliest_dirty.is_some_and(|t| t < clean_until);
        LogToClean {
            first_dirty_offset,
            first_uncleanable_offset,
            clean_bytes,
            cleanable_bytes,
            need_compaction_now,
            reset_checkpoint: reset,
        }
    }
}

/// The first offset after `seg`: the next segment's base, or its own next offset for the last one.
fn upper_bound(segments: &[&Segment], seg: &Segment) -> i64 {
    segments.iter().map(|s| s.base_offset()).find(|&b| b > seg.base_offset()).unwrap_or_else(|| seg.next_offset())
}

/// A sealed segment as the cleaner reads it: its own handle on the `.log`, and what it needs to know.
#[derive(Debug)]
struct SourceSegment {
    id: u64,
    base_offset: i64,
    /// The next segment's base offset (the end of this segment's offset range).
    upper_bound: i64,
    size: u64,
    index_sizes: (u64, u64),
    file: Box<dyn BackendFile>,
}

/// What a cleaning pass takes from the log under its lock: handles on the sealed segments and the state it
/// needs, so the pass itself runs without the lock.
#[derive(Debug)]
pub struct CleanableLog {
    backend: Arc<dyn Backend>,
    dir: PathBuf,
    config: LogConfig,
    segments: Vec<SourceSegment>,
    /// Every segment's aborted transactions (the active one's too), in log order.
    aborted_txns: Vec<(i64, Vec<AbortedTxn>)>,
    last_records: HashMap<i64, LastRecord>,
}

impl CleanableLog {
    /// Captures the sealed segments below `end_offset` of `log`. The caller holds the log's lock; the producer
    /// state's last records are taken as they are now, as Kafka takes them when a group's cleaning starts.
    pub fn capture(log: &Log, end_offset: i64) -> Result<CleanableLog, StorageError> {
        let backend = log.backend().clone();
        let all: Vec<&Segment> = log.segments().collect();
        let mut segments = Vec::new();
        for seg in &all[..all.len().saturating_sub(1)] {
            if seg.base_offset() >= end_offset {
                break;
            }
            segments.push(SourceSegment {
                id: seg.id(),
                base_offset: seg.base_offset(),
                upper_bound: upper_bound(&all, seg),
                size: seg.size(),
                index_sizes: seg.index_sizes(),
                file: seg.open_log_reader(backend.as_ref())?,
            });
        }
        let aborted_txns = all.iter().map(|s| (s.base_offset(), s.txn_index().entries().to_vec())).collect();
        Ok(CleanableLog {
            backend,
            dir: log.dir().to_path_buf(),
            config: log.config().clone(),
            segments,
            aborted_txns,
            last_records: log.producer_state().last_records(),
        })
    }

    /// The aborted transactions overlapping `[start, upper)`, found as a read_committed fetch finds them: from
    /// the segment holding `start` on, until an entry's last stable offset shows later segments add none.
    fn collect_aborted(&self, start: i64, upper: i64) -> Vec<AbortedTxn> {
        let from = self.aborted_txns.iter().rposition(|(base, _)| *base <= start).unwrap_or(0);
        let mut out = Vec::new();
        for (_, entries) in &self.aborted_txns[from..] {
            for t in entries {
                if t.last_offset >= start && t.first_offset < upper {
                    out.push(*t);
                }
                if t.last_stable_offset >= upper {
                    return out;
                }
            }
        }
        out
    }
}

/// A cleaned group written as `.cleaned` files, ready for [`Log::replace_segments`].
#[derive(Debug)]
pub struct CleanedSegment {
    pub segment: Segment,
    /// The ids of the segments it replaces, oldest first.
    pub replaces: Vec<u64>,
}

/// One cleaner thread's working state: its offset map memory and IO buffer size.
#[derive(Debug)]
pub struct Cleaner {
    config: CleanerConfig,
}

/// Reads whole batches from a segment file in chunks of at least `buffer` bytes (more when a batch is larger).
struct BatchReader<'a> {
    file: &'a dyn BackendFile,
    size: u64,
    pos: u64,
    buffer: usize,
}

impl BatchReader<'_> {
    /// The next chunk of whole batches, with the file position it started at; `None` at the end.
    fn next_chunk(&mut self, throttle: &dyn Throttle) -> Result<Option<Vec<u8>>, StorageError> {
        if self.pos >= self.size {
            return Ok(None);
        }
        let corrupt = |reason: String| StorageError::Corrupt { path: PathBuf::from("segment"), reason };
        let mut want = (self.size - self.pos).min(self.buffer as u64) as usize;
        loop {
            let mut buf = vec![0u8; want];
            self.file.read_exact_at(&mut buf, self.pos).map_err(|e| StorageError::io(&PathBuf::from("segment"), e))?;
            throttle.bytes(want as u64);
            let mut end = 0usize;
            while let Some(size) = record::batch_size(&buf[end..]) {
                if size < RECORD_BATCH_OVERHEAD as i64 {
                    return Err(corrupt(format!("batch of {size} bytes at position {}", self.pos + end as u64)));
                }
                if end as i64 + size > buf.len() as i64 {
                    break;
                }
                end += size as usize;
            }
            if end > 0 {
                buf.truncate(end);
                self.pos += end as u64;
                return Ok(Some(buf));
            }
            // Not even one whole batch: read exactly the next batch, which must fit in what the file has left.
            let next = record::batch_size(&buf).unwrap_or(0);
            if next <= want as i64 || next as u64 > self.size - self.pos {
                return Err(corrupt(format!("batch of {next} bytes at position {} runs past the segment", self.pos)));
            }
            want = next as usize;
        }
    }
}

impl Cleaner {
    pub fn new(config: CleanerConfig) -> Self {
        Cleaner { config }
    }

    /// Cleans `log` over the range `ltc` describes. Locks the log only to capture its segments and to swap
    /// each cleaned group in. Returns the offset the next pass starts from (the new first dirty offset) and
    /// the statistics. `keep_going` is polled between chunks; when it answers false the pass stops with
    /// [`CleanerError::Aborted`].
    pub fn clean(
        &self,
        log: &SharedLog,
        ltc: &LogToClean,
        now_ms: i64,
        throttle: &dyn Throttle,
        keep_going: &dyn Fn() -> bool,
    ) -> Result<(i64, CleanerStats), CleanerError> {
        let source = CleanableLog::capture(&lock(log), ltc.first_uncleanable_offset)?;
        let mut stats = CleanerStats::default();
        let Some(map) = self.build_offset_map(&source, ltc, throttle, keep_going, &mut stats)? else {
            return Ok((ltc.first_dirty_offset, stats));
        };
        let end_offset = map.latest_offset() + 1;
        stats.buffer_utilization = map.utilization();
        let mut txns = CleanedTxnMetadata::default();
        for group in self.group_segments(&source, end_offset, ltc.first_uncleanable_offset) {
            let cleaned =
                self.clean_group(&source, &group, &map, &mut txns, ltc, now_ms, throttle, keep_going, &mut stats)?;
            if lock(log).replace_segments(cleaned.segment, &cleaned.replaces, now_ms)? {
                stats.groups_swapped += 1;
            } else {
                stats.groups_abandoned += 1;
            }
        }
        // A group left as it was still holds records this pass's map would have removed: the next pass
        // starts from the same dirty offset (as Kafka's does after an aborted cleaning).
        let next_dirty_offset = if stats.groups_abandoned > 0 { ltc.first_dirty_offset } else { end_offset };
        Ok((next_dirty_offset, stats))
    }

    /// Builds the key -> last offset map over the dirty section (Kafka's `buildOffsetMap`). `None` when the
    /// dirty section is empty.
    fn build_offset_map(
        &self,
        source: &CleanableLog,
        ltc: &LogToClean,
        throttle: &dyn Throttle,
        keep_going: &dyn Fn() -> bool,
        stats: &mut CleanerStats,
    ) -> Result<Option<OffsetMap>, CleanerError> {
        let (start, end) = (ltc.first_dirty_offset, ltc.first_uncleanable_offset);
        let dirty: Vec<&SourceSegment> =
            source.segments.iter().filter(|s| s.base_offset < end && s.upper_bound > start).collect();
        if dirty.is_empty() {
            return Ok(None);
        }
        // The dirty section holds at most `end - start` keys: a map sized for that is enough, and a small
        // dirty section does not take the whole dedupe buffer.
        let load = self.config.dedupe_buffer_load_factor.clamp(0.01, 1.0);
        let max_slots = self.config.dedupe_buffer_per_thread() / offset_map::SLOT_BYTES;
        let wanted = ((end - start).max(1) as f64 / load).ceil() as usize + 2;
        let mut map = OffsetMap::with_slots(wanted.min(max_slots));
        let max_entries = (map.slots() as f64 * load) as usize;
        if max_entries < 1 {
            return Err(CleanerError::MapTooSmall { slots: map.slots() });
        }
        let mut txns = CleanedTxnMetadata::default();
        txns.add_aborted(source.collect_aborted(start, end));
        'segments: for seg in dirty {
            let mut reader = BatchReader { file: seg.file.as_ref(), size: seg.size, pos: 0, buffer: self.io_buffer() };
            while let Some(chunk) = reader.next_chunk(throttle)? {
                if !keep_going() {
                    return Err(CleanerError::Aborted);
                }
                stats.map_bytes_read += chunk.len() as u64;
                for batch in record::Batches::new(&chunk) {
                    let batch = batch.map_err(StorageError::from)?;
                    let h = BatchHeader::parse(batch).map_err(StorageError::from)?;
                    let full = if h.is_control() {
                        txns.on_control_batch(&h, None);
                        stats.map_records_read += 1;
                        false
                    } else if txns.on_batch(&h) {
                        stats.map_records_read += h.records_count as u64;
                        false
                    } else {
                        self.map_batch(batch, start, &mut map, max_entries, stats)?
                    };
                    if full {
                        break 'segments;
                    }
                    if h.last_offset() >= start {
                        map.update_latest_offset(h.last_offset());
                    }
                }
            }
            // An offset gap at the end of a segment (a batch removed by an earlier pass) is still covered.
            map.update_latest_offset(seg.upper_bound.min(end) - 1);
        }
        if map.latest_offset() < start {
            return Ok(None);
        }
        Ok(Some(map))
    }

    /// Puts the keys of one batch in the map; returns true when the map filled up inside the batch (the map
    /// then covers the log up to the last key it took, as Kafka's does).
    fn map_batch(
        &self,
        batch: &[u8],
        start: i64,
        map: &mut OffsetMap,
        max_entries: usize,
        stats: &mut CleanerStats,
    ) -> Result<bool, CleanerError> {
        let mut full = false;
        record::retain_records(
            batch,
            DecodeLimits::default(),
            |r| {
                stats.map_records_read += 1;
                match r.key {
                    Some(key) if !full && r.offset >= start => {
                        if map.len() >= max_entries && map.get(key) < 0 {
                            full = true;
                        } else {
                            map.put(key, r.offset);
                        }
                    }
                    _ => {}
                }
                false
            },
            |_| None,
        )
        .map_err(StorageError::from)?;
        Ok(full)
    }

    fn io_buffer(&self) -> usize {
        self.config.io_buffer_per_thread()
    }

    /// Groups the segments below `end_offset` so each group fits one segment (Kafka's `groupSegmentsBySize`).
    fn group_segments<'a>(
        &self,
        source: &'a CleanableLog,
        end_offset: i64,
        first_uncleanable_offset: i64,
    ) -> Vec<Vec<&'a SourceSegment>> {
        let max_size = u64::from(source.config.segment_bytes);
        let max_index = u64::from(source.config.segment_index_bytes);
        let segs: Vec<&SourceSegment> = source.segments.iter().filter(|s| s.base_offset < end_offset).collect();
        let mut groups: Vec<Vec<&SourceSegment>> = Vec::new();
        let mut i = 0;
        while i < segs.len() {
            let mut group = vec![segs[i]];
            let (mut log_size, (mut index_size, mut time_size)) = (segs[i].size, segs[i].index_sizes);
            i += 1;
            while i < segs.len() {
                let next = segs[i];
                // The worst-case last offset of the candidate: just before the segment after it.
                let last = segs.get(i + 1).map_or(first_uncleanable_offset, |s| s.base_offset) - 1;
                let fits = log_size + next.size <= max_size
                    && index_size + next.index_sizes.0 <= max_index
                    && time_size + next.index_sizes.1 <= max_index
                    && (next.size == 0 || last - group[0].base_offset <= i64::from(i32::MAX));
                if !fits {
                    break;
                }
                log_size += next.size;
                index_size += next.index_sizes.0;
                time_size += next.index_sizes.1;
                group.push(next);
                i += 1;
            }
            groups.push(group);
        }
        groups
    }

    /// Recopies one group into a `.cleaned` segment (Kafka's `cleanSegments` and `cleanInto`).
    #[allow(clippy::too_many_arguments)]
    fn clean_group(
        &self,
        source: &CleanableLog,
        group: &[&SourceSegment],
        map: &OffsetMap,
        txns: &mut CleanedTxnMetadata,
        ltc: &LogToClean,
        now_ms: i64,
        throttle: &dyn Throttle,
        keep_going: &dyn Fn() -> bool,
        stats: &mut CleanerStats,
    ) -> Result<CleanedSegment, CleanerError> {
        let backend = source.backend.as_ref();
        let base = group[0].base_offset;
        let mut cleaned = Segment::create_cleaned(backend, &source.dir, base, &source.config, now_ms)?;
        let result = self.fill_group(source, group, map, txns, ltc, now_ms, throttle, keep_going, stats, &mut cleaned);
        if let Err(e) = result {
            // Nothing of an unfinished group may stay behind; the next open would remove it anyway.
            let _ = cleaned.delete(backend);
            return Err(e);
        }
        cleaned.seal()?;
        cleaned.flush()?;
        Ok(CleanedSegment { segment: cleaned, replaces: group.iter().map(|s| s.id).collect() })
    }

    #[allow(clippy::too_many_arguments)]
    fn fill_group(
        &self,
        source: &CleanableLog,
        group: &[&SourceSegment],
        map: &OffsetMap,
        txns: &mut CleanedTxnMetadata,
        ltc: &LogToClean,
        now_ms: i64,
        throttle: &dyn Throttle,
        keep_going: &dyn Fn() -> bool,
        stats: &mut CleanerStats,
        cleaned: &mut Segment,
    ) -> Result<(), CleanerError> {
        let backend = source.backend.as_ref();
        let delete_retention_ms = source.config.delete_retention_ms;
        for seg in group {
            // The whole segment's aborted transactions: the cleaned segment's transaction index is rebuilt from
            // the ones whose markers stay.
            txns.add_aborted(source.collect_aborted(seg.base_offset, seg.upper_bound));
            let mut reader = BatchReader { file: seg.file.as_ref(), size: seg.size, pos: 0, buffer: self.io_buffer() };
            while let Some(chunk) = reader.next_chunk(throttle)? {
                if !keep_going() {
                    return Err(CleanerError::Aborted);
                }
                stats.bytes_read += chunk.len() as u64;
                let mut out: Vec<u8> = Vec::with_capacity(chunk.len());
                let mut appended: Vec<AppendedBatch> = Vec::new();
                for batch in record::Batches::new(&chunk) {
                    let batch = batch.map_err(StorageError::from)?;
                    // retain_records validates the whole batch (CRC included) before trusting its records.
                    let h = BatchHeader::parse(batch).map_err(StorageError::from)?;
                    let (kept, retained_abort) = self.filter_batch(
                        batch,
                        &h,
                        map,
                        txns,
                        &source.last_records,
                        ltc.first_uncleanable_offset,
                        now_ms,
                        delete_retention_ms,
                        stats,
                    )?;
                    if let Some(txn) = retained_abort {
                        cleaned.append_aborted_txn(backend, txn)?;
                    }
                    let Some(bytes) = kept else { continue };
                    let kept_header = BatchHeader::parse(&bytes).map_err(StorageError::from)?;
                    stats.records_written += kept_header.records_count as u64;
                    appended.push(AppendedBatch {
                        last_offset: kept_header.last_offset(),
                        max_timestamp: kept_header.max_timestamp,
                        size: bytes.len(),
                    });
                    out.extend_from_slice(&bytes);
                }
                if !out.is_empty() {
                    cleaned.append(&[&out], &appended)?;
                    throttle.bytes(out.len() as u64);
                    stats.bytes_written += out.len() as u64;
                }
            }
        }
        Ok(())
    }

    /// Decides what stays of one batch (`None` when it goes entirely), and, for an abort marker that stays, the
    /// aborted transaction to record in the cleaned segment's transaction index.
    #[allow(clippy::too_many_arguments)]
    fn filter_batch(
        &self,
        batch: &[u8],
        h: &BatchHeader,
        map: &OffsetMap,
        txns: &mut CleanedTxnMetadata,
        last_records: &HashMap<i64, LastRecord>,
        upper_bound_of_pass: i64,
        now_ms: i64,
        delete_retention_ms: i64,
        stats: &mut CleanerStats,
    ) -> Result<(Option<Vec<u8>>, Option<AbortedTxn>), CleanerError> {
        stats.records_read += h.records_count as u64;
        let horizon_passed = h.has_delete_horizon() && h.base_timestamp <= now_ms;
        let mut retained_abort = None;
        let (can_discard, discard_records) = if h.is_control() {
            let control = if h.records_count == 0 {
                None
            } else {
                Some(record::end_txn_marker(batch).map_err(StorageError::from)?.control_type)
            };
            let (can_discard, abort) = txns.on_control_batch(h, control);
            retained_abort = abort;
            (can_discard, can_discard && horizon_passed)
        } else {
            let aborted = txns.on_batch(h);
            (aborted, aborted)
        };
        // The last batch of an active producer stays (emptied if need be): it carries the producer's last
        // sequence, or, for a marker, its last epoch.
        let last_of_producer = h.has_producer_id()
            && last_records.get(&h.producer_id).is_some_and(|last| match last.last_data_offset {
                Some(offset) => h.last_offset() == offset,
                None => h.is_control() && h.producer_epoch == last.producer_epoch,
            });
        // So does the pass's last batch, so the log's offsets keep their end.
        let retain_empty = last_of_producer || h.next_offset() == upper_bound_of_pass;
        if discard_records && !retain_empty {
            return Ok((None, retained_abort));
        }
        let marker_for_empty_txn = can_discard && h.is_control();
        let mut invalid = 0u64;
        let result = record::retain_records(
            batch,
            DecodeLimits::default(),
            |r| {
                if discard_records {
                    return false;
                }
                if h.is_control() || r.offset > map.latest_offset() {
                    return true;
                }
                let Some(key) = r.key else {
                    invalid += 1;
                    return false;
                };
                let latest_for_key = r.offset >= map.get(key);
                let keep_tombstone = !h.has_delete_horizon() || now_ms < h.base_timestamp;
                latest_for_key && (r.has_value || keep_tombstone)
            },
            |tombstones| (tombstones || marker_for_empty_txn).then(|| now_ms.saturating_add(delete_retention_ms)),
        )
        .map_err(StorageError::from)?;
        stats.invalid_records += invalid;
        let kept = match result.retained {
            Retained::Unchanged => Some(batch.to_vec()),
            Retained::Rewritten(bytes) => Some(bytes),
            Retained::Empty if retain_empty => Some(record::empty_batch(h)),
            Retained::Empty => None,
        };
        Ok((kept, retained_abort))
    }
}

/// Cleans the dirtiest log `cleaner` picks among `logs`, if one needs it: the whole job of one cleaner thread's
/// iteration. Returns what it cleaned.
pub fn clean_filthiest(
    cleaner: &LogCleaner,
    thread: &Cleaner,
    logs: &[(super::TopicPartition, SharedLog)],
    now_ms: i64,
    throttle: &dyn Throttle,
    keep_going: &dyn Fn() -> bool,
) -> Result<Option<(super::TopicPartition, CleanerStats)>, StorageError> {
    let Some((tp, log, ltc)) = cleaner.grab_filthiest(logs, now_ms)? else {
        return Ok(None);
    };
    let result = thread.clean(&log, &ltc, now_ms, throttle, keep_going);
    match result {
        Ok((end_offset, stats)) => {
            cleaner.done_cleaning(&tp, Some(end_offset), logs)?;
            Ok(Some((tp, stats)))
        }
        Err(CleanerError::Aborted) => {
            cleaner.done_cleaning(&tp, None, logs)?;
            Ok(None)
        }
        Err(e) => {
            // As Kafka does, a log that fails to clean is left alone from now on, not retried in a loop; a log
            // deleted during the pass (its directory gone) is simply done.
            let (backend, dir) = {
                let l = lock(&log);
                (l.backend().clone(), l.dir().to_path_buf())
            };
            if !backend.exists(&dir) {
                cleaner.done_cleaning(&tp, None, logs)?;
                return Ok(None);
            }
            cleaner.mark_uncleanable(&tp);
            Err(match e {
                CleanerError::Storage(e) => e,
                other => StorageError::Corrupt { path: lock(&log).dir().to_path_buf(), reason: other.to_string() },
            })
        }
    }
}
