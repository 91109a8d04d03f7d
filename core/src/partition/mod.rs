//! A replica of one partition: its log (`crate::storage`) and what the replica protocol adds on top — who
//! leads, the leader and partition epochs, the replicas and the ISR, the high watermark, each follower's log
//! end offset as its fetches report it, and the producer/transaction rules a leader applies before writing.
//!
//! A single broker is a cluster of one: it leads every partition and is its only in-sync replica, so an append
//! moves the high watermark at once. With followers, the leader moves it to the smallest log end offset of the
//! ISR as their fetches arrive, and consumers read only below it.
//!
//! Invariants: `log_start_offset <= high_watermark <= log_end_offset`; the leader epoch and the ISR change only
//! through [`Partition::make_leader`] / [`Partition::make_follower`] (the metadata image decides them);
//! appends as leader happen only while this replica leads.
//!
//! Locking: the replica state's mutex is taken before the log's, never after.

mod manager;
mod producer;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kafka_protocol::error::ResponseError;

pub use manager::ReplicaManager;

use crate::record::TimestampType;
use crate::storage::txn_index::AbortedTxn;
use crate::storage::{self, AppendInfo, AppendOrigin, Log, Records, SharedLog, StorageError, TopicPartition};

/// No leader (the partition is offline or this broker has not learned it yet).
pub const NO_LEADER: i32 = -1;

/// Why a replica refused an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("this broker is not the leader for {0}")]
    NotLeaderOrFollower(TopicPartition),
    #[error(
        "The size of the current ISR {isr} is insufficient to satisfy the min.isr requirement of {min_isr} for partition {tp}"
    )]
    NotEnoughReplicas { tp: TopicPartition, isr: usize, min_isr: i32 },
    #[error("the request's leader epoch {requested} is older than the partition's {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    #[error("the request's leader epoch {requested} is newer than the partition's {current}")]
    UnknownLeaderEpoch { requested: i32, current: i32 },
    #[error("producer {producer_id} sent epoch {epoch}, older than the partition's")]
    InvalidProducerEpoch { producer_id: i64, epoch: i16 },
    #[error(
        "Out of order sequence number for producer {producer_id} (epoch {epoch}): {sequence} (incoming seq. number), {} (current end sequence number)",
        last.map_or("none".to_string(), |l| l.to_string())
    )]
    OutOfOrderSequence { producer_id: i64, epoch: i16, sequence: i32, last: Option<i32> },
    #[error("producer {producer_id} wrote a non-transactional batch while its transaction is open")]
    InvalidTxnState { producer_id: i64 },
    #[error("transaction marker for producer {producer_id} from coordinator epoch {coordinator_epoch}, older than the partition's")]
    TransactionCoordinatorFenced { producer_id: i64, coordinator_epoch: i32 },
    /// A check the caller made before the append (such as transaction verification) refused it.
    #[error("{}", message.as_deref().unwrap_or("the append was refused"))]
    Refused { error: ResponseError, message: Option<String> },
}

/// What a leader knows of one follower, from its fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerState {
    /// The follower's log end offset (its last fetch offset); -1 before its first fetch.
    pub log_end_offset: i64,
    /// The last time the follower had everything the leader had when the follower fetched (Kafka's
    /// lastCaughtUpTimeMs, which `replica.lag.time.max.ms` is measured from).
    pub last_caught_up_ms: i64,
    /// The leader's log end offset and the time at the follower's previous fetch: a follower that has reached
    /// that offset was caught up then.
    pub last_fetch_leader_end: i64,
    pub last_fetch_ms: i64,
    /// The follower's broker epoch as its fetches tell it (-1 when they do not), sent with an ISR expansion so
    /// the controller refuses a replica that restarted since.
    pub broker_epoch: i64,
}

impl FollowerState {
    fn new(now_ms: i64) -> Self {
        FollowerState {
            log_end_offset: -1,
            last_caught_up_ms: now_ms,
            last_fetch_leader_end: -1,
            last_fetch_ms: now_ms,
            broker_epoch: -1,
        }
    }

    /// Kafka's isCaughtUp: at the leader's end, or caught up within `max_lag_ms`.
    fn caught_up(&self, leader_end: i64, now_ms: i64, max_lag_ms: i64) -> bool {
        self.log_end_offset == leader_end || now_ms - self.last_caught_up_ms <= max_lag_ms
    }
}

/// An ISR change a leader asks the controller for (AlterPartition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    pub tp: TopicPartition,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// The proposed ISR with each member's broker epoch (-1 where unknown).
    pub isr: Vec<(i32, i64)>,
}

/// What a follower's fetch told its leader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowerFetch {
    /// The high watermark moved (waiting acks=all produces and consumer fetches may complete).
    pub high_watermark_moved: bool,
    /// The follower caught up and should join the ISR.
    pub expand: Option<IsrProposal>,
}

/// Who leads and who is in sync, as the metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    /// This broker's id.
    pub local_id: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Followers' progress, kept while this replica leads.
    pub followers: BTreeMap<i32, FollowerState>,
    /// The ISR of an AlterPartition sent and not yet answered (Kafka's pending ISR state). Until the controller
    /// decides, the high watermark waits for the larger of the two sets, and no other change is asked for.
    pub pending_isr: Option<Vec<i32>>,
    /// The leader's log end offset when it took this leader epoch: a follower joins the ISR only once it has
    /// reached it.
    pub leader_epoch_start_offset: i64,
}

impl ReplicaState {
    pub fn is_leader(&self) -> bool {
        self.leader == self.local_id
    }

    /// The ISR the high watermark waits for: the committed one and, while a change is pending, its members too.
    pub fn maximal_isr(&self) -> impl Iterator<Item = &i32> {
        let pending = self.pending_isr.iter().flatten().filter(|r| !self.isr.contains(r));
        self.isr.iter().chain(pending)
    }
}

/// Which records a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Everything below the high watermark.
    ReadUncommitted,
    /// Everything below the last stable offset (no open transaction's records).
    ReadCommitted,
    /// Everything in the log (followers, and the coordinators loading their state).
    LogEnd,
}

/// Whole batches read from a replica, with the offsets a Fetch response reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedData {
    pub records: Vec<u8>,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// For read_committed: the aborted transactions among the records read.
    pub aborted: Option<Vec<AbortedTxn>>,
}

/// [`FetchedData`] whose records may stay in a segment file until they are sent.
#[derive(Debug, Clone)]
pub struct FetchedRecords {
    pub records: Records,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// For read_committed: the aborted transactions among the records read.
    pub aborted: Option<Vec<AbortedTxn>>,
}

/// The answer to a ListOffsets lookup: (timestamp, offset, leader epoch of that offset).
pub type OffsetAndEpoch = (i64, i64, i32);

/// Partitions whose readable state (log start or end, high watermark, last stable offset, leadership) changed
/// since the broker last looked: the events that complete waiting fetches.
#[derive(Debug, Default)]
pub struct ChangedPartitions(Mutex<BTreeSet<TopicPartition>>);

impl ChangedPartitions {
    pub fn mark(&self, tp: &TopicPartition) {
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !set.contains(tp) {
            set.insert(tp.clone());
        }
    }

    /// The partitions marked since the last call.
    pub fn take(&self) -> BTreeSet<TopicPartition> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A replica of one partition. Shared between the request handlers, the broker's periodic work and (later)
/// the replica fetchers.
#[derive(Debug)]
pub struct Partition {
    tp: TopicPartition,
    log: SharedLog,
    state: Mutex<ReplicaState>,
    changed: Arc<ChangedPartitions>,
}

impl Partition {
    /// A replica of `tp` over `log`, leading nothing until the metadata says otherwise. Changes readers can see
    /// are reported to `changed`.
    pub fn new(tp: TopicPartition, log: SharedLog, local_id: i32, changed: Arc<ChangedPartitions>) -> Self {
        let state = ReplicaState {
            local_id,
            leader: NO_LEADER,
            leader_epoch: -1,
            partition_epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
            followers: BTreeMap::new(),
            pending_isr: None,
            leader_epoch_start_offset: -1,
        };
        Partition { tp, log, state: Mutex::new(state), changed }
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    fn state(&self) -> MutexGuard<'_, ReplicaState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The log, for storage-level work (configs, flushing, reading an internal topic whole). Replica rules do
    /// not apply through it.
    pub fn log(&self) -> MutexGuard<'_, Log> {
        storage::lock(&self.log)
    }

    pub fn shared_log(&self) -> &SharedLog {
        &self.log
    }

    /// A copy of the replica state.
    pub fn replica_state(&self) -> ReplicaState {
        self.state().clone()
    }

    pub fn leader_epoch(&self) -> i32 {
        self.state().leader_epoch
    }

    pub fn is_leader(&self) -> bool {
        self.state().is_leader()
    }

    /// Makes this replica the leader for `leader_epoch`. Followers' progress starts unknown, with the ISR's
    /// members counted as caught up now (Kafka's choice, so none is dropped before it can fetch). The high
    /// watermark then moves if the ISR allows.
    pub fn make_leader(
        &self,
        leader_epoch: i32,
        partition_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        now_ms: i64,
    ) -> bool {
        let mut state = self.state();
        let local_id = state.local_id;
        let new_epoch = !state.is_leader() || state.leader_epoch != leader_epoch;
        let mut log = self.log();
        if new_epoch {
            state.followers =
                replicas.iter().filter(|r| **r != local_id).map(|r| (*r, FollowerState::new(now_ms))).collect();
            state.leader_epoch_start_offset = log.log_end_offset();
        } else {
            // A reassignment may add replicas under the same leader epoch.
            for r in replicas.iter().filter(|r| **r != local_id) {
                state.followers.entry(*r).or_insert_with(|| FollowerState::new(now_ms));
            }
            state.followers.retain(|r, _| replicas.contains(r));
        }
        if new_epoch || state.partition_epoch != partition_epoch {
            state.pending_isr = None;
        }
        state.leader = local_id;
        state.leader_epoch = leader_epoch;
        state.partition_epoch = partition_epoch;
        state.replicas = replicas;
        state.isr = isr;
        Self::maybe_increment_high_watermark(&state, &mut log);
        self.changed.mark(&self.tp);
        new_epoch
    }

    /// Makes this replica a follower of `leader` (or of nobody, with [`NO_LEADER`]) for `leader_epoch`.
    pub fn make_follower(
        &self,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
    ) -> bool {
        let mut state = self.state();
        let changed = state.leader != leader || state.leader_epoch != leader_epoch;
        state.leader = leader;
        state.leader_epoch = leader_epoch;
        state.partition_epoch = partition_epoch;
        state.replicas = replicas;
        state.isr = isr;
        state.followers.clear();
        state.pending_isr = None;
        self.changed.mark(&self.tp);
        changed
    }

    /// Checks a request's `current_leader_epoch` (-1 names none): a client ahead of this replica gets
    /// UNKNOWN_LEADER_EPOCH, one behind gets FENCED_LEADER_EPOCH.
    pub fn check_leader_epoch(&self, requested: i32) -> Result<(), PartitionError> {
        check_leader_epoch(requested, self.state().leader_epoch)
    }

    /// Appends a producer's or a coordinator's batches as the leader: the replica must lead; with
    /// `required_acks` -1 the ISR must have at least `min_insync_replicas` members; `before` runs with the log
    /// locked (so a transaction cannot end between its check and the write); then the producer and transaction
    /// rules; then the write, with this replica's leader epoch. Returns the append (or, for a retried batch,
    /// the original's offsets).
    pub fn append_as_leader(
        &self,
        records: &[u8],
        origin: AppendOrigin,
        required_acks: i16,
        min_insync_replicas: i32,
        now_ms: i64,
        before: impl FnOnce(&Log) -> Result<(), PartitionError>,
    ) -> Result<AppendInfo, PartitionError> {
        let state = self.state();
        if !state.is_leader() {
            return Err(PartitionError::NotLeaderOrFollower(self.tp.clone()));
        }
        if required_acks == -1 && (state.isr.len() as i32) < min_insync_replicas {
            return Err(PartitionError::NotEnoughReplicas {
                tp: self.tp.clone(),
                isr: state.isr.len(),
                min_isr: min_insync_replicas,
            });
        }
        let mut log = self.log();
        before(&log)?;
        let validated = log.validate(records, origin, now_ms)?;
        let log_append_time = log.config().message_timestamp_type == TimestampType::LogAppendTime;
        if let Some(duplicate) =
            producer::check(log.producer_state(), &validated, origin, log.log_start_offset(), log_append_time)?
        {
            return Ok(duplicate);
        }
        let info = log.append_validated(records, &validated, state.leader_epoch, origin, now_ms)?;
        Self::maybe_increment_high_watermark(&state, &mut log);
        self.changed.mark(&self.tp);
        Ok(info)
    }

    /// Moves the leader's high watermark to the smallest log end offset of the ISR, if that is higher.
    fn maybe_increment_high_watermark(state: &ReplicaState, log: &mut Log) -> bool {
        if !state.is_leader() {
            return false;
        }
        let mut high_watermark = log.log_end_offset();
        for replica in state.maximal_isr().filter(|r| **r != state.local_id) {
            match state.followers.get(replica) {
                Some(f) => high_watermark = high_watermark.min(f.log_end_offset),
                None => return false,
            }
        }
        if high_watermark > log.high_watermark() {
            log.set_high_watermark(high_watermark);
            true
        } else {
            false
        }
    }

    pub fn high_watermark(&self) -> i64 {
        self.log().high_watermark()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log().log_end_offset()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log().log_start_offset()
    }

    pub fn last_stable_offset(&self) -> i64 {
        self.log().last_stable_offset()
    }

    /// Reads whole batches from `fetch_offset` for a consumer, bounded as `isolation` says, at most
    /// `max_bytes` (but at least one batch with `min_one_batch`). A read_committed read also returns the
    /// aborted transactions among the batches read.
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        isolation: Isolation,
        min_one_batch: bool,
    ) -> Result<FetchedData, PartitionError> {
        let read = self.read_records(fetch_offset, max_bytes, isolation, min_one_batch, false)?;
        let path = || std::path::PathBuf::from(format!("{}-{}", self.tp.topic, self.tp.partition));
        let records = read.records.into_bytes().map_err(|e| StorageError::io(&path(), e))?;
        Ok(FetchedData {
            records,
            high_watermark: read.high_watermark,
            last_stable_offset: read.last_stable_offset,
            log_start_offset: read.log_start_offset,
            log_end_offset: read.log_end_offset,
            aborted: read.aborted,
        })
    }

    /// As [`Partition::read`], for a Fetch: with `zero_copy`, a backend that can send files answers with a
    /// slice of the segment file rather than its bytes (see [`crate::storage::FileSlice`]).
    pub fn read_records(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        isolation: Isolation,
        min_one_batch: bool,
        zero_copy: bool,
    ) -> Result<FetchedRecords, PartitionError> {
        let log = self.log();
        let high_watermark = log.high_watermark();
        let last_stable_offset = log.last_stable_offset();
        let max_offset = match isolation {
            Isolation::ReadUncommitted => high_watermark,
            Isolation::ReadCommitted => last_stable_offset,
            Isolation::LogEnd => i64::MAX,
        };
        let read = log.read_records(fetch_offset, max_bytes, max_offset, min_one_batch, zero_copy)?;
        // A read_committed consumer is told which producers' records in the fetched range were aborted, so it
        // can drop them (Kafka reads this from the segments' .txnindex).
        let aborted = (isolation == Isolation::ReadCommitted)
            .then(|| read.next_offset.map(|upper| log.collect_aborted_txns(fetch_offset, upper)).unwrap_or_default());
        Ok(FetchedRecords {
            records: read.records,
            high_watermark,
            last_stable_offset,
            log_start_offset: read.log_start_offset,
            log_end_offset: read.log_end_offset,
            aborted,
        })
    }

    /// ListOffsets for one partition: the offset for `timestamp` or one of Kafka's special timestamps, as seen
    /// by a reader with `isolation`, with the leader epoch of that offset. `Ok(None)` when no record matches.
    pub fn fetch_offset_for_timestamp(
        &self,
        timestamp: i64,
        isolation: Isolation,
    ) -> Result<Option<OffsetAndEpoch>, PartitionError> {
        /// Special timestamps a ListOffsets request may carry.
        const LATEST: i64 = -1;
        const EARLIEST: i64 = -2;
        const MAX_TIMESTAMP: i64 = -3;
        const EARLIEST_LOCAL: i64 = -4;
        const LATEST_TIERED: i64 = -5;
        const EARLIEST_PENDING_UPLOAD: i64 = -6;
        let log = self.log();
        let epoch_at = |offset: i64| {
            log.leader_epochs().entries().iter().rev().find(|e| e.start_offset <= offset).map_or(-1, |e| e.epoch)
        };
        let last_fetchable = match isolation {
            Isolation::ReadCommitted => log.last_stable_offset(),
            Isolation::ReadUncommitted => log.high_watermark(),
            Isolation::LogEnd => log.log_end_offset(),
        };
        let found = match timestamp {
            LATEST => Some((-1, last_fetchable)),
            EARLIEST | EARLIEST_LOCAL => Some((-1, log.log_start_offset())),
            MAX_TIMESTAMP => log.max_timestamp_record()?.filter(|(_, offset)| *offset < last_fetchable),
            // No tiered storage: nothing is uploaded or pending.
            LATEST_TIERED | EARLIEST_PENDING_UPLOAD => return Ok(Some((-1, -1, -1))),
            ts if ts < 0 => {
                return Err(PartitionError::Refused {
                    error: ResponseError::InvalidRequest,
                    message: Some(format!("invalid timestamp {ts}")),
                })
            }
            ts => log.offset_for_timestamp(ts)?.filter(|(offset, _)| *offset < last_fetchable).map(|(o, t)| (t, o)),
        };
        Ok(found.map(|(ts, offset)| {
            let epoch = if offset >= 0 { epoch_at(offset.min(log.log_end_offset() - 1).max(0)) } else { -1 };
            (ts, offset, epoch)
        }))
    }

    /// DeleteRecords: moves the log start offset up to `offset` (-1 means the high watermark), which may not
    /// pass the high watermark. Returns the new log start offset (the low watermark).
    pub fn delete_records_before(&self, offset: i64, now_ms: i64) -> Result<i64, PartitionError> {
        let state = self.state();
        if !state.is_leader() {
            return Err(PartitionError::NotLeaderOrFollower(self.tp.clone()));
        }
        let mut log = self.log();
        let high_watermark = log.high_watermark();
        let offset = if offset == -1 { high_watermark } else { offset };
        if offset < 0 || offset > high_watermark {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: log.log_start_offset(),
                log_end_offset: log.log_end_offset(),
            }
            .into());
        }
        log.increment_log_start_offset(offset, now_ms)?;
        self.changed.mark(&self.tp);
        Ok(log.log_start_offset())
    }

    /// How many bytes a read from `fetch_offset` with `isolation` could return now, found without reading; an
    /// error when the read would fail (this replica does not lead, or the offset is out of range). What a waiting
    /// fetch checks on every change.
    pub fn bytes_available(&self, fetch_offset: i64, isolation: Isolation) -> Result<u64, PartitionError> {
        if !self.is_leader() {
            return Err(PartitionError::NotLeaderOrFollower(self.tp.clone()));
        }
        let log = self.log();
        if fetch_offset < log.log_start_offset() || fetch_offset > log.log_end_offset() {
            return Err(StorageError::OffsetOutOfRange {
                offset: fetch_offset,
                log_start_offset: log.log_start_offset(),
                log_end_offset: log.log_end_offset(),
            }
            .into());
        }
        let bound = match isolation {
            Isolation::ReadUncommitted => log.high_watermark(),
            Isolation::ReadCommitted => log.last_stable_offset(),
            Isolation::LogEnd => log.log_end_offset(),
        };
        Ok(log.bytes_between(fetch_offset, bound)?)
    }

    /// OffsetForLeaderEpoch: the end offset of `epoch` in this replica's log, as (epoch found, end offset).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        let log = self.log();
        log.leader_epochs().end_offset_for(epoch, log.log_end_offset())
    }

    /// The epoch of the newest batch in this replica's log (-1 for an empty log): what a follower's fetch
    /// names as its last fetched epoch.
    pub fn latest_epoch(&self) -> i32 {
        self.log().leader_epochs().latest_epoch().unwrap_or(-1)
    }

    // ---- The leader's side of replication ----

    /// Checks a follower's fetch position against this leader's log (Kafka's validateFetchOffsetAndEpoch):
    /// `Some((epoch, end offset))` when the follower's log diverged — its last fetched epoch ended earlier here,
    /// or is unknown here — and it must truncate to that point before fetching on.
    pub fn diverging_epoch(&self, last_fetched_epoch: i32, fetch_offset: i64) -> Option<(i32, i64)> {
        if last_fetched_epoch < 0 {
            return None;
        }
        match self.end_offset_for_epoch(last_fetched_epoch) {
            Some((epoch, end)) if epoch < last_fetched_epoch || end < fetch_offset => Some((epoch, end)),
            Some(_) => None,
            None => Some((-1, -1)),
        }
    }

    /// Records a follower's fetch from `fetch_offset` (its log end offset) at `now_ms` (Kafka's
    /// updateFollowerFetchState): its progress and caught-up time, then the high watermark, then whether it
    /// should join the ISR. Fails for a replica this leader does not know.
    pub fn update_follower(
        &self,
        replica: i32,
        fetch_offset: i64,
        broker_epoch: i64,
        now_ms: i64,
    ) -> Result<FollowerFetch, PartitionError> {
        let mut state = self.state();
        if !state.is_leader() {
            return Err(PartitionError::NotLeaderOrFollower(self.tp.clone()));
        }
        let mut log = self.log();
        let leader_end = log.log_end_offset();
        let Some(follower) = state.followers.get_mut(&replica) else {
            return Err(PartitionError::NotLeaderOrFollower(self.tp.clone()));
        };
        if fetch_offset >= leader_end {
            follower.last_caught_up_ms = follower.last_caught_up_ms.max(now_ms);
        } else if fetch_offset >= follower.last_fetch_leader_end {
            follower.last_caught_up_ms = follower.last_caught_up_ms.max(follower.last_fetch_ms);
        }
        follower.log_end_offset = fetch_offset.min(leader_end);
        follower.last_fetch_leader_end = leader_end;
        follower.last_fetch_ms = now_ms;
        if broker_epoch >= 0 {
            follower.broker_epoch = broker_epoch;
        }
        let follower = *follower;
        let high_watermark_moved = Self::maybe_increment_high_watermark(&state, &mut log);
        if high_watermark_moved {
            self.changed.mark(&self.tp);
        }
        // Kafka's canAddReplicaToIsr and isFollowerInSync: no change in flight, not yet in the ISR, and caught
        // up with both the high watermark and the start of this leader's epoch.
        let expand = state.pending_isr.is_none()
            && !state.isr.contains(&replica)
            && follower.log_end_offset >= log.high_watermark()
            && follower.log_end_offset >= state.leader_epoch_start_offset;
        drop(log);
        let expand = expand.then(|| {
            let mut isr = state.isr.clone();
            isr.push(replica);
            self.propose(&mut state, isr)
        });
        Ok(FollowerFetch { high_watermark_moved, expand })
    }

    /// The ISR without the followers that have not caught up within `max_lag_ms` (Kafka's
    /// maybeShrinkIsr), if any must go and no change is in flight.
    pub fn maybe_shrink_isr(&self, now_ms: i64, max_lag_ms: i64) -> Option<IsrProposal> {
        let mut state = self.state();
        if !state.is_leader() || state.pending_isr.is_some() {
            return None;
        }
        let leader_end = self.log().log_end_offset();
        let local_id = state.local_id;
        let keep: Vec<i32> = state
            .isr
            .iter()
            .copied()
            .filter(|r| {
                *r == local_id || state.followers.get(r).is_some_and(|f| f.caught_up(leader_end, now_ms, max_lag_ms))
            })
            .collect();
        (keep.len() < state.isr.len()).then(|| self.propose(&mut state, keep))
    }

    fn propose(&self, state: &mut ReplicaState, isr: Vec<i32>) -> IsrProposal {
        state.pending_isr = Some(isr.clone());
        let epoch_of = |r: i32| state.followers.get(&r).map_or(-1, |f| f.broker_epoch);
        IsrProposal {
            tp: self.tp.clone(),
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            isr: isr.iter().map(|r| (*r, epoch_of(*r))).collect(),
        }
    }

    /// The controller refused or never answered an ISR change asked at `partition_epoch`: another may be asked.
    pub fn abandon_isr_change(&self, partition_epoch: i32) {
        let mut state = self.state();
        if state.partition_epoch == partition_epoch {
            state.pending_isr = None;
        }
    }

    /// Whether the high watermark has reached `required_offset` for an acks=all produce, as Kafka's
    /// checkEnoughReplicasReachOffset decides: `None` while waiting, `Some(Ok(()))` once every in-sync replica has
    /// it, `Some(Err)` when this replica no longer leads or the ISR shrank below `min_insync_replicas`.
    pub fn replicated_to(&self, required_offset: i64, min_insync_replicas: i32) -> Option<Result<(), ResponseError>> {
        let state = self.state();
        if !state.is_leader() {
            return Some(Err(ResponseError::NotLeaderOrFollower));
        }
        if self.log().high_watermark() < required_offset {
            return None;
        }
        if (state.isr.len() as i32) < min_insync_replicas {
            return Some(Err(ResponseError::NotEnoughReplicasAfterAppend));
        }
        Some(Ok(()))
    }

    // ---- The follower's side ----

    /// Appends batches copied from the leader, offsets and epochs as the leader wrote them; they must follow
    /// this replica's log end. Producer state and the leader epoch cache follow from the batches.
    pub fn append_as_follower(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, PartitionError> {
        let state = self.state();
        if state.is_leader() {
            return Err(PartitionError::NotLeaderOrFollower(self.tp.clone()));
        }
        let mut log = self.log();
        let validated = log.validate(records, AppendOrigin::Replication, now_ms)?;
        let info = log.append_validated(records, &validated, state.leader_epoch, AppendOrigin::Replication, now_ms)?;
        self.changed.mark(&self.tp);
        Ok(info)
    }

    /// Takes the leader's high watermark (bounded by this replica's log end) and log start offset from a fetch
    /// answer, as Kafka's follower does.
    pub fn follow_leader_offsets(
        &self,
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
        now_ms: i64,
    ) -> Result<(), PartitionError> {
        let _state = self.state();
        let mut log = self.log();
        let high_watermark = leader_high_watermark.min(log.log_end_offset());
        if high_watermark > log.high_watermark() {
            log.set_high_watermark(high_watermark);
            self.changed.mark(&self.tp);
        }
        if leader_log_start_offset > log.log_start_offset() && leader_log_start_offset <= log.high_watermark() {
            log.increment_log_start_offset(leader_log_start_offset, now_ms)?;
            self.changed.mark(&self.tp);
        }
        Ok(())
    }

    /// A follower's answer to a diverging epoch from its leader (Kafka's getOffsetTruncationState): truncates
    /// to the smaller of the leader's end offset for that epoch and this replica's own, and returns the new
    /// log end offset. The next fetch names the epoch now last in the log, so truncation repeats until the two
    /// logs agree.
    pub fn truncate_diverged(&self, leader_epoch: i32, leader_end_offset: i64) -> Result<i64, PartitionError> {
        let _state = self.state();
        let mut log = self.log();
        let target = if leader_epoch < 0 || leader_end_offset < 0 {
            // The leader knows none of this replica's epochs: nothing here can be trusted above the log start.
            log.log_start_offset()
        } else {
            match log.leader_epochs().end_offset_for(leader_epoch, log.log_end_offset()) {
                Some((_, own_end)) => own_end.min(leader_end_offset),
                None => log.log_start_offset(),
            }
        };
        log.truncate_to(target)?;
        self.changed.mark(&self.tp);
        Ok(log.log_end_offset())
    }

    /// A follower whose fetch offset the leader no longer has (below its log start, or beyond its end after
    /// an unclean election): truncates to `high_watermark` when that is below the log end, otherwise starts the
    /// log over at the leader's log start.
    pub fn reset_to_leader(
        &self,
        leader_log_start_offset: i64,
        leader_high_watermark: i64,
        now_ms: i64,
    ) -> Result<(), PartitionError> {
        let _state = self.state();
        let mut log = self.log();
        let end = log.log_end_offset();
        if end < leader_log_start_offset {
            log.truncate_fully_and_start_at(leader_log_start_offset, now_ms)?;
        } else if leader_high_watermark >= 0 && leader_high_watermark < end {
            let target = leader_high_watermark.max(log.log_start_offset());
            log.truncate_to(target)?;
        }
        self.changed.mark(&self.tp);
        Ok(())
    }
}

/// The error for a request that names a leader epoch other than the partition's current one (-1 names none).
pub fn check_leader_epoch(requested: i32, current: i32) -> Result<(), PartitionError> {
    match requested {
        r if r < 0 || r == current => Ok(()),
        r if r > current => Err(PartitionError::UnknownLeaderEpoch { requested, current }),
        _ => Err(PartitionError::FencedLeaderEpoch { requested, current }),
    }
}

#[cfg(test)]
mod tests;
