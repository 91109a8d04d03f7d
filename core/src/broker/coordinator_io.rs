//! The group coordinator's storage: creating `__consumer_offsets` on first use, appending the coordinator's
//! records to the partition that owns each group, and replaying the topic into the coordinator on start-up.

use std::collections::BTreeMap;
use std::sync::MutexGuard;

use kafka_protocol::error::ResponseError;

use super::{Broker, BrokerError};
use crate::coordinator::group::{self, GroupCoordinator, Write};
use crate::record::{self, BatchBuilder, Batches, Compression, ControlType, DecodeLimits};
use crate::storage::{self, AppendOrigin};

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

impl Broker {
    pub(super) fn groups(&self) -> MutexGuard<'_, GroupCoordinator> {
        self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates `__consumer_offsets` if it does not exist yet (Kafka does this on the first FindCoordinator).
    pub(super) fn ensure_offsets_topic(&self, now_ms: i64) -> Result<(), BrokerError> {
        self.ensure_internal_topic(
            OFFSETS_TOPIC,
            self.config.offsets_topic_num_partitions,
            "producer",
            self.config.offsets_topic_segment_bytes,
            now_ms,
        )
    }

    /// Creates a coordinator's internal topic if it does not exist yet, with one replica (a single broker can
    /// satisfy nothing more) and Kafka's settings for such topics; compaction is recorded but not yet applied
    /// by potok. A concurrent creation of the same topic counts as success.
    pub(super) fn ensure_internal_topic(
        &self,
        name: &str,
        partitions: i32,
        compression_type: &str,
        segment_bytes: impl ToString,
        now_ms: i64,
    ) -> Result<(), BrokerError> {
        if self.metadata().topics.contains_key(name) {
            return Ok(());
        }
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), compression_type.to_string()),
            ("segment.bytes".to_string(), segment_bytes.to_string()),
        ]);
        match self.create_topic(name, partitions, configs, now_ms) {
            Ok(_) => Ok(()),
            Err(_) if self.metadata().topics.contains_key(name) => Ok(()),
            Err((_, message)) => Err(BrokerError::CreationRefused(message)),
        }
    }

    pub(super) fn offsets_partitions(&self) -> i32 {
        self.metadata()
            .topics
            .get(OFFSETS_TOPIC)
            .map_or(self.config.offsets_topic_num_partitions, |t| t.partitions.len() as i32)
    }

    /// Appends the coordinator's pending records, one batch per `__consumer_offsets` partition.
    pub(super) fn persist_group_writes(&self, groups: &mut GroupCoordinator, now_ms: i64) -> Result<(), ResponseError> {
        let writes = groups.take_writes();
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
            let log = self.log(OFFSETS_TOPIC, partition).ok_or(ResponseError::CoordinatorNotAvailable)?;
            let mut batch = BatchBuilder::new(Compression::None);
            for w in &writes {
                batch.append(now_ms, Some(&w.key), w.value.as_deref(), &[]);
            }
            let mut bytes = batch.build().map_err(|_| ResponseError::UnknownServerError)?;
            storage::lock(&log)
                .append(&mut bytes, 0, AppendOrigin::Coordinator, now_ms)
                .map_err(|_| ResponseError::KafkaStorageError)?;
        }
        Ok(())
    }

    /// Replays `__consumer_offsets` into the group coordinator, transactional offset commits included: they
    /// stay pending until their transaction's marker.
    pub(super) fn load_groups(&self, now_ms: i64) -> Result<(), BrokerError> {
        let partitions = match self.metadata().topics.get(OFFSETS_TOPIC) {
            Some(t) => t.partitions.len() as i32,
            None => return Ok(()),
        };
        let mut groups = self.groups();
        for partition in 0..partitions {
            let Some(log) = self.log(OFFSETS_TOPIC, partition) else { continue };
            let log = storage::lock(&log);
            let mut offset = log.log_start_offset();
            while offset < log.log_end_offset() {
                let read = log.read(offset, 1 << 20, i64::MAX, true)?;
                if read.records.is_empty() {
                    break;
                }
                for batch in Batches::new(&read.records) {
                    let batch = batch.map_err(crate::storage::StorageError::from)?;
                    let (header, records) = record::decode_records(batch, DecodeLimits::default())
                        .map_err(crate::storage::StorageError::from)?;
                    offset = header.next_offset();
                    if header.is_control() {
                        // A transaction marker makes a producer's offset commits visible (commit) or drops them.
                        if let Ok(marker) = record::end_txn_marker(batch) {
                            let commit = match marker.control_type {
                                ControlType::Commit => true,
                                ControlType::Abort => false,
                                ControlType::Unknown(_) => continue,
                            };
                            groups.complete_txn_offsets(header.producer_id, commit, partition, partitions, now_ms);
                        }
                        continue;
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
                            eprintln!("potok: skipping {OFFSETS_TOPIC}-{partition} offset {}: {e}", r.offset);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
