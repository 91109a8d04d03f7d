//! The narrow seam between the log and the place its bytes live.
//!
//! A backend offers directories of files with positional reads, appends, truncation, fsync and a mapped view
//! for indexes. The log, its segments and indexes are written once against this trait; the file backend
//! (native) and the memory backend (tests, wasm) pass one conformance suite (`core/tests/storage_conformance.rs`).
//!
//! Invariants every backend keeps: an append is visible to reads of the same file at once; writes through a
//! mapping are visible to reads of the file at once (as a shared mmap is); `sync` makes a file's contents
//! durable, `sync_dir` makes creations, renames and removals in a directory durable.

mod memory;
pub use memory::MemoryBackend;

#[cfg(feature = "native")]
mod file;
#[cfg(feature = "native")]
pub use file::FileBackend;

use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A store of directories and files.
pub trait Backend: Send + Sync + Debug {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Makes one directory in an existing one; fails with `ErrorKind::AlreadyExists` if `dir` is there.
    fn create_dir(&self, dir: &Path) -> io::Result<()>;
    /// Names of the files and directories directly inside `dir`, sorted.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn is_dir(&self, path: &Path) -> bool;
    fn exists(&self, path: &Path) -> bool;
    /// Opens a file for reading and writing; creates it (empty) when `create` is set and it is missing.
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn BackendFile>>;
    /// Creates an empty file that must not exist (`ErrorKind::AlreadyExists` if it does), without first
    /// looking for it or asking its length: one call where [`Backend::open`] takes two, and [`Backend::exists`]
    /// one more.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn BackendFile>>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path` (created if missing), held until the guard is dropped. Fails with
    /// `ErrorKind::WouldBlock` while another holder has it, in this process or another.
    fn lock(&self, path: &Path) -> io::Result<LockGuard>;
}

/// Holds a lock taken with [`Backend::lock`] until dropped.
pub type LockGuard = Box<dyn Debug + Send + Sync>;

/// An open file.
pub trait BackendFile: Send + Sync + Debug {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `pos`; an error if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()>;
    /// Writes `data` at the end of the file.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Writes `parts` one after the other at the end of the file, as one write where the backend can (a batch's
    /// rewritten header and its untouched body, without first copying them together).
    fn append_vectored(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        parts.iter().try_for_each(|part| self.append(part))
    }
    /// Truncates or extends (with zeros) the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    fn sync(&self) -> io::Result<()>;
    /// Maps the file at its current length. The mapping does not need this handle: the caller may drop it and
    /// keep the mapping (so a mapped index holds no file descriptor).
    fn map(&mut self) -> io::Result<Box<dyn MappedFile>>;
    /// A handle on the open file that a reader may keep after this one is closed or the file is removed, for
    /// a Fetch to send a range of it to a socket without copying it through memory. `None` (the default)
    /// where the backend cannot send files (the memory backend, wasm): reads copy the bytes instead.
    fn shared(&self) -> Option<Arc<dyn SharedFile>> {
        None
    }
}

/// An open file that outlives its segment: the open descriptor keeps the file's contents alive after the
/// segment is deleted (retention) or replaced (compaction), as Linux keeps an unlinked file until its last
/// descriptor closes.
pub trait SharedFile: Send + Sync + Debug {
    /// Fills `buf` from `pos`; an error if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()>;
    /// Sends up to `len` bytes from `*pos` to the socket with descriptor `socket_fd` without copying them
    /// through user space, advancing `*pos`: the bytes sent, 0 when the file ends before `*pos`. A
    /// non-blocking socket that is full gives `ErrorKind::WouldBlock`.
    fn send_to(&self, socket_fd: i32, pos: &mut u64, len: usize) -> io::Result<usize>;
}

/// A range of a segment file that a Fetch answers with, read or sent when the response is written. It holds
/// the file open, so a segment deleted meanwhile still yields the bytes it had.
#[derive(Clone, Debug)]
pub struct FileSlice {
    pub file: Arc<dyn SharedFile>,
    pub position: u64,
    pub len: usize,
}

impl FileSlice {
    /// The bytes of the slice, read into memory (for a caller that cannot send files).
    pub fn read_to_vec(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf)
    }
}

/// A read-write view of a whole file, as indexes use it. It owns its file: resizing and syncing go through
/// it (reopening the file briefly where the backend needs a descriptor for that).
pub trait MappedFile: Send + Sync + Debug {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies `buf.len()` bytes from `pos`. The caller keeps `pos + buf.len() <= len()`.
    fn read(&self, pos: usize, buf: &mut [u8]);
    /// Copies `data` to `pos`. The caller keeps `pos + data.len() <= len()` and has [`MappedFile::reserve`]d
    /// the range first.
    fn write(&mut self, pos: usize, data: &[u8]);
    /// Allocates storage for `pos..pos + len` (within the file), so that writing there through the mapping
    /// cannot fault: a file grown with `set_len` is sparse, and touching an unallocated page of a mapping when
    /// the disk is full kills the process with SIGBUS instead of returning an error.
    fn reserve(&mut self, pos: usize, len: usize) -> io::Result<()>;
    /// Truncates or extends (sparsely, with zeros) the file to `len` bytes and maps it again.
    fn resize(&mut self, len: u64) -> io::Result<()>;
    /// Makes the mapped contents (and a length changed by `resize`) durable.
    fn flush(&self) -> io::Result<()>;
}

/// Reads a whole (small) file, such as a checkpoint.
pub fn read_whole(backend: &dyn Backend, path: &Path) -> io::Result<Vec<u8>> {
    let file = backend.open(path, false)?;
    let mut buf = vec![0u8; usize::try_from(file.len()).map_err(io::Error::other)?];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

/// Replaces a (small) file atomically and durably: write a temporary file, sync it, rename it over the old
/// one and sync the directory, so a crash leaves either the old or the new contents.
pub fn write_atomic(backend: &dyn Backend, path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    {
        let mut file = backend.open(tmp, true)?;
        file.set_len(0)?;
        file.append(contents)?;
        file.sync()?;
    }
    backend.rename(tmp, path)?;
    if let Some(dir) = path.parent() {
        backend.sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;

    /// A vectored append writes its parts in order, empty ones and more than one `pwritev(2)` takes included,
    /// after what the file held, on both backends.
    #[test]
    fn append_vectored_writes_every_part_in_order() {
        let parts: Vec<Vec<u8>> = (0..2_500u32).map(|i| vec![i as u8; (i % 7) as usize]).collect();
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let mut expected = b"head".to_vec();
        expected.extend(parts.concat());
        let dir = tempfile::tempdir().unwrap();
        let backends: [Arc<dyn Backend>; 2] = [Arc::new(FileBackend), Arc::new(MemoryBackend::default())];
        for backend in backends {
            backend.create_dir_all(dir.path()).unwrap();
            let path = dir.path().join("f");
            let mut file = backend.open(&path, true).unwrap();
            file.append(b"head").unwrap();
            file.append_vectored(&slices).unwrap();
            assert_eq!(file.len(), expected.len() as u64);
            let mut read = vec![0; expected.len()];
            file.read_exact_at(&mut read, 0).unwrap();
            assert_eq!(read, expected);
            drop(file);
            let mut reopened = backend.open(&path, false).unwrap();
            assert_eq!(reopened.len(), expected.len() as u64);
            reopened.append_vectored(&[b"tail"]).unwrap();
            assert_eq!(reopened.len(), expected.len() as u64 + 4);
        }
    }
}
