//! The network runtime (feature `native`): a tokio TCP server that reads Kafka frames, hands decoded
//! requests to the [`Broker`], long-polls Fetch, and writes responses in request order, plus the periodic
//! flush/retention/checkpoint ticker and clean shutdown. Everything that reads a clock, waits or touches a
//! socket lives here; the broker itself is synchronous.
//!
//! Per connection, requests are handled one at a time in arrival order, as Kafka does, so responses need
//! no reordering. A malformed frame or an unsupported request closes that connection only.

pub mod alloc;
pub mod client;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Notify, Semaphore};
use tokio::task::JoinSet;

use crate::broker::{Broker, BrokerConfig, BrokerError, Outcome, RequestContext};
use crate::protocol::{self, versions, ProtocolError};
use crate::storage::{Backend, FileBackend};

/// The wall clock in milliseconds since the epoch: the only clock the broker sees.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

struct Shared {
    broker: Arc<Broker>,
    /// Woken after every append, so waiting fetches look again.
    appended: Notify,
    max_frame: usize,
    /// Parked JoinGroup / SyncGroup requests waiting for their answer, by token.
    waiters: Mutex<HashMap<u64, oneshot::Sender<ResponseKind>>>,
    next_token: AtomicU64,
}

impl Shared {
    /// Hands the broker's answers to parked requests to the connections waiting for them.
    fn deliver_completions(&self) {
        let completions = self.broker.take_completions();
        if completions.is_empty() {
            return;
        }
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        for (token, response) in completions {
            if let Some(tx) = waiters.remove(&token) {
                let _ = tx.send(response);
            }
        }
    }
}

/// The longest a parked JoinGroup or SyncGroup waits before its connection gives up on it (Kafka's largest
/// `group.max.session.timeout.ms`-bounded rebalance plus margin); the coordinator normally answers far sooner.
const PARKED_REQUEST_MAX: Duration = Duration::from_secs(35 * 60);

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

/// Binds the first listener and opens the broker's log directory (a fresh temporary one when `log.dirs` is
/// not set). Returns the listener, the broker, and the temporary directory to remove after shutdown.
pub async fn bind(config: BrokerConfig) -> Result<(TcpListener, Arc<Broker>, Option<PathBuf>), ServerError> {
    let address = config.listeners[0].bind_address();
    let tcp = TcpListener::bind(&address).await.map_err(|source| ServerError::Bind { address, source })?;
    let port = tcp.local_addr()?.port();
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
    let broker = Broker::open(config, backend, &log_dir, advertised, seed, now_ms())?;
    Ok((tcp, Arc::new(broker), ephemeral))
}

/// Serves `broker` on `listener` until `shutdown` resolves, then closes every connection and shuts the broker
/// down cleanly (flush, checkpoints, clean-shutdown marker).
pub async fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let config = broker.config().clone();
    let shared = Arc::new(Shared {
        broker,
        appended: Notify::new(),
        max_frame: config.socket_request_max_bytes,
        waiters: Mutex::new(HashMap::new()),
        next_token: AtomicU64::new(1),
    });
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tasks.spawn(ticker(shared.clone(), config.log_retention_check_interval_ms, stop_rx.clone()));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let Ok(permit) = connections.clone().try_acquire_owned() else {
                    // Over max.connections: close at once, as Kafka does.
                    drop(stream);
                    continue;
                };
                let shared = shared.clone();
                let stop = stop_rx.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    if let Err(e) = serve_connection(shared, stream, peer, stop).await {
                        // Kafka logs and closes a connection that sends something it cannot read; so does potok.
                        eprintln!("potok: closed connection from {peer}: {e}");
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Connections finish the request they are on; give them a moment, then cut the rest.
    let _ = tokio::time::timeout(Duration::from_secs(5), async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let broker = match Arc::try_unwrap(shared) {
        Ok(shared) => shared.broker,
        Err(_) => return Ok(()),
    };
    match Arc::try_unwrap(broker) {
        Ok(broker) => broker.shutdown(now_ms())?,
        Err(broker) => broker.tick(now_ms(), false, true).map_err(BrokerError::from)?,
    }
    Ok(())
}

async fn ticker(shared: Arc<Shared>, retention_interval_ms: i64, mut stop: watch::Receiver<bool>) {
    let mut last_retention = now_ms();
    let mut last_checkpoint = now_ms();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            // Group sessions and rebalance deadlines are checked at this granularity.
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let now = now_ms();
        shared.broker.group_tick(now);
        shared.broker.txn_tick(now);
        shared.deliver_completions();
        let retention = now - last_retention >= retention_interval_ms;
        let checkpoint = now - last_checkpoint >= 60_000;
        if let Err(e) = shared.broker.tick(now, retention, checkpoint) {
            eprintln!("potok: periodic flush/retention failed: {e}");
        }
        if retention {
            last_retention = now;
        }
        if checkpoint {
            last_checkpoint = now;
        }
    }
}

/// Reads one frame: `Ok(None)` at a clean end of stream.
async fn read_frame(stream: &mut TcpStream, max_frame: usize) -> Result<Option<BytesMut>, ProtocolError> {
    let mut size = [0u8; 4];
    // A peer that hangs up (EOF, reset) between requests has simply left: not an error worth reporting.
    if stream.read_exact(&mut size).await.is_err() {
        return Ok(None);
    }
    // check_frame refuses a negative or oversized length; with only the prefix buffered it reports "incomplete".
    protocol::check_frame(&size, max_frame)?;
    let size = i32::from_be_bytes(size) as usize;
    // The size was checked against socket.request.max.bytes before this allocation.
    let mut frame = BytesMut::zeroed(size);
    if stream.read_exact(&mut frame).await.is_err() {
        return Ok(None);
    }
    Ok(Some(frame))
}

async fn serve_connection(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ProtocolError> {
    let _ = stream.set_nodelay(true);
    let client_host = format!("/{}", peer.ip());
    loop {
        let frame = tokio::select! {
            _ = stop.changed() => return Ok(()),
            frame = read_frame(&mut stream, shared.max_frame) => frame,
        };
        let Some(frame) = frame? else { return Ok(()) };
        let Some(response) = respond(&shared, frame.freeze(), &client_host, &mut stop).await? else { continue };
        if stream.write_all(&response).await.is_err() {
            return Ok(());
        }
    }
}

/// Handles one request frame; `Ok(None)` when no response is due (acks=0).
async fn respond(
    shared: &Shared,
    frame: bytes::Bytes,
    client_host: &str,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<BytesMut>, ProtocolError> {
    let (key, version) = protocol::peek_api(&frame)?;
    if key == ApiKey::ApiVersions as i16 && versions::supported(ApiKey::ApiVersions).is_some_and(|r| version > r.max) {
        // A client newer than potok: answer in version 0 with the versions it can pick from.
        let correlation_id = frame.get(4..8).map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let body = ResponseKind::ApiVersions(versions::api_versions_fallback());
        return protocol::encode_response(ApiKey::ApiVersions, 0, correlation_id, &body).map(Some);
    }
    let request = protocol::decode_request(frame)?;
    let api_key = request.api_key;
    let correlation_id = request.header.correlation_id;
    if let RequestKind::Fetch(fetch) = &request.body {
        let body = ResponseKind::Fetch(long_poll_fetch(shared, fetch, version, stop).await);
        return protocol::encode_response(api_key, version, correlation_id, &body).map(Some);
    }
    let is_produce = matches!(request.body, RequestKind::Produce(_));
    let ctx = RequestContext {
        token: shared.next_token.fetch_add(1, Ordering::Relaxed),
        client_id: request.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        client_host: client_host.to_string(),
    };
    // Registered before the broker sees the request, so an answer decided during the call finds its waiter.
    let (tx, rx) = oneshot::channel();
    shared.waiters.lock().unwrap_or_else(PoisonError::into_inner).insert(ctx.token, tx);
    let outcome = shared.broker.handle(request, &ctx, now_ms());
    if is_produce {
        shared.appended.notify_waiters();
    }
    shared.deliver_completions();
    let body = match outcome {
        Outcome::Respond(body) => body,
        Outcome::NoResponse => {
            shared.waiters.lock().unwrap_or_else(PoisonError::into_inner).remove(&ctx.token);
            return Ok(None);
        }
        Outcome::Parked => {
            let waited = tokio::select! {
                r = rx => r.ok(),
                _ = tokio::time::sleep(PARKED_REQUEST_MAX) => None,
                _ = stop.changed() => None,
            };
            match waited {
                Some(body) => body,
                None => {
                    return Err(ProtocolError::Malformed {
                        what: "group request",
                        message: "no answer before shutdown or timeout".into(),
                    })
                }
            }
        }
    };
    shared.waiters.lock().unwrap_or_else(PoisonError::into_inner).remove(&ctx.token);
    protocol::encode_response(api_key, version, correlation_id, &body).map(Some)
}

/// Answers a Fetch once it has `min_bytes` of records, a partition error, or `max_wait_ms` has passed.
async fn long_poll_fetch(
    shared: &Shared,
    request: &kafka_protocol::messages::FetchRequest,
    version: i16,
    stop: &mut watch::Receiver<bool>,
) -> kafka_protocol::messages::FetchResponse {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    loop {
        let notified = shared.appended.notified();
        tokio::pin!(notified);
        // Registered before looking, so an append between the look and the wait still wakes us.
        notified.as_mut().enable();
        let (response, bytes) = shared.broker.fetch(request, version);
        let has_error = response.error_code != 0
            || response.responses.iter().any(|t| t.partitions.iter().any(|p| p.error_code != 0));
        if bytes >= request.min_bytes.max(0) as usize || has_error || tokio::time::Instant::now() >= deadline {
            return response;
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = stop.changed() => return response,
        }
    }
}

/// A broker running in its own threads, for embedding (tests, bindings) and for the CLI.
#[derive(Debug)]
pub struct RunningBroker {
    address: SocketAddr,
    log_dir: PathBuf,
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
        let (tcp, broker, ephemeral) = runtime.block_on(bind(config))?;
        let address = tcp.local_addr()?;
        let log_dir = broker.log_dir().to_path_buf();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("potok-broker-main".into()).spawn(move || {
            let result = runtime.block_on(serve(tcp, broker, async {
                let _ = stop_rx.await;
            }));
            if let Some(dir) = ephemeral {
                let _ = std::fs::remove_dir_all(dir);
            }
            result
        })?;
        Ok(RunningBroker { address, log_dir, stop: Some(stop_tx), thread: Some(thread) })
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

    /// Stops serving, flushes and closes the logs; waits for it.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.stop_inner()
    }

    /// Waits until the broker stops (after [`RunningBroker::stop`] from elsewhere, or a fatal error).
    fn stop_inner(&mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServerError::Io(std::io::Error::other("broker thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningBroker {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
