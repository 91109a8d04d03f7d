//! The in-page consumer: Kafka's consumer with a manual assignment over the sans-IO [`Fetcher`], driven
//! synchronously against a broker in memory. Positions come from the group's committed offsets (OffsetFetch,
//! when `group.id` is set) or `auto.offset.reset` (ListOffsets); Fetch requests go on a connection of their
//! own, since the broker may hold one until `fetch.max.wait.ms`, and offset requests on another, as Kafka's
//! consumer talks to its coordinator on a separate connection. Commits are OffsetCommit with generation -1 and
//! no member id, as Kafka's consumer commits for `assign()`.
//!
//! Group membership (`subscribe`): the group protocol is being made sans-IO (`client::consumer::group`); once
//! it is, it runs here on the coordinator link and hands its assignment to [`Fetcher::assign`], as the
//! native consumer does.

use std::collections::BTreeMap;

use kafka_protocol::messages::{
    FetchRequest, ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetFetchRequest,
};

use super::link::{decode, Link};
use super::Ticket;
use crate::client::config::{ClientKind, CommonConfig, Properties};
use crate::client::consumer::fetcher::{Action, Fetcher, FetcherConfig, ResetPolicy};
use crate::client::consumer::ConsumerRecord;
use crate::client::metadata::Metadata;
use crate::client::requests;
use crate::client::{ClientError, IsolationLevel, OffsetAndMetadata, OffsetSpec, TopicPartition};
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
}

/// The consumer's settings (Kafka's consumer config keys).
#[derive(Debug, Clone)]
pub(super) struct PageConsumerConfig {
    pub group_id: Option<String>,
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
    Ok(PageConsumerConfig {
        group_id: props.str("group.id").filter(|g| !g.is_empty()).map(str::to_string),
        max_poll_records: max_poll_records as usize,
        fetch_max_wait_ms: props.ms("fetch.max.wait.ms").as_millis().min(i32::MAX as u128) as i32,
        fetcher,
        common,
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
}

impl PageConsumer {
    pub fn new(fetch_link: Link<Tag>, link: Link<Tag>, config: PageConsumerConfig) -> PageConsumer {
        PageConsumer {
            fetch_link,
            link,
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

    pub fn assign(&mut self, partitions: &[TopicPartition]) {
        self.fetcher.assign(partitions);
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
        if self.fetcher.partitions().is_empty() {
            return Err(ClientError::IllegalState(
                "consumer is not subscribed to any topics or assigned any partitions".into(),
            ));
        }
        let max = max.unwrap_or(self.config.max_poll_records).clamp(1, self.config.max_poll_records);
        Ok(self.fetcher.take(max))
    }

    /// A poll that completes as soon as records are buffered, or empty at `deadline_ms`.
    pub fn poll(&mut self, ticket: Ticket, max: Option<usize>, deadline_ms: i64) -> Result<(), ClientError> {
        if self.fetcher.partitions().is_empty() {
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
        let request = requests::offset_commit_request(&group, -1, "", None, &offsets);
        self.link.send(broker, now_ms, Tag::Commit(ticket, offsets), |_| request)?;
        Ok(())
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
    pub fn on_answer(&mut self, id: RequestId, frame: Result<Option<Vec<u8>>, HostError>, now_ms: i64) {
        let sent = match self.fetch_link.answered(id) {
            Some(sent) => sent,
            None => match self.link.answered(id) {
                Some(sent) => sent,
                None => return,
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
