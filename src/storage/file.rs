//! [`FileBlockFile`]: a native file with positional I/O and an exclusive OS lock.
#![cfg(not(target_arch = "wasm32"))]

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use memmap2::{Mmap, MmapOptions};

use super::{check_read_range, BlockFile, Result, StorageError};

/// How far a log extends a native file ahead of its end: a write into space the file has
/// leaves its size alone, so `fdatasync` has less metadata to commit (about a fifth faster a
/// durable commit, `BENCHMARKS.md`), and a megabyte of zeros past the last frame is read
/// quickly at open.
const PREALLOCATION: u64 = 1 << 20;

/// Reads at least this long use `pread`, not the map: beside their copy the system call costs
/// little, and every page a read touches through the map counts in the process's resident
/// memory (a fault can map a whole large folio of the page cache, up to 2 MiB). Small reads,
/// the hot path of `read_at`, skip the system call.
const MAPPED_READ_MAX: usize = 4096;

/// The least growth of a file past its memory map that maps it again (and at least an eighth
/// of the map): reads past the map use `pread` meanwhile.
const REMAP_GROWTH: u64 = 64 << 10;

/// A [`BlockFile`] on a native file.
///
/// Opening takes an exclusive advisory lock (`flock`) on the file, so a second writer — in this
/// process or another — gets [`StorageError::Locked`] instead of interleaving writes.
///
/// Small reads come from a read-only shared memory map of the file where it covers them (no
/// system call: a third of a `read_at` was its `pread`), others from `pread`. The map is dropped before
/// the file is cut shorter than it, under its write lock, so no read ever touches a page past
/// the file's end; writes reach the map through the page cache they share.
#[derive(Debug)]
pub struct FileBlockFile {
    name: String,
    file: RwLock<Option<File>>,
    /// The file mapped, up to its length when mapped (`None` until it is, or once cut below).
    map: RwLock<Option<Mmap>>,
    /// Whether reads may map the file (see [`without_memory_map`](Self::without_memory_map)).
    mapping: bool,
    /// The file's length as this handle last set or extended it: when it has grown enough
    /// past the map, the next read past the map maps it again.
    extent: AtomicU64,
    writable: bool,
}

impl FileBlockFile {
    /// Opens (creating if needed) the file at `path` and locks it exclusively.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let io = |source| StorageError::Io {
            file: name.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        lock(&name, file.try_lock())?;
        Self::locked(name, file, true)
    }

    /// Opens the existing file at `path` for reading, with a shared lock: readers coexist, a
    /// writer holding the file makes this [`StorageError::Locked`]. Writes fail with
    /// [`StorageError::ReadOnly`].
    pub fn open_read_only(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let io = |source| StorageError::Io {
            file: name.clone(),
            source,
        };
        let file = OpenOptions::new().read(true).open(path).map_err(io)?;
        lock(&name, file.try_lock_shared())?;
        Self::locked(name, file, false)
    }

    /// The handle of a file just opened and locked.
    fn locked(name: String, file: File, writable: bool) -> Result<Self> {
        let extent = file.metadata().map_err(|source| StorageError::Io {
            file: name.clone(),
            source,
        })?;
        Ok(Self {
            name,
            file: RwLock::new(Some(file)),
            map: RwLock::new(None),
            mapping: true,
            extent: AtomicU64::new(extent.len()),
            writable,
        })
    }

    /// This handle with every read a `pread`, never from a memory map. A map turns an I/O
    /// error on a mapped page (a failing disk, a network file system losing the file) into
    /// `SIGBUS`, where `pread` reports it as an error.
    pub fn without_memory_map(mut self) -> Self {
        self.mapping = false;
        write_lock(&self.map).take();
        self
    }

    /// Copies the bytes at `offset` from the map into `buf`; `false` when the map does not
    /// cover them.
    fn read_mapped(&self, offset: u64, buf: &mut [u8]) -> bool {
        let guard = read_lock(&self.map);
        let bytes = guard.as_ref().and_then(|map| {
            let start = usize::try_from(offset).ok()?;
            map.get(start..start.checked_add(buf.len())?)
        });
        match bytes {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }

    /// Maps the file again once it has grown [`REMAP_GROWTH`] (and an eighth) past its map.
    /// Best effort: where mapping fails (address space, an unusual file), reads use `pread`.
    fn remap_if_grown(&self) {
        let mapped = |map: &Option<Mmap>| map.as_ref().map_or(0, |m| m.len() as u64);
        let grown = |mapped: u64| {
            self.extent.load(Ordering::Relaxed).saturating_sub(mapped)
                >= REMAP_GROWTH.max(mapped / 8)
        };
        if !self.mapping || !grown(mapped(&read_lock(&self.map))) {
            return;
        }
        let mut map = write_lock(&self.map);
        if !grown(mapped(&map)) {
            return;
        }
        let file = read_lock(&self.file);
        if let Some(file) = file.as_ref() {
            // SAFETY: the map is read-only and shared, and nothing cuts the file below it while
            // it exists: this handle drops it first (`set_len`, `close`), under this lock,
            // which every read through it holds; other handles on the file are kept out by
            // its lock (an exclusive writer or shared readers, never both). Only a process
            // ignoring the advisory lock could truncate it underneath (as for SQLite's
            // `mmap_size`).
            #[allow(unsafe_code)]
            let fresh = unsafe { MmapOptions::new().map(file) };
            if let Ok(fresh) = fresh {
                *map = Some(fresh);
            }
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(StorageError::ReadOnly {
                file: self.name.clone(),
            })
        }
    }

    fn with_file<T>(&self, op: impl FnOnce(&File) -> std::io::Result<T>) -> Result<T> {
        let guard = read_lock(&self.file);
        let file = guard.as_ref().ok_or_else(|| StorageError::Closed {
            file: self.name.clone(),
        })?;
        op(file).map_err(|source| self.io_error(source))
    }

    fn io_error(&self, source: std::io::Error) -> StorageError {
        StorageError::Io {
            file: self.name.clone(),
            source,
        }
    }

    fn map_write_error(&self, err: StorageError, offset: u64, len: usize) -> StorageError {
        match err {
            StorageError::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::StorageFull
                        | std::io::ErrorKind::QuotaExceeded
                        | std::io::ErrorKind::FileTooLarge
                ) =>
            {
                StorageError::OutOfSpace {
                    file: self.name.clone(),
                    offset,
                    len,
                }
            }
            other => other,
        }
    }
}

/// Locks `lock` for reading, going on after a panic in another holder (the values behind
/// these locks are whole between statements).
fn read_lock<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poison| poison.into_inner())
}

/// Locks `lock` for writing, as [`read_lock`].
fn write_lock<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poison| poison.into_inner())
}

/// The outcome of a lock attempt on the file `name` as a storage result.
fn lock(name: &str, attempt: std::result::Result<(), TryLockError>) -> Result<()> {
    match attempt {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(StorageError::Locked {
            file: name.to_owned(),
        }),
        Err(TryLockError::Error(source)) => Err(StorageError::Io {
            file: name.to_owned(),
            source,
        }),
    }
}

impl BlockFile for FileBlockFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> Result<u64> {
        self.with_file(|f| f.metadata().map(|m| m.len()))
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        // One system call on the usual path; the file's size is asked only to explain a
        // short read (reads are the hot path of `read_at`: a `statx` each was a fifth of it).
        // (A range past the end fails as a short read, or as `EINVAL` beyond `i64::MAX`; an
        // empty read succeeds anywhere, so it is checked first.)
        if buf.is_empty() {
            return check_read_range(&self.name, offset, 0, self.len()?);
        }
        if buf.len() < MAPPED_READ_MAX && self.read_mapped(offset, buf) {
            return Ok(());
        }
        match self.with_file(|f| f.read_exact_at(buf, offset)) {
            Err(StorageError::Io { source, .. }) => {
                let size = self.len()?;
                check_read_range(&self.name, offset, buf.len(), size)?;
                Err(self.io_error(source))
            }
            Ok(()) => {
                self.remap_if_grown();
                Ok(())
            }
            Err(other) => Err(other),
        }
    }

    fn write_all_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.with_file(|f| f.write_all_at(data, offset))
            .map_err(|e| self.map_write_error(e, offset, data.len()))?;
        let end = offset.saturating_add(data.len() as u64);
        self.extent.fetch_max(end, Ordering::Relaxed);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.check_writable()?;
        // The map goes first when the file is cut below it; held until the file is cut.
        let mut map = write_lock(&self.map);
        if map.as_ref().is_some_and(|m| m.len() as u64 > len) {
            *map = None;
        }
        self.with_file(|f| f.set_len(len))
            .map_err(|e| self.map_write_error(e, len, 0))?;
        self.extent.store(len, Ordering::Relaxed);
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.check_writable()?;
        self.with_file(File::sync_data)
    }

    fn preallocation(&self) -> u64 {
        PREALLOCATION
    }

    fn reads_in_place(&self) -> bool {
        self.mapping
    }

    fn close(&self) -> Result<()> {
        write_lock(&self.map).take();
        // Dropping the File releases the flock.
        write_lock(&self.file).take();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use super::*;

    /// The byte the tests write at `offset`.
    fn pattern(offset: u64) -> u8 {
        (offset % 251) as u8
    }

    /// Writes the pattern over `[from, to)` in 4 KiB writes.
    fn fill(file: &FileBlockFile, from: u64, to: u64) {
        let mut at = from;
        while at < to {
            let end = (at + 4096).min(to);
            let chunk: Vec<u8> = (at..end).map(pattern).collect();
            file.write_all_at(at, &chunk).unwrap();
            at = end;
        }
    }

    fn read(file: &FileBlockFile, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        file.read_exact_at(offset, &mut buf).map(|()| buf)
    }

    fn mapped_len(file: &FileBlockFile) -> Option<usize> {
        read_lock(&file.map).as_ref().map(|m| m.len())
    }

    fn expected(offset: u64, len: usize) -> Vec<u8> {
        (offset..offset + len as u64).map(pattern).collect()
    }

    /// A file of `len` pattern bytes, mapped by a first read (the directory must outlive it).
    fn mapped_file(len: u64) -> (tempfile::TempDir, FileBlockFile) {
        let tmp = tempfile::tempdir().unwrap();
        let file = FileBlockFile::open(&tmp.path().join("f")).unwrap();
        fill(&file, 0, len);
        read(&file, 0, 1).unwrap();
        assert!(mapped_len(&file).is_some());
        (tmp, file)
    }

    #[test]
    fn a_grown_file_is_mapped_and_its_reads_match_what_was_written() {
        let tmp = tempfile::tempdir().unwrap();
        let file = FileBlockFile::open(&tmp.path().join("f")).unwrap();
        fill(&file, 0, 1 << 20);
        assert_eq!(mapped_len(&file), None, "nothing read yet");
        assert_eq!(read(&file, 0, 100).unwrap(), expected(0, 100));
        assert_eq!(
            mapped_len(&file),
            Some(1 << 20),
            "the first read maps the file"
        );
        for offset in (0..(1u64 << 20) - 300).step_by(7919) {
            assert_eq!(read(&file, offset, 300).unwrap(), expected(offset, 300));
        }
        // Past the map: `pread`, until the growth maps the file again.
        fill(&file, 1 << 20, (1 << 20) + 200_000);
        assert_eq!(
            read(&file, (1 << 20) + 1000, 64).unwrap(),
            expected((1 << 20) + 1000, 64)
        );
        assert_eq!(mapped_len(&file), Some((1 << 20) + 200_000));
    }

    #[test]
    fn a_write_inside_the_map_is_read_back() {
        let (_tmp, file) = mapped_file(256 << 10);
        file.write_all_at(5000, b"overwritten").unwrap();
        assert_eq!(read(&file, 5000, 11).unwrap(), b"overwritten");
    }

    #[test]
    fn cutting_the_file_below_its_map_drops_the_map_and_reads_past_the_end_fail() {
        let (_tmp, file) = mapped_file(512 << 10);
        file.set_len(1000).unwrap();
        assert_eq!(mapped_len(&file), None);
        assert!(matches!(
            read(&file, 300_000, 10),
            Err(StorageError::OutOfRange { .. })
        ));
        assert_eq!(read(&file, 900, 100).unwrap(), expected(900, 100));
        assert!(read(&file, 990, 20).is_err());
    }

    #[test]
    fn an_unmapped_file_reads_with_pread_only() {
        let tmp = tempfile::tempdir().unwrap();
        let file = FileBlockFile::open(&tmp.path().join("f"))
            .unwrap()
            .without_memory_map();
        fill(&file, 0, 512 << 10);
        assert_eq!(read(&file, 70_000, 50).unwrap(), expected(70_000, 50));
        assert_eq!(mapped_len(&file), None);
    }

    /// Readers racing cuts and regrowth: each read returns the written bytes or fails as out of
    /// range; none touches a page past the end (that would kill the process with `SIGBUS`).
    #[test]
    fn reads_racing_cuts_return_the_bytes_or_an_error() {
        const LEN: u64 = 384 << 10;
        let tmp = tempfile::tempdir().unwrap();
        let file = Arc::new(FileBlockFile::open(&tmp.path().join("f")).unwrap());
        fill(&file, 0, LEN);
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2u64)
            .map(|seed| {
                let (file, done) = (file.clone(), done.clone());
                std::thread::spawn(move || {
                    let (mut x, mut served) = (seed + 1, 0u64);
                    while !done.load(Ordering::Relaxed) {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let offset = (x >> 33) % (LEN - 512);
                        match read(&file, offset, 512) {
                            Ok(bytes) => {
                                assert_eq!(bytes, expected(offset, 512), "at {offset}");
                                served += 1;
                            }
                            Err(StorageError::OutOfRange { .. } | StorageError::Io { .. }) => {}
                            Err(other) => panic!("unexpected {other}"),
                        }
                    }
                    served
                })
            })
            .collect();
        for _ in 0..30 {
            file.set_len(4096).unwrap();
            fill(&file, 4096, LEN);
        }
        done.store(true, Ordering::Relaxed);
        let served: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert!(served > 0, "the readers read something");
    }
}
