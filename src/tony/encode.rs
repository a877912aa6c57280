//! The encoders: the one-line wire form (storage, network) and the block form (people).

use std::collections::HashSet;

use super::annotate::Annotations;
use super::ir::{write_canonical_float, Key, Node, Value};
use super::kpath::{KPath, Segment};
use super::parse::MAX_DEPTH;
use super::prefetch;
use super::quote::{write_quoted, write_string};

/// Encodes `node` in wire form: fully bracketed, one line, items separated by single spaces,
/// no trailing newline. Canonical wire text re-encodes to the same bytes.
pub fn encode_wire(node: &Node) -> String {
    let mut out = String::new();
    write_wire(&mut out, node);
    out
}

/// Appends the wire form of `node` to `out`. Containers are walked with an explicit stack, so
/// a value of any depth is fine.
pub fn write_wire(out: &mut String, node: &Node) {
    write_wire_reporting(out, node, &mut ());
}

/// Where a node stands in its parent, as [`write_wire_reporting`] reports it.
#[derive(Clone, Copy)]
pub(crate) enum Slot<'a> {
    /// The value written.
    Root,
    /// An array element.
    Item(u64),
    /// An object member.
    Member(&'a Key),
}

impl Slot<'_> {
    /// The kinded-path segment the slot adds (none for the root and merge keys `<<`).
    pub(crate) fn segment(self) -> Option<Segment> {
        match self {
            Slot::Root => None,
            Slot::Item(i) => Some(Segment::Index(i)),
            Slot::Member(key) => Segment::of_key(key),
        }
    }
}

/// Told of every node as [`write_wire_reporting`] starts writing it.
pub(crate) trait NodeStarts {
    /// The node at `slot`, inside `enclosing` containers, starts (with its tag, if any) at
    /// byte `offset` of the text written.
    fn node(&mut self, offset: u64, enclosing: usize, slot: Slot<'_>, tag: Option<&str>);
}

/// Nothing to tell: plain [`write_wire`].
impl NodeStarts for () {
    #[inline(always)]
    fn node(&mut self, _: u64, _: usize, _: Slot<'_>, _: Option<&str>) {}
}

/// [`write_wire`], telling `starts` where each node starts (as a [`TokenSink`] callback
/// would, without spelling every node's path).
///
/// [`TokenSink`]: super::TokenSink
pub(crate) fn write_wire_reporting(out: &mut String, node: &Node, starts: &mut impl NodeStarts) {
    /// What is left to write: a node (with how many containers enclose it), or the rest of a
    /// container's children (the next one's index, and how many containers enclose them).
    enum Pending<'a> {
        Node(&'a Node, usize),
        Items(std::slice::Iter<'a, Node>, u64, usize),
        Members(std::slice::Iter<'a, (Key, Node)>, bool, usize),
    }
    let base = out.len();
    let offset = |out: &String| out.len().saturating_sub(base) as u64;
    starts.node(offset(out), 0, Slot::Root, node.tag.as_deref());
    let mut stack = vec![Pending::Node(node, 0)];
    while let Some(pending) = stack.pop() {
        match pending {
            Pending::Node(node, enclosing) => {
                if let Some(tag) = &node.tag {
                    out.push_str(tag);
                    out.push(' ');
                }
                match &node.value {
                    Value::Array(items) => {
                        out.push('[');
                        prefetch::warm_first(items.iter());
                        stack.push(Pending::Items(items.iter(), 0, enclosing.saturating_add(1)));
                    }
                    Value::Object(entries) => {
                        out.push('{');
                        prefetch::warm_first(entries.iter().map(|(_, v)| v));
                        stack.push(Pending::Members(
                            entries.iter(),
                            true,
                            enclosing.saturating_add(1),
                        ));
                    }
                    _ => write_scalar(out, &node.value),
                }
            }
            // Scalar children are written in place; the walk descends only into containers.
            Pending::Items(mut rest, mut index, enclosing) => loop {
                let Some(item) = rest.next() else {
                    out.push(']');
                    break;
                };
                if index > 0 {
                    out.push(' ');
                }
                starts.node(
                    offset(out),
                    enclosing,
                    Slot::Item(index),
                    item.tag.as_deref(),
                );
                index = index.saturating_add(1);
                if is_container(item) {
                    prefetch::warm_siblings(rest.as_slice().iter());
                    stack.push(Pending::Items(rest, index, enclosing));
                    stack.push(Pending::Node(item, enclosing));
                    break;
                }
                write_tagged_scalar(out, item);
            },
            Pending::Members(mut rest, mut first, enclosing) => loop {
                let Some((key, value)) = rest.next() else {
                    out.push('}');
                    break;
                };
                if !first {
                    out.push(' ');
                }
                first = false;
                write_key(out, key);
                out.push_str(": ");
                starts.node(
                    offset(out),
                    enclosing,
                    Slot::Member(key),
                    value.tag.as_deref(),
                );
                if is_container(value) {
                    prefetch::warm_siblings(rest.as_slice().iter().map(|(_, v)| v));
                    stack.push(Pending::Members(rest, false, enclosing));
                    stack.push(Pending::Node(value, enclosing));
                    break;
                }
                write_tagged_scalar(out, value);
            },
        }
    }
}

/// Whether `node` is an array or an object.
fn is_container(node: &Node) -> bool {
    matches!(node.value, Value::Array(_) | Value::Object(_))
}

/// Writes a scalar with its tag, if any.
fn write_tagged_scalar(out: &mut String, node: &Node) {
    if let Some(tag) = &node.tag {
        out.push_str(tag);
        out.push(' ');
    }
    write_scalar(out, &node.value);
}

/// Appends a scalar value (not a container) to `out`.
pub fn write_scalar(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::Float(f) => match &f.text {
            Some(text) => out.push_str(text),
            None => write_canonical_float(out, f.value),
        },
        Value::String(s) => write_string(out, s),
        Value::Array(_) | Value::Object(_) => unreachable!("containers are not scalars"),
    }
}

/// Appends an object key to `out`.
pub fn write_key(out: &mut String, key: &Key) {
    match key {
        Key::Str(s) => write_string(out, s),
        Key::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Key::Merge => out.push_str("<<"),
    }
}

/// Encodes `node` in block (normal) form for people: 2-space indentation, one entry per line,
/// ending with a newline.
pub fn encode_block(node: &Node) -> String {
    encode_block_annotated(node, &Annotations::default())
}

/// [`encode_block`], writing back the comments and folded strings of `notes` (see
/// [`parse_annotated`](super::parse_annotated)) at the nodes they belong to.
pub fn encode_block_annotated(node: &Node, notes: &Annotations) -> String {
    let mut writer = BlockWriter {
        out: String::new(),
        notes,
        path: Vec::new(),
        written: HashSet::new(),
    };
    writer.heads(node, 0, true);
    if let Some(tag) = &node.tag {
        writer.out.push_str(tag);
        if is_block_collection(node) {
            writer.line_end();
            writer.heads_below(node, 0);
        } else {
            writer.out.push(' ');
        }
    }
    writer.body(node, 0);
    if !writer.out.ends_with('\n') {
        writer.out.push('\n');
    }
    for text in &notes.trailing {
        writer.out.push('#');
        writer.out.push_str(text);
        writer.out.push('\n');
    }
    writer.out
}

/// A non-empty array or object: written over several lines in block form.
fn is_block_collection(node: &Node) -> bool {
    match &node.value {
        Value::Array(items) => !items.is_empty(),
        Value::Object(entries) => !entries.is_empty(),
        _ => false,
    }
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// The block encoder's state: the text so far and the path of the node being written.
struct BlockWriter<'a> {
    out: String,
    notes: &'a Annotations,
    path: Vec<Segment>,
    /// The paths whose comments are written (head comments, and line comments with `line`
    /// set). An object with a repeated key (kept by `tony fmt`) has two members at one path:
    /// their comments, noted under that path, are written once, at the first.
    written: HashSet<(KPath, bool)>,
}

impl BlockWriter<'_> {
    fn current(&self) -> KPath {
        KPath::from_segments(self.path.clone())
    }

    /// Writes the head comments of the node at the current path, re-indenting to `level`
    /// after each. When the node's content starts on its own line (`inline`: the untagged root,
    /// an array element's `- `), the comments of its first child, which starts on that line
    /// too, come first as well, and so on down.
    fn heads(&mut self, node: &Node, level: usize, inline: bool) {
        if self.notes.head.is_empty() {
            return;
        }
        let mut path = self.current();
        let (mut node, mut inline) = (node, inline);
        loop {
            let texts = self.notes.head.get(&path);
            if texts.is_some() && self.written.insert((path.clone(), false)) {
                for text in texts.into_iter().flatten() {
                    self.out.push('#');
                    self.out.push_str(text);
                    self.out.push('\n');
                    indent(&mut self.out, level);
                }
            }
            if !inline || node.tag.is_some() {
                return;
            }
            match first_child(node) {
                Some((segment, child)) => {
                    inline = matches!(segment, Segment::Index(_));
                    path = path.child(segment);
                    node = child;
                }
                None => return,
            }
        }
    }

    /// Ends the line where the current node starts, with its line comment if it has one.
    fn line_end(&mut self) {
        if !self.notes.line.is_empty() {
            let path = self.current();
            if let Some(text) = self.notes.line.get(&path) {
                if self.written.insert((path, true)) {
                    self.out.push_str(" #");
                    self.out.push_str(text);
                }
            }
        }
        self.out.push('\n');
    }

    /// Writes the value (without its tag) at indentation `level`; the cursor is already
    /// positioned for the first line.
    fn body(&mut self, node: &Node, level: usize) {
        match &node.value {
            Value::Array(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Segment::Index(i as u64));
                    if i > 0 {
                        indent(&mut self.out, level);
                        self.heads(item, level, true);
                    }
                    self.out.push_str("- ");
                    self.child(item, level.saturating_add(2), true);
                    self.path.pop();
                }
            }
            Value::Object(entries) if !entries.is_empty() => {
                for (i, (key, value)) in entries.iter().enumerate() {
                    self.path.push(Segment::of_any_key(key));
                    if i > 0 {
                        indent(&mut self.out, level);
                        self.heads(value, level, false);
                    }
                    write_key(&mut self.out, key);
                    self.out.push(':');
                    self.child(value, level.saturating_add(2), false);
                    self.path.pop();
                }
            }
            Value::String(text) => {
                match self.notes.folded.get(&self.current()) {
                    Some(pieces) if pieces.concat() == **text => {
                        for (i, piece) in pieces.iter().enumerate() {
                            if i > 0 {
                                self.out.push('\n');
                                // At the top, pieces after the first are indented: a quoted
                                // string at column 1 starts the next document of a stream.
                                indent(&mut self.out, level.max(2));
                            }
                            // Folding joins quoted pieces only.
                            write_quoted(&mut self.out, piece);
                        }
                    }
                    _ => write_string(&mut self.out, text),
                }
                self.line_end();
            }
            _ => {
                write_wire(&mut self.out, &node.clone().untagged());
                self.line_end();
            }
        }
    }

    /// Writes a child value after `key:` or `- `, nested at `level`: a tag and scalars stay on
    /// the line; a non-empty collection starts on the next line.
    fn child(&mut self, node: &Node, level: usize, after_dash: bool) {
        if self.path.len() > MAX_DEPTH {
            // Deeper than any text reads back: the rest goes on one line in wire form, which
            // is written without recursion and without indentation growing with the depth.
            if !after_dash {
                self.out.push(' ');
            }
            write_wire(&mut self.out, node);
            self.line_end();
            return;
        }
        if let Some(tag) = &node.tag {
            if !after_dash {
                self.out.push(' ');
            }
            self.out.push_str(tag);
        }
        if is_block_collection(node) && (node.tag.is_some() || !after_dash) {
            self.line_end();
            indent(&mut self.out, level);
            self.heads_below(node, level);
        } else if node.tag.is_some() || !after_dash {
            self.out.push(' ');
        }
        self.body(node, level);
    }

    /// After a collection's own line: the head comments of its first child.
    fn heads_below(&mut self, node: &Node, level: usize) {
        if let Some((segment, child)) = first_child(node) {
            let inline = matches!(segment, Segment::Index(_));
            self.path.push(segment);
            self.heads(child, level, inline);
            self.path.pop();
        }
    }
}

/// A collection's first child with its segment.
fn first_child(node: &Node) -> Option<(Segment, &Node)> {
    match &node.value {
        Value::Array(items) => items.first().map(|n| (Segment::Index(0), n)),
        Value::Object(entries) => entries.first().map(|(k, n)| (Segment::of_any_key(k), n)),
        _ => None,
    }
}
