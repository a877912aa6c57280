//! Computing a patch that takes one document to another.

use std::collections::HashMap;
use std::sync::Arc;

use super::seq::{align, join_units, split_units, Step, StrMode};
use crate::kpath::{key_text, keyed_field};
use crate::tony::{Key, Node, Value, MAX_DEPTH};

/// A patch taking `from` to `to`, or `None` when they are equal.
///
/// * different kinds, or scalars with different values: `!replace {from, to}`;
/// * objects: only the changed keys (`!insert`, `!delete`, or a nested diff); key order is not
///   carried (new keys are appended when patching), so `patch(from, diff)` equals `to` up to the
///   order of object keys;
/// * arrays: `!arraydiff` over an alignment of the elements (keyed `!key(f)` lists by key when
///   only their elements changed in place);
/// * strings: `!strdiff` of the changed run when it is small, else `!replace`;
/// * tag-only changes: `!addtag`, `!rmtag`, `!retag`, chained after any content op;
/// * below [`MAX_DEPTH`] levels the diff stops descending and replaces the subtree, so no input
///   makes it recurse without bound.
pub fn diff(from: &Node, to: &Node) -> Option<Node> {
    diff_at(from, to, 0)
}

/// [`diff`] of two values `depth` levels down.
fn diff_at(from: &Node, to: &Node, depth: usize) -> Option<Node> {
    if from == to {
        return None;
    }
    if depth >= MAX_DEPTH {
        return Some(replace(from, to));
    }
    let below = depth.saturating_add(1);
    let tag_op = tag_change(from.tag(), to.tag());
    let content = match (&from.value, &to.value) {
        (Value::Object(a), Value::Object(b)) => match object_diff(a, b, below) {
            Some(content) => content,
            None => return Some(replace(from, to)),
        },
        (Value::Array(a), Value::Array(b)) => array_diff(from, a, to, b, below),
        (Value::String(a), Value::String(b)) if a == b => None,
        (Value::String(a), Value::String(b)) => match string_diff(a, b) {
            Some(d) => Some(d),
            None => return Some(replace(from, to)),
        },
        (a, b) if a == b => None,
        _ => return Some(replace(from, to)),
    };
    match (content, tag_op) {
        (None, None) => None,
        (None, Some(op)) => Some(Node::null().with_tag(&format!("!{op}"))),
        (Some(c), None) => Some(c),
        (Some(c), Some(op)) => {
            let tag = match c.tag() {
                Some(t) => format!("{t}.{op}"),
                None => format!("!{op}"),
            };
            Some(c.with_tag(&tag))
        }
    }
}

/// The tag op (without `!`) taking tag `from` to tag `to`, if they differ.
fn tag_change(from: Option<&str>, to: Option<&str>) -> Option<String> {
    // A tag less its own `!` (exactly one: `!!x` is a tag).
    let bare = |t: &str| t.strip_prefix('!').unwrap_or(t).to_owned();
    match (from, to) {
        (a, b) if a == b => None,
        (Some(a), Some(b)) => Some(format!("retag({},{})", bare(a), bare(b))),
        (None, Some(b)) => Some(format!("addtag({})", bare(b))),
        (Some(a), None) => Some(format!("rmtag({})", bare(a))),
        (None, None) => None,
    }
}

fn replace(from: &Node, to: &Node) -> Node {
    Node::object(vec![
        (Key::str("from"), from.clone()),
        (Key::str("to"), to.clone()),
    ])
    .with_tag("!replace")
}

/// `value` under an `!insert` or `!delete` op: its own tag moves into the op's argument.
fn with_op(op: &str, value: &Node) -> Node {
    match value.tag() {
        Some(t) => value
            .clone()
            .with_tag(&format!("!{op}({})", t.strip_prefix('!').unwrap_or(t))),
        None => value.clone().with_tag(&format!("!{op}")),
    }
}

/// The object diff by key (`Some(None)` when only tags differ), or `None` for objects a key diff
/// cannot describe (merge keys, duplicate keys, sparse against non-sparse): the caller replaces.
/// Key order is not part of a diff: patching keeps existing keys in place and appends new ones.
fn object_diff(a: &[(Key, Node)], b: &[(Key, Node)], depth: usize) -> Option<Option<Node>> {
    let has_merge = |e: &[(Key, Node)]| e.iter().any(|(k, _)| *k == Key::Merge);
    let sparse = |e: &[(Key, Node)]| e.iter().any(|(k, _)| matches!(k, Key::Int(_)));
    if has_merge(a) || has_merge(b) || (!a.is_empty() && !b.is_empty() && sparse(a) != sparse(b)) {
        return None;
    }
    let in_b: HashMap<&Key, usize> = b.iter().enumerate().map(|(i, (k, _))| (k, i)).collect();
    let in_a: HashMap<&Key, usize> = a.iter().enumerate().map(|(i, (k, _))| (k, i)).collect();
    if in_a.len() != a.len() || in_b.len() != b.len() {
        return None; // duplicate keys
    }
    let mut out = Vec::new();
    for (k, va) in a {
        match in_b.get(k).and_then(|&i| b.get(i)) {
            Some((_, vb)) => {
                if let Some(d) = diff_at(va, vb, depth) {
                    out.push((k.clone(), d));
                }
            }
            None => out.push((k.clone(), with_op("delete", va))),
        }
    }
    for (k, vb) in b.iter().filter(|(k, _)| !in_a.contains_key(k)) {
        out.push((k.clone(), with_op("insert", vb)));
    }
    Some((!out.is_empty()).then(|| Node::object(out)))
}

/// Whether two elements align: same kind, and equal values for scalars (tags aside).
fn same_summary(x: &Node, y: &Node) -> bool {
    match (&x.value, &y.value) {
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => true,
        (a, b) => a == b,
    }
}

fn array_diff(from: &Node, a: &[Node], to: &Node, b: &[Node], depth: usize) -> Option<Node> {
    if let Some(keyed) = keyed_diff(from, a, to, b, depth) {
        return keyed;
    }
    enum Slot<'a> {
        Keep,
        Patch(Node),
        Delete(&'a Node),
        Insert(&'a Node),
    }
    let mut slots = align(a, b, same_summary)
        .into_iter()
        .filter_map(|step| {
            Some(match step {
                Step::Keep(i, j) => {
                    diff_at(a.get(i)?, b.get(j)?, depth).map_or(Slot::Keep, Slot::Patch)
                }
                Step::Delete(i) => Slot::Delete(a.get(i)?),
                Step::Insert(j) => Slot::Insert(b.get(j)?),
            })
        })
        .peekable();
    // Within a gap (deletes, then inserts), pair them off into replaces: one slot each.
    let mut ops = Vec::new();
    while let Some(first) = slots.next() {
        let (mut deletes, mut inserts) = match first {
            Slot::Keep => {
                ops.push(None);
                continue;
            }
            Slot::Patch(d) => {
                ops.push(Some(d));
                continue;
            }
            Slot::Delete(x) => (vec![x], Vec::new()),
            Slot::Insert(y) => (Vec::new(), vec![y]),
        };
        if inserts.is_empty() {
            while let Some(Slot::Delete(x)) = slots.next_if(|s| matches!(s, Slot::Delete(_))) {
                deletes.push(x);
            }
        }
        while let Some(Slot::Insert(y)) = slots.next_if(|s| matches!(s, Slot::Insert(_))) {
            inserts.push(y);
        }
        let paired = deletes.len().min(inserts.len());
        ops.extend(
            deletes
                .iter()
                .zip(&inserts)
                .map(|(x, y)| Some(replace(x, y))),
        );
        ops.extend(
            deletes
                .iter()
                .skip(paired)
                .map(|x| Some(with_op("delete", x))),
        );
        ops.extend(
            inserts
                .iter()
                .skip(paired)
                .map(|y| Some(with_op("insert", y))),
        );
    }
    // Slots are `u32` keys; an alignment longer than that cannot be a slot map: replace.
    let entries = ops
        .into_iter()
        .enumerate()
        .filter_map(|(slot, op)| Some((slot, op?)))
        .map(|(slot, op)| u32::try_from(slot).ok().map(|slot| (Key::Int(slot), op)))
        .collect::<Option<Vec<_>>>()
        .unwrap_or_else(|| vec![(Key::Int(0), replace(from, to))]);
    (!entries.is_empty()).then(|| Node::object(entries).with_tag("!arraydiff"))
}

/// The diff of two `!key(f)` lists by key, when it can express the change: both keyed by the same
/// field, every element an object with a unique key, and `b` is `a` with elements changed in
/// place, some deleted, and new ones appended in key order (which is what patching produces).
/// `Some(None)` means equal contents.
fn keyed_diff(
    from: &Node,
    a: &[Node],
    to: &Node,
    b: &[Node],
    depth: usize,
) -> Option<Option<Node>> {
    let field = keyed_field(from)?;
    if from.tag() != to.tag() {
        return None;
    }
    let key = Key::str(&field);
    let keys = |items: &[Node]| -> Option<Vec<String>> {
        items
            .iter()
            .map(|n| {
                n.as_object()
                    .and(n.get_field(&key))
                    .map(|v| key_text(&v.clone().untagged()))
            })
            .collect()
    };
    let (ka, kb) = (keys(a)?, keys(b)?);
    let index_b: HashMap<&str, usize> = kb
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let index_a: HashMap<&str, usize> = ka
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    if index_a.len() != ka.len() || index_b.len() != kb.len() {
        return None;
    }
    let kept: Vec<usize> = ka
        .iter()
        .filter_map(|k| index_b.get(k.as_str()).copied())
        .collect();
    let appended = kb.get(kept.len()..)?;
    if kept.iter().enumerate().any(|(pos, &i)| pos != i)
        || appended.windows(2).any(|w| w.first() > w.get(1))
    {
        return None;
    }
    let mut items = Vec::new();
    for (item_a, k) in a.iter().zip(&ka) {
        match index_b.get(k.as_str()).and_then(|&ib| b.get(ib)) {
            None => items.push(with_op("delete", item_a)),
            Some(item_b) => {
                let Some(d) = diff_at(item_a, item_b, depth) else {
                    continue;
                };
                let (Value::Object(entries), None) = (&d.value, d.tag()) else {
                    return None;
                };
                let key_value = item_b.get_field(&key)?.clone();
                let mut entries = entries.to_vec();
                match entries.iter_mut().find(|(k, _)| *k == key) {
                    // The key's own tag changed: keep the op, with the key's value as its child.
                    Some((_, v)) => v.value = key_value.value,
                    None => entries.insert(0, (key.clone(), key_value)),
                }
                items.push(Node::object(entries));
            }
        }
    }
    items.extend(b.iter().skip(kept.len()).map(|n| with_op("insert", n)));
    let tag = from.tag()?.to_owned();
    Some((!items.is_empty()).then(|| Node::new(Value::Array(Arc::new(items))).with_tag(&tag)))
}

/// A `!strdiff` of the one changed run between `a` and `b`, or `None` when the change is too
/// large to be worth it (more than half the shorter string).
fn string_diff(a: &str, b: &str) -> Option<Node> {
    let mode = if a.contains('\n') && b.contains('\n') {
        StrMode::Lines
    } else {
        StrMode::Runes
    };
    let (ua, ub) = (split_units(a, mode), split_units(b, mode));
    let prefix = ua.iter().zip(&ub).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (ua.get(prefix..)?, ub.get(prefix..)?);
    let suffix = ra
        .iter()
        .rev()
        .zip(rb.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (
        ra.get(..ra.len().saturating_sub(suffix))?,
        rb.get(..rb.len().saturating_sub(suffix))?,
    );
    let changed = join_units(ma, mode)
        .chars()
        .count()
        .max(join_units(mb, mode).chars().count());
    if changed.saturating_mul(2) > a.chars().count().min(b.chars().count()) {
        return None;
    }
    let (ta, tb) = (
        Node::string(&join_units(ma, mode)),
        Node::string(&join_units(mb, mode)),
    );
    let op = match (ma.is_empty(), mb.is_empty()) {
        (true, _) => with_op("insert", &tb),
        (_, true) => with_op("delete", &ta),
        _ => replace(&ta, &tb),
    };
    let tag = if mode == StrMode::Lines {
        "!strdiff(true)"
    } else {
        "!strdiff(false)"
    };
    let slot = u32::try_from(prefix).ok()?;
    Some(Node::object(vec![(Key::Int(slot), op)]).with_tag(tag))
}
