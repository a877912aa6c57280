//! A fast path for the common case: bracketed text (the wire form, JSON) held in memory,
//! parsed straight from bytes. Anything it is not sure about — comments, folding, key sets,
//! merge keys, unusual literals, errors — makes it give up, and the general parser (with its
//! precise error messages) takes over. Both give the same value whenever this one succeeds.
// Arithmetic here cannot overflow: the cursor only moves over bytes that exist (`at <= bytes.len()`), and nesting counters move
// by one per bracket, closing only what was opened.
#![allow(clippy::arithmetic_side_effects)]

use std::borrow::Cow;
use std::sync::Arc;

use super::ir::{Float, Key, Node, Value};
use super::object::Object;
use super::parse::MAX_DEPTH;
use super::quote::is_literal_start;
use super::storable::object_problem;
use super::tag::is_valid_tag;

/// The member at `keys` of a plain bracketed document (a walk through object members; the tags
/// of the objects on the way are ignored), building only that member's value: `Some(None)`
/// when a value on the way is not an object or lacks the key, `None` when this reader cannot
/// tell (the caller parses the whole text). Meant for text the parser accepts (stored,
/// checksummed entries): what follows the member is not read, and the members before it are
/// read but not kept.
pub(crate) fn member_at(text: &str, keys: &[Key]) -> Option<Option<Node>> {
    let mut p = Fast::new(text);
    p.skip_space()?;
    for key in keys {
        if p.peek() == Some(b'!') {
            p.tag_text()?;
        }
        if p.peek()? != b'{' {
            // Inside brackets, a value that is not an object (if this reader takes it); at the
            // top, perhaps block style: the parser's to read.
            return (p.depth > 0).then(|| p.value().map(|_| None))?;
        }
        p.open_object()?;
        if p.find_member(key, usize::MAX, &mut None)?.is_none() {
            return Some(None);
        }
    }
    p.value().map(Some)
}

/// Where [`member_in_run`] starts reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunStart {
    /// At the object itself (its tag allowed).
    Object,
    /// At the value of one of its members.
    Value,
    /// At a member's key.
    Key,
}

/// Where a run of an object's members held in `text` has the member `key`: the offset of its
/// value (tag included) in `text`, `Some(None)` when the run does not have it, `None` when this
/// reader cannot tell (the text ends too soon, or holds what this reader leaves to the general
/// one). The run ends where the object does or where a member's value starts at or past
/// `end`. Also returns the offset of the last key the walk reached: a walk of a longer text
/// can resume there ([`RunStart::Key`]). Built for seeking inside a wide object of a stored
/// entry: the members passed are checked against the grammar but nothing is built.
pub(crate) fn member_in_run(
    text: &str,
    start: RunStart,
    key: &Key,
    end: usize,
) -> (Option<Option<usize>>, Option<usize>) {
    let mut p = Fast::new(text);
    p.skipping = true;
    let mut last_key = None;
    let found = p.member_in_run(start, key, end, &mut last_key);
    (found, last_key)
}

/// Parses `text` if it is a plain bracketed document; `None` means "use the general parser".
pub(crate) fn parse_bracketed(text: &str) -> Option<Node> {
    let mut p = Fast::new(text);
    // Outside brackets a tab may be indentation, which the general parser rejects.
    let outside_is_plain = |p: &mut Fast| {
        let start = p.at;
        p.skip_space().is_some() && !p.since(start).contains(&b'\t')
    };
    if !outside_is_plain(&mut p) {
        return None;
    }
    // A bracketed document, perhaps tagged (as log entries are: `!entry {...}`).
    let bracket_at = if p.peek() == Some(b'!') {
        let mut ahead = Fast {
            at: p.at,
            ..Fast::new(text)
        };
        ahead.tag_text()?;
        ahead.at
    } else {
        p.at
    };
    if !matches!(p.bytes.get(bracket_at), Some(b'{' | b'[')) {
        return None;
    }
    let node = p.value()?;
    (outside_is_plain(&mut p) && p.at == p.bytes.len()).then_some(node)
}

struct Fast<'a> {
    /// The text read, and its bytes.
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: usize,
    /// Reading a value only to pass it (a sibling of the member [`member_at`] looks for): the
    /// grammar is checked as usual but nothing is built (values read as `null`), so a passed
    /// object's keys are not checked for repeats or mixing. `member_at` reads log entries,
    /// which the store wrote and their checksums vouch for.
    skipping: bool,
    /// Whether the last value read was a quoted string.
    quoted_last: bool,
    /// The members of the objects being read, innermost last: each object takes its own off
    /// the top when it closes, into a list of exactly their number (no regrowing).
    members: Vec<(Key, Node)>,
    /// The same for the items of arrays.
    items: Vec<Node>,
}

/// An object key as written, before it is made a [`Key`].
#[derive(PartialEq)]
enum RawKey<'a> {
    Text(Cow<'a, str>),
    Int(u32),
    /// A merge key, passed while skipping.
    Merge,
}

impl RawKey<'_> {
    /// Whether this is `key`.
    fn is(&self, key: &Key) -> bool {
        match (self, key) {
            (RawKey::Text(text), Key::Str(name)) => **text == **name,
            (RawKey::Int(i), Key::Int(j)) => i == j,
            _ => false,
        }
    }
}

/// Bytes that may appear in a literal this fast path accepts (a safe subset of the lexer's,
/// all ASCII).
fn plain_literal_byte(b: u8) -> bool {
    PLAIN_LITERAL.get(usize::from(b)).copied().unwrap_or(false)
}

/// [`plain_literal_byte`] as a table.
// Evaluated at compile time: an index out of range or an overflow would not compile.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const PLAIN_LITERAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'_' | b'.' | b'/' | b'-' | b'+' | b'@' | b'$' | b'~' | b'%' | b'='
            );
        b += 1;
    }
    table
};

impl<'a> Fast<'a> {
    fn new(text: &'a str) -> Self {
        Fast {
            text,
            bytes: text.as_bytes(),
            at: 0,
            depth: 0,
            skipping: false,
            quoted_last: false,
            members: Vec::new(),
            items: Vec::new(),
        }
    }

    /// The walk of [`member_in_run`]; `last_key` is where the last key it reached starts.
    fn member_in_run(
        &mut self,
        start: RunStart,
        key: &Key,
        end: usize,
        last_key: &mut Option<usize>,
    ) -> Option<Option<usize>> {
        match start {
            RunStart::Object => {
                if self.peek() == Some(b'!') {
                    self.tag_text()?;
                }
                if self.peek()? != b'{' {
                    return None;
                }
                self.open_object()?;
            }
            RunStart::Value => {
                self.skip_value()?;
                self.separator()?;
            }
            RunStart::Key => {}
        }
        self.find_member(key, end, last_key)
    }

    /// Enters the object whose `{` is at the cursor.
    fn open_object(&mut self) -> Option<()> {
        self.enter()?;
        self.at += 1;
        self.skip_space()?;
        (self.peek() != Some(b',')).then_some(())
    }

    /// Reads an object's members from the cursor (at a key, or the object's `}`) up to the one
    /// with `key`: `Some(Some(at))` with the cursor at its value, `Some(None)` when the object
    /// ends first or a member's value starts at or past `end`. `last_key` is where the last
    /// key read starts.
    fn find_member(
        &mut self,
        key: &Key,
        end: usize,
        last_key: &mut Option<usize>,
    ) -> Option<Option<usize>> {
        loop {
            if self.peek()? == b'}' {
                return Some(None);
            }
            *last_key = Some(self.at);
            let found = self.raw_key()?;
            self.after_key()?;
            if matches!(self.peek()?, b',' | b'}') {
                return None;
            }
            if self.at >= end {
                return Some(None);
            }
            if found.is(key) {
                return Some(Some(self.at));
            }
            self.skip_value()?;
            self.separator()?;
        }
    }

    /// Reads past a value, building nothing (see [`Fast::skipping`]).
    fn skip_value(&mut self) -> Option<()> {
        let outer = std::mem::replace(&mut self.skipping, true);
        let read = self.value();
        self.skipping = outer;
        read.map(|_| ())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// The bytes from `start` to the cursor.
    fn since(&self, start: usize) -> &'a [u8] {
        self.bytes.get(start..self.at).unwrap_or_default()
    }

    /// The text from `start` to the cursor; `None` unless both fall on character boundaries
    /// (the readers only stop at ASCII bytes, so they do).
    fn since_str(&self, start: usize) -> Option<&'a str> {
        self.text.get(start..self.at)
    }

    /// Skips blanks; `Some(true)` if a newline was among them, `None` at a comment.
    fn skip_space(&mut self) -> Option<bool> {
        let mut newline = false;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' => {}
                b'\n' => newline = true,
                b'#' => return None,
                _ => break,
            }
            self.at += 1;
        }
        Some(newline)
    }

    fn value(&mut self) -> Option<Node> {
        let tag = if self.peek() == Some(b'!') {
            Some(self.tag_text()?)
        } else {
            None
        };
        let first = self.peek()?;
        let mut node = match first {
            b'{' => self.object()?,
            b'[' => self.array()?,
            b'"' | b'\'' if self.skipping => {
                self.quoted_text()?;
                Node::null()
            }
            b'"' | b'\'' => Node::new(Value::String(self.quoted()?)),
            b'-' | b'0'..=b'9' => self.number()?,
            _ if self.skipping => {
                self.literal()?;
                Node::null()
            }
            _ => self.literal_value()?,
        };
        self.quoted_last = matches!(first, b'"' | b'\'');
        if let Some(tag) = tag.filter(|_| !self.skipping) {
            node.tag = Some(Arc::from(tag));
        }
        Some(node)
    }

    /// A tag's text (checked), and the blank after it.
    fn tag_text(&mut self) -> Option<&'a str> {
        let start = self.at;
        let mut parens = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'(' => parens += 1,
                b')' if parens == 0 => return None,
                b')' => parens -= 1,
                b'\n' => return None,
                b' ' | b'\t' | b'\r' | b',' | b'{' | b'[' | b']' | b'}' | b':' | b'#' | b'"'
                | b'\''
                    if parens == 0 =>
                {
                    break
                }
                _ => {}
            }
            self.at += 1;
        }
        let tag = self.since_str(start)?;
        if parens > 0 || tag.len() < 2 || !is_valid_tag(tag) {
            return None;
        }
        // The general parser takes a tag followed by a newline differently in block style;
        // here only a space may separate a tag from its value.
        if self.peek() != Some(b' ') {
            return None;
        }
        self.skip_space()?;
        Some(tag)
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// After an item: an optional comma (not two) and blanks.
    fn separator(&mut self) -> Option<()> {
        self.skip_space()?;
        if self.peek() == Some(b',') {
            self.at += 1;
            self.skip_space()?;
            if self.peek() == Some(b',') {
                return None;
            }
        }
        Some(())
    }

    fn array(&mut self) -> Option<Node> {
        self.enter()?;
        self.at += 1;
        self.skip_space()?;
        if self.peek() == Some(b',') {
            return None;
        }
        let base = self.items.len();
        loop {
            match self.peek()? {
                b']' => {
                    self.at += 1;
                    break;
                }
                _ => {
                    let item = self.value()?;
                    let quoted = self.quoted_last;
                    if !self.skipping {
                        self.items.push(item);
                    }
                    let before = self.at;
                    let newline = self.skip_space()?;
                    // Quoted strings on consecutive lines fold into one: the general parser's job.
                    if quoted && newline && matches!(self.peek(), Some(b'"' | b'\'')) {
                        return None;
                    }
                    self.at = before;
                    self.separator()?;
                }
            }
        }
        self.depth -= 1;
        if self.skipping {
            return Some(Node::null());
        }
        Some(Node::array(self.items.drain(base..).collect()))
    }

    fn key(&mut self) -> Option<Key> {
        let key = match self.raw_key()? {
            RawKey::Text(text) => Key::str(&text),
            RawKey::Int(i) => Key::Int(i),
            RawKey::Merge => Key::Merge,
        };
        self.after_key()?;
        Some(key)
    }

    /// An object key as written.
    fn raw_key(&mut self) -> Option<RawKey<'a>> {
        Some(match self.peek()? {
            b'"' | b'\'' => RawKey::Text(self.quoted_text()?),
            b'0'..=b'9' => {
                let start = self.at;
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.at += 1;
                }
                let digits = self.since_str(start)?;
                if digits.len() > 1 && digits.starts_with('0') {
                    return None;
                }
                RawKey::Int(digits.parse().ok()?)
            }
            b'<' if self.skipping && self.bytes.get(self.at + 1) == Some(&b'<') => {
                self.at += 2;
                RawKey::Merge
            }
            _ => match self.literal()? {
                "null" | "true" | "false" | "<<" => return None,
                name => RawKey::Text(Cow::Borrowed(name)),
            },
        })
    }

    /// The `:` after a key, with the blanks around it.
    fn after_key(&mut self) -> Option<()> {
        self.skip_space()?;
        if self.peek() != Some(b':') {
            return None; // a key set, or something odd
        }
        self.at += 1;
        self.skip_space()?;
        Some(())
    }

    fn object(&mut self) -> Option<Node> {
        self.enter()?;
        self.at += 1;
        self.skip_space()?;
        if self.peek() == Some(b',') {
            return None;
        }
        let base = self.members.len();
        loop {
            if self.peek()? == b'}' {
                self.at += 1;
                break;
            }
            if self.skipping {
                self.raw_key()?;
                self.after_key()?;
            } else {
                let key = self.key()?;
                self.members.push((key, Node::null()));
            }
            if matches!(self.peek()?, b',' | b'}') {
                return None; // a missing value: let the general parser decide
            }
            let value = self.value()?;
            if let Some((_, slot)) = self.members.last_mut().filter(|_| !self.skipping) {
                *slot = value;
            }
            self.separator()?;
        }
        self.depth -= 1;
        if self.skipping {
            return Some(Node::null());
        }
        // Whatever the parser would refuse, it also explains: leave such objects to it.
        let entries: Vec<(Key, Node)> = self.members.drain(base..).collect();
        let object = Object::from(entries);
        if object_problem(&object, false).is_some() {
            return None;
        }
        Some(Node::new(Value::Object(Arc::new(object))))
    }

    /// A bare literal of plain characters, ending where the grammar allows.
    fn literal(&mut self) -> Option<&'a str> {
        let start = self.at;
        if !is_literal_start(self.peek()? as char) || !plain_literal_byte(self.peek()?) {
            return None;
        }
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        self.at += rest
            .iter()
            .position(|&b| !plain_literal_byte(b))
            .unwrap_or(rest.len());
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\r' | b'\n' | b',' | b'}' | b']') => {}
            Some(b':') if !matches!(self.bytes.get(self.at + 1), Some(b'/' | b':')) => {}
            _ => return None,
        }
        self.since_str(start)
    }

    fn literal_value(&mut self) -> Option<Node> {
        Some(match self.literal()? {
            "null" => Node::null(),
            "true" => Node::bool(true),
            "false" => Node::bool(false),
            s => Node::string(s),
        })
    }

    fn number(&mut self) -> Option<Node> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let int_len = self.at - int_start;
        if int_len == 0 || (int_len > 1 && self.bytes.get(int_start) == Some(&b'0')) {
            return None;
        }
        let mut float = false;
        if self.peek() == Some(b'.') && self.bytes.get(self.at + 1).is_some_and(u8::is_ascii_digit)
        {
            float = true;
            self.at += 1;
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.at += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.bytes.get(self.at + 1), Some(b'+' | b'-')));
            if self
                .bytes
                .get(self.at + 1 + sign)
                .is_some_and(u8::is_ascii_digit)
            {
                float = true;
                self.at += 1 + sign;
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.at += 1;
                }
            }
        }
        if !matches!(
            self.peek(),
            None | Some(b' ' | b'\t' | b'\r' | b'\n' | b',' | b'}' | b']')
        ) {
            return None;
        }
        let text = self.since_str(start)?;
        if !float {
            if let Ok(i) = text.parse::<i64>() {
                return Some(Node::int(i));
            }
        }
        let value: f64 = text.parse().ok()?;
        value
            .is_finite()
            .then(|| Node::new(Value::Float(Float::from_text(text, value))))
    }

    /// The character of a `\uXXXX` escape (a pair of them for a surrogate pair), with the
    /// cursor on the `u` before and on the escape's last byte after.
    fn unicode_escape(&mut self) -> Option<char> {
        let hex4 = |at: usize| -> Option<u32> {
            let digits = self.bytes.get(at..at + 4)?;
            let text = std::str::from_utf8(digits).ok()?;
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            u32::from_str_radix(text, 16).ok()
        };
        let high = hex4(self.at + 1)?;
        if !(0xD800..0xDC00).contains(&high) {
            self.at += 4;
            return char::from_u32(high);
        }
        if self.bytes.get(self.at + 5..self.at + 7) != Some(b"\\u") {
            return None;
        }
        let low = hex4(self.at + 7)?;
        if !(0xDC00..0xE000).contains(&low) {
            return None;
        }
        self.at += 10;
        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    }

    fn quoted(&mut self) -> Option<Arc<str>> {
        self.quoted_text().map(Arc::from)
    }

    /// A quoted string's text, borrowed from the input when it has no escapes.
    fn quoted_text(&mut self) -> Option<Cow<'a, str>> {
        let q = self.peek()?;
        self.at += 1;
        let start = self.at;
        // Fast case: no escapes.
        while let Some(b) = self.peek() {
            if b == q {
                let s = self.since_str(start)?;
                self.at += 1;
                return Some(Cow::Borrowed(s));
            }
            if b == b'\\' || b == b'\n' {
                break;
            }
            self.at += 1;
        }
        let mut out = self.since(start).to_vec();
        loop {
            let b = self.peek()?;
            self.at += 1;
            match b {
                _ if b == q => return String::from_utf8(out).ok().map(Cow::Owned),
                b'\n' => return None,
                b'\\' => {
                    // Odd escapes (a lone surrogate, bad hex) are the general parser's.
                    let c = match self.peek()? {
                        b'u' => self.unicode_escape()?,
                        e => super::quote::simple_escape(e)?,
                    };
                    self.at += 1;
                    let mut tmp = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
                b => out.push(b),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // a failing test panics
mod tests {
    use super::*;
    use crate::tony::parse;

    /// The member at `keys` as the whole parse finds it (tags on the way ignored).
    fn by_parsing(text: &str, keys: &[Key]) -> Option<Node> {
        let mut node = parse(text).unwrap();
        for key in keys {
            node = node.get_field(key)?.clone();
        }
        Some(node)
    }

    #[test]
    fn member_at_finds_what_the_whole_parse_finds() {
        let entry = "!entry {commit: 5 tx: 1 time: 9 ends: {a.b: true} \
                     skipped: {q: \"a \\\"b\\\" c\", f: 1.50, g: -2e3, t: !x.y(z) [1, \"s\", {k: v}], \
                     e: [], o: {}, 'sq': 'x', n: null, u: \"\\u00e9\"} \
                     patch: {a: {b: {x: 1, y: [1, 2]}, c: 2, \"d e\": !t {f: null}}, s: {0: a, 5: b}}}";
        let k = |s: &str| match s.parse::<u32>() {
            Ok(i) => Key::Int(i),
            Err(_) => Key::str(s),
        };
        let cases: &[&[&str]] = &[
            &["patch"],
            &["patch", "a", "b"],
            &["patch", "a", "b", "y"],
            &["patch", "a", "c"],
            &["patch", "a", "c", "z"],
            &["patch", "a", "z"],
            &["patch", "a", "d e", "f"],
            &["patch", "s", "5"],
            &["patch", "s", "7"],
            &["patch", "a", "b", "y", "x"],
            &["ends"],
            &["skipped", "t"],
            &["skipped", "u"],
            &["skipped", "sq"],
            &["nothing"],
        ];
        for case in cases {
            let keys: Vec<Key> = case.iter().map(|s| k(s)).collect();
            assert_eq!(
                member_at(entry, &keys),
                Some(by_parsing(entry, &keys)),
                "{case:?}"
            );
        }
    }

    #[test]
    fn member_at_leaves_unusual_text_to_the_parser() {
        let keys = [Key::str("a")];
        assert_eq!(member_at("{# note\na: 1}", &keys), None);
        assert_eq!(member_at("{a: }", &keys), None);
        assert_eq!(member_at("a: 1", &keys), None);
    }
}
