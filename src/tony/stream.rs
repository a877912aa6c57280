//! Streaming without building the IR: [`EventReader`] turns bracketed (wire) text into
//! structural events with the kinded path of each, and [`TokenSink`] writes events as wire
//! text, reporting the byte offset and path of every node it starts.

use std::io::{Read, Write};
use std::sync::Arc;

use super::encode::{write_key, write_scalar};
use super::error::ParseError;
use super::ir::{Key, Node, Value};
use super::kpath::{KPath, Segment};
use super::lex::{Lexer, Pos, RawScan, RawStop, Token, TokenKind};
use super::object::Object;
use super::storable::{is_merge_value, Problem};

/// One structural event of a document.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// `{`, with the object's tag.
    BeginObject(Option<Arc<str>>),
    /// `}`.
    EndObject,
    /// `[`, with the array's tag.
    BeginArray(Option<Arc<str>>),
    /// `]`.
    EndArray,
    /// An object key; the next event starts its value.
    Key(Key),
    /// A scalar value with its tag.
    Scalar(Node),
}

impl Event {
    /// Whether the event starts a value (a node).
    pub fn starts_node(&self) -> bool {
        matches!(
            self,
            Event::BeginObject(_) | Event::BeginArray(_) | Event::Scalar(_)
        )
    }
}

enum Frame {
    Object {
        key: Option<Segment>,
        awaiting_value: bool,
    },
    Array {
        next: u64,
        current: Option<Segment>,
    },
}

impl Frame {
    fn segment(&self) -> Option<&Segment> {
        match self {
            Frame::Object { key, .. } => key.as_ref(),
            Frame::Array { current, .. } => current.as_ref(),
        }
    }
}

/// Reads events from bracketed Tony text (the wire form, or JSON) incrementally, holding only
/// the container stack and one token of lookahead.
pub struct EventReader<R> {
    lexer: Lexer<R>,
    stack: Vec<Frame>,
    peeked: Option<Token>,
    tag: Option<(Arc<str>, Pos)>,
    started: bool,
    done: bool,
    last_start: Pos,
    /// Read one value and stop, ignoring what follows (a sub-document inside larger text).
    fragment: bool,
    /// Whether a `,` may come now: only right after an item or member, once.
    comma_allowed: bool,
    /// Whether a `:` must come now: only right after a key.
    colon_expected: bool,
}

impl<R: Read> EventReader<R> {
    /// A reader over `reader`.
    pub fn new(reader: R) -> Self {
        EventReader {
            lexer: Lexer::new(reader),
            stack: Vec::new(),
            peeked: None,
            tag: None,
            started: false,
            done: false,
            last_start: Pos::default(),
            fragment: false,
            comma_allowed: false,
            colon_expected: false,
        }
    }

    /// A reader of the one value at the start of `reader`, ignoring whatever follows it (for
    /// reading a sub-document at a known offset).
    pub fn fragment(reader: R) -> Self {
        EventReader {
            fragment: true,
            ..EventReader::new(reader)
        }
    }

    /// A reader positioned at the start of the node at `path` inside larger text (`reader`
    /// starts with that node's first byte). It reads that node and then whatever follows it
    /// in its enclosing containers (later siblings, then their parents' later siblings), as
    /// the full document would, and stops when the outermost one closes.
    pub fn resume(reader: R, path: &KPath) -> Self {
        let segments = path.segments();
        let stack = segments
            .iter()
            .enumerate()
            .map(|(i, segment)| {
                let started = i.saturating_add(1) < segments.len();
                match segment {
                    Segment::Index(n) if started => Frame::Array {
                        next: n.saturating_add(1),
                        current: Some(segment.clone()),
                    },
                    Segment::Index(n) => Frame::Array {
                        next: *n,
                        current: None,
                    },
                    _ => Frame::Object {
                        key: Some(segment.clone()),
                        awaiting_value: !started,
                    },
                }
            })
            .collect();
        let fragment = EventReader::fragment(reader);
        EventReader {
            lexer: fragment.lexer.inside(segments.len()),
            stack,
            started: !segments.is_empty(),
            ..fragment
        }
    }

    /// The kinded path of the most recently started node.
    pub fn path(&self) -> KPath {
        KPath::from_segments(
            self.stack
                .iter()
                .filter_map(|f| f.segment().cloned())
                .collect(),
        )
    }

    /// For the node `event` (the last event read) starts: how many containers enclose it, and
    /// the segment it adds to their path (none for the root and for a merge key's value).
    pub(crate) fn node_slot(&self, event: &Event) -> (usize, Option<&Segment>) {
        let own = usize::from(matches!(
            event,
            Event::BeginObject(_) | Event::BeginArray(_)
        ));
        let enclosing = self.stack.len().saturating_sub(own);
        let segment = enclosing
            .checked_sub(1)
            .and_then(|parent| self.stack.get(parent))
            .and_then(Frame::segment);
        (enclosing, segment)
    }

    /// The byte offset at which the most recent node started (its tag, if it has one).
    pub fn node_offset(&self) -> u64 {
        self.last_start.offset
    }

    /// Bytes the tokenizer holds (bounded by the largest token).
    pub fn buffered_capacity(&self) -> usize {
        self.lexer.buffered_capacity()
    }

    /// The container nesting depth.
    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    /// Whether raw copies can start here ([`copy_raw`](Self::copy_raw)): nothing past the
    /// last event was read, and a container is open.
    pub(crate) fn can_copy_raw(&self) -> bool {
        self.peeked.is_none() && self.tag.is_none() && !self.stack.is_empty()
    }

    /// Copies raw text, at most `max` bytes per call (see `RawScan`): the rest of the
    /// container whose begin event was just returned — once its closing bracket is copied,
    /// the reader stands after it as if its end event had been read —, or whole elements of
    /// the array being read, counted as read. For canonical wire text, the bytes equal what
    /// writing the events would produce.
    pub(crate) fn copy_raw(
        &mut self,
        scan: &mut RawScan,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<RawStop, ParseError> {
        let before = scan.elements_left();
        let stop = self.lexer.copy_raw(scan, out, max)?;
        match (before, scan.elements_left()) {
            (Some(before), Some(after)) => {
                if let Some(Frame::Array { next, current }) = self.stack.last_mut() {
                    if before > after {
                        let copied =
                            u64::try_from(before.saturating_sub(after)).unwrap_or(u64::MAX);
                        *next = next.saturating_add(copied);
                        *current = Some(Segment::Index(next.saturating_sub(1)));
                    }
                }
            }
            _ if stop == RawStop::Done => {
                self.stack.pop();
                if self.stack.is_empty() {
                    self.finish()?;
                }
            }
            _ => {}
        }
        Ok(stop)
    }

    fn token(&mut self) -> Result<Option<Token>, ParseError> {
        if let Some(t) = self.peeked.take() {
            return Ok(Some(t));
        }
        loop {
            match self.lexer.next_token()? {
                Some(Token {
                    kind: TokenKind::Comment(_),
                    ..
                }) => {}
                other => return Ok(other),
            }
        }
    }

    fn peek_kind(&mut self) -> Result<Option<&TokenKind>, ParseError> {
        if self.peeked.is_none() {
            self.peeked = self.token()?;
        }
        Ok(self.peeked.as_ref().map(|t| &t.kind))
    }

    /// Marks the start of a value in the current container.
    fn value_starts(&mut self, pos: Pos) -> Result<(), ParseError> {
        self.last_start = self.tag.as_ref().map_or(pos, |(_, p)| *p);
        match self.stack.last_mut() {
            None if self.started => {
                return Err(ParseError::new(pos, "expected the end of the document"))
            }
            None => self.started = true,
            Some(Frame::Array { next, current }) => {
                *current = Some(Segment::Index(*next));
                *next = next.saturating_add(1);
            }
            Some(Frame::Object { awaiting_value, .. }) => {
                if !*awaiting_value {
                    return Err(ParseError::new(pos, "expected a key"));
                }
                *awaiting_value = false;
            }
        }
        Ok(())
    }

    /// The next event, or `None` at the end of the document.
    pub fn next_event(&mut self) -> Result<Option<Event>, ParseError> {
        if self.done {
            return Ok(None);
        }
        loop {
            let Some(token) = self.token()? else {
                if !self.stack.is_empty() {
                    return Err(ParseError::new(
                        self.lexer.position(),
                        "unexpected end of input inside a container",
                    ));
                }
                self.done = true;
                return Ok(None);
            };
            let in_key_position = matches!(
                self.stack.last(),
                Some(Frame::Object {
                    awaiting_value: false,
                    ..
                })
            );
            match token.kind {
                // As the parser: a tag with no value after it (a comma or a closing bracket
                // follows) is a tagged null.
                TokenKind::Comma | TokenKind::RCurl | TokenKind::RSquare if self.tag.is_some() => {
                    if in_key_position || self.stack.is_empty() {
                        return Err(ParseError::new(token.pos, "a tag without a value"));
                    }
                    let pos = self.tag.as_ref().map_or(token.pos, |(_, p)| *p);
                    self.peeked = Some(token);
                    self.value_starts(pos)?;
                    self.comma_allowed = true;
                    return Ok(Some(Event::Scalar(Node {
                        tag: self.tag.take().map(|(t, _)| t),
                        value: Value::Null,
                    })));
                }
                // As the parser: one optional comma after an item (a trailing one included),
                // none at a container's start, two in a row or outside a container.
                TokenKind::Comma => {
                    if self.stack.is_empty() || !self.comma_allowed {
                        return Err(ParseError::new(token.pos, "unexpected ','"));
                    }
                    self.comma_allowed = false;
                    continue;
                }
                TokenKind::Colon => {
                    if !self.colon_expected {
                        return Err(ParseError::new(token.pos, "unexpected ':'"));
                    }
                    self.colon_expected = false;
                    continue;
                }
                TokenKind::Tag(t) => {
                    if self.tag.is_some() {
                        return Err(ParseError::new(token.pos, "two tags on one value"));
                    }
                    self.tag = Some((Arc::from(t), token.pos));
                    continue;
                }
                TokenKind::LCurl | TokenKind::LSquare => {
                    self.value_starts(token.pos)?;
                    let tag = self.tag.take().map(|(t, _)| t);
                    self.comma_allowed = false;
                    if self.stack.len() >= super::MAX_DEPTH {
                        return Err(ParseError::new(token.pos, "nesting too deep"));
                    }
                    return Ok(Some(if token.kind == TokenKind::LCurl {
                        self.stack.push(Frame::Object {
                            key: None,
                            awaiting_value: false,
                        });
                        Event::BeginObject(tag)
                    } else {
                        self.stack.push(Frame::Array {
                            next: 0,
                            current: None,
                        });
                        Event::BeginArray(tag)
                    }));
                }
                TokenKind::RCurl | TokenKind::RSquare => {
                    let frame = self.stack.pop();
                    let event = match (frame, &token.kind) {
                        (
                            Some(Frame::Object {
                                awaiting_value: false,
                                ..
                            }),
                            TokenKind::RCurl,
                        ) => Event::EndObject,
                        (Some(Frame::Array { .. }), TokenKind::RSquare) => Event::EndArray,
                        _ => return Err(ParseError::new(token.pos, "mismatched closing bracket")),
                    };
                    self.comma_allowed = true;
                    if self.stack.is_empty() {
                        self.finish()?;
                    }
                    return Ok(Some(event));
                }
                kind if in_key_position => {
                    if self.tag.is_some() {
                        return Err(ParseError::new(token.pos, "a tag on a key"));
                    }
                    let key =
                        match kind {
                            TokenKind::Literal(s) | TokenKind::Quoted(s) => Key::Str(Arc::from(s)),
                            TokenKind::Int(i) => Key::Int(u32::try_from(i).map_err(|_| {
                                ParseError::new(token.pos, "integer key out of range")
                            })?),
                            TokenKind::MergeKey => Key::Merge,
                            TokenKind::Null => Key::str("null"),
                            TokenKind::True => Key::str("true"),
                            TokenKind::False => Key::str("false"),
                            _ => return Err(ParseError::new(token.pos, "expected a key")),
                        };
                    if self.peek_kind()? != Some(&TokenKind::Colon) {
                        return Err(ParseError::new(
                            token.pos,
                            "expected ':' after the key (key sets are not streamed)",
                        ));
                    }
                    if let Some(Frame::Object {
                        key: k,
                        awaiting_value,
                    }) = self.stack.last_mut()
                    {
                        *k = Segment::of_key(&key);
                        *awaiting_value = true;
                    }
                    self.colon_expected = true;
                    return Ok(Some(Event::Key(key)));
                }
                kind => {
                    self.value_starts(token.pos)?;
                    let value = match kind {
                        TokenKind::Null => Value::Null,
                        TokenKind::True => Value::Bool(true),
                        TokenKind::False => Value::Bool(false),
                        TokenKind::Int(i) => Value::Int(i),
                        TokenKind::Float(f) => Value::Float(f),
                        TokenKind::Literal(s)
                        | TokenKind::Quoted(s)
                        | TokenKind::BlockLiteral(s) => Value::String(Arc::from(s)),
                        _ => {
                            return Err(ParseError::new(
                                token.pos,
                                "block-style input cannot be streamed; use the wire form",
                            ))
                        }
                    };
                    self.comma_allowed = true;
                    if self.stack.is_empty() {
                        self.finish()?;
                    }
                    return Ok(Some(Event::Scalar(Node {
                        tag: self.tag.take().map(|(t, _)| t),
                        value,
                    })));
                }
            }
        }
    }

    /// Ends the document: nothing but comments may follow the top-level value.
    fn finish(&mut self) -> Result<(), ParseError> {
        self.done = true;
        if self.fragment {
            return Ok(());
        }
        match self.peek_kind()? {
            None => Ok(()),
            Some(_) => {
                let pos = self
                    .peeked
                    .as_ref()
                    .map_or(self.lexer.position(), |t| t.pos);
                Err(ParseError::new(pos, "expected the end of the document (block style cannot be streamed; use the wire form)"))
            }
        }
    }

    /// Where the reader is in its input.
    pub(crate) fn position(&self) -> Pos {
        self.lexer.position()
    }

    /// Skips the rest of the value whose start event was just returned (nothing for scalars).
    pub fn skip_value(&mut self, start: &Event) -> Result<(), ParseError> {
        if !matches!(start, Event::BeginObject(_) | Event::BeginArray(_)) {
            return Ok(());
        }
        let depth = self.stack.len();
        while self.stack.len() >= depth {
            if self.next_event()?.is_none() {
                return Err(ParseError::new(
                    self.lexer.position(),
                    "unexpected end of input",
                ));
            }
        }
        Ok(())
    }
}

/// Builds a node from events, starting with `first` (a node start) and pulling the rest.
pub fn build_node<R: Read>(first: Event, reader: &mut EventReader<R>) -> Result<Node, ParseError> {
    enum Open {
        Object(Option<Arc<str>>, Vec<(Key, Node)>, Option<Key>),
        Array(Option<Arc<str>>, Vec<Node>),
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut event = first;
    loop {
        let finished = match event {
            Event::BeginObject(tag) => {
                stack.push(Open::Object(tag, Vec::new(), None));
                None
            }
            Event::BeginArray(tag) => {
                stack.push(Open::Array(tag, Vec::new()));
                None
            }
            Event::Key(key) => {
                if let Some(Open::Object(_, _, pending)) = stack.last_mut() {
                    *pending = Some(key);
                }
                None
            }
            Event::Scalar(node) => Some(node),
            Event::EndObject | Event::EndArray => Some(match stack.pop() {
                // Checked as the parser checks (stored text never fails this).
                Some(Open::Object(tag, entries, _)) => Node {
                    tag,
                    ..super::parse::finish_object(entries, reader.position(), false)?
                },
                Some(Open::Array(tag, items)) => Node {
                    tag,
                    value: Value::Array(Arc::new(items)),
                },
                None => return Err(ParseError::new(Pos::default(), "unbalanced events")),
            }),
        };
        if let Some(node) = finished {
            match stack.last_mut() {
                None => return Ok(node),
                Some(Open::Array(_, items)) => items.push(node),
                Some(Open::Object(_, entries, pending)) => {
                    let key = pending
                        .take()
                        .ok_or_else(|| ParseError::new(Pos::default(), "a value without a key"))?;
                    if key == Key::Merge && !is_merge_value(&node) {
                        return Err(ParseError::new(
                            reader.position(),
                            Problem::MergeValue.to_string(),
                        ));
                    }
                    entries.push((key, node));
                }
            }
        }
        event = reader
            .next_event()?
            .ok_or_else(|| ParseError::new(Pos::default(), "unexpected end of events"))?;
    }
}

/// Called at every node start with its byte offset, kinded path and event.
pub type NodeCallback<'a> = dyn FnMut(u64, &KPath, &Event) + 'a;

enum SinkFrame {
    Object { count: usize, key: Option<Segment> },
    Array { count: u64 },
}

/// Writes events as wire text to any writer, tracking the byte offset and calling back at every
/// node start. Its output for a document's events equals [`super::encode_wire`] of it.
pub struct TokenSink<'a, W> {
    out: W,
    offset: u64,
    stack: Vec<SinkFrame>,
    on_node: Option<Box<NodeCallback<'a>>>,
    scratch: String,
}

impl<'a, W: Write> TokenSink<'a, W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> Self {
        TokenSink {
            out,
            offset: 0,
            stack: Vec::new(),
            on_node: None,
            scratch: String::new(),
        }
    }

    /// A sink that reports every node start to `on_node`.
    pub fn with_callback(out: W, on_node: impl FnMut(u64, &KPath, &Event) + 'a) -> Self {
        TokenSink {
            on_node: Some(Box::new(on_node)),
            ..TokenSink::new(out)
        }
    }

    /// Bytes written so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Takes what was written so far, leaving an empty writer (for draining a buffer).
    pub fn take_output(&mut self) -> W
    where
        W: Default,
    {
        std::mem::take(&mut self.out)
    }

    fn emit(&mut self, text: &str) -> std::io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.offset = self.offset.saturating_add(text.len() as u64);
        Ok(())
    }

    fn path(&self) -> KPath {
        KPath::from_segments(
            self.stack
                .iter()
                .filter_map(|f| match f {
                    SinkFrame::Object { key, .. } => key.clone(),
                    SinkFrame::Array { count } => Some(Segment::Index(count.saturating_sub(1))),
                })
                .collect(),
        )
    }

    /// Writes bytes copied raw from canonical wire text inside the container last begun
    /// (see [`EventReader::copy_raw`]); `closes` when they end with its closing bracket. Node
    /// starts inside them are not reported.
    pub(crate) fn write_raw(&mut self, bytes: &[u8], closes: bool) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.offset = self.offset.saturating_add(bytes.len() as u64);
        if closes {
            self.stack.pop();
        }
        Ok(())
    }

    /// Writes bytes of whole elements copied raw into the array being written: `starts` when
    /// they begin at an element's first byte (a separator goes before it if the array has
    /// elements already), `elements` the number of elements ending in them.
    pub(crate) fn write_raw_elements(
        &mut self,
        bytes: &[u8],
        starts: bool,
        elements: usize,
    ) -> std::io::Result<()> {
        if let Some(SinkFrame::Array { count }) = self.stack.last_mut() {
            let separate = starts && *count > 0;
            *count = count.saturating_add(elements as u64);
            if separate {
                self.emit(" ")?;
            }
        }
        self.out.write_all(bytes)?;
        self.offset = self.offset.saturating_add(bytes.len() as u64);
        Ok(())
    }

    /// Writes one event.
    pub fn write(&mut self, event: &Event) -> std::io::Result<()> {
        if event.starts_node() {
            if let Some(SinkFrame::Array { count }) = self.stack.last_mut() {
                let first = *count == 0;
                *count = count.saturating_add(1);
                if !first {
                    self.emit(" ")?;
                }
            }
            if self.on_node.is_some() {
                let (offset, path) = (self.offset, self.path());
                if let Some(callback) = self.on_node.as_mut() {
                    callback(offset, &path, event);
                }
            }
        }
        self.scratch.clear();
        let mut text = std::mem::take(&mut self.scratch);
        let tag_of = |t: &Option<Arc<str>>, text: &mut String| {
            if let Some(t) = t {
                text.push_str(t);
                text.push(' ');
            }
        };
        match event {
            Event::BeginObject(tag) => {
                tag_of(tag, &mut text);
                text.push('{');
                self.stack.push(SinkFrame::Object {
                    count: 0,
                    key: None,
                });
            }
            Event::BeginArray(tag) => {
                tag_of(tag, &mut text);
                text.push('[');
                self.stack.push(SinkFrame::Array { count: 0 });
            }
            Event::EndObject => {
                text.push('}');
                self.stack.pop();
            }
            Event::EndArray => {
                text.push(']');
                self.stack.pop();
            }
            Event::Key(key) => {
                if let Some(SinkFrame::Object {
                    count,
                    key: current,
                }) = self.stack.last_mut()
                {
                    if *count > 0 {
                        text.push(' ');
                    }
                    *count = count.saturating_add(1);
                    *current = Segment::of_key(key);
                }
                write_key(&mut text, key);
                text.push_str(": ");
            }
            Event::Scalar(node) => {
                tag_of(&node.tag, &mut text);
                write_scalar(&mut text, &node.value);
            }
        }
        let result = self.emit(&text);
        self.scratch = text;
        result
    }
}

/// The events of a node, depth first (for writing a value through a [`TokenSink`] or handing
/// it to an event consumer). Holds one entry per open container; children are shared, not
/// copied.
pub struct NodeEvents {
    stack: Vec<Pending>,
}

enum Pending {
    Node(Node),
    Members(Arc<Object>, usize),
    Items(Arc<Vec<Node>>, usize),
}

impl NodeEvents {
    /// The events of `node`.
    pub fn new(node: Node) -> Self {
        NodeEvents {
            stack: vec![Pending::Node(node)],
        }
    }
}

impl Iterator for NodeEvents {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            match self.stack.pop()? {
                Pending::Node(node) => {
                    let (children, begin): (_, fn(_) -> _) = match &node.value {
                        Value::Object(members) => {
                            (Pending::Members(Arc::clone(members), 0), Event::BeginObject)
                        }
                        Value::Array(items) => {
                            (Pending::Items(Arc::clone(items), 0), Event::BeginArray)
                        }
                        _ => return Some(Event::Scalar(node)),
                    };
                    self.stack.push(children);
                    return Some(begin(node.tag));
                }
                Pending::Members(members, i) => {
                    let Some((key, value)) = members.get(i).cloned() else {
                        return Some(Event::EndObject);
                    };
                    self.stack
                        .push(Pending::Members(members, i.saturating_add(1)));
                    self.stack.push(Pending::Node(value));
                    return Some(Event::Key(key));
                }
                Pending::Items(items, i) => {
                    let Some(item) = items.get(i).cloned() else {
                        return Some(Event::EndArray);
                    };
                    self.stack.push(Pending::Items(items, i.saturating_add(1)));
                    self.stack.push(Pending::Node(item));
                }
            }
        }
    }
}
