import type { TonyStoreDirectory } from './node-fs';
export type { TonyBlockFile, TonyStoreDirectory } from './node-fs';

/**
 * A plain JS value as stored: JSON-compatible (integers beyond 2^53 come back as BigInt). Objects
 * must be plain (`Object.prototype` or `null` prototype); `__proto__` is an ordinary key.
 */
export type TonyValue = null | boolean | number | bigint | string | TonyValue[] | { [key: string]: TonyValue };

/** A patch at a kinded path: a plain value, or Tony text (so tags such as `!delete` can be written). */
export type Patch = { path: string; value: TonyValue } | { path: string; tony: string };

/**
 * Stable error codes carried by thrown errors' `code` property. `invalid_argument`: an argument of
 * the wrong type; `invalid_value`: a value that is not plain data (the message names where in it);
 * `too_deep`: nesting beyond the limit; `closed`: any call after `close()`; `internal`: a bug.
 */
export type ErrorCode =
  | 'locked' | 'quota' | 'corrupt' | 'io' | 'closed' | 'read_only' | 'previous_io' | 'unsupported_format'
  | 'invalid_argument' | 'invalid_path' | 'invalid_tony' | 'invalid_value' | 'invalid_patch' | 'invalid_option'
  | 'patch_rejected' | 'precondition_failed' | 'no_such_commit' | 'too_large' | 'too_deep' | 'transaction'
  | 'internal';

/** An error thrown by the store. */
export interface TonyStoreError extends Error { code: ErrorCode }

export interface OpenOptions {
  /**
   * Where the bytes live: "opfs" (default in dedicated workers and, via a worker, in windows),
   * "file" (Node, default there: `name` is a directory), "memory" (default elsewhere, e.g.
   * workerd), a directory object, or a factory `name => directory object`.
   */
  backend?: 'opfs' | 'file' | 'memory' | TonyStoreDirectory | ((name: string) => TonyStoreDirectory);
  /** "commit": every commit is synced before it returns (default); "flush": on flush()/close(). */
  durability?: 'commit' | 'flush';
  /** OPFS: wait for another tab to close the store instead of failing with `locked`. */
  wait?: boolean;
}

export interface CommitOptions {
  /** Preconditions: each must match the current state at its path, or nothing is written. */
  match?: Patch | Patch[];
}

export interface StreamOptions {
  /** "tony" (wire form, tags kept; default) or "json". */
  format?: 'tony' | 'json';
  /** Preferred chunk size in bytes. */
  chunkBytes?: number;
}

/** A byte stream that is also `for await`-iterable. */
export type ByteStream = ReadableStream<Uint8Array> & AsyncIterable<Uint8Array>;

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
  /** Counters, for diagnostics and tests. */
  stats(): { entriesRead: number; level0Bytes: number; compactBytes: number; streamedFromLog: number; streamedPatched: number; readThroughArrayEdits: number; readFromOffsets: number; recovery: 'none' | 'incremental' | 'full' };
  /** Commits that changed `path` (or above or below it), oldest first. */
  history(path: string): Float64Array;
  /** Starts a multi-participant transaction; returns its id. */
  beginTransaction(participants: number, timeoutMs: number): number;
  /** Adds a participant; the last one commits for all. */
  joinTransaction(tx: number, patch: Patch & { match?: Patch }): { state: 'waiting' | 'committed' | 'aborted'; commit?: number; reason?: string; joined?: number; of?: number };
  /** Makes every commit durable and persists the index. */
  flush(): void;
  /** Releases the store's files and its single-writer lock; afterwards every call throws `closed` (close() itself may be repeated). */
  close(): void;
  /** Frees the wasm object (closing it if needed); afterwards every call throws `closed`. */
  free(): void;
}

/** The crate version. */
export declare function version(): string;
/** workerd and other hosts that hand over the compiled module: initialise synchronously. */
export declare function initSync(input: { module: WebAssembly.Module }): void;
