//! FindCoordinator: this broker coordinates every group and every transactional id. Creates
//! `__consumer_offsets` on the first group lookup and `__transaction_state` on the first transactional one, as
//! Kafka does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::{str_bytes, Broker};

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

pub(super) fn handle(
    broker: &Broker,
    request: FindCoordinatorRequest,
    version: i16,
    now_ms: i64,
) -> FindCoordinatorResponse {
    let advertised = broker.advertised().clone();
    let keys: Vec<String> = if version >= 4 {
        request.coordinator_keys.iter().map(|k| k.to_string()).collect()
    } else {
        vec![request.key.to_string()]
    };
    let lookup = |key: &str| -> Result<(), (ResponseError, String)> {
        match request.key_type {
            GROUP if key.is_empty() => Err((ResponseError::InvalidRequest, "The group id must not be empty".into())),
            GROUP => {
                broker.ensure_offsets_topic(now_ms).map_err(|e| (ResponseError::CoordinatorNotAvailable, e.to_string()))
            }
            TRANSACTION if key.is_empty() => {
                Err((ResponseError::InvalidRequest, "The transactional id must not be empty".into()))
            }
            TRANSACTION => {
                broker.ensure_txn_topic(now_ms).map_err(|e| (ResponseError::CoordinatorNotAvailable, e.to_string()))
            }
            other => Err((ResponseError::InvalidRequest, format!("Unknown coordinator type {other}"))),
        }
    };
    let results: Vec<Coordinator> = keys
        .iter()
        .map(|key| {
            let c = Coordinator::default().with_key(str_bytes(key.clone()));
            match lookup(key) {
                Ok(()) => c
                    .with_node_id(BrokerId(broker.node_id()))
                    .with_host(str_bytes(&advertised.host))
                    .with_port(i32::from(advertised.port)),
                Err((error, msg)) => c
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(msg))),
            }
        })
        .collect();
    if version >= 4 {
        return FindCoordinatorResponse::default().with_coordinators(results);
    }
    let c = results.into_iter().next().unwrap_or_default();
    FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_error_message(if version >= 1 { c.error_message } else { None })
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port)
}
