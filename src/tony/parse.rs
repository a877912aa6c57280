//! The parser: tokens to [`Node`]s, for block style, bracketed style and JSON.
//!
//! A recursive-descent parser over any [`TokenSource`] that pulls tokens as it needs them and
//! holds at most two of lookahead, so parsing from a stream never collects the token list.
//! Nesting is bounded by [`MAX_DEPTH`]: deeper input is an error, not a stack overflow.

use std::collections::VecDeque;
use std::sync::Arc;

use super::annotate::{Annotations, Recorder};
use super::error::ParseError;
use super::ir::{Key, Node, Value};
use super::kpath::Segment;
use super::lex::{Lexer, Pos, Token, TokenKind, TokenSource};
use super::object::Object;
use super::storable::{is_merge_value, object_problem, Problem};

/// Deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 256;

/// Parses one Tony document (block or bracketed style, or JSON).
pub fn parse(text: &str) -> Result<Node, ParseError> {
    if let Some(node) = super::fast::parse_bracketed(text) {
        return Ok(node);
    }
    parse_from_token_source(Lexer::new(text.as_bytes()))
}

/// Parses every document of a stream: documents separated by `---` lines, and bracketed
/// documents (`{...}` or `[...]`, tagged or not) one after another, each starting a line at
/// column 1 (a stream like the original's session scripts). An empty input has no documents.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, ParseError> {
    let mut parser = Parser::new(Lexer::new(text.as_bytes()));
    parser.stream = true;
    let mut docs = Vec::new();
    while let Some(doc) = parser.document()? {
        docs.push(doc);
    }
    Ok(docs)
}

/// Parses exactly one document from `source`, pulling tokens incrementally.
pub fn parse_from_token_source<S: TokenSource>(source: S) -> Result<Node, ParseError> {
    let mut parser = Parser::new(source);
    let doc = parser.document()?.unwrap_or_else(Node::null);
    if let Some(extra) = parser.peek(0)? {
        let pos = extra.pos;
        return Err(ParseError::new(pos, "expected the end of the document"));
    }
    Ok(doc)
}

/// Parses exactly one document from `source`, noting its comments and folded strings.
pub(crate) fn parse_recording<S: TokenSource>(
    source: S,
) -> Result<(Node, Annotations), ParseError> {
    let mut parser = Parser::new(source);
    parser.recorder = Some(Box::default());
    let doc = parser.document()?.unwrap_or_else(Node::null);
    if let Some(extra) = parser.peek(0)? {
        let pos = extra.pos;
        return Err(ParseError::new(pos, "expected the end of the document"));
    }
    let notes = parser.recorder.take().unwrap_or_default().finish();
    Ok((doc, notes))
}

/// What a parse accepts beyond what a store can hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Keep an object's repeated keys, as the original does (a lookup then finds the first),
    /// instead of refusing them: for tools that reproduce a file, like `tonystore tony fmt`.
    /// A store refuses such a value at commit ([`check_storable`](super::check_storable)).
    pub keep_duplicate_keys: bool,
}

impl ParseOptions {
    /// The options with repeated keys kept (see [`ParseOptions::keep_duplicate_keys`]).
    pub fn keeping_duplicate_keys() -> Self {
        ParseOptions {
            keep_duplicate_keys: true,
        }
    }
}

/// [`parse_documents`], noting each document's comments and folded strings.
pub(crate) fn parse_documents_recording<S: TokenSource>(
    source: S,
    options: ParseOptions,
) -> Result<Vec<(Node, Annotations)>, ParseError> {
    let mut parser = Parser::new(source);
    parser.stream = true;
    parser.options = options;
    parser.recorder = Some(Box::default());
    let mut docs = Vec::new();
    while let Some(doc) = parser.document()? {
        docs.push(doc);
    }
    let mut recorder = parser.recorder.take().unwrap_or_default();
    recorder.truncate_documents(docs.len());
    let notes = recorder.finish_documents();
    let mut notes = notes.into_iter();
    Ok(docs
        .into_iter()
        .map(|doc| (doc, notes.next().unwrap_or_default()))
        .collect())
}

/// Where a value is being parsed.
#[derive(Clone, Copy)]
struct Ctx {
    /// Inside `{}`/`[]`: indentation does not matter.
    bracketed: bool,
    /// Block style: column (0-based) of the enclosing construct; a value on a new line must be
    /// indented more. -1 at the top level.
    parent_col: i64,
    /// The value of a block object's key: a compact block array may sit at the key's column.
    object_value: bool,
}

struct Parser<S> {
    source: S,
    lookahead: VecDeque<Token>,
    depth: usize,
    last_pos: Pos,
    /// Set when comments and folded strings are kept (see [`parse_recording`]).
    recorder: Option<Box<Recorder>>,
    /// Reading a stream: a bracketed document may follow another on a new line.
    stream: bool,
    options: ParseOptions,
}

fn col0(t: &Token) -> i64 {
    i64::from(t.pos.col.saturating_sub(1))
}

fn is_scalar_key(kind: &TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Literal(_)
            | TokenKind::Quoted(_)
            | TokenKind::Int(_)
            | TokenKind::Null
            | TokenKind::True
            | TokenKind::False
            | TokenKind::MergeKey
    )
}

impl<S: TokenSource> Parser<S> {
    fn new(source: S) -> Self {
        Parser {
            source,
            lookahead: VecDeque::with_capacity(2),
            depth: 0,
            last_pos: Pos {
                offset: 0,
                line: 1,
                col: 1,
            },
            recorder: None,
            stream: false,
            options: ParseOptions::default(),
        }
    }

    /// The `k`-th upcoming token (comments skipped), without consuming it.
    fn peek(&mut self, k: usize) -> Result<Option<&Token>, ParseError> {
        while self.lookahead.len() <= k {
            match self.source.next_token()? {
                Some(Token {
                    kind: TokenKind::Comment(text),
                    pos,
                    line_start,
                }) => {
                    if let Some(recorder) = &mut self.recorder {
                        recorder.comment(pos, line_start, &text);
                    }
                }
                Some(t) => self.lookahead.push_back(t),
                None => return Ok(None),
            }
        }
        Ok(self.lookahead.get(k))
    }

    fn next(&mut self) -> Result<Option<Token>, ParseError> {
        self.peek(0)?;
        let t = self.lookahead.pop_front();
        if let Some(t) = &t {
            self.last_pos = t.pos;
        }
        Ok(t)
    }

    fn eof_error(&self, what: &str) -> ParseError {
        ParseError::new(
            self.last_pos,
            format!("unexpected end of input: expected {what}"),
        )
    }

    /// The next token, which the caller has already peeked (`what` names it for the error
    /// that cannot happen).
    fn peeked(&mut self, what: &str) -> Result<&Token, ParseError> {
        self.peek(0)?;
        match self.lookahead.front() {
            Some(t) => Ok(t),
            None => Err(self.eof_error(what)),
        }
    }

    fn expect_next(&mut self, what: &str) -> Result<Token, ParseError> {
        self.next()?.ok_or_else(|| self.eof_error(what))
    }

    /// Notes that the node at the current path starts at `pos` (when recording).
    fn note_start(&mut self, pos: Pos) {
        if let Some(recorder) = &mut self.recorder {
            recorder.start(pos);
        }
    }

    /// Enters child `segment` of the current path (when recording).
    fn note_enter(&mut self, segment: impl FnOnce() -> Segment) {
        if let Some(recorder) = &mut self.recorder {
            recorder.push(segment());
        }
    }

    /// Leaves the current child (when recording).
    fn note_leave(&mut self) {
        if let Some(recorder) = &mut self.recorder {
            recorder.pop();
        }
    }

    /// Whether the upcoming tokens are a key: a scalar followed by `:`.
    fn at_key(&mut self) -> Result<bool, ParseError> {
        let is_key = matches!(self.peek(0)?, Some(t) if is_scalar_key(&t.kind));
        Ok(is_key
            && matches!(
                self.peek(1)?,
                Some(Token {
                    kind: TokenKind::Colon,
                    ..
                })
            ))
    }

    /// The next document of a stream, or `None` after the last.
    fn document(&mut self) -> Result<Option<Node>, ParseError> {
        let mut saw_separator = false;
        if matches!(
            self.peek(0)?,
            Some(Token {
                kind: TokenKind::DocSep,
                ..
            })
        ) {
            self.next()?;
            saw_separator = true;
        }
        let first_line = match self.peek(0)? {
            Some(t) => t.pos.line,
            None => self.last_pos.line,
        };
        if let Some(recorder) = &mut self.recorder {
            recorder.begin_document(first_line);
        }
        match self.peek(0)? {
            None => return Ok(saw_separator.then(Node::null)),
            Some(Token {
                kind: TokenKind::DocSep,
                ..
            }) => return Ok(Some(Node::null())),
            Some(t) => {
                let pos = t.pos;
                self.note_start(pos);
            }
        }
        let start = self.peek(0)?.map_or(0, |t| t.pos.offset);
        let stream = self.stream;
        let bracketed = stream && self.at_bracketed()?;
        let node = self.value(Ctx {
            bracketed: false,
            parent_col: -1,
            object_value: false,
        })?;
        match self.peek(0)? {
            None
            | Some(Token {
                kind: TokenKind::DocSep,
                ..
            }) => Ok(Some(node)),
            // A stream of bracketed (or scalar) documents, one a line: the next one starts a
            // line at column 1. A block collection is never followed by another document
            // without `---`.
            Some(t)
                if stream
                    && (bracketed || !matches!(node.value, Value::Array(_) | Value::Object(_)))
                    && t.line_start
                    && col0(t) == 0
                    // The document read something (a null read from nothing is no progress).
                    && t.pos.offset > start =>
            {
                Ok(Some(node))
            }
            Some(t) => {
                let pos = t.pos;
                Err(ParseError::new(
                    pos,
                    "unexpected token after the value (bad indentation?)",
                ))
            }
        }
    }

    /// Whether the upcoming value is bracketed (`{`/`[`, perhaps after a tag on its line).
    fn at_bracketed(&mut self) -> Result<bool, ParseError> {
        let open = |t: Option<&Token>| {
            matches!(
                t,
                Some(Token {
                    kind: TokenKind::LCurl | TokenKind::LSquare,
                    ..
                })
            )
        };
        if open(self.peek(0)?) {
            return Ok(true);
        }
        let tagged = matches!(
            self.peek(0)?,
            Some(Token {
                kind: TokenKind::Tag(_),
                ..
            })
        );
        Ok(tagged && matches!(self.peek(1)?, Some(t) if !t.line_start) && open(self.peek(1)?))
    }

    fn enter(&mut self, pos: Pos) -> Result<(), ParseError> {
        self.depth = self.depth.saturating_add(1);
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(
                pos,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// Whether the next token can start the value expected in `ctx` (else the value is null).
    fn value_follows(&mut self, ctx: Ctx) -> Result<bool, ParseError> {
        let Some(t) = self.peek(0)? else {
            return Ok(false);
        };
        Ok(match t.kind {
            TokenKind::Comma
            | TokenKind::RCurl
            | TokenKind::RSquare
            | TokenKind::DocSep
            | TokenKind::Colon => false,
            _ if ctx.bracketed => true,
            _ => {
                !t.line_start
                    || col0(t) > ctx.parent_col
                    || (ctx.object_value
                        && t.kind == TokenKind::ArrayElt
                        && col0(t) == ctx.parent_col)
                    // As in the original, a bracketed value on the line after its key may sit
                    // at any column (brackets, not indentation, delimit it).
                    || (ctx.object_value
                        && matches!(t.kind, TokenKind::LCurl | TokenKind::LSquare))
            }
        })
    }

    fn value(&mut self, ctx: Ctx) -> Result<Node, ParseError> {
        let mut tag = None;
        let mut tag_starts_line_at = None;
        if let Some(Token {
            kind: TokenKind::Tag(_),
            ..
        }) = self.peek(0)?
        {
            let Some(Token {
                kind: TokenKind::Tag(t),
                pos,
                line_start,
            }) = self.next()?
            else {
                unreachable!()
            };
            tag = Some(t);
            tag_starts_line_at = line_start.then_some(pos);
        }
        let same_line = |t: Option<&Token>| t.is_some_and(|t| !t.line_start);
        let mut node = match tag_starts_line_at {
            // `!tag a: 1` on the first line of a block map tags the map, which starts at the tag.
            Some(pos) if !ctx.bracketed && same_line(self.peek(0)?) && self.at_key()? => {
                self.block_object(i64::from(pos.col.saturating_sub(1)))?
            }
            _ if self.value_follows(ctx)? => self.untagged_value(ctx)?,
            _ => Node::null(),
        };
        if let Some(t) = tag {
            if node.tag.is_some() {
                return Err(ParseError::new(
                    self.last_pos,
                    "a value may carry only one tag",
                ));
            }
            node.tag = Some(Arc::from(t));
        }
        Ok(node)
    }

    fn untagged_value(&mut self, ctx: Ctx) -> Result<Node, ParseError> {
        if !ctx.bracketed && self.at_key()? {
            let col = col0(self.peeked("a key")?);
            return self.block_object(col);
        }
        let t = self.expect_next("a value")?;
        match t.kind {
            TokenKind::LCurl => self.bracketed_object(t.pos),
            TokenKind::LSquare => self.bracketed_array(t.pos),
            TokenKind::ArrayElt if !ctx.bracketed => self.block_array(t),
            TokenKind::Quoted(s) => self.folded(s, ctx),
            TokenKind::Tag(_) => Err(ParseError::new(t.pos, "a value may carry only one tag")),
            kind => scalar(kind).ok_or_else(|| ParseError::new(t.pos, "expected a value")),
        }
    }

    /// Joins quoted strings that continue on the following lines.
    fn folded(&mut self, first: String, ctx: Ctx) -> Result<Node, ParseError> {
        let mut text = first;
        let mut pieces: Vec<String> = Vec::new();
        loop {
            // In a stream, a quoted string at column 1 starts the next document (a stream of
            // scalar documents, one a line); elsewhere it continues a top-level string.
            let stream = self.stream;
            let continues = matches!(self.peek(0)?, Some(t) if matches!(t.kind, TokenKind::Quoted(_))
                && t.line_start && (ctx.bracketed || col0(t) > ctx.parent_col)
                && !(stream && !ctx.bracketed && ctx.parent_col < 0 && col0(t) == 0));
            if !continues || self.at_key()? {
                if let (Some(recorder), false) = (&mut self.recorder, pieces.is_empty()) {
                    recorder.folded(pieces);
                }
                return Ok(Node::string(&text));
            }
            let Some(Token {
                kind: TokenKind::Quoted(more),
                ..
            }) = self.next()?
            else {
                unreachable!()
            };
            if self.recorder.is_some() {
                if pieces.is_empty() {
                    pieces.push(text.clone());
                }
                pieces.push(more.clone());
            }
            text.push_str(&more);
        }
    }

    fn key(&mut self) -> Result<(Key, Pos), ParseError> {
        let t = self.expect_next("a key")?;
        let key =
            match t.kind {
                TokenKind::Literal(s) | TokenKind::Quoted(s) => Key::str(&s),
                TokenKind::Int(i) => Key::Int(u32::try_from(i).map_err(|_| {
                    ParseError::new(t.pos, "integer keys must be in 0..=4294967295")
                })?),
                TokenKind::Null => Key::str("null"),
                TokenKind::True => Key::str("true"),
                TokenKind::False => Key::str("false"),
                TokenKind::MergeKey => Key::Merge,
                TokenKind::Tag(_) => return Err(ParseError::new(t.pos, "keys cannot be tagged")),
                _ => return Err(ParseError::new(t.pos, "expected a key")),
            };
        Ok((key, t.pos))
    }

    fn block_object(&mut self, col: i64) -> Result<Node, ParseError> {
        let start = self.peeked("a key")?.pos;
        self.enter(start)?;
        let mut entries = Vec::new();
        loop {
            let (key, pos) = self.key()?;
            self.note_enter(|| Segment::of_any_key(&key));
            self.note_start(pos);
            self.next()?; // the colon
            let ctx = Ctx {
                bracketed: false,
                parent_col: col,
                object_value: true,
            };
            let value = match self.peek(0)? {
                Some(t)
                    if t.line_start
                        && col0(t) > col
                        && col0(t) != col.saturating_add(2)
                        && !matches!(t.kind, TokenKind::Quoted(_)) =>
                {
                    let pos = t.pos;
                    return Err(ParseError::new(
                        pos,
                        "indent nested values by exactly 2 spaces",
                    ));
                }
                _ => self.value(ctx)?,
            };
            self.note_leave();
            if key == Key::Merge && !is_merge_value(&value) {
                return Err(ParseError::new(pos, Problem::MergeValue.to_string()));
            }
            entries.push((key, value));
            match self.peek(0)? {
                None => break,
                Some(t) if t.kind == TokenKind::DocSep => break,
                Some(t) if !t.line_start => {
                    let pos = t.pos;
                    return Err(ParseError::new(pos, "expected a new line after the value"));
                }
                Some(t) if col0(t) < col => break,
                Some(t) if col0(t) > col => {
                    let pos = t.pos;
                    return Err(ParseError::new(pos, "unexpected indentation"));
                }
                Some(t) if t.kind == TokenKind::ArrayElt => break,
                Some(_) => {
                    if !self.at_key()? {
                        let pos = self.peeked("a key")?.pos;
                        return Err(ParseError::new(
                            pos,
                            "expected a key (name followed by ':')",
                        ));
                    }
                }
            }
        }
        self.depth = self.depth.saturating_sub(1);
        finish_object(entries, start, self.options.keep_duplicate_keys)
    }

    fn block_array(&mut self, first: Token) -> Result<Node, ParseError> {
        self.enter(first.pos)?;
        let col = col0(&first);
        let mut items = Vec::new();
        let mut elt = first;
        loop {
            let index = items.len() as u64;
            self.note_enter(|| Segment::Index(index));
            self.note_start(elt.pos);
            let ctx = Ctx {
                bracketed: false,
                parent_col: col,
                object_value: false,
            };
            let value = match self.peek(0)? {
                Some(t)
                    if t.line_start
                        && col0(t) > col
                        && col0(t) != col.saturating_add(2)
                        && !matches!(t.kind, TokenKind::Quoted(_)) =>
                {
                    let pos = t.pos;
                    return Err(ParseError::new(
                        pos,
                        "indent nested values by exactly 2 spaces",
                    ));
                }
                _ => self.value(ctx)?,
            };
            self.note_leave();
            items.push(value);
            match self.peek(0)? {
                Some(t) if t.line_start && col0(t) == col && t.kind == TokenKind::ArrayElt => {
                    elt = self.expect_next("an array element")?;
                }
                Some(t) if t.line_start && col0(t) > col => {
                    let pos = t.pos;
                    return Err(ParseError::new(pos, "unexpected indentation"));
                }
                Some(t) if !t.line_start && !matches!(t.kind, TokenKind::DocSep) => {
                    let pos = t.pos;
                    return Err(ParseError::new(
                        pos,
                        "expected a new line after the array element",
                    ));
                }
                _ => break,
            }
        }
        self.depth = self.depth.saturating_sub(1);
        Ok(Node::array(items))
    }

    /// Consumes an optional comma between bracketed items; rejects two in a row.
    fn separator(&mut self) -> Result<(), ParseError> {
        if matches!(
            self.peek(0)?,
            Some(Token {
                kind: TokenKind::Comma,
                ..
            })
        ) {
            self.next()?;
            if let Some(t) = self.peek(0)? {
                if t.kind == TokenKind::Comma {
                    let pos = t.pos;
                    return Err(ParseError::new(pos, "two commas in a row"));
                }
            }
            return Ok(());
        }
        Ok(())
    }

    fn leading_comma_check(&mut self) -> Result<(), ParseError> {
        if let Some(t) = self.peek(0)? {
            if t.kind == TokenKind::Comma {
                let pos = t.pos;
                return Err(ParseError::new(pos, "expected a value before ','"));
            }
        }
        Ok(())
    }

    fn bracketed_object(&mut self, open: Pos) -> Result<Node, ParseError> {
        self.enter(open)?;
        let mut entries = Vec::new();
        self.leading_comma_check()?;
        let ctx = Ctx {
            bracketed: true,
            parent_col: -1,
            object_value: false,
        };
        loop {
            match self.peek(0)? {
                None => return Err(ParseError::new(open, "unclosed '{'")),
                Some(t) if t.kind == TokenKind::RCurl => {
                    self.next()?;
                    break;
                }
                Some(_) => {}
            }
            let (key, pos) = self.key()?;
            self.note_enter(|| Segment::of_any_key(&key));
            self.note_start(pos);
            let value = if matches!(
                self.peek(0)?,
                Some(Token {
                    kind: TokenKind::Colon,
                    ..
                })
            ) {
                self.next()?;
                self.value(ctx)?
            } else {
                // A key set member: `{a b}` or `{a !t b}`.
                let mut null = Node::null();
                if let Some(Token {
                    kind: TokenKind::Tag(_),
                    ..
                }) = self.peek(0)?
                {
                    let Some(Token {
                        kind: TokenKind::Tag(t),
                        ..
                    }) = self.next()?
                    else {
                        unreachable!()
                    };
                    null.tag = Some(Arc::from(t));
                }
                null
            };
            self.note_leave();
            if key == Key::Merge && !is_merge_value(&value) {
                return Err(ParseError::new(pos, Problem::MergeValue.to_string()));
            }
            entries.push((key, value));
            self.separator()?;
        }
        self.depth = self.depth.saturating_sub(1);
        finish_object(entries, open, self.options.keep_duplicate_keys)
    }

    fn bracketed_array(&mut self, open: Pos) -> Result<Node, ParseError> {
        self.enter(open)?;
        let mut items = Vec::new();
        self.leading_comma_check()?;
        let ctx = Ctx {
            bracketed: true,
            parent_col: -1,
            object_value: false,
        };
        loop {
            match self.peek(0)? {
                None => return Err(ParseError::new(open, "unclosed '['")),
                Some(t) if t.kind == TokenKind::RSquare => {
                    self.next()?;
                    break;
                }
                Some(t)
                    if matches!(
                        t.kind,
                        TokenKind::Colon | TokenKind::RCurl | TokenKind::DocSep
                    ) =>
                {
                    let pos = t.pos;
                    return Err(ParseError::new(pos, "expected a value or ']'"));
                }
                Some(_) => {}
            }
            let index = items.len() as u64;
            self.note_enter(|| Segment::Index(index));
            if let Some(t) = self.peek(0)? {
                let pos = t.pos;
                self.note_start(pos);
            }
            items.push(self.value(ctx)?);
            self.note_leave();
            self.separator()?;
        }
        self.depth = self.depth.saturating_sub(1);
        Ok(Node::array(items))
    }
}

/// The node of a scalar token, if it is one.
fn scalar(kind: TokenKind) -> Option<Node> {
    Some(match kind {
        TokenKind::Null => Node::null(),
        TokenKind::True => Node::bool(true),
        TokenKind::False => Node::bool(false),
        TokenKind::Int(i) => Node::int(i),
        TokenKind::Float(f) => Node::new(Value::Float(f)),
        TokenKind::Literal(s) | TokenKind::Quoted(s) | TokenKind::BlockLiteral(s) => {
            Node::string(&s)
        }
        _ => return None,
    })
}

/// Builds an object, refusing what [`object_problem`] names: a mix of integer and string
/// keys, a merge key whose value is not a string, and duplicate keys unless they are kept.
pub(crate) fn finish_object(
    entries: Vec<(Key, Node)>,
    at: Pos,
    keep_duplicates: bool,
) -> Result<Node, ParseError> {
    let object = Object::from(entries);
    if let Some(problem) = object_problem(&object, keep_duplicates) {
        return Err(ParseError::new(at, problem.to_string()));
    }
    Ok(Node::new(Value::Object(Arc::new(object))))
}
