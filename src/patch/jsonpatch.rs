//! `!json-patch [{op, path, value?, from?}, ...]`: an RFC 6902 JSON Patch, as the original's
//! `mergeop/jsonpatch.go` applies it (through `evanphx/json-patch`): `add`, `remove`,
//! `replace`, `move`, `copy` and `test`, with RFC 6901 pointers (`/a/0`, `~1` for `/`, `~0`
//! for `~`, `-` for the end of an array). The original goes through JSON and so drops tags;
//! here tags are kept, so a document without tags (JSON data) gets the original's result.

use std::sync::Arc;

use crate::tony::{Key, Node, Value, MAX_DEPTH};

/// Applies the operations `ops` to `doc` in order; the message says which one failed and why.
pub(crate) fn json_patch(doc: Node, ops: &Node) -> Result<Node, String> {
    let ops = ops
        .as_array()
        .ok_or("needs a list of {op, path, ...} operations")?;
    ops.iter().enumerate().try_fold(doc, |doc, (i, op)| {
        apply_one(doc, op).map_err(|e| format!("operation {i}: {e}"))
    })
}

fn apply_one(doc: Node, op: &Node) -> Result<Node, String> {
    let text = |name: &str| -> Result<&str, String> {
        op.get_field(&Key::str(name))
            .and_then(Node::as_str)
            .ok_or_else(|| format!("needs {name}: as a string"))
    };
    let value = || {
        op.get_field(&Key::str("value"))
            .cloned()
            .ok_or_else(|| "needs value:".to_owned())
    };
    let path = pointer(text("path")?)?;
    match text("op")? {
        "add" => add(&doc, &path, value()?),
        "remove" => Ok(remove(&doc, &path)?.0),
        "replace" => {
            let (without, _) = remove(&doc, &path)?;
            add(&without, &path, value()?)
        }
        "move" => {
            let from = pointer(text("from")?)?;
            if path.len() > from.len() && path.starts_with(&from) {
                return Err("cannot move a value into itself".into());
            }
            let (without, moved) = remove(&doc, &from)?;
            add(&without, &path, moved)
        }
        "copy" => {
            let from = pointer(text("from")?)?;
            let copied = get(&doc, &from).ok_or("from: names nothing")?.clone();
            add(&doc, &path, copied)
        }
        "test" => {
            let want = value()?;
            match get(&doc, &path) {
                Some(found) if super::diff(found, &want).is_none() => Ok(doc),
                _ => Err("test failed".into()),
            }
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

/// The reference tokens of an RFC 6901 pointer (at most [`MAX_DEPTH`] of them).
fn pointer(text: &str) -> Result<Vec<String>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = text.strip_prefix('/') else {
        return Err(format!("path {text:?} does not start with /"));
    };
    let tokens: Vec<String> = rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    if tokens.len() > MAX_DEPTH {
        return Err(format!("path {text:?} is deeper than {MAX_DEPTH} levels"));
    }
    Ok(tokens)
}

/// An array index token: digits without a leading zero.
fn index(token: &str) -> Option<usize> {
    let canonical = token == "0" || (!token.starts_with('0') && !token.is_empty());
    (canonical && token.bytes().all(|b| b.is_ascii_digit()))
        .then(|| token.parse().ok())
        .flatten()
}

/// Whether object key `key` is named by `token` (integer keys by their decimal text).
fn names(key: &Key, token: &str) -> bool {
    match key {
        Key::Str(s) => &**s == token,
        Key::Int(i) => i.to_string() == token,
        Key::Merge => false,
    }
}

fn get<'a>(doc: &'a Node, tokens: &[String]) -> Option<&'a Node> {
    tokens
        .iter()
        .try_fold(doc, |node, token| match &node.value {
            Value::Object(entries) => entries
                .iter()
                .find(|(k, _)| names(k, token))
                .map(|(_, v)| v),
            Value::Array(items) => items.get(index(token)?),
            _ => None,
        })
}

/// `doc` with the container at `parent` replaced by `edit` of it.
fn edit_parent(
    doc: &Node,
    parent: &[String],
    edit: &mut dyn FnMut(&Node) -> Result<Node, String>,
) -> Result<Node, String> {
    let Some((token, rest)) = parent.split_first() else {
        return edit(doc);
    };
    let missing = || format!("nothing at {token:?}");
    let value = match &doc.value {
        Value::Object(entries) => {
            let at = entries
                .iter()
                .position(|(k, _)| names(k, token))
                .ok_or_else(missing)?;
            let mut entries = entries.to_vec();
            let slot = entries.get_mut(at).ok_or_else(missing)?;
            slot.1 = edit_parent(&slot.1, rest, edit)?;
            Value::Object(Arc::new(entries.into()))
        }
        Value::Array(items) => {
            let mut items = (**items).clone();
            let slot = index(token)
                .and_then(|i| items.get_mut(i))
                .ok_or_else(missing)?;
            *slot = edit_parent(slot, rest, edit)?;
            Value::Array(Arc::new(items))
        }
        _ => return Err(missing()),
    };
    Ok(Node {
        tag: doc.tag.clone(),
        value,
    })
}

fn add(doc: &Node, tokens: &[String], value: Node) -> Result<Node, String> {
    let Some((last, parent)) = tokens.split_last() else {
        return Ok(value);
    };
    let mut value = Some(value);
    edit_parent(doc, parent, &mut |container| {
        let value = value.take().ok_or("the value was used")?;
        let updated = match &container.value {
            Value::Object(entries) => {
                let mut entries = entries.to_vec();
                // A new member of a sparse array gets an integer key, as it would in JSON.
                let sparse = entries.iter().any(|(k, _)| matches!(k, Key::Int(_)));
                let key = match last.parse() {
                    Ok(i) if sparse && index(last).is_some() => Key::Int(i),
                    _ => Key::str(last),
                };
                match entries.iter_mut().find(|(k, _)| names(k, last)) {
                    Some(entry) => entry.1 = value,
                    None => entries.push((key, value)),
                }
                Value::Object(Arc::new(entries.into()))
            }
            Value::Array(items) => {
                let at = if last == "-" {
                    Some(items.len())
                } else {
                    index(last)
                };
                let at = at
                    .filter(|&i| i <= items.len())
                    .ok_or_else(|| format!("index {last:?} is out of range"))?;
                let mut items = (**items).clone();
                items.insert(at, value);
                Value::Array(Arc::new(items))
            }
            _ => {
                return Err(format!(
                    "cannot add {last:?} to a {}",
                    container.kind_name()
                ))
            }
        };
        Ok(Node {
            tag: container.tag.clone(),
            value: updated,
        })
    })
}

/// `doc` without the value at `tokens`, and that value.
fn remove(doc: &Node, tokens: &[String]) -> Result<(Node, Node), String> {
    let (last, parent) = tokens
        .split_last()
        .ok_or("cannot remove the whole document")?;
    let mut removed = None;
    let without = edit_parent(doc, parent, &mut |container| {
        let missing = || format!("nothing at {last:?}");
        let updated = match &container.value {
            Value::Object(entries) => {
                let at = entries
                    .iter()
                    .position(|(k, _)| names(k, last))
                    .ok_or_else(missing)?;
                let mut entries = entries.to_vec();
                removed = Some(entries.remove(at).1);
                Value::Object(Arc::new(entries.into()))
            }
            Value::Array(items) => {
                let at = index(last)
                    .filter(|&i| i < items.len())
                    .ok_or_else(missing)?;
                let mut items = (**items).clone();
                removed = Some(items.remove(at));
                Value::Array(Arc::new(items))
            }
            _ => return Err(missing()),
        };
        Ok(Node {
            tag: container.tag.clone(),
            value: updated,
        })
    })?;
    Ok((without, removed.ok_or("nothing removed")?))
}
