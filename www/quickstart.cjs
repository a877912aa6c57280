// Node quickstart: a file-backed store, a few commits, and reads of the past.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

(async () => {
  const { TonyStore } = await import('../pkg/node.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tonystore-quickstart-'));
  const store = await TonyStore.open(dir);
  const first = store.commit([{ path: 'todo', value: { title: 'try tonystore', done: false } }]);
  store.commit([{ path: 'todo.done', value: true }]);
  store.commit([{ path: 'todo.note', tony: '"it time-travels"' }]);
  console.log(`quickstart: store in ${dir}, head ${store.head}`);
  console.log(`  todo.done now:            ${store.readAt('todo.done')}`);
  console.log(`  todo.done at commit ${first}:    ${store.readAt('todo.done', first)}`);
  console.log(`  the whole document now:   ${store.readTonyAt('')}`);
  store.close();
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
