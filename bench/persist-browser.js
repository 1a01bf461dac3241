// Appending one turn (user + assistant) to a 10- and a 10,000-message thread
// in IndexedDB and in localStorage, with and without encryption at rest
// (AES-GCM, a passphrase-derived key), loading the large IndexedDB thread
// beside the same messages read as one JSON blob, and a whole agent turn on
// each thread (bench/agent-turn.js); in Debian's Chromium
// (headless) with an on-disk profile, so that storage really reaches the disk.
// node bench/persist-browser.js  -> prints JSON, writes bench/results/persist-browser.json
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { start } from '../scripts/serve.js';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const server = await start({ port: 0 });
const profile = await mkdtemp(join(tmpdir(), 'threadmem-bench-profile-'));
let out;
try {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await context.newPage();
    await page.goto(`${server.url}bench/browser/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
    const r = await page.evaluate(() => window.runBench());
    out = {
      date: new Date().toISOString(),
      machine: { cpu: cpus()[0]?.model, cores: cpus().length, memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), platform: process.platform },
      browser: `Chromium ${context.browser()?.version() ?? r.userAgent}`,
      ...r,
    };
  } finally {
    await context.close();
  }
} finally {
  await server.close();
  await rm(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out, null, 2));
await writeFile(new URL('./results/persist-browser.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
