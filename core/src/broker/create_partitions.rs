//! CreatePartitions: grow a topic to `count` partitions (never shrink it).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{str_bytes, Broker};
use crate::controller;

pub(super) fn handle(
    broker: &Broker,
    request: CreatePartitionsRequest,
    _version: i16,
    now_ms: i64,
) -> CreatePartitionsResponse {
    let results = request
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let refuse = |error: ResponseError, msg: String| {
                CreatePartitionsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(msg)))
            };
            let image = broker.metadata();
            let Some(topic) = image.topics.get(&name) else {
                return refuse(ResponseError::UnknownTopicOrPartition, format!("The topic '{name}' does not exist."));
            };
            let current = topic.partitions.len() as i32;
            if t.count < current {
                return refuse(
                    ResponseError::InvalidPartitions,
                    format!(
                        "Topic currently has {current} partitions, which is higher than the requested {}.",
                        t.count
                    ),
                );
            }
            if t.count == current {
                return refuse(ResponseError::InvalidPartitions, format!("Topic already has {current} partitions."));
            }
            if let Some(assignments) = &t.assignments {
                let node = broker.node_id();
                if assignments.len() as i32 != t.count - current
                    || assignments.iter().any(|a| a.broker_ids.len() != 1 || a.broker_ids[0].0 != node)
                {
                    return refuse(
                        ResponseError::InvalidReplicaAssignment,
                        format!("Each new partition needs exactly one replica, on broker {node}."),
                    );
                }
            }
            if request.validate_only {
                return result;
            }
            let node = broker.node_id();
            let assignments = vec![vec![node]; (t.count - current).max(0) as usize];
            let records = controller::partition_records(topic.id, current, &assignments);
            match broker.commit_metadata(&records, now_ms) {
                Ok(()) => result,
                Err(e) => refuse(ResponseError::UnknownServerError, e.to_string()),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
