//! The tokenizer: [`Lexer`] turns bytes from any reader into [`Token`]s, incrementally.
//!
//! The lexer holds only the bytes of the token it is reading plus a small lookahead, so its
//! buffer is bounded by the largest single token, not by the document.
// Arithmetic here cannot overflow: the buffer cursors keep `start <= end <= buf.len()`, byte
// offsets count bytes read (u64), and nesting counters move by one per bracket of input already
// read, closing only what was opened.
#![allow(clippy::arithmetic_side_effects)]

use std::io::Read;

use super::error::ParseError;
use super::ir::Float;
use super::quote::{is_literal_char, is_literal_start};

/// A position in the input. `line` and `col` are 1-based; `col` counts characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// Byte offset from the start of the input.
    pub offset: u64,
    /// Line number, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub col: u32,
}

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenKind {
    /// `{`
    LCurl,
    /// `}`
    RCurl,
    /// `[`
    LSquare,
    /// `]`
    RSquare,
    /// `,`
    Comma,
    /// `:` after a key.
    Colon,
    /// `- ` starting a block array element.
    ArrayElt,
    /// `---` separating documents.
    DocSep,
    /// `null`
    Null,
    /// `true`
    True,
    /// `false`
    False,
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number.
    Float(Float),
    /// One quoted string (consecutive ones on separate lines fold into one value).
    Quoted(String),
    /// A bare literal string.
    Literal(String),
    /// A block literal (`|`, `|-`, `|+`) with its content.
    BlockLiteral(String),
    /// A tag chain including the leading `!`.
    Tag(String),
    /// The merge key `<<`.
    MergeKey,
    /// A comment, without the `#`.
    Comment(String),
}

/// A token with where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Where it starts.
    pub pos: Pos,
    /// Whether it is the first token on its line.
    pub line_start: bool,
}

/// How many bytes are read from the underlying reader at a time.
const CHUNK: usize = 64 * 1024;

/// The state of a raw copy of canonical wire text ([`Lexer::copy_raw`]): the rest of one
/// container, or whole elements of the array the text is in. Tracks bracket depth and whether
/// the scan is inside a quoted string or a tag (whose arguments may hold any character). Bare
/// literals in canonical wire text hold no brackets or quotes.
#[derive(Debug)]
pub(crate) struct RawScan {
    depth: usize,
    state: ScanState,
    /// For an element copy: how many whole elements are still to copy.
    elements: Option<usize>,
    /// For an element copy: nothing copied yet (separators before the first are skipped).
    fresh: bool,
}

#[derive(Debug, Clone, Copy)]
enum ScanState {
    /// Between or inside bare tokens; `token_start` when the next byte starts a token.
    Plain {
        token_start: bool,
    },
    Quoted {
        quote: u8,
        escaped: bool,
    },
    Tag {
        parens: usize,
    },
}

/// What one byte does to a [`RawScan`].
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Nothing ends here.
    Continue,
    /// The byte ends an element or the container.
    EndsAfter,
    /// An element (a bare token) ended just before the byte, which is looked at again.
    EndedBefore,
    /// The byte closes the array the elements are in: stop before it.
    ArrayEnd,
}

/// Why a [`Lexer::copy_raw`] call stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RawStop {
    /// The byte budget is spent; call again.
    Budget,
    /// The container is closed, or the elements asked for are copied.
    Done,
    /// The array ended before all the elements asked for (its `]` is not consumed).
    ArrayEnd,
}

impl RawScan {
    /// A scan of the rest of a container whose opening bracket was just read.
    pub(crate) fn new() -> Self {
        RawScan {
            depth: 1,
            state: ScanState::Plain { token_start: true },
            elements: None,
            fresh: false,
        }
    }

    /// A scan of the next `n` (at least 1) whole elements of the array being read, from the
    /// start of the next element.
    pub(crate) fn elements(n: usize) -> Self {
        RawScan {
            depth: 0,
            state: ScanState::Plain { token_start: true },
            elements: Some(n),
            fresh: true,
        }
    }

    /// For an element scan, the elements still to copy; `None` for a container scan.
    pub(crate) fn elements_left(&self) -> Option<usize> {
        self.elements
    }

    /// Consumes a prefix of `bytes`: how many belong to the copy, and whether it is complete.
    fn feed(&mut self, bytes: &[u8]) -> (usize, Option<RawStop>) {
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            match self.step(b) {
                Step::Continue => i += 1,
                Step::EndsAfter => {
                    i += 1;
                    // Between elements: a separator next does not end another one.
                    self.state = ScanState::Plain { token_start: true };
                    if self.element_done() {
                        return (i, Some(RawStop::Done));
                    }
                }
                Step::EndedBefore => {
                    self.state = ScanState::Plain { token_start: true };
                    if self.element_done() {
                        return (i, Some(RawStop::Done));
                    }
                }
                Step::ArrayEnd => return (i, Some(RawStop::ArrayEnd)),
            }
        }
        (bytes.len(), None)
    }

    /// Counts a finished element (or the closed container); `true` when the copy is complete.
    fn element_done(&mut self) -> bool {
        match &mut self.elements {
            None => true,
            Some(left) => {
                *left = left.saturating_sub(1);
                *left == 0
            }
        }
    }

    /// Advances over one byte.
    fn step(&mut self, b: u8) -> Step {
        let top = self.depth == 0;
        match &mut self.state {
            ScanState::Quoted { quote, escaped } => {
                if *escaped {
                    *escaped = false;
                } else if b == b'\\' {
                    *escaped = true;
                } else if b == *quote {
                    self.state = ScanState::Plain { token_start: false };
                    if top {
                        return Step::EndsAfter;
                    }
                }
                Step::Continue
            }
            ScanState::Tag { parens } => match b {
                b'(' => {
                    *parens += 1;
                    Step::Continue
                }
                b')' if *parens > 0 => {
                    *parens -= 1;
                    Step::Continue
                }
                _ if *parens > 0 => Step::Continue,
                b' ' | b',' | b':' | b'[' | b'{' | b']' | b'}' | b'"' | b'\'' => {
                    self.state = ScanState::Plain { token_start: true };
                    self.step(b)
                }
                _ => Step::Continue,
            },
            ScanState::Plain { token_start } => match b {
                // A bare token at the top ends at a separator or the array's end.
                b' ' | b',' | b']' | b'\n' | b'\t' | b'\r' if top && !*token_start => {
                    Step::EndedBefore
                }
                b']' if top => Step::ArrayEnd,
                b'"' | b'\'' => {
                    self.state = ScanState::Quoted {
                        quote: b,
                        escaped: false,
                    };
                    Step::Continue
                }
                b'!' if *token_start => {
                    self.state = ScanState::Tag { parens: 0 };
                    Step::Continue
                }
                b'[' | b'{' => {
                    self.depth += 1;
                    *token_start = true;
                    Step::Continue
                }
                // Not canonical text: a `}` closing nothing ends the copy like `]`.
                b'}' if top => Step::ArrayEnd,
                b']' | b'}' => {
                    self.depth -= 1;
                    *token_start = false;
                    if self.depth == 0 {
                        Step::EndsAfter
                    } else {
                        Step::Continue
                    }
                }
                b' ' | b',' | b':' | b'\n' | b'\t' | b'\r' => {
                    *token_start = true;
                    Step::Continue
                }
                _ => {
                    *token_start = false;
                    Step::Continue
                }
            },
        }
    }
}

/// An incremental tokenizer over any [`Read`].
///
/// The tokenizing code is compiled once, for `Lexer<dyn Read>` (the reader is the last field, so
/// a `&mut Lexer<R>` coerces to one), not once per reader type: the reader is called only to
/// refill the 64 KiB buffer, so the dynamic call costs nothing measurable, and the wasm bundle
/// carries one tokenizer instead of one per reader (slices, log ranges).
pub struct Lexer<R: ?Sized> {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    pos: Pos,
    depth: usize,
    at_line_start: bool,
    /// Column (0-based) of the key or `- ` that a block literal on this line belongs to.
    anchor_col: Option<u32>,
    /// Column (0-based) of the latest token on this line.
    last_col: u32,
    /// Last, so that the struct can be unsized to `Lexer<dyn Read>`.
    reader: R,
}

impl<R: Read> Lexer<R> {
    /// A lexer reading from `reader`.
    pub fn new(reader: R) -> Self {
        Lexer {
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            pos: Pos {
                offset: 0,
                line: 1,
                col: 1,
            },
            depth: 0,
            at_line_start: true,
            anchor_col: None,
            last_col: 0,
            reader,
        }
    }

    /// A lexer of text that starts inside `depth` open containers (a fragment of a larger
    /// document), so their closing brackets are not unexpected.
    pub(crate) fn inside(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// The position of the next unread byte.
    pub fn position(&self) -> Pos {
        self.pos
    }

    /// The bracket nesting depth at the current position.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Bytes currently buffered (for checking that memory stays bounded).
    pub fn buffered_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// This lexer, with its reader behind a `dyn Read`: the one type the tokenizer is compiled
    /// for.
    fn as_dyn(&mut self) -> &mut Lexer<dyn Read + '_> {
        self
    }

    /// The next token, or `None` at the end of the input.
    pub fn next_token(&mut self) -> Result<Option<Token>, ParseError> {
        self.as_dyn().token()
    }

    /// Copies raw canonical wire text into `out`, at most `max` bytes per call, as `scan`
    /// says: the rest of the container whose opening bracket was the last token, or whole
    /// elements of the array being read (starting at the next element; separators before it
    /// are skipped, not copied). `scan` carries the state between calls.
    pub(crate) fn copy_raw(
        &mut self,
        scan: &mut RawScan,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<RawStop, ParseError> {
        self.as_dyn().raw(scan, out, max)
    }
}

impl Lexer<dyn Read + '_> {
    fn error(&self, at: Pos, message: impl Into<String>) -> ParseError {
        ParseError::new(at, message)
    }

    /// Ensures at least `n` bytes are buffered unless the input ends first.
    fn fill(&mut self, n: usize) -> Result<(), ParseError> {
        while self.end - self.start < n && !self.eof {
            if self.start > 0 && self.start == self.end {
                self.start = 0;
                self.end = 0;
            } else if self.start > CHUNK {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() < self.end + CHUNK {
                self.buf.resize(self.end + CHUNK, 0);
            }
            let read = self
                .reader
                .read(self.buf.get_mut(self.end..).unwrap_or_default())
                .map_err(|e| ParseError::read_failed(self.pos, &e))?;
            if read == 0 {
                self.eof = true;
            }
            self.end += read;
        }
        Ok(())
    }

    /// The bytes read but not yet consumed.
    fn buffered(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    fn peek_at(&mut self, k: usize) -> Result<Option<u8>, ParseError> {
        if let Some(&b) = self.buffered().get(k) {
            return Ok(Some(b));
        }
        self.fill(k.saturating_add(1))?;
        Ok(self.buffered().get(k).copied())
    }

    fn peek(&mut self) -> Result<Option<u8>, ParseError> {
        self.peek_at(0)
    }

    /// Consumes one buffered byte (callers peek first; `0` if there is none), keeping the
    /// position up to date. Lines and columns saturate rather than wrap.
    fn bump(&mut self) -> u8 {
        let Some(&b) = self.buffered().first() else {
            return 0;
        };
        self.start += 1;
        self.pos.offset += 1;
        if b == b'\n' {
            self.pos.line = self.pos.line.saturating_add(1);
            self.pos.col = 1;
        } else if b & 0xC0 != 0x80 {
            self.pos.col = self.pos.col.saturating_add(1);
        }
        b
    }

    /// Consumes `n` buffered bytes that hold no newline, keeping the position up to date.
    fn advance_in_line(&mut self, n: usize) {
        let bytes = self.buffered().get(..n).unwrap_or_default();
        let (n, chars) = (
            bytes.len(),
            bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count(),
        );
        self.start += n;
        self.pos.offset += n as u64;
        self.pos.col = self
            .pos
            .col
            .saturating_add(u32::try_from(chars).unwrap_or(u32::MAX));
    }

    /// Appends to `out` the longest run of buffered bytes (refilling as needed) for which `keep`
    /// holds; `keep` must reject `\n`.
    fn take_run(&mut self, out: &mut Vec<u8>, keep: impl Fn(u8) -> bool) -> Result<(), ParseError> {
        loop {
            if self.start == self.end {
                self.fill(1)?;
                if self.start == self.end {
                    return Ok(());
                }
            }
            let buffered = self.buffered();
            let run = buffered
                .iter()
                .position(|&b| !keep(b))
                .unwrap_or(buffered.len());
            out.extend_from_slice(buffered.get(..run).unwrap_or_default());
            self.advance_in_line(run);
            if self.start < self.end {
                return Ok(());
            }
        }
    }

    /// [`Lexer::copy_raw`].
    fn raw(
        &mut self,
        scan: &mut RawScan,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<RawStop, ParseError> {
        let mut copied = 0;
        if scan.fresh {
            scan.fresh = false;
            while let Some(b' ' | b',' | b'\n' | b'\t' | b'\r') = self.peek()? {
                self.bump();
            }
        }
        while copied < max {
            if self.start == self.end {
                self.fill(1)?;
                if self.start == self.end {
                    return Err(self.error(self.pos, "unexpected end of input inside a container"));
                }
            }
            let buffered = self.buffered();
            let bytes = buffered.get(..max - copied).unwrap_or(buffered);
            let (taken, stop) = scan.feed(bytes);
            let taken_bytes = bytes.get(..taken).unwrap_or(bytes);
            out.extend_from_slice(taken_bytes);
            let newlines = taken_bytes.iter().filter(|&&b| b == b'\n').count();
            if newlines == 0 {
                self.advance_in_line(taken);
            } else {
                for _ in 0..taken {
                    self.bump();
                }
            }
            copied += taken;
            if let Some(stop) = stop {
                if scan.elements.is_none() {
                    self.depth = self.depth.saturating_sub(1);
                }
                return Ok(stop);
            }
        }
        Ok(RawStop::Budget)
    }

    /// Decodes the UTF-8 character at the cursor without consuming it.
    fn peek_char(&mut self) -> Result<Option<(char, usize)>, ParseError> {
        let Some(b0) = self.peek()? else {
            return Ok(None);
        };
        let len = match b0 {
            0x00..=0x7F => return Ok(Some((b0 as char, 1))),
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return Err(self.error(self.pos, "invalid UTF-8")),
        };
        self.fill(len)?;
        let buffered = self.buffered();
        let bytes = buffered.get(..len).unwrap_or(buffered);
        match std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.chars().next())
        {
            Some(c) => Ok(Some((c, len))),
            None => Err(self.error(self.pos, "invalid UTF-8")),
        }
    }

    fn is_blank(b: Option<u8>) -> bool {
        matches!(b, None | Some(b' ' | b'\t' | b'\n' | b'\r'))
    }

    /// [`Lexer::next_token`].
    fn token(&mut self) -> Result<Option<Token>, ParseError> {
        loop {
            let Some(b) = self.peek()? else {
                return Ok(None);
            };
            match b {
                b' ' | b'\r' => {
                    self.bump();
                }
                // Inside brackets indentation means nothing, so tabs are blanks there too.
                b'\t' if !self.at_line_start || self.depth > 0 => {
                    self.bump();
                }
                b'\t' => return Err(self.error(self.pos, "tab in indentation (use 2 spaces)")),
                b'\n' => {
                    self.bump();
                    self.at_line_start = true;
                    self.anchor_col = None;
                }
                _ => break,
            }
        }
        let pos = self.pos;
        let line_start = std::mem::replace(&mut self.at_line_start, false);
        let col0 = pos.col.saturating_sub(1);
        let kind = self.token_kind(pos, col0)?;
        match kind {
            TokenKind::Colon => self.anchor_col = Some(self.last_col),
            TokenKind::ArrayElt => self.anchor_col = Some(col0),
            _ => {}
        }
        self.last_col = col0;
        Ok(Some(Token {
            kind,
            pos,
            line_start,
        }))
    }

    fn token_kind(&mut self, pos: Pos, col0: u32) -> Result<TokenKind, ParseError> {
        let Some(b) = self.peek()? else {
            return Err(self.error(pos, "unexpected end of input"));
        };
        let single = |lexer: &mut Self, kind| {
            lexer.bump();
            Ok(kind)
        };
        match b {
            b'#' => {
                self.bump();
                let text = self.take_while(|c| c != b'\n')?;
                Ok(TokenKind::Comment(text.trim_end_matches('\r').to_owned()))
            }
            b'{' => {
                self.depth += 1;
                single(self, TokenKind::LCurl)
            }
            b'[' => {
                self.depth += 1;
                single(self, TokenKind::LSquare)
            }
            b'}' | b']' => {
                if self.depth == 0 {
                    return Err(self.error(pos, format!("unexpected '{}'", b as char)));
                }
                self.depth -= 1;
                single(
                    self,
                    if b == b'}' {
                        TokenKind::RCurl
                    } else {
                        TokenKind::RSquare
                    },
                )
            }
            b',' => single(self, TokenKind::Comma),
            b':' => single(self, TokenKind::Colon),
            b'"' | b'\'' => Ok(TokenKind::Quoted(self.quoted(pos)?)),
            b'|' => self.block_literal(pos),
            b'!' => self.tag(pos),
            b'<' if self.peek_at(1)? == Some(b'<') => {
                self.bump();
                self.bump();
                Ok(TokenKind::MergeKey)
            }
            b'-' => {
                let next = self.peek_at(1)?;
                if Self::is_blank(next) {
                    return single(self, TokenKind::ArrayElt);
                }
                if col0 == 0
                    && next == Some(b'-')
                    && self.peek_at(2)? == Some(b'-')
                    && Self::is_blank(self.peek_at(3)?)
                {
                    for _ in 0..3 {
                        self.bump();
                    }
                    return Ok(TokenKind::DocSep);
                }
                if next.is_some_and(|c| c.is_ascii_digit()) {
                    return self.number(pos);
                }
                Err(self.error(
                    pos,
                    "'-' must be followed by a space (array element) or a digit (number)",
                ))
            }
            b'0'..=b'9' => self.number(pos),
            _ => self.literal(pos),
        }
    }

    /// Consumes bytes while `keep` holds (ASCII-level test) and returns them as a string.
    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> Result<String, ParseError> {
        let mut out = Vec::new();
        while let Some(b) = self.peek()? {
            if !keep(b) {
                break;
            }
            out.push(self.bump());
        }
        String::from_utf8(out).map_err(|_| self.error(self.pos, "invalid UTF-8"))
    }

    fn number(&mut self, pos: Pos) -> Result<TokenKind, ParseError> {
        let mut text = String::new();
        let mut is_float = false;
        if self.peek()? == Some(b'-') {
            text.push(self.bump() as char);
        }
        let digits = |lexer: &mut Self, text: &mut String| -> Result<usize, ParseError> {
            let mut n = 0;
            while let Some(c @ b'0'..=b'9') = lexer.peek()? {
                lexer.bump();
                text.push(c as char);
                n += 1;
            }
            Ok(n)
        };
        let int_start = text.len();
        digits(self, &mut text)?;
        if text[int_start..].len() > 1 && text[int_start..].starts_with('0') {
            return Err(self.error(pos, "numbers may not have leading zeros"));
        }
        if self.peek()? == Some(b'.') && self.peek_at(1)?.is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            text.push(self.bump() as char);
            digits(self, &mut text)?;
        }
        if let Some(b'e' | b'E') = self.peek()? {
            let sign = usize::from(matches!(self.peek_at(1)?, Some(b'+' | b'-')));
            if self.peek_at(1 + sign)?.is_some_and(|c| c.is_ascii_digit()) {
                is_float = true;
                for _ in 0..=sign {
                    text.push(self.bump() as char);
                }
                digits(self, &mut text)?;
            }
        }
        if let Some((c, _)) = self.peek_char()? {
            if is_literal_char(c) && !matches!(c, ':' | '[' | ']' | '{' | '}') {
                return Err(self.error(pos, "a string may not start with a digit; quote it"));
            }
        }
        if !is_float {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(TokenKind::Int(i));
            }
        }
        let value: f64 = text
            .parse()
            .map_err(|_| self.error(pos, format!("invalid number {text:?}")))?;
        if !value.is_finite() {
            return Err(self.error(pos, format!("number {text} is out of range")));
        }
        Ok(TokenKind::Float(Float::from_text(&text, value)))
    }

    fn literal(&mut self, pos: Pos) -> Result<TokenKind, ParseError> {
        let Some((first, _)) = self.peek_char()? else {
            unreachable!("caller peeked")
        };
        if !is_literal_start(first) {
            return Err(self.error(pos, format!("unexpected character {first:?}")));
        }
        let mut bytes = Vec::new();
        // Fast path: the common characters that never end a literal.
        self.take_run(&mut bytes, |b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'.' | b'/' | b'-' | b'+' | b'@' | b'$' | b'~' | b'%' | b'='
                )
        })?;
        // The run above holds ASCII only.
        let mut out = String::from_utf8_lossy(&bytes).into_owned();
        let mut open = 0usize;
        while let Some((c, len)) = self.peek_char()? {
            match c {
                ':' => {
                    let next = self.peek_at(1)?;
                    let ends = Self::is_blank(next)
                        || matches!(
                            next,
                            Some(b',' | b']' | b'}' | b'[' | b'{' | b'"' | b'\'' | b'#')
                        )
                        || (self.depth > 0 && !matches!(next, Some(b'/' | b':')));
                    if ends {
                        break;
                    }
                }
                '[' | '{' => open += 1,
                ']' | '}' if open == 0 => break,
                ']' | '}' => open -= 1,
                c if !is_literal_char(c) => break,
                _ => {}
            }
            for _ in 0..len {
                self.bump();
            }
            out.push(c);
        }
        Ok(match out.as_str() {
            "null" => TokenKind::Null,
            "true" => TokenKind::True,
            "false" => TokenKind::False,
            _ => TokenKind::Literal(out),
        })
    }

    fn quoted(&mut self, pos: Pos) -> Result<String, ParseError> {
        let q = self.bump();
        let mut out = Vec::new();
        loop {
            self.take_run(&mut out, |b| b != q && b != b'\\' && b != b'\n')?;
            let Some(b) = self.peek()? else {
                return Err(self.error(pos, "unterminated string"));
            };
            match b {
                _ if b == q => {
                    self.bump();
                    break;
                }
                b'\\' => {
                    let at = self.pos;
                    self.bump();
                    let Some(e) = self.peek()? else {
                        return Err(self.error(pos, "unterminated string"));
                    };
                    self.bump();
                    let c = match super::quote::simple_escape(e) {
                        Some(c) => c,
                        None if e == b'u' => self.unicode_escape(at)?,
                        None => {
                            return Err(self.error(at, format!("invalid escape '\\{}'", e as char)))
                        }
                    };
                    let mut tmp = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
                b'\n' => return Err(self.error(self.pos, "newline in a quoted string (write \\n)")),
                _ => out.push(self.bump()),
            }
        }
        String::from_utf8(out).map_err(|_| self.error(pos, "invalid UTF-8 in string"))
    }

    fn hex4(&mut self, at: Pos) -> Result<u32, ParseError> {
        let mut v = 0;
        for _ in 0..4 {
            let digit = self.peek()?.and_then(|b| (b as char).to_digit(16));
            let Some(d) = digit else {
                return Err(self.error(at, "\\u needs 4 hex digits"));
            };
            self.bump();
            v = (v << 4) | d;
        }
        Ok(v)
    }

    fn unicode_escape(&mut self, at: Pos) -> Result<char, ParseError> {
        let hi = self.hex4(at)?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if self.peek()? != Some(b'\\') || self.peek_at(1)? != Some(b'u') {
                return Err(self.error(at, "unpaired surrogate in \\u escape"));
            }
            self.bump();
            self.bump();
            let lo = self.hex4(at)?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.error(at, "unpaired surrogate in \\u escape"));
            }
            (((hi & 0x3FF) << 10) | (lo & 0x3FF)).saturating_add(0x10000)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.error(at, "invalid \\u escape"))
    }

    fn tag(&mut self, pos: Pos) -> Result<TokenKind, ParseError> {
        let mut out = vec![self.bump()];
        let mut parens = 0usize;
        while let Some(b) = self.peek()? {
            match b {
                b'(' => parens += 1,
                b')' if parens == 0 => return Err(self.error(self.pos, "unbalanced ')' in tag")),
                b')' => parens -= 1,
                b'\n' if parens > 0 => return Err(self.error(pos, "unclosed '(' in tag")),
                // A colon inside a tag (`!time:time`) belongs to it, as in the original; one
                // followed by a blank or structure ends the tag (`!t: 1` is the key `!t`'s `:`).
                b':' if parens == 0 => {
                    let next = self.peek_at(1)?;
                    if Self::is_blank(next)
                        || matches!(
                            next,
                            Some(b',' | b'{' | b'[' | b']' | b'}' | b':' | b'#' | b'"' | b'\'')
                        )
                    {
                        break;
                    }
                }
                b' ' | b'\t' | b'\r' | b'\n' | b',' | b'{' | b'[' | b']' | b'}' | b'#' | b'"'
                | b'\''
                    if parens == 0 =>
                {
                    break
                }
                _ => {}
            }
            out.push(self.bump());
        }
        if parens > 0 {
            return Err(self.error(pos, "unclosed '(' in tag"));
        }
        let tag = String::from_utf8(out).map_err(|_| self.error(pos, "invalid UTF-8 in tag"))?;
        if tag.len() == 1 || !super::tag::is_valid_tag(&tag) {
            return Err(self.error(pos, format!("invalid tag {tag:?}")));
        }
        Ok(TokenKind::Tag(tag))
    }

    /// Indentation (spaces) of the line at the cursor, which must be at a line start, and
    /// whether the line is blank.
    fn measure_line(&mut self) -> Result<(usize, bool), ParseError> {
        let mut n = 0;
        loop {
            match self.peek_at(n)? {
                Some(b' ') => n += 1,
                Some(b'\n') => return Ok((n, true)),
                Some(b'\r') if self.peek_at(n + 1)? == Some(b'\n') => return Ok((n, true)),
                None => return Ok((n, true)),
                Some(_) => return Ok((n, false)),
            }
        }
    }

    fn block_literal(&mut self, pos: Pos) -> Result<TokenKind, ParseError> {
        self.bump();
        let chomp = match self.peek()? {
            Some(b'-') => Some(false),
            Some(b'+') => Some(true),
            _ => None,
        };
        if chomp.is_some() {
            self.bump();
        }
        // The rest of the line may hold only spaces and a comment.
        let rest = self.take_while(|c| c != b'\n')?;
        let rest = rest.trim();
        if !rest.is_empty() && !rest.starts_with('#') {
            return Err(self.error(pos, "a block literal's content starts on the next line"));
        }
        if self.peek()?.is_none() {
            return Ok(TokenKind::BlockLiteral(String::new()));
        }
        self.bump(); // the newline
        let threshold = self.anchor_col.map_or(-1, |c| c as i64);
        let mut lines: Vec<String> = Vec::new();
        let mut content_indent = None;
        while self.peek()?.is_some() {
            let (indent, blank) = self.measure_line()?;
            if !blank && indent as i64 <= threshold {
                break;
            }
            if !blank && content_indent.is_none() {
                content_indent = Some(indent);
            }
            let strip = content_indent.unwrap_or(indent).min(indent);
            for _ in 0..strip {
                self.bump();
            }
            let line = self.take_while(|c| c != b'\n')?;
            lines.push(line.trim_end_matches('\r').to_owned());
            if self.peek()?.is_some() {
                self.bump();
            } else {
                break;
            }
        }
        self.at_line_start = true;
        self.anchor_col = None;
        let trailing_blank = lines.iter().rev().take_while(|l| l.is_empty()).count();
        let body = lines
            .get(..lines.len().saturating_sub(trailing_blank))
            .unwrap_or_default();
        let mut text = body.join("\n");
        match chomp {
            Some(false) => {}
            None => {
                if !body.is_empty() {
                    text.push('\n');
                }
            }
            Some(true) => {
                if !body.is_empty() {
                    text.push('\n');
                }
                text.extend(std::iter::repeat_n('\n', trailing_blank));
            }
        }
        Ok(TokenKind::BlockLiteral(text))
    }
}

/// A source of tokens: what the parser reads from.
pub trait TokenSource {
    /// The next token, or `None` at the end.
    fn next_token(&mut self) -> Result<Option<Token>, ParseError>;
}

impl<R: Read> TokenSource for Lexer<R> {
    fn next_token(&mut self) -> Result<Option<Token>, ParseError> {
        Lexer::next_token(self)
    }
}

impl<T: TokenSource + ?Sized> TokenSource for &mut T {
    fn next_token(&mut self) -> Result<Option<Token>, ParseError> {
        (**self).next_token()
    }
}
