// The IndexedDB fallback in Chromium and in Firefox ESR (scripts/browsers.mjs), where OPFS sync access handles are made to be missing (as
// on WebKit's Linux ports): a store opened with the default backend falls back to IndexedDB,
// keeps every acknowledged commit across closing, reopening and reloading the page, leaves no
// OPFS directory, and its directory meets the storage contract.
import assert from 'node:assert';
import { serve } from '../scripts/serve.mjs';
import { eachBrowser } from '../scripts/browsers.mjs';
import { withoutSyncHandles } from '../scripts/page-scenarios.mjs';

/** In the page: a module worker without OPFS sync access handles running `script` (module source). */
const WORKER_WITHOUT_SYNC_HANDLES = (script) =>
  `delete FileSystemFileHandle.prototype.createSyncAccessHandle;\n${script}`;

eachBrowser('without OPFS sync access handles, stores fall back to IndexedDB and persist', { timeout: 120_000 }, async (t, browser) => {
  const server = await serve(0);
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address().port}/style.css`;
  const page = await (await browser.profile()).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  const name = `fallback-${Date.now()}`;

  /** Opens `name` through the window entry in a worker without sync handles; runs `body`. */
  const session = (body) => page.evaluate(withoutSyncHandles, [name, body]);

  const first = await session(`
    const commits = [];
    for (let i = 1; i <= 3; i++) commits.push(await store.commit({ path: 'items.i' + i, value: { n: i } }));
    return commits;`);
  assert.deepStrictEqual(first, [1, 2, 3]);
  // It went to IndexedDB, not OPFS.
  const where = await page.evaluate(async (name) => {
    const databases = (await indexedDB.databases()).map((d) => d.name);
    const root = await navigator.storage.getDirectory();
    const opfs = [];
    for await (const key of root.keys()) opfs.push(key);
    return { idb: databases.includes(`tonystore:${name}`), opfs: opfs.includes(name) };
  }, name);
  assert.deepStrictEqual(where, { idb: true, opfs: false });

  // Reopened in a new worker, and again after a reload: everything is there.
  const check = `return { head: store.head, i2: await store.readAt('items.i2.n'), past: await store.readAt('items', 1) };`;
  const expected = { head: 3, i2: 2, past: { i1: { n: 1 } } };
  assert.deepStrictEqual(await session(check), expected);
  await page.reload();
  assert.deepStrictEqual(await session(check), expected);
  assert.deepStrictEqual(await session(`return await store.commit({ path: 'after', value: 'reload' });`), 4);
  assert.deepStrictEqual(await session(`return store.readAt('after', 4);`), 'reload');

  // The fallback's directory meets the storage contract (run in a worker).
  const violation = await page.evaluate(async (source) => {
    const code = `${source}
      const { TonyStore, IndexedDbDir } = await import('${location.origin}/pkg/web.js');
      await TonyStore.open('init', { backend: 'memory' }); // loads the wasm
      const dir = await IndexedDbDir.load('contract-' + Date.now());
      postMessage(TonyStore.checkBackend(dir));`;
    const worker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })), { type: 'module' });
    return new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => resolve(data);
      worker.onerror = (e) => reject(new Error(e.message));
    });
  }, WORKER_WITHOUT_SYNC_HANDLES(''));
  assert.strictEqual(violation, null);
  assert.deepStrictEqual(errors, []);
});
