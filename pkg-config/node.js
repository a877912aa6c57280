// Entry for Node: the default backend is "file" (the store is a directory, via node:fs).
import { createRequire } from 'node:module';
import { install } from './core.js';

const require = createRequire(import.meta.url);
const wasm = require('./node/tonystore.js');
const { NodeFsDir } = require('./node-fs.cjs');

install(wasm.TonyStore, {
  ready: async () => {},
  defaultBackend: () => 'file',
  backends: { file: (dir) => new NodeFsDir(dir) },
});

export const { TonyStore, TextReader, version } = wasm;
export { NodeFsDir };
