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

/// References to the root and every subtree of at least [`CHUNK_BYTES`], in document order. Their number
/// is bounded by (payload size / chunk) × depth.
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
        let mut refs = Vec::new();
        let mut open: Vec<(u64, KPath)> = Vec::new();
        let mut close = |open: &mut Vec<(u64, KPath)>, end: u64| {
            let (start, path) = open.pop().expect("an open node");
            // The root is always kept, so every lookup has a place to start.
            if end - start >= CHUNK_BYTES || path.is_root() {
                refs.push(SubDocRef {
                    path,
                    offset: start,
                    len: end - start,
                });
            }
        };
        for (offset, path) in starts {
            while open
                .last()
                .is_some_and(|(_, p)| !p.is_prefix_of(&path) || *p == path)
            {
                close(&mut open, offset);
            }
            open.push((offset, path));
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

/// Moves `reader` (positioned at the start of the node at `from`) down to the node at `to`,
/// returning that node's first event; `None` if the path does not lead anywhere.
pub fn descend<R: Read>(reader: &mut EventReader<R>, from: &KPath, to: &KPath) -> Option<Event> {
    let rest = to.strip_prefix(from)?;
    let mut event = reader.next_event().ok()??;
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
