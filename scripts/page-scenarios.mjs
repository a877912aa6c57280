// Functions the browser tests run inside a page (`page.evaluate(fn, arg)`, the same in
// playwright-core and puppeteer-core): each is self-contained, since only its source reaches the
// page, and takes one argument. Lives outside test/ because node --test runs every file there.

/**
 * The acknowledged commits `[commit, path]` (path `<prefix>.i<n>`, written with value n) that do
 * not read back at their commit through `window.store`: `[]` when every one does.
 */
export async function wrongReads(acked) {
  const bad = [];
  for (const [commit, path] of acked) {
    const value = await window.store.readAt(path, commit);
    if (value !== Number(path.split('.i')[1])) bad.push([commit, path, value]);
  }
  return bad;
}

/**
 * Opens the store `name` through the window entry, in a worker whose OPFS has no sync access
 * handles (as on WebKit's Linux ports), runs `body` (the source of an async function body with
 * `store` in scope), closes the store, and returns what the body returned.
 */
export async function withoutSyncHandles([name, body]) {
  const { TonyStore } = await import('/pkg/browser.js');
  // A static import: the worker's handlers exist before any message arrives.
  const code = `import '${location.origin}/pkg/worker.js';\ndelete FileSystemFileHandle.prototype.createSyncAccessHandle;`;
  const worker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })), { type: 'module' });
  const store = await TonyStore.open(name, { worker });
  try {
    return await new Function('store', `return (async () => { ${body} })();`)(store);
  } finally {
    await store.close();
  }
}
