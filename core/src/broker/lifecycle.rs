//! The broker's side of the controller: registration, heartbeats, controlled shutdown, and the requests a
//! broker hands to the controller (admin requests clients send to any broker, auto-created topics, producer
//! id blocks).
//!
//! A broker with no controllers elsewhere (no `controller.quorum.voters`: a cluster of one, an embedded or
//! browser broker) runs the quorum controller in-process and keeps the metadata log itself: its requests to
//! the controller are calls, committed as soon as they are stored. The same lifecycle — register fenced,
//! heartbeat until caught up and unfenced, controlled shutdown before stopping — runs either way, so a
//! single broker behaves as one node of a cluster does.

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
}

impl Broker {
    fn controller(&self) -> Option<std::sync::MutexGuard<'_, QuorumController>> {
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
