//! Parser and encoder cases derived from the Tony format reference.
#![cfg(not(target_arch = "wasm32"))]

use tonystore::tony::{encode_block, encode_wire, parse, parse_documents, Key, Node};

fn wire(text: &str) -> String {
    encode_wire(&parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}")))
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(n) => panic!("{text:?} should fail, got {}", encode_wire(&n)),
        Err(e) => e.to_string(),
    }
}

#[test]
fn scalars() {
    assert_eq!(wire("null"), "null");
    assert_eq!(wire("true"), "true");
    assert_eq!(wire("-12"), "-12");
    assert_eq!(wire("1.5"), "1.5");
    assert_eq!(wire("1.5e3"), "1.5e3");
    assert_eq!(wire("1.0"), "1.0");
    assert_eq!(wire("hello"), "hello");
    assert_eq!(wire("\"x y\""), "\"x y\"");
    assert_eq!(parse("'it\\'s'").unwrap(), Node::string("it's"));
    assert_eq!(
        parse("\"\\u00e9\\n\\ud83d\\ude00\"").unwrap(),
        Node::string("é\n😀")
    );
    assert_eq!(parse("9223372036854775807").unwrap(), Node::int(i64::MAX));
    assert!(matches!(
        parse("92233720368547758070").unwrap().value,
        tonystore::tony::Value::Float(_)
    ));
}

#[test]
fn block_objects_and_arrays() {
    assert_eq!(
        wire("a: 1\nb: two\nc:\n  d: [1, 2]\n  e: null"),
        "{a: 1 b: two c: {d: [1 2] e: null}}"
    );
    assert_eq!(
        wire("- 1\n- a: 1\n  b: 2\n- - x\n  - y"),
        "[1 {a: 1 b: 2} [x y]]"
    );
    assert_eq!(wire("a:\n- 1\n- 2\nb: 3"), "{a: [1 2] b: 3}");
    assert_eq!(wire("a:\n  - 1\n  - 2"), "{a: [1 2]}");
    assert_eq!(wire("a:\nb: 1"), "{a: null b: 1}");
    assert_eq!(wire("- \n- 1"), "[null 1]");
}

#[test]
fn bracketed_style_and_json() {
    assert_eq!(
        wire("{a: 1, b: [1, 2, 3], c: \"x y\",}"),
        "{a: 1 b: [1 2 3] c: \"x y\"}"
    );
    assert_eq!(wire("{a: 1 b: 2}"), "{a: 1 b: 2}");
    assert_eq!(wire("{a:b}"), "{a: b}");
    assert_eq!(
        wire(r#"{"k": [true, false, null, 1.25, {"n": -3}]}"#),
        "{k: [true false null 1.25 {n: -3}]}"
    );
    assert_eq!(wire("{a b c}"), "{a: null b: null c: null}");
    assert_eq!(wire("{a !t b}"), "{a: !t null b: null}");
    assert_eq!(wire("[]"), "[]");
    assert_eq!(wire("{}"), "{}");
    assert_eq!(wire("url: http://x.org/a"), "{url: \"http://x.org/a\"}");
    assert!(err("[,]").contains("expected a value before ','"));
    assert!(err("[1,,2]").contains("two commas"));
}

#[test]
fn tags() {
    assert_eq!(wire("!tag {k: v}"), "!tag {k: v}");
    assert_eq!(wire("a: !delete 3"), "{a: !delete 3}");
    assert_eq!(
        wire("!strdiff(false).retag(a,b) null"),
        "!strdiff(false).retag(a,b) null"
    );
    assert_eq!(wire("!t\na: 1\nb: 2"), "!t {a: 1 b: 2}");
    assert_eq!(wire("!t a: 1\nb: 2"), "!t {a: 1 b: 2}");
    assert_eq!(wire("x: !t\n  a: 1"), "{x: !t {a: 1}}");
    assert_eq!(wire("- !t\n  a: 1"), "[!t {a: 1}]");
    assert!(err("{!t a: 1}").contains("keys cannot be tagged"));
}

#[test]
fn block_literals() {
    assert_eq!(
        parse("a: |\n  line 1\n  line 2\nb: 1")
            .unwrap()
            .get_field(&Key::str("a"))
            .unwrap(),
        &Node::string("line 1\nline 2\n")
    );
    assert_eq!(
        parse("a: |-\n  x\n\n  y\n")
            .unwrap()
            .get_field(&Key::str("a"))
            .unwrap(),
        &Node::string("x\n\ny")
    );
    assert_eq!(
        parse("a: |+\n  x\n\n")
            .unwrap()
            .get_field(&Key::str("a"))
            .unwrap(),
        &Node::string("x\n\n")
    );
    assert_eq!(wire("- |\n  one\n- two"), "[\"one\\n\" two]");
    assert_eq!(wire("- a: |\n    deep\n  b: 1"), "[{a: \"deep\\n\" b: 1}]");
}

#[test]
fn folding_merge_keys_sparse_arrays_comments() {
    assert_eq!(
        parse("a: \"hello \"\n  \"world\"")
            .unwrap()
            .get_field(&Key::str("a"))
            .unwrap(),
        &Node::string("hello world")
    );
    assert_eq!(wire("<<: base\na: 1"), "{<<: base a: 1}");
    assert!(err("<<: [1]").contains("merge key"));
    assert_eq!(wire("{0: a, 5: b}"), "{0: a 5: b}");
    assert!(parse("{0: a, 5: b}").unwrap().is_sparse_array());
    assert!(err("{0: a, b: c}").contains("mix integer keys"));
    assert_eq!(wire("# head\na: 1 # line\n# tail"), "{a: 1}");
    assert_eq!(wire("a: 1#no space needed"), "{a: 1}");
}

#[test]
fn documents() {
    let docs = parse_documents("a: 1\n---\n- 2\n---\nx").unwrap();
    assert_eq!(
        docs.iter().map(encode_wire).collect::<Vec<_>>(),
        ["{a: 1}", "[2]", "x"]
    );
    assert!(
        parse("a: 1\n---\nb: 2").is_err(),
        "parse takes exactly one document"
    );
    assert_eq!(wire("---\na: 1"), "{a: 1}");
}

#[test]
fn errors_carry_positions_and_expectations() {
    assert_eq!(
        err("a: 1\n   b: 2"),
        "line 2, column 4: unexpected indentation"
    );
    assert_eq!(
        err("a:\n    b: 1"),
        "line 2, column 5: indent nested values by exactly 2 spaces"
    );
    assert_eq!(err("{a: 1"), "line 1, column 1: unclosed '{'");
    assert_eq!(err("\"abc"), "line 1, column 1: unterminated string");
    assert_eq!(
        err("12ab"),
        "line 1, column 1: a string may not start with a digit; quote it"
    );
    assert_eq!(
        err("a: 1\nb"),
        "line 2, column 1: expected a key (name followed by ':')"
    );
    assert_eq!(err("]"), "line 1, column 1: unexpected ']'");
    assert_eq!(
        err("01"),
        "line 1, column 1: numbers may not have leading zeros"
    );
    assert!(err(&"[".repeat(10_000)).contains("nesting deeper than"));
    assert!(err(&"- ".repeat(10_000)).contains("nesting deeper than"));
}

#[test]
fn block_form_round_trips() {
    let text =
        "a: 1\nb:\n  - x\n  - k: !t v\n    l: []\n  - - 1\n    - 2\nc: !tag\n  d: \"q r\"\ne: {}\n";
    let node = parse(text).unwrap();
    let block = encode_block(&node);
    assert_eq!(parse(&block).unwrap(), node, "block form:\n{block}");
    assert_eq!(
        encode_wire(&node),
        "{a: 1 b: [x {k: !t v l: []} [1 2]] c: !tag {d: \"q r\"} e: {}}"
    );
}

#[test]
fn duplicate_keys_are_rejected() {
    assert_eq!(err("{a: 1, a: 2}"), "line 1, column 1: duplicate key \"a\"");
    assert!(err("a: 1\nb: 2\na: 3").contains("duplicate key"));
    assert!(parse("{<<: x, <<: y}").is_ok(), "merge keys may repeat");
}
