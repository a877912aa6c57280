//! The behaviours where we deliberately differ from the original (the reference's
//! "Original quirk — we do X instead" bullets), and path edge cases.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::tony;
use tonystore::kpath::{extract_all, get, GetError, KPath, Segment};
use tonystore::patch::patch;
use tonystore::tony::{encode_wire, Node};

fn path(s: &str) -> KPath {
    KPath::parse(s).unwrap()
}

fn patched(doc: &str, p: &str) -> String {
    encode_wire(&patch(&tony(doc), &tony(p)).unwrap())
}

#[test]
fn fields_with_parens_are_quoted_and_round_trip() {
    let p = KPath::from_segments(vec![
        Segment::Field("f(x)".into()),
        Segment::Field("g".into()),
    ]);
    assert_eq!(p.to_string(), "\"f(x)\".g");
    assert_eq!(path(&p.to_string()), p);
    for hostile in [
        "a.b", "a[0]", "x{1}", "(k)", "*", "", " lead", "é", "'", "\"", "a\nb",
    ] {
        if hostile.is_empty() {
            continue;
        }
        let p = KPath::from_segments(vec![Segment::Field(hostile.into())]);
        assert_eq!(path(&p.to_string()), p, "{hostile:?} -> {p}");
    }
}

#[test]
fn paths_order_ancestors_first_then_by_kind_and_key() {
    let ordered = [
        "", "a", "a.b", "a.b.c", "a.c", "a.*", "a[0]", "a[2]", "a[10]", "a[*]", "a{1}", "a{*}",
        "a(x)", "a(y)", "b",
    ];
    let paths: Vec<KPath> = ordered.iter().map(|s| path(s)).collect();
    for w in paths.windows(2) {
        assert!(w[0] < w[1], "{} < {}", w[0], w[1]);
    }
    assert_ne!(
        path("a(x)").cmp(&path("a(y)")),
        std::cmp::Ordering::Equal,
        "keyed segments are ordered by key"
    );
}

#[test]
fn sparse_indices_resolve_by_key() {
    let doc = tony("{s: {3: three, 10: ten}, d: [a, b]}");
    assert_eq!(
        get(&doc, &path("s{10}")).unwrap(),
        Some(&Node::string("ten"))
    );
    assert_eq!(
        get(&doc, &path("s{1}")).unwrap(),
        None,
        "a missing sparse key is not found"
    );
    assert!(
        matches!(get(&doc, &path("d{1}")), Err(GetError::KindMismatch { .. })),
        "{{n}} is not positional"
    );
    assert_eq!(get(&doc, &path("d[1]")).unwrap(), Some(&Node::string("b")));
}

#[test]
fn get_reports_missing_fields_and_typed_errors() {
    let doc = tony("{a: {b: [1, 2]}, k: !key(id) [{id: x, v: 1}, {id: 7, v: 2}]}");
    assert_eq!(get(&doc, &path("a.zz")).unwrap(), None);
    assert_eq!(get(&doc, &path("a.zz.deeper")).unwrap(), None);
    assert!(matches!(
        get(&doc, &path("a.b[2]")),
        Err(GetError::IndexOutOfRange {
            index: 2,
            len: 2,
            ..
        })
    ));
    assert!(matches!(
        get(&doc, &path("a.b.c")),
        Err(GetError::KindMismatch { kind: "array", .. })
    ));
    assert!(matches!(
        get(&doc, &path("a[*]")),
        Err(GetError::Wildcard { .. })
    ));
    assert_eq!(get(&doc, &path("k(x).v")).unwrap(), Some(&Node::int(1)));
    assert_eq!(get(&doc, &path("k(7).v")).unwrap(), Some(&Node::int(2)));
    assert_eq!(get(&doc, &path("k(nope)")).unwrap(), None);
    assert_eq!(get(&doc, &path("a.b[1]")).unwrap(), Some(&Node::int(2)));
}

#[test]
fn invalid_paths_name_the_position() {
    for (bad, position) in [
        ("a..b", 2),
        ("a.", 2),
        ("a[x]", 2),
        ("a[-1]", 2),
        ("a[0", 2),
        ("a(", 2),
        ("a()", 2),
        ("[0]b", 3),
        (".", 1),
    ] {
        let err = KPath::parse(bad).unwrap_err();
        assert_eq!(err.position, position, "{bad}: {err}");
        assert!(
            err.to_string().contains(&format!("at byte {position}")),
            "{err}"
        );
    }
}

#[test]
fn paths_built_from_data_quote_keys() {
    let doc = tony("{\"a.b\": {\"c[0]\": 1}, plain: 2}");
    let paths: Vec<String> = extract_all(&doc)
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    assert_eq!(paths, ["", "\"a.b\"", "\"a.b\".\"c[0]\"", "plain"]);
}

#[test]
fn object_patches_keep_key_order_and_append_new_keys() {
    assert_eq!(
        patched("{z: 1, a: 2}", "{b: 3, z: 10, c: 4}"),
        "{z: 10 a: 2 b: 3 c: 4}"
    );
    assert_eq!(patched("{a: 1, b: 2}", "{a: !delete 1}"), "{b: 2}");
    assert_eq!(
        patched("{a: 1}", "{a: null}"),
        "{a: null}",
        "null sets null"
    );
}

#[test]
fn object_patches_keep_the_documents_tag() {
    assert_eq!(patched("!mine {a: 1}", "{b: 2}"), "!mine {a: 1 b: 2}");
    assert_eq!(
        patched("!mine {a: 1}", "!theirs {b: 2}"),
        "!theirs {a: 1 b: 2}",
        "a data tag on the patch wins"
    );
    assert_eq!(
        patched("!mine {a: 1}", "!logd-patch-root {b: 2}"),
        "!mine {a: 1 b: 2}",
        "bookkeeping tags are not data"
    );
}

#[test]
fn sparse_keys_match_by_value() {
    assert_eq!(patched("{1: a, 2: b}", "{2: B, 3: c}"), "{1: a 2: B 3: c}");
    assert_eq!(patched("{1: a, 2: b}", "{1: !delete a}"), "{2: b}");
}

#[test]
fn insert_sets_without_merging() {
    assert_eq!(patched("{a: {x: 1}}", "{a: !insert {y: 2}}"), "{a: {y: 2}}");
    assert_eq!(
        patched("{a: {x: 1}}", "{a: {y: 2}}"),
        "{a: {x: 1 y: 2}}",
        "a plain object merges"
    );
}

#[test]
fn rename_moves_the_value() {
    assert_eq!(patched("{a: 1, b: 2}", "!rename(a,c) null"), "{c: 1 b: 2}");
}

#[test]
fn failed_checks_are_typed_errors_and_leave_the_document() {
    let doc = tony("{a: [1, 2, 3], s: hello}");
    let before = encode_wire(&doc);
    for p in [
        "{a: !replace {from: 9, to: 1}}",
        "{a: !arraydiff {1: !delete 5}}",
        "{a: !arraydiff {9: !replace {from: 1, to: 2}}}",
        "{s: !strdiff(false) {0: !delete x}}",
        "{s: !retag(a,b) null}",
        "{a: !strdiff(false) {0: !delete x}}",
    ] {
        let err = patch(&doc, &tony(p)).unwrap_err();
        assert!(!err.to_string().is_empty(), "{p}");
    }
    assert_eq!(encode_wire(&doc), before);
    let err = patch(&doc, &tony("{a: !replace {from: 9, to: 1}}")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "at \"a\": !replace expected 9 but found [1 2 3]"
    );
}

#[test]
fn unknown_tags_pass_through_as_data() {
    assert_eq!(patched("{a: 1}", "{a: !custom 2}"), "{a: !custom 2}");
    assert_eq!(patched("null", "!custom {k: v}"), "!custom {k: v}");
}

#[test]
fn tag_ops_and_nullify() {
    assert_eq!(patched("{a: 5}", "{a: !addtag(j) null}"), "{a: !j 5}");
    assert_eq!(patched("{a: !j 5}", "{a: !rmtag(j) null}"), "{a: 5}");
    assert_eq!(patched("{a: !j 5}", "{a: !retag(j,k) null}"), "{a: !k 5}");
    assert_eq!(patched("{a: 5}", "{a: !nullify 7}"), "{a: null}");
    assert_eq!(
        patched("!a hello", "!strdiff(false).retag(a,b) {0: !delete h}"),
        "!b ello",
        "ops chain"
    );
}
