//! The native producer: the blocking, thread-safe public API ([`Producer`]) and the state its handles share
//! with the sender's driver task. `send` appends to the accumulator inside the sans-IO [`Sender`]; the driver
//! (`driver.rs`) sends what the sender decides.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};

use crate::client::cluster::{Cluster, ConnectionFailure, TopicMetadata};
use crate::client::config::{ClientKind, CommonConfig, Properties};
use crate::client::error::{ClientError, Result};
use crate::client::partitioner::{
    self, Appended as PartitionerAppended, DefaultPartitioner, DefaultPartitionerConfig, Partitioner,
};
use crate::client::{runtime, TopicPartition};
use crate::record::Header;

use super::accumulator::{Accumulator, Thunk};
use super::awaiting::{self, AwaitingMetadata};
use super::config::ProducerConfig;
use super::sender::Sender;
use super::transaction::{ConsumerGroupMetadata, TxnCall};
use super::transactions;
use super::{driver, ProducerRecord, RecordMetadata};

/// The outcome of one `send`: a future (awaitable from any executor) that can also be waited on or given a
/// callback.
#[derive(Debug)]
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| r.unwrap_or(Err(ClientError::Closed)))
    }
}

impl DeliveryFuture {
    /// Blocks until the record is acknowledged or failed.
    pub fn wait(self) -> Result<RecordMetadata> {
        runtime::block_on(self)?
    }

    /// Runs `callback` with the outcome, on a client IO thread.
    pub fn on_complete(self, callback: impl FnOnce(Result<RecordMetadata>) + Send + 'static) {
        runtime::handle().spawn(async move { callback(self.await) });
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the producer's handles and its driver task.
pub(crate) struct Inner {
    pub cluster: Arc<Cluster>,
    pub config: ProducerConfig,
    pub common: CommonConfig,
    partitioner: Box<dyn Partitioner>,
    /// The sans-IO sender and its accumulator, which `send` appends to.
    pub sender: Mutex<Sender>,
    /// The start of the sender's millisecond clock (see [`Inner::now_ms`]).
    clock: Instant,
    /// Completions the driver took out of `sender` and has not delivered yet: flush and close wait for them too.
    pub completing: AtomicUsize,
    /// Records sent with `try_send` whose topic's metadata is not known yet (lock order: before `sender`).
    pub awaiting: Mutex<AwaitingMetadata>,
    /// `awaiting.len()`, readable without the lock (every send looks at it).
    pub awaiting_count: AtomicUsize,
    /// Signalled whenever batches complete (flush and close wait on it, with `sender` locked).
    pub completed: Condvar,
    memory_used: Mutex<usize>,
    memory_freed: Condvar,
    pub wake: Notify,
    /// Flushes in progress: while non-zero every batch is ready regardless of linger.
    pub flushing: AtomicU64,
    pub closing: AtomicBool,
    pub sender_done: AtomicBool,
    /// The outcome of the last transactional call, handed over by the driver (lock order: after `sender`; set
    /// with `sender` locked and announced through `completed`).
    pub txn_outcome: Mutex<Option<(TxnCall, Result<()>)>>,
}

impl Inner {
    /// Milliseconds on the producer's monotonic clock: the time the sender and its accumulator work in.
    pub fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// The instant a time on the producer's clock stands for.
    pub fn instant(&self, ms: u64) -> Instant {
        self.clock + Duration::from_millis(ms)
    }

    pub fn release(&self, bytes: usize) {
        let mut used = lock(&self.memory_used);
        *used = used.saturating_sub(bytes);
        self.memory_freed.notify_all();
    }

    /// Takes `bytes` of `buffer.memory`, waiting until `deadline` for others to free it.
    fn reserve(&self, bytes: usize, deadline: Instant) -> Result<()> {
        let mut used = lock(&self.memory_used);
        loop {
            if *used + bytes <= self.config.buffer_memory {
                *used += bytes;
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout(format!(
                    "failed to allocate {bytes} bytes within the configured max blocking time {} ms",
                    self.config.max_block.as_millis()
                )));
            }
            used = self.memory_freed.wait_timeout(used, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Takes `bytes` of `buffer.memory` if they are free now.
    fn try_reserve(&self, bytes: usize) -> Result<()> {
        let mut used = lock(&self.memory_used);
        if *used + bytes > self.config.buffer_memory {
            return Err(ClientError::BufferFull(format!(
                "{bytes} bytes do not fit: {} of buffer.memory={} are in use",
                *used, self.config.buffer_memory
            )));
        }
        *used += bytes;
        Ok(())
    }

    /// Records and batches not yet completed, with the sender locked (flush and close wait for zero).
    pub fn incomplete(&self, sender: &Sender) -> usize {
        sender.incomplete_batches()
            + self.completing.load(Ordering::Acquire)
            + self.awaiting_count.load(Ordering::Acquire)
    }

    /// The partition for a record of a topic whose metadata is known: the record's own (checked against the
    /// partition count) or the partitioner's choice among partitions with a leader.
    fn choose_partition(&self, record: &ProducerRecord, topic: &TopicMetadata) -> Result<i32> {
        partitioner::choose_partition(self.partitioner.as_ref(), record, topic)
    }

    /// Appends a record whose partition is chosen and whose `reserved_bytes` of memory are taken.
    fn append_to_accumulator(&self, record: ProducerRecord, partition: i32, reserved_bytes: usize, thunk: Thunk) {
        let headers: Vec<Header> =
            record.headers.iter().map(|(k, v)| Header { key: k.clone(), value: v.clone() }).collect();
        let timestamp = record.timestamp.unwrap_or_else(crate::net::now_ms);
        let tp = TopicPartition::new(record.topic, partition);
        let appended = lock(&self.sender).accumulator_mut().append(
            &tp,
            timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &headers,
            reserved_bytes,
            thunk,
            self.now_ms(),
        );
        if record.partition.is_none() {
            self.partitioner.on_append(&PartitionerAppended {
                topic: &tp.topic,
                partition,
                key_present: record.key.is_some(),
                appended_bytes: appended.appended_bytes,
                all_batches_full: appended.all_batches_full,
            });
        }
        if appended.wake_sender || self.config.linger.is_zero() {
            self.wake.notify_one();
        }
    }

    /// Moves the records waiting for `topic` into the accumulator now that its metadata is known; a record whose
    /// partition does not exist fails. Called by the sender.
    pub fn place_awaiting(&self, topic: &TopicMetadata) {
        let mut awaiting = lock(&self.awaiting);
        for waiting in awaiting.take(&topic.name) {
            match self.choose_partition(&waiting.record, topic) {
                Ok(partition) => {
                    self.append_to_accumulator(waiting.record, partition, waiting.reserved_bytes, waiting.thunk)
                }
                Err(e) => {
                    self.release(waiting.reserved_bytes);
                    waiting.thunk.complete(Err(e));
                }
            }
        }
        self.awaiting_count.store(awaiting.len(), Ordering::Release);
    }

    /// Takes records waiting for metadata out (`take` picks which), keeping the count in step.
    pub fn take_awaiting(
        &self,
        take: impl FnOnce(&mut AwaitingMetadata) -> Vec<awaiting::AwaitingRecord>,
    ) -> Vec<awaiting::AwaitingRecord> {
        let mut awaiting = lock(&self.awaiting);
        let taken = take(&mut awaiting);
        self.awaiting_count.store(awaiting.len(), Ordering::Release);
        taken
    }

    /// Fails records taken from the metadata wait with the error `error` makes for their topic.
    pub fn fail_awaiting(&self, records: Vec<awaiting::AwaitingRecord>, error: impl Fn(&str) -> ClientError) {
        if records.is_empty() {
            return;
        }
        for waiting in records {
            self.release(waiting.reserved_bytes);
            waiting.thunk.complete(Err(error(&waiting.record.topic)));
        }
        let _guard = lock(&self.sender);
        self.completed.notify_all();
    }
}

struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The last handle is gone: let the sender deliver what is queued, then stop.
        self.inner.closing.store(true, Ordering::Release);
        self.inner.wake.notify_one();
    }
}

static PRODUCER_IDS: AtomicU64 = AtomicU64::new(1);

/// Kafka's producer. Cloning gives another handle to the same producer (it is thread-safe).
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("client_id", &self.inner().common.client_id).finish_non_exhaustive()
    }
}

impl Producer {
    /// A producer from Kafka config pairs, with Kafka's default partitioner.
    pub fn new(config: &[(String, String)]) -> Result<Producer> {
        Producer::with_partitioner(config, None)
    }

    /// A producer with a user-supplied partitioner (Kafka's `partitioner.class`).
    pub fn with_partitioner(
        config: &[(String, String)],
        partitioner: Option<Box<dyn Partitioner>>,
    ) -> Result<Producer> {
        let props = Properties::parse(ClientKind::Producer, config)?;
        let producer_config = ProducerConfig::from_properties(&props)?;
        let id = PRODUCER_IDS.fetch_add(1, Ordering::Relaxed);
        let default_id = match &producer_config.transactional_id {
            Some(t) => format!("producer-{t}"),
            None => format!("producer-{id}"),
        };
        let common = CommonConfig::from_properties(&props, default_id)?;
        let awaiting =
            AwaitingMetadata::new(common.retry_backoff.as_millis() as u64, common.retry_backoff_max.as_millis() as u64);
        let partitioner = partitioner.unwrap_or_else(|| {
            Box::new(DefaultPartitioner::new(DefaultPartitionerConfig {
                batch_size: producer_config.batch_size,
                ignore_keys: producer_config.ignore_keys,
                seed: (std::process::id() as u64) << 32 ^ id ^ crate::net::now_ms() as u64,
            }))
        });
        let sender = Sender::new(producer_config.sender_config(&common));
        let inner = Arc::new(Inner {
            cluster: Cluster::new(common.clone()),
            txn_outcome: Mutex::new(None),
            config: producer_config,
            common,
            partitioner,
            sender: Mutex::new(sender),
            clock: Instant::now(),
            completing: AtomicUsize::new(0),
            awaiting: Mutex::new(awaiting),
            awaiting_count: AtomicUsize::new(0),
            completed: Condvar::new(),
            memory_used: Mutex::new(0),
            memory_freed: Condvar::new(),
            wake: Notify::new(),
            flushing: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            sender_done: AtomicBool::new(false),
        });
        runtime::handle().spawn(driver::run(inner.clone()));
        Ok(Producer { handle: Arc::new(Handle { inner }) })
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    /// Sends a record; the returned future completes when the broker acknowledged it (or it failed). Blocks up to
    /// `max.block.ms` for the topic's metadata and for `buffer.memory`, as Kafka's Java producer does.
    pub fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let (tx, rx) = oneshot::channel();
        self.append(record, Thunk::Channel(tx), Some(self.block_deadline()))?;
        Ok(DeliveryFuture { rx })
    }

    /// Sends a record and runs `callback` with the outcome on a client IO thread (keep it short). Blocks as
    /// [`Producer::send`] does.
    pub fn send_with_callback(
        &self,
        record: ProducerRecord,
        callback: impl FnOnce(Result<RecordMetadata>) + Send + 'static,
    ) -> Result<()> {
        self.append(record, Thunk::Callback(Box::new(callback)), Some(self.block_deadline()))
    }

    /// When a send made now stops blocking: `max.block.ms` from now.
    pub fn block_deadline(&self) -> Instant {
        Instant::now() + self.inner().config.max_block
    }

    /// [`Producer::send_with_callback`] blocking until `deadline` rather than for `max.block.ms` from the call: for
    /// hosts that queue sends before they reach the producer (a Node.js client's thread), where `max.block.ms`
    /// counts from the host's own call ([`Producer::block_deadline`] then), as the Java producer counts it from
    /// `send()`. A send that waited its turn past the deadline fails at once if the buffer has no room for it.
    pub fn send_with_callback_until(
        &self,
        record: ProducerRecord,
        deadline: Instant,
        callback: impl FnOnce(Result<RecordMetadata>) + Send + 'static,
    ) -> Result<()> {
        self.append(record, Thunk::Callback(Box::new(callback)), Some(deadline))
    }

    /// Sends a record without ever blocking, as librdkafka's `produce()`: a record for a topic whose metadata is
    /// not known yet is queued until the sender learns it (it fails if that takes `delivery.timeout.ms`), and a
    /// full `buffer.memory` is [`ClientError::BufferFull`] at once.
    pub fn try_send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let (tx, rx) = oneshot::channel();
        self.append(record, Thunk::Channel(tx), None)?;
        Ok(DeliveryFuture { rx })
    }

    /// [`Producer::try_send`] with a callback, run with the outcome on a client IO thread (keep it short).
    pub fn try_send_with_callback(
        &self,
        record: ProducerRecord,
        callback: impl FnOnce(Result<RecordMetadata>) + Send + 'static,
    ) -> Result<()> {
        self.append(record, Thunk::Callback(Box::new(callback)), None)
    }

    /// Sets who hears about failed broker connections (Kafka's clients log each one; librdkafka calls
    /// `error_cb`). A failure repeated for the same address is reported once.
    pub fn set_connection_listener(&self, listener: impl Fn(&ConnectionFailure) + Send + Sync + 'static) {
        self.inner().cluster.set_connection_listener(Arc::new(listener));
    }

    /// Whether the producer ever reached a broker.
    pub fn has_connected(&self) -> bool {
        self.inner().cluster.has_connected()
    }

    /// `client.id`, or the one the producer made up (`producer-N`).
    pub fn client_id(&self) -> &str {
        &self.inner().common.client_id
    }

    /// Appends a record, blocking until `deadline` for metadata and buffer room, or (`None`) never.
    fn append(&self, record: ProducerRecord, thunk: Thunk, deadline: Option<Instant>) -> Result<()> {
        let inner = self.inner();
        if inner.closing.load(Ordering::Acquire) {
            return Err(ClientError::IllegalState("cannot send after the producer is closed".into()));
        }
        if record.topic.is_empty() {
            return Err(ClientError::InvalidArgument("topic must not be empty".into()));
        }
        transactions::check_can_send(inner)?;
        let headers: Vec<Header> =
            record.headers.iter().map(|(k, v)| Header { key: k.clone(), value: v.clone() }).collect();
        let size = Accumulator::record_size_upper_bound(record.key.as_deref(), record.value.as_deref(), &headers);
        if size > inner.config.max_request_size {
            return Err(ClientError::from_code(
                10,
                Some(format!(
                    "the message is {size} bytes when serialized which is larger than {}, which is the value of the max.request.size configuration",
                    inner.config.max_request_size
                )),
            ));
        }
        if size > inner.config.buffer_memory {
            return Err(ClientError::from_code(
                10,
                Some(format!(
                    "the message is {size} bytes when serialized which is larger than the total memory buffer you have configured with the buffer.memory configuration"
                )),
            ));
        }
        // The metadata snapshot is borrowed, not copied: this runs once per record.
        let metadata = inner.cluster.metadata();
        let fetched;
        let topic = match (metadata.topics.get(&record.topic), deadline) {
            (Some(t), _) if !t.partitions.is_empty() => t,
            (_, None) => {
                inner.try_reserve(size)?;
                let mut awaiting = lock(&inner.awaiting);
                awaiting.push(record, thunk, size, inner.now_ms());
                inner.awaiting_count.store(awaiting.len(), Ordering::Release);
                drop(awaiting);
                inner.wake.notify_one();
                return Ok(());
            }
            (_, Some(deadline)) => {
                let (cluster, name) = (inner.cluster.clone(), record.topic.clone());
                fetched = runtime::block_on(async move { cluster.topic(&name, true, deadline).await })??;
                &fetched
            }
        };
        let partition = inner.choose_partition(&record, topic)?;
        match deadline {
            Some(deadline) => inner.reserve(size, deadline)?,
            None => inner.try_reserve(size)?,
        }
        if inner.awaiting_count.load(Ordering::Acquire) > 0 {
            // Records of this topic still waiting for metadata go first: queue behind them. The lock is held
            // across the append so the sender cannot move them in between.
            let mut awaiting = lock(&inner.awaiting);
            if awaiting.has(&record.topic) {
                awaiting.push(record, thunk, size, inner.now_ms());
                inner.awaiting_count.store(awaiting.len(), Ordering::Release);
                drop(awaiting);
                inner.wake.notify_one();
                return Ok(());
            }
            inner.append_to_accumulator(record, partition, size, thunk);
            return Ok(());
        }
        inner.append_to_accumulator(record, partition, size, thunk);
        Ok(())
    }

    /// Sends everything queued now and waits until every record sent before the call is complete.
    pub fn flush(&self, timeout: Option<Duration>) -> Result<()> {
        let inner = self.inner();
        inner.flushing.fetch_add(1, Ordering::AcqRel);
        inner.wake.notify_one();
        let result = wait_idle(inner, timeout);
        inner.flushing.fetch_sub(1, Ordering::AcqRel);
        result
    }

    /// Delivers what is queued (within `timeout`; `None`: wait as long as it takes), then stops the sender.
    /// Records still queued when the timeout passes fail.
    pub fn close(&self, timeout: Option<Duration>) -> Result<()> {
        let inner = self.inner();
        inner.closing.store(true, Ordering::Release);
        inner.wake.notify_one();
        let result = wait_idle(inner, timeout);
        if result.is_err() {
            inner.fail_awaiting(inner.take_awaiting(AwaitingMetadata::take_all), |_| ClientError::Closed);
            for batch in lock(&inner.sender).accumulator_mut().take_all() {
                inner.release(batch.reserved_bytes);
                batch.fail(&ClientError::Closed);
            }
            inner.wake.notify_one();
        }
        inner.cluster.close();
        result
    }

    /// The partitions of a topic (waiting up to `max.block.ms` for metadata).
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<crate::client::cluster::PartitionMetadata>> {
        let inner = self.inner();
        let (cluster, name, deadline) =
            (inner.cluster.clone(), topic.to_string(), Instant::now() + inner.config.max_block);
        Ok(runtime::block_on(async move { cluster.topic(&name, true, deadline).await })??.partitions)
    }

    /// Registers the producer's transactional id and fences older producers with the same id.
    pub fn init_transactions(&self, timeout: Option<Duration>) -> Result<()> {
        transactions::init(self.inner(), timeout.unwrap_or(self.inner().config.max_block))
    }

    pub fn begin_transaction(&self) -> Result<()> {
        transactions::begin(self.inner())
    }

    /// Adds a consumer group's offsets to the transaction (consume-transform-produce).
    pub fn send_offsets_to_transaction(
        &self,
        offsets: &std::collections::BTreeMap<TopicPartition, crate::client::OffsetAndMetadata>,
        group: &ConsumerGroupMetadata,
        timeout: Option<Duration>,
    ) -> Result<()> {
        transactions::send_offsets(self.inner(), offsets, group, timeout.unwrap_or(self.inner().config.max_block))
    }

    pub fn commit_transaction(&self, timeout: Option<Duration>) -> Result<()> {
        // The machine sends every queued batch before EndTxn on its own; the flush also waits for records of
        // `try_send` that still wait for their topic's metadata, which the machine does not see yet.
        self.flush(timeout)?;
        transactions::end(self.inner(), true, timeout.unwrap_or(self.inner().config.max_block))
    }

    pub fn abort_transaction(&self, timeout: Option<Duration>) -> Result<()> {
        // Records sent in the transaction are delivered (and then aborted by the markers), so no batch is left
        // to leak into the next transaction.
        let _ = self.flush(timeout);
        transactions::end(self.inner(), false, timeout.unwrap_or(self.inner().config.max_block))
    }
}

/// Waits until the accumulator holds no incomplete batch (or the sender stopped), at most `timeout`.
fn wait_idle(inner: &Inner, timeout: Option<Duration>) -> Result<()> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut sender = lock(&inner.sender);
    while inner.incomplete(&sender) > 0 && !inner.sender_done.load(Ordering::Acquire) {
        let wait = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Err(ClientError::Timeout(format!(
                        "{} batch(es) and {} record(s) awaiting metadata still incomplete after the timeout",
                        sender.incomplete_batches() + inner.completing.load(Ordering::Acquire),
                        inner.awaiting_count.load(Ordering::Acquire)
                    )));
                }
                (d - now).min(Duration::from_millis(100))
            }
            None => Duration::from_millis(100),
        };
        sender = inner.completed.wait_timeout(sender, wait).unwrap_or_else(PoisonError::into_inner).0;
    }
    Ok(())
}
