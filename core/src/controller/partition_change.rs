//! How a partition changes when brokers come and go, leaders are elected or the ISR moves: Kafka's
//! PartitionChangeBuilder, without eligible leader replicas (KIP-966).
//!
//! A leader must be in the target ISR and acceptable (live, not being removed); the current leader stays
//! if it still qualifies. A preferred election picks the first replica when it qualifies. An unclean election
//! (`unclean.leader.election.enable`), when no ISR member qualifies, picks the first acceptable replica and
//! makes it the whole ISR, with the partition marked as recovering. The ISR never becomes empty: a partition
//! whose last ISR member goes keeps it in the ISR and has no leader (offline) until it returns.

use uuid::Uuid;

use super::image::PartitionImage;
use super::records::{PartitionChange, NO_LEADER_CHANGE};

/// No leader: the partition is offline.
pub const NO_LEADER: i32 = -1;

/// Which leader an election looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// The first replica if it qualifies, else as `Online`.
    Preferred,
    /// The current leader if it qualifies, else the first qualifying replica in replica order.
    Online,
    /// As `Online`, falling back to any acceptable replica outside the ISR.
    Unclean,
}

/// Leader recovery states.
pub const LEADER_RECOVERED: i8 = 0;
pub const LEADER_RECOVERING: i8 = 1;

/// Builds the change record for one partition; `None` when nothing changes.
#[derive(Debug)]
pub struct ChangeBuilder<'a, F: Fn(i32) -> bool> {
    partition: &'a PartitionImage,
    topic_id: Uuid,
    acceptable: F,
    election: Election,
    target_isr: Vec<i32>,
    target_replicas: Vec<i32>,
    bump_leader_epoch: bool,
}

impl<'a, F: Fn(i32) -> bool> ChangeBuilder<'a, F> {
    /// `acceptable` says which brokers may lead (live and not being removed).
    pub fn new(partition: &'a PartitionImage, topic_id: Uuid, acceptable: F) -> Self {
        ChangeBuilder {
            partition,
            topic_id,
            acceptable,
            election: Election::Online,
            target_isr: partition.isr.clone(),
            target_replicas: partition.replicas.clone(),
            bump_leader_epoch: false,
        }
    }

    pub fn election(mut self, election: Election) -> Self {
        self.election = election;
        self
    }

    pub fn target_isr(mut self, isr: Vec<i32>) -> Self {
        self.target_isr = isr;
        self
    }

    pub fn target_replicas(mut self, replicas: Vec<i32>) -> Self {
        self.target_replicas = replicas;
        self
    }

    /// Forces a new leader epoch even when the leader stays (replicas changed under it).
    pub fn bump_leader_epoch(mut self) -> Self {
        self.bump_leader_epoch = true;
        self
    }

    fn valid(&self, r: i32) -> bool {
        r >= 0 && self.target_isr.contains(&r) && (self.acceptable)(r)
    }

    /// The elected leader and whether the election was unclean.
    fn elect(&self) -> (i32, bool) {
        let current = self.partition.leader;
        if self.election == Election::Preferred {
            if let Some(&first) = self.target_replicas.first() {
                if self.valid(first) {
                    return (first, false);
                }
            }
        }
        if self.valid(current) {
            return (current, false);
        }
        if let Some(&r) = self.target_replicas.iter().find(|r| self.valid(**r)) {
            return (r, false);
        }
        if self.election == Election::Unclean {
            if let Some(&r) = self.target_replicas.iter().find(|r| (self.acceptable)(**r)) {
                return (r, true);
            }
        }
        (NO_LEADER, false)
    }

    pub fn build(mut self) -> Option<PartitionChange> {
        let p = self.partition;
        let mut change = PartitionChange::new(self.topic_id, p.partition);
        let (leader, unclean) = self.elect();
        if leader != p.leader || self.bump_leader_epoch {
            change.leader = leader;
            if unclean {
                self.target_isr = vec![leader];
                change.leader_recovery_state = LEADER_RECOVERING;
            }
        }
        // Keep a last ISR member rather than leave the ISR empty (no eligible leader replicas here).
        if !self.target_isr.is_empty() && self.target_isr != p.isr {
            change.isr = Some(self.target_isr.clone());
        }
        if self.target_replicas != p.replicas {
            change.replicas = Some(self.target_replicas.clone());
        }
        let changes_nothing = change.leader == NO_LEADER_CHANGE
            && change.isr.is_none()
            && change.replicas.is_none()
            && change.leader_recovery_state == -1;
        (!changes_nothing).then_some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionImage {
        PartitionImage {
            partition: 0,
            leader,
            leader_epoch: 3,
            partition_epoch: 7,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader_recovery_state: 0,
        }
    }

    const T: Uuid = Uuid::nil();

    #[test]
    fn a_fenced_leader_hands_over_to_the_next_isr_member() {
        let p = partition(1, &[1, 2, 3], &[1, 2, 3]);
        let change = ChangeBuilder::new(&p, T, |r| r != 1).target_isr(vec![2, 3]).build().unwrap();
        assert_eq!((change.leader, change.isr), (2, Some(vec![2, 3])));
    }

    #[test]
    fn the_last_isr_member_stays_and_the_partition_goes_offline() {
        let p = partition(1, &[1, 2], &[1]);
        let change = ChangeBuilder::new(&p, T, |r| r == 2).target_isr(vec![]).build().unwrap();
        assert_eq!((change.leader, change.isr), (NO_LEADER, None));
        // Unclean election allowed: a live replica outside the ISR leads, alone in the ISR, recovering.
        let change =
            ChangeBuilder::new(&p, T, |r| r == 2).target_isr(vec![]).election(Election::Unclean).build().unwrap();
        assert_eq!((change.leader, change.isr, change.leader_recovery_state), (2, Some(vec![2]), LEADER_RECOVERING));
    }

    #[test]
    fn an_offline_partition_comes_back_with_its_isr_member() {
        let p = partition(NO_LEADER, &[1, 2], &[1]);
        let change = ChangeBuilder::new(&p, T, |_| true).build().unwrap();
        assert_eq!((change.leader, change.isr), (1, None));
    }

    #[test]
    fn preferred_elections_and_no_ops() {
        let p = partition(2, &[1, 2, 3], &[1, 2, 3]);
        assert!(ChangeBuilder::new(&p, T, |_| true).build().is_none(), "nothing to change");
        let change = ChangeBuilder::new(&p, T, |_| true).election(Election::Preferred).build().unwrap();
        assert_eq!(change.leader, 1);
        let p = partition(2, &[1, 2, 3], &[2, 3]);
        assert!(
            ChangeBuilder::new(&p, T, |_| true).election(Election::Preferred).build().is_none(),
            "1 is not in sync"
        );
    }
}
