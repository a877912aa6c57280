// The synchronous store, shared by the worker entry's typings (index.d.ts) and Node's (node.d.ts).
import type {
  ByteStream, Change, CommitOptions, ExportOptions, ImportResult, LogOptions, LogRecord, OpenOptions,
  Patch, Stats, StreamOptions, Sync, SyncOptions, TonyValue, TransactionPatch, TransactionStatus,
  WatchOptions,
} from './types.js';

/** A versioned Tony document store (dedicated worker, Node, workerd: synchronous methods). */
export declare class TonyStore {
  private constructor();
  /** Opens (creating) a store. */
  static open(name: string, options?: OpenOptions): Promise<TonyStore>;
  /** The newest commit number (0 when empty). */
  readonly head: number;
  /** Commits the patches as one commit and returns its number. */
  commit(patches: Patch | Patch[], options?: CommitOptions): number;
  /** The value at `path` as of `commit` (default: head); `undefined` where nothing is. */
  readAt(path: string, commit?: number): TonyValue | undefined;
  /** Like `readAt`, as Tony wire text; `null` where nothing is. */
  readTonyAt(path: string, commit?: number): string | null;
  /** The value at `path` as text, chunk by chunk. */
  readStream(path: string, commit?: number, options?: StreamOptions): ByteStream;
  /** A pull reader of the value at `path` as text (what `readStream` wraps). */
  openReader(path: string, commit?: number, format?: 'tony' | 'json'): TextReader;
  /** Counters, for diagnostics and tests. */
  stats(): Stats;
  /** Exactly the commits at which the value at `path` changed, oldest first. */
  history(path: string): Float64Array;
  /** The commits in `[from, to]` (default: all), only those that changed `path` when given. */
  log(options?: LogOptions): LogRecord[];
  /**
   * A Tony patch (wire text) that turns the value at `path` as of `from` into the one as of `to`
   * (default: head); `null` if they are equal.
   */
  diff(path: string, from: number, to?: number): string | null;
  /**
   * Each commit after `since` (default 0) that changed the value at or below `path`, oldest first, with the
   * paths it changed.
   */
  changes(path: string, since?: number): Change[];
  /**
   * Calls `listener` (in a microtask after the commit) for each commit through this store that
   * changes the value at or below `path`; returns a function that stops it.
   */
  subscribe(path: string, listener: (change: Change) => void): () => void;
  /**
   * The changes at or below `path` after `options.since` (default: from now on), as they
   * happen, until `options.signal` aborts, the loop breaks, or the store closes.
   */
  watch(path: string, options?: WatchOptions): AsyncIterableIterator<Change>;
  /**
   * Keeps this store a replica of the primary at `url` (`serveStore`'s routes): pulls its
   * commits, follows its events, and commits through it. The store must receive nothing else.
   */
  sync(url: string | URL, options?: SyncOptions & { queue?: TonyStore }): Sync & { readonly queued: number; sendQueued(): Promise<void> };
  /**
   * Commits waiting to reach a primary (each a patch or patches, as `commit` takes them):
   * reads at the head show them applied after it; returns how many apply. `sync` manages this.
   */
  setPending(commits: (Patch | Patch[])[]): number;
  /** A shipment (bytes) of the commits after `after` (default 0), for another store's `import`. */
  export(after?: number, options?: ExportOptions): Uint8Array;
  /** Adds a shipment's commits this store lacks, under their numbers (refused whole: `corrupt`, `gap`, `diverged`). */
  import(shipment: Uint8Array): ImportResult;
  /** Starts a transaction of `participants` patches that aborts after `timeoutMs`; returns its id. */
  beginTransaction(participants: number, timeoutMs: number): number;
  /** Adds a participant; the last one commits for all. */
  joinTransaction(tx: number, patch: TransactionPatch): TransactionStatus;
  /** Makes every commit durable and persists the index. */
  flush(): void;
  /** Releases the store's files and its single-writer lock; afterwards every call throws `closed` (close() itself may be repeated). */
  close(): void;
  /** Frees the wasm object (closing it if needed); afterwards every call throws `closed`. */
  free(): void;
  /** `using store = await TonyStore.open(...)`: closes and frees the store. */
  [Symbol.dispose](): void;
  /** `await using`: the same, for code shared with the window entry. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Produces a value's text chunk by chunk (`openReader`); throws `closed` once its store is closed. */
export declare class TextReader {
  private constructor();
  /** The next chunk (UTF-8, at least `minBytes` unless it is the last), or `undefined` at the end. */
  next(minBytes: number): Uint8Array | undefined;
  /** Releases the reader. */
  free(): void;
  /** `using reader = store.openReader(...)`: frees the reader. */
  [Symbol.dispose](): void;
}

/** The crate version. */
export declare function version(): string;
