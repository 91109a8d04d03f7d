//! The files beside a segment, dumped as Kafka's DumpLogSegments dumps them: the sparse offset index
//! (`.index`, checked against the log), the time index (`.timeindex`, checked against the records' timestamps),
//! the transaction index (`.txnindex`) and producer state snapshots (`.snapshot`). The layouts are Kafka's (see
//! `potok::storage`); they are read here from the raw bytes so a damaged file shows what is in it rather than
//! what a broker would keep of it.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::{Problems, Segment};

const OFFSET_ENTRY_BYTES: usize = 8;
const TIME_ENTRY_BYTES: usize = 12;
const ABORTED_TXN_BYTES: usize = 34;
/// A producer snapshot: version i16, crc u32, entry count i32, then 46-byte entries.
const SNAPSHOT_HEADER_BYTES: usize = 10;
const SNAPSHOT_ENTRY_BYTES: usize = 46;

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

/// The base offset a segment file's name carries (`00000000000000000151.index` is 151).
pub fn base_offset(path: &Path) -> anyhow::Result<i64> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let stem = name.split('.').next().unwrap_or_default();
    stem.parse().with_context(|| format!("{}: the file name does not start with a base offset", path.display()))
}

/// The `.log` file beside an index file.
fn log_beside(path: &Path) -> anyhow::Result<std::path::PathBuf> {
    let base = base_offset(path)?;
    Ok(path.with_file_name(format!("{base:020}.log")))
}

/// The entries of an offset index: (absolute offset, position).
fn offset_entries(bytes: &[u8], base: i64) -> Vec<(i64, u32)> {
    bytes
        .chunks_exact(OFFSET_ENTRY_BYTES)
        .map(|e| (base + i64::from(be_i32(e, 0) as u32), be_i32(e, 4) as u32))
        .collect()
}

/// `.index`: one `offset: O position: P` line per entry (none with `--verify-index-only`); an entry whose
/// position does not start the batch ending at its offset is a mismatch, reported after every file.
pub fn dump_index(
    out: &mut impl Write,
    path: &Path,
    verify_only: bool,
    max_message_size: usize,
    problems: &mut Problems,
) -> anyhow::Result<()> {
    let base = base_offset(path)?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let log = Segment::open(&log_beside(path)?)?;
    let entries = offset_entries(&bytes, base);
    if entries.is_empty() {
        writeln!(out, "{} is empty.", path.display())?;
        return Ok(());
    }
    for (i, &(offset, position)) in entries.iter().enumerate() {
        // A preallocated index ends in zero entries (a crash leaves them): the first one that points back at
        // the base offset ends the dump.
        if offset == base && i > 0 {
            break;
        }
        let last_offset =
            log.header_at(u64::from(position), max_message_size)?.map_or(-1, |header| header.last_offset());
        if last_offset != offset {
            problems.index_mismatches.entry(absolute(path)).or_default().push((offset, last_offset));
        }
        if !verify_only {
            writeln!(out, "offset: {offset} position: {position}")?;
        }
    }
    Ok(())
}

/// `.timeindex`: one `timestamp: T offset: O` line per entry; an entry whose offset ends no batch, whose
/// timestamp is not its batch's largest, or that does not grow is reported after every file.
pub fn dump_time_index(
    out: &mut impl Write,
    path: &Path,
    verify_only: bool,
    problems: &mut Problems,
) -> anyhow::Result<()> {
    let base = base_offset(path)?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let log = Segment::open(&log_beside(path)?)?;
    let index_path = path.with_file_name(format!("{base:020}.index"));
    let index = match std::fs::read(&index_path) {
        Ok(index) => offset_entries(&index, base),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", index_path.display())),
    };
    let file = absolute(path);
    let mut previous = -1i64;
    for (i, entry) in bytes.chunks_exact(TIME_ENTRY_BYTES).enumerate() {
        let (timestamp, offset) = (be_i64(entry, 0), base + i64::from(be_i32(entry, 8) as u32));
        if offset == base && i > 0 {
            break;
        }
        // Where to start looking: the offset index's entry at or below the offset, as Kafka looks it up.
        let start = index.iter().take_while(|(o, _)| *o <= offset).last().map_or(0, |&(_, position)| position);
        match log.batch_ending_at_or_after(u64::from(start), offset)? {
            None => problems.shallow_offset_not_found.entry(file.clone()).or_default().push((offset, -1)),
            Some((last_offset, _)) if last_offset != offset => {
                problems.shallow_offset_not_found.entry(file.clone()).or_default().push((offset, last_offset))
            }
            Some((_, max_timestamp)) => {
                if max_timestamp != timestamp {
                    problems.time_mismatches.entry(file.clone()).or_default().push((timestamp, max_timestamp));
                }
                if previous >= timestamp {
                    problems.time_out_of_order.entry(file.clone()).or_default().push((timestamp, previous));
                }
            }
        }
        if !verify_only {
            writeln!(out, "timestamp: {timestamp} offset: {offset}")?;
        }
        previous = timestamp;
    }
    Ok(())
}

/// `.txnindex`: one line per aborted transaction; an entry of another version stops the dump with an error,
/// as Kafka's index reader does.
pub fn dump_txn_index(out: &mut impl Write, path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    for entry in bytes.chunks_exact(ABORTED_TXN_BYTES) {
        let version = be_i16(entry, 0);
        if version != 0 {
            anyhow::bail!(
                "Unexpected aborted transaction version {version} in transaction index {}, current version is 0",
                path.display()
            );
        }
        writeln!(
            out,
            "version: {version} producerId: {} firstOffset: {} lastOffset: {} lastStableOffset: {}",
            be_i64(entry, 2),
            be_i64(entry, 10),
            be_i64(entry, 18),
            be_i64(entry, 26)
        )?;
    }
    Ok(())
}

/// Kafka's sequence arithmetic: sequences wrap from i32::MAX to 0.
pub fn decrement_sequence(sequence: i32, decrement: i32) -> i32 {
    if sequence < decrement {
        (i64::from(i32::MAX) - i64::from(decrement - sequence) + 1) as i32
    } else {
        sequence - decrement
    }
}

/// `.snapshot`: one line per producer (with its last batch when it has one). A snapshot that fails its checks
/// prints Kafka's reason on stderr instead.
pub fn dump_snapshot(out: &mut impl Write, path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let entries = match snapshot_entries(&bytes) {
        Ok(entries) => entries,
        Err(reason) => {
            eprintln!("{reason}");
            return Ok(());
        }
    };
    for e in entries {
        let (producer_id, epoch, last_seq, last_offset) = (be_i64(e, 0), be_i16(e, 8), be_i32(e, 10), be_i64(e, 14));
        let (offset_delta, timestamp, coordinator_epoch, txn_first) =
            (be_i32(e, 22), be_i64(e, 26), be_i32(e, 34), be_i64(e, 38));
        let txn_first = if txn_first >= 0 { format!("OptionalLong[{txn_first}]") } else { "OptionalLong.empty".into() };
        write!(
            out,
            "producerId: {producer_id} producerEpoch: {epoch} coordinatorEpoch: {coordinator_epoch} \
             currentTxnFirstOffset: {txn_first} lastTimestamp: {timestamp} "
        )?;
        if last_offset >= 0 {
            write!(
                out,
                "firstSequence: {} lastSequence: {last_seq} lastOffset: {last_offset} offsetDelta: {offset_delta} \
                 timestamp: {timestamp}",
                decrement_sequence(last_seq, offset_delta)
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The entries of a producer snapshot, after Kafka's checks (version, CRC, a count that fits).
fn snapshot_entries(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    if bytes.len() < SNAPSHOT_HEADER_BYTES {
        return Err("Snapshot failed schema validation: the file is shorter than its header".into());
    }
    let version = be_i16(bytes, 0);
    if version != 1 {
        return Err(format!("Snapshot contained an unknown file version {version}"));
    }
    let stored = be_i32(bytes, 2) as u32;
    let computed = crc32c::crc32c(&bytes[6..]);
    if stored != computed {
        return Err(format!(
            "Snapshot is corrupt (CRC is no longer valid). Stored crc: {stored}. Computed crc: {computed}"
        ));
    }
    let count = be_i32(bytes, 6);
    let body = &bytes[SNAPSHOT_HEADER_BYTES..];
    if count < 0 || (count as usize).saturating_mul(SNAPSHOT_ENTRY_BYTES) > body.len() {
        return Err(format!("Snapshot failed schema validation: {count} entries do not fit in the file"));
    }
    Ok(body.chunks_exact(SNAPSHOT_ENTRY_BYTES).take(count as usize).collect())
}

/// A path as Kafka's problem reports name files (`File.getAbsolutePath`).
pub fn absolute(path: &Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_as_in_kafka() {
        assert_eq!(decrement_sequence(10, 3), 7);
        assert_eq!(decrement_sequence(1, 3), i32::MAX - 1);
        assert_eq!(decrement_sequence(0, 0), 0);
    }

    #[test]
    fn snapshots_are_checked_before_their_entries_are_trusted() {
        assert!(snapshot_entries(&[0, 1]).unwrap_err().contains("schema validation"));
        let mut empty = vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let crc = crc32c::crc32c(&empty[6..]);
        empty[2..6].copy_from_slice(&crc.to_be_bytes());
        assert!(snapshot_entries(&empty).unwrap().is_empty());
        empty[0..2].copy_from_slice(&2i16.to_be_bytes());
        assert_eq!(snapshot_entries(&empty).unwrap_err(), "Snapshot contained an unknown file version 2");
        let mut lying = vec![0, 1, 0, 0, 0, 0, 0x7f, 0, 0, 0];
        let crc = crc32c::crc32c(&lying[6..]);
        lying[2..6].copy_from_slice(&crc.to_be_bytes());
        assert!(snapshot_entries(&lying).unwrap_err().contains("do not fit"));
    }
}
