//! The JS API: the `TonyStore` class and its streaming `TextReader`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use super::convert::{from_js, is_js_array, to_js};
use super::errors::{coded_error, describe, storage_error};
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

fn store_error(e: StoreError) -> JsValue {
    coded_error(e.code(), &e.to_string())
}

/// A `closed` error once `closed` is set.
fn check_open(closed: &Cell<bool>) -> Result<(), JsValue> {
    if closed.get() {
        return Err(store_error(StoreError::Closed));
    }
    Ok(())
}

/// What kind of JS value `value` is, for error messages.
fn kind(value: &JsValue) -> String {
    if value.is_null() {
        "null".to_owned()
    } else if is_js_array(value) {
        "an array".to_owned()
    } else {
        value.js_typeof().as_string().unwrap_or_default()
    }
}

/// `object[name]` of an object argument called `what`; a throwing getter or `Proxy` trap is an
/// `invalid_argument` error.
fn field(object: &JsValue, name: &str, what: &str) -> Result<JsValue, JsValue> {
    Reflect::get(object, &name.into()).map_err(|e| threw(what, name, &e))
}

/// Whether `object` (an object argument called `what`) has a property `name`.
fn has(object: &JsValue, name: &str, what: &str) -> Result<bool, JsValue> {
    Reflect::has(object, &name.into()).map_err(|e| threw(what, name, &e))
}

fn threw(what: &str, name: &str, err: &JsValue) -> JsValue {
    let (_, message) = describe(err);
    coded_error(
        "invalid_argument",
        &format!("reading {what}.{name} threw: {message}"),
    )
}

/// `options[name]`, where `options` may be absent (`undefined` or `null`) or an object.
fn option(options: &JsValue, name: &str) -> Result<JsValue, JsValue> {
    if options.is_undefined() || options.is_null() {
        Ok(JsValue::UNDEFINED)
    } else if options.is_object() && !is_js_array(options) {
        field(options, name, "options")
    } else {
        Err(coded_error(
            "invalid_option",
            &format!("options must be an object, not {}", kind(options)),
        ))
    }
}

/// A string option: absent (`None`) or one of `allowed`.
fn choice(options: &JsValue, name: &str, allowed: &[&str]) -> Result<Option<String>, JsValue> {
    let value = option(options, name)?;
    if value.is_undefined() {
        return Ok(None);
    }
    match value.as_string() {
        Some(s) if allowed.contains(&s.as_str()) => Ok(Some(s)),
        _ => Err(coded_error(
            "invalid_option",
            &format!(
                "options.{name} must be one of {allowed:?}, not {}",
                value
                    .as_string()
                    .map_or_else(|| kind(&value), |s| format!("{s:?}"))
            ),
        )),
    }
}

/// A path argument called `what`: a string in kinded-path syntax.
fn path_arg(value: &JsValue, what: &str) -> Result<KPath, JsValue> {
    let text = value.as_string().ok_or_else(|| {
        coded_error(
            "invalid_path",
            &format!("{what} must be a string, not {}", kind(value)),
        )
    })?;
    KPath::parse(&text).map_err(|e| coded_error("invalid_path", &format!("{what}: {e}")))
}

/// A commit argument: absent means the head; otherwise a non-negative integer.
fn commit_arg(value: &JsValue, head: u64) -> Result<u64, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(head);
    }
    match value.as_f64() {
        Some(c) if c >= 0.0 && c.fract() == 0.0 && c <= u64::MAX as f64 => Ok(c as u64),
        Some(c) => Err(coded_error(
            "no_such_commit",
            &format!("{c} is not a commit number"),
        )),
        None => Err(coded_error(
            "invalid_argument",
            &format!("commit must be a number, not {}", kind(value)),
        )),
    }
}

/// A number argument called `what` that must be an integer in `min..=max`.
fn integer_arg(value: &JsValue, what: &str, min: f64, max: f64) -> Result<f64, JsValue> {
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && (min..=max).contains(&n) => Ok(n),
        _ => Err(coded_error(
            "invalid_argument",
            &format!(
                "{what} must be an integer from {min} to {max}, not {}",
                value
                    .as_f64()
                    .map_or_else(|| kind(value), |n| n.to_string())
            ),
        )),
    }
}

/// `{path, value}` or `{path, tony}` — exactly one of the two — as a path and a Tony value;
/// `what` names the patch in error messages (`patches[1]`).
fn patch_arg(item: &JsValue, what: &str) -> Result<(KPath, Node), JsValue> {
    if !item.is_object() || is_js_array(item) {
        return Err(coded_error(
            "invalid_patch",
            &format!(
                "{what} must be an object {{path, value}} or {{path, tony}}, not {}",
                kind(item)
            ),
        ));
    }
    let path = path_arg(&field(item, "path", what)?, &format!("{what}.path"))?;
    let node = match (has(item, "value", what)?, has(item, "tony", what)?) {
        (true, false) => from_js(&field(item, "value", what)?, &format!("{what}: "), "value")?,
        (false, true) => {
            let tony = field(item, "tony", what)?;
            let text = tony.as_string().ok_or_else(|| {
                coded_error(
                    "invalid_tony",
                    &format!("{what}.tony must be a string, not {}", kind(&tony)),
                )
            })?;
            parse(&text).map_err(|e| coded_error("invalid_tony", &format!("{what}.tony: {e}")))?
        }
        (has_value, _) => {
            return Err(coded_error(
                "invalid_patch",
                &format!(
                    "{what} has {} of value and tony: give exactly one",
                    if has_value { "both" } else { "neither" }
                ),
            ))
        }
    };
    Ok((path, node))
}

/// A patch, or an array of patches, called `what`.
fn patches_arg(value: &JsValue, what: &str) -> Result<Vec<(KPath, Node)>, JsValue> {
    if !is_js_array(value) {
        if value.is_object() {
            return Ok(vec![patch_arg(value, what)?]);
        }
        return Err(coded_error(
            "invalid_argument",
            &format!(
                "{what} must be a patch {{path, value | tony}} or an array of them, not {}",
                kind(value)
            ),
        ));
    }
    let length = field(value, "length", what)?.as_f64().unwrap_or(0.0) as u32;
    (0..length)
        .map(|i| {
            let item = Reflect::get_u32(value, i).map_err(|e| threw(what, &i.to_string(), &e))?;
            patch_arg(&item, &format!("{what}[{i}]"))
        })
        .collect()
}

/// A versioned Tony document store. After `close()` every method throws an error with code
/// `closed` (`close()` itself may be repeated), and so do its open readers.
#[wasm_bindgen]
pub struct TonyStore {
    store: Store,
    txs: Transactions,
    /// Set by `close()` and on drop (`free()`); shared with the store's readers.
    closed: Rc<Cell<bool>>,
}

impl Drop for TonyStore {
    fn drop(&mut self) {
        self.closed.set(true);
    }
}

#[wasm_bindgen]
impl TonyStore {
    /// Opens (creating) the store `name`. `options.backend`: `"opfs"` (a dedicated worker's
    /// origin private file system), `"memory"`, a directory object (`open(name)` returning block
    /// files), or a function `name => directory object`. `options.durability`: `"commit"`
    /// (sync every commit, the default) or `"flush"`.
    pub async fn open(name: JsValue, options: JsValue) -> Result<TonyStore, JsValue> {
        console_error_panic_hook::set_once();
        let name = name.as_string().ok_or_else(|| {
            coded_error(
                "invalid_argument",
                &format!("the store name must be a string, not {}", kind(&name)),
            )
        })?;
        let backend = option(&options, "backend")?;
        let durability = match choice(&options, "durability", &["commit", "flush"])?.as_deref() {
            Some("flush") => Durability::OnFlush,
            _ => Durability::EveryCommit,
        };
        let options = Options {
            durability,
            ..Options::default()
        };
        let store = match backend.as_string().as_deref() {
            Some("opfs") => {
                let dir = OpfsDir::open(&name, &STORE_FILES)
                    .await
                    .map_err(|e| store_error(e.into()))?;
                Store::open(&dir, options)
            }
            Some("memory") => {
                let dir = MEMORY.with(|m| m.borrow_mut().entry(name.clone()).or_default().clone());
                Store::open(&dir, options)
            }
            Some(other) => {
                return Err(coded_error(
                    "invalid_option",
                    &format!("unknown backend {other:?}"),
                ))
            }
            None => {
                let object = match backend.dyn_ref::<Function>() {
                    Some(factory) => factory
                        .call1(&JsValue::NULL, &name.clone().into())
                        .map_err(|e| store_error(storage_error(&name, 0, 0, &e).into()))?,
                    None => backend,
                };
                if !object.is_object() {
                    return Err(coded_error("invalid_option", "options.backend must be \"opfs\", \"memory\", a directory object or a factory"));
                }
                let dir = JsDir::new(object.unchecked_into::<JsDirObject>());
                Store::open(&dir as &dyn StoreDir, options)
            }
        }
        .map_err(store_error)?;
        Ok(TonyStore {
            store,
            txs: Transactions::default(),
            closed: Rc::default(),
        })
    }

    /// Commits patches — `[{path, value}]` (plain JS values) or `[{path, tony}]` (Tony text,
    /// so tags like `!delete` can be written) — as one commit; returns its number.
    /// `options.match`: preconditions `{path, value | tony}` that must match first.
    pub fn commit(&mut self, patches: JsValue, options: JsValue) -> Result<f64, JsValue> {
        check_open(&self.closed)?;
        let patches = patches_arg(&patches, "patches")?;
        let preconditions = match option(&options, "match")? {
            m if m.is_undefined() => Vec::new(),
            m => patches_arg(&m, "options.match")?,
        };
        let commit = self
            .store
            .commit_with(patches, preconditions)
            .map_err(store_error)?;
        Ok(commit as f64)
    }

    /// The value at `path` as of `commit` (the head by default), as a plain JS value;
    /// `undefined` where nothing is.
    #[wasm_bindgen(js_name = readAt)]
    pub fn read_at(&mut self, path: JsValue, commit: JsValue) -> Result<JsValue, JsValue> {
        Ok(self
            .read_node(&path, &commit)?
            .map_or(JsValue::UNDEFINED, |n| to_js(&n)))
    }

    /// Like `readAt`, as Tony wire text (tags kept); `null` where nothing is.
    #[wasm_bindgen(js_name = readTonyAt)]
    pub fn read_tony_at(
        &mut self,
        path: JsValue,
        commit: JsValue,
    ) -> Result<Option<String>, JsValue> {
        Ok(self.read_node(&path, &commit)?.map(|n| encode_wire(&n)))
    }

    fn read_node(&mut self, path: &JsValue, commit: &JsValue) -> Result<Option<Node>, JsValue> {
        check_open(&self.closed)?;
        let path = path_arg(path, "path")?;
        let commit = commit_arg(commit, self.store.head())?;
        self.store.read_at(&path, commit).map_err(store_error)
    }

    /// A reader producing the value at `path` as text (`format`: `"tony"` or `"json"`) in
    /// chunks (`null` where nothing is); the JS glue wraps it in a `ReadableStream`. A large
    /// sub-document is copied from the log without being built in wasm memory.
    #[wasm_bindgen(js_name = openReader)]
    pub fn open_reader(
        &mut self,
        path: JsValue,
        commit: JsValue,
        format: JsValue,
    ) -> Result<TextReader, JsValue> {
        check_open(&self.closed)?;
        let format = match format.as_string().as_deref() {
            _ if format.is_undefined() || format.is_null() => TextFormat::Wire,
            Some("tony") => TextFormat::Wire,
            Some("json") => TextFormat::Json,
            _ => {
                return Err(coded_error(
                    "invalid_option",
                    &format!("format must be \"tony\" or \"json\", not {}", kind(&format)),
                ))
            }
        };
        let path = path_arg(&path, "path")?;
        let commit = commit_arg(&commit, self.store.head())?;
        let stream = match self
            .store
            .open_stream(&path, commit, format)
            .map_err(store_error)?
        {
            Some(stream) => stream,
            // Nothing there: the empty store's root streams as `null`.
            None => self
                .store
                .open_stream(&KPath::root(), 0, format)
                .map_err(store_error)?
                .ok_or_else(|| coded_error("internal", "the empty root did not stream"))?,
        };
        Ok(TextReader {
            stream,
            closed: self.closed.clone(),
        })
    }

    /// The newest commit number (0 when empty).
    #[wasm_bindgen(getter)]
    pub fn head(&self) -> Result<f64, JsValue> {
        check_open(&self.closed)?;
        Ok(self.store.head() as f64)
    }

    /// Counters: `{entriesRead, level0Bytes, compactBytes, streamedFromLog, streamedPatched,
    /// readThroughArrayEdits, readFromOffsets, recovery}`.
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        check_open(&self.closed)?;
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
        Ok(object.into())
    }

    /// The commits that changed `path` (or something above or below it), oldest first.
    pub fn history(&self, path: JsValue) -> Result<Vec<f64>, JsValue> {
        check_open(&self.closed)?;
        Ok(self
            .store
            .history(&path_arg(&path, "path")?)
            .into_iter()
            .map(|c| c as f64)
            .collect())
    }

    /// Starts a transaction of `participants` patches that aborts after `timeoutMs`; returns its id.
    #[wasm_bindgen(js_name = beginTransaction)]
    pub fn begin_transaction(
        &mut self,
        participants: JsValue,
        timeout_ms: JsValue,
    ) -> Result<f64, JsValue> {
        check_open(&self.closed)?;
        let participants = integer_arg(&participants, "participants", 1.0, u32::MAX as f64)?;
        let timeout_ms = integer_arg(&timeout_ms, "timeoutMs", 0.0, MAX_SAFE_INTEGER)?;
        Ok(self.txs.begin(participants as usize, timeout_ms as u64) as f64)
    }

    /// Adds one participant's `{path, value | tony, match?}`; returns the transaction's status
    /// (`{state: "waiting" | "committed" | "aborted", commit?, reason?}`).
    #[wasm_bindgen(js_name = joinTransaction)]
    pub fn join_transaction(&mut self, tx: JsValue, patch: JsValue) -> Result<JsValue, JsValue> {
        check_open(&self.closed)?;
        let tx = integer_arg(&tx, "tx", 0.0, MAX_SAFE_INTEGER)?;
        let (path, node) = patch_arg(&patch, "patch")?;
        let precondition = match field(&patch, "match", "patch")? {
            m if m.is_undefined() => None,
            m => Some(patch_arg(&m, "patch.match")?),
        };
        let status = self
            .txs
            .join(&mut self.store, tx as u64, path, node, precondition)
            .map_err(store_error)?;
        Ok(tx_status(&status))
    }

    /// Makes every commit durable and persists the index.
    pub fn flush(&mut self) -> Result<(), JsValue> {
        check_open(&self.closed)?;
        self.store.flush().map_err(store_error)
    }

    /// Flushes and releases the files (and the single-writer lock). Repeating it does nothing.
    pub fn close(&mut self) -> Result<(), JsValue> {
        if self.closed.replace(true) {
            return Ok(());
        }
        self.store.close().map_err(store_error)
    }
}

/// The largest chunk a [`TextReader`] is asked for (64 MiB): larger requests are refused
/// rather than risking an allocation failure, which would abort the wasm instance.
const MAX_CHUNK_BYTES: f64 = (64 << 20) as f64;

/// 2^53 - 1: the largest integer a JS number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

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

/// Produces a value's text chunk by chunk; once its store is closed, every call throws `closed`.
#[wasm_bindgen]
pub struct TextReader {
    stream: ValueStream,
    closed: Rc<Cell<bool>>,
}

#[wasm_bindgen]
impl TextReader {
    /// The next chunk (UTF-8, at least `minBytes` unless it is the last), or `undefined` at the end.
    pub fn next(&mut self, min_bytes: JsValue) -> Result<Option<Uint8Array>, JsValue> {
        check_open(&self.closed)?;
        let min_bytes = integer_arg(&min_bytes, "minBytes", 1.0, MAX_CHUNK_BYTES)?;
        let chunk = self
            .stream
            .next_chunk(min_bytes as usize)
            .map_err(store_error)?;
        Ok(chunk.map(|bytes| Uint8Array::from(bytes.as_slice())))
    }
}
