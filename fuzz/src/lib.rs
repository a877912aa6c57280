//! The fuzz targets of tonystore, as plain functions (each `fuzz_targets/<name>.rs` calls one).
//!
//! Every function takes the fuzzer's bytes and panics only when a property fails: the library
//! itself must never panic, abort, overflow its stack or run out of memory on any input; and
//! where an input is accepted, round trips must hold.
//!
//! Input layouts (the seeds in `corpus/<target>/` follow them; `examples/make_corpus.rs` writes
//! the seeds):
//!
//! * `tony_parse`: Tony text (any bytes; the lexer also sees invalid UTF-8), read as one document
//!   and as a file of several.
//! * `kpath_parse`: a kinded path, optionally followed by NUL and a Tony document to `get` it in.
//! * `patch_apply`: document, NUL, patch (both Tony text). The patch is applied, reversed and
//!   matched; the pair is diffed and the diff applied and reversed.
//! * `store_open`: [`StoreInput`]: a flag byte, two little-endian `u16` lengths, then the bytes
//!   of `level0.log`, `compact.log` and (the rest) `index.log`.
//! * `index_log`: a flag byte ([`index_flags`]), then bytes of `index.log`: the whole file, or
//!   (flag `APPEND`) what follows the base store's valid records; the logs are those of a small
//!   valid store built once per process ([`base_store`]).
//! * `shipment`: a flag byte ([`shipment_flags`]), then a shipment (`Store::export`'s bytes)
//!   for a store holding the base store's first 0–3 commits to import.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use tonystore::engine::internals::{FRAME_HEADER, LOG_HEADER};
use tonystore::engine::{Durability, Options, Store, STORE_FILES};
use tonystore::kpath::{get, KPath};
use tonystore::patch::{apply_to, diff, matches, patch, reverse};
use tonystore::storage::{BlockFile, MemDir, StoreDir};
use tonystore::tony::{
    encode_block, encode_wire, parse, parse_annotated, parse_documents, parse_from_token_source,
    Key, Lexer, Node, Value,
};

/// Largest single allocation a fuzz run may make. Inputs are at most a few dozen KiB, so a
/// bigger request is a length or count read from the input and trusted: the guard reports it
/// with a backtrace and aborts (a crash with a location) instead of libFuzzer's bare
/// out-of-memory report once the process has grown past its RSS limit.
pub const MAX_ALLOCATION: usize = 256 << 20;

struct GuardedAlloc;

unsafe impl std::alloc::GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        check_size(layout.size());
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        check_size(layout.size());
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        check_size(new_size);
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

fn check_size(size: usize) {
    if size > MAX_ALLOCATION {
        // Unwinding out of an allocator is not allowed: print where, then abort (libFuzzer
        // records the input as a crash).
        eprintln!(
            "==tonystore-fuzz== allocation of {size} bytes (limit {MAX_ALLOCATION}) at:\n{}",
            std::backtrace::Backtrace::force_capture()
        );
        std::process::abort();
    }
}

#[global_allocator]
static ALLOC: GuardedAlloc = GuardedAlloc;

/// Runs one fuzz input under the hang watchdog: an input that runs longer than
/// `TONYSTORE_FUZZ_HANG_SECS` (default 10) seconds aborts the process from a watchdog thread,
/// and libFuzzer saves it as a crash. (libFuzzer's own `-timeout` reports from a SIGALRM handler
/// on the fuzzing thread, which deadlocks when the alarm lands inside malloc; scripts/fuzz sets
/// that one higher.)
pub fn run(data: &[u8], target: fn(&[u8])) {
    static WATCHDOG: OnceLock<()> = OnceLock::new();
    WATCHDOG.get_or_init(|| {
        let limit_ms = std::env::var("TONYSTORE_FUZZ_HANG_SECS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(10)
            * 1000;
        std::thread::spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let started = INPUT_STARTED.load(Ordering::Acquire);
            if started != 0 && clock_ms().saturating_sub(started) > limit_ms {
                eprintln!(
                    "==tonystore-fuzz== hang: one input has run for more than {} s",
                    limit_ms / 1000
                );
                std::process::abort();
            }
        });
    });
    INPUT_STARTED.store(clock_ms().max(1), Ordering::Release);
    target(data);
    INPUT_STARTED.store(0, Ordering::Release);
}

/// When the running input started ([`clock_ms`]), or 0 between inputs.
static INPUT_STARTED: AtomicU64 = AtomicU64::new(0);

/// Milliseconds since the first call.
fn clock_ms() -> u64 {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    BASE.get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

/// Largest input text the value targets look at; longer inputs are cut (keeps each run fast).
const MAX_TEXT: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Tony parser

/// Lexes and parses arbitrary bytes; whatever parses must round-trip through the wire and block
/// encoders, and the fast bracketed path must agree with the general parser.
pub fn tony_parse(data: &[u8]) {
    let data = &data[..data.len().min(MAX_TEXT)];
    // The lexer reads bytes, not text: it must cope with invalid UTF-8 too.
    let mut lexer = Lexer::new(data);
    for _ in 0..=data.len() + 1 {
        match lexer.next_token() {
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let general = parse_from_token_source(Lexer::new(data));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A file of several documents: the annotated reader agrees, and each document's wire form
    // round-trips.
    let documents = parse_documents(text);
    let annotated_documents = tonystore::tony::parse_documents_annotated(text, Default::default());
    assert_eq!(
        documents.as_ref().ok(),
        annotated_documents
            .as_ref()
            .ok()
            .map(|docs| docs
                .iter()
                .map(|(node, _)| node.clone())
                .collect::<Vec<_>>())
            .as_ref(),
        "parse_documents and parse_documents_annotated disagree on {text:?}"
    );
    // Keeping repeated keys reads more, never differently, and what it reads round-trips.
    let keeping = tonystore::tony::ParseOptions::keeping_duplicate_keys();
    let kept = tonystore::tony::parse_documents_annotated(text, keeping);
    if let Ok(documents) = &documents {
        let kept: Vec<Node> = kept.iter().flatten().map(|(node, _)| node.clone()).collect();
        assert_eq!(&kept, documents, "keeping repeated keys changed {text:?}");
    }
    for (doc, _) in kept.iter().flatten() {
        let wire = encode_wire(doc);
        let back = tonystore::tony::parse_documents_annotated(&wire, keeping)
            .unwrap_or_else(|e| panic!("a document with kept keys does not read back: {e}\n{wire}"));
        assert_eq!(back.len(), 1, "{wire}");
        assert_eq!(back.first().map(|(node, _)| node), Some(doc), "{wire}");
    }
    for doc in documents.iter().flatten() {
        let wire = encode_wire(doc);
        let back = parse(&wire)
            .unwrap_or_else(|e| panic!("a document's wire form does not parse: {e}\n{wire}"));
        assert_eq!(
            &back, doc,
            "a document's wire form does not round-trip: {wire}"
        );
    }
    let parsed = parse(text);
    assert_eq!(
        parsed.as_ref().ok(),
        general.as_ref().ok(),
        "parse and the general parser disagree on {text:?}"
    );
    let annotated = parse_annotated(text);
    let Ok(node) = parsed else {
        return;
    };
    let wire = encode_wire(&node);
    let back = parse(&wire).unwrap_or_else(|e| panic!("wire form does not parse: {e}\n{wire}"));
    assert_eq!(back, node, "wire form does not round-trip: {wire}");
    assert_eq!(encode_wire(&back), wire, "wire form is not canonical");
    let block = encode_block(&node);
    let back = parse(&block).unwrap_or_else(|e| panic!("block form does not parse: {e}\n{block}"));
    assert_eq!(back, node, "block form does not round-trip:\n{block}");
    let (kept, notes) =
        annotated.unwrap_or_else(|e| panic!("parse_annotated fails where parse succeeds: {e}"));
    assert_eq!(kept, node, "parse_annotated reads another value");
    let annotated_block = tonystore::tony::encode_block_annotated(&kept, &notes);
    let back = parse(&annotated_block)
        .unwrap_or_else(|e| panic!("annotated block form does not parse: {e}\n{annotated_block}"));
    assert_eq!(
        back, node,
        "annotated block form does not round-trip:\n{annotated_block}"
    );
}

// ---------------------------------------------------------------------------------------------
// Kinded paths

/// Parses a path; a parsed path writes canonically and parses back to itself. With a document
/// after a NUL, `get` and the path helpers run on it.
pub fn kpath_parse(data: &[u8]) {
    let data = &data[..data.len().min(MAX_TEXT)];
    let (path_bytes, doc_bytes) = split_nul(data);
    let Ok(text) = std::str::from_utf8(path_bytes) else {
        return;
    };
    let Ok(path) = KPath::parse(text) else {
        return;
    };
    let canonical = path.to_string();
    let again = KPath::parse(&canonical)
        .unwrap_or_else(|e| panic!("canonical form {canonical:?} of {text:?} does not parse: {e}"));
    assert_eq!(
        again, path,
        "{text:?} -> {canonical:?} parses to another path"
    );
    assert_eq!(again.to_string(), canonical, "canonical form is not stable");
    // The structural helpers agree with each other.
    let parts = path.split_all();
    assert_eq!(parts.len(), path.len());
    if let Some((first, rest)) = path.split_first() {
        assert_eq!(first.join(&rest), path);
    }
    if let Some((parent, last)) = path.split_last() {
        assert_eq!(parent.join(&last), path);
        assert_eq!(parent, path.parent());
        assert!(parent.is_prefix_of(&path));
    }
    let Some(doc) = doc_bytes.and_then(|b| std::str::from_utf8(b).ok()) else {
        return;
    };
    if let Ok(doc) = parse(doc) {
        let _ = get(&doc, &path);
        for (p, v) in tonystore::kpath::extract_all(&doc).into_iter().take(64) {
            let found = get(&doc, &p);
            assert!(
                matches!(found, Ok(Some(_))),
                "extract_all lists {p} but get does not find it: {found:?} (value {})",
                encode_wire(&v)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Patches

/// Applies, reverses and matches a patch against a document, and diffs the two values both
/// ways: diff then apply gives the target, and the reversed diff takes it back.
pub fn patch_apply(data: &[u8]) {
    let data = &data[..data.len().min(MAX_TEXT)];
    let (a, b) = split_nul(data);
    let Some(b) = b else {
        return;
    };
    let (Ok(a), Ok(b)) = (std::str::from_utf8(a), std::str::from_utf8(b)) else {
        return;
    };
    let (Ok(doc), Ok(p)) = (parse(a), parse(b)) else {
        return;
    };
    // The second value as a patch: none of these may panic.
    let applied = patch(&doc, &p);
    let _ = apply_to(None, &p);
    let _ = apply_to(Some(&doc), &p);
    let _ = matches(&doc, &p);
    if let (Ok(after), Ok(rev)) = (&applied, reverse(&p)) {
        let _ = patch(after, &rev);
    }
    // The two as values: diff must take one to the other, and its reverse back.
    diff_round_trip(&doc, &p);
    diff_round_trip(&p, &doc);
}

/// `diff(from, to)` applied to `from` gives `to` (object key order aside), and its reverse
/// applied to `to` gives `from`. Values that carry patch op tags themselves are skipped: a diff
/// writes such data as patch text, where the tags mean ops.
fn diff_round_trip(from: &Node, to: &Node) {
    if has_op_tag(from) || has_op_tag(to) {
        let _ = diff(from, to).map(|d| reverse(&d)); // errors allowed, panics not
        return;
    }
    let Some(d) = diff(from, to) else {
        assert_eq!(from, to, "diff says equal");
        return;
    };
    let got = patch(from, &d).unwrap_or_else(|e| {
        panic!(
            "diff does not apply: {e}\nfrom: {}\nto: {}\ndiff: {}",
            encode_wire(from),
            encode_wire(to),
            encode_wire(&d)
        )
    });
    assert_eq!(
        sorted_keys(&got),
        sorted_keys(to),
        "diff then patch misses the target\nfrom: {}\nto: {}\ndiff: {}\ngot: {}",
        encode_wire(from),
        encode_wire(to),
        encode_wire(&d),
        encode_wire(&got)
    );
    let back = reverse(&d).unwrap_or_else(|e| {
        panic!(
            "a diff does not reverse: {e}\nfrom: {}\nto: {}\ndiff: {}",
            encode_wire(from),
            encode_wire(to),
            encode_wire(&d)
        )
    });
    let got = patch(to, &back).unwrap_or_else(|e| {
        panic!(
            "reversed diff does not apply: {e}\nfrom: {}\nto: {}\ndiff: {}\nreverse: {}",
            encode_wire(from),
            encode_wire(to),
            encode_wire(&d),
            encode_wire(&back)
        )
    });
    assert_eq!(
        sorted_keys(&got),
        sorted_keys(from),
        "reversed diff does not take the target back\nfrom: {}\nto: {}\ndiff: {}\nreverse: {}\ngot: {}",
        encode_wire(from),
        encode_wire(to),
        encode_wire(&d),
        encode_wire(&back),
        encode_wire(&got)
    );
}

/// Whether any node of `node` has a tag (data tags included: a diff of tagged values may be
/// written with tag ops, which the generic properties here do not model).
fn has_op_tag(node: &Node) -> bool {
    if node.tag.is_some() {
        return true;
    }
    match &node.value {
        Value::Array(items) => items.iter().any(has_op_tag),
        Value::Object(entries) => entries
            .iter()
            .any(|(k, v)| matches!(k, Key::Merge) || has_op_tag(v)),
        _ => false,
    }
}

/// `node` with every object's keys sorted: for comparisons that ignore key order.
pub fn sorted_keys(node: &Node) -> Node {
    let value = match &node.value {
        Value::Object(entries) => {
            let mut entries: Vec<(Key, Node)> = entries
                .iter()
                .map(|(k, v)| (k.clone(), sorted_keys(v)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(std::sync::Arc::new(entries.into()))
        }
        Value::Array(items) => {
            Value::Array(std::sync::Arc::new(items.iter().map(sorted_keys).collect()))
        }
        other => other.clone(),
    };
    Node {
        tag: node.tag.clone(),
        value,
    }
}

fn split_nul(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    }
}

// ---------------------------------------------------------------------------------------------
// Store files: frame scan, recovery, the index log

/// Flags of [`StoreInput`].
pub mod flags {
    /// Recompute the CRCs of every frame of `level0.log` (so the entries behind them are read).
    pub const FIX_LEVEL0: u8 = 1;
    /// The same for `compact.log`.
    pub const FIX_COMPACT: u8 = 2;
    /// Recompute the CRCs of `index.log`: its file header's and each complete record's
    /// ([`fix_index`](super::fix_index)).
    pub const FIX_INDEX: u8 = 4;
    /// Open with divisor 2 (else 16).
    pub const DIVISOR_2: u8 = 8;
    /// Open with `Durability::OnFlush`.
    pub const ON_FLUSH: u8 = 16;
    /// Open with a 4 KiB entry limit.
    pub const SMALL_ENTRIES: u8 = 32;
    /// Open with offset indexes for entries of 64 bytes or more.
    pub const SMALL_OFFSETS: u8 = 64;
    /// Run `Store::verify` on the opened store (it re-reads every frame: costly, so only some
    /// inputs ask for it).
    pub const VERIFY: u8 = 128;
}

/// A fuzz input of `store_open`: the three files of a store ([`STORE_FILES`]) and how to open it.
pub struct StoreInput<'a> {
    /// [`flags`].
    pub flags: u8,
    /// `level0.log`, `compact.log`, `index.log`.
    pub files: [&'a [u8]; 3],
}

impl<'a> StoreInput<'a> {
    /// Splits fuzz bytes (lengths past the end are cut short).
    pub fn parse(data: &'a [u8]) -> StoreInput<'a> {
        let flags = data.first().copied().unwrap_or(0);
        let mut rest = data.get(5..).unwrap_or(&[]);
        let mut files: [&[u8]; 3] = [&[]; 3];
        for (i, file) in files.iter_mut().enumerate().take(2) {
            let len = data
                .get(1 + 2 * i..3 + 2 * i)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
                .unwrap_or(0)
                .min(rest.len());
            *file = &rest[..len];
            rest = &rest[len..];
        }
        files[2] = rest;
        StoreInput { flags, files }
    }

    /// The bytes [`parse`](Self::parse) reads back as `flags` and `files`.
    pub fn to_bytes(flags: u8, files: [&[u8]; 3]) -> Vec<u8> {
        let mut out = vec![flags];
        for f in &files[..2] {
            out.extend_from_slice(&(f.len().min(u16::MAX as usize) as u16).to_le_bytes());
        }
        for f in files {
            out.extend_from_slice(f);
        }
        out
    }
}

/// Rewrites the checksums of `log`: the file header's, then each frame's header and payload
/// checksums, for every frame whose header is complete (see `LogFile` in src/engine/log.rs:
/// a 16-byte file header `magic, u32 version, crc`; frames of `u32 len, u64 synced_end,
/// crc(0..12), crc(payload)` then the payload). Keep in step with the log format.
pub fn fix_frames(log: &mut [u8]) {
    let start = LOG_HEADER as usize;
    let frame = FRAME_HEADER as usize;
    if log.len() < start {
        return;
    }
    let crc = crc32c::crc32c(&log[..12]);
    log[12..16].copy_from_slice(&crc.to_be_bytes());
    let mut pos = start;
    while pos + frame <= log.len() {
        let len = u32::from_be_bytes(log[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = crc32c::crc32c(&log[pos..pos + 12]);
        log[pos + 12..pos + 16].copy_from_slice(&crc.to_be_bytes());
        let Some(end) = (pos + frame).checked_add(len).filter(|&e| e <= log.len()) else {
            return;
        };
        let crc = crc32c::crc32c(&log[pos + frame..end]);
        log[pos + 16..pos + 20].copy_from_slice(&crc.to_be_bytes());
        pos = end;
    }
}

/// Bytes of `index.log`'s file header: magic `TNYINDEX`, `u32` version, CRC-32C of the two.
pub const INDEX_FILE_HEADER: usize = 16;
/// Bytes of a superblock slot (two follow the file header): `u64` sequence, `u64` last seal,
/// `u64` reserved, CRC-32C of those 24 bytes, 4 zero bytes.
pub const INDEX_SLOT: usize = 32;
/// Where `index.log`'s records start: after the file header and the two superblock slots.
pub const INDEX_RECORDS_START: usize = INDEX_FILE_HEADER + 2 * INDEX_SLOT;
/// Bytes of an `index.log` record header: `u64` payload length, CRC-32C of the payload, CRC-32C
/// of the header's first 12 bytes (all big-endian).
pub const INDEX_RECORD_HEADER: usize = 16;

/// Rewrites the checksums of an `index.log`: the file header's, the superblock slots', then
/// the payload and header checksums of each complete record, walking the records by their
/// length fields and stopping at the first incomplete one (see `IndexLog` in
/// src/engine/persist.rs). Magic, version, lengths and the tables' block checksums are left as
/// they are. Keep in step with the index format.
pub fn fix_index(log: &mut [u8]) {
    if log.len() < INDEX_FILE_HEADER {
        return;
    }
    let crc = crc32c::crc32c(&log[..12]);
    log[12..16].copy_from_slice(&crc.to_be_bytes());
    for slot in [INDEX_FILE_HEADER, INDEX_FILE_HEADER + INDEX_SLOT] {
        if slot + INDEX_SLOT <= log.len() {
            let crc = crc32c::crc32c(&log[slot..slot + 24]);
            log[slot + 24..slot + 28].copy_from_slice(&crc.to_be_bytes());
        }
    }
    let mut pos = INDEX_RECORDS_START;
    while pos + INDEX_RECORD_HEADER <= log.len() {
        let len = u64::from_be_bytes(log[pos..pos + 8].try_into().unwrap());
        let payload = pos + INDEX_RECORD_HEADER;
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|len| payload.checked_add(len))
            .filter(|&e| e <= log.len())
        else {
            return;
        };
        let crc = crc32c::crc32c(&log[payload..end]);
        log[pos + 8..pos + 12].copy_from_slice(&crc.to_be_bytes());
        let crc = crc32c::crc32c(&log[pos..pos + 12]);
        log[pos + 12..pos + 16].copy_from_slice(&crc.to_be_bytes());
        pos = end;
    }
}

/// The (start, end) byte ranges of the complete records of an `index.log`, walked by their
/// length fields (checksums are not checked).
pub fn index_records(log: &[u8]) -> Vec<(usize, usize)> {
    let mut records = Vec::new();
    let mut pos = INDEX_RECORDS_START;
    while pos + INDEX_RECORD_HEADER <= log.len() {
        let len = u64::from_be_bytes(log[pos..pos + 8].try_into().unwrap());
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|len| (pos + INDEX_RECORD_HEADER).checked_add(len))
            .filter(|&e| e <= log.len())
        else {
            break;
        };
        records.push((pos, end));
        pos = end;
    }
    records
}

/// Open options for `flags`.
pub fn options(flags: u8) -> Options {
    Options {
        divisor: if flags & flags::DIVISOR_2 != 0 { 2 } else { 16 },
        durability: if flags & flags::ON_FLUSH != 0 {
            Durability::OnFlush
        } else {
            Durability::EveryCommit
        },
        max_entry_bytes: if flags & flags::SMALL_ENTRIES != 0 {
            4096
        } else {
            // Far above any fuzz input, far below what would exhaust memory.
            64 << 20
        },
        persist_every: 2,
        // Runs of 2 commits (divisor 2) or 16 are sealed: the base store has seal records.
        seal_level: Some(1),
        offset_index_min_bytes: if flags & flags::SMALL_OFFSETS != 0 {
            64
        } else {
            Options::default().offset_index_min_bytes
        },
        ..Options::default()
    }
}

/// Writes `files` (in the order of [`STORE_FILES`]) into a fresh [`MemDir`] through the
/// [`StoreDir`]/[`BlockFile`] API.
pub fn mem_dir(files: [&[u8]; 3]) -> MemDir {
    let dir = MemDir::new();
    for (name, bytes) in STORE_FILES.iter().zip(files) {
        let file = dir.open(name).expect("open a MemDir file");
        if !bytes.is_empty() {
            file.write_all_at(0, bytes).expect("write a MemDir file");
        }
        file.close().expect("close a MemDir file");
    }
    dir
}

/// Opens a store over arbitrary file contents: `Store::open` returns a store or a typed error;
/// an opened store verifies, reads and commits without panicking, and a store that took a
/// commit and closed cleanly opens again.
pub fn store_open(data: &[u8]) {
    let input = StoreInput::parse(data);
    let mut files: [Vec<u8>; 3] = input.files.map(<[u8]>::to_vec);
    if input.flags & flags::FIX_LEVEL0 != 0 {
        fix_frames(&mut files[0]);
    }
    if input.flags & flags::FIX_COMPACT != 0 {
        fix_frames(&mut files[1]);
    }
    if input.flags & flags::FIX_INDEX != 0 {
        fix_index(&mut files[2]);
    }
    let dir = mem_dir([&files[0], &files[1], &files[2]]);
    exercise(
        &dir,
        input.flags & !flags::VERIFY,
        input.flags & flags::VERIFY != 0,
    );
}

/// What `store_open` and `index_log` do with a directory.
fn exercise(dir: &MemDir, flags: u8, verify: bool) {
    let Ok(mut store) = Store::open(dir, options(flags)) else {
        return;
    };
    if verify {
        let _ = store.verify();
    }
    let head = store.head();
    if head >= 1 {
        let _ = store.read_at(&KPath::root(), head);
        let _ = store.read_at(&KPath::parse("a.y").unwrap(), 1);
    }
    let committed = store.commit(vec![(KPath::parse("fuzz").unwrap(), Node::int(1))]);
    let closed = store.close();
    drop(store);
    let reopened = Store::open(dir, options(flags));
    if let (Ok(commit), Ok(()), Ok(again)) = (&committed, &closed, &reopened) {
        assert_eq!(again.head(), *commit, "a clean close lost the head");
    }
}

/// The files of a small valid store (several commits, compaction levels, offset indexes, an
/// `index.log` of several records), built once per process, the same bytes in every process.
///
/// The store is built with commits: a flush after commit 1 saves `{1}`; `persist_every: 2`
/// (counted from that flush) saves at commits 3 and 5, with the compacted entries built by
/// then; `close` saves commit 6 and its compaction. Then every commit's wall-clock time in
/// `level0.log` is overwritten with a fixed one, which leaves the chunk checksums that
/// `index.log`'s offset indexes hold stale (and different in every process); so `index.log` is
/// written again over the fixed logs: the logs cut at each saved record's checkpoint are
/// reopened in turn, and each open's recovery indexes what the logs gained and saves it as one
/// record. The result has as many records, reaching the same log ends with the same entries
/// (a record may list them in another order, and its transaction sequence number is the one
/// recovery finds).
pub fn base_store() -> &'static [Vec<u8>; 3] {
    static BASE: OnceLock<[Vec<u8>; 3]> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = MemDir::new();
        let mut store = Store::open(&dir, options(BASE_FLAGS)).expect("open the base store");
        for (i, text) in BASE_COMMITS.iter().enumerate() {
            let (path, value) = text.split_once(' ').unwrap();
            let value = parse(value).expect("base commit parses");
            store
                .commit(vec![(KPath::parse(path).unwrap(), value)])
                .expect("base commit");
            if i == 0 {
                store.flush().expect("flush the base store");
            }
        }
        store.close().expect("close the base store");
        drop(store);
        let [mut level0, mut compact, index] = read_files(&dir);
        // The same bytes in every process (a crash found in one reproduces in another): every
        // commit's wall-clock time becomes one fixed time of the same width.
        for log in [&mut level0, &mut compact] {
            fix_times(log);
            fix_frames(log);
        }
        // The saves' checkpoints (a save's payload: kind byte 0, then max_commit, tx_seq,
        // level0_end, compact_end).
        let checkpoints: Vec<(usize, usize)> = index_records(&index)
            .iter()
            .filter(|&&(start, _)| index[start + INDEX_RECORD_HEADER] == 0)
            .map(|&(start, _)| {
                let at = |i: usize| {
                    let b = &index[start + INDEX_RECORD_HEADER + 1 + i..][..8];
                    u64::from_be_bytes(b.try_into().unwrap()) as usize
                };
                (at(16), at(24))
            })
            .collect();
        assert!(
            checkpoints.len() >= 3,
            "the base store saved {} records",
            checkpoints.len()
        );
        let dir = MemDir::new();
        for (level0_end, compact_end) in checkpoints {
            for (name, bytes) in [
                ("level0.log", &level0[..level0_end]),
                ("compact.log", &compact[..compact_end]),
            ] {
                let file = dir.open(name).expect("open a MemDir file");
                file.write_all_at(0, bytes).expect("write a MemDir file");
                file.close().expect("close a MemDir file");
            }
            let mut store = Store::open(&dir, options(BASE_FLAGS)).expect("reopen the base store");
            store.close().expect("close the base store");
        }
        let files = read_files(&dir);
        assert!(
            files[0] == level0 && files[1] == compact,
            "reopening the base store changed its logs"
        );
        files
    })
}

/// The contents of the files of a store in `dir`.
fn read_files(dir: &MemDir) -> [Vec<u8>; 3] {
    STORE_FILES.map(|name| {
        let f = dir.open(name).unwrap();
        let mut bytes = vec![0u8; f.len().unwrap() as usize];
        f.read_exact_at(0, &mut bytes).unwrap();
        bytes
    })
}

/// Overwrites the digits after every `time: ` with those of a fixed time (same width, so no
/// position moves).
fn fix_times(log: &mut [u8]) {
    const KEY: &[u8] = b"time: ";
    const FIXED: &[u8] = b"1764100000000";
    let mut i = 0;
    while i + KEY.len() <= log.len() {
        if &log[i..i + KEY.len()] == KEY {
            let start = i + KEY.len();
            let digits = log[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits == FIXED.len() {
                log[start..start + digits].copy_from_slice(FIXED);
            }
            i = start + digits;
        } else {
            i += 1;
        }
    }
}

/// The options of [`base_store`].
pub const BASE_FLAGS: u8 = flags::DIVISOR_2 | flags::SMALL_OFFSETS;

/// The commits of [`base_store`]: a path, a space, a Tony value (patch).
pub const BASE_COMMITS: &[&str] = &[
    "a {x: 1, y: [1, 2, 3], z: 'a string long enough for an offset index'}",
    "b [{id: 1, v: one}, {id: 2, v: two}]",
    "a.y !arraydiff {1: !replace {from: 2, to: 20}, 3: !insert 4}",
    "b !key(id) [{id: 2, v: deux}]",
    "a.x !delete 1",
    "'' {a: {k: v}, c: [true, null, 1.5]}",
];

/// Flags of an `index_log` input.
pub mod index_flags {
    /// Recompute the CRCs of the resulting `index.log` ([`fix_index`](super::fix_index)).
    pub const FIX: u8 = 1;
    /// The fuzzed bytes follow the base store's valid `index.log` (else they are the whole file),
    /// so mutations exercise the replay of records after a valid prefix.
    pub const APPEND: u8 = 2;
    /// Run `Store::verify` on the opened store.
    pub const VERIFY: u8 = 4;
    /// With `APPEND`: keep only the base log's first record (commit 1) before the fuzzed bytes,
    /// so appended records can still add entries the logs hold.
    pub const FIRST_RECORD: u8 = 8;
}

/// Opens the base store's logs with a fuzzed `index.log`: never a panic; replay keeps the valid
/// prefix of records, and an index that disagrees with the logs falls back to a rebuild or
/// reports a typed error.
pub fn index_log(data: &[u8]) {
    let base = base_store();
    let flags = data.first().copied().unwrap_or(0);
    let fuzzed = data.get(1..).unwrap_or(&[]);
    let mut log = if flags & index_flags::APPEND != 0 {
        let keep = if flags & index_flags::FIRST_RECORD != 0 {
            index_records(&base[2])
                .first()
                .map_or(base[2].len(), |&(_, end)| end)
        } else {
            base[2].len()
        };
        [&base[2][..keep], fuzzed].concat()
    } else {
        fuzzed.to_vec()
    };
    if flags & index_flags::FIX != 0 {
        fix_index(&mut log);
    }
    let dir = mem_dir([&base[0], &base[1], &log]);
    exercise(&dir, BASE_FLAGS, flags & index_flags::VERIFY != 0);
}

/// Flags of a `shipment` input.
pub mod shipment_flags {
    /// Recompute the shipment's checksums (header and records) after reading it, so mutations
    /// reach the checks beyond them.
    pub const FIX: u8 = 4;
    /// Run `Store::verify` after an accepted import.
    pub const VERIFY: u8 = 8;
    /// The low two bits: how many of the base store's commits the importing store holds first.
    pub const HELD: u8 = 3;
}

/// A shipment of every commit of [`base_store`], one per process.
pub fn base_shipment() -> &'static [u8] {
    static SHIPMENT: OnceLock<Vec<u8>> = OnceLock::new();
    SHIPMENT.get_or_init(|| {
        let [level0, compact, index] = base_store();
        let store = Store::open(&mem_dir([level0, compact, index]), options(BASE_FLAGS))
            .expect("open the base store");
        store.export(0, usize::MAX).expect("export the base store")
    })
}

/// Recomputes a shipment's header and record checksums (layout in `docs/FORMAT.md`), leaving
/// any length that does not fit alone.
pub fn fix_shipment(bytes: &mut [u8]) {
    const HEADER: usize = 28;
    if bytes.len() < HEADER {
        return;
    }
    let crc = crc32c::crc32c(&bytes[..HEADER - 4]);
    bytes[HEADER - 4..HEADER].copy_from_slice(&crc.to_be_bytes());
    let mut at = HEADER;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
            return;
        };
        let crc = crc32c::crc32c(payload);
        bytes[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
        at += 8 + len;
    }
}

/// Imports fuzzed shipment bytes into a store holding the base store's first commits (flag
/// bits [`shipment_flags::HELD`]): never a panic; an accepted import leaves a store whose
/// commits follow on, that verifies, reads, and reopens at the same head; a refused one
/// leaves the store as it was.
pub fn shipment(data: &[u8]) {
    let flags = data.first().copied().unwrap_or(0);
    let mut bytes = data.get(1..).unwrap_or(&[]).to_vec();
    if flags & shipment_flags::FIX != 0 {
        fix_shipment(&mut bytes);
    }
    let dir = MemDir::new();
    let mut store = Store::open(&dir, options(BASE_FLAGS)).expect("open an empty store");
    let held = u64::from(flags & shipment_flags::HELD);
    let source = Store::open(
        &mem_dir(base_store().each_ref().map(Vec::as_slice)),
        options(BASE_FLAGS),
    )
    .expect("open the base store");
    for after in 0..held.min(source.head()) {
        let one = source.export(after, 0).expect("export one commit");
        store.import(&one).expect("import a base commit");
    }
    let before = (store.head(), store.stats().level0_bytes);
    match store.import(&bytes) {
        Ok(imported) => {
            assert_eq!(imported.head, store.head());
            assert_eq!(
                imported.head,
                before.0 + imported.added,
                "commits follow on"
            );
            if flags & shipment_flags::VERIFY != 0 {
                store.verify().expect("an accepted import verifies");
            }
            store
                .read_at(&KPath::root(), store.head())
                .expect("the head reads");
            let head = store.head();
            store.close().expect("close after an import");
            drop(store);
            let again = Store::open(&dir, options(BASE_FLAGS)).expect("reopen after an import");
            assert_eq!(again.head(), head, "an import survives reopening");
        }
        Err(_) => {
            assert_eq!(
                (store.head(), store.stats().level0_bytes),
                before,
                "a refused import wrote nothing"
            );
        }
    }
}
