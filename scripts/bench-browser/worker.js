// One job of the browser peer benchmark (scripts/bench-browser.mjs), run in a fresh dedicated
// worker: a store ("tonystore", "raw" OPFS sync access handle, or "sahpool", @sqlite.org/sqlite-wasm
// on its opfs-sahpool VFS) runs one workload on OPFS and posts back its timings. Served by the
// benchmark's server: /pkg/ is the built package, /sqlite/ the sqlite-wasm dist folder.
//
// The workload is the one of benches/peers.rs: record n (1-based) is a ~100-byte JSON object
// naming n, written at path docs.d{p%16}.users.u{p}, p = (n - 1) % 256 (4,096 paths when a
// commit holds 1,000 records: two patches at one path in one commit conflict). A read picks a
// random (path, commit) pair and checks the value's `commit` against the commit that last
// wrote that path at or before it; a mismatch fails the job.

const PATHS = 256;
const pathOf = (n, paths = PATHS) => {
  const p = (n - 1) % paths;
  return `docs.d${p % 16}.users.u${p}`;
};
const recordText = (n) =>
  `{"name":"user ${n % 10000}","email":"user${n % 10000}@example.com","score":${(n * 7) % 100000},"active":true,"commit":${n}}`;
const recordValue = (n) => ({
  name: `user ${n % 10000}`, email: `user${n % 10000}@example.com`, score: (n * 7) % 100000, active: true, commit: n,
});
/** The commit whose record path index `p` holds at `commit`, or undefined (written later). */
const expectedWriter = (p, commit) => (commit > p ? commit - ((commit - 1 - p) % PATHS) : undefined);

/** Deterministic (path index, commit) pairs over a history of `head` commits (xorshift32). */
function readTargets(count, head, seed) {
  let x = seed >>> 0 || 1;
  const targets = new Uint32Array(count * 2);
  for (let i = 0; i < count; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    targets[2 * i] = x % PATHS;
    targets[2 * i + 1] = 1 + (Math.floor(x / PATHS) % head);
  }
  return targets;
}

const now = () => performance.now();
const seconds = (ms) => ms / 1000;

/** Checks one read; `skew` (a test hook) shifts the expectation so the check must fail. */
function check(got, p, at, skew) {
  let want = expectedWriter(p, at);
  if (skew && want !== undefined) want += 1;
  const commit = got === undefined || got === null ? undefined : Number(got);
  if (commit !== want) {
    throw new Error(`read mismatch: ${pathOf(p + 1)} at commit ${at} gave commit ${commit}, expected ${want}`);
  }
}

/**
 * `rounds` timed rounds of `count` reads over a history of `head` commits: `read(path, commit)`
 * returns the commit named by the value found (or undefined), and each one is checked.
 */
function checkedReads(read, { head, count, rounds, seed, skew }) {
  const paths = Array.from({ length: PATHS }, (_, p) => pathOf(p + 1));
  const times = [];
  let checked = 0;
  for (let r = 0; r < rounds; r++) {
    const targets = readTargets(count, head, seed + r);
    const start = now();
    for (let i = 0; i < count; i++) {
      const p = targets[2 * i];
      const at = targets[2 * i + 1];
      check(read(paths[p], at), p, at, skew);
      checked++;
    }
    times.push(seconds(now() - start));
  }
  return { times, checked };
}

async function removeFromOpfs(name) {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(name, { recursive: true }).catch((err) => {
    if (err.name !== 'NotFoundError') throw err;
  });
}

// ---- tonystore -------------------------------------------------------------------------------

let tonystoreModule;
async function tonystore() {
  tonystoreModule ??= await import('/pkg/web.js');
  return tonystoreModule;
}

const tony = {
  async info() {
    const { init, version } = await tonystore();
    await init();
    return { version: version() };
  },
  /**
   * `count` commits of one record; `durable`: durability "commit", else "flush" and one flush at
   * the end. `text`: the record as JSON text (`{ path, tony }`) instead of a JS object (`value`).
   */
  async commits({ name, count, durable, keep, text }) {
    const { TonyStore } = await tonystore();
    const store = await TonyStore.open(name, { backend: 'opfs', durability: durable ? 'commit' : 'flush' });
    const patch = text ? (n) => ({ path: pathOf(n), tony: recordText(n) }) : (n) => ({ path: pathOf(n), value: recordValue(n) });
    const start = now();
    for (let n = 1; n <= count; n++) {
      const c = store.commit(patch(n));
      if (c !== n) throw new Error(`commit ${n} was numbered ${c}`);
    }
    store.flush();
    const ms = now() - start;
    store.close();
    store.free();
    if (!keep) await removeFromOpfs(name);
    return { ops: count, seconds: seconds(ms) };
  },
  /** `commits` commits of `per` records each over 4,096 paths, flushed once at the end. */
  async batches({ name, commits, per }) {
    const { TonyStore } = await tonystore();
    const store = await TonyStore.open(name, { backend: 'opfs', durability: 'flush' });
    const start = now();
    for (let b = 0; b < commits; b++) {
      const patches = new Array(per);
      for (let j = 0; j < per; j++) {
        const n = b * per + j + 1;
        patches[j] = { path: pathOf(n, 4096), value: recordValue(n) };
      }
      store.commit(patches);
    }
    store.flush();
    const ms = now() - start;
    if (store.head !== commits) throw new Error(`head ${store.head} after ${commits} commits`);
    store.close();
    store.free();
    await removeFromOpfs(name);
    return { ops: commits * per, commits, seconds: seconds(ms) };
  },
  /** Reopens the history `name` (of `head` commits), then `rounds` rounds of `count` checked reads. */
  async reads({ name, head, count, rounds, seed, skew, keep }) {
    const { TonyStore, init } = await tonystore();
    await init(); // the wasm module is compiled before the open is timed
    const opening = now();
    const store = await TonyStore.open(name, { backend: 'opfs', durability: 'flush' });
    const openMs = now() - opening;
    if (store.head !== head) throw new Error(`the history has ${store.head} commits, expected ${head}`);
    const { times, checked } = checkedReads((path, at) => store.readAt(path, at)?.commit, { head, count, rounds, seed, skew });
    store.close();
    store.free();
    if (!keep) await removeFromOpfs(name);
    return { ops: count, times, checked, openSeconds: seconds(openMs) };
  },
};

// ---- raw OPFS sync access handle -------------------------------------------------------------

const raw = {
  /** Appends `count` records (path + JSON, one line each) to one file; `durable`: flush() after each. */
  async commits({ name, count, durable }) {
    const root = await navigator.storage.getDirectory();
    const file = await root.getFileHandle(name, { create: true });
    const handle = await file.createSyncAccessHandle();
    const encoder = new TextEncoder();
    let at = 0;
    const start = now();
    for (let n = 1; n <= count; n++) {
      const bytes = encoder.encode(`${pathOf(n)}\t${recordText(n)}\n`);
      const written = handle.write(bytes, { at });
      if (written !== bytes.length) throw new Error(`short write: ${written} of ${bytes.length}`);
      at += written;
      if (durable) handle.flush();
    }
    handle.flush();
    const ms = now() - start;
    if (handle.getSize() !== at) throw new Error(`the file has ${handle.getSize()} bytes, ${at} written`);
    handle.close();
    await root.removeEntry(name);
    return { ops: count, seconds: seconds(ms), bytes: at };
  },
};

// ---- sqlite-wasm, opfs-sahpool ---------------------------------------------------------------

let sqlitePool;
async function pool() {
  if (!sqlitePool) {
    const { default: init } = await import('/sqlite/index.mjs');
    const sqlite3 = await init({ print: () => {}, printErr: (...args) => console.warn(...args) });
    const util = await sqlite3.installOpfsSAHPoolVfs({ directory: '.tonystore-bench-sahpool', initialCapacity: 8 });
    sqlitePool = { sqlite3, util };
  }
  return sqlitePool;
}

/**
 * Opens `name` on the pool: WAL under exclusive locking (what the VFS needs for WAL), `synchronous`
 * as given, the table of benches/peers.rs (primary key (path, c), WITHOUT ROWID).
 */
async function openDb(name, synchronous, create = true) {
  const { util } = await pool();
  const db = new util.OpfsSAHPoolDb(`/${name}`);
  db.exec('PRAGMA locking_mode = EXCLUSIVE');
  const journal = db.selectValue('PRAGMA journal_mode = WAL');
  db.exec(`PRAGMA synchronous = ${synchronous}`);
  if (create) db.exec('CREATE TABLE IF NOT EXISTS records (path TEXT NOT NULL, c INTEGER NOT NULL, v TEXT NOT NULL, PRIMARY KEY (path, c)) WITHOUT ROWID');
  return { db, journal: String(journal).toUpperCase() };
}

async function closeDb(db, name, keep) {
  db.close();
  const { util } = await pool();
  if (!keep) util.unlink(`/${name}`);
  // Releases the pool's sync access handles, so the next job's worker can take them.
  util.pauseVfs?.();
}

const sahpool = {
  async info() {
    const { sqlite3, util } = await pool();
    util.pauseVfs?.();
    return { version: sqlite3.version.libVersion };
  },
  /** `count` INSERTs, one transaction each, under `synchronous`. */
  async commits({ name, count, synchronous, keep }) {
    const { db, journal } = await openDb(name, synchronous);
    const insert = db.prepare('INSERT INTO records (path, c, v) VALUES (?, ?, ?)');
    const start = now();
    for (let n = 1; n <= count; n++) {
      insert.bind([pathOf(n), n, recordText(n)]).stepReset();
    }
    const ms = now() - start;
    insert.finalize();
    await closeDb(db, name, keep);
    return { ops: count, seconds: seconds(ms), journal };
  },
  /** `commits` transactions of `per` INSERTs over 4,096 paths. */
  async batches({ name, commits, per, synchronous }) {
    const { db, journal } = await openDb(name, synchronous);
    const insert = db.prepare('INSERT INTO records (path, c, v) VALUES (?, ?, ?)');
    const start = now();
    for (let b = 0; b < commits; b++) {
      db.exec('BEGIN');
      for (let j = 0; j < per; j++) {
        const n = b * per + j + 1;
        insert.bind([pathOf(n, 4096), n, recordText(n)]).stepReset();
      }
      db.exec('COMMIT');
    }
    const ms = now() - start;
    insert.finalize();
    await closeDb(db, name, false);
    return { ops: commits * per, commits, seconds: seconds(ms), journal };
  },
  /** Reopens `name`, then `rounds` rounds of `count` checked reads: the latest row at or before a commit. */
  async reads({ name, head, count, rounds, seed, skew, keep }) {
    await pool(); // sqlite3 and its VFS are set up before the open is timed
    const opening = now();
    const { db, journal } = await openDb(name, 'OFF', false);
    const openMs = now() - opening;
    const rows = db.selectValue('SELECT count(*) FROM records');
    if (rows !== head) throw new Error(`the history has ${rows} rows, expected ${head}`);
    const query = db.prepare('SELECT v FROM records WHERE path = ? AND c <= ? ORDER BY c DESC LIMIT 1');
    const read = (path, at) => {
      query.bind([path, at]);
      const got = query.step() ? JSON.parse(query.getString(0)).commit : undefined;
      query.reset();
      return got;
    };
    const { times, checked } = checkedReads(read, { head, count, rounds, seed, skew });
    query.finalize();
    await closeDb(db, name, keep);
    return { ops: count, times, checked, openSeconds: seconds(openMs), journal };
  },
};

const STORES = { tonystore: tony, raw, sahpool };

self.onmessage = async ({ data: { store, job, args } }) => {
  try {
    const result = await STORES[store][job](args);
    self.postMessage({ ok: true, result });
  } catch (err) {
    self.postMessage({ ok: false, error: `${store}.${job}: ${err?.message ?? err}` });
  }
};
