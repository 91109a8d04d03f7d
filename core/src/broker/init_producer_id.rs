//! InitProducerId: a producer id and epoch. Without a transactional id, a fresh producer id (epoch 0) for an
//! idempotent producer. With one, the transaction coordinator bumps the id's epoch (fencing any older producer
//! with the same transactional id), first aborting a transaction the previous producer left open.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::Broker;
use crate::coordinator::transaction::InitTransition;

/// PRODUCER_FENCED exists from version 4 of a request; older clients know the same condition as
/// INVALID_PRODUCER_EPOCH, which is what Kafka sends them.
pub(super) fn fenced_for(version: i16, first_with_fenced: i16, error: ResponseError) -> ResponseError {
    if error == ResponseError::ProducerFenced && version < first_with_fenced {
        ResponseError::InvalidProducerEpoch
    } else {
        error
    }
}

pub(super) fn handle(
    broker: &Broker,
    request: InitProducerIdRequest,
    version: i16,
    now_ms: i64,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    let error = |e: ResponseError| response.clone().with_error_code(fenced_for(version, 4, e).code());
    let expected = match (request.producer_id.0, request.producer_epoch) {
        (-1, -1) => None,
        (-1, _) | (_, -1) => return error(ResponseError::InvalidRequest),
        (id, epoch) => Some((id, epoch)),
    };
    let Some(transactional_id) = request.transactional_id else {
        // Kafka gives an idempotent producer a new id on every InitProducerId, also when it asks to bump an
        // epoch.
        return match broker.allocate_producer_id(now_ms) {
            Ok(id) => response.with_producer_id(ProducerId(id)).with_producer_epoch(0),
            Err(_) => error(ResponseError::CoordinatorNotAvailable),
        };
    };
    let transactional_id = transactional_id.0.to_string();
    if transactional_id.is_empty() {
        return error(ResponseError::InvalidRequest);
    }
    if broker.foreign_txn(&transactional_id) {
        return error(ResponseError::NotCoordinator);
    }
    let mut txns = broker.txns();
    if !txns.valid_timeout(request.transaction_timeout_ms) {
        return error(ResponseError::InvalidTransactionTimeout);
    }
    if broker.ensure_txn_topic(now_ms).is_err() {
        return error(ResponseError::CoordinatorNotAvailable);
    }
    let mut allocate = || broker.allocate_producer_id(now_ms).ok();
    let transition =
        txns.init_producer_id(&transactional_id, request.transaction_timeout_ms, expected, now_ms, &mut allocate);
    match transition {
        Err(e) => error(e),
        Ok(InitTransition::Ready(m)) => {
            let (producer_id, epoch) = (m.producer_id, m.producer_epoch);
            match broker.store_txn(&mut txns, m, now_ms) {
                Ok(()) => response.with_producer_id(ProducerId(producer_id)).with_producer_epoch(epoch),
                Err(e) => error(e),
            }
        }
        Ok(InitTransition::AbortOngoing(m)) => {
            // The previous producer's transaction is aborted under a bumped epoch; the client is told to retry,
            // and its retry bumps the epoch once more, past the one the abort markers carry.
            if let Err(e) = broker.store_txn(&mut txns, m, now_ms) {
                return error(e);
            }
            broker.complete_transactions(&mut txns, now_ms);
            error(ResponseError::ConcurrentTransactions)
        }
    }
}
