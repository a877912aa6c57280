//! Shared test helpers: random Tony values for property tests, and the heavy-mode switch.
#![allow(dead_code)] // each test binary uses a different part

pub mod crash;
pub mod history;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use proptest::prelude::*;
use tonystore::storage::{BlockFile, MemDir, StorageError, StoreDir};
use tonystore::tony::{Key, Node};

/// Whether `scripts/test --heavy` asked for the long runs.
pub fn heavy() -> bool {
    std::env::var_os("TONYSTORE_HEAVY").is_some()
}

/// `light` normally, `heavy` under `scripts/test --heavy`.
pub fn cases(light: u32, heavy_count: u32) -> u32 {
    if heavy() {
        heavy_count
    } else {
        light
    }
}

/// Strings including hostile ones: structure characters, quotes, keywords, unicode, controls.
pub fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,6}",
        Just(String::new()),
        prop::sample::select(vec![
            "true", "null", "false", "a.b", "x y", "[0]", "{1}", "(k)", "'", "\"", "a:b", "#", "-",
            "<<", "é", "1a", "*", "\\", "a\nb"
        ])
        .prop_map(String::from),
        any::<String>(),
    ]
}

/// A tag chain from a small alphabet.
pub fn any_tag() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        6 => Just(None),
        1 => prop::sample::select(vec!["!t", "!a.b", "!x(y,z)", "!u.v(w)", "!!k(id)"]).prop_map(|t| Some(t.to_owned())),
    ]
}

fn leaf() -> impl Strategy<Value = Node> {
    prop_oneof![
        Just(Node::null()),
        any::<bool>().prop_map(Node::bool),
        any::<i64>().prop_map(Node::int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Node::float),
        any_string().prop_map(|s| Node::string(&s)),
    ]
}

fn with_tag(node: Node, tag: Option<String>) -> Node {
    match tag {
        Some(t) => node.with_tag(&t),
        None => node,
    }
}

/// Arbitrary Tony values: nested arrays, objects (string keys, unique), sparse arrays, tags.
pub fn any_node() -> impl Strategy<Value = Node> {
    let leaf = (leaf(), any_tag()).prop_map(|(n, t)| with_tag(n, t));
    leaf.prop_recursive(4, 48, 6, |inner| {
        (
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Node::array),
                prop::collection::btree_map(any_string(), inner.clone(), 0..6).prop_map(|m| {
                    Node::object(m.into_iter().map(|(k, v)| (Key::str(&k), v)).collect())
                }),
                prop::collection::btree_map(any::<u32>(), inner, 1..5).prop_map(|m| Node::object(
                    m.into_iter().map(|(k, v)| (Key::Int(k), v)).collect()
                )),
            ],
            any_tag(),
        )
            .prop_map(|(n, t)| with_tag(n, t))
    })
}

/// The conformance cases of `file` (a JSON Lines file in `../shared/conformance/`), parsed with
/// our own parser (JSON is Tony). Looks in `tests/conformance/` first (a vendored copy).
pub fn conformance(file: &str) -> Vec<Node> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| tonystore::tony::parse(l).unwrap_or_else(|e| panic!("{file}: {e}: {l}")))
        .collect()
}

/// Field `name` of a conformance case.
pub fn field<'a>(case: &'a Node, name: &str) -> &'a Node {
    case.get_field(&Key::str(name))
        .unwrap_or_else(|| panic!("case has no {name}"))
}

/// Field `name` of a conformance case as a string, if it is one.
pub fn text<'a>(case: &'a Node, name: &str) -> Option<&'a str> {
    case.get_field(&Key::str(name)).and_then(Node::as_str)
}

/// `node` with every object's keys sorted: for comparisons that ignore key order.
pub fn sorted_keys(node: &Node) -> Node {
    use tonystore::tony::Value;
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

/// Parses Tony text, panicking with the text on error.
pub fn tony(text: &str) -> Node {
    tonystore::tony::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A global allocator that tracks the current and peak heap size, for memory-bound tests.
/// A test binary installs it with `#[global_allocator] static A: common::Counting = common::Counting;`.
pub struct Counting;

static CURRENT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering;
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        CURRENT.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

/// Runs `f` and returns its result with the peak heap growth (bytes) while it ran. Meaningful
/// only in a test binary whose global allocator is [`Counting`].
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    use std::sync::atomic::Ordering;
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

/// A directory whose files count the bytes read from them.
pub struct CountingDir {
    /// The files, for setting up a test without counting.
    pub inner: MemDir,
    read: Arc<AtomicU64>,
    /// Whether `index.log` counts too.
    index_counts: bool,
}

impl CountingDir {
    /// An empty directory, and its counter of bytes read.
    pub fn new() -> (Self, Arc<AtomicU64>) {
        let read = Arc::new(AtomicU64::new(0));
        let dir = CountingDir {
            inner: MemDir::new(),
            read: read.clone(),
            index_counts: true,
        };
        (dir, read)
    }

    /// [`new`](Self::new), counting the logs only: not `index.log`, from which an entry's
    /// offset index is read once, when a read first needs it.
    pub fn logs_only() -> (Self, Arc<AtomicU64>) {
        let (dir, read) = Self::new();
        let dir = CountingDir {
            index_counts: false,
            ..dir
        };
        (dir, read)
    }
}

/// A file of a [`CountingDir`].
pub struct CountingFile {
    inner: Box<dyn BlockFile>,
    read: Arc<AtomicU64>,
}

impl BlockFile for CountingFile {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn len(&self) -> Result<u64, StorageError> {
        self.inner.len()
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.inner.read_exact_at(offset, buf)
    }
    fn write_all_at(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.inner.write_all_at(offset, data)
    }
    fn set_len(&self, len: u64) -> Result<(), StorageError> {
        self.inner.set_len(len)
    }
    fn sync(&self) -> Result<(), StorageError> {
        self.inner.sync()
    }
    fn close(&self) -> Result<(), StorageError> {
        self.inner.close()
    }
    fn preallocation(&self) -> u64 {
        self.inner.preallocation()
    }
}

impl StoreDir for CountingDir {
    fn open(&self, name: &str) -> Result<Box<dyn BlockFile>, StorageError> {
        let inner = self.inner.open(name)?;
        if name == "index.log" && !self.index_counts {
            return Ok(inner);
        }
        Ok(Box::new(CountingFile {
            inner,
            read: self.read.clone(),
        }))
    }
    fn location(&self) -> String {
        "counting".into()
    }
}
