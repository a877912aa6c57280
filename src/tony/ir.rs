//! The data model: a Tony value ([`Node`]) with its tag.
//!
//! Containers hold their children behind [`Arc`], so cloning a subtree is O(1) and edits copy
//! only the path they change ([`Arc::make_mut`]).

use std::cmp::Ordering;
use std::sync::Arc;

use super::object::Object;

/// A Tony value with its optional tag (e.g. `!delete`, `!key(id)`).
#[derive(Clone, Debug)]
pub struct Node {
    /// The tag chain including the leading `!`, e.g. `!strdiff(false).retag(a,b)`.
    pub tag: Option<Arc<str>>,
    /// The value.
    pub value: Value,
}

/// The value of a [`Node`].
#[derive(Clone, Debug)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number.
    Float(Float),
    /// A string.
    String(Arc<str>),
    /// A dense array.
    Array(Arc<Vec<Node>>),
    /// An object: ordered keys. An object whose keys are all [`Key::Int`] is a sparse array.
    Object(Arc<Object>),
}

/// A non-integer number (or an integer beyond `i64`), with its source text when the text is not
/// the canonical rendering of the value (so `1.5e3` is written back as `1.5e3`).
#[derive(Clone, Debug)]
pub struct Float {
    /// The value.
    pub value: f64,
    /// The source text, kept only when it differs from [`canonical_float`]`(value)`.
    pub text: Option<Arc<str>>,
}

/// An object key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A string key.
    Str(Arc<str>),
    /// An integer key (sparse arrays): non-negative, at most 32 bits.
    Int(u32),
    /// A merge key `<<`; may occur more than once.
    Merge,
}

/// The canonical text of a float: the shortest text that reads back as the same `f64`, always
/// with a `.` or exponent so it reads back as a float. Non-finite values have no Tony form and
/// are written as `null`.
pub fn canonical_float(value: f64) -> String {
    let mut out = String::new();
    write_canonical_float(&mut out, value);
    out
}

/// Appends [`canonical_float`]`(value)` to `out`.
pub(crate) fn write_canonical_float(out: &mut String, value: f64) {
    use std::fmt::Write;
    let mut fast = zmij::Buffer::new();
    match fast_canonical_float(&mut fast, value) {
        Some(text) => out.push_str(text),
        None if value.is_finite() => {
            // Writing to a String cannot fail.
            let _ = write!(out, "{value:?}");
        }
        None => out.push_str("null"),
    }
}

/// The canonical text of `value` from the fast formatter, where it is the same as Rust's
/// `{:?}` (the definition): plain notation (Rust switches to exponents below `1e-4` and from
/// `1e16`, the fast formatter elsewhere and with `e+`) and at most 15 significant digits. Up to
/// 15 digits the shortest text that reads back is unique (15-digit decimals lie more than an
/// ulp apart), so both formatters find the same one; at 16 and 17 they may break ties
/// differently. `None` when the value is outside that range.
fn fast_canonical_float(buffer: &mut zmij::Buffer, value: f64) -> Option<&str> {
    let plain = value == 0.0 || (1e-4..1e16).contains(&value.abs());
    if !plain {
        return None;
    }
    let text = buffer.format_finite(value);
    let significant = text
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|&d| d == b'0')
        .count();
    (significant <= 15).then_some(text)
}

/// Whether `text` is [`canonical_float`]`(value)`, compared as it is formatted (no allocation).
fn is_canonical_float(text: &str, value: f64) -> bool {
    use std::fmt::Write;
    /// Consumes the expected text as the formatter writes; fails at the first difference.
    struct Expect<'a>(&'a str);
    impl Write for Expect<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            match self.0.strip_prefix(s) {
                Some(rest) => {
                    self.0 = rest;
                    Ok(())
                }
                None => Err(std::fmt::Error),
            }
        }
    }
    if !value.is_finite() {
        return text == "null";
    }
    let mut fast = zmij::Buffer::new();
    if let Some(canonical) = fast_canonical_float(&mut fast, value) {
        return text == canonical;
    }
    let mut expect = Expect(text);
    write!(expect, "{value:?}").is_ok() && expect.0.is_empty()
}

impl Float {
    /// A float from its source text (which must be a valid number).
    pub fn from_text(text: &str, value: f64) -> Self {
        let text = (!is_canonical_float(text, value)).then(|| Arc::from(text));
        Self { value, text }
    }
}

impl Key {
    /// A string key (short keys share one allocation per thread, see `keys.rs`).
    pub fn str(s: &str) -> Self {
        Key::Str(super::keys::shared(s))
    }
    /// The key as a string (integers in decimal, merge keys as `<<`).
    pub fn to_text(&self) -> String {
        match self {
            Key::Str(s) => s.to_string(),
            Key::Int(i) => i.to_string(),
            Key::Merge => "<<".to_owned(),
        }
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key::str(s)
    }
}

impl Node {
    /// An untagged node.
    pub fn new(value: Value) -> Self {
        Node { tag: None, value }
    }
    /// `null`.
    pub fn null() -> Self {
        Self::new(Value::Null)
    }
    /// A boolean.
    pub fn bool(b: bool) -> Self {
        Self::new(Value::Bool(b))
    }
    /// An integer.
    pub fn int(i: i64) -> Self {
        Self::new(Value::Int(i))
    }
    /// A float (no source text).
    pub fn float(f: f64) -> Self {
        Self::new(Value::Float(Float {
            value: f,
            text: None,
        }))
    }
    /// A string.
    pub fn string(s: &str) -> Self {
        Self::new(Value::String(Arc::from(s)))
    }
    /// A dense array.
    pub fn array(items: Vec<Node>) -> Self {
        Self::new(Value::Array(Arc::new(items)))
    }
    /// An object from ordered entries.
    pub fn object(entries: Vec<(Key, Node)>) -> Self {
        Self::new(Value::Object(Arc::new(entries.into())))
    }
    /// The same node with tag `tag` (including its `!`), replacing any tag it had.
    pub fn with_tag(mut self, tag: &str) -> Self {
        self.tag = Some(Arc::from(tag));
        self
    }
    /// The same node without a tag.
    pub fn untagged(mut self) -> Self {
        self.tag = None;
        self
    }
    /// The tag, if any, as a `&str`.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    /// Whether the value is `null` (whatever the tag).
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
    /// The entries if this is an object.
    pub fn as_object(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Object(entries) => Some(entries),
            _ => None,
        }
    }
    /// The elements if this is an array.
    pub fn as_array(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }
    /// The string if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    /// The members if this is an object, with lookups by key.
    pub fn as_members(&self) -> Option<&Object> {
        match &self.value {
            Value::Object(members) => Some(members),
            _ => None,
        }
    }
    /// The value of field `key` if this is an object that has it (the first, for merge keys).
    /// O(1) in a wide object after its first lookup (see [`Object`]).
    pub fn get_field(&self, key: &Key) -> Option<&Node> {
        self.as_members()?.value_of(key)
    }
    /// Whether this is a sparse array: a non-empty object whose keys are all integers.
    pub fn is_sparse_array(&self) -> bool {
        self.as_object()
            .is_some_and(|e| !e.is_empty() && e.iter().all(|(k, _)| matches!(k, Key::Int(_))))
    }
    /// A short name of the value's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::Float(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

impl Value {
    /// The rank of the value's type in the total order:
    /// null < bool < number (ints before floats) < string < array < object.
    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Float(_) => 3,
            Value::String(_) => 4,
            Value::Array(_) => 5,
            Value::Object(_) => 6,
        }
    }
}

/// The order of two scalars (or of a scalar and a container, by rank).
fn scalar_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Float(a), Value::Float(b)) => a.value.total_cmp(&b.value),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => a.rank().cmp(&b.rank()),
    }
}

/// One step of a value's walk in comparison order: a scalar, or a container's opening, each
/// child (after `Next`, and for objects its key), and its `End`; a node's tag follows its value.
enum Token<'a> {
    Scalar(&'a Value),
    Open(&'a Value),
    Next,
    Key(&'a Key),
    End,
    Tag(Option<&'a str>),
}

impl Token<'_> {
    /// Lexicographic order of two walks, token by token. Walks that agree so far are at the
    /// same place in the same shape, so only like tokens, a scalar against a container, or
    /// `Next` against `End` (the shorter container first) meet.
    fn compare(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Token::Scalar(a) | Token::Open(a), Token::Scalar(b) | Token::Open(b)) => {
                scalar_cmp(a, b)
            }
            (Token::Key(a), Token::Key(b)) => a.cmp(b),
            (Token::Tag(a), Token::Tag(b)) => a.cmp(b),
            _ => self.kind().cmp(&other.kind()),
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Token::End => 0,
            Token::Next => 1,
            Token::Scalar(_) | Token::Open(_) => 2,
            Token::Key(_) => 3,
            Token::Tag(_) => 4,
        }
    }
}

/// The walk of a value or node as [`Token`]s, with an explicit stack: comparing values of any
/// depth cannot overflow the call stack.
struct Walk<'a> {
    stack: Vec<Step<'a>>,
}

enum Step<'a> {
    Value(&'a Value),
    Tag(Option<&'a str>),
    Key(&'a Key),
    Items(std::slice::Iter<'a, Node>),
    Members(std::slice::Iter<'a, (Key, Node)>),
}

impl<'a> Walk<'a> {
    fn value(value: &'a Value) -> Self {
        Walk {
            stack: vec![Step::Value(value)],
        }
    }

    fn node(node: &'a Node) -> Self {
        let mut walk = Walk { stack: Vec::new() };
        walk.push_node(node);
        walk
    }

    fn push_node(&mut self, node: &'a Node) {
        self.stack.push(Step::Tag(node.tag.as_deref()));
        self.stack.push(Step::Value(&node.value));
    }

    /// Compares two walks token by token.
    fn compare(mut self, mut other: Walk<'a>) -> Ordering {
        loop {
            match (self.next(), other.next()) {
                (Some(a), Some(b)) => match a.compare(&b) {
                    Ordering::Equal => {}
                    unequal => return unequal,
                },
                (a, b) => return a.is_some().cmp(&b.is_some()),
            }
        }
    }
}

impl<'a> Iterator for Walk<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        Some(match self.stack.pop()? {
            Step::Value(value) => match value {
                Value::Array(items) => {
                    self.stack.push(Step::Items(items.iter()));
                    Token::Open(value)
                }
                Value::Object(entries) => {
                    self.stack.push(Step::Members(entries.iter()));
                    Token::Open(value)
                }
                scalar => Token::Scalar(scalar),
            },
            Step::Tag(tag) => Token::Tag(tag),
            Step::Key(key) => Token::Key(key),
            Step::Items(mut rest) => match rest.next() {
                Some(item) => {
                    self.stack.push(Step::Items(rest));
                    self.push_node(item);
                    Token::Next
                }
                None => Token::End,
            },
            Step::Members(mut rest) => match rest.next() {
                Some((key, value)) => {
                    self.stack.push(Step::Members(rest));
                    self.push_node(value);
                    self.stack.push(Step::Key(key));
                    Token::Next
                }
                None => Token::End,
            },
        })
    }
}

impl Value {
    fn is_container(&self) -> bool {
        matches!(self, Value::Array(_) | Value::Object(_))
    }
}

/// Values are totally ordered: by type rank, then by value; containers lexicographically.
impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        if !self.is_container() || !other.is_container() {
            return scalar_cmp(self, other);
        }
        Walk::value(self).compare(Walk::value(other))
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

/// Nodes compare by value first, then by tag: a total order consistent with equality.
/// Equality is deep and sensitive to key order and tags; ints never equal floats.
impl Ord for Node {
    fn cmp(&self, other: &Self) -> Ordering {
        if !self.value.is_container() || !other.value.is_container() {
            return scalar_cmp(&self.value, &other.value).then_with(|| self.tag.cmp(&other.tag));
        }
        Walk::node(self).compare(Walk::node(other))
    }
}

impl PartialOrd for Node {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Node {}

/// Floats are equal when their values are (the source text is presentation only).
impl PartialEq for Float {
    fn eq(&self, other: &Self) -> bool {
        self.value.total_cmp(&other.value).is_eq()
    }
}

/// How deep the drops of nested values may recurse before switching to an explicit stack.
const RECURSIVE_DROP_DEPTH: u32 = 64;

thread_local! {
    /// How many container drops are on the call stack of this thread.
    static DROP_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A value frees its subtree by plain recursion while shallow (the common case: no extra
/// moves), and below 64 levels with an explicit stack, so dropping a
/// value of any depth (parsed ones are bounded, values built in Rust need not be) cannot
/// overflow the call stack. Containers shared with other values are only released, as usual.
impl Drop for Value {
    fn drop(&mut self) {
        if !self.is_container() {
            return;
        }
        let depth = DROP_DEPTH.with(|d| d.replace(d.get().saturating_add(1)));
        if depth < RECURSIVE_DROP_DEPTH {
            // Children dropped here, while this level is counted.
            match self {
                Value::Array(items) => {
                    if let Some(items) = Arc::get_mut(items) {
                        items.clear();
                    }
                }
                Value::Object(entries) => {
                    if let Some(entries) = Arc::get_mut(entries) {
                        entries.members_mut().clear();
                    }
                }
                _ => {}
            }
        } else {
            let mut pending = Vec::new();
            move_children(self, &mut pending);
            while let Some(mut value) = pending.pop() {
                move_children(&mut value, &mut pending);
                // `value` is dropped here, its own children already moved out.
            }
        }
        DROP_DEPTH.with(|d| d.set(depth));
    }
}

/// Moves the container children of `value` to `out` when `value` is their only owner.
fn move_children(value: &mut Value, out: &mut Vec<Value>) {
    let keep = |node: Node| node.value.is_container().then_some(node.value);
    match value {
        Value::Array(items) => {
            if let Some(items) = Arc::get_mut(items) {
                out.extend(items.drain(..).filter_map(keep));
            }
        }
        Value::Object(entries) => {
            if let Some(entries) = Arc::get_mut(entries) {
                out.extend(
                    entries
                        .members_mut()
                        .drain(..)
                        .filter_map(|(_, node)| keep(node)),
                );
            }
        }
        _ => {}
    }
}
