//! The storage engine: a log of commits, an index from kinded paths to log positions,
//! compaction levels, and reads of any path at any past commit.
//!
//! See `docs/ARCHITECTURE.md` ("Engine") for the design and its invariants, and
//! `docs/FORMAT.md` for the bytes on disk.

mod classify;
mod clock;
mod compact;
mod entry;
mod error;
mod filter;
mod generations;
mod index;
mod log;
mod offsets;
mod patched;
mod persist;
mod sealed;
mod store;
mod trie;
mod tx;
mod txbuf;

pub use classify::IndexLimits;
pub use entry::{End, LogEntry};
pub use error::{Result, StoreError};
pub use offsets::SEEK_BYTES;
pub use sealed::INDEX_CACHE_BYTES;
pub use store::{
    Change, CommitInfo, Direction, Durability, EventStream, Imported, LogSegment, Options,
    Progress, ProgressFn, Stats, Store, ValueStream, HEAD_STATE_MAX_BYTES, MAX_COMMIT_DEPTH,
    OFFSET_INDEX_CACHE_BYTES, STORE_FILES,
};
pub use tx::{Transactions, TxStatus};
pub use txbuf::TransactionBuffer;

/// The log framing (`docs/FORMAT.md`), exposed only with the `internals` feature: for the
/// project's own tests and benchmarks, which write and damage frames directly. Not part of the
/// supported API; tools read stores through [`Store`].
#[cfg(feature = "internals")]
pub mod internals {
    pub use super::log::{LogFile, ScanEnd, FRAME_HEADER, LOG_HEADER, LOG_VERSION};
}
