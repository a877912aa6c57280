//! Where a commit's root patch ends, given the state it applies to (see [`End`]).

use super::entry::End;
use crate::kpath::{KPath, Segment};
use crate::patch::op_name;
use crate::tony::{Key, Node, Value};

/// Bounds on how finely one entry is indexed: below a patch root, a merge deeper than
/// `max_depth` or whose patch subtree has more than `max_subtree_nodes` nodes is indexed as one
/// end (reads below it then work from that end).
#[derive(Clone, Copy, Debug)]
pub struct IndexLimits {
    /// Deepest path indexed inside one entry.
    pub max_depth: usize,
    /// Largest patch subtree (in nodes) that is indexed node by node.
    pub max_subtree_nodes: usize,
}

impl Default for IndexLimits {
    fn default() -> Self {
        IndexLimits {
            max_depth: 64,
            max_subtree_nodes: 4096,
        }
    }
}

/// Whether `patch` merges into an object: an untagged-by-op object without merge keys.
pub(crate) fn is_merge(patch: &Node) -> bool {
    op_name(patch).is_none()
        && patch
            .as_object()
            .is_some_and(|entries| entries.iter().all(|(k, _)| *k != Key::Merge))
}

/// Whether applying `patch` to `state` gives the same result as applying it to nothing.
fn is_independent(patch: &Node, state: Option<&Node>) -> bool {
    match op_name(patch).as_deref() {
        Some("insert" | "delete" | "nullify" | "replace") => true,
        Some(_) => false,
        None => match &patch.value {
            Value::Object(_) => !matches!(state.map(|s| &s.value), Some(Value::Object(_))),
            Value::Array(_) => !matches!(state.map(|s| &s.value), Some(Value::Array(_))),
            _ => true,
        },
    }
}

/// Counts the nodes of `node`, stopping once `limit` is exceeded.
fn size_exceeds(node: &Node, limit: usize) -> bool {
    let mut count = 0usize;
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        count += 1;
        if count > limit {
            return true;
        }
        match &n.value {
            Value::Object(entries) => stack.extend(entries.iter().map(|(_, v)| v)),
            Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    false
}

/// The ends of `patch` applied to `state`.
pub fn classify(patch: &Node, state: Option<&Node>, limits: IndexLimits) -> Vec<End> {
    let mut ends = Vec::new();
    walk(patch, state, &mut Vec::new(), limits, &mut ends);
    ends
}

fn walk(
    patch: &Node,
    state: Option<&Node>,
    path: &mut Vec<Segment>,
    limits: IndexLimits,
    ends: &mut Vec<End>,
) {
    let passes = is_merge(patch)
        && patch.tag.is_none()
        && matches!(state.map(|s| &s.value), None | Some(Value::Object(_)))
        && path.len() < limits.max_depth
        && !size_exceeds(patch, limits.max_subtree_nodes);
    if !passes {
        ends.push(End {
            path: KPath::from_segments(path.clone()),
            independent: is_independent(patch, state),
        });
        return;
    }
    let entries = patch.as_object().expect("a merge is an object");
    if entries.is_empty() {
        // `{}` changes nothing in an object, but creates one where there was none.
        if state.is_none() {
            ends.push(End {
                path: KPath::from_segments(path.clone()),
                independent: true,
            });
        }
        return;
    }
    for (key, child) in entries {
        let segment = Segment::of_key(key).expect("merges have no merge keys");
        let child_state = state.and_then(|s| s.get_field(key));
        path.push(segment);
        walk(child, child_state, path, limits, ends);
        path.pop();
    }
}
