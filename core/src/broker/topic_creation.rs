//! Creating partitions — a new topic's or a grown topic's — all or nothing, without holding up other requests.
//!
//! The partitions' files are created first, outside the state lock that every Metadata, Produce and Fetch
//! takes; then the metadata record is committed and the logs are registered under that lock in one short step.
//! If a file cannot be created (out of descriptors, a full disk) or the record cannot be written, everything
//! created is removed again: no partition is ever listed without its log, and a failed creation leaves nothing
//! behind, so it can simply be retried. A crash between the files and the record leaves logs that no metadata
//! names, which `Broker::reconcile_logs` removes at the next start.
//!
//! Creations are serialized among themselves, as Kafka's controller serializes them, never with readers.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::PoisonError;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::{topic_config, Broker, BrokerError};
use crate::controller::{self, MetadataError, MetadataImage, MetadataRecord, METADATA_TOPIC};
use crate::storage::{self, Log, LogConfig, OpenOptions, StorageError, TopicPartition};

/// A request refused: the Kafka error and its message.
pub(super) type Refusal = (ResponseError, String);

/// Kafka's answer for a name that differs from an existing topic's only in `.` versus `_` (Kafka's metrics
/// names replace periods with underscores, so the two would be indistinguishable): `Topic.hasCollision`.
pub(super) fn collision(image: &MetadataImage, name: &str) -> Option<Refusal> {
    if !name.contains(['.', '_']) {
        return None;
    }
    let unified = name.replace('.', "_");
    let existing = image.topics.keys().find(|t| t.as_str() != name && t.replace('.', "_") == unified)?;
    Some((ResponseError::InvalidTopicException, format!("Topic '{name}' collides with existing topic: {existing}")))
}

/// Kafka refuses to create the metadata log's topic (its partition directory is the metadata log itself).
pub(super) fn reserved(name: &str) -> Option<Refusal> {
    (name == METADATA_TOPIC)
        .then(|| (ResponseError::InvalidRequest, format!("Creation of internal topic {name} is prohibited.")))
}

/// The Kafka error for a failure below the request handlers: storage failures are KAFKA_STORAGE_ERROR (the
/// client may retry); anything else is unexpected.
pub(super) fn broker_error_code(e: &BrokerError) -> ResponseError {
    match e {
        BrokerError::Storage(e) | BrokerError::Metadata(MetadataError::Storage(e)) => super::storage_error_code(e),
        _ => ResponseError::UnknownServerError,
    }
}

fn refusal(e: BrokerError) -> Refusal {
    (broker_error_code(&e), e.to_string())
}

/// A creation to carry out: a new topic, or more partitions for an existing one.
#[derive(Debug, Clone)]
enum Creation {
    Topic { name: String, id: Uuid, partitions: i32, configs: BTreeMap<String, String> },
    Grow { name: String, count: i32 },
}

/// What a creation makes: the partitions' logs and the metadata records that say so.
struct Plan {
    topic: String,
    topic_id: Uuid,
    partitions: Range<i32>,
    config: LogConfig,
    records: Vec<MetadataRecord>,
}

impl Broker {
    /// Creates topic `name` with `partitions` partitions and `configs` overrides (CreateTopics, auto-creation,
    /// the coordinators' internal topics). The caller has validated the request; this refuses only what must
    /// never reach the metadata log (a reserved name, more records than one operation may write).
    pub(super) fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Uuid, Refusal> {
        if let Some(refused) = reserved(name) {
            return Err(refused);
        }
        let records = 1 + configs.len() + usize::try_from(partitions).unwrap_or(0);
        if records > controller::MAX_RECORDS_PER_USER_OP || partitions < 1 {
            return Err((ResponseError::PolicyViolation, controller::EXCESSIVE_BATCH_MESSAGE.into()));
        }
        let id = self.write().ids.uuid();
        self.create_all_or_nothing(Creation::Topic { name: name.to_string(), id, partitions, configs }, now_ms)?;
        Ok(id)
    }

    /// Grows topic `name` to `count` partitions (CreatePartitions, validated by the caller).
    pub(super) fn grow_topic(&self, name: &str, count: i32, now_ms: i64) -> Result<(), Refusal> {
        self.create_all_or_nothing(Creation::Grow { name: name.to_string(), count }, now_ms)
    }

    /// Creates the logs a creation calls for, then writes its records and registers the logs; on any failure
    /// removes what it created and writes nothing.
    fn create_all_or_nothing(&self, creation: Creation, now_ms: i64) -> Result<(), Refusal> {
        let _serial = self.creation.lock().unwrap_or_else(PoisonError::into_inner);
        let plan = self.plan(&self.metadata(), &creation)?;
        let mut created: Vec<(TopicPartition, Log)> = Vec::with_capacity(plan.partitions.len());
        for partition in plan.partitions.clone() {
            match self.create_partition_files(&plan, partition, now_ms) {
                Ok(log) => created.push(log),
                Err(e) => {
                    // The logs made so far go first: that gives back the descriptors a removal may need when
                    // running out of them is what failed.
                    remove_created(created);
                    let tp = TopicPartition { topic: plan.topic.clone(), partition };
                    let partial = self.log_dir.join(tp.dir_name());
                    // (Never a registered log's directory.)
                    if self.read().replicas.get(&tp).is_none() && self.backend.exists(&partial) {
                        if let Err(e) = self.backend.remove_dir_all(&partial) {
                            tracing::warn!("removing {} after a failed creation: {e}", partial.display());
                        }
                    }
                    return Err(refusal(e.into()));
                }
            }
        }
        let mut state = self.write();
        // Only deletions can have run meanwhile (creations wait for `creation`): check again.
        let still_valid = self.plan(state.metadata.image(), &creation).map(|_| ());
        let proposed =
            still_valid.and_then(|()| state.metadata.propose(&plan.records, now_ms).map_err(|e| refusal(e.into())));
        if let Err(refused) = proposed {
            drop(state);
            remove_created(created);
            return Err(refused);
        }
        for (tp, log) in created {
            // The partitions were checked to be new under `creation`, so registration cannot find one taken.
            if let Err(e) = state.replicas.register(tp, log) {
                tracing::warn!("registering a created log failed: {e}");
            }
        }
        // Publishing finds the logs registered and only gives them their leadership.
        self.publish_metadata(&mut state, &plan.records, now_ms).map_err(refusal)
    }

    fn plan(&self, image: &MetadataImage, creation: &Creation) -> Result<Plan, Refusal> {
        let log_config =
            |configs: &BTreeMap<String, String>| topic_config::log_config(configs, &self.config, &image.broker_configs);
        let node = self.config.node_id;
        match creation {
            Creation::Topic { name, id, partitions, configs } => {
                if image.topics.contains_key(name) {
                    return Err((ResponseError::TopicAlreadyExists, format!("Topic '{name}' already exists.")));
                }
                let assignments = vec![vec![node]; (*partitions).max(0) as usize];
                Ok(Plan {
                    topic: name.clone(),
                    topic_id: *id,
                    partitions: 0..*partitions,
                    config: log_config(configs),
                    records: controller::topic_records(name, *id, &assignments, configs),
                })
            }
            Creation::Grow { name, count } => {
                let Some(topic) = image.topics.get(name) else {
                    return Err((
                        ResponseError::UnknownTopicOrPartition,
                        format!("The topic '{name}' does not exist."),
                    ));
                };
                let current = topic.partitions.len() as i32;
                let added = i64::from(*count) - i64::from(current);
                if added < 1 || added > controller::MAX_RECORDS_PER_USER_OP as i64 {
                    return Err((
                        ResponseError::InvalidPartitions,
                        format!("Topic already has {current} partition(s)."),
                    ));
                }
                let assignments = vec![vec![node]; added as usize];
                Ok(Plan {
                    topic: name.clone(),
                    topic_id: topic.id,
                    partitions: current..*count,
                    config: log_config(&topic.configs),
                    records: controller::partition_records(topic.id, current, &assignments),
                })
            }
        }
    }

    /// Creates one partition's directory, segment files and `partition.metadata` (Kafka keeps the topic id
    /// beside each partition's segments).
    fn create_partition_files(
        &self,
        plan: &Plan,
        partition: i32,
        now_ms: i64,
    ) -> Result<(TopicPartition, Log), StorageError> {
        let tp = TopicPartition::new(&plan.topic, partition)?;
        if self.read().replicas.get(&tp).is_some() {
            return Err(StorageError::AlreadyExists(tp.to_string()));
        }
        let dir = self.log_dir.join(tp.dir_name());
        // No log is registered for it, so the directory is left from a creation that failed or was interrupted
        // by a crash: start afresh rather than adopt its contents.
        if self.backend.exists(&dir) {
            self.backend.remove_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        }
        let log = Log::open(self.backend.clone(), &dir, plan.config.clone(), OpenOptions::default(), now_ms)?;
        let path = dir.join("partition.metadata");
        let text = format!("version: 0\ntopic_id: {}\n", controller::uuid_to_base64(&plan.topic_id));
        if let Err(e) = storage::backend::write_atomic(self.backend.as_ref(), &path, text.as_bytes()) {
            let _ = log.delete();
            return Err(StorageError::io(&path, e));
        }
        Ok((tp, log))
    }
}

/// Removes logs a failed creation made.
fn remove_created(created: Vec<(TopicPartition, Log)>) {
    for (tp, log) in created {
        if let Err(e) = log.delete() {
            tracing::warn!("removing {tp} after a failed creation: {e}");
        }
    }
}
