// The browser side of the long-term memory test: agents whose MemoryProvider
// keeps its index in an IndexedDBChatMessageStore, talking to a chat client
// that lives in the page. The client answers a memory extraction request
// with the user's statements (not questions) as facts to add and any other request with
// "ok", and keeps every request body it was sent, so the driver
// (tests/e2e/memory.e2e.js) sees what reached the model.

import { ChatAgent, IndexedDBChatMessageStore, MemoryProvider } from '../../../js/index.js';
import { EXTRACTION_PROMPT } from '../../../js/memory.js';

const DB_NAME = 'threadmem-e2e-memory';

function pageModel(requests) {
  const reply = (content) =>
    JSON.stringify({
      id: `r${requests.length}`,
      object: 'chat.completion',
      model: 'page-model',
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    });
  return {
    model: 'page-model',
    async getResponse(body) {
      const request = JSON.parse(body);
      requests.push(request);
      if (request.messages[0]?.content !== EXTRACTION_PROMPT) return reply('ok');
      const { conversation } = JSON.parse(request.messages[1].content);
      const said = conversation.filter((m) => m.role === 'user' && !m.content.endsWith('?')).map((m) => m.content);
      return reply(JSON.stringify({ memories: said.map((text) => ({ event: 'ADD', text })) }));
    },
  };
}

// One user's agent in a new thread; every user's memory is in the same
// IndexedDB store, told apart only by the records' scope.
function agentOf(userId) {
  const requests = [];
  const warnings = [];
  const memory = new MemoryProvider({
    userId,
    storage: new IndexedDBChatMessageStore({ dbName: DB_NAME, threadId: 'long-term-memory', maxMessages: 1 }),
    onWarning: (message) => warnings.push(message),
  });
  const agent = new ChatAgent({ chatClient: pageModel(requests), instructions: 'You are helpful.', contextProviders: memory });
  return { agent, memory, thread: agent.getNewThread(), requests, warnings };
}

window.memorySuite = {
  // A user says `text` in a new thread; returns what the memory then holds.
  async tell(userId, text) {
    const a = agentOf(userId);
    try {
      await a.agent.run(text, { thread: a.thread });
      return { facts: (await a.memory.list()).map((r) => r.text), warnings: a.warnings };
    } finally {
      a.memory.close();
      a.agent.close();
    }
  },

  // A user asks `text` in a new thread; returns the texts of the messages of
  // the request that answered it, what a search finds, and what is listed.
  async ask(userId, text, query) {
    const a = agentOf(userId);
    try {
      await a.agent.run(text, { thread: a.thread });
      const answered = a.requests.find((r) => r.messages[0]?.content !== EXTRACTION_PROMPT);
      return {
        sent: JSON.stringify(answered?.messages ?? null),
        found: (await a.memory.search(query)).map((r) => r.text),
        listed: (await a.memory.list()).map((r) => r.text),
        warnings: a.warnings,
      };
    } finally {
      a.memory.close();
      a.agent.close();
    }
  },

  // Where the memory is: the IndexedDB databases, and localStorage's keys.
  async where() {
    return {
      databases: (await indexedDB.databases()).map((d) => d.name),
      localStorageKeys: Object.keys(localStorage),
    };
  },

  async clear() {
    await new Promise((resolve, reject) => {
      const req = indexedDB.deleteDatabase(DB_NAME);
      req.onsuccess = resolve;
      req.onerror = () => reject(req.error);
      req.onblocked = resolve;
    });
  },
};

document.body.dataset.ready = 'true';
