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
    contract::check_dir(&MemDir::new(), true);
}

#[wasm_bindgen_test]
fn node_fs_backend_meets_the_contract() {
    let (_, dir) = node_fs_dir();
    contract::check_dir(&JsDir::new(dir), true);
}

#[wasm_bindgen_test]
fn node_fs_backend_persists_across_directory_objects() {
    let (path, dir) = node_fs_dir();
    let file = JsDir::new(dir).open("data").unwrap();
    contract::write_persistence_marker(&*file);
    file.close().unwrap();
    let again = node_fs_dir_at(&path);
    contract::check_persistence_marker(&*JsDir::new(again).open("data").unwrap());
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
    let mut store = Store::open(&JsDir::new(again), Options::default()).unwrap();
    assert_eq!(store.head(), 40);
    assert_eq!(
        store.read_at(&KPath::parse("n").unwrap(), 17).unwrap(),
        Some(Node::int(16))
    );
}
