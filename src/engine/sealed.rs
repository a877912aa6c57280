//! Sealed runs of the index. Once the commits of an aligned run of `D^k` commits (`k`, the
//! *seal level*) are compacted into their level-`k` entry, the index of the run's entries at
//! the levels below `k` never changes again: it is written once to `index.log` as a *table*
//! and dropped from memory. The index in memory is then the unsealed tail and the levels at
//! and above `k` — a 4,096th of the history with the default divisor — whatever the history.
//!
//! A table lists, per (level, path), what a trie node lists: the entries ending there and the
//! entries touching it (see [`super::index`]). It is a directory of fixed-size records sorted
//! by (level, path hash), the paths' keys, then the rows, stored in 4 KiB blocks that each end
//! with their CRC-32C. Reads go through a cache of verified blocks shared by every table, so a
//! lookup costs a few binary searches over cached blocks. See `docs/FORMAT.md`.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::entry::corrupt;
use super::error::Result;
use super::generations::Generations;
use super::trie::{EndRef, EntryRef, NodeLists};
use crate::kpath::Segment;
use crate::storage::BlockFile;

/// Bytes of a block on disk: [`BLOCK_DATA`] bytes of the table, then their CRC-32C.
pub const BLOCK: u64 = 4096;
/// Table bytes per block.
pub const BLOCK_DATA: u64 = BLOCK - 4;
/// Bytes of a directory record.
const DIR_RECORD: u64 = 48;
/// Bytes of a row of a level's entry list (the root node's touch list): key, position.
const WIDE_ROW: u64 = 16;
/// Bytes of any other row: the key less the run's start (an end row shifted left by one, its
/// low bit set when the end is independent); the position is in the level's entry list.
const ROW: u64 = 4;
/// The default of [`Options::index_cache_bytes`](crate::engine::Options::index_cache_bytes):
/// natively 64 MiB (a 1M-commit history's tables read 9.3 → 6.3 µs against 16 MiB), in a
/// browser or worker 16 MiB.
pub const INDEX_CACHE_BYTES: usize = if cfg!(target_arch = "wasm32") {
    16 << 20
} else {
    64 << 20
};
/// Directory lookups the cache keeps (a few MiB).
const CACHE_NODES: usize = 1 << 16;

/// Appends a path segment's key bytes: a kind byte, then the name (`u32` length first) or the
/// number (`u64`), all big-endian. A path's key is its segments' keys in order, so an
/// ancestor's key is a prefix of its descendants'. `index.log` writes paths the same way.
pub(super) fn put_segment(out: &mut Vec<u8>, segment: &Segment) {
    let (kind, name, number) = match segment {
        Segment::Field(name) => (0u8, Some(name), None),
        Segment::FieldAll => (1, None, None),
        Segment::Index(i) => (2, None, Some(*i)),
        Segment::IndexAll => (3, None, None),
        Segment::Sparse(i) => (4, None, Some(*i)),
        Segment::SparseAll => (5, None, None),
        Segment::Key(name) => (6, Some(name), None),
    };
    out.push(kind);
    if let Some(name) = name {
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    if let Some(number) = number {
        out.extend_from_slice(&number.to_be_bytes());
    }
}

/// A path's key bytes, with where each prefix (the root's, each ancestor's, its own) ends.
pub(super) struct PathKey {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl PathKey {
    /// The key of the path with `segments`.
    pub(super) fn new(segments: &[Segment]) -> PathKey {
        let size: usize = segments
            .iter()
            .map(|s| match s {
                Segment::Field(name) | Segment::Key(name) => 5usize.saturating_add(name.len()),
                Segment::Index(_) | Segment::Sparse(_) => 9,
                _ => 1,
            })
            .sum();
        let mut bytes = Vec::with_capacity(size);
        let mut ends = Vec::with_capacity(segments.len().saturating_add(1));
        ends.push(0);
        for segment in segments {
            put_segment(&mut bytes, segment);
            ends.push(bytes.len());
        }
        PathKey { bytes, ends }
    }

    /// The path's key bytes.
    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The key of the ancestor at `depth` (the path itself at its length).
    pub(super) fn prefix(&self, depth: usize) -> &[u8] {
        let end = self.ends.get(depth).copied().unwrap_or(self.bytes.len());
        self.bytes.get(..end).unwrap_or(&self.bytes)
    }
}

/// One node of a table: a path at a level, with the entries ending at it and touching it, in
/// key order (as in the trie).
pub(super) struct Group {
    pub level: u8,
    pub key: Vec<u8>,
    pub lists: NodeLists,
}

/// Where a table is and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableRef {
    /// The run of commits it indexes: `(lo, hi]`.
    pub lo: u64,
    /// See `lo`.
    pub hi: u64,
    /// The position of its first block in `index.log`.
    pub pos: u64,
    /// Table bytes (without the blocks' checksums).
    pub len: u64,
    /// Directory records.
    pub groups: u64,
}

/// File bytes for `len` table bytes: whole blocks.
pub fn stored_len(len: u64) -> u64 {
    len.div_ceil(BLOCK_DATA).saturating_mul(BLOCK)
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A node's place in the directory's order: its level in the top byte, then the top 56 bits
/// of the XXH3-64 of its path key.
fn sort_key(level: u8, key: &[u8]) -> u64 {
    u64::from(level) << 56 | xxhash_rust::xxh3::xxh3_64(key) >> 8
}

/// The stored bytes of the table of the run starting after commit `lo`, listing `groups`: the
/// directory (sorted by [`sort_key`], then path key), the keys, the rows; in checksummed
/// blocks. Returns them and the directory's record count and the table's length.
pub(super) fn encode_table(mut groups: Vec<Group>, lo: u64) -> (Vec<u8>, u64, u64) {
    crate::sort::sort_by(&mut groups, |a, b| {
        sort_key(a.level, &a.key)
            .cmp(&sort_key(b.level, &b.key))
            .then_with(|| a.key.cmp(&b.key))
    });
    let count = groups.len() as u64;
    let dir_len = count.saturating_mul(DIR_RECORD);
    let keys_len: u64 = groups.iter().map(|g| g.key.len() as u64).sum();
    let mut dir = Vec::with_capacity(dir_len as usize);
    let mut keys = Vec::with_capacity(keys_len as usize);
    let mut rows = Vec::new();
    let rows_at = dir_len.saturating_add(keys_len);
    // Keys within the run, as rows hold them (a run is at most 2^31 commits).
    let offset = |key: u64| key.saturating_sub(lo) as u32;
    for g in &groups {
        // The root node of a level lists every entry of the level: its rows carry positions.
        let wide = g.key.is_empty();
        put_u64(&mut dir, sort_key(g.level, &g.key));
        put_u64(&mut dir, dir_len.saturating_add(keys.len() as u64));
        put_u32(&mut dir, g.key.len() as u32);
        put_u32(&mut dir, u32::from(wide));
        keys.extend_from_slice(&g.key);
        put_u64(&mut dir, rows_at.saturating_add(rows.len() as u64));
        put_u32(&mut dir, g.lists.ends.len() as u32);
        put_u32(&mut dir, g.lists.touch.len() as u32);
        for end in &g.lists.ends {
            put_u32(
                &mut rows,
                offset(end.entry.key) << 1 | u32::from(end.independent),
            );
        }
        put_u64(&mut dir, rows_at.saturating_add(rows.len() as u64));
        for entry in &g.lists.touch {
            if wide {
                put_u64(&mut rows, entry.key);
                put_u64(&mut rows, entry.pos);
            } else {
                put_u32(&mut rows, offset(entry.key));
            }
        }
    }
    let mut table = dir;
    table.extend_from_slice(&keys);
    table.extend_from_slice(&rows);
    let len = table.len() as u64;
    let mut stored = Vec::with_capacity(stored_len(len) as usize);
    for chunk in table.chunks(BLOCK_DATA as usize) {
        stored.extend_from_slice(chunk);
        stored.resize(
            stored
                .len()
                .saturating_add((BLOCK_DATA as usize).saturating_sub(chunk.len())),
            0,
        );
        let crc = crc32c::crc32c(
            stored
                .get(stored.len().saturating_sub(BLOCK_DATA as usize)..)
                .unwrap_or_default(),
        );
        stored.extend_from_slice(&crc.to_be_bytes());
    }
    (stored, count, len)
}

/// Verified blocks by file position; and the nodes found in the tables' directories (or
/// found missing), by table position and sort key, each with its path key: a lookup of a node
/// found before searches no directory.
struct BlockCache {
    blocks: Generations<u64, Arc<[u8]>>,
    nodes: HashMap<NodeKey, Option<DirRecord>, foldhash::fast::RandomState>,
}

impl BlockCache {
    /// A cache of at most `bytes` of blocks (two generations of half as much).
    fn new(bytes: usize) -> Self {
        BlockCache {
            blocks: Generations::new(
                bytes
                    .checked_div((BLOCK as usize).saturating_mul(2))
                    .unwrap_or(0),
            ),
            nodes: HashMap::default(),
        }
    }
}

/// What a directory lookup looked for: the table, the node's sort key and its path key. The
/// path key is held in the map's slot when it is short (most are), so a hit compares bytes the
/// lookup has already loaded instead of following a pointer to them.
#[derive(PartialEq, Eq)]
struct NodeKey {
    table: u64,
    sort: u64,
    path: PathKeyBytes,
}

/// Hashes the table and sort key only: the sort key is already a hash of the path key.
impl std::hash::Hash for NodeKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.table.hash(state);
        self.sort.hash(state);
    }
}

/// A path key's bytes: inline up to [`PathKeyBytes::INLINE`] bytes, boxed beyond.
#[derive(Eq)]
enum PathKeyBytes {
    Inline(u8, [u8; PathKeyBytes::INLINE]),
    Boxed(Box<[u8]>),
}

impl PathKeyBytes {
    const INLINE: usize = 46;

    fn new(key: &[u8]) -> Self {
        let mut inline = [0; Self::INLINE];
        match (inline.get_mut(..key.len()), u8::try_from(key.len())) {
            (Some(slot), Ok(len)) => {
                slot.copy_from_slice(key);
                PathKeyBytes::Inline(len, inline)
            }
            _ => PathKeyBytes::Boxed(Box::from(key)),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            PathKeyBytes::Inline(len, bytes) => bytes.get(..usize::from(*len)).unwrap_or_default(),
            PathKeyBytes::Boxed(bytes) => bytes,
        }
    }
}

impl PartialEq for PathKeyBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

/// The tables of one store: reads their blocks from `index.log` through a shared cache.
pub struct Tables {
    file: Arc<dyn BlockFile>,
    cache: Mutex<BlockCache>,
    /// Whether lookups read the file in place ([`BlockFile::reads_in_place`]: a memory map,
    /// whose pages the OS caches) instead of through the block cache.
    in_place: bool,
    /// Read in place: the positions of the blocks whose checksums held, each checked once.
    verified: Mutex<HashSet<u64, foldhash::fast::RandomState>>,
}

/// A node of a table: where its lists are.
#[derive(Clone, Copy, Debug)]
pub(super) struct DirRecord {
    level: u8,
    ends: List,
    touch: List,
}

/// Where a list of rows is, how many, and of which kind.
#[derive(Clone, Copy, Debug)]
struct List {
    at: u64,
    count: u64,
    kind: RowKind,
}

/// The kinds of rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowKind {
    /// A level's entry list: key, position ([`WIDE_ROW`] bytes).
    Entries,
    /// Touches elsewhere: the key less the run's start ([`ROW`] bytes).
    Touch,
    /// Ends: that shifted left by one, with the independence bit.
    End,
}

/// A locked view of the cache for one lookup in one table.
pub(super) struct TableView<'a> {
    tables: &'a Tables,
    cache: MutexGuard<'a, BlockCache>,
    table: TableRef,
    /// The block read last, by its index in the table: reads nearby skip the cache's map.
    last: Option<(u64, Arc<[u8]>)>,
    /// Read in place: the block checked last, by its index (reads nearby skip the set).
    last_verified: Option<u64>,
}

impl Tables {
    /// Tables stored in `file` (`index.log`), read through a cache of at most `cache_bytes` of
    /// blocks. A memory-mapped file is read in place: the OS caches its pages, and a lookup
    /// copies the bytes it needs, not whole blocks (at a million commits, whose tables
    /// outgrow the cache, a `read_at` took 9.3 µs through it and 7.0 in place).
    pub fn new(file: Arc<dyn BlockFile>, cache_bytes: usize) -> Tables {
        Tables {
            in_place: file.reads_in_place(),
            file,
            cache: Mutex::new(BlockCache::new(cache_bytes)),
            verified: Mutex::default(),
        }
    }

    /// Forgets every cached block and checked checksum (the file was cut).
    pub fn clear_cache(&self) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.blocks.clear();
        cache.nodes.clear();
        self.verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// A view for lookups in `table`, holding the cache's lock until dropped.
    pub(super) fn view(&self, table: TableRef) -> TableView<'_> {
        TableView {
            tables: self,
            cache: self.cache.lock().unwrap_or_else(PoisonError::into_inner),
            table,
            last: None,
            last_verified: None,
        }
    }
}

impl TableView<'_> {
    fn corrupt(&self, at: u64, reason: &str) -> super::error::StoreError {
        corrupt(self.tables.file.name(), at, reason.to_owned())
    }

    /// The verified block holding table byte `at`.
    fn block(&mut self, at: u64) -> Result<Arc<[u8]>> {
        let index = at / BLOCK_DATA;
        if let Some((last, block)) = &self.last {
            if *last == index {
                return Ok(block.clone());
            }
        }
        let block = self.load(index)?;
        self.last = Some((index, block.clone()));
        Ok(block)
    }

    /// Block `index` of the table, from the cache or the file.
    fn load(&mut self, index: u64) -> Result<Arc<[u8]>> {
        let pos = self.block_pos(index)?;
        if let Some(block) = self.cache.blocks.get(pos) {
            return Ok(block);
        }
        // Read on the stack: the block is allocated once, at its final size.
        let bytes = self.checked_block(pos)?;
        let block: Arc<[u8]> = Arc::from(bytes.get(..BLOCK_DATA as usize).unwrap_or_default());
        self.cache.blocks.insert(pos, block.clone());
        Ok(block)
    }

    /// Checks every block of the table against its checksum (reading them from the file, not
    /// the cache).
    pub(super) fn verify(&mut self) -> Result<()> {
        let blocks = self.table.len.div_ceil(BLOCK_DATA);
        for i in 0..blocks {
            let pos = self.table.pos.saturating_add(i.saturating_mul(BLOCK));
            self.checked_block(pos)?;
        }
        Ok(())
    }

    /// The block at file position `pos`, read from the file and checked against its
    /// checksum (the data, then the CRC-32C).
    fn checked_block(&self, pos: u64) -> Result<[u8; BLOCK as usize]> {
        let mut bytes = [0u8; BLOCK as usize];
        self.tables.file.read_exact_at(pos, &mut bytes)?;
        let (data, crc) = bytes.split_at(BLOCK_DATA as usize);
        if crc32c::crc32c(data).to_be_bytes() != crc {
            return Err(self.corrupt(pos, "index table block fails its checksum"));
        }
        Ok(bytes)
    }

    /// The file position of block `index` of the table.
    fn block_pos(&self, index: u64) -> Result<u64> {
        self.table
            .pos
            .checked_add(index.saturating_mul(BLOCK))
            .ok_or_else(|| self.corrupt(self.table.pos, "table beyond the file"))
    }

    /// Read in place: checks block `index` against its checksum the first time any view
    /// reads it.
    fn verify_once(&mut self, index: u64) -> Result<()> {
        if self.last_verified == Some(index) {
            return Ok(());
        }
        let pos = self.block_pos(index)?;
        let lock = || {
            self.tables
                .verified
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if !lock().contains(&pos) {
            self.checked_block(pos)?;
            lock().insert(pos);
        }
        self.last_verified = Some(index);
        Ok(())
    }

    /// Fills `out` from table byte `at` on.
    fn read(&mut self, at: u64, out: &mut [u8]) -> Result<()> {
        let end = at
            .checked_add(out.len() as u64)
            .filter(|&e| e <= self.table.len)
            .ok_or_else(|| self.corrupt(self.table.pos, "index table read out of bounds"))?;
        let mut done = 0usize;
        let mut at = at;
        while at < end {
            let index = at / BLOCK_DATA;
            let within = (at % BLOCK_DATA) as usize;
            let take =
                (end.saturating_sub(at) as usize).min((BLOCK_DATA as usize).saturating_sub(within));
            let Some(dst) = out.get_mut(done..done.saturating_add(take)) else {
                return Err(self.corrupt(self.table.pos, "index table read out of bounds"));
            };
            if self.tables.in_place {
                self.verify_once(index)?;
                let pos = self.block_pos(index)?.saturating_add(within as u64);
                self.tables.file.read_exact_at(pos, dst)?;
            } else {
                let block = self.block(at)?;
                let Some(src) = block.get(within..within.saturating_add(take)) else {
                    return Err(self.corrupt(self.table.pos, "index table block too short"));
                };
                dst.copy_from_slice(src);
            }
            done = done.saturating_add(take);
            at = at.saturating_add(take as u64);
        }
        Ok(())
    }

    fn u64_at(&mut self, at: u64) -> Result<u64> {
        Ok(u64::from_be_bytes(self.bytes_at(at)?))
    }

    fn u32_at(&mut self, at: u64) -> Result<u32> {
        Ok(u32::from_be_bytes(self.bytes_at(at)?))
    }

    /// The `N` table bytes at `at`: read in place when they lie in one block.
    fn bytes_at<const N: usize>(&mut self, at: u64) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        let within = (at % BLOCK_DATA) as usize;
        if !self.tables.in_place
            && within.saturating_add(N) <= BLOCK_DATA as usize
            && at.saturating_add(N as u64) <= self.table.len
        {
            let index = at / BLOCK_DATA;
            if self.last.as_ref().is_none_or(|(last, _)| *last != index) {
                let block = self.load(index)?;
                self.last = Some((index, block));
            }
            if let Some(bytes) = self
                .last
                .as_ref()
                .and_then(|(_, block)| block.get(within..within.saturating_add(N)))
            {
                b.copy_from_slice(bytes);
                return Ok(b);
            }
        }
        self.read(at, &mut b)?;
        Ok(b)
    }

    /// The directory record of `key` at `level`, if the table has one.
    fn find(&mut self, level: u8, key: &[u8]) -> Result<Option<DirRecord>> {
        let wanted = sort_key(level, key);
        // The first record not before `wanted`.
        let (mut lo, mut hi) = (0u64, self.table.groups);
        while lo < hi {
            let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
            if self.u64_at(mid.saturating_mul(DIR_RECORD))? < wanted {
                lo = mid.saturating_add(1);
            } else {
                hi = mid;
            }
        }
        let mut i = lo;
        while i < self.table.groups {
            let at = i.saturating_mul(DIR_RECORD);
            if self.u64_at(at)? != wanted {
                return Ok(None);
            }
            let key_at = self.u64_at(at.saturating_add(8))?;
            let key_len = self.u32_at(at.saturating_add(16))?;
            if key_len as usize == key.len() {
                let mut stored = vec![0u8; key.len()];
                self.read(key_at, &mut stored)?;
                if stored == key {
                    let wide = self.u32_at(at.saturating_add(20))? & 1 == 1;
                    return Ok(Some(DirRecord {
                        level,
                        ends: List {
                            at: self.u64_at(at.saturating_add(24))?,
                            count: u64::from(self.u32_at(at.saturating_add(32))?),
                            kind: RowKind::End,
                        },
                        touch: List {
                            at: self.u64_at(at.saturating_add(40))?,
                            count: u64::from(self.u32_at(at.saturating_add(36))?),
                            kind: if wide {
                                RowKind::Entries
                            } else {
                                RowKind::Touch
                            },
                        },
                    }));
                }
            }
            i = i.saturating_add(1);
        }
        Ok(None)
    }

    /// Bytes of a row of `list`.
    fn width(list: List) -> u64 {
        match list.kind {
            RowKind::Entries => WIDE_ROW,
            RowKind::Touch | RowKind::End => ROW,
        }
    }

    /// Row `i` of `list` as (key, word): for the entry list the position, for an end row the
    /// independence bit.
    fn row(&mut self, list: List, i: u64) -> Result<(u64, u64)> {
        let at = list.at.saturating_add(i.saturating_mul(Self::width(list)));
        match list.kind {
            RowKind::Entries => Ok((self.u64_at(at)?, self.u64_at(at.saturating_add(8))?)),
            RowKind::Touch => {
                let offset = u64::from(self.u32_at(at)?);
                Ok((self.table.lo.saturating_add(offset), 0))
            }
            RowKind::End => {
                let raw = u64::from(self.u32_at(at)?);
                Ok((self.table.lo.saturating_add(raw >> 1), raw & 1))
            }
        }
    }

    /// The first row of `list` whose key fails `before`.
    fn partition(&mut self, list: List, before: impl Fn(u64) -> bool) -> Result<u64> {
        let (mut lo, mut hi) = (0u64, list.count);
        while lo < hi {
            let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
            if before(self.row(list, mid)?.0) {
                lo = mid.saturating_add(1);
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The rows of `list` whose keys lie in `(lo, hi]`.
    fn rows_in(&mut self, list: List, lo: u64, hi: u64) -> Result<Vec<(u64, u64)>> {
        let from = self.partition(list, |key| key <= lo)?;
        let to = self.partition(list, |key| key <= hi)?;
        (from..to).map(|i| self.row(list, i)).collect()
    }

    /// The last row of `list` with a key in `(lo, hi]`.
    fn last_row_in(&mut self, list: List, lo: u64, hi: u64) -> Result<Option<(u64, u64)>> {
        let to = self.partition(list, |key| key <= hi)?;
        let Some(last) = to.checked_sub(1) else {
            return Ok(None);
        };
        let row = self.row(list, last)?;
        Ok((row.0 > lo).then_some(row))
    }

    /// The entry of `level` with key `key`: its position is in the level's entry list (the
    /// root node's touch list), found where the run's evenly spaced keys put it, else searched.
    fn entry(&mut self, level: u8, key: u64) -> Result<EntryRef> {
        let missing =
            |view: &Self| view.corrupt(view.table.pos, "index table row without its entry");
        let Some(root) = self.node(level, &[])? else {
            return Err(missing(self));
        };
        let entries = root.touch;
        let span = self.table.hi.saturating_sub(self.table.lo);
        let step = span.checked_div(entries.count).unwrap_or(0);
        if step > 0 && step.saturating_mul(entries.count) == span {
            let guess = key
                .saturating_sub(self.table.lo)
                .checked_div(step)
                .unwrap_or(0);
            if let Some(i) = guess.checked_sub(1).filter(|&i| i < entries.count) {
                let (found, pos) = self.row(entries, i)?;
                if found == key {
                    return Ok(EntryRef { key, pos });
                }
            }
        }
        let i = self.partition(entries, |k| k < key)?;
        match (i < entries.count)
            .then(|| self.row(entries, i))
            .transpose()?
        {
            Some((found, pos)) if found == key => Ok(EntryRef { key, pos }),
            _ => Err(missing(self)),
        }
    }

    /// The entry a row of `node` stands for.
    fn entry_of(
        &mut self,
        node: DirRecord,
        list: List,
        (key, word): (u64, u64),
    ) -> Result<EntryRef> {
        match list.kind {
            RowKind::Entries => Ok(EntryRef { key, pos: word }),
            RowKind::Touch | RowKind::End => self.entry(node.level, key),
        }
    }

    /// The end a row of `node`'s ends stands for.
    fn end_of_row(&mut self, node: DirRecord, row: (u64, u64)) -> Result<EndRef> {
        Ok(EndRef {
            entry: self.entry_of(node, node.ends, row)?,
            independent: row.1 == 1,
        })
    }

    /// The node at `key` and `level`, if the table has it.
    pub(super) fn node(&mut self, level: u8, key: &[u8]) -> Result<Option<DirRecord>> {
        let at = NodeKey {
            table: self.table.pos,
            sort: sort_key(level, key),
            path: PathKeyBytes::new(key),
        };
        if let Some(found) = self.cache.nodes.get(&at) {
            return Ok(*found);
        }
        let found = self.find(level, key)?;
        if self.cache.nodes.len() >= CACHE_NODES {
            self.cache.nodes.clear();
        }
        self.cache.nodes.insert(at, found);
        Ok(found)
    }

    /// The entries ending at `node` with keys in `(lo, hi]`.
    pub(super) fn ends_in(&mut self, node: DirRecord, lo: u64, hi: u64) -> Result<Vec<EndRef>> {
        self.rows_in(node.ends, lo, hi)?
            .into_iter()
            .map(|row| self.end_of_row(node, row))
            .collect()
    }

    /// The entry ending at `node` with key `key`.
    pub(super) fn end_of(&mut self, node: DirRecord, key: u64) -> Result<Option<EndRef>> {
        self.last_end_in(node, key.saturating_sub(1), key)
    }

    /// The last entry ending at `node` with a key in `(lo, hi]`.
    pub(super) fn last_end_in(
        &mut self,
        node: DirRecord,
        lo: u64,
        hi: u64,
    ) -> Result<Option<EndRef>> {
        match self.last_row_in(node.ends, lo, hi)? {
            Some(row) => Ok(Some(self.end_of_row(node, row)?)),
            None => Ok(None),
        }
    }

    /// The entries touching `node` with keys in `(lo, hi]`.
    pub(super) fn touches_in(
        &mut self,
        node: DirRecord,
        lo: u64,
        hi: u64,
    ) -> Result<Vec<EntryRef>> {
        self.rows_in(node.touch, lo, hi)?
            .into_iter()
            .map(|row| self.entry_of(node, node.touch, row))
            .collect()
    }

    /// The last entry touching `node` with a key in `(lo, hi]`.
    pub(super) fn last_touch_in(
        &mut self,
        node: DirRecord,
        lo: u64,
        hi: u64,
    ) -> Result<Option<EntryRef>> {
        match self.last_row_in(node.touch, lo, hi)? {
            Some(row) => Ok(Some(self.entry_of(node, node.touch, row)?)),
            None => Ok(None),
        }
    }
}
