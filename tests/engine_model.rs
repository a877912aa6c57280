//! Model-based tests of the engine: random commits, then `read_at` at random (path, commit)
//! pairs must equal a naive replay — also after reopening, losing the index, and tearing the log.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::history::Vocabulary;
use proptest::prelude::*;
use tonystore::engine::{Durability, IndexLimits, Options, Store};
use tonystore::kpath::{get, KPath};
use tonystore::patch::patch;
use tonystore::storage::{BlockFile, MemDir, StoreDir};
use tonystore::tony::{encode_text, Key, Node, NodeEvents, TextFormat};

/// A small vocabulary so random patches collide with earlier ones: paths of up to two
/// segments over five keys (two that need quoting), leaves with strings.
const WORDS: Vocabulary = Vocabulary {
    keys: &["a", "b", "c", "d.e", "x y"],
    sparse_weight: 1,
    path_len: 3,
    strings: true,
};

fn key() -> impl Strategy<Value = String> {
    WORDS.key()
}

fn path() -> impl Strategy<Value = KPath> {
    WORDS.path()
}

fn value() -> impl Strategy<Value = Node> {
    WORDS.value()
}

/// An object of random members (the vocabulary of [`key`]).
fn object() -> impl Strategy<Value = Node> {
    prop::collection::hash_map(key(), value(), 1..5).prop_map(|members| {
        Node::object(
            members
                .into_iter()
                .map(|(k, v)| (Key::str(&k), v))
                .collect(),
        )
    })
}

/// A patch: a merge, a replacement, a delete, or an array edit.
fn a_patch() -> impl Strategy<Value = Node> {
    prop_oneof![
        4 => value(),
        1 => Just(Node::null().with_tag("!delete")),
        1 => value().prop_map(|v| v.with_tag("!insert")),
        1 => (value(), value()).prop_map(|(a, b)| Node::object(vec![(Key::str("a"), a), (Key::str("b"), b)])),
        1 => value().prop_map(|v| Node::object(vec![(Key::Int(0), v.with_tag("!insert"))]).with_tag("!arraydiff")),
    ]
}

fn commits() -> impl Strategy<Value = Vec<(KPath, Node)>> {
    prop::collection::vec((path(), a_patch()), 1..60)
}

/// [`options`], and with `narrow` an index that lists members only one level deep and of
/// objects of at most two members: most merges become dependent ends, which reads below them
/// take apart (their sub-patches, from the offset index after a reopen).
fn options_narrow(divisor: u64, narrow: bool) -> Options {
    let mut options = options(divisor);
    if narrow {
        options.index_limits = IndexLimits {
            max_depth: 1,
            max_members: 2,
        };
    }
    options
}

fn options(divisor: u64) -> Options {
    // Every entry gets an offset index, so streaming reads take their fast path when they can.
    // Runs are sealed every 8, 9 or 16 commits: most reads look in sealed tables, and the
    // compacted levels below the seal level may be hollow (read through the entries below).
    Options {
        divisor,
        durability: Durability::OnFlush,
        persist_every: 7,
        seal_level: Some(if divisor == 2 { 3 } else { 2 }),
        offset_index_min_bytes: 0,
        ..Options::default()
    }
}

/// Commits what applies; returns the states after each accepted commit (index = commit).
fn run(store: &mut Store, ops: &[(KPath, Node)]) -> Vec<Node> {
    let mut states = vec![Node::null()];
    run_on(store, &mut states, ops);
    states
}

/// [`run`] on a store holding `states` (index = commit), adding to them.
fn run_on(store: &mut Store, states: &mut Vec<Node>, ops: &[(KPath, Node)]) {
    for (path, p) in ops {
        let root =
            tonystore::engine::TransactionBuffer::from_patch(path.clone(), p.clone()).unwrap();
        let next = patch(states.last().unwrap(), &root);
        match (store.commit(vec![(path.clone(), p.clone())]), next) {
            (Ok(c), Ok(state)) => {
                assert_eq!(c as usize, states.len());
                states.push(state);
            }
            (Err(_), Err(_)) => {}
            (a, b) => panic!("store and model disagree on {path}: {a:?} vs {b:?}"),
        }
    }
}

fn check_reads(
    store: &mut Store,
    states: &[Node],
    probes: &[(KPath, usize)],
) -> Result<(), TestCaseError> {
    let head = states.len() - 1;
    for (p, c) in probes.iter().chain(std::iter::once(&(KPath::root(), head))) {
        let c = c % (head + 1);
        let want = get(&states[c], p).map(|n| n.cloned());
        let got = store.read_at(p, c as u64);
        if c > 0 {
            // Streaming agrees with the plain read.
            let mut streamed = Vec::new();
            let found = store.read_stream(p, c as u64, &mut streamed);
            match (&want, found) {
                (Ok(Some(w)), Ok(true)) => prop_assert_eq!(
                    String::from_utf8(streamed).unwrap(),
                    tonystore::tony::encode_wire(w),
                    "read_stream({}, {})",
                    p,
                    c
                ),
                (Ok(None), Ok(false)) | (Err(_), Err(_)) => {}
                (w, g) => prop_assert!(
                    false,
                    "read_stream({}, {}): model {:?}, store {:?}",
                    p,
                    c,
                    w,
                    g
                ),
            }
            // And JSON text.
            if let Ok(want) = &want {
                let json = store
                    .open_stream(p, c as u64, TextFormat::Json)
                    .map(|stream| {
                        stream.map(|mut stream| {
                            let mut text = Vec::new();
                            while let Some(chunk) = stream.next_chunk(7).unwrap() {
                                text.extend(chunk);
                            }
                            String::from_utf8(text).unwrap()
                        })
                    });
                let expected = want.as_ref().map(|w| encode_text(w, TextFormat::Json));
                prop_assert_eq!(json.ok(), Some(expected), "JSON of ({}, {})", p, c);
            }
            // So do the events.
            match (&want, store.open_events(p, c as u64)) {
                (Ok(want), Ok(mut events)) => {
                    let got = events.as_mut().map(|events| {
                        let mut all = Vec::new();
                        while let Some(event) = events.next_event().unwrap() {
                            all.push(event);
                        }
                        all
                    });
                    let expected = want.clone().map(|w| NodeEvents::new(w).collect::<Vec<_>>());
                    prop_assert_eq!(got, expected, "open_events({}, {})", p, c);
                }
                (Err(_), Err(_)) => {}
                (w, g) => prop_assert!(
                    false,
                    "open_events({}, {}): model {:?}, store {:?}",
                    p,
                    c,
                    w,
                    g.map(|e| e.is_some())
                ),
            }
        }
        match (want, got) {
            (Ok(w), Ok(g)) => prop_assert_eq!(g, w, "read_at({}, {})", p, c),
            (Err(_), Err(_)) => {}
            (w, g) => prop_assert!(false, "read_at({}, {}): model {:?}, store {:?}", p, c, w, g),
        }
    }
    Ok(())
}

/// Streaming reads served from the log across all cases (checked to be non-zero).
static STREAMED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Of those, the ones that applied later patches on the fly (checked to be non-zero).
static STREAMED_PATCHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[test]
fn streaming_reads_take_the_log_path_in_the_model_tests() {
    read_at_equals_replay();
    streaming_a_base_applies_the_later_patches();
    assert!(
        STREAMED.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no read was streamed from the log"
    );
    assert!(
        STREAMED_PATCHED.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no streamed read applied later patches"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(64, 2_000)))]

    #[test]
    fn read_at_equals_replay(ops in commits(), probes in prop::collection::vec((path(), any::<usize>()), 1..24), divisor in 2u64..5, narrow in any::<bool>()) {
        let options = || options_narrow(divisor, narrow);
        let dir = MemDir::new();
        let mut store = Store::open(&dir, options()).unwrap();
        let states = run(&mut store, &ops);
        check_reads(&mut store, &states, &probes)?;
        store.verify().unwrap();
        STREAMED.fetch_add(store.stats().streamed_from_log, std::sync::atomic::Ordering::Relaxed);
        STREAMED_PATCHED.fetch_add(store.stats().streamed_patched, std::sync::atomic::Ordering::Relaxed);

        // Reopen with the persisted index.
        store.close().unwrap();
        drop(store);
        let mut store = Store::open(&dir, options()).unwrap();
        prop_assert_eq!(store.head() as usize, states.len() - 1);
        // Every run the compaction completed is sealed (see `options` for a run's length).
        let run = if divisor == 2 { 8 } else { divisor * divisor };
        prop_assert!(store.stats().sealed_commits + run > store.head(), "{:?}", store.stats());
        check_reads(&mut store, &states, &probes)?;

        // Lose the index: a full rebuild.
        store.close().unwrap();
        drop(store);
        dir.open("index.log").unwrap().set_len(0).unwrap();
        let mut store = Store::open(&dir, options()).unwrap();
        prop_assert_eq!(store.stats().recovery, if states.len() > 1 { "full" } else { "none" });
        check_reads(&mut store, &states, &probes)?;
    }

    #[test]
    fn commits_without_the_head_state_equal_the_model(ops in commits(), probes in prop::collection::vec((path(), any::<usize>()), 1..16), divisor in 2u64..5, narrow in any::<bool>(), reopen in any::<prop::sample::Index>()) {
        // Commits that never build the head document: each reads from the log what its
        // patch looks at. They must accept and refuse what the model does, and record the
        // ends a store holding the whole document records (an import checks them so).
        let lazy = || Options { head_state_max_bytes: 0, ..options_narrow(divisor, narrow) };
        let dir = MemDir::new();
        let mut store = Store::open(&dir, lazy()).unwrap();
        let split = reopen.index(ops.len() + 1);
        let mut states = run(&mut store, &ops[..split]);
        store.close().unwrap();
        drop(store);
        let mut store = Store::open(&dir, lazy()).unwrap();
        run_on(&mut store, &mut states, &ops[split..]);
        check_reads(&mut store, &states, &probes)?;
        store.verify().unwrap();
        let mut whole = Store::open(&MemDir::new(), options_narrow(divisor, narrow)).unwrap();
        let imported = whole.import(&store.export(0, usize::MAX).unwrap()).unwrap();
        prop_assert_eq!(imported.head, store.head());
    }

    #[test]
    fn history_and_changes_equal_the_model(ops in commits(), probes in prop::collection::vec(path(), 1..8), divisor in 2u64..5) {
        let dir = MemDir::new();
        let mut store = Store::open(&dir, options(divisor)).unwrap();
        let states = run(&mut store, &ops);
        let value = |c: usize, p: &KPath| get(&states[c], p).ok().flatten().cloned();
        for p in probes.iter().chain(std::iter::once(&KPath::root())) {
            let want: Vec<u64> = (1..states.len())
                .filter(|&c| value(c - 1, p) != value(c, p))
                .map(|c| c as u64)
                .collect();
            prop_assert_eq!(store.history(p).unwrap(), want.clone(), "history({})", p);
            let changes = store.changes(p, 0, store.head()).unwrap();
            prop_assert_eq!(changes.iter().map(|c| c.commit).collect::<Vec<_>>(), want);
            for change in &changes {
                let c = change.commit as usize;
                prop_assert!(!change.paths.is_empty());
                for changed in &change.paths {
                    prop_assert!(p.is_prefix_of(changed), "{} is not at or below {}", changed, p);
                    prop_assert!(value(c - 1, changed) != value(c, changed), "{} did not change at {}", changed, c);
                }
            }
        }
    }

    #[test]
    fn replacements_equal_the_model(ops in prop::collection::vec((path(), value(), any::<bool>()), 1..40), probes in prop::collection::vec((path(), any::<usize>()), 1..16), divisor in 2u64..5) {
        // Replacements of values that mostly differ member by member: their diffs rewrite
        // whole objects with checked `!replace`s, which reads then start from.
        let dir = MemDir::new();
        let mut store = Store::open(&dir, options(divisor)).unwrap();
        let mut patches = Vec::new();
        for (path, value, replace) in &ops {
            let p = if *replace { store.replacement(path, value).unwrap() } else { value.clone() };
            if store.commit(vec![(path.clone(), p.clone())]).is_ok() {
                patches.push((path.clone(), p));
                if *replace {
                    prop_assert_eq!(store.read(path).unwrap(), Some(value.clone()), "replace at {}", path);
                }
            }
        }
        let mut model = Store::open(&MemDir::new(), options(divisor)).unwrap();
        let states = run(&mut model, &patches);
        prop_assert_eq!(states.len() as u64 - 1, store.head());
        check_reads(&mut store, &states, &probes)?;
        store.close().unwrap();
        drop(store);
        let mut store = Store::open(&dir, options(divisor)).unwrap();
        check_reads(&mut store, &states, &probes)?;
    }

    #[test]
    fn a_torn_log_keeps_every_complete_commit(ops in commits(), cut in any::<prop::sample::Index>(), probes in prop::collection::vec((path(), any::<usize>()), 1..8)) {
        let dir = MemDir::new();
        let mut store = Store::open(&dir, options(3)).unwrap();
        let states = run(&mut store, &ops);
        store.close().unwrap();
        drop(store);
        // Cut level0.log at a random byte and drop the index.
        let log = dir.open("level0.log").unwrap();
        let len = log.len().unwrap();
        let at = cut.index(len as usize + 1) as u64;
        log.set_len(at).unwrap();
        drop(log);
        dir.open("index.log").unwrap().set_len(0).unwrap();
        let mut store = Store::open(&dir, options(3)).unwrap();
        let head = store.head() as usize;
        prop_assert!(head < states.len());
        check_reads(&mut store, &states[..=head], &probes)?;
        // Exactly the complete frames survive: a cut inside a frame loses that commit only.
        // (A cut into the file header leaves an empty log, whose header is written afresh.)
        let kept = store.stats().level0_bytes;
        prop_assert!(kept <= at.max(tonystore::engine::internals::LOG_HEADER));
        store.verify().unwrap();
    }

    #[test]
    fn streaming_a_base_applies_the_later_patches(base in object(), ops in prop::collection::vec((path().prop_filter("below the root", |p| !p.is_root()), a_patch()), 1..40), probes in prop::collection::vec(path(), 1..6).prop_map(|mut p| { p.push(KPath::root()); p })) {
        // One base value replaces the root, so every later read streams from its entry and
        // applies the commits after it on the fly where they are merges or array edits.
        let dir = MemDir::new();
        let mut store = Store::open(&dir, options(4)).unwrap();
        let mut all = vec![(KPath::root(), base.with_tag("!insert"))];
        all.extend(ops);
        let states = run(&mut store, &all);
        let every: Vec<(KPath, usize)> = (1..states.len())
            .flat_map(|c| probes.iter().map(move |p| (p.clone(), c)))
            .collect();
        check_reads(&mut store, &states, &every)?;
        STREAMED_PATCHED.fetch_add(store.stats().streamed_patched, std::sync::atomic::Ordering::Relaxed);
    }
}
