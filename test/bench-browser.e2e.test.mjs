// A bounded smoke run of the browser peer benchmark (scripts/bench-browser.mjs) in headless
// Chromium, so that it cannot rot: with tiny counts, every store must produce a rate for every
// workload and every read must have been checked; and with the read expectations skewed by one
// commit the run must fail on the first read, which shows the check is real.
import assert from 'node:assert';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../scripts/bench-browser.mjs');
const TINY = ['--durable=20', '--relaxed=60', '--batches=2', '--per=50', '--load=300', '--reads=150', '--rounds=2'];
const bench = (...args) => spawnSync(process.execPath, [script, ...TINY, ...args], { encoding: 'utf8', timeout: 60_000 });

test('the browser benchmark measures every store on every workload and checks every read', { timeout: 90_000 }, () => {
  const run = bench('--json');
  assert.strictEqual(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n');
  const r = JSON.parse(lines.at(-1));
  assert.match(r.conditions.chromium, /^\d+\.\d+\.\d+\.\d+$/);
  assert.match(r.conditions.sqlite, /^3\.\d+\.\d+$/);
  const expected = {
    durable: ['tonystore', 'raw', 'sahpool'],
    relaxed: ['tonystore', 'raw', 'sahpool'],
    relaxedText: ['tonystore', 'raw'],
    batch: ['tonystore', 'sahpool'],
    readAt: ['tonystore', 'sahpool'],
    load: ['tonystore', 'sahpool'],
  };
  assert.deepStrictEqual(Object.keys(r.rates).sort(), Object.keys(expected).sort());
  for (const [workload, stores] of Object.entries(expected)) {
    assert.deepStrictEqual(Object.keys(r.rates[workload]).sort(), [...stores].sort(), workload);
    for (const store of stores) {
      const x = r.rates[workload][store];
      assert.ok(Number.isFinite(x) && x > 0, `${workload} ${store}: rate ${x}`);
    }
  }
  // 150 reads in each of 2 rounds, per store, each compared with its writer's commit.
  assert.deepStrictEqual(r.checked, { tonystore: 300, sahpool: 300 });
  for (const t of ['durable', 'relaxed', 'batch', 'readAt']) assert.strictEqual(typeof r.targets[t].met, 'boolean', t);
  assert.strictEqual(r.targets.load.met, null, 'a 300-commit load says nothing of the 100k target');
  assert.deepStrictEqual(r.pageErrors, []);
  // The Markdown table: a header, a separator and nine rows.
  const rows = lines.filter((l) => l.startsWith('|'));
  assert.strictEqual(rows.length, 11, run.stdout);
  assert.ok(rows.some((l) => l.startsWith('| durable commit, 1 record |')));
});

test('a read that does not match its writer fails the run', { timeout: 90_000 }, () => {
  const run = bench('--skew-reads');
  assert.strictEqual(run.status, 1, run.stdout);
  assert.match(run.stderr, /tonystore\.reads: read mismatch: docs\.d\d+\.users\.u\d+ at commit \d+ gave commit \d+, expected \d+/);
});
