//! Patches, diffs and matches over Tony values.
//!
//! * [`patch`] applies a patch: a Tony value whose tags (`!delete`, `!insert`, `!replace`,
//!   `!arraydiff`, `!strdiff`, tag ops, ...) say how to change a document.
//! * [`diff`] computes a patch taking one document to another; [`reverse`] inverts it.
//! * [`matches`](matches()) checks a document against a pattern (commit preconditions).
// No panics on user input: no unwrap/expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod apply;
mod diff;
mod expand;
mod glob;
mod jsonpatch;
mod matching;
mod ops;
mod reverse;
mod seq;

pub(crate) use apply::{apply_committed, patch_owned};
pub(crate) use apply::{arraydiff_source, plain_arraydiff, ElementSource, SlotEdit};
pub use apply::{patch, patch_with, PatchOptions};
pub use diff::diff;
pub use matching::{matches, try_matches};
pub(crate) use ops::{data_tag, find_op, is_active_tag, is_plain_data, op_kind};
pub use reverse::reverse;

/// The most nested calls a patch, match or reverse walk makes before it stops with
/// [`PatchError::TooDeep`]: values nest at most [`MAX_DEPTH`](crate::tony::MAX_DEPTH) levels
/// (one call each), plus some calls for the ops of tag chains. About 1.5 KiB of stack per
/// call (release, x86-64) keeps the deepest walk well inside WebAssembly's 1 MiB stack.
pub(crate) const MAX_CALLS: usize = crate::tony::MAX_DEPTH + 64;

/// Applies `patch` to `doc`, where `None` means absent (a key that does not exist); returns
/// `None` when the patch deletes the value.
pub fn apply_to(
    doc: Option<&tony::Node>,
    patch: &tony::Node,
) -> Result<Option<tony::Node>, PatchError> {
    apply::apply(doc, patch, &mut apply::Ctx::new())
}

/// The name of the op a patch node runs (its first registered op tag link), if any.
pub fn op_name(patch: &tony::Node) -> Option<String> {
    ops::op_kind(patch).map(str::to_owned)
}

use crate::tony;

/// Why a patch could not be applied. The document is never modified on error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// A check (`!replace`'s `from`, `!delete` in an array diff, `!retag`'s old tag) failed.
    #[error("at {path:?}: {op} expected {expected} but found {found}")]
    CheckFailed {
        /// Where, as a kinded path.
        path: String,
        /// The op whose check failed.
        op: String,
        /// What the op expected (wire form).
        expected: String,
        /// What the document holds (wire form).
        found: String,
    },
    /// The op does not apply to this kind of value.
    #[error("at {path:?}: {op} needs {needs} but found {found}")]
    WrongKind {
        /// Where.
        path: String,
        /// The op.
        op: String,
        /// The kind it needs.
        needs: &'static str,
        /// The kind found.
        found: &'static str,
    },
    /// The op's own content is malformed (e.g. `!replace` without `from`/`to`).
    #[error("at {path:?}: malformed {op}: {reason}")]
    Malformed {
        /// Where.
        path: String,
        /// The op.
        op: String,
        /// What is wrong.
        reason: String,
    },
    /// The patch, pattern or value nests deeper than the recursion bound ([`MAX_DEPTH`] levels
    /// of values, twice that in nested op calls such as long tag chains).
    ///
    /// [`MAX_DEPTH`]: crate::tony::MAX_DEPTH
    #[error("at {path:?}: nesting deeper than {limit} levels")]
    TooDeep {
        /// Where the bound was hit (the root when the walk does not track paths).
        path: String,
        /// The bound.
        limit: usize,
    },
    /// A match pattern that would take too long to evaluate (e.g. `!subtree` chained inside
    /// `!subtree` many times over: each link multiplies the work by the document's size).
    #[error("the match pattern needs more than {limit} steps")]
    TooComplex {
        /// The step budget of one match.
        limit: u64,
    },
    /// An op that this implementation deliberately does not run.
    #[error("at {path:?}: unsupported op {op}: {reason}")]
    Unsupported {
        /// Where.
        path: String,
        /// The op.
        op: String,
        /// Why.
        reason: &'static str,
    },
}
