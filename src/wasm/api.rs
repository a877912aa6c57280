//! The JS API: the `TonyStore` class and its streaming `TextReader`.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use super::convert::{from_js, to_js};
use super::{JsDir, JsDirObject, OpfsDir};
use crate::engine::{
    Durability, Options, Store, StoreError, Transactions, ValueStream, STORE_FILES,
};
use crate::kpath::KPath;
use crate::storage::{MemDir, StoreDir};
use crate::tony::{encode_wire, parse, Node, TextFormat};

thread_local! {
    /// In-memory stores by name, so that reopening one in the same realm finds its data.
    static MEMORY: RefCell<HashMap<String, MemDir>> = RefCell::new(HashMap::new());
}

/// An `Error` with a stable `code` property.
pub fn error(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    let _ = Reflect::set(&err, &"code".into(), &code.into());
    err.into()
}

fn store_error(e: StoreError) -> JsValue {
    error(e.code(), &e.to_string())
}

fn field(object: &JsValue, name: &str) -> JsValue {
    if object.is_object() {
        Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

fn parse_path(text: &str) -> Result<KPath, JsValue> {
    KPath::parse(text).map_err(|e| error("invalid_path", &e.to_string()))
}

/// `{path, value}` or `{path, tony}` as a path and a Tony value.
fn path_and_value(item: &JsValue) -> Result<(KPath, Node), JsValue> {
    let path = field(item, "path").as_string().unwrap_or_default();
    let path = parse_path(&path)?;
    let tony = field(item, "tony");
    let node = if let Some(text) = tony.as_string() {
        parse(&text).map_err(|e| error("invalid_tony", &e.to_string()))?
    } else {
        from_js(&field(item, "value")).map_err(|m| error("invalid_value", &m))?
    };
    Ok((path, node))
}

/// A list, or a single item as a list of one.
fn items(value: &JsValue) -> Vec<JsValue> {
    if value.is_undefined() || value.is_null() {
        Vec::new()
    } else if Array::is_array(value) {
        Array::from(value).iter().collect()
    } else {
        vec![value.clone()]
    }
}

fn commit_number(commit: Option<f64>, head: u64) -> Result<u64, JsValue> {
    match commit {
        None => Ok(head),
        Some(c) if c >= 0.0 && c.fract() == 0.0 => Ok(c as u64),
        Some(c) => Err(error(
            "no_such_commit",
            &format!("{c} is not a commit number"),
        )),
    }
}

/// A versioned Tony document store.
#[wasm_bindgen]
pub struct TonyStore {
    store: Store,
    txs: Transactions,
}

#[wasm_bindgen]
impl TonyStore {
    /// Opens (creating) the store `name`. `options.backend`: `"opfs"` (a dedicated worker's
    /// origin private file system), `"memory"`, a directory object (`open(name)` returning block
    /// files), or a function `name => directory object`. `options.durability`: `"commit"`
    /// (sync every commit, the default) or `"flush"`.
    pub async fn open(name: String, options: JsValue) -> Result<TonyStore, JsValue> {
        console_error_panic_hook::set_once();
        let backend = field(&options, "backend");
        let durability = match field(&options, "durability").as_string().as_deref() {
            None | Some("commit") => Durability::EveryCommit,
            Some("flush") => Durability::OnFlush,
            Some(other) => {
                return Err(error(
                    "invalid_option",
                    &format!("durability must be \"commit\" or \"flush\", not {other:?}"),
                ))
            }
        };
        let options = Options {
            durability,
            ..Options::default()
        };
        let store = match backend.as_string().as_deref() {
            Some("opfs") => {
                let dir = OpfsDir::open(&name, &STORE_FILES).await.map_err(|e| store_error(e.into()))?;
                Store::open(&dir, options)
            }
            Some("memory") => {
                let dir = MEMORY.with(|m| m.borrow_mut().entry(name.clone()).or_default().clone());
                Store::open(&dir, options)
            }
            Some(other) => return Err(error("invalid_option", &format!("unknown backend {other:?}"))),
            None => {
                let object = match backend.dyn_ref::<Function>() {
                    Some(factory) => factory.call1(&JsValue::NULL, &name.clone().into())?,
                    None => backend,
                };
                if !object.is_object() {
                    return Err(error("invalid_option", "options.backend must be \"opfs\", \"memory\", a directory object or a factory"));
                }
                let dir = JsDir::new(object.unchecked_into::<JsDirObject>());
                Store::open(&dir as &dyn StoreDir, options)
            }
        }
        .map_err(store_error)?;
        Ok(TonyStore {
            store,
            txs: Transactions::default(),
        })
    }

    /// Commits patches — `[{path, value}]` (plain JS values) or `[{path, tony}]` (Tony text,
    /// so tags like `!delete` can be written) — as one commit; returns its number.
    /// `options.match`: preconditions `{path, value | tony}` that must match first.
    pub fn commit(&mut self, patches: JsValue, options: JsValue) -> Result<f64, JsValue> {
        let patches = items(&patches)
            .iter()
            .map(path_and_value)
            .collect::<Result<Vec<_>, _>>()?;
        let preconditions = items(&field(&options, "match"))
            .iter()
            .map(path_and_value)
            .collect::<Result<Vec<_>, _>>()?;
        let commit = self
            .store
            .commit_with(patches, preconditions)
            .map_err(store_error)?;
        Ok(commit as f64)
    }

    /// The value at `path` as of `commit` (the head by default), as a plain JS value;
    /// `undefined` where nothing is.
    #[wasm_bindgen(js_name = readAt)]
    pub fn read_at(&mut self, path: &str, commit: Option<f64>) -> Result<JsValue, JsValue> {
        Ok(self
            .read_node(path, commit)?
            .map_or(JsValue::UNDEFINED, |n| to_js(&n)))
    }

    /// Like `readAt`, as Tony wire text (tags kept); `null` where nothing is.
    #[wasm_bindgen(js_name = readTonyAt)]
    pub fn read_tony_at(
        &mut self,
        path: &str,
        commit: Option<f64>,
    ) -> Result<Option<String>, JsValue> {
        Ok(self.read_node(path, commit)?.map(|n| encode_wire(&n)))
    }

    fn read_node(&mut self, path: &str, commit: Option<f64>) -> Result<Option<Node>, JsValue> {
        let path = parse_path(path)?;
        let commit = commit_number(commit, self.store.head())?;
        self.store.read_at(&path, commit).map_err(store_error)
    }

    /// A reader producing the value at `path` as text (`format`: `"tony"` or `"json"`) in
    /// chunks (`null` where nothing is); the JS glue wraps it in a `ReadableStream`. A large
    /// sub-document is copied from the log without being built in wasm memory.
    #[wasm_bindgen(js_name = openReader)]
    pub fn open_reader(
        &mut self,
        path: &str,
        commit: Option<f64>,
        format: Option<String>,
    ) -> Result<TextReader, JsValue> {
        let format = match format.as_deref() {
            None | Some("tony") => TextFormat::Wire,
            Some("json") => TextFormat::Json,
            Some(other) => {
                return Err(error(
                    "invalid_option",
                    &format!("format must be \"tony\" or \"json\", not {other:?}"),
                ))
            }
        };
        let path = parse_path(path)?;
        let commit = commit_number(commit, self.store.head())?;
        let stream = self
            .store
            .open_stream(&path, commit, format)
            .map_err(store_error)?;
        let stream = match stream {
            Some(stream) => stream,
            None => self
                .store
                .open_stream(&KPath::root(), 0, format)
                .map_err(store_error)?
                .expect("the root exists"),
        };
        Ok(TextReader { stream })
    }

    /// The newest commit number (0 when empty).
    #[wasm_bindgen(getter)]
    pub fn head(&self) -> f64 {
        self.store.head() as f64
    }

    /// Counters: `{entriesRead, level0Bytes, compactBytes, streamedFromLog, streamedPatched,
    /// readThroughArrayEdits, readFromOffsets, recovery}`.
    pub fn stats(&self) -> JsValue {
        let stats = self.store.stats();
        let object = js_sys::Object::new();
        for (key, value) in [
            ("entriesRead", stats.entries_read as f64),
            ("level0Bytes", stats.level0_bytes as f64),
            ("compactBytes", stats.compact_bytes as f64),
            ("streamedFromLog", stats.streamed_from_log as f64),
            ("streamedPatched", stats.streamed_patched as f64),
            (
                "readThroughArrayEdits",
                stats.read_through_array_edits as f64,
            ),
            ("readFromOffsets", stats.read_from_offsets as f64),
        ] {
            let _ = Reflect::set(&object, &key.into(), &value.into());
        }
        let _ = Reflect::set(&object, &"recovery".into(), &stats.recovery.into());
        object.into()
    }

    /// The commits that changed `path` (or something above or below it), oldest first.
    pub fn history(&self, path: &str) -> Result<Vec<f64>, JsValue> {
        Ok(self
            .store
            .history(&parse_path(path)?)
            .into_iter()
            .map(|c| c as f64)
            .collect())
    }

    /// Starts a transaction of `participants` patches that aborts after `timeoutMs`; returns its id.
    #[wasm_bindgen(js_name = beginTransaction)]
    pub fn begin_transaction(&mut self, participants: u32, timeout_ms: f64) -> f64 {
        self.txs.begin(participants as usize, timeout_ms as u64) as f64
    }

    /// Adds one participant's `{path, value | tony, match?}`; returns the transaction's status
    /// (`{state: "waiting" | "committed" | "aborted", commit?, reason?}`).
    #[wasm_bindgen(js_name = joinTransaction)]
    pub fn join_transaction(&mut self, tx: f64, patch: JsValue) -> Result<JsValue, JsValue> {
        let (path, node) = path_and_value(&patch)?;
        let precondition = match field(&patch, "match") {
            m if m.is_undefined() => None,
            m => Some(path_and_value(&m)?),
        };
        let status = self
            .txs
            .join(&mut self.store, tx as u64, path, node, precondition)
            .map_err(store_error)?;
        Ok(tx_status(&status))
    }

    /// Makes every commit durable and persists the index.
    pub fn flush(&mut self) -> Result<(), JsValue> {
        self.store.flush().map_err(store_error)
    }

    /// Flushes and releases the files (and the single-writer lock).
    pub fn close(&mut self) -> Result<(), JsValue> {
        self.store.close().map_err(store_error)
    }
}

fn tx_status(status: &crate::engine::TxStatus) -> JsValue {
    use crate::engine::TxStatus;
    let object = js_sys::Object::new();
    let set = |k: &str, v: JsValue| {
        let _ = Reflect::set(&object, &k.into(), &v);
    };
    match status {
        TxStatus::Waiting { joined, of } => {
            set("state", "waiting".into());
            set("joined", (*joined as f64).into());
            set("of", (*of as f64).into());
        }
        TxStatus::Committed(c) => {
            set("state", "committed".into());
            set("commit", (*c as f64).into());
        }
        TxStatus::Aborted(reason) => {
            set("state", "aborted".into());
            set("reason", reason.as_str().into());
        }
    }
    object.into()
}

/// Produces a value's text chunk by chunk.
#[wasm_bindgen]
pub struct TextReader {
    stream: ValueStream,
}

#[wasm_bindgen]
impl TextReader {
    /// The next chunk (UTF-8, at least `minBytes` unless it is the last), or `undefined` at the end.
    pub fn next(&mut self, min_bytes: u32) -> Result<Option<Uint8Array>, JsValue> {
        let chunk = self
            .stream
            .next_chunk(min_bytes as usize)
            .map_err(store_error)?;
        Ok(chunk.map(|bytes| Uint8Array::from(bytes.as_slice())))
    }
}
