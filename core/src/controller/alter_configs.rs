//! AlterConfigs: replace the whole set of dynamic config overrides of a topic or of the brokers (the
//! cluster-wide defaults for topic configs, such as `log.retention.ms`). IncrementalAlterConfigs shares the
//! validation and commit here.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::image::MetadataImage;
use super::quorum::{Draft, QuorumController};
use super::records::{config_records, CONFIG_RESOURCE_BROKER, CONFIG_RESOURCE_TOPIC};
use super::topic_config;
use crate::broker::str_bytes;

pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;

pub(crate) type Refusal = (ResponseError, String);

/// The current overrides of a resource.
pub(crate) fn current(
    image: &MetadataImage,
    resource_type: i8,
    name: &str,
) -> Result<BTreeMap<String, String>, Refusal> {
    match resource_type {
        RESOURCE_TOPIC => image
            .topics
            .get(name)
            .map(|t| t.configs.clone())
            .ok_or_else(|| (ResponseError::UnknownTopicOrPartition, format!("Topic {name} does not exist."))),
        RESOURCE_BROKER => {
            if name.is_empty() {
                return Ok(image.broker_configs.clone());
            }
            let id: i32 =
                name.parse().map_err(|_| (ResponseError::InvalidRequest, format!("Unexpected broker id {name}")))?;
            if !image.brokers.contains_key(&id) {
                return Err((ResponseError::InvalidRequest, format!("Unexpected broker id {name}")));
            }
            Ok(image.broker_overrides.get(&id).cloned().unwrap_or_default())
        }
        other => Err((ResponseError::InvalidRequest, format!("Unsupported resource type {other}"))),
    }
}

/// Validates a new set of overrides and, unless `validate_only`, commits it.
pub(super) fn replace(
    draft: &mut Draft<'_>,
    resource_type: i8,
    name: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), Refusal> {
    let previous = current(&draft.image, resource_type, name)?;
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
        _ => config_records(CONFIG_RESOURCE_BROKER, name, &previous, &configs),
    };
    draft.extend(records);
    Ok(())
}

impl QuorumController {
    pub(super) fn alter_configs(
        &mut self,
        draft: &mut Draft<'_>,
        request: AlterConfigsRequest,
    ) -> AlterConfigsResponse {
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
                    Some(key) => {
                        Err((ResponseError::InvalidRequest, format!("Null value not supported for config {key}")))
                    }
                    None => replace(draft, r.resource_type, &name, configs, request.validate_only),
                };
                let response = AlterConfigsResourceResponse::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name);
                match result {
                    Ok(()) => response,
                    Err((error, msg)) => {
                        response.with_error_code(error.code()).with_error_message(Some(str_bytes(msg)))
                    }
                }
            })
            .collect();
        AlterConfigsResponse::default().with_responses(responses)
    }
}
