//! The engine's five operations from the design document: append entry, read entry, readAt
//! (at growing history sizes), rebuild index, write transaction.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tonystore::engine::internals::LogFile;
use tonystore::engine::{Durability, LogEntry, Options, Store};
use tonystore::kpath::KPath;
use tonystore::storage::{BlockFile, MemBlockFile, MemDir, StoreDir};
use tonystore::tony::{parse, Node};

fn options() -> Options {
    Options {
        durability: Durability::OnFlush,
        persist_every: u64::MAX,
        ..Options::default()
    }
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

    let sizes: &[u64] = if std::env::var_os("TONYSTORE_HEAVY").is_some() {
        &[1_000, 100_000, 1_000_000]
    } else {
        &[1_000, 100_000]
    };
    let mut group = c.benchmark_group("read_at");
    for &n in sizes {
        let (_dir, store) = filled(n);
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
        eprintln!(
            "read_at at {n} commits: {} entries read (cold)",
            store.stats().entries_read - before
        );
    }
    group.finish();

    let (dir, mut store) = filled(10_000);
    store.flush().unwrap();
    drop(store);
    c.bench_function("rebuild_index/10k_commits", |b| {
        b.iter(|| {
            dir.open("index.log").unwrap().set_len(0).unwrap();
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
            store
                .commit(vec![(a, patch.clone()), (b2, Node::int(i as i64))])
                .unwrap()
        })
    });
}

/// Streaming a large sub-document out of the log against building it and encoding it.
fn streaming(c: &mut Criterion) {
    use criterion::Throughput;
    use tonystore::tony::{encode_wire, Key};
    let items: Vec<Node> = (0..200_000)
        .map(|i| {
            Node::object(vec![
                (Key::str("id"), Node::int(i)),
                (Key::str("name"), Node::string(&format!("item {i}"))),
            ])
        })
        .collect();
    let doc = Node::object(vec![(Key::str("big"), Node::array(items))]);
    let dir = MemDir::new();
    let mut store = Store::open(&dir, options()).unwrap();
    store
        .commit(vec![(KPath::root(), doc.with_tag("!insert"))])
        .unwrap();
    let path = KPath::parse("big").unwrap();
    let mut out = Vec::new();
    store.read_stream(&path, 1, &mut out).unwrap();
    let mut group = c.benchmark_group("large_subdocument");
    group.throughput(Throughput::Bytes(out.len() as u64));
    group.sample_size(10);
    group.bench_function("read_stream", |b| {
        b.iter(|| {
            let mut sink = std::io::sink();
            store.read_stream(&path, 1, &mut sink).unwrap()
        })
    });
    // Ten later commits edit elements spread over the array: they are applied while the rest
    // streams through.
    for i in 0..10 {
        let at = KPath::parse(&format!("big[{}].name", i * 19_997)).unwrap();
        store.commit(vec![(at, Node::string("renamed"))]).unwrap();
    }
    store.read_stream(&path, 11, &mut std::io::sink()).unwrap();
    assert_eq!(
        store.stats().streamed_patched,
        1,
        "the patched path is measured"
    );
    group.bench_function("read_stream_under_10_patches", |b| {
        b.iter(|| {
            let mut sink = std::io::sink();
            store.read_stream(&path, 11, &mut sink).unwrap()
        })
    });
    store.close().unwrap();
    drop(store);
    group.bench_function("open_read_at_then_encode", |b| {
        b.iter(|| {
            // A fresh open each time, so the read parses the entry instead of hitting the cache.
            let mut cold = Store::open(&dir, options()).unwrap();
            let len = encode_wire(&cold.read_at(&path, 1).unwrap().unwrap()).len();
            cold.close().unwrap();
            len
        })
    });
    group.finish();

    // One small path deep in the 6 MB entry, on a fresh open: built from the bytes around it
    // (offset index and seek references), not by parsing the entry.
    let mut group = c.benchmark_group("small_path_in_large_entry");
    let deep = KPath::parse("big[150000].name").unwrap();
    group.bench_function("fresh_open_read_at", |b| {
        b.iter(|| {
            let mut cold = Store::open(&dir, options()).unwrap();
            let found = cold.read_at(&deep, 1).unwrap();
            assert_eq!(cold.stats().entries_read, 0);
            cold.close().unwrap();
            found
        })
    });
    group.finish();
}

criterion_group!(benches, bench, streaming);
criterion_main!(benches);
