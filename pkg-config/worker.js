// The worker behind the window entry (browser.js): runs the store on OPFS and answers calls.
// Apps whose bundler does not bundle the package's worker start their own worker whose script
// imports this module ('tonystore/proxy-worker') and pass it as `open(name, { worker })`.
//
// On OPFS the store is shared by every tab of the origin (share.js): this worker either owns
// it or sends its calls to the tab that does. It tells its window when the store's head moves
// (`{ event: 'head', head }`), whichever tab committed.
import { TonyStore, persisted } from './web.js';
import { closedError, coded, codedError } from './core.js';
import { SharedStore } from './share.js';

let opened;
/** The tabs' shared store, when this worker joined one (its calls go through it). */
let shared;
/** `open(name, { readOnly: true })`: this handle refuses changes. */
let readOnly = false;

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
/** The primary the held store follows (`{ url, sync }`), when a window asked for one. */
let replica;
/** What this tab's window asked to follow (`{ url, live, queued }`): restarted on a new owner. */
let following;
/** The name and options the store was opened with (for its queue store). */
let openedAs;
/** The last `syncStart` (its queue store opens asynchronously). */
let starting;

/** The calls on the store this worker holds (its own, or another tab's when it owns it). */
const local = {
  commit: (patches, options) => forward('commit', patches, options),
  readAt: (path, commit) => forward('readAt', path, commit ?? undefined),
  readTonyAt: (path, commit) => forward('readTonyAt', path, commit ?? undefined),
  history: (path) => forward('history', path),
  log: (options) => forward('log', options),
  diff: (path, from, to) => forward('diff', path, from, to),
  changes: (path, since) => forward('changes', path, since),
  export: (after, options) => forward('export', after, options),
  import: (shipment) => forward('import', shipment),
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
    if (chunk === undefined) local.closeReader(id);
    return chunk;
  },
  closeReader(id) {
    readers.get(id)?.free();
    readers.delete(id);
  },
  /**
   * Starts following the primary at `url` (once per store; a new URL replaces the old), with a
   * queue for commits made while it cannot be reached (kept in the store `<name>.queue`) when
   * `queued`. The other sync calls wait for a start in progress.
   */
  syncStart(url, live, queued) {
    if (replica?.url === url) return starting;
    local.syncClose();
    const held = store();
    replica = { url };
    starting = (async () => {
      const queue = queued ? await TonyStore.open(`${openedAs.name}.queue`, openedAs.options) : undefined;
      const report = (event) => ({ code, message }, commit) => self.postMessage({ event, error: { code, message }, commit });
      Object.assign(replica, {
        queue,
        sync: held.sync(url, { live, queue, onError: report('syncError'), onRejected: report('syncRejected') }),
        // Pulls move the store outside any call: tell this window, and the other tabs.
        unsubscribe: held.subscribe('', () => {
          if (shared) shared.moved();
          else self.postMessage({ event: 'head', head: held.head });
        }),
      });
    })();
    return starting;
  },
  async syncPull(url) {
    await local.syncStart(url, true, following?.queued);
    return replica.sync.pull();
  },
  async syncCommit(url, patches, options) {
    await local.syncStart(url, true, following?.queued);
    return replica.sync.commit(patches, options);
  },
  async syncQueued() {
    await starting;
    return replica?.sync?.queued ?? 0;
  },
  syncClose() {
    replica?.unsubscribe?.();
    replica?.sync?.close();
    replica?.queue?.close();
    replica = undefined;
  },
  close() {
    if (!opened) return;
    local.syncClose();
    for (const id of readers.keys()) local.closeReader(id);
    const closing = opened;
    opened = undefined;
    try {
      closing.close();
    } finally {
      closing.free();
    }
  },
};

/** Calls a read-only handle refuses. */
const CHANGES = new Set(['commit', 'beginTransaction', 'joinTransaction', 'import', 'syncCommit']);

/** Whether `open`'s options ask for the origin's storage, which the tabs share (unless `share: false`). */
function sharing(options) {
  const backend = options?.backend;
  return [undefined, 'auto', 'opfs', 'indexeddb'].includes(backend) && options?.share !== false;
}

/**
 * A call's result once its writes are durable: on the IndexedDB fallback a sync only starts
 * the write-back, so every answer waits for it (an acknowledged commit is on disk).
 */
async function settle(result) {
  const value = await result;
  await persisted();
  return value;
}

const methods = {
  async open(name, options) {
    if (opened || shared) throw codedError('invalid_argument', 'this worker already runs an open store');
    let storeOptions = options;
    if (options !== null && typeof options === 'object') {
      const { share, readOnly: ro, ...rest } = options;
      if (share !== undefined && typeof share !== 'boolean') throw codedError('invalid_option', 'options.share must be a boolean');
      if (ro !== undefined && typeof ro !== 'boolean') throw codedError('invalid_option', 'options.readOnly must be a boolean');
      readOnly = ro === true;
      storeOptions = rest;
    }
    openedAs = { name, options: storeOptions };
    if (!sharing(options)) {
      opened = await TonyStore.open(name, storeOptions);
      return;
    }
    const joining = new SharedStore(name, {
      open: async () => {
        opened = await TonyStore.open(name, storeOptions);
        return opened;
      },
      dispatch: (method, args) => settle(local[method](...args)),
      onHead: (head) => self.postMessage({ event: 'head', head }),
      // The tab that holds the store now follows the primary this tab asked for.
      onOwner: () => {
        if (following) shared?.call('syncStart', [following.url, following.live, following.queued]).catch(() => {});
      },
      codedError,
    });
    await joining.start();
    shared = joining;
  },
  async close() {
    const leaving = shared;
    shared = undefined;
    if (leaving) await leaving.close(() => local.close());
    else local.close();
    await persisted();
  },
};

/** Runs a call from the window: on the shared store, or on the one this worker holds. */
function call(method, args) {
  if (method === 'syncStart') following = { url: args[0], live: args[1], queued: args[2] };
  if (method === 'syncClose') following = undefined;
  if (Object.hasOwn(methods, method)) return methods[method](...args);
  if (!Object.hasOwn(local, method)) throw codedError('invalid_argument', `unknown method ${method}`);
  if (readOnly && CHANGES.has(method)) throw codedError('read_only', `${method}() on a store opened read-only`);
  if (shared) return shared.call(method, args);
  return settle(local[method](...args));
}

/** The head after a call, sent with every answer so the window's `head` stays current. */
function currentHead() {
  try {
    return opened ? opened.head : shared?.head;
  } catch {
    return undefined;
  }
}

/** A typed array that owns its whole buffer can be moved to the window instead of copied. */
const transferable = (value) =>
  ArrayBuffer.isView(value) && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? [value.buffer] : [];

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    const result = await call(method, args);
    self.postMessage({ id, result, head: currentHead() }, transferable(result));
  } catch (err) {
    const { code, message } = coded(err);
    self.postMessage({ id, error: { code, message } });
  }
};
