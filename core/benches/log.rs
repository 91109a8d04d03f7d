//! Append and read throughput of the partition log on the file backend, for 1 KiB and 16 KiB batches.
//! Run with `cargo bench -p potok-core`; compare with the disk's sequential write bandwidth (`dd`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use potok::record::{BatchBuilder, Compression};
use potok::storage::{AppendOrigin, FileBackend, Log, LogConfig, OpenOptions};

/// The broker's time of the appends: the records' own, which producers' timestamps are checked against.
const NOW: i64 = 1_700_000_000_000;

/// An uncompressed batch of `size` bytes in total, made of 100-byte-value records.
fn batch_of(size: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    let value = vec![b'x'; 100];
    while b.estimated_size() + 110 <= size {
        b.append(NOW, None, Some(&value), &[]);
    }
    b.build().expect("batch")
}

const BATCHES_PER_ITER: usize = 256;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("log");
    for size in [1024usize, 16 * 1024] {
        let batch = batch_of(size);
        let label = format!("{}KiB", size / 1024);
        group.throughput(Throughput::Bytes((batch.len() * BATCHES_PER_ITER) as u64));

        let tmp = tempfile::tempdir().expect("tmp");
        let config = LogConfig { segment_bytes: 256 << 20, ..LogConfig::default() };
        let mut log =
            Log::open(Arc::new(FileBackend), &tmp.path().join("append-0"), config.clone(), OpenOptions::default(), 0)
                .expect("open");
        group.bench_function(format!("append/{label}"), |b| {
            b.iter_batched(
                || vec![batch.clone(); BATCHES_PER_ITER],
                |batches| {
                    for one in batches {
                        log.append(&one, 0, AppendOrigin::Client, NOW).expect("append");
                    }
                },
                BatchSize::LargeInput,
            )
        });
        drop(log);

        // Reads of 1 MiB from a log of 64 MiB, walking it front to back (page cache warm, as consumers that
        // keep up with producers see it).
        let mut log = Log::open(Arc::new(FileBackend), &tmp.path().join("read-0"), config, OpenOptions::default(), 0)
            .expect("open");
        while log.size_in_bytes() < 64 << 20 {
            log.append(&batch.clone(), 0, AppendOrigin::Client, NOW).expect("fill");
        }
        let end = log.log_end_offset();
        let per_batch = end / (log.size_in_bytes() as i64 / batch.len() as i64);
        let mut offset = 0;
        group.throughput(Throughput::Bytes(1 << 20));
        group.bench_function(format!("read_1MiB/{label}"), |b| {
            b.iter(|| {
                let read = log.read(offset, 1 << 20, i64::MAX, true).expect("read");
                offset += (read.records.len() / batch.len()) as i64 * per_batch;
                if offset >= end {
                    offset = 0;
                }
                read.records.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
