// A browser store on OPFS as a replica of an edge primary: two tabs share the replica, follow a
// Durable Object primary in workerd (on another origin, with CORS), commit through it with
// preconditions, see another writer's commits live, keep following after the tab that held
// the store closes, and queue commits while the primary is down. Runs in Chromium and in Firefox
// ESR (scripts/browsers.mjs), each against a primary of its own.
import assert from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { serve } from '../scripts/serve.mjs';
import { eachBrowser } from '../scripts/browsers.mjs';
import { installPacked } from '../scripts/packed-project.mjs';
import { bundle, config, start } from '../scripts/workerd-harness.mjs';

const project = installPacked('tonystore-sync-');

/** The primary: a TonyStoreObject, its answers open to other origins. */
const PRIMARY = `
import { TonyStoreObject, version } from 'tonystore';
export { TonyStoreObject };
export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === '/version') return Response.json({ version: version(), runtime: navigator.userAgent });
    const answer = await env.STORE.get(env.STORE.idFromName('main')).fetch(request);
    const headers = new Headers(answer.headers);
    headers.set('access-control-allow-origin', '*');
    return new Response(answer.body, { status: answer.status, headers });
  },
};
`;

eachBrowser('two tabs share an OPFS replica of an edge primary', { timeout: 180_000 }, async (t, browser) => {
  const dir = path.join(project, `primary-${browser.name}`);
  await bundle(project, dir, PRIMARY);
  fs.writeFileSync(path.join(dir, 'config.capnp'), config({ STORE: 'TonyStoreObject' }));
  fs.mkdirSync(path.join(dir, 'disk'), { recursive: true });
  const primary = await start(dir, true);
  t.after(primary.stop);
  const direct = async (body) => (await fetch(`${primary.base}/commit`, { method: 'POST', body: JSON.stringify(body) })).json();
  assert.deepStrictEqual(await direct({ path: 'doc', value: { title: 'one' } }), { commit: 1, head: 1 });

  const server = await serve(0);
  t.after(() => server.close());
  const profile = await browser.profile();
  const errors = [];
  // One name for every tab: the tabs of a profile share the replica.
  const replica = `replica-${Date.now()}`;
  const tab = async (inProfile = profile) => {
    const page = await inProfile.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/style.css`);
    await page.evaluate(async ([name, url]) => {
      const { TonyStore } = await import('/pkg/browser.js');
      window.store = await TonyStore.open(name);
      window.syncErrors = [];
      window.rejected = [];
      window.sync = await window.store.sync(url, {
        queue: true,
        onError: (e) => window.syncErrors.push(e.code),
        onRejected: (e, commit) => window.rejected.push([e.code, commit.patches]),
      });
      await window.sync.pull();
    }, [replica, primary.base]);
    return page;
  };
  const a = await tab();
  assert.strictEqual(await a.evaluate(() => window.store.head), 1);
  assert.deepStrictEqual(await a.evaluate(() => window.store.readAt('doc')), { title: 'one' });

  // Commits go through the primary, with its numbers; preconditions are checked there.
  assert.strictEqual(await a.evaluate(() => window.sync.commit({ path: 'doc.title', value: 'two' }, { match: { path: 'doc.title', value: 'one' } })), 2);
  assert.strictEqual(await a.evaluate(() => window.store.readAt('doc.title')), 'two');
  assert.strictEqual(await a.evaluate(() => window.sync.commit({ path: 'doc.title', value: 'lost' }, { match: { path: 'doc.title', value: 'one' } }).catch((e) => e.code)), 'precondition_failed');

  // A second tab shares the replica; another writer's commit reaches both live.
  const b = await tab();
  await b.evaluate(() => { window.seen = []; return window.store.subscribe('', (c) => window.seen.push(c.commit)); });
  await direct({ path: 'other', value: 'writer' });
  await browser.waitFor(a, () => window.store.head === 3, null, 10_000);
  await browser.waitFor(b, () => window.seen.includes(3), null, 10_000);

  // The tab holding the store closes: the other takes over and keeps following the primary.
  await a.close({ runBeforeUnload: true });
  await direct({ path: 'after', value: 'takeover' });
  await browser.waitFor(b, () => window.seen.includes(4), null, 15_000);
  assert.strictEqual(await b.evaluate(() => window.store.readAt('after')), 'takeover');
  assert.strictEqual(await b.evaluate(() => window.sync.commit({ path: 'from-b', value: true })), 5);
  assert.deepStrictEqual(await b.evaluate(() => window.syncErrors), []);

  // A second replica (another browser profile: its own OPFS; in Firefox, another Firefox) catches
  // up, and commits from each replica reach the other through the primary.
  const c = await tab(await browser.profile());
  assert.strictEqual(await c.evaluate(() => window.store.head), 5);
  assert.strictEqual(await c.evaluate(() => window.sync.commit({ path: 'from-c', value: 'hello' })), 6);
  await browser.waitFor(b, () => window.store.head === 6, null, 10_000);
  assert.strictEqual(await b.evaluate(() => window.store.readAt('from-c')), 'hello');
  assert.strictEqual(await b.evaluate(() => window.sync.commit({ path: 'from-b', value: 'back' })), 7);
  await browser.waitFor(c, () => window.store.head === 7, null, 10_000);
  await c.close();

  // Offline: the primary stops; commits are queued and shown at once; when it is back they go
  // out in order and the one whose precondition fails there is reported and dropped.
  await primary.stop();
  assert.strictEqual(await b.evaluate(() => window.sync.commit({ path: 'offline', value: 1 })), null);
  assert.strictEqual(await b.evaluate(() => window.sync.commit({ path: 'doc.title', value: 'never' }, { match: { path: 'doc.title', value: 'one' } })), null);
  assert.strictEqual(await b.evaluate(() => window.sync.queued()), 2);
  assert.deepStrictEqual(await b.evaluate(async () => [await window.store.readAt('offline'), await window.store.readAt('doc.title')]), [1, 'never']);
  const restarted = await start(dir, true);
  t.after(restarted.stop);
  // The replica follows the address it was given: the primary comes back on a new port, so
  // point a new sync at it (the queue is the store's, kept in <name>.queue).
  await b.evaluate(async (url) => {
    await window.sync.close();
    window.sync = await window.store.sync(url, { queue: true, onRejected: (e, commit) => window.rejected.push([e.code, commit.patches]) });
  }, restarted.base);
  for (let i = 0; i < 150 && (await b.evaluate(() => window.sync.queued())) > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.strictEqual(await b.evaluate(() => window.sync.queued()), 0, 'the queue is sent');
  await browser.waitFor(b, () => window.store.head === 8, null, 10_000);
  assert.deepStrictEqual(await b.evaluate(() => window.rejected), [['precondition_failed', { path: 'doc.title', value: 'never' }]]);
  assert.deepStrictEqual(await b.evaluate(async () => [await window.store.readAt('offline'), await window.store.readAt('doc.title'), window.store.head]), [1, 'two', 8]);
  assert.deepStrictEqual(errors, []);
});
