// The web demo in a real browser (Debian's Chromium, headless, driven by
// playwright-core): the page loads under its strict CSP without errors, the
// offline model shows that a thread remembers and a new thread does not,
// message text is never run as HTML, export writes Agent Framework's shape
// and import resumes it, errors are shown with their code, and an
// OpenAI-compatible endpoint gets the history and the key.
//
//   node tests/e2e/demo.e2e.js        (tests/e2e/run.sh does the set-up first)
//   SCREENSHOT=/tmp/demo.png          where the screenshot goes (default)

import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, CSP } from '../../scripts/serve.js';
import { assert, assertEqual, check, launch, report, stopped } from './harness.js';

const SCREENSHOT = process.env.SCREENSHOT || '/tmp/demo.png';
const OFFLINE_LABEL = 'Offline demo model (no API, answers from the context it is sent)';
// A made-up endpoint: the test answers its requests itself (page.route), so
// nothing leaves the machine.
const FAKE_LLM = 'http://llm.invalid/v1';
const XSS = 'Look: <img src=x onerror=alert(1)> and <script>alert(2)</script>';

// ----------------------------------------------------------------- helpers

async function waitReady(page) {
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
}

/** Sends one message and resolves with the newest assistant reply's text. */
async function send(page, text) {
  const before = await page.locator('#messages .message.assistant:not(.typing)').count();
  await page.fill('#input', text);
  await page.click('#send');
  await page.waitForFunction(
    (n) =>
      !document.querySelector('#messages .typing') &&
      (document.querySelectorAll('#messages .message.assistant').length > n ||
        !document.getElementById('error').hidden),
    before,
    { timeout: 20000 },
  );
  const errorShown = await page.locator('#error').isVisible();
  if (errorShown) {
    throw new Error(`the page shows an error: ${await page.locator('#error .error-text').textContent()}`);
  }
  return page.locator('#messages .message.assistant .content').last().textContent();
}

/** Starts a new thread and waits until the page shows it, empty. */
async function newThread(page) {
  const previous = await page.getAttribute('#thread-list .thread-item.active', 'data-id');
  await page.click('#new-thread');
  await page.waitForFunction(
    (prev) => {
      const active = document.querySelector('#thread-list .thread-item.active');
      const id = active?.dataset.id;
      return id && id !== prev && document.getElementById('messages').dataset.threadId === id;
    },
    previous,
  );
}

/** Switches to a listed thread and waits until its messages are shown. */
async function selectThread(page, id) {
  await page.click(`#thread-list .thread-item[data-id="${id}"]`);
  await page.waitForFunction(
    (want) => document.querySelector('#thread-list .thread-item.active')?.dataset.id === want &&
      document.getElementById('messages').dataset.threadId === want,
    id,
  );
}

async function threadNames(page) {
  return page.locator('#thread-list .thread-name').allTextContents();
}

async function facts(page) {
  return page.locator('#memory-list .fact span').allTextContents();
}

async function messageTexts(page) {
  return page.locator('#messages .message .content').allTextContents();
}

async function errorBanner(page) {
  await page.waitForSelector('#error:not([hidden])', { timeout: 10000 });
  return {
    code: await page.locator('#error-code').textContent(),
    message: await page.locator('#error-message').textContent(),
  };
}

/** The text of every record in an IndexedDB database of the page. */
async function databaseText(page, name) {
  return page.evaluate(async (dbName) => {
    const db = await new Promise((resolve, reject) => {
      const r = indexedDB.open(dbName);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const texts = [];
    for (const store of db.objectStoreNames) {
      const values = await new Promise((resolve, reject) => {
        const r = db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      for (const v of values) texts.push(v instanceof Uint8Array || v instanceof ArrayBuffer ? new TextDecoder().decode(v) : JSON.stringify(v));
    }
    db.close();
    return texts.join('\n');
  }, name);
}

function findNull(value, path = '$') {
  if (value === null) return path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = findNull(value[i], `${path}[${i}]`);
      if (p) return p;
    }
  } else if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const p = findNull(v, `${path}.${k}`);
      if (p) return p;
    }
  }
  return null;
}

// ----------------------------------------------------------------- the test

async function main() {
  const server = await start({ port: 0 });
  const base = `${server.url}web-demo/`;
  let browser;
  const consoleErrors = [];
  const pageErrors = [];
  const dialogs = [];
  const failedRequests = [];
  const expectedErrorUrls = [FAKE_LLM.replace(/\/v1$/, '')];

  try {
    browser = await launch(['--disable-quic']);
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 860 } });
    // Added by the driver, outside the page's CSP: records any violation.
    await context.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    const page = await context.newPage();
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const url = msg.location()?.url || '';
      const text = msg.text();
      if (expectedErrorUrls.some((u) => url.startsWith(u) || text.includes(u))) return;
      consoleErrors.push(text);
    });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('dialog', (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      d.dismiss().catch(() => {});
    });
    page.on('requestfailed', (req) => {
      if (!expectedErrorUrls.some((u) => req.url().startsWith(u))) {
        failedRequests.push(`${req.url()} ${req.failure()?.errorText}`);
      }
    });

    let response;
    await check('the demo page loads with a strict CSP and starts', async () => {
      response = await page.goto(base, { waitUntil: 'load' });
      assertEqual(response.status(), 200, 'status');
      assertEqual(response.headers()['content-security-policy'], CSP, 'CSP header');
      await waitReady(page);
      assertEqual(await page.title(), 'threadmem demo', 'title');
    });

    await check('the server serves .wasm and .mjs with the right types and refuses traversal', async () => {
      const wasm = await fetch(`${server.url}dist/threadmem-core.wasm`, { method: 'HEAD' });
      assertEqual(wasm.headers.get('content-type'), 'application/wasm', '.wasm type');
      const mjs = await fetch(`${server.url}dist/threadmem-core.mjs`, { method: 'HEAD' });
      assert(/^text\/javascript/.test(mjs.headers.get('content-type')), `.mjs type ${mjs.headers.get('content-type')}`);
      const outside = ['/../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/web-demo/..%2f..%2f..%2fetc%2fpasswd', '/.git/config'];
      // Only the pages' folders: a page under node_modules would share the origin that keeps the API key.
      const unserved = ['/node_modules/playwright-core/package.json', '/package.json', '/src/threadmem.h', '/scripts/serve.js'];
      for (const p of [...outside, ...unserved]) {
        const r = await fetch(server.url.replace(/\/$/, '') + p);
        assert(r.status === 403 || r.status === 404, `${p} answered ${r.status}`);
        assert(!(await r.text()).includes('root:'), `${p} leaked a file`);
      }
      // A directory's index.html that links out of the root is not served.
      const site = await mkdtemp(join(tmpdir(), 'threadmem-serve-'));
      await writeFile(join(site, 'outside.html'), 'outside');
      await mkdir(join(site, 'root', 'sub'), { recursive: true });
      await symlink(join(site, 'outside.html'), join(site, 'root', 'sub', 'index.html'));
      const linked = await start({ port: 0, root: join(site, 'root') });
      try {
        assertEqual((await fetch(`${linked.url}sub/`)).status, 404, 'an index.html linked out of the root');
      } finally {
        await linked.close();
        await rm(site, { recursive: true, force: true });
      }
      // The repository named another way is still the repository.
      const other = await start({ port: 0, root: `${fileURLToPath(new URL('../..', import.meta.url))}/.` });
      try {
        const r = await fetch(`${other.url}node_modules/playwright-core/package.json`);
        assertEqual(r.status, 404, 'node_modules through the root named another way');
      } finally {
        await other.close();
      }
      const root = await fetch(server.url, { redirect: 'manual' });
      assertEqual(root.headers.get('location'), '/web-demo/', 'root redirect');
      // A directory is redirected to itself with a slash, never to another host.
      for (const [p, to] of [['/js', '/js/'], ['/%2fevil.example%2f..%2fjs', '/js/'], ['/%5cevil.example%2f..%2fjs', '/js/']]) {
        const r = await fetch(server.url.replace(/\/$/, '') + p, { redirect: 'manual' });
        assertEqual([r.status, r.headers.get('location')], [301, to], `${p} redirect`);
      }
    });

    await check('the offline model is selected and labelled', async () => {
      const label = await page.locator('label.choice', { has: page.locator('input[value="offline"]') }).textContent();
      assertEqual(label.trim(), OFFLINE_LABEL, 'label');
      assert(await page.isChecked('input[name="provider"][value="offline"]'), 'offline model is not selected');
      assert(!(await page.locator('#base-url').isVisible()), 'endpoint fields shown for the offline model');
    });

    await check('a thread remembers the user\'s name', async () => {
      const hello = await send(page, 'Hello, my name is Alice');
      assert(hello.includes('Alice'), `greeting: ${hello}`);
      const reply = await send(page, "What's my name?");
      assert(reply.includes('Your name is Alice'), `reply: ${reply}`);
      const texts = await messageTexts(page);
      assertEqual(texts.length, 4, 'messages shown');
      assertEqual(texts[0], 'Hello, my name is Alice', 'first message');
    });

    await check('a thread can be renamed', async () => {
      await page.fill('#thread-title', 'Alice chat');
      await page.press('#thread-title', 'Enter');
      await page.waitForFunction(() =>
        [...document.querySelectorAll('#thread-list .thread-name')].some((e) => e.textContent === 'Alice chat'),
      );
    });

    await check('a new thread recalls the name from long-term memory; deleting the fact forgets it', async () => {
      await newThread(page);
      assertEqual((await threadNames(page)).length, 2, 'threads');
      assertEqual((await messageTexts(page)).length, 0, 'messages in the new thread');
      const fact = "The user's name is Alice.";
      assertEqual(await facts(page).then((f) => f.join('|')), fact, 'remembered facts');
      // Kept with the threads, in IndexedDB: nothing of it in localStorage.
      const where = await page.evaluate(async () => ({
        databases: (await indexedDB.databases()).map((d) => d.name),
        local: Object.keys(localStorage).filter((k) => k.startsWith('threadmem-demo:memory:')),
      }));
      assert(where.databases.includes('threadmem-demo-memory'), `databases: ${where.databases}`);
      assertEqual(where.local.length, 0, 'memory keys in localStorage');
      const reply = await send(page, "What's my name?");
      assert(reply.includes('Your name is Alice') && reply.includes('long-term memory'), `reply: ${reply}`);
      assert((await databaseText(page, 'threadmem-demo-memory')).includes(fact), 'the fact is stored');
      await page.locator('#memory-list .fact', { hasText: fact }).locator('button').click();
      await page.waitForFunction(() => document.querySelectorAll('#memory-list .fact').length === 0);
      // Forgotten: not a word of it left in storage, its history included.
      assert(!(await databaseText(page, 'threadmem-demo-memory')).includes('Alice'), 'the deleted fact is still stored');
      const again = await send(page, "What's my name?");
      assert(again.includes("don't know"), `after the fact was deleted: ${again}`);
    });

    await check('a reply appears as it streams in, before it is complete', async () => {
      const stored = () => page.locator('#messages .message:not(.pending):not(.typing)').count();
      const before = await stored();
      await page.fill('#input', 'How many messages did you get?');
      await page.click('#send');
      // Part of the reply, shown while the turn is still being answered.
      const partial = await page.waitForFunction(() => {
        const c = document.querySelector('#messages .typing.streaming .content');
        return c && c.textContent.length > 0 ? c.textContent : null;
      }, null, { timeout: 10000, polling: 10 });
      const partialText = await partial.jsonValue();
      assertEqual(await stored(), before, 'messages shown as stored while the reply streams');
      await page.waitForFunction(() => !document.querySelector('#messages .typing'), null, { timeout: 20000 });
      const full = await page.locator('#messages .message.assistant .content').last().textContent();
      assert(full.startsWith(partialText.trim()), `partial "${partialText}" is not the start of "${full}"`);
      assert(full.length > partialText.length, `the reply was complete at once: "${full}"`);
      assertEqual(await stored(), before + 2, 'messages after the streamed turn');
    });

    await check('switching back shows the first thread, which still remembers', async () => {
      await page.locator('#thread-list .thread-item', { hasText: 'Alice chat' }).click();
      await page.waitForFunction(() => document.querySelectorAll('#messages .message').length === 4);
      assertEqual(await page.inputValue('#thread-title'), 'Alice chat', 'title');
      const reply = await send(page, 'Remind me of my name');
      assert(reply.includes('Alice'), `reply: ${reply}`);
      await page.screenshot({ path: SCREENSHOT });
    });

    await check('message text is shown as text, never run as HTML', async () => {
      const reply = await send(page, XSS);
      const user = page.locator('#messages .message.user .content').last();
      assertEqual(await user.textContent(), XSS, 'user message text');
      assert(reply.includes('<img src=x onerror=alert(1)>'), `reply: ${reply}`);
      assertEqual(await page.locator('#messages img, #messages script').count(), 0, 'elements created from text');
      await page.waitForTimeout(300);
      assertEqual(dialogs.length, 0, `dialogs: ${dialogs.join('; ')}`);
    });

    let exported;
    await check('export downloads the thread in Agent Framework\'s shape', async () => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-thread')]);
      assertEqual(download.suggestedFilename(), 'Alice-chat.json', 'file name');
      exported = JSON.parse(await readFile(await download.path(), 'utf8'));
      assertEqual(exported.type, 'agent_thread_state', 'type');
      assertEqual(findNull(exported), null, 'a null value');
      assert(!('service_thread_id' in exported), 'service_thread_id written');
      const store = exported.chat_message_store_state;
      assertEqual(store?.type, 'chat_message_store_state', 'store state type');
      assert(Array.isArray(store.messages), 'messages is not an array');
      assertEqual(store.messages.length, 8, 'message count');
      const roles = store.messages.map((m) => m.role?.value).join(',');
      assertEqual(roles, 'user,assistant,user,assistant,user,assistant,user,assistant', 'roles');
      for (const [i, m] of store.messages.entries()) {
        assertEqual(m.type, 'chat_message', `messages[${i}].type`);
        assertEqual(m.role.type, 'role', `messages[${i}].role.type`);
        assert(Array.isArray(m.contents) && m.contents.length === 1, `messages[${i}].contents`);
        assertEqual(m.contents[0].type, 'text', `messages[${i}].contents[0].type`);
        assertEqual(typeof m.contents[0].text, 'string', `messages[${i}].contents[0].text`);
        assertEqual(typeof m.message_id, 'string', `messages[${i}].message_id`);
      }
      assertEqual(store.messages[0].contents[0].text, 'Hello, my name is Alice', 'first text');
      assertEqual(store.messages[6].contents[0].text, XSS, 'the HTML-like text, unchanged');
    });

    await check('import resumes an exported thread', async () => {
      await page.setInputFiles('#import-file', {
        name: 'resumed.json',
        mimeType: 'application/json',
        buffer: Buffer.from(JSON.stringify(exported)),
      });
      await page.waitForFunction(() => document.getElementById('thread-title').value === 'resumed');
      assertEqual((await messageTexts(page)).length, 8, 'messages after import');
      const reply = await send(page, "What's my name?");
      assert(reply.includes('Alice'), `reply: ${reply}`);
    });

    await check('a context provider adds the notes to each request', async () => {
      await page.fill('#notes', 'Answer briefly.');
      const reply = await send(page, 'What are your instructions?');
      assert(reply.includes('You are a helpful assistant.'), `reply: ${reply}`);
      assert(reply.includes('Notes from the user: Answer briefly.'), `reply: ${reply}`);
      await page.fill('#notes', '');
    });

    let summarizedThread = null; // the id of a thread with a summary
    await check('the context window view shows the tokens sent and fades what was left out', async () => {
      const previous = await page.getAttribute('#thread-list .thread-item.active', 'data-id');
      await newThread(page);
      summarizedThread = await page.getAttribute('#thread-list .thread-item.active', 'data-id');
      await page.fill('#window-tokens', '400');
      await page.selectOption('#window-encoding', 'o200k_base');
      await send(page, 'Hello, my name is Zoe');
      // Only the summary may bring the name back: not long-term memory.
      await page.locator('#memory-list .fact', { hasText: 'Zoe' }).locator('button').click();
      await page.waitForFunction(() => document.querySelectorAll('#memory-list .fact').length === 0);
      let summary = await page.textContent('#window-summary');
      assert(/of 300 tokens/.test(summary) && /o200k_base/.test(summary), `summary: ${summary}`);
      assertEqual(await page.locator('#messages .message.dropped').count(), 0, 'faded messages at first');
      for (let i = 0; i < 8; i++) await send(page, `Filler message number ${i} with a few more words in it`);
      summary = await page.textContent('#window-summary');
      const left = Number(/left out (\d+)/.exec(summary)?.[1]);
      assert(left > 0, `summary: ${summary}`);
      assertEqual(await page.locator('#messages .message.dropped').count(), left, 'faded messages');
      // What fell out of the window was summarized, and the summary stands in for it.
      assert(/summarized into one message/.test(summary), `summary: ${summary}`);
      assert((await page.locator('#messages .message.summarized').count()) > 0, 'no message marked summarized');
      const reply = await send(page, "What's my name?");
      assert(reply.includes('Your name is Zoe') && reply.includes('summary'), `reply: ${reply}`);
      const request = JSON.parse(await page.textContent('#request-body'));
      assert(request.messages.some((m) => m.role === 'system' && m.content.startsWith('Summary of the earlier conversation')), 'no summary sent');
      assert(!request.messages.some((m) => m.role === 'user' && m.content === 'Hello, my name is Zoe'), 'the summarized turn was sent too');
      await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-window.png') });
      await page.fill('#window-tokens', '2000');
      await selectThread(page, previous);
    });

    await check('import of malformed JSON shows INVALID_JSON and adds no thread', async () => {
      const before = (await threadNames(page)).length;
      await page.setInputFiles('#import-file', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"type": ') });
      const { code } = await errorBanner(page);
      assertEqual(code, 'INVALID_JSON', 'code');
      assertEqual((await threadNames(page)).length, before, 'thread count');
      await page.click('#error-dismiss');
    });

    await check('import of a wrong shape shows INVALID_FORMAT naming the path', async () => {
      const bad = structuredClone(exported);
      bad.chat_message_store_state.messages[1].contents[0].type = 'hologram';
      await page.setInputFiles('#import-file', { name: 'wrong.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(bad)) });
      const { code, message } = await errorBanner(page);
      assertEqual(code, 'INVALID_FORMAT', 'code');
      assert(message.includes('messages[1].contents[0]'), `message does not name the path: ${message}`);
      await page.click('#error-dismiss');
    });

    await check('a thread can be deleted', async () => {
      const before = await threadNames(page);
      await page.click('#delete-thread');
      await page.click('#delete-thread');
      await page.waitForFunction((n) => document.querySelectorAll('#thread-list .thread-item').length === n, before.length - 1);
      assert(!(await threadNames(page)).includes('resumed'), 'the deleted thread is still listed');
    });

    await check('a deleted thread takes its summary with it', async () => {
      const key = `threadmem-demo:summary:${summarizedThread}`;
      if ((await page.getAttribute('#thread-list .thread-item.active', 'data-id')) !== summarizedThread) {
        await selectThread(page, summarizedThread);
      }
      assert(await page.evaluate((k) => localStorage.getItem(k) !== null, key), 'no summary to begin with');
      await page.click('#delete-thread');
      await page.click('#delete-thread');
      await page.waitForFunction((id) => !document.querySelector(`#thread-list .thread-item[data-id="${id}"]`), summarizedThread);
      assertEqual(await page.evaluate((k) => localStorage.getItem(k), key), null, 'summary left behind');
    });

    await check('a service-managed thread cannot be imported: an error says why, no thread is added', async () => {
      const before = (await threadNames(page)).length;
      const state = { type: 'agent_thread_state', service_thread_id: 'thread_abc123' };
      await page.setInputFiles('#import-file', { name: 'service.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(state)) });
      const { message } = await errorBanner(page);
      assert(message.includes('service_thread_id'), `message: ${message}`);
      assertEqual((await threadNames(page)).length, before, 'thread count');
      await page.click('#error-dismiss');
    });

    // An OpenAI-compatible endpoint, answered by the test itself.
    const llmRequests = [];
    let llmMode = 'ok';
    await page.route(`${FAKE_LLM}/**`, async (route) => {
      const req = route.request();
      const cors = {
        'access-control-allow-origin': '*',
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-allow-methods': 'POST, OPTIONS',
      };
      if (req.method() === 'OPTIONS') return route.fulfill({ status: 204, headers: cors });
      const body = JSON.parse(req.postData() || '{}');
      llmRequests.push({ url: req.url(), headers: await req.allHeaders(), body });
      if (llmMode === 'unauthorized') {
        return route.fulfill({
          status: 401,
          headers: { ...cors, 'content-type': 'application/json' },
          body: JSON.stringify({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } }),
        });
      }
      const users = body.messages.filter((m) => m.role === 'user').length;
      if (body.stream) {
        // The reply as server-sent events, as OpenAI streams it.
        const chunk = (delta, finish = null, extra = {}) =>
          `data: ${JSON.stringify({ id: 'chatcmpl-e2e', object: 'chat.completion.chunk', model: body.model, choices: delta ? [{ index: 0, delta, finish_reason: finish }] : [], ...extra })}\n\n`;
        const words = `endpoint saw ${users} user messages`.match(/\S+\s*/g);
        return route.fulfill({
          status: 200,
          headers: { ...cors, 'content-type': 'text/event-stream' },
          body: [chunk({ role: 'assistant', content: '' }), ...words.map((w) => chunk({ content: w })), chunk({}, 'stop'),
            chunk(null, null, { usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }), 'data: [DONE]\n\n'].join(''),
        });
      }
      return route.fulfill({
        status: 200,
        headers: { ...cors, 'content-type': 'application/json' },
        body: JSON.stringify({
          id: 'chatcmpl-e2e',
          object: 'chat.completion',
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: `endpoint saw ${users} user messages` }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
        }),
      });
    });

    await check('an OpenAI-compatible endpoint gets the history, the model and the key', async () => {
      await page.check('input[name="provider"][value="openai"]');
      await page.fill('#base-url', FAKE_LLM);
      await page.fill('#model', 'test-model');
      await page.fill('#api-key', 'sk-e2e-secret');
      await page.locator('#thread-list .thread-item', { hasText: 'Alice chat' }).click();
      await page.waitForFunction(() => document.querySelectorAll('#messages .message').length === 8);
      const reply = await send(page, 'And now?');
      assertEqual(reply, 'endpoint saw 5 user messages', 'reply');
      const last = llmRequests[llmRequests.length - 1];
      assertEqual(last.url, `${FAKE_LLM}/chat/completions`, 'url');
      assertEqual(last.headers.authorization, 'Bearer sk-e2e-secret', 'authorization');
      assertEqual(last.body.model, 'test-model', 'model');
      assertEqual(last.body.messages[0].role, 'system', 'instructions first');
      const storage = await page.evaluate(() => ({
        session: sessionStorage.getItem('threadmem-demo:api-key'),
        local: localStorage.getItem('threadmem-demo:api-key'),
      }));
      assertEqual(storage.session, 'sk-e2e-secret', 'sessionStorage key');
      assertEqual(storage.local, null, 'localStorage key without "remember"');
      await page.check('#remember-key');
      const remembered = await page.evaluate(() => ({
        session: sessionStorage.getItem('threadmem-demo:api-key'),
        local: localStorage.getItem('threadmem-demo:api-key'),
      }));
      assertEqual(remembered.local, 'sk-e2e-secret', 'localStorage key with "remember"');
      assertEqual(remembered.session, null, 'sessionStorage key with "remember"');
      const shown = await page.locator('#request-body').textContent();
      assert(shown.includes('test-model') && !shown.includes('sk-e2e-secret'), 'request view');
    });

    await check('an endpoint error is shown with its code, and the thread is unchanged', async () => {
      llmMode = 'unauthorized';
      const before = (await messageTexts(page)).length;
      await page.fill('#input', 'This will fail');
      await page.click('#send');
      const { code, message } = await errorBanner(page);
      assertEqual(code, 'LLM_HTTP_ERROR', 'code');
      assert(message.includes('401') && message.includes('Incorrect API key'), `message: ${message}`);
      assert(!message.includes('sk-e2e-secret'), 'the key is in the error');
      await page.screenshot({ path: SCREENSHOT.replace(/(\.png)?$/, '-error.png') });
      await page.waitForFunction(() => !document.querySelector('#messages .typing'));
      assertEqual((await messageTexts(page)).length, before, 'messages after a failed run');
      assertEqual(await page.inputValue('#input'), 'This will fail', 'the unsent text is kept');
      await page.click('#error-dismiss');
      // Back to the offline model for the rest of the session.
      await page.uncheck('#remember-key');
      await page.check('input[name="provider"][value="offline"]');
    });

    await check('an endpoint URL with a password is refused unquoted, and a reload with it saved still starts', async () => {
      await page.check('input[name="provider"][value="openai"]');
      await page.fill('#base-url', 'https://user:pw-e2e-secret@llm.invalid/v1');
      const before = (await messageTexts(page)).length;
      await page.fill('#input', 'Not sent');
      await page.click('#send');
      const sent = await errorBanner(page);
      assertEqual(sent.code, 'INVALID_ARGUMENT', 'code on send');
      await page.reload();
      await waitReady(page);
      const started = await errorBanner(page);
      assertEqual(started.code, 'INVALID_ARGUMENT', 'code on start');
      for (const { message } of [sent, started]) assert(!message.includes('pw-e2e-secret'), `the password is shown: ${message}`);
      assertEqual((await messageTexts(page)).length, before, 'messages');
      await page.click('#error-dismiss');
      await page.fill('#base-url', FAKE_LLM);
      await page.check('input[name="provider"][value="offline"]');
    });

    await check('a reload finds every thread and message as it was, an empty thread too (IndexedDB)', async () => {
      await newThread(page);
      const names = await threadNames(page);
      const texts = await messageTexts(page);
      await page.reload();
      await waitReady(page);
      assertEqual(JSON.stringify(await threadNames(page)), JSON.stringify(names), 'threads after reload');
      assertEqual(JSON.stringify(await messageTexts(page)), JSON.stringify(texts), 'messages after reload');
    });

    await check('threads can be kept in localStorage instead, and survive a reload there', async () => {
      const indexed = await threadNames(page);
      await Promise.all([page.waitForEvent('load'), page.selectOption('#storage-backend', 'localstorage')]);
      await waitReady(page);
      assertEqual((await threadNames(page)).length, 1, 'threads in localStorage at first');
      await send(page, 'Kept in localStorage');
      // Long-term memory follows the threads into localStorage.
      await page.locator('#memory-input').fill('I keep bees');
      await page.locator('#memory-input').press('Enter');
      await page.waitForFunction(() => Object.keys(localStorage).some((k) => k.startsWith('threadmem-demo:memory:')));
      await page.reload();
      await waitReady(page);
      assertEqual((await messageTexts(page))[0], 'Kept in localStorage', 'message after reload');
      assert(await page.evaluate(() => Object.keys(localStorage).some((k) => k.startsWith('threadmem-demo-threads:') && k.split(':').length === 3)), 'no records in localStorage');
      await Promise.all([page.waitForEvent('load'), page.selectOption('#storage-backend', 'indexeddb')]);
      await waitReady(page);
      assertEqual(JSON.stringify(await threadNames(page)), JSON.stringify(indexed), 'IndexedDB threads back');
    });

    await check('settings and the key survive a reload as chosen', async () => {
      await page.reload();
      await waitReady(page);
      assert(await page.isChecked('input[name="provider"][value="offline"]'), 'provider not kept');
      assertEqual(await page.inputValue('#api-key'), 'sk-e2e-secret', 'the tab keeps the key');
      assertEqual(await page.evaluate(() => localStorage.getItem('threadmem-demo:api-key')), null, 'key remembered');
    });

    await check('no console errors, page errors, CSP violations or failed requests', async () => {
      const csp = await page.evaluate(() => window.__csp);
      assertEqual(csp.length, 0, `CSP violations: ${csp.join('; ')}`);
      assertEqual(pageErrors.length, 0, `page errors: ${pageErrors.join('; ')}`);
      assertEqual(consoleErrors.length, 0, `console errors: ${consoleErrors.join('; ')}`);
      assertEqual(failedRequests.length, 0, `failed requests: ${failedRequests.join('; ')}`);
      assertEqual(dialogs.length, 0, `dialogs: ${dialogs.join('; ')}`);
    });
  } catch (err) {
    stopped(err);
  } finally {
    await browser?.close().catch(() => {});
    await server.close();
  }
  console.log(`screenshot: ${SCREENSHOT}`);
  report();
}

main();
