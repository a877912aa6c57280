// A store over HTTP: `serveStore(store, request)` answers one request with a synchronous store
// (workerd, Node's fetch-style servers). Used by `TonyStoreObject` (durable.js) and the edge
// example. Routes (JSON unless noted; commits and paths as in the JS API):
//   POST /commit   body: a patch or [patches], or {patches, match}  ->  {commit, head}
//   GET  /read?path=P&at=C                       ->  {value, head} (value null where nothing is)
//   GET  /stream?path=P&at=C&format=tony|json    ->  the value as text, streamed
//   GET  /history?path=P                         ->  {history}
//   GET  /log?path=P&from=A&to=B                 ->  {log}
//   GET  /diff?path=P&from=A&to=B                ->  {diff}
//   GET  /changes?path=P&since=C                 ->  {changes}
//   GET  /watch?path=P&since=C                   ->  text/event-stream, one event per change
//                                                    (id: the commit, data: {commit, paths})
//   GET  /export?after=C&maxBytes=N              ->  a shipment (application/octet-stream)
//   POST /import   body: a shipment              ->  {skipped, added, head}
//   GET  /                                       ->  {head}
// Errors answer `{code, message}` with a status by code (400 bad input, 404 no such commit or
// route, 409 a conflict — precondition, gap, divergence — 422 a patch that does not apply, 423
// locked, 507 out of space, 500 otherwise).

/** HTTP status of each error code (others: 500). */
const STATUS = {
  invalid_argument: 400, invalid_option: 400, invalid_path: 400, invalid_tony: 400,
  invalid_value: 400, invalid_patch: 400, too_deep: 400, too_large: 413,
  no_such_commit: 404, precondition_failed: 409, gap: 409, diverged: 409, transaction: 409,
  patch_rejected: 422, locked: 423, read_only: 403, quota: 507, closed: 503,
};

/** How often a `/watch` stream looks for new commits. */
const POLL_MS = 100;

/** A commit-number query parameter (absent: `undefined`). */
function commitParam(url, name) {
  return url.searchParams.has(name) ? Number(url.searchParams.get(name)) : undefined;
}

/**
 * A server-sent event stream of the changes at or below `path` after commit `since`, until the
 * client goes away. workerd cancels a request that waits on a promise only another request can
 * settle, so the stream does not await the store's `watch`: it reads the change feed on a timer.
 */
function events(store, path, since, signal) {
  store.changes(path, store.head); // checks the path before the response starts
  const encoder = new TextEncoder();
  let seen = Math.min(since ?? store.head, store.head);
  const body = new ReadableStream({
    async pull(controller) {
      while (!signal?.aborted) {
        const changes = store.changes(path, seen);
        if (changes.length > 0) {
          for (const change of changes) {
            controller.enqueue(encoder.encode(`id: ${change.commit}\ndata: ${JSON.stringify(change)}\n\n`));
          }
          seen = changes[changes.length - 1].commit;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      controller.close();
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' } });
}

/** JSON with BigInts (integers beyond 2^53) written as numbers' digits. */
function json(value, status = 200) {
  const text = JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? JSON.rawJSON?.(v.toString()) ?? v.toString() : v));
  return new Response(text, { status, headers: { 'content-type': 'application/json' } });
}

/** Answers `request` with `store` (see the routes above). */
export async function serveStore(store, request) {
  const url = new URL(request.url);
  const path = url.searchParams.get('path') ?? '';
  const route = `${request.method} ${url.pathname}`;
  try {
    switch (route) {
      case 'POST /commit': {
        const body = await request.json();
        const commit = Array.isArray(body) || !('patches' in body)
          ? store.commit(body)
          : store.commit(body.patches, { match: body.match });
        return json({ commit, head: store.head });
      }
      case 'GET /read':
        return json({ value: store.readAt(path, commitParam(url, 'at')) ?? null, head: store.head });
      case 'GET /stream': {
        const format = url.searchParams.get('format') ?? 'tony';
        const stream = store.readStream(path, commitParam(url, 'at'), { format });
        const type = format === 'json' ? 'application/json' : 'text/plain; charset=utf-8';
        return new Response(stream, { headers: { 'content-type': type } });
      }
      case 'GET /history':
        return json({ history: Array.from(store.history(path)) });
      case 'GET /log':
        return json({
          log: store.log({
            path: url.searchParams.has('path') ? path : undefined,
            from: commitParam(url, 'from'),
            to: commitParam(url, 'to'),
          }),
        });
      case 'GET /diff':
        return json({ diff: store.diff(path, commitParam(url, 'from'), commitParam(url, 'to')) });
      case 'GET /changes':
        return json({ changes: store.changes(path, commitParam(url, 'since') ?? 0) });
      case 'GET /watch':
        return events(store, path, commitParam(url, 'since'), request.signal);
      case 'GET /export': {
        const maxBytes = commitParam(url, 'maxBytes');
        const shipment = store.export(commitParam(url, 'after') ?? 0, maxBytes === undefined ? undefined : { maxBytes });
        return new Response(shipment, { headers: { 'content-type': 'application/octet-stream' } });
      }
      case 'POST /import':
        return json(store.import(new Uint8Array(await request.arrayBuffer())));
      case 'GET /':
        return json({ head: store.head });
      default:
        return json({ code: 'not_found', message: `no route ${route}` }, 404);
    }
  } catch (err) {
    const code = typeof err?.code === 'string' ? err.code : err instanceof SyntaxError ? 'invalid_argument' : 'internal';
    return json({ code, message: String(err?.message ?? err) }, STATUS[code] ?? (err instanceof SyntaxError ? 400 : 500));
  }
}
