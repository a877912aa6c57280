//! Writes the seed corpora of the fuzz targets into `fuzz/corpus/<target>/`:
//! texts and paths of `tests/conformance/*.jsonl`, and the files of a tiny real store.
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example make_corpus
//!
//! Existing seeds of the same name are overwritten; nothing else is removed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tonystore::tony::{parse, Key, Node};
use tonystore_fuzz::{
    base_shipment, base_store, flags, index_flags, index_records, shipment_flags, StoreInput,
    BASE_FLAGS, INDEX_FILE_HEADER, INDEX_RECORDS_START, INDEX_RECORD_HEADER,
};

/// Seeds per text target: enough variety for the fuzzer to start from, few enough to replay fast.
const PER_TARGET: usize = 48;
/// Longest text seed.
const MAX_SEED: usize = 600;

fn main() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let conformance = fuzz.join("../tests/conformance");
    let cases = |file: &str| -> Vec<Node> {
        let text = std::fs::read_to_string(conformance.join(file)).expect(file);
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| parse(l).unwrap_or_else(|e| panic!("{file}: {e}")))
            .collect()
    };
    let text = |case: &Node, name: &str| -> Option<String> {
        case.get_field(&Key::str(name))
            .and_then(Node::as_str)
            .map(str::to_owned)
    };
    let uses_pipe = |case: &Node| {
        case.get_field(&Key::str("tags"))
            .and_then(Node::as_array)
            .is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some("pipe")))
    };

    let patch = cases("patch.jsonl");
    let diffs = cases("diff.jsonl");
    let matches = cases("match.jsonl");
    let kpaths = cases("kpath.jsonl");

    // tony_parse: every Tony text of the patch, diff and match cases, plus hand-written ones
    // for what the cases lack (comments, block strings, documents, JSON).
    let mut texts = Vec::new();
    for c in &patch {
        texts.extend(["doc", "patch", "result"].iter().filter_map(|f| text(c, f)));
    }
    for c in &diffs {
        texts.extend(["from", "to", "diff"].iter().filter_map(|f| text(c, f)));
    }
    for c in &matches {
        texts.extend(["doc", "match"].iter().filter_map(|f| text(c, f)));
    }
    let mut tony = vec![
        "# a comment\na: 1 # trailing\nb:\n  - x\n  - !t y\n".to_owned(),
        "text: |\n  line one\n  line two\nkeep: |+\n  kept\n\nstrip: |-\n  s\n".to_owned(),
        "a: 1\n---\nb: 2\n".to_owned(),
        "{\"json\": [1, 2.5e3, -0.0, true, null, \"\\u00e9\\n\"], \"o\": {}}".to_owned(),
        "!key(id) [{id: 1}, {id: 2, <<: {x: 1}}]".to_owned(),
        "{0: a, 7: b, 4294967295: c}".to_owned(),
        "'single ''quoted''' : \"double \\\"quoted\\\"\"".to_owned(),
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]".to_owned(),
    ];
    tony.extend(pick(texts, PER_TARGET - tony.len()));
    write_seeds(
        &fuzz,
        "tony_parse",
        tony.iter().map(|s| s.as_bytes().to_vec()),
    );

    // kpath_parse: every path of the kpath cases (valid and invalid), a few with a document.
    let mut paths = Vec::new();
    for c in &kpaths {
        if let Some(s) = text(c, "input") {
            paths.push(s);
        }
        if let Some(input) = c.get_field(&Key::str("input")).and_then(Node::as_object) {
            paths.extend(
                input
                    .iter()
                    .filter_map(|(_, v)| v.as_str().map(str::to_owned)),
            );
        }
    }
    let mut kpath = vec![
        "a.b[0]\0{a: {b: [1, 2]}}".to_owned(),
        "users(ann).age\0{users: !key(name) [{name: ann, age: 3}]}".to_owned(),
        "s{4}.x\0{s: {4: {x: 1}}}".to_owned(),
        "a[*].b\0{a: [{b: 1}, {b: 2}]}".to_owned(),
        "'a b'.\"c.d\"\0{'a b': {'c.d': null}}".to_owned(),
    ];
    kpath.extend(pick(paths, PER_TARGET - kpath.len()));
    write_seeds(
        &fuzz,
        "kpath_parse",
        kpath.iter().map(|s| s.as_bytes().to_vec()),
    );

    // patch_apply: document NUL patch, from NUL to, document NUL pattern.
    let mut pairs = Vec::new();
    for c in patch.iter().filter(|c| !uses_pipe(c)) {
        if let (Some(d), Some(p)) = (text(c, "doc"), text(c, "patch")) {
            pairs.push(format!("{d}\0{p}"));
        }
    }
    for c in &diffs {
        if let (Some(f), Some(t)) = (text(c, "from"), text(c, "to")) {
            pairs.push(format!("{f}\0{t}"));
        }
        if let (Some(f), Some(d)) = (text(c, "from"), text(c, "diff")) {
            pairs.push(format!("{f}\0{d}"));
        }
    }
    for c in &matches {
        if let (Some(d), Some(m)) = (text(c, "doc"), text(c, "match")) {
            pairs.push(format!("{d}\0{m}"));
        }
    }
    write_seeds(
        &fuzz,
        "patch_apply",
        pick(pairs, PER_TARGET)
            .iter()
            .map(|s| s.as_bytes().to_vec()),
    );

    // store_open: the files of a tiny real store, whole and damaged.
    let base = base_store();
    let [l0, cl, ix] = [&base[0][..], &base[1][..], &base[2][..]];
    let records = index_records(ix);
    assert!(
        records.len() >= 3,
        "the base index.log has {} records",
        records.len()
    );
    // The index log up to the end of its `n`th record (its file header alone for 0).
    let upto = |n: usize| ix[..records[..n].last().map_or(INDEX_RECORDS_START, |r| r.1)].to_vec();
    let fixed = flags::FIX_LEVEL0 | flags::FIX_COMPACT | flags::FIX_INDEX;
    let cut = |b: &[u8], n: usize| b[..b.len().saturating_sub(n)].to_vec();
    let flip = |b: &[u8], at: usize| {
        let mut b = b.to_vec();
        if let Some(x) = b.get_mut(at) {
            *x ^= 0x20;
        }
        b
    };
    let flipped = flip(l0, l0.len() / 2);
    // A byte inside the second record's payload (its entries), for FIX_INDEX to make valid.
    let in_second = flip(ix, records[1].0 + INDEX_RECORD_HEADER + 40);
    let store = vec![
        StoreInput::to_bytes(BASE_FLAGS, [l0, cl, ix]),
        StoreInput::to_bytes(BASE_FLAGS | fixed | flags::VERIFY, [l0, cl, ix]),
        StoreInput::to_bytes(BASE_FLAGS | flags::VERIFY, [l0, cl, &[]]),
        StoreInput::to_bytes(BASE_FLAGS, [l0, &[], &[]]),
        StoreInput::to_bytes(BASE_FLAGS, [&cut(l0, 7), cl, ix]),
        StoreInput::to_bytes(BASE_FLAGS, [l0, &cut(cl, 3), ix]),
        StoreInput::to_bytes(BASE_FLAGS | flags::VERIFY, [&flipped, cl, ix]),
        StoreInput::to_bytes(BASE_FLAGS | flags::FIX_LEVEL0, [&flipped, cl, &[]]),
        StoreInput::to_bytes(flags::SMALL_ENTRIES | flags::ON_FLUSH, [l0, cl, ix]),
        StoreInput::to_bytes(0, [&[], &[], &[]]),
        // A torn last record, a valid prefix of records, a corrupt record in the middle.
        StoreInput::to_bytes(BASE_FLAGS, [l0, cl, &cut(ix, 5)]),
        StoreInput::to_bytes(BASE_FLAGS | flags::VERIFY, [l0, cl, &upto(2)]),
        StoreInput::to_bytes(BASE_FLAGS, [l0, cl, &in_second]),
        StoreInput::to_bytes(BASE_FLAGS | flags::FIX_INDEX, [l0, cl, &in_second]),
        // An index reaching further than a cut log (a typed error).
        StoreInput::to_bytes(BASE_FLAGS, [&cut(l0, 60), cl, ix]),
    ];
    write_seeds(&fuzz, "store_open", store);

    // The base index log holds seals (runs of 2 commits): a table record (kind 2) before each
    // seal record (kind 1).
    let kind = |r: &(usize, usize)| ix[r.0 + INDEX_RECORD_HEADER];
    let seal = *records.iter().find(|r| kind(r) == 1).expect("a seal record");
    let table = *records.iter().find(|r| kind(r) == 2).expect("a table record");
    let mut no_superblock = ix.to_vec();
    no_superblock[INDEX_FILE_HEADER..INDEX_RECORDS_START].fill(0);
    // The run's `hi` (after the kind byte and `lo`).
    let seal_changed = flip(ix, seal.0 + INDEX_RECORD_HEADER + 1 + 15);
    let table_damaged = flip(ix, table.0 + INDEX_RECORD_HEADER + 1 + 10);

    // index_log: the real index log, whole, cut, damaged, and as a prefix plus appended records.
    let input = |f: u8, bytes: &[u8]| [&[f][..], bytes].concat();
    let rest = |from: usize| ix[records[from].0..].to_vec();
    let last = records[records.len() - 1];
    let index = vec![
        input(0, ix),
        input(index_flags::FIX | index_flags::VERIFY, ix),
        input(index_flags::FIX, &cut(ix, 9)),
        input(0, &upto(0)),
        input(0, &upto(1)),
        input(index_flags::VERIFY, &upto(2)),
        input(0, &in_second),
        input(index_flags::FIX, &in_second),
        input(0, &ix[..ix.len().min(INDEX_FILE_HEADER - 1)]),
        // After the whole valid log: nothing, the last record again, a torn record.
        input(index_flags::APPEND, &[]),
        input(
            index_flags::APPEND | index_flags::VERIFY,
            &ix[last.0..last.1],
        ),
        input(index_flags::APPEND, &ix[last.0..last.1 - 3]),
        // After the first record: the others (the whole valid log again), a damaged second one.
        input(
            index_flags::APPEND | index_flags::FIRST_RECORD | index_flags::VERIFY,
            &rest(1),
        ),
        input(
            index_flags::APPEND | index_flags::FIRST_RECORD | index_flags::FIX,
            &in_second[records[1].0..],
        ),
        // Sealed runs: superblock slots lost (every record replayed), a seal record's fields
        // changed with its checksums fixed, a table block damaged (its own checksum fails).
        input(index_flags::VERIFY, &no_superblock),
        input(index_flags::FIX, &seal_changed),
        input(index_flags::FIX | index_flags::VERIFY, &table_damaged),
    ];
    write_seeds(&fuzz, "index_log", index);

    // shipment: the base store's whole history into stores holding 0-3 of its commits (an
    // overlap that is skipped), verified or not, damaged with checksums fixed, and cut short.
    let ship = base_shipment();
    let with = |flags: u8, bytes: &[u8]| [&[flags][..], bytes].concat();
    let mut damaged = ship.to_vec();
    if let Some(byte) = damaged.get_mut(60) {
        *byte ^= 0x20;
    }
    let shipments = vec![
        with(0, ship),
        with(shipment_flags::VERIFY, ship),
        with(2 | shipment_flags::VERIFY, ship),
        with(3, ship),
        with(shipment_flags::FIX, &damaged),
        with(1 | shipment_flags::FIX | shipment_flags::VERIFY, &damaged),
        with(0, &ship[..ship.len() / 2]),
        with(0, &ship[..28]),
    ];
    write_seeds(&fuzz, "shipment", shipments);
}

/// Up to `n` distinct texts of at most [`MAX_SEED`] bytes, spread over the whole list.
fn pick(texts: Vec<String>, n: usize) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let unique: Vec<String> = texts
        .into_iter()
        .filter(|t| t.len() <= MAX_SEED && seen.insert(t.clone()))
        .collect();
    if unique.len() <= n {
        return unique;
    }
    (0..n)
        .map(|i| unique[i * unique.len() / n].clone())
        .collect()
}

fn write_seeds(fuzz: &Path, target: &str, seeds: impl IntoIterator<Item = Vec<u8>>) {
    let dir = fuzz.join("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let mut count = 0;
    for (i, bytes) in seeds.into_iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), bytes).unwrap();
        count += 1;
    }
    println!("{target}: {count} seeds");
}
