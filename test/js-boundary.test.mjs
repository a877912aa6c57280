// The JS boundary of the built Node package (pkg/, from scripts/build-pkg), used as a hostile
// caller would: every bad argument to every method gets a coded error, a value that is not plain
// data is `invalid_value` naming where it is, `__proto__` is an ordinary key both ways, the wasm
// instance stays usable for every store, and after close() every call throws `closed`.
import test from 'node:test';
import assert from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TonyStore } from '../pkg/node.js';

let counter = 0;
const memory = () => TonyStore.open(`boundary-${process.pid}-${counter++}`, { backend: 'memory' });

/** Asserts `fn` throws an Error with `code` (and a message matching `message`); `label` names the case. */
function throwsCode(fn, code, message, label = '') {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Error, `${label} an Error, not ${e}`);
    assert.strictEqual(e.code, code, `${label} code of: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** The store still answers, and so does a fresh one (the wasm instance was not harmed). */
async function stillUsable(store, expected) {
  assert.deepStrictEqual(store.readAt(''), expected);
  const other = await memory();
  assert.strictEqual(other.commit({ path: 'ok', value: 1 }), 1);
  assert.strictEqual(other.readAt('ok'), 1);
  other.close();
}

class Point { constructor() { this.x = 1; } }
const cycle = { a: 1 };
cycle.self = { back: cycle };
const deep = (n) => { let v = 0; for (let i = 0; i < n; i++) v = [v]; return v; };
// A cycle closing 41 levels down, back to the root: the conversion tracks containers for cycles
// only from 32 levels down, and must still name the place where the cycle first closes.
const deepCycle = {};
{ let at = deepCycle; for (let i = 0; i < 40; i++) { at.n = {}; at = at.n; } at.back = deepCycle; }
const revoked = Proxy.revocable({}, {});
revoked.revoke();

// [what, value, code, where and what the message says]
const BAD_VALUES = [
  ['undefined', { a: undefined }, 'invalid_value', /value\.a is undefined/],
  ['undefined at the root', undefined, 'invalid_value', /: value is undefined; use null/],
  ['a function', { a: [0, 1, { b: () => 1 }] }, 'invalid_value', /value\.a\[2\]\.b is a function/],
  ['a symbol', { s: Symbol('x') }, 'invalid_value', /value\.s is a symbol/],
  ['a Date', { when: new Date(0) }, 'invalid_value', /value\.when is a Date/],
  ['a Map', { m: new Map([[1, 2]]) }, 'invalid_value', /value\.m is a Map/],
  ['a Set', [new Set([1])], 'invalid_value', /value\[0\] is a Set/],
  ['a RegExp', { r: /x/ }, 'invalid_value', /value\.r is a RegExp/],
  ['a typed array', { bytes: new Uint8Array(2) }, 'invalid_value', /value\.bytes is a Uint8Array/],
  ['an ArrayBuffer', { b: new ArrayBuffer(1) }, 'invalid_value', /value\.b is an ArrayBuffer/],
  ['a class instance', { p: new Point() }, 'invalid_value', /value\.p is an instance of Point/],
  ['a boxed number', { n: new Number(1) }, 'invalid_value', /value\.n is a Number/],
  ['NaN', { n: NaN }, 'invalid_value', /value\.n is NaN/],
  ['Infinity', [Infinity], 'invalid_value', /value\[0\] is Infinity/],
  ['a BigInt beyond 64 bits', { big: 2n ** 70n }, 'invalid_value', /value\.big is the BigInt 1180591620717411303424/],
  ['a hole in an array', [1, , 3], 'invalid_value', /value\[1\] is undefined/],
  ['a symbol key', { [Symbol('k')]: 1 }, 'invalid_value', /value has a symbol key/],
  ['a cycle', cycle, 'invalid_value', /value\.self\.back is a cycle/],
  ['a cycle closing deep', deepCycle, 'invalid_value', /: value(\.n){40}\.back is a cycle/],
  ['an odd key', { 'a b': { 'c"d': undefined } }, 'invalid_value', /value\["a b"\]\["c\\"d"\] is undefined/],
  ['a lone surrogate', { s: 'ok\uD800' }, 'invalid_value', /value\.s has a string with a lone surrogate/],
  ['a lone surrogate key', { ['\uDC00']: 1 }, 'invalid_value', /lone surrogate/],
  ['a throwing getter', { get g() { throw new Error('boom'); } }, 'invalid_value', /value\.g threw while reading it: boom/],
  ['a Proxy with a throwing trap', new Proxy({}, { ownKeys() { throw new Error('trap'); } }), 'invalid_value', /value threw while listing keys: trap/],
  ['a revoked Proxy', { p: revoked.proxy }, 'invalid_value', /value\.p threw/],
  ['nesting too deep', { d: deep(300) }, 'too_deep', /value\.d(\[0\])+ is nested deeper than 256 levels/],
];

test('values that are not plain data are invalid_value errors naming where they are; nothing is written', async () => {
  const store = await memory();
  store.commit({ path: 'keep', value: 1 });
  for (const [what, value, code, message] of BAD_VALUES) {
    throwsCode(() => store.commit([{ path: 'x', value }]), code, message, what);
    throwsCode(() => store.commit({ path: 'x', value: 'fine' }, { match: { path: 'x', value } }), code, message, `${what} (match)`);
    assert.strictEqual(store.head, 1, what);
  }
  // Which patch of several is named too.
  throwsCode(() => store.commit([{ path: 'a', value: 1 }, { path: 'b', value: { d: new Date() } }]), 'invalid_value', /^patches\[1\]: value\.d is a Date/);
  await stillUsable(store, { keep: 1 });
});

test('plain data of every kind is accepted, including null-prototype objects and BigInts', async () => {
  const store = await memory();
  const value = { n: null, t: true, i: -3, f: 1.5, s: 'x', big: 2n ** 60n, arr: [[], {}], bare: Object.assign(Object.create(null), { k: 1 }) };
  store.commit({ path: 'v', value });
  assert.deepStrictEqual(store.readAt('v'), { ...value, bare: { k: 1 } });
  // The same object twice (not a cycle) is fine.
  const shared = { k: 1 };
  store.commit({ path: 'twice', value: [shared, shared] });
  assert.deepStrictEqual(store.readAt('twice'), [{ k: 1 }, { k: 1 }]);
});

test('__proto__ is an ordinary key: stored from JSON, read back as an own property, never a prototype', async () => {
  const store = await memory();
  const fromJson = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
  store.commit({ path: 'doc', value: fromJson });
  store.commit({ path: 'tony', tony: '{__proto__: {polluted: yes}}' });
  assert.match(store.readTonyAt('doc'), /__proto__/);
  for (const read of [store.readAt('doc'), store.readAt('tony'), store.readAt('')['doc']]) {
    assert.ok(Object.hasOwn(read, '__proto__'), 'an own property');
    assert.strictEqual(Object.getPrototypeOf(read), Object.prototype, 'the prototype is untouched');
    assert.strictEqual(read.polluted, undefined);
    assert.ok(Object.getOwnPropertyDescriptor(read, '__proto__').enumerable);
  }
  assert.strictEqual(JSON.stringify(store.readAt('doc')), '{"__proto__":{"polluted":true},"a":1}');
  assert.deepStrictEqual(store.readAt('doc.__proto__'), { polluted: true });
  assert.strictEqual({}.polluted, undefined, 'Object.prototype is not polluted');
});

test('patches: path must be a string and exactly one of value/tony is given', async () => {
  const store = await memory();
  store.commit({ path: 'doc', value: { a: 1 } });
  const cases = [
    [{ path: 123, value: 1 }, 'invalid_path', /^patches\.path must be a string, not number/],
    [{ value: 1 }, 'invalid_path', /patches\.path must be a string, not undefined/],
    [{ path: null, value: 1 }, 'invalid_path', /not null/],
    [{ path: ['a'], value: 1 }, 'invalid_path', /not an array/],
    [{ path: 'a[' , value: 1 }, 'invalid_path', /patches\.path:/],
    [{ path: 'a' }, 'invalid_patch', /has neither of value and tony/],
    [{ path: 'a', value: 1, tony: '1' }, 'invalid_patch', /has both of value and tony/],
    [{ path: 'a', tony: 5 }, 'invalid_tony', /tony must be a string, not number/],
    [{ path: 'a', tony: '{' }, 'invalid_tony', /patches\.tony:/],
  ];
  for (const [patch, code, message] of cases) {
    throwsCode(() => store.commit(patch), code, message);
    throwsCode(() => store.commit([{ path: 'ok', value: 1 }, patch]), code);
  }
  for (const [patches, code] of [[undefined, 'invalid_argument'], [null, 'invalid_argument'], [5, 'invalid_argument'], ['a', 'invalid_argument'], [[5], 'invalid_patch'], [[null], 'invalid_patch'], [[[]], 'invalid_patch'], [() => 1, 'invalid_argument']]) {
    throwsCode(() => store.commit(patches), code);
  }
  await stillUsable(store, { doc: { a: 1 } });
});

test('every method rejects every bad argument type with a coded error, and the instance stays usable', async () => {
  const store = await memory();
  store.commit({ path: 'k', value: 'v' });
  const tx = store.beginTransaction(2, 10_000);
  const calls = [
    [() => store.readAt(123), 'invalid_path'],
    [() => store.readAt(), 'invalid_path'],
    [() => store.readAt({}), 'invalid_path'],
    [() => store.readAt(Symbol('p')), 'invalid_path'],
    [() => store.readAt('k', 'x'), 'invalid_argument'],
    [() => store.readAt('k', 1n), 'invalid_argument'],
    [() => store.readAt('k', -1), 'no_such_commit'],
    [() => store.readAt('k', 1.5), 'no_such_commit'],
    [() => store.readAt('k', 99), 'no_such_commit'],
    [() => store.readTonyAt(123), 'invalid_path'],
    [() => store.readTonyAt('k', {}), 'invalid_argument'],
    [() => store.history(123), 'invalid_path'],
    [() => store.history(undefined), 'invalid_path'],
    [() => store.openReader(123), 'invalid_path'],
    [() => store.openReader('k', undefined, 5), 'invalid_option'],
    [() => store.openReader('k', undefined, 'yaml'), 'invalid_option'],
    [() => store.readStream(123), 'invalid_path'],
    [() => store.readStream('k', 'x'), 'invalid_argument'],
    [() => store.readStream('k', undefined, 7), 'invalid_option'],
    [() => store.readStream('k', undefined, { format: 5 }), 'invalid_option'],
    [() => store.readStream('k', undefined, { chunkBytes: 0 }), 'invalid_option'],
    [() => store.readStream('k', undefined, { chunkBytes: 'big' }), 'invalid_option'],
    [() => store.readStream('k', undefined, { chunkBytes: 2 ** 30 }), 'invalid_option'],
    [() => store.commit({ path: 'k', value: 1 }, 5), 'invalid_option'],
    [() => store.commit({ path: 'k', value: 1 }, { match: 5 }), 'invalid_argument'],
    [() => store.commit({ path: 'k', value: 1 }, { match: { path: 1, value: 1 } }), 'invalid_path'],
    [() => store.commit({ path: 'k', value: 1 }, { get match() { throw new Error('getter'); } }), 'invalid_argument'],
    [() => store.beginTransaction('2', 100), 'invalid_argument'],
    [() => store.beginTransaction(0, 100), 'invalid_argument'],
    [() => store.beginTransaction(1.5, 100), 'invalid_argument'],
    [() => store.beginTransaction(2, -1), 'invalid_argument'],
    [() => store.beginTransaction(2, NaN), 'invalid_argument'],
    [() => store.beginTransaction(), 'invalid_argument'],
    [() => store.joinTransaction('1', { path: 'a', value: 1 }), 'invalid_argument'],
    [() => store.joinTransaction(-1, { path: 'a', value: 1 }), 'invalid_argument'],
    [() => store.joinTransaction(tx, 5), 'invalid_patch'],
    [() => store.joinTransaction(tx, { path: 5, value: 1 }), 'invalid_path'],
    [() => store.joinTransaction(tx, { path: 'a', value: new Map() }), 'invalid_value'],
    [() => store.joinTransaction(tx, { path: 'a', value: 1, match: 5 }), 'invalid_patch'],
  ];
  for (const [call, code] of calls) throwsCode(call, code, undefined, String(call));
  const reader = store.openReader('k');
  for (const bad of ['x', 0, -1, 2 ** 32, {}, undefined]) throwsCode(() => reader.next(bad), 'invalid_argument');
  assert.strictEqual(new TextDecoder().decode(reader.next(1024)), 'v');
  reader.free();
  await stillUsable(store, { k: 'v' });
});

test('open rejects bad names and options with codes; a throwing backend factory is an io error', async () => {
  const rejects = (promise, code) => assert.rejects(promise, (e) => e.code === code || assert.fail(`${e.code}: ${e.message}`));
  await rejects(TonyStore.open(123, { backend: 'memory' }), 'invalid_argument');
  await rejects(TonyStore.open(undefined, { backend: 'memory' }), 'invalid_argument');
  await rejects(TonyStore.open('x', 5), 'invalid_option');
  await rejects(TonyStore.open('x', 'memory'), 'invalid_option');
  await rejects(TonyStore.open('x', { backend: 'memory', durability: 5 }), 'invalid_option');
  await rejects(TonyStore.open('x', { backend: 'memory', durability: 'sometimes' }), 'invalid_option');
  await rejects(TonyStore.open('x', { backend: 5 }), 'invalid_option');
  await rejects(TonyStore.open('x', { backend: 'disk' }), 'invalid_option');
  await rejects(TonyStore.open('x', { backend: () => { throw new Error('no directory'); } }), 'io');
  await rejects(TonyStore.open('x', { backend: () => 5 }), 'invalid_option');
  await rejects(TonyStore.open('x', { backend: { open() { throw Object.assign(new Error('held'), { code: 'locked' }); } } }), 'locked');
  await rejects(TonyStore.open('x', { backend: { open() { throw Object.assign(new Error('read-only file system'), { code: 'EROFS' }); } } }), 'read_only');
  // A backend whose files break the protocol: errors, not traps.
  const liar = (file) => ({ open: () => ({ size: () => 4096, read: () => 'not bytes', write: () => 0, truncate() {}, flush() {}, ...file }) });
  await assert.rejects(TonyStore.open('x', { backend: liar({}) }), (e) => e.code === 'io' && /not a Uint8Array/.test(e.message));
  await rejects(TonyStore.open('x', { backend: liar({ size() { throw new Error('gone'); } }) }), 'io');
  await rejects(TonyStore.open('x', { backend: { open: () => 5 } }), 'io');
  const store = await memory();
  await stillUsable(store, null);
});

test('after close() (or free()) every call throws closed; close() may be repeated', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-closed-'));
  for (const end of ['close', 'free']) {
    const store = await TonyStore.open(path.join(dir, end));
    store.commit({ path: 'a', value: 1 });
    const tx = store.beginTransaction(2, 10_000);
    const reader = store.openReader('a');
    const stream = store.readStream('a');
    store[end]();
    throwsCode(() => reader.next(16), 'closed', undefined, `${end}: a reader opened before`);
    await assert.rejects(stream.getReader().read(), (e) => e.code === 'closed', `${end}: a stream opened before`);
    const calls = {
      commit: () => store.commit({ path: 'a', value: 2 }),
      readAt: () => store.readAt('a'),
      readTonyAt: () => store.readTonyAt('a'),
      readStream: () => store.readStream('a'),
      openReader: () => store.openReader('a'),
      history: () => store.history('a'),
      stats: () => store.stats(),
      head: () => store.head,
      beginTransaction: () => store.beginTransaction(1, 10),
      joinTransaction: () => store.joinTransaction(tx, { path: 'b', value: 1 }),
      flush: () => store.flush(),
      badArguments: () => store.readAt(123),
    };
    for (const [name, call] of Object.entries(calls)) throwsCode(call, 'closed', undefined, `${end}: ${name}`);
    store.close();
    store.free();
    // The files and the lock were released: the directory reopens.
    const again = await TonyStore.open(path.join(dir, end));
    assert.strictEqual(again.readAt('a'), 1);
    again.close();
  }
});

test('a trap inside one store (a panic: a bug) is an internal error, never a RuntimeError; other stores keep working', async () => {
  const store = await memory();
  store.commit({ path: 'x', value: [1, 2, 3, 4, 5] });
  // Slots "3" and "03" of one !arraydiff panicked in the patch code (issue 11); once that is fixed
  // the commit is refused with another code or succeeds, and this test still checks the boundary.
  let failure;
  try {
    store.commit({ path: 'x', tony: '!arraydiff {"3": 9, "03": 8}' });
  } catch (e) {
    failure = e;
  }
  if (failure) {
    assert.ok(!(failure instanceof WebAssembly.RuntimeError), 'no RuntimeError escapes');
    assert.strictEqual(typeof failure.code, 'string', failure.message);
  }
  if (failure?.code === 'internal') {
    throwsCode(() => store.readAt('x'), 'internal', /cannot be used any more/);
    throwsCode(() => store.close(), 'internal');
    store.free();
    throwsCode(() => store.readAt('x'), 'closed');
  }
  const other = await memory();
  other.commit({ path: 'ok', value: [1] });
  assert.deepStrictEqual(other.readAt(''), { ok: [1] });
  other.close();
});

/** A seeded PRNG (mulberry32), so a failure names a reproducible case. */
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const GOOD_LEAVES = [null, true, false, 0, -7, 2 ** 53 - 1, 1.25, -1e-300, '', 'text', '__proto__', 'ünï', 12n, -(2n ** 63n)];
const BAD_LEAVES = [undefined, () => 0, Symbol('s'), new Date(0), new Map(), new Set(), /r/, new Float64Array(1), new Point(), NaN, 2n ** 64n];
const KEYS = ['a', 'b c', '__proto__', '0', 'x_1', 'constructor', 'é'];

/** A random value nested up to `depth` levels, with an occasional value that cannot be stored. */
function generate(next, depth) {
  const roll = next();
  const pick = (list) => list[Math.floor(next() * list.length)];
  if (depth === 0 || roll < 0.45) return next() < 0.12 ? pick(BAD_LEAVES) : pick(GOOD_LEAVES);
  const length = Math.floor(next() * 4);
  if (roll < 0.7) return Array.from({ length }, () => generate(next, depth - 1));
  return Object.fromEntries(Array.from({ length }, () => [pick(KEYS), generate(next, depth - 1)]));
}

/** The test's own oracle: where the first value that cannot be stored is (depth first), if any. */
function firstBad(value, at) {
  const isPlainLeaf = value === null || ['boolean', 'string'].includes(typeof value) || (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'bigint' && BigInt.asIntN(64, value) === value);
  if (isPlainLeaf) return undefined;
  if (Array.isArray(value)) return value.map((v, i) => firstBad(v, `${at}[${i}]`)).find(Boolean);
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.keys(value).map((k) => firstBad(value[k], /^[A-Za-z_$][\w$]*$/.test(k) ? `${at}.${k}` : `${at}[${JSON.stringify(k)}]`)).find(Boolean);
  }
  return at;
}

/** What a stored value reads back as: BigInts within 2^53 come back as numbers. */
const readBack = (value) =>
  typeof value === 'bigint' && value >= -(2n ** 53n) + 1n && value <= 2n ** 53n - 1n ? Number(value)
    : Array.isArray(value) ? value.map(readBack)
      : value !== null && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, readBack(v)]))
        : value;

test('random values: plain data round-trips exactly; anything else is refused naming its first bad place', async () => {
  const store = await memory();
  let stored = 0;
  let refused = 0;
  for (let seed = 1; seed <= 600; seed++) {
    const value = generate(random(seed), 5);
    const bad = firstBad(value, 'value');
    if (bad) {
      const head = store.head;
      throwsCode(() => store.commit({ path: 'v', value }), 'invalid_value', new RegExp(`^patches: ${bad.replace(/[.[\]\\"$^()*+?{}|]/g, '\\$&')} (is|has)`), `seed ${seed}`);
      assert.strictEqual(store.head, head);
      refused++;
    } else {
      // A fresh path each time: an object patch merges into what is there.
      store.commit({ path: `v${seed}`, value });
      assert.deepStrictEqual(store.readAt(`v${seed}`), readBack(value), `seed ${seed}`);
      stored++;
    }
  }
  assert.ok(stored > 100 && refused > 100, `both outcomes exercised: ${stored} stored, ${refused} refused`);
});
