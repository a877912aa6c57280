// Typings of the worker entry (`worker` and `workerd` conditions, `tonystore/worker`,
// `tonystore/workerd`): the store runs in this thread and its methods answer synchronously.
export type * from './types.js';
export type { TonyBlockFile, TonyStoreDirectory } from './node-fs.cjs';
import type { TonyStoreDirectory } from './node-fs.cjs';
export { TonyStoreError } from './types.js';
export { TonyStore, TextReader, version } from './store.js';

/**
 * Initialises the wasm module from the compiled module or its bytes (workerd and other hosts that
 * hand over the module; the `workerd` entry does this itself).
 */
export declare function initSync(input: { module: WebAssembly.Module | BufferSource }): void;
/**
 * Initialises the wasm module asynchronously (`TonyStore.open` does this by fetching the `.wasm`
 * next to the glue); pass another location or the bytes when a bundler moved it.
 */
export declare function init(input?: { module_or_path?: WebAssembly.Module | BufferSource | URL | string | Response | Promise<Response> }): Promise<unknown>;

/**
 * The IndexedDB fallback's store directory (for browsers without OPFS sync access handles): the
 * store's files held in memory, loaded at `load` and written back at each sync.
 */
export declare class IndexedDbDir implements TonyStoreDirectory {
  private constructor();
  /** Opens (creating) the database `tonystore:<name>` and reads the store's files. */
  static load(name: string): Promise<IndexedDbDir>;
  open(name: string): import('./node-fs.cjs').TonyBlockFile;
  /** Resolves once everything synced so far is in IndexedDB; rejects (`quota`, `io`) if a write-back failed. */
  persisted(): Promise<void>;
}
/** Resolves once every IndexedDB-backed store of this realm has written back what was synced. */
export declare function persisted(): Promise<void>;
