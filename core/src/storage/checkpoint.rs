//! Kafka's checkpoint files: a version line (`0`), an entry count line, then one entry per line with
//! space-separated fields. Used for `leader-epoch-checkpoint` (per partition: `epoch start_offset`) and the log
//! directory's `recovery-point-offset-checkpoint` and `log-start-offset-checkpoint` (`topic partition offset`).
//!
//! Files are replaced atomically (write, sync, rename, sync dir). A file that does not parse is an error naming
//! it; the caller decides whether to fall back (Kafka recovers the whole log when a checkpoint is unreadable).

use std::io;
use std::path::{Path, PathBuf};

use super::backend::{read_whole, write_atomic, Backend};
use super::StorageError;

const VERSION: &str = "0";
/// A checkpoint holds one line per partition of a log directory; this bounds what a damaged file can make us
/// allocate.
const MAX_ENTRIES: usize = 1 << 20;

/// Reads a checkpoint's entry lines, each split into fields. A missing file is `Ok(None)`.
pub fn read(backend: &dyn Backend, path: &Path) -> Result<Option<Vec<Vec<String>>>, StorageError> {
    let bytes = match read_whole(backend, path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io(path, e)),
    };
    let corrupt = |reason: &str| StorageError::Corrupt { path: path.to_path_buf(), reason: reason.to_string() };
    let text = std::str::from_utf8(&bytes).map_err(|_| corrupt("not UTF-8"))?;
    let mut lines = text.lines();
    if lines.next() != Some(VERSION) {
        return Err(corrupt("unsupported checkpoint version"));
    }
    let count: usize = lines.next().and_then(|l| l.trim().parse().ok()).ok_or_else(|| corrupt("bad entry count"))?;
    if count > MAX_ENTRIES {
        return Err(corrupt("entry count too large"));
    }
    let entries: Vec<Vec<String>> =
        lines.filter(|l| !l.trim().is_empty()).map(|l| l.split_whitespace().map(str::to_string).collect()).collect();
    if entries.len() != count {
        return Err(corrupt("entry count does not match the entries"));
    }
    Ok(Some(entries))
}

/// Replaces a checkpoint with `entries`.
pub fn write(backend: &dyn Backend, path: &Path, entries: &[String]) -> Result<(), StorageError> {
    let mut text = format!("{VERSION}\n{}\n", entries.len());
    for e in entries {
        text.push_str(e);
        text.push('\n');
    }
    write_atomic(backend, path, text.as_bytes()).map_err(|e| StorageError::io(path, e))
}

/// One entry of the leader epoch cache: the first offset written under `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// The partition's leader epoch history, persisted as `leader-epoch-checkpoint`.
#[derive(Debug)]
pub struct LeaderEpochCache {
    path: PathBuf,
    entries: Vec<EpochEntry>,
}

pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

impl LeaderEpochCache {
    /// The cache of a new log: no epochs, and no file until the first is assigned.
    pub fn empty(dir: &Path) -> Self {
        LeaderEpochCache { path: dir.join(LEADER_EPOCH_CHECKPOINT), entries: Vec::new() }
    }

    pub fn load(backend: &dyn Backend, dir: &Path) -> Result<Self, StorageError> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT);
        let mut entries = Vec::new();
        for fields in read(backend, &path)?.unwrap_or_default() {
            let parsed = match fields.as_slice() {
                [epoch, offset] => epoch.parse().ok().zip(offset.parse().ok()),
                _ => None,
            };
            let (epoch, start_offset) = parsed
                .ok_or_else(|| StorageError::Corrupt { path: path.clone(), reason: format!("bad entry {fields:?}") })?;
            entries.push(EpochEntry { epoch, start_offset });
        }
        Ok(LeaderEpochCache { path, entries })
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`, if it is newer than the latest epoch known.
    pub fn assign(&mut self, backend: &dyn Backend, epoch: i32, start_offset: i64) -> Result<(), StorageError> {
        if epoch < 0 || self.latest_epoch().is_some_and(|latest| epoch <= latest) {
            return Ok(());
        }
        self.entries.retain(|e| e.start_offset < start_offset);
        self.entries.push(EpochEntry { epoch, start_offset });
        self.persist(backend)
    }

    /// Forgets epochs that start at or after `end_offset` (the log was truncated to it).
    pub fn truncate_from_end(&mut self, backend: &dyn Backend, end_offset: i64) -> Result<(), StorageError> {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        if self.entries.len() != before {
            self.persist(backend)?;
        }
        Ok(())
    }

    /// Drops epochs wholly before `start_offset` (the log start moved) and moves the first one up to it.
    pub fn truncate_from_start(&mut self, backend: &dyn Backend, start_offset: i64) -> Result<(), StorageError> {
        let Some(keep_from) = self.entries.iter().rposition(|e| e.start_offset <= start_offset) else {
            return Ok(());
        };
        if keep_from == 0 && self.entries[0].start_offset == start_offset {
            return Ok(());
        }
        self.entries.drain(..keep_from);
        self.entries[0].start_offset = start_offset;
        self.persist(backend)
    }

    /// The end offset of `epoch` as OffsetForLeaderEpoch answers it: the start offset of the next larger epoch,
    /// or `log_end_offset` if `epoch` is the latest. Returns (epoch found, end offset). An epoch older than every
    /// entry ends where the first entry starts, as Kafka's LeaderEpochFileCache answers (that epoch's records,
    /// if this log ever had them, are gone): a follower whose log holds only such an epoch then truncates to
    /// there instead of being told its offset is out of range, which it could not act on. `None` for an empty
    /// cache.
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        let Some(idx) = self.entries.iter().rposition(|e| e.epoch <= epoch) else {
            return self.entries.first().map(|first| (epoch, first.start_offset));
        };
        let end = self.entries.get(idx + 1).map_or(log_end_offset, |next| next.start_offset);
        Some((self.entries[idx].epoch, end))
    }

    fn persist(&self, backend: &dyn Backend) -> Result<(), StorageError> {
        let lines: Vec<String> = self.entries.iter().map(|e| format!("{} {}", e.epoch, e.start_offset)).collect();
        write(backend, &self.path, &lines)
    }
}
