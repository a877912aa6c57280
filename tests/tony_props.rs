//! Property tests: encoders and parser round-trip every value; no input makes the parser panic.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use proptest::prelude::*;
use tonystore::tony::{
    encode_block, encode_block_annotated, encode_wire, parse, parse_annotated,
    parse_from_token_source, Lexer, Node, Value,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(2_000, 50_000)))]

    #[test]
    fn wire_form_round_trips(node in common::any_node()) {
        let wire = encode_wire(&node);
        let back = parse(&wire).map_err(|e| TestCaseError::fail(format!("{wire}: {e}")))?;
        prop_assert_eq!(&back, &node, "wire: {}", wire);
        prop_assert_eq!(&parse_from_token_source(Lexer::new(wire.as_bytes())).unwrap(), &node, "general parser: {}", wire);
        prop_assert_eq!(encode_wire(&back), wire, "canonical wire text re-encodes byte for byte");
        prop_assert!(!encode_wire(&node).contains('\n'), "wire form is one line");
    }

    #[test]
    fn order_is_the_recursive_definition(a in common::any_node(), b in common::any_node()) {
        prop_assert_eq!(a.cmp(&b), reference_cmp(&a, &b));
        prop_assert_eq!(b.cmp(&a), reference_cmp(&b, &a));
        prop_assert_eq!(a.cmp(&a.clone()), std::cmp::Ordering::Equal);
    }

    #[test]
    fn block_form_round_trips(node in common::any_node()) {
        let block = encode_block(&node);
        let back = parse(&block).map_err(|e| TestCaseError::fail(format!("{block}: {e}")))?;
        prop_assert_eq!(back, node, "block:\n{}", block);
    }
}

/// The order of nodes as `ir.rs` defines it (value by type rank, then value, containers
/// lexicographically; then tag), written recursively: the walk with its own stack must agree.
fn reference_cmp(a: &Node, b: &Node) -> std::cmp::Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Float(_) => 3,
            Value::String(_) => 4,
            Value::Array(_) => 5,
            Value::Object(_) => 6,
        }
    }
    let value = match (&a.value, &b.value) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.value.total_cmp(&y.value),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y.iter())
            .map(|(p, q)| reference_cmp(p, q))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .zip(y.iter())
            .map(|((kp, p), (kq, q))| kp.cmp(kq).then_with(|| reference_cmp(p, q)))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (x, y) => rank(x).cmp(&rank(y)),
    };
    value.then_with(|| a.tag.cmp(&b.tag))
}

/// The value the event reader reads from `text`, if it reads one document without error.
fn streamed_value(text: &str) -> Option<Node> {
    let mut reader = tonystore::tony::EventReader::new(text.as_bytes());
    let first = reader.next_event().ok()??;
    let node = tonystore::tony::build_node(first, &mut reader).ok()?;
    matches!(reader.next_event(), Ok(None)).then_some(node)
}

/// Tony-shaped noise: the characters the grammar cares about, in random order.
fn tonyish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "{", "}", "[", "]", ":", ",", " ", "  ", "\n", "- ", "-", "---\n", "!t ", "!a(b,c)",
            "|", "|-\n", "|+\n", "\"", "'", "\\", "\\u12", "#", "<<", "a", "key", "1", "-2",
            "3.5e", "0", "null", "true", "é", "\t", "(", ")",
        ]),
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// One line of Tony-shaped noise that opens a bracket.
fn bracketish() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["{", "["]),
        prop::collection::vec(
            prop::sample::select(vec![
                "{", "}", "[", "]", ":", ",", " ", "!t ", "!a(b,c)", "\"", "'", "\\", "\\u12", "#",
                "<<", "a", "key", "1", "-2", "3.5e", "0", "null", "true", "é", "\t", "(", ")",
                "\"x\"", "1.5", "a: 1", ", ",
            ]),
            0..30,
        ),
    )
        .prop_map(|(open, parts)| format!("{open}{}", parts.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::cases(100_000, 1_000_000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_path_agrees_with_the_general_parser(text in tonyish()) {
        let general = parse_from_token_source(Lexer::new(text.as_bytes()));
        prop_assert_eq!(parse(&text).ok(), general.ok(), "{:?}", text);
    }

    #[test]
    fn the_event_reader_agrees_with_the_parser(text in bracketish()) {
        // One line of bracketed text: what streaming reads take. Whatever the event reader
        // accepts, the parser accepts with the same value; and it accepts all the parser
        // accepts of canonical wire text (what the log holds; key sets, say, are not streamed).
        let streamed = streamed_value(&text);
        let parsed = parse(&text).ok();
        if streamed.is_some() {
            prop_assert_eq!(&streamed, &parsed, "{:?}", text);
        }
        if let Some(value) = &parsed {
            if tonystore::tony::encode_wire(value) == text {
                prop_assert_eq!(&streamed, &parsed, "{:?}", text);
            }
        }
    }

    #[test]
    fn parser_never_panics_on_tony_shaped_input(text in tonyish()) {
        let annotated = parse_annotated(&text);
        if let Ok(node) = parse(&text) {
            // Whatever parses must round-trip through the wire form.
            let wire = encode_wire(&node);
            prop_assert_eq!(parse(&wire).ok(), Some(node.clone()), "{:?} -> {}", text, wire);
            // Keeping comments changes nothing about the value, and they write back.
            let (kept, notes) = annotated.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&kept, &node);
            let block = encode_block_annotated(&kept, &notes);
            prop_assert_eq!(parse(&block).ok(), Some(node), "{:?} -> {}", text, block);
        }
    }

    #[test]
    fn lexer_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut lexer = Lexer::new(&bytes[..]);
        for _ in 0..bytes.len() + 1 {
            match lexer.next_token() {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        let _ = parse(&String::from_utf8_lossy(&bytes));
    }
}

/// Values as code can build them, hostile ones included: any tag text, repeated, mixed and
/// merge keys, non-finite floats and float text that is not the number.
fn hostile_node() -> impl Strategy<Value = Node> {
    use std::sync::Arc;
    use tonystore::tony::{Float, Key};
    let tag = prop_oneof![
        3 => Just(None),
        1 => "[!a-c(),:# .'\"{}\\n]{0,7}".prop_map(Some),
        1 => prop::sample::select(vec!["!t", "!a.b", "!x(y z)", "!t:u", "!", ""]).prop_map(|t| Some(t.to_owned())),
    ];
    let float = (
        any::<f64>(),
        prop::option::of(prop::sample::select(vec![
            "1.5", "abc", "1.0 ", "2e3", "-0.0", "1", "1.50", "0x1",
        ])),
    )
        .prop_map(|(value, text)| {
            Node::new(Value::Float(Float {
                value: if text.is_some() { 1.5 } else { value },
                text: text.map(Arc::from),
            }))
        });
    let leaf = prop_oneof![
        Just(Node::null()),
        any::<i64>().prop_map(Node::int),
        float,
        common::any_string().prop_map(|s| Node::string(&s)),
    ];
    let key = prop_oneof![
        prop::sample::select(vec!["a", "b", "<<x", "null"]).prop_map(Key::str),
        (0u32..3).prop_map(Key::Int),
        Just(Key::Merge),
    ];
    (leaf, tag.clone())
        .prop_map(|(n, t)| match t {
            Some(t) => n.with_tag(&t),
            None => n,
        })
        .prop_recursive(3, 24, 4, move |inner| {
            (
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Node::array),
                    prop::collection::vec((key.clone(), inner), 0..4).prop_map(Node::object),
                ],
                tag.clone(),
            )
                .prop_map(|(n, t)| match t {
                    Some(t) => n.with_tag(&t),
                    None => n,
                })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(3_000, 100_000)))]

    /// What `check_storable` accepts (what a commit stores) reads back as itself from both
    /// text forms; the rest it refuses.
    #[test]
    fn values_check_storable_accepts_read_back_as_themselves(node in hostile_node()) {
        if tonystore::tony::check_storable(&node, usize::MAX).is_ok() {
            let wire = encode_wire(&node);
            let back = parse(&wire).map_err(|e| TestCaseError::fail(format!("{wire}: {e}")))?;
            prop_assert_eq!(&back, &node, "wire: {}", wire);
            let block = encode_block(&node);
            let back = parse(&block).map_err(|e| TestCaseError::fail(format!("{block}: {e}")))?;
            prop_assert_eq!(&back, &node, "block:\n{}", block);
        }
    }
}

/// The canonical text of a float is defined as Rust's `{:?}`; the encoder's fast formatter
/// must give the same bytes wherever it is used (plain range, few digits) and fall back
/// elsewhere.
fn assert_canonical_is_debug(value: f64) {
    let canonical = tonystore::tony::canonical_float(value);
    let reference = if value.is_finite() {
        format!("{value:?}")
    } else {
        "null".into()
    };
    assert_eq!(canonical, reference, "bits {:#x}", value.to_bits());
}

#[test]
fn canonical_floats_match_debug_at_the_boundaries() {
    let mut values = vec![
        0.0,
        1.0,
        0.1,
        0.5,
        12.05,
        1e-4,
        9.99e-5,
        1e-5,
        1.5e-5,
        1e15,
        9.999999999999998e15,
        1e16,
        1e21,
        1e22,
        5e-324,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::EPSILON,
        1.0 / 3.0,
        904_812_108_048_502.3,
        127_111_427_579_672.63,
        f64::NAN,
        f64::INFINITY,
    ];
    values.extend(values.clone().iter().map(|v| -v));
    for value in values {
        assert_canonical_is_debug(value);
    }
    // Decimal-looking values of every length and scale: the common case of the fast path.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let digits = (x >> 8) % 10u64.pow((x % 17) as u32 + 1);
        let scale = 10f64.powi((x >> 56) as i32 % 24 - 12);
        assert_canonical_is_debug(digits as f64 / scale);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(20_000, 1_000_000)))]

    #[test]
    fn canonical_floats_match_debug(bits in any::<u64>()) {
        assert_canonical_is_debug(f64::from_bits(bits));
    }
}
