//! The log cleaner against both storage backends: what a compacted topic's user relies on (the latest record
//! of every key at its original offset, tombstones gone after `delete.retention.ms`, aborted transactions'
//! records gone, the producer state and `.txnindex` right, small segments grouped), and crash safety: a crash
//! at every step of a swap (memory backend) leaves a log that reopens to the old or the new segments.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::TestBackend;
use potok::record::{self, BatchBuilder, Batches, Compression, ControlType, DecodeLimits};
use potok::storage::cleaner::{
    clean_filthiest, Cleaner, CleanerConfig, CleanerStats, LogCleaner, LogToClean, Unthrottled,
};
use potok::storage::producer_state::SequenceCheck;
use potok::storage::{self, AppendOrigin, Log, LogConfig, OpenOptions, SharedLog, TopicPartition};

const NOW: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_200,
        index_interval_bytes: 100,
        // Small preallocated indexes keep the memory backend's copies cheap.
        segment_index_bytes: 4_096,
        compact: true,
        delete: false,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

fn tp() -> TopicPartition {
    TopicPartition::new("compacted", 0).unwrap()
}

fn log_dir(tb: &TestBackend) -> PathBuf {
    tb.dir.join("compacted-0")
}

fn open(tb: &TestBackend, config: LogConfig) -> SharedLog {
    let log = Log::open(tb.backend.clone(), &log_dir(tb), config, OpenOptions::default(), NOW).unwrap();
    Arc::new(Mutex::new(log))
}

/// A batch of keyed records (`None` values are tombstones), optionally from a producer.
fn keyed(records: &[(&str, Option<&str>)], ts: i64, producer: Option<(i64, i16, i32, bool)>) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    if let Some((pid, epoch, seq, txn)) = producer {
        b = b.producer(pid, epoch, seq, txn);
    }
    for (i, (k, v)) in records.iter().enumerate() {
        b.append(ts + i as i64, Some(k.as_bytes()), v.map(str::as_bytes), &[]);
    }
    b.build().unwrap()
}

/// Appends and, as the partition does once the replicas have it, moves the high watermark to the log end.
fn append(log: &SharedLog, bytes: Vec<u8>, origin: AppendOrigin) -> i64 {
    let mut l = storage::lock(log);
    let offset = l.append(&bytes, 0, origin, NOW).unwrap().first_offset;
    let end = l.log_end_offset();
    l.set_high_watermark(end);
    offset
}

fn marker(log: &SharedLog, control: ControlType, pid: i64, epoch: i16) -> i64 {
    append(log, BatchBuilder::control_marker(control, 0, pid, epoch, NOW).build().unwrap(), AppendOrigin::Coordinator)
}

/// Every stored batch, raw.
fn read_batches(log: &Log) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        assert!(!read.records.is_empty(), "a read below the log end at {offset} returns a batch");
        for b in Batches::new(&read.records) {
            let b = b.unwrap();
            offset = record::BatchHeader::parse(b).unwrap().next_offset();
            out.push(b.to_vec());
        }
    }
    out
}

/// (offset, key, value) of every data record.
fn records(log: &Log) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    for b in read_batches(log) {
        let (h, recs) = record::decode_records(&b, DecodeLimits::default()).unwrap();
        if h.is_control() {
            continue;
        }
        for r in recs {
            let s = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
            out.push((r.offset, s(r.key).unwrap(), s(r.value)));
        }
    }
    out
}

/// Key -> (offset, value) of the latest record of every key.
fn latest(log: &Log) -> BTreeMap<String, (i64, Option<String>)> {
    records(log).into_iter().map(|(o, k, v)| (k, (o, v))).collect()
}

fn clean_at(tb: &TestBackend, log: &SharedLog, now_ms: i64) -> Option<CleanerStats> {
    let cleaner = LogCleaner::open(tb.backend.clone(), &tb.dir);
    clean_with(&cleaner, log, now_ms)
}

fn clean_with(cleaner: &LogCleaner, log: &SharedLog, now_ms: i64) -> Option<CleanerStats> {
    let thread = Cleaner::new(CleanerConfig::default());
    let logs = vec![(tp(), log.clone())];
    clean_filthiest(cleaner, &thread, &logs, now_ms, &Unthrottled, &|| true).unwrap().map(|(_, stats)| stats)
}

/// Ten keys written twenty times over, each batch five records, rolled into many small segments.
fn overwritten_log(tb: &TestBackend) -> SharedLog {
    let log = open(tb, compact_config());
    for round in 0..20 {
        for half in 0..2 {
            let recs: Vec<(String, String)> =
                (0..5).map(|i| (format!("k{}", half * 5 + i), format!("v{round}-{}", half * 5 + i))).collect();
            let recs: Vec<(&str, Option<&str>)> = recs.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))).collect();
            append(&log, keyed(&recs, NOW + round, None), AppendOrigin::Client);
        }
    }
    storage::lock(&log).roll(NOW).unwrap();
    log
}

fn latest_per_key_at_original_offsets(tb: TestBackend) {
    let log = overwritten_log(&tb);
    let before = latest(&storage::lock(&log));
    let (segments_before, end) = {
        let l = storage::lock(&log);
        (l.segment_count(), l.log_end_offset())
    };
    assert!(segments_before > 5, "{segments_before}");
    let stats = clean_at(&tb, &log, NOW).expect("a dirty log is cleaned");
    assert!(stats.groups_swapped >= 1 && stats.groups_abandoned == 0, "{stats:?}");
    let l = storage::lock(&log);
    assert_eq!(latest(&l), before, "the latest record of every key, at its original offset");
    let all = records(&l);
    assert_eq!(all.len(), 10, "only the latest records stay: {all:?}");
    assert_eq!(l.log_end_offset(), end, "offsets never change");
    assert!(stats.bytes_written < stats.bytes_read / 5, "{stats:?}");
    // The last batch of the pass stays so the log keeps its end: the last batch's five records are all latest.
    let batches = read_batches(&l);
    let last = record::BatchHeader::parse(batches.last().unwrap()).unwrap();
    assert_eq!(last.next_offset(), end);
    drop(l);
    // The next pass starts where this one ended.
    let checkpoint = LogCleaner::open(tb.backend.clone(), &tb.dir).checkpoint(&tp());
    assert_eq!(checkpoint, Some(end));
    assert!(clean_at(&tb, &log, NOW).is_none(), "nothing dirty is left");
    // Groups are sized by the segments as they were: the next pass merges the small cleaned ones.
    append(&log, keyed(&[("k0", Some("again"))], NOW, None), AppendOrigin::Client);
    storage::lock(&log).roll(NOW).unwrap();
    clean_at(&tb, &log, NOW).expect("second pass");
    let l = storage::lock(&log);
    assert!(l.segment_count() <= 3, "small cleaned segments are grouped: {:?}", l.segment_base_offsets());
    assert_eq!(latest(&l)["k0"].1.as_deref(), Some("again"));
    let end = l.log_end_offset();
    drop(l);
    // Cleaned segments reopen as they are, after a clean or an unclean shutdown.
    let before = records(&storage::lock(&log));
    for clean_shutdown in [true, false] {
        let options = {
            let l = storage::lock(&log);
            OpenOptions {
                recovery_point: l.recovery_point(),
                log_start_offset: l.log_start_offset(),
                had_clean_shutdown: clean_shutdown,
                high_watermark: l.high_watermark(),
            }
        };
        let reopened = Log::open(tb.backend.clone(), &log_dir(&tb), compact_config(), options, NOW).unwrap();
        assert_eq!(records(&reopened), before, "clean shutdown: {clean_shutdown}");
        assert_eq!(reopened.log_end_offset(), end);
    }
}

fn the_active_segment_and_recent_segments_stay_dirty(tb: TestBackend) {
    let config = LogConfig { min_compaction_lag_ms: 60_000, ..compact_config() };
    let log = open(&tb, config);
    for i in 0..30 {
        append(&log, keyed(&[("k", Some("old"))], NOW + i, None), AppendOrigin::Client);
    }
    // Nothing is older than min.compaction.lag.ms yet.
    let ltc = LogToClean::assess(&storage::lock(&log), None, NOW);
    assert_eq!(ltc.cleanable_bytes, 0, "{ltc:?}");
    assert!(clean_at(&tb, &log, NOW).is_none());
    // A minute later the sealed segments may go, the active one never.
    let stats = clean_at(&tb, &log, NOW + 120_000).expect("cleaned once past the lag");
    assert!(stats.groups_swapped > 0);
    let l = storage::lock(&log);
    let active_base = l.segment_base_offsets().last().copied().unwrap();
    let offsets: Vec<i64> = records(&l).iter().map(|r| r.0).collect();
    assert!(offsets.iter().filter(|&&o| o < active_base).count() == 1, "one record below the active segment");
    assert!(offsets.iter().filter(|&&o| o >= active_base).count() as i64 == 30 - active_base);
}

fn dirty_ratio_and_max_compaction_lag(tb: TestBackend) {
    let config = LogConfig { min_cleanable_dirty_ratio: 0.5, max_compaction_lag_ms: DAY, ..compact_config() };
    let log = open(&tb, config);
    for i in 0..40 {
        append(&log, keyed(&[(&format!("k{i}"), Some("v"))], NOW + i, None), AppendOrigin::Client);
    }
    storage::lock(&log).roll(NOW).unwrap();
    let cleaner = LogCleaner::open(tb.backend.clone(), &tb.dir);
    assert!(clean_with(&cleaner, &log, NOW).is_some(), "all dirty: ratio 1 > 0.5");
    // A little more: far below the ratio, so nothing happens until the records are a day old.
    for i in 0..3 {
        append(&log, keyed(&[("k0", Some("w"))], NOW + 100 + i, None), AppendOrigin::Client);
    }
    storage::lock(&log).roll(NOW).unwrap();
    let ltc = LogToClean::assess(&storage::lock(&log), cleaner.checkpoint(&tp()), NOW);
    assert!(ltc.cleanable_ratio() < 0.5 && ltc.cleanable_bytes > 0, "{ltc:?}");
    assert!(clean_with(&cleaner, &log, NOW).is_none());
    assert!(clean_with(&cleaner, &log, NOW + DAY + 1_000).is_some(), "max.compaction.lag.ms forces it");
    let l = storage::lock(&log);
    assert_eq!(records(&l).len(), 40);
    assert_eq!(latest(&l)["k0"].1.as_deref(), Some("w"));
}

fn tombstones_go_after_delete_retention(tb: TestBackend) {
    let config = LogConfig { delete_retention_ms: 1_000, ..compact_config() };
    let log = open(&tb, config);
    append(&log, keyed(&[("gone", Some("v1")), ("kept", Some("k1"))], NOW, None), AppendOrigin::Client);
    append(&log, keyed(&[("gone", None)], NOW, None), AppendOrigin::Client);
    append(&log, keyed(&[("other", Some("o"))], NOW, None), AppendOrigin::Client);
    storage::lock(&log).roll(NOW).unwrap();
    let cleaner = LogCleaner::open(tb.backend.clone(), &tb.dir);
    clean_with(&cleaner, &log, NOW).expect("first pass");
    let tombstone = (2, "gone".to_string(), None);
    let kept = (1, "kept".to_string(), Some("k1".to_string()));
    let other = (3, "other".to_string(), Some("o".to_string()));
    assert_eq!(records(&storage::lock(&log)), vec![kept.clone(), tombstone.clone(), other.clone()]);
    // The pass that first kept the tombstone stamped its batch with the delete horizon.
    let batches = read_batches(&storage::lock(&log));
    let h = batches.iter().map(|b| record::BatchHeader::parse(b).unwrap()).find(|h| h.base_offset == 2).unwrap();
    assert!(h.has_delete_horizon() && h.base_timestamp == NOW + 1_000, "{h:?}");
    // Before the horizon another pass keeps it; after it, the next pass drops it.
    append(&log, keyed(&[("x", Some("1"))], NOW, None), AppendOrigin::Client);
    storage::lock(&log).roll(NOW).unwrap();
    clean_with(&cleaner, &log, NOW + 500).expect("second pass");
    assert!(records(&storage::lock(&log)).contains(&tombstone));
    append(&log, keyed(&[("y", Some("2"))], NOW, None), AppendOrigin::Client);
    storage::lock(&log).roll(NOW).unwrap();
    clean_with(&cleaner, &log, NOW + 1_001).expect("third pass");
    let offsets: Vec<i64> = records(&storage::lock(&log)).iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![1, 3, 4, 5], "the tombstone is gone, the rest stays");
}

fn txn_batch(pid: i64, seq: i32, records: &[(&str, Option<&str>)]) -> Vec<u8> {
    keyed(records, NOW, Some((pid, 0, seq, true)))
}

fn aborted_transactions_go_and_markers_follow(tb: TestBackend) {
    use ControlType::{Abort, Commit};
    let config = LogConfig { delete_retention_ms: 1_000, ..compact_config() };
    let log = open(&tb, config.clone());
    append(&log, txn_batch(1, 0, &[("a", Some("aborted"))]), AppendOrigin::Client); // 0
    append(&log, txn_batch(2, 0, &[("c", Some("committed"))]), AppendOrigin::Client); // 1
    marker(&log, Abort, 1, 0); // 2
    marker(&log, Commit, 2, 0); // 3
    append(&log, keyed(&[("b", Some("plain"))], NOW, None), AppendOrigin::Client); // 4
    storage::lock(&log).roll(NOW).unwrap();
    let cleaner = LogCleaner::open(tb.backend.clone(), &tb.dir);
    clean_with(&cleaner, &log, NOW).expect("first pass");
    {
        let l = storage::lock(&log);
        let recs: Vec<(i64, String)> = records(&l).into_iter().map(|(o, k, _)| (o, k)).collect();
        assert_eq!(recs, vec![(1, "c".into()), (4, "b".into())], "the aborted record is gone");
        let headers: Vec<record::BatchHeader> =
            read_batches(&l).iter().map(|b| record::BatchHeader::parse(b).unwrap()).collect();
        // Producer 1's last batch stays, emptied, so its sequence survives; both markers stay for now.
        let emptied = &headers[0];
        assert_eq!((emptied.base_offset, emptied.producer_id, emptied.records_count), (0, 1, 0));
        assert_eq!(headers.iter().filter(|h| h.is_control()).count(), 2);
        let aborted = l.collect_aborted_txns(0, l.log_end_offset());
        assert_eq!(
            aborted.iter().map(|t| (t.producer_id, t.first_offset, t.last_offset)).collect::<Vec<_>>(),
            vec![(1, 0, 2)]
        );
    }
    // After a restart the producer state still knows producer 1's last batch: a retry is a duplicate (the
    // partition answers it with the original offsets).
    let reopened = {
        let l = storage::lock(&log);
        let options = OpenOptions {
            recovery_point: 0,
            log_start_offset: l.log_start_offset(),
            had_clean_shutdown: false,
            high_watermark: l.high_watermark(),
        };
        drop(l);
        Log::open(tb.backend.clone(), &log_dir(&tb), config.clone(), options, NOW).unwrap()
    };
    let log = Arc::new(Mutex::new(reopened));
    {
        let retry = record::BatchHeader::parse(&txn_batch(1, 0, &[("a", Some("aborted"))])).unwrap();
        let l = storage::lock(&log);
        let check = l.producer_state().check(&retry);
        assert!(matches!(check, SequenceCheck::Duplicate(b) if b.first_offset == 0), "{check:?}");
        assert_eq!(l.collect_aborted_txns(0, l.log_end_offset()).len(), 1, "the .txnindex survives the reopen");
    }
    // Producer 1 moves on; its old batch can then go, and with it (two passes and a horizon later) the marker.
    append(&log, txn_batch(1, 1, &[("e", Some("later"))]), AppendOrigin::Client); // 5
    marker(&log, Commit, 1, 0); // 6
    append(&log, keyed(&[("f", Some("plain"))], NOW, None), AppendOrigin::Client); // 7
    storage::lock(&log).roll(NOW).unwrap();
    let has_batch_at = |log: &SharedLog, offset: i64| {
        read_batches(&storage::lock(log)).iter().any(|b| record::BatchHeader::parse(b).unwrap().base_offset == offset)
    };
    clean_with(&cleaner, &log, NOW).expect("second pass");
    assert!(!has_batch_at(&log, 0), "producer 1's old batch goes once it is not its last");
    assert!(has_batch_at(&log, 2), "the abort marker stays while this pass saw its batch");
    let mut now = NOW;
    for (pass, key) in ["g", "h"].iter().enumerate() {
        append(&log, keyed(&[(key, Some("plain"))], NOW, None), AppendOrigin::Client);
        storage::lock(&log).roll(NOW).unwrap();
        now += 1_001 * pass as i64;
        clean_with(&cleaner, &log, now).expect("another pass");
    }
    let l = storage::lock(&log);
    let headers: Vec<record::BatchHeader> =
        read_batches(&l).iter().map(|b| record::BatchHeader::parse(b).unwrap()).collect();
    assert!(
        headers.iter().all(|h| h.base_offset != 0 && h.base_offset != 2),
        "batch 0 and the abort marker went: {headers:?}"
    );
    assert!(l.collect_aborted_txns(0, l.log_end_offset()).is_empty(), "no aborted transaction left to index");
    // Producers 1 and 2 still have their last batches (data or marker) in the log.
    assert!(headers.iter().any(|h| h.producer_id == 1 && h.base_offset == 5));
    assert!(headers.iter().any(|h| h.producer_id == 2 && h.base_offset == 1));
}

/// The pass reads and writes segments without the log's lock: produce keeps flowing (`keep_going` runs in
/// the middle of a pass and appends), and a group whose segments changed meanwhile is not swapped in.
fn cleaning_does_not_hold_the_log_lock(tb: TestBackend) {
    let log = overwritten_log(&tb);
    let before = latest(&storage::lock(&log));
    let first_segment_end = storage::lock(&log).segment_base_offsets()[1];
    let cleaner = LogCleaner::open(tb.backend.clone(), &tb.dir);
    let thread = Cleaner::new(CleanerConfig { io_buffer_size: 1_024, ..CleanerConfig::default() });
    let logs = vec![(tp(), log.clone())];
    let polls = std::sync::atomic::AtomicUsize::new(0);
    let keep_going = || {
        let n = polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut l = log.try_lock().expect("the log is not locked during the pass");
        let b = keyed(&[("during", Some("clean"))], NOW, None);
        l.append(&b, 0, AppendOrigin::Client, NOW).unwrap();
        let end = l.log_end_offset();
        l.set_high_watermark(end);
        if n == 3 {
            // DeleteRecords removes the first segment while the pass works on it.
            l.increment_log_start_offset(first_segment_end, NOW).unwrap();
        }
        true
    };
    let (_, stats) = clean_filthiest(&cleaner, &thread, &logs, NOW, &Unthrottled, &keep_going).unwrap().unwrap();
    assert!(polls.load(std::sync::atomic::Ordering::SeqCst) > 3);
    assert!(stats.groups_abandoned >= 1, "the group holding the deleted segment is not swapped in: {stats:?}");
    assert_eq!(cleaner.checkpoint(&tp()), Some(0), "the next pass starts over from the same dirty offset");
    let l = storage::lock(&log);
    assert_eq!(l.log_start_offset(), first_segment_end);
    let after = latest(&l);
    for (key, (offset, value)) in &before {
        assert_eq!(after.get(key), Some(&(*offset, value.clone())), "{key}");
    }
    assert!(after.contains_key("during"));
    let names = tb.backend.list_dir(&log_dir(&tb)).unwrap();
    assert!(names.iter().all(|n| !n.ends_with(".cleaned") && !n.ends_with(".swap")), "{names:?}");
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
    latest_per_key_at_original_offsets,
    the_active_segment_and_recent_segments_stay_dirty,
    dirty_ratio_and_max_compaction_lag,
    tombstones_go_after_delete_retention,
    aborted_transactions_go_and_markers_follow,
    cleaning_does_not_hold_the_log_lock,
);
