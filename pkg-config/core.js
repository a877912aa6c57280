// Shared glue: completes the wasm-bindgen `TonyStore` class with `open` defaults per runtime and
// `readStream`. Used by the web (worker, workerd) and Node entries.
import { installLive } from './live.js';
import { installSync } from './sync.js';

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

/**
 * The error every failing call throws (or rejects with): an `Error` with a stable `code` (the
 * `ErrorCode` union in the typings). Errors raised inside the wasm module, by a storage backend
 * or by the runtime are converted to it, keeping their code and message; the original is `cause`.
 */
export class TonyStoreError extends Error {
  /**
   * @param {string} code a stable error code such as `locked` or `invalid_path`
   * @param {string} message what went wrong
   * @param {{ cause?: unknown }} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.code = code;
  }
}
TonyStoreError.prototype.name = 'TonyStoreError';

/** A `TonyStoreError` with `code` and `message`. */
export function codedError(code, message) {
  return new TonyStoreError(code, message);
}

/**
 * `err` as a `TonyStoreError`: itself if it is one; otherwise a new one with its `code` (when it
 * carries a string code, as the wasm side's errors do) or `internal` (a wasm trap, a glue
 * TypeError), its message, and `err` as `cause`.
 */
export function coded(err) {
  if (err instanceof TonyStoreError) return err;
  const code = typeof err?.code === 'string' ? err.code : 'internal';
  return new TonyStoreError(code, String(err?.message ?? err), { cause: err });
}

/** The error every call on a closed store throws. */
export function closedError() {
  return codedError('closed', 'the store is closed');
}

/** The largest `chunkBytes` of `readStream` (the wasm side refuses more). */
const MAX_CHUNK_BYTES = 64 << 20;

/**
 * The methods of the wasm `TonyStore` whose errors `install` turns into `TonyStoreError`s. Those
 * the wasm module lacks (an older build) are skipped.
 */
const METHODS = [
  'commit', 'readAt', 'readTonyAt', 'openReader', 'stats', 'history', 'log', 'diff', 'changes', 'export', 'import',
  'beginTransaction', 'joinTransaction', 'flush',
];

/** `Symbol.dispose` and `Symbol.asyncDispose`, where the engine has them. */
export const DISPOSE = typeof Symbol.dispose === 'symbol' ? Symbol.dispose : undefined;
export const ASYNC_DISPOSE = typeof Symbol.asyncDispose === 'symbol' ? Symbol.asyncDispose : undefined;

/**
 * Installs `TonyStore.open(name, options)`, `store.readStream(...)` and `Symbol.dispose`, and makes
 * every method of the store and its readers throw `TonyStoreError`s (`closed` after `close()` or
 * `free()`).
 * @param TonyStore the wasm-bindgen class
 * @param TextReader the wasm-bindgen reader class (`openReader`'s result)
 * @param ready async function that initialises the wasm module
 * @param defaultBackend function returning the backend used when `options.backend` is absent
 * @param backends named backends implemented in JS: name -> (storeName) => directory object
 * @param refuse optional (backend) => message: a backend this runtime cannot run (`unsupported`)
 * @param lock optional async (storeName, options) => release function (single writer)
 */
export function install(TonyStore, { TextReader, ready, defaultBackend, backends = {}, refuse, lock }) {
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

  /** Opens `name` on `backend` (a name, a directory object or a factory). */
  const openOn = async (name, options, backend) => {
    const refused = refuse?.(backend);
    if (refused) throw codedError('unsupported', refused);
    const named = typeof backend === 'string' && Object.hasOwn(backends, backend);
    // Named JS backends may load asynchronously (IndexedDB); the wasm side gets the directory.
    const directory = named ? await backends[backend](name) : backend;
    // A non-object `options` goes through unchanged: the wasm side rejects it with a code.
    // `worker` only means something to the window entry: here the store runs in this thread.
    let opts = options ?? { backend: directory };
    if (options !== null && typeof options === 'object') {
      const { worker, ...rest } = options;
      opts = { ...rest, backend: directory };
    }
    const unlock = lock && (backend === 'opfs' || backend === 'indexeddb') ? await lock(name, options ?? {}) : undefined;
    try {
      const store = await rawOpen.call(TonyStore, name, opts);
      if (unlock) releases.set(store, unlock);
      return store;
    } catch (err) {
      unlock?.();
      throw err;
    }
  };

  TonyStore.open = async function open(name, options) {
    try {
      await ready();
      const backend = options?.backend ?? defaultBackend();
      if (backend !== 'auto') return await openOn(name, options, backend);
      // "auto": OPFS where its sync access handles work, else the IndexedDB fallback.
      try {
        return await openOn(name, options, 'opfs');
      } catch (err) {
        if (coded(err).code !== 'unsupported' || !Object.hasOwn(backends, 'indexeddb')) throw err;
        return await openOn(name, options, 'indexeddb');
      }
    } catch (err) {
      throw coded(err);
    }
  };

  for (const name of METHODS) {
    if (typeof proto[name] === 'function') proto[name] = guard(proto[name]);
  }
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

  /** `using` / `await using`: closes the store (if still open) and frees it. */
  function dispose() {
    try {
      this.close();
    } finally {
      this.free();
    }
  }
  if (DISPOSE) proto[DISPOSE] = dispose;
  // For code shared with the window entry, whose stores are disposed asynchronously.
  if (ASYNC_DISPOSE) proto[ASYNC_DISPOSE] = async function asyncDispose() { dispose.call(this); };
  if (TextReader) {
    const rawNext = TextReader.prototype.next;
    TextReader.prototype.next = function next(minBytes) {
      try {
        return rawNext.call(this, minBytes);
      } catch (err) {
        throw coded(err);
      }
    };
    if (DISPOSE) TextReader.prototype[DISPOSE] = function dispose() { this.free(); };
  }

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
  installSync(TonyStore, { codedError, coded });
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
