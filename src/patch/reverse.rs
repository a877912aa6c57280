//! Inverting a diff: `patch(to, reverse(diff(from, to))) == from`.

use std::sync::Arc;

use super::apply::replace_sides;
use crate::tony::tag::{compose, parse_chain, TagLink};
use crate::tony::{Key, Node, Value};

/// The inverse of a diff produced by [`super::diff`]: inserts and deletes swap, `!replace` and
/// `!retag` swap their sides, `!addtag` and `!rmtag` swap, and nested diffs are reversed.
/// Plain values inside a diff (such as the key field of a keyed-list item) stay as they are.
pub fn reverse(diff: &Node) -> Node {
    let links = diff.tag().and_then(parse_chain);
    let Some(links) = links.filter(|l| !l.is_empty()) else {
        return reverse_structural(diff);
    };
    let reversed_links: Vec<TagLink> = links.iter().map(reverse_link).collect();
    let tag = compose(&reversed_links).map(Arc::from);
    let value = match links[0].name.as_str() {
        "replace" => match replace_sides(diff) {
            Some((from, to)) => Value::Object(Arc::new(vec![
                (Key::str("from"), to.clone()),
                (Key::str("to"), from.clone()),
            ])),
            None => diff.value.clone(),
        },
        "arraydiff" | "strdiff" | "key" => reverse_children(&diff.value),
        "addtag" | "rmtag" | "retag" if !diff.is_null() => {
            reverse(&Node::new(diff.value.clone())).value
        }
        _ => diff.value.clone(),
    };
    Node { tag, value }
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
fn reverse_structural(diff: &Node) -> Node {
    match &diff.value {
        Value::Object(_) => Node {
            tag: diff.tag.clone(),
            value: reverse_children(&diff.value),
        },
        _ => diff.clone(),
    }
}

fn reverse_children(value: &Value) -> Value {
    match value {
        Value::Object(entries) => Value::Object(Arc::new(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), reverse(v)))
                .collect(),
        )),
        Value::Array(items) => Value::Array(Arc::new(items.iter().map(reverse).collect())),
        other => other.clone(),
    }
}
