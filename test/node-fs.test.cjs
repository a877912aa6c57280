'use strict';
// The shipped Node fs backend, exercised directly: protocol, persistence and cross-process locking.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { NodeFsDir } = require('../pkg-config/node-fs.cjs');

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-js-'));

test('read/write/size/truncate round trip with a zero-filled hole', () => {
  const file = new NodeFsDir(tempDir()).open('f');
  assert.strictEqual(file.write(10, new Uint8Array([1, 2, 3])), 3);
  assert.strictEqual(file.size(), 13);
  assert.deepStrictEqual([...file.read(8, 5)], [0, 0, 1, 2, 3]);
  assert.strictEqual(file.read(12, 10).length, 1, 'a read at the end returns what exists');
  file.truncate(4);
  assert.strictEqual(file.size(), 4);
  file.flush();
  file.close();
});

test('a second open in this process is locked until close', () => {
  const dir = new NodeFsDir(tempDir());
  const first = dir.open('f');
  assert.throws(() => dir.open('f'), (e) => e.code === 'locked' && /locked by another writer/.test(e.message));
  first.close();
  dir.open('f').close();
});

test('another live process holding the file locks it; a dead holder does not', () => {
  const root = tempDir();
  const dir = new NodeFsDir(root);
  dir.open('f').close();
  const holder = `
    const { NodeFsDir } = require(${JSON.stringify(require.resolve('../pkg-config/node-fs.cjs'))});
    new NodeFsDir(${JSON.stringify(root)}).open('f');
    process.stdout.write('held');
    setTimeout(() => {}, 60000);`;
  const { spawn } = require('node:child_process');
  const child = spawn(process.execPath, ['-e', holder]);
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => {
      try {
        assert.throws(() => dir.open('f'), (e) => e.code === 'locked');
        child.kill('SIGKILL');
        child.once('exit', () => {
          try {
            dir.open('f').close(); // the stale lock of a killed process is taken over
            resolve();
          } catch (e) { reject(e); }
        });
      } catch (e) { child.kill('SIGKILL'); reject(e); }
    });
  });
});

test('data persists across processes', () => {
  const root = tempDir();
  const writer = `
    const { NodeFsDir } = require(${JSON.stringify(require.resolve('../pkg-config/node-fs.cjs'))});
    const f = new NodeFsDir(${JSON.stringify(root)}).open('f');
    f.write(0, new TextEncoder().encode('persisted')); f.flush(); f.close();`;
  const run = spawnSync(process.execPath, ['-e', writer]);
  assert.strictEqual(run.status, 0, String(run.stderr));
  const file = new NodeFsDir(root).open('f');
  assert.strictEqual(new TextDecoder().decode(file.read(0, file.size())), 'persisted');
  file.close();
});
