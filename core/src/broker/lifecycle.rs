//! The broker's side of the controller: registration, heartbeats, controlled shutdown, and the requests a
//! broker hands to the controller (admin requests clients send to any broker, auto-created topics, producer
//! id blocks).
//!
//! A broker with no controllers elsewhere (no `controller.quorum.voters`: a cluster of one, an embedded or
//! browser broker) runs the quorum controller in-process and keeps the metadata log itself: its requests to
//! the controller are calls, committed as soon as they are stored. The same lifecycle — register fenced,
//! heartbeat until caught up and unfenced, controlled shutdown before stopping — runs either way, so a
//! single broker behaves as one node of a cluster does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::broker_registration_request::{Feature, Listener as RegistrationListener};
use kafka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest, RequestKind, ResponseKind,
};
use uuid::Uuid;

use super::{str_bytes, Broker, BrokerError};
use crate::controller::{ControllerResult, QuorumController, METADATA_VERSION_LEVEL};

/// What the broker knows of its own registration.
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    pub incarnation_id: Uuid,
    /// -1 until registered.
    pub broker_epoch: i64,
    pub next_heartbeat_ms: i64,
    pub fenced: bool,
    /// Set once the broker asked to shut down; the controller says when it may stop.
    pub shutting_down: bool,
    /// The controller answered a shutdown request: leaderships have moved away.
    pub may_stop: bool,
    /// A registration or heartbeat is on its way to a controller elsewhere.
    pub in_flight: bool,
    /// The replicas follow the metadata image (at once with an in-process controller; once caught up and
    /// unfenced with a controller elsewhere).
    pub following: bool,
}

impl Broker {
    pub(super) fn controller(&self) -> Option<std::sync::MutexGuard<'_, QuorumController>> {
        self.controller.as_ref().map(|c| c.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn lifecycle(&self) -> std::sync::MutexGuard<'_, Lifecycle> {
        self.lifecycle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends a request to the in-process controller and commits the records it decides, then returns its
    /// answer. `None` when the controller is elsewhere.
    pub(super) fn call_controller(
        &self,
        request: RequestKind,
        version: i16,
        now_ms: i64,
    ) -> Option<Result<ResponseKind, BrokerError>> {
        let mut controller = self.controller()?;
        let image = self.metadata();
        let ControllerResult { records, response } = controller.handle(&image, request, version, now_ms);
        if !records.is_empty() {
            if let Err(e) = self.commit_metadata(&records, now_ms) {
                return Some(Err(e));
            }
        }
        Some(Ok(response))
    }

    /// The registration this broker asks for: its listeners, rack and supported features.
    fn registration_request(&self) -> BrokerRegistrationRequest {
        let lifecycle = self.lifecycle();
        let advertised = &self.advertised;
        BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(self.config.node_id))
            .with_cluster_id(str_bytes(&self.cluster_id))
            .with_incarnation_id(lifecycle.incarnation_id)
            .with_listeners(vec![RegistrationListener::default()
                .with_name(str_bytes(&advertised.name))
                .with_host(str_bytes(&advertised.host))
                .with_port(advertised.port)
                .with_security_protocol(crate::controller::records::SECURITY_PROTOCOL_PLAINTEXT)])
            .with_features(vec![Feature::default()
                .with_name(str_bytes("metadata.version"))
                .with_min_supported_version(1)
                .with_max_supported_version(METADATA_VERSION_LEVEL)])
            .with_rack(self.config.broker_rack.as_deref().map(str_bytes))
            .with_previous_broker_epoch(lifecycle.broker_epoch)
    }

    /// Registers with the in-process controller and heartbeats until unfenced (it has all the metadata it
    /// needs at once). Called when the broker opens.
    pub(super) fn start_lifecycle(&self, now_ms: i64) -> Result<(), BrokerError> {
        let request = RequestKind::BrokerRegistration(self.registration_request());
        let Some(answer) = self.call_controller(request, 3, now_ms) else { return Ok(()) };
        if let ResponseKind::BrokerRegistration(r) = answer? {
            self.lifecycle().broker_epoch = r.broker_epoch;
        }
        self.heartbeat(now_ms, false)
    }

    fn heartbeat(&self, now_ms: i64, want_shut_down: bool) -> Result<(), BrokerError> {
        let request = {
            let mut lifecycle = self.lifecycle();
            lifecycle.next_heartbeat_ms = now_ms + self.config.broker_heartbeat_interval_ms;
            BrokerHeartbeatRequest::default()
                .with_broker_id(BrokerId(self.config.node_id))
                .with_broker_epoch(lifecycle.broker_epoch)
                .with_current_metadata_offset(self.metadata().offset)
                .with_want_fence(false)
                .with_want_shut_down(want_shut_down)
        };
        let Some(answer) = self.call_controller(RequestKind::BrokerHeartbeat(request), 1, now_ms) else {
            return Ok(());
        };
        if let ResponseKind::BrokerHeartbeat(r) = answer? {
            self.lifecycle().fenced = r.is_fenced;
        }
        Ok(())
    }

    /// Periodic lifecycle work: heartbeats when due, and the in-process controller's own decisions.
    pub(super) fn lifecycle_tick(&self, now_ms: i64) -> i64 {
        if self.is_cluster_member() {
            // A controller-only node (process.roles=controller) is no broker: it never registers.
            if !self.config.process_roles.broker {
                return now_ms + self.config.broker_heartbeat_interval_ms;
            }
            self.remote_lifecycle_tick(now_ms);
            return self.lifecycle().next_heartbeat_ms;
        }
        let due = self.lifecycle().next_heartbeat_ms;
        if now_ms >= due {
            if let Err(e) = self.heartbeat(now_ms, false) {
                tracing::warn!(target: "potok::broker", "heartbeat failed: {e}");
            }
        }
        if let Some(mut controller) = self.controller() {
            let image = self.metadata();
            let records = controller.tick(&image, now_ms);
            drop(controller);
            if !records.is_empty() {
                if let Err(e) = self.commit_metadata(&records, now_ms) {
                    tracing::warn!(target: "potok::controller", "writing the controller's decisions failed: {e}");
                }
            }
        }
        self.lifecycle().next_heartbeat_ms
    }

    /// Controlled shutdown before stopping: leaderships move away (with one broker, its partitions go
    /// offline until it is back) and the broker is fenced.
    pub(super) fn controlled_shutdown(&self, now_ms: i64) -> Result<(), BrokerError> {
        if !self.config.controlled_shutdown_enable || self.controller.is_none() {
            return Ok(());
        }
        self.lifecycle().shutting_down = true;
        self.heartbeat(now_ms, true)
    }

    /// Activates the in-process controller over the loaded image. It is the whole cluster's controller and
    /// was down with it, so no broker has a session yet: a broker that was not shut down cleanly registers
    /// again at once.
    pub(super) fn activate_controller(&self, now_ms: i64) {
        let image = self.metadata();
        if let Some(mut c) = self.controller() {
            c.activate(&image, now_ms, false);
        }
    }
}

/// A request for a controller in another node (or the quorum's controller in this process), for the runtime
/// to send: [`Broker::take_controller_calls`], answered with [`Broker::controller_answer`].
#[derive(Debug)]
pub struct ControllerCall {
    pub id: u64,
    pub request: RequestKind,
    pub version: i16,
}

/// What a controller call is for, so its answer goes where it belongs.
#[derive(Debug)]
enum Purpose {
    /// A client's admin request, parked under its token.
    Client(crate::coordinator::group::Token),
    Registration,
    Heartbeat,
    CreateTopic(String),
    ProducerIds,
    /// ISR changes asked for these partitions at these partition epochs.
    AlterPartition(Vec<(crate::storage::TopicPartition, i32)>),
}

/// Controller calls waiting to be sent, and those sent and not yet answered.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    next_id: u64,
    queued: Vec<ControllerCall>,
    pending: std::collections::HashMap<u64, Purpose>,
}

impl Outbox {
    fn has(&self, f: impl Fn(&Purpose) -> bool) -> bool {
        self.pending.values().any(f)
    }
}

impl Broker {
    /// Whether this broker is one node of a cluster whose controllers keep the metadata log (its requests to
    /// the controller go through [`Broker::take_controller_calls`] and its image comes from the quorum).
    pub fn is_cluster_member(&self) -> bool {
        self.controller.is_none()
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn send_to_controller(&self, request: RequestKind, version: i16, purpose: Purpose) {
        let mut outbox = self.outbox();
        outbox.next_id += 1;
        let id = outbox.next_id;
        outbox.pending.insert(id, purpose);
        outbox.queued.push(ControllerCall { id, request, version });
    }

    /// The broker epoch the controller gave this broker, once it has registered it and unfenced it (the broker
    /// caught up with the metadata log and serves); None before, while fenced, and on a controller-only node.
    pub fn unfenced_epoch(&self) -> Option<i64> {
        if !self.config.process_roles.broker {
            return None;
        }
        let lifecycle = self.lifecycle();
        (lifecycle.broker_epoch >= 0 && !lifecycle.fenced).then_some(lifecycle.broker_epoch)
    }

    /// Whether calls to the controller or to other brokers wait to be sent.
    pub fn has_outgoing_calls(&self) -> bool {
        !self.outbox().queued.is_empty() || self.has_marker_calls()
    }

    /// The controller calls to send now.
    pub fn take_controller_calls(&self) -> Vec<ControllerCall> {
        std::mem::take(&mut self.outbox().queued)
    }

    /// Parks a client's admin request until the controller answers it.
    pub(super) fn forward_remote(&self, request: RequestKind, version: i16, token: crate::coordinator::group::Token) {
        self.send_to_controller(request, version, Purpose::Client(token));
    }

    /// Asks the controller to create a topic (auto-creation, internal topics) unless already asked; the caller
    /// answers its client with a retriable error meanwhile, as Kafka does.
    pub(super) fn create_topic_remote(&self, name: &str, request: RequestKind) {
        if self.outbox().has(|p| matches!(p, Purpose::CreateTopic(n) if n == name)) {
            return;
        }
        self.send_to_controller(request, 7, Purpose::CreateTopic(name.to_string()));
    }

    /// Sends an AlterPartition to the controller: a call to the in-process one, otherwise through the outbox.
    pub(super) fn send_alter_partition(
        &self,
        request: RequestKind,
        asked: Vec<(crate::storage::TopicPartition, i32)>,
        now_ms: i64,
    ) {
        let version = super::replication::ALTER_PARTITION_VERSION;
        if self.is_cluster_member() {
            self.send_to_controller(request, version, Purpose::AlterPartition(asked));
            return;
        }
        match self.call_controller(request, version, now_ms) {
            Some(Ok(ResponseKind::AlterPartition(r))) => self.alter_partition_answered(asked, Some(&r)),
            _ => self.alter_partition_answered(asked, None),
        }
    }

    /// Asks the controller for a block of producer ids unless already asked.
    pub(super) fn request_producer_ids(&self) {
        if self.outbox().has(|p| matches!(p, Purpose::ProducerIds)) {
            return;
        }
        let request = kafka_protocol::messages::AllocateProducerIdsRequest::default()
            .with_broker_id(BrokerId(self.config.node_id))
            .with_broker_epoch(self.lifecycle().broker_epoch);
        self.send_to_controller(RequestKind::AllocateProducerIds(request), 0, Purpose::ProducerIds);
    }

    /// Takes the controller's answer to a call (`Err` when no controller could be reached in time). Returns the
    /// token of a client request that got no answer, so the runtime can give up on it.
    pub fn controller_answer(
        &self,
        id: u64,
        answer: Result<ResponseKind, String>,
        now_ms: i64,
    ) -> Option<crate::coordinator::group::Token> {
        let purpose = self.outbox().pending.remove(&id)?;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(target: "potok::broker", "no answer from the controller: {e}");
                let mut lifecycle = self.lifecycle();
                match purpose {
                    Purpose::Client(token) => return Some(token),
                    Purpose::Registration | Purpose::Heartbeat => lifecycle.in_flight = false,
                    Purpose::AlterPartition(asked) => {
                        drop(lifecycle);
                        self.alter_partition_answered(asked, None);
                    }
                    _ => {}
                }
                return None;
            }
        };
        match (purpose, answer) {
            (Purpose::Client(token), response) => {
                self.completions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((
                    token,
                    response,
                    crate::protocol::FileRecords::default(),
                ));
            }
            (Purpose::Registration, ResponseKind::BrokerRegistration(r)) => {
                let mut lifecycle = self.lifecycle();
                lifecycle.in_flight = false;
                if r.error_code == 0 {
                    lifecycle.broker_epoch = r.broker_epoch;
                    lifecycle.next_heartbeat_ms = now_ms;
                    tracing::info!(target: "potok::broker", "registered with the controller (broker epoch {})", r.broker_epoch);
                } else if r.error_code == ResponseError::InconsistentClusterId.code() {
                    tracing::error!(
                        target: "potok::broker",
                        "the controller refused the registration: this node's cluster.id ({}, in meta.properties in \
                         log.dirs) is not the cluster's; format every node with the same id (potok storage format -t ID)",
                        self.cluster_id
                    );
                } else {
                    tracing::warn!(target: "potok::broker", "the controller refused the registration: error {}", r.error_code);
                }
            }
            (Purpose::Heartbeat, ResponseKind::BrokerHeartbeat(r)) => {
                let caught_up = {
                    let mut lifecycle = self.lifecycle();
                    lifecycle.in_flight = false;
                    if r.error_code == 0 {
                        let was_fenced = lifecycle.fenced;
                        lifecycle.fenced = r.is_fenced;
                        lifecycle.may_stop |= r.should_shut_down;
                        was_fenced && !r.is_fenced
                    } else {
                        // A stale epoch or an unknown broker (the controller lost it): register again.
                        tracing::warn!(target: "potok::broker", "heartbeat refused: error {}; registering again", r.error_code);
                        lifecycle.broker_epoch = -1;
                        false
                    }
                };
                if caught_up {
                    self.start_following(now_ms);
                }
            }
            (Purpose::CreateTopic(name), ResponseKind::CreateTopics(r)) => {
                for t in r.topics.iter().filter(|t| t.error_code != 0 && t.error_code != 36) {
                    tracing::warn!(target: "potok::broker", "creating {name} failed: error {}", t.error_code);
                }
            }
            (Purpose::ProducerIds, ResponseKind::AllocateProducerIds(r)) if r.error_code == 0 => {
                *self.producer_ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    (r.producer_id_start.0, r.producer_id_start.0 + i64::from(r.producer_id_len));
            }
            (Purpose::AlterPartition(asked), ResponseKind::AlterPartition(r)) => {
                self.alter_partition_answered(asked, Some(&r));
            }
            (Purpose::AlterPartition(asked), _) => self.alter_partition_answered(asked, None),
            (_, other) => tracing::warn!(target: "potok::broker", "unexpected answer from the controller: {other:?}"),
        }
        None
    }

    /// Takes the image the controller quorum committed. Until the broker has caught up with the metadata log
    /// (the controller unfenced it), the image only answers requests; from then on the replicas follow it.
    pub fn metadata_changed(&self, image: std::sync::Arc<crate::controller::MetadataImage>, now_ms: i64) {
        let following = self.lifecycle().following;
        // Taken before the state, as everywhere: the groups and transactions of partitions whose leadership
        // moves are loaded or dropped before any request can see the new leadership.
        let mut txns = self.txns();
        let mut groups = self.groups();
        let mut state = self.write();
        let before = state.metadata.image().clone();
        // Images are handed over from more than one task: never step back to an older one.
        if image.offset < before.offset || std::sync::Arc::ptr_eq(&image, &before) {
            return;
        }
        state.metadata.replace(image.clone());
        if following {
            if let Err(e) = self.follow_image(&mut state, &before, &image, now_ms) {
                tracing::error!(target: "potok::broker", "following the metadata image failed: {e}");
            }
        }
        drop(state);
        if following {
            if let Err(e) = self.follow_group_partitions(&mut groups, now_ms) {
                tracing::error!(target: "potok::broker", "loading groups failed: {e}");
            }
        }
        drop(groups);
        if following {
            if let Err(e) = self.follow_txn_partitions(&mut txns, now_ms) {
                tracing::error!(target: "potok::broker", "loading transactions failed: {e}");
            }
        }
        drop(txns);
        self.hold_group_answers(now_ms);
        self.complete_delayed(now_ms);
    }

    /// The broker caught up with the metadata log: its logs are made to match the image (created, removed,
    /// leading or following), and the coordinators load their state.
    fn start_following(&self, now_ms: i64) {
        if std::mem::replace(&mut self.lifecycle().following, true) {
            return;
        }
        if let Err(e) = self.reconcile_logs(now_ms) {
            tracing::error!(target: "potok::broker", "matching the logs to the metadata failed: {e}");
        }
        if let Err(e) = self.load_groups(now_ms).and_then(|()| self.load_transactions(now_ms)) {
            tracing::error!(target: "potok::broker", "loading the coordinators' state failed: {e}");
        }
        self.request_producer_ids();
    }

    /// Registration and heartbeats with a controller elsewhere: one call at a time, every
    /// `broker.heartbeat.interval.ms`.
    fn remote_lifecycle_tick(&self, now_ms: i64) {
        let request = {
            let mut lifecycle = self.lifecycle();
            if lifecycle.in_flight || now_ms < lifecycle.next_heartbeat_ms {
                return;
            }
            lifecycle.in_flight = true;
            lifecycle.next_heartbeat_ms = now_ms + self.config.broker_heartbeat_interval_ms;
            if lifecycle.broker_epoch < 0 {
                None
            } else {
                Some(
                    BrokerHeartbeatRequest::default()
                        .with_broker_id(BrokerId(self.config.node_id))
                        .with_broker_epoch(lifecycle.broker_epoch)
                        .with_current_metadata_offset(self.metadata().offset)
                        .with_want_fence(false)
                        .with_want_shut_down(lifecycle.shutting_down),
                )
            }
        };
        match request {
            None => self.send_to_controller(
                RequestKind::BrokerRegistration(self.registration_request()),
                3,
                Purpose::Registration,
            ),
            Some(r) => self.send_to_controller(RequestKind::BrokerHeartbeat(r), 1, Purpose::Heartbeat),
        }
    }

    /// Starts a controlled shutdown with a controller elsewhere: the next heartbeats ask to shut down, and
    /// [`Broker::may_stop`] tells when the controller has moved leaderships away.
    pub fn begin_shutdown(&self, now_ms: i64) {
        let mut lifecycle = self.lifecycle();
        lifecycle.shutting_down = true;
        lifecycle.next_heartbeat_ms = now_ms;
    }

    /// Whether the controller said this broker may stop (or it never registered).
    pub fn may_stop(&self) -> bool {
        let lifecycle = self.lifecycle();
        lifecycle.may_stop || lifecycle.broker_epoch < 0 || !self.config.controlled_shutdown_enable
    }
}
