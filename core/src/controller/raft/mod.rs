//! The controller quorum (native builds): the metadata log replicated among the controllers by Raft
//! (openraft), as KRaft replicates `__cluster_metadata-0` among Kafka's controllers.
//!
//! One Raft entry is one record batch of `__cluster_metadata-0`, in Kafka's format, so Kafka's
//! `kafka-dump-log --cluster-metadata-decoder` reads a potok controller's log: a client write is a batch of
//! metadata records, the blank entry a new leader commits is a LeaderChange control record, and the initial
//! membership is a KRaftVoters control record. The Raft term is the batch's partition leader epoch (openraft's
//! `single-term-leader` mode: one leader per term, as KRaft's epochs), and entry indexes count batches from
//! the start of the log. The vote and the commit index are kept beside the log (`raft-state`).
//!
//! The voters are the static `controller.quorum.voters`. Every voter initialises the quorum with them on its
//! first start; the one elected leads and is the active controller: it runs the sans-IO
//! [`QuorumController`] over the committed image, one request at a time, and commits the records it decides
//! before answering. Controllers and brokers reach each other on the controller listener with a potok
//! frame (see [`peer`]); the records and the image are Kafka's.

mod log_store;
pub mod observer;
pub mod peer;
mod snapshot;
mod state_machine;

/// The newest snapshot's last entry index and the Kafka offset after it, shared by the log store and the
/// state machine.
type SnapshotAnchor = Arc<std::sync::Mutex<Option<(u64, i64)>>>;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{DescribeQuorumResponse, RequestKind, ResponseKind};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Raft, ServerState};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::image::MetadataImage;
use super::quorum::{ControllerResult, QuorumController};
use super::records::MetadataRecord;
use crate::broker::BrokerConfig;
use crate::storage::Backend;

pub use observer::MetadataObserver;
pub use peer::{CallError, ControllerClient, MetadataChunk, PeerRequest, PeerResponse, RAFT_API_KEY};

/// The most entries one metadata fetch returns (each a batch of records).
const FETCH_MAX_ENTRIES: u64 = 500;
/// The longest an observer's metadata fetch waits for a new entry.
pub const FETCH_MAX_WAIT: Duration = Duration::from_millis(500);

openraft::declare_raft_types!(
    /// The quorum's Raft types: entries carry metadata records, node ids are Kafka node ids.
    pub TypeConfig:
        D = Payload,
        R = i64,
);

/// A batch of metadata records, each in Kafka's encoding (what one client write commits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub records: Vec<Vec<u8>>,
}

impl Payload {
    pub fn of(records: &[MetadataRecord]) -> Self {
        Payload { records: records.iter().map(MetadataRecord::encode).collect() }
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} metadata records", self.records.len())
    }
}

/// Why the quorum could not start.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("the controller quorum: {0}")]
    Raft(String),
}

/// The voters as openraft's membership: node id to the controller listener's `host:port`.
pub fn voter_nodes(config: &BrokerConfig) -> BTreeMap<u64, BasicNode> {
    config
        .controller_quorum_voters
        .iter()
        .map(|v| (v.id as u64, BasicNode { addr: format!("{}:{}", v.host, v.port) }))
        .collect()
}

/// The active controller's state while this node leads.
struct Active {
    controller: QuorumController,
    /// The term it was activated for; a new term activates it again over the image of that term.
    term: Option<u64>,
}

/// A controller: one voter of the metadata quorum, the active controller while it leads.
pub struct ControllerNode {
    id: u64,
    raft: Raft<TypeConfig>,
    log: log_store::LogStore,
    voters: BTreeMap<u64, BasicNode>,
    image: watch::Receiver<Arc<MetadataImage>>,
    active: tokio::sync::Mutex<Active>,
    /// Brokers reading the log without voting (`process.roles=broker`): the index after their last fetched
    /// entry and when they fetched, for DescribeQuorum's observers.
    observers: std::sync::Mutex<BTreeMap<i32, (Option<u64>, i64)>>,
    state_machine: state_machine::StateMachine,
    snapshot_max_bytes: u64,
    snapshot_interval_ms: i64,
    /// Voters seen campaigning above this leader's term (see [`ControllerNode::resign_for_stranded_voters`]).
    campaigns: std::sync::Mutex<BTreeMap<u64, Campaign>>,
    /// How long a voter may campaign above a leader's term before the leader resigns for it.
    stranded_after_ms: i64,
    /// The longest a new term's activation waits for the quorum to commit the term's first entry.
    activation_timeout: Duration,
}

/// A voter asking for votes in terms above the one this node leads: when it first and last asked, in how many
/// terms, and its latest vote.
#[derive(Debug, Clone)]
struct Campaign {
    first_ms: i64,
    last_ms: i64,
    terms: u32,
    vote: openraft::Vote<u64>,
}

impl fmt::Debug for ControllerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerNode").field("id", &self.id).finish()
    }
}

impl ControllerNode {
    /// Opens the metadata log in `metadata_dir` and joins the quorum (initialising it on a first start).
    pub async fn start(
        config: &BrokerConfig,
        backend: Arc<dyn Backend>,
        metadata_dir: &Path,
        cluster_id: String,
        seed: u64,
        now_ms: i64,
    ) -> Result<Arc<ControllerNode>, QuorumError> {
        let id = config.node_id as u64;
        let voters = voter_nodes(config);
        let all_voters = voters.clone();
        let anchor = SnapshotAnchor::default();
        let log = log_store::LogStore::open(
            backend.clone(),
            metadata_dir,
            voters.clone(),
            config.metadata_log_segment_bytes,
            anchor.clone(),
            now_ms,
        )?;
        let (state_machine, image) = state_machine::StateMachine::open(
            backend,
            metadata_dir.join(crate::controller::METADATA_LOG_DIR),
            &voters,
            anchor,
            now_ms,
        )
        .map_err(|e| QuorumError::Raft(format!("reading the metadata snapshot: {e}")))?;
        let election_ms = config.controller_quorum_election_timeout_ms.max(10) as u64;
        let raft_config = openraft::Config {
            cluster_name: cluster_id.clone(),
            // The leader's heartbeats come three times per election timeout. openraft also uses this interval as
            // the deadline of every AppendEntries: a follower on a loaded machine (a debug build, a slow fsync)
            // that needs longer than that to store entries never gets one acknowledged, and its replication stalls.
            heartbeat_interval: (election_ms / 3).clamp(10, 500),
            election_timeout_min: election_ms,
            election_timeout_max: election_ms * 2,
            // Snapshots are taken by size and time as Kafka takes them (see `tick`), and the entries they cover
            // purged at once.
            snapshot_policy: openraft::SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: 0,
            max_payload_entries: 500,
            ..Default::default()
        }
        .validate()
        .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let network = peer::Network { cluster_id: cluster_id.clone() };
        let raft = Raft::new(id, Arc::new(raft_config), network, log.clone(), state_machine.clone())
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        if !raft.is_initialized().await.map_err(|e| QuorumError::Raft(e.to_string()))? {
            // Every voter proposes the same membership; a node that already heard from a leader refuses.
            if let Err(e) = raft.initialize(voters).await {
                tracing::debug!(target: "potok::controller", "quorum already initialised: {e}");
            }
        }
        let controller = QuorumController::new(config.clone(), cluster_id, seed);
        Ok(Arc::new(ControllerNode {
            id,
            raft,
            log,
            voters: all_voters,
            image,
            active: tokio::sync::Mutex::new(Active { controller, term: None }),
            observers: std::sync::Mutex::new(BTreeMap::new()),
            state_machine,
            snapshot_max_bytes: config.metadata_snapshot_max_bytes,
            snapshot_interval_ms: config.metadata_snapshot_interval_ms,
            campaigns: std::sync::Mutex::new(BTreeMap::new()),
            // Several election timeouts: a voter that merely missed a heartbeat or two is caught by the next
            // append (its answer carries its higher term and the leader steps down at once).
            stranded_after_ms: (election_ms * 5).max(2_000) as i64,
            activation_timeout: Duration::from_millis(election_ms * 2),
        }))
    }

    pub fn id(&self) -> i32 {
        self.id as i32
    }

    /// The committed image, updated as entries are applied.
    pub fn image(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    /// The node this one believes leads the quorum.
    pub fn leader(&self) -> Option<i32> {
        self.raft.metrics().borrow().current_leader.map(|l| l as i32)
    }

    /// The quorum's current state as `kafka-metadata-quorum` reports it.
    pub fn metrics(&self) -> openraft::RaftMetrics<u64, BasicNode> {
        self.raft.metrics().borrow().clone()
    }

    /// Takes the active controller's lock when this node leads, activated for the current term.
    async fn lead(&self, now_ms: i64) -> Result<tokio::sync::MutexGuard<'_, Active>, CallError> {
        let mut active = self.active.lock().await;
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.state != ServerState::Leader {
            return Err(CallError::NotController { leader: metrics.current_leader.map(|l| l as i32) });
        }
        if active.term != Some(metrics.current_term) {
            // Everything committed before this term is applied before the first decision of the term.
            // Bounded: a leader that cannot commit its first entry (no quorum answers) must not hold the active
            // controller's lock, and every call queued behind it, until it can.
            let linearizable =
                tokio::time::timeout(self.activation_timeout, self.raft.ensure_linearizable()).await.map_err(|_| {
                    CallError::Unavailable("the quorum has not committed this term's first entry yet".into())
                })?;
            linearizable.map_err(|e| match e {
                RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(f)) => {
                    CallError::NotController { leader: f.leader_id.map(|l| l as i32) }
                }
                other => CallError::Unavailable(other.to_string()),
            })?;
            let image = self.image.borrow().clone();
            active.controller.activate(&image, now_ms, true);
            active.term = Some(metrics.current_term);
            tracing::info!(target: "potok::controller", "node {} is the active controller (epoch {})", self.id, metrics.current_term);
        }
        Ok(active)
    }

    /// Remembers a vote request from a voter campaigning in a term above the one this node leads.
    fn note_campaign(&self, vote: &openraft::Vote<u64>, now_ms: i64) {
        let metrics = self.raft.metrics().borrow().clone();
        let Some(candidate) = vote.leader_id().voted_for() else { return };
        if metrics.state != ServerState::Leader || vote.leader_id().term <= metrics.current_term {
            return;
        }
        let mut campaigns = self.campaigns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let campaign =
            campaigns.entry(candidate).or_insert(Campaign { first_ms: now_ms, last_ms: now_ms, terms: 0, vote: *vote });
        if campaign.terms == 0 || vote.leader_id().term > campaign.vote.leader_id().term {
            campaign.terms += 1;
        }
        campaign.last_ms = now_ms;
        campaign.vote = *vote;
    }

    /// A voter that keeps campaigning above the term this node leads is not getting the leader's appends: its
    /// answer to any of them would carry its higher term, and the leader would step down at once. openraft's
    /// leader refuses its vote requests (its lease, or the voter's shorter log) without adopting their term, so
    /// when its replication to that voter has stalled — a lost in-flight request leaves the stream waiting for
    /// an answer that never comes, and no heartbeat is sent to a stream with one in flight — the voter is
    /// stranded for good: its broker never learns the metadata again and it never rejoins an ISR. After
    /// `stranded_after_ms` of that (two terms at least), the leader adopts the voter's term as Raft prescribes
    /// for a higher term, which ends its leadership; the election that follows starts fresh replication
    /// streams, and the voter follows the new leader once its appends pass. A voter cut off one way only (it
    /// reaches the leader, the leader's appends do not reach it) makes the leader resign every
    /// `stranded_after_ms` until the link heals, as any higher term would in plain Raft.
    async fn resign_for_stranded_voters(&self, now_ms: i64) {
        let metrics = self.raft.metrics().borrow().clone();
        let stranded = {
            let mut campaigns = self.campaigns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if metrics.state != ServerState::Leader {
                campaigns.clear();
                return;
            }
            // A voter that stopped asking (it heard from a leader, or died) is forgotten. A refused candidate
            // asks again after its election timeout, its leader lease and a wait for having the shorter log:
            // seconds apart.
            campaigns.retain(|_, c| {
                now_ms - c.last_ms <= 2 * self.stranded_after_ms && c.vote.leader_id().term > metrics.current_term
            });
            campaigns
                .iter()
                .filter(|(_, c)| c.terms >= 2 && now_ms - c.first_ms >= self.stranded_after_ms)
                .max_by_key(|(_, c)| c.vote.leader_id().term)
                .map(|(id, c)| (*id, c.clone()))
        };
        let Some((voter, campaign)) = stranded else { return };
        let matched = metrics.replication.as_ref().and_then(|r| r.get(&voter).cloned()).flatten();
        tracing::warn!(
            target: "potok::controller",
            "voter {voter} has asked for votes in term {} for {} ms while this node leads term {} (its log matches \
             up to {:?} of {:?}): the leader's appends do not reach it; stepping down for a new election",
            campaign.vote.leader_id().term,
            now_ms - campaign.first_ms,
            metrics.current_term,
            matched.map(|l| l.index),
            metrics.last_log_index
        );
        self.campaigns.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        // The voter's vote request as if its log were as long as this node's: the log check passes, and
        // granting the vote makes this node a follower in that term. The grant goes nowhere (the voter asked
        // nothing of this call), like a lost answer: it elects no one.
        let adopt = openraft::raft::VoteRequest { vote: campaign.vote, last_log_id: self.log.last_log_id() };
        match self.raft.vote(adopt).await {
            Ok(r) if r.vote_granted => {}
            Ok(_) => {
                tracing::info!(target: "potok::controller", "not stepping down yet (this node's leader lease holds)")
            }
            Err(e) => tracing::warn!(target: "potok::controller", "stepping down failed: {e}"),
        }
    }

    /// Handles a request sent to the controller: decides on the committed image and commits the records
    /// before answering. Refused with [`CallError::NotController`] on a node that does not lead.
    /// Returns the answer and the log index its records were committed at (if any).
    pub async fn handle(
        &self,
        request: RequestKind,
        version: i16,
        now_ms: i64,
    ) -> Result<(ResponseKind, Option<u64>), CallError> {
        if let RequestKind::DescribeQuorum(_) = request {
            return self.describe_quorum(now_ms).map(|r| (ResponseKind::DescribeQuorum(r), None));
        }
        let mut active = self.lead(now_ms).await?;
        let image = self.image.borrow().clone();
        let ControllerResult { records, response } = active.controller.handle(&image, request, version, now_ms);
        let index = if records.is_empty() { None } else { Some(self.write(&records).await?) };
        drop(active);
        Ok((response, index))
    }

    /// The quorum as its leader sees it (DescribeQuorum, behind `kafka-metadata-quorum describe`): leader,
    /// epoch, high watermark and each voter's log end offset, in Kafka offsets of `__cluster_metadata-0`.
    fn describe_quorum(&self, now_ms: i64) -> Result<DescribeQuorumResponse, CallError> {
        use kafka_protocol::messages::describe_quorum_response::{
            Listener, Node, PartitionData, ReplicaState, TopicData,
        };
        use kafka_protocol::messages::{BrokerId, TopicName};
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.state != ServerState::Leader {
            return Err(CallError::NotController { leader: metrics.current_leader.map(|l| l as i32) });
        }
        let matched = metrics.replication.clone().unwrap_or_default();
        let voters = self
            .voters
            .keys()
            .map(|id| {
                let end = if *id == self.id {
                    Some(self.log.offset_after(metrics.last_log_index))
                } else {
                    matched.get(id).map(|m| self.log.offset_after(m.map(|l| l.index)))
                };
                ReplicaState::default()
                    .with_replica_id(BrokerId(*id as i32))
                    .with_log_end_offset(end.unwrap_or(-1))
                    // The leader hears from a voter whenever it replicates to it; openraft keeps no fetch times,
                    // so a voter that has acknowledged entries shows as heard from now.
                    .with_last_fetch_timestamp(if end.is_some() { now_ms } else { -1 })
                    .with_last_caught_up_timestamp(if end.is_some() { now_ms } else { -1 })
            })
            .collect();
        let high_watermark = self.log.offset_after(metrics.last_applied.map(|l| l.index));
        // A broker's fetch asks for what follows its last entry: it has the log up to there.
        let observers = self
            .observers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(id, (after, at_ms))| {
                ReplicaState::default()
                    .with_replica_id(BrokerId(*id))
                    .with_log_end_offset(self.log.offset_after(*after))
                    .with_last_fetch_timestamp(*at_ms)
                    .with_last_caught_up_timestamp(if *after >= metrics.last_applied.map(|l| l.index) {
                        *at_ms
                    } else {
                        -1
                    })
            })
            .collect();
        let partition = PartitionData::default()
            .with_partition_index(0)
            .with_leader_id(BrokerId(self.id as i32))
            .with_leader_epoch(metrics.current_term as i32)
            .with_high_watermark(high_watermark)
            .with_current_voters(voters)
            .with_observers(observers);
        let nodes = self
            .voters
            .iter()
            .map(|(id, node)| {
                let (host, port) = node.addr.rsplit_once(':').unwrap_or((&node.addr, "0"));
                Node::default().with_node_id(BrokerId(*id as i32)).with_listeners(vec![Listener::default()
                    .with_name(kafka_protocol::protocol::StrBytes::from_static_str("CONTROLLER"))
                    .with_host(kafka_protocol::protocol::StrBytes::from_string(host.to_string()))
                    .with_port(port.parse().unwrap_or(0))])
            })
            .collect();
        Ok(DescribeQuorumResponse::default()
            .with_topics(vec![TopicData::default()
                .with_topic_name(TopicName(kafka_protocol::protocol::StrBytes::from_static_str(
                    crate::controller::METADATA_TOPIC,
                )))
                .with_partitions(vec![partition])])
            .with_nodes(nodes))
    }

    /// Waits (at most `timeout`) until this node has applied the log up to `index`, so its broker answers
    /// with what a request it forwarded changed.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) {
        let _ = self.raft.wait(Some(timeout)).applied_index_at_least(Some(index), "a forwarded request").await;
    }

    /// The active controller's time-driven decisions (fencing, elections, balancing); nothing elsewhere. Every
    /// voter also snapshots its image when enough has been applied since the last snapshot.
    pub async fn tick(&self, now_ms: i64) {
        if self.state_machine.snapshot_due(self.snapshot_max_bytes, self.snapshot_interval_ms, now_ms) {
            if let Err(e) = self.raft.trigger().snapshot().await {
                tracing::warn!(target: "potok::controller", "starting a metadata snapshot failed: {e}");
            }
        }
        let Ok(mut active) = self.lead(now_ms).await else { return };
        let image = self.image.borrow().clone();
        let records = active.controller.tick(&image, now_ms);
        if !records.is_empty() {
            if let Err(e) = self.write(&records).await {
                tracing::warn!(target: "potok::controller", "committing the controller's decisions failed: {e}");
            }
        }
    }

    async fn write(&self, records: &[MetadataRecord]) -> Result<u64, CallError> {
        self.raft.client_write(Payload::of(records)).await.map(|r| r.log_id.index).map_err(|e| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                CallError::NotController { leader: f.leader_id.map(|l| l as i32) }
            }
            other => CallError::Unavailable(other.to_string()),
        })
    }

    /// Answers a frame from another node: Raft's messages, and controller calls.
    pub async fn serve_peer(&self, request: PeerRequest, now_ms: i64) -> PeerResponse {
        match request {
            PeerRequest::AppendEntries(r) => PeerResponse::AppendEntries(self.raft.append_entries(r).await),
            PeerRequest::Vote(r) => {
                self.note_campaign(&r.vote, now_ms);
                // Checked as the voter asks, not on the controller's tick, which may wait on the quorum.
                self.resign_for_stranded_voters(now_ms).await;
                PeerResponse::Vote(self.raft.vote(r).await)
            }
            PeerRequest::InstallSnapshot(r) => PeerResponse::InstallSnapshot(self.raft.install_snapshot(r).await),
            PeerRequest::Call { api_key, version, body } => {
                PeerResponse::Call(peer::serve_call(self, api_key, version, body, now_ms).await)
            }
            PeerRequest::FetchMetadata { node_id, after, max_wait_ms } => {
                let max_wait = Duration::from_millis(max_wait_ms).min(FETCH_MAX_WAIT);
                PeerResponse::FetchMetadata(self.fetch_metadata(node_id, after, max_wait, now_ms).await)
            }
        }
    }

    /// The committed entries after `after` for an observer, waiting up to `max_wait` for one when it has them
    /// all. Any voter answers: what it has applied is committed.
    pub async fn fetch_metadata(
        &self,
        node_id: i32,
        after: Option<u64>,
        max_wait: Duration,
        now_ms: i64,
    ) -> Result<MetadataChunk, CallError> {
        let mut start = after.map_or(0, |a| a + 1);
        self.observers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(node_id, (after, now_ms));
        let _ = self.raft.wait(Some(max_wait)).applied_index_at_least(Some(start), "an observer's fetch").await;
        let mut snapshot = None;
        if start < self.log.first_index() {
            // Purged under a snapshot: the observer starts again from it.
            let (last_index, data) = self
                .state_machine
                .current_snapshot()
                .ok_or_else(|| CallError::Unavailable("the metadata log was purged but no snapshot is kept".into()))?;
            start = last_index + 1;
            snapshot =
                Some(peer::ObserverSnapshot { last_index, next_offset: data.next_offset, records: data.records });
        }
        let metrics = self.raft.metrics().borrow().clone();
        let applied = metrics.last_applied.map_or(0, |l| l.index + 1);
        let entries = self
            .log
            .entries(start, applied.min(start + FETCH_MAX_ENTRIES))
            .map_err(|e| CallError::Unavailable(e.to_string()))?;
        Ok(MetadataChunk { snapshot, entries, leader: metrics.current_leader.map(|l| l as i32) })
    }

    /// Stops taking part in the quorum.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(target: "potok::controller", "stopping the quorum: {e}");
        }
    }
}

/// How long a broker keeps trying to reach the active controller with one request.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
