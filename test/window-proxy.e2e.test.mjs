// The window entry (pkg/browser.js: the store in a dedicated worker) in headless Chromium: bad
// arguments come back as coded errors, values structured clone cannot send are invalid_value
// naming where, and after close() every call settles with `closed` instead of hanging.
import test from 'node:test';
import assert from 'node:assert';
import { chromium } from 'playwright-core';
import { serve } from '../scripts/serve.mjs';

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

test('window proxy: coded errors for bad input, and closed (never a hang) after close()', { timeout: 120_000 }, async (t) => {
  const server = await serve(0);
  t.after(() => server.close());
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${server.address().port}/style.css`);
  const r = await page.evaluate(async () => {
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
  assert.deepStrictEqual(errors, []);
});
