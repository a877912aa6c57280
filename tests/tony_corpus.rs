//! The Tony corpus (`tests/tony_corpus/*.tony`): files of our own covering every construct of
//! the original implementation's `.tony` files (codegen schemas with contexts and signatures,
//! session scripts, tags with colons and arguments, comments everywhere, several documents a
//! file). Each file parses, formats, re-parses to the same values, and formatting is a
//! fixpoint in both forms.
//!
//! `original_files_parse` also reads a copy of the original's files when
//! `TONYSTORE_ORIGINAL_TONY` names a directory (searched recursively; not part of this
//! repository), lists which parse, and fails on any that is not a documented difference
//! (docs/FORMAT.md, "Tony text: differences from the original").

use std::path::{Path, PathBuf};

use tonystore::tony::{
    encode_block_annotated, encode_wire, parse, parse_documents, parse_documents_annotated, Key,
    Node, ParseOptions,
};

fn corpus() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tony_corpus");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tony"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    assert!(files.len() >= 7, "corpus missing: {files:?}");
    files
}

/// How `tonystore tony fmt` parses: repeated keys are kept, as in the original.
fn fmt_options() -> ParseOptions {
    ParseOptions::keeping_duplicate_keys()
}

/// The documents as `tonystore tony fmt` reads them.
fn fmt_parse(text: &str) -> Result<Vec<Node>, String> {
    Ok(parse_documents_annotated(text, fmt_options())
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(doc, _)| doc)
        .collect())
}

/// `tonystore tony fmt`: block form, documents separated by `---`.
fn fmt_block(text: &str) -> Result<String, String> {
    let docs = parse_documents_annotated(text, fmt_options()).map_err(|e| e.to_string())?;
    Ok(docs
        .iter()
        .map(|(doc, notes)| {
            encode_block_annotated(doc, notes)
                .trim_end_matches('\n')
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n---\n"))
}

/// `tonystore tony fmt --wire`: one document a line.
fn fmt_wire(docs: &[Node]) -> String {
    docs.iter().map(encode_wire).collect::<Vec<_>>().join("\n")
}

/// Parses, formats and re-parses `text` as `tonystore tony fmt` does; returns its documents.
fn round_trip(name: &str, text: &str) -> Result<Vec<Node>, String> {
    let docs = fmt_parse(text)?;
    // The default parse reads the same, or refuses a repeated key.
    match parse_documents(text) {
        Ok(strict) => assert_eq!(strict, docs, "{name}: the default parse differs"),
        Err(e) => assert!(e.to_string().contains("duplicate key"), "{name}: {e}"),
    }
    if docs.len() == 1 {
        if let Ok(one) = parse(text) {
            assert_eq!(Some(&one), docs.first(), "{name}: parse differs");
        }
    }
    // Block form: reads back to the same values; formatting it again changes nothing.
    let block = fmt_block(text)?;
    let reread = fmt_parse(&block).map_err(|e| format!("block form: {e}\n{block}"))?;
    assert_eq!(
        reread, docs,
        "{name}: block form reads back differently:\n{block}"
    );
    assert_eq!(
        fmt_block(&block)?,
        block,
        "{name}: block formatting is not a fixpoint"
    );
    // Wire form: one document a line, stable.
    let wire = fmt_wire(&docs);
    let reread = fmt_parse(&wire).map_err(|e| format!("wire form: {e}\n{wire}"))?;
    assert_eq!(
        reread, docs,
        "{name}: wire form reads back differently:\n{wire}"
    );
    assert_eq!(fmt_wire(&reread), wire, "{name}: wire form is not stable");
    assert_eq!(
        wire.lines().count(),
        docs.len().max(1),
        "{name}: one document a line"
    );
    Ok(docs)
}

#[test]
fn corpus_round_trips() {
    for (name, text) in corpus() {
        let docs = round_trip(&name, &text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!docs.is_empty(), "{name}");
    }
}

fn field<'a>(node: &'a Node, path: &[&str]) -> &'a Node {
    path.iter().fold(node, |n, k| {
        n.get_field(&Key::from(*k))
            .unwrap_or_else(|| panic!("no {k} in {}", encode_wire(n)))
    })
}

fn file(name: &str) -> String {
    corpus()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
}

#[test]
fn corpus_reads_as_the_original_does() {
    // Codegen schemas: three documents, tags with a colon.
    let docs = parse_documents(&file("codegen_schema.tony")).unwrap();
    assert_eq!(docs.len(), 3);
    let created = field(&docs[0], &["define", "created"]);
    assert_eq!(created.tag(), Some("!time:time"));
    assert!(created.is_null());
    assert_eq!(
        encode_wire(field(&docs[1], &["context"])),
        "[tony-format/context {base: example.com/schema/base} {format: example.com/format}]"
    );
    // A session script: six bracketed documents with comments between them.
    let docs = parse_documents(&file("session.tony")).unwrap();
    assert_eq!(docs.len(), 6);
    assert_eq!(field(&docs[1], &["patch", "data"]).tag(), Some("!key(id)"));
    assert_eq!(docs[5].tag(), Some("!tagged"));
    assert!(
        parse(&file("session.tony")).is_err(),
        "parse reads one document"
    );
    // Tags: arguments, chains, colons, in brackets.
    let tags = parse(&file("tags.tony")).unwrap();
    assert_eq!(
        field(&tags, &["chain"]).tag(),
        Some("!retag(tag1.tag2(a,b),x).strdiff(false)")
    );
    assert_eq!(
        field(&tags, &["in-brackets", "c"]).tag(),
        Some("!time:time")
    );
    assert_eq!(field(&tags, &["in-brackets", "a"]).tag(), Some("!delete"));
    // Literals: ASCII symbols stay inside a literal.
    let lits = parse(&file("literals.tony")).unwrap();
    for (key, want) in [
        ("e", "nulll^"),
        ("caret", "^start"),
        ("backtick", "a`b"),
        ("angles", "a<b>c"),
        ("pipe", "x|y"),
        ("dyn", "override-$[override.workload]"),
    ] {
        assert_eq!(field(&lits, &[key]).as_str(), Some(want), "{key}");
    }
    // A bracketed value at column 1 on the line after its key.
    let layout = parse(&file("layout.tony")).unwrap();
    assert_eq!(
        encode_wire(field(&layout, &["Patch"])),
        "{name: alice tags: [a b]}"
    );
    // Several documents: a leading separator, an empty document (null).
    let docs = parse_documents(&file("multi_doc.tony")).unwrap();
    assert_eq!(docs.len(), 4);
    assert!(docs[1].is_null());
}

#[test]
fn a_stream_of_scalar_documents_one_a_line() {
    // What `tony fmt --wire` writes for several scalar documents reads back as they were.
    let docs = parse_documents("\"a b\"\n\"c d\"\nplain\n12\n{k: v}\n").unwrap();
    assert_eq!(fmt_wire(&docs), "\"a b\"\n\"c d\"\nplain\n12\n{k: v}");
    // In a stream a quoted string at column 1 starts a document; `parse` (one document)
    // still folds it into the string before, and inside brackets nothing changes.
    assert_eq!(parse("\"a \"\n\"b\"\n").unwrap().as_str(), Some("a b"));
    assert_eq!(parse_documents("\"a \"\n  \"b\"\n").unwrap().len(), 1);
    assert_eq!(
        encode_wire(&parse_documents("[\n\"a \"\n\"b\"\n]\n").unwrap()[0]),
        "[\"a b\"]"
    );
}

#[test]
fn comments_survive_block_formatting() {
    for name in ["comments.tony", "session.tony", "codegen_schema.tony"] {
        let text = file(name);
        let block = fmt_block(&text).unwrap();
        for line in text.lines() {
            if let Some(i) = line.find('#') {
                let comment = &line[i..];
                // Only whole comments (a `#` inside a string is not one).
                if line[..i].matches('"').count() % 2 == 0 {
                    assert!(
                        block.contains(comment),
                        "{name}: lost {comment:?}:\n{block}"
                    );
                }
            }
        }
    }
}

#[test]
fn repeated_keys_are_kept_for_formatting_and_refused_otherwise() {
    let text = file("repeated_keys.tony");
    let err = parse_documents(&text).unwrap_err();
    assert!(
        err.to_string().contains("duplicate key \"string\""),
        "{err}"
    );
    let docs = fmt_parse(&text).unwrap();
    let define = field(&docs[0], &["define"]);
    let keys: Vec<String> = define
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, _)| k.to_text())
        .collect();
    assert_eq!(keys, ["string", "int", "string", "int"]);
    // A lookup finds the first, as in the original.
    assert_eq!(field(define, &["string"]).tag(), Some("!irtype"));
}

#[test]
fn what_the_parser_still_refuses() {
    // A tab in indentation: the original would read the line at column 0.
    let err = parse_documents("a:\n  b: 1\n\tc: 2\n").unwrap_err();
    assert!(err.to_string().contains("tab in indentation"), "{err}");
    // Duplicate keys.
    assert!(parse("a: 1\na: 2\n").is_err());
    // A block document is not a stream element.
    assert!(parse_documents("a: 1\n{b: 2}\n").is_err());
    // A bracketed document followed by one on the same line.
    assert!(parse_documents("{a: 1} {b: 2}\n").is_err());
    // A stream never loops on a document that reads nothing (fuzz-found: `:` at column 1
    // after a scalar document read as null forever).
    assert!(parse_documents(":a-\r-").is_err());
    assert!(parse_documents("[1]\n:\n").is_err());
    // `?` and `;` end a literal, as in the original.
    assert!(parse("a: b?c\n").is_err());
}

fn tony_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            tony_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "tony") {
            out.push(path);
        }
    }
}

#[test]
fn original_files_parse() {
    let Some(dir) = std::env::var_os("TONYSTORE_ORIGINAL_TONY") else {
        eprintln!("TONYSTORE_ORIGINAL_TONY not set: skipping the original's files");
        return;
    };
    let mut files = Vec::new();
    tony_files(Path::new(&dir), &mut files);
    files.sort();
    let mut unexpected = Vec::new();
    let mut parsed = 0;
    for path in &files {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                unexpected.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let name = path.display().to_string();
        match round_trip(&name, &text) {
            Ok(docs) => {
                parsed += 1;
                println!("ok    {name} ({} documents)", docs.len());
            }
            Err(e) => {
                println!("FAIL  {name}: {e}");
                // The documented differences (docs/FORMAT.md).
                if !e.contains("tab in indentation") {
                    unexpected.push(format!("{name}: {e}"));
                }
            }
        }
    }
    println!("{parsed} of {} files parse", files.len());
    assert!(unexpected.is_empty(), "{unexpected:#?}");
}
