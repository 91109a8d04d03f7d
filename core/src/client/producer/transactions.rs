//! The producer's side of Kafka transactions: InitProducerId with the transactional id (fencing older
//! producers), AddPartitionsToTxn before a partition's first batch in a transaction, AddOffsetsToTxn and
//! TxnOffsetCommit for consume-transform-produce, and EndTxn. Every call retries what Kafka calls retriable
//! (CONCURRENT_TRANSACTIONS, a coordinator loading or moving) until its timeout.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;

use super::native::{lock, Inner};
use crate::client::error::{ClientError, Result};
use crate::client::requests::{by_topic, sb, topic_name};
use crate::client::{runtime, OffsetAndMetadata, TopicPartition};

/// What a consumer tells a transactional producer about its group, for `send_offsets_to_transaction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata for a group id alone (no generation check), as Kafka's deprecated String overload.
    pub fn new(group_id: impl Into<String>) -> ConsumerGroupMetadata {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Uninitialized,
    Ready,
    InTransaction,
}

/// The transaction state machine of one producer.
#[derive(Debug)]
pub(crate) struct TxnState {
    enabled: bool,
    state: State,
    /// Partitions added to the open transaction.
    added: HashSet<TopicPartition>,
    /// Whether the open transaction touched anything (partitions or offsets): if not, EndTxn is not needed.
    started: bool,
    /// An error that forces the transaction to be aborted.
    abortable: Option<ClientError>,
    coordinator: Option<i32>,
}

impl TxnState {
    pub fn new(enabled: bool) -> TxnState {
        TxnState {
            enabled,
            state: State::Uninitialized,
            added: HashSet::new(),
            started: false,
            abortable: None,
            coordinator: None,
        }
    }

    /// Whether the accumulator may send a batch of `tp` now.
    pub fn may_send(&self, tp: &TopicPartition) -> bool {
        !self.enabled || self.added.contains(tp)
    }

    pub fn set_abortable(&mut self, error: ClientError) {
        if self.state == State::InTransaction && self.abortable.is_none() {
            self.abortable = Some(error);
        }
    }
}

pub(super) fn check_can_send(inner: &Inner) -> Result<()> {
    let txn = lock(&inner.txn);
    if !txn.enabled {
        return Ok(());
    }
    if let Some(e) = &txn.abortable {
        return Err(failed_transaction(e, "the transaction must be aborted"));
    }
    match txn.state {
        State::InTransaction => Ok(()),
        State::Uninitialized => Err(ClientError::IllegalState("call init_transactions() first".into())),
        State::Ready => {
            Err(ClientError::IllegalState("cannot send outside a transaction: call begin_transaction()".into()))
        }
    }
}

/// The error of a call refused because an earlier one failed the transaction. Errors Kafka's producer treats as
/// fatal (PRODUCER_FENCED, TRANSACTIONAL_ID_AUTHORIZATION_FAILED: another producer owns the id, or this one may not
/// use it) come back as themselves, as Kafka's producer throws ProducerFencedException again from every later
/// call; any other failure only asks for an abort, a state error naming it.
fn failed_transaction(error: &ClientError, what: &str) -> ClientError {
    match error.code() {
        Some(90 | 53) => error.clone(),
        _ => ClientError::IllegalState(format!("{what} ({error})")),
    }
}

fn transactional_id(inner: &Inner) -> Result<String> {
    inner.config.transactional_id.clone().ok_or_else(|| ClientError::IllegalState("transactional.id is not set".into()))
}

/// Retriable in the transactional protocol: Kafka's producer retries CONCURRENT_TRANSACTIONS (the coordinator
/// is still completing the previous transaction) although the error is not flagged retriable.
fn txn_retriable(e: &ClientError) -> bool {
    e.is_retriable() || e.code() == Some(51)
}

/// Runs `attempt` against the transaction coordinator until it succeeds, fails for good or `timeout` passes.
/// NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE send the next attempt to a freshly found coordinator.
async fn with_coordinator<T, F, Fut>(inner: &Inner, timeout: Duration, attempt: F) -> Result<T>
where
    F: Fn(i32) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let id = transactional_id(inner)?;
    let deadline = Instant::now() + timeout;
    let mut backoff = inner.common.retry_backoff.max(Duration::from_millis(10));
    loop {
        let cached = lock(&inner.txn).coordinator;
        let coordinator = match cached {
            Some(c) => c,
            None => {
                let c = inner.cluster.find_coordinator(1, &id, deadline).await?;
                lock(&inner.txn).coordinator = Some(c);
                c
            }
        };
        match attempt(coordinator).await {
            Ok(v) => return Ok(v),
            Err(e) if txn_retriable(&e) && Instant::now() + backoff < deadline => {
                if matches!(e.code(), Some(14..=16)) || matches!(e, ClientError::Io(_)) {
                    lock(&inner.txn).coordinator = None;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(inner.common.retry_backoff_max);
            }
            Err(ClientError::Timeout(_)) | Err(ClientError::Io(_)) if Instant::now() >= deadline => {
                return Err(ClientError::Timeout(format!("transactional request for {id} did not complete in time")))
            }
            Err(e) => return Err(e),
        }
    }
}

pub(super) fn init(inner: &std::sync::Arc<Inner>, timeout: Duration) -> Result<()> {
    let id = transactional_id(inner)?;
    if lock(&inner.txn).state != State::Uninitialized {
        return Err(ClientError::IllegalState("init_transactions() was already called".into()));
    }
    let inner2 = inner.clone();
    let timeout_ms = inner.config.transaction_timeout_ms;
    let (producer_id, producer_epoch) = runtime::block_on(async move {
        with_coordinator(&inner2, timeout, |coordinator| {
            let (inner, id) = (&inner2, id.clone());
            async move {
                let response = inner
                    .cluster
                    .call(Some(coordinator), |version| {
                        let request = InitProducerIdRequest::default()
                            .with_transactional_id(Some(TransactionalId(sb(&id))))
                            .with_transaction_timeout_ms(timeout_ms);
                        if version >= 3 {
                            request.with_producer_id(ProducerId(-1)).with_producer_epoch(-1)
                        } else {
                            request
                        }
                    })
                    .await?;
                ClientError::check(response.error_code)?;
                Ok((response.producer_id.0, response.producer_epoch))
            }
        })
        .await
    })??;
    lock(&inner.sender).set_producer_id(producer_id, producer_epoch);
    lock(&inner.txn).state = State::Ready;
    Ok(())
}

pub(super) fn begin(inner: &Inner) -> Result<()> {
    let mut txn = lock(&inner.txn);
    match txn.state {
        State::Ready => {
            txn.state = State::InTransaction;
            txn.added.clear();
            txn.started = false;
            txn.abortable = None;
            Ok(())
        }
        State::Uninitialized => Err(ClientError::IllegalState("call init_transactions() first".into())),
        State::InTransaction => Err(ClientError::IllegalState("a transaction is already in progress".into())),
    }
}

/// Adds the partitions that have queued batches and are not yet in the transaction (called by the sender).
pub(super) async fn add_partitions(inner: &Inner) {
    let pending: Vec<TopicPartition> = {
        let txn = lock(&inner.txn);
        if txn.state != State::InTransaction || txn.abortable.is_some() {
            return;
        }
        lock(&inner.sender)
            .accumulator()
            .partitions_with_data()
            .into_iter()
            .filter(|tp| !txn.added.contains(tp))
            .collect()
    };
    if pending.is_empty() {
        return;
    }
    let Ok(id) = transactional_id(inner) else { return };
    let (producer_id, producer_epoch) = lock(&inner.sender).producer_id();
    let items: Vec<(TopicPartition, ())> = pending.iter().map(|tp| (tp.clone(), ())).collect();
    let result = with_coordinator(inner, inner.common.request_timeout, |coordinator| {
        let (id, items) = (id.clone(), &items);
        async move {
            let response = inner
                .cluster
                .call(Some(coordinator), |_| {
                    AddPartitionsToTxnRequest::default()
                        .with_v3_and_below_transactional_id(TransactionalId(sb(&id)))
                        .with_v3_and_below_producer_id(ProducerId(producer_id))
                        .with_v3_and_below_producer_epoch(producer_epoch)
                        .with_v3_and_below_topics(
                            by_topic(items)
                                .into_iter()
                                .map(|(t, ps)| {
                                    AddPartitionsToTxnTopic::default()
                                        .with_name(topic_name(&t))
                                        .with_partitions(ps.iter().map(|(p, _)| *p).collect())
                                })
                                .collect(),
                        )
                })
                .await?;
            ClientError::check(response.error_code)?;
            let mut worst = 0;
            for t in &response.results_by_topic_v3_and_below {
                for p in &t.results_by_partition {
                    // OPERATION_NOT_ATTEMPTED (55) only echoes another partition's error.
                    if p.partition_error_code != 0 && p.partition_error_code != 55 {
                        worst = p.partition_error_code;
                    }
                }
            }
            ClientError::check(worst)
        }
    })
    .await;
    let mut txn = lock(&inner.txn);
    match result {
        Ok(()) => {
            txn.added.extend(pending);
            txn.started = true;
        }
        Err(e) if txn_retriable(&e) => {}
        Err(e) => {
            // The batches of partitions that could not join the transaction can never be sent: fail them now,
            // as Kafka's producer does, so flush and abort do not wait for them.
            txn.set_abortable(e.clone());
            drop(txn);
            for batch in lock(&inner.sender).accumulator_mut().take_all() {
                inner.release(batch.reserved_bytes);
                batch.fail(&e);
            }
            inner.completed.notify_all();
        }
    }
}

pub(super) fn send_offsets(
    inner: &std::sync::Arc<Inner>,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    group: &ConsumerGroupMetadata,
    timeout: Duration,
) -> Result<()> {
    let id = transactional_id(inner)?;
    {
        let txn = lock(&inner.txn);
        if txn.state != State::InTransaction {
            return Err(ClientError::IllegalState("send_offsets_to_transaction needs an open transaction".into()));
        }
        if let Some(e) = &txn.abortable {
            return Err(failed_transaction(e, "the transaction must be aborted"));
        }
    }
    let (producer_id, producer_epoch) = lock(&inner.sender).producer_id();
    let inner2 = inner.clone();
    let group = group.clone();
    let items: Vec<(TopicPartition, OffsetAndMetadata)> = offsets.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    runtime::block_on(async move {
        let inner = &inner2;
        with_coordinator(inner, timeout, |coordinator| {
            let (id, group_id) = (id.clone(), group.group_id.clone());
            async move {
                let response = inner
                    .cluster
                    .call(Some(coordinator), |_| {
                        AddOffsetsToTxnRequest::default()
                            .with_transactional_id(TransactionalId(sb(&id)))
                            .with_producer_id(ProducerId(producer_id))
                            .with_producer_epoch(producer_epoch)
                            .with_group_id(GroupId(sb(&group_id)))
                    })
                    .await?;
                ClientError::check(response.error_code)
            }
        })
        .await?;
        lock(&inner.txn).started = true;
        let deadline = Instant::now() + timeout;
        let mut backoff = inner.common.retry_backoff.max(Duration::from_millis(10));
        loop {
            let coordinator = inner.cluster.find_coordinator(0, &group.group_id, deadline).await?;
            let result = inner
                .cluster
                .call(Some(coordinator), |version| {
                    let request = TxnOffsetCommitRequest::default()
                        .with_transactional_id(TransactionalId(sb(&id)))
                        .with_group_id(GroupId(sb(&group.group_id)))
                        .with_producer_id(ProducerId(producer_id))
                        .with_producer_epoch(producer_epoch)
                        .with_topics(
                            by_topic(&items)
                                .into_iter()
                                .map(|(t, ps)| {
                                    TxnOffsetCommitRequestTopic::default().with_name(topic_name(&t)).with_partitions(
                                        ps.iter()
                                            .map(|(p, o)| {
                                                let partition = TxnOffsetCommitRequestPartition::default()
                                                    .with_partition_index(*p)
                                                    .with_committed_offset(o.offset)
                                                    .with_committed_metadata(Some(sb(&o.metadata)));
                                                if version >= 2 {
                                                    partition.with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                                                } else {
                                                    partition
                                                }
                                            })
                                            .collect(),
                                    )
                                })
                                .collect(),
                        );
                    if version >= 3 {
                        request
                            .with_generation_id(group.generation_id)
                            .with_member_id(sb(&group.member_id))
                            .with_group_instance_id(group.group_instance_id.as_deref().map(sb))
                    } else {
                        request
                    }
                })
                .await
                .and_then(|r| {
                    let worst =
                        r.topics.iter().flat_map(|t| t.partitions.iter()).map(|p| p.error_code).find(|&c| c != 0);
                    ClientError::check(worst.unwrap_or(0))
                });
            match result {
                Ok(()) => return Ok(()),
                Err(e) if txn_retriable(&e) && Instant::now() + backoff < deadline => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(inner.common.retry_backoff_max);
                }
                Err(e) => return Err(e),
            }
        }
    })?
}

pub(super) fn end(inner: &std::sync::Arc<Inner>, commit: bool, timeout: Duration) -> Result<()> {
    let id = transactional_id(inner)?;
    let started = {
        let txn = lock(&inner.txn);
        if txn.state != State::InTransaction {
            return Err(ClientError::IllegalState("no transaction in progress".into()));
        }
        if commit {
            if let Some(e) = &txn.abortable {
                return Err(failed_transaction(e, "cannot commit: a record of the transaction failed; abort it"));
            }
        }
        txn.started
    };
    if started {
        let (producer_id, producer_epoch) = lock(&inner.sender).producer_id();
        let inner2 = inner.clone();
        runtime::block_on(async move {
            with_coordinator(&inner2, timeout, |coordinator| {
                let (inner, id) = (&inner2, id.clone());
                async move {
                    let response = inner
                        .cluster
                        .call(Some(coordinator), |_| {
                            EndTxnRequest::default()
                                .with_transactional_id(TransactionalId(sb(&id)))
                                .with_producer_id(ProducerId(producer_id))
                                .with_producer_epoch(producer_epoch)
                                .with_committed(commit)
                        })
                        .await?;
                    ClientError::check(response.error_code)
                }
            })
            .await
        })??;
    }
    let mut txn = lock(&inner.txn);
    txn.state = State::Ready;
    txn.added.clear();
    txn.started = false;
    txn.abortable = None;
    Ok(())
}
