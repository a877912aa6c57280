//! [`Store`]: commits, reads at any commit, compaction, persistence and recovery.

use std::collections::HashMap;
use std::sync::Arc;

use super::classify::{classify, is_merge, IndexLimits};
use super::clock::now_ms;
use super::compact::compose;
use super::entry::{corrupt, End, LogEntry};
use super::error::{Result, StoreError};
use super::index::{EntryRef, Index};
use super::log::LogFile;
use super::offsets::{
    descend, encode_indexed, reader_at, scan_offsets, seek_to, OffsetIndex, RangeReader, SubDocRef,
    INDEXED_ENTRY_BYTES,
};
use super::patched::{Chunk, PatchedValue};
use super::persist::{self, Checkpoint};
use super::txbuf::TransactionBuffer;
use crate::kpath::{get, KPath, Segment};
use crate::patch::{
    arraydiff_source, matches, op_name, patch, plain_arraydiff, ElementSource, PatchError, SlotEdit,
};
use crate::storage::{BlockFile, StoreDir};
use crate::tony::{
    build_node, ChunkEncoder, Event, EventReader, JsonSink, Key, Node, NodeEvents, TextFormat,
    TokenSink,
};

/// The files of a store, in the order they are opened (the first one carries the writer lock).
pub const STORE_FILES: [&str; 4] = ["level0.log", "compact.log", "index.a", "index.b"];

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
    /// Entries whose payload is at least this long get an offset index (for streaming reads).
    pub offset_index_min_bytes: usize,
    /// Called during long work at open.
    pub on_progress: Option<Box<dyn FnMut(Progress)>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            divisor: 16,
            durability: Durability::EveryCommit,
            max_entry_bytes: 1 << 30,
            index_limits: IndexLimits::default(),
            persist_every: 1000,
            offset_index_min_bytes: INDEXED_ENTRY_BYTES,
            on_progress: None,
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

/// How many parsed entries the cache keeps (least recently used ones go first).
const CACHE_ENTRIES: usize = 4096;

/// A versioned Tony document store on a [`StoreDir`].
pub struct Store {
    level0: LogFile,
    compact: LogFile,
    slots: [Box<dyn BlockFile>; 2],
    slot_commits: [Option<u64>; 2],
    index: Index,
    /// The state at the head, built on first need (a read-only open never builds it).
    state: Option<Node>,
    head: u64,
    tx_seq: u64,
    options: Options,
    /// Parsed entries by (level, position), with when each was last used.
    cache: HashMap<(u8, u64), (Arc<LogEntry>, u64)>,
    cache_clock: u64,
    /// Offset indexes of large entries, by (level, position).
    offsets: HashMap<(u8, u64), Arc<OffsetIndex>>,
    stats: Stats,
    since_persist: u64,
    closed: bool,
}

impl Store {
    /// Opens (creating if empty) the store in `dir`: loads the persisted index, indexes what
    /// the logs hold beyond it (or everything, if the index is missing or corrupt), cuts off a
    /// torn log tail, and builds any compaction entries a crash left out.
    pub fn open(dir: &dyn StoreDir, mut options: Options) -> Result<Store> {
        if options.divisor < 2 {
            options.divisor = 2;
        }
        let level0 = LogFile::new(dir.open(STORE_FILES[0])?, options.max_entry_bytes)?;
        let compact = LogFile::new(dir.open(STORE_FILES[1])?, options.max_entry_bytes)?;
        let slots = [dir.open(STORE_FILES[2])?, dir.open(STORE_FILES[3])?];
        let mut store = Store {
            level0,
            compact,
            slots,
            slot_commits: [None, None],
            index: Index::default(),
            state: None,
            head: 0,
            tx_seq: 0,
            options,
            cache: HashMap::new(),
            cache_clock: 0,
            offsets: HashMap::new(),
            stats: Stats {
                recovery: "none",
                ..Stats::default()
            },
            since_persist: 0,
            closed: false,
        };
        store.recover()?;
        Ok(store)
    }

    fn recover(&mut self) -> Result<()> {
        let mut best: Option<persist::Loaded> = None;
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(loaded) = persist::load(&**slot)? {
                self.slot_commits[i] = Some(loaded.checkpoint.max_commit);
                if best
                    .as_ref()
                    .is_none_or(|b| loaded.checkpoint.max_commit > b.checkpoint.max_commit)
                {
                    best = Some(loaded);
                }
            }
        }
        if let Some(best) = &best {
            // A slot is written only after both logs are synced: a log shorter than the newest
            // slot records has lost acknowledged commits. Say so rather than serve less.
            let recorded = &best.checkpoint;
            for (log, end) in [
                (&self.level0, recorded.level0_end),
                (&self.compact, recorded.compact_end),
            ] {
                if log.end() < end {
                    return Err(corrupt(
                        log.name(),
                        log.end(),
                        format!(
                            "the file ends early: the index (commit {}) records {end} bytes of \
                             synced entries (delete index.a and index.b to keep what remains)",
                            recorded.max_commit
                        ),
                    ));
                }
            }
        }
        let persist::Loaded {
            checkpoint,
            index,
            offsets,
        } = best.unwrap_or_default();
        let full = checkpoint == Checkpoint::default();
        self.index = index;
        self.tx_seq = checkpoint.tx_seq;
        self.head = self.index.head();
        let total = (self.level0.end() - checkpoint.level0_end)
            + (self.compact.end() - checkpoint.compact_end);
        self.offsets = offsets;
        let scanned_level0 = self.scan_level0(checkpoint.level0_end, total)?;
        let scanned_compact = self.scan_compact(
            checkpoint.compact_end,
            total,
            self.level0.end() - checkpoint.level0_end,
        )?;
        self.index_large_entries(checkpoint)?;
        self.stats.recovery = match (full && self.head > 0, scanned_level0 + scanned_compact > 0) {
            (true, _) => "full",
            (false, true) => "incremental",
            (false, false) => "none",
        };
        let built = self.build_missing_levels()?;
        if scanned_level0 + scanned_compact + built > 0 {
            self.persist()?;
        }
        Ok(())
    }

    /// The state at the head, building it from the log the first time.
    fn head_state(&mut self) -> Result<Node> {
        if let Some(state) = &self.state {
            return Ok(state.clone());
        }
        let state = if self.head == 0 {
            Node::null()
        } else {
            self.read_at(&KPath::root(), self.head)?
                .unwrap_or_else(Node::null)
        };
        self.state = Some(state.clone());
        Ok(state)
    }

    fn progress(&mut self, done: u64, total: u64) {
        if let Some(report) = self.options.on_progress.as_mut() {
            report(Progress {
                phase: "index",
                done,
                total,
            });
        }
    }

    /// Builds the offset indexes of large entries the scans found beyond the checkpoint.
    fn index_large_entries(&mut self, checkpoint: Checkpoint) -> Result<()> {
        for level in 0..self.index.depth() {
            let (log, from) = if level == 0 {
                (&self.level0, checkpoint.level0_end)
            } else {
                (&self.compact, checkpoint.compact_end)
            };
            let Some(entries) = self.index.level(level) else {
                continue;
            };
            for e in entries.entries().iter().filter(|e| e.pos >= from) {
                let (payload, len) = log.frame_extent(e.pos)?;
                if len >= self.options.offset_index_min_bytes as u64 {
                    let reader = RangeReader::new(log.shared_file(), payload, payload + len);
                    let offsets = scan_offsets(reader, len)
                        .ok_or_else(|| corrupt(log.name(), e.pos, "entry text does not stream"))?;
                    self.offsets.insert((level, e.pos), Arc::new(offsets));
                }
            }
        }
        Ok(())
    }

    /// Indexes level-0 entries from `from`; returns how many.
    fn scan_level0(&mut self, from: u64, total: u64) -> Result<u64> {
        let mut count = 0;
        let mut expected = self.head + 1;
        let mut added: Vec<(EntryRef, Vec<End>, u64)> = Vec::new();
        let name = self.level0.name().to_owned();
        self.level0.scan(from, |pos, entry| {
            if entry.level != 0 || entry.commit != expected {
                return Err(corrupt(
                    &name,
                    pos,
                    format!(
                        "expected commit {expected}, found level {} commit {}",
                        entry.level, entry.commit
                    ),
                ));
            }
            expected += 1;
            added.push((
                EntryRef {
                    key: entry.commit,
                    pos,
                },
                entry.ends,
                entry.tx,
            ));
            Ok(())
        })?;
        for (entry, ends, tx) in added {
            self.index.level_mut(0).add(entry, &ends);
            self.tx_seq = self.tx_seq.max(tx);
            self.head = entry.key;
            count += 1;
            if count % 1024 == 0 {
                self.progress(entry.pos - from, total);
            }
        }
        self.progress(self.level0.end() - from, total);
        Ok(count)
    }

    /// Indexes compacted entries from `from`; entries beyond the head (left by a lost level-0
    /// tail) are cut off. Returns how many were indexed.
    fn scan_compact(&mut self, from: u64, total: u64, done_before: u64) -> Result<u64> {
        let mut added: Vec<(u8, EntryRef, Vec<End>)> = Vec::new();
        let mut cut: Option<u64> = None;
        let (head, divisor) = (self.head, self.options.divisor);
        let name = self.compact.name().to_owned();
        self.compact.scan(from, |pos, entry| {
            let span = span(divisor, entry.level);
            if entry.level == 0
                || !entry.commit.is_multiple_of(span)
                || entry.start + span != entry.commit
            {
                return Err(corrupt(
                    &name,
                    pos,
                    format!(
                        "misaligned level {} entry ({}, {}]",
                        entry.level, entry.start, entry.commit
                    ),
                ));
            }
            if entry.commit > head || cut.is_some() {
                cut.get_or_insert(pos);
            } else {
                added.push((
                    entry.level,
                    EntryRef {
                        key: entry.commit,
                        pos,
                    },
                    entry.ends,
                ));
            }
            Ok(())
        })?;
        if let Some(at) = cut {
            self.compact.truncate_to(at)?;
        }
        let count = added.len() as u64;
        for (level, entry, ends) in added {
            self.index.level_mut(level).add(entry, &ends);
        }
        self.progress(done_before + (self.compact.end() - from), total);
        Ok(count)
    }

    /// The newest commit (0 for an empty store).
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            level0_bytes: self.level0.end(),
            compact_bytes: self.compact.end(),
            ..self.stats
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.closed {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// Commits `patches` (each applied at its path) as one transaction; returns the commit
    /// number. Nothing is written if the patches do not merge or do not apply.
    pub fn commit(&mut self, patches: Vec<(KPath, Node)>) -> Result<u64> {
        self.commit_with(patches, Vec::new())
    }

    /// [`commit`](Self::commit) with preconditions: each `(path, pattern)` must match the
    /// current state at `path` (see [`matches`](crate::patch::matches())), checked atomically with the write.
    pub fn commit_with(
        &mut self,
        patches: Vec<(KPath, Node)>,
        preconditions: Vec<(KPath, Node)>,
    ) -> Result<u64> {
        self.check_open()?;
        let mut buffer = TransactionBuffer::new();
        for (path, p) in patches {
            buffer.add(path, p);
        }
        let root = buffer
            .merge()?
            .ok_or_else(|| StoreError::Merge("a commit needs at least one patch".into()))?;
        let state = self.head_state()?;
        for (path, pattern) in &preconditions {
            let current = get(&state, path)
                .ok()
                .flatten()
                .cloned()
                .unwrap_or_else(Node::null);
            if !matches(&current, pattern) {
                return Err(StoreError::PreconditionFailed {
                    path: path.to_string(),
                });
            }
        }
        self.tx_seq += 1;
        let tx = self.tx_seq;
        self.commit_root(root, tx)
    }

    /// Writes a merged root patch as the next commit.
    pub(crate) fn commit_root(&mut self, root: Node, tx: u64) -> Result<u64> {
        self.check_open()?;
        let state = self.head_state()?;
        let new_state = patch(&state, &root)?;
        let ends = classify(&root, Some(&state), self.options.index_limits);
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
        let pos = self.level0.append(&payload)?;
        if let Some(offsets) = offsets {
            self.offsets.insert((0, pos), Arc::new(offsets));
        }
        if self.options.durability == Durability::EveryCommit {
            if let Err(e) = self.level0.sync() {
                let _ = self.level0.truncate_to(pos);
                return Err(e);
            }
        }
        self.index
            .level_mut(0)
            .add(EntryRef { key: commit, pos }, &entry.ends);
        self.remember(0, pos, Arc::new(entry));
        self.state = Some(new_state);
        self.head = commit;
        // The commit is durable now; compaction and index persistence can be retried later.
        let _ = self.compact_after(commit);
        self.since_persist += 1;
        if self.since_persist >= self.options.persist_every {
            let _ = self.persist();
        }
        Ok(commit)
    }

    /// Builds the compacted entries that commit `commit` completes.
    fn compact_after(&mut self, commit: u64) -> Result<()> {
        let mut level = 1u8;
        loop {
            let span = span(self.options.divisor, level);
            if span > commit || !commit.is_multiple_of(span) {
                return Ok(());
            }
            self.build_level(level, commit)?;
            level += 1;
        }
    }

    /// Builds every compacted entry for a completed range that is missing; returns how many.
    fn build_missing_levels(&mut self) -> Result<u64> {
        let mut built = 0;
        let mut level = 1u8;
        while span(self.options.divisor, level) <= self.head {
            let s = span(self.options.divisor, level);
            let mut key = s;
            while key <= self.head {
                if self.index.level(level).and_then(|l| l.get(key)).is_none() {
                    self.build_level(level, key)?;
                    built += 1;
                }
                key += s;
            }
            level += 1;
        }
        Ok(built)
    }

    /// Writes the level-`level` entry for the range ending at `key`.
    fn build_level(&mut self, level: u8, key: u64) -> Result<()> {
        let span = span(self.options.divisor, level);
        let lo = key - span;
        let mut parts: Vec<Arc<LogEntry>> = Vec::new();
        for piece in self.cover(lo, key, level - 1) {
            for entry in self.piece_entries(piece) {
                parts.push(self.load(piece.level, entry.pos)?);
            }
        }
        let patches: Vec<&Node> = parts.iter().map(|e| &e.patch).collect();
        let ends: Vec<&[End]> = parts.iter().map(|e| e.ends.as_slice()).collect();
        let head_state = if key == self.head {
            Some(self.head_state()?)
        } else {
            None
        };
        let mut state_after = |path: &KPath| -> Result<Option<Node>> {
            match &head_state {
                Some(state) => Ok(get(state, path).ok().flatten().cloned()),
                None => self.read_at(path, key),
            }
        };
        let (composed, composed_ends) = compose(&patches, &ends, &mut state_after)?;
        let entry = LogEntry {
            level,
            start: lo,
            commit: key,
            tx: 0,
            timestamp: 0,
            ends: composed_ends,
            patch: composed,
        };
        let (payload, offsets) = encode_entry(&entry, self.options.offset_index_min_bytes);
        let pos = self.compact.append(&payload)?;
        if let Some(offsets) = offsets {
            self.offsets.insert((level, pos), Arc::new(offsets));
        }
        if self.options.durability == Durability::EveryCommit {
            self.compact.sync()?;
        }
        self.index
            .level_mut(level)
            .add(EntryRef { key, pos }, &entry.ends);
        Ok(())
    }

    /// Covers `(lo, hi]` with the largest compacted entries available up to `max_level`,
    /// highest level first, then level-0 entries.
    fn cover(&self, lo: u64, hi: u64, max_level: u8) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut cursor = lo;
        let top = max_level.min(self.index.depth().saturating_sub(1));
        for level in (1..=top).rev() {
            let span = span(self.options.divisor, level);
            let Some(index) = self.index.level(level) else {
                continue;
            };
            while cursor.is_multiple_of(span)
                && cursor + span <= hi
                && index.get(cursor + span).is_some()
            {
                pieces.push(Piece {
                    level,
                    lo: cursor,
                    hi: cursor + span,
                });
                cursor += span;
            }
        }
        if cursor < hi {
            pieces.push(Piece {
                level: 0,
                lo: cursor,
                hi,
            });
        }
        pieces
    }

    /// The entries of a piece: one compacted entry, or the level-0 entries of its range.
    fn piece_entries(&self, piece: Piece) -> Vec<EntryRef> {
        let Some(index) = self.index.level(piece.level) else {
            return Vec::new();
        };
        if piece.level > 0 {
            return index.get(piece.hi).into_iter().collect();
        }
        let list = index.entries();
        let start = list.partition_point(|e| e.key <= piece.lo);
        let end = list.partition_point(|e| e.key <= piece.hi);
        list[start..end].to_vec()
    }

    fn load(&mut self, level: u8, pos: u64) -> Result<Arc<LogEntry>> {
        self.cache_clock += 1;
        if let Some((entry, used)) = self.cache.get_mut(&(level, pos)) {
            *used = self.cache_clock;
            return Ok(entry.clone());
        }
        let log = if level == 0 {
            &self.level0
        } else {
            &self.compact
        };
        let entry = Arc::new(log.read_entry(pos)?);
        self.stats.entries_read += 1;
        self.remember(level, pos, entry.clone());
        Ok(entry)
    }

    /// Caches a parsed entry, dropping the least recently used quarter when full.
    fn remember(&mut self, level: u8, pos: u64, entry: Arc<LogEntry>) {
        if self.cache.len() >= CACHE_ENTRIES {
            let mut ages: Vec<u64> = self.cache.values().map(|(_, used)| *used).collect();
            let (_, cutoff, _) = ages.select_nth_unstable(CACHE_ENTRIES / 4);
            let cutoff = *cutoff;
            self.cache.retain(|_, (_, used)| *used > cutoff);
        }
        self.cache.insert((level, pos), (entry, self.cache_clock));
    }

    /// Which entries a read of `path` at `commit` applies, in order.
    fn plan(&self, path: &KPath, commit: u64) -> Plan {
        let mut candidates: Vec<Candidate> = Vec::new();
        for piece in self.cover(0, commit, u8::MAX) {
            let Some(index) = self.index.level(piece.level) else {
                continue;
            };
            let found = index.candidates(path, piece.lo, piece.hi);
            // A dependent end above the path: read the ancestor whole, then descend.
            if let Some((depth, _)) = found
                .ancestor_ends
                .iter()
                .filter(|(_, e)| !e.independent)
                .min_by_key(|(d, _)| *d)
            {
                return Plan::Through(KPath::from_segments(path.segments()[..*depth].to_vec()));
            }
            let mut items: Vec<Candidate> = found
                .ancestor_ends
                .iter()
                .map(|(d, e)| Candidate {
                    level: piece.level,
                    entry: e.entry,
                    ancestor_depth: Some(*d),
                })
                .chain(found.touches.iter().map(|e| Candidate {
                    level: piece.level,
                    entry: *e,
                    ancestor_depth: None,
                }))
                .collect();
            items.sort_by_key(|c| c.entry.key);
            candidates.extend(items);
        }
        // Everything before the last replacement of an ancestor is irrelevant.
        match candidates.iter().rposition(|c| c.ancestor_depth.is_some()) {
            Some(i) => Plan::Replay {
                start: Some(candidates[i]),
                rest: candidates.split_off(i + 1),
            },
            None => Plan::Replay {
                start: None,
                rest: candidates,
            },
        }
    }

    /// The value at `path` as of commit `commit` (`None` where nothing is). Equals replaying
    /// commits `1..=commit` and reading `path`, but reads only entries that touch the path, its
    /// ancestors or descendants — and thanks to compaction a bounded number of them.
    pub fn read_at(&mut self, path: &KPath, commit: u64) -> Result<Option<Node>> {
        self.check_open()?;
        if commit > self.head {
            return Err(StoreError::NoSuchCommit {
                commit,
                head: self.head,
            });
        }
        if commit == 0 {
            return Ok(get(&Node::null(), path)?.cloned());
        }
        let (start, rest) = match self.plan(path, commit) {
            Plan::Through(ancestor) => {
                if let Some(found) = self.read_through_array_edits(&ancestor, path, commit)? {
                    self.stats.read_through_array_edits += 1;
                    return Ok(Some(found));
                }
                return self.read_through(&ancestor, path, commit);
            }
            Plan::Replay { start, rest } => (start, rest),
        };
        let mut value: Option<Node> = None;
        if let Some(c) = start {
            value = self.start_value(c, path)?;
        }
        for c in &rest {
            let entry = self.load(c.level, c.entry.pos)?;
            value = effect(&entry.patch, path.segments(), value)?;
        }
        match value {
            Some(found) => Ok(Some(found)),
            // The document itself always exists: a deleted root reads as null.
            None if path.is_root() => Ok(Some(Node::null())),
            // Nothing here: the parent says whether that is "absent" or a kind/range error.
            None => {
                let (parent, last) = path.split_last().expect("not the root");
                match self.read_at(&parent, commit)? {
                    Some(node) => Ok(get(&node, &last)?.cloned()),
                    None => Ok(None),
                }
            }
        }
    }

    /// The value at `path` as the entry of `c` (which replaced an ancestor) left it. A large
    /// entry that is not in the cache is not parsed whole: the value is built from the bytes
    /// its offset index points at.
    fn start_value(&mut self, c: Candidate, path: &KPath) -> Result<Option<Node>> {
        let key = (c.level, c.entry.pos);
        if !self.cache.contains_key(&key) && self.offsets.contains_key(&key) {
            if let Some((mut events, first)) = self.locate_in_entry(c, path)? {
                self.stats.read_from_offsets += 1;
                let file = if c.level == 0 {
                    self.level0.name()
                } else {
                    self.compact.name()
                };
                return build_node(first, &mut events)
                    .map(Some)
                    .map_err(|e| corrupt(file, c.entry.pos, format!("bad entry text: {e}")));
            }
        }
        let entry = self.load(c.level, c.entry.pos)?;
        let depth = c.ancestor_depth.expect("an ancestor end");
        let replaced = sub_patch(&entry.patch, &path.segments()[..depth])
            .map(independent_result)
            .transpose()?;
        let below = KPath::from_segments(path.segments()[depth..].to_vec());
        Ok(match replaced.flatten() {
            Some(node) => get(&node, &below)?.cloned(),
            None => None,
        })
    }

    /// Writes the value at `path` as of `commit` to `out` in wire form; returns whether there
    /// was a value. See [`open_stream`](Self::open_stream).
    pub fn read_stream(
        &mut self,
        path: &KPath,
        commit: u64,
        out: &mut dyn std::io::Write,
    ) -> Result<bool> {
        let Some(mut stream) = self.open_stream(path, commit, TextFormat::Wire)? else {
            return Ok(false);
        };
        let io = |e: std::io::Error| {
            StoreError::Storage(crate::storage::StorageError::Io {
                file: "output".into(),
                source: e,
            })
        };
        while let Some(chunk) = stream.next_chunk(64 * 1024)? {
            out.write_all(&chunk).map_err(io)?;
        }
        Ok(true)
    }

    /// The value at `path` as of `commit` as text, pulled in chunks; `None` where nothing is.
    /// When the value comes from one entry that has an offset index, with at most merges and
    /// array edits after it, it is streamed from the log (see `patched.rs`): memory stays
    /// bounded and only the bytes around the path are read. Otherwise the value is built, then
    /// encoded chunk by chunk.
    pub fn open_stream(
        &mut self,
        path: &KPath,
        commit: u64,
        format: TextFormat,
    ) -> Result<Option<ValueStream>> {
        self.check_open()?;
        if (1..=self.head).contains(&commit) {
            if let Some(value) = self.patched_from_log(path, commit)? {
                let source = match format {
                    TextFormat::Wire => Source::LogWire(
                        Box::new(value.with_raw_copies()),
                        TokenSink::new(Vec::new()),
                    ),
                    TextFormat::Json => Source::LogJson(Box::new(value), JsonSink::new()),
                };
                return Ok(Some(ValueStream { source }));
            }
        }
        Ok(self.read_at(path, commit)?.map(|value| ValueStream {
            source: Source::Built(ChunkEncoder::new(value, format)),
        }))
    }

    /// The value at `path` as of `commit` as structural events, pulled one at a time; `None`
    /// where nothing is. Served from the log like [`open_stream`](Self::open_stream) when it
    /// can be, so a consumer can walk a huge value with bounded memory.
    pub fn open_events(&mut self, path: &KPath, commit: u64) -> Result<Option<EventStream>> {
        self.check_open()?;
        if (1..=self.head).contains(&commit) {
            if let Some(value) = self.patched_from_log(path, commit)? {
                return Ok(Some(EventStream(Events::Log(Box::new(value)))));
            }
        }
        Ok(self
            .read_at(path, commit)?
            .map(|value| EventStream(Events::Built(NodeEvents::new(value)))))
    }

    /// The value at `path` as of `commit` as events streamed from the entry that last replaced
    /// an ancestor, with the later patches that reach the path applied on the fly; `None` when
    /// that entry has no offset index or a later patch could delete or rebuild the value.
    fn patched_from_log(
        &mut self,
        path: &KPath,
        commit: u64,
    ) -> Result<Option<PatchedValue<RangeReader>>> {
        let Plan::Replay { start, rest } = self.plan(path, commit) else {
            return Ok(None);
        };
        let mut patches = Vec::new();
        for c in &rest {
            let entry = self.load(c.level, c.entry.pos)?;
            patches.push(patch_at(&entry.patch, path.segments()).cloned());
        }
        // The base: the last replacement of an ancestor, or a later `!insert` at the path.
        let inserted = patches
            .iter()
            .rposition(|p| p.as_ref().and_then(op_name).as_deref() == Some("insert"));
        let (start, patches): (Candidate, Vec<Node>) = match (inserted, start) {
            (Some(i), _) => (
                Candidate {
                    ancestor_depth: Some(path.len()),
                    ..rest[i]
                },
                patches.drain(i + 1..).flatten().collect(),
            ),
            (None, Some(start)) => (start, patches.into_iter().flatten().collect()),
            (None, None) => return Ok(None),
        };
        // Merges and array edits keep the value in place; anything else may delete it.
        if !patches
            .iter()
            .all(|p| is_merge(p) || plain_arraydiff(p).is_some())
        {
            return Ok(None);
        }
        let Some((events, first)) = self.locate_in_entry(start, path)? else {
            return Ok(None);
        };
        self.stats.streamed_from_log += 1;
        if !patches.is_empty() {
            self.stats.streamed_patched += 1;
        }
        let file = if start.level == 0 {
            self.level0.name()
        } else {
            self.compact.name()
        };
        Ok(Some(PatchedValue::new(
            events,
            first,
            patches,
            file,
            start.entry.pos,
        )))
    }

    /// An event reader positioned after the first event of `path`'s value inside the entry of
    /// candidate `c` (which replaced an ancestor, or inserted the value at the path itself);
    /// `None` when that entry has no offset index or the shape needs the general path.
    fn locate_in_entry(
        &mut self,
        c: Candidate,
        path: &KPath,
    ) -> Result<Option<(EventReader<RangeReader>, Event)>> {
        let Some(offsets) = self.offsets.get(&(c.level, c.entry.pos)).cloned() else {
            return Ok(None);
        };
        let depth = c.ancestor_depth.expect("an ancestor end");
        let mut target = vec![Segment::Field("patch".into())];
        target.extend_from_slice(&path.segments()[..depth]);
        let ancestor = KPath::from_segments(target.clone());
        target.extend_from_slice(&path.segments()[depth..]);
        let target = KPath::from_segments(target);
        let log = if c.level == 0 {
            &self.level0
        } else {
            &self.compact
        };
        let (payload, len) = log.frame_extent(c.entry.pos)?;
        let reader_at = |r: &SubDocRef| reader_at(log.shared_file(), payload, len, r);
        // The patch node at the ancestor must be a plain value or an `!insert` of one.
        let Some(start) = offsets.nearest(&ancestor) else {
            return Ok(None);
        };
        let mut events = reader_at(start);
        let Some(ancestor_event) = descend(&mut events, &start.path, &ancestor) else {
            return Ok(None);
        };
        let tag = match &ancestor_event {
            Event::BeginObject(tag) | Event::BeginArray(tag) => tag.clone(),
            Event::Scalar(node) => node.tag.clone(),
            _ => None,
        };
        if depth == path.len() {
            // The value itself was inserted: it reads as the `!insert` yields it.
            if tag
                .as_deref()
                .and_then(|t| op_name(&Node::null().with_tag(t)))
                .as_deref()
                != Some("insert")
            {
                return Ok(None);
            }
            return Ok(Some((events, without_insert(ancestor_event)?)));
        }
        // A strict ancestor must be an `!insert`, under which every tag is data, or plain data
        // with no op between it and the value.
        match tag
            .and_then(|t| op_name(&Node::null().with_tag(&t)))
            .as_deref()
        {
            Some("insert") => {}
            Some(_) => return Ok(None),
            None if !offsets.plain_between(&ancestor, &target) => return Ok(None),
            None => {}
        }
        let from = offsets.seek(&target).unwrap_or(start);
        let mut events = reader_at(from);
        Ok(seek_to(&mut events, &from.path, &target).map(|first| (events, first)))
    }

    /// A read below an array that later `!arraydiff`s edited (`ancestor`, a dependent end above
    /// `path`), without building the array: the element index is mapped back through the edits
    /// to the array as it was before them, read there (recursively, so only the element's
    /// entries are touched), and the edits' patches of that element applied. `None` when the
    /// shape needs the general path (reading the array whole).
    fn read_through_array_edits(
        &mut self,
        ancestor: &KPath,
        path: &KPath,
        commit: u64,
    ) -> Result<Option<Node>> {
        let Some((Segment::Index(index), below)) = path.segments()[ancestor.len()..].split_first()
        else {
            return Ok(None);
        };
        let Plan::Replay { rest, .. } = self.plan(ancestor, commit) else {
            return Ok(None);
        };
        // The trailing run of entries whose patches at the array are plain `!arraydiff`s
        // whose patch slots keep their element.
        let mut stages: Vec<Vec<(u32, SlotEdit)>> = Vec::new();
        let mut before = None;
        for c in rest.iter().rev() {
            let entry = self.load(c.level, c.entry.pos)?;
            let Some(patch) = patch_at(&entry.patch, ancestor.segments()) else {
                continue;
            };
            match plain_arraydiff(patch) {
                Some(edits) if edits.iter().all(|(_, e)| keeps_element(e)) => {
                    stages.push(edits);
                    before = Some(c.entry.key - span(self.options.divisor, c.level));
                }
                _ => break,
            }
        }
        let Some(before) = before else {
            return Ok(None);
        };
        // `stages` runs newest first: map the index back through each.
        let mut index = *index;
        let mut element_patches: Vec<Node> = Vec::new();
        let mut put: Option<Node> = None;
        for edits in &stages {
            match arraydiff_source(edits, index) {
                ElementSource::Before(i) => index = i,
                ElementSource::Patched(i, patch) => {
                    element_patches.push(patch.clone());
                    index = i;
                }
                ElementSource::Put(value) => {
                    put = Some(value.clone());
                    break;
                }
            }
        }
        element_patches.reverse();
        let below = KPath::from_segments(below.to_vec());
        // Work at the path below the element when every element patch reaches it by merges;
        // else on the whole element.
        let exact = element_patches
            .iter()
            .all(|p| merges_down_to(p, below.segments()));
        let mut value = match put {
            Some(element) if exact => get(&element, &below).ok().flatten().cloned(),
            Some(element) => Some(element),
            None => {
                let element = ancestor.child(Segment::Index(index));
                let at = if exact { element.join(&below) } else { element };
                match self.read_at(&at, before) {
                    Ok(found) => found,
                    // The array was shorter, or not an array: the general path says how.
                    Err(_) => return Ok(None),
                }
            }
        };
        for patch in &element_patches {
            value = if exact {
                effect(patch, below.segments(), value)?
            } else {
                crate::patch::apply_to(value.as_ref(), patch)?
            };
        }
        // Absent or unreadable: the general path decides between `None` and an error.
        Ok(match (exact, value) {
            (_, None) => None,
            (true, found) => found,
            (false, Some(element)) => get(&element, &below).ok().flatten().cloned(),
        })
    }

    fn read_through(
        &mut self,
        ancestor: &KPath,
        path: &KPath,
        commit: u64,
    ) -> Result<Option<Node>> {
        let base = self.read_at(ancestor, commit)?;
        let rest = KPath::from_segments(path.segments()[ancestor.len()..].to_vec());
        Ok(match base {
            Some(node) => get(&node, &rest)?.cloned(),
            None => None,
        })
    }

    /// The value at `path` now.
    pub fn read(&mut self, path: &KPath) -> Result<Option<Node>> {
        self.check_open()?;
        let state = self.head_state()?;
        Ok(get(&state, path)?.cloned())
    }

    /// The commits whose patches changed `path` or anything below or above it, oldest first.
    pub fn history(&self, path: &KPath) -> Vec<u64> {
        let Some(level0) = self.index.level(0) else {
            return Vec::new();
        };
        let found = level0.candidates(path, 0, self.head);
        let mut commits: Vec<u64> = found
            .ancestor_ends
            .iter()
            .map(|(_, e)| e.entry.key)
            .chain(found.touches.iter().map(|e| e.key))
            .collect();
        commits.sort_unstable();
        commits.dedup();
        commits
    }

    /// The commits that changed `path` (as [`history`](Self::history)) at or before `commit`,
    /// newest first ([`Direction::Down`]), or at or after it, oldest first ([`Direction::Up`]).
    pub fn commits_at(
        &self,
        path: &KPath,
        commit: u64,
        direction: Direction,
    ) -> impl Iterator<Item = u64> {
        let history = self.history(path).into_iter();
        let selected: Vec<u64> = match direction {
            Direction::Down => history.filter(|&c| c <= commit).rev().collect(),
            Direction::Up => history.filter(|&c| c >= commit).collect(),
        };
        selected.into_iter()
    }

    /// The index's listing for `path` among the level-`level` entries whose keys (end commits)
    /// lie in `(lo, hi]`, oldest first: entries ending at a strict ancestor (listed under that
    /// ancestor) and entries touching `path` or below it (listed under `path`). These are the
    /// design document's `LogSegment`s; their transaction numbers are read from the entries.
    pub fn segments(
        &mut self,
        path: &KPath,
        level: u8,
        lo: u64,
        hi: u64,
    ) -> Result<Vec<LogSegment>> {
        self.check_open()?;
        let Some(index) = self.index.level(level) else {
            return Ok(Vec::new());
        };
        let found = index.candidates(path, lo, hi);
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
        listed.sort_by_key(|(_, entry, above)| (entry.key, above.is_none()));
        listed.dedup_by_key(|(_, entry, _)| entry.key);
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
    pub fn entry(&mut self, commit: u64) -> Result<Arc<LogEntry>> {
        let found = self.index.level(0).and_then(|l| l.get(commit));
        let entry = found.ok_or(StoreError::NoSuchCommit {
            commit,
            head: self.head,
        })?;
        self.load(0, entry.pos)
    }

    /// Makes every commit durable and persists the index.
    pub fn flush(&mut self) -> Result<()> {
        self.check_open()?;
        self.persist()
    }

    fn persist(&mut self) -> Result<()> {
        self.level0.sync()?;
        self.compact.sync()?;
        let slot = match self.slot_commits {
            [None, _] => 0,
            [_, None] => 1,
            [Some(a), Some(b)] => usize::from(b < a),
        };
        let checkpoint = Checkpoint {
            max_commit: self.head,
            tx_seq: self.tx_seq,
            level0_end: self.level0.end(),
            compact_end: self.compact.end(),
        };
        persist::save(&*self.slots[slot], &self.index, &self.offsets, checkpoint)?;
        self.slot_commits[slot] = Some(self.head);
        self.since_persist = 0;
        Ok(())
    }

    /// Flushes and releases the files (and the writer lock).
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.persist();
        self.closed = true;
        self.level0.close()?;
        self.compact.close()?;
        for slot in &self.slots {
            slot.close()?;
        }
        flushed
    }

    /// Checks every frame of both logs (checksums, decoding, commit order) and that the state
    /// read through the index equals a replay of every commit. Returns the number of commits.
    pub fn verify(&mut self) -> Result<u64> {
        self.check_open()?;
        let mut replay = Node::null();
        let positions: Vec<EntryRef> = self
            .index
            .level(0)
            .map(|l| l.entries().to_vec())
            .unwrap_or_default();
        for e in &positions {
            let entry = self.level0.read_entry(e.pos)?;
            replay = patch(&replay, &entry.patch)?;
        }
        for level in 1..self.index.depth() {
            let refs: Vec<EntryRef> = self
                .index
                .level(level)
                .map(|l| l.entries().to_vec())
                .unwrap_or_default();
            for e in refs {
                self.compact.read_entry(e.pos)?;
            }
        }
        let head = self.head;
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

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// `divisor^level`, saturating.
fn span(divisor: u64, level: u8) -> u64 {
    divisor.saturating_pow(u32::from(level))
}

/// The patch node at `segments` below `root`, following object merges only.
fn sub_patch<'a>(root: &'a Node, segments: &[Segment]) -> Option<&'a Node> {
    let mut node = root;
    for segment in segments {
        node = node
            .as_object()?
            .iter()
            .find(|(k, _)| Segment::of_key(k).as_ref() == Some(segment))
            .map(|(_, v)| v)?;
    }
    Some(node)
}

/// What an independent end yields whatever the state was.
fn independent_result(patch_node: &Node) -> Result<Option<Node>> {
    if op_name(patch_node).as_deref() == Some("replace") {
        let to = patch_node.get_field(&Key::str("to")).cloned();
        return Ok(Some(to.unwrap_or_else(Node::null)));
    }
    Ok(crate::patch::apply_to(None, patch_node)?)
}

/// The value at `segments` after applying `root` to a state whose value there is `value`. The
/// caller has handled entries that end above the path.
fn effect(
    root: &Node,
    segments: &[Segment],
    value: Option<Node>,
) -> Result<Option<Node>, PatchError> {
    match patch_at(root, segments) {
        Some(p) => crate::patch::apply_to(value.as_ref(), p),
        None => Ok(value),
    }
}

/// The part of patch `root` that applies at `segments`, following object merges; `None` when
/// the patch does not reach that far (it changes nothing there). An entry whose patch is not a
/// merge above the path is one without ends (an empty merge) or comes from a malformed index.
fn patch_at<'a>(root: &'a Node, segments: &[Segment]) -> Option<&'a Node> {
    let Some((first, rest)) = segments.split_first() else {
        return Some(root);
    };
    if !is_merge(root) {
        return None;
    }
    let (_, child) = root
        .as_object()?
        .iter()
        .find(|(k, _)| Segment::of_key(k).as_ref() == Some(first))?;
    patch_at(child, rest)
}

/// The first event of a value inserted by `!insert` (carried in `first`'s tag) as it reads
/// after the insert: the op is dropped from the tag and its argument, if any, added.
fn without_insert(first: Event) -> Result<Event> {
    let result_tag = |tag: &str| -> Result<Option<Arc<str>>> {
        let inserted = crate::patch::apply_to(None, &Node::null().with_tag(tag))?;
        Ok(inserted.and_then(|n| n.tag))
    };
    Ok(match first {
        Event::BeginObject(Some(tag)) => Event::BeginObject(result_tag(&tag)?),
        Event::BeginArray(Some(tag)) => Event::BeginArray(result_tag(&tag)?),
        Event::Scalar(node) => {
            Event::Scalar(crate::patch::apply_to(None, &node)?.unwrap_or_else(Node::null))
        }
        other => other,
    })
}

/// Whether applying `patch` and then reading `segments` equals reading `segments` first and
/// applying there what the patch has there ([`effect`]): every patch node above is a merge.
fn merges_down_to(patch: &Node, segments: &[Segment]) -> bool {
    let mut node = patch;
    for segment in segments {
        if !is_merge(node) {
            return false;
        }
        let child = node.as_object().and_then(|entries| {
            entries
                .iter()
                .find(|(k, _)| Segment::of_key(k).as_ref() == Some(segment))
        });
        match child {
            Some((_, child)) => node = child,
            None => return true,
        }
    }
    true
}

/// Whether an `!arraydiff` slot edit leaves one element where it acts (so indices can be
/// mapped without applying it): anything but a patch carrying an op.
fn keeps_element(edit: &SlotEdit) -> bool {
    !matches!(edit, SlotEdit::Patch(p) if op_name(p).is_some())
}

/// What a read plans to apply.
enum Plan {
    /// Read this ancestor whole and descend (a dependent end lies above the path).
    Through(KPath),
    /// Start from the result of `start` (an ancestor's replacement), then apply `rest`.
    Replay {
        start: Option<Candidate>,
        rest: Vec<Candidate>,
    },
}

/// An entry's payload, with its offset index when it is large.
fn encode_entry(entry: &LogEntry, min_bytes: usize) -> (Vec<u8>, Option<OffsetIndex>) {
    let wire = entry.to_wire();
    if wire.len() < min_bytes {
        return (wire.into_bytes(), None);
    }
    let (bytes, offsets) = encode_indexed(&entry.to_tony());
    (bytes, Some(offsets))
}

/// A value's events, pulled one at a time (see [`Store::open_events`]). Like [`ValueStream`],
/// it holds its own handle on the log file.
pub struct EventStream(Events);

enum Events {
    /// Read from an entry's bytes, patched on the fly.
    Log(Box<PatchedValue<RangeReader>>),
    /// Of a value built in memory.
    Built(NodeEvents),
}

impl EventStream {
    /// The next event, or `None` after the value's last.
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        match &mut self.0 {
            Events::Log(value) => value.next_event(),
            Events::Built(events) => Ok(events.next()),
        }
    }
}

/// A value's text, pulled chunk by chunk (see [`Store::open_stream`]). It holds its own handle
/// on the log file, so the store stays usable while it is read.
pub struct ValueStream {
    source: Source,
}

enum Source {
    /// Wire text of an entry's bytes (untouched containers copied raw), patched on the fly.
    LogWire(Box<PatchedValue<RangeReader>>, TokenSink<'static, Vec<u8>>),
    /// JSON of an entry's events, patched on the fly.
    LogJson(Box<PatchedValue<RangeReader>>, JsonSink),
    /// A value built in memory.
    Built(ChunkEncoder),
}

impl ValueStream {
    /// The next chunk (at least `min_bytes` unless it is the last), or `None` at the end.
    pub fn next_chunk(&mut self, min_bytes: usize) -> Result<Option<Vec<u8>>> {
        let chunk = match &mut self.source {
            Source::Built(encoder) => {
                return Ok(encoder.next_chunk(min_bytes).map(String::into_bytes))
            }
            Source::LogWire(value, sink) => {
                while sink.get_ref().len() < min_bytes {
                    let written = match value.next_chunk()? {
                        None => break,
                        Some(Chunk::Event(event)) => sink.write(&event),
                        Some(Chunk::Raw { bytes, closes }) => sink.write_raw(&bytes, closes),
                    };
                    written.map_err(|e| {
                        StoreError::Storage(crate::storage::StorageError::Io {
                            file: "stream".into(),
                            source: e,
                        })
                    })?;
                }
                sink.take_output()
            }
            Source::LogJson(value, sink) => {
                while sink.pending().len() < min_bytes {
                    match value.next_event()? {
                        None => break,
                        Some(event) => sink.write(&event),
                    }
                }
                sink.take_output().into_bytes()
            }
        };
        Ok((!chunk.is_empty()).then_some(chunk))
    }
}
