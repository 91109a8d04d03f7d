//! The network runtime (feature `native`): a tokio TCP server that reads Kafka frames, hands decoded
//! requests to the [`Broker`] and writes its answers in request order, a driver task that calls
//! [`Broker::poll`] when the broker asks to be called and delivers the answers of parked requests, the log
//! cleaner's threads (`cleaner`), and clean shutdown. This layer only moves bytes and reads the clock: when to
//! answer a parked request (a long-polling Fetch, a JoinGroup) is the broker's decision.
//!
//! A Fetch answer's records go from the segment files to the socket with `sendfile(2)` (the broker leaves
//! them in files, see [`Broker::set_zero_copy_fetch`]): a response is written as parts, bytes and file ranges.
//!
//! Per connection, requests are handled one at a time in arrival order, as Kafka does, so responses need
//! no reordering. A malformed frame or an unsupported request closes that connection only; a peer that closes
//! while its request is parked has the request dropped at the broker.

mod cleaner;
pub mod client;
mod connections;
mod fetcher;
pub mod registry;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseKind};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch, Notify, Semaphore};
use tokio::task::JoinSet;

use crate::broker::{Broker, BrokerConfig, BrokerError, Outcome, RequestContext};
use crate::controller::raft::{self, peer, ControllerClient, ControllerNode, MetadataObserver, RAFT_API_KEY};
use crate::protocol::{self, versions, FileRecords, FramePart, ProtocolError, ResponseFrame};
use crate::storage::{Backend, FileBackend};
use connections::{peer_closed, AcceptBackoff, PerIpLimits, RateLimitedLog};

/// The wall clock in milliseconds since the epoch: the only clock the broker sees.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The OS error is in the message and not a `source`, so a printed chain names it once.
    #[error("cannot listen on {address}: {error}")]
    Bind { address: String, error: std::io::Error },
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Quorum(#[from] raft::QuorumError),
}

struct Shared {
    broker: Arc<Broker>,
    /// This node's controller, when it is one of the quorum's voters.
    node: Option<Arc<ControllerNode>>,
    /// The way to the active controller, for a broker that is a cluster member.
    controllers: Option<Arc<ControllerClient>>,
    /// This broker's copy of the metadata log, when it is not a controller (`process.roles=broker`).
    observer: Option<Arc<MetadataObserver>>,
    /// Wakes the driver after a request was parked, so it polls the broker by the new deadline.
    wake: Notify,
    max_frame: usize,
    /// Parked JoinGroup / SyncGroup requests waiting for their answer, by token.
    waiters: Mutex<HashMap<u64, oneshot::Sender<(ResponseKind, FileRecords)>>>,
    next_token: AtomicU64,
    /// `connections.max.idle.ms`: idle connections close after this.
    idle: Duration,
    /// Connections closed for bad input, refused by a limit, or failed accepts.
    log: RateLimitedLog,
    /// Connections to other brokers for inter-broker calls (transaction markers), by address.
    peers: Mutex<HashMap<String, Arc<client::Connection>>>,
}

impl Shared {
    /// Hands the broker's answers to parked requests to the connections waiting for them.
    fn deliver_completions(&self) {
        let completions = self.broker.take_completions_with_files();
        if completions.is_empty() {
            return;
        }
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        for (token, response, files) in completions {
            if let Some(tx) = waiters.remove(&token) {
                let _ = tx.send((response, files));
            }
        }
    }
}

/// The longest a parked JoinGroup or SyncGroup waits before its connection gives up on it (Kafka's largest
/// `group.max.session.timeout.ms`-bounded rebalance plus margin); the coordinator normally answers far sooner.
const PARKED_REQUEST_MAX: Duration = Duration::from_secs(35 * 60);
/// Connections the kernel queues before they are accepted (Kafka's acceptors use 50; more suits a busy test
/// broker whose accept loop waits for a `max.connections` slot).
const LISTEN_BACKLOG: u32 = 1024;

fn seed() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// Creates a fresh, empty directory under the system temp dir for a broker without `log.dirs`. Brokers started
/// in the same process at the same moment get different directories (a counter, and creation that fails
/// rather than reuse an existing directory).
fn ephemeral_dir(seed: u64) -> Result<PathBuf, ServerError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("potok-{}-{n}-{:x}", std::process::id(), seed & 0xffff_ffff));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A listener socket: listening already, or bound and waiting for the broker's first unfencing.
enum Listener {
    Listening(TcpListener),
    /// A client listener of a cluster member, with its address for errors. Kafka enables a broker's
    /// client listeners only once the controller has registered and unfenced it (`BrokerServer.startup`):
    /// before that its metadata is not caught up, and a restarted cluster whose brokers are all still
    /// fenced would answer Metadata with no brokers at all, which makes librdkafka drop every broker it
    /// knows. Until then a client's connect is refused and it tries another broker.
    WhenUnfenced(TcpSocket, String),
}

impl Listener {
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Listener::Listening(tcp) => tcp.local_addr(),
            Listener::WhenUnfenced(socket, _) => socket.local_addr(),
        }
    }
}

/// A node ready to serve: its listeners (with whether each is a controller listener), its broker, its
/// controller when it is a voter (or its copy of the metadata log when it is a broker only), and the temporary
/// directory to remove after shutdown.
#[allow(missing_debug_implementations)]
pub struct Bound {
    listeners: Vec<(Listener, bool)>,
    /// Set once every client listener listens (at once, unless a cluster member's wait for its unfencing).
    serving: Arc<AtomicBool>,
    broker: Arc<Broker>,
    node: Option<Arc<ControllerNode>>,
    controllers: Option<Arc<ControllerClient>>,
    observer: Option<Arc<MetadataObserver>>,
    ephemeral: Option<PathBuf>,
}

impl Bound {
    /// The address clients connect to (the first listener that is not a controller listener).
    pub fn client_address(&self) -> std::io::Result<SocketAddr> {
        let (tcp, _) = self.listeners.iter().find(|(_, c)| !c).unwrap_or(&self.listeners[0]);
        tcp.local_addr()
    }
}

/// Checks the cluster settings a node starts with, naming the key that is wrong (Kafka's own checks of
/// `process.roles` against the voters and the listeners).
fn check_cluster_config(config: &BrokerConfig) -> Result<(), ServerError> {
    let bad = |m: String| Err(ServerError::Config(m));
    let roles = &config.process_roles;
    if config.controller_quorum_voters.is_empty() {
        // A cluster of one: this node is its broker and its controller.
        if !(roles.broker && roles.controller) {
            return bad("controller.quorum.voters: a node with only the broker or the controller role \
                        (process.roles) needs the quorum's voters"
                .into());
        }
        return Ok(());
    }
    let voter = config.controller_quorum_voters.iter().any(|v| v.id == config.node_id);
    if roles.controller && !voter {
        return bad(format!(
            "node.id={} is not among controller.quorum.voters, but process.roles has the controller role",
            config.node_id
        ));
    }
    if !roles.controller && voter {
        return bad(format!(
            "node.id={} is among controller.quorum.voters, but process.roles=broker: a broker-only node must not \
             be a voter",
            config.node_id
        ));
    }
    if config.controller_listener_names.is_empty() {
        return bad("controller.listener.names must name the controller listener (e.g. CONTROLLER)".into());
    }
    let is_controller = |n: &str| config.controller_listener_names.iter().any(|c| c == n);
    let has_controller_listener = config.listeners.iter().any(|l| is_controller(&l.name));
    let has_client_listener = config.listeners.iter().any(|l| !is_controller(&l.name));
    if roles.controller && !has_controller_listener {
        return bad(format!(
            "listeners has no listener named in controller.listener.names ({})",
            config.controller_listener_names.join(",")
        ));
    }
    if !roles.controller && has_controller_listener {
        return bad(format!(
            "listeners must not contain a controller listener ({}) when process.roles=broker",
            config.controller_listener_names.join(",")
        ));
    }
    if roles.broker && !has_client_listener {
        return bad("listeners has no listener for clients besides the controller listener".into());
    }
    if !roles.broker && has_client_listener {
        return bad(format!(
            "listeners must only contain controller listeners ({}) when process.roles=controller",
            config.controller_listener_names.join(",")
        ));
    }
    let mut ids = std::collections::BTreeSet::new();
    for v in &config.controller_quorum_voters {
        if !ids.insert(v.id) {
            return bad(format!("controller.quorum.voters lists node {} twice", v.id));
        }
    }
    Ok(())
}

/// Kafka's dynamic controller quorum (KIP-853): with `controller.quorum.bootstrap.servers` and no
/// `controller.quorum.voters`, a controller takes the voter set its formatted metadata directory holds (`storage
/// format --standalone` or `--initial-controllers`, potok's or Kafka's), and a broker-only node asks a bootstrap
/// server for it (DescribeQuorum, for up to a minute while the controllers start). potok runs that set as it runs
/// a static one: voters are not added or removed later (AddRaftVoter and RemoveRaftVoter are not offered). A
/// node whose set is itself alone, or that has one bootstrap server and no set (Kafka's own single-node
/// `server.properties`, unformatted), stays a cluster of one, as before.
async fn resolve_voters(mut config: BrokerConfig) -> Result<BrokerConfig, ServerError> {
    if !config.controller_quorum_voters.is_empty() || config.controller_quorum_bootstrap_servers.is_empty() {
        return Ok(config);
    }
    let bad = |m: String| ServerError::Config(format!("controller.quorum.bootstrap.servers: {m}"));
    let roles = config.process_roles;
    let voters: Vec<crate::broker::config::Voter> = if roles.controller {
        let dir = config.metadata_log_dir.clone().or_else(|| config.log_dir.clone());
        let found = match &dir {
            Some(dir) => crate::controller::read_bootstrap_voters(dir)
                .map_err(|e| bad(format!("reading the voter set in {}: {e}", dir.display())))?,
            None => None,
        };
        match found {
            Some(voters) => voters
                .into_iter()
                .map(|v| crate::broker::config::Voter { id: v.id, host: v.host, port: v.port })
                .collect(),
            None if config.controller_quorum_bootstrap_servers.len() == 1 && roles.broker => Vec::new(),
            None => {
                return Err(bad(format!(
                    "{} holds no voter set: format it with `potok storage format --standalone` or \
                     `--initial-controllers` (or Kafka's kafka-storage), or list the controllers in \
                     controller.quorum.voters",
                    dir.map_or_else(|| "the node (no log.dirs)".to_string(), |d| d.display().to_string())
                )))
            }
        }
    } else {
        voters_from_bootstrap_servers(&config).await.map_err(bad)?
    };
    let alone = voters.len() == 1 && voters[0].id == config.node_id && roles.broker && roles.controller;
    if !alone {
        config.controller_quorum_voters = voters;
    }
    Ok(config)
}

/// The quorum's voters as a bootstrap server's DescribeQuorum (v2, with the voters' endpoints) gives them.
async fn voters_from_bootstrap_servers(config: &BrokerConfig) -> Result<Vec<crate::broker::config::Voter>, String> {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    use kafka_protocol::messages::{DescribeQuorumRequest, DescribeQuorumResponse, TopicName};
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(crate::broker::str_bytes(crate::controller::METADATA_TOPIC)))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let client_id = format!("potok-broker-{}", config.node_id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut last = String::from("no answer yet");
    loop {
        for (host, port) in &config.controller_quorum_bootstrap_servers {
            let address = format!("{host}:{port}");
            let answer: Result<DescribeQuorumResponse, String> = async {
                let conn = client::Connection::connect(&address, &client_id, 1 << 20, Duration::from_secs(5))
                    .await
                    .map_err(|e| e.to_string())?;
                let version = conn.version(ApiKey::DescribeQuorum, 2, 2).map_err(|e| e.to_string())?;
                tokio::time::timeout(Duration::from_secs(5), conn.send(&request, version))
                    .await
                    .map_err(|_| "no answer in 5 s".to_string())?
                    .map_err(|e| e.to_string())
            }
            .await;
            let voters = answer.and_then(|r| {
                let partition = r.topics.first().and_then(|t| t.partitions.first()).ok_or("no partition")?;
                if partition.error_code != 0 {
                    return Err(format!("error code {}", partition.error_code));
                }
                partition
                    .current_voters
                    .iter()
                    .map(|v| {
                        let node = r.nodes.iter().find(|n| n.node_id == v.replica_id);
                        let listener = node.and_then(|n| {
                            n.listeners
                                .iter()
                                .find(|l| config.controller_listener_names.iter().any(|c| c == l.name.as_str()))
                                .or(n.listeners.first())
                        });
                        listener
                            .map(|l| crate::broker::config::Voter {
                                id: v.replica_id.0,
                                host: l.host.to_string(),
                                port: l.port,
                            })
                            .ok_or_else(|| format!("no endpoint for voter {}", v.replica_id.0))
                    })
                    .collect::<Result<Vec<_>, String>>()
            });
            match voters {
                Ok(v) if !v.is_empty() => return Ok(v),
                Ok(_) => last = format!("{address}: no voters"),
                Err(e) => last = format!("{address}: {e}"),
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("no bootstrap server gave the quorum's voters in 60 s ({last})"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Binds every listener and opens the node's log directory (a fresh temporary one when `log.dirs` is not
/// set); a voter of a controller quorum also joins the quorum.
pub async fn bind(config: BrokerConfig) -> Result<Bound, ServerError> {
    let config = resolve_voters(config).await?;
    check_cluster_config(&config)?;
    // The ports are taken now (so the advertised address is known) but the client listeners do not listen
    // until the logs are loaded, as Kafka opens its listeners only then: a client connecting during recovery
    // is refused at once and retries, instead of being accepted and left hanging.
    let mut sockets = Vec::new();
    for listener in &config.listeners {
        let address = listener.bind_address();
        let bind_error = |error| ServerError::Bind { address: address.clone(), error };
        let socket_address = tokio::net::lookup_host(&address)
            .await
            .map_err(bind_error)?
            .next()
            .ok_or_else(|| bind_error(std::io::Error::new(std::io::ErrorKind::NotFound, "no address")))?;
        let socket =
            if socket_address.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(bind_error)?;
        socket.set_reuseaddr(true).map_err(bind_error)?;
        // Accepted connections inherit the listener's buffer sizes (and, once set, the OS no longer resizes them).
        if let Some(size) = config.socket_send_buffer_bytes {
            socket.set_send_buffer_size(size).map_err(bind_error)?;
        }
        if let Some(size) = config.socket_receive_buffer_bytes {
            socket.set_recv_buffer_size(size).map_err(bind_error)?;
        }
        socket.bind(socket_address).map_err(bind_error)?;
        sockets.push((socket, address, config.controller_listener_names.contains(&listener.name)));
    }
    let client = sockets.iter().find(|(_, _, c)| !c).unwrap_or(&sockets[0]);
    let port = client.0.local_addr()?.port();
    let listen = |(socket, address, controller): (TcpSocket, String, bool)| {
        socket
            .listen(LISTEN_BACKLOG)
            .map(|tcp| (Listener::Listening(tcp), controller))
            .map_err(|error| ServerError::Bind { address, error })
    };
    // Controller listeners listen at once: the quorum's peers reach each other through them.
    let (controller_sockets, client_sockets): (Vec<_>, Vec<_>) = sockets.into_iter().partition(|(_, _, c)| *c);
    let mut listeners = controller_sockets.into_iter().map(listen).collect::<Result<Vec<_>, _>>()?;
    let seed = seed();
    let (log_dir, ephemeral) = match &config.log_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let dir = ephemeral_dir(seed)?;
            (dir.clone(), Some(dir))
        }
    };
    let advertised = config.advertised(port);
    let backend: Arc<dyn Backend> = Arc::new(FileBackend);
    let metadata_dir = config.metadata_log_dir.clone().unwrap_or_else(|| log_dir.clone());
    let broker = Arc::new(Broker::open(config.clone(), backend.clone(), &log_dir, advertised, seed, now_ms())?);
    // Every listener is plain TCP, so a Fetch's records go from the segment files to the socket (sendfile).
    broker.set_zero_copy_fetch(true);
    let cluster_member = !config.controller_quorum_voters.is_empty();
    for socket in client_sockets {
        if cluster_member {
            listeners.push((Listener::WhenUnfenced(socket.0, socket.1), false));
        } else {
            listeners.push(listen(socket)?);
        }
    }
    let (node, controllers, observer) = if config.controller_quorum_voters.is_empty() {
        (None, None, None)
    } else if !config.process_roles.controller {
        let voters = raft::voter_nodes(&config);
        let observer = MetadataObserver::new(config.node_id, &voters, broker.cluster_id());
        (None, Some(Arc::new(ControllerClient::new(None, &voters, broker.cluster_id()))), Some(Arc::new(observer)))
    } else {
        let node = ControllerNode::start(
            &config,
            backend,
            &metadata_dir,
            broker.cluster_id().to_string(),
            seed ^ 0x5eed,
            now_ms(),
        )
        .await?;
        let client = ControllerClient::new(Some(node.clone()), &raft::voter_nodes(&config), broker.cluster_id());
        (Some(node), Some(Arc::new(client)), None)
    };
    let serving = Arc::new(AtomicBool::new(!cluster_member));
    Ok(Bound { listeners, broker, node, controllers, observer, ephemeral, serving })
}

/// Serves `broker` on `listener` until `shutdown` resolves, then closes every connection and shuts the broker
/// down cleanly (flush, checkpoints, clean-shutdown marker).
pub async fn serve(bound: Bound, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
    serve_until(bound, shutdown, Arc::new(std::sync::atomic::AtomicBool::new(false))).await
}

/// [`serve`], except that when `killed` is set as `shutdown` resolves, the node stops as a process killed with
/// SIGKILL would: no controlled shutdown, connections cut, logs left as they are (recovered at the next start).
async fn serve_until(
    bound: Bound,
    shutdown: impl Future<Output = ()>,
    killed: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), ServerError> {
    let Bound { listeners, broker, node, controllers, observer, serving, .. } = bound;
    let config = broker.config().clone();
    let shared = Arc::new(Shared {
        broker,
        node,
        controllers,
        observer,
        wake: Notify::new(),
        max_frame: config.socket_request_max_bytes,
        waiters: Mutex::new(HashMap::new()),
        next_token: AtomicU64::new(1),
        idle: Duration::from_millis(config.connections_max_idle_ms.max(1) as u64),
        log: RateLimitedLog::new(20, Duration::from_secs(10)),
        peers: Mutex::new(HashMap::new()),
    });
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let per_ip = PerIpLimits::new(&config);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tasks.spawn(driver(shared.clone(), stop_rx.clone()));
    if let Some(node) = shared.node.clone() {
        tasks.spawn(follow_quorum(shared.clone(), node.clone(), stop_rx.clone()));
        tasks.spawn(tick_controller(shared.clone(), node, stop_rx.clone()));
    }
    if let Some(observer) = shared.observer.clone() {
        tasks.spawn(follow_observer(shared.clone(), observer, stop_rx.clone()));
    }
    if shared.controllers.is_some() && config.process_roles.broker {
        tasks.spawn(fetcher::run(shared.clone(), stop_rx.clone()));
    }
    // Every listener's connections come to this loop, so one place counts and stops them. Over
    // max.connections, an acceptor waits (new connections queue in the kernel) until one closes, as in Kafka;
    // accept errors (out of descriptors) back off instead of spinning.
    let (accepted_tx, mut accepted_rx) =
        tokio::sync::mpsc::channel::<(TcpStream, SocketAddr, bool, tokio::sync::OwnedSemaphorePermit)>(64);
    let mut acceptors = JoinSet::new();
    let gated = Arc::new(std::sync::atomic::AtomicUsize::new(
        listeners.iter().filter(|(l, _)| matches!(l, Listener::WhenUnfenced(..))).count(),
    ));
    for (listener, controller_listener) in listeners {
        let tx = accepted_tx.clone();
        let (gated, serving) = (gated.clone(), serving.clone());
        let connections = connections.clone();
        let shared = shared.clone();
        let mut stop = stop_rx.clone();
        acceptors.spawn(async move {
            let listener = match listener {
                Listener::Listening(tcp) => tcp,
                Listener::WhenUnfenced(socket, address) => {
                    while shared.broker.unfenced_epoch().is_none() {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                            _ = stop.changed() => return,
                        }
                    }
                    match socket.listen(LISTEN_BACKLOG) {
                        Ok(tcp) => {
                            tracing::info!(target: "potok::net", "registered and unfenced: serving clients on {address}");
                            if gated.fetch_sub(1, Ordering::AcqRel) == 1 {
                                serving.store(true, Ordering::Release);
                            }
                            tcp
                        }
                        Err(e) => {
                            tracing::error!(target: "potok::net", "cannot listen on {address}: {e}");
                            return;
                        }
                    }
                }
            };
            let mut backoff = AcceptBackoff::default();
            loop {
                let Ok(permit) = connections.clone().acquire_owned().await else { return };
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        backoff.succeeded();
                        if tx.send((stream, peer, controller_listener, permit)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let pause = backoff.failed();
                        shared.log.log(|| {
                            format!("accepting a connection failed: {e}; retrying in {} ms", pause.as_millis())
                        });
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        });
    }
    drop(accepted_tx);
    let cleaners = cleaner::CleanerThreads::start(&shared.broker)?;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer, controller_listener, permit) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = accepted_rx.recv() => match accepted {
                Some(accepted) => accepted,
                None => continue,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let ip_slot = match per_ip.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(max) => {
                shared.log.log(|| {
                    format!("rejected connection from {peer}: the address already has the configured maximum of {max} connections")
                });
                drop(stream);
                continue;
            }
        };
        let shared = shared.clone();
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            let _slots = (permit, ip_slot);
            if let Err(e) = serve_connection(shared.clone(), stream, peer, controller_listener, stop).await {
                // Kafka logs and closes a connection that sends something it cannot read; so does potok.
                shared.log.log(|| format!("closed connection from {peer}: {e}"));
            }
        });
    }
    // A cluster member asks the controller to move its leaderships away before it stops serving (a controlled
    // shutdown), waiting at most a few seconds for it.
    let killed = killed.load(Ordering::Relaxed);
    if shared.controllers.is_some() && !killed {
        shared.broker.begin_shutdown(now_ms());
        shared.wake.notify_one();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !shared.broker.may_stop() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            shared.wake.notify_one();
        }
    }
    acceptors.abort_all();
    let _ = stop_tx.send(true);
    // Connections finish the request they are on; give them a moment, then cut the rest.
    if !killed {
        let _ =
            tokio::time::timeout(Duration::from_secs(5), async { while tasks.join_next().await.is_some() {} }).await;
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    cleaners.stop();
    if let Some(node) = &shared.node {
        node.shutdown().await;
    }
    if killed {
        return Ok(());
    }
    // A task spawned for a peer call (a marker, a controller call) may still hold the shared state for a moment
    // on a loaded machine: wait for it (at most 5 s) rather than skip the clean shutdown.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut shared = shared;
    let broker = loop {
        match Arc::try_unwrap(shared) {
            Ok(shared) => break shared.broker,
            Err(still) if tokio::time::Instant::now() < deadline => {
                shared = still;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(still) => {
                tracing::warn!(
                    "shutting down while other tasks still hold the broker: flushing without a clean-shutdown marker"
                );
                return still.broker.tick(now_ms(), false, true).map_err(|e| BrokerError::from(e).into());
            }
        }
    };
    // The controller client may hold the node, which holds nothing of the broker: only the broker matters here.
    let mut broker = broker;
    loop {
        match Arc::try_unwrap(broker) {
            Ok(broker) => return Ok(broker.shutdown(now_ms())?),
            Err(still) if tokio::time::Instant::now() < deadline => {
                broker = still;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(still) => {
                tracing::warn!(
                    "shutting down while other tasks still hold the broker: flushing without a clean-shutdown marker"
                );
                return still.tick(now_ms(), false, true).map_err(|e| BrokerError::from(e).into());
            }
        }
    }
}

/// The longest the driver sleeps between polls even when the broker wants nothing sooner.
const POLL_INTERVAL_MAX: Duration = Duration::from_secs(1);

/// Calls [`Broker::poll`] whenever the broker asks (or a parked request may have moved its deadline up), and
/// hands the answers it decided to the connections waiting for them.
async fn driver(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let next_ms = shared.broker.poll(now_ms());
        shared.deliver_completions();
        if let Some(controllers) = &shared.controllers {
            for call in shared.broker.take_controller_calls() {
                let shared = shared.clone();
                let controllers = controllers.clone();
                tokio::spawn(async move {
                    let answer = controllers.call(&call.request, call.version, raft::CALL_TIMEOUT).await;
                    // Read your writes: the broker answers once its own image has what the controller committed.
                    if let Ok((_, Some(index))) = &answer {
                        let image = if let Some(node) = &shared.node {
                            node.wait_applied(*index, Duration::from_secs(5)).await;
                            Some(node.image().borrow().clone())
                        } else if let Some(observer) = &shared.observer {
                            observer.wait_applied(*index, Duration::from_secs(5)).await;
                            Some(observer.image().borrow().clone())
                        } else {
                            None
                        };
                        if let Some(image) = image {
                            shared.broker.metadata_changed(image, now_ms());
                        }
                    }
                    let answer = answer.map(|(response, _)| response);
                    let gave_up = shared.broker.controller_answer(call.id, answer.map_err(|e| e.to_string()), now_ms());
                    if let Some(token) = gave_up {
                        // The client's connection ends without an answer; it retries elsewhere, as after a
                        // broker failure.
                        shared.waiters.lock().unwrap_or_else(PoisonError::into_inner).remove(&token);
                    }
                    shared.deliver_completions();
                    shared.wake.notify_one();
                });
            }
        }
        for call in shared.broker.take_marker_calls() {
            let shared = shared.clone();
            tokio::spawn(async move {
                let answer = write_markers_at(&shared, &call).await;
                shared.broker.marker_answer(call.id, answer, now_ms());
                shared.deliver_completions();
                shared.wake.notify_one();
            });
        }
        let wait = Duration::from_millis(next_ms.saturating_sub(now_ms()).max(0) as u64).min(POLL_INTERVAL_MAX);
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = shared.wake.notified() => {}
        }
    }
}

/// Sends a transaction coordinator's WriteTxnMarkers to the partitions' leader, over a connection kept per
/// broker.
async fn write_markers_at(
    shared: &Shared,
    call: &crate::broker::MarkerCall,
) -> Result<kafka_protocol::messages::WriteTxnMarkersResponse, String> {
    let address =
        shared.broker.broker_address(call.broker).ok_or_else(|| format!("broker {} is unknown", call.broker))?;
    let cached = shared.peers.lock().unwrap_or_else(PoisonError::into_inner).get(&address).cloned();
    let conn = match cached.filter(|c| !c.is_closed()) {
        Some(c) => c,
        None => {
            let client_id = format!("potok-txn-coordinator-{}", shared.broker.node_id());
            let c = client::Connection::connect(&address, &client_id, 1 << 20, Duration::from_secs(10))
                .await
                .map_err(|e| e.to_string())?;
            shared.peers.lock().unwrap_or_else(PoisonError::into_inner).insert(address.clone(), c.clone());
            c
        }
    };
    let version = conn.version(ApiKey::WriteTxnMarkers, 1, 1).map_err(|e| e.to_string())?;
    match tokio::time::timeout(raft::CALL_TIMEOUT, conn.send(&call.request, version)).await {
        Ok(answer) => answer.map_err(|e| e.to_string()),
        Err(_) => Err(format!("broker {} did not answer in time", call.broker)),
    }
}

/// Hands the quorum's committed images to the broker.
async fn follow_quorum(shared: Arc<Shared>, node: Arc<ControllerNode>, mut stop: watch::Receiver<bool>) {
    let mut images = node.image();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            changed = images.changed() => {
                if changed.is_err() {
                    return;
                }
                let image = images.borrow_and_update().clone();
                shared.broker.metadata_changed(image, now_ms());
                shared.deliver_completions();
                shared.wake.notify_one();
            }
        }
    }
}

/// Runs the controller's periodic work, apart from [`follow_quorum`]: a tick that waits on the quorum (a write,
/// a new term's first entry) must not hold back the images the broker needs.
async fn tick_controller(shared: Arc<Shared>, node: Arc<ControllerNode>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(crate::controller::CONTROLLER_TICK_MS as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                shared.broker.set_active_controller(node.leader());
                node.tick(now_ms()).await;
            }
        }
    }
}

/// Hands the images a broker-only node fetches to its broker.
async fn follow_observer(shared: Arc<Shared>, observer: Arc<MetadataObserver>, stop: watch::Receiver<bool>) {
    observer
        .run(stop, |image| {
            shared.broker.set_active_controller(observer.leader());
            shared.broker.metadata_changed(image, now_ms());
            shared.deliver_completions();
            shared.wake.notify_one();
        })
        .await;
}

/// How much a connection reads at once when no frame is partly read: one read usually takes a whole request,
/// or several a client pipelined.
const READ_CHUNK: usize = 64 << 10;
/// Answers held back to leave in one write (the answers to requests read in one go) are sent once they reach
/// this many bytes, or when no whole request is left to handle.
const WRITE_BATCH: usize = 64 << 10;

/// Takes the next whole frame (without its size prefix) off the front of `input`; `Ok(None)` when `input` holds
/// only part of one, after making room for the rest of it. The size is checked against `max_frame` before the
/// room is made.
fn next_frame(input: &mut BytesMut, max_frame: usize) -> Result<Option<bytes::Bytes>, ProtocolError> {
    if input.len() < 4 {
        return Ok(None);
    }
    if let Some(size) = protocol::check_frame(input, max_frame)? {
        input.advance(4);
        return Ok(Some(input.split_to(size).freeze()));
    }
    let size = i32::from_be_bytes([input[0], input[1], input[2], input[3]]) as usize;
    input.reserve(4 + size - input.len());
    Ok(None)
}

/// Serves one connection. Requests are handled in arrival order, one at a time; the answers to the requests
/// that arrived together (a client pipelining) go out together, in one write, once every whole request read
/// so far is answered, so a busy connection costs one read and one write per round rather than per request.
/// A parked request first sends the answers before it, then waits for its own.
async fn serve_connection(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    controller_listener: bool,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ProtocolError> {
    let _ = stream.set_nodelay(true);
    let client_host = format!("/{}", peer.ip());
    let mut input = BytesMut::new();
    let mut answers = Answers::default();
    loop {
        // A parked request that ended because the broker is stopping has already seen the change.
        if *stop.borrow() {
            return Ok(());
        }
        let handled = match next_frame(&mut input, shared.max_frame) {
            Ok(Some(frame)) => handle_frame(&shared, frame, &client_host, controller_listener).await.map(Some),
            other => other.map(|_| None),
        };
        let handled = match handled {
            Ok(handled) => handled,
            Err(e) => {
                // The requests before the one that cannot be read are answered before the connection closes.
                answers.send(&mut stream, peer).await;
                return Err(e);
            }
        };
        if let Some(handled) = handled {
            let answer = match handled {
                Handled::Answer(answer) => answer,
                Handled::Parked(parked) => {
                    if !answers.send(&mut stream, peer).await {
                        return Ok(());
                    }
                    wait_parked(&shared, parked, &mut stop, &stream).await?
                }
            };
            if let Some(answer) = answer {
                answers.push(answer);
            }
            if answers.bytes >= WRITE_BATCH && !answers.send(&mut stream, peer).await {
                return Ok(());
            }
            continue;
        }
        if !answers.send(&mut stream, peer).await {
            return Ok(());
        }
        if input.len() == input.capacity() {
            input.reserve(READ_CHUNK);
        }
        match stream.try_read_buf(&mut input) {
            // End of stream (there was room to read into): the peer has left.
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // A peer that hangs up (reset) has simply left: not an error worth reporting.
            Err(_) => return Ok(()),
        }
        // Nothing more has arrived. An idle connection holds no read buffer.
        if input.is_empty() {
            input = BytesMut::new();
        }
        let ready = tokio::select! {
            _ = stop.changed() => return Ok(()),
            // connections.max.idle.ms: Kafka closes a connection that sent nothing for this long.
            _ = tokio::time::sleep(shared.idle) => return Ok(()),
            ready = stream.readable() => ready,
        };
        if ready.is_err() {
            return Ok(());
        }
    }
}

/// Answers waiting to be written, in request order.
#[derive(Default)]
struct Answers {
    frames: Vec<ResponseFrame>,
    bytes: usize,
}

impl Answers {
    fn push(&mut self, frame: ResponseFrame) {
        self.bytes += frame.len();
        self.frames.push(frame);
    }

    /// Writes the waiting answers; false when the connection must close.
    async fn send(&mut self, stream: &mut TcpStream, peer: SocketAddr) -> bool {
        if self.frames.is_empty() {
            return true;
        }
        let written = write_frames(stream, &self.frames).await;
        self.frames.clear();
        self.bytes = 0;
        match written {
            Ok(()) => true,
            Err(e) => {
                // A peer that left is normal; a segment file that shrank under a response cannot be answered
                // (the frame's size was already sent), so the connection closes, as Kafka's does.
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    tracing::warn!("closing the connection from {peer}: {e}");
                }
                false
            }
        }
    }
}

/// Writes response frames' parts in order: bytes as they are, gathered into as few writes as they fit, and
/// file ranges (a Fetch's records) straight from the segment file to the socket.
async fn write_frames(stream: &mut TcpStream, frames: &[ResponseFrame]) -> std::io::Result<()> {
    let mut bytes: Vec<&[u8]> = Vec::new();
    for part in frames.iter().flat_map(|frame| &frame.parts) {
        match part {
            FramePart::Bytes(b) => bytes.push(b),
            FramePart::File(slice) => {
                write_all_vectored(stream, &bytes).await?;
                bytes.clear();
                send_file(stream, slice).await?;
            }
        }
    }
    write_all_vectored(stream, &bytes).await
}

/// Writes every byte of `parts`, in order, with vectored writes.
async fn write_all_vectored(stream: &mut TcpStream, parts: &[&[u8]]) -> std::io::Result<()> {
    /// The most slices one write takes (Linux's IOV_MAX is 1024).
    const MAX_SLICES: usize = 64;
    let (mut index, mut offset) = (0, 0);
    while index < parts.len() {
        let slices: Vec<std::io::IoSlice<'_>> = std::iter::once(&parts[index][offset..])
            .chain(parts[index + 1..].iter().copied())
            .take(MAX_SLICES)
            .map(std::io::IoSlice::new)
            .collect();
        let mut written = stream.write_vectored(&slices).await?;
        if written == 0 && slices.iter().any(|s| !s.is_empty()) {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while index < parts.len() && written >= parts[index].len() - offset {
            written -= parts[index].len() - offset;
            (index, offset) = (index + 1, 0);
        }
        offset += written;
    }
    Ok(())
}

/// Sends a file range with `sendfile(2)` on the non-blocking socket: waits until it is writable, sends what it
/// takes, and goes on from there until the whole range is sent.
async fn send_file(stream: &TcpStream, slice: &crate::storage::FileSlice) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let socket_fd = stream.as_raw_fd();
    let mut position = slice.position;
    let end = slice.position + slice.len as u64;
    while position < end {
        stream.writable().await?;
        let left = (end - position) as usize;
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || slice.file.send_to(socket_fd, &mut position, left));
        match sent {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "a segment file ended before the fetched range did (it was truncated)",
                ))
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What handling a request frame gave.
enum Handled {
    /// The answer, or `None` when none is due (acks=0).
    Answer(Option<ResponseFrame>),
    /// The broker parked the request: its answer comes later (a long-polling Fetch, a JoinGroup).
    Parked(Parked),
}

/// A parked request's wait for its answer.
struct Parked {
    token: u64,
    answer: oneshot::Receiver<(ResponseKind, FileRecords)>,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
}

/// Handles one request frame.
async fn handle_frame(
    shared: &Shared,
    frame: bytes::Bytes,
    client_host: &str,
    controller_listener: bool,
) -> Result<Handled, ProtocolError> {
    let (key, version) = protocol::peek_api(&frame)?;
    if key == RAFT_API_KEY {
        return answer_peer(shared, &frame).await.map(|b| Handled::Answer(Some(b.into())));
    }
    if key == ApiKey::ApiVersions as i16 && versions::supported(ApiKey::ApiVersions).is_some_and(|r| version > r.max) {
        // A client newer than potok: answer in version 0 with the versions it can pick from.
        let correlation_id = frame.get(4..8).map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let body = ResponseKind::ApiVersions(versions::api_versions_fallback());
        return protocol::encode_response(ApiKey::ApiVersions, 0, correlation_id, &body)
            .map(|b| Handled::Answer(Some(b.into())));
    }
    let request = protocol::decode_request(frame)?;
    let api_key = request.api_key;
    let correlation_id = request.header.correlation_id;
    let ctx = RequestContext {
        token: shared.next_token.fetch_add(1, Ordering::Relaxed),
        client_id: request.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        client_host: client_host.to_string(),
        controller_listener,
    };
    // Registered before the broker sees the request, so an answer decided during the call finds its waiter.
    let (tx, rx) = oneshot::channel();
    shared.waiters.lock().unwrap_or_else(PoisonError::into_inner).insert(ctx.token, tx);
    // Creating or deleting many partitions takes long: let this worker's other connections move elsewhere
    // meanwhile (the runtime has few workers).
    let slow = matches!(api_key, ApiKey::CreateTopics | ApiKey::CreatePartitions | ApiKey::DeleteTopics);
    let outcome =
        if slow && tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            tokio::task::block_in_place(|| shared.broker.handle(request, &ctx, now_ms()))
        } else {
            shared.broker.handle(request, &ctx, now_ms())
        };
    shared.deliver_completions();
    if shared.broker.has_outgoing_calls() {
        // A request decided something for the controller (an ISR change): the driver sends it.
        shared.wake.notify_one();
    }
    let (body, files) = match outcome {
        Outcome::Respond(body) => (body, FileRecords::default()),
        Outcome::RespondWithFiles(body, files) => (body, files),
        Outcome::NoResponse => {
            shared.waiters.lock().unwrap_or_else(PoisonError::into_inner).remove(&ctx.token);
            return Ok(Handled::Answer(None));
        }
        Outcome::Parked => {
            shared.wake.notify_one();
            return Ok(Handled::Parked(Parked { token: ctx.token, answer: rx, api_key, version, correlation_id }));
        }
    };
    shared.waiters.lock().unwrap_or_else(PoisonError::into_inner).remove(&ctx.token);
    protocol::encode_response_parts(api_key, version, correlation_id, &body, &files).map(|f| Handled::Answer(Some(f)))
}

/// Waits for a parked request's answer; `Ok(None)` when nobody needs it any more (the peer left, or the broker
/// is stopping).
async fn wait_parked(
    shared: &Shared,
    parked: Parked,
    stop: &mut watch::Receiver<bool>,
    stream: &TcpStream,
) -> Result<Option<ResponseFrame>, ProtocolError> {
    let Parked { token, answer, api_key, version, correlation_id } = parked;
    let waited = tokio::select! {
        r = answer => r.map(Some).map_err(|_| ()),
        _ = tokio::time::sleep(PARKED_REQUEST_MAX) => Err(()),
        _ = stop.changed() => Ok(None),
        // The client left: nobody will read the answer, so give up the wait.
        _ = peer_closed(stream) => Ok(None),
    };
    let (body, files) = match waited {
        Ok(Some(answer)) => answer,
        other => {
            shared.broker.cancel(token);
            shared.waiters.lock().unwrap_or_else(PoisonError::into_inner).remove(&token);
            return match other {
                Ok(_) => Ok(None),
                Err(()) => {
                    Err(ProtocolError::Malformed { what: "parked request", message: "no answer in time".into() })
                }
            };
        }
    };
    shared.waiters.lock().unwrap_or_else(PoisonError::into_inner).remove(&token);
    protocol::encode_response_parts(api_key, version, correlation_id, &body, &files).map(Some)
}

/// Answers a quorum frame from another node (Raft's messages, controller calls).
async fn answer_peer(shared: &Shared, frame: &[u8]) -> Result<BytesMut, ProtocolError> {
    let malformed = |message: String| ProtocolError::Malformed { what: "quorum frame", message };
    let Some(node) = &shared.node else { return Err(malformed("this node is not a controller".into())) };
    let (version, correlation_id, body) = peer::decode_frame(frame).ok_or_else(|| malformed("too short".into()))?;
    let (request, to) = peer::decode_request(version, body).map_err(|e| {
        // What surrounds the error, so a frame that cannot be read can be understood from the log.
        let at = e.column().saturating_sub(1).min(body.len());
        let around = String::from_utf8_lossy(&body[at.saturating_sub(80)..(at + 80).min(body.len())]).into_owned();
        malformed(format!("{e} (frame of {} bytes; around it: {around:?})", body.len()))
    })?;
    if let Some(to) = to.filter(|to| to.cluster_id != shared.broker.cluster_id() || to.node_id != node.id()) {
        // Not this node's: its sender reaches another cluster's node (or another node) at this address.
        tracing::warn!(
            target: "potok::controller",
            "refused a quorum frame for node {} of cluster {}: this is node {} of cluster {}",
            to.node_id,
            to.cluster_id,
            node.id(),
            shared.broker.cluster_id()
        );
        return Err(malformed(format!("meant for node {} of cluster {}", to.node_id, to.cluster_id)));
    }
    let response = node.serve_peer(request, now_ms()).await;
    let body = serde_json::to_vec(&response).map_err(|e| malformed(e.to_string()))?;
    Ok(BytesMut::from(&peer::encode_answer(correlation_id, &body)[..]))
}

/// Starts the schema registry on `listener`, talking to the broker at `broker` through potok's own client.
fn start_registry(
    broker: SocketAddr,
    listener: &crate::broker::config::Listener,
) -> Result<registry::RegistryServer, ServerError> {
    let host = if broker.ip().is_unspecified() { "127.0.0.1".to_string() } else { broker.ip().to_string() };
    let bootstrap = format!("{host}:{}", broker.port());
    let server = registry::RegistryServer::start(&bootstrap, &listener.host, listener.port).map_err(|e| match e {
        registry::RegistryError::Bind { address, source } => ServerError::Bind { address, error: source },
        other => ServerError::Io(std::io::Error::other(other.to_string())),
    })?;
    // scripts/potok-broker.sh reads the URL from this line.
    tracing::info!("potok schema registry listening on {}", server.url());
    Ok(server)
}

/// A broker running in its own threads, for embedding (tests, bindings) and for the CLI.
#[derive(Debug)]
pub struct RunningBroker {
    address: SocketAddr,
    log_dir: PathBuf,
    killed: Arc<std::sync::atomic::AtomicBool>,
    /// The schema registry, when `schema.registry.listeners` is set; stopped before the broker.
    registry: Option<registry::RegistryServer>,
    /// The serving thread's broker, to read the node's registration and metadata image. Weak: a clean stop
    /// needs the only strong reference to shut the broker down (flush, checkpoints, clean-shutdown marker).
    broker: std::sync::Weak<Broker>,
    /// Whether the client listeners listen (a cluster member's wait until it is unfenced).
    serving: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServerError>>>,
}

impl RunningBroker {
    /// Starts a broker: binds, loads the log directory, and serves until [`RunningBroker::stop`].
    pub fn start(config: BrokerConfig) -> Result<RunningBroker, ServerError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("potok-broker")
            .enable_all()
            .build()?;
        let registry_listener = config.schema_registry_listeners.clone();
        let bound = runtime.block_on(bind(config))?;
        let address = bound.client_address()?;
        let log_dir = bound.broker.log_dir().to_path_buf();
        let ephemeral = bound.ephemeral.clone();
        let broker = Arc::downgrade(&bound.broker);
        let serving = bound.serving.clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let kill_flag = killed.clone();
        let thread = std::thread::Builder::new().name("potok-broker-main".into()).spawn(move || {
            let result = runtime.block_on(serve_until(
                bound,
                async {
                    let _ = stop_rx.await;
                },
                kill_flag,
            ));
            if let Some(dir) = ephemeral {
                let _ = std::fs::remove_dir_all(dir);
            }
            result
        })?;
        tracing::info!("potok broker listening on {address} (log.dirs={})", log_dir.display());
        let mut running = RunningBroker {
            address,
            log_dir,
            killed,
            registry: None,
            broker,
            serving,
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        if let Some(listener) = registry_listener {
            running.start_schema_registry(&listener)?;
        }
        Ok(running)
    }

    /// Starts the schema registry on `listener` (a broker started without `schema.registry.listeners`): for an
    /// embedded cluster, which starts each node's registry only once every broker is registered, so that
    /// `_schemas` gets the cluster's replication factor. Starting a second registry is a state error.
    pub fn start_schema_registry(&mut self, listener: &crate::broker::config::Listener) -> Result<(), ServerError> {
        if self.registry.is_some() {
            return Err(ServerError::Io(std::io::Error::other("the schema registry is already running")));
        }
        self.registry = Some(start_registry(self.address, listener)?);
        Ok(())
    }

    /// The schema registry's URL (`http://host:port`), when the broker serves one.
    pub fn schema_registry_url(&self) -> Option<String> {
        self.registry.as_ref().map(registry::RegistryServer::url)
    }

    /// The address the broker listens on (the bound port when the config asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `host:port`, as `bootstrap.servers` wants it.
    pub fn bootstrap_servers(&self) -> String {
        self.address.to_string()
    }

    pub fn log_dir(&self) -> &std::path::Path {
        &self.log_dir
    }

    /// The broker epoch the controller gave this node once it registered and unfenced it and its client
    /// listeners listen; None before, while fenced, and on a controller-only node.
    pub fn unfenced_epoch(&self) -> Option<i64> {
        if !self.serving.load(Ordering::Acquire) {
            return None;
        }
        self.broker.upgrade()?.unfenced_epoch()
    }

    /// The epoch of broker `id` as this node's metadata image holds it, when registered and unfenced there.
    pub fn sees_unfenced(&self, id: i32) -> Option<i64> {
        self.broker.upgrade()?.metadata().brokers.get(&id).filter(|b| !b.fenced).map(|b| b.epoch)
    }

    /// Stops serving, flushes and closes the logs; waits for it.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.stop_inner()
    }

    /// Stops as a process killed with SIGKILL would (for tests and the bindings' clusters): connections are
    /// cut, no controlled shutdown, nothing flushed or closed; the next start on the same `log.dirs` recovers.
    pub fn kill(mut self) {
        self.killed.store(true, Ordering::Relaxed);
        let _ = self.stop_inner();
    }

    /// Waits until the broker stops (after [`RunningBroker::stop`] from elsewhere, or a fatal error).
    fn stop_inner(&mut self) -> Result<(), ServerError> {
        if let Some(registry) = self.registry.take() {
            registry.stop();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServerError::Io(std::io::Error::other("broker thread panicked"))),
            None => return Ok(()),
        };
        match &result {
            Ok(()) => tracing::info!("potok broker on {} shut down", self.address),
            Err(e) => tracing::error!("potok broker on {} stopped with an error: {e}", self.address),
        }
        result
    }
}

impl Drop for RunningBroker {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::storage::FileSlice;
    use tokio::io::AsyncReadExt;

    /// Frames come off the read buffer whole, one at a time, in order; a partly read one waits, with room made
    /// for the rest of it; a size over the limit is refused before any room is made for it.
    #[test]
    fn next_frame_takes_whole_frames_and_checks_sizes_first() {
        let mut input = BytesMut::new();
        for body in [&b"first"[..], b"second", b""] {
            input.extend_from_slice(&(body.len() as i32).to_be_bytes());
            input.extend_from_slice(body);
        }
        input.extend_from_slice(&100i32.to_be_bytes());
        input.extend_from_slice(b"part");
        assert_eq!(next_frame(&mut input, 1000).unwrap().unwrap(), &b"first"[..]);
        assert_eq!(next_frame(&mut input, 1000).unwrap().unwrap(), &b"second"[..]);
        assert_eq!(next_frame(&mut input, 1000).unwrap().unwrap(), &b""[..]);
        assert!(next_frame(&mut input, 1000).unwrap().is_none());
        assert!(input.capacity() >= 104, "room for the rest of the frame");
        input.extend_from_slice(&[7u8; 96]);
        assert_eq!(next_frame(&mut input, 1000).unwrap().unwrap().len(), 100);
        assert!(input.is_empty());

        let mut input = BytesMut::from(&[0u8, 0][..]);
        assert!(next_frame(&mut input, 1000).unwrap().is_none(), "half a size prefix");
        let mut input = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
        assert!(matches!(next_frame(&mut input, 1000), Err(ProtocolError::FrameTooLarge { .. })));
        assert!(input.capacity() < 1000, "no room made for a refused frame");
        let mut input = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert!(matches!(next_frame(&mut input, 1000), Err(ProtocolError::NegativeFrameSize(-1))));
    }

    /// Writes `frames` with [`write_frames`] to a reader that takes 64 KiB at a time with a pause after each
    /// (so the socket fills up and the writes stop part-way and go on), and returns the `len` bytes read.
    async fn write_to_a_slow_reader(frames: Vec<ResponseFrame>, len: usize) -> Vec<u8> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let writer = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            write_frames(&mut stream, &frames).await
        });
        let mut client = TcpStream::connect(address).await.unwrap();
        let mut received = Vec::with_capacity(len);
        let mut chunk = vec![0u8; 64 << 10];
        let read_all = async {
            while received.len() < len {
                let n = client.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the writer closed after {} bytes", received.len());
                received.extend_from_slice(&chunk[..n]);
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), read_all).await.expect("the bytes arrive in time");
        tokio::time::timeout(Duration::from_secs(10), writer).await.unwrap().unwrap().unwrap();
        received
    }

    /// The listeners' sockets take `socket.send.buffer.bytes` and `socket.receive.buffer.bytes`, and the
    /// connections they accept inherit both (Linux reports twice the size set, its bookkeeping included).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn accepted_connections_have_the_configured_socket_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::default();
        config.listeners[0].port = 0;
        config.log_dir = Some(dir.path().to_path_buf());
        config.socket_send_buffer_bytes = Some(65536);
        config.socket_receive_buffer_bytes = Some(32768);
        let bound = bind(config).await.unwrap();
        let Some((Listener::Listening(listener), _)) = bound.listeners.first() else { panic!("not listening") };
        let _client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (accepted, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await.unwrap().unwrap();
        let accepted = TcpSocket::from_std_stream(accepted.into_std().unwrap());
        assert_eq!(accepted.send_buffer_size().unwrap(), 2 * 65536);
        assert_eq!(accepted.recv_buffer_size().unwrap(), 2 * 32768);
    }

    /// Answers gathered for one write arrive whole and in order through a socket that fills up (the reader is
    /// slow, so vectored writes stop part-way through a part and go on from there), with more parts than one
    /// write takes.
    #[tokio::test]
    async fn gathered_answers_arrive_whole_and_in_order() {
        let frames: Vec<ResponseFrame> = (0..300u32)
            .map(|i| {
                let part =
                    |n: u32| FramePart::Bytes((0..(n * 997) % 40_000).map(|b| (b % 251) as u8 ^ i as u8).collect());
                ResponseFrame { parts: vec![part(i), part(i + 1)] }
            })
            .collect();
        let expected: Vec<u8> = frames.iter().flat_map(|f| f.to_bytes().unwrap()).collect();
        let received = write_to_a_slow_reader(frames, expected.len()).await;
        assert!(received == expected, "{} bytes arrived as they were sent", expected.len());
    }

    /// A frame's file range goes out with sendfile whole and in order between its byte parts, through a socket
    /// that fills up (the reader is slow, so sends stop on EAGAIN and go on), even though its file was removed
    /// before the write began.
    #[tokio::test]
    async fn file_ranges_are_sent_whole_from_a_removed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        let data: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
        let mut file = FileBackend.open(&path, true).unwrap();
        file.append(&data).unwrap();
        let shared = file.shared().expect("the file backend shares its files on Linux");
        drop(file);
        std::fs::remove_file(&path).unwrap();
        let (position, len) = (1000usize, 6 << 20);
        let frame = ResponseFrame {
            parts: vec![
                FramePart::Bytes(bytes::Bytes::from_static(b"head")),
                FramePart::File(FileSlice { file: shared, position: position as u64, len }),
                FramePart::Bytes(bytes::Bytes::from_static(b"tail")),
            ],
        };
        let received = write_to_a_slow_reader(vec![frame], len + 8).await;
        assert_eq!(&received[..4], b"head");
        assert!(received[4..4 + len] == data[position..position + len], "the file range arrived as it was");
        assert_eq!(&received[4 + len..], b"tail");
    }

    /// A file range past the end of its (truncated) file is an error, not a short frame the client would
    /// misread.
    #[tokio::test]
    async fn a_truncated_file_range_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        let mut file = FileBackend.open(&path, true).unwrap();
        file.append(&[7u8; 1000]).unwrap();
        let slice = FileSlice { file: file.shared().unwrap(), position: 500, len: 1000 };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let _client = TcpStream::connect(address).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let sent = tokio::time::timeout(Duration::from_secs(10), send_file(&stream, &slice)).await.unwrap();
        assert_eq!(sent.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
