// Sharing and the IndexedDB fallback in headless Firefox ESR: two tabs share one OPFS store,
// see each other's commits live, and the second keeps every acknowledged commit after the
// first (which held the store) closes; with OPFS sync access handles removed, a store falls
// back to IndexedDB and persists across reopening.
import test from 'node:test';
import assert from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../scripts/serve.mjs';
import { launchFirefox, needsFirefox } from '../scripts/firefox.mjs';
import { withoutSyncHandles, wrongReads } from '../scripts/page-scenarios.mjs';

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

test('Firefox: two tabs share a store; the second keeps going after the first closes', needsFirefox({ timeout: 180_000 }), async (t) => {
  const { tab, errors } = await setup(t);
  const name = `ff-shared-${Date.now()}`;
  const open = (page) =>
    page.evaluate(async (name) => {
      const { TonyStore } = await import('/pkg/browser.js');
      window.store = await TonyStore.open(name);
      window.seen = [];
      await window.store.subscribe('', (c) => window.seen.push(c.commit));
      return window.store.head;
    }, name);
  const commitMany = (page, prefix, n) =>
    page.evaluate(async (prefix, n) => {
      const acked = [];
      const failed = [];
      for (let i = 0; i < n; i++) {
        try {
          acked.push([await window.store.commit({ path: `${prefix}.i${i}`, value: i }), `${prefix}.i${i}`]);
        } catch (e) {
          failed.push(e.code);
        }
      }
      return { acked, failed };
    }, prefix, n);
  const a = await tab();
  const b = await tab();
  assert.strictEqual(await open(a), 0);
  assert.strictEqual(await open(b), 0);
  const both = await Promise.all([commitMany(a, 'a', 15), commitMany(b, 'b', 15)]);
  assert.deepStrictEqual(both.flatMap((r) => r.failed), []);
  const acked = both.flatMap((r) => r.acked);
  assert.deepStrictEqual(acked.map(([n]) => n).sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i + 1));
  await b.waitForFunction(() => window.seen.length === 30, { timeout: 10_000 });

  const running = commitMany(b, 'b2', 20);
  await new Promise((r) => setTimeout(r, 30));
  await a.close({ runBeforeUnload: true });
  const after = await running;
  assert.ok(after.failed.every((code) => code === 'interrupted') && after.failed.length <= 1, `failed: ${after.failed}`);
  acked.push(...after.acked);
  assert.deepStrictEqual(await b.evaluate(wrongReads, acked), []);
  assert.deepStrictEqual(errors, []);
});

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
