//! The replicas a broker hosts: one [`Partition`] over each log of its log directory, created and removed
//! together with the logs, plus the directory-wide periodic work (flush, retention, checkpoints) and the clean
//! close.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{ChangedPartitions, Partition};
use crate::storage::{LogConfig, LogManager, StorageError, TopicPartition};

/// Every replica of one broker.
#[derive(Debug)]
pub struct ReplicaManager {
    local_id: i32,
    logs: LogManager,
    partitions: BTreeMap<TopicPartition, Arc<Partition>>,
    changed: Arc<ChangedPartitions>,
}

impl ReplicaManager {
    /// Wraps the logs `logs` opened: each becomes a replica that leads nothing yet.
    pub fn new(logs: LogManager, local_id: i32) -> Self {
        let changed = Arc::new(ChangedPartitions::default());
        let partitions = logs
            .partitions()
            .filter_map(|tp| {
                let log = logs.get(tp)?;
                Some((tp.clone(), Arc::new(Partition::new(tp.clone(), log, local_id, changed.clone()))))
            })
            .collect();
        ReplicaManager { local_id, logs, partitions, changed }
    }

    /// The partitions whose readable state changed since the last call.
    pub fn take_changed(&self) -> std::collections::BTreeSet<TopicPartition> {
        self.changed.take()
    }

    pub fn logs(&self) -> &LogManager {
        &self.logs
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<Partition>> {
        self.partitions.get(tp).cloned()
    }

    pub fn partitions(&self) -> impl Iterator<Item = (&TopicPartition, &Arc<Partition>)> {
        self.partitions.iter()
    }

    /// Creates an empty log for `tp` and its replica.
    pub fn create(
        &mut self,
        tp: TopicPartition,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<Partition>, StorageError> {
        let log = self.logs.create(tp.clone(), config, now_ms)?;
        let partition = Arc::new(Partition::new(tp.clone(), log, self.local_id, self.changed.clone()));
        self.partitions.insert(tp, partition.clone());
        Ok(partition)
    }

    /// Removes the replica of `tp` and its log's files.
    pub fn delete(&mut self, tp: &TopicPartition) -> Result<bool, StorageError> {
        self.partitions.remove(tp);
        self.changed.mark(tp);
        self.logs.delete(tp)
    }

    /// Flush, retention and producer expiry.
    pub fn tick(&self, now_ms: i64, retention: bool) -> Result<(), StorageError> {
        for tp in self.logs.tick(now_ms, retention)? {
            self.changed.mark(&tp);
        }
        Ok(())
    }

    /// Writes the log directory's checkpoints.
    pub fn checkpoint(&self) -> Result<(), StorageError> {
        self.logs.checkpoint()
    }

    /// Flushes and closes every log and marks the directory cleanly shut down.
    pub fn close(mut self, now_ms: i64) -> Result<(), StorageError> {
        // The replicas hold the logs too; dropping them first lets the log manager close each log itself.
        self.partitions.clear();
        self.logs.close(now_ms)
    }
}
