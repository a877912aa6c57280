// The browsers the JS end-to-end suites run in, behind one small interface, so that a suite's
// scenario is written once and registered for each: Chromium (playwright-core, as before) and
// Firefox ESR (puppeteer-core over WebDriver BiDi, scripts/firefox.mjs). Pages are the drivers'
// own; what both drivers do alike (`evaluate(fn, arg)`, `goto`, `on('pageerror' | 'console' |
// 'response')`, `addScriptTag`, `close({ runBeforeUnload })`) is called on them directly, and the
// one call they spell differently, waiting for a condition in the page, goes through
// `browser.waitFor`. Lives outside test/ because node --test runs every file there.
import test from 'node:test';
import { chromium } from 'playwright-core';
import { launchFirefox, needsFirefox } from './firefox.mjs';

/** Chromium's flags for headless runs here (also scripts/bench-browser.mjs). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

const DRIVERS = {
  chromium: {
    label: 'Chromium',
    userAgent: /Chrome\//,
    options: (options) => options,
    /** One Chromium for the test; each profile is a new context of it (its own storage). */
    profiles() {
      let browser;
      return {
        async profile() {
          browser ??= await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
          return browser.newContext();
        },
        close: () => browser?.close(),
      };
    },
    waitFor: (page, fn, arg, timeout) => page.waitForFunction(fn, arg, { timeout }),
  },
  firefox: {
    label: 'Firefox',
    userAgent: /Firefox\//,
    // Skipped where Firefox ESR is missing, except under CI=true (see needsFirefox).
    options: needsFirefox,
    /** Each profile is a Firefox of its own, on a fresh temporary profile. */
    profiles() {
      const browsers = [];
      return {
        async profile() {
          const browser = await launchFirefox();
          browsers.push(browser);
          return browser;
        },
        close: () => Promise.all(browsers.map((b) => b.close())),
      };
    },
    // Polled on a timer, not on animation frames: Firefox draws no frames for a background tab.
    waitFor: (page, fn, arg, timeout) => page.waitForFunction(fn, { timeout, polling: 50 }, arg),
  },
};

/** The browsers every suite runs in. */
export const BROWSERS = Object.keys(DRIVERS);

/**
 * Registers the test `title` once per browser (`title (Chromium)`, `title (Firefox)`), each
 * running `body(t, browser)` with
 * - `browser.name`, `browser.label`: `chromium`, `Chromium`; `firefox`, `Firefox`;
 * - `browser.userAgent`: what its pages' `navigator.userAgent` matches;
 * - `await browser.profile()`: a fresh browser profile, with its own storage, whose `newPage()`
 *   opens a tab (tabs of one profile share an origin's storage); every browser started for the
 *   test is closed when it ends;
 * - `browser.waitFor(page, fn, arg, timeout = 30 s)`: resolves once `fn(arg)` is truthy in `page`.
 */
export function eachBrowser(title, options, body) {
  for (const name of BROWSERS) {
    const driver = DRIVERS[name];
    test(`${title} (${driver.label})`, driver.options(options), async (t) => {
      const { profile, close } = driver.profiles();
      t.after(close);
      const waitFor = (page, fn, arg = null, timeout = 30_000) => driver.waitFor(page, fn, arg, timeout);
      await body(t, { name, label: driver.label, userAgent: driver.userAgent, profile, waitFor });
    });
  }
}
