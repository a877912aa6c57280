// End to end in headless Chromium and Firefox ESR (scripts/browsers.mjs): the demo page commits,
// shows the document as a tree, the path's timeline and each commit's diff, scrubs history,
// replaces a value, shares the store with a second tab (each sees the other's commits live),
// survives a reload on OPFS, streams, and renders; with no page errors and nothing logged as an
// error. The page is driven with calls both drivers share (`$eval`, `click`, `waitForSelector`).
import assert from 'node:assert';
import { serve } from '../scripts/serve.mjs';
import { eachBrowser } from '../scripts/browsers.mjs';

const text = (page, selector) => page.$eval(selector, (el) => el.textContent);
/** Types `value` into the field `selector`, as a user would (an `input` event). */
const fill = (page, selector, value) =>
  page.$eval(selector, (el, value) => { el.value = value; el.dispatchEvent(new Event('input', { bubbles: true })); }, value);
const setChecked = (page, selector, checked) =>
  page.$eval(selector, (el, checked) => { el.checked = checked; el.dispatchEvent(new Event('change', { bubbles: true })); }, checked);
/** Shows the path `path` (the field's `change`). */
const show = async (page, path) => {
  await fill(page, '#read-path', path);
  await page.$eval('#read-path', (el) => el.dispatchEvent(new Event('change')));
};
/** Moves the history slider to `commit`. */
const scrub = (page, commit) => page.$eval('#at', (el, commit) => { el.value = commit; el.dispatchEvent(new Event('input')); }, String(commit));

eachBrowser('the demo page', { timeout: 180_000 }, async (t, browser) => {
  const server = await serve(0);
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address().port}/`;
  const profile = await browser.profile();
  const errors = [];
  const tab = async () => {
    const p = await profile.newPage();
    p.on('pageerror', (e) => errors.push(e.message));
    p.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
    await p.goto(url);
    await p.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    return p;
  };
  const page = await tab();
  assert.match(await page.evaluate(() => navigator.userAgent), browser.userAgent);
  const head = (p) => text(p, '#head');
  assert.strictEqual(await head(page), '0', 'a fresh profile starts with an empty store');

  // Two commits.
  await fill(page, '#commit-text', 'todo: {title: first, done: false}');
  await page.click('#commit');
  await browser.waitFor(page, () => document.getElementById('head').textContent === '1');
  await fill(page, '#commit-path', 'todo.done');
  await fill(page, '#commit-text', 'true');
  await page.click('#commit');
  await browser.waitFor(page, () => document.getElementById('head').textContent === '2');
  await show(page, 'todo');
  await browser.waitFor(page, () => document.getElementById('value').textContent.includes('done: true'));
  // The document as a tree.
  assert.deepStrictEqual(await page.$$eval('#tree .key', (keys) => keys.map((k) => k.textContent)), ['title: ', 'done: ']);

  // The timeline of the path, newest first, with times; a commit's diff, its ops highlighted.
  await browser.waitFor(page, () => document.querySelectorAll('#history li').length === 2);
  assert.deepStrictEqual(await page.$$eval('#history li', (lis) => lis.map((li) => li.dataset.commit)), ['2', '1']);
  assert.strictEqual(await page.$$eval('#history time', (ts) => ts.filter((t) => !Number.isNaN(Date.parse(t.dateTime))).length), 2);
  await page.click('#history li[data-commit="2"]');
  await browser.waitFor(page, () => document.getElementById('diff-commit').textContent === '2');
  assert.strictEqual(await text(page, '#diff'), '{done: !replace {from: false to: true}}');
  assert.strictEqual(await text(page, '#diff .op-replace'), '!replace {from: false to: true}}');

  // Scrub back to commit 1.
  await scrub(page, 1);
  await browser.waitFor(page, () => document.getElementById('value').textContent === '{title: first done: false}');
  assert.strictEqual(await text(page, '#diff'), '!replace {from: null to: {title: first done: false}}');

  // Replace instead of merge.
  await fill(page, '#commit-path', 'todo');
  await fill(page, '#commit-text', '{title: second}');
  await setChecked(page, '#commit-replace', true);
  await page.click('#commit');
  await browser.waitFor(page, () => document.getElementById('value').textContent === '{title: second}');
  assert.strictEqual(await head(page), '3');

  // A second tab shares the store, and each sees the other's commits live.
  const second = await tab();
  assert.strictEqual(await head(second), '3');
  await fill(second, '#commit-path', 'note');
  await fill(second, '#commit-text', '"from the second tab"');
  await second.click('#commit');
  await browser.waitFor(page, () => document.getElementById('head').textContent === '4', null, 10_000);
  await browser.waitFor(page, () => document.getElementById('live').textContent === 'commit 4 changed note');
  await fill(page, '#commit-path', 'note');
  await fill(page, '#commit-text', '"and back"');
  await setChecked(page, '#commit-replace', false);
  await page.click('#commit');
  await browser.waitFor(second, () => document.getElementById('head').textContent === '5', null, 10_000);
  await second.close({ runBeforeUnload: true });

  // Reload: the data is still there (OPFS), the past included.
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  assert.strictEqual(await head(page), '5');
  await show(page, 'todo');
  await browser.waitFor(page, () => document.getElementById('value').textContent === '{title: second}');
  await scrub(page, 1);
  await browser.waitFor(page, () => document.getElementById('value').textContent === '{title: first done: false}');

  // Streaming with progress.
  await fill(page, '#stream-items', '5000');
  await page.click('#stream');
  await browser.waitFor(page, () => document.getElementById('stream-result').textContent.startsWith('streamed'), null, 60_000);
  assert.strictEqual(await page.$eval('#stream-progress', (p) => p.value), 1);

  // The screenshot is not blank: many distinct byte values in the PNG body.
  const png = await page.screenshot({ fullPage: true });
  assert.ok(png.length > 10_000, `screenshot is ${png.length} bytes`);
  assert.ok(new Set(png.subarray(100)).size > 200, 'the screenshot has varied content');
  assert.deepStrictEqual(errors, []);
});
