//! IncrementalAlterConfigs: SET, DELETE, APPEND or SUBTRACT individual configs of a topic or of the brokers.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::alter_configs::{current, replace, Refusal, RESOURCE_TOPIC};
use super::quorum::{Draft, QuorumController};
use super::topic_config;
use crate::broker::str_bytes;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

impl QuorumController {
    pub(super) fn incremental_alter_configs(
        &mut self,
        draft: &mut Draft<'_>,
        request: IncrementalAlterConfigsRequest,
    ) -> IncrementalAlterConfigsResponse {
        let responses = request
            .resources
            .into_iter()
            .map(|r| {
                let name = r.resource_name.to_string();
                let result = (|| -> Result<(), Refusal> {
                    let mut configs = current(&draft.image, r.resource_type, &name)?;
                    for c in &r.configs {
                        let key = c.name.to_string();
                        let value = c.value.as_ref().map(|v| v.to_string());
                        let is_list = r.resource_type == RESOURCE_TOPIC
                            && topic_config::find(&key).is_some_and(|d| d.kind == topic_config::ConfigType::List);
                        match c.config_operation {
                            SET => {
                                let v = value
                                    .ok_or((ResponseError::InvalidRequest, format!("Null value for config {key}")))?;
                                configs.insert(key, v);
                            }
                            DELETE => {
                                configs.remove(&key);
                            }
                            APPEND | SUBTRACT if !is_list => {
                                return Err((
                                    ResponseError::InvalidConfig,
                                    format!("Config {key} is not a list: APPEND and SUBTRACT need a list config"),
                                ));
                            }
                            APPEND | SUBTRACT => {
                                let v = value
                                    .ok_or((ResponseError::InvalidRequest, format!("Null value for config {key}")))?;
                                let existing = configs.get(&key).cloned().unwrap_or_else(|| {
                                    topic_config::value_of(&key, &configs, &self.config, &draft.image.broker_configs)
                                });
                                let mut items: Vec<String> = existing
                                    .split(',')
                                    .map(str::trim)
                                    .filter(|s| !s.is_empty())
                                    .map(String::from)
                                    .collect();
                                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                                    if c.config_operation == APPEND {
                                        if !items.iter().any(|i| i == item) {
                                            items.push(item.to_string());
                                        }
                                    } else {
                                        items.retain(|i| i != item);
                                    }
                                }
                                configs.insert(key, items.join(","));
                            }
                            other => {
                                return Err((
                                    ResponseError::InvalidRequest,
                                    format!("Unknown config operation {other}"),
                                ))
                            }
                        }
                    }
                    replace(draft, r.resource_type, &name, configs, request.validate_only)
                })();
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
        IncrementalAlterConfigsResponse::default().with_responses(responses)
    }
}
