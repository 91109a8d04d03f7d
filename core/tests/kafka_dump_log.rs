//! Apache Kafka's own `DumpLogSegments` reads the segment, offset index and time index files potok writes:
//! the proof that the on-disk format is Kafka's. Needs Kafka's jars (scripts/kafka.sh installs them), so it is
//! `#[ignore]`d here and run by scripts/test.sh with `--ignored`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::batch;
use potok::record::{BatchBuilder, Compression, ControlType};
use potok::storage::{AppendOrigin, FileBackend, Log, LogConfig, OpenOptions};

#[test]
#[ignore = "needs Apache Kafka's jars; run by scripts/test.sh"]
fn kafka_dump_log_segments_reads_potok_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("invoice-0");
    let config = LogConfig { segment_bytes: 8_000, index_interval_bytes: 512, ..LogConfig::default() };
    let mut log = Log::open(Arc::new(FileBackend), &dir, config, OpenOptions::default(), 0).unwrap();
    let codecs = [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];
    let mut records = 0;
    for i in 0..60i64 {
        let mut b = batch(5, 200, 1_700_000_000_000 + i * 10, codecs[i as usize % codecs.len()]);
        log.append(&mut b, 1, AppendOrigin::Client, 1_700_000_000_000).unwrap();
        records += 5;
    }
    let mut txn = BatchBuilder::new(Compression::None).producer(42, 0, 0, true);
    txn.append(1_700_000_001_000, Some(b"k"), Some(b"in a transaction"), &[]);
    log.append(&mut txn.build().unwrap(), 1, AppendOrigin::Client, 0).unwrap();
    let mut marker = BatchBuilder::control_marker(ControlType::Commit, 0, 42, 0, 1_700_000_001_001).build().unwrap();
    log.append(&mut marker, 1, AppendOrigin::Coordinator, 0).unwrap();
    records += 2;
    assert!(log.segment_count() >= 3);
    log.close(0).unwrap();

    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".log") || p.ends_with(".index") || p.ends_with(".timeindex"))
        .collect();
    files.sort();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
    let out = Command::new("bash").arg(script).arg("dump-log-segments").args(&files).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "DumpLogSegments failed:\n{stdout}\n{stderr}");
    let dumped_records = stdout.lines().filter(|l| l.starts_with("| offset:")).count();
    assert_eq!(dumped_records, records, "{stdout}");
    assert!(stdout.contains("endTxnMarker: COMMIT"), "{stdout}");
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        assert!(stdout.contains(&format!("compresscodec: {codec}")), "{codec} missing:\n{stdout}");
    }
    let lower = stdout.to_lowercase();
    for bad in ["mismatch", "isvalid: false", "invalid bytes", "not increasing", "corrupt", "exception"] {
        assert!(!lower.contains(bad), "DumpLogSegments reported {bad:?}:\n{stdout}");
    }
    let index_entries = stdout.lines().filter(|l| l.starts_with("offset:") && l.contains("position:")).count();
    assert!(index_entries > 10, "the sparse offset index has entries:\n{stdout}");
    let time_entries = stdout.lines().filter(|l| l.starts_with("timestamp:")).count();
    assert!(time_entries > 10, "the time index has entries:\n{stdout}");
}
