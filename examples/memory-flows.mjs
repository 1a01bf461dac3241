#!/usr/bin/env node
// The memory flows of Agent Framework's agent-memory guide, with threadmem:
//   1. a multi-turn conversation on a thread (in-memory store by default);
//   2. a thread serialized to a file and resumed later, in any process;
//   3. a third-party message store: any object with addMessages,
//      listMessages, serialize and updateFromState;
//   4. a memory component: a context provider that learns the user's name and
//      age from the conversation, asks for what it does not know yet, and
//      keeps what it learned in a state of its own.
// The model is set by OPENAI_BASE_URL, OPENAI_API_KEY and OPENAI_MODEL (see
// endpoint.mjs).

import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatAgent, ChatMessage, Context, ContextProvider } from 'threadmem';
import { chatClient } from './endpoint.mjs';

const instructions = 'You are a friendly assistant. Keep your answers brief.';
/** @param {number} flow @param {string} text */
const say = (flow, text) => console.log(`[${flow}] ${text}`);

// ---- 1. A multi-turn conversation -------------------------------------------
{
  const agent = new ChatAgent({ chatClient, instructions });
  const thread = agent.getNewThread();
  say(1, (await agent.run('Hello, my name is Alice.', { thread })).text);
  say(1, (await agent.run("What's my name?", { thread })).text); // the thread remembers
  agent.close();
}

// ---- 2. A thread saved to a file and resumed ----------------------------------
{
  const file = join(await mkdtemp(join(tmpdir(), 'threadmem-example-')), 'thread.json');
  const agent = new ChatAgent({ chatClient, instructions });
  const thread = agent.getNewThread();
  say(2, (await agent.run('Hello, my name is Bob.', { thread })).text);
  await writeFile(file, JSON.stringify(await thread.serialize())); // Agent Framework's shape

  const resumed = await agent.deserializeThread(JSON.parse(await readFile(file, 'utf8')));
  say(2, (await agent.run("What's my name?", { thread: resumed })).text);
  agent.close();
}

// ---- 3. A third-party message store -------------------------------------------
// Messages kept by another system (here a Map standing in for a database,
// keyed by thread); the agent uses it exactly like a built-in store.
/** @type {Map<string, string[]>} */
const database = new Map();

/** @typedef {import('threadmem').MessageStore} MessageStore */

/** @implements {MessageStore} */
class DatabaseChatMessageStore {
  constructor(threadKey = crypto.randomUUID()) {
    this.threadKey = threadKey;
  }
  /** @param {ChatMessage[]} messages */
  async addMessages(messages) {
    const rows = database.get(this.threadKey) ?? [];
    for (const m of messages) rows.push(JSON.stringify(m));
    database.set(this.threadKey, rows);
  }
  async listMessages() {
    return (database.get(this.threadKey) ?? []).map((row) => ChatMessage.fromJSON(JSON.parse(row)));
  }
  // The thread's state holds only the key; the messages stay in the database.
  async serialize() {
    return { thread_key: this.threadKey };
  }
  /** @param {any} state */
  async updateFromState(state) {
    this.threadKey = state.thread_key;
  }
}

{
  const agent = new ChatAgent({ chatClient, instructions, chatMessageStoreFactory: () => new DatabaseChatMessageStore() });
  const thread = agent.getNewThread();
  say(3, (await agent.run('Hello, my name is Carol.', { thread })).text);
  const state = /** @type {any} */ (await thread.serialize());
  const resumed = await agent.deserializeThread(state);
  say(3, (await agent.run("What's my name?", { thread: resumed })).text);
  say(3, `the database holds ${database.get(state.chat_message_store_state.thread_key)?.length} messages of that thread`);
  agent.close();
}

// ---- 4. A memory component ----------------------------------------------------
// What it learns outlives any one thread: a new thread of the same agent
// starts knowing the user. Its state is plain JSON, saved by its owner.
class UserInfoMemory extends ContextProvider {
  /** @param {{userName?: string, userAge?: number}} [state] */
  constructor(state = {}) {
    super();
    this.userName = state.userName;
    this.userAge = state.userAge;
  }

  // After each turn: learn from what the user said.
  /** @param {ChatMessage[]} requestMessages */
  async invoked(requestMessages) {
    for (const m of requestMessages) {
      if (m.role !== 'user') continue;
      this.userName = /\bmy name is (\p{L}+)/iu.exec(m.text)?.[1] ?? this.userName;
      const age = /\bI am (\d{1,3}) years? old\b/i.exec(m.text)?.[1];
      if (age) this.userAge = Number(age);
    }
  }

  // Before each call: tell the model what is known, and what to ask for.
  async invoking() {
    const known = [];
    if (this.userName) known.push(`The user told you earlier: "My name is ${this.userName}."`);
    else known.push("Ask the user for their name and politely decline to answer any question until they give it.");
    if (this.userAge) known.push(`The user's age is ${this.userAge}.`);
    else known.push("Ask the user for their age and politely decline to answer any question until they give it.");
    return new Context({ instructions: known.join('\n') });
  }

  serialize() {
    return { userName: this.userName, userAge: this.userAge };
  }
}

{
  const memory = new UserInfoMemory();
  const agent = new ChatAgent({ chatClient, instructions, contextProviders: memory });
  const thread = agent.getNewThread();
  say(4, (await agent.run('Hello, what is the square root of 9?', { thread })).text);
  say(4, (await agent.run('My name is Ruaidhrí.', { thread })).text);
  say(4, (await agent.run('I am 20 years old.', { thread })).text);
  const saved = memory.serialize();
  say(4, `memory: ${JSON.stringify(saved)}`);
  agent.close();

  // Later, a new agent with the saved memory and a brand new thread.
  const later = new ChatAgent({ chatClient, instructions, contextProviders: new UserInfoMemory(saved) });
  say(4, (await later.run("What's my name?", { thread: later.getNewThread() })).text);
  later.close();
}
