// The installed package in real Chromium (Debian's, headless), two ways:
// bundled by Vite from `import ... from 'threadmem'`, and imported by path
// from a plain <script type="module">. Both pages run web/exercise.js.
//
//   node browser.mjs <app dir>   (the directory the tarball was installed into)

import { execFileSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from '../../scripts/serve.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const app = path.resolve(process.argv[2]);
cpSync(path.join(ROOT, 'tests/package/web'), app, { recursive: true });
execFileSync(process.execPath, [path.join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], {
  cwd: app,
  stdio: 'inherit',
});

const expected = JSON.stringify({
  ids: [13225, 11, 2375, 0],
  cl: 4,
  chat: 8,
  window: ['c'],
  replies: ['seen 1', 'seen 3', 'seen 5'],
});

const server = await start({ port: 0, root: app });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let failed = 0;
try {
  for (const [name, page] of [['Vite bundle', 'vite-dist/index.html'], ['plain <script type="module">', 'plain.html']]) {
    const tab = await browser.newPage();
    const problems = [];
    tab.on('pageerror', (err) => problems.push(String(err)));
    tab.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    tab.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));
    await tab.goto(server.url + page);
    await tab.waitForFunction(() => document.getElementById('result').textContent !== 'running', null, { timeout: 30000 });
    const result = await tab.textContent('#result');
    if (result === expected && problems.length === 0) {
      console.log(`package: ok in Chromium (${name})`);
    } else {
      failed += 1;
      console.log(`package: FAILED in Chromium (${name}): ${result}\n  ${problems.join('\n  ')}`);
    }
    await tab.close();
  }
} finally {
  await browser.close();
  await server.close();
}
process.exit(failed ? 1 : 0);
