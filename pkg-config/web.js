// Entry for dedicated workers, workerd and other web-style runtimes.
// In a dedicated worker the default backend is "opfs"; elsewhere it is "memory".
// workerd: import the .wasm as a module and call initSync({ module }) before TonyStore.open.
import init, { initSync, TonyStore, TextReader, version } from './web/tonystore.js';
import { install, webLock } from './core.js';

let initialising;
const inDedicatedWorker = () =>
  typeof DedicatedWorkerGlobalScope !== 'undefined' && globalThis instanceof DedicatedWorkerGlobalScope;

install(TonyStore, {
  ready: () => (initialising ??= init()),
  defaultBackend: () => (inDedicatedWorker() ? 'opfs' : 'memory'),
  lock: webLock,
});

export { init, initSync, TonyStore, TextReader, version };
