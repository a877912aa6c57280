// Live changes through the Node package (pkg/, from scripts/build-pkg): subscribe and watch
// see exactly the commits that changed their path, once each, in order, replay from `since`,
// survive throwing listeners, and end when the store closes.
import test from 'node:test';
import assert from 'node:assert';
import { TonyStore } from '../pkg/node.js';

let counter = 0;
const memory = () => TonyStore.open(`live-${process.pid}-${counter++}`, { backend: 'memory' });
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

test('subscribe: each commit that changed the path, once, after the commit returns', async () => {
  const store = await memory();
  const seen = [];
  const unsubscribe = store.subscribe('users', (change) => seen.push(change));
  store.commit({ path: 'users.ann', value: { age: 30 } });
  assert.deepStrictEqual(seen, [], 'delivered in a microtask, not inside commit');
  store.commit({ path: 'other', value: 1 });                  // not below users
  store.commit({ path: 'users.ann.age', value: 30 });         // the same value: no change
  store.commit({ path: 'users.bob', value: { age: 7 } });
  await tick();
  assert.deepStrictEqual(seen, [
    { commit: 1, paths: ['users'] },                          // the first commit made the document
    { commit: 4, paths: ['users.bob.age'] },
  ]);
  unsubscribe();
  store.commit({ path: 'users.cy', value: 1 });
  await tick();
  assert.strictEqual(seen.length, 2, 'nothing after unsubscribe');
  store.close();
});

test('subscribe: transactions notify when their last participant commits', async () => {
  const store = await memory();
  const seen = [];
  store.subscribe('', (change) => seen.push(change.commit));
  const tx = store.beginTransaction(2, 60_000);
  assert.strictEqual(store.joinTransaction(tx, { path: 'a', value: 1 }).state, 'waiting');
  await tick();
  assert.deepStrictEqual(seen, []);
  assert.strictEqual(store.joinTransaction(tx, { path: 'b', value: 2 }).state, 'committed');
  await tick();
  assert.deepStrictEqual(seen, [1]);
  store.close();
});

test('a throwing listener does not break the commit or the other listeners', async () => {
  const store = await memory();
  const seen = [];
  const reported = [];
  // Listener errors are reported like an event listener's: through reportError when the
  // runtime has one (browsers, workerd), else thrown from a microtask.
  globalThis.reportError = (err) => reported.push(err.message);
  try {
    store.subscribe('a', () => { throw new Error('listener failed'); });
    store.subscribe('a', (change) => seen.push(change.commit));
    assert.strictEqual(store.commit({ path: 'a', value: 1 }), 1);
    await tick();
    assert.deepStrictEqual(seen, [1]);
    assert.deepStrictEqual(reported, ['listener failed']);
  } finally {
    delete globalThis.reportError;
    store.close();
  }
});

test('watch: replays from since, then follows live commits; ends at close', async () => {
  const store = await memory();
  store.commit({ path: 'doc.title', value: 'one' });
  store.commit({ path: 'x', value: 1 });
  store.commit({ path: 'doc.title', value: 'two' });
  const got = [];
  const done = (async () => {
    for await (const change of store.watch('doc', { since: 0 })) got.push(change);
  })();
  await tick();
  assert.deepStrictEqual(got.map((c) => c.commit), [1, 3], 'replayed');
  store.commit({ path: 'doc.body', value: 'text' });
  store.commit({ path: 'y', value: 2 });
  await tick();
  assert.deepStrictEqual(got.map((c) => c.commit), [1, 3, 4]);
  assert.deepStrictEqual(got[2].paths, ['doc.body']);
  store.commit({ path: 'doc.title', value: 'three' });     // commit 6
  store.close();                                             // delivers it, then ends
  await done;
  assert.deepStrictEqual(got.map((c) => c.commit), [1, 3, 4, 6]);
});

test('watch: without since only new commits; break and abort stop it', async () => {
  const store = await memory();
  store.commit({ path: 'a', value: 1 });
  const first = [];
  const broke = (async () => {
    for await (const change of store.watch('a')) {
      first.push(change.commit);
      break;
    }
  })();
  const controller = new AbortController();
  const second = [];
  const aborted = (async () => {
    for await (const change of store.watch('a', { signal: controller.signal })) second.push(change.commit);
  })();
  await tick();
  store.commit({ path: 'a', value: 2 });
  await broke;
  assert.deepStrictEqual(first, [2]);
  await tick();
  controller.abort();
  await aborted;
  assert.deepStrictEqual(second, [2]);
  store.commit({ path: 'a', value: 3 });
  await tick();
  assert.deepStrictEqual(second, [2], 'nothing after abort');
  store.close();
});

test('misuse gets coded errors', async () => {
  const store = await memory();
  const code = (fn, want) => assert.throws(fn, (e) => e.code === want, want);
  code(() => store.subscribe('a..b', () => {}), 'invalid_path');
  code(() => store.subscribe('a', 'not a function'), 'invalid_argument');
  code(() => store.watch('a', { since: -1 }), 'invalid_argument');
  code(() => store.watch('a', { since: 1.5 }), 'invalid_argument');
  code(() => store.watch('a', 5), 'invalid_option');
  code(() => store.watch('a', { signal: {} }), 'invalid_option');
  store.close();
  code(() => store.subscribe('a', () => {}), 'closed');
  code(() => store.watch('a'), 'closed');
});
