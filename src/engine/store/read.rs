//! Reading a path at a commit: planning which entries to apply, and applying them.

use std::sync::Arc;

use super::counters::ReadEvent;
use super::stream::Located;
use super::{span, Candidate, Store};
use crate::engine::classify::is_merge;
use crate::engine::entry::unreadable;
use crate::engine::error::{Result, StoreError};
use crate::kpath::{get, KPath, Segment};
use crate::patch::{
    arraydiff_source, op_kind, plain_arraydiff, ElementSource, PatchError, SlotEdit,
};
use crate::tony::tag::parse_chain;
use crate::tony::{build_node, Key, Node};

impl Store {
    /// Which entries a read of `path` at `commit` applies, in order.
    ///
    /// When the newest commit that changed the path determined it, that commit alone is the
    /// plan. Otherwise the pieces of the cover are searched newest first, and the search stops
    /// at the first (newest) entry that determines the path: one ending independently at an ancestor or at
    /// the path itself. Nothing before it matters.
    pub(super) fn plan(&self, path: &KPath, commit: u64) -> Result<Plan> {
        // The usual case first: the newest commit that changed the path determined it (it
        // wrote the value, or a whole record above it). One descent of the level-0 index.
        if let Some(start) = self.last_commit_determining(path, 0, commit)? {
            return Ok(Plan::Replay {
                start: Some(start),
                rest: Vec::new(),
            });
        }
        // Newest first while searching; put in time order at the end.
        let mut candidates: Vec<Candidate> = Vec::new();
        // Entries ending at an ancestor in a way that depends on the earlier state:
        // `(key, depth of the ancestor)`.
        let mut dependent: Vec<(u64, usize)> = Vec::new();
        for piece in self.cover(0, commit, u8::MAX)?.into_iter().rev() {
            let found = self.index_with_ends(piece.level).candidates(
                piece.level,
                path,
                piece.lo,
                piece.hi,
            )?;
            let mut items: Vec<Candidate> = Vec::new();
            for (depth, end) in &found.ancestor_ends {
                if end.independent {
                    items.push(Candidate {
                        level: piece.level,
                        entry: end.entry,
                        ancestor_depth: Some(*depth),
                    });
                    continue;
                }
                match self.below_dependent_end(piece.level, end.entry.pos, path, *depth)? {
                    // A merge too wide or too deep to index member by member, into the
                    // path's parent: what it does at the path is its sub-patch there, as for
                    // an entry touching the path.
                    None => items.push(Candidate {
                        level: piece.level,
                        entry: end.entry,
                        ancestor_depth: None,
                    }),
                    Some(through) => dependent.push((end.entry.key, through)),
                }
            }
            items.extend(
                found
                    .own_ends
                    .iter()
                    .filter(|e| e.independent)
                    .map(|e| Candidate {
                        level: piece.level,
                        entry: e.entry,
                        ancestor_depth: Some(path.len()),
                    }),
            );
            items.extend(found.touches.iter().map(|e| Candidate {
                level: piece.level,
                entry: *e,
                ancestor_depth: None,
            }));
            // One candidate per entry: where it determines the path, that subsumes the rest
            // of what it does there (the shallowest such end first).
            crate::sort::sort_by_key(&mut items, |c| {
                (c.entry.key, c.ancestor_depth.is_none(), c.ancestor_depth)
            });
            items.dedup_by_key(|c| c.entry.key);
            let determined = items.iter().any(|c| c.ancestor_depth.is_some());
            if determined && piece.level > 0 {
                // A compacted entry holds its whole range's changes; the commit that last
                // determined the path, if it did, holds far fewer bytes to parse.
                if let Some(commit) = self.last_commit_determining(path, piece.lo, piece.hi)? {
                    candidates.push(commit);
                    break;
                }
            }
            candidates.extend(items.into_iter().rev());
            if determined {
                break;
            }
        }
        candidates.reverse();
        // Everything before the last replacement of an ancestor is irrelevant.
        let start = candidates.iter().rposition(|c| c.ancestor_depth.is_some());
        let start_key = start.map(|i| candidates[i].entry.key);
        // A dependent end above the path after that: read the ancestor whole, then descend.
        if let Some(depth) = dependent
            .iter()
            .filter(|(key, _)| start_key.is_none_or(|s| *key > s))
            .map(|(_, depth)| *depth)
            .min()
        {
            return Ok(Plan::Through(KPath::from_segments(
                path.segments()[..depth].to_vec(),
            )));
        }
        Ok(match start {
            Some(i) => Plan::Replay {
                start: Some(candidates[i]),
                rest: candidates.split_off(i + 1),
            },
            None => Plan::Replay {
                start: None,
                rest: candidates,
            },
        })
    }

    /// How a read of `path` treats an entry ending dependently at its ancestor of `depth`:
    /// `None` when the entry is a candidate like one touching the path (it merges into the
    /// path's parent, an object when the entry was classified: what it does at the path is its
    /// sub-patch there); otherwise the depth of the ancestor to read whole and descend from.
    /// That is the end's child on the way when the entry merges there (that child's read
    /// takes the entry as a candidate), else the end itself. Deeper merges inside the entry
    /// were not classified against the state (one may turn an array into an object), so they
    /// are not taken apart.
    fn below_dependent_end(
        &self,
        level: u8,
        pos: u64,
        path: &KPath,
        depth: usize,
    ) -> Result<Option<usize>> {
        let Some(child) = depth.checked_add(1) else {
            return Ok(Some(depth));
        };
        let keyed = matches!(
            path.segments().get(depth),
            Some(Segment::Field(_) | Segment::Sparse(_))
        );
        if !keyed {
            return Ok(Some(depth));
        }
        let at_child = KPath::from_segments(path.segments()[..child].to_vec());
        Ok(match self.sub_patch(level, pos, &at_child)? {
            SubPatch::Blocked => Some(depth),
            SubPatch::At(_) | SubPatch::Stops if child == path.len() => None,
            SubPatch::At(_) | SubPatch::Stops => Some(child),
        })
    }

    /// The level-0 entry in `(lo, hi]` that last changed `path`, if that change determined it
    /// (independent ends at the path or an ancestor, no dependent one).
    fn last_commit_determining(&self, path: &KPath, lo: u64, hi: u64) -> Result<Option<Candidate>> {
        let found = self.index_with_ends(0).last_change(path, lo, hi)?;
        Ok(found.and_then(|(entry, depth)| {
            Some(Candidate {
                level: 0,
                entry,
                ancestor_depth: Some(depth?),
            })
        }))
    }

    /// The value at `path` as of commit `commit` (`None` where nothing is). Equals replaying
    /// commits `1..=commit` and reading `path`, but reads only entries that touch the path, its
    /// ancestors or descendants — and thanks to compaction a bounded number of them.
    pub fn read_at(&self, path: &KPath, commit: u64) -> Result<Option<Node>> {
        self.check_open()?;
        if commit > self.head {
            return Err(StoreError::NoSuchCommit {
                commit,
                head: self.head,
            });
        }
        if commit == 0 {
            return Ok(get(&Node::null(), path)?.cloned());
        }
        let (start, rest) = match self.plan(path, commit)? {
            Plan::Through(ancestor) => {
                if let Some(found) = self.read_through_array_edits(&ancestor, path, commit)? {
                    self.count(ReadEvent::ReadThroughArrayEdits);
                    return Ok(Some(found));
                }
                return self.read_through(&ancestor, path, commit);
            }
            Plan::Replay { start, rest } => (start, rest),
        };
        let mut value: Option<Node> = None;
        if let Some(c) = start {
            value = self.start_value(c, path)?;
        }
        for c in &rest {
            if let SubPatch::At(patch) = self.sub_patch(c.level, c.entry.pos, path)? {
                value = crate::patch::apply_to(value.as_ref(), &patch)?;
            }
        }
        match value {
            Some(found) => Ok(Some(found)),
            // The document itself always exists: a deleted root reads as null.
            None if path.is_root() => Ok(Some(Node::null())),
            // Nothing here: the parent says whether that is "absent" or a kind/range error.
            None => {
                let (parent, last) = path.split_last().expect("not the root");
                if let Some(found) = self.absent_below_parent(&parent, &last, commit)? {
                    return Ok(found);
                }
                match self.read_at(&parent, commit)? {
                    Some(node) => Ok(get(&node, &last)?.cloned()),
                    None => Ok(None),
                }
            }
        }
    }

    /// The value at `path` as the entry of `c` (which replaced an ancestor) left it. A large
    /// entry that is not in the cache is not parsed whole: the value is built from the bytes
    /// its offset index points at.
    pub(super) fn start_value(&self, c: Candidate, path: &KPath) -> Result<Option<Node>> {
        let key = (c.level, c.entry.pos);
        if !self.is_cached(c.level, c.entry.pos) && self.offsets.has(key) {
            match self.locate_in_entry(c, path)? {
                Located::Found(mut events, first) => {
                    self.count(ReadEvent::ReadFromOffsets);
                    let file = if c.level == 0 {
                        self.level0.name()
                    } else {
                        self.compact.name()
                    };
                    return build_node(first, &mut events)
                        .map(Some)
                        .map_err(|e| unreadable(file, c.entry.pos, e));
                }
                Located::Absent => {
                    self.count(ReadEvent::ReadFromOffsets);
                    return Ok(None);
                }
                Located::Unknown => {}
            }
        }
        let depth = c.ancestor_depth.expect("an ancestor end");
        let (above, below) = path.segments().split_at(depth);
        if !self.is_cached(c.level, c.entry.pos) {
            if let Some(replaced) = self.member_of_entry(c, above)? {
                return match replaced {
                    Some(replaced) => independent_result_at(&replaced, below),
                    None => Ok(None),
                };
            }
        }
        let patch = self.patch_of(c.level, c.entry.pos)?;
        match sub_patch(&patch, above) {
            Some(replaced) => independent_result_at(replaced, below),
            None => Ok(None),
        }
    }

    /// The sub-patch at `above` of a small entry that is not cached, built alone from the
    /// entry's text (the rest of its patch is not built, nor the entry cached: a read of a
    /// random commit would rarely find it again). `None` when the text or the path needs the
    /// whole patch ([`sub_patch`] on the parsed entry).
    fn member_of_entry(&self, c: Candidate, above: &[Segment]) -> Result<Option<Option<Node>>> {
        let mut keys = Vec::with_capacity(above.len() + 1);
        keys.push(Key::str("patch"));
        for segment in above {
            let Some(key) = segment.member_key() else {
                return Ok(None);
            };
            keys.push(key);
        }
        let log = self.log_of(c.level);
        let payload = log.read_payload(c.entry.pos)?;
        let Ok(text) = std::str::from_utf8(&payload) else {
            return Ok(None);
        };
        let found = crate::tony::member_at(text, &keys);
        if found.is_some() {
            self.count(ReadEvent::EntryRead);
        }
        Ok(found)
    }

    /// A read below an array that later `!arraydiff`s edited (`ancestor`, a dependent end above
    /// `path`), without building the array: the element index is mapped back through the edits
    /// to the array as it was before them, read there (recursively, so only the element's
    /// entries are touched), and the edits' patches of that element applied. `None` when the
    /// shape needs the general path (reading the array whole).
    pub(super) fn read_through_array_edits(
        &self,
        ancestor: &KPath,
        path: &KPath,
        commit: u64,
    ) -> Result<Option<Node>> {
        let Some((Segment::Index(index), below)) = path.segments()[ancestor.len()..].split_first()
        else {
            return Ok(None);
        };
        let Plan::Replay { rest, .. } = self.plan(ancestor, commit)? else {
            return Ok(None);
        };
        // The trailing run of entries whose patches at the array are plain `!arraydiff`s
        // whose patch slots keep their element.
        let mut stages: Vec<Vec<(u32, SlotEdit)>> = Vec::new();
        let mut before = None;
        for c in rest.iter().rev() {
            let root = self.patch_of(c.level, c.entry.pos)?;
            let Some(patch) = patch_at(&root, ancestor.segments()) else {
                continue;
            };
            match plain_arraydiff(patch) {
                Some(edits) if edits.iter().all(|(_, e)| keeps_element(e)) => {
                    stages.push(edits);
                    before = Some(c.entry.key - span(self.options.divisor, c.level));
                }
                _ => break,
            }
        }
        let Some(before) = before else {
            return Ok(None);
        };
        // `stages` runs newest first: map the index back through each.
        let mut index = *index;
        let mut element_patches: Vec<Node> = Vec::new();
        let mut put: Option<Node> = None;
        for edits in &stages {
            match arraydiff_source(edits, index) {
                ElementSource::Before(i) => index = i,
                ElementSource::Patched(i, patch) => {
                    element_patches.push(patch.clone());
                    index = i;
                }
                ElementSource::Put(value) => {
                    put = Some(value.clone());
                    break;
                }
            }
        }
        element_patches.reverse();
        let below = KPath::from_segments(below.to_vec());
        // Work at the path below the element when every element patch reaches it by merges;
        // else on the whole element.
        let exact = element_patches
            .iter()
            .all(|p| merges_down_to(p, below.segments()));
        let mut value = match put {
            Some(element) if exact => get(&element, &below).ok().flatten().cloned(),
            Some(element) => Some(element),
            None => {
                let element = ancestor.child(Segment::Index(index));
                let at = if exact { element.join(&below) } else { element };
                match self.read_at(&at, before) {
                    Ok(found) => found,
                    // The array was shorter, or not an array: the general path says how.
                    Err(_) => return Ok(None),
                }
            }
        };
        for patch in &element_patches {
            value = if exact {
                effect(patch, below.segments(), value)?
            } else {
                crate::patch::apply_to(value.as_ref(), patch)?
            };
        }
        // Absent or unreadable: the general path decides between `None` and an error.
        Ok(match (exact, value) {
            (_, None) => None,
            (true, found) => found,
            (false, Some(element)) => get(&element, &below).ok().flatten().cloned(),
        })
    }

    pub(super) fn read_through(
        &self,
        ancestor: &KPath,
        path: &KPath,
        commit: u64,
    ) -> Result<Option<Node>> {
        let base = self.read_at(ancestor, commit)?;
        let rest = KPath::from_segments(path.segments()[ancestor.len()..].to_vec());
        Ok(match base {
            Some(node) => get(&node, &rest)?.cloned(),
            None => None,
        })
    }

    /// The value at `path` now.
    pub fn read(&self, path: &KPath) -> Result<Option<Node>> {
        self.check_open()?;
        match self.head_state_in_memory() {
            Some(state) => Ok(get(&state, path)?.cloned()),
            None => self.read_at(path, self.head),
        }
    }

    /// [`read_at`](Self::read_at) as a Rust type (feature `serde`): `None` where nothing is.
    #[cfg(feature = "serde")]
    pub fn read_at_as<T: serde::de::DeserializeOwned>(
        &self,
        path: &KPath,
        commit: u64,
    ) -> Result<Option<T>> {
        match self.read_at(path, commit)? {
            Some(node) => Ok(Some(crate::tony::from_node(&node)?)),
            None => Ok(None),
        }
    }
}

/// The patch node at `segments` below `root`, following object merges only.
pub(super) fn sub_patch<'a>(root: &'a Node, segments: &[Segment]) -> Option<&'a Node> {
    segments
        .iter()
        .try_fold(root, |node, segment| child_at(node, segment))
}

/// The member of object node `node` at `segment` (a wide object finds it through its key index).
fn child_at<'a>(node: &'a Node, segment: &Segment) -> Option<&'a Node> {
    node.get_field(&segment.member_key()?)
}

/// What an independent end yields whatever the state was (its checks passed at commit).
pub(super) fn independent_result(patch_node: &Node) -> Result<Option<Node>> {
    // Plain data yields itself: a read of a stored record need not rebuild it.
    if crate::patch::is_plain_data(patch_node) {
        return Ok(Some(patch_node.clone()));
    }
    Ok(crate::patch::apply_committed(None, patch_node)?)
}

/// The tag a value inserted by an op tagged `tag` (`!insert`, `!insert(t)`) reads with: the op
/// is dropped and its argument, if any, becomes the tag.
pub(super) fn inserted_tag(tag: &str) -> Result<Option<Arc<str>>> {
    Ok(independent_result(&Node::null().with_tag(tag))?.and_then(|n| n.tag))
}

/// The value at `below` in what the independent end `patch_node` yields, without building
/// more of it than the path needs: plain merges (into nothing) are followed member by member,
/// and the value of a lone `!insert` is read in place; anything else is built, then read.
fn independent_result_at(patch_node: &Node, below: &[Segment]) -> Result<Option<Node>> {
    let mut node = patch_node;
    let mut rest = below;
    while let Some((segment, deeper)) = rest.split_first() {
        if node.tag.is_none() && is_merge(node) {
            // A merge into nothing is the object of its members' results.
            match child_at(node, segment) {
                Some(child) => node = child,
                None => return Ok(None),
            }
            rest = deeper;
            continue;
        }
        let lone_insert = node.tag().filter(|tag| {
            parse_chain(tag)
                .is_some_and(|links| matches!(links.as_slice(), [link] if link.name == "insert"))
        });
        if let Some(tag) = lone_insert {
            // The value is data; only its top tag comes from the op.
            let value = Node {
                tag: inserted_tag(tag)?,
                value: node.value.clone(),
            };
            return Ok(get(&value, &KPath::from_segments(rest.to_vec()))?.cloned());
        }
        break;
    }
    let built = independent_result(node)?;
    Ok(match built {
        Some(value) => get(&value, &KPath::from_segments(rest.to_vec()))?.cloned(),
        None => None,
    })
}

/// What an entry's patch does at a path.
#[derive(Clone)]
pub(super) enum SubPatch {
    /// Every patch node above the path is an object merge: this is the patch node at the path.
    At(Node),
    /// A merge above the path does not mention the next key: nothing changes at the path.
    Stops,
    /// Something other than a merge above the path: its effect there is not a sub-patch.
    Blocked,
}

/// The kind of an entry's patch node at a path, as [`Store::sub_patch_kind`] tells it.
pub(super) enum SubPatchKind {
    /// An object merge (or a data-tagged object), with only merges above it: after it, the
    /// value there is an object.
    Merge,
    /// The patch does not reach the path (see [`SubPatch::Stops`]).
    Stops,
    /// Anything else.
    Other,
}

impl Store {
    /// What the patch of the entry at (`level`, `pos`) does at `path`: from its offset index
    /// when it is large and not in memory (a member of a wide object is found without parsing
    /// the entry), else from its parsed patch.
    pub(super) fn sub_patch(&self, level: u8, pos: u64, path: &KPath) -> Result<SubPatch> {
        if let Some(found) = self.sub_patch_from_offsets(level, pos, path)? {
            return Ok(found);
        }
        let patch = self.patch_of(level, pos)?;
        Ok(match reach(&patch, path.segments()) {
            Reach::At(node) => SubPatch::At(node.clone()),
            Reach::Stops => SubPatch::Stops,
            Reach::Blocked => SubPatch::Blocked,
        })
    }
}

/// The value at `segments` after applying `root` to a state whose value there is `value`. The
/// caller has handled entries that end above the path.
pub(super) fn effect(
    root: &Node,
    segments: &[Segment],
    value: Option<Node>,
) -> Result<Option<Node>, PatchError> {
    match patch_at(root, segments) {
        Some(p) => crate::patch::apply_to(value.as_ref(), p),
        None => Ok(value),
    }
}

/// The part of patch `root` that applies at `segments`, following object merges; `None` when
/// the patch does not reach that far (it changes nothing there). An entry whose patch is not a
/// merge above the path is one without ends (an empty merge) or comes from a malformed index.
pub(super) fn patch_at<'a>(root: &'a Node, segments: &[Segment]) -> Option<&'a Node> {
    match reach(root, segments) {
        Reach::At(node) => Some(node),
        Reach::Stops | Reach::Blocked => None,
    }
}

/// Whether applying `patch` and then reading `segments` equals reading `segments` first and
/// applying there what the patch has there ([`effect`]): every patch node above is a merge.
pub(super) fn merges_down_to(patch: &Node, segments: &[Segment]) -> bool {
    !matches!(reach(patch, segments), Reach::Blocked)
}

/// How far a patch reaches towards a path through object merges.
enum Reach<'a> {
    /// To the path: the patch node there.
    At(&'a Node),
    /// A merge on the way does not mention the next key: nothing changes at the path.
    Stops,
    /// Something other than a merge on the way: its effect at the path is not a sub-patch.
    Blocked,
}

fn reach<'a>(root: &'a Node, segments: &[Segment]) -> Reach<'a> {
    let mut node = root;
    for segment in segments {
        // An object merge where the path goes on by array index turns the array into an
        // object: its effect there is not a sub-patch either.
        let (true, Some(key)) = (is_merge(node), segment.member_key()) else {
            return Reach::Blocked;
        };
        match node.get_field(&key) {
            Some(child) => node = child,
            None => return Reach::Stops,
        }
    }
    Reach::At(node)
}

/// Whether an `!arraydiff` slot edit leaves one element where it acts (so indices can be
/// mapped without applying it): anything but a patch carrying an op.
pub(super) fn keeps_element(edit: &SlotEdit) -> bool {
    !matches!(edit, SlotEdit::Patch(p) if op_kind(p).is_some())
}

/// What a read plans to apply.
#[derive(Clone)]
pub(super) enum Plan {
    /// Read this ancestor whole and descend (a dependent end lies above the path).
    Through(KPath),
    /// Start from the result of `start` (an ancestor's replacement), then apply `rest`.
    Replay {
        start: Option<Candidate>,
        rest: Vec<Candidate>,
    },
}
