//! The replicas a broker hosts: one [`Partition`] over each log of its log directory, created and removed
//! together with the logs, plus the directory-wide periodic work (flush, retention, checkpoints) and the clean
//! close.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Partition;
use crate::storage::{LogConfig, LogManager, StorageError, TopicPartition};

/// Every replica of one broker.
#[derive(Debug)]
pub struct ReplicaManager {
    local_id: i32,
    logs: LogManager,
    partitions: BTreeMap<TopicPartition, Arc<Partition>>,
}

impl ReplicaManager {
    /// Wraps the logs `logs` opened: each becomes a replica that leads nothing yet.
    pub fn new(logs: LogManager, local_id: i32) -> Self {
        let partitions = logs
            .partitions()
            .filter_map(|tp| logs.get(tp).map(|log| (tp.clone(), Arc::new(Partition::new(tp.clone(), log, local_id)))))
            .collect();
        ReplicaManager { local_id, logs, partitions }
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
        let partition = Arc::new(Partition::new(tp.clone(), log, self.local_id));
        self.partitions.insert(tp, partition.clone());
        Ok(partition)
    }

    /// Removes the replica of `tp` and its log's files.
    pub fn delete(&mut self, tp: &TopicPartition) -> Result<bool, StorageError> {
        self.partitions.remove(tp);
        self.logs.delete(tp)
    }

    /// Flush, retention and producer expiry; returns the partitions whose log start offset moved.
    pub fn tick(&self, now_ms: i64, retention: bool) -> Result<Vec<TopicPartition>, StorageError> {
        self.logs.tick(now_ms, retention)
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
