//! Inverting a diff: `patch(to, reverse(diff(from, to))) == from`.

use std::sync::Arc;

use super::apply::replace_sides;
use super::{PatchError, MAX_CALLS};
use crate::tony::tag::{compose, parse_chain, TagLink};
use crate::tony::{Key, Node, Value, MAX_DEPTH};

/// The inverse of a diff produced by [`super::diff`]: inserts and deletes swap, `!replace` and
/// `!retag` swap their sides, `!addtag` and `!rmtag` swap, and nested diffs are reversed.
/// Plain values inside a diff (such as the key field of a keyed-list item) stay as they are.
///
/// # Errors
/// [`PatchError::TooDeep`] when the diff nests past the recursion bound.
pub fn reverse(diff: &Node) -> Result<Node, PatchError> {
    reverse_at(diff, 0)
}

/// [`reverse`] of a diff `depth` levels down.
fn reverse_at(diff: &Node, depth: usize) -> Result<Node, PatchError> {
    if depth >= MAX_CALLS {
        return Err(PatchError::TooDeep {
            path: String::new(),
            limit: MAX_DEPTH,
        });
    }
    let below = depth.saturating_add(1);
    let links = diff.tag().and_then(parse_chain).unwrap_or_default();
    let Some(first) = links.first() else {
        return reverse_structural(diff, below);
    };
    let reversed_links: Vec<TagLink> = links.iter().map(reverse_link).collect();
    let tag = compose(&reversed_links).map(Arc::from);
    let value = match first.name.as_str() {
        "replace" => match replace_sides(diff) {
            Some((from, to)) => Value::Object(Arc::new(
                vec![
                    (Key::str("from"), to.clone()),
                    (Key::str("to"), from.clone()),
                ]
                .into(),
            )),
            None => diff.value.clone(),
        },
        "arraydiff" | "strdiff" | "key" => reverse_children(&diff.value, below)?,
        "addtag" | "rmtag" | "retag" if !diff.is_null() => {
            reverse_at(&Node::new(diff.value.clone()), below)?.value
        }
        _ => diff.value.clone(),
    };
    Ok(Node { tag, value })
}

fn reverse_link(link: &TagLink) -> TagLink {
    let renamed = |name: &str| TagLink {
        name: name.to_owned(),
        args: link.args.clone(),
    };
    match link.name.as_str() {
        "insert" => renamed("delete"),
        "delete" => renamed("insert"),
        "addtag" => renamed("rmtag"),
        "rmtag" => renamed("addtag"),
        "retag" => TagLink {
            name: "retag".into(),
            args: link.args.iter().rev().cloned().collect(),
        },
        _ => link.clone(),
    }
}

/// Reverses an untagged object diff (each changed key) and leaves other plain values alone.
fn reverse_structural(diff: &Node, depth: usize) -> Result<Node, PatchError> {
    Ok(match &diff.value {
        Value::Object(_) => Node {
            tag: diff.tag.clone(),
            value: reverse_children(&diff.value, depth)?,
        },
        _ => diff.clone(),
    })
}

fn reverse_children(value: &Value, depth: usize) -> Result<Value, PatchError> {
    Ok(match value {
        Value::Object(entries) => Value::Object(Arc::new(
            entries
                .iter()
                .map(|(k, v)| Ok((k.clone(), reverse_at(v, depth)?)))
                .collect::<Result<_, PatchError>>()?,
        )),
        Value::Array(items) => Value::Array(Arc::new(
            items
                .iter()
                .map(|i| reverse_at(i, depth))
                .collect::<Result<_, _>>()?,
        )),
        other => other.clone(),
    })
}
