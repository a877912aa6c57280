//! Property tests of paths and patches over random documents.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::HashMap;

use common::{sorted_keys, tony};
use proptest::prelude::*;
use tonystore::kpath::{extract_all, get, KPath, Segment};
use tonystore::patch::{diff, patch, reverse};
use tonystore::tony::{encode_wire, Key, Node};

fn any_segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        common::any_string()
            .prop_filter("non-empty", |s| !s.is_empty())
            .prop_map(|s| Segment::Field(s.into())),
        Just(Segment::FieldAll),
        any::<u64>().prop_map(Segment::Index),
        Just(Segment::IndexAll),
        any::<u64>().prop_map(Segment::Sparse),
        Just(Segment::SparseAll),
        common::any_string()
            .prop_filter("non-empty", |s| !s.is_empty())
            .prop_map(|s| Segment::Key(s.into())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(1_000, 20_000)))]

    #[test]
    fn diff_then_patch_gives_the_target(a in common::any_node(), b in common::any_node()) {
        let d = diff(&a, &b);
        let got = match &d {
            Some(d) => patch(&a, d).map_err(|e| TestCaseError::fail(format!("{e}\ndiff: {}", encode_wire(d))))?,
            None => a.clone(),
        };
        prop_assert_eq!(sorted_keys(&got), sorted_keys(&b), "diff: {:?}", d.as_ref().map(encode_wire));
    }

    #[test]
    fn reversed_diff_takes_the_target_back(a in common::any_node(), b in common::any_node()) {
        if let Some(d) = diff(&a, &b) {
            let back = reverse(&d).unwrap();
            let got = patch(&b, &back).map_err(|e| TestCaseError::fail(format!("{e}\nreverse: {}", encode_wire(&back))))?;
            prop_assert_eq!(sorted_keys(&got), sorted_keys(&a), "reverse: {}", encode_wire(&back));
            prop_assert_eq!(reverse(&back).unwrap(), d);
        }
    }

    #[test]
    fn diffs_of_in_place_edits_patch_exactly(a in common::any_node(), pick in any::<prop::sample::Index>(), new in prop_oneof![any::<i64>().prop_map(Node::int), common::any_string().prop_map(|s| Node::string(&s))]) {
        // Replacing one subtree by a scalar keeps every key where it was: the result is exactly `b`.
        let paths: Vec<KPath> = extract_all(&a).into_iter().map(|(p, _)| p).collect();
        let target = pick.get(&paths);
        let b = set_at(&a, target.segments(), &new);
        if let Some(d) = diff(&a, &b) {
            prop_assert_eq!(patch(&a, &d).unwrap(), b, "{}", encode_wire(&d));
        }
    }

    #[test]
    fn paths_round_trip_through_their_text(segments in prop::collection::vec(any_segment(), 0..6)) {
        let path = KPath::from_segments(segments);
        let text = path.to_string();
        prop_assert_eq!(KPath::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?, path, "{}", text);
    }

    #[test]
    fn get_agrees_with_extract_all(doc in common::any_node()) {
        let all = extract_all(&doc);
        let mut seen: HashMap<KPath, usize> = HashMap::new();
        for (p, _) in &all {
            *seen.entry(p.clone()).or_default() += 1;
        }
        for (p, sub) in &all {
            if seen[p] > 1 {
                continue; // duplicate keys (possible in the IR) name the first
            }
            prop_assert_eq!(get(&doc, p).map_err(|e| TestCaseError::fail(e.to_string()))?, Some(sub), "{}", p);
            let text = p.to_string();
            prop_assert_eq!(&KPath::parse(&text).unwrap(), p, "extracted paths are correctly quoted: {}", text);
        }
    }
}

/// One step of an edit script over an array, the reference model for `!arraydiff`.
#[derive(Clone, Debug)]
enum Edit {
    Keep,
    Delete,
    Insert(i64),
    Replace(i64),
}

fn script() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        prop_oneof![
            3 => Just(Edit::Keep),
            2 => Just(Edit::Delete),
            2 => (1000..2000i64).prop_map(Edit::Insert),
            3 => (1000..2000i64).prop_map(Edit::Replace),
        ],
        0..24,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(2_000, 50_000)))]

    /// The model: slot `s` of an `!arraydiff` is the `s`-th step of the script; every step but an
    /// insert consumes one element, every step but a delete emits one.
    #[test]
    fn arraydiff_matches_the_reference_model(steps in script(), tail in 0..4usize) {
        let consumed = steps.iter().filter(|e| !matches!(e, Edit::Insert(_))).count() + tail;
        let doc: Vec<Node> = (0..consumed as i64).map(Node::int).collect();
        let mut expected = Vec::new();
        let mut slots = Vec::new();
        let mut cursor = 0;
        for (slot, edit) in steps.iter().enumerate() {
            let op = match edit {
                Edit::Keep => { expected.push(doc[cursor].clone()); cursor += 1; None }
                Edit::Delete => { cursor += 1; Some(Node::int(cursor as i64 - 1).with_tag("!delete")) }
                Edit::Insert(v) => { expected.push(Node::int(*v)); Some(Node::int(*v).with_tag("!insert")) }
                Edit::Replace(v) => {
                    expected.push(Node::int(*v));
                    cursor += 1;
                    Some(Node::object(vec![(Key::str("from"), Node::int(cursor as i64 - 1)), (Key::str("to"), Node::int(*v))]).with_tag("!replace"))
                }
            };
            if let Some(op) = op {
                slots.push((Key::Int(slot as u32), op));
            }
        }
        expected.extend_from_slice(&doc[cursor..]);
        let p = Node::object(slots).with_tag("!arraydiff");
        let a = Node::array(doc);
        prop_assert_eq!(patch(&a, &p).map_err(|e| TestCaseError::fail(e.to_string()))?, Node::array(expected.clone()), "{}", encode_wire(&p));
        // And diff produces a patch the model agrees with.
        let b = Node::array(expected);
        if let Some(d) = diff(&a, &b) {
            prop_assert_eq!(patch(&a, &d).unwrap(), b, "{}", encode_wire(&d));
        }
    }
}

#[test]
fn consecutive_replacements_use_one_slot_each() {
    let a = tony("[1, 2, 3, 4, 5, 6]");
    let b = tony("[1, 20, 30, 4, 50, 6, 7]");
    let d = diff(&a, &b).unwrap();
    assert_eq!(
        encode_wire(&d),
        "!arraydiff {1: !replace {from: 2 to: 20} 2: !replace {from: 3 to: 30} 4: !replace {from: 5 to: 50} 6: !insert 7}"
    );
    assert_eq!(patch(&a, &d).unwrap(), b);
    assert_eq!(patch(&b, &reverse(&d).unwrap()).unwrap(), a);
}

/// `node` with the subtree at `path` replaced by `new` (path taken from `extract_all`).
fn set_at(node: &Node, path: &[Segment], new: &Node) -> Node {
    use std::sync::Arc;
    use tonystore::tony::Value;
    let Some((first, rest)) = path.split_first() else {
        return new.clone();
    };
    let mut out = node.clone();
    match (&mut out.value, first) {
        (Value::Object(entries), Segment::Field(name)) => {
            let entries = Arc::make_mut(entries).members_mut();
            let i = entries
                .iter()
                .position(|(k, _)| *k == Key::Str(name.clone()))
                .unwrap();
            entries[i].1 = set_at(&entries[i].1, rest, new);
        }
        (Value::Object(entries), Segment::Sparse(n)) => {
            let entries = Arc::make_mut(entries).members_mut();
            let i = entries
                .iter()
                .position(|(k, _)| *k == Key::Int(*n as u32))
                .unwrap();
            entries[i].1 = set_at(&entries[i].1, rest, new);
        }
        (Value::Array(items), Segment::Index(i)) => {
            let items = Arc::make_mut(items);
            items[*i as usize] = set_at(&items[*i as usize], rest, new);
        }
        _ => unreachable!("paths come from extract_all"),
    }
    out
}
