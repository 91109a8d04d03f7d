//! A single-node broker in memory, driven by its host: Kafka request frames in, response frames out, time as an
//! argument. The web page's broker (bindings-wasm) is this, with the page's clock and timers; tests drive it
//! natively in virtual time.
//!
//! It is the same [`Broker`] the network server runs, over a [`MemoryBackend`]; only the transport differs. A
//! host opens connections and submits whole frames (size prefix included, exactly the bytes a socket carries);
//! answers come back from [`MemoryBroker::take_answers`]. As on a Kafka socket, a connection's requests are
//! handled one at a time in arrival order: a request parked in the purgatory (a long-polling Fetch, an acks=all
//! Produce, a JoinGroup) holds back the requests behind it, so a connection's answers come in the order asked.
//!
//! Invariants: every submitted request gets exactly one [`Answer`] (a frame, no frame for acks=0, or an error);
//! a request that cannot be read closes its connection, as Kafka closes the socket, and the requests queued
//! behind it fail with it; nothing here reads a clock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ResponseKind};

use super::HostError;
use crate::broker::{Broker, BrokerConfig, Outcome, RequestContext};
use crate::client::ClientError;
use crate::coordinator::group::Token;
use crate::protocol::{self, versions, ProtocolError};
use crate::storage::MemoryBackend;

/// Where the broker's files live in its in-memory file system when the config names no `log.dirs`.
pub const LOG_DIR: &str = "/potok";

/// Identifies a connection of one [`MemoryBroker`].
pub type ConnectionId = u64;
/// Identifies a submitted request of one [`MemoryBroker`].
pub type RequestId = u64;

/// What became of a submitted request.
#[derive(Debug)]
pub struct Answer {
    pub connection: ConnectionId,
    pub request: RequestId,
    /// The response frame, size prefix included; `Ok(None)` when Kafka sends none (Produce with acks=0).
    pub frame: Result<Option<Vec<u8>>, HostError>,
}

/// The request a connection is waiting on.
#[derive(Debug)]
struct InFlight {
    request: RequestId,
    token: Token,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
}

#[derive(Debug, Default)]
struct Connection {
    queued: VecDeque<(RequestId, Bytes)>,
    in_flight: Option<InFlight>,
}

/// A broker in memory and its connections. Single-threaded by design: the host calls it from one event loop.
#[derive(Debug)]
pub struct MemoryBroker {
    /// `None` once stopped.
    broker: Option<Broker>,
    backend: MemoryBackend,
    connections: BTreeMap<ConnectionId, Connection>,
    /// Which connection a parked request belongs to.
    parked: HashMap<Token, ConnectionId>,
    answers: Vec<Answer>,
    next_connection: ConnectionId,
    next_request: RequestId,
    next_token: Token,
    /// `socket.request.max.bytes`: larger frames are refused before anything is decoded.
    max_frame_bytes: usize,
    /// `queued.max.requests`: the most requests a connection may have waiting behind the one in flight.
    max_queued: usize,
}

impl MemoryBroker {
    /// Starts a broker over a fresh in-memory file system. `seed` feeds its ids (cluster id, topic ids,
    /// member ids); `now_ms` is the host's wall-clock time.
    pub fn start(config: BrokerConfig, seed: u64, now_ms: i64) -> Result<MemoryBroker, HostError> {
        Self::open(config, MemoryBackend::new(), seed, now_ms)
    }

    /// Starts a broker over the files in `backend` (a restarted node of a [`super::memory_cluster`] finds
    /// what it left there).
    pub fn open(
        config: BrokerConfig,
        backend: MemoryBackend,
        seed: u64,
        now_ms: i64,
    ) -> Result<MemoryBroker, HostError> {
        let log_dir = config.log_dir.clone().unwrap_or_else(|| PathBuf::from(LOG_DIR));
        let advertised = config.advertised(config.listeners.first().map_or(9092, |l| l.port));
        let max_frame_bytes = config.socket_request_max_bytes;
        let max_queued = config.queued_max_requests.max(1);
        let broker = Broker::open(config, Arc::new(backend.clone()), &log_dir, advertised, seed, now_ms)
            .map_err(|e| HostError::from(&e))?;
        Ok(MemoryBroker {
            broker: Some(broker),
            backend,
            connections: BTreeMap::new(),
            parked: HashMap::new(),
            answers: Vec::new(),
            next_connection: 1,
            next_request: 1,
            next_token: 1,
            max_frame_bytes,
            max_queued,
        })
    }

    /// The running broker (`None` once stopped), for inspection.
    pub fn broker(&self) -> Option<&Broker> {
        self.broker.as_ref()
    }

    /// The in-memory file system the broker's log directory is in.
    pub fn backend(&self) -> &MemoryBackend {
        &self.backend
    }

    fn running(&self) -> Result<&Broker, HostError> {
        self.broker.as_ref().ok_or_else(|| HostError::from(ClientError::Closed))
    }

    /// Opens a connection.
    pub fn connect(&mut self) -> Result<ConnectionId, HostError> {
        self.running()?;
        let id = self.next_connection;
        self.next_connection += 1;
        self.connections.insert(id, Connection::default());
        Ok(id)
    }

    /// Closes a connection: its parked request is forgotten by the broker and its queued requests fail.
    pub fn close(&mut self, connection: ConnectionId) {
        let Some(conn) = self.connections.remove(&connection) else { return };
        if let Some(in_flight) = conn.in_flight {
            self.parked.remove(&in_flight.token);
            if let Some(broker) = &self.broker {
                broker.cancel(in_flight.token);
            }
            self.fail(connection, in_flight.request, HostError::from(ClientError::Closed));
        }
        for (request, _) in conn.queued {
            self.fail(connection, request, HostError::from(ClientError::Closed));
        }
    }

    /// Submits one request frame (size prefix included) on a connection and handles it, or queues it behind
    /// the connection's request in flight. Its answer comes from [`MemoryBroker::take_answers`].
    pub fn submit(&mut self, connection: ConnectionId, frame: Bytes, now_ms: i64) -> Result<RequestId, HostError> {
        self.running()?;
        let max_queued = self.max_queued;
        let conn = self.connections.get_mut(&connection).ok_or_else(|| HostError::from(ClientError::Closed))?;
        if conn.queued.len() >= max_queued {
            return Err(HostError::from(ClientError::BufferFull(format!(
                "{max_queued} requests (queued.max.requests) already wait on this connection"
            ))));
        }
        let request = self.next_request;
        self.next_request += 1;
        conn.queued.push_back((request, frame));
        self.run(connection, now_ms);
        self.collect(now_ms);
        Ok(request)
    }

    /// The broker's time-driven work (expired waits, group and transaction housekeeping, retention). Returns
    /// the time by which it wants to be called again.
    pub fn poll(&mut self, now_ms: i64) -> i64 {
        let Some(broker) = &self.broker else { return i64::MAX };
        let next_ms = broker.poll(now_ms);
        // A cluster member's calls to the controller and to other brokers are its cluster's to carry
        // (`memory_cluster` takes them after this poll).
        if broker.is_cluster_member() {
            self.collect(now_ms);
            return next_ms;
        }
        // A cluster of one sends nothing to other nodes: its controller is itself and it leads every
        // partition, so transaction markers are written locally. Anything queued would be a bug; say so.
        let controller_calls = broker.take_controller_calls();
        let marker_calls = broker.take_marker_calls();
        if !controller_calls.is_empty() || !marker_calls.is_empty() {
            tracing::warn!(
                "a broker in memory has no peers: dropped {} controller and {} marker calls",
                controller_calls.len(),
                marker_calls.len()
            );
        }
        self.collect(now_ms);
        next_ms
    }

    /// The answers decided since the last call, in the order they were decided.
    pub fn take_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.answers)
    }

    /// Whether answers were decided and not taken yet.
    pub fn has_answers(&self) -> bool {
        !self.answers.is_empty()
    }

    /// Whether a connection is open (not closed by its host or by a frame the broker could not read).
    pub fn is_open(&self, connection: ConnectionId) -> bool {
        self.connections.contains_key(&connection)
    }

    /// Whether a connection has a request in flight or queued.
    pub fn is_busy(&self, connection: ConnectionId) -> bool {
        self.connections.get(&connection).is_some_and(|c| c.in_flight.is_some() || !c.queued.is_empty())
    }

    /// Stops the broker cleanly (flush, checkpoints). Every request still waiting fails as closed.
    pub fn stop(&mut self, now_ms: i64) -> Result<(), HostError> {
        let ids: Vec<ConnectionId> = self.connections.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
        match self.broker.take() {
            Some(broker) => broker.shutdown(now_ms).map_err(|e| HostError::from(&e)),
            None => Ok(()),
        }
    }

    /// Ends the broker as a killed process ends: no flush, no checkpoint, no controlled shutdown. Every request
    /// still waiting fails as closed (its connection was reset). What a restarted process finds is the
    /// backend's [`MemoryBackend::snapshot`] taken after this.
    pub fn crash(&mut self) {
        let ids: Vec<ConnectionId> = self.connections.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
        self.broker = None;
    }

    /// Ends the request parked under `token` without an answer, as the native runtime drops a connection whose
    /// request the broker gave up on (its controller call found no controller in time): the request fails as
    /// closed, its connection closes, and the client retries elsewhere.
    pub fn give_up(&mut self, token: Token) {
        if let Some(connection) = self.parked.get(&token).copied() {
            self.close(connection);
        }
    }

    fn fail(&mut self, connection: ConnectionId, request: RequestId, error: HostError) {
        self.answers.push(Answer { connection, request, frame: Err(error) });
    }

    /// Handles a connection's queued requests until one parks or none is left.
    fn run(&mut self, connection: ConnectionId, now_ms: i64) {
        loop {
            let Some(conn) = self.connections.get_mut(&connection) else { return };
            if conn.in_flight.is_some() {
                return;
            }
            let Some((request, frame)) = conn.queued.pop_front() else { return };
            match self.handle(connection, request, frame, now_ms) {
                Ok(Some(in_flight)) => {
                    self.parked.insert(in_flight.token, connection);
                    if let Some(conn) = self.connections.get_mut(&connection) {
                        conn.in_flight = Some(in_flight);
                    }
                    return;
                }
                Ok(None) => {}
                Err(error) => {
                    // Kafka closes a connection that sent what it cannot read; what was queued behind fails too.
                    self.fail(connection, request, error);
                    self.close(connection);
                    return;
                }
            }
        }
    }

    /// Handles one frame: answers it now (an [`Answer`] is pushed) or returns what waits for the broker.
    fn handle(
        &mut self,
        connection: ConnectionId,
        request: RequestId,
        frame: Bytes,
        now_ms: i64,
    ) -> Result<Option<InFlight>, HostError> {
        let size = protocol::check_frame(&frame, self.max_frame_bytes)?.ok_or_else(|| malformed("a partial frame"))?;
        if frame.len() != 4 + size {
            return Err(malformed(&format!("{} bytes after a frame of {size} bytes", frame.len() - 4 - size)));
        }
        let body = frame.slice(4..);
        let (key, version) = protocol::peek_api(&body)?;
        if key == ApiKey::ApiVersions as i16
            && versions::supported(ApiKey::ApiVersions).is_some_and(|r| version > r.max)
        {
            // A client newer than potok: answer in version 0 with the versions it can pick from, as the
            // network server does.
            let correlation_id = body.get(4..8).map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let answer = ResponseKind::ApiVersions(versions::api_versions_fallback());
            let frame = protocol::encode_response(ApiKey::ApiVersions, 0, correlation_id, &answer)?;
            self.answers.push(Answer { connection, request, frame: Ok(Some(frame.to_vec())) });
            return Ok(None);
        }
        let decoded = protocol::decode_request(body)?;
        let token = self.next_token;
        self.next_token += 1;
        let ctx = RequestContext {
            token,
            client_id: decoded.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
            client_host: "/in-memory".into(),
            controller_listener: false,
        };
        let in_flight = InFlight {
            request,
            token,
            api_key: decoded.api_key,
            version,
            correlation_id: decoded.header.correlation_id,
        };
        let broker = self.running()?;
        match broker.handle(decoded, &ctx, now_ms) {
            Outcome::Respond(response) => self.respond(connection, &in_flight, &response)?,
            Outcome::RespondWithFiles(mut response, files) => {
                if let ResponseKind::Fetch(fetch) = &mut response {
                    files.materialize(fetch);
                }
                self.respond(connection, &in_flight, &response)?
            }
            Outcome::NoResponse => self.answers.push(Answer { connection, request, frame: Ok(None) }),
            Outcome::Parked => return Ok(Some(in_flight)),
        }
        Ok(None)
    }

    fn respond(
        &mut self,
        connection: ConnectionId,
        in_flight: &InFlight,
        response: &ResponseKind,
    ) -> Result<(), HostError> {
        let frame =
            protocol::encode_response(in_flight.api_key, in_flight.version, in_flight.correlation_id, response)?;
        self.answers.push(Answer { connection, request: in_flight.request, frame: Ok(Some(frame.to_vec())) });
        Ok(())
    }

    /// Hands the broker's answers to parked requests to their connections and lets those connections move on
    /// to their next queued request (which may complete others in turn).
    fn collect(&mut self, now_ms: i64) {
        loop {
            let Some(broker) = &self.broker else { return };
            let completions = broker.take_completions();
            if completions.is_empty() {
                return;
            }
            for (token, response) in completions {
                let Some(connection) = self.parked.remove(&token) else { continue };
                let Some(in_flight) = self.connections.get_mut(&connection).and_then(|c| c.in_flight.take()) else {
                    continue;
                };
                if let Err(error) = self.respond(connection, &in_flight, &response) {
                    self.fail(connection, in_flight.request, error);
                    self.close(connection);
                    continue;
                }
                self.run(connection, now_ms);
            }
        }
    }
}

fn malformed(message: &str) -> HostError {
    HostError::from(ProtocolError::Malformed { what: "request frame", message: message.to_string() })
}

#[cfg(test)]
pub(crate) mod tests;
