use super::*;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::GroupId;

const G: &str = "group";

fn join_req(member: &str, protocols: &[&str]) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(G)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(
            protocols
                .iter()
                .map(|p| JoinGroupRequestProtocol::default().with_name(s(p)).with_metadata(Bytes::from(p.to_string())))
                .collect(),
        )
}

fn client() -> ClientInfo {
    ClientInfo { client_id: "c".into(), client_host: "/127.0.0.1".into() }
}

fn joins(c: &mut GroupCoordinator) -> HashMap<Token, JoinGroupResponse> {
    c.take_completions()
        .into_iter()
        .filter_map(|(t, r)| match r {
            Completion::Join(j) => Some((t, j)),
            Completion::Sync(_) => None,
        })
        .collect()
}

fn syncs(c: &mut GroupCoordinator) -> HashMap<Token, SyncGroupResponse> {
    c.take_completions()
        .into_iter()
        .filter_map(|(t, r)| match r {
            Completion::Sync(s) => Some((t, s)),
            Completion::Join(_) => None,
        })
        .collect()
}

/// Joins a new member through the MEMBER_ID_REQUIRED round; returns its member id.
fn first_join(c: &mut GroupCoordinator, token: Token, now: i64) -> String {
    c.join_group(token, &join_req("", &["range"]), 9, &client(), now);
    let r = joins(c).remove(&token).unwrap();
    assert_eq!(r.error_code, ResponseError::MemberIdRequired.code());
    r.member_id.to_string()
}

fn sync_req(member: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(GroupId(s(G)))
        .with_member_id(s(member))
        .with_generation_id(generation)
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::from(a.to_string()))
                })
                .collect(),
        )
}

fn hb(c: &mut GroupCoordinator, member: &str, generation: i32, now: i64) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s(G)))
        .with_member_id(s(member))
        .with_generation_id(generation);
    c.heartbeat(&req, now).error_code
}

/// Two members in a stable group: returns (coordinator, leader id, follower id, generation).
fn stable_pair() -> (GroupCoordinator, String, String, i32) {
    let mut c = GroupCoordinator::new(GroupConfig::default(), 1);
    let a = first_join(&mut c, 1, 0);
    c.join_group(2, &join_req(&a, &["range"]), 9, &client(), 0);
    let r = joins(&mut c).remove(&2).unwrap();
    assert_eq!((r.error_code, r.generation_id), (0, 1));
    let b = first_join(&mut c, 3, 10);
    assert_eq!(hb(&mut c, &a, 1, 10), 0, "b has not joined yet: still stable");
    c.join_group(4, &join_req(&b, &["range"]), 9, &client(), 10);
    assert!(joins(&mut c).is_empty(), "b waits for a to rejoin");
    assert_eq!(hb(&mut c, &a, 1, 11), ResponseError::RebalanceInProgress.code());
    c.join_group(5, &join_req(&a, &["range"]), 9, &client(), 12);
    let mut done = joins(&mut c);
    let (ra, rb) = (done.remove(&5).unwrap(), done.remove(&4).unwrap());
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    assert_eq!(ra.leader.as_str(), a);
    assert_eq!(ra.members.len(), 2, "the leader sees every member's metadata");
    assert!(rb.members.is_empty());
    assert_eq!(ra.protocol_name.as_ref().unwrap().as_str(), "range");
    c.sync_group(6, &sync_req(&b, 2, &[]), 5, 13);
    assert!(syncs(&mut c).is_empty(), "the follower waits for the leader's assignment");
    c.sync_group(7, &sync_req(&a, 2, &[(&a, "for-a"), (&b, "for-b")]), 5, 14);
    let mut s = syncs(&mut c);
    assert_eq!(s.remove(&7).unwrap().assignment, Bytes::from("for-a"));
    assert_eq!(s.remove(&6).unwrap().assignment, Bytes::from("for-b"));
    assert_eq!(c.group(G).unwrap().state, GroupState::Stable);
    (c, a, b, 2)
}

#[test]
fn members_join_sync_and_get_their_assignments() {
    let (mut c, a, b, generation) = stable_pair();
    assert_eq!(hb(&mut c, &a, generation, 20), 0);
    assert_eq!(hb(&mut c, &b, generation - 1, 20), ResponseError::IllegalGeneration.code());
    assert_eq!(hb(&mut c, "nobody", generation, 20), ResponseError::UnknownMemberId.code());
    let writes = c.take_writes();
    assert!(writes.iter().any(|w| w.key == schema::group_key(G) && w.value.is_some()), "group metadata persisted");
}

#[test]
fn a_leaving_member_triggers_a_rebalance_for_the_rest() {
    let (mut c, a, b, generation) = stable_pair();
    let (err, results) = c.leave_group(G, &[(b.clone(), None)], 30);
    assert_eq!((err, results), (None, vec![None]));
    assert_eq!(hb(&mut c, &a, generation, 31), ResponseError::RebalanceInProgress.code());
    c.join_group(10, &join_req(&a, &["range"]), 9, &client(), 32);
    let r = joins(&mut c).remove(&10).unwrap();
    assert_eq!((r.generation_id, r.members.len()), (generation + 1, 1));
}

#[test]
fn an_expired_session_removes_the_member() {
    let (mut c, a, b, generation) = stable_pair();
    // a keeps heartbeating, b goes silent past its 10 s session.
    for t in (1_000..=11_000).step_by(1_000) {
        assert_eq!(hb(&mut c, &a, generation, t), 0);
        c.tick(t);
    }
    c.tick(12_000);
    assert!(c.group(G).unwrap().member(&b).is_none());
    assert_eq!(hb(&mut c, &a, generation, 12_001), ResponseError::RebalanceInProgress.code());
}

#[test]
fn members_that_do_not_rejoin_in_time_are_dropped() {
    let (mut c, a, b, generation) = stable_pair();
    c.join_group(20, &join_req(&a, &["range", "roundrobin"]), 9, &client(), 100);
    assert!(joins(&mut c).is_empty());
    // b keeps heartbeating (gets REBALANCE_IN_PROGRESS) but never rejoins; the 30 s rebalance timeout ends it.
    for t in (5_000..=29_000).step_by(5_000) {
        assert_eq!(hb(&mut c, &b, generation, t), ResponseError::RebalanceInProgress.code());
        c.tick(t);
    }
    assert!(joins(&mut c).is_empty());
    c.tick(30_100);
    let r = joins(&mut c).remove(&20).unwrap();
    assert_eq!((r.generation_id, r.members.len()), (generation + 1, 1));
}

#[test]
fn inconsistent_protocols_and_bad_timeouts_are_refused() {
    let (mut c, _a, _b, _) = stable_pair();
    c.join_group(30, &join_req("", &["cooperative-sticky"]), 9, &client(), 50);
    assert_eq!(joins(&mut c)[&30].error_code, ResponseError::InconsistentGroupProtocol.code());
    let mut req = join_req("", &["range"]);
    req.session_timeout_ms = 1;
    c.join_group(31, &req, 9, &client(), 50);
    assert_eq!(joins(&mut c)[&31].error_code, ResponseError::InvalidSessionTimeout.code());
    c.join_group(32, &join_req("ghost", &["range"]), 9, &client(), 50);
    assert_eq!(joins(&mut c)[&32].error_code, ResponseError::UnknownMemberId.code());
}

#[test]
fn commits_are_validated_and_survive_a_replay() {
    let (mut c, a, _b, generation) = stable_pair();
    assert_eq!(c.validate_commit(G, generation, &a, None), Ok(()));
    assert_eq!(c.validate_commit(G, generation + 1, &a, None), Err(ResponseError::IllegalGeneration));
    assert_eq!(c.validate_commit(G, -1, "", None), Err(ResponseError::UnknownMemberId));
    assert_eq!(c.validate_commit("standalone", -1, "", None), Ok(()));
    let value = OffsetValue { offset: 42, leader_epoch: 0, metadata: "m".into(), commit_timestamp: 5 };
    let offsets = vec![("t".to_string(), 0, value.clone())];
    let mut writes = GroupCoordinator::prepare_commit(G, &offsets);
    assert_eq!(c.committed(G, "t", 0), None, "nothing changes before the records are stored");
    c.apply_commit(G, offsets, 5);
    writes.extend(c.take_writes());
    let mut replayed = GroupCoordinator::new(GroupConfig::default(), 2);
    for w in &writes {
        replayed.load(&w.key, w.value.as_deref(), 100).unwrap();
    }
    assert_eq!(replayed.committed(G, "t", 0), Some(&value));
    let g = replayed.group(G).unwrap();
    assert_eq!((g.state, g.generation, g.members.len()), (GroupState::Stable, generation, 2));
}

#[test]
fn only_empty_groups_are_deleted() {
    let (mut c, a, b, _) = stable_pair();
    assert_eq!(c.delete_group(G), Err(ResponseError::NonEmptyGroup));
    c.leave_group(G, &[(a, None), (b, None)], 40);
    assert_eq!(c.group(G).unwrap().state, GroupState::Empty);
    assert_eq!(c.delete_group(G), Ok(()));
    assert_eq!(c.delete_group(G), Err(ResponseError::GroupIdNotFound));
}

#[test]
fn group_partition_matches_kafka() {
    // Values computed with Java's String.hashCode (jshell).
    assert_eq!(partition_for("PosValidatorGroup", 50), 35);
    assert_eq!(partition_for("nums", 50), 41);
    assert_eq!(java_string_hash("ü€x"), 501576);
}

#[test]
fn members_joining_together_during_the_initial_delay_settle_in_one_generation() {
    let config = GroupConfig { initial_rebalance_delay_ms: 3_000, ..GroupConfig::default() };
    let mut c = GroupCoordinator::new(config, 3);
    let a = first_join(&mut c, 1, 0);
    let b = first_join(&mut c, 2, 0);
    c.join_group(3, &join_req(&a, &["range"]), 9, &client(), 10);
    c.join_group(4, &join_req(&b, &["range"]), 9, &client(), 20);
    assert!(joins(&mut c).is_empty(), "held for the initial delay");
    c.tick(2_000);
    assert!(joins(&mut c).is_empty());
    c.tick(3_100);
    let done = joins(&mut c);
    assert_eq!(done.len(), 2);
    assert!(done.values().all(|r| r.error_code == 0 && r.generation_id == 1));
}

#[test]
fn offsets_of_an_empty_group_expire_after_retention() {
    let config = GroupConfig { offsets_retention_ms: 1_000, ..GroupConfig::default() };
    let mut c = GroupCoordinator::new(config, 4);
    let value = OffsetValue { offset: 7, leader_epoch: -1, metadata: String::new(), commit_timestamp: 100 };
    assert_eq!(c.validate_commit("lonely", -1, "", None), Ok(()));
    c.apply_commit("lonely", vec![("t".into(), 0, value)], 100);
    c.tick(1_000);
    assert!(c.committed("lonely", "t", 0).is_some(), "kept within retention");
    c.tick(1_200);
    assert!(c.committed("lonely", "t", 0).is_none());
    let writes = c.take_writes();
    assert!(
        writes.iter().any(|w| w.key == schema::offset_key("lonely", "t", 0) && w.value.is_none()),
        "tombstone written"
    );
}

#[test]
fn a_static_member_restarting_fences_its_old_incarnation() {
    let mut c = GroupCoordinator::new(GroupConfig::default(), 5);
    let mut req = join_req("", &["range"]);
    req.group_instance_id = Some(s("instance-1"));
    // Static members get a member id at once (no MEMBER_ID_REQUIRED round).
    c.join_group(1, &req, 9, &client(), 0);
    let first = joins(&mut c).remove(&1).unwrap();
    assert_eq!((first.error_code, first.generation_id), (0, 1));
    let old_id = first.member_id.to_string();
    // A static member must name its instance in SyncGroup; without it, it is fenced.
    c.sync_group(20, &sync_req(&old_id, 1, &[(&old_id, "mine")]), 5, 1);
    assert_eq!(syncs(&mut c).remove(&20).unwrap().error_code, ResponseError::FencedInstanceId.code());
    let sync = sync_req(&old_id, 1, &[(&old_id, "mine")]).with_group_instance_id(Some(s("instance-1")));
    c.sync_group(2, &sync, 5, 1);
    assert_eq!(syncs(&mut c).remove(&2).unwrap().assignment, Bytes::from("mine"));
    // The same instance comes back with no member id (a restart): it replaces the old member.
    c.join_group(3, &req, 9, &client(), 10);
    let second = joins(&mut c).remove(&3).unwrap();
    assert_eq!(second.error_code, 0);
    let new_id = second.member_id.to_string();
    assert_ne!(new_id, old_id);
    let g = c.group(G).unwrap();
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.member(&new_id).unwrap().assignment, Bytes::from("mine"), "the assignment carries over");
    assert_eq!(hb(&mut c, &old_id, second.generation_id, 11), ResponseError::UnknownMemberId.code());
    // Leaving by instance id works without the member id.
    let (err, results) = c.leave_group(G, &[(String::new(), Some("instance-1".into()))], 12);
    assert_eq!((err, results), (None, vec![None]));
    assert!(c.group(G).unwrap().members.is_empty());
}

#[test]
fn a_rolled_back_change_leaves_no_trace_and_reparks_the_others() {
    let (mut c, a, b, generation) = stable_pair();
    c.take_completions();
    c.take_writes();
    // Member b leaves; the rebalance that follows waits for a to rejoin.
    c.leave_group(G, &[(b.clone(), None)], 40);
    let before = c.group(G).unwrap().clone();
    let snapshot = c.snapshot([G]);
    // a rejoins, which completes the rebalance (a join answer is queued) ...
    c.join_group(61, &join_req(&a, &["range"]), 9, &client(), 41);
    assert_eq!(c.group(G).unwrap().generation, generation + 1, "the rebalance completed");
    // ... but its records could not be stored: the group is as before and the answer is withdrawn.
    c.rollback(snapshot);
    c.fail_join(61, &a, ResponseError::CoordinatorNotAvailable);
    let g = c.group(G).unwrap();
    assert_eq!((g.state, g.generation, g.members.len()), (before.state, before.generation, before.members.len()));
    assert_eq!(g.generation, generation, "the generation did not move");
    let answers = joins(&mut c);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[&61].error_code, ResponseError::CoordinatorNotAvailable.code());
    assert!(c.take_writes().is_empty());
}

#[test]
fn staged_commits_show_once_their_partition_is_replicated_and_go_with_their_group() {
    let mut c = GroupCoordinator::new(GroupConfig::default(), 6);
    let at = |offset| OffsetValue { offset, leader_epoch: -1, metadata: String::new(), commit_timestamp: 100 };
    let partition = partition_for("g", 50);
    c.apply_commit("g", vec![("t".into(), 0, at(5))], 100);
    c.stage_commit("g", 11, vec![("t".into(), 0, at(7))], 100);
    c.stage_commit("g", 12, vec![("t".into(), 0, at(9)), ("t".into(), 1, at(3))], 100);
    assert!(c.has_pending_commits());
    // Another partition's progress, or this one's short of the first write, changes nothing.
    c.promote_commits((partition + 1) % 50, 50, 100);
    c.promote_commits(partition, 50, 10);
    assert_eq!(c.committed("g", "t", 0).map(|v| v.offset), Some(5));
    c.promote_commits(partition, 50, 11);
    assert_eq!(c.committed("g", "t", 0).map(|v| v.offset), Some(7));
    assert!(c.committed("g", "t", 1).is_none());
    c.promote_commits(partition, 50, 12);
    assert_eq!(c.committed("g", "t", 0).map(|v| v.offset), Some(9));
    assert_eq!(c.committed("g", "t", 1).map(|v| v.offset), Some(3));
    assert!(!c.has_pending_commits());

    // Deleting a group with a staged commit tombstones that partition's offset too, so a replay does not bring
    // it back.
    c.stage_commit("g", 13, vec![("t".into(), 2, at(1))], 100);
    c.take_writes();
    assert_eq!(c.delete_group("g"), Ok(()));
    let tombstones: Vec<_> = c.take_writes().into_iter().filter(|w| w.value.is_none()).map(|w| w.key).collect();
    for p in 0..3 {
        assert!(tombstones.contains(&schema::offset_key("g", "t", p)), "no tombstone for t-{p}");
    }
    c.promote_commits(partition, 50, 13);
    assert!(c.committed("g", "t", 2).is_none(), "a deleted group's staged commit came back");
}
