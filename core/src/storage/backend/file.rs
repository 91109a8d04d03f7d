//! The native backend: real files, positional IO, indexes memory-mapped with memmap2 as Kafka maps them.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use memmap2::MmapMut;

use super::{Backend, BackendFile, LockGuard, MappedFile, SharedFile};

/// Files under the real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileBackend;

impl Backend for FileBackend {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir(dir)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn BackendFile>> {
        let file = OpenOptions::new().read(true).write(true).create(create).truncate(false).open(path)?;
        let len = file.metadata()?.len();
        Ok(Box::new(DiskFile { file: Arc::new(file), len, path: path.to_path_buf() }))
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn BackendFile>> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        Ok(Box::new(DiskFile { file: Arc::new(file), len: 0, path: path.to_path_buf() }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::remove_dir_all(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        lock_exclusive(&file)?;
        Ok(Box::new(FileLock { _file: file }))
    }
}

/// The lock lives as long as its descriptor: closing the file releases it.
#[derive(Debug)]
struct FileLock {
    _file: File,
}

/// An open-file-description lock on the whole file: it conflicts with the POSIX record lock Kafka's
/// `FileChannel.tryLock` takes on Linux (so Kafka and potok exclude each other too) and, unlike a POSIX lock,
/// with a second lock taken in this same process (two embedded brokers on one directory).
#[cfg(target_os = "linux")]
fn lock_exclusive(file: &File) -> io::Result<()> {
    let lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    // SAFETY: `fcntl(F_OFD_SETLK)` reads the `flock` structure it is given, which lives across the call, and
    // acts on a descriptor this function borrows from an open `File`.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
    if rc == -1 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => io::Error::new(io::ErrorKind::WouldBlock, e),
            _ => e,
        });
    }
    Ok(())
}

/// Elsewhere a BSD lock, which also excludes a second holder in the same process.
#[cfg(not(target_os = "linux"))]
fn lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: `flock` acts on a descriptor this function borrows from an open `File`.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == -1 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => io::Error::new(io::ErrorKind::WouldBlock, e),
            _ => e,
        });
    }
    Ok(())
}

#[derive(Debug)]
struct DiskFile {
    /// Shared with the Fetch responses that send ranges of it (see [`BackendFile::shared`]).
    file: Arc<File>,
    /// Tracked here so appends need no metadata call; this process is the file's only writer.
    len: u64,
    /// For a mapping to reopen the file when it resizes, reserves or syncs it.
    path: PathBuf,
}

impl BackendFile for DiskFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        FileExt::read_exact_at(&*self.file, buf, pos)
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, self.len)?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn append_vectored(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        let mut slices: Vec<io::IoSlice> =
            parts.iter().filter(|p| !p.is_empty()).map(|p| io::IoSlice::new(p)).collect();
        let mut rest = &mut slices[..];
        // The length moves only once everything is written: after a failure the next append overwrites a partial one.
        let mut pos = self.len;
        while !rest.is_empty() {
            let count = rest.len().min(IOV_MAX);
            // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix, and the first `count` slices are valid,
            // initialised buffers that live (borrowed from `parts`) for the whole call.
            #[allow(unsafe_code)]
            let written = unsafe {
                libc::pwritev(
                    self.file.as_raw_fd(),
                    rest.as_ptr().cast::<libc::iovec>(),
                    count as libc::c_int,
                    pos as libc::off_t,
                )
            };
            if written < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if written == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write whole buffer"));
            }
            pos += written as u64;
            io::IoSlice::advance_slices(&mut rest, written as usize);
        }
        self.len = pos;
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.len = len;
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn map(&mut self) -> io::Result<Box<dyn MappedFile>> {
        let map = map_file(&self.file, self.len)?;
        Ok(Box::new(DiskMap { map, path: self.path.clone(), len_changed: AtomicBool::new(false) }))
    }

    /// Only where `sendfile(2)` sends from a file to a socket (Linux); elsewhere reads copy.
    #[cfg(target_os = "linux")]
    fn shared(&self) -> Option<Arc<dyn crate::storage::backend::SharedFile>> {
        Some(self.file.clone())
    }
}

/// The most slices one `pwritev(2)` takes (Linux's `UIO_MAXIOV`).
const IOV_MAX: usize = 1024;

/// The longest single `sendfile(2)` call: Linux sends at most this much (0x7ffff000) per call anyway.
#[cfg(target_os = "linux")]
const SENDFILE_MAX: usize = 0x7fff_f000;

impl SharedFile for File {
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, pos)
    }

    #[cfg(target_os = "linux")]
    fn send_to(&self, socket_fd: i32, pos: &mut u64, len: usize) -> io::Result<usize> {
        let mut offset = libc::off_t::try_from(*pos)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file position too large"))?;
        // SAFETY: `sendfile` reads from the descriptor of this open `File` (borrowed for the call) and writes
        // to `socket_fd`, which the caller keeps open across the call; `offset` is a live local the kernel
        // updates in place. No user-space memory is read or written besides `offset`.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::sendfile(socket_fd, self.as_raw_fd(), &mut offset, len.min(SENDFILE_MAX)) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        *pos = offset as u64;
        Ok(sent as usize)
    }

    /// Without `sendfile(2)` no slices are handed out (see [`DiskFile::shared`]), so this is never called.
    #[cfg(not(target_os = "linux"))]
    fn send_to(&self, _socket_fd: i32, _pos: &mut u64, _len: usize) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "sendfile is only used on Linux"))
    }
}

fn map_file(file: &File, len: u64) -> io::Result<Option<MmapMut>> {
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: the mapping is of a file this process owns; the storage layer never changes the file's length
    // while a mapping is alive (`DiskMap::resize` drops the mapping first), and no other process writes potok's
    // index files (the log directory is locked). Concurrent modification by another process would be undefined
    // behaviour, as it is for Kafka's indexes.
    #[allow(unsafe_code)]
    let map = unsafe { MmapMut::map_mut(file)? };
    // An index is mostly a sparse file (preallocated to segment.index.bytes) touched one entry at a time. The
    // kernel's read-around on a fault would otherwise fill read_ahead_kb of it (8 MiB on some disks) with zeroed
    // pages at the first entry of every index: 16 MiB of memset per segment, the whole cost of producing to
    // thousands of partitions. Random access faults in only the page touched.
    map.advise(memmap2::Advice::Random)?;
    Ok(Some(map))
}

/// A mapped file without an open descriptor: a mapping stays valid after its descriptor is closed, so an index
/// costs no descriptor (Kafka closes an index's file once mapped, too). Resizing, reserving and syncing reopen
/// the file for the moment they need it.
#[derive(Debug)]
struct DiskMap {
    map: Option<MmapMut>,
    path: PathBuf,
    /// Set by `resize`: the next flush also syncs the file's length.
    len_changed: AtomicBool,
}

impl DiskMap {
    fn open(&self) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).open(&self.path)
    }
}

impl MappedFile for DiskMap {
    fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    fn read(&self, pos: usize, buf: &mut [u8]) {
        if let Some(map) = &self.map {
            buf.copy_from_slice(&map[pos..pos + buf.len()]);
        }
    }

    fn write(&mut self, pos: usize, data: &[u8]) {
        if let Some(map) = &mut self.map {
            map[pos..pos + data.len()].copy_from_slice(data);
        }
    }

    fn reserve(&mut self, pos: usize, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let file = self.open()?;
        allocate(&file, pos as u64, len as u64)
    }

    fn resize(&mut self, len: u64) -> io::Result<()> {
        if let Some(map) = &self.map {
            map.flush()?;
        }
        // Unmapped before the length changes: the mapped region must never outlive the file's bytes.
        self.map = None;
        let file = self.open()?;
        file.set_len(len)?;
        self.map = map_file(&file, len)?;
        self.len_changed.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        if let Some(map) = &self.map {
            map.flush()?;
        }
        if self.len_changed.swap(false, Ordering::Relaxed) {
            self.open()?.sync_all()?;
        }
        Ok(())
    }
}

/// Allocates disk blocks for a range inside the file. A file system that cannot (no `fallocate`) is left to
/// allocate on write, as before.
fn allocate(file: &File, pos: u64, len: u64) -> io::Result<()> {
    let (Ok(pos), Ok(len)) = (libc::off_t::try_from(pos), libc::off_t::try_from(len)) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "range too large"));
    };
    // SAFETY: `posix_fallocate` only acts on the descriptor, which this function borrows from an open `File`.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), pos, len) };
    match rc {
        0 | libc::EOPNOTSUPP | libc::EINVAL => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}
