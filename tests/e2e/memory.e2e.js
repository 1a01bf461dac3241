// Long-term memory in a real browser (Debian's Chromium, headless, driven by
// playwright-core) with its index in IndexedDB: a fact told in one thread is
// recalled in a new thread of the same user after a reload, and never in
// another user's thread, though both users' memory is in the same store.
// The page (tests/e2e/memory/) talks to a chat client of its own.
//
//   node tests/e2e/memory.e2e.js     (tests/e2e/run.sh does the set-up first)

import { start } from '../../scripts/serve.js';
import { assert, assertEqual, check, launch, report, stopped } from './harness.js';

async function ready(page) {
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
}

async function main() {
  const server = await start({ port: 0 });
  let browser;
  const pageErrors = [];
  try {
    browser = await launch();
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${server.url}tests/e2e/memory/`);
    await ready(page);
    await page.evaluate(() => window.memorySuite.clear());

    const FACT = 'My favourite colour is teal';
    const BOB_FACT = 'My dog is called Rex';

    await check("alice tells a fact in a thread; it is kept in IndexedDB", async () => {
      const told = await page.evaluate((t) => window.memorySuite.tell('alice', t), FACT);
      assertEqual(told, { facts: [FACT], warnings: [] }, "alice's memory");
      const where = await page.evaluate(() => window.memorySuite.where());
      assert(where.databases.includes('threadmem-e2e-memory'), `databases: ${where.databases}`);
      assertEqual(where.localStorageKeys, [], 'localStorage keys');
    });

    await check('bob tells a fact of his own in another thread', async () => {
      const told = await page.evaluate((t) => window.memorySuite.tell('bob', t), BOB_FACT);
      assertEqual(told, { facts: [BOB_FACT], warnings: [] }, "bob's memory");
    });

    await page.reload();
    await ready(page);

    await check("after a reload, a new thread of alice's recalls her fact and not bob's", async () => {
      const r = await page.evaluate(() => window.memorySuite.ask('alice', 'What colour do I like?', 'favourite colour'));
      assert(r.sent.includes(FACT), `the request to the model lacks the fact: ${r.sent}`);
      assert(!r.sent.includes('Rex'), `bob's fact reached alice's request: ${r.sent}`);
      assertEqual(r.found, [FACT], "alice's search");
      assert(!r.listed.includes(BOB_FACT), `alice lists bob's fact: ${r.listed}`);
      assertEqual(r.warnings, [], 'warnings');
    });

    await check("a new thread of bob's never sees alice's fact", async () => {
      const r = await page.evaluate(() => window.memorySuite.ask('bob', 'What colour do I like?', 'favourite colour teal'));
      assert(!r.sent.includes('teal'), `alice's fact reached bob's request: ${r.sent}`);
      assertEqual(r.found, [], "bob's search");
      assert(!r.listed.includes(FACT), `bob lists alice's fact: ${r.listed}`);
      const dog = await page.evaluate(() => window.memorySuite.ask('bob', 'What is my dog called?', 'dog'));
      assert(dog.sent.includes(BOB_FACT), `bob's own fact is not recalled: ${dog.sent}`);
    });

    await check('no page errors', async () => {
      assertEqual(pageErrors, [], 'page errors');
    });
    await page.evaluate(() => window.memorySuite.clear());
  } catch (err) {
    stopped(err);
  } finally {
    await browser?.close().catch(() => {});
    await server.close();
  }
  report();
}

main();
