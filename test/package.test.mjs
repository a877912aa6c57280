// The packed npm package, installed into a blank project: what the tarball holds, the exports
// map, Node (file store, streams, a second process, errors, dispose). workerd: workerd.test.mjs.
import test from 'node:test';
import assert from 'node:assert';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cargoVersion, installPacked, root } from '../scripts/packed-project.mjs';

const project = installPacked();

function runIn(dir, code) {
  const file = path.join(dir, `script-${Math.random().toString(36).slice(2)}.mjs`);
  fs.writeFileSync(file, code);
  return execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8' });
}

test('the tarball holds one wasm, the LICENSE, the typings and every entry', () => {
  const [{ files }] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', path.join(root, 'pkg')], { encoding: 'utf8' }));
  const names = files.map((f) => f.path).sort();
  assert.deepStrictEqual(names.filter((n) => n.endsWith('.wasm')), ['web/tonystore_bg.wasm']);
  for (const name of ['LICENSE', 'README.md', 'package.json', 'index.d.ts', 'browser.d.ts', 'node.d.ts', 'store.d.ts', 'types.d.ts',
    'node-fs.d.cts', 'proxy-worker.d.ts', 'workerd.d.ts', 'browser.js', 'web.js', 'node.js', 'workerd.js', 'worker.js', 'core.js',
    'live.js', 'share.js', 'durable.js', 'http.js',
    'version.js', 'node-fs.cjs', 'web/tonystore.js']) {
    assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
  }
  const license = fs.readFileSync(path.join(root, 'pkg/LICENSE'), 'utf8');
  assert.match(license, /Apache License\s+Version 2\.0, January 2004/);
  assert.match(license, /END OF TERMS AND CONDITIONS/);
});

test('package.json: every export condition carries its own types, and every file exists', () => {
  const installed = path.join(project, 'node_modules/tonystore');
  const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  assert.strictEqual(pkg.version, cargoVersion);
  assert.strictEqual(pkg.license, 'Apache-2.0');
  assert.strictEqual(pkg.engines.node, '>=20');
  assert.strictEqual(pkg.types, undefined, 'no top-level types to shadow the conditions');
  assert.deepStrictEqual(Object.keys(pkg.exports['.']), ['workerd', 'worker', 'node', 'browser', 'default']);
  const expected = { workerd: ['workerd.d.ts', 'workerd.js'], worker: ['index.d.ts', 'web.js'], node: ['node.d.ts', 'node.js'], browser: ['browser.d.ts', 'browser.js'], default: ['browser.d.ts', 'browser.js'] };
  for (const [condition, [types, entry]] of Object.entries(expected)) {
    assert.deepStrictEqual(pkg.exports['.'][condition], { types: `./${types}`, default: `./${entry}` }, condition);
  }
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const targets = typeof target === 'string' ? [target] : Object.values(target).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
    for (const file of targets) assert.ok(fs.existsSync(path.join(installed, file)), `${subpath} -> ${file}`);
    if (typeof target !== 'string' && subpath !== '.') assert.ok(target.types, `${subpath} has types`);
  }
});

test('Node: TonyStoreError, NodeFsDir, TextReader, Symbol.dispose, log/diff/changes through the entry; the window entry answers version()', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-node-extra-'));
  const out = runIn(project, `
    import { TonyStore, TonyStoreError, NodeFsDir, TextReader, version } from 'tonystore';
    import { version as windowVersion, TonyStoreError as WindowError } from 'tonystore/window';
    const s = await TonyStore.open('unused', { backend: new NodeFsDir(${JSON.stringify(dir)}) });
    s.commit({ path: 'a', value: 'text' });
    const reader = s.openReader('a');
    const isReader = reader instanceof TextReader;
    const chunk = new TextDecoder().decode(reader.next(64));
    reader[Symbol.dispose]();
    const fail = (fn) => { try { fn(); return 'no error'; } catch (e) { return { typed: e instanceof TonyStoreError, isError: e instanceof Error, name: e.name, code: e.code, cause: e.cause instanceof Error }; } };
    const badPath = fail(() => s.readAt('a..b'));
    const badArg = fail(() => s.readAt(5));
    s.commit({ path: 'b', value: 1 });
    s.commit({ path: 'a', value: 'more' });
    const history = { log: s.log({ path: 'a' }).map((r) => r.commit), diff: s.diff('a', 1), same: s.diff('a', 1, 2), changes: s.changes('a', 1), exact: Array.from(s.history('a')) };
    const badLog = fail(() => s.log({ from: 'x' }));
    const badDiff = fail(() => s.diff('a'));
    s[Symbol.dispose]();
    const afterDispose = fail(() => s.readAt('a'));
    const again = await TonyStore.open('unused', { backend: new NodeFsDir(${JSON.stringify(dir)}) });
    const reopened = again.readAt('a');
    await again[Symbol.asyncDispose]();
    let locked;
    const holder = await TonyStore.open(${JSON.stringify(dir)});
    try { await TonyStore.open(${JSON.stringify(dir)}); } catch (e) { locked = { typed: e instanceof TonyStoreError, code: e.code }; }
    holder.close();
    console.log(JSON.stringify({ isReader, chunk, badPath, badArg, history, badLog, badDiff, afterDispose, reopened, locked, version: version(), windowVersion: windowVersion(), sameClass: WindowError === TonyStoreError }));`);
  const r = JSON.parse(out);
  assert.strictEqual(r.isReader, true);
  assert.strictEqual(r.chunk, 'text');
  assert.deepStrictEqual(r.badPath, { typed: true, isError: true, name: 'TonyStoreError', code: 'invalid_path', cause: true });
  assert.deepStrictEqual(r.badArg, { typed: true, isError: true, name: 'TonyStoreError', code: 'invalid_path', cause: true });
  assert.deepStrictEqual(r.history, { log: [1, 3], diff: '!replace {from: text to: more}', same: null, changes: [{ commit: 3, paths: ['a'] }], exact: [1, 3] });
  assert.deepStrictEqual([r.badLog.typed, r.badLog.code], [true, 'invalid_argument']);
  assert.deepStrictEqual([r.badDiff.typed, r.badDiff.code], [true, 'invalid_argument']);
  assert.deepStrictEqual(r.afterDispose, { typed: true, isError: true, name: 'TonyStoreError', code: 'closed', cause: false });
  assert.strictEqual(r.reopened, 'more', 'dispose released the files and the lock');
  assert.deepStrictEqual(r.locked, { typed: true, code: 'locked' });
  assert.strictEqual(r.version, cargoVersion);
  assert.strictEqual(r.windowVersion, cargoVersion);
  assert.strictEqual(r.sameClass, true, 'one TonyStoreError class across entries');
});

test('Node: a file store commits, time-travels, streams, and persists across processes', () => {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-node-'));
  const out = runIn(project, `
    import { TonyStore, version } from 'tonystore';
    const s = await TonyStore.open(${JSON.stringify(store)});
    const c1 = s.commit([{ path: 'doc', value: { title: 'one', items: [1, 2, 3] } }]);
    const c2 = s.commit([{ path: 'doc.title', value: 'two' }]);
    const c3 = s.commit([{ path: 'doc.items', tony: '!arraydiff {1: !delete 2}' }]);
    let streamed = '';
    for await (const chunk of s.readStream('doc', c2, { format: 'json', chunkBytes: 8 })) streamed += Buffer.from(chunk).toString();
    let code;
    try { s.commit([{ path: 'doc.items', tony: '!replace {from: [9], to: []}' }]); } catch (e) { code = e.code; }
    console.log(JSON.stringify({ version: version(), c1, c2, c3, at1: s.readAt('doc.title', c1), at3: s.readAt('doc', c3), streamed, code, head: s.head }));
    s.close();`);
  const r = JSON.parse(out);
  assert.strictEqual(r.version, cargoVersion);
  assert.deepStrictEqual([r.c1, r.c2, r.c3, r.head], [1, 2, 3, 3]);
  assert.strictEqual(r.at1, 'one');
  assert.deepStrictEqual(r.at3, { title: 'two', items: [1, 3] });
  assert.strictEqual(r.streamed, '{"title":"two","items":[1,2,3]}');
  assert.strictEqual(r.code, 'patch_rejected');
  // A second process reopens the store and sees everything.
  const again = JSON.parse(runIn(project, `
    import { TonyStore } from 'tonystore';
    const s = await TonyStore.open(${JSON.stringify(store)});
    console.log(JSON.stringify({ head: s.head, title: s.readAt('doc.title', 1), history: Array.from(s.history('doc.items')) }));
    s.close();`));
  assert.deepStrictEqual(again, { head: 3, title: 'one', history: [1, 3] });
});

test('Node: a second writer on the same directory gets locked', () => {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-lock-'));
  const out = runIn(project, `
    import { TonyStore } from 'tonystore';
    const a = await TonyStore.open(${JSON.stringify(store)});
    try { await TonyStore.open(${JSON.stringify(store)}); console.log('opened twice'); } catch (e) { console.log(e.code); }
    a.close();
    const b = await TonyStore.open(${JSON.stringify(store)});
    console.log('reopened', b.head);`);
  assert.strictEqual(out.trim(), 'locked\nreopened 0');
});


