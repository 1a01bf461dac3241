#!/usr/bin/env node
// A command-line chat whose threads live in files, one per thread, and
// resume by id.
//
//   node examples/chat.mjs                  a new thread (its id is printed)
//   node examples/chat.mjs --thread <id>    carry on with that thread
//   node examples/chat.mjs --list           the threads kept so far
//
// The model is set by OPENAI_BASE_URL, OPENAI_API_KEY and OPENAI_MODEL (see
// endpoint.mjs). Threads are kept in THREADMEM_DIR (default ./threads).
// In the chat, /quit (or end of input) leaves; /history shows the thread.

import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { ChatAgent, ThreadmemError } from 'threadmem';
import { FileChatMessageStore } from 'threadmem/node';
import { chatClient } from './endpoint.mjs';

const { values: args } = parseArgs({
  options: { thread: { type: 'string' }, list: { type: 'boolean' } },
});
const directory = process.env.THREADMEM_DIR ?? './threads';

if (args.list) {
  const ids = await new FileChatMessageStore({ directory }).listThreads();
  console.log(ids.length ? ids.join('\n') : `(no threads in ${directory})`);
  process.exit(0);
}

const agent = new ChatAgent({
  chatClient,
  instructions: 'You are a helpful assistant. Answer briefly.',
  // Long threads are fine: each request sends the newest turns that fit.
  contextWindow: { maxTokens: 16000, reserveTokens: 2000 },
});

// A thread is its store: resuming is opening the same thread id again.
const store = new FileChatMessageStore({ directory, threadId: args.thread });
const thread = agent.getNewThread({ messageStore: store });
const earlier = await store.count();
console.log(`thread ${store.threadId} (${earlier} messages so far; resume with --thread ${store.threadId})`);

// Lines are read as an async stream, so input piped in faster than the model
// answers waits its turn instead of being lost.
const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: !!process.stdin.isTTY, prompt: 'you> ' });
try {
  rl.prompt();
  for await (const raw of rl) {
    const line = raw.trim();
    if (line === '/quit') break;
    if (line === '/history') {
      for (const m of await store.listMessages()) console.log(`  ${m.role}: ${m.text}`);
    } else if (line !== '') {
      try {
        const { text } = await agent.run(line, { thread });
        console.log(`assistant> ${text}`);
      } catch (err) {
        // A failed turn leaves the thread as it was: the line can be sent again.
        if (!(err instanceof ThreadmemError)) throw err;
        console.log(`error ${err.code}: ${err.message}`);
      }
    }
    rl.prompt();
  }
} finally {
  rl.close();
  store.close();
  agent.close();
}
