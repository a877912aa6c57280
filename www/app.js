// The demo: a history explorer over a store that lives in OPFS (in a dedicated worker).
import { TonyStore } from './pkg/browser.js';

const $ = (id) => document.getElementById(id);
const status = (text, error = false) => {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
};

let store;

async function refresh() {
  const head = store.head;
  $('head').textContent = head;
  const at = $('at');
  const following = Number(at.value) === Number(at.max);
  at.max = head;
  if (following) at.value = head;
  $('at-label').textContent = at.value;
  await showValue();
  const commits = await store.history($('read-path').value);
  // A Float64Array: Array.from maps it to elements (its own map would make numbers).
  $('history').replaceChildren(...Array.from(commits, (c) => {
    const li = document.createElement('li');
    li.textContent = `commit ${c}`;
    li.onclick = () => { at.value = c; $('at-label').textContent = c; showValue(); };
    return li;
  }));
}

async function showValue() {
  const at = Number($('at').value);
  try {
    const text = at === 0 ? 'null' : await store.readTonyAt($('read-path').value, at);
    $('value').textContent = text ?? '(nothing here)';
  } catch (err) {
    $('value').textContent = `${err.code}: ${err.message}`;
  }
}

$('commit').onclick = async () => {
  try {
    const commit = await store.commit([{ path: $('commit-path').value, tony: $('commit-text').value }]);
    status(`committed ${commit}`);
    $('at').value = store.head;
    await refresh();
  } catch (err) {
    status(`${err.code}: ${err.message}`, true);
  }
};

$('at').oninput = () => { $('at-label').textContent = $('at').value; showValue(); };
$('read-path').onchange = refresh;

$('stream').onclick = async () => {
  const n = Number($('stream-items').value);
  const items = Array.from({ length: n }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'], score: i * 1.5 }));
  status('committing a large sub-document…');
  await store.commit([{ path: 'big', value: { items } }]);
  await refresh();
  const expected = JSON.stringify(items).length;
  let received = 0;
  const started = performance.now();
  for await (const chunk of store.readStream('big.items', undefined, { format: 'json', chunkBytes: 256 * 1024 })) {
    received += chunk.length;
    $('stream-progress').value = Math.min(1, received / expected);
  }
  const ms = performance.now() - started;
  $('stream-result').textContent = `streamed ${received} bytes in ${ms.toFixed(0)} ms`;
  status(`streamed big.items at commit ${store.head}`);
};

try {
  store = await TonyStore.open('demo');
  status(`store "demo" open on OPFS at commit ${store.head}`);
  document.body.dataset.ready = 'true';
  await refresh();
} catch (err) {
  status(`${err.code}: ${err.message}`, true);
  document.body.dataset.ready = 'error';
  document.body.dataset.errorCode = err.code ?? '';
}
