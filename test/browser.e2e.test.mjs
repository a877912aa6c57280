// End to end in headless Chromium: the demo page commits, shows the document as a tree, the
// path's timeline and each commit's diff, scrubs history, replaces a value, shares the store
// with a second tab (each sees the other's commits live), survives a reload on OPFS, streams,
// and renders.
import test from 'node:test';
import assert from 'node:assert';
import { chromium } from 'playwright-core';
import { serve } from '../scripts/serve.mjs';

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

test('the demo page in Chromium', { timeout: 180_000 }, async (t) => {
  const server = await serve(0);
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address().port}/`;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
  t.after(() => browser.close());
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  const head = (p) => p.textContent('#head');

  // Two commits.
  await page.fill('#commit-text', 'todo: {title: first, done: false}');
  await page.click('#commit');
  await page.waitForFunction(() => document.getElementById('head').textContent === '1');
  await page.fill('#commit-path', 'todo.done');
  await page.fill('#commit-text', 'true');
  await page.click('#commit');
  await page.waitForFunction(() => document.getElementById('head').textContent === '2');
  await page.fill('#read-path', 'todo');
  await page.dispatchEvent('#read-path', 'change');
  await page.waitForFunction(() => document.getElementById('value').textContent.includes('done: true'));
  // The document as a tree.
  assert.deepStrictEqual(await page.$$eval('#tree .key', (keys) => keys.map((k) => k.textContent)), ['title: ', 'done: ']);

  // The timeline of the path, newest first, with times; a commit's diff, its ops highlighted.
  await page.waitForFunction(() => document.querySelectorAll('#history li').length === 2);
  assert.deepStrictEqual(await page.$$eval('#history li', (lis) => lis.map((li) => li.dataset.commit)), ['2', '1']);
  assert.strictEqual(await page.$$eval('#history time', (ts) => ts.filter((t) => !Number.isNaN(Date.parse(t.dateTime))).length), 2);
  await page.click('#history li[data-commit="2"]');
  await page.waitForFunction(() => document.getElementById('diff-commit').textContent === '2');
  assert.strictEqual(await page.textContent('#diff'), '{done: !replace {from: false to: true}}');
  assert.strictEqual(await page.textContent('#diff .op-replace'), '!replace {from: false to: true}}');

  // Scrub back to commit 1.
  await page.$eval('#at', (el) => { el.value = '1'; el.dispatchEvent(new Event('input')); });
  await page.waitForFunction(() => document.getElementById('value').textContent === '{title: first done: false}');
  assert.strictEqual(await page.textContent('#diff'), '!replace {from: null to: {title: first done: false}}');

  // Replace instead of merge.
  await page.fill('#commit-path', 'todo');
  await page.fill('#commit-text', '{title: second}');
  await page.check('#commit-replace');
  await page.click('#commit');
  await page.waitForFunction(() => document.getElementById('value').textContent === '{title: second}');
  assert.strictEqual(await head(page), '3');

  // A second tab shares the store, and each sees the other's commits live.
  const second = await context.newPage();
  second.on('pageerror', (e) => errors.push(e.message));
  await second.goto(url);
  await second.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  assert.strictEqual(await head(second), '3');
  await second.fill('#commit-path', 'note');
  await second.fill('#commit-text', '"from the second tab"');
  await second.click('#commit');
  await page.waitForFunction(() => document.getElementById('head').textContent === '4', null, { timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById('live').textContent === 'commit 4 changed note');
  await page.fill('#commit-path', 'note');
  await page.fill('#commit-text', '"and back"');
  await page.uncheck('#commit-replace');
  await page.click('#commit');
  await second.waitForFunction(() => document.getElementById('head').textContent === '5', null, { timeout: 10_000 });
  await second.close({ runBeforeUnload: true });

  // Reload: the data is still there (OPFS).
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  assert.strictEqual(await head(page), '5');

  // Streaming with progress.
  await page.fill('#stream-items', '5000');
  await page.click('#stream');
  await page.waitForFunction(() => document.getElementById('stream-result').textContent.startsWith('streamed'), null, { timeout: 60_000 });
  assert.strictEqual(await page.$eval('#stream-progress', (p) => p.value), 1);

  // The screenshot is not blank: many distinct byte values in the PNG body.
  const png = await page.screenshot({ fullPage: true });
  assert.ok(png.length > 10_000, `screenshot is ${png.length} bytes`);
  assert.ok(new Set(png.subarray(100)).size > 200, 'the screenshot has varied content');
  assert.deepStrictEqual(errors, []);
});
