//! A KRaft cluster in memory, driven by its host: N brokers (`process.roles=broker`, ids 1 to N) and one
//! controller (`process.roles=controller`, id N+1, the quorum's only voter), each node with its own in-memory
//! file system, joined by an in-memory network the host can cut link by link. The web page's cluster
//! (bindings-wasm's `Cluster`) is this, with the page's clock and timers; tests drive it natively in virtual
//! time. No tokio, no clock: time is an argument, as for [`MemoryBroker`].
//!
//! What is real: every broker is a [`MemoryBroker`] (the same [`Broker`] the network server runs) and the
//! controller is the sans-IO [`QuorumController`] over a real metadata log (`__cluster_metadata-0` in its own
//! file system). Brokers register, heartbeat every `broker.heartbeat.interval.ms` and are fenced after
//! `broker.session.timeout.ms` of silence; leaders shrink and expand the ISR with AlterPartition; the controller
//! elects leaders from the ISR when a broker is fenced or shuts down; followers replicate with real Fetch
//! request frames sent over in-memory connections to their leaders, long-polling there as on a socket, and
//! transaction coordinators send WriteTxnMarkers frames the same way; calls to the controller are handed over as
//! decoded messages. With one voter the committed metadata log is the appended one, so no Raft is modelled: a
//! commit is a write to the controller's log, and the new image reaches every broker the controller can reach
//! (as their metadata fetch would).
//!
//! The network: a message between two nodes arrives at once unless their link is cut ([`MemoryCluster::cut`]);
//! a cut resets the connections between the two (requests in flight fail, as a reset socket does) and every
//! later message is refused until [`MemoryCluster::heal`]. The host (the page) reaches every broker.
//!
//! Faults: [`MemoryCluster::stop`] is a controlled shutdown (leaderships move away first, then a clean
//! stop); [`MemoryCluster::kill`] is a crash (what the node's next start finds is every write that reached the
//! page cache, as after a killed process); [`MemoryCluster::restart`] starts a stopped or killed node again over
//! its files.
//!
//! The driving follows `potok::net` (and the simulation in core/tests/sim, which drives the same calls with a
//! Raft model and a lossy network): after every call into a broker its answers are delivered, its controller
//! calls sent, fetchers started for new leaders, and its next poll scheduled. Everything happens in events on
//! one queue ordered by time and then by arrival, so a run is deterministic for a seed and a sequence of calls.
//!
//! Invariants: every request a host submits gets exactly one [`Answer`] (a node that stops or crashes fails
//! what waits on it as closed); an event never runs before its time; nothing reads a clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, RequestHeader, RequestKind, ResponseHeader, ResponseKind,
    WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};
use serde::Serialize;

use super::inspect::{self, InspectLimits, Inspection};
use super::memory::{Answer, ConnectionId, MemoryBroker, RequestId, LOG_DIR};
use super::HostError;
use crate::broker::{Broker, BrokerConfig, ReplicaFetch};
use crate::client::ClientError;
use crate::controller::{IdGenerator, MetadataImage, MetadataStore, QuorumController, CONTROLLER_TICK_MS};
use crate::storage::MemoryBackend;

/// The most brokers a cluster in memory runs (each holds its own logs in the page's memory).
pub const MAX_BROKERS: usize = 8;
/// How long a broker's call to the controller keeps being retried before it fails (the runtime's
/// `raft::CALL_TIMEOUT`).
const CALL_TIMEOUT_MS: i64 = 30_000;
/// How soon a call retries when the controller cannot be reached.
const CALL_RETRY_MS: i64 = 100;
/// How long a controlled shutdown waits for the controller's leave before the broker stops anyway (the
/// runtime's).
const SHUTDOWN_TIMEOUT_MS: i64 = 10_000;
/// How often a broker in controlled shutdown checks whether it may stop.
const SHUTDOWN_CHECK_MS: i64 = 50;
/// The longest a broker goes without a poll even when it wants nothing sooner (the native driver's).
const POLL_INTERVAL_MAX_MS: i64 = 1_000;
/// The most events one call runs; the rest wait for the next poll (which is then due at once), so a host's
/// event loop is never held for long.
const MAX_EVENTS_PER_CALL: usize = 100_000;
/// The WriteTxnMarkers version coordinators send (the runtime's).
const WRITE_TXN_MARKERS_VERSION: i16 = 1;
/// Where the controller's metadata log lives in its file system.
const CONTROLLER_DIR: &str = "/controller";

/// What a node is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NodeState {
    Running,
    /// In controlled shutdown: its leaderships move away, then it stops.
    Stopping,
    /// Stopped cleanly.
    Stopped,
    /// Crashed.
    Killed,
}

/// One broker node.
#[derive(Debug)]
struct BrokerNode {
    config: BrokerConfig,
    /// Its files: kept across a clean stop, replaced by their page-cache snapshot after a crash.
    backend: MemoryBackend,
    memory: Option<MemoryBroker>,
    state: NodeState,
    /// Counts starts, so work for a previous incarnation (a fetch answer, a controller answer) is dropped.
    inc: u32,
    /// Leaders this broker runs a fetcher for.
    fetchers: BTreeSet<i32>,
    /// When its next poll is scheduled.
    poll_at: Option<i64>,
}

impl BrokerNode {
    fn broker(&self) -> Option<&Broker> {
        self.memory.as_ref().and_then(MemoryBroker::broker)
    }
}

/// The controller node: the active controller and its metadata log, while it runs.
#[derive(Debug)]
struct ControllerNode {
    id: i32,
    config: BrokerConfig,
    cluster_id: String,
    backend: MemoryBackend,
    running: Option<(QuorumController, MetadataStore)>,
    state: NodeState,
    /// Counts starts, so the ticks of a previous incarnation stop.
    inc: u32,
    /// The image of the last committed record (kept while the controller is down, for the views).
    image: Arc<MetadataImage>,
}

/// What a request sent from one broker to another is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PeerUse {
    Fetch,
    Markers,
}

/// A request one broker sent another, waiting for its answer. (One per connection in flight: the fetch stays
/// inline.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum PeerRequest {
    Fetch { follower: i32, inc: u32, version: i16, request: FetchRequest },
    Markers { coordinator: i32, inc: u32, call: u64 },
}

/// A broker's call to the controller (the runtime's task around `ControllerClient::call`).
#[derive(Debug)]
struct CallTask {
    broker: i32,
    inc: u32,
    id: u64,
    request: RequestKind,
    version: i16,
    deadline_ms: i64,
}

/// A host's connection to one broker.
#[derive(Debug, Clone, Copy)]
struct ClientConnection {
    node: i32,
    inc: u32,
    local: ConnectionId,
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Ev {
    Poll(i32),
    FetcherStep {
        b: i32,
        inc: u32,
        leader: i32,
    },
    FetchReply {
        b: i32,
        inc: u32,
        leader: i32,
        version: i16,
        request: FetchRequest,
        answer: Result<FetchResponse, String>,
    },
    Markers {
        b: i32,
        inc: u32,
        call: crate::broker::MarkerCall,
    },
    MarkersReply {
        b: i32,
        inc: u32,
        call: u64,
        answer: Result<WriteTxnMarkersResponse, String>,
    },
    Call(u64),
    ControllerTick(u32),
    Stopping {
        b: i32,
        inc: u32,
        deadline_ms: i64,
    },
    /// The controller's committed image goes to every broker it reaches that lacks it.
    Propagate,
}

/// N brokers and a controller in memory. Single-threaded by design: the host calls it from one event loop.
#[derive(Debug)]
pub struct MemoryCluster {
    now_ms: i64,
    seq: u64,
    queue: BTreeMap<(i64, u64), Ev>,
    brokers: BTreeMap<i32, BrokerNode>,
    controller: ControllerNode,
    /// Cut links, each as (lower id, higher id).
    cuts: BTreeSet<(i32, i32)>,
    calls: BTreeMap<u64, CallTask>,
    next_call: u64,
    /// The connection a broker (first) keeps at another (second) for one use.
    peer_connections: BTreeMap<(i32, i32, PeerUse), ConnectionId>,
    /// Requests between brokers waiting for an answer, by the broker they wait at and its request id.
    peer_requests: HashMap<(i32, RequestId), PeerRequest>,
    next_correlation_id: i32,
    clients: BTreeMap<ConnectionId, ClientConnection>,
    client_by_local: HashMap<(i32, ConnectionId), ConnectionId>,
    client_requests: HashMap<(i32, RequestId), RequestId>,
    next_connection: ConnectionId,
    next_request: RequestId,
    answers: Vec<Answer>,
    ids: IdGenerator,
    fetch_version: i16,
}

fn norm(a: i32, b: i32) -> (i32, i32) {
    (a.min(b), a.max(b))
}

/// A closed connection's error, saying which.
fn closed(what: String) -> HostError {
    let mut error = HostError::from(ClientError::Closed);
    error.message = format!("{}: {what}", error.message);
    error.text = what;
    error
}

/// The Fetch version followers send: the newest both potok and the protocol crate speak.
fn fetch_version() -> i16 {
    crate::protocol::versions::supported(ApiKey::Fetch).map_or(12, |r| r.max.min(FetchRequest::VERSIONS.max))
}

/// A request frame, size prefix included, as a broker's client writes it.
fn request_frame(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &impl Encodable,
) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())))
        .encode(&mut buf, key.request_header_version(version))
        .map_err(|e| e.to_string())?;
    body.encode(&mut buf, version).map_err(|e| e.to_string())?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// The body of a response frame (size prefix included).
fn response_body<T: Decodable>(key: ApiKey, version: i16, frame: &[u8]) -> Result<T, String> {
    let mut buf = Bytes::copy_from_slice(frame.get(4..).ok_or("a response frame without its size")?);
    ResponseHeader::decode(&mut buf, key.response_header_version(version)).map_err(|e| e.to_string())?;
    T::decode(&mut buf, version).map_err(|e| e.to_string())
}

/// What a peer's answer says: the decoded body, or why there is none.
fn peer_answer<T: Decodable>(
    key: ApiKey,
    version: i16,
    frame: Result<Option<Vec<u8>>, HostError>,
) -> Result<T, String> {
    match frame {
        Ok(Some(frame)) => response_body(key, version, &frame),
        Ok(None) => Err("no answer".into()),
        Err(e) => Err(e.message),
    }
}

/// One node's config: the host's keys, then the cluster's own (id, role, the quorum, a listener named after
/// the node).
fn node_config(base: &BrokerConfig, id: i32, role: &str, voter: i32) -> Result<BrokerConfig, HostError> {
    let mut config = base.clone();
    for (key, value) in [
        ("node.id", id.to_string()),
        ("process.roles", role.to_string()),
        ("controller.quorum.voters", format!("{voter}@controller-{voter}:9093")),
        ("controller.listener.names", "CONTROLLER".to_string()),
        ("listeners", format!("PLAINTEXT://broker-{id}:9092")),
    ] {
        config.set(key, &value)?;
    }
    config.log_dir = Some(PathBuf::from(LOG_DIR));
    Ok(config)
}

impl MemoryCluster {
    /// Starts `brokers` brokers and their controller, each over a fresh in-memory file system, from Kafka's
    /// config keys in `config` (every node gets them; node ids, roles, the quorum and listeners are the
    /// cluster's). `seed` feeds every id; `now_ms` is the host's wall-clock time. The brokers register and are
    /// unfenced as the host polls.
    pub fn start(brokers: usize, config: &BrokerConfig, seed: u64, now_ms: i64) -> Result<MemoryCluster, HostError> {
        if !(1..=MAX_BROKERS).contains(&brokers) {
            return Err(HostError::invalid_argument(format!("brokers must be between 1 and {MAX_BROKERS}")));
        }
        let voter = brokers as i32 + 1;
        let mut ids = IdGenerator::new(seed);
        let controller_config = node_config(config, voter, "controller", voter)?;
        let controller_backend = MemoryBackend::new();
        // The controller's node is formatted as a broker formats its own (meta.properties, with the cluster id
        // every node of this quorum derives), then its metadata log opened beside it.
        let cluster_id = Broker::open(
            controller_config.clone(),
            Arc::new(controller_backend.clone()),
            Path::new(CONTROLLER_DIR),
            controller_config.advertised(9093),
            ids.next_u64(),
            now_ms,
        )
        .and_then(|node| {
            let id = node.cluster_id().to_string();
            node.shutdown(now_ms).map(|()| id)
        })
        .map_err(|e| HostError::from(&e))?;
        let mut cluster = MemoryCluster {
            now_ms,
            seq: 0,
            queue: BTreeMap::new(),
            brokers: BTreeMap::new(),
            controller: ControllerNode {
                id: voter,
                config: controller_config,
                cluster_id,
                backend: controller_backend,
                running: None,
                state: NodeState::Stopped,
                inc: 0,
                image: Arc::new(MetadataImage::default()),
            },
            cuts: BTreeSet::new(),
            calls: BTreeMap::new(),
            next_call: 1,
            peer_connections: BTreeMap::new(),
            peer_requests: HashMap::new(),
            next_correlation_id: 1,
            clients: BTreeMap::new(),
            client_by_local: HashMap::new(),
            client_requests: HashMap::new(),
            next_connection: 1,
            next_request: 1,
            answers: Vec::new(),
            ids,
            fetch_version: fetch_version(),
        };
        cluster.start_controller()?;
        for id in 1..=brokers as i32 {
            let config = node_config(config, id, "broker", voter)?;
            cluster.brokers.insert(
                id,
                BrokerNode {
                    config,
                    backend: MemoryBackend::new(),
                    memory: None,
                    state: NodeState::Stopped,
                    inc: 0,
                    fetchers: BTreeSet::new(),
                    poll_at: None,
                },
            );
            cluster.start_broker(id)?;
        }
        cluster.run();
        Ok(cluster)
    }

    /// The brokers' ids (1 to N).
    pub fn broker_ids(&self) -> Vec<i32> {
        self.brokers.keys().copied().collect()
    }

    /// The controller's node id (N+1).
    pub fn controller_id(&self) -> i32 {
        self.controller.id
    }

    pub fn cluster_id(&self) -> &str {
        &self.controller.cluster_id
    }

    /// A running broker, for inspection.
    pub fn broker(&self, id: i32) -> Option<&Broker> {
        self.brokers.get(&id).and_then(BrokerNode::broker)
    }

    /// The controller's committed metadata image (the last one it committed, while it is down).
    pub fn metadata(&self) -> Arc<MetadataImage> {
        self.controller.image.clone()
    }

    /// What node `id` is doing (`None` for no such node).
    pub fn state(&self, id: i32) -> Option<NodeState> {
        if id == self.controller.id {
            return Some(self.controller.state);
        }
        self.brokers.get(&id).map(|b| b.state)
    }

    // ---- the host's side: connections, requests, time ----

    /// Opens a connection to broker `node`.
    pub fn connect(&mut self, node: i32) -> Result<ConnectionId, HostError> {
        let b = self.brokers.get_mut(&node).ok_or_else(|| no_broker(node))?;
        let inc = b.inc;
        let memory = b.memory.as_mut().ok_or_else(|| closed(format!("broker {node} is down")))?;
        let local = memory.connect()?;
        let id = self.next_connection;
        self.next_connection += 1;
        self.clients.insert(id, ClientConnection { node, inc, local });
        self.client_by_local.insert((node, local), id);
        Ok(id)
    }

    /// The broker a connection goes to.
    pub fn connection_node(&self, connection: ConnectionId) -> Option<i32> {
        self.clients.get(&connection).map(|c| c.node)
    }

    /// Submits one request frame (size prefix included) on a connection, then runs what is due. Its answer
    /// comes from [`MemoryCluster::take_answers`].
    pub fn submit(&mut self, connection: ConnectionId, frame: Bytes, now_ms: i64) -> Result<RequestId, HostError> {
        self.advance(now_ms);
        let c = *self.live_client(connection)?;
        let memory = self.brokers.get_mut(&c.node).and_then(|b| b.memory.as_mut()).ok_or_else(|| no_broker(c.node))?;
        let local = memory.submit(c.local, frame, self.now_ms)?;
        let id = self.next_request;
        self.next_request += 1;
        self.client_requests.insert((c.node, local), id);
        // The request may have asked the controller something (a forwarded CreateTopics) or completed others.
        self.service(c.node);
        self.run();
        Ok(id)
    }

    /// Closes a connection; a request still waiting on it fails as closed.
    pub fn close(&mut self, connection: ConnectionId) {
        let Some(c) = self.clients.remove(&connection) else { return };
        if let Some(memory) = self.brokers.get_mut(&c.node).filter(|b| b.inc == c.inc).and_then(|b| b.memory.as_mut()) {
            memory.close(c.local);
            self.drain(c.node);
        }
        self.client_by_local.remove(&(c.node, c.local));
    }

    /// Whether a connection is open (not closed by its host, by its broker going down, or by a frame the broker
    /// could not read).
    pub fn is_open(&self, connection: ConnectionId) -> bool {
        self.live_client(connection).is_ok()
    }

    /// Whether a connection has a request in flight or queued.
    pub fn is_busy(&self, connection: ConnectionId) -> bool {
        let Ok(c) = self.live_client(connection) else { return false };
        self.brokers.get(&c.node).and_then(|b| b.memory.as_ref()).is_some_and(|m| m.is_busy(c.local))
    }

    fn live_client(&self, connection: ConnectionId) -> Result<&ClientConnection, HostError> {
        let c = self.clients.get(&connection).ok_or_else(|| closed("the connection is closed".into()))?;
        let open = self
            .brokers
            .get(&c.node)
            .filter(|b| b.inc == c.inc)
            .and_then(|b| b.memory.as_ref())
            .is_some_and(|m| m.is_open(c.local));
        if open {
            Ok(c)
        } else {
            Err(closed(format!("the connection to broker {} is closed", c.node)))
        }
    }

    /// The answers decided since the last call, in the order they were decided.
    pub fn take_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.answers)
    }

    /// Runs everything due by `now_ms` (timers of every node, messages between them). Returns the time by
    /// which it wants to be called again.
    pub fn poll(&mut self, now_ms: i64) -> i64 {
        self.advance(now_ms);
        self.next_deadline()
    }

    /// When the next event is due.
    pub fn next_deadline(&self) -> i64 {
        self.queue.keys().next().map_or(i64::MAX, |(at, _)| *at)
    }

    /// Moves the clock to `now_ms` (never back) and runs what is due.
    fn advance(&mut self, now_ms: i64) {
        self.now_ms = self.now_ms.max(now_ms);
        self.run();
    }

    fn at(&mut self, delay_ms: i64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((self.now_ms + delay_ms.max(0), self.seq), ev);
    }

    fn run(&mut self) {
        for _ in 0..MAX_EVENTS_PER_CALL {
            let Some(entry) = self.queue.first_entry() else { return };
            if entry.key().0 > self.now_ms {
                return;
            }
            let ev = entry.remove();
            self.step(ev);
        }
        tracing::warn!(
            "the cluster in memory ran {MAX_EVENTS_PER_CALL} events in one call; the rest wait for the next"
        );
    }

    // ---- faults ----

    /// Stops node `id` cleanly: a broker shuts down under the controller's control (its leaderships move to
    /// other in-sync replicas first, at most 10 s) and then flushes and stops; the controller closes its log.
    pub fn stop(&mut self, id: i32, now_ms: i64) -> Result<(), HostError> {
        self.advance(now_ms);
        if id == self.controller.id {
            if let Some((_, store)) = self.controller.running.take() {
                store.close(self.now_ms).map_err(|e| HostError::from(&crate::broker::BrokerError::from(e)))?;
            }
            self.controller.state = NodeState::Stopped;
            return Ok(());
        }
        let b = self.brokers.get(&id).ok_or_else(|| no_broker(id))?;
        if b.state != NodeState::Running {
            return Ok(());
        }
        let inc = b.inc;
        if let Some(broker) = b.broker() {
            broker.begin_shutdown(self.now_ms);
        }
        if let Some(b) = self.brokers.get_mut(&id) {
            b.state = NodeState::Stopping;
        }
        let deadline_ms = self.now_ms + SHUTDOWN_TIMEOUT_MS;
        self.service(id);
        self.at(0, Ev::Stopping { b: id, inc, deadline_ms });
        self.run();
        Ok(())
    }

    /// Kills node `id` as SIGKILL would: no flush, no checkpoint, nothing said to anyone. Its next start finds
    /// what reached the page cache.
    pub fn kill(&mut self, id: i32, now_ms: i64) -> Result<(), HostError> {
        self.advance(now_ms);
        if id == self.controller.id {
            if self.controller.running.take().is_some() {
                self.controller.backend = self.controller.backend.snapshot();
                self.controller.state = NodeState::Killed;
            }
            return Ok(());
        }
        let b = self.brokers.get_mut(&id).ok_or_else(|| no_broker(id))?;
        let Some(memory) = b.memory.as_mut() else { return Ok(()) };
        memory.crash();
        self.drain(id);
        let b = self.brokers.get_mut(&id).ok_or_else(|| no_broker(id))?;
        b.memory = None;
        b.backend = b.backend.snapshot();
        b.state = NodeState::Killed;
        self.went_down(id);
        self.run();
        Ok(())
    }

    /// Starts a stopped or killed node again over its files.
    pub fn restart(&mut self, id: i32, now_ms: i64) -> Result<(), HostError> {
        self.advance(now_ms);
        if id == self.controller.id {
            if self.controller.running.is_none() {
                self.start_controller()?;
                self.at(0, Ev::Propagate);
            }
        } else {
            let b = self.brokers.get(&id).ok_or_else(|| no_broker(id))?;
            if b.memory.is_none() {
                self.start_broker(id)?;
            }
        }
        self.run();
        Ok(())
    }

    /// Cuts the link between nodes `a` and `b` (either may be the controller): the connections between them
    /// reset and nothing passes until [`MemoryCluster::heal`].
    pub fn cut(&mut self, a: i32, b: i32, now_ms: i64) -> Result<(), HostError> {
        self.advance(now_ms);
        self.check_link(a, b)?;
        self.cuts.insert(norm(a, b));
        self.reset_peer_connections(|from, to| norm(from, to) == norm(a, b));
        self.run();
        Ok(())
    }

    /// Heals the link between `a` and `b`.
    pub fn heal(&mut self, a: i32, b: i32, now_ms: i64) -> Result<(), HostError> {
        self.advance(now_ms);
        self.check_link(a, b)?;
        if self.cuts.remove(&norm(a, b)) {
            self.at(0, Ev::Propagate);
        }
        self.run();
        Ok(())
    }

    /// The cut links, each as (lower id, higher id).
    pub fn cuts(&self) -> Vec<(i32, i32)> {
        self.cuts.iter().copied().collect()
    }

    fn check_link(&self, a: i32, b: i32) -> Result<(), HostError> {
        for id in [a, b] {
            if id != self.controller.id && !self.brokers.contains_key(&id) {
                return Err(HostError::invalid_argument(format!("node {id} is not in the cluster")));
            }
        }
        if a == b {
            return Err(HostError::invalid_argument("a link joins two different nodes"));
        }
        Ok(())
    }

    fn linked(&self, a: i32, b: i32) -> bool {
        !self.cuts.contains(&norm(a, b))
    }

    // ---- nodes ----

    fn start_controller(&mut self) -> Result<(), HostError> {
        let c = &mut self.controller;
        let store = MetadataStore::open(
            Arc::new(c.backend.clone()),
            Path::new(CONTROLLER_DIR),
            c.config.metadata_snapshot_max_bytes,
            self.now_ms,
        )
        .map_err(|e| HostError::state(format!("the controller's metadata log does not open: {e}")))?;
        let mut controller = QuorumController::new(c.config.clone(), c.cluster_id.clone(), self.ids.next_u64());
        // The only voter leads as soon as it starts; as a newly elected Raft leader does, it gives every
        // registered broker a fresh session.
        controller.activate(store.image(), self.now_ms, true);
        c.image = store.image().clone();
        c.running = Some((controller, store));
        c.state = NodeState::Running;
        c.inc += 1;
        let inc = c.inc;
        self.at(0, Ev::ControllerTick(inc));
        Ok(())
    }

    fn start_broker(&mut self, id: i32) -> Result<(), HostError> {
        let seed = self.ids.next_u64();
        let now = self.now_ms;
        let b = self.brokers.get_mut(&id).ok_or_else(|| no_broker(id))?;
        let memory = MemoryBroker::open(b.config.clone(), b.backend.clone(), seed, now)?;
        b.memory = Some(memory);
        b.state = NodeState::Running;
        b.inc += 1;
        b.fetchers.clear();
        b.poll_at = None;
        self.service(id);
        self.at(0, Ev::Propagate);
        Ok(())
    }

    /// What a broker that went down leaves: its calls are dropped, the connections it kept at other brokers
    /// reset (their leaders forget its parked fetches).
    fn went_down(&mut self, id: i32) {
        if let Some(b) = self.brokers.get_mut(&id) {
            b.fetchers.clear();
            b.poll_at = None;
        }
        self.calls.retain(|_, c| c.broker != id);
        self.reset_peer_connections(|from, to| from == id || to == id);
        self.clients.retain(|_, c| c.node != id);
        self.client_by_local.retain(|(node, _), _| *node != id);
        self.client_requests.retain(|(node, _), _| *node != id);
    }

    /// Closes the connections between brokers that `which(from, to)` picks; what waits on them fails.
    fn reset_peer_connections(&mut self, which: impl Fn(i32, i32) -> bool) {
        let picked: Vec<(i32, i32, PeerUse)> =
            self.peer_connections.keys().copied().filter(|(from, to, _)| which(*from, *to)).collect();
        for key in picked {
            let Some(connection) = self.peer_connections.remove(&key) else { continue };
            let to = key.1;
            if let Some(memory) = self.brokers.get_mut(&to).and_then(|b| b.memory.as_mut()) {
                memory.close(connection);
                self.drain(to);
            }
        }
    }

    /// What the runtime does around every call into a broker: poll it, deliver the answers it decided, send
    /// its controller and marker calls, start fetchers for new leaders, and wake it when it asks.
    fn service(&mut self, id: i32) {
        let now = self.now_ms;
        let Some(b) = self.brokers.get_mut(&id) else { return };
        let inc = b.inc;
        let Some(memory) = b.memory.as_mut() else { return };
        let next = memory.poll(now);
        let Some(broker) = memory.broker() else { return };
        let calls = broker.take_controller_calls();
        let markers = broker.take_marker_calls();
        let leaders = broker.replica_fetch_leaders();
        let new_leaders: Vec<i32> = leaders.into_iter().filter(|l| b.fetchers.insert(*l)).collect();
        let wake = next.clamp(now + 1, now + POLL_INTERVAL_MAX_MS);
        let schedule = b.poll_at.is_none_or(|at| wake < at);
        if schedule {
            b.poll_at = Some(wake);
            self.at(wake - now, Ev::Poll(id));
        }
        self.drain(id);
        for leader in new_leaders {
            self.at(0, Ev::FetcherStep { b: id, inc, leader });
        }
        for call in calls {
            let key = self.next_call;
            self.next_call += 1;
            self.calls.insert(
                key,
                CallTask {
                    broker: id,
                    inc,
                    id: call.id,
                    request: call.request,
                    version: call.version,
                    deadline_ms: now + CALL_TIMEOUT_MS,
                },
            );
            self.at(0, Ev::Call(key));
        }
        for call in markers {
            self.at(0, Ev::Markers { b: id, inc, call });
        }
    }

    /// Hands a broker's decided answers on: to the host's connections, or to the broker that sent the request.
    fn drain(&mut self, id: i32) {
        let Some(memory) = self.brokers.get_mut(&id).and_then(|b| b.memory.as_mut()) else { return };
        for answer in memory.take_answers() {
            if let Some(peer) = self.peer_requests.remove(&(id, answer.request)) {
                match peer {
                    PeerRequest::Fetch { follower, inc, version, request } => {
                        let answer = peer_answer(ApiKey::Fetch, version, answer.frame);
                        self.at(0, Ev::FetchReply { b: follower, inc, leader: id, version, request, answer });
                    }
                    PeerRequest::Markers { coordinator, inc, call } => {
                        let answer = peer_answer(ApiKey::WriteTxnMarkers, WRITE_TXN_MARKERS_VERSION, answer.frame);
                        self.at(0, Ev::MarkersReply { b: coordinator, inc, call, answer });
                    }
                }
                continue;
            }
            let Some(request) = self.client_requests.remove(&(id, answer.request)) else { continue };
            let Some(connection) = self.client_by_local.get(&(id, answer.connection)).copied() else { continue };
            self.answers.push(Answer { connection, request, frame: answer.frame });
        }
    }

    /// Sends a request frame from broker `from` to broker `to` over the connection `from` keeps there.
    fn send_peer(&mut self, from: i32, to: i32, use_: PeerUse, frame: Bytes, what: PeerRequest) -> Result<(), String> {
        if !self.linked(from, to) {
            return Err(format!("broker {to} cannot be reached"));
        }
        let now = self.now_ms;
        let known = self.peer_connections.get(&(from, to, use_)).copied();
        let memory = self
            .brokers
            .get_mut(&to)
            .and_then(|b| b.memory.as_mut())
            .ok_or_else(|| format!("broker {to} refused the connection"))?;
        let connection = match known.filter(|c| memory.is_open(*c)) {
            Some(c) => c,
            None => {
                let c = memory.connect().map_err(|e| e.message)?;
                self.peer_connections.insert((from, to, use_), c);
                c
            }
        };
        let request = memory.submit(connection, frame, now).map_err(|e| e.message)?;
        self.peer_requests.insert((to, request), what);
        // The request may have completed others (a follower's fetch moves the high watermark) or asked the
        // controller something (an ISR expansion).
        self.service(to);
        Ok(())
    }

    fn correlation_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1) & i32::MAX;
        id
    }

    fn live(&self, b: i32, inc: u32) -> Option<&Broker> {
        self.brokers.get(&b).filter(|n| n.inc == inc).and_then(BrokerNode::broker)
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Poll(id) => {
                let now = self.now_ms;
                if let Some(b) = self.brokers.get_mut(&id) {
                    if b.poll_at.is_some_and(|at| at <= now) {
                        b.poll_at = None;
                    }
                }
                self.service(id);
            }
            Ev::FetcherStep { b, inc, leader } => self.fetcher_step(b, inc, leader),
            Ev::FetchReply { b, inc, leader, version, request, answer } => {
                let now = self.now_ms;
                let Some(broker) = self.live(b, inc) else { return };
                // An answer with a top-level error (the leader does not know this replica's epoch yet) rests as a
                // failed fetch does, rather than asking again at once.
                let failed = answer.as_ref().map_or(true, |r| r.error_code != 0);
                broker.replica_fetch_answer(leader, &request, version, answer, now);
                let backoff = if failed { broker.config().replica_fetch_backoff_ms.clamp(10, 60_000) } else { 0 };
                self.at(backoff, Ev::FetcherStep { b, inc, leader });
                self.service(b);
            }
            Ev::Markers { b, inc, call } => {
                if self.live(b, inc).is_none() {
                    return;
                }
                let correlation_id = self.correlation_id();
                let client_id = format!("potok-txn-coordinator-{b}");
                let sent = request_frame(
                    ApiKey::WriteTxnMarkers,
                    WRITE_TXN_MARKERS_VERSION,
                    correlation_id,
                    &client_id,
                    &call.request,
                )
                .and_then(|frame| {
                    let what = PeerRequest::Markers { coordinator: b, inc, call: call.id };
                    self.send_peer(b, call.broker, PeerUse::Markers, frame, what)
                });
                if let Err(e) = sent {
                    self.at(0, Ev::MarkersReply { b, inc, call: call.id, answer: Err(e) });
                }
            }
            Ev::MarkersReply { b, inc, call, answer } => {
                let now = self.now_ms;
                let Some(broker) = self.live(b, inc) else { return };
                broker.marker_answer(call, answer, now);
                self.service(b);
            }
            Ev::Call(key) => self.call(key),
            Ev::ControllerTick(inc) => {
                if self.controller.running.is_none() || self.controller.inc != inc {
                    return;
                }
                let now = self.now_ms;
                let records = match &mut self.controller.running {
                    Some((controller, store)) => controller.tick(store.image(), now),
                    None => Vec::new(),
                };
                if !records.is_empty() {
                    self.commit(&records);
                }
                self.at(CONTROLLER_TICK_MS, Ev::ControllerTick(inc));
            }
            Ev::Stopping { b, inc, deadline_ms } => {
                let Some(broker) = self.live(b, inc) else { return };
                if broker.may_stop() || self.now_ms >= deadline_ms {
                    self.finish_stop(b);
                } else {
                    self.at(SHUTDOWN_CHECK_MS, Ev::Stopping { b, inc, deadline_ms });
                }
            }
            Ev::Propagate => self.propagate(),
        }
    }

    fn finish_stop(&mut self, id: i32) {
        let now = self.now_ms;
        let Some(memory) = self.brokers.get_mut(&id).and_then(|b| b.memory.as_mut()) else { return };
        if let Err(e) = memory.stop(now) {
            tracing::error!("broker {id} did not stop cleanly: {}", e.message);
        }
        self.drain(id);
        if let Some(b) = self.brokers.get_mut(&id) {
            b.memory = None;
            b.state = NodeState::Stopped;
        }
        self.went_down(id);
    }

    /// One round of a follower's fetcher for one leader (`net::fetcher`).
    fn fetcher_step(&mut self, b: i32, inc: u32, leader: i32) {
        let (now, version) = (self.now_ms, self.fetch_version);
        let Some(broker) = self.live(b, inc) else { return };
        match broker.replica_fetch_request(leader, version, now) {
            ReplicaFetch::Done => {
                if let Some(node) = self.brokers.get_mut(&b) {
                    node.fetchers.remove(&leader);
                }
            }
            ReplicaFetch::Idle => {
                let pause = broker.config().replica_fetch_backoff_ms.clamp(10, 100);
                self.at(pause, Ev::FetcherStep { b, inc, leader });
            }
            ReplicaFetch::Send(request) => {
                let correlation_id = self.correlation_id();
                let client_id = format!("potok-replica-fetcher-{b}-from-{leader}");
                let sent =
                    request_frame(ApiKey::Fetch, version, correlation_id, &client_id, &request).and_then(|frame| {
                        let what = PeerRequest::Fetch { follower: b, inc, version, request: request.clone() };
                        self.send_peer(b, leader, PeerUse::Fetch, frame, what)
                    });
                if let Err(e) = sent {
                    self.at(0, Ev::FetchReply { b, inc, leader, version, request, answer: Err(e) });
                }
            }
        }
    }

    /// One attempt of a broker's call to the controller: answered when the controller runs and is reachable,
    /// retried otherwise until the call's deadline.
    fn call(&mut self, key: u64) {
        let now = self.now_ms;
        let Some(task) = self.calls.get(&key) else { return };
        let (b, inc) = (task.broker, task.inc);
        if self.live(b, inc).is_none() {
            self.calls.remove(&key);
            return;
        }
        if now >= task.deadline_ms {
            let Some(task) = self.calls.remove(&key) else { return };
            let gave_up = self.live(b, inc).and_then(|broker| {
                broker.controller_answer(task.id, Err("no controller answered in time".into()), now)
            });
            if let (Some(token), Some(memory)) = (gave_up, self.brokers.get_mut(&b).and_then(|n| n.memory.as_mut())) {
                memory.give_up(token);
            }
            self.service(b);
            return;
        }
        if self.controller.running.is_none() || !self.linked(b, self.controller.id) {
            self.at(CALL_RETRY_MS, Ev::Call(key));
            return;
        }
        let Some(task) = self.calls.remove(&key) else { return };
        let answer = self.controller_handle(task.request, task.version);
        if answer.1 {
            // Read your writes: the caller's image has what its call committed before it hears the answer.
            if let Some(broker) = self.live(b, inc) {
                broker.set_active_controller(Some(self.controller.id));
                broker.metadata_changed(self.controller.image.clone(), now);
            }
        }
        if let Some(broker) = self.live(b, inc) {
            let gave_up = broker.controller_answer(task.id, answer.0, now);
            if let (Some(token), Some(memory)) = (gave_up, self.brokers.get_mut(&b).and_then(|n| n.memory.as_mut())) {
                memory.give_up(token);
            }
        }
        self.service(b);
    }

    /// The controller's answer to a call, and whether it committed records. The call is handed over as the
    /// decoded message, as a single broker hands calls to its in-process controller: a round trip through the
    /// wire encoding (which the simulation in core/tests/sim does) would pull every request's encoder and every
    /// response's decoder into the page's module for no change in behaviour.
    fn controller_handle(&mut self, request: RequestKind, version: i16) -> (Result<ResponseKind, String>, bool) {
        let now = self.now_ms;
        let Some((controller, store)) = &mut self.controller.running else {
            return (Err("the controller is down".into()), false);
        };
        let result = controller.handle(store.image(), request, version, now);
        let committed = !result.records.is_empty();
        if committed && !self.commit(&result.records) {
            return (Err("the controller could not write its metadata log".into()), false);
        }
        (Ok(result.response), committed)
    }

    /// Appends records to the metadata log (with one voter, appended is committed) and sends the new image on.
    fn commit(&mut self, records: &[crate::controller::MetadataRecord]) -> bool {
        let now = self.now_ms;
        let Some((_, store)) = &mut self.controller.running else { return false };
        if let Err(e) = store.commit(records, now) {
            tracing::error!("the controller's metadata log refused a commit: {e}");
            return false;
        }
        store.maybe_snapshot(now);
        self.controller.image = store.image().clone();
        self.at(0, Ev::Propagate);
        true
    }

    /// Every running broker the controller reaches gets the committed image if it lacks it (its metadata
    /// fetch).
    fn propagate(&mut self) {
        if self.controller.running.is_none() {
            return;
        }
        let (now, image, ctrl) = (self.now_ms, self.controller.image.clone(), self.controller.id);
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        for id in ids {
            if !self.linked(id, ctrl) {
                continue;
            }
            let Some(broker) = self.brokers.get(&id).and_then(BrokerNode::broker) else { continue };
            broker.set_active_controller(Some(ctrl));
            if broker.metadata().offset < image.offset {
                broker.metadata_changed(image.clone(), now);
                self.service(id);
            }
        }
    }

    // ---- views ----

    /// What broker `id` holds ([`inspect::inspect`]).
    pub fn inspect(&self, id: i32, limits: &InspectLimits) -> Result<Inspection, HostError> {
        let broker = self.broker(id).ok_or_else(|| HostError::state(format!("broker {id} is down")))?;
        inspect::inspect(broker, limits)
    }

    /// The cluster as a picture needs it: nodes and their state, cut links, and per partition its leader,
    /// epoch, replicas, ISR and high watermark with each replica's log end offset.
    pub fn view(&self, internal_topics: bool) -> ClusterView {
        let image = &self.controller.image;
        let brokers = self
            .brokers
            .iter()
            .map(|(id, b)| {
                let registered = image.brokers.get(id);
                let lifecycle = b.broker();
                BrokerView {
                    id: *id,
                    state: b.state,
                    registered: registered.is_some(),
                    fenced: registered.is_none_or(|r| r.fenced),
                    in_controlled_shutdown: registered.is_some_and(|r| r.in_controlled_shutdown),
                    broker_epoch: registered.map_or(-1, |r| r.epoch),
                    metadata_offset: lifecycle.map_or(-1, |broker| broker.metadata().offset),
                }
            })
            .collect();
        let topics = image
            .topics
            .values()
            .filter(|t| internal_topics || !t.is_internal())
            .map(|t| ClusterTopicView {
                name: t.name.clone(),
                id: crate::controller::uuid_to_base64(&t.id),
                internal: t.is_internal(),
                configs: t.configs.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let logs: Vec<ReplicaLogView> = p
                            .replicas
                            .iter()
                            .map(|r| {
                                let replica = self.broker(*r).and_then(|broker| broker.partition(&t.name, p.partition));
                                ReplicaLogView {
                                    broker: *r,
                                    log_start_offset: replica.as_ref().map(|x| x.log().log_start_offset()),
                                    log_end_offset: replica.as_ref().map(|x| x.log_end_offset()),
                                    high_watermark: replica.as_ref().map(|x| x.high_watermark()),
                                    leader_epoch: replica.as_ref().map(|x| x.leader_epoch()),
                                }
                            })
                            .collect();
                        let high_watermark =
                            logs.iter().find(|l| l.broker == p.leader).and_then(|l| l.high_watermark).unwrap_or(-1);
                        ClusterPartitionView {
                            partition: p.partition,
                            leader: p.leader,
                            leader_epoch: p.leader_epoch,
                            partition_epoch: p.partition_epoch,
                            replicas: p.replicas.clone(),
                            isr: p.isr.clone(),
                            high_watermark,
                            logs,
                        }
                    })
                    .collect(),
            })
            .collect();
        ClusterView {
            cluster_id: self.controller.cluster_id.clone(),
            controller: ControllerView {
                id: self.controller.id,
                state: self.controller.state,
                metadata_offset: image.offset,
            },
            brokers,
            cuts: self.cuts.iter().map(|(a, b)| [*a, *b]).collect(),
            topics,
        }
    }
}

fn no_broker(id: i32) -> HostError {
    HostError::invalid_argument(format!("there is no broker {id}"))
}

/// The cluster as the controller's committed image and the brokers' logs show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub cluster_id: String,
    pub controller: ControllerView,
    pub brokers: Vec<BrokerView>,
    /// Cut links, each as [lower id, higher id].
    pub cuts: Vec<[i32; 2]>,
    pub topics: Vec<ClusterTopicView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerView {
    pub id: i32,
    pub state: NodeState,
    /// The offset of the last committed metadata record.
    pub metadata_offset: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerView {
    pub id: i32,
    pub state: NodeState,
    /// Whether the controller has it registered, and fenced (it may not lead or be in an ISR).
    pub registered: bool,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
    pub broker_epoch: i64,
    /// The offset of the metadata this broker has applied (-1 when down).
    pub metadata_offset: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTopicView {
    pub name: String,
    pub id: String,
    pub internal: bool,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<ClusterPartitionView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPartitionView {
    pub partition: i32,
    /// -1 when no replica may lead (the partition is offline).
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The leader's high watermark (-1 when the leader is down or there is none).
    pub high_watermark: i64,
    /// Each replica's log, in the order of `replicas`.
    pub logs: Vec<ReplicaLogView>,
}

/// One replica's log as its broker holds it (`None` while the broker is down or has no replica yet).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaLogView {
    pub broker: i32,
    pub log_start_offset: Option<i64>,
    pub log_end_offset: Option<i64>,
    /// The high watermark this replica knows (a follower learns it from its fetches).
    pub high_watermark: Option<i64>,
    pub leader_epoch: Option<i32>,
}

#[cfg(test)]
mod tests;
