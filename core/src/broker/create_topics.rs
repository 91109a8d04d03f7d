//! CreateTopics: validate names, partition counts, replication factors, assignments and configs the way
//! Kafka does (with its error codes and messages), then create the topics (unless `validate_only`).

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{check_topic_name, str_bytes, topic_config, topic_creation, Broker};
use crate::controller;

type Refusal = (ResponseError, String);
/// A validated topic: partitions, replication factor and config overrides.
type Validated = (i32, i16, BTreeMap<String, String>);

/// Checks a topic to create; returns its partition count, replication factor and config overrides.
fn validate(broker: &Broker, topic: &CreatableTopic) -> Result<Validated, Refusal> {
    let name = topic.name.0.as_str();
    check_topic_name(name).map_err(|m| (ResponseError::InvalidTopicException, m))?;
    let image = broker.metadata();
    if let Some(refused) = topic_creation::reserved(name).or_else(|| topic_creation::collision(&image, name)) {
        return Err(refused);
    }
    if image.topics.contains_key(name) {
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

/// The partitions a topic asks for, as Kafka's `validateTotalNumberOfPartitions` counts them.
fn requested_partitions(broker: &Broker, topic: &CreatableTopic) -> i64 {
    if !topic.assignments.is_empty() {
        topic.assignments.len() as i64
    } else if topic.num_partitions == -1 {
        i64::from(broker.config().num_partitions)
    } else {
        i64::from(topic.num_partitions.max(0))
    }
}

pub(super) fn handle(broker: &Broker, request: CreateTopicsRequest, version: i16, now_ms: i64) -> CreateTopicsResponse {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for t in &request.topics {
        *counts.entry(t.name.0.to_string()).or_default() += 1;
    }
    let duplicate = |t: &CreatableTopic| counts[t.name.0.as_str()] > 1;
    // Bounds first, as Kafka's controller checks them before anything else: more than 10,000 partitions in one
    // request, or (below) more metadata records than one operation may write, fail the whole request.
    let total: i64 = request.topics.iter().filter(|t| !duplicate(t)).map(|t| requested_partitions(broker, t)).sum();
    let mut whole_request: Option<Refusal> = (total > controller::MAX_PARTITIONS_PER_BATCH)
        .then(|| (ResponseError::PolicyViolation, "Excessively large number of partitions per request.".to_string()));
    // Every topic is validated before any is created, against the metadata as it was before this request (so
    // two new topics that collide with each other are both created, as in Kafka).
    let validated: Vec<Result<Validated, Refusal>> = request
        .topics
        .iter()
        .map(|topic| {
            if duplicate(topic) {
                let msg = format!("Create topics request from client contains a duplicate topic: {}", topic.name.0);
                return Err((ResponseError::InvalidRequest, msg));
            }
            if let Some(refused) = &whole_request {
                return Err(refused.clone());
            }
            validate(broker, topic)
        })
        .collect();
    // Kafka records a topic as one record, one per config override and one per partition.
    let records: usize =
        validated.iter().flatten().map(|(partitions, _, configs)| 1 + configs.len() + *partitions as usize).sum();
    if whole_request.is_none() && records > controller::MAX_RECORDS_PER_USER_OP {
        whole_request = Some((ResponseError::PolicyViolation, controller::EXCESSIVE_BATCH_MESSAGE.to_string()));
    }
    let results = request
        .topics
        .iter()
        .zip(validated)
        .map(|(topic, validated)| {
            let name = topic.name.0.to_string();
            let result = CreatableTopicResult::default()
                .with_name(topic.name.clone())
                .with_num_partitions(-1)
                .with_replication_factor(-1);
            let validated = match (&whole_request, validated) {
                (Some(refused), _) if !duplicate(topic) => Err(refused.clone()),
                (_, v) => v,
            };
            let (partitions, rf, configs) = match validated {
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
                    Err((error, msg)) => {
                        return result.with_error_code(error.code()).with_error_message(Some(str_bytes(msg)))
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
