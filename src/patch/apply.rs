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

use super::matching::match_at;
use super::ops::{data_tag, find_op, is_unchanged_marker, value_with_arg, Op};
use super::seq::{join_units, split_units, StrMode};
use super::{PatchError, MAX_CALLS};
use crate::kpath::{key_text, KPath, Segment};
use crate::tony::tag::{parse_chain, remove_link};
use crate::tony::{encode_wire, reads_back_as_tag, Key, Node, Object, Value, MAX_DEPTH};

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
        options,
        ..Ctx::new()
    };
    Ok(apply(Some(doc), patch, &mut ctx)?.unwrap_or_else(Node::null))
}

/// Applies a patch that was checked when it was committed to a state that may hold only part
/// of what it was checked against (a read starting at an entry whose result ignores the
/// state): the checks of `!replace` and `!delete(tag)` are skipped, since their results do not
/// depend on the state; every other op runs as usual.
pub(crate) fn apply_committed(
    doc: Option<&Node>,
    patch: &Node,
) -> Result<Option<Node>, PatchError> {
    let mut ctx = Ctx {
        unchecked: true,
        ..Ctx::new()
    };
    apply(doc, patch, &mut ctx)
}

/// Where the patcher is (for messages), how deep its recursion is, and how it is set up.
pub(crate) struct Ctx {
    path: Vec<Segment>,
    /// Nested [`apply`] calls: one per level of the patch, plus one per op of a tag chain.
    calls: usize,
    options: PatchOptions,
    /// Skip the checks of ops whose result ignores the state (`!replace`'s `from`,
    /// `!delete(tag)`'s tag): see [`apply_committed`].
    unchecked: bool,
}

impl Ctx {
    /// A context at the root with default settings.
    pub(crate) fn new() -> Self {
        Ctx {
            path: Vec::new(),
            calls: 0,
            options: PatchOptions::default(),
            unchecked: false,
        }
    }

    /// The error for a walk past the recursion bound here.
    fn too_deep(&self) -> PatchError {
        PatchError::TooDeep {
            path: here(&self.path),
            limit: MAX_DEPTH,
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

/// The path segment of array element `i`.
fn index_segment(i: usize) -> Segment {
    Segment::Index(u64::try_from(i).unwrap_or(u64::MAX))
}

fn here(path: &[Segment]) -> String {
    KPath::from_segments(path.to_vec()).to_string()
}

fn wire_or_absent(node: Option<&Node>) -> String {
    node.map_or_else(|| "nothing".to_owned(), encode_wire)
}

#[cold]
#[inline(never)]
fn malformed(path: &[Segment], op: &str, reason: impl Into<String>) -> PatchError {
    PatchError::Malformed {
        path: here(path),
        op: format!("!{op}"),
        reason: reason.into(),
    }
}

#[cold]
#[inline(never)]
fn wrong_kind(path: &[Segment], op: &str, needs: &'static str, found: Option<&Node>) -> PatchError {
    PatchError::WrongKind {
        path: here(path),
        op: format!("!{op}"),
        needs,
        found: found.map_or("nothing", Node::kind_name),
    }
}

#[cold]
#[inline(never)]
fn check_failed(path: &[Segment], op: &str, expected: &Node, found: Option<&Node>) -> PatchError {
    PatchError::CheckFailed {
        path: here(path),
        op: format!("!{op}"),
        expected: encode_wire(expected),
        found: wire_or_absent(found),
    }
}

/// Applies `patch` to `doc` (`None`: absent); `None` in the result means "deleted".
///
/// Every recursion of the patcher passes through here, so this is where its depth is bounded:
/// values nest at most [`MAX_DEPTH`] levels and calls at most [`MAX_CALLS`].
pub(crate) fn apply(
    doc: Option<&Node>,
    patch: &Node,
    path: &mut Ctx,
) -> Result<Option<Node>, PatchError> {
    if path.path.len() > MAX_DEPTH || path.calls >= MAX_CALLS {
        return Err(path.too_deep());
    }
    path.calls = path.calls.saturating_add(1);
    let result = apply_here(doc, patch, path);
    path.calls = path.calls.saturating_sub(1);
    result
}

/// [`apply`] without the depth bound.
fn apply_here(
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

#[inline(never)]
fn merge_object(
    doc: Option<&Node>,
    entries: &[(Key, Node)],
    patch_tag: Option<Arc<str>>,
    path: &mut Ctx,
) -> Result<Node, PatchError> {
    let (mut members, doc_tag) = match doc {
        Some(Node {
            value: Value::Object(existing),
            tag,
        }) => (Arc::clone(existing), tag.clone()),
        _ => (Arc::default(), None),
    };
    merge_members(&mut members, entries, path)?;
    Ok(Node {
        tag: patch_tag.or(doc_tag),
        value: Value::Object(members),
    })
}

/// Applies `patch` to a document the caller gives up: an object merge edits the members in
/// place wherever the document holds the only reference to them ([`Arc::make_mut`]), so a
/// change to one member of a wide object costs what the patch touches, not the object's
/// width. Anything else is [`apply`]. On an error the document is lost (partly patched).
pub(crate) fn apply_owned(
    doc: Option<Node>,
    patch: &Node,
    path: &mut Ctx,
) -> Result<Option<Node>, PatchError> {
    let (merge, Some(mut node)) = (&patch.value, doc) else {
        return apply(None, patch, path);
    };
    let Value::Object(merge) = merge else {
        return apply(Some(&node), patch, path);
    };
    if find_op(patch).is_some() || !matches!(node.value, Value::Object(_)) {
        return apply(Some(&node), patch, path);
    }
    if path.path.len() > MAX_DEPTH || path.calls >= MAX_CALLS {
        return Err(path.too_deep());
    }
    path.calls = path.calls.saturating_add(1);
    let result = match &mut node.value {
        Value::Object(members) => merge_members(members, merge, path),
        _ => Ok(()),
    };
    path.calls = path.calls.saturating_sub(1);
    result?;
    if let Some(tag) = data_tag(patch) {
        node.tag = Some(tag);
    }
    Ok(Some(node))
}

/// [`patch`] for a document the caller gives up (see [`apply_owned`]): the store's commits
/// edit the head state in place.
pub(crate) fn patch_owned(doc: Node, patch: &Node) -> Result<Node, PatchError> {
    Ok(apply_owned(Some(doc), patch, &mut Ctx::new())?.unwrap_or_else(Node::null))
}

/// Merges the members of an object patch into `members`. Each member is found through the
/// object's key index ([`Object::position`]) and patched as an owned value taken out of it, so
/// nested merges edit in place too. Removed members are only marked until the merge ends, so
/// positions stay valid.
fn merge_members(
    members: &mut Arc<Object>,
    entries: &[(Key, Node)],
    path: &mut Ctx,
) -> Result<(), PatchError> {
    let object = Arc::make_mut(members);
    // The kind of key the object holds (an object is never mixed; merge keys aside).
    let holds_ints = object
        .iter()
        .find(|(k, _)| *k != Key::Merge)
        .map(|(k, _)| matches!(k, Key::Int(_)));
    let mut added_ints = false;
    let mut added_strs = false;
    let mut removed: Option<Vec<bool>> = None;
    for (key, value) in entries {
        if *key == Key::Merge {
            object.push(Key::Merge, value.clone());
            continue;
        }
        let live = |i: &usize| removed.as_ref().is_none_or(|r| r.get(*i) != Some(&true));
        let at = object.position(key).and_then(|first| {
            if live(&first) {
                return Some(first);
            }
            // A member removed earlier in this merge is not there any more; a later member
            // of the same key (added again by this merge) is.
            object
                .iter()
                .enumerate()
                .skip(first)
                .find(|(i, (k, _))| k == key && live(i))
                .map(|(i, _)| i)
        });
        path.push(Segment::of_any_key(key));
        let current = at
            .and_then(|i| object.value_mut(i))
            .map(|slot| std::mem::replace(slot, Node::null()));
        let patched = apply_owned(current, value, path)?;
        path.pop();
        match (at, patched) {
            (Some(i), Some(v)) => {
                if let Some(slot) = object.value_mut(i) {
                    *slot = v;
                }
            }
            (Some(i), None) => {
                let removed = removed.get_or_insert_with(|| vec![false; object.len()]);
                if let Some(flag) = removed.get_mut(i) {
                    *flag = true;
                }
            }
            (None, Some(v)) => {
                match key {
                    Key::Int(_) => added_ints = true,
                    _ => added_strs = true,
                }
                object.push(key.clone(), v);
                if let Some(removed) = &mut removed {
                    removed.push(false);
                }
            }
            (None, None) => {}
        }
    }
    let mixed = match removed {
        Some(removed) => {
            let mut flags = removed.iter();
            let kept = object.members_mut();
            kept.retain(|_| flags.next() == Some(&false));
            kept.iter().any(|(k, _)| matches!(k, Key::Int(_)))
                && kept.iter().any(|(k, _)| matches!(k, Key::Str(_)))
        }
        None => match holds_ints {
            Some(true) => added_strs,
            Some(false) => added_ints,
            None => added_ints && added_strs,
        },
    };
    if mixed {
        return Err(malformed(
            path,
            "merge",
            "the result would mix integer keys (sparse array) and string keys",
        ));
    }
    Ok(())
}

#[inline(never)]
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
        path.push(index_segment(i));
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

/// `!nullify`: the value becomes null; like the original, the document keeps its tag.
fn nullify(doc: Option<&Node>, op: &Op, path: &[Segment]) -> Result<Option<Node>, PatchError> {
    if !op.args.is_empty() {
        return Err(malformed(path, &op.name, "takes no arguments"));
    }
    Ok(Some(Node {
        tag: doc.and_then(|d| d.tag.clone()),
        value: Value::Null,
    }))
}

fn one_arg<'a>(op: &'a Op, path: &[Segment]) -> Result<&'a str, PatchError> {
    match op.args.as_slice() {
        [a] => Ok(a),
        _ => Err(malformed(path, &op.name, "takes exactly one argument")),
    }
}

/// Runs `op`. The ops a patch nests through (arrays, keyed lists, `!all`, `!if`, tag chains)
/// each have a function of their own that is never inlined, so every level of a deep patch
/// costs only the stack its own op needs.
fn apply_op(doc: Option<&Node>, op: Op, path: &mut Ctx) -> Result<Option<Node>, PatchError> {
    match op.name.as_str() {
        "insert" => inserted(op, path).map(Some),
        "nullify" => nullify(doc, &op, path),
        // The document as it is; an absent one is `null`, as the original has no "absent".
        "pass" => Ok(Some(doc.cloned().unwrap_or_else(Node::null))),
        "addtag" | "rmtag" | "retag" | "field" => tag_op(doc, &op, path),
        "rename" if !op.args.is_empty() => tag_op(doc, &op, path),
        "arraydiff" => {
            let result = array_diff(doc, &op.child, path)?;
            finish_chain(result, &op.child, path)
        }
        "strdiff" => {
            let result = str_diff(doc, &op, path)?;
            finish_chain(result, &op.child, path)
        }
        "key" => keyed_patch(doc, &op, path).map(Some),
        "all" => all_patch(doc, &op.child, path),
        "if" => if_patch(doc, &op.child, path),
        "dive" => dive(doc, &op.child, path).map(Some),
        "pipe" if path.options.allow_pipe => pipe(doc, &op.child, path).map(Some),
        _ => value_op(doc, &op, path),
    }
}

/// The ops that change a tag or a field name of the document (patched by the op's child
/// first, unless that is the "unchanged" marker): `!addtag`, `!rmtag`, `!retag`,
/// `!field(a,b)`, `!rename(a,b)`.
#[inline(never)]
fn tag_op(doc: Option<&Node>, op: &Op, path: &mut Ctx) -> Result<Option<Node>, PatchError> {
    let name = op.name.as_str();
    match name {
        "addtag" => {
            // As in the original, the tag becomes `!t` (a diff adds a tag only to an untagged
            // value, where adding and setting agree).
            let tag = built_tag(format!("!{}", one_arg(op, path)?), path, name)?;
            let mut base = tag_op_base(doc, &op.child, path)?;
            base.tag = Some(tag);
            Ok(Some(base))
        }
        "rmtag" => {
            // Removes the tag (or the links of the chain) named; an absent tag is left as is.
            let chain = format!("!{}", one_arg(op, path)?);
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
            let [from, to] = op.args.as_slice() else {
                return Err(malformed(path, name, "takes (old,new)"));
            };
            let mut base = tag_op_base(doc, &op.child, path)?;
            if base.tag() != Some(format!("!{from}").as_str()) {
                return Err(PatchError::CheckFailed {
                    path: here(path),
                    op: "!retag".into(),
                    expected: format!("tag !{from}"),
                    found: base
                        .tag()
                        .map_or_else(|| "no tag".to_owned(), |t| format!("tag {t}")),
                });
            }
            base.tag = Some(built_tag(format!("!{to}"), path, name)?);
            Ok(Some(base))
        }
        _ => {
            let [from, to] = op.args.as_slice() else {
                return Err(malformed(path, name, "takes (old,new)"));
            };
            let base = tag_op_base(doc, &op.child, path)?;
            Ok(Some(rename_field(base, from, to)))
        }
    }
}

/// The ops that do not patch into the document: `!delete`, `!replace`, `!embed`, `!quote`,
/// `!unquote`, `!json-patch`, `!rename [{from, to}]`, and a refused `!pipe`.
#[inline(never)]
fn value_op(doc: Option<&Node>, op: &Op, path: &mut Ctx) -> Result<Option<Node>, PatchError> {
    let name = op.name.as_str();
    match name {
        "delete" => {
            if let Some(tag) = op.args.first().filter(|_| !path.unchecked) {
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
        "replace" => {
            let (from, to) = replace_sides(&op.child)
                .ok_or_else(|| malformed(path, name, "needs {from: ..., to: ...}"))?;
            if !path.unchecked && !same_value(doc.unwrap_or(&Node::null()), from) {
                return Err(check_failed(path, name, from, doc));
            }
            Ok(Some(to.clone()))
        }
        "embed" => {
            let placeholder = one_arg(op, path)?;
            let value = doc.cloned().unwrap_or_else(Node::null);
            embed(&op.child.clone().untagged(), placeholder, &value, 0)
                .map(Some)
                .ok_or_else(|| path.too_deep())
        }
        // `mergeop/quote.go`: a value becomes its Tony text (a string stays as it is).
        "quote" => Ok(Some(match doc {
            Some(text @ Node {
                value: Value::String(_),
                ..
            }) => text.clone(),
            other => Node::string(&crate::tony::encode_block(
                other.unwrap_or(&Node::null()),
            )),
        })),
        // `mergeop/unquote.go`: a string's Tony text becomes the value.
        "unquote" => match doc.and_then(Node::as_str) {
            Some(text) if text.trim().is_empty() => Err(malformed(path, name, "empty text")),
            Some(text) => crate::tony::parse(text)
                .map(Some)
                .map_err(|e| malformed(path, name, e.to_string())),
            None => Err(wrong_kind(path, name, "a string", doc)),
        },
        "json-patch" => {
            super::jsonpatch::json_patch(doc.cloned().unwrap_or_else(Node::null), &op.child)
                .map(Some)
                .map_err(|reason| malformed(path, name, reason))
        }
        // The original's form: `!rename [{from: a, to: b}, ...]` on an object.
        "rename" => {
            let renamings = renamings(&op.child).ok_or_else(|| {
                malformed(path, name, "needs (old,new) or a list of {from: old, to: new}")
            })?;
            match doc {
                Some(
                    node @ Node {
                        value: Value::Object(_),
                        ..
                    },
                ) => Ok(Some(
                    renamings
                        .into_iter()
                        .fold(node.clone(), |n, (from, to)| rename_field(n, from, to)),
                )),
                other => Err(wrong_kind(path, name, "an object", other)),
            }
        }
        "pipe" => Err(PatchError::Unsupported {
            path: here(path),
            op: "!pipe".into(),
            reason: "it runs a program; only patch_with(.., PatchOptions { allow_pipe: true }) runs it, never a stored patch",
        }),
        _ => Err(PatchError::Unsupported {
            path: here(path),
            op: format!("!{name}"),
            reason: "the op is registered but has no patch meaning",
        }),
    }
}

/// The `from` and `to` of a `!replace` body.
pub(crate) fn replace_sides(body: &Node) -> Option<(&Node, &Node)> {
    Some((
        body.get_field(&Key::str("from"))?,
        body.get_field(&Key::str("to"))?,
    ))
}

/// The slot → op entries of an `!arraydiff`/`!strdiff` body, sorted by slot. Two keys naming
/// the same slot (`3` and `"03"`) are malformed.
#[inline(never)]
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
    crate::sort::sort_by_key(&mut slots, |(slot, _)| *slot);
    if let Some(pair) = slots
        .windows(2)
        .find(|w| w.first().map(|s| s.0) == w.get(1).map(|s| s.0))
    {
        let slot = pair.first().map_or(0, |s| s.0);
        return Err(malformed(path, op, format!("slot {slot} is given twice")));
    }
    Ok(slots)
}

/// A slot number as an index (slots are `u32`, which every supported target's `usize` holds).
fn slot_index(slot: u32) -> usize {
    usize::try_from(slot).unwrap_or(usize::MAX)
}

/// The value an `!insert` yields (its tag argument folded into the value's tag), refused when
/// that tag would not read back as itself once the value is stored (`!insert(a b)`).
fn inserted(op: Op, path: &[Segment]) -> Result<Node, PatchError> {
    let builds_tag = !op.args.is_empty();
    let value = value_with_arg(op);
    match value.tag() {
        Some(tag) if builds_tag && !reads_back_as_tag(tag) => Err(malformed(
            path,
            "insert",
            format!("the tag it builds, {tag:?}, does not read back as a tag"),
        )),
        _ => Ok(value),
    }
}

/// A tag an op builds from its arguments (`!addtag`, `!retag`), refused when it would not read
/// back as itself once the value is stored.
fn built_tag(tag: String, path: &[Segment], op: &str) -> Result<Arc<str>, PatchError> {
    if reads_back_as_tag(&tag) {
        Ok(Arc::from(tag))
    } else {
        Err(malformed(
            path,
            op,
            format!("the tag it builds, {tag:?}, does not read back as a tag"),
        ))
    }
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
        Some(op) if op.name == "insert" => SlotOp::Insert(inserted(op, path)?),
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
    find_op(patch).map_or_else(|| patch.clone(), value_with_arg)
}

#[inline(never)]
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
    // `rest` is the document cursor; `slot` the next slot number (each op takes one slot).
    let mut rest = items.iter();
    let mut slot = 0usize;
    for (target, op) in slots(body, "arraydiff", path)? {
        // Unmentioned slots before `target` each copy one element.
        let target = slot_index(target);
        for _ in slot..target {
            let item = rest.next().ok_or_else(|| {
                malformed(
                    path,
                    "arraydiff",
                    format!("slot {target} is past the end ({} elements)", items.len()),
                )
            })?;
            out.push(item.clone());
        }
        slot = target.saturating_add(1);
        let index = items.len().saturating_sub(rest.len());
        path.push(index_segment(index));
        let current = rest.as_slice().first();
        match slot_op(op, path, "arraydiff")? {
            SlotOp::Insert(value) => out.push(value),
            SlotOp::Delete(patch) => {
                let expected = deleted_value(patch);
                if !current.is_some_and(|c| same_value(c, &expected)) {
                    return Err(check_failed(path, "delete", &expected, current));
                }
                rest.next();
            }
            SlotOp::Replace(from, to) => {
                if !current.is_some_and(|c| same_value(c, from)) {
                    return Err(check_failed(path, "replace", from, current));
                }
                out.push(to.clone());
                rest.next();
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
                rest.next();
            }
        }
        path.pop();
    }
    out.extend(rest.cloned());
    Ok(Node {
        tag,
        value: Value::Array(Arc::new(out)),
    })
}

/// `!strdiff`, numbering slots as the original does: an unmentioned slot copies one unit (none
/// past the end), `!delete` takes one slot, and `!insert` and `!replace` take one slot per unit
/// they write — so slots count positions in the result.
#[inline(never)]
fn str_diff(doc: Option<&Node>, op: &Op, path: &mut Ctx) -> Result<Node, PatchError> {
    let op_name = "strdiff";
    let body = &op.child;
    let mode = match op.args.first().map(String::as_str) {
        Some("true") => StrMode::Lines,
        Some("false") | None => StrMode::Runes,
        Some(other) => {
            return Err(malformed(
                path,
                op_name,
                format!("argument must be true or false, not {other}"),
            ))
        }
    };
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
    let mut rest: &[&str] = &units;
    let mut slot = 0usize;
    for (target, op) in slots(body, op_name, path)? {
        let target = slot_index(target);
        let Some(gap) = target.checked_sub(slot) else {
            return Err(malformed(
                path,
                op_name,
                format!("slot {target} falls inside the text written by the slot before"),
            ));
        };
        let (copied, after) = rest.split_at(gap.min(rest.len()));
        out.extend(copied.iter().map(|u| (*u).to_owned()));
        rest = after;
        // Consumes `expected` from the text, or fails the op's check.
        let consume = |expected: &str, rest: &mut &[&str]| -> Result<(), PatchError> {
            let want = split_units(expected, mode);
            match (rest.get(..want.len()), rest.get(want.len()..)) {
                (Some(head), Some(after)) if head == want.as_slice() => {
                    *rest = after;
                    Ok(())
                }
                _ => Err(check_failed(
                    path,
                    op_name,
                    &Node::string(expected),
                    Some(&Node::string(&join_units(
                        rest.get(..want.len()).unwrap_or(rest),
                        mode,
                    ))),
                )),
            }
        };
        let written = match slot_op(op, path, op_name)? {
            SlotOp::Insert(value) => text_of(&value)?,
            SlotOp::Delete(patch) => {
                consume(&text_of(&deleted_value(patch))?, &mut rest)?;
                slot = target.saturating_add(1);
                continue;
            }
            SlotOp::Replace(from, to) => {
                consume(&text_of(from)?, &mut rest)?;
                text_of(to)?
            }
            SlotOp::Patch(_) => {
                return Err(malformed(
                    path,
                    op_name,
                    "slots hold !insert, !delete or !replace",
                ))
            }
        };
        slot = target.saturating_add(split_units(&written, mode).len());
        out.push(written);
    }
    out.extend(rest.iter().map(|u| (*u).to_owned()));
    let pieces: Vec<&str> = out.iter().map(String::as_str).collect();
    Ok(Node {
        tag,
        value: Value::String(Arc::from(join_units(&pieces, mode))),
    })
}

#[inline(never)]
fn keyed_patch(doc: Option<&Node>, op: &Op, path: &mut Ctx) -> Result<Node, PatchError> {
    let field = one_arg(op, path)?.to_owned();
    let field = field.as_str();
    let body = &op.child;
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
        let at = items
            .iter()
            .position(|i| key_of(i).as_deref() == Some(&key));
        match at.and_then(|at| items.get(at).map(|current| (at, current))) {
            Some((at, current)) => {
                path.push(Segment::Key(Arc::from(key.as_str())));
                let patched = apply(Some(current), item, path)?;
                path.pop();
                match patched {
                    Some(v) => {
                        if let Some(slot) = items.get_mut(at) {
                            *slot = v;
                        }
                    }
                    None => {
                        items.remove(at);
                    }
                }
            }
            None => unmatched.push((key, item)),
        }
    }
    crate::sort::sort_by(&mut unmatched, |a, b| a.0.cmp(&b.0));
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

/// `!all P`: every element (or field value) of the document patched with `P`; any other
/// document is patched with `P` itself, as in the original.
#[inline(never)]
fn all_patch(doc: Option<&Node>, body: &Node, path: &mut Ctx) -> Result<Option<Node>, PatchError> {
    Ok(Some(match doc {
        Some(Node {
            value: Value::Array(items),
            tag,
        }) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(index_segment(i));
                out.extend(apply(Some(item), body, path)?);
                path.pop();
            }
            Node {
                tag: tag.clone(),
                value: Value::Array(Arc::new(out)),
            }
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
            Node {
                tag: tag.clone(),
                value: Value::Object(Arc::new(out.into())),
            }
        }
        other => return apply(other, body, path),
    }))
}

/// `!if {if: M, then: P, else: Q}`: the document patched with `P` when it matches `M`, else
/// with `Q`; a missing branch leaves the document as it is (the original needs at least one).
#[inline(never)]
fn if_patch(doc: Option<&Node>, body: &Node, path: &mut Ctx) -> Result<Option<Node>, PatchError> {
    let condition = body
        .get_field(&Key::str("if"))
        .ok_or_else(|| malformed(path, "if", "needs {if: match, then: patch, else: patch}"))?;
    let (then, otherwise) = (
        body.get_field(&Key::str("then")),
        body.get_field(&Key::str("else")),
    );
    if then.is_none() && otherwise.is_none() {
        return Err(malformed(path, "if", "needs then:, else: or both"));
    }
    let current = doc.cloned().unwrap_or_else(Node::null);
    let field = path.last().and_then(Segment::field_name).map(str::to_owned);
    let branch = if match_at(&current, condition, field.as_deref(), path.calls)? {
        then
    } else {
        otherwise
    };
    match branch {
        Some(patch) => apply(doc, patch, path),
        None => Ok(doc.cloned()),
    }
}

/// `template` with every string equal to `placeholder` replaced by `value`; `None` when the
/// template nests deeper than [`MAX_DEPTH`] (`depth` is the template's level).
fn embed(template: &Node, placeholder: &str, value: &Node, depth: usize) -> Option<Node> {
    if depth > MAX_DEPTH {
        return None;
    }
    let below = depth.saturating_add(1);
    Some(match &template.value {
        Value::String(s) if &**s == placeholder => value.clone(),
        Value::Array(items) => Node {
            tag: template.tag.clone(),
            value: Value::Array(Arc::new(
                items
                    .iter()
                    .map(|i| embed(i, placeholder, value, below))
                    .collect::<Option<_>>()?,
            )),
        },
        Value::Object(entries) => Node {
            tag: template.tag.clone(),
            value: Value::Object(Arc::new(
                entries
                    .iter()
                    .map(|(k, v)| Some((k.clone(), embed(v, placeholder, value, below)?)))
                    .collect::<Option<_>>()?,
            )),
        },
        _ => template.clone(),
    })
}

/// Whether a document value passes a check against `expected` (`!replace`'s `from`, a
/// `!delete`d element): equal up to the order of object keys, as the original's diff-based check.
fn same_value(found: &Node, expected: &Node) -> bool {
    found == expected || super::diff(found, expected).is_none()
}

/// The `(from, to)` pairs of a `[{from: a, to: b}, ...]` list, if it is one.
fn renamings(list: &Node) -> Option<Vec<(&str, &str)>> {
    list.as_array()?
        .iter()
        .map(|r| {
            Some((
                r.get_field(&Key::str("from"))?.as_str()?,
                r.get_field(&Key::str("to"))?.as_str()?,
            ))
        })
        .collect()
}

/// `node` with field `from` renamed to `to` (in place in the key order; the old key is gone,
/// and so is a field already named `to`). Without a field `from`, `node` is unchanged.
fn rename_field(node: Node, from: &str, to: &str) -> Node {
    let Value::Object(entries) = &node.value else {
        return node;
    };
    let (from, to) = (Key::str(from), Key::str(to));
    if from == to || !entries.iter().any(|(k, _)| *k == from) {
        return node;
    }
    let renamed: Object = entries
        .iter()
        .filter(|(k, _)| *k != to)
        .map(|(k, v)| {
            let key = if *k == from { to.clone() } else { k.clone() };
            (key, v.clone())
        })
        .collect();
    Node {
        tag: node.tag,
        value: Value::Object(Arc::new(renamed)),
    }
}

/// `!dive [{match: M, patch: P}, ...]`: walks the document and patches every field value whose
/// field (name and value) matches `M` with `P`.
#[inline(never)]
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
    if path.path.len() > MAX_DEPTH {
        return Err(path.too_deep());
    }
    Ok(match &node.value {
        Value::Object(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries.iter() {
                path.push(Segment::of_any_key(k));
                let name = k.to_text();
                let mut value = dive_node(v, rules, path)?;
                for (pattern, patch) in rules {
                    if match_at(&value, pattern, Some(&name), path.calls)? {
                        value = apply(Some(&value), patch, path)?.unwrap_or_else(Node::null);
                    }
                }
                out.push((k.clone(), value));
                path.pop();
            }
            Node {
                tag: node.tag.clone(),
                value: Value::Object(Arc::new(out.into())),
            }
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                path.push(index_segment(i));
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

/// `!pipe COMMAND`, as the original runs it: the command's words (split at whitespace, no
/// shell) run as a program; a string document is its input and the output is a string, any
/// other document goes in as Tony text and the output is parsed back. The input is written
/// from a second thread while stdout and stderr are read, so no amount of output blocks.
#[cfg(not(target_arch = "wasm32"))]
#[inline(never)]
fn pipe(doc: Option<&Node>, body: &Node, path: &mut Ctx) -> Result<Node, PatchError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let failed = |reason: String| malformed(path, "pipe", reason);
    let words: Vec<&str> = body
        .as_str()
        .ok_or_else(|| failed("needs the command as a string".into()))?
        .split_whitespace()
        .collect();
    let (program, args) = words
        .split_first()
        .ok_or_else(|| failed("no command".into()))?;
    let doc = doc.cloned().unwrap_or_else(Node::null);
    let input = match doc.as_str() {
        Some(text) => text.to_owned(),
        None => crate::tony::encode_block(&doc),
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run {program}: {e}")))?;
    let stdin = child.stdin.take();
    let output = std::thread::scope(|scope| {
        // A command that exits without reading all its input closes the pipe: not an error.
        let writer = scope.spawn(move || stdin.map(|mut s| s.write_all(input.as_bytes())));
        let output = child.wait_with_output();
        let _ = writer.join();
        output
    })
    .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failed(format!(
            "{program} exited with {}: {}",
            output.status,
            stderr.trim_end()
        )));
    }
    let text =
        String::from_utf8(output.stdout).map_err(|_| failed("the output is not UTF-8".into()))?;
    match doc.as_str() {
        Some(_) => Ok(Node::string(&text)),
        None => {
            crate::tony::parse(&text).map_err(|e| failed(format!("the output does not parse: {e}")))
        }
    }
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
        if index < after.saturating_add(copied) {
            return ElementSource::Before(before.saturating_add(index.saturating_sub(after)));
        }
        before = before.saturating_add(copied);
        after = after.saturating_add(copied);
        slot = u64::from(*target).saturating_add(1);
        match edit {
            SlotEdit::Insert(value) => {
                if index == after {
                    return ElementSource::Put(value);
                }
                after = after.saturating_add(1);
            }
            SlotEdit::Remove => before = before.saturating_add(1),
            SlotEdit::Put(value) => {
                if index == after {
                    return ElementSource::Put(value);
                }
                before = before.saturating_add(1);
                after = after.saturating_add(1);
            }
            SlotEdit::Patch(patch) => {
                if index == after {
                    return ElementSource::Patched(before, patch);
                }
                before = before.saturating_add(1);
                after = after.saturating_add(1);
            }
        }
    }
    ElementSource::Before(before.saturating_add(index.saturating_sub(after)))
}
