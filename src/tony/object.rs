//! [`Object`]: an object's members in order, findable by key without a scan once it is wide.
//!
//! A wide object (a collection keyed by id, often hundreds of thousands of members) is looked
//! up and edited one member at a time by paths, patches and commits. Its first lookup builds a
//! hash index of its keys, kept with the members: later lookups are O(1), and edits that keep
//! positions (a member's value replaced, a member appended) keep the index up to date, so a
//! one-member change to a uniquely owned object costs O(1), not O(width). Edits that move
//! members (removal, reordering through [`Object::members_mut`]) drop the index; the next
//! lookup rebuilds it.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::OnceLock;

use super::ir::{Key, Node};

/// Key → position of each member (the first of equal keys; merge keys `<<` are not listed).
#[derive(Default)]
struct KeyIndex {
    positions: HashMap<Key, usize, foldhash::fast::RandomState>,
}

/// The members of an object value, in order (see the module documentation).
///
/// Reads as a slice of `(key, value)` pairs. Equality, order and hashing of values look at the
/// members only.
#[derive(Default)]
pub struct Object {
    members: Vec<(Key, Node)>,
    index: OnceLock<KeyIndex>,
    /// Whether a member is a merge key, once asked: found by a scan, which costs a fraction
    /// of building the key index (compaction and reads ask it of objects they never look
    /// into by key).
    merge_keys: OnceLock<bool>,
}

impl Object {
    /// Objects up to this many members are scanned rather than indexed.
    const SCANNED: usize = 16;

    /// An empty object with room for `capacity` members.
    pub fn with_capacity(capacity: usize) -> Self {
        Vec::with_capacity(capacity).into()
    }

    /// The position of member `key` (the first, for merge keys).
    pub fn position(&self, key: &Key) -> Option<usize> {
        if self.members.len() <= Self::SCANNED || *key == Key::Merge {
            return self.members.iter().position(|(k, _)| k == key);
        }
        self.index
            .get_or_init(|| build_index(&self.members))
            .positions
            .get(key)
            .copied()
    }

    /// Whether a member is a merge key (`<<`): a scan the first time, kept.
    pub fn has_merge_keys(&self) -> bool {
        *self
            .merge_keys
            .get_or_init(|| self.members.iter().any(|(k, _)| *k == Key::Merge))
    }

    /// The value of member `key` (the first, for merge keys).
    pub fn value_of(&self, key: &Key) -> Option<&Node> {
        let at = self.position(key)?;
        self.members.get(at).map(|(_, v)| v)
    }

    /// The value at position `at`, to change in place (the key and positions stay).
    pub fn value_mut(&mut self, at: usize) -> Option<&mut Node> {
        self.members.get_mut(at).map(|(_, v)| v)
    }

    /// Appends a member. The caller keeps keys unique (merge keys aside).
    pub fn push(&mut self, key: Key, value: Node) {
        if let Some(merge_keys) = self.merge_keys.get_mut() {
            *merge_keys |= key == Key::Merge;
        }
        if let Some(index) = self.index.get_mut() {
            if key != Key::Merge {
                index
                    .positions
                    .entry(key.clone())
                    .or_insert(self.members.len());
            }
        }
        self.members.push((key, value));
    }

    /// The members, to edit freely; positions may change, so the key index is dropped (and
    /// whether a member is a merge key is asked again).
    pub fn members_mut(&mut self) -> &mut Vec<(Key, Node)> {
        self.index.take();
        self.merge_keys.take();
        &mut self.members
    }

    /// The members, taken out.
    pub fn into_vec(self) -> Vec<(Key, Node)> {
        self.members
    }
}

fn build_index(members: &[(Key, Node)]) -> KeyIndex {
    let mut index = KeyIndex {
        positions: HashMap::with_capacity_and_hasher(members.len(), Default::default()),
    };
    for (at, (key, _)) in members.iter().enumerate() {
        if *key != Key::Merge {
            index.positions.entry(key.clone()).or_insert(at);
        }
    }
    index
}

impl Deref for Object {
    type Target = [(Key, Node)];
    fn deref(&self) -> &[(Key, Node)] {
        &self.members
    }
}

/// A copy without the key index (it is rebuilt on the copy's first lookup): copies are made
/// to edit them, and most edits would drop it anyway.
impl Clone for Object {
    fn clone(&self) -> Self {
        self.members.clone().into()
    }
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.members.fmt(f)
    }
}

impl From<Vec<(Key, Node)>> for Object {
    fn from(members: Vec<(Key, Node)>) -> Self {
        Object {
            members,
            index: OnceLock::new(),
            merge_keys: OnceLock::new(),
        }
    }
}

impl FromIterator<(Key, Node)> for Object {
    fn from_iter<I: IntoIterator<Item = (Key, Node)>>(members: I) -> Self {
        members.into_iter().collect::<Vec<_>>().into()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)] // a failing test panics
mod tests {
    use super::*;

    fn wide(n: usize) -> Object {
        (0..n)
            .map(|i| (Key::str(&format!("k{i}")), Node::int(i as i64)))
            .collect()
    }

    #[test]
    fn lookups_agree_with_a_scan_small_and_wide() {
        for n in [0, 3, Object::SCANNED, Object::SCANNED + 1, 500] {
            let object = wide(n);
            for i in 0..n + 2 {
                let key = Key::str(&format!("k{i}"));
                let scanned = object.iter().position(|(k, _)| *k == key);
                assert_eq!(object.position(&key), scanned, "n = {n}, k{i}");
            }
        }
    }

    #[test]
    fn pushes_keep_the_index_and_edits_that_move_members_rebuild_it() {
        let mut object = wide(100);
        assert_eq!(object.position(&Key::str("k99")), Some(99));
        object.push(Key::str("new"), Node::null());
        assert_eq!(object.position(&Key::str("new")), Some(100));
        *object.value_mut(5).unwrap() = Node::bool(true);
        assert_eq!(object.value_of(&Key::str("k5")), Some(&Node::bool(true)));
        object.members_mut().remove(0);
        assert_eq!(object.position(&Key::str("k1")), Some(0));
        assert_eq!(object.position(&Key::str("new")), Some(99));
        assert_eq!(object.position(&Key::str("k0")), None);
    }

    #[test]
    fn merge_keys_are_found_by_a_scan_and_the_first_equal_key_wins() {
        let mut members: Vec<(Key, Node)> = (0..40)
            .map(|i| (Key::str(&format!("k{i}")), Node::int(i)))
            .collect();
        members.insert(3, (Key::Merge, Node::int(-1)));
        members.push((Key::Merge, Node::int(-2)));
        let object = Object::from(members);
        assert_eq!(object.value_of(&Key::Merge), Some(&Node::int(-1)));
        assert_eq!(object.position(&Key::str("k3")), Some(4));
    }

    #[test]
    fn whether_a_merge_key_is_present_follows_edits_without_the_key_index() {
        let mut object = wide(1_000);
        assert!(!object.has_merge_keys());
        // Asked without a key lookup: the answer came from a scan.
        assert!(object.index.get().is_none());
        object.push(Key::Merge, Node::int(-1));
        assert!(object.has_merge_keys());
        object.members_mut().pop();
        assert!(!object.has_merge_keys());
        assert_eq!(object.position(&Key::str("k999")), Some(999));
        object.members_mut().insert(0, (Key::Merge, Node::null()));
        assert!(object.has_merge_keys());
        assert!(object.clone().has_merge_keys());
    }
}
