// The package in Cloudflare workerd, bundled as wrangler does (esbuild with the workerd
// conditions; the .wasm stays a module workerd compiles): the edge example on a memory store
// (commit, read, history, live changes as server-sent events, log shipping to and from a Node
// store), and stores on Durable Objects (SQL storage on local disk): the storage contract run
// inside workerd, commits surviving a restart of workerd, HTTP errors by code.
import test from 'node:test';
import assert from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { installPacked, root } from '../scripts/packed-project.mjs';
import { bundle, config, start as startWorkerd } from '../scripts/workerd-harness.mjs';
import { TonyStore as NodeTonyStore } from '../pkg/node.js';

const project = installPacked('tonystore-workerd-');
/** Starts workerd for `dir`, stopped when the test ends. */
const start = async (t, dir, durable = false) => {
  const server = await startWorkerd(dir, durable);
  t.after(server.stop);
  return server;
};

const json = async (response) => ({ status: response.status, body: await response.json() });

test('workerd: the edge example on a memory store: commit, read, history, server-sent events, log shipping with Node', async (t) => {
  const dir = path.join(project, 'edge');
  const source = fs.readFileSync(path.join(root, 'edge/worker.mjs'), 'utf8');
  assert.deepStrictEqual([...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]), ['tonystore'], 'the edge worker imports only the package entry');
  assert.ok(!source.includes('initSync'), 'the edge worker leaves initialisation to the workerd entry');
  const wasm = await bundle(project, dir, source);
  assert.deepStrictEqual(wasm.map((f) => path.relative(project, f)), ['node_modules/tonystore/web/tonystore_bg.wasm'], 'the workerd entry imports the one wasm');
  fs.writeFileSync(path.join(dir, 'config.capnp'), config());
  const { base } = await start(t, dir);

  const post = async (body) => (await fetch(`${base}/commit`, { method: 'POST', body: JSON.stringify(body) })).json();
  assert.deepStrictEqual(await post([{ path: 'counter', value: 1 }]), { commit: 1, head: 1 });
  assert.deepStrictEqual(await post({ path: 'other', value: 'x' }), { commit: 2, head: 2 });
  assert.deepStrictEqual(await post({ patches: [{ path: 'counter', value: 2 }], match: { path: 'counter', value: 1 } }), { commit: 3, head: 3 });
  assert.deepStrictEqual(await (await fetch(`${base}/read?path=counter&at=1`)).json(), { value: 1, head: 3 });
  assert.deepStrictEqual(await (await fetch(`${base}/read?path=counter`)).json(), { value: 2, head: 3 });
  assert.deepStrictEqual(await (await fetch(`${base}/history?path=counter`)).json(), { history: [1, 3] });
  assert.deepStrictEqual(await (await fetch(`${base}/diff?path=counter&from=1`)).json(), { diff: '!replace {from: 1 to: 2}' });
  assert.strictEqual(await (await fetch(`${base}/stream?path=&format=json`)).text(), '{"counter":2,"other":"x"}');

  // Live changes as server-sent events: the replay since commit 0, then a new commit.
  const controller = new AbortController();
  const watch = await fetch(`${base}/watch?path=counter&since=0`, { signal: controller.signal });
  assert.strictEqual(watch.headers.get('content-type'), 'text/event-stream');
  const reader = watch.body.getReader();
  let received = '';
  const nextEvents = async (n) => {
    while (received.split('\n\n').length - 1 < n) received += new TextDecoder().decode((await reader.read()).value);
    return received.split('\n\n').filter(Boolean).slice(0, n).map((e) => JSON.parse(e.split('data: ')[1]));
  };
  assert.deepStrictEqual(await nextEvents(2), [{ commit: 1, paths: ['counter'] }, { commit: 3, paths: ['counter'] }]);
  assert.deepStrictEqual(await post([{ path: 'counter', value: 3 }]), { commit: 4, head: 4 });
  assert.deepStrictEqual((await nextEvents(3))[2], { commit: 4, paths: ['counter'] });
  controller.abort();

  // Log shipping across runtimes: the edge store's history into a Node store, and back.
  const shipment = new Uint8Array(await (await fetch(`${base}/export?after=0`)).arrayBuffer());
  const replica = await NodeTonyStore.open('edge-replica', { backend: 'memory' });
  assert.deepStrictEqual(replica.import(shipment), { skipped: 0, added: 4, head: 4 });
  assert.strictEqual(replica.readAt('counter', 1), 1);
  replica.commit({ path: 'from-node', value: true });
  assert.deepStrictEqual(await json(await fetch(`${base}/import`, { method: 'POST', body: replica.export(4) })), { status: 200, body: { skipped: 0, added: 1, head: 5 } });
  assert.deepStrictEqual(await (await fetch(`${base}/read?path=from-node`)).json(), { value: true, head: 5 });
  assert.deepStrictEqual((await json(await fetch(`${base}/import`, { method: 'POST', body: replica.export(0) }))).body, { skipped: 5, added: 0, head: 5 });
  replica.close();

  // Errors: a status by code, and the code in the body.
  const cases = [
    [fetch(`${base}/read?path=a..b`), 400, 'invalid_path'],
    [fetch(`${base}/read?path=counter&at=99`), 404, 'no_such_commit'],
    [fetch(`${base}/commit`, { method: 'POST', body: JSON.stringify({ patches: { path: 'counter', value: 9 }, match: { path: 'counter', value: 0 } }) }), 409, 'precondition_failed'],
    [fetch(`${base}/commit`, { method: 'POST', body: '{not json' }), 400, 'invalid_argument'],
    [fetch(`${base}/import`, { method: 'POST', body: new Uint8Array([1, 2, 3]) }), 500, 'corrupt'],
    [fetch(`${base}/nowhere`), 404, 'not_found'],
  ];
  for (const [request, status, code] of cases) {
    const { status: got, body } = await json(await request);
    assert.deepStrictEqual([got, body.code], [status, code], body.message);
  }
});

/** A worker with the package's Durable Object class and a contract check in another object. */
const DURABLE_WORKER = `
import { DurableObjectDir, TonyStore, TonyStoreObject, version } from 'tonystore';
export { TonyStoreObject };
export class ContractCheck {
  constructor(ctx) { this.ctx = ctx; }
  async fetch() {
    const dir = new DurableObjectDir(this.ctx.storage, { prefix: 'contract/' });
    return Response.json({ violation: TonyStore.checkBackend(dir) });
  }
}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/version') return Response.json({ version: version(), runtime: navigator.userAgent });
    if (url.pathname === '/contract') return env.CONTRACT.get(env.CONTRACT.idFromName('c')).fetch(request);
    const name = request.headers.get('x-store') ?? 'main';
    return env.STORE.get(env.STORE.idFromName(name)).fetch(request);
  },
};
`;

test('workerd: stores in Durable Objects meet the storage contract and survive a restart', { timeout: 120_000 }, async (t) => {
  const dir = path.join(project, 'durable');
  await bundle(project, dir, DURABLE_WORKER);
  fs.writeFileSync(path.join(dir, 'config.capnp'), config({ STORE: 'TonyStoreObject', CONTRACT: 'ContractCheck' }));
  fs.mkdirSync(path.join(dir, 'disk'), { recursive: true });
  let server = await start(t, dir, true);

  assert.deepStrictEqual(await (await fetch(`${server.base}/contract`)).json(), { violation: null });

  const post = async (body, store = 'main') =>
    json(await fetch(`${server.base}/commit`, { method: 'POST', body: JSON.stringify(body), headers: { 'x-store': store } }));
  const big = Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `user ${i}` }));
  assert.deepStrictEqual(await post({ path: 'users', value: big }), { status: 200, body: { commit: 1, head: 1 } });
  for (let i = 2; i <= 40; i++) assert.strictEqual((await post({ path: `k${i % 5}`, value: i })).body.commit, i);
  assert.deepStrictEqual(await post({ path: 'elsewhere', value: true }, 'second'), { status: 200, body: { commit: 1, head: 1 } });

  // workerd stops hard (no close) and starts again: every acknowledged commit is there.
  await server.stop();
  server = await start(t, dir, true);
  const read = async (query, store = 'main') => (await fetch(`${server.base}/read?${query}`, { headers: { 'x-store': store } })).json();
  assert.deepStrictEqual(await read('path=k0'), { value: 40, head: 40 });
  assert.deepStrictEqual(await read('path=k1&at=36'), { value: 36, head: 40 });
  assert.deepStrictEqual((await read('path=users[2999]')).value, { id: 2999, name: 'user 2999' });
  assert.deepStrictEqual(await read('path=elsewhere', 'second'), { value: true, head: 1 });
  const streamed = await (await fetch(`${server.base}/stream?path=users&format=json`)).text();
  assert.deepStrictEqual(JSON.parse(streamed), big);
  assert.deepStrictEqual((await (await fetch(`${server.base}/history?path=k2`)).json()).history, [2, 7, 12, 17, 22, 27, 32, 37]);
  assert.strictEqual((await post({ path: 'after', value: 'restart' })).body.commit, 41);
});

test('sync: a Node store follows a Durable Object primary, commits through it, and catches up after a cut', { timeout: 120_000 }, async (t) => {
  const dir = path.join(project, 'sync');
  await bundle(project, dir, DURABLE_WORKER);
  fs.writeFileSync(path.join(dir, 'config.capnp'), config({ STORE: 'TonyStoreObject', CONTRACT: 'ContractCheck' }));
  fs.mkdirSync(path.join(dir, 'disk'), { recursive: true });
  let server = await start(t, dir, true);
  const primary = () => server.base;
  const direct = async (body) =>
    (await fetch(`${primary()}/commit`, { method: 'POST', body: JSON.stringify(body) })).json();
  await direct({ path: 'doc', value: { title: 'from the primary' } });

  const replica = await NodeTonyStore.open('replica', { backend: 'memory' });
  t.after(() => replica.close());
  const errors = [];
  // The replica follows whatever URL the primary has now (it moves when workerd restarts).
  const sync = replica.sync('http://primary', {
    onError: (err) => errors.push(err.code),
    fetch: (url, init) => fetch(String(url).replace('http://primary', primary()), init),
  });
  t.after(() => sync.close());
  const until = async (what, done) => {
    for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(done(), what);
  };
  const seen = [];
  replica.subscribe('', (change) => seen.push(change.commit));
  await until('the first pull', () => replica.head === 1);
  assert.deepStrictEqual(replica.readAt('doc'), { title: 'from the primary' });

  // Commits go to the primary and come back with its numbers; preconditions hold there.
  assert.strictEqual(await sync.commit({ path: 'doc.title', value: 'edited' }, { match: { path: 'doc.title', value: 'from the primary' } }), 2);
  assert.strictEqual(replica.head, 2);
  assert.strictEqual(replica.readAt('doc.title'), 'edited');
  await assert.rejects(sync.commit({ path: 'doc.title', value: 'lost update' }, { match: { path: 'doc.title', value: 'from the primary' } }), (e) => e.code === 'precondition_failed');
  await assert.rejects(sync.commit({ path: 'a..b', value: 1 }), (e) => e.code === 'invalid_path');

  // Another writer commits on the primary: the replica learns of it live.
  await direct({ path: 'other', value: 'writer' });
  await until('the live update', () => replica.head === 3);
  assert.deepStrictEqual(seen, [1, 2, 3]);

  // The primary goes away: reads stay local, commits fail with io; it comes back: the replica
  // reconnects and catches up.
  await server.stop();
  assert.strictEqual(replica.readAt('other'), 'writer');
  await assert.rejects(sync.commit({ path: 'x', value: 1 }), (e) => e.code === 'io');
  server = await start(t, dir, true);
  await direct({ path: 'after', value: 'restart' });
  await until('catching up after the cut', () => replica.head === 4);
  assert.strictEqual(replica.readAt('after'), 'restart');
  assert.ok(errors.every((code) => code === 'io'), `background errors: ${errors}`);

  // workerd killed in the middle of a burst of commits that the replica follows: every commit
  // the primary acknowledged is there after the restart, once, in the primary and the replica.
  const acknowledged = [];
  const burst = (async () => {
    for (let i = 0; i < 200; i++) {
      try {
        const answer = await fetch(`${primary()}/commit`, { method: 'POST', body: JSON.stringify({ path: `burst.b${i}`, value: i }) });
        if (answer.ok) acknowledged.push([(await answer.json()).commit, i]);
      } catch {
        // Not acknowledged: the primary was down.
      }
    }
  })();
  await until('part of the burst', () => acknowledged.length >= 60);
  await server.stop();
  await burst;
  server = await start(t, dir, true);
  const primaryHead = (await (await fetch(`${primary()}/read?path=burst`)).json()).head;
  await until('the replica catches up after the restart', () => replica.head === primaryHead);
  for (const [commit, i] of acknowledged) {
    assert.strictEqual(replica.readAt(`burst.b${i}`, commit), i, `acknowledged commit ${commit}`);
  }
  const burstValues = Object.values(replica.readAt('burst'));
  assert.strictEqual(new Set(burstValues).size, burstValues.length, 'no commit twice');
  // The one commit in flight at the kill may have been written without its answer arriving.
  const extra = primaryHead - 4 - acknowledged.length;
  assert.ok(extra === 0 || extra === 1, `the primary holds the acknowledged commits (and ${extra} more)`);

  // Offline for 1,000 commits (the replica stops following), then it catches up in one pull.
  await sync.close();
  for (let i = 0; i < 1000; i++) await direct({ path: `bulk.k${i % 50}`, value: i });
  const catchUp = replica.sync('http://primary', {
    live: false,
    fetch: (url, init) => fetch(String(url).replace('http://primary', primary()), init),
  });
  const before = replica.head;
  assert.strictEqual(await catchUp.pull(), before + 1000);
  assert.strictEqual(replica.readAt('bulk.k49'), 999);
  // Commit before + 1 + i wrote i: by commit before + 101, the last write to k7 was i = 57.
  assert.strictEqual(replica.readAt('bulk.k7', before + 101), 57);
  await catchUp.close();

  // A commit made locally (not through the primary) makes the histories diverge: reported
  // once the primary has a commit of that number.
  replica.commit({ path: 'local', value: 'oops' });
  const diverging = replica.sync('http://primary', {
    onError: (err) => errors.push(err.code),
    fetch: (url, init) => fetch(String(url).replace('http://primary', primary()), init),
  });
  t.after(() => diverging.close());
  await direct({ path: 'more', value: 1 });
  await until('the divergence is reported', () => errors.includes('diverged'));
});

test('sync with a queue: offline commits show at once, are sent in order when the primary is back, a refused one is reported and dropped', { timeout: 120_000 }, async (t) => {
  const dir = path.join(project, 'queue');
  await bundle(project, dir, DURABLE_WORKER);
  fs.writeFileSync(path.join(dir, 'config.capnp'), config({ STORE: 'TonyStoreObject', CONTRACT: 'ContractCheck' }));
  fs.mkdirSync(path.join(dir, 'disk'), { recursive: true });
  let server = await start(t, dir, true);
  const direct = async (body) => (await fetch(`${server.base}/commit`, { method: 'POST', body: JSON.stringify(body) })).json();
  await direct({ path: 'doc', value: { title: 'one', n: 1 } });

  const replicaDir = fs.mkdtempSync(path.join(project, 'replica-'));
  const open = async () => {
    const replica = await NodeTonyStore.open(path.join(replicaDir, 'store'));
    const queue = await NodeTonyStore.open(path.join(replicaDir, 'queue'));
    const rejected = [];
    const sync = replica.sync('http://primary', {
      queue,
      onError: () => {},
      onRejected: (err, commit) => rejected.push([err.code, commit.patches]),
      fetch: (url, init) => fetch(String(url).replace('http://primary', server.base), init),
    });
    return { replica, queue, sync, rejected, close: async () => { await sync.close(); replica.close(); queue.close(); } };
  };
  const until = async (what, done) => {
    for (let i = 0; i < 300 && !done(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(done(), what);
  };
  let r = await open();
  await until('the first pull', () => r.replica.head === 1);
  assert.strictEqual(await r.sync.commit({ path: 'doc.n', value: 2 }), 2);

  // Offline: commits are queued, shown at once by reads at the head, kept across reopening.
  await server.stop();
  assert.strictEqual(await r.sync.commit({ path: 'doc.title', value: 'offline' }), null);
  assert.strictEqual(await r.sync.commit({ path: 'doc.n', value: 99 }, { match: { path: 'doc.n', value: 1 } }), null);
  assert.strictEqual(await r.sync.commit({ path: 'doc.extra', value: true }), null);
  assert.strictEqual(r.sync.queued, 3);
  assert.deepStrictEqual(r.replica.readAt('doc'), { title: 'offline', n: 99, extra: true });
  assert.strictEqual(r.replica.head, 2, 'nothing queued is a commit yet');
  assert.deepStrictEqual(r.replica.readAt('doc', 2), { title: 'one', n: 2 });
  await r.close();
  r = await open();
  assert.strictEqual(r.sync.queued, 3);
  assert.deepStrictEqual(r.replica.readAt('doc'), { title: 'offline', n: 99, extra: true });

  // The primary is back (with a commit from someone else): the queue goes out in order; the
  // commit whose precondition fails there is reported and dropped from the local view.
  server = await start(t, dir, true);
  await direct({ path: 'other', value: 'writer' });
  await until('the queue is sent', () => r.sync.queued === 0 && r.replica.head === 5);
  assert.deepStrictEqual(r.rejected, [['precondition_failed', { path: 'doc.n', value: 99 }]]);
  assert.deepStrictEqual(r.replica.readAt('doc'), { title: 'offline', n: 2, extra: true });
  assert.deepStrictEqual((await (await fetch(`${server.base}/read?path=doc`)).json()).value, { title: 'offline', n: 2, extra: true });
  assert.deepStrictEqual(r.replica.log().map((c) => c.commit), [1, 2, 3, 4, 5]);
  await r.close();
});
