#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::*;
use crate::record::{BatchBuilder, Compression, ControlType};
use crate::storage::{LogConfig, MemoryBackend, OpenOptions};

const NOW: i64 = 1_700_000_000_000;

fn replica(local_id: i32) -> Partition {
    let backend: Arc<dyn crate::storage::Backend> = Arc::new(MemoryBackend::new());
    let log = Log::open(backend, Path::new("/d/t-0"), LogConfig::default(), OpenOptions::default(), NOW).unwrap();
    Partition::new(TopicPartition::new("t", 0).unwrap(), Arc::new(Mutex::new(log)), local_id, Arc::default())
}

fn batch(pid: i64, epoch: i16, seq: i32, transactional: bool) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    if pid >= 0 {
        b = b.producer(pid, epoch, seq, transactional);
    }
    b.append(NOW, Some(b"k"), Some(b"v"), &[]);
    b.append(NOW, Some(b"k"), Some(b"v"), &[]);
    b.build().unwrap()
}

fn append(p: &Partition, bytes: Vec<u8>) -> Result<AppendInfo, PartitionError> {
    p.append_as_leader(&bytes, AppendOrigin::Client, 1, 1, NOW, |_| Ok(()))
}

fn marker(
    p: &Partition,
    control: ControlType,
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
) -> Result<i64, PartitionError> {
    let m = BatchBuilder::control_marker(control, coordinator_epoch, pid, epoch, NOW).build().unwrap();
    p.append_as_leader(&m, AppendOrigin::Coordinator, -1, 1, NOW, |_| Ok(())).map(|i| i.first_offset)
}

#[test]
fn only_the_leader_appends_and_a_lone_leader_commits_at_once() {
    let p = replica(1);
    assert!(matches!(append(&p, batch(-1, 0, 0, false)), Err(PartitionError::NotLeaderOrFollower(_))));
    p.make_follower(2, 4, 4, vec![1, 2], vec![1, 2]);
    assert!(matches!(append(&p, batch(-1, 0, 0, false)), Err(PartitionError::NotLeaderOrFollower(_))));
    assert!(p.make_leader(5, 5, vec![1], vec![1], NOW));
    let info = append(&p, batch(-1, 0, 0, false)).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 1));
    assert_eq!(p.high_watermark(), 2, "the only in-sync replica has it");
    let read = p.log().read(0, 1 << 20, i64::MAX, true).unwrap();
    assert_eq!(crate::record::BatchHeader::parse(&read.records).unwrap().partition_leader_epoch, 5);
    assert_eq!(p.end_offset_for_epoch(5), Some((5, 2)));
}

#[test]
fn acks_all_needs_min_insync_replicas() {
    let p = replica(1);
    p.make_leader(0, 0, vec![1, 2, 3], vec![1], NOW);
    let bytes = batch(-1, 0, 0, false);
    let refused = p.append_as_leader(&bytes, AppendOrigin::Client, -1, 2, NOW, |_| Ok(()));
    assert!(matches!(refused, Err(PartitionError::NotEnoughReplicas { isr: 1, min_isr: 2, .. })));
    assert_eq!(p.log_end_offset(), 0, "nothing written");
    // acks=1 does not look at the ISR.
    assert!(p.append_as_leader(&bytes, AppendOrigin::Client, 1, 2, NOW, |_| Ok(())).is_ok());
}

#[test]
fn the_high_watermark_waits_for_the_isr() {
    let p = replica(1);
    p.make_leader(0, 0, vec![1, 2], vec![1, 2], NOW);
    append(&p, batch(-1, 0, 0, false)).unwrap();
    assert_eq!(p.log_end_offset(), 2);
    assert_eq!(p.high_watermark(), 0, "follower 2 has not fetched yet");
    let reader = p.read(0, 1 << 20, Isolation::ReadUncommitted, true).unwrap();
    assert!(reader.records.is_empty(), "consumers read below the high watermark only");
    let follower = p.read(0, 1 << 20, Isolation::LogEnd, true).unwrap();
    assert!(!follower.records.is_empty());
}

#[test]
fn producer_rules_are_the_leaders() {
    let p = replica(1);
    p.make_leader(0, 0, vec![1], vec![1], NOW);
    assert_eq!(append(&p, batch(7, 0, 0, false)).unwrap().first_offset, 0);
    // A retry of the same batch is answered with its offsets and not written again.
    let retry = append(&p, batch(7, 0, 0, false)).unwrap();
    assert!(retry.duplicate && retry.first_offset == 0);
    assert_eq!(p.log_end_offset(), 2);
    let gap = append(&p, batch(7, 0, 5, false)).unwrap_err();
    assert!(matches!(gap, PartitionError::OutOfOrderSequence { sequence: 5, last: Some(1), .. }), "{gap:?}");
    assert!(gap.to_string().contains("5 (incoming seq. number), 1 (current end sequence number)"), "{gap}");
    assert_eq!(append(&p, batch(7, 1, 0, false)).unwrap().first_offset, 2, "a new epoch starts at 0");
    assert!(matches!(append(&p, batch(7, 0, 2, false)), Err(PartitionError::InvalidProducerEpoch { .. })));
    // Transactions: no plain write inside an open one; markers from an old producer or coordinator epoch fail.
    append(&p, batch(8, 0, 0, true)).unwrap();
    assert!(matches!(append(&p, batch(8, 0, 2, false)), Err(PartitionError::InvalidTxnState { producer_id: 8 })));
    assert!(matches!(marker(&p, ControlType::Commit, 8, -1, 3), Err(PartitionError::InvalidProducerEpoch { .. })));
    assert_eq!(marker(&p, ControlType::Commit, 8, 0, 3).unwrap(), 6);
    assert!(matches!(
        marker(&p, ControlType::Abort, 8, 0, 2),
        Err(PartitionError::TransactionCoordinatorFenced { coordinator_epoch: 2, .. })
    ));
    // A check the caller runs before the write can refuse it, and nothing is written.
    let bytes = batch(-1, 0, 0, false);
    let end = p.log_end_offset();
    let refused = p.append_as_leader(&bytes, AppendOrigin::Client, 1, 1, NOW, |_| {
        Err(PartitionError::Refused { error: ResponseError::InvalidTxnState, message: None })
    });
    assert!(matches!(refused, Err(PartitionError::Refused { error: ResponseError::InvalidTxnState, .. })));
    assert_eq!(p.log_end_offset(), end);
    // An unknown producer starts at 0 (see ProducerState::check for why this differs from Kafka).
    let unknown = append(&p, batch(9, 0, 5, false)).unwrap_err();
    assert!(matches!(unknown, PartitionError::OutOfOrderSequence { last: None, .. }), "{unknown:?}");
}

#[test]
fn leader_epochs_are_checked() {
    let p = replica(1);
    p.make_leader(4, 4, vec![1], vec![1], NOW);
    assert!(p.check_leader_epoch(-1).is_ok());
    assert!(p.check_leader_epoch(4).is_ok());
    assert!(matches!(p.check_leader_epoch(3), Err(PartitionError::FencedLeaderEpoch { .. })));
    assert!(matches!(p.check_leader_epoch(5), Err(PartitionError::UnknownLeaderEpoch { .. })));
}

#[test]
fn delete_records_stays_below_the_high_watermark() {
    let p = replica(1);
    p.make_leader(0, 0, vec![1], vec![1], NOW);
    for _ in 0..3 {
        append(&p, batch(-1, 0, 0, false)).unwrap();
    }
    assert_eq!(p.delete_records_before(3, NOW).unwrap(), 3);
    assert!(p.delete_records_before(7, NOW).is_err());
    assert_eq!(p.delete_records_before(-1, NOW).unwrap(), 6);
    assert_eq!(p.fetch_offset_for_timestamp(-2, Isolation::ReadUncommitted).unwrap(), Some((-1, 6, -1)));
}

/// Copies what `leader` has from `follower`'s log end, as one replica fetch would, and tells the leader.
fn replicate(leader: &Partition, follower: &Partition, follower_id: i32, now_ms: i64) -> FollowerFetch {
    let from = follower.log_end_offset();
    let update = leader.update_follower(follower_id, from, 7, now_ms).unwrap();
    let read = leader.read(from, 1 << 20, Isolation::LogEnd, true).unwrap();
    let records = read.records;
    if !records.is_empty() {
        follower.append_as_follower(&records, now_ms).unwrap();
    }
    follower.follow_leader_offsets(read.high_watermark, read.log_start_offset, now_ms).unwrap();
    update
}

#[test]
fn a_follower_copies_its_leader_and_the_high_watermark_follows_both() {
    let (leader, follower) = (replica(1), replica(2));
    leader.make_leader(3, 3, vec![1, 2], vec![1, 2], NOW);
    follower.make_follower(1, 3, 3, vec![1, 2], vec![1, 2]);
    assert!(matches!(append(&follower, batch(-1, 0, 0, false)), Err(PartitionError::NotLeaderOrFollower(_))));
    append(&leader, batch(9, 0, 0, false)).unwrap();
    assert_eq!(leader.high_watermark(), 0);
    // First fetch: the follower gets the batch; the leader learns it had nothing yet.
    assert!(!replicate(&leader, &follower, 2, NOW).high_watermark_moved);
    assert_eq!((follower.log_end_offset(), follower.high_watermark()), (2, 0));
    // Second fetch: the leader learns the follower has offset 2, so the high watermark moves, and the next
    // answer brings it to the follower.
    assert!(replicate(&leader, &follower, 2, NOW).high_watermark_moved);
    assert_eq!(leader.high_watermark(), 2);
    replicate(&leader, &follower, 2, NOW);
    assert_eq!(follower.high_watermark(), 2);
    // The copy is byte for byte, with the leader's epoch, and the follower knows the producer's sequence.
    let a = leader.log().read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let b = follower.log().read(0, 1 << 20, i64::MAX, true).unwrap().records;
    assert_eq!(a, b);
    assert_eq!(follower.latest_epoch(), 3);
    assert!(follower.log().producer_state().entry(9).is_some(), "a retried batch is known after a failover");
    // acks=all is decided by the high watermark, and refused after the fact when the ISR is too small.
    assert_eq!(leader.replicated_to(2, 2), Some(Ok(())));
    assert_eq!(leader.replicated_to(3, 2), None);
    assert_eq!(leader.replicated_to(2, 3), Some(Err(ResponseError::NotEnoughReplicasAfterAppend)));
    assert_eq!(follower.replicated_to(2, 1), Some(Err(ResponseError::NotLeaderOrFollower)));
}

#[test]
fn the_isr_shrinks_for_a_lagging_follower_and_grows_when_it_catches_up() {
    let (leader, follower) = (replica(1), replica(2));
    leader.make_leader(1, 1, vec![1, 2], vec![1, 2], NOW);
    follower.make_follower(1, 1, 1, vec![1, 2], vec![1, 2]);
    append(&leader, batch(-1, 0, 0, false)).unwrap();
    assert_eq!(leader.maybe_shrink_isr(NOW + 1_000, 5_000), None, "within replica.lag.time.max.ms");
    let shrink = leader.maybe_shrink_isr(NOW + 6_000, 5_000).unwrap();
    assert_eq!((shrink.isr.clone(), shrink.leader_epoch, shrink.partition_epoch), (vec![(1, -1)], 1, 1));
    assert_eq!(leader.maybe_shrink_isr(NOW + 7_000, 5_000), None, "one change in flight at a time");
    // Until the controller decides, the high watermark still waits for the follower.
    assert_eq!(leader.high_watermark(), 0);
    // The controller commits the shrink: a new partition epoch; the lone leader commits at once.
    leader.make_leader(1, 2, vec![1, 2], vec![1], NOW + 7_000);
    assert_eq!(leader.high_watermark(), 2);
    append(&leader, batch(-1, 0, 0, false)).unwrap();
    // The follower fetches again: not caught up with the high watermark yet, so it stays out...
    assert_eq!(replicate(&leader, &follower, 2, NOW + 8_000).expand, None);
    // ...until its log end reaches it: then the leader asks to add it, with the broker epoch it fetched with.
    let expand = replicate(&leader, &follower, 2, NOW + 8_100).expand.unwrap();
    assert_eq!((expand.isr, expand.partition_epoch), (vec![(1, -1), (2, 7)], 2));
    // A refused change is dropped; the next fetch asks again.
    leader.abandon_isr_change(2);
    assert!(replicate(&leader, &follower, 2, NOW + 8_200).expand.is_some());
}

#[test]
fn a_follower_truncates_the_tail_its_new_leader_never_had() {
    // Replica 1 leads epoch 1 and writes two batches; replica 2 copies only the first.
    let (one, two) = (replica(1), replica(2));
    one.make_leader(1, 1, vec![1, 2], vec![1, 2], NOW);
    two.make_follower(1, 1, 1, vec![1, 2], vec![1, 2]);
    append(&one, batch(-1, 0, 0, false)).unwrap();
    replicate(&one, &two, 2, NOW);
    append(&one, batch(-1, 0, 0, false)).unwrap();
    assert_eq!((one.log_end_offset(), two.log_end_offset()), (4, 2));
    // Replica 2 becomes leader in epoch 2 and writes three batches; replica 1 follows it.
    two.make_leader(2, 2, vec![1, 2], vec![2], NOW);
    one.make_follower(2, 2, 2, vec![1, 2], vec![2]);
    for _ in 0..3 {
        append(&two, batch(-1, 0, 0, false)).unwrap();
    }
    // Replica 1 fetches from offset 4 with epoch 1, which ended at offset 2 on the leader: it diverged.
    assert_eq!(two.diverging_epoch(1, 4), Some((1, 2)));
    assert_eq!(one.truncate_diverged(1, 2).unwrap(), 2);
    assert_eq!(two.diverging_epoch(one.latest_epoch(), one.log_end_offset()), None);
    let records = two.read(2, 1 << 20, Isolation::LogEnd, true).unwrap().records;
    one.append_as_follower(&records, NOW).unwrap();
    let a = one.log().read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let b = two.log().read(0, 1 << 20, i64::MAX, true).unwrap().records;
    assert_eq!(a, b, "the logs agree after truncation");
    assert_eq!(one.end_offset_for_epoch(1), Some((1, 2)));
    assert_eq!(one.end_offset_for_epoch(2), Some((2, 8)));
    // An epoch the leader never saw diverges at the end of the newest epoch the leader has below it.
    assert_eq!(two.diverging_epoch(5, 8), Some((2, 8)));
    assert_eq!(two.diverging_epoch(-1, 8), None, "an empty follower log has nothing to check");
}

/// Found by the cluster simulation (seed 20 of `tests/simulation.rs` with drops and slow messages): a leader
/// writes in epoch 0 and dies before anyone copies it; the next leader's log starts with epoch 1. The old
/// leader, back as a follower, fetches naming epoch 0, older than anything the new leader has. Kafka answers
/// with the start of the new leader's first epoch, so the follower truncates its unreplicated records; potok
/// answered OFFSET_OUT_OF_RANGE, which the follower could not act on (its offset is within the leader's log),
/// so it fetched in a loop and never rejoined the ISR.
#[test]
fn a_follower_whose_only_epoch_the_leader_never_had_truncates() {
    let (one, two) = (replica(1), replica(2));
    one.make_leader(0, 0, vec![1, 2], vec![1, 2], NOW);
    append(&one, batch(-1, 0, 0, false)).unwrap();
    two.make_leader(1, 1, vec![1, 2], vec![2], NOW);
    for _ in 0..3 {
        append(&two, batch(-1, 0, 0, false)).unwrap();
    }
    one.make_follower(2, 1, 1, vec![1, 2], vec![2]);
    assert_eq!(two.end_offset_for_epoch(0), Some((0, 0)), "epoch 0 ends where the leader's first epoch starts");
    assert_eq!(two.diverging_epoch(one.latest_epoch(), one.log_end_offset()), Some((0, 0)));
    assert_eq!(one.truncate_diverged(0, 0).unwrap(), 0, "the unreplicated records go");
    assert_eq!(two.diverging_epoch(one.latest_epoch(), one.log_end_offset()), None);
    let records = two.read(0, 1 << 20, Isolation::LogEnd, true).unwrap().records;
    one.append_as_follower(&records, NOW).unwrap();
    let a = one.log().read(0, 1 << 20, i64::MAX, true).unwrap().records;
    let b = two.log().read(0, 1 << 20, i64::MAX, true).unwrap().records;
    assert_eq!(a, b, "the logs agree after truncation");
}
