//! Client configuration: Kafka's own keys, defaults and validation rules (Kafka 4.x Java client defaults:
//! `acks=all`, `enable.idempotence=true`, `linger.ms=5`). A key no potok client knows is an error naming it;
//! keys that only configure the Java client's plumbing (serializer classes, interceptors, metrics) are accepted
//! and ignored, so a course's config files work unchanged.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::client::error::{ClientError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Int,
    Long,
    Bool,
    Str,
    /// A value out of a fixed set.
    Choice(&'static [&'static str]),
    /// Accepted and ignored (Java plumbing).
    Ignored,
}

/// (key, type, default)
type Def = (&'static str, Type, Option<&'static str>);

const COMMON: &[Def] = &[
    ("bootstrap.servers", Type::Str, None),
    ("client.id", Type::Str, None),
    ("request.timeout.ms", Type::Int, Some("30000")),
    ("retry.backoff.ms", Type::Long, Some("100")),
    ("retry.backoff.max.ms", Type::Long, Some("1000")),
    ("reconnect.backoff.ms", Type::Long, Some("50")),
    ("reconnect.backoff.max.ms", Type::Long, Some("1000")),
    ("metadata.max.age.ms", Type::Long, Some("300000")),
    ("socket.connection.setup.timeout.ms", Type::Long, Some("10000")),
    ("socket.connection.setup.timeout.max.ms", Type::Long, Some("30000")),
    ("connections.max.idle.ms", Type::Long, Some("540000")),
    ("security.protocol", Type::Choice(&["PLAINTEXT"]), Some("PLAINTEXT")),
    ("client.dns.lookup", Type::Choice(&["use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"]), None),
    ("receive.buffer.bytes", Type::Int, Some("65536")),
    ("send.buffer.bytes", Type::Int, Some("131072")),
    ("metadata.recovery.strategy", Type::Choice(&["none", "rebootstrap"]), Some("rebootstrap")),
    ("metrics.sample.window.ms", Type::Ignored, None),
    ("metrics.num.samples", Type::Ignored, None),
    ("metrics.recording.level", Type::Ignored, None),
    ("metric.reporters", Type::Ignored, None),
    ("auto.include.jmx.reporter", Type::Ignored, None),
    ("enable.metrics.push", Type::Ignored, None),
    ("interceptor.classes", Type::Ignored, None),
];

const PRODUCER: &[Def] = &[
    ("acks", Type::Choice(&["all", "-1", "0", "1"]), Some("all")),
    ("enable.idempotence", Type::Bool, Some("true")),
    ("batch.size", Type::Int, Some("16384")),
    ("linger.ms", Type::Long, Some("5")),
    ("buffer.memory", Type::Long, Some("33554432")),
    ("max.block.ms", Type::Long, Some("60000")),
    ("retries", Type::Int, Some("2147483647")),
    ("delivery.timeout.ms", Type::Int, Some("120000")),
    ("max.in.flight.requests.per.connection", Type::Int, Some("5")),
    ("compression.type", Type::Choice(&["none", "gzip", "snappy", "lz4", "zstd"]), Some("none")),
    ("compression.gzip.level", Type::Ignored, None),
    ("compression.lz4.level", Type::Ignored, None),
    ("compression.zstd.level", Type::Ignored, None),
    ("max.request.size", Type::Int, Some("1048576")),
    ("partitioner.class", Type::Ignored, None),
    ("partitioner.ignore.keys", Type::Bool, Some("false")),
    ("partitioner.adaptive.partitioning.enable", Type::Bool, Some("true")),
    ("partitioner.availability.timeout.ms", Type::Long, Some("0")),
    ("transactional.id", Type::Str, None),
    ("transaction.timeout.ms", Type::Int, Some("60000")),
    ("key.serializer", Type::Ignored, None),
    ("value.serializer", Type::Ignored, None),
    ("metadata.max.idle.ms", Type::Long, Some("300000")),
];

const CONSUMER: &[Def] = &[
    ("group.id", Type::Str, None),
    ("group.instance.id", Type::Str, None),
    ("group.protocol", Type::Choice(&["classic", "consumer", "CLASSIC", "CONSUMER"]), Some("classic")),
    ("group.remote.assignor", Type::Str, None),
    ("partition.assignment.strategy", Type::Str, Some("range,cooperative-sticky")),
    ("session.timeout.ms", Type::Int, Some("45000")),
    ("heartbeat.interval.ms", Type::Int, Some("3000")),
    ("max.poll.interval.ms", Type::Int, Some("300000")),
    ("max.poll.records", Type::Int, Some("500")),
    ("fetch.min.bytes", Type::Int, Some("1")),
    ("fetch.max.bytes", Type::Int, Some("52428800")),
    ("fetch.max.wait.ms", Type::Int, Some("500")),
    ("max.partition.fetch.bytes", Type::Int, Some("1048576")),
    ("enable.auto.commit", Type::Bool, Some("true")),
    ("auto.commit.interval.ms", Type::Int, Some("5000")),
    ("auto.offset.reset", Type::Choice(&["earliest", "latest", "none"]), Some("latest")),
    ("isolation.level", Type::Choice(&["read_uncommitted", "read_committed"]), Some("read_uncommitted")),
    ("check.crcs", Type::Bool, Some("true")),
    ("client.rack", Type::Str, Some("")),
    ("exclude.internal.topics", Type::Bool, Some("true")),
    ("allow.auto.create.topics", Type::Bool, Some("true")),
    ("default.api.timeout.ms", Type::Int, Some("60000")),
    ("key.deserializer", Type::Ignored, None),
    ("value.deserializer", Type::Ignored, None),
];

const ADMIN: &[Def] = &[("default.api.timeout.ms", Type::Int, Some("60000"))];

/// Which client a config is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Producer,
    Consumer,
    Admin,
}

impl ClientKind {
    fn defs(self) -> &'static [Def] {
        match self {
            ClientKind::Producer => PRODUCER,
            ClientKind::Consumer => CONSUMER,
            ClientKind::Admin => ADMIN,
        }
    }
}

/// Validated config properties with Kafka's defaults filled in.
#[derive(Debug, Clone)]
pub struct Properties {
    values: BTreeMap<&'static str, String>,
    /// Keys the user set explicitly (some rules depend on it, e.g. idempotence and acks).
    explicit: Vec<&'static str>,
}

impl Properties {
    /// Parses config pairs for a client kind: unknown keys and malformed values are errors naming the key.
    pub fn parse(kind: ClientKind, pairs: &[(String, String)]) -> Result<Properties> {
        let mut values = BTreeMap::new();
        for &(key, _, default) in COMMON.iter().chain(kind.defs()) {
            if let Some(default) = default {
                values.insert(key, default.to_string());
            }
        }
        let mut explicit = Vec::new();
        for (key, value) in pairs {
            let Some(&(name, ty, _)) = COMMON.iter().chain(kind.defs()).find(|d| d.0 == key) else {
                return Err(ClientError::config(key, format!("unknown {kind:?} config")));
            };
            let value = value.trim();
            let ok = match ty {
                Type::Int => value.parse::<i32>().is_ok(),
                Type::Long => value.parse::<i64>().is_ok(),
                Type::Bool => matches!(value, "true" | "false"),
                Type::Str | Type::Ignored => true,
                Type::Choice(choices) => choices.contains(&value),
            };
            if !ok {
                let expected = match ty {
                    Type::Int => "a 32-bit integer".to_string(),
                    Type::Long => "a 64-bit integer".to_string(),
                    Type::Bool => "true or false".to_string(),
                    Type::Choice(c) => format!("one of {}", c.join(", ")),
                    _ => String::new(),
                };
                return Err(ClientError::config(key, format!("{value:?} is not {expected}")));
            }
            if ty != Type::Ignored {
                values.insert(name, value.to_string());
                explicit.push(name);
            }
        }
        let props = Properties { values, explicit };
        if props.str("bootstrap.servers").is_none_or(|s| s.trim().is_empty()) {
            return Err(ClientError::config("bootstrap.servers", "is required"));
        }
        Ok(props)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn is_explicit(&self, key: &str) -> bool {
        self.explicit.contains(&key)
    }

    /// An integer value (validated at parse time; a missing key reads as 0).
    pub fn i64(&self, key: &str) -> i64 {
        self.str(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    pub fn i32(&self, key: &str) -> i32 {
        self.i64(key).clamp(i32::MIN as i64, i32::MAX as i64) as i32
    }

    pub fn bool(&self, key: &str) -> bool {
        self.str(key) == Some("true")
    }

    pub fn ms(&self, key: &str) -> Duration {
        Duration::from_millis(self.i64(key).max(0) as u64)
    }

    /// A non-negative integer, or an error naming the key.
    pub fn non_negative(&self, key: &str) -> Result<i64> {
        let v = self.i64(key);
        if v < 0 {
            return Err(ClientError::config(key, format!("{v} is negative")));
        }
        Ok(v)
    }
}

/// What every client needs to reach the cluster.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub bootstrap_servers: Vec<String>,
    pub client_id: String,
    pub request_timeout: Duration,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    pub reconnect_backoff: Duration,
    pub metadata_max_age: Duration,
    pub connection_setup_timeout: Duration,
    /// The largest response frame accepted.
    pub max_response_bytes: usize,
}

impl CommonConfig {
    pub fn from_properties(props: &Properties, default_client_id: String) -> Result<CommonConfig> {
        let bootstrap_servers: Vec<String> = props
            .str("bootstrap.servers")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_start_matches("PLAINTEXT://").to_string())
            .filter(|s| !s.is_empty())
            .collect();
        for server in &bootstrap_servers {
            let port = server.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(_))) {
                return Err(ClientError::config("bootstrap.servers", format!("{server:?} is not host:port")));
            }
        }
        for key in ["request.timeout.ms", "retry.backoff.ms", "reconnect.backoff.ms", "metadata.max.age.ms"] {
            props.non_negative(key)?;
        }
        Ok(CommonConfig {
            bootstrap_servers,
            client_id: props.str("client.id").filter(|s| !s.is_empty()).map_or(default_client_id, str::to_string),
            request_timeout: props.ms("request.timeout.ms"),
            retry_backoff: props.ms("retry.backoff.ms"),
            retry_backoff_max: props.ms("retry.backoff.max.ms").max(props.ms("retry.backoff.ms")),
            reconnect_backoff: props.ms("reconnect.backoff.ms"),
            metadata_max_age: props.ms("metadata.max.age.ms"),
            connection_setup_timeout: props.ms("socket.connection.setup.timeout.ms"),
            // Fetch responses are bounded by fetch.max.bytes (50 MiB by default) plus headers.
            max_response_bytes: 256 << 20,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_unknown_keys_and_bad_values() {
        let props = Properties::parse(ClientKind::Producer, &pairs(&[("bootstrap.servers", "a:1")])).unwrap();
        assert_eq!(props.str("acks"), Some("all"));
        assert_eq!(props.i64("linger.ms"), 5);
        let err = Properties::parse(ClientKind::Producer, &pairs(&[("bootstrap.servers", "a:1"), ("lingr.ms", "1")]));
        assert!(matches!(err, Err(ClientError::Config { key, .. }) if key == "lingr.ms"));
        let err = Properties::parse(ClientKind::Producer, &pairs(&[("bootstrap.servers", "a:1"), ("acks", "2")]));
        assert!(matches!(err, Err(ClientError::Config { key, .. }) if key == "acks"));
        let err = Properties::parse(ClientKind::Consumer, &pairs(&[("group.id", "g")]));
        assert!(matches!(err, Err(ClientError::Config { key, .. }) if key == "bootstrap.servers"));
        let props = Properties::parse(
            ClientKind::Consumer,
            &pairs(&[("bootstrap.servers", "a:1"), ("key.deserializer", "org.apache.kafka.X")]),
        )
        .unwrap();
        assert_eq!(props.str("auto.offset.reset"), Some("latest"));
        let bad = CommonConfig::from_properties(
            &Properties::parse(ClientKind::Admin, &pairs(&[("bootstrap.servers", "nohost")])).unwrap(),
            "x".into(),
        );
        assert!(bad.is_err());
    }
}
