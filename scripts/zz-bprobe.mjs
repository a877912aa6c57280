import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from './browsers.mjs';
import { serve } from './serve.mjs';
const server = await serve(0, { '/bprobe/': '/tmp/bprobe' });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'bprobe-'));
const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
const page = context.pages()[0] ?? await context.newPage();
await page.goto(`http://127.0.0.1:${server.address().port}/bprobe/`);
await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
const count = Number(process.env.N ?? 5000);
for (let r = 0; r < 3; r++) for (const backend of (process.env.BACKENDS ?? 'opfs,memory').split(',')) {
  const res = await page.evaluate((a) => window.runJob(a), { backend, count, name: `p${r}${backend}`, durable: Boolean(process.env.DURABLE) });
  console.log(backend, res.usPerCommit.toFixed(1), 'us/commit; flush', res.flushMs.toFixed(1), 'ms', JSON.stringify(res.calls));
}
await context.close(); server.close();
