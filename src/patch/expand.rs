//! `!let` variable expansion: `.[name]` references in a pattern replaced by bound values, as
//! the original's `eval.ExpandIR` does for a `!let` body (`go-tony/eval/expand_env.go`),
//! with names only (the original evaluates expr-lang expressions).
//!
//! * A string that is exactly `.[name]` becomes the bound value, itself expanded (bindings may
//!   name one another). A tag the reference wears is kept, over the value's own tag.
//! * `.[name]` or `$[name]` inside a longer string (and a whole `$[name]`) is replaced by the
//!   wire form of the bound value as written; inside the brackets `\x` stands for `x`, the
//!   name is trimmed, and text whose brackets do not close is kept as written.
//! * Object values and array elements are expanded; keys, tags and other scalars are not.
//! * Names a nested `!let` binds are left for it: in its body they shadow the outer ones; in
//!   its binding list an outer binding of the same name wins.
//! * A name no enclosing `!let` binds, and a binding that names itself through others, are
//!   errors (the original expands an unknown name to null, a pattern that matches anything,
//!   and overflows its stack on a cycle). Work (nodes walked, and text written: a step per 16
//!   bytes) counts against the match's step budget and nesting against [`MAX_DEPTH`].

use std::sync::Arc;

use super::matching::spend_steps;
use super::PatchError;
use crate::tony::tag::parse_chain;
use crate::tony::{encode_wire, Key, Node, Value, MAX_DEPTH};

/// The names one `!let` binds, in order (a later binding of a name wins), from its binding
/// list `[{name: value}...]`.
pub(crate) fn bindings(list: Option<&Node>) -> Vec<(String, Node)> {
    list.and_then(Node::as_array)
        .unwrap_or_default()
        .iter()
        .filter_map(Node::as_object)
        .flatten()
        .map(|(k, v)| (k.to_text(), v.clone()))
        .collect()
}

/// `body` with the names `bound` by its `!let` expanded.
pub(crate) fn expand(body: &Node, bound: &[(String, Node)]) -> Result<Node, PatchError> {
    let mut expander = Expander {
        bound,
        resolving: Vec::new(),
    };
    expander.node(body, &Scope::default(), 0)
}

/// Names of nested `!let`s, which the walk leaves for them.
#[derive(Clone, Default)]
struct Scope {
    /// Left even where the enclosing `!let` binds them (a nested body).
    shadowed: Vec<String>,
    /// Left only where the enclosing `!let` does not bind them (a nested binding list).
    fallback: Vec<String>,
}

/// What a name refers to where the walk is.
enum Lookup<'a> {
    Bound(&'a Node),
    Leave,
    Unknown,
}

struct Expander<'a> {
    bound: &'a [(String, Node)],
    /// The names whose values are being expanded, outermost first (to report a cycle).
    resolving: Vec<String>,
}

impl<'a> Expander<'a> {
    fn lookup(&self, name: &str, scope: &Scope) -> Lookup<'a> {
        if scope.shadowed.iter().any(|n| n == name) {
            return Lookup::Leave;
        }
        if let Some((_, value)) = self.bound.iter().rev().find(|(n, _)| n == name) {
            return Lookup::Bound(value);
        }
        if scope.fallback.iter().any(|n| n == name) {
            Lookup::Leave
        } else {
            Lookup::Unknown
        }
    }

    fn node(&mut self, node: &Node, scope: &Scope, depth: usize) -> Result<Node, PatchError> {
        if depth > MAX_DEPTH {
            return Err(PatchError::TooDeep {
                path: String::new(),
                limit: MAX_DEPTH,
            });
        }
        spend_steps(1)?;
        let below = depth.saturating_add(1);
        let value = match &node.value {
            Value::String(text) => return self.string(node, text, scope, depth),
            Value::Array(items) => Value::Array(Arc::new(
                items
                    .iter()
                    .map(|item| self.node(item, scope, below))
                    .collect::<Result<_, _>>()?,
            )),
            Value::Object(entries) => {
                let nested = nested_let(node);
                let mut members = Vec::with_capacity(entries.len());
                for (key, member) in entries.iter() {
                    let inner = match &nested {
                        Some(names) => &nested_scope(scope, key, names),
                        None => scope,
                    };
                    members.push((key.clone(), self.node(member, inner, below)?));
                }
                Value::Object(Arc::new(members.into()))
            }
            _ => return Ok(node.clone()),
        };
        Ok(Node {
            tag: node.tag.clone(),
            value,
        })
    }

    /// A string node: a whole reference, or text with references inside.
    fn string(
        &mut self,
        node: &Node,
        text: &str,
        scope: &Scope,
        depth: usize,
    ) -> Result<Node, PatchError> {
        let whole = text
            .strip_prefix(".[")
            .and_then(|t| t.strip_suffix(']'))
            .filter(|name| !name.is_empty());
        let Some(name) = whole.map(str::trim) else {
            let expanded = self.text(text, scope)?;
            return Ok(Node {
                tag: node.tag.clone(),
                value: Value::String(Arc::from(expanded)),
            });
        };
        let value = match self.lookup(name, scope) {
            Lookup::Leave => return Ok(node.clone()),
            Lookup::Unknown => return Err(unbound(name)),
            Lookup::Bound(value) => value,
        };
        if self.resolving.iter().any(|n| n == name) {
            let mut chain = self.resolving.clone();
            chain.push(name.to_owned());
            return Err(malformed(format!("cycle: {}", chain.join(" -> "))));
        }
        self.resolving.push(name.to_owned());
        // A bound value means what it meant where it was bound: no nested names apply.
        let expanded = self.node(value, &Scope::default(), depth.saturating_add(1));
        self.resolving.pop();
        Ok(retag(expanded?, node.tag()))
    }

    /// `text` with the `.[name]` and `$[name]` inside it replaced by their values' wire form.
    fn text(&mut self, text: &str, scope: &Scope) -> Result<String, PatchError> {
        let bytes = text.as_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
        // Where the open reference started, and its name so far (escapes resolved).
        let mut open: Option<(usize, Vec<u8>)> = None;
        let mut at = 0;
        while let Some(&c) = bytes.get(at) {
            let next = bytes.get(at.saturating_add(1)).copied();
            match (c, next, &mut open) {
                (b'.' | b'$', Some(b'['), _) => {
                    open = Some((at, Vec::new()));
                    at = at.saturating_add(2);
                    continue;
                }
                (b'\\', Some(escaped), Some((_, name))) => {
                    name.push(escaped);
                    at = at.saturating_add(2);
                    continue;
                }
                (b']', _, Some((start, name))) => {
                    let written = bytes.get(*start..=at).unwrap_or_default();
                    let name = String::from_utf8_lossy(name);
                    let name = name.trim();
                    match self.lookup(name, scope) {
                        Lookup::Bound(value) => {
                            let wire = encode_wire(value);
                            // One step per 16 bytes written bounds the text a match can make.
                            spend_steps((wire.len() as u64).div_ceil(16).max(1))?;
                            out.extend(wire.bytes());
                        }
                        Lookup::Leave => out.extend_from_slice(written),
                        Lookup::Unknown => return Err(unbound(name)),
                    }
                    open = None;
                }
                (_, _, Some((_, name))) => name.push(c),
                (_, _, None) => out.push(c),
            }
            at = at.saturating_add(1);
        }
        // A reference that never closed is text.
        if let Some((start, _)) = open {
            out.extend_from_slice(bytes.get(start..).unwrap_or_default());
        }
        // Only whole characters were copied: the brackets and escapes are ASCII.
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// The names bound by `node` if it is a `!let` (a `let` link in its tag chain and an object
/// with a binding list).
fn nested_let(node: &Node) -> Option<Vec<String>> {
    let links = parse_chain(node.tag()?)?;
    if !links.iter().any(|l| l.name == "let") {
        return None;
    }
    let list = node.get_field(&Key::str("let"))?;
    Some(bindings(Some(list)).into_iter().map(|(n, _)| n).collect())
}

/// The scope inside member `key` of a nested `!let` binding `names`: its binding list reads
/// outer bindings first, everything else (its body) its own names first.
fn nested_scope(scope: &Scope, key: &Key, names: &[String]) -> Scope {
    let mut inner = scope.clone();
    if *key == Key::str("let") {
        inner.fallback.extend_from_slice(names);
    } else {
        inner.shadowed.extend_from_slice(names);
    }
    inner
}

/// `value` wearing the tag of the reference it replaced, over its own.
fn retag(value: Node, reference: Option<&str>) -> Node {
    match (reference, value.tag()) {
        (None, _) => value,
        (Some(outer), None) => value.with_tag(outer),
        (Some(outer), Some(own)) => {
            let own = own.strip_prefix('!').unwrap_or(own);
            let tag = format!("{outer}.{own}");
            value.with_tag(&tag)
        }
    }
}

fn malformed(reason: String) -> PatchError {
    PatchError::Malformed {
        path: String::new(),
        op: "!let".into(),
        reason,
    }
}

fn unbound(name: &str) -> PatchError {
    malformed(format!("no enclosing !let binds .[{name}]"))
}
