//! Streaming reads of a large entry: bounded memory, and a small path reads only a few KiB of
//! the log (counted through a wrapping `StoreDir`).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;

use tonystore::engine::{Options, Store, TransactionBuffer};
use tonystore::kpath::{get, KPath};
use tonystore::patch::patch;
use tonystore::storage::{FsDir, MemDir};
use tonystore::tony::{encode_wire, Key, Node};

#[global_allocator]
static ALLOCATOR: common::Counting = common::Counting;

/// Counts and checksums what it is given, holding nothing.
#[derive(Default)]
struct Sink {
    bytes: u64,
    hash: u64,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hash_of(text: &str) -> (u64, u64) {
    let mut sink = Sink::default();
    sink.write_all(text.as_bytes()).unwrap();
    (sink.bytes, sink.hash)
}

fn items(n: usize, label: &str) -> Node {
    Node::array(
        (0..n)
            .map(|i| {
                Node::object(vec![
                    (Key::str("id"), Node::int(i as i64)),
                    (
                        Key::str("name"),
                        Node::string(&format!("{label} item number {i}")),
                    ),
                    (
                        Key::str("tags"),
                        Node::array(vec![Node::string("alpha"), Node::string("beta")]),
                    ),
                ])
            })
            .collect(),
    )
}

#[test]
fn a_large_entry_streams_with_bounded_memory_and_small_reads() {
    let megabytes = if std::env::var_os("TONYSTORE_HEAVY").is_some() {
        200
    } else {
        24
    };
    let per_half = megabytes * (1 << 20) / 2 / 60; // about 60 bytes per item
    let doc = Node::object(vec![
        (
            Key::str("a"),
            Node::object(vec![(Key::str("items"), items(per_half, "a"))]),
        ),
        (
            Key::str("b"),
            Node::object(vec![(Key::str("items"), items(per_half, "b"))]),
        ),
    ]);
    let expected_b = hash_of(&encode_wire(
        get(&doc, &KPath::parse("b").unwrap()).unwrap().unwrap(),
    ));
    let (dir, read) = common::CountingDir::logs_only();
    {
        let mut store = Store::open(&dir, Options::default()).unwrap();
        store
            .commit(vec![(KPath::root(), doc.clone().with_tag("!insert"))])
            .unwrap();
        store
            .commit(vec![(KPath::parse("note").unwrap(), Node::string("small"))])
            .unwrap();
        assert!(
            store.stats().level0_bytes >= (megabytes as u64 - 1) << 20,
            "the entry is {} bytes",
            store.stats().level0_bytes
        );
        store.close().unwrap();
    }

    let mut store = Store::open(&dir, Options::default()).unwrap();
    // A plain read of a small path: built from the bytes around it, not the whole entry.
    read.store(0, Ordering::Relaxed);
    let (found, peak) = common::peak_during(|| {
        store
            .read_at(&KPath::parse("a.items[5].id").unwrap(), 2)
            .unwrap()
    });
    assert_eq!(found, Some(Node::int(5)));
    let small = read.load(Ordering::Relaxed);
    assert!(
        small < 16 * 1024,
        "a small read_at touched {small} bytes of the log"
    );
    assert!(
        peak < 1 << 20,
        "a small read_at peaked at {peak} bytes of heap"
    );
    // Also near the end of the 100k-1M element array: a seek reference is close by.
    read.store(0, Ordering::Relaxed);
    let last = per_half - 3;
    let found = store
        .read_at(&KPath::parse(&format!("b.items[{last}].id")).unwrap(), 2)
        .unwrap();
    assert_eq!(found, Some(Node::int(last as i64)));
    let far = read.load(Ordering::Relaxed);
    assert!(
        far < 24 * 1024,
        "a read at the end of the array touched {far} bytes"
    );
    assert_eq!(store.stats().read_from_offsets, 2);
    // A small path deep inside, streamed: only the bytes around it are read.
    read.store(0, Ordering::Relaxed);
    let mut out = Vec::new();
    let path = KPath::parse("b.items[3].name").unwrap();
    assert!(store.read_stream(&path, 2, &mut out).unwrap());
    assert_eq!(String::from_utf8(out).unwrap(), "\"b item number 3\"");
    // (Reads are verified in whole 4 KiB chunks, so a stream's reads round up to them.)
    let small = read.load(Ordering::Relaxed);
    assert!(
        small < 20 * 1024,
        "a small read touched {small} bytes of the log"
    );

    // Half the document as a stream: bounded memory, the same bytes as the plain encoding.
    let (sink, peak) = common::peak_during(|| {
        let mut sink = Sink::default();
        assert!(store
            .read_stream(&KPath::parse("b").unwrap(), 2, &mut sink)
            .unwrap());
        sink
    });
    assert_eq!((sink.bytes, sink.hash), expected_b);
    assert!(
        peak < 32 << 20,
        "streaming {} bytes peaked at {peak} bytes of heap",
        sink.bytes
    );
    assert_eq!(store.stats().streamed_from_log, 2);
    eprintln!(
        "streamed {} MB with a peak heap of {} KiB; small read touched {small} bytes",
        sink.bytes >> 20,
        peak >> 10
    );

    // Later commits touch parts of `b`: streaming applies them to those parts only.
    let edits = [
        ("b.items[3].name", Node::string("renamed")),
        // Removing an array element names the element it expects.
        (
            "b.items[7]",
            get(&doc, &KPath::parse("b.items[7]").unwrap())
                .unwrap()
                .unwrap()
                .clone()
                .with_tag("!delete"),
        ),
        ("b.extra", Node::object(vec![(Key::str("x"), Node::int(1))])),
        ("b.items[0].tags", Node::array(vec![Node::string("gamma")])),
    ];
    let mut state = doc;
    for (path, edit) in edits {
        let path = KPath::parse(path).unwrap();
        let root = TransactionBuffer::from_patch(path.clone(), edit.clone()).unwrap();
        state = patch(&state, &root).unwrap();
        store.commit(vec![(path, edit)]).unwrap();
    }
    let head = store.head();
    // Reopened (nothing cached), reading inside the edited array maps the element back through
    // the edits and reads it from the bytes around it: neither the array nor the entry is built.
    store.close().unwrap();
    drop(store);
    let mut store = Store::open(&dir, Options::default()).unwrap();
    for (path, want) in [
        ("b.items[3].name", "renamed"),
        ("b.items[7].name", "b item number 8"),
        ("b.items[6].name", "b item number 6"),
        ("a.items[7].name", "a item number 7"),
    ] {
        read.store(0, Ordering::Relaxed);
        let found = store.read_at(&KPath::parse(path).unwrap(), head).unwrap();
        assert_eq!(found, Some(Node::string(want)), "{path}");
        let touched = read.load(Ordering::Relaxed);
        assert!(
            touched < 64 * 1024,
            "reading {path} touched {touched} bytes"
        );
    }
    assert_eq!(store.stats().read_through_array_edits, 3);
    let expected_b = hash_of(&encode_wire(
        get(&state, &KPath::parse("b").unwrap()).unwrap().unwrap(),
    ));
    drop(state);
    let (sink, peak) = common::peak_during(|| {
        let mut sink = Sink::default();
        assert!(store
            .read_stream(&KPath::parse("b").unwrap(), head, &mut sink)
            .unwrap());
        sink
    });
    assert_eq!((sink.bytes, sink.hash), expected_b);
    assert_eq!(store.stats().streamed_patched, 1);
    assert!(
        peak < 32 << 20,
        "streaming {} patched bytes peaked at {peak} bytes of heap",
        sink.bytes
    );
    eprintln!(
        "streamed {} MB under 4 later patches with a peak heap of {} KiB",
        sink.bytes >> 20,
        peak >> 10
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(common::cases(256, 5_000)))]

    /// Streamed text copies untouched containers as raw bytes: for any value (hostile strings,
    /// tags with arguments, sparse arrays) it equals the wire form.
    #[test]
    fn raw_copies_equal_the_wire_form(value in common::any_node()) {
        let dir = MemDir::new();
        let options = Options { offset_index_min_bytes: 0, ..Options::default() };
        let mut store = Store::open(&dir, options).unwrap();
        let wrapped = Node::object(vec![(Key::str("v"), value.clone())]);
        store.commit(vec![(KPath::root(), wrapped.with_tag("!insert"))]).unwrap();
        for path in ["", "v"] {
            let mut out = Vec::new();
            proptest::prop_assert!(store.read_stream(&KPath::parse(path).unwrap(), 1, &mut out).unwrap());
            let expected = if path.is_empty() {
                encode_wire(&Node::object(vec![(Key::str("v"), value.clone())]))
            } else {
                encode_wire(&value)
            };
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
        proptest::prop_assert_eq!(store.stats().streamed_from_log, 2);
    }
}

#[test]
fn raw_copies_skip_brackets_inside_strings_and_tag_arguments() {
    let doc = tonystore::tony::parse(
        r#"{a: [!x(a]b) 1 !y({) [2] !t(x y) {k: "}"}] b: ['a"]b' "c'd]" "e\\\"[" "ü{"] c: {"{": 1}}"#,
    )
    .unwrap();
    let dir = MemDir::new();
    let options = Options {
        offset_index_min_bytes: 0,
        ..Options::default()
    };
    let mut store = Store::open(&dir, options).unwrap();
    store
        .commit(vec![(KPath::root(), doc.clone().with_tag("!insert"))])
        .unwrap();
    for path in ["", "a", "b", "c"] {
        let path = KPath::parse(path).unwrap();
        let mut out = Vec::new();
        assert!(store.read_stream(&path, 1, &mut out).unwrap());
        let expected = encode_wire(get(&doc, &path).unwrap().unwrap());
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
    assert_eq!(store.stats().streamed_from_log, 4);
}

#[test]
fn compacted_entries_are_read_through_their_offset_index() {
    let doc = Node::object(vec![(Key::str("items"), items(40_000, "c"))]);
    let (dir, read) = common::CountingDir::logs_only();
    let options = || Options {
        divisor: 2,
        ..Options::default()
    };
    {
        let mut store = Store::open(&dir, options()).unwrap();
        store
            .commit(vec![(KPath::root(), doc.clone().with_tag("!insert"))])
            .unwrap();
        store
            .commit(vec![(KPath::parse("note").unwrap(), Node::string("x"))])
            .unwrap();
        assert!(
            store.stats().compact_bytes > 1 << 20,
            "the level-1 entry holds the document"
        );
        store.close().unwrap();
    }
    let mut store = Store::open(&dir, options()).unwrap();
    // Commit 2 is read from the level-1 entry standing for (0, 2]: only the bytes around the
    // path, found through that entry's offset index.
    let mut most = 0;
    for i in [0, 1, 777, 20_000, 33_333, 39_999] {
        read.store(0, Ordering::Relaxed);
        let path = KPath::parse(&format!("items[{i}].name")).unwrap();
        assert_eq!(
            store.read_at(&path, 2).unwrap(),
            Some(Node::string(&format!("c item number {i}")))
        );
        most = most.max(read.load(Ordering::Relaxed));
    }
    // The entry's first chunk (the `!insert` above) and at most a seek step of the array.
    assert!(most <= 24 * 1024, "a read_at touched {most} bytes");
    assert_eq!(
        (store.stats().read_from_offsets, store.stats().entries_read),
        (6, 0)
    );
    read.store(0, Ordering::Relaxed);
    let path = KPath::parse("items[30000]").unwrap();
    let mut out = Vec::new();
    assert!(store.read_stream(&path, 2, &mut out).unwrap());
    let expected = encode_wire(get(&doc, &path).unwrap().unwrap());
    assert_eq!(String::from_utf8(out).unwrap(), expected);
    let touched = read.load(Ordering::Relaxed);
    assert!(touched <= 24 * 1024, "read_stream touched {touched} bytes");
    eprintln!("small reads of a 2 MB compacted entry touched at most {most} bytes");
}

/// A value of nested arrays and objects with long strings, so seek references (one per
/// `SEEK_BYTES` of an array) fall inside nested arrays, objects and at element boundaries.
fn wide_value() -> impl proptest::strategy::Strategy<Value = Node> {
    use proptest::prelude::*;
    let text = (200usize..3000, any::<u8>())
        .prop_map(|(n, c)| Node::string(&format!("{}", (b'a' + c % 26) as char).repeat(n)));
    let element = prop_oneof![
        text.clone(),
        prop::collection::vec(text.clone(), 0..6).prop_map(Node::array),
        (text.clone(), prop::collection::vec(text, 0..4)).prop_map(|(x, ys)| {
            Node::object(vec![(Key::str("x"), x), (Key::str("ys"), Node::array(ys))])
        }),
    ];
    prop::collection::vec(element, 1..40)
        .prop_map(|items| Node::object(vec![(Key::str("list"), Node::array(items))]))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(common::cases(48, 1_000)))]

    /// Reads through seek references (a fresh open, so nothing is cached) equal `get`.
    #[test]
    fn reads_that_seek_inside_arrays_find_their_node(
        doc in wide_value(),
        probes in proptest::collection::vec((0u64..45, 0u64..7, proptest::bool::ANY), 1..12),
    ) {
        let dir = MemDir::new();
        {
            let mut store = Store::open(&dir, Options::default()).unwrap();
            store.commit(vec![(KPath::root(), doc.clone().with_tag("!insert"))]).unwrap();
            store.close().unwrap();
        }
        let mut store = Store::open(&dir, Options::default()).unwrap();
        for (i, j, deep) in probes {
            let text = if deep { format!("list[{i}].ys[{j}]") } else { format!("list[{i}][{j}]") };
            for path in [format!("list[{i}]"), text] {
                let path = KPath::parse(&path).unwrap();
                let want = get(&doc, &path).map(|n| n.cloned());
                match (want, store.read_at(&path, 1)) {
                    (Ok(w), Ok(g)) => proptest::prop_assert_eq!(&g, &w, "{}", path),
                    (Err(_), Err(_)) => {}
                    (w, g) => proptest::prop_assert!(false, "{}: {:?} vs {:?}", path, w, g),
                }
                if let Ok(Some(w)) = get(&doc, &path) {
                    let mut out = Vec::new();
                    proptest::prop_assert!(store.read_stream(&path, 1, &mut out).unwrap());
                    proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), encode_wire(w));
                }
            }
        }
    }
}

#[test]
fn a_replacement_after_array_edits_makes_them_irrelevant_to_reads() {
    let (dir, read) = common::CountingDir::logs_only();
    {
        let mut store = Store::open(&dir, Options::default()).unwrap();
        let doc = Node::object(vec![(Key::str("a"), items(20_000, "a"))]);
        store
            .commit(vec![(KPath::root(), doc.with_tag("!insert"))])
            .unwrap();
        store
            .commit(vec![(
                KPath::parse("a[5].name").unwrap(),
                Node::string("x"),
            )])
            .unwrap();
        let small = Node::array(vec![Node::int(1), Node::int(2)]).with_tag("!insert");
        store
            .commit(vec![(KPath::parse("a").unwrap(), small)])
            .unwrap();
        store.close().unwrap();
    }
    let store = Store::open(&dir, Options::default()).unwrap();
    read.store(0, Ordering::Relaxed);
    // The array edit at commit 2 depends on the array, but commit 3 replaced the array: the
    // read starts from commit 3 and never looks at the 1 MB array.
    let found = store.read_at(&KPath::parse("a[0]").unwrap(), 3).unwrap();
    assert_eq!(found, Some(Node::int(1)));
    let touched = read.load(Ordering::Relaxed);
    assert!(touched < 4096, "the read touched {touched} bytes");
    assert_eq!(store.stats().entries_read, 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(common::cases(256, 5_000)))]

    /// Streaming an array under later element edits copies the untouched runs of elements as
    /// raw bytes: for any elements (hostile strings, tags, nesting) the text equals the plain
    /// read's wire form.
    #[test]
    fn raw_element_runs_equal_the_wire_form(
        items in proptest::collection::vec(common::any_node(), 1..12),
        edits in proptest::collection::vec((0usize..14, proptest::bool::ANY, common::any_node()), 1..4),
    ) {
        let dir = MemDir::new();
        let options = Options { offset_index_min_bytes: 0, ..Options::default() };
        let mut store = Store::open(&dir, options).unwrap();
        let doc = Node::object(vec![(Key::str("list"), Node::array(items))]);
        store.commit(vec![(KPath::root(), doc.with_tag("!insert"))]).unwrap();
        for (at, insert, value) in edits {
            let path = KPath::parse(&format!("list[{at}]")).unwrap();
            let edit = if insert { value.with_tag("!insert") } else { value };
            let _ = store.commit(vec![(path, edit)]);
        }
        let head = store.head();
        let path = KPath::parse("list").unwrap();
        let mut out = Vec::new();
        proptest::prop_assert!(store.read_stream(&path, head, &mut out).unwrap());
        let plain = encode_wire(&store.read_at(&path, head).unwrap().unwrap());
        proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), plain);
    }
}

fn users(n: usize) -> Node {
    Node::object(
        (0..n)
            .map(|i| {
                let user = Node::object(vec![
                    (Key::str("id"), Node::int(i as i64)),
                    (Key::str("name"), Node::string(&format!("user number {i}"))),
                ]);
                (Key::str(&format!("u{}", (i * 7919) % n)), user)
            })
            .collect(),
    )
}

#[test]
fn members_of_a_wide_object_are_found_through_key_filters() {
    let n = 40_000;
    let doc = Node::object(vec![(Key::str("users"), users(n))]);
    let (dir, read) = common::CountingDir::logs_only();
    {
        let mut store = Store::open(&dir, Options::default()).unwrap();
        store
            .commit(vec![(KPath::root(), doc.clone().with_tag("!insert"))])
            .unwrap();
        store.close().unwrap();
    }
    let mut store = Store::open(&dir, Options::default()).unwrap();
    let mut most = 0;
    for key in [0, 1, 12_345, 31_234, 39_999] {
        let path = KPath::parse(&format!("users.u{key}.name")).unwrap();
        read.store(0, Ordering::Relaxed);
        let found = store.read_at(&path, 1).unwrap();
        assert_eq!(found.as_ref(), get(&doc, &path).unwrap(), "{path}");
        most = most.max(read.load(Ordering::Relaxed));
        let mut out = Vec::new();
        assert!(store.read_stream(&path, 1, &mut out).unwrap());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            encode_wire(found.as_ref().unwrap())
        );
    }
    // The walk from the nearest stretch that may hold the key (a false positive of a filter
    // costs one more stretch).
    assert!(most <= 96 * 1024, "a member read touched {most} bytes");
    // An absent member reads as absent, proven by the filters (or a walk when one lets the key
    // through), without building the object or parsing the entry.
    for absent in ["users.nobody", "users.u40001", "users.u5.nothing"] {
        read.store(0, Ordering::Relaxed);
        let path = KPath::parse(absent).unwrap();
        assert_eq!(store.read_at(&path, 1).unwrap(), None, "{absent}");
        let touched = read.load(Ordering::Relaxed);
        assert!(
            touched <= 96 * 1024,
            "reading {absent} touched {touched} bytes"
        );
    }
    assert!(store
        .read_at(&KPath::parse("users.u5.id.x").unwrap(), 1)
        .is_err());
    assert_eq!(store.stats().entries_read, 0);
    eprintln!("member reads in a 40,000-member object touched at most {most} bytes");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(common::cases(48, 1_000)))]

    /// Reads of members of wide objects (long values, so stretches and filters are many) equal
    /// `get`, for present and absent keys alike.
    #[test]
    fn reads_that_seek_inside_objects_find_their_member(
        members in proptest::collection::btree_map("[a-z]{1,6}", 300usize..4000, 1..60),
        probes in proptest::collection::vec("[a-z]{1,6}", 1..12),
    ) {
        let object = Node::object(
            members
                .iter()
                .map(|(k, len)| (Key::str(k), Node::string(&"v".repeat(*len))))
                .collect(),
        );
        let doc = Node::object(vec![(Key::str("map"), object)]);
        let dir = MemDir::new();
        {
            let mut store = Store::open(&dir, Options::default()).unwrap();
            store.commit(vec![(KPath::root(), doc.clone().with_tag("!insert"))]).unwrap();
            store.close().unwrap();
        }
        let store = Store::open(&dir, Options::default()).unwrap();
        for key in members.keys().take(6).chain(probes.iter()) {
            let path = KPath::root().child(tonystore::kpath::Segment::Field("map".into()))
                .child(tonystore::kpath::Segment::Field(key.as_str().into()));
            let want = get(&doc, &path).unwrap().cloned();
            proptest::prop_assert_eq!(store.read_at(&path, 1).unwrap(), want, "{}", path);
        }
    }
}

/// A store on native files holding `{users: …}` of 20,000 members (one large entry, with an
/// offset index), closed: the document, the temporary directory and the store's directory.
fn wide_store_on_disk() -> (Node, tempfile::TempDir, FsDir) {
    let doc = Node::object(vec![(Key::str("users"), users(20_000))]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = FsDir::create(tmp.path().join("store")).unwrap();
    let mut store = Store::open(&dir, Options::default()).unwrap();
    store
        .commit(vec![(KPath::root(), doc.clone().with_tag("!insert"))])
        .unwrap();
    store.close().unwrap();
    (doc, tmp, dir)
}

/// Offset indexes are read from `index.log` when a read first needs them, not at open. Bytes
/// of one that change after the open are a `Corrupt` error naming `index.log` and an offset
/// inside the damaged index, not a wrong answer; the next open sees the damaged record and
/// re-indexes the log, and reads are right again.
#[test]
fn an_offset_index_is_read_when_first_needed_and_checked() {
    use std::os::unix::fs::FileExt;
    let (doc, tmp, dir) = wide_store_on_disk();
    let path = KPath::parse("users.u1234.name").unwrap();
    let want = get(&doc, &path).unwrap().cloned();
    let index_file = tmp.path().join("store").join("index.log");
    let (index_len, damaged) = {
        let store = Store::open(&dir, Options::default()).unwrap();
        assert_eq!(store.stats().recovery, "none");
        // Behind the store's back, inside the record's last bytes: the offset index's chunk
        // checksums.
        let index = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&index_file)
            .unwrap();
        let len = index.metadata().unwrap().len();
        let at = len - 64;
        let mut byte = [0u8];
        index.read_exact_at(&mut byte, at).unwrap();
        index.write_all_at(&[byte[0] ^ 0x55], at).unwrap();
        let err = store.read_at(&path, 1).unwrap_err();
        assert_eq!(err.code(), "corrupt", "{err}");
        let message = err.to_string();
        assert!(message.contains("index.log"), "{message}");
        (len, message)
    };
    // The offset named lies inside the index's bytes.
    let offset: u64 = damaged
        .split("offset ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {damaged}"));
    assert!(offset < index_len - 64, "{damaged}");
    let store = Store::open(&dir, Options::default()).unwrap();
    assert_ne!(store.stats().recovery, "none");
    assert_eq!(store.read_at(&path, 1).unwrap(), want);
}

#[test]
fn an_index_of_an_older_format_is_rebuilt_from_the_logs() {
    // Version 8's member filters probed by double hashing: a version-9 reader must not read
    // them with its own probes (a member would seem absent), so it re-indexes instead.
    use std::os::unix::fs::FileExt;
    let (doc, tmp, dir) = wide_store_on_disk();
    // FORMAT.md: magic, the version (big-endian u32), the CRC-32C of the two.
    let index = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(tmp.path().join("store").join("index.log"))
        .unwrap();
    let mut header = [0u8; 16];
    index.read_exact_at(&mut header, 0).unwrap();
    assert_eq!(&header[..8], b"TNYINDEX");
    assert_eq!(u32::from_be_bytes(header[8..12].try_into().unwrap()), 9);
    header[8..12].copy_from_slice(&8u32.to_be_bytes());
    let crc = crc32c::crc32c(&header[..12]);
    header[12..].copy_from_slice(&crc.to_be_bytes());
    index.write_all_at(&header, 0).unwrap();
    drop(index);
    let path = KPath::parse("users.u1234.name").unwrap();
    let want = get(&doc, &path).unwrap().cloned();
    let mut store = Store::open(&dir, Options::default()).unwrap();
    assert_eq!(store.stats().recovery, "full");
    assert_eq!(store.read_at(&path, 1).unwrap(), want);
    store.close().unwrap();
    // The rebuilt index was saved in the current format: the member is found through its
    // filters.
    let store = Store::open(&dir, Options::default()).unwrap();
    assert_eq!(store.stats().recovery, "none");
    assert_eq!(store.read_at(&path, 1).unwrap(), want);
    assert_eq!(store.stats().read_from_offsets, 1);
}

#[test]
fn offset_indexes_in_memory_stay_within_their_budget() {
    // Twelve large entries, each with an offset index.
    let dir = MemDir::new();
    let part = |i: usize| KPath::parse(&format!("parts.p{i}")).unwrap();
    let p = |s: &str| KPath::parse(s).unwrap();
    let want = || {
        get(&users(2_000), &KPath::parse("u777.name").unwrap())
            .unwrap()
            .cloned()
    };
    let member = |i: usize| KPath::parse(&format!("parts.p{i}.u777.name")).unwrap();
    let tight = || Options {
        offset_index_cache_bytes: 1,
        ..Options::default()
    };
    {
        let mut store = Store::open(&dir, tight()).unwrap();
        for i in 0..12 {
            store.commit(vec![(part(i), users(2_000))]).unwrap();
        }
        // Made this session and not saved yet: kept whatever the budget (twelve commits and
        // none compacted yet).
        assert_eq!(store.stats().offset_indexes_in_memory, 12);
        // Four more complete a level: the twelve large entries are composed (no longer
        // pending), and the level entry has an offset index too.
        for i in 0..4 {
            store
                .commit(vec![(p(&format!("pad{i}")), Node::int(1))])
                .unwrap();
        }
        store.flush().unwrap();
        // Saved: all but what the budget holds may go, and are read back from where the
        // save put them.
        assert!(store.stats().offset_indexes_in_memory <= 1);
        let before = store.stats().read_from_offsets;
        for i in 0..12 {
            assert_eq!(store.read_at(&member(i), 12).unwrap(), want(), "p{i}");
        }
        assert_eq!(store.stats().read_from_offsets - before, 12);
        store.close().unwrap();
    }
    let want = want();
    let store = Store::open(&dir, tight()).unwrap();
    for round in 0..2 {
        for i in 0..12 {
            assert_eq!(store.read_at(&member(i), 12).unwrap(), want, "p{i}");
            assert!(
                store.stats().offset_indexes_in_memory <= 1,
                "round {round}, p{i}"
            );
        }
    }
    // Each read was served through an offset index, read again once dropped.
    assert_eq!(store.stats().read_from_offsets, 24);
    drop(store);
    let store = Store::open(&dir, Options::default()).unwrap();
    for i in 0..12 {
        assert_eq!(store.read_at(&member(i), 12).unwrap(), want, "p{i}");
    }
    assert_eq!(store.stats().offset_indexes_in_memory, 12);
}
