//! Which log to clean next, and where each log's dirty section starts (Kafka's `LogCleanerManager`).
//!
//! Invariants: a log is cleaned by at most one thread at a time (`in_progress`); a log whose cleaning failed
//! is not taken again (`uncleanable`) until the process restarts, as in Kafka; `cleaner-offset-checkpoint` in
//! the log directory holds, per compacted partition, the first offset not yet cleaned (`topic partition
//! offset` lines, Kafka's checkpoint format), and lists only partitions that still exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::LogToClean;
use crate::storage::backend::Backend;
use crate::storage::{checkpoint, lock, SharedLog, StorageError, TopicPartition};

/// The file holding each compacted log's first dirty offset.
pub const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";

#[derive(Debug, Default)]
struct State {
    checkpoints: BTreeMap<TopicPartition, i64>,
    in_progress: BTreeSet<TopicPartition>,
    uncleanable: BTreeSet<TopicPartition>,
}

/// The cleaner's bookkeeping for one log directory.
#[derive(Debug)]
pub struct LogCleaner {
    backend: Arc<dyn Backend>,
    path: PathBuf,
    state: Mutex<State>,
}

impl LogCleaner {
    /// Loads `cleaner-offset-checkpoint` from `dir`. An unreadable checkpoint counts as empty: every log is then
    /// cleaned from its start, which is always safe.
    pub fn open(backend: Arc<dyn Backend>, dir: &Path) -> LogCleaner {
        let path = dir.join(CLEANER_OFFSET_CHECKPOINT);
        let mut checkpoints = BTreeMap::new();
        for fields in checkpoint::read(backend.as_ref(), &path).ok().flatten().unwrap_or_default() {
            if let [topic, partition, offset] = fields.as_slice() {
                let tp = partition.parse().ok().and_then(|p| TopicPartition::new(topic, p).ok());
                if let (Some(tp), Ok(offset)) = (tp, offset.parse::<i64>()) {
                    checkpoints.insert(tp, offset);
                }
            }
        }
        LogCleaner { backend, path, state: Mutex::new(State { checkpoints, ..State::default() }) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The checkpointed first dirty offset of `tp`.
    pub fn checkpoint(&self, tp: &TopicPartition) -> Option<i64> {
        self.state().checkpoints.get(tp).copied()
    }

    /// Picks the compacted log most worth cleaning among `logs` and marks it in progress: the one with the
    /// largest dirty ratio among those past their `min.cleanable.dirty.ratio` or holding records older than
    /// `max.compaction.lag.ms` allows (Kafka's `grabFilthiestCompactedLog`). Each log is locked only while it
    /// is measured.
    pub fn grab_filthiest(
        &self,
        logs: &[(TopicPartition, SharedLog)],
        now_ms: i64,
    ) -> Result<Option<(TopicPartition, SharedLog, LogToClean)>, StorageError> {
        let mut state = self.state();
        let mut best: Option<(TopicPartition, SharedLog, LogToClean)> = None;
        let mut reset = Vec::new();
        for (tp, shared) in logs {
            if state.in_progress.contains(tp) || state.uncleanable.contains(tp) {
                continue;
            }
            let log = lock(shared);
            if !log.config().compact {
                continue;
            }
            let ltc = LogToClean::assess(&log, state.checkpoints.get(tp).copied(), now_ms);
            if ltc.reset_checkpoint {
                reset.push((tp.clone(), ltc.first_dirty_offset));
            }
            if ltc.total_bytes() == 0 || !ltc.is_cleanable(log.config().min_cleanable_dirty_ratio) {
                continue;
            }
            if best.as_ref().is_none_or(|(_, _, b)| ltc.cleanable_ratio() > b.cleanable_ratio()) {
                best = Some((tp.clone(), shared.clone(), ltc));
            }
        }
        if !reset.is_empty() {
            state.checkpoints.extend(reset);
            self.persist(&mut state, logs)?;
        }
        if let Some((tp, _, _)) = &best {
            state.in_progress.insert(tp.clone());
        }
        Ok(best)
    }

    /// Ends the cleaning of `tp`: records `end_offset` (the first offset the next pass must clean) when the
    /// pass finished, and lets the log be picked again.
    pub fn done_cleaning(
        &self,
        tp: &TopicPartition,
        end_offset: Option<i64>,
        logs: &[(TopicPartition, SharedLog)],
    ) -> Result<(), StorageError> {
        let mut state = self.state();
        state.in_progress.remove(tp);
        if let Some(offset) = end_offset {
            state.checkpoints.insert(tp.clone(), offset);
            self.persist(&mut state, logs)?;
        }
        Ok(())
    }

    /// Leaves `tp` alone from now on (its cleaning failed).
    pub fn mark_uncleanable(&self, tp: &TopicPartition) {
        let mut state = self.state();
        state.in_progress.remove(tp);
        state.uncleanable.insert(tp.clone());
    }

    /// Partitions whose cleaning failed.
    pub fn uncleanable(&self) -> Vec<TopicPartition> {
        self.state().uncleanable.iter().cloned().collect()
    }

    /// Writes the checkpoint for the partitions in `logs` (those gone since are dropped, as Kafka drops them).
    fn persist(&self, state: &mut State, logs: &[(TopicPartition, SharedLog)]) -> Result<(), StorageError> {
        let live: BTreeSet<&TopicPartition> = logs.iter().map(|(tp, _)| tp).collect();
        state.checkpoints.retain(|tp, _| live.contains(tp));
        let lines: Vec<String> =
            state.checkpoints.iter().map(|(tp, offset)| format!("{} {} {offset}", tp.topic, tp.partition)).collect();
        checkpoint::write(self.backend.as_ref(), &self.path, &lines)
    }
}
