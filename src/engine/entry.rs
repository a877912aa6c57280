//! [`LogEntry`]: one record of a log, and its Tony form.

use std::sync::Arc;

use super::error::{Result, StoreError};
use crate::kpath::{KPath, Segment};
use crate::storage::StorageError;
use crate::tony::quote::{needs_quote, write_quoted};
use crate::tony::ParseError;
use crate::tony::{parse, write_wire, Key, Node, Value};

/// Where an entry's patch ends: the subtree at `path` is determined by the entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End {
    /// The path.
    pub path: KPath,
    /// Whether the patch there yields the same result whatever the state was (a replacement, an
    /// insert or a delete) — then a read need not know the earlier state.
    pub independent: bool,
}

/// One log record: a commit (level 0), or a compacted run of commits (level >= 1).
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// Level 0 for a commit; `L >= 1` for an entry standing for commits `(start, commit]`.
    pub level: u8,
    /// For level >= 1, the commit before the first one covered.
    pub start: u64,
    /// The commit number (for level >= 1, the last commit covered).
    pub commit: u64,
    /// The transaction sequence number (level 0).
    pub tx: u64,
    /// Milliseconds since the Unix epoch when the commit was made (level 0).
    pub timestamp: u64,
    /// Where the patch ends (see [`End`]); stored so that rebuilding the index needs no replay.
    pub ends: Vec<End>,
    /// The root patch.
    pub patch: Node,
}

fn int(n: u64) -> Node {
    Node::int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Calls `each` with every end's path text (unquoted) and independence, in order. Ends are
/// kept in path order and share most of their segments: each path's text reuses the text of
/// the segments it shares with the one before (`bounds[k]`: the text's length after `k`
/// segments), so a record and its members cost one path's writing, not one each.
fn for_each_end_text(ends: &[End], mut each: impl FnMut(&str, bool)) {
    let mut text = String::with_capacity(64);
    let mut bounds = Vec::with_capacity(8);
    bounds.push(0usize);
    let mut previous: &[Segment] = &[];
    for end in ends {
        let segments = end.path.segments();
        let shared = previous
            .iter()
            .zip(segments)
            .take_while(|(a, b)| a == b)
            .count();
        text.truncate(bounds.get(shared).copied().unwrap_or_default());
        bounds.truncate(shared.saturating_add(1));
        for (depth, segment) in segments.iter().enumerate().skip(shared) {
            segment.write(&mut text, depth == 0);
            bounds.push(text.len());
        }
        previous = segments;
        each(&text, end.independent);
    }
}

impl LogEntry {
    /// The entry as a Tony value tagged `!entry`.
    pub fn to_tony(&self) -> Node {
        let mut fields = Vec::new();
        if self.level > 0 {
            fields.push((Key::str("level"), int(u64::from(self.level))));
            fields.push((Key::str("start"), int(self.start)));
        }
        fields.push((Key::str("commit"), int(self.commit)));
        if self.level == 0 {
            fields.push((Key::str("tx"), int(self.tx)));
            fields.push((Key::str("time"), int(self.timestamp)));
        }
        let mut ends = Vec::with_capacity(self.ends.len());
        for_each_end_text(&self.ends, |text, independent| {
            ends.push((Key::Str(Arc::from(text)), Node::bool(independent)));
        });
        fields.push((Key::str("ends"), Node::object(ends)));
        fields.push((Key::str("patch"), self.patch.clone()));
        Node::object(fields).with_tag("!entry")
    }

    /// The entry's wire form: what a log frame holds. Byte for byte
    /// `encode_wire(&self.to_tony())`, written directly (no value is built for the header and
    /// the ends).
    pub fn to_wire(&self) -> String {
        // Room for a small entry (a commit of a record is about 250 bytes): growing the
        // string copied it twice.
        let mut out = String::with_capacity(512);
        let number = |out: &mut String, name: &str, n: u64| {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(itoa::Buffer::new().format(i64::try_from(n).unwrap_or(i64::MAX)));
            out.push(' ');
        };
        out.push_str("!entry {");
        if self.level > 0 {
            number(&mut out, "level", u64::from(self.level));
            number(&mut out, "start", self.start);
        }
        number(&mut out, "commit", self.commit);
        if self.level == 0 {
            number(&mut out, "tx", self.tx);
            number(&mut out, "time", self.timestamp);
        }
        out.push_str("ends: {");
        let mut first = true;
        for_each_end_text(&self.ends, |text, independent| {
            if !first {
                out.push(' ');
            }
            first = false;
            if needs_quote(text) {
                write_quoted(&mut out, text);
            } else {
                out.push_str(text);
            }
            out.push_str(if independent { ": true" } else { ": false" });
        });
        out.push_str("} patch: ");
        write_wire(&mut out, &self.patch);
        out.push('}');
        out
    }

    /// Reads an entry back from its Tony value.
    pub fn from_tony(node: &Node) -> Result<LogEntry, String> {
        if node.tag() != Some("!entry") {
            return Err("not tagged !entry".into());
        }
        let field = |name: &str| node.get_field(&Key::str(name));
        let number = |name: &str| -> Result<u64, String> {
            match field(name).map(|n| &n.value) {
                Some(Value::Int(i)) if *i >= 0 => Ok(*i as u64),
                Some(_) => Err(format!("{name} is not a non-negative integer")),
                None => Err(format!("missing {name}")),
            }
        };
        let optional = |name: &str| {
            if field(name).is_some() {
                number(name).map(Some)
            } else {
                Ok(None)
            }
        };
        let level = optional("level")?.unwrap_or(0);
        let level = u8::try_from(level).map_err(|_| "level out of range".to_owned())?;
        let commit = number("commit")?;
        let ends = match field("ends").map(|n| &n.value) {
            Some(Value::Object(entries)) => entries
                .iter()
                .map(|(k, v)| {
                    let Key::Str(path) = k else {
                        return Err("ends keys are paths".to_owned());
                    };
                    let path = KPath::parse(path).map_err(|e| e.to_string())?;
                    match v.value {
                        Value::Bool(independent) => Ok(End { path, independent }),
                        _ => Err("ends values are booleans".to_owned()),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err("missing ends".into()),
        };
        let entry = LogEntry {
            level,
            start: if level > 0 {
                number("start")?
            } else {
                commit.saturating_sub(1)
            },
            commit,
            tx: optional("tx")?.unwrap_or(0),
            timestamp: optional("time")?.unwrap_or(0),
            ends,
            patch: field("patch").ok_or("missing patch")?.clone(),
        };
        Ok(entry)
    }

    /// Only the patch of an entry's wire form (what a read needs): its ends are checked to be
    /// present but not parsed as paths.
    pub fn patch_from_wire(text: &str) -> Result<Node, String> {
        let node = parse(text).map_err(|e| e.to_string())?;
        if node.tag() != Some("!entry") {
            return Err("not tagged !entry".into());
        }
        if !matches!(
            node.get_field(&Key::str("ends")).map(|n| &n.value),
            Some(Value::Object(_))
        ) {
            return Err("missing ends".into());
        }
        node.get_field(&Key::str("patch"))
            .cloned()
            .ok_or_else(|| "missing patch".into())
    }

    /// Parses an entry from its wire form.
    pub fn from_wire(text: &str) -> Result<LogEntry, String> {
        let node = parse(text).map_err(|e| e.to_string())?;
        Self::from_tony(&node)
    }
}

/// A failure reading the text of the entry at `offset` of `file`: a read that failed stays an
/// I/O error, while bytes that fail their chunk checksum or do not parse are corruption.
pub(crate) fn unreadable(file: &str, offset: u64, e: ParseError) -> StoreError {
    match e.read_failure {
        Some(kind) if kind != std::io::ErrorKind::InvalidData => {
            StoreError::Storage(StorageError::Io {
                file: file.to_owned(),
                source: std::io::Error::new(kind, e.message),
            })
        }
        _ => corrupt(file, offset, format!("bad entry text: {e}")),
    }
}

/// Turns a decoding problem into a [`StoreError::Corrupt`] naming the file and offset.
pub(crate) fn corrupt(file: &str, offset: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        file: file.to_owned(),
        offset,
        reason: reason.into(),
    }
}
