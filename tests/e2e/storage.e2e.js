// The browser stores in a real browser (Debian's Chromium, headless, driven by
// playwright-core): the shared storage spec (tests/storage/spec.js) against
// IndexedDB and localStorage in a page served from 127.0.0.1 that imports the
// package as a user would; then what only a browser has: a reload finds the
// thread again, two tabs appending to one thread lose nothing (both with and
// without encryption), and a full localStorage quota is QUOTA_EXCEEDED with
// nothing half-written.
//
//   node tests/e2e/storage.e2e.js     (tests/e2e/run.sh does the set-up first)

import { start } from '../../scripts/serve.js';
import { assertEqual, check, launch, report, stopped } from './harness.js';

const KINDS = ['indexeddb', 'localstorage'];

async function openPage(context, url) {
  const page = await context.newPage();
  page.on('pageerror', (err) => console.log(`    page error: ${err.message}`));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
  return page;
}

async function main() {
  const server = await start({ port: 0 });
  const url = `${server.url}tests/e2e/storage/`;
  let browser;
  try {
    browser = await launch();
    const context = await browser.newContext();
    const page = await openPage(context, url);
    const names = await page.evaluate(() => window.storageSuite.names);

    for (const kind of KINDS) {
      for (const name of names) {
        await check(`${kind}: ${name}`, () => page.evaluate(([k, n]) => window.storageSuite.run(k, n), [kind, name]));
      }
    }

    for (const [kind, passphrase] of KINDS.flatMap((k) => [[k, null], [k, 'a reload passphrase']])) {
      const how = passphrase ? 'encrypted: ' : '';
      await check(`${kind}: ${how}a reload finds the thread again`, async () => {
        const ns = passphrase ? 'reload-encrypted' : 'reload';
        const turns = [['hello before the reload'], [{ role: 'assistant', text: 'noted' }, 'and a second turn']];
        await page.evaluate(([k, n, t, p]) => window.storageSuite.append(k, n, 'kept-thread', t, p), [kind, ns, turns, passphrase]);
        await page.reload();
        await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
        const seen = await page.evaluate(([k, n, p]) => window.storageSuite.list(k, n, 'kept-thread', p), [kind, ns, passphrase]);
        assertEqual(seen, { texts: ['hello before the reload', 'noted', 'and a second turn'], threads: ['kept-thread'] }, 'after reload');
      });
    }

    for (const [kind, passphrase] of KINDS.flatMap((k) => [[k, null], [k, 'a tabs passphrase']])) {
      const how = passphrase ? 'encrypted: ' : '';
      await check(`${kind}: ${how}two tabs appending to one thread lose nothing and agree on one order`, async () => {
        const ns = passphrase ? 'tabs-encrypted' : 'tabs';
        const second = await openPage(context, url);
        try {
          const turns = (tag) => Array.from({ length: 20 }, (_, i) => [`${tag}${i}`, { role: 'assistant', text: `${tag}${i}'` }]);
          await Promise.all([
            page.evaluate(([k, n, t, p]) => window.storageSuite.append(k, n, 'together', t, p), [kind, ns, turns('A'), passphrase]),
            second.evaluate(([k, n, t, p]) => window.storageSuite.append(k, n, 'together', t, p), [kind, ns, turns('B'), passphrase]),
          ]);
          const one = (await page.evaluate(([k, n, p]) => window.storageSuite.list(k, n, 'together', p), [kind, ns, passphrase])).texts;
          const two = (await second.evaluate(([k, n, p]) => window.storageSuite.list(k, n, 'together', p), [kind, ns, passphrase])).texts;
          assertEqual(one.length, 80, 'messages');
          assertEqual(two, one, 'the two tabs agree');
          assertEqual(new Set(one).size, 80, 'distinct messages');
          for (const tag of ['A', 'B']) {
            const own = one.filter((t) => t.startsWith(tag) && !t.endsWith("'"));
            assertEqual(own, Array.from({ length: 20 }, (_, i) => `${tag}${i}`), `tab ${tag}'s turns in order`);
          }
          const whole = one.every((t, i) => (t.endsWith("'") ? one[i - 1] === t.slice(0, -1) : one[i + 1] === `${t}'`));
          assertEqual(whole, true, 'each turn stays together');
        } finally {
          await second.close();
        }
      });
    }

    await check('localstorage: a closed store still tells other tabs to wait for its last commit', async () => {
      assertEqual(await page.evaluate(() => window.storageSuite.announcedAfterClose()), true, 'announced');
    });

    await check('localstorage: without Web Locks (not a secure context) it reads but refuses to write', async () => {
      const r = await page.evaluate(() => window.storageSuite.withoutWebLocks());
      assertEqual(r, {
        read: ['written with locks'],
        refused: 'STORAGE_ERROR',
        after: ['written with locks'],
        ownTexts: ['in my own storage'],
      }, 'outcome');
    });

    await check('localstorage: a thread cleared by the app right after a turn reads empty at once', async () => {
      const r = await page.evaluate(() => window.storageSuite.clearedAfterTurn());
      assertEqual(r, { count: 0, fast: true, texts: ['again'] }, 'outcome');
    });

    await check('localstorage: a page that may not use it gets a ThreadmemError; its own storage still works', async () => {
      const r = await page.evaluate(() => window.storageSuite.forbiddenLocalStorage());
      assertEqual(r, { error: { name: 'ThreadmemError', code: 'STORAGE_ERROR', cause: 'SecurityError' }, own: true }, 'outcome');
    });

    await check('indexeddb: a call waiting on the lock when the store closes is CLOSED and opens nothing', async () => {
      const r = await page.evaluate(() => window.storageSuite.closedWhileWaiting());
      assertEqual(r, { outcome: 'CLOSED', texts: ['kept'], connection: null }, 'outcome');
    });

    await check('localstorage: a full quota is QUOTA_EXCEEDED and nothing of the turn is kept', async () => {
      const r = await page.evaluate(() => window.storageSuite.quotaInLocalStorage());
      assertEqual(r.error, { name: 'ThreadmemError', code: 'QUOTA_EXCEEDED', cause: 'QuotaExceededError' }, 'error');
      assertEqual(r.unchanged, true, 'the thread\'s items are as before');
      assertEqual(r.seen, ['before 1', 'before 2'], 'the store after the failure');
      assertEqual(r.fresh, ['before 1', 'before 2'], 'a new store after the failure');
      assertEqual(r.final, ['before 1', 'before 2', 'after'], 'appending once there is room');
    });

    await check('localstorage: a quota running out at any write of a turn keeps all of it or none', async () => {
      const r = await page.evaluate(() => window.storageSuite.quotaAtEveryWrite());
      assertEqual(r.wrong, [], 'outcomes that are neither');
      if (!r.kept || !r.refused) throw new Error(`expected both outcomes, got ${JSON.stringify(r)}`);
    });
  } catch (err) {
    stopped(err);
  } finally {
    await browser?.close().catch(() => {});
    await server.close();
  }
  report();
}

main();
