//! Computing a patch that takes one document to another.

use std::collections::HashMap;
use std::sync::Arc;

use super::seq::{align, join_units, split_units, Step, StrMode};
use crate::kpath::{key_text, keyed_field};
use crate::tony::{Key, Node, Value};

/// A patch taking `from` to `to`, or `None` when they are equal.
///
/// * different kinds, or scalars with different values: `!replace {from, to}`;
/// * objects: only the changed keys (`!insert`, `!delete`, or a nested diff); key order is not
///   carried (new keys are appended when patching), so `patch(from, diff)` equals `to` up to the
///   order of object keys;
/// * arrays: `!arraydiff` over an alignment of the elements (keyed `!key(f)` lists by key when
///   only their elements changed in place);
/// * strings: `!strdiff` of the changed run when it is small, else `!replace`;
/// * tag-only changes: `!addtag`, `!rmtag`, `!retag`, chained after any content op.
pub fn diff(from: &Node, to: &Node) -> Option<Node> {
    if from == to {
        return None;
    }
    let tag_op = tag_change(from.tag(), to.tag());
    let content = match (&from.value, &to.value) {
        (Value::Object(a), Value::Object(b)) => match object_diff(a, b) {
            Some(content) => content,
            None => return Some(replace(from, to)),
        },
        (Value::Array(a), Value::Array(b)) => array_diff(from, a, to, b),
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
    let bare = |t: &str| t.trim_start_matches('!').to_owned();
    match (from, to) {
        (a, b) if a == b => None,
        (Some(a), Some(b)) => Some(format!("retag({},{})", bare(a), bare(b))),
        (None, Some(b)) => Some(format!("addtag({})", bare(b))),
        (Some(a), None) => Some(format!("rmtag({})", bare(a))),
        (None, None) => unreachable!(),
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
            .with_tag(&format!("!{op}({})", t.trim_start_matches('!'))),
        None => value.clone().with_tag(&format!("!{op}")),
    }
}

/// The object diff by key (`Some(None)` when only tags differ), or `None` for objects a key diff
/// cannot describe (merge keys, duplicate keys, sparse against non-sparse): the caller replaces.
/// Key order is not part of a diff: patching keeps existing keys in place and appends new ones.
fn object_diff(a: &[(Key, Node)], b: &[(Key, Node)]) -> Option<Option<Node>> {
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
        match in_b.get(k) {
            Some(&i) => {
                if let Some(d) = diff(va, &b[i].1) {
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

fn array_diff(from: &Node, a: &[Node], to: &Node, b: &[Node]) -> Option<Node> {
    if let Some(keyed) = keyed_diff(from, a, to, b) {
        return keyed;
    }
    enum Slot<'a> {
        Keep,
        Patch(Node),
        Delete(&'a Node),
        Insert(&'a Node),
    }
    let mut slots: Vec<Slot> = Vec::new();
    for step in align(a, b, same_summary) {
        match step {
            Step::Keep(i, j) => slots.push(diff(&a[i], &b[j]).map_or(Slot::Keep, Slot::Patch)),
            Step::Delete(i) => slots.push(Slot::Delete(&a[i])),
            Step::Insert(j) => slots.push(Slot::Insert(&b[j])),
        }
    }
    // Within a gap (deletes, then inserts), pair them off into replaces: one slot each.
    let mut entries = Vec::new();
    let mut slot = 0u32;
    let mut i = 0;
    let mut emit = |node: Option<Node>, slot: &mut u32| {
        if let Some(node) = node {
            entries.push((Key::Int(*slot), node));
        }
        *slot += 1;
    };
    while i < slots.len() {
        match &slots[i] {
            Slot::Keep => emit(None, &mut slot),
            Slot::Patch(d) => emit(Some(d.clone()), &mut slot),
            Slot::Delete(_) | Slot::Insert(_) => {
                let deletes: Vec<&Node> = slots[i..]
                    .iter()
                    .map_while(|s| {
                        if let Slot::Delete(x) = s {
                            Some(*x)
                        } else {
                            None
                        }
                    })
                    .collect();
                let inserts: Vec<&Node> = slots[i + deletes.len()..]
                    .iter()
                    .map_while(|s| {
                        if let Slot::Insert(y) = s {
                            Some(*y)
                        } else {
                            None
                        }
                    })
                    .collect();
                i += deletes.len() + inserts.len();
                let paired = deletes.len().min(inserts.len());
                for (x, y) in deletes.iter().zip(&inserts) {
                    emit(Some(replace(x, y)), &mut slot);
                }
                for x in &deletes[paired..] {
                    emit(Some(with_op("delete", x)), &mut slot);
                }
                for y in &inserts[paired..] {
                    emit(Some(with_op("insert", y)), &mut slot);
                }
                continue;
            }
        }
        i += 1;
    }
    (!entries.is_empty()).then(|| Node::object(entries).with_tag("!arraydiff"))
}

/// The diff of two `!key(f)` lists by key, when it can express the change: both keyed by the same
/// field, every element an object with a unique key, and `b` is `a` with elements changed in
/// place, some deleted, and new ones appended in key order (which is what patching produces).
/// `Some(None)` means equal contents.
fn keyed_diff(from: &Node, a: &[Node], to: &Node, b: &[Node]) -> Option<Option<Node>> {
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
    let appended = &kb[kept.len()..];
    if kept.iter().enumerate().any(|(pos, &i)| pos != i) || appended.windows(2).any(|w| w[0] > w[1])
    {
        return None;
    }
    let mut items = Vec::new();
    for (ia, k) in ka.iter().enumerate() {
        match index_b.get(k.as_str()) {
            None => items.push(with_op("delete", &a[ia])),
            Some(&ib) => {
                let Some(d) = diff(&a[ia], &b[ib]) else {
                    continue;
                };
                let (Value::Object(entries), None) = (&d.value, d.tag()) else {
                    return None;
                };
                let key_value = b[ib].get_field(&key).expect("checked").clone();
                let mut entries = (**entries).clone();
                match entries.iter_mut().find(|(k, _)| *k == key) {
                    // The key's own tag changed: keep the op, with the key's value as its child.
                    Some((_, v)) => v.value = key_value.value,
                    None => entries.insert(0, (key.clone(), key_value)),
                }
                items.push(Node::object(entries));
            }
        }
    }
    items.extend(b[kept.len()..].iter().map(|n| with_op("insert", n)));
    let tag = from.tag().expect("keyed lists are tagged").to_owned();
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
    let suffix = ua[prefix..]
        .iter()
        .rev()
        .zip(ub[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (
        &ua[prefix..ua.len() - suffix],
        &ub[prefix..ub.len() - suffix],
    );
    let changed = join_units(ma, mode)
        .chars()
        .count()
        .max(join_units(mb, mode).chars().count());
    if changed * 2 > a.chars().count().min(b.chars().count()) {
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
    Some(Node::object(vec![(Key::Int(prefix as u32), op)]).with_tag(tag))
}
