//! AddPartitionsToTxn: adds partitions to a producer's open transaction (starting one if none is open).
//! Versions 0-3 come from producers and carry one transaction; versions 4 and up are Kafka's broker-to-broker
//! batches, several transactions at once, each either added or, with `verify_only`, only checked.
//!
//! As in Kafka, a partition that does not exist fails the whole transaction's request: it gets
//! UNKNOWN_TOPIC_OR_PARTITION and the valid ones OPERATION_NOT_ATTEMPTED. Internal topics cannot be added by a
//! producer (Kafka answers TOPIC_AUTHORIZATION_FAILED, since no client may write to them).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName, TransactionalId};

use super::init_producer_id::fenced_for;
use super::{str_bytes, Broker};
use crate::coordinator::transaction::TxnPartition;

/// One transaction's partitions and the error each gets.
type PartitionErrors = Vec<(TxnPartition, Option<ResponseError>)>;

/// One transaction of a request, whichever version carried it.
struct Transaction<'a> {
    transactional_id: &'a str,
    producer_id: i64,
    producer_epoch: i16,
    verify_only: bool,
    topics: &'a [AddPartitionsToTxnTopic],
}

fn handle_one(broker: &Broker, txn: Transaction<'_>, version: i16, now_ms: i64) -> PartitionErrors {
    let Transaction { transactional_id, producer_id, producer_epoch, verify_only, topics } = txn;
    let partitions: Vec<TxnPartition> =
        topics.iter().flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p))).collect();
    let all = |e: ResponseError| partitions.iter().map(|p| (p.clone(), Some(e))).collect::<PartitionErrors>();
    if transactional_id.is_empty() {
        return all(ResponseError::InvalidRequest);
    }
    if broker.foreign_txn(transactional_id) {
        return all(ResponseError::NotCoordinator);
    }
    let image = broker.metadata();
    let invalid: Vec<(TxnPartition, ResponseError)> = partitions
        .iter()
        .filter_map(|(topic, p)| match image.topics.get(topic) {
            Some(t) if t.is_internal() && version < 4 => {
                Some(((topic.clone(), *p), ResponseError::TopicAuthorizationFailed))
            }
            Some(t) if t.partition(*p).is_some() => None,
            _ => Some(((topic.clone(), *p), ResponseError::UnknownTopicOrPartition)),
        })
        .collect();
    if !invalid.is_empty() {
        return partitions
            .iter()
            .map(|p| {
                let e = invalid.iter().find(|(q, _)| q == p).map_or(ResponseError::OperationNotAttempted, |(_, e)| *e);
                (p.clone(), Some(e))
            })
            .collect();
    }
    let mut txns = broker.txns();
    if verify_only {
        return partitions
            .iter()
            .map(|p| {
                let result = match txns.verify_partition(transactional_id, producer_id, producer_epoch, p) {
                    // What Kafka's coordinator answers a verification for a partition outside the transaction.
                    Err(ResponseError::InvalidTxnState) => Err(ResponseError::TransactionAbortable),
                    Err(ResponseError::InvalidProducerEpoch) => Err(ResponseError::ProducerFenced),
                    other => other,
                };
                (p.clone(), result.err())
            })
            .collect();
    }
    let result = match txns.add_partitions(transactional_id, producer_id, producer_epoch, &partitions, now_ms) {
        Ok(Some(m)) => broker.store_txn(&mut txns, m, now_ms),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => partitions.into_iter().map(|p| (p, None)).collect(),
        Err(e) => all(fenced_for(version, 2, e)),
    }
}

fn topic_results(errors: PartitionErrors) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut out: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for ((topic, partition), error) in errors {
        let result = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(partition)
            .with_partition_error_code(error.map_or(0, |e| e.code()));
        match out.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(t) => t.results_by_partition.push(result),
            None => out.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_results_by_partition(vec![result]),
            ),
        }
    }
    out
}

pub(super) fn handle(
    broker: &Broker,
    request: AddPartitionsToTxnRequest,
    version: i16,
    now_ms: i64,
) -> AddPartitionsToTxnResponse {
    if version < 4 {
        let txn = Transaction {
            transactional_id: request.v3_and_below_transactional_id.as_str(),
            producer_id: request.v3_and_below_producer_id.0,
            producer_epoch: request.v3_and_below_producer_epoch,
            verify_only: false,
            topics: &request.v3_and_below_topics,
        };
        let errors = handle_one(broker, txn, version, now_ms);
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topic_results(errors));
    }
    let results = request
        .transactions
        .iter()
        .map(|t| {
            let txn = Transaction {
                transactional_id: t.transactional_id.as_str(),
                producer_id: t.producer_id.0,
                producer_epoch: t.producer_epoch,
                verify_only: t.verify_only,
                topics: &t.topics,
            };
            let errors = handle_one(broker, txn, version, now_ms);
            AddPartitionsToTxnResult::default()
                .with_transactional_id(TransactionalId(str_bytes(t.transactional_id.as_str())))
                .with_topic_results(topic_results(errors))
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}
