//! The engine's five operations from the design document: append entry, read entry, readAt
//! (at growing history sizes), rebuild index, write transaction.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tonystore::engine::{Durability, LogEntry, LogFile, Options, Store};
use tonystore::kpath::KPath;
use tonystore::storage::{BlockFile, MemBlockFile, MemDir, StoreDir};
use tonystore::tony::{parse, Node};

fn options() -> Options {
    Options { durability: Durability::OnFlush, persist_every: u64::MAX, ..Options::default() }
}

fn filled(commits: u64) -> (MemDir, Store) {
    let dir = MemDir::new();
    let mut store = Store::open(&dir, options()).unwrap();
    for i in 0..commits {
        let path = KPath::parse(&format!("users.u{}.score", i % 100)).unwrap();
        store.commit(vec![(path, Node::int(i as i64))]).unwrap();
    }
    (dir, store)
}

fn bench(c: &mut Criterion) {
    let entry = LogEntry::from_wire("!entry {commit: 1 tx: 1 time: 0 ends: {\"users.u1.score\": true} patch: {users: {u1: {score: 7}}}}").unwrap();
    let payload = entry.to_wire();
    c.bench_function("append_entry", |b| {
        let mut log = LogFile::new(Box::new(MemBlockFile::new("bench")), 1 << 30).unwrap();
        b.iter(|| log.append(payload.as_bytes()).unwrap())
    });
    let mut log = LogFile::new(Box::new(MemBlockFile::new("bench")), 1 << 30).unwrap();
    let pos = log.append(payload.as_bytes()).unwrap();
    c.bench_function("read_entry", |b| b.iter(|| log.read_entry(pos).unwrap()));

    let sizes: &[u64] = if std::env::var_os("TONYSTORE_HEAVY").is_some() { &[1_000, 100_000, 1_000_000] } else { &[1_000, 100_000] };
    let mut group = c.benchmark_group("read_at");
    for &n in sizes {
        let (_dir, mut store) = filled(n);
        let path = KPath::parse("users.u42.score").unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                store.read_at(&path, 1 + (i * 7919) % n).unwrap()
            })
        });
        let before = store.stats().entries_read;
        store.read_at(&path, n - 1).unwrap();
        eprintln!("read_at at {n} commits: {} entries read (cold)", store.stats().entries_read - before);
    }
    group.finish();

    let (dir, mut store) = filled(10_000);
    store.flush().unwrap();
    drop(store);
    c.bench_function("rebuild_index/10k_commits", |b| {
        b.iter(|| {
            for slot in ["index.a", "index.b"] {
                dir.open(slot).unwrap().set_len(0).unwrap();
            }
            let store = Store::open(&dir, options()).unwrap();
            assert_eq!(store.head(), 10_000);
        })
    });

    let patch = parse("{name: \"ann\", tags: [a, b], address: {city: x}}").unwrap();
    c.bench_function("write_transaction", |b| {
        let dir = MemDir::new();
        let mut store = Store::open(&dir, options()).unwrap();
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            let a = KPath::parse(&format!("users.u{}", i % 1000)).unwrap();
            let b2 = KPath::parse(&format!("audit.a{}", i % 1000)).unwrap();
            store.commit(vec![(a, patch.clone()), (b2, Node::int(i as i64))]).unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
