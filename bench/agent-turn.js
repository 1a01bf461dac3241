// A whole agent turn on a store, timed the same way in Node and in the
// browser: the history read, the window chosen (8,000 tokens), an
// in-process model asked, the turn stored.

import { ChatAgent } from '../js/index.js';

const reply = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content: 'noted' }, finish_reason: 'stop' }],
});

/** The median, in ms, of `turns` agent turns on the store, after one to warm up. */
export async function medianAgentTurnMs(store, turns) {
  const agent = new ChatAgent({
    chatClient: { getResponse: async () => reply },
    contextWindow: { maxTokens: 8000, reserveTokens: 1000 },
  });
  try {
    const thread = agent.getNewThread({ messageStore: store });
    await agent.run('warm up', { thread });
    const times = [];
    for (let i = 0; i < turns; i++) {
      const t0 = performance.now();
      await agent.run(`question ${i}`, { thread });
      times.push(performance.now() - t0);
    }
    return +times.sort((a, b) => a - b)[turns >> 1].toFixed(3);
  } finally {
    agent.close();
  }
}
