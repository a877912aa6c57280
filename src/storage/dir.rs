//! [`StoreDir`]: the set of named files that make up one store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::mem::{MemBlockFile, MemShared};
use super::{BlockFile, Result, StorageError};

/// Longest file or store name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// A directory of named [`BlockFile`]s: everything one store keeps.
pub trait StoreDir {
    /// Opens the file `name`, creating it empty if it does not exist, and locks it.
    fn open(&self, name: &str) -> Result<Box<dyn BlockFile>>;
    /// Opens the file `name` for reading only, or `None` if it does not exist. Never creates,
    /// truncates or deletes anything; writes through the handle fail with
    /// [`StorageError::ReadOnly`] where the backend can tell.
    ///
    /// The default opens through [`open`](Self::open) when the backend has no read-only mode
    /// (the engine never writes through a read-only store either way).
    fn open_read_only(&self, name: &str) -> Result<Option<Box<dyn BlockFile>>> {
        self.open(name).map(Some)
    }
    /// A human-readable description of where the files live (for messages).
    fn location(&self) -> String;
}

/// Checks that `name` is a plain file name: non-empty, bounded, no separators, not `.` or `..`.
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("longer than 128 bytes")
    } else if name == "." || name == ".." {
        Some("a relative directory reference")
    } else if name.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StorageError::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// An in-memory store directory. Files persist for the directory's lifetime (clones share them).
#[derive(Clone, Default)]
pub struct MemDir {
    files: Arc<Mutex<HashMap<String, Arc<MemShared>>>>,
    capacity: Option<u64>,
}

impl MemDir {
    /// An empty in-memory directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty directory whose files each refuse to grow beyond `capacity` bytes.
    pub fn with_capacity(capacity: u64) -> Self {
        Self {
            capacity: Some(capacity),
            ..Self::default()
        }
    }
}

impl StoreDir for MemDir {
    fn open(&self, name: &str) -> Result<Box<dyn BlockFile>> {
        validate_name(name)?;
        let shared = {
            let mut files = self
                .files
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            files.entry(name.to_owned()).or_default().clone()
        };
        shared.acquire(name)?;
        Ok(Box::new(MemBlockFile::from_shared(
            name,
            shared,
            self.capacity,
        )))
    }

    fn open_read_only(&self, name: &str) -> Result<Option<Box<dyn BlockFile>>> {
        validate_name(name)?;
        let exists = self
            .files
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .contains_key(name);
        if !exists {
            return Ok(None);
        }
        self.open(name).map(Some)
    }

    fn location(&self) -> String {
        "memory".to_owned()
    }
}

/// A native directory; created on first use.
///
/// Its files are read through memory maps where they reach (see [`FileBlockFile`](super::FileBlockFile));
/// [`without_memory_map`](Self::without_memory_map) reads with `pread` only.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone)]
pub struct FsDir {
    path: std::path::PathBuf,
    memory_map: bool,
}

#[cfg(not(target_arch = "wasm32"))]
impl FsDir {
    /// The directory at `path`, created (with parents) if missing. Created directories are
    /// made durable (the parent of each is synced) before this returns.
    pub fn create(path: impl Into<std::path::PathBuf>) -> Result<Self> {
        let path = path.into();
        let io = |source| StorageError::Io {
            file: path.display().to_string(),
            source,
        };
        if !path.is_dir() {
            // The directories about to be made, deepest first.
            let missing: Vec<&std::path::Path> = path
                .ancestors()
                .take_while(|p| !p.as_os_str().is_empty() && !p.is_dir())
                .collect();
            std::fs::create_dir_all(&path).map_err(io)?;
            for made in missing.iter().rev() {
                if let Some(parent) = made.parent().filter(|p| !p.as_os_str().is_empty()) {
                    sync_dir(parent)?;
                }
            }
        }
        Ok(Self {
            path,
            memory_map: true,
        })
    }

    /// The existing directory at `path`; a missing one is an error (nothing is created).
    pub fn existing(path: impl Into<std::path::PathBuf>) -> Result<Self> {
        let path = path.into();
        if !path.is_dir() {
            return Err(StorageError::Io {
                file: path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such store directory",
                ),
            });
        }
        Ok(Self {
            path,
            memory_map: true,
        })
    }

    /// This directory with its files read by `pread` only (see
    /// [`FileBlockFile::without_memory_map`](super::FileBlockFile::without_memory_map)): for file
    /// systems where a mapped page can fail to read, e.g. network file systems.
    pub fn without_memory_map(mut self) -> Self {
        self.memory_map = false;
        self
    }

    /// A file of this directory opened by `open`, mapped or not as the directory says.
    fn configured(&self, file: super::FileBlockFile) -> super::FileBlockFile {
        if self.memory_map {
            file
        } else {
            file.without_memory_map()
        }
    }

    /// The directory's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl StoreDir for FsDir {
    fn open(&self, name: &str) -> Result<Box<dyn BlockFile>> {
        validate_name(name)?;
        let path = self.path.join(name);
        let created = !path.exists();
        let file = self.configured(super::FileBlockFile::open(&path)?);
        if created {
            // A new file's directory entry is durable only once the directory is synced.
            sync_dir(&self.path)?;
        }
        Ok(Box::new(file))
    }

    fn open_read_only(&self, name: &str) -> Result<Option<Box<dyn BlockFile>>> {
        validate_name(name)?;
        let path = self.path.join(name);
        if !path.exists() {
            return Ok(None);
        }
        let file = super::FileBlockFile::open_read_only(&path)?;
        Ok(Some(Box::new(self.configured(file))))
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// Makes the entries of the directory at `path` durable (`fsync` of the directory).
#[cfg(not(target_arch = "wasm32"))]
fn sync_dir(path: &std::path::Path) -> Result<()> {
    let io = |source| StorageError::Io {
        file: path.display().to_string(),
        source,
    };
    std::fs::File::open(path)
        .map_err(io)?
        .sync_all()
        .map_err(io)
}
