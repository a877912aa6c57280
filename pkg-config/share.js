// One OPFS store shared by every tab of an origin. OPFS sync access handles are exclusive, so
// one worker — the *owner*, elected with a Web Lock — holds the store; the other tabs' workers
// are *clients* that send their calls to it over a BroadcastChannel. Each client also waits
// for the lock, so when the owner's tab closes, reloads or crashes (its lock is released with
// it), one client takes over: it opens the store and announces itself, and every client sends
// its pending reads there. A commit (or transaction call) that was in flight when its owner
// went away may or may not have been made: it fails with `interrupted` rather than being sent
// twice. An acknowledged commit was durable before it was acknowledged, so nothing the tabs
// were told is lost.

/** Calls that change the store or hold state in the owner: never re-sent to a new owner. */
const UNSAFE_TO_RESEND = new Set(['commit', 'beginTransaction', 'joinTransaction', 'import', 'syncCommit', 'openReader', 'readChunk', 'closeReader']);

/** How long a new owner keeps retrying while the old one's file handles are still held. */
const TAKEOVER_RETRY_MS = 10_000;

/** How long a new client waits to hear from the lock's holder before giving up with `locked`. */
const OWNER_TIMEOUT_MS = 10_000;

/**
 * A store shared across tabs.
 * @param name the store name
 * @param open async () => store object: opens the store in this worker (when it becomes owner)
 * @param dispatch (method, args) => result: runs a call on the store this worker owns
 * @param onHead (head) => void: the store's head moved (a commit by any tab)
 * @param onOwner () => void: the store has a new owner (this worker, or another tab's)
 * @param codedError (code, message) => Error
 */
export class SharedStore {
  #name;
  #open;
  #dispatch;
  #onHead;
  #onOwner;
  #codedError;
  #channel;
  #id = Math.random().toString(36).slice(2);
  /** 'connecting' | 'owner' | 'client' | 'closed' */
  #role = 'connecting';
  /** The owner this client talks to (its epoch), or undefined while there is none. */
  #owner;
  #ready;
  #becameReady;
  #nextCall = 1;
  /** Calls sent (or waiting to be sent) to the owner: id -> { method, args, epoch, resolve, reject }. */
  #pending = new Map();
  #abortWait = new AbortController();
  #releaseLock;
  /** The store, when this worker owns it. */
  #store;

  constructor(name, { open, dispatch, onHead, onOwner, codedError }) {
    this.#name = name;
    this.#open = open;
    this.#dispatch = dispatch;
    this.#onHead = onHead;
    this.#onOwner = onOwner;
    this.#codedError = codedError;
    this.#ready = new Promise((resolve, reject) => (this.#becameReady = { resolve, reject }));
  }

  /** 'owner' or 'client' once started. */
  get role() {
    return this.#role;
  }

  /** The newest head this worker knows of (its own store's, or the owner's last word). */
  get head() {
    return this.#role === 'owner' ? this.#head() : this.#knownHead;
  }

  #knownHead;

  /** Joins the origin's store: becomes its owner, or a client of the tab that owns it. */
  async start() {
    this.#channel = new BroadcastChannel(`tonystore:share:${this.#name}`);
    this.#channel.onmessage = ({ data }) => this.#receive(data);
    // The election's own lock: the owner also takes the store's lock when it opens the store
    // (as any OPFS writer does), which a worker that does not share the store may hold.
    const lockName = `tonystore:share:${this.#name}`;
    const owned = await new Promise((resolve, reject) => {
      navigator.locks
        .request(lockName, { ifAvailable: true }, (lock) => {
          if (!lock) return resolve(false);
          return new Promise((release) => {
            this.#releaseLock = release;
            resolve(true);
          });
        })
        .catch(reject);
    });
    if (owned) {
      await this.#becomeOwner();
      return;
    }
    this.#role = 'client';
    // Ask who the owner is (it answers with an announcement), and queue for the lock.
    this.#post({ kind: 'hello', from: this.#id });
    navigator.locks
      .request(lockName, { signal: this.#abortWait.signal }, () =>
        new Promise((release) => {
          this.#releaseLock = release;
          this.#becomeOwner().catch((err) => this.#fail(err));
        }),
      )
      .catch(() => {}); // aborted at close
    // The lock's holder may be a worker that does not share the store (the synchronous API in
    // an app's own worker): then no owner ever answers.
    const timer = setTimeout(() => {
      this.#becameReady.reject(
        this.#codedError('locked', `store ${this.#name} is open in a worker that does not share it`),
      );
    }, OWNER_TIMEOUT_MS);
    try {
      await this.#ready;
    } catch (err) {
      await this.close(async () => {});
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Opens the store here and serves the other tabs. */
  async #becomeOwner() {
    const started = Date.now();
    for (;;) {
      try {
        this.#store = await this.#open();
        break;
      } catch (err) {
        // The previous owner's worker may still be letting go of its file handles.
        if (err?.code !== 'locked' || Date.now() - started > TAKEOVER_RETRY_MS) {
          this.#releaseLock?.();
          this.#becameReady.reject(err);
          throw err;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    this.#role = 'owner';
    this.#owner = this.#id;
    this.#announce();
    // Calls this tab made as a client: reads run here now; the rest fail as interrupted.
    for (const [id, call] of this.#pending) {
      this.#pending.delete(id);
      this.#settleHere(call);
    }
    this.#becameReady.resolve();
    this.#onOwner?.();
  }

  /** The owned store moved outside a call (a pull from a primary): tells every tab. */
  moved() {
    if (this.#role !== 'owner') return;
    const head = this.#head();
    this.#post({ kind: 'head', head });
    this.#onHead(head);
  }

  #announce() {
    this.#post({ kind: 'owner', epoch: this.#id, head: this.#head() });
  }

  #head() {
    try {
      return this.#store?.head;
    } catch {
      return undefined;
    }
  }

  #post(message) {
    try {
      this.#channel?.postMessage(message);
    } catch {
      // A closed channel: nothing to tell.
    }
  }

  /** A call from this tab: run here (owner) or sent to the owner (client). */
  call(method, args) {
    if (this.#role === 'closed') return Promise.reject(this.#codedError('closed', 'the store is closed'));
    if (this.#role === 'owner') {
      return this.#run(method, args);
    }
    return new Promise((resolve, reject) => {
      const id = this.#nextCall++;
      const call = { method, args, epoch: undefined, resolve, reject };
      this.#pending.set(id, call);
      if (this.#owner) this.#send(id, call);
    });
  }

  /** Runs a call on the store this worker owns, telling every tab when the head moved. */
  async #run(method, args) {
    const before = this.#head();
    try {
      return await this.#dispatch(method, args);
    } finally {
      const after = this.#head();
      if (after !== before) {
        this.#post({ kind: 'head', head: after });
        this.#onHead(after);
      }
    }
  }

  #send(id, call) {
    call.epoch = this.#owner;
    this.#post({ kind: 'call', from: this.#id, to: this.#owner, id, method: call.method, args: call.args });
  }

  /** A call of this tab whose owner went away, now that this tab owns the store. */
  #settleHere(call) {
    if (call.epoch !== undefined && UNSAFE_TO_RESEND.has(call.method)) {
      call.reject(this.#interrupted(call.method));
    } else {
      this.#run(call.method, call.args).then(call.resolve, call.reject);
    }
  }

  #interrupted(method) {
    return this.#codedError(
      'interrupted',
      `the tab that owned the store went away while ${method}() was in flight; it may or may not have taken effect`,
    );
  }

  async #receive(message) {
    switch (message?.kind) {
      case 'hello':
        if (this.#role === 'owner') this.#announce();
        break;
      case 'owner':
        if (this.#role !== 'client' || message.epoch === this.#owner) break;
        this.#owner = message.epoch;
        if (typeof message.head === 'number') {
          this.#knownHead = message.head;
          this.#onHead(message.head);
        }
        for (const [id, call] of this.#pending) {
          if (call.epoch !== undefined && UNSAFE_TO_RESEND.has(call.method)) {
            this.#pending.delete(id);
            call.reject(this.#interrupted(call.method));
          } else {
            this.#send(id, call);
          }
        }
        this.#becameReady.resolve();
        this.#onOwner?.();
        break;
      case 'closing':
        if (this.#role === 'client' && message.epoch === this.#owner) this.#owner = undefined;
        break;
      case 'head':
        if (this.#role === 'client') {
          this.#knownHead = message.head;
          this.#onHead(message.head);
        }
        break;
      case 'call':
        if (this.#role !== 'owner' || message.to !== this.#id) break;
        try {
          const result = await this.#run(message.method, message.args);
          this.#post({ kind: 'reply', to: message.from, id: message.id, result, head: this.#head() });
        } catch (err) {
          this.#post({ kind: 'reply', to: message.from, id: message.id, error: { code: err?.code ?? 'internal', message: String(err?.message ?? err) } });
        }
        break;
      case 'reply': {
        if (message.to !== this.#id) break;
        const call = this.#pending.get(message.id);
        if (!call) break;
        this.#pending.delete(message.id);
        if (typeof message.head === 'number') this.#knownHead = message.head;
        if (message.error) call.reject(this.#codedError(message.error.code, message.error.message));
        else call.resolve(message.result);
        break;
      }
      default:
        break;
    }
  }

  #fail(err) {
    for (const call of this.#pending.values()) call.reject(err);
    this.#pending.clear();
  }

  /**
   * Leaves: an owner closes its store (`closeStore`) and lets the lock go, so a client takes
   * over; a client stops waiting for the lock. Pending calls fail with `closed`.
   */
  async close(closeStore) {
    if (this.#role === 'closed') return;
    const wasOwner = this.#role === 'owner';
    this.#role = 'closed';
    this.#abortWait.abort();
    this.#fail(this.#codedError('closed', 'the store is closed'));
    try {
      if (wasOwner) await closeStore();
    } finally {
      if (wasOwner) this.#post({ kind: 'closing', epoch: this.#id });
      this.#releaseLock?.();
      this.#channel?.close();
    }
  }
}
