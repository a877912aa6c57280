//! The whole index: per level, a trie in memory of what is not sealed, and the sealed tables
//! of completed runs (see [`super::sealed`]). Every lookup that may reach a sealed run reads
//! its table and returns its I/O and checksum errors.

use std::sync::Arc;

use super::entry::End;
use super::error::{Result, StoreError};
use super::sealed::{DirRecord, PathKey, TableRef, TableView, Tables};
use super::trie::{self, Nodes};
pub use super::trie::{Candidates, EndRef, EntryRef, LevelIndex, NodeLists};
use crate::kpath::KPath;

/// Which runs are sealed: those of `span = divisor^level` commits, at the levels below
/// `level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seal {
    /// The seal level `k`: entries of levels below it are sealed with their run.
    pub level: u8,
    /// Commits per run: `divisor^k`.
    pub span: u64,
}

impl Default for Seal {
    fn default() -> Self {
        Seal {
            level: u8::MAX,
            span: u64::MAX,
        }
    }
}

/// The index: one [`LevelIndex`] per level for what memory holds, and the sealed tables.
#[derive(Default)]
pub struct Index {
    levels: Vec<LevelIndex>,
    seal: Seal,
    /// The sealed runs, in order from commit 0 on.
    tables: Vec<TableRef>,
    reader: Option<Arc<Tables>>,
}

impl Index {
    /// An empty index sealing runs as `seal` says, its tables read through `reader`.
    pub fn new(seal: Seal, reader: Arc<Tables>) -> Index {
        Index {
            levels: Vec::new(),
            seal,
            tables: Vec::new(),
            reader: Some(reader),
        }
    }

    /// How runs are sealed.
    pub fn seal(&self) -> Seal {
        self.seal
    }

    /// Checks every block of every sealed table against its checksum.
    pub fn verify_tables(&self) -> Result<()> {
        for table in &self.tables {
            self.view(*table)?.verify()?;
        }
        Ok(())
    }

    /// How many entries memory holds, at every level.
    pub fn in_memory(&self) -> u64 {
        self.levels.iter().map(|l| l.entries().len() as u64).sum()
    }

    /// The last commit of the sealed runs (0 when none is).
    pub fn sealed_upto(&self) -> u64 {
        self.tables.last().map_or(0, |t| t.hi)
    }

    /// Records that `table` now holds its run's entries at the levels below the seal level,
    /// and forgets them in memory. The run must follow the last sealed one.
    pub fn add_table(&mut self, table: TableRef) {
        self.push_table(table);
        self.forget_sealed();
    }

    /// Records that `table` holds its run's entries at the levels below the seal level: they
    /// are looked up there from now on, and memory may drop them ([`forget_sealed`](Self::forget_sealed)).
    pub fn push_table(&mut self, table: TableRef) {
        debug_assert_eq!(table.lo, self.sealed_upto());
        self.tables.push(table);
    }

    /// Forgets in memory the entries below the seal level that sealed tables hold.
    pub fn forget_sealed(&mut self) {
        let upto = self.sealed_upto();
        for level in 0..self.seal.level.min(self.depth()) {
            self.level_mut(level).retain_keys(|key| key > upto);
        }
    }

    /// Forgets every entry with a key after `key`, at every level (a replay reaching a seal
    /// record drops what it replaced).
    pub fn forget_after(&mut self, key: u64) {
        for level in &mut self.levels {
            level.retain_keys(|k| k <= key);
        }
    }

    /// The index of `level` in memory, created empty if needed.
    pub fn level_mut(&mut self, level: u8) -> &mut LevelIndex {
        let level = usize::from(level);
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, LevelIndex::default);
        }
        &mut self.levels[level]
    }

    /// The index of `level` in memory, if it has any entries.
    pub fn level(&self, level: u8) -> Option<&LevelIndex> {
        self.levels.get(usize::from(level))
    }

    /// Whether the ends of `level` are all in its trie (and, where sealed runs are looked up,
    /// those of the seal level, whose entries tell which runs to look in).
    pub fn has_ends(&self, level: u8) -> bool {
        let filed = |l: u8| self.level(l).is_none_or(LevelIndex::is_materialized);
        filed(level)
            && (self.tables.is_empty() || level >= self.seal.level || filed(self.seal.level))
    }

    /// Puts the deferred ends of `level` (and of the seal level, see [`has_ends`](Self::has_ends)) in
    /// their tries.
    pub fn materialize(&mut self, level: u8) {
        for l in [level, self.seal.level] {
            if let Some(index) = self.levels.get_mut(usize::from(l)) {
                index.materialize();
            }
        }
    }

    /// How many levels exist (including empty ones below the highest).
    pub fn depth(&self) -> u8 {
        self.levels.len() as u8
    }

    /// The newest commit indexed at level 0.
    pub fn head(&self) -> u64 {
        self.level(0)
            .and_then(|l| l.entries().last())
            .map_or(0, |e| e.key)
            .max(self.sealed_upto())
    }

    /// Whether entries of `level` with key `key` are in a sealed table.
    fn is_sealed(&self, level: u8, key: u64) -> bool {
        level < self.seal.level && key <= self.sealed_upto()
    }

    /// The sealed run holding commit `key`.
    fn table_of(&self, key: u64) -> Option<TableRef> {
        let i = key.checked_sub(1)? / self.seal.span;
        self.tables.get(usize::try_from(i).ok()?).copied()
    }

    /// A view for lookups in `table`.
    fn view(&self, table: TableRef) -> Result<TableView<'_>> {
        match &self.reader {
            Some(reader) => Ok(reader.view(table)),
            None => Err(StoreError::Corrupt {
                file: "index.log".into(),
                offset: table.pos,
                reason: "a sealed table without its file".into(),
            }),
        }
    }

    /// The entry of `level` with key `key`, if there is one.
    pub fn get(&self, level: u8, key: u64) -> Result<Option<EntryRef>> {
        if !self.is_sealed(level, key) {
            return Ok(self.level(level).and_then(|l| l.get(key)));
        }
        let Some(table) = self.table_of(key) else {
            return Ok(None);
        };
        let mut view = self.view(table)?;
        let Some(root) = view.node(level, &[])? else {
            return Ok(None);
        };
        view.last_touch_in(root, key.saturating_sub(1), key)
    }

    /// Whether the compacted entry of `level` with key `key` is *hollow*: listed without ends,
    /// it stands for nothing itself, and its run is read through the entries below it (a
    /// composition that would only have copied them, see `Store::build_level`). A sealed
    /// table does not list hollow entries, and a sealed run is complete: there, an entry it
    /// does not list is hollow. Level 0 has none.
    pub fn is_hollow(&self, level: u8, key: u64) -> Result<bool> {
        if level == 0 {
            return Ok(false);
        }
        if self.is_sealed(level, key) {
            return Ok(self.get(level, key)?.is_none());
        }
        Ok(self.level(level).is_some_and(|l| l.is_endless(key)))
    }

    /// The entries of `level` with keys in `(lo, hi]`, in key order.
    pub fn entries_in(&self, level: u8, lo: u64, hi: u64) -> Result<Vec<EntryRef>> {
        let mut out = Vec::new();
        if level < self.seal.level {
            for table in self.tables_in(lo, hi) {
                let mut view = self.view(table)?;
                if let Some(root) = view.node(level, &[])? {
                    out.extend(view.touches_in(root, lo, hi)?);
                }
            }
        }
        if let Some(memory) = self.level(level) {
            out.extend_from_slice(memory.entries_in(lo, hi));
        }
        Ok(out)
    }

    /// The sealed runs overlapping `(lo, hi]`, oldest first.
    fn tables_in(&self, lo: u64, hi: u64) -> impl Iterator<Item = TableRef> + '_ {
        self.tables
            .iter()
            .copied()
            .filter(move |t| t.hi > lo && t.lo < hi)
    }

    /// The level-0 entry with a key in `(lo, hi]` that last touched `path` or ended at an
    /// ancestor, as [`LevelIndex::last_change`] finds it; sealed runs are looked in newest
    /// first, only where the run's level-`k` entry (in memory) touches the path or ends above
    /// it — every change inside a run does so in the run's composed entry.
    pub fn last_change(
        &self,
        path: &KPath,
        lo: u64,
        hi: u64,
    ) -> Result<Option<(EntryRef, Option<usize>)>> {
        let upto = self.sealed_upto();
        if hi > upto.max(lo) {
            if let Some(found) = self
                .level(0)
                .and_then(|l| l.last_change(path, lo.max(upto), hi))
            {
                return Ok(Some(found));
            }
        }
        let key = PathKey::new(path.segments());
        let mut top = hi.min(upto);
        // The run holding `top` is asked first, whatever the summary says: a path read at a
        // commit was usually changed in its run, and the run's own nodes answer that at once.
        // The summary then skips the older runs that do not touch the path.
        let mut table = (top > lo).then(|| self.table_of(top)).flatten();
        while let Some(run) = table {
            let mut nodes = self.table_nodes(run, 0, path, &key)?;
            if let Some(found) = trie::last_change(&mut nodes, path.len(), lo, top)? {
                return Ok(Some(found));
            }
            top = run.lo;
            table = (top > lo)
                .then(|| self.newest_run_touching(path, lo, top))
                .flatten();
        }
        Ok(None)
    }

    /// The newest sealed run overlapping `(lo, hi]` whose composed entry touches `path` or
    /// ends above it (every run, when the summary level is not in memory).
    fn newest_run_touching(&self, path: &KPath, lo: u64, hi: u64) -> Option<TableRef> {
        let span = self.seal.span;
        let first = lo / span * span;
        let last = hi.div_ceil(span).saturating_mul(span);
        // A hollow entry (a changed seal level can leave them at this level) summarises
        // nothing: with one in the range, every run is asked.
        let summary = self
            .level(self.seal.level)
            .filter(|s| s.get(last).is_some() && !s.has_endless_in(first, last));
        match summary {
            Some(summary) => {
                let (entry, _) = summary.last_change(path, first, last)?;
                self.table_of(entry.key)
            }
            None => self.table_of(hi),
        }
    }

    /// The nodes on the way to `path` (its key `key`) in `table`, at `level`. Only the nodes
    /// that may list an end are looked up: the run's composed entry (in memory) ends at or
    /// above every end of the run's entries, so the ancestors above its shallowest end on the
    /// path (all of them, if it ends at none) hold no end of theirs and stand as nodes with
    /// empty lists.
    fn table_nodes(
        &self,
        table: TableRef,
        level: u8,
        path: &KPath,
        key: &PathKey,
    ) -> Result<TableNodes<'_>> {
        let len = path.len();
        let summary = self
            .level(self.seal.level)
            .filter(|s| s.get(table.hi).is_some() && !s.is_endless(table.hi));
        let mut view = self.view(table)?;
        let mut nodes = Vec::with_capacity(len + 1);
        let reached = match summary {
            Some(summary) => {
                let shallowest = summary.ends_above(path, table.hi).into_iter().min();
                nodes.resize(len, None);
                for depth in shallowest.unwrap_or(len)..len {
                    if let Some(slot) = nodes.get_mut(depth) {
                        *slot = view.node(level, key.prefix(depth))?;
                    }
                }
                let own = view.node(level, key.prefix(len))?;
                nodes.push(own);
                // Without the path's own node, its ancestors still stand (their lists hold
                // no end, or the ones just read).
                if own.is_some() {
                    len + 1
                } else {
                    len
                }
            }
            None => {
                for depth in 0..=len {
                    match view.node(level, key.prefix(depth))? {
                        Some(node) => nodes.push(Some(node)),
                        None => break,
                    }
                }
                nodes.len()
            }
        };
        Ok(TableNodes {
            view,
            nodes,
            reached,
        })
    }

    /// The candidates for reading `path` among the entries of `level` with keys in `(lo, hi]`.
    pub fn candidates(&self, level: u8, path: &KPath, lo: u64, hi: u64) -> Result<Candidates> {
        let mut out = Candidates::default();
        let upto = self.sealed_upto();
        if level < self.seal.level && lo < upto {
            let key = PathKey::new(path.segments());
            for table in self.runs_touching(path, lo, hi.min(upto)) {
                let mut nodes = self.table_nodes(table, level, path, &key)?;
                let found = trie::candidates(&mut nodes, path.len(), lo, hi)?;
                out.ancestor_ends.extend(found.ancestor_ends);
                out.touches.extend(found.touches);
                out.own_ends.extend(found.own_ends);
            }
        }
        let from = if level < self.seal.level {
            lo.max(upto)
        } else {
            lo
        };
        if hi > from {
            if let Some(memory) = self.level(level) {
                let found = memory.candidates(path, from, hi);
                out.ancestor_ends.extend(found.ancestor_ends);
                out.touches.extend(found.touches);
                out.own_ends.extend(found.own_ends);
            }
        }
        Ok(out)
    }

    /// The sealed runs overlapping `(lo, hi]` that may hold entries touching `path` or ending
    /// above it, oldest first.
    fn runs_touching(&self, path: &KPath, lo: u64, hi: u64) -> Vec<TableRef> {
        let span = self.seal.span;
        let first = lo / span * span;
        let last = hi.div_ceil(span).saturating_mul(span);
        let Some(summary) = self.level(self.seal.level) else {
            return self.tables_in(lo, hi).collect();
        };
        let found = summary.candidates(path, first, last);
        let mut keys: Vec<u64> = found
            .ancestor_ends
            .iter()
            .map(|(_, e)| e.entry.key)
            .chain(found.touches.iter().map(|e| e.key))
            .collect();
        // A run whose composed entry is missing from memory, or hollow (a changed seal level
        // can leave them at this level), cannot be ruled out.
        let mut run = first;
        while run < last {
            run = run.saturating_add(span);
            if summary.get(run).is_none() || summary.is_endless(run) {
                keys.push(run);
            }
        }
        crate::sort::sort_by_key(&mut keys, |k| *k);
        keys.dedup();
        keys.into_iter()
            .filter_map(|k| self.table_of(k))
            .filter(|t| t.hi > lo && t.lo < hi)
            .collect()
    }

    /// The entries with keys in `(lo, hi]` that memory holds at `from_level` and above, each
    /// with its ends (as the index keeps them), in level then key order: what a save or a seal
    /// writes.
    pub fn added_in(&self, from_level: u8, lo: u64, hi: u64) -> Vec<(u8, EntryRef, Vec<End>)> {
        let mut out = Vec::new();
        for (level, index) in self.levels.iter().enumerate().skip(usize::from(from_level)) {
            for (entry, ends) in index.added_in(lo, hi) {
                out.push((level as u8, entry, ends));
            }
        }
        out
    }

    /// (level, position) of every entry with a key in `(lo, hi]` that memory holds.
    pub fn positions_in(&self, lo: u64, hi: u64) -> Vec<(u8, u64)> {
        let mut out = Vec::new();
        for (level, index) in self.levels.iter().enumerate() {
            out.extend(
                index
                    .entries_in(lo, hi)
                    .iter()
                    .map(|e| (level as u8, e.pos)),
            );
        }
        out
    }

    /// The nodes of `level`'s trie with entries in `(lo, hi]`, for a sealed table. A compacted
    /// level's hollow entries are left out (see [`is_hollow`](Self::is_hollow)).
    pub fn nodes_in(
        &self,
        level: u8,
        lo: u64,
        hi: u64,
    ) -> Vec<(Vec<crate::kpath::Segment>, NodeLists)> {
        let Some(index) = self.level(level) else {
            return Vec::new();
        };
        let mut nodes = index.nodes_in(lo, hi);
        if level > 0 {
            for (path, lists) in &mut nodes {
                if path.is_empty() {
                    lists.touch.retain(|e| !index.is_endless(e.key));
                }
            }
            nodes.retain(|(_, lists)| !lists.touch.is_empty());
        }
        nodes
    }
}

/// The nodes on the way to a path in a sealed table (`None`: a node whose lists are not
/// read, known to hold no end).
struct TableNodes<'a> {
    view: TableView<'a>,
    nodes: Vec<Option<DirRecord>>,
    reached: usize,
}

impl<'a> TableNodes<'a> {
    /// `lookup` of the node of `depth`, or nothing listed where that node is not read.
    fn on<T: Default>(
        &mut self,
        depth: usize,
        lookup: impl FnOnce(&mut TableView<'a>, DirRecord) -> Result<T>,
    ) -> Result<T> {
        match self.nodes.get(depth).copied().flatten() {
            Some(node) => lookup(&mut self.view, node),
            None => Ok(T::default()),
        }
    }
}

impl Nodes for TableNodes<'_> {
    type Error = StoreError;
    fn reached(&self) -> usize {
        self.reached
    }
    fn ends_in(&mut self, depth: usize, lo: u64, hi: u64) -> Result<Vec<EndRef>> {
        self.on(depth, |view, node| view.ends_in(node, lo, hi))
    }
    fn last_end_in(&mut self, depth: usize, lo: u64, hi: u64) -> Result<Option<EndRef>> {
        self.on(depth, |view, node| view.last_end_in(node, lo, hi))
    }
    fn end_of(&mut self, depth: usize, key: u64) -> Result<Option<EndRef>> {
        self.on(depth, |view, node| view.end_of(node, key))
    }
    fn touches_in(&mut self, depth: usize, lo: u64, hi: u64) -> Result<Vec<EntryRef>> {
        self.on(depth, |view, node| view.touches_in(node, lo, hi))
    }
    fn last_touch_in(&mut self, depth: usize, lo: u64, hi: u64) -> Result<Option<EntryRef>> {
        self.on(depth, |view, node| view.last_touch_in(node, lo, hi))
    }
}
