// Several tabs of one origin share one OPFS store (one tab's worker owns it, the others send
// their calls there): three pages commit and read concurrently, see each other's commits live,
// and when the owner's page closes mid-way another takes over without losing any commit that
// was acknowledged. Also: a read-only handle, and `share: false` keeping the store exclusive.
// Each test runs in Chromium and in Firefox ESR (scripts/browsers.mjs).
import assert from 'node:assert';
import { serve } from '../scripts/serve.mjs';
import { eachBrowser } from '../scripts/browsers.mjs';
import { wrongReads } from '../scripts/page-scenarios.mjs';

/** `page()` opens a tab of the demo server's origin, all in one profile of `browser`. */
async function setup(t, browser) {
  const server = await serve(0);
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address().port}/style.css`;
  const profile = await browser.profile();
  const errors = [];
  const page = async () => {
    const p = await profile.newPage();
    p.on('pageerror', (e) => errors.push(e.message));
    await p.goto(url);
    return p;
  };
  return { page, errors };
}

/** Opens the store `name` in `page` (window entry), keeping it as `window.store`. */
const open = (page, name, options = {}) =>
  page.evaluate(async ([name, options]) => {
    const { TonyStore } = await import('/pkg/browser.js');
    // The tab's own worker object, so a test can kill it as a crash would.
    window.worker = new Worker('/pkg/worker.js', { type: 'module' });
    window.store = await TonyStore.open(name, { ...options, worker: window.worker });
    window.seen = [];
    window.unsubscribe = await window.store.subscribe('', (change) => window.seen.push(change.commit));
    return window.store.head;
  }, [name, options]);

/** Commits `count` values at `tab.i` in `page`; returns the acknowledged commit numbers, and
 * the codes of refused calls. */
const commitMany = (page, tab, count) =>
  page.evaluate(async ([tab, count]) => {
    const acked = [];
    const failed = [];
    for (let i = 0; i < count; i++) {
      try {
        acked.push([await window.store.commit({ path: `${tab}.i${i}`, value: i }), `${tab}.i${i}`]);
      } catch (err) {
        failed.push(err.code);
      }
    }
    return { acked, failed };
  }, [tab, count]);

eachBrowser('three tabs share one store; the owner closes mid-way; nothing acknowledged is lost', { timeout: 180_000 }, async (t, browser) => {
  const { page, errors } = await setup(t, browser);
  const name = `shared-${Date.now()}`;
  const [a, b, c] = [await page(), await page(), await page()];
  assert.strictEqual(await open(a, name), 0);
  assert.strictEqual(await open(b, name), 0);
  assert.strictEqual(await open(c, name), 0);

  // All three commit concurrently: one numbering, no commit lost.
  const first = await Promise.all([commitMany(a, 'a', 20), commitMany(b, 'b', 20), commitMany(c, 'c', 20)]);
  const acked = first.flatMap((r) => r.acked);
  assert.deepStrictEqual(first.flatMap((r) => r.failed), []);
  assert.deepStrictEqual(acked.map(([n]) => n).sort((x, y) => x - y), Array.from({ length: 60 }, (_, i) => i + 1));
  // Every tab saw every commit through its subscription.
  for (const p of [a, b, c]) {
    await browser.waitFor(p, () => window.seen.length === 60, null, 10_000);
    assert.deepStrictEqual(await p.evaluate(() => window.seen), Array.from({ length: 60 }, (_, i) => i + 1));
  }

  // The owner (the first tab) closes while the others are committing.
  const running = [commitMany(b, 'b2', 30), commitMany(c, 'c2', 30)];
  await new Promise((r) => setTimeout(r, 50));
  await a.close({ runBeforeUnload: true });
  const second = await Promise.all(running);
  for (const r of second) {
    // Only a call in flight when the owner went away may fail, and only as `interrupted`.
    assert.ok(r.failed.every((code) => code === 'interrupted'), `codes: ${r.failed}`);
    assert.ok(r.failed.length <= 2, `failed: ${r.failed.length}`);
  }
  acked.push(...second.flatMap((r) => r.acked));

  // A new tab joins; every acknowledged commit reads back, at its commit, in every tab.
  const d = await page();
  const head = await open(d, name);
  assert.ok(head >= acked.length, `head ${head}, acknowledged ${acked.length}`);
  for (const p of [b, c, d]) {
    assert.deepStrictEqual(await p.evaluate(wrongReads, acked), []);
  }
  assert.deepStrictEqual(errors, []);
});

eachBrowser('the owner tab crashes mid-way: another takes over, nothing acknowledged is lost', { timeout: 180_000 }, async (t, browser) => {
  const { page } = await setup(t, browser);
  const name = `crash-${Date.now()}`;
  const [a, b, c] = [await page(), await page(), await page()];
  await open(a, name); // the first tab owns the store
  await open(b, name);
  await open(c, name);
  const acked = (await commitMany(a, 'a', 10)).acked;
  const running = [commitMany(b, 'b', 40), commitMany(c, 'c', 40)];
  await new Promise((r) => setTimeout(r, 30));
  // No pagehide, no close: the owner's worker dies as in a crash (its locks and file handles
  // go with it; it says goodbye to no one).
  await a.evaluate(() => window.worker.terminate());
  const results = await Promise.all(running);
  t.diagnostic(`after the crash: ${results.map((r) => `${r.acked.length} acknowledged, failed: [${r.failed}]`).join("; ")}`);
  for (const r of results) {
    assert.ok(r.failed.every((code) => code === 'interrupted'), `codes: ${r.failed}`);
    assert.ok(r.failed.length <= 2, `failed: ${r.failed.length}`);
    acked.push(...r.acked);
  }
  assert.ok(acked.length >= 10 + 80 - 4);
  assert.deepStrictEqual(await b.evaluate(wrongReads, acked), []);
  // Numbers are unique: no commit was made twice under two numbers or lost between owners.
  const numbers = acked.map(([n]) => n);
  assert.strictEqual(new Set(numbers).size, numbers.length);
});

eachBrowser('a read-only handle reads and refuses changes; share: false keeps a store to one tab', { timeout: 120_000 }, async (t, browser) => {
  const { page, errors } = await setup(t, browser);
  const name = `ro-${Date.now()}`;
  const [a, b] = [await page(), await page()];
  await open(a, name);
  await a.evaluate(() => window.store.commit({ path: 'x', value: 1 }));
  await open(b, name, { readOnly: true });
  assert.strictEqual(await b.evaluate(() => window.store.readAt('x')), 1);
  assert.strictEqual(await b.evaluate(() => window.store.commit({ path: 'x', value: 2 }).catch((e) => e.code)), 'read_only');
  // Live: the read-only tab sees the writer's commits.
  await a.evaluate(() => window.store.commit({ path: 'x', value: 3 }));
  await browser.waitFor(b, () => window.seen.includes(2), null, 10_000);

  const exclusive = `ex-${Date.now()}`;
  await open(a, exclusive, { share: false });
  const code = await b.evaluate(async (name) => {
    const { TonyStore } = await import('/pkg/browser.js');
    return TonyStore.open(name, { share: false }).then(() => 'opened', (e) => e.code);
  }, exclusive);
  assert.strictEqual(code, 'locked');
  assert.deepStrictEqual(errors, []);
});
