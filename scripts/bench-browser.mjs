// The browser peer benchmark: tonystore on OPFS in a dedicated worker, side by side in one
// headless Chromium run with a raw OPFS FileSystemSyncAccessHandle and @sqlite.org/sqlite-wasm on
// its opfs-sahpool VFS, on the workload of benches/peers.rs (scripts/bench-browser/worker.js runs
// each job in a fresh worker). Every read is checked against the commit that wrote it.
//   node scripts/bench-browser.mjs [--durable=2000] [--relaxed=10000] [--batches=10] [--per=1000]
//                                  [--load=20000] [--reads=20000] [--rounds=3] [--json]
//   TONYSTORE_BENCH_LOAD=100000 node scripts/bench-browser.mjs     (the 100k-commit load)
// --load is the history loaded (relaxed commits, one flush at the end) that the reads then
// reopen and read; durable, relaxed and batch runs and the reads are repeated --rounds times and
// the median is reported. Relaxed commits also run with the record as JSON text ({ path, tony })
// instead of a JS object, which shows what converting the object costs.
// --json adds a last line of JSON with every figure (test/bench-browser.e2e.test.mjs reads it).
// --skew-reads makes every read's expectation wrong (a test hook: the run must then fail).
// Needs the package built (scripts/build-pkg) and npm's devDependencies (scripts/setup).
// Prints a Markdown table; exits 1 if any job fails or any read mismatches.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from './browsers.mjs';
import { serve } from './serve.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

function options(argv) {
  const flags = Object.fromEntries(argv.map((a) => {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a}`);
    return [m[1], m[2] ?? true];
  }));
  const count = (name, fallback) => {
    const v = Number(flags[name] ?? fallback);
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
    delete flags[name];
    return v;
  };
  const o = {
    durable: count('durable', 2000),
    relaxed: count('relaxed', 10000),
    batches: count('batches', 10),
    per: count('per', 1000),
    load: count('load', process.env.TONYSTORE_BENCH_LOAD ?? 20000),
    reads: count('reads', 20000),
    rounds: count('rounds', 3),
    json: Boolean(flags.json),
    skew: Boolean(flags['skew-reads']),
  };
  delete flags.json;
  delete flags['skew-reads'];
  if (Object.keys(flags).length) throw new Error(`unknown option --${Object.keys(flags)[0]}`);
  if (o.per > 4096) throw new Error('--per is at most 4096 (the batch paths)');
  return o;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x, digits = 0) => x.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const rate = (x) => `${fmt(x, x < 100 ? 1 : 0)}/s`;
const ratio = (x) => `${fmt(x, x < 0.1 ? 3 : 2)}×`;
/** A target's ratio (median of the rounds) with the range of the per-round ratios. */
const targetRatio = (t) => `**${ratio(t.ratio)}** (${fmt(t.rounds[0], 2)}–${fmt(t.rounds[1], 2)})`;

export async function run(o, log = console.log) {
  for (const need of ['pkg/web.js', 'pkg/web/tonystore_bg.wasm', 'node_modules/@sqlite.org/sqlite-wasm/dist/index.mjs']) {
    if (!fs.existsSync(path.join(root, need))) throw new Error(`${need} is missing: run scripts/build-pkg and scripts/setup`);
  }
  const server = await serve(0, {
    '/bench/': path.join(here, 'bench-browser'),
    '/sqlite/': path.join(root, 'node_modules/@sqlite.org/sqlite-wasm/dist'),
  });
  // A persistent profile on disk: Playwright's browser.newContext() is off the record, where
  // OPFS lives in the browser process's memory (every sync-handle call an IPC, flush() a no-op).
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-bench-browser-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const browser = context.browser();
  const pageErrors = [];
  try {
    const page = context.pages()[0] ?? await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/bench/`);
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 30_000 });
    const job = async (store, name, args) => {
      try {
        return await page.evaluate(([s, j, a]) => window.runJob(s, j, a), [store, name, args]);
      } catch (err) {
        // Playwright wraps the page's error; keep its message only.
        throw new Error(String(err.message).replace(/^page\.evaluate: (Error: )?/, '').split('\n')[0]);
      }
    };
    const started = Date.now();
    const r = {};
    r.conditions = {
      chromium: browser?.version() ?? (await page.evaluate(() => navigator.userAgent.match(/Chrome\/([\d.]+)/)?.[1])),
      tonystore: (await job('tonystore', 'info', {})).version,
      sqlite: (await job('sahpool', 'info', {})).version,
      date: new Date().toISOString().slice(0, 10),
      cores: os.cpus().length,
      commit: gitHead(),
      ...o,
    };
    const samples = {};
    const add = (key, result) => (samples[key] ??= []).push(result);
    for (let round = 0; round < o.rounds; round++) {
      const id = (w) => `${w}-${round}`;
      add('tonystore.durable', await job('tonystore', 'commits', { name: id('durable'), count: o.durable, durable: true }));
      add('raw.durable', await job('raw', 'commits', { name: id('raw-durable'), count: o.durable, durable: true }));
      add('sahpool.durable', await job('sahpool', 'commits', { name: id('durable'), count: o.durable, synchronous: 'FULL' }));
      add('tonystore.relaxed', await job('tonystore', 'commits', { name: id('relaxed'), count: o.relaxed, durable: false }));
      add('tonystore.relaxedText', await job('tonystore', 'commits', { name: id('relaxed-text'), count: o.relaxed, durable: false, text: true }));
      add('raw.relaxed', await job('raw', 'commits', { name: id('raw-relaxed'), count: o.relaxed, durable: false }));
      add('sahpool.relaxed', await job('sahpool', 'commits', { name: id('relaxed'), count: o.relaxed, synchronous: 'OFF' }));
      add('tonystore.batch', await job('tonystore', 'batches', { name: id('batch'), commits: o.batches, per: o.per }));
      add('sahpool.batch', await job('sahpool', 'batches', { name: id('batch'), commits: o.batches, per: o.per, synchronous: 'OFF' }));
      log(`round ${round + 1}/${o.rounds} done (${fmt((Date.now() - started) / 1000, 1)} s)`);
    }
    // The history: loaded once per store, kept, then reopened by the reads (and removed after).
    const load = {
      tonystore: await job('tonystore', 'commits', { name: 'history', count: o.load, durable: false, keep: true }),
      sahpool: await job('sahpool', 'commits', { name: 'history', count: o.load, synchronous: 'OFF', keep: true }),
    };
    log(`history of ${fmt(o.load)} commits loaded (${fmt((Date.now() - started) / 1000, 1)} s)`);
    const readArgs = { name: 'history', head: o.load, count: o.reads, rounds: o.rounds, seed: 0x2545f491, skew: o.skew };
    const reads = {
      tonystore: await job('tonystore', 'reads', readArgs),
      sahpool: await job('sahpool', 'reads', readArgs),
    };
    r.seconds = (Date.now() - started) / 1000;

    const rateOf = (key) => median(samples[key].map((s) => s.ops / s.seconds));
    /** The lowest and highest ratio of `a` to `b` within one round (the rounds interleave the stores). */
    const spread = (a, b) => {
      const ratios = a.map((x, i) => x / b[i]);
      return [Math.min(...ratios), Math.max(...ratios)];
    };
    const roundRates = (key) => samples[key].map((s) => s.ops / s.seconds);
    const readRates = (store) => reads[store].times.map((t) => reads[store].ops / t);
    const readRate = (store) => median(readRates(store));
    r.rates = {
      durable: { tonystore: rateOf('tonystore.durable'), raw: rateOf('raw.durable'), sahpool: rateOf('sahpool.durable') },
      relaxed: { tonystore: rateOf('tonystore.relaxed'), raw: rateOf('raw.relaxed'), sahpool: rateOf('sahpool.relaxed') },
      relaxedText: { tonystore: rateOf('tonystore.relaxedText'), raw: rateOf('raw.relaxed') },
      batch: { tonystore: rateOf('tonystore.batch'), sahpool: rateOf('sahpool.batch') },
      readAt: { tonystore: readRate('tonystore'), sahpool: readRate('sahpool') },
      load: { tonystore: o.load / load.tonystore.seconds, sahpool: o.load / load.sahpool.seconds },
    };
    r.load = { tonystore: load.tonystore.seconds, sahpool: load.sahpool.seconds };
    r.open = { tonystore: reads.tonystore.openSeconds, sahpool: reads.sahpool.openSeconds };
    r.checked = { tonystore: reads.tonystore.checked, sahpool: reads.sahpool.checked };
    r.journal = [...new Set(Object.entries(samples).filter(([k]) => k.startsWith('sahpool')).flatMap(([, v]) => v.map((s) => s.journal)))];
    r.targets = {
      durable: { peer: 'raw', min: 0.9, ratio: r.rates.durable.tonystore / r.rates.durable.raw },
      relaxed: { peer: 'raw', min: 0.5, ratio: r.rates.relaxed.tonystore / r.rates.relaxed.raw },
      batch: { peer: 'sahpool', min: 1, ratio: r.rates.batch.tonystore / r.rates.batch.sahpool },
      readAt: { peer: 'sahpool', min: 1, ratio: r.rates.readAt.tonystore / r.rates.readAt.sahpool },
    };
    r.targets.durable.rounds = spread(roundRates('tonystore.durable'), roundRates('raw.durable'));
    r.targets.relaxed.rounds = spread(roundRates('tonystore.relaxed'), roundRates('raw.relaxed'));
    r.targets.batch.rounds = spread(roundRates('tonystore.batch'), roundRates('sahpool.batch'));
    r.targets.readAt.rounds = spread(readRates('tonystore'), readRates('sahpool'));
    for (const t of Object.values(r.targets)) t.met = t.ratio >= t.min;
    // The load target is for 100,000 commits; a smaller load says nothing about it.
    r.targets.load = { maxSeconds: 10, seconds: r.load.tonystore, met: o.load >= 100_000 ? r.load.tonystore < 10 : null };
    r.pageErrors = pageErrors;
    if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join('; ')}`);
    return r;
  } finally {
    await context.close();
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

function gitHead() {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export function table(r) {
  const c = r.conditions;
  const met = (t) => (t.met === null ? 'not measured (load < 100k)' : t.met ? 'met' : '**not met**');
  const lines = [
    `Headless Chromium ${c.chromium}, dedicated workers on OPFS, tonystore ${c.tonystore} (release wasm, ${c.commit}), ` +
      `sqlite-wasm ${c.sqlite} opfs-sahpool (journal ${r.journal.join('/')}, locking_mode EXCLUSIVE), ${c.cores} cores, ${c.date}. ` +
      `Durable ${fmt(c.durable)} commits, relaxed ${fmt(c.relaxed)}, ${c.batches} commits of ${fmt(c.per)} records, ` +
      `median of ${c.rounds} rounds (in brackets: the lowest and highest ratio within one round); history of ${fmt(c.load)} commits; ${fmt(c.reads)} checked reads per round ` +
      `(${fmt(r.checked.tonystore)} tonystore, ${fmt(r.checked.sahpool)} sahpool, every one matched). Whole run ${fmt(r.seconds, 0)} s.`,
    '',
    '| workload | tonystore | peer | peer rate | tonystore / peer | target |',
    '|---|---|---|---|---|---|',
    `| durable commit, 1 record | ${rate(r.rates.durable.tonystore)} | raw append + \`flush()\` | ${rate(r.rates.durable.raw)} | ${targetRatio(r.targets.durable)} | ≥ 0.9×: ${met(r.targets.durable)} |`,
    `| | | sahpool WAL, \`synchronous\` FULL, 1 INSERT/tx | ${rate(r.rates.durable.sahpool)} | ${ratio(r.rates.durable.tonystore / r.rates.durable.sahpool)} | |`,
    `| relaxed commit, 1 record (flush at the end) | ${rate(r.rates.relaxed.tonystore)} | raw append, flush at the end | ${rate(r.rates.relaxed.raw)} | ${targetRatio(r.targets.relaxed)} | ≥ 0.5×: ${met(r.targets.relaxed)} |`,
    `| | | sahpool WAL, \`synchronous\` OFF, 1 INSERT/tx | ${rate(r.rates.relaxed.sahpool)} | ${ratio(r.rates.relaxed.tonystore / r.rates.relaxed.sahpool)} | |`,
    `| relaxed commit, the record as JSON text (\`{ path, tony }\`) | ${rate(r.rates.relaxedText.tonystore)} | raw append, flush at the end | ${rate(r.rates.relaxedText.raw)} | ${ratio(r.rates.relaxedText.tonystore / r.rates.relaxedText.raw)} | |`,
    `| ${fmt(c.per)} records per commit (records/s) | ${rate(r.rates.batch.tonystore)} | sahpool, ${fmt(c.per)} INSERTs/tx, OFF | ${rate(r.rates.batch.sahpool)} | ${targetRatio(r.targets.batch)} | ≥ 1×: ${met(r.targets.batch)} |`,
    `| \`readAt\` random (path, commit), ${fmt(c.load)}-commit history | ${rate(r.rates.readAt.tonystore)} (${fmt(1e6 / r.rates.readAt.tonystore, 1)} µs) | sahpool indexed latest row ≤ commit | ${rate(r.rates.readAt.sahpool)} (${fmt(1e6 / r.rates.readAt.sahpool, 1)} µs) | ${targetRatio(r.targets.readAt)} | ≥ 1×: ${met(r.targets.readAt)} |`,
    `| loading the ${fmt(c.load)}-commit history | ${fmt(r.load.tonystore, 2)} s (${rate(r.rates.load.tonystore)}) | sahpool, OFF, 1 INSERT/tx | ${fmt(r.load.sahpool, 2)} s (${rate(r.rates.load.sahpool)}) | ${ratio(r.rates.load.tonystore / r.rates.load.sahpool)} | < 10 s at 100k: ${met(r.targets.load)} |`,
    `| opening that history | ${fmt(r.open.tonystore * 1000, 1)} ms | sahpool | ${fmt(r.open.sahpool * 1000, 1)} ms | | |`,
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const o = options(process.argv.slice(2));
    const r = await run(o, (line) => console.error(line));
    console.log(table(r));
    if (o.json) console.log(JSON.stringify(r));
  } catch (err) {
    console.error(`bench-browser: ${err.message}`);
    process.exit(1);
  }
}
