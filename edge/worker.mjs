// A Cloudflare worker on the package's `workerd` entry (which initialises the wasm itself).
// With a Durable Object binding `STORE` (class `TonyStoreObject`, SQL storage), every request
// goes to the store named by the `X-Store` header (default "main"), which lives in that object's
// storage and survives restarts; without one, to a store in memory. The routes are those of
// `serveStore` (commit, read, stream, history, log, diff, changes, watch as server-sent events,
// export and import for log shipping); `GET /version` says which build and runtime answer.
import { serveStore, TonyStore, TonyStoreObject, version } from 'tonystore';

export { TonyStoreObject };

let memory;

export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === '/version') {
      return Response.json({ version: version(), runtime: navigator.userAgent });
    }
    if (env.STORE) {
      const name = request.headers.get('x-store') ?? 'main';
      return env.STORE.get(env.STORE.idFromName(name)).fetch(request);
    }
    memory ??= await TonyStore.open('edge');
    return serveStore(memory, request);
  },
};
