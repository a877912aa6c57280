//! The persisted index: `index.log`, an append-only series of checksummed records. A save
//! appends one record holding what the index gained since the previous one (entries with their
//! ends, offset indexes of large entries) and the checkpoint it reaches; nothing is rewritten,
//! so a save costs what it adds, not the history. A *seal* appends a completed run's table
//! (see [`super::sealed`]) and a record of what stays in memory for the run (its entries at
//! the seal level and above, its offset indexes), linked to the seal before it; a superblock
//! at the start of the file names the last seal. Loading follows that chain and replays only
//! the records after the last seal, so opening costs the runs' count and the unsealed tail,
//! not the history. The index is derived data: a torn, corrupt or inconsistent record ends
//! the usable prefix, and the logs are indexed from that prefix's checkpoint on. See
//! `docs/FORMAT.md` for the byte layout.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use super::entry::End;
use super::error::Result;
use super::filter::MemberFilter;
use super::index::{EntryRef, Index, Seal};
use super::offsets::{OffsetIndex, SubDocRef};
use super::sealed::{put_segment, stored_len, TableRef, Tables};
use crate::kpath::{KPath, Segment};
use crate::storage::BlockFile;
use std::collections::HashMap;
use std::sync::Arc;

/// Where the offset indexes of large entries lie in `index.log`, by (level, position): each is
/// read when a read first needs it ([`IndexLog::load_offsets`]), so an open costs the
/// entries' count, not the size of their indexes.
pub type Offsets = HashMap<(u8, u64), StoredOffsets>;

/// Where one offset index lies in `index.log`: its bytes and their CRC-32C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredOffsets {
    /// The file offset of its first byte.
    pub at: u64,
    /// Its length in bytes.
    pub len: u64,
    /// The CRC-32C of those bytes.
    pub crc: u32,
}

/// An entry the index gained: its level, reference and ends.
pub type Added = (u8, EntryRef, Vec<End>);

/// What the valid records of an index log hold together.
#[derive(Default)]
pub struct Loaded {
    /// The last record's checkpoint.
    pub checkpoint: Checkpoint,
    /// The index.
    pub index: Index,
    /// The offset indexes.
    pub offsets: Offsets,
    /// The position of the last entry indexed in `level0.log` and in `compact.log`.
    pub last_pos: [Option<u64>; 2],
}

const MAGIC: &[u8; 8] = b"TNYINDEX";
/// The index log's format version (1-4 were the whole-index slots `index.a`/`index.b`; 5 had
/// no seals; 6 could hold wrong offset references for objects with merge keys; 7's offset
/// indexes could only be decoded all together; 8's member filters probed by double hashing).
pub const VERSION: u32 = 9;
/// File header bytes: magic, version, CRC-32C of the two.
pub const FILE_HEADER: u64 = 16;
/// Bytes of a superblock slot: sequence number, position of the last seal record, a reserved
/// word, CRC-32C of those 24 bytes, 4 zero bytes.
const SLOT: u64 = 32;
/// Where records start: after the file header and the two superblock slots.
pub const RECORDS_START: u64 = FILE_HEADER + 2 * SLOT;
/// A record's kind (its payload's first byte).
const SAVE: u8 = 0;
const SEAL: u8 = 1;
/// A table record: the kind byte, then the table's blocks (read through the seal record that
/// follows it, never decoded here).
const TABLE: u8 = 2;
/// Record header bytes: payload length, payload CRC-32C, CRC-32C of the first 12 bytes.
pub const RECORD_HEADER: u64 = 16;
/// The longest record accepted (a record holds one save's additions).
const MAX_RECORD: u64 = 1 << 32;

/// What a record records besides the index entries it adds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The newest commit indexed.
    pub max_commit: u64,
    /// The greatest transaction sequence number used.
    pub tx_seq: u64,
    /// How far `level0.log` was indexed.
    pub level0_end: u64,
    /// How far `compact.log` was indexed.
    pub compact_end: u64,
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Writes paths in binary, each relative to the one before it in the same record (ends of
/// one entry share most of their segments): `u32` count of leading segments shared with the
/// previous path, `u32` count of the segments that follow, then per segment a kind byte and
/// its `u64` number or `u32`-length-prefixed name (no text to format or parse).
#[derive(Default)]
struct PathWriter<'a> {
    previous: &'a [Segment],
}

impl<'a> PathWriter<'a> {
    fn put(&mut self, out: &mut Vec<u8>, path: &'a KPath) {
        put_relative(out, self.previous, path.segments());
        self.previous = path.segments();
    }
}

/// Writes `segments` relative to `previous` (see [`PathWriter`]); returns how many leading
/// segments the two share.
fn put_relative(out: &mut Vec<u8>, previous: &[Segment], segments: &[Segment]) -> usize {
    let shared = segments
        .iter()
        .zip(previous)
        .take_while(|(a, b)| a == b)
        .count();
    let rest = segments.get(shared..).unwrap_or_default();
    out.extend_from_slice(&(shared as u32).to_be_bytes());
    out.extend_from_slice(&(rest.len() as u32).to_be_bytes());
    for segment in rest {
        put_segment(out, segment);
    }
    shared
}

/// Index entries encoded as a record lists them, as they are added: a commit's ends are
/// written once, not copied to be written at the next save. One list goes into one record
/// (its paths are relative to one another from the list's first).
#[derive(Default)]
pub struct EntryList {
    count: u64,
    bytes: Vec<u8>,
    /// The last path written.
    previous: Vec<Segment>,
}

impl EntryList {
    /// The list of `added`.
    pub fn of(added: &[Added]) -> Self {
        let mut list = EntryList::default();
        for (level, entry, ends) in added {
            list.push(*level, *entry, ends);
        }
        list
    }

    /// Adds the entry `entry` of `level` with the ends the index keeps of it.
    pub fn push<'e>(
        &mut self,
        level: u8,
        entry: EntryRef,
        ends: impl IntoIterator<Item = &'e End, IntoIter: ExactSizeIterator>,
    ) {
        let ends = ends.into_iter();
        self.count = self.count.saturating_add(1);
        let out = &mut self.bytes;
        out.push(level);
        put_u64(out, entry.key);
        put_u64(out, entry.pos);
        put_u64(out, ends.len() as u64);
        for end in ends {
            out.push(u8::from(end.independent));
            let segments = end.path.segments();
            let shared = put_relative(out, &self.previous, segments);
            self.previous.truncate(shared);
            self.previous
                .extend_from_slice(segments.get(shared..).unwrap_or_default());
        }
    }

    /// Whether no entry was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

fn file_header() -> [u8; FILE_HEADER as usize] {
    let mut out = [0u8; FILE_HEADER as usize];
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&VERSION.to_be_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(&bytes).to_be_bytes());
    out.copy_from_slice(&bytes);
    out
}

/// What a seal record says besides its body: the table, the seal's shape, the seal before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealHeader {
    /// The run's table.
    pub table: TableRef,
    /// The seal level.
    pub level: u8,
    /// Commits per run.
    pub span: u64,
    /// The position of the previous seal record (0: this is the first).
    pub prev: u64,
    /// The position of the run's last entry in `level0.log` and in `compact.log`.
    pub last_pos: [u64; 2],
}

/// A record's body: the checkpoint, the entries, the offset indexes. Returns where each
/// offset index lies in `out`.
fn encode_body(
    out: &mut Vec<u8>,
    checkpoint: Checkpoint,
    added: &EntryList,
    offsets: &[((u8, u64), &OffsetIndex)],
) -> Vec<((u8, u64), StoredOffsets)> {
    for v in [
        checkpoint.max_commit,
        checkpoint.tx_seq,
        checkpoint.level0_end,
        checkpoint.compact_end,
    ] {
        put_u64(out, v);
    }
    put_u64(out, added.count);
    out.extend_from_slice(&added.bytes);
    put_u64(out, offsets.len() as u64);
    let mut places = Vec::with_capacity(offsets.len());
    for ((level, pos), index) in offsets {
        out.push(*level);
        put_u64(out, *pos);
        let section = encode_offsets(index);
        let crc = crc32c::crc32c(&section);
        put_u64(out, section.len() as u64);
        out.extend_from_slice(&crc.to_be_bytes());
        let place = StoredOffsets {
            at: out.len() as u64,
            len: section.len() as u64,
            crc,
        };
        places.push(((*level, *pos), place));
        out.extend_from_slice(&section);
    }
    places
}

/// `places` in a record's payload, as places in the file for the record at `record`.
fn in_file(places: Vec<((u8, u64), StoredOffsets)>, record: u64) -> Offsets {
    let base = record.saturating_add(RECORD_HEADER);
    places
        .into_iter()
        .map(|(key, place)| {
            let at = place.at.saturating_add(base);
            (key, StoredOffsets { at, ..place })
        })
        .collect()
}

/// One offset index, decodable on its own (its paths relative to its own first).
fn encode_offsets(index: &OffsetIndex) -> Vec<u8> {
    let mut out = Vec::new();
    let mut paths = PathWriter::default();
    put_u64(&mut out, index.refs.len() as u64);
    for r in &index.refs {
        paths.put(&mut out, &r.path);
        put_u64(&mut out, r.offset);
        put_u64(&mut out, r.len);
    }
    put_u64(&mut out, index.ops.len() as u64);
    for path in &index.ops {
        paths.put(&mut out, path);
    }
    put_u64(&mut out, index.filters.len() as u64);
    for f in &index.filters {
        paths.put(&mut out, &f.object);
        put_u64(&mut out, f.start);
        put_u64(&mut out, f.end);
        put_u64(&mut out, f.bits.len() as u64);
        for word in &f.bits {
            put_u64(&mut out, *word);
        }
    }
    put_u64(&mut out, index.chunk_crcs.len() as u64);
    for crc in index.chunk_crcs.iter() {
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

fn encode_seal_header(out: &mut Vec<u8>, h: &SealHeader) {
    for v in [
        h.table.lo,
        h.table.hi,
        h.table.pos,
        h.table.len,
        h.table.groups,
    ] {
        put_u64(out, v);
    }
    out.push(h.level);
    for v in [h.span, h.prev, h.last_pos[0], h.last_pos[1]] {
        put_u64(out, v);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The last path read (paths are written relative to the one before).
    previous: Vec<Segment>,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    /// `count` big-endian `u64`s, read in one pass (filter words: a large entry has many).
    fn u64s(&mut self, count: u64) -> Option<Vec<u64>> {
        let bytes = self.take(usize::try_from(count).ok()?.checked_mul(8)?)?;
        Some(
            bytes
                .chunks_exact(8)
                .map(|w| u64::from_be_bytes(w.try_into().unwrap_or_default()))
                .collect(),
        )
    }
    /// `count` big-endian `u32`s, read in one pass (chunk checksums).
    fn u32s(&mut self, count: u64) -> Option<Arc<[u32]>> {
        let bytes = self.take(usize::try_from(count).ok()?.checked_mul(4)?)?;
        Some(
            bytes
                .chunks_exact(4)
                .map(|w| u32::from_be_bytes(w.try_into().unwrap_or_default()))
                .collect(),
        )
    }
    /// Bytes not read yet.
    fn remaining(&self) -> u64 {
        self.bytes.len().saturating_sub(self.at) as u64
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
}

impl Reader<'_> {
    /// A path written by [`PathWriter::put`].
    fn path(&mut self) -> Option<KPath> {
        let shared = self.u32()? as usize;
        let count = self.u32()?;
        // Each segment takes at least one byte: a count the payload cannot hold is corruption.
        if u64::from(count) > self.remaining() || shared > self.previous.len() {
            return None;
        }
        if shared.saturating_add(count as usize) > KPath::MAX_SEGMENTS {
            return None;
        }
        // Built in place of the previous path, which it shares `shared` segments with.
        let mut segments = std::mem::take(&mut self.previous);
        segments.truncate(shared);
        for _ in 0..count {
            segments.push(match self.u8()? {
                0 => Segment::Field(self.name()?),
                1 => Segment::FieldAll,
                2 => Segment::Index(self.u64()?),
                3 => Segment::IndexAll,
                4 => Segment::Sparse(self.u64()?),
                5 => Segment::SparseAll,
                6 => Segment::Key(self.name()?),
                _ => return None,
            });
        }
        self.previous = segments;
        Some(KPath::from_segments(self.previous.clone()))
    }

    fn name(&mut self) -> Option<Arc<str>> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).ok().map(Arc::from)
    }
}

/// A decoded record's body.
struct Body {
    checkpoint: Checkpoint,
    added: Vec<Added>,
    offsets: Offsets,
}

/// A decoded record.
enum Record {
    Save(Body),
    Seal(SealHeader, Body),
    Table,
}

/// Decodes a record's payload `bytes`, which start at file offset `base`.
fn decode_record(bytes: &[u8], base: u64) -> Option<Record> {
    let mut r = Reader {
        bytes,
        at: 0,
        previous: Vec::new(),
    };
    match r.u8()? {
        SAVE => Some(Record::Save(decode_body(r, base)?)),
        TABLE => Some(Record::Table),
        SEAL => {
            let table = TableRef {
                lo: r.u64()?,
                hi: r.u64()?,
                pos: r.u64()?,
                len: r.u64()?,
                groups: r.u64()?,
            };
            let header = SealHeader {
                table,
                level: r.u8()?,
                span: r.u64()?,
                prev: r.u64()?,
                last_pos: [r.u64()?, r.u64()?],
            };
            Some(Record::Seal(header, decode_body(r, base)?))
        }
        _ => None,
    }
}

fn decode_body(mut r: Reader<'_>, base: u64) -> Option<Body> {
    let checkpoint = Checkpoint {
        max_commit: r.u64()?,
        tx_seq: r.u64()?,
        level0_end: r.u64()?,
        compact_end: r.u64()?,
    };
    let count = r.u64()?;
    // Each entry takes at least 25 bytes: a count the payload cannot hold is corruption.
    if count > r.remaining() / 25 {
        return None;
    }
    let mut added = Vec::new();
    for _ in 0..count {
        let (level, key, pos) = (r.u8()?, r.u64()?, r.u64()?);
        let ends = (0..r.u64()?)
            .map(|_| {
                let independent = r.u8()? != 0;
                Some(End {
                    path: r.path()?,
                    independent,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        added.push((level, EntryRef { key, pos }, ends));
    }
    let mut offsets = Offsets::new();
    for _ in 0..r.u64()? {
        let (level, pos, len, crc) = (r.u8()?, r.u64()?, r.u64()?, r.u32()?);
        let at = base.checked_add(r.at as u64)?;
        r.take(usize::try_from(len).ok()?)?;
        offsets.insert((level, pos), StoredOffsets { at, len, crc });
    }
    (r.at == r.bytes.len()).then_some(Body {
        checkpoint,
        added,
        offsets,
    })
}

/// Decodes an offset index written by [`encode_offsets`].
fn decode_offsets(bytes: &[u8]) -> Option<OffsetIndex> {
    let mut r = Reader {
        bytes,
        at: 0,
        previous: Vec::new(),
    };
    let count = r.u64()?;
    // Each reference takes at least 24 bytes: a count the bytes cannot hold is corruption.
    if count > r.remaining() / 24 {
        return None;
    }
    let mut refs = Vec::with_capacity(usize::try_from(count).ok()?);
    for _ in 0..count {
        refs.push(SubDocRef {
            path: r.path()?,
            offset: r.u64()?,
            len: r.u64()?,
        });
    }
    let ops = (0..r.u64()?)
        .map(|_| r.path())
        .collect::<Option<Vec<_>>>()?;
    let filters = (0..r.u64()?)
        .map(|_| {
            let (object, start, end) = (r.path()?, r.u64()?, r.u64()?);
            let words = r.u64()?;
            Some(MemberFilter {
                object,
                start,
                end,
                bits: r.u64s(words)?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let crcs = r.u64()?;
    let chunk_crcs = r.u32s(crcs)?;
    (r.at == r.bytes.len()).then_some(OffsetIndex {
        refs,
        ops,
        filters,
        chunk_crcs,
    })
}

/// Tracks what the records so far add up to, and whether the next one continues them.
struct Replay {
    loaded: Loaded,
    /// The last key of each level.
    last_key: Vec<u64>,
    /// The position of the last seal record applied (0: none).
    last_seal: u64,
}

impl Replay {
    fn new(index: Index) -> Replay {
        Replay {
            loaded: Loaded {
                index,
                ..Loaded::default()
            },
            last_key: Vec::new(),
            last_seal: 0,
        }
    }

    /// Applies a save record if it continues what came before: level-0 commits follow each
    /// other densely at increasing positions (one transaction number per commit at most),
    /// compacted entries at increasing positions with increasing keys per level, all within the
    /// checkpoint's log ends, which never shrink; offset indexes belong to entries that are
    /// indexed. Otherwise nothing changes.
    fn apply(&mut self, record: Body) -> bool {
        let before = self.loaded.checkpoint;
        let after = record.checkpoint;
        if after.level0_end < before.level0_end
            || after.compact_end < before.compact_end
            || after.tx_seq < before.tx_seq
            || after.tx_seq > after.max_commit
        {
            return false;
        }
        let mut head = before.max_commit;
        let mut last_pos = self.loaded.last_pos;
        let mut last_key = self.last_key.clone();
        for (level, entry, _) in &record.added {
            let compacted = usize::from(*level > 0);
            let end = if *level == 0 {
                after.level0_end
            } else {
                after.compact_end
            };
            let Some(slot) = last_pos.get_mut(compacted) else {
                return false;
            };
            if slot.is_some_and(|p| entry.pos <= p) || entry.pos >= end {
                return false;
            }
            *slot = Some(entry.pos);
            let level = usize::from(*level);
            if last_key.len() <= level {
                last_key.resize(level.saturating_add(1), 0);
            }
            let Some(key) = last_key.get_mut(level) else {
                return false;
            };
            let continues = if level == 0 {
                Some(entry.key) == head.checked_add(1)
            } else {
                entry.key > *key
            };
            if !continues {
                return false;
            }
            *key = entry.key;
            if level == 0 {
                head = entry.key;
            }
        }
        if head != after.max_commit || last_key.iter().any(|&k| k > head) {
            return false;
        }
        let added: std::collections::HashSet<(u8, u64)> =
            record.added.iter().map(|(l, e, _)| (*l, e.pos)).collect();
        // An offset index belongs to an entry of this record or to one indexed before it.
        let indexed = |key: &(u8, u64)| {
            let (level, pos) = key;
            added.contains(key)
                || self
                    .loaded
                    .last_pos
                    .get(usize::from(*level > 0))
                    .copied()
                    .flatten()
                    .is_some_and(|p| *pos <= p)
        };
        if !record.offsets.keys().all(indexed) {
            return false;
        }
        self.loaded.offsets.extend(record.offsets);
        for (level, entry, ends) in record.added {
            // Compacted levels' tries are built when a read first needs them.
            let index = self.loaded.index.level_mut(level);
            if level == 0 {
                index.add(entry, &ends.iter().collect::<Vec<_>>());
            } else {
                index.defer(entry, ends);
            }
        }
        self.loaded.checkpoint = after;
        self.loaded.last_pos = last_pos;
        self.last_key = last_key;
        true
    }

    /// Applies the seal record at `pos` if it seals the run after the last sealed one, as this
    /// store seals runs, and holds the run's entry at the seal level: what memory held beyond
    /// the run's start is replaced by the record's entries (those of the seal level and above),
    /// and the run's table is looked up from now on. Otherwise nothing changes.
    fn apply_seal(&mut self, header: SealHeader, body: Body, pos: u64) -> bool {
        let seal = self.loaded.index.seal();
        let table = header.table;
        let checkpoint = body.checkpoint;
        let valid = header.level == seal.level
            && header.span == seal.span
            && table.lo == self.loaded.index.sealed_upto()
            && table.lo.checked_add(seal.span) == Some(table.hi)
            && checkpoint.max_commit == table.hi
            && checkpoint.tx_seq <= table.hi
            && header.last_pos[0] < checkpoint.level0_end
            && header.last_pos[1] < checkpoint.compact_end
            && table
                .pos
                .checked_add(stored_len(table.len))
                .is_some_and(|e| e <= pos)
            && table.pos >= RECORDS_START
            && body
                .added
                .iter()
                .all(|(l, e, _)| *l >= seal.level && e.key > table.lo && e.key <= table.hi)
            && body
                .added
                .iter()
                .any(|(l, e, _)| *l == seal.level && e.key == table.hi);
        if !valid {
            return false;
        }
        let index = &mut self.loaded.index;
        index.forget_after(table.lo);
        index.add_table(table);
        for (level, entry, ends) in body.added {
            index.level_mut(level).defer(entry, ends);
        }
        self.loaded.offsets.extend(body.offsets);
        self.loaded.checkpoint = checkpoint;
        self.loaded.last_pos = [Some(header.last_pos[0]), Some(header.last_pos[1])];
        self.last_key = (0..index.depth())
            .map(|l| {
                if l < seal.level {
                    table.hi
                } else {
                    index
                        .level(l)
                        .and_then(|i| i.entries().last())
                        .map_or(0, |e| e.key)
                }
            })
            .collect();
        self.last_seal = pos;
        true
    }
}

/// `index.log`: the persisted index, appended to by [`save`](IndexLog::save) and
/// [`seal`](IndexLog::seal).
pub struct IndexLog {
    file: Arc<dyn BlockFile>,
    /// Where the next record goes: the end of the valid records.
    end: u64,
    writable: bool,
    /// The superblock's sequence number and the seal record it names (0: none).
    superblock: (u64, u64),
    /// The last seal record (0: none).
    last_seal: u64,
    /// How runs are sealed, and the reader of the tables.
    seal: Seal,
    tables: Arc<Tables>,
}

impl IndexLog {
    /// Opens the index log and loads its valid records: the chain of seals the superblock
    /// names, then the records after the last seal (or, without a usable chain, every record
    /// from the start). A writable log drops whatever follows the valid records (a torn or
    /// corrupt record, an old format's bytes), writes a fresh file header where it is missing
    /// or foreign, and points the superblock at the last valid seal; a read-only one only
    /// ignores them. The tables are read through a cache of at most `cache_bytes` of blocks.
    pub fn open(
        file: Box<dyn BlockFile>,
        writable: bool,
        seal: Seal,
        cache_bytes: usize,
    ) -> Result<(IndexLog, Loaded)> {
        let file: Arc<dyn BlockFile> = Arc::from(file);
        let len = file.len()?;
        let mut header = [0u8; FILE_HEADER as usize];
        let valid_header = len >= RECORDS_START && {
            file.read_exact_at(0, &mut header)?;
            header == file_header()
        };
        // On wasm32 files are not `Send` (JS objects stay on their thread), nor is anything
        // that shares them; natively `Tables` is `Send + Sync`.
        #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
        let tables = Arc::new(Tables::new(file.clone(), cache_bytes));
        let mut log = IndexLog {
            file,
            end: RECORDS_START,
            writable,
            superblock: (0, 0),
            last_seal: 0,
            seal,
            tables: tables.clone(),
        };
        let mut replay = Replay::new(Index::new(seal, tables.clone()));
        if valid_header {
            log.superblock = log.read_superblock()?;
            if let Some((chained, next)) = log.chain(log.superblock.1, len, seal, &tables)? {
                replay = chained;
                log.end = next;
            }
            while let Some((record, next)) = log.record_at(log.end, len)? {
                let applied = match record {
                    Record::Save(body) => replay.apply(body),
                    Record::Seal(header, body) => replay.apply_seal(header, body, log.end),
                    // Checked whole by its record checksum; its seal record refers to it.
                    Record::Table => true,
                };
                if !applied {
                    break;
                }
                log.end = next;
            }
        } else {
            log.end = 0;
        }
        log.last_seal = replay.last_seal;
        if writable {
            if log.end != len || !valid_header {
                log.reset_to(log.end)?;
            }
            if log.superblock.1 != log.last_seal {
                log.write_superblock()?;
            }
        }
        Ok((log, replay.loaded))
    }

    /// The seals from the first to the one at `last`, applied in order, and where the records
    /// after the last one start; `None` when there is no seal or the chain is not whole.
    fn chain(
        &self,
        last: u64,
        len: u64,
        seal: Seal,
        tables: &Arc<Tables>,
    ) -> Result<Option<(Replay, u64)>> {
        if last < RECORDS_START {
            return Ok(None);
        }
        let mut seals = Vec::new();
        let mut pos = last;
        let mut after_last = None;
        loop {
            let Some((Record::Seal(header, body), next)) = self.record_at(pos, len)? else {
                return Ok(None);
            };
            after_last.get_or_insert(next);
            let prev = header.prev;
            seals.push((header, body, pos));
            if prev == 0 {
                break;
            }
            // Each seal links to an earlier one: the walk ends.
            if prev >= pos || prev < RECORDS_START {
                return Ok(None);
            }
            pos = prev;
        }
        let mut replay = Replay::new(Index::new(seal, tables.clone()));
        for (header, body, pos) in seals.into_iter().rev() {
            if !replay.apply_seal(header, body, pos) {
                return Ok(None);
            }
        }
        Ok(after_last.map(|next| (replay, next)))
    }

    /// The valid superblock slot with the greatest sequence number: `(sequence, seal)`.
    fn read_superblock(&self) -> Result<(u64, u64)> {
        let mut best = (0, 0);
        for slot in 0..2u64 {
            let mut bytes = [0u8; SLOT as usize];
            self.file.read_exact_at(
                FILE_HEADER.saturating_add(slot.saturating_mul(SLOT)),
                &mut bytes,
            )?;
            let mut r = Reader {
                bytes: &bytes,
                at: 0,
                previous: Vec::new(),
            };
            let (Some(seq), Some(seal), Some(_), Some(crc)) = (r.u64(), r.u64(), r.u64(), r.u32())
            else {
                continue;
            };
            let covered = bytes.get(..24).map(crc32c::crc32c);
            if covered == Some(crc) && seq > best.0 {
                best = (seq, seal);
            }
        }
        Ok(best)
    }

    /// Points the superblock at the last seal: writes the slot the current one is not in, and
    /// syncs.
    fn write_superblock(&mut self) -> Result<()> {
        let seq = self.superblock.0.saturating_add(1);
        let mut bytes = Vec::with_capacity(SLOT as usize);
        put_u64(&mut bytes, seq);
        put_u64(&mut bytes, self.last_seal);
        put_u64(&mut bytes, 0);
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        bytes.extend_from_slice(&[0; 4]);
        let at = FILE_HEADER.saturating_add((seq % 2).saturating_mul(SLOT));
        self.file.write_all_at(at, &bytes)?;
        self.file.sync()?;
        self.superblock = (seq, self.last_seal);
        Ok(())
    }

    /// The record at `pos` and where it ends, if a whole valid one is there.
    fn record_at(&self, pos: u64, len: u64) -> Result<Option<(Record, u64)>> {
        let Some(payload_at) = pos.checked_add(RECORD_HEADER).filter(|&p| p <= len) else {
            return Ok(None);
        };
        let mut header = [0u8; RECORD_HEADER as usize];
        self.file.read_exact_at(pos, &mut header)?;
        let mut r = Reader {
            bytes: &header,
            at: 0,
            previous: Vec::new(),
        };
        let (Some(size), Some(payload_crc), Some(header_crc)) = (r.u64(), r.u32(), r.u32()) else {
            return Ok(None);
        };
        let covered = header.get(..12).map(crc32c::crc32c);
        let Some(next) = payload_at.checked_add(size).filter(|&e| e <= len) else {
            return Ok(None);
        };
        if covered != Some(header_crc) || size > MAX_RECORD {
            return Ok(None);
        }
        let mut payload = vec![0u8; size as usize];
        self.file.read_exact_at(payload_at, &mut payload)?;
        if crc32c::crc32c(&payload) != payload_crc {
            return Ok(None);
        }
        Ok(decode_record(&payload, payload_at).map(|record| (record, next)))
    }

    /// Cuts the log to `end` (or, below the first record, to a fresh header and empty
    /// superblock) and syncs.
    fn reset_to(&mut self, end: u64) -> Result<()> {
        if end < RECORDS_START {
            let mut start = file_header().to_vec();
            start.resize(RECORDS_START as usize, 0);
            self.file.write_all_at(0, &start)?;
            self.end = RECORDS_START;
            self.superblock = (0, 0);
            self.last_seal = 0;
        } else {
            self.end = end;
        }
        // Blocks cached from the cut bytes must not be served for new tables written there.
        self.tables.clear_cache();
        self.file.set_len(self.end)?;
        self.file.sync()?;
        Ok(())
    }

    /// An empty index, sealing runs as this log does.
    pub fn empty(&self) -> Loaded {
        Loaded {
            index: Index::new(self.seal, self.tables.clone()),
            ..Loaded::default()
        }
    }

    /// Drops every record: the index will be rebuilt from the logs.
    pub fn clear(&mut self) -> Result<()> {
        if self.writable {
            self.reset_to(0)?;
        }
        Ok(())
    }

    /// Appends `bytes` at the end and syncs; on failure cuts them back (best effort: torn bytes
    /// are dropped at the next open).
    fn append(&mut self, bytes: &[u8]) -> Result<u64> {
        let at = self.end;
        let written = self
            .file
            .write_all_at(at, bytes)
            .and_then(|()| self.file.sync());
        if let Err(e) = written {
            let _ = self.file.set_len(at);
            return Err(e.into());
        }
        self.end = at.saturating_add(bytes.len() as u64);
        Ok(at)
    }

    /// Appends a record with `payload`, and syncs.
    fn append_record(&mut self, payload: &[u8]) -> Result<u64> {
        let mut out = Vec::with_capacity(payload.len().saturating_add(RECORD_HEADER as usize));
        put_u64(&mut out, payload.len() as u64);
        out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
        let header_crc = crc32c::crc32c(&out);
        out.extend_from_slice(&header_crc.to_be_bytes());
        out.extend_from_slice(payload);
        self.append(&out)
    }

    /// Appends a record of `added` entries and `offsets` reaching `checkpoint`, and syncs.
    /// Returns where the offset indexes now lie.
    pub fn save(
        &mut self,
        checkpoint: Checkpoint,
        added: &EntryList,
        offsets: &[((u8, u64), &OffsetIndex)],
    ) -> Result<Offsets> {
        let mut payload = vec![SAVE];
        let places = encode_body(&mut payload, checkpoint, added, offsets);
        let record = self.append_record(&payload)?;
        Ok(in_file(places, record))
    }

    /// Appends a run's table record (`stored`, from [`super::sealed::encode_table`], with
    /// `groups` directory records and `len` table bytes) and, once it is synced, the seal
    /// record: the
    /// run's `kept` entries (those at the seal level and above) and `offsets`, reaching
    /// `checkpoint` (the run's end). Returns the table's place and where the offset indexes
    /// now lie.
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        &mut self,
        seal: Seal,
        run: (u64, u64),
        (stored, groups, len): (Vec<u8>, u64, u64),
        last_pos: [u64; 2],
        checkpoint: Checkpoint,
        kept: &[Added],
        offsets: &[((u8, u64), &OffsetIndex)],
    ) -> Result<(TableRef, Offsets)> {
        let mut payload = Vec::with_capacity(stored.len().saturating_add(1));
        payload.push(TABLE);
        payload.extend_from_slice(&stored);
        let record = self.append_record(&payload)?;
        let table = TableRef {
            lo: run.0,
            hi: run.1,
            // The blocks follow the record header and the kind byte.
            pos: record.saturating_add(RECORD_HEADER).saturating_add(1),
            len,
            groups,
        };
        let header = SealHeader {
            table,
            level: seal.level,
            span: seal.span,
            prev: self.last_seal,
            last_pos,
        };
        let mut payload = vec![SEAL];
        encode_seal_header(&mut payload, &header);
        let places = encode_body(&mut payload, checkpoint, &EntryList::of(kept), offsets);
        self.last_seal = self.append_record(&payload)?;
        Ok((table, in_file(places, self.last_seal)))
    }

    /// Points the superblock at the last seal, if it does not already.
    pub fn publish_seals(&mut self) -> Result<()> {
        if self.superblock.1 != self.last_seal {
            self.write_superblock()?;
        }
        Ok(())
    }

    /// The offset index stored at `stored` (see [`Offsets`]); `Corrupt` naming `index.log`
    /// and the offset when its bytes fail their checksum or do not decode.
    pub fn load_offsets(&self, stored: StoredOffsets) -> Result<OffsetIndex> {
        let corrupt =
            |reason: &str| super::entry::corrupt("index.log", stored.at, reason.to_owned());
        let len = usize::try_from(stored.len)
            .ok()
            .filter(|_| stored.len <= MAX_RECORD)
            .ok_or_else(|| corrupt("an offset index longer than a record"))?;
        let mut bytes = vec![0u8; len];
        self.file.read_exact_at(stored.at, &mut bytes)?;
        if crc32c::crc32c(&bytes) != stored.crc {
            return Err(corrupt("an offset index fails its checksum"));
        }
        decode_offsets(&bytes).ok_or_else(|| corrupt("an offset index does not decode"))
    }

    /// Bytes of valid records (with the file header).
    pub fn saved_bytes(&self) -> u64 {
        self.end
    }

    /// Releases the file.
    pub fn close(&self) -> Result<()> {
        Ok(self.file.close()?)
    }
}
