// Entry for Cloudflare workerd (the `workerd` condition): the .wasm is imported as a module (a
// `WebAssembly.Module`, as workerd and wrangler load `.wasm` imports) and initialised here, so
// `TonyStore.open` works with no setup. The default backend is "memory".
import wasm from './web/tonystore_bg.wasm';
import { initSync } from './web.js';

initSync({ module: wasm });

export * from './web.js';
