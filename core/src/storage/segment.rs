//! One segment of a partition log: `<base offset>.log` with its `.index`, `.timeindex` and (once it has an
//! aborted transaction) `.txnindex`.
//!
//! Invariants: the `.log` holds whole, CRC-valid v2 batches with contiguous offsets starting at the segment's
//! base offset (a torn tail exists only until recovery truncates it); every index entry points at the start
//! of a batch in this segment; `next_offset` is one past the last offset of the last batch.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::backend::{Backend, BackendFile, FileSlice};
use super::index::{IndexOpen, OffsetIndex, TimeIndex};
use super::log::Records;
use super::txn_index::{AbortedTxn, TransactionIndex, TXN_INDEX_SUFFIX};
use super::{LogConfig, StorageError};
use crate::record::{self, BatchHeader, DecodeLimits, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD};

/// The 20-digit zero-padded name Kafka gives a segment's files.
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

pub const LOG_SUFFIX: &str = ".log";
pub const INDEX_SUFFIX: &str = ".index";
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// The suffixes of a segment's files, the `.log` first.
pub const SEGMENT_FILE_SUFFIXES: [&str; 4] = [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX];
/// What the log cleaner appends to the names of a segment it is writing (Kafka's `CleanedFileSuffix`).
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// What a cleaned segment's files are renamed to before they replace the old segments (Kafka's `SwapFileSuffix`).
pub const SWAP_SUFFIX: &str = ".swap";

/// The smallest read answered as a file range rather than bytes: below it, copying the bytes into the
/// response costs less than the extra system calls (and small packets) of sending the range on its own, as a
/// Fetch of many partitions with little new in each would otherwise do.
pub const SEND_FILE_MIN_BYTES: usize = 16 * 1024;

/// Tells segment objects apart, so the cleaner can check that the segments it cleaned are still the log's.
static NEXT_SEGMENT_ID: AtomicU64 = AtomicU64::new(1);

/// What a caller needs to know about each batch of an append, computed during validation.
#[derive(Debug, Clone, Copy)]
pub struct AppendedBatch {
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub size: usize,
}

#[derive(Debug)]
pub struct Segment {
    id: u64,
    base_offset: i64,
    log_path: PathBuf,
    log: Box<dyn BackendFile>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    txn_index: TransactionIndex,
    bytes_since_last_index_entry: u64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    next_offset: i64,
    /// The max timestamp of the first batch, which `segment.ms` counts from (Kafka's rollingBasedTimestamp).
    rolling_base_ms: Option<i64>,
    created_ms: i64,
    index_interval_bytes: u64,
    max_index_bytes: usize,
    /// Whether the indexes have their full preallocated size and can take entries. A segment opened from
    /// trimmed files grows them only on its first append, so opening and closing a log nobody wrote to touches
    /// no index file.
    appendable: bool,
}

impl Segment {
    /// Creates an empty segment, replacing any leftover files with its name.
    pub fn create(
        backend: &dyn Backend,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Self, StorageError> {
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX] {
            let path = dir.join(file_name(base_offset, suffix));
            if backend.exists(&path) {
                backend.remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            }
        }
        Self::open_files(backend, dir, base_offset, "", config, true, now_ms)
    }

    /// Creates an empty segment in a directory just made, where no leftover can be.
    pub fn create_in_new_dir(
        backend: &dyn Backend,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Self, StorageError> {
        Self::open_files(backend, dir, base_offset, "", config, true, now_ms)
    }

    /// Creates an empty segment whose files carry the cleaner's `.cleaned` suffix, replacing leftovers.
    pub fn create_cleaned(
        backend: &dyn Backend,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Self, StorageError> {
        for suffix in SEGMENT_FILE_SUFFIXES {
            let path = dir.join(format!("{}{CLEANED_SUFFIX}", file_name(base_offset, suffix)));
            if backend.exists(&path) {
                backend.remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            }
        }
        Self::open_files(backend, dir, base_offset, CLEANED_SUFFIX, config, true, now_ms)
    }

    /// Opens a segment's files, creating what is missing, and loads its tail state. The caller runs
    /// [`Segment::recover`] when the segment may hold unflushed data or its indexes fail their sanity check.
    pub fn open(
        backend: &dyn Backend,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<(Self, bool), StorageError> {
        let mut segment = Self::open_files(backend, dir, base_offset, "", config, false, now_ms)?;
        let size = segment.size();
        let mut indexes_ok =
            segment.offset_index.sanity_check(size).is_ok() && segment.time_index.sanity_check().is_ok();
        if indexes_ok {
            indexes_ok = segment.load_tail_state()?;
        }
        Ok((segment, indexes_ok))
    }

    /// Opens the files of the segment at `base_offset` (creating what is missing), each name followed by
    /// `extra_suffix` (empty, or the cleaner's `.cleaned`); with `new` it creates them, none being there: then
    /// the indexes start empty and grow to `segment.index.bytes` on the first append (a partition created and
    /// never written costs no index work at close), and the transaction index is made only when it gets an
    /// entry, as Kafka makes it.
    fn open_files(
        backend: &dyn Backend,
        dir: &Path,
        base_offset: i64,
        extra_suffix: &str,
        config: &LogConfig,
        new: bool,
        now_ms: i64,
    ) -> Result<Self, StorageError> {
        let name = |suffix: &str| format!("{}{extra_suffix}", file_name(base_offset, suffix));
        let log_path = dir.join(name(LOG_SUFFIX));
        let log = if new { backend.create_new(&log_path) } else { backend.open(&log_path, true) };
        let log = log.map_err(|e| StorageError::io(&log_path, e))?;
        let max_index = config.segment_index_bytes as usize;
        let how = if new { IndexOpen::New } else { IndexOpen::Existing { max_bytes: max_index } };
        let index_path = dir.join(name(INDEX_SUFFIX));
        let offset_index = OffsetIndex::open(backend, index_path.clone(), base_offset, how)
            .map_err(|e| StorageError::io(&index_path, e))?;
        let time_path = dir.join(name(TIME_INDEX_SUFFIX));
        let time_index = TimeIndex::open(backend, time_path.clone(), base_offset, how)
            .map_err(|e| StorageError::io(&time_path, e))?;
        let txn_path = dir.join(name(TXN_INDEX_SUFFIX));
        let txn_index =
            if new { TransactionIndex::empty(txn_path) } else { TransactionIndex::open(backend, txn_path)? };
        Ok(Segment {
            id: NEXT_SEGMENT_ID.fetch_add(1, Ordering::Relaxed),
            base_offset,
            log_path,
            log,
            offset_index,
            time_index,
            txn_index,
            bytes_since_last_index_entry: 0,
            max_timestamp: record::NO_TIMESTAMP,
            offset_of_max_timestamp: base_offset,
            next_offset: base_offset,
            rolling_base_ms: None,
            created_ms: now_ms,
            index_interval_bytes: u64::from(config.index_interval_bytes),
            max_index_bytes: max_index,
            appendable: false,
        })
    }

    /// Finds `next_offset`, the max timestamp and the roll base of a segment whose indexes are trusted: scan
    /// from the last offset index entry, and take the max timestamp from the time index and the scanned tail.
    /// Returns false if the batches found there do not line up (framing, offsets, the file's end): a file
    /// damaged behind a clean shutdown, which the caller then recovers as after a crash.
    fn load_tail_state(&mut self) -> Result<bool, StorageError> {
        let size = self.size();
        if let Some(first) = self.header_at(0)? {
            if first.base_offset != self.base_offset {
                return Ok(false);
            }
            self.rolling_base_ms = Some(first.max_timestamp);
        }
        if let Some((ts, offset)) = self.time_index.last_entry() {
            self.max_timestamp = ts;
            self.offset_of_max_timestamp = offset;
        }
        let mut pos = u64::from(self.offset_index.lookup(i64::MAX));
        let mut expected: Option<i64> = None;
        while let Some(h) = self.header_at(pos)? {
            let batch_size = i64::from(h.batch_length) + LOG_OVERHEAD as i64;
            let lines_up = h.magic == record::CURRENT_MAGIC
                && batch_size >= RECORD_BATCH_OVERHEAD as i64
                && pos + batch_size as u64 <= size
                && h.last_offset_delta >= 0
                && h.base_offset >= self.base_offset
                && expected.is_none_or(|e| e == h.base_offset);
            if !lines_up {
                return Ok(false);
            }
            self.next_offset = h.next_offset();
            if h.max_timestamp > self.max_timestamp {
                self.max_timestamp = h.max_timestamp;
                self.offset_of_max_timestamp = h.last_offset();
            }
            expected = Some(h.next_offset());
            pos += batch_size as u64;
        }
        Ok(pos == size)
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Unique among the segment objects of this process: a segment that was reopened, replaced or recreated
    /// gets a new one.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The max timestamp of the segment's first batch (Kafka's `getFirstBatchTimestamp`), if it has a batch.
    pub fn first_batch_timestamp(&self) -> Option<i64> {
        self.rolling_base_ms
    }

    /// Bytes of the offset index and the time index entries.
    pub fn index_sizes(&self) -> (u64, u64) {
        let offset = self.offset_index.entries() * super::index::OFFSET_ENTRY_SIZE;
        let time = self.time_index.entries() * super::index::TIME_ENTRY_SIZE;
        (offset as u64, time as u64)
    }

    /// A second handle on the segment's `.log`, for reading it without this object (the cleaner reads sealed
    /// segments this way while the log takes appends).
    pub fn open_log_reader(&self, backend: &dyn Backend) -> Result<Box<dyn BackendFile>, StorageError> {
        backend.open(&self.log_path, false).map_err(|e| StorageError::io(&self.log_path, e))
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn size(&self) -> u64 {
        self.log.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// The sparse `.index`: (offset, position) entries, one per `index.interval.bytes` of batches.
    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    /// The `.timeindex`: (timestamp, offset) entries, each a new largest timestamp.
    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }

    pub fn txn_index(&self) -> &TransactionIndex {
        &self.txn_index
    }

    /// Records an aborted transaction whose marker is in this segment.
    pub fn append_aborted_txn(&mut self, backend: &dyn Backend, txn: AbortedTxn) -> Result<(), StorageError> {
        self.txn_index.append(backend, txn)
    }

    /// Drops transaction index entries whose marker is at or after `offset` (they are about to be replayed).
    pub fn truncate_txn_index_from(&mut self, offset: i64) -> Result<(), StorageError> {
        self.txn_index.truncate_from(offset)
    }

    pub fn indexes_full(&self) -> bool {
        self.offset_index.is_full() || self.time_index.is_full()
    }

    /// How long the segment has been collecting data, for `segment.ms`, as Kafka measures it: from the first
    /// batch's max timestamp to the incoming batch's max timestamp (so replaying old data does not roll a
    /// segment per batch), or from the segment's creation by the clock when the first batch had no timestamp.
    pub fn age_ms(&self, now_ms: i64, incoming_max_timestamp: i64) -> i64 {
        match self.rolling_base_ms {
            Some(base) if base >= 0 => incoming_max_timestamp.saturating_sub(base),
            _ => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// The header of the batch at `pos`, or `None` at (or within a torn header at) the end of the file.
    fn header_at(&self, pos: u64) -> Result<Option<BatchHeader>, StorageError> {
        if pos + RECORD_BATCH_OVERHEAD as u64 > self.size() {
            return Ok(None);
        }
        let mut buf = [0u8; RECORD_BATCH_OVERHEAD];
        self.log.read_exact_at(&mut buf, pos).map_err(|e| StorageError::io(&self.log_path, e))?;
        Ok(Some(BatchHeader::parse(&buf)?))
    }

    /// Appends already validated batches whose offsets are assigned, written one after the other from `parts`
    /// (a batch may come in pieces); `batches` describes each in order.
    pub fn append(&mut self, parts: &[&[u8]], batches: &[AppendedBatch]) -> Result<(), StorageError> {
        let mut position = self.size();
        if position == 0 {
            self.rolling_base_ms = batches.iter().map(|b| b.max_timestamp).max();
        }
        self.log.append_vectored(parts).map_err(|e| StorageError::io(&self.log_path, e))?;
        for batch in batches {
            self.index_batch(position, batch);
            position += batch.size as u64;
        }
        Ok(())
    }

    fn index_batch(&mut self, position: u64, batch: &AppendedBatch) {
        if batch.max_timestamp > self.max_timestamp {
            self.max_timestamp = batch.max_timestamp;
            self.offset_of_max_timestamp = batch.last_offset;
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            // Positions fit in u32: segment.bytes is at most i32::MAX and a segment rolls before exceeding it.
            self.offset_index.append(batch.last_offset, position as u32);
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += batch.size as u64;
        self.next_offset = batch.last_offset + 1;
    }

    /// The position of the first batch whose last offset is `>= offset`, with its header.
    fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, StorageError> {
        let mut pos = u64::from(self.offset_index.lookup(offset));
        while let Some(h) = self.header_at(pos)? {
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.size_in_bytes() as u64;
        }
        Ok(None)
    }

    /// The file position of the batch holding `offset` (or of the first batch after it), `None` past the end.
    pub fn position_of(&self, offset: i64) -> Result<Option<u64>, StorageError> {
        Ok(self.find_batch(offset)?.map(|(position, _)| position))
    }

    /// Whole batches starting with the one containing `offset`, up to `max_bytes` (at least one batch when
    /// `min_one_batch`), none of them starting at or after `max_offset`, with the next offset after the last
    /// batch read (`None` when none is). With `zero_copy`, a backend that can send files answers with a slice
    /// of the segment file instead of its bytes.
    ///
    /// The batch boundaries come from the offset index and the headers of the few batches after the last index
    /// entry within the bounds: neither the records nor a buffer of `max_bytes` are touched.
    pub fn read_records(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
        zero_copy: bool,
    ) -> Result<Option<(Records, Option<i64>)>, StorageError> {
        let Some((start, first)) = self.find_batch(offset)? else {
            return Ok(None);
        };
        let first_size = first.size_in_bytes();
        if first.base_offset >= max_offset || (first_size > max_bytes && !min_one_batch) {
            return Ok(Some((Records::Bytes(Vec::new()), None)));
        }
        // The first batch is whole on disk (recovery guarantees it); later ones count while they fit.
        let limit = max_bytes.max(first_size) as u64;
        let mut end = start + first_size as u64;
        let mut next_offset = first.next_offset();
        // The offset index says where a run of whole batches within both bounds ends, so only the few batches
        // after the last index entry it allows have their headers read (entries are every
        // index.interval.bytes), not every batch of a large read.
        if let Some(skip_to) = self.offset_index.skip_target(start.saturating_add(limit), max_offset) {
            if skip_to > end {
                // The batch at the target is within the bounds by the index; its header confirms it.
                if let Ok(Some(h)) = self.header_at(skip_to) {
                    let skipped_end = skip_to + h.size_in_bytes() as u64;
                    if h.base_offset < max_offset && skipped_end - start <= limit && skipped_end <= self.size() {
                        end = skipped_end;
                        next_offset = h.next_offset();
                    }
                }
            }
        }
        // A header that does not parse past the first batch ends the read there, as a short buffer would.
        while let Ok(Some(h)) = self.header_at(end) {
            let size = h.size_in_bytes() as u64;
            if h.base_offset >= max_offset || end - start + size > limit || end + size > self.size() {
                break;
            }
            end += size;
            next_offset = h.next_offset();
        }
        let len = (end - start) as usize;
        if zero_copy && len >= SEND_FILE_MIN_BYTES {
            if let Some(file) = self.log.shared() {
                return Ok(Some((Records::File(FileSlice { file, position: start, len }), Some(next_offset))));
            }
        }
        let mut buf = vec![0u8; len];
        self.log.read_exact_at(&mut buf, start).map_err(|e| StorageError::io(&self.log_path, e))?;
        Ok(Some((Records::Bytes(buf), Some(next_offset))))
    }

    /// The first record at or after `start_offset` whose timestamp is `>= timestamp`, as (offset, timestamp).
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        start_offset: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        let (_, indexed_offset) = self.time_index.lookup(timestamp);
        let mut pos = u64::from(self.offset_index.lookup(indexed_offset.max(start_offset)));
        while let Some(h) = self.header_at(pos)? {
            let size = h.size_in_bytes();
            if h.max_timestamp >= timestamp && h.last_offset() >= start_offset {
                let mut buf = vec![0u8; size];
                self.log.read_exact_at(&mut buf, pos).map_err(|e| StorageError::io(&self.log_path, e))?;
                let (_, records) = record::decode_records(&buf, DecodeLimits::default())?;
                let found = records.iter().find(|r| r.timestamp >= timestamp && r.offset >= start_offset);
                if let Some(r) = found {
                    return Ok(Some((r.offset, r.timestamp)));
                }
            }
            pos += size as u64;
        }
        Ok(None)
    }

    /// Re-reads the whole log: validates every batch (framing, magic, CRC, offsets), rebuilds both indexes,
    /// and truncates the file after the last valid batch. Returns the bytes truncated. Offsets must follow on
    /// from the segment's base without a gap when `gaps_below` is `None` (an active segment); a sealed segment
    /// may have gaps (the cleaner removed batches) but every batch must end below `gaps_below` (the next
    /// segment's base offset).
    pub fn recover(&mut self, gaps_below: Option<i64>) -> Result<u64, StorageError> {
        self.offset_index.reset();
        self.time_index.reset();
        self.offset_index.resize(self.max_index_bytes).map_err(|e| StorageError::io(self.offset_index.path(), e))?;
        self.time_index.resize(self.max_index_bytes).map_err(|e| StorageError::io(self.time_index.path(), e))?;
        self.appendable = true;
        self.bytes_since_last_index_entry = 0;
        self.max_timestamp = record::NO_TIMESTAMP;
        self.offset_of_max_timestamp = self.base_offset;
        self.next_offset = self.base_offset;
        self.rolling_base_ms = None;
        let size = self.size();
        let mut pos = 0u64;
        while let Some(h) = self.valid_batch_at(pos, size, gaps_below)? {
            if pos == 0 {
                self.rolling_base_ms = Some(h.max_timestamp);
            }
            let batch =
                AppendedBatch { last_offset: h.last_offset(), max_timestamp: h.max_timestamp, size: h.size_in_bytes() };
            self.index_batch(pos, &batch);
            pos += batch.size as u64;
        }
        let truncated = size - pos;
        if truncated > 0 {
            self.log.set_len(pos).map_err(|e| StorageError::io(&self.log_path, e))?;
        }
        Ok(truncated)
    }

    /// The header of the batch at `pos` if a whole valid batch with the expected base offset is there. The CRC
    /// is computed in fixed-size chunks so a damaged length field cannot make recovery allocate.
    fn valid_batch_at(
        &self,
        pos: u64,
        size: u64,
        gaps_below: Option<i64>,
    ) -> Result<Option<BatchHeader>, StorageError> {
        let Some(h) = self.header_at(pos)? else {
            return Ok(None);
        };
        let batch_size = i64::from(h.batch_length) + LOG_OVERHEAD as i64;
        if batch_size < RECORD_BATCH_OVERHEAD as i64 || pos + batch_size as u64 > size {
            return Ok(None);
        }
        if h.magic != record::CURRENT_MAGIC || h.last_offset_delta < 0 {
            return Ok(None);
        }
        let offsets_ok = match gaps_below {
            None => h.base_offset == self.next_offset,
            Some(upper) => h.base_offset >= self.next_offset && h.last_offset() < upper,
        };
        if !offsets_ok {
            return Ok(None);
        }
        if h.compression().is_err() {
            return Ok(None);
        }
        const CHUNK: usize = 64 * 1024;
        let mut buf = vec![0u8; CHUNK.min(batch_size as usize)];
        let mut crc = 0u32;
        // The CRC covers the batch from its attributes field (byte 21) to its end.
        let mut at = pos + 21;
        let end = pos + batch_size as u64;
        while at < end {
            let n = ((end - at) as usize).min(CHUNK);
            self.log.read_exact_at(&mut buf[..n], at).map_err(|e| StorageError::io(&self.log_path, e))?;
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            at += n as u64;
        }
        Ok((crc == h.crc).then_some(h))
    }

    /// Cuts the segment before the batch holding `offset` (so every offset from that batch's base on is gone),
    /// with its indexes, and reloads the tail state. Returns the bytes removed.
    pub fn truncate_to(&mut self, offset: i64) -> Result<u64, StorageError> {
        let Some((position, batch)) = self.find_batch(offset)? else {
            return Ok(0);
        };
        let size = self.size();
        self.offset_index.truncate_to(batch.base_offset);
        self.time_index.truncate_to(batch.base_offset);
        self.log.set_len(position).map_err(|e| StorageError::io(&self.log_path, e))?;
        self.bytes_since_last_index_entry = 0;
        self.next_offset = self.base_offset;
        self.max_timestamp = record::NO_TIMESTAMP;
        self.offset_of_max_timestamp = self.base_offset;
        self.rolling_base_ms = None;
        self.load_tail_state()?;
        Ok(size - position)
    }

    /// Writes the final time index entry and trims both indexes to their entries: the segment will take no
    /// more appends (it rolled, or the log is closing).
    pub fn seal(&mut self) -> Result<(), StorageError> {
        if self.max_timestamp != record::NO_TIMESTAMP {
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
        }
        self.offset_index.trim().map_err(|e| StorageError::io(self.offset_index.path(), e))?;
        self.time_index.trim().map_err(|e| StorageError::io(self.time_index.path(), e))?;
        self.appendable = false;
        Ok(())
    }

    /// Whether the segment's indexes were grown for appends (and so must be sealed before closing).
    pub fn is_appendable(&self) -> bool {
        self.appendable
    }

    /// Grows the indexes for appends unless they already are.
    pub fn ensure_appendable(&mut self) -> Result<(), StorageError> {
        if !self.appendable {
            self.reopen_for_append()?;
        }
        Ok(())
    }

    /// Grows the indexes back to `segment.index.bytes` so the segment can take appends again.
    pub fn reopen_for_append(&mut self) -> Result<(), StorageError> {
        let max = self.max_index_bytes;
        self.offset_index.resize(max).map_err(|e| StorageError::io(self.offset_index.path(), e))?;
        self.time_index.resize(max).map_err(|e| StorageError::io(self.time_index.path(), e))?;
        self.appendable = true;
        Ok(())
    }

    pub fn flush(&self) -> Result<(), StorageError> {
        self.log.sync().map_err(|e| StorageError::io(&self.log_path, e))?;
        self.offset_index.flush().map_err(|e| StorageError::io(self.offset_index.path(), e))?;
        self.time_index.flush().map_err(|e| StorageError::io(self.time_index.path(), e))?;
        self.txn_index.flush()
    }

    /// Removes the segment's files.
    pub fn delete(self, backend: &dyn Backend) -> Result<(), StorageError> {
        let paths = [
            self.log_path.clone(),
            self.offset_index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
            self.txn_index.path().to_path_buf(),
        ];
        drop(self);
        for path in paths {
            match backend.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(&path, e)),
            }
        }
        Ok(())
    }
}
