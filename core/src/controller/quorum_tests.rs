#![allow(clippy::unwrap_used)]

use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::broker_registration_request::Listener;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::*;

const CLUSTER: &str = "potok-test-cluster";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A controller and the image its committed records build.
struct Harness {
    ctl: QuorumController,
    image: MetadataImage,
    now: i64,
    epochs: BTreeMap<i32, i64>,
}

impl Harness {
    fn new(config: BrokerConfig) -> Self {
        let mut ctl = QuorumController::new(config, CLUSTER.into(), 42);
        let image = MetadataImage::default();
        ctl.activate(&image, 0, true);
        Harness { ctl, image, now: 0, epochs: BTreeMap::new() }
    }

    fn handle(&mut self, request: RequestKind, version: i16) -> ResponseKind {
        let result = self.ctl.handle(&self.image, request, version, self.now);
        for r in &result.records {
            self.image.apply(r);
        }
        result.response
    }

    fn tick(&mut self) -> usize {
        let records = self.ctl.tick(&self.image, self.now);
        for r in &records {
            self.image.apply(r);
        }
        records.len()
    }

    fn register(&mut self, id: i32, incarnation: u128) -> BrokerRegistrationResponse {
        let request = BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(id))
            .with_cluster_id(s(CLUSTER))
            .with_incarnation_id(Uuid::from_u128(incarnation))
            .with_listeners(vec![Listener::default()
                .with_name(s("PLAINTEXT"))
                .with_host(s("localhost"))
                .with_port(9090 + id as u16)]);
        let ResponseKind::BrokerRegistration(r) = self.handle(RequestKind::BrokerRegistration(request), 3) else {
            panic!()
        };
        if r.error_code == 0 {
            self.epochs.insert(id, r.broker_epoch);
        }
        r
    }

    fn heartbeat(&mut self, id: i32, want_shut_down: bool) -> BrokerHeartbeatResponse {
        let request = BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(id))
            .with_broker_epoch(self.epochs[&id])
            .with_current_metadata_offset(self.image.offset)
            .with_want_shut_down(want_shut_down);
        let ResponseKind::BrokerHeartbeat(r) = self.handle(RequestKind::BrokerHeartbeat(request), 1) else { panic!() };
        r
    }

    fn start_brokers(&mut self, ids: &[i32]) {
        for &id in ids {
            assert_eq!(self.register(id, id as u128).error_code, 0);
        }
        for &id in ids {
            let r = self.heartbeat(id, false);
            assert!(!r.is_fenced && r.is_caught_up, "broker {id}: {r:?}");
        }
    }

    fn create(&mut self, name: &str, partitions: i32, rf: i16) -> CreatableTopicResult {
        let topic = CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(rf);
        let request = CreateTopicsRequest::default().with_topics(vec![topic]);
        let ResponseKind::CreateTopics(r) = self.handle(RequestKind::CreateTopics(request), 7) else { panic!() };
        r.topics.into_iter().next().unwrap()
    }

    fn partitions(&self, topic: &str) -> Vec<PartitionImage> {
        self.image.topics[topic].partitions.clone()
    }
}

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;

use super::super::image::PartitionImage;

#[test]
fn brokers_register_fenced_and_are_unfenced_once_caught_up() {
    let mut h = Harness::new(BrokerConfig::default());
    let r = h.register(1, 1);
    assert_eq!(r.error_code, 0);
    assert!(h.image.brokers[&1].fenced);
    // A heartbeat from a broker that has not read its own registration yet keeps it fenced.
    let stale = BrokerHeartbeatRequest::default()
        .with_broker_id(BrokerId(1))
        .with_broker_epoch(r.broker_epoch)
        .with_current_metadata_offset(-1);
    let ResponseKind::BrokerHeartbeat(hb) = h.handle(RequestKind::BrokerHeartbeat(stale), 1) else { panic!() };
    assert!(hb.is_fenced && !hb.is_caught_up);
    let hb = h.heartbeat(1, false);
    assert!(!hb.is_fenced && hb.is_caught_up);
    assert!(!h.image.brokers[&1].fenced);
    // Wrong epoch, unknown broker, wrong cluster.
    let bad = BrokerHeartbeatRequest::default().with_broker_id(BrokerId(1)).with_broker_epoch(r.broker_epoch + 99);
    let ResponseKind::BrokerHeartbeat(hb) = h.handle(RequestKind::BrokerHeartbeat(bad), 1) else { panic!() };
    assert_eq!(hb.error_code, ResponseError::StaleBrokerEpoch.code());
    let unknown = BrokerHeartbeatRequest::default().with_broker_id(BrokerId(7));
    let ResponseKind::BrokerHeartbeat(hb) = h.handle(RequestKind::BrokerHeartbeat(unknown), 1) else { panic!() };
    assert_eq!(hb.error_code, ResponseError::BrokerIdNotRegistered.code());
    let other_cluster =
        BrokerRegistrationRequest::default().with_broker_id(BrokerId(2)).with_cluster_id(s("elsewhere"));
    let ResponseKind::BrokerRegistration(r) = h.handle(RequestKind::BrokerRegistration(other_cluster), 3) else {
        panic!()
    };
    assert_eq!(r.error_code, ResponseError::InconsistentClusterId.code());
    // Another incarnation of a live broker is a duplicate node id.
    assert_eq!(h.register(1, 99).error_code, ResponseError::DuplicateBrokerRegistration.code());
}

#[test]
fn topics_are_placed_across_brokers_with_leaders_balanced() {
    let mut h = Harness::new(BrokerConfig::default());
    h.start_brokers(&[1, 2, 3]);
    let r = h.create("invoice", 6, 3);
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let partitions = h.partitions("invoice");
    let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
    for p in &partitions {
        assert_eq!(p.replicas.iter().collect::<std::collections::BTreeSet<_>>().len(), 3);
        assert_eq!(p.isr.len(), 3);
        assert_eq!(p.leader, p.replicas[0]);
        *leaders.entry(p.leader).or_default() += 1;
    }
    assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2, 2, 2], "{leaders:?}");
    let r = h.create("too-wide", 1, 4);
    assert_eq!(r.error_code, ResponseError::InvalidReplicationFactor.code());
    assert_eq!(
        r.error_message.unwrap().as_str(),
        "Unable to replicate the partition 4 time(s): The target replication factor of 4 cannot be reached because only 3 broker(s) are registered."
    );
}

#[test]
fn a_silent_broker_is_fenced_and_its_leaderships_move() {
    let config = BrokerConfig { broker_session_timeout_ms: 9_000, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    h.start_brokers(&[1, 2, 3]);
    h.create("months", 7, 3);
    // Brokers 1 and 3 keep heartbeating; 2 goes quiet.
    for t in (1..=10).map(|s| s * 1000) {
        h.now = t;
        h.heartbeat(1, false);
        h.heartbeat(3, false);
        h.tick();
    }
    assert!(h.image.brokers[&2].fenced);
    for p in h.partitions("months") {
        assert_ne!(p.leader, 2, "{p:?}");
        assert!(!p.isr.contains(&2));
        assert!(p.leader == 1 || p.leader == 3);
    }
    // Broker 2 restarts: a new incarnation registers (its old session is gone), catches up, is unfenced; it
    // leads nothing until it is back in an ISR.
    assert_eq!(h.register(2, 22).error_code, 0);
    assert!(!h.heartbeat(2, false).is_fenced);
    assert!(h.partitions("months").iter().all(|p| p.leader != 2));
}

#[test]
fn controlled_shutdown_moves_leaders_then_lets_the_broker_go() {
    let mut h = Harness::new(BrokerConfig::default());
    h.start_brokers(&[1, 2, 3]);
    h.create("t", 6, 3);
    let led_by_1 = h.partitions("t").iter().filter(|p| p.leader == 1).count();
    assert!(led_by_1 > 0);
    let r = h.heartbeat(1, true);
    assert!(r.should_shut_down, "its leaderships moved at once: {r:?}");
    assert!(h.partitions("t").iter().all(|p| p.leader != 1 && !p.isr.contains(&1)));
    assert!(h.image.brokers[&1].fenced);
}

#[test]
fn the_last_in_sync_replica_leaving_takes_the_partition_offline_unless_unclean_elections_are_allowed() {
    let mut h = Harness::new(BrokerConfig { broker_session_timeout_ms: 1_000, ..BrokerConfig::default() });
    h.start_brokers(&[1, 2]);
    h.create("t", 1, 2);
    let p = &h.partitions("t")[0];
    let leader = p.leader;
    let follower = if leader == 1 { 2 } else { 1 };
    // The leader shrinks the ISR to itself (the follower lagged).
    alter_isr(&mut h, "t", 0, vec![leader]);
    assert_eq!(h.partitions("t")[0].isr, vec![leader]);
    // Then the leader goes silent: no in-sync replica is left, so the partition goes offline.
    h.now = 5_000;
    h.heartbeat(follower, false);
    h.tick();
    let p = &h.partitions("t")[0];
    assert_eq!((p.leader, p.isr.clone()), (-1, vec![leader]), "the ISR keeps its last member");
    // With unclean elections allowed on the topic, the live replica takes over, alone, recovering.
    let configs = IncrementalAlterConfigsRequest::default().with_resources(vec![
        kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("t"))
            .with_configs(vec![kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig::default(
            )
            .with_name(s("unclean.leader.election.enable"))
            .with_config_operation(0)
            .with_value(Some(s("true")))]),
    ]);
    h.handle(RequestKind::IncrementalAlterConfigs(configs), 1);
    h.tick();
    let p = &h.partitions("t")[0];
    assert_eq!((p.leader, p.isr.clone(), p.leader_recovery_state), (follower, vec![follower], 1));
}

fn alter_isr(h: &mut Harness, topic: &str, partition: i32, isr: Vec<i32>) -> AlterPartitionResponse {
    let p = h.image.topics[topic].partitions[partition as usize].clone();
    let id = h.image.topics[topic].id;
    let request = AlterPartitionRequest::default()
        .with_broker_id(BrokerId(p.leader))
        .with_broker_epoch(h.epochs[&p.leader])
        .with_topics(vec![TopicData::default().with_topic_id(id).with_partitions(vec![PartitionData::default()
            .with_partition_index(partition)
            .with_leader_epoch(p.leader_epoch)
            .with_partition_epoch(p.partition_epoch)
            .with_new_isr_with_epochs(
                isr.iter().map(|b| BrokerState::default().with_broker_id(BrokerId(*b)).with_broker_epoch(-1)).collect(),
            )])]);
    let ResponseKind::AlterPartition(r) = h.handle(RequestKind::AlterPartition(request), 3) else { panic!() };
    r
}

#[test]
fn isr_changes_need_the_current_leader_and_epochs() {
    let mut h = Harness::new(BrokerConfig::default());
    h.start_brokers(&[1, 2, 3]);
    h.create("t", 1, 3);
    let p = h.partitions("t")[0].clone();
    let shrunk: Vec<i32> = p.isr.iter().copied().filter(|r| *r != p.replicas[2]).collect();
    let r = alter_isr(&mut h, "t", 0, shrunk.clone());
    let result = &r.topics[0].partitions[0];
    assert_eq!(result.error_code, 0);
    assert_eq!(result.partition_epoch, p.partition_epoch + 1);
    assert_eq!(h.partitions("t")[0].isr, shrunk);
    // The same request again carries an old partition epoch.
    let id = h.image.topics["t"].id;
    let stale = AlterPartitionRequest::default()
        .with_broker_id(BrokerId(p.leader))
        .with_broker_epoch(h.epochs[&p.leader])
        .with_topics(vec![TopicData::default().with_topic_id(id).with_partitions(vec![PartitionData::default()
            .with_leader_epoch(p.leader_epoch)
            .with_partition_epoch(p.partition_epoch)
            .with_new_isr_with_epochs(vec![BrokerState::default()
                .with_broker_id(BrokerId(p.leader))
                .with_broker_epoch(-1)])])]);
    let ResponseKind::AlterPartition(r) = h.handle(RequestKind::AlterPartition(stale), 3) else { panic!() };
    assert_eq!(r.topics[0].partitions[0].error_code, ResponseError::InvalidUpdateVersion.code());
    // A fenced broker may not join the ISR.
    let lagging = p.replicas[2];
    h.now = 60_000;
    for b in [1, 2, 3].into_iter().filter(|b| *b != lagging) {
        h.heartbeat(b, false);
    }
    h.tick();
    let mut grown = shrunk.clone();
    grown.push(lagging);
    let r = alter_isr(&mut h, "t", 0, grown);
    assert_eq!(r.topics[0].partitions[0].error_code, ResponseError::IneligibleReplica.code());
}

#[test]
fn preferred_leaders_come_back_and_reassignments_complete_when_new_replicas_catch_up() {
    let config = BrokerConfig { leader_imbalance_check_interval_seconds: 1, ..BrokerConfig::default() };
    let mut h = Harness::new(config);
    h.start_brokers(&[1, 2, 3, 4]);
    h.create("t", 1, 2);
    let p = h.partitions("t")[0].clone();
    let preferred = p.replicas[0];
    // The preferred leader shuts down and comes back; it rejoins the ISR; balancing gives it leadership back.
    h.heartbeat(preferred, true);
    assert_ne!(h.partitions("t")[0].leader, preferred);
    assert_eq!(h.register(preferred, 77).error_code, 0);
    h.heartbeat(preferred, false);
    let mut isr = h.partitions("t")[0].isr.clone();
    isr.push(preferred);
    assert_eq!(alter_isr(&mut h, "t", 0, isr).topics[0].partitions[0].error_code, 0);
    h.now += 2_000;
    for b in 1..=4 {
        h.heartbeat(b, false);
    }
    h.tick();
    assert_eq!(h.partitions("t")[0].leader, preferred, "{:?}", h.partitions("t")[0]);
    // Reassign to two other brokers: they are added, catch up (join the ISR), then the old replicas leave.
    let target: Vec<i32> = (1..=4).filter(|b| !p.replicas.contains(b)).collect();
    use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
    let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![ReassignableTopic::default()
        .with_name(TopicName(s("t")))
        .with_partitions(vec![ReassignablePartition::default()
            .with_partition_index(0)
            .with_replicas(Some(target.iter().map(|b| BrokerId(*b)).collect()))])]);
    let ResponseKind::AlterPartitionReassignments(r) = h.handle(RequestKind::AlterPartitionReassignments(request), 0)
    else {
        panic!()
    };
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    let moving = h.partitions("t")[0].clone();
    assert_eq!(moving.adding_replicas, target);
    assert_eq!(moving.replicas.len(), 4);
    let list = ListPartitionReassignmentsRequest::default();
    let ResponseKind::ListPartitionReassignments(l) = h.handle(RequestKind::ListPartitionReassignments(list), 0) else {
        panic!()
    };
    assert_eq!(l.topics.len(), 1);
    let mut isr = moving.isr.clone();
    isr.extend(&target);
    alter_isr(&mut h, "t", 0, isr);
    let done = h.partitions("t")[0].clone();
    assert_eq!(done.replicas, target, "{done:?}");
    assert!(done.adding_replicas.is_empty() && done.removing_replicas.is_empty());
    assert!(target.contains(&done.leader));
    assert!(done.isr.iter().all(|r| target.contains(r)));
}

fn reassign(h: &mut Harness, topic: &str, target: Option<&[i32]>, allow_rf_change: bool) -> (i16, Option<String>) {
    use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
    let request = AlterPartitionReassignmentsRequest::default()
        .with_allow_replication_factor_change(allow_rf_change)
        .with_topics(vec![ReassignableTopic::default().with_name(TopicName(s(topic))).with_partitions(vec![
            ReassignablePartition::default()
                .with_partition_index(0)
                .with_replicas(target.map(|t| t.iter().map(|b| BrokerId(*b)).collect())),
        ])]);
    let ResponseKind::AlterPartitionReassignments(r) = h.handle(RequestKind::AlterPartitionReassignments(request), 1)
    else {
        panic!()
    };
    let p = &r.responses[0].partitions[0];
    (p.error_code, p.error_message.as_ref().map(|m| m.to_string()))
}

#[test]
fn a_reassignment_may_be_told_to_keep_the_replication_factor() {
    let mut h = Harness::new(BrokerConfig::default());
    h.start_brokers(&[1, 2, 3, 4]);
    h.create("t", 1, 2);
    let current = h.partitions("t")[0].replicas.clone();
    let others: Vec<i32> = (1..=4).filter(|b| !current.contains(b)).collect();
    // Version 1 with allowReplicationFactorChange=false (kafka-reassign-partitions
    // --disallow-replication-factor-change): RF 2 to 3 is refused as Kafka refuses it, and nothing changes.
    let grown = [current[0], current[1], others[0]];
    let (code, message) = reassign(&mut h, "t", Some(&grown), false);
    assert_eq!(code, ResponseError::InvalidReplicationFactor.code());
    assert_eq!(message.as_deref(), Some("The replication factor is changed from 2 to 3"));
    assert_eq!(h.partitions("t")[0].replicas, current);
    // The same number of replicas elsewhere is fine; while that move is in progress (4 replicas listed), the
    // factor compared is still 2.
    assert_eq!(reassign(&mut h, "t", Some(&others), false).0, 0);
    assert_eq!(h.partitions("t")[0].replicas.len(), 4);
    assert_eq!(reassign(&mut h, "t", Some(&[others[1], others[0]]), false).0, 0);
    assert_eq!(reassign(&mut h, "t", Some(&grown), false).0, ResponseError::InvalidReplicationFactor.code());
    // Allowed (the default, and what version 0 means): the factor may change.
    assert_eq!(reassign(&mut h, "t", Some(&grown), true).0, 0);
    // Cancelling takes the partition back to where it was before the moves.
    assert_eq!(reassign(&mut h, "t", None, true).0, 0);
    let back = h.partitions("t")[0].clone();
    assert_eq!(back.replicas, current);
    assert!(back.adding_replicas.is_empty() && back.removing_replicas.is_empty());
    assert_eq!(reassign(&mut h, "t", None, true).0, ResponseError::NoReassignmentInProgress.code());
}

fn elect(h: &mut Harness, election_type: i8, partitions: Option<&[(&str, i32)]>) -> ElectLeadersResponse {
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
    let topic_partitions = partitions.map(|ps| {
        ps.iter()
            .map(|(t, p)| TopicPartitions::default().with_topic(TopicName(s(t))).with_partitions(vec![*p]))
            .collect()
    });
    let request =
        ElectLeadersRequest::default().with_election_type(election_type).with_topic_partitions(topic_partitions);
    let ResponseKind::ElectLeaders(r) = h.handle(RequestKind::ElectLeaders(request), 2) else { panic!() };
    r
}

/// (topic, partition, error code, error message) of each result.
fn election_results(r: &ElectLeadersResponse) -> Vec<(String, i32, i16, Option<String>)> {
    r.replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result.iter().map(|p| {
                (t.topic.0.to_string(), p.partition_id, p.error_code, p.error_message.as_ref().map(|m| m.to_string()))
            })
        })
        .collect()
}

#[test]
fn elect_leaders_answers_as_kafkas_controller() {
    const PREFERRED: i8 = 0;
    const UNCLEAN: i8 = 1;
    let mut h = Harness::new(BrokerConfig { auto_leader_rebalance_enable: false, ..BrokerConfig::default() });
    h.start_brokers(&[1, 2, 3]);
    h.create("t", 1, 3);
    let preferred = h.partitions("t")[0].replicas[0];
    // Nothing to do: ELECTION_NOT_NEEDED, without a message, for a named partition; left out for "all".
    let r = elect(&mut h, PREFERRED, Some(&[("t", 0)]));
    assert_eq!(election_results(&r), vec![("t".into(), 0, ResponseError::ElectionNotNeeded.code(), None)]);
    assert!(election_results(&elect(&mut h, PREFERRED, None)).is_empty());
    // Unknown topics and partitions are named in the message, as Kafka's controller names them.
    let r = elect(&mut h, PREFERRED, Some(&[("nope", 0), ("t", 7)]));
    let code = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(
        election_results(&r),
        vec![
            ("nope".into(), 0, code, Some("No such topic as nope".into())),
            ("t".into(), 7, code, Some("No such partition as t-7".into())),
        ]
    );
    // The preferred leader shuts down: its partition moves, and a preferred election cannot bring it back.
    h.heartbeat(preferred, true);
    assert_ne!(h.partitions("t")[0].leader, preferred);
    let r = elect(&mut h, PREFERRED, Some(&[("t", 0)]));
    assert_eq!(election_results(&r), vec![("t".into(), 0, ResponseError::PreferredLeaderNotAvailable.code(), None)]);
    // An unclean election with a live leader is not needed either.
    let r = elect(&mut h, UNCLEAN, Some(&[("t", 0)]));
    assert_eq!(election_results(&r), vec![("t".into(), 0, ResponseError::ElectionNotNeeded.code(), None)]);
    // Back and in sync, the preferred replica takes over on request (auto balancing is off here).
    assert_eq!(h.register(preferred, 99).error_code, 0);
    h.heartbeat(preferred, false);
    let mut isr = h.partitions("t")[0].isr.clone();
    isr.push(preferred);
    assert_eq!(alter_isr(&mut h, "t", 0, isr).topics[0].partitions[0].error_code, 0);
    h.now += 600_000;
    for b in 1..=3 {
        h.heartbeat(b, false);
    }
    h.tick();
    assert_ne!(h.partitions("t")[0].leader, preferred, "auto.leader.rebalance.enable=false moved the leader");
    let r = elect(&mut h, PREFERRED, None);
    assert_eq!(election_results(&r), vec![("t".into(), 0, 0, None)]);
    assert_eq!(h.partitions("t")[0].leader, preferred);
}

/// Found by the cluster simulation (seed 10 of `tests/simulation.rs` with reassignments): a reassignment replaced
/// while another is in progress left a replica that was being added, and had joined the ISR, in the ISR but no
/// longer among the replicas. Kafka starts a new reassignment from the whole replica list, so that replica is
/// one the new move removes: it leaves the replicas and the ISR together when the move completes.
#[test]
fn a_reassignment_that_replaces_one_in_progress_keeps_the_isr_among_the_replicas() {
    use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
    let mut h = Harness::new(BrokerConfig::default());
    h.start_brokers(&[1, 2, 3, 4, 5]);
    h.create("t", 1, 3);
    let original = h.partitions("t")[0].replicas.clone();
    let reassign = |h: &mut Harness, target: &[i32]| {
        let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![ReassignableTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(0)
                .with_replicas(Some(target.iter().map(|b| BrokerId(*b)).collect()))])]);
        let ResponseKind::AlterPartitionReassignments(r) =
            h.handle(RequestKind::AlterPartitionReassignments(request), 0)
        else {
            panic!()
        };
        assert_eq!(r.responses[0].partitions[0].error_code, 0);
    };
    // Move to the two brokers it is not on plus one it is on; one of the new ones catches up (joins the ISR)
    // before the other does.
    let new: Vec<i32> = (1..=5).filter(|b| !original.contains(b)).collect();
    let first = vec![original[0], new[0], new[1]];
    reassign(&mut h, &first);
    let mut isr = h.partitions("t")[0].isr.clone();
    isr.push(new[1]);
    assert_eq!(alter_isr(&mut h, "t", 0, isr).topics[0].partitions[0].error_code, 0);
    let moving = h.partitions("t")[0].clone();
    assert!(moving.isr.contains(&new[1]) && moving.adding_replicas.contains(&new[0]), "{moving:?}");
    // A new reassignment leaves out the replica that already caught up: it is removed like the old replicas,
    // and stays a replica (and in the ISR) until the move completes.
    let second = vec![original[0], original[1], new[0]];
    reassign(&mut h, &second);
    let p = h.partitions("t")[0].clone();
    assert!(p.isr.iter().all(|r| p.replicas.contains(r)), "the ISR is among the replicas: {p:?}");
    assert!(p.removing_replicas.contains(&new[1]), "{p:?}");
    // Once the replica still being added is in sync, the move completes on the new target.
    let mut isr = p.isr.clone();
    isr.push(new[0]);
    assert_eq!(alter_isr(&mut h, "t", 0, isr).topics[0].partitions[0].error_code, 0);
    let done = h.partitions("t")[0].clone();
    assert_eq!(done.replicas, second, "{done:?}");
    assert!(done.adding_replicas.is_empty() && done.removing_replicas.is_empty());
    assert!(done.isr.iter().all(|r| second.contains(r)) && !done.isr.contains(&new[1]), "{done:?}");
}

/// Found by the cluster simulation (seed 27 of `tests/simulation.rs`): a reassignment with nothing to add —
/// here a move to two of the three replicas, neither in sync — was completed at once although none of the new
/// replicas was in sync, which left the partition with no leader and an ISR (its last member, the replica being
/// removed) outside the replicas: the only up-to-date copy was being dropped. As in Kafka, a reassignment
/// completes only once the ISR has a member among the new replicas.
#[test]
fn a_reassignment_completes_only_with_an_in_sync_replica_among_the_new_ones() {
    let mut h = Harness::new(BrokerConfig::default());
    h.start_brokers(&[1, 2, 3]);
    h.create("t", 1, 3);
    let p = h.partitions("t")[0].clone();
    let leader = p.leader;
    let others: Vec<i32> = p.replicas.iter().copied().filter(|r| *r != leader).collect();
    // The followers fall out of the ISR; then the partition is moved to them (allowed to change the factor).
    assert_eq!(alter_isr(&mut h, "t", 0, vec![leader]).topics[0].partitions[0].error_code, 0);
    assert_eq!(reassign(&mut h, "t", Some(&others), true).0, 0);
    let p = h.partitions("t")[0].clone();
    assert!(p.isr.iter().all(|r| p.replicas.contains(r)), "the ISR is among the replicas: {p:?}");
    assert_eq!((p.leader, p.removing_replicas.clone()), (leader, vec![leader]), "the old leader still leads: {p:?}");
    // A new replica catches up: the move completes, and it leads.
    assert_eq!(alter_isr(&mut h, "t", 0, vec![leader, others[0]]).topics[0].partitions[0].error_code, 0);
    let done = h.partitions("t")[0].clone();
    assert_eq!(done.replicas, others, "{done:?}");
    assert_eq!((done.leader, done.isr.clone()), (others[0], vec![others[0]]), "{done:?}");
}
