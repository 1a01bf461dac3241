// init() replaces the WASM module: every agent, store and memory index made
// before is then closed (CLOSED), and freeing one, by close() or by the
// garbage collector, never touches the new module's memory.

import { expect, test } from '@jest/globals';
import { ChatAgent, ChatMessageStore, MemoryProvider, init } from '../../js/index.js';
import { caught } from './helpers/llm-server.js';

// A chat client that answers every request with `text`, once `gate` opens.
function gatedClient(text) {
  let open;
  const gate = new Promise((resolve) => (open = resolve));
  const body = JSON.stringify({ choices: [{ message: { role: 'assistant', content: text }, finish_reason: 'stop' }] });
  return { open, client: { getResponse: async () => (await gate, body) } };
}

test('objects made before init() are closed after it, and their close() leaves the new module alone', async () => {
  const store = new ChatMessageStore();
  await store.addMessages([{ role: 'user', text: 'before' }]);
  const memory = new MemoryProvider({ userId: 'u' });
  await memory.add('made before the reload');
  const ready = gatedClient('hello');
  ready.open();
  const agent = new ChatAgent({ chatClient: ready.client });
  const waiting = gatedClient('too late');
  const slowAgent = new ChatAgent({ chatClient: waiting.client });
  const running = slowAgent.run('waits for the model');

  await init();

  // A run that was waiting ends with CLOSED when it next needs the module.
  waiting.open();
  expect((await caught(running)).code).toBe('CLOSED');
  for (const call of [
    () => store.count(),
    () => store.addMessages([{ role: 'user', text: 'after' }]),
    () => memory.list(),
    () => memory.add('after'),
    () => agent.run('hi'),
  ]) {
    const err = await caught(call);
    expect([err.code, err.message]).toEqual(['CLOSED', expect.stringMatching(/init\(\)/)]);
  }

  // The new module's objects, made where the old ones were, are untouched
  // by closing the old ones.
  const fresh = new MemoryProvider({ userId: 'u' });
  await fresh.add('made after the reload');
  const freshStore = new ChatMessageStore([{ role: 'user', text: 'after' }]);
  for (const old of [memory, store, agent, slowAgent]) old.close();
  await fresh.add('another one');
  await freshStore.addMessages([{ role: 'assistant', text: 'still here' }]);
  expect((await fresh.list()).map((r) => r.text)).toEqual(['made after the reload', 'another one']);
  expect((await freshStore.listMessages()).map((m) => m.text)).toEqual(['after', 'still here']);
  const freshAgent = new ChatAgent({ chatClient: ready.client });
  expect((await freshAgent.run('hi', { thread: freshAgent.getNewThread({ messageStore: freshStore }) })).text).toBe('hello');
  for (const o of [fresh, freshStore, freshAgent]) o.close();
});
