//! Applying a patch to a document.
//!
//! Semantics (see `docs/ARCHITECTURE.md`, "Patch semantics"):
//! * an untagged object patch merges: each key is patched into the document's value for it
//!   (absent keys are kept, `null` sets null, `!delete` removes); the document's key order is
//!   kept and new keys are appended in patch order;
//! * an untagged array patch is applied position by position and has the patch's length;
//! * any other untagged value replaces the document;
//! * a tagged patch runs the first op in its tag chain; links that are not ops are data.

use std::sync::Arc;

use super::matching::matches_in_field;
use super::ops::{add_tag, data_tag, find_op, is_unchanged_marker, value_with_arg, Op};
use super::seq::{join_units, split_units, StrMode};
use super::PatchError;
use crate::kpath::{key_text, KPath, Segment};
use crate::tony::tag::{parse_chain, remove_link};
use crate::tony::{encode_wire, Key, Node, Value};

/// Applies `patch` to `doc` and returns the result; `doc` is never modified. A patch that
/// deletes the whole document yields `null`.
pub fn patch(doc: &Node, patch: &Node) -> Result<Node, PatchError> {
    patch_with(doc, patch, PatchOptions::default())
}

/// Settings of [`patch_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct PatchOptions {
    /// Let `!pipe` run its shell command (native only). Off by default, and never on for
    /// stored patches: a patch from data must not run programs.
    pub allow_pipe: bool,
}

/// [`patch`] with settings.
pub fn patch_with(doc: &Node, patch: &Node, options: PatchOptions) -> Result<Node, PatchError> {
    let mut ctx = Ctx {
        path: Vec::new(),
        options,
    };
    Ok(apply(Some(doc), patch, &mut ctx)?.unwrap_or_else(Node::null))
}

/// Where the patcher is (for messages) and how it is set up.
pub(crate) struct Ctx {
    path: Vec<Segment>,
    options: PatchOptions,
}

impl Ctx {
    /// A context at the root with default settings.
    pub(crate) fn new() -> Self {
        Ctx {
            path: Vec::new(),
            options: PatchOptions::default(),
        }
    }
}

impl std::ops::Deref for Ctx {
    type Target = Vec<Segment>;
    fn deref(&self) -> &Vec<Segment> {
        &self.path
    }
}

impl std::ops::DerefMut for Ctx {
    fn deref_mut(&mut self) -> &mut Vec<Segment> {
        &mut self.path
    }
}

fn here(path: &[Segment]) -> String {
    KPath::from_segments(path.to_vec()).to_string()
}

fn wire_or_absent(node: Option<&Node>) -> String {
    node.map_or_else(|| "nothing".to_owned(), encode_wire)
}

fn malformed(path: &[Segment], op: &str, reason: impl Into<String>) -> PatchError {
    PatchError::Malformed {
        path: here(path),
        op: format!("!{op}"),
        reason: reason.into(),
    }
}

fn wrong_kind(path: &[Segment], op: &str, needs: &'static str, found: Option<&Node>) -> PatchError {
    PatchError::WrongKind {
        path: here(path),
        op: format!("!{op}"),
        needs,
        found: found.map_or("nothing", Node::kind_name),
    }
}

fn check_failed(path: &[Segment], op: &str, expected: &Node, found: Option<&Node>) -> PatchError {
    PatchError::CheckFailed {
        path: here(path),
        op: format!("!{op}"),
        expected: encode_wire(expected),
        found: wire_or_absent(found),
    }
}

/// Applies `patch` to `doc` (`None`: absent); `None` in the result means "deleted".
pub(crate) fn apply(
    doc: Option<&Node>,
    patch: &Node,
    path: &mut Ctx,
) -> Result<Option<Node>, PatchError> {
    if let Some(op) = find_op(patch) {
        return apply_op(doc, op, path);
    }
    Ok(Some(match &patch.value {
        Value::Object(entries) => merge_object(doc, entries, data_tag(patch), path)?,
        Value::Array(items) => merge_array(doc, items, data_tag(patch), path)?,
        _ => Node {
            tag: data_tag(patch),
            value: patch.value.clone(),
        },
    }))
}

fn merge_object(
    doc: Option<&Node>,
    entries: &[(Key, Node)],
    patch_tag: Option<Arc<str>>,
    path: &mut Ctx,
) -> Result<Node, PatchError> {
    let (mut result, doc_tag) = match doc {
        Some(Node {
            value: Value::Object(existing),
            tag,
        }) => ((**existing).clone(), tag.clone()),
        _ => (Vec::new(), None),
    };
    for (key, value) in entries {
        if *key == Key::Merge {
            result.push((Key::Merge, value.clone()));
            continue;
        }
        let at = result.iter().position(|(k, _)| k == key);
        path.push(Segment::of_any_key(key));
        let patched = apply(at.map(|i| &result[i].1), value, path)?;
        path.pop();
        match (at, patched) {
            (Some(i), Some(v)) => result[i].1 = v,
            (Some(i), None) => {
                result.remove(i);
            }
            (None, Some(v)) => result.push((key.clone(), v)),
            (None, None) => {}
        }
    }
    let has_int = result.iter().any(|(k, _)| matches!(k, Key::Int(_)));
    if has_int && result.iter().any(|(k, _)| matches!(k, Key::Str(_))) {
        return Err(malformed(
            path,
            "merge",
            "the result would mix integer keys (sparse array) and string keys",
        ));
    }
    Ok(Node {
        tag: patch_tag.or(doc_tag),
        value: Value::Object(Arc::new(result)),
    })
}

fn merge_array(
    doc: Option<&Node>,
    items: &[Node],
    patch_tag: Option<Arc<str>>,
    path: &mut Ctx,
) -> Result<Node, PatchError> {
    let (existing, doc_tag): (&[Node], _) = match doc {
        Some(Node {
            value: Value::Array(existing),
            tag,
        }) => (existing, tag.clone()),
        _ => (&[], None),
    };
    let mut result = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        path.push(Segment::Index(i as u64));
        if let Some(v) = apply(existing.get(i), item, path)? {
            result.push(v);
        }
        path.pop();
    }
    Ok(Node {
        tag: patch_tag.or(doc_tag),
        value: Value::Array(Arc::new(result)),
    })
}

/// The document a tag op changes the tag of: the document itself, or the document patched by
/// the op's child when the child is more than the "unchanged" marker.
fn tag_op_base(doc: Option<&Node>, child: &Node, path: &mut Ctx) -> Result<Node, PatchError> {
    if is_unchanged_marker(child) {
        Ok(doc.cloned().unwrap_or_else(Node::null))
    } else {
        Ok(apply(doc, child, path)?.unwrap_or_else(Node::null))
    }
}

/// Applies the tag ops left in `rest` (the links after a content op) to `result`.
fn finish_chain(result: Node, rest: &Node, path: &mut Ctx) -> Result<Option<Node>, PatchError> {
    if rest.tag.is_none() {
        return Ok(Some(result));
    }
    match find_op(&Node {
        tag: rest.tag.clone(),
        value: Value::Null,
    }) {
        Some(op) => apply_op(Some(&result), op, path),
        None => Ok(Some(result)),
    }
}

fn one_arg<'a>(op: &'a Op, path: &[Segment]) -> Result<&'a str, PatchError> {
    match op.args.as_slice() {
        [a] => Ok(a),
        _ => Err(malformed(path, &op.name, "takes exactly one argument")),
    }
}

fn apply_op(doc: Option<&Node>, op: Op, path: &mut Ctx) -> Result<Option<Node>, PatchError> {
    let name = op.name.as_str();
    match name {
        "delete" => {
            if let Some(tag) = op.args.first() {
                let found = doc.and_then(Node::tag);
                if found != Some(format!("!{tag}").as_str()) {
                    return Err(PatchError::CheckFailed {
                        path: here(path),
                        op: "!delete".into(),
                        expected: format!("tag !{tag}"),
                        found: found.map_or_else(|| "no tag".to_owned(), |t| format!("tag {t}")),
                    });
                }
            }
            Ok(None)
        }
        "insert" => Ok(Some(value_with_arg(op))),
        "nullify" => Ok(Some(Node::null())),
        "replace" => {
            let (from, to) = replace_sides(&op.child).ok_or_else(|| malformed(path, name, "needs {from: ..., to: ...}"))?;
            let current = doc.cloned().unwrap_or_else(Node::null);
            if current != *from {
                return Err(check_failed(path, name, from, doc));
            }
            Ok(Some(to.clone()))
        }
        "addtag" => {
            let link = one_arg(&op, path)?.to_owned();
            let mut base = tag_op_base(doc, &op.child, path)?;
            base.tag = Some(add_tag(base.tag.as_deref(), &link));
            Ok(Some(base))
        }
        "rmtag" => {
            // Removes the tag (or the links of the chain) named; an absent tag is left as is.
            let chain = format!("!{}", one_arg(&op, path)?);
            let mut base = tag_op_base(doc, &op.child, path)?;
            base.tag = match base.tag() {
                Some(t) if t == chain => None,
                Some(t) => parse_chain(&chain)
                    .unwrap_or_default()
                    .iter()
                    .try_fold(t.to_owned(), |tag, link| remove_link(&tag, &link.name))
                    .map(Arc::from),
                None => None,
            };
            Ok(Some(base))
        }
        "retag" => {
            let [from, to] = op.args.as_slice() else { return Err(malformed(path, name, "takes (old,new)")) };
            let (from, to) = (from.clone(), to.clone());
            let mut base = tag_op_base(doc, &op.child, path)?;
            if base.tag() != Some(format!("!{from}").as_str()) {
                return Err(PatchError::CheckFailed {
                    path: here(path),
                    op: "!retag".into(),
                    expected: format!("tag !{from}"),
                    found: base.tag().map_or_else(|| "no tag".to_owned(), |t| format!("tag {t}")),
                });
            }
            base.tag = Some(Arc::from(format!("!{to}")));
            Ok(Some(base))
        }
        "arraydiff" => {
            let result = array_diff(doc, &op.child, path)?;
            finish_chain(result, &op.child, path)
        }
        "strdiff" => {
            let mode = match op.args.first().map(String::as_str) {
                Some("true") => StrMode::Lines,
                Some("false") | None => StrMode::Runes,
                Some(other) => return Err(malformed(path, name, format!("argument must be true or false, not {other}"))),
            };
            let result = str_diff(doc, &op.child, mode, path)?;
            finish_chain(result, &op.child, path)
        }
        "key" => {
            let field = one_arg(&op, path)?.to_owned();
            keyed_patch(doc, &op.child, &field, path).map(Some)
        }
        "all" => all_patch(doc, &op.child, path).map(Some),
        "embed" => {
            let placeholder = one_arg(&op, path)?.to_owned();
            let value = doc.cloned().unwrap_or_else(Node::null);
            Ok(Some(embed(&op.child.untagged(), &placeholder, &value)))
        }
        "field" | "rename" => {
            let [from, to] = op.args.as_slice() else { return Err(malformed(path, name, "takes (old,new)")) };
            let (from, to) = (from.clone(), to.clone());
            let base = tag_op_base(doc, &op.child, path)?;
            Ok(Some(rename_field(base, &from, &to)))
        }
        "dive" => dive(doc, &op.child, path).map(Some),
        "pipe" if path.options.allow_pipe => pipe(doc, &op.child, path).map(Some),
        "pipe" => Err(PatchError::Unsupported {
            path: here(path),
            op: "!pipe".into(),
            reason: "it runs a shell command; only patch_with(.., PatchOptions { allow_pipe: true }) runs it, never a stored patch",
        }),
        _ => unreachable!("find_op returns registered ops only"),
    }
}

/// The `from` and `to` of a `!replace` body.
pub(crate) fn replace_sides(body: &Node) -> Option<(&Node, &Node)> {
    Some((
        body.get_field(&Key::str("from"))?,
        body.get_field(&Key::str("to"))?,
    ))
}

/// The slot → op entries of an `!arraydiff`/`!strdiff` body, sorted by slot.
fn slots<'a>(
    body: &'a Node,
    op: &str,
    path: &[Segment],
) -> Result<Vec<(u32, &'a Node)>, PatchError> {
    let entries = match &body.value {
        Value::Object(entries) => entries,
        Value::Null => return Ok(Vec::new()),
        _ => return Err(malformed(path, op, "needs an object of slot: op")),
    };
    let mut slots = entries
        .iter()
        .map(|(k, v)| match k {
            Key::Int(i) => Ok((*i, v)),
            Key::Str(s) => s
                .parse()
                .map(|i| (i, v))
                .map_err(|_| malformed(path, op, format!("slot {s:?} is not a number"))),
            Key::Merge => Err(malformed(path, op, "merge key in a slot map")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    slots.sort_by_key(|(slot, _)| *slot);
    Ok(slots)
}

/// What one slot op of an `!arraydiff` does.
enum SlotOp<'a> {
    Insert(Node),
    Delete(&'a Node),
    Replace(&'a Node, &'a Node),
    Patch(&'a Node),
}

fn slot_op<'a>(patch: &'a Node, path: &[Segment], op_name: &str) -> Result<SlotOp<'a>, PatchError> {
    Ok(match find_op(patch) {
        Some(op) if op.name == "insert" => SlotOp::Insert(value_with_arg(op)),
        Some(op) if op.name == "delete" => SlotOp::Delete(patch),
        Some(op) if op.name == "replace" => {
            let (from, to) = replace_sides(patch)
                .ok_or_else(|| malformed(path, op_name, "!replace needs {from, to}"))?;
            SlotOp::Replace(from, to)
        }
        _ => SlotOp::Patch(patch),
    })
}

/// The value a `!delete` slot expects: the body with the op and its tag argument folded back.
fn deleted_value(patch: &Node) -> Node {
    value_with_arg(find_op(patch).expect("a delete op"))
}

fn array_diff(doc: Option<&Node>, body: &Node, path: &mut Ctx) -> Result<Node, PatchError> {
    let (items, tag): (&[Node], _) = match doc {
        Some(Node {
            value: Value::Array(items),
            tag,
        }) => (items, tag.clone()),
        None
        | Some(Node {
            value: Value::Null, ..
        }) => (&[], None),
        other => return Err(wrong_kind(path, "arraydiff", "an array", other)),
    };
    let mut out = Vec::with_capacity(items.len());
    let mut cursor = 0usize;
    let mut slot = 0u32;
    for (target, op) in slots(body, "arraydiff", path)? {
        // Unmentioned slots before `target` each copy one element.
        let copy = (target - slot) as usize;
        if cursor + copy > items.len() {
            return Err(malformed(
                path,
                "arraydiff",
                format!("slot {target} is past the end ({} elements)", items.len()),
            ));
        }
        out.extend_from_slice(&items[cursor..cursor + copy]);
        cursor += copy;
        slot = target + 1;
        path.push(Segment::Index(cursor as u64));
        let current = items.get(cursor);
        match slot_op(op, path, "arraydiff")? {
            SlotOp::Insert(value) => out.push(value),
            SlotOp::Delete(patch) => {
                let expected = deleted_value(patch);
                if current != Some(&expected) {
                    return Err(check_failed(path, "delete", &expected, current));
                }
                cursor += 1;
            }
            SlotOp::Replace(from, to) => {
                if current != Some(from) {
                    return Err(check_failed(path, "replace", from, current));
                }
                out.push(to.clone());
                cursor += 1;
            }
            SlotOp::Patch(patch) => {
                let Some(current) = current else {
                    return Err(malformed(
                        path,
                        "arraydiff",
                        format!(
                            "slot {target} patches past the end ({} elements)",
                            items.len()
                        ),
                    ));
                };
                if let Some(v) = apply(Some(current), patch, path)? {
                    out.push(v);
                }
                cursor += 1;
            }
        }
        path.pop();
    }
    out.extend_from_slice(&items[cursor.min(items.len())..]);
    Ok(Node {
        tag,
        value: Value::Array(Arc::new(out)),
    })
}

fn str_diff(
    doc: Option<&Node>,
    body: &Node,
    mode: StrMode,
    path: &mut Ctx,
) -> Result<Node, PatchError> {
    let op_name = "strdiff";
    let (text, tag) = match doc {
        Some(Node {
            value: Value::String(s),
            tag,
        }) => (s.as_ref(), tag.clone()),
        other => return Err(wrong_kind(path, op_name, "a string", other)),
    };
    let units = split_units(text, mode);
    let text_of = |n: &Node| {
        n.as_str()
            .map(str::to_owned)
            .ok_or_else(|| malformed(path, op_name, "slot values must be strings"))
    };
    let mut out: Vec<String> = Vec::with_capacity(units.len());
    let mut cursor = 0usize;
    let mut slot = 0u32;
    for (target, op) in slots(body, op_name, path)? {
        let copy = (target - slot) as usize;
        if cursor + copy > units.len() {
            return Err(malformed(
                path,
                op_name,
                format!("slot {target} is past the end of the string"),
            ));
        }
        out.extend(units[cursor..cursor + copy].iter().map(|u| u.to_string()));
        cursor += copy;
        slot = target + 1;
        let consume = |expected: &str, cursor: &mut usize| -> Result<(), PatchError> {
            let want = split_units(expected, mode);
            let end = *cursor + want.len();
            if end > units.len() || units[*cursor..end] != want[..] {
                let found = join_units(&units[*cursor..end.min(units.len())], mode);
                return Err(check_failed(
                    path,
                    op_name,
                    &Node::string(expected),
                    Some(&Node::string(&found)),
                ));
            }
            *cursor = end;
            Ok(())
        };
        match slot_op(op, path, op_name)? {
            SlotOp::Insert(value) => out.push(text_of(&value)?),
            SlotOp::Delete(patch) => consume(&text_of(&deleted_value(patch))?, &mut cursor)?,
            SlotOp::Replace(from, to) => {
                consume(&text_of(from)?, &mut cursor)?;
                out.push(text_of(to)?);
            }
            SlotOp::Patch(_) => {
                return Err(malformed(
                    path,
                    op_name,
                    "slots hold !insert, !delete or !replace",
                ))
            }
        }
    }
    out.extend(
        units[cursor.min(units.len())..]
            .iter()
            .map(|u| u.to_string()),
    );
    let joined = match mode {
        StrMode::Runes => out.concat(),
        StrMode::Lines => out.join("\n"),
    };
    Ok(Node {
        tag,
        value: Value::String(Arc::from(joined)),
    })
}

fn keyed_patch(
    doc: Option<&Node>,
    body: &Node,
    field: &str,
    path: &mut Ctx,
) -> Result<Node, PatchError> {
    let Value::Array(patch_items) = &body.value else {
        return Err(malformed(path, "key", "needs an array"));
    };
    let (mut items, tag) = match doc {
        Some(Node {
            value: Value::Array(items),
            tag,
        }) => ((**items).clone(), tag.clone()),
        None
        | Some(Node {
            value: Value::Null, ..
        }) => (Vec::new(), Some(Arc::from(format!("!key({field})")))),
        other => return Err(wrong_kind(path, "key", "an array", other)),
    };
    let key_field = Key::str(field);
    let key_of = |n: &Node| {
        n.get_field(&key_field)
            .map(|v| key_text(&v.clone().untagged()))
    };
    let mut unmatched = Vec::new();
    for item in patch_items.iter() {
        // The key of a patch item may sit inside an op (`!delete {name: 3}`).
        let key = key_of(item).or_else(|| find_op(item).and_then(|op| key_of(&op.child)));
        let Some(key) = key else {
            return Err(malformed(
                path,
                "key",
                format!("an item has no {field:?} field"),
            ));
        };
        match items
            .iter()
            .position(|i| key_of(i).as_deref() == Some(&key))
        {
            Some(at) => {
                path.push(Segment::Key(Arc::from(key.as_str())));
                let patched = apply(Some(&items[at]), item, path)?;
                path.pop();
                match patched {
                    Some(v) => items[at] = v,
                    None => {
                        items.remove(at);
                    }
                }
            }
            None => unmatched.push((key, item)),
        }
    }
    unmatched.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, item) in unmatched {
        path.push(Segment::Key(Arc::from(key.as_str())));
        if let Some(v) = apply(None, item, path)? {
            items.push(v);
        }
        path.pop();
    }
    Ok(Node {
        tag,
        value: Value::Array(Arc::new(items)),
    })
}

fn all_patch(doc: Option<&Node>, body: &Node, path: &mut Ctx) -> Result<Node, PatchError> {
    match doc {
        Some(Node {
            value: Value::Array(items),
            tag,
        }) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(Segment::Index(i as u64));
                out.extend(apply(Some(item), body, path)?);
                path.pop();
            }
            Ok(Node {
                tag: tag.clone(),
                value: Value::Array(Arc::new(out)),
            })
        }
        Some(Node {
            value: Value::Object(entries),
            tag,
        }) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries.iter() {
                path.push(Segment::of_any_key(k));
                if let Some(v) = apply(Some(v), body, path)? {
                    out.push((k.clone(), v));
                }
                path.pop();
            }
            Ok(Node {
                tag: tag.clone(),
                value: Value::Object(Arc::new(out)),
            })
        }
        other => Err(wrong_kind(path, "all", "an array or object", other)),
    }
}

/// `template` with every string equal to `placeholder` replaced by `value`.
fn embed(template: &Node, placeholder: &str, value: &Node) -> Node {
    match &template.value {
        Value::String(s) if &**s == placeholder => value.clone(),
        Value::Array(items) => Node {
            tag: template.tag.clone(),
            value: Value::Array(Arc::new(
                items.iter().map(|i| embed(i, placeholder, value)).collect(),
            )),
        },
        Value::Object(entries) => Node {
            tag: template.tag.clone(),
            value: Value::Object(Arc::new(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), embed(v, placeholder, value)))
                    .collect(),
            )),
        },
        _ => template.clone(),
    }
}

/// `node` with field `from` renamed to `to` (in place in the key order; the old key is gone).
fn rename_field(node: Node, from: &str, to: &str) -> Node {
    let Value::Object(entries) = &node.value else {
        return node;
    };
    let renamed = entries
        .iter()
        .map(|(k, v)| {
            if *k == Key::str(from) {
                (Key::str(to), v.clone())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    Node {
        tag: node.tag,
        value: Value::Object(Arc::new(renamed)),
    }
}

/// `!dive [{match: M, patch: P}, ...]`: walks the document and patches every field value whose
/// field (name and value) matches `M` with `P`.
fn dive(doc: Option<&Node>, body: &Node, path: &mut Ctx) -> Result<Node, PatchError> {
    let Value::Array(rules) = &body.value else {
        return Err(malformed(path, "dive", "needs a list of {match, patch}"));
    };
    let rules = rules
        .iter()
        .map(|r| {
            Ok((
                r.get_field(&Key::str("match"))
                    .ok_or_else(|| malformed(path, "dive", "a rule has no match"))?,
                r.get_field(&Key::str("patch"))
                    .ok_or_else(|| malformed(path, "dive", "a rule has no patch"))?,
            ))
        })
        .collect::<Result<Vec<_>, PatchError>>()?;
    let doc = doc.cloned().unwrap_or_else(Node::null);
    dive_node(&doc, &rules, path)
}

fn dive_node(node: &Node, rules: &[(&Node, &Node)], path: &mut Ctx) -> Result<Node, PatchError> {
    Ok(match &node.value {
        Value::Object(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries.iter() {
                path.push(Segment::of_any_key(k));
                let name = k.to_text();
                let mut value = dive_node(v, rules, path)?;
                for (pattern, patch) in rules {
                    if matches_in_field(&value, pattern, Some(&name)) {
                        value = apply(Some(&value), patch, path)?.unwrap_or_else(Node::null);
                    }
                }
                out.push((k.clone(), value));
                path.pop();
            }
            Node {
                tag: node.tag.clone(),
                value: Value::Object(Arc::new(out)),
            }
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                path.push(Segment::Index(i as u64));
                out.push(dive_node(v, rules, path)?);
                path.pop();
            }
            Node {
                tag: node.tag.clone(),
                value: Value::Array(Arc::new(out)),
            }
        }
        _ => node.clone(),
    })
}

/// `!pipe COMMAND`: the document's text (a string as is, anything else in wire form) through
/// `sh -c COMMAND`; the output becomes a string.
#[cfg(not(target_arch = "wasm32"))]
fn pipe(doc: Option<&Node>, body: &Node, path: &mut Ctx) -> Result<Node, PatchError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let command = body
        .as_str()
        .ok_or_else(|| malformed(path, "pipe", "needs the command as a string"))?;
    let input = match doc {
        Some(Node {
            value: Value::String(s),
            ..
        }) => s.to_string(),
        Some(other) => encode_wire(other),
        None => String::new(),
    };
    let failed = |reason: String| malformed(path, "pipe", reason);
    let mut child = Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run sh: {e}")))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())
        .map_err(|e| failed(e.to_string()))?;
    let output = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(format!("the command exited with {}", output.status)));
    }
    let text =
        String::from_utf8(output.stdout).map_err(|_| failed("the output is not UTF-8".into()))?;
    Ok(Node {
        tag: doc.and_then(|d| d.tag.clone()),
        value: Value::String(Arc::from(text)),
    })
}

#[cfg(target_arch = "wasm32")]
fn pipe(_: Option<&Node>, _: &Node, path: &mut Ctx) -> Result<Node, PatchError> {
    Err(PatchError::Unsupported {
        path: here(path),
        op: "!pipe".into(),
        reason: "there are no processes in WebAssembly",
    })
}

/// One slot edit of a plain `!arraydiff`, for appliers that stream the array.
pub(crate) enum SlotEdit {
    /// Insert this element before the current one.
    Insert(Node),
    /// Drop the current element.
    Remove,
    /// Drop the current element and put this one in its place.
    Put(Node),
    /// Patch the current element (dropping it if the patch deletes it).
    Patch(Node),
}

/// The slot edits of `patch` when it is exactly `!arraydiff` (no further tag links), sorted by
/// slot; `None` otherwise or when malformed. The edits skip the `!delete`/`!replace` checks,
/// so use them only on patches already known to apply (committed ones).
pub(crate) fn plain_arraydiff(patch: &Node) -> Option<Vec<(u32, SlotEdit)>> {
    let op = find_op(patch).filter(|op| op.name == "arraydiff" && op.child.tag.is_none())?;
    let edits = slots(&op.child, "arraydiff", &[]).ok()?;
    edits
        .into_iter()
        .map(|(slot, node)| {
            let edit = match slot_op(node, &[], "arraydiff").ok()? {
                SlotOp::Insert(value) => SlotEdit::Insert(value),
                SlotOp::Delete(_) => SlotEdit::Remove,
                SlotOp::Replace(_, to) => SlotEdit::Put(to.clone()),
                SlotOp::Patch(p) => SlotEdit::Patch(p.clone()),
            };
            Some((slot, edit))
        })
        .collect()
}

/// Where element `index` of an array after a plain `!arraydiff` (its `edits`, see
/// [`plain_arraydiff`]) comes from.
pub(crate) enum ElementSource<'a> {
    /// Element `.0` of the array before, unchanged.
    Before(u64),
    /// Element `.0` of the array before, patched by `.1`.
    Patched(u64, &'a Node),
    /// A value the edits put there.
    Put(&'a Node),
}

/// Maps element `index` of the array after `edits` back to its source, walking the slots
/// as [`array_diff`] does (unmentioned slots copy one element each). A patch slot is assumed
/// to keep its element (its result is checked by the caller).
pub(crate) fn arraydiff_source(edits: &[(u32, SlotEdit)], index: u64) -> ElementSource<'_> {
    let (mut before, mut after, mut slot) = (0u64, 0u64, 0u64);
    for (target, edit) in edits {
        let copied = u64::from(*target).saturating_sub(slot);
        if index < after + copied {
            return ElementSource::Before(before + (index - after));
        }
        before += copied;
        after += copied;
        slot = u64::from(*target) + 1;
        match edit {
            SlotEdit::Insert(value) => {
                if index == after {
                    return ElementSource::Put(value);
                }
                after += 1;
            }
            SlotEdit::Remove => before += 1,
            SlotEdit::Put(value) => {
                if index == after {
                    return ElementSource::Put(value);
                }
                before += 1;
                after += 1;
            }
            SlotEdit::Patch(patch) => {
                if index == after {
                    return ElementSource::Patched(before, patch);
                }
                before += 1;
                after += 1;
            }
        }
    }
    ElementSource::Before(before + (index - after))
}
