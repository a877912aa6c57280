//! A value streamed out of an entry's bytes with later patches applied on the fly.
//!
//! [`PatchedValue`] reads the base value as events and yields the events of the patched value.
//! Parts no patch mentions are copied event by event, or, for a consumer writing wire text, as
//! raw bytes ([`Chunk::Raw`]). Objects under plain merges and arrays
//! under plain `!arraydiff`s stay streamed: their untouched members are copied and only the
//! members a patch touches are built, patched and written. Any other patch builds the subtree it
//! applies to. Memory is therefore bounded by the largest patched subtree, not the value.
//!
//! The patches must be committed ones (each applied cleanly to the state it followed), so the
//! checks of `!delete`/`!replace` slots are not repeated and key-kind mixing cannot arise.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::VecDeque;
use std::io::Read;

use super::classify::is_merge;
use super::entry::{corrupt, unreadable};
use super::error::{Result, StoreError};
use crate::patch::{apply_to, data_tag, plain_arraydiff, SlotEdit};
use crate::tony::{
    build_node, Event, EventReader, Key, Node, NodeEvents, ParseError, RawScan, RawStop,
};

/// A part of a patched value: an event, or raw wire bytes of an untouched container.
pub(crate) enum Chunk {
    /// One event.
    Event(Event),
    /// Bytes of the container begun last; `closes` when they end with its closing bracket.
    Raw { bytes: Vec<u8>, closes: bool },
    /// Bytes of whole elements of the array being written (`elements` of them end in these
    /// bytes); `starts` when they begin a run, at an element's first byte.
    RawElements {
        bytes: Vec<u8>,
        starts: bool,
        elements: usize,
    },
}

/// How many bytes one raw chunk holds at most.
const RAW_CHUNK: usize = 64 * 1024;

/// The patches that reach one value: `(step, patch)` with steps increasing.
type Chain = Vec<(usize, Node)>;

/// The events of a value read from an entry, with a chain of later patches applied.
pub(crate) struct PatchedValue<R> {
    events: EventReader<R>,
    /// The value's first event and its patches, until the value is started.
    start: Option<(Event, Chain)>,
    /// Open streamed containers, innermost last.
    frames: Vec<Frame>,
    /// While copying a value event by event: the reader depth at which it is complete.
    copy_until: Option<usize>,
    /// While copying a container's bytes verbatim: the scan state.
    raw: Option<RawScan>,
    /// While copying a run of untouched array elements verbatim: the scan state, and whether
    /// the run has queued bytes yet.
    run: Option<(RawScan, bool)>,
    /// Whether untouched containers may be copied as raw bytes (for text consumers).
    raw_allowed: bool,
    /// Parts ready to hand out.
    out: VecDeque<Chunk>,
    /// Where the entry is, for errors.
    file: String,
    pos: u64,
}

enum Frame {
    Object(ObjectFrame),
    Array(ArrayFrame),
}

/// An object under a chain of plain merges.
struct ObjectFrame {
    chain: Chain,
    /// The members of the base the chain mentions, in base order.
    touched: Vec<Touched>,
}

/// A base member some merge of the chain mentions.
struct Touched {
    key: Key,
    /// Whether the member exists after each step that mentions it.
    present_after: Vec<(usize, bool)>,
    /// Its final value when it was absent at some step, so it moves to the end.
    moved: Option<Node>,
}

/// An array under a chain of plain `!arraydiff`s: one stage per patch, each pulling elements
/// from the stage before it, the first from the base.
struct ArrayFrame {
    stages: Vec<Stage>,
    /// Whether the base array's end was read.
    input_done: bool,
    /// Whether a raw run met the base array's end (so no more runs start).
    raw_at_end: bool,
}

/// One `!arraydiff` applied to an element sequence.
struct Stage {
    edits: VecDeque<(u32, SlotEdit)>,
    /// The slot the next input element occupies.
    slot: u32,
}

/// An element flowing through array stages: still in the base (its first event read), or built.
enum Element {
    Unread(Event),
    Built(Node),
}

impl<R: Read> PatchedValue<R> {
    /// Streams the value that starts with `first` (the rest comes from `events`), patched by
    /// `patches` in order.
    pub(crate) fn new(
        events: EventReader<R>,
        first: Event,
        patches: Vec<Node>,
        file: &str,
        pos: u64,
    ) -> Self {
        Self {
            events,
            start: Some((first, patches.into_iter().enumerate().collect())),
            frames: Vec::new(),
            copy_until: None,
            raw: None,
            run: None,
            raw_allowed: false,
            out: VecDeque::new(),
            file: file.to_owned(),
            pos,
        }
    }

    /// Whether later patches are applied to the value.
    pub(crate) fn has_patches(&self) -> bool {
        self.start
            .as_ref()
            .is_some_and(|(_, chain)| !chain.is_empty())
    }

    /// Lets untouched containers come out as [`Chunk::Raw`] bytes (much faster to copy than
    /// events, for a consumer that writes wire text).
    pub(crate) fn with_raw_copies(mut self) -> Self {
        self.raw_allowed = true;
        self
    }

    /// The next part of the patched value, or `None` after its last one.
    pub(crate) fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        while self.out.is_empty() && !self.is_done() {
            self.step()?;
        }
        Ok(self.out.pop_front())
    }

    /// The next event of the patched value (raw copies not allowed), or `None` after its last.
    pub(crate) fn next_event(&mut self) -> Result<Option<Event>> {
        debug_assert!(!self.raw_allowed, "raw chunks are not events");
        Ok(self.next_chunk()?.map(|chunk| match chunk {
            Chunk::Event(event) => event,
            Chunk::Raw { .. } | Chunk::RawElements { .. } => unreachable!("raw copies are off"),
        }))
    }

    fn is_done(&self) -> bool {
        self.start.is_none()
            && self.frames.is_empty()
            && self.copy_until.is_none()
            && self.raw.is_none()
            && self.run.is_none()
    }

    /// Reads one base event and queues what it turns into.
    fn step(&mut self) -> Result<()> {
        if let Some((first, chain)) = self.start.take() {
            return self.value(None, first, chain);
        }
        if let Some(mut scan) = self.raw.take() {
            let mut bytes = Vec::new();
            let stop = self
                .events
                .copy_raw(&mut scan, &mut bytes, RAW_CHUNK)
                .map_err(|e| self.unreadable(e))?;
            let closes = stop == RawStop::Done;
            if !closes {
                self.raw = Some(scan);
            }
            self.out.push_back(Chunk::Raw { bytes, closes });
            return Ok(());
        }
        if let Some((scan, started)) = self.run.take() {
            return self.copy_run(scan, started);
        }
        if let Some(stop) = self.copy_until {
            let event = self.read()?;
            self.push(event);
            if self.events.depth() <= stop {
                self.copy_until = None;
            }
            return Ok(());
        }
        if let Some(Frame::Array(_)) = self.frames.last() {
            return self.array_element();
        }
        let event = self.read()?;
        match (self.frames.last_mut(), event) {
            (Some(Frame::Object(frame)), Event::Key(key)) => {
                let chain: Chain = frame
                    .chain
                    .iter()
                    .filter_map(|(step, p)| p.get_field(&key).map(|c| (*step, c.clone())))
                    .collect();
                let first = self.read()?;
                self.value(Some(key), first, chain)
            }
            (Some(Frame::Object(_)), Event::EndObject) => {
                let Some(Frame::Object(frame)) = self.frames.pop() else {
                    unreachable!("the innermost frame is this object")
                };
                self.finish_object(frame)?;
                self.push(Event::EndObject);
                Ok(())
            }
            (_, _) => Err(self.bad("a streamed object holds something other than members")),
        }
    }

    /// Starts the value (or object member `key`) whose first event is `first`.
    fn value(&mut self, key: Option<Key>, first: Event, chain: Chain) -> Result<()> {
        if chain.is_empty() {
            self.push_key(key);
            return self.copy(first);
        }
        let merges = chain.iter().all(|(_, p)| is_merge(p));
        if let (true, Event::BeginObject(tag)) = (merges, &first) {
            let tag = chain
                .iter()
                .fold(tag.clone(), |tag, (_, p)| data_tag(p).or(tag));
            self.open_in_place(key, &chain, Event::BeginObject(tag));
            self.frames.push(Frame::Object(ObjectFrame {
                chain,
                touched: Vec::new(),
            }));
            return Ok(());
        }
        if let Event::BeginArray(tag) = &first {
            let stages: Option<Vec<Stage>> = chain
                .iter()
                .map(|(_, p)| {
                    plain_arraydiff(p).map(|edits| Stage {
                        edits: edits.into(),
                        slot: 0,
                    })
                })
                .collect();
            if let Some(stages) = stages {
                // `!arraydiff` keeps the array's tag.
                self.open_in_place(key, &chain, Event::BeginArray(tag.clone()));
                self.frames.push(Frame::Array(ArrayFrame {
                    stages,
                    input_done: false,
                    raw_at_end: false,
                }));
                return Ok(());
            }
        }
        // Build the subtree and patch it step by step. A merge ignores a base that is not an
        // object, so a chain of merges never needs the base built.
        let mut state = if merges {
            self.skip(&first)?;
            None
        } else {
            Some(self.build(first)?)
        };
        let mut present_after = Vec::with_capacity(chain.len());
        for (step, p) in &chain {
            state = apply_to(state.as_ref(), p)?;
            present_after.push((*step, state.is_some()));
        }
        let stayed = present_after.iter().all(|(_, present)| *present);
        if let Some(value) = state.as_ref().filter(|_| stayed) {
            self.push_key(key.clone());
            self.emit(value);
        }
        match key {
            Some(key) => self.touched(Touched {
                key,
                present_after,
                moved: if stayed { None } else { state },
            }),
            None if !stayed => return Err(self.bad("a streamed value was deleted")),
            None => {}
        }
        Ok(())
    }

    /// Begins a container that stays in place under `chain` (merges, array edits): its key
    /// and first event, and, for a member, its record in the enclosing object.
    fn open_in_place(&mut self, key: Option<Key>, chain: &Chain, begin: Event) {
        self.push_key(key.clone());
        self.push(begin);
        if let Some(key) = key {
            self.touched(Touched {
                key,
                present_after: chain.iter().map(|(step, _)| (*step, true)).collect(),
                moved: None,
            });
        }
    }

    /// Records a member of the innermost object that its chain mentions.
    fn touched(&mut self, touched: Touched) {
        if let Some(Frame::Object(frame)) = self.frames.last_mut() {
            frame.touched.push(touched);
        }
    }

    /// At the end of a streamed object: the members its merges added (or removed and added
    /// again), in the order a merge-by-merge replay appends them.
    fn finish_object(&mut self, frame: ObjectFrame) -> Result<()> {
        enum Member {
            Base(usize),
            New(usize),
        }
        // The mentioned members in their current order; `true` marks one appended at the end.
        let mut order: Vec<(Key, Member, bool)> = frame
            .touched
            .iter()
            .enumerate()
            .map(|(i, t)| (t.key.clone(), Member::Base(i), false))
            .collect();
        let mut added: Vec<(Key, Option<Node>)> = Vec::new();
        for (step, patch) in &frame.chain {
            let members = patch
                .as_object()
                .ok_or_else(|| self.bad("a merge patch is not an object"))?;
            for (key, child) in members.iter() {
                let touched = frame
                    .touched
                    .iter()
                    .enumerate()
                    .find(|(_, t)| t.key == *key);
                let (member, present) = match touched {
                    Some((i, touched)) => {
                        let present = touched
                            .present_after
                            .iter()
                            .any(|(s, present)| s == step && *present);
                        (Member::Base(i), present)
                    }
                    None => {
                        let i = match added.iter().position(|(k, _)| k == key) {
                            Some(i) => i,
                            None => {
                                added.push((key.clone(), None));
                                added.len().saturating_sub(1)
                            }
                        };
                        let Some((_, value)) = added.get_mut(i) else {
                            return Err(self.bad("a merged member was lost"));
                        };
                        *value = apply_to(value.as_ref(), child)?;
                        (Member::New(i), value.is_some())
                    }
                };
                match (order.iter().position(|(k, ..)| k == key), present) {
                    (Some(at), false) => {
                        order.remove(at);
                    }
                    (None, true) => order.push((key.clone(), member, true)),
                    _ => {}
                }
            }
        }
        for (key, member, appended) in order {
            if !appended {
                continue;
            }
            let value = match member {
                Member::Base(i) => frame.touched.get(i).and_then(|t| t.moved.as_ref()),
                Member::New(i) => added.get(i).and_then(|(_, value)| value.as_ref()),
            };
            let value = value.ok_or_else(|| self.bad("a moved member has no value"))?;
            self.push(Event::Key(key));
            self.emit(value);
        }
        Ok(())
    }

    /// Queues the next element of the innermost (array) frame, or its end. Elements that
    /// no stage edits are copied as raw bytes, a run at a time, when that is allowed.
    fn array_element(&mut self) -> Result<()> {
        let can_copy_raw = self.raw_allowed && self.events.can_copy_raw();
        let Some(Frame::Array(frame)) = self.frames.last_mut() else {
            unreachable!("called for an array frame")
        };
        if can_copy_raw && !frame.input_done && !frame.raw_at_end {
            // Every stage passes elements through until its next edit is due.
            let run = frame
                .stages
                .iter()
                .filter_map(|s| s.edits.front().map(|(t, _)| t.saturating_sub(s.slot)))
                .min()
                .map_or(usize::MAX, |n| n as usize);
            if run > 0 {
                self.run = Some((RawScan::elements(run), false));
                return Ok(());
            }
        }
        let mut input = Input {
            events: &mut self.events,
            done: &mut frame.input_done,
        };
        let next = pull(&mut frame.stages, &mut input).map_err(|e| self.fail(e))?;
        match next {
            Some(Element::Unread(first)) => self.copy(first),
            Some(Element::Built(node)) => {
                self.emit(&node);
                Ok(())
            }
            None => {
                self.frames.pop();
                self.push(Event::EndArray);
                Ok(())
            }
        }
    }

    /// Copies the next part of a run of untouched elements of the innermost (array) frame;
    /// the stages count them as passed through.
    fn copy_run(&mut self, mut scan: RawScan, started: bool) -> Result<()> {
        let Some(before) = scan.elements_left() else {
            return Err(self.bad("a run of elements is copied without counting them"));
        };
        let mut bytes = Vec::new();
        let stop = self
            .events
            .copy_raw(&mut scan, &mut bytes, RAW_CHUNK)
            .map_err(|e| self.unreadable(e))?;
        let elements = before.saturating_sub(scan.elements_left().unwrap_or(0));
        let Some(Frame::Array(frame)) = self.frames.last_mut() else {
            unreachable!("a run is copied in an array frame")
        };
        for stage in frame.stages.iter_mut().filter(|s| !s.edits.is_empty()) {
            stage.slot = stage
                .slot
                .saturating_add(u32::try_from(elements).unwrap_or(u32::MAX));
        }
        match stop {
            RawStop::Budget => self.run = Some((scan, true)),
            RawStop::ArrayEnd => frame.raw_at_end = true,
            RawStop::Done => {}
        }
        if !bytes.is_empty() {
            self.out.push_back(Chunk::RawElements {
                bytes,
                starts: !started,
                elements,
            });
        }
        Ok(())
    }

    /// Queues `first` and, for a container, arranges to copy the rest of it: as raw bytes
    /// when allowed, else event by event.
    fn copy(&mut self, first: Event) -> Result<()> {
        let opens = matches!(first, Event::BeginObject(_) | Event::BeginArray(_));
        self.push(first);
        if opens {
            if self.raw_allowed && self.events.can_copy_raw() {
                self.raw = Some(RawScan::new());
            } else {
                self.copy_until = Some(self.events.depth().saturating_sub(1));
            }
        }
        Ok(())
    }

    fn push(&mut self, event: Event) {
        self.out.push_back(Chunk::Event(event));
    }

    fn push_key(&mut self, key: Option<Key>) {
        if let Some(key) = key {
            self.push(Event::Key(key));
        }
    }

    fn emit(&mut self, node: &Node) {
        self.out
            .extend(NodeEvents::new(node.clone()).map(Chunk::Event));
    }

    fn build(&mut self, first: Event) -> Result<Node> {
        build_node(first, &mut self.events).map_err(|e| self.unreadable(e))
    }

    fn skip(&mut self, first: &Event) -> Result<()> {
        self.events
            .skip_value(first)
            .map_err(|e| self.unreadable(e))
    }

    fn read(&mut self) -> Result<Event> {
        match self.events.next_event() {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(self.bad("entry text ends early")),
            Err(e) => Err(self.unreadable(e)),
        }
    }

    fn bad(&self, reason: impl Into<String>) -> StoreError {
        corrupt(&self.file, self.pos, reason)
    }

    fn unreadable(&self, e: ParseError) -> StoreError {
        unreadable(&self.file, self.pos, e)
    }

    fn fail(&self, failure: Failure) -> StoreError {
        match failure {
            Failure::Read(e) => self.unreadable(e),
            Failure::Text(reason) => self.bad(reason),
            Failure::Patch(e) => e.into(),
        }
    }
}

/// Why array stages failed (mapped to a [`StoreError`] by the caller, which knows the file).
enum Failure {
    /// The entry's text could not be read or parsed.
    Read(ParseError),
    /// The entry's text does not hold what it should.
    Text(String),
    Patch(crate::patch::PatchError),
}

/// The base elements of a streamed array, as the first stage sees them.
struct Input<'a, R> {
    events: &'a mut EventReader<R>,
    done: &'a mut bool,
}

impl<R: Read> Input<'_, R> {
    fn next(&mut self) -> std::result::Result<Option<Element>, Failure> {
        if *self.done {
            return Ok(None);
        }
        let event = self
            .events
            .next_event()
            .map_err(Failure::Read)?
            .ok_or_else(|| Failure::Text("entry text ends early".into()))?;
        if event == Event::EndArray {
            *self.done = true;
            return Ok(None);
        }
        Ok(Some(Element::Unread(event)))
    }

    fn build(&mut self, element: Element) -> std::result::Result<Node, Failure> {
        match element {
            Element::Built(node) => Ok(node),
            Element::Unread(first) => build_node(first, self.events).map_err(Failure::Read),
        }
    }

    fn discard(&mut self, element: Option<Element>) -> std::result::Result<(), Failure> {
        match element {
            Some(Element::Unread(first)) => self.events.skip_value(&first).map_err(Failure::Read),
            _ => Ok(()),
        }
    }
}

/// The next element out of the last of `stages` (`None` at the end of the array), mirroring
/// the slot walk of `!arraydiff`: unmentioned slots pass through, edits act at their slot.
fn pull<R: Read>(
    stages: &mut [Stage],
    input: &mut Input<'_, R>,
) -> std::result::Result<Option<Element>, Failure> {
    let Some((stage, below)) = stages.split_last_mut() else {
        return input.next();
    };
    loop {
        let due = match stage.edits.front() {
            Some((target, _)) if *target <= stage.slot => stage.edits.pop_front(),
            _ => None,
        };
        let Some((target, edit)) = due else {
            // No edit at this slot: the element passes through.
            if !stage.edits.is_empty() {
                stage.slot = stage.slot.saturating_add(1);
            }
            return pull(below, input);
        };
        stage.slot = target.saturating_add(1);
        match edit {
            SlotEdit::Insert(value) => return Ok(Some(Element::Built(value))),
            SlotEdit::Remove => {
                let gone = pull(below, input)?;
                input.discard(gone)?;
            }
            SlotEdit::Put(value) => {
                let gone = pull(below, input)?;
                input.discard(gone)?;
                return Ok(Some(Element::Built(value)));
            }
            SlotEdit::Patch(patch) => {
                let Some(current) = pull(below, input)? else {
                    return Err(Failure::Text("an array edit past the end".into()));
                };
                let current = input.build(current)?;
                if let Some(value) = apply_to(Some(&current), &patch).map_err(Failure::Patch)? {
                    return Ok(Some(Element::Built(value)));
                }
            }
        }
    }
}
