//! Broker lifecycle on the controller, as Kafka's ClusterControlManager and BrokerHeartbeatManager run it.
//!
//! A broker registers (a new broker epoch, registered fenced), heartbeats every `broker.heartbeat.interval.ms`
//! reporting how far it has applied the metadata log, and is unfenced once it has caught up with its own
//! registration. A broker whose heartbeats stop for `broker.session.timeout.ms` is fenced: it leaves every ISR
//! it can leave and its leaderships move to other in-sync replicas. A broker that wants to shut down is first
//! put in controlled shutdown — its leaderships move away while it still serves — and told to stop once it
//! leads nothing; it is fenced then.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, BrokerHeartbeatRequest, BrokerHeartbeatResponse,
    BrokerRegistrationRequest, BrokerRegistrationResponse, ProducerId, UnregisterBrokerRequest,
    UnregisterBrokerResponse,
};

use super::image::MetadataImage;
use super::partition_change::{ChangeBuilder, Election};
use super::quorum::{Draft, QuorumController, Session};
use super::records::{Endpoint, FeatureRange, MetadataRecord, RegisterBroker};

/// Producer ids handed to a broker at a time (Kafka's block size).
pub const PRODUCER_ID_BLOCK: i32 = 1000;

impl QuorumController {
    /// BrokerRegistration: a new incarnation gets a new broker epoch and starts fenced. One whose session is
    /// still alive under another incarnation is a duplicate node id.
    pub(super) fn register_broker(
        &mut self,
        draft: &mut Draft<'_>,
        request: BrokerRegistrationRequest,
        now_ms: i64,
    ) -> BrokerRegistrationResponse {
        let refuse =
            |e: ResponseError| BrokerRegistrationResponse::default().with_error_code(e.code()).with_broker_epoch(-1);
        let id = request.broker_id.0;
        if request.cluster_id.as_str() != self.cluster_id {
            return refuse(ResponseError::InconsistentClusterId);
        }
        if let Some(existing) = draft.image.brokers.get(&id) {
            // A fenced broker has no session (Kafka's BrokerHeartbeatManager.hasValidSession).
            let alive = !existing.fenced && self.session_alive(id, now_ms);
            if alive && existing.incarnation_id != request.incarnation_id {
                return refuse(ResponseError::DuplicateBrokerRegistration);
            }
        }
        let metadata_version = request.features.iter().find(|f| f.name.as_str() == "metadata.version");
        if let Some(f) = metadata_version {
            if f.max_supported_version < super::METADATA_VERSION_LEVEL {
                return refuse(ResponseError::UnsupportedVersion);
            }
        }
        // A registration replacing a live one (a broker restarted before its session ran out) gives up the old
        // incarnation's leaderships first: the new one must catch up before it leads again.
        if draft.image.brokers.get(&id).is_some_and(|b| !b.fenced) {
            self.fence_broker(draft, id);
        }
        let epoch = draft.image.offset + 1;
        draft.push(MetadataRecord::RegisterBroker(RegisterBroker {
            broker_id: id,
            incarnation_id: request.incarnation_id,
            broker_epoch: epoch,
            endpoints: request
                .listeners
                .iter()
                .map(|l| Endpoint {
                    name: l.name.to_string(),
                    host: l.host.to_string(),
                    port: l.port,
                    security_protocol: l.security_protocol,
                })
                .collect(),
            features: request
                .features
                .iter()
                .map(|f| FeatureRange {
                    name: f.name.to_string(),
                    min_supported: f.min_supported_version,
                    max_supported: f.max_supported_version,
                })
                .collect(),
            rack: request.rack.as_ref().map(|r| r.to_string()),
            fenced: true,
            in_controlled_shutdown: false,
            log_dirs: request.log_dirs.clone(),
        }));
        self.sessions.insert(id, Session { last_contact_ms: now_ms, metadata_offset: -1 });
        BrokerRegistrationResponse::default().with_broker_epoch(epoch)
    }

    fn session_alive(&self, id: i32, now_ms: i64) -> bool {
        self.sessions.get(&id).is_some_and(|s| now_ms - s.last_contact_ms <= self.config.broker_session_timeout_ms)
    }

    /// BrokerHeartbeat: keeps the session alive and moves the broker between fenced, active, controlled
    /// shutdown and stopped, as Kafka's BrokerHeartbeatManager decides.
    pub(super) fn heartbeat(
        &mut self,
        draft: &mut Draft<'_>,
        request: BrokerHeartbeatRequest,
        now_ms: i64,
    ) -> BrokerHeartbeatResponse {
        let id = request.broker_id.0;
        let refuse =
            |e: ResponseError| BrokerHeartbeatResponse::default().with_error_code(e.code()).with_is_fenced(true);
        let Some(broker) = draft.image.brokers.get(&id).cloned() else {
            return refuse(ResponseError::BrokerIdNotRegistered);
        };
        if broker.epoch != request.broker_epoch {
            return refuse(ResponseError::StaleBrokerEpoch);
        }
        self.sessions.insert(id, Session { last_contact_ms: now_ms, metadata_offset: request.current_metadata_offset });
        let caught_up = request.current_metadata_offset >= broker.registration_offset;
        let mut should_shut_down = false;
        if broker.fenced {
            if request.want_shut_down {
                should_shut_down = true;
            } else if caught_up && !request.want_fence {
                self.unfence_broker(draft, id, broker.epoch);
            }
        } else if request.want_fence {
            self.fence_broker(draft, id);
            should_shut_down = request.want_shut_down;
        } else if request.want_shut_down {
            if !broker.in_controlled_shutdown {
                draft.push(MetadataRecord::BrokerRegistrationChange {
                    broker_id: id,
                    broker_epoch: broker.epoch,
                    fenced: 0,
                    in_controlled_shutdown: 1,
                });
            }
            // Leaderships (and ISR places others can take over) move away while the broker still serves.
            self.move_away_from(draft, id);
            if leads_nothing(&draft.image, id) {
                self.fence_broker(draft, id);
                should_shut_down = true;
            }
        }
        let fenced = draft.image.brokers.get(&id).is_none_or(|b| b.fenced);
        BrokerHeartbeatResponse::default()
            .with_is_caught_up(caught_up)
            .with_is_fenced(fenced)
            .with_should_shut_down(should_shut_down)
    }

    /// UnregisterBroker: forgets a broker that will not come back (it must be fenced or gone first).
    pub(super) fn unregister_broker(
        &mut self,
        draft: &mut Draft<'_>,
        request: UnregisterBrokerRequest,
    ) -> UnregisterBrokerResponse {
        let id = request.broker_id.0;
        let Some(broker) = draft.image.brokers.get(&id).cloned() else {
            return UnregisterBrokerResponse::default().with_error_code(ResponseError::BrokerIdNotRegistered.code());
        };
        if !broker.fenced {
            self.fence_broker(draft, id);
        }
        draft.push(MetadataRecord::UnregisterBroker { broker_id: id, broker_epoch: broker.epoch });
        self.sessions.remove(&id);
        UnregisterBrokerResponse::default()
    }

    /// AllocateProducerIds: the next block of producer ids for a broker's transaction coordinator and
    /// idempotent producers.
    pub(super) fn allocate_producer_ids(
        &mut self,
        draft: &mut Draft<'_>,
        request: AllocateProducerIdsRequest,
    ) -> AllocateProducerIdsResponse {
        let id = request.broker_id.0;
        match draft.image.brokers.get(&id) {
            None => {
                return AllocateProducerIdsResponse::default()
                    .with_error_code(ResponseError::BrokerIdNotRegistered.code())
            }
            Some(b) if b.epoch != request.broker_epoch => {
                return AllocateProducerIdsResponse::default().with_error_code(ResponseError::StaleBrokerEpoch.code())
            }
            Some(_) => {}
        }
        let start = draft.image.next_producer_id;
        draft.push(MetadataRecord::ProducerIds {
            broker_id: id,
            broker_epoch: request.broker_epoch,
            next_producer_id: start + i64::from(PRODUCER_ID_BLOCK),
        });
        AllocateProducerIdsResponse::default()
            .with_producer_id_start(ProducerId(start))
            .with_producer_id_len(PRODUCER_ID_BLOCK)
    }

    /// Fences `id`: it leaves every ISR it can leave, and its leaderships move to other in-sync replicas (or,
    /// where the topic allows an unclean election and no in-sync replica is left, to any live one).
    pub(super) fn fence_broker(&mut self, draft: &mut Draft<'_>, id: i32) {
        let Some(epoch) = draft.image.brokers.get(&id).map(|b| b.epoch) else { return };
        draft.push(MetadataRecord::BrokerRegistrationChange {
            broker_id: id,
            broker_epoch: epoch,
            fenced: 1,
            in_controlled_shutdown: 0,
        });
        self.move_away_from(draft, id);
    }

    /// Takes `id` out of the ISRs and leaderships it holds (it is fenced or shutting down).
    fn move_away_from(&mut self, draft: &mut Draft<'_>, id: i32) {
        let mut changes = Vec::new();
        for topic in draft.image.topics.values() {
            let unclean = self.unclean_allowed(&draft.image, &topic.name);
            for p in topic.partitions.iter().filter(|p| p.isr.contains(&id) || p.leader == id) {
                let image = &draft.image;
                let acceptable = |r: i32| r != id && QuorumController::is_active(image, r);
                let target_isr: Vec<i32> = p.isr.iter().copied().filter(|r| *r != id).collect();
                let election = if unclean { Election::Unclean } else { Election::Online };
                if let Some(change) =
                    ChangeBuilder::new(p, topic.id, acceptable).target_isr(target_isr).election(election).build()
                {
                    changes.push(MetadataRecord::PartitionChange(change));
                }
            }
        }
        draft.extend(changes);
    }

    /// Unfences `id` and gives it the leadership of offline partitions whose ISR it is in.
    fn unfence_broker(&mut self, draft: &mut Draft<'_>, id: i32, epoch: i64) {
        draft.push(MetadataRecord::BrokerRegistrationChange {
            broker_id: id,
            broker_epoch: epoch,
            fenced: -1,
            in_controlled_shutdown: 0,
        });
        self.elect_offline_leaders(draft);
    }

    /// Fences every unfenced broker whose session expired.
    pub(super) fn fence_expired_brokers(&mut self, draft: &mut Draft<'_>, now_ms: i64) {
        let expired: Vec<i32> = draft
            .image
            .brokers
            .values()
            .filter(|b| !b.fenced && !self.session_alive(b.id, now_ms))
            .map(|b| b.id)
            .collect();
        for id in expired {
            tracing::info!(target: "potok::controller", "fencing broker {id}: no heartbeat within broker.session.timeout.ms");
            self.fence_broker(draft, id);
        }
    }

    /// Whether the topic allows unclean leader elections (its config, else the controller's default).
    pub(super) fn unclean_allowed(&self, image: &MetadataImage, topic: &str) -> bool {
        let configs = image.topics.get(topic).map(|t| t.configs.clone()).unwrap_or_default();
        crate::broker::topic_config::value_of(
            "unclean.leader.election.enable",
            &configs,
            &self.config,
            &image.broker_configs,
        ) == "true"
    }
}

/// Whether `id` leads no partition.
fn leads_nothing(image: &MetadataImage, id: i32) -> bool {
    !image.topics.values().any(|t| t.partitions.iter().any(|p| p.leader == id))
}
