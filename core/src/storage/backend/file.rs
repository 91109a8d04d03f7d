//! The native backend: real files, positional IO, indexes memory-mapped with memmap2 as Kafka maps them.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use memmap2::MmapMut;

use super::{Backend, BackendFile, MappedFile};

/// Files under the real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileBackend;

impl Backend for FileBackend {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
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
        Ok(Box::new(DiskFile { file, len }))
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
}

#[derive(Debug)]
struct DiskFile {
    file: File,
    /// Tracked here so appends need no metadata call; this process is the file's only writer.
    len: u64,
}

impl BackendFile for DiskFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, pos)
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, self.len)?;
        self.len += data.len() as u64;
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
        if self.len == 0 {
            return Ok(Box::new(DiskMap { map: None }));
        }
        // SAFETY: the mapping is of a file this process owns; the storage layer never changes the file's length
        // while a mapping is alive (it drops the mapping first), and no other process writes potok's index files.
        // Concurrent modification by another process would be undefined behaviour, as it is for Kafka's indexes.
        #[allow(unsafe_code)]
        let map = unsafe { MmapMut::map_mut(&self.file)? };
        Ok(Box::new(DiskMap { map: Some(map) }))
    }
}

#[derive(Debug)]
struct DiskMap {
    map: Option<MmapMut>,
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

    fn flush(&self) -> io::Result<()> {
        self.map.as_ref().map_or(Ok(()), |m| m.flush())
    }
}
