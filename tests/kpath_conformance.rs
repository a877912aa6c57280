//! The kinded-path conformance cases (`tests/conformance/kpath.jsonl`).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{field, text};
use tonystore::kpath::{KPath, Segment};
use tonystore::tony::{Key, Node, Value};

fn segments(list: &Node) -> KPath {
    let segs = list.as_array().expect("segment list").iter().map(|s| {
        let (key, value) = &s.as_object().unwrap()[0];
        let Key::Str(kind) = key else {
            panic!("bad segment {s:?}")
        };
        let int = || match value.value {
            Value::Int(i) => i as u64,
            _ => panic!("index"),
        };
        match &**kind {
            "field" => Segment::Field(value.as_str().unwrap().into()),
            "index" => Segment::Index(int()),
            "sparse" => Segment::Sparse(int()),
            "key" => Segment::Key(value.as_str().unwrap().into()),
            "field_all" => Segment::FieldAll,
            "index_all" => Segment::IndexAll,
            "sparse_all" => Segment::SparseAll,
            other => panic!("unknown segment kind {other}"),
        }
    });
    KPath::from_segments(segs.collect())
}

fn path(s: &str) -> KPath {
    KPath::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

fn bool_field(n: &Node, name: &str) -> bool {
    matches!(field(n, name).value, Value::Bool(true))
}

/// Compares a produced path with an expected string: exactly, or by segments.
fn same(got: &KPath, expected: &str, exact: bool, id: &str) {
    if exact {
        assert_eq!(got.to_string(), expected, "{id}");
    } else {
        assert_eq!(got, &path(expected), "{id}");
    }
}

#[test]
fn every_kpath_case_passes() {
    let cases = common::conformance("kpath.jsonl");
    for case in &cases {
        let id = text(case, "id").unwrap();
        let input = field(case, "input");
        let expected = field(case, "expected");
        let exact = case
            .get_field(&"exact".into())
            .is_some_and(|e| matches!(e.value, Value::Bool(true)));
        match text(case, "kind").unwrap() {
            "parse_ok" => assert_eq!(path(input.as_str().unwrap()), segments(expected), "{id}"),
            "parse_err" => assert!(KPath::parse(input.as_str().unwrap()).is_err(), "{id}"),
            "string" => assert_eq!(
                segments(input).to_string(),
                expected.as_str().unwrap(),
                "{id}"
            ),
            "string_quoted" => {
                let p = segments(input);
                let s = p.to_string();
                assert!(s.starts_with(['"', '\'']), "{id}: {s} is quoted");
                assert_eq!(path(&s), p, "{id}");
            }
            "roundtrip" => {
                let p = path(input.as_str().unwrap());
                assert_eq!(path(&p.to_string()), p, "{id}");
            }
            "split" => {
                let (first, rest) = path(input.as_str().unwrap()).split_first().unwrap();
                same(&first, text(expected, "first").unwrap(), exact, id);
                same(&rest, text(expected, "rest").unwrap(), exact, id);
            }
            "rsplit" => {
                let (parent, last) = path(input.as_str().unwrap()).split_last().unwrap();
                same(&parent, text(expected, "parent").unwrap(), exact, id);
                same(&last, text(expected, "last").unwrap(), exact, id);
            }
            "split_all" => {
                let parts = path(input.as_str().unwrap()).split_all();
                let want = expected.as_array().unwrap();
                assert_eq!(parts.len(), want.len(), "{id}");
                for (got, want) in parts.iter().zip(want) {
                    same(got, want.as_str().unwrap(), exact, id);
                }
            }
            "join" => {
                let joined = path(text(input, "prefix").unwrap())
                    .join(&path(text(input, "suffix").unwrap()));
                same(&joined, expected.as_str().unwrap(), exact, id);
            }
            "parent" => assert_eq!(
                path(input.as_str().unwrap()).parent().to_string(),
                expected.as_str().unwrap(),
                "{id}"
            ),
            "last_segment" => {
                let p = path(input.as_str().unwrap());
                assert_eq!(
                    p.last().unwrap().to_string(),
                    expected.as_str().unwrap(),
                    "{id}"
                );
            }
            "type" => {
                let p = path(input.as_str().unwrap());
                let first = &p.segments()[0];
                let kind = match first {
                    Segment::Field(_) | Segment::FieldAll => "field",
                    Segment::Index(_) | Segment::IndexAll => "array",
                    Segment::Sparse(_) | Segment::SparseAll => "sparse",
                    Segment::Key(_) => "key",
                };
                assert_eq!(kind, text(expected, "entry").unwrap(), "{id}");
                assert_eq!(first.is_wildcard(), bool_field(expected, "wild"), "{id}");
            }
            "ancestor" => {
                let (anc, eq) = path(text(input, "path").unwrap())
                    .ancestor_or_equal(&path(text(input, "other").unwrap()));
                assert_eq!(
                    (anc, eq),
                    (bool_field(expected, "anc"), bool_field(expected, "eq")),
                    "{id}"
                );
            }
            "is_prefix" => {
                let got = path(text(input, "path").unwrap())
                    .is_prefix_of(&path(text(input, "other").unwrap()));
                assert_eq!(got, matches!(expected.value, Value::Bool(true)), "{id}");
            }
            "field_name" => {
                let p = path(input.as_str().unwrap());
                let got = p.segments().first().and_then(Segment::field_name);
                assert_eq!(got, field(expected, "field").as_str(), "{id}");
            }
            other => panic!("{id}: unknown kind {other}"),
        }
    }
    assert!(cases.len() >= 130);
}
