// Live changes: `subscribe(path, listener)` and `watch(path, { since, signal })`.
//
// A `Feed` keeps the subscriptions of one store handle. When the handle learns that the store
// moved (a commit through it, or — in a window — a commit by any tab), `notify()` schedules one
// delivery pass: each subscription asks the store's exact change feed (`changes(path, seen)`)
// for the commits since the last one it saw, so several commits in one tick are each reported
// and none twice. Passes run one at a time, after the commit's call has returned.

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

/** The subscriptions of one store handle. */
export class Feed {
  #changes;
  #subs = new Set();
  /** The delivery pass running or queued, if any. */
  #pass;
  #again = false;

  /** @param changes (path, since) => Change[] or a promise of them: the store's change feed */
  constructor(changes) {
    this.#changes = changes;
  }

  /** Adds a subscription that has seen commits up to `seen`; `end(err?)` runs when it ends. */
  add(path, seen, listener, end) {
    const sub = { path, seen, listener, end };
    this.#subs.add(sub);
    return sub;
  }

  /** Removes a subscription (it gets no `end`). */
  remove(sub) {
    this.#subs.delete(sub);
  }

  /** The store moved: deliver what the subscriptions have not seen, soon. */
  notify() {
    if (this.#subs.size === 0) return this.#pass ?? Promise.resolve();
    if (this.#pass) {
      this.#again = true;
      return this.#pass;
    }
    this.#pass = (async () => {
      await null; // after the call that moved the store has returned
      do {
        this.#again = false;
        await this.#deliver();
      } while (this.#again);
      this.#pass = undefined;
    })();
    return this.#pass;
  }

  async #deliver() {
    for (const sub of [...this.#subs]) {
      if (!this.#subs.has(sub)) continue; // removed by an earlier listener
      let changes;
      try {
        changes = await this.#changes(sub.path, sub.seen);
      } catch (err) {
        this.#failed(sub, err);
        continue;
      }
      this.#hand(sub, changes);
    }
  }

  /** A delivery pass now, for a store whose `changes` answers synchronously (before closing). */
  deliverSync() {
    for (const sub of [...this.#subs]) {
      if (!this.#subs.has(sub)) continue;
      let changes;
      try {
        changes = this.#changes(sub.path, sub.seen);
      } catch (err) {
        this.#failed(sub, err);
        continue;
      }
      this.#hand(sub, changes);
    }
  }

  /** The store could not answer (it closed or failed): the subscription ends with the error. */
  #failed(sub, err) {
    this.#subs.delete(sub);
    sub.end?.(err);
  }

  /** Hands the changes a subscription has not seen to its listener. */
  #hand(sub, changes) {
    for (const change of changes) {
      if (!this.#subs.has(sub) || change.commit <= sub.seen) continue;
      sub.seen = change.commit;
      try {
        sub.listener(change);
      } catch (err) {
        report(err);
      }
    }
  }

  /** Ends every subscription (a watch finishes). */
  endAll() {
    for (const sub of this.#subs) sub.end?.();
    this.#subs.clear();
  }

  /**
   * An async iterable of the changes at or below `path` after commit `since`, ending when
   * `signal` aborts, the loop breaks, or the store closes.
   */
  watch(path, since, signal) {
    const pending = [];
    let wake;
    let finished = false;
    let failure;
    const sub = this.add(
      path,
      since,
      (change) => {
        pending.push(change);
        wake?.();
      },
      (err) => {
        finished = true;
        failure = err;
        wake?.();
      },
    );
    const stop = () => {
      this.remove(sub);
      finished = true;
      wake?.();
    };
    signal?.addEventListener('abort', stop, { once: true });
    if (signal?.aborted) stop();
    // Replay what happened since `since`.
    this.notify();
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
  }
}

/** Checks `watch`'s options; returns `{ since, signal }` (`since` may be undefined). */
export function watchOptions(options, codedError) {
  if (options !== undefined && options !== null && typeof options !== 'object') {
    throw codedError('invalid_option', `options must be an object, not ${typeof options}`);
  }
  const { since, signal } = options ?? {};
  if (since !== undefined && since !== null && (!Number.isInteger(since) || since < 0)) {
    throw codedError('invalid_argument', `since must be a commit number, not ${String(since)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw codedError('invalid_option', 'options.signal must be an AbortSignal');
  }
  return { since: since ?? undefined, signal };
}

/** Checks `subscribe`'s listener. */
export function checkListener(listener, codedError) {
  if (typeof listener !== 'function') {
    throw codedError('invalid_argument', `listener must be a function, not ${listener === null ? 'null' : typeof listener}`);
  }
}

/**
 * Adds `subscribe` and `watch` to the synchronous store class and makes `commit`,
 * `joinTransaction` and `import` announce new commits; `close` and `free` end every
 * subscription (after delivering what is pending).
 */
export function installLive(TonyStore, codedError) {
  const proto = TonyStore.prototype;
  const feeds = new WeakMap();
  const feed = (store) => {
    let f = feeds.get(store);
    if (!f) feeds.set(store, (f = new Feed((path, since) => store.changes(path, since))));
    return f;
  };
  for (const name of ['commit', 'joinTransaction', 'import']) {
    const method = proto[name];
    if (typeof method !== 'function') continue;
    proto[name] = function (...args) {
      const result = method.apply(this, args);
      feeds.get(this)?.notify();
      return result;
    };
  }
  for (const name of ['close', 'free']) {
    const method = proto[name];
    proto[name] = function (...args) {
      const f = feeds.get(this);
      // Deliver what is pending while the store still answers.
      f?.deliverSync();
      try {
        return method.apply(this, args);
      } finally {
        f?.endAll();
      }
    };
  }

  /** The commit a new subscription starts after; checks the path (throws coded errors). */
  const start = (store, path, since) => {
    const head = store.head; // throws `closed` on a closed store
    store.changes(path, head); // checks the path (nothing is after the head)
    return Math.min(since ?? head, head);
  };

  proto.subscribe = function subscribe(path, listener) {
    checkListener(listener, codedError);
    const f = feed(this);
    const sub = f.add(path, start(this, path), listener);
    return () => f.remove(sub);
  };

  proto.watch = function watch(path, options) {
    const { since, signal } = watchOptions(options, codedError);
    return feed(this).watch(path, start(this, path, since), signal);
  };
}
