//! `potok dump-log --files A.log,A.index,...`: kafka-dump-log. Prints the batches (and with `--deep-iteration`
//! or `--print-data-log` the records) of log segments, and the entries of the files beside them (`.index`,
//! `.timeindex`, `.txnindex`, `.snapshot`, see [`files`]), in the shape Kafka 4.1's DumpLogSegments prints.
//! `--offsets-decoder` and `--transaction-log-decoder` decode `__consumer_offsets` and `__transaction_state`
//! records as Kafka's JSON ([`coordinator`]). Problems found along the way (index entries that point at the
//! wrong batch, offsets that skip) are listed on stderr after every file, as Kafka lists them.

mod coordinator;
mod files;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use potok::record::{self, BatchHeader, ControlType, DecodeLimits, Record, TimestampType};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Comma-separated files to dump: segments (.log) and the files beside them (.index, .timeindex,
    /// .txnindex, .snapshot).
    #[arg(long, value_delimiter = ',', required = true, value_name = "FILE1,FILE2,...")]
    files: Vec<PathBuf>,
    /// Print the records' keys and values (implies --deep-iteration).
    #[arg(long)]
    print_data_log: bool,
    /// Print every record, not only the batches.
    #[arg(long)]
    deep_iteration: bool,
    /// Decode the records as __consumer_offsets records (implies --print-data-log).
    #[arg(long)]
    offsets_decoder: bool,
    /// Decode the records as __transaction_state records (implies --print-data-log).
    #[arg(long)]
    transaction_log_decoder: bool,
    /// Leave out the offset, timestamp, sizes and headers of each record.
    #[arg(long)]
    skip_record_metadata: bool,
    /// With .index and .timeindex files: check the entries against the log without printing them.
    #[arg(long)]
    verify_index_only: bool,
    /// Read only the batches within the first this many bytes of each segment.
    #[arg(long, default_value_t = i32::MAX as usize, value_name = "SIZE")]
    max_bytes: usize,
    /// The largest batch an index entry may point at.
    #[arg(long, default_value_t = 5 * 1024 * 1024, value_name = "SIZE")]
    max_message_size: usize,
}

impl Args {
    fn print_data(&self) -> bool {
        self.print_data_log || self.offsets_decoder || self.transaction_log_decoder
    }

    fn deep(&self) -> bool {
        self.deep_iteration || self.print_data()
    }
}

/// What the checks found, by absolute file path, reported on stderr after every file is dumped.
#[derive(Debug, Default)]
pub struct Problems {
    /// Offset index entries whose position starts a batch ending elsewhere: (index offset, log offset).
    pub index_mismatches: BTreeMap<String, Vec<(i64, i64)>>,
    /// Time index entries whose timestamp is not their batch's largest: (index timestamp, log timestamp).
    pub time_mismatches: BTreeMap<String, Vec<(i64, i64)>>,
    /// Time index entries not larger than the one before: (timestamp, previous timestamp).
    pub time_out_of_order: BTreeMap<String, Vec<(i64, i64)>>,
    /// Time index entries whose offset ends no batch: (index offset, the offset found, -1 for none).
    pub shallow_offset_not_found: BTreeMap<String, Vec<(i64, i64)>>,
    /// Records whose offset does not follow the previous one: (previous, next).
    pub non_consecutive: BTreeMap<String, Vec<(i64, i64)>>,
}

impl Problems {
    fn print(&self) {
        // Kafka prepends each pair to a list, so its lists come out newest first.
        for (file, pairs) in &self.index_mismatches {
            eprintln!("Mismatches in :{file}");
            for (index, log) in pairs.iter().rev() {
                eprintln!("  Index offset: {index}, log offset: {log}");
            }
        }
        for (file, pairs) in &self.time_mismatches {
            eprintln!("Found timestamp mismatch in :{file}");
            for (index, log) in pairs {
                eprintln!("  Index timestamp: {index}, log timestamp: {log}");
            }
        }
        for (file, pairs) in &self.time_out_of_order {
            eprintln!("Found out of order timestamp in :{file}");
            for (index, previous) in pairs {
                eprintln!("  Index timestamp: {index}, Previously indexed timestamp: {previous}");
            }
        }
        for pairs in self.shallow_offset_not_found.values() {
            eprintln!("The following indexed offsets are not found in the log.");
            for (index, log) in pairs {
                eprintln!("Indexed offset: {index}, found log offset: {log}");
            }
        }
        for (file, pairs) in &self.non_consecutive {
            eprintln!("Non-consecutive offsets in {file}");
            for (first, second) in pairs.iter().rev() {
                eprintln!("  {first} is followed by {second}");
            }
        }
    }
}

/// A segment file read batch by batch (a segment may be a gigabyte; only one batch is in memory at a time).
#[derive(Debug)]
pub struct Segment {
    file: File,
    len: u64,
}

/// What is found at a position of a segment.
enum Found {
    /// A whole batch (its bytes).
    Batch(Vec<u8>),
    /// Nothing more: the end, or bytes too few or too damaged to be a batch.
    End,
}

impl Segment {
    pub fn open(path: &Path) -> anyhow::Result<Segment> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let len = file.metadata().with_context(|| format!("reading {}", path.display()))?.len();
        Ok(Segment { file, len })
    }

    /// The batch at `position` if it lies wholly before `end`.
    fn batch_at(&self, position: u64, end: u64) -> anyhow::Result<Found> {
        let end = end.min(self.len);
        if position + record::LOG_OVERHEAD as u64 > end {
            return Ok(Found::End);
        }
        let mut overhead = [0u8; record::LOG_OVERHEAD];
        self.file.read_exact_at(&mut overhead, position)?;
        let Some(size) = record::batch_size(&overhead) else { return Ok(Found::End) };
        if size < record::RECORD_BATCH_OVERHEAD as i64 || position + size as u64 > end {
            return Ok(Found::End);
        }
        // The size is bounded by the file, checked above, before anything is allocated.
        let mut batch = vec![0u8; size as usize];
        self.file.read_exact_at(&mut batch, position)?;
        Ok(Found::Batch(batch))
    }

    /// The header of the batch at `position` (`None` when no whole batch of at most `max_size` bytes is there).
    pub fn header_at(&self, position: u64, max_size: usize) -> anyhow::Result<Option<BatchHeader>> {
        match self.batch_at(position, position.saturating_add(max_size as u64))? {
            Found::Batch(batch) => Ok(BatchHeader::parse(&batch).ok()),
            Found::End => Ok(None),
        }
    }

    /// From `position` on, the first batch whose last offset is at least `offset`: (its last offset, the
    /// largest timestamp of its records).
    pub fn batch_ending_at_or_after(&self, mut position: u64, offset: i64) -> anyhow::Result<Option<(i64, i64)>> {
        while let Found::Batch(batch) = self.batch_at(position, self.len)? {
            position += batch.len() as u64;
            let Ok(header) = BatchHeader::parse(&batch) else { return Ok(None) };
            if header.last_offset() >= offset {
                // The batch header's max timestamp, as Kafka's check reads it: also for a batch whose CRC no
                // longer matches (decoding its records would fail).
                return Ok(Some((header.last_offset(), header.max_timestamp)));
            }
        }
        Ok(None)
    }
}

/// Where a v2 batch keeps its CRC: after base offset, length, partition leader epoch and magic.
const CRC_OFFSET: usize = 17;

/// Kafka's sequence arithmetic: sequences wrap from i32::MAX to 0.
fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

fn timestamp_type_name(header: &BatchHeader) -> &'static str {
    match header.timestamp_type() {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

fn batch_line(
    out: &mut impl Write,
    header: &BatchHeader,
    position: u64,
    size: usize,
    valid: bool,
) -> std::io::Result<()> {
    let last_sequence =
        if header.base_sequence < 0 { -1 } else { increment_sequence(header.base_sequence, header.last_offset_delta) };
    let delete_horizon = if header.has_delete_horizon() {
        format!("OptionalLong[{}]", header.base_timestamp)
    } else {
        "OptionalLong.empty".to_string()
    };
    writeln!(
        out,
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {last_sequence} producerId: {} \
         producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: \
         {delete_horizon} position: {position} {}: {} size: {size} magic: {} compresscodec: {} crc: {} isvalid: {valid}",
        header.base_offset,
        header.last_offset(),
        header.records_count,
        header.base_sequence,
        header.producer_id,
        header.producer_epoch,
        header.partition_leader_epoch,
        header.is_transactional(),
        header.is_control(),
        timestamp_type_name(header),
        header.max_timestamp,
        header.magic,
        header.compression().map_or("unknown", |c| c.name()),
        header.crc,
    )
}

/// Kafka's StringDecoder: the bytes as UTF-8 (invalid sequences replaced).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn record_line(out: &mut impl Write, args: &Args, header: &BatchHeader, r: &Record) -> anyhow::Result<()> {
    let mut prefix = "| ";
    if !args.skip_record_metadata {
        let sequence = if header.base_sequence < 0 {
            -1
        } else {
            increment_sequence(header.base_sequence, (r.offset - header.base_offset) as i32)
        };
        let keys: Vec<&str> = r.headers.iter().map(|h| h.key.as_str()).collect();
        write!(
            out,
            "| offset: {} {}: {} keySize: {} valueSize: {} sequence: {sequence} headerKeys: [{}]",
            r.offset,
            timestamp_type_name(header),
            r.timestamp,
            r.key.as_ref().map_or(-1, |k| k.len() as i64),
            r.value.as_ref().map_or(-1, |v| v.len() as i64),
            keys.join(",")
        )?;
        if header.is_control() {
            let key = r.key.as_deref().unwrap_or_default();
            match ControlType::from_key(key) {
                Ok(kind @ (ControlType::Abort | ControlType::Commit)) => {
                    let value = r.value.as_deref().unwrap_or_default();
                    let epoch = if value.len() >= 6 {
                        i32::from_be_bytes([value[2], value[3], value[4], value[5]])
                    } else {
                        -1
                    };
                    let name = if kind == ControlType::Commit { "COMMIT" } else { "ABORT" };
                    write!(out, " endTxnMarker: {name} coordinatorEpoch: {epoch}")?;
                }
                Ok(ControlType::Unknown(id)) => write!(out, " controlType: UNKNOWN({id})")?,
                Err(_) => write!(out, " controlType: UNKNOWN(-1)")?,
            }
        }
        prefix = " ";
    }
    if args.print_data() && !header.is_control() {
        let (key, payload) = if args.offsets_decoder {
            coordinator::offsets(r.offset, r.key.as_deref(), r.value.as_deref())
        } else if args.transaction_log_decoder {
            coordinator::transaction_log(r.offset, r.key.as_deref(), r.value.as_deref())
        } else {
            (r.key.as_deref().map(text), r.value.as_deref().map(text))
        };
        if let Some(key) = key {
            write!(out, "{prefix}key: {key}")?;
        }
        if let Some(payload) = payload {
            write!(out, " payload: {payload}")?;
        }
    }
    writeln!(out)?;
    Ok(())
}

fn dump_log(out: &mut impl Write, path: &Path, args: &Args, problems: &mut Problems) -> anyhow::Result<()> {
    writeln!(out, "Log starting offset: {}", files::base_offset(path)?)?;
    let segment = Segment::open(path)?;
    let end = segment.len.min(args.max_bytes as u64);
    let mut position = 0u64;
    let mut last_offset = -1i64;
    while let Found::Batch(batch) = segment.batch_at(position, end)? {
        let header = BatchHeader::parse(&batch)?;
        let validated = record::validate_batch(&batch);
        batch_line(out, &header, position, batch.len(), validated.is_ok())?;
        // Kafka's deep iteration reads the records of a batch whose CRC does not match as well: decode a copy
        // that carries the computed CRC. A batch damaged otherwise (magic, codec, counts) shows no records.
        let readable = match validated {
            Ok(_) => Some(batch),
            Err(record::RecordError::CrcMismatch { computed, .. }) => {
                let mut copy = batch;
                copy[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&computed.to_be_bytes());
                Some(copy)
            }
            Err(_) => None,
        };
        let size = header.size_in_bytes();
        if let (true, Some(batch)) = (args.deep(), readable) {
            let records = match record::decode_records(&batch, DecodeLimits::default()) {
                Ok((_, records)) => records,
                Err(e) => {
                    out.flush()?;
                    eprintln!("Cannot read the records of the batch at position {position} of {}: {e}", path.display());
                    Vec::new()
                }
            };
            for r in &records {
                if last_offset != -1 && r.offset != last_offset + 1 {
                    problems.non_consecutive.entry(files::absolute(path)).or_default().push((last_offset, r.offset));
                }
                last_offset = r.offset;
                record_line(out, args, &header, r)?;
            }
        }
        position += size as u64;
    }
    let trailing = segment.len - position;
    if trailing > 0 && args.max_bytes == i32::MAX as usize {
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        writeln!(out, "Found {trailing} invalid bytes at the end of {name}")?;
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut problems = Problems::default();
    for path in &args.files {
        writeln!(out, "Dumping {}", path.display())?;
        let suffix = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        match suffix {
            "log" => dump_log(&mut out, path, &args, &mut problems)?,
            "index" => files::dump_index(&mut out, path, args.verify_index_only, args.max_message_size, &mut problems)?,
            "timeindex" => files::dump_time_index(&mut out, path, args.verify_index_only, &mut problems)?,
            "txnindex" => files::dump_txn_index(&mut out, path)?,
            "snapshot" => {
                out.flush()?;
                files::dump_snapshot(&mut out, path)?
            }
            _ => {
                out.flush()?;
                eprintln!("Ignoring unknown file {}", path.display());
            }
        }
    }
    out.flush()?;
    problems.print();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_as_in_kafka() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(files::decrement_sequence(increment_sequence(i32::MAX - 1, 3), 3), i32::MAX - 1);
    }
}
