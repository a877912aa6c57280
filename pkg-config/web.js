// Entry for dedicated workers, workerd and other web-style runtimes (the `worker` and `default`
// conditions of the window-less runtimes). In a dedicated worker the default backend is "auto":
// OPFS, or where its sync access handles do not work, the IndexedDB fallback (idb.js);
// in a window's main thread OPFS cannot be used from here and the store is refused with
// `unsupported` unless a backend is given (use the browser entry, which runs the store in a
// worker); elsewhere (workerd, service and shared workers) the default is "memory".
// workerd: the `workerd` entry (workerd.js) initialises the wasm itself; otherwise call
// initSync({ module }) or let TonyStore.open fetch the .wasm next to web/tonystore.js.
import init, { initSync, TonyStore, TextReader, version } from './web/tonystore.js';
import { install, webLock, TonyStoreError } from './core.js';
import { IndexedDbDir, persisted } from './idb.js';

let initialising;
const inDedicatedWorker = () =>
  typeof DedicatedWorkerGlobalScope !== 'undefined' && globalThis instanceof DedicatedWorkerGlobalScope;
const inWindow = () => typeof Window !== 'undefined' && globalThis instanceof Window;

const WINDOW_OPFS =
  "OPFS sync access handles do not exist in a window's main thread: import the browser entry " +
  "('tonystore' with the browser condition, or 'tonystore/window'), which runs the store in a worker, " +
  "or pass backend: 'memory' for a store that lives only in this page";

install(TonyStore, {
  TextReader,
  ready: () => (initialising ??= init()),
  // A dedicated worker: OPFS, or IndexedDB where OPFS sync access handles do not work.
  defaultBackend: () => (inDedicatedWorker() ? 'auto' : inWindow() ? 'opfs' : 'memory'),
  backends: globalThis.indexedDB ? { indexeddb: (name) => IndexedDbDir.load(name) } : {},
  refuse: (backend) => (backend === 'opfs' && inWindow() ? WINDOW_OPFS : undefined),
  lock: webLock,
});

export { init, initSync, TonyStore, TextReader, TonyStoreError, IndexedDbDir, persisted, version };
