//! DescribeTransactions: the state, producer, timeout, start time and partitions of transactional ids
//! (`kafka-transactions --describe`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName};

use super::{str_bytes, Broker};
use crate::coordinator::transaction::TransactionCoordinator;

pub(super) fn handle(broker: &Broker, request: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let txns = broker.txns();
    let states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            let state = TransactionState::default()
                .with_transactional_id(id.clone())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            if id.is_empty() {
                return state.with_error_code(ResponseError::InvalidRequest.code());
            }
            let Some(m) = txns.get(id.as_str()) else {
                return state.with_error_code(ResponseError::TransactionalIdNotFound.code());
            };
            let topics = TransactionCoordinator::partitions_by_topic(m)
                .into_iter()
                .map(|(topic, partitions)| {
                    TopicData::default().with_topic(TopicName(str_bytes(topic))).with_partitions(partitions)
                })
                .collect();
            state
                .with_producer_id(ProducerId(m.producer_id))
                .with_producer_epoch(m.producer_epoch)
                .with_transaction_state(str_bytes(m.state.name()))
                .with_transaction_timeout_ms(m.timeout_ms)
                .with_transaction_start_time_ms(m.start_ms)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
