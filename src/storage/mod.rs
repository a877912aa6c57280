//! Storage: the engine's only view of bytes on a medium.
//!
//! A store is a set of named [`BlockFile`]s opened through a [`StoreDir`]. The engine is written
//! against these two traits only; the backends below (and the wasm32-only ones in
//! `crate::wasm`) decide where the bytes live.

mod dir;
mod file;
mod mem;

pub mod contract;

#[cfg(not(target_arch = "wasm32"))]
pub use dir::FsDir;
pub use dir::{validate_name, MemDir, StoreDir, MAX_NAME_LEN};
#[cfg(not(target_arch = "wasm32"))]
pub use file::FileBlockFile;
pub use mem::MemBlockFile;

/// Errors of a storage backend. Every variant names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The operating system (or the JS host) reported an I/O failure.
    #[error("I/O error on {file}: {source}")]
    Io {
        /// The file the operation was on.
        file: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The medium is full or the origin's quota is exhausted.
    #[error("out of space writing {len} bytes at offset {offset} of {file}")]
    OutOfSpace {
        /// The file written to.
        file: String,
        /// Where the write started.
        offset: u64,
        /// How many bytes were asked to be written.
        len: usize,
    },
    /// Fewer bytes were written than asked for (and the backend could not say why).
    #[error("short write on {file} at offset {offset}: wrote {written} of {len} bytes")]
    ShortWrite {
        /// The file written to.
        file: String,
        /// Where the write started.
        offset: u64,
        /// Bytes asked for.
        len: usize,
        /// Bytes the backend reported as written.
        written: u64,
    },
    /// Another writer holds the file (another process, tab or handle).
    #[error("{file} is locked by another writer")]
    Locked {
        /// The file that could not be locked.
        file: String,
    },
    /// The file was opened read-only and cannot be changed.
    #[error("{file} is open read-only")]
    ReadOnly {
        /// The file.
        file: String,
    },
    /// The file was closed and can no longer be used.
    #[error("{file} is closed")]
    Closed {
        /// The closed file.
        file: String,
    },
    /// A read asked for bytes beyond the end of the file.
    #[error("read of {len} bytes at offset {offset} is past the end of {file} ({size} bytes)")]
    OutOfRange {
        /// The file read from.
        file: String,
        /// Where the read started.
        offset: u64,
        /// Bytes asked for.
        len: usize,
        /// The file's size at the time of the read.
        size: u64,
    },
    /// A file name that is not allowed inside a store directory.
    #[error("invalid file name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The backend cannot work in this environment (e.g. OPFS outside a dedicated worker).
    #[error("{0}")]
    Unsupported(String),
}

/// Result type of storage operations.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// `Send + Sync` natively, so that stores and their files can move between threads; no bound
/// on wasm32, where storage is JS objects, which never leave their thread.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}
/// `Send + Sync` natively, so that stores and their files can move between threads; no bound
/// on wasm32, where storage is JS objects, which never leave their thread.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

/// A positional, synchronous, growable byte file: the unit of storage.
///
/// The contract every implementation meets (checked by [`contract`]):
///
/// * All methods take `&self`; implementations use interior mutability. A `BlockFile` is used by
///   one writer at a time; opening it takes an exclusive lock where the medium has one, and a
///   second opener gets [`StorageError::Locked`] instead of a second handle.
/// * [`read_exact_at`](Self::read_exact_at) fills the whole buffer or fails: a read that reaches
///   past the end is [`StorageError::OutOfRange`] and never returns partial data silently.
/// * [`write_all_at`](Self::write_all_at) writes every byte or fails. Writing past the end grows
///   the file; a gap between the old end and the write is zero-filled. A backend that cannot
///   write everything reports [`StorageError::OutOfSpace`] or [`StorageError::ShortWrite`].
///   Written bytes are visible to later reads at once, but durable only after
///   [`sync`](Self::sync).
/// * [`set_len`](Self::set_len) shrinks or grows the file; growth reads back as zeros.
/// * [`sync`](Self::sync) is the durability barrier: when it returns `Ok`, everything written
///   before it survives a crash or power loss (as far as the medium promises).
/// * [`close`](Self::close) releases the lock and handle; it may be called more than once. Every
///   other call on a closed file fails with [`StorageError::Closed`]. Dropping a file closes it.
/// * Natively a file is `Send + Sync` ([`MaybeSendSync`]), so a store can move between threads.
pub trait BlockFile: MaybeSendSync {
    /// The name the file was opened under, used in error messages.
    fn name(&self) -> &str;
    /// The current length in bytes.
    fn len(&self) -> Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// Writes all of `data` at `offset`, growing the file (zero-filled) as needed.
    fn write_all_at(&self, offset: u64, data: &[u8]) -> Result<()>;
    /// Sets the length, truncating or zero-extending.
    fn set_len(&self, len: u64) -> Result<()>;
    /// Makes every earlier write durable.
    fn sync(&self) -> Result<()>;
    /// Releases the file; later calls fail with [`StorageError::Closed`].
    fn close(&self) -> Result<()>;
    /// How many bytes an append-only writer should extend this file ahead of its end (with
    /// [`set_len`](Self::set_len)), so that most appends and their syncs change no file
    /// metadata; 0 (the default) appends without extending ahead. On a file system that
    /// journals a synced file's growth (ext4, XFS), a write into space the file already has
    /// syncs faster.
    fn preallocation(&self) -> u64 {
        0
    }
    /// Whether a small read costs about a memory copy (the file is memory-mapped), so a
    /// reader need not keep copies of what it read: `false` (the default) when each read is
    /// a system call or a call out of WebAssembly.
    fn reads_in_place(&self) -> bool {
        false
    }
}

impl<T: BlockFile + ?Sized> BlockFile for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn len(&self) -> Result<u64> {
        (**self).len()
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_exact_at(offset, buf)
    }
    fn write_all_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        (**self).write_all_at(offset, data)
    }
    fn set_len(&self, len: u64) -> Result<()> {
        (**self).set_len(len)
    }
    fn sync(&self) -> Result<()> {
        (**self).sync()
    }
    fn close(&self) -> Result<()> {
        (**self).close()
    }
    fn preallocation(&self) -> u64 {
        (**self).preallocation()
    }
    fn reads_in_place(&self) -> bool {
        (**self).reads_in_place()
    }
}

/// The error for a read of `len` bytes at `offset` from a file of `size` bytes, if it does not fit.
pub(crate) fn check_read_range(file: &str, offset: u64, len: usize, size: u64) -> Result<()> {
    let end = offset.checked_add(len as u64);
    match end {
        Some(end) if end <= size => Ok(()),
        _ => Err(StorageError::OutOfRange {
            file: file.to_owned(),
            offset,
            len,
            size,
        }),
    }
}

/// Offsets a JS number holds exactly (2^53): a read reaching past it is checked against the
/// file's size before it is made.
#[cfg(target_arch = "wasm32")]
pub(crate) const JS_EXACT_OFFSETS: u64 = 1 << 53;

/// The error for a read of `len` bytes at `offset` that got `got` bytes: `OutOfRange` when the
/// range runs past the file's end (its size asked only now, so a read that succeeds costs one
/// host call), an I/O error otherwise.
#[cfg(target_arch = "wasm32")]
pub(crate) fn short_read(
    file: &str,
    offset: u64,
    len: usize,
    got: usize,
    size: impl FnOnce() -> Result<u64>,
) -> StorageError {
    if let Err(out_of_range) = size().and_then(|size| check_read_range(file, offset, len, size)) {
        return out_of_range;
    }
    StorageError::Io {
        file: file.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("read {got} of {len} bytes at {offset}"),
        ),
    }
}

/// Classifies the byte count a host reported for a write of `len` bytes.
///
/// Hosts that do not throw on a full disk report it through the count: Chrome's OPFS returns
/// `0xFFFFFFF8` (more than asked), Firefox a short count. Any count other than `len` is an error;
/// both shapes mean the medium ran out of space.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // used by the wasm32 backends
pub(crate) fn write_count_error(
    file: &str,
    offset: u64,
    len: usize,
    written: u64,
) -> Option<StorageError> {
    (written != len as u64).then(|| StorageError::OutOfSpace {
        file: file.to_owned(),
        offset,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_counts_other_than_the_length_are_out_of_space() {
        assert!(write_count_error("f", 0, 10, 10).is_none());
        for bad in [0, 9, 0xFFFF_FFF8] {
            let err = write_count_error("f", 7, 10, bad).expect("a wrong count is an error");
            assert!(
                matches!(
                    err,
                    StorageError::OutOfSpace {
                        offset: 7,
                        len: 10,
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn read_ranges_are_checked_without_overflow() {
        assert!(check_read_range("f", 0, 0, 0).is_ok());
        assert!(check_read_range("f", 5, 5, 10).is_ok());
        assert!(check_read_range("f", 6, 5, 10).is_err());
        assert!(check_read_range("f", u64::MAX, 1, 10).is_err());
    }
}
