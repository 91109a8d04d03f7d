//! Creating the logs of new partitions — a new topic's or a grown topic's — all or nothing, without holding up
//! other requests.
//!
//! When committed metadata records give this broker new replicas, their files are created first, outside the
//! state lock that every Metadata, Produce and Fetch takes; then the records are proposed and the logs
//! registered under that lock in one short step, and publishing the records finds them there. If a file cannot
//! be created (out of descriptors, a full disk) or the records cannot be written, everything created is
//! removed again and nothing is recorded: no partition is ever listed without its log, and a failed creation
//! leaves nothing behind, so it can simply be retried. A crash between the files and the records leaves logs
//! that no metadata names, which `Broker::reconcile_logs` removes at the next start.
//!
//! Commits are serialized among themselves (`Broker::creation`), as Kafka's controller serializes them, never
//! with readers.

use std::sync::PoisonError;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ResponseKind;

use super::{str_bytes, topic_config, Broker, BrokerError};
use crate::controller::{self, MetadataError, MetadataImage, MetadataRecord};
use crate::storage::{self, Log, LogConfig, SharedLog, StorageError, TopicPartition};

/// The Kafka error for a failure below the request handlers: storage failures are KAFKA_STORAGE_ERROR (the
/// client may retry); a controller's refusal keeps its error; anything else is unexpected.
pub(super) fn broker_error_code(e: &BrokerError) -> ResponseError {
    match e {
        BrokerError::Storage(e) | BrokerError::Metadata(MetadataError::Storage(e)) => super::storage_error_code(e),
        BrokerError::Controller { error, .. } => *error,
        _ => ResponseError::UnknownServerError,
    }
}

/// The controller's answer to an admin request whose records could not be stored: every item it accepted
/// fails with `error` instead (nothing of the request was recorded). `None` for requests without such items.
pub(super) fn fail_accepted(response: ResponseKind, error: ResponseError, message: &str) -> Option<ResponseKind> {
    let code = error.code();
    let message = Some(str_bytes(message));
    Some(match response {
        ResponseKind::CreateTopics(mut r) => {
            for t in r.topics.iter_mut().filter(|t| t.error_code == 0) {
                (t.error_code, t.error_message, t.topic_id) = (code, message.clone(), uuid::Uuid::nil());
            }
            ResponseKind::CreateTopics(r)
        }
        ResponseKind::CreatePartitions(mut r) => {
            for t in r.results.iter_mut().filter(|t| t.error_code == 0) {
                (t.error_code, t.error_message) = (code, message.clone());
            }
            ResponseKind::CreatePartitions(r)
        }
        ResponseKind::DeleteTopics(mut r) => {
            for t in r.responses.iter_mut().filter(|t| t.error_code == 0) {
                (t.error_code, t.error_message) = (code, message.clone());
            }
            ResponseKind::DeleteTopics(r)
        }
        ResponseKind::AlterConfigs(mut r) => {
            for t in r.responses.iter_mut().filter(|t| t.error_code == 0) {
                (t.error_code, t.error_message) = (code, message.clone());
            }
            ResponseKind::AlterConfigs(r)
        }
        ResponseKind::IncrementalAlterConfigs(mut r) => {
            for t in r.responses.iter_mut().filter(|t| t.error_code == 0) {
                (t.error_code, t.error_message) = (code, message.clone());
            }
            ResponseKind::IncrementalAlterConfigs(r)
        }
        _ => return None,
    })
}

impl Broker {
    /// Proposes metadata records and makes the broker follow them, the logs of new replicas created before the
    /// state lock is taken; on any failure nothing is recorded and no log is left behind.
    pub(super) fn commit_metadata(&self, records: &[MetadataRecord], now_ms: i64) -> Result<(), BrokerError> {
        let _serial = self.creation.lock().unwrap_or_else(PoisonError::into_inner);
        let created = self.create_new_logs(records, now_ms)?;
        let mut state = self.write();
        let base_offset = match state.metadata.propose(records, now_ms) {
            Ok(offset) => offset,
            Err(e) => {
                drop(state);
                remove_created(created);
                return Err(e.into());
            }
        };
        let mut registered = Vec::with_capacity(created.len());
        for (tp, log) in created {
            // Checked to be new under `creation`, so registration cannot find one taken.
            match state.replicas.register(tp, log) {
                Ok(partition) => registered.push(partition.shared_log().clone()),
                Err(e) => tracing::warn!(target: "potok::broker", "registering a created log failed: {e}"),
            }
        }
        // Publishing finds the logs registered and only gives them their leadership.
        let published = self.publish_metadata(&mut state, records, base_offset, now_ms);
        // After publishing, whose leadership changes take each log's lock the writer would hold.
        write_partition_metadata_later(registered);
        published
    }

    /// Creates the logs of the replicas `records` give this broker that it does not have yet (with their
    /// topic's config as the records leave it). On a failure, removes what it made.
    fn create_new_logs(
        &self,
        records: &[MetadataRecord],
        now_ms: i64,
    ) -> Result<Vec<(TopicPartition, Log)>, BrokerError> {
        let adds_replicas = records.iter().any(|r| match r {
            MetadataRecord::Partition(_) => true,
            MetadataRecord::PartitionChange(c) => c.replicas.is_some(),
            _ => false,
        });
        if !adds_replicas {
            return Ok(Vec::new());
        }
        let mut after: MetadataImage = (*self.metadata()).clone();
        for r in records {
            after.apply(r);
        }
        let node_id = self.config.node_id;
        let mut wanted = Vec::new();
        {
            let state = self.read();
            for topic in after.topics.values().filter(|t| !t.name.is_empty()) {
                let config = topic_config::log_config(&topic.configs, &self.config, &after.broker_configs);
                for p in topic.partitions.iter().filter(|p| p.replicas.contains(&node_id)) {
                    let tp = TopicPartition::new(&topic.name, p.partition)?;
                    if state.replicas.get(&tp).is_none() {
                        wanted.push((tp, topic.id, config.clone()));
                    }
                }
            }
        }
        // Side by side: creating a log waits on the disk (a partition's directory and `partition.metadata` are
        // synced), so a topic of thousands of partitions is created by several threads at once.
        let made = storage::parallel_map(wanted, |(tp, topic_id, config)| {
            let result = self.create_partition_files(&tp, &topic_id, &config, now_ms);
            (tp, result)
        });
        let mut created: Vec<(TopicPartition, Log)> = Vec::new();
        let mut failed = Vec::new();
        for (tp, result) in made {
            match result {
                Ok(log) => created.push((tp, log)),
                Err(e) => failed.push((tp, e)),
            }
        }
        if !failed.is_empty() {
            // The logs made go first: that gives back the descriptors a removal may need when running out of
            // them is what failed.
            remove_created(created);
            // Not registered (checked under `creation`): directories the failed creations left half-made.
            for (tp, _) in &failed {
                let partial = self.log_dir.join(tp.dir_name());
                if self.backend.is_dir(&partial) {
                    if let Err(e) = self.backend.remove_dir_all(&partial) {
                        tracing::warn!("removing {} after a failed creation: {e}", partial.display());
                    }
                }
            }
            return Err(failed.swap_remove(0).1.into());
        }
        Ok(created)
    }

    /// Creates one partition's directory and segment files; its `partition.metadata` is written later
    /// ([`write_partition_metadata_later`]).
    pub(super) fn create_partition_files(
        &self,
        tp: &TopicPartition,
        topic_id: &uuid::Uuid,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Log, StorageError> {
        let dir = self.log_dir.join(tp.dir_name());
        let mut log = match Log::create(self.backend.clone(), &dir, config.clone(), now_ms) {
            // No log is registered for it, so the directory is left from a creation that failed or was
            // interrupted by a crash: start afresh rather than adopt its contents.
            Err(StorageError::Io { error, .. }) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                self.backend.remove_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
                Log::create(self.backend.clone(), &dir, config.clone(), now_ms)?
            }
            created => created?,
        };
        log.set_partition_metadata(Some(partition_metadata(topic_id)));
        Ok(log)
    }
}

/// The contents of a partition's `partition.metadata`: its topic id, in Kafka's format.
pub(super) fn partition_metadata(topic_id: &uuid::Uuid) -> Vec<u8> {
    format!("version: 0\ntopic_id: {}\n", controller::uuid_to_base64(topic_id)).into_bytes()
}

/// Writes the `partition.metadata` files `logs` still have to write, on a thread of their own, as Kafka's
/// scheduler does (`flush-metadata-file`), so that creating many partitions is not answered only after as many
/// file and directory syncs. Whatever this thread has not reached yet, a log's first append or flush writes
/// itself; if no thread can be started, they all do.
pub(super) fn write_partition_metadata_later(logs: Vec<SharedLog>) {
    if logs.is_empty() {
        return;
    }
    let write = move || {
        storage::parallel_map(logs, |log| {
            if let Err(e) = storage::lock(&log).write_partition_metadata() {
                tracing::warn!(target: "potok::broker", "{e} (the log's next append or flush tries again)");
            }
        });
    };
    #[cfg(feature = "native")]
    if let Err(e) = std::thread::Builder::new().name("partition-metadata".into()).spawn(write) {
        tracing::warn!(target: "potok::broker", "no thread to write partition.metadata files: {e}");
    }
    #[cfg(not(feature = "native"))]
    write();
}

/// Removes logs a failed creation made.
fn remove_created(created: Vec<(TopicPartition, Log)>) {
    for (tp, log) in created {
        if let Err(e) = log.delete() {
            tracing::warn!("removing {tp} after a failed creation: {e}");
        }
    }
}
