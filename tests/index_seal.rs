//! Sealed runs of the index: opening reads only the unsealed tail, memory holds a bounded part
//! of the index, and damaged or stale index bytes are either recovered from or reported.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::atomic::Ordering;

use tonystore::engine::{Durability, Options, Store, StoreError};
use tonystore::kpath::KPath;
use tonystore::storage::{BlockFile, FsDir, MemDir, StoreDir};
use tonystore::tony::{parse, Node};

/// Runs of 16 commits (divisor 4, seal level 2).
fn options(seal_level: u8) -> Options {
    Options {
        divisor: 4,
        seal_level: Some(seal_level),
        durability: Durability::OnFlush,
        persist_every: 50,
        ..Options::default()
    }
}

fn path(p: u64) -> KPath {
    KPath::parse(&format!("docs.d{}.users.u{p}", p % 16)).unwrap()
}

/// The record commit `c` writes (at path `(c - 1) % 64`).
fn record(c: u64) -> Node {
    parse(&format!(
        r#"{{"name": "user {c}", "score": {}, "commit": {c}}}"#,
        c * 7 % 1000
    ))
    .unwrap()
}

fn fill(dir: &dyn StoreDir, commits: u64, options: Options) {
    let mut store = Store::open(dir, options).unwrap();
    for c in 1..=commits {
        store.commit(vec![(path((c - 1) % 64), record(c))]).unwrap();
    }
    store.close().unwrap();
}

/// What `read_at(path(p), at)` must return.
fn expected(p: u64, at: u64) -> Option<Node> {
    // The last commit up to `at` that wrote path `p`.
    let last = (1..=at).rev().find(|c| (c - 1) % 64 == p)?;
    Some(record(last))
}

fn check_reads(store: &Store, head: u64) {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (p, at) = (x % 64, 1 + (x >> 20) % head);
        assert_eq!(
            store.read_at(&path(p), at).unwrap(),
            expected(p, at),
            "{p} at {at}"
        );
    }
}

#[test]
fn opening_reads_the_unsealed_tail_and_memory_holds_a_bounded_index() {
    let (dir, read) = common::CountingDir::new();
    let commits = 4_000;
    fill(&dir, commits, options(2));
    let index_len = dir.inner.open("index.log").unwrap().len().unwrap();
    read.store(0, Ordering::Relaxed);
    let store = Store::open(&dir, options(2)).unwrap();
    let at_open = read.load(Ordering::Relaxed);
    let stats = store.stats();
    assert_eq!(stats.recovery, "none");
    assert_eq!(stats.sealed_commits, commits / 16 * 16);
    // The seal records (a run's level-2 and higher entries), the last table's neighbourhood
    // and the tail: a small part of the index log.
    assert!(
        at_open * 8 < index_len,
        "opening read {at_open} of {index_len} bytes of index.log"
    );
    // The tail (under 16 commits, with their level-1 entries) and one entry per run at level
    // 2 and above: 4,000 commits would be 5,300 entries.
    assert!(stats.indexed_in_memory < 400, "{stats:?}");
    check_reads(&store, commits);
    // Reads at the head and history across runs.
    assert_eq!(
        store.read_at(&path(5), commits).unwrap(),
        expected(5, commits)
    );
    let history = store.history(&path(5)).unwrap();
    let writes: Vec<u64> = (1..=commits).filter(|c| (c - 1) % 64 == 5).collect();
    assert_eq!(history, writes);
    let changes = store.changes(&path(5), 100, 3_000).unwrap();
    let commits_changed: Vec<u64> = changes.iter().map(|c| c.commit).collect();
    assert_eq!(
        commits_changed,
        writes
            .iter()
            .copied()
            .filter(|c| (101..=3_000).contains(c))
            .collect::<Vec<_>>()
    );
}

/// A block cache too small for one table (a block per generation) evicts at every lookup;
/// the reads, counted block reads included, stay right.
#[test]
fn a_tiny_table_cache_reads_the_same() {
    let (dir, read) = common::CountingDir::new();
    let commits = 2_000;
    fill(&dir, commits, options(2));
    let tiny = || Options {
        index_cache_bytes: 0,
        ..options(2)
    };
    let store = Store::open(&dir, tiny()).unwrap();
    read.store(0, Ordering::Relaxed);
    check_reads(&store, commits);
    let tiny_reads = read.load(Ordering::Relaxed);
    drop(store);
    let store = Store::open(&dir, options(2)).unwrap();
    read.store(0, Ordering::Relaxed);
    check_reads(&store, commits);
    let default_reads = read.load(Ordering::Relaxed);
    assert!(
        tiny_reads > default_reads,
        "a tiny cache reads more: {tiny_reads} against {default_reads} bytes"
    );
}

#[test]
fn a_damaged_table_block_is_an_error_naming_the_file_and_offset() {
    // In memory the tables are read through the block cache; a memory-mapped file is read in
    // place, each block checked the first time.
    let tmp = tempfile::tempdir().unwrap();
    let mapped = FsDir::create(tmp.path().join("store")).unwrap();
    let dirs: [(&str, &dyn StoreDir); 2] = [("memory", &MemDir::new()), ("mapped", &mapped)];
    for (name, dir) in dirs {
        fill(dir, 400, options(2));
        // The first table's blocks start after the 16-byte file header, the two 32-byte
        // superblock slots, the 16-byte header of the table's record and its kind byte.
        let index = dir.open("index.log").unwrap();
        let mut byte = [0u8; 1];
        index.read_exact_at(97 + 100, &mut byte).unwrap();
        index.write_all_at(97 + 100, &[byte[0] ^ 0x55]).unwrap();
        index.close().unwrap();
        drop(index);
        let mut store = Store::open(dir, options(2)).unwrap();
        match store.read_at(&path(3), 4) {
            Err(StoreError::Corrupt { file, offset, .. }) => {
                assert!(file.ends_with("index.log"), "{name}: {file}");
                assert_eq!(offset, 97, "{name}");
            }
            other => panic!("{name}: expected a corrupt table block, got {other:?}"),
        }
        // Runs elsewhere still read, and the damaged block stays an error.
        assert_eq!(store.read_at(&path(3), 399).unwrap(), expected(3, 399));
        assert!(store.read_at(&path(3), 4).is_err(), "{name}");
        assert!(matches!(store.verify(), Err(StoreError::Corrupt { .. })));
    }
}

#[test]
fn lost_superblocks_and_damaged_seal_records_are_recovered_from() {
    let dir = MemDir::new();
    fill(&dir, 1_000, options(2));
    let index = dir.open("index.log").unwrap();
    // Both superblock slots lost: every record is replayed from the start.
    index.write_all_at(16, &[0; 64]).unwrap();
    drop(index);
    let store = Store::open(&dir, options(2)).unwrap();
    assert_eq!(store.stats().recovery, "none");
    assert_eq!(store.stats().sealed_commits, 992);
    check_reads(&store, 1_000);
    drop(store);
    // The superblock was pointed at the last seal again; damage that seal record.
    let index = dir.open("index.log").unwrap();
    let mut slots = [0u8; 64];
    index.read_exact_at(16, &mut slots).unwrap();
    let slot = |i: usize| {
        let word = |at: usize| u64::from_be_bytes(slots[at..at + 8].try_into().unwrap());
        (word(i * 32), word(i * 32 + 8))
    };
    let (_, last_seal) = slot(0).max(slot(1));
    assert!(last_seal > 80, "the superblock names no seal");
    index.write_all_at(last_seal + 20, b"\xff\xff").unwrap();
    drop(index);
    let store = Store::open(&dir, options(2)).unwrap();
    assert_eq!(store.stats().recovery, "incremental");
    check_reads(&store, 1_000);
    drop(store);
    let store = Store::open(&dir, options(2)).unwrap();
    assert_eq!(store.stats().recovery, "none");
    assert_eq!(store.stats().sealed_commits, 992);
    check_reads(&store, 1_000);
}

#[test]
fn a_changed_seal_level_rebuilds_what_no_longer_fits() {
    let dir = MemDir::new();
    fill(&dir, 500, options(2));
    let mut store = Store::open(&dir, options(1)).unwrap();
    assert_ne!(store.stats().recovery, "none");
    check_reads(&store, 500);
    // Runs of 4 commits now.
    for c in 501..=600 {
        store.commit(vec![(path((c - 1) % 64), record(c))]).unwrap();
    }
    store.close().unwrap();
    drop(store);
    let store = Store::open(&dir, options(1)).unwrap();
    assert_eq!(store.stats().recovery, "none");
    assert_eq!(store.stats().sealed_commits, 600);
    check_reads(&store, 600);
}

/// A run's composed entry may end above where its commits did (a later commit of the run
/// replaced the whole document): a sealed lookup must still find the commits' ends below it.
#[test]
fn ends_below_a_runs_composed_end_are_found() {
    let dir = MemDir::new();
    let options = || Options {
        divisor: 2,
        seal_level: Some(2),
        ..Options::default()
    };
    let mut store = Store::open(&dir, options()).unwrap();
    let commit = |store: &mut Store, path: &str, value: &str| {
        store
            .commit(vec![(KPath::parse(path).unwrap(), parse(value).unwrap())])
            .unwrap()
    };
    commit(&mut store, "b", "{c: 747}");
    commit(&mut store, "b", "!insert 5");
    commit(&mut store, "b", "!insert 6");
    // The run (0, 4] composes to one replacement of the root.
    commit(&mut store, "", "!insert {b: {c: 1}}");
    store.close().unwrap();
    drop(store);
    let store = Store::open(&dir, options()).unwrap();
    assert_eq!(store.stats().sealed_commits, 4);
    let path = KPath::parse("b.c").unwrap();
    assert_eq!(store.read_at(&path, 1).unwrap(), Some(Node::int(747)));
    for at in [2, 3] {
        assert!(
            matches!(store.read_at(&path, at), Err(StoreError::Get(_))),
            "b.c at {at}: {:?}",
            store.read_at(&path, at)
        );
    }
    assert_eq!(store.read_at(&path, 4).unwrap(), Some(Node::int(1)));
}

#[test]
fn a_sealed_store_opens_read_only_ships_and_imports() {
    let dir = MemDir::new();
    fill(&dir, 700, options(2));
    let files = ["level0.log", "compact.log", "index.log"];
    let bytes = |dir: &MemDir| -> Vec<Vec<u8>> {
        files
            .iter()
            .map(|name| {
                let f = dir.open(name).unwrap();
                let mut b = vec![0u8; f.len().unwrap() as usize];
                f.read_exact_at(0, &mut b).unwrap();
                b
            })
            .collect()
    };
    let before = bytes(&dir);
    let read_only = Options {
        read_only: true,
        ..options(2)
    };
    let store = Store::open(&dir, read_only).unwrap();
    assert_eq!(store.stats().sealed_commits, 688);
    check_reads(&store, 700);
    // Every commit ships from the sealed runs, and a store importing them seals its own.
    let shipment = store.export(0, usize::MAX).unwrap();
    drop(store);
    assert_eq!(bytes(&dir), before, "a read-only open changed the files");
    let copy = MemDir::new();
    let mut imported = Store::open(&copy, options(2)).unwrap();
    imported.import(&shipment).unwrap();
    imported.close().unwrap();
    drop(imported);
    let imported = Store::open(&copy, options(2)).unwrap();
    assert_eq!(imported.stats().sealed_commits, 688);
    check_reads(&imported, 700);
}
