// Entry for a window's main thread. OPFS sync access handles exist only in dedicated workers,
// so the store runs in one (worker.js) and this class forwards the same API to it.
import { codedError, iterable } from './core.js';

function connect(worker) {
  let next = 1;
  const pending = new Map();
  worker.onmessage = ({ data: { id, result, error } }) => {
    const call = pending.get(id);
    pending.delete(id);
    if (error) call.reject(codedError(error.code, error.message));
    else call.resolve(result);
  };
  worker.onerror = (event) => {
    for (const call of pending.values()) call.reject(codedError('internal', event.message ?? 'worker failed'));
    pending.clear();
  };
  return (method, ...args) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, method, args });
    });
}

/** The store, running in a dedicated worker; every method returns a promise. */
export class TonyStore {
  #call;
  #worker;
  #onHide;
  /** The newest commit known to this handle (updated by open and commit). */
  head = 0;

  constructor(call, worker) {
    this.#call = call;
    this.#worker = worker;
  }

  /** Opens `name` (OPFS by default) in a new dedicated worker. */
  static async open(name, options = {}) {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    const call = connect(worker);
    const store = new TonyStore(call, worker);
    try {
      const { head } = await call('open', name, { ...options });
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

  readStream(path, commit, { format = 'tony', chunkBytes = 64 * 1024 } = {}) {
    const call = this.#call;
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

  /** Releases the store (its files and the single-writer lock) and stops the worker. */
  async close() {
    if (!this.#worker) return;
    globalThis.removeEventListener?.('pagehide', this.#onHide);
    try {
      await this.#call('close');
    } finally {
      this.#worker.terminate();
      this.#worker = undefined;
    }
  }
}
