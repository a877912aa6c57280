// Live changes for the synchronous store class: `subscribe(path, listener)` and
// `watch(path, { since, signal })`. After each commit made through a store object (a commit, or
// a transaction's last participant), every subscription learns, in a microtask, of each commit
// since the last one it saw that changed the value at or below its path — `{ commit, paths }`
// from the store's exact change feed (`changes`), so several commits in one tick are each
// reported and none is reported twice.

/** The subscriptions of each store object: Set of { path, listener, seen }. */
const subscriptions = new WeakMap();
/** Stores with a delivery queued. */
const queued = new WeakSet();

/**
 * A listener's exception must not break the commit or other listeners: it is reported like an
 * event listener's (`reportError` where the runtime has it, else thrown from a microtask).
 */
function report(err) {
  if (typeof globalThis.reportError === 'function') {
    globalThis.reportError(err);
    return;
  }
  queueMicrotask(() => {
    throw err;
  });
}

/** Delivers what each subscription of `store` has not seen yet. */
function deliver(store) {
  queued.delete(store);
  const subs = subscriptions.get(store);
  if (!subs) return;
  for (const sub of [...subs]) {
    if (!subs.has(sub)) continue; // unsubscribed by an earlier listener
    let changes;
    try {
      changes = store.changes(sub.path, sub.seen);
    } catch (err) {
      // The store closed (or failed): the subscription ends with the error.
      subs.delete(sub);
      sub.end?.(err);
      continue;
    }
    for (const change of changes) {
      sub.seen = change.commit;
      try {
        sub.listener(change);
      } catch (err) {
        report(err);
      }
    }
  }
}

/** Queues a delivery for `store` after a commit. */
function changed(store) {
  if (!subscriptions.get(store)?.size || queued.has(store)) return;
  queued.add(store);
  queueMicrotask(() => deliver(store));
}

/**
 * Adds `subscribe` and `watch` to the wasm-bindgen `TonyStore` class and makes `commit` and
 * `joinTransaction` announce their commits; `close` and `free` end every subscription.
 * @param TonyStore the class
 * @param codedError (code, message) => Error, for argument errors
 */
export function installLive(TonyStore, codedError) {
  const proto = TonyStore.prototype;
  const { commit, joinTransaction, close, free } = proto;

  proto.commit = function (...args) {
    const result = commit.apply(this, args);
    changed(this);
    return result;
  };
  proto.joinTransaction = function (...args) {
    const status = joinTransaction.apply(this, args);
    if (status?.state === 'committed') changed(this);
    return status;
  };
  // Closing delivers what is queued first, then ends every subscription (a watch finishes).
  const ending = (method) =>
    function (...args) {
      if (queued.has(this)) deliver(this);
      try {
        return method.apply(this, args);
      } finally {
        const subs = subscriptions.get(this);
        if (subs) {
          for (const sub of subs) sub.end?.();
          subs.clear();
        }
      }
    };
  proto.close = ending(close);
  proto.free = ending(free);

  /** Checks a subscription's arguments; returns the commit to start after. */
  const start = (store, path, since) => {
    const head = store.head; // throws `closed` on a closed store
    if (since === undefined || since === null) since = head;
    if (!Number.isInteger(since) || since < 0) {
      throw codedError('invalid_argument', `since must be a commit number, not ${String(since)}`);
    }
    store.changes(path, head); // checks the path (nothing is after the head)
    return Math.min(since, head);
  };

  proto.subscribe = function subscribe(path, listener) {
    if (typeof listener !== 'function') {
      throw codedError('invalid_argument', `listener must be a function, not ${listener === null ? 'null' : typeof listener}`);
    }
    const sub = { path, listener, seen: start(this, path) };
    let subs = subscriptions.get(this);
    if (!subs) subscriptions.set(this, (subs = new Set()));
    subs.add(sub);
    return () => {
      subs.delete(sub);
    };
  };

  proto.watch = function watch(path, options) {
    if (options !== undefined && options !== null && typeof options !== 'object') {
      throw codedError('invalid_option', `options must be an object, not ${typeof options}`);
    }
    const { since, signal } = options ?? {};
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw codedError('invalid_option', 'options.signal must be an AbortSignal');
    }
    const sub = { path, listener: undefined, seen: start(this, path, since) };
    const pending = [];
    let wake;
    let finished = false;
    let failure;
    sub.listener = (change) => {
      pending.push(change);
      wake?.();
    };
    sub.end = (err) => {
      finished = true;
      failure = err;
      wake?.();
    };
    let subs = subscriptions.get(this);
    if (!subs) subscriptions.set(this, (subs = new Set()));
    subs.add(sub);
    // Replay what happened since `since` (delivered like a commit's changes).
    if (sub.seen < this.head) changed(this);
    const stop = () => {
      subs.delete(sub);
      sub.end();
    };
    signal?.addEventListener('abort', stop, { once: true });
    if (signal?.aborted) stop();
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        while (pending.length === 0 && !finished) {
          await new Promise((resolve) => (wake = resolve));
          wake = undefined;
        }
        if (pending.length > 0) return { value: pending.shift(), done: false };
        signal?.removeEventListener('abort', stop);
        if (failure) {
          const err = failure;
          failure = undefined;
          throw err;
        }
        return { value: undefined, done: true };
      },
      async return() {
        stop();
        pending.length = 0;
        signal?.removeEventListener('abort', stop);
        return { value: undefined, done: true };
      },
    };
  };
}
