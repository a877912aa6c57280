// A Cloudflare workerd worker using the package's web entry: the wasm arrives as a module.
import wasmModule from './pkg/web/tonystore_bg.wasm';
import { initSync, version } from './pkg/web/tonystore.js';

initSync({ module: wasmModule });

export default {
  async fetch() {
    return Response.json({ version: version(), runtime: navigator.userAgent });
  },
};
