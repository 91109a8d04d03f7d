//! The Raft log over `__cluster_metadata-0`: one entry per record batch, in Kafka's format.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use kafka_protocol::messages::leader_change_message::Voter as LeaderChangeVoter;
use kafka_protocol::messages::voters_record::{Endpoint, KRaftVersionFeature, Voter};
use kafka_protocol::messages::{BrokerId, LeaderChangeMessage, VotersRecord};
use kafka_protocol::protocol::{Encodable, StrBytes};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, Membership, StorageError, StorageIOError, Vote,
};
use serde::{Deserialize, Serialize};

use super::{Payload, TypeConfig};
use crate::controller::{metadata_log_config, METADATA_LOG_DIR};
use crate::record::{self, BatchBuilder, Compression, DecodeLimits};
use crate::storage::backend::{read_whole, write_atomic};
use crate::storage::{AppendOrigin, Backend, Log, OpenOptions, StorageError as LogError};

/// Kafka's control record types in the metadata log.
const LEADER_CHANGE: i16 = 2;
const KRAFT_VOTERS: i16 = 6;
/// The vote and commit index, beside the log.
const RAFT_STATE: &str = "raft-state";

/// Where an entry's batch starts in the Kafka log, and its term.
#[derive(Debug, Clone, Copy)]
struct EntryMeta {
    base_offset: i64,
    term: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RaftState {
    vote: Option<Vote<u64>>,
    committed: Option<LogId<u64>>,
    purged: Option<LogId<u64>>,
    /// The index of the log's first entry and the Kafka offset its batch starts at, once entries before it
    /// were purged (a snapshot covers them); the log start offset is kept there.
    #[serde(default)]
    first: Option<(u64, i64)>,
}

struct Inner {
    log: Log,
    backend: Arc<dyn Backend>,
    state_path: PathBuf,
    /// Entry `i` is `entries[i - first_index]`.
    entries: Vec<EntryMeta>,
    first_index: u64,
    state: RaftState,
    voters: BTreeMap<u64, BasicNode>,
}

/// The Raft log store; clones share the log (one is the reader openraft asks for).
#[derive(Clone)]
pub(super) struct LogStore {
    inner: Arc<Mutex<Inner>>,
    /// The last entry index and the Kafka offset after it of the newest snapshot (shared with the state
    /// machine): a purge past the log's end (a snapshot installed from the leader) restarts the log there.
    anchor: super::SnapshotAnchor,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

impl LogStore {
    pub fn open(
        backend: Arc<dyn Backend>,
        dir: &Path,
        voters: BTreeMap<u64, BasicNode>,
        segment_bytes: u64,
        anchor: super::SnapshotAnchor,
        now_ms: i64,
    ) -> Result<LogStore, LogError> {
        let log_dir = dir.join(METADATA_LOG_DIR);
        let state_path = log_dir.join(RAFT_STATE);
        let state: RaftState = match read_whole(backend.as_ref(), &state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| LogError::Corrupt {
                path: state_path.clone(),
                reason: format!("unreadable raft state: {e}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RaftState::default(),
            Err(e) => return Err(LogError::io(&state_path, e)),
        };
        let (first_index, first_offset) = state.first.unwrap_or((0, 0));
        let segment_bytes = u32::try_from(segment_bytes).unwrap_or(u32::MAX);
        let config = crate::storage::LogConfig { segment_bytes, ..metadata_log_config() };
        let options = OpenOptions { log_start_offset: first_offset, ..OpenOptions::default() };
        let mut log = Log::open(backend.clone(), &log_dir, config, options, now_ms)?;
        // Every stored entry was fsynced when appended: the whole log is durable.
        let end = log.log_end_offset();
        log.set_high_watermark(end);
        let mut entries = Vec::new();
        log.for_each_batch(log.log_start_offset(), |batch| -> Result<(), LogError> {
            let header = record::BatchHeader::parse(batch).map_err(LogError::from)?;
            entries
                .push(EntryMeta { base_offset: header.base_offset, term: header.partition_leader_epoch.max(0) as u64 });
            Ok(())
        })?;
        Ok(LogStore {
            inner: Arc::new(Mutex::new(Inner { log, backend, state_path, entries, first_index, state, voters })),
            anchor,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The index of the first entry the log holds (those before were purged under a snapshot).
    pub fn first_index(&self) -> u64 {
        self.lock().first_index
    }

    /// The entries from `start` to before `end` (fewer when the log ends sooner).
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Entry<TypeConfig>>, std::io::Error> {
        self.lock().read_range(start, end)
    }

    /// The id of the last entry the log holds (or of the last purged one).
    pub fn last_log_id(&self) -> Option<LogId<u64>> {
        self.lock().last_log_id()
    }

    /// The Kafka offset just past entry `index` (where the log ends once it holds that entry); 0 for none.
    pub fn offset_after(&self, index: Option<u64>) -> i64 {
        let inner = self.lock();
        let Some(index) = index else { return 0 };
        let pos = index.saturating_sub(inner.first_index) as usize;
        match inner.entries.get(pos + 1) {
            Some(next) => next.base_offset,
            None => inner.log.log_end_offset(),
        }
    }
}

impl Inner {
    // openraft's own error type, returned as its storage traits require.
    #[allow(clippy::result_large_err)]
    fn save_state(&self) -> Result<(), StorageError<u64>> {
        let bytes = serde_json::to_vec(&self.state).map_err(|e| StorageIOError::write_vote(&io_err(e)))?;
        write_atomic(self.backend.as_ref(), &self.state_path, &bytes).map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    fn last_log_id(&self) -> Option<LogId<u64>> {
        let n = self.entries.len() as u64;
        if n == 0 {
            return self.state.purged;
        }
        let last = self.entries[self.entries.len() - 1];
        Some(log_id(last.term, self.first_index + n - 1))
    }

    /// The batch one entry is stored as.
    fn encode(&self, entry: &Entry<TypeConfig>, now_ms: i64) -> Result<Vec<u8>, std::io::Error> {
        let epoch = entry.log_id.leader_id.term as i32;
        let builder = match &entry.payload {
            EntryPayload::Normal(payload) => {
                let mut b = BatchBuilder::new(Compression::None);
                for r in &payload.records {
                    b.append(now_ms, None, Some(r), &[]);
                }
                b
            }
            EntryPayload::Blank => {
                // A new leader's first entry: Kafka's LeaderChange record names the leader and the voters.
                let leader = self.state.vote.and_then(|v| v.leader_id.voted_for).map_or(-1, |l| l as i32);
                let voters: Vec<LeaderChangeVoter> =
                    self.voters.keys().map(|id| LeaderChangeVoter::default().with_voter_id(*id as i32)).collect();
                let message = LeaderChangeMessage::default()
                    .with_leader_id(BrokerId(leader))
                    .with_voters(voters.clone())
                    .with_granting_voters(voters);
                let mut value = Vec::new();
                message.encode(&mut value, 0).map_err(io_err)?;
                BatchBuilder::control_record(LEADER_CHANGE, &value, now_ms)
            }
            EntryPayload::Membership(m) => {
                let voters = m
                    .nodes()
                    .map(|(id, node)| {
                        let (host, port) = node.addr.rsplit_once(':').unwrap_or((&node.addr, "0"));
                        Voter::default()
                            .with_voter_id(BrokerId(*id as i32))
                            .with_endpoints(vec![Endpoint::default()
                                .with_name(StrBytes::from_static_str("CONTROLLER"))
                                .with_host(StrBytes::from_string(host.to_string()))
                                .with_port(port.parse().unwrap_or(0))])
                            .with_k_raft_version_feature(
                                KRaftVersionFeature::default()
                                    .with_min_supported_version(0)
                                    .with_max_supported_version(1),
                            )
                    })
                    .collect();
                let mut value = Vec::new();
                VotersRecord::default().with_voters(voters).encode(&mut value, 0).map_err(io_err)?;
                BatchBuilder::control_record(KRAFT_VOTERS, &value, now_ms)
            }
        };
        let mut bytes = builder.partition_leader_epoch(epoch).build().map_err(io_err)?;
        record::set_partition_leader_epoch(&mut bytes, epoch);
        Ok(bytes)
    }

    /// Reads an entry back from its batch.
    fn decode(&self, batch: &[u8], index: u64) -> Result<Entry<TypeConfig>, std::io::Error> {
        let (header, records) = record::decode_records(batch, DecodeLimits::default()).map_err(io_err)?;
        let id = log_id(header.partition_leader_epoch.max(0) as u64, index);
        let payload = if header.is_control() {
            let kind = records
                .first()
                .and_then(|r| r.key.as_ref())
                .filter(|k| k.len() >= 4)
                .map(|k| i16::from_be_bytes([k[2], k[3]]));
            match kind {
                // The voters are the static controller.quorum.voters.
                Some(KRAFT_VOTERS) => EntryPayload::Membership(Membership::new(
                    vec![self.voters.keys().copied().collect()],
                    self.voters.clone(),
                )),
                _ => EntryPayload::Blank,
            }
        } else {
            EntryPayload::Normal(Payload {
                records: records.into_iter().map(|r| r.value.map(|v| v.to_vec()).unwrap_or_default()).collect(),
            })
        };
        Ok(Entry { log_id: id, payload })
    }

    fn read_range(&self, start: u64, end: u64) -> Result<Vec<Entry<TypeConfig>>, std::io::Error> {
        let end = end.min(self.first_index + self.entries.len() as u64);
        if start >= end || start < self.first_index {
            return Ok(Vec::new());
        }
        let from = self.entries[(start - self.first_index) as usize].base_offset;
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut index = start;
        #[derive(Debug)]
        enum Stop {
            Done,
            Failed(std::io::Error),
        }
        impl From<LogError> for Stop {
            fn from(e: LogError) -> Self {
                Stop::Failed(io_err(e))
            }
        }
        let result = self.log.for_each_batch(from, |batch| -> Result<(), Stop> {
            if index >= end {
                return Err(Stop::Done);
            }
            out.push(self.decode(batch, index).map_err(Stop::Failed)?);
            index += 1;
            Ok(())
        });
        match result {
            Ok(()) | Err(Stop::Done) => Ok(out),
            Err(Stop::Failed(e)) => Err(e),
        }
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(s) => *s,
        Bound::Excluded(s) => s + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => e + 1,
        Bound::Excluded(e) => *e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<u64>> {
        let (start, end) = bounds(&range);
        self.lock().read_range(start, end).map_err(|e| StorageIOError::read_logs(&e).into())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let inner = self.lock();
        Ok(LogState { last_purged_log_id: inner.state.purged, last_log_id: inner.last_log_id() })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.lock();
        inner.state.vote = Some(*vote);
        inner.save_state()
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        Ok(self.lock().state.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError<u64>> {
        let mut inner = self.lock();
        inner.state.committed = committed;
        inner.save_state()
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError<u64>> {
        Ok(self.lock().state.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let now_ms = crate::net::now_ms();
        let mut inner = self.lock();
        let result = (|| -> Result<(), std::io::Error> {
            for entry in entries {
                let expected = inner.first_index + inner.entries.len() as u64;
                if entry.log_id.index != expected {
                    return Err(io_err(format!(
                        "entry {} appended where entry {expected} belongs",
                        entry.log_id.index
                    )));
                }
                let bytes = inner.encode(&entry, now_ms)?;
                let term = entry.log_id.leader_id.term;
                let info = inner.log.append(&bytes, term as i32, AppendOrigin::Coordinator, now_ms).map_err(io_err)?;
                inner.entries.push(EntryMeta { base_offset: info.first_offset, term });
            }
            // The metadata log fsyncs every append (flush.messages=1), so the entries are durable here.
            let end = inner.log.log_end_offset();
            inner.log.set_high_watermark(end);
            Ok(())
        })();
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = StorageIOError::write_logs(&e).into();
                callback.log_io_completed(Err(e));
                Err(err)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.lock();
        let Some(pos) = log_id.index.checked_sub(inner.first_index) else { return Ok(()) };
        let pos = pos as usize;
        if pos >= inner.entries.len() {
            return Ok(());
        }
        let offset = inner.entries[pos].base_offset;
        inner.log.truncate_to(offset).map_err(|e| StorageIOError::write_logs(&io_err(e)))?;
        inner.entries.truncate(pos);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        // Entries up to a snapshot go: the log starts at the next one (segments wholly below it are deleted).
        let mut inner = self.lock();
        let first = log_id.index + 1;
        let Some(drop) = first.checked_sub(inner.first_index) else { return Ok(()) };
        let now_ms = crate::net::now_ms();
        let past_end = drop as usize > inner.entries.len();
        let drop = (drop as usize).min(inner.entries.len());
        let anchored = *self.anchor.lock().unwrap_or_else(PoisonError::into_inner);
        let offset = match inner.entries.get(drop) {
            Some(e) => e.base_offset,
            // The log holds less than the snapshot: it restarts where the snapshot ends.
            None => match anchored {
                Some((index, next_offset)) if past_end && index == log_id.index => next_offset,
                _ => inner.log.log_end_offset(),
            },
        };
        inner.state.purged = Some(log_id);
        inner.state.first = Some((first, offset));
        // Recorded first, so a crash in between reopens the log at the new start (what lies below is covered).
        inner.save_state()?;
        let moved = if offset > inner.log.log_end_offset() {
            inner.log.truncate_fully_and_start_at(offset, now_ms)
        } else {
            inner.log.increment_log_start_offset(offset, now_ms)
        };
        moved.map_err(|e| StorageIOError::write_logs(&io_err(e)))?;
        inner.entries.drain(..drop);
        inner.first_index = first;
        Ok(())
    }
}
