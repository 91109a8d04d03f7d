//! The logs of one log directory (`log.dirs` entry) and the directory-level files Kafka keeps there:
//! `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint` and the `.kafka_cleanshutdown` marker.
//!
//! Invariant: the clean-shutdown marker exists only between a [`LogManager::close`] that flushed and sealed
//! every log and the next [`LogManager::open`], which removes it before touching any log.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::backend::Backend;
use super::log::{Log, OpenOptions};
use super::{checkpoint, LogConfig, StorageError};

pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
/// Each partition's high watermark, as Kafka's ReplicaManager checkpoints it.
pub const REPLICATION_OFFSET_CHECKPOINT: &str = "replication-offset-checkpoint";
pub const CLEAN_SHUTDOWN_MARKER: &str = ".kafka_cleanshutdown";
/// Kafka's `producer.id.expiration.ms` default: producer state idle this long is dropped at a retention pass.
const PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;
/// Kafka's limit on topic name length.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// A topic name and partition number, as they name a log directory (`<topic>-<partition>`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    /// Checks a topic name the way Kafka does: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
    pub fn validate_topic(topic: &str) -> Result<(), StorageError> {
        let valid = !topic.is_empty()
            && topic.len() <= MAX_TOPIC_NAME_LEN
            && topic != "."
            && topic != ".."
            && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
        if valid {
            Ok(())
        } else {
            Err(StorageError::InvalidTopicPartition(topic.to_string()))
        }
    }

    pub fn new(topic: &str, partition: i32) -> Result<Self, StorageError> {
        Self::validate_topic(topic)?;
        if partition < 0 {
            return Err(StorageError::InvalidTopicPartition(format!("{topic}-{partition}")));
        }
        Ok(TopicPartition { topic: topic.to_string(), partition })
    }

    /// Parses a log directory name, `None` for anything else (such as a deleted log's directory).
    pub fn from_dir_name(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        if partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        TopicPartition::new(topic, partition.parse().ok()?).ok()
    }

    pub fn dir_name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A log shared between the manager (checkpoints, retention) and the request handlers that append and read.
pub type SharedLog = Arc<Mutex<Log>>;

/// Locks a shared log. A panic while holding the lock cannot leave the log half-written (appends validate
/// before writing), so a poisoned lock is taken over rather than propagated.
pub fn lock(log: &SharedLog) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A log's checkpointed offsets: recovery point, log start offset, high watermark.
type Offsets = (TopicPartition, i64, i64, i64);

/// How many logs are opened or closed at once: the work is mostly waiting for the disk (fsync, reads during
/// recovery), so more threads than cores help.
#[cfg(feature = "native")]
const LOG_THREADS: usize = 8;

/// `f` over `items`, on up to [`LOG_THREADS`] threads, results in the order of `items`. (Single-threaded
/// without the `native` feature: wasm32 cannot spawn threads.)
pub(crate) fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    #[cfg(feature = "native")]
    if items.len() > 1 {
        let count = items.len();
        let queue = Mutex::new(items.into_iter().enumerate());
        let results = Mutex::new(Vec::with_capacity(count));
        std::thread::scope(|scope| {
            for _ in 0..LOG_THREADS.min(count) {
                scope.spawn(|| loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                    let Some((i, item)) = next else { break };
                    let r = f(item);
                    results.lock().unwrap_or_else(PoisonError::into_inner).push((i, r));
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_else(PoisonError::into_inner);
        results.sort_unstable_by_key(|(i, _)| *i);
        return results.into_iter().map(|(_, r)| r).collect();
    }
    items.into_iter().map(f).collect()
}

/// Names in a log directory that are not partition logs of user or internal topics.
const RESERVED_DIR_PREFIX: &str = "__cluster_metadata";

/// Owns every log under one directory.
#[derive(Debug)]
pub struct LogManager {
    backend: Arc<dyn Backend>,
    dir: PathBuf,
    logs: BTreeMap<TopicPartition, SharedLog>,
    had_clean_shutdown: bool,
}

fn read_offsets(backend: &dyn Backend, path: &Path) -> Result<BTreeMap<TopicPartition, i64>, StorageError> {
    let mut offsets = BTreeMap::new();
    for fields in checkpoint::read(backend, path)?.unwrap_or_default() {
        let parsed = match fields.as_slice() {
            [topic, partition, offset] => {
                partition.parse().ok().and_then(|p| TopicPartition::new(topic, p).ok()).zip(offset.parse::<i64>().ok())
            }
            _ => None,
        };
        let (tp, offset) = parsed.ok_or_else(|| StorageError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("bad entry {fields:?}"),
        })?;
        offsets.insert(tp, offset);
    }
    Ok(offsets)
}

impl LogManager {
    /// Opens every partition log under `dir`, with the config `config_for` gives each topic. After an unclean
    /// shutdown (no marker), logs are recovered from their checkpointed recovery points; an unreadable
    /// checkpoint makes them recover from the start rather than fail.
    pub fn open(
        backend: Arc<dyn Backend>,
        dir: &Path,
        config_for: impl Fn(&str) -> LogConfig,
        now_ms: i64,
    ) -> Result<Self, StorageError> {
        backend.create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
        let had_clean_shutdown = backend.exists(&marker);
        let recovery_points = read_offsets(backend.as_ref(), &dir.join(RECOVERY_POINT_CHECKPOINT)).unwrap_or_default();
        let start_offsets = read_offsets(backend.as_ref(), &dir.join(LOG_START_OFFSET_CHECKPOINT)).unwrap_or_default();
        let high_watermarks =
            read_offsets(backend.as_ref(), &dir.join(REPLICATION_OFFSET_CHECKPOINT)).unwrap_or_default();
        let mut to_open = Vec::new();
        for name in backend.list_dir(dir).map_err(|e| StorageError::io(dir, e))? {
            if name.starts_with(RESERVED_DIR_PREFIX) {
                continue;
            }
            let Some(tp) = TopicPartition::from_dir_name(&name) else { continue };
            let path = dir.join(&name);
            if !backend.is_dir(&path) {
                continue;
            }
            let options = OpenOptions {
                recovery_point: recovery_points.get(&tp).copied().unwrap_or(0),
                log_start_offset: start_offsets.get(&tp).copied().unwrap_or(0),
                // Without a recovery point for this log, its state is unknown: recover it whole.
                had_clean_shutdown: had_clean_shutdown && recovery_points.contains_key(&tp),
                high_watermark: high_watermarks.get(&tp).copied().unwrap_or(0),
            };
            let config = config_for(&tp.topic);
            to_open.push((tp, path, config, options));
        }
        // Logs are independent: open (and, after a crash, recover) them side by side.
        let mut logs = BTreeMap::new();
        let opened = parallel_map(to_open, |(tp, path, config, options)| {
            Log::open(backend.clone(), &path, config, options, now_ms).map(|log| (tp, log))
        });
        for opened in opened {
            let (tp, log) = opened?;
            logs.insert(tp, Arc::new(Mutex::new(log)));
        }
        if had_clean_shutdown {
            backend.remove_file(&marker).map_err(|e| StorageError::io(&marker, e))?;
            backend.sync_dir(dir).map_err(|e| StorageError::io(dir, e))?;
        }
        Ok(LogManager { backend, dir: dir.to_path_buf(), logs, had_clean_shutdown })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the previous process closed this directory cleanly.
    pub fn had_clean_shutdown(&self) -> bool {
        self.had_clean_shutdown
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<SharedLog> {
        self.logs.get(tp).cloned()
    }

    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.logs.keys()
    }

    /// Creates an empty log for `tp`.
    pub fn create(&mut self, tp: TopicPartition, config: LogConfig, now_ms: i64) -> Result<SharedLog, StorageError> {
        if self.logs.contains_key(&tp) {
            return Err(StorageError::AlreadyExists(tp.to_string()));
        }
        let log =
            Log::open(self.backend.clone(), &self.dir.join(tp.dir_name()), config, OpenOptions::default(), now_ms)?;
        let log = Arc::new(Mutex::new(log));
        self.logs.insert(tp, log.clone());
        Ok(log)
    }

    /// Takes over a log created elsewhere (files first, outside the lock that guards this manager).
    pub fn register(&mut self, tp: TopicPartition, log: Log) -> Result<SharedLog, StorageError> {
        if self.logs.contains_key(&tp) {
            return Err(StorageError::AlreadyExists(tp.to_string()));
        }
        let log = Arc::new(Mutex::new(log));
        self.logs.insert(tp, log.clone());
        Ok(log)
    }

    /// Removes the log of `tp` and its files.
    pub fn delete(&mut self, tp: &TopicPartition) -> Result<bool, StorageError> {
        let Some(shared) = self.logs.remove(tp) else {
            return Ok(false);
        };
        // Handlers may still hold the Arc for a moment; the files go now and the handle is left empty-handed.
        // Under the log's lock, so that a `partition.metadata` still to be written is forgotten rather than
        // written into the directory as it goes.
        let mut log = lock(&shared);
        log.set_partition_metadata(None);
        let dir = log.dir().to_path_buf();
        self.backend.remove_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        Ok(true)
    }

    /// Writes the recovery-point, log-start-offset and replication-offset (high watermark) checkpoints for
    /// every log.
    pub fn checkpoint(&self) -> Result<(), StorageError> {
        let offsets: Vec<Offsets> = self
            .logs
            .iter()
            .map(|(tp, l)| {
                let l = lock(l);
                (tp.clone(), l.recovery_point(), l.log_start_offset(), l.high_watermark())
            })
            .collect();
        self.write_checkpoints(&offsets)
    }

    /// Writes the checkpoints from (partition, recovery point, log start offset, high watermark) entries.
    fn write_checkpoints(&self, offsets: &[Offsets]) -> Result<(), StorageError> {
        let line = |tp: &TopicPartition, offset: i64| format!("{} {} {offset}", tp.topic, tp.partition);
        let recovery: Vec<String> = offsets.iter().map(|(tp, rp, _, _)| line(tp, *rp)).collect();
        checkpoint::write(self.backend.as_ref(), &self.dir.join(RECOVERY_POINT_CHECKPOINT), &recovery)?;
        let starts: Vec<String> = offsets.iter().map(|(tp, _, start, _)| line(tp, *start)).collect();
        checkpoint::write(self.backend.as_ref(), &self.dir.join(LOG_START_OFFSET_CHECKPOINT), &starts)?;
        let high_watermarks: Vec<String> = offsets.iter().map(|(tp, _, _, hw)| line(tp, *hw)).collect();
        checkpoint::write(self.backend.as_ref(), &self.dir.join(REPLICATION_OFFSET_CHECKPOINT), &high_watermarks)
    }

    /// The periodic work a broker schedules: flushes logs whose `flush.messages` / `flush.ms` say so and, with
    /// `retention`, deletes segments outside retention (only below each log's high watermark). Returns the
    /// partitions whose log start offset moved.
    pub fn tick(&self, now_ms: i64, retention: bool) -> Result<Vec<TopicPartition>, StorageError> {
        let mut moved = Vec::new();
        for (tp, log) in &self.logs {
            let mut log = lock(log);
            log.maybe_flush(now_ms)?;
            if retention {
                if log.enforce_retention(now_ms)? > 0 {
                    moved.push(tp.clone());
                }
                log.remove_expired_producers(now_ms, PRODUCER_ID_EXPIRATION_MS);
            }
        }
        Ok(moved)
    }

    /// Flushes and seals every log (side by side, and only what changed), writes the checkpoints, then the
    /// clean-shutdown marker.
    pub fn close(mut self, now_ms: i64) -> Result<(), StorageError> {
        let logs: Vec<(TopicPartition, SharedLog)> = std::mem::take(&mut self.logs).into_iter().collect();
        let closed = parallel_map(logs, |(tp, shared)| {
            // The last holder closes the log; anyone else still holding it only reads a flushed log.
            match Arc::try_unwrap(shared) {
                Ok(log) => {
                    let mut log = log.into_inner().unwrap_or_else(PoisonError::into_inner);
                    log.flush(now_ms)?;
                    let offsets = (tp, log.recovery_point(), log.log_start_offset(), log.high_watermark());
                    log.close(now_ms)?;
                    Ok(offsets)
                }
                Err(shared) => {
                    let mut log = lock(&shared);
                    log.flush(now_ms)?;
                    Ok((tp, log.recovery_point(), log.log_start_offset(), log.high_watermark()))
                }
            }
        });
        let offsets = closed.into_iter().collect::<Result<Vec<_>, StorageError>>()?;
        self.write_checkpoints(&offsets)?;
        let marker = self.dir.join(CLEAN_SHUTDOWN_MARKER);
        let file = self.backend.open(&marker, true).map_err(|e| StorageError::io(&marker, e))?;
        file.sync().map_err(|e| StorageError::io(&marker, e))?;
        self.backend.sync_dir(&self.dir).map_err(|e| StorageError::io(&self.dir, e))
    }
}
