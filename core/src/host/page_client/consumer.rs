//! The in-page consumer: Kafka's consumer with a manual assignment over the sans-IO [`Fetcher`], driven
//! synchronously against a broker in memory. Positions come from the group's committed offsets (OffsetFetch,
//! when `group.id` is set) or `auto.offset.reset` (ListOffsets); Fetch requests go on a connection of their
//! own, since the broker may hold one until `fetch.max.wait.ms`, and offset requests on another, as Kafka's
//! consumer talks to its coordinator on a separate connection. Commits are OffsetCommit with generation -1 and
//! no member id, as Kafka's consumer commits for `assign()`.
//!
//! Group membership (`subscribe`) runs the sans-IO [`ConsumerCoordinator`] on a third connection (a JoinGroup
//! the broker holds for a rebalance holds back what follows it on its connection): its timers are polled at
//! every step, the application's poll is fed to it while a poll waits (or after a `poll_now`), and its
//! callback actions are run in order: revoked and lost partitions leave the fetcher (revoked ones committed
//! first with auto-commit on), an assignment becomes the fetcher's (new partitions then start from the group's
//! committed offsets), and each is recorded as a [`RebalanceEvent`] for the host. Commits of a member carry its
//! generation and member id.

use std::collections::BTreeMap;

use kafka_protocol::messages::{
    FetchRequest, FindCoordinatorRequest, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, ListOffsetsRequest,
    MetadataRequest, OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};

use super::link::{decode, Link};
use super::Ticket;
use crate::client::assignor::assignor_by_name;
use crate::client::config::{ClientKind, CommonConfig, Properties};
use crate::client::consumer::coordinator::{
    self, join_group_for_version, leave_group_for_version, sync_group_for_version, ConsumerCoordinator,
    CoordinatorConfig,
};
use crate::client::consumer::fetcher::{Action, Fetcher, FetcherConfig, ResetPolicy};
use crate::client::consumer::ConsumerRecord;
use crate::client::metadata::Metadata;
use crate::client::producer::transaction::ConsumerGroupMetadata;
use crate::client::requests;
use crate::client::{
    find_coordinator_for_version, ClientError, IsolationLevel, OffsetAndMetadata, OffsetSpec, TopicPartition,
};
use crate::host::memory::{MemoryBroker, RequestId};
use crate::host::HostError;

/// What a request on one of the consumer's links was.
#[derive(Debug)]
pub(super) enum Tag {
    Metadata,
    Fetch(crate::client::consumer::fetcher::RequestId),
    /// Committed offsets looked up to find positions.
    PositionsCommitted(Vec<TopicPartition>),
    /// Offsets looked up for resets.
    PositionsReset(Vec<(TopicPartition, OffsetSpec)>),
    Commit(Ticket, BTreeMap<TopicPartition, OffsetAndMetadata>),
    Committed(Ticket),
    /// A commit nobody waits for (auto-commit, before a revoke, on close).
    CommitQuietly,
    /// A group membership request (on the group link).
    Group(coordinator::RequestId, GroupRequest),
    /// The leader's metadata lookup for its assignment.
    GroupMetadata(coordinator::RequestId),
}

/// Which group request a [`Tag::Group`] answer is to.
#[derive(Debug, Clone, Copy)]
pub(super) enum GroupRequest {
    FindCoordinator,
    JoinGroup,
    SyncGroup,
    Heartbeat,
    LeaveGroup,
}

/// A change of a group member's assignment, as the host's rebalance listener hears of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    /// Given up in a rebalance (committed first with auto-commit on).
    Revoked(Vec<TopicPartition>),
    /// Lost without a chance to commit (the member was fenced or gone too long).
    Lost(Vec<TopicPartition>),
    /// A rebalance finished: the whole assignment, and what it added.
    Assigned { partitions: Vec<TopicPartition>, added: Vec<TopicPartition> },
}

/// The consumer's settings (Kafka's consumer config keys).
#[derive(Debug, Clone)]
pub(super) struct PageConsumerConfig {
    pub group_id: Option<String>,
    /// The membership settings (with `group.id`).
    pub group: Option<CoordinatorConfig>,
    pub allow_auto_create_topics: bool,
    pub max_poll_records: usize,
    pub fetch_max_wait_ms: i32,
    pub fetcher: FetcherConfig,
    pub common: CommonConfig,
}

pub(super) fn consumer_config(
    config: &[(String, String)],
    default_client_id: String,
) -> Result<PageConsumerConfig, HostError> {
    let props = Properties::parse(ClientKind::Consumer, &super::producer::with_bootstrap(config))?;
    let common = CommonConfig::from_properties(&props, default_client_id)?;
    let max_poll_records = props.i64("max.poll.records");
    if max_poll_records < 1 {
        return Err(HostError::from(ClientError::config("max.poll.records", "must be at least 1")));
    }
    let fetcher = FetcherConfig {
        fetch_min_bytes: props.i32("fetch.min.bytes"),
        fetch_max_bytes: props.i32("fetch.max.bytes"),
        max_partition_fetch_bytes: props.i32("max.partition.fetch.bytes"),
        isolation_level: if props.str("isolation.level") == Some("read_committed") {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        },
        reset: match props.str("auto.offset.reset") {
            Some("earliest") => ResetPolicy::Earliest,
            Some("none") => ResetPolicy::None,
            _ => ResetPolicy::Latest,
        },
        client_rack: props.str("client.rack").filter(|s| !s.is_empty()).map(str::to_string),
        retry_backoff_ms: common.retry_backoff.as_millis() as u64,
    };
    let group_id = props.str("group.id").filter(|g| !g.is_empty()).map(str::to_string);
    let group = match &group_id {
        None => None,
        Some(group_id) => Some(group_config(&props, &common, group_id)?),
    };
    Ok(PageConsumerConfig {
        group_id,
        group,
        allow_auto_create_topics: props.bool("allow.auto.create.topics"),
        max_poll_records: max_poll_records as usize,
        fetch_max_wait_ms: props.ms("fetch.max.wait.ms").as_millis().min(i32::MAX as u128) as i32,
        fetcher,
        common,
    })
}

/// The group membership settings, as the native consumer reads them.
fn group_config(props: &Properties, common: &CommonConfig, group_id: &str) -> Result<CoordinatorConfig, HostError> {
    if props.str("group.protocol").is_some_and(|p| p.eq_ignore_ascii_case("consumer")) {
        return Err(HostError::from(ClientError::config(
            "group.protocol",
            "potok's consumer speaks the classic group protocol only (the broker serves both)",
        )));
    }
    let assignors = props
        .str("partition.assignment.strategy")
        .unwrap_or("range")
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(assignor_by_name)
        .collect::<Result<Vec<_>, _>>()?;
    if assignors.is_empty() {
        return Err(HostError::from(ClientError::config("partition.assignment.strategy", "is empty")));
    }
    let ms = |d: std::time::Duration| d.as_millis().min(u64::MAX as u128) as u64;
    let session_timeout_ms = ms(props.ms("session.timeout.ms"));
    let heartbeat_interval_ms = ms(props.ms("heartbeat.interval.ms"));
    if heartbeat_interval_ms >= session_timeout_ms {
        return Err(HostError::from(ClientError::config(
            "heartbeat.interval.ms",
            "must be lower than session.timeout.ms",
        )));
    }
    Ok(CoordinatorConfig {
        group_id: group_id.to_string(),
        group_instance_id: props.str("group.instance.id").filter(|s| !s.is_empty()).map(str::to_string),
        session_timeout_ms,
        rebalance_timeout_ms: ms(props.ms("max.poll.interval.ms")),
        heartbeat_interval_ms,
        assignors,
        client_rack: props.str("client.rack").filter(|s| !s.is_empty()).map(str::to_string),
        retry_backoff_ms: ms(common.retry_backoff),
        retry_backoff_max_ms: ms(common.retry_backoff_max),
        auto_commit_interval_ms: props.bool("enable.auto.commit").then(|| ms(props.ms("auto.commit.interval.ms"))),
    })
}

/// A poll waiting for records.
#[derive(Debug)]
struct PollWaiter {
    ticket: Ticket,
    max_records: usize,
    deadline_ms: i64,
}

#[derive(Debug)]
pub(super) struct PageConsumer {
    /// Fetch requests (held by the broker up to `fetch.max.wait.ms`).
    pub fetch_link: Link<Tag>,
    /// Metadata, offset lookups and commits.
    pub link: Link<Tag>,
    config: PageConsumerConfig,
    fetcher: Fetcher,
    metadata: Metadata,
    metadata_in_flight: bool,
    metadata_retry_ms: i64,
    /// Some assigned partition has no known leader (its topic's metadata is wanted).
    needs_metadata: bool,
    /// A position lookup is in flight.
    lookup_in_flight: bool,
    /// No position lookup before this time (one failed, or a partition's leader could not answer yet).
    lookup_retry_ms: i64,
    polls: Vec<PollWaiter>,
    /// Position requests waiting for a partition's position.
    positions: Vec<(Ticket, TopicPartition)>,
    outcomes: Vec<(Ticket, super::Outcome)>,
    pub closing: bool,
    /// Group requests (with `group.id`).
    pub group_link: Option<Link<Tag>>,
    /// The membership (with `group.id`).
    coordinator: Option<ConsumerCoordinator>,
    /// The subscribed topics (`subscribe`), `None` with a manual assignment or none.
    subscription: Option<Vec<String>>,
    /// The application polled (`poll_now`) since the membership last heard of it.
    polled: bool,
    rebalances: Vec<RebalanceEvent>,
}

impl PageConsumer {
    pub fn new(
        fetch_link: Link<Tag>,
        link: Link<Tag>,
        group_link: Option<Link<Tag>>,
        config: PageConsumerConfig,
    ) -> PageConsumer {
        PageConsumer {
            fetch_link,
            link,
            group_link,
            coordinator: config.group.clone().map(ConsumerCoordinator::new),
            subscription: None,
            polled: false,
            rebalances: Vec::new(),
            fetcher: Fetcher::new(config.fetcher.clone()),
            config,
            metadata: Metadata::default(),
            metadata_in_flight: false,
            metadata_retry_ms: 0,
            needs_metadata: false,
            lookup_in_flight: false,
            lookup_retry_ms: 0,
            polls: Vec::new(),
            positions: Vec::new(),
            outcomes: Vec::new(),
            closing: false,
        }
    }

    pub fn client_id(&self) -> &str {
        &self.config.common.client_id
    }

    /// Makes `partitions` the assignment, leaving the group first if subscribed.
    pub fn assign(&mut self, broker: &mut MemoryBroker, partitions: &[TopicPartition], now_ms: i64) {
        if self.subscription.take().is_some() {
            self.leave(broker, "the consumer was assigned partitions by hand", now_ms);
        }
        self.fetcher.assign(partitions);
    }

    /// Subscribes to `topics` with group management: the member joins at the next poll.
    pub fn subscribe(&mut self, topics: &[String]) -> Result<(), ClientError> {
        if self.coordinator.is_none() {
            return Err(ClientError::InvalidArgument("this consumer has no group.id: subscribe needs one".into()));
        }
        if topics.is_empty() || topics.iter().any(|t| t.trim().is_empty()) {
            return Err(ClientError::InvalidArgument("subscribe needs topic names, none empty".into()));
        }
        if self.subscription.is_none() {
            // A manual assignment gives way to the group's.
            self.fetcher.assign(&[]);
        }
        let mut topics = topics.to_vec();
        topics.sort();
        topics.dedup();
        self.subscription = Some(topics);
        Ok(())
    }

    /// Drops the subscription (leaving the group) or the manual assignment.
    pub fn unsubscribe(&mut self, broker: &mut MemoryBroker, now_ms: i64) {
        if self.subscription.take().is_some() {
            self.leave(broker, "the consumer unsubscribed", now_ms);
        }
        self.fetcher.assign(&[]);
    }

    pub fn subscription(&self) -> Vec<String> {
        self.subscription.clone().unwrap_or_default()
    }

    /// The rebalance events since the last call.
    pub fn take_rebalances(&mut self) -> Vec<RebalanceEvent> {
        std::mem::take(&mut self.rebalances)
    }

    /// The group, generation and member id (a transactional producer's `sendOffsetsToTransaction`).
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        let c = self.coordinator.as_ref()?;
        let config = c.config();
        Some(ConsumerGroupMetadata {
            group_id: config.group_id.clone(),
            generation_id: c.generation(),
            member_id: c.member_id().to_string(),
            group_instance_id: config.group_instance_id.clone(),
        })
    }

    /// Leaves the group (close, unsubscribe, a manual assignment): commits what was consumed with auto-commit
    /// on, revokes what the member owns, and sends LeaveGroup.
    pub fn leave(&mut self, broker: &mut MemoryBroker, reason: &str, now_ms: i64) {
        let Some(c) = self.coordinator.as_mut() else { return };
        let joined = c.is_stable();
        let auto_commit = c.config().auto_commit_interval_ms.is_some();
        if joined && auto_commit {
            let offsets = self.offsets_to_commit();
            self.commit_quietly(broker, offsets, now_ms);
        }
        let Some(c) = self.coordinator.as_mut() else { return };
        let actions = c.leave(reason);
        self.run_group_actions(broker, actions, now_ms);
    }

    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.fetcher.partitions().keys().cloned().collect()
    }

    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), ClientError> {
        if offset < 0 {
            return Err(ClientError::InvalidArgument(format!("seek offset must not be negative: {offset}")));
        }
        if !self.fetcher.seek(tp, offset) {
            return Err(ClientError::IllegalState(format!("no current assignment for partition {tp}")));
        }
        Ok(())
    }

    /// Seeks to the log start or end (evaluated lazily, as in Kafka); no partitions: every assigned one.
    pub fn seek_to(&mut self, partitions: &[TopicPartition], spec: OffsetSpec) -> Result<(), ClientError> {
        let targets: Vec<TopicPartition> = if partitions.is_empty() { self.assignment() } else { partitions.to_vec() };
        for tp in &targets {
            if !self.fetcher.request_reset(tp, spec) {
                return Err(ClientError::IllegalState(format!("no current assignment for partition {tp}")));
            }
        }
        Ok(())
    }

    pub fn set_paused(&mut self, partitions: &[TopicPartition], paused: bool) -> Result<(), ClientError> {
        for tp in partitions {
            if !self.fetcher.set_paused(tp, paused) {
                return Err(ClientError::IllegalState(format!("no current assignment for partition {tp}")));
            }
        }
        Ok(())
    }

    pub fn paused(&self) -> Vec<TopicPartition> {
        self.fetcher.partitions().iter().filter(|(_, p)| p.paused).map(|(tp, _)| tp.clone()).collect()
    }

    /// The offset of the next record a poll returns, when known.
    pub fn known_position(&self, tp: &TopicPartition) -> Option<i64> {
        self.fetcher.partition(tp).and_then(|p| p.position)
    }

    /// Asks for a partition's position; completes once it is known (looked up if need be).
    pub fn position(&mut self, ticket: Ticket, tp: TopicPartition) -> Result<(), ClientError> {
        if self.fetcher.partition(&tp).is_none() {
            return Err(ClientError::IllegalState(format!(
                "can only check the position of assigned partitions ({tp})"
            )));
        }
        self.positions.push((ticket, tp));
        Ok(())
    }

    /// The records buffered now, at most `max` (and `max.poll.records`), advancing positions.
    pub fn poll_now(&mut self, max: Option<usize>) -> Result<Vec<ConsumerRecord>, ClientError> {
        if let Some(e) = self.fetcher.take_error() {
            return Err(e);
        }
        if let Some(e) = self.coordinator.as_mut().and_then(|c| c.take_error()) {
            return Err(e);
        }
        self.polled = true;
        if self.subscription.is_none() && self.fetcher.partitions().is_empty() {
            return Err(ClientError::IllegalState(
                "consumer is not subscribed to any topics or assigned any partitions".into(),
            ));
        }
        let max = max.unwrap_or(self.config.max_poll_records).clamp(1, self.config.max_poll_records);
        Ok(self.fetcher.take(max))
    }

    /// A poll that completes as soon as records are buffered, or empty at `deadline_ms`.
    pub fn poll(&mut self, ticket: Ticket, max: Option<usize>, deadline_ms: i64) -> Result<(), ClientError> {
        if self.subscription.is_none() && self.fetcher.partitions().is_empty() {
            return Err(ClientError::IllegalState(
                "consumer is not subscribed to any topics or assigned any partitions".into(),
            ));
        }
        let max_records = max.unwrap_or(self.config.max_poll_records).clamp(1, self.config.max_poll_records);
        self.polls.push(PollWaiter { ticket, max_records, deadline_ms });
        Ok(())
    }

    fn group(&self) -> Result<&str, ClientError> {
        self.config
            .group_id
            .as_deref()
            .ok_or_else(|| ClientError::InvalidArgument("this consumer has no group.id: commits need one".into()))
    }

    /// Commits `offsets`, or (`None`) the position of every assigned partition that has one.
    pub fn commit(
        &mut self,
        broker: &mut MemoryBroker,
        ticket: Ticket,
        offsets: Option<BTreeMap<TopicPartition, OffsetAndMetadata>>,
        now_ms: i64,
    ) -> Result<(), ClientError> {
        let group = self.group()?.to_string();
        let offsets = offsets.unwrap_or_else(|| self.offsets_to_commit());
        if offsets.is_empty() {
            self.outcomes.push((ticket, super::Outcome::Committed(Ok(offsets))));
            return Ok(());
        }
        let request = self.commit_request(&group, &offsets);
        self.link.send(broker, now_ms, Tag::Commit(ticket, offsets), |_| request)?;
        Ok(())
    }

    /// An OffsetCommit: a group member's carries its generation and member id, a manual assignment's -1 and none.
    fn commit_request(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> OffsetCommitRequest {
        match self.coordinator.as_ref().filter(|_| self.subscription.is_some()) {
            Some(c) => {
                let (generation, member_id) = c.commit_identity();
                let instance = c.config().group_instance_id.clone();
                requests::offset_commit_request(group, generation, &member_id, instance.as_deref(), offsets)
            }
            None => requests::offset_commit_request(group, -1, "", None, offsets),
        }
    }

    /// Commits without anyone waiting (a failed one is retried at the next auto-commit, as Kafka's).
    fn commit_quietly(
        &mut self,
        broker: &mut MemoryBroker,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        now_ms: i64,
    ) {
        let Some(group) = self.config.group_id.clone() else { return };
        if offsets.is_empty() {
            return;
        }
        let request = self.commit_request(&group, &offsets);
        let _ = self.link.send(broker, now_ms, Tag::CommitQuietly, |_| request);
    }

    /// Runs the membership's actions in order: sends its requests, and applies its callback actions.
    fn run_group_actions(&mut self, broker: &mut MemoryBroker, actions: Vec<coordinator::Action>, now_ms: i64) {
        for action in actions {
            match action {
                coordinator::Action::Send { id, request, .. } => self.send_group(broker, id, request, now_ms),
                coordinator::Action::Revoke { partitions, commit } => {
                    if commit {
                        let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> =
                            self.offsets_to_commit().into_iter().filter(|(tp, _)| partitions.contains(tp)).collect();
                        self.commit_quietly(broker, offsets, now_ms);
                    }
                    self.drop_partitions(&partitions);
                    self.rebalances.push(RebalanceEvent::Revoked(partitions));
                }
                coordinator::Action::Lose { partitions } => {
                    self.drop_partitions(&partitions);
                    self.rebalances.push(RebalanceEvent::Lost(partitions));
                }
                coordinator::Action::Assign { partitions, added, .. } => {
                    self.fetcher.assign(&partitions);
                    self.rebalances.push(RebalanceEvent::Assigned { partitions, added });
                }
                coordinator::Action::AutoCommit => {
                    let offsets = self.offsets_to_commit();
                    self.commit_quietly(broker, offsets, now_ms);
                }
            }
        }
    }

    fn drop_partitions(&mut self, partitions: &[TopicPartition]) {
        let kept: Vec<TopicPartition> =
            self.fetcher.partitions().keys().filter(|tp| !partitions.contains(tp)).cloned().collect();
        self.fetcher.assign(&kept);
    }

    /// Sends one of the membership's requests; one that cannot be sent is reported back as failed.
    fn send_group(
        &mut self,
        broker: &mut MemoryBroker,
        id: coordinator::RequestId,
        request: coordinator::Request,
        now_ms: i64,
    ) {
        use coordinator::Request as R;
        let sent = match (request, self.group_link.as_mut()) {
            (R::Metadata { topics }, _) => {
                let allow = self.config.allow_auto_create_topics;
                self.link.send(broker, now_ms, Tag::GroupMetadata(id), |_| Metadata::request(Some(&topics), allow))
            }
            (_, None) => Err(ClientError::IllegalState("a group request without a group connection".into())),
            (R::FindCoordinator(r), Some(link)) => {
                link.send(broker, now_ms, Tag::Group(id, GroupRequest::FindCoordinator), |v| {
                    find_coordinator_for_version(r, v)
                })
            }
            (R::JoinGroup(r), Some(link)) => {
                link.send(broker, now_ms, Tag::Group(id, GroupRequest::JoinGroup), |v| join_group_for_version(r, v))
            }
            (R::SyncGroup(r), Some(link)) => {
                link.send(broker, now_ms, Tag::Group(id, GroupRequest::SyncGroup), |v| sync_group_for_version(r, v))
            }
            (R::Heartbeat(r), Some(link)) => link.send(broker, now_ms, Tag::Group(id, GroupRequest::Heartbeat), |_| r),
            (R::LeaveGroup(r), Some(link)) => {
                link.send(broker, now_ms, Tag::Group(id, GroupRequest::LeaveGroup), |v| leave_group_for_version(r, v))
            }
        };
        if let Err(e) = sent {
            self.group_answer(broker, id, Err(e), now_ms);
        }
    }

    /// Feeds a membership request's outcome back and sends what follows.
    fn group_answer(
        &mut self,
        broker: &mut MemoryBroker,
        id: coordinator::RequestId,
        result: Result<coordinator::Response, ClientError>,
        now_ms: i64,
    ) {
        let Some(c) = self.coordinator.as_mut() else { return };
        let actions = c.on_response(id, clock(now_ms), result);
        self.run_group_actions(broker, actions, now_ms);
    }

    /// What a commit of positions would write now.
    pub fn offsets_to_commit(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.fetcher
            .partitions()
            .iter()
            .filter_map(|(tp, p)| {
                p.position.map(|offset| {
                    (tp.clone(), OffsetAndMetadata { offset, leader_epoch: p.leader_epoch, metadata: String::new() })
                })
            })
            .collect()
    }

    /// The group's committed offsets of `partitions` (every assigned one when empty).
    pub fn committed(
        &mut self,
        broker: &mut MemoryBroker,
        ticket: Ticket,
        partitions: &[TopicPartition],
        now_ms: i64,
    ) -> Result<(), ClientError> {
        let group = self.group()?.to_string();
        let partitions = if partitions.is_empty() { self.assignment() } else { partitions.to_vec() };
        let stable = self.config.fetcher.isolation_level == IsolationLevel::ReadCommitted;
        self.link.send(broker, now_ms, Tag::Committed(ticket), |v| {
            requests::offset_fetch_request(&group, Some(&partitions), stable, v)
        })?;
        Ok(())
    }

    /// Takes in an answer to a request of one of the consumer's links.
    pub fn on_answer(
        &mut self,
        broker: &mut MemoryBroker,
        id: RequestId,
        frame: Result<Option<Vec<u8>>, HostError>,
        now_ms: i64,
    ) {
        let sent = match self.fetch_link.answered(id) {
            Some(sent) => sent,
            None => match self.link.answered(id) {
                Some(sent) => sent,
                None => match self.group_link.as_mut().and_then(|l| l.answered(id)) {
                    Some(sent) => sent,
                    None => return,
                },
            },
        };
        match sent.tag {
            Tag::Metadata => {
                self.metadata_in_flight = false;
                match decode::<MetadataRequest>(frame, sent.version) {
                    Ok(response) => self.metadata.apply(&response, false),
                    Err(_) => self.metadata_retry_ms = now_ms + self.retry_backoff_ms(),
                }
            }
            Tag::Fetch(fetch_id) => {
                let result = decode::<FetchRequest>(frame, sent.version);
                let actions = self.fetcher.on_response(fetch_id, clock(now_ms), result);
                self.refresh_for(actions);
            }
            Tag::PositionsCommitted(partitions) => {
                self.lookup_in_flight = false;
                match decode::<OffsetFetchRequest>(frame, sent.version).and_then(|r| requests::offset_fetch_result(&r))
                {
                    Ok(committed) => {
                        for tp in partitions {
                            match committed.get(&tp) {
                                Some(o) => self.fetcher.set_committed_position(&tp, o.offset, o.leader_epoch),
                                None => self.reset_or_fail(&tp),
                            }
                        }
                    }
                    Err(e) => self.fail_lookup(e, now_ms),
                }
            }
            Tag::PositionsReset(specs) => {
                self.lookup_in_flight = false;
                match decode::<ListOffsetsRequest>(frame, sent.version) {
                    Ok(response) => {
                        for (tp, result) in requests::list_offsets_results(&specs, &response) {
                            // A partition whose leader could not answer yet (a topic being created) is asked
                            // again at the next step: its reset stays pending.
                            match result {
                                Ok(info) => {
                                    if self.fetcher.partition(&tp).is_some_and(|p| p.pending_reset.is_some()) {
                                        self.fetcher.reset_done(&tp, info.offset);
                                    }
                                }
                                Err(_) => self.lookup_retry_ms = now_ms + self.retry_backoff_ms(),
                            }
                        }
                    }
                    Err(e) => self.fail_lookup(e, now_ms),
                }
            }
            Tag::Commit(ticket, offsets) => {
                let result = decode::<OffsetCommitRequest>(frame, sent.version).and_then(|r| {
                    requests::offset_commit_results(&offsets, &r).into_iter().try_for_each(|(_, r)| r)?;
                    Ok(offsets)
                });
                self.outcomes.push((ticket, super::Outcome::Committed(result)));
            }
            Tag::Committed(ticket) => {
                let result =
                    decode::<OffsetFetchRequest>(frame, sent.version).and_then(|r| requests::offset_fetch_result(&r));
                self.outcomes.push((ticket, super::Outcome::Committed(result)));
            }
            // Nobody waits: a failed commit is retried at the next auto-commit.
            Tag::CommitQuietly => {}
            Tag::Group(request_id, request) => {
                use coordinator::Response as R;
                let v = sent.version;
                let result = match request {
                    GroupRequest::FindCoordinator => decode::<FindCoordinatorRequest>(frame, v).map(R::FindCoordinator),
                    GroupRequest::JoinGroup => decode::<JoinGroupRequest>(frame, v).map(R::JoinGroup),
                    GroupRequest::SyncGroup => decode::<SyncGroupRequest>(frame, v).map(R::SyncGroup),
                    GroupRequest::Heartbeat => decode::<HeartbeatRequest>(frame, v).map(R::Heartbeat),
                    GroupRequest::LeaveGroup => decode::<LeaveGroupRequest>(frame, v).map(R::LeaveGroup),
                };
                self.group_answer(broker, request_id, result, now_ms);
            }
            Tag::GroupMetadata(request_id) => {
                let result = decode::<MetadataRequest>(frame, sent.version).map(|response| {
                    self.metadata.apply(&response, false);
                    let counts: BTreeMap<String, i32> = response
                        .topics
                        .iter()
                        .filter(|t| t.error_code == 0)
                        .filter_map(|t| t.name.as_ref().map(|n| (n.to_string(), t.partitions.len() as i32)))
                        .collect();
                    coordinator::Response::Metadata(counts)
                });
                self.group_answer(broker, request_id, result, now_ms);
            }
        }
    }

    fn retry_backoff_ms(&self) -> i64 {
        self.config.common.retry_backoff.as_millis().max(1) as i64
    }

    fn reset_or_fail(&mut self, tp: &TopicPartition) {
        match self.config.fetcher.reset.offset_spec() {
            Some(spec) => {
                self.fetcher.request_reset(tp, spec);
            }
            None => self.fail_waiters(ClientError::IllegalState(format!(
                "no committed offset for {tp} and auto.offset.reset is none (NoOffsetForPartition)"
            ))),
        }
    }

    fn fail_lookup(&mut self, error: ClientError, now_ms: i64) {
        if error.is_retriable() {
            self.lookup_retry_ms = now_ms + self.retry_backoff_ms();
        } else {
            self.fail_waiters(error);
        }
    }

    /// Polls and position requests waiting fail with `error` (as Kafka's `poll` throws it).
    fn fail_waiters(&mut self, error: ClientError) {
        for p in std::mem::take(&mut self.polls) {
            self.outcomes.push((p.ticket, super::Outcome::Records(Err(error.clone()))));
        }
        for (ticket, _) in std::mem::take(&mut self.positions) {
            self.outcomes.push((ticket, super::Outcome::Position(Err(error.clone()))));
        }
    }

    fn refresh_for(&mut self, actions: Vec<Action>) {
        for action in actions {
            if let Action::RefreshMetadata { .. } = action {
                // The next step refreshes: the fetcher asks again while a leader is unknown.
                self.metadata_retry_ms = 0;
            }
        }
    }

    /// Everything due at `now_ms`: metadata for assigned topics, position lookups, fetches, and the polls and
    /// position requests that can complete.
    pub fn step(&mut self, broker: &mut MemoryBroker, now_ms: i64) {
        if self.closing {
            return;
        }
        self.step_group(broker, now_ms);
        let unknown: Vec<String> = {
            let mut topics: Vec<String> = self
                .fetcher
                .partitions()
                .keys()
                .filter(|tp| self.metadata.leader_for(&tp.topic, tp.partition).is_none())
                .map(|tp| tp.topic.clone())
                .collect();
            topics.dedup();
            topics
        };
        self.needs_metadata = !unknown.is_empty();
        if !unknown.is_empty() && !self.metadata_in_flight && now_ms >= self.metadata_retry_ms {
            self.metadata_in_flight = true;
            self.metadata_retry_ms = now_ms + self.retry_backoff_ms();
            let allow_auto_create = false;
            if self
                .link
                .send(broker, now_ms, Tag::Metadata, |_| Metadata::request(Some(&unknown), allow_auto_create))
                .is_err()
            {
                self.metadata_in_flight = false;
            }
        }
        self.update_positions(broker, now_ms);
        if !self.fetch_link.is_busy() {
            let actions = self.fetcher.poll(clock(now_ms), &self.metadata, self.config.fetch_max_wait_ms);
            for action in actions {
                match action {
                    Action::Fetch { id, request, .. } => {
                        let sent = self.fetch_link.send(broker, now_ms, Tag::Fetch(id), |version| {
                            // Fetch v11 added rack_id; below it the field must stay empty to encode.
                            if version < 11 {
                                request.with_rack_id(requests::sb(""))
                            } else {
                                request
                            }
                        });
                        if let Err(e) = sent {
                            let actions = self.fetcher.on_response(id, clock(now_ms), Err(e));
                            self.refresh_for(actions);
                        }
                    }
                    Action::RefreshMetadata { .. } => {}
                }
            }
        }
        self.settle(now_ms);
    }

    /// The membership's part of a step: the application's poll (while one waits, or after a `poll_now`) and the
    /// timers. An error the membership reports fails the waiting polls.
    fn step_group(&mut self, broker: &mut MemoryBroker, now_ms: i64) {
        let Some(c) = self.coordinator.as_mut() else { return };
        let polling = self.polled || !self.polls.is_empty();
        self.polled = false;
        let mut actions = Vec::new();
        if polling {
            actions = c.poll_consumer(clock(now_ms), self.subscription.as_deref());
        }
        actions.extend(c.poll(clock(now_ms)));
        let error = c.take_error();
        self.run_group_actions(broker, actions, now_ms);
        if let Some(e) = error {
            self.fail_waiters(e);
        }
    }

    /// Looks up positions: committed offsets first (with a group), then `auto.offset.reset` and seeks to the
    /// beginning or end. One lookup at a time.
    fn update_positions(&mut self, broker: &mut MemoryBroker, now_ms: i64) {
        if self.lookup_in_flight || now_ms < self.lookup_retry_ms {
            return;
        }
        let missing = self.fetcher.missing_positions();
        if !missing.is_empty() {
            match self.config.group_id.clone() {
                Some(group) => {
                    let stable = self.config.fetcher.isolation_level == IsolationLevel::ReadCommitted;
                    let sent = self.link.send(broker, now_ms, Tag::PositionsCommitted(missing.clone()), |v| {
                        requests::offset_fetch_request(&group, Some(&missing), stable, v)
                    });
                    self.lookup_in_flight = sent.is_ok();
                    return;
                }
                None => {
                    for tp in &missing {
                        self.reset_or_fail(tp);
                    }
                }
            }
        }
        let resets: Vec<(TopicPartition, OffsetSpec)> = self
            .fetcher
            .pending_resets()
            .into_iter()
            .filter(|(tp, _)| self.metadata.leader_for(&tp.topic, tp.partition).is_some())
            .collect();
        if resets.is_empty() {
            return;
        }
        let request = requests::list_offsets_request(&resets, self.config.fetcher.isolation_level);
        let sent = self.link.send(broker, now_ms, Tag::PositionsReset(resets), |_| request);
        self.lookup_in_flight = sent.is_ok();
    }

    /// Completes the polls that have records (or whose deadline passed) and the position requests answered.
    fn settle(&mut self, now_ms: i64) {
        if let Some(e) = self.fetcher.take_error() {
            self.fail_waiters(e);
        }
        let mut waiting = Vec::new();
        for p in std::mem::take(&mut self.polls) {
            let records = self.fetcher.take(p.max_records);
            if !records.is_empty() || now_ms >= p.deadline_ms {
                self.outcomes.push((p.ticket, super::Outcome::Records(Ok(records))));
            } else {
                waiting.push(p);
            }
        }
        self.polls = waiting;
        let mut waiting = Vec::new();
        for (ticket, tp) in std::mem::take(&mut self.positions) {
            match self.known_position(&tp) {
                Some(offset) => self.outcomes.push((ticket, super::Outcome::Position(Ok(offset)))),
                None if self.fetcher.partition(&tp).is_none() => self.outcomes.push((
                    ticket,
                    super::Outcome::Position(Err(ClientError::IllegalState(format!("{tp} is no longer assigned")))),
                )),
                None => waiting.push((ticket, tp)),
            }
        }
        self.positions = waiting;
    }

    pub fn take_outcomes(&mut self, now_ms: i64) -> Vec<(Ticket, super::Outcome)> {
        self.settle(now_ms);
        std::mem::take(&mut self.outcomes)
    }

    /// When the consumer wants to be stepped again at the latest: a waiting poll's deadline, a backoff's end.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let mut next = self.fetcher.next_deadline_ms().map(|ms| ms as i64);
        for p in &self.polls {
            next = Some(next.map_or(p.deadline_ms, |n| n.min(p.deadline_ms)));
        }
        let lookups_wanted = !self.fetcher.missing_positions().is_empty() || !self.fetcher.pending_resets().is_empty();
        if lookups_wanted && !self.lookup_in_flight {
            next = Some(next.map_or(self.lookup_retry_ms, |n| n.min(self.lookup_retry_ms)));
        }
        if self.needs_metadata && !self.metadata_in_flight {
            next = Some(next.map_or(self.metadata_retry_ms, |n| n.min(self.metadata_retry_ms)));
        }
        if let Some(ms) = self.coordinator.as_ref().and_then(|c| c.next_deadline_ms()) {
            let ms = ms.min(i64::MAX as u64) as i64;
            next = Some(next.map_or(ms, |n| n.min(ms)));
        }
        next
    }

    /// Fails every waiting poll and position request (close, a stopped broker).
    pub fn abort(&mut self, error: &ClientError) {
        self.fail_waiters(error.clone());
    }
}

fn clock(now_ms: i64) -> u64 {
    now_ms.max(0) as u64
}
