//! An in-memory backend: files are shared byte vectors. Used by tests (including crash simulation through
//! [`MemoryBackend::snapshot`]) and by the wasm build, which has no file system.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use super::{Backend, BackendFile, LockGuard, MappedFile};

type Data = Arc<RwLock<Vec<u8>>>;

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, Data>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
}

impl State {
    /// Whether `path`'s directory is there (a relative name's empty parent always is).
    fn has_parent_dir(&self, path: &Path) -> bool {
        path.parent().is_none_or(|p| p.as_os_str().is_empty() || self.dirs.contains(p))
    }
}

/// A file system held in memory. Clones share the same files.
#[derive(Debug, Default, Clone)]
pub struct MemoryBackend {
    state: Arc<Mutex<State>>,
    /// While set, appends fail as on a full disk (tests of what a failed write leaves behind).
    full: Arc<AtomicBool>,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display()))
}

fn already_exists(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::AlreadyExists, format!("{} exists", path.display()))
}

/// Truncates or zero-extends. Growing takes a zeroed allocation (calloc) rather than `Vec::resize`, whose
/// byte-by-byte loop made a 10 MiB index take a noticeable time in debug builds.
fn set_len(data: &mut Vec<u8>, len: usize) {
    if len <= data.len() {
        data.truncate(len);
    } else {
        let mut grown = vec![0u8; len];
        grown[..data.len()].copy_from_slice(data);
        *data = grown;
    }
}

fn read_data(data: &Data) -> std::sync::RwLockReadGuard<'_, Vec<u8>> {
    data.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_data(data: &Data) -> std::sync::RwLockWriteGuard<'_, Vec<u8>> {
    data.write().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An independent copy of every file as it is now: what a restarted process would find after a crash at
    /// this moment (the page cache survives a process crash, so unsynced writes are included).
    pub fn snapshot(&self) -> MemoryBackend {
        let state = self.state();
        let files = state.files.iter().map(|(p, d)| (p.clone(), Arc::new(RwLock::new(read_data(d).clone())))).collect();
        MemoryBackend {
            state: Arc::new(Mutex::new(State { files, dirs: state.dirs.clone(), locks: BTreeSet::new() })),
            full: Arc::default(),
        }
    }

    /// Makes every append fail (`StorageFull`) until called with `false`, as a full disk would.
    pub fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::SeqCst);
    }

    /// Direct access to a file's bytes, for tests that damage files on purpose.
    pub fn with_file<R>(&self, path: &Path, f: impl FnOnce(&mut Vec<u8>) -> R) -> io::Result<R> {
        let data = self.state().files.get(path).cloned().ok_or_else(|| not_found(path))?;
        let mut guard = write_data(&data);
        Ok(f(&mut guard))
    }
}

impl Backend for MemoryBackend {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        for ancestor in dir.ancestors() {
            if !ancestor.as_os_str().is_empty() {
                state.dirs.insert(ancestor.to_path_buf());
            }
        }
        Ok(())
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        if state.dirs.contains(dir) || state.files.contains_key(dir) {
            return Err(already_exists(dir));
        }
        if !state.has_parent_dir(dir) {
            return Err(not_found(dir));
        }
        state.dirs.insert(dir.to_path_buf());
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.state();
        if !state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let children = state.files.keys().chain(state.dirs.iter()).filter(|p| p.parent() == Some(dir));
        let mut names: Vec<String> =
            children.filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.state().dirs.contains(path)
    }

    fn exists(&self, path: &Path) -> bool {
        let state = self.state();
        state.files.contains_key(path) || state.dirs.contains(path)
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn BackendFile>> {
        let mut state = self.state();
        let parent_exists = state.has_parent_dir(path);
        let data = match state.files.get(path) {
            Some(data) => data.clone(),
            None if create && parent_exists => {
                let data = Data::default();
                state.files.insert(path.to_path_buf(), data.clone());
                data
            }
            None => return Err(not_found(path)),
        };
        Ok(Box::new(MemoryFile { data, full: self.full.clone() }))
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn BackendFile>> {
        let mut state = self.state();
        if state.files.contains_key(path) || state.dirs.contains(path) {
            return Err(already_exists(path));
        }
        if !state.has_parent_dir(path) {
            return Err(not_found(path));
        }
        let data = Data::default();
        state.files.insert(path.to_path_buf(), data.clone());
        Ok(Box::new(MemoryFile { data, full: self.full.clone() }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.state().files.remove(path).map(|_| ()).ok_or_else(|| not_found(path))
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        if !state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        state.files.retain(|p, _| !p.starts_with(dir));
        state.dirs.retain(|p| !p.starts_with(dir));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state();
        if let Some(data) = state.files.remove(from) {
            state.files.insert(to.to_path_buf(), data);
            return Ok(());
        }
        if !state.dirs.contains(from) {
            return Err(not_found(from));
        }
        let moved_files: Vec<PathBuf> = state.files.keys().filter(|p| p.starts_with(from)).cloned().collect();
        for old in moved_files {
            if let (Some(data), Ok(rest)) = (state.files.remove(&old), old.strip_prefix(from)) {
                state.files.insert(to.join(rest), data);
            }
        }
        let moved_dirs: Vec<PathBuf> = state.dirs.iter().filter(|p| p.starts_with(from)).cloned().collect();
        for old in moved_dirs {
            state.dirs.remove(&old);
            if let Ok(rest) = old.strip_prefix(from) {
                state.dirs.insert(to.join(rest));
            }
        }
        Ok(())
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        self.open(path, true)?;
        if !self.state().locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, format!("{} is locked", path.display())));
        }
        Ok(Box::new(MemoryLock { state: self.state.clone(), path: path.to_path_buf() }))
    }
}

/// Releases its path when dropped.
#[derive(Debug)]
struct MemoryLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).locks.remove(&self.path);
    }
}

#[derive(Debug)]
struct MemoryFile {
    data: Data,
    full: Arc<AtomicBool>,
}

impl BackendFile for MemoryFile {
    fn len(&self) -> u64 {
        read_data(&self.data).len() as u64
    }

    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let data = read_data(&self.data);
        let start = usize::try_from(pos).map_err(io::Error::other)?;
        let end = start.checked_add(buf.len()).filter(|&end| end <= data.len());
        let end = end.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past end of file"))?;
        buf.copy_from_slice(&data[start..end]);
        Ok(())
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device"));
        }
        write_data(&self.data).extend_from_slice(data);
        Ok(())
    }

    fn append_vectored(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device"));
        }
        let mut data = write_data(&self.data);
        parts.iter().for_each(|part| data.extend_from_slice(part));
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        set_len(&mut write_data(&self.data), usize::try_from(len).map_err(io::Error::other)?);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        Ok(())
    }

    fn map(&mut self) -> io::Result<Box<dyn MappedFile>> {
        let len = read_data(&self.data).len();
        Ok(Box::new(MemoryMap { data: self.data.clone(), len }))
    }
}

#[derive(Debug)]
struct MemoryMap {
    data: Data,
    len: usize,
}

impl MappedFile for MemoryMap {
    fn len(&self) -> usize {
        self.len
    }

    fn read(&self, pos: usize, buf: &mut [u8]) {
        buf.copy_from_slice(&read_data(&self.data)[pos..pos + buf.len()]);
    }

    fn write(&mut self, pos: usize, data: &[u8]) {
        write_data(&self.data)[pos..pos + data.len()].copy_from_slice(data);
    }

    fn reserve(&mut self, _pos: usize, _len: usize) -> io::Result<()> {
        Ok(())
    }

    fn resize(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        set_len(&mut write_data(&self.data), len);
        self.len = len;
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
}
