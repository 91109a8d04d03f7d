//! The producer and transaction rules a leader applies to an append before it is written: idempotent
//! sequences and epochs (a retried batch is answered with its original offsets and written once), no
//! non-transactional write inside an open transaction, and markers from current producer and coordinator
//! epochs only. Followers apply none of these: they copy what their leader accepted.

use std::collections::HashMap;

use super::PartitionError;
use crate::record::BatchHeader;
use crate::storage::producer_state::{last_seq, next_seq, MarkerCheck, ProducerEntry, ProducerState, SequenceCheck};
use crate::storage::{AppendInfo, AppendOrigin, ValidatedBatches};

/// Checks `batches` against the producer state. `Ok(Some(info))` means the append is a retry of a batch
/// already in the log: answer with `info` and write nothing.
pub(super) fn check(
    producers: &ProducerState,
    batches: &ValidatedBatches,
    origin: AppendOrigin,
    log_start_offset: i64,
    log_append_time: bool,
) -> Result<Option<AppendInfo>, PartitionError> {
    match origin {
        AppendOrigin::Client => check_sequences(producers, batches, log_start_offset, log_append_time),
        AppendOrigin::Coordinator => check_markers(producers, batches).map(|()| None),
        AppendOrigin::Replication => Ok(None),
    }
}

fn check_markers(producers: &ProducerState, batches: &ValidatedBatches) -> Result<(), PartitionError> {
    for (h, marker) in batches.batches() {
        let Some(marker) = marker else { continue };
        match producers.check_marker(h.producer_id, h.producer_epoch, marker.coordinator_epoch) {
            MarkerCheck::Accept => {}
            MarkerCheck::StaleEpoch => {
                return Err(PartitionError::InvalidProducerEpoch {
                    producer_id: h.producer_id,
                    epoch: h.producer_epoch,
                })
            }
            MarkerCheck::StaleCoordinator => {
                return Err(PartitionError::TransactionCoordinatorFenced {
                    producer_id: h.producer_id,
                    coordinator_epoch: marker.coordinator_epoch,
                })
            }
        }
    }
    Ok(())
}

fn check_sequences(
    producers: &ProducerState,
    batches: &ValidatedBatches,
    log_start_offset: i64,
    log_append_time: bool,
) -> Result<Option<AppendInfo>, PartitionError> {
    // Later batches of the same producer in this append follow the earlier ones, which are not in the producer
    // state yet.
    let mut pending: HashMap<i64, (i16, i32)> = HashMap::new();
    for h in batches.headers() {
        if !h.has_producer_id() {
            continue;
        }
        let check = match pending.get(&h.producer_id) {
            Some(&(epoch, last)) if epoch == h.producer_epoch => {
                if h.base_sequence == next_seq(last) {
                    SequenceCheck::Accept
                } else {
                    SequenceCheck::OutOfOrder
                }
            }
            _ => producers.check(h),
        };
        let previous = if h.base_sequence >= 0 {
            pending.insert(h.producer_id, (h.producer_epoch, last_seq(h)))
        } else {
            pending.get(&h.producer_id).copied()
        };
        match check {
            SequenceCheck::Accept => {}
            SequenceCheck::StaleEpoch => {
                return Err(PartitionError::InvalidProducerEpoch {
                    producer_id: h.producer_id,
                    epoch: h.producer_epoch,
                })
            }
            SequenceCheck::OutOfOrder => return Err(out_of_order(producers, previous, h)),
            SequenceCheck::InvalidTxnState => {
                return Err(PartitionError::InvalidTxnState { producer_id: h.producer_id })
            }
            // A retried batch: Kafka answers with the original offsets and writes nothing. Produce sends one
            // batch per partition, so the duplicate is the whole append.
            SequenceCheck::Duplicate(b) if batches.len() == 1 => {
                return Ok(Some(AppendInfo {
                    first_offset: b.first_offset,
                    last_offset: b.last_offset,
                    max_timestamp: h.max_timestamp,
                    offset_of_max_timestamp: b.last_offset,
                    log_append_time: log_append_time.then_some(b.timestamp),
                    batch_count: 1,
                    record_count: i64::from(h.records_count),
                    bytes: 0,
                    log_start_offset,
                    duplicate: true,
                }));
            }
            SequenceCheck::Duplicate(_) => return Err(out_of_order(producers, previous, h)),
        }
    }
    Ok(None)
}

/// The refusal of a batch whose sequence does not follow the producer's last one in this partition.
/// `previous` is the producer's last batch earlier in the same append, if any.
fn out_of_order(producers: &ProducerState, previous: Option<(i16, i32)>, h: &BatchHeader) -> PartitionError {
    let last = match previous {
        Some((_, last)) => Some(last),
        None => producers.entry(h.producer_id).and_then(ProducerEntry::last_seq),
    };
    PartitionError::OutOfOrderSequence {
        producer_id: h.producer_id,
        epoch: h.producer_epoch,
        sequence: h.base_sequence,
        last,
    }
}
