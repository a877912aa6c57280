//! The offset index of a large entry: where the big subtrees of its payload start, so that a
//! read of a small path inside it reads only the bytes around that path.

use std::io::Read;
use std::rc::Rc;

use crate::kpath::{KPath, Segment};
use crate::patch::is_active_tag;
use crate::storage::BlockFile;
use crate::tony::{Event, EventReader, Node, NodeEvents, TokenSink};

/// Entries whose payload is at least this long get an offset index.
pub const INDEXED_ENTRY_BYTES: usize = 64 * 1024;
/// A subtree at least this long gets a reference.
pub const CHUNK_BYTES: u64 = 4 * 1024;
/// Every this many bytes into an array, an element gets a reference (a *seek* reference), so
/// a read inside a long array of small elements starts near its element.
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

/// References to the root, every subtree of at least [`CHUNK_BYTES`], and in every array an
/// element every [`SEEK_BYTES`], in document order. Their number is bounded by
/// (payload size / chunk) × depth × 2.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffsetIndex {
    /// The references.
    pub refs: Vec<SubDocRef>,
    /// Paths of nodes whose tag holds a patch op or a style tag: their text is not the value
    /// they produce, so reads through them cannot copy bytes.
    pub ops: Vec<KPath>,
}

fn event_tag(event: &Event) -> Option<&str> {
    match event {
        Event::BeginObject(tag) | Event::BeginArray(tag) => tag.as_deref(),
        Event::Scalar(node) => node.tag(),
        _ => None,
    }
}

impl OffsetIndex {
    /// Keeps the big nodes among `starts` (every node start, in document order).
    fn from_starts(starts: Vec<(u64, KPath)>, ops: Vec<KPath>, total: u64) -> Self {
        /// A node whose end is not reached yet.
        struct Open {
            start: u64,
            path: KPath,
            /// Kept as a seek reference (an array element).
            seek: bool,
            /// For an array: where the last element kept as a seek reference starts.
            last_seek: u64,
        }
        let mut refs = Vec::new();
        let mut close = |open: &mut Vec<Open>, end: u64| {
            let node = open.pop().expect("an open node");
            // The root is always kept, so every lookup has a place to start.
            if end - node.start >= CHUNK_BYTES || node.path.is_root() || node.seek {
                refs.push(SubDocRef {
                    path: node.path,
                    offset: node.start,
                    len: end - node.start,
                });
            }
        };
        let mut open: Vec<Open> = Vec::new();
        for (offset, path) in starts {
            while open
                .last()
                .is_some_and(|o| !o.path.is_prefix_of(&path) || o.path == path)
            {
                close(&mut open, offset);
            }
            // Every SEEK_BYTES into an array, an element is kept.
            let mut seek = false;
            if let (Some(Segment::Index(_)), Some(array)) = (path.last(), open.last_mut()) {
                if offset - array.last_seek >= SEEK_BYTES {
                    array.last_seek = offset;
                    seek = true;
                }
            }
            open.push(Open {
                start: offset,
                path,
                seek,
                last_seek: offset,
            });
        }
        while !open.is_empty() {
            close(&mut open, total);
        }
        refs.sort_by_key(|r| r.offset);
        OffsetIndex { refs, ops }
    }

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

    /// The last reference before `target` from which a forward walk reaches it: one at or
    /// above it, or an earlier element of an array on its way.
    pub fn seek(&self, target: &KPath) -> Option<&SubDocRef> {
        self.refs
            .iter()
            .filter(|r| leads_to(&r.path, target))
            .max_by_key(|r| r.offset)
    }
}

/// Encodes `value` in wire form, with the offset index of its big subtrees.
pub fn encode_indexed(value: &Node) -> (Vec<u8>, OffsetIndex) {
    let mut starts = Vec::new();
    let mut ops = Vec::new();
    let mut out = Vec::new();
    {
        let mut sink = TokenSink::with_callback(&mut out, |offset, path: &KPath, event: &Event| {
            if event_tag(event).is_some_and(is_active_tag) {
                ops.push(path.clone());
            }
            starts.push((offset, path.clone()));
        });
        for event in NodeEvents::new(value.clone()) {
            sink.write(&event).expect("writing to memory");
        }
    }
    let total = out.len() as u64;
    (out, OffsetIndex::from_starts(starts, ops, total))
}

/// Reads the bytes `start..end` of a [`BlockFile`] in chunks that start small (a read of a
/// small value touches a few KiB) and double up to 256 KiB (long streams make few calls).
pub struct RangeReader {
    file: Rc<dyn BlockFile>,
    at: u64,
    end: u64,
    chunk: u64,
}

impl RangeReader {
    /// A reader of `file[start..end]`.
    pub fn new(file: Rc<dyn BlockFile>, start: u64, end: u64) -> Self {
        RangeReader {
            file,
            at: start,
            end,
            chunk: 4 * 1024,
        }
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.end - self.at).min(buf.len() as u64).min(self.chunk) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.chunk = (self.chunk * 2).min(256 * 1024);
        self.file
            .read_exact_at(self.at, &mut buf[..n])
            .map_err(std::io::Error::other)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Rebuilds the offset index of a payload by scanning it (used when the persisted index is lost).
pub fn scan_offsets(reader: impl Read, total: u64) -> Option<OffsetIndex> {
    let mut events = EventReader::new(reader);
    let mut starts = Vec::new();
    let mut ops = Vec::new();
    while let Some(event) = events.next_event().ok()? {
        if event.starts_node() {
            if event_tag(&event).is_some_and(is_active_tag) {
                ops.push(events.path());
            }
            starts.push((events.node_offset(), events.path()));
        }
    }
    Some(OffsetIndex::from_starts(starts, ops, total))
}

/// Whether a walk forward from the node at `from` reaches `target`: `from` is at or above it,
/// or is an earlier element of an array on its way.
fn leads_to(from: &KPath, target: &KPath) -> bool {
    if from.is_prefix_of(target) {
        return true;
    }
    let Some((Segment::Index(at), parent)) = from.segments().split_last() else {
        return false;
    };
    target.segments().starts_with(parent)
        && matches!(target.segments().get(parent.len()), Some(Segment::Index(t)) if t >= at)
}

/// A reader of `file[payload + r.offset .. payload + len]` positioned at the node of `r`, whose
/// walk may continue past that node to its later siblings (for [`seek_to`]).
pub fn reader_at(
    file: Rc<dyn BlockFile>,
    payload: u64,
    len: u64,
    r: &SubDocRef,
) -> EventReader<RangeReader> {
    let bytes = RangeReader::new(file, payload + r.offset, payload + len);
    EventReader::resume(bytes, &r.path)
}

/// Moves `reader` (positioned at the start of the node at `from`, see [`reader_at`]) to the
/// node at `to`, returning that node's first event; `None` if the path does not lead there.
/// `from` is at or above `to`, or an earlier element of an array on the way to it.
pub fn seek_to<R: Read>(reader: &mut EventReader<R>, from: &KPath, to: &KPath) -> Option<Event> {
    if from.is_prefix_of(to) {
        return descend(reader, from, to);
    }
    let (Segment::Index(at), parent) = from.segments().split_last()? else {
        return None;
    };
    let Some(Segment::Index(target)) = to.segments().get(parent.len()) else {
        return None;
    };
    // Walk the array from element `at` to element `target`, then down.
    let mut event = reader.next_event().ok()??;
    for _ in *at..*target {
        if matches!(event, Event::EndArray) {
            return None;
        }
        reader.skip_value(&event).ok()?;
        event = reader.next_event().ok()??;
    }
    if matches!(event, Event::EndArray) {
        return None;
    }
    descend_from(reader, event, &to.segments()[parent.len() + 1..])
}

/// Moves `reader` (positioned at the start of the node at `from`) down to the node at `to`,
/// returning that node's first event; `None` if the path does not lead anywhere.
pub fn descend<R: Read>(reader: &mut EventReader<R>, from: &KPath, to: &KPath) -> Option<Event> {
    let rest = to.strip_prefix(from)?;
    let event = reader.next_event().ok()??;
    descend_from(reader, event, rest)
}

/// Walks down `rest` from a node whose first event `event` was just read.
fn descend_from<R: Read>(
    reader: &mut EventReader<R>,
    mut event: Event,
    rest: &[Segment],
) -> Option<Event> {
    for segment in rest {
        event = match (&event, segment) {
            (Event::BeginObject(_), Segment::Field(_) | Segment::Sparse(_)) => loop {
                match reader.next_event().ok()?? {
                    Event::Key(key) => {
                        let value = reader.next_event().ok()??;
                        if Segment::of_key(&key).as_ref() == Some(segment) {
                            break value;
                        }
                        reader.skip_value(&value).ok()?;
                    }
                    _ => return None,
                }
            },
            (Event::BeginArray(_), Segment::Index(i)) => {
                let mut value = reader.next_event().ok()??;
                for _ in 0..*i {
                    if matches!(value, Event::EndArray) {
                        return None;
                    }
                    reader.skip_value(&value).ok()?;
                    value = reader.next_event().ok()??;
                }
                if matches!(value, Event::EndArray) {
                    return None;
                }
                value
            }
            _ => return None,
        };
    }
    Some(event)
}
