//! The embedded broker's defaults, the same in every host: a broker made inside a Python, Node, C or JVM process
//! listens on 127.0.0.1 on a port the OS picks and keeps its data in a fresh temporary directory (removed on
//! stop, see `net::RunningBroker`) unless the host's config says otherwise. A broker in memory (the web page's,
//! see [`super::memory`]) has no listener and no directory; [`memory_config`] gives its defaults.

use crate::broker::BrokerConfig;

use super::HostError;

/// Kafka config applied before the host's own keys, which override them. `log.dirs` is deliberately absent: a
/// broker without it gets a temporary directory.
pub const EMBEDDED_DEFAULTS: &[(&str, &str)] = &[("listeners", "PLAINTEXT://127.0.0.1:0")];

/// A broker config from Kafka `server.properties` keys and values (`num.partitions` = `3`), applied in order
/// over [`EMBEDDED_DEFAULTS`]. Keys and values are trimmed, as Kafka's properties reader does; an unknown key
/// or bad value is a config error naming the key.
pub fn embedded_config<K: AsRef<str>, V: AsRef<str>>(entries: &[(K, V)]) -> Result<BrokerConfig, HostError> {
    let mut config = BrokerConfig::default();
    for (key, value) in EMBEDDED_DEFAULTS {
        config.set(key, value)?;
    }
    for (key, value) in entries {
        config.set(key.as_ref().trim(), value.as_ref().trim())?;
    }
    Ok(config)
}

/// Kafka config applied before a host's own keys for a broker that lives in memory ([`super::memory`]). The
/// listener is only what Metadata tells clients (no socket is bound); the rest keeps a page's memory small.
pub const MEMORY_DEFAULTS: &[(&str, &str)] = &[
    ("listeners", "PLAINTEXT://localhost:9092"),
    // One partition per internal topic rather than 50: each partition that is written holds its active
    // segment's indexes in memory.
    ("offsets.topic.num.partitions", "1"),
    ("transaction.state.log.num.partitions", "1"),
    // An active segment's `.index` and `.timeindex` are allocated at this size (Kafka's 10 MiB default would
    // cost 20 MiB per written partition of a page's memory); 1 MiB still indexes 512 MiB of log at the
    // default `index.interval.bytes`.
    ("log.index.size.max.bytes", "1048576"),
];

/// A config for a broker in memory, from Kafka `server.properties` keys and values applied in order over
/// [`MEMORY_DEFAULTS`]; checked as [`embedded_config`] checks.
pub fn memory_config<K: AsRef<str>, V: AsRef<str>>(entries: &[(K, V)]) -> Result<BrokerConfig, HostError> {
    let mut config = BrokerConfig::default();
    for (key, value) in MEMORY_DEFAULTS {
        config.set(key, value)?;
    }
    for (key, value) in entries {
        config.set(key.as_ref().trim(), value.as_ref().trim())?;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_host_keys() {
        let config = embedded_config::<&str, &str>(&[]).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(config.listeners[0].host, "127.0.0.1");
        assert_eq!(config.listeners[0].port, 0);
        assert!(config.log_dir.is_none(), "no log.dirs: a temporary directory");
        let config = embedded_config(&[(" listeners ", "PLAINTEXT://127.0.0.1:9999 "), ("num.partitions", "3")])
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(config.listeners[0].port, 9999);
        let bad = embedded_config(&[("num.partitions", "many")]).err().map(|e| (e.kind, e.key));
        assert_eq!(bad, Some((super::super::ErrorKind::Config, Some("num.partitions".to_string()))));
    }

    #[test]
    fn memory_defaults_then_host_keys() {
        let config = memory_config::<&str, &str>(&[]).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(config.offsets_topic_num_partitions, 1);
        assert_eq!(config.log.segment_index_bytes, 1 << 20);
        let config = memory_config(&[("offsets.topic.num.partitions", "3")]).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(config.offsets_topic_num_partitions, 3);
        let bad = memory_config(&[("no.such.key", "1")]).err().map(|e| e.key);
        assert_eq!(bad, Some(Some("no.such.key".to_string())));
    }
}
