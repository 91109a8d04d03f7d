//! FindCoordinator: a group's coordinator is the leader of its `__consumer_offsets` partition, a transactional
//! id's the leader of its `__transaction_state` partition. Creates `__consumer_offsets` on the first group
//! lookup and `__transaction_state` on the first transactional one, as Kafka does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::{str_bytes, Broker};
use crate::coordinator::group;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

pub(super) fn handle(
    broker: &Broker,
    request: FindCoordinatorRequest,
    version: i16,
    now_ms: i64,
) -> FindCoordinatorResponse {
    let keys: Vec<String> = if version >= 4 {
        request.coordinator_keys.iter().map(|k| k.to_string()).collect()
    } else {
        vec![request.key.to_string()]
    };
    let lookup = |key: &str| -> Result<(i32, String, i32), (ResponseError, String)> {
        let unavailable = |e: String| (ResponseError::CoordinatorNotAvailable, e);
        let topic = match request.key_type {
            GROUP if key.is_empty() => {
                return Err((ResponseError::InvalidRequest, "The group id must not be empty".into()))
            }
            GROUP => {
                broker.ensure_offsets_topic(now_ms).map_err(|e| unavailable(e.to_string()))?;
                super::OFFSETS_TOPIC
            }
            TRANSACTION if key.is_empty() => {
                return Err((ResponseError::InvalidRequest, "The transactional id must not be empty".into()))
            }
            TRANSACTION => {
                broker.ensure_txn_topic(now_ms).map_err(|e| unavailable(e.to_string()))?;
                super::TRANSACTION_STATE_TOPIC
            }
            other => return Err((ResponseError::InvalidRequest, format!("Unknown coordinator type {other}"))),
        };
        let image = broker.metadata();
        let t = image.topics.get(topic).ok_or_else(|| unavailable(format!("{topic} does not exist yet")))?;
        let partition = group::partition_for(key, t.partitions.len() as i32);
        let leader = t.partition(partition).map_or(-1, |p| p.leader);
        let endpoint = image
            .brokers
            .get(&leader)
            .filter(|b| !b.fenced)
            .and_then(|b| b.endpoint(&broker.advertised().name).or_else(|| b.endpoints.first()))
            .ok_or_else(|| unavailable(format!("{topic}-{partition} has no leader")))?;
        Ok((leader, endpoint.host.clone(), i32::from(endpoint.port)))
    };
    let results: Vec<Coordinator> = keys
        .iter()
        .map(|key| {
            let c = Coordinator::default().with_key(str_bytes(key.clone()));
            match lookup(key) {
                Ok((node, host, port)) => c.with_node_id(BrokerId(node)).with_host(str_bytes(host)).with_port(port),
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
