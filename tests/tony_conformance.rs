//! Every Tony text in the conformance data parses, and its wire form parses back to the same value.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use tonystore::tony::{encode_wire, parse, Lexer, Node};

fn check(id: &str, text: &str) {
    let node = parse(text).unwrap_or_else(|e| panic!("{id}: {e}\n{text}"));
    let wire = encode_wire(&node);
    assert_eq!(
        parse(&wire).unwrap_or_else(|e| panic!("{id}: {e}: {wire}")),
        node,
        "{id}: {wire}"
    );
    let streamed = tonystore::tony::parse_from_token_source(Lexer::new(text.as_bytes())).unwrap();
    assert_eq!(
        streamed, node,
        "{id}: parse_from_token_source agrees with parse"
    );
}

#[test]
fn every_conformance_text_parses_and_round_trips() {
    let mut checked = 0;
    for (file, fields) in [
        ("patch.jsonl", &["doc", "patch", "result"][..]),
        ("diff.jsonl", &["from", "to", "diff"]),
        ("match.jsonl", &["doc", "match"]),
        ("merge.jsonl", &["result"]),
    ] {
        for case in common::conformance(file) {
            let id = common::text(&case, "id").unwrap().to_owned();
            for name in fields {
                if let Some(text) = common::text(&case, name) {
                    check(&id, text);
                    checked += 1;
                }
            }
            if let Some(patches) = case.get_field(&"patches".into()).and_then(Node::as_array) {
                for p in patches {
                    check(&id, common::text(p, "data").unwrap());
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100, "checked {checked} texts");
}
