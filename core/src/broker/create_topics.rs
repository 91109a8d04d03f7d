//! CreateTopics: validate names, partition counts, replication factors, assignments and configs the way
//! Kafka does (with its error codes and messages), then create the topics (unless `validate_only`).

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{check_topic_name, str_bytes, topic_config, Broker};

type Refusal = (ResponseError, String);

/// Checks a topic to create; returns its partition count, replication factor and config overrides.
fn validate(broker: &Broker, topic: &CreatableTopic) -> Result<(i32, i16, BTreeMap<String, String>), Refusal> {
    let name = topic.name.0.as_str();
    check_topic_name(name).map_err(|m| (ResponseError::InvalidTopicException, m))?;
    if broker.metadata().topics.contains_key(name) {
        return Err((ResponseError::TopicAlreadyExists, format!("Topic '{name}' already exists.")));
    }
    let node = broker.node_id();
    let (partitions, replication_factor) = if topic.assignments.is_empty() {
        let partitions = if topic.num_partitions == -1 { broker.config().num_partitions } else { topic.num_partitions };
        if partitions < 1 {
            return Err((ResponseError::InvalidPartitions, "Number of partitions must be larger than 0.".into()));
        }
        let rf = if topic.replication_factor == -1 {
            broker.config().default_replication_factor
        } else {
            topic.replication_factor
        };
        if rf < 1 {
            return Err((ResponseError::InvalidReplicationFactor, "Replication factor must be larger than 0.".into()));
        }
        (partitions, rf)
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err((
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
            ));
        }
        let mut indexes: Vec<i32> = topic.assignments.iter().map(|a| a.partition_index).collect();
        indexes.sort_unstable();
        if indexes.iter().enumerate().any(|(i, &p)| p != i as i32) {
            return Err((ResponseError::InvalidReplicaAssignment, "Partitions must be numbered 0 to n-1.".into()));
        }
        for a in &topic.assignments {
            if a.broker_ids.is_empty() || a.broker_ids.iter().any(|b| b.0 != node) || a.broker_ids.len() > 1 {
                return Err((
                    ResponseError::InvalidReplicaAssignment,
                    format!("The manual partition assignment includes a broker that is not registered: only broker {node} exists."),
                ));
            }
        }
        (topic.assignments.len() as i32, 1)
    };
    if replication_factor > 1 {
        return Err((
            ResponseError::InvalidReplicationFactor,
            format!(
                "Unable to replicate the partition {replication_factor} time(s): The target replication factor of \
                 {replication_factor} cannot be reached because only 1 broker(s) are registered."
            ),
        ));
    }
    let mut configs = BTreeMap::new();
    for c in &topic.configs {
        let key = c.name.as_str();
        let Some(value) = c.value.as_ref() else {
            return Err((ResponseError::InvalidConfig, format!("Null value not supported for topic configs: {key}")));
        };
        topic_config::validate(key, value.as_str()).map_err(|m| (ResponseError::InvalidConfig, m))?;
        configs.insert(key.to_string(), value.to_string());
    }
    Ok((partitions, replication_factor, configs))
}

pub(super) fn handle(broker: &Broker, request: CreateTopicsRequest, version: i16, now_ms: i64) -> CreateTopicsResponse {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for t in &request.topics {
        *counts.entry(t.name.0.to_string()).or_default() += 1;
    }
    let results = request
        .topics
        .iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let result = CreatableTopicResult::default()
                .with_name(topic.name.clone())
                .with_num_partitions(-1)
                .with_replication_factor(-1);
            if counts[&name] > 1 {
                let msg = format!("Create topics request from client contains a duplicate topic: {name}");
                return result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(msg)));
            }
            let (partitions, rf, configs) = match validate(broker, topic) {
                Ok(v) => v,
                Err((error, msg)) => {
                    return result.with_error_code(error.code()).with_error_message(Some(str_bytes(msg)))
                }
            };
            let id = if request.validate_only {
                uuid::Uuid::nil()
            } else {
                match broker.create_topic(&name, partitions, configs.clone(), now_ms) {
                    Ok(id) => id,
                    Err(e) => {
                        return result
                            .with_error_code(ResponseError::UnknownServerError.code())
                            .with_error_message(Some(str_bytes(e.to_string())))
                    }
                }
            };
            let image = broker.metadata();
            let described = if version >= 5 {
                let all = topic_config::effective(&configs, broker.config(), &image.broker_configs);
                Some(
                    all.into_iter()
                        .map(|(def, value, source)| {
                            CreatableTopicConfigs::default()
                                .with_name(str_bytes(def.name))
                                .with_value(Some(str_bytes(value)))
                                .with_config_source(source as i8)
                        })
                        .collect(),
                )
            } else {
                None
            };
            let result = result.with_configs(described);
            let result =
                if version >= 5 { result.with_num_partitions(partitions).with_replication_factor(rf) } else { result };
            if version >= 7 {
                result.with_topic_id(id)
            } else {
                result
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}
