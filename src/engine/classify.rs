//! Where a commit's root patch ends, given the state it applies to (see [`End`]).

use super::entry::End;
use crate::kpath::{key_order, KPath, Segment};
use crate::patch::op_kind;
use crate::tony::{Node, Value};

/// Bounds on how finely one entry is indexed: below a patch root, a merge deeper than
/// `max_depth` or with more than `max_members` members is indexed as one end (reads below it
/// then work from that end). A patch creating a subtree of more than `max_members` nodes where
/// nothing was is one (independent) end, not walked.
#[derive(Clone, Copy, Debug)]
pub struct IndexLimits {
    /// Deepest path indexed inside one entry.
    pub max_depth: usize,
    /// Widest merge (in members) that is indexed member by member.
    pub max_members: usize,
}

impl Default for IndexLimits {
    fn default() -> Self {
        IndexLimits {
            max_depth: 64,
            max_members: 4096,
        }
    }
}

/// Whether `patch` merges into an object: an untagged-by-op object without merge keys.
pub(crate) fn is_merge(patch: &Node) -> bool {
    op_kind(patch).is_none()
        && matches!(&patch.value, Value::Object(members) if !members.has_merge_keys())
}

/// Whether applying `patch` to `state` gives the same result as applying it to nothing.
fn is_independent(patch: &Node, state: Option<&Node>) -> bool {
    match op_kind(patch) {
        // (`!nullify` keeps the state's tag, so it depends on the state.)
        Some("insert" | "delete" | "replace") => true,
        Some(_) => false,
        None => match &patch.value {
            Value::Object(_) => !matches!(state.map(|s| &s.value), Some(Value::Object(_))),
            Value::Array(_) => !matches!(state.map(|s| &s.value), Some(Value::Array(_))),
            _ => true,
        },
    }
}

/// Counts the nodes of `node`, stopping once `limit` is exceeded.
pub(crate) fn size_exceeds(node: &Node, limit: usize) -> bool {
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

/// The ends of `ends` at `positions` (from [`outermost_positions`]).
pub(crate) fn ends_at<'e>(ends: &'e [End], positions: &[usize]) -> Vec<&'e End> {
    positions.iter().filter_map(|&i| ends.get(i)).collect()
}

/// Up to this many ends, each is checked against every other rather than all sorted first.
const FEW_ENDS: usize = 16;

/// Up to this many members, the classifier keeps their walking order on the stack.
const FEW_MEMBERS: usize = 16;

/// Puts `ends` in path order (stable: equal paths keep their order).
pub(crate) fn in_path_order(ends: &mut [End]) {
    if !is_in_path_order(ends) {
        crate::sort::sort_by(ends, |a, b| a.path.cmp(&b.path));
    }
}

/// Puts a composed entry's ends in path order when they are many (more than [`FEW_ENDS`]),
/// as [`classify`] gives a commit's: each later use then finds them sorted
/// ([`outermost_positions`] in one pass instead of a sort each time, the log's path
/// texts sharing their prefixes). A few are left as they are: checking a few pairs costs
/// less than sorting.
pub(crate) fn order_many(ends: &mut [End]) {
    if ends.len() > FEW_ENDS {
        in_path_order(ends);
    }
}

fn is_in_path_order(ends: &[End]) -> bool {
    ends.windows(2)
        .all(|pair| matches!(pair, [a, b] if a.path <= b.path))
}

/// The positions of the ends the index needs of an entry's `ends`: all of them, less those strictly below an
/// independent end. A read below an independent end starts at it (the index lists it as an
/// ancestor end), so the ends under it add nothing but index size; the log keeps them for the
/// precision of change feeds. A record written whole thus costs one end, not one per member.
/// The positions are in path order.
pub(crate) fn outermost_positions(ends: &[End]) -> Vec<usize> {
    if ends.len() <= FEW_ENDS {
        // A commit's few ends (a record and its members): each checked against the others
        // costs less than checking their order; only the kept ones are sorted, usually one.
        outermost_by_pairs(ends)
    } else if is_in_path_order(ends) {
        // As new entries keep them (see `classify` and `order_many`): one pass, no sort.
        outermost_in_order(ends, 0..ends.len())
    } else {
        outermost_by_sorting(ends)
    }
}

/// [`outermost_positions`] checking each end against every other.
fn outermost_by_pairs(ends: &[End]) -> Vec<usize> {
    let path = |i: usize| ends.get(i).map(|e| &e.path);
    let covered = |end: &End| {
        ends.iter().any(|other| {
            other.independent
                && other.path.len() < end.path.len()
                && other.path.is_prefix_of(&end.path)
        })
    };
    let mut kept: Vec<usize> = ends
        .iter()
        .enumerate()
        .filter(|(_, end)| !covered(end))
        .map(|(i, _)| i)
        .collect();
    if kept.len() > 1 {
        crate::sort::sort_by(&mut kept, |&a, &b| path(a).cmp(&path(b)));
    }
    kept
}

/// [`outermost_positions`] sorting the ends first: in path order a path's descendants follow
/// it at once.
fn outermost_by_sorting(ends: &[End]) -> Vec<usize> {
    let path = |i: usize| ends.get(i).map(|e| &e.path);
    let mut order: Vec<usize> = (0..ends.len()).collect();
    crate::sort::sort_by(&mut order, |&a, &b| path(a).cmp(&path(b)));
    outermost_in_order(ends, order)
}

/// The positions in `order` (positions of `ends` in path order) of the ends not strictly
/// below an independent end: in path order a path's descendants follow it at once.
fn outermost_in_order(ends: &[End], order: impl IntoIterator<Item = usize>) -> Vec<usize> {
    let mut kept = Vec::new();
    let mut covering: Option<&KPath> = None;
    for i in order {
        let Some(end) = ends.get(i) else {
            continue;
        };
        if covering.is_some_and(|c| c.len() < end.path.len() && c.is_prefix_of(&end.path)) {
            continue;
        }
        if end.independent {
            covering = Some(&end.path);
        }
        kept.push(i);
    }
    kept
}

/// The ends of `patch` applied to `state`, in path order.
pub fn classify(patch: &Node, state: Option<&Node>, limits: IndexLimits) -> Vec<End> {
    let covers = |patch: &Node, state: Option<&Node>, _: &[Segment]| {
        Ok::<_, std::convert::Infallible>(merge_covers(patch, state))
    };
    match classify_with(patch, state, limits, covers) {
        Ok(ends) => ends,
        Err(never) => match never {},
    }
}

/// [`classify`] against a state that holds only part of each object the patch merges into
/// (the members the patch names): `covers` answers [`merge_covers`] for the merge at a path,
/// from wherever the whole object is (see `store/touched.rs`). It is asked only where every
/// member the merge names is independent.
pub(crate) fn classify_with<E>(
    patch: &Node,
    state: Option<&Node>,
    limits: IndexLimits,
    mut covers: impl FnMut(&Node, Option<&Node>, &[Segment]) -> Result<bool, E>,
) -> Result<Vec<End>, E> {
    let mut ends = Vec::new();
    walk(
        patch,
        state,
        &mut Vec::new(),
        limits,
        &mut ends,
        &mut covers,
    )?;
    Ok(ends)
}

/// Whether a merge whose members are each independent of the state also yields, as a whole,
/// what it yields applied to nothing: the state there is absent, or an untagged object whose
/// keys the patch lists first, in the same order (a merge keeps the state's key order and
/// appends new keys, so only then is the order the patch's).
pub(crate) fn merge_covers(patch: &Node, state: Option<&Node>) -> bool {
    let Some(state) = state else {
        return true;
    };
    let (Some(members), Some(patch_members)) = (state.as_object(), patch.as_object()) else {
        return false;
    };
    state.tag.is_none()
        && patch_members.len() >= members.len()
        && members
            .iter()
            .zip(patch_members.iter())
            .all(|((k, _), (pk, _))| k == pk)
}

/// Adds the ends of `patch` applied to `state` at `path`; returns whether the result there is
/// independent of the state (see [`End::independent`]).
fn walk<E>(
    patch: &Node,
    state: Option<&Node>,
    path: &mut Vec<Segment>,
    limits: IndexLimits,
    ends: &mut Vec<End>,
    covers: &mut impl FnMut(&Node, Option<&Node>, &[Segment]) -> Result<bool, E>,
) -> Result<bool, E> {
    if state.is_none() && !path.is_empty() && size_exceeds(patch, limits.max_members) {
        // Nothing was here: whatever the patch holds, its result ignores the state. A large
        // new subtree is one end, not walked (reads below start at it); a small one is walked,
        // so the log records its members for the change feed.
        ends.push(End {
            path: KPath::from_segments(path.clone()),
            independent: true,
        });
        return Ok(true);
    }
    let passes = is_merge(patch)
        && patch.tag.is_none()
        && matches!(state.map(|s| &s.value), None | Some(Value::Object(_)))
        && path.len() < limits.max_depth
        && patch
            .as_object()
            .is_some_and(|m| m.len() <= limits.max_members);
    if !passes {
        let independent = is_independent(patch, state);
        ends.push(End {
            path: KPath::from_segments(path.clone()),
            independent,
        });
        return Ok(independent);
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
        return Ok(state.is_none());
    }
    // Members are walked in path order, and an object's own end goes before its members'
    // (below): the ends come out in path order, as entries keep them.
    let in_order = entries
        .windows(2)
        .all(|pair| matches!(pair, [(a, _), (b, _)] if key_order(a, b).is_le()));
    // The order of a few members is kept on the stack (a record's fields).
    let (mut few, mut many) = ([0usize; FEW_MEMBERS], Vec::new());
    let order: &mut [usize] = match few.get_mut(..entries.len()) {
        Some(few) => few,
        None => {
            many.resize(entries.len(), 0);
            &mut many
        }
    };
    for (i, slot) in order.iter_mut().enumerate() {
        *slot = i;
    }
    if !in_order {
        crate::sort::sort_by(order, |&a, &b| match (entries.get(a), entries.get(b)) {
            (Some((a, _)), Some((b, _))) => key_order(a, b),
            _ => std::cmp::Ordering::Equal,
        });
    }
    let mark = ends.len();
    let mut members_independent = true;
    for &at in order.iter() {
        let Some((key, child)) = entries.get(at) else {
            continue;
        };
        let segment = Segment::of_key(key).expect("merges have no merge keys");
        let child_state = state.and_then(|s| s.get_field(key));
        path.push(segment);
        members_independent &= walk(child, child_state, path, limits, ends, covers)?;
        path.pop();
    }
    // A merge that rewrites every member of the object (or creates it) determines it: an
    // independent end here too, so a read of the object can start at this entry instead of
    // replaying every earlier merge into it. Not at the root, whose reads start anywhere.
    let covered = members_independent && covers(patch, state, path)?;
    if covered && !path.is_empty() {
        ends.insert(
            mark,
            End {
                path: KPath::from_segments(path.clone()),
                independent: true,
            },
        );
    }
    Ok(covered)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Ends over a small tree of paths, so that ancestors, duplicates and siblings are common.
    fn end() -> impl Strategy<Value = End> {
        let segments = proptest::collection::vec(prop::sample::select(vec!["a", "b", "[0]"]), 0..4);
        (segments, any::<bool>()).prop_map(|(segments, independent)| {
            let text = segments.iter().fold(String::new(), |mut text, s| {
                if !text.is_empty() && !s.starts_with('[') {
                    text.push('.');
                }
                text.push_str(s);
                text
            });
            End {
                path: KPath::parse(&text).expect("a valid path"),
                independent,
            }
        })
    }

    #[test]
    fn ends_come_in_path_order() {
        let limits = IndexLimits::default();
        let parse = |text: &str| crate::tony::parse(text).expect("valid Tony");
        // (patch, state): members in reverse and mixed order, records rewritten whole (an
        // end at the record before its members'), nested objects, sparse keys, a
        // replacement among merges, and wider than the stack's few members.
        let wide: String = (0..40).rev().map(|i| format!("k{i}: {i} ")).collect();
        let cases = [
            ("{b: {y: 1, x: 2}, a: {q: {z: 1, c: 2}}}", "{}"),
            (
                "{u: {name: n, email: e, score: 1}}",
                "{u: {name: m, email: d, score: 0}}",
            ),
            (
                "{s: {3: a, 1: b, 2: c}, r: !insert {z: 1}, q: {}}",
                "{s: {1: x}}",
            ),
            (&*format!("{{w: {{{wide}}}}}"), "{w: {k3: 0}}"),
        ];
        for (patch, state) in cases {
            let ends = classify(&parse(patch), Some(&parse(state)), limits);
            assert!(ends.len() > 2, "{patch}: {ends:?}");
            assert!(is_in_path_order(&ends), "{patch}: {ends:?}");
        }
    }

    proptest! {
        #[test]
        fn checking_pairs_keeps_what_sorting_keeps(ends in proptest::collection::vec(end(), 0..=FEW_ENDS)) {
            prop_assert_eq!(outermost_by_pairs(&ends), outermost_by_sorting(&ends));
        }

        /// Ends put in path order keep the same ends through the one-pass scan, many or few.
        #[test]
        fn ends_in_path_order_keep_what_sorting_keeps(mut ends in proptest::collection::vec(end(), 0..40)) {
            let kept = |ends: &[End], positions: Vec<usize>| -> Vec<(String, bool)> {
                positions
                    .into_iter()
                    .map(|i| (ends[i].path.to_string(), ends[i].independent))
                    .collect()
            };
            let expected = kept(&ends, outermost_by_sorting(&ends));
            in_path_order(&mut ends);
            prop_assert!(is_in_path_order(&ends));
            prop_assert_eq!(kept(&ends, outermost_positions(&ends)), expected);
        }
    }
}
