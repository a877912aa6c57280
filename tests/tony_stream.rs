//! Token streaming: the sink's offsets and paths, the event reader, incremental parsing.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use proptest::prelude::*;
use tonystore::kpath::{extract_all, get, KPath};
use tonystore::tony::{
    build_node, encode_wire, parse, parse_from_token_source, Event, EventReader, Lexer, Node,
    NodeEvents, TokenSink,
};

/// Writes `node` through a sink, returning the text and every (offset, path) reported.
fn sink(node: &Node) -> (String, Vec<(u64, KPath)>) {
    let mut starts = Vec::new();
    let mut out = Vec::new();
    {
        let mut sink = TokenSink::with_callback(&mut out, |offset, path: &KPath, _: &Event| {
            starts.push((offset, path.clone()))
        });
        for event in NodeEvents::new(node.clone()) {
            sink.write(&event).unwrap();
        }
    }
    (String::from_utf8(out).unwrap(), starts)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(500, 10_000)))]

    #[test]
    fn sink_output_is_the_wire_form_and_offsets_start_their_nodes(node in common::any_node()) {
        let (text, starts) = sink(&node);
        prop_assert_eq!(&text, &encode_wire(&node));
        let paths: Vec<KPath> = extract_all(&node).into_iter().map(|(p, _)| p).collect();
        let reported: Vec<KPath> = starts.iter().map(|(_, p)| p.clone()).collect();
        prop_assert_eq!(&reported, &paths, "one report per node, in document order");
        for (offset, path) in &starts {
            // Parsing from the reported offset yields exactly the node at the reported path.
            let mut reader = EventReader::fragment(&text.as_bytes()[*offset as usize..]);
            let first = reader.next_event().unwrap().unwrap();
            let built = build_node(first, &mut reader).unwrap();
            prop_assert_eq!(Some(&built), get(&node, path).unwrap(), "{} at {}", path, offset);
        }
    }

    #[test]
    fn events_rebuild_the_document_and_track_paths(node in common::any_node()) {
        let text = encode_wire(&node);
        let mut reader = EventReader::new(text.as_bytes());
        let first = reader.next_event().unwrap().unwrap();
        prop_assert_eq!(build_node(first, &mut reader).unwrap(), node.clone());
        let mut reader = EventReader::new(text.as_bytes());
        let mut seen = Vec::new();
        while let Some(e) = reader.next_event().unwrap() {
            if e.starts_node() {
                seen.push(reader.path());
            }
        }
        let expected: Vec<KPath> = extract_all(&node).into_iter().map(|(p, _)| p).collect();
        prop_assert_eq!(seen, expected);
    }
}

#[test]
fn incremental_parse_keeps_a_bounded_token_buffer() {
    // About 8 MB of wire text, fed through a reader in small pieces.
    let item = "{id: 12345 name: \"a fairly ordinary item\" tags: [x y z] score: 1.5} ";
    let count = (8 << 20) / item.len();
    let text = format!("[{}]", item.repeat(count));
    let mut lexer = Lexer::new(std::io::BufReader::with_capacity(4096, text.as_bytes()));
    let node = parse_from_token_source(&mut lexer).unwrap();
    assert_eq!(node.as_array().unwrap().len(), count);
    assert!(
        lexer.buffered_capacity() <= 256 * 1024,
        "token buffer grew to {}",
        lexer.buffered_capacity()
    );
    assert_eq!(node, parse(&text).unwrap());
}

#[test]
fn block_input_is_refused_by_the_event_reader() {
    let mut reader = EventReader::new("a: 1".as_bytes());
    assert!(reader.next_event().is_err());
}

/// A reader resumed inside a document walks past the end of the containers it started in:
/// their closing brackets end them, they are not syntax errors (which seeks once took for
/// "absent").
#[test]
fn a_resumed_reader_closes_the_containers_it_started_in() {
    let text = r#"{patch: {map: {a: "1", x: "2", y: "3"}}}"#;
    let at = text.find("\"2\"").unwrap();
    let path = tonystore::kpath::KPath::parse("patch.map.x").unwrap();
    let mut reader = tonystore::tony::EventReader::resume(&text.as_bytes()[at..], &path);
    let mut events = Vec::new();
    while let Some(event) = reader.next_event().unwrap() {
        events.push(format!("{event:?}"));
    }
    assert_eq!(events.len(), 6, "{events:?}");
    assert!(events[3..].iter().all(|e| e == "EndObject"), "{events:?}");
}

/// The event reader (streaming reads) and the parser (everything else) read bracketed text
/// alike: the same inputs are accepted, with the same values, and the same ones refused.
#[test]
fn the_event_reader_and_the_parser_agree_on_separators() {
    let events = |text: &str| -> Result<Node, String> {
        let mut reader = EventReader::new(text.as_bytes());
        let first = reader
            .next_event()
            .map_err(|e| e.to_string())?
            .ok_or("empty")?;
        let node = tonystore::tony::build_node(first, &mut reader).map_err(|e| e.to_string())?;
        match reader.next_event() {
            Ok(None) => Ok(node),
            other => Err(format!("trailing: {other:?}")),
        }
    };
    for text in [
        "[1,,2]",
        "[,1]",
        "[1,]",
        "[1, 2]",
        "[1 2]",
        "{a: 1,}",
        "{,a: 1}",
        "{a:: 1}",
        "{a: 1,, b: 2}",
        "{a: 1, b: 2}",
        "{a 1}",
        "[[1],[2]]",
        "[[1] , [2]]",
        "{a: [1,], b: {c: 2,},}",
        "[,]",
        "{,}",
        "[1,2,,]",
        "{a:,1}",
        "{a: 1 b: 2}",
        "[1:2]",
        "{a: 1}:",
        "[1],",
    ] {
        let parsed = tonystore::tony::parse(text);
        let streamed = events(text);
        assert_eq!(
            parsed.is_ok(),
            streamed.is_ok(),
            "{text}: parse {parsed:?}, events {streamed:?}"
        );
        if let (Ok(a), Ok(b)) = (&parsed, &streamed) {
            assert_eq!(a, b, "{text}");
        }
    }
}
