//! The group coordinator for the classic group protocol (JoinGroup / SyncGroup / Heartbeat / LeaveGroup) and
//! committed offsets.
//!
//! States follow Kafka's: Empty -> PreparingRebalance -> CompletingRebalance -> Stable, back to
//! PreparingRebalance whenever membership or subscriptions change, Dead once deleted. A rebalance completes
//! when every known member has rejoined (and no member is still being asked for a member id), or when the
//! rebalance timeout runs out, at which point members that did not rejoin are dropped. The leader's
//! SyncGroup assignment is passed through as bytes.
//!
//! Invariants: each parked JoinGroup or SyncGroup gets exactly one answer (through `take_completions`);
//! `generation` only grows; a group in CompletingRebalance or Stable has a leader and a protocol. Every change
//! that must survive a restart is queued in `writes` as a `__consumer_offsets` record.
//!
//! Apply after persist: committed offsets change only once their records are stored ([`GroupCoordinator::
//! prepare_commit`], then [`GroupCoordinator::apply_commit`]); every other change is made under a
//! [`GroupCoordinator::snapshot`] of the groups it touches, which [`GroupCoordinator::rollback`] puts back —
//! with the answers the change decided withdrawn — when its records cannot be stored.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::offsets_schema::{self as schema, GroupValue, OffsetValue, OffsetsKey, StoredMember};

mod consumer;
pub use consumer::{ConsumerMember, ConsumerState, TopicAssignment};

/// Identifies a parked request so its answer can find its way back.
pub type Token = u64;

/// Group coordinator settings (Kafka's broker config names in the field docs).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`
    pub initial_rebalance_delay_ms: i64,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`
    pub offset_metadata_max_bytes: usize,
    /// `group.max.size`
    pub max_size: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 0,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offset_metadata_max_bytes: 4096,
            max_size: i32::MAX as usize,
        }
    }
}

/// A group's state, named as DescribeGroups and ListGroups report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A parked request's answer.
#[derive(Debug, Clone)]
pub enum Completion {
    Join(JoinGroupResponse),
    Sync(SyncGroupResponse),
}

/// A record for `__consumer_offsets` (a `None` value is a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub group: String,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    last_heartbeat_ms: i64,
    join_waiter: Option<(Token, i16)>,
    sync_waiter: Option<(Token, i16)>,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    pub group_id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// Members in join order (the first is the default leader).
    pub members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time by which they must join.
    pending_members: HashMap<String, i64>,
    rebalance_deadline_ms: i64,
    initial_delay_deadline_ms: Option<i64>,
    sync_deadline_ms: i64,
    pub offsets: BTreeMap<(String, i32), OffsetValue>,
    /// Offsets stored in `__consumer_offsets` that its in-sync replicas do not all have yet, in the order
    /// they were written, each with the log end offset the partition must be replicated to: they become
    /// committed (and visible to OffsetFetch) then, as Kafka's coordinator reads at the partition's committed
    /// offset, so a commit a coordinator failover loses was never seen.
    pending_offsets: Vec<(i64, String, i32, OffsetValue)>,
    state_timestamp_ms: i64,
    /// Set while the group uses the consumer protocol (KIP-848) instead of the classic one.
    pub consumer: Option<ConsumerState>,
}

impl Group {
    fn new(group_id: &str, now_ms: i64) -> Self {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: Vec::new(),
            pending_members: HashMap::new(),
            rebalance_deadline_ms: 0,
            initial_delay_deadline_ms: None,
            sync_deadline_ms: 0,
            offsets: BTreeMap::new(),
            pending_offsets: Vec::new(),
            state_timestamp_ms: now_ms,
            consumer: None,
        }
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.member_id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.member_id == id)
    }

    fn member_by_instance(&self, instance: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.group_instance_id.as_deref() == Some(instance))
    }

    /// The protocols every member supports, in the first member's order.
    fn candidate_protocols(&self) -> Vec<String> {
        let Some(first) = self.members.first() else { return Vec::new() };
        first
            .protocols
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| self.members.iter().all(|m| m.protocols.iter().any(|(p, _)| p == n)))
            .collect()
    }

    /// Kafka's vote: each member votes for its most preferred candidate; most votes wins (ties: the first
    /// member's preference order).
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in &self.members {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        candidates
            .iter()
            .max_by_key(|c| {
                (
                    votes.get(c.as_str()).copied().unwrap_or(0),
                    std::cmp::Reverse(candidates.iter().position(|x| x == *c)),
                )
            })
            .cloned()
    }

    fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members.iter().map(|m| i64::from(m.rebalance_timeout_ms)).max().unwrap_or(0)
    }

    fn to_value(&self, now_ms: i64) -> GroupValue {
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: now_ms,
            members: self
                .members
                .iter()
                .map(|m| StoredMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: self.protocol.as_deref().map(|p| m.metadata_for(p)).unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Whether the group has no members under either protocol.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.consumer.as_ref().is_none_or(|c| c.members.is_empty())
    }

    /// The state name ListGroups and DescribeGroups report.
    pub fn state_name(&self) -> &'static str {
        match &self.consumer {
            Some(c) => c.state_name(),
            None => self.state.name(),
        }
    }

    /// "classic" or "consumer".
    pub fn group_type(&self) -> &'static str {
        if self.consumer.is_some() {
            "consumer"
        } else {
            "classic"
        }
    }

    /// Whether any member subscribes to `topic` (consumer groups only).
    pub fn subscribes_to(&self, topic: &str) -> bool {
        if let Some(c) = &self.consumer {
            return c.members.values().any(|m| m.subscribed_topics.contains(topic));
        }
        let Some(protocol) = self.protocol.as_deref() else { return false };
        self.protocol_type.as_deref() == Some("consumer")
            && self
                .members
                .iter()
                .any(|m| schema::subscribed_topics(&m.metadata_for(protocol)).iter().any(|t| t == topic))
    }
}

/// Groups as they were before a change; see [`GroupCoordinator::snapshot`].
#[derive(Debug)]
pub struct Snapshot {
    groups: Vec<(String, Option<Group>)>,
    completions: usize,
    writes: usize,
}

/// Who sent a request, for member ids and DescribeGroups.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub client_id: String,
    pub client_host: String,
}

/// All groups this broker coordinates.
#[derive(Debug, Default)]
pub struct GroupCoordinator {
    config: GroupConfig,
    groups: HashMap<String, Group>,
    completions: Vec<(Token, Completion)>,
    writes: Vec<Write>,
    member_counter: u64,
    seed: u64,
    /// Offsets committed inside transactions (TxnOffsetCommit) that their commit marker has not yet made
    /// visible: producer id -> (group, topic, partition) -> offset. An abort marker drops them.
    pending_txn_offsets: BTreeMap<i64, BTreeMap<(String, String, i32), OffsetValue>>,
    /// The groups with staged offset commits (an index: a group here may have been unloaded since).
    pending_commit_groups: BTreeSet<String>,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn join_error(error: ResponseError, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(error.code())
        .with_generation_id(-1)
        .with_member_id(s(member_id))
        .with_protocol_name(Some(StrBytes::default()))
}

fn sync_error(error: ResponseError) -> SyncGroupResponse {
    SyncGroupResponse::default().with_error_code(error.code())
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig, seed: u64) -> Self {
        GroupCoordinator { config, seed, ..Default::default() }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Parked requests' answers, in the order they were decided.
    pub fn take_completions(&mut self) -> Vec<(Token, Completion)> {
        std::mem::take(&mut self.completions)
    }

    /// Records to append to `__consumer_offsets`.
    pub fn take_writes(&mut self) -> Vec<Write> {
        std::mem::take(&mut self.writes)
    }

    /// Remembers `group_ids` as they are, with the answers and records queued so far, so a change whose records
    /// cannot be stored can be undone.
    pub fn snapshot<'a>(&self, group_ids: impl IntoIterator<Item = &'a str>) -> Snapshot {
        Snapshot {
            groups: group_ids.into_iter().map(|id| (id.to_string(), self.groups.get(id).cloned())).collect(),
            completions: self.completions.len(),
            writes: self.writes.len(),
        }
    }

    /// Puts the groups of `snapshot` back and withdraws the answers and records queued since. Parked requests
    /// the change had answered are parked again (their waiters are part of the restored groups).
    pub fn rollback(&mut self, snapshot: Snapshot) {
        for (id, group) in snapshot.groups {
            match group {
                Some(g) => {
                    self.groups.insert(id, g);
                }
                None => {
                    self.groups.remove(&id);
                }
            }
        }
        self.completions.truncate(snapshot.completions);
        self.writes.truncate(snapshot.writes);
    }

    /// Answers a JoinGroup with `error` (its change was rolled back).
    pub fn fail_join(&mut self, token: Token, member_id: &str, error: ResponseError) {
        self.completions.push((token, Completion::Join(join_error(error, member_id))));
    }

    /// Answers a SyncGroup with `error` (its change was rolled back).
    pub fn fail_sync(&mut self, token: Token, error: ResponseError) {
        self.completions.push((token, Completion::Sync(sync_error(error))));
    }

    /// Forgets the groups for which `moved` holds (their `__consumer_offsets` partition is led elsewhere now),
    /// answering their parked JoinGroup and SyncGroup requests with NOT_COORDINATOR so the members find the
    /// new coordinator, as Kafka's coordinator does when it resigns a partition. Returns how many went.
    pub fn unload(&mut self, mut moved: impl FnMut(&str) -> bool) -> usize {
        let ids: Vec<String> = self.groups.keys().filter(|id| moved(id)).cloned().collect();
        for id in &ids {
            let Some(g) = self.groups.remove(id) else { continue };
            for m in &g.members {
                if let Some((token, _)) = m.join_waiter {
                    let answer = join_error(ResponseError::NotCoordinator, &m.member_id);
                    self.completions.push((token, Completion::Join(answer)));
                }
                if let Some((token, _)) = m.sync_waiter {
                    self.completions.push((token, Completion::Sync(sync_error(ResponseError::NotCoordinator))));
                }
            }
        }
        for offsets in self.pending_txn_offsets.values_mut() {
            offsets.retain(|(group, _, _), _| !moved(group));
        }
        self.pending_txn_offsets.retain(|_, offsets| !offsets.is_empty());
        ids.len()
    }

    /// The ids of every group.
    pub fn group_ids(&self) -> Vec<String> {
        self.groups.keys().cloned().collect()
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        self.member_counter += 1;
        // A UUID-like suffix, unique per coordinator run: derived from the seed and a counter.
        let mut x = self.seed ^ self.member_counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        let prefix = if client_id.is_empty() { "member" } else { client_id };
        format!(
            "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            x >> 32,
            (x >> 16) & 0xffff,
            x & 0xffff,
            self.member_counter & 0xffff,
            x & 0xffff_ffff_ffff
        )
    }

    fn write_group(&mut self, group_id: &str, now_ms: i64) {
        if let Some(g) = self.groups.get(group_id) {
            let value = schema::group_value(&g.to_value(now_ms));
            self.writes.push(Write {
                group: group_id.to_string(),
                key: schema::group_key(group_id),
                value: Some(value),
            });
        }
    }

    /// JoinGroup. Always parks the request: the answer (even an immediate error) comes from
    /// [`GroupCoordinator::take_completions`] under `token`.
    pub fn join_group(&mut self, token: Token, req: &JoinGroupRequest, version: i16, client: &ClientInfo, now_ms: i64) {
        let member_id = req.member_id.to_string();
        let reply = |this: &mut Self, r: JoinGroupResponse| this.completions.push((token, Completion::Join(r)));
        let group_id = req.group_id.0.to_string();
        if group_id.is_empty() {
            return reply(self, join_error(ResponseError::InvalidGroupId, &member_id));
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return reply(self, join_error(ResponseError::InvalidSessionTimeout, &member_id));
        }
        let protocols: Vec<(String, Bytes)> =
            req.protocols.iter().map(|p| (p.name.to_string(), p.metadata.clone())).collect();
        let protocol_type = req.protocol_type.to_string();
        let instance = req.group_instance_id.as_ref().map(|i| i.to_string());
        let group = self.groups.entry(group_id.clone()).or_insert_with(|| Group::new(&group_id, now_ms));
        if group.consumer.as_ref().is_some_and(|c| !c.members.is_empty()) {
            return reply(self, join_error(ResponseError::InconsistentGroupProtocol, &member_id));
        }
        // An empty consumer-protocol group turns classic when a classic member joins.
        group.consumer = None;
        if protocols.is_empty() || protocol_type.is_empty() {
            return reply(self, join_error(ResponseError::InconsistentGroupProtocol, &member_id));
        }
        if !group.members.is_empty() {
            let same_type = group.members.iter().all(|m| m.protocol_type == protocol_type);
            let others: Vec<&Member> = group.members.iter().filter(|m| m.member_id != member_id).collect();
            let shares = protocols.iter().any(|(n, _)| others.iter().all(|m| m.protocols.iter().any(|(p, _)| p == n)));
            if !same_type || !shares {
                return reply(self, join_error(ResponseError::InconsistentGroupProtocol, &member_id));
            }
        }
        let rebalance_timeout_ms = if version == 0 { req.session_timeout_ms } else { req.rebalance_timeout_ms };
        let fresh = |id: String| Member {
            member_id: id,
            group_instance_id: instance.clone(),
            client_id: client.client_id.clone(),
            client_host: client.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms,
            protocol_type: protocol_type.clone(),
            protocols: protocols.clone(),
            assignment: Bytes::new(),
            last_heartbeat_ms: now_ms,
            join_waiter: Some((token, version)),
            sync_waiter: None,
        };

        if member_id.is_empty() {
            let new_id = self.new_member_id(&client.client_id);
            let group = self.groups.get_mut(&group_id).expect("inserted above");
            if group.members.len() >= self.config.max_size {
                return reply(self, join_error(ResponseError::GroupMaxSizeReached, ""));
            }
            if let Some(instance) = &instance {
                // A static member coming back with a new member id replaces (fences) its old incarnation.
                if let Some(old) = group.member_by_instance(instance).map(|m| m.member_id.clone()) {
                    let old_member = group.member_mut(&old).expect("found above");
                    let waiters = (old_member.join_waiter.take(), old_member.sync_waiter.take());
                    let assignment = old_member.assignment.clone();
                    let mut m = fresh(new_id.clone());
                    m.assignment = assignment;
                    if let Some(pos) = group.members.iter().position(|x| x.member_id == old) {
                        group.members[pos] = m;
                    }
                    if group.leader.as_deref() == Some(old.as_str()) {
                        group.leader = Some(new_id.clone());
                    }
                    if let (Some((t, _)), _) = waiters {
                        self.completions.push((t, Completion::Join(join_error(ResponseError::FencedInstanceId, &old))));
                    }
                    if let (_, Some((t, _))) = waiters {
                        self.completions.push((t, Completion::Sync(sync_error(ResponseError::FencedInstanceId))));
                    }
                    return self.member_joined(&group_id, now_ms);
                }
                group.members.push(fresh(new_id));
                return self.member_joined(&group_id, now_ms);
            }
            if version >= 4 {
                group.pending_members.insert(new_id.clone(), now_ms + i64::from(req.session_timeout_ms));
                return reply(self, join_error(ResponseError::MemberIdRequired, &new_id));
            }
            group.members.push(fresh(new_id));
            return self.member_joined(&group_id, now_ms);
        }

        let group = self.groups.get_mut(&group_id).expect("inserted above");
        if group.pending_members.remove(&member_id).is_some() {
            if group.members.len() >= self.config.max_size {
                return reply(self, join_error(ResponseError::GroupMaxSizeReached, &member_id));
            }
            group.members.push(fresh(member_id));
            return self.member_joined(&group_id, now_ms);
        }
        let Some(existing) = group.member(&member_id) else {
            return reply(self, join_error(ResponseError::UnknownMemberId, &member_id));
        };
        if existing.group_instance_id.is_some() && existing.group_instance_id != instance {
            return reply(self, join_error(ResponseError::FencedInstanceId, &member_id));
        }
        let unchanged = existing.protocols == protocols;
        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
        let state = group.state;
        let m = group.member_mut(&member_id).expect("checked above");
        if let Some((old, _)) = m.join_waiter.replace((token, version)) {
            // A duplicate join from the same member supersedes the older request.
            self.completions.push((old, Completion::Join(join_error(ResponseError::UnknownMemberId, &member_id))));
        }
        let m = self.groups.get_mut(&group_id).and_then(|g| g.member_mut(&member_id)).expect("checked above");
        m.protocols = protocols;
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = rebalance_timeout_ms;
        m.last_heartbeat_ms = now_ms;
        match state {
            GroupState::PreparingRebalance => self.maybe_complete_join(&group_id, now_ms),
            // Same metadata during CompletingRebalance, or a follower's rejoin while Stable: answer with the
            // current generation instead of starting over.
            GroupState::CompletingRebalance | GroupState::Stable
                if unchanged && !(is_leader && state == GroupState::Stable) =>
            {
                let group = self.groups.get_mut(&group_id).expect("exists");
                let m = group.member_mut(&member_id).expect("exists");
                let waiter = m.join_waiter.take();
                if let Some((t, v)) = waiter {
                    let response = self.join_response(&group_id, &member_id, v);
                    self.completions.push((t, Completion::Join(response)));
                }
            }
            _ => {
                self.prepare_rebalance(&group_id, now_ms);
                self.maybe_complete_join(&group_id, now_ms);
            }
        }
    }

    fn member_joined(&mut self, group_id: &str, now_ms: i64) {
        let state = self.groups.get(group_id).map(|g| g.state);
        if state != Some(GroupState::PreparingRebalance) {
            self.prepare_rebalance(group_id, now_ms);
        } else if let Some(g) = self.groups.get_mut(group_id) {
            // A member joining during the initial delay extends it, up to the rebalance timeout.
            if let Some(deadline) = g.initial_delay_deadline_ms {
                let extended = (now_ms + self.config.initial_rebalance_delay_ms).min(g.rebalance_deadline_ms);
                g.initial_delay_deadline_ms = Some(deadline.max(extended));
            }
            g.rebalance_deadline_ms = g.rebalance_deadline_ms.max(now_ms + g.max_rebalance_timeout_ms());
        }
        self.maybe_complete_join(group_id, now_ms);
    }

    fn prepare_rebalance(&mut self, group_id: &str, now_ms: i64) {
        let Some(g) = self.groups.get_mut(group_id) else { return };
        if g.state == GroupState::CompletingRebalance {
            for m in &mut g.members {
                if let Some((t, _)) = m.sync_waiter.take() {
                    self.completions.push((t, Completion::Sync(sync_error(ResponseError::RebalanceInProgress))));
                }
            }
        }
        let was_empty = g.state == GroupState::Empty;
        g.state = GroupState::PreparingRebalance;
        g.state_timestamp_ms = now_ms;
        g.rebalance_deadline_ms = now_ms + g.max_rebalance_timeout_ms();
        g.initial_delay_deadline_ms = (was_empty && self.config.initial_rebalance_delay_ms > 0)
            .then(|| (now_ms + self.config.initial_rebalance_delay_ms).min(g.rebalance_deadline_ms));
    }

    fn maybe_complete_join(&mut self, group_id: &str, now_ms: i64) {
        let Some(g) = self.groups.get(group_id) else { return };
        if g.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = g.members.iter().all(|m| m.join_waiter.is_some()) && g.pending_members.is_empty();
        let delay_over = g.initial_delay_deadline_ms.is_none_or(|d| now_ms >= d);
        if (all_joined && delay_over) || now_ms >= g.rebalance_deadline_ms {
            self.complete_join(group_id, now_ms);
        }
    }

    fn complete_join(&mut self, group_id: &str, now_ms: i64) {
        let Some(g) = self.groups.get_mut(group_id) else { return };
        g.members.retain(|m| m.join_waiter.is_some());
        g.pending_members.clear();
        g.initial_delay_deadline_ms = None;
        g.generation += 1;
        g.state_timestamp_ms = now_ms;
        if g.members.is_empty() {
            g.state = GroupState::Empty;
            g.protocol = None;
            g.leader = None;
            self.write_group(group_id, now_ms);
            return;
        }
        g.protocol_type = g.members.first().map(|m| m.protocol_type.clone());
        g.protocol = g.select_protocol();
        if !g.leader.as_ref().is_some_and(|l| g.members.iter().any(|m| &m.member_id == l)) {
            g.leader = g.members.first().map(|m| m.member_id.clone());
        }
        g.state = GroupState::CompletingRebalance;
        g.sync_deadline_ms = now_ms + g.max_rebalance_timeout_ms();
        let waiters: Vec<(String, Token, i16)> = g
            .members
            .iter_mut()
            .filter_map(|m| {
                m.last_heartbeat_ms = now_ms;
                m.join_waiter.take().map(|(t, v)| (m.member_id.clone(), t, v))
            })
            .collect();
        for (member_id, token, version) in waiters {
            let response = self.join_response(group_id, &member_id, version);
            self.completions.push((token, Completion::Join(response)));
        }
    }

    fn join_response(&self, group_id: &str, member_id: &str, version: i16) -> JoinGroupResponse {
        let Some(g) = self.groups.get(group_id) else { return join_error(ResponseError::UnknownMemberId, member_id) };
        let protocol = g.protocol.clone().unwrap_or_default();
        let is_leader = g.leader.as_deref() == Some(member_id);
        let members = if is_leader {
            g.members
                .iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(s(&m.member_id))
                        .with_group_instance_id(if version >= 5 { m.group_instance_id.as_deref().map(s) } else { None })
                        .with_metadata(m.metadata_for(&protocol))
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinGroupResponse::default()
            .with_generation_id(g.generation)
            .with_protocol_type(if version >= 7 { g.protocol_type.as_deref().map(s) } else { None })
            .with_protocol_name(Some(s(&protocol)))
            .with_leader(s(g.leader.as_deref().unwrap_or_default()))
            .with_member_id(s(member_id))
            .with_members(members)
    }

    /// SyncGroup. Always parks the request; the answer comes from `take_completions` under `token`.
    pub fn sync_group(&mut self, token: Token, req: &SyncGroupRequest, version: i16, now_ms: i64) {
        let group_id = req.group_id.0.to_string();
        let member_id = req.member_id.to_string();
        let reply = |this: &mut Self, r: SyncGroupResponse| this.completions.push((token, Completion::Sync(r)));
        let Some(g) = self.groups.get_mut(&group_id) else {
            return reply(self, sync_error(ResponseError::UnknownMemberId));
        };
        let instance = req.group_instance_id.as_ref().map(|i| i.to_string());
        let Some(m) = g.member(&member_id) else {
            return reply(self, sync_error(ResponseError::UnknownMemberId));
        };
        if m.group_instance_id.is_some() && m.group_instance_id != instance {
            return reply(self, sync_error(ResponseError::FencedInstanceId));
        }
        if req.generation_id != g.generation {
            return reply(self, sync_error(ResponseError::IllegalGeneration));
        }
        let type_ok = req.protocol_type.as_ref().is_none_or(|t| g.protocol_type.as_deref() == Some(t.as_str()));
        let name_ok = req.protocol_name.as_ref().is_none_or(|n| g.protocol.as_deref() == Some(n.as_str()));
        if !type_ok || !name_ok {
            return reply(self, sync_error(ResponseError::InconsistentGroupProtocol));
        }
        match g.state {
            GroupState::Empty | GroupState::Dead => reply(self, sync_error(ResponseError::UnknownMemberId)),
            GroupState::PreparingRebalance => reply(self, sync_error(ResponseError::RebalanceInProgress)),
            GroupState::Stable => {
                let (assignment, protocol_type, protocol) =
                    (m.assignment.clone(), g.protocol_type.clone(), g.protocol.clone());
                if let Some(m) = g.member_mut(&member_id) {
                    m.last_heartbeat_ms = now_ms;
                }
                reply(self, sync_ok(assignment, protocol_type, protocol, version))
            }
            GroupState::CompletingRebalance => {
                let is_leader = g.leader.as_deref() == Some(member_id.as_str());
                if let Some(m) = g.member_mut(&member_id) {
                    m.last_heartbeat_ms = now_ms;
                    if let Some((old, _)) = m.sync_waiter.replace((token, version)) {
                        self.completions.push((old, Completion::Sync(sync_error(ResponseError::UnknownMemberId))));
                    }
                }
                if !is_leader {
                    return;
                }
                let Some(g) = self.groups.get_mut(&group_id) else { return };
                let assignments: HashMap<String, Bytes> =
                    req.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect();
                for m in &mut g.members {
                    m.assignment = assignments.get(&m.member_id).cloned().unwrap_or_default();
                }
                g.state = GroupState::Stable;
                g.state_timestamp_ms = now_ms;
                let (protocol_type, protocol) = (g.protocol_type.clone(), g.protocol.clone());
                let waiting: Vec<(Token, i16, Bytes)> = g
                    .members
                    .iter_mut()
                    .filter_map(|m| m.sync_waiter.take().map(|(t, v)| (t, v, m.assignment.clone())))
                    .collect();
                self.write_group(&group_id, now_ms);
                for (t, v, assignment) in waiting {
                    self.completions
                        .push((t, Completion::Sync(sync_ok(assignment, protocol_type.clone(), protocol.clone(), v))));
                }
            }
        }
    }

    pub fn heartbeat(&mut self, req: &HeartbeatRequest, now_ms: i64) -> HeartbeatResponse {
        let error = (|| {
            let g = self.groups.get_mut(req.group_id.0.as_str()).ok_or(ResponseError::UnknownMemberId)?;
            let instance = req.group_instance_id.as_ref().map(|i| i.to_string());
            let (state, generation) = (g.state, g.generation);
            let m = g.member_mut(req.member_id.as_str()).ok_or(ResponseError::UnknownMemberId)?;
            if m.group_instance_id.is_some() && m.group_instance_id != instance {
                return Err(ResponseError::FencedInstanceId);
            }
            if req.generation_id != generation {
                return Err(ResponseError::IllegalGeneration);
            }
            m.last_heartbeat_ms = now_ms;
            match state {
                GroupState::Empty | GroupState::Dead => Err(ResponseError::UnknownMemberId),
                GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
                GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
            }
        })();
        HeartbeatResponse::default().with_error_code(error.err().map_or(0, |e| e.code()))
    }

    /// Removes members (by member id, or by group instance id when the member id is empty). Returns the
    /// group-level error and one result per member.
    pub fn leave_group(
        &mut self,
        group_id: &str,
        members: &[(String, Option<String>)],
        now_ms: i64,
    ) -> (Option<ResponseError>, Vec<Option<ResponseError>>) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return (Some(ResponseError::UnknownMemberId), vec![Some(ResponseError::UnknownMemberId); members.len()]);
        };
        let mut results = Vec::with_capacity(members.len());
        let mut removed = false;
        for (member_id, instance) in members {
            if member_id.is_empty() {
                if let Some(instance) = instance {
                    if let Some(id) = g.member_by_instance(instance).map(|m| m.member_id.clone()) {
                        remove_member(g, &id, &mut self.completions);
                        removed = true;
                        results.push(None);
                        continue;
                    }
                }
                results.push(Some(ResponseError::UnknownMemberId));
                continue;
            }
            if g.pending_members.remove(member_id).is_some() {
                results.push(None);
                removed = true;
                continue;
            }
            match g.member(member_id) {
                None => results.push(Some(ResponseError::UnknownMemberId)),
                Some(m) if instance.is_some() && m.group_instance_id != *instance => {
                    results.push(Some(ResponseError::FencedInstanceId))
                }
                Some(_) => {
                    remove_member(g, member_id, &mut self.completions);
                    removed = true;
                    results.push(None);
                }
            }
        }
        if removed {
            self.membership_changed(group_id, now_ms);
        }
        (None, results)
    }

    fn membership_changed(&mut self, group_id: &str, now_ms: i64) {
        let Some(g) = self.groups.get(group_id) else { return };
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(group_id, now_ms);
                self.maybe_complete_join(group_id, now_ms);
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(group_id, now_ms),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Expires sessions and pending members, completes rebalances whose time is up, and drops offsets past
    /// retention in empty groups.
    pub fn tick(&mut self, now_ms: i64) {
        self.consumer_tick(now_ms);
        for id in self.group_ids() {
            self.tick_group(&id, now_ms);
        }
    }

    /// The classic protocol's share of [`GroupCoordinator::tick`] for one group: sessions, rebalance deadlines
    /// and offset retention.
    pub fn tick_group(&mut self, id: &str, now_ms: i64) {
        let id = id.to_string();
        {
            let Some(g) = self.groups.get_mut(&id) else { return };
            g.pending_members.retain(|_, deadline| *deadline > now_ms);
            let expired: Vec<String> = g
                .members
                .iter()
                .filter(|m| m.join_waiter.is_none() && m.sync_waiter.is_none())
                .filter(|m| now_ms - m.last_heartbeat_ms > i64::from(m.session_timeout_ms))
                .map(|m| m.member_id.clone())
                .collect();
            for member_id in &expired {
                remove_member(g, member_id, &mut self.completions);
            }
            let state = g.state;
            if !expired.is_empty() {
                self.membership_changed(&id, now_ms);
            } else if state == GroupState::PreparingRebalance {
                self.maybe_complete_join(&id, now_ms);
            } else if state == GroupState::CompletingRebalance && now_ms >= g.sync_deadline_ms {
                // The leader never sent the assignment: drop members that did not sync and start over.
                g.members.retain(|m| m.sync_waiter.is_some());
                self.prepare_rebalance(&id, now_ms);
                self.maybe_complete_join(&id, now_ms);
            }
        }
        self.expire_offsets(&id, now_ms);
    }

    fn expire_offsets(&mut self, group_id: &str, now_ms: i64) {
        let retention = self.config.offsets_retention_ms;
        let Some(g) = self.groups.get_mut(group_id) else { return };
        if g.state != GroupState::Empty || !g.is_empty() {
            return;
        }
        let expired: Vec<(String, i32)> = g
            .offsets
            .iter()
            .filter(|(_, v)| now_ms - v.commit_timestamp.max(g.state_timestamp_ms) > retention)
            .map(|(k, _)| k.clone())
            .collect();
        for (topic, partition) in expired {
            g.offsets.remove(&(topic.clone(), partition));
            self.writes.push(Write {
                group: group_id.to_string(),
                key: schema::offset_key(group_id, &topic, partition),
                value: None,
            });
        }
        if g.offsets.is_empty()
            && g.pending_offsets.is_empty()
            && g.members.is_empty()
            && now_ms - g.state_timestamp_ms > retention
        {
            self.groups.remove(group_id);
            self.writes.push(Write { group: group_id.to_string(), key: schema::group_key(group_id), value: None });
        }
    }

    /// Checks whether an OffsetCommit (or TxnOffsetCommit) from this member and generation may commit now.
    pub fn validate_commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance: Option<&str>,
    ) -> Result<(), ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let Some(g) = self.groups.get(group_id) else {
            // A group that does not exist yet takes commits from consumers that manage no membership.
            return if generation < 0 && member_id.is_empty() { Ok(()) } else { Err(ResponseError::IllegalGeneration) };
        };
        if let Some(cg) = &g.consumer {
            return Self::validate_consumer_commit(cg, generation, member_id);
        }
        if generation < 0 && g.state == GroupState::Empty {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || instance.is_some() {
            let m = g.member(member_id).ok_or(ResponseError::UnknownMemberId)?;
            if m.group_instance_id.is_some() && m.group_instance_id.as_deref() != instance {
                return Err(ResponseError::FencedInstanceId);
            }
            if generation != g.generation {
                return Err(ResponseError::IllegalGeneration);
            }
        } else if g.state != GroupState::Empty {
            return Err(ResponseError::UnknownMemberId);
        }
        if g.state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
    }

    /// The records that store committed offsets (already validated); nothing changes until
    /// [`GroupCoordinator::apply_commit`] once they are stored.
    pub fn prepare_commit(group_id: &str, offsets: &[(String, i32, OffsetValue)]) -> Vec<Write> {
        offsets
            .iter()
            .map(|(topic, partition, value)| Write {
                group: group_id.to_string(),
                key: schema::offset_key(group_id, topic, *partition),
                value: Some(schema::offset_value(value)),
            })
            .collect()
    }

    /// Remembers offsets stored in the group's `__consumer_offsets` partition up to `end_offset`: they become
    /// the committed ones once [`GroupCoordinator::promote_commits`] sees the partition replicated that far.
    pub fn stage_commit(
        &mut self,
        group_id: &str,
        end_offset: i64,
        offsets: Vec<(String, i32, OffsetValue)>,
        now_ms: i64,
    ) {
        let g = self.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, now_ms));
        g.pending_offsets.extend(offsets.into_iter().map(|(t, p, v)| (end_offset, t, p, v)));
        self.pending_commit_groups.insert(group_id.to_string());
    }

    /// Makes the staged offsets of the groups in `__consumer_offsets` partition `offsets_partition` (of
    /// `partition_count`) that its high watermark has passed the committed ones.
    pub fn promote_commits(&mut self, offsets_partition: i32, partition_count: i32, high_watermark: i64) {
        let ids: Vec<String> = self
            .pending_commit_groups
            .iter()
            .filter(|id| partition_for(id, partition_count) == offsets_partition)
            .cloned()
            .collect();
        for id in ids {
            let Some(g) = self.groups.get_mut(&id) else {
                self.pending_commit_groups.remove(&id);
                continue;
            };
            let ready = g.pending_offsets.iter().take_while(|(end, ..)| *end <= high_watermark).count();
            for (_, topic, partition, value) in g.pending_offsets.drain(..ready) {
                g.offsets.insert((topic, partition), value);
            }
            if g.pending_offsets.is_empty() {
                self.pending_commit_groups.remove(&id);
            }
        }
    }

    /// Whether some group has offsets waiting for their partition to be replicated.
    pub fn has_pending_commits(&self) -> bool {
        !self.pending_commit_groups.is_empty()
    }

    /// Makes stored offsets the committed ones.
    pub fn apply_commit(&mut self, group_id: &str, offsets: Vec<(String, i32, OffsetValue)>, now_ms: i64) {
        let g = self.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, now_ms));
        for (topic, partition, value) in offsets {
            g.offsets.insert((topic, partition), value);
        }
    }

    /// Remembers offsets a transaction committed (already written to `__consumer_offsets` as a transactional
    /// batch); they take effect with the transaction's commit marker.
    pub fn add_txn_offsets(&mut self, producer_id: i64, group_id: &str, offsets: Vec<(String, i32, OffsetValue)>) {
        let pending = self.pending_txn_offsets.entry(producer_id).or_default();
        for (topic, partition, value) in offsets {
            pending.insert((group_id.to_string(), topic, partition), value);
        }
    }

    /// Applies a transaction marker written to `__consumer_offsets` partition `offsets_partition` (of
    /// `partition_count`): on commit the producer's pending offsets for groups in that partition become the
    /// committed ones, on abort they are dropped.
    pub fn complete_txn_offsets(
        &mut self,
        producer_id: i64,
        commit: bool,
        offsets_partition: i32,
        partition_count: i32,
        now_ms: i64,
    ) {
        let Some(pending) = self.pending_txn_offsets.get_mut(&producer_id) else { return };
        let mine: Vec<(String, String, i32)> = pending
            .keys()
            .filter(|(group, _, _)| partition_for(group, partition_count) == offsets_partition)
            .cloned()
            .collect();
        for key in mine {
            let Some(value) = pending.remove(&key) else { continue };
            if commit {
                let (group, topic, partition) = key;
                let g = self.groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now_ms));
                g.offsets.insert((topic, partition), value);
            }
        }
        if pending.is_empty() {
            self.pending_txn_offsets.remove(&producer_id);
        }
    }

    /// Whether a transaction has committed an offset for this partition that is not yet visible (an
    /// OffsetFetch asking for stable offsets gets UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending_txn_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.pending_txn_offsets.values().any(|p| p.contains_key(&key))
    }

    /// Replays one record of a transactional batch of `__consumer_offsets` (on start-up): an offset commit
    /// pending until the batch's transaction marker.
    pub fn load_txn(&mut self, producer_id: i64, key: &[u8], value: Option<&[u8]>) -> Result<(), schema::SchemaError> {
        if let (OffsetsKey::Offset { group, topic, partition }, Some(v)) = (schema::decode_key(key)?, value) {
            let value = schema::decode_offset_value(v)?;
            self.pending_txn_offsets.entry(producer_id).or_default().insert((group, topic, partition), value);
        }
        Ok(())
    }

    /// The committed offset of a partition.
    pub fn committed(&self, group_id: &str, topic: &str, partition: i32) -> Option<&OffsetValue> {
        self.groups.get(group_id)?.offsets.get(&(topic.to_string(), partition))
    }

    /// Deletes empty groups with their offsets.
    pub fn delete_group(&mut self, group_id: &str) -> Result<(), ResponseError> {
        let g = self.groups.get(group_id).ok_or(ResponseError::GroupIdNotFound)?;
        if !g.is_empty() {
            return Err(ResponseError::NonEmptyGroup);
        }
        let g = self.groups.remove(group_id).ok_or(ResponseError::GroupIdNotFound)?;
        // Staged commits are in the log too, before these tombstones: they must go with the group.
        let staged = g.pending_offsets.iter().map(|(_, t, p, _)| (t.clone(), *p));
        let keys: BTreeSet<(String, i32)> = g.offsets.keys().cloned().chain(staged).collect();
        for (topic, partition) in &keys {
            self.writes.push(Write {
                group: group_id.to_string(),
                key: schema::offset_key(group_id, topic, *partition),
                value: None,
            });
        }
        self.writes.push(Write { group: group_id.to_string(), key: schema::group_key(group_id), value: None });
        Ok(())
    }

    /// Deletes committed offsets of partitions whose topic the group does not subscribe to.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let g = self.groups.get_mut(group_id).ok_or(ResponseError::GroupIdNotFound)?;
        let mut results = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            if !g.is_empty() && g.subscribes_to(topic) {
                results.push(Some(ResponseError::GroupSubscribedToTopic));
                continue;
            }
            let staged = g.pending_offsets.len();
            g.pending_offsets.retain(|(_, t, p, _)| !(t == topic && p == partition));
            let had_staged = g.pending_offsets.len() != staged;
            if g.offsets.remove(&(topic.clone(), *partition)).is_some() || had_staged {
                self.writes.push(Write {
                    group: group_id.to_string(),
                    key: schema::offset_key(group_id, topic, *partition),
                    value: None,
                });
            }
            results.push(None);
        }
        Ok(results)
    }

    /// Replays one `__consumer_offsets` record (on start-up).
    pub fn load(&mut self, key: &[u8], value: Option<&[u8]>, now_ms: i64) -> Result<(), schema::SchemaError> {
        match schema::decode_key(key)? {
            OffsetsKey::Offset { group, topic, partition } => {
                let g = self.groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now_ms));
                match value {
                    Some(v) => {
                        g.offsets.insert((topic, partition), schema::decode_offset_value(v)?);
                    }
                    None => {
                        g.offsets.remove(&(topic, partition));
                    }
                }
            }
            OffsetsKey::Group { group } => match value {
                None => {
                    self.groups.remove(&group);
                }
                Some(v) => {
                    let stored = schema::decode_group_value(v)?;
                    let g = self.groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now_ms));
                    g.generation = stored.generation;
                    g.protocol_type = Some(stored.protocol_type.clone()).filter(|t| !t.is_empty());
                    g.protocol = stored.protocol.clone();
                    g.leader = stored.leader.clone();
                    g.members = stored
                        .members
                        .into_iter()
                        .map(|m| Member {
                            member_id: m.member_id,
                            group_instance_id: m.group_instance_id,
                            client_id: m.client_id,
                            client_host: m.client_host,
                            session_timeout_ms: m.session_timeout_ms,
                            rebalance_timeout_ms: m.rebalance_timeout_ms,
                            protocol_type: stored.protocol_type.clone(),
                            protocols: vec![(stored.protocol.clone().unwrap_or_default(), m.subscription)],
                            assignment: m.assignment,
                            // Members of a reloaded group get a full session to show up again.
                            last_heartbeat_ms: now_ms,
                            join_waiter: None,
                            sync_waiter: None,
                        })
                        .collect();
                    g.state = if g.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
                    g.state_timestamp_ms = now_ms;
                }
            },
        }
        Ok(())
    }
}

fn sync_ok(
    assignment: Bytes,
    protocol_type: Option<String>,
    protocol: Option<String>,
    version: i16,
) -> SyncGroupResponse {
    let r = SyncGroupResponse::default().with_assignment(assignment);
    if version >= 5 {
        r.with_protocol_type(protocol_type.as_deref().map(s)).with_protocol_name(protocol.as_deref().map(s))
    } else {
        r
    }
}

fn remove_member(g: &mut Group, member_id: &str, completions: &mut Vec<(Token, Completion)>) {
    let Some(pos) = g.members.iter().position(|m| m.member_id == member_id) else { return };
    let m = g.members.remove(pos);
    if let Some((t, _)) = m.join_waiter {
        completions.push((t, Completion::Join(join_error(ResponseError::UnknownMemberId, member_id))));
    }
    if let Some((t, _)) = m.sync_waiter {
        completions.push((t, Completion::Sync(sync_error(ResponseError::UnknownMemberId))));
    }
    if g.leader.as_deref() == Some(member_id) {
        g.leader = None;
    }
}

/// Java's `String.hashCode`, which picks a group's `__consumer_offsets` partition.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition that holds a group: `abs(hashCode) % partitions`, as Kafka computes it.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let h = java_string_hash(group_id);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests;
