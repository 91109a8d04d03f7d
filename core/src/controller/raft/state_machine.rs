//! The quorum's state machine: the metadata image the committed records produce.

use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::TypeConfig;
use crate::controller::image::MetadataImage;
use crate::controller::records::MetadataRecord;

struct Inner {
    image: MetadataImage,
    /// The Kafka offset the next record of the metadata log has.
    next_offset: i64,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    snapshot: Option<(SnapshotMeta<u64, BasicNode>, Vec<u8>)>,
}

/// What a snapshot holds: the image as records, and where the log stood.
#[derive(Serialize, Deserialize)]
struct SnapshotData {
    next_offset: i64,
    records: Vec<Vec<u8>>,
}

#[derive(Clone)]
pub(super) struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    published: Arc<watch::Sender<Arc<MetadataImage>>>,
}

impl StateMachine {
    pub fn new() -> (StateMachine, watch::Receiver<Arc<MetadataImage>>) {
        let (tx, rx) = watch::channel(Arc::new(MetadataImage::default()));
        let sm = StateMachine {
            inner: Arc::new(Mutex::new(Inner {
                image: MetadataImage::default(),
                next_offset: 0,
                last_applied: None,
                membership: StoredMembership::default(),
                snapshot: None,
            })),
            published: Arc::new(tx),
        };
        (sm, rx)
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

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let mut inner = self.lock();
        let data = SnapshotData {
            next_offset: inner.next_offset,
            records: inner.image.to_records().iter().map(MetadataRecord::encode).collect(),
        };
        let bytes = serde_json::to_vec(&data).map_err(|e| StorageIOError::read_state_machine(&e))?;
        let meta = SnapshotMeta {
            last_log_id: inner.last_applied,
            last_membership: inner.membership.clone(),
            snapshot_id: format!("{}-{}", inner.last_applied.map_or(0, |l| l.index), inner.next_offset),
        };
        inner.snapshot = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
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
        let mut image = MetadataImage::default();
        for (bytes, offset) in data.records.iter().zip(0..) {
            if let Ok(record) = MetadataRecord::decode(bytes) {
                image.apply_at(&record, offset);
            }
        }
        image.skip_to(data.next_offset - 1);
        let mut inner = self.lock();
        inner.image = image.clone();
        inner.next_offset = data.next_offset;
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.snapshot = Some((meta.clone(), bytes));
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
