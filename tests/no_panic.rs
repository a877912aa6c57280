//! No panic, abort or hang from any patch, pattern, path or value: the regressions of issue 11
//! ("Panics from patches", "a 20,000-segment path aborts the process") and property tests that
//! throw hostile patches (every op and tag, hostile slot numbers, huge indices, deep values) at
//! apply, diff, reverse, match and the path functions. Errors are fine; panics are not.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::tony;
use proptest::prelude::*;
use tonystore::kpath::{get, GetError, KPath, PathError};
use tonystore::patch::{diff, patch, patch_with, reverse, try_matches, PatchError, PatchOptions};
use tonystore::tony::{encode_wire, parse, Key, Node, MAX_DEPTH};

/// `leaf` inside `levels` objects `{a: ...}`, built in Rust (no parser bound applies).
fn nested(levels: usize, leaf: Node) -> Node {
    (0..levels).fold(leaf, |inner, _| Node::object(vec![(Key::str("a"), inner)]))
}

fn too_deep<T: std::fmt::Debug>(result: Result<T, PatchError>) {
    assert!(
        matches!(
            result,
            Err(PatchError::TooDeep {
                limit: MAX_DEPTH,
                ..
            })
        ),
        "{result:?}"
    );
}

fn malformed<T: std::fmt::Debug>(result: Result<T, PatchError>, says: &str) {
    match result {
        Err(PatchError::Malformed { reason, .. }) => {
            assert!(reason.contains(says), "{reason:?} should say {says:?}")
        }
        other => panic!("expected Malformed ({says}), got {other:?}"),
    }
}

#[test]
fn arraydiff_slots_naming_one_slot_twice_are_malformed() {
    // "3" and "03" both name slot 3: this used to underflow the slot cursor.
    let p = tony("!arraydiff {\"3\": !delete 4, \"03\": !insert 9}");
    malformed(patch(&tony("[1, 2, 3, 4, 5]"), &p), "slot 3 is given twice");
    let p = tony("!strdiff(false) {\"1\": !delete e, \"01\": !insert x}");
    malformed(patch(&Node::string("hello"), &p), "slot 1 is given twice");
}

#[test]
fn arraydiff_slots_at_the_edge_of_u32_are_errors() {
    let doc = tony("[1, 2]");
    for p in [
        "!arraydiff {4294967295: !insert 0}",
        "!arraydiff {\"4294967295\": !delete 1}",
        "!arraydiff {0: !delete 1, 4294967295: !replace {from: 1, to: 2}}",
    ] {
        malformed(patch(&doc, &tony(p)), "past the end");
    }
    malformed(
        patch(&doc, &tony("!arraydiff {\"4294967296\": !insert 0}")),
        "not a number",
    );
    // Past the end of a string, unmentioned slots copy nothing (as in the original).
    assert_eq!(
        patch(
            &Node::string("ab"),
            &tony("!strdiff(false) {4294967295: !insert z}")
        )
        .unwrap(),
        Node::string("abz")
    );
}

#[test]
fn huge_indices_are_out_of_range_not_wrapped() {
    // On wasm32 `4294967296 as usize` was 0: element 0 came back.
    let doc = tony("{a: [first, second]}");
    for index in [4_294_967_296u64, u64::MAX, 1 << 32 | 1] {
        let path = KPath::parse(&format!("a[{index}]")).unwrap();
        assert_eq!(
            get(&doc, &path),
            Err(GetError::IndexOutOfRange {
                at: "a".into(),
                index,
                len: 2
            })
        );
    }
    assert!(KPath::parse("a[18446744073709551616]").is_err(), "past u64");
}

#[test]
fn a_path_longer_than_the_nesting_bound_is_a_typed_error() {
    let longest = vec!["a"; KPath::MAX_SEGMENTS].join(".");
    assert_eq!(KPath::parse(&longest).unwrap().len(), KPath::MAX_SEGMENTS);
    for segments in [KPath::MAX_SEGMENTS + 1, 20_000, 200_000] {
        let text = "[0]".repeat(segments);
        let err: PathError = KPath::parse(&text).unwrap_err();
        assert!(err.message.contains("segments"), "{}", err.message);
    }
}

#[test]
fn deep_patches_built_in_rust_stop_with_too_deep() {
    // The parser bounds nesting; values built in Rust are bounded by the walks themselves.
    let deep = nested(20_000, Node::int(1));
    too_deep(patch(&Node::null(), &deep));
    too_deep(patch(&deep, &deep));
    too_deep(try_matches(&deep, &deep));
    too_deep(reverse(&deep));
    // A patch at the bound applies.
    let at_bound = nested(MAX_DEPTH, Node::int(1));
    assert_eq!(patch(&Node::null(), &at_bound).unwrap(), at_bound);
    too_deep(patch(&Node::null(), &nested(MAX_DEPTH + 1, Node::int(1))));
}

#[test]
fn deep_values_inside_ops_are_bounded_too() {
    let deep = nested(20_000, Node::string("x"));
    let embed = Node::array(vec![deep.clone()]).with_tag("!embed(x)");
    too_deep(patch(&Node::int(1), &embed));
    let dive = tony("!dive [{match: null, patch: !nullify null}]");
    too_deep(patch(&deep, &dive));
    let bind = Node::object(vec![
        (Key::str("let"), tony("[{v: 1}]")),
        (Key::str("in"), deep.clone()),
    ])
    .with_tag("!let");
    too_deep(try_matches(&Node::null(), &bind));
    // A long tag chain is bounded as well.
    let chain = format!("!addtag(t){}", ".addtag(t)".repeat(5_000));
    too_deep(patch(&Node::int(1), &Node::null().with_tag(&chain)));
    // `!subtree` walks a deep document with its own stack.
    assert!(try_matches(&deep, &tony("!subtree x")).unwrap());
}

/// The deepest walks the bounds allow fit in 1 MiB of stack (WebAssembly's default), even
/// unoptimized.
#[test]
fn the_deepest_allowed_walks_fit_in_a_wasm_stack() {
    let walks = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let objects = nested(MAX_DEPTH, Node::int(1));
            assert_eq!(patch(&objects, &objects).unwrap(), objects);
            assert!(try_matches(&objects, &objects).unwrap());
            let arrays = (0..MAX_DEPTH).fold(Node::int(1), |inner, _| Node::array(vec![inner]));
            let slots = (0..MAX_DEPTH).fold(Node::int(2), |inner, _| {
                Node::object(vec![(Key::Int(0), inner)]).with_tag("!arraydiff")
            });
            assert!(patch(&arrays, &slots).is_ok());
            // `!all.all...` descends one array level per link.
            let all = Node::int(3).with_tag(&format!("!all{}", ".all".repeat(MAX_DEPTH - 1)));
            let threes = (0..MAX_DEPTH).fold(Node::int(3), |inner, _| Node::array(vec![inner]));
            assert_eq!(patch(&arrays, &all).unwrap(), threes);
            let chain = format!("!addtag(t){}", ".addtag(t)".repeat(1_000));
            too_deep(patch(&objects, &Node::null().with_tag(&chain)));
            let d = diff(&objects, &nested(MAX_DEPTH, Node::int(2))).unwrap();
            assert!(reverse(&d).is_ok());
            let wire = encode_wire(&objects);
            assert_eq!(parse(&wire).unwrap(), objects, "bracketed");
            let block = tonystore::tony::encode_block(&objects);
            assert_eq!(parse(&block).unwrap(), objects, "block");
            let wide = format!("{} 1{}", "[ ".repeat(MAX_DEPTH), " ]".repeat(MAX_DEPTH));
            assert!(parse(&wide).is_ok(), "general parser");
        })
        .unwrap();
    assert!(walks.join().is_ok());
}

#[test]
fn diff_of_deep_values_replaces_below_the_bound() {
    let (a, b) = (nested(2_000, Node::int(1)), nested(2_000, Node::int(2)));
    let d = diff(&a, &b).unwrap();
    assert_eq!(patch(&a, &d).unwrap(), b);
    assert!(encode_wire(&d).contains("!replace"));
}

#[test]
fn pipe_moves_more_than_a_pipe_buffer_both_ways() {
    // The input used to be written before the output was read: past 64 KiB both blocked.
    let input = "0123456789abcdef".repeat(64 * 1024); // 1 MiB
    let (tx, rx) = std::sync::mpsc::channel();
    let doc = Node::string(&input);
    std::thread::spawn(move || {
        let p = Node::string("cat").with_tag("!pipe");
        let _ = tx.send(patch_with(&doc, &p, PatchOptions { allow_pipe: true }));
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("!pipe finished");
    assert_eq!(got.unwrap(), Node::string(&input));
    let fails = Node::string("ls /no/such/dir/tonystore").with_tag("!pipe");
    let err = patch_with(&Node::null(), &fails, PatchOptions { allow_pipe: true }).unwrap_err();
    assert!(
        err.to_string().contains("/no/such/dir/tonystore"),
        "stderr is reported: {err}"
    );
}

/// Tags of every patch op and match op, with good and bad arguments, and chains.
fn any_op_tag() -> impl Strategy<Value = Option<String>> {
    let tags = vec![
        "!delete",
        "!delete(t)",
        "!insert",
        "!insert(t)",
        "!replace",
        "!arraydiff",
        "!strdiff(true)",
        "!strdiff(false)",
        "!strdiff(maybe)",
        "!addtag(t)",
        "!addtag",
        "!rmtag(t)",
        "!retag(t,u)",
        "!retag(t)",
        "!nullify",
        "!key(k)",
        "!key",
        "!all",
        "!embed(x)",
        "!embed",
        "!field(a,b)",
        "!field",
        "!rename(a,b)",
        "!dive",
        "!pipe",
        "!if",
        "!pass",
        "!quote",
        "!unquote",
        "!json-patch",
        "!and",
        "!or",
        "!not",
        "!type",
        "!irtype",
        "!glob",
        "!tag",
        "!subtree",
        "!has-path",
        "!let",
        "!bracket",
        "!sparsearray",
        "!t",
        "!strdiff(false).retag(t,u)",
        "!not.subtree.field.glob",
        "!all.addtag(x)",
        "!arraydiff.rmtag(t)",
        "!delete.insert",
    ];
    prop_oneof![
        3 => Just(None),
        4 => prop::sample::select(tags).prop_map(|t| Some(t.to_owned())),
    ]
}

/// Object keys a slot map or a patch may hold, hostile ones included.
fn any_key() -> impl Strategy<Value = Key> {
    prop_oneof![
        prop::sample::select(vec![
            "0",
            "1",
            "3",
            "03",
            "from",
            "to",
            "if",
            "then",
            "else",
            "match",
            "patch",
            "let",
            "in",
            "k",
            "a",
            "4294967295",
            "4294967296",
            "-1",
            "",
            "18446744073709551616",
            "<<",
        ])
        .prop_map(Key::str),
        prop::sample::select(vec![0u32, 1, 2, 3, 7, u32::MAX - 1, u32::MAX]).prop_map(Key::Int),
        Just(Key::Merge),
    ]
}

fn any_scalar() -> impl Strategy<Value = Node> {
    prop_oneof![
        Just(Node::null()),
        any::<bool>().prop_map(Node::bool),
        prop::sample::select(vec![0i64, 1, -1, 3, i64::MIN, i64::MAX]).prop_map(Node::int),
        Just(Node::float(0.5)),
        prop::sample::select(vec![
            "",
            "x",
            "a\nb",
            "h",
            "hello",
            "[",
            "\\",
            "*",
            "a*b?",
            "[^a-",
            "a.b[4294967296]",
            "{1}",
            "(k)",
            "sh",
            ".[v]",
        ])
        .prop_map(Node::string),
    ]
}

/// Random patches, patterns and documents made of ops, hostile keys and scalars.
fn any_patch() -> impl Strategy<Value = Node> {
    let leaf = (any_scalar(), any_op_tag()).prop_map(tagged);
    leaf.prop_recursive(5, 64, 6, |inner| {
        (
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Node::array),
                prop::collection::vec((any_key(), inner), 0..5).prop_map(Node::object),
            ],
            any_op_tag(),
        )
            .prop_map(tagged)
    })
}

fn tagged((node, tag): (Node, Option<String>)) -> Node {
    match tag {
        Some(t) => node.with_tag(&t),
        None => node,
    }
}

fn any_path_text() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a",
        ".a",
        ".*",
        "[0]",
        "[4294967296]",
        "[18446744073709551615]",
        "[*]",
        "{3}",
        "{4294967296}",
        "{*}",
        "(k)",
        "('x')",
        "\"q\"",
        ".",
        "[",
        "{",
        "(",
        ")",
        "]",
        "[-1]",
        "é",
    ]);
    prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(2_000, 100_000)))]

    #[test]
    fn patching_never_panics(doc in any_patch(), p in any_patch()) {
        let before = doc.clone();
        if let Ok(out) = patch(&doc, &p) {
            // Whatever a patch yields is a value we can encode (and it reads back unless it
            // mixes key kinds, which the parser rejects).
            let _ = parse(&encode_wire(&out));
        }
        prop_assert_eq!(doc, before, "the document is never modified");
    }

    #[test]
    fn diff_reverse_and_match_never_panic(a in any_patch(), b in any_patch()) {
        if let Some(d) = diff(&a, &b) {
            let _ = patch(&a, &d);
            let _ = reverse(&d).map(|r| patch(&b, &r));
        }
        let _ = reverse(&a);
        let _ = try_matches(&a, &b);
    }

    #[test]
    fn deep_random_patches_stop_with_errors(
        p in any_patch(),
        doc in any_patch(),
        wrappers in prop::collection::vec(0u8..4, 200..700),
    ) {
        // A random patch inside hundreds of levels of objects, arrays, slot maps and `!all`.
        let deep = wrappers.iter().fold(p, |inner, w| match w {
            0 => Node::object(vec![(Key::str("a"), inner)]),
            1 => Node::array(vec![inner]),
            2 => Node::object(vec![(Key::Int(0), inner)]).with_tag("!arraydiff"),
            _ => Node::array(vec![inner]).with_tag("!all"),
        });
        let _ = patch(&doc, &deep);
        let _ = patch(&deep, &doc);
        let _ = try_matches(&deep, &deep);
        let _ = reverse(&deep);
        let _ = diff(&deep, &doc);
        let _ = parse(&encode_wire(&deep));
    }

    #[test]
    fn any_tag_text_never_panics(
        tag in "![a-z(),.!]{0,16}",
        value in any_patch(),
        doc in any_patch(),
    ) {
        let p = value.with_tag(&tag);
        let _ = patch(&doc, &p);
        let _ = try_matches(&doc, &p);
        let _ = reverse(&p);
        let _ = diff(&doc, &p);
    }

    #[test]
    fn json_patch_operations_never_panic(
        doc in any_patch(),
        ops in prop::collection::vec(
            (
                prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test", "x"]),
                prop::sample::select(vec![
                    "", "/", "/a", "/0", "/-", "/a/0", "/a/-", "/01", "/~1", "/~0~", "/3",
                    "/99999999999999999999", "a", "/a/b/c",
                ]),
                prop::sample::select(vec!["", "/a", "/0", "/-", "/a/0"]),
                any_patch(),
            ),
            0..5,
        ),
    ) {
        let ops = ops
            .into_iter()
            .map(|(op, path, from, value)| {
                Node::object(vec![
                    (Key::str("op"), Node::string(op)),
                    (Key::str("path"), Node::string(path)),
                    (Key::str("from"), Node::string(from)),
                    (Key::str("value"), value),
                ])
            })
            .collect();
        let _ = patch(&doc, &Node::array(ops).with_tag("!json-patch"));
    }

    #[test]
    fn paths_never_panic(text in any_path_text(), doc in any_patch()) {
        if let Ok(path) = KPath::parse(&text) {
            prop_assert_eq!(KPath::parse(&path.to_string()), Ok(path.clone()), "round trip");
            let _ = get(&doc, &path);
        }
    }

    #[test]
    fn slot_maps_with_any_numbers_never_panic(
        doc in prop::collection::vec(any_scalar(), 0..6),
        slots in prop::collection::vec((any_key(), any_patch()), 0..5),
        text in prop::sample::select(vec!["", "hello", "a\nb\nc", "é☺x"]),
        tag in prop::sample::select(vec!["!arraydiff", "!strdiff(false)", "!strdiff(true)"]),
    ) {
        let body = Node::object(slots).with_tag(tag);
        let _ = patch(&Node::array(doc), &body);
        let _ = patch(&Node::string(text), &body);
    }
}

#[test]
fn resuming_a_stream_at_the_largest_index_does_not_overflow() {
    use tonystore::kpath::Segment;
    use tonystore::tony::EventReader;
    let path = KPath::from_segments(vec![Segment::Index(u64::MAX)]);
    let mut reader = EventReader::resume("1, 2]".as_bytes(), &path);
    let mut events = 0;
    while let Ok(Some(_)) = reader.next_event() {
        events += 1;
        assert!(events < 10, "the stream ends");
    }
    assert!(events >= 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(2_000, 100_000)))]

    #[test]
    fn text_never_panics_the_parsers(text in "[\\[\\]{}()!:,'\"\\\\a-c0-9 \\n\\t#|>-]{0,40}") {
        use tonystore::tony::EventReader;
        let _ = parse(&text);
        let mut reader = EventReader::new(text.as_bytes());
        for _ in 0..200 {
            if !matches!(reader.next_event(), Ok(Some(_))) {
                break;
            }
        }
    }
}

#[test]
fn values_of_any_depth_compare_and_encode() {
    // Equality, order, the encoders and dropping walk with their own stacks.
    let (a, b) = (nested(300_000, Node::int(1)), nested(300_000, Node::int(2)));
    assert!(a < b && a != b);
    assert_eq!(a.cmp(&a.clone()), std::cmp::Ordering::Equal);
    let text = encode_wire(&a);
    assert_eq!(text.len(), "{a: }".len() * 300_000 + 1);
    // Block form switches to wire form past the nesting bound (no text that deep reads back).
    let block = tonystore::tony::encode_block(&a);
    assert!(block.len() < 2 * text.len(), "{} bytes", block.len());
    drop((a, b));
    let arrays = (0..300_000).fold(Node::null(), |inner, _| Node::array(vec![inner]));
    let shared = Node::array(vec![arrays.clone(), arrays]);
    drop(shared);
}

/// Found by the heavy fuzz run: `!subtree` chained inside `!subtree` multiplies the work by the
/// document's size per link. A match has a step budget and says so instead of running for hours.
#[test]
fn chained_subtree_patterns_are_refused_past_a_step_budget() {
    let doc =
        tonystore::tony::parse("{a: {b: [1, 2, {c: 3, d: [4, 5]}]}, e: {f: 6, g: 7}}").unwrap();
    let chain = vec!["subtree"; 40].join(".");
    // Nothing equals 99, so every path through every link is tried.
    let pattern = tonystore::tony::parse(&format!("!{chain} 99")).unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(
        tonystore::patch::try_matches(&doc, &pattern),
        Err(tonystore::patch::PatchError::TooComplex { .. })
    ));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // A modest chain still evaluates.
    let pattern = tonystore::tony::parse("!subtree.subtree 7").unwrap();
    assert!(tonystore::patch::try_matches(&doc, &pattern).unwrap());
    // And the budget is per match: the next one starts afresh.
    assert!(tonystore::patch::try_matches(&doc, &pattern).unwrap());
}
