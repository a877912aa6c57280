//! The behaviours where we deliberately differ from the original (the reference's
//! "Original quirk — we do X instead" bullets), and path edge cases.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::tony;
use tonystore::kpath::{extract_all, get, GetError, KPath, Segment};
use tonystore::patch::{patch, try_matches, PatchError};
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

// ---- `!let` (the original's `mergeop/let.go` over `eval.ExpandIR`) ----

fn let_matches(doc: &str, pattern: &str) -> Result<bool, PatchError> {
    try_matches(&tony(doc), &tony(pattern))
}

fn let_refused(pattern: &str, says: &str) {
    match let_matches("{x: 0}", pattern) {
        Err(PatchError::Malformed { op, reason, .. }) => {
            assert_eq!(op, "!let");
            assert!(reason.contains(says), "{pattern}: {reason}");
        }
        other => panic!("{pattern}: {other:?}"),
    }
}

/// Original quirk — we refuse a name no enclosing `!let` binds instead. The original's
/// expression evaluator reads an unknown name as nil, so `.[nope]` became null, a pattern that
/// matches every document (and inside a string, the text of nil).
#[test]
fn let_refuses_an_unbound_name() {
    let_refused("!let {let: [{t: 1}], in: {x: .[nope]}}", "binds .[nope]");
    let_refused(
        "!let {let: [{t: 1}], in: {x: \"a .[nope] b\"}}",
        "binds .[nope]",
    );
    let_refused("!let {let: [{v: .[nope]}], in: {x: .[v]}}", "binds .[nope]");
    // `.[a] and .[b]` is one reference (to the name `a] and .[b`), as in the original, where
    // it does not compile as an expression.
    let_refused(
        "!let {let: [{a: 1}, {b: 2}], in: {x: \".[a] and .[b]\"}}",
        "binds .[a] and .[b]",
    );
}

/// Original quirk — we report a cycle among bindings instead of overflowing the stack
/// (`ExpandIRWithOptions` expands a bound value again without end).
#[test]
fn let_refuses_a_cycle_of_bindings() {
    let_refused("!let {let: [{a: .[a]}], in: {x: .[a]}}", "cycle: a -> a");
    let_refused(
        "!let {let: [{a: .[b]}, {b: .[c]}, {c: .[a]}], in: {x: .[a]}}",
        "cycle: a -> b -> c -> a",
    );
}

/// Original quirk — we leave a nested `!let`'s names to it instead of blanking them. The
/// original expands the whole body with the outer bindings, nested `!let`s included, so an
/// inner name became null (and matched anything). Ours scope like the code reads: an inner
/// body sees its own names first, then the outer ones; an inner binding list reads the outer
/// bindings first, then its siblings.
#[test]
fn let_nests_with_lexical_scope() {
    let doc = "{sha: aaa111}";
    for (pattern, want) in [
        (
            "!let {let: [{a: 1}], in: !let {let: [{b: aaa111}], in: {sha: .[b]}}}",
            true,
        ),
        (
            "!let {let: [{a: 1}], in: !let {let: [{b: zzz}], in: {sha: .[b]}}}",
            false,
        ),
        (
            "!let {let: [{o: aaa111}], in: !let {let: [{b: 1}], in: {sha: .[o]}}}",
            true,
        ),
        (
            "!let {let: [{o: aaa111}], in: !let {let: [{b: .[o]}], in: {sha: .[b]}}}",
            true,
        ),
        (
            "!let {let: [{t: zzz}], in: !let {let: [{t: aaa111}], in: {sha: .[t]}}}",
            true,
        ),
        (
            "!let {let: [{t: aaa111}], in: !let {let: [{t: zzz}], in: {sha: .[t]}}}",
            false,
        ),
        (
            "!let {let: [{t: aaa111}], in: !let {let: [{t: .[t]}], in: {sha: .[t]}}}",
            true,
        ),
        (
            "!let {let: [{o: 1}], in: !let {let: [{a: aaa111}, {b: .[a]}], in: {sha: .[b]}}}",
            true,
        ),
        (
            "!let {let: [{a: aaa}], in: !let {let: [{b: 111}], in: {sha: \"$[a].[b]\"}}}",
            true,
        ),
        (
            "!not.let {let: [{a: 1}], in: !let {let: [{b: aaa111}], in: {sha: .[b]}}}",
            false,
        ),
    ] {
        assert_eq!(let_matches(doc, pattern).unwrap(), want, "{pattern}");
    }
    let_refused(
        "!let {let: [{a: 1}], in: !let {let: [{b: 2}], in: {x: .[nope]}}}",
        "binds .[nope]",
    );
}

/// Original quirk — we keep the tag a whole reference wears instead of dropping it. The
/// original replaces the node, tag and all, so `!not .[v]` matched what `.[v]` matches; ours
/// composes the reference's tag over the value's own (`!not` over `!glob` is `!not.glob`).
#[test]
fn let_keeps_the_tag_of_a_reference() {
    let p = "!let {let: [{v: 3}], in: {x: !not .[v]}}";
    assert!(!let_matches("{x: 3}", p).unwrap());
    assert!(let_matches("{x: 4}", p).unwrap());
    let glob = "!let {let: [{g: !glob \"a*\"}], in: {x: !not .[g]}}";
    assert!(!let_matches("{x: abc}", glob).unwrap());
    assert!(let_matches("{x: bcd}", glob).unwrap());
}

/// Expansion is bounded: bindings that double at every step, or text repeating a large value,
/// run out of the match's step budget, and a long chain of references out of the depth
/// bound, with errors rather than hours of work, gigabytes of text or a stack overflow.
#[test]
fn let_expansion_is_bounded() {
    let doubling: Vec<String> = (0..40)
        .map(|i| format!("{{b{i}: [.[b{}], .[b{}]]}}", i + 1, i + 1))
        .chain(std::iter::once("{b40: 1}".to_owned()))
        .collect();
    let p = format!("!let {{let: [{}], in: {{x: .[b0]}}}}", doubling.join(", "));
    assert!(matches!(
        let_matches("{x: 0}", &p),
        Err(PatchError::TooComplex { .. })
    ));
    let chain: Vec<String> = (0..5_000)
        .map(|i| format!("{{c{i}: .[c{}]}}", i + 1))
        .chain(std::iter::once("{c5000: 1}".to_owned()))
        .collect();
    let p = format!("!let {{let: [{}], in: {{x: .[c0]}}}}", chain.join(", "));
    assert!(matches!(
        let_matches("{x: 1}", &p),
        Err(PatchError::TooDeep { .. })
    ));
    // Text is bounded too: 200 copies of a 100 KB value in one string.
    let refs = ".[v]".repeat(200);
    let p = format!(
        "!let {{let: [{{v: {}}}], in: {{x: \"={refs}\"}}}}",
        "x".repeat(100_000)
    );
    assert!(matches!(
        let_matches("{x: 0}", &p),
        Err(PatchError::TooComplex { .. })
    ));
    // A chain within the bound resolves.
    let short: Vec<String> = (0..100)
        .map(|i| format!("{{c{i}: .[c{}]}}", i + 1))
        .chain(std::iter::once("{c100: 1}".to_owned()))
        .collect();
    let p = format!("!let {{let: [{}], in: {{x: .[c0]}}}}", short.join(", "));
    assert!(let_matches("{x: 1}", &p).unwrap());
}
