//! The broker: Kafka requests in, responses out, over the metadata image and the partitions' replicas.
//!
//! One file per Kafka API turns a decoded request into calls on the state below and builds the response.
//! Handlers are synchronous and take the time as `now_ms`. A request that must wait — a long-polling Fetch, a
//! JoinGroup or SyncGroup until its group is ready — is parked: the purgatory (or the group coordinator)
//! completes it on an event or at its deadline, and [`Broker::take_completions`] hands the answers out.
//! [`Broker::poll`] runs the time-driven work and says when it is next due; the network layer (`net`) only
//! calls it and moves bytes.
//!
//! Coordinator state is applied after its records are stored (apply after persist): a failed write leaves
//! nothing behind and the client gets the error.
//!
//! Locking: `state` (metadata and the set of replicas) is a read-write lock taken briefly; each partition has
//! its own locks, so appends to different partitions run in parallel. The transaction coordinator is taken
//! before the group coordinator, which is taken before `state` or any partition; the purgatory is taken
//! before `state`'s read lock and partitions, never while holding them.

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod api_versions;
pub mod config;
mod consumer_group_describe;
mod consumer_group_heartbeat;
mod coordinator_io;
mod delete_groups;
mod delete_records;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_quorum;
mod describe_transactions;
mod end_txn;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod lifecycle;
mod list_groups;
mod list_offsets;
mod list_transactions;
mod log_cleaner;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod purgatory;
mod replication;
mod sync_group;
pub use crate::controller::topic_config;
mod topic_creation;
mod txn_io;
mod txn_offset_commit;
mod write_txn_markers;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{FetchRequest, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

pub use config::{BrokerConfig, ConfigError, Listener, ProcessRoles, Voter};
pub use coordinator_io::OFFSETS_TOPIC;
pub use replication::ReplicaFetch;
pub use txn_io::{MarkerCall, TRANSACTION_STATE_TOPIC};

use crate::coordinator::group::{Completion, GroupConfig, GroupCoordinator, Token};
use crate::coordinator::transaction::{TransactionCoordinator, TxnConfig};
use purgatory::{DelayedOp, Purgatory};

use crate::controller::{
    self, IdGenerator, MetadataError, MetadataImage, MetadataRecord, MetadataStore, PartitionImage, TopicImage,
};
use crate::controller::{ControllerResult, QuorumController};
use crate::partition::{Partition, PartitionError, ReplicaManager};
use crate::protocol::{FileRecords, Request};
use crate::record::RecordError;
use crate::storage::{self, Backend, LogManager, StorageError, TopicPartition};

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
    #[error("log.dirs {0} is not a directory")]
    NotADirectory(PathBuf),
    /// Kafka's message for a log directory another broker holds.
    #[error("Failed to acquire lock on file .lock in {0}. A Kafka instance in another process or thread is using this directory.")]
    LogDirLocked(PathBuf),
    #[error("the controller is not available")]
    ControllerUnavailable,
    #[error("the controller refused: {message}")]
    Controller { error: ResponseError, message: String },
}

struct State {
    metadata: MetadataStore,
    replicas: ReplicaManager,
}

/// A broker's state and request handling, independent of any network.
pub struct Broker {
    config: BrokerConfig,
    advertised: Listener,
    cluster_id: String,
    backend: Arc<dyn Backend>,
    log_dir: PathBuf,
    state: RwLock<State>,
    /// Taken before `groups`, `state` or any log when several are needed, never after.
    txns: Mutex<TransactionCoordinator>,
    /// Taken before `state` or any log when both are needed, never after.
    groups: Mutex<GroupCoordinator>,
    /// The next producer id to hand out and the end of the reserved block.
    producer_ids: Mutex<(i64, i64)>,
    /// The log cleaner's bookkeeping (`cleaner-offset-checkpoint`, logs being cleaned).
    cleaner: storage::cleaner::LogCleaner,
    /// Serializes metadata commits, with the logs they create (see `topic_creation`); readers never take it.
    creation: Mutex<()>,
    /// The exclusive lock on `<log dir>/.lock`, held until the broker is dropped.
    _dir_lock: storage::LockGuard,
    /// Requests waiting for an event or their deadline. While it is held, `state`'s read lock and partitions'
    /// locks may be taken (to check whether a waiting request can be answered), so it is never taken while
    /// holding either.
    purgatory: Mutex<Purgatory>,
    /// Answers to parked requests that the purgatory decided, for [`Broker::take_completions`].
    completions: Mutex<Vec<(Token, ResponseKind, FileRecords)>>,
    /// Whether Fetch answers may leave records in segment files (see [`Broker::set_zero_copy_fetch`]).
    zero_copy_fetch: std::sync::atomic::AtomicBool,
    /// Parked JoinGroup and SyncGroup requests and the `__consumer_offsets` partition their group writes to:
    /// the group coordinator's answer waits there until the in-sync replicas have the group's records.
    group_waits: Mutex<HashMap<Token, TopicPartition>>,
    /// When the periodic work is next due.
    schedule: Mutex<Schedule>,
    /// The quorum controller, when this broker is the only controller and keeps the metadata log itself.
    controller: Option<Mutex<QuorumController>>,
    /// This broker's registration with the controller.
    lifecycle: Mutex<lifecycle::Lifecycle>,
    /// Requests for a controller elsewhere.
    outbox: Mutex<lifecycle::Outbox>,
    /// The quorum's active controller as last heard (-1: unknown, or this broker is the only controller).
    active_controller: std::sync::atomic::AtomicI32,
    /// Followed partitions resting after a failed fetch, until the time given.
    fetch_backoff: Mutex<BTreeMap<TopicPartition, i64>>,
    /// The `__consumer_offsets` partitions whose groups the group coordinator holds (those this broker leads).
    loaded_group_partitions: Mutex<std::collections::BTreeSet<i32>>,
    /// The same for `__transaction_state` and the transaction coordinator.
    loaded_txn_partitions: Mutex<std::collections::BTreeSet<i32>>,
    /// Transaction markers on their way to other brokers. Taken after `txns`, before `groups` and `state`.
    markers: Mutex<txn_io::Markers>,
}

/// Kafka's `offsets.commit.timeout.ms`: how long a coordinator's write waits for the in-sync replicas.
const OFFSETS_COMMIT_TIMEOUT_MS: i64 = 5_000;
/// How often group sessions, rebalance deadlines and transaction timeouts are checked.
const GROUP_TICK_MS: i64 = 100;
/// How often the recovery-point, log-start-offset and high-watermark checkpoints are written (Kafka's
/// `log.flush.offset.checkpoint.interval.ms` default).
const CHECKPOINT_INTERVAL_MS: i64 = 60_000;

/// When each kind of periodic work is next due.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    housekeeping_ms: i64,
    retention_ms: i64,
    checkpoint_ms: i64,
    /// The next check for followers to drop from the ISR.
    isr_check_ms: i64,
}

/// Who sent a request and how to find its answer if it is parked.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// Identifies a parked JoinGroup or SyncGroup in [`Broker::take_completions`].
    pub token: Token,
    pub client_id: String,
    /// The peer address as Kafka shows it (`/127.0.0.1`).
    pub client_host: String,
    /// The request came in on a controller listener (`controller.listener.names`), where Kafka's controller
    /// answers rather than its broker.
    pub controller_listener: bool,
}

/// What became of a request. (Nearly every request ends in `Respond`, so boxing it would only add an
/// allocation per request.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    Respond(ResponseKind),
    /// A Fetch answer whose records are partly in segment files, for a connection that sends them from there
    /// (only with [`Broker::set_zero_copy_fetch`]).
    RespondWithFiles(ResponseKind, FileRecords),
    /// No response is due (Produce with acks=0).
    NoResponse,
    /// The answer comes later from [`Broker::take_completions`] under the request's token.
    Parked,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("node_id", &self.config.node_id).field("log_dir", &self.log_dir).finish()
    }
}

const META_PROPERTIES: &str = "meta.properties";
/// Kafka's lock file in each log directory.
const LOCK_FILE: &str = ".lock";

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
        if backend.exists(log_dir) && !backend.is_dir(log_dir) {
            return Err(BrokerError::NotADirectory(log_dir.to_path_buf()));
        }
        backend.create_dir_all(log_dir).map_err(|e| StorageError::io(log_dir, e))?;
        // One broker per log directory, as Kafka enforces: two writing the same files lose data.
        let dir_lock = match backend.lock(&log_dir.join(LOCK_FILE)) {
            Ok(guard) => guard,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(BrokerError::LogDirLocked(log_dir.to_path_buf()))
            }
            Err(e) => return Err(StorageError::io(&log_dir.join(LOCK_FILE), e).into()),
        };
        let mut ids = IdGenerator::new(seed);
        let cluster_id = Self::load_or_write_meta_properties(backend.as_ref(), log_dir, &config, &mut ids)?;
        let metadata = if config.controller_quorum_voters.is_empty() {
            MetadataStore::open(backend.clone(), log_dir, config.metadata_snapshot_max_bytes, now_ms)?
        } else {
            MetadataStore::detached()
        };
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
        let replicas = ReplicaManager::new(logs, config.node_id);
        let group_config = GroupConfig {
            min_session_timeout_ms: config.group_min_session_timeout_ms,
            max_session_timeout_ms: config.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
            offsets_retention_ms: config.offsets_retention_minutes.saturating_mul(60_000),
            offset_metadata_max_bytes: config.offset_metadata_max_bytes.max(0) as usize,
            max_size: config.group_max_size.max(1) as usize,
        };
        let groups = Mutex::new(GroupCoordinator::new(group_config, ids.next_u64()));
        let txns = Mutex::new(TransactionCoordinator::new(TxnConfig {
            max_timeout_ms: config.transaction_max_timeout_ms,
            id_expiration_ms: config.transactional_id_expiration_ms,
            abort_check_interval_ms: config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
            expiry_check_interval_ms: config.transaction_remove_expired_transaction_cleanup_interval_ms,
        }));
        let cleaner = storage::cleaner::LogCleaner::open(backend.clone(), log_dir);
        let retention_check_interval_ms = config.log_retention_check_interval_ms;
        let isr_check_interval_ms = (config.replica_lag_time_max_ms / 2).max(1);
        // No controllers listed: this broker is the cluster's only controller.
        let controller = config
            .controller_quorum_voters
            .is_empty()
            .then(|| Mutex::new(QuorumController::new(config.clone(), cluster_id.clone(), ids.next_u64())));
        let lifecycle = Mutex::new(lifecycle::Lifecycle {
            incarnation_id: ids.uuid(),
            broker_epoch: -1,
            next_heartbeat_ms: now_ms,
            fenced: true,
            shutting_down: false,
            may_stop: false,
            in_flight: false,
            following: controller.is_some(),
        });
        let broker = Broker {
            config,
            advertised,
            cluster_id,
            backend,
            log_dir: log_dir.to_path_buf(),
            state: RwLock::new(State { metadata, replicas }),
            txns,
            groups,
            producer_ids: Mutex::new((0, 0)),
            cleaner,
            creation: Mutex::new(()),
            _dir_lock: dir_lock,
            purgatory: Mutex::new(Purgatory::default()),
            completions: Mutex::new(Vec::new()),
            zero_copy_fetch: std::sync::atomic::AtomicBool::new(false),
            group_waits: Mutex::new(HashMap::new()),
            schedule: Mutex::new(Schedule {
                housekeeping_ms: now_ms,
                retention_ms: now_ms + retention_check_interval_ms,
                checkpoint_ms: now_ms + CHECKPOINT_INTERVAL_MS,
                isr_check_ms: now_ms + isr_check_interval_ms,
            }),
            controller,
            lifecycle,
            outbox: Mutex::new(lifecycle::Outbox::default()),
            active_controller: std::sync::atomic::AtomicI32::new(-1),
            fetch_backoff: Mutex::new(BTreeMap::new()),
            loaded_group_partitions: Mutex::new(std::collections::BTreeSet::new()),
            loaded_txn_partitions: Mutex::new(std::collections::BTreeSet::new()),
            markers: Mutex::new(txn_io::Markers::default()),
        };
        if broker.is_cluster_member() {
            // The image comes from the quorum; the logs are matched to it once the broker has caught up.
            return Ok(broker);
        }
        broker.reconcile_logs(now_ms)?;
        broker.activate_controller(now_ms);
        broker.start_lifecycle(now_ms)?;
        broker.load_groups(now_ms)?;
        broker.load_transactions(now_ms)?;
        Ok(broker)
    }

    /// Makes the replicas match the metadata at start-up: a log for every partition this broker hosts, none
    /// for partitions it does not (a crash can fall between a metadata record and the file work).
    fn reconcile_logs(&self, now_ms: i64) -> Result<(), BrokerError> {
        let mut state = self.write();
        let image = state.metadata.image().clone();
        let node_id = self.config.node_id;
        let existing: Vec<TopicPartition> = state.replicas.partitions().map(|(tp, _)| tp.clone()).collect();
        for tp in existing {
            let hosted = image
                .topics
                .get(&tp.topic)
                .and_then(|t| t.partition(tp.partition))
                .is_some_and(|p| p.replicas.contains(&node_id));
            if !hosted {
                state.replicas.delete(&tp)?;
            }
        }
        // A crash soon after a partition was made can leave its `partition.metadata` unwritten; Kafka writes a
        // missing one when it loads the log, and so does potok.
        let mut unwritten = Vec::new();
        for (tp, partition) in state.replicas.partitions() {
            let Some(topic) = image.topics.get(&tp.topic) else { continue };
            let mut log = partition.log();
            if !self.backend.exists(&log.dir().join(storage::PARTITION_METADATA)) {
                log.set_partition_metadata(Some(topic_creation::partition_metadata(&topic.id)));
                unwritten.push(partition.shared_log().clone());
            }
        }
        self.follow_image(&mut state, &MetadataImage::default(), &image, now_ms)?;
        topic_creation::write_partition_metadata_later(unwritten);
        Ok(())
    }

    /// Makes the replicas follow a change of the metadata image (Kafka's broker metadata publisher): logs are
    /// created for partitions this broker now hosts and removed for those it no longer hosts or whose topic
    /// is gone; replicas lead or follow as their partition says; changed configs reach the logs.
    fn follow_image(
        &self,
        state: &mut State,
        before: &MetadataImage,
        after: &MetadataImage,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let node_id = self.config.node_id;
        let hosted = |t: &TopicImage, p: &PartitionImage| p.replicas.contains(&node_id) && !t.name.is_empty();
        for old in before.topics.values() {
            let new = after.topics.get(&old.name).filter(|t| t.id == old.id);
            for p in old.partitions.iter().filter(|p| hosted(old, p)) {
                let still = new.and_then(|t| t.partition(p.partition)).is_some_and(|np| np.replicas.contains(&node_id));
                if !still {
                    state.replicas.delete(&TopicPartition { topic: old.name.clone(), partition: p.partition })?;
                }
            }
        }
        // One walk over the new image: the replicas this broker gains, and what changed for the ones it hosts.
        // A partition the image did not change, in a topic whose configs did not change either, needs nothing.
        let broker_configs_changed = before.broker_configs != after.broker_configs;
        let mut wanted = Vec::new();
        let mut changed = Vec::new();
        for topic in after.topics.values() {
            let old = before.topics.get(&topic.name).filter(|t| t.id == topic.id);
            let configs_changed = broker_configs_changed || old.is_none_or(|o| o.configs != topic.configs);
            let mut config = None;
            for p in topic.partitions.iter().filter(|p| hosted(topic, p)) {
                let moved = old.and_then(|o| o.partition(p.partition)) != Some(p);
                if !moved && !configs_changed {
                    continue;
                }
                let tp = TopicPartition::new(&topic.name, p.partition)?;
                let config = config.get_or_insert_with(|| {
                    topic_config::log_config(&topic.configs, &self.config, &after.broker_configs)
                });
                if moved && state.replicas.get(&tp).is_none() {
                    wanted.push((tp.clone(), topic.id, config.clone()));
                }
                changed.push((tp, configs_changed.then(|| config.clone()), moved.then_some(p)));
            }
        }
        // The files of the replicas gained are made side by side (creating a log waits on the disk), as a topic's
        // logs are on a single node, then registered.
        let mut failed = None;
        let made = storage::parallel_map(wanted, |(tp, topic_id, config)| {
            let result = self.create_partition_files(&tp, &topic_id, &config, now_ms);
            (tp, result)
        });
        let mut registered = Vec::new();
        for (tp, result) in made {
            match result {
                Ok(log) => {
                    registered.push(state.replicas.register(tp, log)?.shared_log().clone());
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        for (tp, config, leadership) in changed {
            // None: its creation failed above (reported once the rest is applied).
            let Some(partition) = state.replicas.get(&tp) else { continue };
            if let Some(config) = config {
                partition.log().set_config(config);
            }
            if let Some(p) = leadership {
                self.apply_leadership(&partition, p, now_ms);
            }
        }
        // After the leadership changes, which take each log's lock the writer would hold.
        topic_creation::write_partition_metadata_later(registered);
        failed.map_or(Ok(()), Err)
    }

    /// Makes a replica lead or follow as the metadata says.
    fn apply_leadership(&self, partition: &Partition, p: &PartitionImage, now_ms: i64) {
        if p.leader == self.config.node_id {
            partition.make_leader(p.leader_epoch, p.partition_epoch, p.replicas.clone(), p.isr.clone(), now_ms);
        } else {
            partition.make_follower(p.leader, p.leader_epoch, p.partition_epoch, p.replicas.clone(), p.isr.clone());
        }
    }

    fn load_or_write_meta_properties(
        backend: &dyn Backend,
        log_dir: &Path,
        config: &BrokerConfig,
        ids: &mut IdGenerator,
    ) -> Result<String, BrokerError> {
        let node_id = config.node_id;
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
                // Unformatted nodes of one cluster agree on an id without talking: it derives from the voters
                // they all list (`potok storage format -t` or Kafka's tool sets one explicitly).
                let cluster_id = if config.controller_quorum_voters.is_empty() {
                    controller::uuid_to_base64(&ids.uuid())
                } else {
                    let voters: Vec<String> = config
                        .controller_quorum_voters
                        .iter()
                        .map(|v| format!("{}@{}:{}", v.id, v.host, v.port))
                        .collect();
                    let hash = voters
                        .join(",")
                        .bytes()
                        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
                    controller::uuid_to_base64(&IdGenerator::new(hash).uuid())
                };
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

    /// The id clients are told is the controller. Kafka 4 tells them a random live broker (clients cannot
    /// reach the controllers); potok tells them the active controller when it is a live broker too (combined
    /// nodes, process.roles=broker,controller), so `kcat -L` shows where the controller is, and itself otherwise.
    pub fn controller_id(&self) -> i32 {
        match self.active_controller.load(std::sync::atomic::Ordering::Relaxed) {
            id if id >= 0 && self.metadata().brokers.contains_key(&id) => id,
            _ => self.config.node_id,
        }
    }

    /// The node leading the controller quorum, when known (itself for a cluster of one).
    pub fn quorum_leader(&self) -> Option<i32> {
        if !self.is_cluster_member() {
            return Some(self.config.node_id);
        }
        Some(self.active_controller.load(std::sync::atomic::Ordering::Relaxed)).filter(|id| *id >= 0)
    }

    /// Notes which node is the active controller (a cluster member's runtime tells it as the quorum elects).
    pub fn set_active_controller(&self, id: Option<i32>) {
        self.active_controller.store(id.unwrap_or(-1), std::sync::atomic::Ordering::Relaxed);
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current metadata image (a shared handle: cheap to take on every request).
    pub fn metadata(&self) -> Arc<MetadataImage> {
        self.read().metadata.image().clone()
    }

    /// The replica of a partition, if the broker hosts it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let tp = TopicPartition { topic: topic.to_string(), partition };
        self.read().replicas.get(&tp)
    }

    /// The replicas this broker hosts, in topic and partition order.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        let state = self.read();
        let mut replicas: Vec<(TopicPartition, Arc<Partition>)> =
            state.replicas.partitions().map(|(tp, p)| (tp.clone(), p.clone())).collect();
        replicas.sort_by(|a, b| a.0.cmp(&b.0));
        replicas.into_iter().map(|(_, p)| p).collect()
    }

    /// Reads the coordinators' state (groups, committed offsets, transactions), for tools that show it. Both are
    /// locked for the call, in the broker's lock order; `f` must not call back into the broker.
    pub fn inspect_coordinators<R>(&self, f: impl FnOnce(&GroupCoordinator, &TransactionCoordinator) -> R) -> R {
        let txns = self.txns();
        let groups = self.groups();
        f(&groups, &txns)
    }

    /// Handles one request. A Fetch that must wait for data, and JoinGroup and SyncGroup until their group is
    /// ready, are parked: their answers come from [`Broker::take_completions`] under the request's token.
    pub fn handle(&self, request: Request, ctx: &RequestContext, now_ms: i64) -> Outcome {
        let written = self.coordinator_partition(&request.body);
        let outcome = match self.dispatch(request, ctx, now_ms) {
            Outcome::Respond(response) => match written {
                Some(tp) => self.respond_when_replicated(response, tp, ctx.token, now_ms),
                None => Outcome::Respond(response),
            },
            Outcome::Parked => {
                if let Some(tp) = written {
                    self.group_waits.lock().unwrap_or_else(PoisonError::into_inner).insert(ctx.token, tp);
                }
                Outcome::Parked
            }
            other => other,
        };
        self.hold_group_answers(now_ms);
        self.complete_delayed(now_ms);
        outcome
    }

    /// Takes the group coordinator's answers to parked JoinGroup and SyncGroup requests: each waits, as an
    /// immediate answer does, until the in-sync replicas of its group's partition have what the leader has
    /// now (Kafka's coordinator answers once its writes are committed).
    pub(super) fn hold_group_answers(&self, now_ms: i64) {
        let answers = self.groups().take_completions();
        for (token, completion) in answers {
            let response = match completion {
                Completion::Join(r) => ResponseKind::JoinGroup(r),
                Completion::Sync(r) => ResponseKind::SyncGroup(r),
            };
            let tp = self.group_waits.lock().unwrap_or_else(PoisonError::into_inner).remove(&token);
            let outcome = match tp {
                Some(tp) => self.respond_when_replicated(response, tp, token, now_ms),
                None => Outcome::Respond(response),
            };
            if let Outcome::Respond(response) = outcome {
                self.completions.lock().unwrap_or_else(PoisonError::into_inner).push((
                    token,
                    response,
                    FileRecords::default(),
                ));
            }
        }
    }

    /// The internal partition a coordinator request writes to: the group's `__consumer_offsets` partition for
    /// offset commits, the transactional id's `__transaction_state` partition for transaction requests.
    fn coordinator_partition(&self, body: &RequestKind) -> Option<TopicPartition> {
        let (topic, key) = match body {
            RequestKind::OffsetCommit(r) => (OFFSETS_TOPIC, r.group_id.0.to_string()),
            RequestKind::TxnOffsetCommit(r) => (OFFSETS_TOPIC, r.group_id.0.to_string()),
            RequestKind::EndTxn(r) => (TRANSACTION_STATE_TOPIC, r.transactional_id.0.to_string()),
            RequestKind::AddOffsetsToTxn(r) => (TRANSACTION_STATE_TOPIC, r.transactional_id.0.to_string()),
            RequestKind::AddPartitionsToTxn(r) => {
                (TRANSACTION_STATE_TOPIC, r.v3_and_below_transactional_id.0.to_string())
            }
            RequestKind::InitProducerId(r) => (TRANSACTION_STATE_TOPIC, r.transactional_id.as_ref()?.0.to_string()),
            // Group membership changes write the group's records too (Kafka answers once they are committed).
            RequestKind::JoinGroup(r) => (OFFSETS_TOPIC, r.group_id.0.to_string()),
            RequestKind::SyncGroup(r) => (OFFSETS_TOPIC, r.group_id.0.to_string()),
            RequestKind::LeaveGroup(r) => (OFFSETS_TOPIC, r.group_id.0.to_string()),
            RequestKind::OffsetDelete(r) => (OFFSETS_TOPIC, r.group_id.0.to_string()),
            RequestKind::ConsumerGroupHeartbeat(r) => (OFFSETS_TOPIC, r.group_id.0.to_string()),
            _ => return None,
        };
        self.internal_partition(topic, &key)
    }

    /// Answers a coordinator request once every in-sync replica of the internal partition it wrote to has what
    /// the leader has now, as Kafka's coordinators append with acks=all (at most `offsets.commit.timeout.ms`,
    /// then COORDINATOR_NOT_AVAILABLE, which clients retry). A partition all caught up answers at once.
    fn respond_when_replicated(
        &self,
        response: ResponseKind,
        tp: TopicPartition,
        token: Token,
        now_ms: i64,
    ) -> Outcome {
        let Some(replica) = self.partition(&tp.topic, tp.partition) else { return Outcome::Respond(response) };
        let required = replica.log_end_offset();
        if !replica.is_leader() || replica.high_watermark() >= required {
            self.promote_commits([&tp]);
            return Outcome::Respond(response);
        }
        let deadline_ms = now_ms.saturating_add(OFFSETS_COMMIT_TIMEOUT_MS);
        let op = DelayedOp::Replicated { response, tp: tp.clone(), required };
        self.purgatory().park(token, op, vec![tp], deadline_ms);
        self.try_complete(token, false, now_ms);
        Outcome::Parked
    }

    fn dispatch(&self, request: Request, ctx: &RequestContext, now_ms: i64) -> Outcome {
        let version = request.header.request_api_version;
        if let Some(answer) = self.not_coordinator(&request.body) {
            return Outcome::Respond(answer);
        }
        Outcome::Respond(match request.body {
            RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::handle(r, version)),
            RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(self, r, version, now_ms)),
            RequestKind::Produce(r) => {
                return match produce::handle(self, r, version, now_ms) {
                    produce::Produced::Respond(response) => Outcome::Respond(ResponseKind::Produce(response)),
                    produce::Produced::NoResponse => Outcome::NoResponse,
                    produce::Produced::Wait(waiting) => {
                        // acks=all: the answer waits until the ISR has the batches (Kafka's DelayedProduce).
                        let watched = waiting.partitions();
                        tracing::trace!(target: "potok::replication", "acks=all produce {} waits for {watched:?}", ctx.token);
                        let deadline_ms = now_ms.saturating_add(waiting.timeout_ms);
                        self.purgatory().park(ctx.token, DelayedOp::Produce(waiting), watched, deadline_ms);
                        self.try_complete(ctx.token, false, now_ms);
                        Outcome::Parked
                    }
                };
            }
            RequestKind::Fetch(r) => return self.fetch_or_park(r, version, ctx.token, now_ms),
            RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(list_offsets::handle(self, r, version)),
            r @ (RequestKind::CreateTopics(_)
            | RequestKind::DeleteTopics(_)
            | RequestKind::CreatePartitions(_)
            | RequestKind::AlterConfigs(_)
            | RequestKind::IncrementalAlterConfigs(_)
            | RequestKind::ElectLeaders(_)
            | RequestKind::AlterPartitionReassignments(_)
            | RequestKind::ListPartitionReassignments(_)) => {
                if self.is_cluster_member() {
                    self.forward_remote(r, version, ctx.token);
                    return Outcome::Parked;
                }
                return self.forward_to_controller(r, version, now_ms);
            }
            RequestKind::DeleteRecords(r) => ResponseKind::DeleteRecords(delete_records::handle(self, r, now_ms)),
            RequestKind::OffsetForLeaderEpoch(r) => {
                ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(self, r))
            }
            RequestKind::DescribeConfigs(r) => {
                ResponseKind::DescribeConfigs(describe_configs::handle(self, r, version))
            }

            RequestKind::DescribeQuorum(r) => {
                if self.is_cluster_member() {
                    self.forward_remote(RequestKind::DescribeQuorum(r), version, ctx.token);
                    return Outcome::Parked;
                }
                ResponseKind::DescribeQuorum(describe_quorum::handle(self, now_ms))
            }
            RequestKind::DescribeCluster(r) => {
                ResponseKind::DescribeCluster(describe_cluster::handle(self, r, version, ctx.controller_listener))
            }
            RequestKind::InitProducerId(r) => {
                ResponseKind::InitProducerId(init_producer_id::handle(self, r, version, now_ms))
            }
            RequestKind::AddPartitionsToTxn(r) => {
                ResponseKind::AddPartitionsToTxn(add_partitions_to_txn::handle(self, r, version, now_ms))
            }
            RequestKind::AddOffsetsToTxn(r) => {
                ResponseKind::AddOffsetsToTxn(add_offsets_to_txn::handle(self, r, version, now_ms))
            }
            RequestKind::TxnOffsetCommit(r) => {
                ResponseKind::TxnOffsetCommit(txn_offset_commit::handle(self, r, version, now_ms))
            }
            RequestKind::EndTxn(r) => ResponseKind::EndTxn(end_txn::handle(self, r, version, now_ms)),
            RequestKind::WriteTxnMarkers(r) => {
                return match write_txn_markers::handle(self, r, now_ms) {
                    write_txn_markers::Written::Respond(response) => {
                        Outcome::Respond(ResponseKind::WriteTxnMarkers(response))
                    }
                    write_txn_markers::Written::Wait(waiting) => {
                        let watched = waiting.partitions();
                        let deadline_ms = now_ms.saturating_add(write_txn_markers::MARKER_REPLICATION_TIMEOUT_MS);
                        self.purgatory().park(ctx.token, DelayedOp::Markers(waiting), watched, deadline_ms);
                        self.try_complete(ctx.token, false, now_ms);
                        Outcome::Parked
                    }
                };
            }
            RequestKind::DescribeTransactions(r) => {
                ResponseKind::DescribeTransactions(describe_transactions::handle(self, r))
            }
            RequestKind::ListTransactions(r) => {
                ResponseKind::ListTransactions(list_transactions::handle(self, r, now_ms))
            }
            RequestKind::FindCoordinator(r) => {
                ResponseKind::FindCoordinator(find_coordinator::handle(self, r, version, now_ms))
            }
            RequestKind::JoinGroup(r) => {
                join_group::handle(self, r, version, ctx, now_ms);
                return Outcome::Parked;
            }
            RequestKind::SyncGroup(r) => {
                sync_group::handle(self, r, version, ctx, now_ms);
                return Outcome::Parked;
            }
            RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(heartbeat::handle(self, r, now_ms)),
            RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(leave_group::handle(self, r, version, now_ms)),
            RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(offset_commit::handle(self, r, now_ms)),
            RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(offset_fetch::handle(self, r, version)),
            RequestKind::ListGroups(r) => ResponseKind::ListGroups(list_groups::handle(self, r, version)),
            RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(describe_groups::handle(self, r, version)),
            RequestKind::DeleteGroups(r) => ResponseKind::DeleteGroups(delete_groups::handle(self, r, now_ms)),
            RequestKind::OffsetDelete(r) => ResponseKind::OffsetDelete(offset_delete::handle(self, r, now_ms)),
            RequestKind::ConsumerGroupHeartbeat(r) => {
                ResponseKind::ConsumerGroupHeartbeat(consumer_group_heartbeat::handle(self, r, version, ctx, now_ms))
            }
            RequestKind::ConsumerGroupDescribe(r) => {
                ResponseKind::ConsumerGroupDescribe(consumer_group_describe::handle(self, r, version))
            }
            // decode_request refuses APIs potok does not advertise, so nothing else reaches here.
            _ => return Outcome::NoResponse,
        })
    }

    /// The answer to a request for one group this cluster member does not coordinate (the group's
    /// `__consumer_offsets` partition is led elsewhere): NOT_COORDINATOR, after which Kafka's clients look the
    /// coordinator up again.
    fn not_coordinator(&self, body: &RequestKind) -> Option<ResponseKind> {
        use kafka_protocol::messages::offset_commit_response::{
            OffsetCommitResponsePartition, OffsetCommitResponseTopic,
        };
        use kafka_protocol::messages::txn_offset_commit_response::{
            TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
        };
        use kafka_protocol::messages::*;
        if !self.is_cluster_member() {
            return None;
        }
        let group = match body {
            RequestKind::JoinGroup(r) => r.group_id.0.to_string(),
            RequestKind::SyncGroup(r) => r.group_id.0.to_string(),
            RequestKind::Heartbeat(r) => r.group_id.0.to_string(),
            RequestKind::LeaveGroup(r) => r.group_id.0.to_string(),
            RequestKind::OffsetCommit(r) => r.group_id.0.to_string(),
            RequestKind::TxnOffsetCommit(r) => r.group_id.0.to_string(),
            RequestKind::ConsumerGroupHeartbeat(r) => r.group_id.0.to_string(),
            _ => return None,
        };
        if self.coordinates_group(&group) {
            return None;
        }
        let e = ResponseError::NotCoordinator.code();
        Some(match body {
            RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(
                JoinGroupResponse::default()
                    .with_error_code(e)
                    .with_generation_id(-1)
                    .with_member_id(r.member_id.clone())
                    .with_protocol_name(Some(StrBytes::default())),
            ),
            RequestKind::SyncGroup(_) => ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(e)),
            RequestKind::Heartbeat(_) => ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(e)),
            RequestKind::LeaveGroup(_) => ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(e)),
            RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(
                OffsetCommitResponse::default().with_topics(
                    r.topics
                        .iter()
                        .map(|t| {
                            OffsetCommitResponseTopic::default()
                                .with_name(t.name.clone())
                                .with_topic_id(t.topic_id)
                                .with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|p| {
                                            OffsetCommitResponsePartition::default()
                                                .with_partition_index(p.partition_index)
                                                .with_error_code(e)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            ),
            RequestKind::TxnOffsetCommit(r) => ResponseKind::TxnOffsetCommit(
                TxnOffsetCommitResponse::default().with_topics(
                    r.topics
                        .iter()
                        .map(|t| {
                            TxnOffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        TxnOffsetCommitResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(e)
                                    })
                                    .collect(),
                            )
                        })
                        .collect(),
                ),
            ),
            RequestKind::ConsumerGroupHeartbeat(_) => {
                ResponseKind::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse::default().with_error_code(e))
            }
            _ => return None,
        })
    }

    /// Answers to parked requests, by token, with Fetch records read into the responses.
    pub fn take_completions(&self) -> Vec<(Token, ResponseKind)> {
        self.take_completions_with_files()
            .into_iter()
            .map(|(token, mut response, files)| {
                if let ResponseKind::Fetch(fetch) = &mut response {
                    files.materialize(fetch);
                }
                (token, response)
            })
            .collect()
    }

    /// Answers to parked requests, by token; a Fetch answer's records may be in segment files (see
    /// [`Outcome::RespondWithFiles`]).
    pub fn take_completions_with_files(&self) -> Vec<(Token, ResponseKind, FileRecords)> {
        // The group coordinator's answers are normally taken by `hold_group_answers` as they are decided; any
        // left go out as they are.
        let mut done: Vec<(Token, ResponseKind, FileRecords)> = self
            .groups()
            .take_completions()
            .into_iter()
            .map(|(token, c)| match c {
                Completion::Join(r) => (token, ResponseKind::JoinGroup(r), FileRecords::default()),
                Completion::Sync(r) => (token, ResponseKind::SyncGroup(r), FileRecords::default()),
            })
            .collect();
        if !done.is_empty() {
            let mut waits = self.group_waits.lock().unwrap_or_else(PoisonError::into_inner);
            for (token, _, _) in &done {
                waits.remove(token);
            }
        }
        done.append(&mut self.completions.lock().unwrap_or_else(PoisonError::into_inner));
        done
    }

    /// Forgets a parked request whose connection closed.
    pub fn cancel(&self, token: Token) {
        self.group_waits.lock().unwrap_or_else(PoisonError::into_inner).remove(&token);
        self.purgatory().remove(token);
    }

    fn purgatory(&self) -> std::sync::MutexGuard<'_, Purgatory> {
        self.purgatory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers a Fetch at once when it has `min_bytes` of records, an error, or may not wait; otherwise parks it
    /// until the partitions it reads change enough or `max_wait_ms` passes (Kafka's DelayedFetch).
    fn fetch_or_park(&self, request: FetchRequest, version: i16, token: Token, now_ms: i64) -> Outcome {
        let fetch::Answer { response, files, bytes, proposals } =
            fetch::handle(self, &request, version, now_ms, self.zero_copy_fetch());
        self.alter_isr(proposals, now_ms);
        let has_error = response.error_code != 0
            || response.responses.iter().any(|t| t.partitions.iter().any(|p| p.error_code != 0));
        if request.max_wait_ms <= 0 || bytes >= request.min_bytes.max(0) as usize || has_error {
            if files.is_empty() {
                return Outcome::Respond(ResponseKind::Fetch(response));
            }
            return Outcome::RespondWithFiles(ResponseKind::Fetch(response), files);
        }
        let watched = fetch::partitions(self, &request, version);
        // At most connections.max.idle.ms: Kafka's idle-connection expiry ends a longer wait (a client asking
        // for 2^31-1 ms would otherwise hold its slot for weeks).
        let wait_ms = i64::from(request.max_wait_ms).min(self.config.connections_max_idle_ms);
        let deadline_ms = now_ms.saturating_add(wait_ms);
        self.purgatory().park(token, DelayedOp::Fetch { request, version }, watched, deadline_ms);
        // Data that arrived between the read above and the parking completes it now rather than at the deadline.
        self.try_complete(token, false, now_ms);
        Outcome::Parked
    }

    /// Completes the waiting requests that the partitions changed since the last look may satisfy.
    fn complete_delayed(&self, now_ms: i64) {
        let changed = self.read().replicas.take_changed();
        if changed.is_empty() {
            return;
        }
        // Offset commits become visible before their answers go out.
        self.promote_commits(&changed);
        let candidates = self.purgatory().watching(&changed);
        for token in candidates {
            self.try_complete(token, false, now_ms);
        }
        // Transactions whose markers this broker wrote complete as soon as the markers are replicated.
        if self.markers_replicating(&changed) {
            let mut txns = self.txns();
            self.complete_transactions(&mut txns, now_ms);
        }
    }

    /// Answers a waiting request if it can be answered now (or, with `force`, regardless: its time is up).
    fn try_complete(&self, token: Token, force: bool, now_ms: i64) {
        let ready = match self.purgatory().get(token) {
            Some(DelayedOp::Fetch { request, version }) => force || fetch::satisfied(self, request, *version),
            Some(DelayedOp::Produce(waiting)) => force || produce::settled(self, waiting),
            Some(DelayedOp::Markers(waiting)) => force || write_txn_markers::settled(self, waiting),
            Some(DelayedOp::Replicated { tp, required, .. }) => {
                force || self.partition(&tp.topic, tp.partition).is_none_or(|r| r.replicated_to(*required, 1).is_some())
            }
            None => return,
        };
        if !ready {
            return;
        }
        // Whoever removes the operation answers it, so it is answered once.
        let Some(op) = self.purgatory().remove(token) else { return };
        let mut files = FileRecords::default();
        let response = match op {
            DelayedOp::Fetch { request, version } => {
                let answer = fetch::handle(self, &request, version, now_ms, self.zero_copy_fetch());
                self.alter_isr(answer.proposals, now_ms);
                files = answer.files;
                ResponseKind::Fetch(answer.response)
            }
            DelayedOp::Replicated { response, tp, required } => {
                self.promote_commits([&tp]);
                let replicated = self
                    .partition(&tp.topic, tp.partition)
                    .and_then(|r| r.replicated_to(required, 1))
                    .is_some_and(|r| r.is_ok());
                if replicated {
                    response
                } else {
                    tracing::warn!(target: "potok::coordinator", "{tp}: the in-sync replicas did not get the coordinator's write in time");
                    coordinator_not_available(response)
                }
            }
            DelayedOp::Markers(waiting) => {
                ResponseKind::WriteTxnMarkers(write_txn_markers::complete(self, waiting, now_ms))
            }
            DelayedOp::Produce(waiting) => {
                tracing::trace!(target: "potok::replication", "acks=all produce {token} answered: {:?}", waiting.partitions());
                ResponseKind::Produce(produce::complete(self, waiting))
            }
        };
        self.completions.lock().unwrap_or_else(PoisonError::into_inner).push((token, response, files));
    }

    /// Lets Fetch answers leave records in segment files, as [`Outcome::RespondWithFiles`] and
    /// [`Broker::take_completions_with_files`], for a connection that sends them to its socket from there
    /// (the network runtime does, on Linux). Off by default: every answer then carries its record bytes.
    pub fn set_zero_copy_fetch(&self, enabled: bool) {
        self.zero_copy_fetch.store(enabled, std::sync::atomic::Ordering::Relaxed);
    }

    fn zero_copy_fetch(&self) -> bool {
        self.zero_copy_fetch.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The broker's time-driven work: expires waiting requests, group and transaction housekeeping (every
    /// [`GROUP_TICK_MS`]), flushes, retention (every `log.retention.check.interval.ms`) and checkpoints. Returns
    /// the time by which it wants to be called again; calling it earlier is harmless.
    pub fn poll(&self, now_ms: i64) -> i64 {
        let expired = self.purgatory().expired(now_ms);
        for token in expired {
            self.try_complete(token, true, now_ms);
        }
        let mut schedule = *self.schedule.lock().unwrap_or_else(PoisonError::into_inner);
        if now_ms >= schedule.housekeeping_ms {
            self.group_tick(now_ms);
            self.hold_group_answers(now_ms);
            self.txn_tick(now_ms);
            self.lifecycle_tick(now_ms);
            schedule.housekeeping_ms = now_ms + GROUP_TICK_MS;
        }
        if now_ms >= schedule.isr_check_ms {
            self.shrink_isrs(now_ms);
            schedule.isr_check_ms = now_ms + (self.config.replica_lag_time_max_ms / 2).max(1);
        }
        let retention = now_ms >= schedule.retention_ms;
        let checkpoint = now_ms >= schedule.checkpoint_ms;
        if let Err(e) = self.tick(now_ms, retention, checkpoint) {
            tracing::error!("periodic flush/retention failed: {e}");
        }
        if retention {
            schedule.retention_ms = now_ms + self.config.log_retention_check_interval_ms;
        }
        if checkpoint {
            schedule.checkpoint_ms = now_ms + CHECKPOINT_INTERVAL_MS;
        }
        *self.schedule.lock().unwrap_or_else(PoisonError::into_inner) = schedule;
        self.complete_delayed(now_ms);
        let mut next =
            schedule.housekeeping_ms.min(schedule.retention_ms).min(schedule.checkpoint_ms).min(schedule.isr_check_ms);
        if let Some(deadline) = self.purgatory().next_deadline_ms() {
            next = next.min(deadline);
        }
        next
    }

    /// Group housekeeping: session expiry, rebalance deadlines, offset retention.
    fn group_tick(&self, now_ms: i64) {
        self.groups().consumer_tick(now_ms);
        let ids = self.groups().group_ids();
        for id in ids {
            // A group whose expiry or rebalance could not be stored stays as it was; the next tick tries again.
            self.change_groups(
                [id.as_str()],
                now_ms,
                |groups| groups.tick_group(&id, now_ms),
                |_, (), e| tracing::error!("writing group {id} to {OFFSETS_TOPIC} failed: {e:?}"),
            );
        }
    }

    /// Periodic work: flush by `flush.ms`; with `retention`, delete segments outside retention; with
    /// `checkpoint`, write the recovery-point and log-start-offset checkpoints.
    pub fn tick(&self, now_ms: i64, retention: bool, checkpoint: bool) -> Result<(), StorageError> {
        let state = self.read();
        state.replicas.tick(now_ms, retention)?;
        if checkpoint {
            state.replicas.checkpoint()?;
        }
        Ok(())
    }

    /// Flushes and closes everything so the next start has nothing to recover.
    pub fn shutdown(self, now_ms: i64) -> Result<(), BrokerError> {
        self.controlled_shutdown(now_ms)?;
        let state = self.state.into_inner().unwrap_or_else(PoisonError::into_inner);
        state.metadata.close(now_ms)?;
        state.replicas.close(now_ms)?;
        Ok(())
    }

    /// Applies committed metadata records to the image and makes the broker follow it.
    fn publish_metadata(
        &self,
        state: &mut State,
        records: &[MetadataRecord],
        base_offset: i64,
        now_ms: i64,
    ) -> Result<(), BrokerError> {
        let before = state.metadata.image().clone();
        state.metadata.apply(records, base_offset);
        state.metadata.maybe_snapshot(now_ms);
        let after = state.metadata.image().clone();
        self.follow_image(state, &before, &after, now_ms)?;
        Ok(())
    }

    /// Creates a topic (used by CreateTopics and by auto-creation).
    fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Uuid, BrokerError> {
        self.create_topic_with(name, partitions, -1, configs, now_ms)
    }

    /// Creates a topic through the controller (auto-creation, internal topics); `replication_factor` -1 is the
    /// default. Fails with the controller's error for the topic.
    fn create_topic_with(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        now_ms: i64,
    ) -> Result<Uuid, BrokerError> {
        use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
        let topic = CreatableTopic::default()
            .with_name(kafka_protocol::messages::TopicName(str_bytes(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default().with_name(str_bytes(k)).with_value(Some(str_bytes(v)))
                    })
                    .collect(),
            );
        let request =
            kafka_protocol::messages::CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(30_000);
        if self.is_cluster_member() {
            self.create_topic_remote(name, RequestKind::CreateTopics(request));
            return Err(BrokerError::ControllerUnavailable);
        }
        let answer = self
            .call_controller(RequestKind::CreateTopics(request), 7, now_ms)
            .ok_or(BrokerError::ControllerUnavailable)??;
        match answer {
            ResponseKind::CreateTopics(r) => match r.topics.first() {
                Some(t) if t.error_code == 0 => Ok(t.topic_id),
                Some(t) => Err(BrokerError::Controller {
                    error: ResponseError::try_from_code(t.error_code).unwrap_or(ResponseError::UnknownServerError),
                    message: t.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                }),
                None => Err(BrokerError::ControllerUnavailable),
            },
            _ => Err(BrokerError::ControllerUnavailable),
        }
    }

    /// Hands an admin request to the controller and answers with its response.
    /// When its records cannot be stored (a full disk, no descriptors left), the items it accepted fail with
    /// KAFKA_STORAGE_ERROR and nothing of the request is recorded.
    fn forward_to_controller(&self, request: RequestKind, version: i16, now_ms: i64) -> Outcome {
        let Some(mut controller) = self.controller() else { return Outcome::NoResponse };
        let image = self.metadata();
        let ControllerResult { records, response } = controller.handle(&image, request, version, now_ms);
        if records.is_empty() {
            return Outcome::Respond(response);
        }
        match self.commit_metadata(&records, now_ms) {
            Ok(()) => Outcome::Respond(response),
            Err(e) => {
                tracing::warn!(target: "potok::broker", "the controller's records could not be stored: {e}");
                let error = topic_creation::broker_error_code(&e);
                match topic_creation::fail_accepted(response, error, &e.to_string()) {
                    Some(failed) => Outcome::Respond(failed),
                    None => Outcome::NoResponse,
                }
            }
        }
    }

    /// A producer id never handed out before, also across restarts: ids are reserved in blocks recorded in the
    /// metadata log, as Kafka's controller hands out blocks of producer ids.
    fn allocate_producer_id(&self, now_ms: i64) -> Result<i64, BrokerError> {
        let mut ids = self.producer_ids.lock().unwrap_or_else(PoisonError::into_inner);
        if ids.0 >= ids.1 && self.is_cluster_member() {
            drop(ids);
            self.request_producer_ids();
            return Err(BrokerError::ControllerUnavailable);
        }
        if ids.0 >= ids.1 {
            let request = kafka_protocol::messages::AllocateProducerIdsRequest::default()
                .with_broker_id(kafka_protocol::messages::BrokerId(self.config.node_id))
                .with_broker_epoch(self.lifecycle.lock().unwrap_or_else(PoisonError::into_inner).broker_epoch);
            let answer = self
                .call_controller(RequestKind::AllocateProducerIds(request), 0, now_ms)
                .ok_or(BrokerError::ControllerUnavailable)??;
            let ResponseKind::AllocateProducerIds(r) = answer else { return Err(BrokerError::ControllerUnavailable) };
            if r.error_code != 0 {
                return Err(BrokerError::Controller {
                    error: ResponseError::try_from_code(r.error_code).unwrap_or(ResponseError::UnknownServerError),
                    message: "no producer ids".into(),
                });
            }
            *ids = (r.producer_id_start.0, r.producer_id_start.0 + i64::from(r.producer_id_len));
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    fn min_insync_replicas(&self, topic: &TopicImage, image: &MetadataImage) -> i32 {
        topic_config::value_of("min.insync.replicas", &topic.configs, &self.config, &image.broker_configs)
            .parse()
            .unwrap_or(1)
    }
}

/// A coordinator's answer turned into COORDINATOR_NOT_AVAILABLE (its write did not reach the in-sync replicas in
/// time), which clients retry.
fn coordinator_not_available(response: ResponseKind) -> ResponseKind {
    let e = ResponseError::CoordinatorNotAvailable.code();
    match response {
        ResponseKind::OffsetCommit(mut r) => {
            for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                p.error_code = e;
            }
            ResponseKind::OffsetCommit(r)
        }
        ResponseKind::TxnOffsetCommit(mut r) => {
            for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                p.error_code = e;
            }
            ResponseKind::TxnOffsetCommit(r)
        }
        ResponseKind::EndTxn(r) => ResponseKind::EndTxn(r.with_error_code(e)),
        // Offsets that may not be durable are not handed out: every group and partition gets the error.
        ResponseKind::OffsetFetch(mut r) => {
            r.error_code = e;
            for t in &mut r.topics {
                for p in &mut t.partitions {
                    (p.error_code, p.committed_offset, p.committed_leader_epoch) = (e, -1, -1);
                }
            }
            for g in &mut r.groups {
                g.error_code = e;
                g.topics.clear();
            }
            ResponseKind::OffsetFetch(r)
        }
        ResponseKind::JoinGroup(r) => ResponseKind::JoinGroup(r.with_error_code(e)),
        ResponseKind::SyncGroup(r) => ResponseKind::SyncGroup(r.with_error_code(e).with_assignment(Default::default())),
        ResponseKind::LeaveGroup(r) => ResponseKind::LeaveGroup(r.with_error_code(e)),
        ResponseKind::OffsetDelete(r) => ResponseKind::OffsetDelete(r.with_error_code(e)),
        ResponseKind::ConsumerGroupHeartbeat(r) => ResponseKind::ConsumerGroupHeartbeat(r.with_error_code(e)),
        ResponseKind::AddOffsetsToTxn(r) => ResponseKind::AddOffsetsToTxn(r.with_error_code(e)),
        ResponseKind::InitProducerId(r) => ResponseKind::InitProducerId(
            r.with_error_code(e).with_producer_id(kafka_protocol::messages::ProducerId(-1)).with_producer_epoch(-1),
        ),
        ResponseKind::AddPartitionsToTxn(mut r) => {
            for p in r.results_by_topic_v3_and_below.iter_mut().flat_map(|t| t.results_by_partition.iter_mut()) {
                p.partition_error_code = e;
            }
            ResponseKind::AddPartitionsToTxn(r)
        }
        other => other,
    }
}

/// The Kafka error code for a storage failure at the request boundary.
pub(crate) fn storage_error_code(e: &StorageError) -> ResponseError {
    match e {
        StorageError::InvalidBatch(
            RecordError::InvalidRecord(_) | RecordError::RecordCountMismatch { .. } | RecordError::RecordsRefused(_),
        ) => ResponseError::InvalidRecord,
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

/// The Kafka error code for a replica's refusal at the request boundary.
pub(crate) fn partition_error_code(e: &PartitionError) -> ResponseError {
    match e {
        PartitionError::Storage(e) => storage_error_code(e),
        PartitionError::NotLeaderOrFollower(_) => ResponseError::NotLeaderOrFollower,
        PartitionError::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
        PartitionError::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
        PartitionError::UnknownLeaderEpoch { .. } => ResponseError::UnknownLeaderEpoch,
        PartitionError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        PartitionError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        PartitionError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
        PartitionError::TransactionCoordinatorFenced { .. } => ResponseError::TransactionCoordinatorFenced,
        PartitionError::Refused { error, .. } => *error,
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

#[cfg(test)]
mod tests;
