//! [`Store`]: commits, reads at any commit, compaction, persistence and recovery.

mod cache;
mod compaction;
mod counters;
mod history;
mod offset_indexes;
mod read;
mod recover;
mod ship;
mod stream;
mod touched;

pub use history::{Change, CommitInfo};
pub use ship::Imported;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};
pub use stream::{EventStream, ValueStream};

use cache::{lock, patch_cache, PatchCache};
use counters::{Counters, ReadEvent};

use super::classify::{classify, classify_with, ends_at, outermost_positions, IndexLimits};
use super::clock::now_ms;
use super::entry::End;
use super::entry::{corrupt, LogEntry};
use super::error::{Result, StoreError};
use super::index::{EntryRef, Index, Seal};
use super::log::LogFile;
use super::offsets::{encode_indexed, OffsetIndex, INDEXED_ENTRY_BYTES};
use super::persist::{Checkpoint, EntryList, IndexLog};
use super::sealed::{encode_table, Group, PathKey, INDEX_CACHE_BYTES};
use super::txbuf::TransactionBuffer;
use crate::kpath::{get, KPath};
use crate::patch::{patch, patch_owned, try_matches};
use crate::storage::{BlockFile, MemBlockFile, StoreDir};
use crate::tony::{Node, NotStorable};

/// The files of a store, in the order they are opened (the first one carries the writer lock).
pub const STORE_FILES: [&str; 3] = ["level0.log", "compact.log", "index.log"];

/// Which way [`Store::commits_at`] walks from a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Towards older commits.
    Down,
    /// Towards newer commits.
    Up,
}

/// When commits become durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is synced before `commit` returns.
    EveryCommit,
    /// Commits are synced by [`Store::flush`] (and `close`); a crash may lose the unsynced ones.
    /// Until then their frames are buffered and reach the file in batches (up to 64 KiB), so a
    /// failed write may lose them too: it latches the store ([`StoreError::PreviousIo`]).
    OnFlush,
}

/// Progress of long work (rebuilding the index at open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// What is being done.
    pub phase: &'static str,
    /// Bytes done.
    pub done: u64,
    /// Bytes in all.
    pub total: u64,
}

/// A progress callback: `Send` and `Sync` natively (a store moves between threads with its
/// options, and is shared by reading threads).
#[cfg(not(target_arch = "wasm32"))]
pub type ProgressFn = Box<dyn FnMut(Progress) + Send + Sync>;
/// A progress callback.
#[cfg(target_arch = "wasm32")]
pub type ProgressFn = Box<dyn FnMut(Progress)>;

/// The default [`Options::offset_index_cache_bytes`]: 32 MiB natively, 8 MiB on wasm32.
pub const OFFSET_INDEX_CACHE_BYTES: u64 = if cfg!(target_arch = "wasm32") {
    8 << 20
} else {
    32 << 20
};

/// The default [`Options::head_state_max_bytes`]: 16 MiB natively, 4 MiB on wasm32 (the
/// document built takes about twice its text in memory, and its first build about 8 ms a
/// MiB natively: a 64 MiB document took 540 ms and 138 MiB).
pub const HEAD_STATE_MAX_BYTES: u64 = if cfg!(target_arch = "wasm32") {
    4 << 20
} else {
    16 << 20
};

/// Settings of a store.
pub struct Options {
    /// Compaction divisor `D`: a level-`L` entry stands for `D^L` commits.
    pub divisor: u64,
    /// When commits are synced.
    pub durability: Durability,
    /// Largest entry (frame payload) written or read.
    pub max_entry_bytes: u64,
    /// How finely one entry is indexed.
    pub index_limits: IndexLimits,
    /// Persist the index every this many commits (and on flush and close).
    pub persist_every: u64,
    /// The seal level `k` (at least 1): once the commits of an aligned run of `divisor^k` are
    /// compacted, the index of the run's entries below level `k` is written to `index.log` as
    /// a table, read through a cache of blocks, and leaves memory. `None`: the smallest `k`
    /// with `divisor^k >= 4096`. A run holds at most 2^31 commits: a larger level is lowered
    /// (and with a divisor beyond 2^31 nothing is sealed). Changing it between opens rebuilds
    /// the index.
    pub seal_level: Option<u8>,
    /// Entries whose payload is at least this long get an offset index (for streaming reads).
    pub offset_index_min_bytes: usize,
    /// The most bytes (as stored in `index.log`) of saved offset indexes kept in memory
    /// (default [`OFFSET_INDEX_CACHE_BYTES`]: 32 MiB natively, 8 MiB on wasm32): beyond, the
    /// least recently used are dropped and read again when next needed. Those of entries
    /// written since the last save stay until it.
    pub offset_index_cache_bytes: u64,
    /// The most memory the sealed index tables' block cache holds (default
    /// [`INDEX_CACHE_BYTES`]: 64 MiB natively, 16 MiB on wasm32). Reads of a long history
    /// whose tables it cannot hold read blocks again. A memory-mapped `index.log` is read in
    /// place, without it.
    pub index_cache_bytes: usize,
    /// The head document is kept in memory, built when a commit first needs it and patched in
    /// place by each, when at that point it is estimated below this many bytes of text
    /// (default [`HEAD_STATE_MAX_BYTES`]: 16 MiB natively, 4 MiB on wasm32). The estimate
    /// is the bytes of the fewest entries that compose the document: the largest compacted
    /// entries covering the history, then the newest commits (an upper bound, whatever the
    /// history's length). Beyond, commits do without it: each reads from the log only what
    /// its patch looks at, so a commit into a huge document costs what the patch touches, in
    /// time and memory. `0`: never kept.
    pub head_state_max_bytes: u64,
    /// Called during long work at open.
    pub on_progress: Option<ProgressFn>,
    /// Open without ever writing: no file is created, truncated or deleted (a torn tail is
    /// ignored, not cut; a lost index is rebuilt in memory only), and every change is refused
    /// with [`StoreError::ReadOnly`].
    pub read_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            divisor: 16,
            durability: Durability::EveryCommit,
            max_entry_bytes: 1 << 30,
            index_limits: IndexLimits::default(),
            persist_every: 1000,
            seal_level: None,
            offset_index_min_bytes: INDEXED_ENTRY_BYTES,
            offset_index_cache_bytes: OFFSET_INDEX_CACHE_BYTES,
            index_cache_bytes: INDEX_CACHE_BYTES,
            head_state_max_bytes: HEAD_STATE_MAX_BYTES,
            on_progress: None,
            read_only: false,
        }
    }
}

/// One entry as the index lists it under a path (see [`Store::segments`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSegment {
    /// The entry's level: 0 for a commit, `L` for a compacted run of `divisor^L` commits.
    pub level: u8,
    /// The first commit the entry stands for.
    pub start_commit: u64,
    /// The transaction number of that commit.
    pub start_tx: u64,
    /// The last commit the entry stands for.
    pub end_commit: u64,
    /// The transaction number of that commit.
    pub end_tx: u64,
    /// The path it is listed under: the queried path, or the ancestor where it ends.
    pub kinded_path: KPath,
    /// The position of the entry's frame in its log (`level0.log` or `compact.log`).
    pub log_position: u64,
    /// For an entry ending at a strict ancestor: whether it ends there independently of the
    /// earlier state. `None` for an entry touching the path or below it.
    pub ends_above: Option<bool>,
}

/// Counters for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries parsed from the logs (cache misses).
    pub entries_read: u64,
    /// Bytes in `level0.log`.
    pub level0_bytes: u64,
    /// Bytes in `compact.log`.
    pub compact_bytes: u64,
    /// Bytes of saved index records in `index.log`.
    pub index_bytes: u64,
    /// Commits whose index is sealed: read from tables in `index.log`, not held in memory
    /// (see [`Options::seal_level`]).
    pub sealed_commits: u64,
    /// Entries the index holds in memory: the unsealed tail, and every entry at the seal
    /// level and above.
    pub indexed_in_memory: u64,
    /// Streaming reads served straight from an entry's bytes (not built in memory).
    pub streamed_from_log: u64,
    /// Of those, the ones with later patches applied on the fly.
    pub streamed_patched: u64,
    /// Reads below an array edited by later `!arraydiff`s served without building the array.
    pub read_through_array_edits: u64,
    /// Reads whose base value was built from a large entry's bytes via its offset index
    /// instead of parsing the entry whole.
    pub read_from_offsets: u64,
    /// How the last open recovered: `"none"`, `"incremental"` or `"full"`.
    pub recovery: &'static str,
    /// Whether the head document is in memory (see [`Options::head_state_max_bytes`]).
    pub head_state_in_memory: bool,
    /// Offset indexes of large entries in memory (see [`Options::offset_index_cache_bytes`]).
    pub offset_indexes_in_memory: u64,
}

/// One piece of a read's cover: entries of `level` with keys in `(lo, hi]`.
#[derive(Clone, Copy, Debug)]
struct Piece {
    level: u8,
    lo: u64,
    hi: u64,
}

/// A candidate entry of a read, in time order.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    level: u8,
    entry: EntryRef,
    /// `Some(depth)` when the entry ends at the path's ancestor of that depth (in a plan, always
    /// a strict one; a streaming read also starts from an `!insert` at the path itself).
    ancestor_depth: Option<usize>,
}

/// A versioned Tony document store on a [`StoreDir`].
///
/// Reads take `&self` and may run at once from several threads (natively a store is `Send`
/// and `Sync`): what they share (the cache of parsed entries, the head state built on first
/// need, the index's deferred ends) sits behind locks held only briefly; counters are atomic. Commits take
/// `&mut self`. A server shares a store as `RwLock<Store>`: reads under the read lock run
/// together, and each commit waits only for the reads in progress. A commit number is a
/// snapshot: what `read_at(path, c)` returns never changes once commit `c` exists.
pub struct Store {
    level0: LogFile,
    compact: LogFile,
    index_log: IndexLog,
    /// Entries indexed since the last save of the index, in the order they were added.
    unsaved: EntryList,
    /// Offset indexes made since the last save, by (level, position).
    unsaved_offsets: Vec<(u8, u64)>,
    /// The checkpoint of the last save.
    saved: Checkpoint,
    /// Set when a run was sealed and the unsealed tail not yet saved after it: the next save
    /// holds the whole tail, since loading skips the records before the seal.
    tail_due: bool,
    /// Set when building a compacted entry failed (the store goes on): the next commit builds
    /// every missing entry in key order, so `compact.log` stays in key order.
    compaction_behind: bool,
    /// Behind a lock for its deferred ends, which the first read after a commit files.
    index: RwLock<Index>,
    /// The state at the head, built on first need (a read-only open never builds it).
    state: Mutex<Option<Node>>,
    /// The head and [`Store::document_bytes_bound`] there, once a commit without the head
    /// state asked.
    document_estimate: Option<(u64, u64)>,
    head: u64,
    tx_seq: u64,
    options: Options,
    /// Patches of parsed entries: what reads need.
    cache: Mutex<PatchCache>,
    /// Whole entries that the next compaction of their level will compose (at most a
    /// divisor's worth per level), by (level, position): no re-parsing to compact, and reads
    /// find their patches here before the cache (which they are not put in: a cache filled
    /// by every commit dropped thousands of patches at once, a fifth of a commit in `free`
    /// and in the `malloc`s after it).
    pending: HashMap<(u8, u64), Pending, foldhash::fast::RandomState>,
    /// Offset indexes of large entries, by (level, position).
    offsets: offset_indexes::OffsetIndexes,
    counters: Counters,
    /// How the open recovered (see [`Stats::recovery`]).
    recovery: &'static str,
    since_persist: u64,
    closed: bool,
    /// Set when a write or sync failed in a way that leaves the medium's state unknown: every
    /// later change is refused until the store is reopened.
    failed: Option<String>,
}

/// The deepest nesting a commit may have, counting its path's segments and the value's
/// levels: the parser's limit less the levels a log entry and compaction add around a patch,
/// so whatever `commit` accepts stays readable forever.
pub const MAX_COMMIT_DEPTH: usize = crate::tony::MAX_DEPTH - 16;

impl Store {
    /// Opens (creating if empty) the store in `dir`: loads the persisted index, indexes what
    /// the logs hold beyond it (or everything, if the index is missing or corrupt), cuts off a
    /// torn log tail, and builds any compaction entries a crash left out.
    pub fn open(dir: &dyn StoreDir, mut options: Options) -> Result<Store> {
        if options.divisor < 2 {
            options.divisor = 2;
        }
        let writable = !options.read_only;
        let open = |name: &str| -> Result<Box<dyn BlockFile>> {
            if writable {
                return Ok(dir.open(name)?);
            }
            // A missing file reads as empty; nothing is created.
            Ok(dir
                .open_read_only(name)?
                .unwrap_or_else(|| Box::new(MemBlockFile::new(name))))
        };
        let max = options.max_entry_bytes;
        let level0 = LogFile::open(open(STORE_FILES[0])?, max, writable)?;
        let compact = LogFile::open(open(STORE_FILES[1])?, max, writable)?;
        let seal = seal_of(&options);
        let (index_log, loaded) = IndexLog::open(
            open(STORE_FILES[2])?,
            writable,
            seal,
            options.index_cache_bytes,
        )?;
        let offsets = offset_indexes::OffsetIndexes::stored(
            Default::default(),
            options.offset_index_cache_bytes,
        );
        let mut store = Store {
            level0,
            compact,
            index_log,
            unsaved: EntryList::default(),
            unsaved_offsets: Vec::new(),
            saved: Checkpoint::default(),
            tail_due: false,
            compaction_behind: false,
            index: RwLock::default(),
            state: Mutex::new(None),
            document_estimate: None,
            head: 0,
            tx_seq: 0,
            options,
            cache: Mutex::new(patch_cache()),
            pending: HashMap::default(),
            offsets,
            counters: Counters::default(),
            recovery: "none",
            since_persist: 0,
            closed: false,
            failed: None,
        };
        if let Err(e) = store.recover(loaded) {
            // A half-recovered store must not save its index when it is dropped.
            store.failed = Some(e.to_string());
            return Err(e);
        }
        if store.options.durability == Durability::OnFlush {
            // Commits reach the file in batches; a crash may lose the unflushed ones anyway.
            // Entries with offset indexes are written through: readers seek in the file.
            let through = store.options.offset_index_min_bytes as u64;
            store.level0.buffer_frames_below(through);
        }
        Ok(store)
    }

    /// The state at the head, building it from the log the first time.
    fn head_state(&self) -> Result<Node> {
        let mut state = lock(&self.state);
        if let Some(state) = &*state {
            return Ok(state.clone());
        }
        // Built under the lock, so concurrent first reads build it once (`read_at` does not
        // take this lock).
        let built = self.build_head_state()?;
        *state = Some(built.clone());
        Ok(built)
    }

    /// Whether commits keep the head document in memory: it is there, or it is estimated
    /// small enough to build (see [`Options::head_state_max_bytes`]).
    fn keeps_head_state(&mut self) -> Result<bool> {
        if self.state_mut().is_some() {
            return Ok(true);
        }
        let estimate = match self.document_estimate {
            Some((head, bytes)) if head == self.head => bytes,
            _ => {
                let bytes = self.document_bytes_bound()?;
                self.document_estimate = Some((self.head, bytes));
                bytes
            }
        };
        Ok(estimate < self.options.head_state_max_bytes)
    }

    /// The payload bytes of the entries that [`cover`](Self::cover) the whole history: an
    /// upper bound on the head document's text (each part of it comes from one of them),
    /// found from their frame headers.
    fn document_bytes_bound(&self) -> Result<u64> {
        let mut bytes = 0u64;
        for piece in self.cover(0, self.head, u8::MAX)? {
            for entry in self.piece_entries(piece)? {
                let (_, len) = self.log_of(piece.level).frame_extent(entry.pos)?;
                bytes = bytes.saturating_add(len);
            }
        }
        Ok(bytes)
    }

    /// The head state if it is in memory (nothing is built).
    fn head_state_in_memory(&self) -> Option<Node> {
        lock(&self.state).clone()
    }

    /// The document at the head, built on first use, to change in place.
    fn head_state_mut(&mut self) -> Result<&mut Node> {
        if self.state_mut().is_none() {
            let built = self.build_head_state()?;
            *self.state_mut() = Some(built);
        }
        Ok(self.state_mut().get_or_insert_with(Node::null))
    }

    /// The head state's slot, without locking (`&mut self` excludes every other access).
    fn state_mut(&mut self) -> &mut Option<Node> {
        self.state.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// The document at the head, read from the log.
    fn build_head_state(&self) -> Result<Node> {
        if self.head == 0 {
            return Ok(Node::null());
        }
        Ok(self
            .read_at(&KPath::root(), self.head)?
            .unwrap_or_else(Node::null))
    }

    /// The index, for listings (`get`, `entries`, `depth`): no trie is needed. Held only for
    /// a lookup: a read never keeps it across another read.
    fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The index with the ends of `level` filed in its trie, for `candidates` and
    /// `last_change` on that level: the first such lookup after a commit or an open files the
    /// deferred ones (an open defers the compacted levels' ends, which only some reads need).
    fn index_with_ends(&self, level: u8) -> RwLockReadGuard<'_, Index> {
        {
            let index = self.index();
            if index.has_ends(level) {
                return index;
            }
        }
        self.index
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .materialize(level);
        self.index()
    }

    /// The index, to change (`&mut self` excludes every read).
    fn index_mut(&mut self) -> &mut Index {
        self.index.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a read event in the store's [`Stats`].
    fn count(&self, event: ReadEvent) {
        self.counters.count(event);
    }

    /// The newest commit (0 for an empty store).
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut stats = Stats {
            level0_bytes: self.level0.end(),
            compact_bytes: self.compact.end(),
            index_bytes: self.index_log.saved_bytes(),
            sealed_commits: self.index().sealed_upto(),
            indexed_in_memory: self.index().in_memory(),
            recovery: self.recovery,
            head_state_in_memory: lock(&self.state).is_some(),
            offset_indexes_in_memory: self.offsets.in_memory(),
            ..Stats::default()
        };
        self.counters.fill(&mut stats);
        stats
    }

    fn check_open(&self) -> Result<()> {
        if self.closed {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// Whether the store may change: open, writable, and not latched by an earlier failure.
    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.options.read_only {
            return Err(StoreError::ReadOnly);
        }
        match &self.failed {
            Some(reason) => Err(StoreError::PreviousIo {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Latches the store: every later change is refused with [`StoreError::PreviousIo`].
    fn latch(&mut self, error: StoreError) -> StoreError {
        self.failed.get_or_insert_with(|| error.to_string());
        error
    }

    /// Latches the store if `error` says the medium's state is unknown (a failed append whose
    /// cleanup failed too); other append failures (e.g. out of space) left nothing behind.
    pub(super) fn latch_if_unknown(&mut self, error: StoreError) -> StoreError {
        match error {
            StoreError::PreviousIo { .. } => self.latch(error),
            other => other,
        }
    }

    /// Syncs `level0.log`; a failure latches the store (after a failed sync nothing written
    /// since the last good one can be trusted, and a retried sync may lie).
    fn sync_level0(&mut self) -> Result<()> {
        self.level0.sync().map_err(|e| self.latch(e))
    }

    /// Syncs `compact.log`, latching on failure like [`sync_level0`](Self::sync_level0).
    pub(super) fn sync_compact(&mut self) -> Result<()> {
        self.compact.sync().map_err(|e| self.latch(e))
    }

    /// Commits `patches` (each applied at its path) as one transaction; returns the commit
    /// number. Nothing is written if the patches do not merge or do not apply.
    pub fn commit(&mut self, patches: Vec<(KPath, Node)>) -> Result<u64> {
        self.commit_with(patches, Vec::new())
    }

    /// Commits Rust values (feature `serde`), each merged at its path like a patch, as one
    /// commit; a value serde cannot express as plain data is [`StoreError::Serde`].
    #[cfg(feature = "serde")]
    pub fn commit_serde<T: serde::Serialize>(&mut self, values: &[(KPath, T)]) -> Result<u64> {
        let patches = values
            .iter()
            .map(|(path, value)| Ok((path.clone(), crate::tony::to_node(value)?)))
            .collect::<Result<Vec<_>>>()?;
        self.commit(patches)
    }

    /// [`commit`](Self::commit) with preconditions: each `(path, pattern)` must match the
    /// current state at `path` (see [`try_matches`](crate::patch::try_matches)), checked atomically with the write; a
    /// pattern that cannot be matched (e.g. a bad glob) is `PatchRejected`.
    pub fn commit_with(
        &mut self,
        patches: Vec<(KPath, Node)>,
        preconditions: Vec<(KPath, Node)>,
    ) -> Result<u64> {
        self.check_writable()?;
        let mut buffer = TransactionBuffer::new();
        for (path, p) in patches {
            // Checked before merging: merging nests the patch under its path.
            check_patch(&path, &p)?;
            buffer.add(path, p);
        }
        let root = buffer
            .merge()?
            .ok_or_else(|| StoreError::Merge("a commit needs at least one patch".into()))?;
        let keep = self.keeps_head_state()?;
        for (path, pattern) in &preconditions {
            // What is not there (or cannot be: a path through a scalar) matches as null.
            let current = if keep {
                get(self.head_state_mut()?, path).ok().flatten().cloned()
            } else {
                match self.read_at(path, self.head) {
                    Err(StoreError::Get(_)) => None,
                    read => read?,
                }
            };
            if !try_matches(&current.unwrap_or_else(Node::null), pattern)? {
                return Err(StoreError::PreconditionFailed {
                    path: path.to_string(),
                });
            }
        }
        // Transaction numbers come from the log: a checksum-valid but absurd one must not
        // overflow.
        let tx = self.tx_seq.checked_add(1).ok_or_else(|| {
            corrupt(
                self.level0.name(),
                0,
                "the log's transaction numbers are exhausted (u64::MAX)",
            )
        })?;
        self.commit_root(root, tx)
    }

    /// Writes a merged root patch as the next commit.
    ///
    /// Nothing of a failed commit stays in memory (offsets, index, cache, head); on the medium
    /// its frame is cut back, or, if the failure leaves that unknown, the store is latched.
    /// The caller has checked the patches (see [`check_patch`]).
    fn commit_root(&mut self, root: Node, tx: u64) -> Result<u64> {
        self.check_writable()?;
        let limits = self.options.index_limits;
        let (ends, new_state) = if self.keeps_head_state()? {
            let ends = classify(&root, Some(&*self.head_state_mut()?), limits);
            // The head state is patched in place: what the patch does not touch is not
            // copied. If this commit fails from here on, the state is dropped and rebuilt
            // from the log when next needed, so nothing of the failed commit stays.
            let state = self.state_mut().take().unwrap_or_else(Node::null);
            (ends, Some(patch_owned(state, &root)?))
        } else {
            // Checked and classified on the part of the head state the patch looks at.
            let look = touched::Look::new(self);
            let touched = look.touched_state(&root)?;
            let covers = |p: &Node, s: Option<&Node>, at: &[_]| look.covers_at(p, s, at);
            let ends = classify_with(&root, Some(&touched), limits, covers)?;
            patch(&touched, &root)?;
            (ends, None)
        };
        let commit = self.head + 1;
        let entry = LogEntry {
            level: 0,
            start: commit - 1,
            commit,
            tx,
            timestamp: now_ms(),
            ends,
            patch: root,
        };
        let (payload, offsets) = encode_entry(&entry, self.options.offset_index_min_bytes);
        let pos = self
            .level0
            .append(&payload)
            .map_err(|e| self.latch_if_unknown(e))?;
        if self.options.durability == Durability::EveryCommit {
            self.sync_level0()?;
        }
        if let Some(offsets) = offsets {
            self.add_offsets(0, pos, offsets);
        }
        let kept = self.index_entry(0, EntryRef { key: commit, pos }, &entry.ends);
        let bytes = payload.len() as u64;
        self.pending
            .insert((0, pos), Pending::new(entry, &kept, bytes));
        *self.state_mut() = new_state;
        self.head = commit;
        // Before anything saves a checkpoint: one saved during this commit (every
        // `persist_every` commits) records this transaction as used, so a store reopened
        // after a crash never hands its number out again.
        self.tx_seq = tx;
        // The commit is durable now; compaction and index persistence can be retried later.
        let _ = self.compact_after(commit);
        self.since_persist += 1;
        if self.since_persist >= self.options.persist_every {
            let _ = self.persist();
        }
        Ok(commit)
    }

    /// Adds an entry to the index, to be saved with the next checkpoint. Returns the
    /// positions of the ends the index keeps (see [`outermost_positions`]).
    pub(super) fn index_entry(&mut self, level: u8, entry: EntryRef, ends: &[End]) -> Vec<usize> {
        let positions = outermost_positions(ends);
        let kept = ends_at(ends, &positions);
        self.index_mut().level_mut(level).add(entry, &kept);
        self.unsaved.push(level, entry, kept);
        positions
    }

    /// The offset index of the entry at (`level`, `pos`), if it has one (read from
    /// `index.log` the first time).
    pub(super) fn offset_index(&self, level: u8, pos: u64) -> Result<Option<Arc<OffsetIndex>>> {
        self.offsets.get((level, pos), &self.index_log)
    }

    /// The offset indexes of the entries at (level, position) `entries` that have one.
    fn offsets_of(&self, entries: &[(u8, u64)]) -> Result<Vec<KeyedOffsets>> {
        let mut found = Vec::new();
        for &(level, pos) in entries {
            if let Some(offsets) = self.offset_index(level, pos)? {
                found.push(((level, pos), offsets));
            }
        }
        Ok(found)
    }

    /// Keeps a large entry's offset index, to be saved with the next checkpoint.
    pub(super) fn add_offsets(&mut self, level: u8, pos: u64, offsets: OffsetIndex) {
        self.offsets.add((level, pos), Arc::new(offsets));
        self.unsaved_offsets.push((level, pos));
    }

    /// The log holding entries of `level`.
    fn log_of(&self, level: u8) -> &LogFile {
        if level == 0 {
            &self.level0
        } else {
            &self.compact
        }
    }

    /// The patch of the entry at (`level`, `pos`): pending, cached or parsed.
    fn patch_of(&self, level: u8, pos: u64) -> Result<Node> {
        if let Some(pending) = self.pending.get(&(level, pos)) {
            return Ok(pending.entry.patch.clone());
        }
        if let Some(patch) = lock(&self.cache).get((level, pos)) {
            return Ok(patch);
        }
        // Parsed without the lock: reads of other entries go on meanwhile.
        let (patch, bytes) = self.log_of(level).read_patch(pos)?;
        self.count(ReadEvent::EntryRead);
        // Weighed by its text: the cache holds a bounded amount of parsed entries.
        lock(&self.cache).insert_weighing((level, pos), patch.clone(), bytes);
        Ok(patch)
    }

    /// Whether the patch of the entry at (`level`, `pos`) is in memory (pending or cached).
    fn is_cached(&self, level: u8, pos: u64) -> bool {
        self.pending.contains_key(&(level, pos)) || lock(&self.cache).contains(&(level, pos))
    }

    /// The whole entry at (`level`, `pos`), every end included, parsed from its log (a
    /// pending entry keeps only the ends the index keeps).
    fn load_entry(&self, level: u8, pos: u64) -> Result<Arc<LogEntry>> {
        self.count(ReadEvent::EntryRead);
        Ok(Arc::new(self.log_of(level).read_entry(pos)?))
    }

    /// The index's listing for `path` among the level-`level` entries whose keys (end commits)
    /// lie in `(lo, hi]`, oldest first: entries ending at a strict ancestor (listed under that
    /// ancestor) and entries touching `path` or below it (listed under `path`). These are the
    /// design document's `LogSegment`s; their transaction numbers are read from the entries.
    pub fn segments(&self, path: &KPath, level: u8, lo: u64, hi: u64) -> Result<Vec<LogSegment>> {
        self.check_open()?;
        let found = self
            .index_with_ends(level)
            .candidates(level, path, lo, hi)?;
        let mut listed: Vec<(KPath, EntryRef, Option<bool>)> = found
            .ancestor_ends
            .iter()
            .map(|(depth, end)| {
                let ancestor = KPath::from_segments(path.segments()[..*depth].to_vec());
                (ancestor, end.entry, Some(end.independent))
            })
            .chain(found.touches.iter().map(|e| (path.clone(), *e, None)))
            .collect();
        // An entry ending above the path may also touch it: list it once, where it ends.
        crate::sort::sort_by_key(&mut listed, |(_, entry, above)| {
            (entry.key, above.is_none())
        });
        listed.dedup_by_key(|(_, entry, _)| entry.key);
        // A hollow entry stands for nothing itself (its run is read through the entries below).
        let listed = {
            let index = self.index();
            let mut kept = Vec::with_capacity(listed.len());
            for item in listed {
                if !index.is_hollow(level, item.1.key)? {
                    kept.push(item);
                }
            }
            kept
        };
        let span = span(self.options.divisor, level);
        listed
            .into_iter()
            .map(|(kinded_path, entry, ends_above)| {
                let start_commit = entry.key + 1 - span;
                Ok(LogSegment {
                    level,
                    start_commit,
                    start_tx: self.entry(start_commit)?.tx,
                    end_commit: entry.key,
                    end_tx: self.entry(entry.key)?.tx,
                    kinded_path,
                    log_position: entry.pos,
                    ends_above,
                })
            })
            .collect()
    }

    /// The level-0 entry of `commit`.
    pub fn entry(&self, commit: u64) -> Result<Arc<LogEntry>> {
        let found = self.index().get(0, commit)?;
        let entry = found.ok_or(StoreError::NoSuchCommit {
            commit,
            head: self.head,
        })?;
        self.load_entry(0, entry.pos)
    }

    /// Makes every commit durable and persists the index.
    pub fn flush(&mut self) -> Result<()> {
        self.check_writable()?;
        self.persist()
    }

    /// Syncs both logs, then appends what the index gained since the last save to
    /// `index.log` (nothing, when it gained nothing). A latched or read-only store never
    /// saves: its checkpoint could record bytes that are not durable.
    fn persist(&mut self) -> Result<()> {
        self.check_writable()?;
        self.sync_level0()?;
        self.sync_compact()?;
        self.seal_runs()?;
        let checkpoint = Checkpoint {
            max_commit: self.head,
            tx_seq: self.tx_seq,
            level0_end: self.level0.end(),
            compact_end: self.compact.end(),
        };
        if self.tail_due {
            // Loading skips the records before the last seal: save all that memory holds
            // beyond it.
            let mut tail = self
                .index()
                .added_in(0, self.index().sealed_upto(), u64::MAX);
            // In log order, as a replay checks it: level 0 first, then the compacted entries
            // by position (the levels' entries interleave in `compact.log`).
            crate::sort::sort_by_key(&mut tail, |(level, e, _)| (*level > 0, e.pos));
            let keys: Vec<(u8, u64)> = tail.iter().map(|(l, e, _)| (*l, e.pos)).collect();
            let offsets = self.offsets_of(&keys)?;
            let places =
                self.index_log
                    .save(checkpoint, &EntryList::of(&tail), &as_refs(&offsets))?;
            self.offsets.saved(places);
        } else if checkpoint != self.saved || !self.unsaved.is_empty() {
            let offsets = self.offsets_of(&self.unsaved_offsets)?;
            let places = self
                .index_log
                .save(checkpoint, &self.unsaved, &as_refs(&offsets))?;
            self.offsets.saved(places);
        }
        self.tail_due = false;
        self.unsaved = EntryList::default();
        self.unsaved_offsets.clear();
        self.saved = checkpoint;
        self.index_log.publish_seals()?;
        self.since_persist = 0;
        Ok(())
    }

    /// Seals every completed run not sealed yet whose entry at the seal level exists (see
    /// [`Options::seal_level`]).
    fn seal_runs(&mut self) -> Result<()> {
        let seal = self.index().seal();
        let sealed = self.seal_each_run(seal);
        // Memory drops the sealed runs once, however many there were (a rebuilt index seals
        // the whole history at once).
        self.index_mut().forget_sealed();
        sealed
    }

    fn seal_each_run(&mut self, seal: Seal) -> Result<()> {
        loop {
            let lo = self.index().sealed_upto();
            let Some(hi) = lo.checked_add(seal.span).filter(|&hi| hi <= self.head) else {
                return Ok(());
            };
            if self.index().get(seal.level, hi)?.is_none() || !self.compacted_in_order(lo, hi) {
                return Ok(());
            }
            self.seal_run(seal, lo, hi)?;
            self.tail_due = true;
        }
    }

    /// Whether every compacted entry of the run `(lo, hi]` comes before every later one in
    /// `compact.log`, as a seal's checkpoint needs. It always does in a log this build wrote
    /// (entries are built in key order); a log an older build rebuilt level by level after a
    /// crash may interleave them, and its runs are then left unsealed (in memory).
    fn compacted_in_order(&self, lo: u64, hi: u64) -> bool {
        let index = self.index();
        let compacted = |lo, hi| {
            index
                .positions_in(lo, hi)
                .into_iter()
                .filter(|(level, _)| *level > 0)
                .map(|(_, pos)| pos)
        };
        let last_in_run = compacted(lo, hi).max();
        let first_after = compacted(hi, u64::MAX).min();
        match (last_in_run, first_after) {
            (Some(last), Some(first)) => last < first,
            _ => true,
        }
    }

    /// Writes the table of run `(lo, hi]` and its seal record; from then on its entries below
    /// the seal level are looked up there.
    fn seal_run(&mut self, seal: Seal, lo: u64, hi: u64) -> Result<()> {
        // The table lists every end of the run: the ends an open deferred are filed first.
        let index = self.index_mut();
        for level in 0..index.depth() {
            index.materialize(level);
        }
        let index = self.index();
        let groups: Vec<Group> = (0..seal.level)
            .flat_map(|level| {
                index
                    .nodes_in(level, lo, hi)
                    .into_iter()
                    .map(move |(path, lists)| Group {
                        level,
                        key: PathKey::new(&path).into_bytes(),
                        lists,
                    })
            })
            .collect();
        // What memory keeps of the run (its entries at the seal level and above), and every
        // entry of the run, for its offset index.
        let kept = index.added_in(seal.level, lo, hi);
        let run = index.positions_in(lo, hi);
        let mut last_compacted = None;
        for level in 1..index.depth() {
            if let Some(e) = index.get(level, hi)? {
                last_compacted = Some(last_compacted.map_or(e.pos, |p: u64| p.max(e.pos)));
            }
        }
        let last_level0 = index.get(0, hi)?;
        drop(index);
        let (Some(last_level0), Some(last_compacted)) = (last_level0, last_compacted) else {
            return Err(corrupt(
                STORE_FILES[2],
                0,
                "a run to seal without its entries",
            ));
        };
        let level0_end = self.level0.frame_end(last_level0.pos)?;
        let compact_end = self.compact.frame_end(last_compacted)?;
        let (Some(level0_end), Some(compact_end)) = (level0_end, compact_end) else {
            return Err(corrupt(STORE_FILES[2], 0, "a run to seal beyond the logs"));
        };
        let checkpoint = Checkpoint {
            max_commit: hi,
            tx_seq: self.entry(hi)?.tx,
            level0_end,
            compact_end,
        };
        let offsets = self.offsets_of(&run)?;
        let offsets = as_refs(&offsets);
        let (table, places) = self
            .index_log
            .seal(
                seal,
                (lo, hi),
                encode_table(groups, lo),
                [last_level0.pos, last_compacted],
                checkpoint,
                &kept,
                &offsets,
            )
            .map_err(|e| self.latch_if_unknown(e))?;
        self.index_mut().push_table(table);
        self.offsets.saved(places);
        Ok(())
    }

    /// Flushes and releases the files (and the writer lock). A store latched by an earlier
    /// failure is released without flushing, and says so: [`StoreError::PreviousIo`] (under
    /// [`Durability::OnFlush`], commits since the last flush may be lost).
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let flushed = if self.options.read_only {
            Ok(())
        } else {
            // Refused on a latched store: nothing more is written.
            self.check_writable().and_then(|()| self.persist())
        };
        self.closed = true;
        self.level0.close()?;
        self.compact.close()?;
        self.index_log.close()?;
        flushed
    }

    /// Checks every frame of both logs (checksums, decoding, commit order), every block of the
    /// index's sealed tables, and that the state read through the index equals a replay of
    /// every commit. Returns the number of commits.
    pub fn verify(&mut self) -> Result<u64> {
        self.check_open()?;
        let head = self.head;
        let mut replay = Node::null();
        let mut expected = 1;
        let name = self.level0.name().to_owned();
        self.level0.verify_frames(|pos, entry| {
            expect_commit(&name, pos, &entry, expected)?;
            replay = patch_owned(std::mem::replace(&mut replay, Node::null()), &entry.patch)?;
            expected += 1;
            Ok(())
        })?;
        if expected != head + 1 {
            return Err(corrupt(
                &name,
                self.level0.end(),
                format!("the log holds {} commits, the index {head}", expected - 1),
            ));
        }
        self.compact.verify_frames(|_, _| Ok(()))?;
        self.index().verify_tables()?;
        let indexed = if head == 0 {
            None
        } else {
            self.read_at(&KPath::root(), head)?
        };
        if indexed.unwrap_or_else(Node::null) != replay {
            return Err(corrupt(
                self.level0.name(),
                0,
                "the indexed state differs from a replay of the log",
            ));
        }
        Ok(head)
    }
}

/// An entry pending compaction.
struct Pending {
    /// The entry, with only the ends the index keeps ([`outermost_positions`], found once,
    /// when it was indexed): all its composing needs, and what memory holds until then. A
    /// caller wanting every end reads the entry from its log ([`Store::load_entry`]).
    entry: Arc<LogEntry>,
    /// Its payload's length in its log.
    bytes: u64,
}

impl Pending {
    /// `entry` pending, its ends cut to those at the positions `kept`, in that order.
    fn new(mut entry: LogEntry, kept: &[usize], bytes: u64) -> Self {
        if kept.windows(2).all(|pair| pair[0] < pair[1]) {
            // In position order (usual): cut in place.
            let mut position = 0;
            let mut next = kept.iter().peekable();
            entry.ends.retain(|_| {
                let keep = next.next_if_eq(&&position).is_some();
                position += 1;
                keep
            });
        } else {
            let mut ends: Vec<Option<End>> = entry.ends.drain(..).map(Some).collect();
            entry.ends = kept
                .iter()
                .filter_map(|&i| ends.get_mut(i).and_then(Option::take))
                .collect();
        }
        Pending {
            entry: Arc::new(entry),
            bytes,
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Checks that the level-0 frame at `pos` of log `name` holds commit `expected`.
pub(super) fn expect_commit(name: &str, pos: u64, entry: &LogEntry, expected: u64) -> Result<()> {
    if entry.level == 0 && entry.commit == expected {
        return Ok(());
    }
    Err(corrupt(
        name,
        pos,
        format!(
            "expected commit {expected}, found level {} commit {}",
            entry.level, entry.commit
        ),
    ))
}

/// An entry's (level, position) and its offset index.
type KeyedOffsets = ((u8, u64), Arc<OffsetIndex>);

/// `offsets` as the index log's writer takes them.
fn as_refs(offsets: &[KeyedOffsets]) -> Vec<((u8, u64), &OffsetIndex)> {
    offsets.iter().map(|(key, o)| (*key, &**o)).collect()
}

/// How a store with `options` seals runs of its index.
fn seal_of(options: &Options) -> Seal {
    /// The fewest commits a run holds when the seal level is chosen: tables of a few hundred
    /// KiB, and a 4,096th of the history in memory.
    const MIN_RUN: u64 = 4096;
    let level = options.seal_level.unwrap_or_else(|| {
        (1..=u8::MAX)
            .find(|&k| span(options.divisor, k) >= MIN_RUN)
            .unwrap_or(1)
    });
    // Rows hold a key less its run's start in 31 bits: a run is at most 2^31 commits.
    let mut level = level.max(1);
    while level > 1 && span(options.divisor, level) > 1 << 31 {
        level -= 1;
    }
    if span(options.divisor, level) > 1 << 31 {
        // A divisor beyond 2^31: no run is sealed.
        return Seal::default();
    }
    Seal {
        level,
        span: span(options.divisor, level),
    }
}

/// `divisor^level`, saturating.
fn span(divisor: u64, level: u8) -> u64 {
    divisor.saturating_pow(u32::from(level))
}

/// An entry's payload, with its offset index when it is large.
fn encode_entry(entry: &LogEntry, min_bytes: usize) -> (Vec<u8>, Option<OffsetIndex>) {
    // A patch of many nodes is large: encode it once, with its offset index, rather than
    // encoding it plainly first to find out. Nodes of stored records average well under 64
    // bytes (a level entry of 256 small records has ~1,800 nodes in ~30 KB), so the plain
    // encoding is tried up to a node per 16 bytes of the threshold.
    if !super::classify::size_exceeds(&entry.patch, min_bytes / 16) {
        let wire = entry.to_wire();
        if wire.len() < min_bytes {
            return (wire.into_bytes(), None);
        }
    }
    let (bytes, offsets) = encode_indexed(&entry.to_tony());
    if bytes.len() < min_bytes {
        return (bytes, None);
    }
    (bytes, Some(offsets))
}

/// Refuses a patch that would not read back as itself once stored (see
/// [`check_storable`](crate::tony::check_storable)) or nests deeper than
/// [`MAX_COMMIT_DEPTH`], counting the segments of the path it applies at as levels.
fn check_patch(path: &KPath, patch: &Node) -> Result<()> {
    let budget = MAX_COMMIT_DEPTH.saturating_sub(path.len());
    crate::tony::check_storable(patch, budget).map_err(|e| match e {
        NotStorable::TooDeep { depth } => StoreError::TooDeep {
            depth: depth.saturating_add(path.len()),
            max: MAX_COMMIT_DEPTH,
        },
        NotStorable::Invalid { path: at, problem } => StoreError::InvalidValue {
            path: path.join(&at).to_string(),
            problem,
        },
    })
}
