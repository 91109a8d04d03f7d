//! The native driver of the producer's sans-IO [`Sender`]: one tokio task per producer on the client runtime.
//! Each round it looks up the metadata of topics that records sent with `try_send` wait for (and moves them
//! into the accumulator once it is known), polls the sender (which also makes a transactional producer's
//! decisions), and performs what it asks: requests are written to their broker from this task, in the order given (a
//! partition's batches must reach the broker in sequence order), while their answers are awaited in tasks of a
//! [`JoinSet`] and fed back to the sender as they come. It sleeps until the sender's next deadline, a wake-up
//! (records appended, flush, close) or an answer.
//!
//! Invariant: completions taken out of the sender are counted in `Inner::completing` until their records'
//! callbacks ran, so a flush returns only after every record sent before it was completed.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, ProduceRequest};
use tokio::task::JoinSet;

use super::accumulator::ProducerBatch;
use super::native::{lock, Inner};
use super::sender::{self, Action, Delivered, Request, RequestId, Response, Sender};
use crate::client::cluster::{client_versions, Cluster, Metadata};
use crate::client::error::{ClientError, Result};

/// The longest the driver sleeps when nothing is due, so closing and metadata age are looked at regularly.
const IDLE_WAIT_MAX: Duration = Duration::from_millis(100);

type Answers = JoinSet<(RequestId, Result<Response>)>;

pub(super) async fn run(inner: Arc<Inner>) {
    let mut answers = Answers::new();
    loop {
        let closing = inner.closing.load(Ordering::Acquire);
        if inner.awaiting_count.load(Ordering::Acquire) > 0 {
            step_awaiting(&inner).await;
        }
        let has_data = inner.incomplete(&lock(&inner.sender)) > 0;
        if closing && !has_data {
            break;
        }
        let flush = closing || inner.flushing.load(Ordering::Acquire) > 0;
        let metadata = inner.cluster.metadata();
        let (actions, deadline_ms) =
            take_actions(&inner, |sender| sender.poll(inner.now_ms(), &metadata, flush, |_| true));
        perform(&inner, actions, &mut answers).await;
        let mut wake_at = Instant::now() + IDLE_WAIT_MAX;
        if let Some(ms) = deadline_ms {
            wake_at = wake_at.min(inner.instant(ms));
        }
        if inner.awaiting_count.load(Ordering::Acquire) > 0 {
            wake_at = wake_at.min(inner.instant(lock(&inner.awaiting).next_lookup_ms()));
        }
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep_until(wake_at.into()) => {}
            Some(answer) = answers.join_next(), if !answers.is_empty() => {
                // Every answer already in is handled before the next poll, which then drains once for all.
                let mut next = Some(answer);
                while let Some(answer) = next.take().or_else(|| answers.try_join_next()) {
                    match answer {
                        Ok((id, result)) => {
                            let (actions, _) =
                                take_actions(&inner, |sender| sender.on_response(id, inner.now_ms(), result));
                            perform(&inner, actions, &mut answers).await;
                        }
                        // Answer tasks do not panic; one that did leaves its batches in flight until close
                        // times out.
                        Err(e) => tracing::error!(target: "potok::client", "a producer answer task failed: {e}"),
                    }
                }
            }
        }
    }
    inner.sender_done.store(true, Ordering::Release);
    let _guard = lock(&inner.sender);
    inner.completed.notify_all();
}

/// Runs `step` on the locked sender and counts the completions it hands out before the lock is released (see
/// the module invariant); returns its actions and the sender's next deadline.
fn take_actions(inner: &Inner, step: impl FnOnce(&mut Sender) -> Vec<Action>) -> (Vec<Action>, Option<u64>) {
    let mut sender = lock(&inner.sender);
    let actions = step(&mut sender);
    let completions = actions.iter().filter(|a| matches!(a, Action::Complete { .. })).count();
    inner.completing.fetch_add(completions, Ordering::AcqRel);
    (actions, sender.next_deadline_ms())
}

async fn perform(inner: &Arc<Inner>, actions: Vec<Action>, answers: &mut Answers) {
    let mut completed = 0;
    for action in actions {
        match action {
            Action::Send { id, node, request } => send(inner, id, node, request, answers).await,
            Action::RefreshMetadata { topics } => {
                let inner = inner.clone();
                tokio::spawn(async move {
                    let _ = inner.cluster.refresh(Some(&topics), false).await;
                    inner.wake.notify_one();
                });
            }
            Action::Complete { batch, result } => {
                complete(inner, batch, result);
                completed += 1;
            }
            Action::Transaction { call, result } => {
                let _guard = lock(&inner.sender);
                *lock(&inner.txn_outcome) = Some((call, result));
                inner.completed.notify_all();
            }
        }
    }
    if completed > 0 {
        let _guard = lock(&inner.sender);
        inner.completing.fetch_sub(completed, Ordering::AcqRel);
        inner.completed.notify_all();
    }
}

fn complete(inner: &Inner, batch: ProducerBatch, result: std::result::Result<Delivered, ClientError>) {
    let bytes = batch.reserved_bytes;
    match result {
        Ok(delivered) => batch.complete(delivered.base_offset, delivered.log_append_time_ms),
        Err(error) => batch.fail(&error),
    }
    inner.release(bytes);
}

/// Writes a request to its broker now (so requests leave in the order the sender gave them) and awaits the
/// answer in a task of `answers`.
async fn send(inner: &Arc<Inner>, id: RequestId, node: Option<i32>, request: Request, answers: &mut Answers) {
    let cluster = inner.cluster.clone();
    let oneway = !request.expects_response();
    match request {
        Request::InitProducerId(request) => {
            answers.spawn(async move {
                let result = cluster.call(node, |_| request).await;
                (id, result.map(Response::InitProducerId))
            });
        }
        Request::Produce(request) if oneway => {
            let written = write_oneway(&cluster, node, request).await;
            answers.spawn(async move { (id, written.map(|()| Response::Written)) });
        }
        Request::Produce(request) => {
            let submitted = cluster.submit(node, |_| request).await;
            answers.spawn(async move {
                let result = match submitted {
                    Ok(submitted) => cluster.finish::<ProduceRequest>(submitted).await,
                    Err(e) => Err(e),
                };
                (id, result.map(Response::Produce))
            });
        }
        // The transactional requests go to coordinators one at a time (the machine keeps at most one in flight),
        // so they need no ordering with the Produce requests.
        Request::FindCoordinator(request) => {
            answers.spawn(async move {
                let result =
                    cluster.call(node, |version| crate::client::find_coordinator_for_version(request, version)).await;
                if let Ok(r) = &result {
                    // The coordinator may be a broker the metadata has not named yet: remember its address.
                    match r.coordinators.first() {
                        Some(c) if c.error_code == 0 => cluster.learn_broker(c.node_id.0, &c.host, c.port),
                        None if r.error_code == 0 => cluster.learn_broker(r.node_id.0, &r.host, r.port),
                        _ => {}
                    }
                }
                (id, result.map(Response::FindCoordinator))
            });
        }
        Request::AddPartitionsToTxn(request) => {
            answers.spawn(async move { (id, cluster.call(node, |_| request).await.map(Response::AddPartitionsToTxn)) });
        }
        Request::AddOffsetsToTxn(request) => {
            answers.spawn(async move { (id, cluster.call(node, |_| request).await.map(Response::AddOffsetsToTxn)) });
        }
        Request::TxnOffsetCommit(request) => {
            answers.spawn(async move {
                let result =
                    cluster.call(node, |version| sender::txn_offset_commit_for_version(request, version)).await;
                (id, result.map(Response::TxnOffsetCommit))
            });
        }
        Request::EndTxn(request) => {
            answers.spawn(async move { (id, cluster.call(node, |_| request).await.map(Response::EndTxn)) });
        }
    }
}

/// Writes a request that gets no answer (Produce with `acks=0`).
async fn write_oneway(cluster: &Cluster, node: Option<i32>, request: ProduceRequest) -> Result<()> {
    let connection = cluster.node_connection(node).await?;
    let (min, max) = client_versions(ApiKey::Produce);
    let version = connection.version(ApiKey::Produce, min, max)?;
    connection.send_oneway(&request, version).await
}

/// Fails records that waited `delivery.timeout.ms` for their topic's metadata, moves those whose topic is known
/// into the accumulator, and looks the other topics up when the waiting records' backoff allows (the decisions
/// are `AwaitingMetadata`'s; this performs the lookup).
async fn step_awaiting(inner: &Inner) {
    let timeout_ms = inner.config.delivery_timeout.as_millis() as u64;
    let expired = inner.take_awaiting(|a| a.expire(inner.now_ms(), timeout_ms));
    if !expired.is_empty() {
        // The errors are made first: records' callbacks run without the lock.
        let errors: HashMap<String, ClientError> = {
            let awaiting = lock(&inner.awaiting);
            expired
                .iter()
                .map(|r| (r.record.topic.clone(), awaiting.expiry_error(&r.record.topic, timeout_ms)))
                .collect()
        };
        inner.fail_awaiting(expired, |topic| {
            errors
                .get(topic)
                .cloned()
                .unwrap_or_else(|| ClientError::Timeout(format!("topic {topic} not present in metadata")))
        });
    }
    let unknown = place(inner, &inner.cluster.metadata());
    if unknown.is_empty() || !lock(&inner.awaiting).lookup_due(inner.now_ms()) {
        return;
    }
    let refreshed = inner.cluster.refresh(Some(&unknown), true).await;
    let outcome = refreshed.as_ref().map(|_| ()).map_err(Clone::clone);
    lock(&inner.awaiting).lookup_done(inner.now_ms(), outcome);
    if let Ok(metadata) = refreshed {
        for topic in place(inner, &metadata) {
            // A topic the cluster refuses for good (an invalid name, no authorization) fails its records now; an
            // unknown one (auto-creation off, or still propagating) is asked about again.
            let Some(&code) = metadata.topic_errors.get(&topic) else { continue };
            let error = ClientError::from_code(code, None);
            if !error.is_retriable() {
                let records = inner.take_awaiting(|a| a.take(&topic).into());
                inner.fail_awaiting(records, |_| error.clone());
            }
        }
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
