//! Streaming reads: a value as text chunks or events, straight from the log when it can be.

use std::sync::Arc;

use crate::engine::entry::unreadable;
use crate::tony::ParseError;

use super::counters::ReadEvent;
use super::read::{inserted_tag, Plan, SubPatch, SubPatchKind};
use super::{Candidate, Store};
use crate::engine::classify::is_merge;
use crate::engine::error::{Result, StoreError};
use crate::engine::offsets::{
    descend, member_in_stretch, reader_at, seek_to, OffsetIndex, RangeReader, SubDocRef,
};
use crate::engine::patched::{Chunk, PatchedValue};
use crate::kpath::{KPath, Segment};
use crate::patch::{op_kind, plain_arraydiff};
use crate::tony::{
    build_node, ChunkEncoder, Event, EventReader, JsonSink, Node, NodeEvents, TextFormat, TokenSink,
};

impl Store {
    /// Writes the value at `path` as of `commit` to `out` in wire form; returns whether there
    /// was a value. See [`open_stream`](Self::open_stream).
    pub fn read_stream(
        &mut self,
        path: &KPath,
        commit: u64,
        out: &mut dyn std::io::Write,
    ) -> Result<bool> {
        let Some(mut stream) = self.open_stream(path, commit, TextFormat::Wire)? else {
            return Ok(false);
        };
        let io = |e: std::io::Error| {
            StoreError::Storage(crate::storage::StorageError::Io {
                file: "output".into(),
                source: e,
            })
        };
        while let Some(chunk) = stream.next_chunk(64 * 1024)? {
            out.write_all(&chunk).map_err(io)?;
        }
        Ok(true)
    }

    /// The value at `path` as of `commit` as text, pulled in chunks; `None` where nothing is.
    /// When the value comes from one entry that has an offset index, with at most merges and
    /// array edits after it, it is streamed from the log (see `patched.rs`): memory stays
    /// bounded and only the bytes around the path are read. Otherwise the value is built, then
    /// encoded chunk by chunk.
    pub fn open_stream(
        &mut self,
        path: &KPath,
        commit: u64,
        format: TextFormat,
    ) -> Result<Option<ValueStream>> {
        self.check_open()?;
        if (1..=self.head).contains(&commit) {
            if let Some(value) = self.patched_from_log(path, commit)? {
                self.count_streamed(&value);
                let source = match format {
                    TextFormat::Wire => Source::LogWire(
                        Box::new(value.with_raw_copies()),
                        TokenSink::new(Vec::new()),
                    ),
                    TextFormat::Json => Source::LogJson(Box::new(value), JsonSink::new()),
                };
                return Ok(Some(ValueStream { source }));
            }
        }
        Ok(self.read_at(path, commit)?.map(|value| ValueStream {
            source: Source::Built(ChunkEncoder::new(value, format)),
        }))
    }

    /// The value at `path` as of `commit` as structural events, pulled one at a time; `None`
    /// where nothing is. Served from the log like [`open_stream`](Self::open_stream) when it
    /// can be, so a consumer can walk a huge value with bounded memory.
    pub fn open_events(&self, path: &KPath, commit: u64) -> Result<Option<EventStream>> {
        self.check_open()?;
        self.events(path, commit, true)
    }

    /// [`open_events`](Self::open_events), counting a read streamed from the log in the
    /// [`Stats`](super::Stats) when `counted` (a commit's look at the head state is not a
    /// read).
    pub(super) fn events(
        &self,
        path: &KPath,
        commit: u64,
        counted: bool,
    ) -> Result<Option<EventStream>> {
        if (1..=self.head).contains(&commit) {
            if let Some(value) = self.patched_from_log(path, commit)? {
                if counted {
                    self.count_streamed(&value);
                }
                return Ok(Some(EventStream(Events::Log(Box::new(value)))));
            }
        }
        Ok(self
            .read_at(path, commit)?
            .map(|value| EventStream(Events::Built(NodeEvents::new(value)))))
    }

    fn count_streamed(&self, value: &PatchedValue<RangeReader>) {
        self.count(ReadEvent::StreamedFromLog);
        if value.has_patches() {
            self.count(ReadEvent::StreamedPatched);
        }
    }

    /// What `path` holds as of `commit` when that is nothing, as far as its parent's first
    /// event tells without building the parent: `Some(None)` below an object or `null`, the
    /// error or `None` `get` gives below a scalar; `None` when the parent must be read whole.
    pub(super) fn absent_below_parent(
        &self,
        parent: &KPath,
        last: &KPath,
        commit: u64,
    ) -> Result<Option<Option<Node>>> {
        if !(1..=self.head).contains(&commit) {
            return Ok(None);
        }
        let object_member = matches!(last.segments(), [Segment::Field(_) | Segment::Sparse(_)]);
        let plan = self.plan(parent, commit)?;
        if let (true, Plan::Replay { rest, .. }) = (object_member, &plan) {
            // The newest patch that reaches the parent, if a merge, leaves an object there,
            // whatever was before: found without building the parent, or the patches, whole.
            for c in rest.iter().rev() {
                match self.sub_patch_kind(c.level, c.entry.pos, parent)? {
                    SubPatchKind::Stops => continue,
                    SubPatchKind::Merge => return Ok(Some(None)),
                    SubPatchKind::Other => break,
                }
            }
        }
        let Some(mut value) = self.patched_from_plan(parent, plan)? else {
            return Ok(None);
        };
        Ok(match value.next_event()? {
            Some(Event::BeginObject(_)) if object_member => Some(None),
            Some(Event::Scalar(node)) => Some(crate::kpath::get(&node, last)?.cloned()),
            _ => None,
        })
    }

    /// The value at `path` as of `commit` as events streamed from the entry that last replaced
    /// an ancestor, with the later patches that reach the path applied on the fly; `None` when
    /// that entry has no offset index or a later patch could delete or rebuild the value.
    pub(super) fn patched_from_log(
        &self,
        path: &KPath,
        commit: u64,
    ) -> Result<Option<PatchedValue<RangeReader>>> {
        let plan = self.plan(path, commit)?;
        self.patched_from_plan(path, plan)
    }

    /// [`patched_from_log`](Self::patched_from_log) with the read's plan made.
    fn patched_from_plan(
        &self,
        path: &KPath,
        plan: Plan,
    ) -> Result<Option<PatchedValue<RangeReader>>> {
        let Plan::Replay { start, rest } = plan else {
            return Ok(None);
        };
        let mut patches = Vec::new();
        for c in &rest {
            patches.push(match self.sub_patch(c.level, c.entry.pos, path)? {
                SubPatch::At(patch) => Some(patch),
                SubPatch::Stops | SubPatch::Blocked => None,
            });
        }
        // The base: the last replacement of an ancestor, or a later `!insert` at the path.
        let inserted = patches
            .iter()
            .rposition(|p| p.as_ref().and_then(op_kind) == Some("insert"));
        let (start, patches): (Candidate, Vec<Node>) = match (inserted, start) {
            (Some(i), _) => (
                Candidate {
                    ancestor_depth: Some(path.len()),
                    ..rest[i]
                },
                patches.drain(i + 1..).flatten().collect(),
            ),
            (None, Some(start)) => (start, patches.into_iter().flatten().collect()),
            (None, None) => return Ok(None),
        };
        // Merges and array edits keep the value in place; anything else may delete it.
        if !patches
            .iter()
            .all(|p| is_merge(p) || plain_arraydiff(p).is_some())
        {
            return Ok(None);
        }
        let Located::Found(events, first) = self.locate_in_entry(start, path)? else {
            return Ok(None);
        };
        let file = if start.level == 0 {
            self.level0.name()
        } else {
            self.compact.name()
        };
        Ok(Some(PatchedValue::new(
            *events,
            first,
            patches,
            file,
            start.entry.pos,
        )))
    }

    /// An event reader positioned after the first event of `path`'s value inside the entry of
    /// candidate `c` (which replaced an ancestor, or inserted the value at the path itself);
    /// or that the entry holds nothing there; or `Unknown` when the entry has no offset index
    /// or the shape needs the general path.
    pub(super) fn locate_in_entry(&self, c: Candidate, path: &KPath) -> Result<Located> {
        let Some(offsets) = self.offset_index(c.level, c.entry.pos)? else {
            return Ok(Located::Unknown);
        };
        let depth = c.ancestor_depth.expect("an ancestor end");
        let mut target = vec![Segment::Field("patch".into())];
        target.extend_from_slice(&path.segments()[..depth]);
        let ancestor = KPath::from_segments(target.clone());
        target.extend_from_slice(&path.segments()[depth..]);
        let target = KPath::from_segments(target);
        let log = if c.level == 0 {
            &self.level0
        } else {
            &self.compact
        };
        let (payload, len) = log.frame_extent(c.entry.pos)?;
        let reader_at = |r: &SubDocRef| {
            reader_at(
                log.shared_file(),
                payload,
                len,
                r,
                offsets.chunk_crcs.clone(),
            )
        };
        let unreadable = |e: ParseError| unreadable(log.name(), c.entry.pos, e);
        // The patch node at the ancestor must be a plain value or an `!insert` of one.
        let Some(start) = offsets.nearest(&ancestor) else {
            return Ok(Located::Unknown);
        };
        let mut events = reader_at(start);
        let Some(ancestor_event) =
            descend(&mut events, &start.path, &ancestor).map_err(unreadable)?
        else {
            return Ok(Located::Unknown);
        };
        let tag = match &ancestor_event {
            Event::BeginObject(tag) | Event::BeginArray(tag) => tag.as_deref(),
            Event::Scalar(node) => node.tag(),
            _ => None,
        };
        let op = tag.and_then(|t| op_kind(&Node::null().with_tag(t)));
        if depth == path.len() {
            // The value itself was inserted: it reads as the `!insert` yields it.
            if op != Some("insert") {
                return Ok(Located::Unknown);
            }
            return Ok(Located::Found(
                Box::new(events),
                without_insert(ancestor_event)?,
            ));
        }
        // A strict ancestor must be an `!insert`, under which every tag is data, or plain data
        // with no op between it and the value.
        match op {
            Some("insert") => {}
            Some(_) => return Ok(Located::Unknown),
            None if !offsets.plain_between(&ancestor, &target) => return Ok(Located::Unknown),
            None => {}
        }
        Ok(
            match self.seek_in_entry(c.level, c.entry.pos, &offsets, &target)? {
                Some((events, first)) => Located::Found(events, first),
                None => Located::Absent,
            },
        )
    }

    /// The node at `target` (a path in the entry's value: `patch` first) inside the large
    /// entry at (`level`, `pos`), whose offset index is `offsets`: a reader just after its
    /// first event, and that event; `None` when the entry holds nothing there.
    pub(super) fn seek_in_entry(
        &self,
        level: u8,
        pos: u64,
        offsets: &OffsetIndex,
        target: &KPath,
    ) -> Result<Option<(Box<EventReader<RangeReader>>, Event)>> {
        let log = self.log_of(level);
        let (payload, len) = log.frame_extent(pos)?;
        // The nearest place to walk from; a member let through by a key filter may not hold
        // the key, then the next one is tried. A walk from anywhere else is conclusive, and no
        // place at all means the key filters prove the path absent.
        for (from, give_up_at) in offsets.seek(target) {
            // A stretch of a wide object is first scanned as bytes (much faster than events).
            let member = match give_up_at {
                Some(end) => member_in_stretch(
                    log.shared_file(),
                    (payload, len),
                    from,
                    end,
                    target,
                    offsets.chunk_crcs.clone(),
                )
                .map_err(|e| unreadable(log.name(), pos, e))?,
                None => None,
            };
            let (from, give_up_at) = match member {
                Some(None) => continue,
                Some(Some((member, bytes))) => {
                    // The member found: read on from there (with the chunk the scan holds).
                    let mut events = EventReader::resume(bytes, &member.path);
                    let found = descend(&mut events, &member.path, target)
                        .map_err(|e| unreadable(log.name(), pos, e))?;
                    return Ok(found.map(|first| (Box::new(events), first)));
                }
                None => (from, give_up_at),
            };
            let mut events = reader_at(
                log.shared_file(),
                payload,
                len,
                from,
                offsets.chunk_crcs.clone(),
            );
            let found = seek_to(&mut events, &from.path, target, give_up_at)
                .map_err(|e| unreadable(log.name(), pos, e))?;
            if let Some(first) = found {
                return Ok(Some((Box::new(events), first)));
            }
            if give_up_at.is_none() {
                break;
            }
        }
        Ok(None)
    }

    /// What the patch of the entry at (`level`, `pos`) does at `path`, read through its offset
    /// index when it is large and not in memory; `None` when the index cannot tell (the
    /// caller parses the entry). Paths through arrays are left to the caller.
    pub(super) fn sub_patch_from_offsets(
        &self,
        level: u8,
        pos: u64,
        path: &KPath,
    ) -> Result<Option<SubPatch>> {
        let Some((offsets, target)) = self.offsets_target(level, pos, path)? else {
            return Ok(None);
        };
        // An op or a style tag above the path: what the patch does there is not a sub-patch.
        if offsets
            .ops
            .iter()
            .any(|op| op.len() < target.len() && op.is_prefix_of(&target))
        {
            return Ok(Some(SubPatch::Blocked));
        }
        if let Some((mut events, first)) = self.seek_in_entry(level, pos, &offsets, &target)? {
            return build_node(first, &mut *events)
                .map(|node| Some(SubPatch::At(node)))
                .map_err(|e| unreadable(self.log_of(level).name(), pos, e));
        }
        self.absent_because(level, pos, &offsets, &target)
    }

    /// The offset index of the entry at (`level`, `pos`) and `path`'s place in the entry's
    /// value (under `patch`), when the index should answer for the path: the entry is large
    /// and not in memory, and the path goes through objects only.
    fn offsets_target(
        &self,
        level: u8,
        pos: u64,
        path: &KPath,
    ) -> Result<Option<(Arc<OffsetIndex>, KPath)>> {
        if self.is_cached(level, pos)
            || path
                .segments()
                .iter()
                .any(|s| matches!(s, Segment::Index(_)))
        {
            return Ok(None);
        }
        let Some(offsets) = self.offset_index(level, pos)? else {
            return Ok(None);
        };
        let mut segments = Vec::with_capacity(path.len().saturating_add(1));
        segments.push(Segment::Field("patch".into()));
        segments.extend_from_slice(path.segments());
        Ok(Some((offsets, KPath::from_segments(segments))))
    }

    /// What kind of patch node the entry at (`level`, `pos`) has at `path`, without building
    /// it: through the offset index when the entry is large and not in memory.
    pub(super) fn sub_patch_kind(&self, level: u8, pos: u64, path: &KPath) -> Result<SubPatchKind> {
        if let Some(target) = self.offsets_target(level, pos, path)? {
            let (offsets, target) = target;
            if offsets.ops.iter().any(|op| op.is_prefix_of(&target)) {
                return Ok(SubPatchKind::Other);
            }
            match self.seek_in_entry(level, pos, &offsets, &target)? {
                Some((_, Event::BeginObject(_))) => return Ok(SubPatchKind::Merge),
                Some(_) => return Ok(SubPatchKind::Other),
                None => match self.absent_because(level, pos, &offsets, &target)? {
                    Some(SubPatch::Stops) => return Ok(SubPatchKind::Stops),
                    Some(_) => return Ok(SubPatchKind::Other),
                    None => {}
                },
            }
        }
        Ok(match self.sub_patch(level, pos, path)? {
            SubPatch::At(node) if op_kind(&node).is_none() && node.as_object().is_some() => {
                SubPatchKind::Merge
            }
            SubPatch::Stops => SubPatchKind::Stops,
            SubPatch::At(_) | SubPatch::Blocked => SubPatchKind::Other,
        })
    }

    /// Why `target` is not in the entry's patch: a merge above it does not mention it
    /// (`Stops`), or something other than a merge blocks the way (`Blocked`); `None` when the
    /// index cannot tell.
    fn absent_because(
        &self,
        level: u8,
        pos: u64,
        offsets: &OffsetIndex,
        target: &KPath,
    ) -> Result<Option<SubPatch>> {
        let parent = target.parent();
        if parent.is_root() {
            return Ok(None);
        }
        // Below an object whose keys the index filters, the filters or the walk of a stretch
        // proved the key absent.
        if offsets.filters.iter().any(|f| f.object == parent) {
            return Ok(Some(SubPatch::Stops));
        }
        Ok(match self.seek_in_entry(level, pos, offsets, &parent)? {
            // An object without an op above the key: a merge that leaves the key alone.
            Some((_, Event::BeginObject(_))) => Some(SubPatch::Stops),
            Some(_) => Some(SubPatch::Blocked),
            None => self.absent_because(level, pos, offsets, &parent)?,
        })
    }
}

/// Where a path's value is inside an entry (see `Store::locate_in_entry`).
pub(super) enum Located {
    /// A reader just after the value's first event, and that event.
    Found(Box<EventReader<RangeReader>>, Event),
    /// The entry holds nothing at the path (or the path does not fit what it holds).
    Absent,
    /// The entry cannot tell without being read whole.
    Unknown,
}

/// The first event of a value inserted by `!insert` (carried in `first`'s tag) as it reads
/// after the insert: the op is dropped from the tag and its argument, if any, added.
pub(super) fn without_insert(first: Event) -> Result<Event> {
    Ok(match first {
        Event::BeginObject(Some(tag)) => Event::BeginObject(inserted_tag(&tag)?),
        Event::BeginArray(Some(tag)) => Event::BeginArray(inserted_tag(&tag)?),
        Event::Scalar(node) => {
            Event::Scalar(crate::patch::apply_to(None, &node)?.unwrap_or_else(Node::null))
        }
        other => other,
    })
}

/// A value's events, pulled one at a time (see [`Store::open_events`]). Like [`ValueStream`],
/// it holds its own handle on the log file.
pub struct EventStream(Events);

pub(super) enum Events {
    /// Read from an entry's bytes, patched on the fly.
    Log(Box<PatchedValue<RangeReader>>),
    /// Of a value built in memory.
    Built(NodeEvents),
}

impl EventStream {
    /// The next event, or `None` after the value's last.
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        match &mut self.0 {
            Events::Log(value) => value.next_event(),
            Events::Built(events) => Ok(events.next()),
        }
    }
}

/// A value's text, pulled chunk by chunk (see [`Store::open_stream`]). It holds its own handle
/// on the log file, so the store stays usable while it is read.
pub struct ValueStream {
    source: Source,
}

pub(super) enum Source {
    /// Wire text of an entry's bytes (untouched containers copied raw), patched on the fly.
    LogWire(Box<PatchedValue<RangeReader>>, TokenSink<'static, Vec<u8>>),
    /// JSON of an entry's events, patched on the fly.
    LogJson(Box<PatchedValue<RangeReader>>, JsonSink),
    /// A value built in memory.
    Built(ChunkEncoder),
}

impl ValueStream {
    /// The next chunk (at least `min_bytes` unless it is the last), or `None` at the end.
    pub fn next_chunk(&mut self, min_bytes: usize) -> Result<Option<Vec<u8>>> {
        let chunk = match &mut self.source {
            Source::Built(encoder) => {
                return Ok(encoder.next_chunk(min_bytes).map(String::into_bytes))
            }
            Source::LogWire(value, sink) => {
                while sink.get_ref().len() < min_bytes {
                    let written = match value.next_chunk()? {
                        None => break,
                        Some(Chunk::Event(event)) => sink.write(&event),
                        Some(Chunk::Raw { bytes, closes }) => sink.write_raw(&bytes, closes),
                        Some(Chunk::RawElements {
                            bytes,
                            starts,
                            elements,
                        }) => sink.write_raw_elements(&bytes, starts, elements),
                    };
                    written.map_err(|e| {
                        StoreError::Storage(crate::storage::StorageError::Io {
                            file: "stream".into(),
                            source: e,
                        })
                    })?;
                }
                sink.take_output()
            }
            Source::LogJson(value, sink) => {
                while sink.pending().len() < min_bytes {
                    match value.next_event()? {
                        None => break,
                        Some(event) => sink.write(&event),
                    }
                }
                sink.take_output().into_bytes()
            }
        };
        Ok((!chunk.is_empty()).then_some(chunk))
    }
}
