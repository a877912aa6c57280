//! Sequence alignment shared by array and string diffs, and the units strings are diffed in.

/// How a string is cut into units for `!strdiff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StrMode {
    /// One unit per character (`!strdiff(false)`).
    Runes,
    /// One unit per line, split at `\n` (`!strdiff(true)`).
    Lines,
}

/// The units of `text`: characters, or lines (without their `\n`).
pub(crate) fn split_units(text: &str, mode: StrMode) -> Vec<&str> {
    match mode {
        StrMode::Runes => text.split_inclusive(|_: char| true).collect(),
        StrMode::Lines => text.split('\n').collect(),
    }
}

/// Units joined back into text.
pub(crate) fn join_units(units: &[&str], mode: StrMode) -> String {
    match mode {
        StrMode::Runes => units.concat(),
        StrMode::Lines => units.join("\n"),
    }
}

/// One step of an alignment of `a` with `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// `a[i]` and `b[j]` correspond.
    Keep(usize, usize),
    /// `a[i]` is gone.
    Delete(usize),
    /// `b[j]` is new.
    Insert(usize),
}

/// Largest `len(a) * len(b)` (after trimming common ends) aligned by dynamic programming; larger
/// middles are aligned position by position.
const MAX_DP_CELLS: usize = 4_000_000;

/// Aligns `a` with `b` by a longest common subsequence under `same`. Within each gap, deletions
/// come before insertions (so a delete followed by an insert can become a replace).
pub(crate) fn align<T>(a: &[T], b: &[T], same: impl Fn(&T, &T) -> bool) -> Vec<Step> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| same(x, y)).count();
    let (ra, rb) = (
        a.get(prefix..).unwrap_or_default(),
        b.get(prefix..).unwrap_or_default(),
    );
    let suffix = ra
        .iter()
        .rev()
        .zip(rb.iter().rev())
        .take_while(|(x, y)| same(x, y))
        .count();
    let (ma, mb) = (
        ra.get(..ra.len().saturating_sub(suffix))
            .unwrap_or_default(),
        rb.get(..rb.len().saturating_sub(suffix))
            .unwrap_or_default(),
    );
    let mut steps: Vec<Step> = (0..prefix).map(|i| Step::Keep(i, i)).collect();
    if ma.len().saturating_mul(mb.len()) <= MAX_DP_CELLS {
        lcs_steps(ma, mb, &same, prefix, &mut steps);
    } else {
        steps.extend((prefix..).take(ma.len()).map(Step::Delete));
        steps.extend((prefix..).take(mb.len()).map(Step::Insert));
    }
    let (tail_a, tail_b) = (
        a.len().saturating_sub(suffix),
        b.len().saturating_sub(suffix),
    );
    steps.extend(
        (tail_a..a.len())
            .zip(tail_b..)
            .map(|(i, j)| Step::Keep(i, j)),
    );
    steps
}

// The table has (n + 1) * (m + 1) <= MAX_DP_CELLS + n + m + 1 cells, allocated up front;
// every index below is i * width + j with i <= n and j <= m, so it is in bounds and cannot
// overflow, and the lengths are at most min(n, m).
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
fn lcs_steps<T>(
    a: &[T],
    b: &[T],
    same: &impl Fn(&T, &T) -> bool,
    offset: usize,
    steps: &mut Vec<Step>,
) {
    let (n, m) = (a.len(), b.len());
    // lengths[i][j] = LCS length of a[i..] and b[j..].
    let width = m + 1;
    let mut lengths = vec![0u32; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lengths[i * width + j] = if same(&a[i], &b[j]) {
                lengths[(i + 1) * width + j + 1] + 1
            } else {
                lengths[(i + 1) * width + j].max(lengths[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut deletes = Vec::new();
    let mut inserts = Vec::new();
    let flush = |steps: &mut Vec<Step>, deletes: &mut Vec<Step>, inserts: &mut Vec<Step>| {
        steps.append(deletes);
        steps.append(inserts);
    };
    while i < n || j < m {
        if i < n
            && j < m
            && same(&a[i], &b[j])
            && lengths[i * width + j] == lengths[(i + 1) * width + j + 1] + 1
        {
            flush(steps, &mut deletes, &mut inserts);
            steps.push(Step::Keep(offset + i, offset + j));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lengths[i * width + j + 1] >= lengths[(i + 1) * width + j]) {
            inserts.push(Step::Insert(offset + j));
            j += 1;
        } else {
            deletes.push(Step::Delete(offset + i));
            i += 1;
        }
    }
    flush(steps, &mut deletes, &mut inserts);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_puts_deletes_before_inserts() {
        let a = [1, 2, 3, 3, 3, 7, 8];
        let b = [2, 3, 3, 3, 4, 7, 9];
        let steps = align(&a, &b, |x, y| x == y);
        use Step::*;
        assert_eq!(
            steps,
            [
                Delete(0),
                Keep(1, 0),
                Keep(2, 1),
                Keep(3, 2),
                Keep(4, 3),
                Insert(4),
                Keep(5, 5),
                Delete(6),
                Insert(6)
            ]
        );
    }

    #[test]
    fn units() {
        assert_eq!(
            split_units("héllo", StrMode::Runes),
            ["h", "é", "l", "l", "o"]
        );
        assert_eq!(split_units("a\nb\n", StrMode::Lines), ["a", "b", ""]);
        assert_eq!(join_units(&["a", "b", ""], StrMode::Lines), "a\nb\n");
    }
}
