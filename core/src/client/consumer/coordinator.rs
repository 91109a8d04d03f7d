//! The consumer's group membership as a sans-IO state machine, after Kafka's `AbstractCoordinator` and
//! `ConsumerCoordinator` (the classic group protocol): coordinator discovery, JoinGroup (with the second join a
//! `MEMBER_ID_REQUIRED` answer asks for), the leader's assignment with the group's assignor, SyncGroup,
//! heartbeats, the client-side session and poll timers, LeaveGroup, and auto-commit timing.
//!
//! A driver runs it, as it runs the fetcher: it calls [`ConsumerCoordinator::poll`] for the timers (from any
//! thread; natively a task of the consumer's own), sends the requests the returned [`Action::Send`]s carry and
//! feeds each answer (or failure) back through [`ConsumerCoordinator::on_response`]; the consumer's own `poll`
//! calls [`ConsumerCoordinator::poll_consumer`], whose callback actions (revoke, lose, assign, auto-commit) the
//! driver runs in order on the application's thread, before it sends what follows them. Time is a millisecond
//! count on the driver's monotonic clock: the machine never reads a clock, spawns a task or touches a socket,
//! so it builds for wasm32 and is tested in virtual time.
//!
//! Invariants: at most one FindCoordinator, one join step (JoinGroup, the leader's metadata lookup or SyncGroup)
//! and one Heartbeat are in flight; an answer is applied only if its request is still the one in flight (a
//! leave or a newer join makes older answers stale); only [`ConsumerCoordinator::poll_consumer`] and
//! [`ConsumerCoordinator::leave`] emit callback actions, so a rebalance listener never runs on an IO task; an
//! eager member gives up its partitions before it sends JoinGroup, and a member whose generation was reset
//! (fenced, or gone for `max.poll.interval.ms`) reports them lost instead of revoking them, as Kafka's does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::client::assignor::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription, Assignment, Assignor,
    RebalanceProtocol, Subscription,
};
use crate::client::error::ClientError;
use crate::client::TopicPartition;

/// Names one request the machine asked for, to match its outcome.
pub type RequestId = u64;

/// The consumer protocol version potok writes (Kafka 3.x+ writes 3).
const SUBSCRIPTION_VERSION: i16 = 3;
/// How much longer than `max.poll.interval.ms` a JoinGroup or SyncGroup may wait for its answer: the
/// coordinator holds a JoinGroup for up to the rebalance timeout (Kafka's client adds the same 5 s).
const JOIN_TIMEOUT_EXTRA_MS: u64 = 5_000;
/// The floor of the retry backoff, so a zero `retry.backoff.ms` cannot make a driver spin.
const BACKOFF_MIN_MS: u64 = 10;

// Kafka error codes the membership reacts to.
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;
const FENCED_INSTANCE_ID: i16 = 82;

/// The group settings (Kafka's consumer config keys in the comments).
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id`: a static member, which does not leave the group on close.
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`.
    pub session_timeout_ms: u64,
    /// `max.poll.interval.ms`: the rebalance timeout, and the longest time between two polls before the member
    /// leaves the group.
    pub rebalance_timeout_ms: u64,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval_ms: u64,
    /// `partition.assignment.strategy`, preferred first.
    pub assignors: Vec<Arc<dyn Assignor>>,
    /// `client.rack`, in the subscription (version 3).
    pub client_rack: Option<String>,
    /// `retry.backoff.ms` and `retry.backoff.max.ms`: the wait between failed lookups and joins, doubling.
    pub retry_backoff_ms: u64,
    pub retry_backoff_max_ms: u64,
    /// `auto.commit.interval.ms` when `enable.auto.commit` is on.
    pub auto_commit_interval_ms: Option<u64>,
}

impl CoordinatorConfig {
    /// The rebalance protocol the configured assignors share (cooperative only if all support it).
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        if self.assignors.iter().all(|a| a.supported_protocols().contains(&RebalanceProtocol::Cooperative)) {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        }
    }
}

/// A request the driver sends for the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    FindCoordinator(FindCoordinatorRequest),
    JoinGroup(JoinGroupRequest),
    SyncGroup(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    /// The partition counts of these topics, for the leader's assignment: the driver refreshes their metadata
    /// (auto-creating them when `allow.auto.create.topics` is on) and answers with [`Response::Metadata`].
    Metadata {
        topics: Vec<String>,
    },
}

// The fields a version lacks are cleared: an encoder refuses a value in a field its version does not have.

/// JoinGroup as version `version` carries it (`reason` from v8).
pub fn join_group_for_version(request: JoinGroupRequest, version: i16) -> JoinGroupRequest {
    if version < 8 {
        request.with_reason(None)
    } else {
        request
    }
}

/// SyncGroup as version `version` carries it (`protocol_type` and `protocol_name` from v5).
pub fn sync_group_for_version(request: SyncGroupRequest, version: i16) -> SyncGroupRequest {
    if version < 5 {
        request.with_protocol_type(None).with_protocol_name(None)
    } else {
        request
    }
}

/// LeaveGroup as version `version` carries it (a member's `reason` from v5).
pub fn leave_group_for_version(request: LeaveGroupRequest, version: i16) -> LeaveGroupRequest {
    if version < 5 {
        let members = request.members.iter().cloned().map(|m| m.with_reason(None)).collect();
        request.with_members(members)
    } else {
        request
    }
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    FindCoordinator(FindCoordinatorResponse),
    JoinGroup(JoinGroupResponse),
    SyncGroup(SyncGroupResponse),
    Heartbeat(HeartbeatResponse),
    LeaveGroup(LeaveGroupResponse),
    /// Partition counts of the topics asked for that exist.
    Metadata(BTreeMap<String, i32>),
}

/// What the driver does next, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send `request` to broker `node` (`None`: any broker) and report the outcome with `id`; `timeout_ms`
    /// overrides `request.timeout.ms` (a JoinGroup waits for a whole rebalance).
    Send { id: RequestId, node: Option<i32>, timeout_ms: Option<u64>, request: Request },
    /// The member gives these partitions up: commit their positions first when `commit` (auto-commit before a
    /// rebalance), call `on_partitions_revoked`, and stop fetching them.
    Revoke { partitions: Vec<TopicPartition>, commit: bool },
    /// The member lost these partitions without a chance to commit (its generation was reset): call
    /// `on_partitions_lost` and stop fetching them.
    Lose { partitions: Vec<TopicPartition> },
    /// A rebalance finished: fetch `partitions` (the whole new assignment) and call `on_partitions_assigned`
    /// with `added`. `assigned_with`: for the leader, the partition counts the assignment was computed from
    /// (a later difference in metadata means the group must rebalance, as Kafka's leader decides).
    Assign {
        partitions: Vec<TopicPartition>,
        added: Vec<TopicPartition>,
        assigned_with: Option<BTreeMap<String, usize>>,
    },
    /// `auto.commit.interval.ms` passed: commit the consumed positions without waiting.
    AutoCommit,
}

/// Where the member is in the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Not a member: waits for the consumer's poll to join.
    Unjoined,
    /// A join is under way (FindCoordinator, JoinGroup, SyncGroup, or a backoff between them).
    Joining,
    /// A member of the current generation, heartbeating.
    Stable,
}

/// What a request in flight was for.
#[derive(Debug)]
enum Pending {
    FindCoordinator,
    JoinGroup,
    /// The leader's metadata lookup, with the JoinGroup answer's member subscriptions.
    Metadata {
        subscriptions: Vec<(String, Subscription)>,
        topics: Vec<String>,
    },
    SyncGroup {
        assigned_with: Option<BTreeMap<String, usize>>,
    },
    Heartbeat {
        generation: i32,
    },
    LeaveGroup,
}

/// A finished rebalance, handed to the application at its next poll.
#[derive(Debug)]
struct Completed {
    assignment: Vec<TopicPartition>,
    assigned_with: Option<BTreeMap<String, usize>>,
}

/// The consumer's group membership (see the module documentation).
#[derive(Debug)]
pub struct ConsumerCoordinator {
    config: CoordinatorConfig,
    state: MemberState,
    coordinator: Option<i32>,
    member_id: String,
    generation: i32,
    protocol: Option<String>,
    /// The subscribed topics the current or last join used.
    joined_topics: Vec<String>,
    /// Partitions the member owns (handed out by an `Assign`, not yet revoked or lost).
    owned: BTreeSet<TopicPartition>,
    /// A rebalance is needed at the next consumer poll (the coordinator said so, or the subscription changed).
    rejoin_needed: bool,
    /// A JoinGroup is to be sent once the coordinator is known and `join_retry_at_ms` passed.
    join_wanted: bool,
    join_retry_at_ms: u64,
    join_backoff_ms: u64,
    find_retry_at_ms: u64,
    find_backoff_ms: u64,
    completed: Option<Completed>,
    next_heartbeat_ms: u64,
    /// When the coordinator last answered a heartbeat (or the member joined): the session timer's start.
    last_heartbeat_ok_ms: u64,
    last_poll_ms: u64,
    next_auto_commit_ms: Option<u64>,
    in_flight: HashMap<RequestId, Pending>,
    next_request_id: RequestId,
    error: Option<ClientError>,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl ConsumerCoordinator {
    pub fn new(config: CoordinatorConfig) -> ConsumerCoordinator {
        let backoff_ms = config.retry_backoff_ms.max(BACKOFF_MIN_MS);
        ConsumerCoordinator {
            config,
            state: MemberState::Unjoined,
            coordinator: None,
            member_id: String::new(),
            generation: -1,
            protocol: None,
            joined_topics: Vec::new(),
            owned: BTreeSet::new(),
            rejoin_needed: true,
            join_wanted: false,
            join_retry_at_ms: 0,
            join_backoff_ms: backoff_ms,
            find_retry_at_ms: 0,
            find_backoff_ms: backoff_ms,
            completed: None,
            next_heartbeat_ms: 0,
            last_heartbeat_ok_ms: 0,
            last_poll_ms: 0,
            next_auto_commit_ms: None,
            in_flight: HashMap::new(),
            next_request_id: 0,
            error: None,
        }
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    pub fn state(&self) -> MemberState {
        self.state
    }

    /// The coordinator's node id, once found.
    pub fn coordinator(&self) -> Option<i32> {
        self.coordinator
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The generation the member belongs to, `-1` when none.
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// The assignor the group chose at the last join.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether the member is in a generation and the application was told its assignment.
    pub fn is_stable(&self) -> bool {
        self.state == MemberState::Stable && self.completed.is_none()
    }

    /// Whether the consumer's poll has a rebalance to wait for (a join under way or an assignment to apply).
    pub fn rebalancing(&self) -> bool {
        !self.is_stable() || self.rejoin_needed
    }

    /// The generation and member id to commit offsets with: `(-1, "")` outside a generation, as a commit
    /// from a consumer that is not a member (or a manual assignment) is sent.
    pub fn commit_identity(&self) -> (i32, String) {
        if self.generation >= 0 {
            (self.generation, self.member_id.clone())
        } else {
            (-1, String::new())
        }
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The fatal error to report from the consumer's poll, if one happened since the last call.
    pub fn take_error(&mut self) -> Option<ClientError> {
        self.error.take()
    }

    /// Asks for a rebalance at the next consumer poll (a new subscription, or metadata that changed under the
    /// assignment).
    pub fn request_rejoin(&mut self) {
        self.rejoin_needed = true;
    }

    /// When [`ConsumerCoordinator::poll`] has something to do at the latest if no answer comes first.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        let mut deadline: Option<u64> = None;
        let mut at = |t: u64| deadline = Some(deadline.map_or(t, |d| d.min(t)));
        let wants_coordinator = self.join_wanted || self.state == MemberState::Stable;
        if wants_coordinator
            && self.coordinator.is_none()
            && !self.has_in_flight(|p| matches!(p, Pending::FindCoordinator))
        {
            at(self.find_retry_at_ms);
        }
        if self.join_wanted && self.coordinator.is_some() && !self.join_in_flight() {
            at(self.join_retry_at_ms);
        }
        if self.state == MemberState::Stable {
            at(self.last_poll_ms.saturating_add(self.config.rebalance_timeout_ms).saturating_add(1));
            if self.coordinator.is_some() {
                at(self.last_heartbeat_ok_ms.saturating_add(self.config.session_timeout_ms).saturating_add(1));
                if !self.has_in_flight(|p| matches!(p, Pending::Heartbeat { .. })) {
                    at(self.next_heartbeat_ms);
                }
            }
        }
        deadline
    }

    fn has_in_flight(&self, f: impl Fn(&Pending) -> bool) -> bool {
        self.in_flight.values().any(f)
    }

    fn join_in_flight(&self) -> bool {
        self.has_in_flight(|p| matches!(p, Pending::JoinGroup | Pending::Metadata { .. } | Pending::SyncGroup { .. }))
    }

    fn send(&mut self, actions: &mut Vec<Action>, pending: Pending, node: Option<i32>, request: Request) {
        let id = self.next_request_id;
        self.next_request_id += 1;
        let timeout_ms = matches!(pending, Pending::JoinGroup | Pending::SyncGroup { .. })
            .then(|| self.config.rebalance_timeout_ms + JOIN_TIMEOUT_EXTRA_MS);
        self.in_flight.insert(id, pending);
        actions.push(Action::Send { id, node, timeout_ms, request });
    }

    /// The timers, callable from any thread: finds the coordinator when it is needed and unknown, sends the
    /// JoinGroup a join waits for, heartbeats every `heartbeat.interval.ms`, gives the coordinator up when no
    /// heartbeat was answered for `session.timeout.ms`, and leaves the group when the application has not
    /// polled for `max.poll.interval.ms`. Emits only [`Action::Send`]s.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.state == MemberState::Stable {
            if now_ms.saturating_sub(self.last_poll_ms) > self.config.rebalance_timeout_ms {
                // The application stopped polling: leave, so the group can move on without it, as Kafka does.
                self.leave_group(&mut actions, "consumer poll timeout has expired");
                self.reset_generation(true);
                self.rejoin_needed = true;
                return actions;
            }
            if self.coordinator.is_some()
                && now_ms.saturating_sub(self.last_heartbeat_ok_ms) > self.config.session_timeout_ms
            {
                // No heartbeat answered for a whole session: the coordinator is presumed dead; look it up again.
                self.coordinator = None;
            }
        }
        let wants_coordinator = self.join_wanted || self.state == MemberState::Stable;
        if wants_coordinator
            && self.coordinator.is_none()
            && now_ms >= self.find_retry_at_ms
            && !self.has_in_flight(|p| matches!(p, Pending::FindCoordinator))
        {
            let request = FindCoordinatorRequest::default().with_key_type(0).with_key(sb(&self.config.group_id));
            self.send(&mut actions, Pending::FindCoordinator, None, Request::FindCoordinator(request));
        }
        let Some(coordinator) = self.coordinator else { return actions };
        if self.join_wanted && !self.join_in_flight() && now_ms >= self.join_retry_at_ms {
            match self.join_request() {
                Ok(request) => self.send(&mut actions, Pending::JoinGroup, Some(coordinator), request),
                Err(e) => {
                    self.fail(e);
                    self.join_retry_at_ms = now_ms + self.join_backoff_ms;
                }
            }
        }
        if self.state == MemberState::Stable
            && now_ms >= self.next_heartbeat_ms
            && !self.has_in_flight(|p| matches!(p, Pending::Heartbeat { .. }))
        {
            let request = HeartbeatRequest::default()
                .with_group_id(GroupId(sb(&self.config.group_id)))
                .with_generation_id(self.generation)
                .with_member_id(sb(&self.member_id))
                .with_group_instance_id(self.config.group_instance_id.as_deref().map(sb));
            self.next_heartbeat_ms = now_ms + self.config.heartbeat_interval_ms;
            let pending = Pending::Heartbeat { generation: self.generation };
            self.send(&mut actions, pending, Some(coordinator), Request::Heartbeat(request));
        }
        actions
    }

    /// The application's poll: restarts the poll timer, hands out a finished rebalance (revoking, under the
    /// cooperative protocol, what moved away), starts a rebalance when one is needed (an eager member first
    /// gives up what it owns, committing it with auto-commit on), and commits every `auto.commit.interval.ms`.
    /// `subscription`: the subscribed topics of a group subscription, `None` for a manual assignment (only
    /// auto-commit applies). Callback actions come before the requests that must follow them.
    pub fn poll_consumer(&mut self, now_ms: u64, subscription: Option<&[String]>) -> Vec<Action> {
        self.last_poll_ms = now_ms;
        let mut actions = Vec::new();
        if let Some(topics) = subscription {
            if topics != self.joined_topics.as_slice() {
                self.rejoin_needed = true;
            }
            if let Some(completed) = self.completed.take() {
                self.complete_join(now_ms, completed, &mut actions);
            }
            let needs_join = match self.state {
                MemberState::Unjoined => true,
                MemberState::Stable => self.rejoin_needed,
                MemberState::Joining => false,
            };
            if needs_join {
                self.prepare_join(topics, &mut actions);
            }
        }
        if let Some(interval_ms) = self.config.auto_commit_interval_ms {
            match self.next_auto_commit_ms {
                None => self.next_auto_commit_ms = Some(now_ms + interval_ms),
                Some(t) if now_ms >= t => {
                    actions.push(Action::AutoCommit);
                    self.next_auto_commit_ms = Some(now_ms + interval_ms);
                }
                Some(_) => {}
            }
        }
        actions.extend(self.poll(now_ms));
        actions
    }

    fn complete_join(&mut self, now_ms: u64, completed: Completed, actions: &mut Vec<Action>) {
        let new: BTreeSet<TopicPartition> = completed.assignment.into_iter().collect();
        let revoked: Vec<TopicPartition> = self.owned.difference(&new).cloned().collect();
        let added: Vec<TopicPartition> = new.difference(&self.owned).cloned().collect();
        if !revoked.is_empty() {
            actions.push(Action::Revoke { partitions: revoked, commit: self.config.auto_commit_interval_ms.is_some() });
            // Cooperative: what moved away is revoked now; a second rebalance hands it to its new owner.
            self.rejoin_needed = true;
        }
        actions.push(Action::Assign {
            partitions: new.iter().cloned().collect(),
            added,
            assigned_with: completed.assigned_with,
        });
        self.owned = new;
        if let Some(interval_ms) = self.config.auto_commit_interval_ms {
            self.next_auto_commit_ms = Some(now_ms + interval_ms);
        }
    }

    fn prepare_join(&mut self, topics: &[String], actions: &mut Vec<Action>) {
        if !self.owned.is_empty() {
            let owned: Vec<TopicPartition> = std::mem::take(&mut self.owned).into_iter().collect();
            if self.generation < 0 {
                // The generation was reset (fenced, or left on a poll timeout): the partitions may already be
                // someone else's, so they are lost, not revoked, and nothing is committed.
                actions.push(Action::Lose { partitions: owned });
            } else if self.config.rebalance_protocol() == RebalanceProtocol::Eager {
                actions
                    .push(Action::Revoke { partitions: owned, commit: self.config.auto_commit_interval_ms.is_some() });
            } else {
                self.owned = owned.into_iter().collect();
            }
        }
        self.joined_topics = topics.to_vec();
        self.rejoin_needed = false;
        self.state = MemberState::Joining;
        self.join_wanted = true;
    }

    fn join_request(&self) -> Result<Request, ClientError> {
        let topics = &self.joined_topics;
        let mut protocols = Vec::new();
        for assignor in &self.config.assignors {
            let subscription = Subscription {
                topics: topics.clone(),
                user_data: assignor.subscription_user_data(topics, self.generation),
                owned_partitions: self.owned.iter().cloned().collect(),
                generation_id: (self.generation >= 0).then_some(self.generation),
                rack_id: self.config.client_rack.clone(),
                group_instance_id: None,
            };
            let metadata = encode_subscription(&subscription, SUBSCRIPTION_VERSION)
                .map_err(|e| ClientError::Protocol(format!("encoding the subscription: {e}")))?;
            protocols.push(
                JoinGroupRequestProtocol::default().with_name(sb(assignor.name())).with_metadata(Bytes::from(metadata)),
            );
        }
        Ok(Request::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(GroupId(sb(&self.config.group_id)))
                .with_session_timeout_ms(self.config.session_timeout_ms.min(i32::MAX as u64) as i32)
                .with_rebalance_timeout_ms(self.config.rebalance_timeout_ms.min(i32::MAX as u64) as i32)
                .with_member_id(sb(&self.member_id))
                .with_group_instance_id(self.config.group_instance_id.as_deref().map(sb))
                .with_protocol_type(sb("consumer"))
                .with_protocols(protocols)
                .with_reason(Some(sb("potok consumer joining"))),
        ))
    }

    /// Leaves the group (close or unsubscribe): revokes what the member owns (the application commits before,
    /// if it wants to), sends LeaveGroup unless the member is static (a static member only stops heartbeating,
    /// as in Kafka), and forgets the membership. The driver waits for the LeaveGroup's answer if it likes.
    pub fn leave(&mut self, reason: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        if !self.owned.is_empty() && self.state == MemberState::Stable {
            let partitions = std::mem::take(&mut self.owned).into_iter().collect();
            actions.push(Action::Revoke { partitions, commit: false });
        }
        if self.state != MemberState::Unjoined {
            self.leave_group(&mut actions, reason);
        }
        self.owned.clear();
        self.reset_generation(true);
        self.joined_topics.clear();
        self.rejoin_needed = true;
        actions
    }

    fn leave_group(&mut self, actions: &mut Vec<Action>, reason: &str) {
        let (Some(coordinator), false, None) =
            (self.coordinator, self.member_id.is_empty(), self.config.group_instance_id.as_ref())
        else {
            return;
        };
        let member = MemberIdentity::default().with_member_id(sb(&self.member_id)).with_reason(Some(sb(reason)));
        let request =
            LeaveGroupRequest::default().with_group_id(GroupId(sb(&self.config.group_id))).with_members(vec![member]);
        self.send(actions, Pending::LeaveGroup, Some(coordinator), Request::LeaveGroup(request));
    }

    /// Forgets the generation (and with `member_id` the member id): the member is out of the group until it
    /// joins again; answers to its join steps and heartbeats in flight are dropped.
    fn reset_generation(&mut self, member_id: bool) {
        self.generation = -1;
        if member_id {
            self.member_id.clear();
        }
        self.state = MemberState::Unjoined;
        self.join_wanted = false;
        self.completed = None;
        self.in_flight.retain(|_, p| matches!(p, Pending::FindCoordinator | Pending::LeaveGroup));
    }

    /// Restarts the join after a failed step: at once for the answers Kafka's client rejoins on without
    /// waiting, else after the doubling retry backoff.
    fn retry_join(&mut self, now_ms: u64, immediately: bool) {
        self.state = MemberState::Joining;
        self.join_wanted = true;
        self.completed = None;
        if immediately {
            self.join_retry_at_ms = now_ms;
        } else {
            self.join_retry_at_ms = now_ms + self.join_backoff_ms;
            self.join_backoff_ms = (self.join_backoff_ms * 2).min(self.config.retry_backoff_max_ms.max(BACKOFF_MIN_MS));
        }
    }

    fn coordinator_lost(&mut self) {
        self.coordinator = None;
        self.in_flight.retain(|_, p| matches!(p, Pending::FindCoordinator | Pending::LeaveGroup));
    }

    fn fail(&mut self, error: ClientError) {
        self.error.get_or_insert(error);
    }

    /// Takes in the outcome of request `id`: `Err` when it could not be sent or got no answer in time. Returns
    /// the requests that follow (a JoinGroup's SyncGroup, the leader's metadata lookup); never callbacks.
    pub fn on_response(&mut self, id: RequestId, now_ms: u64, result: Result<Response, ClientError>) -> Vec<Action> {
        let Some(pending) = self.in_flight.remove(&id) else { return Vec::new() };
        let mut actions = Vec::new();
        match (pending, result) {
            (Pending::FindCoordinator, Ok(Response::FindCoordinator(r))) => self.on_find_coordinator(now_ms, r),
            (Pending::FindCoordinator, other) => self.on_find_failed(now_ms, unexpected(other)),
            (Pending::JoinGroup, Ok(Response::JoinGroup(r))) => self.on_join(now_ms, r, &mut actions),
            (Pending::JoinGroup, other) => self.on_join_failed(now_ms, unexpected(other)),
            (Pending::Metadata { subscriptions, topics }, Ok(Response::Metadata(counts))) => {
                self.on_metadata(now_ms, subscriptions, &topics, counts, &mut actions)
            }
            (Pending::Metadata { .. }, other) => {
                // The leader could not learn the partition counts: join again after a backoff.
                let e = unexpected(other);
                if !e.is_retriable() {
                    self.fail(e);
                }
                self.retry_join(now_ms, false);
            }
            (Pending::SyncGroup { assigned_with }, Ok(Response::SyncGroup(r))) => {
                self.on_sync(now_ms, r, assigned_with)
            }
            (Pending::SyncGroup { .. }, other) => self.on_join_failed(now_ms, unexpected(other)),
            (Pending::Heartbeat { generation }, result) => self.on_heartbeat(now_ms, generation, result),
            (Pending::LeaveGroup, _) => {}
        }
        actions
    }

    fn on_find_coordinator(&mut self, now_ms: u64, r: FindCoordinatorResponse) {
        let (code, message, node) = match r.coordinators.first() {
            Some(c) => (c.error_code, c.error_message.clone(), c.node_id.0),
            None => (r.error_code, r.error_message.clone(), r.node_id.0),
        };
        if code != 0 {
            return self.on_find_failed(now_ms, ClientError::from_code(code, message.map(|m| m.to_string())));
        }
        self.coordinator = Some(node);
        self.find_backoff_ms = self.config.retry_backoff_ms.max(BACKOFF_MIN_MS);
        // A new coordinator starts a new session timer.
        self.last_heartbeat_ok_ms = now_ms;
        self.next_heartbeat_ms = self.next_heartbeat_ms.min(now_ms);
    }

    fn on_find_failed(&mut self, now_ms: u64, error: ClientError) {
        if !error.is_retriable() {
            self.fail(error);
        }
        self.find_retry_at_ms = now_ms + self.find_backoff_ms;
        self.find_backoff_ms = (self.find_backoff_ms * 2).min(self.config.retry_backoff_max_ms.max(BACKOFF_MIN_MS));
    }

    /// A join step failed (JoinGroup or SyncGroup, by its error code or by the request failing), following
    /// Kafka's `JoinGroupResponseHandler` and `SyncGroupResponseHandler`.
    fn on_join_failed(&mut self, now_ms: u64, error: ClientError) {
        match error.code() {
            Some(UNKNOWN_MEMBER_ID) => {
                // Join again as a new member.
                self.member_id.clear();
                self.generation = -1;
                self.retry_join(now_ms, true);
            }
            Some(ILLEGAL_GENERATION) => {
                self.generation = -1;
                self.retry_join(now_ms, true);
            }
            Some(REBALANCE_IN_PROGRESS) | Some(MEMBER_ID_REQUIRED) => self.retry_join(now_ms, true),
            Some(COORDINATOR_NOT_AVAILABLE) | Some(NOT_COORDINATOR) => {
                self.coordinator_lost();
                self.retry_join(now_ms, false);
            }
            Some(COORDINATOR_LOAD_IN_PROGRESS) => self.retry_join(now_ms, false),
            Some(FENCED_INSTANCE_ID) => {
                // Another consumer runs with this group.instance.id: fatal for this one, as in Kafka.
                self.fail(error);
                self.reset_generation(true);
            }
            _ if matches!(error, ClientError::Io(_) | ClientError::Timeout(_)) => {
                // The coordinator may be gone: look it up again.
                self.coordinator_lost();
                self.retry_join(now_ms, false);
            }
            _ => {
                if !error.is_retriable() {
                    self.fail(error);
                }
                self.retry_join(now_ms, false);
            }
        }
    }

    fn on_join(&mut self, now_ms: u64, r: JoinGroupResponse, actions: &mut Vec<Action>) {
        if r.error_code == MEMBER_ID_REQUIRED {
            // The coordinator gave the member an id and waits for a second JoinGroup carrying it (KIP-394).
            self.member_id = r.member_id.to_string();
            return self.retry_join(now_ms, true);
        }
        if r.error_code != 0 {
            return self.on_join_failed(now_ms, ClientError::from_code(r.error_code, None));
        }
        self.member_id = r.member_id.to_string();
        self.generation = r.generation_id;
        let protocol = r.protocol_name.as_ref().map(|p| p.to_string()).unwrap_or_default();
        self.protocol = Some(protocol.clone());
        self.join_backoff_ms = self.config.retry_backoff_ms.max(BACKOFF_MIN_MS);
        if r.leader.as_str() == self.member_id && !r.skip_assignment {
            let mut subscriptions = Vec::new();
            for m in &r.members {
                match decode_subscription(&m.metadata) {
                    Ok(mut s) => {
                        s.group_instance_id = m.group_instance_id.as_ref().map(|i| i.to_string());
                        subscriptions.push((m.member_id.to_string(), s));
                    }
                    Err(e) => {
                        self.fail(ClientError::Protocol(format!("member {} subscription: {e}", m.member_id)));
                        return self.retry_join(now_ms, false);
                    }
                }
            }
            let mut topics: Vec<String> = subscriptions.iter().flat_map(|(_, s)| s.topics.iter().cloned()).collect();
            topics.sort();
            topics.dedup();
            let pending = Pending::Metadata { subscriptions, topics: topics.clone() };
            self.send(actions, pending, None, Request::Metadata { topics });
        } else {
            self.sync(Vec::new(), None, actions);
        }
    }

    fn on_metadata(
        &mut self,
        now_ms: u64,
        subscriptions: Vec<(String, Subscription)>,
        topics: &[String],
        counts: BTreeMap<String, i32>,
        actions: &mut Vec<Action>,
    ) {
        let protocol = self.protocol.clone().unwrap_or_default();
        let Some(assignor) = self.config.assignors.iter().find(|a| a.name() == protocol).cloned() else {
            self.fail(ClientError::Protocol(format!("the group chose unknown assignor {protocol:?}")));
            return self.retry_join(now_ms, false);
        };
        let partitions_per_topic: BTreeMap<String, i32> =
            topics.iter().filter_map(|t| counts.get(t).map(|&n| (t.clone(), n))).collect();
        let assigned_with =
            partitions_per_topic.iter().filter(|(_, &n)| n > 0).map(|(t, &n)| (t.clone(), n as usize)).collect();
        let result = match assignor.assign(&partitions_per_topic, &subscriptions) {
            Ok(result) => result,
            Err(e) => {
                self.fail(ClientError::Protocol(format!("assignor {protocol}: {e}")));
                return self.retry_join(now_ms, false);
            }
        };
        let mut assignments = Vec::new();
        for (member, partitions) in result {
            match encode_assignment(&Assignment { partitions, user_data: None }, SUBSCRIPTION_VERSION) {
                Ok(bytes) => assignments.push(
                    SyncGroupRequestAssignment::default()
                        .with_member_id(sb(&member))
                        .with_assignment(Bytes::from(bytes)),
                ),
                Err(e) => {
                    self.fail(ClientError::Protocol(format!("encoding an assignment: {e}")));
                    return self.retry_join(now_ms, false);
                }
            }
        }
        self.sync(assignments, Some(assigned_with), actions);
    }

    fn sync(
        &mut self,
        assignments: Vec<SyncGroupRequestAssignment>,
        assigned_with: Option<BTreeMap<String, usize>>,
        actions: &mut Vec<Action>,
    ) {
        let Some(coordinator) = self.coordinator else {
            // Lost while the leader looked up metadata: the join starts over once it is found again.
            self.join_wanted = true;
            return;
        };
        let protocol = self.protocol.clone().unwrap_or_default();
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(sb(&self.config.group_id)))
            .with_generation_id(self.generation)
            .with_member_id(sb(&self.member_id))
            .with_group_instance_id(self.config.group_instance_id.as_deref().map(sb))
            .with_protocol_type(Some(sb("consumer")))
            .with_protocol_name(Some(sb(&protocol)))
            .with_assignments(assignments);
        self.send(actions, Pending::SyncGroup { assigned_with }, Some(coordinator), Request::SyncGroup(request));
    }

    fn on_sync(&mut self, now_ms: u64, r: SyncGroupResponse, assigned_with: Option<BTreeMap<String, usize>>) {
        if r.error_code != 0 {
            return self.on_join_failed(now_ms, ClientError::from_code(r.error_code, None));
        }
        let assignment = if r.assignment.is_empty() {
            Vec::new()
        } else {
            match decode_assignment(&r.assignment) {
                Ok(a) => a.partitions,
                Err(e) => {
                    self.fail(ClientError::Protocol(format!("decoding the assignment: {e}")));
                    return self.retry_join(now_ms, false);
                }
            }
        };
        self.state = MemberState::Stable;
        self.join_wanted = false;
        self.completed = Some(Completed { assignment, assigned_with });
        self.last_heartbeat_ok_ms = now_ms;
        self.next_heartbeat_ms = now_ms + self.config.heartbeat_interval_ms;
    }

    /// Kafka's `HeartbeatResponseHandler`: a rebalance in progress asks the application's next poll to rejoin
    /// (heartbeats go on meanwhile); a moved coordinator is looked up again; a fenced member (unknown member
    /// id, illegal generation) joins again as a new one and its partitions are lost.
    fn on_heartbeat(&mut self, now_ms: u64, generation: i32, result: Result<Response, ClientError>) {
        if generation != self.generation || self.state != MemberState::Stable {
            return;
        }
        let code = match result {
            Ok(Response::Heartbeat(r)) => r.error_code,
            other => {
                // No answer: try again after the backoff; the session timer gives the coordinator up.
                let e = unexpected(other);
                self.next_heartbeat_ms = now_ms + self.config.retry_backoff_ms.max(BACKOFF_MIN_MS);
                if e.needs_metadata_refresh() {
                    self.coordinator_lost();
                }
                return;
            }
        };
        match code {
            0 => self.last_heartbeat_ok_ms = now_ms,
            REBALANCE_IN_PROGRESS => {
                self.last_heartbeat_ok_ms = now_ms;
                self.rejoin_needed = true;
            }
            COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR => {
                self.coordinator_lost();
                self.next_heartbeat_ms = now_ms;
            }
            UNKNOWN_MEMBER_ID => {
                self.reset_generation(true);
                self.rejoin_needed = true;
            }
            FENCED_INSTANCE_ID => {
                self.fail(ClientError::from_code(code, None));
                self.reset_generation(true);
            }
            _ => {
                // ILLEGAL_GENERATION and anything else: the member is out of this generation; it rejoins
                // with its member id.
                self.reset_generation(false);
                self.rejoin_needed = true;
            }
        }
    }
}

/// The error a failed request (or an answer of the wrong kind, which a driver never sends) stands for.
fn unexpected(result: Result<Response, ClientError>) -> ClientError {
    match result {
        Err(e) => e,
        Ok(r) => ClientError::Protocol(format!("unexpected answer {r:?}")),
    }
}

#[cfg(test)]
mod tests;
