// The demo: a history explorer over a store that lives in OPFS (in a dedicated worker), shared
// by every tab of the page's origin: commits made in one tab appear in the others at once.
import { TonyStore } from './pkg/browser.js';

const $ = (id) => document.getElementById(id);
const status = (text, error = false) => {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
};
const element = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

let store;
/** The commit shown (0: the empty store), and whether the view follows the head. */
let shown = 0;
let following = true;

/** The value as a collapsible tree: objects and arrays are `<details>`, open two levels deep. */
function tree(value, key, depth = 0) {
  const label = (node) => {
    if (key !== undefined) node.append(element('span', 'key', `${key}: `));
    return node;
  };
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const details = element('details');
    details.open = depth < 2;
    const summary = label(element('summary'));
    summary.append(Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`);
    details.append(summary, ...entries.map(([k, v]) => tree(v, k, depth + 1)));
    return details;
  }
  const leaf = label(element('div', 'leaf'));
  const kind = typeof value === 'string' ? 'str' : typeof value === 'number' || typeof value === 'bigint' ? 'num' : 'lit';
  leaf.append(element('span', kind, typeof value === 'string' ? JSON.stringify(value) : String(value)));
  return leaf;
}

/** A Tony patch with its ops highlighted. */
function renderDiff(text) {
  const out = $('diff');
  out.replaceChildren();
  if (text === null) {
    out.textContent = '(no change here)';
    return;
  }
  // Split before each op tag; color the run it starts up to the next tag.
  for (const part of text.split(/(?=!(?:insert|delete|replace|arraydiff|strdiff|addtag|rmtag|retag)\b)/)) {
    const op = part.match(/^!(insert|delete|replace)/)?.[1];
    out.append(op ? element('span', `op-${op}`, part) : part);
  }
}

async function showValue() {
  $('at-label').textContent = shown;
  const path = $('read-path').value;
  try {
    const [value, text] = shown === 0 ? [undefined, null] : await Promise.all([store.readAt(path, shown), store.readTonyAt(path, shown)]);
    $('value').textContent = text ?? '(nothing here)';
    $('tree').replaceChildren(value === undefined ? element('em', '', '(nothing here)') : tree(value));
  } catch (err) {
    $('value').textContent = `${err.code}: ${err.message}`;
    $('tree').replaceChildren(element('em', '', `${err.code}: ${err.message}`));
  }
  await showDiff();
}

/** What the shown commit changed at the path. */
async function showDiff() {
  $('diff-commit').textContent = shown || '–';
  if (shown === 0) {
    renderDiff(null);
    return;
  }
  try {
    renderDiff(await store.diff($('read-path').value, shown - 1, shown));
  } catch (err) {
    $('diff').textContent = `${err.code}: ${err.message}`;
  }
}

/** The commits that changed the path, newest first, with their times. */
async function showTimeline() {
  const records = await store.log({ path: $('read-path').value });
  $('history').replaceChildren(...records.reverse().map(({ commit, timestamp }) => {
    const li = element('li', commit === shown ? 'selected' : '', `commit ${commit}`);
    li.dataset.commit = commit;
    const time = element('time', '', new Date(timestamp).toLocaleTimeString());
    time.dateTime = new Date(timestamp).toISOString();
    li.append(time);
    li.onclick = () => select(commit);
    return li;
  }));
}

/** Shows the document as of `commit`. */
async function select(commit) {
  shown = commit;
  following = commit === store.head;
  $('at').value = commit;
  for (const li of $('history').children) li.classList.toggle('selected', Number(li.dataset.commit) === commit);
  await showValue();
}

/** Everything, after the head moved or the path changed. */
async function refresh() {
  $('head').textContent = store.head;
  $('at').max = store.head;
  if (following) shown = store.head;
  $('at').value = shown;
  await Promise.all([showValue(), showTimeline()]);
}

$('commit').onclick = async () => {
  try {
    const commit = await store.commit([
      { path: $('commit-path').value, tony: $('commit-text').value, replace: $('commit-replace').checked },
    ]);
    status(`committed ${commit}`);
    following = true;
    await refresh();
  } catch (err) {
    status(`${err.code}: ${err.message}`, true);
  }
};

$('at').oninput = () => select(Number($('at').value));
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

/** Follows every commit, from this tab or another, as it happens. */
async function follow() {
  for await (const change of store.watch('')) {
    $('live').textContent = `commit ${change.commit} changed ${change.paths.map((p) => p || '(root)').join(', ')}`;
    await refresh();
  }
}

try {
  store = await TonyStore.open('demo');
  status(`store "demo" open on OPFS at commit ${store.head}`);
  await refresh();
  follow().catch((err) => status(`${err.code}: ${err.message}`, true));
  document.body.dataset.ready = 'true';
} catch (err) {
  status(`${err.code}: ${err.message}`, true);
  document.body.dataset.ready = 'error';
  document.body.dataset.errorCode = err.code ?? '';
}
