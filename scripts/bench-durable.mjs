// Measures stores on Durable Objects in workerd: for several page sizes of `DurableObjectDir`,
// commits of small patches (the project's workload: 100-byte JSON at 256 paths
// `docs.d{p%16}.users.u{p}`) and checked reads of random (path, commit) pairs, each batch one
// request timed from Node (workerd freezes `Date.now()` while code runs); then, through HTTP, one
// commit per request into a `TonyStoreObject` and the catch-up of a Node replica (`sync.pull`).
//   node scripts/bench-durable.mjs [commits=2000] [reads=2000]
// Needs the package built (scripts/build-pkg). Prints a Markdown table.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installPacked, root } from './packed-project.mjs';
import { bundle, config, start } from './workerd-harness.mjs';

const COMMITS = Number(process.argv[2] ?? 2000);
const READS = Number(process.argv[3] ?? 2000);
const PAGES = [4096, 16384, 65536];
const ROUNDS = 3;

const WORKER = `
import { DurableObjectDir, TonyStore, TonyStoreObject, version } from 'tonystore';
export { TonyStoreObject };
const path = (p) => 'docs.d' + (p % 16) + '.users.u' + p;
const value = (c) => ({ id: c, name: 'user ' + c, email: 'u' + c + '@example.com', tags: ['a', 'b'], n: c * 3 });
export class Bench {
  constructor(ctx) { this.ctx = ctx; }
  async fetch(request) {
    const url = new URL(request.url);
    const pageBytes = Number(url.searchParams.get('pageBytes'));
    const round = url.searchParams.get('round');
    const dir = new DurableObjectDir(this.ctx.storage, { prefix: pageBytes + '-' + round + '/', pageBytes });
    if (url.pathname === '/commit') {
      const store = await TonyStore.open('bench', { backend: dir });
      const n = Number(url.searchParams.get('n'));
      for (let c = 1; c <= n; c++) store.commit({ path: path(c % 256), value: value(c) });
      store.close();
      return Response.json({ head: n });
    }
    const store = await TonyStore.open('bench', { backend: dir });
    const n = Number(url.searchParams.get('n'));
    let seed = 7;
    let checked = 0;
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const c = 1 + (seed % store.head);
      const got = store.readAt(path(c % 256), c);
      if (got.id !== c) throw new Error('read ' + c + ' gave ' + JSON.stringify(got));
      checked++;
    }
    store.close();
    return Response.json({ checked });
  }
}
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/version') return Response.json({ version: version(), runtime: navigator.userAgent });
    if (url.pathname.startsWith('/primary/')) {
      return env.STORE.get(env.STORE.idFromName('primary')).fetch(new Request(request.url.replace('/primary', ''), request));
    }
    return env.BENCH.get(env.BENCH.idFromName('bench')).fetch(request);
  },
};
`;

process.env.TONYSTORE_KEEP_TMP ??= '1'; // installPacked's cleanup hook belongs to node --test
const project = installPacked('tonystore-bench-durable-');
const dir = path.join(project, 'bench');
await bundle(project, dir, WORKER);
fs.writeFileSync(path.join(dir, 'config.capnp'), config({ BENCH: 'Bench', STORE: 'TonyStoreObject' }));
fs.mkdirSync(path.join(dir, 'disk'), { recursive: true });
const server = await start(dir, true);
const timed = async (url) => {
  const started = performance.now();
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  await response.json();
  return performance.now() - started;
};
const best = (xs) => Math.min(...xs);
const rows = [];
const HTTP_COMMITS = 1000;
const http = {};
try {
  for (const pageBytes of PAGES) {
    const commits = [];
    const reads = [];
    for (let round = 0; round < ROUNDS; round++) {
      commits.push(await timed(`${server.base}/commit?pageBytes=${pageBytes}&round=${round}&n=${COMMITS}`));
      reads.push(await timed(`${server.base}/read?pageBytes=${pageBytes}&round=${round}&n=${READS}`));
    }
    rows.push({ pageBytes, commitsPerS: COMMITS / (best(commits) / 1000), readsPerS: READS / (best(reads) / 1000) });
  }
  // One commit per request into a TonyStoreObject, then a Node replica catching up.
  const primary = `${server.base}/primary`;
  const started = performance.now();
  for (let c = 1; c <= HTTP_COMMITS; c++) {
    const body = JSON.stringify({ path: `docs.d${c % 16}.users.u${c % 256}`, value: { id: c, name: `user ${c}`, email: `u${c}@example.com`, tags: ['a', 'b'], n: c * 3 } });
    const response = await fetch(`${primary}/commit`, { method: 'POST', body });
    if (!response.ok) throw new Error(await response.text());
  }
  http.commitsPerS = HTTP_COMMITS / ((performance.now() - started) / 1000);
  const { TonyStore } = await import(path.join(root, 'pkg/node.js'));
  const replica = await TonyStore.open('bench-replica', { backend: 'memory' });
  let shipped = 0;
  const sync = replica.sync(primary, {
    live: false,
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      const bytes = await response.arrayBuffer();
      shipped += bytes.byteLength;
      return new Response(bytes, { status: response.status, headers: response.headers });
    },
  });
  const pulling = performance.now();
  await sync.pull();
  const seconds = (performance.now() - pulling) / 1000;
  if (replica.head !== HTTP_COMMITS) throw new Error(`the replica reached ${replica.head}`);
  http.catchUpPerS = HTTP_COMMITS / seconds;
  http.catchUpMBps = shipped / 1e6 / seconds;
  replica.close();
} finally {
  await server.stop();
  fs.rmSync(project, { recursive: true, force: true });
}
console.log(`Durable Object pages, ${COMMITS} commits then ${READS} checked reads per round, best of ${ROUNDS} (${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}):\n`);
console.log('| page size | commits/s | reads/s |');
console.log('|---|---|---|');
for (const r of rows) console.log(`| ${r.pageBytes / 1024} KiB | ${Math.round(r.commitsPerS).toLocaleString('en')} | ${Math.round(r.readsPerS).toLocaleString('en')} |`);
console.log(`\nThrough HTTP: ${HTTP_COMMITS} commits, one per request, into a TonyStoreObject: ${Math.round(http.commitsPerS).toLocaleString('en')} commits/s; a Node replica catching up on them (sync.pull): ${Math.round(http.catchUpPerS).toLocaleString('en')} commits/s, ${http.catchUpMBps.toFixed(1)} MB/s of shipments.`);
