//! The JS API: the `TonyStore` class and its streaming `TextReader`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Array, Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use super::args::{
    choice, commit_arg, field, integer_arg, kind, option, patch_arg, patches_arg, path_arg,
    PatchArg, MAX_SAFE_INTEGER,
};
use super::convert::to_js;
use super::errors::{coded_error, storage_error};
use super::{JsDir, JsDirObject, OpfsDir};
use crate::engine::{
    Durability, Options, Store, StoreError, Transactions, ValueStream, STORE_FILES,
};
use crate::kpath::KPath;
use crate::storage::{MemDir, StoreDir};
use crate::tony::{encode_wire, Node, TextFormat};

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

/// A versioned Tony document store. After `close()` every method throws an error with code
/// `closed` (`close()` itself may be repeated), and so do its open readers.
#[wasm_bindgen]
pub struct TonyStore {
    store: Store,
    txs: Transactions,
    /// Set by `close()` and on drop (`free()`); shared with the store's readers.
    closed: Rc<Cell<bool>>,
    /// Commits waiting to reach a primary (root patches), shown by reads at the head.
    pending: Vec<Node>,
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
    /// (sync every commit, the default) or `"flush"` (commits written in batches, durable at
    /// `flush`/`close`).
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
            pending: Vec::new(),
        })
    }

    /// Runs the storage contract every backend meets (reads, writes, holes, lengths, close,
    /// persistence across reopening, a second writer refused, file names) on a directory
    /// object, in files named `contract-*`; returns the first violation, or `null`. For
    /// authors of storage backends.
    #[wasm_bindgen(js_name = checkBackend)]
    pub fn check_backend(directory: JsValue) -> Result<JsValue, JsValue> {
        if !directory.is_object() {
            return Err(coded_error(
                "invalid_argument",
                &format!("directory must be an object, not {}", kind(&directory)),
            ));
        }
        let dir = JsDir::new(directory.unchecked_into::<JsDirObject>());
        Ok(text_or_null(
            crate::storage::contract::check_dir(&dir, true).err(),
        ))
    }

    /// Commits patches — `[{path, value}]` (plain JS values) or `[{path, tony}]` (Tony text,
    /// so tags like `!delete` can be written), each merged into what is at its path, or with
    /// `replace: true` made exactly the value there — as one commit; returns its number.
    /// `options.match`: preconditions `{path, value | tony}` that must match first.
    pub fn commit(&mut self, patches: JsValue, options: JsValue) -> Result<f64, JsValue> {
        check_open(&self.closed)?;
        let patches = patches_arg(&patches, "patches")?;
        let preconditions = match option(&options, "match")? {
            m if m.is_undefined() => Vec::new(),
            m => patches_arg(&m, "options.match")?
                .into_iter()
                .map(|p| precondition(p, "options.match"))
                .collect::<Result<_, _>>()?,
        };
        let patches = patches
            .into_iter()
            .map(|p| self.resolve(p))
            .collect::<Result<_, _>>()?;
        let commit = self
            .store
            .commit_with(patches, preconditions)
            .map_err(store_error)?;
        Ok(commit as f64)
    }

    /// A patch argument as the engine takes it: a replacement becomes the patch that makes
    /// the value exactly the given one.
    fn resolve(&mut self, patch: PatchArg) -> Result<(KPath, Node), JsValue> {
        if !patch.replace {
            return Ok((patch.path, patch.node));
        }
        let node = self
            .store
            .replacement(&patch.path, &patch.node)
            .map_err(store_error)?;
        Ok((patch.path, node))
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
    pub fn read_tony_at(&mut self, path: JsValue, commit: JsValue) -> Result<JsValue, JsValue> {
        Ok(text_or_null(
            self.read_node(&path, &commit)?.map(|n| encode_wire(&n)),
        ))
    }

    fn read_node(&mut self, path: &JsValue, commit: &JsValue) -> Result<Option<Node>, JsValue> {
        check_open(&self.closed)?;
        let path = path_arg(path, "path")?;
        if (commit.is_undefined() || commit.is_null()) && !self.pending.is_empty() {
            let (value, _) = self
                .store
                .read_pending(&path, &self.pending)
                .map_err(store_error)?;
            return Ok(value);
        }
        let commit = commit_arg(commit, "commit", self.store.head())?;
        self.store.read_at(&path, commit).map_err(store_error)
    }

    /// Sets the commits waiting to reach a primary (an array of commits, each a patch or an
    /// array of patches as `commit` takes them): reads at the head (`readAt`, `readTonyAt`
    /// without a commit) show them applied after the head, in order; one that no longer
    /// applies is skipped. An empty array clears them. Returns how many apply now.
    #[wasm_bindgen(js_name = setPending)]
    pub fn set_pending(&mut self, commits: JsValue) -> Result<f64, JsValue> {
        check_open(&self.closed)?;
        if !super::convert::is_js_array(&commits) {
            return Err(coded_error(
                "invalid_argument",
                &format!("pending commits must be an array, not {}", kind(&commits)),
            ));
        }
        let commits: js_sys::Array = commits.unchecked_into();
        let mut pending = Vec::with_capacity(commits.length() as usize);
        for (i, commit) in commits.iter().enumerate() {
            let patches = patches_arg(&commit, &format!("pending[{i}]"))?
                .into_iter()
                .map(|p| self.resolve(p))
                .collect::<Result<Vec<_>, _>>()?;
            pending.push(self.store.pending_commit(patches).map_err(store_error)?);
        }
        let (_, applied) = self
            .store
            .read_pending(&KPath::root(), &pending)
            .map_err(store_error)?;
        self.pending = pending;
        Ok(applied as f64)
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
        let commit = commit_arg(&commit, "commit", self.store.head())?;
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
        let count = |n: u64| JsValue::from(n as f64);
        Ok(record(&[
            ("entriesRead", count(stats.entries_read)),
            ("level0Bytes", count(stats.level0_bytes)),
            ("compactBytes", count(stats.compact_bytes)),
            ("streamedFromLog", count(stats.streamed_from_log)),
            ("streamedPatched", count(stats.streamed_patched)),
            (
                "readThroughArrayEdits",
                count(stats.read_through_array_edits),
            ),
            ("readFromOffsets", count(stats.read_from_offsets)),
            ("recovery", stats.recovery.into()),
        ]))
    }

    /// Exactly the commits at which the value at `path` changed, oldest first.
    pub fn history(&mut self, path: JsValue) -> Result<Vec<f64>, JsValue> {
        check_open(&self.closed)?;
        let path = path_arg(&path, "path")?;
        let history = self.store.history(&path).map_err(store_error)?;
        Ok(history.into_iter().map(|c| c as f64).collect())
    }

    /// Each commit after `since` (default 0) that changed the value at or below `path`,
    /// oldest first: `[{commit, paths}]`, `paths` the kinded paths it changed there.
    pub fn changes(&mut self, path: JsValue, since: JsValue) -> Result<Array, JsValue> {
        check_open(&self.closed)?;
        let path = path_arg(&path, "path")?;
        let head = self.store.head();
        let since = commit_arg(&since, "since", 0)?.min(head);
        let changes = self
            .store
            .changes(&path, since, head)
            .map_err(store_error)?;
        Ok(changes
            .iter()
            .map(|change| {
                let paths: Array = change
                    .paths
                    .iter()
                    .map(|p| JsValue::from(p.to_string()))
                    .collect();
                record(&[
                    ("commit", (change.commit as f64).into()),
                    ("paths", paths.into()),
                ])
            })
            .collect())
    }

    /// The commits from `options.from` (default 1) to `options.to` (default the head),
    /// oldest first, only those that changed `options.path` when given:
    /// `[{commit, tx, timestamp}]` (milliseconds since the epoch).
    pub fn log(&mut self, options: JsValue) -> Result<Array, JsValue> {
        check_open(&self.closed)?;
        let path = match option(&options, "path")? {
            p if p.is_undefined() => None,
            p => Some(path_arg(&p, "options.path")?),
        };
        let head = self.store.head();
        let from = commit_arg(&option(&options, "from")?, "options.from", 1)?;
        let to = commit_arg(&option(&options, "to")?, "options.to", head)?;
        let log = self
            .store
            .log(path.as_ref(), from, to)
            .map_err(store_error)?;
        Ok(log
            .iter()
            .map(|c| {
                record(&[
                    ("commit", (c.commit as f64).into()),
                    ("tx", (c.tx as f64).into()),
                    ("timestamp", (c.timestamp as f64).into()),
                ])
            })
            .collect())
    }

    /// A Tony patch (wire text) turning the value at `path` as of `from` into its value as of
    /// `to` (default the head); `null` when they are equal.
    pub fn diff(&mut self, path: JsValue, from: JsValue, to: JsValue) -> Result<JsValue, JsValue> {
        check_open(&self.closed)?;
        let path = path_arg(&path, "path")?;
        if from.is_undefined() || from.is_null() {
            return Err(coded_error(
                "invalid_argument",
                "from (a commit number) is required",
            ));
        }
        let head = self.store.head();
        let from = commit_arg(&from, "from", head)?;
        let to = commit_arg(&to, "to", head)?;
        let patch = self.store.diff(&path, from, to).map_err(store_error)?;
        Ok(text_or_null(patch.map(|p| encode_wire(&p))))
    }

    /// A shipment (bytes) of the commits after `after` (default 0), for another store's
    /// `import`; `options.maxBytes` bounds its payloads (at least one commit is included).
    pub fn export(&mut self, after: JsValue, options: JsValue) -> Result<Uint8Array, JsValue> {
        check_open(&self.closed)?;
        let after = commit_arg(&after, "after", 0)?;
        let max = match option(&options, "maxBytes")? {
            m if m.is_undefined() => MAX_SAFE_INTEGER,
            m => integer_arg(&m, "options.maxBytes", 0.0, MAX_SAFE_INTEGER)?,
        };
        let bytes = self
            .store
            .export(after, max as usize)
            .map_err(store_error)?;
        Ok(Uint8Array::from(bytes.as_slice()))
    }

    /// Imports a shipment from another store's `export`: adds the commits this store lacks
    /// under their numbers; returns `{skipped, added, head}`. Refused whole (`corrupt`, `gap`,
    /// `diverged`) when it does not fit.
    pub fn import(&mut self, shipment: JsValue) -> Result<JsValue, JsValue> {
        check_open(&self.closed)?;
        let bytes = shipment.dyn_into::<Uint8Array>().map_err(|other| {
            coded_error(
                "invalid_argument",
                &format!("shipment must be a Uint8Array, not {}", kind(&other)),
            )
        })?;
        let imported = self.store.import(&bytes.to_vec()).map_err(store_error)?;
        Ok(record(&[
            ("skipped", (imported.skipped as f64).into()),
            ("added", (imported.added as f64).into()),
            ("head", (imported.head as f64).into()),
        ]))
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
        let (path, node) = self.resolve(patch_arg(&patch, "patch")?)?;
        let precondition = match field(&patch, "match", "patch")? {
            m if m.is_undefined() => None,
            m => Some(precondition(patch_arg(&m, "patch.match")?, "patch.match")?),
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

/// A string, or JS `null` for `None` (wasm-bindgen would give `undefined`).
fn text_or_null(text: Option<String>) -> JsValue {
    text.map_or(JsValue::NULL, JsValue::from)
}

/// A plain object with the given properties.
fn record(properties: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (key, value) in properties {
        let _ = Reflect::set(&object, &(*key).into(), value);
    }
    object.into()
}

/// A precondition argument (`what` names it): a path and a pattern; `replace` means nothing
/// there.
fn precondition(patch: PatchArg, what: &str) -> Result<(KPath, Node), JsValue> {
    if patch.replace {
        return Err(coded_error(
            "invalid_patch",
            &format!("{what}: replace applies to patches, not preconditions"),
        ));
    }
    Ok((patch.path, patch.node))
}

fn tx_status(status: &crate::engine::TxStatus) -> JsValue {
    use crate::engine::TxStatus;
    match status {
        TxStatus::Waiting { joined, of } => record(&[
            ("state", "waiting".into()),
            ("joined", (*joined as f64).into()),
            ("of", (*of as f64).into()),
        ]),
        TxStatus::Committed(c) => record(&[
            ("state", "committed".into()),
            ("commit", (*c as f64).into()),
        ]),
        TxStatus::Aborted(reason) => record(&[
            ("state", "aborted".into()),
            ("reason", reason.as_str().into()),
        ]),
    }
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
