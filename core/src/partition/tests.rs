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

fn append(p: &Partition, mut bytes: Vec<u8>) -> Result<AppendInfo, PartitionError> {
    p.append_as_leader(&mut bytes, AppendOrigin::Client, 1, 1, NOW, |_| Ok(()))
}

fn marker(
    p: &Partition,
    control: ControlType,
    pid: i64,
    epoch: i16,
    coordinator_epoch: i32,
) -> Result<i64, PartitionError> {
    let mut m = BatchBuilder::control_marker(control, coordinator_epoch, pid, epoch, NOW).build().unwrap();
    p.append_as_leader(&mut m, AppendOrigin::Coordinator, -1, 1, NOW, |_| Ok(())).map(|i| i.first_offset)
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
    let mut bytes = batch(-1, 0, 0, false);
    let refused = p.append_as_leader(&mut bytes, AppendOrigin::Client, -1, 2, NOW, |_| Ok(()));
    assert!(matches!(refused, Err(PartitionError::NotEnoughReplicas { isr: 1, min_isr: 2, .. })));
    assert_eq!(p.log_end_offset(), 0, "nothing written");
    // acks=1 does not look at the ISR.
    assert!(p.append_as_leader(&mut bytes, AppendOrigin::Client, 1, 2, NOW, |_| Ok(())).is_ok());
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
    assert!(matches!(append(&p, batch(7, 0, 5, false)), Err(PartitionError::OutOfOrderSequence { .. })));
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
    let mut bytes = batch(-1, 0, 0, false);
    let end = p.log_end_offset();
    let refused = p.append_as_leader(&mut bytes, AppendOrigin::Client, 1, 1, NOW, |_| {
        Err(PartitionError::Refused { error: ResponseError::InvalidTxnState, message: None })
    });
    assert!(matches!(refused, Err(PartitionError::Refused { error: ResponseError::InvalidTxnState, .. })));
    assert_eq!(p.log_end_offset(), end);
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
