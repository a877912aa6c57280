//! Errors across the JS boundary: coded JS errors out, [`StorageError`]s from JS exceptions in.

use wasm_bindgen::{JsCast, JsValue};

use crate::storage::StorageError;

/// An `Error` with a stable `code` property (see `ErrorCode` in the package typings).
pub fn coded_error(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    let _ = js_sys::Reflect::set(&err, &"code".into(), &code.into());
    err.into()
}

/// The `name` (DOMException) or `code` (Node) of a thrown JS value, and its message.
pub(crate) fn describe(err: &JsValue) -> (String, String) {
    let field = |key: &str| {
        js_sys::Reflect::get(err, &JsValue::from_str(key))
            .ok()
            .and_then(|v| v.as_string())
    };
    let kind = field("code").or_else(|| field("name")).unwrap_or_default();
    let message = err
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| err.as_string())
        .unwrap_or_else(|| format!("{err:?}"));
    (kind, message)
}

/// Maps a JS exception thrown by an operation on `file` to a typed error.
pub(crate) fn storage_error(file: &str, offset: u64, len: usize, err: &JsValue) -> StorageError {
    let (kind, message) = describe(err);
    match kind.as_str() {
        "QuotaExceededError" | "ENOSPC" | "EDQUOT" | "EFBIG" => StorageError::OutOfSpace {
            file: file.to_owned(),
            offset,
            len,
        },
        "NoModificationAllowedError" | "locked" => StorageError::Locked {
            file: file.to_owned(),
        },
        "InvalidStateError" => StorageError::Closed {
            file: file.to_owned(),
        },
        "NotSupportedError" => StorageError::Unsupported(format!("{file}: {message}")),
        "EROFS" => StorageError::ReadOnly {
            file: file.to_owned(),
        },
        _ => StorageError::Io {
            file: file.to_owned(),
            source: std::io::Error::other(if kind.is_empty() {
                message
            } else {
                format!("{kind}: {message}")
            }),
        },
    }
}
