//! The transactional producer's decisions as a sans-IO state machine (Kafka's `TransactionManager`), owned by the
//! [`Sender`](super::sender::Sender) when `transactional.id` is set: InitProducerId with the transactional id
//! (fencing older producers of the id), AddPartitionsToTxn for a partition before its first batch of a
//! transaction is drained, AddOffsetsToTxn then TxnOffsetCommit for `send_offsets_to_transaction`, and EndTxn once
//! every batch of the transaction is acknowledged. Coordinators are found with FindCoordinator and looked up again
//! when one moved (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, a broken connection).
//!
//! Errors are sorted as Kafka's producer sorts them: retriable ones (a coordinator loading or moving,
//! CONCURRENT_TRANSACTIONS) are retried with a backoff; abortable ones (a batch failed, a partition or the offsets
//! could not join) leave the transaction able only to abort; fatal ones (PRODUCER_FENCED, INVALID_PRODUCER_EPOCH,
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, INVALID_TXN_STATE, anything unexpected) end the producer's use of
//! transactions, and every later call returns them.
//!
//! A user call (init, send offsets, commit, abort) starts work here and its outcome comes back later as
//! [`Action::Transaction`]. A call whose timeout passes gets a timeout, but its work goes on, as in Kafka: calling
//! the same method again waits for the same work (or returns its outcome if it finished meanwhile).
//!
//! Invariants: at most one transactional request is in flight; a partition's batches are drained only once the
//! partition is in the transaction (`may_send`); EndTxn leaves only when the producer has no incomplete batch and
//! no offsets are pending; batches that can no longer be sent in the transaction (aborting, an error) are failed
//! while still queued, so a flush never waits for them.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest, GroupId,
    InitProducerIdRequest, ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::accumulator::Accumulator;
use super::sender::{Action, Request, Response};
use crate::client::error::ClientError;
use crate::client::{OffsetAndMetadata, TopicPartition};

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

/// A transactional method of the producer whose outcome arrives as [`Action::Transaction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnCall {
    InitTransactions,
    SendOffsetsToTransaction,
    CommitTransaction,
    AbortTransaction,
}

/// Kafka's backoff for an AddPartitionsToTxn refused with CONCURRENT_TRANSACTIONS at a transaction's start: the
/// previous transaction is still completing, and that takes milliseconds, not `retry.backoff.ms`.
const ADD_PARTITIONS_RETRY_BACKOFF_MS: u64 = 20;

/// FindCoordinator key types.
const COORDINATOR_GROUP: i8 = 0;
const COORDINATOR_TRANSACTION: i8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Uninitialized,
    Initializing,
    Ready,
    InTransaction,
    Committing,
    Aborting,
    /// A failure inside the transaction: only an abort is possible.
    AbortableError,
    /// The producer may not use transactions any more (fenced, not authorized, ...).
    Fatal,
}

/// The user call in progress.
#[derive(Debug)]
struct PendingCall {
    call: TxnCall,
    /// When the caller stops waiting; `None` once it has been told it timed out (the work goes on).
    deadline_ms: Option<u64>,
    /// The outcome of work that finished after its caller stopped waiting, for the caller's next try.
    outcome: Option<Result<(), ClientError>>,
}

/// `send_offsets_to_transaction` in progress.
#[derive(Debug)]
struct PendingOffsets {
    group: ConsumerGroupMetadata,
    offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    /// AddOffsetsToTxn succeeded: the TxnOffsetCommit to the group coordinator is next.
    added: bool,
}

/// The transactional request in flight.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    FindCoordinator { key_type: i8, key: String },
    InitProducerId,
    AddPartitions(Vec<TopicPartition>),
    AddOffsets,
    TxnOffsetCommit,
    EndTxn { commit: bool },
}

/// A request the manager wants sent.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub node: Option<i32>,
    pub request: Request,
    pub step: Step,
}

/// The transaction state of one producer (see the module documentation).
#[derive(Debug)]
pub struct TransactionManager {
    transactional_id: String,
    transaction_timeout_ms: i32,
    retry_backoff_ms: u64,
    retry_backoff_max_ms: u64,
    state: State,
    /// The abortable or fatal error the state stands for.
    error: Option<ClientError>,
    txn_coordinator: Option<i32>,
    /// The group coordinator of the pending offsets' group.
    group_coordinator: Option<i32>,
    /// Partitions added to the open transaction.
    partitions: BTreeSet<TopicPartition>,
    /// Whether the open transaction touched anything (partitions or offsets): if not, no EndTxn is needed.
    started: bool,
    call: Option<PendingCall>,
    offsets: Option<PendingOffsets>,
    in_flight: Option<Step>,
    retry_at_ms: u64,
    backoff_ms: u64,
    /// Call outcomes to hand out at the next poll.
    finished: Vec<(TxnCall, Result<(), ClientError>)>,
    /// A batch that had a sequence number failed (or the coordinator no longer knows the producer id): the
    /// partition's sequence has a gap the broker would refuse, so once the transaction is aborted the producer
    /// takes a new epoch with InitProducerId and numbers from 0 again (KIP-360), before the abort completes.
    epoch_bump_required: bool,
}

impl TransactionManager {
    pub fn new(
        transactional_id: String,
        transaction_timeout_ms: i32,
        retry_backoff_ms: u64,
        retry_backoff_max_ms: u64,
    ) -> TransactionManager {
        TransactionManager {
            transactional_id,
            transaction_timeout_ms,
            retry_backoff_ms,
            retry_backoff_max_ms: retry_backoff_max_ms.max(retry_backoff_ms),
            state: State::Uninitialized,
            error: None,
            txn_coordinator: None,
            group_coordinator: None,
            partitions: BTreeSet::new(),
            started: false,
            call: None,
            offsets: None,
            in_flight: None,
            retry_at_ms: 0,
            backoff_ms: retry_backoff_ms,
            finished: Vec::new(),
            epoch_bump_required: false,
        }
    }

    pub(crate) fn set_transaction_timeout_ms(&mut self, transaction_timeout_ms: i32) {
        self.transaction_timeout_ms = transaction_timeout_ms;
    }

    /// Whether the sender may drain a batch of `tp` now: only once `tp` is in the open transaction.
    pub fn may_send(&self, tp: &TopicPartition) -> bool {
        matches!(self.state, State::InTransaction | State::Committing) && self.partitions.contains(tp)
    }

    /// The transaction is being committed or aborted: every queued batch that may still go is sent regardless of
    /// `linger.ms` (as a flush), so that EndTxn can follow.
    pub fn is_completing(&self) -> bool {
        matches!(self.state, State::Committing | State::Aborting)
    }

    /// Whether `send` may append a record now.
    pub fn check_can_send(&self) -> Result<(), ClientError> {
        match self.state {
            State::InTransaction => Ok(()),
            State::AbortableError => Err(self.failed("the transaction must be aborted")),
            State::Fatal => Err(self.failed("the producer cannot use transactions")),
            State::Uninitialized => Err(ClientError::IllegalState("call init_transactions() first".into())),
            State::Initializing => Err(initializing()),
            State::Ready => {
                Err(ClientError::IllegalState("cannot send outside a transaction: call begin_transaction()".into()))
            }
            State::Committing | State::Aborting => {
                Err(ClientError::IllegalState("cannot send while the transaction is being completed".into()))
            }
        }
    }

    /// `init_transactions`: gets a producer id and epoch for the transactional id (fencing older producers).
    pub fn init_transactions(&mut self, now_ms: u64, timeout_ms: u64) -> Result<(), ClientError> {
        if self.resume(TxnCall::InitTransactions, now_ms, timeout_ms) {
            return Ok(());
        }
        match self.state {
            State::Uninitialized => {
                self.state = State::Initializing;
                self.start(TxnCall::InitTransactions, now_ms, timeout_ms);
                Ok(())
            }
            State::Fatal => Err(self.failed("the producer cannot use transactions")),
            _ => Err(ClientError::IllegalState("init_transactions() was already called".into())),
        }
    }

    /// `begin_transaction`: completes at once.
    pub fn begin_transaction(&mut self) -> Result<(), ClientError> {
        self.drop_unclaimed();
        match self.state {
            State::Ready => {
                self.state = State::InTransaction;
                self.partitions.clear();
                self.started = false;
                Ok(())
            }
            State::Uninitialized => Err(ClientError::IllegalState("call init_transactions() first".into())),
            State::Initializing => Err(initializing()),
            State::InTransaction | State::AbortableError => {
                Err(ClientError::IllegalState("a transaction is already in progress".into()))
            }
            State::Committing | State::Aborting => Err(ClientError::IllegalState(
                "the previous transaction is still being completed: call its commit or abort again".into(),
            )),
            State::Fatal => Err(self.failed("the producer cannot use transactions")),
        }
    }

    /// `send_offsets_to_transaction`: AddOffsetsToTxn, then TxnOffsetCommit to the group's coordinator.
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        group: ConsumerGroupMetadata,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Result<(), ClientError> {
        if self.resume(TxnCall::SendOffsetsToTransaction, now_ms, timeout_ms) {
            return Ok(());
        }
        self.drop_unclaimed();
        match self.state {
            State::InTransaction => {
                if self.call.is_some() {
                    return Err(ClientError::IllegalState("another transactional call is in progress".into()));
                }
                self.offsets = Some(PendingOffsets { group, offsets, added: false });
                self.group_coordinator = None;
                self.start(TxnCall::SendOffsetsToTransaction, now_ms, timeout_ms);
                Ok(())
            }
            State::AbortableError | State::Fatal => Err(self.failed("the transaction must be aborted")),
            _ => Err(ClientError::IllegalState("send_offsets_to_transaction needs an open transaction".into())),
        }
    }

    /// `commit_transaction`: EndTxn(commit) once every batch of the transaction is acknowledged.
    pub fn commit_transaction(&mut self, now_ms: u64, timeout_ms: u64) -> Result<(), ClientError> {
        self.end(true, now_ms, timeout_ms)
    }

    /// `abort_transaction`: queued batches fail, in-flight ones are awaited, then EndTxn(abort).
    pub fn abort_transaction(&mut self, now_ms: u64, timeout_ms: u64) -> Result<(), ClientError> {
        self.end(false, now_ms, timeout_ms)
    }

    fn end(&mut self, commit: bool, now_ms: u64, timeout_ms: u64) -> Result<(), ClientError> {
        let call = if commit { TxnCall::CommitTransaction } else { TxnCall::AbortTransaction };
        if self.resume(call, now_ms, timeout_ms) {
            return Ok(());
        }
        self.drop_unclaimed();
        if self.call.is_some() {
            return Err(ClientError::IllegalState("another transactional call is in progress".into()));
        }
        match (self.state, commit) {
            (State::InTransaction, _) | (State::AbortableError, false) => {
                self.state = if commit { State::Committing } else { State::Aborting };
                self.start(call, now_ms, timeout_ms);
                Ok(())
            }
            (State::AbortableError, true) => {
                Err(self.failed("cannot commit: a record of the transaction failed; abort it"))
            }
            (State::Fatal, _) => Err(self.failed("the producer cannot use transactions")),
            _ => Err(ClientError::IllegalState("no transaction in progress".into())),
        }
    }

    /// A call of the same method as the pending one: the caller waits again for the same work.
    fn resume(&mut self, call: TxnCall, now_ms: u64, timeout_ms: u64) -> bool {
        let Some(pending) = self.call.as_mut().filter(|p| p.call == call) else { return false };
        match pending.outcome.take() {
            Some(outcome) => {
                self.call = None;
                self.finished.push((call, outcome));
            }
            None => pending.deadline_ms = Some(now_ms.saturating_add(timeout_ms)),
        }
        true
    }

    /// Forgets the outcome of a call whose caller stopped waiting and then called something else instead.
    fn drop_unclaimed(&mut self) {
        if self.call.as_ref().is_some_and(|p| p.outcome.is_some()) {
            self.call = None;
        }
    }

    fn start(&mut self, call: TxnCall, now_ms: u64, timeout_ms: u64) {
        self.call = Some(PendingCall { call, deadline_ms: Some(now_ms.saturating_add(timeout_ms)), outcome: None });
        // A new call is not held back by the backoff of an older one's failure.
        self.retry_at_ms = 0;
        self.backoff_ms = self.retry_backoff_ms;
    }

    /// The pending call's work is over.
    fn finish(&mut self, outcome: Result<(), ClientError>) {
        let Some(pending) = self.call.as_mut() else { return };
        if pending.deadline_ms.is_some() {
            let call = pending.call;
            self.call = None;
            self.finished.push((call, outcome));
        } else {
            pending.outcome = Some(outcome);
        }
    }

    /// The error a call gets once the transaction failed (see `failed_transaction`).
    fn failed(&self, what: &str) -> ClientError {
        match &self.error {
            Some(e) => failed_transaction(e, what),
            None => ClientError::IllegalState(what.to_string()),
        }
    }

    fn abortable(&mut self, error: ClientError) {
        if matches!(self.state, State::InTransaction | State::Committing) {
            self.state = State::AbortableError;
            self.error = Some(error.clone());
            self.offsets = None;
            // A commit in progress fails: the transaction can only be aborted now.
            if self.call.as_ref().is_some_and(|p| p.call != TxnCall::AbortTransaction) {
                self.finish(Err(error));
            }
        } else if self.state == State::Aborting {
            // The abort itself failed (its EndTxn was refused): it may be tried again.
            self.state = State::AbortableError;
            self.error = Some(error.clone());
            self.finish(Err(error));
        } else if self.state == State::Initializing {
            self.fatal(error);
        }
    }

    fn fatal(&mut self, error: ClientError) {
        self.state = State::Fatal;
        self.error = Some(error.clone());
        self.offsets = None;
        self.finish(Err(error));
    }

    /// A batch of the producer failed for good (the sender gives up on it): the transaction can only be aborted,
    /// or, fenced or unauthorized, not go on at all.
    /// `had_sequence`: the batch was numbered, so its partition's sequence now has a gap.
    pub(crate) fn on_batch_failed(&mut self, error: &ClientError, had_sequence: bool) {
        let fatal = self.state == State::Fatal;
        self.epoch_bump_required |= had_sequence && !fatal;
        match error.code() {
            Some(47 | 90) if !fatal => self.fatal(ClientError::from_code(90, None)),
            Some(53) if !fatal => self.fatal(error.clone()),
            Some(47 | 90 | 53) => {}
            // Aborting, the failure of a batch is what the abort expects.
            _ if matches!(self.state, State::InTransaction | State::Committing) => self.abortable(error.clone()),
            _ => {}
        }
    }

    /// Hands out finished calls, fails batches that can no longer be sent in the transaction, and returns the
    /// next transactional request if one is due, with when to look again otherwise.
    pub(crate) fn poll(
        &mut self,
        now_ms: u64,
        accumulator: &mut Accumulator,
        producer: (i64, i16),
        actions: &mut Vec<Action>,
    ) -> (Option<Outgoing>, Option<u64>) {
        let mut deadline_ms = None;
        if let Some(pending) = self.call.as_mut() {
            match pending.deadline_ms {
                Some(d) if d <= now_ms => {
                    pending.deadline_ms = None;
                    let error = ClientError::Timeout(format!(
                        "{:?} for transactional id {} did not complete in time; call it again to keep waiting",
                        pending.call, self.transactional_id
                    ));
                    self.finished.push((pending.call, Err(error)));
                }
                Some(d) => deadline_ms = Some(d),
                None => {}
            }
        }
        self.fail_unsendable(accumulator, actions);
        let outgoing = self.next_request(now_ms, accumulator, producer, &mut deadline_ms);
        self.take_finished(actions);
        (outgoing, deadline_ms)
    }

    /// Hands out the outcomes of calls that finished.
    pub(crate) fn take_finished(&mut self, actions: &mut Vec<Action>) {
        for (call, result) in self.finished.drain(..) {
            actions.push(Action::Transaction { call, result });
        }
    }

    /// Aborting, or after an error, queued batches can never be part of a committed transaction: they fail now,
    /// as Kafka's producer aborts its undrained batches, so flushes and the abort do not wait for them.
    fn fail_unsendable(&mut self, accumulator: &mut Accumulator, actions: &mut Vec<Action>) {
        if !matches!(self.state, State::Aborting | State::AbortableError | State::Fatal)
            || accumulator.partitions_with_data().is_empty()
        {
            return;
        }
        let error = match &self.error {
            Some(e) => failed_transaction(e, "the transaction failed"),
            None => ClientError::IllegalState("the transaction was aborted".into()),
        };
        for batch in accumulator.take_all() {
            actions.push(Action::Complete { batch, result: Err(error.clone()) });
        }
    }

    fn next_request(
        &mut self,
        now_ms: u64,
        accumulator: &Accumulator,
        producer: (i64, i16),
        deadline_ms: &mut Option<u64>,
    ) -> Option<Outgoing> {
        if self.in_flight.is_some() {
            return None;
        }
        if now_ms < self.retry_at_ms {
            *deadline_ms = earliest(*deadline_ms, self.retry_at_ms);
            return None;
        }
        let step = match self.state {
            State::Initializing => Step::InitProducerId,
            State::InTransaction | State::Committing => {
                let new: Vec<TopicPartition> = {
                    let mut with_data = accumulator.partitions_with_data();
                    with_data.retain(|tp| !self.partitions.contains(tp));
                    with_data.sort();
                    with_data
                };
                if !new.is_empty() {
                    Step::AddPartitions(new)
                } else if let Some(offsets) = &self.offsets {
                    if offsets.added {
                        Step::TxnOffsetCommit
                    } else {
                        Step::AddOffsets
                    }
                } else if self.state == State::Committing && accumulator.incomplete_batches() == 0 {
                    self.end_step(true)?
                } else {
                    return None;
                }
            }
            State::Aborting if accumulator.incomplete_batches() == 0 => self.end_step(false)?,
            _ => return None,
        };
        let coordinator = match (&step, &self.offsets) {
            (Step::TxnOffsetCommit, Some(offsets)) => match self.group_coordinator {
                Some(node) => node,
                None => return Some(self.find_coordinator(COORDINATOR_GROUP, offsets.group.group_id.clone())),
            },
            _ => match self.txn_coordinator {
                Some(node) => node,
                None => return Some(self.find_coordinator(COORDINATOR_TRANSACTION, self.transactional_id.clone())),
            },
        };
        let request = self.request(&step, producer)?;
        self.in_flight = Some(step.clone());
        Some(Outgoing { node: Some(coordinator), request, step })
    }

    /// EndTxn, or when the transaction touched nothing, its completion right away.
    fn end_step(&mut self, commit: bool) -> Option<Step> {
        if self.started {
            return Some(Step::EndTxn { commit });
        }
        self.complete_transaction();
        None
    }

    fn complete_transaction(&mut self) {
        self.error = None;
        self.partitions.clear();
        self.started = false;
        self.offsets = None;
        if self.epoch_bump_required {
            // The call completes once InitProducerId gave the new epoch.
            self.epoch_bump_required = false;
            self.state = State::Initializing;
        } else {
            self.state = State::Ready;
            self.finish(Ok(()));
        }
    }

    fn find_coordinator(&mut self, key_type: i8, key: String) -> Outgoing {
        let request = FindCoordinatorRequest::default()
            .with_key_type(key_type)
            .with_key(sb(&key))
            .with_coordinator_keys(vec![sb(&key)]);
        let step = Step::FindCoordinator { key_type, key };
        self.in_flight = Some(step.clone());
        Outgoing { node: None, request: Request::FindCoordinator(request), step }
    }

    /// The request for `step` (`None` for FindCoordinator, built by `find_coordinator`, and for TxnOffsetCommit
    /// with no offsets pending).
    fn request(&self, step: &Step, (producer_id, producer_epoch): (i64, i16)) -> Option<Request> {
        let id = TransactionalId(sb(&self.transactional_id));
        let request = match step {
            Step::FindCoordinator { .. } => return None,
            Step::InitProducerId => Request::InitProducerId(
                InitProducerIdRequest::default()
                    .with_transactional_id(Some(id))
                    .with_transaction_timeout_ms(self.transaction_timeout_ms)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ),
            Step::AddPartitions(partitions) => {
                let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                for tp in partitions {
                    by_topic.entry(&tp.topic).or_default().push(tp.partition);
                }
                let topics = by_topic
                    .into_iter()
                    .map(|(t, ps)| AddPartitionsToTxnTopic::default().with_name(TopicName(sb(t))).with_partitions(ps))
                    .collect();
                Request::AddPartitionsToTxn(
                    AddPartitionsToTxnRequest::default()
                        .with_v3_and_below_transactional_id(id)
                        .with_v3_and_below_producer_id(ProducerId(producer_id))
                        .with_v3_and_below_producer_epoch(producer_epoch)
                        .with_v3_and_below_topics(topics),
                )
            }
            Step::AddOffsets => {
                let group = self.offsets.as_ref().map(|o| o.group.group_id.as_str()).unwrap_or_default();
                Request::AddOffsetsToTxn(
                    AddOffsetsToTxnRequest::default()
                        .with_transactional_id(id)
                        .with_producer_id(ProducerId(producer_id))
                        .with_producer_epoch(producer_epoch)
                        .with_group_id(GroupId(sb(group))),
                )
            }
            Step::TxnOffsetCommit => {
                let pending = self.offsets.as_ref()?;
                let mut by_topic: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
                for (tp, o) in &pending.offsets {
                    by_topic.entry(&tp.topic).or_default().push(
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(tp.partition)
                            .with_committed_offset(o.offset)
                            .with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                            .with_committed_metadata(Some(sb(&o.metadata))),
                    );
                }
                let group = &pending.group;
                Request::TxnOffsetCommit(
                    TxnOffsetCommitRequest::default()
                        .with_transactional_id(id)
                        .with_group_id(GroupId(sb(&group.group_id)))
                        .with_producer_id(ProducerId(producer_id))
                        .with_producer_epoch(producer_epoch)
                        .with_generation_id(group.generation_id)
                        .with_member_id(sb(&group.member_id))
                        .with_group_instance_id(group.group_instance_id.as_deref().map(sb))
                        .with_topics(
                            by_topic
                                .into_iter()
                                .map(|(t, ps)| {
                                    TxnOffsetCommitRequestTopic::default()
                                        .with_name(TopicName(sb(t)))
                                        .with_partitions(ps)
                                })
                                .collect(),
                        ),
                )
            }
            Step::EndTxn { commit } => Request::EndTxn(
                EndTxnRequest::default()
                    .with_transactional_id(id)
                    .with_producer_id(ProducerId(producer_id))
                    .with_producer_epoch(producer_epoch)
                    .with_committed(*commit),
            ),
        };
        Some(request)
    }

    /// Takes in the outcome of the transactional request `step`. Returns the producer id and epoch when
    /// InitProducerId gave them.
    pub(crate) fn on_response(
        &mut self,
        step: Step,
        now_ms: u64,
        result: Result<Response, ClientError>,
    ) -> Option<(i64, i16)> {
        if self.in_flight.as_ref() == Some(&step) {
            self.in_flight = None;
        }
        if self.state == State::Fatal {
            // Nothing an answer says can undo a fatal error.
            return None;
        }
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                // No answer: the coordinator may have gone; ask again who it is.
                self.forget_coordinator(&step);
                self.retry(now_ms, &e, None);
                return None;
            }
        };
        let mut producer = None;
        match (step, response) {
            (Step::FindCoordinator { key_type, .. }, Response::FindCoordinator(r)) => {
                let (code, message, node) = match r.coordinators.first() {
                    Some(c) => (c.error_code, c.error_message.clone(), c.node_id.0),
                    None => (r.error_code, r.error_message.clone(), r.node_id.0),
                };
                let error = (code != 0).then(|| ClientError::from_code(code, message.map(|m| m.to_string())));
                match (error, key_type) {
                    (None, COORDINATOR_GROUP) => self.group_coordinator = Some(node),
                    (None, _) => self.txn_coordinator = Some(node),
                    (Some(e), _) if e.is_retriable() => self.retry(now_ms, &e, None),
                    (Some(e), COORDINATOR_GROUP) if e.code() == Some(30) => self.abortable(e),
                    (Some(e), _) => self.fatal(e),
                }
                if code == 0 {
                    self.succeeded();
                }
            }
            (Step::InitProducerId, Response::InitProducerId(r)) => match self.classify(r.error_code, false) {
                Outcome::Ok => {
                    self.succeeded();
                    producer = Some((r.producer_id.0, r.producer_epoch));
                    self.state = State::Ready;
                    self.error = None;
                    self.finish(Ok(()));
                }
                outcome => self.apply(outcome, now_ms),
            },
            (Step::AddPartitions(partitions), Response::AddPartitionsToTxn(r)) => {
                let mut code = r.error_code;
                for t in &r.results_by_topic_v3_and_below {
                    for p in &t.results_by_partition {
                        // OPERATION_NOT_ATTEMPTED (55) only echoes another partition's error.
                        if p.partition_error_code != 0 && p.partition_error_code != 55 {
                            code = p.partition_error_code;
                        }
                    }
                }
                match self.classify(code, true) {
                    Outcome::Ok => {
                        self.succeeded();
                        self.partitions.extend(partitions);
                        self.started = true;
                    }
                    Outcome::Retry(e) if e.code() == Some(51) && self.partitions.is_empty() => {
                        self.retry(now_ms, &e, Some(ADD_PARTITIONS_RETRY_BACKOFF_MS))
                    }
                    outcome => self.apply(outcome, now_ms),
                }
            }
            (Step::AddOffsets, Response::AddOffsetsToTxn(r)) => match self.classify(r.error_code, false) {
                Outcome::Ok => {
                    self.succeeded();
                    self.started = true;
                    if let Some(o) = self.offsets.as_mut() {
                        o.added = true;
                    }
                }
                Outcome::Fatal(e) if e.code() == Some(30) => self.abortable(e),
                outcome => self.apply(outcome, now_ms),
            },
            (Step::TxnOffsetCommit, Response::TxnOffsetCommit(r)) => {
                let code = r.topics.iter().flat_map(|t| t.partitions.iter()).map(|p| p.error_code).find(|&c| c != 0);
                let error = code.map(|c| ClientError::from_code(c, None));
                match error {
                    None => {
                        self.succeeded();
                        self.offsets = None;
                        self.group_coordinator = None;
                        self.finish(Ok(()));
                    }
                    Some(e) if matches!(e.code(), Some(7 | 15 | 16)) => {
                        self.group_coordinator = None;
                        self.retry(now_ms, &e, None)
                    }
                    Some(e) if matches!(e.code(), Some(3 | 14)) || e.is_retriable() => self.retry(now_ms, &e, None),
                    // Group authorization, a fenced static member, an unknown member or an old generation: the
                    // offsets cannot be committed by this member; the transaction can still be aborted.
                    Some(e) if matches!(e.code(), Some(22 | 25 | 30 | 82)) => self.abortable(e),
                    Some(e) => self.fatal(fenced(e)),
                }
            }
            (Step::EndTxn { .. }, Response::EndTxn(r)) => match self.classify(r.error_code, false) {
                Outcome::Ok => {
                    self.succeeded();
                    self.complete_transaction();
                }
                outcome => self.apply(outcome, now_ms),
            },
            (step, response) => self
                .fatal(ClientError::Protocol(format!("unexpected answer to {step:?}: {}", response_name(&response)))),
        }
        producer
    }

    /// How an error code of a request to the transaction coordinator is handled.
    fn classify(&self, code: i16, add_partitions: bool) -> Outcome {
        let error = match code {
            0 => return Outcome::Ok,
            code => ClientError::from_code(code, None),
        };
        match code {
            // COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR: the coordinator moved.
            15 | 16 => Outcome::MovedCoordinator(error),
            // COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS (the previous transaction is completing),
            // UNKNOWN_TOPIC_OR_PARTITION (a partition not yet known to the coordinator).
            14 | 51 | 3 => Outcome::Retry(error),
            // INVALID_PRODUCER_EPOCH from older coordinators means the same as PRODUCER_FENCED.
            47 | 90 => Outcome::Fatal(ClientError::from_code(90, None)),
            // TRANSACTIONAL_ID_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED, INVALID_TXN_STATE.
            53 | 31 | 48 => Outcome::Fatal(error),
            // UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_ID_MAPPING, TRANSACTION_ABORTABLE (KIP-890).
            59 | 49 | 120 => Outcome::Abortable(error),
            // TOPIC_AUTHORIZATION_FAILED and a partition's other errors: the partition cannot join.
            _ if add_partitions && !error.is_retriable() => Outcome::Abortable(error),
            _ if error.is_retriable() => Outcome::Retry(error),
            _ => Outcome::Fatal(error),
        }
    }

    fn apply(&mut self, outcome: Outcome, now_ms: u64) {
        match outcome {
            Outcome::Ok => self.succeeded(),
            Outcome::MovedCoordinator(e) => {
                self.txn_coordinator = None;
                self.retry(now_ms, &e, None)
            }
            Outcome::Retry(e) => self.retry(now_ms, &e, None),
            Outcome::Abortable(e) => {
                // UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_ID_MAPPING: the coordinator lost the producer's state.
                self.epoch_bump_required |= matches!(e.code(), Some(49 | 59));
                self.abortable(e)
            }
            Outcome::Fatal(e) => self.fatal(e),
        }
    }

    fn forget_coordinator(&mut self, step: &Step) {
        match step {
            Step::TxnOffsetCommit => self.group_coordinator = None,
            Step::FindCoordinator { .. } => {}
            _ => self.txn_coordinator = None,
        }
    }

    fn succeeded(&mut self) {
        self.backoff_ms = self.retry_backoff_ms;
        self.retry_at_ms = 0;
    }

    /// Waits before the next transactional request: doubling from `retry.backoff.ms` to `retry.backoff.max.ms`
    /// while requests fail (or `backoff_ms` when given).
    fn retry(&mut self, now_ms: u64, error: &ClientError, backoff_ms: Option<u64>) {
        let wait = backoff_ms.unwrap_or(self.backoff_ms).max(1);
        tracing::debug!(target: "potok::client", "transactional request for {} retried in {wait} ms: {error}",
            self.transactional_id);
        self.retry_at_ms = now_ms + wait;
        if backoff_ms.is_none() {
            self.backoff_ms = (self.backoff_ms.saturating_mul(2)).min(self.retry_backoff_max_ms);
        }
    }
}

enum Outcome {
    Ok,
    MovedCoordinator(ClientError),
    Retry(ClientError),
    Abortable(ClientError),
    Fatal(ClientError),
}

fn initializing() -> ClientError {
    ClientError::IllegalState("the producer is getting its producer id and epoch: wait for the pending call".into())
}

/// INVALID_PRODUCER_EPOCH means the producer was fenced, as Kafka's producer reads it.
fn fenced(error: ClientError) -> ClientError {
    if error.code() == Some(47) {
        ClientError::from_code(90, None)
    } else {
        error
    }
}

/// The error of a call refused because an earlier one failed the transaction. Errors Kafka's producer treats as
/// fatal and names (PRODUCER_FENCED, TRANSACTIONAL_ID_AUTHORIZATION_FAILED: another producer owns the id, or this
/// one may not use it) come back as themselves, as Kafka's producer throws ProducerFencedException again from every
/// later call; any other failure is a state error naming it.
fn failed_transaction(error: &ClientError, what: &str) -> ClientError {
    match error.code() {
        Some(90 | 53) => error.clone(),
        _ => ClientError::IllegalState(format!("{what} ({error})")),
    }
}

fn response_name(response: &Response) -> &'static str {
    match response {
        Response::InitProducerId(_) => "InitProducerId",
        Response::Produce(_) => "Produce",
        Response::Written => "a write without answer",
        Response::FindCoordinator(_) => "FindCoordinator",
        Response::AddPartitionsToTxn(_) => "AddPartitionsToTxn",
        Response::AddOffsetsToTxn(_) => "AddOffsetsToTxn",
        Response::TxnOffsetCommit(_) => "TxnOffsetCommit",
        Response::EndTxn(_) => "EndTxn",
    }
}

fn earliest(a: Option<u64>, b: u64) -> Option<u64> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

#[cfg(test)]
mod tests;
