//! The transaction coordinator's transitions, fed requests and the time and checked against Kafka's rules.

use kafka_protocol::error::ResponseError;

use super::*;

fn coordinator() -> TransactionCoordinator {
    TransactionCoordinator::new(TxnConfig {
        max_timeout_ms: 60_000,
        id_expiration_ms: 1_000_000,
        ..TxnConfig::default()
    })
}

/// Producer ids from 101 up, distinct across a test.
fn ids() -> impl FnMut() -> Option<i64> {
    use std::cell::Cell;
    thread_local!(static NEXT: Cell<i64> = const { Cell::new(100) });
    || {
        NEXT.with(|n| {
            n.set(n.get() + 1);
            Some(n.get())
        })
    }
}

/// InitProducerId, applying what it asks to store.
fn init(c: &mut TransactionCoordinator, id: &str, expected: Option<(i64, i16)>, now: i64) -> (i64, i16) {
    match c.init_producer_id(id, 10_000, expected, now, &mut ids()).unwrap() {
        InitTransition::Ready(m) => {
            let answer = (m.producer_id, m.producer_epoch);
            c.apply(m);
            answer
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn tp(topic: &str, p: i32) -> TxnPartition {
    (topic.to_string(), p)
}

#[test]
fn init_bumps_the_epoch_and_fences_the_previous_producer() {
    let mut c = coordinator();
    let (pid, epoch) = init(&mut c, "tx", None, 1);
    assert_eq!(epoch, 0);
    let (pid2, epoch2) = init(&mut c, "tx", None, 2);
    assert_eq!((pid2, epoch2), (pid, 1), "the same producer id with the next epoch");
    assert_eq!(c.add_partitions("tx", pid, 0, &[tp("t", 0)], 3), Err(ResponseError::ProducerFenced));
    assert_eq!(c.end_txn("tx", pid, 0, true, 3), Err(ResponseError::ProducerFenced));
    assert_eq!(c.add_partitions("tx", 999, 1, &[tp("t", 0)], 3), Err(ResponseError::InvalidProducerIdMapping));
    assert_eq!(c.add_partitions("nope", pid, 1, &[tp("t", 0)], 3), Err(ResponseError::InvalidProducerIdMapping));
    // KIP-360: a producer that still holds the current epoch may bump it; an older one is fenced.
    assert_eq!(init(&mut c, "tx", Some((pid, 1)), 4), (pid, 2));
    assert_eq!(c.init_producer_id("tx", 10_000, Some((pid, 0)), 5, &mut ids()), Err(ResponseError::ProducerFenced));
    // A retry of the bump that succeeded gets the same answer.
    assert_eq!(init(&mut c, "tx", Some((pid, 1)), 6), (pid, 2));
}

#[test]
fn a_transaction_commits_through_prepare_and_complete() {
    let mut c = coordinator();
    let (pid, epoch) = init(&mut c, "tx", None, 1);
    assert_eq!(c.end_txn("tx", pid, epoch, true, 2), Err(ResponseError::InvalidTxnState), "nothing is open");
    let m = c.add_partitions("tx", pid, epoch, &[tp("a", 0), tp("b", 1)], 10).unwrap().unwrap();
    assert_eq!((m.state, m.start_ms), (TxnState::Ongoing, 10));
    c.apply(m);
    assert_eq!(c.add_partitions("tx", pid, epoch, &[tp("a", 0)], 11), Ok(None), "already in the transaction");
    let m = c.add_partitions("tx", pid, epoch, &[tp("c", 0)], 12).unwrap().unwrap();
    assert_eq!((m.partitions.len(), m.start_ms), (3, 10), "the start time stays");
    c.apply(m);
    assert_eq!(c.verify_partition("tx", pid, epoch, &tp("a", 0)), Ok(()));
    assert_eq!(c.verify_partition("tx", pid, epoch, &tp("z", 0)), Err(ResponseError::InvalidTxnState));
    assert_eq!(c.verify_partition("tx", pid, epoch + 1, &tp("a", 0)), Err(ResponseError::InvalidProducerEpoch));
    let EndTransition::Prepare(m) = c.end_txn("tx", pid, epoch, true, 20).unwrap() else { panic!() };
    assert_eq!(m.state, TxnState::PrepareCommit);
    c.apply(m);
    assert_eq!(c.pending_completion().len(), 1);
    assert_eq!(c.add_partitions("tx", pid, epoch, &[tp("a", 0)], 21), Err(ResponseError::ConcurrentTransactions));
    assert_eq!(c.end_txn("tx", pid, epoch, true, 21), Err(ResponseError::ConcurrentTransactions));
    assert_eq!(c.end_txn("tx", pid, epoch, false, 21), Err(ResponseError::InvalidTxnState));
    assert_eq!(c.init_producer_id("tx", 10_000, None, 21, &mut ids()), Err(ResponseError::ConcurrentTransactions));
    let done = c.complete("tx", 22).unwrap();
    assert_eq!((done.state, done.partitions.len()), (TxnState::CompleteCommit, 0));
    c.apply(done);
    assert!(c.pending_completion().is_empty());
    assert_eq!(c.end_txn("tx", pid, epoch, true, 23), Ok(EndTransition::AlreadyDone), "a retried commit");
    assert_eq!(c.end_txn("tx", pid, epoch, false, 23), Err(ResponseError::InvalidTxnState));
    // The next transaction starts afresh.
    let m = c.add_partitions("tx", pid, epoch, &[tp("b", 1)], 30).unwrap().unwrap();
    assert_eq!((m.partitions.len(), m.start_ms), (1, 30));
}

#[test]
fn a_new_producer_aborts_the_open_transaction_first() {
    let mut c = coordinator();
    let (pid, epoch) = init(&mut c, "tx", None, 1);
    c.apply(c.add_partitions("tx", pid, epoch, &[tp("a", 0)], 2).unwrap().unwrap());
    let InitTransition::AbortOngoing(m) = c.init_producer_id("tx", 10_000, None, 3, &mut ids()).unwrap() else {
        panic!()
    };
    assert_eq!((m.state, m.producer_epoch), (TxnState::PrepareAbort, epoch + 1), "the old producer is fenced");
    assert_eq!(m.partitions.len(), 1, "the markers go to the transaction's partitions");
    c.apply(m);
    c.apply(c.complete("tx", 4).unwrap());
    // The client's retry gets an epoch above the one the abort markers carry.
    assert_eq!(init(&mut c, "tx", None, 5), (pid, epoch + 2));
}

#[test]
fn timeouts_fence_and_abort() {
    let mut c = coordinator();
    let (pid, epoch) = init(&mut c, "tx", None, 0);
    c.apply(c.add_partitions("tx", pid, epoch, &[tp("a", 0)], 1_000).unwrap().unwrap());
    assert!(c.timed_out(11_000).is_empty(), "10 s timeout not yet past");
    assert_eq!(c.timed_out(11_001), vec!["tx".to_string()]);
    let m = c.fence_and_abort("tx", 11_001).unwrap();
    assert_eq!((m.state, m.producer_epoch), (TxnState::PrepareAbort, epoch + 1));
    c.apply(m);
    assert!(c.timed_out(50_000).is_empty());
    assert_eq!(c.end_txn("tx", pid, epoch, true, 11_002), Err(ResponseError::ProducerFenced));
}

#[test]
fn an_exhausted_epoch_moves_to_a_new_producer_id() {
    let mut c = coordinator();
    let (pid, _) = init(&mut c, "tx", None, 0);
    let mut m = c.get("tx").unwrap().clone();
    m.producer_epoch = i16::MAX - 1;
    c.apply(m);
    let InitTransition::Ready(m) = c.init_producer_id("tx", 10_000, None, 1, &mut || Some(555)).unwrap() else {
        panic!()
    };
    assert_eq!((m.producer_id, m.producer_epoch), (555, 0));
    c.apply(m);
    assert_eq!(c.get("tx").unwrap().previous_producer_id, pid);
}

#[test]
fn listing_and_expiry() {
    let mut c = coordinator();
    let (pid, epoch) = init(&mut c, "a-1", None, 0);
    init(&mut c, "b-2", None, 0);
    c.apply(c.add_partitions("a-1", pid, epoch, &[tp("t", 0)], 100).unwrap().unwrap());
    let (all, unknown) = c.list(&[], &[], -1, None, 200);
    assert_eq!(all.len(), 2);
    assert!(unknown.is_empty());
    let (ongoing, unknown) = c.list(&["Ongoing".into(), "Bogus".into()], &[], -1, None, 200);
    assert_eq!(ongoing.iter().map(|m| m.transactional_id.as_str()).collect::<Vec<_>>(), vec!["a-1"]);
    assert_eq!(unknown, vec!["Bogus".to_string()]);
    let re = regex::Regex::new("^b-").unwrap();
    assert_eq!(c.list(&[], &[], -1, Some(&re), 200).0.len(), 1);
    assert_eq!(c.list(&[], &[pid], -1, None, 200).0.len(), 1);
    // As in Kafka, the duration counts from the start time, which is -1 for an id with nothing open.
    let (long, _) = c.list(&[], &[], 150, None, 200);
    assert_eq!(long.iter().map(|m| m.transactional_id.as_str()).collect::<Vec<_>>(), vec!["b-2"]);
    // Only the idle, finished one expires.
    let expired = c.expired(1_000_001);
    assert_eq!(expired.iter().map(|m| m.transactional_id.as_str()).collect::<Vec<_>>(), vec!["b-2"]);
    c.apply(expired[0].clone());
    assert!(c.get("b-2").is_none());
    assert!(c.get("a-1").is_some());
}
