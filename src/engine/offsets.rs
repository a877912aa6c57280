//! The offset index of a large entry: where the big subtrees of its payload start, so that a
//! read of a small path inside it reads only the bytes around that path.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::io::Read;

use std::sync::Arc;

use super::filter::{key_hash, MemberFilter};
use crate::kpath::{KPath, Segment};
use crate::patch::is_active_tag;
use crate::storage::BlockFile;
use crate::tony::{
    member_in_run, write_wire_reporting, Event, EventReader, Node, NodeStarts, ParseError, Pos,
    RunStart, Slot,
};

/// Streamed payloads are verified in chunks of this many bytes, each with its CRC-32C in the
/// offset index.
pub const VERIFY_CHUNK: u64 = 4 * 1024;
/// Entries whose payload is at least this long get an offset index.
pub const INDEXED_ENTRY_BYTES: usize = 64 * 1024;
/// A subtree at least this long gets a reference.
pub const CHUNK_BYTES: u64 = 4 * 1024;
/// Every this many bytes into an array or object, an element or member gets a reference (a
/// *seek* reference), so a read inside a long array of small elements starts near its element,
/// and one inside a wide object near its member (found through a Bloom filter of its keys).
pub const SEEK_BYTES: u64 = 16 * 1024;

/// A node of an entry's payload: its path (from the payload root, so under `patch`), and where
/// its text starts and how long it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubDocRef {
    /// The node's path within the entry value.
    pub path: KPath,
    /// Offset of the node's first byte within the payload.
    pub offset: u64,
    /// Length of the node's text (an upper bound: it may include the separator after it).
    pub len: u64,
}

/// References to the root, every subtree of at least [`CHUNK_BYTES`], and in every array or
/// object an element or member every [`SEEK_BYTES`], in document order; and for every object
/// with member references, a filter of the keys of each stretch between them. Their number is
/// bounded by (payload size / chunk) × depth × 2.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffsetIndex {
    /// The references.
    pub refs: Vec<SubDocRef>,
    /// Paths of nodes whose tag holds a patch op or a style tag: their text is not the value
    /// they produce, so reads through them cannot copy bytes.
    pub ops: Vec<KPath>,
    /// The key filters of the stretches of wide objects, in document order.
    pub filters: Vec<MemberFilter>,
    /// The CRC-32C of each [`VERIFY_CHUNK`] of the payload (the last one may be shorter):
    /// streamed reads check every chunk they touch.
    pub chunk_crcs: Arc<[u32]>,
}

/// The CRC-32C of each [`VERIFY_CHUNK`]-byte chunk of `payload`.
pub fn chunk_crcs(payload: &[u8]) -> Arc<[u32]> {
    payload
        .chunks(VERIFY_CHUNK as usize)
        .map(crc32c::crc32c)
        .collect()
}

fn event_tag(event: &Event) -> Option<&str> {
    match event {
        Event::BeginObject(tag) | Event::BeginArray(tag) => tag.as_deref(),
        Event::Scalar(node) => node.tag(),
        _ => None,
    }
}

/// A node whose end is not reached yet, while an offset index is built.
struct Open {
    start: u64,
    /// The segment the node adds to its path: `None` for the root and for a merge key's value
    /// (the open nodes spell the innermost one's path).
    last: Option<Segment>,
    /// The root: always referenced, so every lookup has a place to start.
    root: bool,
    /// Kept as a seek reference (an array element or object member).
    seek: bool,
    /// For a container: where its current stretch (since its last seek reference) starts.
    stretch: u64,
    /// For an object: where the key hashes of the current stretch's members start in the
    /// builder's key stack (one stack for all open objects: a member's own members are
    /// dropped from it when the member ends).
    keys_from: usize,
    /// For an object: whether it has member seek references (so it keeps filters).
    wide: bool,
}

/// Builds an [`OffsetIndex`] from node starts reported in document order, keeping only the
/// big nodes, the seek references and the key filters. Holds the open nodes only (a path is
/// spelled from them when a node is kept, not copied for every node).
#[derive(Default)]
struct OffsetsBuilder {
    open: Vec<Open>,
    refs: Vec<SubDocRef>,
    filters: Vec<MemberFilter>,
    ops: Vec<KPath>,
    /// The key hashes of the open objects' current stretches, outermost object first.
    keys: Vec<u64>,
}

impl OffsetsBuilder {
    /// The path of the innermost open node.
    fn open_path(&self) -> KPath {
        KPath::from_segments(self.open.iter().filter_map(|o| o.last.clone()).collect())
    }

    /// A node starts at `offset` inside `enclosing` containers; `last` is the segment it adds
    /// to their path (`None` for the root and a merge key's value, which no reference names);
    /// `op` when its tag is a patch op or a style tag.
    fn start(&mut self, offset: u64, enclosing: usize, last: Option<Segment>, op: bool) {
        // Document order: the nodes this deep or deeper have ended.
        while self.open.len() > enclosing {
            self.close(offset);
        }
        if op {
            let parent = self.open_path();
            self.ops.push(match &last {
                Some(segment) => parent.child(segment.clone()),
                None => parent,
            });
        }
        // Every SEEK_BYTES into a container, an element or member is kept.
        let (member, seek) = match (&last, self.open.last()) {
            (Some(last), Some(parent)) => (
                !matches!(last, Segment::Index(_)),
                offset.saturating_sub(parent.stretch) >= SEEK_BYTES,
            ),
            _ => (false, false),
        };
        // A new stretch of a wide object: the members of the last one get their filter.
        let object = (seek && member).then(|| self.open_path());
        if let (Some(last), Some(parent)) = (&last, self.open.last_mut()) {
            if let Some(object) = object {
                let keys = self.keys.get(parent.keys_from..).unwrap_or_default();
                self.filters
                    .push(MemberFilter::new(object, parent.stretch, offset, keys));
                self.keys.truncate(parent.keys_from);
                parent.wide = true;
            }
            if seek {
                parent.stretch = offset;
            }
            if member {
                self.keys.push(key_hash(last));
            }
        }
        let root = self.open.is_empty();
        self.open.push(Open {
            start: offset,
            last,
            root,
            seek,
            stretch: offset,
            keys_from: self.keys.len(),
            wide: false,
        });
    }

    /// The innermost open node ends at `end`.
    fn close(&mut self, end: u64) {
        let Some(node) = self.open.last() else {
            return;
        };
        let len = end.saturating_sub(node.start);
        let named = node.last.is_some();
        let referenced = node.root || (named && (len >= CHUNK_BYTES || node.seek));
        let path = (node.wide || referenced).then(|| self.open_path());
        let Some(node) = self.open.pop() else {
            return;
        };
        if node.wide {
            if let Some(path) = &path {
                let keys = self.keys.get(node.keys_from..).unwrap_or_default();
                self.filters
                    .push(MemberFilter::new(path.clone(), node.stretch, end, keys));
            }
        }
        // Its members' hashes go; its own (as its parent's member) stays.
        self.keys.truncate(node.keys_from);
        let Some(path) = path else {
            return;
        };
        if referenced {
            self.refs.push(SubDocRef {
                path,
                offset: node.start,
                len,
            });
        }
    }

    /// The index, once every node has been reported and the payload is `total` bytes.
    fn finish(mut self, total: u64) -> OffsetIndex {
        while !self.open.is_empty() {
            self.close(total);
        }
        crate::sort::sort_by_key(&mut self.refs, |r| r.offset);
        crate::sort::sort_by_key(&mut self.filters, |f| f.start);
        OffsetIndex {
            refs: self.refs,
            ops: self.ops,
            filters: self.filters,
            chunk_crcs: Arc::default(),
        }
    }
}

/// The wire encoder reports node starts straight to the builder.
impl NodeStarts for OffsetsBuilder {
    fn node(&mut self, offset: u64, enclosing: usize, slot: Slot<'_>, tag: Option<&str>) {
        self.start(
            offset,
            enclosing,
            slot.segment(),
            tag.is_some_and(is_active_tag),
        );
    }
}

impl OffsetIndex {
    /// Whether the bytes of `target` (below `ancestor`) are exactly its value: no op or style
    /// tag sits on it, inside it, or between `ancestor` and it.
    pub fn plain_between(&self, ancestor: &KPath, target: &KPath) -> bool {
        !self.ops.iter().any(|op| {
            op != ancestor
                && ancestor.is_prefix_of(op)
                && (target.is_prefix_of(op) || op.is_prefix_of(target))
        })
    }

    /// The deepest reference at or above `target`.
    pub fn nearest(&self, target: &KPath) -> Option<&SubDocRef> {
        self.refs
            .iter()
            .filter(|r| r.path.is_prefix_of(target))
            .max_by_key(|r| r.path.len())
    }

    /// The references from which a forward walk may reach `target`, nearest first: ones at or
    /// above it, earlier elements of arrays on its way, and members of objects on its way that
    /// start a stretch whose filter may hold the key wanted. Each comes with where its walk
    /// gives up (relative to the reference): the end of its stretch for a member, as a filter
    /// can let a key through that the stretch does not hold. A walk from any other reference
    /// is conclusive.
    ///
    /// Below a wide object (the deepest on the way), only its stretches that may hold the key
    /// wanted (the object's own reference starts the first) and references inside that member
    /// are tried: together they cover every place the member could be. None at all means the
    /// key filters prove `target` absent.
    pub fn seek(&self, target: &KPath) -> Vec<(&SubDocRef, Option<u64>)> {
        let segments = target.segments();
        // The deepest wide object on the way, and the key wanted in it.
        let wide = (0..segments.len()).rev().find_map(|depth| {
            let (object, rest) = segments.split_at_checked(depth)?;
            let key = rest.first()?;
            let keyed = matches!(key, Segment::Field(_) | Segment::Sparse(_));
            (keyed && self.filters.iter().any(|f| f.object.segments() == object))
                .then_some((object, key))
        });
        // The key is checked against every stretch's filter: hashed once.
        let hash = wide.map(|(_, key)| key_hash(key));
        // Below a wide object every reference lies in one of its stretches (they cover it), and
        // the member wanted with all below it in one whose filter holds its key: only those
        // stretches' references are looked at (references are in offset order), not the
        // thousands of a large entry.
        let within = |start: u64, end: u64| {
            let first = self.refs.partition_point(|r| r.offset < start);
            let last = self.refs.partition_point(|r| r.offset < end);
            self.refs.get(first..last.max(first)).unwrap_or_default()
        };
        let refs: Vec<&SubDocRef> = match (wide, hash) {
            (Some((object, _)), Some(hash)) => self
                .filters
                .iter()
                // The bits first: most filters fail at a probe or two, a path compares
                // names.
                .filter(|f| f.may_hold_hashed(hash) && f.object.segments() == object)
                .flat_map(|f| within(f.start, f.end))
                .collect(),
            _ => self.refs.iter().collect(),
        };
        let mut found: Vec<(&SubDocRef, Option<u64>)> = refs
            .into_iter()
            .filter_map(|r| match (wide, hash) {
                // The object itself starts its first stretch; a member's seek reference starts
                // a later one (unless it is the member wanted: a walk from it is conclusive).
                (Some((object, _)), Some(hash))
                    if r.path.segments() == object
                        || (r.path.len() == object.len().saturating_add(1)
                            && r.path.segments().starts_with(object)
                            && !r.path.is_prefix_of(target)) =>
                {
                    self.stretch_walk(object, r, hash)
                }
                (Some((object, _)), _) if r.path.len() <= object.len() => None,
                _ => self.leads_to(r, target).map(|limit| (r, limit)),
            })
            .collect();
        crate::sort::sort_by_key(&mut found, |(r, _)| std::cmp::Reverse(r.offset));
        found
    }

    /// Whether a walk forward from the node of `from` may reach `target` (`Some`), and where
    /// it gives up if not conclusive.
    fn leads_to(&self, from: &SubDocRef, target: &KPath) -> Option<Option<u64>> {
        if from.path.is_prefix_of(target) {
            return Some(None);
        }
        let (last, parent) = from.path.segments().split_last()?;
        if !target.segments().starts_with(parent) {
            return None;
        }
        match (last, target.segments().get(parent.len())?) {
            (Segment::Index(at), Segment::Index(t)) => (t >= at).then_some(None),
            (
                Segment::Field(_) | Segment::Sparse(_),
                key @ (Segment::Field(_) | Segment::Sparse(_)),
            ) => self
                .stretch_walk(parent, from, key_hash(key))
                .map(|(_, limit)| limit),
            _ => None,
        }
    }

    /// A walk from `from`, which starts a stretch of `object`, bounded by that stretch, if its
    /// filter may hold the key with `hash` ([`key_hash`]).
    fn stretch_walk<'a>(
        &self,
        object: &[Segment],
        from: &'a SubDocRef,
        hash: u64,
    ) -> Option<(&'a SubDocRef, Option<u64>)> {
        // Filters are sorted by start; stretches of nested objects may share one.
        let first = self.filters.partition_point(|f| f.start < from.offset);
        self.filters
            .get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(|f| f.start == from.offset)
            .find(|f| f.object.segments() == object)
            .filter(|f| f.may_hold_hashed(hash))
            .map(|f| (from, Some(f.end.saturating_sub(from.offset))))
    }
}

/// Encodes `value` in wire form, with the offset index of its big subtrees.
pub fn encode_indexed(value: &Node) -> (Vec<u8>, OffsetIndex) {
    let mut builder = OffsetsBuilder::default();
    let mut out = String::new();
    write_wire_reporting(&mut out, value, &mut builder);
    let total = out.len() as u64;
    let out = out.into_bytes();
    let index = OffsetIndex {
        chunk_crcs: chunk_crcs(&out),
        ..builder.finish(total)
    };
    (out, index)
}

/// Reads the bytes `start..end` of a [`BlockFile`] in chunks that start small (a read of a
/// small value touches a few KiB) and double up to 256 KiB (long streams make few calls).
///
/// A reader of an entry's payload made with [`verified`](Self::verified) instead reads whole
/// [`VERIFY_CHUNK`]s and checks each against its CRC-32C before handing out any of its bytes;
/// a mismatch is an error, like a failed read.
pub struct RangeReader {
    file: Arc<dyn BlockFile>,
    at: u64,
    end: u64,
    chunk: u64,
    verify: Option<Verifier>,
}

/// What a verified reader checks against, and the run of chunks it holds.
struct Verifier {
    payload: u64,
    payload_end: u64,
    crcs: Arc<[u32]>,
    /// Where the bytes held start (an offset in the file, at a chunk boundary).
    held_at: u64,
    /// Verified bytes: whole chunks (the payload's last one may be short).
    bytes: Vec<u8>,
    /// How many chunks the next refill reads (doubling up to `max_run`, like unverified
    /// reads).
    run: u64,
    max_run: u64,
}

impl RangeReader {
    /// A reader of `file[start..end]`.
    pub fn new(file: Arc<dyn BlockFile>, start: u64, end: u64) -> Self {
        RangeReader {
            file,
            at: start,
            end,
            chunk: 4 * 1024,
            verify: None,
        }
    }

    /// A reader of `file[payload + from .. payload + len]`, the tail of a payload of `len`
    /// bytes whose chunk checksums are `crcs`.
    pub fn verified(
        file: Arc<dyn BlockFile>,
        payload: u64,
        len: u64,
        from: u64,
        crcs: Arc<[u32]>,
    ) -> Self {
        // `from` comes from a persisted index: one past the payload (a damaged index) reads
        // nothing, which the reader's parser reports, rather than wrapping around.
        let payload_end = payload.saturating_add(len);
        let start = payload.saturating_add(from.min(len));
        RangeReader {
            verify: Some(Verifier {
                payload,
                payload_end,
                crcs,
                held_at: 0,
                bytes: Vec::new(),
                run: 1,
                max_run: 64,
            }),
            ..Self::new(file, start, payload_end)
        }
    }

    /// This verified reader, reading (and checking) one chunk at a time: a scan that may stop
    /// anywhere reads no chunk past the one it stops in.
    pub fn chunk_by_chunk(mut self) -> Self {
        if let Some(v) = self.verify.as_mut() {
            v.max_run = 1;
        }
        self
    }

    /// Moves this verified reader to `offset` in its payload, keeping the chunk it holds if
    /// that is where `offset` is, and lets its reads grow again from one chunk.
    fn rewind_to(&mut self, offset: u64) {
        if let Some(v) = self.verify.as_mut() {
            self.at = v.payload.saturating_add(offset).min(self.end);
            v.run = 1;
            v.max_run = 64;
        }
    }

    /// Reads into `buf` from the verified chunks holding `self.at`, refilling them when needed.
    fn read_verified(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(v) = self.verify.as_mut() else {
            unreachable!("only called with a verifier");
        };
        let held_end = v.held_at.saturating_add(v.bytes.len() as u64);
        if self.at < v.held_at || self.at >= held_end {
            let first = self.at.saturating_sub(v.payload) / VERIFY_CHUNK;
            let start = v.payload.saturating_add(first.saturating_mul(VERIFY_CHUNK));
            let end = start
                .saturating_add(v.run.saturating_mul(VERIFY_CHUNK))
                .min(v.payload_end);
            v.run = v.run.saturating_mul(2).min(v.max_run);
            let len = usize::try_from(end.saturating_sub(start)).map_err(std::io::Error::other)?;
            v.bytes.resize(len, 0);
            self.file
                .read_exact_at(start, &mut v.bytes)
                .map_err(std::io::Error::other)?;
            for (i, chunk) in v.bytes.chunks(VERIFY_CHUNK as usize).enumerate() {
                let index = usize::try_from(first)
                    .unwrap_or(usize::MAX)
                    .saturating_add(i);
                if v.crcs.get(index) != Some(&crc32c::crc32c(chunk)) {
                    v.bytes.clear();
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{}: checksum mismatch in the payload chunk at offset {}",
                            self.file.name(),
                            start.saturating_add((i as u64).saturating_mul(VERIFY_CHUNK))
                        ),
                    ));
                }
            }
            v.held_at = start;
        }
        let within = usize::try_from(self.at.saturating_sub(v.held_at)).unwrap_or(usize::MAX);
        let held = v.bytes.get(within..).unwrap_or_default();
        let left = usize::try_from(self.end.saturating_sub(self.at)).unwrap_or(usize::MAX);
        let n = held.len().min(left).min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), held.get(..n)) {
            to.copy_from_slice(from);
        }
        self.at = self.at.saturating_add(n as u64);
        Ok(n)
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.end || buf.is_empty() {
            return Ok(0);
        }
        if self.verify.is_some() {
            return self.read_verified(buf);
        }
        let left = self.end.saturating_sub(self.at).min(self.chunk);
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        self.chunk = self.chunk.saturating_mul(2).min(256 * 1024);
        if let Some(buf) = buf.get_mut(..n) {
            self.file
                .read_exact_at(self.at, buf)
                .map_err(std::io::Error::other)?;
        }
        self.at = self.at.saturating_add(n as u64);
        Ok(n)
    }
}

/// Rebuilds the offset index of an entry's payload, chunk checksums included, from its bytes
/// in memory (already checked against the frame's checksum): recovery and imports index a
/// large entry from the one copy they read, without reading it again.
pub fn scan_offsets(payload: &[u8]) -> Result<OffsetIndex, ParseError> {
    let mut events = EventReader::new(payload);
    let mut builder = OffsetsBuilder::default();
    while let Some(event) = events.next_event()? {
        if event.starts_node() {
            let op = event_tag(&event).is_some_and(is_active_tag);
            let (enclosing, last) = events.node_slot(&event);
            builder.start(events.node_offset(), enclosing, last.cloned(), op);
        }
    }
    Ok(OffsetIndex {
        chunk_crcs: chunk_crcs(payload),
        ..builder.finish(payload.len() as u64)
    })
}

/// A verified reader of `file[payload + r.offset .. payload + len]` positioned at the node of
/// `r`, whose walk may continue past that node to its later siblings (for [`seek_to`]).
pub fn reader_at(
    file: Arc<dyn BlockFile>,
    payload: u64,
    len: u64,
    r: &SubDocRef,
    crcs: Arc<[u32]>,
) -> EventReader<RangeReader> {
    let bytes = RangeReader::verified(file, payload, len, r.offset, crcs);
    EventReader::resume(bytes, &r.path)
}

/// Bytes read past a stretch's end with it: a scan stops at the first member whose value
/// starts at or past the end, once it has seen the first byte of that value.
const STRETCH_SLACK: u64 = 64;

/// The member `target` leads to in the wide object whose stretch starts at `from` (the object
/// itself, or the member that starts a later stretch) and gives up at `give_up_at` (relative to
/// `from`), found in the stretch's bytes without building events: a reference to that member's
/// value and a reader of the payload from there, from which [`descend`] is conclusive;
/// `Some(None)` when the stretch does not hold the member; `None` when the fast reader cannot
/// tell (then [`seek_to`] walks the stretch). The bytes are verified against `crcs` one chunk
/// at a time, only as far as the member (so a damaged chunk past it does not fail the read).
pub fn member_in_stretch(
    file: Arc<dyn BlockFile>,
    (payload, len): (u64, u64),
    from: &SubDocRef,
    give_up_at: u64,
    target: &KPath,
    crcs: Arc<[u32]>,
) -> Result<Option<Option<(SubDocRef, RangeReader)>>, ParseError> {
    let at_object = from.path.is_prefix_of(target);
    let object = if at_object {
        from.path.clone()
    } else {
        from.path.parent()
    };
    let Some(wanted) = target.segments().get(object.len()) else {
        return Ok(None);
    };
    let Some(key) = wanted.member_key() else {
        return Ok(None);
    };
    let reader = RangeReader::verified(file, payload, len, from.offset, crcs);
    if !at_object && from.path.segments().last() == Some(wanted) {
        return Ok(Some(Some((from.clone(), reader))));
    }
    let mut reader = reader
        .chunk_by_chunk()
        .take(give_up_at.saturating_add(STRETCH_SLACK));
    let end = usize::try_from(give_up_at).unwrap_or(usize::MAX);
    let mut bytes = Vec::new();
    let mut chunk = [0u8; VERIFY_CHUNK as usize];
    // Where the scan starts in `bytes`: it resumes at the last key it reached when it needs
    // more text. A scan that ran out of text scans again once the text from there has doubled
    // (a member's long value is not scanned over and over, chunk after chunk).
    let (mut start, mut at, mut next_scan) = (
        if at_object {
            RunStart::Object
        } else {
            RunStart::Value
        },
        0usize,
        0usize,
    );
    loop {
        let read = reader
            .read(&mut chunk)
            .map_err(|e| ParseError::read_failed(Pos::default(), &e))?;
        bytes.extend_from_slice(chunk.get(..read).unwrap_or_default());
        if read > 0 && bytes.len() < next_scan {
            continue;
        }
        let rest = bytes.get(at..).unwrap_or_default();
        // The bytes read may end inside a character: the text is what precedes it.
        let text = match std::str::from_utf8(rest) {
            Ok(text) => text,
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(rest.get(..e.valid_up_to()).unwrap_or_default())
                    .unwrap_or_default()
            }
            Err(_) => return Ok(None),
        };
        match member_in_run(text, start, &key, end.saturating_sub(at)) {
            (Some(found), _) => {
                return Ok(Some(found.map(|value| {
                    let offset = from.offset.saturating_add(at.saturating_add(value) as u64);
                    let mut bytes = reader.into_inner();
                    bytes.rewind_to(offset);
                    let member = SubDocRef {
                        path: object.child(wanted.clone()),
                        offset,
                        len: len.saturating_sub(offset),
                    };
                    (member, bytes)
                })))
            }
            (None, _) if read == 0 => return Ok(None),
            (None, last_key) => {
                if let Some(last_key) = last_key {
                    at = at.saturating_add(last_key);
                    start = RunStart::Key;
                }
                next_scan = at.saturating_add(bytes.len().saturating_sub(at).saturating_mul(2));
            }
        }
    }
}

/// The reader's next event; at the end of the text, the enclosing walk finds nothing
/// (`Ok(None)`). Read and syntax errors are returned.
macro_rules! next_or_none {
    ($reader:expr) => {
        match $reader.next_event()? {
            Some(event) => event,
            None => return Ok(None),
        }
    };
}

/// Moves `reader` (positioned at the start of the node at `from`, see [`reader_at`]) to the
/// node at `to`, returning that node's first event; `None` if the path does not lead there
/// (or, walking members, not before offset `give_up_at`). `from` is at or above `to`, or an
/// earlier element or member of a container on the way (see [`OffsetIndex::seek`]).
pub fn seek_to<R: Read>(
    reader: &mut EventReader<R>,
    from: &KPath,
    to: &KPath,
    give_up_at: Option<u64>,
) -> Result<Option<Event>, ParseError> {
    if from.is_prefix_of(to) {
        let (Some(end), Some(wanted)) = (give_up_at, to.segments().get(from.len())) else {
            return descend(reader, from, to);
        };
        // `from` is a wide object: walk the members of its first stretch.
        let Event::BeginObject(_) = next_or_none!(reader) else {
            return Ok(None);
        };
        loop {
            let Event::Key(key) = next_or_none!(reader) else {
                return Ok(None);
            };
            let event = next_or_none!(reader);
            if reader.node_offset() >= end {
                return Ok(None);
            }
            if Segment::of_key(&key).as_ref() == Some(wanted) {
                let below = to.segments().get(from.len().saturating_add(1)..);
                return descend_from(reader, event, below.unwrap_or_default());
            }
            reader.skip_value(&event)?;
        }
    }
    let Some((last, parent)) = from.segments().split_last() else {
        return Ok(None);
    };
    let Some(wanted) = to.segments().get(parent.len()) else {
        return Ok(None);
    };
    let mut event = next_or_none!(reader);
    match (last, wanted) {
        // Walk the array from element `at` to element `target`.
        (Segment::Index(at), Segment::Index(target)) => {
            for _ in *at..*target {
                if matches!(event, Event::EndArray) {
                    return Ok(None);
                }
                reader.skip_value(&event)?;
                event = next_or_none!(reader);
            }
            if matches!(event, Event::EndArray) {
                return Ok(None);
            }
        }
        // Walk the object's members from `from` on until the key wanted, or the stretch end.
        (Segment::Field(_) | Segment::Sparse(_), Segment::Field(_) | Segment::Sparse(_)) => {
            if last != wanted {
                loop {
                    reader.skip_value(&event)?;
                    let Event::Key(key) = next_or_none!(reader) else {
                        return Ok(None);
                    };
                    event = next_or_none!(reader);
                    if give_up_at.is_some_and(|end| reader.node_offset() >= end) {
                        return Ok(None);
                    }
                    if Segment::of_key(&key).as_ref() == Some(wanted) {
                        break;
                    }
                }
            }
        }
        _ => return Ok(None),
    }
    let below = to.segments().get(parent.len().saturating_add(1)..);
    descend_from(reader, event, below.unwrap_or_default())
}

/// Moves `reader` (positioned at the start of the node at `from`) down to the node at `to`,
/// returning that node's first event; `None` if the path does not lead anywhere.
pub fn descend<R: Read>(
    reader: &mut EventReader<R>,
    from: &KPath,
    to: &KPath,
) -> Result<Option<Event>, ParseError> {
    let Some(rest) = to.strip_prefix(from) else {
        return Ok(None);
    };
    let event = next_or_none!(reader);
    descend_from(reader, event, rest)
}

/// Walks down `rest` from a node whose first event `event` was just read.
fn descend_from<R: Read>(
    reader: &mut EventReader<R>,
    mut event: Event,
    rest: &[Segment],
) -> Result<Option<Event>, ParseError> {
    for segment in rest {
        event = match (&event, segment) {
            (Event::BeginObject(_), Segment::Field(_) | Segment::Sparse(_)) => loop {
                match next_or_none!(reader) {
                    Event::Key(key) => {
                        let value = next_or_none!(reader);
                        if Segment::of_key(&key).as_ref() == Some(segment) {
                            break value;
                        }
                        reader.skip_value(&value)?;
                    }
                    _ => return Ok(None),
                }
            },
            (Event::BeginArray(_), Segment::Index(i)) => {
                let mut value = next_or_none!(reader);
                for _ in 0..*i {
                    if matches!(value, Event::EndArray) {
                        return Ok(None);
                    }
                    reader.skip_value(&value)?;
                    value = next_or_none!(reader);
                }
                if matches!(value, Event::EndArray) {
                    return Ok(None);
                }
                value
            }
            _ => return Ok(None),
        };
    }
    Ok(Some(event))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)] // a failing test panics
mod tests {
    use super::*;
    use crate::tony::{encode_wire, Key};

    /// A deterministic document of about `budget` nodes: nested objects and arrays, wide and
    /// long ones, tags (patch ops among them), merge keys, sparse keys, long strings.
    fn document(seed: u64, budget: usize) -> Node {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        fn build(next: &mut impl FnMut() -> u64, budget: &mut usize, depth: usize) -> Node {
            let roll = next() % 16;
            let mut node = if *budget == 0 || depth > 6 || roll < 7 {
                *budget = budget.saturating_sub(1);
                match roll % 4 {
                    0 => Node::int(next() as i64 % 1000),
                    1 => Node::string(&"word ".repeat((next() % 900) as usize)),
                    2 => Node::string(&format!("s{}", next() % 100)),
                    _ => Node::null(),
                }
            } else {
                let width = [2, 5, 40, 3000][(next() % 4) as usize].min(*budget + 1);
                *budget = budget.saturating_sub(1);
                if roll < 11 {
                    Node::array((0..width).map(|_| build(next, budget, depth + 1)).collect())
                } else {
                    let sparse = next().is_multiple_of(5);
                    Node::object(
                        (0..width)
                            .map(|i| {
                                let key = match next() % 23 {
                                    _ if sparse => Key::Int(i as u32),
                                    0 => Key::Merge,
                                    _ => Key::str(&format!("k{i}")),
                                };
                                let value = if key == Key::Merge {
                                    Node::string("base")
                                } else {
                                    build(next, budget, depth + 1)
                                };
                                (key, value)
                            })
                            .collect(),
                    )
                }
            };
            if next().is_multiple_of(9) {
                node = node
                    .with_tag(["!delete", "!replace", "!style", "!other"][(next() % 4) as usize]);
            }
            node
        }
        let mut budget = budget;
        build(&mut next, &mut budget, 0)
    }

    #[test]
    fn encoded_and_scanned_offset_indexes_agree() {
        let mut referenced = 0;
        for seed in 1..60 {
            let value = document(seed, 20_000);
            let (bytes, index) = encode_indexed(&value);
            assert_eq!(bytes, encode_wire(&value).into_bytes(), "seed {seed}");
            assert_eq!(index, scan_offsets(&bytes).unwrap(), "seed {seed}");
            for r in &index.refs {
                // Every reference names a node of the value, and its text starts there.
                let at = usize::try_from(r.offset).unwrap();
                let end = at + usize::try_from(r.len).unwrap();
                let text = std::str::from_utf8(&bytes[at..end]).unwrap();
                let found = crate::kpath::get(&value, &r.path).unwrap();
                let found =
                    found.unwrap_or_else(|| panic!("seed {seed}: {} names no node", r.path));
                assert!(
                    text.starts_with(&encode_wire(found)),
                    "seed {seed}: {}",
                    r.path
                );
            }
            referenced += index.refs.len();
        }
        assert!(
            referenced > 500,
            "the documents are big enough to be indexed: {referenced}"
        );
    }

    /// The scan of a stretch's bytes finds what the walk of its events finds, member by
    /// member, present or not, and leaves few stretches to the walk.
    #[test]
    fn stretch_scans_agree_with_event_walks() {
        use crate::storage::{BlockFile, MemBlockFile};
        let (mut scanned, mut left) = (0, 0);
        // Generated documents, and a wide object with keys longer than a scan reads past the
        // end of a stretch.
        let long_keys = Node::object(
            (0..200)
                .map(|i| (Key::str(&format!("k{i}{}", "x".repeat(1500))), Node::int(i)))
                .collect(),
        );
        let documents = (1..12).map(|seed| (seed, document(seed, 3_000)));
        for (seed, value) in documents.chain([(0, long_keys)]) {
            let (bytes, index) = encode_indexed(&value);
            let file = MemBlockFile::new("entry");
            file.write_all_at(0, &bytes).unwrap();
            let file: Arc<dyn BlockFile> = Arc::new(file);
            let len = bytes.len() as u64;
            for filter in &index.filters {
                let from = index
                    .refs
                    .iter()
                    .find(|r| {
                        r.offset == filter.start
                            && (r.path == filter.object || r.path.parent() == filter.object)
                    })
                    .unwrap();
                let object = crate::kpath::get(&value, &filter.object).unwrap().unwrap();
                // A sample of its keys (the stretch's own among them), and absent ones.
                let members = object.as_object().unwrap();
                let step = (members.len() / 40).max(1);
                let mut keys: Vec<Segment> = members
                    .iter()
                    .step_by(step)
                    .filter_map(|(k, _)| Segment::of_key(k))
                    .collect();
                keys.extend((0..5).map(|i| Segment::Field(format!("absent{i}").into())));
                keys.push(Segment::Sparse(u64::from(u32::MAX) + 1));
                for key in keys {
                    let target = filter.object.child(key);
                    let give_up = filter.end - from.offset;
                    let fast = member_in_stretch(
                        file.clone(),
                        (0, len),
                        from,
                        give_up,
                        &target,
                        index.chunk_crcs.clone(),
                    )
                    .unwrap();
                    let at = usize::try_from(from.offset).unwrap();
                    let mut events = EventReader::resume(&bytes[at..], &from.path);
                    let walked = seek_to(&mut events, &from.path, &target, Some(give_up)).unwrap();
                    match fast {
                        Some(Some((member, bytes))) => {
                            assert!(walked.is_some(), "seed {seed}: {target}");
                            assert_eq!(member.offset, from.offset + events.node_offset());
                            assert_eq!(member.path, target);
                            // The reader handed back reads the member's value from there.
                            let mut events = EventReader::resume(bytes, &member.path);
                            let first = descend(&mut events, &member.path, &target).unwrap();
                            let read = crate::tony::build_node(first.unwrap(), &mut events);
                            let expected = crate::kpath::get(&value, &target).unwrap();
                            assert_eq!(Some(&read.unwrap()), expected, "seed {seed}: {target}");
                            scanned += 1;
                        }
                        Some(None) => {
                            assert!(walked.is_none(), "seed {seed}: {target}");
                            scanned += 1;
                        }
                        None => left += 1,
                    }
                }
            }
        }
        assert!(scanned > 10_000, "{scanned} seeks scanned");
        assert!(
            left * 20 < scanned,
            "{left} seeks left to the walk, {scanned} scanned"
        );
    }

    /// Seeking a member of a wide object, or a path below one, through the offset index finds
    /// what `get` finds in the value: present or absent, through nested wide objects.
    #[test]
    fn seeks_below_wide_objects_find_what_get_finds() {
        let mut present = 0;
        for seed in 1..10 {
            let value = document(seed, 3_000);
            let (bytes, index) = encode_indexed(&value);
            let mut objects: Vec<&KPath> = index.filters.iter().map(|f| &f.object).collect();
            objects.sort();
            objects.dedup();
            for object in objects {
                let members = crate::kpath::get(&value, object).unwrap().unwrap();
                let members = members.as_object().unwrap();
                let step = (members.len() / 25).max(1);
                let mut targets: Vec<KPath> = Vec::new();
                for (key, _) in members.iter().step_by(step) {
                    let Some(segment) = Segment::of_key(key) else {
                        continue;
                    };
                    let member = object.child(segment);
                    targets.push(member.child(Segment::Field("k1".into())));
                    targets.push(member.child(Segment::Index(2)));
                    targets.push(member);
                }
                targets.push(object.child(Segment::Field("absent".into())));
                for target in targets {
                    let mut found = None;
                    for (from, give_up_at) in index.seek(&target) {
                        let at = usize::try_from(from.offset).unwrap();
                        let mut events = EventReader::resume(&bytes[at..], &from.path);
                        let first = seek_to(&mut events, &from.path, &target, give_up_at).unwrap();
                        if let Some(first) = first {
                            found = Some(crate::tony::build_node(first, &mut events).unwrap());
                            break;
                        }
                        if give_up_at.is_none() {
                            break;
                        }
                    }
                    let expected = crate::kpath::get(&value, &target).ok().flatten();
                    assert_eq!(found.as_ref(), expected, "seed {seed}: {target}");
                    present += usize::from(expected.is_some());
                }
            }
        }
        assert!(present > 200, "{present} targets found");
    }
}
