//! What the cleaner knows about transactions while it walks a log (Kafka's `CleanedTransactionMetadata`):
//! which aborted transactions it is inside of, so their batches go, and which committed ones it has seen
//! batches of, so their markers stay.
//!
//! Rules (Kafka's): a batch of an aborted transaction is discarded as soon as it is read; an abort marker is
//! kept (and its transaction re-recorded in the cleaned segment's `.txnindex`) while this pass still saw a
//! batch of its transaction, and may go otherwise; a commit marker may go once this pass saw no batch of its
//! transaction; a control batch already emptied by an earlier pass may go.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::record::{BatchHeader, ControlType};
use crate::storage::txn_index::AbortedTxn;

#[derive(Debug, Default)]
pub struct CleanedTxnMetadata {
    ongoing_committed: HashSet<i64>,
    /// Producer id -> (the aborted transaction, whether this pass saw one of its batches).
    ongoing_aborted: HashMap<i64, (AbortedTxn, bool)>,
    /// Aborted transactions not reached yet, by first offset.
    aborted: BinaryHeap<Reverse<(i64, i64, i64, i64)>>,
}

impl CleanedTxnMetadata {
    pub fn add_aborted(&mut self, txns: impl IntoIterator<Item = AbortedTxn>) {
        for t in txns {
            self.aborted.push(Reverse((t.first_offset, t.producer_id, t.last_offset, t.last_stable_offset)));
        }
    }

    fn consume_aborted_up_to(&mut self, offset: i64) {
        while let Some(Reverse((first_offset, producer_id, last_offset, last_stable_offset))) = self.aborted.peek() {
            if *first_offset > offset {
                break;
            }
            let txn = AbortedTxn {
                producer_id: *producer_id,
                first_offset: *first_offset,
                last_offset: *last_offset,
                last_stable_offset: *last_stable_offset,
            };
            self.aborted.pop();
            self.ongoing_aborted.entry(txn.producer_id).or_insert((txn, false));
        }
    }

    /// A data batch was read. Returns whether it belongs to an aborted transaction (and so may go).
    pub fn on_batch(&mut self, h: &BatchHeader) -> bool {
        self.consume_aborted_up_to(h.last_offset());
        if !h.is_transactional() {
            return false;
        }
        match self.ongoing_aborted.get_mut(&h.producer_id) {
            Some((_, seen)) => {
                *seen = true;
                true
            }
            None => {
                self.ongoing_committed.insert(h.producer_id);
                false
            }
        }
    }

    /// A control batch was read; `control` is its marker type (`None` for a batch emptied by an earlier pass).
    /// Returns whether the marker may go, and the aborted transaction to record in the cleaned segment's
    /// transaction index when the marker stays.
    pub fn on_control_batch(&mut self, h: &BatchHeader, control: Option<ControlType>) -> (bool, Option<AbortedTxn>) {
        self.consume_aborted_up_to(h.last_offset());
        match control {
            None => (true, None),
            Some(ControlType::Abort) => match self.ongoing_aborted.remove(&h.producer_id) {
                Some((txn, true)) => (false, Some(txn)),
                _ => (true, None),
            },
            Some(ControlType::Commit) => (!self.ongoing_committed.remove(&h.producer_id), None),
            Some(ControlType::Unknown(_)) => (false, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression};

    fn header(pid: i64, base_offset: i64, transactional: bool, control: bool) -> BatchHeader {
        let bytes = if control {
            BatchBuilder::control_marker(ControlType::Commit, 0, pid, 0, 0).base_offset(base_offset).build()
        } else {
            let mut b =
                BatchBuilder::new(Compression::None).base_offset(base_offset).producer(pid, 0, 0, transactional);
            b.append(0, Some(b"k"), Some(b"v"), &[]);
            b.build()
        };
        BatchHeader::parse(&bytes.unwrap()).unwrap()
    }

    #[test]
    fn aborted_batches_go_and_markers_follow_their_data() {
        let mut t = CleanedTxnMetadata::default();
        let aborted = AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 3, last_stable_offset: 4 };
        t.add_aborted([aborted]);
        assert!(t.on_batch(&header(1, 0, true, false)), "a batch of the aborted transaction goes");
        assert!(!t.on_batch(&header(2, 1, true, false)), "another producer's committed batch stays");
        assert!(!t.on_batch(&header(3, 2, false, false)), "a plain batch stays");
        assert_eq!(t.on_control_batch(&header(1, 3, true, true), Some(ControlType::Abort)), (false, Some(aborted)));
        assert_eq!(t.on_control_batch(&header(2, 4, true, true), Some(ControlType::Commit)), (false, None));
        // A later pass that no longer sees the transactions' batches may drop both markers.
        let mut t = CleanedTxnMetadata::default();
        t.add_aborted([aborted]);
        assert_eq!(t.on_control_batch(&header(1, 3, true, true), Some(ControlType::Abort)), (true, None));
        assert_eq!(t.on_control_batch(&header(2, 4, true, true), Some(ControlType::Commit)), (true, None));
        assert_eq!(t.on_control_batch(&header(2, 5, true, true), None), (true, None));
    }
}
