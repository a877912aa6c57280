// The typings, checked the way an app checks them: the package README's TypeScript examples and a
// tour of the whole API are compiled with `tsc --strict --noEmit` against the packed package under
// each module resolution an app may use, and deliberate mistakes must fail. The README examples
// marked `run: node` are also run in Node.
//
// In the README, `<!-- tsc: CONFIG ... -->` before a ```ts block names the configurations below
// that must accept it, and `<!-- run: node -->` marks the ones to run.
import test from 'node:test';
import assert from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { installPacked, root } from '../scripts/packed-project.mjs';

const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
const common = { strict: true, noEmit: true, target: 'es2022', lib: ['esnext', 'dom'], types: [], skipLibCheck: false };
const CONFIGS = {
  // a window app (Vite's template: no custom conditions) -> browser.d.ts
  bundler: { module: 'preserve', moduleResolution: 'bundler' },
  'bundler-browser': { module: 'preserve', moduleResolution: 'bundler', customConditions: ['browser'] },
  // a worker or workerd project -> index.d.ts
  'bundler-worker': { module: 'preserve', moduleResolution: 'bundler', customConditions: ['worker'] },
  'bundler-workerd': { module: 'preserve', moduleResolution: 'bundler', customConditions: ['workerd'] },
  // Node -> node.d.ts, with the DOM library and with Node's own types instead
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
  'nodenext-node': { module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2023'], types: ['node'], typeRoots: [path.join(root, 'node_modules/@types')] },
};
const ASYNC = ['bundler', 'bundler-browser'];
const SYNC = ['bundler-worker', 'bundler-workerd', 'nodenext', 'nodenext-node'];

/** The README's ```ts blocks with the configurations that must accept them and whether to run them. */
function readmeExamples() {
  const text = fs.readFileSync(path.join(root, 'pkg-config/README.md'), 'utf8');
  const examples = [];
  const block = /((?:<!-- [a-z]+: [^>]* -->\n)+)```ts\n([\s\S]*?)```/g;
  for (const [, marks, code] of text.matchAll(block)) {
    const configs = marks.match(/<!-- tsc: ([^>]*) -->/)?.[1].trim().split(/\s+/) ?? [];
    examples.push({ configs, run: /<!-- run: node -->/.test(marks), code });
  }
  return examples;
}

/** The whole window API, awaited, with the types it must have. */
const WINDOW_TOUR = `
import { TonyStore, TonyStoreError, version } from 'tonystore';
import type { Change, ErrorCode, ImportResult, LogRecord, Stats, TransactionStatus, TonyValue } from 'tonystore';
const store: TonyStore = await TonyStore.open('tour', { worker: () => new Worker('w.js', { type: 'module' }), wait: true });
const viaUrl = await TonyStore.open('tour2', { worker: new URL('w.js', location.href) });
const commit: number = await store.commit([{ path: 'a', value: { b: [1, 2n, null] } }, { path: 'c', tony: '!delete null' }]);
const replaced: number = await store.commit({ path: 'a', value: {}, replace: true }, { match: { path: 'a', value: 1 } });
const value: TonyValue | undefined = await store.readAt('a', commit);
const text: string | null = await store.readTonyAt('a');
const history: Float64Array = await store.history('a');
const log: LogRecord[] = await store.log({ path: 'a', from: 1, to: replaced });
const all: LogRecord[] = await store.log();
const diff: string | null = await store.diff('a', 1, 2);
const changes: Change[] = await store.changes('a', 0);
const paths: string[] = changes.flatMap((c) => c.paths);
const stats: Stats = await store.stats();
const tx: number = await store.beginTransaction(2, 1000);
const status: TransactionStatus = await store.joinTransaction(tx, { path: 'x', value: 1, match: { path: 'x', value: null } });
if (status.state === 'committed') { const c: number = status.commit; }
await store.flush();
for await (const chunk of store.readStream('a', 1, { format: 'json', chunkBytes: 1024 })) { const bytes: Uint8Array = chunk; }
const head: number = store.head;
const code: ErrorCode = 'unsupported';
const internal: ErrorCode = 'internal';
const interrupted: ErrorCode = 'interrupted';
const unsubscribe: () => void = await store.subscribe('a', (change: Change) => { const n: number = change.commit; });
unsubscribe();
for await (const change of store.watch('a', { since: 0, signal: AbortSignal.timeout(10) })) { const p: string[] = change.paths; }
const shipment: Uint8Array = await store.export(0, { maxBytes: 1 << 20 });
const imported: ImportResult = await store.import(shipment);
const shared = await TonyStore.open('shared', { share: true, readOnly: true });
const err = new TonyStoreError('closed', 'x');
const e: Error = err;
const v: string = version();
{ await using scoped = await TonyStore.open('scoped'); }
await store.close();
await viaUrl.close();
export { all, diff, paths, stats, head, code, internal, interrupted, imported, shared, e, v, text, value, history, log };
`;

/** The whole synchronous API (worker, workerd, Node), with the types it must have. */
const SYNC_TOUR = `
import { TonyStore, TextReader, TonyStoreError, version } from 'tonystore';
import type { Change, ImportResult, LogRecord, Stats, TransactionStatus, TonyValue, TonyStoreDirectory } from 'tonystore';
const store: TonyStore = await TonyStore.open('tour', { backend: 'memory', durability: 'flush' });
const commit: number = store.commit([{ path: 'a', value: { b: [1, 2n, null] } }, { path: 'c', tony: '!delete null' }]);
const replaced: number = store.commit({ path: 'a', tony: '{x: 1}', replace: true });
const value: TonyValue | undefined = store.readAt('a', commit);
const text: string | null = store.readTonyAt('a');
const history: Float64Array = store.history('a');
const log: LogRecord[] = store.log({ path: 'a', from: 1, to: replaced });
const diff: string | null = store.diff('a', 1);
const changes: Change[] = store.changes('a');
const stats: Stats = store.stats();
const unsubscribe: () => void = store.subscribe('a', (change: Change) => { const n: number = change.commit; });
unsubscribe();
for await (const change of store.watch('a', { since: 0 })) { const p: string[] = change.paths; break; }
const shipment: Uint8Array = store.export(0, { maxBytes: 1 << 20 });
const imported: ImportResult = store.import(shipment);
const status: TransactionStatus = store.joinTransaction(store.beginTransaction(1, 10), { path: 'x', value: 1 });
if (status.state === 'waiting') { const n: number = status.joined + status.of; }
const reader: TextReader = store.openReader('a', undefined, 'json');
const chunk: Uint8Array | undefined = reader.next(64);
reader.free();
const dir: TonyStoreDirectory = { open: () => ({ read: () => new Uint8Array(), write: () => 0, size: () => 0, truncate() {}, flush() {} }) };
const custom = await TonyStore.open('custom', { backend: (name: string) => dir });
try { store.flush(); } catch (err) { if (err instanceof TonyStoreError) { const code: string = err.code; } }
{ using scoped = await TonyStore.open('scoped', { backend: 'memory' }); }
store.close();
store.free();
custom.close();
export { diff, changes, stats, text, value, history, log, chunk, version, imported };
`;

/** Mistakes each configuration must reject: [name, code, configurations, expected message]. */
const MISTAKES = [
  ['commit result used as a number in a window', `
import { TonyStore } from 'tonystore';
const store = await TonyStore.open('x');
const c1: number = store.commit([{ path: 'a', value: 1 }]);
export { c1 };`, ASYNC, /Promise<number>/],
  ['subscribe in a window used as if it returned the unsubscribe function', `
import { TonyStore } from 'tonystore';
const store = await TonyStore.open('x');
const stop: () => void = store.subscribe('a', () => {});
export { stop };`, ASYNC, /Promise/],
  ['history as number[] in a window', `
import { TonyStore } from 'tonystore';
const store = await TonyStore.open('x');
const h: number[] = await store.history('a');
export { h };`, ASYNC, /Float64Array/],
  ['an unknown error code', `
import type { ErrorCode } from 'tonystore';
const code: ErrorCode = 'no_such_code';
export { code };`, [...ASYNC, ...SYNC], /no_such_code/],
  ['replace that is not a boolean', `
import { TonyStore } from 'tonystore';
const store = await TonyStore.open('x');
store.commit({ path: 'a', value: 1, replace: 'yes' });`, [...ASYNC, ...SYNC], /boolean/],
  ['a worker option outside the window entry', `
import { TonyStore } from 'tonystore';
await TonyStore.open('x', { worker: 'w.js' });`, SYNC, /worker/],
  ['the window store used synchronously in a worker project', `
import { TonyStore } from 'tonystore/window';
const store = await TonyStore.open('x');
const value: number = store.head + store.commit({ path: 'a', value: 1 });
export { value };`, SYNC, /Promise<number>/],
];

const project = installPacked('tonystore-typings-');

/** Writes `files` (name -> code) into a fresh directory with a tsconfig for `config`; tsc's result. */
function check(config, files, label) {
  const dir = fs.mkdtempSync(path.join(project, `ts-${config}-`));
  for (const [name, code] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), code);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...common, ...CONFIGS[config] }, include: ['*.ts'] }));
  const run = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  return { ok: run.status === 0, output: `${label} under ${config}:\n${run.stdout}${run.stderr}` };
}

test('the typings resolve per condition: window, worker, workerd and Node', () => {
  const probe = `
import { TonyStore } from 'tonystore';
const store = await TonyStore.open('x');
export const commit = store.commit({ path: 'a', value: 1 });
`;
  const expect = { bundler: 'Promise<number>', 'bundler-browser': 'Promise<number>', 'bundler-worker': 'number', 'bundler-workerd': 'number', nodenext: 'number', 'nodenext-node': 'number' };
  for (const [config, type] of Object.entries(expect)) {
    // Assigning to a string makes tsc name the type it inferred.
    const { ok, output } = check(config, { 'probe.ts': `${probe}const s: string = commit;\n` }, 'probe');
    assert.ok(!ok, output);
    assert.match(output, new RegExp(`Type '${type.replace(/[<>]/g, '\\$&')}' is not assignable to type 'string'`), output);
  }
});

test('the README examples and the whole API type-check under tsc --strict in every configuration they name', () => {
  const examples = readmeExamples();
  assert.ok(examples.length >= 5, `found ${examples.length} examples`);
  for (const config of Object.keys(CONFIGS)) {
    const files = {};
    examples.forEach(({ configs, code }, i) => {
      if (configs.includes(config)) files[`readme-${i}.ts`] = code;
    });
    files['tour.ts'] = ASYNC.includes(config) ? WINDOW_TOUR : SYNC_TOUR;
    if (config.startsWith('nodenext')) {
      files['node.ts'] = `import { NodeFsDir, TonyStore } from 'tonystore';
import { NodeFsDir as Direct } from 'tonystore/node-fs';
const store = await TonyStore.open('db', { backend: new NodeFsDir('db') });
const direct: Direct = new Direct('db2');
store.close();
export { direct };`;
    }
    const { ok, output } = check(config, files, Object.keys(files).join(', '));
    assert.ok(ok, output);
  }
  for (const { configs } of examples) for (const config of configs) assert.ok(CONFIGS[config], `README names an unknown configuration ${config}`);
});

test('deliberate type errors fail where they must', () => {
  for (const [name, code, configs, message] of MISTAKES) {
    for (const config of configs) {
      const { ok, output } = check(config, { 'mistake.ts': code }, name);
      assert.ok(!ok, `accepted: ${output}`);
      assert.match(output, /error TS\d+/, output);
      assert.match(output, message, output);
    }
  }
});

test('the README examples marked to run work in Node against the package', async (t) => {
  const runnable = readmeExamples().filter((e) => e.run);
  assert.ok(runnable.length >= 3);
  for (const [i, { code }] of runnable.entries()) {
    await t.test(`example ${i}`, () => {
      const dir = fs.mkdtempSync(path.join(project, 'run-'));
      const js = esbuild.transformSync(code, { loader: 'ts', format: 'esm' }).code;
      fs.writeFileSync(path.join(dir, 'example.mjs'), js);
      const out = execFileSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
      assert.ok(out.length > 0, `example ${i} printed something`);
      // Each console.log line's comment is what it prints (spacing aside; `...` elides).
      const same = (text) => text.replace(/Float64Array\(\d+\)/g, 'Float64Array').replace(/\s+/g, '');
      const expected = [...code.matchAll(/^console\.log\(.*\);\s+\/\/ (.*)$/gm)].map((m) => m[1]);
      const printed = out.trimEnd().split('\n');
      assert.strictEqual(printed.length, expected.length, out);
      expected.forEach((comment, line) => {
        if (!comment.includes('...')) assert.strictEqual(same(printed[line]), same(comment), `example ${i}, line ${line + 1}: ${printed[line]}`);
      });
    });
  }
});
