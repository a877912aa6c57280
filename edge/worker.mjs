// A Cloudflare workerd worker on the package's `workerd` entry, which initialises the wasm itself
// (the `.wasm` is imported as a compiled module): commit, readAt and history over HTTP.
//   POST /commit  body: [{path, value | tony}]  ->  {commit}
//   GET  /read?path=P&at=C                      ->  {value, head}
//   GET  /history?path=P                        ->  {history}
//   GET  /                                      ->  {version, runtime}
// Errors answer 400 with {code, message, typed} (typed: whether it is a TonyStoreError).
import { TonyStore, TonyStoreError, version } from 'tonystore';

let store;

export default {
  async fetch(request) {
    const url = new URL(request.url);
    try {
      store ??= await TonyStore.open('edge');
      if (url.pathname === '/commit' && request.method === 'POST') {
        return Response.json({ commit: store.commit(await request.json()) });
      }
      if (url.pathname === '/read') {
        const at = url.searchParams.has('at') ? Number(url.searchParams.get('at')) : undefined;
        return Response.json({ value: store.readAt(url.searchParams.get('path') ?? '', at) ?? null, head: store.head });
      }
      if (url.pathname === '/history') {
        return Response.json({ history: Array.from(store.history(url.searchParams.get('path') ?? '')) });
      }
      return Response.json({ version: version(), runtime: navigator.userAgent });
    } catch (err) {
      return Response.json({ code: err.code, message: err.message, typed: err instanceof TonyStoreError }, { status: 400 });
    }
  },
};
