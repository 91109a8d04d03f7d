//! The transaction coordinator: the state of every transactional id (producer id and epoch, timeout, the
//! partitions of the open transaction) and Kafka's transitions between its states.
//!
//! States follow Kafka's `TransactionState`: Empty -> Ongoing (AddPartitionsToTxn / AddOffsetsToTxn) ->
//! PrepareCommit or PrepareAbort (EndTxn, a timeout, or a new producer fencing the old one) -> CompleteCommit or
//! CompleteAbort once the markers are in every partition -> Ongoing again with the next transaction.
//! InitProducerId bumps the epoch (or, with the epoch exhausted, moves to a new producer id), which fences
//! older producers with the same transactional id. Dead and PrepareEpochFence are never stored.
//!
//! Sans-IO, like the group coordinator: each operation checks a request against the state and returns the
//! metadata the transition leads to without applying it. The caller writes that metadata to
//! `__transaction_state` and only then applies it with [`TransactionCoordinator::apply`], so the state never
//! runs ahead of the log (Kafka's prepareTransition / completeTransition). Writing the markers is the caller's
//! job too; [`TransactionCoordinator::pending_completion`] names the transactions still waiting for them.
//!
//! Invariants: a stored Empty transaction has no partitions and no start time; a transaction in a Prepare
//! state keeps the partitions its markers go to; `producer_epoch` only grows for a given producer id.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::error::ResponseError;

/// A partition as a transaction names it.
pub type TxnPartition = (String, i32);

/// The producer epoch at which Kafka moves a transactional id to a new producer id.
const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

/// Settings (Kafka's broker config names in the field docs).
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    pub abort_check_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`
    pub expiry_check_interval_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            id_expiration_ms: 7 * 24 * 60 * 60 * 1000,
            abort_check_interval_ms: 10_000,
            expiry_check_interval_ms: 3_600_000,
        }
    }
}

/// A transaction's state, with Kafka's ids (stored in `__transaction_state`) and names (DescribeTransactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    fn is_prepare(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }

    fn is_complete_or_empty(self) -> bool {
        matches!(self, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort)
    }
}

/// One transactional id's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last rotation (an InitProducerId retry after an exhausted epoch names it).
    pub previous_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, so a retried InitProducerId gets the same answer.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TxnPartition>,
    /// When the open transaction began (its first partition was added), -1 when none is open.
    pub start_ms: i64,
    pub last_update_ms: i64,
}

impl TxnMetadata {
    /// A transactional id seen for the first time: a fresh producer id with no epoch yet.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            previous_producer_id: -1,
            producer_epoch: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
        }
    }
}

/// What an InitProducerId leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitTransition {
    /// Store this (Empty, new epoch or producer id) and answer with its producer id and epoch.
    Ready(TxnMetadata),
    /// An open transaction must be aborted first: store this PrepareAbort (with the old producer fenced by a
    /// bumped epoch), write the abort markers, then answer CONCURRENT_TRANSACTIONS so the client retries.
    AbortOngoing(TxnMetadata),
}

/// What an EndTxn leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndTransition {
    /// Already ended this way (a retry): answer success with nothing to write.
    AlreadyDone,
    /// Store this PrepareCommit or PrepareAbort, then write the markers.
    Prepare(TxnMetadata),
}

/// The transaction coordinator of one broker.
#[derive(Debug, Default)]
pub struct TransactionCoordinator {
    config: TxnConfig,
    txns: HashMap<String, TxnMetadata>,
    last_abort_check_ms: i64,
    last_expiry_check_ms: i64,
}

impl TransactionCoordinator {
    pub fn new(config: TxnConfig) -> Self {
        TransactionCoordinator { config, ..Default::default() }
    }

    /// Whether the periodic look for timed-out transactions is due (and, if so, that it runs now).
    pub fn abort_check_due(&mut self, now_ms: i64) -> bool {
        let due = now_ms - self.last_abort_check_ms >= self.config.abort_check_interval_ms;
        if due {
            self.last_abort_check_ms = now_ms;
        }
        due
    }

    /// Whether the periodic removal of expired transactional ids is due (and, if so, that it runs now).
    pub fn expiry_check_due(&mut self, now_ms: i64) -> bool {
        let due = now_ms - self.last_expiry_check_ms >= self.config.expiry_check_interval_ms;
        if due {
            self.last_expiry_check_ms = now_ms;
        }
        due
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    pub fn transactions(&self) -> impl Iterator<Item = &TxnMetadata> {
        self.txns.values()
    }

    /// Whether a transaction timeout is one the broker accepts (`0 < timeout <= transaction.max.timeout.ms`).
    pub fn valid_timeout(&self, timeout_ms: i32) -> bool {
        timeout_ms > 0 && timeout_ms <= self.config.max_timeout_ms
    }

    /// Makes a transition stored in `__transaction_state` the current state (or removes the id for Dead).
    pub fn apply(&mut self, metadata: TxnMetadata) {
        if metadata.state == TxnState::Dead {
            self.txns.remove(&metadata.transactional_id);
        } else {
            self.txns.insert(metadata.transactional_id.clone(), metadata);
        }
    }

    /// Forgets the transactional ids for which `moved` holds (their `__transaction_state` partition is led
    /// elsewhere now); returns how many went.
    pub fn unload(&mut self, mut moved: impl FnMut(&str) -> bool) -> usize {
        let before = self.txns.len();
        self.txns.retain(|id, _| !moved(id));
        before - self.txns.len()
    }

    /// Replays one `__transaction_state` record (a `None` value is a tombstone).
    pub fn load(&mut self, transactional_id: String, metadata: Option<TxnMetadata>) {
        match metadata {
            Some(m) => {
                self.txns.insert(transactional_id, m);
            }
            None => {
                self.txns.remove(&transactional_id);
            }
        }
    }

    /// InitProducerId for a transactional id (already checked to be non-empty with a valid timeout).
    /// `expected` is the producer id and epoch the client already holds (KIP-360), `allocate` hands out a new
    /// producer id.
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now_ms: i64,
        allocate: &mut dyn FnMut() -> Option<i64>,
    ) -> Result<InitTransition, ResponseError> {
        if !self.txns.contains_key(transactional_id) {
            let producer_id = allocate().ok_or(ResponseError::CoordinatorNotAvailable)?;
            // Kept in memory straight away, as Kafka's cache does: the epoch bump below is what gets written.
            self.txns.insert(
                transactional_id.to_string(),
                TxnMetadata::new(transactional_id, producer_id, timeout_ms, now_ms),
            );
        }
        let current = self.txns.get(transactional_id).ok_or(ResponseError::CoordinatorNotAvailable)?;
        if let Some((expected_id, expected_epoch)) = expected {
            // A client that already has a producer id may continue only if it is still this id's producer (or
            // the id was just created, or this is a retry of a rotation it never heard the answer to).
            let valid = current.producer_epoch == -1
                || expected_id == current.producer_id
                || (expected_id == current.previous_producer_id && expected_epoch >= EPOCH_EXHAUSTED);
            if !valid {
                return Err(ResponseError::ProducerFenced);
            }
        }
        match current.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(ResponseError::ConcurrentTransactions),
            TxnState::Ongoing => {
                let mut next = current.clone();
                next.producer_epoch = current.producer_epoch.checked_add(1).ok_or(ResponseError::ProducerFenced)?;
                next.last_producer_epoch = -1;
                next.state = TxnState::PrepareAbort;
                next.last_update_ms = now_ms;
                Ok(InitTransition::AbortOngoing(next))
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let mut next = current.clone();
                next.state = TxnState::Empty;
                next.partitions.clear();
                next.start_ms = -1;
                next.last_update_ms = now_ms;
                next.timeout_ms = timeout_ms;
                let exhausted = current.producer_epoch >= EPOCH_EXHAUSTED;
                if exhausted && expected.is_none_or(|(_, e)| e == current.producer_epoch) {
                    next.previous_producer_id = current.producer_id;
                    next.producer_id = allocate().ok_or(ResponseError::CoordinatorNotAvailable)?;
                    next.producer_epoch = 0;
                    next.last_producer_epoch = if expected.is_some() { current.producer_epoch } else { -1 };
                    return Ok(InitTransition::Ready(next));
                }
                if exhausted {
                    return Err(ResponseError::ProducerFenced);
                }
                let bumped = current.producer_epoch + 1;
                match expected {
                    None => {
                        next.producer_epoch = bumped;
                        next.last_producer_epoch = -1;
                    }
                    Some((_, e)) if current.producer_epoch == -1 || e == current.producer_epoch => {
                        next.producer_epoch = bumped;
                        next.last_producer_epoch = current.producer_epoch;
                    }
                    // A retry of a bump that succeeded: the same answer again.
                    Some((_, e)) if e == current.last_producer_epoch => {}
                    Some(_) => return Err(ResponseError::ProducerFenced),
                }
                Ok(InitTransition::Ready(next))
            }
            TxnState::Dead | TxnState::PrepareEpochFence => Err(ResponseError::ConcurrentTransactions),
        }
    }

    /// Checks that `producer_id` and `producer_epoch` are this transactional id's current producer.
    fn current_producer(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&TxnMetadata, ResponseError> {
        let m = self.txns.get(transactional_id).ok_or(ResponseError::InvalidProducerIdMapping)?;
        if m.producer_id != producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if m.producer_epoch != producer_epoch {
            return Err(ResponseError::ProducerFenced);
        }
        Ok(m)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's `__consumer_offsets` partition). `Ok(None)`
    /// when every partition is already in the open transaction: nothing to write.
    pub fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TxnPartition],
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, ResponseError> {
        let m = self.current_producer(transactional_id, producer_id, producer_epoch)?;
        if m.state.is_prepare() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        if m.state == TxnState::Ongoing && partitions.iter().all(|p| m.partitions.contains(p)) {
            return Ok(None);
        }
        let mut next = m.clone();
        if m.state.is_complete_or_empty() {
            next.start_ms = now_ms;
            next.partitions.clear();
        }
        next.state = TxnState::Ongoing;
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_ms = now_ms;
        Ok(Some(next))
    }

    /// Whether a transactional write to `partition` by this producer belongs to its open transaction (the
    /// check Kafka's brokers make before the first transactional batch of a producer in a partition). The
    /// errors are those a producer expects from a Produce or TxnOffsetCommit.
    pub fn verify_partition(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partition: &TxnPartition,
    ) -> Result<(), ResponseError> {
        let m = match self.current_producer(transactional_id, producer_id, producer_epoch) {
            Err(ResponseError::ProducerFenced) => return Err(ResponseError::InvalidProducerEpoch),
            other => other?,
        };
        match m.state {
            TxnState::Ongoing if m.partitions.contains(partition) => Ok(()),
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(ResponseError::ConcurrentTransactions),
            _ => Err(ResponseError::InvalidTxnState),
        }
    }

    /// EndTxn from a client (transaction.version 1: the epoch must be the current one).
    pub fn end_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<EndTransition, ResponseError> {
        let m = self.current_producer(transactional_id, producer_id, producer_epoch)?;
        match (m.state, commit) {
            (TxnState::Ongoing, _) => {
                let mut next = m.clone();
                next.state = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
                next.last_update_ms = now_ms;
                Ok(EndTransition::Prepare(next))
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(EndTransition::AlreadyDone),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(ResponseError::ConcurrentTransactions)
            }
            _ => Err(ResponseError::InvalidTxnState),
        }
    }

    /// Open transactions older than their timeout, by transactional id.
    pub fn timed_out(&self, now_ms: i64) -> Vec<String> {
        let mut ids: Vec<String> = self
            .txns
            .values()
            .filter(|m| m.state == TxnState::Ongoing && m.start_ms.saturating_add(i64::from(m.timeout_ms)) < now_ms)
            .map(|m| m.transactional_id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// The abort of a timed-out transaction: the producer is fenced by an epoch bump and the transaction moves
    /// to PrepareAbort, as Kafka's coordinator does it.
    pub fn fence_and_abort(&self, transactional_id: &str, now_ms: i64) -> Option<TxnMetadata> {
        let m = self.txns.get(transactional_id).filter(|m| m.state == TxnState::Ongoing)?;
        let mut next = m.clone();
        next.producer_epoch = m.producer_epoch.checked_add(1)?;
        next.last_producer_epoch = -1;
        next.state = TxnState::PrepareAbort;
        next.last_update_ms = now_ms;
        Some(next)
    }

    /// Transactions in PrepareCommit or PrepareAbort: their markers still have to be written.
    pub fn pending_completion(&self) -> Vec<TxnMetadata> {
        let mut pending: Vec<TxnMetadata> = self.txns.values().filter(|m| m.state.is_prepare()).cloned().collect();
        pending.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        pending
    }

    /// The CompleteCommit or CompleteAbort a prepared transaction moves to once its markers are written.
    pub fn complete(&self, transactional_id: &str, now_ms: i64) -> Option<TxnMetadata> {
        let m = self.txns.get(transactional_id).filter(|m| m.state.is_prepare())?;
        let mut next = m.clone();
        next.state =
            if m.state == TxnState::PrepareCommit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        next.partitions.clear();
        next.last_producer_epoch = m.producer_epoch;
        next.last_update_ms = now_ms;
        Some(next)
    }

    /// Transactional ids idle past `transactional.id.expiration.ms` with no open transaction: each comes back
    /// as Dead, to be written as a tombstone and applied.
    pub fn expired(&self, now_ms: i64) -> Vec<TxnMetadata> {
        let expiration = self.config.id_expiration_ms;
        let mut out: Vec<TxnMetadata> = self
            .txns
            .values()
            .filter(|m| m.state.is_complete_or_empty() && m.last_update_ms.saturating_add(expiration) <= now_ms)
            .map(|m| TxnMetadata { state: TxnState::Dead, ..m.clone() })
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// ListTransactions: transactions matching every filter given (states by name, producer ids, running
    /// longer than `min_duration_ms` when it is >= 0, transactional ids matching `pattern`), and the state
    /// names that are not Kafka's.
    pub fn list(
        &self,
        states: &[String],
        producer_ids: &[i64],
        min_duration_ms: i64,
        pattern: Option<&regex::Regex>,
        now_ms: i64,
    ) -> (Vec<&TxnMetadata>, Vec<String>) {
        let unknown: Vec<String> = states.iter().filter(|s| TxnState::from_name(s).is_none()).cloned().collect();
        let state_set: Vec<TxnState> = states.iter().filter_map(|s| TxnState::from_name(s)).collect();
        let mut out: Vec<&TxnMetadata> = self
            .txns
            .values()
            .filter(|m| m.state != TxnState::Dead)
            .filter(|m| producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
            .filter(|m| states.is_empty() || state_set.contains(&m.state))
            .filter(|m| min_duration_ms < 0 || now_ms - m.start_ms > min_duration_ms)
            .filter(|m| pattern.is_none_or(|re| re.is_match(&m.transactional_id)))
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        (out, unknown)
    }

    /// The partitions of a transaction grouped by topic, as DescribeTransactions lists them.
    pub fn partitions_by_topic(m: &TxnMetadata) -> BTreeMap<&str, Vec<i32>> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in &m.partitions {
            by_topic.entry(topic.as_str()).or_default().push(*partition);
        }
        by_topic
    }
}

#[cfg(test)]
mod tests;
