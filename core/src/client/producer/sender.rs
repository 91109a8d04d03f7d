//! The producer's background sender: one task per producer on the client runtime. It fetches a producer id
//! for idempotence, expires batches past `delivery.timeout.ms`, looks up the metadata of topics that records
//! sent with `try_send` wait for (and moves them into the accumulator once it is known), adds partitions to the
//! open transaction, drains ready batches, refreshes metadata for partitions without a known leader, and sends
//! one Produce request per leader (several may be in flight; responses are handled by spawned tasks).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProducerId, TransactionalId};

use super::accumulator::ProducerBatch;
use super::{lock, transactions, Inner};
use crate::client::cluster::Metadata;
use crate::client::error::{ClientError, Result};
use crate::client::requests::{sb, topic_name};

/// The longest the sender sleeps when nothing is due, so closing and metadata age are looked at regularly.
const IDLE_WAIT_MAX: Duration = Duration::from_millis(100);

pub(super) async fn run(inner: Arc<Inner>) {
    let mut metadata_retry_at = Instant::now();
    let mut pid_retry_at = Instant::now();
    let mut awaiting = AwaitingLookup::new(&inner);
    loop {
        let now = Instant::now();
        let closing = inner.closing.load(Ordering::Acquire);
        for batch in lock(&inner.accumulator).expire(now) {
            let error = ClientError::Timeout(format!(
                "expiring {} record(s) for {}: {} ms has passed since batch creation",
                batch.record_count(),
                batch.tp,
                inner.config.delivery_timeout.as_millis()
            ));
            finish_failed(&inner, batch, &error);
        }
        if inner.awaiting_count.load(Ordering::Acquire) > 0 {
            awaiting.step(&inner, now).await;
        }
        let has_data = inner.incomplete(&lock(&inner.accumulator)) > 0;
        if closing && !has_data {
            break;
        }
        let needs_pid = inner.config.idempotent
            && inner.config.transactional_id.is_none()
            && lock(&inner.producer_id).0 < 0
            && has_data;
        if needs_pid && now >= pid_retry_at {
            match init_producer_id(&inner).await {
                Ok(()) => {}
                Err(e) if e.is_retriable() => pid_retry_at = Instant::now() + inner.common.retry_backoff,
                Err(e) => {
                    for batch in lock(&inner.accumulator).take_all() {
                        finish_failed(&inner, batch, &e);
                    }
                }
            }
        }
        if inner.config.transactional_id.is_some() && has_data {
            transactions::add_partitions(&inner).await;
        }
        let producer_ready = !inner.config.idempotent || lock(&inner.producer_id).0 >= 0;
        let flush = closing || inner.flushing.load(Ordering::Acquire) > 0;
        let metadata = inner.cluster.metadata();
        let drained = if producer_ready {
            let txn = lock(&inner.txn);
            lock(&inner.accumulator).drain(
                now,
                flush,
                |tp| metadata.leader_for(&tp.topic, tp.partition),
                |tp| txn.may_send(tp),
            )
        } else {
            Default::default()
        };
        if !drained.unknown_leader.is_empty() && now >= metadata_retry_at {
            let mut topics: Vec<String> = drained.unknown_leader.iter().map(|tp| tp.topic.clone()).collect();
            topics.sort();
            topics.dedup();
            let _ = inner.cluster.refresh(Some(&topics), false).await;
            metadata_retry_at = Instant::now() + inner.common.retry_backoff;
        }
        let mut by_leader: HashMap<i32, Vec<ProducerBatch>> = HashMap::new();
        for batch in drained.batches {
            match metadata.leader_for(&batch.tp.topic, batch.tp.partition) {
                Some(leader) => by_leader.entry(leader).or_default().push(batch),
                // The leader was known when drained from the same snapshot; keep the batch for the next round.
                None => lock(&inner.accumulator).reenqueue(batch, now),
            }
        }
        for (leader, batches) in by_leader {
            // One request stays under max.request.size (a single batch may reach it on its own).
            let mut request = Vec::new();
            let mut size = 0;
            for batch in batches {
                let batch_size = batch.reserved_bytes;
                if !request.is_empty() && size + batch_size > inner.config.max_request_size {
                    produce(&inner, leader, std::mem::take(&mut request)).await;
                    size = 0;
                }
                size += batch_size;
                request.push(batch);
            }
            produce(&inner, leader, request).await;
        }
        let mut wake_at = now + IDLE_WAIT_MAX;
        if let Some(t) = drained.next_ready {
            wake_at = wake_at.min(t);
        }
        if !drained.unknown_leader.is_empty() {
            wake_at = wake_at.min(metadata_retry_at);
        }
        if needs_pid {
            wake_at = wake_at.min(pid_retry_at);
        }
        if inner.awaiting_count.load(Ordering::Acquire) > 0 {
            wake_at = wake_at.min(awaiting.retry_at);
        }
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep_until(wake_at.into()) => {}
        }
    }
    inner.sender_done.store(true, Ordering::Release);
    let _guard = lock(&inner.accumulator);
    inner.completed.notify_all();
}

/// The metadata lookups for records waiting in `Inner::awaiting`, with their own backoff: doubling from
/// `retry.backoff.ms` to `retry.backoff.max.ms` while lookups fail (an unreachable cluster is asked about less
/// and less often, as Kafka's clients back off their reconnects), reset by a success.
struct AwaitingLookup {
    retry_at: Instant,
    backoff: Duration,
    /// Why the last lookup failed, for the error of records that time out waiting.
    last_error: Option<ClientError>,
}

impl AwaitingLookup {
    fn new(inner: &Inner) -> AwaitingLookup {
        AwaitingLookup { retry_at: Instant::now(), backoff: inner.common.retry_backoff, last_error: None }
    }

    /// Fails records that waited `delivery.timeout.ms`, moves those whose topic is known into the accumulator,
    /// and asks the cluster about the other topics when the backoff allows.
    async fn step(&mut self, inner: &Inner, now: Instant) {
        let expired = inner.take_awaiting(|a| a.expire(now, inner.config.delivery_timeout));
        let timeout_ms = inner.config.delivery_timeout.as_millis();
        let why = self.last_error.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
        inner.fail_awaiting(expired, |topic| {
            ClientError::Timeout(format!("topic {topic} not present in metadata after {timeout_ms} ms{why}"))
        });
        let unknown = place(inner, &inner.cluster.metadata());
        if unknown.is_empty() || now < self.retry_at {
            return;
        }
        match inner.cluster.refresh(Some(&unknown), true).await {
            Ok(metadata) => {
                self.last_error = None;
                self.backoff = inner.common.retry_backoff;
                for topic in place(inner, &metadata) {
                    // A topic the cluster refuses for good (an invalid name, no authorization) fails its records
                    // now; an unknown one (auto-creation off, or still propagating) is asked about again.
                    let Some(&code) = metadata.topic_errors.get(&topic) else { continue };
                    let error = ClientError::from_code(code, None);
                    if !error.is_retriable() {
                        let records = inner.take_awaiting(|a| a.take(&topic).into());
                        inner.fail_awaiting(records, |_| error.clone());
                    }
                }
            }
            Err(e) => {
                self.last_error = Some(e);
                self.backoff = (self.backoff * 2).min(inner.common.retry_backoff_max);
            }
        }
        self.retry_at = Instant::now() + self.backoff.max(Duration::from_millis(1));
    }
}

/// Moves waiting records of topics `metadata` knows into the accumulator; returns the topics still unknown.
fn place(inner: &Inner, metadata: &Metadata) -> Vec<String> {
    let mut unknown = Vec::new();
    // Bound first: `place_awaiting` takes the lock again.
    let topics = lock(&inner.awaiting).topics();
    for topic in topics {
        match metadata.topics.get(&topic) {
            Some(t) if !t.partitions.is_empty() => inner.place_awaiting(t),
            _ => unknown.push(topic),
        }
    }
    unknown
}

/// Gets a producer id and epoch for an idempotent (non-transactional) producer.
async fn init_producer_id(inner: &Inner) -> Result<()> {
    let response = inner
        .cluster
        .call(None, |version| {
            let request =
                InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(i32::MAX);
            if version >= 3 {
                request.with_producer_id(ProducerId(-1)).with_producer_epoch(-1)
            } else {
                request
            }
        })
        .await?;
    ClientError::check(response.error_code)?;
    *lock(&inner.producer_id) = (response.producer_id.0, response.producer_epoch);
    lock(&inner.accumulator).reset_sequences();
    Ok(())
}

/// Sends one Produce request with at most one batch per partition and handles the answer.
/// Writes the request from the sender task itself, so requests to one broker leave in drain order (batches of a
/// partition must reach the broker in sequence order), then hands the wait for the answer to a task of its own.
async fn produce(inner: &Arc<Inner>, leader: i32, mut batches: Vec<ProducerBatch>) {
    let inner = inner.clone();
    let (producer_id, producer_epoch) = *lock(&inner.producer_id);
    let transactional = inner.config.transactional_id.is_some();
    let mut encoded = Vec::with_capacity(batches.len());
    let mut sendable = Vec::with_capacity(batches.len());
    for mut batch in batches.drain(..) {
        let pid = if inner.config.idempotent { producer_id } else { -1 };
        match batch.encode(pid, producer_epoch, transactional) {
            Ok(bytes) => {
                encoded.push((batch.tp.clone(), bytes));
                sendable.push(batch);
            }
            Err(e) => {
                let error = ClientError::Serialization(format!("encoding a batch for {}: {e}", batch.tp));
                lock(&inner.accumulator).done(&batch.tp, batch.base_sequence);
                finish_failed(&inner, batch, &error);
            }
        }
    }
    if sendable.is_empty() {
        return;
    }
    let mut topics: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
    for (tp, bytes) in &encoded {
        topics
            .entry(tp.topic.as_str())
            .or_default()
            .push(PartitionProduceData::default().with_index(tp.partition).with_records(Some(bytes.clone())));
    }
    let topic_data: Vec<TopicProduceData> = topics
        .into_iter()
        .map(|(t, partitions)| TopicProduceData::default().with_name(topic_name(t)).with_partition_data(partitions))
        .collect();
    let acks = inner.config.acks;
    let timeout_ms = inner.common.request_timeout.as_millis().min(i32::MAX as u128) as i32;
    let transactional_id = inner.config.transactional_id.as_deref().map(|t| TransactionalId(sb(t)));
    let build = move |_version: i16| {
        ProduceRequest::default()
            .with_transactional_id(transactional_id)
            .with_acks(acks)
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topic_data)
    };
    if acks == 0 {
        let sent = match inner.cluster.connection(leader).await {
            Ok(connection) => {
                let version = connection.version(kafka_protocol::messages::ApiKey::Produce, 3, 12);
                match version {
                    Ok(v) => connection.send_oneway(&build(v), v).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        let now = Instant::now();
        for batch in sendable {
            match &sent {
                Ok(()) => finish_ok(&inner, batch, -1, -1),
                Err(e) => handle_failure(&inner, batch, e.clone(), now),
            }
        }
        inner.wake.notify_one();
        return;
    }
    let submitted = match inner.cluster.submit(leader, build).await {
        Ok(s) => s,
        Err(e) => {
            let now = Instant::now();
            for batch in sendable {
                handle_failure(&inner, batch, e.clone(), now);
            }
            inner.wake.notify_one();
            return;
        }
    };
    tokio::spawn(async move {
        let result = inner.cluster.finish::<ProduceRequest>(submitted).await;
        complete(&inner, sendable, result);
    });
}

fn complete(inner: &Inner, sendable: Vec<ProducerBatch>, result: Result<kafka_protocol::messages::ProduceResponse>) {
    let now = Instant::now();
    match result {
        Err(e) => {
            for batch in sendable {
                handle_failure(inner, batch, e.clone(), now);
            }
        }
        Ok(response) => {
            for batch in sendable {
                let answer = response
                    .responses
                    .iter()
                    .filter(|t| t.name.0.as_str() == batch.tp.topic)
                    .flat_map(|t| t.partition_responses.iter())
                    .find(|p| p.index == batch.tp.partition);
                match answer {
                    None => {
                        let e = ClientError::Protocol(format!("no Produce result for {}", batch.tp));
                        handle_failure(inner, batch, e, now)
                    }
                    Some(p) if p.error_code == 0 => finish_ok(inner, batch, p.base_offset, p.log_append_time_ms),
                    // DUPLICATE_SEQUENCE_NUMBER: the broker already has this batch; it was written once.
                    Some(p) if p.error_code == 46 => finish_ok(inner, batch, -1, -1),
                    Some(p) => {
                        let message = p.error_message.as_ref().map(|m| m.to_string()).or_else(|| {
                            p.record_errors
                                .first()
                                .and_then(|r| r.batch_index_error_message.as_ref())
                                .map(|m| m.to_string())
                        });
                        handle_failure(inner, batch, ClientError::from_code(p.error_code, message), now)
                    }
                }
            }
        }
    }
    inner.wake.notify_one();
}

fn finish_ok(inner: &Inner, batch: ProducerBatch, base_offset: i64, log_append_time: i64) {
    let (tp, bytes, sequence) = (batch.tp.clone(), batch.reserved_bytes, batch.base_sequence);
    batch.complete(base_offset, log_append_time);
    lock(&inner.accumulator).done(&tp, sequence);
    inner.release(bytes);
    inner.completed.notify_all();
}

fn finish_failed(inner: &Inner, batch: ProducerBatch, error: &ClientError) {
    let bytes = batch.reserved_bytes;
    if inner.config.transactional_id.is_some() {
        lock(&inner.txn).set_abortable(error.clone());
    }
    batch.fail(error);
    inner.release(bytes);
    inner.completed.notify_all();
}

/// A batch came back failed: retry it when the error is retriable and time and retries are left, else fail it.
///
/// OUT_OF_ORDER_SEQUENCE_NUMBER is retried in three cases. Behind an earlier batch of the partition still in
/// flight or waiting for its retry, it only means that batch has not landed yet. For a batch numbered under a
/// producer id given up since, the batch is numbered again. And for the partition's earliest unresolved batch
/// of an idempotent producer, the broker has a later batch first — a leader taking over between two requests
/// refuses the first (NOT_LEADER_OR_FOLLOWER) and takes the second as the producer's first write (Kafka accepts
/// any first sequence, KIP-360), so the first could never follow: the producer takes a new producer id and
/// renumbers its batches, as Kafka's producer bumps its epoch, unless the batch may already have been written.
fn handle_failure(inner: &Inner, mut batch: ProducerBatch, error: ClientError, now: Instant) {
    let mut acc = lock(&inner.accumulator);
    // No answer, REQUEST_TIMED_OUT or NOT_ENOUGH_REPLICAS_AFTER_APPEND: the leader may have appended the batch.
    batch.maybe_written |= matches!(error.code(), None | Some(7) | Some(20));
    let out_of_order = error.code() == Some(45);
    let behind = acc.has_earlier_unresolved(&batch.tp, batch.base_sequence);
    let stale = !acc.is_current(&batch);
    let gap = out_of_order
        && !behind
        && !stale
        && !batch.maybe_written
        && inner.config.idempotent
        && inner.config.transactional_id.is_none();
    let retriable = error.is_retriable() || (out_of_order && (behind || stale)) || gap;
    if retriable && batch.attempts < inner.config.retries && acc.within_delivery_timeout(&batch, now) {
        if gap {
            *lock(&inner.producer_id) = (-1, -1);
            acc.reset_sequences();
        }
        if error.needs_metadata_refresh() {
            let cluster = inner.cluster.clone();
            let topic = batch.tp.topic.clone();
            tokio::spawn(async move {
                let _ = cluster.refresh(Some(&[topic]), false).await;
            });
        }
        acc.reenqueue(batch, now);
        return;
    }
    acc.done(&batch.tp, batch.base_sequence);
    if inner.config.idempotent && inner.config.transactional_id.is_none() && batch.base_sequence >= 0 {
        // The partition's sequence now has a gap the broker will refuse: start over with a new producer id,
        // as Kafka's producer bumps its epoch.
        *lock(&inner.producer_id) = (-1, -1);
        acc.reset_sequences();
    }
    drop(acc);
    finish_failed(inner, batch, &error);
}
