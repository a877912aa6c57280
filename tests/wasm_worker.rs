//! The BlockFile contract on OPFS, in a dedicated worker in Chromium.
#![cfg(target_arch = "wasm32")]

use tonystore::storage::{contract, StoreDir};
use tonystore::wasm::OpfsDir;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// A store name no earlier run used (OPFS persists across test runs of one profile).
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        js_sys::Date::now() as u64 ^ (js_sys::Math::random() * 1e9) as u64
    )
}

#[wasm_bindgen_test]
fn runs_in_a_dedicated_worker() {
    let global = js_sys::global();
    assert!(
        global
            .dyn_ref::<web_sys::DedicatedWorkerGlobalScope>()
            .is_some(),
        "not in a dedicated worker"
    );
    console_log!("OPFS contract tests running in a DedicatedWorkerGlobalScope");
}

#[wasm_bindgen_test]
async fn opfs_file_meets_the_contract() {
    let dir = OpfsDir::open(&unique("contract"), &["fresh"])
        .await
        .unwrap();
    contract::check_fresh_file(&*dir.open("fresh").unwrap()).unwrap();
}

#[wasm_bindgen_test]
async fn opfs_persists_across_reopen_and_locks_a_second_writer() {
    let store = unique("persist");
    let dir = OpfsDir::open(&store, &["data"]).await.unwrap();
    let file = dir.open("data").unwrap();
    contract::write_persistence_marker(&*file).unwrap();
    contract::locked(OpfsDir::open(&store, &["data"]).await).unwrap();
    file.close().unwrap();
    let again = OpfsDir::open(&store, &["data"])
        .await
        .expect("reopen after close");
    contract::check_persistence_marker(&*again.open("data").unwrap()).unwrap();
}

#[wasm_bindgen_test]
async fn opfs_rejects_bad_names_and_unprepared_files() {
    assert!(OpfsDir::open("../escape", &[]).await.is_err());
    assert!(OpfsDir::open("ok", &["a/b"]).await.is_err());
    let dir = OpfsDir::open(&unique("names"), &["one"]).await.unwrap();
    assert!(
        dir.open("two").is_err(),
        "only prepared files can be opened"
    );
    assert!(dir.open("one").is_ok());
    assert!(dir.open("one").is_err(), "a handle is handed out once");
}

#[wasm_bindgen_test]
async fn engine_on_opfs_survives_reopen() {
    use tonystore::engine::{Options, Store, STORE_FILES};
    use tonystore::kpath::KPath;
    use tonystore::tony::{parse, Node};
    let name = unique("engine");
    {
        let dir = OpfsDir::open(&name, &STORE_FILES).await.unwrap();
        let mut store = Store::open(&dir, Options::default()).unwrap();
        store
            .commit(vec![(KPath::parse("a").unwrap(), parse("{x: 1}").unwrap())])
            .unwrap();
        store
            .commit(vec![(KPath::parse("a.x").unwrap(), Node::int(2))])
            .unwrap();
        // A second open while this one is live is refused.
        contract::locked(OpfsDir::open(&name, &STORE_FILES).await).unwrap();
        store.close().unwrap();
    }
    let dir = OpfsDir::open(&name, &STORE_FILES).await.unwrap();
    let mut store = Store::open(&dir, Options::default()).unwrap();
    assert_eq!(store.head(), 2);
    assert_eq!(
        store.read_at(&KPath::parse("a.x").unwrap(), 1).unwrap(),
        Some(Node::int(1))
    );
    store.verify().unwrap();
}

/// Throughput on OPFS (printed; see BENCHMARKS.md): commits with a sync each, commits synced
/// once at the end, and reads at past commits.
#[wasm_bindgen_test]
async fn opfs_engine_throughput() {
    use tonystore::engine::{Durability, Options, Store, STORE_FILES};
    use tonystore::kpath::KPath;
    use tonystore::tony::Node;
    let now = || js_sys::Date::now();
    for (label, durability, commits) in [
        ("sync every commit", Durability::EveryCommit, 300u64),
        ("sync on flush", Durability::OnFlush, 3000),
    ] {
        let dir = OpfsDir::open(&unique("bench"), &STORE_FILES).await.unwrap();
        let mut store = Store::open(
            &dir,
            Options {
                durability,
                ..Options::default()
            },
        )
        .unwrap();
        let start = now();
        for i in 0..commits {
            let path = KPath::parse(&format!("users.u{}.score", i % 100)).unwrap();
            store.commit(vec![(path, Node::int(i as i64))]).unwrap();
        }
        store.flush().unwrap();
        let write_ms = now() - start;
        let path = KPath::parse("users.u42.score").unwrap();
        let start = now();
        for i in 1..=200u64 {
            store.read_at(&path, 1 + (i * 7919) % commits).unwrap();
        }
        let read_ms = now() - start;
        assert_eq!(store.head(), commits);
        console_log!(
            "OPFS {label}: {commits} commits in {write_ms:.0} ms ({:.0} commits/s); 200 read_at in {read_ms:.0} ms ({:.0} µs each)",
            commits as f64 / write_ms * 1000.0,
            read_ms * 1000.0 / 200.0
        );
    }
}

/// `readStream`'s reader over a large sub-document on OPFS: wasm memory does not grow while
/// streaming (the bytes are copied from the log, never built).
#[wasm_bindgen_test]
async fn reading_a_large_subdocument_keeps_wasm_memory_flat() {
    use js_sys::{Object, Reflect, WebAssembly};
    use tonystore::wasm::TonyStore;
    use wasm_bindgen::JsValue;
    let megabytes: usize = if option_env!("TONYSTORE_HEAVY").is_some() {
        100
    } else {
        16
    };
    let name = unique("big");
    let options = Object::new();
    Reflect::set(&options, &"backend".into(), &"opfs".into()).unwrap();
    {
        // 100 KB strings: a large document that is cheap to build.
        let piece = "x".repeat(100 * 1024);
        let items = js_sys::Array::new();
        for _ in 0..megabytes * 10 {
            items.push(&JsValue::from_str(&piece));
        }
        let patch = Object::new();
        Reflect::set(&patch, &"path".into(), &"big".into()).unwrap();
        Reflect::set(&patch, &"value".into(), &items).unwrap();
        let mut store = TonyStore::open(name.clone().into(), options.clone().into())
            .await
            .unwrap();
        store.commit(patch.into(), JsValue::UNDEFINED).unwrap();
        store.close().unwrap();
    }
    let mut store = TonyStore::open(name.into(), options.into()).await.unwrap();
    let memory = || {
        wasm_bindgen::memory()
            .unchecked_into::<WebAssembly::Memory>()
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length() as usize
    };
    let before = memory();
    let mut reader = store
        .open_reader("big".into(), JsValue::UNDEFINED, "tony".into())
        .unwrap();
    let mut total = 0usize;
    while let Some(chunk) = reader.next((256 * 1024).into()).unwrap() {
        total += chunk.length() as usize;
    }
    let growth = memory() - before;
    console_log!(
        "streamed {} MB from OPFS; wasm memory grew by {} KiB",
        total >> 20,
        growth >> 10
    );
    assert!(total > megabytes * 1_000_000);
    assert!(growth < 16 << 20, "wasm memory grew by {growth} bytes");
    // JSON streams from the log as well.
    let before = memory();
    let mut reader = store
        .open_reader("big".into(), JsValue::UNDEFINED, "json".into())
        .unwrap();
    let mut json = 0usize;
    while let Some(chunk) = reader.next((256 * 1024).into()).unwrap() {
        json += chunk.length() as usize;
    }
    let growth = memory() - before;
    console_log!(
        "streamed {} MB of JSON; wasm memory grew by {} KiB",
        json >> 20,
        growth >> 10
    );
    assert!(json > megabytes * 1_000_000);
    assert!(growth < 16 << 20, "wasm memory grew by {growth} bytes");
    let streamed = Reflect::get(&store.stats().unwrap(), &"streamedFromLog".into()).unwrap();
    assert_eq!(
        streamed.as_f64(),
        Some(2.0),
        "both values were copied from the log, not built"
    );
}

/// Whether the OPFS root has an entry `name` (file or directory).
async fn opfs_has(name: &str) -> bool {
    let check = js_sys::Function::new_with_args(
        "name",
        "return navigator.storage.getDirectory().then(async (root) => {
           for await (const key of root.keys()) if (key === name) return true;
           return false;
         });",
    );
    let promise: js_sys::Promise = check
        .call1(&JsValue::NULL, &name.into())
        .unwrap()
        .unchecked_into();
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

/// Runs `body` with `FileSystemFileHandle.prototype.createSyncAccessHandle` replaced by
/// `replacement` (JS source of a function, or `undefined` to remove it), then restores it.
async fn with_sync_handles<F: std::future::Future<Output = ()>>(replacement: &str, body: F) {
    let swap = js_sys::Function::new_with_args(
        "replacement",
        "const proto = FileSystemFileHandle.prototype;
         const saved = Object.getOwnPropertyDescriptor(proto, 'createSyncAccessHandle');
         if (replacement === undefined) delete proto.createSyncAccessHandle;
         else proto.createSyncAccessHandle = replacement;
         return () => Object.defineProperty(proto, 'createSyncAccessHandle', saved);",
    );
    let replacement = js_sys::eval(&format!("({replacement})")).unwrap();
    let restore: js_sys::Function = swap
        .call1(&JsValue::NULL, &replacement)
        .unwrap()
        .unchecked_into();
    body.await;
    restore.call0(&JsValue::NULL).unwrap();
}

use wasm_bindgen::JsValue;

/// Where sync access handles are missing or refused, opening says `unsupported` (a coded store
/// error) and leaves no directory or file behind; a handle refused as busy is `locked`.
#[wasm_bindgen_test]
async fn missing_or_refused_sync_handles_are_unsupported_and_leave_nothing() {
    use tonystore::engine::{StoreError, STORE_FILES};
    use tonystore::storage::StorageError;
    let code = |e: StorageError| StoreError::from(e).code();
    let missing = unique("no-sync-handles");
    with_sync_handles("undefined", async {
        let err = OpfsDir::open(&missing, &STORE_FILES)
            .await
            .err()
            .expect("refused");
        assert_eq!(code(err), "unsupported");
    })
    .await;
    assert!(
        !opfs_has(&missing).await,
        "nothing created when the API is missing"
    );

    let refused = unique("sync-handles-refused");
    with_sync_handles(
        "function () { return Promise.reject(new DOMException('Backend does not support this operation', 'NotSupportedError')); }",
        async {
            let err = OpfsDir::open(&refused, &STORE_FILES).await.err().expect("refused");
            assert_eq!(code(err), "unsupported");
        },
    )
    .await;
    assert!(
        !opfs_has(&refused).await,
        "the files and directory it created are removed"
    );

    let busy = unique("sync-handles-busy");
    with_sync_handles(
        "function () { return Promise.reject(new DOMException('Access Handles cannot be created', 'InvalidStateError')); }",
        async {
            let err = OpfsDir::open(&busy, &STORE_FILES).await.err().expect("refused");
            assert_eq!(code(err), "locked");
        },
    )
    .await;
    // A store that existed keeps its files when an open fails.
    let kept = unique("kept");
    drop(OpfsDir::open(&kept, &STORE_FILES).await.unwrap());
    with_sync_handles(
        "function () { return Promise.reject(new DOMException('no', 'NotSupportedError')); }",
        async {
            assert!(OpfsDir::open(&kept, &STORE_FILES).await.is_err());
        },
    )
    .await;
    assert!(opfs_has(&kept).await, "an existing store is never removed");
    // And the real API works again afterwards.
    assert!(OpfsDir::open(&unique("after"), &STORE_FILES).await.is_ok());
}
