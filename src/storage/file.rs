//! [`FileBlockFile`]: a native file with positional I/O and an exclusive OS lock.
#![cfg(not(target_arch = "wasm32"))]

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::RwLock;

use super::{check_read_range, BlockFile, Result, StorageError};

/// How far a log extends a native file ahead of its end: a write into space the file has
/// leaves its size alone, so `fdatasync` has less metadata to commit (about a fifth faster a
/// durable commit, `BENCHMARKS.md`), and a megabyte of zeros past the last frame is read
/// quickly at open.
const PREALLOCATION: u64 = 1 << 20;

/// A [`BlockFile`] on a native file.
///
/// Opening takes an exclusive advisory lock (`flock`) on the file, so a second writer — in this
/// process or another — gets [`StorageError::Locked`] instead of interleaving writes.
#[derive(Debug)]
pub struct FileBlockFile {
    name: String,
    file: RwLock<Option<File>>,
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
        Ok(Self {
            name,
            file: RwLock::new(Some(file)),
            writable: true,
        })
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
        Ok(Self {
            name,
            file: RwLock::new(Some(file)),
            writable: false,
        })
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
        let guard = self
            .file
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
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
        match self.with_file(|f| f.read_exact_at(buf, offset)) {
            Err(StorageError::Io { source, .. }) => {
                let size = self.len()?;
                check_read_range(&self.name, offset, buf.len(), size)?;
                Err(self.io_error(source))
            }
            other => other,
        }
    }

    fn write_all_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.with_file(|f| f.write_all_at(data, offset))
            .map_err(|e| self.map_write_error(e, offset, data.len()))
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.check_writable()?;
        self.with_file(|f| f.set_len(len))
            .map_err(|e| self.map_write_error(e, len, 0))
    }

    fn sync(&self) -> Result<()> {
        self.check_writable()?;
        self.with_file(File::sync_data)
    }

    fn preallocation(&self) -> u64 {
        PREALLOCATION
    }

    fn close(&self) -> Result<()> {
        let mut guard = self
            .file
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        // Dropping the File releases the flock.
        guard.take();
        Ok(())
    }
}
