// The IndexedDB fallback in headless Firefox ESR: with OPFS sync access handles removed, a store
// falls back to IndexedDB and persists across reopening. (Tabs sharing a store run in Firefox in
// test/multitab.e2e.test.mjs, like every test there.)
import test from 'node:test';
import assert from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../scripts/serve.mjs';
import { launchFirefox, needsFirefox } from '../scripts/firefox.mjs';
import { withoutSyncHandles } from '../scripts/page-scenarios.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function setup(t) {
  assert.ok(fs.existsSync(path.join(root, 'pkg/web/tonystore_bg.wasm')), 'no package in pkg/: run scripts/build-pkg first');
  const server = await serve(0);
  t.after(() => server.close());
  const browser = await launchFirefox();
  t.after(() => browser.close());
  const errors = [];
  const tab = async () => {
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/style.css`);
    return page;
  };
  return { tab, errors };
}

test('Firefox: without OPFS sync access handles, a store falls back to IndexedDB and persists', needsFirefox({ timeout: 120_000 }), async (t) => {
  const { tab, errors } = await setup(t);
  const page = await tab();
  const session = (name, body) => page.evaluate(withoutSyncHandles, [name, body]);
  const name = `ff-fallback-${Date.now()}`;
  assert.deepStrictEqual(await session(name, `return [await store.commit({ path: 'x', value: 1 }), await store.commit({ path: 'y', value: 2 })];`), [1, 2]);
  assert.deepStrictEqual(await session(name, `return [store.head, await store.readAt('x', 1), await store.readAt('y')];`), [2, 1, 2]);
  const inOpfs = await page.evaluate(async (name) => {
    const root = await navigator.storage.getDirectory();
    for await (const key of root.keys()) if (key === name) return true;
    return false;
  }, name);
  assert.strictEqual(inOpfs, false);
  assert.deepStrictEqual(errors, []);
});
