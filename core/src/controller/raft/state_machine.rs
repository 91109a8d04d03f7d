//! The quorum's state machine: the metadata image the committed records produce, and its snapshots (Kafka's
//! `.checkpoint` files, see [`super::snapshot`]).

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, Membership, RaftSnapshotBuilder, StorageError, StorageIOError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::snapshot::{self, SnapshotInfo};
use super::TypeConfig;
use crate::controller::image::MetadataImage;
use crate::controller::records::MetadataRecord;
use crate::storage::Backend;

struct Inner {
    image: MetadataImage,
    /// The Kafka offset the next record of the metadata log has.
    next_offset: i64,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    snapshot: Option<(SnapshotMeta<u64, BasicNode>, Vec<u8>)>,
    /// Bytes of records applied since the last snapshot, and when it was taken (for the snapshot triggers).
    bytes_since_snapshot: u64,
    snapshot_at_ms: i64,
}

/// What a snapshot holds on its way to another voter: the image as records, and where the log stood.
#[derive(Serialize, Deserialize)]
pub(super) struct SnapshotData {
    pub next_offset: i64,
    pub records: Vec<Vec<u8>>,
}

#[derive(Clone)]
pub(super) struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    published: Arc<watch::Sender<Arc<MetadataImage>>>,
    backend: Arc<dyn Backend>,
    /// `__cluster_metadata-0`, where the checkpoints live.
    dir: PathBuf,
    anchor: super::SnapshotAnchor,
}

pub(super) use crate::controller::checkpoint::image_of;

impl StateMachine {
    /// A state machine starting from the current checkpoint in `dir` when there is one (the log entries after
    /// it are applied by Raft as it starts), from nothing otherwise.
    pub fn open(
        backend: Arc<dyn Backend>,
        dir: PathBuf,
        voters: &BTreeMap<u64, BasicNode>,
        anchor: super::SnapshotAnchor,
        now_ms: i64,
    ) -> std::io::Result<(StateMachine, watch::Receiver<Arc<MetadataImage>>)> {
        let mut inner = Inner {
            image: MetadataImage::default(),
            next_offset: 0,
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot: None,
            bytes_since_snapshot: 0,
            snapshot_at_ms: now_ms,
        };
        if let Some((info, records)) = snapshot::load(backend.as_ref(), &dir)? {
            let membership = Membership::new(vec![voters.keys().copied().collect()], voters.clone());
            inner.membership = StoredMembership::new(Some(info.last_log_id), membership);
            inner.image = image_of(&records, info.next_offset);
            inner.next_offset = info.next_offset;
            inner.last_applied = Some(info.last_log_id);
            let data = SnapshotData { next_offset: info.next_offset, records };
            let bytes = serde_json::to_vec(&data).map_err(std::io::Error::other)?;
            let meta = SnapshotMeta {
                last_log_id: Some(info.last_log_id),
                last_membership: inner.membership.clone(),
                snapshot_id: info.file_name(),
            };
            inner.snapshot = Some((meta, bytes));
            *anchor.lock().unwrap_or_else(PoisonError::into_inner) = Some((info.last_log_id.index, info.next_offset));
        }
        let (tx, rx) = watch::channel(Arc::new(inner.image.clone()));
        let sm = StateMachine { inner: Arc::new(Mutex::new(inner)), published: Arc::new(tx), backend, dir, anchor };
        Ok((sm, rx))
    }

    /// Whether a snapshot is due: `max_bytes` of records applied since the last one, or `interval_ms` passed
    /// with something applied (Kafka's `metadata.log.max.record.bytes.between.snapshots` and
    /// `metadata.log.max.snapshot.interval.ms`).
    pub fn snapshot_due(&self, max_bytes: u64, interval_ms: i64, now_ms: i64) -> bool {
        let inner = self.lock();
        inner.bytes_since_snapshot >= max_bytes
            || (inner.bytes_since_snapshot > 0 && interval_ms > 0 && now_ms - inner.snapshot_at_ms >= interval_ms)
    }

    /// The current snapshot for an observer: the last entry index it contains, the offset after it, and its
    /// records.
    pub fn current_snapshot(&self) -> Option<(u64, SnapshotData)> {
        let inner = self.lock();
        let (meta, bytes) = inner.snapshot.as_ref()?;
        let data: SnapshotData = serde_json::from_slice(bytes).ok()?;
        Some((meta.last_log_id?.index, data))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, image: MetadataImage) {
        self.published.send_replace(Arc::new(image));
    }
}

/// Applies one committed entry to `image`, whose next record has Kafka offset `next_offset`: a batch's records
/// in turn, and one offset for a blank entry (a LeaderChange) or a membership (KRaftVoters). Controllers apply
/// entries as Raft commits them, and brokers the same entries as they fetch them, so every node's image of a
/// given entry has the same offsets.
pub(super) fn apply_entry(image: &mut MetadataImage, next_offset: &mut i64, payload: &EntryPayload<TypeConfig>) {
    match payload {
        EntryPayload::Blank | EntryPayload::Membership(_) => {
            image.skip_to(*next_offset);
            *next_offset += 1;
        }
        EntryPayload::Normal(payload) => {
            for bytes in &payload.records {
                let offset = *next_offset;
                match MetadataRecord::decode(bytes) {
                    Ok(record) => image.apply_at(&record, offset),
                    // Committed is committed: a record this version cannot read is skipped, loudly.
                    Err(e) => {
                        tracing::warn!(target: "potok::controller", "skipping unreadable metadata record at offset {offset}: {e}")
                    }
                }
                *next_offset += 1;
            }
        }
    }
}

impl StateMachine {
    /// Writes the checkpoint for `data` ending with entry `last` and makes it the current snapshot.
    // openraft's own error type, returned as its storage traits require.
    #[allow(clippy::result_large_err)]
    fn keep(
        &self,
        inner: &mut Inner,
        last: LogId<u64>,
        data: SnapshotData,
        now_ms: i64,
    ) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let info = SnapshotInfo { last_log_id: last, next_offset: data.next_offset };
        let checkpoint = snapshot::encode(&data.records, last.leader_id.term, now_ms)
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        snapshot::store(self.backend.as_ref(), &self.dir, &info, &checkpoint)
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let bytes = serde_json::to_vec(&data).map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let meta = SnapshotMeta {
            last_log_id: Some(last),
            last_membership: inner.membership.clone(),
            snapshot_id: info.file_name(),
        };
        inner.snapshot = Some((meta.clone(), bytes.clone()));
        *self.anchor.lock().unwrap_or_else(PoisonError::into_inner) = Some((last.index, info.next_offset));
        inner.bytes_since_snapshot = 0;
        inner.snapshot_at_ms = now_ms;
        tracing::info!(target: "potok::controller", "wrote the metadata snapshot {} ({} records)", info.file_name(), data.records.len());
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let mut inner = self.lock();
        let Some(last) = inner.last_applied else {
            return Err(StorageIOError::write_snapshot(None, &std::io::Error::other("nothing applied yet")).into());
        };
        let data = SnapshotData { next_offset: inner.next_offset, records: snapshot::image_records(&inner.image) };
        self.keep(&mut inner, last, data, crate::net::now_ms())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError<u64>> {
        let inner = self.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<i64>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.lock();
        let mut out = Vec::new();
        for entry in entries {
            if let EntryPayload::Membership(m) = &entry.payload {
                inner.membership = StoredMembership::new(Some(entry.log_id), m.clone());
            }
            if let EntryPayload::Normal(p) = &entry.payload {
                inner.bytes_since_snapshot += p.records.iter().map(|r| r.len() as u64).sum::<u64>();
            }
            let Inner { image, next_offset, .. } = &mut *inner;
            apply_entry(image, next_offset, &entry.payload);
            inner.last_applied = Some(entry.log_id);
            out.push(inner.next_offset);
        }
        let image = inner.image.clone();
        drop(inner);
        self.publish(image);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let bytes = snapshot.into_inner();
        let data: SnapshotData =
            serde_json::from_slice(&bytes).map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let Some(last) = meta.last_log_id else { return Ok(()) };
        let image = image_of(&data.records, data.next_offset);
        let mut inner = self.lock();
        inner.membership = meta.last_membership.clone();
        inner.image = image.clone();
        inner.next_offset = data.next_offset;
        inner.last_applied = Some(last);
        // Kept as this node's own checkpoint too, so a restart starts from it.
        self.keep(&mut inner, last, data, crate::net::now_ms())?;
        drop(inner);
        self.publish(image);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        let inner = self.lock();
        Ok(inner
            .snapshot
            .as_ref()
            .map(|(meta, bytes)| Snapshot { meta: meta.clone(), snapshot: Box::new(Cursor::new(bytes.clone())) }))
    }
}
