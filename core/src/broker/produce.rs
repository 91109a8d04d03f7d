//! Produce: append producers' batches to partition logs, byte for byte (offsets and leader epoch assigned
//! here), and answer with each partition's base offset. acks=0 gets no response; acks=1 is answered after the
//! leader's append; acks=-1 is refused with NOT_ENOUGH_REPLICAS when the ISR is smaller than
//! `min.insync.replicas`, and otherwise waits in the purgatory until the high watermark passes its batches
//! (every in-sync replica has them), at most the request's timeout — on a single broker that is at once. If
//! the ISR shrank below `min.insync.replicas` meanwhile, the batch is written but the answer is
//! NOT_ENOUGH_REPLICAS_AFTER_APPEND, as in Kafka.
//!
//! Transactional batches need the request's transactional id, and (with
//! `transaction.partition.verification.enable`, Kafka's default) a producer's first transactional batch in a
//! partition is accepted only if the coordinator has the partition in the producer's open transaction: a late
//! batch cannot open a transaction nobody will end.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{partition_error_code, str_bytes, Broker};
use crate::partition::PartitionError;
use crate::record::{self, Batches, RecordError, RecordProblem};
use crate::storage::{AppendOrigin, Log, StorageError, TopicPartition};

/// What became of a Produce request.
#[allow(clippy::large_enum_variant)]
pub(super) enum Produced {
    Respond(ProduceResponse),
    /// acks=0.
    NoResponse,
    /// acks=all: some partitions wait for their followers.
    Wait(WaitingProduce),
}

/// One partition of an acks=all Produce waiting for the ISR.
#[derive(Debug)]
struct Pending {
    topic: usize,
    partition: usize,
    tp: TopicPartition,
    /// The offset after the appended batch: the high watermark must reach it.
    required_offset: i64,
    min_insync_replicas: i32,
}

/// An acks=all Produce whose answer waits (Kafka's DelayedProduce).
#[derive(Debug)]
pub(super) struct WaitingProduce {
    response: ProduceResponse,
    pending: Vec<Pending>,
    pub(super) timeout_ms: i64,
}

impl WaitingProduce {
    /// The partitions whose changes may complete it.
    pub(super) fn partitions(&self) -> Vec<TopicPartition> {
        self.pending.iter().map(|p| p.tp.clone()).collect()
    }
}

/// Where one waiting partition stands: `None` while its followers have not all got the batch.
fn status(broker: &Broker, p: &Pending) -> Option<Result<(), ResponseError>> {
    replication_status(broker, &p.tp, p.required_offset, p.min_insync_replicas)
}

/// Whether every in-sync replica of `tp` has the leader's log up to `required_offset` (see
/// [`crate::partition::Partition::replicated_to`]); a partition this broker no longer has is NOT_LEADER_OR_FOLLOWER.
pub(super) fn replication_status(
    broker: &Broker,
    tp: &TopicPartition,
    required_offset: i64,
    min_insync_replicas: i32,
) -> Option<Result<(), ResponseError>> {
    match broker.partition(&tp.topic, tp.partition) {
        Some(replica) => replica.replicated_to(required_offset, min_insync_replicas),
        None => Some(Err(ResponseError::NotLeaderOrFollower)),
    }
}

/// Whether every waiting partition of an acks=all Produce is decided.
pub(super) fn settled(broker: &Broker, waiting: &WaitingProduce) -> bool {
    waiting.pending.iter().all(|p| status(broker, p).is_some())
}

/// The answer to an acks=all Produce, now (a partition still waiting gets REQUEST_TIMED_OUT).
pub(super) fn complete(broker: &Broker, waiting: WaitingProduce) -> ProduceResponse {
    let WaitingProduce { mut response, pending, .. } = waiting;
    for p in &pending {
        let error = match status(broker, p) {
            Some(Ok(())) => continue,
            Some(Err(e)) => e,
            None => {
                if let Some(replica) = broker.partition(&p.tp.topic, p.tp.partition) {
                    let s = replica.replica_state();
                    tracing::warn!(
                        target: "potok::replication",
                        "{}: acks=all timed out waiting for offset {} (high watermark {}, log end {}, ISR {:?}, followers {:?})",
                        p.tp,
                        p.required_offset,
                        replica.high_watermark(),
                        replica.log_end_offset(),
                        s.isr,
                        s.followers
                    );
                }
                ResponseError::RequestTimedOut
            }
        };
        if let Some(r) = response.responses.get_mut(p.topic).and_then(|t| t.partition_responses.get_mut(p.partition)) {
            r.error_code = error.code();
        }
    }
    response
}

fn partition_error(index: i32, error: ResponseError, message: Option<String>) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(error.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(message.map(str_bytes))
}

/// Kafka's answer to records its rules refuse (`LogValidator.processRecordErrors`): one record error per record
/// (its index in the batch and why), INVALID_TIMESTAMP if any timestamp was refused and INVALID_RECORD
/// otherwise, and the matching message.
fn refused_records(index: i32, refused: &[(i32, RecordProblem)], topic: &str) -> PartitionProduceResponse {
    let why = |problem: &RecordProblem| match *problem {
        RecordProblem::NoKey => {
            format!("Compacted topic cannot accept message without key in topic partition {topic}-{index}")
        }
        RecordProblem::Timestamp { timestamp, offset, earliest, latest } => {
            let range = format!("The timestamp should be within [{earliest}, {latest}]");
            format!("Timestamp {timestamp} of message with offset {offset} is out of range. {range}")
        }
    };
    let errors: Vec<_> = refused
        .iter()
        .map(|(i, problem)| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(*i)
                .with_batch_index_error_message(Some(str_bytes(why(problem))))
        })
        .collect();
    let (error, message) = if refused.iter().any(|(_, p)| matches!(p, RecordProblem::Timestamp { .. })) {
        (ResponseError::InvalidTimestamp, "One or more records have been rejected due to invalid timestamp".to_string())
    } else {
        let shown: Vec<String> = refused
            .iter()
            .take(3)
            .map(|(i, problem)| format!("RecordError(batchIndex={i}, message='{}')", why(problem)))
            .collect();
        let message = format!(
            "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
            refused.len(),
            shown.join(", ")
        );
        (ResponseError::InvalidRecord, message)
    };
    partition_error(index, error, Some(message)).with_record_errors(errors)
}

/// The header of a partition's batch if it is transactional.
fn transactional_header(records: Option<&bytes::Bytes>) -> Option<record::BatchHeader> {
    let records = records?;
    let batch = Batches::new(records).next()?.ok()?;
    record::BatchHeader::parse(batch).ok().filter(|h| h.is_transactional() && h.has_producer_id())
}

pub(super) fn handle(broker: &Broker, request: ProduceRequest, version: i16, now_ms: i64) -> Produced {
    let acks = request.acks;
    let mut pending = Vec::new();
    let transactional = request
        .topic_data
        .iter()
        .any(|t| t.partition_data.iter().any(|p| transactional_header(p.records.as_ref()).is_some()));
    let transactional_id = request.transactional_id.as_ref().map(|t| t.0.to_string()).filter(|t| !t.is_empty());
    // Held for the whole request so no transaction ends between a partition's check and its append.
    // Verified where this broker is the transaction's coordinator; a coordinator on another broker would be
    // asked with AddPartitionsToTxn v4, which potok's leaders do not send yet, so there the write is accepted
    // as Kafka accepts it with `transaction.partition.verification.enable=false`.
    let local_coordinator = transactional_id.as_deref().is_none_or(|id| !broker.foreign_txn(id));
    let txns = (transactional && broker.config().transaction_partition_verification_enable && local_coordinator)
        .then(|| broker.txns());
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let image = broker.metadata();
        let by_id = version >= 13;
        let found = if by_id { image.topic_by_id(&topic.topic_id) } else { image.topics.get(topic.name.0.as_str()) };
        let unknown = if by_id { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
        let min_isr = found.map(|t| broker.min_insync_replicas(t, &image));
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let index = data.index;
            if !(-1..=1).contains(&acks) {
                partitions.push(partition_error(index, ResponseError::InvalidRequiredAcks, None));
                continue;
            }
            let Some((t, min_isr)) = found.zip(min_isr).filter(|(t, _)| t.partition(index).is_some()) else {
                partitions.push(partition_error(index, unknown, None));
                continue;
            };
            let txn_header = transactional_header(data.records.as_ref());
            if txn_header.is_some() && transactional_id.is_none() {
                // What Kafka answers a transactional write without a transactional id it may write for.
                partitions.push(partition_error(index, ResponseError::TransactionalIdAuthorizationFailed, None));
                continue;
            }
            if t.is_internal() {
                let msg = format!("Cannot append to internal topic {}", t.name);
                partitions.push(partition_error(index, ResponseError::InvalidTopicException, Some(msg)));
                continue;
            }
            let Some(replica) = broker.partition(&t.name, index) else {
                partitions.push(partition_error(index, ResponseError::UnknownTopicOrPartition, None));
                continue;
            };
            let Some(records) = data.records else {
                partitions.push(partition_error(index, ResponseError::InvalidRecord, Some("no records".into())));
                continue;
            };
            // Since version 3 a partition's data is exactly one batch, which is what makes a retried batch
            // recognisable as a whole.
            let batches = Batches::new(&records).count();
            if batches != 1 {
                let msg = format!("Produce requests with version {version} must contain exactly one record batch per partition, not {batches}");
                partitions.push(partition_error(index, ResponseError::InvalidRecord, Some(msg)));
                continue;
            }
            // Within a transaction, the partition's first write must be one the coordinator knows of (KIP-890
            // verification); checked with the log locked so no marker can end the transaction meanwhile.
            let verify = |log: &Log| -> Result<(), PartitionError> {
                let (Some(txns), Some(h), Some(id)) = (&txns, txn_header, &transactional_id) else { return Ok(()) };
                if log.has_ongoing_txn(h.producer_id) {
                    return Ok(());
                }
                let tp = (t.name.clone(), index);
                txns.verify_partition(id, h.producer_id, h.producer_epoch, &tp).map_err(|e| {
                    // A verification that could not finish is an error older producers retry without refreshing
                    // metadata, as Kafka chose it.
                    let error =
                        if e == ResponseError::ConcurrentTransactions { ResponseError::NotEnoughReplicas } else { e };
                    let message = (error == ResponseError::InvalidTxnState)
                        .then(|| "Partition was not added to the transaction".to_string());
                    PartitionError::Refused { error, message }
                })
            };
            let result = replica.append_as_leader(&records, AppendOrigin::Client, acks, min_isr, now_ms, verify);
            if let (Ok(info), -1) = (&result, acks) {
                pending.push(Pending {
                    topic: responses.len(),
                    partition: partitions.len(),
                    tp: TopicPartition { topic: t.name.clone(), partition: index },
                    required_offset: info.last_offset + 1,
                    min_insync_replicas: min_isr,
                });
            }
            partitions.push(match result {
                Ok(info) => PartitionProduceResponse::default()
                    .with_index(index)
                    .with_base_offset(info.first_offset)
                    .with_log_append_time_ms(info.log_append_time.unwrap_or(-1))
                    .with_log_start_offset(info.log_start_offset),
                Err(PartitionError::Storage(StorageError::InvalidBatch(RecordError::RecordsRefused(refused)))) => {
                    refused_records(index, &refused, &t.name)
                }
                Err(e) => {
                    if let PartitionError::OutOfOrderSequence { .. } = e {
                        // Rare outside faults, and what makes an idempotent client bump its epoch: worth a line.
                        tracing::info!(target: "potok::produce", "{}-{index}: {e}", t.name);
                    }
                    let message = match &e {
                        PartitionError::Refused { message, .. } => message.clone(),
                        e => Some(e.to_string()),
                    };
                    partition_error(index, partition_error_code(&e), message)
                }
            });
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partitions),
        );
    }
    for topic in &mut responses {
        for p in &mut topic.partition_responses {
            // Fields the request's version does not carry must stay at their defaults.
            if version < 5 {
                p.log_start_offset = -1;
            }
            if version < 8 {
                p.error_message = None;
                p.record_errors.clear();
            }
        }
    }
    let response = ProduceResponse::default().with_responses(responses);
    if acks == 0 {
        return Produced::NoResponse;
    }
    let waiting = WaitingProduce { response, pending, timeout_ms: i64::from(request.timeout_ms.max(0)) };
    if settled(broker, &waiting) {
        return Produced::Respond(complete(broker, waiting));
    }
    Produced::Wait(waiting)
}
