'use strict';
// A tonystore storage directory on Node's `fs`: the JS-object backend protocol
// (open(name) -> { read, write, size, truncate, flush, close }) over real files.
//
// One writer per file, across processes and across worker_threads of one process: opening a file
// takes `<file>.lock`.
//
// * Taking the lock is one atomic step: a temp file created with O_EXCL (`wx`) holding the owner
//   identity is hard-linked to `<file>.lock`; link(2) fails with EEXIST when the lock exists, so
//   exactly one of any number of racing openers wins, and a lock file is never seen half written.
// * The identity is `{ pid, start, host, thread, token }`: `start` is the process start time from
//   /proc/<pid>/stat (Linux; elsewhere null), `token` is random per lock.
// * A lock is live when its host is another machine (unknowable, so never taken over); when it is
//   this process's (same pid and start: another thread of this process, or this one); or when its
//   pid runs with the same start time (Linux) or at all (where /proc does not show it: a reused
//   pid cannot be told apart there). A live lock makes open throw `code: 'locked'`.
// * A stale lock (dead holder, or a pid reused by another process) is taken over without a race:
//   the taker first takes the lock `<file>.lock.<token>` of that one stale generation — by the same
//   rules, recursively — re-reads `<file>.lock`, removes it only if it still holds that token, then
//   competes for `<file>.lock` again. Only a generation's owner or the single winner of its
//   takeover lock ever removes it, so a fresh lock is never removed by mistake.
// * A thread or process that exits without closing releases its locks in an 'exit' handler; one
//   stopped by `worker.terminate()` cannot, and its locks stay until its process ends.
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { threadId } = require('node:worker_threads');

/** Locks held by this thread, path -> token (fast path; other threads are seen through the lock file). */
const heldHere = new Map();
// A thread (or process) that ends without closing — normally or by an uncaught exception — releases
// its locks. Only `worker.terminate()` skips this: such a thread's locks stay until the process ends.
process.once('exit', () => {
  for (const [lockPath, token] of heldHere) removeIfToken(lockPath, token);
});
/** How many stale generations in a row a takeover follows before giving up with `locked`. */
const MAX_TAKEOVER_DEPTH = 8;

function lockedError(file) {
  const err = new Error(`${file} is locked by another writer`);
  err.code = 'locked';
  return err;
}

/**
 * The start time of process `pid` (clock ticks since boot) from /proc; `undefined` if it has exited
 * but is not yet reaped (a zombie); `null` if /proc does not show it (no such process, no /proc,
 * or a /proc hiding other users' processes).
 */
function processStart(pid) {
  let stat;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Fields 3 (state) and 22 (start time) follow the command name, which is in parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' || fields[0] === 'X' ? undefined : (fields[19] ?? null);
}

const self = { pid: process.pid, start: processStart(process.pid), host: os.hostname() };

/** Whether the owner recorded in a lock file may still hold it. */
function ownerIsLive(owner) {
  if (owner.host !== self.host) return true;
  if (owner.pid === self.pid && owner.start === self.start) return true;
  const start = processStart(owner.pid);
  if (start === undefined) return false;
  // With a start time, the pid is the owner only if it started then (otherwise it was reused).
  if (start !== null) return start === owner.start;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** The owner recorded in `lockPath`, `undefined` if there is no lock, `null` if it is unreadable. */
function readOwner(lockPath) {
  let text;
  try {
    text = fs.readFileSync(lockPath, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const owner = JSON.parse(text);
    return typeof owner?.token === 'string' && Number.isInteger(owner.pid) ? owner : null;
  } catch {
    return null;
  }
}

/** Creates `lockPath` holding `owner` if it does not exist; false if it does. */
function tryCreate(lockPath, owner) {
  const temp = `${lockPath}.${owner.token}.tmp`;
  fs.writeFileSync(temp, JSON.stringify(owner), { flag: 'wx' });
  try {
    fs.linkSync(temp, lockPath);
    return true;
  } catch (e) {
    if (e.code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/** Removes `lockPath` if it still holds the generation `token`. */
function removeIfToken(lockPath, token) {
  if (readOwner(lockPath)?.token === token) fs.rmSync(lockPath, { force: true });
}

/** Takes `lockPath` (taking over stale generations), or throws `locked` naming `file`. */
function takeLock(file, lockPath, depth = 0) {
  const owner = { ...self, thread: threadId, token: crypto.randomBytes(12).toString('hex') };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(lockPath, owner)) return owner.token;
    const holder = readOwner(lockPath);
    if (holder === undefined) continue; // released meanwhile: compete again
    // An unreadable lock (not written by this code) is taken over like a dead owner's.
    if (holder !== null && ownerIsLive(holder)) throw lockedError(file);
    if (depth >= MAX_TAKEOVER_DEPTH) throw lockedError(file);
    const generation = holder?.token ?? `unreadable-${fs.statSync(lockPath, { throwIfNoEntry: false })?.ino}`;
    const takeover = `${lockPath}.${generation}`;
    const takeoverToken = takeLock(file, takeover, depth + 1);
    try {
      if (holder === null) {
        if (readOwner(lockPath) === null) fs.rmSync(lockPath, { force: true });
      } else {
        removeIfToken(lockPath, holder.token);
      }
    } finally {
      removeIfToken(takeover, takeoverToken);
    }
  }
  throw lockedError(file);
}

function acquireLock(file) {
  const lockPath = `${file}.lock`;
  if (heldHere.has(lockPath)) throw lockedError(file);
  const token = takeLock(file, lockPath);
  heldHere.set(lockPath, token);
  return { lockPath, token };
}

/** One file; see the protocol in the package README. */
class NodeFsFile {
  constructor(file) {
    this.lock = acquireLock(file);
    try {
      this.fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT);
    } catch (e) {
      this.releaseLock();
      throw e;
    }
  }
  read(offset, length) {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return new Uint8Array(buf.buffer, buf.byteOffset, done);
  }
  write(offset, bytes) {
    // `bytes` views wasm memory: write it out before returning.
    let done = 0;
    while (done < bytes.length) {
      done += fs.writeSync(this.fd, bytes, done, bytes.length - done, offset + done);
    }
    return done;
  }
  size() { return fs.fstatSync(this.fd).size; }
  truncate(length) { fs.ftruncateSync(this.fd, length); }
  flush() { fs.fdatasyncSync(this.fd); }
  close() {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
    this.releaseLock();
  }
  releaseLock() {
    heldHere.delete(this.lock.lockPath);
    removeIfToken(this.lock.lockPath, this.lock.token);
  }
}

/** A store directory: `open(name)` creates or opens `<dir>/<name>`. */
class NodeFsDir {
  constructor(dir) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true });
  }
  open(name) { return new NodeFsFile(path.join(this.dir, name)); }
}

module.exports = { NodeFsDir, NodeFsFile };
