// Shared glue: completes the wasm-bindgen `TonyStore` class with `open` defaults per runtime and
// `readStream`. Used by the web (worker, workerd) and Node entries.

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

/**
 * Installs `TonyStore.open(name, options)` and `store.readStream(...)`.
 * @param TonyStore the wasm-bindgen class
 * @param ready async function that initialises the wasm module
 * @param defaultBackend function returning the backend used when `options.backend` is absent
 * @param backends named backends implemented in JS: name -> (storeName) => directory object
 * @param lock optional async (storeName, options) => release function (single writer)
 */
export function install(TonyStore, { ready, defaultBackend, backends = {}, lock }) {
  if (TonyStore.__tonystoreInstalled) return TonyStore;
  TonyStore.__tonystoreInstalled = true;
  const rawOpen = TonyStore.open;
  const rawClose = TonyStore.prototype.close;
  const releases = new WeakMap();

  TonyStore.open = async function open(name, options = {}) {
    await ready();
    let backend = options.backend ?? defaultBackend();
    if (typeof backend === 'string' && backends[backend]) backend = backends[backend];
    const release = lock && backend === 'opfs' ? await lock(name, options) : undefined;
    try {
      const store = await rawOpen.call(TonyStore, name, { ...options, backend });
      if (release) releases.set(store, release);
      return store;
    } catch (err) {
      release?.();
      throw err;
    }
  };

  TonyStore.prototype.close = function close() {
    try {
      rawClose.call(this);
    } finally {
      releases.get(this)?.();
      releases.delete(this);
    }
  };

  TonyStore.prototype.readStream = function readStream(path, commit, { format = 'tony', chunkBytes = 64 * 1024 } = {}) {
    const reader = this.openReader(path, commit ?? undefined, format);
    return iterable(
      new ReadableStream(
        {
          pull(controller) {
            const chunk = reader.next(chunkBytes);
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
