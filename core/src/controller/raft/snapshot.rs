//! The controller quorum's snapshots: Kafka `.checkpoint` files (see [`crate::controller::checkpoint`]), so the
//! metadata log need not be kept whole. Raft's own bookkeeping for the current one (the index of the last entry
//! it contains) is kept in `raft-snapshot` beside it.

use std::path::Path;

use openraft::LogId;
use serde::{Deserialize, Serialize};

use crate::controller::checkpoint;
use crate::storage::backend::{read_whole, write_atomic};
use crate::storage::Backend;

/// The file beside the checkpoints that says which one is current and which Raft entry it ends with.
const RAFT_SNAPSHOT: &str = "raft-snapshot";

/// Which checkpoint is current, for Raft: the last entry it contains, and the Kafka offset after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SnapshotInfo {
    pub last_log_id: LogId<u64>,
    /// The Kafka offset of the first record after the snapshot (the checkpoint's end offset).
    pub next_offset: i64,
}

impl SnapshotInfo {
    pub fn file_name(&self) -> String {
        checkpoint::file_name(self.next_offset, self.last_log_id.leader_id.term)
    }
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

pub(super) use checkpoint::{encode, image_records};

/// Writes a checkpoint and makes it the current one; older checkpoints go.
pub(super) fn store(backend: &dyn Backend, dir: &Path, info: &SnapshotInfo, bytes: &[u8]) -> std::io::Result<()> {
    let name = info.file_name();
    checkpoint::write(backend, dir, &name, bytes)?;
    // The new file first, then what points to it, then the old files: a crash leaves a readable current one.
    let json = serde_json::to_vec(info).map_err(io_err)?;
    write_atomic(backend, &dir.join(RAFT_SNAPSHOT), &json)?;
    checkpoint::remove_others(backend, dir, &name)
}

/// The current checkpoint and its records, when there is one.
pub(super) fn load(backend: &dyn Backend, dir: &Path) -> std::io::Result<Option<(SnapshotInfo, Vec<Vec<u8>>)>> {
    let json = match read_whole(backend, &dir.join(RAFT_SNAPSHOT)) {
        Ok(json) => json,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let info: SnapshotInfo = serde_json::from_slice(&json).map_err(io_err)?;
    let bytes = read_whole(backend, &dir.join(info.file_name()))?;
    Ok(Some((info, checkpoint::decode(&bytes)?)))
}
