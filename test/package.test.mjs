// The assembled npm package (pkg/, from scripts/build-pkg): Node entry and the workerd entry.
import test from 'node:test';
import assert from 'node:assert';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cargoVersion = fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8').match(/^version = "([^"]+)"/m)[1];

test('the node entry loads the wasm and reports the crate version', () => {
  const tonystore = require(path.join(root, 'pkg/node/tonystore.js'));
  assert.strictEqual(tonystore.version(), cargoVersion);
});

test('package.json exports every runtime condition', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'pkg/package.json'), 'utf8'));
  for (const condition of ['browser', 'worker', 'workerd', 'node', 'types', 'default']) {
    assert.ok(pkg.exports['.'][condition], `missing export condition ${condition}`);
    const target = path.join(root, 'pkg', pkg.exports['.'][condition]);
    assert.ok(fs.existsSync(target), `${condition} -> ${target} exists`);
  }
  assert.strictEqual(pkg.version, cargoVersion);
});

async function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

test('the web entry runs inside workerd', async (t) => {
  const port = await freePort();
  const workerd = path.join(root, 'node_modules/.bin/workerd');
  const child = spawn(workerd, ['serve', path.join(root, 'edge/config.capnp'), `--socket-addr=http=127.0.0.1:${port}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  let body;
  for (let i = 0; i < 100 && body === undefined; i++) {
    try {
      body = await (await fetch(`http://127.0.0.1:${port}/`)).json();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.ok(body, 'workerd answered');
  assert.strictEqual(body.version, cargoVersion);
  assert.strictEqual(body.runtime, 'Cloudflare-Workers');
});
