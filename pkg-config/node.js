// Entry for Node: the default backend is "file" (the store is a directory, via node:fs). The
// package's one wasm build (web/) is compiled here from the file next to its glue.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { initSync, TonyStore, TextReader, version } from './web/tonystore.js';
import { install, TonyStoreError } from './core.js';

initSync({ module: fs.readFileSync(new URL('./web/tonystore_bg.wasm', import.meta.url)) });

const require = createRequire(import.meta.url);
const { NodeFsDir } = require('./node-fs.cjs');

install(TonyStore, {
  TextReader,
  ready: async () => {},
  defaultBackend: () => 'file',
  backends: { file: (dir) => new NodeFsDir(dir) },
});

export { TonyStore, TextReader, TonyStoreError, NodeFsDir, version };
