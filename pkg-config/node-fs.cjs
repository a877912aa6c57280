'use strict';
// A tonystore storage directory on Node's `fs`: the JS-object backend protocol
// (open(name) -> { read, write, size, truncate, flush, close }) over real files.
//
// One writer per file: opening takes `<file>.lock` (created exclusively, holding the pid). A live
// holder, in this process or another, makes open throw an error with `code: 'locked'`; a lock
// left by a dead process is taken over.
const fs = require('node:fs');
const path = require('node:path');

const heldHere = new Set();

function lockedError(file) {
  const err = new Error(`${file} is locked by another writer`);
  err.code = 'locked';
  return err;
}

function processIsAlive(pid) {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
}

function acquireLock(file) {
  const lockPath = `${file}.lock`;
  if (heldHere.has(lockPath)) throw lockedError(file);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx' });
      heldHere.add(lockPath);
      return lockPath;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const holder = Number.parseInt(fs.readFileSync(lockPath, 'utf8'), 10);
      if (holder !== process.pid && processIsAlive(holder)) throw lockedError(file);
      fs.rmSync(lockPath, { force: true }); // stale: its process is gone
    }
  }
  throw lockedError(file);
}

/** One file; see the protocol in the package README. */
class NodeFsFile {
  constructor(file) {
    this.lockPath = acquireLock(file);
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
    heldHere.delete(this.lockPath);
    fs.rmSync(this.lockPath, { force: true });
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
