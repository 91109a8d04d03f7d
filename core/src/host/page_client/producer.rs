//! The in-page producer: Kafka's producer over the sans-IO [`Sender`], driven synchronously against a broker
//! in memory. `send` picks the partition with Kafka's default partitioner (murmur2 for keys, sticky for
//! keyless records) and appends to the sender's accumulator; each [`PageProducer::step`] reads the answers that
//! came, polls the sender and sends what it asks as frames on the producer's connection.
//!
//! The page cannot block, so where Kafka's `send` waits (`max.block.ms` for metadata, `buffer.memory` for room)
//! this producer queues the record in the shared sans-IO [`AwaitingMetadata`] queue (as the native `try_send`
//! does) until the topic's metadata is known (failing it after `delivery.timeout.ms`, its lookups backing off
//! while they fail) and refuses a record that does not fit `buffer.memory` at once (`BUFFER_FULL`), as
//! librdkafka's `produce()` does.
//!
//! Transactions (`transactional.id`): the sender's sans-IO transaction manager decides everything (the
//! coordinator lookup, InitProducerId with the transactional id, AddPartitionsToTxn before a partition's
//! batches, AddOffsetsToTxn and TxnOffsetCommit, EndTxn once the batches are acknowledged, retries, abortable
//! and fatal errors); this driver sends its requests on the producer's link like the others and hands each
//! transactional call's outcome ([`Action::Transaction`]) to the ticket that started it. Calls time out after
//! `max.block.ms`, as Kafka's.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use std::collections::BTreeMap;

use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FindCoordinatorRequest, InitProducerIdRequest,
    MetadataRequest, ProduceRequest, TxnOffsetCommitRequest,
};

use super::link::{decode, Link};
use super::Ticket;
use crate::client::config::{ClientKind, CommonConfig, Properties};
use crate::client::metadata::Metadata;
use crate::client::partitioner::{self, Appended, DefaultPartitioner, DefaultPartitionerConfig, Partitioner};
use crate::client::producer::accumulator::{Accumulator, Thunk};
use crate::client::producer::awaiting::AwaitingMetadata;
use crate::client::producer::config::ProducerConfig;
use crate::client::producer::sender::{txn_offset_commit_for_version, Action, Request, Response, Sender};
use crate::client::producer::transaction::{ConsumerGroupMetadata, TxnCall};
use crate::client::producer::{ProducerRecord, RecordMetadata};
use crate::client::{find_coordinator_for_version, ClientError, OffsetAndMetadata, TopicPartition};
use crate::host::memory::{MemoryBroker, RequestId};
use crate::host::HostError;
use crate::record::Header;

/// What a request on the producer's link was.
#[derive(Debug)]
pub(super) enum Tag {
    Metadata,
    Sender(crate::client::producer::sender::RequestId, SenderRequest),
}

#[derive(Debug, Clone, Copy)]
pub(super) enum SenderRequest {
    InitProducerId,
    Produce,
    /// acks=0: the broker sends nothing back.
    ProduceOneway,
    FindCoordinator,
    AddPartitionsToTxn,
    AddOffsetsToTxn,
    TxnOffsetCommit,
    EndTxn,
}

/// Record outcomes the sender's completions deliver, collected for the page (the accumulator's completion
/// callbacks must be `Send`).
type Deliveries = Arc<Mutex<Vec<Delivery>>>;
type Delivery = (Ticket, Result<RecordMetadata, ClientError>);

pub(super) struct PageProducer {
    pub link: Link<Tag>,
    config: ProducerConfig,
    common: CommonConfig,
    sender: Sender,
    partitioner: DefaultPartitioner,
    metadata: Metadata,
    metadata_in_flight: bool,
    metadata_retry_ms: i64,
    /// Topics the sender asked to refresh.
    refresh_wanted: BTreeSet<String>,
    /// Records of topics whose metadata is not known yet, in send order per topic.
    awaiting: AwaitingMetadata,
    deliveries: Deliveries,
    memory_used: usize,
    /// Flushes asked for and not done yet: while any waits, every batch is ready regardless of `linger.ms`.
    flushes: Vec<Ticket>,
    /// Transactional calls under way, with the ticket each completes (one call at a time, as the manager allows).
    txn_calls: Vec<(TxnCall, Ticket)>,
    /// Transactional calls finished.
    txn_done: Vec<(Ticket, Result<(), ClientError>)>,
    pub closing: bool,
}

impl std::fmt::Debug for PageProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageProducer").field("client_id", &self.common.client_id).finish_non_exhaustive()
    }
}

/// Parses a producer's config (Kafka's keys); `bootstrap.servers` may be left out in the page.
pub(super) fn producer_config(
    config: &[(String, String)],
    default_client_id: String,
) -> Result<(ProducerConfig, CommonConfig), HostError> {
    let props = Properties::parse(ClientKind::Producer, &with_bootstrap(config))?;
    let producer = ProducerConfig::from_properties(&props)?;
    let common = CommonConfig::from_properties(&props, default_client_id)?;
    Ok((producer, common))
}

/// The config with a `bootstrap.servers` the parser accepts when the page gave none: the page's clients reach
/// the one broker in memory, whatever its address.
pub(super) fn with_bootstrap(config: &[(String, String)]) -> Vec<(String, String)> {
    let mut config = config.to_vec();
    if !config.iter().any(|(k, _)| k == "bootstrap.servers") {
        config.push(("bootstrap.servers".into(), "in-memory:9092".into()));
    }
    config
}

impl PageProducer {
    pub fn new(link: Link<Tag>, config: ProducerConfig, common: CommonConfig, seed: u64) -> PageProducer {
        let mut sender = Sender::new(config.sender_config(&common));
        if config.transactional_id.is_some() {
            sender.set_transaction_timeout_ms(config.transaction_timeout_ms);
        }
        let partitioner = DefaultPartitioner::new(DefaultPartitionerConfig {
            batch_size: config.batch_size,
            ignore_keys: config.ignore_keys,
            seed,
        });
        let awaiting =
            AwaitingMetadata::new(common.retry_backoff.as_millis() as u64, common.retry_backoff_max.as_millis() as u64);
        PageProducer {
            link,
            config,
            common,
            sender,
            partitioner,
            metadata: Metadata::default(),
            metadata_in_flight: false,
            metadata_retry_ms: 0,
            refresh_wanted: BTreeSet::new(),
            awaiting,
            deliveries: Arc::default(),
            memory_used: 0,
            flushes: Vec::new(),
            txn_calls: Vec::new(),
            txn_done: Vec::new(),
            closing: false,
        }
    }

    pub fn client_id(&self) -> &str {
        &self.common.client_id
    }

    /// The producer id and epoch in use ((-1, -1) before an idempotent producer got one).
    pub fn producer_id(&self) -> (i64, i16) {
        self.sender.producer_id()
    }

    /// Queues a record; its outcome comes as [`super::Outcome::Delivered`] for `ticket`.
    pub fn send(&mut self, ticket: Ticket, record: ProducerRecord, now_ms: i64) -> Result<(), ClientError> {
        if self.closing {
            return Err(ClientError::IllegalState("cannot send after the producer is closed".into()));
        }
        if record.topic.is_empty() {
            return Err(ClientError::InvalidArgument("topic must not be empty".into()));
        }
        self.sender.check_can_send()?;
        let headers = headers_of(&record);
        let size = Accumulator::record_size_upper_bound(record.key.as_deref(), record.value.as_deref(), &headers);
        if size > self.config.max_request_size {
            return Err(ClientError::from_code(
                10,
                Some(format!(
                    "the message is {size} bytes when serialized which is larger than {}, which is the value of the max.request.size configuration",
                    self.config.max_request_size
                )),
            ));
        }
        if self.memory_used + size > self.config.buffer_memory {
            return Err(ClientError::BufferFull(format!(
                "{size} bytes do not fit: {} of buffer.memory={} are in use",
                self.memory_used, self.config.buffer_memory
            )));
        }
        self.memory_used += size;
        let known = self.metadata.topics.get(&record.topic).is_some_and(|t| !t.partitions.is_empty());
        let thunk = self.thunk(ticket);
        if known && !self.awaiting.has(&record.topic) {
            self.place(thunk, record, size, now_ms);
        } else {
            self.awaiting.push(record, thunk, size, clock(now_ms));
        }
        Ok(())
    }

    /// What completes the record of `ticket`: its outcome goes to the page's deliveries.
    fn thunk(&self, ticket: Ticket) -> Thunk {
        let deliveries = self.deliveries.clone();
        Thunk::Callback(Box::new(move |result| {
            deliveries.lock().unwrap_or_else(PoisonError::into_inner).push((ticket, result));
        }))
    }

    /// Chooses the record's partition and appends it to the accumulator; a partition that does not exist fails
    /// the record.
    fn place(&mut self, thunk: Thunk, record: ProducerRecord, reserved_bytes: usize, now_ms: i64) {
        let partition = match self.choose_partition(&record) {
            Ok(p) => p,
            Err(e) => {
                self.memory_used = self.memory_used.saturating_sub(reserved_bytes);
                thunk.complete(Err(e));
                return;
            }
        };
        let headers = headers_of(&record);
        let timestamp = record.timestamp.unwrap_or(now_ms);
        let tp = TopicPartition::new(record.topic.clone(), partition);
        let appended = self.sender.accumulator_mut().append(
            &tp,
            timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &headers,
            reserved_bytes,
            thunk,
            clock(now_ms),
        );
        if record.partition.is_none() {
            self.partitioner.on_append(&Appended {
                topic: &tp.topic,
                partition,
                key_present: record.key.is_some(),
                appended_bytes: appended.appended_bytes,
                all_batches_full: appended.all_batches_full,
            });
        }
    }

    fn choose_partition(&self, record: &ProducerRecord) -> Result<i32, ClientError> {
        let topic =
            self.metadata.topics.get(&record.topic).ok_or_else(|| {
                ClientError::from_code(3, Some(format!("topic {} is not in the metadata", record.topic)))
            })?;
        partitioner::choose_partition(&self.partitioner, record, topic)
    }

    /// Asks for every batch to be sent now; the ticket completes once every record sent before is complete.
    pub fn flush(&mut self, ticket: Ticket) {
        self.flushes.push(ticket);
    }

    fn max_block_ms(&self) -> u64 {
        self.config.max_block.as_millis().min(u64::MAX as u128) as u64
    }

    /// Starts a transactional call whose outcome completes `ticket`.
    fn txn_call(
        &mut self,
        ticket: Ticket,
        call: TxnCall,
        now_ms: i64,
        start: impl FnOnce(&mut Sender, u64, u64) -> Result<(), ClientError>,
    ) -> Result<(), ClientError> {
        let timeout_ms = self.max_block_ms();
        start(&mut self.sender, clock(now_ms), timeout_ms)?;
        self.txn_calls.push((call, ticket));
        Ok(())
    }

    /// `initTransactions`: the producer id and epoch of the `transactional.id` (fencing older producers).
    pub fn init_transactions(&mut self, ticket: Ticket, now_ms: i64) -> Result<(), ClientError> {
        self.txn_call(ticket, TxnCall::InitTransactions, now_ms, |s, now, t| s.init_transactions(now, t))
    }

    pub fn begin_transaction(&mut self) -> Result<(), ClientError> {
        self.sender.begin_transaction()
    }

    /// Commits a consumer group's offsets as part of the transaction.
    pub fn send_offsets_to_transaction(
        &mut self,
        ticket: Ticket,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        group: ConsumerGroupMetadata,
        now_ms: i64,
    ) -> Result<(), ClientError> {
        self.txn_call(ticket, TxnCall::SendOffsetsToTransaction, now_ms, |s, now, t| {
            s.send_offsets_to_transaction(offsets, group, now, t)
        })
    }

    /// Commits (`commit`) or aborts the transaction.
    pub fn end_transaction(&mut self, ticket: Ticket, commit: bool, now_ms: i64) -> Result<(), ClientError> {
        if commit {
            self.txn_call(ticket, TxnCall::CommitTransaction, now_ms, |s, now, t| s.commit_transaction(now, t))
        } else {
            self.txn_call(ticket, TxnCall::AbortTransaction, now_ms, |s, now, t| s.abort_transaction(now, t))
        }
    }

    /// The transactional calls finished since the last call.
    pub fn take_txn_outcomes(&mut self) -> Vec<(Ticket, Result<(), ClientError>)> {
        std::mem::take(&mut self.txn_done)
    }

    /// Records and batches not complete yet.
    pub fn incomplete(&self) -> usize {
        self.sender.incomplete_batches() + self.awaiting.len()
    }

    /// Takes in an answer to a request of this producer's link.
    pub fn on_answer(&mut self, id: RequestId, frame: Result<Option<Vec<u8>>, HostError>, now_ms: i64) {
        let Some(sent) = self.link.answered(id) else { return };
        match sent.tag {
            Tag::Metadata => {
                self.metadata_in_flight = false;
                match decode::<MetadataRequest>(frame, sent.version) {
                    Ok(response) => {
                        self.metadata.apply(&response, false);
                        self.awaiting.lookup_done(clock(now_ms), Ok(()));
                        self.place_waiting(now_ms);
                    }
                    Err(e) => {
                        self.awaiting.lookup_done(clock(now_ms), Err(e));
                        self.metadata_retry_ms = now_ms + self.common.retry_backoff.as_millis() as i64;
                    }
                }
            }
            Tag::Sender(sender_id, kind) => {
                let response = match kind {
                    SenderRequest::InitProducerId => {
                        decode::<InitProducerIdRequest>(frame, sent.version).map(Response::InitProducerId)
                    }
                    SenderRequest::Produce => decode::<ProduceRequest>(frame, sent.version).map(Response::Produce),
                    SenderRequest::ProduceOneway => match frame {
                        Ok(_) => Ok(Response::Written),
                        Err(e) => Err(super::link::host_to_client(e)),
                    },
                    SenderRequest::FindCoordinator => {
                        decode::<FindCoordinatorRequest>(frame, sent.version).map(Response::FindCoordinator)
                    }
                    SenderRequest::AddPartitionsToTxn => {
                        decode::<AddPartitionsToTxnRequest>(frame, sent.version).map(Response::AddPartitionsToTxn)
                    }
                    SenderRequest::AddOffsetsToTxn => {
                        decode::<AddOffsetsToTxnRequest>(frame, sent.version).map(Response::AddOffsetsToTxn)
                    }
                    SenderRequest::TxnOffsetCommit => {
                        decode::<TxnOffsetCommitRequest>(frame, sent.version).map(Response::TxnOffsetCommit)
                    }
                    SenderRequest::EndTxn => decode::<EndTxnRequest>(frame, sent.version).map(Response::EndTxn),
                };
                let actions = self.sender.on_response(sender_id, clock(now_ms), response);
                self.perform(actions, now_ms);
            }
        }
    }

    /// Moves waiting records whose topic is now known into the accumulator, and fails the ones of topics the
    /// broker refuses for good.
    fn place_waiting(&mut self, now_ms: i64) {
        for topic in self.awaiting.topics() {
            let known = self.metadata.topics.get(&topic).is_some_and(|t| !t.partitions.is_empty());
            if known {
                for w in self.awaiting.take(&topic) {
                    self.place(w.thunk, w.record, w.reserved_bytes, now_ms);
                }
                continue;
            }
            let Some(&code) = self.metadata.topic_errors.get(&topic) else { continue };
            let error = ClientError::from_code(code, None);
            if !error.is_retriable() {
                for w in self.awaiting.take(&topic) {
                    self.memory_used = self.memory_used.saturating_sub(w.reserved_bytes);
                    w.thunk.complete(Err(error.clone()));
                }
            }
        }
    }

    /// Everything due at `now_ms`: waiting records' metadata and expiry, the sender's poll and its requests.
    pub fn step(&mut self, broker: &mut MemoryBroker, now_ms: i64) {
        self.expire_waiting(now_ms);
        if !self.awaiting.is_empty() && self.awaiting.lookup_due(clock(now_ms)) {
            let topics = self.awaiting.topics();
            self.refresh(broker, topics, now_ms);
        }
        let flush = self.closing || !self.flushes.is_empty();
        let metadata = std::mem::take(&mut self.metadata);
        let actions = self.sender.poll(clock(now_ms), &metadata, flush, |_| true);
        self.metadata = metadata;
        let mut requests = Vec::new();
        for action in actions {
            match action {
                Action::Send { id, request, .. } => requests.push((id, request)),
                other => self.perform(vec![other], now_ms),
            }
        }
        // Requests leave in the order the sender gave them: a partition's batches reach the broker in sequence.
        for (id, request) in requests {
            self.send_request(broker, id, request, now_ms);
        }
        self.pending_refreshes(broker, now_ms);
    }

    fn send_request(
        &mut self,
        broker: &mut MemoryBroker,
        id: crate::client::producer::sender::RequestId,
        request: Request,
        now_ms: i64,
    ) {
        let sent = match request {
            Request::InitProducerId(r) => {
                self.link.send(broker, now_ms, Tag::Sender(id, SenderRequest::InitProducerId), |_| r)
            }
            Request::Produce(r) => {
                let kind = if r.acks == 0 { SenderRequest::ProduceOneway } else { SenderRequest::Produce };
                self.link.send(broker, now_ms, Tag::Sender(id, kind), |_| r)
            }
            // The transactional requests, with the fields of the version they go at (`Request::for_version`).
            Request::FindCoordinator(r) => {
                self.link.send(broker, now_ms, Tag::Sender(id, SenderRequest::FindCoordinator), |v| {
                    find_coordinator_for_version(r, v)
                })
            }
            Request::AddPartitionsToTxn(r) => {
                self.link.send(broker, now_ms, Tag::Sender(id, SenderRequest::AddPartitionsToTxn), |_| r)
            }
            Request::AddOffsetsToTxn(r) => {
                self.link.send(broker, now_ms, Tag::Sender(id, SenderRequest::AddOffsetsToTxn), |_| r)
            }
            Request::TxnOffsetCommit(r) => {
                self.link.send(broker, now_ms, Tag::Sender(id, SenderRequest::TxnOffsetCommit), |v| {
                    txn_offset_commit_for_version(r, v)
                })
            }
            Request::EndTxn(r) => self.link.send(broker, now_ms, Tag::Sender(id, SenderRequest::EndTxn), |_| r),
        };
        if let Err(e) = sent {
            let actions = self.sender.on_response(id, clock(now_ms), Err(e));
            self.perform(actions, now_ms);
        }
    }

    fn perform(&mut self, actions: Vec<Action>, now_ms: i64) {
        for action in actions {
            match action {
                Action::Complete { batch, result } => {
                    self.memory_used = self.memory_used.saturating_sub(batch.reserved_bytes);
                    match result {
                        Ok(delivered) => batch.complete(delivered.base_offset, delivered.log_append_time_ms),
                        Err(e) => batch.fail(&e),
                    }
                }
                Action::RefreshMetadata { topics } => self.refresh_wanted.extend(topics),
                // Requests come only from poll, which `step` sends in order.
                Action::Send { .. } => {}
                Action::Transaction { call, result } => {
                    if let Some(i) = self.txn_calls.iter().position(|(c, _)| *c == call) {
                        let (_, ticket) = self.txn_calls.remove(i);
                        self.txn_done.push((ticket, result));
                    }
                }
            }
        }
        let _ = now_ms;
    }

    fn pending_refreshes(&mut self, broker: &mut MemoryBroker, now_ms: i64) {
        if !self.refresh_wanted.is_empty() {
            let topics: Vec<String> = std::mem::take(&mut self.refresh_wanted).into_iter().collect();
            self.refresh(broker, topics, now_ms);
        }
    }

    fn refresh(&mut self, broker: &mut MemoryBroker, topics: Vec<String>, now_ms: i64) {
        if self.metadata_in_flight || now_ms < self.metadata_retry_ms {
            return;
        }
        self.metadata_in_flight = true;
        // Auto-creation as Kafka's producer asks for it: a topic it sends to may be created by the broker.
        let sent = self.link.send(broker, now_ms, Tag::Metadata, |_| Metadata::request(Some(&topics), true));
        if sent.is_err() {
            self.metadata_in_flight = false;
            self.metadata_retry_ms = now_ms + self.common.retry_backoff.as_millis() as i64;
        } else {
            self.metadata_retry_ms = now_ms + self.common.retry_backoff.as_millis().max(1) as i64;
        }
    }

    fn expire_waiting(&mut self, now_ms: i64) {
        let timeout_ms = self.config.delivery_timeout.as_millis() as u64;
        for w in self.awaiting.expire(clock(now_ms), timeout_ms) {
            self.memory_used = self.memory_used.saturating_sub(w.reserved_bytes);
            let error = self.awaiting.expiry_error(&w.record.topic, timeout_ms);
            w.thunk.complete(Err(error));
        }
    }

    /// The record outcomes decided since the last call, and the flushes that are done.
    pub fn take_outcomes(&mut self) -> (Vec<Delivery>, Vec<Ticket>) {
        let delivered = std::mem::take(&mut *self.deliveries.lock().unwrap_or_else(PoisonError::into_inner));
        let flushed = if self.incomplete() == 0 { std::mem::take(&mut self.flushes) } else { Vec::new() };
        (delivered, flushed)
    }

    /// When the producer wants to be stepped again at the latest (a linger or backoff ends).
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let mut next = self.sender.next_deadline_ms().map(|ms| ms as i64);
        if !self.awaiting.is_empty() && !self.metadata_in_flight {
            let retry = self.metadata_retry_ms.max(self.awaiting.next_lookup_ms().min(i64::MAX as u64) as i64);
            next = Some(next.map_or(retry, |n| n.min(retry)));
        }
        next
    }

    /// Fails everything still queued (a close that gave up waiting, or a stopped broker).
    pub fn abort(&mut self, error: &ClientError) {
        for w in self.awaiting.take_all() {
            w.thunk.complete(Err(error.clone()));
        }
        for batch in self.sender.accumulator_mut().take_all() {
            batch.fail(error);
        }
        for (_, ticket) in std::mem::take(&mut self.txn_calls) {
            self.txn_done.push((ticket, Err(error.clone())));
        }
        self.memory_used = 0;
    }
}

fn headers_of(record: &ProducerRecord) -> Vec<Header> {
    record.headers.iter().map(|(k, v)| Header { key: k.clone(), value: v.clone() }).collect()
}

/// The sender's millisecond clock: the page's wall-clock time (never negative in practice).
fn clock(now_ms: i64) -> u64 {
    now_ms.max(0) as u64
}
