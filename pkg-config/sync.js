// A store that follows a primary over HTTP (the routes of `serveStore`, e.g. a `TonyStoreObject`
// on Cloudflare): `store.sync(url)` pulls the primary's commits as shipments (`/export` →
// `import`, so commit numbers are the primary's), follows its server-sent events (`/watch`) to
// pull again as soon as it moves, reconnecting after a cut, and sends commits to it (`/commit`,
// with preconditions, so concurrent writers get `precondition_failed` instead of lost updates),
// then pulls them back. Reads stay local, so they work offline. Without a queue a commit needs
// the primary (`io` when it cannot be reached). With `options.queue` (a store to keep the queue
// in) a commit made while the primary cannot be reached is queued: kept in that store, shown at
// once by reads at the head (`setPending`), and sent in order when the primary is back; one the
// primary refuses is dropped and reported to `onRejected`. The local store must only ever
// receive the primary's commits: one committed locally makes the next pull fail with `diverged`
// (reported to `onError`).

/** The longest wait between reconnection attempts, in milliseconds. */
const MAX_BACKOFF_MS = 5000;
/** The largest shipment asked for at once, in bytes. */
const BATCH_BYTES = 4 << 20;

/** The package's error constructors (core.js), given at install: sync.js imports nothing. */
let codedError;
let coded;

/** The error of an HTTP answer of `serveStore`, with its code. */
async function answerError(response, what) {
  let body;
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  return codedError(body.code ?? 'io', `${what}: ${body.message ?? `HTTP ${response.status}`}`);
}

/** An `io` error for a primary that cannot be reached (marked `unreachable`). */
function unreachable(err, url) {
  const error = codedError('io', `the primary at ${url} cannot be reached: ${err?.message ?? err}`);
  error.cause = err;
  error.unreachable = true;
  return error;
}

/** Where a queue store keeps the queue. */
const QUEUE_PATH = 'queue';

/** Keeps `store` a replica of the primary at `url`; see the module comment. */
export class Sync {
  #store;
  #url;
  #fetch;
  #onError;
  #stopped = new AbortController();
  #pulling;
  #again = false;
  /** The live connection's loop, while following. */
  #following;
  /** The last commit known to be the primary's (the head the last pull reached). */
  #synced = 0;
  /** Where queued commits are kept (a store), if queueing; and the queue: `[{ patches, match }]`. */
  #queueStore;
  #queue = [];
  #sending;
  #onRejected;

  /**
   * @param store a synchronous store (worker, Node, workerd) holding nothing but the primary's commits
   * @param url the primary's base URL
   * @param options.live follow the primary's events (default true)
   * @param options.onError called with errors of background pulls (default: reportError)
   * @param options.fetch the fetch function (default: globalThis.fetch)
   */
  constructor(store, url, { live = true, onError, onRejected, queue, fetch = (...args) => globalThis.fetch(...args) } = {}) {
    this.#store = store;
    this.#url = String(url).replace(/\/$/, '');
    this.#fetch = fetch;
    this.#onError = onError ?? ((err) => globalThis.reportError?.(err));
    this.#onRejected = onRejected ?? ((err) => globalThis.reportError?.(err));
    if (queue) {
      this.#queueStore = queue;
      this.#queue = queue.readAt(QUEUE_PATH) ?? [];
      this.#showQueue();
    }
    if (live) this.#following = this.#follow();
  }

  /** How many commits wait for the primary. */
  get queued() {
    return this.#queue.length;
  }

  /** Keeps the queue in its store and shows it in reads at the head. */
  #saveQueue() {
    this.#queueStore.commit({ path: QUEUE_PATH, value: this.#queue, replace: true });
    this.#showQueue();
  }

  #showQueue() {
    this.#store.setPending(this.#queue.map((q) => q.patches));
  }

  /**
   * Sends the queued commits in order; stops at the first the primary cannot be reached for.
   * A refused one is dropped and reported.
   */
  sendQueued() {
    this.#sending ??= (async () => {
      try {
        while (this.#queue.length > 0) {
          const [next] = this.#queue;
          let commit;
          try {
            commit = await this.#send(next.patches, next.match);
          } catch (err) {
            if (err?.unreachable) return;
            this.#queue.shift();
            this.#saveQueue();
            this.#onRejected(err, next);
            continue;
          }
          this.#queue.shift();
          this.#saveQueue();
          while (this.#store.head < commit) await this.pull();
        }
      } finally {
        this.#sending = undefined;
      }
    })();
    return this.#sending;
  }

  /** Imports what the primary has beyond the local head; resolves to the local head. */
  pull() {
    if (this.#pulling) {
      this.#again = true;
      return this.#pulling;
    }
    this.#pulling = (async () => {
      try {
        do {
          this.#again = false;
          for (;;) {
            const after = this.#store.head;
            const response = await this.#request(`/export?after=${after}&maxBytes=${BATCH_BYTES}`);
            if (!response.ok) throw await answerError(response, 'pulling from the primary');
            const { added, skipped } = this.#store.import(new Uint8Array(await response.arrayBuffer()));
            this.#synced = after + skipped + added;
            if (added === 0) break;
          }
        } while (this.#again);
        return this.#store.head;
      } finally {
        this.#pulling = undefined;
      }
    })();
    return this.#pulling;
  }

  /**
   * Commits on the primary (`options.match`: preconditions checked there), then pulls; resolves
   * to the commit's number once the local store has it.
   */
  async commit(patches, options) {
    if (this.#queueStore && this.#queue.length > 0) {
      // Behind queued commits: keep the order.
      return this.#enqueue(patches, options?.match);
    }
    let commit;
    try {
      commit = await this.#send(patches, options?.match);
    } catch (err) {
      if (err?.unreachable && this.#queueStore) return this.#enqueue(patches, options?.match);
      throw err;
    }
    while (this.#store.head < commit) await this.pull();
    return commit;
  }

  /** Queues a commit for later (see the module comment); resolves to `null`. */
  #enqueue(patches, match) {
    this.#queue.push(match === undefined ? { patches } : { patches, match });
    this.#saveQueue();
    return null;
  }

  /** Commits on the primary; resolves to the commit's number. */
  async #send(patches, match) {
    const body = JSON.stringify({ patches, match });
    let response;
    try {
      // No content-type header: a plain request, which a primary on another origin accepts
      // with CORS but without a preflight.
      response = await this.#fetch(`${this.#url}/commit`, { method: 'POST', body, signal: this.#stopped.signal });
    } catch (err) {
      throw unreachable(err, this.#url);
    }
    if (!response.ok) throw await answerError(response, 'committing on the primary');
    return (await response.json()).commit;
  }

  /** Stops following the primary. */
  close() {
    this.#stopped.abort();
    return this.#following?.catch(() => {});
  }

  async #request(path) {
    try {
      return await this.#fetch(`${this.#url}${path}`, { signal: this.#stopped.signal });
    } catch (err) {
      throw unreachable(err, this.#url);
    }
  }

  /** Follows the primary's events, pulling on each; reconnects with backoff until closed. */
  async #follow() {
    let backoff = 100;
    while (!this.#stopped.signal.aborted) {
      try {
        await this.pull();
        await this.sendQueued();
        // Events since what was pulled, not since the local head: a commit that was made here
        // (which diverges) must not hide the primary's commit of the same number.
        const response = await this.#request(`/watch?since=${this.#synced}`);
        if (!response.ok) throw await answerError(response, 'following the primary');
        backoff = 100;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffered = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffered += decoder.decode(value, { stream: true });
          const events = buffered.split('\n\n');
          buffered = events.pop();
          if (events.length > 0) await this.pull();
        }
      } catch (err) {
        if (this.#stopped.signal.aborted) return;
        // A connection cut while reading the events is the primary being unreachable too.
        this.#onError(typeof err?.code === 'string' ? coded(err) : unreachable(err, this.#url));
        // Refused for good (the histories diverged): stop rather than retry forever.
        if (err?.code === 'diverged' || err?.code === 'closed') return;
      }
      if (this.#stopped.signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}

/**
 * Adds `store.sync(url, options)` (a new `Sync`) to the synchronous store class.
 * @param errors `{ codedError, coded }` of core.js
 */
export function installSync(TonyStore, errors) {
  ({ codedError, coded } = errors);
  TonyStore.prototype.sync = function sync(url, options) {
    if (typeof url !== 'string' && !(url instanceof URL)) {
      throw codedError('invalid_argument', `url must be a string or a URL, not ${url === null ? 'null' : typeof url}`);
    }
    return new Sync(this, url, options);
  };
}
