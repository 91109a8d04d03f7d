//! The embedded cluster every host offers (`potok.Cluster(brokers=3)` in Python, `new Cluster({brokers: 3})` in
//! Node): N nodes in this process, each a broker and a voter of the controller quorum as a node started from
//! Kafka's KRaft `server.properties` is, on 127.0.0.1 ports picked once so a restarted node keeps its address,
//! with data in a temporary directory (one `kafka-logs-N` per node) removed when the cluster stops. Nodes can
//! be stopped (controlled shutdown), killed (as with SIGKILL) and started again.
//!
//! With `schema.registry.listeners` among the config entries (`http://127.0.0.1:0`), every broker also serves a
//! schema registry, on a port picked once per broker (so a restarted node keeps its URL); the registries start
//! once every broker is registered, so `_schemas` is created with a replication factor of min(brokers, 3) and
//! outlives any one broker. Each registry reads and writes `_schemas` through its own broker.
//!
//! With dedicated controllers ([`EmbeddedCluster::start_with_controllers`]), brokers 1 to N have only the
//! broker role and nodes N+1 to N+C only the controller role, as a production KRaft cluster runs: brokers
//! can then die without taking the quorum with them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::HostError;
use crate::broker::config::Listener;
use crate::broker::BrokerConfig;
use crate::net::RunningBroker;

/// The most nodes an embedded cluster runs (each has its own threads and files).
pub const MAX_NODES: usize = 9;

/// How long starting the cluster or a broker waits for the brokers to be registered and unfenced.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A cluster of nodes in this process.
#[derive(Debug)]
pub struct EmbeddedCluster {
    /// Brokers first (ids 1..=N), then dedicated controllers (ids N+1..).
    configs: Vec<BrokerConfig>,
    nodes: Vec<Option<RunningBroker>>,
    client_ports: Vec<u16>,
    /// Each broker's schema registry listener (with its port picked), when the entries asked for registries.
    registry_listeners: Vec<Option<Listener>>,
    base: PathBuf,
}

/// Ports nothing listens on now, for listeners that must be known before any node starts (the voters).
fn free_ports(n: usize) -> Result<Vec<u16>, HostError> {
    let held = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| HostError::state(format!("no free port: {e}")))?;
    held.iter().map(|l| l.local_addr().map(|a| a.port()).map_err(|e| HostError::state(e.to_string()))).collect()
}

fn check_size(brokers: usize, controllers: usize) -> Result<(), HostError> {
    if !(1..=MAX_NODES).contains(&brokers) {
        return Err(HostError::invalid_argument(format!("brokers must be between 1 and {MAX_NODES}")));
    }
    // The limit is on nodes, so that an array of MAX_NODES ids always holds the running ones.
    if brokers + controllers > MAX_NODES {
        return Err(HostError::invalid_argument(format!(
            "brokers + controllers must be at most {MAX_NODES} (controllers between 0 and {})",
            MAX_NODES - brokers
        )));
    }
    Ok(())
}

/// Each node's config: the cluster's own keys (node id, roles, listeners on the given ports, the quorum, a log
/// directory under `base`), then `entries`. With no `controllers`, every broker is also a voter (one
/// controller port per broker); otherwise `controller_ports` are the dedicated controllers'.
fn node_configs<K: AsRef<str>, V: AsRef<str>>(
    entries: &[(K, V)],
    controllers: usize,
    client_ports: &[u16],
    controller_ports: &[u16],
    base: &Path,
) -> Result<Vec<BrokerConfig>, HostError> {
    let brokers = client_ports.len();
    let dedicated = controllers > 0;
    let voter_id = |i: usize| if dedicated { brokers + i + 1 } else { i + 1 };
    let voters: Vec<String> =
        controller_ports.iter().enumerate().map(|(i, p)| format!("{}@127.0.0.1:{p}", voter_id(i))).collect();
    let mut configs = Vec::with_capacity(brokers + controllers);
    for i in 0..brokers + controllers {
        let mut config = BrokerConfig::default();
        let (roles, listeners) = match (dedicated, i < brokers) {
            (false, _) => (
                "broker,controller",
                format!("PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}", client_ports[i], controller_ports[i]),
            ),
            (true, true) => ("broker", format!("PLAINTEXT://127.0.0.1:{}", client_ports[i])),
            (true, false) => ("controller", format!("CONTROLLER://127.0.0.1:{}", controller_ports[i - brokers])),
        };
        let own = [
            ("process.roles", roles.to_string()),
            ("node.id", (i + 1).to_string()),
            ("controller.quorum.voters", voters.join(",")),
            ("listeners", listeners),
            ("controller.listener.names", "CONTROLLER".to_string()),
            ("log.dirs", base.join(format!("kafka-logs-{}", i + 1)).display().to_string()),
            // In one process, a short election timeout starts the cluster in a fraction of a second.
            ("controller.quorum.election.timeout.ms", "200".to_string()),
            ("broker.heartbeat.interval.ms", "200".to_string()),
            ("broker.session.timeout.ms", "3000".to_string()),
            ("group.initial.rebalance.delay.ms", "0".to_string()),
        ];
        for (key, value) in own {
            config.set(key, &value)?;
        }
        for (key, value) in entries {
            config.set(key.as_ref().trim(), value.as_ref().trim())?;
        }
        configs.push(config);
    }
    Ok(configs)
}

/// Takes `schema.registry.listeners` out of the brokers' configs (the cluster starts the registries itself, once
/// the brokers are ready) and gives each broker its own listener, picking a port once where the entries said 0.
fn registry_listeners(configs: &mut [BrokerConfig], brokers: usize) -> Result<Vec<Option<Listener>>, HostError> {
    let mut listeners = Vec::with_capacity(brokers);
    for config in configs.iter_mut().take(brokers) {
        listeners.push(config.schema_registry_listeners.take());
    }
    for config in configs.iter_mut().skip(brokers) {
        // A controller-only node serves no clients, so no registry either.
        config.schema_registry_listeners = None;
    }
    let wanted = listeners.iter().filter(|l| l.as_ref().is_some_and(|l| l.port == 0)).count();
    let mut ports = free_ports(wanted)?.into_iter();
    for listener in listeners.iter_mut().flatten() {
        if listener.port == 0 {
            listener.port = ports.next().ok_or_else(|| HostError::state("no free port for a schema registry"))?;
        }
    }
    Ok(listeners)
}

impl EmbeddedCluster {
    /// Checks `brokers` and the config `entries` as [`EmbeddedCluster::start`] does, without binding a port or
    /// writing a file: for a binding that reports a bad key where a cluster is made and starts it later.
    pub fn check<K: AsRef<str>, V: AsRef<str>>(brokers: usize, entries: &[(K, V)]) -> Result<(), HostError> {
        Self::check_with_controllers(brokers, 0, entries)
    }

    /// [`EmbeddedCluster::check`] for [`EmbeddedCluster::start_with_controllers`].
    pub fn check_with_controllers<K: AsRef<str>, V: AsRef<str>>(
        brokers: usize,
        controllers: usize,
        entries: &[(K, V)],
    ) -> Result<(), HostError> {
        check_size(brokers, controllers)?;
        let voters = if controllers > 0 { controllers } else { brokers };
        node_configs(entries, controllers, &vec![0; brokers], &vec![0; voters], Path::new("")).map(drop)
    }

    /// Starts `brokers` nodes (1 to [`MAX_NODES`]) with Kafka config `entries` applied to each (after the
    /// cluster's own keys; `node.id`, `listeners`, `log.dirs` and the quorum keys are the cluster's).
    /// Returns once every broker is registered and unfenced in every broker's metadata, so a topic with a
    /// replication factor of `brokers` can be created at once; an error if that takes over [`READY_TIMEOUT`].
    pub fn start<K: AsRef<str>, V: AsRef<str>>(brokers: usize, entries: &[(K, V)]) -> Result<Self, HostError> {
        Self::start_with_controllers(brokers, 0, entries)
    }

    /// Starts `brokers` broker-only nodes and `controllers` controller-only nodes (with 0, every node is both,
    /// as [`EmbeddedCluster::start`] runs them); returns when [`EmbeddedCluster::start`] does.
    pub fn start_with_controllers<K: AsRef<str>, V: AsRef<str>>(
        brokers: usize,
        controllers: usize,
        entries: &[(K, V)],
    ) -> Result<Self, HostError> {
        check_size(brokers, controllers)?;
        let voters = if controllers > 0 { controllers } else { brokers };
        let ports = free_ports(brokers + voters)?;
        let (client_ports, controller_ports) = ports.split_at(brokers);
        // Unique per cluster, also for clusters started in the same millisecond by one process.
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let base = std::env::temp_dir().join(format!(
            "potok-cluster-{}-{}-{}",
            std::process::id(),
            crate::net::now_ms() % 1_000_000_000,
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut configs = node_configs(entries, controllers, client_ports, controller_ports, &base)?;
        let registry_listeners = registry_listeners(&mut configs, brokers)?;
        // Nodes start side by side: each waits for the quorum in the background.
        let handles: Vec<_> =
            configs.iter().cloned().map(|config| std::thread::spawn(move || RunningBroker::start(config))).collect();
        let mut nodes = Vec::with_capacity(configs.len());
        let mut failed = None;
        for handle in handles {
            match handle.join() {
                Ok(Ok(node)) => nodes.push(Some(node)),
                Ok(Err(e)) => failed = Some(HostError::from(e)),
                Err(_) => failed = Some(HostError::state("a node panicked while starting")),
            }
        }
        let mut cluster =
            EmbeddedCluster { configs, nodes, client_ports: client_ports.to_vec(), registry_listeners, base };
        if let Some(e) = failed {
            return Err(e);
        }
        // Dropped (stopped, its data removed) on error.
        cluster.wait_ready(&(1..=brokers).collect::<Vec<_>>())?;
        for id in 1..=brokers {
            cluster.start_registry(id)?;
        }
        Ok(cluster)
    }

    /// Starts broker `id`'s schema registry, if the cluster has registries.
    fn start_registry(&mut self, id: usize) -> Result<(), HostError> {
        let (Some(Some(listener)), Some(Some(node))) =
            (self.registry_listeners.get(id - 1), self.nodes.get_mut(id - 1))
        else {
            return Ok(());
        };
        node.start_schema_registry(listener).map_err(HostError::from)
    }

    /// The schema registry URL (`http://host:port`) of broker `id` while it runs, when the cluster was started
    /// with `schema.registry.listeners` (None otherwise); an id that is no node's is an error.
    pub fn schema_registry_url(&self, id: i32) -> Result<Option<String>, HostError> {
        let i = self.index(id)?;
        Ok(self.nodes[i].as_ref().and_then(RunningBroker::schema_registry_url))
    }

    /// The schema registry URLs of every running broker, comma-separated, as Confluent's `schema.registry.url`
    /// takes several (a client tries the next when one cannot be reached); None without registries.
    pub fn schema_registry_urls(&self) -> Option<String> {
        let urls: Vec<String> = self.nodes.iter().filter_map(|n| n.as_ref()?.schema_registry_url()).collect();
        (!urls.is_empty()).then(|| urls.join(","))
    }

    /// Waits until each broker of `ids` that runs is registered and unfenced (the controller answered its
    /// heartbeat so) and every running broker's metadata image holds it unfenced with that registration's
    /// epoch: only then does a create with a replication factor counting it succeed, and does every broker's
    /// Metadata answer list it. At most [`READY_TIMEOUT`], then an error naming what did not happen.
    fn wait_ready(&self, ids: &[usize]) -> Result<(), HostError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let brokers = || (1..=self.client_ports.len()).filter_map(|id| Some((id, self.nodes[id - 1].as_ref()?)));
        loop {
            let started = ids.iter().filter(|&&id| id <= self.client_ports.len());
            let missing = started.filter_map(|&id| Some((id, self.nodes[id - 1].as_ref()?))).find_map(|(id, node)| {
                let Some(epoch) = node.unfenced_epoch() else {
                    return Some(format!("broker {id} is not registered and unfenced by the controller"));
                };
                brokers().find(|(_, other)| other.sees_unfenced(id as i32) != Some(epoch)).map(|(other, _)| {
                    format!("broker {other}'s metadata does not hold broker {id} unfenced (epoch {epoch})")
                })
            });
            let Some(missing) = missing else { return Ok(()) };
            if Instant::now() >= deadline {
                return Err(HostError::state(format!("after {} s, {missing}", READY_TIMEOUT.as_secs())));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Each node's id and log directory.
    pub fn log_dirs(&self) -> Vec<(i32, PathBuf)> {
        self.configs.iter().filter_map(|c| Some((c.node_id, c.log_dir.clone()?))).collect()
    }

    /// `host:port` of every running broker, comma-separated, as `bootstrap.servers` wants them.
    pub fn bootstrap_servers(&self) -> String {
        // Brokers come first in `nodes`, one per client port.
        self.client_ports
            .iter()
            .zip(&self.nodes)
            .filter(|(_, n)| n.is_some())
            .map(|(p, _)| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node ids of the nodes running now (brokers 1..=N, then dedicated controllers).
    pub fn running(&self) -> Vec<i32> {
        (1..).zip(&self.nodes).filter(|(_, n)| n.is_some()).map(|(id, _)| id).collect()
    }

    fn index(&self, id: i32) -> Result<usize, HostError> {
        usize::try_from(id)
            .ok()
            .filter(|i| (1..=self.nodes.len()).contains(i))
            .map(|i| i - 1)
            .ok_or_else(|| HostError::invalid_argument(format!("no node {id} (ids are 1 to {})", self.nodes.len())))
    }

    /// Stops a node as SIGTERM does: its leaderships move away first.
    pub fn stop_broker(&mut self, id: i32) -> Result<(), HostError> {
        let i = self.index(id)?;
        let node = self.nodes[i].take().ok_or_else(|| HostError::state(format!("broker {id} is not running")))?;
        node.stop().map_err(HostError::from)
    }

    /// Stops a node as SIGKILL does: no controlled shutdown, nothing flushed; the others notice when its
    /// session times out.
    pub fn kill_broker(&mut self, id: i32) -> Result<(), HostError> {
        let i = self.index(id)?;
        let node = self.nodes[i].take().ok_or_else(|| HostError::state(format!("broker {id} is not running")))?;
        node.kill();
        Ok(())
    }

    /// Starts a stopped or killed node again on its address and data. A broker is waited for as
    /// [`EmbeddedCluster::start`] waits (registered and unfenced, in every running broker's metadata); after
    /// [`READY_TIMEOUT`] the error says what did not happen and the node is left running. A controller-only
    /// node returns once it accepts connections.
    pub fn start_broker(&mut self, id: i32) -> Result<(), HostError> {
        let i = self.index(id)?;
        if self.nodes[i].is_some() {
            return Err(HostError::state(format!("broker {id} is already running")));
        }
        self.nodes[i] = Some(RunningBroker::start(self.configs[i].clone())?);
        self.wait_ready(&[i + 1])?;
        self.start_registry(i + 1)
    }

    /// Stops every node and removes the cluster's data.
    pub fn stop(mut self) -> Result<(), HostError> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<(), HostError> {
        // The whole cluster goes and its data with it: nothing to hand over or flush, so every node stops at
        // once as if killed (stopping them in turn would leave the last ones waiting for a lost quorum).
        for node in self.nodes.iter_mut().filter_map(Option::take) {
            node.kill();
        }
        std::fs::remove_dir_all(&self.base).or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(HostError::state(format!("removing {}: {e}", self.base.display()))),
        })
    }
}

impl Drop for EmbeddedCluster {
    fn drop(&mut self) {
        let _ = self.stop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::ErrorKind;

    #[test]
    fn check_refuses_what_start_refuses_without_starting_anything() {
        let none: [(&str, &str); 0] = [];
        assert_eq!(EmbeddedCluster::check(0, &none).unwrap_err().kind, ErrorKind::InvalidArgument);
        assert_eq!(EmbeddedCluster::check(MAX_NODES + 1, &none).unwrap_err().kind, ErrorKind::InvalidArgument);
        let unknown = EmbeddedCluster::check(3, &[("no.such.key", "1")]).unwrap_err();
        assert_eq!((unknown.kind, unknown.key.as_deref()), (ErrorKind::Config, Some("no.such.key")));
        let malformed = EmbeddedCluster::check(3, &[("min.insync.replicas", "two")]).unwrap_err();
        assert_eq!(malformed.key.as_deref(), Some("min.insync.replicas"));
        EmbeddedCluster::check(MAX_NODES, &[("min.insync.replicas", "2"), ("default.replication.factor", "3")])
            .expect("good keys pass");
        let too_many = EmbeddedCluster::check_with_controllers(3, MAX_NODES - 2, &none).unwrap_err();
        assert_eq!(too_many.kind, ErrorKind::InvalidArgument);
        let bad = EmbeddedCluster::check_with_controllers(3, 1, &[("no.such.key", "1")]).unwrap_err();
        assert_eq!(bad.key.as_deref(), Some("no.such.key"));
        EmbeddedCluster::check_with_controllers(3, 1, &[("min.insync.replicas", "2")]).expect("good keys pass");
    }
}
