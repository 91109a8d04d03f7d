//! Rewriting a stored batch with only some of its records, as the log cleaner does (Kafka's
//! `MemoryRecords.filterTo`).
//!
//! A rewritten batch keeps its base offset, last offset delta (so the producer's last sequence stays
//! recoverable), partition leader epoch, producer id, epoch and base sequence, timestamp type, codec and
//! transactional/control flags; it holds only the retained records, at their original offsets. Its max
//! timestamp is recomputed from the retained records (CreateTime) or kept (LogAppendTime).
//!
//! The delete horizon (attributes bit 6): once a batch holding tombstones or a removable transaction marker is
//! first cleaned, its base timestamp becomes the time after which those may be dropped
//! (`now + delete.retention.ms`), and every record's timestamp delta is rewritten against it, so each record's
//! absolute timestamp does not change.

use super::compression;
use super::varint::{get_varint, get_varlong, put_varint, put_varlong};
use super::{
    read_record, validate_batch, BatchHeader, DecodeLimits, RecordError, TimestampType, ATTRIBUTES_OFFSET,
    COMPRESSION_MASK, CRC_OFFSET, CURRENT_MAGIC, DELETE_HORIZON_MASK, LOG_OVERHEAD, NO_TIMESTAMP,
    RECORD_BATCH_OVERHEAD,
};

/// A record as the filter sees it.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    /// False for a tombstone (a null value).
    pub has_value: bool,
}

/// What is left of a batch after filtering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retained {
    /// Every record was kept and nothing else changes: the original bytes stay.
    Unchanged,
    /// Some records were kept: the rewritten batch.
    Rewritten(Vec<u8>),
    /// No record was kept.
    Empty,
}

/// The outcome of [`retain_records`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainResult {
    pub retained: Retained,
    pub records_read: usize,
    pub records_retained: usize,
}

/// Filters the records of `batch` through `keep`. `delete_horizon` is asked, once the retained records are
/// known, whether a delete horizon must be set now (it gets whether any retained record is a tombstone and
/// answers the horizon to set, or `None`); a batch that already carries a horizon keeps it.
pub fn retain_records(
    batch: &[u8],
    limits: DecodeLimits,
    mut keep: impl FnMut(&RecordView<'_>) -> bool,
    delete_horizon: impl FnOnce(bool) -> Option<i64>,
) -> Result<RetainResult, RecordError> {
    let h = validate_batch(batch)?;
    let compression = h.compression()?;
    let body = &batch[RECORD_BATCH_OVERHEAD..];
    let inflated;
    let mut data: &[u8] = if compression == super::Compression::None {
        body
    } else {
        inflated = compression::decompress(compression, body, limits.max_decompressed_bytes)?;
        &inflated
    };
    // Each retained record: its whole encoding (length prefix included) and its timestamp delta.
    let mut kept: Vec<(&[u8], i64)> = Vec::new();
    let mut records_read = 0usize;
    let mut contains_tombstones = false;
    let mut max_timestamp = NO_TIMESTAMP;
    while !data.is_empty() {
        let before = data;
        let raw = read_record(&mut data)?;
        let encoded = &before[..before.len() - data.len()];
        records_read += 1;
        let timestamp = match h.timestamp_type() {
            TimestampType::LogAppendTime => h.max_timestamp,
            TimestampType::CreateTime => h.base_timestamp.wrapping_add(raw.timestamp_delta),
        };
        let view = RecordView {
            offset: h.base_offset + i64::from(raw.offset_delta),
            timestamp,
            key: raw.key,
            has_value: raw.value.is_some(),
        };
        if keep(&view) {
            contains_tombstones |= raw.value.is_none();
            max_timestamp = max_timestamp.max(timestamp);
            kept.push((encoded, raw.timestamp_delta));
        }
    }
    if records_read != h.records_count as usize {
        return Err(RecordError::RecordCountMismatch { declared: h.records_count, actual: records_read as i32 });
    }
    let records_retained = kept.len();
    if kept.is_empty() {
        return Ok(RetainResult { retained: Retained::Empty, records_read, records_retained });
    }
    let new_horizon = if h.has_delete_horizon() { None } else { delete_horizon(contains_tombstones) };
    if kept.len() == records_read && new_horizon.is_none() {
        return Ok(RetainResult { retained: Retained::Unchanged, records_read, records_retained });
    }
    let base_timestamp = new_horizon.unwrap_or(h.base_timestamp);
    let mut records = Vec::with_capacity(kept.iter().map(|(e, _)| e.len() + 8).sum());
    for (encoded, timestamp_delta) in kept {
        if base_timestamp == h.base_timestamp {
            records.extend_from_slice(encoded);
        } else {
            rebase_record(&mut records, encoded, h.base_timestamp.wrapping_add(timestamp_delta) - base_timestamp)?;
        }
    }
    let body = compression::compress(compression, &records)?;
    let mut attributes = h.attributes;
    if new_horizon.is_some() {
        attributes |= DELETE_HORIZON_MASK;
    }
    let max_timestamp = match h.timestamp_type() {
        TimestampType::LogAppendTime => h.max_timestamp,
        TimestampType::CreateTime => max_timestamp,
    };
    let header = BatchHeader {
        batch_length: (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD + body.len()) as i32,
        attributes,
        base_timestamp,
        max_timestamp,
        records_count: records_retained as i32,
        ..h
    };
    let mut out = Vec::with_capacity(RECORD_BATCH_OVERHEAD + body.len());
    write_header(&mut out, &header);
    out.extend_from_slice(&body);
    finish_crc(&mut out);
    Ok(RetainResult { retained: Retained::Rewritten(out), records_read, records_retained })
}

/// Re-encodes one record (`encoded`, length prefix included) with `timestamp_delta`, everything else as is.
fn rebase_record(out: &mut Vec<u8>, encoded: &[u8], timestamp_delta: i64) -> Result<(), RecordError> {
    let mut rest = encoded;
    get_varint(&mut rest)?;
    let (&attributes, after) = rest.split_first().ok_or(RecordError::Truncated("record attributes"))?;
    rest = after;
    get_varlong(&mut rest)?;
    let mut body = Vec::with_capacity(encoded.len() + 8);
    body.push(attributes);
    put_varlong(&mut body, timestamp_delta);
    body.extend_from_slice(rest);
    put_varint(out, body.len() as i32);
    out.extend_from_slice(&body);
    Ok(())
}

/// A batch with no records that keeps `h`'s offsets, producer fields, timestamp type and flags (no codec, no
/// delete horizon), as Kafka writes one to keep an active producer's last sequence after its records went.
pub fn empty_batch(h: &BatchHeader) -> Vec<u8> {
    let keep = h.attributes & !(COMPRESSION_MASK | DELETE_HORIZON_MASK);
    let header = BatchHeader {
        batch_length: (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32,
        magic: CURRENT_MAGIC,
        attributes: keep,
        base_timestamp: NO_TIMESTAMP,
        records_count: 0,
        ..*h
    };
    let mut out = Vec::with_capacity(RECORD_BATCH_OVERHEAD);
    write_header(&mut out, &header);
    finish_crc(&mut out);
    out
}

fn write_header(out: &mut Vec<u8>, h: &BatchHeader) {
    out.extend_from_slice(&h.base_offset.to_be_bytes());
    out.extend_from_slice(&h.batch_length.to_be_bytes());
    out.extend_from_slice(&h.partition_leader_epoch.to_be_bytes());
    out.push(CURRENT_MAGIC as u8);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&h.attributes.to_be_bytes());
    out.extend_from_slice(&h.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&h.base_timestamp.to_be_bytes());
    out.extend_from_slice(&h.max_timestamp.to_be_bytes());
    out.extend_from_slice(&h.producer_id.to_be_bytes());
    out.extend_from_slice(&h.producer_epoch.to_be_bytes());
    out.extend_from_slice(&h.base_sequence.to_be_bytes());
    out.extend_from_slice(&h.records_count.to_be_bytes());
}

fn finish_crc(out: &mut [u8]) {
    let crc = crc32c::crc32c(&out[ATTRIBUTES_OFFSET..]);
    out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::super::{decode_records, BatchBuilder, Compression};
    use super::*;

    fn sample(compression: Compression) -> Vec<u8> {
        let mut b = BatchBuilder::new(compression).base_offset(10).producer(7, 2, 40, false);
        b.append(1_000, Some(b"a"), Some(b"1"), &[]);
        b.append(1_005, Some(b"b"), None, &[]);
        b.append(1_002, Some(b"a"), Some(b"2"), &[]);
        b.build().unwrap()
    }

    #[test]
    fn keeps_chosen_records_at_their_offsets() {
        for compression in [Compression::None, Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            let batch = sample(compression);
            let r = retain_records(&batch, DecodeLimits::default(), |r| r.offset != 10, |_| None).unwrap();
            let Retained::Rewritten(bytes) = r.retained else { panic!("rewritten") };
            assert_eq!((r.records_read, r.records_retained), (3, 2));
            let (h, records) = decode_records(&bytes, DecodeLimits::default()).unwrap();
            assert_eq!((h.base_offset, h.last_offset(), h.records_count), (10, 12, 2));
            assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (7, 2, 40));
            assert_eq!(h.compression().unwrap(), compression);
            assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![11, 12]);
            assert_eq!(h.max_timestamp, 1_005);
            assert!(!h.has_delete_horizon());
        }
    }

    #[test]
    fn unchanged_empty_and_delete_horizon() {
        let batch = sample(Compression::None);
        let all = retain_records(&batch, DecodeLimits::default(), |_| true, |_| None).unwrap();
        assert_eq!(all.retained, Retained::Unchanged);
        let none = retain_records(&batch, DecodeLimits::default(), |_| false, |_| Some(5)).unwrap();
        assert_eq!(none.retained, Retained::Empty);
        // Keeping the tombstone sets the horizon; record timestamps stay what they were.
        let r = retain_records(&batch, DecodeLimits::default(), |_| true, |t| t.then_some(90_000)).unwrap();
        let Retained::Rewritten(bytes) = r.retained else { panic!("rewritten") };
        let (h, records) = decode_records(&bytes, DecodeLimits::default()).unwrap();
        assert!(h.has_delete_horizon());
        assert_eq!(h.base_timestamp, 90_000);
        assert_eq!(records.iter().map(|r| r.timestamp).collect::<Vec<_>>(), vec![1_000, 1_005, 1_002]);
        // A batch with a horizon keeps it and is not asked again.
        let again = retain_records(&bytes, DecodeLimits::default(), |_| true, |_| panic!("not asked")).unwrap();
        assert_eq!(again.retained, Retained::Unchanged);
        let fewer = retain_records(&bytes, DecodeLimits::default(), |r| r.has_value, |_| panic!("not asked")).unwrap();
        let Retained::Rewritten(fewer) = fewer.retained else { panic!("rewritten") };
        let (h, records) = decode_records(&fewer, DecodeLimits::default()).unwrap();
        assert!(h.has_delete_horizon() && h.base_timestamp == 90_000);
        assert_eq!(records.iter().map(|r| (r.offset, r.timestamp)).collect::<Vec<_>>(), vec![(10, 1_000), (12, 1_002)]);
    }

    #[test]
    fn empty_batch_keeps_offsets_and_producer() {
        let batch = sample(Compression::Zstd);
        let h = validate_batch(&batch).unwrap();
        let empty = empty_batch(&h);
        let (e, records) = decode_records(&empty, DecodeLimits::default()).unwrap();
        assert!(records.is_empty());
        assert_eq!((e.base_offset, e.last_offset(), e.size_in_bytes()), (10, 12, RECORD_BATCH_OVERHEAD));
        assert_eq!((e.producer_id, e.producer_epoch, e.base_sequence), (7, 2, 40));
        assert_eq!(e.compression().unwrap(), Compression::None);
        assert_eq!(e.max_timestamp, h.max_timestamp);
    }
}
