//! Random histories for the engine's property tests: paths, values and objects over a small
//! vocabulary of keys, so that commits collide on paths and patches land on earlier values.

use proptest::prelude::*;
use tonystore::kpath::{KPath, Segment};
use tonystore::tony::{Key, Node};

/// What random paths and values are made of.
#[derive(Clone, Copy)]
pub struct Vocabulary {
    /// Field names of paths and object keys.
    pub keys: &'static [&'static str],
    /// Weight of `{i}` segments, against 6 for fields and 1 for `[i]`.
    pub sparse_weight: u32,
    /// Paths have fewer segments than this.
    pub path_len: usize,
    /// Whether leaves include short strings (besides small integers and null).
    pub strings: bool,
}

impl Vocabulary {
    /// One of the keys.
    pub fn key(self) -> impl Strategy<Value = String> {
        prop::sample::select(self.keys.to_vec()).prop_map(String::from)
    }

    /// A field, an index or a sparse index (numbers below 3).
    pub fn segment(self) -> impl Strategy<Value = Segment> {
        prop_oneof![
            6 => self.key().prop_map(|k| Segment::Field(k.into())),
            1 => (0u64..3).prop_map(Segment::Index),
            self.sparse_weight => (0u64..3).prop_map(Segment::Sparse),
        ]
    }

    /// A path of fewer than `path_len` segments.
    pub fn path(self) -> impl Strategy<Value = KPath> {
        prop::collection::vec(self.segment(), 0..self.path_len).prop_map(KPath::from_segments)
    }

    /// A value up to three levels deep: arrays and objects (keys unique) of leaves.
    pub fn value(self) -> impl Strategy<Value = Node> {
        let leaf = if self.strings {
            prop_oneof![
                any::<i64>().prop_map(|i| Node::int(i % 100)),
                Just(Node::null()),
                "[a-z]{0,3}".prop_map(|s| Node::string(&s)),
            ]
            .boxed()
        } else {
            prop_oneof![
                any::<i64>().prop_map(|i| Node::int(i % 100)),
                Just(Node::null()),
            ]
            .boxed()
        };
        leaf.prop_recursive(3, 16, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Node::array),
                prop::collection::vec((self.key(), inner), 0..4).prop_map(|kv| {
                    let mut seen = std::collections::HashSet::new();
                    Node::object(
                        kv.into_iter()
                            .filter(|(k, _)| seen.insert(k.clone()))
                            .map(|(k, v)| (Key::str(&k), v))
                            .collect(),
                    )
                }),
            ]
        })
    }
}
