//! The transaction coordinator's IO: creating `__transaction_state` on first use, writing each transition to
//! the partition that owns the transactional id before applying it, writing the commit and abort markers to
//! every partition of a transaction, replaying the topic on start-up, and the periodic abort of timed-out
//! transactions.
//!
//! Lock order: the transaction coordinator is taken before the group coordinator, the broker state and any
//! log, never after them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::MutexGuard;

use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use kafka_protocol::error::ResponseError;

use super::coordinator_io::InternalTopic;
use super::{Broker, BrokerError, OFFSETS_TOPIC};
use crate::coordinator::group;
use crate::coordinator::transaction::{TransactionCoordinator, TxnMetadata, TxnState};
use crate::coordinator::txn_log_schema;
use crate::partition::PartitionError;
use crate::record::{BatchBuilder, Compression, ControlType};
use crate::storage::{AppendOrigin, StorageError, TopicPartition};

/// The internal topic holding the transaction coordinator's state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// How long a partition whose marker failed waits before it is tried again.
const MARKER_RETRY_MS: i64 = 500;

/// A transaction, by transactional id, producer id and producer epoch.
type TxnKey = (String, i64, i16);

/// A WriteTxnMarkers request for another broker, for the runtime to send and answer with
/// [`Broker::marker_answer`].
#[derive(Debug)]
pub struct MarkerCall {
    pub id: u64,
    /// The leader to send it to.
    pub broker: i32,
    pub request: WriteTxnMarkersRequest,
}

/// Where one prepared transaction's markers stand.
#[derive(Debug, Default)]
pub(super) struct MarkerProgress {
    done: BTreeSet<(String, i32)>,
    in_flight: BTreeSet<(String, i32)>,
    /// Markers written to partitions this broker leads, waiting for their in-sync replicas: the offset the high
    /// watermark must reach, and the partition's `min.insync.replicas`.
    replicating: BTreeMap<(String, i32), (i64, i32)>,
    retry_at_ms: i64,
}

/// The markers of prepared transactions on their way, and the calls to other brokers carrying them.
/// Taken after the transaction coordinator and before the group coordinator, the state or any log.
#[derive(Debug, Default)]
pub(super) struct Markers {
    progress: HashMap<TxnKey, MarkerProgress>,
    next_id: u64,
    queued: Vec<MarkerCall>,
    pending: HashMap<u64, (TxnKey, Vec<(String, i32)>)>,
}

impl Broker {
    pub(super) fn txns(&self) -> MutexGuard<'_, TransactionCoordinator> {
        self.txns.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates `__transaction_state` if it does not exist yet (Kafka does this on the first transactional
    /// FindCoordinator).
    pub(super) fn ensure_txn_topic(&self, now_ms: i64) -> Result<(), BrokerError> {
        let topic = InternalTopic {
            name: TRANSACTION_STATE_TOPIC,
            partitions: self.config.transaction_state_log_num_partitions,
            replication_factor: self.config.transaction_state_log_replication_factor,
            min_insync_replicas: Some(self.config.transaction_state_log_min_isr),
            compression_type: "uncompressed",
            segment_bytes: self.config.transaction_state_log_segment_bytes,
        };
        self.ensure_internal_topic(topic, now_ms)
    }

    /// The `__transaction_state` partition that holds a transactional id, with its leader epoch (which is the
    /// coordinator epoch markers carry).
    fn txn_partition(&self, transactional_id: &str) -> Option<(i32, i32)> {
        let image = self.metadata();
        let topic = image.topics.get(TRANSACTION_STATE_TOPIC)?;
        let partition = group::partition_for(transactional_id, topic.partitions.len() as i32);
        Some((partition, topic.partition(partition)?.leader_epoch))
    }

    /// Writes a transition to `__transaction_state` and, once it is stored, applies it.
    pub(super) fn store_txn(
        &self,
        txns: &mut TransactionCoordinator,
        metadata: TxnMetadata,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        self.ensure_txn_topic(now_ms).map_err(|_| ResponseError::CoordinatorNotAvailable)?;
        let (partition, _) =
            self.txn_partition(&metadata.transactional_id).ok_or(ResponseError::CoordinatorNotAvailable)?;
        let key = txn_log_schema::key(&metadata.transactional_id);
        let value = (metadata.state != TxnState::Dead).then(|| txn_log_schema::value(&metadata));
        let mut batch = BatchBuilder::new(Compression::None);
        batch.append(now_ms, Some(&key), value.as_deref(), &[]);
        let bytes = batch.build().map_err(|_| ResponseError::UnknownServerError)?;
        self.append_internal(TRANSACTION_STATE_TOPIC, partition, &bytes, now_ms)?;
        txns.apply(metadata);
        Ok(())
    }

    /// Writes the markers of every transaction in PrepareCommit or PrepareAbort and moves it to CompleteCommit
    /// or CompleteAbort once every partition has its marker. Partitions this broker leads get theirs at once;
    /// those led elsewhere get a WriteTxnMarkers call to their leader ([`Broker::take_marker_calls`]), whose
    /// answer comes back through [`Broker::marker_answer`]. A partition whose marker failed is tried again
    /// after [`MARKER_RETRY_MS`]; a marker written twice closes nothing the second time.
    pub(super) fn complete_transactions(&self, txns: &mut TransactionCoordinator, now_ms: i64) {
        let image = self.metadata();
        let node_id = self.config.node_id;
        let pending = txns.pending_completion();
        {
            // Progress of transactions that completed or moved to another coordinator is dropped; answers to
            // calls still on their way find nothing and are ignored.
            let mut markers = self.markers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            markers.progress.retain(|(id, pid, epoch), _| {
                pending.iter().any(|m| &m.transactional_id == id && m.producer_id == *pid && m.producer_epoch == *epoch)
            });
        }
        for m in pending {
            let commit = m.state == TxnState::PrepareCommit;
            let control = if commit { ControlType::Commit } else { ControlType::Abort };
            let coordinator_epoch = self.txn_partition(&m.transactional_id).map_or(0, |(_, e)| e);
            let key = (m.transactional_id.clone(), m.producer_id, m.producer_epoch);
            let mut guard = self.markers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let markers = &mut *guard;
            let progress = markers.progress.entry(key.clone()).or_default();
            let mut remote: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
            for (topic, partition) in &m.partitions {
                let tp = (topic.clone(), *partition);
                if progress.done.contains(&tp) || progress.in_flight.contains(&tp) {
                    continue;
                }
                // A partition deleted meanwhile needs no marker (Kafka's coordinator drops it too).
                let Some(p) = image.topics.get(topic).and_then(|t| t.partition(*partition)) else {
                    progress.done.insert(tp);
                    continue;
                };
                if p.leader == node_id && !progress.replicating.contains_key(&tp) && progress.retry_at_ms <= now_ms {
                    match self.write_local_marker(topic, *partition, control, coordinator_epoch, &m, now_ms) {
                        Ok(waiting) => {
                            progress.replicating.insert(tp.clone(), waiting);
                        }
                        Err(e) => {
                            tracing::warn!(
                                "writing the {} marker of {} to {topic}-{partition} failed: {e}",
                                if commit { "commit" } else { "abort" },
                                m.transactional_id
                            );
                            progress.retry_at_ms = now_ms + MARKER_RETRY_MS;
                        }
                    }
                }
                // A marker this broker wrote counts once its in-sync replicas have it, as Kafka appends markers
                // with acks=all: acknowledged earlier, a leader change could truncate it away after the
                // transaction completed, and the next transaction's marker would end these records instead.
                if let Some(&(required, min_isr)) = progress.replicating.get(&tp) {
                    let at = TopicPartition { topic: topic.clone(), partition: *partition };
                    match super::produce::replication_status(self, &at, required, min_isr) {
                        None => {}
                        Some(Ok(())) => {
                            progress.replicating.remove(&tp);
                            if topic == OFFSETS_TOPIC {
                                let count = image.topics.get(OFFSETS_TOPIC).map_or(1, |t| t.partitions.len() as i32);
                                self.groups().complete_txn_offsets(m.producer_id, commit, *partition, count, now_ms);
                            }
                            progress.done.insert(tp);
                        }
                        Some(Err(e)) => {
                            tracing::warn!(
                                "the marker of {} at {at} offset {} was not replicated ({e:?}); writing it again",
                                m.transactional_id,
                                required - 1
                            );
                            progress.replicating.remove(&tp);
                            progress.retry_at_ms = now_ms + MARKER_RETRY_MS;
                        }
                    }
                } else if p.leader != node_id && p.leader >= 0 && progress.retry_at_ms <= now_ms {
                    remote.entry(p.leader).or_default().push(tp);
                }
            }
            for (leader, partitions) in remote {
                let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                for (topic, partition) in &partitions {
                    topics.entry(topic.as_str()).or_default().push(*partition);
                }
                let marker = WritableTxnMarker::default()
                    .with_producer_id(ProducerId(m.producer_id))
                    .with_producer_epoch(m.producer_epoch)
                    .with_transaction_result(commit)
                    .with_coordinator_epoch(coordinator_epoch)
                    .with_topics(
                        topics
                            .into_iter()
                            .map(|(name, indexes)| {
                                WritableTxnMarkerTopic::default()
                                    .with_name(TopicName(super::str_bytes(name)))
                                    .with_partition_indexes(indexes)
                            })
                            .collect(),
                    );
                progress.in_flight.extend(partitions.iter().cloned());
                markers.next_id += 1;
                let id = markers.next_id;
                markers.pending.insert(id, (key.clone(), partitions));
                let request = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
                markers.queued.push(MarkerCall { id, broker: leader, request });
            }
            let progress = &markers.progress[&key];
            let all_done = m.partitions.iter().all(|(t, p)| progress.done.contains(&(t.clone(), *p)));
            if !all_done || progress.retry_at_ms > now_ms {
                continue;
            }
            drop(guard);
            // The markers' progress is kept until the completion is stored: if storing fails (too few in-sync
            // replicas of `__transaction_state`), the next attempt stores it again without writing the markers
            // a second time, as Kafka's coordinator retries only the log append.
            let stored = match txns.complete(&m.transactional_id, now_ms) {
                Some(done) => self.store_txn(txns, done, now_ms),
                None => Ok(()),
            };
            match stored {
                Ok(()) => {
                    self.markers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).progress.remove(&key);
                }
                Err(e) => {
                    tracing::warn!(
                        "storing the completion of {} failed ({e:?}); retrying without writing its markers again",
                        m.transactional_id
                    );
                    let mut markers = self.markers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if let Some(progress) = markers.progress.get_mut(&key) {
                        progress.retry_at_ms = now_ms + MARKER_RETRY_MS;
                    }
                }
            }
        }
    }

    /// Writes a commit or abort marker to a partition this broker leads, with acks=all (refused while the ISR
    /// is smaller than `min.insync.replicas`). Returns the offset the high watermark must reach for the marker
    /// to be replicated, and the partition's `min.insync.replicas`.
    fn write_local_marker(
        &self,
        topic: &str,
        partition: i32,
        control: ControlType,
        coordinator_epoch: i32,
        m: &TxnMetadata,
        now_ms: i64,
    ) -> Result<(i64, i32), PartitionError> {
        let image = self.metadata();
        let (Some(replica), Some(t)) = (self.partition(topic, partition), image.topics.get(topic)) else {
            return Err(PartitionError::NotLeaderOrFollower(TopicPartition { topic: topic.to_string(), partition }));
        };
        let min_isr = self.min_insync_replicas(t, &image);
        let marker = BatchBuilder::control_marker(control, coordinator_epoch, m.producer_id, m.producer_epoch, now_ms)
            .build()
            .map_err(StorageError::from)?;
        let info = replica.append_as_leader(&marker, AppendOrigin::Coordinator, -1, min_isr, now_ms, |_| Ok(()))?;
        Ok((info.last_offset + 1, min_isr))
    }

    pub(super) fn has_marker_calls(&self) -> bool {
        !self.markers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).queued.is_empty()
    }

    /// WriteTxnMarkers calls to send to other brokers now.
    pub fn take_marker_calls(&self) -> Vec<MarkerCall> {
        std::mem::take(&mut self.markers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).queued)
    }

    /// A leader's answer to a WriteTxnMarkers call (`Err` when it could not be reached): the partitions that
    /// have their marker count as done, the others are tried again later; transactions whose markers are all
    /// written complete.
    pub fn marker_answer(&self, id: u64, answer: Result<WriteTxnMarkersResponse, String>, now_ms: i64) {
        {
            let mut guard = self.markers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let markers = &mut *guard;
            let Some((key, partitions)) = markers.pending.remove(&id) else { return };
            let Some(progress) = markers.progress.get_mut(&key) else { return };
            let written = |tp: &(String, i32)| -> bool {
                let Ok(r) = &answer else { return false };
                r.markers
                    .iter()
                    .flat_map(|m| &m.topics)
                    .filter(|t| t.name.0.as_str() == tp.0)
                    .flat_map(|t| &t.partitions)
                    .any(|p| p.partition_index == tp.1 && p.error_code == 0)
            };
            for tp in partitions {
                progress.in_flight.remove(&tp);
                if written(&tp) {
                    progress.done.insert(tp);
                } else {
                    tracing::warn!("the leader of {}-{} did not write the marker of {}; retrying", tp.0, tp.1, key.0);
                    progress.retry_at_ms = now_ms + MARKER_RETRY_MS;
                }
            }
        }
        let mut txns = self.txns();
        self.complete_transactions(&mut txns, now_ms);
    }

    /// Whether some transaction's markers are still on their way.
    pub(super) fn markers_pending(&self) -> bool {
        !self.markers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).progress.is_empty()
    }

    /// Whether a marker this broker wrote waits for the in-sync replicas of one of `changed`.
    pub(super) fn markers_replicating(&self, changed: &BTreeSet<TopicPartition>) -> bool {
        let markers = self.markers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        markers
            .progress
            .values()
            .flat_map(|p| p.replicating.keys())
            .any(|(topic, partition)| changed.contains(&TopicPartition { topic: topic.clone(), partition: *partition }))
    }

    /// Whether this broker coordinates `transactional_id`: it leads the id's `__transaction_state` partition (or
    /// the topic does not exist yet).
    pub(super) fn coordinates_txn(&self, transactional_id: &str) -> bool {
        self.leads_key(TRANSACTION_STATE_TOPIC, transactional_id)
    }

    /// Whether a cluster member gets a request for a transactional id another broker coordinates (it answers
    /// NOT_COORDINATOR, and the client looks the coordinator up again).
    pub(super) fn foreign_txn(&self, transactional_id: &str) -> bool {
        self.is_cluster_member() && !self.coordinates_txn(transactional_id)
    }

    /// Loads the transactions of the `__transaction_state` partitions this broker has come to lead and forgets
    /// those of partitions it no longer leads, then finishes the transactions that were between their prepare
    /// record and their markers (the previous coordinator may have died there). Open transactions stay open:
    /// their producer may still end them, or their timeout aborts them.
    pub(super) fn load_transactions(&self, now_ms: i64) -> Result<(), BrokerError> {
        let mut txns = self.txns();
        self.follow_txn_partitions(&mut txns, now_ms)
    }

    /// [`Broker::load_transactions`] with the coordinator already locked.
    pub(super) fn follow_txn_partitions(
        &self,
        txns: &mut TransactionCoordinator,
        now_ms: i64,
    ) -> Result<(), BrokerError> {
        let Some((partitions, led)) = self.led_partitions(TRANSACTION_STATE_TOPIC) else { return Ok(()) };
        let mut loaded = self.loaded_txn_partitions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let lost: BTreeSet<i32> = loaded.difference(&led).copied().collect();
        if !lost.is_empty() {
            let gone = txns.unload(|id| lost.contains(&group::partition_for(id, partitions)));
            tracing::info!(target: "potok::coordinator", "resigned {TRANSACTION_STATE_TOPIC} partitions {lost:?} ({gone} transactional ids)");
        }
        let gained: Vec<i32> = led.difference(&loaded).copied().collect();
        *loaded = led;
        drop(loaded);
        for partition in &gained {
            self.replay_internal(TRANSACTION_STATE_TOPIC, *partition, |header, _, records| {
                if header.is_control() {
                    return;
                }
                for r in records {
                    let Some(key) = r.key else { continue };
                    // A record potok cannot read is skipped, as Kafka's loader skips unknown keys.
                    let loaded = txn_log_schema::decode_key(&key).and_then(|id| {
                        let value = r.value.as_deref().map(|v| txn_log_schema::decode_value(&id, v)).transpose()?;
                        Ok((id, value))
                    });
                    match loaded {
                        Ok((id, value)) => txns.load(id, value),
                        Err(e) => {
                            tracing::warn!("skipping {TRANSACTION_STATE_TOPIC}-{partition} offset {}: {e}", r.offset)
                        }
                    }
                }
            })?;
        }
        if !gained.is_empty() {
            self.complete_transactions(txns, now_ms);
        }
        Ok(())
    }

    /// Transaction housekeeping: aborts transactions past their timeout (fencing their producer), retries
    /// unfinished markers, and forgets transactional ids idle past `transactional.id.expiration.ms`.
    pub(super) fn txn_tick(&self, now_ms: i64) {
        let mut txns = self.txns();
        if txns.abort_check_due(now_ms) {
            for id in txns.timed_out(now_ms) {
                if let Some(abort) = txns.fence_and_abort(&id, now_ms) {
                    let _ = self.store_txn(&mut txns, abort, now_ms);
                }
            }
            self.complete_transactions(&mut txns, now_ms);
        } else if self.markers_pending() {
            // Markers waiting for another broker (or a retry) are looked at on every tick.
            self.complete_transactions(&mut txns, now_ms);
        }
        if txns.expiry_check_due(now_ms) {
            for dead in txns.expired(now_ms) {
                let _ = self.store_txn(&mut txns, dead, now_ms);
            }
        }
    }
}
