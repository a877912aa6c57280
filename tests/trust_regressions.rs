//! Regression tests, one per way a store could once be bricked, silently corrupted or made to
//! lose data (the trust issue's examples). The crash campaign (`crash_campaign.rs`) covers the
//! same ground at random; these pin each case down.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::crash::{Fault, SimDisk};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tonystore::engine::internals::{FRAME_HEADER, LOG_HEADER};
use tonystore::engine::{Durability, Options, Store, StoreError, MAX_COMMIT_DEPTH};
use tonystore::kpath::{KPath, Segment};
use tonystore::storage::{BlockFile, FsDir, MemDir, StoreDir};
use tonystore::tony::{Key, Node};

fn p(text: &str) -> KPath {
    KPath::parse(text).unwrap()
}

/// Two images of `disk` after a clean stop: settled, and cut by a power failure (`seed`).
fn settled_and_cut(disk: &SimDisk, seed: u64) -> [SimDisk; 2] {
    [
        disk.settled(),
        disk.power_cut(&mut common::crash::Rng::new(seed), true),
    ]
}

/// The default options with commits durable at `flush`.
fn on_flush() -> Options {
    Options {
        durability: Durability::OnFlush,
        ..Options::default()
    }
}

/// A value nested `depth` arrays deep.
fn nested(depth: usize) -> Node {
    (1..depth).fold(Node::int(1), |inner, _| Node::array(vec![inner]))
}

fn small_options() -> Options {
    Options {
        divisor: 2,
        persist_every: 3,
        ..Options::default()
    }
}

#[test]
fn whatever_commit_accepts_stays_readable_through_compaction_reopen_and_rebuild() {
    let dir = MemDir::new();
    let mut store = Store::open(&dir, small_options()).unwrap();
    // Once accepted and then unreadable forever after compaction wrapped it deeper.
    for depth in [255, 300, MAX_COMMIT_DEPTH + 1] {
        assert!(
            matches!(
                store.commit(vec![(p("deep"), nested(depth))]),
                Err(StoreError::TooDeep { .. })
            ),
            "a value {depth} deep"
        );
    }
    let long_path = KPath::from_segments(vec![Segment::Field("k".into()); 256]);
    assert!(matches!(
        store.commit(vec![(long_path, Node::int(1))]),
        Err(StoreError::TooDeep { .. })
    ));
    // Once a stack overflow that aborted the process.
    let huge_path = KPath::from_segments(vec![Segment::Index(0); 20_000]);
    assert!(matches!(
        store.commit(vec![(huge_path, Node::int(1))]),
        Err(StoreError::TooDeep { .. })
    ));
    assert_eq!(store.head(), 0, "nothing was written");
    // The deepest accepted commits, in every shape, with compaction and persistence crossing.
    let at_limit = MAX_COMMIT_DEPTH - 1; // under the root object's `deep` member
    store.commit(vec![(p("deep"), nested(at_limit))]).unwrap();
    let path = KPath::from_segments(vec![Segment::Field("k".into()); MAX_COMMIT_DEPTH - 1]);
    store.commit(vec![(path.clone(), Node::int(7))]).unwrap();
    store
        .commit(vec![(p("deep"), nested(at_limit).with_tag("!insert"))])
        .unwrap();
    // Edits deep inside it, which compaction composes with the value they edit.
    for (i, down) in [at_limit - 2, at_limit - 3, 10, at_limit - 2]
        .into_iter()
        .enumerate()
    {
        let mut segments = vec![Segment::Field("deep".into())];
        segments.extend(std::iter::repeat_n(Segment::Index(0), down));
        let edit = match i {
            0 => Node::int(5),
            1 => Node::array(vec![Node::int(1), Node::array(vec![])]),
            2 => Node::null().with_tag("!delete"),
            _ => Node::object(vec![("k".into(), Node::int(1))]),
        };
        match store.commit(vec![(KPath::from_segments(segments), edit)]) {
            Ok(_) | Err(StoreError::TooDeep { .. } | StoreError::PatchRejected(_)) => {}
            Err(e) => panic!("edit {i}: {e}"),
        }
    }
    for i in 0..20 {
        store.commit(vec![(p("n"), Node::int(i))]).unwrap();
    }
    let head = store.head();
    let expected = store.read_at(&KPath::root(), head).unwrap();
    store.verify().unwrap();
    store.close().unwrap();
    drop(store);
    for rebuild in [false, true] {
        if rebuild {
            dir.open("index.log").unwrap().set_len(0).unwrap();
        }
        let mut store = Store::open(&dir, small_options()).unwrap();
        assert_eq!(store.read_at(&KPath::root(), head).unwrap(), expected);
        assert_eq!(store.read_at(&path, head).unwrap(), Some(Node::int(7)));
        store.verify().unwrap();
        store.commit(vec![(p("after"), Node::int(1))]).unwrap();
    }
}

#[test]
fn a_failed_sync_latches_the_store_and_leaves_no_trace_in_memory() {
    let disk = SimDisk::new(1);
    let options = || Options {
        offset_index_min_bytes: 0, // every entry gets an offset index
        ..Options::default()
    };
    let mut store = Store::open(&disk, options()).unwrap();
    store
        .commit(vec![(
            p("a"),
            Node::object(vec![("b".into(), Node::int(1))]),
        )])
        .unwrap();
    // The next call is the commit's append; the one after it, its sync.
    disk.set_fault(Fault::Once(2));
    let failed = store.commit(vec![(p("x"), Node::string("lost"))]);
    assert!(failed.is_err());
    assert_eq!(store.head(), 1, "the failed commit is not the head");
    // Refused until reopened, however often it is retried.
    for _ in 0..2 {
        assert!(matches!(
            store.commit(vec![(p("y"), Node::int(2))]),
            Err(StoreError::PreviousIo { .. })
        ));
        assert!(matches!(store.flush(), Err(StoreError::PreviousIo { .. })));
    }
    // Reads still work.
    assert_eq!(store.read_at(&p("a.b"), 1).unwrap(), Some(Node::int(1)));
    drop(store);
    disk.release_all();
    // Reopened from what is on the medium, the store is whole either way.
    for image in settled_and_cut(&disk, 3) {
        let mut store = Store::open(&image, options()).unwrap();
        let head = store.head();
        assert!(head == 1 || head == 2, "head {head}");
        let c = store.commit(vec![(p("a.c"), Node::int(3))]).unwrap();
        assert_eq!(c, head + 1);
        drop(store);
        image.release_all();
        let mut store = Store::open(&image, options()).unwrap();
        assert_eq!(store.read_at(&p("a.c"), c).unwrap(), Some(Node::int(3)));
        assert_eq!(store.read_at(&p("a.b"), c).unwrap(), Some(Node::int(1)));
        store.verify().unwrap();
    }
}

/// `OnFlush` commits are buffered: the medium sees no write until the buffer fills or a flush,
/// reads see every commit at once, and a failed write-out latches the store. A reopen then
/// holds every flushed commit (and, as after a crash, maybe none of the unflushed ones).
#[test]
fn buffered_commits_read_at_once_and_a_failed_write_out_latches() {
    let disk = SimDisk::new(7);
    let options = on_flush;
    let mut store = Store::open(&disk, options()).unwrap();
    store.commit(vec![(p("flushed"), Node::int(1))]).unwrap();
    store.flush().unwrap();
    disk.set_fault(Fault::None);
    // Commits 2 to 11: no compaction either (its first entry is at commit 16).
    for i in 0..10 {
        store.commit(vec![(p("a"), Node::int(i))]).unwrap();
    }
    assert_eq!(disk.calls(), 0, "ten small commits wrote nothing yet");
    assert_eq!(store.read_at(&p("a"), 11).unwrap(), Some(Node::int(9)));
    assert_eq!(store.read_at(&p("a"), 2).unwrap(), Some(Node::int(0)));
    // The flush's first call is the write-out of the buffered commits: it fails.
    disk.set_fault(Fault::Once(1));
    assert!(matches!(store.flush(), Err(StoreError::PreviousIo { .. })));
    assert!(matches!(
        store.commit(vec![(p("b"), Node::int(1))]),
        Err(StoreError::PreviousIo { .. })
    ));
    // The buffered commits are still readable in this session.
    assert_eq!(store.read_at(&p("a"), 11).unwrap(), Some(Node::int(9)));
    assert!(matches!(store.close(), Err(StoreError::PreviousIo { .. })));
    drop(store);
    disk.release_all();
    for image in settled_and_cut(&disk, 9) {
        let mut store = Store::open(&image, options()).unwrap();
        assert!(store.head() >= 1, "the flushed commit is kept");
        assert_eq!(store.read_at(&p("flushed"), 1).unwrap(), Some(Node::int(1)));
        store.verify().unwrap();
        let c = store.commit(vec![(p("after"), Node::int(2))]).unwrap();
        assert_eq!(c, store.head());
    }
}

#[test]
fn after_a_failed_flush_a_retried_flush_does_not_claim_durability() {
    let disk = SimDisk::new(2);
    let options = on_flush;
    let mut store = Store::open(&disk, options()).unwrap();
    store.commit(vec![(p("a"), Node::int(1))]).unwrap();
    disk.set_fault(Fault::Once(1)); // the flush's first sync
    assert!(store.flush().is_err());
    assert!(matches!(store.flush(), Err(StoreError::PreviousIo { .. })));
    drop(store);
    disk.release_all();
    let mut store = Store::open(
        &disk.power_cut(&mut common::crash::Rng::new(5), true),
        options(),
    )
    .unwrap();
    assert!(store.head() <= 1);
    store.verify().unwrap();
}

#[test]
fn read_only_opens_never_create_truncate_or_write() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("store");
    // A missing directory is an error, and nothing is created.
    assert!(FsDir::existing(&path).is_err());
    assert!(!path.exists());
    let dir = FsDir::create(&path).unwrap();
    let mut store = Store::open(&dir, Options::default()).unwrap();
    store.commit(vec![(p("a"), Node::int(1))]).unwrap();
    store.commit(vec![(p("b"), Node::int(2))]).unwrap();
    store.close().unwrap();
    drop(store);
    // A torn tail and no index.
    let log = path.join("level0.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(&[7; 40]);
    std::fs::write(&log, &bytes).unwrap();
    std::fs::remove_file(path.join("index.log")).unwrap();
    let read_only = || Options {
        read_only: true,
        ..Options::default()
    };
    let dir = FsDir::existing(&path).unwrap();
    let mut store = Store::open(&dir, read_only()).unwrap();
    assert_eq!(store.head(), 2);
    assert_eq!(store.read_at(&p("b"), 2).unwrap(), Some(Node::int(2)));
    assert!(matches!(
        store.commit(vec![(p("c"), Node::int(3))]),
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(store.flush(), Err(StoreError::ReadOnly)));
    store.close().unwrap();
    drop(store);
    assert_eq!(
        std::fs::read(&log).unwrap(),
        bytes,
        "the torn tail is still there"
    );
    let mut names: Vec<String> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["compact.log", "level0.log"], "no index was written");
    // Garbage where the log should be: a typed error, and the bytes stay.
    std::fs::write(&log, b"this is not a tonystore log at all").unwrap();
    match Store::open(&dir, read_only()) {
        Err(StoreError::Corrupt { file, offset, .. }) => {
            assert!(file.ends_with("level0.log"));
            assert_eq!(offset, 0);
        }
        other => panic!("expected corruption, got {:?}", other.map(|s| s.head())),
    }
    assert_eq!(
        std::fs::read(&log).unwrap(),
        b"this is not a tonystore log at all"
    );
    // A writer open refuses it too, and does not repair it by cutting.
    assert!(Store::open(&dir, Options::default()).is_err());
    assert_eq!(
        std::fs::read(&log).unwrap(),
        b"this is not a tonystore log at all"
    );
}

#[test]
fn a_log_from_a_newer_format_is_a_typed_error() {
    let dir = MemDir::new();
    drop(Store::open(&dir, Options::default()).unwrap());
    let log = dir.open("level0.log").unwrap();
    let mut header = [0u8; 16];
    log.read_exact_at(0, &mut header).unwrap();
    header[8..12].copy_from_slice(&3u32.to_be_bytes());
    let crc = crc32c::crc32c(&header[..12]);
    header[12..].copy_from_slice(&crc.to_be_bytes());
    log.write_all_at(0, &header).unwrap();
    drop(log);
    assert!(matches!(
        Store::open(&dir, Options::default()),
        Err(StoreError::UnsupportedFormat {
            found: 3,
            supported: 2,
            ..
        })
    ));
}

/// A frame header as docs/FORMAT.md lays it out: length, synced end, their CRC, payload CRC.
fn frame_header(len: u32, synced_end: u64, payload_crc: u32) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(&len.to_be_bytes());
    header.extend_from_slice(&synced_end.to_be_bytes());
    let crc = crc32c::crc32c(&header);
    header.extend_from_slice(&crc.to_be_bytes());
    header.extend_from_slice(&payload_crc.to_be_bytes());
    header
}

#[test]
fn a_checksum_valid_frame_that_does_not_decode_is_never_cut() {
    let dir = MemDir::new();
    let mut store = Store::open(&dir, Options::default()).unwrap();
    store.commit(vec![(p("a"), Node::int(1))]).unwrap();
    store.close().unwrap();
    drop(store);
    // Append a well-formed frame whose payload this version cannot decode.
    let log = dir.open("level0.log").unwrap();
    let end = log.len().unwrap();
    let payload = b"!entry-v9 {future: true}";
    let mut frame = frame_header(payload.len() as u32, end, crc32c::crc32c(payload));
    frame.extend_from_slice(payload);
    log.write_all_at(end, &frame).unwrap();
    drop(log);
    assert!(matches!(
        Store::open(&dir, Options::default()),
        Err(StoreError::Corrupt { offset, .. }) if offset == end
    ));
    assert_eq!(
        dir.open("level0.log").unwrap().len().unwrap(),
        end + frame.len() as u64,
        "nothing was cut"
    );
}

/// What a [`ReadHook`] runs before each read of the named file.
/// Called with the file's name and the read's length.
type OnRead = std::sync::Arc<dyn Fn(&str, usize) -> tonystore::storage::Result<()> + Send + Sync>;

/// A directory whose files call `on_read` before every read: to count reads, or to fail them.
#[derive(Clone)]
struct ReadHook {
    inner: MemDir,
    on_read: OnRead,
}

struct HookedFile {
    inner: Box<dyn BlockFile>,
    on_read: OnRead,
}

impl BlockFile for HookedFile {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn len(&self) -> tonystore::storage::Result<u64> {
        self.inner.len()
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> tonystore::storage::Result<()> {
        (self.on_read)(self.name(), buf.len())?;
        self.inner.read_exact_at(offset, buf)
    }
    fn write_all_at(&self, offset: u64, data: &[u8]) -> tonystore::storage::Result<()> {
        self.inner.write_all_at(offset, data)
    }
    fn set_len(&self, len: u64) -> tonystore::storage::Result<()> {
        self.inner.set_len(len)
    }
    fn sync(&self) -> tonystore::storage::Result<()> {
        self.inner.sync()
    }
    fn close(&self) -> tonystore::storage::Result<()> {
        self.inner.close()
    }
    fn preallocation(&self) -> u64 {
        self.inner.preallocation()
    }
}

impl StoreDir for ReadHook {
    fn open(&self, name: &str) -> tonystore::storage::Result<Box<dyn BlockFile>> {
        Ok(Box::new(HookedFile {
            inner: self.inner.open(name)?,
            on_read: self.on_read.clone(),
        }))
    }
    fn location(&self) -> String {
        "hooked".into()
    }
}

#[test]
fn a_large_torn_frame_is_recognised_in_a_few_large_reads() {
    let dir = MemDir::new();
    let mut store = Store::open(&dir, Options::default()).unwrap();
    store.commit(vec![(p("a"), Node::int(1))]).unwrap();
    store.close().unwrap();
    drop(store);
    dir.open("index.log").unwrap().set_len(0).unwrap();
    // A 10 MB frame of which 6 MB reached the disk: once two host calls per byte to recognise.
    let log = dir.open("level0.log").unwrap();
    let end = log.len().unwrap();
    let header = frame_header(10_000_000, end, 0);
    assert_eq!(header.len() as u64, FRAME_HEADER);
    log.write_all_at(end, &header).unwrap();
    log.write_all_at(end + FRAME_HEADER, &vec![b'x'; 6_000_000])
        .unwrap();
    drop(log);
    let reads = std::sync::Arc::new(AtomicU64::new(0));
    let counter = reads.clone();
    let counting = ReadHook {
        inner: dir.clone(),
        on_read: std::sync::Arc::new(move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }),
    };
    let mut store = Store::open(&counting, Options::default()).unwrap();
    assert_eq!(store.head(), 1);
    let reads = reads.load(Ordering::Relaxed);
    assert!(reads < 100, "recovery made {reads} read calls");
    assert_eq!(store.stats().level0_bytes, end);
    assert!(end > LOG_HEADER);
    store.verify().unwrap();
}

#[test]
fn a_header_torn_while_the_log_was_created_is_a_new_log() {
    // Found by the heavy campaign: a header rewrite that failed half-way left the magic and
    // garbage; a file that short holds no frame, so it is a new log, not corruption.
    for torn in [
        &b"TNYSTLOG\x01\x02\x03\x04\x05\x06\x07\x08"[..],
        b"TNYST",
        b"\xff\xfe",
    ] {
        let dir = MemDir::new();
        dir.open("level0.log")
            .unwrap()
            .write_all_at(0, torn)
            .unwrap();
        let mut store = Store::open(&dir, Options::default()).unwrap();
        assert_eq!(store.head(), 0);
        store.commit(vec![(p("a"), Node::int(1))]).unwrap();
    }
}

/// A store with one large entry (offset-indexed) and its members' expected values.
fn large_entry_store(dir: &MemDir) -> (u64, Vec<(KPath, Node)>) {
    let members: Vec<(tonystore::tony::Key, Node)> = (0..400)
        .map(|i| {
            (
                format!("m{i}").as_str().into(),
                Node::string(&format!("{i:0>300}")),
            )
        })
        .collect();
    let expected = members
        .iter()
        .map(|(k, v)| (p(&format!("doc.{}", k.to_text())), v.clone()))
        .collect();
    let mut store = Store::open(dir, Options::default()).unwrap();
    // (A first commit makes the root an object, so the large one ends at `doc`, where its
    // offset index serves reads.)
    store.commit(vec![(p("a"), Node::int(1))]).unwrap();
    store
        .commit(vec![(p("doc"), Node::object(members).with_tag("!insert"))])
        .unwrap();
    store.close().unwrap();
    let log = dir.open("level0.log").unwrap();
    (log.len().unwrap(), expected)
}

#[test]
fn a_damaged_byte_inside_a_large_entry_is_an_error_not_a_wrong_value() {
    let dir = MemDir::new();
    let (len, expected) = large_entry_store(&dir);
    // Damage one byte of a member's value in the middle of the entry.
    let log = dir.open("level0.log").unwrap();
    let mut bytes = vec![0u8; len as usize];
    log.read_exact_at(0, &mut bytes).unwrap();
    let at = bytes.windows(6).position(|w| w == b"000200").unwrap();
    log.write_all_at(at as u64, b"9").unwrap();
    drop(log);
    let mut store = Store::open(&dir, Options::default()).unwrap();
    let mut errors = 0;
    for (path, value) in &expected {
        match store.read_at(path, 2) {
            Ok(read) => assert_eq!(read.as_ref(), Some(value), "{path} read wrong"),
            Err(StoreError::Corrupt { .. }) => errors += 1,
            Err(e) => panic!("{path}: {e}"),
        }
    }
    assert!(errors > 0, "the damaged chunk was never read");
    assert!(
        errors < 20,
        "{errors} reads failed: only the damaged chunk's members may"
    );
    assert!(matches!(
        store.read_at(&p("doc.m200"), 2),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(
        store.stats().read_from_offsets > 0,
        "reads went through the offset index"
    );
    assert!(store.verify().is_err());
}

#[test]
fn a_read_error_inside_a_seek_is_an_error_not_absence() {
    let dir = MemDir::new();
    let (_, expected) = large_entry_store(&dir);
    let failing_now = std::sync::Arc::new(AtomicBool::new(false));
    let fails = failing_now.clone();
    let failing = ReadHook {
        inner: dir,
        // Frame headers still read, so reads get as far as seeking inside the entry.
        on_read: std::sync::Arc::new(move |file, len| {
            if !fails.load(Ordering::Relaxed) || len <= 64 {
                return Ok(());
            }
            Err(tonystore::storage::StorageError::Io {
                file: file.to_owned(),
                source: std::io::Error::other("injected read failure"),
            })
        }),
    };
    let store = Store::open(&failing, Options::default()).unwrap();
    // One read first loads the entry's offset index from `index.log`.
    let (first, value) = expected.first().unwrap();
    assert_eq!(store.read_at(first, 2).unwrap().as_ref(), Some(value));
    // Every read fails from now on: each answer must be an I/O error, never `None`, and
    // never `Corrupt` (the bytes on disk are fine).
    failing_now.store(true, Ordering::Relaxed);
    for (path, _) in expected.iter().step_by(37) {
        match store.read_at(path, 2) {
            Err(StoreError::Storage(tonystore::storage::StorageError::Io { file, source })) => {
                assert_eq!(file, "level0.log");
                assert!(
                    source.to_string().contains("injected read failure"),
                    "{source}"
                );
            }
            other => panic!("{path}: expected an I/O error, got {other:?}"),
        }
    }
    // A key that is absent (the filters may need bytes to tell) is an error or a proven
    // absence, never a value.
    assert!(!matches!(store.read_at(&p("doc.nope"), 2), Ok(Some(_))));
}

#[test]
fn a_stale_index_beside_a_replaced_log_is_ignored_not_trusted() {
    // Store A's index copied beside store B's logs: checksum-valid, but they describe
    // other frames. (Found by fuzzing as a slot listing commit 2^63 at the first frame, which
    // made open build compaction entries forever.)
    let a = MemDir::new();
    let mut store = Store::open(&a, Options::default()).unwrap();
    for i in 0..3 {
        store.commit(vec![(p("a"), Node::int(i))]).unwrap();
    }
    store.close().unwrap();
    drop(store);
    let b = MemDir::new();
    let mut store = Store::open(&b, Options::default()).unwrap();
    for i in 0..5 {
        store
            .commit(vec![(p("b"), Node::string(&"x".repeat(100 + i)))])
            .unwrap();
    }
    store.close().unwrap();
    drop(store);
    let from = a.open("index.log").unwrap();
    let mut bytes = vec![0; from.len().unwrap() as usize];
    from.read_exact_at(0, &mut bytes).unwrap();
    let to = b.open("index.log").unwrap();
    to.set_len(0).unwrap();
    to.write_all_at(0, &bytes).unwrap();
    drop((from, to));
    let mut store = Store::open(&b, Options::default()).unwrap();
    assert_eq!(store.head(), 5);
    assert_eq!(store.stats().recovery, "full");
    assert_eq!(
        store.read_at(&p("b"), 3).unwrap(),
        Some(Node::string(&"x".repeat(102)))
    );
    store.verify().unwrap();
}

/// An array of `n` small records (about 40 bytes each in wire form).
fn records(n: i64) -> Node {
    Node::array(
        (0..n)
            .map(|i| {
                Node::object(vec![
                    (Key::str("id"), Node::int(i)),
                    (
                        Key::str("name"),
                        Node::string(&format!("record number {i}")),
                    ),
                ])
            })
            .collect(),
    )
}

/// Slow recovery: a large entry found by the scan was read three times (checked and decoded,
/// checksummed again in chunks, scanned again for its offset index), five times when a lost
/// level entry over it was rebuilt. Now every byte once.
#[test]
fn recovery_reads_a_large_entry_once() {
    // Without its index the store recovers by scanning both logs, the large entry included;
    // without the level entry of a complete range (compacted entries are not synced: a power
    // cut can lose one) it also composes that range again, with the head state.
    for (commits, lose_compaction) in [(2u64, false), (16, true)] {
        let (dir, read) = common::CountingDir::logs_only();
        let doc = Node::object(vec![(Key::str("items"), records(220_000))]);
        {
            let mut store = Store::open(&dir, Options::default()).unwrap();
            store
                .commit(vec![(KPath::root(), doc.clone().with_tag("!insert"))])
                .unwrap();
            for i in 1..commits {
                store
                    .commit(vec![(KPath::parse("note").unwrap(), Node::int(i as i64))])
                    .unwrap();
            }
            store.close().unwrap();
        }
        dir.inner.open("index.log").unwrap().set_len(0).unwrap();
        if lose_compaction {
            dir.inner.open("compact.log").unwrap().set_len(0).unwrap();
        }
        let logs: u64 = ["level0.log", "compact.log"]
            .iter()
            .map(|name| dir.inner.open(name).unwrap().len().unwrap())
            .sum();
        assert!(logs >= 8 << 20, "the logs hold {logs} bytes");
        read.store(0, Ordering::Relaxed);
        let mut store = Store::open(&dir, Options::default()).unwrap();
        let recovered = read.load(Ordering::Relaxed);
        eprintln!("recovering {logs} bytes of logs ({commits} commits) read {recovered} bytes");
        assert_eq!(store.stats().recovery, "full");
        assert!(
            recovered * 10 <= logs * 11,
            "recovering {logs} bytes of logs read {recovered} bytes"
        );
        assert_eq!(store.stats().entries_read, 0);
        let path = KPath::parse("items[5].id").unwrap();
        assert_eq!(store.read_at(&path, commits).unwrap(), Some(Node::int(5)));
        store.close().unwrap();
        // The offset index the scan built was saved: after a reopen, a small read is served
        // from the bytes around the value.
        let store = Store::open(&dir, Options::default()).unwrap();
        read.store(0, Ordering::Relaxed);
        assert_eq!(store.read_at(&path, 1).unwrap(), Some(Node::int(5)));
        assert!(read.load(Ordering::Relaxed) < 16 * 1024);
        assert_eq!(store.stats().read_from_offsets, 1);
    }
}

#[test]
fn a_value_its_text_form_cannot_carry_is_refused_not_acknowledged_and_unreadable() {
    use tonystore::tony::{Float, Problem, Value};
    // Each was once acknowledged, read back from the cache, and after a reopen failed every
    // read as a corrupt entry (or, for the floats, silently read back as null).
    let float_text = Node::new(Value::Float(Float {
        value: 1.5,
        text: Some("x".into()),
    }));
    let cases = [
        (
            Node::object(vec![("a".into(), Node::int(1)), ("a".into(), Node::int(2))]),
            "doc",
            Problem::DuplicateKey("a".into()),
        ),
        (
            Node::object(vec![
                ("a".into(), Node::int(1)),
                (Key::Int(3), Node::int(2)),
            ])
            .with_tag("!replace"),
            "doc",
            Problem::MixedKeys,
        ),
        (
            Node::object(vec![(
                "m".into(),
                Node::object(vec![(Key::Merge, Node::int(1))]),
            )]),
            "doc.m",
            Problem::MergeValue,
        ),
        (
            Node::array(vec![Node::int(1).with_tag("!a b")]),
            "doc[0]",
            Problem::Tag("!a b".into()),
        ),
        (
            Node::int(1).with_tag("!a,b"),
            "doc",
            Problem::Tag("!a,b".into()),
        ),
        (Node::int(1).with_tag("!"), "doc", Problem::Tag("!".into())),
        (Node::float(f64::NAN), "doc", Problem::NonFiniteFloat),
        (float_text, "doc", Problem::FloatText("x".into())),
    ];
    let dir = MemDir::new();
    let mut store = Store::open(&dir, small_options()).unwrap();
    store.commit(vec![(p("doc"), Node::int(0))]).unwrap();
    for (value, at, problem) in cases {
        let err = store
            .commit(vec![(p("ok"), Node::int(1)), (p("doc"), value)])
            .unwrap_err();
        assert_eq!(err.code(), "invalid_value", "{err}");
        match err {
            StoreError::InvalidValue {
                path,
                problem: found,
            } => {
                assert_eq!((path.as_str(), found), (at, problem));
            }
            other => panic!("{other}"),
        }
        assert_eq!(store.head(), 1, "nothing was written");
    }
    store.close().unwrap();
    drop(store);
    let mut store = Store::open(&dir, small_options()).unwrap();
    assert_eq!(store.read_at(&p("doc"), 1).unwrap(), Some(Node::int(0)));
    assert_eq!(store.read_at(&p("ok"), 1).unwrap(), None);
    store.commit(vec![(p("doc"), Node::int(2))]).unwrap();
    store.verify().unwrap();
}

/// Where the frames of a log file end: after its last byte that is not zero (a frame's
/// payload ends with its entry's text).
fn frames_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1)
}

#[test]
fn a_log_extended_ahead_of_its_end_reopens_at_its_last_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("store");
    let log = path.join("level0.log");
    let dir = FsDir::create(&path).unwrap();
    let mut store = Store::open(&dir, Options::default()).unwrap();
    for i in 1..=5 {
        store.commit(vec![(p("n"), Node::int(i))]).unwrap();
    }
    store.close().unwrap();
    drop(store);
    // Native files are extended a megabyte ahead of a frame that does not fit (zeros).
    let bytes = std::fs::read(&log).unwrap();
    let end = frames_end(&bytes);
    assert!(
        bytes.len() >= 1 << 20 && end < 1 << 10,
        "{} bytes, frames to {end}",
        bytes.len()
    );
    // A read-only open reads every commit and changes nothing.
    let read_only = Options {
        read_only: true,
        ..Options::default()
    };
    let mut store = Store::open(&FsDir::existing(&path).unwrap(), read_only).unwrap();
    assert_eq!(store.head(), 5);
    assert_eq!(store.read_at(&p("n"), 3).unwrap(), Some(Node::int(3)));
    store.verify().unwrap();
    drop(store);
    assert_eq!(std::fs::read(&log).unwrap(), bytes);
    // A writer goes on after the last frame, in the space already there; the open's progress
    // ends at its total (which counted the free space too).
    let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = reports.clone();
    let with_progress = Options {
        on_progress: Some(Box::new(move |p| {
            seen.lock().unwrap().push((p.done, p.total))
        })),
        ..Options::default()
    };
    let mut store = Store::open(&FsDir::existing(&path).unwrap(), with_progress).unwrap();
    let (done, total) = *reports
        .lock()
        .unwrap()
        .last()
        .expect("progress was reported");
    assert_eq!(done, total);
    assert!(total > 1 << 19, "the free space counts: {total}");
    assert_eq!(store.commit(vec![(p("n"), Node::int(6))]).unwrap(), 6);
    store.close().unwrap();
    drop(store);
    let after = std::fs::read(&log).unwrap();
    assert_eq!(after.len(), bytes.len(), "the file kept its length");
    assert_eq!(
        after[..end],
        bytes[..end],
        "the frames before are untouched"
    );
    let end = frames_end(&after);
    // A torn frame inside the extended space is cut off, with the space after it.
    let mut torn = after.clone();
    torn[end..end + 30].copy_from_slice(&[0x5A; 30]);
    std::fs::write(&log, &torn).unwrap();
    let mut store = Store::open(&FsDir::existing(&path).unwrap(), Options::default()).unwrap();
    assert_eq!(store.head(), 6);
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        end as u64,
        "cut at the torn frame"
    );
    assert_eq!(store.commit(vec![(p("n"), Node::int(7))]).unwrap(), 7);
    assert_eq!(store.read_at(&p("n"), 6).unwrap(), Some(Node::int(6)));
    store.verify().unwrap();
}

#[test]
fn a_patch_that_would_build_a_tag_that_does_not_read_back_is_refused() {
    // The patch itself reads back (a tag's arguments may hold a blank), but the value it
    // builds would be tagged `!a b`: once compaction wrote that value, the store did not open.
    let dir = MemDir::new();
    let mut store = Store::open(&dir, small_options()).unwrap();
    let tony = |text: &str| tonystore::tony::parse(text).unwrap();
    store
        .commit(vec![(p("x"), tony("!insert {z: 0}"))])
        .unwrap();
    store.commit(vec![(p("t"), tony("!insert 1"))]).unwrap();
    for (at, patch) in [
        ("x.y", "!insert(a b) 1"),
        ("x", "{y: !insert(a b) 1}"),
        ("t", "!addtag(a b) null"),
        ("t", "!addtag(a#b) null"),
        ("l", "!arraydiff {0: !insert(a b) 1}"),
    ] {
        let err = store.commit(vec![(p(at), tony(patch))]).unwrap_err();
        assert_eq!(err.code(), "patch_rejected", "{patch}: {err}");
        assert!(
            err.to_string().contains("does not read back as a tag"),
            "{err}"
        );
    }
    store
        .commit(vec![(p("t"), tony("!addtag(ok) null"))])
        .unwrap();
    store
        .commit(vec![(p("t"), tony("!retag(ok,a b) null"))])
        .unwrap_err();
    store
        .commit(vec![(p("x.y"), tony("!insert(fine) 1"))])
        .unwrap();
    for i in 0..8 {
        store.commit(vec![(p("n"), Node::int(i))]).unwrap();
    }
    let head = store.head();
    store.close().unwrap();
    drop(store);
    let mut store = Store::open(&dir, small_options()).unwrap();
    assert_eq!(store.head(), head);
    let y = store.read_at(&p("x.y"), head).unwrap().unwrap();
    assert_eq!(y.tag(), Some("!fine"));
    assert_eq!(
        store.read_at(&p("t"), head).unwrap().unwrap().tag(),
        Some("!ok")
    );
    store.verify().unwrap();
}

#[test]
fn a_tag_with_two_bangs_survives_compaction_and_diffs() {
    // `!!k(id)` is a tag (a link named `!k`). Compaction wrapped a value's tag into
    // `!insert(...)` less every leading `!`, so reads after compaction said `!k(id)` while the
    // log said `!!k(id)` (and `verify` failed); diffs built their tag ops the same way.
    let dir = MemDir::new();
    let mut store = Store::open(&dir, small_options()).unwrap();
    let tony = |text: &str| tonystore::tony::parse(text).unwrap();
    store.commit(vec![(p("b"), tony("[{id: 1}]"))]).unwrap();
    store
        .commit(vec![(p("b"), tony("!!k(id) [{id: 2}]"))])
        .unwrap();
    for i in 0..6 {
        store.commit(vec![(p("n"), Node::int(i))]).unwrap();
    }
    for c in 2..=store.head() {
        let b = store.read_at(&p("b"), c).unwrap().unwrap();
        assert_eq!(b.tag(), Some("!!k(id)"), "at commit {c}");
    }
    store.verify().unwrap();
    let (from, to) = (tony("!!a 1"), tony("!!b 1"));
    for (a, b) in [(&from, &to), (&Node::int(1), &to), (&from, &Node::int(1))] {
        let d = tonystore::patch::diff(a, b).unwrap();
        assert_eq!(
            &tonystore::patch::patch(a, &d).unwrap(),
            b,
            "{}",
            tonystore::tony::encode_wire(&d)
        );
    }
}

/// A checkpoint saved during commit `n` (every `persist_every` commits) recorded transaction
/// `n - 1` as the last one used: after a crash, the next commit took transaction `n` again.
/// Found by sealing runs of the index, whose checkpoints are checked against the save after.
#[test]
fn a_crash_after_a_checkpoint_never_reuses_a_transaction_number() {
    let disk = SimDisk::new(11);
    let options = || Options {
        persist_every: 5,
        ..Options::default()
    };
    let mut store = Store::open(&disk, options()).unwrap();
    for i in 0..5 {
        store.commit(vec![(p("a"), Node::int(i))]).unwrap();
    }
    let last_tx = store.entry(5).unwrap().tx;
    // Power cut: every commit was synced (`EveryCommit`), the index saved during commit 5.
    let image = disk.power_cut(&mut common::crash::Rng::new(12), true);
    drop(store);
    let mut store = Store::open(&image, options()).unwrap();
    assert_eq!(store.head(), 5);
    store.commit(vec![(p("a"), Node::int(5))]).unwrap();
    assert!(
        store.entry(6).unwrap().tx > last_tx,
        "transaction {} used twice",
        last_tx
    );
}

/// A merge key's value inside a large entry: the offset index once took it for its object
/// (both have the object's path), so a read of the object through the index started at the
/// merge value's text and answered with that string.
#[test]
fn a_merge_key_inside_a_large_entry_reads_back_as_its_object() {
    let dir = MemDir::new();
    let options = || Options {
        offset_index_min_bytes: 0,
        ..small_options()
    };
    let long = "words ".repeat(2_000);
    let object = Node::object(vec![
        (Key::Merge, Node::string("base")),
        (Key::str("a"), Node::string(&long)),
        (Key::str("b"), Node::string(&long)),
        (Key::str("c"), Node::int(3)),
    ]);
    let patch = Node::object(vec![(Key::str("big"), object.clone())]);
    {
        let mut store = Store::open(&dir, options()).unwrap();
        store.commit(vec![(p("doc"), patch)]).unwrap();
        store.close().unwrap();
    }
    // Reopened: nothing cached, so reads go through the offset index.
    let store = Store::open(&dir, options()).unwrap();
    assert_eq!(store.read_at(&p("doc.big"), 1).unwrap(), Some(object));
    assert_eq!(
        store.read_at(&p("doc.big.c"), 1).unwrap(),
        Some(Node::int(3))
    );
    assert_eq!(
        store.read_at(&p("doc.big.b"), 1).unwrap(),
        Some(Node::string(&long))
    );
}
