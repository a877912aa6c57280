//! Log shipping: export from one store, import into another — same commit numbers, idempotent,
//! resumable, verified, atomic, and refusing divergent histories.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::tony;
use tonystore::engine::{Durability, End, LogEntry, Options, Store, StoreError};
use tonystore::kpath::KPath;
use tonystore::storage::{FsDir, MemDir, StoreDir};
use tonystore::tony::{encode_wire, Node};

fn p(s: &str) -> KPath {
    KPath::parse(s).unwrap()
}

fn options() -> Options {
    Options {
        divisor: 4,
        durability: Durability::OnFlush,
        ..Options::default()
    }
}

fn open(dir: &dyn StoreDir) -> Store {
    Store::open(dir, options()).unwrap()
}

/// A primary with `n` commits of assorted patches (merges, deletes, array edits, a large one).
fn primary(n: u64) -> (MemDir, Store) {
    let dir = MemDir::new();
    let mut store = open(&dir);
    for i in 1..=n {
        let (path, patch) = match i % 5 {
            0 => (format!("users.u{}", i % 7), "!delete null".to_owned()),
            1 => (
                format!("users.u{}", i % 7),
                format!("{{name: n{i} age: {i}}}"),
            ),
            2 => ("list".to_owned(), format!("[{i} {} x]", i + 1)),
            3 => (
                "big".to_owned(),
                format!(
                    "{{items: [{}]}}",
                    (0..200)
                        .map(|k| format!("{{k: {k} i: {i}}}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ),
            _ => (format!("users.u{}.age", i % 7), i.to_string()),
        };
        if store.commit(vec![(p(&path), tony(&patch))]).is_err() {
            store
                .commit(vec![(p("misc"), Node::int(i as i64))])
                .unwrap();
        }
    }
    (dir, store)
}

/// Every path of interest reads the same in both stores at every commit.
fn same_history(a: &mut Store, b: &mut Store) {
    assert_eq!(a.head(), b.head());
    for c in 0..=a.head() {
        for path in ["", "users", "users.u1", "list", "big.items[3]", "misc"] {
            let read = |s: &mut Store| s.read_at(&p(path), c).unwrap().map(|n| encode_wire(&n));
            assert_eq!(read(a), read(b), "{path} at {c}");
        }
    }
    let la = a.log(None, 1, a.head()).unwrap();
    assert_eq!(
        la,
        b.log(None, 1, b.head()).unwrap(),
        "transactions and times are kept"
    );
}

#[test]
fn a_replica_imports_everything_in_batches_and_reads_the_same() {
    let (_pdir, mut primary) = primary(60);
    let rdir = MemDir::new();
    let mut replica = open(&rdir);
    let mut rounds = 0;
    while replica.head() < primary.head() {
        let shipment = primary.export(replica.head(), 4096).unwrap();
        let imported = replica.import(&shipment).unwrap();
        assert_eq!(imported.skipped, 0);
        assert!(imported.added >= 1);
        assert_eq!(imported.head, replica.head());
        rounds += 1;
    }
    assert!(
        rounds > 3,
        "4 KiB batches split the history ({rounds} rounds)"
    );
    same_history(&mut primary, &mut replica);
    replica.verify().unwrap();
    // The replica's files are a store like any other: reopened, the same.
    replica.close().unwrap();
    let mut replica = open(&rdir);
    same_history(&mut primary, &mut replica);
    // And it can commit on top, continuing the numbering.
    assert_eq!(
        replica.commit(vec![(p("after"), Node::int(1))]).unwrap(),
        61
    );
}

#[test]
fn importing_again_is_harmless_and_an_overlap_resumes() {
    let (_pdir, mut primary) = primary(20);
    let rdir = MemDir::new();
    let mut replica = open(&rdir);
    let first = primary.export(0, 1 << 20).unwrap();
    assert_eq!(replica.import(&first).unwrap().added, 20);
    let again = replica.import(&first).unwrap();
    assert_eq!((again.skipped, again.added, again.head), (20, 0, 20));
    for i in 21..=25 {
        primary.commit(vec![(p("more"), Node::int(i))]).unwrap();
    }
    // A shipment from an older point overlaps: the known commits are checked and skipped.
    let overlap = primary.export(15, 1 << 20).unwrap();
    let resumed = replica.import(&overlap).unwrap();
    assert_eq!((resumed.skipped, resumed.added, resumed.head), (5, 5, 25));
    same_history(&mut primary, &mut replica);
    // An empty shipment (nothing after the head) imports nothing.
    let empty = primary.export(25, 1024).unwrap();
    assert_eq!(replica.import(&empty).unwrap().added, 0);
    assert!(matches!(
        primary.export(26, 1024),
        Err(StoreError::NoSuchCommit { .. })
    ));
}

#[test]
fn gaps_and_divergent_histories_are_refused_and_write_nothing() {
    let (_pdir, primary) = primary(10);
    let rdir = MemDir::new();
    let mut replica = open(&rdir);
    let later = primary.export(5, 1 << 20).unwrap();
    let err = replica.import(&later).unwrap_err();
    assert!(
        matches!(err, StoreError::Gap { first: 6, head: 0 }),
        "{err}"
    );
    assert_eq!(err.code(), "gap");
    assert_eq!(replica.head(), 0);
    // A store with its own commit 1..3: the primary's history diverges at 1.
    for i in 0..3 {
        replica.commit(vec![(p("mine"), Node::int(i))]).unwrap();
    }
    let bytes = replica.stats().level0_bytes;
    let all = primary.export(0, 1 << 20).unwrap();
    let err = replica.import(&all).unwrap_err();
    assert!(matches!(err, StoreError::Diverged { commit: 1 }), "{err}");
    assert_eq!(err.code(), "diverged");
    let from_3 = primary.export(3, 1 << 20).unwrap();
    assert!(matches!(
        replica.import(&from_3),
        Err(StoreError::Diverged { commit: 3 })
    ));
    assert_eq!(replica.head(), 3);
    assert_eq!(replica.stats().level0_bytes, bytes, "nothing written");
    replica.verify().unwrap();
}

#[test]
fn damaged_shipments_are_corrupt_naming_the_offset_and_write_nothing() {
    let (_pdir, primary) = primary(12);
    let shipment = primary.export(0, 1 << 20).unwrap();
    let rdir = MemDir::new();
    let mut replica = open(&rdir);
    // Every truncation and a flipped bit in every region are refused.
    let mut cases: Vec<Vec<u8>> = (0..shipment.len())
        .step_by(97)
        .map(|n| shipment[..n].to_vec())
        .collect();
    for at in (0..shipment.len()).step_by(89) {
        let mut flipped = shipment.clone();
        flipped[at] ^= 0x10;
        cases.push(flipped);
    }
    let mut extra = shipment.clone();
    extra.push(0);
    cases.push(extra);
    for (i, bytes) in cases.iter().enumerate() {
        match replica.import(bytes) {
            Err(StoreError::Corrupt { file, .. }) => assert_eq!(file, "shipment"),
            // A flipped bit in the base CRC or base commit reads as another history or a gap.
            Err(StoreError::Diverged { .. } | StoreError::Gap { .. }) => {}
            other => panic!("case {i}: {other:?}"),
        }
        assert_eq!(replica.head(), 0, "case {i} wrote nothing");
    }
    assert_eq!(replica.stats().level0_bytes, 16, "only the log header");
    assert_eq!(replica.import(&shipment).unwrap().added, 12);
}

#[test]
fn forged_entries_that_checksum_but_lie_are_refused() {
    // Canonical entries with good checksums whose recorded ends are not the patch's, whose
    // patch does not apply, or whose transaction numbers go back would make reads wrong:
    // refused, nothing written. So is text that parses but is not the canonical form.
    let (_pdir, primary) = primary(3);
    let shipment = primary.export(0, 1 << 20).unwrap();
    let rdir = MemDir::new();
    let mut replica = open(&rdir);
    let wrong_ends = |e: &mut LogEntry| {
        e.ends = vec![End {
            path: p("bogus"),
            independent: true,
        }]
    };
    let failing_patch = |e: &mut LogEntry| e.patch = tony("{list: !replace {from: 5 to: 6}}");
    let tx_back = |e: &mut LogEntry| e.tx = 0;
    type Forgery<'a> = (&'a dyn Fn(&mut LogEntry), &'a str);
    let forgeries: [Forgery; 3] = [
        (&wrong_ends, "ends"),
        (&failing_patch, "patch rejected"),
        (&tx_back, "transaction"),
    ];
    for (forge, what) in forgeries {
        let forged = rewrite(&shipment, |text| {
            let mut entry = LogEntry::from_wire(text).unwrap();
            forge(&mut entry);
            entry.to_wire()
        });
        let err = replica.import(&forged).unwrap_err();
        assert!(err.to_string().contains(what), "{what}: {err}");
        assert_eq!(replica.head(), 0);
    }
    let spaced = rewrite(&shipment, |text| text.replacen("ends: {", "ends:  {", 1));
    let err = replica.import(&spaced).unwrap_err();
    assert!(err.to_string().contains("canonical"), "{err}");
    assert_eq!(replica.head(), 0);
    assert_eq!(replica.import(&shipment).unwrap().added, 3);
}

/// A shipment with each commit's payload text rewritten by `edit` (checksums recomputed):
/// header, then `[u32 length][u32 CRC-32C][payload]` records.
fn rewrite(shipment: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let header = 28;
    let mut out = shipment[..header].to_vec();
    let mut at = header;
    while at < shipment.len() {
        let len = u32::from_be_bytes(shipment[at..at + 4].try_into().unwrap()) as usize;
        let payload = edit(std::str::from_utf8(&shipment[at + 8..at + 8 + len]).unwrap());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(payload.as_bytes()).to_be_bytes());
        out.extend_from_slice(payload.as_bytes());
        at += 8 + len;
    }
    out
}

#[test]
fn an_import_is_durable_when_it_returns() {
    let live = tempfile::tempdir().unwrap();
    let (_pdir, mut primary) = primary(9);
    let shipment = primary.export(0, 1 << 20).unwrap();
    let replica = {
        let mut replica = Store::open(&FsDir::create(live.path()).unwrap(), options()).unwrap();
        replica.import(&shipment).unwrap();
        replica
    };
    // A crash now (no flush, no close; OnFlush durability): the files as they are.
    let copy = tempfile::tempdir().unwrap();
    for name in tonystore::engine::STORE_FILES {
        std::fs::copy(live.path().join(name), copy.path().join(name)).unwrap();
    }
    drop(replica);
    let mut recovered = Store::open(&FsDir::create(copy.path()).unwrap(), options()).unwrap();
    same_history(&mut primary, &mut recovered);
}
