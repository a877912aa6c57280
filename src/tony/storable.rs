//! Whether a value built in code reads back as itself once written as text.
//!
//! The parser refuses what has no meaning as a document: an object with a repeated key or
//! mixing integer and string keys, a merge key whose value is not a string, a malformed tag.
//! A [`Node`] built in code can hold any of these, and also a non-finite float or a float
//! whose kept source text is not a number. A store writes values as text and parses that
//! text on later reads, so it checks each value with [`check_storable`] before accepting it:
//! whatever a commit accepts then reads back as itself forever, instead of being acknowledged
//! and failing every read as a corrupt entry.

use std::collections::HashSet;
use std::fmt;

use super::ir::{canonical_float, Key, Node, Value};
use super::kpath::{KPath, Segment};
use super::lex::{Lexer, TokenKind};
use super::object::Object;

/// Why a value cannot be stored as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotStorable {
    /// Nested deeper than the limit given to [`check_storable`].
    TooDeep {
        /// The depth reached (the value itself is depth 1).
        depth: usize,
    },
    /// A node the text form cannot carry, at `path` (relative to the value checked).
    Invalid {
        /// Where the node is.
        path: KPath,
        /// What is wrong with it.
        problem: Problem,
    },
}

/// What is wrong with a node that cannot be written as text and read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// An object holds `key` more than once.
    DuplicateKey(Key),
    /// An object mixes integer keys (a sparse array) with string keys.
    MixedKeys,
    /// A merge key (`<<`) whose value is not a string.
    MergeValue,
    /// A tag that does not read back as itself (the tag, as given).
    Tag(String),
    /// A float that is NaN or infinite: Tony has no text for it.
    NonFiniteFloat,
    /// A float whose kept source text does not read back as that float (the text).
    FloatText(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::DuplicateKey(key) => write!(f, "duplicate key {:?}", key.to_text()),
            Problem::MixedKeys => {
                f.write_str("an object cannot mix integer keys (sparse array) and string keys")
            }
            Problem::MergeValue => f.write_str("a merge key takes a string value"),
            Problem::Tag(tag) => write!(f, "invalid tag {tag:?}"),
            Problem::NonFiniteFloat => f.write_str("a float must be finite (not NaN or infinite)"),
            Problem::FloatText(text) => write!(f, "a float's text {text:?} is not that number"),
        }
    }
}

impl fmt::Display for NotStorable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotStorable::TooDeep { depth } => write!(f, "the value nests {depth} levels deep"),
            NotStorable::Invalid { path, problem } if path.is_root() => write!(f, "{problem}"),
            NotStorable::Invalid { path, problem } => write!(f, "at {path}: {problem}"),
        }
    }
}

impl std::error::Error for NotStorable {}

/// Checks that `node` reads back as itself from its text form and nests at most `max_depth`
/// levels (the node itself is level 1). Iterative: no recursion on the value's depth.
pub fn check_storable(node: &Node, max_depth: usize) -> Result<(), NotStorable> {
    // Each frame: a container and the position of its next child to visit.
    let mut frames: Vec<(&Node, usize)> = Vec::new();
    let mut next = Some(node);
    loop {
        if let Some(node) = next.take() {
            let depth = frames.len().saturating_add(1);
            if depth > max_depth {
                return Err(NotStorable::TooDeep { depth });
            }
            if let Some(problem) = node_problem(node) {
                return Err(NotStorable::Invalid {
                    path: path_of(&frames),
                    problem,
                });
            }
            if matches!(node.value, Value::Array(_) | Value::Object(_)) {
                frames.push((node, 0));
            }
        }
        let Some((container, at)) = frames.last_mut() else {
            return Ok(());
        };
        let child = match &container.value {
            Value::Array(items) => items.get(*at),
            Value::Object(members) => members.get(*at).map(|(_, v)| v),
            _ => None,
        };
        match child {
            Some(child) => {
                *at = at.saturating_add(1);
                next = Some(child);
            }
            None => {
                frames.pop();
            }
        }
    }
}

/// The path of the node being visited: the last child taken from each frame.
fn path_of(frames: &[(&Node, usize)]) -> KPath {
    let segments = frames
        .iter()
        .filter_map(|(container, next)| {
            let at = next.checked_sub(1)?;
            Some(match &container.value {
                Value::Object(members) => match &members.get(at)?.0 {
                    Key::Int(i) => Segment::Sparse(u64::from(*i)),
                    key => Segment::Field(key.to_text().into()),
                },
                _ => Segment::Index(at as u64),
            })
        })
        .collect();
    KPath::from_segments(segments)
}

/// The problem of `node` itself (not of its children), if any.
fn node_problem(node: &Node) -> Option<Problem> {
    if let Some(tag) = node.tag() {
        if !reads_back_as_tag(tag) {
            return Some(Problem::Tag(tag.to_owned()));
        }
    }
    match &node.value {
        Value::Float(f) if !f.value.is_finite() => Some(Problem::NonFiniteFloat),
        Value::Float(f) => match &f.text {
            Some(text) if !reads_back_as_float(text, f.value) => {
                Some(Problem::FloatText(text.to_string()))
            }
            _ => None,
        },
        Value::Object(members) => object_problem(members, false),
        _ => None,
    }
}

/// What the parser refuses in an object's members, if anything (see [`Problem`]); repeated
/// keys pass when `keep_duplicates` (see [`ParseOptions`](super::ParseOptions)).
pub(crate) fn object_problem(object: &Object, keep_duplicates: bool) -> Option<Problem> {
    let ints = object.iter().any(|(k, _)| matches!(k, Key::Int(_)));
    let strs = object.iter().any(|(k, _)| matches!(k, Key::Str(_)));
    if ints && strs {
        return Some(Problem::MixedKeys);
    }
    if object
        .iter()
        .any(|(key, value)| *key == Key::Merge && !is_merge_value(value))
    {
        return Some(Problem::MergeValue);
    }
    if keep_duplicates {
        return None;
    }
    repeated_key(object).map(|key| Problem::DuplicateKey(key.clone()))
}

/// The first key that an earlier member already has (merge keys `<<` aside): pairwise for
/// small objects, through a set for wide ones (not the object's own key index, which a wide
/// object would then keep for good).
fn repeated_key(object: &Object) -> Option<&Key> {
    const PAIRWISE_UP_TO: usize = 16;
    let members: &[(Key, Node)] = object;
    let mut keys = members
        .iter()
        .enumerate()
        .filter(|(_, (key, _))| *key != Key::Merge);
    if members.len() <= PAIRWISE_UP_TO {
        return keys
            .find(|(at, (key, _))| {
                members
                    .get(..*at)
                    .is_some_and(|before| before.iter().any(|(k, _)| k == key))
            })
            .map(|(_, (key, _))| key);
    }
    let mut seen = HashSet::with_capacity(members.len());
    keys.find(|(_, (key, _))| !seen.insert(key))
        .map(|(_, (key, _))| key)
}

/// Whether `value` may stand after a merge key `<<`: a string (tagged or not).
pub(crate) fn is_merge_value(value: &Node) -> bool {
    matches!(value.value, Value::String(_))
}

/// Whether `tag` is read back by the lexer as exactly this tag.
pub(crate) fn reads_back_as_tag(tag: &str) -> bool {
    // The usual tags (`!delete`, `!not.subtree`, `!a-b_c`) need no lexer.
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some(name) = tag.strip_prefix('!') {
        if name.starts_with(|c: char| c.is_ascii_alphabetic()) && name.chars().all(plain) {
            return super::tag::is_valid_tag(tag);
        }
    }
    let text = format!("{tag} null");
    let mut lexer = Lexer::new(text.as_bytes());
    matches!(lexer.next_token(), Ok(Some(t)) if t.kind == TokenKind::Tag(tag.to_owned()))
        && matches!(lexer.next_token(), Ok(Some(t)) if t.kind == TokenKind::Null)
}

/// Whether `text` is read back by the lexer as a float of exactly `value`.
fn reads_back_as_float(text: &str, value: f64) -> bool {
    let mut lexer = Lexer::new(text.as_bytes());
    let float = match lexer.next_token() {
        Ok(Some(t)) => match t.kind {
            TokenKind::Float(f) => f,
            _ => return false,
        },
        _ => return false,
    };
    // The number's text as the lexer read it: all of `text`, or it stopped early.
    let read = float
        .text
        .as_deref()
        .map_or_else(|| canonical_float(float.value), str::to_owned);
    float.value.to_bits() == value.to_bits() && read == text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tony::{encode_wire, parse, Float};
    use std::sync::Arc;

    fn invalid(node: &Node) -> (String, Problem) {
        match check_storable(node, 100) {
            Err(NotStorable::Invalid { path, problem }) => (path.to_string(), problem),
            other => panic!("{other:?} for {}", encode_wire(node)),
        }
    }

    #[test]
    fn what_the_parser_reads_is_storable_and_reads_back() {
        for text in [
            "{a: 1, b: [1, 2.5, 1.5e3, \"x\"], c: !key(id) [{id: 1}], <<: \"m\", <<: !t \"n\"}",
            "!not.subtree.field.glob \"a*\"",
            "!time:time null",
            "{0: a, 7: b}",
            "!arraydiff {1: !insert 3}",
        ] {
            let node = parse(text).unwrap();
            check_storable(&node, 100).unwrap();
            assert_eq!(parse(&encode_wire(&node)).unwrap(), node, "{text}");
        }
    }

    #[test]
    fn what_would_not_read_back_is_refused_with_where() {
        let dup = Node::object(vec![("a".into(), Node::int(1)), ("a".into(), Node::int(2))]);
        let doc = Node::object(vec![("x".into(), Node::array(vec![Node::null(), dup]))]);
        assert_eq!(
            invalid(&doc),
            ("x[1]".into(), Problem::DuplicateKey("a".into()))
        );
        let mut wide: Vec<(Key, Node)> = (0..40)
            .map(|i| (Key::from(format!("k{i}").as_str()), Node::int(i)))
            .collect();
        assert_eq!(check_storable(&Node::object(wide.clone()), 10), Ok(()));
        wide.push(("k7".into(), Node::null()));
        assert_eq!(
            invalid(&Node::object(wide)).1,
            Problem::DuplicateKey("k7".into())
        );
        let mixed = Node::object(vec![
            ("a".into(), Node::int(1)),
            (Key::Int(3), Node::int(2)),
        ]);
        assert_eq!(invalid(&mixed).1, Problem::MixedKeys);
        let merge = Node::object(vec![(Key::Merge, Node::int(1))]);
        assert_eq!(invalid(&merge).1, Problem::MergeValue);
        for tag in [
            "!", "x", "!a b", "!a\nb", "!a,b", "!a#b", "!a{", "!a(", "!a)", "!a: b", "",
        ] {
            let node = Node::object(vec![(Key::Int(4), Node::int(1).with_tag(tag))]);
            assert_eq!(
                invalid(&node),
                ("{4}".into(), Problem::Tag(tag.into())),
                "{tag:?}"
            );
        }
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(invalid(&Node::float(f)).1, Problem::NonFiniteFloat);
        }
        for text in ["abc", "2.5", "1.0\n", "1.0 x", "1"] {
            let node = Node::new(Value::Float(Float {
                value: 1.0,
                text: Some(Arc::from(text)),
            }));
            assert_eq!(
                invalid(&node).1,
                Problem::FloatText(text.into()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let deep = (0..100_000).fold(Node::int(1), |inner, _| Node::array(vec![inner]));
        assert_eq!(
            check_storable(&deep, 300),
            Err(NotStorable::TooDeep { depth: 301 })
        );
        let shallow = (1..300).fold(Node::int(1), |inner, _| Node::array(vec![inner]));
        assert_eq!(check_storable(&shallow, 300), Ok(()));
        assert_eq!(
            check_storable(&shallow, 299),
            Err(NotStorable::TooDeep { depth: 300 })
        );
    }
}
