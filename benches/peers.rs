//! tonystore beside the stores a user would otherwise pick, on one workload, in one run.
//!
//! The workload (issue "performance and scale"): 100-byte JSON records written at 256 paths
//! `docs.d{p % 16}.users.u{p}`, round-robin, one commit per record (or 1,000 per commit), and
//! reads of random `(path, commit)` pairs, each checked against the commit that wrote it.
//! Peers: raw file append (+ `fdatasync`), SQLite (rusqlite, bundled, WAL; `synchronous` FULL
//! and OFF; reads both as the bare indexed lookup and returning the record as a parsed value,
//! as `read_at` does), redb. Every group measures one operation per iteration, so criterion's times are
//! per commit or per read; `scripts/bench` turns them into the rate and ratio tables of
//! `BENCHMARKS.md`.
//!
//! `TONYSTORE_BENCH_HISTORY` sets the history the reads run over (default 100,000 commits).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use redb::ReadableDatabase;
use rusqlite::{params, Connection};
use tonystore::engine::{Durability, Options, Store};
use tonystore::kpath::KPath;
use tonystore::storage::FsDir;
use tonystore::tony::{parse, Node};

/// How many distinct paths the workload writes.
const PATHS: u64 = 256;

/// The path record `n` (1-based) is written at: the workload's 256 paths, round-robin.
fn path_of(n: u64) -> String {
    path_among(n, PATHS)
}

/// The path record `n` is written at when there are `paths` paths. A commit of 1,000 records
/// spreads them over 4,096 paths: two patches at one path in one commit are a merge conflict
/// (as in the original), not a sequence.
fn path_among(n: u64, paths: u64) -> String {
    let p = (n - 1) % paths;
    format!("docs.d{}.users.u{p}", p % 16)
}

/// The paths of a commit benchmark writing `per_commit` records per commit.
fn paths_for(per_commit: u64) -> u64 {
    if per_commit > PATHS {
        4096
    } else {
        PATHS
    }
}

/// The ~100-byte JSON record commit `commit` writes; it names its commit.
fn record(commit: u64) -> String {
    format!(
        r#"{{"name":"user {c}","email":"user{c}@example.com","score":{s},"active":true,"commit":{commit}}}"#,
        c = commit % 10_000,
        s = commit * 7 % 100_000,
    )
}

/// The commit whose record `path` index `p` holds at `commit`, if any.
fn expected_writer(p: u64, commit: u64) -> Option<u64> {
    (commit > p).then(|| commit - (commit - 1 - p) % PATHS)
}

/// A deterministic sequence of `(path index, commit)` pairs over a history of `head` commits.
fn read_targets(head: u64) -> impl FnMut() -> (u64, u64) {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % PATHS, 1 + (x >> 20) % head)
    }
}

fn tony_options(durability: Durability) -> Options {
    Options {
        durability,
        ..Options::default()
    }
}

/// The tonystore side of a commit benchmark: each iteration commits `per_commit` records.
fn tonystore_commits(
    group: &mut BenchmarkGroup<WallTime>,
    name: &str,
    durability: Durability,
    per_commit: u64,
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = FsDir::create(tmp.path().join("store")).unwrap();
    let mut store = Store::open(&dir, tony_options(durability)).unwrap();
    let (mut n, paths) = (0u64, paths_for(per_commit));
    group.bench_function(name, |b| {
        b.iter(|| {
            let patches = (0..per_commit)
                .map(|_| {
                    n += 1;
                    (
                        KPath::parse(&path_among(n, paths)).unwrap(),
                        parse(&record(n)).unwrap(),
                    )
                })
                .collect();
            store.commit(patches).unwrap()
        })
    });
    store.close().unwrap();
}

/// SQLite in WAL mode with the given `synchronous` setting; records keyed by (path, commit).
fn sqlite(path: &std::path::Path, synchronous: &str) -> Connection {
    let db = Connection::open(path).unwrap();
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.pragma_update(None, "synchronous", synchronous).unwrap();
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS records (path TEXT NOT NULL, c INTEGER NOT NULL, v TEXT NOT NULL,
         PRIMARY KEY (path, c)) WITHOUT ROWID",
    )
    .unwrap();
    db
}

fn sqlite_commits(
    group: &mut BenchmarkGroup<WallTime>,
    name: &str,
    synchronous: &str,
    per_commit: u64,
) {
    let tmp = tempfile::tempdir().unwrap();
    let mut db = sqlite(&tmp.path().join("db.sqlite"), synchronous);
    let (mut n, paths) = (0u64, paths_for(per_commit));
    group.bench_function(name, |b| {
        b.iter(|| {
            let tx = db.transaction().unwrap();
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO records (path, c, v) VALUES (?1, ?2, ?3)")
                    .unwrap();
                for _ in 0..per_commit {
                    n += 1;
                    insert
                        .execute(params![path_among(n, paths), n as i64, record(n)])
                        .unwrap();
                }
            }
            tx.commit().unwrap();
        })
    });
}

const RECORDS: redb::TableDefinition<(&str, u64), &str> = redb::TableDefinition::new("records");

fn redb_commits(group: &mut BenchmarkGroup<WallTime>, name: &str, durable: bool, per_commit: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let db = redb::Database::create(tmp.path().join("db.redb")).unwrap();
    let (mut n, paths) = (0u64, paths_for(per_commit));
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut tx = db.begin_write().unwrap();
            if !durable {
                tx.set_durability(redb::Durability::None).unwrap();
            }
            {
                let mut table = tx.open_table(RECORDS).unwrap();
                for _ in 0..per_commit {
                    n += 1;
                    table
                        .insert((path_among(n, paths).as_str(), n), record(n).as_str())
                        .unwrap();
                }
            }
            tx.commit().unwrap();
        })
    });
}

/// Raw file I/O: each record appended with one `write`, then optionally `fdatasync`.
fn raw_appends(group: &mut BenchmarkGroup<WallTime>, name: &str, sync: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let mut file: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(tmp.path().join("raw.log"))
        .unwrap();
    let mut n = 0u64;
    group.bench_function(name, |b| {
        b.iter(|| {
            n += 1;
            let mut line = format!("{}\t", path_of(n));
            line.push_str(&record(n));
            line.push('\n');
            file.write_all(line.as_bytes()).unwrap();
            if sync {
                file.sync_data().unwrap();
            }
        })
    });
}

/// A group of few, long samples: each iteration is one commit or read of a long run.
fn long_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group
}

fn commits(c: &mut Criterion) {
    let mut group = long_group(c, "commit_durable");
    tonystore_commits(&mut group, "tonystore", Durability::EveryCommit, 1);
    raw_appends(&mut group, "raw_append_fdatasync", true);
    sqlite_commits(&mut group, "sqlite_wal_full", "FULL", 1);
    redb_commits(&mut group, "redb", true, 1);
    group.finish();

    let mut group = long_group(c, "commit_nosync");
    tonystore_commits(&mut group, "tonystore", Durability::OnFlush, 1);
    raw_appends(&mut group, "raw_append", false);
    sqlite_commits(&mut group, "sqlite_wal_off", "OFF", 1);
    redb_commits(&mut group, "redb", false, 1);
    group.finish();

    let mut group = long_group(c, "commit_1000");
    tonystore_commits(&mut group, "tonystore", Durability::OnFlush, 1000);
    sqlite_commits(&mut group, "sqlite_wal_off", "OFF", 1000);
    redb_commits(&mut group, "redb", false, 1000);
    group.finish();
}

fn history() -> u64 {
    std::env::var("TONYSTORE_BENCH_HISTORY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn commit_of(node: &Node) -> Option<u64> {
    let commit = tonystore::kpath::get(node, &KPath::parse("commit").unwrap()).ok()??;
    match &commit.value {
        tonystore::tony::Value::Int(c) => u64::try_from(*c).ok(),
        _ => None,
    }
}

/// Random `(path, commit)` reads over a history of [`history`] commits, each checked.
fn reads(c: &mut Criterion) {
    let head = history();
    let paths: Vec<String> = (1..=PATHS).map(path_of).collect();
    let kpaths: Vec<KPath> = paths.iter().map(|p| KPath::parse(p).unwrap()).collect();
    let mut group = long_group(c, "read_at");

    let tmp = tempfile::tempdir().unwrap();
    let dir = FsDir::create(tmp.path().join("store")).unwrap();
    let mut store = Store::open(&dir, tony_options(Durability::OnFlush)).unwrap();
    let loading = Instant::now();
    for n in 1..=head {
        store
            .commit(vec![(
                KPath::parse(&path_of(n)).unwrap(),
                parse(&record(n)).unwrap(),
            )])
            .unwrap();
    }
    store.flush().unwrap();
    eprintln!(
        "tonystore: {head} commits loaded in {:?}",
        loading.elapsed()
    );
    let mut next = read_targets(head);
    group.bench_function("tonystore", |b| {
        b.iter(|| {
            let (p, at) = next();
            let found = store.read_at(&kpaths[p as usize], at).unwrap();
            assert_eq!(found.as_ref().and_then(commit_of), expected_writer(p, at));
        })
    });
    store.close().unwrap();

    let mut db = sqlite(&tmp.path().join("db.sqlite"), "OFF");
    let tx = db.transaction().unwrap();
    for n in 1..=head {
        tx.execute(
            "INSERT INTO records (path, c, v) VALUES (?1, ?2, ?3)",
            params![path_of(n), n as i64, record(n)],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let mut query = db
        .prepare("SELECT c FROM records WHERE path = ?1 AND c <= ?2 ORDER BY c DESC LIMIT 1")
        .unwrap();
    let mut next = read_targets(head);
    group.bench_function("sqlite_indexed", |b| {
        b.iter(|| {
            let (p, at) = next();
            let found: Option<i64> = query
                .query_row(params![paths[p as usize], at as i64], |row| row.get(0))
                .ok();
            assert_eq!(found, expected_writer(p, at).map(|c| c as i64));
        })
    });
    // The same lookup returning what `read_at` returns, the record as a value: its text is
    // fetched and parsed (serde_json), and the commit checked from it.
    let mut query = db
        .prepare("SELECT v FROM records WHERE path = ?1 AND c <= ?2 ORDER BY c DESC LIMIT 1")
        .unwrap();
    let mut next = read_targets(head);
    group.bench_function("sqlite_indexed_value", |b| {
        b.iter(|| {
            let (p, at) = next();
            let found: Option<String> = query
                .query_row(params![paths[p as usize], at as i64], |row| row.get(0))
                .ok();
            let value = found.map(|text| serde_json::from_str::<serde_json::Value>(&text).unwrap());
            let commit = value.as_ref().and_then(|v| v["commit"].as_u64());
            assert_eq!(commit, expected_writer(p, at));
        })
    });

    let db = redb::Database::create(tmp.path().join("db.redb")).unwrap();
    let tx = db.begin_write().unwrap();
    {
        let mut table = tx.open_table(RECORDS).unwrap();
        for n in 1..=head {
            table
                .insert((path_of(n).as_str(), n), record(n).as_str())
                .unwrap();
        }
    }
    tx.commit().unwrap();
    let read = db.begin_read().unwrap();
    let table = read.open_table(RECORDS).unwrap();
    let mut next = read_targets(head);
    group.bench_function("redb", |b| {
        b.iter(|| {
            let (p, at) = next();
            let path = paths[p as usize].as_str();
            let found = table
                .range((path, 0)..=(path, at))
                .unwrap()
                .next_back()
                .map(|row| row.unwrap().0.value().1);
            assert_eq!(found, expected_writer(p, at));
        })
    });
    group.finish();
}

criterion_group!(benches, commits, reads);
criterion_main!(benches);
