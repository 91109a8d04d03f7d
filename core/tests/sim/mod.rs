//! A deterministic simulation of a potok cluster in virtual time: 3–5 brokers and 3 controllers, driven the
//! way `potok::net` drives them (poll, controller calls, metadata images, replica fetchers, parked requests),
//! over a simulated network that delays, drops and partitions messages, with nodes that crash (their page
//! cache survives, as after a killed process), shut down cleanly and restart, and admin requests
//! (reassignments, new partitions, preferred elections) among the faults. Everything random comes from one
//! seed, so a failing seed replays exactly.
//!
//! What is real: `Broker` (request handling, the replica state machine: high watermark, ISR, leader epochs,
//! truncation, the acks=all purgatory, registration, heartbeats, controlled shutdown) on the in-memory storage
//! backend, and the sans-IO `QuorumController`; every message between nodes goes through Kafka's wire encoding
//! at the version the real runtime uses. What is modelled: Raft (see [`quorum`]: the committed log is one list,
//! elections are the model's decision), the network (a lost message is a failed call after a delay, as a reset
//! or timed-out connection is to the runtime; no byte-level framing), and the runtime's tasks (the driver, the
//! fetchers, the observer and the controller client, with their timeouts and retries). Not modelled: losing
//! writes that never reached the page cache (power loss), the log cleaner, transactions and consumer groups.

mod checks;
mod quorum;
mod rng;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiKey, BrokerId, CreatePartitionsRequest, CreateTopicsRequest,
    ElectLeadersRequest, FetchRequest, FetchResponse, ProduceRequest, RequestHeader, RequestKind, ResponseKind,
    TopicName,
};
use kafka_protocol::protocol::{Message, StrBytes};
use potok::broker::{Broker, BrokerConfig, Listener, Outcome, ReplicaFetch, RequestContext};
use potok::controller::{MetadataImage, QuorumController, CONTROLLER_TICK_MS};
use potok::protocol::Request;
use potok::record::{BatchBuilder, Compression};
use potok::storage::MemoryBackend;

pub use checks::Violation;
use quorum::{ControllerSim, Entry, MetadataLog};
use rng::Rng;

/// The clock the simulation starts at (any fixed epoch-milliseconds value).
const START_MS: i64 = 1_750_000_000_000;
/// The client, which reaches every broker (partitions cut the cluster's own links).
const CLIENT: i32 = 0;
const FIRST_CONTROLLER: i32 = 101;
/// How long a broker's call to the controller keeps retrying (`raft::CALL_TIMEOUT`).
const CALL_TIMEOUT_MS: i64 = 30_000;
/// How long a controller call waits for one controller before trying another (the peer send timeout).
const PEER_TIMEOUT_MS: i64 = 5_000;
/// How long an observer's metadata fetch waits when it has everything (`raft::FETCH_MAX_WAIT`).
const FETCH_MAX_WAIT_MS: i64 = 500;
/// Raft's election timeout in the model (`controller.quorum.election.timeout.ms`'s order).
const ELECTION_TIMEOUT_MS: i64 = 1_000;
const TOPICS: &[&str] = &["t0", "t1"];
const PARTITIONS: i32 = 2;

/// One scenario's shape, drawn from the seed.
#[derive(Debug, Clone)]
pub struct Params {
    pub brokers: usize,
    pub controllers: usize,
    pub drop_rate: f64,
    /// How often a message is slow (50 ms – 2 s: it arrives after later ones).
    pub slow_rate: f64,
    /// The range of gaps between two faults.
    pub fault_gap_ms: (i64, i64),
    /// Faults happen in `[faults_from_ms, heal_at_ms)` after the start; then everything heals.
    pub faults_from_ms: i64,
    pub heal_at_ms: i64,
    pub produce_until_ms: i64,
    pub end_ms: i64,
}

impl Params {
    pub fn from_seed(seed: u64) -> Params {
        let mut rng = Rng::new(seed ^ 0x5157);
        Params {
            brokers: rng.range(3, 5) as usize,
            controllers: 3,
            drop_rate: [0.0, 0.005, 0.02, 0.05, 0.1][rng.below(5) as usize],
            slow_rate: [0.0, 0.03, 0.1][rng.below(3) as usize],
            fault_gap_ms: [(300, 2_500), (100, 800)][rng.below(2) as usize],
            faults_from_ms: 4_000,
            heal_at_ms: 20_000,
            produce_until_ms: 22_000,
            end_ms: 40_000,
        }
    }
}

/// What a run did, for the summary line.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub events: u64,
    pub produced: u64,
    pub acked: u64,
    pub epochs: u64,
    pub commits: usize,
    pub crashes: u64,
    pub partitions: u64,
    /// Replicas seen truncating their log (a diverged suffix after a leader change).
    pub truncations: u64,
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Pending {
    Fetch { follower: i32, inc: u32, version: i16, request: FetchRequest },
    Produce { id: u64 },
    Admin,
}

struct BrokerSim {
    id: i32,
    /// The broker's files; a crash replaces it with what a restarted process finds.
    backend: MemoryBackend,
    broker: Option<Broker>,
    /// Counts starts, so messages for a previous incarnation are dropped.
    inc: u32,
    /// Leaders this broker runs a fetcher for.
    fetchers: BTreeSet<i32>,
    /// How many committed metadata entries this broker's observer has.
    applied_len: usize,
    observer_hint: Option<i32>,
    poll_at: Option<i64>,
    /// Requests parked at this broker, by token.
    pending: BTreeMap<u64, Pending>,
}

/// A controller call in flight (the runtime's spawned task around `ControllerClient::call`).
struct CallTask {
    broker: i32,
    inc: u32,
    id: u64,
    request: RequestKind,
    version: i16,
    deadline_ms: i64,
    hint: Option<i32>,
    next_voter: usize,
}

#[derive(Debug)]
enum CallFailure {
    NotController(Option<i32>),
    Unavailable,
}

enum Ev {
    Poll(i32),
    FetcherStep {
        b: i32,
        inc: u32,
        leader: i32,
    },
    FetchAtLeader {
        from: i32,
        inc: u32,
        leader: i32,
        version: i16,
        request: FetchRequest,
    },
    FetchReply {
        b: i32,
        inc: u32,
        leader: i32,
        version: i16,
        request: FetchRequest,
        answer: Result<FetchResponse, String>,
    },
    CallAttempt(u64),
    CallAtController {
        key: u64,
        ctrl: i32,
    },
    CallReply {
        key: u64,
        ctrl: i32,
        result: Result<(ResponseKind, Option<usize>), CallFailure>,
    },
    ObserverFetch {
        b: i32,
        inc: u32,
    },
    ObserverAt {
        b: i32,
        inc: u32,
        ctrl: i32,
    },
    ObserverReply {
        b: i32,
        inc: u32,
        len: usize,
        hint: Option<i32>,
    },
    ControllerTick(i32),
    RaftCheck,
    Workload,
    ProduceAt {
        b: i32,
        id: u64,
        request: ProduceRequest,
    },
    ProduceReply {
        id: u64,
        answer: ResponseKind,
    },
    Admin,
    AdminAt {
        b: i32,
        key: ApiKey,
        version: i16,
        request: RequestKind,
    },
    Fault,
    RestartBroker {
        b: i32,
        inc: u32,
    },
    /// A broker in controlled shutdown: stops once the controller lets it (or after the runtime's 10 s).
    Stopping {
        b: i32,
        inc: u32,
        deadline_ms: i64,
    },
    RestartController(i32),
    Reconnect {
        node: i32,
        cut: u64,
    },
    Heal,
    Check,
}

/// An acks=all produce the client sent, and what became of it.
#[derive(Debug, Clone)]
pub struct Produced {
    pub topic: String,
    pub partition: i32,
    pub value: String,
    /// The offset the leader acknowledged it at.
    pub acked_at: Option<i64>,
}

pub struct Sim {
    pub seed: u64,
    pub params: Params,
    rng: Rng,
    now: i64,
    seq: u64,
    queue: BTreeMap<(i64, u64), Ev>,
    brokers: BTreeMap<i32, BrokerSim>,
    controllers: BTreeMap<i32, ControllerSim>,
    log: MetadataLog,
    /// The quorum's current epoch and the leader elected for it.
    epoch: u64,
    leader: Option<i32>,
    /// When the model elects a new leader, while the current one is dead or cut off.
    election_at: Option<i64>,
    /// The active controller of each epoch (whoever activated a QuorumController for it).
    activations: BTreeMap<u64, i32>,
    calls: BTreeMap<u64, CallTask>,
    next_key: u64,
    /// Which side of a network partition each node is on (absent: side 0).
    sides: BTreeMap<i32, u64>,
    next_cut: u64,
    drop_rate: f64,
    produced: BTreeMap<u64, Produced>,
    next_token: u64,
    checks: checks::State,
    pub trace: Vec<String>,
    verbose: bool,
    pub stats: Stats,
}

fn broker_config(id: i32, controllers: usize) -> BrokerConfig {
    let mut config = BrokerConfig::default();
    let voters: Vec<String> =
        (0..controllers as i32).map(|i| format!("{}@controller-{i}:9093", FIRST_CONTROLLER + i)).collect();
    for (k, v) in [
        ("node.id", id.to_string()),
        ("process.roles", "broker".into()),
        ("controller.quorum.voters", voters.join(",")),
        ("controller.listener.names", "CONTROLLER".into()),
        // Shorter than Kafka's defaults so that fencing, ISR shrinks and rejoins happen within a short run.
        ("broker.session.timeout.ms", "3000".into()),
        ("broker.heartbeat.interval.ms", "500".into()),
        ("replica.lag.time.max.ms", "4000".into()),
        ("replica.fetch.wait.max.ms", "300".into()),
        ("replica.fetch.backoff.ms", "300".into()),
        ("offsets.topic.num.partitions", "1".into()),
        ("transaction.state.log.num.partitions", "1".into()),
        ("auto.create.topics.enable", "false".into()),
        // Leadership moves back to preferred replicas within a run, under the faults.
        ("leader.imbalance.check.interval.seconds", "5".into()),
    ] {
        config.set(k, &v).expect("a valid setting");
    }
    config
}

fn listener(id: i32) -> Listener {
    Listener { name: "PLAINTEXT".into(), host: format!("broker-{id}"), port: 9092 }
}

/// Sends a request through the wire encoding at `version`, as between real nodes.
fn wire_request(key: ApiKey, version: i16, body: &RequestKind) -> RequestKind {
    let mut buf = BytesMut::new();
    body.encode(&mut buf, version).expect("the request encodes");
    RequestKind::decode(key, &mut buf.freeze(), version).expect("the request decodes")
}

fn wire_response(key: ApiKey, version: i16, body: &ResponseKind) -> ResponseKind {
    let mut buf = BytesMut::new();
    body.encode(&mut buf, version).expect("the response encodes");
    ResponseKind::decode(key, &mut buf.freeze(), version).expect("the response decodes")
}

fn api_key(request: &RequestKind) -> ApiKey {
    // The runtime's own mapping (ApiVersions stands for a kind a broker never sends the controller).
    let key = potok::controller::raft::peer::api_key_of(request);
    assert_ne!(key, ApiKey::ApiVersions, "a controller call the simulation does not expect: {request:?}");
    key
}

fn fetch_version() -> i16 {
    let supported = potok::protocol::versions::supported(ApiKey::Fetch).expect("Fetch is supported");
    supported.max.min(FetchRequest::VERSIONS.max)
}

const PRODUCE_VERSION: i16 = 9;

impl Sim {
    pub fn new(seed: u64, verbose: bool) -> Sim {
        let params = Params::from_seed(seed);
        let mut sim = Sim {
            seed,
            rng: Rng::new(seed),
            drop_rate: params.drop_rate,
            params,
            now: START_MS,
            seq: 0,
            queue: BTreeMap::new(),
            brokers: BTreeMap::new(),
            controllers: BTreeMap::new(),
            log: MetadataLog::new(),
            epoch: 0,
            leader: None,
            election_at: None,
            activations: BTreeMap::new(),
            calls: BTreeMap::new(),
            next_key: 0,
            sides: BTreeMap::new(),
            next_cut: 0,
            produced: BTreeMap::new(),
            next_token: 1,
            checks: checks::State::default(),
            trace: Vec::new(),
            verbose,
            stats: Stats::default(),
        };
        for i in 0..sim.params.controllers as i32 {
            let id = FIRST_CONTROLLER + i;
            let c = sim.new_controller(id);
            sim.controllers.insert(id, c);
            sim.at(0, Ev::ControllerTick(id));
        }
        for id in 1..=sim.params.brokers as i32 {
            sim.brokers.insert(
                id,
                BrokerSim {
                    id,
                    backend: MemoryBackend::new(),
                    broker: None,
                    inc: 0,
                    fetchers: BTreeSet::new(),
                    applied_len: 0,
                    observer_hint: None,
                    poll_at: None,
                    pending: BTreeMap::new(),
                },
            );
            sim.start_broker(id);
        }
        sim.at(0, Ev::RaftCheck);
        sim.at(1_000, Ev::Admin);
        sim.at(3_000, Ev::Workload);
        sim.at(sim.params.faults_from_ms, Ev::Fault);
        sim.at(sim.params.heal_at_ms, Ev::Heal);
        sim.at(500, Ev::Check);
        sim
    }

    fn new_controller(&mut self, id: i32) -> ControllerSim {
        let mut config = broker_config(id, self.params.controllers);
        config.set("process.roles", "controller").expect("a valid setting");
        let cluster_id = Broker::open(
            config.clone(),
            Arc::new(MemoryBackend::new()),
            Path::new("/cluster-id"),
            listener(id),
            1,
            START_MS,
        )
        .expect("a broker opens to tell the cluster id")
        .cluster_id()
        .to_string();
        ControllerSim {
            id,
            alive: true,
            leading: None,
            known_epoch: self.epoch,
            known_len: self.log.len(),
            controller: QuorumController::new(config, cluster_id, self.rng.next_u64()),
            activated: None,
            frozen_len: None,
            leader_hint: self.leader,
        }
    }

    fn note(&mut self, what: String) {
        let line = format!("t={:>6} {what}", self.now - START_MS);
        if self.verbose {
            eprintln!("[seed {}] {line}", self.seed);
        }
        self.trace.push(line);
    }

    /// Detail printed only when replaying one seed.
    fn debug(&self, what: impl FnOnce() -> String) {
        if self.verbose {
            eprintln!("[seed {}] t={:>6}   {}", self.seed, self.now - START_MS, what());
        }
    }

    fn at(&mut self, delay_ms: i64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((self.now + delay_ms.max(0), self.seq), ev);
    }

    /// Runs the scenario to its end, checking the invariants as it goes and at the end.
    pub fn run(&mut self) -> Result<(), Violation> {
        let end = START_MS + self.params.end_ms;
        while let Some(((time, _), ev)) = self.queue.pop_first() {
            if time > end {
                break;
            }
            self.now = time;
            self.stats.events += 1;
            self.step(ev)?;
        }
        self.now = end;
        let result = self.final_checks();
        self.stats.truncations = self.checks.truncations;
        result
    }

    // ---- the network ----

    fn alive(&self, node: i32) -> bool {
        if node == CLIENT {
            return true;
        }
        if let Some(b) = self.brokers.get(&node) {
            return b.broker.is_some();
        }
        self.controllers.get(&node).is_some_and(|c| c.alive)
    }

    fn connected(&self, a: i32, b: i32) -> bool {
        a == CLIENT
            || b == CLIENT
            || self.sides.get(&a).copied().unwrap_or(0) == self.sides.get(&b).copied().unwrap_or(0)
    }

    /// What happens to one message from `from` to `to`: `Ok(delay)` when it arrives, `Err(after)` when the
    /// sender learns, after that long, that it did not (a refused connection, a timeout, a reset).
    fn link(&mut self, from: i32, to: i32) -> Result<i64, i64> {
        if !self.alive(to) {
            return Err(self.rng.range(1, 50));
        }
        if !self.connected(from, to) {
            return Err(self.rng.range(200, 3_000));
        }
        if self.drop_rate > 0.0 && self.rng.chance(self.drop_rate) {
            return Err(self.rng.range(20, 1_000));
        }
        if self.drop_rate > 0.0 && self.rng.chance(self.params.slow_rate) {
            Ok(self.rng.range(50, 2_000))
        } else {
            Ok(self.rng.range(1, 5))
        }
    }

    // ---- brokers ----

    fn start_broker(&mut self, id: i32) {
        let config = broker_config(id, self.params.controllers);
        let seed = self.rng.next_u64();
        let b = self.brokers.get_mut(&id).expect("a known broker");
        let broker =
            Broker::open(config, Arc::new(b.backend.clone()), Path::new("/data"), listener(id), seed, self.now)
                .unwrap_or_else(|e| panic!("broker {id} does not open: {e}"));
        assert!(broker.is_cluster_member());
        b.broker = Some(broker);
        b.inc += 1;
        b.applied_len = 0;
        b.observer_hint = None;
        b.fetchers.clear();
        b.pending.clear();
        b.poll_at = None;
        let inc = b.inc;
        self.checks.broker_started(id);
        self.at(0, Ev::ObserverFetch { b: id, inc });
        self.service(id);
    }

    /// Stops a broker: killed (`clean == false`: what a restarted process finds is every write that reached
    /// the page cache) or, after its controlled shutdown, with `Broker::shutdown` (flush, checkpoints).
    fn stop_broker(&mut self, id: i32, clean: bool) -> Result<(), Violation> {
        let now = self.now;
        let b = self.brokers.get_mut(&id).expect("a known broker");
        let Some(broker) = b.broker.take() else { return Ok(()) };
        if clean {
            broker.shutdown(now).map_err(|e| Violation(format!("broker {id} did not shut down cleanly: {e}")))?;
        } else {
            b.backend = b.backend.snapshot();
            drop(broker);
        }
        let pending = std::mem::take(&mut b.pending);
        let inc = b.inc;
        self.stats.crashes += 1;
        self.note(format!("{} broker {id}", if clean { "stopped" } else { "crash" }));
        // Followers with a fetch parked here see their connection reset.
        for (_, p) in pending {
            if let Pending::Fetch { follower, inc, version, request } = p {
                let after = self.rng.range(1, 100);
                self.at(
                    after,
                    Ev::FetchReply { b: follower, inc, leader: id, version, request, answer: Err("reset".into()) },
                );
            }
        }
        let healed = self.now - START_MS >= self.params.heal_at_ms;
        let restart_after = if healed { 100 } else { self.rng.range(500, 6_000) };
        self.at(restart_after, Ev::RestartBroker { b: id, inc });
        Ok(())
    }

    fn broker(&self, id: i32) -> Option<&Broker> {
        self.brokers.get(&id).and_then(|b| b.broker.as_ref())
    }

    fn inc_of(&self, id: i32) -> Option<u32> {
        self.brokers.get(&id).filter(|b| b.broker.is_some()).map(|b| b.inc)
    }

    /// What the runtime does around every call into a broker: poll it, deliver the answers it decided, send
    /// its controller calls, start fetchers for new leaders, and wake it when it asks.
    fn service(&mut self, id: i32) {
        let Some(broker) = self.broker(id) else { return };
        let next = broker.poll(self.now);
        let completions = broker.take_completions();
        let calls = broker.take_controller_calls();
        for call in broker.take_marker_calls() {
            broker.marker_answer(call.id, Err("the simulation runs no transactions".into()), self.now);
        }
        let leaders = broker.replica_fetch_leaders();
        let b = self.brokers.get_mut(&id).expect("a known broker");
        let inc = b.inc;
        let new_leaders: Vec<i32> = leaders.into_iter().filter(|l| b.fetchers.insert(*l)).collect();
        let wake = next.max(self.now + 1);
        let schedule = b.poll_at.is_none_or(|at| wake < at);
        if schedule {
            b.poll_at = Some(wake);
        }
        let pending: Vec<(u64, Option<Pending>, ResponseKind)> =
            completions.into_iter().map(|(token, r)| (token, b.pending.remove(&token), r)).collect();
        if schedule {
            self.at(wake - self.now, Ev::Poll(id));
        }
        for leader in new_leaders {
            self.at(0, Ev::FetcherStep { b: id, inc, leader });
        }
        for call in calls {
            self.next_key += 1;
            let key = self.next_key;
            let next_voter = self.rng.below(self.params.controllers as u64) as usize;
            self.calls.insert(
                key,
                CallTask {
                    broker: id,
                    inc,
                    id: call.id,
                    request: call.request,
                    version: call.version,
                    deadline_ms: self.now + CALL_TIMEOUT_MS,
                    hint: None,
                    next_voter,
                },
            );
            self.at(0, Ev::CallAttempt(key));
        }
        for (_, pending, response) in pending {
            match pending {
                Some(Pending::Fetch { follower, inc, version, request }) => {
                    let ResponseKind::Fetch(r) = response else { panic!("a fetch answered with {response:?}") };
                    self.send_fetch_reply(id, follower, inc, version, request, r);
                }
                Some(Pending::Produce { id: pid }) => {
                    // A lost answer leaves the write unacknowledged (it may still be in the log).
                    if let Ok(d) = self.link(id, CLIENT) {
                        self.at(d, Ev::ProduceReply { id: pid, answer: response });
                    }
                }
                Some(Pending::Admin) => self.debug(|| format!("admin answer at broker {id}: {response:?}")),
                None => {}
            }
        }
    }

    fn send_fetch_reply(
        &mut self,
        leader: i32,
        follower: i32,
        inc: u32,
        version: i16,
        request: FetchRequest,
        r: FetchResponse,
    ) {
        let answer = match self.link(leader, follower) {
            Ok(d) => {
                let ResponseKind::Fetch(r) = wire_response(ApiKey::Fetch, version, &ResponseKind::Fetch(r)) else {
                    unreachable!()
                };
                (d, Ok(r))
            }
            Err(after) => (after, Err("no answer".to_string())),
        };
        self.at(answer.0, Ev::FetchReply { b: follower, inc, leader, version, request, answer: answer.1 });
    }

    fn next_token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn step(&mut self, ev: Ev) -> Result<(), Violation> {
        match ev {
            Ev::Poll(id) => {
                if let Some(b) = self.brokers.get_mut(&id) {
                    if b.poll_at.is_some_and(|at| at <= self.now) {
                        b.poll_at = None;
                    }
                }
                self.service(id);
            }
            Ev::FetcherStep { b, inc, leader } => self.fetcher_step(b, inc, leader),
            Ev::FetchAtLeader { from, inc, leader, version, request } => {
                let token = self.next_token();
                let Some(broker) = self.broker(leader) else {
                    let after = self.rng.range(1, 50);
                    self.at(
                        after,
                        Ev::FetchReply { b: from, inc, leader, version, request, answer: Err("refused".into()) },
                    );
                    return Ok(());
                };
                let body = wire_request(ApiKey::Fetch, version, &RequestKind::Fetch(request.clone()));
                let header = RequestHeader::default()
                    .with_request_api_key(ApiKey::Fetch as i16)
                    .with_request_api_version(version);
                let ctx = RequestContext {
                    token,
                    client_id: format!("potok-replica-fetcher-{from}-from-{leader}"),
                    client_host: format!("/broker-{from}"),
                    controller_listener: false,
                };
                let outcome = broker.handle(Request { api_key: ApiKey::Fetch, header, body }, &ctx, self.now);
                match outcome {
                    Outcome::Respond(ResponseKind::Fetch(r)) => {
                        self.send_fetch_reply(leader, from, inc, version, request, r)
                    }
                    Outcome::Parked => {
                        let b = self.brokers.get_mut(&leader).expect("a known broker");
                        b.pending.insert(token, Pending::Fetch { follower: from, inc, version, request });
                    }
                    other => panic!("a replica fetch ended with {other:?}"),
                }
                self.service(leader);
            }
            Ev::FetchReply { b, inc, leader, version, request, answer } => {
                if self.inc_of(b) != Some(inc) {
                    return Ok(());
                }
                let failed = answer.is_err();
                if let Ok(r) = &answer {
                    for t in &r.responses {
                        for p in t.partitions.iter().filter(|p| p.error_code != 0 || p.diverging_epoch.epoch >= 0) {
                            self.debug(|| {
                                format!(
                                    "broker {b} <- fetch from {leader}: partition {} of {}: error {}, diverging {:?}",
                                    p.partition_index, t.topic_id, p.error_code, p.diverging_epoch
                                )
                            });
                        }
                    }
                }
                let broker = self.broker(b).expect("a live broker");
                broker.replica_fetch_answer(leader, &request, version, answer, self.now);
                let backoff = if failed { broker.config().replica_fetch_backoff_ms.clamp(10, 60_000) } else { 0 };
                self.at(backoff, Ev::FetcherStep { b, inc, leader });
                self.service(b);
            }
            Ev::CallAttempt(key) => self.call_attempt(key),
            Ev::CallAtController { key, ctrl } => self.call_at_controller(key, ctrl),
            Ev::CallReply { key, ctrl, result } => self.call_reply(key, ctrl, result)?,
            Ev::ObserverFetch { b, inc } => self.observer_fetch(b, inc),
            Ev::ObserverAt { b, inc, ctrl } => {
                let Some(c) = self.controllers.get(&ctrl).filter(|c| c.alive) else {
                    let after = self.rng.range(1, 50);
                    self.at(after, Ev::ObserverFetch { b, inc });
                    return Ok(());
                };
                let len = if self.leader == Some(ctrl) && c.leading == Some(self.epoch) {
                    self.log.len()
                } else {
                    c.known_len
                };
                let hint = c.leader_hint;
                let applied = self.brokers.get(&b).map_or(0, |s| s.applied_len);
                // With nothing new, the fetch waits (at most FETCH_MAX_WAIT) for the next entry.
                let wait = if len > applied { 0 } else { self.rng.range(20, FETCH_MAX_WAIT_MS) };
                match self.link(ctrl, b) {
                    Ok(d) => self.at(wait + d, Ev::ObserverReply { b, inc, len, hint }),
                    Err(after) => self.at(wait + after, Ev::ObserverFetch { b, inc }),
                }
            }
            Ev::ObserverReply { b, inc, len, hint } => {
                if self.inc_of(b) != Some(inc) {
                    return Ok(());
                }
                let s = self.brokers.get_mut(&b).expect("a known broker");
                s.observer_hint = hint.or(s.observer_hint);
                let advanced = len > s.applied_len;
                if advanced {
                    s.applied_len = len;
                }
                let image = self.log.images[len].clone();
                let broker = self.broker(b).expect("a live broker");
                broker.set_active_controller(hint);
                if advanced {
                    broker.metadata_changed(image, self.now);
                }
                self.at(0, Ev::ObserverFetch { b, inc });
                self.service(b);
            }
            Ev::ControllerTick(id) => {
                self.controller_tick(id)?;
                self.at(CONTROLLER_TICK_MS, Ev::ControllerTick(id));
            }
            Ev::RaftCheck => {
                self.raft_check()?;
                self.at(50, Ev::RaftCheck);
            }
            Ev::Workload => {
                self.produce_one();
                if self.now - START_MS < self.params.produce_until_ms {
                    let next = self.rng.range(10, 120);
                    self.at(next, Ev::Workload);
                }
            }
            Ev::ProduceAt { b, id, request } => {
                let token = self.next_token();
                let Some(broker) = self.broker(b) else { return Ok(()) };
                let body = wire_request(ApiKey::Produce, PRODUCE_VERSION, &RequestKind::Produce(request));
                let header = RequestHeader::default()
                    .with_request_api_key(ApiKey::Produce as i16)
                    .with_request_api_version(PRODUCE_VERSION);
                let ctx = RequestContext {
                    token,
                    client_id: "sim-producer".into(),
                    client_host: "/client".into(),
                    controller_listener: false,
                };
                match broker.handle(Request { api_key: ApiKey::Produce, header, body }, &ctx, self.now) {
                    Outcome::Respond(answer) => {
                        if let Ok(d) = self.link(b, CLIENT) {
                            self.at(d, Ev::ProduceReply { id, answer });
                        }
                    }
                    Outcome::Parked => {
                        self.brokers
                            .get_mut(&b)
                            .expect("a known broker")
                            .pending
                            .insert(token, Pending::Produce { id });
                    }
                    Outcome::NoResponse => panic!("an acks=all produce got no response"),
                    Outcome::RespondWithFiles(..) => panic!("a produce answered with a fetch's file records"),
                }
                self.service(b);
            }
            Ev::ProduceReply { id, answer } => {
                let answer = wire_response(ApiKey::Produce, PRODUCE_VERSION, &answer);
                let ResponseKind::Produce(r) = answer else { panic!("a produce answered with {answer:?}") };
                let p =
                    r.responses.first().and_then(|t| t.partition_responses.first()).expect("one partition answered");
                if p.error_code == 0 {
                    let produced = self.produced.get_mut(&id).expect("a produced record");
                    produced.acked_at = Some(p.base_offset);
                    self.stats.acked += 1;
                }
            }
            Ev::Admin => self.admin(),
            Ev::AdminAt { b, key, version, request } => {
                let token = self.next_token();
                let Some(broker) = self.broker(b) else { return Ok(()) };
                let body = wire_request(key, version, &request);
                let header =
                    RequestHeader::default().with_request_api_key(key as i16).with_request_api_version(version);
                let ctx = RequestContext {
                    token,
                    client_id: "sim-admin".into(),
                    client_host: "/client".into(),
                    controller_listener: false,
                };
                match broker.handle(Request { api_key: key, header, body }, &ctx, self.now) {
                    Outcome::Parked => {
                        self.brokers.get_mut(&b).expect("a known broker").pending.insert(token, Pending::Admin);
                    }
                    other => self.debug(|| format!("admin {key:?} at broker {b}: {other:?}")),
                }
                self.service(b);
            }
            Ev::Fault => {
                if self.now - START_MS >= self.params.heal_at_ms {
                    return Ok(());
                }
                self.fault()?;
                if self.now - START_MS < self.params.heal_at_ms {
                    let (lo, hi) = self.params.fault_gap_ms;
                    let next = self.rng.range(lo, hi);
                    self.at(next, Ev::Fault);
                }
            }
            Ev::RestartBroker { b, inc } => {
                if self.brokers.get(&b).is_some_and(|s| s.broker.is_none() && s.inc == inc) {
                    self.note(format!("restart broker {b}"));
                    self.start_broker(b);
                }
            }
            Ev::RestartController(id) => self.restart_controller(id),
            Ev::Stopping { b, inc, deadline_ms } => {
                if self.inc_of(b) != Some(inc) {
                    return Ok(());
                }
                let may_stop = self.broker(b).expect("a live broker").may_stop();
                if may_stop || self.now >= deadline_ms {
                    self.stop_broker(b, true)?;
                } else {
                    self.service(b);
                    self.at(20, Ev::Stopping { b, inc, deadline_ms });
                }
            }
            Ev::Reconnect { node, cut } => {
                if self.sides.get(&node) == Some(&cut) {
                    self.sides.remove(&node);
                    self.note(format!("reconnect node {node}"));
                }
            }
            Ev::Heal => {
                self.note("heal: the network is whole, dropped messages stop, every node restarts".into());
                self.sides.clear();
                self.drop_rate = 0.0;
                let dead_brokers: Vec<i32> =
                    self.brokers.values().filter(|b| b.broker.is_none()).map(|b| b.id).collect();
                for b in dead_brokers {
                    self.note(format!("restart broker {b}"));
                    self.start_broker(b);
                }
                let dead: Vec<i32> = self.controllers.values().filter(|c| !c.alive).map(|c| c.id).collect();
                for c in dead {
                    self.restart_controller(c);
                }
            }
            Ev::Check => {
                self.check_now()?;
                self.at(500, Ev::Check);
            }
        }
        self.take_deferred()
    }

    /// The observer's metadata fetch (`MetadataObserver`): from the voter it last heard of as leader, or the
    /// next one.
    fn observer_fetch(&mut self, b: i32, inc: u32) {
        if self.inc_of(b) != Some(inc) {
            return;
        }
        let hint = self.brokers.get(&b).and_then(|s| s.observer_hint);
        let target = match hint {
            Some(h) => h,
            None => FIRST_CONTROLLER + self.rng.below(self.params.controllers as u64) as i32,
        };
        match self.link(b, target) {
            Ok(d) => self.at(d, Ev::ObserverAt { b, inc, ctrl: target }),
            Err(after) => {
                self.brokers.get_mut(&b).expect("a known broker").observer_hint = None;
                self.at(after + 100, Ev::ObserverFetch { b, inc });
            }
        }
    }

    fn fetcher_step(&mut self, b: i32, inc: u32, leader: i32) {
        if self.inc_of(b) != Some(inc) {
            return;
        }
        let version = fetch_version();
        let broker = self.broker(b).expect("a live broker");
        match broker.replica_fetch_request(leader, version, self.now) {
            ReplicaFetch::Done => {
                self.brokers.get_mut(&b).expect("a known broker").fetchers.remove(&leader);
            }
            ReplicaFetch::Idle => {
                let pause = broker.config().replica_fetch_backoff_ms.clamp(10, 100);
                self.at(pause, Ev::FetcherStep { b, inc, leader });
            }
            ReplicaFetch::Send(request) => match self.link(b, leader) {
                Ok(d) => self.at(d, Ev::FetchAtLeader { from: b, inc, leader, version, request }),
                Err(after) => self
                    .at(after, Ev::FetchReply { b, inc, leader, version, request, answer: Err("unreachable".into()) }),
            },
        }
    }

    // ---- the client ----

    fn produce_one(&mut self) {
        let live: Vec<i32> = self.brokers.values().filter(|b| b.broker.is_some()).map(|b| b.id).collect();
        let Some(&via) = self.rng.pick(&live) else { return };
        // The client's idea of the leader comes from some broker's metadata, which may be stale.
        let image = self.broker(via).expect("a live broker").metadata();
        let topic = TOPICS[self.rng.below(TOPICS.len() as u64) as usize];
        let partition = self.rng.below(PARTITIONS as u64) as i32;
        let Some(leader) = image.topics.get(topic).and_then(|t| t.partition(partition)).map(|p| p.leader) else {
            return;
        };
        if leader < 0 {
            return;
        }
        let id = self.produced.len() as u64;
        let value = format!("s{}-v{id}", self.seed);
        let mut batch = BatchBuilder::new(Compression::None);
        batch.append(self.now, None, Some(value.as_bytes()), &[]);
        let records = Bytes::from(batch.build().expect("a batch builds"));
        let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(2_000).with_topic_data(vec![
            TopicProduceData::default().with_name(TopicName(StrBytes::from_static_str(topic))).with_partition_data(
                vec![PartitionProduceData::default().with_index(partition).with_records(Some(records))],
            ),
        ]);
        self.produced.insert(id, Produced { topic: topic.into(), partition, value, acked_at: None });
        self.stats.produced += 1;
        if let Ok(d) = self.link(CLIENT, leader) {
            self.at(d, Ev::ProduceAt { b: leader, id, request });
        }
    }

    fn admin(&mut self) {
        let image = self.log.image().clone();
        if TOPICS.iter().all(|t| image.topics.contains_key(*t)) {
            return;
        }
        let live: Vec<i32> = self.brokers.values().filter(|b| b.broker.is_some()).map(|b| b.id).collect();
        if let Some(&b) = self.rng.pick(&live) {
            let topics = TOPICS
                .iter()
                .map(|t| {
                    CreatableTopic::default()
                        .with_name(TopicName(StrBytes::from_static_str(t)))
                        .with_num_partitions(PARTITIONS)
                        .with_replication_factor(3)
                        .with_configs(vec![CreatableTopicConfig::default()
                            .with_name(StrBytes::from_static_str("min.insync.replicas"))
                            .with_value(Some(StrBytes::from_static_str("2")))])
                })
                .collect();
            let request = CreateTopicsRequest::default().with_topics(topics).with_timeout_ms(10_000);
            if let Ok(d) = self.link(CLIENT, b) {
                let request = RequestKind::CreateTopics(request);
                self.at(d, Ev::AdminAt { b, key: ApiKey::CreateTopics, version: 7, request });
            }
        }
        self.at(1_000, Ev::Admin);
    }

    /// An admin moves one partition to three brokers drawn at random (AlterPartitionReassignments, sent to
    /// any broker, which forwards it to the controller).
    fn reassign(&mut self) {
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        if ids.len() < 4 {
            return;
        }
        let mut pool = ids.clone();
        let mut target = Vec::new();
        while target.len() < 3 {
            let i = self.rng.below(pool.len() as u64) as usize;
            target.push(pool.remove(i));
        }
        let topic = TOPICS[self.rng.below(TOPICS.len() as u64) as usize];
        let partition = self.rng.below(PARTITIONS as u64) as i32;
        let live: Vec<i32> = self.brokers.values().filter(|b| b.broker.is_some()).map(|b| b.id).collect();
        let Some(&via) = self.rng.pick(&live) else { return };
        self.note(format!("reassign {topic}-{partition} to {target:?} (via broker {via})"));
        let request = AlterPartitionReassignmentsRequest::default().with_timeout_ms(30_000).with_topics(vec![
            ReassignableTopic::default().with_name(TopicName(StrBytes::from_static_str(topic))).with_partitions(vec![
                ReassignablePartition::default()
                    .with_partition_index(partition)
                    .with_replicas(Some(target.into_iter().map(BrokerId).collect())),
            ]),
        ]);
        if let Ok(d) = self.link(CLIENT, via) {
            let request = RequestKind::AlterPartitionReassignments(request);
            self.at(d, Ev::AdminAt { b: via, key: ApiKey::AlterPartitionReassignments, version: 0, request });
        }
    }

    /// An admin adds a partition to a topic (CreatePartitions through any broker).
    fn add_partition(&mut self) {
        let topic = TOPICS[self.rng.below(TOPICS.len() as u64) as usize];
        let count = self.log.image().topics.get(topic).map_or(0, |t| t.partitions.len()) as i32 + 1;
        if !(2..=4).contains(&count) {
            return;
        }
        let live: Vec<i32> = self.brokers.values().filter(|b| b.broker.is_some()).map(|b| b.id).collect();
        let Some(&via) = self.rng.pick(&live) else { return };
        self.note(format!("grow {topic} to {count} partitions (via broker {via})"));
        let request = CreatePartitionsRequest::default().with_timeout_ms(30_000).with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(topic)))
                .with_count(count)
                .with_assignments(None),
        ]);
        if let Ok(d) = self.link(CLIENT, via) {
            let request = RequestKind::CreatePartitions(request);
            self.at(d, Ev::AdminAt { b: via, key: ApiKey::CreatePartitions, version: 3, request });
        }
    }

    /// An admin asks for preferred leaders everywhere (ElectLeaders through any broker).
    fn elect_preferred(&mut self) {
        let live: Vec<i32> = self.brokers.values().filter(|b| b.broker.is_some()).map(|b| b.id).collect();
        let Some(&via) = self.rng.pick(&live) else { return };
        self.note(format!("elect preferred leaders (via broker {via})"));
        let request =
            ElectLeadersRequest::default().with_election_type(0).with_topic_partitions(None).with_timeout_ms(30_000);
        if let Ok(d) = self.link(CLIENT, via) {
            let request = RequestKind::ElectLeaders(request);
            self.at(d, Ev::AdminAt { b: via, key: ApiKey::ElectLeaders, version: 2, request });
        }
    }

    // ---- controller calls ----

    fn call_attempt(&mut self, key: u64) {
        let Some(task) = self.calls.get_mut(&key) else { return };
        let (b, inc) = (task.broker, task.inc);
        if self.brokers.get(&b).is_none_or(|s| s.broker.is_none() || s.inc != inc) {
            self.calls.remove(&key);
            return;
        }
        if self.now >= task.deadline_ms {
            let task = self.calls.remove(&key).expect("the task");
            let broker = self.broker(b).expect("a live broker");
            broker.controller_answer(task.id, Err("no controller answered in time".into()), self.now);
            self.service(b);
            return;
        }
        let target = match task.hint {
            Some(h) => h,
            None => {
                task.next_voter += 1;
                FIRST_CONTROLLER + (task.next_voter % self.params.controllers) as i32
            }
        };
        let api = api_key(&self.calls[&key].request);
        self.debug(|| format!("broker {b} -> controller {target}: {api:?} (call {key})"));
        match self.link(b, target) {
            Ok(d) => self.at(d, Ev::CallAtController { key, ctrl: target }),
            Err(after) => {
                self.calls.get_mut(&key).expect("the task").hint = None;
                self.at(after.min(PEER_TIMEOUT_MS) + 100, Ev::CallAttempt(key));
            }
        }
    }

    fn call_at_controller(&mut self, key: u64, ctrl: i32) {
        let Some(task) = self.calls.get(&key) else { return };
        let (b, request, version) = (task.broker, task.request.clone(), task.version);
        if !self.controllers.get(&ctrl).is_some_and(|c| c.alive) {
            self.calls.get_mut(&key).expect("the task").hint = None;
            let after = self.rng.range(1, 50);
            self.at(after, Ev::CallAttempt(key));
            return;
        }
        let key_api = api_key(&request);
        let request = wire_request(key_api, version, &request);
        let (result, extra_delay) = match self.controller_handle(ctrl, request, version) {
            Ok((response, index)) => (Ok((wire_response(key_api, version, &response), index)), 0),
            // A deposed leader's write never commits: the caller gives up on it after the peer timeout.
            Err(CallFailure::Unavailable) => (Err(CallFailure::Unavailable), PEER_TIMEOUT_MS),
            Err(e) => (Err(e), 0),
        };
        match self.link(ctrl, b) {
            Ok(d) => self.at(d + extra_delay, Ev::CallReply { key, ctrl, result }),
            Err(after) => {
                self.calls.get_mut(&key).expect("the task").hint = None;
                self.at(after.max(extra_delay) + 100, Ev::CallAttempt(key));
            }
        }
    }

    fn call_reply(
        &mut self,
        key: u64,
        ctrl: i32,
        result: Result<(ResponseKind, Option<usize>), CallFailure>,
    ) -> Result<(), Violation> {
        let Some(task) = self.calls.get(&key) else { return Ok(()) };
        let (b, inc) = (task.broker, task.inc);
        if self.inc_of(b) != Some(inc) {
            self.calls.remove(&key);
            return Ok(());
        }
        match result {
            Ok((response, index)) => {
                let task = self.calls.remove(&key).expect("the task");
                self.debug(|| format!("broker {b} <- controller {ctrl}: {response:?} (index {index:?})"));
                // Read your writes: the runtime hands the broker an image with the call's records first.
                if let Some(index) = index {
                    let s = self.brokers.get_mut(&b).expect("a known broker");
                    if s.applied_len < index + 1 {
                        s.applied_len = index + 1;
                        let image = self.log.images[index + 1].clone();
                        self.broker(b).expect("a live broker").metadata_changed(image, self.now);
                    }
                }
                let broker = self.broker(b).expect("a live broker");
                broker.controller_answer(task.id, Ok(response), self.now);
                self.service(b);
            }
            Err(CallFailure::NotController(leader)) => {
                self.debug(|| format!("broker {b} <- controller {ctrl}: not the controller (leader {leader:?})"));
                let task = self.calls.get_mut(&key).expect("the task");
                task.hint = leader.filter(|l| *l != ctrl);
                let pause = if task.hint.is_some() { 0 } else { 100 };
                self.at(pause, Ev::CallAttempt(key));
            }
            Err(CallFailure::Unavailable) => {
                self.debug(|| format!("broker {b} <- controller {ctrl}: unavailable"));
                let task = self.calls.get_mut(&key).expect("the task");
                task.hint = None;
                self.at(100, Ev::CallAttempt(key));
            }
        }
        Ok(())
    }

    // ---- the quorum ----

    fn has_majority(&self, ctrl: i32) -> bool {
        if !self.controllers.get(&ctrl).is_some_and(|c| c.alive) {
            return false;
        }
        let reach = self.controllers.values().filter(|c| c.alive && self.connected(ctrl, c.id)).count();
        reach * 2 > self.params.controllers
    }

    /// `ControllerNode::lead`: the node must believe it leads; the first decision of an epoch activates the
    /// controller over the committed image, which needs the quorum (`ensure_linearizable`).
    fn lead(&mut self, ctrl: i32) -> Result<(u64, Arc<MetadataImage>), CallFailure> {
        let c = self.controllers.get(&ctrl).expect("a known controller");
        let Some(epoch) = c.leading else { return Err(CallFailure::NotController(c.leader_hint)) };
        if c.activated != Some(epoch) {
            if epoch != self.epoch || !self.has_majority(ctrl) {
                return Err(CallFailure::Unavailable);
            }
            let image = self.log.image().clone();
            let now = self.now;
            let c = self.controllers.get_mut(&ctrl).expect("a known controller");
            c.controller.activate(&image, now, true);
            c.activated = Some(epoch);
            self.note(format!("controller {ctrl} is active for epoch {epoch}"));
            if let Err(v) = self.checks.activated(&mut self.activations, epoch, ctrl) {
                self.checks.deferred.get_or_insert(v);
            }
        }
        let c = self.controllers.get(&ctrl).expect("a known controller");
        let image = match c.frozen_len {
            Some(len) => self.log.images[len].clone(),
            None => self.log.image().clone(),
        };
        Ok((epoch, image))
    }

    /// Commits a decision if `ctrl` still leads the current epoch and reaches a majority.
    fn commit(&mut self, ctrl: i32, epoch: u64, records: Vec<potok::controller::MetadataRecord>) -> Option<usize> {
        if epoch != self.epoch || self.leader != Some(ctrl) || !self.has_majority(ctrl) {
            return None;
        }
        self.debug(|| format!("controller {ctrl} commits {records:?}"));
        let index = self.log.append(Entry::Records { epoch, records });
        self.stats.commits += 1;
        if let Err(v) = checks::committed_image(self.log.image(), &mut self.checks.committed_epochs) {
            self.checks.deferred.get_or_insert(v);
        }
        Some(index)
    }

    fn controller_handle(
        &mut self,
        ctrl: i32,
        request: RequestKind,
        version: i16,
    ) -> Result<(ResponseKind, Option<usize>), CallFailure> {
        let (epoch, image) = match self.lead(ctrl) {
            Ok(x) => x,
            Err(CallFailure::Unavailable) => return Err(CallFailure::Unavailable),
            Err(e) => return Err(e),
        };
        let now = self.now;
        let c = self.controllers.get_mut(&ctrl).expect("a known controller");
        let result = c.controller.handle(&image, request, version, now);
        if result.records.is_empty() {
            return Ok((result.response, None));
        }
        match self.commit(ctrl, epoch, result.records) {
            Some(index) => Ok((result.response, Some(index))),
            None => Err(CallFailure::Unavailable),
        }
    }

    fn controller_tick(&mut self, ctrl: i32) -> Result<(), Violation> {
        if !self.controllers.get(&ctrl).is_some_and(|c| c.alive && c.leading.is_some()) {
            return Ok(());
        }
        let Ok((epoch, image)) = self.lead(ctrl) else { return self.take_deferred() };
        let now = self.now;
        let records = self.controllers.get_mut(&ctrl).expect("a known controller").controller.tick(&image, now);
        if !records.is_empty() {
            self.commit(ctrl, epoch, records);
        }
        self.take_deferred()
    }

    fn take_deferred(&mut self) -> Result<(), Violation> {
        match self.checks.deferred.take() {
            Some(v) => Err(v),
            None => Ok(()),
        }
    }

    fn raft_check(&mut self) -> Result<(), Violation> {
        self.take_deferred()?;
        let epoch = self.epoch;
        let leader_ok = self.leader.is_some_and(|l| {
            self.has_majority(l) && self.controllers.get(&l).is_some_and(|c| c.leading == Some(epoch))
        });
        // A node that reaches the quorum hears the current epoch: a deposed leader steps down, everyone learns
        // the leader and catches up with the committed log.
        let ids: Vec<i32> = self.controllers.keys().copied().collect();
        for id in ids {
            let reaches = self.has_majority(id);
            let reaches_leader = self.leader.is_some_and(|l| leader_ok && self.connected(id, l));
            let (leader, len) = (self.leader, self.log.len());
            let c = self.controllers.get_mut(&id).expect("a known controller");
            if !c.alive {
                continue;
            }
            if reaches && c.known_epoch < epoch {
                c.known_epoch = epoch;
            }
            if c.leading.is_some_and(|e| e < c.known_epoch) {
                c.leading = None;
                c.frozen_len = None;
            }
            if reaches_leader {
                c.known_len = len;
                c.leader_hint = leader;
            }
        }
        if leader_ok {
            self.election_at = None;
            return Ok(());
        }
        let timeout = self.rng.range(ELECTION_TIMEOUT_MS, 2 * ELECTION_TIMEOUT_MS);
        let at = *self.election_at.get_or_insert(self.now + timeout);
        if self.now < at {
            return Ok(());
        }
        let candidates: Vec<i32> = self.controllers.keys().copied().filter(|id| self.has_majority(*id)).collect();
        let Some(&winner) = self.rng.pick(&candidates) else { return Ok(()) };
        self.election_at = None;
        let len = self.log.len();
        // The deposed leader, if alive, still believes it leads; it sees only what was committed so far.
        if let Some(old) = self.leader.and_then(|l| self.controllers.get_mut(&l)) {
            if old.alive && old.leading.is_some() {
                old.frozen_len = Some(len);
            }
        }
        self.epoch += 1;
        self.stats.epochs += 1;
        self.leader = Some(winner);
        self.log.append(Entry::Blank { epoch: self.epoch });
        let (new_epoch, new_len) = (self.epoch, self.log.len());
        let ids: Vec<i32> = self.controllers.keys().copied().collect();
        for id in ids {
            let with_winner = self.connected(id, winner);
            let c = self.controllers.get_mut(&id).expect("a known controller");
            if c.alive && with_winner {
                c.known_epoch = new_epoch;
                c.known_len = new_len;
                c.leader_hint = Some(winner);
                if c.leading.is_some() && id != winner {
                    c.leading = None;
                    c.frozen_len = None;
                }
            }
        }
        let c = self.controllers.get_mut(&winner).expect("a known controller");
        c.leading = Some(new_epoch);
        c.frozen_len = None;
        self.note(format!("controller {winner} elected for epoch {new_epoch}"));
        Ok(())
    }

    fn crash_controller(&mut self, id: i32) {
        let c = self.controllers.get_mut(&id).expect("a known controller");
        if !c.alive {
            return;
        }
        c.alive = false;
        c.leading = None;
        c.activated = None;
        if self.leader == Some(id) {
            self.leader = None;
        }
        self.stats.crashes += 1;
        self.note(format!("crash controller {id}"));
        let after = self.rng.range(500, 5_000);
        self.at(after, Ev::RestartController(id));
    }

    fn restart_controller(&mut self, id: i32) {
        if self.controllers.get(&id).is_none_or(|c| c.alive) {
            return;
        }
        // The metadata log is on disk: the node comes back with what it had, and a fresh controller.
        let known_len = self.controllers.get(&id).map_or(0, |c| c.known_len);
        let mut c = self.new_controller(id);
        c.known_len = known_len;
        c.leader_hint = None;
        self.controllers.insert(id, c);
        self.note(format!("restart controller {id}"));
    }

    // ---- faults ----

    fn fault(&mut self) -> Result<(), Violation> {
        match self.rng.below(16) {
            11..=13 => self.reassign(),
            14 => self.add_partition(),
            15 => self.elect_preferred(),
            0..=2 => {
                let live: Vec<i32> = self.brokers.values().filter(|b| b.broker.is_some()).map(|b| b.id).collect();
                if live.len() > 1 {
                    let b = *self.rng.pick(&live).expect("a live broker");
                    self.stop_broker(b, false)?;
                }
            }
            10 => {
                let live: Vec<i32> = self.brokers.values().filter(|b| b.broker.is_some()).map(|b| b.id).collect();
                if live.len() > 1 {
                    let b = *self.rng.pick(&live).expect("a live broker");
                    self.note(format!("controlled shutdown of broker {b}"));
                    self.broker(b).expect("a live broker").begin_shutdown(self.now);
                    let inc = self.inc_of(b).expect("a live broker");
                    self.service(b);
                    self.at(20, Ev::Stopping { b, inc, deadline_ms: self.now + 10_000 });
                }
            }
            3..=4 => {
                let alive: Vec<i32> = self.controllers.values().filter(|c| c.alive).map(|c| c.id).collect();
                let target = match self.leader {
                    Some(l) if self.rng.chance(0.6) => l,
                    _ => *self.rng.pick(&alive).expect("a live controller"),
                };
                if alive.len() > 1 || !alive.contains(&target) {
                    self.crash_controller(target);
                }
            }
            5..=7 => {
                let mut nodes: Vec<i32> = self.brokers.keys().copied().collect();
                nodes.extend(self.controllers.keys().copied());
                let node = *self.rng.pick(&nodes).expect("a node");
                self.next_cut += 1;
                let cut = self.next_cut;
                self.sides.insert(node, cut);
                self.stats.partitions += 1;
                let heal_after = self.rng.range(500, 5_000);
                self.note(format!("isolate node {node} for {heal_after} ms"));
                self.at(heal_after, Ev::Reconnect { node, cut });
            }
            _ => {
                let mut nodes: Vec<i32> = self.brokers.keys().copied().collect();
                nodes.extend(self.controllers.keys().copied());
                self.next_cut += 1;
                let cut = self.next_cut;
                let mut side = Vec::new();
                for node in nodes {
                    if self.rng.chance(0.5) {
                        self.sides.insert(node, cut);
                        side.push(node);
                    }
                }
                self.stats.partitions += 1;
                let heal_after = self.rng.range(1_000, 6_000);
                self.note(format!("split {side:?} from the rest for {heal_after} ms"));
                for node in side {
                    self.at(heal_after, Ev::Reconnect { node, cut });
                }
            }
        }
        Ok(())
    }

    // ---- checks ----

    fn check_now(&mut self) -> Result<(), Violation> {
        self.take_deferred()?;
        let mut live = Vec::new();
        for s in self.brokers.values() {
            if let Some(broker) = &s.broker {
                live.push((s.id, s.inc, broker));
            }
        }
        self.checks.check_brokers(&live, &self.log)
    }

    fn final_checks(&mut self) -> Result<(), Violation> {
        self.check_now()?;
        let mut live = BTreeMap::new();
        for s in self.brokers.values() {
            let broker = s.broker.as_ref().ok_or_else(|| Violation(format!("broker {} is down at the end", s.id)))?;
            live.insert(s.id, broker);
        }
        let produced: Vec<Produced> = self.produced.values().cloned().collect();
        checks::final_state(&live, self.log.image(), &produced)
    }
}

/// A failed seed: what broke, the run's schedule, and the scenario.
#[derive(Debug)]
pub struct Failure {
    pub violation: Violation,
    pub trace: Vec<String>,
    pub params: Params,
}

/// Runs one seed; the error carries the failure and the run's schedule.
pub fn run_seed(seed: u64, verbose: bool) -> Result<(Params, Stats), Box<Failure>> {
    let mut sim = Sim::new(seed, verbose);
    match sim.run() {
        Ok(()) => Ok((sim.params.clone(), sim.stats.clone())),
        Err(v) => Err(Box::new(Failure {
            violation: Violation(format!("at t={} ms: {}", sim.now - START_MS, v.0)),
            trace: std::mem::take(&mut sim.trace),
            params: sim.params.clone(),
        })),
    }
}
