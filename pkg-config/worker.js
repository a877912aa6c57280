// The worker behind the window entry (browser.js): runs the store on OPFS and answers calls.
// Apps whose bundler does not bundle the package's worker start their own worker whose script
// imports this module ('tonystore/proxy-worker') and pass it as `open(name, { worker })`.
import { TonyStore } from './web.js';
import { closedError, coded, codedError } from './core.js';

let opened;
/** The open store; after `close`, a `closed` error. */
function store() {
  if (!opened) throw closedError();
  return opened;
}
/** Calls the store's method `name`; `unsupported` if this build of the wasm module lacks it. */
function forward(name, ...args) {
  const target = store();
  if (typeof target[name] !== 'function') throw codedError('unsupported', `this build of tonystore has no ${name}()`);
  return target[name](...args);
}
const readers = new Map();
let nextReader = 1;

const methods = {
  async open(name, options) {
    if (opened) throw codedError('invalid_argument', 'this worker already runs an open store');
    opened = await TonyStore.open(name, options);
  },
  commit: (patches, options) => forward('commit', patches, options),
  readAt: (path, commit) => forward('readAt', path, commit ?? undefined),
  readTonyAt: (path, commit) => forward('readTonyAt', path, commit ?? undefined),
  history: (path) => forward('history', path),
  log: (options) => forward('log', options),
  diff: (path, from, to) => forward('diff', path, from, to),
  changes: (path, since) => forward('changes', path, since),
  stats: () => forward('stats'),
  beginTransaction: (participants, timeoutMs) => forward('beginTransaction', participants, timeoutMs),
  joinTransaction: (tx, patch) => forward('joinTransaction', tx, patch),
  flush: () => forward('flush'),
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

/** The head of the open store, sent with every answer so the window's `head` stays current. */
function currentHead() {
  try {
    return opened?.head;
  } catch {
    return undefined;
  }
}

/** A typed array that owns its whole buffer can be moved to the window instead of copied. */
const transferable = (value) =>
  ArrayBuffer.isView(value) && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? [value.buffer] : [];

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    if (!Object.hasOwn(methods, method)) throw codedError('invalid_argument', `unknown method ${method}`);
    const result = await methods[method](...args);
    self.postMessage({ id, result, head: currentHead() }, transferable(result));
  } catch (err) {
    const { code, message } = coded(err);
    self.postMessage({ id, error: { code, message } });
  }
};
