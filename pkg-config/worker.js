// The worker behind the window entry (browser.js): runs the store on OPFS and answers calls.
import { TonyStore } from './web.js';

let store;
const readers = new Map();
let nextReader = 1;

const methods = {
  async open(name, options) {
    store = await TonyStore.open(name, options);
    return { head: store.head };
  },
  commit(patches, options) {
    const commit = store.commit(patches, options);
    return { commit, head: store.head };
  },
  readAt: (path, commit) => store.readAt(path, commit ?? undefined),
  readTonyAt: (path, commit) => store.readTonyAt(path, commit ?? undefined),
  history: (path) => Array.from(store.history(path)),
  flush: () => store.flush(),
  openReader(path, commit, format) {
    const id = nextReader++;
    readers.set(id, store.openReader(path, commit ?? undefined, format));
    return id;
  },
  readChunk(id, chunkBytes) {
    const chunk = readers.get(id)?.next(chunkBytes);
    if (chunk === undefined) methods.closeReader(id);
    return chunk;
  },
  closeReader(id) {
    readers.get(id)?.free();
    readers.delete(id);
  },
  close() {
    if (!store) return;
    for (const id of readers.keys()) methods.closeReader(id);
    store.close();
    store.free();
    store = undefined;
  },
};

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    const result = await methods[method](...args);
    const transfer = result instanceof Uint8Array ? [result.buffer] : [];
    self.postMessage({ id, result }, transfer);
  } catch (err) {
    self.postMessage({ id, error: { message: err?.message ?? String(err), code: err?.code ?? 'internal' } });
  }
};
