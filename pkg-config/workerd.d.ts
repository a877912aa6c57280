// Typings of the workerd entry (`workerd` condition, `tonystore/workerd`): the worker entry's
// synchronous store, plus stores on Durable Objects and a store over HTTP.
export * from './index.js';
import type { TonyStore } from './store.js';
import type { TonyStoreDirectory } from './node-fs.cjs';

/** The page size `DurableObjectDir` uses by default, in bytes. */
export declare const PAGE_BYTES: number;

/** The parts of a Durable Object's `ctx.storage` the store uses (SQL storage must be enabled). */
export interface DurableObjectSqlStorage {
  sql: { exec(query: string, ...bindings: unknown[]): Iterable<Record<string, unknown>> & { toArray(): Record<string, unknown>[] } };
}

/**
 * A store directory in a Durable Object's SQLite storage: pages of the store's files in the
 * tables `tonystore_files` and `tonystore_pages`. A commit that answered is on disk (the
 * object's output gate); one writer per file (`locked`).
 */
export declare class DurableObjectDir implements TonyStoreDirectory {
  constructor(storage: DurableObjectSqlStorage, options?: { prefix?: string; pageBytes?: number });
  open(name: string): import('./node-fs.cjs').TonyBlockFile;
}

/**
 * A Durable Object class serving one store over HTTP (`serveStore`'s routes). Export it from
 * your worker and bind it with SQL storage (`new_sqlite_classes`).
 */
export declare class TonyStoreObject {
  constructor(ctx: { storage: DurableObjectSqlStorage; blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T> }, env: unknown);
  /** The store, once open. */
  store: TonyStore;
  fetch(request: Request): Promise<Response>;
}

/**
 * Answers one HTTP request with `store`: POST /commit, GET /read, /stream, /history, /log, /diff,
 * /changes, /watch (server-sent events), /export, POST /import, GET /. Errors answer
 * `{code, message}` with a status by code.
 */
export declare function serveStore(store: TonyStore, request: Request): Promise<Response>;
