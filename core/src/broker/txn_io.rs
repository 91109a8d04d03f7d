//! The transaction coordinator's IO: creating `__transaction_state` on first use, writing each transition to
//! the partition that owns the transactional id before applying it, writing the commit and abort markers to
//! every partition of a transaction, replaying the topic on start-up, and the periodic abort of timed-out
//! transactions.
//!
//! Lock order: the transaction coordinator is taken before the group coordinator, the broker state and any
//! log, never after them.

use std::sync::MutexGuard;

use kafka_protocol::error::ResponseError;

use super::coordinator_io::InternalTopic;
use super::{Broker, BrokerError, OFFSETS_TOPIC};
use crate::coordinator::group;
use crate::coordinator::transaction::{TransactionCoordinator, TxnMetadata, TxnState};
use crate::coordinator::txn_log_schema;
use crate::partition::PartitionError;
use crate::record::{BatchBuilder, Compression, ControlType};
use crate::storage::{AppendOrigin, StorageError};

/// The internal topic holding the transaction coordinator's state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

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
        let mut bytes = batch.build().map_err(|_| ResponseError::UnknownServerError)?;
        self.append_internal(TRANSACTION_STATE_TOPIC, partition, &mut bytes, now_ms)?;
        txns.apply(metadata);
        Ok(())
    }

    /// Writes the markers of every transaction in PrepareCommit or PrepareAbort and moves it to CompleteCommit
    /// or CompleteAbort. A transaction whose markers cannot all be written stays prepared and is retried at the
    /// next periodic check (a marker written twice closes nothing the second time).
    pub(super) fn complete_transactions(&self, txns: &mut TransactionCoordinator, now_ms: i64) {
        for m in txns.pending_completion() {
            if let Err(e) = self.write_markers(&m, now_ms) {
                tracing::error!("writing the transaction markers of {} failed: {e}", m.transactional_id);
                continue;
            }
            if let Some(done) = txns.complete(&m.transactional_id, now_ms) {
                let _ = self.store_txn(txns, done, now_ms);
            }
        }
    }

    /// Writes a commit or abort marker for `m`'s producer to each of its partitions, with the coordinator
    /// epoch. Partitions that no longer exist are skipped, as Kafka's coordinator drops them.
    fn write_markers(&self, m: &TxnMetadata, now_ms: i64) -> Result<(), PartitionError> {
        let commit = m.state == TxnState::PrepareCommit;
        let control = if commit { ControlType::Commit } else { ControlType::Abort };
        let coordinator_epoch = self.txn_partition(&m.transactional_id).map_or(0, |(_, e)| e);
        let image = self.metadata();
        for (topic, partition) in &m.partitions {
            let Some(replica) = self.partition(topic, *partition) else { continue };
            let mut marker =
                BatchBuilder::control_marker(control, coordinator_epoch, m.producer_id, m.producer_epoch, now_ms)
                    .build()
                    .map_err(StorageError::from)?;
            replica.append_as_leader(&mut marker, AppendOrigin::Coordinator, -1, 1, now_ms, |_| Ok(()))?;
            if topic == OFFSETS_TOPIC {
                let count = image.topics.get(OFFSETS_TOPIC).map_or(1, |t| t.partitions.len() as i32);
                self.groups().complete_txn_offsets(m.producer_id, commit, *partition, count, now_ms);
            }
        }
        Ok(())
    }

    /// Replays `__transaction_state` into the transaction coordinator, then finishes the transactions that
    /// were between their prepare record and their markers when the broker stopped. Open transactions stay
    /// open: their producer may still end them, or their timeout aborts them.
    pub(super) fn load_transactions(&self, now_ms: i64) -> Result<(), BrokerError> {
        let partitions = match self.metadata().topics.get(TRANSACTION_STATE_TOPIC) {
            Some(t) => t.partitions.len() as i32,
            None => return Ok(()),
        };
        let mut txns = self.txns();
        for partition in 0..partitions {
            self.replay_internal(TRANSACTION_STATE_TOPIC, partition, |header, _, records| {
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
        self.complete_transactions(&mut txns, now_ms);
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
        }
        if txns.expiry_check_due(now_ms) {
            for dead in txns.expired(now_ms) {
                let _ = self.store_txn(&mut txns, dead, now_ms);
            }
        }
    }
}
