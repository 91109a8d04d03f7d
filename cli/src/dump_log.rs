//! `potok dump-log --files A.log,B.log [--print-data-log]`: the batches (and records) in segment files, in
//! the shape of Kafka's `kafka-dump-log` output.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use potok::record::{self, Batches, ControlType, DecodeLimits};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Comma-separated segment files (.log).
    #[arg(long, value_delimiter = ',', required = true)]
    files: Vec<PathBuf>,
    /// Print every record, not only batch headers.
    #[arg(long)]
    print_data_log: bool,
}

fn text(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(|| "null".to_string(), |b| String::from_utf8_lossy(b).into_owned())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let out = std::io::stdout();
    let mut out = out.lock();
    for path in &args.files {
        if path.extension().and_then(|e| e.to_str()) != Some("log") {
            bail!("{}: only .log segment files are supported", path.display());
        }
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        writeln!(out, "Dumping {}", path.display())?;
        let mut position = 0usize;
        for batch in Batches::new(&bytes) {
            let Ok(batch) = batch else {
                writeln!(out, "Found {} invalid bytes at the end of {}", bytes.len() - position, path.display())?;
                break;
            };
            let header = record::BatchHeader::parse(batch)?;
            let valid = record::validate_batch(batch).is_ok();
            writeln!(
                out,
                "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} \
                 producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} position: {} \
                 CreateTime: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {}",
                header.base_offset,
                header.last_offset(),
                header.records_count,
                header.base_sequence,
                if header.base_sequence < 0 { -1 } else { header.base_sequence + header.last_offset_delta },
                header.producer_id,
                header.producer_epoch,
                header.partition_leader_epoch,
                header.is_transactional(),
                header.is_control(),
                position,
                header.max_timestamp,
                batch.len(),
                header.magic,
                header.compression().map_or("unknown", |c| c.name()),
                header.crc,
                valid,
            )?;
            if args.print_data_log && valid {
                let (_, records) = record::decode_records(batch, DecodeLimits::default())?;
                for r in records {
                    write!(
                        out,
                        "| offset: {} CreateTime: {} keySize: {} valueSize: {}",
                        r.offset,
                        r.timestamp,
                        r.key.as_ref().map_or(-1, |k| k.len() as i64),
                        r.value.as_ref().map_or(-1, |v| v.len() as i64)
                    )?;
                    if header.is_control() {
                        let kind = match r.key.as_deref().map(ControlType::from_key).transpose()? {
                            Some(ControlType::Commit) => "COMMIT".to_string(),
                            Some(ControlType::Abort) => "ABORT".to_string(),
                            other => format!("{other:?}"),
                        };
                        writeln!(out, " endTxnMarker: {kind}")?;
                        continue;
                    }
                    let keys: Vec<&str> = r.headers.iter().map(|h| h.key.as_str()).collect();
                    writeln!(
                        out,
                        " headerKeys: [{}] key: {} payload: {}",
                        keys.join(","),
                        text(r.key.as_deref()),
                        text(r.value.as_deref())
                    )?;
                }
            }
            position += batch.len();
        }
    }
    Ok(())
}
