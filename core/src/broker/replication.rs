//! The broker's side of replication that is not a request handler: the follower's fetcher, sans-IO (the
//! runtime asks which leaders to fetch from, gets each Fetch request to send, and hands the answer back), and
//! the leader's ISR changes, asked of the controller with AlterPartition.
//!
//! The follower (Kafka's ReplicaFetcherThread / AbstractFetcherThread): one fetch at a time per leader
//! broker, covering every partition this broker follows from it, each at its log end offset with the epoch of
//! its last batch. The answer either carries records (appended as the leader wrote them, then the leader's
//! high watermark and log start offset are taken), or a diverging epoch (the tail the leader never had is
//! truncated, and the next fetch checks again), or an error (the partition rests for
//! `replica.fetch.backoff.ms` while the metadata catches up).
//!
//! The leader shrinks the ISR when a follower has not caught up for `replica.lag.time.max.ms` (checked every
//! half of it, as Kafka does) and expands it when a fetch shows a follower caught up (see `fetch`); either
//! way one change per partition is in flight, and the committed metadata image, not the answer, installs it.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData as AlterData, TopicData};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::{AlterPartitionRequest, BrokerId, FetchRequest, FetchResponse, TopicName};

use super::{str_bytes, Broker};
use crate::partition::{IsrProposal, PartitionError};
use crate::storage::TopicPartition;

/// The AlterPartition version potok's brokers send (topic ids and broker epochs, KIP-903).
pub(super) const ALTER_PARTITION_VERSION: i16 = 3;
/// `replica.fetch.response.max.bytes`'s default: the most one fetch answer carries.
const REPLICA_FETCH_RESPONSE_MAX_BYTES: i32 = 10 * 1024 * 1024;

/// What the runtime's fetcher for one leader does next. (One per round trip: the request stays inline.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum ReplicaFetch {
    /// Send this Fetch (at the version it was built for) and hand the answer to
    /// [`Broker::replica_fetch_answer`].
    Send(FetchRequest),
    /// Every partition from this leader is resting after an error: ask again later.
    Idle,
    /// This broker follows nothing from that leader any more: the fetcher may stop.
    Done,
}

impl Broker {
    /// The brokers this one follows partitions from.
    pub fn replica_fetch_leaders(&self) -> BTreeSet<i32> {
        let node_id = self.config.node_id;
        let state = self.read();
        state
            .replicas
            .partitions()
            .map(|(_, p)| p.replica_state().leader)
            .filter(|leader| *leader >= 0 && *leader != node_id)
            .collect()
    }

    /// Where to reach broker `id` for replication: its `inter.broker.listener.name` endpoint (or the one
    /// this broker's clients use, or its first).
    pub fn broker_address(&self, id: i32) -> Option<String> {
        let image = self.metadata();
        let broker = image.brokers.get(&id)?;
        let name = self.config.inter_broker_listener_name.as_deref().unwrap_or(&self.advertised.name);
        let endpoint =
            broker.endpoint(name).or_else(|| broker.endpoint(&self.advertised.name)).or(broker.endpoints.first())?;
        Some(format!("{}:{}", endpoint.host, endpoint.port))
    }

    fn fetch_backoff(&self) -> std::sync::MutexGuard<'_, BTreeMap<TopicPartition, i64>> {
        self.fetch_backoff.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next Fetch to send to `leader` at `version` (12 or later: it names each partition's last fetched
    /// epoch), for every partition this broker follows from it that is not resting after an error.
    pub fn replica_fetch_request(&self, leader: i32, version: i16, now_ms: i64) -> ReplicaFetch {
        let image = self.metadata();
        let followed: Vec<_> = {
            let state = self.read();
            state
                .replicas
                .partitions()
                .filter(|(_, p)| {
                    let s = p.replica_state();
                    s.leader == leader && !s.is_leader()
                })
                .map(|(tp, p)| (tp.clone(), p.clone()))
                .collect()
        };
        if followed.is_empty() {
            return ReplicaFetch::Done;
        }
        let mut backoff = self.fetch_backoff();
        backoff.retain(|_, until| *until > now_ms);
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, p) in &followed {
            if backoff.contains_key(tp) {
                continue;
            }
            let partition = FetchPartition::default()
                .with_partition(tp.partition)
                .with_current_leader_epoch(p.leader_epoch())
                .with_fetch_offset(p.log_end_offset())
                .with_last_fetched_epoch(p.latest_epoch())
                .with_log_start_offset(p.log_start_offset())
                .with_partition_max_bytes(self.config.replica_fetch_max_bytes);
            topics.entry(tp.topic.as_str()).or_default().push(partition);
        }
        drop(backoff);
        if topics.is_empty() {
            return ReplicaFetch::Idle;
        }
        let topics = topics
            .into_iter()
            .map(|(name, partitions)| {
                let topic = FetchTopic::default().with_partitions(partitions);
                if version >= 13 {
                    topic.with_topic_id(image.topics.get(name).map(|t| t.id).unwrap_or_default())
                } else {
                    topic.with_topic(TopicName(str_bytes(name)))
                }
            })
            .collect();
        let broker_epoch = self.lifecycle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).broker_epoch;
        let request = FetchRequest::default()
            .with_max_wait_ms(self.config.replica_fetch_wait_max_ms)
            .with_min_bytes(self.config.replica_fetch_min_bytes)
            .with_max_bytes(REPLICA_FETCH_RESPONSE_MAX_BYTES)
            .with_topics(topics);
        let request = if version >= 15 {
            request.with_replica_state(
                ReplicaState::default().with_replica_id(BrokerId(self.config.node_id)).with_replica_epoch(broker_epoch),
            )
        } else {
            request.with_replica_id(BrokerId(self.config.node_id))
        };
        ReplicaFetch::Send(request)
    }

    /// Takes a leader's answer to a replica fetch (or the failure to get one: every partition of it rests).
    pub fn replica_fetch_answer(
        &self,
        leader: i32,
        request: &FetchRequest,
        version: i16,
        answer: Result<FetchResponse, String>,
        now_ms: i64,
    ) {
        let rest_until = now_ms + self.config.replica_fetch_backoff_ms;
        let image = self.metadata();
        let name_of = |topic: &kafka_protocol::messages::fetch_response::FetchableTopicResponse| {
            if version >= 13 {
                image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
            } else {
                Some(topic.topic.0.to_string())
            }
        };
        let response = match answer {
            Ok(r) if r.error_code == 0 => r,
            failed => {
                let why = match failed {
                    Ok(r) => format!("error {}", r.error_code),
                    Err(e) => e,
                };
                tracing::debug!(target: "potok::replication", "fetch from broker {leader} failed: {why}");
                return;
            }
        };
        // Which epoch each partition was asked at: an answer for an older leadership is ignored.
        let mut asked: BTreeMap<TopicPartition, i32> = BTreeMap::new();
        for t in &request.topics {
            let name = if version >= 13 {
                image.topic_by_id(&t.topic_id).map(|t| t.name.clone())
            } else {
                Some(t.topic.0.to_string())
            };
            let Some(name) = name else { continue };
            for p in &t.partitions {
                asked.insert(TopicPartition { topic: name.clone(), partition: p.partition }, p.current_leader_epoch);
            }
        }
        for topic in &response.responses {
            let Some(name) = name_of(topic) else { continue };
            for data in &topic.partitions {
                let tp = TopicPartition { topic: name.clone(), partition: data.partition_index };
                let Some(replica) = self.read().replicas.get(&tp) else { continue };
                let state = replica.replica_state();
                if state.leader != leader || asked.get(&tp) != Some(&state.leader_epoch) {
                    continue;
                }
                if let Err(e) = self.follow(&replica, data, now_ms) {
                    tracing::debug!(target: "potok::replication", "replicating {tp} from broker {leader}: {e}");
                    self.fetch_backoff().insert(tp, rest_until);
                }
            }
        }
    }

    /// One partition of a fetch answer, on the follower.
    fn follow(
        &self,
        replica: &crate::partition::Partition,
        data: &kafka_protocol::messages::fetch_response::PartitionData,
        now_ms: i64,
    ) -> Result<(), PartitionError> {
        let tp = replica.topic_partition().clone();
        match ResponseError::try_from_code(data.error_code) {
            None => {}
            Some(ResponseError::OffsetOutOfRange) => {
                tracing::info!(
                    target: "potok::replication",
                    "{tp}: the leader has no offset {} (its log starts at {}); resetting",
                    replica.log_end_offset(),
                    data.log_start_offset
                );
                return replica.reset_to_leader(data.log_start_offset, data.high_watermark, now_ms);
            }
            Some(error) => {
                return Err(PartitionError::Refused { error, message: Some(format!("the leader answered {error:?}")) })
            }
        }
        if data.diverging_epoch.epoch >= 0 || data.diverging_epoch.end_offset >= 0 {
            let before = replica.log_end_offset();
            let after = replica.truncate_diverged(data.diverging_epoch.epoch, data.diverging_epoch.end_offset)?;
            tracing::info!(
                target: "potok::replication",
                "{tp}: truncated from {before} to {after} (the leader's epoch {} ends at {})",
                data.diverging_epoch.epoch,
                data.diverging_epoch.end_offset
            );
            return Ok(());
        }
        if let Some(records) = data.records.as_ref().filter(|r| !r.is_empty()) {
            // A fetch answer may end with a partial batch (cut by the size limit): only whole batches go in.
            let whole = crate::record::Batches::new(records).map_while(Result::ok).map(<[u8]>::len).sum::<usize>();
            if whole > 0 {
                let info = replica.append_as_follower(&records[..whole], now_ms)?;
                tracing::trace!(target: "potok::replication", "{tp}: copied offsets {}..={}", info.first_offset, info.last_offset);
            }
        }
        replica.follow_leader_offsets(data.high_watermark, data.log_start_offset, now_ms)
    }

    /// Asks the controller for ISR changes (AlterPartition), one request for all of them.
    pub(super) fn alter_isr(&self, proposals: Vec<IsrProposal>, now_ms: i64) {
        if proposals.is_empty() {
            return;
        }
        let image = self.metadata();
        let mut topics: BTreeMap<&str, Vec<AlterData>> = BTreeMap::new();
        for p in &proposals {
            let data = AlterData::default()
                .with_partition_index(p.tp.partition)
                .with_leader_epoch(p.leader_epoch)
                .with_partition_epoch(p.partition_epoch)
                .with_new_isr_with_epochs(
                    p.isr
                        .iter()
                        .map(|(id, epoch)| {
                            // A member whose fetches never said its epoch is checked against the registration.
                            let epoch =
                                if *epoch >= 0 { *epoch } else { image.brokers.get(id).map_or(-1, |b| b.epoch) };
                            BrokerState::default().with_broker_id(BrokerId(*id)).with_broker_epoch(epoch)
                        })
                        .collect(),
                );
            topics.entry(p.tp.topic.as_str()).or_default().push(data);
        }
        let request = AlterPartitionRequest::default()
            .with_broker_id(BrokerId(self.config.node_id))
            .with_broker_epoch(self.lifecycle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).broker_epoch)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(name, partitions)| {
                        TopicData::default()
                            .with_topic_id(image.topics.get(name).map(|t| t.id).unwrap_or_default())
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let asked: Vec<(TopicPartition, i32)> = proposals.into_iter().map(|p| (p.tp, p.partition_epoch)).collect();
        for (tp, _) in &asked {
            tracing::info!(target: "potok::replication", "{tp}: asking the controller to change the ISR");
        }
        self.send_alter_partition(kafka_protocol::messages::RequestKind::AlterPartition(request), asked, now_ms);
    }

    /// The controller's answer to an AlterPartition: a refused or unanswered change is abandoned (the next
    /// check may ask again); an accepted one is installed by the metadata image that carries it.
    ///
    /// A refusal that says the partition has moved on — a newer partition epoch (INVALID_UPDATE_VERSION), a new
    /// leader epoch, a deleted topic — keeps the change pending, as Kafka's handleAlterPartitionError does: the
    /// newer state may be this very change, committed by an earlier attempt whose answer was lost, and until
    /// the image that carries it arrives the high watermark must keep waiting for a replica being added.
    /// Dropping the pending ISR there let the high watermark pass a replica that the committed ISR then held.
    pub(super) fn alter_partition_answered(
        &self,
        asked: Vec<(TopicPartition, i32)>,
        answer: Option<&kafka_protocol::messages::AlterPartitionResponse>,
    ) {
        let image = self.metadata();
        // The partition's error code in the answer (`Some(0)` when changed), `None` for no usable answer.
        let outcome = |tp: &TopicPartition| -> Option<i16> {
            let r = answer?;
            if r.error_code != 0 {
                return None;
            }
            let topic_id = image.topics.get(&tp.topic).map(|t| t.id);
            r.topics
                .iter()
                .filter(|t| Some(t.topic_id) == topic_id)
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition_index == tp.partition)
                .map(|p| p.error_code)
        };
        let superseded = [
            ResponseError::InvalidUpdateVersion,
            ResponseError::FencedLeaderEpoch,
            ResponseError::NewLeaderElected,
            ResponseError::UnknownTopicOrPartition,
            ResponseError::UnknownTopicId,
        ]
        .map(|e| e.code());
        for (tp, partition_epoch) in asked {
            match outcome(&tp) {
                Some(0) => {}
                Some(code) if superseded.contains(&code) => {
                    tracing::info!(target: "potok::replication", "{tp}: the controller has a newer state (error {code}); waiting for it");
                }
                _ => {
                    tracing::info!(target: "potok::replication", "{tp}: the controller did not change the ISR");
                    if let Some(replica) = self.read().replicas.get(&tp) {
                        replica.abandon_isr_change(partition_epoch);
                    }
                }
            }
        }
    }

    /// Every `replica.lag.time.max.ms / 2`: the followers that fell behind leave the ISR.
    pub(super) fn shrink_isrs(&self, now_ms: i64) {
        let max_lag_ms = self.config.replica_lag_time_max_ms;
        let partitions: Vec<_> = self.read().replicas.partitions().map(|(_, p)| p.clone()).collect();
        let proposals = partitions.iter().filter_map(|p| p.maybe_shrink_isr(now_ms, max_lag_ms)).collect();
        self.alter_isr(proposals, now_ms);
    }
}
