// Typings of the browser entry (`browser` and `default` conditions, `tonystore/window`): in a
// window the store runs in a dedicated worker and every method returns a promise.
import type {
  ByteStream, Change, CommitOptions, ExportOptions, ImportResult, LogOptions, LogRecord, OpenOptions,
  Patch, Stats, StreamOptions, Sync, SyncOptions, TonyValue, TransactionPatch, TransactionStatus,
  WatchOptions,
} from './types.js';
export type * from './types.js';
export type { TonyBlockFile, TonyStoreDirectory } from './node-fs.cjs';
export { TonyStoreError } from './types.js';

/** Options of `TonyStore.open` in a window. */
export interface WindowOpenOptions extends OpenOptions {
  /**
   * The worker that runs the store, for bundlers that do not bundle the package's own: a module
   * `Worker` whose script imports `tonystore/proxy-worker`, its script URL, or a function
   * returning one. The store terminates it on `close()`.
   */
  worker?: Worker | string | URL | (() => Worker);
}

/**
 * The store as the browser entry gives it: in a window it runs in a dedicated worker and every
 * method returns a promise. (Outside a window `open` gives the worker entry's store, whose methods
 * answer synchronously; awaiting their results works the same.)
 */
export declare class TonyStore {
  private constructor();
  /** Opens (creating) a store: OPFS, in a new dedicated worker (or `options.worker`). */
  static open(name: string, options?: WindowOpenOptions): Promise<TonyStore>;
  /** The newest commit known to this handle (updated by every answer from the worker). */
  readonly head: number;
  /** Commits the patches as one commit; resolves to its number. */
  commit(patches: Patch | Patch[], options?: CommitOptions): Promise<number>;
  /** The value at `path` as of `commit` (default: head); `undefined` where nothing is. */
  readAt(path: string, commit?: number): Promise<TonyValue | undefined>;
  /** Like `readAt`, as Tony wire text; `null` where nothing is. */
  readTonyAt(path: string, commit?: number): Promise<string | null>;
  /** The value at `path` as text, chunk by chunk. */
  readStream(path: string, commit?: number, options?: StreamOptions): ByteStream;
  /** Counters, for diagnostics and tests. */
  stats(): Promise<Stats>;
  /** Exactly the commits at which the value at `path` changed, oldest first. */
  history(path: string): Promise<Float64Array>;
  /** The commits in `[from, to]` (default: all), only those that changed `path` when given. */
  log(options?: LogOptions): Promise<LogRecord[]>;
  /** A Tony patch from the value at `path` as of `from` to the one as of `to` (default: head); `null` if equal. */
  diff(path: string, from: number, to?: number): Promise<string | null>;
  /** Each commit after `since` (default 0) that changed the value at or below `path`, with the paths it changed. */
  changes(path: string, since?: number): Promise<Change[]>;
  /**
   * Calls `listener` for each commit — by this tab or another sharing the store — that changes
   * the value at or below `path`; resolves (once `path` is checked) to a function that stops it.
   */
  subscribe(path: string, listener: (change: Change) => void): Promise<() => void>;
  /**
   * The changes at or below `path` after `options.since` (default: from now on), as they
   * happen in any tab, until `options.signal` aborts, the loop breaks, or the store closes.
   */
  watch(path: string, options?: WatchOptions): AsyncIterableIterator<Change>;
  /**
   * Follows the primary at `url` (`serveStore`'s routes): the tab holding the store pulls its
   * commits and follows its events for every tab (a tab that takes over resumes it), and
   * `commit` goes through the primary. `options.fetch` is not available here.
   */
  sync(url: string | URL, options?: Omit<SyncOptions, 'fetch' | 'queue'> & { queue?: boolean }): Promise<Sync & { queued(): Promise<number> }>;
  /** A shipment (bytes) of the commits after `after` (default 0), for another store's `import`. */
  export(after?: number, options?: ExportOptions): Promise<Uint8Array>;
  /** Adds a shipment's commits this store lacks, under their numbers. */
  import(shipment: Uint8Array): Promise<ImportResult>;
  /** Starts a transaction of `participants` patches that aborts after `timeoutMs`; resolves to its id. */
  beginTransaction(participants: number, timeoutMs: number): Promise<number>;
  /** Adds a participant; the last one commits for all. */
  joinTransaction(tx: number, patch: TransactionPatch): Promise<TransactionStatus>;
  /** Makes every commit durable and persists the index. */
  flush(): Promise<void>;
  /** Releases the store and stops its worker; later calls reject with `closed`. */
  close(): Promise<void>;
  /** `await using store = await TonyStore.open(...)`: closes the store. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The package version. */
export declare function version(): string;
