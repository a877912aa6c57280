// The worker behind the window entry (browser.js): runs the store on OPFS and answers calls.
import { TonyStore } from './web.js';
import { closedError, coded } from './core.js';

let opened;
/** The open store; after `close`, a `closed` error. */
function store() {
  if (!opened) throw closedError();
  return opened;
}
const readers = new Map();
let nextReader = 1;

const methods = {
  async open(name, options) {
    opened = await TonyStore.open(name, options);
    return { head: opened.head };
  },
  commit(patches, options) {
    const commit = store().commit(patches, options);
    return { commit, head: store().head };
  },
  readAt: (path, commit) => store().readAt(path, commit ?? undefined),
  readTonyAt: (path, commit) => store().readTonyAt(path, commit ?? undefined),
  history: (path) => Array.from(store().history(path)),
  flush: () => store().flush(),
  openReader(path, commit, format) {
    const reader = store().openReader(path, commit ?? undefined, format);
    const id = nextReader++;
    readers.set(id, reader);
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
    if (!opened) return;
    for (const id of readers.keys()) methods.closeReader(id);
    const closing = opened;
    opened = undefined;
    try {
      closing.close();
    } finally {
      closing.free();
    }
  },
};

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    if (!Object.hasOwn(methods, method)) throw coded(new Error(`unknown method ${method}`));
    const result = await methods[method](...args);
    const transfer = result instanceof Uint8Array ? [result.buffer] : [];
    self.postMessage({ id, result }, transfer);
  } catch (err) {
    const { code, message } = coded(err);
    self.postMessage({ id, error: { code, message } });
  }
};
