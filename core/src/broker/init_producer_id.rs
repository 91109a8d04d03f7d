//! InitProducerId: a fresh producer id (epoch 0) for an idempotent producer. Transactional producers
//! (`transactional.id` set) need the transaction coordinator, which potok does not have yet.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::Broker;

pub(super) fn handle(broker: &Broker, request: InitProducerIdRequest, now_ms: i64) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        // Transactions are not implemented yet: say so plainly rather than accept a producer that would fail on
        // its first AddPartitionsToTxn.
        return response.with_error_code(ResponseError::UnsupportedVersion.code());
    }
    // Kafka gives an idempotent producer a new id on every InitProducerId, also when it asks to bump an epoch.
    match broker.allocate_producer_id(now_ms) {
        Ok(id) => response.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(_) => response.with_error_code(ResponseError::CoordinatorNotAvailable.code()),
    }
}
