//! The group coordinator's storage: creating `__consumer_offsets` on first use, appending the coordinator's
//! records to the partition that owns each group, and replaying the topic into the coordinator on start-up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::MutexGuard;

use kafka_protocol::error::ResponseError;

use super::{Broker, BrokerError};
use crate::coordinator::group::{self, GroupCoordinator, Write};
use crate::record::{self, BatchBuilder, Compression, ControlType, DecodeLimits};
use crate::storage::{AppendInfo, AppendOrigin, StorageError, TopicPartition};

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// A coordinator's internal topic and Kafka's settings for it.
#[derive(Debug)]
pub(super) struct InternalTopic<'a> {
    pub name: &'a str,
    pub partitions: i32,
    pub replication_factor: i16,
    pub min_insync_replicas: Option<i32>,
    pub compression_type: &'a str,
    pub segment_bytes: i32,
}

impl Broker {
    pub(super) fn groups(&self) -> MutexGuard<'_, GroupCoordinator> {
        self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates `__consumer_offsets` if it does not exist yet (Kafka does this on the first FindCoordinator).
    pub(super) fn ensure_offsets_topic(&self, now_ms: i64) -> Result<(), BrokerError> {
        let topic = InternalTopic {
            name: OFFSETS_TOPIC,
            partitions: self.config.offsets_topic_num_partitions,
            replication_factor: self.config.offsets_topic_replication_factor,
            min_insync_replicas: None,
            compression_type: "producer",
            segment_bytes: self.config.offsets_topic_segment_bytes,
        };
        self.ensure_internal_topic(topic, now_ms)
    }

    /// Creates a coordinator's internal topic if it does not exist yet, with Kafka's settings for such topics
    /// (compacted, so the log cleaner keeps them bounded). A concurrent creation of the same topic counts as
    /// success.
    pub(super) fn ensure_internal_topic(&self, topic: InternalTopic<'_>, now_ms: i64) -> Result<(), BrokerError> {
        let InternalTopic {
            name,
            partitions,
            replication_factor,
            min_insync_replicas,
            compression_type,
            segment_bytes,
        } = topic;
        if self.metadata().topics.contains_key(name) {
            return Ok(());
        }
        let mut configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), compression_type.to_string()),
            ("segment.bytes".to_string(), segment_bytes.to_string()),
        ]);
        // Replicated as configured, but never more than the cluster has live brokers: a single broker runs every
        // feature with no config, and a cluster with a broker down still gets its groups' and transactions' topic.
        let live = self.metadata().brokers.values().filter(|b| !b.fenced && !b.in_controlled_shutdown).count();
        let brokers = live.max(1) as i16;
        let replication_factor = replication_factor.min(brokers);
        if let Some(min_isr) = min_insync_replicas {
            configs.insert("min.insync.replicas".into(), min_isr.min(i32::from(replication_factor)).to_string());
        }
        match self.create_topic_with(name, partitions, replication_factor, configs, now_ms).map(|_| ()) {
            Err(_) if self.metadata().topics.contains_key(name) => Ok(()),
            other => other,
        }
    }

    pub(super) fn offsets_partitions(&self) -> i32 {
        self.metadata()
            .topics
            .get(OFFSETS_TOPIC)
            .map_or(self.config.offsets_topic_num_partitions, |t| t.partitions.len() as i32)
    }

    /// Stores group records, one batch per `__consumer_offsets` partition, failing with the error Kafka's group
    /// coordinator answers when a write fails.
    pub(super) fn store_group_writes(&self, writes: Vec<Write>, now_ms: i64) -> Result<(), ResponseError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.ensure_offsets_topic(now_ms).map_err(|_| ResponseError::CoordinatorNotAvailable)?;
        let partitions = self.offsets_partitions();
        let mut by_partition: BTreeMap<i32, Vec<Write>> = BTreeMap::new();
        for w in writes {
            by_partition.entry(group::partition_for(&w.group, partitions)).or_default().push(w);
        }
        for (partition, writes) in by_partition {
            let mut batch = BatchBuilder::new(Compression::None);
            for w in &writes {
                batch.append(now_ms, Some(&w.key), w.value.as_deref(), &[]);
            }
            let bytes = batch.build().map_err(|_| ResponseError::UnknownServerError)?;
            self.append_internal(OFFSETS_TOPIC, partition, &bytes, now_ms)?;
        }
        Ok(())
    }

    /// Makes offsets just stored for `group_id` committed once the in-sync replicas of the group's partition
    /// have them (at once on a single broker): until then OffsetFetch answers with the previous ones, so no
    /// reader sees a commit that a failover of the coordinator could still lose.
    pub(super) fn commit_when_replicated(
        &self,
        groups: &mut GroupCoordinator,
        group_id: &str,
        offsets: Vec<(String, i32, crate::coordinator::offsets_schema::OffsetValue)>,
        now_ms: i64,
    ) {
        let Some(tp) = self.internal_partition(OFFSETS_TOPIC, group_id) else {
            return groups.apply_commit(group_id, offsets, now_ms);
        };
        let Some(replica) = self.partition(&tp.topic, tp.partition) else {
            return groups.apply_commit(group_id, offsets, now_ms);
        };
        groups.stage_commit(group_id, replica.log_end_offset(), offsets, now_ms);
        groups.promote_commits(tp.partition, self.offsets_partitions(), replica.high_watermark());
    }

    /// Makes staged offset commits committed in those of `changed` that are `__consumer_offsets` partitions
    /// replicated far enough.
    pub(super) fn promote_commits<'a>(&self, changed: impl IntoIterator<Item = &'a TopicPartition>) {
        let mut partitions = changed.into_iter().filter(|tp| tp.topic == OFFSETS_TOPIC).peekable();
        if partitions.peek().is_none() {
            return;
        }
        let mut groups = self.groups();
        if !groups.has_pending_commits() {
            return;
        }
        let count = self.offsets_partitions();
        for tp in partitions {
            if let Some(replica) = self.partition(&tp.topic, tp.partition) {
                groups.promote_commits(tp.partition, count, replica.high_watermark());
            }
        }
    }

    /// Makes a change to some groups under the coordinator's lock and stores the records it queued; when they
    /// cannot be stored, the groups are put back as they were (with the answers the change decided
    /// withdrawn) and `failed` decides the outcome. This is apply-after-persist for group state: nothing a
    /// failed write stood for stays behind.
    pub(super) fn change_groups<'a, R>(
        &self,
        group_ids: impl IntoIterator<Item = &'a str>,
        now_ms: i64,
        change: impl FnOnce(&mut GroupCoordinator) -> R,
        failed: impl FnOnce(&mut GroupCoordinator, R, ResponseError) -> R,
    ) -> R {
        let mut groups = self.groups();
        let snapshot = groups.snapshot(group_ids);
        let outcome = change(&mut groups);
        let writes = groups.take_writes();
        match self.store_group_writes(writes, now_ms) {
            Ok(()) => outcome,
            Err(e) => {
                groups.rollback(snapshot);
                failed(&mut groups, outcome, e)
            }
        }
    }

    /// Appends a coordinator's batch to a partition of an internal topic this broker leads, with acks=all
    /// semantics, mapping failures to the errors Kafka's coordinators answer with: the coordinator is not
    /// available (no such partition, not enough replicas), has moved (not the leader, a storage failure), or
    /// the write was too large.
    pub(super) fn append_internal(
        &self,
        topic: &str,
        partition: i32,
        records: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, ResponseError> {
        let image = self.metadata();
        let (Some(t), Some(replica)) = (image.topics.get(topic), self.partition(topic, partition)) else {
            return Err(ResponseError::CoordinatorNotAvailable);
        };
        let min_isr = self.min_insync_replicas(t, &image);
        replica.append_as_leader(records, AppendOrigin::Coordinator, -1, min_isr, now_ms, |_| Ok(())).map_err(|e| {
            tracing::error!("appending to {topic}-{partition} failed: {e}");
            match super::partition_error_code(&e) {
                ResponseError::UnknownTopicOrPartition
                | ResponseError::NotEnoughReplicas
                | ResponseError::NotEnoughReplicasAfterAppend
                | ResponseError::RequestTimedOut => ResponseError::CoordinatorNotAvailable,
                ResponseError::NotLeaderOrFollower | ResponseError::KafkaStorageError => ResponseError::NotCoordinator,
                ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge => ResponseError::UnknownServerError,
                other => other,
            }
        })
    }

    /// Replays every batch of an internal topic's partition, as stored (coordinators loading their state).
    pub(super) fn replay_internal(
        &self,
        topic: &str,
        partition: i32,
        mut visit: impl FnMut(&record::BatchHeader, &[u8], Vec<record::Record>),
    ) -> Result<(), BrokerError> {
        let Some(replica) = self.partition(topic, partition) else { return Ok(()) };
        let log = replica.log();
        log.for_each_batch(log.log_start_offset(), |batch| -> Result<(), StorageError> {
            let (header, records) = record::decode_records(batch, DecodeLimits::default())?;
            visit(&header, batch, records);
            Ok(())
        })?;
        Ok(())
    }

    /// Whether this broker coordinates `group_id`: it leads the group's `__consumer_offsets` partition (or
    /// the topic does not exist yet, and the first request creates it here).
    pub(super) fn coordinates_group(&self, group_id: &str) -> bool {
        self.leads_key(OFFSETS_TOPIC, group_id)
    }

    /// The partition of a coordinator's internal topic that owns `key` (a group id or a transactional id),
    /// once the topic exists.
    pub(super) fn internal_partition(&self, topic: &str, key: &str) -> Option<TopicPartition> {
        let partitions = self.metadata().topics.get(topic)?.partitions.len() as i32;
        Some(TopicPartition { topic: topic.to_string(), partition: group::partition_for(key, partitions) })
    }

    /// Whether this broker leads the partition of `topic` that owns `key`. While the topic does not exist (in
    /// this broker's metadata) a single broker does (the first request creates it here), and a cluster member
    /// does not: a restarted broker not caught up with the metadata yet must not answer as every group's and
    /// transaction's coordinator; FindCoordinator creates the topic through the controller.
    pub(super) fn leads_key(&self, topic: &str, key: &str) -> bool {
        match self.internal_partition(topic, key) {
            Some(tp) => self.partition(&tp.topic, tp.partition).is_some_and(|p| p.is_leader()),
            None => !self.is_cluster_member(),
        }
    }

    /// The partition count of a coordinator's internal topic and the partitions of it this broker leads.
    pub(super) fn led_partitions(&self, topic: &str) -> Option<(i32, BTreeSet<i32>)> {
        let partitions = self.metadata().topics.get(topic)?.partitions.len() as i32;
        let led = (0..partitions).filter(|p| self.partition(topic, *p).is_some_and(|r| r.is_leader())).collect();
        Some((partitions, led))
    }

    /// Loads the groups of the `__consumer_offsets` partitions this broker has come to lead and forgets
    /// those of partitions it no longer leads (Kafka's coordinator elections and resignations follow the
    /// partition leaders the same way).
    pub(super) fn load_groups(&self, now_ms: i64) -> Result<(), BrokerError> {
        let mut groups = self.groups();
        self.follow_group_partitions(&mut groups, now_ms)
    }

    /// [`Broker::load_groups`] with the coordinator already locked.
    pub(super) fn follow_group_partitions(
        &self,
        groups: &mut GroupCoordinator,
        now_ms: i64,
    ) -> Result<(), BrokerError> {
        let Some((partitions, led)) = self.led_partitions(OFFSETS_TOPIC) else { return Ok(()) };
        let mut loaded = self.loaded_group_partitions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let lost: BTreeSet<i32> = loaded.difference(&led).copied().collect();
        if !lost.is_empty() {
            let gone = groups.unload(|g| lost.contains(&group::partition_for(g, partitions)));
            tracing::info!(target: "potok::coordinator", "resigned {OFFSETS_TOPIC} partitions {lost:?} ({gone} groups)");
        }
        for partition in led.difference(&loaded).copied().collect::<Vec<_>>() {
            self.load_group_partition(groups, partition, partitions, now_ms)?;
            if self.is_cluster_member() {
                tracing::debug!(target: "potok::coordinator", "coordinating the groups of {OFFSETS_TOPIC}-{partition}");
            }
        }
        *loaded = led;
        Ok(())
    }

    /// Replays one `__consumer_offsets` partition into the group coordinator, transactional offset commits
    /// included: they stay pending until their transaction's marker.
    fn load_group_partition(
        &self,
        groups: &mut GroupCoordinator,
        partition: i32,
        partitions: i32,
        now_ms: i64,
    ) -> Result<(), BrokerError> {
        self.replay_internal(OFFSETS_TOPIC, partition, |header, batch, records| {
            if header.is_control() {
                // A transaction marker makes a producer's offset commits visible (commit) or drops them.
                if let Ok(marker) = record::end_txn_marker(batch) {
                    let commit = match marker.control_type {
                        ControlType::Commit => true,
                        ControlType::Abort => false,
                        ControlType::Unknown(_) => return,
                    };
                    groups.complete_txn_offsets(header.producer_id, commit, partition, partitions, now_ms);
                }
                return;
            }
            let transactional = header.is_transactional() && header.has_producer_id();
            for r in records {
                let Some(key) = r.key else { continue };
                let loaded = if transactional {
                    groups.load_txn(header.producer_id, &key, r.value.as_deref())
                } else {
                    groups.load(&key, r.value.as_deref(), now_ms)
                };
                // A record potok cannot read is skipped, as Kafka's loader skips unknown record types.
                if let Err(e) = loaded {
                    tracing::warn!("skipping {OFFSETS_TOPIC}-{partition} offset {}: {e}", r.offset);
                }
            }
        })
    }
}
