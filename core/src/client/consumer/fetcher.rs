//! The consumer's fetcher as a sans-IO state machine: time, metadata and Fetch answers go in, Fetch requests,
//! metadata refreshes and records come out. It owns what Kafka's consumer keeps in its `SubscriptionState` and
//! `Fetcher`: each assigned partition's position (the next record handed out), fetch position (where the next
//! fetch starts, ahead of the position while records are buffered), pause flag, pending offset reset and high
//! watermark, plus the fetched records waiting to be handed out.
//!
//! A driver runs it: natively the consumer's `poll` runs a fetch round on the client runtime (`driver.rs`), in a
//! browser the page's event loop. The driver calls [`Fetcher::poll`], sends the Fetch requests it returns,
//! feeds each answer (or failure) back through [`Fetcher::on_response`], and performs the metadata refreshes
//! both return; the consumer's poll takes records with [`Fetcher::take`] and surfaces a fatal fetch error with
//! [`Fetcher::take_error`]. Time is a millisecond count on the driver's monotonic clock; the machine never reads
//! a clock, spawns a task or touches a socket, so it builds for wasm32 and is tested in virtual time.
//!
//! Invariants: a partition is in at most one Fetch in flight, and is not fetched while records of it are
//! buffered, so its buffered records are contiguous from its position; an answer is applied only when the
//! partition's fetch position is still the offset it was fetched from, so a seek, reset or reassignment made
//! while a fetch was in flight discards that fetch's data; paused partitions are neither fetched nor handed out.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::decode::decode_partition;
use super::ConsumerRecord;
use crate::client::error::ClientError;
use crate::client::metadata::Metadata;
use crate::client::{IsolationLevel, OffsetSpec, TopicPartition};

/// Names one request the machine asked for, to match its outcome.
pub type RequestId = u64;

/// Kafka's OFFSET_OUT_OF_RANGE error code.
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// `auto.offset.reset`: where a partition without a valid position starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetPolicy {
    Earliest,
    Latest,
    /// Fail instead (Kafka's `NoOffsetForPartitionException` / `OffsetOutOfRangeException`).
    None,
}

impl ResetPolicy {
    /// The ListOffsets lookup a reset by this policy does (`None` for the policy `none`).
    pub fn offset_spec(self) -> Option<OffsetSpec> {
        match self {
            ResetPolicy::Earliest => Some(OffsetSpec::Earliest),
            ResetPolicy::Latest => Some(OffsetSpec::Latest),
            ResetPolicy::None => None,
        }
    }
}

/// The settings the fetcher applies (Kafka's consumer config keys in the comments).
#[derive(Debug, Clone)]
pub struct FetcherConfig {
    /// `fetch.min.bytes`.
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`: the most one Fetch answer carries.
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`.
    pub max_partition_fetch_bytes: i32,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `auto.offset.reset`, applied to a fetch position the leader reports out of range.
    pub reset: ResetPolicy,
    /// `client.rack`, sent for fetching from the closest replica (Fetch v11 and later).
    pub client_rack: Option<String>,
    /// `retry.backoff.ms`: the wait before fetching a partition again after its leader failed it, and between
    /// metadata refreshes for partitions with no known leader.
    pub retry_backoff_ms: u64,
}

/// One assigned partition's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionState {
    /// The offset of the next record handed out (what is committed).
    pub position: Option<i64>,
    /// The offset the next fetch starts from (ahead of `position` while records are buffered).
    pub fetch_position: Option<i64>,
    /// The leader epoch of the last record handed out (or of the committed offset the position came from).
    pub leader_epoch: Option<i32>,
    pub paused: bool,
    pub high_watermark: i64,
    /// An offset lookup pending (a seek to the beginning or end, or `auto.offset.reset`): the consumer resolves
    /// it with ListOffsets and then calls [`Fetcher::reset_done`].
    pub pending_reset: Option<OffsetSpec>,
    /// Not fetched before this time (a backoff after the leader failed the partition).
    retry_at_ms: u64,
}

/// What the driver does next.
#[derive(Debug)]
pub enum Action {
    /// Send `request` to broker `node` and report the outcome with `id`. `rack_id` is set only when
    /// `client.rack` is: the driver clears it for a Fetch version below 11, which has no such field.
    Fetch { id: RequestId, node: i32, request: FetchRequest },
    /// Refresh the metadata of `topics` (no known leader, or the leader moved); later polls read it.
    RefreshMetadata { topics: Vec<String> },
}

/// A Fetch in flight: the partitions it asked for, with the offsets they were fetched from.
#[derive(Debug)]
struct InFlight {
    partitions: Vec<(TopicPartition, i64)>,
}

/// The consumer's fetcher (see the module documentation).
#[derive(Debug)]
pub struct Fetcher {
    config: FetcherConfig,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Fetched records not handed out yet, per partition in the order they arrived; never empty inner queues.
    buffered: VecDeque<(TopicPartition, VecDeque<ConsumerRecord>)>,
    in_flight: HashMap<RequestId, InFlight>,
    next_request_id: RequestId,
    /// No metadata refresh for partitions without a leader before this time.
    metadata_retry_ms: u64,
    /// A fetch error the consumer's poll reports (not retriable: retriable ones are retried here).
    error: Option<ClientError>,
    /// When the last poll found something due next, if anything.
    deadline_ms: Option<u64>,
}

impl Fetcher {
    pub fn new(config: FetcherConfig) -> Fetcher {
        Fetcher {
            config,
            partitions: BTreeMap::new(),
            buffered: VecDeque::new(),
            in_flight: HashMap::new(),
            next_request_id: 0,
            metadata_retry_ms: 0,
            error: None,
            deadline_ms: None,
        }
    }

    pub fn config(&self) -> &FetcherConfig {
        &self.config
    }

    /// The assigned partitions and their state.
    pub fn partitions(&self) -> &BTreeMap<TopicPartition, PartitionState> {
        &self.partitions
    }

    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionState> {
        self.partitions.get(tp)
    }

    /// Makes `partitions` the assignment: partitions kept keep their state, new ones start without a position,
    /// and the buffered records of partitions no longer assigned are dropped.
    pub fn assign<'a>(&mut self, partitions: impl IntoIterator<Item = &'a TopicPartition>) {
        let keep: BTreeSet<&TopicPartition> = partitions.into_iter().collect();
        self.partitions.retain(|tp, _| keep.contains(tp));
        for tp in keep {
            self.partitions.entry(tp.clone()).or_default();
        }
        let partitions = &self.partitions;
        self.buffered.retain(|(tp, _)| partitions.contains_key(tp));
    }

    /// Moves a partition's position to `offset`, dropping what was fetched for it (a fetch in flight included).
    /// False when the partition is not assigned.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> bool {
        let Some(p) = self.partitions.get_mut(tp) else { return false };
        p.position = Some(offset);
        p.fetch_position = Some(offset);
        p.pending_reset = None;
        p.retry_at_ms = 0;
        self.buffered.retain(|(b, _)| b != tp);
        true
    }

    /// Sets a position found from a committed offset (with the leader epoch it was committed with).
    pub fn set_committed_position(&mut self, tp: &TopicPartition, offset: i64, leader_epoch: Option<i32>) {
        if let Some(p) = self.partitions.get_mut(tp) {
            p.position = Some(offset);
            p.fetch_position = Some(offset);
            p.leader_epoch = leader_epoch;
        }
    }

    /// Asks for an offset lookup by `spec` for a partition, dropping its position and what was fetched for it.
    /// False when the partition is not assigned.
    pub fn request_reset(&mut self, tp: &TopicPartition, spec: OffsetSpec) -> bool {
        let Some(p) = self.partitions.get_mut(tp) else { return false };
        p.pending_reset = Some(spec);
        p.position = None;
        p.fetch_position = None;
        self.buffered.retain(|(b, _)| b != tp);
        true
    }

    /// The partitions with an offset lookup pending.
    pub fn pending_resets(&self) -> Vec<(TopicPartition, OffsetSpec)> {
        self.partitions.iter().filter_map(|(tp, p)| p.pending_reset.map(|r| (tp.clone(), r))).collect()
    }

    /// The partitions with neither a position nor a lookup pending (their committed offset is looked up).
    pub fn missing_positions(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, p)| p.position.is_none() && p.pending_reset.is_none())
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// An offset lookup finished: the partition reads from `offset`.
    pub fn reset_done(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(p) = self.partitions.get_mut(tp) {
            p.position = Some(offset);
            p.fetch_position = Some(offset);
            p.pending_reset = None;
        }
    }

    /// Pauses or resumes a partition (a paused one is neither fetched nor handed out; its buffered records stay
    /// for when it resumes). False when the partition is not assigned.
    pub fn set_paused(&mut self, tp: &TopicPartition, paused: bool) -> bool {
        let Some(p) = self.partitions.get_mut(tp) else { return false };
        p.paused = paused;
        true
    }

    /// Whether some partition could be fetched now or soon (assigned, not paused, with a position).
    pub fn has_fetchable(&self) -> bool {
        self.partitions.values().any(|p| !p.paused && p.fetch_position.is_some())
    }

    /// Fetch requests awaiting their outcome.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// When to poll again at the latest if nothing else happens (a backoff ends), as found by the last poll.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadline_ms
    }

    /// The fatal fetch error to report from the consumer's poll, if one happened since the last call.
    pub fn take_error(&mut self) -> Option<ClientError> {
        self.error.take()
    }

    /// Builds one Fetch request per leader for the partitions that may be fetched at `now_ms`: assigned, not
    /// paused, with a fetch position, nothing buffered or in flight for them, and not backing off. The broker
    /// may hold a request `max_wait_ms` (`fetch.max.wait.ms`, or less when the caller's poll ends sooner).
    /// Partitions without a known leader in `metadata` ask for a metadata refresh, at most once per
    /// `retry.backoff.ms`.
    pub fn poll(&mut self, now_ms: u64, metadata: &Metadata, max_wait_ms: i32) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut deadline_ms = None;
        let busy: HashSet<&TopicPartition> = self
            .buffered
            .iter()
            .map(|(tp, _)| tp)
            .chain(self.in_flight.values().flat_map(|f| f.partitions.iter().map(|(tp, _)| tp)))
            .collect();
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        let mut unknown = BTreeSet::new();
        for (tp, p) in &self.partitions {
            let Some(offset) = p.fetch_position else { continue };
            if p.paused || busy.contains(tp) {
                continue;
            }
            if p.retry_at_ms > now_ms {
                deadline_ms = earliest(deadline_ms, Some(p.retry_at_ms));
                continue;
            }
            match metadata.leader_for(&tp.topic, tp.partition) {
                Some(leader) => by_leader.entry(leader).or_default().push((tp.clone(), offset)),
                None => {
                    unknown.insert(tp.topic.clone());
                }
            }
        }
        if !unknown.is_empty() {
            if now_ms >= self.metadata_retry_ms {
                actions.push(Action::RefreshMetadata { topics: unknown.into_iter().collect() });
                // At least 1 ms: a driver that refreshes in the background must not spin on a zero backoff.
                self.metadata_retry_ms = now_ms + self.config.retry_backoff_ms.max(1);
            }
            deadline_ms = earliest(deadline_ms, Some(self.metadata_retry_ms));
        }
        for (leader, partitions) in by_leader {
            let request = self.fetch_request(&partitions, max_wait_ms);
            let id = self.next_request_id;
            self.next_request_id += 1;
            self.in_flight.insert(id, InFlight { partitions });
            actions.push(Action::Fetch { id, node: leader, request });
        }
        self.deadline_ms = deadline_ms;
        actions
    }

    fn fetch_request(&self, partitions: &[(TopicPartition, i64)], max_wait_ms: i32) -> FetchRequest {
        let config = &self.config;
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, offset) in partitions {
            topics.entry(tp.topic.as_str()).or_default().push(
                FetchPartition::default()
                    .with_partition(tp.partition)
                    .with_fetch_offset(*offset)
                    .with_current_leader_epoch(-1)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(config.max_partition_fetch_bytes),
            );
        }
        let topics = topics
            .into_iter()
            .map(|(t, ps)| {
                FetchTopic::default().with_topic(TopicName(StrBytes::from_string(t.into()))).with_partitions(ps)
            })
            .collect();
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(config.fetch_min_bytes)
            .with_max_bytes(config.fetch_max_bytes)
            .with_isolation_level(config.isolation_level as i8)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(topics)
            .with_rack_id(StrBytes::from_string(config.client_rack.clone().unwrap_or_default()))
    }

    /// Takes in the outcome of Fetch `id`: `Err` when it could not be sent or got no answer in time. Records
    /// are decoded into the partitions' buffers; an out-of-range position is reset by `auto.offset.reset`; a
    /// partition whose leader failed it (or whose request failed) backs off for `retry.backoff.ms` and its
    /// topic's metadata is refreshed when the leader may have moved. Returns those refreshes.
    pub fn on_response(
        &mut self,
        id: RequestId,
        now_ms: u64,
        result: Result<FetchResponse, ClientError>,
    ) -> Vec<Action> {
        let Some(in_flight) = self.in_flight.remove(&id) else { return Vec::new() };
        let mut refresh = BTreeSet::new();
        let response = match result.and_then(|r| ClientError::check(r.error_code).map(|()| r)) {
            Ok(response) => response,
            Err(e) => {
                // Only a lost connection says the leader may have moved; a request that timed out is retried.
                let leader_moved = e.needs_metadata_refresh();
                for (tp, offset) in &in_flight.partitions {
                    self.on_partition_error(tp, *offset, &e, leader_moved, now_ms, &mut refresh);
                }
                return refresh_action(refresh);
            }
        };
        for t in &response.responses {
            for p in &t.partitions {
                let tp = TopicPartition::new(t.topic.0.to_string(), p.partition_index);
                let Some(&(_, offset)) = in_flight.partitions.iter().find(|(x, _)| *x == tp) else { continue };
                // A seek, reset or reassignment while the fetch was in flight makes its answer stale.
                if self.partitions.get(&tp).is_none_or(|s| s.fetch_position != Some(offset)) {
                    continue;
                }
                match p.error_code {
                    0 => {}
                    OFFSET_OUT_OF_RANGE => {
                        self.on_out_of_range(&tp);
                        continue;
                    }
                    code => {
                        let e = ClientError::from_code(code, None);
                        // A retriable error of the partition's leader (NOT_LEADER_OR_FOLLOWER,
                        // REPLICA_NOT_AVAILABLE, OFFSET_NOT_AVAILABLE, ...) may mean its view of leadership
                        // is behind: the metadata is refreshed for every one, as Kafka's fetcher does for most.
                        let leader_moved = e.needs_metadata_refresh() || e.is_retriable();
                        self.on_partition_error(&tp, offset, &e, leader_moved, now_ms, &mut refresh);
                        continue;
                    }
                }
                let aborted: Vec<(i64, i64)> = p
                    .aborted_transactions
                    .as_ref()
                    .map(|a| a.iter().map(|x| (x.producer_id.0, x.first_offset)).collect())
                    .unwrap_or_default();
                let data = p.records.as_deref().unwrap_or_default();
                match decode_partition(&tp, data, offset, self.config.isolation_level, &aborted) {
                    Ok(decoded) => self.buffer(tp, offset, decoded.records, decoded.next_offset, p.high_watermark),
                    Err(e) => self.fail(e),
                }
            }
        }
        refresh_action(refresh)
    }

    fn buffer(&mut self, tp: TopicPartition, offset: i64, records: Vec<ConsumerRecord>, next: i64, hw: i64) {
        let Some(p) = self.partitions.get_mut(&tp) else { return };
        p.high_watermark = hw;
        p.fetch_position = Some(next);
        if records.is_empty() {
            // Only control batches or aborted records: the position moves past them too.
            if p.position == Some(offset) {
                p.position = Some(next);
            }
        } else {
            self.buffered.push_back((tp, records.into()));
        }
    }

    fn on_out_of_range(&mut self, tp: &TopicPartition) {
        match self.config.reset.offset_spec() {
            Some(spec) => {
                self.request_reset(tp, spec);
            }
            None => self.fail(ClientError::from_code(
                OFFSET_OUT_OF_RANGE,
                Some(format!("fetch position out of range for {tp}")),
            )),
        }
    }

    /// A partition failed by its leader or by a failed request: retriable errors back off and retry (refreshing
    /// the topic's metadata when `leader_moved`), the others are reported by the consumer's poll.
    fn on_partition_error(
        &mut self,
        tp: &TopicPartition,
        offset: i64,
        error: &ClientError,
        leader_moved: bool,
        now_ms: u64,
        refresh: &mut BTreeSet<String>,
    ) {
        if leader_moved {
            refresh.insert(tp.topic.clone());
        }
        if !(error.is_retriable() || error.needs_metadata_refresh()) {
            self.fail(error.clone());
            return;
        }
        if let Some(p) = self.partitions.get_mut(tp).filter(|p| p.fetch_position == Some(offset)) {
            p.retry_at_ms = now_ms + self.config.retry_backoff_ms;
        }
    }

    fn fail(&mut self, error: ClientError) {
        self.error.get_or_insert(error);
    }

    /// Hands out up to `max` buffered records of partitions not paused, advancing their positions.
    pub fn take(&mut self, max: usize) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        let mut i = 0;
        while out.len() < max && i < self.buffered.len() {
            let tp = self.buffered[i].0.clone();
            if self.partitions.get(&tp).is_none_or(|p| p.paused) {
                i += 1;
                continue;
            }
            let take = (max - out.len()).min(self.buffered[i].1.len());
            let taken: Vec<ConsumerRecord> = self.buffered[i].1.drain(..take).collect();
            if let (Some(last), Some(p)) = (taken.last(), self.partitions.get_mut(&tp)) {
                p.position = Some(last.offset + 1);
                p.leader_epoch = last.leader_epoch.or(p.leader_epoch);
            }
            out.extend(taken);
            if self.buffered[i].1.is_empty() {
                self.buffered.remove(i);
                // Control batches or aborted records after the last record of that fetch are consumed with it
                // (Java's `nextFetchOffset`): a read_committed reader ends at the log end, not before a marker.
                if let Some(p) = self.partitions.get_mut(&tp) {
                    if let (Some(position), Some(fetched)) = (p.position, p.fetch_position) {
                        if position < fetched {
                            p.position = Some(fetched);
                        }
                    }
                }
            } else {
                i += 1;
            }
        }
        out
    }
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn refresh_action(topics: BTreeSet<String>) -> Vec<Action> {
    if topics.is_empty() {
        Vec::new()
    } else {
        vec![Action::RefreshMetadata { topics: topics.into_iter().collect() }]
    }
}

#[cfg(test)]
mod tests;
