//! `!glob` patterns, with the original's semantics (Go's `path/filepath.Match` on a `/`
//! separator): `*` is any run of characters other than `/`, `?` one character other than `/`,
//! `[a-z]`/`[^a-z]` a character class, `\c` the character `c`. A malformed pattern is an error.

/// Why a glob pattern is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadPattern;

const SEPARATOR: char = '/';

/// Whether `text` matches `pattern` as a whole.
pub(crate) fn glob_match(pattern: &str, text: &str) -> Result<bool, BadPattern> {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut pattern, mut name): (&[char], &[char]) = (&pattern, &text);
    'chunks: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest unless it holds a separator.
            return Ok(!name.contains(&SEPARATOR));
        }
        // The chunk right here; a last chunk must use up the text.
        let here = match_chunk(chunk, name)?;
        if let Some(after) = here.filter(|after| after.is_empty() || !pattern.is_empty()) {
            name = after;
            continue;
        }
        if star {
            // After skipping 1, 2, ... characters, none of them a separator.
            let skippable = name.iter().take_while(|&&c| c != SEPARATOR).count();
            for skip in 1..=skippable {
                let Some(tail) = name.get(skip..) else { break };
                if let Some(after) = match_chunk(chunk, tail)? {
                    if pattern.is_empty() && !after.is_empty() {
                        continue;
                    }
                    name = after;
                    continue 'chunks;
                }
            }
        }
        // No match; the rest of the pattern must still be well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, &[])?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits `pattern` into (leading stars?, the chunk up to the next unescaped `*` outside a
/// class, the rest).
fn scan_chunk(pattern: &[char]) -> (bool, &[char], &[char]) {
    let stars = pattern.iter().take_while(|&&c| c == '*').count();
    let pattern = pattern.get(stars..).unwrap_or_default();
    let mut in_class = false;
    let mut end = pattern.len();
    let mut i = 0;
    while let Some(&c) = pattern.get(i) {
        match c {
            '\\' => i = i.saturating_add(1),
            '[' => in_class = true,
            ']' => in_class = false,
            '*' if !in_class => {
                end = i;
                break;
            }
            _ => {}
        }
        i = i.saturating_add(1);
    }
    let (chunk, rest) = pattern.split_at(end.min(pattern.len()));
    (stars > 0, chunk, rest)
}

/// Matches `chunk` (no `*`) at the start of `text`: the text after it, `None` when it does not
/// match. The whole chunk is checked for well-formedness even after a mismatch.
fn match_chunk<'t>(
    mut chunk: &[char],
    mut text: &'t [char],
) -> Result<Option<&'t [char]>, BadPattern> {
    let mut failed = false;
    while let Some((&c, rest)) = chunk.split_first() {
        chunk = rest;
        let current = text.first().copied().filter(|_| !failed);
        match c {
            '[' => {
                let negated = chunk.first() == Some(&'^');
                if negated {
                    chunk = chunk.get(1..).unwrap_or_default();
                }
                let mut matched = false;
                let mut ranges = 0usize;
                loop {
                    if chunk.first() == Some(&']') && ranges > 0 {
                        chunk = chunk.get(1..).unwrap_or_default();
                        break;
                    }
                    let (lo, rest) = escaped(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&'-') {
                        let (h, rest) = escaped(chunk.get(1..).unwrap_or_default())?;
                        hi = h;
                        chunk = rest;
                    }
                    matched |= current.is_some_and(|r| lo <= r && r <= hi);
                    ranges = ranges.saturating_add(1);
                }
                if current.is_none() || matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if current.is_none_or(|r| r == SEPARATOR) {
                    failed = true;
                }
            }
            _ => {
                let literal = if c == '\\' {
                    let (&l, rest) = chunk.split_first().ok_or(BadPattern)?;
                    chunk = rest;
                    l
                } else {
                    c
                };
                if current != Some(literal) {
                    failed = true;
                }
            }
        }
        if !failed {
            text = text.get(1..).unwrap_or_default();
        }
    }
    Ok((!failed).then_some(text))
}

/// One possibly escaped character of a class, and what follows it.
fn escaped(chunk: &[char]) -> Result<(char, &[char]), BadPattern> {
    let chunk = match chunk.split_first() {
        None | Some((&('-' | ']'), _)) => return Err(BadPattern),
        Some((&'\\', rest)) => rest,
        Some(_) => chunk,
    };
    let (&c, rest) = chunk.split_first().ok_or(BadPattern)?;
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((c, rest))
}

#[cfg(test)]
mod tests {
    use super::{glob_match, BadPattern};

    /// Cases from Go's `path/filepath` `matchTests` (the original's `!glob` is that function).
    #[test]
    fn filepath_match_cases() {
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[\\-x]", "x", Ok(true)),
            ("\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("[^", "a", Err(BadPattern)),
            ("[^bc", "a", Err(BadPattern)),
            ("a[", "a", Err(BadPattern)),
            ("a[", "ab", Err(BadPattern)),
            ("a[", "x", Err(BadPattern)),
            ("a/b[", "x", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob_match(pattern, text), *want, "{pattern:?} on {text:?}");
        }
    }
}
