// The window entry (pkg/browser.js: the store in a dedicated worker) in headless Chromium and
// Firefox ESR (each test runs in both, scripts/browsers.mjs): bad
// arguments come back as coded errors, values structured clone cannot send are invalid_value
// naming where, and after close() every call settles with `closed` instead of hanging; the whole
// API answers with the worker API's types; errors are TonyStoreErrors; `open(name, { worker })`
// takes the app's worker; and the worker entry refuses OPFS in a window.
import assert from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { serve } from '../scripts/serve.mjs';
import { eachBrowser } from '../scripts/browsers.mjs';
import { cargoVersion, root } from '../scripts/packed-project.mjs';

/** Opens a page of the demo server (for its origin) in a fresh profile of `browser`; returns
 * `page`. The test fails if the page reports an uncaught error, other than those matching one of
 * `expected` (errors the test causes on purpose, that a browser reports as the page's). */
async function page(t, browser, expected = []) {
  const server = await serve(0);
  t.after(() => server.close());
  const p = await (await browser.profile()).newPage();
  const errors = [];
  p.on('pageerror', (e) => { if (!expected.some((re) => re.test(e.message))) errors.push(e.message); });
  t.after(() => assert.deepStrictEqual(errors, []));
  await p.goto(`http://127.0.0.1:${server.address().port}/style.css`);
  return p;
}

eachBrowser('window proxy: coded errors for bad input, and closed (never a hang) after close()', { timeout: 120_000 }, async (t, browser) => {
  const r = await (await page(t, browser)).evaluate(async () => {
    const { TonyStore } = await import('/pkg/browser.js');
    // How a call settles: its value, or `code: message`; `hung` if not within 5 s.
    const settle = (promise) => Promise.race([
      Promise.resolve(promise).then((v) => ({ value: v }), (e) => ({ error: `${e.code}: ${e.message}` })),
      new Promise((resolve) => setTimeout(() => resolve({ error: 'hung' }), 5000)),
    ]);
    const name = `proxy-${Math.random().toString(36).slice(2)}`;
    const store = await TonyStore.open(name);
    const out = {
      badPath: await settle(store.readAt(123)),
      badCommit: await settle(store.readAt('a', 'x')),
      badPatch: await settle(store.commit({ value: 1 })),
      fn: await settle(store.commit({ path: 'a', value: { b: [0, () => 1] } })),
      symbol: await settle(store.commit([{ path: 'a', value: 1 }, { path: 'b', value: { s: Symbol('s') } }])),
      date: await settle(store.commit({ path: 'a', value: { when: new Date(0) } })),
      map: await settle(store.commit({ path: 'a', value: new Map() })),
      deep: await settle(store.commit({ path: 'a', value: JSON.parse('['.repeat(300) + ']'.repeat(300)) })),
      proto: await settle(store.commit({ path: 'p', value: JSON.parse('{"__proto__": {"polluted": 1}}') })),
      ok: await settle(store.commit({ path: 'a', value: 1 })),
    };
    const read = await store.readAt('p');
    out.protoOwn = Object.hasOwn(read, '__proto__') && Object.getPrototypeOf(read) === Object.prototype && read.polluted === undefined;
    const inFlight = store.readAt('a');
    const closing = store.close();
    out.inFlight = await settle(inFlight);
    out.close = await settle(closing);
    out.after = {
      commit: await settle(store.commit({ path: 'a', value: 2 })),
      readAt: await settle(store.readAt('a')),
      readTonyAt: await settle(store.readTonyAt('a')),
      history: await settle(store.history('a')),
      log: await settle(store.log()),
      diff: await settle(store.diff('a', 1)),
      changes: await settle(store.changes('a', 0)),
      stats: await settle(store.stats()),
      beginTransaction: await settle(store.beginTransaction(2, 1000)),
      joinTransaction: await settle(store.joinTransaction(1, { path: 'a', value: 1 })),
      flush: await settle(store.flush()),
      readStream: await settle(store.readStream('a').getReader().read()),
      badArgument: await settle(store.readAt(123)),
      closeAgain: await settle(store.close()),
    };
    const again = await TonyStore.open(name);
    out.reopened = await settle(again.readAt('a'));
    await again.close();
    return out;
  });
  assert.match(r.badPath.error, /^invalid_path: path must be a string, not number/);
  assert.match(r.badCommit.error, /^invalid_argument: /);
  assert.match(r.badPatch.error, /^invalid_path: patches\.path must be a string/);
  assert.match(r.fn.error, /^invalid_value: patches\.value\.b\[1\] is a function, which cannot be sent/);
  assert.match(r.symbol.error, /^invalid_value: patches\[1\]\.value\.s is a symbol, which cannot be sent/);
  assert.match(r.date.error, /^invalid_value: patches: value\.when is a Date/);
  assert.match(r.map.error, /^invalid_value: patches: value is a Map/);
  assert.match(r.deep.error, /^too_deep: /);
  assert.deepStrictEqual([r.proto.value, r.ok.value, r.protoOwn], [1, 2, true]);
  assert.deepStrictEqual(r.inFlight, { value: 1 }, 'a call made before close() is answered');
  assert.deepStrictEqual(r.close, { value: undefined });
  for (const [method, outcome] of Object.entries(r.after)) {
    if (method === 'closeAgain') assert.deepStrictEqual(outcome, { value: undefined });
    else assert.match(outcome.error, /^closed: /, `${method} after close: ${JSON.stringify(outcome)}`);
  }
  assert.deepStrictEqual(r.reopened, { value: 1 }, 'close released the store');
});

eachBrowser('window proxy: the whole API with the worker API types, TonyStoreError, dispose', { timeout: 120_000 }, async (t, browser) => {
  const p = await page(t, browser);
  const r = await p.evaluate(async () => {
    const { TonyStore, TonyStoreError, version } = await import('/pkg/browser.js');
    const store = await TonyStore.open(`api-${Math.random().toString(36).slice(2)}`);
    const out = { version: version() };
    await store.commit({ path: 'doc', value: { title: 'one', tags: ['a'] } });
    await store.commit({ path: 'other', value: 1 });
    await store.commit({ path: 'doc.title', value: 'two' });
    out.headAfterCommits = store.head;
    const history = await store.history('doc.title');
    out.history = { isFloat64Array: history instanceof Float64Array, commits: Array.from(history) };
    const stats = await store.stats();
    out.stats = Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, typeof v]));
    const tx = await store.beginTransaction(2, 10_000);
    out.txId = typeof tx;
    out.join1 = await store.joinTransaction(tx, { path: 'tx.a', value: 1 });
    out.join2 = await store.joinTransaction(tx, { path: 'tx.b', value: 2 });
    out.headAfterTx = store.head;
    out.txValue = await store.readAt('tx');
    const bad = await store.readAt('a..b').catch((e) => e);
    out.error = { typed: bad instanceof TonyStoreError, isError: bad instanceof Error, name: bad.name, code: bad.code };
    await store[Symbol.asyncDispose]();
    const closed = await store.readAt('doc').catch((e) => e);
    out.afterDispose = { typed: closed instanceof TonyStoreError, code: closed.code };
    return out;
  });
  assert.strictEqual(r.version, cargoVersion);
  assert.strictEqual(r.headAfterCommits, 3);
  assert.deepStrictEqual(r.history, { isFloat64Array: true, commits: [1, 3] });
  assert.deepStrictEqual(r.stats, { entriesRead: 'number', level0Bytes: 'number', compactBytes: 'number', streamedFromLog: 'number', streamedPatched: 'number', readThroughArrayEdits: 'number', readFromOffsets: 'number', recovery: 'string' });
  assert.strictEqual(r.txId, 'number');
  assert.deepStrictEqual(r.join1, { state: 'waiting', joined: 1, of: 2 });
  assert.deepStrictEqual(r.join2, { state: 'committed', commit: 4 });
  assert.strictEqual(r.headAfterTx, 4, 'head follows commits made by a transaction');
  assert.deepStrictEqual(r.txValue, { a: 1, b: 2 });
  assert.deepStrictEqual(r.error, { typed: true, isError: true, name: 'TonyStoreError', code: 'invalid_path' });
  assert.deepStrictEqual(r.afterDispose, { typed: true, code: 'closed' });
});

eachBrowser('window proxy: log, diff, changes and replace answer like the worker API', { timeout: 120_000 }, async (t, browser) => {
  const p = await page(t, browser);
  const r = await p.evaluate(async () => {
    const { TonyStore } = await import('/pkg/browser.js');
    const store = await TonyStore.open(`history-${Math.random().toString(36).slice(2)}`);
    const before = Date.now();
    await store.commit({ path: 'doc', value: { title: 'one', n: 1 } });
    await store.commit({ path: 'other', value: 1 });
    await store.commit({ path: 'doc.title', value: 'two' });
    await store.commit({ path: 'doc', value: { title: 'three', n: 1 } });
    const log = await store.log();
    const out = {
      logCommits: log.map((l) => l.commit),
      logFields: log.every((l) => Number.isInteger(l.tx) && l.timestamp >= before - 1000 && l.timestamp <= Date.now() + 1000),
      logDoc: (await store.log({ path: 'doc', from: 2 })).map((l) => l.commit),
      diffEqual: await store.diff('doc', 3, 3),
      diff: await store.diff('doc.title', 1),
      changes: await store.changes('doc', 1),
    };
    await store.commit({ path: 'r', value: { a: 1, b: 2 } });
    await store.commit({ path: 'r', value: { a: 1 }, replace: true });
    out.replaced = await store.readAt('r');
    await store.close();
    return out;
  });
  assert.deepStrictEqual(r.logCommits, [1, 2, 3, 4]);
  assert.ok(r.logFields, 'every record has an integer tx and a timestamp of now');
  assert.deepStrictEqual(r.logDoc, [3, 4]);
  assert.strictEqual(r.diffEqual, null);
  assert.strictEqual(typeof r.diff, 'string');
  assert.match(r.diff, /three/);
  assert.deepStrictEqual(r.changes, [{ commit: 3, paths: ['doc.title'] }, { commit: 4, paths: ['doc.title'] }]);
  assert.deepStrictEqual(r.replaced, { a: 1 }, 'replace: true drops the keys the new value does not name');
});

eachBrowser('window proxy: replace: true where a scalar inside the value changes', { timeout: 120_000 }, async (t, browser) => {
  const p = await page(t, browser);
  const r = await p.evaluate(async () => {
    const { TonyStore } = await import('/pkg/browser.js');
    const store = await TonyStore.open(`replace-${Math.random().toString(36).slice(2)}`);
    await store.commit({ path: 'doc', value: { title: 'one', n: 1 } });
    await store.commit({ path: 'doc', value: { title: 'two' }, replace: true });
    const out = await Promise.all([store.readAt('doc'), store.readAt('doc', 1)]).catch((e) => `${e.code}: ${e.message}`);
    await store.close();
    return out;
  });
  assert.deepStrictEqual(r, [{ title: 'two' }, { title: 'one', n: 1 }]);
});

eachBrowser('window proxy: open(name, { worker }) takes a Worker, a URL or a factory; bad ones are invalid_option', { timeout: 120_000 }, async (t, browser) => {
  // Firefox reports the missing worker script of the last case as an error of the page.
  const p = await page(t, browser, [/^Loading Worker from .*\/pkg\/no-such-worker\.js.* was blocked/]);
  const r = await p.evaluate(async () => {
    const { TonyStore } = await import('/pkg/browser.js');
    const settle = (promise) => promise.then((v) => ({ value: v }), (e) => ({ error: `${e.code}: ${e.message}` }));
    const script = '/pkg/worker.js';
    const out = {};
    let started = 0;
    const forms = {
      instance: () => new Worker(script, { type: 'module' }),
      url: () => new URL(script, location.href),
      string: () => script,
      factory: () => () => { started++; return new Worker(script, { type: 'module' }); },
    };
    for (const [form, make] of Object.entries(forms)) {
      const name = `worker-${form}-${Math.random().toString(36).slice(2)}`;
      const store = await TonyStore.open(name, { worker: make() });
      await store.commit({ path: 'form', value: form });
      out[form] = await store.readAt('form');
      await store.close();
    }
    out.factoryCalls = started;
    out.notAWorker = await settle(TonyStore.open('x', { worker: 5 }));
    out.objectNotAWorker = await settle(TonyStore.open('x', { worker: { postMessage() {} } }));
    out.throwingFactory = await settle(TonyStore.open('x', { worker: () => { throw new Error('no worker for you'); } }));
    out.missingScript = await settle(TonyStore.open('x', { worker: '/pkg/no-such-worker.js' }));
    return out;
  });
  for (const form of ['instance', 'url', 'string', 'factory']) assert.strictEqual(r[form], form);
  assert.strictEqual(r.factoryCalls, 1);
  assert.match(r.notAWorker.error, /^invalid_option: options\.worker must be a Worker/);
  assert.match(r.objectNotAWorker.error, /^invalid_option: /);
  assert.match(r.throwingFactory.error, /^invalid_option: options\.worker: starting the worker failed: no worker for you/);
  assert.match(r.missingScript.error, /^internal: the store's worker failed to start/);
});

eachBrowser('the worker entry in a window refuses OPFS with unsupported instead of using memory', { timeout: 120_000 }, async (t, browser) => {
  const p = await page(t, browser);
  const r = await p.evaluate(async () => {
    const { TonyStore, TonyStoreError } = await import('/pkg/web.js');
    const settle = (promise) => promise.then(() => 'opened', (e) => ({ typed: e instanceof TonyStoreError, code: e.code, message: e.message }));
    const memory = await TonyStore.open('in-page', { backend: 'memory' });
    const commit = memory.commit({ path: 'a', value: 1 });
    memory.close();
    return { byDefault: await settle(TonyStore.open('x')), opfs: await settle(TonyStore.open('x', { backend: 'opfs' })), memoryCommit: commit };
  });
  for (const outcome of [r.byDefault, r.opfs]) {
    assert.strictEqual(outcome.typed, true);
    assert.strictEqual(outcome.code, 'unsupported');
    assert.match(outcome.message, /browser entry/);
  }
  assert.strictEqual(r.memoryCommit, 1, 'an explicit memory backend still works in a page');
});

eachBrowser('the package README examples marked `run: window` run in a page as written', { timeout: 120_000 }, async (t, browser) => {
  const readme = fs.readFileSync(path.join(root, 'pkg-config/README.md'), 'utf8');
  const examples = [...readme.matchAll(/<!-- run: window -->\n```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(examples.length >= 1);
  const p = await page(t, browser);
  for (const code of examples) {
    const js = esbuild.transformSync(code, { loader: 'ts', format: 'esm' }).code.replaceAll("from 'tonystore'", "from '/pkg/browser.js'").replaceAll('from "tonystore"', 'from "/pkg/browser.js"');
    // What the example logs, described in the page (the drivers' console messages differ: Firefox
    // gives no text for a typed array).
    await p.evaluate(() => {
      window.exampleDone = false;
      window.exampleLogs = [];
      const describe = (v) => (ArrayBuffer.isView(v) ? `${v.constructor.name}(${v.length}) [${Array.from(v).join(', ')}]` : String(v));
      console.log = (...values) => window.exampleLogs.push(values.map(describe).join(' '));
    });
    await p.addScriptTag({ type: 'module', content: `${js}\nwindow.exampleDone = true;` });
    await browser.waitFor(p, () => window.exampleDone);
    const logs = await p.evaluate(() => window.exampleLogs);
    assert.strictEqual(logs[0], 'false', `the past stays readable: ${logs.join(' | ')}`);
    assert.strictEqual(logs[1], 'Float64Array(2) [1, 2]', logs.join(' | '));
    assert.ok(logs.includes('changed meanwhile'), `the precondition failed as the README says: ${logs.join(' | ')}`);
    assert.ok(logs.includes('{"title":"write docs","done":false}'), `streamed the past as JSON: ${logs.join(' | ')}`);
  }
});
