//! Crash at every step of a cleaning pass (memory backend): after every file creation, append, truncation,
//! rename, removal and directory sync the pass makes, the files as they are then are reopened as a restarted
//! broker would find them. Each must open, hold no leftover `.cleaned`/`.swap`/`.deleted` file, contain only
//! records the log had (at their offsets) and the same latest record for every key, and clean to the same
//! result as the uninterrupted pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use potok::record::{self, BatchBuilder, Batches, Compression, DecodeLimits};
use potok::storage::cleaner::{clean_filthiest, Cleaner, CleanerConfig, LogCleaner, Unthrottled};
use potok::storage::{
    self, AppendOrigin, Backend, BackendFile, Log, LogConfig, MappedFile, MemoryBackend, OpenOptions, SharedLog,
    TopicPartition,
};

const NOW: i64 = 1_700_000_000_000;

/// A memory backend that keeps a copy of every file after each change while armed.
#[derive(Debug, Clone)]
struct Recording {
    inner: MemoryBackend,
    armed: Arc<AtomicBool>,
    crashes: Arc<Mutex<Vec<(String, MemoryBackend)>>>,
}

impl Recording {
    fn record(&self, what: String) {
        if self.armed.load(Ordering::SeqCst) {
            self.crashes.lock().unwrap().push((what, self.inner.snapshot()));
        }
    }
}

impl Backend for Recording {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.inner.is_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn BackendFile>> {
        let existed = self.inner.exists(path);
        let file = self.inner.open(path, create)?;
        if !existed {
            self.record(format!("created {}", path.display()));
        }
        Ok(Box::new(RecordingFile { inner: file, path: path.to_path_buf(), backend: self.clone() }))
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn BackendFile>> {
        let file = self.inner.create_new(path)?;
        self.record(format!("created {}", path.display()));
        Ok(Box::new(RecordingFile { inner: file, path: path.to_path_buf(), backend: self.clone() }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)?;
        self.record(format!("removed {}", path.display()));
        Ok(())
    }
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(dir)?;
        self.record(format!("removed {}", dir.display()));
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)?;
        self.record(format!("renamed {} to {}", from.display(), to.display()));
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)?;
        self.record(format!("synced {}", dir.display()));
        Ok(())
    }
    fn lock(&self, path: &Path) -> io::Result<potok::storage::LockGuard> {
        self.inner.lock(path)
    }
}

#[derive(Debug)]
struct RecordingFile {
    inner: Box<dyn BackendFile>,
    path: PathBuf,
    backend: Recording,
}

impl BackendFile for RecordingFile {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, pos)
    }
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.inner.append(data)?;
        // Appends to a `.cleaned` file all look alike to a restart (the file is removed); one is enough.
        if !self.path.to_string_lossy().ends_with(".cleaned") || self.inner.len() == data.len() as u64 {
            self.backend.record(format!("appended {} bytes to {}", data.len(), self.path.display()));
        }
        Ok(())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)?;
        self.backend.record(format!("set {} to {len} bytes", self.path.display()));
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        self.inner.sync()
    }
    fn map(&mut self) -> io::Result<Box<dyn MappedFile>> {
        self.inner.map()
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 900,
        index_interval_bytes: 100,
        // Small preallocated indexes keep the memory backend's copies cheap.
        segment_index_bytes: 4_096,
        compact: true,
        delete: false,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

const DIR: &str = "/logs/c-0";

fn tp() -> TopicPartition {
    TopicPartition::new("c", 0).unwrap()
}

type Rec = (i64, String, Option<String>);

fn records(log: &Log) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        assert!(!read.records.is_empty());
        for b in Batches::new(&read.records) {
            let (h, recs) = record::decode_records(b.unwrap(), DecodeLimits::default()).unwrap();
            offset = h.next_offset();
            for r in recs {
                let s = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                out.push((r.offset, s(r.key).unwrap(), s(r.value)));
            }
        }
    }
    out
}

fn latest(recs: &[Rec]) -> BTreeMap<String, (i64, Option<String>)> {
    recs.iter().map(|(o, k, v)| (k.clone(), (*o, v.clone()))).collect()
}

fn clean(backend: Arc<dyn Backend>, log: &SharedLog) {
    let cleaner = LogCleaner::open(backend, Path::new("/logs"));
    let thread = Cleaner::new(CleanerConfig { io_buffer_size: 600, ..CleanerConfig::default() });
    clean_filthiest(&cleaner, &thread, &[(tp(), log.clone())], NOW, &Unthrottled, &|| true).unwrap().unwrap();
}

fn write_round(log: &SharedLog, round: usize) {
    for i in 0..6 {
        let mut b = BatchBuilder::new(Compression::None);
        for k in 0..4 {
            let key = format!("k{}", (i * 4 + k) % 9);
            let value = if (round + i + k).is_multiple_of(7) { None } else { Some(format!("r{round}-{i}-{k}")) };
            b.append(NOW, Some(key.as_bytes()), value.as_deref().map(str::as_bytes), &[]);
        }
        let mut l = storage::lock(log);
        l.append(&b.build().unwrap(), 0, AppendOrigin::Client, NOW).unwrap();
        let end = l.log_end_offset();
        l.set_high_watermark(end);
    }
    storage::lock(log).roll(NOW).unwrap();
}

#[test]
fn a_crash_at_any_step_of_a_pass_leaves_the_old_or_the_new_segments() {
    let memory = MemoryBackend::new();
    let recording = Recording { inner: memory.clone(), armed: Arc::default(), crashes: Arc::default() };
    let backend: Arc<dyn Backend> = Arc::new(recording.clone());
    let log = Log::open(backend.clone(), Path::new(DIR), config(), OpenOptions::default(), NOW).unwrap();
    let log: SharedLog = Arc::new(Mutex::new(log));
    let mut checked = 0;
    // The first pass cleans full segments one by one; the second merges the small cleaned ones into groups.
    for pass in 0..2 {
        for round in 0..3 {
            write_round(&log, pass * 3 + round);
        }
        let all_records = records(&storage::lock(&log));
        let expected_latest = latest(&all_records);
        let end = storage::lock(&log).log_end_offset();
        recording.crashes.lock().unwrap().clear();
        recording.armed.store(true, Ordering::SeqCst);
        clean(backend.clone(), &log);
        recording.armed.store(false, Ordering::SeqCst);
        let cleaned = records(&storage::lock(&log));
        assert_eq!(latest(&cleaned), expected_latest);
        assert!(cleaned.len() < all_records.len());
        let crashes = std::mem::take(&mut *recording.crashes.lock().unwrap());
        assert!(crashes.iter().any(|(what, _)| what.contains(".swap")), "the pass swapped segments in");
        for (what, files) in crashes {
            let mut reopened =
                Log::open(Arc::new(files.clone()), Path::new(DIR), config(), OpenOptions::default(), NOW).unwrap();
            // The replication-offset checkpoint is the log manager's; here the high watermark is the log end.
            reopened.set_high_watermark(reopened.log_end_offset());
            let names = files.list_dir(Path::new(DIR)).unwrap();
            assert!(
                names.iter().all(|n| !n.ends_with(".cleaned") && !n.ends_with(".swap") && !n.ends_with(".deleted")),
                "after a crash once {what}: {names:?}"
            );
            let recs = records(&reopened);
            for r in &recs {
                assert!(all_records.contains(r), "after a crash once {what}: {r:?} was never written");
            }
            assert_eq!(latest(&recs), expected_latest, "after a crash once {what}");
            assert_eq!(reopened.log_end_offset(), end, "after a crash once {what}");
            // Cleaning again from there reaches what the uninterrupted pass reached.
            let reopened: SharedLog = Arc::new(Mutex::new(reopened));
            let again: Arc<dyn Backend> = Arc::new(files);
            let cleaner = LogCleaner::open(again, Path::new("/logs"));
            let thread = Cleaner::new(CleanerConfig::default());
            let _ = clean_filthiest(&cleaner, &thread, &[(tp(), reopened.clone())], NOW, &Unthrottled, &|| true);
            assert_eq!(latest(&records(&storage::lock(&reopened))), expected_latest, "after a crash once {what}");
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked} crash points");
}
