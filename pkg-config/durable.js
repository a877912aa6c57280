// Stores on Cloudflare Durable Objects (workerd): `DurableObjectDir`, a storage backend over a
// Durable Object's synchronous SQLite storage (`ctx.storage.sql`), and `TonyStoreObject`, a
// Durable Object class serving one store over HTTP (`serveStore`).
//
// A store's files are pages of `PAGE_BYTES` in the table `tonystore_pages (file, page, data)`,
// with each file's length in `tonystore_files (file, size)`; a page that was never written reads
// as zeros. Durability: a Durable Object's storage writes are committed together and confirmed
// before the object's response leaves it (its output gate), so `flush` has nothing to add; a
// commit that answered is on disk.
import { TonyStore, TonyStoreError } from './web.js';
import { serveStore } from './http.js';

/**
 * Page size in bytes. Measured in workerd (BENCHMARKS.md, "Durable Objects in workerd"): small
 * pages make every log append rewrite less, large pages make reads of big entries take fewer
 * rows; of 4, 16 and 64 KiB, 16 KiB read best and committed within noise of 4 KiB.
 */
export const PAGE_BYTES = 16 * 1024;

/** One file of a store in a Durable Object's SQLite storage. */
class DurableObjectFile {
  #sql;
  #name;
  #size;
  #release;
  #pageBytes;
  #closed = false;

  constructor(sql, name, pageBytes, release) {
    this.#sql = sql;
    this.#name = name;
    this.#pageBytes = pageBytes;
    this.#release = release;
    const row = sql.exec('SELECT size FROM tonystore_files WHERE file = ?', name).toArray()[0];
    if (row) {
      this.#size = row.size;
    } else {
      sql.exec('INSERT INTO tonystore_files (file, size) VALUES (?, 0)', name);
      this.#size = 0;
    }
  }

  #live() {
    if (this.#closed) throw new TonyStoreError('closed', `${this.#name} is closed`);
  }

  /** The bytes of pages `first..=last` (missing pages are zeros), as one array. */
  #pages(first, last) {
    const out = new Uint8Array((last - first + 1) * this.#pageBytes);
    const rows = this.#sql.exec(
      'SELECT page, data FROM tonystore_pages WHERE file = ? AND page BETWEEN ? AND ?',
      this.#name,
      first,
      last,
    );
    for (const { page, data } of rows) out.set(new Uint8Array(data), (page - first) * this.#pageBytes);
    return out;
  }

  read(offset, length) {
    this.#live();
    const end = Math.min(offset + length, this.#size);
    if (end <= offset) return new Uint8Array(0);
    const first = Math.floor(offset / this.#pageBytes);
    const last = Math.floor((end - 1) / this.#pageBytes);
    const start = offset - first * this.#pageBytes;
    return this.#pages(first, last).subarray(start, start + (end - offset));
  }

  write(offset, bytes) {
    this.#live();
    const length = bytes.length;
    if (length === 0) return 0;
    const end = offset + length;
    const first = Math.floor(offset / this.#pageBytes);
    const last = Math.floor((end - 1) / this.#pageBytes);
    // Read back only the partial pages at the edges; whole pages are replaced.
    const pages = new Uint8Array((last - first + 1) * this.#pageBytes);
    const headPartial = offset % this.#pageBytes !== 0;
    const tailPartial = end % this.#pageBytes !== 0 && end < this.#size;
    if (headPartial) pages.set(this.#pages(first, first), 0);
    if (tailPartial && (last !== first || !headPartial)) pages.set(this.#pages(last, last), (last - first) * this.#pageBytes);
    pages.set(bytes, offset - first * this.#pageBytes);
    for (let page = first; page <= last; page++) {
      const at = (page - first) * this.#pageBytes;
      this.#sql.exec(
        'INSERT OR REPLACE INTO tonystore_pages (file, page, data) VALUES (?, ?, ?)',
        this.#name,
        page,
        pages.slice(at, at + this.#pageBytes).buffer,
      );
    }
    if (end > this.#size) this.#setSize(end);
    return length;
  }

  size() {
    this.#live();
    return this.#size;
  }

  truncate(length) {
    this.#live();
    if (length < this.#size) {
      const keep = Math.ceil(length / this.#pageBytes);
      this.#sql.exec('DELETE FROM tonystore_pages WHERE file = ? AND page >= ?', this.#name, keep);
      const partial = length % this.#pageBytes;
      if (partial !== 0) {
        // Zero the cut-off end of the last page, so that growing again reads zeros.
        const page = this.#pages(keep - 1, keep - 1);
        page.fill(0, partial);
        this.#sql.exec(
          'INSERT OR REPLACE INTO tonystore_pages (file, page, data) VALUES (?, ?, ?)',
          this.#name,
          keep - 1,
          page.buffer,
        );
      }
    }
    this.#setSize(length);
  }

  #setSize(size) {
    this.#size = size;
    this.#sql.exec('UPDATE tonystore_files SET size = ? WHERE file = ?', size, this.#name);
  }

  /** Nothing to do: the Durable Object's output gate makes the writes durable before it answers. */
  flush() {
    this.#live();
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#release();
  }
}

/**
 * A store directory in a Durable Object's SQLite storage (`ctx.storage`, with SQL enabled for
 * the class): pass it as `TonyStore.open(name, { backend: new DurableObjectDir(ctx.storage) })`.
 * One writer per file: opening a file that is open gives `locked`.
 */
export class DurableObjectDir {
  #sql;
  #prefix;
  #pageBytes;
  #open = new Set();

  /**
   * @param storage the Durable Object's `ctx.storage`
   * @param options.prefix a prefix for the file names (several stores in one object)
   * @param options.pageBytes the page size (default `PAGE_BYTES`)
   */
  constructor(storage, { prefix = '', pageBytes = PAGE_BYTES } = {}) {
    if (!storage?.sql || typeof storage.sql.exec !== 'function') {
      throw new TonyStoreError('unsupported', 'DurableObjectDir needs a Durable Object whose class has SQL storage (ctx.storage.sql)');
    }
    if (!Number.isInteger(pageBytes) || pageBytes < 512 || pageBytes > 1 << 20) {
      throw new TonyStoreError('invalid_option', `pageBytes must be an integer from 512 to 1048576, not ${pageBytes}`);
    }
    this.#sql = storage.sql;
    this.#prefix = prefix;
    this.#pageBytes = pageBytes;
    this.#sql.exec(
      'CREATE TABLE IF NOT EXISTS tonystore_files (file TEXT PRIMARY KEY, size INTEGER NOT NULL)',
    );
    this.#sql.exec(
      'CREATE TABLE IF NOT EXISTS tonystore_pages (file TEXT NOT NULL, page INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (file, page))',
    );
  }

  open(name) {
    const file = this.#prefix + name;
    if (this.#open.has(file)) {
      throw new TonyStoreError('locked', `${file} is open in this Durable Object already`);
    }
    this.#open.add(file);
    return new DurableObjectFile(this.#sql, file, this.#pageBytes, () => this.#open.delete(file));
  }
}

/**
 * A Durable Object class serving one store over HTTP (see `serveStore` for the routes). Export
 * it from your worker and bind it with SQL storage:
 *
 *     export { TonyStoreObject } from 'tonystore';
 *     // wrangler: [[durable_objects.bindings]] name = "STORE", class_name = "TonyStoreObject"
 *     //           [[migrations]] tag = "v1", new_sqlite_classes = ["TonyStoreObject"]
 *     // fetch(request, env) { return env.STORE.get(env.STORE.idFromName('main')).fetch(request); }
 */
export class TonyStoreObject {
  #opening;

  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
    // Requests wait until the store is open; nothing else runs meanwhile.
    this.#opening = ctx.blockConcurrencyWhile(async () => {
      this.store = await TonyStore.open('store', { backend: new DurableObjectDir(ctx.storage) });
    });
  }

  async fetch(request) {
    await this.#opening;
    return serveStore(this.store, request);
  }
}
