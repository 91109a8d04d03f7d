//! potok's own clients in a web page: producers, consumers and admins that run the client's sans-IO state
//! machines (the producer's [`Sender`](crate::client::producer::sender::Sender), the consumer's
//! [`Fetcher`](crate::client::consumer::fetcher::Fetcher)) against a [`MemoryBroker`] in the same page, with
//! no IO and no clock: a synchronous driver the page's event loop calls.
//!
//! Everything goes through the real protocol: each client has its own connection(s) to the broker, opened with
//! ApiVersions; a machine's request is encoded into a Kafka request frame by the client's encoder at the
//! negotiated version, submitted to the broker, and its answer frame decoded and fed back (also one parked in
//! the broker's purgatory — a long-polling Fetch — that is answered by a later [`Page::poll`]). Metadata
//! refreshes travel the same way. The broker cannot tell these clients from clients on a socket.
//!
//! A host (bindings-wasm) calls [`Page`] methods from JS calls and from its timer: each call that may have
//! changed something runs the clients until nothing more happens now, and the host then takes the
//! [`Outcome`]s of the operations it started (each named by a [`Ticket`]) and the raw answers of frames it
//! submitted itself, and arms its timer for [`Page::next_deadline_ms`].
//!
//! Invariants: every ticket gets exactly one outcome; answers are routed by connection, so a client only sees
//! answers to its own requests and the host only its own frames; nothing here reads a clock.

mod admin;
mod consumer;
mod link;
mod producer;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use self::admin::PageAdmin;
pub use self::admin::{offsets_json, AdminCall};
use self::consumer::PageConsumer;
pub use self::consumer::RebalanceEvent;
use self::link::Link;
use self::producer::PageProducer;
use super::memory::{Answer, ConnectionId, MemoryBroker};
use super::HostError;
use crate::broker::BrokerConfig;
use crate::client::consumer::ConsumerRecord;
pub use crate::client::producer::transaction::ConsumerGroupMetadata;
use crate::client::producer::{ProducerRecord, RecordMetadata};
use crate::client::{ClientError, OffsetAndMetadata, OffsetSpec, TopicPartition};

/// Names a producer, consumer or admin of a [`Page`].
pub type ClientHandle = u64;
/// Names one operation a host started (a send, a flush, a poll, a commit, an admin call).
pub type Ticket = u64;

/// What became of an operation.
#[derive(Debug)]
pub enum Outcome {
    /// A sent record was written (or failed).
    Delivered(Result<RecordMetadata, ClientError>),
    /// A flush or close finished.
    Done(Result<(), ClientError>),
    /// A consumer's poll.
    Records(Result<Vec<ConsumerRecord>, ClientError>),
    /// A consumer's position.
    Position(Result<i64, ClientError>),
    /// Offsets committed, or the committed offsets looked up.
    Committed(Result<BTreeMap<TopicPartition, OffsetAndMetadata>, ClientError>),
    /// An admin call's result as plain data.
    Admin(Result<Value, ClientError>),
}

/// The most rounds one [`Page::run`] makes: every round either handles answers or sends requests, and a round
/// that does neither ends the run, so this only guards against a bug that would loop forever.
const ROUNDS_MAX: usize = 10_000;

/// A broker in memory and the clients in the page that talk to it.
#[derive(Debug)]
pub struct Page {
    broker: MemoryBroker,
    /// Which client owns each open client connection.
    owners: HashMap<ConnectionId, ClientHandle>,
    /// Every connection a client ever opened: answers on a closed one are dropped with their client, answers
    /// on any other connection are the host's.
    client_connections: HashSet<ConnectionId>,
    /// Answers taken from the broker and not routed yet.
    unrouted: Vec<Answer>,
    producers: BTreeMap<ClientHandle, PageProducer>,
    consumers: BTreeMap<ClientHandle, PageConsumer>,
    admins: BTreeMap<ClientHandle, PageAdmin>,
    /// Answers to frames the host submitted itself.
    host_answers: Vec<Answer>,
    outcomes: Vec<(Ticket, Outcome)>,
    /// Producers closing, with the ticket their close completes.
    closing: Vec<(ClientHandle, Ticket)>,
    next_handle: ClientHandle,
    next_ticket: Ticket,
    seed: u64,
}

impl Page {
    /// Starts the page's broker (see [`MemoryBroker::start`]).
    pub fn start(config: BrokerConfig, seed: u64, now_ms: i64) -> Result<Page, HostError> {
        Ok(Page::with_broker(MemoryBroker::start(config, seed, now_ms)?, seed))
    }

    pub fn with_broker(broker: MemoryBroker, seed: u64) -> Page {
        Page {
            broker,
            owners: HashMap::new(),
            client_connections: HashSet::new(),
            unrouted: Vec::new(),
            producers: BTreeMap::new(),
            consumers: BTreeMap::new(),
            admins: BTreeMap::new(),
            host_answers: Vec::new(),
            outcomes: Vec::new(),
            closing: Vec::new(),
            next_handle: 1,
            next_ticket: 1,
            seed,
        }
    }

    pub fn broker(&self) -> &MemoryBroker {
        &self.broker
    }

    /// The broker, for the host's own frames. Answers to them come from [`Page::take_host_answers`]; call
    /// [`Page::run`] after submitting so clients waiting on the broker move on.
    pub fn broker_mut(&mut self) -> &mut MemoryBroker {
        &mut self.broker
    }

    fn ticket(&mut self) -> Ticket {
        let t = self.next_ticket;
        self.next_ticket += 1;
        t
    }

    fn handle(&mut self) -> ClientHandle {
        let h = self.next_handle;
        self.next_handle += 1;
        h
    }

    /// Opens a client connection owned by `owner` (ApiVersions answered at once).
    fn open_link<T>(&mut self, owner: ClientHandle, client_id: &str, now_ms: i64) -> Result<Link<T>, HostError> {
        // Answers decided before belong to others: keep them routed.
        self.route(now_ms);
        let mut others = Vec::new();
        let link = Link::open(&mut self.broker, client_id, now_ms, |broker, _, id| {
            let mut mine = None;
            for answer in broker.take_answers() {
                if answer.request == id {
                    mine = Some(answer.frame);
                } else {
                    // Not expected (ApiVersions is answered alone), but an answer is never dropped.
                    others.push(answer);
                }
            }
            mine
        });
        self.unrouted.extend(others);
        let link = link?;
        self.client_connections.insert(link.connection);
        self.owners.insert(link.connection, owner);
        Ok(link)
    }

    /// A producer with Kafka's producer config keys (`bootstrap.servers` not needed).
    pub fn producer(&mut self, config: &[(String, String)], now_ms: i64) -> Result<ClientHandle, HostError> {
        let handle = self.handle();
        let (producer_config, common) = producer::producer_config(config, format!("producer-{handle}"))?;
        let link = self.open_link(handle, &common.client_id.clone(), now_ms)?;
        let seed = self.seed ^ handle.rotate_left(29);
        self.producers.insert(handle, PageProducer::new(link, producer_config, common, seed));
        Ok(handle)
    }

    /// A consumer with Kafka's consumer config keys.
    pub fn consumer(&mut self, config: &[(String, String)], now_ms: i64) -> Result<ClientHandle, HostError> {
        let handle = self.handle();
        let consumer_config = consumer::consumer_config(config, format!("consumer-{handle}"))?;
        let client_id = consumer_config.common.client_id.clone();
        let fetch_link = self.open_link(handle, &client_id, now_ms)?;
        let link = self.open_link(handle, &client_id, now_ms)?;
        let group_link =
            if consumer_config.group.is_some() { Some(self.open_link(handle, &client_id, now_ms)?) } else { None };
        self.consumers.insert(handle, PageConsumer::new(fetch_link, link, group_link, consumer_config));
        Ok(handle)
    }

    /// An admin client (config keys: `client.id`).
    pub fn admin(&mut self, config: &[(String, String)], now_ms: i64) -> Result<ClientHandle, HostError> {
        let handle = self.handle();
        let client_id = config
            .iter()
            .find(|(k, _)| k == "client.id")
            .map_or_else(|| format!("adminclient-{handle}"), |(_, v)| v.clone());
        let link = self.open_link(handle, &client_id, now_ms)?;
        self.admins.insert(handle, PageAdmin { link, client_id });
        Ok(handle)
    }

    fn producer_mut(&mut self, handle: ClientHandle) -> Result<&mut PageProducer, ClientError> {
        self.producers.get_mut(&handle).ok_or(ClientError::Closed)
    }

    fn consumer_mut(&mut self, handle: ClientHandle) -> Result<&mut PageConsumer, ClientError> {
        self.consumers.get_mut(&handle).ok_or(ClientError::Closed)
    }

    /// Sends a record; its outcome is [`Outcome::Delivered`] for the returned ticket.
    pub fn send(&mut self, producer: ClientHandle, record: ProducerRecord, now_ms: i64) -> Result<Ticket, ClientError> {
        let ticket = self.ticket();
        self.producer_mut(producer)?.send(ticket, record, now_ms)?;
        Ok(ticket)
    }

    /// Sends every queued batch now; the ticket completes ([`Outcome::Done`]) once every record sent before it
    /// is complete.
    pub fn flush(&mut self, producer: ClientHandle) -> Result<Ticket, ClientError> {
        let ticket = self.ticket();
        self.producer_mut(producer)?.flush(ticket);
        Ok(ticket)
    }

    /// Delivers what is queued, then closes the producer's connection ([`Outcome::Done`] for the ticket).
    pub fn close_producer(&mut self, producer: ClientHandle) -> Result<Ticket, ClientError> {
        let ticket = self.ticket();
        let p = self.producer_mut(producer)?;
        p.closing = true;
        self.closing.push((producer, ticket));
        Ok(ticket)
    }

    /// `initTransactions` of a producer with `transactional.id` ([`Outcome::Done`]).
    pub fn init_transactions(&mut self, producer: ClientHandle, now_ms: i64) -> Result<Ticket, ClientError> {
        let ticket = self.ticket();
        self.producer_mut(producer)?.init_transactions(ticket, now_ms)?;
        Ok(ticket)
    }

    /// `beginTransaction` (completes at once).
    pub fn begin_transaction(&mut self, producer: ClientHandle) -> Result<(), ClientError> {
        self.producer_mut(producer)?.begin_transaction()
    }

    /// Commits `offsets` for a consumer group as part of the transaction ([`Outcome::Done`]).
    pub fn send_offsets_to_transaction(
        &mut self,
        producer: ClientHandle,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        group: ConsumerGroupMetadata,
        now_ms: i64,
    ) -> Result<Ticket, ClientError> {
        let ticket = self.ticket();
        self.producer_mut(producer)?.send_offsets_to_transaction(ticket, offsets, group, now_ms)?;
        Ok(ticket)
    }

    /// Commits (`commit`) or aborts the transaction ([`Outcome::Done`]).
    pub fn end_transaction(
        &mut self,
        producer: ClientHandle,
        commit: bool,
        now_ms: i64,
    ) -> Result<Ticket, ClientError> {
        let ticket = self.ticket();
        self.producer_mut(producer)?.end_transaction(ticket, commit, now_ms)?;
        Ok(ticket)
    }

    /// The producer id and epoch an idempotent producer uses ((-1, -1) before it has one).
    pub fn producer_id(&self, producer: ClientHandle) -> Option<(i64, i16)> {
        self.producers.get(&producer).map(|p| p.producer_id())
    }

    pub fn client_id(&self, client: ClientHandle) -> Option<&str> {
        self.producers
            .get(&client)
            .map(|p| p.client_id())
            .or_else(|| self.consumers.get(&client).map(|c| c.client_id()))
            .or_else(|| self.admins.get(&client).map(|a| a.client_id.as_str()))
    }

    /// Makes `partitions` the consumer's assignment (no group membership).
    pub fn assign(
        &mut self,
        consumer: ClientHandle,
        partitions: &[TopicPartition],
        now_ms: i64,
    ) -> Result<(), ClientError> {
        let c = self.consumers.get_mut(&consumer).ok_or(ClientError::Closed)?;
        c.assign(&mut self.broker, partitions, now_ms);
        Ok(())
    }

    /// Subscribes the consumer to `topics` with group management (`group.id` needed): it joins the group at its
    /// next poll, and its assignment changes are told by [`Page::take_rebalances`].
    pub fn subscribe(&mut self, consumer: ClientHandle, topics: &[String]) -> Result<(), ClientError> {
        self.consumer_mut(consumer)?.subscribe(topics)
    }

    /// Drops the subscription (leaving the group) or the manual assignment.
    pub fn unsubscribe(&mut self, consumer: ClientHandle, now_ms: i64) -> Result<(), ClientError> {
        let c = self.consumers.get_mut(&consumer).ok_or(ClientError::Closed)?;
        c.unsubscribe(&mut self.broker, now_ms);
        Ok(())
    }

    pub fn subscription(&self, consumer: ClientHandle) -> Vec<String> {
        self.consumers.get(&consumer).map(|c| c.subscription()).unwrap_or_default()
    }

    /// The consumer's rebalance events since the last call, oldest first.
    pub fn take_rebalances(&mut self, consumer: ClientHandle) -> Vec<RebalanceEvent> {
        self.consumers.get_mut(&consumer).map(|c| c.take_rebalances()).unwrap_or_default()
    }

    /// A consumer's group id, generation, member id and group instance id (with `group.id`).
    pub fn group_metadata(&self, consumer: ClientHandle) -> Option<ConsumerGroupMetadata> {
        self.consumers.get(&consumer).and_then(|c| c.group_metadata())
    }

    pub fn assignment(&self, consumer: ClientHandle) -> Vec<TopicPartition> {
        self.consumers.get(&consumer).map(|c| c.assignment()).unwrap_or_default()
    }

    pub fn seek(&mut self, consumer: ClientHandle, tp: &TopicPartition, offset: i64) -> Result<(), ClientError> {
        self.consumer_mut(consumer)?.seek(tp, offset)
    }

    /// Seeks to the log start (`Earliest`) or end (`Latest`) of `partitions` (every assigned one when empty).
    pub fn seek_to(
        &mut self,
        consumer: ClientHandle,
        partitions: &[TopicPartition],
        spec: OffsetSpec,
    ) -> Result<(), ClientError> {
        self.consumer_mut(consumer)?.seek_to(partitions, spec)
    }

    pub fn set_paused(
        &mut self,
        consumer: ClientHandle,
        partitions: &[TopicPartition],
        paused: bool,
    ) -> Result<(), ClientError> {
        self.consumer_mut(consumer)?.set_paused(partitions, paused)
    }

    pub fn paused(&self, consumer: ClientHandle) -> Vec<TopicPartition> {
        self.consumers.get(&consumer).map(|c| c.paused()).unwrap_or_default()
    }

    /// The records buffered now (none waits): at most `max` and `max.poll.records`.
    pub fn poll_now(&mut self, consumer: ClientHandle, max: Option<usize>) -> Result<Vec<ConsumerRecord>, ClientError> {
        self.consumer_mut(consumer)?.poll_now(max)
    }

    /// A poll that completes ([`Outcome::Records`]) once records are there, or empty at `deadline_ms`.
    pub fn poll_consumer(
        &mut self,
        consumer: ClientHandle,
        max: Option<usize>,
        deadline_ms: i64,
    ) -> Result<Ticket, ClientError> {
        let ticket = self.ticket();
        self.consumer_mut(consumer)?.poll(ticket, max, deadline_ms)?;
        Ok(ticket)
    }

    /// The consumer's position of `tp` ([`Outcome::Position`]), looked up when not known yet.
    pub fn position(&mut self, consumer: ClientHandle, tp: TopicPartition) -> Result<Ticket, ClientError> {
        let ticket = self.ticket();
        self.consumer_mut(consumer)?.position(ticket, tp)?;
        Ok(ticket)
    }

    /// Commits offsets (or the consumer's positions) for its `group.id` ([`Outcome::Committed`]).
    pub fn commit(
        &mut self,
        consumer: ClientHandle,
        offsets: Option<BTreeMap<TopicPartition, OffsetAndMetadata>>,
        now_ms: i64,
    ) -> Result<Ticket, ClientError> {
        let ticket = self.ticket();
        let c = self.consumers.get_mut(&consumer).ok_or(ClientError::Closed)?;
        c.commit(&mut self.broker, ticket, offsets, now_ms)?;
        Ok(ticket)
    }

    /// The group's committed offsets of `partitions` (every assigned one when empty) ([`Outcome::Committed`]).
    pub fn committed(
        &mut self,
        consumer: ClientHandle,
        partitions: &[TopicPartition],
        now_ms: i64,
    ) -> Result<Ticket, ClientError> {
        let ticket = self.ticket();
        let c = self.consumers.get_mut(&consumer).ok_or(ClientError::Closed)?;
        c.committed(&mut self.broker, ticket, partitions, now_ms)?;
        Ok(ticket)
    }

    /// Closes a consumer: a group member commits what it consumed (with auto-commit on) and leaves its group,
    /// waiting polls fail as closed and its connections close.
    pub fn close_consumer(&mut self, consumer: ClientHandle, now_ms: i64) {
        if let Some(mut c) = self.consumers.remove(&consumer) {
            c.leave(&mut self.broker, "the consumer is being closed", now_ms);
            c.closing = true;
            c.abort(&ClientError::Closed);
            self.outcomes.extend(c.take_outcomes(i64::MIN));
            let group = c.group_link.as_ref().map(|l| l.connection);
            for connection in [Some(c.fetch_link.connection), Some(c.link.connection), group].into_iter().flatten() {
                self.owners.remove(&connection);
                self.broker.close(connection);
            }
        }
    }

    /// Starts an admin call ([`Outcome::Admin`]).
    pub fn admin_call(&mut self, admin: ClientHandle, call: AdminCall, now_ms: i64) -> Result<Ticket, ClientError> {
        let ticket = self.ticket();
        let a = self.admins.get_mut(&admin).ok_or(ClientError::Closed)?;
        a.call(&mut self.broker, ticket, call, now_ms)?;
        Ok(ticket)
    }

    pub fn close_admin(&mut self, admin: ClientHandle) {
        if let Some(a) = self.admins.remove(&admin) {
            self.owners.remove(&a.link.connection);
            self.broker.close(a.link.connection);
        }
    }

    /// The broker's time-driven work and then the clients' (see [`MemoryBroker::poll`]). Returns the time by
    /// which the page wants to be polled again.
    pub fn poll(&mut self, now_ms: i64) -> i64 {
        let broker_next_ms = self.broker.poll(now_ms);
        self.run(now_ms);
        self.next_deadline_ms(broker_next_ms)
    }

    /// Runs the clients until nothing more happens at `now_ms`: answers are read, machines polled, their
    /// requests sent (most are answered at once, which makes another round).
    pub fn run(&mut self, now_ms: i64) {
        for _ in 0..ROUNDS_MAX {
            self.route(now_ms);
            self.step_clients(now_ms);
            if !self.broker.has_answers() && self.unrouted.is_empty() {
                break;
            }
        }
        self.route(now_ms);
        self.collect(now_ms);
    }

    fn step_clients(&mut self, now_ms: i64) {
        for p in self.producers.values_mut() {
            p.step(&mut self.broker, now_ms);
        }
        for c in self.consumers.values_mut() {
            c.step(&mut self.broker, now_ms);
        }
    }

    /// Hands the broker's answers to their clients, or keeps them for the host.
    fn route(&mut self, now_ms: i64) {
        let mut answers = std::mem::take(&mut self.unrouted);
        answers.extend(self.broker.take_answers());
        for answer in answers {
            let Some(&owner) = self.owners.get(&answer.connection) else {
                if !self.client_connections.contains(&answer.connection) {
                    self.host_answers.push(answer);
                }
                continue;
            };
            if let Some(p) = self.producers.get_mut(&owner) {
                p.on_answer(answer.request, answer.frame, now_ms);
            } else if let Some(c) = self.consumers.get_mut(&owner) {
                c.on_answer(&mut self.broker, answer.request, answer.frame, now_ms);
            } else if let Some(a) = self.admins.get_mut(&owner) {
                if let Some((ticket, result)) = a.on_answer(answer.request, answer.frame) {
                    self.outcomes.push((ticket, Outcome::Admin(result)));
                }
            }
        }
    }

    /// Gathers the clients' outcomes and finishes the closes that are done.
    fn collect(&mut self, now_ms: i64) {
        for p in self.producers.values_mut() {
            let (delivered, flushed) = p.take_outcomes();
            self.outcomes.extend(delivered.into_iter().map(|(t, r)| (t, Outcome::Delivered(r))));
            self.outcomes.extend(flushed.into_iter().map(|t| (t, Outcome::Done(Ok(())))));
            self.outcomes.extend(p.take_txn_outcomes().into_iter().map(|(t, r)| (t, Outcome::Done(r))));
        }
        for c in self.consumers.values_mut() {
            self.outcomes.extend(c.take_outcomes(now_ms));
        }
        let mut still = Vec::new();
        for (handle, ticket) in std::mem::take(&mut self.closing) {
            let idle = self.producers.get(&handle).is_none_or(|p| p.incomplete() == 0 && !p.link.is_busy());
            if !idle {
                still.push((handle, ticket));
                continue;
            }
            if let Some(p) = self.producers.remove(&handle) {
                self.owners.remove(&p.link.connection);
                self.broker.close(p.link.connection);
            }
            self.outcomes.push((ticket, Outcome::Done(Ok(()))));
        }
        self.closing = still;
    }

    /// The outcomes decided since the last call.
    pub fn take_outcomes(&mut self) -> Vec<(Ticket, Outcome)> {
        std::mem::take(&mut self.outcomes)
    }

    /// The answers to frames the host submitted itself (as routed by the last [`Page::run`] or
    /// [`Page::poll`]: call one after submitting).
    pub fn take_host_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.host_answers)
    }

    /// When to call [`Page::poll`] again at the latest: the broker's next deadline or a client's.
    pub fn next_deadline_ms(&self, broker_next_ms: i64) -> i64 {
        let mut next = broker_next_ms;
        for p in self.producers.values() {
            if let Some(ms) = p.next_deadline_ms() {
                next = next.min(ms);
            }
        }
        for c in self.consumers.values() {
            if let Some(ms) = c.next_deadline_ms() {
                next = next.min(ms);
            }
        }
        next
    }

    /// Stops the broker: every client's waiting operation fails as closed.
    pub fn stop(&mut self, now_ms: i64) -> Result<(), HostError> {
        let closed = ClientError::Closed;
        for p in self.producers.values_mut() {
            p.abort(&closed);
        }
        for c in self.consumers.values_mut() {
            c.abort(&closed);
        }
        self.collect(now_ms);
        for (_, ticket) in std::mem::take(&mut self.closing) {
            self.outcomes.push((ticket, Outcome::Done(Err(ClientError::Closed))));
        }
        let stopped = self.broker.stop(now_ms);
        self.route(now_ms);
        self.collect(now_ms);
        stopped
    }
}

#[cfg(test)]
mod tests;
