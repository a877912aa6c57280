//! The crash and fault campaign: random workloads on a simulated disk, cut by power failures
//! at every kind of point and disturbed by injected I/O errors, then checked against a model.
//!
//! After every power-cut image, the store must open; every acknowledged commit (durability
//! `EveryCommit`: `commit` returned; `OnFlush`: a later `flush` returned) must be there; every
//! read at every commit must equal a replay of the model; `verify` must pass; and a new commit
//! must work. The same holds after a single injected write, sync or set_len failure (the store
//! either goes on or refuses changes until reopened), and after faults during recovery itself.
//!
//! Sizes: the default run checks a few thousand images; `scripts/test --heavy` (TONYSTORE_HEAVY)
//! checks over 100,000. A failure prints its seed and crash point: rerun one case with
//! `CRASH_SEED=<seed> cargo test --test crash_campaign`.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::crash::{Fault, Rng, SimDisk};
use tonystore::engine::{Durability, Options, Store, StoreError, TransactionBuffer};
use tonystore::kpath::{get, KPath};
use tonystore::patch::patch;
use tonystore::tony::{Key, Node};

/// A workload: the store's settings and a sequence of steps, all from one seed.
#[derive(Clone, Debug)]
struct Workload {
    divisor: u64,
    durability: Durability,
    persist_every: u64,
    seal_level: u8,
    offset_index_min_bytes: usize,
    steps: Vec<Step>,
}

#[derive(Clone, Debug)]
enum Step {
    Commit(Vec<(KPath, Node)>),
    Flush,
    Reopen,
}

const PATHS: [&str; 6] = ["a", "b.c", "b.d", "list", "big", "b"];

fn value(rng: &mut Rng, path: &str) -> Node {
    match (path, rng.below(8)) {
        ("big", _) | (_, 0) => {
            // Large entries: across sectors, and past the offset-index threshold.
            let len = [300, 700, 2_000, 9_000][rng.below(4) as usize];
            let fill = char::from(b'a' + rng.below(26) as u8);
            Node::string(&fill.to_string().repeat(len))
        }
        ("list", _) => Node::array((0..rng.below(5)).map(|i| Node::int(i as i64)).collect()),
        (_, 1) => Node::null().with_tag("!delete"),
        (_, 2) => Node::object(vec![
            (Key::str("x"), Node::int(rng.below(100) as i64)),
            (Key::str("y"), Node::string("why")),
        ]),
        _ => Node::int(rng.below(1000) as i64),
    }
}

fn workload(seed: u64, commits: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let durability = if rng.one_in(2) {
        Durability::EveryCommit
    } else {
        Durability::OnFlush
    };
    let mut steps = Vec::new();
    for _ in 0..commits {
        let n = 1 + rng.below(2) as usize;
        let mut used = Vec::new();
        let mut patches = Vec::new();
        for _ in 0..n {
            let path = PATHS[rng.below(PATHS.len() as u64) as usize];
            if used
                .iter()
                .any(|u: &&str| u.starts_with(path) || path.starts_with(u))
            {
                continue;
            }
            used.push(path);
            patches.push((KPath::parse(path).unwrap(), value(&mut rng, path)));
        }
        steps.push(Step::Commit(patches));
        if durability == Durability::OnFlush && rng.one_in(4) {
            steps.push(Step::Flush);
        }
        if rng.one_in(25) {
            steps.push(Step::Reopen);
        }
    }
    Workload {
        divisor: 2 + rng.below(3),
        durability,
        persist_every: 2 + rng.below(5),
        offset_index_min_bytes: [0, 256, 1 << 20][rng.below(3) as usize],
        // Runs of 2 to 64 commits are sealed: most images hold seals, and cut some; below a
        // seal level of 2 or 3, runs may be hollow.
        seal_level: 1 + rng.below(3) as u8,
        steps,
    }
}

impl Workload {
    fn options(&self) -> Options {
        Options {
            divisor: self.divisor,
            durability: self.durability,
            persist_every: self.persist_every,
            offset_index_min_bytes: self.offset_index_min_bytes,
            seal_level: Some(self.seal_level),
            ..Options::default()
        }
    }
}

/// What the workload learned about the store it ran on.
#[derive(Debug, Default)]
struct Model {
    /// States after each commit the store accepted (index = commit; `states[0]` is null).
    states: Vec<Node>,
    /// A commit whose outcome is unknown (it failed in a way that may have left it on disk).
    maybe: Option<Node>,
    /// Every commit up to this one is durable.
    acked: u64,
}

impl Model {
    fn new() -> Self {
        Model {
            states: vec![Node::null()],
            ..Model::default()
        }
    }
    fn head(&self) -> u64 {
        self.states.len() as u64 - 1
    }
}

fn next_state(state: &Node, patches: &[(KPath, Node)]) -> Option<Node> {
    let mut buffer = TransactionBuffer::new();
    for (path, p) in patches {
        buffer.add(path.clone(), p.clone());
    }
    patch(state, &buffer.merge().ok()??).ok()
}

/// Runs the workload on `disk` until the end or until the store is unusable (a crash, or a
/// failure that latched it). Returns the model of what must (and may) be on the disk.
fn run(w: &Workload, disk: &SimDisk) -> Model {
    let mut model = Model::new();
    let Ok(mut store) = Store::open(disk, w.options()) else {
        return model;
    };
    for step in &w.steps {
        match step {
            Step::Commit(patches) => {
                let current = model.states.last().unwrap();
                let Some(next) = next_state(current, patches) else {
                    continue;
                };
                match store.commit(patches.clone()) {
                    Ok(c) => {
                        assert_eq!(c, model.head() + 1, "commit numbers are dense");
                        model.states.push(next);
                        if w.durability == Durability::EveryCommit {
                            model.acked = c;
                        }
                    }
                    Err(_) => {
                        // The first failure: its frame may or may not be on the disk, which
                        // the next change tells (unless the process died here).
                        model.maybe = Some(next);
                    }
                }
                if model.maybe.is_some() && !disk.crashed() {
                    // A failure that did not latch left nothing behind: the next commit proves it.
                    match store.commit(vec![(KPath::parse("probe").unwrap(), Node::int(1))]) {
                        Ok(c) => {
                            assert_eq!(c, model.head() + 1, "a failed commit left no trace");
                            let probe = next_state(
                                model.states.last().unwrap(),
                                &[(KPath::parse("probe").unwrap(), Node::int(1))],
                            )
                            .unwrap();
                            model.states.push(probe);
                            model.maybe = None;
                            if w.durability == Durability::EveryCommit {
                                model.acked = c;
                            }
                        }
                        Err(_) => return model,
                    }
                } else if model.maybe.is_some() {
                    return model;
                }
            }
            Step::Flush => match store.flush() {
                Ok(()) => model.acked = model.head(),
                Err(_) => return model,
            },
            Step::Reopen => {
                // Closing flushes; if that fails, the commits since the last flush may be
                // lost (`OnFlush` buffers them), never an acknowledged one.
                let closed = store.close();
                drop(store);
                if disk.crashed() {
                    return model;
                }
                disk.release_all();
                store = match Store::open(disk, w.options()) {
                    // Open syncs what it recovered.
                    Ok(s) => s,
                    Err(_) => return model,
                };
                if closed.is_ok() {
                    assert_eq!(store.head(), model.head(), "a reopen keeps every commit");
                } else {
                    let head = store.head();
                    assert!(
                        head >= model.acked && head <= model.head(),
                        "after a failed close: head {head}, expected {}..={}",
                        model.acked,
                        model.head()
                    );
                    model.states.truncate(head as usize + 1);
                }
                model.acked = model.head();
            }
        }
    }
    model
}

/// Checks (a copy of) one disk image against the model; panics with `context` on any
/// violation.
fn check(w: &Workload, image: &SimDisk, model: &Model, context: &str) {
    let image = image.settled();
    let mut store = Store::open(&image, w.options())
        .unwrap_or_else(|e| panic!("{context}: the store does not open: {e}"));
    let head = store.head();
    let max = model.head() + u64::from(model.maybe.is_some());
    assert!(
        head >= model.acked && head <= max,
        "{context}: head {head}, expected {}..={max}",
        model.acked
    );
    for c in 1..=head {
        let expected = match model.states.get(c as usize) {
            Some(state) => state,
            None => model.maybe.as_ref().unwrap(),
        };
        let read = store
            .read_at(&KPath::root(), c)
            .unwrap_or_else(|e| panic!("{context}: read at {c}: {e}"))
            .unwrap_or_else(Node::null);
        assert_eq!(&read, expected, "{context}: root at commit {c}");
        for path in ["b.c", "big", "list"] {
            let path = KPath::parse(path).unwrap();
            match (store.read_at(&path, c), get(expected, &path)) {
                (Ok(read), Ok(want)) => {
                    assert_eq!(read.as_ref(), want, "{context}: {path} at commit {c}")
                }
                (Err(StoreError::Get(_)), Err(_)) => {}
                (read, want) => panic!("{context}: {path} at commit {c}: {read:?} vs {want:?}"),
            }
        }
    }
    store
        .verify()
        .unwrap_or_else(|e| panic!("{context}: verify: {e}"));
    let extra = vec![(KPath::parse("after").unwrap(), Node::int(head as i64))];
    let c = store
        .commit(extra)
        .unwrap_or_else(|e| panic!("{context}: a new commit fails: {e}"));
    assert_eq!(c, head + 1, "{context}: the new commit's number");
    assert_eq!(
        store.read_at(&KPath::parse("after").unwrap(), c).unwrap(),
        Some(Node::int(head as i64)),
        "{context}: reading the new commit"
    );
}

/// Counts of what a campaign checked.
#[derive(Default, Debug)]
struct Tally {
    images: u64,
    faults: u64,
    recovery_faults: u64,
}

/// One seed: power cuts at a sample of crash points, one injected failure at a sample of calls,
/// and faults during the recovery of some images.
fn campaign(seed: u64, commits: u64, points: u64, images_per_point: u64, tally: &mut Tally) {
    let w = workload(seed, commits);
    // Half the seeds on files that ask to be extended ahead of the logs' ends (as native
    // files do), by a few sectors so that extensions happen often.
    let preallocation = if seed % 2 == 1 {
        256 << (seed / 2 % 4)
    } else {
        0
    };
    let disk_for = |seed: u64| {
        let disk = SimDisk::new(seed);
        disk.set_preallocation(preallocation);
        disk
    };
    let clean = disk_for(seed);
    run(&w, &clean);
    let calls = clean.calls().max(1);
    let mut rng = Rng::new(seed ^ 0x5EED);
    for i in 0..points {
        let at = 1 + (i * calls / points + rng.below(calls / points + 1)).min(calls - 1);
        // A power cut at call `at`.
        let disk = disk_for(seed.wrapping_add(at));
        disk.set_fault(Fault::CrashAt(at));
        let model = run(&w, &disk);
        for n in 0..images_per_point {
            let image = disk.power_cut(&mut rng, n % 2 == 1);
            check(
                &w,
                &image,
                &model,
                &format!("seed {seed}, crash at call {at}, image {n}"),
            );
            tally.images += 1;
        }
        // One failed call, the workload going on around it; then a clean stop and a power cut.
        let disk = disk_for(seed.wrapping_add(at) ^ 1);
        disk.set_fault(Fault::Once(at));
        let model = run(&w, &disk);
        let context = format!("seed {seed}, one failure at call {at}");
        disk.release_all();
        check(&w, &disk.settled(), &model, &format!("{context}, settled"));
        let image = disk.power_cut(&mut rng, true);
        check(&w, &image, &model, &format!("{context}, power cut"));
        tally.faults += 1;
        tally.images += 1;
        // Faults while recovering that image: the open fails or works, and a clean reopen
        // after it must still find everything.
        let recovering = image.settled();
        let n = 1 + rng.below(8);
        recovering.set_fault(Fault::Once(n));
        if std::env::var_os("CRASH_TRACE").is_some() {
            eprintln!("{context}: open with a fault at call {n}");
        }
        let opened = Store::open(&recovering, w.options());
        if std::env::var_os("CRASH_TRACE").is_some() {
            eprintln!("{context}: faulted open: {:?}", opened.as_ref().err());
        }
        drop(opened);
        recovering.set_fault(Fault::None);
        recovering.release_all();
        check(
            &w,
            &recovering,
            &model,
            &format!("{context}, recovery fault at call {n}"),
        );
        tally.recovery_faults += 1;
    }
}

fn heavy() -> bool {
    std::env::var_os("TONYSTORE_HEAVY").is_some()
}

#[test]
fn power_cuts_and_io_failures_lose_nothing_acknowledged() {
    let seeds: Vec<u64> = match std::env::var("CRASH_SEED") {
        Ok(seed) => vec![seed.parse().expect("CRASH_SEED is a number")],
        Err(_) if heavy() => (0..400).collect(),
        Err(_) => (0..24).collect(),
    };
    let (points, images) = if heavy() { (60, 4) } else { (30, 2) };
    let mut tally = Tally::default();
    for seed in seeds {
        campaign(seed, 30, points, images, &mut tally);
    }
    eprintln!("crash campaign: {tally:?}");
    let minimum = if heavy() { 100_000 } else { 2_000 };
    if std::env::var_os("CRASH_SEED").is_none() {
        assert!(tally.images >= minimum, "only {} images", tally.images);
    }
}
