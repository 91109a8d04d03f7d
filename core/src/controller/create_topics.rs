//! CreateTopics on the controller: validate names, partition counts, replication factors, assignments and
//! configs the way Kafka does (with its error codes and messages), place the replicas, and record the topics
//! (unless `validate_only`).

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::placement::{Placer, UsableBroker};
use super::quorum::{Draft, QuorumController};
use super::topic_config;
use crate::broker::{check_topic_name, str_bytes};

type Refusal = (ResponseError, String);

/// A topic to create, checked: its replica assignments (leader first) and config overrides.
struct Checked {
    assignments: Vec<Vec<i32>>,
    configs: BTreeMap<String, String>,
}

impl QuorumController {
    /// Checks a topic to create and places its replicas.
    fn check_topic(&mut self, image: &super::MetadataImage, topic: &CreatableTopic) -> Result<Checked, Refusal> {
        let name = topic.name.0.as_str();
        check_topic_name(name).map_err(|m| (ResponseError::InvalidTopicException, m))?;
        if image.topics.contains_key(name) {
            return Err((ResponseError::TopicAlreadyExists, format!("Topic '{name}' already exists.")));
        }
        let active = |id: i32| QuorumController::is_active(image, id);
        let assignments = if topic.assignments.is_empty() {
            if topic.replication_factor < -1 || topic.replication_factor == 0 {
                return Err((
                    ResponseError::InvalidReplicationFactor,
                    "Replication factor must be larger than 0, or -1 to use the default value.".into(),
                ));
            }
            if topic.num_partitions < -1 || topic.num_partitions == 0 {
                return Err((
                    ResponseError::InvalidPartitions,
                    "Number of partitions was set to an invalid non-positive value.".into(),
                ));
            }
            let partitions = if topic.num_partitions == -1 { self.config.num_partitions } else { topic.num_partitions };
            let rf = if topic.replication_factor == -1 {
                self.config.default_replication_factor
            } else {
                topic.replication_factor
            };
            let mut placer = Placer::new(&mut self.rng, usable_brokers(image));
            let unable = |m: String| {
                (
                    ResponseError::InvalidReplicationFactor,
                    format!("Unable to replicate the partition {rf} time(s): {m}"),
                )
            };
            placer.check(i32::from(rf)).map_err(|e| unable(e.0))?;
            let mut assignments = Vec::with_capacity(partitions.max(0) as usize);
            for _ in 0..partitions {
                let replicas = placer.place(i32::from(rf)).map_err(|e| unable(e.0))?;
                if !replicas.iter().any(|r| active(*r)) {
                    return Err(unable("All brokers are currently fenced or in controlled shutdown.".into()));
                }
                assignments.push(replicas);
            }
            assignments
        } else {
            if topic.replication_factor != -1 {
                return Err((
                    ResponseError::InvalidRequest,
                    "A manual partition assignment was specified, but replication factor was not set to -1.".into(),
                ));
            }
            if topic.num_partitions != -1 {
                return Err((
                    ResponseError::InvalidRequest,
                    "A manual partition assignment was specified, but numPartitions was not set to -1.".into(),
                ));
            }
            let mut by_index: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
            let mut replication_factor = None;
            for a in &topic.assignments {
                if by_index.contains_key(&a.partition_index) {
                    return Err((
                        ResponseError::InvalidReplicaAssignment,
                        format!("Found multiple manual partition assignments for partition {}", a.partition_index),
                    ));
                }
                let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
                validate_manual_assignment(image, &replicas, replication_factor)?;
                replication_factor = Some(replicas.len());
                if !replicas.iter().any(|r| active(*r)) {
                    return Err((
                        ResponseError::InvalidReplicaAssignment,
                        format!(
                            "All brokers specified in the manual partition assignment for partition {} are fenced or in controlled shutdown.",
                            a.partition_index
                        ),
                    ));
                }
                by_index.insert(a.partition_index, replicas);
            }
            if by_index.keys().enumerate().any(|(i, &p)| p != i as i32) {
                return Err((
                    ResponseError::InvalidReplicaAssignment,
                    "partitions should be a consecutive 0-based integer sequence".into(),
                ));
            }
            by_index.into_values().collect()
        };
        let mut configs = BTreeMap::new();
        for c in &topic.configs {
            let key = c.name.as_str();
            let Some(value) = c.value.as_ref() else {
                return Err((
                    ResponseError::InvalidConfig,
                    format!("Null value not supported for topic configs: {key}"),
                ));
            };
            // The coordinators write their internal topics uncompressed themselves, so Kafka's setting for
            // __transaction_state is kept as Kafka has it although potok does not recompress user topics.
            let internal_setting = super::INTERNAL_TOPICS.contains(&name) && key == "compression.type";
            if !internal_setting {
                topic_config::validate(key, value.as_str()).map_err(|m| (ResponseError::InvalidConfig, m))?;
            }
            configs.insert(key.to_string(), value.to_string());
        }
        Ok(Checked { assignments, configs })
    }
}

/// The brokers new replicas may go to: registered and not shutting down (fenced ones only as followers).
pub(super) fn usable_brokers(image: &super::MetadataImage) -> Vec<UsableBroker> {
    image
        .brokers
        .values()
        .filter(|b| !b.in_controlled_shutdown)
        .map(|b| UsableBroker { id: b.id, rack: b.rack.clone(), fenced: b.fenced })
        .collect()
}

/// Kafka's checks of a manual replica assignment.
pub(super) fn validate_manual_assignment(
    image: &super::MetadataImage,
    replicas: &[i32],
    replication_factor: Option<usize>,
) -> Result<(), Refusal> {
    let bad = |m: String| (ResponseError::InvalidReplicaAssignment, m);
    if replicas.is_empty() {
        return Err(bad("The manual partition assignment includes an empty replica list.".into()));
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    for (i, id) in sorted.iter().enumerate() {
        if !image.brokers.contains_key(id) {
            return Err(bad(format!(
                "The manual partition assignment includes broker {id}, but no such broker is registered."
            )));
        }
        if i > 0 && sorted[i - 1] == *id {
            return Err(bad(format!("The manual partition assignment includes the broker {id} more than once.")));
        }
    }
    if let Some(rf) = replication_factor.filter(|rf| *rf != replicas.len()) {
        return Err(bad(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
            replicas.len()
        )));
    }
    Ok(())
}

impl QuorumController {
    pub(super) fn create_topics(
        &mut self,
        draft: &mut Draft<'_>,
        request: CreateTopicsRequest,
        version: i16,
    ) -> CreateTopicsResponse {
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
                let Checked { assignments, configs } = match self.check_topic(&draft.image, topic) {
                    Ok(v) => v,
                    Err((error, msg)) => {
                        return result.with_error_code(error.code()).with_error_message(Some(str_bytes(msg)))
                    }
                };
                let partitions = assignments.len() as i32;
                let rf = assignments.first().map_or(0, |a| a.len() as i16);
                let id = if request.validate_only {
                    uuid::Uuid::nil()
                } else {
                    let id = self.rng.uuid();
                    let image = &draft.image;
                    let active = |r: i32| QuorumController::is_active(image, r);
                    let records = super::topic_records(&name, id, &assignments, &configs, active);
                    draft.extend(records);
                    id
                };
                let described = if version >= 5 {
                    let all = topic_config::effective(&configs, &self.config, &draft.image.broker_configs);
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
                let result = if version >= 5 {
                    result.with_num_partitions(partitions).with_replication_factor(rf)
                } else {
                    result
                };
                if version >= 7 {
                    result.with_topic_id(id)
                } else {
                    result
                }
            })
            .collect();
        CreateTopicsResponse::default().with_topics(results)
    }
}
