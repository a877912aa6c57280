//! [`MemBlockFile`]: a file in memory, available everywhere.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{check_read_range, BlockFile, Result, StorageError};

/// The bytes of one in-memory file, shared by every handle a [`super::MemDir`] hands out.
#[derive(Default)]
pub(crate) struct MemShared {
    data: Mutex<Vec<u8>>,
    /// Whether a live handle holds the file (the in-memory stand-in for an OS lock).
    held: AtomicBool,
}

impl MemShared {
    /// Takes the exclusive hold, or reports who has it.
    pub(crate) fn acquire(self: &Arc<Self>, name: &str) -> Result<()> {
        if self.held.swap(true, Ordering::AcqRel) {
            return Err(StorageError::Locked {
                file: name.to_owned(),
            });
        }
        Ok(())
    }
}

/// A [`BlockFile`] held in memory.
///
/// Files from a [`super::MemDir`] persist for the directory's lifetime, so closing and reopening
/// sees the same bytes, and a second open while one is live is [`StorageError::Locked`].
/// An optional capacity makes writes beyond it fail with [`StorageError::OutOfSpace`], which is
/// how tests simulate a full disk.
pub struct MemBlockFile {
    name: String,
    shared: Arc<MemShared>,
    capacity: Option<u64>,
    closed: AtomicBool,
}

impl std::fmt::Debug for MemBlockFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never dump the bytes.
        f.debug_struct("MemBlockFile")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl MemBlockFile {
    /// A new, empty, unshared file.
    pub fn new(name: &str) -> Self {
        Self::unshared(name, None)
    }

    /// A new, empty file that refuses to grow beyond `capacity` bytes.
    pub fn with_capacity(name: &str, capacity: u64) -> Self {
        Self::unshared(name, Some(capacity))
    }

    fn unshared(name: &str, capacity: Option<u64>) -> Self {
        let shared = Arc::new(MemShared::default());
        shared.held.store(true, Ordering::Release);
        Self::from_shared(name, shared, capacity)
    }

    /// Wraps already-acquired shared bytes.
    pub(crate) fn from_shared(name: &str, shared: Arc<MemShared>, capacity: Option<u64>) -> Self {
        Self {
            name: name.to_owned(),
            shared,
            capacity,
            closed: AtomicBool::new(false),
        }
    }

    fn data(&self) -> Result<MutexGuard<'_, Vec<u8>>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed {
                file: self.name.clone(),
            });
        }
        Ok(self
            .shared
            .data
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()))
    }

    fn check_capacity(&self, new_len: u64, offset: u64, len: usize) -> Result<()> {
        match self.capacity {
            Some(cap) if new_len > cap => Err(StorageError::OutOfSpace {
                file: self.name.clone(),
                offset,
                len,
            }),
            _ => Ok(()),
        }
    }
}

impl BlockFile for MemBlockFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> Result<u64> {
        Ok(self.data()?.len() as u64)
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let data = self.data()?;
        check_read_range(&self.name, offset, buf.len(), data.len() as u64)?;
        let start = offset as usize;
        buf.copy_from_slice(&data[start..start + buf.len()]);
        Ok(())
    }

    fn write_all_at(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        let mut data = self.data()?;
        let end = offset
            .checked_add(bytes.len() as u64)
            .ok_or(StorageError::OutOfSpace {
                file: self.name.clone(),
                offset,
                len: bytes.len(),
            })?;
        if end > data.len() as u64 {
            self.check_capacity(end, offset, bytes.len())?;
            let end = usize::try_from(end).map_err(|_| StorageError::OutOfSpace {
                file: self.name.clone(),
                offset,
                len: bytes.len(),
            })?;
            data.resize(end, 0);
        }
        data[offset as usize..end as usize].copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<()> {
        let mut data = self.data()?;
        self.check_capacity(len, len, 0)?;
        let len = usize::try_from(len).map_err(|_| StorageError::OutOfSpace {
            file: self.name.clone(),
            offset: len,
            len: 0,
        })?;
        data.resize(len, 0);
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.data().map(drop)
    }

    fn close(&self) -> Result<()> {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.shared.held.store(false, Ordering::Release);
        }
        Ok(())
    }
}

impl Drop for MemBlockFile {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
