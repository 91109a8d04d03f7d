//! Kafka's sparse segment indexes, in Kafka's byte layout, over a mapped file.
//!
//! - `.index` (offset index): 8-byte entries `relative offset u32 | file position u32`, one per
//!   `index.interval.bytes` of log, keyed by the last offset of the batch that starts at that position.
//! - `.timeindex` (time index): 12-byte entries `timestamp i64 | relative offset u32`, appended only when the
//!   timestamp grows.
//!
//! The active segment's index files are preallocated to `segment.index.bytes` (rounded down to whole
//! entries) and trimmed to their entries when the segment stops being active or is closed, as Kafka does.
//! Entries are strictly increasing in both key columns; lookups are binary searches.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::backend::{Backend, MappedFile};

/// Bytes of one offset index entry.
pub const OFFSET_ENTRY_SIZE: usize = 8;
/// Bytes of one time index entry.
pub const TIME_ENTRY_SIZE: usize = 12;

/// A mapped file of fixed-size entries, the part both indexes share. It holds no file descriptor (see
/// [`MappedFile`]).
struct IndexFile {
    path: PathBuf,
    map: Box<dyn MappedFile>,
    entry_size: usize,
    entries: usize,
    /// Bytes from the start of the file known to be backed by allocated storage: the entries found at open
    /// were written, and more is reserved before writing past it.
    reserved: usize,
    /// The last two entries as the file held them at open, read through the file rather than the mapping:
    /// the sanity checks look at them, and after a crash they lie in the preallocated, sparse part of the
    /// file, where a read through the mapping on a full disk can kill the process (SIGBUS).
    tail_at_open: Vec<u8>,
}

impl fmt::Debug for IndexFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexFile").field("path", &self.path).field("entries", &self.entries).finish()
    }
}

/// Storage is reserved in steps of this many bytes (one `fallocate` per 64 KiB of index, some 32 MiB of log
/// at the default index interval).
const RESERVE_STEP: usize = 64 * 1024;

/// How a segment's index file is reached.
#[derive(Debug, Clone, Copy)]
pub enum IndexOpen {
    /// A new file, which must not exist: it starts empty and its first entry grows it.
    New,
    /// The file that is there, or if it is missing one made `max_bytes` long.
    Existing { max_bytes: usize },
}

impl IndexFile {
    fn open(backend: &dyn Backend, path: PathBuf, entry_size: usize, how: IndexOpen) -> io::Result<Self> {
        match how {
            IndexOpen::New => Self::create_new(backend, path, entry_size),
            IndexOpen::Existing { max_bytes } => Self::open_existing(backend, path, entry_size, max_bytes),
        }
    }

    /// Opens or creates the file. A new file is preallocated (sparsely) to `max_bytes`; an existing one keeps
    /// its length and counts every whole entry in it, as Kafka does (callers sanity-check it and resize the
    /// active segment's index).
    fn open_existing(backend: &dyn Backend, path: PathBuf, entry_size: usize, max_bytes: usize) -> io::Result<Self> {
        let existed = backend.exists(&path);
        let mut file = backend.open(&path, true)?;
        let entries = (file.len() as usize) / entry_size;
        if !existed {
            file.set_len((max_bytes / entry_size * entry_size) as u64)?;
        }
        let tail_entries = entries.min(2);
        let mut tail_at_open = vec![0u8; tail_entries * entry_size];
        file.read_exact_at(&mut tail_at_open, ((entries - tail_entries) * entry_size) as u64)?;
        let map = file.map()?;
        Ok(IndexFile { path, map, entry_size, entries, reserved: 0, tail_at_open })
    }

    /// Creates an empty file, which must not exist; the first entry grows it (see [`IndexFile::resize`]).
    fn create_new(backend: &dyn Backend, path: PathBuf, entry_size: usize) -> io::Result<Self> {
        let map = backend.create_new(&path)?.map()?;
        Ok(IndexFile { path, map, entry_size, entries: 0, reserved: 0, tail_at_open: Vec::new() })
    }

    /// Entry `n` (counted from the end: 1 is the last) as the file held it at open.
    fn tail_entry_at_open(&self, from_end: usize) -> Option<&[u8]> {
        let count = self.tail_at_open.len() / self.entry_size;
        let i = count.checked_sub(from_end)?;
        self.tail_at_open.get(i * self.entry_size..(i + 1) * self.entry_size)
    }

    fn file_len(&self) -> u64 {
        self.map.len() as u64
    }

    fn max_entries(&self) -> usize {
        self.map.len() / self.entry_size
    }

    fn is_full(&self) -> bool {
        self.entries >= self.max_entries()
    }

    fn read_entry(&self, n: usize, buf: &mut [u8]) {
        self.map.read(n * self.entry_size, &mut buf[..self.entry_size]);
    }

    /// Appends an entry; a full index takes no more (the active segment rolls before that can happen, so this
    /// only drops entries while rebuilding an index that `segment.index.bytes` has since made too small). When
    /// storage cannot be reserved for it (a full disk) the entry is left out too: a sparse index with an entry
    /// missing is still correct, lookups just scan a little more of the log.
    fn push(&mut self, entry: &[u8]) {
        if self.is_full() {
            return;
        }
        let pos = self.entries * self.entry_size;
        if pos + self.entry_size > self.reserved {
            let step = RESERVE_STEP.min(self.map.len() - pos);
            if self.map.reserve(pos, step).is_err() {
                return;
            }
            self.reserved = pos + step;
        }
        self.map.write(pos, entry);
        self.entries += 1;
    }

    /// Sets the file's length to `entries` worth of bytes (at least the current entries) and remaps.
    fn resize(&mut self, max_bytes: usize) -> io::Result<()> {
        let len = (max_bytes / self.entry_size).max(self.entries) * self.entry_size;
        if len == self.map.len() {
            return Ok(());
        }
        self.map.resize(len as u64)?;
        self.reserved = self.reserved.min(self.entries * self.entry_size);
        Ok(())
    }

    fn trim(&mut self) -> io::Result<()> {
        self.resize(self.entries * self.entry_size)
    }

    fn truncate_entries(&mut self, entries: usize) {
        self.entries = entries.min(self.entries);
    }

    fn flush(&self) -> io::Result<()> {
        self.map.flush()
    }

    /// The largest entry index whose key is `<= target`, where keys are strictly increasing.
    fn floor(&self, target: i64, key: impl Fn(&Self, usize) -> i64) -> Option<usize> {
        if self.entries == 0 || key(self, 0) > target {
            return None;
        }
        let (mut lo, mut hi) = (0, self.entries - 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if key(self, mid) <= target {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(lo)
    }
}

/// Why an index failed its sanity check; the segment rebuilds it from the log.
#[derive(Debug)]
pub struct CorruptIndex(pub String);

/// The `.index` file of a segment.
#[derive(Debug)]
pub struct OffsetIndex {
    base_offset: i64,
    inner: IndexFile,
}

impl OffsetIndex {
    pub fn open(backend: &dyn Backend, path: PathBuf, base_offset: i64, how: IndexOpen) -> io::Result<Self> {
        Ok(OffsetIndex { base_offset, inner: IndexFile::open(backend, path, OFFSET_ENTRY_SIZE, how)? })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn entries(&self) -> usize {
        self.inner.entries
    }

    pub fn is_full(&self) -> bool {
        self.inner.is_full()
    }

    /// Entry `n` as (absolute offset, file position).
    pub fn entry(&self, n: usize) -> (i64, u32) {
        let mut buf = [0u8; OFFSET_ENTRY_SIZE];
        self.inner.read_entry(n, &mut buf);
        self.decode(&buf)
    }

    fn decode(&self, buf: &[u8]) -> (i64, u32) {
        let relative = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let position = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        (self.base_offset + i64::from(relative), position)
    }

    pub fn last_offset(&self) -> i64 {
        match self.inner.entries {
            0 => self.base_offset,
            n => self.entry(n - 1).0,
        }
    }

    /// Records that the batch starting at `position` ends at `offset`. Offsets must grow.
    pub fn append(&mut self, offset: i64, position: u32) {
        debug_assert!(self.inner.entries == 0 || offset > self.last_offset());
        let relative = u32::try_from(offset - self.base_offset).unwrap_or(u32::MAX);
        let mut buf = [0u8; OFFSET_ENTRY_SIZE];
        buf[..4].copy_from_slice(&relative.to_be_bytes());
        buf[4..].copy_from_slice(&position.to_be_bytes());
        self.inner.push(&buf);
    }

    /// The file position to start scanning from for `offset`: that of the last entry whose offset is
    /// `<= offset`, or 0.
    pub fn lookup(&self, offset: i64) -> u32 {
        self.inner.floor(offset, |f, n| Self::key(f, self.base_offset, n)).map_or(0, |n| self.entry(n).1)
    }

    /// The file position of the next-to-last entry among those with a position `<= max_position` and an offset
    /// `< max_offset`: the batch there ends no later than the last such entry's position, so every batch up to
    /// and including it lies within both bounds (what a read may skip to without reading the batches between).
    pub fn skip_target(&self, max_position: u64, max_offset: i64) -> Option<u64> {
        let max_position = i64::try_from(max_position).unwrap_or(i64::MAX);
        let by_position = self.inner.floor(max_position, |f, n| i64::from(Self::position(f, n)))?;
        let by_offset = self.inner.floor(max_offset.saturating_sub(1), |f, n| Self::key(f, self.base_offset, n))?;
        let last = by_position.min(by_offset);
        last.checked_sub(1).map(|n| u64::from(self.entry(n).1))
    }

    fn position(f: &IndexFile, n: usize) -> u32 {
        let mut buf = [0u8; OFFSET_ENTRY_SIZE];
        f.read_entry(n, &mut buf);
        u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]])
    }

    fn key(f: &IndexFile, base_offset: i64, n: usize) -> i64 {
        let mut buf = [0u8; OFFSET_ENTRY_SIZE];
        f.read_entry(n, &mut buf);
        base_offset + i64::from(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]))
    }

    /// Drops entries for offsets `>= offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let keep = self.inner.floor(offset - 1, |f, n| Self::key(f, self.base_offset, n)).map_or(0, |n| n + 1);
        self.inner.truncate_entries(keep);
    }

    pub fn reset(&mut self) {
        self.inner.truncate_entries(0);
    }

    /// Checks what Kafka checks, plus ordering at the tail (which catches an untrimmed, zero-filled file).
    /// Only meaningful right after open: it checks the entries as they were read then, through the file.
    pub fn sanity_check(&self, log_size: u64) -> Result<(), CorruptIndex> {
        let f = &self.inner;
        if !f.file_len().is_multiple_of(OFFSET_ENTRY_SIZE as u64) {
            return Err(CorruptIndex(format!("{}: size is not a multiple of {OFFSET_ENTRY_SIZE}", f.path.display())));
        }
        let Some(last) = f.tail_entry_at_open(1) else {
            return Ok(());
        };
        let (last, position) = self.decode(last);
        if u64::from(position) >= log_size.max(1) {
            return Err(CorruptIndex(format!("{}: last entry points past the log's end", f.path.display())));
        }
        if f.tail_entry_at_open(2).is_some_and(|prev| self.decode(prev).0 >= last) {
            return Err(CorruptIndex(format!("{}: entries are not increasing", f.path.display())));
        }
        Ok(())
    }

    pub fn resize(&mut self, max_bytes: usize) -> io::Result<()> {
        self.inner.resize(max_bytes)
    }

    pub fn trim(&mut self) -> io::Result<()> {
        self.inner.trim()
    }

    pub fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The `.timeindex` file of a segment.
#[derive(Debug)]
pub struct TimeIndex {
    base_offset: i64,
    inner: IndexFile,
}

impl TimeIndex {
    pub fn open(backend: &dyn Backend, path: PathBuf, base_offset: i64, how: IndexOpen) -> io::Result<Self> {
        Ok(TimeIndex { base_offset, inner: IndexFile::open(backend, path, TIME_ENTRY_SIZE, how)? })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn entries(&self) -> usize {
        self.inner.entries
    }

    pub fn is_full(&self) -> bool {
        self.inner.is_full()
    }

    /// Entry `n` as (timestamp, absolute offset).
    pub fn entry(&self, n: usize) -> (i64, i64) {
        let mut buf = [0u8; TIME_ENTRY_SIZE];
        self.inner.read_entry(n, &mut buf);
        self.decode(&buf)
    }

    fn decode(&self, buf: &[u8]) -> (i64, i64) {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&buf[..8]);
        let relative = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        (i64::from_be_bytes(ts), self.base_offset + i64::from(relative))
    }

    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.inner.entries.checked_sub(1).map(|n| self.entry(n))
    }

    /// Appends (timestamp, offset) if the timestamp is larger than the last entry's. With `allow_full` unset,
    /// a full index takes no more entries (the segment rolls before that happens); Kafka forces one last entry
    /// when a segment becomes inactive.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) {
        if self.inner.is_full() {
            return;
        }
        if let Some((last_ts, last_offset)) = self.last_entry() {
            if timestamp <= last_ts || offset < last_offset {
                return;
            }
        }
        let relative = u32::try_from(offset - self.base_offset).unwrap_or(u32::MAX);
        let mut buf = [0u8; TIME_ENTRY_SIZE];
        buf[..8].copy_from_slice(&timestamp.to_be_bytes());
        buf[8..].copy_from_slice(&relative.to_be_bytes());
        self.inner.push(&buf);
    }

    /// The entry with the largest timestamp `<= timestamp`, or (-1, base offset).
    pub fn lookup(&self, timestamp: i64) -> (i64, i64) {
        match self.inner.floor(timestamp, |f, n| {
            let mut buf = [0u8; TIME_ENTRY_SIZE];
            f.read_entry(n, &mut buf);
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&buf[..8]);
            i64::from_be_bytes(ts)
        }) {
            Some(n) => self.entry(n),
            None => (-1, self.base_offset),
        }
    }

    /// Drops entries for offsets `>= offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let mut keep = self.inner.entries;
        while keep > 0 && self.entry(keep - 1).1 >= offset {
            keep -= 1;
        }
        self.inner.truncate_entries(keep);
    }

    pub fn reset(&mut self) {
        self.inner.truncate_entries(0);
    }

    /// Only meaningful right after open: it checks the entries as they were read then, through the file.
    pub fn sanity_check(&self) -> Result<(), CorruptIndex> {
        let f = &self.inner;
        if !f.file_len().is_multiple_of(TIME_ENTRY_SIZE as u64) {
            return Err(CorruptIndex(format!("{}: size is not a multiple of {TIME_ENTRY_SIZE}", f.path.display())));
        }
        if let (Some(last), Some(prev)) = (f.tail_entry_at_open(1), f.tail_entry_at_open(2)) {
            let (ts, offset) = self.decode(last);
            let (prev_ts, prev_offset) = self.decode(prev);
            if ts <= prev_ts || offset < prev_offset {
                return Err(CorruptIndex(format!("{}: entries are not increasing", f.path.display())));
            }
        }
        Ok(())
    }

    pub fn resize(&mut self, max_bytes: usize) -> io::Result<()> {
        self.inner.resize(max_bytes)
    }

    pub fn trim(&mut self) -> io::Result<()> {
        self.inner.trim()
    }

    pub fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }
}
