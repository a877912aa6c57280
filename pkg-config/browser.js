// Entry for a window's main thread. OPFS sync access handles exist only in dedicated workers,
// so the store runs in one (worker.js) and this class forwards the same API to it.
import { closedError, codedError, iterable } from './core.js';

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
const ARGUMENT_NAMES = { open: ['name', 'options'], commit: ['patches', 'options'] };

/** Calls into the worker: `call(method, ...args)` settles once the worker answers or `fail` runs. */
function connect(worker) {
  let next = 1;
  const pending = new Map();
  const fail = (err) => {
    for (const call of pending.values()) call.reject(err);
    pending.clear();
  };
  worker.onmessage = ({ data: { id, result, error } }) => {
    const call = pending.get(id);
    pending.delete(id);
    if (error) call?.reject(codedError(error.code, error.message));
    else call?.resolve(result);
  };
  worker.onerror = (event) => fail(codedError('internal', event.message ?? 'worker failed'));
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

/** The store, running in a dedicated worker; every method returns a promise. */
export class TonyStore {
  #rpc;
  #worker;
  #onHide;
  /** The newest commit known to this handle (updated by open and commit). */
  head = 0;

  constructor(rpc, worker) {
    this.#rpc = rpc;
    this.#worker = worker;
  }

  /** A call into the worker; after `close()`, a rejection with code `closed`. */
  #call(method, ...args) {
    return this.#worker ? this.#rpc.call(method, ...args) : Promise.reject(closedError());
  }

  /** Opens `name` (OPFS by default) in a new dedicated worker. */
  static async open(name, options = {}) {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    const rpc = connect(worker);
    const store = new TonyStore(rpc, worker);
    try {
      const { head } = await rpc.call('open', name, options);
      store.head = head;
    } catch (err) {
      worker.terminate();
      throw err;
    }
    store.#onHide = () => store.close();
    globalThis.addEventListener?.('pagehide', store.#onHide);
    return store;
  }

  async commit(patches, options) {
    const { commit, head } = await this.#call('commit', patches, options);
    this.head = head;
    return commit;
  }
  readAt(path, commit) { return this.#call('readAt', path, commit); }
  readTonyAt(path, commit) { return this.#call('readTonyAt', path, commit); }
  history(path) { return this.#call('history', path); }
  flush() { return this.#call('flush'); }

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
    this.#worker = undefined;
    globalThis.removeEventListener?.('pagehide', this.#onHide);
    try {
      await this.#rpc.call('close');
    } finally {
      worker.terminate();
      this.#rpc.fail(closedError());
    }
  }
}
