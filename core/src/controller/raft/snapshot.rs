//! Snapshots of the metadata image in Kafka's `.checkpoint` format, so the metadata log need not be kept whole.
//!
//! A checkpoint file is named by the offset just past the last record it contains and that record's epoch
//! (`00000000000000001234-0000000005.checkpoint` in `__cluster_metadata-0/`), and holds record batches from
//! offset 0: a SnapshotHeaderRecord control batch, the image as metadata records, and a SnapshotFooterRecord
//! control batch — what Kafka's `kafka-dump-log --cluster-metadata-decoder` and `kafka-metadata-shell
//! --snapshot` read. It is written beside the log under a temporary name and renamed into place. Raft's own
//! bookkeeping for the snapshot (the index of the last entry it contains) is kept in `raft-snapshot` beside it.

use std::path::Path;

use kafka_protocol::messages::{SnapshotFooterRecord, SnapshotHeaderRecord};
use kafka_protocol::protocol::Encodable;
use openraft::LogId;
use serde::{Deserialize, Serialize};

use crate::controller::records::MetadataRecord;
use crate::record::{self, BatchBuilder, Compression, DecodeLimits};
use crate::storage::backend::{read_whole, write_atomic};
use crate::storage::Backend;

/// Kafka's control record types of a snapshot's first and last batches.
const SNAPSHOT_HEADER: i16 = 3;
const SNAPSHOT_FOOTER: i16 = 4;
/// Records per batch in a checkpoint file (Kafka fills batches up to `metadata.max.batch.size`-ish sizes).
const RECORDS_PER_BATCH: usize = 1000;
/// The file beside the checkpoints that says which one is current and which Raft entry it ends with.
const RAFT_SNAPSHOT: &str = "raft-snapshot";
const SUFFIX: &str = ".checkpoint";

/// Which checkpoint is current, for Raft: the last entry it contains, and the Kafka offset after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SnapshotInfo {
    pub last_log_id: LogId<u64>,
    /// The Kafka offset of the first record after the snapshot (the checkpoint's end offset).
    pub next_offset: i64,
}

impl SnapshotInfo {
    pub fn file_name(&self) -> String {
        format!("{:020}-{:010}{SUFFIX}", self.next_offset, self.last_log_id.leader_id.term)
    }
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// The checkpoint file's bytes for an image given as records (each in Kafka's encoding).
pub(super) fn encode(records: &[Vec<u8>], epoch: u64, now_ms: i64) -> std::io::Result<Vec<u8>> {
    let epoch = i32::try_from(epoch).map_err(io_err)?;
    let mut out = Vec::new();
    let mut offset = 0i64;
    let mut push = |builder: BatchBuilder, count: usize, out: &mut Vec<u8>| -> std::io::Result<()> {
        let mut bytes = builder.base_offset(offset).partition_leader_epoch(epoch).build().map_err(io_err)?;
        record::set_partition_leader_epoch(&mut bytes, epoch);
        out.extend_from_slice(&bytes);
        offset += count as i64;
        Ok(())
    };
    let mut header = Vec::new();
    SnapshotHeaderRecord::default()
        .with_version(0)
        .with_last_contained_log_timestamp(now_ms)
        .encode(&mut header, 0)
        .map_err(io_err)?;
    push(BatchBuilder::control_record(SNAPSHOT_HEADER, &header, now_ms), 1, &mut out)?;
    for chunk in records.chunks(RECORDS_PER_BATCH) {
        let mut batch = BatchBuilder::new(Compression::None);
        for r in chunk {
            batch.append(now_ms, None, Some(r), &[]);
        }
        push(batch, chunk.len(), &mut out)?;
    }
    let mut footer = Vec::new();
    SnapshotFooterRecord::default().with_version(0).encode(&mut footer, 0).map_err(io_err)?;
    push(BatchBuilder::control_record(SNAPSHOT_FOOTER, &footer, now_ms), 1, &mut out)?;
    Ok(out)
}

/// The metadata records of a checkpoint file (control batches skipped); an error when a batch is damaged or
/// the footer is missing (a file cut short).
pub(super) fn decode(bytes: &[u8]) -> std::io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut footer = false;
    for batch in record::Batches::new(bytes) {
        let batch = batch.map_err(io_err)?;
        let (header, records) = record::decode_records(batch, DecodeLimits::default()).map_err(io_err)?;
        if header.is_control() {
            let kind = records
                .first()
                .and_then(|r| r.key.as_ref())
                .filter(|k| k.len() >= 4)
                .map(|k| i16::from_be_bytes([k[2], k[3]]));
            footer |= kind == Some(SNAPSHOT_FOOTER);
            continue;
        }
        out.extend(records.into_iter().map(|r| r.value.map(|v| v.to_vec()).unwrap_or_default()));
    }
    if !footer {
        return Err(io_err("the checkpoint has no SnapshotFooterRecord (cut short)"));
    }
    Ok(out)
}

/// Writes a checkpoint and makes it the current one; older checkpoints go.
pub(super) fn store(backend: &dyn Backend, dir: &Path, info: &SnapshotInfo, bytes: &[u8]) -> std::io::Result<()> {
    let name = info.file_name();
    write_atomic(backend, &dir.join(&name), bytes)?;
    let json = serde_json::to_vec(info).map_err(io_err)?;
    write_atomic(backend, &dir.join(RAFT_SNAPSHOT), &json)?;
    for old in backend.list_dir(dir)? {
        if old.ends_with(SUFFIX) && old != name {
            backend.remove_file(&dir.join(old))?;
        }
    }
    Ok(())
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
    Ok(Some((info, decode(&bytes)?)))
}

/// The image's records in Kafka's encoding.
pub(super) fn image_records(image: &crate::controller::image::MetadataImage) -> Vec<Vec<u8>> {
    image.to_records().iter().map(MetadataRecord::encode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_and_a_cut_one_is_refused() {
        let records: Vec<Vec<u8>> = (0..2500u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let bytes = encode(&records, 7, 1_700_000_000_000).unwrap();
        assert_eq!(decode(&bytes).unwrap(), records);
        // Header, three batches of records, footer: offsets run on from 0.
        let headers: Vec<_> =
            record::Batches::new(&bytes).map(|b| record::BatchHeader::parse(b.unwrap()).unwrap()).collect();
        assert_eq!(headers.len(), 5);
        assert_eq!(headers.iter().map(|h| h.base_offset).collect::<Vec<_>>(), vec![0, 1, 1001, 2001, 2501]);
        assert!(headers.iter().all(|h| h.partition_leader_epoch == 7));
        let cut = &bytes[..bytes.len() - 10];
        assert!(decode(cut).is_err());
        let info =
            SnapshotInfo { last_log_id: LogId::new(openraft::CommittedLeaderId::new(5, 0), 42), next_offset: 1234 };
        assert_eq!(info.file_name(), "00000000000000001234-0000000005.checkpoint");
    }
}
