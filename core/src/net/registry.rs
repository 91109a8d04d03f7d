//! The schema registry's IO (feature `native`): an HTTP/1.1 server (hyper) in front of [`crate::registry`], and
//! its store, the compacted single-partition `_schemas` topic, reached through potok's own Kafka client on the
//! broker's listener (so it works unchanged whichever broker of a cluster it runs on).
//!
//! Reads answer from the state rebuilt by a reader that tails `_schemas` (read_committed). Writes are serialised
//! through Kafka's transactional fencing: every registry writes with the same `transactional.id`, so a
//! registry that starts writing fences the one that wrote before it. A write (1) initialises the producer if it
//! has none (which fences any other writer and completes its transaction), (2) reads `_schemas` to its end, (3)
//! plans the records against that state, (4) writes them in one transaction and (5) answers once the reader has
//! applied them. If another registry fenced it in between, the commit fails, nothing of it is visible, and the
//! write starts again from (1): so ids and versions are decided against everything committed before, and two
//! registries can never hand out the same id. Only `_schemas` itself holds the registry's state.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::{oneshot, Semaphore};

use crate::client::admin::{Admin, IsolationLevel, NewTopic, OffsetSpec};
use crate::client::consumer::Consumer;
use crate::client::producer::{Producer, ProducerRecord};
use crate::client::{ClientError, TopicPartition};
use crate::registry::rest::{parse_query, RestError};
use crate::registry::{CompatibilityLevel, Outcome, Registry, Request, Response};

/// The registry's topic, as Confluent names it (`kafkastore.topic`).
pub const SCHEMAS_TOPIC: &str = "_schemas";
/// The `transactional.id` every registry writes with: the single writer at a time.
pub const WRITER_TRANSACTIONAL_ID: &str = "potok-schema-registry";
/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Most HTTP connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Writes waiting for the store thread.
pub const MAX_PENDING_WRITES: usize = 256;
/// How long a write may take before the client gets Confluent's timeout error (50002).
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long start-up waits for `_schemas` to be created and read (Confluent's `kafkastore.init.timeout.ms`).
const INIT_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts of one write before it fails with a store error (fencing by another registry restarts it).
const WRITE_ATTEMPTS: usize = 5;

const V1_JSON: &str = "application/vnd.schemaregistry.v1+json";

/// Why the registry could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error("schema registry store: {0}")]
    Store(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ClientError> for RegistryError {
    fn from(e: ClientError) -> Self {
        RegistryError::Store(e.to_string())
    }
}

/// What the HTTP side shares with the store thread.
struct Shared {
    state: RwLock<Registry>,
    /// The next `_schemas` offset the state has not applied yet.
    applied: Mutex<i64>,
    applied_changed: Condvar,
    reader: Consumer,
    /// Asks for `_schemas`' end on its own connection: the reader's is often held by a long-polling Fetch,
    /// which the broker answers before any later request on that connection.
    offsets: Admin,
    stop: AtomicBool,
}

struct WriteJob {
    request: Request,
    reply: oneshot::Sender<Response>,
}

/// A running schema registry: its HTTP server and its `_schemas` store.
#[derive(Debug)]
pub struct RegistryServer {
    address: SocketAddr,
    stop_http: Option<oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    shared: Arc<SharedHandle>,
}

/// `Shared` behind a type with a `Debug` impl.
struct SharedHandle(Arc<Shared>);

impl std::fmt::Debug for SharedHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SchemaRegistryStore")
    }
}

fn client_config(bootstrap: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut c = vec![
        ("bootstrap.servers".to_string(), bootstrap.to_string()),
        ("client.id".to_string(), "potok-schema-registry".to_string()),
    ];
    c.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    c
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RegistryServer {
    /// Binds `host:port`, makes sure `_schemas` exists (one partition, compacted), reads it, and serves.
    pub fn start(bootstrap: &str, host: &str, port: u16) -> Result<RegistryServer, RegistryError> {
        let address = format!("{host}:{port}");
        let std_listener =
            std::net::TcpListener::bind(&address).map_err(|source| RegistryError::Bind { address, source })?;
        std_listener.set_nonblocking(true)?;
        let bound = std_listener.local_addr()?;
        ensure_topic(bootstrap)?;
        let reader = Consumer::new(&client_config(
            bootstrap,
            &[
                ("isolation.level", "read_committed"),
                ("enable.auto.commit", "false"),
                ("auto.offset.reset", "earliest"),
            ],
        ))?;
        let tp = TopicPartition::new(SCHEMAS_TOPIC, 0);
        reader.assign(std::slice::from_ref(&tp))?;
        reader.seek_to_beginning(std::slice::from_ref(&tp))?;
        let shared = Arc::new(Shared {
            state: RwLock::new(Registry::new(CompatibilityLevel::Backward)),
            applied: Mutex::new(0),
            applied_changed: Condvar::new(),
            reader,
            offsets: Admin::new(&client_config(bootstrap, &[]))?,
            stop: AtomicBool::new(false),
        });
        // Serve only once the state holds everything already in `_schemas`.
        let end = end_offset(&shared)?;
        catch_up(&shared, end, Instant::now() + INIT_TIMEOUT)?;

        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<WriteJob>(MAX_PENDING_WRITES);
        let store_shared = shared.clone();
        let store_bootstrap = bootstrap.to_string();
        let store = std::thread::Builder::new()
            .name("potok-registry-store".into())
            .spawn(move || store_loop(store_shared, store_bootstrap, jobs_rx))?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let http_shared = shared.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let http = std::thread::Builder::new().name("potok-registry-http".into()).spawn(move || {
            runtime.block_on(serve_http(std_listener, http_shared, jobs_tx, stop_rx));
        })?;
        Ok(RegistryServer {
            address: bound,
            stop_http: Some(stop_tx),
            threads: vec![http, store],
            shared: Arc::new(SharedHandle(shared)),
        })
    }

    /// The address the HTTP server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://host:port`, what clients put in `schema.registry.url` (127.0.0.1 for a wildcard bind).
    pub fn url(&self) -> String {
        if self.address.ip().is_unspecified() {
            format!("http://127.0.0.1:{}", self.address.port())
        } else {
            format!("http://{}", self.address)
        }
    }

    /// Stops serving and waits for the threads.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(tx) = self.stop_http.take() {
            let _ = tx.send(());
        }
        self.shared.0.stop.store(true, Ordering::SeqCst);
        self.shared.0.reader.wakeup();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = self.shared.0.reader.close(Some(Duration::from_secs(1)));
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Creates `_schemas` (one partition, compacted, as many replicas as the cluster has up to 3) unless it exists,
/// and refuses a `_schemas` with more than one partition, as Confluent's registry does.
fn ensure_topic(bootstrap: &str) -> Result<(), RegistryError> {
    let admin = Admin::new(&client_config(bootstrap, &[]))?;
    let deadline = Instant::now() + INIT_TIMEOUT;
    let brokers = admin.describe_cluster(Some(INIT_TIMEOUT))?.brokers.len().clamp(1, 3) as i16;
    let mut topic = NewTopic::new(SCHEMAS_TOPIC, 1, brokers);
    topic.configs = vec![("cleanup.policy".into(), "compact".into())];
    for (_, result) in admin.create_topics(&[topic], false, Some(INIT_TIMEOUT))? {
        match result {
            Ok(()) => {}
            Err(e) if e.name() == "TOPIC_ALREADY_EXISTS" => {}
            Err(e) => return Err(e.into()),
        }
    }
    loop {
        let described = admin.describe_topics(&[SCHEMAS_TOPIC.to_string()], Some(INIT_TIMEOUT))?;
        let partitions = described.first().and_then(|(_, t)| t.as_ref().ok()).map_or(0, |t| t.partitions.len());
        match partitions {
            1 => return Ok(()),
            0 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            n => {
                return Err(RegistryError::Store(format!(
                    "the schemas topic {SCHEMAS_TOPIC} must have 1 partition, it has {n}"
                )))
            }
        }
    }
}

/// The last stable offset of `_schemas`: everything committed before it is what a write must have read.
fn end_offset(shared: &Shared) -> Result<i64, RegistryError> {
    let tp = TopicPartition::new(SCHEMAS_TOPIC, 0);
    let answer = shared.offsets.list_offsets(
        &[(tp.clone(), OffsetSpec::Latest)],
        IsolationLevel::ReadCommitted,
        Some(INIT_TIMEOUT),
    )?;
    match answer.into_iter().find(|(p, _)| *p == tp) {
        Some((_, Ok(info))) => Ok(info.offset),
        Some((_, Err(e))) => Err(e.into()),
        None => Err(RegistryError::Store(format!("no end offset for {tp}"))),
    }
}

/// Reads and applies `_schemas` until the state has applied every offset below `target`.
fn catch_up(shared: &Shared, target: i64, deadline: Instant) -> Result<(), RegistryError> {
    let tp = TopicPartition::new(SCHEMAS_TOPIC, 0);
    loop {
        if *lock(&shared.applied) >= target {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(RegistryError::Store(format!("timed out reading {SCHEMAS_TOPIC} up to offset {target}")));
        }
        if shared.stop.load(Ordering::SeqCst) {
            return Err(RegistryError::Store("the registry is stopping".into()));
        }
        poll_once(shared, Duration::from_millis(100))?;
        // Control records (transaction markers) move the position without yielding records.
        let position = shared.reader.position(&tp, Some(Duration::from_secs(5)))?;
        let mut applied = lock(&shared.applied);
        if position > *applied {
            *applied = position;
            shared.applied_changed.notify_all();
        }
    }
}

/// One poll of the reader: applies what it returns. A wakeup (a write is waiting) is not an error.
fn poll_once(shared: &Shared, timeout: Duration) -> Result<(), RegistryError> {
    let records = match shared.reader.poll(timeout) {
        Ok(r) => r,
        Err(ClientError::Wakeup) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if records.is_empty() {
        return Ok(());
    }
    let mut state = shared.state.write().unwrap_or_else(PoisonError::into_inner);
    let mut next = None;
    for r in records {
        if let Some(key) = &r.key {
            if let Err(e) = state.apply(key, r.value.as_deref()) {
                tracing::warn!("schema registry skipped {SCHEMAS_TOPIC} offset {}: {e}", r.offset);
            }
        }
        next = Some(r.offset + 1);
    }
    drop(state);
    if let Some(next) = next {
        let mut applied = lock(&shared.applied);
        if next > *applied {
            *applied = next;
            shared.applied_changed.notify_all();
        }
    }
    Ok(())
}

/// The store thread: tails `_schemas` and performs writes one at a time.
fn store_loop(shared: Arc<Shared>, bootstrap: String, jobs: Receiver<WriteJob>) {
    let mut writer: Option<Producer> = None;
    let tp = TopicPartition::new(SCHEMAS_TOPIC, 0);
    while !shared.stop.load(Ordering::SeqCst) {
        while let Ok(job) = jobs.try_recv() {
            let response = write(&shared, &bootstrap, &mut writer, &job.request);
            let _ = job.reply.send(response);
        }
        if let Err(e) = poll_once(&shared, Duration::from_millis(500)) {
            if !shared.stop.load(Ordering::SeqCst) {
                tracing::warn!("schema registry reader: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            continue;
        }
        if let Ok(position) = shared.reader.position(&tp, Some(Duration::from_secs(1))) {
            let mut applied = lock(&shared.applied);
            if position > *applied {
                *applied = position;
                shared.applied_changed.notify_all();
            }
        }
    }
    if let Some(w) = writer {
        let _ = w.close(Some(Duration::from_secs(1)));
    }
}

fn new_writer(bootstrap: &str) -> Result<Producer, ClientError> {
    let producer = Producer::new(&client_config(
        bootstrap,
        &[
            ("transactional.id", WRITER_TRANSACTIONAL_ID),
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("transaction.timeout.ms", "10000"),
            ("linger.ms", "0"),
        ],
    ))?;
    producer.init_transactions(Some(Duration::from_secs(30)))?;
    Ok(producer)
}

/// Performs one write request (see the module doc), retrying after fencing or a store error.
fn write(shared: &Shared, bootstrap: &str, writer: &mut Option<Producer>, request: &Request) -> Response {
    let mut last_error = String::from("no attempt made");
    for attempt in 0..WRITE_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(50 * (1 << attempt.min(4))));
        }
        if writer.is_none() {
            match new_writer(bootstrap) {
                Ok(p) => *writer = Some(p),
                Err(e) => {
                    last_error = e.to_string();
                    continue;
                }
            }
        }
        let Some(producer) = writer.as_ref() else { continue };
        let deadline = Instant::now() + Duration::from_secs(30);
        if let Err(e) = end_offset(shared).and_then(|end| catch_up(shared, end, deadline)) {
            last_error = e.to_string();
            continue;
        }
        let outcome = shared.state.read().unwrap_or_else(PoisonError::into_inner).handle(request);
        let (records, response) = match outcome {
            Outcome::Done(response) => return response,
            Outcome::Write { records, response } => (records, response),
        };
        match append(producer, records) {
            Ok(last_offset) => {
                // Answer once our own records are part of the state, so a read that follows sees them.
                match catch_up(shared, last_offset + 1, Instant::now() + WRITE_TIMEOUT) {
                    Ok(()) => return response,
                    Err(e) => return RestError::timeout(format!("Write to the Kafka store timed out: {e}")).response(),
                }
            }
            Err(e) if e.name() == "MESSAGE_TOO_LARGE" || e.name() == "RECORD_TOO_LARGE" => {
                let _ = producer.abort_transaction(Some(Duration::from_secs(5)));
                return RestError::too_large().response();
            }
            Err(e) => {
                // Fenced by another registry, or the store failed: start over with a new writer.
                last_error = e.to_string();
                if let Some(p) = writer.take() {
                    let _ = p.close(Some(Duration::from_secs(1)));
                }
            }
        }
    }
    RestError::store(format!("Error while writing to the Kafka store: {last_error}")).response()
}

/// Writes `records` to `_schemas` in one transaction; the offset of the last one.
fn append(producer: &Producer, records: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<i64, ClientError> {
    producer.begin_transaction()?;
    let mut futures = Vec::with_capacity(records.len());
    for (key, value) in records {
        let record = ProducerRecord {
            topic: SCHEMAS_TOPIC.to_string(),
            partition: Some(0),
            key: Some(Bytes::from(key)),
            value: value.map(Bytes::from),
            ..Default::default()
        };
        futures.push(producer.send(record)?);
    }
    let mut last = -1;
    for f in futures {
        last = last.max(f.wait()?.offset);
    }
    producer.commit_transaction(Some(Duration::from_secs(30)))?;
    Ok(last)
}

async fn serve_http(
    std_listener: std::net::TcpListener,
    shared: Arc<Shared>,
    jobs: SyncSender<WriteJob>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(std_listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("schema registry cannot listen: {e}");
            return;
        }
    };
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // Small JSON answers: without this, Nagle's algorithm and delayed ACKs add 40 ms to a POST.
                let _ = stream.set_nodelay(true);
                let Ok(permit) = connections.clone().try_acquire_owned() else { continue };
                let (shared, jobs) = (shared.clone(), jobs.clone());
                tasks.spawn(async move {
                    let _permit = permit;
                    let service = service_fn(move |req| {
                        let (shared, jobs) = (shared.clone(), jobs.clone());
                        async move { Ok::<_, Infallible>(answer(&shared, &jobs, req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.abort_all();
}

/// The content type of the answer: Confluent's v1 type unless the client accepts only plain JSON.
fn content_type(accept: Option<&HeaderValue>) -> &'static str {
    let Some(accept) = accept.and_then(|a| a.to_str().ok()) else { return V1_JSON };
    let accepts =
        |t: &str| accept.split(',').any(|p| p.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case(t)));
    if accepts(V1_JSON) || accepts("*/*") || accepts("application/*") {
        V1_JSON
    } else if accepts("application/vnd.schemaregistry+json") {
        "application/vnd.schemaregistry+json"
    } else if accepts("application/json") {
        "application/json"
    } else {
        V1_JSON
    }
}

async fn answer(
    shared: &Shared,
    jobs: &SyncSender<WriteJob>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let reply_type = content_type(req.headers().get(ACCEPT));
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(parse_query).unwrap_or_default();
    let content = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let response = match Limited::new(req.into_body(), MAX_BODY_BYTES).collect().await {
        Err(_) => Response {
            status: 413,
            body: format!(r#"{{"error_code":413,"message":"Request body larger than {MAX_BODY_BYTES} bytes"}}"#),
        },
        Ok(body) => {
            let request = Request { method, path, query, content_type: content, body: body.to_bytes().to_vec() };
            let outcome = shared.state.read().unwrap_or_else(PoisonError::into_inner).handle(&request);
            match outcome {
                Outcome::Done(r) => r,
                // The store thread plans the write again on state read to the end of `_schemas`.
                Outcome::Write { .. } => submit(shared, jobs, request).await,
            }
        }
    };
    let mut builder = hyper::Response::builder().status(response.status).header(CONTENT_TYPE, reply_type);
    if response.status == 405 {
        builder = builder.header("Allow", "GET, POST, PUT, DELETE");
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

async fn submit(shared: &Shared, jobs: &SyncSender<WriteJob>, request: Request) -> Response {
    let (tx, rx) = oneshot::channel();
    match jobs.try_send(WriteJob { request, reply: tx }) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return RestError::store("Too many writes waiting for the Kafka store").response()
        }
        Err(TrySendError::Disconnected(_)) => return RestError::store("The schema registry is stopping").response(),
    }
    // The store thread may be in a long poll: wake it for the write.
    shared.reader.wakeup();
    match tokio::time::timeout(WRITE_TIMEOUT, rx).await {
        Ok(Ok(response)) => response,
        Ok(Err(_)) => RestError::store("The schema registry is stopping").response(),
        Err(_) => RestError::timeout("Write to the Kafka store timed out").response(),
    }
}
