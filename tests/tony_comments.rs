//! Comments and folded strings: where the parser attaches them, and the block encoder writing
//! them back.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use proptest::prelude::*;
use tonystore::kpath::{extract_all, KPath};
use tonystore::tony::{encode_block_annotated, parse, parse_annotated, Annotations, Node, Value};

const SAMPLE: &str = r#"# the header
name: tony # who
list:
  # first
  - 1
  - a: 2 # inner
    b: "x"
      "y"
# before nested
nested:
  deep: true
# the end
"#;

fn p(text: &str) -> KPath {
    KPath::parse(text).unwrap()
}

#[test]
fn comments_attach_to_the_nodes_they_describe() {
    let (doc, notes) = parse_annotated(SAMPLE).unwrap();
    assert_eq!(
        doc,
        parse(SAMPLE).unwrap(),
        "comments do not change the value"
    );
    let head = |path: &str| notes.head.get(&p(path)).cloned().unwrap_or_default();
    assert_eq!(head(""), [" the header"]);
    assert_eq!(head("list[0]"), [" first"]);
    assert_eq!(head("nested"), [" before nested"]);
    assert_eq!(notes.line.get(&p("name")).map(String::as_str), Some(" who"));
    assert_eq!(
        notes.line.get(&p("list[1].a")).map(String::as_str),
        Some(" inner")
    );
    assert_eq!(notes.trailing, [" the end"]);
    assert_eq!(
        notes.folded.get(&p("list[1].b")),
        Some(&vec!["x".to_owned(), "y".to_owned()])
    );
    assert_eq!(notes.head.len() + notes.line.len(), 5);
}

#[test]
fn the_block_encoder_writes_them_back_byte_for_byte() {
    let (doc, notes) = parse_annotated(SAMPLE).unwrap();
    assert_eq!(encode_block_annotated(&doc, &notes), SAMPLE);
    for text in [
        "# only a comment\nnull\n",
        "!tag\n# first member\na: 1\nb: [] # empty\n",
        "- - 1 # deep\n  - 2\n- x\n",
        "s: \"one \"\n  \"two \"\n  \"three\"\n",
        "a:\n  # about b\n  b:\n    # about c\n    c: 1\n",
    ] {
        let (doc, notes) = parse_annotated(text).unwrap();
        assert_eq!(
            encode_block_annotated(&doc, &notes),
            text,
            "{doc:?} {notes:?}"
        );
    }
}

#[test]
fn bracketed_text_keeps_its_comments_too() {
    let text = "{a: 1, # one\n b: [2, # two\n 3]}";
    let (doc, notes) = parse_annotated(text).unwrap();
    assert_eq!(doc, parse(text).unwrap());
    assert_eq!(notes.line.get(&p("a")).map(String::as_str), Some(" one"));
    assert_eq!(notes.line.get(&p("b[0]")).map(String::as_str), Some(" two"));
}

#[test]
fn plain_parsing_and_empty_annotations_change_nothing() {
    let (doc, notes) = parse_annotated("a: 1\nb: [1, 2]\n").unwrap();
    assert!(notes.is_empty());
    assert_eq!(
        encode_block_annotated(&doc, &notes),
        tonystore::tony::encode_block(&doc)
    );
}

/// Random annotations on the paths of `node`: head and line comments, and folded strings.
fn annotations(node: &Node, seed: Vec<(usize, u8, String)>) -> Annotations {
    let paths = extract_all(node);
    let mut notes = Annotations::default();
    for (pick, kind, text) in seed {
        let (path, value) = &paths[pick % paths.len()];
        match kind % 4 {
            0 => notes.head.entry(path.clone()).or_default().push(text),
            1 => {
                notes.line.insert(path.clone(), text);
            }
            2 => notes.trailing.push(text),
            _ => {
                if let Value::String(s) = &value.value {
                    let cut = s
                        .char_indices()
                        .nth(s.chars().count() / 2)
                        .map_or(0, |(i, _)| i);
                    let pieces = vec![s[..cut].to_owned(), s[cut..].to_owned()];
                    notes.folded.insert(path.clone(), pieces);
                }
            }
        }
    }
    notes
}

fn has_merge_key(node: &Node) -> bool {
    extract_all(node)
        .iter()
        .any(|(path, _)| path.to_string().contains("<<"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(256, 10_000)))]

    /// Writing annotations and parsing them back gives the same value, and writing again gives
    /// the same text; every head and trailing comment and every folded piece is in the text.
    #[test]
    fn annotations_survive_a_round_trip(
        node in common::any_node(),
        seed in prop::collection::vec((any::<usize>(), any::<u8>(), "[ a-z#:!-]{0,12}"), 0..8),
    ) {
        prop_assume!(!has_merge_key(&node));
        let notes = annotations(&node, seed);
        let text = encode_block_annotated(&node, &notes);
        let (back, back_notes) = parse_annotated(&text).map_err(|e| {
            TestCaseError::fail(format!("{e} in\n{text}"))
        })?;
        prop_assert_eq!(&back, &node, "{}", text);
        prop_assert_eq!(encode_block_annotated(&back, &back_notes), text.clone());
        let lines: Vec<&str> = text.lines().map(str::trim_start).collect();
        for comment in notes.head.values().flatten().chain(&notes.trailing) {
            let line = format!("#{comment}");
            prop_assert!(lines.contains(&line.as_str()), "{:?} missing from\n{}", comment, text);
        }
        prop_assert_eq!(&back_notes.folded, &notes.folded);
    }
}
