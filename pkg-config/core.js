// Shared glue: completes the wasm-bindgen `TonyStore` class with `open` defaults per runtime and
// `readStream`. Used by the web (worker, workerd) and Node entries.
import { installLive } from './live.js';

/** A `ReadableStream` that is also `for await`-iterable on engines that lack it natively. */
export function iterable(stream) {
  if (!(Symbol.asyncIterator in stream)) {
    stream[Symbol.asyncIterator] = async function* () {
      const reader = stream.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          yield value;
        }
      } finally {
        reader.releaseLock();
      }
    };
  }
  return stream;
}

/** An Error with a stable `code`, like the ones the wasm side throws. */
export function codedError(code, message) {
  const err = new Error(message);
  err.code = code;
  return err;
}

/** `err` if it carries a string `code`, else an `internal` error wrapping it (a wasm trap, a glue TypeError). */
export function coded(err) {
  if (typeof err?.code === 'string') return err;
  const wrapped = codedError('internal', String(err?.message ?? err));
  wrapped.cause = err;
  return wrapped;
}

/** The error every call on a closed store throws. */
export function closedError() {
  return codedError('closed', 'the store is closed');
}

/** The largest `chunkBytes` of `readStream` (the wasm side refuses more). */
const MAX_CHUNK_BYTES = 64 << 20;

/** The methods of the wasm `TonyStore` whose errors `install` guarantees a code. */
const METHODS = ['commit', 'readAt', 'readTonyAt', 'openReader', 'stats', 'history', 'changes', 'log', 'diff', 'beginTransaction', 'joinTransaction', 'flush'];

/**
 * Installs `TonyStore.open(name, options)` and `store.readStream(...)`, and makes every method
 * throw coded errors (`closed` after `close()` or `free()`).
 * @param TonyStore the wasm-bindgen class
 * @param ready async function that initialises the wasm module
 * @param defaultBackend function returning the backend used when `options.backend` is absent
 * @param backends named backends implemented in JS: name -> (storeName) => directory object
 * @param lock optional async (storeName, options) => release function (single writer)
 */
export function install(TonyStore, { ready, defaultBackend, backends = {}, lock }) {
  if (TonyStore.__tonystoreInstalled) return TonyStore;
  TonyStore.__tonystoreInstalled = true;
  const proto = TonyStore.prototype;
  const rawOpen = TonyStore.open;
  const rawClose = proto.close;
  const rawFree = proto.free;
  const releases = new WeakMap();
  const freed = new WeakSet();
  // Stores whose wasm code trapped (a bug, e.g. a panic): their state is unknown and stays
  // borrowed, so they refuse every call and cannot be freed; their files stay held until the
  // process or worker ends.
  const broken = new WeakMap();
  const release = (store) => {
    releases.get(store)?.();
    releases.delete(store);
  };
  const guard = (method) =>
    function guarded(...args) {
      if (freed.has(this)) throw closedError();
      if (broken.has(this)) {
        throw codedError('internal', `this store object failed with an internal error earlier (${broken.get(this)}) and cannot be used any more`);
      }
      try {
        return method.apply(this, args);
      } catch (err) {
        if (err instanceof WebAssembly.RuntimeError) broken.set(this, err.message);
        throw coded(err);
      }
    };

  TonyStore.open = async function open(name, options) {
    try {
      await ready();
      let backend = options?.backend ?? defaultBackend();
      if (typeof backend === 'string' && Object.hasOwn(backends, backend)) backend = backends[backend];
      // A non-object `options` goes through unchanged: the wasm side rejects it with a code.
      const opts = options !== null && typeof options === 'object' ? { ...options, backend } : options ?? { backend };
      const unlock = lock && backend === 'opfs' ? await lock(name, options ?? {}) : undefined;
      try {
        const store = await rawOpen.call(TonyStore, name, opts);
        if (unlock) releases.set(store, unlock);
        return store;
      } catch (err) {
        unlock?.();
        throw err;
      }
    } catch (err) {
      throw coded(err);
    }
  };

  for (const name of METHODS) proto[name] = guard(proto[name]);
  const head = Object.getOwnPropertyDescriptor(proto, 'head');
  Object.defineProperty(proto, 'head', { ...head, get: guard(head.get) });

  const guardedClose = guard(rawClose);
  proto.close = function close() {
    if (freed.has(this)) return;
    try {
      guardedClose.call(this);
    } finally {
      release(this);
    }
  };

  proto.free = function free() {
    if (freed.has(this)) return;
    freed.add(this);
    try {
      if (!broken.has(this)) rawFree.call(this);
    } finally {
      release(this);
    }
  };

  proto.readStream = function readStream(path, commit, options) {
    if (options !== undefined && options !== null && typeof options !== 'object') {
      throw codedError('invalid_option', `options must be an object, not ${typeof options}`);
    }
    const { format = 'tony', chunkBytes = 64 * 1024 } = options ?? {};
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_CHUNK_BYTES) {
      throw codedError('invalid_option', `options.chunkBytes must be an integer from 1 to ${MAX_CHUNK_BYTES}, not ${String(chunkBytes)}`);
    }
    const reader = this.openReader(path, commit ?? undefined, format);
    return iterable(
      new ReadableStream(
        {
          pull(controller) {
            let chunk;
            try {
              chunk = reader.next(chunkBytes);
            } catch (err) {
              reader.free();
              throw coded(err);
            }
            if (chunk === undefined) {
              reader.free();
              controller.close();
            } else {
              controller.enqueue(chunk);
            }
          },
          cancel() {
            reader.free();
          },
        },
        { highWaterMark: 1 },
      ),
    );
  };
  installLive(TonyStore, codedError);
  return TonyStore;
}

/** Single writer across tabs: a Web Lock per store, held until close. */
export async function webLock(name, { wait = false } = {}) {
  if (!globalThis.navigator?.locks) return undefined;
  return new Promise((resolve, reject) => {
    navigator.locks
      .request(`tonystore:${name}`, { ifAvailable: !wait }, (lock) => {
        if (!lock) {
          reject(codedError('locked', `store ${name} is open in another tab or worker`));
          return undefined;
        }
        return new Promise((release) => resolve(release));
      })
      .catch(reject);
  });
}
