//! Kinded paths: `a.b[0]{3}(key)` — a path whose every segment says which kind of container
//! it steps into (object field, dense index, sparse index, keyed element).
// No panics on user input: no unwrap/expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::fmt;
use std::sync::Arc;

use super::{quote, Key, Lexer, Node, TokenKind, Value, MAX_DEPTH};

/// One step of a [`KPath`]. The variant order is the order of kinds at one position.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// `.name`: a field of an object.
    Field(Arc<str>),
    /// `.*`: every field.
    FieldAll,
    /// `[i]`: element `i` of a dense array.
    Index(u64),
    /// `[*]`: every element.
    IndexAll,
    /// `{i}`: integer key `i` of a sparse array.
    Sparse(u64),
    /// `{*}`: every key of a sparse array.
    SparseAll,
    /// `(k)`: the element of a `!key(field)` array whose key field is `k`.
    Key(Arc<str>),
}

impl Segment {
    /// The position of the segment's kind in the order of kinds.
    fn kind_rank(&self) -> u8 {
        match self {
            Segment::Field(_) => 0,
            Segment::FieldAll => 1,
            Segment::Index(_) => 2,
            Segment::IndexAll => 3,
            Segment::Sparse(_) => 4,
            Segment::SparseAll => 5,
            Segment::Key(_) => 6,
        }
    }
}

/// By kind, then by name or number. Names shared by pointer (the paths of one entry share their
/// ancestors' names) compare equal without reading them: sorting an entry's ends was mostly
/// comparing equal prefixes.
impl Ord for Segment {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (Segment::Field(a), Segment::Field(b)) | (Segment::Key(a), Segment::Key(b)) => {
                if Arc::ptr_eq(a, b) {
                    std::cmp::Ordering::Equal
                } else {
                    a.cmp(b)
                }
            }
            (Segment::Index(a), Segment::Index(b)) | (Segment::Sparse(a), Segment::Sparse(b)) => {
                a.cmp(b)
            }
            _ => self.kind_rank().cmp(&other.kind_rank()),
        }
    }
}

impl PartialOrd for Segment {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A kinded path; the empty path is the root (`""`).
///
/// Paths are totally ordered: segment by segment, an ancestor before its descendants, and at one
/// position by kind (field < `.*` < `[i]` < `[*]` < `{i}` < `{*}` < `(k)`), then by name,
/// index or key.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KPath {
    segments: Vec<Segment>,
}

/// A path that does not parse, with the byte position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path {path:?} at byte {position}: {message}")]
pub struct PathError {
    /// The text that failed to parse.
    pub path: String,
    /// Byte offset of the problem.
    pub position: usize,
    /// What was wrong.
    pub message: String,
}

/// Why [`get`] could not follow a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// A segment does not fit the kind of value it was applied to.
    #[error("at {at}: cannot apply {segment} to {kind}")]
    KindMismatch {
        /// The path up to the failing segment.
        at: String,
        /// The segment, as written.
        segment: String,
        /// The kind of value found.
        kind: &'static str,
    },
    /// A dense index past the end of the array.
    #[error("at {at}: index {index} is out of range (array of {len})")]
    IndexOutOfRange {
        /// The path up to the failing segment.
        at: String,
        /// The index asked for.
        index: u64,
        /// The array's length.
        len: usize,
    },
    /// Wildcards select several values; `get` returns one.
    #[error("wildcard {segment} in a path given to get")]
    Wildcard {
        /// The wildcard, as written.
        segment: String,
    },
}

impl Segment {
    /// Whether this is a wildcard (`*`, `[*]`, `{*}`).
    pub fn is_wildcard(&self) -> bool {
        matches!(
            self,
            Segment::FieldAll | Segment::IndexAll | Segment::SparseAll
        )
    }

    /// The segment addressing an object key: a field, or a sparse index for an integer key.
    /// Merge keys cannot be addressed.
    pub fn of_key(key: &Key) -> Option<Segment> {
        match key {
            Key::Str(s) => Some(Segment::Field(s.clone())),
            Key::Int(i) => Some(Segment::Sparse(u64::from(*i))),
            Key::Merge => None,
        }
    }

    /// The object key the segment names, if it names one (a field or a sparse index within
    /// 32 bits): the inverse of [`of_key`](Self::of_key).
    pub fn member_key(&self) -> Option<Key> {
        match self {
            Segment::Field(name) => Some(Key::Str(name.clone())),
            Segment::Sparse(i) => u32::try_from(*i).ok().map(Key::Int),
            _ => None,
        }
    }

    /// [`of_key`](Self::of_key), with a merge key shown as the field `<<` (for messages and
    /// annotations, where every key needs a segment).
    pub fn of_any_key(key: &Key) -> Segment {
        Segment::of_key(key).unwrap_or_else(|| Segment::Field(Arc::from("<<")))
    }

    /// The field name, for a field segment.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            Segment::Field(name) => Some(name),
            _ => None,
        }
    }

    /// Writes the segment as a path's text spells it; `first` says whether it starts the
    /// path (no leading `.`).
    pub(crate) fn write(&self, out: &mut String, first: bool) {
        let dot = if first { "" } else { "." };
        match self {
            Segment::Field(name) => {
                out.push_str(dot);
                if field_needs_quote(name) {
                    quote::write_quoted(out, name);
                } else {
                    out.push_str(name);
                }
            }
            Segment::FieldAll => {
                out.push_str(dot);
                out.push('*');
            }
            Segment::Index(i) => {
                out.push('[');
                out.push_str(itoa::Buffer::new().format(*i));
                out.push(']');
            }
            Segment::IndexAll => out.push_str("[*]"),
            Segment::Sparse(i) => {
                out.push('{');
                out.push_str(itoa::Buffer::new().format(*i));
                out.push('}');
            }
            Segment::SparseAll => out.push_str("{*}"),
            Segment::Key(k) => {
                out.push('(');
                if quote::needs_quote(k) || k.contains(')') {
                    quote::write_quoted(out, k);
                } else {
                    out.push_str(k);
                }
                out.push(')');
            }
        }
    }
}

/// Orders object keys as the paths through them are ordered (see [`KPath`]): the order of
/// their [`Segment::of_key`] segments, without building them (a merge key last).
pub(crate) fn key_order(a: &Key, b: &Key) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Key::Str(a), Key::Str(b)) => a.cmp(b),
        (Key::Int(a), Key::Int(b)) => a.cmp(b),
        (Key::Merge, Key::Merge) => Ordering::Equal,
        // A field's kind ranks before a sparse index's.
        (Key::Str(_), _) | (Key::Int(_), Key::Merge) => Ordering::Less,
        (Key::Int(_) | Key::Merge, _) => Ordering::Greater,
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write(&mut out, true);
        f.write_str(&out)
    }
}

/// Whether a field name must be quoted in a path: it would not read back as a bare literal, or
/// it holds a character that ends a bare field (`.`, `[`, `{`, `(`), or it is `*`.
pub fn field_needs_quote(name: &str) -> bool {
    // A byte scan: the four are ASCII, so no byte of another character equals one of them.
    quote::needs_quote(name)
        || name.bytes().any(|b| matches!(b, b'.' | b'[' | b'{' | b'('))
        || name == "*"
}

impl KPath {
    /// The root path.
    pub fn root() -> Self {
        KPath::default()
    }

    /// A path from segments.
    pub fn from_segments(segments: Vec<Segment>) -> Self {
        KPath { segments }
    }

    /// The most segments a parsed path may have: the nesting bound of values
    /// ([`MAX_DEPTH`]), since a path longer than that addresses nothing a document can hold.
    pub const MAX_SEGMENTS: usize = MAX_DEPTH;

    /// Parses a path; more than [`KPath::MAX_SEGMENTS`] segments is an error.
    pub fn parse(text: &str) -> Result<KPath, PathError> {
        PathParser { text, pos: 0 }.parse()
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The number of segments.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Whether the path has no segments (is the root).
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The parent: all but the last segment (the root's parent is the root).
    pub fn parent(&self) -> KPath {
        let n = self.segments.len().saturating_sub(1);
        KPath {
            segments: self.segments.get(..n).unwrap_or_default().to_vec(),
        }
    }

    /// The last segment, if any.
    pub fn last(&self) -> Option<&Segment> {
        self.segments.last()
    }

    /// This path extended by `segment`.
    pub fn child(&self, segment: Segment) -> KPath {
        let mut segments = Vec::with_capacity(self.segments.len().saturating_add(1));
        segments.extend_from_slice(&self.segments);
        segments.push(segment);
        KPath { segments }
    }

    /// This path followed by `suffix`.
    pub fn join(&self, suffix: &KPath) -> KPath {
        KPath {
            segments: [&self.segments[..], &suffix.segments[..]].concat(),
        }
    }

    /// The first segment as a path, and the rest; `None` for the root.
    pub fn split_first(&self) -> Option<(KPath, KPath)> {
        let (first, rest) = self.segments.split_first()?;
        Some((
            KPath {
                segments: vec![first.clone()],
            },
            KPath {
                segments: rest.to_vec(),
            },
        ))
    }

    /// The parent and the last segment as a path; `None` for the root.
    pub fn split_last(&self) -> Option<(KPath, KPath)> {
        let (last, parent) = self.segments.split_last()?;
        Some((
            KPath {
                segments: parent.to_vec(),
            },
            KPath {
                segments: vec![last.clone()],
            },
        ))
    }

    /// Every segment as a path of its own.
    pub fn split_all(&self) -> Vec<KPath> {
        self.segments
            .iter()
            .map(|s| KPath {
                segments: vec![s.clone()],
            })
            .collect()
    }

    /// `(is ancestor or equal, is equal)` of this path relative to `other`.
    pub fn ancestor_or_equal(&self, other: &KPath) -> (bool, bool) {
        let prefix = other.segments.starts_with(&self.segments);
        (
            prefix,
            prefix && self.segments.len() == other.segments.len(),
        )
    }

    /// Whether this path is `other` or one of its ancestors.
    pub fn is_prefix_of(&self, other: &KPath) -> bool {
        self.ancestor_or_equal(other).0
    }

    /// The segments after `prefix`, if `prefix` is an ancestor or equal.
    pub fn strip_prefix(&self, prefix: &KPath) -> Option<&[Segment]> {
        self.segments.strip_prefix(&prefix.segments[..])
    }
}

impl KPath {
    /// Appends the path's canonical text (as [`Display`](fmt::Display) writes it) to `out`.
    pub(crate) fn write_to(&self, out: &mut String) {
        for (i, segment) in self.segments.iter().enumerate() {
            segment.write(out, i == 0);
        }
    }
}

impl fmt::Display for KPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write_to(&mut out);
        f.write_str(&out)
    }
}

impl std::str::FromStr for KPath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KPath::parse(s)
    }
}

struct PathParser<'a> {
    text: &'a str,
    pos: usize,
}

impl PathParser<'_> {
    fn error(&self, message: impl Into<String>) -> PathError {
        PathError {
            path: self.text.to_owned(),
            position: self.pos,
            message: message.into(),
        }
    }

    /// Moves the cursor `n` bytes on (never past the end).
    fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.text.len());
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn parse(mut self) -> Result<KPath, PathError> {
        let mut segments = Vec::new();
        if self.rest().starts_with('.') {
            self.advance(1);
            if self.rest().is_empty() {
                return Err(self.error("expected a field after '.'"));
            }
        }
        while let Some(c) = self.rest().chars().next() {
            let first = segments.is_empty();
            let segment = match c {
                '[' => self.bracketed('[', ']', Segment::Index, Segment::IndexAll)?,
                '{' => self.bracketed('{', '}', Segment::Sparse, Segment::SparseAll)?,
                '(' => self.keyed()?,
                '.' if !first => {
                    self.advance(1);
                    self.field()?
                }
                '.' => return Err(self.error("unexpected '.'")),
                _ if first => self.field()?,
                _ => return Err(self.error(format!("expected '.', '[', '{{' or '(' before {c:?}"))),
            };
            if segments.len() >= KPath::MAX_SEGMENTS {
                return Err(self.error(format!("more than {} segments", KPath::MAX_SEGMENTS)));
            }
            segments.push(segment);
        }
        Ok(KPath { segments })
    }

    /// A quoted string at the cursor; advances past it.
    fn quoted(&mut self) -> Result<String, PathError> {
        let mut lexer = Lexer::new(self.rest().as_bytes());
        match lexer.next_token() {
            Ok(Some(t)) if matches!(t.kind, TokenKind::Quoted(_)) => {
                let TokenKind::Quoted(s) = t.kind else {
                    unreachable!()
                };
                self.advance(usize::try_from(lexer.position().offset).unwrap_or(usize::MAX));
                Ok(s)
            }
            Ok(_) => Err(self.error("expected a quoted string")),
            Err(e) => Err(PathError {
                path: self.text.to_owned(),
                position: self
                    .pos
                    .saturating_add(usize::try_from(e.offset).unwrap_or(usize::MAX)),
                message: e.message,
            }),
        }
    }

    fn field(&mut self) -> Result<Segment, PathError> {
        match self.rest().chars().next() {
            None => Err(self.error("expected a field")),
            Some('"' | '\'') => Ok(Segment::Field(Arc::from(self.quoted()?))),
            Some(_) => {
                let end = self
                    .rest()
                    .find(['.', '[', '{', '('])
                    .unwrap_or(self.rest().len());
                if end == 0 {
                    return Err(self.error("empty field name"));
                }
                let name = self.rest().get(..end).unwrap_or_default();
                let segment = if name == "*" {
                    Segment::FieldAll
                } else {
                    // Shared with the same keys of values (see `keys.rs`).
                    Segment::Field(super::keys::shared(name))
                };
                self.advance(end);
                Ok(segment)
            }
        }
    }

    fn bracketed(
        &mut self,
        open: char,
        close: char,
        index: fn(u64) -> Segment,
        all: Segment,
    ) -> Result<Segment, PathError> {
        self.advance(open.len_utf8());
        let Some(end) = self.rest().find(close) else {
            return Err(self.error(format!("unclosed '{open}'")));
        };
        let inner = &self.rest()[..end];
        let segment = if inner == "*" {
            all
        } else if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
            index(inner.parse().map_err(|_| self.error("index too large"))?)
        } else {
            return Err(self.error(format!(
                "expected a non-negative integer or '*' inside '{open}{close}'"
            )));
        };
        self.advance(end.saturating_add(close.len_utf8()));
        Ok(segment)
    }

    fn keyed(&mut self) -> Result<Segment, PathError> {
        self.advance(1);
        let key = if matches!(self.rest().chars().next(), Some('"' | '\'')) {
            self.quoted()?
        } else {
            let Some(end) = self.rest().find(')') else {
                return Err(self.error("unclosed '('"));
            };
            let key = self.rest()[..end].to_owned();
            self.advance(end);
            key
        };
        if key.is_empty() {
            return Err(self.error("empty key"));
        }
        if !self.rest().starts_with(')') {
            return Err(self.error("expected ')'"));
        }
        self.advance(1);
        Ok(Segment::Key(Arc::from(key)))
    }
}

/// The field name of a `!key(field)` array's tag, if it has one.
pub fn keyed_field(node: &Node) -> Option<String> {
    let link = super::tag::find_link(node.tag()?, "key")?;
    link.args.into_iter().next()
}

/// The text a keyed element's key field is matched by: strings as themselves, other values in
/// wire form.
pub fn key_text(value: &Node) -> String {
    match &value.value {
        Value::String(s) => s.to_string(),
        _ => super::encode_wire(value),
    }
}

/// The position of the element of keyed array `items` (key field `field`) whose key is `key`.
pub fn keyed_position(items: &[Node], field: &str, key: &str) -> Option<usize> {
    let field = Key::str(field);
    items
        .iter()
        .position(|item| item.get_field(&field).is_some_and(|v| key_text(v) == key))
}

/// The value at `path` in `node`: `None` when a field (or sparse key, or keyed element) is
/// missing or the path runs into `null`; an error when a segment does not fit the value's kind,
/// an index is out of range, or the path has a wildcard.
pub fn get<'a>(node: &'a Node, path: &KPath) -> Result<Option<&'a Node>, GetError> {
    let mut current = node;
    for (depth, segment) in path.segments.iter().enumerate() {
        let at = || {
            KPath {
                segments: path.segments.get(..depth).unwrap_or_default().to_vec(),
            }
            .to_string()
        };
        if segment.is_wildcard() {
            return Err(GetError::Wildcard {
                segment: segment.to_string(),
            });
        }
        if current.is_null() {
            return Ok(None);
        }
        let mismatch = || GetError::KindMismatch {
            at: at(),
            segment: segment.to_string(),
            kind: current.kind_name(),
        };
        let next = match (segment, &current.value) {
            (Segment::Field(name), Value::Object(_)) => current.get_field(&Key::Str(name.clone())),
            (Segment::Sparse(i), Value::Object(_)) => match u32::try_from(*i) {
                Ok(i) => current.get_field(&Key::Int(i)),
                Err(_) => None,
            },
            (Segment::Index(i), Value::Array(items)) => {
                match usize::try_from(*i).ok().and_then(|i| items.get(i)) {
                    Some(item) => Some(item),
                    None => {
                        return Err(GetError::IndexOutOfRange {
                            at: at(),
                            index: *i,
                            len: items.len(),
                        })
                    }
                }
            }
            (Segment::Key(k), Value::Array(items)) => {
                let field = keyed_field(current).ok_or_else(mismatch)?;
                keyed_position(items, &field, k).and_then(|i| items.get(i))
            }
            _ => return Err(mismatch()),
        };
        match next {
            Some(next) => current = next,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Every path of `node` with the subtree there, in document order, starting with the root.
/// Object fields become field segments (integer keys become sparse segments), array elements
/// index segments; merge keys, which no path can address, are skipped.
pub fn extract_all(node: &Node) -> Vec<(KPath, Node)> {
    let mut out = Vec::new();
    let mut stack = vec![(KPath::root(), node)];
    while let Some((path, node)) = stack.pop() {
        let children: Vec<(KPath, &Node)> = match &node.value {
            Value::Object(entries) => entries
                .iter()
                .filter_map(|(k, v)| Some((path.child(Segment::of_key(k)?), v)))
                .collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (path.child(Segment::Index(i as u64)), v))
                .collect(),
            _ => Vec::new(),
        };
        out.push((path, node.clone()));
        stack.extend(children.into_iter().rev());
    }
    out
}

/// The path of `target` inside `root`: containers are found by identity (the same shared
/// subtree), scalars by equality (the first in document order).
pub fn path_of(root: &Node, target: &Node) -> Option<KPath> {
    let same = |a: &Node| match (&a.value, &target.value) {
        (Value::Object(x), Value::Object(y)) => Arc::ptr_eq(x, y),
        (Value::Array(x), Value::Array(y)) => Arc::ptr_eq(x, y),
        (Value::Object(_) | Value::Array(_), _) => false,
        _ => a == target,
    };
    extract_all(root)
        .into_iter()
        .find(|(_, n)| same(n))
        .map(|(p, _)| p)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // a failing test panics
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn keys_order_as_their_segments() {
        let keys = [
            Key::str(""),
            Key::str("a"),
            Key::str("ab"),
            Key::str("b"),
            Key::str("é"),
            Key::Int(0),
            Key::Int(7),
            Key::Int(u32::MAX),
        ];
        for a in &keys {
            for b in &keys {
                let by_segment = Segment::of_key(a)
                    .unwrap()
                    .cmp(&Segment::of_key(b).unwrap());
                assert_eq!(key_order(a, b), by_segment, "{a:?} {b:?}");
            }
            assert!(key_order(a, &Key::Merge).is_lt() && key_order(&Key::Merge, a).is_gt());
        }
    }

    /// The order segments must have: kind, then name or number (independent of sharing).
    fn reference(s: &Segment) -> (u8, String, u64) {
        match s {
            Segment::Field(n) => (0, n.to_string(), 0),
            Segment::FieldAll => (1, String::new(), 0),
            Segment::Index(i) => (2, String::new(), *i),
            Segment::IndexAll => (3, String::new(), 0),
            Segment::Sparse(i) => (4, String::new(), *i),
            Segment::SparseAll => (5, String::new(), 0),
            Segment::Key(k) => (6, k.to_string(), 0),
        }
    }

    /// One name every generated segment may share by pointer.
    fn shared() -> Arc<str> {
        static SHARED: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from("ab"));
        SHARED.clone()
    }

    fn segment() -> impl Strategy<Value = Segment> {
        let shared = shared();
        let name = prop::sample::select(vec!["a", "b", "ab", ""]);
        prop_oneof![
            name.clone().prop_map(|n| Segment::Field(n.into())),
            Just(Segment::Field(shared.clone())),
            Just(Segment::FieldAll),
            (0u64..3).prop_map(Segment::Index),
            Just(Segment::IndexAll),
            (0u64..3).prop_map(Segment::Sparse),
            Just(Segment::SparseAll),
            name.prop_map(|n| Segment::Key(n.into())),
            Just(Segment::Key(shared)),
        ]
    }

    proptest! {
        #[test]
        fn segments_order_by_kind_then_name_whether_shared_or_not(
            a in segment(),
            b in segment(),
        ) {
            prop_assert_eq!(a.cmp(&b), reference(&a).cmp(&reference(&b)));
            prop_assert_eq!(a.cmp(&b) == std::cmp::Ordering::Equal, a == b);
        }
    }
}
