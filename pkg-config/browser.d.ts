import type { CommitOptions, OpenOptions, Patch, StreamOptions, TonyValue, ByteStream } from './index';
export type * from './index';

/** The store running in a dedicated worker, for a window's main thread: every method is async. */
export declare class TonyStore {
  private constructor();
  static open(name: string, options?: OpenOptions): Promise<TonyStore>;
  /** The newest commit known to this handle. */
  head: number;
  commit(patches: Patch | Patch[], options?: CommitOptions): Promise<number>;
  readAt(path: string, commit?: number): Promise<TonyValue | undefined>;
  readTonyAt(path: string, commit?: number): Promise<string | null>;
  readStream(path: string, commit?: number, options?: StreamOptions): ByteStream;
  history(path: string): Promise<number[]>;
  flush(): Promise<void>;
  close(): Promise<void>;
}
