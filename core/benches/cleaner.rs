//! Log cleaning throughput on the file backend, next to the disk's: a full cleaning pass over a compacted log
//! of about 18 MB (10,000 keys written eight times over, 200-byte values, 16 KiB batches, 8 MiB segments), and
//! the plain recopy of the same segment files (read, write, fsync), which bounds what any cleaner can do.
//! Throughput is the log's size over the time taken. Run with `cargo bench -p potok-core --bench cleaner`;
//! bench/results/compaction.md has the figures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use potok::record::{BatchBuilder, Compression};
use potok::storage::cleaner::{clean_filthiest, Cleaner, CleanerConfig, LogCleaner, Unthrottled};
use potok::storage::{AppendOrigin, FileBackend, Log, LogConfig, OpenOptions, TopicPartition};

const KEYS: usize = 10_000;
const OVERWRITES: usize = 8;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 8 << 20,
        compact: true,
        delete: false,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// The broker's time of the appends: the records' own, which producers' timestamps are checked against.
const NOW: i64 = 1_700_000_000_000;

/// Writes the pristine log into `dir` and returns its size in bytes.
fn write_log(dir: &Path) -> u64 {
    let mut log = Log::open(Arc::new(FileBackend), dir, config(), OpenOptions::default(), 0).unwrap();
    let value = vec![b'v'; 200];
    let mut b = BatchBuilder::new(Compression::None);
    for i in 0..KEYS * OVERWRITES {
        let key = format!("key-{:08}", (i * 7919) % KEYS);
        b.append(NOW, Some(key.as_bytes()), Some(&value), &[]);
        if b.estimated_size() >= 16 << 10 {
            log.append(&b.build().unwrap(), 0, AppendOrigin::Client, NOW).unwrap();
            b = BatchBuilder::new(Compression::None);
        }
    }
    if !b.is_empty() {
        log.append(&b.build().unwrap(), 0, AppendOrigin::Client, NOW).unwrap();
    }
    log.roll(0).unwrap();
    let size = log.size_in_bytes();
    log.close(0).unwrap();
    size
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine-0");
    let size = write_log(&pristine);
    eprintln!("cleaner bench: a log of {size} bytes, {} records of {KEYS} keys", KEYS * OVERWRITES);
    let mut group = c.benchmark_group("cleaner");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(size));
    let mut run = 0;
    group.bench_function("clean_8x_overwritten", |b| {
        b.iter_batched(
            || {
                run += 1;
                let parent = tmp.path().join(format!("run-{run}"));
                copy_dir(&pristine, &parent.join("c-0"));
                let mut log =
                    Log::open(Arc::new(FileBackend), &parent.join("c-0"), config(), OpenOptions::default(), 0).unwrap();
                // As the partition would once its replicas have everything.
                log.set_high_watermark(log.log_end_offset());
                (parent, Arc::new(Mutex::new(log)))
            },
            |(parent, log)| {
                let cleaner = LogCleaner::open(Arc::new(FileBackend), &parent);
                let thread = Cleaner::new(CleanerConfig::default());
                let logs = [(TopicPartition::new("c", 0).unwrap(), log)];
                let (_, stats) = clean_filthiest(&cleaner, &thread, &logs, 0, &Unthrottled, &|| true).unwrap().unwrap();
                assert_eq!(stats.records_written as usize, KEYS);
                drop(logs);
                std::fs::remove_dir_all(parent).unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    // The disk's part of the same job: read every segment file and write it anew, synced.
    group.bench_function("recopy_read_write_fsync", |b| {
        b.iter_batched(
            || {
                run += 1;
                let to = tmp.path().join(format!("copy-{run}"));
                std::fs::create_dir_all(&to).unwrap();
                to
            },
            |to| {
                for entry in std::fs::read_dir(&pristine).unwrap() {
                    let entry = entry.unwrap();
                    if !entry.file_name().to_string_lossy().ends_with(".log") {
                        continue;
                    }
                    let data = std::fs::read(entry.path()).unwrap();
                    let mut out = std::fs::File::create(to.join(entry.file_name())).unwrap();
                    out.write_all(&data).unwrap();
                    out.sync_all().unwrap();
                }
                std::fs::remove_dir_all(to).unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
