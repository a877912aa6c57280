//! Engine behaviour: entries, frames, merges, commits, preconditions, transactions, errors.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::{Arc, Mutex};

use common::{field, text, tony};
use tonystore::engine::internals::{LogFile, ScanEnd, FRAME_HEADER, LOG_HEADER};
use tonystore::engine::{
    Durability, End, LogEntry, Options, Store, StoreError, TransactionBuffer, Transactions,
    TxStatus,
};
use tonystore::kpath::{get, KPath};
use tonystore::storage::{BlockFile, FsDir, MemBlockFile, MemDir, StorageError, StoreDir};
use tonystore::tony::{encode_wire, Node};

fn p(s: &str) -> KPath {
    KPath::parse(s).unwrap()
}

fn open(dir: &dyn StoreDir) -> Store {
    Store::open(dir, Options::default()).unwrap()
}

fn wire(node: Option<Node>) -> String {
    node.map_or_else(|| "<absent>".into(), |n| encode_wire(&n))
}

#[test]
fn entries_round_trip_byte_for_byte() {
    let entry = LogEntry {
        level: 0,
        start: 6,
        commit: 7,
        tx: 9,
        timestamp: 1_764_000_000_000,
        ends: vec![End {
            path: p("a.\"b.c\""),
            independent: true,
        }],
        patch: tony("{a: {'b.c': !delete null, d: [1, 2]}}"),
    };
    let wire = entry.to_wire();
    assert_eq!(wire, encode_wire(&entry.to_tony()));
    let back = LogEntry::from_wire(&wire).unwrap();
    assert_eq!(back, entry);
    assert_eq!(back.to_wire(), wire);
    let compacted = LogEntry {
        level: 2,
        start: 16,
        commit: 32,
        tx: 0,
        timestamp: 0,
        ..entry
    };
    assert_eq!(
        LogEntry::from_wire(&compacted.to_wire()).unwrap(),
        compacted
    );
    // Ends needing quotes, no ends, numbers beyond i64: written as the value form would be.
    for entry in [
        LogEntry {
            ends: vec![
                End {
                    path: p("''"),
                    independent: false,
                },
                End {
                    path: p("a[3]{4}.'x y'.\"\\\"\"(k)"),
                    independent: true,
                },
                End {
                    path: KPath::root(),
                    independent: true,
                },
            ],
            ..compacted.clone()
        },
        LogEntry {
            ends: Vec::new(),
            commit: u64::MAX,
            ..compacted.clone()
        },
        // Paths in path order sharing prefixes of every kind (each path's text reuses the
        // shared segments' text): the root, a parent before its children, deeper then
        // shallower, quoted and bracketed segments.
        LogEntry {
            ends: [
                "",
                "a",
                "a.b",
                "a.b.c",
                "a.d",
                "a[3]",
                "a[3].'x y'",
                "a[3].'x y'.z",
                "a[3].'x y'.z{7}",
                "a[4]",
                "b(k)",
                "b(k).c",
                "'q.r'",
                "'q.r'.s",
            ]
            .into_iter()
            .map(|text| End {
                path: if text.is_empty() {
                    KPath::root()
                } else {
                    p(text)
                },
                independent: text.len() % 2 == 0,
            })
            .collect(),
            ..compacted.clone()
        },
    ] {
        assert_eq!(entry.to_wire(), encode_wire(&entry.to_tony()));
    }
    for bad in [
        "{commit: 1}",
        "!entry {commit: -1, ends: {}, patch: null}",
        "!entry {commit: 1, patch: null}",
        "!entry {commit: 1 ends: {'a..b': true} patch: null}",
        "!entry {",
    ] {
        assert!(LogEntry::from_wire(bad).is_err(), "{bad}");
    }
}

fn entry(commit: u64) -> LogEntry {
    LogEntry {
        level: 0,
        start: commit - 1,
        commit,
        tx: commit,
        timestamp: 0,
        ends: vec![],
        patch: tony("{x: 1}"),
    }
}

#[test]
fn frames_detect_every_kind_of_damage() {
    let file = MemBlockFile::new("level0.log");
    let mut log = LogFile::new(Box::new(file), 1 << 20).unwrap();
    let a = log.append(entry(1).to_wire().as_bytes()).unwrap();
    let b = log.append(entry(2).to_wire().as_bytes()).unwrap();
    assert_eq!(a, LOG_HEADER, "frames start after the file header");
    assert_eq!(log.read_entry(b).unwrap(), entry(2));
    let err = log.read_entry(b + 1).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { ref file, offset, .. } if file == "level0.log" && offset == b + 1),
        "{err}"
    );
    assert!(
        log.read_entry(log.end() + 10).is_err(),
        "an offset past the end"
    );
    // An oversize frame is refused before anything is written.
    let mut small = LogFile::new(Box::new(MemBlockFile::new("small.log")), 16).unwrap();
    assert!(matches!(
        small.append(&[b'x'; 17]),
        Err(StoreError::TooLarge { len: 17, max: 16 })
    ));
    assert_eq!(small.end(), LOG_HEADER);
}

#[test]
fn a_flipped_byte_in_the_middle_is_corruption_and_a_torn_tail_is_cut() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    for i in 0..5 {
        store.commit(vec![(p("n"), Node::int(i))]).unwrap();
    }
    store.close().unwrap();
    drop(store);
    let log = dir.open("level0.log").unwrap();
    let len = log.len().unwrap();
    // Cut into the last frame. The index recorded it as synced, so this is lost data: a
    // typed error, not a silent rollback.
    log.set_len(len - 5).unwrap();
    drop(log);
    match Store::open(&dir, Options::default()) {
        Err(StoreError::Corrupt { file, offset, .. }) => {
            assert_eq!((file.as_str(), offset), ("level0.log", len - 5))
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("expected Corrupt"),
    }
    // A torn tail proper: the frame was in flight, so no index records it.
    dir.open("index.log").unwrap().set_len(0).unwrap();
    let mut store = open(&dir);
    assert_eq!(store.head(), 4, "the torn commit is gone, the others stay");
    assert_eq!(wire(store.read_at(&p("n"), 4).unwrap()), "3");
    store.close().unwrap();
    drop(store);
    // Flip a byte inside the second frame: a typed error naming file and offset.
    let log = dir.open("level0.log").unwrap();
    let mut byte = [0u8];
    let second = {
        let mut header = [0u8; 4];
        log.read_exact_at(LOG_HEADER, &mut header).unwrap();
        LOG_HEADER + FRAME_HEADER + u64::from(u32::from_be_bytes(header))
    };
    log.read_exact_at(second + 20, &mut byte).unwrap();
    log.write_all_at(second + 20, &[byte[0] ^ 0x40]).unwrap();
    drop(log);
    dir.open("index.log").unwrap().set_len(0).unwrap();
    match Store::open(&dir, Options::default()) {
        Err(StoreError::Corrupt { file, offset, .. }) => {
            assert_eq!((file.as_str(), offset), ("level0.log", second))
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("expected Corrupt"),
    }
}

#[test]
fn scanning_reports_a_clean_end_and_a_truncation() {
    let mut log = LogFile::new(Box::new(MemBlockFile::new("l")), 1 << 20).unwrap();
    log.append(entry(1).to_wire().as_bytes()).unwrap();
    let mut seen = 0;
    assert_eq!(
        log.scan(0, 0, |_, _, _| {
            seen += 1;
            Ok(())
        })
        .unwrap(),
        ScanEnd::Clean
    );
    assert_eq!(seen, 1);
    let end = log.end();
    log.file().write_all_at(end, &[0, 0, 0, 9, 1]).unwrap();
    let mut log = LogFile::new(Box::new(ReopenMem(log)), 1 << 20).unwrap();
    assert_eq!(
        log.scan(0, 0, |_, _, _| Ok(())).unwrap(),
        ScanEnd::TruncatedAt(end)
    );
}

/// Re-wraps a log's file so a second `LogFile` sees the bytes written behind the first's back.
struct ReopenMem(LogFile);

impl BlockFile for ReopenMem {
    fn name(&self) -> &str {
        self.0.file().name()
    }
    fn len(&self) -> Result<u64, StorageError> {
        self.0.file().len()
    }
    fn read_exact_at(&self, o: u64, b: &mut [u8]) -> Result<(), StorageError> {
        self.0.file().read_exact_at(o, b)
    }
    fn write_all_at(&self, o: u64, d: &[u8]) -> Result<(), StorageError> {
        self.0.file().write_all_at(o, d)
    }
    fn set_len(&self, l: u64) -> Result<(), StorageError> {
        self.0.file().set_len(l)
    }
    fn sync(&self) -> Result<(), StorageError> {
        self.0.file().sync()
    }
    fn close(&self) -> Result<(), StorageError> {
        self.0.file().close()
    }
}

#[test]
fn merge_conformance_cases() {
    for case in common::conformance("merge.jsonl") {
        let id = text(&case, "id").unwrap();
        let mut buffer = TransactionBuffer::new();
        let mut invalid = false;
        for patch in field(&case, "patches").as_array().unwrap() {
            match KPath::parse(text(patch, "path").unwrap()) {
                Ok(path) => buffer.add(path, tony(text(patch, "data").unwrap())),
                Err(_) => invalid = true,
            }
        }
        match text(&case, "result") {
            Some(want) => {
                let got = buffer.merge().unwrap().unwrap();
                assert_eq!(
                    encode_wire(&common::sorted_keys(&got)),
                    encode_wire(&common::sorted_keys(&tony(want))),
                    "{id}"
                );
            }
            None => {
                let merged = buffer.merge();
                assert!(invalid || merged.is_err(), "{id}: expected an error");
                if let Some(needle) = text(&case, "error_contains") {
                    let message = merged.unwrap_err().to_string();
                    assert!(message.contains(needle), "{id}: {message}");
                }
            }
        }
    }
}

#[test]
fn a_rejected_commit_writes_nothing() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    store.commit(vec![(p("a"), tony("[1, 2, 3]"))]).unwrap();
    let before = store.stats().level0_bytes;
    let err = store
        .commit(vec![(p("a"), tony("!replace {from: [9], to: []}"))])
        .unwrap_err();
    assert_eq!(err.code(), "patch_rejected");
    let err = store
        .commit(vec![(p("a"), tony("{k: 1}")), (p("a.k"), Node::int(2))])
        .unwrap_err();
    assert_eq!(err.code(), "invalid_patch", "{err}");
    assert!(
        store.commit(vec![]).is_err(),
        "an empty transaction is refused"
    );
    assert_eq!(store.stats().level0_bytes, before);
    assert_eq!(store.head(), 1);
    assert_eq!(wire(store.read(&p("a")).unwrap()), "[1 2 3]");
}

/// Commits patch the head state in place; a commit that fails half-way through its patch (here
/// after merging `m0` and adding `new`, at `m1`'s failed check; or after adding an integer key
/// to an object of string keys) must leave no trace in the head, in reads at the head or in
/// the next commit.
#[test]
fn a_commit_failing_half_way_into_a_wide_object_leaves_no_trace() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    let members: Vec<String> = (0..40).map(|i| format!("m{i}: {{v: {i}}}")).collect();
    store
        .commit(vec![(
            p("wide"),
            tony(&format!("{{{}}}", members.join(", "))),
        )])
        .unwrap();
    let before = store.read(&p("wide")).unwrap();
    let err = store
        .commit(vec![(
            p("wide"),
            tony("{m0: {v: 100}, new: 1, m1: !replace {from: 9, to: 2}}"),
        )])
        .unwrap_err();
    assert_eq!(err.code(), "patch_rejected", "{err}");
    let err = store
        .commit(vec![(p("wide{7}"), Node::int(1))])
        .unwrap_err();
    assert!(err.to_string().contains("mix integer keys"), "{err}");
    assert_eq!(store.head(), 1);
    assert_eq!(store.read(&p("wide")).unwrap(), before);
    assert_eq!(wire(store.read(&p("wide.m0.v")).unwrap()), "0");
    assert_eq!(wire(store.read_at(&p("wide.new"), 1).unwrap()), "<absent>");
    // The next commit applies to the untouched state.
    store
        .commit(vec![(
            p("wide"),
            tony("{m1: {v: -1}, m3: !delete null, added: 1}"),
        )])
        .unwrap();
    let now = store.read(&p("wide")).unwrap().unwrap();
    let keys: Vec<String> = now
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, _)| k.to_text())
        .collect();
    assert_eq!(keys.len(), 40);
    assert_eq!(keys.first().map(String::as_str), Some("m0"));
    assert_eq!(keys.last().map(String::as_str), Some("added"));
    assert!(!keys.contains(&"m3".to_owned()) && !keys.contains(&"new".to_owned()));
    assert_eq!(wire(store.read(&p("wide.m0.v")).unwrap()), "0");
    assert_eq!(wire(store.read(&p("wide.m1.v")).unwrap()), "-1");
    assert_eq!(store.verify().unwrap(), 2);
}

/// After a reopen nothing is cached, and a read of a small entry builds only the member it needs
/// from the entry's text: every read must equal the same read made while every patch was
/// cached (records, sparse keys, tagged objects, scalars and absences on the way).
#[test]
fn reads_of_uncached_entries_equal_reads_of_cached_ones() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    let mut paths = Vec::new();
    for i in 0..60u64 {
        let (path, value) = match i % 5 {
            0 => (
                format!("docs.d{}.users.u{}", i % 3, i % 7),
                format!("{{name: \"n{i}\", commit: {i}}}"),
            ),
            1 => (format!("sparse{{{}}}", i % 4), format!("{{v: {i}}}")),
            2 => (
                format!("tagged.t{}", i % 2),
                format!("!thing {{a: {i}, b: [{i}]}}"),
            ),
            3 => (
                format!("docs.d{}.users.u{}.name", i % 3, i % 7),
                format!("\"renamed {i}\""),
            ),
            _ => (format!("scalar{}", i % 2), format!("{i}")),
        };
        paths.push(path.clone());
        store.commit(vec![(p(&path), tony(&value))]).unwrap();
    }
    for extra in [
        "docs.d1.users.u1.commit",
        "tagged.t0.a",
        "tagged.t1.b[0]",
        "scalar0.x",
        "nothing.here",
        "sparse{2}.v",
    ] {
        paths.push(extra.to_owned());
    }
    let head = store.head();
    let read_all = |store: &mut Store| -> Vec<String> {
        let mut out = Vec::new();
        for path in &paths {
            for at in 1..=head {
                out.push(match store.read_at(&p(path), at) {
                    Ok(v) => wire(v),
                    Err(e) => format!("error {}", e.code()),
                });
            }
        }
        out
    };
    let cached = read_all(&mut store);
    store.close().unwrap();
    let mut store = open(&dir);
    let before = store.stats().entries_read;
    assert_eq!(read_all(&mut store), cached);
    assert!(
        store.stats().entries_read > before,
        "the reads went to the log"
    );
    assert!(cached.iter().any(|v| v.contains("renamed")) && cached.iter().any(|v| v == "<absent>"));
}

#[test]
fn preconditions_are_checked_with_the_write() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    store
        .commit(vec![(p("user"), tony("{name: ann, version: 1}"))])
        .unwrap();
    let stale = store.commit_with(
        vec![(p("user.name"), Node::string("bob"))],
        vec![(p("user"), tony("{version: 0}"))],
    );
    assert!(matches!(stale, Err(StoreError::PreconditionFailed { .. })));
    let fresh = store
        .commit_with(
            vec![(p("user.name"), Node::string("bob"))],
            vec![(p("user"), tony("{version: 1}"))],
        )
        .unwrap();
    assert_eq!(fresh, 2);
    assert_eq!(wire(store.read_at(&p("user.name"), 1).unwrap()), "ann");
    assert_eq!(wire(store.read_at(&p("user.name"), 2).unwrap()), "bob");
}

#[test]
fn multi_participant_transactions_commit_once_for_all() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    let mut txs = Transactions::default();
    let tx = txs.begin(3, 60_000);
    assert_eq!(
        txs.join(&mut store, tx, p("a"), Node::int(1), None)
            .unwrap(),
        TxStatus::Waiting { joined: 1, of: 3 }
    );
    assert_eq!(
        txs.join(&mut store, tx, p("b"), Node::int(2), None)
            .unwrap(),
        TxStatus::Waiting { joined: 2, of: 3 }
    );
    assert_eq!(
        store.head(),
        0,
        "nothing is written before the last participant"
    );
    assert_eq!(
        txs.join(&mut store, tx, p("c"), Node::int(3), None)
            .unwrap(),
        TxStatus::Committed(1)
    );
    assert_eq!(
        txs.status(tx).unwrap(),
        TxStatus::Committed(1),
        "every participant sees the outcome"
    );
    assert_eq!(
        wire(store.read(&KPath::root()).unwrap()),
        "{a: 1 b: 2 c: 3}"
    );

    let late = txs.begin(2, 0);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert!(matches!(
        txs.join(&mut store, late, p("x"), Node::int(1), None)
            .unwrap(),
        TxStatus::Aborted(_)
    ));
    assert_eq!(store.head(), 1);

    let failing = txs.begin(2, 60_000);
    txs.join(
        &mut store,
        failing,
        p("a"),
        Node::int(5),
        Some((p("a"), Node::int(99))),
    )
    .unwrap();
    assert!(
        matches!(txs.join(&mut store, failing, p("b"), Node::int(6), None).unwrap(), TxStatus::Aborted(m) if m.contains("precondition"))
    );
    assert!(txs.status(12345).is_err());
}

#[test]
fn a_full_disk_fails_the_commit_and_loses_nothing() {
    let dir = MemDir::with_capacity(2_000);
    let mut store = Store::open(
        &dir,
        Options {
            divisor: 1000,
            ..Options::default()
        },
    )
    .unwrap();
    let mut committed = 0;
    let err = loop {
        match store.commit(vec![(
            p(&format!("k{committed}")),
            Node::string(&"v".repeat(40)),
        )]) {
            Ok(c) => committed = c,
            Err(e) => break e,
        }
    };
    assert_eq!(err.code(), "quota", "{err}");
    assert!(committed > 3);
    assert_eq!(store.head(), committed);
    let head_state = store.read(&KPath::root()).unwrap();
    drop(store);
    let again = Store::open(
        &dir,
        Options {
            divisor: 1000,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(again.head(), committed);
    assert_eq!(again.read(&KPath::root()).unwrap(), head_state);
}

#[test]
fn a_second_writer_is_locked_out() {
    let dir = MemDir::new();
    let _first = open(&dir);
    let err = Store::open(&dir, Options::default()).err().expect("locked");
    assert_eq!(err.code(), "locked");
    let tmp = tempfile::tempdir().unwrap();
    let fs = FsDir::create(tmp.path()).unwrap();
    let _held = open(&fs);
    assert_eq!(
        Store::open(&fs, Options::default()).err().unwrap().code(),
        "locked"
    );
}

#[test]
fn reads_touch_a_bounded_number_of_entries() {
    let dir = MemDir::new();
    let mut store = Store::open(
        &dir,
        Options {
            durability: Durability::OnFlush,
            ..Options::default()
        },
    )
    .unwrap();
    let commits = if common::heavy() { 100_000 } else { 5_000 };
    for i in 0..commits {
        let path = format!("users.u{}.score", i % 50);
        store.commit(vec![(p(&path), Node::int(i as i64))]).unwrap();
    }
    for (path, at) in [
        ("users.u7.score", commits - 1),
        ("users.u7", commits / 2 + 3),
        ("", commits),
    ] {
        let before = store.stats().entries_read;
        let value = store.read_at(&p(path), at as u64).unwrap();
        assert!(value.is_some());
        let read = store.stats().entries_read - before;
        eprintln!("read_at({path}, {at}) at {commits} commits parsed {read} entries");
        // D = 16: at most 15 entries per level, 4 levels for 100k commits.
        assert!(read <= 15 * 5, "{path}@{at}: read {read} entries");
    }
    let last = (commits - 1) as i64;
    assert_eq!(
        store
            .read_at(
                &p(&format!("users.u{}.score", (commits - 1) % 50)),
                commits as u64
            )
            .unwrap(),
        Some(Node::int(last))
    );
}

#[test]
fn a_record_rewritten_whole_is_read_from_its_last_write_alone() {
    // The benchmark's shape: records rewritten whole at 64 paths, round-robin. Each write
    // determines its record (an array member would not: an array patch merges by index), so a read at any commit needs one entry, however long the history.
    let dir = MemDir::new();
    let options = Options {
        durability: Durability::OnFlush,
        ..Options::default()
    };
    let mut store = Store::open(&dir, options).unwrap();
    let commits = if common::heavy() { 50_000 } else { 3_000 };
    let record = |n: u64| {
        tony(&format!(
            "{{name: \"user {n}\", score: {}, active: true, commit: {n}}}",
            n * 7
        ))
    };
    for n in 1..=commits {
        let path = format!("docs.d{}.users.u{}", n % 4, n % 64);
        store.commit(vec![(p(&path), record(n))]).unwrap();
    }
    for at in [commits, commits - 17, commits / 2 + 5, 200, 65] {
        let n = at - (at % 64 + 64 - 5) % 64; // the last commit <= at that wrote u5
        let before = store.stats().entries_read;
        let found = store
            .read_at(&p(&format!("docs.d{}.users.u5", n % 4)), at)
            .unwrap();
        assert_eq!(found, Some(record(n)), "u5 at {at}");
        let read = store.stats().entries_read - before;
        assert!(read <= 1, "u5 at {at}: parsed {read} entries");
    }
    // A write of part of a record does not determine it: reads still merge the earlier write.
    store
        .commit(vec![(p("docs.d1.users.u5.score"), Node::int(-1))])
        .unwrap();
    let head = store.head();
    let last = head - 1 - ((head - 1) % 64 + 64 - 5) % 64;
    let merged = store
        .read_at(&p("docs.d1.users.u5"), head)
        .unwrap()
        .unwrap();
    assert_eq!(get(&merged, &p("score")).unwrap(), Some(&Node::int(-1)));
    assert_eq!(
        get(&merged, &p("commit")).unwrap(),
        Some(&Node::int(last as i64))
    );
}

#[test]
fn huge_entries_are_indexed_coarsely() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    let big = Node::object(
        (0..200)
            .map(|i| {
                (
                    format!("k{i}").as_str().into(),
                    Node::object(
                        (0..100)
                            .map(|j| (format!("f{j}").as_str().into(), Node::int(j)))
                            .collect(),
                    ),
                )
            })
            .collect(),
    );
    store.commit(vec![(KPath::root(), big)]).unwrap();
    let ends = store.entry(1).unwrap().ends.len();
    assert!(ends <= 200, "20,000 leaves indexed as {ends} ends");
    assert_eq!(store.read_at(&p("k7.f42"), 1).unwrap(), Some(Node::int(42)));
}

#[test]
fn a_full_rebuild_reports_progress() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    for i in 0..50 {
        store.commit(vec![(p("n"), Node::int(i))]).unwrap();
    }
    drop(store);
    dir.open("index.log").unwrap().set_len(0).unwrap();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let options = Options {
        on_progress: Some(Box::new(move |p| sink.lock().unwrap().push(p))),
        ..Options::default()
    };
    let store = Store::open(&dir, options).unwrap();
    assert_eq!(store.stats().recovery, "full");
    let reports = reports.lock().unwrap();
    let last = reports.last().expect("progress was reported");
    assert_eq!(last.done, last.total);
    assert!(last.total > 0);
}

#[test]
fn a_store_moves_between_threads() {
    // Natively a store is `Send`: a server can hand it to a worker thread.
    let dir = MemDir::new();
    let mut store = open(&dir);
    store.commit(vec![(p("a"), Node::int(1))]).unwrap();
    let store = std::thread::spawn(move || {
        store.commit(vec![(p("b"), Node::int(2))]).unwrap();
        store
    })
    .join()
    .unwrap();
    assert_eq!(store.read_at(&p("b"), 2).unwrap(), Some(Node::int(2)));
    assert_eq!(store.read_at(&p("b"), 1).unwrap(), None);
}

#[test]
fn reads_run_at_once_on_several_threads_and_agree_with_reads_in_turn() {
    fn shared<T: Send + Sync>() {}
    shared::<Store>();
    let dir = MemDir::new();
    let options = || Options {
        divisor: 4,
        persist_every: 50,
        offset_index_min_bytes: 2048,
        ..Options::default()
    };
    let mut store = Store::open(&dir, options()).unwrap();
    // Small records at 32 paths, a large entry (read through its offset index), an array
    // edited by later patches, and deletions: every read path has work to do.
    let big = Node::array(
        (0..200)
            .map(|i| tony(&format!("{{id: {i}, name: n{i}}}")))
            .collect(),
    );
    store.commit(vec![(p("big"), big)]).unwrap();
    for c in 0..400i64 {
        let at = p(&format!("docs.d{}.u{}", c % 4, c % 32));
        let patch = if c % 37 == 0 {
            Node::null().with_tag("!delete")
        } else {
            tony(&format!("{{n: {c}, s: \"x{c}\"}}"))
        };
        store.commit(vec![(at, patch)]).unwrap();
        if c % 50 == 0 {
            store
                .commit(vec![(p(&format!("big[{}].name", c / 50)), Node::int(c))])
                .unwrap();
        }
    }
    store.close().unwrap();
    drop(store);
    let paths: Vec<KPath> = (0..32)
        .map(|u| p(&format!("docs.d{}.u{u}", u % 4)))
        .chain(
            [
                "big[3]",
                "big[3].name",
                "big[150]",
                "docs.d1",
                "nothing.here",
            ]
            .map(p),
        )
        .collect();
    let reads = |store: &Store, order: u64| -> Vec<String> {
        let head = store.head();
        let mut out = Vec::new();
        let n = paths.len() as u64 * 12;
        for i in 0..n {
            // Each thread its own order of the same reads: rotated, every other one reversed.
            let k = (i + order * 97) % n;
            let k = if order % 2 == 1 { n - 1 - k } else { k };
            let (path, commit) = (&paths[(k % paths.len() as u64) as usize], 1 + k * 37 % head);
            out.push(format!(
                "{path}@{commit}: {:?}",
                store
                    .read_at(path, commit)
                    .map(|v| v.map(|n| encode_wire(&n)))
            ));
        }
        out.sort();
        out
    };
    // In turn, on a fresh open.
    let expected = reads(&Store::open(&dir, options()).unwrap(), 0);
    // At once, on another fresh open: the first reads find the index's ends deferred and the
    // cache empty.
    let store = Store::open(&dir, options()).unwrap();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=4)
            .map(|t| {
                scope.spawn({
                    let (store, reads) = (&store, &reads);
                    move || reads(store, t)
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), expected);
        }
    });
    // A server's shape: readers under a read lock, a writer under the write lock. A read at
    // a commit that exists never changes.
    let before = store.head();
    let then = store.read_at(&paths[0], before).unwrap();
    assert!(then.is_some());
    let store = std::sync::RwLock::new(store);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for c in 0..50 {
                let mut store = store.write().unwrap();
                store
                    .commit(vec![(p("docs.d0.u0"), tony(&format!("{{n: {c}}}")))])
                    .unwrap();
            }
        });
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..20 {
                    let store = store.read().unwrap();
                    assert_eq!(store.read_at(&paths[0], before).unwrap(), then);
                }
            });
        }
    });
    assert_eq!(store.read().unwrap().head(), before + 50);
}

#[test]
fn history_lists_exactly_the_commits_that_changed_a_path() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    store.commit(vec![(p("a.x"), Node::int(1))]).unwrap();
    store.commit(vec![(p("b"), Node::int(1))]).unwrap();
    store.commit(vec![(p("a"), tony("{y: 2}"))]).unwrap();
    store
        .commit(vec![(KPath::root(), tony("!insert {a: {x: 3}}"))])
        .unwrap();
    // Writing the value that is already there touches the path but does not change it.
    store.commit(vec![(p("a.x"), Node::int(3))]).unwrap();
    store.commit(vec![(p("c.d"), Node::int(1))]).unwrap();
    assert_eq!(store.history(&p("a.x")).unwrap(), [1, 4]);
    assert_eq!(store.history(&p("a")).unwrap(), [1, 3, 4]);
    // Commit 1 replaced the empty document but left `b` absent; commit 4 removed it.
    assert_eq!(store.history(&p("b")).unwrap(), [2, 4]);
    assert_eq!(store.history(&p("c")).unwrap(), [6]);
    assert_eq!(store.history(&p("missing")).unwrap(), Vec::<u64>::new());
    assert_eq!(store.history(&KPath::root()).unwrap(), [1, 2, 3, 4, 6]);
    use tonystore::engine::Direction;
    assert_eq!(
        store.commits_at(&p("a"), 3, Direction::Down).unwrap(),
        [3, 1]
    );
    assert_eq!(store.commits_at(&p("a"), 2, Direction::Up).unwrap(), [3, 4]);
    assert_eq!(store.commits_at(&p("a"), 4, Direction::Up).unwrap(), [4]);
    assert!(matches!(
        store.commits_at(&p("a"), 7, Direction::Up),
        Err(StoreError::NoSuchCommit { commit: 7, head: 6 })
    ));
}

#[test]
fn changes_name_the_changed_paths_at_or_below_the_watched_one() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    store
        .commit(vec![
            (p("users.u1"), tony("{name: ann}")),
            (p("users.u2"), tony("{name: bob}")),
        ])
        .unwrap();
    store
        .commit(vec![
            (p("users.u1.name"), tony("ann")),
            (p("users.u2.name"), tony("bo")),
        ])
        .unwrap();
    store.commit(vec![(p("other"), Node::int(1))]).unwrap();
    store
        .commit(vec![(KPath::root(), tony("{users: null}"))])
        .unwrap();
    let changes = store.changes(&p("users"), 0, 4).unwrap();
    let listed: Vec<(u64, Vec<String>)> = changes
        .iter()
        .map(|c| (c.commit, c.paths.iter().map(ToString::to_string).collect()))
        .collect();
    assert_eq!(
        listed,
        [
            (1, vec!["users".to_owned()]),
            (2, vec!["users.u2.name".to_owned()]),
            (4, vec!["users".to_owned()]),
        ]
    );
    // From a commit on, and up to one.
    let later: Vec<u64> = store
        .changes(&p("users"), 1, 3)
        .unwrap()
        .iter()
        .map(|c| c.commit)
        .collect();
    assert_eq!(later, [2]);
    assert!(store.changes(&p("users"), 4, 4).unwrap().is_empty());
    assert!(matches!(
        store.changes(&p("users"), 0, 5),
        Err(StoreError::NoSuchCommit { commit: 5, .. })
    ));
}

#[test]
fn the_log_lists_commits_with_transactions_and_times() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for i in 0..4 {
        let path = if i % 2 == 0 { "a" } else { "b" };
        store.commit(vec![(p(path), Node::int(i))]).unwrap();
    }
    let all = store.log(None, 1, 4).unwrap();
    assert_eq!(
        all.iter().map(|c| c.commit).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(all
        .windows(2)
        .all(|w| w[0].tx < w[1].tx && w[0].timestamp <= w[1].timestamp));
    assert!(all[0].timestamp >= before);
    let of_b = store.log(Some(&p("b")), 1, 4).unwrap();
    assert_eq!(of_b.iter().map(|c| c.commit).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(of_b[0], all[1]);
    let middle = store.log(None, 2, 3).unwrap();
    assert_eq!(middle.iter().map(|c| c.commit).collect::<Vec<_>>(), [2, 3]);
    assert!(store.log(None, 3, 2).unwrap().is_empty());
    assert!(matches!(
        store.log(None, 1, 9),
        Err(StoreError::NoSuchCommit { .. })
    ));
}

#[test]
fn diff_between_commits_patches_one_value_into_the_other() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    store
        .commit(vec![(p("doc"), tony("{a: 1 b: [1 2 3] s: hello}"))])
        .unwrap();
    store
        .commit(vec![(p("doc"), tony("{a: 2 c: true}"))])
        .unwrap();
    store.commit(vec![(p("doc.b"), tony("[1 3]"))]).unwrap();
    for (from, to) in [(1, 3), (3, 1), (0, 2), (2, 0), (1, 2)] {
        let before = store
            .read_at(&p("doc"), from)
            .unwrap()
            .unwrap_or_else(Node::null);
        let after = store
            .read_at(&p("doc"), to)
            .unwrap()
            .unwrap_or_else(Node::null);
        let d = store
            .diff(&p("doc"), from, to)
            .unwrap()
            .expect("the values differ");
        let patched = tonystore::patch::patch(&before, &d).unwrap();
        assert_eq!(
            encode_wire(&patched),
            encode_wire(&after),
            "diff {from} -> {to}"
        );
    }
    assert_eq!(store.diff(&p("doc.s"), 1, 3).unwrap(), None);
    assert!(matches!(
        store.diff(&p("doc"), 1, 4),
        Err(StoreError::NoSuchCommit { .. })
    ));
}

#[test]
fn a_replacement_makes_the_value_exactly_the_given_one() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    store
        .commit(vec![(p("o"), tony("{a: 1 b: 2 n: {x: 1 y: 2}}"))])
        .unwrap();
    // Merging keeps what is there; replacing does not.
    for target in [
        "{c: 3}",
        "{b: 2 a: 1 n: {x: 1 y: 2}}",
        "{a: 1 b: 2 n: {y: 2 x: 1}}",
        "{a: 1 b: 2 n: {x: 1 y: 2}}",
        "[1 2]",
        "null",
        "{n: !tagged {x: 1}}",
        "\"text\"",
    ] {
        let value = tony(target);
        let patch = store.replacement(&p("o"), &value).unwrap();
        store.commit(vec![(p("o"), patch)]).unwrap();
        assert_eq!(
            wire(store.read(&p("o")).unwrap()),
            encode_wire(&value),
            "{target}"
        );
        assert_eq!(
            wire(store.read_at(&p("o"), store.head()).unwrap()),
            encode_wire(&value)
        );
    }
    // Every member changed by value: the diff rewrites each with a checked `!replace`, so the
    // entry determines the object whole and reads start there, on a state they never see.
    store
        .commit(vec![(p("o"), tony("{a: 1 b: {c: 2}}"))])
        .unwrap();
    for target in ["{a: 5 b: {c: 6}}", "{a: !t 5 b: {c: 7}}"] {
        let value = tony(target);
        let patch = store.replacement(&p("o"), &value).unwrap();
        let c = store.commit(vec![(p("o"), patch)]).unwrap();
        for at in ["o", "o.a", "o.b", "o.b.c", ""] {
            let want = tonystore::kpath::get(&store.read(&KPath::root()).unwrap().unwrap(), &p(at))
                .unwrap()
                .cloned();
            assert_eq!(
                wire(store.read_at(&p(at), c).unwrap()),
                wire(want.clone()),
                "{target} at {at}"
            );
            let mut streamed = Vec::new();
            assert!(store.read_stream(&p(at), c, &mut streamed).unwrap());
            assert_eq!(
                String::from_utf8(streamed).unwrap(),
                wire(want),
                "streamed {at}"
            );
        }
    }
    // The same after reopening (the index from disk, no cached patches).
    store.close().unwrap();
    let mut store = open(&dir);
    assert_eq!(
        wire(store.read_at(&p("o"), store.head()).unwrap()),
        "{a: !t 5 b: {c: 7}}"
    );
    // At an absent path, a replacement creates the value.
    let patch = store.replacement(&p("fresh.x"), &tony("{k: v}")).unwrap();
    store.commit(vec![(p("fresh.x"), patch)]).unwrap();
    assert_eq!(wire(store.read(&p("fresh")).unwrap()), "{x: {k: v}}");
}

#[test]
fn reading_beyond_the_head_is_an_error() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    store.commit(vec![(p("a"), Node::int(1))]).unwrap();
    assert!(matches!(
        store.read_at(&p("a"), 2),
        Err(StoreError::NoSuchCommit { commit: 2, head: 1 })
    ));
    assert_eq!(store.read_at(&p("a"), 0).unwrap(), None);
    assert_eq!(
        store.read_at(&KPath::root(), 0).unwrap(),
        Some(Node::null())
    );
}

#[test]
fn streamed_values_equal_plain_reads_around_style_tags() {
    let dir = MemDir::new();
    let options = Options {
        offset_index_min_bytes: 0,
        ..Options::default()
    };
    let mut store = Store::open(&dir, options).unwrap();
    // Plain data: the style tag on `a` is not data, so `a` cannot be copied from the bytes.
    store
        .commit(vec![(KPath::root(), tony("{a: !bracket.t {x: 1}, c: 1}"))])
        .unwrap();
    // Under `!insert` every tag is data, so `b` is copied as written.
    store
        .commit(vec![(KPath::root(), tony("!insert {b: !bracket.t [1]}"))])
        .unwrap();
    for (path, at) in [("a", 1), ("a.x", 1), ("b", 2)] {
        let plain = encode_wire(&store.read_at(&p(path), at).unwrap().unwrap());
        let mut streamed = Vec::new();
        assert!(store.read_stream(&p(path), at, &mut streamed).unwrap());
        assert_eq!(String::from_utf8(streamed).unwrap(), plain, "{path}");
    }
    assert_eq!(wire(store.read_at(&p("a"), 1).unwrap()), "!t {x: 1}");
    assert_eq!(
        store.stats().streamed_from_log,
        1,
        "only the inserted value streams from the log"
    );
}

#[test]
fn reads_below_edited_arrays_map_elements_through_the_edits() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    let element =
        |i: i64| tonystore::tony::parse(&format!("{{id: {i}, name: n{i}, tags: [a, b]}}")).unwrap();
    let list: Vec<Node> = (0..12).map(element).collect();
    let root = Node::object(vec![(tonystore::tony::Key::str("list"), Node::array(list))]);
    let mut states = vec![Node::null()];
    let mut edits = vec![(p(""), root.with_tag("!insert"))];
    edits.extend([
        (p("list[3].name"), Node::string("renamed")),
        (p("list[0]"), element(100).with_tag("!insert")),
        (p("list[6]"), element(5).with_tag("!delete")),
        (p("list[2].tags"), tonystore::tony::parse("[c]").unwrap()),
        (
            p("list[9]"),
            tonystore::tony::parse("!replace {from: {id: 9, name: n9, tags: [a, b]}, to: 42}")
                .unwrap(),
        ),
        (p("list[11]"), element(200).with_tag("!insert")),
        (p("list[1].id"), Node::int(-1)),
    ]);
    for (path, edit) in edits {
        let root =
            tonystore::engine::TransactionBuffer::from_patch(path.clone(), edit.clone()).unwrap();
        let next = tonystore::patch::patch(states.last().unwrap(), &root).unwrap();
        store.commit(vec![(path, edit)]).unwrap();
        states.push(next);
    }
    // Fresh open: nothing cached, the head state not built.
    store.close().unwrap();
    drop(store);
    let store = open(&dir);
    for (c, state) in states.iter().enumerate().skip(1) {
        for i in 0..14 {
            for below in ["", ".name", ".tags[0]"] {
                let path = p(&format!("list[{i}]{below}"));
                let want = get(state, &path).map(|n| n.cloned());
                let got = store.read_at(&path, c as u64);
                match (want, got) {
                    (Ok(w), Ok(g)) => assert_eq!(g, w, "{path} at {c}"),
                    (Err(_), Err(_)) => {}
                    (w, g) => panic!("{path} at {c}: {w:?} vs {g:?}"),
                }
            }
        }
    }
    assert!(store.stats().read_through_array_edits > 50);
}

#[test]
fn merge_finds_every_path_conflict() {
    // Paths over a tiny alphabet, so that some contain others; the merge must refuse exactly
    // the sets where one path contains (or equals) another, as the pairwise definition says.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..2_000 {
        let count = 1 + next() % 12;
        let paths: Vec<KPath> = (0..count)
            .map(|_| {
                let len = 1 + next() % 3;
                let text: Vec<String> = (0..len).map(|_| format!("f{}", next() % 3)).collect();
                p(&text.join("."))
            })
            .collect();
        let conflict = paths.iter().enumerate().any(|(i, a)| {
            paths[i + 1..]
                .iter()
                .any(|b| a.is_prefix_of(b) || b.is_prefix_of(a))
        });
        let mut buffer = TransactionBuffer::new();
        for path in &paths {
            buffer.add(path.clone(), Node::int(1));
        }
        let merged = buffer.merge();
        assert_eq!(merged.is_err(), conflict, "{paths:?}: {merged:?}");
    }
}

#[test]
fn compacted_levels_read_the_same_after_a_reopen() {
    // Reopening defers the tries of compacted levels until a read needs them: segments and
    // reads through compacted entries must be what they were before the reopen.
    let dir = MemDir::new();
    let options = || Options {
        divisor: 2,
        durability: Durability::OnFlush,
        ..Options::default()
    };
    let mut store = Store::open(&dir, options()).unwrap();
    for i in 0..200 {
        // Members set one by one: reads of `o` merge many entries (no single one determines it).
        let path = format!("o.k{}", i % 7);
        store.commit(vec![(p(&path), Node::int(i))]).unwrap();
    }
    let probe = |store: &mut Store| {
        let segments: Vec<Vec<(u64, u64)>> = (0..4u8)
            .map(|level| {
                store
                    .segments(&p("o.k3"), level, 0, 200)
                    .unwrap()
                    .iter()
                    .map(|s| (s.end_commit, s.log_position))
                    .collect()
            })
            .collect();
        let reads: Vec<Option<Node>> = [37u64, 100, 163, 200]
            .iter()
            .map(|&at| store.read_at(&p("o"), at).unwrap())
            .collect();
        (segments, reads)
    };
    let before = probe(&mut store);
    assert!(!before.0[3].is_empty(), "level 3 lists entries");
    store.close().unwrap();
    drop(store);
    let mut store = Store::open(&dir, options()).unwrap();
    assert_eq!(store.stats().recovery, "none");
    assert_eq!(probe(&mut store), before);
    // New compacted entries after the reopen join the deferred ones in order.
    for i in 200..260 {
        store
            .commit(vec![(p(&format!("o.k{}", i % 7)), Node::int(i))])
            .unwrap();
    }
    let o = store.read_at(&p("o"), 260).unwrap().unwrap();
    assert_eq!(get(&o, &p("k1")).unwrap(), Some(&Node::int(253)));
}

#[test]
fn pending_commits_show_in_reads_at_the_head_without_being_committed() {
    let dir = MemDir::new();
    let mut store = open(&dir);
    store
        .commit(vec![(p("doc"), tony("{title: one n: 1}"))])
        .unwrap();
    let first = store
        .pending_commit(vec![
            (p("doc.title"), tony("two")),
            (p("extra"), Node::int(1)),
        ])
        .unwrap();
    // A checked op that no longer applies is skipped, not an error.
    let stale = store
        .pending_commit(vec![(p("doc.n"), tony("!replace {from: 5 to: 6}"))])
        .unwrap();
    let (doc, applied) = store
        .read_pending(&p("doc"), &[first.clone(), stale])
        .unwrap();
    assert_eq!(wire(doc), "{title: two n: 1}");
    assert_eq!(applied, 1);
    assert_eq!(
        store.read_pending(&p("extra"), &[first]).unwrap().0,
        Some(Node::int(1))
    );
    // Nothing was written.
    assert_eq!(store.head(), 1);
    assert_eq!(wire(store.read(&p("doc")).unwrap()), "{title: one n: 1}");
    assert!(matches!(
        store.pending_commit(vec![(p("a"), Node::int(1)), (p("a"), Node::int(2))]),
        Err(StoreError::Merge(_))
    ));
}

/// A wide object committed in one go under an existing document: the commit is indexed at the
/// new object (one independent end), not as a dependent end at the root, so a read of one
/// member starts at that entry and follows it down to the member instead of building the
/// document or the object (which took ~50 ms per read for 2,000 members, quadratic in width).
#[test]
fn a_member_of_a_wide_new_object_is_read_from_its_entry_alone() {
    let dir = MemDir::new();
    let mut store = Store::open(&dir, Options::default()).unwrap();
    store.commit(vec![(p("docs.a"), Node::int(1))]).unwrap();
    let member = |i: usize| tony(&format!("{{id: {i}, name: 'item {i}', list: [{i}, x]}}"));
    let wide = Node::object(
        (0..5000)
            .map(|i| (format!("k{i}").as_str().into(), member(i)))
            .collect(),
    );
    store.commit(vec![(p("docs.big"), wide)]).unwrap();
    store.commit(vec![(p("docs.other"), Node::int(3))]).unwrap();
    // Commit 2 is listed under `docs.big`, independently: the read starts there.
    let listed = store.segments(&p("docs.big.k37"), 0, 0, 3).unwrap();
    let last = listed.last().unwrap();
    assert_eq!(last.start_commit, 2, "{listed:?}");
    assert_eq!(last.kinded_path, p("docs.big"));
    assert_eq!(last.ends_above, Some(true));
    for i in (0..5000).step_by(97) {
        let path = p(&format!("docs.big.k{i}"));
        assert_eq!(store.read_at(&path, 3).unwrap(), Some(member(i)), "{path}");
        assert_eq!(store.read_at(&path, 1).unwrap(), None, "{path}");
    }
    assert_eq!(
        store.read_at(&p("docs.big.k4999.list[1]"), 2).unwrap(),
        Some(Node::string("x"))
    );
    assert_eq!(store.read_at(&p("docs.big.nope"), 3).unwrap(), None);
    // The same after reopening (the index as saved) and with the index rebuilt from the logs.
    store.close().unwrap();
    let store = Store::open(&dir, Options::default()).unwrap();
    assert_eq!(
        store.read_at(&p("docs.big.k4000"), 3).unwrap(),
        Some(member(4000))
    );
    // The change feed names the new object.
    let changes = store.changes(&p("docs"), 1, 3).unwrap();
    let named: Vec<(u64, Vec<KPath>)> = changes.into_iter().map(|c| (c.commit, c.paths)).collect();
    assert_eq!(
        named,
        [(2, vec![p("docs.big")]), (3, vec![p("docs.other")])]
    );
}

/// Commits `commits` one by one to `store` and to a naive model; the model's state after each
/// (index: commit; 0 is the empty document).
fn commit_beside_the_model(store: &mut Store, commits: &[(KPath, Node)]) -> Vec<Node> {
    let mut states = vec![Node::null()];
    for (path, value) in commits {
        let root = TransactionBuffer::from_patch(path.clone(), value.clone()).unwrap();
        states.push(tonystore::patch::patch(states.last().unwrap(), &root).unwrap());
        store.commit(vec![(path.clone(), value.clone())]).unwrap();
    }
    states
}

/// `store` reads `probe` at `commit` as `get` reads it in the model's `state`: the same value,
/// or an error for both.
fn assert_reads_as_the_model(store: &Store, state: &Node, probe: &KPath, commit: u64) {
    let want = get(state, probe).map(|n| n.cloned());
    let got = store.read_at(probe, commit);
    match (&want, &got) {
        (Ok(w), Ok(g)) => assert_eq!(g, w, "{probe} at {commit}"),
        (Err(_), Err(_)) => {}
        _ => panic!("{probe} at {commit}: model {want:?}, store {got:?}"),
    }
}

/// Members of an object whose merges are too wide to index member by member are read without
/// reading the object: below such a merge (a dependent end), each entry's sub-patch at the
/// member is found through its offset index (key filters prove most entries hold nothing
/// there), not by building the object whole as before. Values equal a naive replay at every
/// commit, cold (after a reopen) and warm, for members kept, rewritten, replaced by scalars
/// (read through: the scalar blocks the way), deleted, and never there.
#[test]
fn members_below_wide_merges_are_read_without_the_object() {
    const WIDTH: i64 = 3_000;
    let options = || Options {
        durability: Durability::OnFlush,
        index_limits: tonystore::engine::IndexLimits {
            max_members: 100,
            ..Default::default()
        },
        ..Options::default()
    };
    let members = |f: &dyn Fn(i64) -> Option<Node>| {
        Node::object(
            (0..WIDTH)
                .filter_map(|k| Some((format!("m{k}").as_str().into(), f(k)?)))
                .collect(),
        )
    };
    let record = |k: i64| tony(&format!("{{v: {k}, name: \"member {k}\"}}"));
    let commits: Vec<(KPath, Node)> = vec![
        // Created whole, then merged into member by member (too wide to index).
        (p("wide"), members(&|k| Some(record(k)))),
        (
            p("wide"),
            members(&|k| Some(tony(&format!("{{v: {}, note: \"merged again\"}}", k + 1)))),
        ),
        // A wide merge that deletes, replaces with scalars, and adds.
        (
            p("wide"),
            members(&|k| match k % 10 {
                0 => Some(Node::null().with_tag("!delete")),
                1 => Some(Node::int(-k)),
                2 => Some(tony(&format!("{{extra: {k}}}"))),
                _ => Some(tony("{pad: \"a merge large enough for an offset index\"}")),
            }),
        ),
        (p("wide.m13.v"), Node::int(13_000)),
        (p("other"), Node::int(1)),
    ];
    let dir = MemDir::new();
    let mut store = Store::open(&dir, options()).unwrap();
    let states = commit_beside_the_model(&mut store, &commits);
    let probes: Vec<KPath> = [
        "wide.m3",
        "wide.m3.v",
        "wide.m3.name",
        "wide.m10",
        "wide.m10.v",
        "wide.m11",
        "wide.m11.v",
        "wide.m12",
        "wide.m12.extra",
        "wide.m13",
        "wide.m13.v",
        "wide.m2999",
        "wide.m5000",
        "wide.m5000.v",
    ]
    .iter()
    .map(|s| p(s))
    .collect();
    let check = |store: &Store| {
        for (c, state) in states.iter().enumerate().skip(1) {
            for probe in &probes {
                assert_reads_as_the_model(store, state, probe, c as u64);
            }
        }
    };
    check(&store);
    store.close().unwrap();
    drop(store);
    // Cold, members of the first three (large) commits read without parsing any entry
    // whole: through offset indexes (reading `wide` whole for each parsed every entry).
    let store = Store::open(&dir, options()).unwrap();
    for c in 1..=3u64 {
        for member in [
            "wide.m3",
            "wide.m10",
            "wide.m11",
            "wide.m12",
            "wide.m2999",
            "wide.m5000",
        ] {
            let want = get(&states[c as usize], &p(member)).unwrap().cloned();
            assert_eq!(
                store.read_at(&p(member), c).unwrap(),
                want,
                "{member} at {c}"
            );
        }
    }
    assert_eq!(store.stats().entries_read, 0, "{:?}", store.stats());
    assert!(store.stats().read_from_offsets > 0);
    check(&store);
}

/// Below a merge too wide to index (a dependent end), only the end's own members are taken
/// apart: a merge deeper inside it was never classified against the state, and may turn an
/// array into an object, which a member read of the old array must see (found by the model
/// test: `"x y"[1]` read as the old element).
#[test]
fn merges_inside_a_wide_merge_are_not_taken_apart() {
    let options = || Options {
        index_limits: tonystore::engine::IndexLimits {
            max_members: 2,
            ..Default::default()
        },
        ..Options::default()
    };
    let commits = [
        (KPath::root(), Node::int(0)),
        (p("\"x y\""), tony("[0, 0]")),
        // Three members: too wide, one dependent end at the root. `{}` at "x y" makes the
        // array an empty object.
        (KPath::root(), tony("{\"x y\": {}, c: -21, b: {}}")),
        (p("c"), tony("{k: 1}")),
    ];
    let dir = MemDir::new();
    let mut store = Store::open(&dir, options()).unwrap();
    let states = commit_beside_the_model(&mut store, &commits);
    for reopen in [false, true] {
        if reopen {
            store.close().unwrap();
            store = Store::open(&dir, options()).unwrap();
        }
        for probe in ["\"x y\"[1]", "\"x y\".k", "\"x y\"", "c", "c.k", "b.z"] {
            for (c, state) in states.iter().enumerate().skip(1) {
                assert_reads_as_the_model(&store, state, &p(probe), c as u64);
            }
        }
    }
}

/// An object merged into an array element that is itself an array replaces it: a read below
/// it by array index finds nothing there (an error, as `get` on the model gives), not the old
/// element. Found by the model test: the read through the `!arraydiff`'s edits took the
/// object merge for a patch that left the element's items alone.
#[test]
fn an_object_merged_into_an_array_element_replaces_it() {
    let commits = [
        (KPath::root(), tony("[[0, 1, 2], [3]]")),
        (p("[0]"), tony("{a: 0, b: 0}")),
        (p("[1][0]"), tony("{c: 1}")),
    ];
    let dir = MemDir::new();
    let mut store = Store::open(&dir, Options::default()).unwrap();
    let states = commit_beside_the_model(&mut store, &commits);
    for probe in [
        "[0][0]", "[0][2]", "[0]", "[0].a", "[1][0]", "[1][0].c", "[1]",
    ] {
        for (c, state) in states.iter().enumerate().skip(1) {
            assert_reads_as_the_model(&store, state, &p(probe), c as u64);
        }
    }
    assert_eq!(store.history(&p("[0][0]")).unwrap(), vec![1, 2]);
}
