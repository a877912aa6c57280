// The fallback storage for browsers without OPFS sync access handles (WebKit's Linux ports,
// some private modes, older Safari): the store's files are held in memory, in pages, loaded from
// IndexedDB when the store opens and written back — only the pages that changed, in one
// transaction with `durability: 'strict'` — whenever the engine syncs (each commit with the
// default durability, or at flush and close). IndexedDB is asynchronous and the engine is not,
// so a sync *starts* that write: `persisted()` resolves once everything synced so far is on
// disk. The window entry waits for it before answering a call, so there an acknowledged commit
// is durable; with the synchronous API, await `persisted()` (or `flush()` then `persisted()`).
import { TonyStoreError } from './core.js';

/** Page size of the fallback's files in bytes. */
const PAGE_BYTES = 64 * 1024;

/** The stores opened on this backend in this realm, for `persisted()`. */
const dirs = new Set();

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function finished(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = tx.onerror = () => reject(tx.error ?? new DOMException('the transaction was aborted', 'AbortError'));
  });
}

/** A storage error from IndexedDB, with the store's error code (`quota`, `io`). */
function storageError(err, what) {
  const code = err?.name === 'QuotaExceededError' ? 'quota' : 'io';
  return new TonyStoreError(code, `${what}: ${err?.message ?? err}`, { cause: err });
}

/** One file: its length and its pages (a missing page reads as zeros). */
class PagedFile {
  size = 0;
  pages = new Map();
  /** Pages changed since the last write-back (numbers), and whether the length changed. */
  dirty = new Set();
  resized = false;
}

/** A file of an `IndexedDbDir`, speaking the storage protocol. */
class IndexedDbFile {
  #dir;
  #file;
  #name;
  #release;
  #closed = false;

  constructor(dir, file, name, release) {
    this.#dir = dir;
    this.#file = file;
    this.#name = name;
    this.#release = release;
  }

  #live() {
    if (this.#closed) throw new TonyStoreError('closed', `${this.#name} is closed`);
  }

  read(offset, length) {
    this.#live();
    const end = Math.min(offset + length, this.#file.size);
    const out = new Uint8Array(Math.max(0, end - offset));
    for (let at = offset; at < end;) {
      const page = Math.floor(at / PAGE_BYTES);
      const within = at - page * PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, end - at);
      const data = this.#file.pages.get(page);
      if (data) out.set(data.subarray(within, within + n), at - offset);
      at += n;
    }
    return out;
  }

  write(offset, bytes) {
    this.#live();
    const end = offset + bytes.length;
    for (let at = offset; at < end;) {
      const page = Math.floor(at / PAGE_BYTES);
      const within = at - page * PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, end - at);
      let data = this.#file.pages.get(page);
      if (!data) this.#file.pages.set(page, (data = new Uint8Array(PAGE_BYTES)));
      data.set(bytes.subarray(at - offset, at - offset + n), within);
      this.#file.dirty.add(page);
      at += n;
    }
    if (end > this.#file.size) {
      this.#file.size = end;
      this.#file.resized = true;
    }
    return bytes.length;
  }

  size() {
    this.#live();
    return this.#file.size;
  }

  truncate(length) {
    this.#live();
    const file = this.#file;
    if (length < file.size) {
      for (const page of [...file.pages.keys()]) {
        if (page * PAGE_BYTES >= length) {
          file.pages.delete(page);
          file.dirty.add(page); // written back as a deletion
        }
      }
      const last = file.pages.get(Math.floor(length / PAGE_BYTES));
      if (last) {
        last.fill(0, length % PAGE_BYTES);
        file.dirty.add(Math.floor(length / PAGE_BYTES));
      }
    }
    file.size = length;
    file.resized = true;
  }

  /** Starts writing back what changed; a failure of an earlier write-back is thrown here. */
  flush() {
    this.#live();
    this.#dir.writeBack();
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#release();
  }
}

/**
 * A store directory in IndexedDB (database `tonystore:<name>`), held in memory while open. Load
 * it with `await IndexedDbDir.load(name)` and pass it as the `backend` of `TonyStore.open`.
 */
export class IndexedDbDir {
  #db;
  #name;
  #files = new Map();
  #open = new Set();
  /** The write-backs in flight, in order. */
  #writing = Promise.resolve();
  /** An earlier write-back's failure: every later sync reports it. */
  #failure;

  constructor(db, name) {
    this.#db = db;
    this.#name = name;
  }

  /** Opens (creating) the store's database and reads its files into memory. */
  static async load(name) {
    if (!globalThis.indexedDB) throw new TonyStoreError('unsupported', 'this runtime has no IndexedDB');
    let db;
    try {
      const opening = indexedDB.open(`tonystore:${name}`, 1);
      opening.onupgradeneeded = () => {
        opening.result.createObjectStore('files');
        opening.result.createObjectStore('pages');
      };
      db = await request(opening);
    } catch (err) {
      throw storageError(err, `opening IndexedDB tonystore:${name}`);
    }
    const dir = new IndexedDbDir(db, name);
    try {
      const tx = db.transaction(['files', 'pages'], 'readonly');
      const [fileNames, sizes, pageKeys, pages] = await Promise.all([
        request(tx.objectStore('files').getAllKeys()),
        request(tx.objectStore('files').getAll()),
        request(tx.objectStore('pages').getAllKeys()),
        request(tx.objectStore('pages').getAll()),
      ]);
      fileNames.forEach((file, i) => {
        const paged = new PagedFile();
        paged.size = sizes[i];
        dir.#files.set(file, paged);
      });
      pageKeys.forEach(([file, page], i) => dir.#files.get(file)?.pages.set(page, new Uint8Array(pages[i])));
    } catch (err) {
      db.close();
      throw storageError(err, `reading IndexedDB tonystore:${name}`);
    }
    dirs.add(dir);
    return dir;
  }

  open(name) {
    if (this.#open.has(name)) throw new TonyStoreError('locked', `${name} of ${this.#name} is open already`);
    if (!this.#files.has(name)) {
      const file = new PagedFile();
      file.resized = true;
      this.#files.set(name, file);
    }
    this.#open.add(name);
    return new IndexedDbFile(this, this.#files.get(name), `indexeddb:${this.#name}/${name}`, () => {
      this.#open.delete(name);
      if (this.#open.size === 0) this.writeBack();
    });
  }

  /** Starts a write-back of the changed pages (see the module comment); throws an earlier failure. */
  writeBack() {
    if (this.#failure) throw this.#failure;
    const changes = [];
    for (const [name, file] of this.#files) {
      if (file.dirty.size === 0 && !file.resized) continue;
      // A copy of each changed page now: later writes must not reach this write-back.
      const pages = [...file.dirty].map((page) => [page, file.pages.get(page)?.slice()]);
      changes.push({ name, size: file.size, pages });
      file.dirty.clear();
      file.resized = false;
    }
    if (changes.length === 0) return;
    this.#writing = this.#writing.then(async () => {
      if (this.#failure) return;
      try {
        const tx = this.#db.transaction(['files', 'pages'], 'readwrite', { durability: 'strict' });
        const files = tx.objectStore('files');
        const pages = tx.objectStore('pages');
        for (const { name, size, pages: changed } of changes) {
          files.put(size, name);
          for (const [page, data] of changed) {
            if (data) pages.put(data, [name, page]);
            else pages.delete([name, page]);
          }
        }
        await finished(tx);
      } catch (err) {
        this.#failure = storageError(err, `writing IndexedDB tonystore:${this.#name}`);
      }
    });
  }

  /** Resolves once everything synced so far is in IndexedDB; rejects if a write-back failed. */
  async persisted() {
    await this.#writing;
    if (this.#failure) throw this.#failure;
  }
}

/** Resolves once every `IndexedDbDir` of this realm has written back what was synced. */
export async function persisted() {
  await Promise.all([...dirs].map((dir) => dir.persisted()));
}
