//! The persisted index: `index.log`, an append-only series of checksummed records. A save
//! appends one record holding what the index gained since the previous one (entries with their
//! ends, offset indexes of large entries) and the checkpoint it reaches; nothing is rewritten,
//! so a save costs what it adds, not the history. Loading replays the records. The index is
//! derived data: a torn, corrupt or inconsistent record ends the usable prefix, and the logs
//! are indexed from that prefix's checkpoint on. See `docs/FORMAT.md` for the byte layout.

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
use super::index::{EntryRef, Index};
use super::offsets::{OffsetIndex, SubDocRef};
use crate::kpath::{KPath, Segment};
use crate::storage::BlockFile;
use std::collections::HashMap;
use std::sync::Arc;

/// Offset indexes of large entries, by (level, position).
pub type Offsets = HashMap<(u8, u64), Arc<OffsetIndex>>;

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
}

const MAGIC: &[u8; 8] = b"TNYINDEX";
/// The index log's format version (1-4 were the whole-index slots `index.a`/`index.b`).
pub const VERSION: u32 = 5;
/// File header bytes: magic, version, CRC-32C of the two.
pub const FILE_HEADER: u64 = 16;
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
        let segments = path.segments();
        let shared = segments
            .iter()
            .zip(self.previous)
            .take_while(|(a, b)| a == b)
            .count();
        let rest = segments.get(shared..).unwrap_or_default();
        out.extend_from_slice(&(shared as u32).to_be_bytes());
        out.extend_from_slice(&(rest.len() as u32).to_be_bytes());
        for segment in rest {
            let (kind, name, number) = match segment {
                Segment::Field(name) => (0u8, Some(name), 0),
                Segment::FieldAll => (1, None, 0),
                Segment::Index(i) => (2, None, *i),
                Segment::IndexAll => (3, None, 0),
                Segment::Sparse(i) => (4, None, *i),
                Segment::SparseAll => (5, None, 0),
                Segment::Key(name) => (6, Some(name), 0),
            };
            out.push(kind);
            match name {
                Some(name) => {
                    out.extend_from_slice(&(name.len() as u32).to_be_bytes());
                    out.extend_from_slice(name.as_bytes());
                }
                None if matches!(kind, 2 | 4) => put_u64(out, number),
                None => {}
            }
        }
        self.previous = segments;
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

/// A record's payload: the checkpoint, the added entries, the added offset indexes.
fn encode_record(
    checkpoint: Checkpoint,
    added: &[Added],
    offsets: &[((u8, u64), &OffsetIndex)],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut paths = PathWriter::default();
    for v in [
        checkpoint.max_commit,
        checkpoint.tx_seq,
        checkpoint.level0_end,
        checkpoint.compact_end,
    ] {
        put_u64(&mut out, v);
    }
    put_u64(&mut out, added.len() as u64);
    for (level, entry, ends) in added {
        out.push(*level);
        put_u64(&mut out, entry.key);
        put_u64(&mut out, entry.pos);
        put_u64(&mut out, ends.len() as u64);
        for end in ends {
            out.push(u8::from(end.independent));
            paths.put(&mut out, &end.path);
        }
    }
    put_u64(&mut out, offsets.len() as u64);
    for ((level, pos), index) in offsets {
        out.push(*level);
        put_u64(&mut out, *pos);
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
    }
    out
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
        let mut segments = self.previous.get(..shared)?.to_vec();
        if segments.len().saturating_add(count as usize) > KPath::MAX_SEGMENTS {
            return None;
        }
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
        self.previous.clone_from(&segments);
        Some(KPath::from_segments(segments))
    }

    fn name(&mut self) -> Option<Arc<str>> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).ok().map(Arc::from)
    }
}

/// A decoded record.
struct Record {
    checkpoint: Checkpoint,
    added: Vec<Added>,
    offsets: Offsets,
}

fn decode_record(bytes: &[u8]) -> Option<Record> {
    let mut r = Reader {
        bytes,
        at: 0,
        previous: Vec::new(),
    };
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
        let (level, pos, count) = (r.u8()?, r.u64()?, r.u64()?);
        let mut refs = Vec::with_capacity(count.min(1 << 20) as usize);
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
                // Each word is 8 bytes: a count the payload cannot hold is corruption.
                if words > r.remaining() / 8 {
                    return None;
                }
                let bits = (0..words).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
                Some(MemberFilter {
                    object,
                    start,
                    end,
                    bits,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let crcs = r.u64()?;
        // Each checksum is 4 bytes: a count the payload cannot hold is corruption.
        if crcs > r.remaining() / 4 {
            return None;
        }
        let chunk_crcs = (0..crcs).map(|_| r.u32()).collect::<Option<Arc<[u32]>>>()?;
        offsets.insert(
            (level, pos),
            Arc::new(OffsetIndex {
                refs,
                ops,
                filters,
                chunk_crcs,
            }),
        );
    }
    (r.at == bytes.len()).then_some(Record {
        checkpoint,
        added,
        offsets,
    })
}

/// Tracks what the records so far add up to, and whether the next one continues them.
#[derive(Default)]
struct Replay {
    loaded: Loaded,
    /// The position of the last entry of level 0 and of the compacted levels.
    last_pos: [Option<u64>; 2],
}

impl Replay {
    /// Applies `record` if it continues what came before: level-0 commits follow each other
    /// densely at increasing positions (one transaction number per commit at most), compacted entries at increasing positions with
    /// increasing keys per level, all within the checkpoint's log ends, which never shrink;
    /// offset indexes belong to entries that are indexed. Otherwise nothing changes.
    fn apply(&mut self, record: Record) -> bool {
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
        let mut last_pos = self.last_pos;
        let mut last_key: Vec<u64> = (0..self.loaded.index.depth())
            .map(|l| {
                self.loaded
                    .index
                    .level(l)
                    .and_then(|l| l.entries().last())
                    .map_or(0, |e| e.key)
            })
            .collect();
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
        if !record.offsets.is_empty() {
            let added: std::collections::HashSet<(u8, u64)> =
                record.added.iter().map(|(l, e, _)| (*l, e.pos)).collect();
            let indexed =
                |key: &(u8, u64)| {
                    let (level, pos) = key;
                    added.contains(key)
                        || self.loaded.index.level(*level).is_some_and(|l| {
                            l.entries().binary_search_by_key(pos, |e| e.pos).is_ok()
                        })
                };
            if !record.offsets.keys().all(indexed) {
                return false;
            }
        }
        self.loaded.offsets.extend(record.offsets);
        for (level, entry, ends) in record.added {
            // Compacted levels' tries are built when a read first needs them.
            let index = self.loaded.index.level_mut(level);
            if level == 0 {
                index.add(entry, &ends);
            } else {
                index.defer(entry, ends);
            }
        }
        self.loaded.checkpoint = after;
        self.last_pos = last_pos;
        true
    }
}

/// `index.log`: the persisted index, appended to by [`save`](IndexLog::save).
pub struct IndexLog {
    file: Box<dyn BlockFile>,
    /// Where the next record goes: the end of the valid records.
    end: u64,
    writable: bool,
}

impl IndexLog {
    /// Opens the index log and replays its valid records. A writable log drops whatever follows
    /// them (a torn or corrupt record, an old format's bytes) and writes a fresh file header
    /// where it is missing or foreign; a read-only one only ignores it.
    pub fn open(file: Box<dyn BlockFile>, writable: bool) -> Result<(IndexLog, Loaded)> {
        let len = file.len()?;
        let mut header = [0u8; FILE_HEADER as usize];
        let valid_header = len >= FILE_HEADER && {
            file.read_exact_at(0, &mut header)?;
            header == file_header()
        };
        let mut log = IndexLog {
            file,
            end: FILE_HEADER,
            writable,
        };
        let mut replay = Replay::default();
        if valid_header {
            while let Some((record, next)) = log.record_at(log.end, len)? {
                if !replay.apply(record) {
                    break;
                }
                log.end = next;
            }
        } else {
            log.end = 0;
        }
        if writable && (log.end != len || !valid_header) {
            log.reset_to(log.end)?;
        }
        Ok((log, replay.loaded))
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
        Ok(decode_record(&payload).map(|record| (record, next)))
    }

    /// Cuts the log to `end` (or, below the file header, to a fresh header) and syncs.
    fn reset_to(&mut self, end: u64) -> Result<()> {
        if end < FILE_HEADER {
            self.file.write_all_at(0, &file_header())?;
            self.end = FILE_HEADER;
        } else {
            self.end = end;
        }
        self.file.set_len(self.end)?;
        self.file.sync()?;
        Ok(())
    }

    /// Drops every record: the index will be rebuilt from the logs.
    pub fn clear(&mut self) -> Result<()> {
        if self.writable {
            self.reset_to(0)?;
        }
        Ok(())
    }

    /// Appends a record of `added` entries and `offsets` reaching `checkpoint`, and syncs. On
    /// failure the record is cut back (best effort: a torn record is dropped at the next open).
    pub fn save(
        &mut self,
        checkpoint: Checkpoint,
        added: &[Added],
        offsets: &[((u8, u64), &OffsetIndex)],
    ) -> Result<()> {
        let payload = encode_record(checkpoint, added, offsets);
        let mut out = Vec::with_capacity(payload.len().saturating_add(RECORD_HEADER as usize));
        put_u64(&mut out, payload.len() as u64);
        out.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
        let header_crc = crc32c::crc32c(&out);
        out.extend_from_slice(&header_crc.to_be_bytes());
        out.extend_from_slice(&payload);
        let written = self
            .file
            .write_all_at(self.end, &out)
            .and_then(|()| self.file.sync());
        if let Err(e) = written {
            let _ = self.file.set_len(self.end);
            return Err(e.into());
        }
        self.end = self.end.saturating_add(out.len() as u64);
        Ok(())
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
