//! One segment of a partition log: `<base offset>.log` with its `.index`, `.timeindex` and (once it has an
//! aborted transaction) `.txnindex`.
//!
//! Invariants: the `.log` holds whole, CRC-valid v2 batches with contiguous offsets starting at the segment's
//! base offset (a torn tail exists only until recovery truncates it); every index entry points at the start
//! of a batch in this segment; `next_offset` is one past the last offset of the last batch.

use std::path::{Path, PathBuf};

use super::backend::{Backend, BackendFile};
use super::index::{OffsetIndex, TimeIndex};
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

/// What a caller needs to know about each batch of an append, computed during validation.
#[derive(Debug, Clone, Copy)]
pub struct AppendedBatch {
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub size: usize,
}

#[derive(Debug)]
pub struct Segment {
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
        Self::open_files(backend, dir, base_offset, config, now_ms)
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
        let mut segment = Self::open_files(backend, dir, base_offset, config, now_ms)?;
        let size = segment.size();
        let indexes_ok = segment.offset_index.sanity_check(size).is_ok() && segment.time_index.sanity_check().is_ok();
        if indexes_ok {
            segment.load_tail_state()?;
        }
        Ok((segment, indexes_ok))
    }

    fn open_files(
        backend: &dyn Backend,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Self, StorageError> {
        let log_path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let log = backend.open(&log_path, true).map_err(|e| StorageError::io(&log_path, e))?;
        let index_path = dir.join(file_name(base_offset, INDEX_SUFFIX));
        let max_index = config.segment_index_bytes as usize;
        let offset_index = OffsetIndex::open(backend, index_path.clone(), base_offset, max_index)
            .map_err(|e| StorageError::io(&index_path, e))?;
        let time_path = dir.join(file_name(base_offset, TIME_INDEX_SUFFIX));
        let time_index = TimeIndex::open(backend, time_path.clone(), base_offset, max_index)
            .map_err(|e| StorageError::io(&time_path, e))?;
        let txn_index = TransactionIndex::open(backend, dir.join(file_name(base_offset, TXN_INDEX_SUFFIX)))?;
        Ok(Segment {
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
        })
    }

    /// Finds `next_offset`, the max timestamp and the roll base of a segment whose indexes are trusted: scan
    /// from the last offset index entry, and take the max timestamp from the time index and the scanned tail.
    fn load_tail_state(&mut self) -> Result<(), StorageError> {
        if let Some(first) = self.header_at(0)? {
            self.rolling_base_ms = Some(first.max_timestamp);
        }
        if let Some((ts, offset)) = self.time_index.last_entry() {
            self.max_timestamp = ts;
            self.offset_of_max_timestamp = offset;
        }
        let mut pos = u64::from(self.offset_index.lookup(i64::MAX));
        while let Some(h) = self.header_at(pos)? {
            self.next_offset = h.next_offset();
            if h.max_timestamp > self.max_timestamp {
                self.max_timestamp = h.max_timestamp;
                self.offset_of_max_timestamp = h.last_offset();
            }
            pos += h.size_in_bytes() as u64;
        }
        Ok(())
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
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

    /// Appends already validated batches whose offsets are assigned; `batches` describes each in order.
    pub fn append(&mut self, bytes: &[u8], batches: &[AppendedBatch]) -> Result<(), StorageError> {
        let mut position = self.size();
        if position == 0 {
            self.rolling_base_ms = batches.iter().map(|b| b.max_timestamp).max();
        }
        self.log.append(bytes).map_err(|e| StorageError::io(&self.log_path, e))?;
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
    /// `min_one_batch`), none of them starting at or after `max_offset`. One positional read fetches the
    /// candidate bytes; batch boundaries are then found in memory.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        min_one_batch: bool,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let Some((start, first)) = self.find_batch(offset)? else {
            return Ok(None);
        };
        let first_size = first.size_in_bytes();
        if first.base_offset >= max_offset || (first_size > max_bytes && !min_one_batch) {
            return Ok(Some(Vec::new()));
        }
        // The first batch is whole on disk (recovery guarantees it), so this never reads past the file's end.
        let want = max_bytes.max(first_size).min((self.size() - start) as usize);
        let mut buf = vec![0u8; want];
        self.log.read_exact_at(&mut buf, start).map_err(|e| StorageError::io(&self.log_path, e))?;
        let mut end = 0;
        while buf.len() - end >= RECORD_BATCH_OVERHEAD {
            let h = BatchHeader::parse(&buf[end..])?;
            let size = h.size_in_bytes();
            if h.base_offset >= max_offset || size > buf.len() - end {
                break;
            }
            end += size;
        }
        buf.truncate(end);
        Ok(Some(buf))
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

    /// Re-reads the whole log: validates every batch (framing, magic, CRC, contiguous offsets), rebuilds both
    /// indexes, and truncates the file after the last valid batch. Returns the bytes truncated.
    pub fn recover(&mut self) -> Result<u64, StorageError> {
        self.offset_index.reset();
        self.time_index.reset();
        self.offset_index.resize(self.max_index_bytes).map_err(|e| StorageError::io(self.offset_index.path(), e))?;
        self.time_index.resize(self.max_index_bytes).map_err(|e| StorageError::io(self.time_index.path(), e))?;
        self.bytes_since_last_index_entry = 0;
        self.max_timestamp = record::NO_TIMESTAMP;
        self.offset_of_max_timestamp = self.base_offset;
        self.next_offset = self.base_offset;
        self.rolling_base_ms = None;
        let size = self.size();
        let mut pos = 0u64;
        while let Some(h) = self.valid_batch_at(pos, size)? {
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
    fn valid_batch_at(&self, pos: u64, size: u64) -> Result<Option<BatchHeader>, StorageError> {
        let Some(h) = self.header_at(pos)? else {
            return Ok(None);
        };
        let batch_size = i64::from(h.batch_length) + LOG_OVERHEAD as i64;
        if batch_size < RECORD_BATCH_OVERHEAD as i64 || pos + batch_size as u64 > size {
            return Ok(None);
        }
        if h.magic != record::CURRENT_MAGIC || h.base_offset != self.next_offset || h.last_offset_delta < 0 {
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
        self.time_index.trim().map_err(|e| StorageError::io(self.time_index.path(), e))
    }

    /// Grows the indexes back to `segment.index.bytes` so the segment can take appends again.
    pub fn reopen_for_append(&mut self) -> Result<(), StorageError> {
        let max = self.max_index_bytes;
        self.offset_index.resize(max).map_err(|e| StorageError::io(self.offset_index.path(), e))?;
        self.time_index.resize(max).map_err(|e| StorageError::io(self.time_index.path(), e))
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
