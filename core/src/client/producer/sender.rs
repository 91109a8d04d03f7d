//! The producer's sender as a sans-IO state machine: time and broker responses go in, requests and record
//! outcomes come out. It owns the [`Accumulator`] and everything the Java producer's `Sender` thread decides:
//! the producer id of an idempotent producer (InitProducerId before the first Produce), batch expiry
//! (`delivery.timeout.ms`), draining ready batches per partition leader into Produce requests under
//! `max.request.size`, in-flight limits, retries with backoff, idempotent sequence handling, and asking for
//! metadata when a partition has no known leader or a leader moved. With `transactional.id` it also owns the
//! producer's [`TransactionManager`]: partitions are drained only once they are in the transaction, the
//! transactional requests (FindCoordinator, InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn) leave from `poll` like the others, and the transactional calls' outcomes come back as
//! [`Action::Transaction`].
//!
//! A driver runs it: natively a tokio task on the client runtime (`driver.rs`), in a browser the page's event
//! loop. The driver calls [`Sender::poll`] whenever something may have changed (records appended, a response
//! handled, [`Sender::next_deadline_ms`] reached), performs the returned [`Action`]s, and feeds each request's
//! outcome back through [`Sender::on_response`]. Time is a millisecond count on the driver's monotonic clock;
//! the machine never reads a clock, spawns a task or touches a socket, so it builds for wasm32 and is tested in
//! virtual time.
//!
//! Invariants: requests leave only from `poll`, so a driver that writes them to a broker in the order given
//! keeps each partition's batches in sequence order; a batch is in exactly one place (the accumulator, one
//! in-flight request, or a [`Action::Complete`] handed to the driver); request timeouts are the driver's (it
//! reports a request that got no answer as an error).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    EndTxnRequest, EndTxnResponse, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProduceRequest, ProduceResponse, TopicName, TransactionalId, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::accumulator::{Accumulator, AccumulatorConfig, ProducerBatch};
use super::transaction::{ConsumerGroupMetadata, Step, TransactionManager, TxnCall};
use crate::client::error::ClientError;
use crate::client::metadata::Metadata;
use crate::client::{find_coordinator_for_version, TopicPartition};

/// Names one request the machine asked for, to match its outcome.
pub type RequestId = u64;

/// The settings the sender applies.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub acks: i16,
    pub idempotent: bool,
    pub transactional_id: Option<String>,
    pub retries: u32,
    pub max_request_size: usize,
    pub request_timeout_ms: i32,
    /// The wait before asking again for a producer id or for metadata.
    pub retry_backoff_ms: u64,
    pub accumulator: AccumulatorConfig,
}

/// A request for the driver to send. The driver picks the version the broker supports and passes the request
/// through [`Request::for_version`] first (InitProducerId and Produce are valid at every version the client
/// speaks as they are; the transactional requests carry fields of several versions).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    InitProducerId(InitProducerIdRequest),
    Produce(ProduceRequest),
    /// The coordinator of the transactional id (key type 1) or of a consumer group (key type 0).
    FindCoordinator(FindCoordinatorRequest),
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    TxnOffsetCommit(TxnOffsetCommitRequest),
    EndTxn(EndTxnRequest),
}

impl Request {
    /// Whether the broker answers: a Produce with `acks=0` gets no response, only a write.
    pub fn expects_response(&self) -> bool {
        !matches!(self, Request::Produce(r) if r.acks == 0)
    }

    /// The request as it is encoded at `version`: fields that version does not have are cleared (FindCoordinator
    /// names its key in `key` before version 4 and in `coordinator_keys` from 4; TxnOffsetCommit has the member's
    /// generation from 3 and leader epochs from 2).
    pub fn for_version(self, version: i16) -> Request {
        match self {
            Request::FindCoordinator(r) => Request::FindCoordinator(find_coordinator_for_version(r, version)),
            Request::TxnOffsetCommit(r) => Request::TxnOffsetCommit(txn_offset_commit_for_version(r, version)),
            other => other,
        }
    }
}

/// [`Request::for_version`] of a TxnOffsetCommit request.
pub fn txn_offset_commit_for_version(mut request: TxnOffsetCommitRequest, version: i16) -> TxnOffsetCommitRequest {
    if version < 3 {
        request = request.with_generation_id(-1).with_member_id(StrBytes::default()).with_group_instance_id(None);
    }
    if version < 2 {
        for p in request.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            p.committed_leader_epoch = -1;
        }
    }
    request
}

/// The outcome of a [`Request`], as the driver reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    InitProducerId(InitProducerIdResponse),
    Produce(ProduceResponse),
    /// A request that gets no response ([`Request::expects_response`] is false) was written to the broker.
    Written,
    FindCoordinator(FindCoordinatorResponse),
    AddPartitionsToTxn(AddPartitionsToTxnResponse),
    AddOffsetsToTxn(AddOffsetsToTxnResponse),
    TxnOffsetCommit(TxnOffsetCommitResponse),
    EndTxn(EndTxnResponse),
}

/// Where a batch's records were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The first record's offset (-1 with `acks=0` or when the broker already had the batch).
    pub base_offset: i64,
    /// The broker's append time for topics with LogAppendTime, else -1.
    pub log_append_time_ms: i64,
}

/// What the driver does next.
#[derive(Debug)]
pub enum Action {
    /// Send `request` to broker `node` (`None`: any broker) and report the outcome with `id`. Requests to one
    /// broker must be written in the order they are given.
    Send { id: RequestId, node: Option<i32>, request: Request },
    /// Refresh the metadata of `topics` (no known leader, or the leader moved); later polls read it.
    RefreshMetadata { topics: Vec<String> },
    /// The batch is done: complete its records with `result` and release their `buffer.memory`.
    Complete { batch: ProducerBatch, result: Result<Delivered, ClientError> },
    /// A transactional call ([`Sender::init_transactions`], [`Sender::send_offsets_to_transaction`],
    /// [`Sender::commit_transaction`], [`Sender::abort_transaction`]) finished, or its timeout passed.
    Transaction { call: TxnCall, result: Result<(), ClientError> },
}

/// What a request in flight carries.
#[derive(Debug)]
enum InFlight {
    ProducerId,
    Produce(Vec<ProducerBatch>),
    Transaction(Step),
}

/// Kafka's default `transaction.timeout.ms`.
const TRANSACTION_TIMEOUT_MS_DEFAULT: i32 = 60_000;

/// The producer's sender (see the module documentation).
#[derive(Debug)]
pub struct Sender {
    config: SenderConfig,
    accumulator: Accumulator,
    producer_id: i64,
    producer_epoch: i16,
    /// An InitProducerId request is in flight.
    producer_id_requested: bool,
    producer_id_retry_ms: u64,
    metadata_retry_ms: u64,
    in_flight: HashMap<RequestId, InFlight>,
    next_request_id: RequestId,
    /// When the last poll found something due next, if anything.
    deadline_ms: Option<u64>,
    /// The transaction state, when `transactional.id` is set.
    txn: Option<TransactionManager>,
}

impl Sender {
    pub fn new(config: SenderConfig) -> Sender {
        let txn = config.transactional_id.clone().map(|id| {
            TransactionManager::new(
                id,
                TRANSACTION_TIMEOUT_MS_DEFAULT,
                config.retry_backoff_ms,
                config.accumulator.retry_backoff_max_ms,
            )
        });
        Sender {
            txn,
            accumulator: Accumulator::new(config.accumulator.clone()),
            config,
            producer_id: -1,
            producer_epoch: -1,
            producer_id_requested: false,
            producer_id_retry_ms: 0,
            metadata_retry_ms: 0,
            in_flight: HashMap::new(),
            next_request_id: 0,
            deadline_ms: None,
        }
    }

    pub fn accumulator(&self) -> &Accumulator {
        &self.accumulator
    }

    /// For appending records (then poll) and for taking every batch out on close or a fatal error.
    pub fn accumulator_mut(&mut self) -> &mut Accumulator {
        &mut self.accumulator
    }

    /// The producer id and epoch in use, (-1, -1) before one is known.
    pub fn producer_id(&self) -> (i64, i16) {
        (self.producer_id, self.producer_epoch)
    }

    /// Uses a producer id and epoch obtained elsewhere (a transactional producer's `init_transactions`);
    /// sequences start again from 0.
    pub fn set_producer_id(&mut self, producer_id: i64, producer_epoch: i16) {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.accumulator.reset_sequences();
    }

    /// Batches appended and not yet handed out as completed (queued or in flight).
    pub fn incomplete_batches(&self) -> usize {
        self.accumulator.incomplete_batches()
    }

    /// When to poll again at the latest if nothing else happens (a linger or backoff ends), as found by the
    /// last poll. Appends and responses may make something due earlier: poll after each.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadline_ms
    }

    /// Sets `transaction.timeout.ms`, sent with the transactional producer's InitProducerId (Kafka's default,
    /// 60 s, until then).
    pub fn set_transaction_timeout_ms(&mut self, transaction_timeout_ms: i32) {
        if let Some(txn) = self.txn.as_mut() {
            txn.set_transaction_timeout_ms(transaction_timeout_ms);
        }
    }

    /// The transaction state of a transactional producer.
    pub fn transaction(&self) -> Option<&TransactionManager> {
        self.txn.as_ref()
    }

    fn txn_mut(&mut self) -> Result<&mut TransactionManager, ClientError> {
        self.txn.as_mut().ok_or_else(|| ClientError::IllegalState("transactional.id is not set".into()))
    }

    /// Whether a record may be appended now: always, unless the producer is transactional and no transaction is
    /// open (or it failed).
    pub fn check_can_send(&self) -> Result<(), ClientError> {
        self.txn.as_ref().map_or(Ok(()), TransactionManager::check_can_send)
    }

    /// Starts `init_transactions`; its outcome comes as [`Action::Transaction`] from a later poll, at the latest
    /// when `timeout_ms` has passed. Called again after a timeout, it waits for the same work.
    pub fn init_transactions(&mut self, now_ms: u64, timeout_ms: u64) -> Result<(), ClientError> {
        self.txn_mut()?.init_transactions(now_ms, timeout_ms)
    }

    /// `begin_transaction`, which completes at once.
    pub fn begin_transaction(&mut self) -> Result<(), ClientError> {
        self.txn_mut()?.begin_transaction()
    }

    /// Starts `send_offsets_to_transaction` (outcome as for [`Sender::init_transactions`]).
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: BTreeMap<TopicPartition, crate::client::OffsetAndMetadata>,
        group: ConsumerGroupMetadata,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Result<(), ClientError> {
        self.txn_mut()?.send_offsets_to_transaction(offsets, group, now_ms, timeout_ms)
    }

    /// Starts `commit_transaction`: queued batches are sent at once (as by a flush), and EndTxn follows when all
    /// are acknowledged (outcome as for [`Sender::init_transactions`]).
    pub fn commit_transaction(&mut self, now_ms: u64, timeout_ms: u64) -> Result<(), ClientError> {
        self.txn_mut()?.commit_transaction(now_ms, timeout_ms)
    }

    /// Starts `abort_transaction`: queued batches fail, EndTxn follows when those in flight are answered
    /// (outcome as for [`Sender::init_transactions`]).
    pub fn abort_transaction(&mut self, now_ms: u64, timeout_ms: u64) -> Result<(), ClientError> {
        self.txn_mut()?.abort_transaction(now_ms, timeout_ms)
    }

    /// Tells the transaction about batches that failed for good among `actions` (from `from` on).
    fn note_failures(&mut self, actions: &[Action], from: usize) {
        let Some(txn) = self.txn.as_mut() else { return };
        for action in &actions[from..] {
            if let Action::Complete { batch, result: Err(e) } = action {
                txn.on_batch_failed(e, batch.base_sequence >= 0);
            }
        }
    }

    /// An idempotent producer without a transactional id gets its own producer id (a transactional one gets
    /// it from `init_transactions`).
    fn needs_producer_id(&self) -> bool {
        self.config.idempotent && self.config.transactional_id.is_none() && self.producer_id < 0
    }

    /// Expires batches past `delivery.timeout.ms`, asks for a producer id when one is needed, and turns the
    /// batches ready at `now_ms` into Produce requests for their leaders in `metadata`. `flush`: every queued
    /// batch is ready regardless of `linger.ms`. `may_send`: whether a partition's batches may go now (the
    /// driver's own restriction; a transactional producer in addition sends only to partitions already added to
    /// the transaction, and emits the transactional requests that get them added and the transaction ended).
    pub fn poll(
        &mut self,
        now_ms: u64,
        metadata: &Metadata,
        flush: bool,
        may_send: impl Fn(&TopicPartition) -> bool,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        for batch in self.accumulator.expire(now_ms) {
            let error = ClientError::Timeout(format!(
                "expiring {} record(s) for {}: {} ms has passed since batch creation",
                batch.record_count(),
                batch.tp,
                self.config.accumulator.delivery_timeout_ms
            ));
            actions.push(Action::Complete { batch, result: Err(error) });
        }
        let mut deadline_ms = None;
        let mut flush = flush;
        if let Some(txn) = self.txn.as_mut() {
            let (outgoing, txn_deadline_ms) =
                txn.poll(now_ms, &mut self.accumulator, (self.producer_id, self.producer_epoch), &mut actions);
            deadline_ms = earliest(deadline_ms, txn_deadline_ms);
            flush |= txn.is_completing();
            if let Some(o) = outgoing {
                actions.push(self.send(o.node, InFlight::Transaction(o.step), o.request));
            }
        }
        if self.needs_producer_id() && self.accumulator.incomplete_batches() > 0 && !self.producer_id_requested {
            if now_ms >= self.producer_id_retry_ms {
                self.producer_id_requested = true;
                let request =
                    InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(i32::MAX);
                actions.push(self.send(None, InFlight::ProducerId, Request::InitProducerId(request)));
            } else {
                deadline_ms = Some(self.producer_id_retry_ms);
            }
        }
        if self.config.idempotent && self.producer_id < 0 {
            self.deadline_ms = deadline_ms;
            self.note_failures(&actions, 0);
            return actions;
        }
        let txn = self.txn.as_ref();
        let drained = self.accumulator.drain(
            now_ms,
            flush,
            |tp| metadata.leader_for(&tp.topic, tp.partition),
            |tp| may_send(tp) && txn.is_none_or(|t| t.may_send(tp)),
        );
        deadline_ms = earliest(deadline_ms, drained.next_ready_ms);
        if !drained.unknown_leader.is_empty() {
            if now_ms >= self.metadata_retry_ms {
                let topics: BTreeSet<String> = drained.unknown_leader.into_iter().map(|tp| tp.topic).collect();
                actions.push(Action::RefreshMetadata { topics: topics.into_iter().collect() });
                // At least 1 ms: the driver refreshes in the background, so a zero backoff must not spin.
                self.metadata_retry_ms = now_ms + self.config.retry_backoff_ms.max(1);
            }
            deadline_ms = earliest(deadline_ms, Some(self.metadata_retry_ms));
        }
        let mut by_leader: BTreeMap<i32, Vec<ProducerBatch>> = BTreeMap::new();
        for batch in drained.batches {
            match metadata.leader_for(&batch.tp.topic, batch.tp.partition) {
                Some(leader) => by_leader.entry(leader).or_default().push(batch),
                // Drained because the same snapshot knew the leader; keep the invariant without a panic.
                None => self.accumulator.reenqueue(batch, now_ms),
            }
        }
        for (leader, batches) in by_leader {
            // One request stays under max.request.size (a single batch may reach it on its own).
            let mut request = Vec::new();
            let mut size = 0;
            for batch in batches {
                if !request.is_empty() && size + batch.reserved_bytes > self.config.max_request_size {
                    self.produce(leader, std::mem::take(&mut request), &mut actions);
                    size = 0;
                }
                size += batch.reserved_bytes;
                request.push(batch);
            }
            self.produce(leader, request, &mut actions);
        }
        self.deadline_ms = deadline_ms;
        self.note_failures(&actions, 0);
        actions
    }

    /// Takes in the outcome of request `id`: `Err` when it could not be sent or got no answer in time.
    /// Returns completions, metadata refreshes and finished transactional calls; never a request (those leave
    /// from `poll`).
    pub fn on_response(&mut self, id: RequestId, now_ms: u64, result: Result<Response, ClientError>) -> Vec<Action> {
        let mut actions = Vec::new();
        match self.in_flight.remove(&id) {
            None => {}
            Some(InFlight::ProducerId) => self.on_producer_id(now_ms, result, &mut actions),
            Some(InFlight::Produce(batches)) => self.on_produce(now_ms, batches, result, &mut actions),
            Some(InFlight::Transaction(step)) => {
                if let Some(txn) = self.txn.as_mut() {
                    if let Some((producer_id, producer_epoch)) = txn.on_response(step, now_ms, result) {
                        self.set_producer_id(producer_id, producer_epoch);
                    }
                }
            }
        }
        self.note_failures(&actions, 0);
        if let Some(txn) = self.txn.as_mut() {
            txn.take_finished(&mut actions);
        }
        actions
    }

    fn send(&mut self, node: Option<i32>, in_flight: InFlight, request: Request) -> Action {
        let id = self.next_request_id;
        self.next_request_id += 1;
        self.in_flight.insert(id, in_flight);
        Action::Send { id, node, request }
    }

    /// Encodes the batches (at most one per partition) into one Produce request for `leader`.
    fn produce(&mut self, leader: i32, batches: Vec<ProducerBatch>, actions: &mut Vec<Action>) {
        let producer_id = if self.config.idempotent { self.producer_id } else { -1 };
        let transactional = self.config.transactional_id.is_some();
        let mut topics: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
        let mut sendable = Vec::with_capacity(batches.len());
        for mut batch in batches {
            match batch.encode(producer_id, self.producer_epoch, transactional) {
                Ok(bytes) => {
                    topics
                        .entry(batch.tp.topic.clone())
                        .or_default()
                        .push(PartitionProduceData::default().with_index(batch.tp.partition).with_records(Some(bytes)));
                    sendable.push(batch);
                }
                Err(e) => {
                    let error = ClientError::Serialization(format!("encoding a batch for {}: {e}", batch.tp));
                    self.accumulator.done(&batch.tp, batch.base_sequence);
                    actions.push(Action::Complete { batch, result: Err(error) });
                }
            }
        }
        if sendable.is_empty() {
            return;
        }
        let topic_data = topics
            .into_iter()
            .map(|(t, partitions)| {
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(t)))
                    .with_partition_data(partitions)
            })
            .collect();
        let transactional_id =
            self.config.transactional_id.as_ref().map(|t| TransactionalId(StrBytes::from_string(t.clone())));
        let request = ProduceRequest::default()
            .with_transactional_id(transactional_id)
            .with_acks(self.config.acks)
            .with_timeout_ms(self.config.request_timeout_ms)
            .with_topic_data(topic_data);
        actions.push(self.send(Some(leader), InFlight::Produce(sendable), Request::Produce(request)));
    }

    fn on_producer_id(&mut self, now_ms: u64, result: Result<Response, ClientError>, actions: &mut Vec<Action>) {
        self.producer_id_requested = false;
        let outcome = result.and_then(|response| match response {
            Response::InitProducerId(r) => {
                ClientError::check(r.error_code).map(|()| (r.producer_id.0, r.producer_epoch))
            }
            other => Err(unexpected("InitProducerId", &other)),
        });
        match outcome {
            Ok((producer_id, producer_epoch)) => self.set_producer_id(producer_id, producer_epoch),
            Err(e) if e.is_retriable() => self.producer_id_retry_ms = now_ms + self.config.retry_backoff_ms,
            Err(e) => {
                for batch in self.accumulator.take_all() {
                    actions.push(Action::Complete { batch, result: Err(e.clone()) });
                }
            }
        }
    }

    fn on_produce(
        &mut self,
        now_ms: u64,
        batches: Vec<ProducerBatch>,
        result: Result<Response, ClientError>,
        actions: &mut Vec<Action>,
    ) {
        let mut refresh = BTreeSet::new();
        let response = match result {
            Ok(Response::Produce(response)) if self.config.acks != 0 => response,
            Ok(Response::Written) if self.config.acks == 0 => {
                for batch in batches {
                    self.finish_ok(batch, Delivered { base_offset: -1, log_append_time_ms: -1 }, actions);
                }
                return;
            }
            other => {
                let e = match other {
                    Ok(r) => unexpected("Produce", &r),
                    Err(e) => e,
                };
                for batch in batches {
                    self.on_failure(batch, e.clone(), now_ms, &mut refresh, actions);
                }
                push_refresh(refresh, actions);
                return;
            }
        };
        for batch in batches {
            let answer = response
                .responses
                .iter()
                .filter(|t| t.name.0.as_str() == batch.tp.topic)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == batch.tp.partition);
            match answer {
                None => {
                    let e = ClientError::Protocol(format!("no Produce result for {}", batch.tp));
                    self.on_failure(batch, e, now_ms, &mut refresh, actions)
                }
                Some(p) if p.error_code == 0 => {
                    let delivered = Delivered { base_offset: p.base_offset, log_append_time_ms: p.log_append_time_ms };
                    self.finish_ok(batch, delivered, actions)
                }
                // DUPLICATE_SEQUENCE_NUMBER: the broker already has this batch; it was written once.
                Some(p) if p.error_code == 46 => {
                    self.finish_ok(batch, Delivered { base_offset: -1, log_append_time_ms: -1 }, actions)
                }
                Some(p) => {
                    let message = p.error_message.as_ref().map(|m| m.to_string()).or_else(|| {
                        p.record_errors
                            .first()
                            .and_then(|r| r.batch_index_error_message.as_ref())
                            .map(|m| m.to_string())
                    });
                    let e = ClientError::from_code(p.error_code, message);
                    self.on_failure(batch, e, now_ms, &mut refresh, actions)
                }
            }
        }
        push_refresh(refresh, actions);
    }

    fn finish_ok(&mut self, batch: ProducerBatch, delivered: Delivered, actions: &mut Vec<Action>) {
        self.accumulator.done(&batch.tp, batch.base_sequence);
        actions.push(Action::Complete { batch, result: Ok(delivered) });
    }

    /// A batch came back failed: retry it when the error is retriable and time and retries are left, else fail
    /// it. Topics whose leader may have moved go into `refresh`.
    ///
    /// OUT_OF_ORDER_SEQUENCE_NUMBER is retried in three cases. Behind an earlier batch of the partition still
    /// in flight or waiting for its retry, it only means that batch has not landed yet. For a batch numbered
    /// under a producer id given up since, the batch is numbered again. And for the partition's earliest
    /// unresolved batch of an idempotent producer, the broker has a later batch first — a leader taking over
    /// between two requests refuses the first (NOT_LEADER_OR_FOLLOWER) and takes the second as the producer's
    /// first write (Kafka accepts any first sequence, KIP-360), so the first could never follow: the producer
    /// takes a new producer id and renumbers its batches, as Kafka's producer bumps its epoch, unless the batch
    /// may already have been written.
    fn on_failure(
        &mut self,
        mut batch: ProducerBatch,
        error: ClientError,
        now_ms: u64,
        refresh: &mut BTreeSet<String>,
        actions: &mut Vec<Action>,
    ) {
        // No answer, REQUEST_TIMED_OUT or NOT_ENOUGH_REPLICAS_AFTER_APPEND: the leader may have appended the batch.
        batch.maybe_written |= matches!(error.code(), None | Some(7) | Some(20));
        let own_producer_id = self.config.idempotent && self.config.transactional_id.is_none();
        let out_of_order = error.code() == Some(45);
        let behind = self.accumulator.has_earlier_unresolved(&batch.tp, batch.base_sequence);
        let stale = !self.accumulator.is_current(&batch);
        let gap = out_of_order && !behind && !stale && !batch.maybe_written && own_producer_id;
        let retriable = error.is_retriable() || (out_of_order && (behind || stale)) || gap;
        if retriable && batch.attempts < self.config.retries && self.accumulator.within_delivery_timeout(&batch, now_ms)
        {
            if gap {
                self.forget_producer_id();
            }
            if error.needs_metadata_refresh() {
                refresh.insert(batch.tp.topic.clone());
            }
            self.accumulator.reenqueue(batch, now_ms);
            return;
        }
        self.accumulator.done(&batch.tp, batch.base_sequence);
        if own_producer_id && batch.base_sequence >= 0 {
            // The partition's sequence now has a gap the broker will refuse: start over with a new producer id,
            // as Kafka's producer bumps its epoch.
            self.forget_producer_id();
        }
        actions.push(Action::Complete { batch, result: Err(error) });
    }

    fn forget_producer_id(&mut self) {
        self.set_producer_id(-1, -1);
    }
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn push_refresh(topics: BTreeSet<String>, actions: &mut Vec<Action>) {
    if !topics.is_empty() {
        actions.push(Action::RefreshMetadata { topics: topics.into_iter().collect() });
    }
}

fn unexpected(request: &str, response: &Response) -> ClientError {
    ClientError::Protocol(format!("unexpected answer to {request}: {response:?}"))
}

#[cfg(test)]
mod tests;
