//! The BlockFile contract under Node: the in-memory backend and the shipped Node `fs` JS backend.
#![cfg(target_arch = "wasm32")]

use tonystore::storage::{contract, MemDir, StoreDir};
use tonystore::wasm::{JsDir, JsDirObject};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

/// A fresh temp directory and the package's `NodeFsDir` over it, loaded from `pkg-config/`.
fn node_fs_dir() -> (String, JsDirObject) {
    let module = concat!(env!("CARGO_MANIFEST_DIR"), "/pkg-config/node-fs.cjs");
    let make = js_sys::Function::new_with_args(
        "module",
        "const req = process.getBuiltinModule('node:module').createRequire(module);
         const fs = req('node:fs'), os = req('node:os'), path = req('node:path');
         const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-'));
         return [dir, new (req(module).NodeFsDir)(dir)];",
    );
    let pair: js_sys::Array = make
        .call1(&JsValue::NULL, &module.into())
        .unwrap()
        .dyn_into()
        .unwrap();
    (
        pair.get(0).as_string().unwrap(),
        pair.get(1).unchecked_into(),
    )
}

/// The package's `NodeFsDir` over an existing directory (a second directory object, as a new
/// process would make).
fn node_fs_dir_at(path: &str) -> JsDirObject {
    let reopen = js_sys::Function::new_with_args(
        "module, dir",
        "const req = process.getBuiltinModule('node:module').createRequire(module);
         return new (req(module).NodeFsDir)(dir);",
    );
    let module = concat!(env!("CARGO_MANIFEST_DIR"), "/pkg-config/node-fs.cjs");
    reopen
        .call2(&JsValue::NULL, &module.into(), &path.into())
        .unwrap()
        .unchecked_into()
}

#[wasm_bindgen_test]
fn mem_dir_meets_the_contract_in_node() {
    contract::check_dir(&MemDir::new(), true).unwrap();
}

#[wasm_bindgen_test]
fn node_fs_backend_meets_the_contract() {
    let (_, dir) = node_fs_dir();
    contract::check_dir(&JsDir::new(dir), true).unwrap();
}

#[wasm_bindgen_test]
fn node_fs_backend_persists_across_directory_objects() {
    let (path, dir) = node_fs_dir();
    let file = JsDir::new(dir).open("data").unwrap();
    contract::write_persistence_marker(&*file).unwrap();
    file.close().unwrap();
    let again = node_fs_dir_at(&path);
    contract::check_persistence_marker(&*JsDir::new(again).open("data").unwrap()).unwrap();
}

#[wasm_bindgen_test]
fn engine_on_the_node_fs_backend_survives_reopen() {
    use tonystore::engine::{Options, Store};
    use tonystore::kpath::KPath;
    use tonystore::tony::Node;
    let (path, dir) = node_fs_dir();
    let mut store = Store::open(&JsDir::new(dir), Options::default()).unwrap();
    for i in 0..40 {
        store
            .commit(vec![(KPath::parse("n").unwrap(), Node::int(i))])
            .unwrap();
    }
    store.close().unwrap();
    let again = node_fs_dir_at(&path);
    let store = Store::open(&JsDir::new(again), Options::default()).unwrap();
    assert_eq!(store.head(), 40);
    assert_eq!(
        store.read_at(&KPath::parse("n").unwrap(), 17).unwrap(),
        Some(Node::int(16))
    );
}

/// Numbers at the edges of every conversion (f64 integers, 2^53, i64 limits as BigInts) go
/// through `TonyStore` in this debug build — where an arithmetic overflow would panic — and read
/// back as expected.
#[wasm_bindgen_test]
async fn js_numbers_at_the_conversion_edges_round_trip() {
    use tonystore::wasm::TonyStore;
    let table = js_sys::Function::new_no_args(
        "return [
           [0, 0], [-0, 0], [1.5, 1.5], [2 ** 53 - 1, 2 ** 53 - 1], [-(2 ** 53 - 1), -(2 ** 53 - 1)],
           [2 ** 53, 2 ** 53], [-(2 ** 63), -(2 ** 63)], [1e308, 1e308], [5e-324, 5e-324],
           [-(2n ** 63n), -(2n ** 63n)], [2n ** 63n - 1n, 2n ** 63n - 1n], [2n ** 53n, 2n ** 53n],
           [-(2n ** 53n), -(2n ** 53n)], [2n ** 53n - 1n, 2 ** 53 - 1], [7n, 7],
         ].map(([value, back], i) => ({ patch: { path: 'v' + i, value }, back }));",
    )
    .call0(&JsValue::NULL)
    .unwrap()
    .unchecked_into::<js_sys::Array>();
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"backend".into(), &"memory".into()).unwrap();
    let mut store = TonyStore::open("numeric-edges".into(), options.into())
        .await
        .unwrap();
    for (i, case) in table.iter().enumerate() {
        let field = |name: &str| js_sys::Reflect::get(&case, &name.into()).unwrap();
        let patch = field("patch");
        store.commit(patch.clone(), JsValue::UNDEFINED).unwrap();
        let path = js_sys::Reflect::get(&patch, &"path".into()).unwrap();
        let back = store.read_at(path, JsValue::UNDEFINED).unwrap();
        assert!(
            js_sys::Object::is(&back, &field("back")),
            "case {i}: read back {back:?}, expected {:?}",
            field("back")
        );
    }
}

/// History, change feeds, the log, diffs and replace commits, through the JS class as a JS
/// caller uses it (the scenario runs in JS and throws on the first wrong answer).
#[wasm_bindgen_test]
async fn history_changes_log_diff_and_replace_from_js() {
    use tonystore::wasm::TonyStore;
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"backend".into(), &"memory".into()).unwrap();
    let store = TonyStore::open("history-from-js".into(), options.into())
        .await
        .unwrap();
    run_scenario(
        "store",
        r#"
        const before = Date.now();
        store.commit({ path: 'a', value: { x: 1, y: 2 } });
        store.commit({ path: 'b', value: 1 });
        store.commit({ path: 'a', value: { z: 3 } });          // merges
        store.commit({ path: 'c.d', value: true });
        store.commit({ path: 'b', value: 1 });                  // the same value: no change
        store.commit({ path: 'a', value: { z: 3 }, replace: true });
        same(store.readAt('a'), { z: 3 }, 'replace');
        same(Array.from(store.history('a')), [1, 3, 6], 'history(a)');
        same(Array.from(store.history('b')), [2], 'history(b)');
        same(Array.from(store.history('c')), [4], 'history(c)');
        same(Array.from(store.history('missing')), [], 'history(missing)');
        if (!(store.history('a') instanceof Float64Array)) throw new Error('history is a Float64Array');
        same(store.changes('a', 0), [
          { commit: 1, paths: ['a'] }, { commit: 3, paths: ['a.z'] }, { commit: 6, paths: ['a.x', 'a.y'] },
        ], 'changes(a)');
        same(store.changes('', 4).map((c) => c.commit), [6], 'changes since 4');
        same(store.changes('a', 99), [], 'changes since beyond the head');
        const log = store.log();
        same(log.map((r) => r.commit), [1, 2, 3, 4, 5, 6], 'log');
        if (!log.every((r, i) => r.timestamp >= before && r.tx === i + 1)) throw new Error('log records: ' + JSON.stringify(log));
        same(store.log({ path: 'b' }).map((r) => r.commit), [2], 'log of b');
        same(store.log({ from: 5 }).map((r) => r.commit), [5, 6], 'log from 5');
        same(store.log({ path: 'a', from: 2, to: 3 }).map((r) => r.commit), [3], 'log of a in 2..3');
        same(store.diff('a', 1, 3), '{z: !insert 3}', 'diff a 1..3');
        same(store.diff('a', 3), '{x: !delete 1 y: !delete 2}', 'diff a 3..head');
        same(store.diff('b', 2, 5), null, 'diff of an unchanged value');
        same(store.readTonyAt('missing'), null, 'readTonyAt where nothing is');
        same(store.readTonyAt('c'), '{d: true}', 'readTonyAt');
        code(() => store.diff('a'), 'invalid_argument', 'diff without from');
        code(() => store.diff('a', 1, 7), 'no_such_commit', 'diff past the head');
        code(() => store.log({ to: 7 }), 'no_such_commit', 'log past the head');
        code(() => store.log({ path: 5 }), 'invalid_path', 'log with a bad path');
        code(() => store.log('a'), 'invalid_option', 'log with a non-object');
        code(() => store.changes('a..b', 0), 'invalid_path', 'changes with a bad path');
        code(() => store.changes('a', 'x'), 'invalid_argument', 'changes with a bad since');
        code(() => store.commit({ path: 'a', value: 1, replace: 'yes' }), 'invalid_patch', 'replace not a boolean');
        code(() => store.commit({ path: 'q', value: 1 }, { match: { path: 'a', value: 1, replace: true } }), 'invalid_patch', 'replace in a precondition');
        same(store.head, 6, 'nothing committed by the refused calls');
        // Replacing with a different key order, and with a scalar, is exact.
        store.commit({ path: 'o', value: { p: 1, q: { r: 1, s: 2 } } });
        store.commit({ path: 'o', value: { q: { s: 2, r: 1 }, p: 1 }, replace: true });
        same(store.readAt('o'), { q: { s: 2, r: 1 }, p: 1 }, 'replace in another key order');
        store.commit({ path: 'o', tony: 'hello', replace: true });
        same(store.readAt('o'), 'hello', 'replace with Tony text');
        "#,
        &[JsValue::from(store)],
    );
}

/// Log shipping through the JS class: export, import into a replica, again (skipped), and the
/// typed refusals.
#[wasm_bindgen_test]
async fn export_and_import_from_js() {
    use tonystore::wasm::TonyStore;
    let memory = || {
        let options = js_sys::Object::new();
        js_sys::Reflect::set(&options, &"backend".into(), &"memory".into()).unwrap();
        options
    };
    let primary = TonyStore::open("ship-primary".into(), memory().into())
        .await
        .unwrap();
    let replica = TonyStore::open("ship-replica".into(), memory().into())
        .await
        .unwrap();
    run_scenario(
        "primary, replica",
        r#"
        for (let i = 0; i < 5; i++) primary.commit({ path: `doc.k${i}`, value: i });
        const all = primary.export();
        if (!(all instanceof Uint8Array)) throw new Error('export gives bytes');
        same(replica.import(all), { skipped: 0, added: 5, head: 5 }, 'import');
        same(replica.import(all), { skipped: 5, added: 0, head: 5 }, 'again');
        same(replica.readAt('doc'), primary.readAt('doc'), 'same document');
        primary.commit({ path: 'doc.k9', value: 9 });
        const small = primary.export(replica.head, { maxBytes: 1 });
        same(replica.import(small).added, 1, 'one more');
        code(() => replica.import(primary.export(3).slice(0, 40)), 'corrupt', 'cut short');
        code(() => replica.import('bytes'), 'invalid_argument', 'not bytes');
        code(() => primary.export(99), 'no_such_commit', 'after the head');
        code(() => primary.export(0, { maxBytes: -1 }), 'invalid_argument', 'bad maxBytes');
        replica.commit({ path: 'mine', value: 1 });
        primary.commit({ path: 'theirs', value: 1 });
        code(() => replica.import(primary.export(6)), 'diverged', 'diverged');
        "#,
        &[JsValue::from(primary), JsValue::from(replica)],
    );
}

/// Runs a JS scenario (`body`, a function of `params`) with `args`, failing the test with the
/// message of the first wrong answer. The body has `same(got, want, what)` (JSON equality) and
/// `code(fn, want, what)` (the coded error `fn` must throw).
fn run_scenario(params: &str, body: &str, args: &[JsValue]) {
    const HELPERS: &str = r#"
        const same = (got, want, what) => {
          const g = JSON.stringify(got), w = JSON.stringify(want);
          if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
        };
        const code = (fn, want, what) => {
          try { fn(); } catch (e) { if (e.code === want) return; throw new Error(`${what}: code ${e.code} (${e.message}), want ${want}`); }
          throw new Error(`${what}: no error, want ${want}`);
        };
    "#;
    let source = format!("{HELPERS}{body}\nreturn 'ok';");
    let scenario = js_sys::Function::new_with_args(params, &source);
    let args: js_sys::Array = args.iter().collect();
    match scenario.apply(&JsValue::NULL, &args) {
        Ok(result) => assert_eq!(result.as_string().as_deref(), Some("ok")),
        Err(e) => panic!("{}", js_sys::Error::from(e).message()),
    }
}
