//! Kafka's metadata snapshot files (`.checkpoint`): record batches from offset 0, a SnapshotHeaderRecord control
//! batch, the image as metadata records, and a SnapshotFooterRecord control batch — what Kafka's `kafka-dump-log
//! --cluster-metadata-decoder` and `kafka-metadata-shell --snapshot` read. A file is named by the offset just
//! past the last record it covers and that record's epoch (`00000000000000001234-0000000005.checkpoint`) and
//! lives in `__cluster_metadata-0/` beside the log. The controller quorum's snapshots (`raft::snapshot`) and a
//! single node's metadata store both write them.

use std::path::Path;

use kafka_protocol::messages::{SnapshotFooterRecord, SnapshotHeaderRecord};
use kafka_protocol::protocol::Encodable;

use super::image::MetadataImage;
use super::records::MetadataRecord;
use crate::record::{self, BatchBuilder, Compression, DecodeLimits};
use crate::storage::backend::write_atomic;
use crate::storage::Backend;

/// Kafka's control record types of a snapshot's first and last batches.
const SNAPSHOT_HEADER: i16 = 3;
const SNAPSHOT_FOOTER: i16 = 4;
/// Kafka's control record types of a dynamic quorum's kraft.version and voter set (KIP-853).
#[cfg(feature = "native")]
const KRAFT_VERSION: i16 = 5;
#[cfg(feature = "native")]
const KRAFT_VOTERS: i16 = 6;
/// Records per batch in a checkpoint file.
const RECORDS_PER_BATCH: usize = 1000;
pub(crate) const SUFFIX: &str = ".checkpoint";

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// The name of the checkpoint ending before `end_offset`, whose last record has `epoch`.
pub(crate) fn file_name(end_offset: i64, epoch: u64) -> String {
    format!("{end_offset:020}-{epoch:010}{SUFFIX}")
}

/// The end offset a checkpoint's name gives.
fn end_offset_of(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (end, epoch) = stem.split_once('-')?;
    (end.len() == 20 && epoch.len() == 10 && epoch.bytes().all(|b| b.is_ascii_digit())).then(|| end.parse().ok())?
}

/// The checkpoint file's bytes for an image given as records (each in Kafka's encoding).
pub(crate) fn encode(records: &[Vec<u8>], epoch: u64, now_ms: i64) -> std::io::Result<Vec<u8>> {
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
pub(crate) fn decode(bytes: &[u8]) -> std::io::Result<Vec<Vec<u8>>> {
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

/// Writes a checkpoint under its name (atomically).
pub(crate) fn write(backend: &dyn Backend, dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(backend, &dir.join(name), bytes)
}

/// Removes the checkpoints other than `keep` (and the bootstrap checkpoint holding a dynamic quorum's voters).
pub(crate) fn remove_others(backend: &dyn Backend, dir: &Path, keep: &str) -> std::io::Result<()> {
    let bootstrap = file_name(0, 0);
    for old in backend.list_dir(dir)? {
        if old.ends_with(SUFFIX) && old != keep && old != bootstrap {
            backend.remove_file(&dir.join(old))?;
        }
    }
    Ok(())
}

/// The newest checkpoint in `dir` by end offset: its name and end offset.
pub(crate) fn latest(backend: &dyn Backend, dir: &Path) -> std::io::Result<Option<(String, i64)>> {
    if !backend.is_dir(dir) {
        return Ok(None);
    }
    Ok(backend.list_dir(dir)?.into_iter().filter_map(|n| end_offset_of(&n).map(|e| (n, e))).max_by_key(|(_, e)| *e))
}

/// A voter of a dynamic controller quorum (KIP-853), as `kafka-storage format --initial-controllers` names it
/// (`id@host:port:directory-id`) and the quorum's VotersRecord keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapVoter {
    pub id: i32,
    pub directory_id: uuid::Uuid,
    /// The controller listener it serves the quorum on.
    pub listener: String,
    pub host: String,
    pub port: u16,
}

/// The bootstrap checkpoint `kafka-storage format --standalone` / `--initial-controllers` writes into a
/// controller's `__cluster_metadata-0`: a snapshot at offset 0 of only control records, kraft.version 1 and the
/// initial voter set.
#[cfg(feature = "native")]
pub fn bootstrap_voters_checkpoint(voters: &[BootstrapVoter], now_ms: i64) -> std::io::Result<Vec<u8>> {
    use kafka_protocol::messages::voters_record::{Endpoint, KRaftVersionFeature, Voter};
    use kafka_protocol::messages::{BrokerId, KRaftVersionRecord, VotersRecord};
    use kafka_protocol::protocol::StrBytes;
    let mut out = Vec::new();
    let mut control = |kind: i16, value: Vec<u8>, offset: i64| -> std::io::Result<()> {
        let bytes = BatchBuilder::control_record(kind, &value, now_ms).base_offset(offset).build().map_err(io_err)?;
        out.extend_from_slice(&bytes);
        Ok(())
    };
    let mut header = Vec::new();
    SnapshotHeaderRecord::default().with_last_contained_log_timestamp(now_ms).encode(&mut header, 0).map_err(io_err)?;
    control(SNAPSHOT_HEADER, header, 0)?;
    let mut version = Vec::new();
    KRaftVersionRecord::default().with_k_raft_version(1).encode(&mut version, 0).map_err(io_err)?;
    control(KRAFT_VERSION, version, 1)?;
    let record = VotersRecord::default().with_voters(
        voters
            .iter()
            .map(|v| {
                Voter::default()
                    .with_voter_id(BrokerId(v.id))
                    .with_voter_directory_id(v.directory_id)
                    .with_endpoints(vec![Endpoint::default()
                        .with_name(StrBytes::from_string(v.listener.clone()))
                        .with_host(StrBytes::from_string(v.host.clone()))
                        .with_port(v.port)])
                    .with_k_raft_version_feature(
                        KRaftVersionFeature::default().with_min_supported_version(0).with_max_supported_version(1),
                    )
            })
            .collect(),
    );
    let mut value = Vec::new();
    record.encode(&mut value, 0).map_err(io_err)?;
    control(KRAFT_VOTERS, value, 2)?;
    let mut footer = Vec::new();
    SnapshotFooterRecord::default().encode(&mut footer, 0).map_err(io_err)?;
    control(SNAPSHOT_FOOTER, footer, 3)?;
    Ok(out)
}

/// Writes the bootstrap checkpoint of a dynamic quorum into `metadata_dir/__cluster_metadata-0`.
#[cfg(feature = "native")]
pub fn write_bootstrap_voters(metadata_dir: &Path, voters: &[BootstrapVoter], now_ms: i64) -> std::io::Result<()> {
    let dir = metadata_dir.join(format!("{}-0", super::METADATA_TOPIC));
    std::fs::create_dir_all(&dir)?;
    let bytes = bootstrap_voters_checkpoint(voters, now_ms)?;
    write_atomic(&crate::storage::FileBackend, &dir.join(file_name(0, 0)), &bytes)
}

/// The voter set of a dynamic quorum, from the newest VotersRecord in the checkpoints of
/// `metadata_dir/__cluster_metadata-0` (the bootstrap checkpoint a format wrote); `None` when there is none.
#[cfg(feature = "native")]
pub fn read_bootstrap_voters(metadata_dir: &Path) -> std::io::Result<Option<Vec<BootstrapVoter>>> {
    use kafka_protocol::messages::VotersRecord;
    use kafka_protocol::protocol::Decodable;
    let dir = metadata_dir.join(format!("{}-0", super::METADATA_TOPIC));
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(None) };
    let mut checkpoints: Vec<(i64, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| end_offset_of(&e.file_name().to_string_lossy()).map(|end| (end, e.path())))
        .collect();
    checkpoints.sort();
    let mut found = None;
    for (_, path) in checkpoints {
        let bytes = std::fs::read(&path)?;
        for batch in record::Batches::new(&bytes) {
            let batch = batch.map_err(io_err)?;
            let (header, records) = record::decode_records(batch, DecodeLimits::default()).map_err(io_err)?;
            if !header.is_control() {
                continue;
            }
            for r in records {
                let kind = r.key.as_ref().filter(|k| k.len() >= 4).map(|k| i16::from_be_bytes([k[2], k[3]]));
                let (Some(KRAFT_VOTERS), Some(mut value)) = (kind, r.value) else { continue };
                let record = VotersRecord::decode(&mut value, 0)
                    .map_err(|e| io_err(format!("{}: a VotersRecord potok cannot read: {e}", path.display())))?;
                let voters = record
                    .voters
                    .iter()
                    .filter_map(|v| {
                        let endpoint = v.endpoints.first()?;
                        Some(BootstrapVoter {
                            id: v.voter_id.0,
                            directory_id: v.voter_directory_id,
                            listener: endpoint.name.to_string(),
                            host: endpoint.host.to_string(),
                            port: endpoint.port,
                        })
                    })
                    .collect();
                found = Some(voters);
            }
        }
    }
    Ok(found)
}

/// The image's records in Kafka's encoding.
pub(crate) fn image_records(image: &MetadataImage) -> Vec<Vec<u8>> {
    image.to_records().iter().map(MetadataRecord::encode).collect()
}

/// The image `records` make, with the offsets they had up to `next_offset`.
pub(crate) fn image_of(records: &[Vec<u8>], next_offset: i64) -> MetadataImage {
    let mut image = MetadataImage::default();
    for (bytes, offset) in records.iter().zip(0..) {
        if let Ok(record) = MetadataRecord::decode(bytes) {
            image.apply_at(&record, offset);
        }
    }
    image.skip_to(next_offset - 1);
    image
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
        assert_eq!(file_name(1234, 5), "00000000000000001234-0000000005.checkpoint");
        assert_eq!(end_offset_of("00000000000000001234-0000000005.checkpoint"), Some(1234));
        assert_eq!(end_offset_of("00000000000000001234.log"), None);
    }

    #[cfg(feature = "native")]
    #[test]
    fn a_dynamic_quorums_voters_round_trip_through_the_bootstrap_checkpoint() {
        let voters: Vec<BootstrapVoter> = (1..=3)
            .map(|id| BootstrapVoter {
                id,
                directory_id: uuid::Uuid::from_u128(id as u128),
                listener: "CONTROLLER".into(),
                host: "127.0.0.1".into(),
                port: 19092 + id as u16,
            })
            .collect();
        let tmp = tempfile::tempdir().unwrap();
        write_bootstrap_voters(tmp.path(), &voters, 1_700_000_000_000).unwrap();
        assert_eq!(read_bootstrap_voters(tmp.path()).unwrap(), Some(voters));
        // Only control records: the checkpoint holds no metadata records, and has its footer.
        let bytes = std::fs::read(tmp.path().join("__cluster_metadata-0").join(file_name(0, 0))).unwrap();
        assert_eq!(decode(&bytes).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(read_bootstrap_voters(&tmp.path().join("none")).unwrap(), None);
    }
}
