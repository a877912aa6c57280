//! The encoders: the one-line wire form (storage, network) and the block form (people).

use super::ir::{canonical_float, Key, Node, Value};
use super::quote::write_string;

/// Encodes `node` in wire form: fully bracketed, one line, items separated by single spaces,
/// no trailing newline. Canonical wire text re-encodes to the same bytes.
pub fn encode_wire(node: &Node) -> String {
    let mut out = String::new();
    write_wire(&mut out, node);
    out
}

/// Appends the wire form of `node` to `out`.
pub fn write_wire(out: &mut String, node: &Node) {
    if let Some(tag) = &node.tag {
        out.push_str(tag);
        out.push(' ');
    }
    match &node.value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_wire(out, item);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_key(out, key);
                out.push_str(": ");
                write_wire(out, value);
            }
            out.push('}');
        }
        _ => write_scalar(out, &node.value),
    }
}

/// Appends a scalar value (not a container) to `out`.
pub fn write_scalar(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::Float(f) => match &f.text {
            Some(text) => out.push_str(text),
            None => out.push_str(&canonical_float(f.value)),
        },
        Value::String(s) => write_string(out, s),
        Value::Array(_) | Value::Object(_) => unreachable!("containers are not scalars"),
    }
}

/// Appends an object key to `out`.
pub fn write_key(out: &mut String, key: &Key) {
    match key {
        Key::Str(s) => write_string(out, s),
        Key::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Key::Merge => out.push_str("<<"),
    }
}

/// Encodes `node` in block (normal) form for people: 2-space indentation, one entry per line,
/// ending with a newline.
pub fn encode_block(node: &Node) -> String {
    let mut out = String::new();
    if let Some(tag) = &node.tag {
        out.push_str(tag);
        if is_block_collection(node) {
            out.push('\n');
        } else {
            out.push(' ');
        }
    }
    write_block_body(&mut out, node, 0);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// A non-empty array or object: written over several lines in block form.
fn is_block_collection(node: &Node) -> bool {
    match &node.value {
        Value::Array(items) => !items.is_empty(),
        Value::Object(entries) => !entries.is_empty(),
        _ => false,
    }
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Writes the value (without its tag) at indentation `level`; the cursor is already positioned
/// for the first line.
fn write_block_body(out: &mut String, node: &Node, level: usize) {
    match &node.value {
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    indent(out, level);
                }
                out.push_str("- ");
                write_block_child(out, item, level + 2, true);
            }
        }
        Value::Object(entries) if !entries.is_empty() => {
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    indent(out, level);
                }
                write_key(out, key);
                out.push(':');
                write_block_child(out, value, level + 2, false);
            }
        }
        _ => {
            write_wire(out, &node.clone().untagged());
            out.push('\n');
        }
    }
}

/// Writes a child value after `key:` or `- `, nested at `level`: a tag and scalars stay on the
/// line; a non-empty collection starts on the next line.
fn write_block_child(out: &mut String, node: &Node, level: usize, after_dash: bool) {
    if let Some(tag) = &node.tag {
        if !after_dash {
            out.push(' ');
        }
        out.push_str(tag);
    }
    if is_block_collection(node) && (node.tag.is_some() || !after_dash) {
        out.push('\n');
        indent(out, level);
    } else if node.tag.is_some() || !after_dash {
        out.push(' ');
    }
    write_block_body(out, node, level);
}
