// Headless Firefox for the JS end-to-end tests: Debian's Firefox ESR (installed by scripts/setup),
// driven by puppeteer-core over WebDriver BiDi. Lives outside test/ because node --test runs every
// file there as a test.
import fs from 'node:fs';
import puppeteer from 'puppeteer-core';

export const FIREFOX = '/usr/bin/firefox-esr';

/**
 * node:test options for a test that needs Firefox. Where Firefox is not installed (a developer
 * machine that never ran scripts/setup) the test is skipped, with the reason in the report; under
 * CI=true it is never skipped, so a missing Firefox fails there instead of passing unseen.
 */
export function needsFirefox(options = {}) {
  if (fs.existsSync(FIREFOX) || process.env.CI === 'true') return options;
  return { ...options, skip: `Firefox ESR is not installed (${FIREFOX}): run scripts/setup` };
}

/** Starts headless Firefox with a fresh temporary profile (removed by `browser.close()`). */
export async function launchFirefox() {
  if (!fs.existsSync(FIREFOX)) {
    throw new Error(`Firefox ESR is not installed (${FIREFOX}): run scripts/setup`);
  }
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    // The machine has no network but loopback: keep Firefox from reaching out.
    extraPrefsFirefox: {
      'app.update.enabled': false,
      'browser.safebrowsing.malware.enabled': false,
      'browser.safebrowsing.phishing.enabled': false,
      'network.captive-portal-service.enabled': false,
      'network.connectivity-service.enabled': false,
    },
  });
}
