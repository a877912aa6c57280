// Entry for browsers (the `browser` and `default` export conditions).
// * In a window's main thread OPFS sync access handles do not exist, so the store runs in a
//   dedicated worker (worker.js, or the app's own: `open(name, { worker })`) and this class
//   forwards the whole API to it: every method returns a promise.
// * Anywhere else (a dedicated worker that a bundler built with the browser condition, workerd,
//   ...) `TonyStore.open` returns the worker entry's store (web.js) directly: its methods answer
//   synchronously, and code that awaits them works unchanged.
import { closedError, codedError, coded, iterable, TonyStoreError, ASYNC_DISPOSE } from './core.js';
import { VERSION } from './version.js';
import { Feed, checkListener, watchOptions } from './live.js';

const inWindow = () => typeof Window !== 'undefined' && globalThis instanceof Window;

/** The package version (the wasm module's, without loading it). */
export function version() {
  return VERSION;
}

/** Where in `value` (named `at`) a function or symbol is — what structured clone cannot send. */
function uncloneable(value, at, seen = new Set()) {
  if (typeof value === 'function' || typeof value === 'symbol') return `${at} is a ${typeof value}`;
  if (value === null || typeof value !== 'object' || seen.has(value)) return undefined;
  seen.add(value);
  for (const [key, item] of Object.entries(value)) {
    const found = uncloneable(item, Array.isArray(value) ? `${at}[${key}]` : `${at}.${key}`, seen);
    if (found) return found;
  }
  return undefined;
}

/** Names of the arguments that may carry values, for error messages. */
const ARGUMENT_NAMES = { open: ['name', 'options'], commit: ['patches', 'options'], joinTransaction: ['tx', 'patch'] };

const WORKER_FAILED =
  "the store's worker failed to start or stopped (if a bundler moved the package's files, see " +
  "open(name, { worker }) in the package README)";

/**
 * Calls into the worker: `call(method, ...args)` settles with `{ result, head }` once the worker
 * answers, or with the error given to `fail`.
 */
function connect(worker, onHead, onSyncError) {
  let next = 1;
  const pending = new Map();
  const fail = (err) => {
    for (const call of pending.values()) call.reject(err);
    pending.clear();
  };
  worker.onmessage = ({ data: { id, result, head, error, event, commit } }) => {
    if (event === 'head') {
      onHead(head);
      return;
    }
    if (event === 'syncError' || event === 'syncRejected') {
      onSyncError(event, error, commit);
      return;
    }
    const call = pending.get(id);
    pending.delete(id);
    if (error) call?.reject(codedError(error.code, error.message));
    else call?.resolve({ result, head });
  };
  worker.onerror = (event) => {
    event.preventDefault?.();
    fail(codedError('internal', event.message ? `${WORKER_FAILED}: ${event.message}` : WORKER_FAILED));
  };
  worker.onmessageerror = () => fail(codedError('internal', 'a reply from the worker could not be read'));
  const call = (method, ...args) =>
    new Promise((resolve, reject) => {
      const id = next++;
      try {
        worker.postMessage({ id, method, args });
      } catch (err) {
        const names = ARGUMENT_NAMES[method] ?? [];
        const where = args.map((arg, i) => uncloneable(arg, names[i] ?? `argument ${i + 1}`)).find(Boolean);
        reject(codedError('invalid_value', `${where ?? 'an argument'}, which cannot be sent to the store's worker (${err.message})`));
        return;
      }
      pending.set(id, { resolve, reject });
    });
  return { call, fail };
}

/**
 * The worker that runs the store: the package's own (default), a `Worker`, a script URL (started
 * as a module worker), or a function returning a `Worker`.
 */
function startWorker(given) {
  if (given === undefined || given === null) {
    return new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  }
  const isWorker = (w) => typeof w?.postMessage === 'function' && typeof w?.terminate === 'function';
  let worker;
  try {
    if (typeof given === 'string' || given instanceof URL) worker = new Worker(given, { type: 'module' });
    else if (typeof given === 'function') worker = given();
    else worker = given;
  } catch (err) {
    throw new TonyStoreError('invalid_option', `options.worker: starting the worker failed: ${err?.message ?? err}`, { cause: err });
  }
  if (!isWorker(worker)) {
    throw codedError('invalid_option', 'options.worker must be a Worker, a script URL, or a function returning a Worker');
  }
  return worker;
}

/**
 * The store, running in a dedicated worker; every method returns a promise. Outside a window,
 * `open` returns the store of the worker entry instead (synchronous methods).
 */
export class TonyStore {
  #rpc;
  #worker;
  #onHide;
  /** Where errors of the followed primary's background pulls go, and refused queued commits. */
  #onSyncError;
  #onSyncRejected;
  /** Subscriptions and watches, fed by the worker's change feed. */
  #feed = new Feed((path, since) => this.#call('changes', path, since));
  /** The newest commit known to this handle (updated by every answer from the worker, and
   * when any tab commits). */
  head = 0;

  /** Use `TonyStore.open`. */
  constructor(worker) {
    this.#rpc = connect(worker, (head) => this.#moved(head), (event, error, commit) => {
      const handler = event === 'syncRejected' ? this.#onSyncRejected : this.#onSyncError;
      handler?.(codedError(error.code, error.message), commit);
    });
    this.#worker = worker;
  }

  /** The store's head is now `head` (a commit here or in another tab). */
  #moved(head) {
    if (typeof head !== 'number' || head <= this.head) return;
    this.head = head;
    this.#feed.notify();
  }

  /** A call into the worker: its result; after `close()`, a rejection with code `closed`. */
  async #call(method, ...args) {
    if (!this.#worker) throw closedError();
    const { result, head } = await this.#rpc.call(method, ...args);
    this.#moved(head);
    return result;
  }

  /**
   * Opens (creating) the store `name`: in a window, OPFS in a new dedicated worker (or the one
   * `options.worker` gives, which must run `tonystore/proxy-worker`); the store owns the worker
   * and terminates it on `close()`. Outside a window, the worker entry's store.
   */
  static async open(name, options) {
    if (!inWindow()) {
      const direct = await import('./web.js');
      return direct.TonyStore.open(name, options);
    }
    let worker;
    let rest = options;
    try {
      if (options !== null && typeof options === 'object') {
        ({ worker, ...rest } = options);
      }
      worker = startWorker(worker);
    } catch (err) {
      throw coded(err);
    }
    const store = new TonyStore(worker);
    try {
      await store.#call('open', name, rest);
    } catch (err) {
      worker.terminate();
      throw err;
    }
    store.#onHide = () => store.close();
    globalThis.addEventListener?.('pagehide', store.#onHide);
    return store;
  }

  /** Commits the patches as one commit; resolves to its number. */
  commit(patches, options) { return this.#call('commit', patches, options); }
  /** The value at `path` as of `commit` (default: head). */
  readAt(path, commit) { return this.#call('readAt', path, commit); }
  /** Like `readAt`, as Tony wire text. */
  readTonyAt(path, commit) { return this.#call('readTonyAt', path, commit); }
  /** The commits at which the value at `path` changed, oldest first. */
  history(path) { return this.#call('history', path); }
  /** Commits in a range, with their transaction and time. */
  log(options) { return this.#call('log', options); }
  /** The Tony patch from the value at `path` at `from` to the one at `to` (default: head). */
  diff(path, from, to) { return this.#call('diff', path, from, to); }
  /** The commits after `since` that changed the value at or below `path`. */
  changes(path, since) { return this.#call('changes', path, since); }
  /** Counters, for diagnostics and tests. */
  stats() { return this.#call('stats'); }
  /** Starts a multi-participant transaction; resolves to its id. */
  beginTransaction(participants, timeoutMs) { return this.#call('beginTransaction', participants, timeoutMs); }
  /** Adds a participant; the last one commits for all. */
  joinTransaction(tx, patch) { return this.#call('joinTransaction', tx, patch); }
  /** Makes every commit durable and persists the index. */
  flush() { return this.#call('flush'); }
  /**
   * Follows the primary at `url` (see the synchronous `sync`): the tab that holds the store
   * pulls and follows it, for every tab. Resolves to `{ pull, commit, close }`.
   */
  async sync(url, options) {
    if (typeof url !== 'string' && !(url instanceof URL)) {
      throw codedError('invalid_argument', `url must be a string or a URL, not ${url === null ? 'null' : typeof url}`);
    }
    const { live = true, onError, onRejected, queue = false } = options ?? {};
    if (typeof queue !== 'boolean') throw codedError('invalid_option', 'options.queue must be a boolean in a window');
    const target = String(url);
    this.#onSyncError = onError ?? ((err) => globalThis.reportError?.(err));
    this.#onSyncRejected = onRejected ?? ((err) => globalThis.reportError?.(err));
    await this.#call('syncStart', target, live, queue);
    return {
      pull: () => this.#call('syncPull', target),
      commit: (patches, commitOptions) => this.#call('syncCommit', target, patches, commitOptions),
      queued: () => this.#call('syncQueued'),
      close: () => this.#call('syncClose'),
    };
  }
  /** A shipment of the commits after `after`, for another store's `import`. */
  export(after, options) { return this.#call('export', after, options); }
  /** Imports a shipment from another store's `export`. */
  import(shipment) { return this.#call('import', shipment); }

  /**
   * Calls `listener({ commit, paths })` for each commit, by this tab or another, that changes
   * the value at or below `path`; resolves to a function that stops it.
   */
  async subscribe(path, listener) {
    checkListener(listener, codedError);
    const head = this.head;
    await this.#call('changes', path, head); // checks the path
    const sub = this.#feed.add(path, head, listener);
    return () => this.#feed.remove(sub);
  }

  /**
   * The changes at or below `path` after commit `options.since` (default: from now on), as
   * they happen, until `options.signal` aborts, the loop breaks, or the store closes.
   */
  watch(path, options) {
    const { since, signal } = watchOptions(options, codedError);
    return this.#feed.watch(path, Math.min(since ?? this.head, this.head), signal);
  }

  /** The value at `path` as text, chunk by chunk. */
  readStream(path, commit, options) {
    const { format = 'tony', chunkBytes = 64 * 1024 } = options ?? {};
    const call = (method, ...args) => this.#call(method, ...args);
    let id;
    return iterable(
      new ReadableStream(
        {
          async start() {
            id = await call('openReader', path, commit, format);
          },
          async pull(controller) {
            const chunk = await call('readChunk', id, chunkBytes);
            if (chunk === undefined) controller.close();
            else controller.enqueue(chunk);
          },
          cancel() {
            return call('closeReader', id);
          },
        },
        { highWaterMark: 1 },
      ),
    );
  }

  /**
   * Releases the store (its files and the single-writer lock) and stops the worker. Calls still
   * pending, and every later call, reject with code `closed`; repeating `close()` does nothing.
   */
  async close() {
    const worker = this.#worker;
    if (!worker) return;
    globalThis.removeEventListener?.('pagehide', this.#onHide);
    await this.#feed.notify().catch(() => {});
    this.#worker = undefined;
    this.#feed.endAll();
    try {
      await this.#rpc.call('close');
    } finally {
      worker.terminate();
      this.#rpc.fail(closedError());
    }
  }
}

if (ASYNC_DISPOSE) {
  /** `await using store = await TonyStore.open(...)`: closes the store. */
  TonyStore.prototype[ASYNC_DISPOSE] = function asyncDispose() {
    return this.close();
  };
}

export { TonyStoreError };
