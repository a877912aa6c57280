// End to end in WebKitGTK (MiniBrowser driven by WebKitWebDriver, in an Xvfb display): WebKit's
// Linux ports cannot give OPFS sync access handles, so opening with `backend: 'opfs'` must fail
// with `unsupported` and create nothing, and the default backend must fall back to IndexedDB and
// keep the data across closing, reopening and reloading — with no uncaught error in the page.
// Sessions under WebDriver are ephemeral (their storage lives as long as the browser), so the last
// test runs MiniBrowser on a persistent profile without WebDriver and restarts it.
import test from 'node:test';
import assert from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../scripts/serve.mjs';
import { launchWebKit, needsWebKit, startReportServer } from '../scripts/webkit.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CRATE_VERSION = fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8').match(/^version = "([^"]+)"/m)[1];

// The functions below run in the page: they are sent as source and see only their arguments.

/** Records uncaught errors, unhandled rejections and console.error calls in `window.pageErrors`. */
async function watchErrors() {
  if (window.pageErrors) return;
  window.pageErrors = [];
  addEventListener('error', (e) => window.pageErrors.push(`uncaught error: ${e.message}`));
  addEventListener('unhandledrejection', (e) => window.pageErrors.push(`unhandled rejection: ${e.reason?.message ?? e.reason}`));
  const logError = console.error;
  console.error = (...args) => {
    window.pageErrors.push(`console.error: ${args.join(' ')}`);
    logError.apply(console, args);
  };
}

/** What the page has of the storage APIs the store may use. */
async function features() {
  return {
    getDirectory: typeof navigator.storage?.getDirectory === 'function',
    indexedDB: typeof indexedDB === 'object' && indexedDB !== null,
    locks: typeof navigator.locks?.request === 'function',
    broadcastChannel: typeof BroadcastChannel === 'function',
  };
}

/**
 * Where a store `name` has left traces: its IndexedDB database, and its OPFS directory (`opfs`
 * is null where the page has no `getDirectory`, or a string saying why the OPFS root was refused).
 */
async function traces(name) {
  const idb = (await indexedDB.databases()).some((d) => d.name === `tonystore:${name}`);
  if (typeof navigator.storage?.getDirectory !== 'function') return { idb, opfs: null };
  let rootDir;
  try {
    rootDir = await navigator.storage.getDirectory();
  } catch (e) {
    return { idb, opfs: `the OPFS root is refused: ${e.name}` };
  }
  const entries = [];
  for await (const key of rootDir.keys()) entries.push(key);
  return { idb, opfs: entries.includes(name) };
}

/** Opens `name` through the window entry with `options`; the error's name, code and message, or null. */
async function openFails(name, options) {
  const { TonyStore, TonyStoreError } = await import('/pkg/browser.js');
  try {
    const store = await TonyStore.open(name, options);
    await store.close();
    return null;
  } catch (e) {
    return { name: e.name, code: e.code ?? null, message: e.message, coded: e instanceof TonyStoreError };
  }
}

/** Opens `name` with the default backend and runs `body` (async function source) with the store. */
async function withStore(name, body) {
  const { TonyStore } = await import('/pkg/browser.js');
  const store = await TonyStore.open(name);
  try {
    return await new Function('store', `return (${body})(store);`)(store);
  } finally {
    await store.close();
  }
}

/** Starts the server and WebKitGTK with `webkitFeatures`; both stop when the test ends. */
async function start(t, webkitFeatures = []) {
  assert.ok(fs.existsSync(path.join(root, 'pkg/web/tonystore_bg.wasm')), 'no package in pkg/: run scripts/build-pkg first');
  const server = await serve(0);
  t.after(() => server.close());
  const browser = await launchWebKit({ features: webkitFeatures });
  t.after(() => browser.close());
  assert.strictEqual(browser.capabilities.browserName, 'MiniBrowser');
  t.diagnostic(`WebKitGTK ${browser.capabilities.browserVersion}${webkitFeatures.length ? `, features ${webkitFeatures.join(' ')}` : ''}`);
  // A page of the server's origin with no script of its own (the demo would open a store itself).
  const page = `http://127.0.0.1:${server.address().port}/style.css`;
  await browser.goto(page);
  await browser.run(watchErrors);
  return browser;
}

/**
 * The whole check, in WebKitGTK with `webkitFeatures` switched on or off: the package loads, OPFS
 * is refused with `unsupported` and nothing is created, the default store lives in IndexedDB and
 * keeps its commits across reopening and a reload, and the page reports no error.
 */
async function fallsBackToIndexedDb(t, webkitFeatures) {
  const browser = await start(t, webkitFeatures);
  assert.match(await browser.run(async () => navigator.userAgent), /AppleWebKit\/.* Safari\//);
  const has = await browser.run(features);
  t.diagnostic(`page has: ${JSON.stringify(has)}`);
  assert.ok(has.indexedDB, 'WebKitGTK has IndexedDB');

  // 1. The package loads (version() does not load the wasm: the commits below run it).
  assert.strictEqual(await browser.run(async () => (await import('/pkg/browser.js')).version()), CRATE_VERSION);

  // 2. OPFS is refused with `unsupported`, and nothing was created, in OPFS or in IndexedDB.
  const opfsName = `webkit-opfs-${Date.now()}`;
  const refused = await browser.run(openFails, opfsName, { backend: 'opfs' });
  assert.ok(refused, "open(name, { backend: 'opfs' }) should fail in WebKitGTK");
  assert.deepStrictEqual([refused.name, refused.code, refused.coded], ['TonyStoreError', 'unsupported', true], refused.message);
  t.diagnostic(`backend 'opfs': ${refused.code}: ${refused.message}`);
  const opfsTraces = await browser.run(traces, opfsName);
  assert.strictEqual(opfsTraces.idb, false, 'a refused OPFS open must not create an IndexedDB database');
  assert.ok(opfsTraces.opfs === null || opfsTraces.opfs === false || opfsTraces.opfs.startsWith('the OPFS root is refused'),
    `a refused OPFS open must not create an OPFS directory: ${JSON.stringify(opfsTraces)}`);

  // 3. The default open works: two commits, the past readable, the history right.
  const name = `webkit-default-${Date.now()}`;
  const first = await browser.run(withStore, name, String(async (store) => {
    const c1 = await store.commit({ path: 'todo', value: { title: 'first', done: false } });
    const c2 = await store.commit({ path: 'todo.done', value: true });
    return {
      commits: [c1, c2],
      head: store.head,
      now: await store.readAt('todo'),
      past: await store.readAt('todo', c1),
      history: Array.from(await store.history('todo.done')),
    };
  }));
  assert.deepStrictEqual(first, {
    commits: [1, 2],
    head: 2,
    now: { title: 'first', done: true },
    past: { title: 'first', done: false },
    history: [1, 2],
  });
  // It went to IndexedDB (the fallback), not to OPFS.
  const stored = await browser.run(traces, name);
  assert.strictEqual(stored.idb, true, `the default store should live in IndexedDB: ${JSON.stringify(stored)}`);
  assert.notStrictEqual(stored.opfs, true, 'the default store must not be in OPFS here');

  // Reopened in the same page, and again after a reload: both commits are there.
  const check = String(async (store) => ({
    head: store.head,
    now: await store.readAt('todo'),
    past: await store.readAt('todo', 1),
    history: Array.from(await store.history('todo.done')),
  }));
  const expected = { head: 2, now: { title: 'first', done: true }, past: { title: 'first', done: false }, history: [1, 2] };
  assert.deepStrictEqual(await browser.run(withStore, name, check), expected);
  // 4. No uncaught errors before the reload (the reload clears the record).
  assert.deepStrictEqual(await browser.run(async () => window.pageErrors), []);

  await browser.reload();
  await browser.run(watchErrors);
  assert.deepStrictEqual(await browser.run(withStore, name, check), expected);
  const after = await browser.run(withStore, name, String(async (store) => {
    const c3 = await store.commit({ path: 'todo.title', value: 'after reload' });
    return { c3, history: Array.from(await store.history('todo.title')) };
  }));
  assert.deepStrictEqual(after, { c3: 3, history: [1, 3] });
  assert.strictEqual(await browser.run(withStore, name, String(async (store) => store.readAt('todo.title', 3))), 'after reload');
  assert.deepStrictEqual(await browser.run(async () => window.pageErrors), []);
}

test('WebKitGTK with default settings (no navigator.storage): OPFS is unsupported, the store falls back to IndexedDB and persists',
  needsWebKit({ timeout: 120_000 }), (t) => fallsBackToIndexedDb(t, []));

test('WebKitGTK with the Storage and File System APIs but no sync access handles: OPFS is unsupported, the store falls back to IndexedDB and persists',
  needsWebKit({ timeout: 120_000 }), (t) => fallsBackToIndexedDb(t, ['+StorageAPI', '+FileSystem']));

// With sync access handles switched on too, a WebDriver session (always ephemeral) behaves like
// a private window: there even navigator.storage.getDirectory() rejects (UnknownError). That is
// a session without OPFS: opening OPFS says `unsupported`, and the default store falls back to
// IndexedDB.
test('WebKitGTK with OPFS sync access handles switched on, in an ephemeral session: OPFS is unsupported, the store falls back to IndexedDB',
  needsWebKit({ timeout: 120_000 }), async (t) => {
    const browser = await start(t, ['+StorageAPI', '+FileSystem', '+AccessHandle']);
    assert.deepStrictEqual(await browser.run(features), { getDirectory: true, indexedDB: true, locks: true, broadcastChannel: true });
    const rootRefused = await browser.run(async () => navigator.storage.getDirectory().then(() => null, (e) => e.name));
    t.diagnostic(`navigator.storage.getDirectory(): ${rootRefused ? `rejects with ${rootRefused}` : 'resolves'}`);

    const opfsName = `webkit-opfs-${Date.now()}`;
    const refused = await browser.run(openFails, opfsName, { backend: 'opfs' });
    assert.ok(refused, "open(name, { backend: 'opfs' }) should fail in WebKitGTK");
    assert.strictEqual(refused.name, 'TonyStoreError', refused.message);
    assert.strictEqual(refused.code, 'unsupported', refused.message);
    assert.strictEqual((await browser.run(traces, opfsName)).idb, false, 'a refused OPFS open must not create an IndexedDB database');

    const name = `webkit-default-${Date.now()}`;
    assert.strictEqual(await browser.run(openFails, name, undefined), null, 'the default open falls back');
    const commits = await browser.run(withStore, name, String(async (store) => [
      await store.commit({ path: 'a', value: 1 }), await store.commit({ path: 'a', value: 2 }), await store.readAt('a', 1)]));
    assert.deepStrictEqual(commits, [1, 2, 1]);
    assert.strictEqual((await browser.run(traces, name)).idb, true, 'the default store lives in IndexedDB');
    assert.deepStrictEqual(await browser.run(async () => window.pageErrors), []);
  });

// The same features in a persistent profile (MiniBrowser without WebDriver, the page reporting
// back to the server): there WebKit hands out the OPFS root but answers createSyncAccessHandle
// with NotSupportedError. Opening OPFS must fail with `unsupported` and leave no directory; the
// default store falls back to IndexedDB, and a second browser process on the same profile finds
// its commits.
test('WebKitGTK with OPFS sync access handles switched on, in a persistent profile: unsupported, nothing left in OPFS, the fallback survives a browser restart',
  needsWebKit({ timeout: 120_000 }), async (t) => {
    assert.ok(fs.existsSync(path.join(root, 'pkg/web/tonystore_bg.wasm')), 'no package in pkg/: run scripts/build-pkg first');
    const server = await startReportServer(root);
    t.after(() => server.close());
    const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-webkit-'));
    t.after(() => fs.rmSync(profileDir, { recursive: true, force: true }));
    const features = ['+StorageAPI', '+FileSystem', '+AccessHandle'];
    const names = { opfs: `webkit-opfs-${Date.now()}`, store: `webkit-restart-${Date.now()}` };

    const first = await server.run(`
      const names = ${JSON.stringify(names)};
      const { TonyStore, version } = await import('/pkg/browser.js');
      const out = { version: version() };
      try {
        await TonyStore.open(names.opfs, { backend: 'opfs' });
        out.opfs = null;
      } catch (e) {
        out.opfs = { name: e.name, code: e.code, message: e.message };
      }
      const rootDir = await navigator.storage.getDirectory();
      out.opfsEntries = [];
      for await (const key of rootDir.keys()) out.opfsEntries.push(key);
      const store = await TonyStore.open(names.store);
      out.commits = [
        await store.commit({ path: 'todo', value: { title: 'first', done: false } }),
        await store.commit({ path: 'todo.done', value: true }),
      ];
      out.past = await store.readAt('todo', 1);
      out.history = Array.from(await store.history('todo.done'));
      await store.close();
      out.databases = (await indexedDB.databases()).map((d) => d.name).filter((n) => n.startsWith('tonystore:')).sort();
      out.opfsAfter = [];
      for await (const key of rootDir.keys()) out.opfsAfter.push(key);
      report(out);`, { profileDir, features });
    assert.deepStrictEqual(first.errors, []);
    const out = first.value;
    assert.strictEqual(out.version, CRATE_VERSION);
    assert.ok(out.opfs, "open(name, { backend: 'opfs' }) should fail in WebKitGTK");
    assert.deepStrictEqual([out.opfs.name, out.opfs.code], ['TonyStoreError', 'unsupported'], out.opfs.message);
    t.diagnostic(`backend 'opfs': ${out.opfs.code}: ${out.opfs.message}`);
    assert.ok(!out.opfsEntries.includes(names.opfs), `a refused OPFS open left a directory: ${out.opfsEntries}`);
    assert.deepStrictEqual(out.commits, [1, 2]);
    assert.deepStrictEqual(out.past, { title: 'first', done: false });
    assert.deepStrictEqual(out.history, [1, 2]);
    assert.deepStrictEqual(out.databases, [`tonystore:${names.store}`]);
    assert.ok(!out.opfsAfter.includes(names.store), 'the default store must not be in OPFS here');

    // A new browser process on the same profile: the commits were on disk.
    const second = await server.run(`
      const { TonyStore } = await import('/pkg/browser.js');
      const store = await TonyStore.open(${JSON.stringify(names.store)});
      const out = { head: store.head, now: await store.readAt('todo'), past: await store.readAt('todo', 1),
        history: Array.from(await store.history('todo.done')) };
      await store.close();
      report(out);`, { profileDir, features });
    assert.deepStrictEqual(second, {
      value: { head: 2, now: { title: 'first', done: true }, past: { title: 'first', done: false }, history: [1, 2] },
      errors: [],
    });
  });
