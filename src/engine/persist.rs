//! The persisted index: two slots (`index.a`, `index.b`), each written whole with a checksummed
//! header; a save overwrites the older slot. See `docs/FORMAT.md` for the byte layout.

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
use std::collections::HashMap;
use std::sync::Arc;

/// Offset indexes of large entries, by (level, position).
pub type Offsets = HashMap<(u8, u64), Arc<OffsetIndex>>;

/// What a valid slot holds.
#[derive(Default)]
pub struct Loaded {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The index.
    pub index: Index,
    /// The offset indexes.
    pub offsets: Offsets,
}
use crate::kpath::KPath;
use crate::storage::BlockFile;

const MAGIC: &[u8; 8] = b"TNYINDEX";
const VERSION: u32 = 4;
/// Header bytes: magic, version, max commit, tx sequence, level0 end, compact end, payload
/// length, payload CRC, header CRC.
pub const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 8 + 8 + 8 + 4 + 4;

/// What a slot records besides the index itself.
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

fn put_path(out: &mut Vec<u8>, path: &KPath) {
    let text = path.to_string();
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Serializes the index (per level, its entries and its ends), then the offset indexes.
fn encode(index: &Index, offsets: &Offsets) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(index.depth());
    for level in 0..index.depth() {
        let Some(l) = index.level(level) else {
            continue;
        };
        put_u64(&mut out, l.entries().len() as u64);
        for e in l.entries() {
            put_u64(&mut out, e.key);
            put_u64(&mut out, e.pos);
        }
        let ends = l.ends();
        put_u64(&mut out, ends.len() as u64);
        for (path, end) in ends {
            put_u64(&mut out, end.entry.key);
            out.push(u8::from(end.independent));
            put_path(&mut out, &path);
        }
    }
    put_u64(&mut out, offsets.len() as u64);
    for ((level, pos), index) in offsets {
        out.push(*level);
        put_u64(&mut out, *pos);
        put_u64(&mut out, index.refs.len() as u64);
        for r in &index.refs {
            put_path(&mut out, &r.path);
            put_u64(&mut out, r.offset);
            put_u64(&mut out, r.len);
        }
        put_u64(&mut out, index.ops.len() as u64);
        for path in &index.ops {
            put_path(&mut out, path);
        }
        put_u64(&mut out, index.filters.len() as u64);
        for f in &index.filters {
            put_path(&mut out, &f.object);
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
    fn path(&mut self) -> Option<KPath> {
        let len = self.u32()? as usize;
        KPath::parse(std::str::from_utf8(self.take(len)?).ok()?).ok()
    }
}

fn decode(bytes: &[u8]) -> Option<(Index, Offsets)> {
    let mut r = Reader { bytes, at: 0 };
    let depth = r.u8()?;
    let mut index = Index::default();
    for level in 0..depth {
        let count = r.u64()?;
        let mut entries = Vec::with_capacity(count.min(1 << 20) as usize);
        for _ in 0..count {
            entries.push(EntryRef {
                key: r.u64()?,
                pos: r.u64()?,
            });
        }
        let mut ends_of: std::collections::HashMap<u64, Vec<End>> =
            std::collections::HashMap::new();
        for _ in 0..r.u64()? {
            let key = r.u64()?;
            let independent = r.u8()? != 0;
            let path = r.path()?;
            ends_of
                .entry(key)
                .or_default()
                .push(End { path, independent });
        }
        let l = index.level_mut(level);
        for e in entries {
            l.add(e, ends_of.get(&e.key).map_or(&[][..], Vec::as_slice));
        }
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
    (r.at == bytes.len()).then_some((index, offsets))
}

/// Writes `index` with `checkpoint` into `slot` (whole, then synced).
pub fn save(
    slot: &dyn BlockFile,
    index: &Index,
    offsets: &Offsets,
    checkpoint: Checkpoint,
) -> Result<()> {
    let payload = encode(index, offsets);
    let mut out = Vec::with_capacity(payload.len().saturating_add(HEADER_LEN));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    for v in [
        checkpoint.max_commit,
        checkpoint.tx_seq,
        checkpoint.level0_end,
        checkpoint.compact_end,
        payload.len() as u64,
    ] {
        put_u64(&mut out, v);
    }
    out.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    let header_crc = crc32c::crc32c(&out);
    out.extend_from_slice(&header_crc.to_be_bytes());
    out.extend_from_slice(&payload);
    slot.write_all_at(0, &out)?;
    slot.set_len(out.len() as u64)?;
    slot.sync()?;
    Ok(())
}

/// Reads a slot: `None` when it is empty, torn or corrupt (the caller falls back to the other
/// slot or a rebuild).
pub fn load(slot: &dyn BlockFile) -> Result<Option<Loaded>> {
    let len = slot.len()?;
    if len < HEADER_LEN as u64 {
        return Ok(None);
    }
    let mut header = [0u8; HEADER_LEN];
    slot.read_exact_at(0, &mut header)?;
    let mut r = Reader {
        bytes: &header,
        at: 0,
    };
    let (Some(magic), Some(version)) = (r.take(8).map(<[u8]>::to_vec), r.u32()) else {
        return Ok(None);
    };
    if magic != MAGIC || version != VERSION {
        return Ok(None);
    }
    let (
        Some(max_commit),
        Some(tx_seq),
        Some(level0_end),
        Some(compact_end),
        Some(payload_len),
        Some(payload_crc),
    ) = (r.u64(), r.u64(), r.u64(), r.u64(), r.u64(), r.u32())
    else {
        return Ok(None);
    };
    let covered = header
        .get(..HEADER_LEN.saturating_sub(4))
        .map(crc32c::crc32c);
    if covered.is_none() || r.u32() != covered {
        return Ok(None);
    }
    if Some(payload_len) != len.checked_sub(HEADER_LEN as u64) {
        return Ok(None);
    }
    let mut payload = vec![0u8; payload_len as usize];
    slot.read_exact_at(HEADER_LEN as u64, &mut payload)?;
    if crc32c::crc32c(&payload) != payload_crc {
        return Ok(None);
    }
    let checkpoint = Checkpoint {
        max_commit,
        tx_seq,
        level0_end,
        compact_end,
    };
    Ok(decode(&payload).map(|(index, offsets)| Loaded {
        checkpoint,
        index,
        offsets,
    }))
}
