//! [`JsBlockFile`]: a [`BlockFile`] on any JS object with `read/write/size/truncate/flush`
//! methods (and optionally `close`), so Node's `fs` or an edge runtime's storage can back a store.
//!
//! The protocol (all synchronous, offsets and lengths as numbers):
//! `read(offset, length) -> Uint8Array`, `write(offset, bytes) -> number written (or undefined for
//! all)`, `size() -> number`, `truncate(length)`, `flush()`, `close()`. Thrown errors whose `code`
//! is `locked`, `ENOSPC` or `EDQUOT` map to the matching [`StorageError`]. `bytes` passed to
//! `write` is a view into wasm memory: use it before returning.

use std::cell::Cell;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use super::errors::storage_error;
use crate::storage::{
    check_read_range, short_read, validate_name, write_count_error, BlockFile, Result,
    StorageError, StoreDir, JS_EXACT_OFFSETS,
};

#[wasm_bindgen]
extern "C" {
    /// A JS file object (see the module docs for the protocol).
    #[wasm_bindgen(typescript_type = "TonyBlockFile")]
    pub type JsFileObject;
    #[wasm_bindgen(method, catch)]
    fn read(this: &JsFileObject, offset: f64, length: u32)
        -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn write(
        this: &JsFileObject,
        offset: f64,
        bytes: &[u8],
    ) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn size(this: &JsFileObject) -> std::result::Result<f64, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn truncate(this: &JsFileObject, length: f64) -> std::result::Result<(), JsValue>;
    #[wasm_bindgen(method, catch)]
    fn flush(this: &JsFileObject) -> std::result::Result<(), JsValue>;

    /// A JS directory object: `open(name)` returns a [`JsFileObject`], creating the file.
    #[wasm_bindgen(typescript_type = "TonyStoreDirectory")]
    pub type JsDirObject;
    #[wasm_bindgen(method, catch)]
    fn open(this: &JsDirObject, name: &str) -> std::result::Result<JsFileObject, JsValue>;
}

/// A [`BlockFile`] backed by a JS object.
pub struct JsBlockFile {
    name: String,
    object: JsFileObject,
    closed: Cell<bool>,
}

impl JsBlockFile {
    /// Wraps `object`; `name` is used in error messages.
    pub fn new(name: &str, object: JsFileObject) -> Self {
        Self {
            name: name.to_owned(),
            object,
            closed: Cell::new(false),
        }
    }

    fn live(&self) -> Result<&JsFileObject> {
        if self.closed.get() {
            return Err(StorageError::Closed {
                file: self.name.clone(),
            });
        }
        Ok(&self.object)
    }

    fn js_error(&self, offset: u64, len: usize) -> impl Fn(JsValue) -> StorageError + '_ {
        move |err| storage_error(&self.name, offset, len, &err)
    }
}

impl BlockFile for JsBlockFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> Result<u64> {
        Ok(self.live()?.size().map_err(self.js_error(0, 0))? as u64)
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let file = self.live()?;
        if buf.is_empty() || offset.saturating_add(buf.len() as u64) > JS_EXACT_OFFSETS {
            check_read_range(&self.name, offset, buf.len(), self.len()?)?;
            if buf.is_empty() {
                return Ok(());
            }
        }
        let bytes = file
            .read(offset as f64, buf.len() as u32)
            .map_err(self.js_error(offset, buf.len()))?;
        let bytes = bytes
            .dyn_into::<Uint8Array>()
            .map_err(|other| StorageError::Io {
                file: self.name.clone(),
                source: std::io::Error::other(format!(
                    "read returned {:?}, not a Uint8Array",
                    other.js_typeof().as_string().unwrap_or_default()
                )),
            })?;
        let got = bytes.length() as usize;
        if got != buf.len() {
            return Err(short_read(&self.name, offset, buf.len(), got, || {
                self.len()
            }));
        }
        bytes.copy_to(buf);
        Ok(())
    }

    fn write_all_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        let written = self
            .live()?
            .write(offset as f64, data)
            .map_err(self.js_error(offset, data.len()))?;
        let written = written.as_f64().map_or(data.len() as u64, |n| n as u64);
        match write_count_error(&self.name, offset, data.len(), written) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.live()?
            .truncate(len as f64)
            .map_err(self.js_error(len, 0))
    }

    fn sync(&self) -> Result<()> {
        self.live()?.flush().map_err(self.js_error(0, 0))
    }

    fn close(&self) -> Result<()> {
        if self.closed.replace(true) {
            return Ok(());
        }
        let close = js_sys::Reflect::get(&self.object, &JsValue::from_str("close"))
            .map_err(self.js_error(0, 0))?;
        if let Some(close) = close.dyn_ref::<js_sys::Function>() {
            close.call0(&self.object).map_err(self.js_error(0, 0))?;
        }
        Ok(())
    }
}

impl Drop for JsBlockFile {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// A [`StoreDir`] backed by a JS directory object (e.g. the package's `NodeFsDir`).
pub struct JsDir {
    object: JsDirObject,
}

impl JsDir {
    /// Wraps a JS directory object.
    pub fn new(object: JsDirObject) -> Self {
        Self { object }
    }
}

impl StoreDir for JsDir {
    fn open(&self, name: &str) -> Result<Box<dyn BlockFile>> {
        validate_name(name)?;
        let object = self
            .object
            .open(name)
            .map_err(|e| storage_error(name, 0, 0, &e))?;
        Ok(Box::new(JsBlockFile::new(name, object)))
    }

    fn location(&self) -> String {
        "js".to_owned()
    }
}
