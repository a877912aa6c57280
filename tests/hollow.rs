//! Hollow compacted entries: a run whose composition would only copy its entries (independent
//! writes at distinct paths) is left to them. Reads, rebuilds, reopens and seals must read
//! those runs through the entries below, exactly as a replay does.
#![cfg(not(target_arch = "wasm32"))]

use tonystore::engine::internals::{LogFile, LOG_HEADER};
use tonystore::engine::TransactionBuffer;
use tonystore::engine::{Durability, Options, Stats, Store};
use tonystore::kpath::{get, KPath};
use tonystore::patch::patch;
use tonystore::storage::{BlockFile, MemDir, StoreDir};
use tonystore::tony::{parse, Node};

/// Runs of 4 commits at level 1, 16 at level 2, sealed every 64.
fn options() -> Options {
    Options {
        divisor: 4,
        seal_level: Some(3),
        durability: Durability::OnFlush,
        persist_every: 10,
        ..Options::default()
    }
}

/// The record commit `c` writes.
fn record(c: u64) -> Node {
    parse(&format!(r#"{{"name": "user {c}", "commit": {c}}}"#)).unwrap()
}

/// The frames of `compact.log` as (position, (level, key, hollow)).
fn frames(dir: &MemDir) -> Vec<(u64, (u8, u64, bool))> {
    let log = LogFile::open(dir.open("compact.log").unwrap(), 1 << 30, false).unwrap();
    let mut found = Vec::new();
    log.verify_frames(|pos, entry| {
        found.push((pos, (entry.level, entry.commit, entry.ends.is_empty())));
        Ok(())
    })
    .unwrap();
    found
}

/// Compacted entries of `compact.log` as (level, key, hollow).
fn compacted(dir: &MemDir) -> Vec<(u8, u64, bool)> {
    frames(dir).into_iter().map(|(_, entry)| entry).collect()
}

/// Commits `writes` (path, value) one per commit; returns the states after each commit.
fn run(store: &mut Store, states: &mut Vec<Node>, writes: &[(String, Node)]) {
    for (path, value) in writes {
        let path = KPath::parse(path).unwrap();
        let root = TransactionBuffer::from_patch(path.clone(), value.clone()).unwrap();
        store.commit(vec![(path, value.clone())]).unwrap();
        let next = patch(states.last().unwrap(), &root).unwrap();
        states.push(next);
    }
}

/// Every probe path at every commit reads as the replayed state.
fn check(store: &Store, states: &[Node], probes: &[&str]) {
    for (commit, state) in states.iter().enumerate().skip(1) {
        for probe in probes {
            let path = KPath::parse(probe).unwrap();
            let want = get(state, &path).ok().flatten().cloned();
            let got = store.read_at(&path, commit as u64).unwrap();
            assert_eq!(got, want, "{probe} at {commit}");
        }
    }
}

/// Commits `writes` to the store in `dir`, checks every probe at every commit and closes it;
/// returns the states after each commit.
fn filled(dir: &MemDir, writes: &[(String, Node)]) -> Vec<Node> {
    let mut store = Store::open(dir, options()).unwrap();
    let mut states = vec![Node::null()];
    run(&mut store, &mut states, writes);
    check(&store, &states, PROBES);
    store.close().unwrap();
    states
}

/// Opens the store in `dir`, checks every probe against `states` and closes it; returns the
/// store's stats as of the open.
fn reopen_and_check(dir: &MemDir, states: &[Node]) -> Stats {
    let mut store = Store::open(dir, options()).unwrap();
    let stats = store.stats();
    check(&store, states, PROBES);
    store.close().unwrap();
    stats
}

/// Records at 64 distinct paths, one per commit, then rewrites of a few of them.
fn writes() -> Vec<(String, Node)> {
    let mut writes: Vec<(String, Node)> = (1..=200u64)
        .map(|c| {
            let p = (c - 1) % 64;
            (format!("docs.d{}.users.u{p}", p % 4), record(c))
        })
        .collect();
    // A run of one path: its composition reduces (not hollow).
    for c in 201..=216u64 {
        writes.push((
            "docs.d1.users.u1.name".to_owned(),
            parse(&format!("n{c}")).unwrap(),
        ));
    }
    writes
}

const PROBES: &[&str] = &[
    "",
    "docs",
    "docs.d1",
    "docs.d1.users",
    "docs.d1.users.u1",
    "docs.d1.users.u1.name",
    "docs.d2.users.u6",
    "docs.d3.users.u63.commit",
];

#[test]
fn hollow_runs_read_like_a_replay_before_and_after_reopening_and_rebuilding() {
    let dir = MemDir::new();
    let states = filled(&dir, &writes());

    let entries = compacted(&dir);
    let hollow: Vec<_> = entries.iter().filter(|e| e.2).collect();
    // The records' runs at levels 1 and 2 are hollow; the seal level never is, and the runs
    // of one path's rewrites compose.
    assert!(
        hollow.iter().any(|e| e.0 == 1) && hollow.iter().any(|e| e.0 == 2),
        "{entries:?}"
    );
    assert!(hollow.iter().all(|e| e.0 < 3), "{entries:?}");
    for key in [204, 208, 212, 216] {
        assert!(
            entries.contains(&(1, key, false)),
            "level 1 at {key}: {entries:?}"
        );
    }

    // Reopened from the persisted index (sealed runs: hollow entries left out of the tables).
    let stats = reopen_and_check(&dir, &states);
    assert_eq!(stats.recovery, "none");
    assert_eq!(stats.sealed_commits, 192);

    // Rebuilt from the logs.
    dir.open("index.log").unwrap().set_len(0).unwrap();
    assert_eq!(reopen_and_check(&dir, &states).recovery, "full");
    // Nothing was built twice.
    assert_eq!(compacted(&dir), entries);
}

#[test]
fn a_lost_hollow_entry_is_rebuilt_the_same() {
    let dir = MemDir::new();
    // Under one seal run: nothing sealed, the compacted entries are all in memory.
    let states = filled(&dir, &writes()[..60]);
    let entries = compacted(&dir);
    assert!(entries.iter().any(|e| e.2), "{entries:?}");
    // Lose the last compacted entries (and the index): the open builds them again.
    let (cut, _) = frames(&dir)[entries.len() - 3];
    dir.open("compact.log").unwrap().set_len(cut).unwrap();
    dir.open("index.log").unwrap().set_len(0).unwrap();
    reopen_and_check(&dir, &states);
    assert_eq!(compacted(&dir), entries);
}

#[test]
fn a_store_with_a_version_1_compaction_log_composes_every_run() {
    let dir = MemDir::new();
    // A store as an older build created it: its logs are version 1.
    for name in ["level0.log", "compact.log"] {
        let file = dir.open(name).unwrap();
        let mut header = Vec::from(&b"TNYSTLOG"[..]);
        header.extend_from_slice(&1u32.to_be_bytes());
        let crc = crc32c::crc32c(&header);
        header.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(header.len() as u64, LOG_HEADER);
        file.write_all_at(0, &header).unwrap();
        file.sync().unwrap();
    }
    filled(&dir, &writes());
    let entries = compacted(&dir);
    assert!(
        !entries.is_empty() && entries.iter().all(|e| !e.2),
        "{entries:?}"
    );
    // The header was kept: an older build still opens the store.
    let mut header = [0u8; 16];
    dir.open("compact.log")
        .unwrap()
        .read_exact_at(0, &mut header)
        .unwrap();
    assert_eq!(&header[8..12], &1u32.to_be_bytes());
}

#[test]
fn runs_too_large_to_keep_in_memory_compose() {
    let dir = MemDir::new();
    let mut store = Store::open(&dir, options()).unwrap();
    let mut states = vec![Node::null()];
    // 70 KB records at distinct paths: four of them are more than a hollow run may hold.
    let big = "x".repeat(70_000);
    let writes: Vec<(String, Node)> = (1..=8u64)
        .map(|c| (format!("big.b{c}"), Node::string(&format!("{c}{big}"))))
        .collect();
    run(&mut store, &mut states, &writes);
    check(&store, &states, &["", "big", "big.b3"]);
    store.close().unwrap();
    drop(store);
    let entries = compacted(&dir);
    assert_eq!(entries, vec![(1, 4, false), (1, 8, false)]);
}
