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
