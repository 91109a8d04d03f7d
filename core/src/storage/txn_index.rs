//! A segment's transaction index (`<base offset>.txnindex`): the aborted transactions whose abort marker is
//! in the segment, in marker order, as Kafka's `TransactionIndex` keeps them. Each entry is 34 bytes: version
//! i16 (0), producerId i64, firstOffset i64, lastOffset i64 (the marker's offset), lastStableOffset i64 (the
//! partition's last stable offset once the transaction was aborted). A read_committed fetch uses the entries to
//! tell the consumer which producers' records to drop.
//!
//! Invariants: the file exists only once a segment has had an aborted transaction (Kafka creates it lazily);
//! the in-memory entries equal the file's whole entries; entries' last offsets only grow.

use std::io;
use std::path::{Path, PathBuf};

use super::backend::{Backend, BackendFile};
use super::StorageError;

pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Bytes of one entry.
pub const ABORTED_TXN_BYTES: usize = 34;
const ABORTED_TXN_VERSION: i16 = 0;

/// One aborted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ABORTED_TXN_BYTES] {
        let mut b = [0u8; ABORTED_TXN_BYTES];
        b[0..2].copy_from_slice(&ABORTED_TXN_VERSION.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(a)
        };
        (b.len() == ABORTED_TXN_BYTES && i16::from_be_bytes([b[0], b[1]]) == ABORTED_TXN_VERSION).then(|| AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        })
    }
}

#[derive(Debug)]
pub struct TransactionIndex {
    path: PathBuf,
    entries: Vec<AbortedTxn>,
    file: Option<Box<dyn BackendFile>>,
}

impl TransactionIndex {
    /// An index with no entries and no file yet: the first entry makes it.
    pub fn empty(path: PathBuf) -> Self {
        TransactionIndex { path, entries: Vec::new(), file: None }
    }

    /// Loads the index file if there is one. A torn last entry (or anything after the last readable entry) is
    /// cut off, as recovery rebuilds the entries it stood for.
    pub fn open(backend: &dyn Backend, path: PathBuf) -> Result<Self, StorageError> {
        if !backend.exists(&path) {
            return Ok(Self::empty(path));
        }
        let mut file = backend.open(&path, false).map_err(|e| StorageError::io(&path, e))?;
        let len = file.len();
        let mut entries = Vec::new();
        let mut buf = [0u8; ABORTED_TXN_BYTES];
        let mut pos = 0u64;
        // Entries are read one at a time, so a damaged file cannot make this allocate more than it holds.
        while pos + ABORTED_TXN_BYTES as u64 <= len {
            file.read_exact_at(&mut buf, pos).map_err(|e| StorageError::io(&path, e))?;
            let Some(txn) = AbortedTxn::decode(&buf) else { break };
            entries.push(txn);
            pos += ABORTED_TXN_BYTES as u64;
        }
        if pos != len {
            file.set_len(pos).map_err(|e| StorageError::io(&path, e))?;
        }
        Ok(TransactionIndex { path, entries, file: Some(file) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// Appends an entry, creating the file on the first one.
    pub fn append(&mut self, backend: &dyn Backend, txn: AbortedTxn) -> Result<(), StorageError> {
        if self.file.is_none() {
            let file = backend.open(&self.path, true).map_err(|e| StorageError::io(&self.path, e))?;
            self.file = Some(file);
        }
        if let Some(file) = self.file.as_mut() {
            file.append(&txn.encode()).map_err(|e| StorageError::io(&self.path, e))?;
        }
        self.entries.push(txn);
        Ok(())
    }

    /// Drops the entries whose marker is at or after `offset` (their transactions are replayed again).
    pub fn truncate_from(&mut self, offset: i64) -> Result<(), StorageError> {
        let keep = self.entries.iter().take_while(|t| t.last_offset < offset).count();
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        if let Some(file) = self.file.as_mut() {
            file.set_len((keep * ABORTED_TXN_BYTES) as u64).map_err(|e| StorageError::io(&self.path, e))?;
        }
        Ok(())
    }

    /// The aborted transactions that overlap `[fetch_offset, upper_bound_offset)`, and whether the search is
    /// complete (an entry's last stable offset reached the upper bound, so later segments cannot add any).
    pub fn collect(&self, fetch_offset: i64, upper_bound_offset: i64, out: &mut Vec<AbortedTxn>) -> bool {
        for txn in &self.entries {
            if txn.last_offset >= fetch_offset && txn.first_offset < upper_bound_offset {
                out.push(*txn);
            }
            if txn.last_stable_offset >= upper_bound_offset {
                return true;
            }
        }
        false
    }

    pub fn flush(&self) -> Result<(), StorageError> {
        match &self.file {
            Some(file) => file.sync().map_err(|e| StorageError::io(&self.path, e)),
            None => Ok(()),
        }
    }

    /// Removes the file, if there is one.
    pub fn delete(self, backend: &dyn Backend) -> Result<(), StorageError> {
        let path = self.path.clone();
        drop(self);
        match backend.remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryBackend;

    #[test]
    fn entries_persist_truncate_and_collect() {
        let backend = MemoryBackend::new();
        backend.create_dir_all(Path::new("/p")).unwrap();
        let path = PathBuf::from("/p/00000000000000000000.txnindex");
        let mut index = TransactionIndex::open(&backend, path.clone()).unwrap();
        assert!(!backend.exists(&path), "created only on the first entry");
        let a = AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 5, last_stable_offset: 6 };
        let b = AbortedTxn { producer_id: 2, first_offset: 3, last_offset: 9, last_stable_offset: 20 };
        index.append(&backend, a).unwrap();
        index.append(&backend, b).unwrap();
        let reopened = TransactionIndex::open(&backend, path.clone()).unwrap();
        assert_eq!(reopened.entries(), &[a, b]);
        assert_eq!(backend.open(&path, false).unwrap().len(), 68);
        let mut out = Vec::new();
        assert!(!reopened.collect(6, 30, &mut out), "no entry's last stable offset reaches 30");
        assert_eq!(out, vec![b], "a ends before the fetch offset");
        out.clear();
        assert!(reopened.collect(0, 4, &mut out), "a's last stable offset covers the bound: b is not looked at");
        assert_eq!(out, vec![a]);
        let mut index = reopened;
        index.truncate_from(9).unwrap();
        assert_eq!(TransactionIndex::open(&backend, path.clone()).unwrap().entries(), &[a]);
        // A torn tail is cut off on open.
        backend.open(&path, false).unwrap().append(&[0, 0, 1]).unwrap();
        assert_eq!(TransactionIndex::open(&backend, path.clone()).unwrap().entries(), &[a]);
        assert_eq!(backend.open(&path, false).unwrap().len(), 34);
    }
}
