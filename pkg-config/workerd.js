// Entry for Cloudflare workerd (the `workerd` condition): the .wasm is imported as a module (a
// `WebAssembly.Module`, as workerd and wrangler load `.wasm` imports) and initialised here, so
// `TonyStore.open` works with no setup. The default backend is "memory"; `DurableObjectDir`
// keeps a store in a Durable Object, and `TonyStoreObject` is a Durable Object class serving one.
import wasm from './web/tonystore_bg.wasm';
import { initSync } from './web.js';

initSync({ module: wasm });

export * from './web.js';
export { DurableObjectDir, TonyStoreObject, PAGE_BYTES } from './durable.js';
export { serveStore } from './http.js';
