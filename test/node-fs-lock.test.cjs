'use strict';
// The Node fs backend's writer lock: exactly one winner among racing processes and racing
// worker_threads, stale locks (dead holder, reused pid, dead taker) taken over, live ones never.
// Run as a child (TONYSTORE_LOCK_CHILD=1), this file is a racer driven over IPC.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fork, spawnSync } = require('node:child_process');
const { Worker } = require('node:worker_threads');

const backend = path.join(__dirname, '../pkg-config/node-fs.cjs');
const { NodeFsDir } = require(backend);

if (process.env.TONYSTORE_LOCK_CHILD) {
  // Racer: on {dir, at} spin until `at`, try to open `f`, report; on 'release' close it.
  let held;
  process.on('message', (msg) => {
    if (msg === 'release') {
      held?.close();
      held = undefined;
      process.send('released');
      return;
    }
    while (Date.now() < msg.at);
    try {
      held = new NodeFsDir(msg.dir).open('f');
      process.send({ won: true });
    } catch (e) {
      process.send({ won: false, code: e.code, message: e.message });
    }
  });
  return;
}

const test = require('node:test');
const assert = require('node:assert');

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-lock-'));
const startOf = (pid) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
};
/** The pid of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid;
/** A lock file as another process would have written it. */
const writeLock = (lockPath, owner) =>
  fs.writeFileSync(lockPath, JSON.stringify({ host: os.hostname(), thread: 0, start: '1', token: `t${Math.random()}`, ...owner }));
const linux = fs.existsSync('/proc/self/stat');

/** Sends `msg` to every child and collects one reply from each. */
function ask(children, msg) {
  return Promise.all(children.map((child) => new Promise((resolve) => {
    child.once('message', resolve);
    child.send(msg);
  })));
}

test('racing processes: exactly one winner per trial, with no lock, a dead holder\'s, or a reused pid\'s', { timeout: 120_000 }, async () => {
  const children = Array.from({ length: 4 }, () => fork(__filename, { env: { ...process.env, TONYSTORE_LOCK_CHILD: '1' } }));
  try {
    const kinds = { none: 0, dead: 0, reused: 0 };
    for (let trial = 0; trial < 90; trial++) {
      const dir = tempDir();
      const kind = ['none', 'dead', 'reused'][trial % 3];
      kinds[kind]++;
      if (kind === 'dead') writeLock(path.join(dir, 'f.lock'), { pid: deadPid() });
      // A live pid (this test's) recorded with another start time: the pid was reused.
      if (kind === 'reused') writeLock(path.join(dir, 'f.lock'), { pid: process.pid, start: linux ? 'not-this-start' : null });
      const replies = await ask(children, { dir, at: Date.now() + 40 });
      const winners = replies.filter((r) => r.won).length;
      assert.strictEqual(winners, 1, `trial ${trial} (${kind} lock): ${JSON.stringify(replies)}`);
      for (const r of replies.filter((x) => !x.won)) assert.strictEqual(r.code, 'locked', r.message);
      assert.deepStrictEqual(fs.readdirSync(dir).sort(), ['f', 'f.lock'], 'no temp or takeover files remain');
      await ask(children, 'release');
      assert.deepStrictEqual(fs.readdirSync(dir), ['f'], 'closing removes the lock');
    }
    assert.deepStrictEqual(kinds, { none: 30, dead: 30, reused: 30 });
  } finally {
    for (const child of children) child.kill();
  }
});

test('racing worker_threads of one process: exactly one winner; the others get locked until it closes', { timeout: 60_000 }, async () => {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { NodeFsDir } = require(workerData.backend);
    const gate = new Int32Array(workerData.gate);
    Atomics.wait(gate, 0, 0);
    let file;
    try { file = new NodeFsDir(workerData.dir).open('f'); parentPort.postMessage({ won: true }); }
    catch (e) { parentPort.postMessage({ won: false, code: e.code }); }
    parentPort.once('message', () => { file?.close(); parentPort.postMessage('closed'); });`;
  for (let trial = 0; trial < 20; trial++) {
    const dir = tempDir();
    const gate = new SharedArrayBuffer(4);
    const workers = Array.from({ length: 4 }, () => new Worker(code, { eval: true, workerData: { backend, dir, gate } }));
    const replies = workers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); }));
    await new Promise((r) => setTimeout(r, 30)); // let every worker reach the gate
    Atomics.store(new Int32Array(gate), 0, 1);
    Atomics.notify(new Int32Array(gate), 0);
    const results = await Promise.all(replies);
    assert.strictEqual(results.filter((r) => r.won).length, 1, `trial ${trial}: ${JSON.stringify(results)}`);
    assert.ok(results.filter((r) => !r.won).every((r) => r.code === 'locked'));
    // The main thread is another thread of the same process: locked too, while the winner holds it.
    assert.throws(() => new NodeFsDir(dir).open('f'), (e) => e.code === 'locked');
    const winner = workers[results.findIndex((r) => r.won)];
    await new Promise((resolve) => { winner.once('message', resolve); winner.postMessage('close'); });
    new NodeFsDir(dir).open('f').close();
    await Promise.all(workers.map((w) => w.terminate()));
  }
});

test('a worker_thread that ends without closing releases its lock; one stopped by terminate() keeps it until the process ends', async () => {
  const hold = (dir, thenWhat) => new Worker(`
    const { parentPort } = require('node:worker_threads');
    new (require(${JSON.stringify(backend)}).NodeFsDir)(${JSON.stringify(dir)}).open('f');
    parentPort.postMessage('held');
    ${thenWhat}`, { eval: true });
  const ended = tempDir();
  const crash = hold(ended, "throw new Error('crash without closing');");
  await new Promise((resolve) => crash.once('exit', resolve).once('error', () => {}));
  new NodeFsDir(ended).open('f').close();
  const stopped = tempDir();
  const stuck = hold(stopped, 'setInterval(() => {}, 1000);');
  await new Promise((resolve) => stuck.once('message', resolve));
  await stuck.terminate();
  assert.throws(() => new NodeFsDir(stopped).open('f'), (e) => e.code === 'locked');
});

test('a lock held by this process (another thread, or this one) is never taken over', () => {
  const dir = tempDir();
  writeLock(path.join(dir, 'f.lock'), { pid: process.pid, start: linux ? startOf(process.pid) : null, thread: 99 });
  assert.throws(() => new NodeFsDir(dir).open('f'), (e) => e.code === 'locked');
  const file = new NodeFsDir(tempDir()).open('f');
  assert.throws(() => new NodeFsDir(path.dirname(file.lock.lockPath)).open('f'), (e) => e.code === 'locked');
  file.close();
});

test('a live holder process keeps its lock; once it is killed, the lock is taken over', async () => {
  const dir = tempDir();
  const child = fork(__filename, { env: { ...process.env, TONYSTORE_LOCK_CHILD: '1' } });
  try {
    const [reply] = await ask([child], { dir, at: 0 });
    assert.strictEqual(reply.won, true);
    const owner = JSON.parse(fs.readFileSync(path.join(dir, 'f.lock'), 'utf8'));
    assert.strictEqual(owner.pid, child.pid);
    assert.match(owner.token, /^[0-9a-f]{24}$/);
    if (linux) assert.strictEqual(owner.start, startOf(child.pid));
    assert.throws(() => new NodeFsDir(dir).open('f'), (e) => e.code === 'locked');
  } finally {
    child.kill('SIGKILL');
  }
  await new Promise((resolve) => child.once('exit', resolve));
  new NodeFsDir(dir).open('f').close();
  assert.deepStrictEqual(fs.readdirSync(dir), ['f']);
});

test('a lock of another host is never taken over (its liveness cannot be checked)', () => {
  const dir = tempDir();
  writeLock(path.join(dir, 'f.lock'), { pid: deadPid(), host: `not-${os.hostname()}` });
  assert.throws(() => new NodeFsDir(dir).open('f'), (e) => e.code === 'locked');
});

test('a taker that died mid-takeover does not brick the file; unreadable and legacy locks are taken over', () => {
  const dir = tempDir();
  const lock = path.join(dir, 'f.lock');
  writeLock(lock, { pid: deadPid(), token: 'gen1' });
  writeLock(`${lock}.gen1`, { pid: deadPid(), token: 'taker' });
  new NodeFsDir(dir).open('f').close();
  assert.deepStrictEqual(fs.readdirSync(dir), ['f']);
  for (const content of ['', '{"pid":', '12345']) {
    fs.writeFileSync(lock, content);
    new NodeFsDir(dir).open('f').close();
    assert.deepStrictEqual(fs.readdirSync(dir), ['f'], `lock content ${JSON.stringify(content)}`);
  }
});

test('a live takeover in progress makes a second taker fail with locked', () => {
  const dir = tempDir();
  const lock = path.join(dir, 'f.lock');
  writeLock(lock, { pid: deadPid(), token: 'gen1' });
  writeLock(`${lock}.gen1`, { pid: process.pid, start: linux ? startOf(process.pid) : null, token: 'taker' });
  assert.throws(() => new NodeFsDir(dir).open('f'), (e) => e.code === 'locked');
  assert.ok(fs.existsSync(lock), 'the stale lock is left to the live taker');
});

test('closing removes only its own lock generation', () => {
  const dir = tempDir();
  const file = new NodeFsDir(dir).open('f');
  writeLock(path.join(dir, 'f.lock'), { pid: process.pid, token: 'someone-else' });
  file.close();
  assert.strictEqual(JSON.parse(fs.readFileSync(path.join(dir, 'f.lock'), 'utf8')).token, 'someone-else');
});
