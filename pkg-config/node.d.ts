// Typings of the Node entry (`node` condition, `tonystore/node`): the worker entry's synchronous
// store, stored as files through `node:fs` by default.
export type * from './types.js';
export type { TonyBlockFile, TonyStoreDirectory } from './node-fs.cjs';
export { TonyStoreError } from './types.js';
export { TonyStore, TextReader, version } from './store.js';
export { NodeFsDir } from './node-fs.cjs';
