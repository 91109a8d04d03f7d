//! TxnOffsetCommit: a transactional producer commits a consumer group's offsets as part of its transaction
//! (consume-transform-produce). The offsets are written to the group's `__consumer_offsets` partition as a
//! transactional batch of the producer; they become the group's committed offsets when the transaction's
//! commit marker reaches that partition, and are dropped by an abort marker.
//!
//! Checks, in Kafka's order: the topics and partitions exist; the group's `__consumer_offsets` partition is in
//! the producer's open transaction (AddOffsetsToTxn came first; Kafka's partition verification); the member and
//! generation may commit for the group; the metadata fits `offset.metadata.max.bytes`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::{Broker, OFFSETS_TOPIC};
use crate::coordinator::group;
use crate::coordinator::offsets_schema::{self, OffsetValue};
use crate::record::{BatchBuilder, Compression, NO_SEQUENCE};

pub(super) fn handle(
    broker: &Broker,
    request: TxnOffsetCommitRequest,
    version: i16,
    now_ms: i64,
) -> TxnOffsetCommitResponse {
    let group_id = request.group_id.0.to_string();
    let transactional_id = request.transactional_id.0.to_string();
    let (producer_id, producer_epoch) = (request.producer_id.0, request.producer_epoch);
    let image = broker.metadata();
    let txns = broker.txns();
    // Whole-request errors: every partition gets the same one.
    let request_error = (|| {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        broker.ensure_offsets_topic(now_ms).map_err(|_| ResponseError::CoordinatorNotAvailable)?;
        let offsets_partition = group::partition_for(&group_id, broker.offsets_partitions());
        txns.verify_partition(
            &transactional_id,
            producer_id,
            producer_epoch,
            &(OFFSETS_TOPIC.to_string(), offsets_partition),
        )
        .map_err(|e| match e {
            // Kafka turns a verification it could not finish into an error producers retry.
            ResponseError::ConcurrentTransactions => ResponseError::CoordinatorNotAvailable,
            other => other,
        })?;
        Ok(offsets_partition)
    })();
    let mut groups = broker.groups();
    let max_metadata = groups.config().offset_metadata_max_bytes;
    let group_error = request_error.as_ref().err().copied().or_else(|| {
        groups
            .validate_commit(
                &group_id,
                request.generation_id,
                request.member_id.as_str(),
                request.group_instance_id.as_ref().map(|i| i.as_str()),
            )
            .err()
    });
    let mut accepted = Vec::new();
    let mut topics = Vec::with_capacity(request.topics.len());
    for t in &request.topics {
        let topic = t.name.0.to_string();
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                let known = image.topics.get(&topic).is_some_and(|i| i.partition(p.partition_index).is_some());
                let metadata = p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default();
                let error = if !known {
                    Some(ResponseError::UnknownTopicOrPartition)
                } else if let Some(e) = group_error {
                    Some(e)
                } else if metadata.len() > max_metadata {
                    Some(ResponseError::OffsetMetadataTooLarge)
                } else {
                    let value = OffsetValue {
                        offset: p.committed_offset,
                        leader_epoch: if version >= 2 { p.committed_leader_epoch } else { -1 },
                        metadata,
                        commit_timestamp: now_ms,
                    };
                    accepted.push((topic.clone(), p.partition_index, value));
                    None
                };
                TxnOffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(error.map_or(0, |e| e.code()))
            })
            .collect();
        topics.push(TxnOffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions));
    }
    if let (Ok(offsets_partition), false) = (request_error, accepted.is_empty()) {
        let written = (|| {
            let mut batch =
                BatchBuilder::new(Compression::None).producer(producer_id, producer_epoch, NO_SEQUENCE, true);
            for (topic, partition, value) in &accepted {
                let key = offsets_schema::offset_key(&group_id, topic, *partition);
                batch.append(now_ms, Some(&key), Some(&offsets_schema::offset_value(value)), &[]);
            }
            let bytes = batch.build().map_err(|_| ResponseError::UnknownServerError)?;
            broker.append_internal(OFFSETS_TOPIC, offsets_partition, &bytes, now_ms)
        })();
        match written {
            Ok(_) => groups.add_txn_offsets(producer_id, &group_id, accepted),
            Err(e) => {
                for p in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()).filter(|p| p.error_code == 0) {
                    p.error_code = e.code();
                }
            }
        }
    }
    drop(txns);
    TxnOffsetCommitResponse::default().with_topics(topics)
}
