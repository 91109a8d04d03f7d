//! AlterConfigs: replace the whole set of dynamic config overrides of a topic or of the brokers (the
//! cluster-wide defaults for topic configs, such as `log.retention.ms`). IncrementalAlterConfigs shares the
//! validation and commit here.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::{str_bytes, topic_config, Broker};
use crate::controller::records::{config_records, CONFIG_RESOURCE_BROKER, CONFIG_RESOURCE_TOPIC};

pub(super) const RESOURCE_TOPIC: i8 = 2;
pub(super) const RESOURCE_BROKER: i8 = 4;

pub(super) type Refusal = (ResponseError, String);

/// The current overrides of a resource.
pub(super) fn current(broker: &Broker, resource_type: i8, name: &str) -> Result<BTreeMap<String, String>, Refusal> {
    let image = broker.metadata();
    match resource_type {
        RESOURCE_TOPIC => image
            .topics
            .get(name)
            .map(|t| t.configs.clone())
            .ok_or_else(|| (ResponseError::UnknownTopicOrPartition, format!("Topic {name} does not exist."))),
        RESOURCE_BROKER => {
            if !name.is_empty() && name != broker.node_id().to_string() {
                return Err((ResponseError::InvalidRequest, format!("Unexpected broker id {name}")));
            }
            Ok(image.broker_configs.clone())
        }
        other => Err((ResponseError::InvalidRequest, format!("Unsupported resource type {other}"))),
    }
}

/// Validates a new set of overrides and, unless `validate_only`, commits it.
pub(super) fn replace(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
    now_ms: i64,
) -> Result<(), Refusal> {
    let previous = current(broker, resource_type, name)?;
    for (key, value) in &configs {
        let topic_key = match resource_type {
            RESOURCE_TOPIC => key.as_str(),
            _ => topic_config::TOPIC_CONFIGS
                .iter()
                .find(|d| d.broker_key == Some(key.as_str()))
                .map(|d| d.name)
                .ok_or_else(|| (ResponseError::InvalidConfig, format!("Cannot update {key} dynamically on potok")))?,
        };
        topic_config::validate(topic_key, value).map_err(|m| (ResponseError::InvalidConfig, m))?;
    }
    if validate_only {
        return Ok(());
    }
    let records = match resource_type {
        RESOURCE_TOPIC => config_records(CONFIG_RESOURCE_TOPIC, name, &previous, &configs),
        _ => config_records(CONFIG_RESOURCE_BROKER, "", &previous, &configs),
    };
    if records.is_empty() {
        return Ok(());
    }
    broker.commit_metadata(&records, now_ms).map_err(|e| (ResponseError::UnknownServerError, e.to_string()))
}

pub(super) fn handle(broker: &Broker, request: AlterConfigsRequest, now_ms: i64) -> AlterConfigsResponse {
    let responses = request
        .resources
        .into_iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let mut configs = BTreeMap::new();
            let mut null_value = None;
            for c in r.configs {
                match c.value {
                    Some(v) => {
                        configs.insert(c.name.to_string(), v.to_string());
                    }
                    None => null_value = Some(c.name.to_string()),
                }
            }
            let result = match null_value {
                Some(key) => Err((ResponseError::InvalidRequest, format!("Null value not supported for config {key}"))),
                None => replace(broker, r.resource_type, &name, configs, request.validate_only, now_ms),
            };
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name);
            match result {
                Ok(()) => response,
                Err((error, msg)) => response.with_error_code(error.code()).with_error_message(Some(str_bytes(msg))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}
