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
