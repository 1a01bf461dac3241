// Uses the installed package the way its README does, and fails loudly if
// anything is missing from the tarball (the .wasm, a vocabulary, an entry
// point).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { ChatAgent, ChatMessageStore, Tokenizer, countTokens, fitWindow } from 'threadmem';
import * as nodeEntry from 'threadmem/node';

const files = readdirSync(new URL('./node_modules/threadmem/dist/vocab/', import.meta.url)).sort();
assert.deepEqual(files, ['cl100k_base.tmv', 'o200k_base.tmv']);
assert.equal(typeof nodeEntry, 'object');

assert.deepEqual([...new Tokenizer('o200k_base').encode('Hello, world!')], [13225, 11, 2375, 0]);
assert.equal(new Tokenizer('cl100k_base').count('Hello, world!'), 4);
assert.equal(await countTokens([{ role: 'user', text: 'hi' }]), 3 + 1 + 1 + 3);

const turns = [{ role: 'user', text: 'a' }, { role: 'assistant', text: 'b' }, { role: 'user', text: 'c' }];
assert.deepEqual((await fitWindow(turns, { maxTokens: 12 })).messages.map((m) => m.text), ['c']);

// An agent over an in-process model: the thread remembers, serializes and resumes.
const answer = (body) => {
  const { messages } = JSON.parse(body);
  const content = `seen ${messages.length}`;
  return JSON.stringify({ id: 'r', choices: [{ message: { role: 'assistant', content }, finish_reason: 'stop' }] });
};
const agent = new ChatAgent({ chatClient: { getResponse: async (body) => answer(body) }, contextWindow: { maxTokens: 1000 } });
const thread = agent.getNewThread();
assert.equal((await agent.run('one', { thread })).text, 'seen 1');
assert.equal((await agent.run('two', { thread })).text, 'seen 3');
const resumed = await agent.deserializeThread(JSON.parse(JSON.stringify(await thread.serialize())));
assert.equal((await agent.run('three', { thread: resumed })).text, 'seen 5');
assert.ok(resumed.messageStore instanceof ChatMessageStore);
agent.close();
console.log('package: ok (installed from the tarball, Node', process.version + ')');
