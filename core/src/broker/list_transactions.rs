//! ListTransactions: the transactional ids this coordinator knows, filtered by state, producer id, how long
//! the transaction has run (v1+) and a regular expression on the id (v2+) (`kafka-transactions --list`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId};

use super::{str_bytes, Broker};

/// A bound on the compiled size of a client's pattern, so a hostile one cannot take the broker's memory.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

pub(super) fn handle(broker: &Broker, request: ListTransactionsRequest, now_ms: i64) -> ListTransactionsResponse {
    let pattern = match request.transactional_id_pattern.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => match regex::RegexBuilder::new(p).size_limit(PATTERN_SIZE_LIMIT).build() {
            Ok(re) => Some(re),
            Err(_) => {
                return ListTransactionsResponse::default()
                    .with_error_code(ResponseError::InvalidRegularExpression.code())
            }
        },
    };
    let states: Vec<String> = request.state_filters.iter().map(|s| s.to_string()).collect();
    let producer_ids: Vec<i64> = request.producer_id_filters.iter().map(|p| p.0).collect();
    let txns = broker.txns();
    let (found, unknown) = txns.list(&states, &producer_ids, request.duration_filter, pattern.as_ref(), now_ms);
    let transaction_states = found
        .into_iter()
        .map(|m| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(str_bytes(m.transactional_id.clone())))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(str_bytes(m.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown.into_iter().map(str_bytes).collect())
        .with_transaction_states(transaction_states)
}
