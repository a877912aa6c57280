// WebKitGTK for the JS end-to-end tests: Debian's MiniBrowser (in libwebkit2gtk-4.1-0), driven
// through WebKitWebDriver (webkit2gtk-driver) over the W3C WebDriver HTTP API with plain fetch.
// WebKitGTK has no headless mode, so the browser draws into a private Xvfb display started here.
// Both are installed by scripts/setup. Lives outside test/ because node --test runs every file
// there as a test.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';

export const WEBKIT_DRIVER = '/usr/bin/WebKitWebDriver';
export const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
export const XVFB = '/usr/bin/Xvfb';
const NEEDED = [WEBKIT_DRIVER, MINIBROWSER, XVFB];

/** What of WebKitGTK, its driver and Xvfb is missing here (empty when everything is there). */
export function missingWebKit() {
  return NEEDED.filter((file) => !fs.existsSync(file));
}

/**
 * node:test options for a test that needs WebKitGTK. Where it is not installed (a developer
 * machine that never ran scripts/setup) the test is skipped, with the reason in the report; under
 * CI=true it is never skipped, so a missing browser fails there instead of passing unseen.
 */
export function needsWebKit(options = {}) {
  const missing = missingWebKit();
  if (missing.length === 0 || process.env.CI === 'true') return options;
  return { ...options, skip: `WebKitGTK is not installed (missing ${missing.join(', ')}): run scripts/setup` };
}

/** A TCP port free on 127.0.0.1 right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The last `limit` characters a child process wrote, for error messages. */
function tail(child, limit = 2000) {
  let text = '';
  const keep = (chunk) => {
    text = (text + chunk).slice(-limit);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text.trim();
}

/** Resolves when `child` exits (at once if it has), with its exit code or signal. */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
}

/** Stops `child` (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
async function stop(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = exited(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** Starts Xvfb on a free display; resolves to `{ display, process }` once it accepts clients. */
async function startXvfb() {
  // -displayfd: Xvfb picks a free display itself and writes its number to fd 3 once it is ready.
  const xvfb = spawn(XVFB, ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const output = tail(xvfb);
  const display = await new Promise((resolve, reject) => {
    let text = '';
    xvfb.stdio[3].on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) resolve(`:${text.trim()}`);
    });
    xvfb.once('error', reject);
    xvfb.once('exit', (code, signal) => reject(new Error(`Xvfb exited (${code ?? signal}) before it was ready: ${output()}`)));
    setTimeout(() => reject(new Error(`Xvfb did not start within 20 s: ${output()}`)), 20_000).unref();
  }).catch(async (err) => {
    await stop(xvfb);
    throw err;
  });
  return { display, process: xvfb };
}

/** A WebDriver error reply as an Error: `error` (e.g. `javascript error`) and message. */
class WebDriverError extends Error {
  constructor(command, status, value) {
    super(`WebDriver ${command}: ${value?.error ?? `HTTP ${status}`}: ${value?.message ?? JSON.stringify(value)}`);
    this.name = 'WebDriverError';
    this.error = value?.error;
  }
}

/** Sends one WebDriver command; resolves to the reply's `value`. */
async function command(base, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) throw new WebDriverError(`${method} ${path}`, response.status, reply.value);
  return reply.value;
}

/** Polls the driver's /status until it answers ready (the driver starts listening a bit later). */
async function driverReady(base, driver, output) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (driver.exitCode !== null || driver.signalCode !== null) {
      throw new Error(`WebKitWebDriver exited (${driver.exitCode ?? driver.signalCode}): ${output()}`);
    }
    try {
      if ((await command(base, 'GET', '/status')).ready) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`WebKitWebDriver did not answer /status within 20 s: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Starts Xvfb, WebKitWebDriver and a MiniBrowser session. `features` are WebKit features to
 * switch on or off (MiniBrowser's `--features`, e.g. `['+StorageAPI']`); `scriptTimeoutMs` bounds
 * each `run`. Resolves to a session with:
 * - `capabilities`: what the driver reported (`browserName`, `browserVersion`, ...);
 * - `goto(url)`, `reload()`: navigate and wait for the page to load;
 * - `run(fn, ...args)`: calls `fn` (an async function, sent as source: it sees only its JSON
 *   arguments) in the page and resolves to its JSON result; a rejection in the page rejects with
 *   an Error carrying the page error's `name`, `message` and `code`;
 * - `close()`: ends the session and stops the driver and Xvfb.
 */
export async function launchWebKit({ features = [], scriptTimeoutMs = 60_000 } = {}) {
  const missing = missingWebKit();
  if (missing.length > 0) throw new Error(`WebKitGTK is not installed (missing ${missing.join(', ')}): run scripts/setup`);
  const xvfb = await startXvfb();
  const children = [xvfb.process];
  const stopAll = () => Promise.all(children.reverse().map((child) => stop(child)));
  try {
    const port = await freePort();
    const driver = spawn(WEBKIT_DRIVER, [`--port=${port}`, '--host=local'], {
      env: { ...process.env, DISPLAY: xvfb.display },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(driver);
    const output = tail(driver);
    const base = `http://127.0.0.1:${port}`;
    await driverReady(base, driver, output);
    // The driver passes `args` instead of its default ones: `--automation` must be among them, or
    // MiniBrowser opens an ordinary window and the new session never answers.
    const args = ['--automation', ...(features.length > 0 ? [`--features=${features.join(',')}`] : [])];
    const created = await command(base, 'POST', '/session', {
      capabilities: {
        alwaysMatch: {
          'webkitgtk:browserOptions': { binary: MINIBROWSER, args },
          timeouts: { script: scriptTimeoutMs, pageLoad: 30_000 },
        },
      },
    }).catch((err) => {
      throw new Error(`${err.message}\nWebKitWebDriver said: ${output()}`);
    });
    const session = `${base}/session/${created.sessionId}`;
    let ended = false;
    return {
      capabilities: created.capabilities,
      goto: (url) => command(session, 'POST', '/url', { url }),
      reload: () => command(session, 'POST', '/refresh', {}),
      async run(fn, ...fnArgs) {
        // The last argument of an async script is the callback that returns its result.
        const script = `const done = arguments[arguments.length - 1];
          Promise.resolve().then(() => (${fn})(...Array.from(arguments).slice(0, -1))).then(
            (value) => done({ value: value === undefined ? null : value }),
            (e) => done({ error: { name: String(e?.name), message: String(e?.message ?? e), code: e?.code ?? null } }));`;
        const reply = await command(session, 'POST', '/execute/async', { script, args: fnArgs });
        if (reply?.error) {
          const err = new Error(`in the page: ${reply.error.name}: ${reply.error.message}`);
          Object.assign(err, { pageError: reply.error, code: reply.error.code });
          throw err;
        }
        return reply.value;
      },
      async close() {
        if (ended) return;
        ended = true;
        try {
          await command(session, 'DELETE', '');
        } finally {
          await stopAll();
        }
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * A server for pages that report back, for MiniBrowser run without WebDriver (whose sessions are
 * ephemeral: a persistent profile needs the plain browser). It serves the built package under
 * /pkg/ and, at /page/<id>, a page running `script` (module source) that must call
 * `report(value)` once; uncaught errors and unhandled rejections are reported as they happen.
 * `run(script, options)` starts MiniBrowser on such a page and resolves to
 * `{ value, errors }`; the origin stays the same for the server's life, so a second run in the
 * same profile sees the first one's storage.
 */
export async function startReportServer(root) {
  const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  const pages = new Map();
  let nextPage = 1;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const [, kind, id] = url.pathname.split('/');
    const page = pages.get(Number(id));
    if (kind === 'page' && page && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>report</title><script type="module">
        const send = (kind, value) => fetch('/report/${id}', { method: 'POST', body: JSON.stringify({ kind, value }) });
        const pageErrors = [];
        const failed = (text) => { pageErrors.push(text); send('error', text); };
        addEventListener('error', (e) => failed('uncaught error: ' + e.message));
        addEventListener('unhandledrejection', (e) => failed('unhandled rejection: ' + (e.reason?.message ?? e.reason)));
        const report = (value) => send('value', { value, errors: pageErrors });
        ${page.script}
      </script>`);
      return;
    }
    if (kind === 'report' && page && req.method === 'POST') {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        res.end();
        const { kind: what, value } = JSON.parse(body);
        // Errors are sent as they happen (for a page that never reports) and again with the value.
        if (what === 'error') page.errors.push(value);
        else page.done(value);
      });
      return;
    }
    const file = path.resolve(root, decodeURIComponent(url.pathname.slice(1)));
    if (!file.startsWith(path.join(root, 'pkg') + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    /**
     * Runs `script` in MiniBrowser with the profile in `profileDir` (its HOME and XDG
     * directories) and `features`; rejects if the page does not report within `timeoutMs`.
     */
    async run(script, { profileDir, features = [], timeoutMs = 60_000 }) {
      const id = nextPage++;
      const errors = [];  // as they arrive, for the timeout's message
      let done;
      const reported = new Promise((resolve) => (done = resolve));
      pages.set(id, { script, errors, done });
      const xvfb = await startXvfb();
      const browser = spawn(MINIBROWSER, [...(features.length ? [`--features=${features.join(',')}`] : []), `${origin}/page/${id}`], {
        env: {
          ...process.env,
          DISPLAY: xvfb.display,
          HOME: profileDir,
          XDG_DATA_HOME: path.join(profileDir, 'data'),
          XDG_CACHE_HOME: path.join(profileDir, 'cache'),
          XDG_CONFIG_HOME: path.join(profileDir, 'config'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const output = tail(browser);
      let timer;
      try {
        const { value, errors: pageErrors } = await Promise.race([
          reported,
          exited(browser).then((how) => Promise.reject(new Error(`MiniBrowser exited (${how}) before the page reported: ${output()}`))),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(
              `the page did not report within ${timeoutMs} ms (page errors: ${JSON.stringify(errors)}): ${output()}`)), timeoutMs);
          }),
        ]);
        return { value, errors: pageErrors };
      } finally {
        clearTimeout(timer);
        pages.delete(id);
        await stop(browser);
        await stop(xvfb.process);
      }
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
