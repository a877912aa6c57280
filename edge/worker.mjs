// A Cloudflare workerd worker on the package's web entry: commit and readAt over HTTP.
//   POST /commit  body: [{path, value | tony}]  ->  {commit}
//   GET  /read?path=P&at=C                      ->  the value (JSON)
import wasmModule from 'tonystore/web/tonystore_bg.wasm';
import { initSync, TonyStore, version } from 'tonystore/web.js';

initSync({ module: wasmModule });
let store;

export default {
  async fetch(request) {
    store ??= await TonyStore.open('edge', { backend: 'memory' });
    const url = new URL(request.url);
    try {
      if (url.pathname === '/commit' && request.method === 'POST') {
        return Response.json({ commit: store.commit(await request.json()) });
      }
      if (url.pathname === '/read') {
        const at = url.searchParams.has('at') ? Number(url.searchParams.get('at')) : undefined;
        return Response.json({ value: store.readAt(url.searchParams.get('path') ?? '', at) ?? null, head: store.head });
      }
      return Response.json({ version: version(), runtime: navigator.userAgent });
    } catch (err) {
      return Response.json({ code: err.code, message: err.message }, { status: 400 });
    }
  },
};
