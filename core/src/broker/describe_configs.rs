//! DescribeConfigs: every config of a topic (effective value and where it comes from) or of the broker.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::topic_config::{self, ConfigSource, ConfigType};
use super::{str_bytes, Broker};
use crate::controller::alter_configs::{current, RESOURCE_BROKER, RESOURCE_TOPIC};

/// DescribeConfigs' source for a dynamic per-broker or cluster-wide broker config.
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

fn entry(name: &str, value: String, source: i8, kind: ConfigType, version: i16) -> DescribeConfigsResourceResult {
    let mut e = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(name))
        .with_value(Some(str_bytes(value)))
        .with_config_source(source)
        .with_read_only(false);
    if version >= 3 {
        e = e.with_config_type(kind as i8);
    }
    e
}

/// A socket buffer size as Kafka's key holds it: -1 for the OS's own sizing.
fn buffer_size(size: Option<u32>) -> String {
    size.map_or_else(|| "-1".to_string(), |n| n.to_string())
}

fn broker_entries(broker: &Broker, version: i16) -> Vec<(String, DescribeConfigsResourceResult)> {
    let image = broker.metadata();
    let mut out: BTreeMap<String, DescribeConfigsResourceResult> = BTreeMap::new();
    let config = broker.config();
    let fixed = [
        ("node.id", config.node_id.to_string(), ConfigType::Int),
        ("num.partitions", config.num_partitions.to_string(), ConfigType::Int),
        ("default.replication.factor", config.default_replication_factor.to_string(), ConfigType::Int),
        ("auto.create.topics.enable", config.auto_create_topics_enable.to_string(), ConfigType::Boolean),
        ("delete.topic.enable", config.delete_topic_enable.to_string(), ConfigType::Boolean),
        ("log.dirs", broker.log_dir().display().to_string(), ConfigType::String),
        ("socket.request.max.bytes", config.socket_request_max_bytes.to_string(), ConfigType::Int),
        ("socket.send.buffer.bytes", buffer_size(config.socket_send_buffer_bytes), ConfigType::Int),
        ("socket.receive.buffer.bytes", buffer_size(config.socket_receive_buffer_bytes), ConfigType::Int),
        ("group.initial.rebalance.delay.ms", config.group_initial_rebalance_delay_ms.to_string(), ConfigType::Int),
        ("log.retention.check.interval.ms", config.log_retention_check_interval_ms.to_string(), ConfigType::Long),
    ];
    for (name, value, kind) in fixed {
        let source = if config.explicit.contains_key(name) { STATIC_BROKER_CONFIG } else { DEFAULT_CONFIG };
        out.insert(name.to_string(), entry(name, value, source, kind, version));
    }
    for (def, value, source) in topic_config::effective(&BTreeMap::new(), config, &image.broker_configs) {
        let Some(key) = def.broker_key else { continue };
        let source = match source {
            ConfigSource::DynamicDefaultBrokerConfig => DYNAMIC_DEFAULT_BROKER_CONFIG,
            ConfigSource::StaticBrokerConfig => STATIC_BROKER_CONFIG,
            _ => DEFAULT_CONFIG,
        };
        out.insert(key.to_string(), entry(key, value, source, def.kind, version));
    }
    for (key, value) in &config.explicit {
        out.entry(key.clone())
            .or_insert_with(|| entry(key, value.clone(), STATIC_BROKER_CONFIG, ConfigType::String, version));
    }
    out.into_iter().collect()
}

pub(super) fn handle(broker: &Broker, request: DescribeConfigsRequest, version: i16) -> DescribeConfigsResponse {
    let results = request
        .resources
        .into_iter()
        .map(|r| {
            let name = r.resource_name.to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let entries: Vec<(String, DescribeConfigsResourceResult)> =
                match current(&broker.metadata(), r.resource_type, &name) {
                    Err((error, msg)) => {
                        return result.with_error_code(error.code()).with_error_message(Some(str_bytes(msg)))
                    }
                    Ok(overrides) if r.resource_type == RESOURCE_TOPIC => {
                        let image = broker.metadata();
                        topic_config::effective(&overrides, broker.config(), &image.broker_configs)
                            .into_iter()
                            .map(|(def, value, source)| {
                                (def.name.to_string(), entry(def.name, value, source as i8, def.kind, version))
                            })
                            .collect()
                    }
                    Ok(_) if r.resource_type == RESOURCE_BROKER => broker_entries(broker, version),
                    Ok(_) => return result.with_error_code(ResponseError::InvalidRequest.code()),
                };
            // A null or empty key list both mean every config, as in Kafka's ConfigHelper (kafka-python and
            // kafka-protocol based clients send an empty list).
            let wanted: Option<Vec<String>> = r
                .configuration_keys
                .filter(|keys| !keys.is_empty())
                .map(|keys| keys.iter().map(|k| k.to_string()).collect());
            let configs = entries
                .into_iter()
                .filter(|(name, _)| wanted.as_ref().is_none_or(|w| w.contains(name)))
                .map(|(_, e)| e)
                .collect();
            result.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
