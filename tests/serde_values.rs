//! The `serde` feature: Rust types committed and read back, and the value model's conversions
//! refusing what it cannot hold exactly.
#![cfg(all(feature = "serde", not(target_arch = "wasm32")))]

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tonystore::engine::{Options, Store, StoreError};
use tonystore::kpath::KPath;
use tonystore::storage::MemDir;
use tonystore::tony::{encode_wire, from_node, parse, to_node, Key, Node};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Role {
    Admin,
    Member { since: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    age: Option<u8>,
    score: f64,
    tags: Vec<String>,
    role: Role,
    extra: BTreeMap<String, i64>,
}

fn ann() -> User {
    User {
        name: "Ann".into(),
        age: Some(30),
        score: 0.5,
        tags: vec!["a".into(), "b c".into()],
        role: Role::Member { since: 2020 },
        extra: BTreeMap::from([("k".to_owned(), -7)]),
    }
}

#[test]
fn rust_types_commit_and_read_back_at_any_commit() {
    let dir = MemDir::new();
    let mut store = Store::open(&dir, Options::default()).unwrap();
    let path = KPath::parse("users.ann").unwrap();
    let first = store.commit_serde(&[(path.clone(), ann())]).unwrap();
    let older = User {
        age: None,
        role: Role::Admin,
        ..ann()
    };
    let second = store
        .commit_serde(&[(path.clone(), older.clone())])
        .unwrap();
    assert_eq!(store.read_at_as::<User>(&path, first).unwrap(), Some(ann()));
    assert_eq!(
        store.read_at_as::<User>(&path, second).unwrap(),
        Some(older)
    );
    assert_eq!(
        encode_wire(
            &store
                .read(&path.child(tonystore::kpath::Segment::Field("role".into())))
                .unwrap()
                .unwrap()
        ),
        "Admin"
    );
    assert_eq!(
        store
            .read_at_as::<User>(&KPath::parse("nobody").unwrap(), second)
            .unwrap(),
        None
    );
    // A value of the wrong shape is a typed error, coded like a bad JS value.
    let wrong = store.read_at_as::<Vec<u8>>(&path, second);
    assert!(matches!(&wrong, Err(StoreError::Serde(_))), "{wrong:?}");
    assert_eq!(wrong.unwrap_err().code(), "invalid_value");
}

#[test]
fn what_the_model_cannot_hold_exactly_is_refused() {
    let refuse = |json: &str, what: &str| {
        let err = serde_json::from_str::<Node>(json).expect_err(what);
        assert!(err.to_string().contains(what), "{json}: {err}");
    };
    refuse("18446744073709551615", "beyond the 64-bit signed range");
    refuse(r#"{"a": 1, "a": 2}"#, "duplicate key");
    let nested = |levels: usize| {
        (0..levels).fold(serde_json::Value::Null, |v, _| {
            serde_json::Value::Array(vec![v])
        })
    };
    assert!(Node::deserialize(nested(120)).is_ok(), "120 levels fit");
    let err = Node::deserialize(nested(300)).unwrap_err();
    assert!(err.to_string().contains("nests deeper"), "{err}");
    assert!(
        to_node(&f64::NAN).map(|n| n.is_null()).unwrap_or(true),
        "NaN is not a number"
    );
    let bytes = to_node(&serde_bytes_like());
    assert!(
        bytes.is_ok(),
        "bytes serialize as a sequence of numbers through serde_json"
    );
}

fn serde_bytes_like() -> Vec<u8> {
    vec![1, 2, 3]
}

#[test]
fn tags_are_not_data_and_sparse_keys_become_map_keys() {
    let node = parse("{a: !bracket [1 2] s: !sparsearray {3: x} <<: base}").unwrap();
    let json = serde_json::to_string(&node).unwrap();
    assert_eq!(json, r#"{"a":[1,2],"s":{"3":"x"},"<<":"base"}"#);
    let back: Node = serde_json::from_str(&json).unwrap();
    assert_eq!(back.get_field(&Key::str("<<")), Some(&Node::string("base")));
}

/// Plain data: untagged, string keys (unique), finite floats.
fn plain() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        Just(Node::null()),
        any::<bool>().prop_map(Node::bool),
        any::<i64>().prop_map(Node::int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Node::float),
        ".*".prop_map(|s: String| Node::string(&s)),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Node::array),
            prop::collection::btree_map("[a-z<]{0,3}", inner, 0..6).prop_map(|m| {
                Node::object(m.into_iter().map(|(k, v)| (Key::str(&k), v)).collect())
            }),
        ]
    })
}

proptest! {
    #[test]
    fn plain_data_round_trips_through_serde(node in plain()) {
        let back: Node = from_node(&node).unwrap();
        prop_assert_eq!(&back, &node);
        let as_json = serde_json::to_value(&node).unwrap();
        prop_assert_eq!(to_node(&as_json).unwrap(), node);
    }
}
