//! OPFS from a window's main thread: a clear error pointing at dedicated workers.
#![cfg(target_arch = "wasm32")]

use tonystore::storage::StorageError;
use tonystore::wasm::OpfsDir;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn opfs_on_the_main_thread_says_a_dedicated_worker_is_needed() {
    match OpfsDir::open("window-store", &["level0.log"]).await {
        Err(StorageError::Unsupported(message)) => {
            assert!(message.contains("dedicated worker"), "{message}")
        }
        Err(other) => panic!("expected Unsupported, got {other}"),
        Ok(_) => panic!("OPFS sync handles must not open on the main thread"),
    }
}

/// Through the JS class as a page would call it: a coded `unsupported` error, and no store
/// directory left in OPFS.
#[wasm_bindgen_test]
async fn the_js_class_on_the_main_thread_is_unsupported_and_creates_nothing() {
    use tonystore::wasm::TonyStore;
    use wasm_bindgen::{JsCast, JsValue};
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"backend".into(), &"opfs".into()).unwrap();
    let err = TonyStore::open("window-class-store".into(), options.into())
        .await
        .err()
        .expect("refused on the main thread");
    let code = js_sys::Reflect::get(&err, &"code".into()).unwrap();
    assert_eq!(code.as_string().as_deref(), Some("unsupported"));
    let check = js_sys::Function::new_no_args(
        "return navigator.storage.getDirectory().then(async (root) => {
           for await (const key of root.keys()) if (key === 'window-class-store') return true;
           return false;
         });",
    );
    let promise: js_sys::Promise = check.call0(&JsValue::NULL).unwrap().unchecked_into();
    let exists = wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
    assert_eq!(exists.as_bool(), Some(false));
}
