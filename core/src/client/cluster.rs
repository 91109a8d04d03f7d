//! What a client knows of the cluster: its brokers and topic metadata (refreshed on demand and when stale),
//! and a pool of connections, one per broker. Every request a client sends goes through [`Cluster::call`], which
//! picks the version both sides support, applies `request.timeout.ms`, and drops a connection that failed or timed
//! out (as Kafka's clients do) so the next call dials again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Request;

use crate::client::config::CommonConfig;
use crate::client::error::{ClientError, Result};
pub use crate::client::metadata::{BrokerInfo, Metadata, PartitionMetadata, TopicMetadata};
use crate::client::requests;
use crate::net::client::{Connection, PendingResponse};

pub(crate) use crate::client::requests::client_versions;

/// A broker connection that could not be established, as a client reports it to its connection listener
/// (Kafka's clients log a warning for it; librdkafka hands it to `error_cb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionFailure {
    /// The `host:port` dialled.
    pub address: String,
    /// The broker's node id, or -1 for a bootstrap server (Kafka's logs say "node -1" too).
    pub node_id: i32,
    pub error: ClientError,
}

/// Called on a client IO thread for each new connection failure (keep it short; it must not block).
pub type ConnectionListener = Arc<dyn Fn(&ConnectionFailure) + Send + Sync>;

/// Who hears about connection failures, and what each address last reported: a failure is reported when it
/// differs from the address's previous one (librdkafka suppresses repeated identical errors the same way), so
/// a client retrying an unreachable broker every `retry.backoff.ms` reports it once, not ten times a second.
#[derive(Default)]
struct ConnectionReports {
    listener: Option<ConnectionListener>,
    last_error: HashMap<String, String>,
}

impl std::fmt::Debug for ConnectionReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionReports").field("last_error", &self.last_error).finish_non_exhaustive()
    }
}

/// A request written to a broker whose response is still to come.
#[derive(Debug)]
pub struct Submitted {
    connection: Arc<Connection>,
    version: i16,
    pending: PendingResponse,
    api: ApiKey,
}

impl Submitted {
    pub fn version(&self) -> i16 {
        self.version
    }
}

/// Brokers, metadata and connections shared by one client.
#[derive(Debug)]
pub struct Cluster {
    pub config: CommonConfig,
    connections: tokio::sync::Mutex<HashMap<String, Arc<Connection>>>,
    metadata: Mutex<(Arc<Metadata>, Option<Instant>)>,
    refreshing: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    reports: Mutex<ConnectionReports>,
    /// Whether any connection to a broker succeeded since the client was created.
    connected: AtomicBool,
}

impl Cluster {
    pub fn new(config: CommonConfig) -> Arc<Cluster> {
        Arc::new(Cluster {
            config,
            connections: Default::default(),
            metadata: Mutex::new((Arc::default(), None)),
            refreshing: Default::default(),
            closed: AtomicBool::new(false),
            reports: Mutex::default(),
            connected: AtomicBool::new(false),
        })
    }

    /// Sets who hears about connection failures (see [`ConnectionFailure`]); replaces an earlier listener.
    pub fn set_connection_listener(&self, listener: ConnectionListener) {
        self.reports.lock().unwrap_or_else(PoisonError::into_inner).listener = Some(listener);
    }

    /// Whether any connection to a broker succeeded since the client was created: false after failures means the
    /// bootstrap servers were never reachable.
    pub fn has_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    fn report_dial(&self, address: &str, node_id: i32, outcome: Result<(), &ClientError>) {
        let mut reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        let error = match outcome {
            Ok(()) => {
                self.connected.store(true, Ordering::Release);
                reports.last_error.remove(address);
                return;
            }
            Err(e) => e,
        };
        let text = error.to_string();
        if reports.last_error.get(address) == Some(&text) {
            return;
        }
        reports.last_error.insert(address.to_string(), text);
        let Some(listener) = reports.listener.clone() else { return };
        drop(reports);
        listener(&ConnectionFailure { address: address.to_string(), node_id, error: error.clone() });
    }

    /// The latest metadata snapshot (possibly empty before the first refresh).
    pub fn metadata(&self) -> Arc<Metadata> {
        self.metadata.lock().unwrap_or_else(PoisonError::into_inner).0.clone()
    }

    /// Adds a broker the metadata does not name yet (a coordinator a FindCoordinator answer pointed to), so that
    /// requests can be sent to it by node id.
    pub(crate) fn learn_broker(&self, node: i32, host: &str, port: i32) {
        let mut guard = self.metadata.lock().unwrap_or_else(PoisonError::into_inner);
        if !guard.0.brokers.contains_key(&node) {
            let mut m = (*guard.0).clone();
            m.brokers.insert(node, BrokerInfo { node_id: node, host: host.to_string(), port, rack: None });
            guard.0 = Arc::new(m);
        }
    }

    fn metadata_age(&self) -> Option<Duration> {
        self.metadata.lock().unwrap_or_else(PoisonError::into_inner).1.map(|t| t.elapsed())
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ClientError::Closed);
        }
        Ok(())
    }

    async fn dial(&self, address: &str, node_id: i32) -> Result<Arc<Connection>> {
        let mut connections = self.connections.lock().await;
        if let Some(c) = connections.get(address) {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let connected = Connection::connect(
            address,
            &self.config.client_id,
            self.config.max_response_bytes,
            self.config.connection_setup_timeout,
        )
        .await;
        self.report_dial(address, node_id, connected.as_ref().map(|_| ()));
        let c = connected?;
        connections.insert(address.to_string(), c.clone());
        Ok(c)
    }

    /// A connection to a broker by node id (learnt from metadata).
    pub async fn connection(&self, node_id: i32) -> Result<Arc<Connection>> {
        self.check_open()?;
        let broker = self.metadata().brokers.get(&node_id).cloned();
        let broker = match broker {
            Some(b) => b,
            None => {
                self.refresh(None, false).await?;
                self.metadata()
                    .brokers
                    .get(&node_id)
                    .cloned()
                    .ok_or_else(|| ClientError::Io(format!("broker {node_id} is not in the cluster metadata")))?
            }
        };
        self.dial(&format!("{}:{}", broker.host, broker.port), node_id).await
    }

    /// A connection to any reachable broker: a live one, else the known brokers, else the bootstrap servers.
    pub async fn any_connection(&self) -> Result<Arc<Connection>> {
        self.check_open()?;
        if let Some(c) = self.connections.lock().await.values().find(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let mut addresses: Vec<(String, i32)> =
            self.metadata().brokers.values().map(|b| (format!("{}:{}", b.host, b.port), b.node_id)).collect();
        addresses.extend(self.config.bootstrap_servers.iter().map(|a| (a.clone(), -1)));
        let mut last = ClientError::Io("no bootstrap servers".into());
        for (address, node_id) in addresses {
            match self.dial(&address, node_id).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn forget(&self, connection: &Arc<Connection>) {
        let mut connections = self.connections.lock().await;
        if connections.get(connection.address()).is_some_and(|c| Arc::ptr_eq(c, connection)) {
            connections.remove(connection.address());
        }
    }

    /// Sends a request built for the negotiated version to a broker (`None`: any broker) and waits for the
    /// response, at most `request.timeout.ms`.
    pub async fn call<R: Request>(&self, node: Option<i32>, build: impl FnOnce(i16) -> R) -> Result<R::Response> {
        let connection = self.node_connection(node).await?;
        self.call_on(&connection, build).await
    }

    /// A connection to broker `node`, or to any broker for `None`.
    pub async fn node_connection(&self, node: Option<i32>) -> Result<Arc<Connection>> {
        match node {
            Some(n) => self.connection(n).await,
            None => self.any_connection().await,
        }
    }

    /// Writes a request to a broker without waiting for the answer (see [`Connection::submit`]: calls from one
    /// task reach the broker in call order). [`Cluster::finish`] waits for the response.
    pub async fn submit<R: Request>(&self, node: Option<i32>, build: impl FnOnce(i16) -> R) -> Result<Submitted> {
        let connection = self.node_connection(node).await?;
        let api = ApiKey::try_from(R::KEY).map_err(|_| ClientError::Protocol(format!("API key {}", R::KEY)))?;
        let (min, max) = client_versions(api);
        let version = connection.version(api, min, max)?;
        let request = build(version);
        match connection.submit(&request, version).await {
            Ok(pending) => Ok(Submitted { connection, version, pending, api }),
            Err(e) => {
                self.forget(&connection).await;
                Err(e)
            }
        }
    }

    /// Waits for the response to a submitted request, at most `request.timeout.ms`.
    pub async fn finish<R: Request>(&self, submitted: Submitted) -> Result<R::Response> {
        let Submitted { connection, version, pending, api } = submitted;
        match tokio::time::timeout(self.config.request_timeout, pending.wait::<R>(version)).await {
            Err(_) => {
                self.forget(&connection).await;
                Err(ClientError::Timeout(format!("{api:?} request to {}", connection.address())))
            }
            Ok(Err(e)) => {
                if matches!(e, ClientError::Io(_)) {
                    self.forget(&connection).await;
                }
                Err(e)
            }
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// Like [`Cluster::call`] with a timeout other than `request.timeout.ms` (JoinGroup waits for a whole
    /// rebalance).
    pub async fn call_with_timeout<R: Request>(
        &self,
        node: i32,
        timeout: Duration,
        build: impl FnOnce(i16) -> R,
    ) -> Result<R::Response> {
        let connection = self.connection(node).await?;
        self.call_on_with_timeout(&connection, timeout, build).await
    }

    /// Like [`Cluster::call`] on a given connection.
    pub async fn call_on<R: Request>(
        &self,
        connection: &Arc<Connection>,
        build: impl FnOnce(i16) -> R,
    ) -> Result<R::Response> {
        self.call_on_with_timeout(connection, self.config.request_timeout, build).await
    }

    async fn call_on_with_timeout<R: Request>(
        &self,
        connection: &Arc<Connection>,
        timeout: Duration,
        build: impl FnOnce(i16) -> R,
    ) -> Result<R::Response> {
        let api = ApiKey::try_from(R::KEY).map_err(|_| ClientError::Protocol(format!("API key {}", R::KEY)))?;
        let (min, max) = client_versions(api);
        let version = connection.version(api, min, max)?;
        let request = build(version);
        match tokio::time::timeout(timeout, connection.send(&request, version)).await {
            Err(_) => {
                tracing::debug!(target: "potok::client", "{api:?} request to {} got no answer within {timeout:?}", connection.address());
                self.forget(connection).await;
                Err(ClientError::Timeout(format!("{api:?} request to {}", connection.address())))
            }
            Ok(Err(e)) => {
                if matches!(e, ClientError::Io(_)) {
                    self.forget(connection).await;
                }
                Err(e)
            }
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// Refreshes metadata for `topics` (`None`: every topic), merging the answer into the snapshot. Concurrent
    /// refreshes are coalesced: a caller that waited for another's refresh does not send its own.
    pub async fn refresh(&self, topics: Option<&[String]>, allow_auto_create: bool) -> Result<Arc<Metadata>> {
        let started = Instant::now();
        let _guard = self.refreshing.lock().await;
        let coalesced = self.metadata_age().is_some_and(|age| age < started.elapsed());
        if coalesced {
            let metadata = self.metadata();
            if topics.is_none_or(|ts| ts.iter().all(|t| metadata.topics.contains_key(t))) {
                return Ok(metadata);
            }
        }
        let connection = self.any_connection().await?;
        let response = self.call_on(&connection, |_| Metadata::request(topics, allow_auto_create)).await?;
        let mut current = (*self.metadata()).clone();
        current.apply(&response, topics.is_none());
        let snapshot = Arc::new(current);
        *self.metadata.lock().unwrap_or_else(PoisonError::into_inner) = (snapshot.clone(), Some(Instant::now()));
        Ok(snapshot)
    }

    /// Metadata for one topic, refreshing (and waiting for auto-creation) until it has partitions with
    /// leaders or `deadline` passes. A topic that stays unknown fails with UNKNOWN_TOPIC_OR_PARTITION after the
    /// deadline (the caller's `max.block.ms` or API timeout).
    pub async fn topic(&self, topic: &str, allow_auto_create: bool, deadline: Instant) -> Result<TopicMetadata> {
        let mut backoff = self.config.retry_backoff.max(Duration::from_millis(10));
        let mut stale = self.metadata_age().is_none_or(|age| age > self.config.metadata_max_age);
        loop {
            if !stale {
                if let Some(t) = self.metadata().topics.get(topic) {
                    if !t.partitions.is_empty() && t.partitions.iter().all(|p| p.leader >= 0) {
                        return Ok(t.clone());
                    }
                }
            }
            let last_error = match self.refresh(Some(&[topic.to_string()]), allow_auto_create).await {
                Ok(m) => match m.topics.get(topic) {
                    Some(t) if !t.partitions.is_empty() && t.partitions.iter().all(|p| p.leader >= 0) => {
                        return Ok(t.clone())
                    }
                    _ => m.topic_errors.get(topic).map(|&c| ClientError::from_code(c, None)),
                },
                Err(e) if e.is_retriable() => Some(e),
                Err(e) => return Err(e),
            };
            if let Some(e) = &last_error {
                if !e.is_retriable() {
                    return Err(e.clone());
                }
            }
            stale = true;
            let now = Instant::now();
            if now >= deadline {
                return Err(match last_error {
                    Some(ClientError::Kafka { .. }) | None => ClientError::Timeout(format!(
                        "topic {topic} not present in metadata (UNKNOWN_TOPIC_OR_PARTITION) before the deadline"
                    )),
                    Some(e) => ClientError::Timeout(format!("metadata for {topic}: {e}")),
                });
            }
            tokio::time::sleep(backoff.min(deadline - now)).await;
            backoff = (backoff * 2).min(self.config.retry_backoff_max);
        }
    }

    /// Finds the coordinator of a group (`key_type` 0) or transactional id (`key_type` 1), returning its node id.
    pub async fn find_coordinator(&self, key_type: i8, key: &str, deadline: Instant) -> Result<i32> {
        let mut backoff = self.config.retry_backoff.max(Duration::from_millis(10));
        loop {
            let result = self
                .call(None, |version| requests::find_coordinator_request(key_type, key, version))
                .await
                .and_then(|r| requests::find_coordinator_result(&r));
            match result {
                Ok((node, host, port)) => {
                    self.learn_broker(node, &host, port);
                    return Ok(node);
                }
                Err(e) if e.is_retriable() && Instant::now() < deadline => {
                    tokio::time::sleep(backoff.min(deadline.saturating_duration_since(Instant::now()))).await;
                    backoff = (backoff * 2).min(self.config.retry_backoff_max);
                }
                Err(e) => return Err(e),
            }
        }
    }
}
