//! Cluster metadata as a log of records applied to an image: topics (with their ids, partitions, replica
//! assignment and configs) and broker-level config overrides.
//!
//! The records are appended to the `__cluster_metadata-0` log in the first log directory before they are
//! applied, and replayed in order on start-up, so metadata survives restarts the way the log does. A
//! single broker is a cluster of one: it leads every partition, is the only replica and the whole ISR. The
//! multi-broker controller quorum will replicate this same record log.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::record::{self, BatchBuilder, Compression, DecodeLimits};
use crate::storage::{AppendOrigin, Backend, Log, LogConfig, OpenOptions, StorageError, TopicPartition};

/// The metadata log's directory name inside the log directory.
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";
/// The internal topics: clients may read them but not write them, and Metadata flags them.
pub const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state"];
/// The metadata log's topic name: no user topic may take it (its partition directory is the metadata log).
pub const METADATA_TOPIC: &str = "__cluster_metadata";
/// Kafka's `QuorumController.MAX_RECORDS_PER_USER_OP`: the most metadata records one admin operation may produce
/// (a topic counts one record, plus one per config override and one per partition, as Kafka records them).
pub const MAX_RECORDS_PER_USER_OP: usize = 10_000;
/// Kafka's `ReplicationControlManager.MAX_PARTITIONS_PER_BATCH`: the most partitions one CreateTopics may ask for.
pub const MAX_PARTITIONS_PER_BATCH: i64 = 10_000;
/// Kafka's message (with POLICY_VIOLATION) for an operation over [`MAX_RECORDS_PER_USER_OP`].
pub const EXCESSIVE_BATCH_MESSAGE: &str = "Unable to perform excessively large batch operation.";

/// One change to the cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetadataRecord {
    /// A topic was created with `partitions` partitions led by `leader`.
    Topic {
        name: String,
        id: Uuid,
        partitions: i32,
        leader: i32,
        configs: BTreeMap<String, String>,
    },
    /// Partitions were added up to `count`.
    Partitions {
        name: String,
        count: i32,
    },
    /// The topic's config overrides were replaced.
    TopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// The broker-level dynamic config overrides were replaced.
    BrokerConfigs {
        configs: BTreeMap<String, String>,
    },
    RemoveTopic {
        name: String,
    },
    /// Producer ids below `next` have been handed out (or reserved in a block).
    ProducerIds {
        next: i64,
    },
}

/// A partition as the metadata sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped on every change of the partition's leader, replicas or ISR.
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// A topic as the metadata sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<PartitionImage>,
    /// Config overrides set on the topic (not the defaults).
    pub configs: BTreeMap<String, String>,
}

impl TopicImage {
    /// The partition with this index, if the topic has it.
    pub fn partition(&self, index: i32) -> Option<&PartitionImage> {
        usize::try_from(index).ok().and_then(|i| self.partitions.get(i))
    }

    pub fn is_internal(&self) -> bool {
        INTERNAL_TOPICS.contains(&self.name.as_str())
    }
}

/// The current state of the cluster metadata.
#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    pub topics: BTreeMap<String, TopicImage>,
    pub topic_ids: HashMap<Uuid, String>,
    pub broker_configs: BTreeMap<String, String>,
    /// The first producer id never reserved.
    pub next_producer_id: i64,
}

impl MetadataImage {
    /// Whether `record` can be applied to this image: what no admin operation can have produced (a topic or a
    /// growth of more partitions than one operation may create, an invalid name, growing a topic that does not
    /// exist) is refused, so a damaged or hostile record can neither be written nor make replay allocate
    /// without bound.
    pub fn check(&self, record: &MetadataRecord) -> Result<(), String> {
        let max_partitions = (MAX_RECORDS_PER_USER_OP - 1) as i64;
        match record {
            MetadataRecord::Topic { name, partitions, .. } => {
                TopicPartition::validate_topic(name).map_err(|e| e.to_string())?;
                if name == METADATA_TOPIC {
                    return Err(format!("topic name {name} is reserved"));
                }
                if !(1..=max_partitions).contains(&i64::from(*partitions)) {
                    return Err(format!("topic {name} with {partitions} partitions (1 to {max_partitions} allowed)"));
                }
            }
            MetadataRecord::Partitions { name, count } => {
                let Some(topic) = self.topics.get(name) else {
                    return Err(format!("partitions for unknown topic {name}"));
                };
                let added = i64::from(*count) - topic.partitions.len() as i64;
                if !(1..=max_partitions).contains(&added) {
                    return Err(format!("topic {name} grown from {} to {count} partitions", topic.partitions.len()));
                }
            }
            MetadataRecord::TopicConfigs { .. }
            | MetadataRecord::BrokerConfigs { .. }
            | MetadataRecord::RemoveTopic { .. }
            | MetadataRecord::ProducerIds { .. } => {}
        }
        Ok(())
    }

    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::Topic { name, id, partitions, leader, configs } => {
                let partitions = (0..*partitions).map(|p| partition(p, *leader)).collect();
                self.topic_ids.insert(*id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicImage { name: name.clone(), id: *id, partitions, configs: configs.clone() },
                );
            }
            MetadataRecord::Partitions { name, count } => {
                if let Some(topic) = self.topics.get_mut(name) {
                    let leader = topic.partitions.first().map_or(0, |p| p.leader);
                    let current = topic.partitions.len() as i32;
                    topic.partitions.extend((current..*count).map(|p| partition(p, leader)));
                }
            }
            MetadataRecord::TopicConfigs { name, configs } => {
                if let Some(topic) = self.topics.get_mut(name) {
                    topic.configs = configs.clone();
                }
            }
            MetadataRecord::BrokerConfigs { configs } => self.broker_configs = configs.clone(),
            MetadataRecord::ProducerIds { next } => self.next_producer_id = self.next_producer_id.max(*next),
            MetadataRecord::RemoveTopic { name } => {
                if let Some(topic) = self.topics.remove(name) {
                    self.topic_ids.remove(&topic.id);
                }
            }
        }
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicImage> {
        self.topic_ids.get(id).and_then(|name| self.topics.get(name))
    }
}

fn partition(p: i32, leader: i32) -> PartitionImage {
    PartitionImage {
        partition: p,
        leader,
        leader_epoch: 0,
        partition_epoch: 0,
        replicas: vec![leader],
        isr: vec![leader],
    }
}

/// Why metadata could not be loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("metadata record at offset {offset} is unreadable: {reason}")]
    BadRecord { offset: i64, reason: String },
    #[error("metadata record refused: {0}")]
    Refused(String),
}

/// The metadata log and the image it produces.
#[derive(Debug)]
pub struct MetadataStore {
    log: Log,
    /// Shared copy-on-write: readers take a cheap handle, a commit copies only if a reader still holds one.
    image: Arc<MetadataImage>,
}

impl MetadataStore {
    /// Opens the metadata log under `log_dir` and replays it into an image.
    pub fn open(backend: Arc<dyn Backend>, log_dir: &Path, now_ms: i64) -> Result<Self, MetadataError> {
        // The metadata log is small and must never lose a record: keep it forever, fsync every append.
        let config = LogConfig { retention_ms: -1, flush_messages: 1, segment_bytes: 64 << 20, ..LogConfig::default() };
        let log = Log::open(backend, &log_dir.join(METADATA_LOG_DIR), config, OpenOptions::default(), now_ms)?;
        let mut image = MetadataImage::default();
        log.for_each_batch(log.log_start_offset(), |batch| -> Result<(), MetadataError> {
            let bad =
                |offset: i64, e: &dyn std::fmt::Display| MetadataError::BadRecord { offset, reason: e.to_string() };
            let (header, records) = record::decode_records(batch, DecodeLimits::default()).map_err(|e| bad(-1, &e))?;
            if header.is_control() {
                return Ok(());
            }
            for r in records {
                replay_record(&mut image, r.offset, &r.value.unwrap_or_default());
            }
            Ok(())
        })?;
        Ok(MetadataStore { log, image: Arc::new(image) })
    }

    pub fn image(&self) -> &Arc<MetadataImage> {
        &self.image
    }

    /// Proposes `records`: appends them durably to the metadata log as one batch. They take effect when
    /// [`MetadataStore::apply`]ed, once committed (with one controller, as soon as they are stored). Records
    /// the image would refuse (see [`MetadataImage::check`]) are refused here, before anything is written.
    pub fn propose(&mut self, records: &[MetadataRecord], now_ms: i64) -> Result<(), MetadataError> {
        match records {
            [one] => self.image.check(one).map_err(MetadataError::Refused)?,
            // Later records are checked against the image the earlier ones make (a copy; such commits are rare).
            _ => {
                let mut image = (*self.image).clone();
                for rec in records {
                    image.check(rec).map_err(MetadataError::Refused)?;
                    image.apply(rec);
                }
            }
        }
        let mut batch = BatchBuilder::new(Compression::None);
        for rec in records {
            let value =
                serde_json::to_vec(rec).map_err(|e| MetadataError::BadRecord { offset: -1, reason: e.to_string() })?;
            batch.append(now_ms, None, Some(&value), &[]);
        }
        let mut bytes = batch.build().map_err(StorageError::from)?;
        self.log.append(&mut bytes, 0, AppendOrigin::Coordinator, now_ms)?;
        self.log.set_high_watermark(self.log.log_end_offset());
        Ok(())
    }

    /// Applies committed records to the image, in log order.
    pub fn apply(&mut self, records: &[MetadataRecord]) {
        for rec in records {
            Arc::make_mut(&mut self.image).apply(rec);
        }
    }

    /// Proposes and applies `records` (a cluster of one commits what it stores).
    pub fn commit(&mut self, records: &[MetadataRecord], now_ms: i64) -> Result<(), MetadataError> {
        self.propose(records, now_ms)?;
        self.apply(records);
        Ok(())
    }

    pub fn close(self, now_ms: i64) -> Result<(), StorageError> {
        self.log.close(now_ms)
    }
}

/// Applies one stored record during start-up replay. A record that does not decode or that the image refuses
/// is skipped with a loud message rather than failing the start: one bad record (written by an older version
/// that did not bound admin operations, or damaged) must not brick the data directory.
fn replay_record(image: &mut MetadataImage, offset: i64, value: &[u8]) {
    let checked = serde_json::from_slice::<MetadataRecord>(value)
        .map_err(|e| e.to_string())
        .and_then(|rec| image.check(&rec).map(|()| rec));
    match checked {
        Ok(rec) => image.apply(&rec),
        Err(reason) => {
            eprintln!("potok: SKIPPING metadata record at offset {offset} of {METADATA_LOG_DIR}: {reason}")
        }
    }
}

/// Deterministic ids from a seed (the runtime passes entropy in; nothing here reads a clock or the OS).
#[derive(Debug, Clone)]
pub struct IdGenerator {
    state: u64,
}

impl IdGenerator {
    pub fn new(seed: u64) -> Self {
        IdGenerator { state: seed }
    }

    /// splitmix64.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random (version 4) UUID, never the nil or the reserved "metadata topic" id.
    pub fn uuid(&mut self) -> Uuid {
        loop {
            let bytes = ((u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())).to_be_bytes();
            let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
            if id.as_u64_pair() != (0, 0) && id.as_u64_pair() != (0, 1) {
                return id;
            }
        }
    }
}

/// Kafka's text form of a UUID (topic ids, cluster ids): URL-safe base64 without padding.
pub fn uuid_to_base64(id: &Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryBackend;

    #[test]
    fn records_replay_into_the_same_image() {
        let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let mut store = MetadataStore::open(backend.clone(), Path::new("/d"), 0).unwrap();
        let mut ids = IdGenerator::new(7);
        let id = ids.uuid();
        let configs = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        store.commit(&[MetadataRecord::Topic { name: "a".into(), id, partitions: 2, leader: 1, configs }], 0).unwrap();
        store.commit(&[MetadataRecord::Partitions { name: "a".into(), count: 5 }], 0).unwrap();
        store
            .commit(
                &[MetadataRecord::Topic {
                    name: "b".into(),
                    id: ids.uuid(),
                    partitions: 1,
                    leader: 1,
                    configs: BTreeMap::new(),
                }],
                0,
            )
            .unwrap();
        store.commit(&[MetadataRecord::RemoveTopic { name: "b".into() }], 0).unwrap();
        let before = store.image().clone();
        drop(store);
        let store = MetadataStore::open(backend, Path::new("/d"), 0).unwrap();
        assert_eq!(store.image().topics, before.topics);
        assert_eq!(store.image().topics["a"].partitions.len(), 5);
        assert_eq!(store.image().topic_by_id(&id).unwrap().name, "a");
    }

    /// The poison pill of issue 13: a topic record asking for 2^31-1 partitions made every start allocate until
    /// the OS killed it. Such a record is refused when committed, and skipped when replayed.
    #[test]
    fn an_unappliable_record_is_refused_and_skipped_on_replay() {
        let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let mut store = MetadataStore::open(backend.clone(), Path::new("/d"), 0).unwrap();
        let mut ids = IdGenerator::new(7);
        let topic = |name: &str, partitions: i32, id: Uuid| MetadataRecord::Topic {
            name: name.into(),
            id,
            partitions,
            leader: 1,
            configs: BTreeMap::new(),
        };
        store.commit(&[topic("before", 2, ids.uuid())], 0).unwrap();
        let huge = topic("huge", i32::MAX, ids.uuid());
        assert!(matches!(store.commit(std::slice::from_ref(&huge), 0), Err(MetadataError::Refused(_))));
        let grow = MetadataRecord::Partitions { name: "before".into(), count: i32::MAX };
        assert!(matches!(store.commit(std::slice::from_ref(&grow), 0), Err(MetadataError::Refused(_))));
        // Written behind the store's back, as a version without the checks did.
        for rec in [huge, grow, MetadataRecord::ProducerIds { next: 5 }] {
            let mut batch = BatchBuilder::new(Compression::None);
            batch.append(0, None, Some(&serde_json::to_vec(&rec).unwrap()), &[]);
            let mut bytes = batch.build().unwrap();
            store.log.append(&mut bytes, 0, AppendOrigin::Coordinator, 0).unwrap();
        }
        let mut garbage = BatchBuilder::new(Compression::None);
        garbage.append(0, None, Some(b"{not json"), &[]);
        store.log.append(&mut garbage.build().unwrap(), 0, AppendOrigin::Coordinator, 0).unwrap();
        store.commit(&[topic("after", 1, ids.uuid())], 0).unwrap();
        drop(store);
        let store = MetadataStore::open(backend, Path::new("/d"), 0).unwrap();
        let image = store.image();
        assert_eq!(image.topics.keys().collect::<Vec<_>>(), ["after", "before"]);
        assert_eq!(image.topics["before"].partitions.len(), 2);
        assert_eq!(image.next_producer_id, 5);
    }

    #[test]
    fn uuids_print_like_kafka() {
        let id = Uuid::from_u128(0);
        assert_eq!(uuid_to_base64(&id), "AAAAAAAAAAAAAAAAAAAAAA");
        let id = Uuid::from_u128(u128::MAX);
        assert_eq!(uuid_to_base64(&id), "_____________________w");
        let mut g = IdGenerator::new(1);
        assert_ne!(g.uuid(), g.uuid());
    }
}
