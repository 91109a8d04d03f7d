//! The broker: Kafka requests in, responses out, over the metadata image and the partition logs.
//!
//! One file per Kafka API turns a decoded request into calls on the state below and builds the response.
//! Handlers are synchronous and take the time as `now_ms`; the network layer (`net`) owns sockets, clocks and
//! the waiting a long-polling Fetch does. A single broker is a cluster of one: it leads every partition and is
//! its only in-sync replica, so the high watermark is the log end offset once an append returns.
//!
//! Locking: `state` (metadata and the set of logs) is a read-write lock taken briefly; each partition log has
//! its own mutex, so appends to different partitions run in parallel.

mod alter_configs;
mod api_versions;
pub mod config;
mod create_partitions;
mod create_topics;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod fetch;
mod incremental_alter_configs;
mod list_offsets;
mod metadata;
mod offset_for_leader_epoch;
mod produce;
pub mod topic_config;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{FetchRequest, FetchResponse, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

pub use config::{BrokerConfig, ConfigError, Listener};

use crate::controller::{self, IdGenerator, MetadataError, MetadataImage, MetadataRecord, MetadataStore, TopicImage};
use crate::protocol::Request;
use crate::record::RecordError;
use crate::storage::{self, Backend, LogManager, SharedLog, StorageError, TopicPartition};

/// Why the broker could not start or stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("{path}: {reason}")]
    MetaProperties { path: PathBuf, reason: String },
}

struct State {
    metadata: MetadataStore,
    logs: LogManager,
    ids: IdGenerator,
}

/// A broker's state and request handling, independent of any network.
pub struct Broker {
    config: BrokerConfig,
    advertised: Listener,
    cluster_id: String,
    backend: Arc<dyn Backend>,
    log_dir: PathBuf,
    state: RwLock<State>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("node_id", &self.config.node_id).field("log_dir", &self.log_dir).finish()
    }
}

const META_PROPERTIES: &str = "meta.properties";

impl Broker {
    /// Opens (or initialises) the log directory and loads metadata and logs. `seed` feeds the id generator
    /// (cluster id, topic ids); `advertised` is the address clients are told to use.
    pub fn open(
        config: BrokerConfig,
        backend: Arc<dyn Backend>,
        log_dir: &Path,
        advertised: Listener,
        seed: u64,
        now_ms: i64,
    ) -> Result<Broker, BrokerError> {
        backend.create_dir_all(log_dir).map_err(|e| StorageError::io(log_dir, e))?;
        let mut ids = IdGenerator::new(seed);
        let cluster_id = Self::load_or_write_meta_properties(backend.as_ref(), log_dir, config.node_id, &mut ids)?;
        let metadata = MetadataStore::open(backend.clone(), log_dir, now_ms)?;
        let image = metadata.image().clone();
        let logs = LogManager::open(
            backend.clone(),
            log_dir,
            |topic| match image.topics.get(topic) {
                Some(t) => topic_config::log_config(&t.configs, &config, &image.broker_configs),
                None => config.log.clone(),
            },
            now_ms,
        )?;
        let broker = Broker {
            config,
            advertised,
            cluster_id,
            backend,
            log_dir: log_dir.to_path_buf(),
            state: RwLock::new(State { metadata, logs, ids }),
        };
        broker.reconcile_logs(now_ms)?;
        Ok(broker)
    }

    /// Makes the logs match the metadata: a log for every partition, none for deleted topics (a crash can
    /// fall between the metadata record and the file work).
    fn reconcile_logs(&self, now_ms: i64) -> Result<(), BrokerError> {
        let mut state = self.write();
        let image = state.metadata.image().clone();
        let existing: Vec<TopicPartition> = state.logs.partitions().cloned().collect();
        for tp in existing {
            let known = image.topics.get(&tp.topic).is_some_and(|t| (tp.partition as usize) < t.partitions.len());
            if !known {
                state.logs.delete(&tp)?;
            }
        }
        for topic in image.topics.values() {
            self.ensure_logs(&mut state, topic, &image.broker_configs, now_ms)?;
        }
        Ok(())
    }

    fn ensure_logs(
        &self,
        state: &mut State,
        topic: &TopicImage,
        broker_configs: &BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let config = topic_config::log_config(&topic.configs, &self.config, broker_configs);
        for p in &topic.partitions {
            let tp = TopicPartition::new(&topic.name, p.partition)?;
            if state.logs.get(&tp).is_none() {
                state.logs.create(tp.clone(), config.clone(), now_ms)?;
                // Kafka keeps the topic id beside each partition's segments.
                let path = self.log_dir.join(tp.dir_name()).join("partition.metadata");
                let text = format!("version: 0\ntopic_id: {}\n", controller::uuid_to_base64(&topic.id));
                storage::backend::write_atomic(self.backend.as_ref(), &path, text.as_bytes())
                    .map_err(|e| StorageError::io(&path, e))?;
            }
        }
        Ok(())
    }

    fn load_or_write_meta_properties(
        backend: &dyn Backend,
        log_dir: &Path,
        node_id: i32,
        ids: &mut IdGenerator,
    ) -> Result<String, BrokerError> {
        let path = log_dir.join(META_PROPERTIES);
        let bad = |reason: String| BrokerError::MetaProperties { path: path.clone(), reason };
        match storage::backend::read_whole(backend, &path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
                let props = BrokerConfig::parse_properties(&text).map_err(|e| bad(e.to_string()))?;
                let get = |k: &str| props.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
                if let Some(stored) = get("node.id") {
                    if stored != node_id.to_string() {
                        return Err(bad(format!("written by node.id {stored}, but this broker is node.id {node_id}")));
                    }
                }
                get("cluster.id").ok_or_else(|| bad("no cluster.id".into()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let cluster_id = controller::uuid_to_base64(&ids.uuid());
                let directory_id = controller::uuid_to_base64(&ids.uuid());
                let text = format!(
                    "#\n#Written by potok\ncluster.id={cluster_id}\ndirectory.id={directory_id}\nnode.id={node_id}\nversion=1\n"
                );
                storage::backend::write_atomic(backend, &path, text.as_bytes())
                    .map_err(|e| StorageError::io(&path, e))?;
                Ok(cluster_id)
            }
            Err(e) => Err(StorageError::io(&path, e).into()),
        }
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    pub fn advertised(&self) -> &Listener {
        &self.advertised
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the metadata image.
    pub fn metadata(&self) -> MetadataImage {
        self.read().metadata.image().clone()
    }

    /// The log of a partition, if the broker hosts it.
    pub fn log(&self, topic: &str, partition: i32) -> Option<SharedLog> {
        let tp = TopicPartition { topic: topic.to_string(), partition };
        self.read().logs.get(&tp)
    }

    /// Handles one request. `None` means no response is sent (Produce with acks=0). Fetch is answered at once
    /// here; the network layer uses [`Broker::fetch`] to wait for data.
    pub fn handle(&self, request: Request, now_ms: i64) -> Option<ResponseKind> {
        let version = request.header.request_api_version;
        Some(match request.body {
            RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::handle(r, version)),
            RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(self, r, version, now_ms)),
            RequestKind::Produce(r) => return produce::handle(self, r, version, now_ms).map(ResponseKind::Produce),
            RequestKind::Fetch(r) => ResponseKind::Fetch(self.fetch(&r, version).0),
            RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(list_offsets::handle(self, r, version)),
            RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(create_topics::handle(self, r, version, now_ms)),
            RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(delete_topics::handle(self, r, version, now_ms)),
            RequestKind::CreatePartitions(r) => {
                ResponseKind::CreatePartitions(create_partitions::handle(self, r, version, now_ms))
            }
            RequestKind::DeleteRecords(r) => ResponseKind::DeleteRecords(delete_records::handle(self, r, now_ms)),
            RequestKind::OffsetForLeaderEpoch(r) => {
                ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(self, r))
            }
            RequestKind::DescribeConfigs(r) => {
                ResponseKind::DescribeConfigs(describe_configs::handle(self, r, version))
            }
            RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(alter_configs::handle(self, r, now_ms)),
            RequestKind::IncrementalAlterConfigs(r) => {
                ResponseKind::IncrementalAlterConfigs(incremental_alter_configs::handle(self, r, now_ms))
            }
            RequestKind::DescribeCluster(r) => {
                ResponseKind::DescribeCluster(describe_cluster::handle(self, r, version))
            }
            // decode_request refuses APIs potok does not advertise, so nothing else reaches here.
            _ => return None,
        })
    }

    /// Answers a Fetch with what is available now, and the number of record bytes in it (the network layer
    /// compares that with `min_bytes` to decide whether to wait).
    pub fn fetch(&self, request: &FetchRequest, version: i16) -> (FetchResponse, usize) {
        fetch::handle(self, request, version)
    }

    /// Periodic work: flush by `flush.ms`; with `retention`, delete segments outside retention; with
    /// `checkpoint`, write the recovery-point and log-start-offset checkpoints.
    pub fn tick(&self, now_ms: i64, retention: bool, checkpoint: bool) -> Result<(), StorageError> {
        let state = self.read();
        // Every append is acknowledged only once the single replica has it: the high watermark is the log end.
        state.logs.tick(now_ms, retention, |_, log| log.log_end_offset())?;
        if checkpoint {
            state.logs.checkpoint()?;
        }
        Ok(())
    }

    /// Flushes and closes everything so the next start has nothing to recover.
    pub fn shutdown(self, now_ms: i64) -> Result<(), BrokerError> {
        let state = self.state.into_inner().unwrap_or_else(PoisonError::into_inner);
        state.metadata.close(now_ms)?;
        state.logs.close(now_ms)?;
        Ok(())
    }

    /// Applies metadata records and creates or removes logs to match.
    fn commit_metadata(&self, records: &[MetadataRecord], now_ms: i64) -> Result<(), BrokerError> {
        let mut state = self.write();
        state.metadata.commit(records, now_ms)?;
        let image = state.metadata.image().clone();
        for rec in records {
            match rec {
                MetadataRecord::Topic { name, .. } | MetadataRecord::Partitions { name, .. } => {
                    if let Some(topic) = image.topics.get(name) {
                        self.ensure_logs(&mut state, topic, &image.broker_configs, now_ms)?;
                    }
                }
                MetadataRecord::TopicConfigs { name, .. } => {
                    if let Some(topic) = image.topics.get(name) {
                        self.apply_log_configs(&state, topic, &image.broker_configs);
                    }
                }
                MetadataRecord::BrokerConfigs { .. } => {
                    for topic in image.topics.values() {
                        self.apply_log_configs(&state, topic, &image.broker_configs);
                    }
                }
                MetadataRecord::RemoveTopic { name } => {
                    let doomed: Vec<TopicPartition> =
                        state.logs.partitions().filter(|tp| &tp.topic == name).cloned().collect();
                    for tp in doomed {
                        state.logs.delete(&tp)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn apply_log_configs(&self, state: &State, topic: &TopicImage, broker_configs: &BTreeMap<String, String>) {
        let config = topic_config::log_config(&topic.configs, &self.config, broker_configs);
        for p in &topic.partitions {
            if let Some(log) = state.logs.get(&TopicPartition { topic: topic.name.clone(), partition: p.partition }) {
                storage::lock(&log).set_config(config.clone());
            }
        }
    }

    /// Creates a topic (used by CreateTopics and by auto-creation).
    fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Uuid, BrokerError> {
        let id = self.write().ids.uuid();
        let record =
            MetadataRecord::Topic { name: name.to_string(), id, partitions, leader: self.config.node_id, configs };
        self.commit_metadata(&[record], now_ms)?;
        Ok(id)
    }

    fn min_insync_replicas(&self, topic: &TopicImage, image: &MetadataImage) -> i32 {
        topic_config::value_of("min.insync.replicas", &topic.configs, &self.config, &image.broker_configs)
            .parse()
            .unwrap_or(1)
    }
}

/// The Kafka error code for a storage failure at the request boundary.
pub(crate) fn storage_error_code(e: &StorageError) -> ResponseError {
    match e {
        StorageError::InvalidBatch(RecordError::InvalidRecord(_) | RecordError::RecordCountMismatch { .. }) => {
            ResponseError::InvalidRecord
        }
        StorageError::InvalidBatch(RecordError::UnsupportedMagic(_)) => ResponseError::UnsupportedForMessageFormat,
        StorageError::InvalidBatch(_) => ResponseError::CorruptMessage,
        StorageError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        StorageError::RecordListTooLarge { .. } => ResponseError::RecordListTooLarge,
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::InvalidTopicPartition(_) => ResponseError::InvalidTopicException,
        StorageError::InvalidConfig { .. } => ResponseError::InvalidConfig,
        StorageError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        StorageError::Io { .. } | StorageError::Corrupt { .. } => ResponseError::KafkaStorageError,
    }
}

/// What a client may do with a topic, as the bit set Metadata reports when asked (`1 << AclOperation`).
/// Without an authorizer, Kafka allows every operation the resource type supports: READ, WRITE, CREATE,
/// DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS and ALTER_CONFIGS.
pub(crate) const TOPIC_AUTHORIZED_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
/// The same for the cluster: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS and
/// IDEMPOTENT_WRITE.
pub(crate) const CLUSTER_AUTHORIZED_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);
/// The value Kafka sends when authorized operations were not asked for.
pub(crate) const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Validates a topic name as Kafka does, with Kafka's message.
pub(crate) fn check_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > storage::MAX_TOPIC_NAME_LEN {
        return Err(format!(
            "Topic name is illegal, it can't be longer than {} characters",
            storage::MAX_TOPIC_NAME_LEN
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}
