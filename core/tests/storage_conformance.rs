//! One suite, run against every storage backend: what a Kafka user relies on from a partition log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{batch, TestBackend};
use potok::record::{self, Batches, Compression, DecodeLimits, TimestampType};
use potok::storage::{
    AppendOrigin, Backend, BackendFile, Log, LogConfig, LogManager, OpenOptions, Records, StorageError, TopicPartition,
};
use std::io;
use std::path::Path;
use std::sync::Arc;

const NOW: i64 = 1_700_000_000_000;

fn open(tb: &TestBackend, config: LogConfig) -> Log {
    Log::open(tb.backend.clone(), &tb.dir.join("topic-0"), config, OpenOptions::default(), NOW).expect("open log")
}

fn reopen_clean(tb: &TestBackend, config: LogConfig, log: Log) -> Log {
    let recovery_point = log.recovery_point();
    let log_start_offset = log.log_start_offset();
    let high_watermark = log.high_watermark();
    log.close(NOW).expect("close");
    let options = OpenOptions { recovery_point, log_start_offset, had_clean_shutdown: true, high_watermark };
    Log::open(tb.backend.clone(), &tb.dir.join("topic-0"), config, options, NOW).expect("reopen")
}

/// Appends as the only replica would: the high watermark follows the log end.
fn append(log: &mut Log, bytes: Vec<u8>) -> Result<potok::storage::AppendInfo, StorageError> {
    let info = log.append(&bytes, 0, AppendOrigin::Client, NOW)?;
    log.set_high_watermark(log.log_end_offset());
    Ok(info)
}

/// Every (offset, value) pair in a run of stored batches.
fn offsets_and_values(bytes: &[u8]) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    for b in Batches::new(bytes) {
        let (_, records) = record::decode_records(b.expect("batch"), DecodeLimits::default()).expect("decode");
        out.extend(records.into_iter().map(|r| (r.offset, r.value.expect("value").to_vec())));
    }
    out
}

fn read_all(log: &Log) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20, i64::MAX, true).expect("read");
        let last = Batches::new(&read.records)
            .map(|b| record::BatchHeader::parse(b.expect("batch")).expect("header").next_offset())
            .last()
            .expect("a read below the log end returns a batch");
        out.extend_from_slice(&read.records);
        offset = last;
    }
    out
}

fn small_segments() -> LogConfig {
    LogConfig { segment_bytes: 4000, index_interval_bytes: 500, ..LogConfig::default() }
}

fn appends_assign_offsets_and_read_back(tb: TestBackend) {
    let mut log = open(&tb, LogConfig::default());
    let a = append(&mut log, batch(3, 10, NOW, Compression::None)).unwrap();
    assert_eq!((a.first_offset, a.last_offset, a.record_count), (0, 2, 3));
    let b = append(&mut log, batch(2, 10, NOW, Compression::Lz4)).unwrap();
    assert_eq!((b.first_offset, b.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    let all = log.read(0, 1 << 20, i64::MAX, false).unwrap();
    let offsets: Vec<i64> = offsets_and_values(&all.records).into_iter().map(|(o, _)| o).collect();
    assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
    // A read from the middle of a batch starts with the whole batch holding the offset.
    let mid = log.read(4, 1 << 20, i64::MAX, false).unwrap();
    let offsets: Vec<i64> = offsets_and_values(&mid.records).into_iter().map(|(o, _)| o).collect();
    assert_eq!(offsets, vec![3, 4]);
    // Stored bytes are the producer's bytes with only the offset and epoch rewritten.
    let mut expected = batch(3, 10, NOW, Compression::None);
    record::set_base_offset(&mut expected, 0);
    record::set_partition_leader_epoch(&mut expected, 0);
    assert_eq!(&all.records[..expected.len()], &expected[..]);
}

fn reads_respect_limits_and_range(tb: TestBackend) {
    let mut log = open(&tb, LogConfig::default());
    let one = batch(5, 100, NOW, Compression::None);
    let size = one.len();
    for _ in 0..4 {
        append(&mut log, one.clone()).unwrap();
    }
    assert_eq!(log.read(0, size * 2 + 10, i64::MAX, false).unwrap().records.len(), size * 2);
    assert!(log.read(0, 10, i64::MAX, false).unwrap().records.is_empty());
    assert_eq!(log.read(0, 10, i64::MAX, true).unwrap().records.len(), size, "min one batch");
    assert_eq!(log.read(0, 1 << 20, 10, false).unwrap().records.len(), size * 2, "bounded by max offset");
    assert!(log.read(20, 1 << 20, i64::MAX, false).unwrap().records.is_empty(), "at the log end");
    assert!(matches!(log.read(21, 100, i64::MAX, false), Err(StorageError::OffsetOutOfRange { .. })));
    assert!(matches!(log.read(-1, 100, i64::MAX, false), Err(StorageError::OffsetOutOfRange { .. })));
}

/// A read ends at the same batch whatever finds it: the whole batches from the one holding the offset, as
/// many as fit in `max_bytes` (at least one with `min_one_batch`), none starting at or past `max_offset`. The
/// reference walks every batch; the log skips ahead through its sparse offset index. A Fetch's read (which may
/// answer with a range of the segment file) returns the same bytes and the next offset after them.
fn reads_end_at_the_same_batch_as_a_full_walk(tb: TestBackend) {
    let config = LogConfig { index_interval_bytes: 300, ..LogConfig::default() };
    let mut log = open(&tb, config);
    for n in 0..120usize {
        append(&mut log, batch(1 + n % 4, 20 + (n * 37) % 200, NOW, Compression::None)).unwrap();
    }
    let all = log.read(0, usize::MAX, i64::MAX, true).unwrap().records;
    // (base offset, next offset, start, end) of every batch.
    let mut batches = Vec::new();
    let mut position = 0;
    for b in Batches::new(&all) {
        let h = record::BatchHeader::parse(b.unwrap()).unwrap();
        batches.push((h.base_offset, h.next_offset(), position, position + h.size_in_bytes()));
        position += h.size_in_bytes();
    }
    assert_eq!(position, all.len());
    let end = log.log_end_offset();
    for offset in [0, 1, 7, 50, 133, end - 1] {
        for max_bytes in [1, 90, 300, 1000, 2500, 9999, 1 << 20] {
            for max_offset in [3, 60, 200, end, i64::MAX] {
                for min_one_batch in [false, true] {
                    let first = batches.iter().position(|b| b.1 > offset).unwrap();
                    let (_, _, start, first_end) = batches[first];
                    let mut last = None;
                    if batches[first].0 < max_offset && (first_end - start <= max_bytes || min_one_batch) {
                        let limit = max_bytes.max(first_end - start);
                        last = Some(first);
                        for (i, b) in batches.iter().enumerate().skip(first + 1) {
                            if b.0 >= max_offset || b.3 - start > limit {
                                break;
                            }
                            last = Some(i);
                        }
                    }
                    let expected = last.map_or(&[][..], |l| &all[start..batches[l].3]);
                    let case = format!("offset {offset}, max_bytes {max_bytes}, max_offset {max_offset}");
                    let read = log.read(offset, max_bytes, max_offset, min_one_batch).unwrap();
                    assert!(read.records == expected, "{case}");
                    let fetched = log.read_records(offset, max_bytes, max_offset, min_one_batch, true).unwrap();
                    assert_eq!(fetched.next_offset, last.map(|l| batches[l].1), "{case}");
                    let bytes = match fetched.records {
                        Records::Bytes(bytes) => bytes,
                        Records::File(slice) => slice.read_to_vec().unwrap(),
                    };
                    assert!(bytes == expected, "{case}");
                }
            }
        }
    }
}

fn segments_roll_with_kafka_names_and_trimmed_indexes(tb: TestBackend) {
    let config = small_segments();
    let mut log = open(&tb, config.clone());
    for _ in 0..10 {
        append(&mut log, batch(4, 200, NOW, Compression::None)).unwrap();
    }
    assert!(log.segment_count() >= 3, "segments: {}", log.segment_count());
    let names = tb.backend.list_dir(&tb.dir.join("topic-0")).unwrap();
    assert!(names.contains(&"00000000000000000000.log".to_string()), "{names:?}");
    assert!(names.contains(&"00000000000000000000.index".to_string()));
    assert!(names.contains(&"00000000000000000000.timeindex".to_string()));
    assert!(names.contains(&"leader-epoch-checkpoint".to_string()));
    let second = log.segment_base_offsets()[1];
    assert!(names.contains(&format!("{second:020}.log")), "{names:?}");
    // Sealed segments' indexes are trimmed to their entries; the active one stays preallocated.
    let sealed_index = tb.backend.open(&tb.dir.join("topic-0/00000000000000000000.index"), false).unwrap();
    assert_eq!(sealed_index.len() % 8, 0);
    assert!(sealed_index.len() < 1024, "sealed index not trimmed: {}", sealed_index.len());
    let active = log.segment_base_offsets().last().copied().unwrap();
    let active_index = tb.backend.open(&tb.dir.join(format!("topic-0/{active:020}.index")), false).unwrap();
    assert_eq!(active_index.len(), u64::from(config.segment_index_bytes));
    // Every segment stays within segment.bytes and the log reads back whole.
    for base in log.segment_base_offsets() {
        let f = tb.backend.open(&tb.dir.join(format!("topic-0/{base:020}.log")), false).unwrap();
        assert!(f.len() <= u64::from(config.segment_bytes));
    }
    assert_eq!(offsets_and_values(&read_all(&log)).len(), 40);
}

fn segments_roll_by_time(tb: TestBackend) {
    let config = LogConfig { segment_ms: 1000, ..LogConfig::default() };
    let mut log = open(&tb, config);
    // Kafka measures a segment's age from its first batch's timestamp to the incoming batch's timestamp.
    let b = batch(1, 10, NOW, Compression::None);
    log.append(&b, 0, AppendOrigin::Client, NOW).unwrap();
    let b = batch(1, 10, NOW + 500, Compression::None);
    log.append(&b, 0, AppendOrigin::Client, NOW + 500).unwrap();
    assert_eq!(log.segment_count(), 1);
    // Old data replayed much later does not roll a segment per batch...
    let b = batch(1, 10, NOW + 600, Compression::None);
    log.append(&b, 0, AppendOrigin::Client, NOW + 10_000_000).unwrap();
    assert_eq!(log.segment_count(), 1);
    // ...but a batch stamped more than segment.ms after the first one does.
    let b = batch(1, 10, NOW + 1001, Compression::None);
    log.append(&b, 0, AppendOrigin::Client, NOW + 1001).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 3]);
}

fn offset_index_is_sparse_and_lookups_work(tb: TestBackend) {
    let config = LogConfig { index_interval_bytes: 4096, ..LogConfig::default() };
    let mut log = open(&tb, config.clone());
    for i in 0..200 {
        append(&mut log, batch(1, 1000, NOW + i, Compression::None)).unwrap();
    }
    log.close(NOW).unwrap();
    let index = tb.backend.open(&tb.dir.join("topic-0/00000000000000000000.index"), false).unwrap();
    let entries = index.len() / 8;
    let options = OpenOptions { recovery_point: 200, log_start_offset: 0, had_clean_shutdown: true, high_watermark: 0 };
    let log = Log::open(tb.backend.clone(), &tb.dir.join("topic-0"), config, options, NOW).unwrap();
    // About one entry per 4096 bytes of ~1.1 KB batches: one every 4 or 5 batches.
    assert!((35..=55).contains(&entries), "entries: {entries}");
    for offset in [0, 1, 57, 123, 199] {
        let read = log.read(offset, 1, i64::MAX, true).unwrap();
        assert_eq!(offsets_and_values(&read.records)[0].0, offset);
    }
}

fn lookup_by_timestamp(tb: TestBackend) {
    let mut log = open(&tb, LogConfig { index_interval_bytes: 100, ..LogConfig::default() });
    for i in 0..50 {
        append(&mut log, batch(2, 50, NOW + i * 10, Compression::Gzip)).unwrap();
    }
    // Batch i holds offsets 2i, 2i+1 with timestamps NOW + 10i and NOW + 10i + 1.
    assert_eq!(log.offset_for_timestamp(NOW).unwrap(), Some((0, NOW)));
    assert_eq!(log.offset_for_timestamp(NOW + 101).unwrap(), Some((21, NOW + 101)));
    assert_eq!(log.offset_for_timestamp(NOW + 102).unwrap(), Some((22, NOW + 110)));
    assert_eq!(log.offset_for_timestamp(NOW + 10_000).unwrap(), None);
    assert_eq!(log.max_timestamp_and_offset(), Some((NOW + 491, 99)));
}

fn retention_by_size_and_time(tb: TestBackend) {
    let config = LogConfig { retention_bytes: 8000, ..small_segments() };
    let mut log = open(&tb, config);
    for i in 0..20 {
        let b = batch(4, 200, NOW + i * 1000, Compression::None);
        log.append(&b, 0, AppendOrigin::Client, NOW).unwrap();
    }
    let before = log.segment_count();
    let hw = log.log_end_offset();
    log.set_high_watermark(hw);
    let deleted = log.enforce_retention(NOW).unwrap();
    assert!(deleted > 0 && log.segment_count() == before - deleted);
    assert!(log.size_in_bytes() <= 8000 + 4000);
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
    assert!(matches!(log.read(0, 100, i64::MAX, false), Err(StorageError::OffsetOutOfRange { .. })));

    // Time: everything is older than a 1 ms retention; the log rolls and keeps an empty active segment.
    let mut config = log.config().clone();
    config.retention_bytes = -1;
    config.retention_ms = 1;
    log.set_config(config);
    log.enforce_retention(NOW + 10_000_000).unwrap();
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), hw);
    assert_eq!(log.log_end_offset(), hw);
    assert!(log.read(hw, 100, i64::MAX, false).unwrap().records.is_empty());
    append(&mut log, batch(1, 10, NOW, Compression::None)).unwrap();
    assert_eq!(log.log_end_offset(), hw + 1);
}

fn retention_waits_for_high_watermark(tb: TestBackend) {
    let mut log = open(&tb, LogConfig { retention_ms: 1, ..small_segments() });
    for _ in 0..10 {
        append(&mut log, batch(4, 200, NOW, Compression::None)).unwrap();
    }
    log.set_high_watermark(0);
    assert_eq!(log.enforce_retention(NOW + 1_000_000).unwrap(), 0);
}

fn delete_records_moves_log_start(tb: TestBackend) {
    let mut log = open(&tb, small_segments());
    for _ in 0..10 {
        append(&mut log, batch(4, 200, NOW, Compression::None)).unwrap();
    }
    let hw = log.log_end_offset();
    log.increment_log_start_offset(17, NOW).unwrap();
    assert_eq!(log.log_start_offset(), 17);
    assert!(log.segment_base_offsets()[0] <= 17);
    assert!(matches!(log.read(16, 100, i64::MAX, false), Err(StorageError::OffsetOutOfRange { .. })));
    assert!(log.increment_log_start_offset(hw + 1, NOW).is_err());
    log.set_high_watermark(hw - 5);
    assert!(log.increment_log_start_offset(hw - 4, NOW).is_err(), "not past the high watermark");
}

fn bad_batches_are_refused_and_nothing_is_written(tb: TestBackend) {
    let mut log = open(&tb, LogConfig { max_message_bytes: 2000, ..LogConfig::default() });
    append(&mut log, batch(1, 10, NOW, Compression::None)).unwrap();
    let size_before = log.size_in_bytes();
    let good = batch(2, 10, NOW, Compression::None);

    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0xff;
    let mut bad_magic = good.clone();
    bad_magic[16] = 1;
    let overrun = good[..good.len() - 5].to_vec();
    let too_large = batch(1, 3000, NOW, Compression::None);
    let control = record::BatchBuilder::control_marker(record::ControlType::Commit, 0, 1, 0, NOW).build().unwrap();
    let mut lying_count = good.clone();
    lying_count[57..61].copy_from_slice(&5i32.to_be_bytes());
    lying_count[23..27].copy_from_slice(&4i32.to_be_bytes());
    let crc = crc32c::crc32c(&lying_count[21..]);
    lying_count[17..21].copy_from_slice(&crc.to_be_bytes());

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad crc", bad_crc),
        ("bad magic", bad_magic),
        ("length overrun", overrun),
        ("too large", too_large),
        ("control batch from a client", control),
        ("record count lies", lying_count),
    ];
    assert!(append(&mut log, Vec::new()).is_err(), "an empty append");
    for (what, bad) in cases {
        // A valid batch followed by a bad one: the valid one must not be written either.
        let mut mixed = good.clone();
        mixed.extend_from_slice(&bad);
        let err = append(&mut log, mixed).expect_err(what);
        if what == "too large" {
            assert!(matches!(err, StorageError::MessageTooLarge { .. }), "{what}: {err}");
        }
        assert_eq!(log.log_end_offset(), 1, "{what}");
        assert_eq!(log.size_in_bytes(), size_before, "{what}");
    }
}

fn append_larger_than_a_segment_is_refused(tb: TestBackend) {
    let mut log = open(&tb, LogConfig { segment_bytes: 1000, ..LogConfig::default() });
    let err = append(&mut log, batch(1, 2000, NOW, Compression::None)).unwrap_err();
    assert!(matches!(err, StorageError::RecordListTooLarge { .. }), "{err}");
    assert_eq!(log.log_end_offset(), 0);
}

fn log_append_time_rewrites_timestamps(tb: TestBackend) {
    let config = LogConfig { message_timestamp_type: TimestampType::LogAppendTime, ..LogConfig::default() };
    let mut log = open(&tb, config);
    let b = batch(3, 10, 5, Compression::Snappy);
    let info = log.append(&b, 0, AppendOrigin::Client, NOW + 7).unwrap();
    assert_eq!(info.log_append_time, Some(NOW + 7));
    let read = log.read(0, 1 << 20, i64::MAX, false).unwrap();
    let (h, records) = record::decode_records(&read.records, DecodeLimits::default()).unwrap();
    assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    assert!(records.iter().all(|r| r.timestamp == NOW + 7));
}

fn leader_epochs_are_checkpointed(tb: TestBackend) {
    let config = LogConfig::default();
    let mut log = open(&tb, config.clone());
    let b = batch(2, 10, NOW, Compression::None);
    log.append(&b, 0, AppendOrigin::Client, NOW).unwrap();
    let b = batch(2, 10, NOW, Compression::None);
    log.append(&b, 3, AppendOrigin::Client, NOW).unwrap();
    let text =
        potok::storage::backend::read_whole(tb.backend.as_ref(), &tb.dir.join("topic-0/leader-epoch-checkpoint"))
            .unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), "0\n2\n0 0\n3 2\n");
    let read = log.read(2, 1 << 20, i64::MAX, false).unwrap();
    assert_eq!(record::BatchHeader::parse(&read.records).unwrap().partition_leader_epoch, 3);
    let log = reopen_clean(&tb, config, log);
    assert_eq!(log.leader_epochs().end_offset_for(0, log.log_end_offset()), Some((0, 2)));
    assert_eq!(log.leader_epochs().end_offset_for(3, log.log_end_offset()), Some((3, 4)));
}

fn clean_reopen_keeps_everything(tb: TestBackend) {
    let config = small_segments();
    let mut log = open(&tb, config.clone());
    for i in 0..30 {
        append(&mut log, batch(3, 100, NOW + i, Compression::Zstd)).unwrap();
    }
    let before = read_all(&log);
    let (leo, segments) = (log.log_end_offset(), log.segment_base_offsets());
    let mut log = reopen_clean(&tb, config, log);
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(log.segment_base_offsets(), segments);
    assert_eq!(read_all(&log), before);
    // Batch i holds offsets 3i..3i+2 stamped NOW+i..NOW+i+2, so NOW+15 is first reached at offset 41.
    assert_eq!(log.offset_for_timestamp(NOW + 15).unwrap(), Some((41, NOW + 15)));
    // The reopened active segment takes appends again.
    append(&mut log, batch(1, 10, NOW, Compression::None)).unwrap();
    assert_eq!(log.log_end_offset(), leo + 1);
}

fn unclean_reopen_recovers(tb: TestBackend) {
    let config = small_segments();
    let mut log = open(&tb, config.clone());
    for _ in 0..30 {
        append(&mut log, batch(3, 100, NOW, Compression::None)).unwrap();
    }
    let before = read_all(&log);
    drop(log); // no close: indexes untrimmed, nothing flushed
    let log = Log::open(tb.backend.clone(), &tb.dir.join("topic-0"), config, OpenOptions::default(), NOW).unwrap();
    assert_eq!(log.log_end_offset(), 90);
    assert_eq!(read_all(&log), before);
}

fn damaged_indexes_are_rebuilt(tb: TestBackend) {
    let config = LogConfig { index_interval_bytes: 100, ..LogConfig::default() };
    let mut log = open(&tb, config.clone());
    for _ in 0..20 {
        append(&mut log, batch(2, 100, NOW, Compression::None)).unwrap();
    }
    let before = read_all(&log);
    log.close(NOW).unwrap();
    let dir = tb.dir.join("topic-0");
    tb.backend.remove_file(&dir.join("00000000000000000000.timeindex")).unwrap();
    let mut index = tb.backend.open(&dir.join("00000000000000000000.index"), false).unwrap();
    index.set_len(13).unwrap(); // not a whole number of entries
    drop(index);
    let options = OpenOptions { recovery_point: 40, log_start_offset: 0, had_clean_shutdown: true, high_watermark: 0 };
    let log = Log::open(tb.backend.clone(), &dir, config, options, NOW).unwrap();
    assert_eq!(read_all(&log), before);
    assert_eq!(log.offset_for_timestamp(NOW + 1).unwrap(), Some((1, NOW + 1)));
    for offset in 0..40 {
        assert_eq!(offsets_and_values(&log.read(offset, 1, i64::MAX, true).unwrap().records)[0].0, offset / 2 * 2);
    }
}

fn flush_messages_moves_recovery_point(tb: TestBackend) {
    let mut log = open(&tb, LogConfig { flush_messages: 5, ..LogConfig::default() });
    append(&mut log, batch(3, 10, NOW, Compression::None)).unwrap();
    assert_eq!(log.recovery_point(), 0);
    append(&mut log, batch(3, 10, NOW, Compression::None)).unwrap();
    assert_eq!(log.recovery_point(), 6);
    let other = TestBackend { dir: tb.dir.join("other"), ..tb };
    let mut log = open(&other, LogConfig { flush_ms: 100, ..LogConfig::default() });
    let b = batch(1, 10, NOW, Compression::None);
    log.append(&b, 0, AppendOrigin::Client, NOW).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.maybe_flush(NOW + 100).unwrap();
    assert_eq!(log.recovery_point(), 1);
}

fn manager_checkpoints_and_clean_shutdown(tb: TestBackend) {
    let mut mgr = LogManager::open(tb.backend.clone(), &tb.dir, |_| small_segments(), NOW).unwrap();
    assert!(!mgr.had_clean_shutdown());
    for p in 0..3 {
        let log = mgr.create(TopicPartition::new("orders", p).unwrap(), small_segments(), NOW).unwrap();
        for _ in 0..=p {
            let b = batch(2, 10, NOW, Compression::None);
            potok::storage::lock(&log).append(&b, 0, AppendOrigin::Client, NOW).unwrap();
        }
    }
    assert!(mgr.create(TopicPartition::new("orders", 0).unwrap(), small_segments(), NOW).is_err());
    mgr.close(NOW).unwrap();
    let checkpoint =
        potok::storage::backend::read_whole(tb.backend.as_ref(), &tb.dir.join("recovery-point-offset-checkpoint"))
            .unwrap();
    assert_eq!(String::from_utf8(checkpoint).unwrap(), "0\n3\norders 0 2\norders 1 4\norders 2 6\n");
    assert!(tb.backend.exists(&tb.dir.join(".kafka_cleanshutdown")));
    let mut mgr = LogManager::open(tb.backend.clone(), &tb.dir, |_| small_segments(), NOW).unwrap();
    assert!(mgr.had_clean_shutdown());
    assert!(!tb.backend.exists(&tb.dir.join(".kafka_cleanshutdown")));
    let tp = TopicPartition::new("orders", 2).unwrap();
    assert_eq!(potok::storage::lock(&mgr.get(&tp).unwrap()).log_end_offset(), 6);
    assert!(mgr.delete(&tp).unwrap());
    assert!(!tb.backend.exists(&tb.dir.join("orders-2")));
    assert_eq!(mgr.partitions().count(), 2);
}

fn topic_names_are_checked(_tb: TestBackend) {
    assert!(TopicPartition::new("ok.name_1-x", 0).is_ok());
    for bad in ["", ".", "..", "has space", "slash/y", &"x".repeat(250)] {
        assert!(TopicPartition::new(bad, 0).is_err(), "{bad:?}");
    }
    assert!(TopicPartition::new("t", -1).is_err());
    assert_eq!(TopicPartition::from_dir_name("my-topic-12"), Some(TopicPartition::new("my-topic", 12).unwrap()));
    assert_eq!(TopicPartition::from_dir_name("my-topic-x"), None);
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, values: &[&str]) -> Vec<u8> {
    let mut b = potok::record::BatchBuilder::new(Compression::None).producer(pid, epoch, seq, true);
    for v in values {
        b.append(NOW, None, Some(v.as_bytes()), &[]);
    }
    b.build().unwrap()
}

fn marker(log: &mut Log, control: potok::record::ControlType, pid: i64, epoch: i16) -> Result<i64, StorageError> {
    let m = potok::record::BatchBuilder::control_marker(control, 3, pid, epoch, NOW).build().unwrap();
    let info = log.append(&m, 0, AppendOrigin::Coordinator, NOW)?;
    log.set_high_watermark(log.log_end_offset());
    Ok(info.first_offset)
}

/// Open transactions hold the last stable offset back; an abort lands in the segment's `.txnindex`; producer
/// state comes back from the `.snapshot` files after a clean close and by replay after a crash.
fn transactions_lso_txnindex_and_snapshots(tb: TestBackend) {
    use potok::record::ControlType::{Abort, Commit};
    let config = small_segments();
    let mut log = open(&tb, config.clone());
    append(&mut log, batch(2, 10, NOW, Compression::None)).unwrap();
    assert_eq!(log.last_stable_offset(), 2);
    append(&mut log, txn_batch(7, 0, 0, &["a1", "a2"])).unwrap(); // offsets 2-3
    append(&mut log, txn_batch(8, 0, 0, &["b1"])).unwrap(); // offset 4
    assert_eq!(log.last_stable_offset(), 2, "producer 7's open transaction starts at 2");
    assert_eq!(marker(&mut log, Abort, 7, 0).unwrap(), 5);
    assert_eq!(log.last_stable_offset(), 4, "producer 8's transaction is still open");
    assert_eq!(marker(&mut log, Commit, 8, 0).unwrap(), 6);
    assert_eq!(log.last_stable_offset(), 7);
    let aborted = log.collect_aborted_txns(0, 7);
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].producer_id, aborted[0].first_offset, aborted[0].last_offset), (7, 2, 5));
    assert_eq!(aborted[0].last_stable_offset, 4, "producer 8's transaction was open at the abort");
    let txnindex = tb.dir.join("topic-0/00000000000000000000.txnindex");
    assert_eq!(tb.backend.open(&txnindex, false).unwrap().len(), 34);
    // Producer 7 continues its sequence in its next transaction, which stays open across a clean restart.
    append(&mut log, txn_batch(7, 0, 2, &["c1"])).unwrap(); // offset 7
                                                            // Enough data to roll a few segments, which writes snapshots at their base offsets.
    for _ in 0..8 {
        append(&mut log, batch(4, 200, NOW, Compression::None)).unwrap();
    }
    assert!(log.segment_count() >= 3);
    let names = tb.backend.list_dir(&tb.dir.join("topic-0")).unwrap();
    let second = log.segment_base_offsets()[1];
    assert!(names.contains(&format!("{second:020}.snapshot")), "{names:?}");
    let end = log.log_end_offset();
    let mut log = reopen_clean(&tb, config.clone(), log);
    assert!(tb.backend.exists(&tb.dir.join(format!("topic-0/{end:020}.snapshot"))), "written on close");
    assert_eq!(log.last_stable_offset(), 7, "the open transaction survives a clean restart");
    assert!(log.has_ongoing_txn(7));
    assert_eq!(log.collect_aborted_txns(0, end).len(), 1);
    let retry = txn_batch(7, 0, 2, &["c1"]);
    let retry = record::BatchHeader::parse(&retry).unwrap();
    assert!(
        matches!(log.producer_state().check(&retry), potok::storage::producer_state::SequenceCheck::Duplicate(b) if b.first_offset == 7),
        "the producer state survives a clean restart"
    );
    // A crash: the log end snapshot goes stale (removed below), so the state comes from an older snapshot plus
    // replay, and the abort recorded after that snapshot is rebuilt in the transaction index.
    let last_segment = *log.segment_base_offsets().last().unwrap();
    assert_eq!(marker(&mut log, Abort, 7, 1).unwrap(), end);
    assert_eq!(log.last_stable_offset(), end + 1);
    drop(log);
    tb.backend.remove_file(&tb.dir.join(format!("topic-0/{end:020}.snapshot"))).unwrap();
    let mut log = open(&tb, config);
    log.set_high_watermark(log.log_end_offset());
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
    assert!(!log.has_ongoing_txn(7));
    let aborted = log.collect_aborted_txns(0, log.log_end_offset());
    assert_eq!(aborted.iter().map(|t| (t.first_offset, t.last_offset)).collect::<Vec<_>>(), vec![(2, 5), (7, end)]);
    let index = tb.dir.join(format!("topic-0/{last_segment:020}.txnindex"));
    assert_eq!(tb.backend.open(&index, false).unwrap().len(), 34, "one entry, not a duplicate");
}

fn idempotent_batch(pid: i64, seq: i32, records: usize) -> Vec<u8> {
    let mut b = potok::record::BatchBuilder::new(Compression::None).producer(pid, 0, seq, false);
    for i in 0..records {
        b.append(NOW + i as i64, Some(format!("k{i}").as_bytes()), Some(&[7u8; 300]), &[]);
    }
    b.build().unwrap()
}

/// A follower cutting a divergent tail: everything from the cut on goes (a batch holding the cut point goes
/// whole), and the indexes, transaction index, producer state, leader epochs and high watermark agree with the
/// shorter log — also after a clean or an unclean reopen, and appends continue from the new end.
fn truncate_to_keeps_everything_consistent(tb: TestBackend) {
    use potok::record::ControlType::Abort;
    use potok::storage::producer_state::SequenceCheck;
    let config = small_segments();
    let mut log = open(&tb, config.clone());
    // Epoch 0: an idempotent producer's batches across a few segments.
    for seq in 0..6 {
        log.append(&idempotent_batch(1, seq * 4, 4), 0, AppendOrigin::Client, NOW).unwrap();
    }
    let epoch3_start = log.log_end_offset(); // 24
                                             // Epoch 3: a transaction that aborts, then more idempotent data.
    log.append(&txn_batch(9, 0, 0, &["t1", "t2"]), 3, AppendOrigin::Client, NOW).unwrap();
    let abort = potok::record::BatchBuilder::control_marker(Abort, 3, 9, 0, NOW).build().unwrap();
    let abort_offset = log.append(&abort, 3, AppendOrigin::Coordinator, NOW).unwrap().first_offset;
    for seq in 6..10 {
        log.append(&idempotent_batch(1, seq * 4, 4), 3, AppendOrigin::Client, NOW).unwrap();
    }
    log.set_high_watermark(log.log_end_offset());
    assert!(log.segment_count() >= 3, "the suite needs several segments");
    assert_eq!(log.collect_aborted_txns(0, log.log_end_offset()).len(), 1);
    let before: Vec<(i64, Vec<u8>)> = offsets_and_values(&read_all(&log));

    // Cut in the middle of a batch of epoch 0 (offsets 8..=11): the whole batch goes.
    let segments_before = log.segment_count();
    log.truncate_to(10).unwrap();
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(log.high_watermark(), 8, "the high watermark never passes the log end");
    assert!(log.recovery_point() <= 8);
    assert!(log.segment_count() < segments_before);
    let after = offsets_and_values(&read_all(&log));
    assert_eq!(after, before.iter().filter(|(o, _)| *o < 8).cloned().collect::<Vec<_>>());
    assert_eq!(log.leader_epochs().latest_epoch(), Some(0), "epoch 3 started after the cut");
    assert!(log.collect_aborted_txns(0, i64::MAX).is_empty(), "the abort marker was cut away");
    assert!(!log.has_ongoing_txn(9));
    // The producer continues right after the last batch kept; the removed batch is not a duplicate any more.
    let next = record::BatchHeader::parse(&idempotent_batch(1, 8, 4)).unwrap();
    assert_eq!(log.producer_state().check(&next), SequenceCheck::Accept);
    let kept = record::BatchHeader::parse(&idempotent_batch(1, 4, 4)).unwrap();
    assert!(matches!(log.producer_state().check(&kept), SequenceCheck::Duplicate(b) if b.first_offset == 4));
    for base in log.segment_base_offsets() {
        for suffix in [".log", ".index", ".timeindex"] {
            assert!(tb.backend.exists(&tb.dir.join(format!("topic-0/{base:020}{suffix}"))));
        }
    }
    let names = tb.backend.list_dir(&tb.dir.join("topic-0")).unwrap();
    assert!(
        names.iter().filter(|n| n.ends_with(".snapshot")).all(|n| n[..20].parse::<i64>().unwrap() <= 8),
        "no snapshot past the new end: {names:?}"
    );
    // Lookups by offset and time stay within the log.
    assert!(log.offset_for_timestamp(NOW).unwrap().is_some_and(|(o, _)| o < 8));
    assert!(log.read(8, 1000, i64::MAX, true).unwrap().records.is_empty());

    // Appends continue from the new end with the follower's batches (offsets and epochs kept).
    let mut again = idempotent_batch(1, 8, 4);
    potok::record::set_base_offset(&mut again, 8);
    potok::record::set_partition_leader_epoch(&mut again, 5);
    log.append(&again, 0, AppendOrigin::Replication, NOW).unwrap();
    assert_eq!(log.log_end_offset(), 12);
    assert_eq!(log.leader_epochs().latest_epoch(), Some(5));
    log.set_high_watermark(12);
    let expected = offsets_and_values(&read_all(&log));

    // A clean reopen and an unclean one both find the same log.
    let log = reopen_clean(&tb, config.clone(), log);
    assert_eq!(offsets_and_values(&read_all(&log)), expected);
    assert_eq!(log.high_watermark(), 12);
    drop(log);
    let mut log = open(&tb, config.clone());
    assert_eq!(offsets_and_values(&read_all(&log)), expected);
    let next = record::BatchHeader::parse(&idempotent_batch(1, 12, 4)).unwrap();
    assert_eq!(log.producer_state().check(&next), SequenceCheck::Accept);

    // A cut below everything empties the log and starts it at the cut.
    let _ = (epoch3_start, abort_offset);
    log.truncate_fully_and_start_at(40, NOW).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset(), log.high_watermark()), (40, 40, 40));
    assert_eq!(log.segment_base_offsets(), vec![40]);
    let mut b = batch(2, 10, NOW, Compression::None);
    potok::record::set_base_offset(&mut b, 40);
    log.append(&b, 0, AppendOrigin::Replication, NOW).unwrap();
    assert_eq!(log.log_end_offset(), 42);
}

/// A new partition's log made by `Log::create` is the log `Log::open` makes of a missing directory: the same
/// files, the same offsets and epochs, and it takes appends, rolls, and opens again with what was written.
fn a_created_log_is_an_empty_log(tb: TestBackend) {
    let config = small_segments();
    tb.backend.create_dir_all(&tb.dir).unwrap();
    let created = Log::create(tb.backend.clone(), &tb.dir.join("created-0"), config.clone(), NOW).unwrap();
    let opened = open(&tb, config.clone());
    let files = |name: &str| tb.backend.list_dir(&tb.dir.join(name)).unwrap();
    assert_eq!(files("created-0"), files("topic-0"));
    assert_eq!(
        files("created-0"),
        ["00000000000000000000.index", "00000000000000000000.log", "00000000000000000000.timeindex"]
    );
    for log in [&created, &opened] {
        assert_eq!((log.log_start_offset(), log.log_end_offset(), log.high_watermark()), (0, 0, 0));
        assert_eq!((log.recovery_point(), log.leader_epochs().entries().len()), (0, 0));
    }
    let mut log = created;
    for i in 0..30 {
        append(&mut log, batch(3, 100, NOW + i, Compression::None)).unwrap();
    }
    assert!(log.segment_base_offsets().len() > 1, "small segments roll");
    let before = read_all(&log);
    let (leo, segments) = (log.log_end_offset(), log.segment_base_offsets());
    log.close(NOW).unwrap();
    let options =
        OpenOptions { recovery_point: leo, log_start_offset: 0, had_clean_shutdown: true, high_watermark: leo };
    let log = Log::open(tb.backend.clone(), &tb.dir.join("created-0"), config, options, NOW).unwrap();
    assert_eq!((log.log_end_offset(), log.segment_base_offsets()), (leo, segments));
    assert_eq!(read_all(&log), before);
    assert_eq!(log.leader_epochs().end_offset_for(0, leo), Some((0, leo)));
}

/// `partition.metadata` given to a log is written when asked, and otherwise before the first batch is and by
/// a flush (so by a clean close); a log removed meanwhile does not write it into its vanishing directory.
fn partition_metadata_is_written_before_the_first_batch(tb: TestBackend) {
    let config = LogConfig::default();
    let contents = b"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n".to_vec();
    tb.backend.create_dir_all(&tb.dir).unwrap();
    let file = |name: &str| tb.dir.join(name).join(potok::storage::PARTITION_METADATA);
    let read = |name: &str| potok::storage::backend::read_whole(tb.backend.as_ref(), &file(name)).ok();
    let create = |name: &str| {
        let mut log = Log::create(tb.backend.clone(), &tb.dir.join(name), config.clone(), NOW).unwrap();
        log.set_partition_metadata(Some(contents.clone()));
        assert_eq!(read(name), None, "{name}: not written when given");
        log
    };
    let mut asked = create("asked-0");
    asked.write_partition_metadata().unwrap();
    assert_eq!(read("asked-0").as_ref(), Some(&contents));
    let mut appended = create("appended-0");
    append(&mut appended, batch(1, 10, NOW, Compression::None)).unwrap();
    assert_eq!(read("appended-0").as_ref(), Some(&contents));
    let mut flushed = create("flushed-0");
    flushed.flush(NOW).unwrap();
    assert_eq!(read("flushed-0").as_ref(), Some(&contents));
    let closed = create("closed-0");
    closed.close(NOW).unwrap();
    assert_eq!(read("closed-0").as_ref(), Some(&contents));
    let mut forgotten = create("forgotten-0");
    forgotten.set_partition_metadata(None);
    forgotten.flush(NOW).unwrap();
    assert_eq!(read("forgotten-0"), None);

    let mut mgr = LogManager::open(tb.backend.clone(), &tb.dir.join("managed"), |_| config.clone(), NOW).unwrap();
    let tp = TopicPartition::new("gone", 0).unwrap();
    let dir = tb.dir.join("managed").join(tp.dir_name());
    let mut log = Log::create(tb.backend.clone(), &dir, config.clone(), NOW).unwrap();
    log.set_partition_metadata(Some(contents.clone()));
    let shared = mgr.register(tp.clone(), log).unwrap();
    assert!(mgr.delete(&tp).unwrap());
    potok::storage::lock(&shared).write_partition_metadata().unwrap();
    assert!(!tb.backend.exists(&dir));
}

/// A memory backend that counts the calls that look at what a directory already holds: listings, existence
/// checks, and opening a file that may be there. Creating a file or directory that must be new is no look.
#[derive(Debug, Default)]
struct Looking {
    inner: potok::storage::MemoryBackend,
    looks: std::sync::atomic::AtomicUsize,
}

impl Looking {
    fn look(&self) {
        self.looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Backend for Looking {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.look();
        self.inner.list_dir(dir)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.look();
        self.inner.is_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.look();
        self.inner.exists(path)
    }
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn BackendFile>> {
        self.look();
        self.inner.open(path, create)
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn BackendFile>> {
        self.inner.create_new(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<potok::storage::LockGuard> {
        self.inner.lock(path)
    }
}

/// Making a new partition's log looks for nothing on disk (opening a missing directory lists it three times and
/// tries to read its leader epoch checkpoint; checking that each file is not there before creating it is one
/// more call per file): at 5,000 partitions those calls were a quarter of the broker's CPU. A directory that is
/// there, even empty, is refused, not adopted.
#[test]
fn creating_a_log_looks_for_nothing() {
    let backend = Arc::new(Looking::default());
    let config = LogConfig::default();
    backend.create_dir_all(Path::new("/logs")).unwrap();
    let created = Log::create(backend.clone(), Path::new("/logs/created-0"), config.clone(), NOW).unwrap();
    assert_eq!(backend.looks.load(std::sync::atomic::Ordering::SeqCst), 0);
    drop(created);
    backend.create_dir_all(Path::new("/logs/empty-0")).unwrap();
    for existing in ["/logs/created-0", "/logs/empty-0"] {
        match Log::create(backend.clone(), Path::new(existing), config.clone(), NOW) {
            Err(StorageError::Io { error, .. }) => assert_eq!(error.kind(), io::ErrorKind::AlreadyExists),
            other => panic!("creating over {existing}: {other:?}"),
        }
    }
    assert_eq!(backend.looks.load(std::sync::atomic::Ordering::SeqCst), 0);
    Log::open(backend.clone(), Path::new("/logs/opened-0"), config, OpenOptions::default(), NOW).unwrap();
    assert!(backend.looks.load(std::sync::atomic::Ordering::SeqCst) > 0, "the counting sees Log::open look");
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[test] fn $name() { super::$name(super::common::memory_backend()) })*
        }
        mod file {
            $(#[test] fn $name() { super::$name(super::common::file_backend()) })*
        }
    };
}

conformance!(
    appends_assign_offsets_and_read_back,
    reads_end_at_the_same_batch_as_a_full_walk,
    reads_respect_limits_and_range,
    segments_roll_with_kafka_names_and_trimmed_indexes,
    segments_roll_by_time,
    offset_index_is_sparse_and_lookups_work,
    lookup_by_timestamp,
    retention_by_size_and_time,
    retention_waits_for_high_watermark,
    delete_records_moves_log_start,
    bad_batches_are_refused_and_nothing_is_written,
    append_larger_than_a_segment_is_refused,
    log_append_time_rewrites_timestamps,
    leader_epochs_are_checkpointed,
    clean_reopen_keeps_everything,
    unclean_reopen_recovers,
    damaged_indexes_are_rebuilt,
    flush_messages_moves_recovery_point,
    manager_checkpoints_and_clean_shutdown,
    topic_names_are_checked,
    transactions_lso_txnindex_and_snapshots,
    truncate_to_keeps_everything_consistent,
    a_created_log_is_an_empty_log,
    partition_metadata_is_written_before_the_first_batch,
);
