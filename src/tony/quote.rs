//! Which strings may be written bare, and how the others are quoted.

/// Punctuation that may appear inside a bare literal.
const LITERAL_PUNCT: &str = "()[]{}$~@:/._+-\\*%!=";
/// Punctuation of [`LITERAL_PUNCT`] that may not start a literal.
const NOT_FIRST: &str = "[]{}:-!";

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

/// Whether `s` must be quoted to read back as the same string: it is empty, a keyword, starts
/// with a digit or a character that cannot start a literal, or contains a character that is
/// not a literal character or that the grammar could read as structure (`:`, brackets).
pub fn needs_quote(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else { return true };
    if !is_literal_start(first) || matches!(s, "true" | "false" | "null") {
        return true;
    }
    s.chars().any(|c| !is_literal_char(c) || matches!(c, ':' | '[' | ']' | '{' | '}'))
}

/// `s` quoted: double quotes unless it holds more `"` than `'`, with JSON-style escapes.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_quoted(&mut out, s);
    out
}

/// Appends `s` quoted (see [`quote`]) to `out`.
pub fn write_quoted(out: &mut String, s: &str) {
    let doubles = s.bytes().filter(|&b| b == b'"').count();
    let singles = s.bytes().filter(|&b| b == b'\'').count();
    let q = if doubles > singles { '\'' } else { '"' };
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(q);
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
mod tests {
    use super::*;

    #[test]
    fn bare_and_quoted_strings() {
        for bare in ["a", "hello", "a.b", "x_y", "/path/to", "é", "a-b", "a!b", "*", "(x)"] {
            assert!(!needs_quote(bare), "{bare:?} can be bare");
        }
        for quoted in ["", "1a", "true", "null", "false", "a b", "-a", "!a", "a:b", "a,b", "a#b", "{", "x]", "'", "a\nb", "<<"] {
            assert!(needs_quote(quoted), "{quoted:?} needs quotes");
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
