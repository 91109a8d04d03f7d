//! The active controller's decisions, sans-IO: requests (from brokers and, forwarded, from admin clients)
//! and time in; metadata records to commit and the answer to give once they are committed, out. It runs on
//! the controller that leads the metadata quorum, one request at a time, each against the image that the
//! records of the previous ones produced.
//!
//! What it decides is Kafka's: broker registration, heartbeats and fencing (`broker.session.timeout.ms`),
//! controlled shutdown, replica placement for new topics and partitions, leader elections (clean, preferred,
//! unclean where `unclean.leader.election.enable` allows), ISR changes asked by leaders (AlterPartition,
//! guarded by leader and partition epochs), producer id blocks, topic deletion, configs, reassignments.
//!
//! Soft state — when each broker last heartbeated and how far it has read the metadata log — lives only
//! here, not in the log: a newly active controller gives every registered broker a fresh session.

use std::borrow::Cow;
use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use super::image::MetadataImage;
use super::records::MetadataRecord;
use super::IdGenerator;
use crate::broker::BrokerConfig;

/// What handling a request produced: records to commit, then the answer.
#[derive(Debug)]
pub struct ControllerResult {
    pub records: Vec<MetadataRecord>,
    pub response: ResponseKind,
}

/// A broker's session, as the active controller tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Session {
    pub last_contact_ms: i64,
    /// The last metadata offset the broker said it applied.
    pub metadata_offset: i64,
}

/// Records being prepared, applied as they are added to a working copy of the image, so later decisions of
/// the same request see earlier ones.
#[derive(Debug)]
pub(super) struct Draft<'a> {
    pub image: Cow<'a, MetadataImage>,
    pub records: Vec<MetadataRecord>,
}

impl<'a> Draft<'a> {
    pub fn new(image: &'a MetadataImage) -> Self {
        Draft { image: Cow::Borrowed(image), records: Vec::new() }
    }

    pub fn push(&mut self, record: MetadataRecord) {
        self.image.to_mut().apply(&record);
        self.records.push(record);
    }

    pub fn extend(&mut self, records: impl IntoIterator<Item = MetadataRecord>) {
        for r in records {
            self.push(r);
        }
    }
}

/// The quorum controller.
#[derive(Debug)]
pub struct QuorumController {
    pub(super) config: BrokerConfig,
    pub(super) cluster_id: String,
    pub(super) rng: IdGenerator,
    pub(super) sessions: BTreeMap<i32, Session>,
    /// When the periodic leader balancing runs next.
    next_balance_ms: i64,
}

/// How often the periodic work (session expiry, offline partitions) runs.
pub const CONTROLLER_TICK_MS: i64 = 250;

impl QuorumController {
    pub fn new(config: BrokerConfig, cluster_id: String, seed: u64) -> Self {
        QuorumController {
            config,
            cluster_id,
            rng: IdGenerator::new(seed),
            sessions: BTreeMap::new(),
            next_balance_ms: i64::MAX,
        }
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// This controller became the active one. After a failover (`fresh_sessions`), every registered broker
    /// starts with a fresh session, as Kafka does, so none is fenced for silence that happened before; a
    /// controller that restarted with the whole cluster gives none (no broker is known to be alive).
    pub fn activate(&mut self, image: &MetadataImage, now_ms: i64, fresh_sessions: bool) {
        self.sessions = if fresh_sessions {
            image.brokers.keys().map(|id| (*id, Session { last_contact_ms: now_ms, metadata_offset: -1 })).collect()
        } else {
            BTreeMap::new()
        };
        self.next_balance_ms = now_ms.saturating_add(self.config.leader_imbalance_check_interval_seconds * 1000);
    }

    /// Handles one request against `image` (the committed image plus everything proposed before).
    pub fn handle(
        &mut self,
        image: &MetadataImage,
        request: RequestKind,
        version: i16,
        now_ms: i64,
    ) -> ControllerResult {
        let mut draft = Draft::new(image);
        let response = match request {
            RequestKind::BrokerRegistration(r) => {
                ResponseKind::BrokerRegistration(self.register_broker(&mut draft, r, now_ms))
            }
            RequestKind::BrokerHeartbeat(r) => ResponseKind::BrokerHeartbeat(self.heartbeat(&mut draft, r, now_ms)),
            RequestKind::UnregisterBroker(r) => ResponseKind::UnregisterBroker(self.unregister_broker(&mut draft, r)),
            RequestKind::AlterPartition(r) => {
                ResponseKind::AlterPartition(self.alter_partition(&mut draft, r, version))
            }
            RequestKind::AllocateProducerIds(r) => {
                ResponseKind::AllocateProducerIds(self.allocate_producer_ids(&mut draft, r))
            }
            RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(self.create_topics(&mut draft, r, version)),
            RequestKind::CreatePartitions(r) => ResponseKind::CreatePartitions(self.create_partitions(&mut draft, r)),
            RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(self.delete_topics(&mut draft, r, version)),
            RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(self.alter_configs(&mut draft, r)),
            RequestKind::IncrementalAlterConfigs(r) => {
                ResponseKind::IncrementalAlterConfigs(self.incremental_alter_configs(&mut draft, r))
            }
            RequestKind::ElectLeaders(r) => ResponseKind::ElectLeaders(self.elect_leaders(&mut draft, r, version)),
            RequestKind::AlterPartitionReassignments(r) => {
                ResponseKind::AlterPartitionReassignments(self.alter_reassignments(&mut draft, r))
            }
            RequestKind::ListPartitionReassignments(r) => {
                ResponseKind::ListPartitionReassignments(self.list_reassignments(&draft, r))
            }
            other => {
                return ControllerResult { records: Vec::new(), response: unsupported(&other) };
            }
        };
        ControllerResult { records: draft.records, response }
    }

    /// Time-driven decisions: fence brokers whose session expired, give offline partitions a leader when one
    /// qualifies, finish reassignments whose new replicas caught up, and (every
    /// `leader.imbalance.check.interval.seconds`) move leadership back to preferred replicas.
    pub fn tick(&mut self, image: &MetadataImage, now_ms: i64) -> Vec<MetadataRecord> {
        let mut draft = Draft::new(image);
        // A new cluster's first records: the metadata version its records follow, as Kafka's bootstrap writes.
        if !image.features.contains_key("metadata.version") {
            draft.push(MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: super::METADATA_VERSION_LEVEL,
            });
        }
        self.fence_expired_brokers(&mut draft, now_ms);
        self.elect_offline_leaders(&mut draft);
        self.complete_reassignments(&mut draft);
        if self.config.auto_leader_rebalance_enable && now_ms >= self.next_balance_ms {
            self.balance_leaders(&mut draft);
            self.next_balance_ms = now_ms.saturating_add(self.config.leader_imbalance_check_interval_seconds * 1000);
        }
        draft.records
    }

    /// Whether a broker may lead and join ISRs: registered, unfenced, not shutting down.
    pub(super) fn is_active(image: &MetadataImage, id: i32) -> bool {
        image.brokers.get(&id).is_some_and(|b| !b.fenced && !b.in_controlled_shutdown)
    }
}

/// The answer to a request this controller does not handle.
fn unsupported(request: &RequestKind) -> ResponseKind {
    let _ = request;
    ResponseKind::ApiVersions(
        kafka_protocol::messages::ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code()),
    )
}

/// The API keys the controller answers (what brokers forward or send to it).
pub const CONTROLLER_APIS: &[ApiKey] = &[
    ApiKey::BrokerRegistration,
    ApiKey::BrokerHeartbeat,
    ApiKey::UnregisterBroker,
    ApiKey::AlterPartition,
    ApiKey::AllocateProducerIds,
    ApiKey::CreateTopics,
    ApiKey::CreatePartitions,
    ApiKey::DeleteTopics,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::ElectLeaders,
    ApiKey::AlterPartitionReassignments,
    ApiKey::ListPartitionReassignments,
];

#[cfg(test)]
#[path = "quorum_tests.rs"]
mod tests;
