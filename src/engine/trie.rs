//! The index of one level in memory: a trie of paths listing which entries end at or touch
//! each path, and the lookups shared with sealed tables ([`Nodes`]).
//!
//! For an entry, an *end* is a path where its patch determines the subtree (see
//! [`super::entry::End`]); the entry *touches* every end and every ancestor of one. A node keeps
//! two commit-ordered lists: entries ending here, and entries touching here or below. To read
//! `p`, the candidates are the touch list of `p` plus the end lists of `p`'s strict ancestors.

use hashbrown::HashMap;

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
fn add_ends<'e>(root: &mut Trie, entry: EntryRef, ends: impl IntoIterator<Item = &'e End>) {
    for end in ends {
        let mut node = &mut *root;
        for segment in end.path.segments() {
            // One hash of the segment; it is cloned (an atomic increment) only for a new child.
            node = node.children.entry_ref(segment).or_default();
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
    /// The keys of the entries listed without any end, in key order. At a compacted level
    /// these are *hollow*: the run is read through the entries below it (see
    /// [`Index::is_hollow`](super::index::Index::is_hollow)).
    endless: Vec<u64>,
}

impl LevelIndex {
    /// Adds an entry with its ends, keeping every list in key order.
    pub fn add(&mut self, entry: EntryRef, ends: &[&End]) {
        if ends.is_empty() {
            self.add_endless(entry);
            return;
        }
        if !self.deferred.is_empty() {
            // Keep the order of additions: deferred entries enter the trie first.
            self.defer(entry, ends.iter().map(|&end| end.clone()).collect());
            return;
        }
        insert_sorted(&mut self.root.touch, entry, |e| e.key);
        add_ends(&mut self.root, entry, ends.iter().copied());
    }

    /// Lists an entry in the level at once, but puts its ends in the trie only when a query
    /// needs them ([`materialize`](Self::materialize)): opening a store does not build the
    /// tries of compacted levels that only some reads use.
    pub fn defer(&mut self, entry: EntryRef, ends: Vec<End>) {
        if ends.is_empty() {
            self.add_endless(entry);
            return;
        }
        insert_sorted(&mut self.root.touch, entry, |e| e.key);
        self.deferred.push((entry, ends));
    }

    /// Lists an entry without ends (nothing goes in the trie below the root).
    fn add_endless(&mut self, entry: EntryRef) {
        insert_sorted(&mut self.root.touch, entry, |e| e.key);
        insert_sorted(&mut self.endless, entry.key, |k| *k);
    }

    /// Whether the entry with key `key` was listed without ends.
    pub fn is_endless(&self, key: u64) -> bool {
        self.endless.binary_search(&key).is_ok()
    }

    /// Whether an entry with a key in `(lo, hi]` was listed without ends.
    pub fn has_endless_in(&self, lo: u64, hi: u64) -> bool {
        !in_range(&self.endless, |k| *k, lo, hi).is_empty()
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

    /// The entries of the level with keys in `(lo, hi]`, in key order.
    pub fn entries_in(&self, lo: u64, hi: u64) -> &[EntryRef] {
        in_range(&self.root.touch, |e| e.key, lo, hi)
    }

    /// The entries with keys in `(lo, hi]`, each with its ends, in key order.
    pub fn added_in(&self, lo: u64, hi: u64) -> Vec<(EntryRef, Vec<End>)> {
        let mut out: Vec<(EntryRef, Vec<End>)> = self
            .entries_in(lo, hi)
            .iter()
            .map(|e| (*e, Vec::new()))
            .collect();
        let filed = self.nodes_in(lo, hi).into_iter().flat_map(|(path, lists)| {
            let path = KPath::from_segments(path);
            lists.ends.into_iter().map(move |end| {
                let at = End {
                    path: path.clone(),
                    independent: end.independent,
                };
                (end.entry.key, at)
            })
        });
        let deferred = self
            .deferred
            .iter()
            .flat_map(|(entry, ends)| ends.iter().map(|end| (entry.key, end.clone())));
        for (key, end) in filed.chain(deferred) {
            if let Ok(i) = out.binary_search_by_key(&key, |(e, _)| e.key) {
                out[i].1.push(end);
            }
        }
        out
    }

    /// The entry with key `key`, if the level has it.
    pub fn get(&self, key: u64) -> Option<EntryRef> {
        let list = &self.root.touch;
        let i = list.partition_point(|e| e.key < key);
        list.get(i).filter(|e| e.key == key).copied()
    }

    /// The trie nodes on the way to `path` that exist: the root's, each ancestor's, the
    /// path's own.
    fn nodes_to(&self, path: &KPath) -> TrieNodes<'_> {
        debug_assert!(self.deferred.is_empty(), "query before materialize");
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
        TrieNodes(nodes)
    }

    /// The newest entry with a key in `(lo, hi]` that touches `path` or ends at an ancestor
    /// (see [`last_change`]).
    pub fn last_change(&self, path: &KPath, lo: u64, hi: u64) -> Option<(EntryRef, Option<usize>)> {
        match last_change(&mut self.nodes_to(path), path.len(), lo, hi) {
            Ok(found) => found,
            Err(never) => match never {},
        }
    }

    /// The candidates for reading `path` among entries with keys in `(lo, hi]` (after
    /// [`materialize`](Self::materialize)).
    pub fn candidates(&self, path: &KPath, lo: u64, hi: u64) -> Candidates {
        match candidates(&mut self.nodes_to(path), path.len(), lo, hi) {
            Ok(found) => found,
            Err(never) => match never {},
        }
    }

    /// The depths of `path`'s strict ancestors (0: the root) where the entry with key `key`
    /// ends, shallowest first.
    pub fn ends_above(&self, path: &KPath, key: u64) -> Vec<usize> {
        let mut nodes = self.nodes_to(path);
        (0..path.len().min(nodes.reached()))
            .filter(|&depth| matches!(nodes.end_of(depth, key), Ok(Some(_))))
            .collect()
    }

    /// The nodes with entries in `(lo, hi]`, each with its path and its lists cut to that
    /// range (deferred entries' ends are not in the trie yet): walks the trie.
    pub fn nodes_in(&self, lo: u64, hi: u64) -> Vec<(Vec<Segment>, NodeLists)> {
        let mut out = Vec::new();
        let mut stack: Vec<(Vec<Segment>, &Trie)> = vec![(Vec::new(), &self.root)];
        while let Some((path, node)) = stack.pop() {
            let lists = NodeLists {
                ends: in_range(&node.ends, |e| e.entry.key, lo, hi).to_vec(),
                touch: in_range(&node.touch, |e| e.key, lo, hi).to_vec(),
            };
            if lists.touch.is_empty() {
                // Every entry ending here or below touches this node: nothing in range below.
                continue;
            }
            for (segment, child) in &node.children {
                let mut below = path.clone();
                below.push(segment.clone());
                stack.push((below, child));
            }
            out.push((path, lists));
        }
        out
    }

    /// Forgets every entry whose key fails `keep` (sealed, or dropped by a replay), pruning
    /// nodes left empty.
    pub fn retain_keys(&mut self, keep: impl Fn(u64) -> bool + Copy) {
        fn prune(node: &mut Trie, keep: impl Fn(u64) -> bool + Copy) {
            node.touch.retain(|e| keep(e.key));
            node.ends.retain(|e| keep(e.entry.key));
            node.children.retain(|_, child| {
                prune(child, keep);
                !child.touch.is_empty()
            });
        }
        prune(&mut self.root, keep);
        self.deferred.retain(|(e, _)| keep(e.key));
        self.endless.retain(|&key| keep(key));
    }
}

/// What one node lists: the entries ending at it and the entries touching it, in key order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeLists {
    /// Entries ending here.
    pub ends: Vec<EndRef>,
    /// Entries touching here or below.
    pub touch: Vec<EntryRef>,
}

/// The nodes on the way to a path, wherever they are kept (a trie in memory, a sealed table):
/// what [`last_change`] and [`candidates`] need of them. Depth 0 is the root; a node that does
/// not exist hides every node below it.
pub(super) trait Nodes {
    /// The error of a lookup.
    type Error;
    /// How many nodes on the way exist (the path's own is there at `path.len() + 1`).
    fn reached(&self) -> usize;
    /// The entries ending at the node of `depth` with keys in `(lo, hi]`.
    fn ends_in(&mut self, depth: usize, lo: u64, hi: u64) -> Result<Vec<EndRef>, Self::Error>;
    /// The last entry ending at the node of `depth` with a key in `(lo, hi]`.
    fn last_end_in(
        &mut self,
        depth: usize,
        lo: u64,
        hi: u64,
    ) -> Result<Option<EndRef>, Self::Error>;
    /// The entry ending at the node of `depth` with key `key`.
    fn end_of(&mut self, depth: usize, key: u64) -> Result<Option<EndRef>, Self::Error>;
    /// The entries touching the node of `depth` with keys in `(lo, hi]`.
    fn touches_in(&mut self, depth: usize, lo: u64, hi: u64) -> Result<Vec<EntryRef>, Self::Error>;
    /// The last entry touching the node of `depth` with a key in `(lo, hi]`.
    fn last_touch_in(
        &mut self,
        depth: usize,
        lo: u64,
        hi: u64,
    ) -> Result<Option<EntryRef>, Self::Error>;
}

/// The trie nodes on the way to a path.
struct TrieNodes<'a>(Vec<&'a Trie>);

impl TrieNodes<'_> {
    fn at(&self, depth: usize) -> Option<&Trie> {
        self.0.get(depth).copied()
    }
}

impl Nodes for TrieNodes<'_> {
    type Error = std::convert::Infallible;
    fn reached(&self) -> usize {
        self.0.len()
    }
    fn ends_in(&mut self, depth: usize, lo: u64, hi: u64) -> Result<Vec<EndRef>, Self::Error> {
        Ok(self
            .at(depth)
            .map(|n| in_range(&n.ends, |e| e.entry.key, lo, hi).to_vec())
            .unwrap_or_default())
    }
    fn last_end_in(
        &mut self,
        depth: usize,
        lo: u64,
        hi: u64,
    ) -> Result<Option<EndRef>, Self::Error> {
        Ok(self
            .at(depth)
            .and_then(|n| in_range(&n.ends, |e| e.entry.key, lo, hi).last().copied()))
    }
    fn end_of(&mut self, depth: usize, key: u64) -> Result<Option<EndRef>, Self::Error> {
        Ok(self.at(depth).and_then(|n| {
            let i = n.ends.partition_point(|e| e.entry.key < key);
            n.ends.get(i).filter(|e| e.entry.key == key).copied()
        }))
    }
    fn touches_in(&mut self, depth: usize, lo: u64, hi: u64) -> Result<Vec<EntryRef>, Self::Error> {
        Ok(self
            .at(depth)
            .map(|n| in_range(&n.touch, |e| e.key, lo, hi).to_vec())
            .unwrap_or_default())
    }
    fn last_touch_in(
        &mut self,
        depth: usize,
        lo: u64,
        hi: u64,
    ) -> Result<Option<EntryRef>, Self::Error> {
        Ok(self
            .at(depth)
            .and_then(|n| in_range(&n.touch, |e| e.key, lo, hi).last().copied()))
    }
}

/// The newest entry with a key in `(lo, hi]` that touches the path (of `len` segments) or
/// ends at an ancestor, with the depth of its shallowest end at the path or an ancestor when
/// each of those ends is independent (the entry then determines the path), `None` as depth
/// otherwise. Costs a binary search per node on the way, whatever the range holds.
pub(super) fn last_change<N: Nodes>(
    nodes: &mut N,
    len: usize,
    lo: u64,
    hi: u64,
) -> Result<Option<(EntryRef, Option<usize>)>, N::Error> {
    let reached = nodes.reached();
    let ancestors = len.min(reached);
    let mut newest: Option<EntryRef> = None;
    for depth in 0..ancestors {
        if let Some(end) = nodes.last_end_in(depth, lo, hi)? {
            newest = newest
                .filter(|n| n.key >= end.entry.key)
                .or(Some(end.entry));
        }
    }
    if reached > len {
        if let Some(touch) = nodes.last_touch_in(len, lo, hi)? {
            newest = newest.filter(|n| n.key >= touch.key).or(Some(touch));
        }
    }
    let Some(entry) = newest else {
        return Ok(None);
    };
    let mut depth = None;
    for d in 0..reached.min(len + 1) {
        if let Some(end) = nodes.end_of(d, entry.key)? {
            if !end.independent {
                return Ok(Some((entry, None)));
            }
            depth = Some(depth.unwrap_or(d));
        }
    }
    Ok(Some((entry, depth)))
}

/// The candidates for reading the path (of `len` segments) among entries with keys in
/// `(lo, hi]`.
pub(super) fn candidates<N: Nodes>(
    nodes: &mut N,
    len: usize,
    lo: u64,
    hi: u64,
) -> Result<Candidates, N::Error> {
    let mut out = Candidates::default();
    let reached = nodes.reached();
    for depth in 0..len.min(reached) {
        out.ancestor_ends.extend(
            nodes
                .ends_in(depth, lo, hi)?
                .into_iter()
                .map(|e| (depth, e)),
        );
    }
    if reached > len {
        out.touches = nodes.touches_in(len, lo, hi)?;
        out.own_ends = nodes.ends_in(len, lo, hi)?;
    }
    Ok(out)
}
