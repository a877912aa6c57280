//! How costs grow with history: the commit rate over a long run, `read_at` at growing history
//! sizes, and reopening the store, on the peers benchmark's workload (100-byte records at 256
//! paths, one commit each, `Durability::OnFlush`, native files); with width: one-member
//! commits into objects of 10,000 to 1,000,000 members; and with document size: opening a
//! store holding a document of 64 MiB to 1 GiB, committing one member and closing it, each
//! time in a fresh process (time and peak resident memory).
//!
//! Prints CSV rows `series,x,y` on stdout for `scripts/bench`, which turns them into the
//! tables and SVG plots of `BENCHMARKS.md`. `TONYSTORE_BENCH_SCALE` sets the longest history
//! (default 200,000 commits; `scripts/bench --heavy` runs 1,000,000, and documents up to
//! 1 GiB); `TONYSTORE_BENCH_BIG_DOCUMENT=<MiB>` runs only the document of that size.

use std::time::Instant;

use tonystore::engine::{Durability, Options, Store};
use tonystore::kpath::KPath;
use tonystore::storage::FsDir;
use tonystore::tony::parse;

const PATHS: u64 = 256;

fn path(n: u64) -> KPath {
    let p = (n - 1) % PATHS;
    KPath::parse(&format!("docs.d{}.users.u{p}", p % 16)).unwrap()
}

fn record(n: u64) -> tonystore::tony::Node {
    parse(&format!(
        r#"{{"name":"user {c}","email":"user{c}@example.com","score":{s},"active":true,"commit":{n}}}"#,
        c = n % 10_000,
        s = n * 7 % 100_000,
    ))
    .unwrap()
}

fn options() -> Options {
    Options {
        durability: Durability::OnFlush,
        ..Options::default()
    }
}

/// Mean microseconds per `read_at` of random (path, commit) pairs over the whole history:
/// first over the 20,000 reads right after the commits (the caches and the file mappings
/// still cold for old commits), then over the 100,000 after those (steady state, like a
/// criterion measurement after its warm-up).
fn read_costs(store: &mut Store, head: u64) -> (f64, f64) {
    let paths: Vec<KPath> = (1..=PATHS).map(path).collect();
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ head;
    let mut mean_of = |reads: u32| {
        let start = Instant::now();
        for _ in 0..reads {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (p, at) = (x % PATHS, 1 + (x >> 20) % head);
            assert!(store.read_at(&paths[p as usize], at).unwrap().is_some() || at <= p);
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(reads)
    };
    let first = mean_of(20_000);
    (first, mean_of(100_000))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench` asks every bench binary for its list
    }
    if let Some(store) = std::env::var_os(BIG_DOCUMENT_CHILD) {
        return commit_one_member(std::path::Path::new(&store));
    }
    if let Some(mib) = std::env::var("TONYSTORE_BENCH_BIG_DOCUMENT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        println!("series,x,y");
        return big_document(mib);
    }
    let longest: u64 = std::env::var("TONYSTORE_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let window = (longest / 20).max(1);
    let checkpoints: Vec<u64> = [1_000u64, 10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|&c| c <= longest)
        .chain((!matches!(longest, 1_000 | 10_000 | 100_000 | 1_000_000)).then_some(longest))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let dir = FsDir::create(tmp.path().join("store")).unwrap();
    let mut store = Store::open(&dir, options()).unwrap();
    println!("series,x,y");
    let mut window_start = Instant::now();
    for n in 1..=longest {
        store.commit(vec![(path(n), record(n))]).unwrap();
        if n % window == 0 {
            let rate = window as f64 / window_start.elapsed().as_secs_f64();
            println!("commit_rate,{n},{rate:.0}");
            window_start = Instant::now();
        }
        if checkpoints.contains(&n) {
            let (first, steady) = read_costs(&mut store, n);
            println!("read_at_first_us,{n},{first:.2}");
            println!("read_at_us,{n},{steady:.2}");
            store.close().unwrap();
            drop(store);
            let start = Instant::now();
            store = Store::open(&dir, options()).unwrap();
            println!("open_ms,{n},{:.2}", start.elapsed().as_secs_f64() * 1e3);
            let stats = store.stats();
            println!(
                "index_bytes_per_commit,{n},{:.1}",
                stats.index_bytes as f64 / n as f64
            );
            // What the index holds in memory after the open: the unsealed tail and the
            // entries at the seal level and above.
            println!("index_entries_in_memory,{n},{}", stats.indexed_in_memory);
            window_start = Instant::now();
        }
    }
    store.close().unwrap();
    for width in [10_000, 100_000, 1_000_000] {
        if width <= longest {
            wide_object(width);
        }
    }
    let documents: &[u64] = match longest {
        ..100_000 => &[],
        100_000..1_000_000 => &[64],
        _ => &[64, 256, 1024],
    };
    for &mib in documents {
        big_document(mib);
    }
}

/// Set (to a store's directory) in the process [`big_document`] starts for each measurement.
const BIG_DOCUMENT_CHILD: &str = "TONYSTORE_BENCH_BIG_DOCUMENT_STORE";
/// Set in that process to read the logs with `pread` rather than through memory maps.
const BIG_DOCUMENT_UNMAPPED: &str = "TONYSTORE_BENCH_BIG_DOCUMENT_UNMAPPED";

/// A member of the big document: about 1 KiB.
fn big_member(k: u64, note: &str) -> tonystore::tony::Node {
    use tonystore::tony::{Key, Node};
    Node::object(vec![
        (Key::str("name"), Node::string(&format!("user {k}"))),
        (Key::str("age"), Node::int((k % 90) as i64)),
        (Key::str("note"), Node::string(note)),
    ])
}

/// A store holding a document of `mib` MiB (members of about 1 KiB under `users`, imported
/// 10,000 per commit), then ten times, each in a fresh process: open it, commit one change
/// to a member, close it (`big_document_ms`, the median; `big_document_rss_mib`, the largest
/// peak resident memory of those processes, which counts the pages of the logs' memory maps
/// that reads touched; `big_document_anon_mib`, the largest anonymous memory). Then the same
/// with the logs read by `pread` (`FsDir::without_memory_map`: `big_document_pread_*`).
fn big_document(mib: u64) {
    use tonystore::tony::{Key, Node};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let members = mib * 1024;
    {
        let dir = FsDir::create(&root).unwrap();
        let mut store = Store::open(&dir, options()).unwrap();
        let note = "n".repeat(980);
        for first in (0..members).step_by(10_000) {
            let batch = (first..(first + 10_000).min(members))
                .map(|k| (Key::str(&format!("u{k}")), big_member(k, &note)))
                .collect();
            store
                .commit(vec![(KPath::parse("users").unwrap(), Node::object(batch))])
                .unwrap();
        }
        // The measured commits end before the next compaction boundary: a level built over
        // the import reads it (see BENCHMARKS.md).
        while 16 - store.head() % 16 <= 10 {
            let pad = Node::int(store.head() as i64);
            store
                .commit(vec![(KPath::parse("pad").unwrap(), pad)])
                .unwrap();
        }
        store.close().unwrap();
    }
    for (unmapped, series) in [(false, "big_document"), (true, "big_document_pread")] {
        let mut times = Vec::new();
        let (mut rss, mut anon) = (0u64, 0u64);
        for _ in 0..10 {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap());
            child.env(BIG_DOCUMENT_CHILD, &root);
            if unmapped {
                child.env(BIG_DOCUMENT_UNMAPPED, "1");
            }
            let out = child.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let mut fields = text.split_whitespace();
            let mut next = || fields.next().unwrap().parse::<f64>().unwrap();
            times.push(next());
            rss = rss.max(next() as u64);
            anon = anon.max(next() as u64);
        }
        times.sort_by(f64::total_cmp);
        println!("{series}_ms,{mib},{:.2}", times[times.len() / 2]);
        println!("{series}_rss_mib,{mib},{:.1}", rss as f64 / 1024.0);
        println!("{series}_anon_mib,{mib},{:.1}", anon as f64 / 1024.0);
    }
}

/// In the child process of [`big_document`]: opens the store, commits a change to one member
/// (durably), closes it; prints the milliseconds that took, the process's peak resident
/// memory and its anonymous resident memory after the commit, in KiB.
fn commit_one_member(root: &std::path::Path) {
    let status = |field: &str| {
        let text = std::fs::read_to_string("/proc/self/status").unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    let start = Instant::now();
    let dir = FsDir::create(root).unwrap();
    let dir = match std::env::var_os(BIG_DOCUMENT_UNMAPPED) {
        Some(_) => dir.without_memory_map(),
        None => dir,
    };
    let mut store = Store::open(&dir, Options::default()).unwrap();
    let k = store.head() * 7_919 % 10_000;
    let path = KPath::parse(&format!("users.u{k}.name")).unwrap();
    let name = tonystore::tony::Node::string(&format!("renamed at {}", store.head()));
    store.commit(vec![(path.clone(), name.clone())]).unwrap();
    let anon_kib = status("RssAnon:");
    store.close().unwrap();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let peak_kib = status("VmHWM:");
    let store = Store::open(&dir, Options::default()).unwrap();
    assert_eq!(store.read(&path).unwrap(), Some(name));
    println!("{ms:.3} {peak_kib} {anon_kib}");
}

/// One-member commits into an object of `width` members (imported 10,000 members per commit
/// first): the median, mean and slowest of 2,000, as `wide_commit_*` rows by width (the
/// slowest are the commits that complete a compaction level covering the import); then the
/// mean of 2,000 reads of one member at random commits (`wide_read_us`).
fn wide_object(width: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = FsDir::create(tmp.path().join("store")).unwrap();
    let mut store = Store::open(&dir, options()).unwrap();
    let member = |k: u64, v: i64| format!(r#""m{k}":{{"v":{v},"name":"member {k}"}}"#);
    for first in (0..width).step_by(10_000) {
        let members: Vec<String> = (first..(first + 10_000).min(width))
            .map(|k| member(k, k as i64))
            .collect();
        let patch = parse(&format!("{{{}}}", members.join(","))).unwrap();
        store
            .commit(vec![(KPath::parse("wide").unwrap(), patch)])
            .unwrap();
    }
    let mut each = Vec::new();
    for i in 0..2_000u64 {
        let k = i * 7_919 % width;
        let path = KPath::parse(&format!("wide.m{k}.v")).unwrap();
        let start = Instant::now();
        store
            .commit(vec![(path, tonystore::tony::Node::int(-(i as i64)))])
            .unwrap();
        each.push(start.elapsed().as_secs_f64());
    }
    let mean = each.iter().sum::<f64>() / each.len() as f64;
    each.sort_by(f64::total_cmp);
    println!(
        "wide_commit_median_us,{width},{:.2}",
        each[each.len() / 2] * 1e6
    );
    println!("wide_commit_mean_us,{width},{:.2}", mean * 1e6);
    println!(
        "wide_commit_max_ms,{width},{:.2}",
        each[each.len() - 1] * 1e3
    );
    // Reads of one member at random commits (the import's, and the edits' after it): each
    // entry merging into the object gives the member's sub-patch through its offset index.
    let head = store.head();
    let reads = 2_000u64;
    let start = Instant::now();
    for i in 0..reads {
        let k = i * 4_999 % width;
        let at = 1 + i * 7_727 % head;
        let path = KPath::parse(&format!("wide.m{k}")).unwrap();
        // Imported at commit k / 10,000 + 1: absent before.
        let found = store.read_at(&path, at).unwrap();
        assert_eq!(found.is_some(), at > k / 10_000, "wide.m{k} at {at}");
    }
    println!(
        "wide_read_us,{width},{:.1}",
        start.elapsed().as_secs_f64() * 1e6 / reads as f64
    );
    store.close().unwrap();
}
