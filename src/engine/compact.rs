//! Compaction: one patch standing for a run of consecutive entries.
//!
//! [`compose`] merges the entries' patches where they are plain object merges and, wherever
//! they are not, writes the final state of that subtree (`!insert value` or `!delete`). The
//! result applied to the state before the run gives exactly the state after it, key order
//! included, and it touches only paths the run touched.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::RandomState;

use super::classify::is_merge;
use super::entry::End;
use super::error::Result;
use crate::kpath::{KPath, Segment};
use crate::patch::op_name;
use crate::tony::{Key, Node, Value};

/// For every path some constituent ended at: whether the composed merge there is independent.
type EndKinds<'a> = HashMap<&'a [Segment], bool, RandomState>;

/// The state after the run at a path (`None`: absent).
pub type StateAt<'a> = dyn FnMut(&KPath) -> Result<Option<Node>> + 'a;

/// The composed patch of `patches` (in order) and its ends. `ends_of` gives each constituent's
/// ends, so that merges which were ends in a constituent stay ends (they may depend on the
/// state before the run).
pub fn compose(
    patches: &[&Node],
    constituent_ends: &[Vec<&End>],
    state_after: &mut StateAt<'_>,
) -> Result<(Node, Vec<End>)> {
    let was_end = end_kinds(constituent_ends);
    let mut ends = Vec::new();
    let node = compose_at(patches, &mut Vec::new(), state_after, &was_end, &mut ends)?;
    Ok((node, ends))
}

fn final_state(
    path: &[Segment],
    state_after: &mut StateAt<'_>,
    ends: &mut Vec<End>,
) -> Result<Node> {
    let kpath = KPath::from_segments(path.to_vec());
    ends.push(End {
        path: kpath.clone(),
        independent: true,
    });
    Ok(match state_after(&kpath)? {
        Some(value) => {
            let tag = match value.tag() {
                Some(t) => format!("!insert({})", t.trim_start_matches('!')),
                None => "!insert".to_owned(),
            };
            value.with_tag(&tag)
        }
        None => Node::null().with_tag("!delete"),
    })
}

fn compose_at(
    patches: &[&Node],
    path: &mut Vec<Segment>,
    state_after: &mut StateAt<'_>,
    was_end: &EndKinds<'_>,
    ends: &mut Vec<End>,
) -> Result<Node> {
    let all_merges = patches.iter().all(|p| is_merge(p) && p.tag.is_none());
    // Where the run determines the subtree (its first touch there was an independent end:
    // usually a record written whole), the composed merge would spell out every member anyway;
    // the final state says the same at once, as one end, without composing each version.
    let determined = !path.is_empty() && was_end.get(path.as_slice()) == Some(&true);
    if !all_merges || determined {
        return final_state(path, state_after, ends);
    }
    // Group each key's patches in order of first appearance. A key deleted and then written
    // again moves to the end of its object, which a single merge cannot express: the whole
    // object is written as its final state instead.
    let mut groups: Vec<(Key, Vec<&Node>)> = Vec::new();
    let mut at: HashMap<&Key, usize, RandomState> = HashMap::default();
    let mut closed: Vec<bool> = Vec::new();
    for patch in patches {
        for (key, child) in patch.as_object().expect("merges are objects") {
            match at.get(key) {
                Some(&i) if closed[i] => return final_state(path, state_after, ends),
                Some(&i) => groups[i].1.push(child),
                None => {
                    at.insert(key, groups.len());
                    groups.push((key.clone(), vec![child]));
                    closed.push(false);
                }
            }
            if op_name(child).as_deref() == Some("delete") {
                closed[at[key]] = true;
            }
        }
    }
    let ints = groups.iter().any(|(k, _)| matches!(k, Key::Int(_)));
    if ints && groups.iter().any(|(k, _)| matches!(k, Key::Str(_))) {
        // Integer and string keys cannot share an object in Tony text.
        return final_state(path, state_after, ends);
    }
    if let Some(&independent) = was_end.get(path.as_slice()) {
        ends.push(End {
            path: KPath::from_segments(path.clone()),
            independent,
        });
    }
    let mut entries = Vec::with_capacity(groups.len());
    for (key, group) in groups {
        path.push(Segment::of_key(&key).expect("merges have no merge keys"));
        let child = if op_name(group.last().expect("non-empty")).as_deref() == Some("delete") {
            ends.push(End {
                path: KPath::from_segments(path.clone()),
                independent: true,
            });
            Node::null().with_tag("!delete")
        } else {
            compose_at(&group, path, state_after, was_end, ends)?
        };
        path.pop();
        entries.push((key, child));
    }
    Ok(Node {
        tag: None,
        value: Value::Object(Arc::new(entries)),
    })
}

/// For every path some constituent ended at: whether the composed merge there is still
/// independent of the earlier state. It is when the first constituent to touch the path
/// replaced it independently; otherwise (it passed through, or depended on the state) the
/// composed merge depends on the state before the run.
fn end_kinds<'a>(constituent_ends: &[Vec<&'a End>]) -> EndKinds<'a> {
    #[derive(Clone, Copy)]
    enum First {
        Pass,
        End(bool),
    }
    // Paths as segment slices borrowed from the ends (an ancestor is a prefix): no copies.
    let mut first: HashMap<&'a [Segment], First, RandomState> = HashMap::default();
    let mut ended: Vec<&'a [Segment]> = Vec::new();
    for ends in constituent_ends {
        // A constituent may end at a path and below it (a merge rewriting a whole object): its
        // end there is how it first touched the path, so ends are recorded before passes.
        for end in ends.iter() {
            first
                .entry(end.path.segments())
                .or_insert(First::End(end.independent));
            ended.push(end.path.segments());
        }
        for end in ends.iter() {
            let segments = end.path.segments();
            for depth in 0..segments.len() {
                first.entry(&segments[..depth]).or_insert(First::Pass);
            }
        }
    }
    ended
        .into_iter()
        .map(|path| {
            let independent = matches!(first.get(path), Some(First::End(true)));
            (path, independent)
        })
        .collect()
}
