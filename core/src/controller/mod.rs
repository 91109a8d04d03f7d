//! Cluster metadata as a log of records applied to an image: brokers, topics (with their ids, partitions,
//! replica assignment, leaders and ISR) and configs, in Kafka's own metadata record schemas
//! ([`records`]), applied to a [`MetadataImage`] ([`image`]).
//!
//! The records are appended to the `__cluster_metadata-0` log in the metadata log directory before they are
//! applied (propose, then apply), and replayed in order on start-up. A single broker is a cluster of one: it
//! leads every partition, is the only replica and the whole ISR. The multi-node controller quorum replicates
//! this same record log.
//!
//! Data directories written by potok before the metadata log used Kafka's schemas held JSON records; opening
//! one migrates it: the JSON log is replayed, the image written out as Kafka records to a new log, and the
//! new log swapped in (a crash at any point leaves one of the two complete logs to start from).

pub(crate) mod alter_configs;
mod brokers;
pub(crate) mod checkpoint;
pub use checkpoint::BootstrapVoter;
#[cfg(feature = "native")]
pub use checkpoint::{read_bootstrap_voters, write_bootstrap_voters};
mod create_partitions;
mod create_topics;
mod delete_topics;
pub mod image;
mod incremental_alter_configs;
mod legacy;
pub mod partition_change;
mod partitions;
pub mod placement;
mod quorum;
#[cfg(feature = "native")]
pub mod raft;
pub mod records;
pub mod topic_config;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use uuid::Uuid;

pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage, INTERNAL_TOPICS};
pub use quorum::{ControllerResult, QuorumController, CONTROLLER_APIS, CONTROLLER_TICK_MS};
pub use records::{MetadataRecord, PartitionChange, PartitionRecord};

use crate::record::{self, BatchBuilder, Compression, DecodeLimits};
use crate::storage::{AppendOrigin, Backend, Log, LogConfig, OpenOptions, StorageError};

/// The metadata topic's name (its one partition is the metadata log): no user topic may take it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
/// The metadata log's directory name inside the log directory.
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";
/// Kafka's `QuorumController.MAX_RECORDS_PER_USER_OP`: the most metadata records one admin operation may produce
/// (a topic is one record, plus one per config override and one per partition).
pub const MAX_RECORDS_PER_USER_OP: usize = 10_000;
/// Kafka's `ReplicationControlManager.MAX_PARTITIONS_PER_BATCH`: the most partitions one CreateTopics may ask for.
pub const MAX_PARTITIONS_PER_BATCH: i64 = 10_000;
/// Kafka's message (with POLICY_VIOLATION) for an operation over [`MAX_RECORDS_PER_USER_OP`].
pub const EXCESSIVE_BATCH_MESSAGE: &str = "Unable to perform excessively large batch operation.";
/// Where a migration writes the new log before swapping it in.
const MIGRATING_DIR: &str = "__cluster_metadata-0.migrating";
/// Where the old JSON log goes while the new one is swapped in.
const LEGACY_DIR: &str = "__cluster_metadata-0.json";

/// The `metadata.version` feature level potok's records correspond to (Kafka 4.1-IV1).
pub const METADATA_VERSION_LEVEL: i16 = 27;

/// The records of a new topic, in the order Kafka's controller writes them: its TopicRecord, its configs, then
/// one PartitionRecord per replica assignment. The ISR is the assignment's active replicas (`active`), and the
/// first of them leads.
pub fn topic_records(
    name: &str,
    topic_id: Uuid,
    assignments: &[Vec<i32>],
    configs: &BTreeMap<String, String>,
    active: impl Fn(i32) -> bool,
) -> Vec<MetadataRecord> {
    let mut out = vec![MetadataRecord::Topic { name: name.to_string(), topic_id }];
    out.extend(records::config_records(records::CONFIG_RESOURCE_TOPIC, name, &BTreeMap::new(), configs));
    out.extend(partition_records(topic_id, 0, assignments, active));
    out
}

/// PartitionRecords for new partitions `first..` of a topic, one per replica assignment.
pub fn partition_records(
    topic_id: Uuid,
    first: i32,
    assignments: &[Vec<i32>],
    active: impl Fn(i32) -> bool,
) -> Vec<MetadataRecord> {
    assignments
        .iter()
        .zip(first..)
        .map(|(replicas, partition_id)| {
            let isr: Vec<i32> = replicas.iter().copied().filter(|r| active(*r)).collect();
            MetadataRecord::Partition(PartitionRecord {
                partition_id,
                topic_id,
                replicas: replicas.clone(),
                leader: isr.first().copied().unwrap_or(-1),
                isr,
                removing_replicas: Vec::new(),
                adding_replicas: Vec::new(),
                leader_recovery_state: 0,
                leader_epoch: 0,
                partition_epoch: 0,
                directories: Vec::new(),
            })
        })
        .collect()
}

/// Why metadata could not be loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("metadata record at offset {offset} is unreadable: {reason}")]
    BadRecord { offset: i64, reason: String },
}

/// The metadata log and the image it produces.
#[derive(Debug)]
pub struct MetadataStore {
    /// None on a broker whose controllers keep the log (a cluster member: the quorum hands it the image).
    log: Option<Log>,
    /// Shared copy-on-write: readers take a cheap handle, a commit copies only if a reader still holds one.
    image: Arc<MetadataImage>,
    /// Bytes of records committed since the last snapshot, and the threshold for the next one
    /// (`metadata.log.max.record.bytes.between.snapshots`).
    since_snapshot: u64,
    snapshot_max_bytes: u64,
}

/// The metadata log is small and must never lose a record: kept forever, fsynced on every append.
pub(crate) fn metadata_log_config() -> LogConfig {
    LogConfig { retention_ms: -1, flush_messages: 1, segment_bytes: 64 << 20, ..LogConfig::default() }
}

/// One batch of metadata records, as `__cluster_metadata` stores them (key-less records).
fn metadata_batch(records: &[MetadataRecord], now_ms: i64) -> Result<Vec<u8>, StorageError> {
    let mut batch = BatchBuilder::new(Compression::None);
    for rec in records {
        batch.append(now_ms, None, Some(&rec.encode()), &[]);
    }
    Ok(batch.build()?)
}

/// What a metadata log holds: Kafka's records, or the JSON records of potok's first data directories.
enum Replayed {
    Records(MetadataImage),
    Legacy(MetadataImage),
}

impl MetadataStore {
    /// Opens the metadata log under `log_dir` and replays it into an image (from the newest `.checkpoint` when
    /// there is one), migrating a JSON log first. A snapshot is taken after every `snapshot_max_bytes` of
    /// committed records, and the log before it goes.
    pub fn open(
        backend: Arc<dyn Backend>,
        log_dir: &Path,
        snapshot_max_bytes: u64,
        now_ms: i64,
    ) -> Result<Self, MetadataError> {
        let dir = log_dir.join(METADATA_LOG_DIR);
        let migrating = log_dir.join(MIGRATING_DIR);
        let legacy = log_dir.join(LEGACY_DIR);
        // A migration that stopped half-way: finish the swap if the new log was complete, else start over.
        if backend.is_dir(&migrating) {
            if backend.is_dir(&legacy) && !backend.is_dir(&dir) {
                backend.rename(&migrating, &dir).map_err(|e| StorageError::io(&migrating, e))?;
            } else {
                backend.remove_dir_all(&migrating).map_err(|e| StorageError::io(&migrating, e))?;
            }
        }
        if backend.is_dir(&legacy) && backend.is_dir(&dir) {
            backend.remove_dir_all(&legacy).map_err(|e| StorageError::io(&legacy, e))?;
        }
        // The newest snapshot holds everything before its end offset; the log starts there.
        let (start, image) = match checkpoint::latest(backend.as_ref(), &dir).map_err(|e| StorageError::io(&dir, e))? {
            Some((name, end)) => {
                let path = dir.join(&name);
                let bytes = crate::storage::backend::read_whole(backend.as_ref(), &path)
                    .map_err(|e| StorageError::io(&path, e))?;
                let records = checkpoint::decode(&bytes)
                    .map_err(|e| MetadataError::BadRecord { offset: end, reason: format!("{name}: {e}") })?;
                (end, checkpoint::image_of(&records, end))
            }
            None => (0, MetadataImage::default()),
        };
        let options = OpenOptions { log_start_offset: start, ..OpenOptions::default() };
        let mut log = Log::open(backend.clone(), &dir, metadata_log_config(), options, now_ms)?;
        if log.log_end_offset() < start {
            // The log was cut before its snapshot (a crash right after writing it): it goes on from there.
            log.truncate_fully_and_start_at(start, now_ms)?;
        }
        log.set_high_watermark(log.log_end_offset());
        let store = |log, image| MetadataStore {
            log: Some(log),
            image: Arc::new(image),
            since_snapshot: 0,
            snapshot_max_bytes: snapshot_max_bytes.max(1),
        };
        match Self::replay(&log, start, image)? {
            Replayed::Records(image) => Ok(store(log, image)),
            Replayed::Legacy(image) => {
                drop(log);
                Self::migrate(backend.clone(), log_dir, &image, now_ms)?;
                let log = Log::open(backend, &dir, metadata_log_config(), OpenOptions::default(), now_ms)?;
                match Self::replay(&log, 0, MetadataImage::default())? {
                    Replayed::Records(image) => Ok(store(log, image)),
                    Replayed::Legacy(_) => Err(MetadataError::BadRecord {
                        offset: -1,
                        reason: "the migrated metadata log still holds JSON records".into(),
                    }),
                }
            }
        }
    }

    /// Replays a metadata log. A record that cannot be read or applied is skipped with a warning rather than
    /// failing start-up: metadata that was written can always be replayed, whatever one record says.
    fn replay(log: &Log, start: i64, mut image: MetadataImage) -> Result<Replayed, MetadataError> {
        let mut legacy = false;
        log.for_each_batch(log.log_start_offset().max(start), |batch| -> Result<(), MetadataError> {
            let (header, records) = record::decode_records(batch, DecodeLimits::default())
                .map_err(|e| MetadataError::BadRecord { offset: -1, reason: e.to_string() })?;
            if header.is_control() {
                image.skip_to(header.last_offset());
                return Ok(());
            }
            for r in records.into_iter().filter(|r| r.offset >= start) {
                let value = r.value.unwrap_or_default();
                if value.first() == Some(&b'{') {
                    legacy = true;
                    if let Err(e) = legacy::apply(&mut image, &value) {
                        tracing::warn!("skipping metadata record at offset {} (it cannot be applied): {e}", r.offset);
                    }
                    continue;
                }
                match MetadataRecord::decode(&value) {
                    Ok(rec) => image.apply_at(&rec, r.offset),
                    Err(e) => tracing::warn!("skipping unreadable metadata record at offset {}: {e}", r.offset),
                }
            }
            Ok(())
        })?;
        Ok(if legacy { Replayed::Legacy(image) } else { Replayed::Records(image) })
    }

    /// Writes `image` as Kafka records to a new log and swaps it in for the JSON one.
    fn migrate(
        backend: Arc<dyn Backend>,
        log_dir: &Path,
        image: &MetadataImage,
        now_ms: i64,
    ) -> Result<(), MetadataError> {
        let dir = log_dir.join(METADATA_LOG_DIR);
        let migrating = log_dir.join(MIGRATING_DIR);
        let legacy = log_dir.join(LEGACY_DIR);
        let mut log = Log::open(backend.clone(), &migrating, metadata_log_config(), OpenOptions::default(), now_ms)?;
        let mut records =
            vec![MetadataRecord::FeatureLevel { name: "metadata.version".into(), level: METADATA_VERSION_LEVEL }];
        records.extend(image.to_records());
        for chunk in records.chunks(1000) {
            let bytes = metadata_batch(chunk, now_ms)?;
            log.append(&bytes, 0, AppendOrigin::Coordinator, now_ms)?;
        }
        log.close(now_ms)?;
        backend.rename(&dir, &legacy).map_err(|e| StorageError::io(&dir, e))?;
        backend.rename(&migrating, &dir).map_err(|e| StorageError::io(&migrating, e))?;
        backend.sync_dir(log_dir).map_err(|e| StorageError::io(log_dir, e))?;
        backend.remove_dir_all(&legacy).map_err(|e| StorageError::io(&legacy, e))?;
        tracing::info!("migrated the metadata log in {} to Kafka's record schemas", log_dir.display());
        Ok(())
    }

    /// A store for a broker whose metadata comes from the controller quorum: no log of its own, an empty image
    /// until the quorum's first one arrives ([`MetadataStore::replace`]).
    pub fn detached() -> Self {
        MetadataStore { log: None, image: Arc::new(MetadataImage::default()), since_snapshot: 0, snapshot_max_bytes: 1 }
    }

    pub fn image(&self) -> &Arc<MetadataImage> {
        &self.image
    }

    /// Takes the image the controller quorum committed (a cluster member's broker).
    pub fn replace(&mut self, image: Arc<MetadataImage>) {
        self.image = image;
    }

    /// Proposes `records`: appends them durably to the metadata log as one batch. They take effect when
    /// [`MetadataStore::apply`]ed, once committed (with one controller, as soon as they are stored).
    /// Returns the offset of the first record.
    pub fn propose(&mut self, records: &[MetadataRecord], now_ms: i64) -> Result<i64, MetadataError> {
        let Some(log) = self.log.as_mut() else {
            return Err(MetadataError::BadRecord { offset: -1, reason: "the metadata log is the quorum's".into() });
        };
        let bytes = metadata_batch(records, now_ms)?;
        let info = log.append(&bytes, 0, AppendOrigin::Coordinator, now_ms)?;
        log.set_high_watermark(log.log_end_offset());
        Ok(info.first_offset)
    }

    /// Applies committed records, stored from `base_offset` on, to the image.
    pub fn apply(&mut self, records: &[MetadataRecord], base_offset: i64) {
        let image = Arc::make_mut(&mut self.image);
        for (rec, offset) in records.iter().zip(base_offset..) {
            image.apply_at(rec, offset);
        }
        if self.log.is_some() {
            self.since_snapshot += records.iter().map(|r| r.encode().len() as u64).sum::<u64>();
        }
    }

    /// Snapshots the image into a `.checkpoint` once enough records were committed since the last one, then
    /// moves the log start to it (segments wholly before it are deleted). A failure is logged and retried at
    /// the next commit: the log still holds everything.
    pub fn maybe_snapshot(&mut self, now_ms: i64) {
        if self.since_snapshot < self.snapshot_max_bytes {
            return;
        }
        let Some(log) = self.log.as_mut() else { return };
        let end = log.log_end_offset();
        let epoch = log.leader_epochs().latest_epoch().map_or(0, |e| e.max(0) as u64);
        let name = checkpoint::file_name(end, epoch);
        let dir = log.dir().to_path_buf();
        let written = checkpoint::encode(&checkpoint::image_records(&self.image), epoch, now_ms)
            .and_then(|bytes| checkpoint::write(log.backend().as_ref(), &dir, &name, &bytes))
            .and_then(|()| checkpoint::remove_others(log.backend().as_ref(), &dir, &name));
        if let Err(e) = written {
            tracing::warn!(target: "potok::controller", "writing the metadata snapshot {name} failed: {e}");
            return;
        }
        if let Err(e) = log.increment_log_start_offset(end, now_ms) {
            tracing::warn!(target: "potok::controller", "moving the metadata log's start to {end} failed: {e}");
        }
        self.since_snapshot = 0;
        tracing::info!(target: "potok::controller", "wrote the metadata snapshot {name}");
    }

    /// Proposes and applies `records` (a cluster of one commits what it stores).
    pub fn commit(&mut self, records: &[MetadataRecord], now_ms: i64) -> Result<(), MetadataError> {
        let base_offset = self.propose(records, now_ms)?;
        self.apply(records, base_offset);
        Ok(())
    }

    /// The offset the next record will get (what brokers report as their metadata offset).
    pub fn log_end_offset(&self) -> i64 {
        self.log.as_ref().map_or(self.image.offset + 1, Log::log_end_offset)
    }

    pub fn close(self, now_ms: i64) -> Result<(), StorageError> {
        self.log.map_or(Ok(()), |log| log.close(now_ms))
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

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Shuffles `items` (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
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

/// The UUID of Kafka's text form ([`uuid_to_base64`]); `None` when `text` is not 22 characters of URL-safe
/// base64. The 4 bits past the 16 bytes are ignored, as Java's decoder ignores them (Kafka's documented example
/// cluster id, `MkU3OEVBNTcwNTJENDM2Qk`, has them set).
pub fn uuid_from_base64(text: &str) -> Option<Uuid> {
    let digit = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.as_bytes();
    if text.len() != 22 {
        return None;
    }
    let mut bytes = Vec::with_capacity(18);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= digit(*c)? << (18 - 6 * i);
        }
        bytes.extend_from_slice(&n.to_be_bytes()[1..1 + chunk.len() - 1]);
    }
    Uuid::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryBackend;

    #[test]
    fn uuids_read_back_from_kafkas_text_form() {
        for id in [Uuid::nil(), Uuid::from_u128(u128::MAX), Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210)]
        {
            assert_eq!(uuid_from_base64(&uuid_to_base64(&id)), Some(id));
        }
        // The bytes of the ASCII text "2E78EA57052D436B".
        assert_eq!(uuid_from_base64("MkU3OEVBNTcwNTJENDM2Qk").unwrap().as_bytes(), b"2E78EA57052D436B");
        assert_eq!(uuid_from_base64("AAAAAAAAAAAAAAAAAAAAAA"), Some(Uuid::nil()));
        for bad in ["", "AAAA", "AAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAA+"] {
            assert_eq!(uuid_from_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn records_replay_into_the_same_image() {
        let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let mut store = MetadataStore::open(backend.clone(), Path::new("/d"), 20 << 20, 0).unwrap();
        let mut ids = IdGenerator::new(7);
        let id = ids.uuid();
        let configs = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        store.commit(&topic_records("a", id, &[vec![1], vec![1]], &configs, |_| true), 0).unwrap();
        store.commit(&partition_records(id, 2, &[vec![1], vec![1], vec![1]], |_| true), 0).unwrap();
        let b = ids.uuid();
        store.commit(&topic_records("b", b, &[vec![1]], &BTreeMap::new(), |_| true), 0).unwrap();
        store.commit(&[MetadataRecord::RemoveTopic { topic_id: b }], 0).unwrap();
        let before = store.image().clone();
        drop(store);
        let store = MetadataStore::open(backend, Path::new("/d"), 20 << 20, 0).unwrap();
        assert_eq!(store.image().topics, before.topics);
        assert_eq!(store.image().topics["a"].partitions.len(), 5);
        assert_eq!(store.image().topics["a"].configs, configs);
        assert_eq!(store.image().topic_by_id(&id).unwrap().name, "a");
    }

    /// A single node's metadata log is snapshotted once enough was committed: the `.checkpoint` holds the image,
    /// the log starts after it (only newer checkpoints are kept), and reopening gives the same image, from the
    /// checkpoint and the records after it.
    #[test]
    fn a_single_node_snapshots_its_metadata_and_replays_from_the_checkpoint() {
        let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let dir = Path::new("/d");
        let mut store = MetadataStore::open(backend.clone(), dir, 1000, 0).unwrap();
        let mut ids = IdGenerator::new(7);
        for i in 0..30 {
            let id = ids.uuid();
            store
                .commit(&topic_records(&format!("t{i}"), id, &[vec![1], vec![1]], &BTreeMap::new(), |_| true), 0)
                .unwrap();
            store.maybe_snapshot(0);
        }
        let last = ids.uuid();
        store.commit(&topic_records("last", last, &[vec![1]], &BTreeMap::new(), |_| true), 0).unwrap();
        let before = store.image().clone();
        let end = store.log_end_offset();
        drop(store);
        let files = backend.list_dir(&dir.join(METADATA_LOG_DIR)).unwrap();
        let checkpoints: Vec<_> = files.iter().filter(|f| f.ends_with(".checkpoint")).collect();
        assert_eq!(checkpoints.len(), 1, "{files:?}");
        let snapshot_end: i64 = checkpoints[0][..20].parse().unwrap();
        assert!(snapshot_end > 0 && snapshot_end < end, "{files:?}");
        let mut store = MetadataStore::open(backend.clone(), dir, 1000, 0).unwrap();
        assert_eq!(store.image().topics, before.topics);
        assert_eq!(store.image().offset, before.offset);
        assert_eq!(store.log_end_offset(), end);
        assert_eq!(store.log.as_ref().unwrap().log_start_offset(), snapshot_end);
        store.commit(&[MetadataRecord::RemoveTopic { topic_id: last }], 0).unwrap();
        drop(store);
        let store = MetadataStore::open(backend, dir, 1000, 0).unwrap();
        assert!(!store.image().topics.contains_key("last"));
        assert_eq!(store.image().topics.len(), 30);
    }

    /// A data directory from before Kafka's schemas: its JSON metadata log becomes a log of Kafka records with
    /// the same topics, configs and producer ids, and nothing else changes; a record that cannot be applied is
    /// skipped.
    #[test]
    fn a_json_metadata_log_is_migrated() {
        let backend = MemoryBackend::new();
        let shared: Arc<dyn Backend> = Arc::new(backend.clone());
        let dir = Path::new("/d");
        let mut log =
            Log::open(shared.clone(), &dir.join(METADATA_LOG_DIR), metadata_log_config(), OpenOptions::default(), 0)
                .unwrap();
        let json = [
            r#"{"type":"topic","name":"orders","id":"0d7c2d1e-0b36-4d4a-9c39-6f0d9c0b7a11","partitions":2,"leader":1,"configs":{"retention.ms":"1000"}}"#,
            // The poison pill of issue 13, written before admin operations were bounded: skipped, not replayed
            // into 2^31-1 partitions.
            r#"{"type":"topic","name":"huge","id":"2d7c2d1e-0b36-4d4a-9c39-6f0d9c0b7a11","partitions":2147483647,"leader":1,"configs":{}}"#,
            r#"{"type":"partitions","name":"orders","count":2147483647}"#,
            r#"{"type":"partitions","name":"orders","count":3}"#,
            r#"{"type":"topic","name":"gone","id":"1d7c2d1e-0b36-4d4a-9c39-6f0d9c0b7a11","partitions":1,"leader":1,"configs":{}}"#,
            r#"{"type":"remove_topic","name":"gone"}"#,
            r#"{"type":"topic_configs","name":"orders","configs":{"segment.bytes":"1000000"}}"#,
            r#"{"type":"broker_configs","configs":{"log.retention.ms":"5"}}"#,
            r#"{"type":"producer_ids","next":2000}"#,
        ];
        for j in json {
            let mut b = BatchBuilder::new(Compression::None);
            b.append(0, None, Some(j.as_bytes()), &[]);
            log.append(&b.build().unwrap(), 0, AppendOrigin::Coordinator, 0).unwrap();
        }
        log.close(0).unwrap();
        let store = MetadataStore::open(shared.clone(), dir, 20 << 20, 0).unwrap();
        let image = store.image();
        let orders = &image.topics["orders"];
        assert_eq!(orders.id.to_string(), "0d7c2d1e-0b36-4d4a-9c39-6f0d9c0b7a11");
        assert_eq!(orders.partitions.len(), 3);
        assert!(orders.partitions.iter().all(|p| p.leader == 1 && p.replicas == vec![1] && p.isr == vec![1]));
        assert_eq!(orders.configs, BTreeMap::from([("segment.bytes".to_string(), "1000000".to_string())]));
        assert!(!image.topics.contains_key("gone"));
        assert!(!image.topics.contains_key("huge"));
        assert_eq!(image.broker_configs["log.retention.ms"], "5");
        assert_eq!(image.next_producer_id, 2000);
        assert_eq!(image.features.get("metadata.version"), Some(&METADATA_VERSION_LEVEL));
        let names = shared.list_dir(dir).unwrap();
        assert!(!names.iter().any(|n| n.ends_with(".json") || n.ends_with(".migrating")), "{names:?}");
        drop(store);
        // The migrated log is Kafka records through and through, and opens as it is.
        let store = MetadataStore::open(shared, dir, 20 << 20, 0).unwrap();
        assert_eq!(store.image().topics["orders"].partitions.len(), 3);
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
