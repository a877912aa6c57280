// A minimal static server for the demo: serves www/ and the built package under /pkg/.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };

/**
 * Serves www/ and pkg/ on `port` (0: any free port). `mounts` adds folders: URL prefix (`/bench/`)
 * -> directory; a mounted prefix's `/` serves its index.html.
 */
export function serve(port, mounts = {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const mount = Object.keys(mounts).find((prefix) => url.pathname.startsWith(prefix));
    let rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    let base = rel.startsWith('pkg/') ? root : path.join(root, 'www');
    // (the package is served from the repository's pkg/, built by scripts/build-pkg)
    if (mount) {
      base = path.resolve(mounts[mount]);
      rel = decodeURIComponent(url.pathname.slice(mount.length)) || 'index.html';
    }
    const file = path.resolve(base, rel);
    if (!file.startsWith(base + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] ?? 8080));
  console.log(`tonystore demo: http://127.0.0.1:${server.address().port}/`);
}
