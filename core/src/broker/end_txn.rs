//! EndTxn: commit or abort the producer's open transaction. The coordinator records PrepareCommit or
//! PrepareAbort in `__transaction_state`, writes the markers to every partition of the transaction, then
//! records CompleteCommit or CompleteAbort. The answer comes once the prepare record is stored, as in Kafka;
//! markers that could not be written are retried by the periodic check.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::init_producer_id::fenced_for;
use super::Broker;
use crate::coordinator::transaction::EndTransition;

pub(super) fn handle(broker: &Broker, request: EndTxnRequest, version: i16, now_ms: i64) -> EndTxnResponse {
    let response = EndTxnResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    let error = |e: ResponseError| response.clone().with_error_code(fenced_for(version, 2, e).code());
    let transactional_id = request.transactional_id.0.to_string();
    if transactional_id.is_empty() {
        return error(ResponseError::InvalidRequest);
    }
    if broker.foreign_txn(&transactional_id) {
        return error(ResponseError::NotCoordinator);
    }
    let (producer_id, epoch) = (request.producer_id.0, request.producer_epoch);
    let mut txns = broker.txns();
    match txns.end_txn(&transactional_id, producer_id, epoch, request.committed, now_ms) {
        Err(e) => error(e),
        Ok(EndTransition::AlreadyDone) => response.with_producer_id(ProducerId(producer_id)).with_producer_epoch(epoch),
        Ok(EndTransition::Prepare(m)) => {
            if let Err(e) = broker.store_txn(&mut txns, m, now_ms) {
                return error(e);
            }
            broker.complete_transactions(&mut txns, now_ms);
            response.with_producer_id(ProducerId(producer_id)).with_producer_epoch(epoch)
        }
    }
}
