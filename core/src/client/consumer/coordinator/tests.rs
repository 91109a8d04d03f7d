//! The group membership in virtual time: time, the application's polls and the coordinator's answers are fed
//! in, and each test asserts on the actions the machine emits. No clock, socket or runtime is involved.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::BrokerId;

use super::*;
use crate::client::assignor::{CooperativeStickyAssignor, RangeAssignor};
use crate::client::find_coordinator_for_version;

const HEARTBEAT_MS: u64 = 3_000;
const SESSION_MS: u64 = 45_000;
const POLL_INTERVAL_MS: u64 = 300_000;
const BACKOFF_MS: u64 = 100;
const AUTO_COMMIT_MS: u64 = 5_000;
const COORDINATOR: i32 = 7;

fn config(assignor: Arc<dyn Assignor>) -> CoordinatorConfig {
    CoordinatorConfig {
        group_id: "g".into(),
        group_instance_id: None,
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: POLL_INTERVAL_MS,
        heartbeat_interval_ms: HEARTBEAT_MS,
        assignors: vec![assignor],
        client_rack: None,
        retry_backoff_ms: BACKOFF_MS,
        retry_backoff_max_ms: 1_000,
        auto_commit_interval_ms: Some(AUTO_COMMIT_MS),
    }
}

fn eager() -> ConsumerCoordinator {
    ConsumerCoordinator::new(config(Arc::new(RangeAssignor)))
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn topics() -> Vec<String> {
    vec!["t".to_string()]
}

/// The requests among actions, with their ids and nodes.
fn sends(actions: &[Action]) -> Vec<(RequestId, Option<i32>, &Request)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { id, node, request, .. } => Some((*id, *node, request)),
            _ => None,
        })
        .collect()
}

/// The only request among actions, which must be of kind `kind` (checked by the caller's match).
fn only_send(actions: &[Action]) -> (RequestId, Option<i32>, Request) {
    let s = sends(actions);
    assert_eq!(s.len(), 1, "expected one request in {actions:?}");
    (s[0].0, s[0].1, s[0].2.clone())
}

fn callbacks(actions: &[Action]) -> Vec<&Action> {
    actions.iter().filter(|a| !matches!(a, Action::Send { .. })).collect()
}

fn found(node: i32) -> Result<Response, ClientError> {
    Ok(Response::FindCoordinator(FindCoordinatorResponse::default().with_coordinators(vec![Coordinator::default()
            .with_key(sb("g"))
            .with_node_id(BrokerId(node))
            .with_host(sb("127.0.0.1"))
            .with_port(9092)])))
}

fn find_failed(code: i16) -> Result<Response, ClientError> {
    Ok(Response::FindCoordinator(
        FindCoordinatorResponse::default().with_coordinators(vec![Coordinator::default().with_error_code(code)]),
    ))
}

fn subscription_bytes(topics: &[&str]) -> Bytes {
    let s = Subscription::new(topics.iter().copied());
    Bytes::from(encode_subscription(&s, SUBSCRIPTION_VERSION).expect("subscription encodes"))
}

/// A JoinGroup answer for `member` in `generation`, led by `leader`, listing `members` when this one leads.
fn joined(member: &str, generation: i32, leader: &str, members: &[(&str, &[&str])]) -> Result<Response, ClientError> {
    Ok(Response::JoinGroup(
        JoinGroupResponse::default()
            .with_member_id(sb(member))
            .with_generation_id(generation)
            .with_leader(sb(leader))
            .with_protocol_name(Some(sb("range")))
            .with_members(
                members
                    .iter()
                    .map(|(m, ts)| {
                        JoinGroupResponseMember::default().with_member_id(sb(m)).with_metadata(subscription_bytes(ts))
                    })
                    .collect(),
            ),
    ))
}

fn join_error(code: i16, member: &str) -> Result<Response, ClientError> {
    Ok(Response::JoinGroup(JoinGroupResponse::default().with_error_code(code).with_member_id(sb(member))))
}

fn synced(partitions: &[TopicPartition]) -> Result<Response, ClientError> {
    let bytes =
        encode_assignment(&Assignment { partitions: partitions.to_vec(), user_data: None }, SUBSCRIPTION_VERSION)
            .expect("assignment encodes");
    Ok(Response::SyncGroup(SyncGroupResponse::default().with_assignment(Bytes::from(bytes))))
}

fn sync_error(code: i16) -> Result<Response, ClientError> {
    Ok(Response::SyncGroup(SyncGroupResponse::default().with_error_code(code)))
}

fn heartbeat(code: i16) -> Result<Response, ClientError> {
    Ok(Response::Heartbeat(HeartbeatResponse::default().with_error_code(code)))
}

fn join_member_id(request: &Request) -> String {
    match request {
        Request::JoinGroup(r) => r.member_id.to_string(),
        other => panic!("expected a JoinGroup, got {other:?}"),
    }
}

/// Runs a follower's join to the end at `now`: coordinator found, JoinGroup answered with generation
/// `generation`, SyncGroup answered with `partitions`; returns the actions of the poll that hands them out.
fn join_as_follower(
    c: &mut ConsumerCoordinator,
    now: u64,
    generation: i32,
    partitions: &[TopicPartition],
) -> Vec<Action> {
    let mut actions = c.poll_consumer(now, Some(&topics()));
    if c.coordinator().is_none() {
        let (id, node, request) = only_send(&actions);
        assert!(matches!(request, Request::FindCoordinator(_)) && node.is_none());
        actions = c.on_response(id, now, found(COORDINATOR));
        assert!(actions.is_empty());
        actions = c.poll(now);
    }
    let (id, node, request) = only_send(&actions);
    assert_eq!(node, Some(COORDINATOR));
    assert!(matches!(request, Request::JoinGroup(_)), "{request:?}");
    let actions = c.on_response(id, now, joined("m1", generation, "leader", &[]));
    let (id, _, request) = only_send(&actions);
    let Request::SyncGroup(sync) = request else { panic!("expected a SyncGroup: {request:?}") };
    assert!(sync.assignments.is_empty(), "a follower sends no assignment");
    assert_eq!(sync.generation_id, generation);
    assert!(c.on_response(id, now, synced(partitions)).is_empty());
    c.poll_consumer(now, Some(&topics()))
}

#[test]
fn a_leader_joins_after_member_id_required_and_assigns_with_the_range_assignor() {
    let mut c = eager();
    assert_eq!(c.next_deadline_ms(), None, "nothing to do before the application polls");
    let actions = c.poll_consumer(0, Some(&topics()));
    let (id, node, request) = only_send(&actions);
    assert_eq!(node, None, "FindCoordinator goes to any broker");
    let Request::FindCoordinator(find) = &request else { panic!("{request:?}") };
    assert_eq!(find.key.as_str(), "g");
    assert!(c.on_response(id, 1, found(COORDINATOR)).is_empty());
    assert_eq!(c.coordinator(), Some(COORDINATOR));

    // The first JoinGroup has no member id; the coordinator hands one out and asks for a second join.
    let (id, node, request) = only_send(&c.poll(1));
    assert_eq!(node, Some(COORDINATOR));
    assert_eq!(join_member_id(&request), "");
    assert!(sends(&c.poll_consumer(1, Some(&topics()))).is_empty(), "a join in flight is not sent twice");
    assert!(c.on_response(id, 2, join_error(MEMBER_ID_REQUIRED, "m1")).is_empty());
    let actions = c.poll(2);
    let (id, _, request) = only_send(&actions);
    assert_eq!(join_member_id(&request), "m1", "the second JoinGroup carries the id the coordinator gave");
    let Action::Send { timeout_ms, .. } = &actions[0] else { unreachable!() };
    assert_eq!(*timeout_ms, Some(POLL_INTERVAL_MS + JOIN_TIMEOUT_EXTRA_MS), "a JoinGroup waits for the rebalance");

    // As the leader, the member looks the subscribed topics up and assigns them.
    let actions = c.on_response(id, 3, joined("m1", 4, "m1", &[("m1", &["t"]), ("m2", &["t"])]));
    let (id, node, request) = only_send(&actions);
    assert_eq!(node, None);
    assert_eq!(request, Request::Metadata { topics: topics() });
    let mut counts = BTreeMap::new();
    counts.insert("t".to_string(), 4);
    let actions = c.on_response(id, 4, Ok(Response::Metadata(counts)));
    let (id, node, request) = only_send(&actions);
    assert_eq!(node, Some(COORDINATOR));
    let Request::SyncGroup(sync) = request else { panic!("expected a SyncGroup") };
    assert_eq!(sync.generation_id, 4);
    assert_eq!(sync.member_id.as_str(), "m1");
    let mut by_member: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
    for a in &sync.assignments {
        let decoded = decode_assignment(&a.assignment).expect("assignment decodes");
        by_member.insert(a.member_id.to_string(), decoded.partitions);
    }
    assert_eq!(by_member["m1"], vec![tp("t", 0), tp("t", 1)]);
    assert_eq!(by_member["m2"], vec![tp("t", 2), tp("t", 3)]);

    assert!(c.on_response(id, 5, synced(&[tp("t", 0), tp("t", 1)])).is_empty());
    assert_eq!(c.state(), MemberState::Stable);
    assert!(!c.is_stable(), "the assignment is handed out by the application's poll");
    let actions = c.poll_consumer(6, Some(&topics()));
    let mut expected_counts = BTreeMap::new();
    expected_counts.insert("t".to_string(), 4usize);
    assert_eq!(
        callbacks(&actions),
        vec![&Action::Assign {
            partitions: vec![tp("t", 0), tp("t", 1)],
            added: vec![tp("t", 0), tp("t", 1)],
            assigned_with: Some(expected_counts),
        }]
    );
    assert!(c.is_stable());
    assert_eq!(c.commit_identity(), (4, "m1".to_string()));
}

#[test]
fn a_stable_member_heartbeats_every_interval_and_rejoins_when_the_coordinator_says_rebalance() {
    let mut c = eager();
    join_as_follower(&mut c, 0, 1, &[tp("t", 0)]);
    assert_eq!(c.next_deadline_ms(), Some(HEARTBEAT_MS));
    assert!(c.poll(HEARTBEAT_MS - 1).is_empty());
    let (id, node, request) = only_send(&c.poll(HEARTBEAT_MS));
    assert_eq!(node, Some(COORDINATOR));
    let Request::Heartbeat(h) = request else { panic!("expected a heartbeat") };
    assert_eq!((h.generation_id, h.member_id.as_str()), (1, "m1"));
    assert!(c.poll(HEARTBEAT_MS + 1).is_empty(), "one heartbeat in flight at a time");
    assert!(c.on_response(id, HEARTBEAT_MS + 5, heartbeat(0)).is_empty());
    assert_eq!(c.next_deadline_ms(), Some(2 * HEARTBEAT_MS));

    let (id, _, _) = only_send(&c.poll(2 * HEARTBEAT_MS));
    c.on_response(id, 2 * HEARTBEAT_MS, heartbeat(REBALANCE_IN_PROGRESS));
    assert!(c.rebalancing());
    // Heartbeats go on until the application's poll rejoins...
    let (id, _, request) = only_send(&c.poll(3 * HEARTBEAT_MS));
    assert!(matches!(request, Request::Heartbeat(_)));
    c.on_response(id, 3 * HEARTBEAT_MS, heartbeat(REBALANCE_IN_PROGRESS));
    // ...which (eager) commits and revokes everything before it sends JoinGroup with its member id.
    let now = 3 * HEARTBEAT_MS + 10;
    let actions = c.poll_consumer(now, Some(&topics()));
    assert!(matches!(actions[0], Action::Revoke { ref partitions, commit: true } if partitions == &[tp("t", 0)]));
    let (_, _, request) = only_send(&actions);
    assert_eq!(join_member_id(&request), "m1");
    assert_eq!(c.commit_identity(), (1, "m1".to_string()), "the revoke commits with the generation it owned in");
    assert!(c.poll(now + 10 * HEARTBEAT_MS).is_empty(), "no heartbeats while joining");
}

#[test]
fn a_moved_coordinator_is_looked_up_again() {
    let mut c = eager();
    join_as_follower(&mut c, 0, 1, &[tp("t", 0)]);
    let (id, _, _) = only_send(&c.poll(HEARTBEAT_MS));
    c.on_response(id, HEARTBEAT_MS, heartbeat(NOT_COORDINATOR));
    assert_eq!(c.coordinator(), None);
    let (id, node, request) = only_send(&c.poll(HEARTBEAT_MS));
    assert!(matches!(request, Request::FindCoordinator(_)) && node.is_none());
    c.on_response(id, HEARTBEAT_MS + 1, found(8));
    let (_, node, request) = only_send(&c.poll(HEARTBEAT_MS + 1));
    assert!(matches!(request, Request::Heartbeat(_)), "the heartbeat goes to the new coordinator at once");
    assert_eq!(node, Some(8));
    assert!(c.is_stable(), "a moved coordinator is no reason to rebalance");

    // A JoinGroup answered COORDINATOR_NOT_AVAILABLE: look the coordinator up after the backoff, then join.
    let mut c = eager();
    let (id, _, _) = only_send(&c.poll_consumer(0, Some(&topics())));
    c.on_response(id, 0, found(COORDINATOR));
    let (id, _, _) = only_send(&c.poll(0));
    assert!(c.on_response(id, 10, join_error(COORDINATOR_NOT_AVAILABLE, "")).is_empty());
    assert_eq!(c.coordinator(), None);
    let (id, _, request) = only_send(&c.poll(10));
    assert!(matches!(request, Request::FindCoordinator(_)));
    // The lookup fails too: it is retried after retry.backoff.ms, doubling.
    c.on_response(id, 10, find_failed(COORDINATOR_NOT_AVAILABLE));
    assert_eq!(c.next_deadline_ms(), Some(10 + BACKOFF_MS));
    assert!(c.poll(10 + BACKOFF_MS - 1).is_empty());
    let (id, _, _) = only_send(&c.poll(10 + BACKOFF_MS));
    c.on_response(id, 10 + BACKOFF_MS, find_failed(COORDINATOR_NOT_AVAILABLE));
    assert_eq!(c.next_deadline_ms(), Some(10 + 3 * BACKOFF_MS));
    let (id, _, _) = only_send(&c.poll(10 + 3 * BACKOFF_MS));
    c.on_response(id, 10 + 3 * BACKOFF_MS, found(9));
    // The JoinGroup itself waits for its own backoff since the failure at 10.
    assert_eq!(c.next_deadline_ms(), Some(10 + BACKOFF_MS));
    let (_, node, request) = only_send(&c.poll(10 + 3 * BACKOFF_MS));
    assert!(matches!(request, Request::JoinGroup(_)));
    assert_eq!(node, Some(9));
    assert_eq!(c.take_error(), None, "retriable failures are not reported");
}

#[test]
fn a_member_that_stops_polling_leaves_and_its_partitions_are_lost() {
    let mut c = eager();
    join_as_follower(&mut c, 0, 1, &[tp("t", 0), tp("t", 1)]);
    let mut now = 0;
    // Heartbeats keep the session alive, but nobody polls.
    while now + HEARTBEAT_MS <= POLL_INTERVAL_MS {
        now += HEARTBEAT_MS;
        let (id, _, request) = only_send(&c.poll(now));
        assert!(matches!(request, Request::Heartbeat(_)));
        c.on_response(id, now, heartbeat(0));
    }
    assert_eq!(c.next_deadline_ms(), Some(POLL_INTERVAL_MS + 1));
    let actions = c.poll(POLL_INTERVAL_MS + 1);
    let (_, node, request) = only_send(&actions);
    assert_eq!(node, Some(COORDINATOR));
    let Request::LeaveGroup(leave) = request else { panic!("expected a LeaveGroup") };
    assert_eq!(leave.members[0].member_id.as_str(), "m1");
    assert_eq!(leave.members[0].reason.as_deref(), Some("consumer poll timeout has expired"));
    assert_eq!(c.state(), MemberState::Unjoined);
    assert_eq!(c.commit_identity(), (-1, String::new()));
    assert!(c.poll(POLL_INTERVAL_MS + 100 * HEARTBEAT_MS).is_empty(), "no more heartbeats");

    // The next poll finds the partitions lost (no commit) and joins as a new member.
    let actions = c.poll_consumer(POLL_INTERVAL_MS + 200_000, Some(&topics()));
    assert_eq!(callbacks(&actions)[0], &Action::Lose { partitions: vec![tp("t", 0), tp("t", 1)] });
    let (_, _, request) = only_send(&actions);
    assert_eq!(join_member_id(&request), "");
}

#[test]
fn auto_commit_runs_every_interval_from_the_assignment_on() {
    let mut c = eager();
    let actions = join_as_follower(&mut c, 1_000, 1, &[tp("t", 0)]);
    assert!(!actions.contains(&Action::AutoCommit));
    let commits =
        |c: &mut ConsumerCoordinator, now| c.poll_consumer(now, Some(&topics())).contains(&Action::AutoCommit);
    assert!(!commits(&mut c, 1_000 + AUTO_COMMIT_MS - 1));
    assert!(commits(&mut c, 1_000 + AUTO_COMMIT_MS));
    assert!(!commits(&mut c, 1_000 + AUTO_COMMIT_MS + 1));
    assert!(commits(&mut c, 1_000 + 2 * AUTO_COMMIT_MS + 500), "late polls commit once, then a full interval");
    assert!(!commits(&mut c, 1_000 + 3 * AUTO_COMMIT_MS));
    assert!(commits(&mut c, 1_000 + 3 * AUTO_COMMIT_MS + 500));

    // A manual assignment commits on the same timer, without any membership.
    let mut c = eager();
    assert!(c.poll_consumer(0, None).is_empty(), "the first poll starts the timer; nothing is sent");
    assert!(c.poll_consumer(AUTO_COMMIT_MS, None) == vec![Action::AutoCommit]);

    // Without enable.auto.commit nothing is committed and revokes do not commit.
    let mut c = ConsumerCoordinator::new(CoordinatorConfig {
        auto_commit_interval_ms: None,
        ..config(Arc::new(RangeAssignor))
    });
    join_as_follower(&mut c, 0, 1, &[tp("t", 0)]);
    assert!(!c.poll_consumer(10 * AUTO_COMMIT_MS, Some(&topics())).contains(&Action::AutoCommit));
    c.request_rejoin();
    let actions = c.poll_consumer(10 * AUTO_COMMIT_MS, Some(&topics()));
    assert!(matches!(actions[0], Action::Revoke { commit: false, .. }));
}

#[test]
fn close_revokes_and_leaves_but_a_static_member_only_stops() {
    let mut c = eager();
    join_as_follower(&mut c, 0, 1, &[tp("t", 0)]);
    let actions = c.leave("the consumer is being closed");
    assert_eq!(actions[0], Action::Revoke { partitions: vec![tp("t", 0)], commit: false });
    let (id, node, request) = only_send(&actions);
    assert_eq!(node, Some(COORDINATOR));
    let Request::LeaveGroup(leave) = request else { panic!("expected a LeaveGroup") };
    assert_eq!(leave.members[0].member_id.as_str(), "m1");
    assert_eq!(c.state(), MemberState::Unjoined);
    assert!(c.on_response(id, 1, Ok(Response::LeaveGroup(LeaveGroupResponse::default()))).is_empty());
    assert!(c.poll(10 * HEARTBEAT_MS).is_empty(), "a member that left does not heartbeat");
    assert_eq!(c.next_deadline_ms(), None);

    let mut c = ConsumerCoordinator::new(CoordinatorConfig {
        group_instance_id: Some("instance-1".into()),
        ..config(Arc::new(RangeAssignor))
    });
    let actions = join_as_follower(&mut c, 0, 1, &[tp("t", 0)]);
    assert!(callbacks(&actions).iter().any(|a| matches!(a, Action::Assign { .. })));
    let actions = c.leave("the consumer is being closed");
    assert_eq!(actions, vec![Action::Revoke { partitions: vec![tp("t", 0)], commit: false }]);

    // A consumer that never joined has nothing to leave.
    assert!(eager().leave("the consumer is being closed").is_empty());
}

#[test]
fn a_fenced_member_rejoins_as_a_new_member_and_its_partitions_are_lost() {
    let mut c = eager();
    join_as_follower(&mut c, 0, 3, &[tp("t", 0)]);
    let (id, _, _) = only_send(&c.poll(HEARTBEAT_MS));
    c.on_response(id, HEARTBEAT_MS, heartbeat(UNKNOWN_MEMBER_ID));
    assert_eq!(c.state(), MemberState::Unjoined);
    let actions = c.poll_consumer(HEARTBEAT_MS + 1, Some(&topics()));
    assert_eq!(callbacks(&actions), vec![&Action::Lose { partitions: vec![tp("t", 0)] }]);
    let (id, _, request) = only_send(&actions);
    assert_eq!(join_member_id(&request), "");

    // ILLEGAL_GENERATION keeps the member id; a JoinGroup answered UNKNOWN_MEMBER_ID drops it at once.
    let now = HEARTBEAT_MS + 2;
    let actions = c.on_response(id, now, joined("m1", 4, "leader", &[]));
    let (id, _, _) = only_send(&actions);
    c.on_response(id, now, synced(&[tp("t", 0)]));
    c.poll_consumer(now, Some(&topics()));
    let (id, _, _) = only_send(&c.poll(now + HEARTBEAT_MS));
    c.on_response(id, now + HEARTBEAT_MS, heartbeat(ILLEGAL_GENERATION));
    let actions = c.poll_consumer(now + HEARTBEAT_MS, Some(&topics()));
    assert!(matches!(actions[0], Action::Lose { .. }));
    let (id, _, request) = only_send(&actions);
    assert_eq!(join_member_id(&request), "m1");
    assert!(c.on_response(id, now + HEARTBEAT_MS, join_error(UNKNOWN_MEMBER_ID, "")).is_empty());
    let (_, _, request) = only_send(&c.poll(now + HEARTBEAT_MS));
    assert_eq!(join_member_id(&request), "", "rejoined at once, without a backoff");

    // FENCED_INSTANCE_ID is fatal: the application's poll reports it.
    let mut c = eager();
    join_as_follower(&mut c, 0, 1, &[tp("t", 0)]);
    let (id, _, _) = only_send(&c.poll(HEARTBEAT_MS));
    c.on_response(id, HEARTBEAT_MS, heartbeat(FENCED_INSTANCE_ID));
    assert_eq!(c.take_error().and_then(|e| e.code()), Some(FENCED_INSTANCE_ID));
}

#[test]
fn a_sync_answered_rebalance_in_progress_rejoins_at_once_and_stale_answers_are_ignored() {
    let mut c = eager();
    let (id, _, _) = only_send(&c.poll_consumer(0, Some(&topics())));
    c.on_response(id, 0, found(COORDINATOR));
    let (id, _, _) = only_send(&c.poll(0));
    let (sync_id, _, _) = only_send(&c.on_response(id, 1, joined("m1", 1, "leader", &[])));
    assert!(c.on_response(sync_id, 2, sync_error(REBALANCE_IN_PROGRESS)).is_empty());
    let (id, _, request) = only_send(&c.poll(2));
    assert_eq!(join_member_id(&request), "m1");
    // The old SyncGroup's id answering again changes nothing.
    assert!(c.on_response(sync_id, 3, synced(&[tp("t", 0)])).is_empty());
    assert_eq!(c.state(), MemberState::Joining);
    let (id, _, _) = only_send(&c.on_response(id, 4, joined("m1", 2, "leader", &[])));
    c.on_response(id, 5, synced(&[tp("t", 1)]));
    let actions = c.poll_consumer(5, Some(&topics()));
    assert!(matches!(callbacks(&actions)[0], Action::Assign { partitions, .. } if partitions == &[tp("t", 1)]));
}

#[test]
fn a_cooperative_member_keeps_what_stays_and_revokes_what_moves_before_a_second_join() {
    let mut c = ConsumerCoordinator::new(config(Arc::new(CooperativeStickyAssignor)));
    join_as_follower(&mut c, 0, 1, &[tp("t", 0), tp("t", 1)]);
    c.request_rejoin();
    let actions = c.poll_consumer(10, Some(&topics()));
    assert!(callbacks(&actions).is_empty(), "nothing is revoked before a cooperative join");
    let (id, _, request) = only_send(&actions);
    let Request::JoinGroup(join) = request else { panic!("expected a JoinGroup") };
    let owned = decode_subscription(&join.protocols[0].metadata).expect("subscription decodes").owned_partitions;
    assert_eq!(owned, vec![tp("t", 0), tp("t", 1)]);
    let (id, _, _) = only_send(&c.on_response(id, 11, joined("m1", 2, "leader", &[])));
    c.on_response(id, 12, synced(&[tp("t", 0)]));
    let actions = c.poll_consumer(13, Some(&topics()));
    assert_eq!(actions[0], Action::Revoke { partitions: vec![tp("t", 1)], commit: true });
    assert_eq!(actions[1], Action::Assign { partitions: vec![tp("t", 0)], added: Vec::new(), assigned_with: None });
    let (_, _, request) = only_send(&actions);
    assert!(matches!(request, Request::JoinGroup(_)), "the follow-up rebalance starts at once");
}

#[test]
fn a_silent_coordinator_is_given_up_after_the_session_timeout() {
    let mut c = eager();
    join_as_follower(&mut c, 0, 1, &[tp("t", 0)]);
    let mut now = 0;
    while now + HEARTBEAT_MS <= SESSION_MS {
        now += HEARTBEAT_MS;
        // The heartbeat gets no answer; it is retried after the backoff.
        let actions = c.poll_consumer(now, Some(&topics()));
        let (id, _, request) = only_send(&actions);
        assert!(matches!(request, Request::Heartbeat(_)));
        c.on_response(id, now, Err(ClientError::Timeout("heartbeat".into())));
    }
    assert_eq!(c.coordinator(), Some(COORDINATOR));
    let actions = c.poll(SESSION_MS + 1);
    let (_, _, request) = only_send(&actions);
    assert!(matches!(request, Request::FindCoordinator(_)));
    assert_eq!(c.coordinator(), None);
}

#[test]
fn a_changed_subscription_rejoins() {
    let mut c = eager();
    join_as_follower(&mut c, 0, 1, &[tp("t", 0)]);
    assert!(c.poll_consumer(1, Some(&topics())).is_empty());
    let more = vec!["t".to_string(), "u".to_string()];
    let actions = c.poll_consumer(2, Some(&more));
    assert!(matches!(actions[0], Action::Revoke { .. }));
    let (_, _, request) = only_send(&actions);
    let Request::JoinGroup(join) = request else { panic!("expected a JoinGroup") };
    assert_eq!(decode_subscription(&join.protocols[0].metadata).expect("decodes").topics, more);
}

#[test]
fn requests_fit_the_negotiated_version() {
    let find = FindCoordinatorRequest::default().with_key(sb("g"));
    let v4 = find_coordinator_for_version(find.clone(), 4);
    assert_eq!((v4.key.as_str(), v4.coordinator_keys), ("", vec![sb("g")]));
    assert_eq!(find_coordinator_for_version(find.clone(), 3), find);
    let join = JoinGroupRequest::default().with_reason(Some(sb("r")));
    assert_eq!(join_group_for_version(join.clone(), 7).reason, None);
    assert_eq!(join_group_for_version(join.clone(), 8), join);
    let sync = SyncGroupRequest::default().with_protocol_name(Some(sb("range")));
    assert_eq!(sync_group_for_version(sync.clone(), 4).protocol_name, None);
    assert_eq!(sync_group_for_version(sync.clone(), 5), sync);
    let leave = LeaveGroupRequest::default().with_members(vec![MemberIdentity::default().with_reason(Some(sb("bye")))]);
    assert_eq!(leave_group_for_version(leave.clone(), 4).members[0].reason, None);
    assert_eq!(leave_group_for_version(leave.clone(), 5), leave);
}
