//! The partition log in Kafka's own on-disk format.
//!
//! Under `<log.dirs>/<topic>-<partition>/` a log is a run of segments named by their 20-digit base offset
//! (`00000000000000000000.log`, `.index`, `.timeindex`, `.txnindex` once a transaction aborted there), producer
//! state snapshots (`<offset>.snapshot`) and `leader-epoch-checkpoint`; the log directory
//! holds `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint` and the clean-shutdown marker.
//! Apache Kafka's `DumpLogSegments` reads these files (a test proves it).
//!
//! - [`Log`] appends validated batches byte for byte (rewriting only base offset, leader epoch and, for
//!   LogAppendTime, the timestamp), reads whole batches, looks up offsets by timestamp, rolls segments by
//!   size, time and index fullness, enforces retention by time and size (below the high watermark), flushes by
//!   `flush.messages` / `flush.ms`, truncates a divergent tail, and recovers a torn or corrupt tail on open. It
//!   keeps the producer state (idempotence and open transactions) that its batches imply, the high watermark
//!   and last stable offset, and the aborted-transaction index a read_committed fetch needs. The rules a replica
//!   enforces on top (producer sequences and epochs, markers, leadership, the ISR) are in `crate::partition`.
//! - [`LogManager`] owns the logs of one log directory and its checkpoint files.
//! - [`cleaner`] compacts `cleanup.policy=compact` logs as Kafka's log cleaner does, swapping cleaned segments
//!   in crash-safely (`.cleaned` -> `.swap` -> final names, finished or undone on open).
//! - [`Backend`] is the narrow file seam: [`FileBackend`] (native, mmap'd indexes) and [`MemoryBackend`].
//!
//! Time is always an argument (`now_ms`): nothing here reads a clock.

pub mod backend;
pub mod checkpoint;
pub mod cleaner;
mod config;
pub mod index;
mod log;
mod manager;
pub(crate) use manager::parallel_map;
pub mod producer_state;
pub mod segment;
mod swap;
pub mod txn_index;

use std::io;
use std::path::{Path, PathBuf};

#[cfg(feature = "native")]
pub use backend::FileBackend;
pub use backend::{Backend, BackendFile, FileSlice, LockGuard, MappedFile, MemoryBackend, SharedFile};
pub use config::{LogConfig, LOG_CONFIG_KEYS};
pub use log::{
    AppendInfo, AppendOrigin, Log, OpenOptions, ReadInfo, ReadRecords, Records, ValidatedBatches, PARTITION_METADATA,
};
pub use manager::{lock, LogManager, SharedLog, TopicPartition, MAX_TOPIC_NAME_LEN, REPLICATION_OFFSET_CHECKPOINT};

use crate::record::RecordError;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The OS error is part of the message and deliberately not a `source`, so that printing the error with
    /// its chain (as `anyhow` does) names it once.
    #[error("I/O error on {path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] RecordError),
    #[error("batch of {size} bytes exceeds max.message.bytes ({max})")]
    MessageTooLarge { size: usize, max: u32 },
    #[error("append of {size} bytes is larger than segment.bytes ({max})")]
    RecordListTooLarge { size: usize, max: u32 },
    #[error("offset {offset} is out of range: the log holds [{log_start_offset}, {log_end_offset})")]
    OffsetOutOfRange { offset: i64, log_start_offset: i64, log_end_offset: i64 },
    #[error("corrupt file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("invalid value {value:?} for config {key}: {reason}")]
    InvalidConfig { key: String, value: String, reason: String },
    #[error("invalid topic or partition {0:?}")]
    InvalidTopicPartition(String),
    #[error("log for {0} already exists")]
    AlreadyExists(String),
}

impl StorageError {
    pub(crate) fn io(path: &Path, error: io::Error) -> Self {
        StorageError::Io { path: path.to_path_buf(), error }
    }
}
