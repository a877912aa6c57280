//! Matching a document against a pattern (commit preconditions, `!dive` rules).

use std::sync::Arc;

use super::expand::{bindings, expand};
use super::glob::glob_match;
use super::{PatchError, MAX_CALLS};
use crate::kpath::{get, key_text, KPath};
use crate::tony::tag::{compose, parse_chain, TagLink};
use crate::tony::{Key, Node, Value, MAX_DEPTH};

/// Ops a pattern may use.
const MATCH_OPS: &[&str] = &[
    "and", "or", "not", "type", "irtype", "glob", "field", "tag", "subtree", "has-path", "all",
    "key", "pass", "let",
];

/// Whether `doc` matches `pattern` (see [`try_matches`]); a pattern that cannot be evaluated
/// (malformed op, nesting past the bound) does not match.
pub fn matches(doc: &Node, pattern: &Node) -> bool {
    try_matches(doc, pattern).unwrap_or(false)
}

/// Whether `doc` matches `pattern`, with the original's semantics:
/// * `null` matches anything;
/// * an object matches when every key of the pattern is present and its value matches;
/// * an array matches when it has the same length and every position matches;
/// * other values match by equality (an integer never equals a float; tags are ignored);
/// * ops: `!and`/`!or` (a list: all/any; `!or` of an object: any shared key matches),
///   `!not`, `!irtype` (same kind as the pattern value), `!type` (the kind named), `!glob`
///   (`path/filepath.Match`), `!field` (the field name the value sits under, `""` at the root
///   and in arrays), `!tag` (`{name, args}` of the first tag link, or its name for a string
///   pattern), `!subtree` (any node, with its field), `!has-path`, `!all` (every element or
///   field value; a scalar itself), `!key(f)`, `!pass`, and `!let` (expands `.[name]`
///   references, see `expand.rs`).
///
/// Chains apply left to right: `!not.subtree.field.glob "x*"` holds when no node sits under a
/// field matching `x*`.
///
/// # Errors
/// [`PatchError::Malformed`] for a `!glob` or `!has-path` whose argument is not a string, a bad
/// glob, or a patch-only `!field(a,b)`; [`PatchError::TooDeep`] past the recursion bound.
pub fn try_matches(doc: &Node, pattern: &Node) -> Result<bool, PatchError> {
    match_at(doc, pattern, None, 0)
}

/// How many pattern evaluations one match may make (a long tag chain counts as several, see
/// `step_cost`): chained `!subtree`s multiply the work by the document's size per link, so a
/// short pattern could otherwise run for hours.
pub const MAX_MATCH_STEPS: u64 = 1_000_000;

thread_local! {
    /// Steps left to the outermost `match_at` running on this thread (`None`: none is).
    static STEPS_LEFT: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// [`try_matches`] for a value found under field `field`, `calls` levels deep in a walk. The
/// outermost call on a thread sets a budget of [`MAX_MATCH_STEPS`] for everything it evaluates.
pub(crate) fn match_at(
    doc: &Node,
    pattern: &Node,
    field: Option<&str>,
    calls: usize,
) -> Result<bool, PatchError> {
    match STEPS_LEFT.get() {
        Some(_) => {
            spend_steps(step_cost(pattern))?;
            match_step(doc, pattern, field, calls)
        }
        None => {
            /// Ends the budget however the outermost call returns.
            struct EndBudget;
            impl Drop for EndBudget {
                fn drop(&mut self) {
                    STEPS_LEFT.set(None);
                }
            }
            STEPS_LEFT.set(Some(MAX_MATCH_STEPS));
            let _end = EndBudget;
            match_step(doc, pattern, field, calls)
        }
    }
}

/// Takes `cost` steps from the budget of the match running on this thread (if any); an
/// error once it is spent.
pub(crate) fn spend_steps(cost: u64) -> Result<(), PatchError> {
    match STEPS_LEFT.get() {
        Some(0) => Err(PatchError::TooComplex {
            limit: MAX_MATCH_STEPS,
        }),
        Some(left) => {
            STEPS_LEFT.set(Some(left.saturating_sub(cost)));
            Ok(())
        }
        None => Ok(()),
    }
}

/// What evaluating `pattern` once costs of a match's budget: each step parses the pattern's
/// tag chain (and composes what follows its op), so a long chain costs in proportion to its
/// text: one unit per 4 bytes, which keeps the worst input (a long chain of `!subtree` links
/// over a document) to a fraction of a second.
fn step_cost(pattern: &Node) -> u64 {
    let chain = pattern.tag().map_or(0, |tag| tag.len() as u64);
    (chain / 4).saturating_add(1)
}

/// One step of [`match_at`]: the pattern's first op (or its structure) against `doc`.
fn match_step(
    doc: &Node,
    pattern: &Node,
    field: Option<&str>,
    calls: usize,
) -> Result<bool, PatchError> {
    if calls >= MAX_CALLS {
        return Err(PatchError::TooDeep {
            path: String::new(),
            limit: MAX_DEPTH,
        });
    }
    let next = calls.saturating_add(1);
    let Some((TagLink { name, args }, child)) = match_op(pattern) else {
        return structural(doc, pattern, next);
    };
    let malformed = |reason: &str| PatchError::Malformed {
        path: String::new(),
        op: format!("!{name}"),
        reason: reason.to_owned(),
    };
    Ok(match name.as_str() {
        "and" => match child.as_array() {
            Some(all) => try_all(all, |p| match_at(doc, p, field, next))?,
            None => match_at(doc, &child, field, next)?,
        },
        "or" => match (&child.value, &doc.value) {
            (Value::Object(wanted), Value::Object(_)) => try_any(wanted.iter(), |(k, p)| {
                doc.get_field(k)
                    .map_or(Ok(false), |v| match_at(v, p, Some(&k.to_text()), next))
            })?,
            (Value::Object(_), _) => false,
            (Value::Array(any), _) => try_any(any.iter(), |p| match_at(doc, p, field, next))?,
            (_, Value::Null) => false,
            _ => match_at(doc, &child, field, next)?,
        },
        "not" => !match_at(doc, &child, field, next)?,
        "pass" => true,
        "irtype" => doc.kind_name() == child.kind_name(),
        "type" => child
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case(doc.kind_name())),
        "glob" => {
            let glob = child.as_str().ok_or_else(|| malformed("needs a string"))?;
            match doc.as_str() {
                Some(text) => glob_match(glob, text).map_err(|_| malformed("bad glob pattern"))?,
                None => false,
            }
        }
        "field" if !args.is_empty() => {
            return Err(malformed("!field(from,to) is a patch, not a match"))
        }
        "field" => match_at(&Node::string(field.unwrap_or_default()), &child, None, next)?,
        "tag" => {
            let first = doc
                .tag()
                .and_then(parse_chain)
                .and_then(|l| l.into_iter().next());
            let (name, args) = first.map_or_else(Default::default, |l| (l.name, l.args));
            let target = if child.as_str().is_some() {
                Node::string(&name)
            } else {
                Node::object(vec![
                    (Key::str("name"), Node::string(&name)),
                    (
                        Key::str("args"),
                        Node::array(args.iter().map(|a| Node::string(a)).collect()),
                    ),
                ])
            };
            match_at(&target, &child, None, next)?
        }
        "subtree" => subtree(doc, &child, field, next)?,
        "has-path" => {
            let text = child
                .as_str()
                .ok_or_else(|| malformed("needs a string path"))?;
            KPath::parse(text)
                .ok()
                .is_some_and(|p| matches!(get(doc, &p), Ok(Some(_))))
        }
        "all" => match &doc.value {
            Value::Array(items) => try_all(items.iter(), |i| match_at(i, &child, None, next))?,
            Value::Object(entries) => try_all(entries.iter(), |(k, v)| {
                match_at(v, &child, Some(&k.to_text()), next)
            })?,
            _ => match_at(doc, &child, field, next)?,
        },
        "key" => keyed(
            doc,
            &child,
            args.first().map(String::as_str).unwrap_or_default(),
            next,
        )?,
        "let" => let_binding(doc, &child, next)?,
        _ => return Err(malformed("not a match op")),
    })
}

/// Whether `test` holds for every item, stopping at the first that fails or errs.
fn try_all<T>(
    items: impl IntoIterator<Item = T>,
    mut test: impl FnMut(T) -> Result<bool, PatchError>,
) -> Result<bool, PatchError> {
    for item in items {
        if !test(item)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `test` holds for some item, stopping at the first that holds or errs.
fn try_any<T>(
    items: impl IntoIterator<Item = T>,
    mut test: impl FnMut(T) -> Result<bool, PatchError>,
) -> Result<bool, PatchError> {
    for item in items {
        if test(item)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `!subtree P`: whether `doc` or any node below it matches `P`, each seen with the field it
/// sits under (`field` for `doc`). The walk keeps its own stack, so a deep document is fine.
fn subtree(
    doc: &Node,
    pattern: &Node,
    field: Option<&str>,
    calls: usize,
) -> Result<bool, PatchError> {
    let mut stack: Vec<(&Node, Option<String>)> = vec![(doc, field.map(str::to_owned))];
    while let Some((node, field)) = stack.pop() {
        if match_at(node, pattern, field.as_deref(), calls)? {
            return Ok(true);
        }
        match &node.value {
            Value::Object(entries) => {
                stack.extend(entries.iter().rev().map(|(k, v)| (v, Some(k.to_text()))))
            }
            Value::Array(items) => stack.extend(items.iter().rev().map(|v| (v, None))),
            _ => {}
        }
    }
    Ok(false)
}

/// The first match op in `pattern`'s tag chain, and the pattern with the links after it.
fn match_op(pattern: &Node) -> Option<(TagLink, Node)> {
    let links = parse_chain(pattern.tag()?)?;
    let at = links
        .iter()
        .position(|l| MATCH_OPS.contains(&l.name.as_str()))?;
    let (op, rest) = links.get(at..)?.split_first()?;
    let child = Node {
        tag: compose(rest).map(Arc::from),
        value: pattern.value.clone(),
    };
    Some((op.clone(), child))
}

fn structural(doc: &Node, pattern: &Node, calls: usize) -> Result<bool, PatchError> {
    Ok(match (&pattern.value, &doc.value) {
        (Value::Null, _) => true,
        (Value::Object(want), Value::Object(_)) => try_all(want.iter(), |(k, p)| {
            doc.get_field(k)
                .map_or(Ok(false), |v| match_at(v, p, Some(&k.to_text()), calls))
        })?,
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len()
                && try_all(want.iter().zip(have.iter()), |(p, d)| {
                    match_at(d, p, None, calls)
                })?
        }
        (Value::Object(_) | Value::Array(_), _) => false,
        (p, d) => p == d,
    })
}

fn keyed(doc: &Node, pattern: &Node, field: &str, calls: usize) -> Result<bool, PatchError> {
    let (Some(items), Some(wanted)) = (doc.as_array(), pattern.as_array()) else {
        return Ok(false);
    };
    let key = Key::str(field);
    let key_of = |n: &Node| n.get_field(&key).map(|v| key_text(&v.clone().untagged()));
    try_all(wanted, |w| {
        let Some(k) = key_of(w) else {
            return Ok(false);
        };
        items
            .iter()
            .find(|i| key_of(i).as_deref() == Some(&k))
            .map_or(Ok(false), |i| match_at(i, w, None, calls))
    })
}

/// `!let {let: [{name: value}...], in: pattern}`: matches `pattern` with its `.[name]`
/// references expanded (see `expand.rs`).
fn let_binding(doc: &Node, body: &Node, calls: usize) -> Result<bool, PatchError> {
    let bound = bindings(body.get_field(&Key::str("let")));
    let Some(pattern) = body.get_field(&Key::str("in")) else {
        return Ok(false);
    };
    let pattern = expand(pattern, &bound)?;
    match_at(doc, &pattern, None, calls)
}
