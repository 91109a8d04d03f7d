//! Topic configs: the keys Kafka knows, their types and defaults, where a topic's effective value comes from
//! (topic override, dynamic broker default, static broker config, built-in default), and validation.

use std::collections::BTreeMap;

use crate::broker::BrokerConfig;
use crate::storage::LogConfig;

/// Where a config value comes from, with DescribeConfigs' `config_source` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    TopicConfig = 1,
    DynamicDefaultBrokerConfig = 3,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
}

/// DescribeConfigs' `config_type` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// One topic config key.
#[derive(Debug)]
pub struct ConfigDef {
    pub name: &'static str,
    /// The broker config that supplies the default for every topic.
    pub broker_key: Option<&'static str>,
    pub kind: ConfigType,
    pub default: &'static str,
}

const fn def(
    name: &'static str,
    broker_key: Option<&'static str>,
    kind: ConfigType,
    default: &'static str,
) -> ConfigDef {
    ConfigDef { name, broker_key, kind, default }
}

use ConfigType as T;

/// Every topic config Apache Kafka 4 has, with its default.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    def("cleanup.policy", Some("log.cleanup.policy"), T::List, "delete"),
    def("compression.type", Some("compression.type"), T::String, "producer"),
    def("delete.retention.ms", Some("log.cleaner.delete.retention.ms"), T::Long, "86400000"),
    def("file.delete.delay.ms", Some("log.segment.delete.delay.ms"), T::Long, "60000"),
    def("flush.messages", Some("log.flush.interval.messages"), T::Long, "9223372036854775807"),
    def("flush.ms", Some("log.flush.interval.ms"), T::Long, "9223372036854775807"),
    def("follower.replication.throttled.replicas", None, T::List, ""),
    def("index.interval.bytes", Some("log.index.interval.bytes"), T::Int, "4096"),
    def("leader.replication.throttled.replicas", None, T::List, ""),
    def("local.retention.bytes", Some("log.local.retention.bytes"), T::Long, "-2"),
    def("local.retention.ms", Some("log.local.retention.ms"), T::Long, "-2"),
    def("max.compaction.lag.ms", Some("log.cleaner.max.compaction.lag.ms"), T::Long, "9223372036854775807"),
    def("max.message.bytes", Some("message.max.bytes"), T::Int, "1048588"),
    def("message.timestamp.after.max.ms", Some("log.message.timestamp.after.max.ms"), T::Long, "3600000"),
    def("message.timestamp.before.max.ms", Some("log.message.timestamp.before.max.ms"), T::Long, "9223372036854775807"),
    def("message.timestamp.type", Some("log.message.timestamp.type"), T::String, "CreateTime"),
    def("min.cleanable.dirty.ratio", Some("log.cleaner.min.cleanable.ratio"), T::Double, "0.5"),
    def("min.compaction.lag.ms", Some("log.cleaner.min.compaction.lag.ms"), T::Long, "0"),
    def("min.insync.replicas", Some("min.insync.replicas"), T::Int, "1"),
    def("preallocate", Some("log.preallocate"), T::Boolean, "false"),
    def("remote.storage.enable", None, T::Boolean, "false"),
    def("retention.bytes", Some("log.retention.bytes"), T::Long, "-1"),
    def("retention.ms", Some("log.retention.ms"), T::Long, "604800000"),
    def("segment.bytes", Some("log.segment.bytes"), T::Int, "1073741824"),
    def("segment.index.bytes", Some("log.index.size.max.bytes"), T::Int, "10485760"),
    def("segment.jitter.ms", Some("log.roll.jitter.ms"), T::Long, "0"),
    def("segment.ms", Some("log.roll.ms"), T::Long, "604800000"),
    def("unclean.leader.election.enable", Some("unclean.leader.election.enable"), T::Boolean, "false"),
];

pub fn find(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks a topic config value; the error says what is wrong with it.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let def = find(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let v = value.trim();
    let type_ok = match def.kind {
        T::Boolean => v == "true" || v == "false",
        T::Int => v.parse::<i32>().is_ok(),
        T::Long => v.parse::<i64>().is_ok(),
        T::Double => v.parse::<f64>().is_ok(),
        T::String | T::List => true,
    };
    if !type_ok {
        return Err(format!("Invalid value {value} for configuration {name}: not a valid {:?}", def.kind));
    }
    match name {
        "cleanup.policy" => {
            let ok = v.split(',').map(str::trim).all(|p| p == "delete" || p == "compact") && !v.is_empty();
            if !ok {
                return Err(format!(
                    "Invalid value {value} for configuration cleanup.policy: must be delete and/or compact"
                ));
            }
        }
        "compression.type" if v != "producer" => {
            // Recompressing on the broker is not implemented: batches are always stored as the producer sent them.
            return Err(format!(
                "Invalid value {value} for configuration compression.type: potok stores batches as produced; only 'producer' is supported"
            ));
        }
        "min.insync.replicas" if v.parse::<i32>().map_or(true, |n| n < 1) => {
            return Err(format!("Invalid value {value} for configuration min.insync.replicas: must be at least 1"));
        }
        _ => {}
    }
    LogConfig::default().set(name, v).map(|_| ()).map_err(|e| e.to_string())
}

/// The effective value of every topic config for a topic with `overrides`, with its source.
pub fn effective(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
    dynamic_broker: &BTreeMap<String, String>,
) -> Vec<(&'static ConfigDef, String, ConfigSource)> {
    TOPIC_CONFIGS
        .iter()
        .map(|d| {
            let (v, source) = effective_value(d, overrides, broker, dynamic_broker);
            (d, v, source)
        })
        .collect()
}

/// The effective value of one topic config, with its source: the topic's override, else the dynamic broker
/// default, else server.properties, else Kafka's default.
fn effective_value(
    def: &ConfigDef,
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
    dynamic_broker: &BTreeMap<String, String>,
) -> (String, ConfigSource) {
    if let Some(v) = overrides.get(def.name) {
        return (v.clone(), ConfigSource::TopicConfig);
    }
    if let Some(v) = def.broker_key.and_then(|k| dynamic_broker.get(k)) {
        return (v.clone(), ConfigSource::DynamicDefaultBrokerConfig);
    }
    match static_broker_value(def, broker) {
        Some(v) => (v, ConfigSource::StaticBrokerConfig),
        None => (def.default.to_string(), ConfigSource::DefaultConfig),
    }
}

/// The broker's configured default for a topic config, if server.properties set one.
fn static_broker_value(def: &ConfigDef, broker: &BrokerConfig) -> Option<String> {
    let set = |keys: &[&str]| keys.iter().any(|k| broker.explicit.contains_key(*k));
    let log = &broker.log;
    let value = match def.name {
        "retention.ms" if set(&["log.retention.ms", "log.retention.minutes", "log.retention.hours"]) => {
            log.retention_ms.to_string()
        }
        "segment.ms" if set(&["log.roll.ms", "log.roll.hours"]) => log.segment_ms.to_string(),
        "retention.bytes" if set(&["log.retention.bytes"]) => log.retention_bytes.to_string(),
        "segment.bytes" if set(&["log.segment.bytes"]) => log.segment_bytes.to_string(),
        "segment.index.bytes" if set(&["log.index.size.max.bytes"]) => log.segment_index_bytes.to_string(),
        "index.interval.bytes" if set(&["log.index.interval.bytes"]) => log.index_interval_bytes.to_string(),
        "max.message.bytes" if set(&["message.max.bytes"]) => log.max_message_bytes.to_string(),
        "flush.messages" if set(&["log.flush.interval.messages"]) => log.flush_messages.to_string(),
        "flush.ms" if set(&["log.flush.interval.ms"]) => log.flush_ms.to_string(),
        "min.insync.replicas" if set(&["min.insync.replicas"]) => broker.min_insync_replicas.to_string(),
        "cleanup.policy" if set(&["log.cleanup.policy"]) => broker.cleanup_policy.clone(),
        "unclean.leader.election.enable" if set(&["unclean.leader.election.enable"]) => {
            broker.unclean_leader_election_enable.to_string()
        }
        "delete.retention.ms" if set(&["log.cleaner.delete.retention.ms"]) => log.delete_retention_ms.to_string(),
        "min.cleanable.dirty.ratio" if set(&["log.cleaner.min.cleanable.ratio"]) => {
            log.min_cleanable_dirty_ratio.to_string()
        }
        "min.compaction.lag.ms" if set(&["log.cleaner.min.compaction.lag.ms"]) => log.min_compaction_lag_ms.to_string(),
        "max.compaction.lag.ms" if set(&["log.cleaner.max.compaction.lag.ms"]) => log.max_compaction_lag_ms.to_string(),
        "message.timestamp.before.max.ms" if set(&["log.message.timestamp.before.max.ms"]) => {
            log.message_timestamp_before_max_ms.to_string()
        }
        "message.timestamp.after.max.ms" if set(&["log.message.timestamp.after.max.ms"]) => {
            log.message_timestamp_after_max_ms.to_string()
        }
        "message.timestamp.type" if set(&["log.message.timestamp.type"]) => match log.message_timestamp_type {
            crate::record::TimestampType::CreateTime => "CreateTime".into(),
            crate::record::TimestampType::LogAppendTime => "LogAppendTime".into(),
        },
        _ => return None,
    };
    Some(value)
}

/// The effective value of one config.
pub fn value_of(
    name: &str,
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
    dynamic_broker: &BTreeMap<String, String>,
) -> String {
    TOPIC_CONFIGS
        .iter()
        .find(|d| d.name == name)
        .map(|d| effective_value(d, overrides, broker, dynamic_broker).0)
        .unwrap_or_default()
}

/// The log settings of a topic with `overrides`.
pub fn log_config(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
    dynamic_broker: &BTreeMap<String, String>,
) -> LogConfig {
    let mut config = broker.log.clone();
    for (def, value, source) in effective(overrides, broker, dynamic_broker) {
        if source == ConfigSource::TopicConfig || source == ConfigSource::DynamicDefaultBrokerConfig {
            // Values were validated when they were set.
            let _ = config.set(def.name, &value);
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_problem() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("retention.ms", "soon").unwrap_err().contains("retention.ms"));
        assert!(validate("no.such.config", "1").unwrap_err().contains("Unknown"));
        assert!(validate("cleanup.policy", "sometimes").is_err());
        assert!(validate("min.insync.replicas", "0").is_err());
    }

    #[test]
    fn sources_follow_precedence() {
        let mut broker = BrokerConfig::default();
        broker.set("log.retention.hours", "1").unwrap();
        let overrides = BTreeMap::from([("segment.bytes".to_string(), "1000000".to_string())]);
        let all = effective(&overrides, &broker, &BTreeMap::new());
        let get = |n: &str| all.iter().find(|(d, _, _)| d.name == n).map(|(_, v, s)| (v.clone(), *s)).unwrap();
        assert_eq!(get("segment.bytes"), ("1000000".into(), ConfigSource::TopicConfig));
        assert_eq!(get("retention.ms"), ("3600000".into(), ConfigSource::StaticBrokerConfig));
        assert_eq!(get("cleanup.policy"), ("delete".into(), ConfigSource::DefaultConfig));
        assert_eq!(log_config(&overrides, &broker, &BTreeMap::new()).segment_bytes, 1_000_000);
    }
}
