// The examples run as a user runs them, against the local model server.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLLMServer } from './helpers/llm-server.js';

const root = new URL('../../', import.meta.url).pathname;
let llm;
let dir;

beforeAll(async () => {
  llm = await startLLMServer();
  dir = await mkdtemp(join(tmpdir(), 'threadmem-examples-'));
});
afterAll(async () => {
  await llm.close();
  await rm(dir, { recursive: true, force: true });
});

function run(script, args = [], input = '') {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [join(root, 'examples', script), ...args],
      { cwd: dir, env: { ...process.env, OPENAI_BASE_URL: llm.url, OPENAI_API_KEY: 'sk-example', THREADMEM_DIR: join(dir, 'threads') } },
      (err, stdout, stderr) => (err ? reject(new Error(`${script} failed: ${stderr}`)) : resolve(stdout)),
    );
    child.stdin.end(input);
  });
}

test('chat.mjs keeps a thread in a file and resumes it by id', async () => {
  const first = await run('chat.mjs', [], 'Hello, my name is Dana\n');
  const id = /^thread (\S+) \(0 messages so far/m.exec(first)?.[1];
  expect(id).toBeDefined();
  expect(first).toContain('assistant> Echo: Hello, my name is Dana');

  expect((await run('chat.mjs', ['--list'])).trim().split('\n')).toEqual([id]);

  const again = await run('chat.mjs', ['--thread', id], "What's my name?\n/history\n/quit\nnever sent\n");
  expect(again).toContain(`thread ${id} (2 messages so far`);
  expect(again).toContain('assistant> Your name is Dana.');
  expect(again).toContain("  user: What's my name?");
  expect(again).not.toContain('never sent');
  expect(llm.requests.at(-1).headers.authorization).toBe('Bearer sk-example');
}, 30_000);

test('memory-flows.mjs: each flow of the memory guide remembers what it should', async () => {
  const out = await run('memory-flows.mjs');
  const lines = (flow) => out.split('\n').filter((l) => l.startsWith(`[${flow}] `)).map((l) => l.slice(4));
  expect(lines(1).at(-1)).toBe('Your name is Alice.');
  expect(lines(2).at(-1)).toBe('Your name is Bob.');
  expect(lines(3).slice(-2)).toEqual(['Your name is Carol.', 'the database holds 4 messages of that thread']);
  expect(lines(4)).toContain('memory: {"userName":"Ruaidhrí","userAge":20}');
  expect(lines(4).at(-1)).toBe('Your name is Ruaidhrí.');
}, 30_000);
