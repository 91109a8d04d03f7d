//! CreatePartitions: grow a topic to `count` partitions (never shrink it), with Kafka's checks and messages.
//! Every topic is checked before any grows; a request adding more partitions than one operation may record is
//! refused whole (POLICY_VIOLATION), before anything is written.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::topic_creation::Refusal;
use super::{str_bytes, Broker};
use crate::controller;

/// Checks one topic's growth; returns how many partitions it adds.
fn validate(broker: &Broker, t: &CreatePartitionsTopic) -> Result<i64, Refusal> {
    let name = t.name.0.as_str();
    let image = broker.metadata();
    let Some(topic) = image.topics.get(name) else {
        return Err((ResponseError::UnknownTopicOrPartition, format!("The topic '{name}' does not exist.")));
    };
    let current = topic.partitions.len() as i32;
    if t.count == current {
        return Err((ResponseError::InvalidPartitions, format!("Topic already has {current} partition(s).")));
    }
    if t.count < current {
        return Err((
            ResponseError::InvalidPartitions,
            format!("The topic {name} currently has {current} partition(s); {} would not be an increase.", t.count),
        ));
    }
    let additional = i64::from(t.count) - i64::from(current);
    if let Some(assignments) = &t.assignments {
        if assignments.len() as i64 != additional {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                    assignments.len()
                ),
            ));
        }
        let node = broker.node_id();
        if assignments.iter().any(|a| a.broker_ids.len() != 1 || a.broker_ids[0].0 != node) {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                format!("Each new partition needs exactly one replica, on broker {node}."),
            ));
        }
    }
    Ok(additional)
}

pub(super) fn handle(
    broker: &Broker,
    request: CreatePartitionsRequest,
    _version: i16,
    now_ms: i64,
) -> CreatePartitionsResponse {
    let validated: Vec<Result<i64, Refusal>> = request.topics.iter().map(|t| validate(broker, t)).collect();
    // Kafka writes one record per new partition. (Kafka 4.1.1 itself answers UNKNOWN_SERVER_ERROR past the
    // bound, and runs out of memory for a count near 2^31; the bound's own error is POLICY_VIOLATION.)
    let additional: i64 = validated.iter().flatten().sum();
    let too_many = additional > controller::MAX_RECORDS_PER_USER_OP as i64;
    let results = request
        .topics
        .into_iter()
        .zip(validated)
        .map(|(t, validated)| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let outcome = match validated {
                _ if too_many => Err((ResponseError::PolicyViolation, controller::EXCESSIVE_BATCH_MESSAGE.to_string())),
                Err(refused) => Err(refused),
                Ok(_) if request.validate_only => Ok(()),
                Ok(_) => broker.grow_topic(t.name.0.as_str(), t.count, now_ms),
            };
            match outcome {
                Ok(()) => result,
                Err((error, msg)) => result.with_error_code(error.code()).with_error_message(Some(str_bytes(msg))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
