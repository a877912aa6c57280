//! Commits without the head document (`Options::head_state_max_bytes`): a store whose
//! document is estimated past the bound reads from the log only what each patch looks at. It must decide every
//! commit as a store holding the whole document does, and a commit into a large document must
//! cost what the patch touches.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::tony;
use tonystore::engine::{Options, Store, StoreError};
use tonystore::kpath::KPath;
use tonystore::storage::MemDir;
use tonystore::tony::{encode_wire, Node};

#[global_allocator]
static ALLOCATOR: common::Counting = common::Counting;

/// The heap is counted for the whole process: the tests run one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn p(s: &str) -> KPath {
    KPath::parse(s).unwrap()
}

fn options(head_in_memory: bool) -> Options {
    Options {
        head_state_max_bytes: if head_in_memory { u64::MAX } else { 0 },
        offset_index_min_bytes: 0,
        divisor: 4,
        ..Options::default()
    }
}

/// What a commit gave: its number or its error's code.
fn outcome(result: Result<u64, StoreError>) -> Result<u64, &'static str> {
    result.map_err(|e| e.code())
}

/// Each case: commits that set a state up, then a commit (patches at paths, preconditions)
/// whose outcome the two ways must agree on.
type Case = (
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
);

const CASES: &[Case] = &[
    // Sparse arrays (integer keys) must not take string keys, unless every integer goes.
    (&[("s", "{0: a, 1: b}")], &[("s", "{x: 1}")], &[]),
    (
        &[("s", "{0: a}")],
        &[("s{0}", "!delete null"), ("s.x", "1")],
        &[],
    ),
    (
        &[("s", "{0: a, 1: b}")],
        &[("s{0}", "!delete null"), ("s.x", "1")],
        &[],
    ),
    (
        &[("s", "{0: a, 1: b}")],
        &[
            ("s{1}", "!delete null"),
            ("s{0}", "!delete null"),
            ("s.x", "1"),
        ],
        &[],
    ),
    (&[("o", "{a: 1}")], &[("o{7}", "1")], &[]),
    (
        &[("o", "{a: 1}")],
        &[("o.a", "!delete null"), ("o{7}", "1")],
        &[],
    ),
    (&[("s", "{0: a}")], &[("s{3}", "{b: 1}")], &[]),
    // Merges into what is not an object replace it; below a scalar nothing is.
    (&[("x", "5")], &[("x.a.b", "1")], &[]),
    (&[("x", "[1 2]")], &[("x", "{a: 1}")], &[]),
    (&[("x", "!t {a: 1}")], &[("x", "{b: 2}")], &[]),
    (&[("x", "!t {a: 1}")], &[("x", "{a: 2}")], &[]),
    // Ops that check what is there.
    (
        &[("u", "!user {n: 1}")],
        &[("u", "!delete(user) null")],
        &[],
    ),
    (
        &[("u", "!user {n: 1}")],
        &[("u", "!delete(group) null")],
        &[],
    ),
    (
        &[("u", "{n: 1}")],
        &[("u.n", "!replace {from: 1, to: 2}")],
        &[],
    ),
    (
        &[("u", "{n: 1}")],
        &[("u.n", "!replace {from: 3, to: 2}")],
        &[],
    ),
    (&[("a", "[1 2 3]")], &[("a[1]", "9")], &[]),
    (&[("a", "[1 2 3]")], &[("a", "[{x: 1}]")], &[]),
    (&[("t", "hello")], &[("t", "!strdiff {0: !insert X}")], &[]),
    // Merges that name every member (the object is then determined here) or not.
    (&[("r", "{a: 1, b: 2}")], &[("r", "{a: 3, b: 4}")], &[]),
    (&[("r", "{a: 1, b: 2}")], &[("r", "{b: 3, a: 4}")], &[]),
    (
        &[("r", "{a: 1, b: 2}")],
        &[("r", "{a: 3, b: 4, c: 5}")],
        &[],
    ),
    (&[("r", "{a: 1, b: 2}")], &[("r", "{a: 3}")], &[]),
    (
        &[("r", "{a: {x: 1}, b: 2}")],
        &[("r", "{a: !insert {y: 1}, b: 3}")],
        &[],
    ),
    (&[("r", "!t {a: 1}")], &[("r", "{a: 3}")], &[]),
    (&[], &[("n", "{a: 1}")], &[]),
    (&[("q", "null")], &[("q", "{a: 1}")], &[]),
    (&[("q", "{}")], &[("q", "{}")], &[]),
    // Preconditions: matched, failed, and through a scalar (reads as null).
    (&[("u", "{v: 1}")], &[("u.n", "bob")], &[("u", "{v: 1}")]),
    (&[("u", "{v: 1}")], &[("u.n", "bob")], &[("u", "{v: 2}")]),
    (&[("u", "5")], &[("w", "1")], &[("u.v", "null")]),
    (&[("u", "5")], &[("w", "1")], &[("u.v.w", "1")]),
];

fn pairs(list: &[(&str, &str)]) -> Vec<(KPath, Node)> {
    list.iter()
        .map(|(path, text)| (p(path), tony(text)))
        .collect()
}

/// Runs a case on a store, reopened after the set-up so that no head state is in memory.
fn run(case: &Case, head_in_memory: bool) -> (MemDir, Result<u64, &'static str>) {
    let (setup, patches, preconditions) = case;
    let dir = MemDir::new();
    let mut store = Store::open(&dir, options(head_in_memory)).unwrap();
    for patch in pairs(setup) {
        store.commit(vec![patch]).unwrap();
    }
    store.close().unwrap();
    let mut store = Store::open(&dir, options(head_in_memory)).unwrap();
    let result = outcome(store.commit_with(pairs(patches), pairs(preconditions)));
    store.close().unwrap();
    (dir, result)
}

#[test]
fn commits_without_the_head_state_decide_as_with_it() {
    let _alone = one_at_a_time();
    for case in CASES {
        let (whole_dir, whole) = run(case, true);
        let (touched_dir, touched) = run(case, false);
        assert_eq!(whole, touched, "{case:?}");
        let whole = Store::open(&whole_dir, options(true)).unwrap();
        let touched = Store::open(&touched_dir, options(false)).unwrap();
        assert_eq!(
            whole.read(&KPath::root()).unwrap(),
            touched.read(&KPath::root()).unwrap(),
            "{case:?}"
        );
        // The ends recorded are the ones a store holding the document records: importing
        // the commits checks them against its own classification.
        let mut check = Store::open(&MemDir::new(), options(true)).unwrap();
        check
            .import(&touched.export(0, usize::MAX).unwrap())
            .unwrap_or_else(|e| panic!("{case:?}: {e}"));
    }
}

/// A document of `members` members of about 400 bytes each under `users`, imported 5,000 per
/// commit (merges wider than the index lists member by member: the index stays small, as
/// the commits' cost should).
fn large_document(dir: &MemDir, members: usize) {
    let mut store = Store::open(dir, Options::default()).unwrap();
    let note = "n".repeat(360);
    for start in (0..members).step_by(5000) {
        let batch: Vec<String> = (start..(start + 5000).min(members))
            .map(|i| {
                format!(
                    "u{i}: {{name: \"user {i}\", age: {}, note: {note}}}",
                    i % 90
                )
            })
            .collect();
        store
            .commit(vec![(
                p("users"),
                tony(&format!("{{{}}}", batch.join(", "))),
            )])
            .unwrap();
    }
    store.close().unwrap();
}

/// Opens the store, commits a change to one member and a new member, and closes it; returns
/// the heap the commits and the close grew by at their peak.
fn commit_two(dir: &MemDir, options: Options) -> usize {
    let mut store = Store::open(dir, options).unwrap();
    let head = store.head();
    let ((), peak) = common::peak_during(|| {
        store
            .commit(vec![(p("users.u4321.name"), Node::string("renamed"))])
            .unwrap();
        store
            .commit(vec![(p("users.new"), tony("{name: added, age: 1}"))])
            .unwrap();
        store.close().unwrap();
    });
    let store = Store::open(dir, Options::default()).unwrap();
    assert_eq!(store.head(), head + 2);
    let read = |path: &str| encode_wire(&store.read(&p(path)).unwrap().unwrap());
    assert_eq!(read("users.u4321.name"), "renamed");
    assert_eq!(read("users.u4321.age"), "1");
    assert_eq!(read("users.new.name"), "added");
    assert_eq!(read("users.u4320.name"), "\"user 4320\"");
    peak
}

#[test]
fn a_commit_into_a_large_document_costs_what_its_patch_touches() {
    let _alone = one_at_a_time();
    // Imports end away from a compaction boundary: the level built over them would read them.
    let members = if common::heavy() { 200_000 } else { 25_000 };
    let dir = MemDir::new();
    large_document(&dir, members);
    let touched = commit_two(
        &dir,
        Options {
            head_state_max_bytes: 1 << 20,
            ..Options::default()
        },
    );
    // The same commits holding the whole document (no bound) peak with it.
    let whole = commit_two(
        &dir,
        Options {
            head_state_max_bytes: u64::MAX,
            ..Options::default()
        },
    );
    assert!(
        touched < 1 << 20,
        "commits into a document of {members} members peaked at {touched} bytes of heap"
    );
    assert!(
        whole > 8 * (1 << 20),
        "holding the document peaked at only {whole} bytes: the test measures nothing"
    );
}

/// The first commit after a wide import that adds a member, or rewrites one whole, asks the
/// log about the object's other members (the kind of its keys; whether the merge names them
/// all): the newest merge into it is the import, which must be looked at, not built.
#[test]
fn a_first_commit_after_a_wide_import_does_not_build_the_import() {
    let _alone = one_at_a_time();
    for (path, value) in [
        ("users.added", "{name: added, age: 1}"),
        ("users.u777", "{name: whole, age: 2, note: n}"),
    ] {
        let dir = MemDir::new();
        large_document(&dir, 25_000);
        let mut store = Store::open(
            &dir,
            Options {
                head_state_max_bytes: 1 << 20,
                ..Options::default()
            },
        )
        .unwrap();
        let (commit, peak) = common::peak_during(|| store.commit(vec![(p(path), tony(value))]));
        commit.unwrap();
        assert!(
            peak < 1 << 20,
            "{path} after the import peaked at {peak} bytes of heap"
        );
        assert_eq!(store.read(&p(path)).unwrap(), Some(tony(value)));
    }
}

/// The bound is on the document, not on its history: a long history of a small document
/// keeps it in memory after a reopen (commits without it cost several times as much), and a
/// short history of a large one does not.
#[test]
fn the_head_state_is_kept_by_the_documents_size_not_the_historys() {
    let _alone = one_at_a_time();
    let dir = MemDir::new();
    let bound = || Options {
        head_state_max_bytes: 1 << 20,
        ..Options::default()
    };
    let record = |n: u64| tony(&format!("{{name: user{n}, note: {}}}", "x".repeat(200)));
    {
        let mut store = Store::open(&dir, Options::default()).unwrap();
        for n in 0..20_000u64 {
            let path = p(&format!("users.u{}", n % 64));
            store.commit(vec![(path, record(n))]).unwrap();
        }
        store.close().unwrap();
    }
    let mut store = Store::open(&dir, bound()).unwrap();
    let logs = store.stats().level0_bytes + store.stats().compact_bytes;
    assert!(logs > 4 << 20, "a history of only {logs} bytes");
    assert!(!store.stats().head_state_in_memory);
    store.commit(vec![(p("users.u1"), record(1))]).unwrap();
    assert!(store.stats().head_state_in_memory);
    store.close().unwrap();

    // A document past the bound, written in a few commits.
    let dir = MemDir::new();
    large_document(&dir, 5_000);
    let mut store = Store::open(&dir, bound()).unwrap();
    store
        .commit(vec![(p("users.u1.name"), tony("one"))])
        .unwrap();
    assert!(!store.stats().head_state_in_memory);
    assert_eq!(store.read(&p("users.u1.name")).unwrap(), Some(tony("one")));
}
