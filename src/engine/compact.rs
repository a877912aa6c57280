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
use crate::patch::op_kind;
use crate::tony::keys::shared;
use crate::tony::{Key, Node, Value};

/// Where the constituents ended, as [`end_kinds`] finds it: a trie of the paths they reached
/// (each end's path and its ancestors), walked beside the composed patch, one segment lookup per
/// step (hashing whole paths at every depth was a tenth of a commit).
struct EndKinds<'a> {
    /// The trie's edges: (parent node, segment) to child node. Node 0 is the root, the empty
    /// path.
    children: HashMap<(u32, &'a Segment), u32, RandomState>,
    /// The nodes, by number.
    nodes: Vec<Reached>,
}

/// What the constituents did at one path.
#[derive(Clone, Copy)]
struct Reached {
    /// How the first constituent to reach the path (ending at it or below) reached it.
    first: Option<First>,
    /// Whether some constituent ended at the path.
    ended: bool,
    /// The node of the parent path (the root's own number for the root).
    parent: u32,
}

impl EndKinds<'_> {
    /// The node of the path one `segment` below the node `node`, if some constituent reached
    /// it.
    fn child(&self, node: Option<u32>, segment: &Segment) -> Option<u32> {
        self.children.get(&(node?, segment)).copied()
    }

    fn at(&self, node: Option<u32>) -> Option<&Reached> {
        self.nodes.get(usize::try_from(node?).ok()?)
    }

    /// Whether some constituent ended at the node's path or below it.
    fn reached(&self, node: Option<u32>) -> bool {
        self.at(node).is_some_and(|n| n.first.is_some())
    }

    /// For a path some constituent ended at: whether the composed merge there is independent
    /// of the earlier state (`None`: no constituent ended there).
    fn ended(&self, node: Option<u32>) -> Option<bool> {
        let reached = self.at(node).filter(|n| n.ended)?;
        Some(matches!(reached.first, Some(First::End(true))))
    }
}

/// One key's patches among an object's constituents, in order: the first, then any later
/// ones (most keys have one: no allocation for them).
struct Group<'p> {
    key: &'p Key,
    first: &'p Node,
    later: Vec<&'p Node>,
    /// A patch deleted the key: a later write would move it to the end, which one merge
    /// cannot say.
    closed: bool,
}

/// How a constituent first reached a path: passing through it to an end below, or ending there
/// (independently or not).
#[derive(Clone, Copy)]
enum First {
    Pass,
    End(bool),
}

/// The state after the run at a path (`None`: absent).
pub type StateAt<'a> = dyn FnMut(&KPath) -> Result<Option<Node>> + 'a;

/// Where [`compose`] finds the state after the run, which it writes wherever the patches do
/// not compose.
pub enum StateAfter<'s, 'f> {
    /// The whole state is in memory (the run ends at the head): found by walking down beside
    /// the patches, a member lookup per level (by key index in a wide object), never a path
    /// lookup from the root.
    Known(&'s Node),
    /// Read path by path.
    Lookup(&'f mut StateAt<'s>),
}

/// The state at the path `compose_at` is at, when the whole state is known.
#[derive(Clone, Copy)]
enum Here<'s> {
    Known(Option<&'s Node>),
    Unknown,
}

/// The composed patch of `patches` (in order) and its ends. `ends_of` gives each constituent's
/// ends, so that merges which were ends in a constituent stay ends (they may depend on the
/// state before the run).
pub fn compose(
    patches: &[&Node],
    constituent_ends: &[Vec<&End>],
    state_after: StateAfter<'_, '_>,
) -> Result<(Node, Vec<End>)> {
    let was_end = end_kinds(constituent_ends);
    let mut ends = Vec::new();
    let (here, mut lookup) = match state_after {
        StateAfter::Known(state) => (Here::Known(Some(state)), None),
        StateAfter::Lookup(lookup) => (Here::Unknown, Some(lookup)),
    };
    let mut composer = Composer {
        lookup: &mut lookup,
        was_end: &was_end,
        ends: &mut ends,
    };
    let node = composer.compose_at(patches, &mut Vec::new(), Some(0), here)?;
    Ok((node, ends))
}

struct Composer<'a, 'f, 's> {
    lookup: &'a mut Option<&'f mut StateAt<'s>>,
    was_end: &'a EndKinds<'a>,
    ends: &'a mut Vec<End>,
}

impl Composer<'_, '_, '_> {
    fn final_state(&mut self, path: &[Segment], here: Here<'_>) -> Result<Node> {
        let kpath = KPath::from_segments(path.to_vec());
        let state = match (here, self.lookup.as_mut()) {
            (Here::Known(state), _) => state.cloned(),
            (Here::Unknown, Some(lookup)) => lookup(&kpath)?,
            (Here::Unknown, None) => unreachable!("an unknown state always has a lookup"),
        };
        self.ends.push(End {
            path: kpath,
            independent: true,
        });
        Ok(match state {
            Some(mut value) => {
                value.tag = Some(match value.tag() {
                    // The argument is the tag less its own `!` (exactly one: `!!x` is a tag).
                    Some(t) => Arc::from(format!("!insert({})", t.strip_prefix('!').unwrap_or(t))),
                    None => shared("!insert"),
                });
                value
            }
            None => deleted(),
        })
    }

    fn compose_at(
        &mut self,
        patches: &[&Node],
        path: &mut Vec<Segment>,
        node: Option<u32>,
        here: Here<'_>,
    ) -> Result<Node> {
        let was_end = self.was_end;
        let all_merges = patches.iter().all(|p| is_merge(p) && p.tag.is_none());
        // Where the run determines the subtree (its first touch there was an independent end:
        // usually a record written whole), the composed merge would spell out every member anyway;
        // the final state says the same at once, as one end, without composing each version.
        let determined = !path.is_empty() && was_end.ended(node) == Some(true);
        if !all_merges || determined {
            return self.final_state(path, here);
        }
        let Some(groups) = group_members(patches) else {
            return self.final_state(path, here);
        };
        let ints = groups.iter().any(|g| matches!(g.key, Key::Int(_)));
        if ints && groups.iter().any(|g| matches!(g.key, Key::Str(_))) {
            // Integer and string keys cannot share an object in Tony text.
            return self.final_state(path, here);
        }
        if let Some(independent) = was_end.ended(node) {
            self.ends.push(End {
                path: KPath::from_segments(path.clone()),
                independent,
            });
        }
        let mut entries = Vec::with_capacity(groups.len());
        for group in groups {
            let key = group.key;
            let segment = Segment::of_key(key).expect("merges have no merge keys");
            let child_node = was_end.child(node, &segment);
            path.push(segment);
            let last = group.later.last().copied().unwrap_or(group.first);
            let child = if op_kind(last) == Some("delete") {
                self.ends.push(End {
                    path: KPath::from_segments(path.clone()),
                    independent: true,
                });
                deleted()
            } else if group.later.is_empty() && !was_end.reached(child_node) {
                // One constituent touched the subtree and ended nowhere in it (an end above
                // covers it, e.g. a wide import): its patch there is the composed patch, as
                // is, however large.
                group.first.clone()
            } else {
                // A wide object finds its members through its key index (see `Object`).
                let here = match here {
                    Here::Known(state) => Here::Known(state.and_then(|s| s.get_field(key))),
                    Here::Unknown => Here::Unknown,
                };
                let mut patches = Vec::with_capacity(group.later.len().saturating_add(1));
                patches.push(group.first);
                patches.extend(group.later);
                self.compose_at(&patches, path, child_node, here)?
            };
            path.pop();
            entries.push((key.clone(), child));
        }
        Ok(Node {
            tag: None,
            value: Value::Object(Arc::new(entries.into())),
        })
    }
}

/// `!delete`, the composed patch where the run deleted a value.
fn deleted() -> Node {
    Node {
        tag: Some(shared("!delete")),
        value: Value::Null,
    }
}

/// Each key's patches among `patches` (merges), in order of first appearance; `None` when a
/// key deleted by one patch is written again by a later one: that moves it to the end of its
/// object, which a single merge cannot express (the caller writes the final state instead).
fn group_members<'p>(patches: &[&'p Node]) -> Option<Vec<Group<'p>>> {
    let members = |patch: &'p Node| patch.as_object().expect("merges are objects");
    if let [only] = patches {
        // One patch: its keys are distinct, each its own group (no map to build).
        return Some(
            members(only)
                .iter()
                .map(|(key, child)| Group {
                    key,
                    first: child,
                    later: Vec::new(),
                    closed: false,
                })
                .collect(),
        );
    }
    let count: usize = patches.iter().map(|p| members(p).len()).sum();
    let mut groups: Vec<Group<'p>> = Vec::with_capacity(count);
    let mut at: HashMap<&Key, usize, RandomState> =
        HashMap::with_capacity_and_hasher(count, RandomState::default());
    for patch in patches {
        for (key, child) in members(patch) {
            let group = match at.get(key) {
                Some(&i) => match groups.get_mut(i) {
                    Some(group) if group.closed => return None,
                    Some(group) => {
                        group.later.push(child);
                        group
                    }
                    None => unreachable!("`at` holds positions in `groups`"),
                },
                None => {
                    at.insert(key, groups.len());
                    groups.push(Group {
                        key,
                        first: child,
                        later: Vec::new(),
                        closed: false,
                    });
                    groups.last_mut().expect("just pushed")
                }
            };
            if op_kind(child) == Some("delete") {
                group.closed = true;
            }
        }
    }
    Some(groups)
}

/// For every path some constituent ended at: whether the composed merge there is still
/// independent of the earlier state. It is when the first constituent to touch the path
/// replaced it independently; otherwise (it passed through, or depended on the state) the
/// composed merge depends on the state before the run.
fn end_kinds<'a>(constituent_ends: &[Vec<&'a End>]) -> EndKinds<'a> {
    // Room for every edge at once: growing the map rehashed it several times a build.
    let edges: usize = constituent_ends
        .iter()
        .flatten()
        .map(|end| end.path.segments().len())
        .sum();
    let mut kinds = EndKinds {
        children: HashMap::with_capacity_and_hasher(edges, RandomState::default()),
        nodes: vec![Reached {
            first: None,
            ended: false,
            parent: 0,
        }],
    };
    let mut at_ends: Vec<u32> = Vec::new();
    for ends in constituent_ends {
        // A constituent may end at a path and below it (a merge rewriting a whole object): its
        // end there is how it first touched the path, so ends are recorded before passes.
        at_ends.clear();
        for end in ends.iter() {
            let node = kinds.insert(end.path.segments());
            if let Some(reached) = kinds.nodes.get_mut(node as usize) {
                reached.first.get_or_insert(First::End(end.independent));
                reached.ended = true;
            }
            at_ends.push(node);
        }
        for &node in &at_ends {
            let mut node = node;
            while node != 0 {
                let Some(reached) = kinds.nodes.get(node as usize).copied() else {
                    break;
                };
                node = reached.parent;
                if let Some(parent) = kinds.nodes.get_mut(node as usize) {
                    parent.first.get_or_insert(First::Pass);
                }
            }
        }
    }
    kinds
}

impl<'a> EndKinds<'a> {
    /// The node of `path`, made (with its ancestors) if missing.
    fn insert(&mut self, path: &'a [Segment]) -> u32 {
        let mut node = 0u32;
        for segment in path {
            let next = u32::try_from(self.nodes.len()).expect("fewer paths than 2^32");
            node = *self.children.entry((node, segment)).or_insert_with(|| {
                self.nodes.push(Reached {
                    first: None,
                    ended: false,
                    parent: node,
                });
                next
            });
        }
        node
    }
}
