//! The index: for every level, a trie of paths listing which entries end at or touch each path.
//!
//! For an entry, an *end* is a path where its patch determines the subtree (see
//! [`super::entry::End`]); the entry *touches* every end and every ancestor of one. A node keeps
//! two commit-ordered lists: entries ending here, and entries touching here or below. To read
//! `p`, the candidates are the touch list of `p` plus the end lists of `p`'s strict ancestors.

use std::collections::HashMap;

use super::entry::End;
use crate::kpath::{KPath, Segment};

/// An entry as the index knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef {
    /// The commit (level 0) or the last commit of the covered range (level >= 1).
    pub key: u64,
    /// Position of the entry's frame in its log.
    pub pos: u64,
}

/// An entry ending at a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndRef {
    /// The entry.
    pub entry: EntryRef,
    /// Whether its patch there ignores the earlier state.
    pub independent: bool,
}

/// Paths come from users, so the hasher is seeded per process (foldhash: fast on short keys).
#[derive(Default)]
struct Trie {
    children: HashMap<Segment, Trie, foldhash::fast::RandomState>,
    touch: Vec<EntryRef>,
    ends: Vec<EndRef>,
}

/// The entries of `list` (sorted by key) with keys in `(lo, hi]`.
fn in_range<T>(list: &[T], key: impl Fn(&T) -> u64, lo: u64, hi: u64) -> &[T] {
    let start = list.partition_point(|e| key(e) <= lo);
    let end = list.partition_point(|e| key(e) <= hi);
    &list[start..end.max(start)]
}

/// Inserts `item` into `list` (sorted by `key`) unless an item with its key is already there.
fn insert_sorted<T>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> u64) {
    let k = key(&item);
    match list.last() {
        None => list.push(item),
        Some(last) if key(last) < k => list.push(item),
        // The usual duplicate: the same entry again (one entry has many ends below a node).
        Some(last) if key(last) == k => {}
        Some(_) => {
            let at = list.partition_point(|e| key(e) < k);
            if list.get(at).is_none_or(|e| key(e) != k) {
                list.insert(at, item);
            }
        }
    }
}

/// Puts an entry's ends in the trie at `root` (the entry is listed already).
fn add_ends(root: &mut Trie, entry: EntryRef, ends: &[End]) {
    for end in ends {
        let mut node = &mut *root;
        for segment in end.path.segments() {
            // Look up before inserting: most children exist, and cloning the segment to
            // insert costs an atomic increment and decrement.
            if !node.children.contains_key(segment) {
                node.children.insert(segment.clone(), Trie::default());
            }
            let Some(child) = node.children.get_mut(segment) else {
                unreachable!("inserted above");
            };
            node = child;
            insert_sorted(&mut node.touch, entry, |e| e.key);
        }
        insert_sorted(
            &mut node.ends,
            EndRef {
                entry,
                independent: end.independent,
            },
            |e| e.entry.key,
        );
    }
}

/// What a read of one path must consider within one level and range.
#[derive(Default, Debug)]
pub struct Candidates {
    /// Entries ending at a strict ancestor: `(depth of the ancestor, end)`.
    pub ancestor_ends: Vec<(usize, EndRef)>,
    /// Entries touching the path or below it.
    pub touches: Vec<EntryRef>,
    /// Of those, the entries ending at the path itself.
    pub own_ends: Vec<EndRef>,
}

/// The index of one level.
#[derive(Default)]
pub struct LevelIndex {
    root: Trie,
    /// Entries listed in the level but whose ends are not in the trie yet, in the order added
    /// (see [`defer`](Self::defer)).
    deferred: Vec<(EntryRef, Vec<End>)>,
}

impl LevelIndex {
    /// Adds an entry with its ends, keeping every list in key order.
    pub fn add(&mut self, entry: EntryRef, ends: &[End]) {
        if !self.deferred.is_empty() {
            // Keep the order of additions: deferred entries enter the trie first.
            self.defer(entry, ends.to_vec());
            return;
        }
        insert_sorted(&mut self.root.touch, entry, |e| e.key);
        add_ends(&mut self.root, entry, ends);
    }

    /// Lists an entry in the level at once, but puts its ends in the trie only when a query
    /// needs them ([`materialize`](Self::materialize)): opening a store does not build the
    /// tries of compacted levels that only some reads use.
    pub fn defer(&mut self, entry: EntryRef, ends: Vec<End>) {
        insert_sorted(&mut self.root.touch, entry, |e| e.key);
        self.deferred.push((entry, ends));
    }

    /// Whether every entry's ends are in the trie.
    pub fn is_materialized(&self) -> bool {
        self.deferred.is_empty()
    }

    /// Puts the ends of deferred entries in the trie. They are forgotten only once all are
    /// in: a panic half-way leaves them deferred, and filing an entry's ends again changes
    /// nothing (every list keeps one item per key).
    pub fn materialize(&mut self) {
        for (entry, ends) in &self.deferred {
            add_ends(&mut self.root, *entry, ends);
        }
        self.deferred.clear();
    }

    /// Every entry of the level, in key order.
    pub fn entries(&self) -> &[EntryRef] {
        &self.root.touch
    }

    /// The entry with key `key`, if the level has it.
    pub fn get(&self, key: u64) -> Option<EntryRef> {
        let list = &self.root.touch;
        let i = list.partition_point(|e| e.key < key);
        list.get(i).filter(|e| e.key == key).copied()
    }

    /// The newest entry with a key in `(lo, hi]` that touches `path` or ends at an ancestor,
    /// with the depth of its shallowest end at the path or an ancestor when each of those ends
    /// is independent (the entry then determines the path), `None` as depth otherwise.
    /// Costs a binary search per node on the way, whatever the range holds.
    pub fn last_change(&self, path: &KPath, lo: u64, hi: u64) -> Option<(EntryRef, Option<usize>)> {
        debug_assert!(self.deferred.is_empty(), "query before materialize");
        // The nodes on the way: the ancestors' (for their end lists) and the path's own.
        let mut nodes: Vec<&Trie> = Vec::with_capacity(path.len() + 1);
        let mut node = &self.root;
        nodes.push(node);
        for segment in path.segments() {
            match node.children.get(segment) {
                Some(child) => {
                    node = child;
                    nodes.push(node);
                }
                None => break,
            }
        }
        let reached = nodes.len() == path.len() + 1;
        let ancestors = &nodes[..path.len().min(nodes.len())];
        let last_end = |node: &Trie| {
            in_range(&node.ends, |e| e.entry.key, lo, hi)
                .last()
                .copied()
        };
        let touch = if reached {
            in_range(&node.touch, |e| e.key, lo, hi).last().copied()
        } else {
            None
        };
        let entry = ancestors
            .iter()
            .filter_map(|n| last_end(n).map(|e| e.entry))
            .chain(touch)
            .max_by_key(|e| e.key)?;
        let end_of = |node: &Trie| {
            let i = node.ends.partition_point(|e| e.entry.key < entry.key);
            node.ends
                .get(i)
                .filter(|e| e.entry.key == entry.key)
                .copied()
        };
        let mut depth = None;
        let own = if reached { Some(node) } else { None };
        for (d, n) in ancestors.iter().copied().chain(own).enumerate() {
            if let Some(end) = end_of(n) {
                if !end.independent {
                    return Some((entry, None));
                }
                depth = Some(depth.unwrap_or(d));
            }
        }
        Some((entry, depth))
    }

    /// The candidates for reading `path` among entries with keys in `(lo, hi]` (after
    /// [`materialize`](Self::materialize)).
    pub fn candidates(&self, path: &KPath, lo: u64, hi: u64) -> Candidates {
        debug_assert!(self.deferred.is_empty(), "query before materialize");
        let mut out = Candidates::default();
        let mut node = &self.root;
        for (depth, segment) in path.segments().iter().enumerate() {
            out.ancestor_ends.extend(
                in_range(&node.ends, |e| e.entry.key, lo, hi)
                    .iter()
                    .map(|e| (depth, *e)),
            );
            match node.children.get(segment) {
                Some(child) => node = child,
                None => return out,
            }
        }
        out.touches
            .extend_from_slice(in_range(&node.touch, |e| e.key, lo, hi));
        out.own_ends
            .extend_from_slice(in_range(&node.ends, |e| e.entry.key, lo, hi));
        out
    }
}

/// The whole index: one [`LevelIndex`] per level.
#[derive(Default)]
pub struct Index {
    levels: Vec<LevelIndex>,
}

impl Index {
    /// The index of `level`, created empty if needed.
    pub fn level_mut(&mut self, level: u8) -> &mut LevelIndex {
        let level = usize::from(level);
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, LevelIndex::default);
        }
        &mut self.levels[level]
    }

    /// Whether the ends of `level` are all in its trie (see [`LevelIndex::materialize`]).
    pub fn has_ends(&self, level: u8) -> bool {
        self.level(level).is_none_or(LevelIndex::is_materialized)
    }

    /// Puts the deferred ends of `level` in its trie.
    pub fn materialize(&mut self, level: u8) {
        if let Some(index) = self.levels.get_mut(usize::from(level)) {
            index.materialize();
        }
    }

    /// The index of `level`, if it has any entries.
    pub fn level(&self, level: u8) -> Option<&LevelIndex> {
        self.levels.get(usize::from(level))
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
    }
}
