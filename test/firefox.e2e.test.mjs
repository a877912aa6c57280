// End to end in headless Firefox ESR: the demo page (served from www/ with the package built by
// scripts/build-pkg) commits twice, reads the past value back, and finds its data again after a
// reload (the store lives in OPFS, in the page's worker), with no page errors and nothing logged as
// an error.
import test from 'node:test';
import assert from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../scripts/serve.mjs';
import { launchFirefox, needsFirefox } from '../scripts/firefox.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('the demo page in Firefox', needsFirefox({ timeout: 180_000 }), async (t) => {
  assert.ok(fs.existsSync(path.join(root, 'pkg/web/tonystore_bg.wasm')), 'no package in pkg/: run scripts/build-pkg first');
  const server = await serve(0);
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address().port}/`;
  const browser = await launchFirefox();
  t.after(() => browser.close());
  assert.match(await browser.version(), /firefox/i);
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));

  const ready = async () => {
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  };
  const text = (id) => page.$eval(`#${id}`, (el) => el.textContent);
  const waitText = (id, expected) =>
    page.waitForFunction((id, expected) => document.getElementById(id).textContent === expected, { timeout: 10_000 }, id, expected)
      .catch(async (e) => {
        throw new Error(`#${id} never became ${JSON.stringify(expected)}; it shows ${JSON.stringify(await text(id))} (${e.message})`);
      });
  const setValue = (id, value, event) =>
    page.$eval(`#${id}`, (el, value, event) => {
      el.value = value;
      if (event) el.dispatchEvent(new Event(event));
    }, value, event);
  const commit = async (commitPath, tony, head) => {
    await setValue('commit-path', commitPath);
    await setValue('commit-text', tony);
    await page.click('#commit');
    await waitText('head', head);
  };

  await page.goto(url);
  await ready();
  assert.match(await page.evaluate(() => navigator.userAgent), /Firefox\//);
  assert.strictEqual(await text('head'), '0', 'a fresh profile starts with an empty store');

  // Two commits; the head shows the latest value, and the first commit's value stays readable.
  await commit('todo', '{title: first, done: false}', '1');
  await commit('todo.done', 'true', '2');
  await setValue('read-path', 'todo', 'change');
  await waitText('value', '{title: first done: true}');
  await setValue('at', '1', 'input');
  await waitText('value', '{title: first done: false}');

  // Reload: the store reopens from OPFS with both commits.
  await page.reload();
  await ready();
  assert.strictEqual(await text('head'), '2');
  await setValue('read-path', 'todo', 'change');
  await waitText('value', '{title: first done: true}');
  await setValue('at', '1', 'input');
  await waitText('value', '{title: first done: false}');

  assert.deepStrictEqual(errors, []);
});
