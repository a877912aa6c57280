// End to end in headless Chromium: the demo page commits, scrubs history, survives a reload on
// OPFS, refuses a second tab with `locked`, and renders.
import test from 'node:test';
import assert from 'node:assert';
import { chromium } from 'playwright-core';
import { serve } from '../scripts/serve.mjs';

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

test('the demo page in Chromium', async (t) => {
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

  // Scrub back to commit 1.
  await page.$eval('#at', (el) => { el.value = '1'; el.dispatchEvent(new Event('input')); });
  await page.waitForFunction(() => document.getElementById('value').textContent === '{title: first done: false}');
  assert.deepStrictEqual(await page.$$eval('#history li', (lis) => lis.map((li) => li.textContent)), ['commit 1', 'commit 2']);

  // A second tab gets `locked` promptly.
  const second = await context.newPage();
  await second.goto(url);
  await second.waitForSelector('body[data-ready="error"]', { timeout: 15_000 });
  assert.strictEqual(await second.getAttribute('body', 'data-error-code'), 'locked');
  await second.close();

  // Reload: the data is still there (OPFS), and the lock was released on page hide.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  assert.strictEqual(await page.textContent('#head'), '2');

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

  // A tab that asks to wait gets the store once the holder closes (here: closes the page).
  const waiter = await context.newPage();
  await waiter.goto(`${url}style.css`);
  await waiter.evaluate(() => {
    window.opened = import('/pkg/browser.js')
      .then(({ TonyStore }) => TonyStore.open('demo', { wait: true }))
      .then((store) => { window.head = store.head; return true; });
  });
  await new Promise((r) => setTimeout(r, 1000));
  assert.strictEqual(await waiter.evaluate(() => window.head), undefined, 'still waiting while the store is held');
  await page.close({ runBeforeUnload: true });
  await waiter.waitForFunction(() => window.head !== undefined, null, { timeout: 15_000 });
  assert.ok((await waiter.evaluate(() => window.head)) >= 2);
});
