//! Comments and folded strings: what a person wrote beyond the value.
//!
//! The IR ([`Node`]) holds values only, so equality, ordering and storage ignore formatting.
//! [`parse_annotated`] also returns the document's [`Annotations`], keyed by the kinded path of
//! the node each belongs to, and [`encode_block_annotated`](super::encode_block_annotated)
//! writes them back, so `tonystore tony fmt` keeps a file's comments. The wire form never
//! carries them (the storage engine ignores comments).

use std::collections::BTreeMap;

use super::error::ParseError;
use super::ir::Node;
use super::kpath::{KPath, Segment};
use super::lex::{Lexer, Pos};
use super::parse::ParseOptions;

/// The comments and folded-string pieces of a parsed document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotations {
    /// Comment lines directly above a node (text after the `#`), by the node's path.
    pub head: BTreeMap<KPath, Vec<String>>,
    /// The comment ending the line where a node starts, by the node's path.
    pub line: BTreeMap<KPath, String>,
    /// Comment lines after the last node.
    pub trailing: Vec<String>,
    /// Strings written as quoted pieces on consecutive lines (multiline folding): the pieces.
    pub folded: BTreeMap<KPath, Vec<String>>,
}

impl Annotations {
    /// Whether there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.head.is_empty()
            && self.line.is_empty()
            && self.trailing.is_empty()
            && self.folded.is_empty()
    }
}

/// Parses one document and its annotations (see the module docs).
pub fn parse_annotated(text: &str) -> Result<(Node, Annotations), ParseError> {
    super::parse::parse_recording(Lexer::new(text.as_bytes()))
}

/// Parses every document of a stream (as [`parse_documents`](super::parse_documents)) with
/// each one's annotations.
pub fn parse_documents_annotated(
    text: &str,
    options: ParseOptions,
) -> Result<Vec<(Node, Annotations)>, ParseError> {
    super::parse::parse_documents_recording(Lexer::new(text.as_bytes()), options)
}

/// A comment as the lexer met it.
struct Comment {
    line: u32,
    /// Alone on its line (a head comment) rather than after code (a line comment).
    own_line: bool,
    text: String,
}

/// What the parser notes while it parses: the path it is at, where nodes start, the comments
/// it skipped, and folded strings.
#[derive(Default)]
pub(crate) struct Recorder {
    path: Vec<Segment>,
    /// `(line, path)` of every node start, in document order.
    starts: Vec<(u32, KPath)>,
    comments: Vec<Comment>,
    /// Folded strings, one map per document.
    folded: Vec<BTreeMap<KPath, Vec<String>>>,
    /// The first line of each document.
    docs: Vec<u32>,
}

impl Recorder {
    /// Enters a child of the current node.
    pub(crate) fn push(&mut self, segment: Segment) {
        self.path.push(segment);
    }

    /// Leaves the current child.
    pub(crate) fn pop(&mut self) {
        self.path.pop();
    }

    /// The current node starts at `pos` (its key, `-`, or first token).
    pub(crate) fn start(&mut self, pos: Pos) {
        self.starts
            .push((pos.line, KPath::from_segments(self.path.clone())));
    }

    /// A comment token the parser skipped.
    pub(crate) fn comment(&mut self, pos: Pos, own_line: bool, text: &str) {
        self.comments.push(Comment {
            line: pos.line,
            own_line,
            text: text.to_owned(),
        });
    }

    /// The current node is a string folded from `pieces`.
    pub(crate) fn folded(&mut self, pieces: Vec<String>) {
        if self.folded.is_empty() {
            self.folded.push(BTreeMap::new());
        }
        if let Some(map) = self.folded.last_mut() {
            map.insert(KPath::from_segments(self.path.clone()), pieces);
        }
    }

    /// A document starts at `line`.
    pub(crate) fn begin_document(&mut self, line: u32) {
        self.docs.push(line);
        self.folded.push(BTreeMap::new());
    }

    /// Forgets documents begun after the first `n` (a stream's end begins none).
    pub(crate) fn truncate_documents(&mut self, n: usize) {
        self.docs.truncate(n);
        self.folded.truncate(n);
    }

    /// Attaches each comment to a node: one alone on its line to the first node starting after
    /// it (or to the trailing list), one after code to the last node starting on its line.
    pub(crate) fn finish(self) -> Annotations {
        self.finish_documents()
            .into_iter()
            .next()
            .unwrap_or_default()
    }

    /// [`finish`](Self::finish) for a stream: one [`Annotations`] per begun document (at
    /// least one). A comment between two documents is a head comment of the next one.
    pub(crate) fn finish_documents(self) -> Vec<Annotations> {
        let mut all: Vec<Annotations> = self
            .folded
            .into_iter()
            .map(|folded| Annotations {
                folded,
                ..Annotations::default()
            })
            .collect();
        if all.is_empty() {
            all.push(Annotations::default());
        }
        let last = all.len().saturating_sub(1);
        let docs = self.docs;
        let doc_of = |line: u32| {
            docs.partition_point(|first| *first <= line)
                .saturating_sub(1)
                .min(last)
        };
        for comment in self.comments {
            if comment.own_line {
                let next = self
                    .starts
                    .partition_point(|(line, _)| *line <= comment.line);
                match self.starts.get(next) {
                    Some((line, path)) => {
                        if let Some(notes) = all.get_mut(doc_of(*line)) {
                            notes
                                .head
                                .entry(path.clone())
                                .or_default()
                                .push(comment.text);
                        }
                    }
                    None => {
                        if let Some(notes) = all.get_mut(last) {
                            notes.trailing.push(comment.text);
                        }
                    }
                }
            } else {
                let on_or_before = self
                    .starts
                    .partition_point(|(line, _)| *line <= comment.line);
                let (doc, path) = on_or_before
                    .checked_sub(1)
                    .and_then(|i| self.starts.get(i))
                    .map_or_else(
                        || (0, KPath::root()),
                        |(line, path)| (doc_of(*line), path.clone()),
                    );
                if let Some(notes) = all.get_mut(doc) {
                    notes
                        .line
                        .entry(path)
                        .and_modify(|text| {
                            text.push_str(" #");
                            text.push_str(&comment.text);
                        })
                        .or_insert(comment.text);
                }
            }
        }
        all
    }
}
