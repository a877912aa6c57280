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

/// ASCII bytes that may stand anywhere in a bare string the encoder writes: literal characters
/// minus those the grammar could read as structure (`:` and brackets).
// Evaluated at compile time: an index out of range or an overflow would not compile.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const BARE_ASCII: [bool; 128] = {
    let mut table = [false; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
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
                    | b'\\'
                    | b'*'
                    | b'%'
                    | b'!'
                    | b'='
            );
        b += 1;
    }
    table
};

/// Whether `s` must be quoted to read back as the same string: it is empty, a keyword, starts
/// with a digit or a character that cannot start a literal, or contains a character that is
/// not a literal character or that the grammar could read as structure (`:`, brackets).
pub fn needs_quote(s: &str) -> bool {
    let Some(&first_byte) = s.as_bytes().first() else {
        return true;
    };
    // An ASCII first byte is checked against BARE_ASCII below with the rest; of those bytes
    // only digits, `-` and `!` cannot start a literal.
    let starts_literal = if first_byte.is_ascii() {
        !first_byte.is_ascii_digit() && !matches!(first_byte, b'-' | b'!')
    } else {
        s.chars().next().is_some_and(is_literal_start)
    };
    if !starts_literal || matches!(s, "true" | "false" | "null") {
        return true;
    }
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b >= 0x80 {
            // Non-ASCII: decide the rest character by character.
            return s
                .get(i..)
                .unwrap_or_default()
                .chars()
                .any(|c| !is_literal_char(c) || matches!(c, ':' | '[' | ']' | '{' | '}'));
        }
        if !BARE_ASCII.get(usize::from(b)).copied().unwrap_or(false) {
            return true;
        }
    }
    false
}

/// `s` quoted: double quotes unless it holds more `"` than `'`, with JSON-style escapes.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    write_quoted(&mut out, s);
    out
}

/// Appends `s` quoted (see [`quote`]) to `out`.
pub fn write_quoted(out: &mut String, s: &str) {
    let (mut doubles, mut singles) = (0usize, 0usize);
    for &b in s.as_bytes() {
        doubles = doubles.saturating_add(usize::from(b == b'"'));
        singles = singles.saturating_add(usize::from(b == b'\''));
    }
    let q = if doubles > singles { '\'' } else { '"' };
    out.push(q);
    // Copy runs of plain bytes whole; every escaped byte is ASCII, so slices stay on chars.
    let mut run = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let escaped: std::borrow::Cow<'static, str> = match b {
            b'\\' => "\\\\".into(),
            b'\n' => "\\n".into(),
            b'\r' => "\\r".into(),
            b'\t' => "\\t".into(),
            0x08 => "\\b".into(),
            0x0c => "\\f".into(),
            b'"' if q == '"' => "\\\"".into(),
            b'\'' if q == '\'' => "\\'".into(),
            b if b < 0x20 || b == 0x7f => format!("\\u{b:04x}").into(),
            _ => continue,
        };
        // Escaped bytes are ASCII, so `run` and `i` fall on character boundaries.
        out.push_str(s.get(run..i).unwrap_or_default());
        out.push_str(&escaped);
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
                || s.bytes().any(|b| !BARE_ASCII[usize::from(b)])
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
