//! Everything JS-facing (wasm32 only): the OPFS and JS-object storage backends.

mod api;
mod args;
mod convert;
mod errors;
mod js_file;
mod opfs;

pub use api::{TextReader, TonyStore};
pub use js_file::{JsBlockFile, JsDir, JsDirObject, JsFileObject};
pub use opfs::{OpfsBlockFile, OpfsDir};

use wasm_bindgen::prelude::*;

/// The heap: Talc instead of the default dlmalloc, for a smaller module (7 KB; as fast in the
/// browser benchmark, `BENCHMARKS.md`). The module is single-threaded (no `atomics`), which
/// this allocator requires.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The crate version, so JS can check which build it loaded.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
