// A small app built with Vite, webpack and esbuild against the packed package, each following the
// package README's recipe, then loaded in headless Chromium and in headless Firefox ESR (each build
// made once, loaded in both: scripts/browsers.mjs). The build must emit the wasm and the
// store's worker; in the page the app opens a store (in the package's worker, or for esbuild the
// one the app passes as `worker`), commits, reads the past, and gets a TonyStoreError; its own
// worker imports the package too and must get a synchronous store on OPFS.
import assert from 'node:assert';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { build as viteBuild } from 'vite';
import webpack from 'webpack';
import { eachBrowser } from '../scripts/browsers.mjs';
import { cargoVersion, installPacked, root } from '../scripts/packed-project.mjs';

// The app. `run(options)` is the page; `own-worker.js` is a worker of the app's own.
const RUN = `
import { TonyStore, TonyStoreError, version } from 'tonystore';

export async function run(options) {
  const out = {};
  try {
    const store = await TonyStore.open('app-' + Math.random().toString(36).slice(2), options);
    const c1 = await store.commit({ path: 'todo', value: { title: 'bundled', done: false } });
    await store.commit({ path: 'todo.done', value: true });
    out.past = await store.readAt('todo.done', c1);
    out.now = await store.readAt('todo');
    const history = await store.history('todo.done');
    out.history = { type: history.constructor.name, commits: Array.from(history) };
    out.head = store.head;
    try {
      await store.readAt('a..b');
    } catch (err) {
      out.error = { typed: err instanceof TonyStoreError, code: err.code };
    }
    await store.close();
    out.version = version();
  } catch (err) {
    out.failed = String(err && err.code) + ': ' + String(err && err.message);
  }
  const own = new Worker(new URL('./own-worker.js', import.meta.url), { type: 'module' });
  out.ownWorker = await new Promise((resolve) => {
    own.onmessage = (event) => resolve(event.data);
    own.onerror = (event) => resolve({ failed: event.message || 'the worker failed to load' });
  });
  own.terminate();
  window.result = out;
}
`;
const OWN_WORKER = `
import { TonyStore } from 'tonystore';

async function main() {
  const name = 'own-' + Math.random().toString(36).slice(2);
  const store = await TonyStore.open(name);
  const commit = store.commit({ path: 'x', value: 1 });
  const value = store.readAt('x');
  store.close();
  const root = await navigator.storage.getDirectory();
  const names = [];
  for await (const key of root.keys()) names.push(key);
  return { synchronous: typeof commit === 'number', commit, value, inOpfs: names.includes(name) };
}
main().then((r) => postMessage(r), (err) => postMessage({ failed: String(err && err.code) + ': ' + String(err && err.message) }));
`;
const MAIN = `import { run } from './run.js';\nrun();\n`;
const MAIN_WITH_WORKER = `import { run } from './run.js';
run({ worker: () => new Worker(new URL('./tonystore-worker.js', import.meta.url), { type: 'module' }) });
`;
// (The empty icon keeps Firefox from asking for /favicon.ico, which the app does not have.)
const HTML = `<!doctype html><html><head><meta charset="utf-8"><title>app</title><link rel="icon" href="data:,"></head>
<body><script type="module" src="./src/main.js"></script></body></html>`;

const project = installPacked('tonystore-bundlers-');

/** A fresh copy of the app's sources in the project; returns its directory. */
function app(name, main = MAIN) {
  const dir = path.join(project, name);
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'src/run.js'), RUN);
  fs.writeFileSync(path.join(dir, 'src/own-worker.js'), OWN_WORKER);
  fs.writeFileSync(path.join(dir, 'src/main.js'), main);
  fs.writeFileSync(path.join(dir, 'index.html'), HTML);
  return dir;
}

/** Every file under `dir`, relative. */
function filesIn(dir) {
  return fs.readdirSync(dir, { recursive: true }).filter((f) => fs.statSync(path.join(dir, f)).isFile());
}

/** `build` made at its first call only; later calls share its output directory. */
function once(build) {
  let output;
  return () => (output ??= build());
}

/** Each bundler's build of the app; returns its output directory. */
const BUILDS = {
  vite: once(async () => {
    const dir = app('vite-app');
    await viteBuild({
      root: dir, logLevel: 'warn', configFile: false,
      build: { outDir: 'dist', emptyOutDir: true },
    });
    return path.join(dir, 'dist');
  }),
  webpack: once(async () => {
    const dir = app('webpack-app');
    const out = path.join(dir, 'dist');
    const stats = await new Promise((resolve, reject) => {
      webpack({
        mode: 'production', context: dir, entry: './src/main.js',
        output: { path: out, clean: true },
        performance: { hints: false },
      }, (err, result) => (err ? reject(err) : resolve(result)));
    });
    assert.ok(!stats.hasErrors(), stats.toString('errors-only'));
    fs.writeFileSync(path.join(out, 'index.html'), HTML.replace('./src/main.js', './main.js'));
    return out;
  }),
  esbuild: once(async () => {
    // The README's esbuild recipe: the package's worker as a second entry point, the wasm copied.
    const dir = app('esbuild-app', MAIN_WITH_WORKER);
    const out = path.join(dir, 'dist');
    await esbuild.build({
      absWorkingDir: dir,
      entryPoints: { main: 'src/main.js', 'own-worker': 'src/own-worker.js', 'tonystore-worker': 'tonystore/proxy-worker' },
      bundle: true, format: 'esm', outdir: 'dist', logLevel: 'warning',
    });
    fs.copyFileSync(path.join(project, 'node_modules/tonystore/web/tonystore_bg.wasm'), path.join(out, 'tonystore_bg.wasm'));
    fs.writeFileSync(path.join(out, 'index.html'), HTML.replace('./src/main.js', './main.js'));
    return out;
  }),
};

/** esbuild without the recipe: the package's worker is not in the output. */
const esbuildWithoutRecipe = once(async () => {
  const dir = app('esbuild-plain-app');
  await esbuild.build({ absWorkingDir: dir, entryPoints: ['src/main.js'], bundle: true, format: 'esm', outdir: 'dist', logLevel: 'warning' });
  fs.writeFileSync(path.join(dir, 'dist/index.html'), HTML.replace('./src/main.js', './main.js'));
  return path.join(dir, 'dist');
});

/** Serves `dir` on a loopback port. */
function serveDir(dir) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname).slice(1) || 'index.html';
    const file = path.resolve(dir, rel);
    if (!file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const wasmBytes = fs.readFileSync(path.join(root, 'pkg/web/tonystore_bg.wasm'));

eachBrowser('Vite, webpack and esbuild builds find the worker and the wasm, and the app works in the browser', { timeout: 300_000 }, async (t, browser) => {
  const profile = await browser.profile();
  for (const [bundler, build] of Object.entries(BUILDS)) {
    await t.test(bundler, async (t) => {
      const dist = await build();
      const files = filesIn(dist);
      const wasm = files.filter((f) => f.endsWith('.wasm'));
      assert.ok(wasm.length >= 1, `${bundler} emitted the wasm: ${files.join(', ')}`);
      for (const f of wasm) assert.ok(fs.readFileSync(path.join(dist, f)).equals(wasmBytes), `${f} is the package's wasm`);
      const scripts = files.filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(dist, f), 'utf8'));
      assert.ok(scripts.some((code) => code.includes('this worker already runs an open store')), `${bundler} emitted the store's worker`);

      const server = await serveDir(dist);
      t.after(() => server.close());
      const page = await profile.newPage();
      t.after(() => page.close());
      const errors = [];
      const missing = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('response', (r) => { if (r.status() >= 400) missing.push(r.url()); });
      await page.goto(`http://127.0.0.1:${server.address().port}/`);
      await browser.waitFor(page, () => window.result !== undefined, null, 60_000);
      const r = await page.evaluate(() => window.result);
      assert.strictEqual(r.failed, undefined, `${bundler}: ${r.failed}`);
      assert.deepStrictEqual(r, {
        past: false,
        now: { title: 'bundled', done: true },
        history: { type: 'Float64Array', commits: [1, 2] },
        head: 2,
        error: { typed: true, code: 'invalid_path' },
        version: cargoVersion,
        ownWorker: { synchronous: true, commit: 1, value: 1, inOpfs: true },
      });
      assert.deepStrictEqual(missing, [], 'no request failed');
      assert.deepStrictEqual(errors, []);
    });
  }
  await t.test('esbuild without the recipe: open rejects promptly, pointing at the worker option', async (t) => {
    const server = await serveDir(await esbuildWithoutRecipe());
    t.after(() => server.close());
    const page = await profile.newPage();
    t.after(() => page.close());
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await browser.waitFor(page, () => window.result !== undefined, null, 30_000);
    const r = await page.evaluate(() => window.result);
    assert.match(r.failed, /^internal: the store's worker failed to start or stopped .*open\(name, \{ worker \}\)/);
  });
});
