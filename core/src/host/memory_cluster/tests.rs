//! Three brokers and a controller in memory, driven with real request frames in virtual time: what Kafka does
//! when a leader dies, when too few replicas are left for `min.insync.replicas`, when brokers come back, when a
//! link between a leader and a follower is cut, and on a controlled shutdown.
#![allow(clippy::unwrap_used)]

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, ProduceRequest, ProduceResponse, TopicName};

use super::*;
use crate::host::broker::memory_config;
use crate::host::memory::tests::{frame, parse, NOW};
use crate::record::{BatchBuilder, Compression};

const TOPIC: &str = "orders";
/// Kafka's error codes the tests expect.
const NONE: i16 = 0;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const REQUEST_TIMED_OUT: i16 = 7;

/// A cluster and its virtual clock.
struct Harness {
    cluster: MemoryCluster,
    now: i64,
    correlation_id: i32,
}

impl Harness {
    fn start(entries: &[(&str, &str)]) -> Harness {
        let config = memory_config(entries).unwrap();
        let cluster = MemoryCluster::start(3, &config, 11, NOW).unwrap();
        let mut h = Harness { cluster, now: NOW, correlation_id: 0 };
        h.run_until("the brokers are unfenced", 30_000, |h| h.view().brokers.iter().all(|b| b.registered && !b.fenced));
        h
    }

    fn view(&self) -> ClusterView {
        self.cluster.view(false)
    }

    /// Runs the cluster's timers until `until_ms` after now, stepping from deadline to deadline.
    fn run_for(&mut self, ms: i64) {
        let end = self.now + ms;
        loop {
            let next = self.cluster.poll(self.now);
            if next > end {
                self.now = end;
                self.cluster.poll(end);
                return;
            }
            self.now = next.max(self.now);
        }
    }

    /// Runs until `done` holds (checked after every step); returns how long that took. Fails after `max_ms`.
    fn run_until(&mut self, what: &str, max_ms: i64, done: impl Fn(&Harness) -> bool) -> i64 {
        let start = self.now;
        loop {
            if done(self) {
                return self.now - start;
            }
            assert!(self.now - start <= max_ms, "{what}: not within {max_ms} ms; the cluster: {:#?}", self.view());
            // Step to the next deadline, at least 1 ms on.
            let next = self.cluster.poll(self.now);
            self.now = next.clamp(self.now + 1, start + max_ms + 1);
            self.cluster.poll(self.now);
        }
    }

    /// Submits a frame to broker `node` and returns the request id and its connection.
    fn submit(&mut self, node: i32, frame: Bytes) -> (ConnectionId, RequestId) {
        let conn = self.cluster.connect(node).unwrap();
        let request = self.cluster.submit(conn, frame, self.now).unwrap();
        (conn, request)
    }

    /// Waits for the answer to `request` (at most `max_ms`).
    fn answer(&mut self, request: RequestId, max_ms: i64) -> Vec<u8> {
        let start = self.now;
        let mut found = None;
        loop {
            for a in self.cluster.take_answers() {
                if a.request == request {
                    found = Some(a.frame.unwrap().unwrap());
                }
            }
            if let Some(frame) = found {
                return frame;
            }
            assert!(self.now - start <= max_ms, "no answer within {max_ms} ms");
            let next = self.cluster.poll(self.now);
            self.now = next.clamp(self.now + 1, start + max_ms + 1);
            self.cluster.poll(self.now);
        }
    }

    fn next_correlation_id(&mut self) -> i32 {
        self.correlation_id += 1;
        self.correlation_id
    }

    /// Creates the topic (one partition, three replicas, `min.insync.replicas=2`) through broker 1, which
    /// forwards it to the controller, and waits for every replica to exist.
    fn create_topic(&mut self) {
        let topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_num_partitions(1)
            .with_replication_factor(3)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("min.insync.replicas"))
                .with_value(Some(StrBytes::from_static_str("2")))]);
        let body = CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(10_000);
        let correlation_id = self.next_correlation_id();
        let (_, request) = self.submit(1, frame(ApiKey::CreateTopics, 7, correlation_id, &body));
        let answer = self.answer(request, 10_000);
        let (_, response): (_, CreateTopicsResponse) = parse(ApiKey::CreateTopics, 7, &answer);
        assert_eq!(response.topics[0].error_code, NONE, "{:?}", response.topics[0].error_message);
        self.run_until("every replica exists", 5_000, |h| {
            h.partition().logs.iter().all(|l| l.log_end_offset.is_some())
        });
    }

    fn partition(&self) -> ClusterPartitionView {
        self.view().topics.into_iter().find(|t| t.name == TOPIC).unwrap().partitions.remove(0)
    }

    /// Produces one record with acks=all to the partition's leader; returns (error code, base offset) once it
    /// is answered (within `timeout_ms`, the request's own timeout).
    fn produce(&mut self, value: &str, timeout_ms: i32) -> (i16, i64) {
        let leader = self.partition().leader;
        assert!(leader > 0, "the partition has a leader");
        let request = self.produce_async(leader, value, timeout_ms);
        self.produced(request, timeout_ms)
    }

    fn produce_async(&mut self, leader: i32, value: &str, timeout_ms: i32) -> RequestId {
        let mut batch = BatchBuilder::new(Compression::None);
        batch.append(self.now, None, Some(value.as_bytes()), &[]);
        let data =
            PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from(batch.build().unwrap())));
        let topic = TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_data(vec![data]);
        let body = ProduceRequest::default().with_acks(-1).with_timeout_ms(timeout_ms).with_topic_data(vec![topic]);
        let correlation_id = self.next_correlation_id();
        self.submit(leader, frame(ApiKey::Produce, 9, correlation_id, &body)).1
    }

    fn produced(&mut self, request: RequestId, timeout_ms: i32) -> (i16, i64) {
        let answer = self.answer(request, i64::from(timeout_ms) + 1_000);
        let (_, response): (_, ProduceResponse) = parse(ApiKey::Produce, 9, &answer);
        let p = &response.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    }

    /// Waits until every replica's log ends at `end` and knows the high watermark `end`.
    fn replicated(&mut self, end: i64, max_ms: i64) {
        self.run_until(&format!("every replica has {end} records and knows they are committed"), max_ms, |h| {
            let p = h.partition();
            p.high_watermark == end
                && p.logs.iter().all(|l| l.log_end_offset == Some(end) && l.high_watermark == Some(end))
        });
    }
}

fn sorted(mut ids: Vec<i32>) -> Vec<i32> {
    ids.sort_unstable();
    ids
}

#[test]
fn three_brokers_register_and_are_unfenced() {
    let h = Harness::start(&[]);
    let view = h.view();
    assert_eq!(view.controller.id, 4, "brokers are 1 to 3, the controller is node 4");
    assert_eq!(view.controller.state, NodeState::Running);
    assert_eq!(view.brokers.iter().map(|b| b.id).collect::<Vec<_>>(), vec![1, 2, 3]);
    for b in &view.brokers {
        assert_eq!(b.state, NodeState::Running);
        assert!(b.broker_epoch >= 0, "broker {} has its epoch", b.id);
        assert_eq!(b.metadata_offset, view.controller.metadata_offset, "broker {} has every record", b.id);
    }
    // The brokers agree on the cluster id the controller formatted its node with.
    for id in 1..=3 {
        assert_eq!(h.cluster.inspect(id, &InspectLimits::default()).unwrap().cluster_id, view.cluster_id);
    }
}

#[test]
fn acks_all_is_acknowledged_once_every_in_sync_replica_has_the_record() {
    let mut h = Harness::start(&[]);
    h.create_topic();
    let p = h.partition();
    assert_eq!(sorted(p.replicas.clone()), vec![1, 2, 3]);
    assert_eq!(sorted(p.isr.clone()), vec![1, 2, 3]);
    assert_eq!(p.high_watermark, 0);
    assert_eq!(h.view().topics[0].configs.get("min.insync.replicas").map(String::as_str), Some("2"));

    assert_eq!(h.produce("a", 5_000), (NONE, 0));
    // The leader answered once the high watermark passed the record: both followers have it.
    let p = h.partition();
    assert_eq!(p.high_watermark, 1);
    for l in &p.logs {
        assert_eq!(l.log_end_offset, Some(1), "replica on broker {}", l.broker);
    }
    // The followers learn the high watermark with their next fetch.
    h.replicated(1, 2_000);
    assert_eq!(h.produce("b", 5_000), (NONE, 1));
    h.replicated(2, 2_000);
    // What each broker holds, seen through inspect.
    let inspected = h.cluster.inspect(p.leader, &InspectLimits::default()).unwrap();
    let t = inspected.topics.iter().find(|t| t.name == TOPIC).unwrap();
    assert_eq!((t.partitions[0].high_watermark, t.partitions[0].log_end_offset), (2, 2));
}

#[test]
fn a_dead_leader_is_replaced_too_few_replicas_refuse_acks_all_and_restarted_brokers_rejoin() {
    let mut h = Harness::start(&[]);
    h.create_topic();
    assert_eq!(h.produce("a", 5_000), (NONE, 0));
    h.replicated(1, 2_000);
    let first = h.partition();
    let old_leader = first.leader;

    // The leader crashes. Nothing changes until the controller has not heard from it for
    // broker.session.timeout.ms (9 s since its last heartbeat, which was at most
    // broker.heartbeat.interval.ms = 2 s before the crash): then it is fenced, out of the ISR, and another
    // in-sync replica leads with the next leader epoch.
    h.cluster.kill(old_leader, h.now).unwrap();
    h.run_for(6_500);
    assert_eq!(h.partition().leader, old_leader, "no failover before the session expires");
    let took = 6_500 + h.run_until("a new leader", 5_000, |h| h.partition().leader != old_leader);
    let p = h.partition();
    assert!((7_000..=9_500).contains(&took), "failover {took} ms after the crash");
    assert!(p.leader > 0 && p.leader != old_leader);
    assert_eq!(p.leader_epoch, first.leader_epoch + 1);
    assert_eq!(p.isr.len(), 2, "the dead broker left the ISR: {:?}", p.isr);
    assert!(!p.isr.contains(&old_leader));
    let dead = h.view().brokers.into_iter().find(|b| b.id == old_leader).unwrap();
    assert!(dead.fenced && dead.state == NodeState::Killed);
    // Two in-sync replicas are enough for min.insync.replicas=2.
    assert_eq!(h.produce("b", 5_000), (NONE, 1));

    // A second broker crashes: once it is fenced the ISR is the leader alone, fewer than
    // min.insync.replicas, and the leader refuses acks=all writes without appending them.
    let new_leader = p.leader;
    let follower = p.isr.iter().copied().find(|r| *r != new_leader).unwrap();
    h.cluster.kill(follower, h.now).unwrap();
    h.run_until("the second dead broker leaves the ISR", 12_000, |h| h.partition().isr == vec![new_leader]);
    assert_eq!(h.partition().leader, new_leader);
    assert_eq!(h.produce("c", 5_000).0, NOT_ENOUGH_REPLICAS);
    let p = h.partition();
    let leader_log = p.logs.iter().find(|l| l.broker == new_leader).unwrap();
    assert_eq!(leader_log.log_end_offset, Some(2), "a refused write is not appended");

    // Both come back: they register, catch up from the leader and the leader takes them back into the ISR.
    h.cluster.restart(old_leader, h.now).unwrap();
    h.cluster.restart(follower, h.now).unwrap();
    h.run_until("the ISR grows back", 20_000, |h| sorted(h.partition().isr) == vec![1, 2, 3]);
    assert!(h.view().brokers.iter().all(|b| b.state == NodeState::Running && !b.fenced));
    assert_eq!(h.produce("d", 5_000), (NONE, 2));
    h.replicated(3, 5_000);
}

#[test]
fn a_follower_cut_off_from_its_leader_leaves_the_isr_after_the_lag_time_and_returns_when_healed() {
    let mut h = Harness::start(&[("replica.lag.time.max.ms", "10000")]);
    h.create_topic();
    assert_eq!(h.produce("a", 5_000), (NONE, 0));
    h.replicated(1, 2_000);
    let p = h.partition();
    let follower = p.isr.iter().copied().find(|r| *r != p.leader).unwrap();
    h.cluster.cut(p.leader, follower, h.now).unwrap();

    // A follower that has every record is in sync even while it cannot fetch (Kafka's isCaughtUp).
    h.run_for(15_000);
    assert_eq!(h.partition().isr.len(), 3);

    // A write it cannot fetch: it is out of sync as soon as it lacks a record and was last caught up more than
    // replica.lag.time.max.ms ago (here 15 s ago), so the leader drops it at its next ISR check (every half
    // of the lag time); acks=all waits for that, then the write is acknowledged by the other two.
    let request = h.produce_async(p.leader, "b", 30_000);
    assert!(h.cluster.take_answers().is_empty(), "acks=all waits for the ISR");
    let asked_at = h.now;
    assert_eq!(h.produced(request, 30_000), (NONE, 1));
    let waited = h.now - asked_at;
    assert!(waited <= 5_000, "acknowledged after {waited} ms");
    let now_isr = h.partition().isr;
    assert_eq!(now_isr.len(), 2, "{now_isr:?}");
    assert!(!now_isr.contains(&follower));
    // It is still a registered, unfenced broker: only its link to the leader is cut.
    assert!(h.view().brokers.iter().all(|b| !b.fenced));
    let lagging = h.partition().logs.into_iter().find(|l| l.broker == follower).unwrap();
    assert_eq!(lagging.log_end_offset, Some(1));

    h.cluster.heal(p.leader, follower, h.now).unwrap();
    h.run_until("the follower is back in the ISR", 10_000, |h| h.partition().isr.len() == 3);
    h.replicated(2, 5_000);

    // Cut again and write at once: the follower was caught up a moment ago, so the write waits the whole
    // lag time (and at most half of it more, for the next check) before the ISR shrinks.
    h.run_for(1_000);
    h.cluster.cut(p.leader, follower, h.now).unwrap();
    let asked_at = h.now;
    let request = h.produce_async(p.leader, "c", 30_000);
    assert_eq!(h.produced(request, 30_000), (NONE, 2));
    let waited = h.now - asked_at;
    assert!((9_000..=16_000).contains(&waited), "acknowledged after {waited} ms");
    assert_eq!(h.partition().isr.len(), 2);
}

#[test]
fn a_controlled_shutdown_moves_leadership_first() {
    let mut h = Harness::start(&[]);
    h.create_topic();
    assert_eq!(h.produce("a", 5_000), (NONE, 0));
    h.replicated(1, 2_000);
    let leader = h.partition().leader;
    h.cluster.stop(leader, h.now).unwrap();
    // No session has to expire: the controller moves leadership away as soon as the broker asks to leave.
    let took = h.run_until("the broker stops", 5_000, |h| h.cluster.state(leader) == Some(NodeState::Stopped));
    assert!(took < 9_000);
    let p = h.partition();
    assert_ne!(p.leader, leader);
    assert!(!p.isr.contains(&leader));
    assert_eq!(h.produce("b", 5_000), (NONE, 1));
    h.cluster.restart(leader, h.now).unwrap();
    h.run_until("the ISR grows back", 20_000, |h| h.partition().isr.len() == 3);
}

#[test]
fn brokers_cut_off_from_the_controller_are_fenced_and_come_back() {
    let mut h = Harness::start(&[]);
    h.create_topic();
    let leader = h.partition().leader;
    let controller = h.cluster.controller_id();
    h.cluster.cut(leader, controller, h.now).unwrap();
    h.run_until("the leader is fenced", 12_000, |h| h.view().brokers.iter().any(|b| b.id == leader && b.fenced));
    assert_ne!(h.partition().leader, leader, "a fenced broker leads nothing");
    h.cluster.heal(leader, controller, h.now).unwrap();
    h.run_until("it is unfenced and back in the ISR", 20_000, |h| {
        h.view().brokers.iter().all(|b| !b.fenced) && h.partition().isr.len() == 3
    });
}

#[test]
fn bad_node_ids_are_refused() {
    let mut h = Harness::start(&[]);
    assert!(h.cluster.cut(1, 1, h.now).is_err());
    assert!(h.cluster.cut(1, 9, h.now).is_err());
    assert!(h.cluster.kill(9, h.now).is_err());
    assert!(h.cluster.connect(9).is_err());
    h.cluster.kill(2, h.now).unwrap();
    assert_eq!(h.cluster.connect(2).map_err(|e| e.kind), Err(super::super::ErrorKind::Closed));
    let config = memory_config::<&str, &str>(&[]).unwrap();
    assert!(MemoryCluster::start(0, &config, 1, NOW).is_err());
    assert!(MemoryCluster::start(MAX_BROKERS + 1, &config, 1, NOW).is_err());
}

#[test]
fn without_the_controller_data_flows_but_the_isr_cannot_change() {
    let mut h = Harness::start(&[("replica.lag.time.max.ms", "4000")]);
    h.create_topic();
    let controller = h.cluster.controller_id();
    h.cluster.kill(controller, h.now).unwrap();
    // Leaders and followers need no controller to replicate.
    assert_eq!(h.produce("a", 5_000), (NONE, 0));
    h.replicated(1, 2_000);

    // A follower dies: its leader wants it out of the ISR, but only the controller can commit that. acks=all
    // keeps waiting for it and the request times out (REQUEST_TIMED_OUT), as in Kafka with no quorum.
    let p = h.partition();
    let follower = p.isr.iter().copied().find(|r| *r != p.leader).unwrap();
    h.cluster.kill(follower, h.now).unwrap();
    assert_eq!(h.produce("b", 8_000).0, REQUEST_TIMED_OUT);
    assert_eq!(h.partition().isr.len(), 3);

    // The controller comes back over its metadata log: every broker gets a fresh session, the dead one is
    // fenced when it expires, and the ISR shrinks; the write that timed out was appended, and is committed.
    h.cluster.restart(controller, h.now).unwrap();
    h.run_until("the dead follower leaves the ISR", 15_000, |h| h.partition().isr.len() == 2);
    assert_eq!(h.view().controller.state, NodeState::Running);
    assert_eq!(h.produce("c", 5_000), (NONE, 2));
    h.cluster.restart(follower, h.now).unwrap();
    h.run_until("it rejoins", 20_000, |h| h.partition().isr.len() == 3);
    h.replicated(3, 5_000);
}
