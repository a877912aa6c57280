/** A tonystore block file: the JS-object storage protocol. All calls are synchronous. */
export interface TonyBlockFile {
  /** Returns `length` bytes at `offset` (fewer only at end of file). */
  read(offset: number, length: number): Uint8Array;
  /** Writes `bytes` at `offset`; returns the count written. `bytes` views wasm memory: use it before returning. */
  write(offset: number, bytes: Uint8Array): number;
  /** The file's length in bytes. */
  size(): number;
  /** Sets the length, zero-filling growth. */
  truncate(length: number): void;
  /** Durability barrier. */
  flush(): void;
  /** Releases the file and its lock. */
  close?(): void;
}
/** A directory of block files: one store. */
export interface TonyStoreDirectory {
  /** Opens or creates `name`; throws an error with `code: "locked"` if another writer holds it. */
  open(name: string): TonyBlockFile;
}
/**
 * One file on Node's `fs`, with a single writer across processes and worker_threads: an exclusively
 * created `<file>.lock` names the owner (pid, process start time, host, thread, random token);
 * stale locks (dead owner, reused pid) are taken over race-free. See node-fs.cjs for the rules.
 */
export class NodeFsFile implements TonyBlockFile {
  constructor(path: string);
  read(offset: number, length: number): Uint8Array;
  write(offset: number, bytes: Uint8Array): number;
  size(): number;
  truncate(length: number): void;
  flush(): void;
  close(): void;
}
/** A store directory on Node's `fs`. */
export class NodeFsDir implements TonyStoreDirectory {
  constructor(dir: string);
  open(name: string): NodeFsFile;
}
