//! Classic consumer group membership (JoinGroup / SyncGroup / Heartbeat / LeaveGroup), as Kafka's
//! `ConsumerCoordinator` runs it: the join runs as a background task so `poll(timeout)` keeps its timeout, the
//! leader computes the assignment with the assignor the group chose, and a heartbeat task per generation keeps
//! the membership alive between polls and leaves the group when `max.poll.interval.ms` passes without a poll.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;

use super::native::{ConsumerInner, GroupConfig};
use crate::client::assignor::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription, Assignment, Assignor,
    RebalanceProtocol, Subscription,
};
use crate::client::error::{ClientError, Result};
use crate::client::producer::lock;
use crate::client::requests::sb;
use crate::client::TopicPartition;

/// The consumer protocol version potok writes (Kafka 3.x+ writes 3).
const SUBSCRIPTION_VERSION: i16 = 3;

/// Membership state shared by `poll` and the heartbeat task.
#[derive(Debug)]
pub(crate) struct Membership {
    pub coordinator: Option<i32>,
    pub member_id: String,
    pub generation: i32,
    pub protocol: Option<String>,
    /// A rebalance is needed (the coordinator said so, a heartbeat failed, or the subscription changed).
    pub rejoin_needed: bool,
    pub joined: bool,
    pub last_poll: Instant,
}

impl Membership {
    pub fn new() -> Membership {
        Membership {
            coordinator: None,
            member_id: String::new(),
            generation: -1,
            protocol: None,
            rejoin_needed: true,
            joined: false,
            last_poll: Instant::now(),
        }
    }
}

/// What a completed join brought.
#[derive(Debug)]
pub(crate) struct JoinOutcome {
    pub generation: i32,
    pub member_id: String,
    pub protocol: String,
    pub assignment: Vec<TopicPartition>,
    /// For the leader: the partition counts the assignment was computed from (topics with partitions only).
    /// A later difference in metadata means the group must rebalance, as Kafka's leader decides.
    pub assigned_with: Option<BTreeMap<String, usize>>,
}

/// The rebalance protocol the configured assignors share (cooperative only if all support it).
pub(crate) fn rebalance_protocol(assignors: &[Arc<dyn Assignor>]) -> RebalanceProtocol {
    if assignors.iter().all(|a| a.supported_protocols().contains(&RebalanceProtocol::Cooperative)) {
        RebalanceProtocol::Cooperative
    } else {
        RebalanceProtocol::Eager
    }
}

/// Joins (or rejoins) the group and returns the new assignment. Runs on the client runtime.
pub(crate) async fn join(
    inner: Arc<ConsumerInner>,
    group: GroupConfig,
    topics: Vec<String>,
    owned: Vec<TopicPartition>,
) -> Result<JoinOutcome> {
    let deadline = Instant::now() + group.rebalance_timeout + Duration::from_secs(5);
    let mut backoff = inner.cluster.config.retry_backoff.max(Duration::from_millis(10));
    loop {
        if Instant::now() >= deadline {
            return Err(ClientError::Timeout(format!("joining group {}", group.group_id)));
        }
        match join_once(&inner, &group, &topics, &owned, deadline).await {
            Ok(outcome) => return Ok(outcome),
            Err(e) => {
                let code = e.code();
                let (coordinator_moved, retry) = match code {
                    // NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS
                    Some(14..=16) => (true, true),
                    // UNKNOWN_MEMBER_ID: join again as a new member.
                    Some(25) => {
                        lock(&inner.membership).member_id.clear();
                        (false, true)
                    }
                    // ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, MEMBER_ID_REQUIRED
                    Some(22) | Some(27) | Some(79) => (false, true),
                    _ if matches!(e, ClientError::Io(_) | ClientError::Timeout(_)) => (true, true),
                    _ => (false, false),
                };
                if !retry {
                    return Err(e);
                }
                if coordinator_moved {
                    lock(&inner.membership).coordinator = None;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(inner.cluster.config.retry_backoff_max);
                }
            }
        }
    }
}

async fn coordinator(inner: &ConsumerInner, group_id: &str, deadline: Instant) -> Result<i32> {
    let cached = lock(&inner.membership).coordinator;
    if let Some(c) = cached {
        return Ok(c);
    }
    let c = inner.cluster.find_coordinator(0, group_id, deadline).await?;
    lock(&inner.membership).coordinator = Some(c);
    Ok(c)
}

async fn join_once(
    inner: &Arc<ConsumerInner>,
    group: &GroupConfig,
    topics: &[String],
    owned: &[TopicPartition],
    deadline: Instant,
) -> Result<JoinOutcome> {
    let coordinator = coordinator(inner, &group.group_id, deadline).await?;
    let (member_id, generation) = {
        let m = lock(&inner.membership);
        (m.member_id.clone(), m.generation)
    };
    let mut protocols = Vec::new();
    for assignor in &group.assignors {
        let subscription = Subscription {
            topics: topics.to_vec(),
            user_data: assignor.subscription_user_data(topics, generation),
            owned_partitions: owned.to_vec(),
            generation_id: (generation >= 0).then_some(generation),
            rack_id: group.client_rack.clone(),
            group_instance_id: None,
        };
        let metadata = encode_subscription(&subscription, SUBSCRIPTION_VERSION)
            .map_err(|e| ClientError::Protocol(format!("encoding the subscription: {e}")))?;
        protocols.push(
            JoinGroupRequestProtocol::default().with_name(sb(assignor.name())).with_metadata(Bytes::from(metadata)),
        );
    }
    let join_timeout = group.rebalance_timeout + Duration::from_secs(5);
    let response = inner
        .cluster
        .call_with_timeout(coordinator, join_timeout, |version| {
            let request = JoinGroupRequest::default()
                .with_group_id(GroupId(sb(&group.group_id)))
                .with_session_timeout_ms(group.session_timeout.as_millis() as i32)
                .with_rebalance_timeout_ms(group.rebalance_timeout.as_millis().min(i32::MAX as u128) as i32)
                .with_member_id(sb(&member_id))
                .with_group_instance_id(group.group_instance_id.as_deref().map(sb))
                .with_protocol_type(sb("consumer"))
                .with_protocols(protocols);
            if version >= 8 {
                request.with_reason(Some(sb("potok consumer joining")))
            } else {
                request
            }
        })
        .await?;
    if response.error_code == 79 {
        // MEMBER_ID_REQUIRED: the coordinator gave us an id; join again with it.
        lock(&inner.membership).member_id = response.member_id.to_string();
        return Err(ClientError::from_code(79, None));
    }
    ClientError::check(response.error_code)?;
    let member_id = response.member_id.to_string();
    let generation = response.generation_id;
    let protocol = response.protocol_name.as_ref().map(|p| p.to_string()).unwrap_or_default();
    {
        let mut m = lock(&inner.membership);
        m.member_id = member_id.clone();
        m.generation = generation;
    }
    let mut assigned_with = None;
    let assignments = if response.leader.as_str() == member_id && !response.skip_assignment {
        let assignor = group
            .assignors
            .iter()
            .find(|a| a.name() == protocol)
            .ok_or_else(|| ClientError::Protocol(format!("the group chose unknown assignor {protocol:?}")))?;
        let mut subscriptions = Vec::new();
        for m in &response.members {
            let mut s = decode_subscription(&m.metadata)
                .map_err(|e| ClientError::Protocol(format!("member {} subscription: {e}", m.member_id)))?;
            s.group_instance_id = m.group_instance_id.as_ref().map(|i| i.to_string());
            subscriptions.push((m.member_id.to_string(), s));
        }
        let mut all_topics: Vec<String> = subscriptions.iter().flat_map(|(_, s)| s.topics.iter().cloned()).collect();
        all_topics.sort();
        all_topics.dedup();
        let metadata = inner.cluster.refresh(Some(&all_topics), inner.config.allow_auto_create_topics).await?;
        let partitions_per_topic: BTreeMap<String, i32> = all_topics
            .iter()
            .filter_map(|t| metadata.topics.get(t).map(|m| (t.clone(), m.partitions.len() as i32)))
            .collect();
        assigned_with =
            Some(partitions_per_topic.iter().filter(|(_, &n)| n > 0).map(|(t, &n)| (t.clone(), n as usize)).collect());
        let result = assignor
            .assign(&partitions_per_topic, &subscriptions)
            .map_err(|e| ClientError::Protocol(format!("assignor {protocol}: {e}")))?;
        let mut out = Vec::new();
        for (member, partitions) in result {
            let bytes = encode_assignment(&Assignment { partitions, user_data: None }, SUBSCRIPTION_VERSION)
                .map_err(|e| ClientError::Protocol(format!("encoding an assignment: {e}")))?;
            out.push(
                SyncGroupRequestAssignment::default().with_member_id(sb(&member)).with_assignment(Bytes::from(bytes)),
            );
        }
        out
    } else {
        Vec::new()
    };
    let response = inner
        .cluster
        .call_with_timeout(coordinator, join_timeout, |version| {
            let request = SyncGroupRequest::default()
                .with_group_id(GroupId(sb(&group.group_id)))
                .with_generation_id(generation)
                .with_member_id(sb(&member_id))
                .with_group_instance_id(group.group_instance_id.as_deref().map(sb))
                .with_assignments(assignments);
            if version >= 5 {
                request.with_protocol_type(Some(sb("consumer"))).with_protocol_name(Some(sb(&protocol)))
            } else {
                request
            }
        })
        .await?;
    ClientError::check(response.error_code)?;
    let assignment = if response.assignment.is_empty() {
        Vec::new()
    } else {
        decode_assignment(&response.assignment)
            .map_err(|e| ClientError::Protocol(format!("decoding the assignment: {e}")))?
            .partitions
    };
    Ok(JoinOutcome { generation, member_id, protocol, assignment, assigned_with })
}

/// Heartbeats for one generation until it ends, the consumer closes, or polls stop for `max.poll.interval.ms`.
pub(crate) async fn heartbeat_loop(inner: Arc<ConsumerInner>, group: GroupConfig, generation: i32) {
    loop {
        tokio::time::sleep(group.heartbeat_interval).await;
        let (member_id, coordinator, last_poll, current) = {
            let m = lock(&inner.membership);
            (m.member_id.clone(), m.coordinator, m.last_poll, m.generation)
        };
        if current != generation || inner.is_closed() {
            return;
        }
        if last_poll.elapsed() > group.rebalance_timeout {
            // The application stopped polling: leave, so the group can move on without it, as Kafka does.
            let _ = leave(&inner, &group, "consumer poll timeout has expired").await;
            let mut m = lock(&inner.membership);
            m.rejoin_needed = true;
            m.joined = false;
            m.generation = -1;
            return;
        }
        let Some(coordinator) = coordinator else {
            lock(&inner.membership).rejoin_needed = true;
            return;
        };
        let result = inner
            .cluster
            .call(Some(coordinator), |_| {
                HeartbeatRequest::default()
                    .with_group_id(GroupId(sb(&group.group_id)))
                    .with_generation_id(generation)
                    .with_member_id(sb(&member_id))
                    .with_group_instance_id(group.group_instance_id.as_deref().map(sb))
            })
            .await;
        let code = match result {
            Ok(r) => r.error_code,
            Err(_) => continue,
        };
        let mut m = lock(&inner.membership);
        match code {
            0 => {}
            // REBALANCE_IN_PROGRESS: keep heartbeating until poll rejoins.
            27 => m.rejoin_needed = true,
            14..=16 => {
                m.coordinator = None;
                m.rejoin_needed = true;
                return;
            }
            25 => {
                m.member_id.clear();
                m.generation = -1;
                m.rejoin_needed = true;
                return;
            }
            _ => {
                m.generation = -1;
                m.rejoin_needed = true;
                return;
            }
        }
    }
}

/// Leaves the group (a static member only stops heartbeating, as in Kafka).
pub(crate) async fn leave(inner: &ConsumerInner, group: &GroupConfig, reason: &str) -> Result<()> {
    if group.group_instance_id.is_some() {
        return Ok(());
    }
    let (member_id, coordinator) = {
        let m = lock(&inner.membership);
        (m.member_id.clone(), m.coordinator)
    };
    let (Some(coordinator), false) = (coordinator, member_id.is_empty()) else { return Ok(()) };
    let response = inner
        .cluster
        .call(Some(coordinator), |version| {
            let member = MemberIdentity::default().with_member_id(sb(&member_id));
            let member = if version >= 5 { member.with_reason(Some(sb(reason))) } else { member };
            LeaveGroupRequest::default().with_group_id(GroupId(sb(&group.group_id))).with_members(vec![member])
        })
        .await?;
    ClientError::check(response.error_code)
}
