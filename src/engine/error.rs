//! [`StoreError`]: everything the engine can report.

use crate::kpath::{GetError, PathError};
use crate::patch::PatchError;
use crate::storage::StorageError;
use crate::tony::ParseError;

/// An engine error. Every variant leaves the store intact: a rejected commit writes nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage backend failed (I/O, out of space, locked by another writer, closed).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A file holds bytes that fail their checksum or do not decode, before its tail.
    #[error("{file} is corrupt at offset {offset}: {reason}")]
    Corrupt {
        /// The file.
        file: String,
        /// Byte offset of the bad frame or record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A kinded path that does not parse.
    #[error(transparent)]
    InvalidPath(#[from] PathError),
    /// Tony text that does not parse.
    #[error("invalid Tony: {0}")]
    InvalidTony(#[from] ParseError),
    /// A patch that does not apply to the current state; nothing was written.
    #[error("patch rejected: {0}")]
    PatchRejected(#[from] PatchError),
    /// A path that cannot be followed in the state (wrong kind, index out of range).
    #[error("cannot read: {0}")]
    Get(#[from] GetError),
    /// The transaction's patches cannot be merged (overlapping paths, mixed accessors).
    #[error("cannot merge the transaction: {0}")]
    Merge(String),
    /// A precondition did not match; nothing was written.
    #[error("precondition failed at {path:?}")]
    PreconditionFailed {
        /// The path whose state did not match.
        path: String,
    },
    /// A commit number beyond the head, or 0 where a commit is needed.
    #[error("commit {commit} does not exist (head is {head})")]
    NoSuchCommit {
        /// The commit asked for.
        commit: u64,
        /// The newest commit.
        head: u64,
    },
    /// A log frame longer than the configured maximum.
    #[error("entry of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The entry's length.
        len: u64,
        /// The maximum.
        max: u64,
    },
    /// A multi-participant transaction failed (timed out, unknown, already complete).
    #[error("transaction {tx}: {reason}")]
    Transaction {
        /// The transaction id.
        tx: u64,
        /// What happened.
        reason: String,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// The store was opened read-only (or its files are), so it cannot be changed.
    #[error("the store is open read-only")]
    ReadOnly,
    /// An earlier write or sync failed, so what reached the medium is unknown: the store
    /// refuses further changes until it is reopened (which recovers from what is on disk).
    #[error("an earlier write failed ({reason}); reopen the store to continue")]
    PreviousIo {
        /// The failure that latched the store.
        reason: String,
    },
    /// A file written in a format this version does not read (e.g. by a newer tonystore).
    #[error("{file} has format version {found}; this tonystore reads versions up to {supported}")]
    UnsupportedFormat {
        /// The file.
        file: String,
        /// The version the file declares.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A shipment starts after a commit this store does not have yet: import the commits in
    /// between first.
    #[error("the shipment starts at commit {first}, but this store's head is {head}")]
    Gap {
        /// The shipment's first commit.
        first: u64,
        /// This store's head.
        head: u64,
    },
    /// A shipment disagrees with this store's history at `commit`: the two stores diverged.
    #[error("the shipment's history differs from this store's at commit {commit}")]
    Diverged {
        /// The first commit that differs.
        commit: u64,
    },
    /// A Rust value that could not be converted to or from a Tony value (feature `serde`).
    #[cfg(feature = "serde")]
    #[error("cannot convert the value: {0}")]
    Serde(#[from] crate::tony::SerdeError),
    /// A commit nested deeper than the store can keep readable forever; nothing was written.
    #[error("the commit nests {depth} levels deep (path and value); the limit is {max}")]
    TooDeep {
        /// The commit's nesting depth.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// A committed value holds what its text form cannot carry (a repeated key, a malformed
    /// tag, a non-finite float: see [`tony::Problem`](crate::tony::Problem)), so it would not
    /// read back as itself; nothing was written.
    #[error("cannot store the value at {path}: {problem}")]
    InvalidValue {
        /// Where the offending node is, from the document's root.
        path: String,
        /// What is wrong with it.
        problem: crate::tony::Problem,
    },
}

/// Result type of engine operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// A stable, short code for the error, as the JS API reports it.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Storage(StorageError::Locked { .. }) => "locked",
            StoreError::Storage(
                StorageError::OutOfSpace { .. } | StorageError::ShortWrite { .. },
            ) => "quota",
            StoreError::Storage(StorageError::Closed { .. }) | StoreError::Closed => "closed",
            StoreError::Storage(StorageError::ReadOnly { .. }) | StoreError::ReadOnly => {
                "read_only"
            }
            StoreError::Storage(StorageError::Unsupported(_)) => "unsupported",
            StoreError::Storage(_) => "io",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::InvalidPath(_) => "invalid_path",
            StoreError::InvalidTony(_) => "invalid_tony",
            StoreError::PatchRejected(_) => "patch_rejected",
            StoreError::Get(_) => "invalid_path",
            StoreError::Merge(_) => "invalid_patch",
            StoreError::PreconditionFailed { .. } => "precondition_failed",
            StoreError::NoSuchCommit { .. } => "no_such_commit",
            StoreError::TooLarge { .. } => "too_large",
            StoreError::Transaction { .. } => "transaction",
            StoreError::PreviousIo { .. } => "previous_io",
            StoreError::UnsupportedFormat { .. } => "unsupported_format",
            StoreError::TooDeep { .. } => "too_deep",
            StoreError::InvalidValue { .. } => "invalid_value",
            StoreError::Gap { .. } => "gap",
            StoreError::Diverged { .. } => "diverged",
            #[cfg(feature = "serde")]
            StoreError::Serde(_) => "invalid_value",
        }
    }
}
