//! Broker configuration with Kafka's `server.properties` keys and defaults.
//!
//! Keys potok interprets are typed fields; keys Kafka users commonly carry in a `server.properties` that have
//! no meaning for a single potok broker (thread counts, socket buffers, controller quorum settings) are
//! accepted and kept so DescribeConfigs shows them; anything else is an error naming the key. Kafka's
//! dynamic controller quorum, which potok cannot run yet, is refused rather than silently starting an
//! unrelated single broker (roles and voters are checked when a node starts, in `net::bind`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::storage::cleaner::CleanerConfig;
use crate::storage::LogConfig;

/// A bad configuration: names the key and says why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid config {key}={value:?}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

/// A listener, as `listeners` and `advertised.listeners` carry it (`NAME://host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// The socket address to bind: an empty host means every interface (as in Kafka's `PLAINTEXT://:9092`),
    /// and an IPv6 literal gets its brackets back.
    pub fn bind_address(&self) -> String {
        match self.host.as_str() {
            "" => format!("0.0.0.0:{}", self.port),
            host if host.contains(':') => format!("[{host}]:{}", self.port),
            host => format!("{host}:{}", self.port),
        }
    }

    fn parse(key: &str, value: &str) -> Result<Vec<Listener>, ConfigError> {
        let bad = |reason: &str| ConfigError { key: key.into(), value: value.into(), reason: reason.into() };
        let mut out = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, rest) = item.split_once("://").ok_or_else(|| bad("expected NAME://host:port"))?;
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("expected NAME://host:port"))?;
            let port: u16 = port.parse().map_err(|_| bad("port is not a number between 0 and 65535"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            out.push(Listener { name: name.to_string(), host: host.to_string(), port });
        }
        if out.is_empty() {
            return Err(bad("no listener given"));
        }
        Ok(out)
    }
}

/// The broker's settings.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id` (`broker.id` is accepted as its old name).
    pub node_id: i32,
    /// `listeners`: where the broker binds. Port 0 picks a free port.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`: what clients are told; defaults to `listeners` (with the bound port).
    pub advertised_listeners: Option<Vec<Listener>>,
    /// `log.dirs` (or `log.dir`); `None` means a fresh temporary directory, removed on shutdown.
    pub log_dir: Option<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    /// `socket.request.max.bytes`: the largest request frame accepted.
    pub socket_request_max_bytes: usize,
    /// `socket.send.buffer.bytes` and `socket.receive.buffer.bytes`: the send and receive buffers (`SO_SNDBUF`,
    /// `SO_RCVBUF`) of the listeners' sockets, which accepted connections inherit; `None` (-1) leaves them to
    /// the OS, which grows them as a connection needs (up to `net.ipv4.tcp_wmem` / `tcp_rmem`).
    pub socket_send_buffer_bytes: Option<u32>,
    pub socket_receive_buffer_bytes: Option<u32>,
    pub group_initial_rebalance_delay_ms: i64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub group_max_size: i32,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets` when it is created.
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_segment_bytes: i32,
    pub offsets_retention_minutes: i64,
    pub offset_metadata_max_bytes: i32,
    /// `transaction.state.log.num.partitions`: partitions of `__transaction_state` when it is created.
    pub transaction_state_log_num_partitions: i32,
    pub transaction_state_log_segment_bytes: i32,
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask for.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: how long an idle transactional id is remembered.
    pub transactional_id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often timed-out transactions are
    /// looked for (and unfinished markers retried).
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`
    pub transaction_remove_expired_transaction_cleanup_interval_ms: i64,
    /// `transaction.partition.verification.enable`: check with the coordinator that a partition is in the
    /// transaction before a producer's first transactional write to it.
    pub transaction_partition_verification_enable: bool,
    pub log_retention_check_interval_ms: i64,
    /// `queued.max.requests` bounds the requests one connection may pipeline before the broker stops reading.
    pub queued_max_requests: usize,
    /// `max.connections`: the most client connections served at once; more wait to be accepted, as in Kafka.
    pub max_connections: usize,
    /// `max.connections.per.ip`: the most connections from one address; more are closed at once.
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`: `host-or-ip:count` pairs, comma-separated.
    pub max_connections_per_ip_overrides: Vec<(String, usize)>,
    /// `connections.max.idle.ms`: a connection with no request for this long is closed. It also bounds how
    /// long a Fetch waits for data (Kafka's idle-connection expiry ends such a wait there).
    pub connections_max_idle_ms: i64,
    /// The defaults for topic configs (`log.segment.bytes`, `log.retention.ms`, `message.max.bytes`, ...).
    pub log: LogConfig,
    pub min_insync_replicas: i32,
    /// `log.cleanup.policy`.
    pub cleanup_policy: String,
    /// `unclean.leader.election.enable`: the default of the topic config of the same name.
    pub unclean_leader_election_enable: bool,
    /// `log.cleaner.*`: the log cleaner's threads, memory, IO rate and backoff.
    pub cleaner: CleanerConfig,
    /// `process.roles`: whether this node is a broker, a controller, or both (the default: a cluster of one).
    pub process_roles: ProcessRoles,
    /// `controller.quorum.voters` (`id@host:port`, ...): the controllers. Empty: this node is the only
    /// controller and keeps the metadata log itself.
    pub controller_quorum_voters: Vec<Voter>,
    /// `controller.quorum.bootstrap.servers` (`host:port`, ...): where to find the controllers when the voters
    /// are not listed.
    pub controller_quorum_bootstrap_servers: Vec<(String, u16)>,
    /// `controller.quorum.election.timeout.ms`: how long a voter waits without hearing from a leader before it
    /// stands for election (the quorum's election timeout runs from this to twice it).
    pub controller_quorum_election_timeout_ms: i64,
    /// `controller.listener.names`: the listeners controllers serve the quorum and brokers on.
    pub controller_listener_names: Vec<String>,
    /// `inter.broker.listener.name`: the listener brokers use to reach each other (replication).
    pub inter_broker_listener_name: Option<String>,
    /// `metadata.log.dir`: where the metadata log lives (default: the log directory).
    pub metadata_log_dir: Option<PathBuf>,
    /// `metadata.log.max.record.bytes.between.snapshots`: a controller snapshots the metadata image (a
    /// `.checkpoint`) after this many bytes of new records, and purges the log entries it covers.
    pub metadata_snapshot_max_bytes: u64,
    /// `metadata.log.max.snapshot.interval.ms`: or after this long with new records (0: never by time).
    pub metadata_snapshot_interval_ms: i64,
    /// `metadata.log.segment.bytes`: the metadata log's segment size (segments wholly covered by a snapshot
    /// are deleted).
    pub metadata_log_segment_bytes: u64,
    /// `broker.rack`.
    pub broker_rack: Option<String>,
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub broker_session_timeout_ms: i64,
    /// `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval_ms: i64,
    /// `replica.lag.time.max.ms`: a follower that has not caught up for this long leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// `replica.fetch.max.bytes`, `replica.fetch.wait.max.ms`, `replica.fetch.min.bytes`.
    pub replica_fetch_max_bytes: i32,
    pub replica_fetch_wait_max_ms: i32,
    pub replica_fetch_min_bytes: i32,
    /// `replica.fetch.backoff.ms`.
    pub replica_fetch_backoff_ms: i64,
    /// `num.replica.fetchers`.
    pub num_replica_fetchers: i32,
    /// `auto.leader.rebalance.enable`, `leader.imbalance.check.interval.seconds`,
    /// `leader.imbalance.per.broker.percentage`.
    pub auto_leader_rebalance_enable: bool,
    pub leader_imbalance_check_interval_seconds: i64,
    pub leader_imbalance_per_broker_percentage: i32,
    /// `controlled.shutdown.enable`.
    pub controlled_shutdown_enable: bool,
    /// `offsets.topic.replication.factor`, `transaction.state.log.replication.factor`,
    /// `transaction.state.log.min.isr`.
    pub offsets_topic_replication_factor: i16,
    pub transaction_state_log_replication_factor: i16,
    pub transaction_state_log_min_isr: i32,
    /// `schema.registry.listeners` (`http://host:port`): serve the schema registry's REST API there.
    pub schema_registry_listeners: Option<Listener>,
    /// Every key set explicitly (file and overrides), for DescribeConfigs.
    pub explicit: BTreeMap<String, String>,
}

/// What a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRoles {
    pub broker: bool,
    pub controller: bool,
}

/// One controller of the quorum, as `controller.quorum.voters` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            node_id: 1,
            listeners: vec![Listener { name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092 }],
            advertised_listeners: None,
            log_dir: None,
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics_enable: true,
            delete_topic_enable: true,
            socket_request_max_bytes: 100 * 1024 * 1024,
            // Kafka's default for both is 102400; potok's is the OS's own sizing, which grows a connection's
            // buffers with its bandwidth and round-trip time. A fixed 100 KiB caps a connection at 200 KiB in
            // flight (Linux doubles the size set): 20 MB/s at a 10 ms round trip. On loopback, kcat writing 1 GB
            // to potok cost the broker 20 % more CPU with a 100 KiB receive buffer (0.58-0.65 vs 0.45-0.54 s,
            // four runs each); a 100 KiB send buffer saved 8-17 % of the CPU of reading it back.
            socket_send_buffer_bytes: None,
            socket_receive_buffer_bytes: None,
            // A development broker: no delay before the first rebalance (Kafka's default is 3000).
            group_initial_rebalance_delay_ms: 0,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_size: i32::MAX,
            offsets_topic_num_partitions: 50,
            offsets_topic_segment_bytes: 100 * 1024 * 1024,
            offsets_retention_minutes: 7 * 24 * 60,
            offset_metadata_max_bytes: 4096,
            transaction_state_log_num_partitions: 50,
            transaction_state_log_segment_bytes: 100 * 1024 * 1024,
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 7 * 24 * 60 * 60 * 1000,
            transaction_abort_timed_out_transaction_cleanup_interval_ms: 10_000,
            transaction_remove_expired_transaction_cleanup_interval_ms: 3_600_000,
            transaction_partition_verification_enable: true,
            log_retention_check_interval_ms: 300_000,
            queued_max_requests: 500,
            max_connections: 10_000,
            max_connections_per_ip: i32::MAX as usize,
            max_connections_per_ip_overrides: Vec::new(),
            connections_max_idle_ms: 600_000,
            log: LogConfig::default(),
            min_insync_replicas: 1,
            cleanup_policy: "delete".into(),
            unclean_leader_election_enable: false,
            cleaner: CleanerConfig::default(),
            process_roles: ProcessRoles { broker: true, controller: true },
            controller_quorum_voters: Vec::new(),
            controller_quorum_bootstrap_servers: Vec::new(),
            controller_quorum_election_timeout_ms: 1000,
            controller_listener_names: Vec::new(),
            inter_broker_listener_name: None,
            metadata_log_dir: None,
            metadata_snapshot_max_bytes: 20 << 20,
            metadata_snapshot_interval_ms: 3_600_000,
            metadata_log_segment_bytes: 64 << 20,
            broker_rack: None,
            broker_session_timeout_ms: 9_000,
            broker_heartbeat_interval_ms: 2_000,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_max_bytes: 1_048_576,
            replica_fetch_wait_max_ms: 500,
            replica_fetch_min_bytes: 1,
            replica_fetch_backoff_ms: 1_000,
            num_replica_fetchers: 1,
            auto_leader_rebalance_enable: true,
            leader_imbalance_check_interval_seconds: 300,
            leader_imbalance_per_broker_percentage: 10,
            controlled_shutdown_enable: true,
            offsets_topic_replication_factor: 3,
            transaction_state_log_replication_factor: 3,
            transaction_state_log_min_isr: 2,
            schema_registry_listeners: None,
            explicit: BTreeMap::new(),
        }
    }
}

/// Keys Kafka's own sample configs carry that a single potok broker accepts without acting on.
const ACCEPTED_WITHOUT_EFFECT: &[&str] = &[
    "listener.security.protocol.map",
    "num.network.threads",
    "num.io.threads",
    "num.recovery.threads.per.data.dir",
    "transaction.state.log.load.buffer.size",
    "controller.quorum.fetch.timeout.ms",
    "controller.quorum.election.backoff.max.ms",
    "controller.quorum.request.timeout.ms",
    "replica.socket.timeout.ms",
    "replica.socket.receive.buffer.bytes",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
    "zookeeper.connect",
    "zookeeper.connection.timeout.ms",
    "cluster.id",
];

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError {
        key: key.into(),
        value: value.into(),
        reason: "not a number".into(),
    })
}

/// A socket buffer size: -1 for the OS's own sizing, else a positive number of bytes. (Kafka takes any int here
/// and fails each accepted connection on 0 or below -1; potok refuses them at start.)
fn parse_buffer_size(key: &str, value: &str) -> Result<Option<u32>, ConfigError> {
    match parse_num::<i32>(key, value)? {
        -1 => Ok(None),
        n if n > 0 => Ok(Some(n as u32)),
        _ => Err(ConfigError {
            key: key.into(),
            value: value.into(),
            reason: "must be -1 (the OS's own sizing) or a positive number of bytes".into(),
        }),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError { key: key.into(), value: value.into(), reason: "must be true or false".into() }),
    }
}

impl BrokerConfig {
    /// Parses a `server.properties` text (`key=value` lines, `#` and `!` comments, `\` continuations).
    pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
        let mut out = Vec::new();
        let mut pending = String::new();
        for raw in text.lines() {
            let line = raw.trim_start();
            if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
                continue;
            }
            if let Some(stripped) = line.strip_suffix('\\') {
                pending.push_str(stripped);
                continue;
            }
            pending.push_str(line);
            let entry = std::mem::take(&mut pending);
            let split = entry.find(['=', ':']).ok_or_else(|| ConfigError {
                key: entry.clone(),
                value: String::new(),
                reason: "expected key=value".into(),
            })?;
            out.push((entry[..split].trim().to_string(), entry[split + 1..].trim().to_string()));
        }
        Ok(out)
    }

    /// The defaults with every key of a `server.properties` text applied.
    pub fn from_properties(text: &str) -> Result<BrokerConfig, ConfigError> {
        let mut config = BrokerConfig::default();
        for (key, value) in Self::parse_properties(text)? {
            config.set(&key, &value)?;
        }
        Ok(config)
    }

    /// Applies one `key=value`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let bad = |reason: &str| ConfigError { key: key.into(), value: value.into(), reason: reason.into() };
        let log_key = |log: &mut LogConfig, topic_key: &str, v: &str| -> Result<(), ConfigError> {
            log.set(topic_key, v).map(|_| ()).map_err(|e| ConfigError {
                key: key.into(),
                value: value.into(),
                reason: e.to_string(),
            })
        };
        match key {
            "node.id" | "broker.id" => self.node_id = parse_num(key, value)?,
            "listeners" => self.listeners = Listener::parse(key, value)?,
            "advertised.listeners" => self.advertised_listeners = Some(Listener::parse(key, value)?),
            "log.dirs" | "log.dir" => {
                let first = value.split(',').map(str::trim).find(|s| !s.is_empty()).ok_or_else(|| bad("empty"))?;
                if value.split(',').filter(|s| !s.trim().is_empty()).count() > 1 {
                    return Err(bad("potok supports one log directory"));
                }
                self.log_dir = Some(PathBuf::from(first));
            }
            "num.partitions" => {
                self.num_partitions = parse_num(key, value)?;
                if self.num_partitions < 1 {
                    return Err(bad("must be at least 1"));
                }
            }
            "default.replication.factor" => self.default_replication_factor = parse_num(key, value)?,
            "auto.create.topics.enable" => self.auto_create_topics_enable = parse_bool(key, value)?,
            "delete.topic.enable" => self.delete_topic_enable = parse_bool(key, value)?,
            "socket.request.max.bytes" => {
                let v: i64 = parse_num(key, value)?;
                if !(1..=i64::from(i32::MAX)).contains(&v) {
                    return Err(bad("must be between 1 and 2147483647"));
                }
                self.socket_request_max_bytes = v as usize;
            }
            "socket.send.buffer.bytes" => self.socket_send_buffer_bytes = parse_buffer_size(key, value)?,
            "socket.receive.buffer.bytes" => self.socket_receive_buffer_bytes = parse_buffer_size(key, value)?,
            "group.initial.rebalance.delay.ms" => self.group_initial_rebalance_delay_ms = parse_num(key, value)?,
            "group.min.session.timeout.ms" => self.group_min_session_timeout_ms = parse_num(key, value)?,
            "group.max.session.timeout.ms" => self.group_max_session_timeout_ms = parse_num(key, value)?,
            "group.max.size" => self.group_max_size = parse_num(key, value)?,
            "offsets.topic.num.partitions" => {
                self.offsets_topic_num_partitions = parse_num(key, value)?;
                if self.offsets_topic_num_partitions < 1 {
                    return Err(bad("must be at least 1"));
                }
            }
            "offsets.topic.segment.bytes" => self.offsets_topic_segment_bytes = parse_num(key, value)?,
            "offsets.retention.minutes" => self.offsets_retention_minutes = parse_num(key, value)?,
            "offset.metadata.max.bytes" => self.offset_metadata_max_bytes = parse_num(key, value)?,
            "transaction.state.log.num.partitions" => {
                self.transaction_state_log_num_partitions = parse_num(key, value)?;
                if self.transaction_state_log_num_partitions < 1 {
                    return Err(bad("must be at least 1"));
                }
            }
            "transaction.state.log.segment.bytes" => {
                self.transaction_state_log_segment_bytes = parse_num(key, value)?;
                if self.transaction_state_log_segment_bytes < 1 {
                    return Err(bad("must be at least 1"));
                }
            }
            "transaction.max.timeout.ms" => {
                self.transaction_max_timeout_ms = parse_num(key, value)?;
                if self.transaction_max_timeout_ms < 1 {
                    return Err(bad("must be at least 1"));
                }
            }
            "transactional.id.expiration.ms" => {
                self.transactional_id_expiration_ms = parse_num(key, value)?;
                if self.transactional_id_expiration_ms < 1 {
                    return Err(bad("must be at least 1"));
                }
            }
            "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                self.transaction_abort_timed_out_transaction_cleanup_interval_ms = parse_num(key, value)?;
                if self.transaction_abort_timed_out_transaction_cleanup_interval_ms < 1 {
                    return Err(bad("must be at least 1"));
                }
            }
            "transaction.remove.expired.transaction.cleanup.interval.ms" => {
                self.transaction_remove_expired_transaction_cleanup_interval_ms = parse_num(key, value)?;
                if self.transaction_remove_expired_transaction_cleanup_interval_ms < 1 {
                    return Err(bad("must be at least 1"));
                }
            }
            "transaction.partition.verification.enable" => {
                self.transaction_partition_verification_enable = parse_bool(key, value)?
            }
            "log.retention.check.interval.ms" => {
                self.log_retention_check_interval_ms = parse_num(key, value)?;
                if self.log_retention_check_interval_ms < 1 {
                    return Err(bad("must be at least 1"));
                }
            }
            "queued.max.requests" => self.queued_max_requests = parse_num(key, value)?,
            "max.connections" => self.max_connections = parse_num(key, value)?,
            "max.connections.per.ip" => self.max_connections_per_ip = parse_num(key, value)?,
            "max.connections.per.ip.overrides" => {
                let mut overrides = Vec::new();
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (host, count) =
                        item.rsplit_once(':').ok_or_else(|| bad("expected host-or-ip:count pairs, comma-separated"))?;
                    let count = count.trim().parse().map_err(|_| bad("a count is not a number"))?;
                    overrides.push((host.trim().to_string(), count));
                }
                self.max_connections_per_ip_overrides = overrides;
            }
            "connections.max.idle.ms" => {
                self.connections_max_idle_ms = parse_num(key, value)?;
                if self.connections_max_idle_ms < 1 {
                    return Err(bad("must be at least 1"));
                }
            }
            "min.insync.replicas" => self.min_insync_replicas = parse_num(key, value)?,
            "unclean.leader.election.enable" => self.unclean_leader_election_enable = parse_bool(key, value)?,
            "log.cleanup.policy" => {
                log_key(&mut self.log, "cleanup.policy", value)?;
                self.cleanup_policy = value.to_string();
            }
            "log.cleaner.delete.retention.ms" => log_key(&mut self.log, "delete.retention.ms", value)?,
            "log.cleaner.min.cleanable.ratio" => log_key(&mut self.log, "min.cleanable.dirty.ratio", value)?,
            "log.cleaner.min.compaction.lag.ms" => log_key(&mut self.log, "min.compaction.lag.ms", value)?,
            "log.cleaner.max.compaction.lag.ms" => log_key(&mut self.log, "max.compaction.lag.ms", value)?,
            "log.cleaner.enable" => self.cleaner.enable = parse_bool(key, value)?,
            "log.cleaner.threads" => {
                let threads: usize = parse_num(key, value)?;
                // Kafka accepts 0 and then starts no cleaner; a bound keeps a typo from starting thousands.
                if threads > 64 {
                    return Err(bad("must be between 0 and 64"));
                }
                self.cleaner.threads = threads;
            }
            "log.cleaner.dedupe.buffer.size" => {
                self.cleaner.dedupe_buffer_size = parse_num(key, value)?;
                if self.cleaner.dedupe_buffer_size < 1024 {
                    return Err(bad("must be at least 1024"));
                }
            }
            "log.cleaner.io.buffer.size" => {
                self.cleaner.io_buffer_size = parse_num(key, value)?;
                if self.cleaner.io_buffer_size < 1 {
                    return Err(bad("must be at least 1"));
                }
            }
            "log.cleaner.io.buffer.load.factor" => {
                let v: f64 = parse_num(key, value)?;
                if v.is_nan() || v <= 0.0 || v > 1.0 {
                    return Err(bad("must be greater than 0 and at most 1"));
                }
                self.cleaner.dedupe_buffer_load_factor = v;
            }
            "log.cleaner.io.max.bytes.per.second" => {
                let v: f64 = parse_num(key, value)?;
                if v.is_nan() || v <= 0.0 {
                    return Err(bad("must be greater than 0"));
                }
                self.cleaner.io_max_bytes_per_second = v;
            }
            "log.cleaner.backoff.ms" => {
                self.cleaner.backoff_ms = parse_num(key, value)?;
                if self.cleaner.backoff_ms < 0 {
                    return Err(bad("must be at least 0"));
                }
            }
            "process.roles" => {
                let mut roles = ProcessRoles { broker: false, controller: false };
                for role in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                    match role {
                        "broker" => roles.broker = true,
                        "controller" => roles.controller = true,
                        _ => return Err(bad("roles are broker and controller")),
                    }
                }
                if !roles.broker && !roles.controller {
                    return Err(bad("no role given: use broker, controller, or broker,controller"));
                }
                self.process_roles = roles;
            }
            "controller.quorum.voters" => {
                let mut voters = Vec::new();
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (id, address) = item.split_once('@').ok_or_else(|| bad("expected id@host:port, ..."))?;
                    let (host, port) = address.rsplit_once(':').ok_or_else(|| bad("expected id@host:port, ..."))?;
                    voters.push(Voter {
                        id: id.trim().parse().map_err(|_| bad("a voter id is not a number"))?,
                        host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
                        port: port.parse().map_err(|_| bad("a voter port is not a number between 0 and 65535"))?,
                    });
                }
                self.controller_quorum_voters = voters;
            }
            "controller.quorum.bootstrap.servers" => {
                let mut servers = Vec::new();
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let (host, port) = item.rsplit_once(':').ok_or_else(|| bad("expected host:port, ..."))?;
                    let port = port.parse().map_err(|_| bad("a port is not a number between 0 and 65535"))?;
                    servers.push((host.trim_start_matches('[').trim_end_matches(']').to_string(), port));
                }
                self.controller_quorum_bootstrap_servers = servers;
            }
            "controller.quorum.election.timeout.ms" => {
                self.controller_quorum_election_timeout_ms = positive(key, value)?
            }
            "controller.listener.names" => {
                self.controller_listener_names =
                    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
            }
            "inter.broker.listener.name" => self.inter_broker_listener_name = Some(value.trim().to_string()),
            "metadata.log.dir" => self.metadata_log_dir = Some(PathBuf::from(value.trim())),
            "metadata.log.max.record.bytes.between.snapshots" => {
                self.metadata_snapshot_max_bytes = positive(key, value)? as u64
            }
            "metadata.log.max.snapshot.interval.ms" => {
                self.metadata_snapshot_interval_ms = parse_num(key, value)?;
                if self.metadata_snapshot_interval_ms < 0 {
                    return Err(bad("must be at least 0"));
                }
            }
            "metadata.log.segment.bytes" => {
                let bytes = positive(key, value)?;
                // Kafka's floor (metadata.log.segment.min.bytes): one operation's records (at most 10,000) always
                // fit in a segment.
                if bytes < 8 << 20 {
                    return Err(bad("must be at least 8388608 (8 MiB)"));
                }
                self.metadata_log_segment_bytes = bytes as u64;
            }
            "broker.rack" => self.broker_rack = Some(value.trim().to_string()),
            "broker.session.timeout.ms" => self.broker_session_timeout_ms = positive(key, value)?,
            "broker.heartbeat.interval.ms" => self.broker_heartbeat_interval_ms = positive(key, value)?,
            "replica.lag.time.max.ms" => self.replica_lag_time_max_ms = positive(key, value)?,
            "replica.fetch.max.bytes" => self.replica_fetch_max_bytes = positive(key, value)? as i32,
            "replica.fetch.wait.max.ms" => self.replica_fetch_wait_max_ms = positive(key, value)? as i32,
            "replica.fetch.min.bytes" => self.replica_fetch_min_bytes = positive(key, value)? as i32,
            "replica.fetch.backoff.ms" => self.replica_fetch_backoff_ms = positive(key, value)?,
            "num.replica.fetchers" => self.num_replica_fetchers = positive(key, value)? as i32,
            "auto.leader.rebalance.enable" => self.auto_leader_rebalance_enable = parse_bool(key, value)?,
            "leader.imbalance.check.interval.seconds" => {
                self.leader_imbalance_check_interval_seconds = positive(key, value)?
            }
            "leader.imbalance.per.broker.percentage" => {
                self.leader_imbalance_per_broker_percentage = positive(key, value)? as i32
            }
            "controlled.shutdown.enable" => self.controlled_shutdown_enable = parse_bool(key, value)?,
            "offsets.topic.replication.factor" => self.offsets_topic_replication_factor = positive(key, value)? as i16,
            "transaction.state.log.replication.factor" => {
                self.transaction_state_log_replication_factor = positive(key, value)? as i16
            }
            "transaction.state.log.min.isr" => self.transaction_state_log_min_isr = positive(key, value)? as i32,
            "log.segment.bytes" => log_key(&mut self.log, "segment.bytes", value)?,
            "log.roll.ms" => log_key(&mut self.log, "segment.ms", value)?,
            "log.roll.hours" => log_key(&mut self.log, "segment.ms", &hours_to_ms(key, value)?)?,
            "log.index.size.max.bytes" => log_key(&mut self.log, "segment.index.bytes", value)?,
            "log.index.interval.bytes" => log_key(&mut self.log, "index.interval.bytes", value)?,
            "log.retention.ms" => log_key(&mut self.log, "retention.ms", value)?,
            "log.retention.minutes" => {
                let minutes: i64 = parse_num(key, value)?;
                log_key(&mut self.log, "retention.ms", &(if minutes < 0 { -1 } else { minutes * 60_000 }).to_string())?
            }
            "log.retention.hours" => log_key(&mut self.log, "retention.ms", &hours_to_ms(key, value)?)?,
            "log.retention.bytes" => log_key(&mut self.log, "retention.bytes", value)?,
            "message.max.bytes" => log_key(&mut self.log, "max.message.bytes", value)?,
            "log.flush.interval.messages" => log_key(&mut self.log, "flush.messages", value)?,
            "log.flush.interval.ms" => log_key(&mut self.log, "flush.ms", value)?,
            "log.message.timestamp.type" => log_key(&mut self.log, "message.timestamp.type", value)?,
            "log.message.timestamp.before.max.ms" => log_key(&mut self.log, "message.timestamp.before.max.ms", value)?,
            "log.message.timestamp.after.max.ms" => log_key(&mut self.log, "message.timestamp.after.max.ms", value)?,
            "schema.registry.listeners" => self.schema_registry_listeners = Some(registry_listener(key, value)?),
            k if ACCEPTED_WITHOUT_EFFECT.contains(&k) => {}
            _ => return Err(bad("unknown config key")),
        }
        self.explicit.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// The listeners clients are told about, with `bound_port` standing in for a configured port 0.
    pub fn advertised(&self, bound_port: u16) -> Listener {
        let listener = self.advertised_listeners.as_ref().unwrap_or(&self.listeners)[0].clone();
        let host =
            if listener.host.is_empty() || listener.host == "0.0.0.0" { "127.0.0.1".into() } else { listener.host };
        Listener { port: if listener.port == 0 { bound_port } else { listener.port }, host, ..listener }
    }
}

/// One `http://host:port` listener (Confluent's registry `listeners`; potok serves plain HTTP only).
fn registry_listener(key: &str, value: &str) -> Result<Listener, ConfigError> {
    let mut listeners = Listener::parse(key, value)?;
    let bad = |reason: &str| ConfigError { key: key.into(), value: value.into(), reason: reason.into() };
    if listeners.len() != 1 {
        return Err(bad("give one listener"));
    }
    let listener = listeners.remove(0);
    if !listener.name.eq_ignore_ascii_case("http") {
        return Err(bad("only http:// listeners are supported"));
    }
    Ok(listener)
}

/// A number from 1 to `i32::MAX` (Kafka's int configs with an at-least-1 validator).
fn positive(key: &str, value: &str) -> Result<i64, ConfigError> {
    let v: i64 = parse_num(key, value)?;
    if !(1..=i64::from(i32::MAX)).contains(&v) {
        return Err(ConfigError {
            key: key.into(),
            value: value.into(),
            reason: "must be between 1 and 2147483647".into(),
        });
    }
    Ok(v)
}

fn hours_to_ms(key: &str, value: &str) -> Result<String, ConfigError> {
    let hours: i64 = parse_num(key, value)?;
    Ok((if hours < 0 { -1 } else { hours * 3_600_000 }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_kafka_server_properties() {
        let text = "# comment\nnode.id=3\nlisteners=PLAINTEXT://127.0.0.1:0\nlog.dirs=/tmp/x\n\
                    num.network.threads=3\nlog.retention.hours=168\nlog.segment.bytes=\\\n1000000\n";
        let mut c = BrokerConfig::default();
        for (k, v) in BrokerConfig::parse_properties(text).unwrap() {
            c.set(&k, &v).unwrap();
        }
        assert_eq!(c.node_id, 3);
        assert_eq!(c.listeners[0].port, 0);
        assert_eq!(c.log.retention_ms, 168 * 3_600_000);
        assert_eq!(c.log.segment_bytes, 1_000_000);
        assert_eq!(c.advertised(5555).port, 5555);
    }

    #[test]
    fn unknown_and_malformed_keys_name_the_key() {
        let mut c = BrokerConfig::default();
        let e = c.set("log.retention.hourz", "1").unwrap_err();
        assert_eq!(e.key, "log.retention.hourz");
        assert!(c.set("num.partitions", "many").unwrap_err().to_string().contains("num.partitions"));
        assert!(c.set("listeners", "127.0.0.1:9092").is_err());
        assert!(c.set("socket.request.max.bytes", "0").is_err());
        assert!(c.set("log.segment.bytes", "-5").is_err());
        assert!(c.set("log.cleaner.min.cleanable.ratio", "2").is_err());
        assert!(c.set("log.cleanup.policy", "shred").is_err());
        assert!(c.set("schema.registry.listeners", "https://127.0.0.1:8081").is_err());
        c.set("schema.registry.listeners", "http://127.0.0.1:8081").unwrap();
        assert_eq!(c.schema_registry_listeners.as_ref().map(|l| l.port), Some(8081));
    }

    #[test]
    fn cleaner_keys() {
        let mut c = BrokerConfig::default();
        for (k, v) in [
            ("log.cleaner.threads", "2"),
            ("log.cleaner.backoff.ms", "100"),
            ("log.cleaner.dedupe.buffer.size", "1048576"),
            ("log.cleaner.io.max.bytes.per.second", "1e6"),
            ("log.cleaner.min.cleanable.ratio", "0.1"),
            ("log.cleaner.delete.retention.ms", "1000"),
            ("log.cleanup.policy", "compact,delete"),
            ("log.cleaner.enable", "false"),
        ] {
            c.set(k, v).unwrap();
        }
        assert_eq!((c.cleaner.threads, c.cleaner.backoff_ms, c.cleaner.enable), (2, 100, false));
        assert_eq!(c.cleaner.io_max_bytes_per_second, 1e6);
        assert_eq!((c.log.min_cleanable_dirty_ratio, c.log.delete_retention_ms), (0.1, 1000));
        assert!(c.log.compact && c.log.delete);
    }

    /// The broker-wide defaults of the timestamp bounds a produced record is checked against, and what
    /// DescribeConfigs reports a topic without its own value inherits.
    #[test]
    fn timestamp_bounds_are_broker_defaults_of_topics() {
        let mut c = BrokerConfig::default();
        assert_eq!(
            (c.log.message_timestamp_before_max_ms, c.log.message_timestamp_after_max_ms),
            (i64::MAX, 3_600_000)
        );
        c.set("log.message.timestamp.before.max.ms", "86400000").unwrap();
        c.set("log.message.timestamp.after.max.ms", "1000").unwrap();
        assert_eq!((c.log.message_timestamp_before_max_ms, c.log.message_timestamp_after_max_ms), (86_400_000, 1000));
        assert!(c.set("log.message.timestamp.after.max.ms", "-1").is_err());
        let none = std::collections::BTreeMap::new();
        let value = |name| crate::controller::topic_config::value_of(name, &none, &c, &none);
        assert_eq!(
            (value("message.timestamp.before.max.ms"), value("message.timestamp.after.max.ms")),
            ("86400000".into(), "1000".into())
        );
        assert_eq!(crate::controller::topic_config::log_config(&none, &c, &none).message_timestamp_after_max_ms, 1000);
    }

    /// Kafka's socket buffer keys: a size in bytes, or -1 for the OS's own sizing (potok's default); a size no
    /// socket can take is refused with the key named.
    #[test]
    fn socket_buffer_sizes_are_read() {
        let mut c = BrokerConfig::default();
        assert_eq!((c.socket_send_buffer_bytes, c.socket_receive_buffer_bytes), (None, None));
        c.set("socket.send.buffer.bytes", "102400").unwrap();
        c.set("socket.receive.buffer.bytes", "1048576").unwrap();
        assert_eq!((c.socket_send_buffer_bytes, c.socket_receive_buffer_bytes), (Some(102_400), Some(1_048_576)));
        c.set("socket.send.buffer.bytes", "-1").unwrap();
        assert_eq!(c.socket_send_buffer_bytes, None);
        for bad in ["0", "-2", "lots"] {
            let e = c.set("socket.send.buffer.bytes", bad).unwrap_err();
            assert_eq!(e.key, "socket.send.buffer.bytes", "{bad}");
        }
        assert_eq!(c.socket_send_buffer_bytes, None, "a refused value changes nothing");
    }

    #[test]
    fn an_empty_listener_host_binds_every_interface() {
        let mut c = BrokerConfig::default();
        c.set("listeners", "PLAINTEXT://:9092").unwrap();
        assert_eq!(c.listeners[0].bind_address(), "0.0.0.0:9092");
        assert_eq!(c.advertised(9092).host, "127.0.0.1");
        c.set("listeners", "PLAINTEXT://[::1]:0").unwrap();
        assert_eq!(c.listeners[0].bind_address(), "[::1]:0");
        c.set("listeners", "PLAINTEXT://localhost:9092").unwrap();
        assert_eq!(c.listeners[0].bind_address(), "localhost:9092");
    }

    #[test]
    fn the_quorums_bootstrap_servers_are_read() {
        let c = BrokerConfig::from_properties(
            "process.roles=broker,controller\nnode.id=1\n\
             controller.quorum.bootstrap.servers=127.0.0.1:9093, 127.0.0.1:9094,127.0.0.1:9095\n",
        )
        .unwrap();
        assert!(c.controller_quorum_voters.is_empty());
        let ports: Vec<u16> = c.controller_quorum_bootstrap_servers.iter().map(|(_, p)| *p).collect();
        assert_eq!(ports, vec![9093, 9094, 9095]);
    }
}
