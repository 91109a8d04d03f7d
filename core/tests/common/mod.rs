//! Helpers shared by the storage test suites.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use potok::record::{BatchBuilder, Compression, Header};
use potok::storage::{Backend, MemoryBackend};

/// A backend to run a suite against, with the directory to put logs in (and what keeps it alive).
pub struct TestBackend {
    pub backend: Arc<dyn Backend>,
    pub dir: PathBuf,
    pub memory: Option<MemoryBackend>,
    pub _tmp: Option<tempfile::TempDir>,
}

pub fn memory_backend() -> TestBackend {
    let memory = MemoryBackend::new();
    TestBackend { backend: Arc::new(memory.clone()), dir: PathBuf::from("/logs"), memory: Some(memory), _tmp: None }
}

pub fn file_backend() -> TestBackend {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("logs");
    TestBackend { backend: Arc::new(potok::storage::FileBackend), dir, memory: None, _tmp: Some(tmp) }
}

/// A batch of `records` records of `value_len` bytes each, timestamps from `timestamp`.
pub fn batch(records: usize, value_len: usize, timestamp: i64, compression: Compression) -> Vec<u8> {
    let mut b = BatchBuilder::new(compression);
    for i in 0..records {
        let value: Vec<u8> = (0..value_len).map(|j| (i * 31 + j) as u8).collect();
        let key = format!("key-{i}");
        let headers = [Header { key: "h".into(), value: Some(bytes::Bytes::from_static(b"v")) }];
        b.append(timestamp + i as i64, Some(key.as_bytes()), Some(&value), &headers);
    }
    b.build().expect("build batch")
}
pub mod wire;
