//! AddOffsetsToTxn: adds the `__consumer_offsets` partition of a consumer group to the producer's transaction,
//! so the offsets it commits with TxnOffsetCommit get the transaction's markers.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::init_producer_id::fenced_for;
use super::{Broker, OFFSETS_TOPIC};
use crate::coordinator::group;

pub(super) fn handle(
    broker: &Broker,
    request: AddOffsetsToTxnRequest,
    version: i16,
    now_ms: i64,
) -> AddOffsetsToTxnResponse {
    let transactional_id = request.transactional_id.0.to_string();
    let result = (|| {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        if broker.foreign_txn(&transactional_id) {
            return Err(ResponseError::NotCoordinator);
        }
        broker.ensure_offsets_topic(now_ms).map_err(|_| ResponseError::CoordinatorNotAvailable)?;
        let partition = group::partition_for(request.group_id.as_str(), broker.offsets_partitions());
        let mut txns = broker.txns();
        let partitions = [(OFFSETS_TOPIC.to_string(), partition)];
        match txns.add_partitions(
            &transactional_id,
            request.producer_id.0,
            request.producer_epoch,
            &partitions,
            now_ms,
        )? {
            Some(m) => broker.store_txn(&mut txns, m, now_ms),
            None => Ok(()),
        }
    })();
    let code = result.err().map_or(0, |e| fenced_for(version, 2, e).code());
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
