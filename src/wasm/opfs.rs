//! [`OpfsBlockFile`]: the Origin Private File System through `FileSystemSyncAccessHandle`.
//!
//! Sync access handles exist only in dedicated workers; each is exclusive, which doubles as the
//! single-writer lock. Opening is asynchronous, so an [`OpfsDir`] opens the handles of every file
//! the store needs up front and then hands them out synchronously through [`StoreDir`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DedicatedWorkerGlobalScope, FileSystemDirectoryHandle, FileSystemFileHandle,
    FileSystemGetDirectoryOptions, FileSystemGetFileOptions, FileSystemReadWriteOptions,
    FileSystemSyncAccessHandle,
};

use super::errors::storage_error;
use crate::storage::{
    check_read_range, short_read, validate_name, write_count_error, BlockFile, Result,
    StorageError, StoreDir, JS_EXACT_OFFSETS,
};

/// A [`BlockFile`] on an OPFS file, through its exclusive sync access handle.
pub struct OpfsBlockFile {
    name: String,
    handle: FileSystemSyncAccessHandle,
    closed: Cell<bool>,
}

fn at(offset: u64) -> FileSystemReadWriteOptions {
    let options = FileSystemReadWriteOptions::new();
    options.set_at(offset as f64);
    options
}

impl OpfsBlockFile {
    fn live(&self) -> Result<&FileSystemSyncAccessHandle> {
        if self.closed.get() {
            return Err(StorageError::Closed {
                file: self.name.clone(),
            });
        }
        Ok(&self.handle)
    }

    fn js_error(&self, offset: u64, len: usize) -> impl Fn(JsValue) -> StorageError + '_ {
        move |err| storage_error(&self.name, offset, len, &err)
    }
}

impl BlockFile for OpfsBlockFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> Result<u64> {
        Ok(self.live()?.get_size().map_err(self.js_error(0, 0))? as u64)
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let file = self.live()?;
        // An empty read, or one beyond what a JS number holds exactly, is checked first.
        if buf.is_empty() || offset.saturating_add(buf.len() as u64) > JS_EXACT_OFFSETS {
            check_read_range(&self.name, offset, buf.len(), self.len()?)?;
        }
        let read = file
            .read_with_u8_array_and_options(buf, &at(offset))
            .map_err(self.js_error(offset, buf.len()))? as usize;
        if read != buf.len() {
            return Err(short_read(&self.name, offset, buf.len(), read, || {
                self.len()
            }));
        }
        Ok(())
    }

    fn write_all_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        let written = self
            .live()?
            .write_with_u8_array_and_options(data, &at(offset))
            .map_err(self.js_error(offset, data.len()))?;
        match write_count_error(&self.name, offset, data.len(), written as u64) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.live()?
            .truncate_with_f64(len as f64)
            .map_err(self.js_error(len, 0))
    }

    fn sync(&self) -> Result<()> {
        self.live()?.flush().map_err(self.js_error(0, 0))
    }

    fn close(&self) -> Result<()> {
        if !self.closed.replace(true) {
            self.handle.close();
        }
        Ok(())
    }
}

impl Drop for OpfsBlockFile {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// One store's sub-directory of the origin's OPFS root, with its files' handles opened.
pub struct OpfsDir {
    store: String,
    prepared: RefCell<HashMap<String, FileSystemSyncAccessHandle>>,
}

async fn resolve<T: JsCast>(promise: js_sys::Promise) -> std::result::Result<T, JsValue> {
    JsFuture::from(promise).await?.dyn_into::<T>()
}

impl OpfsDir {
    /// Opens (creating) the OPFS sub-directory `store` and a sync access handle for each of
    /// `files`. Fails with [`StorageError::Locked`] if another worker or tab holds any of them
    /// (and then holds none), and with [`StorageError::Unsupported`] where OPFS or its sync
    /// access handles are missing (outside a dedicated worker, WebKit's Linux ports, some
    /// private modes). A failed open leaves behind nothing it created.
    pub async fn open(store: &str, files: &[&str]) -> Result<Self> {
        validate_name(store)?;
        for name in files {
            validate_name(name)?;
        }
        let scope = supported_scope()?;
        let located = |name: &str| format!("opfs:{store}/{name}");
        let root: FileSystemDirectoryHandle = resolve(scope.navigator().storage().get_directory())
            .await
            .map_err(|e| root_error(&located(""), &e))?;
        let (dir, dir_created): (FileSystemDirectoryHandle, bool) = entry(store, |name, create| {
            let options = FileSystemGetDirectoryOptions::new();
            options.set_create(create);
            root.get_directory_handle_with_options(name, &options)
        })
        .await
        .map_err(|e| storage_error(&located(""), 0, 0, &e))?;
        let opened = Self {
            store: store.to_owned(),
            prepared: RefCell::new(HashMap::new()),
        };
        let mut created = Vec::new();
        let mut failure = None;
        for name in files {
            let path = located(name);
            let file = entry(name, |name, create| {
                let options = FileSystemGetFileOptions::new();
                options.set_create(create);
                dir.get_file_handle_with_options(name, &options)
            })
            .await;
            let (file, file_created): (FileSystemFileHandle, bool) = match file {
                Ok(found) => found,
                Err(e) => {
                    failure = Some(storage_error(&path, 0, 0, &e));
                    break;
                }
            };
            if file_created {
                created.push(*name);
            }
            match resolve::<FileSystemSyncAccessHandle>(file.create_sync_access_handle()).await {
                Ok(handle) => {
                    opened
                        .prepared
                        .borrow_mut()
                        .insert((*name).to_owned(), handle);
                }
                Err(e) => {
                    failure = Some(handle_error(&path, &e));
                    break;
                }
            }
        }
        let Some(failure) = failure else {
            return Ok(opened);
        };
        // Close the handles taken so far, then remove what this call created.
        drop(opened);
        for name in created {
            let _ = JsFuture::from(dir.remove_entry(name)).await;
        }
        if dir_created {
            let _ = JsFuture::from(root.remove_entry(store)).await;
        }
        Err(failure)
    }
}

/// The dedicated worker scope, if OPFS sync access handles can exist here: checked before
/// anything is created, so an unsupported runtime is told so and keeps no files.
fn supported_scope() -> Result<DedicatedWorkerGlobalScope> {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().dyn_into().map_err(|_| {
        StorageError::Unsupported(
            "OPFS storage needs a dedicated worker: FileSystemSyncAccessHandle does not exist on the \
             main thread; run the store in a Worker (the npm package's browser entry does this for you)"
                .to_owned(),
        )
    })?;
    let has = |object: &JsValue, name: &str| {
        js_sys::Reflect::get(object, &name.into()).is_ok_and(|v| v.is_function())
    };
    let storage = js_sys::Reflect::get(&scope.navigator(), &"storage".into()).unwrap_or_default();
    if storage.is_undefined() || storage.is_null() || !has(&storage, "getDirectory") {
        return Err(StorageError::Unsupported(
            "this runtime has no origin private file system (navigator.storage.getDirectory)"
                .to_owned(),
        ));
    }
    let file_handle = js_sys::Reflect::get(&js_sys::global(), &"FileSystemFileHandle".into())
        .and_then(|class| js_sys::Reflect::get(&class, &"prototype".into()))
        .unwrap_or_default();
    if !has(&file_handle, "createSyncAccessHandle") {
        return Err(StorageError::Unsupported(
            "this runtime's OPFS has no sync access handles (FileSystemFileHandle.createSyncAccessHandle)"
                .to_owned(),
        ));
    }
    Ok(scope)
}

/// The handle `name` got through `get(name, create)`, and whether this call created it.
async fn entry<T: JsCast>(
    name: &str,
    get: impl Fn(&str, bool) -> js_sys::Promise,
) -> std::result::Result<(T, bool), JsValue> {
    match resolve::<T>(get(name, false)).await {
        Ok(found) => Ok((found, false)),
        Err(e) if super::errors::describe(&e).0 == "NotFoundError" => {
            Ok((resolve::<T>(get(name, true)).await?, true))
        }
        Err(e) => Err(e),
    }
}

/// A failed `navigator.storage.getDirectory()`: refused as such in private and ephemeral
/// sessions (WebKit says `UnknownError`, others `SecurityError`), which have no OPFS to offer —
/// `Unsupported`, so a default open falls back to another backend; anything else is an I/O error.
fn root_error(file: &str, err: &JsValue) -> StorageError {
    match super::errors::describe(err).0.as_str() {
        name @ ("UnknownError" | "SecurityError" | "NotSupportedError") => StorageError::Unsupported(format!(
            "{file}: this browser session has no origin private file system (getDirectory: {name}; a private window?)"
        )),
        _ => storage_error(file, 0, 0, err),
    }
}

/// A failed `createSyncAccessHandle`: a handle held by another worker or tab is `Locked`
/// (Chromium says `NoModificationAllowedError`, others `InvalidStateError`), a backend without
/// sync handles `Unsupported`.
fn handle_error(file: &str, err: &JsValue) -> StorageError {
    match super::errors::describe(err).0.as_str() {
        "InvalidStateError" | "NoModificationAllowedError" => StorageError::Locked {
            file: file.to_owned(),
        },
        "NotSupportedError" => StorageError::Unsupported(format!(
            "{file}: this browser's OPFS cannot open sync access handles here"
        )),
        _ => storage_error(file, 0, 0, err),
    }
}

impl Drop for OpfsDir {
    fn drop(&mut self) {
        for (_, handle) in self.prepared.borrow_mut().drain() {
            handle.close();
        }
    }
}

impl StoreDir for OpfsDir {
    fn open(&self, name: &str) -> Result<Box<dyn BlockFile>> {
        validate_name(name)?;
        let handle = self.prepared.borrow_mut().remove(name).ok_or_else(|| {
            StorageError::Unsupported(format!(
                "opfs:{}/{name} was not opened with the directory (or was already handed out)",
                self.store
            ))
        })?;
        Ok(Box::new(OpfsBlockFile {
            name: format!("opfs:{}/{name}", self.store),
            handle,
            closed: Cell::new(false),
        }))
    }

    fn location(&self) -> String {
        format!("opfs:{}", self.store)
    }
}
