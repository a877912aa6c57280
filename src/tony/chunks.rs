//! [`ChunkEncoder`]: encodes a value incrementally, a bounded chunk of text at a time.

use super::encode::write_scalar;
use super::ir::{Node, Value};
use super::stream::{Event, NodeEvents, TokenSink};

/// The text format a [`ChunkEncoder`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextFormat {
    /// Tony wire form (tags kept).
    Wire,
    /// JSON (tags dropped; integer keys become strings; non-finite floats become `null`).
    Json,
}

/// Writes a value's text in chunks, so a consumer can stream it without holding all the text:
/// the value's events ([`NodeEvents`]) through a [`TokenSink`] or a [`JsonSink`].
pub struct ChunkEncoder {
    events: NodeEvents,
    out: Out,
    done: bool,
}

enum Out {
    Wire(TokenSink<'static, Vec<u8>>),
    Json(JsonSink),
}

impl Out {
    fn pending(&self) -> usize {
        match self {
            Out::Wire(sink) => sink.get_ref().len(),
            Out::Json(sink) => sink.pending().len(),
        }
    }
}

impl ChunkEncoder {
    /// An encoder of `node` in `format`.
    pub fn new(node: Node, format: TextFormat) -> Self {
        let out = match format {
            TextFormat::Wire => Out::Wire(TokenSink::new(Vec::new())),
            TextFormat::Json => Out::Json(JsonSink::new()),
        };
        ChunkEncoder {
            events: NodeEvents::new(node),
            out,
            done: false,
        }
    }

    /// The next chunk of at least `min_bytes` bytes (less only for the last), or `None` when done.
    pub fn next_chunk(&mut self, min_bytes: usize) -> Option<String> {
        while !self.done && self.out.pending() < min_bytes {
            match (self.events.next(), &mut self.out) {
                (None, _) => self.done = true,
                (Some(event), Out::Wire(sink)) => {
                    // The sink writes to a `Vec<u8>`, which cannot fail.
                    #[allow(clippy::expect_used)]
                    sink.write(&event).expect("writing to memory");
                }
                (Some(event), Out::Json(sink)) => sink.write(&event),
            }
        }
        let chunk = match &mut self.out {
            Out::Wire(sink) => String::from_utf8(sink.take_output())
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            Out::Json(sink) => sink.take_output(),
        };
        (!chunk.is_empty()).then_some(chunk)
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_json_scalar(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => write_json_string(out, s),
        Value::Float(f) if !f.value.is_finite() => out.push_str("null"),
        Value::Float(f) => out.push_str(&format!("{}", f.value)),
        other => write_scalar(out, other),
    }
}

/// Writes events as JSON text, as [`ChunkEncoder`] writes values in [`TextFormat::Json`]:
/// for values that arrive as events (streamed from a log) rather than built.
#[derive(Default)]
pub struct JsonSink {
    out: String,
    /// Per open container: whether it is an array, and how many members it has so far.
    stack: Vec<(bool, usize)>,
}

impl JsonSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The text written and not yet taken.
    pub fn pending(&self) -> &str {
        &self.out
    }

    /// Takes the text written so far.
    pub fn take_output(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    /// Writes one event.
    pub fn write(&mut self, event: &Event) {
        let counts_here = match (self.stack.last_mut(), event) {
            (Some((true, count)), e) if e.starts_node() => Some(count),
            (Some((false, count)), Event::Key(_)) => Some(count),
            _ => None,
        };
        if let Some(count) = counts_here {
            if *count > 0 {
                self.out.push(',');
            }
            *count = count.saturating_add(1);
        }
        match event {
            Event::BeginObject(_) => {
                self.out.push('{');
                self.stack.push((false, 0));
            }
            Event::BeginArray(_) => {
                self.out.push('[');
                self.stack.push((true, 0));
            }
            Event::EndObject => {
                self.out.push('}');
                self.stack.pop();
            }
            Event::EndArray => {
                self.out.push(']');
                self.stack.pop();
            }
            Event::Key(key) => {
                write_json_string(&mut self.out, &key.to_text());
                self.out.push(':');
            }
            Event::Scalar(node) => write_json_scalar(&mut self.out, &node.value),
        }
    }
}

/// The whole text of `node` in `format`.
pub fn encode_text(node: &Node, format: TextFormat) -> String {
    let mut encoder = ChunkEncoder::new(node.clone(), format);
    let mut out = String::new();
    while let Some(chunk) = encoder.next_chunk(1 << 16) {
        out.push_str(&chunk);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // a failing test panics
mod tests {
    use super::*;
    use crate::tony::{encode_wire, parse};

    #[test]
    fn chunks_concatenate_to_the_wire_form_and_json() {
        let node = parse("{a: !t [1, 2.5, \"x y\"], b: {c: null}}").unwrap();
        let mut encoder = ChunkEncoder::new(node.clone(), TextFormat::Wire);
        let mut pieces = Vec::new();
        while let Some(chunk) = encoder.next_chunk(3) {
            pieces.push(chunk);
        }
        assert!(pieces.len() > 3);
        assert_eq!(pieces.concat(), encode_wire(&node));
        assert_eq!(
            encode_text(&node, TextFormat::Json),
            r#"{"a":[1,2.5,"x y"],"b":{"c":null}}"#
        );
    }
}
