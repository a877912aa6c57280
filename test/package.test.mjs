// The packed npm package, installed into a blank project: Node (file store, streams, a second
// process) and workerd (a worker serving commit/readAt over loopback).
import test from 'node:test';
import assert from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cargoVersion = fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8').match(/^version = "([^"]+)"/m)[1];

/** A temp project with the packed tarball installed (offline: the package has no dependencies). */
function installPacked() {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-consumer-'));
  const tarball = execFileSync('npm', ['pack', path.join(root, 'pkg'), '--pack-destination', project, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop();
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', path.join(project, tarball)], { cwd: project, stdio: 'pipe' });
  return project;
}

const project = installPacked();

function runIn(dir, code) {
  const file = path.join(dir, `script-${Math.random().toString(36).slice(2)}.mjs`);
  fs.writeFileSync(file, code);
  return execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8' });
}

test('package.json exports every runtime condition, and the files exist', () => {
  const installed = path.join(project, 'node_modules/tonystore');
  const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  assert.strictEqual(pkg.version, cargoVersion);
  for (const condition of ['types', 'workerd', 'worker', 'node', 'browser', 'default']) {
    const target = pkg.exports['.'][condition];
    assert.ok(target, `export condition ${condition}`);
    const file = typeof target === 'string' ? target : target.default;
    assert.ok(fs.existsSync(path.join(installed, file)), `${condition} -> ${file}`);
  }
});

test('Node: a file store commits, time-travels, streams, and persists across processes', () => {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-node-'));
  const out = runIn(project, `
    import { TonyStore, version } from 'tonystore';
    const s = await TonyStore.open(${JSON.stringify(store)});
    const c1 = s.commit([{ path: 'doc', value: { title: 'one', items: [1, 2, 3] } }]);
    const c2 = s.commit([{ path: 'doc.title', value: 'two' }]);
    const c3 = s.commit([{ path: 'doc.items', tony: '!arraydiff {1: !delete 2}' }]);
    let streamed = '';
    for await (const chunk of s.readStream('doc', c2, { format: 'json', chunkBytes: 8 })) streamed += Buffer.from(chunk).toString();
    let code;
    try { s.commit([{ path: 'doc.items', tony: '!replace {from: [9], to: []}' }]); } catch (e) { code = e.code; }
    console.log(JSON.stringify({ version: version(), c1, c2, c3, at1: s.readAt('doc.title', c1), at3: s.readAt('doc', c3), streamed, code, head: s.head }));
    s.close();`);
  const r = JSON.parse(out);
  assert.strictEqual(r.version, cargoVersion);
  assert.deepStrictEqual([r.c1, r.c2, r.c3, r.head], [1, 2, 3, 3]);
  assert.strictEqual(r.at1, 'one');
  assert.deepStrictEqual(r.at3, { title: 'two', items: [1, 3] });
  assert.strictEqual(r.streamed, '{"title":"two","items":[1,2,3]}');
  assert.strictEqual(r.code, 'patch_rejected');
  // A second process reopens the store and sees everything.
  const again = JSON.parse(runIn(project, `
    import { TonyStore } from 'tonystore';
    const s = await TonyStore.open(${JSON.stringify(store)});
    console.log(JSON.stringify({ head: s.head, title: s.readAt('doc.title', 1), history: Array.from(s.history('doc.items')) }));
    s.close();`));
  assert.deepStrictEqual(again, { head: 3, title: 'one', history: [1, 3] });
});

test('Node: a second writer on the same directory gets locked', () => {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-lock-'));
  const out = runIn(project, `
    import { TonyStore } from 'tonystore';
    const a = await TonyStore.open(${JSON.stringify(store)});
    try { await TonyStore.open(${JSON.stringify(store)}); console.log('opened twice'); } catch (e) { console.log(e.code); }
    a.close();
    const b = await TonyStore.open(${JSON.stringify(store)});
    console.log('reopened', b.head);`);
  assert.strictEqual(out.trim(), 'locked\nreopened 0');
});

async function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

test('workerd: a worker serves commit and readAt over loopback', async (t) => {
  const dir = path.join(project, 'edge');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(root, 'edge/worker.mjs'), path.join(dir, 'worker.mjs'));
  const pkg = '../node_modules/tonystore';
  fs.writeFileSync(path.join(dir, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .mainWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);
const mainWorker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "tonystore/web.js", esModule = embed "${pkg}/web.js"),
    (name = "tonystore/core.js", esModule = embed "${pkg}/core.js"),
    (name = "tonystore/web/tonystore.js", esModule = embed "${pkg}/web/tonystore.js"),
    (name = "tonystore/web/tonystore_bg.wasm", wasm = embed "${pkg}/web/tonystore_bg.wasm"),
  ],
  compatibilityDate = "2025-01-01",
);
`);
  const port = await freePort();
  const child = spawn(path.join(root, 'node_modules/.bin/workerd'), ['serve', path.join(dir, 'config.capnp'), `--socket-addr=http=127.0.0.1:${port}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  let hello;
  for (let i = 0; i < 100 && !hello; i++) {
    try {
      hello = await (await fetch(base)).json();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.strictEqual(hello?.runtime, 'Cloudflare-Workers');
  const post = async (body) => (await fetch(`${base}/commit`, { method: 'POST', body: JSON.stringify(body) })).json();
  assert.deepStrictEqual(await post([{ path: 'counter', value: 1 }]), { commit: 1 });
  assert.deepStrictEqual(await post([{ path: 'counter', value: 2 }]), { commit: 2 });
  assert.deepStrictEqual(await (await fetch(`${base}/read?path=counter&at=1`)).json(), { value: 1, head: 2 });
  assert.deepStrictEqual(await (await fetch(`${base}/read?path=counter`)).json(), { value: 2, head: 2 });
  const bad = await fetch(`${base}/read?path=a..b`);
  assert.strictEqual(bad.status, 400);
  assert.strictEqual((await bad.json()).code, 'invalid_path');
});
