//! The broker's side of the log cleaner: one cleaner-thread iteration over the logs it hosts. The threads,
//! their backoff and IO throttling are the runtime's (`net`); what a pass does is `storage::cleaner`'s.

use super::Broker;
use crate::storage::cleaner::{self, Cleaner, CleanerStats, Throttle};
use crate::storage::{SharedLog, StorageError, TopicPartition};

impl Broker {
    /// Cleans the dirtiest compacted log if one needs it (Kafka's `cleanFilthiestLog`), with `thread`'s
    /// buffers. Returns the partition cleaned and what the pass did, or `None` when no log needed cleaning.
    pub fn clean_dirtiest_log(
        &self,
        thread: &Cleaner,
        now_ms: i64,
        throttle: &dyn Throttle,
        keep_going: &dyn Fn() -> bool,
    ) -> Result<Option<(TopicPartition, CleanerStats)>, StorageError> {
        let logs: Vec<(TopicPartition, SharedLog)> = {
            let state = self.read();
            let logs = state.replicas.logs();
            logs.partitions().filter_map(|tp| logs.get(tp).map(|log| (tp.clone(), log))).collect()
        };
        cleaner::clean_filthiest(&self.cleaner, thread, &logs, now_ms, throttle, keep_going)
    }
}
