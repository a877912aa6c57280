// Types shared by every entry of the package (see index.d.ts, browser.d.ts and node.d.ts).
import type { TonyStoreDirectory } from './node-fs.cjs';

/**
 * A plain JS value as stored: JSON-compatible (integers beyond 2^53 come back as BigInt). Objects
 * must be plain (`Object.prototype` or `null` prototype); `__proto__` is an ordinary key.
 */
export type TonyValue = null | boolean | number | bigint | string | TonyValue[] | { [key: string]: TonyValue };

/**
 * A patch at a kinded path: a plain value, or Tony text (so tags such as `!delete` can be
 * written). An object `value` merges into the object already at `path` (keys it does not name
 * stay); with `replace: true` the value at `path` becomes exactly `value` (or the value the Tony
 * text spells).
 */
export type Patch =
  | { path: string; value: TonyValue; replace?: boolean }
  | { path: string; tony: string; replace?: boolean };

/**
 * Stable error codes carried by `TonyStoreError.code`.
 * - `locked`: another writer holds the store; `quota`: out of space; `io`: a storage failure;
 *   `read_only`: the storage refuses writes; `previous_io`: an earlier write failed, reopen;
 *   `corrupt`: the files fail their checksums; `unsupported_format`: written by a newer version.
 * - `invalid_argument`: an argument of the wrong type; `invalid_option`: a bad option;
 *   `invalid_path` / `invalid_tony` / `invalid_patch`: malformed input; `invalid_value`: a value
 *   that is not plain data (the message names where in it); `too_deep`: nesting beyond the limit;
 *   `too_large`: beyond a size limit.
 * - `patch_rejected`: the patch does not apply; `precondition_failed`: a `match` did not hold;
 *   `no_such_commit`: a commit number beyond head; `transaction`: a transaction failed.
 * - `closed`: any call after `close()`; `unsupported`: not possible in this runtime (e.g. OPFS in
 *   a window's main thread through the worker entry); `internal`: a bug.
 * - `interrupted`: a call sent to the tab that owned a shared store when that tab went away; a
 *   commit may or may not have been made (read the store to know).
 * - `gap`: a shipment starts after this store's head; `diverged`: it disagrees with this
 *   store's history.
 */
export type ErrorCode =
  | 'locked' | 'quota' | 'corrupt' | 'io' | 'closed' | 'read_only' | 'previous_io' | 'unsupported_format'
  | 'invalid_argument' | 'invalid_path' | 'invalid_tony' | 'invalid_value' | 'invalid_patch' | 'invalid_option'
  | 'patch_rejected' | 'precondition_failed' | 'no_such_commit' | 'too_large' | 'too_deep' | 'transaction'
  | 'unsupported' | 'interrupted' | 'gap' | 'diverged' | 'internal';

/**
 * The error every failing call throws (or rejects with). Errors from the wasm module, storage
 * backends and the runtime are converted to it, keeping code and message; the original is `cause`.
 */
export declare class TonyStoreError extends Error {
  /** Makes an error with a stable `code`. */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown });
  /** What went wrong, as a stable code. */
  code: ErrorCode;
}

/** Options of `TonyStore.open`. */
export interface OpenOptions {
  /**
   * Where the bytes live: "auto" (the default in dedicated workers and, via a worker, in
   * windows: "opfs" where OPFS sync access handles work, else "indexeddb"), "opfs", "indexeddb"
   * (held in memory, written back to IndexedDB at each sync: see `persisted`), "file" (Node, the
   * default there: `name` is a directory), "memory" (the default elsewhere, e.g. workerd), a
   * directory object, or a factory `name => directory object`.
   */
  backend?: 'auto' | 'opfs' | 'indexeddb' | 'file' | 'memory' | TonyStoreDirectory | ((name: string) => TonyStoreDirectory);
  /**
   * "commit": every commit is synced before it returns (default). "flush": commits are visible
   * at once and written in batches, durable at flush()/close(); those since the last flush may
   * be lost if the process or tab ends without one.
   */
  durability?: 'commit' | 'flush';
  /** OPFS: wait for another tab to close the store instead of failing with `locked`. */
  wait?: boolean;
  /**
   * Window entry, OPFS: share the store with the origin's other tabs (default `true`): one
   * tab's worker holds it and the others send their calls there; when that tab closes another
   * takes over. `false`: this tab needs the store to itself (`locked`, or `wait`).
   */
  share?: boolean;
  /** Window entry: this handle reads but refuses changes (`read_only`). */
  readOnly?: boolean;
}

/** Options of `watch`. */
export interface WatchOptions {
  /** Replay the changes after this commit first (default: only changes from now on). */
  since?: number;
  /** Stops the watch. */
  signal?: AbortSignal;
}

/** Options of `export`. */
export interface ExportOptions {
  /** Stop adding commits once the shipment holds this many bytes (at least one commit). */
  maxBytes?: number;
}

/** What `import` did. */
export interface ImportResult {
  /** Commits the shipment held that the store already had (they matched). */
  skipped: number;
  /** Commits added. */
  added: number;
  /** The store's head afterwards. */
  head: number;
}

/** Options of `commit`. */
export interface CommitOptions {
  /** Preconditions: each must match the current state at its path, or nothing is written. */
  match?: Patch | Patch[];
}

/** Options of `readStream`. */
export interface StreamOptions {
  /** "tony" (wire form, tags kept; default) or "json". */
  format?: 'tony' | 'json';
  /** Preferred chunk size in bytes (1 to 64 MiB; default 64 KiB). */
  chunkBytes?: number;
}

/** A byte stream that is also `for await`-iterable. */
export type ByteStream = ReadableStream<Uint8Array> & AsyncIterable<Uint8Array>;

/** Counters returned by `stats()`, for diagnostics and tests. */
export interface Stats {
  entriesRead: number;
  level0Bytes: number;
  compactBytes: number;
  streamedFromLog: number;
  streamedPatched: number;
  readThroughArrayEdits: number;
  readFromOffsets: number;
  /** How the last open recovered the index. */
  recovery: 'none' | 'incremental' | 'full';
}

/** One participant's patch in a transaction, with an optional precondition. */
export type TransactionPatch = Patch & { match?: Patch };

/** What `joinTransaction` answers: still waiting for participants, committed, or aborted. */
export type TransactionStatus =
  | { state: 'waiting'; /** Participants so far. */ joined: number; /** Participants expected. */ of: number }
  | { state: 'committed'; /** The commit written for all participants. */ commit: number }
  | { state: 'aborted'; /** Why (a failed precondition, a timeout, ...). */ reason: string };

/** Options of `log`. */
export interface LogOptions {
  /** Only the commits that changed the value at this path. */
  path?: string;
  /** The first commit listed (default 1). */
  from?: number;
  /** The last commit listed (default head). */
  to?: number;
}

/** One commit, as `log` lists it. */
export interface LogRecord {
  /** The commit number. */
  commit: number;
  /** The transaction that wrote it. */
  tx: number;
  /** When it was written, in milliseconds since the Unix epoch. */
  timestamp: number;
}

/** A commit that changed the value at or below a path, as `changes` lists it. */
export interface Change {
  /** The commit number. */
  commit: number;
  /** The kinded paths it changed (at or below the path asked for, or that path itself). */
  paths: string[];
}

/** Options of `sync`. */
export interface SyncOptions {
  /** Follow the primary's events and pull as soon as it moves (default true). */
  live?: boolean;
  /** Called with the errors of background pulls (`io` while the primary is unreachable, `diverged`); default `reportError`. */
  onError?: (error: TonyStoreError) => void;
  /** The fetch function to reach the primary with (default `fetch`). */
  fetch?: typeof fetch;
  /**
   * Queue commits made while the primary cannot be reached: a store to keep the queue in (the
   * synchronous entries), or `true` (a window: the store `<name>.queue`). Queued commits show
   * at once in reads at the head and are sent in order when the primary is back.
   */
  queue?: unknown;
  /** Called with a queued commit the primary refused (it is dropped); default `reportError`. */
  onRejected?: (error: TonyStoreError, commit: { patches: Patch | Patch[]; match?: Patch | Patch[] }) => void;
}

/** A store following a primary over HTTP (`store.sync(url)`). */
export interface Sync {
  /** Imports what the primary has beyond the local head; resolves to the local head. */
  pull(): Promise<number>;
  /**
   * Commits on the primary (preconditions checked there), then pulls; resolves to the commit —
   * or, with a queue while the primary cannot be reached, to `null` (queued).
   */
  commit(patches: Patch | Patch[], options?: CommitOptions): Promise<number | null>;
  /** Stops following the primary. */
  close(): Promise<void>;
}
