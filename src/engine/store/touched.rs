//! Commits without the head document: the part of the head state a root patch looks at,
//! read from the log (ARCHITECTURE.md, "Commits without the head state").
//!
//! Applying a patch and classifying its ends look at the state only where the patch goes: for
//! an object merge, whether there is an object, its tag, the kind of its keys and the members
//! the merge names; below an op or a plain array, the whole value there. [`touched_state`]
//! builds a state holding exactly that, so [`patch`](crate::patch::patch) and
//! [`classify_with`](crate::engine::classify::classify_with) decide on it what they would on
//! the whole document; the one question it cannot answer (whether a merge names all of an
//! object's keys, in order) is asked of the log by [`covers_at`].
//!
//! [`touched_state`]: Look::touched_state
//! [`covers_at`]: Look::covers_at

use std::cell::RefCell;
use std::collections::HashMap;

use super::read::{Plan, SubPatch, SubPatchKind};
use super::Store;
use crate::engine::classify::merge_covers;
use crate::engine::entry::{corrupt, unreadable};
use crate::engine::error::{Result, StoreError};
use crate::engine::offsets::OffsetIndex;
use crate::kpath::{KPath, Segment};
use crate::patch::{find_op, op_kind};
use crate::tony::{Event, Key, Node, Object, Value};

/// One commit's look at the head state in the log. The same paths' plans and sub-patches
/// serve its several questions (a member's kind, a key it keeps, whether a merge names
/// them all), so each is worked out once.
pub(super) struct Look<'s> {
    store: &'s Store,
    plans: RefCell<HashMap<KPath, Plan>>,
    sub_patches: RefCell<HashMap<(u8, u64, KPath), SubPatch>>,
}

impl<'s> Look<'s> {
    /// A look at `store`'s head.
    pub(super) fn new(store: &'s Store) -> Self {
        Look {
            store,
            plans: RefCell::default(),
            sub_patches: RefCell::default(),
        }
    }

    /// [`Store::plan`] at the head, worked out once.
    fn plan(&self, path: &KPath) -> Result<Plan> {
        if let Some(plan) = self.plans.borrow().get(path) {
            return Ok(plan.clone());
        }
        let plan = self.store.plan(path, self.store.head)?;
        self.plans.borrow_mut().insert(path.clone(), plan.clone());
        Ok(plan)
    }

    /// [`Store::sub_patch`], worked out once.
    fn sub_patch(&self, level: u8, pos: u64, path: &KPath) -> Result<SubPatch> {
        let key = (level, pos, path.clone());
        if let Some(found) = self.sub_patches.borrow().get(&key) {
            return Ok(found.clone());
        }
        let found = self.store.sub_patch(level, pos, path)?;
        self.sub_patches.borrow_mut().insert(key, found.clone());
        Ok(found)
    }

    /// [`Store::read_at`] at the head.
    fn read(&self, path: &KPath) -> Result<Option<Node>> {
        self.store.read_at(path, self.store.head)
    }

    /// The head state as far as `root` (a commit's root patch) looks at it. The document
    /// always exists: where there is none this is `null`, as the head state is.
    pub(super) fn touched_state(&self, root: &Node) -> Result<Node> {
        if self.store.head == 0 {
            return Ok(Node::null());
        }
        Ok(self
            .touched_at(root, &KPath::root())?
            .unwrap_or_else(Node::null))
    }

    /// The state at `path` as far as `patch` looks at it (`path`'s parent is an object).
    fn touched_at(&self, patch: &Node, path: &KPath) -> Result<Option<Node>> {
        let members = match (&patch.value, op_kind(patch)) {
            (Value::Object(members), None) => members,
            // A plain array merges element by element: it looks at the whole value.
            (Value::Array(_), None) => return self.read(path),
            // What a scalar, an `!insert` or a plain `!delete` leaves ignores what was there.
            // Nor does whether anything was there change what the merge above decides: the
            // member is added, replaced or removed, and the kind of keys the object holds
            // (which the merge must not mix) comes from its first key. So nothing is read.
            (_, None | Some("insert")) => return Ok(None),
            (_, Some("delete")) if find_op(patch).is_some_and(|op| op.args.is_empty()) => {
                return Ok(None)
            }
            // Any other op looks at the whole value.
            _ => return self.read(path),
        };
        let tag = match self.seen_at(path)? {
            Seen::Absent => return Ok(None),
            // Its tag matters only to `covers_at`, which reads it itself.
            Seen::Object => None,
            Seen::Unknown => {
                let Some((first, second)) = self.first_events(path)? else {
                    return Ok(None);
                };
                let Event::BeginObject(tag) = first else {
                    // A merge replaces anything but an object: only its kind matters.
                    return Ok(Some(placeholder(first)));
                };
                return self.object_from_events(members, path, tag, second);
            }
        };
        let mut object = Object::default();
        self.add_named(&mut object, members, path, None)?;
        if object.iter().all(|(k, _)| *k == Key::Merge)
            && members.iter().any(|(k, _)| *k != Key::Merge)
        {
            // The kind of key the object holds (a merge must not mix them), when no member
            // the merge names that was read gives it: from a member the newest merge into
            // the object left, or else from the object's first key.
            match self.kept_member(path)? {
                Some(key) => object.push(key, Node::null()),
                None => {
                    let (first, second) = self
                        .first_events(path)?
                        .ok_or_else(|| self.unexpected(path))?;
                    let Event::BeginObject(tag) = first else {
                        return Err(self.unexpected(path));
                    };
                    return self.object_from_events(members, path, tag, second);
                }
            }
        }
        Ok(Some(Node {
            tag,
            value: Value::Object(std::sync::Arc::new(object)),
        }))
    }

    /// [`touched_at`](Self::touched_at) for an object whose first events were read: `second`
    /// follows its `{`.
    fn object_from_events(
        &self,
        members: &Object,
        path: &KPath,
        tag: Option<std::sync::Arc<str>>,
        second: Option<Event>,
    ) -> Result<Option<Node>> {
        let first_key = match second {
            Some(Event::Key(key)) => Some(key),
            Some(Event::EndObject) => None,
            _ => return Err(self.unexpected(path)),
        };
        if matches!(first_key, Some(Key::Merge)) {
            // A leading merge key does not give the kind of the others: the whole object.
            return self.read(path);
        }
        let mut object = Object::default();
        if let Some(key) = first_key
            .as_ref()
            .filter(|k| members.iter().all(|(m, _)| m != *k))
        {
            // Gives the kind of key the object holds, which a merge must not mix.
            object.push(key.clone(), Node::null());
        }
        self.add_named(&mut object, members, path, first_key.as_ref())?;
        Ok(Some(Node {
            tag,
            value: Value::Object(std::sync::Arc::new(object)),
        }))
    }

    /// Adds to `object` the members the merge `members` names, as far as each looks at them;
    /// `present` is a key known to be there (its value need not have been read).
    fn add_named(
        &self,
        object: &mut Object,
        members: &Object,
        path: &KPath,
        present: Option<&Key>,
    ) -> Result<()> {
        for (key, child) in members.iter() {
            let Some(segment) = Segment::of_key(key) else {
                continue; // a merge key of the patch is added as it is
            };
            if object.position(key).is_some() {
                continue; // named twice: the first lookup holds it
            }
            let value = match self.touched_at(child, &path.child(segment))? {
                None if present == Some(key) => Some(Node::null()),
                value => value,
            };
            if let Some(value) = value {
                object.push(key.clone(), value);
            }
        }
        Ok(())
    }

    /// Whether the merge `patch` at `path` names every key of the object there first, in
    /// the object's order ([`merge_covers`]), asked of the log when `state` is the part of
    /// an object [`touched_state`](Self::touched_state) holds.
    pub(super) fn covers_at(
        &self,
        patch: &Node,
        state: Option<&Node>,
        path: &[Segment],
    ) -> Result<bool> {
        if !matches!(
            state,
            Some(Node {
                tag: None,
                value: Value::Object(_)
            })
        ) {
            return Ok(merge_covers(patch, state));
        }
        let path = KPath::from_segments(path.to_vec());
        let Some(named) = patch.as_object() else {
            return Ok(false);
        };
        if self.has_unnamed_member(&path, named)? {
            return Ok(false);
        }
        let Some(mut events) = self.store.events(&path, self.store.head, false)? else {
            return Ok(false);
        };
        match events.next_event()? {
            Some(Event::BeginObject(None)) => {}
            // A tagged object is not what the merge alone yields.
            Some(Event::BeginObject(Some(_))) => return Ok(false),
            _ => return Err(self.unexpected(&path)),
        }
        let mut named = named.iter();
        loop {
            match events.next_event()? {
                Some(Event::EndObject) => return Ok(true),
                Some(Event::Key(key)) => {
                    if named.next().is_none_or(|(k, _)| *k != key) {
                        return Ok(false);
                    }
                    let mut next = || events.next_event()?.ok_or_else(|| self.unexpected(&path));
                    let first = next()?;
                    skip_rest(&first, &mut next, || self.unexpected(&path))?;
                }
                _ => return Err(self.unexpected(&path)),
            }
        }
    }

    /// What the log shows of the value at `path` at the head, without building it: the
    /// newest entry reaching the path (after the one that last determined it, or that one)
    /// left an object there when its patch node there is a merge, and nothing when it is the
    /// determining entry and does not mention the path.
    fn seen_at(&self, path: &KPath) -> Result<Seen> {
        let Plan::Replay { start, rest } = self.plan(path)? else {
            return Ok(Seen::Unknown);
        };
        for c in rest.iter().rev().chain(start.iter()) {
            match self.store.sub_patch_kind(c.level, c.entry.pos, path)? {
                SubPatchKind::Merge => return Ok(Seen::Object),
                SubPatchKind::Stops => continue,
                SubPatchKind::Other => return Ok(Seen::Unknown),
            }
        }
        Ok(Seen::Absent)
    }

    /// Gives `f` the members of the merges into the object at `path` the log holds, newest
    /// merge first (back to the entry that determined the object), while `f` asks for more:
    /// the merge's number (0 for the newest), the key, and whether the merge certainly leaves
    /// the member there (a value or an `!insert`: any other op may remove it). A large entry's
    /// merge is streamed from its bytes, member by member, never built. Returns false where an
    /// entry does something other than merge there first (what is older is then unknown).
    fn members_of_merges(
        &self,
        path: &KPath,
        mut f: impl FnMut(usize, &Key, bool) -> bool,
    ) -> Result<bool> {
        let Plan::Replay { start, rest } = self.plan(path)? else {
            return Ok(false);
        };
        let mut merge = 0;
        for c in rest.iter().rev().chain(start.iter()) {
            let (level, pos) = (c.level, c.entry.pos);
            match self.store.sub_patch_kind(level, pos, path)? {
                SubPatchKind::Stops => continue,
                SubPatchKind::Other => return Ok(false),
                SubPatchKind::Merge => {}
            }
            let more = match self.store.offset_index(level, pos)? {
                Some(offsets) => {
                    self.stream_members(level, pos, &offsets, path, |k, kept| f(merge, k, kept))?
                }
                None => match self.sub_patch(level, pos, path)? {
                    SubPatch::At(node) if op_kind(&node).is_none() => node
                        .as_object()
                        .unwrap_or_default()
                        .iter()
                        .filter(|(k, _)| *k != Key::Merge)
                        .all(|(k, v)| f(merge, k, keeps(v))),
                    _ => return Ok(false),
                },
            };
            if !more {
                return Ok(true);
            }
            merge += 1;
        }
        Ok(true)
    }

    /// [`members_of_merges`](Self::members_of_merges) for the merge at `path` in the large
    /// entry at (`level`, `pos`): its members read one at a time, each value skipped. Returns
    /// whether `f` asked for more.
    fn stream_members(
        &self,
        level: u8,
        pos: u64,
        offsets: &OffsetIndex,
        path: &KPath,
        mut f: impl FnMut(&Key, bool) -> bool,
    ) -> Result<bool> {
        let mut target = vec![Segment::Field("patch".into())];
        target.extend_from_slice(path.segments());
        let target = KPath::from_segments(target);
        let name = self.store.log_of(level).name();
        let Some((mut events, Event::BeginObject(_))) =
            self.store.seek_in_entry(level, pos, offsets, &target)?
        else {
            return Err(self.unexpected(path));
        };
        let mut next = || {
            events
                .next_event()
                .map_err(|e| unreadable(name, pos, e))?
                .ok_or_else(|| self.unexpected(path))
        };
        loop {
            let key = match next()? {
                Event::EndObject => return Ok(true),
                Event::Key(key) => key,
                _ => return Err(self.unexpected(path)),
            };
            let first = next()?;
            let tag = match &first {
                Event::BeginObject(tag) | Event::BeginArray(tag) => tag.clone(),
                Event::Scalar(node) => node.tag.clone(),
                _ => return Err(self.unexpected(path)),
            };
            let value_op = tag.and_then(|t| op_kind(&Node::null().with_tag(&t)));
            if key != Key::Merge && !f(&key, matches!(value_op, None | Some("insert"))) {
                return Ok(false);
            }
            skip_rest(&first, &mut next, || self.unexpected(path))?;
        }
    }

    /// A key the newest merge into the object at `path` certainly left there (a member set
    /// to a value, not by an op that may remove it); `None` when it left none so.
    fn kept_member(&self, path: &KPath) -> Result<Option<Key>> {
        let mut found = None;
        self.members_of_merges(path, |merge, key, kept| {
            if merge == 0 && kept {
                found = Some(key.clone());
            }
            merge == 0 && !kept
        })?;
        Ok(found)
    }

    /// Whether the object at `path` certainly holds a key the merge `named` does not name:
    /// one a merge into it left that no newer merge may have removed.
    fn has_unnamed_member(&self, path: &KPath, named: &[(Key, Node)]) -> Result<bool> {
        // The members newer merges may have removed (a key is in a merge once).
        let mut removable: Vec<Key> = Vec::new();
        let mut found = false;
        self.members_of_merges(path, |_, key, kept| {
            if !kept {
                removable.push(key.clone());
            } else if named.iter().all(|(n, _)| n != key) && !removable.contains(key) {
                found = true;
            }
            !found && removable.len() <= MAX_REMOVALS_FOLLOWED
        })?;
        Ok(found)
    }

    /// The first event of the value at `path` at the head, and the second when the first
    /// opens an object; `None` where nothing is.
    fn first_events(&self, path: &KPath) -> Result<Option<(Event, Option<Event>)>> {
        let Some(mut events) = self.store.events(path, self.store.head, false)? else {
            return Ok(None);
        };
        let Some(first) = events.next_event()? else {
            return Err(self.unexpected(path));
        };
        let second = match first {
            Event::BeginObject(_) => events.next_event()?,
            _ => None,
        };
        Ok(Some((first, second)))
    }

    /// A value's events that do not nest as values do: the log's bytes are not what they
    /// were written as.
    fn unexpected(&self, path: &KPath) -> StoreError {
        corrupt(
            self.store.level0.name(),
            0,
            format!("the events of the value at {path} do not nest"),
        )
    }
}

/// How many possibly removed members [`Look::has_unnamed_member`] keeps track of before it
/// gives up.
const MAX_REMOVALS_FOLLOWED: usize = 64;

/// What the log shows of a value (see [`Look::seen_at`]).
enum Seen {
    /// Nothing is there.
    Absent,
    /// An object.
    Object,
    /// Only the value itself tells.
    Unknown,
}

/// Whether a merge's member `value` certainly leaves the member there: a value, or an
/// `!insert` (any other op may remove it).
fn keeps(value: &Node) -> bool {
    matches!(op_kind(value), None | Some("insert"))
}

/// Skips the rest of the value `first` starts, pulling its events from `next`; a stream
/// whose events do not nest as a value's is `unexpected`.
fn skip_rest(
    first: &Event,
    next: &mut impl FnMut() -> Result<Event>,
    unexpected: impl Fn() -> StoreError,
) -> Result<()> {
    let mut depth = match first {
        Event::BeginObject(_) | Event::BeginArray(_) => 1usize,
        Event::Scalar(_) => 0,
        Event::EndObject | Event::EndArray | Event::Key(_) => return Err(unexpected()),
    };
    while depth > 0 {
        match next()? {
            Event::BeginObject(_) | Event::BeginArray(_) => depth += 1,
            Event::EndObject | Event::EndArray => depth -= 1,
            Event::Key(_) | Event::Scalar(_) => {}
        }
    }
    Ok(())
}

/// A value of the kind (and tag) the first event starts: all a merge into something other
/// than an object looks at (it replaces it).
fn placeholder(first: Event) -> Node {
    match first {
        Event::BeginObject(tag) => Node {
            tag,
            value: Value::Object(Default::default()),
        },
        Event::BeginArray(tag) => Node {
            tag,
            value: Value::Array(Default::default()),
        },
        Event::Scalar(node) => node,
        Event::EndObject | Event::EndArray | Event::Key(_) => Node::null(),
    }
}
