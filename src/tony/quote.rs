//! Which strings may be written bare, and how the others are quoted.

/// Punctuation that may appear inside a bare literal. As in the original, ASCII symbols
/// (`^`, `` ` ``, `<`, `>`, `|`) continue a literal; the other punctuation ends it.
const LITERAL_PUNCT: &str = "()[]{}$~@:/._+-\\*%!=^`<>|";
/// Punctuation of [`LITERAL_PUNCT`] that may not start a literal (`<`, `>`, `|` start other
/// tokens).
const NOT_FIRST: &str = "[]{}:-!<>|";

/// Whether `c` may appear in a bare literal (at any position but the first).
pub fn is_literal_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || LITERAL_PUNCT.contains(c)
    } else {
        !c.is_whitespace() && !c.is_control()
    }
}

/// Whether `c` may start a bare literal.
pub fn is_literal_start(c: char) -> bool {
    is_literal_char(c) && !c.is_ascii_digit() && !NOT_FIRST.contains(c)
}

/// What a byte means to the encoder, one table lookup per byte (see [`BYTE_CLASS`]).
mod class {
    /// ASCII that may stand anywhere in a bare string and needs no escape when quoted.
    pub const BARE: u8 = 0;
    /// ASCII that forces quotes (space, `:`, brackets, ...) but needs no escape.
    pub const QUOTED: u8 = 1;
    /// `"`: forces quotes; escaped when the quotes are double.
    pub const DOUBLE: u8 = 2;
    /// `'`: forces quotes; escaped when the quotes are single.
    pub const SINGLE: u8 = 4;
    /// A control character: forces quotes and is always escaped.
    pub const ESCAPED: u8 = 8;
    /// A byte of a non-ASCII character: decided character by character.
    pub const NON_ASCII: u8 = 16;
    /// `\`: may stand in a bare string (as in the original); escaped when quoted.
    pub const BACKSLASH: u8 = 32;
}

/// The class of every byte: literal characters minus those the grammar could read as
/// structure (`:` and brackets) are [`class::BARE`]; the rest as [`class`] says.
// Evaluated at compile time: an index out of range or an overflow would not compile.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const BYTE_CLASS: [u8; 256] = {
    let mut table = [class::QUOTED; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c >= 0x80 {
            class::NON_ASCII
        } else if c < 0x20 || c == 0x7f {
            class::ESCAPED
        } else if c == b'\\' {
            class::BACKSLASH
        } else if c == b'"' {
            class::DOUBLE
        } else if c == b'\'' {
            class::SINGLE
        } else if c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'(' | b')'
                    | b'$'
                    | b'~'
                    | b'@'
                    | b'/'
                    | b'.'
                    | b'_'
                    | b'+'
                    | b'-'
                    | b'*'
                    | b'%'
                    | b'!'
                    | b'='
            )
        {
            class::BARE
        } else {
            class::QUOTED
        };
        b += 1;
    }
    table
};

/// The classes of all bytes of `bytes`, or-ed together, eight bytes a step (independent
/// lookups, no branch per byte).
fn classes(bytes: &[u8]) -> u8 {
    let lookup = |b: &u8| {
        BYTE_CLASS
            .get(usize::from(*b))
            .copied()
            .unwrap_or(class::QUOTED)
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut found = 0;
    for chunk in chunks.by_ref() {
        found |= chunk.iter().fold(0, |acc, b| acc | lookup(b));
    }
    chunks
        .remainder()
        .iter()
        .fold(found, |acc, b| acc | lookup(b))
}

/// Whether `s` must be quoted to read back as the same string: it is empty, a keyword, starts
/// with a digit or a character that cannot start a literal, or contains a character that is
/// not a literal character or that the grammar could read as structure (`:`, brackets).
pub fn needs_quote(s: &str) -> bool {
    let Some(&first_byte) = s.as_bytes().first() else {
        return true;
    };
    // An ASCII first byte is checked with the rest below; of the bare bytes only digits, `-`
    // and `!` cannot start a literal.
    let starts_literal = if first_byte.is_ascii() {
        !first_byte.is_ascii_digit() && !matches!(first_byte, b'-' | b'!')
    } else {
        s.chars().next().is_some_and(is_literal_start)
    };
    let keyword =
        matches!(first_byte, b't' | b'f' | b'n') && matches!(s, "true" | "false" | "null");
    if !starts_literal || keyword {
        return true;
    }
    let bytes = s.as_bytes();
    let found = classes(bytes) & !class::BACKSLASH;
    if found & class::NON_ASCII == 0 {
        return found != class::BARE;
    }
    // The ASCII bytes before the first non-ASCII character by the table, the rest character by
    // character.
    let ascii = bytes
        .iter()
        .position(|b| !b.is_ascii())
        .unwrap_or(bytes.len());
    classes(bytes.get(..ascii).unwrap_or_default()) & !class::BACKSLASH != class::BARE
        || s.get(ascii..)
            .unwrap_or_default()
            .chars()
            .any(|c| !is_literal_char(c) || matches!(c, ':' | '[' | ']' | '{' | '}'))
}

/// `s` quoted: double quotes unless it holds more `"` than `'`, with JSON-style escapes.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    write_quoted(&mut out, s);
    out
}

/// Appends `s` quoted (see [`quote`]) to `out`.
pub fn write_quoted(out: &mut String, s: &str) {
    let found = classes(s.as_bytes());
    if found & (class::DOUBLE | class::SINGLE | class::ESCAPED | class::BACKSLASH) == 0 {
        // Nothing to escape: the common case, copied whole.
        out.reserve(s.len().saturating_add(2));
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    let (mut doubles, mut singles) = (0usize, 0usize);
    if found & class::DOUBLE != 0 && found & class::SINGLE != 0 {
        for &b in s.as_bytes() {
            doubles = doubles.saturating_add(usize::from(b == b'"'));
            singles = singles.saturating_add(usize::from(b == b'\''));
        }
    } else {
        doubles = usize::from(found & class::DOUBLE != 0);
    }
    let (q, escaped_quote) = if doubles > singles {
        ('\'', class::SINGLE)
    } else {
        ('"', class::DOUBLE)
    };
    let escaped = class::ESCAPED | class::BACKSLASH | escaped_quote;
    out.push(q);
    // Copy runs of plain bytes whole; every escaped byte is ASCII, so slices stay on chars.
    let mut run = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if BYTE_CLASS.get(usize::from(b)).copied().unwrap_or(0) & escaped == 0 {
            continue;
        }
        out.push_str(s.get(run..i).unwrap_or_default());
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b'"' => out.push_str("\\\""),
            b'\'' => out.push_str("\\'"),
            _ => {
                use std::fmt::Write;
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        run = i.saturating_add(1);
    }
    out.push_str(s.get(run..).unwrap_or_default());
    out.push(q);
}

/// The character a one-letter escape `\e` stands for (`\u` escapes aside), in either quote style.
pub fn simple_escape(e: u8) -> Option<char> {
    Some(match e {
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'/' => '/',
        b'\\' => '\\',
        b'"' => '"',
        b'\'' => '\'',
        _ => return None,
    })
}

/// Appends `s` to `out`, bare when it reads back as itself and quoted otherwise.
pub fn write_string(out: &mut String, s: &str) {
    if needs_quote(s) {
        write_quoted(out, s);
    } else {
        out.push_str(s);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // a failing test panics
mod tests {
    use super::*;

    #[test]
    fn bare_and_quoted_strings() {
        for bare in [
            "a", "hello", "a.b", "x_y", "/path/to", "é", "a-b", "a!b", "*", "(x)",
        ] {
            assert!(!needs_quote(bare), "{bare:?} can be bare");
        }
        for quoted in [
            "", "1a", "true", "null", "false", "a b", "-a", "!a", "a:b", "a,b", "a#b", "{", "x]",
            "'", "a\nb", "<<",
        ] {
            assert!(needs_quote(quoted), "{quoted:?} needs quotes");
        }
    }

    #[test]
    fn the_first_byte_check_is_is_literal_start() {
        // The definition: quoted unless it starts a literal and every byte may stand bare.
        let reference = |s: &str| {
            let first = s.chars().next().unwrap();
            !is_literal_start(first)
                || matches!(s, "true" | "false" | "null")
                || s.bytes()
                    .any(|b| BYTE_CLASS[usize::from(b)] & !class::BACKSLASH != class::BARE)
        };
        for a in 0u8..128 {
            for b in [b'a', b'1', b'-', b':', b' ', b'.'] {
                let s = String::from_utf8(vec![a, b]).unwrap();
                assert_eq!(needs_quote(&s), reference(&s), "{s:?}");
            }
        }
    }

    #[test]
    fn quote_style_and_escapes() {
        assert_eq!(quote("x y"), "\"x y\"");
        assert_eq!(quote("field's value"), "\"field's value\"");
        assert_eq!(quote("say \"hi\""), "'say \"hi\"'");
        assert_eq!(quote("a\nb\t\\\u{1}"), "\"a\\nb\\t\\\\\\u0001\"");
    }
}
