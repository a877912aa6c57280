// A harness for running the packed package in Cloudflare workerd: bundle a worker module as
// wrangler does, write a workerd config (with Durable Objects on local disk), start workerd.
// Used by test/workerd.test.mjs and scripts/bench-durable.mjs.
import assert from 'node:assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { cargoVersion, root } from './packed-project.mjs';

/** A TCP port nobody listens on now. */
async function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Bundles `source` (a worker module's text) like wrangler — esbuild with the workerd conditions,
 * `.wasm` imports kept as modules workerd compiles — into `dir/out/`, resolving packages from
 * `project`; returns the wasm files it imports.
 */
export async function bundle(project, dir, source) {
  fs.mkdirSync(path.join(dir, 'out'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'worker.mjs'), source);
  const wasmFiles = [];
  await esbuild.build({
    absWorkingDir: project,
    entryPoints: [path.join(dir, 'worker.mjs')],
    outfile: path.join(dir, 'out/worker.js'),
    bundle: true,
    format: 'esm',
    conditions: ['workerd', 'worker', 'browser'],
    logLevel: 'warning',
    plugins: [{
      name: 'compiled-wasm',
      setup(build) {
        build.onResolve({ filter: /\.wasm$/ }, (args) => {
          const file = path.resolve(args.resolveDir, args.path);
          wasmFiles.push(file);
          return { path: `./${path.basename(file)}`, external: true };
        });
      },
    }],
  });
  for (const file of wasmFiles) fs.copyFileSync(file, path.join(dir, 'out', path.basename(file)));
  return wasmFiles;
}

/**
 * A workerd config serving `out/worker.js`; `durable` maps binding names to the Durable Object
 * classes the worker exports (SQL storage, on local disk), e.g. `{ STORE: 'TonyStoreObject' }`.
 */
export function config(durable = {}) {
  const classes = Object.entries(durable);
  const objects = classes.length === 0 ? '' : `  durableObjectNamespaces = [ ${classes
    .map(([, className]) => `(className = "${className}", uniqueKey = "tonystore-${className}", enableSql = true)`)
    .join(', ')} ],
  durableObjectStorage = (localDisk = "disk"),
  bindings = [ ${classes.map(([binding, className]) => `(name = "${binding}", durableObjectNamespace = "${className}")`).join(', ')} ],
`;
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .mainWorker)${classes.length ? ', (name = "disk", disk = (path = "disk", writable = true))' : ''} ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);
const mainWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "out/worker.js"),
    (name = "tonystore_bg.wasm", wasm = embed "out/tonystore_bg.wasm"),
  ],
  compatibilityDate = "2025-01-01",
${objects});
`;
}

/**
 * Starts workerd on `dir/config.capnp` (its `disk` service in `dir/disk` when `durable`);
 * resolves to `{ base, stop }` once `GET /version` answers with this build.
 */
export async function start(dir, durable = false) {
  const port = await freePort();
  const disk = durable ? ['--directory-path', `disk=${path.join(dir, 'disk')}`] : [];
  const child = spawn(path.join(root, 'node_modules/.bin/workerd'), ['serve', path.join(dir, 'config.capnp'), `--socket-addr=http=127.0.0.1:${port}`, ...disk], { stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    child.kill('SIGKILL');
    await exited;
  };
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 150; i++) {
    try {
      const hello = await (await fetch(`${base}/version`)).json();
      assert.deepStrictEqual(hello, { version: cargoVersion, runtime: 'Cloudflare-Workers' });
      return { base, stop };
    } catch (err) {
      if (err?.code === 'ERR_ASSERTION') throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('workerd did not answer');
}

