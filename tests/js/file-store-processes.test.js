// FileChatMessageStore across processes: two writers on one thread, and a
// writer killed with SIGKILL in the middle of appending.

import { afterEach, beforeEach, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileChatMessageStore } from '../../js/node.js';

const WRITER = fileURLToPath(new URL('./helpers/file-writer.js', import.meta.url));
let dir;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'threadmem-proc-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function writer(threadId, tag, count, maxMessages = '') {
  const child = spawn(process.execPath, [WRITER, dir, threadId, tag, String(count), String(maxMessages)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acked = [];
  let err = '';
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop();
    for (const l of lines) if (l.startsWith('acked ')) acked.push(l.slice(6));
  });
  child.stderr.on('data', (d) => (err += d));
  const done = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, err })));
  return { child, acked, done };
}

test('two processes appending to one thread lose nothing and keep one order', async () => {
  const a = writer('shared', 'a', 25);
  const b = writer('shared', 'b', 25);
  const [ra, rb] = await Promise.all([a.done, b.done]);
  expect(ra).toEqual({ code: 0, signal: null, err: expect.any(String) });
  expect(rb.code).toBe(0);
  const store = new FileChatMessageStore({ directory: dir, threadId: 'shared' });
  const texts = (await store.listMessages()).map((m) => m.text);
  expect(texts).toHaveLength(50);
  expect(texts.filter((t) => t.startsWith('a'))).toEqual(a.acked);
  expect(texts.filter((t) => t.startsWith('b'))).toEqual(b.acked);
  store.close();
}, 60_000);

test('two processes with maxMessages: each compacts the file under the other, and neither fails', async () => {
  const a = writer('limited', 'a', 40, 5);
  const b = writer('limited', 'b', 40, 5);
  const [ra, rb] = await Promise.all([a.done, b.done]);
  expect([ra.code, ra.err, rb.code, rb.err]).toEqual([0, '', 0, '']);
  const store = new FileChatMessageStore({ directory: dir, threadId: 'limited', maxMessages: 5 });
  const texts = (await store.listMessages()).map((m) => m.text);
  expect(texts).toHaveLength(5);
  expect([a.acked.length, b.acked.length]).toEqual([40, 40]);
  expect([a.acked.at(-1), b.acked.at(-1)]).toContain(texts.at(-1));
  for (const tag of ['a', 'b']) {
    const mine = texts.filter((t) => t.startsWith(tag));
    const acked = tag === 'a' ? a.acked : b.acked;
    expect(mine).toEqual(acked.slice(acked.length - mine.length)); // the newest of each, in order
  }
  store.close();
}, 60_000);

test('a writer killed with SIGKILL mid-append: every acknowledged message is there, appending continues', async () => {
  const w = writer('killed', 'k', 100000);
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      if (w.acked.length >= 40) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  w.child.kill('SIGKILL');
  const r = await w.done;
  expect(r.signal).toBe('SIGKILL');
  const acked = [...w.acked];

  const store = new FileChatMessageStore({ directory: dir, threadId: 'killed' });
  const texts = (await store.listMessages()).map((m) => m.text);
  // Acknowledged ones are a prefix of what is stored; at most one more
  // (written, synced, killed before it printed) follows.
  expect(texts.slice(0, acked.length)).toEqual(acked);
  expect(texts.length - acked.length).toBeLessThanOrEqual(1);
  await store.addMessages([{ role: 'user', text: 'after' }]);
  store.close();
  const again = new FileChatMessageStore({ directory: dir, threadId: 'killed' });
  const after = (await again.listMessages()).map((m) => m.text);
  expect(after).toEqual([...texts, 'after']);
  again.close();
}, 60_000);
