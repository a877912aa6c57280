//! Reading a patch node's tag chain: which op it runs, its arguments, and what follows.

use std::sync::Arc;

use crate::tony::tag::{compose, parse_chain, TagLink};
use crate::tony::Node;

/// Every op name the patcher and matcher recognise.
const PATCH_OPS: &[&str] = &[
    "delete",
    "insert",
    "replace",
    "arraydiff",
    "strdiff",
    "addtag",
    "rmtag",
    "retag",
    "nullify",
    "key",
    "all",
    "embed",
    "field",
    "rename",
    "dive",
    "pipe",
    "if",
    "pass",
    "quote",
    "unquote",
    "json-patch",
];

/// Tags that record style or engine bookkeeping; they never reach a result.
const STYLE_TAGS: &[&str] = &["bracket", "logd-patch-root", "sparsearray"];

/// A patch node split at its first op.
pub(crate) struct Op {
    /// The op's name.
    pub name: String,
    /// The op's arguments.
    pub args: Vec<String>,
    /// The node the op works with: the same value, tagged with the links after the op.
    pub child: Node,
}

/// The name of the first registered op in `node`'s tag chain, as [`find_op`] finds it, without
/// allocating for the usual tags (links without arguments, like `!delete` or `!a.insert`).
pub(crate) fn op_kind(node: &Node) -> Option<&'static str> {
    let tag = node.tag()?;
    let body = tag.strip_prefix('!').unwrap_or(tag);
    if body.contains(['(', ')']) || body.is_empty() {
        let name = find_op(node)?.name;
        return PATCH_OPS.iter().copied().find(|op| *op == name);
    }
    let mut links = body.split('.');
    if links
        .clone()
        .any(|link| link.is_empty() || link.contains(char::is_whitespace))
    {
        return None; // malformed, as `parse_chain` finds it
    }
    links.find_map(|link| PATCH_OPS.iter().copied().find(|op| *op == link))
}

/// The first registered op in `node`'s tag chain, skipping links that are not ops.
pub(crate) fn find_op(node: &Node) -> Option<Op> {
    let links = parse_chain(node.tag()?)?;
    let at = links
        .iter()
        .position(|l| PATCH_OPS.contains(&l.name.as_str()))?;
    let (TagLink { name, args }, rest) = links.get(at..)?.split_first()?;
    let child = Node {
        tag: compose(rest).map(Arc::from),
        value: node.value.clone(),
    };
    Some(Op {
        name: name.clone(),
        args: args.clone(),
        child,
    })
}

/// `node`'s tag without style links (`!bracket`, `!logd-patch-root`, `!sparsearray`).
pub(crate) fn data_tag(node: &Node) -> Option<Arc<str>> {
    let tag = node.tag()?;
    let Some(links) = parse_chain(tag) else {
        return Some(Arc::from(tag));
    };
    if !links.iter().any(|l| STYLE_TAGS.contains(&l.name.as_str())) {
        return node.tag.clone();
    }
    let kept: Vec<TagLink> = links
        .into_iter()
        .filter(|l| !STYLE_TAGS.contains(&l.name.as_str()))
        .collect();
    compose(&kept).map(Arc::from)
}

/// The op's child with the op's tag argument folded into its tag: the value an `!insert(t)`
/// yields, and the value a `!delete(t)` expects.
pub(crate) fn value_with_arg(op: Op) -> Node {
    let mut value = op.child;
    if let Some(tag) = op.args.first() {
        value.tag = Some(add_tag(value.tag.as_deref(), tag));
    }
    value
}

/// Whether a tag makes a node more than plain data when applied as a patch: it holds an op or
/// a style/bookkeeping link.
pub(crate) fn is_active_tag(tag: &str) -> bool {
    let node = Node {
        tag: Some(Arc::from(tag)),
        value: crate::tony::Value::Null,
    };
    find_op(&node).is_some() || data_tag(&node).as_deref() != Some(tag)
}

/// Whether `node` is plain data: no tag anywhere and no merge key (`<<`). Applied as a patch to
/// nothing, plain data yields itself, so it need not be rebuilt. Iterative (any depth).
pub(crate) fn is_plain_data(node: &Node) -> bool {
    use crate::tony::{Key, Value};
    /// Whether a child is untagged; a container child goes on `pending` to be looked into.
    fn plain<'a>(child: &'a Node, pending: &mut Vec<&'a Node>) -> bool {
        if matches!(child.value, Value::Array(_) | Value::Object(_)) {
            pending.push(child);
        }
        child.tag.is_none()
    }
    // Only containers wait here (a record's scalars are checked in place, so a small record
    // needs no allocation beyond the first few slots).
    let mut pending = Vec::with_capacity(8);
    if !plain(node, &mut pending) {
        return false;
    }
    while let Some(node) = pending.pop() {
        match &node.value {
            Value::Array(items) => {
                for item in items.iter() {
                    if !plain(item, &mut pending) {
                        return false;
                    }
                }
            }
            Value::Object(members) => {
                for (key, value) in members.iter() {
                    if *key == Key::Merge || !plain(value, &mut pending) {
                        return false;
                    }
                }
            }
            _ => {}
        }
    }
    true
}

/// Whether the child of a tag op says "value unchanged": an untagged `null`.
pub(crate) fn is_unchanged_marker(child: &Node) -> bool {
    child.is_null() && child.tag.is_none()
}

/// `tag` with a link built from the text `link` (a chain without `!`) appended.
pub(crate) fn add_tag(tag: Option<&str>, link: &str) -> Arc<str> {
    match tag {
        Some(t) => Arc::from(format!("{t}.{link}")),
        None => Arc::from(format!("!{link}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test panics
mod tests {
    use super::*;

    #[test]
    fn op_kind_names_the_op_find_op_finds() {
        for tag in [
            "!delete",
            "!insert",
            "!a.b.replace",
            "!bracket.arraydiff",
            "!key(id)",
            "!not.subtree.field.glob",
            "!all.t",
            "!time:time",
            "!logd-patch-root",
            "!x.delete.insert",
            "!.delete",
            "!delete.",
            "!a..delete",
            "!",
            "!key(id",
            "!dive(a.b).insert",
            "!a b.delete",
            "delete",
        ] {
            let node = Node::null().with_tag(tag);
            let expected = find_op(&node).map(|op| op.name);
            assert_eq!(op_kind(&node).map(str::to_owned), expected, "{tag:?}");
        }
        assert_eq!(op_kind(&Node::null()), None);
    }

    #[test]
    fn plain_data_applied_to_nothing_yields_itself() {
        use crate::tony::parse;
        for text in [
            "{a: null, b: {c: null, d: [1, {e: null}, []]}, f: \"x\", g: 1.5, h: {}}",
            "[1, [2, [3, {x: [null]}]]]",
            "{0: a, 7: {k: v}}",
            "null",
            "\"text\"",
        ] {
            let doc = parse(text).unwrap();
            assert!(is_plain_data(&doc), "{text}");
            let applied = crate::patch::apply_committed(None, &doc).unwrap();
            assert_eq!(applied.as_ref(), Some(&doc), "{text}");
        }
        for text in [
            "{a: !t 1}",
            "!insert {a: 1}",
            "{<<: \"m\"}",
            "[1, !delete null]",
        ] {
            assert!(!is_plain_data(&parse(text).unwrap()), "{text}");
        }
    }
}
