//! The purgatory: requests whose answer waits for something to happen — a Fetch for `min_bytes` of records,
//! an acks=all Produce or a WriteTxnMarkers for the ISR to have its batches — each watching the partitions
//! whose changes may complete it, with a deadline. The broker completes them on events (an append, a
//! high-watermark or log-start move, a leadership change, a deleted topic) and on time; the network layer only
//! delivers the answers.
//!
//! The number of waiting operations is bounded by the number of connections: a connection has at most one
//! request in flight at the broker, as in Kafka.

use std::collections::{BTreeSet, HashMap};

use kafka_protocol::messages::FetchRequest;

use crate::coordinator::group::Token;
use crate::storage::TopicPartition;

/// A request waiting in the purgatory. (Fetches, the common case, are kept inline.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(super) enum DelayedOp {
    /// A Fetch waiting for `min_bytes` of records.
    Fetch { request: FetchRequest, version: i16 },
    /// An acks=all Produce waiting for the ISR to have its batches.
    Produce(super::produce::WaitingProduce),
    /// A WriteTxnMarkers answer waiting for the ISR to have its markers.
    Markers(super::write_txn_markers::WaitingMarkers),
    /// A coordinator's answer waiting for the ISR to have what it wrote to an internal partition.
    Replicated { response: kafka_protocol::messages::ResponseKind, tp: TopicPartition, required: i64 },
}

#[derive(Debug)]
struct Waiting {
    op: DelayedOp,
    deadline_ms: i64,
    watched: Vec<TopicPartition>,
}

#[derive(Debug, Default)]
pub(super) struct Purgatory {
    waiting: HashMap<Token, Waiting>,
    watchers: HashMap<TopicPartition, BTreeSet<Token>>,
    deadlines: BTreeSet<(i64, Token)>,
}

impl Purgatory {
    /// Parks `op` under `token` until a change to one of `watched` completes it or `deadline_ms` passes.
    pub(super) fn park(&mut self, token: Token, op: DelayedOp, watched: Vec<TopicPartition>, deadline_ms: i64) {
        self.remove(token);
        for tp in &watched {
            self.watchers.entry(tp.clone()).or_default().insert(token);
        }
        self.deadlines.insert((deadline_ms, token));
        self.waiting.insert(token, Waiting { op, deadline_ms, watched });
    }

    /// Takes an operation out (completed, expired, or its connection closed).
    pub(super) fn remove(&mut self, token: Token) -> Option<DelayedOp> {
        let w = self.waiting.remove(&token)?;
        self.deadlines.remove(&(w.deadline_ms, token));
        for tp in &w.watched {
            if let Some(set) = self.watchers.get_mut(tp) {
                set.remove(&token);
                if set.is_empty() {
                    self.watchers.remove(tp);
                }
            }
        }
        Some(w.op)
    }

    pub(super) fn get(&self, token: Token) -> Option<&DelayedOp> {
        self.waiting.get(&token).map(|w| &w.op)
    }

    /// The operations watching any of `changed`.
    pub(super) fn watching(&self, changed: &BTreeSet<TopicPartition>) -> BTreeSet<Token> {
        changed.iter().filter_map(|tp| self.watchers.get(tp)).flatten().copied().collect()
    }

    /// The operations whose deadline is at or before `now_ms`.
    pub(super) fn expired(&self, now_ms: i64) -> Vec<Token> {
        self.deadlines.range(..=(now_ms, Token::MAX)).map(|(_, t)| *t).collect()
    }

    pub(super) fn next_deadline_ms(&self) -> Option<i64> {
        self.deadlines.first().map(|(d, _)| *d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition { topic: "t".into(), partition: p }
    }

    fn fetch() -> DelayedOp {
        DelayedOp::Fetch { request: FetchRequest::default(), version: 12 }
    }

    #[test]
    fn operations_are_found_by_partition_and_by_deadline_and_leave_no_trace() {
        let mut p = Purgatory::default();
        p.park(1, fetch(), vec![tp(0), tp(1)], 500);
        p.park(2, fetch(), vec![tp(1)], 300);
        assert_eq!(p.watching(&BTreeSet::from([tp(0)])), BTreeSet::from([1]));
        assert_eq!(p.watching(&BTreeSet::from([tp(1), tp(2)])), BTreeSet::from([1, 2]));
        assert_eq!(p.next_deadline_ms(), Some(300));
        assert_eq!(p.expired(299), Vec::<Token>::new());
        assert_eq!(p.expired(300), vec![2]);
        assert!(p.remove(2).is_some());
        assert!(p.remove(2).is_none());
        assert_eq!(p.watching(&BTreeSet::from([tp(1)])), BTreeSet::from([1]));
        // Parking again under the same token replaces the old operation.
        p.park(1, fetch(), vec![tp(2)], 900);
        assert!(p.watching(&BTreeSet::from([tp(0)])).is_empty());
        assert_eq!((p.waiting.len(), p.next_deadline_ms()), (1, Some(900)));
        p.remove(1);
        assert!(p.watchers.is_empty() && p.deadlines.is_empty() && p.waiting.is_empty());
    }
}
