// Token counting and context windows, as a user writes them (type-checked only).
import { ChatAgent, ChatMessageStore, OpenAIChatClient, countTokens, fitWindow } from 'threadmem';
import type { WindowResult } from 'threadmem';

const history = [
  { role: 'system' as const, text: 'Be brief.' },
  { role: 'user' as const, text: 'Hello' },
];
const tokens: number = await countTokens(history, { encoding: 'o200k_base' });
const byLength: number = await countTokens('some text', { encoding: (text) => Math.ceil(text.length / 4) });
const fitted: WindowResult = await fitWindow(history, { maxTokens: 8000, reserveTokens: 1000, strategy: 'last' });
console.log(tokens, byLength, fitted.messages.length, fitted.dropped.length, fitted.tokens);

const store = new ChatMessageStore({ maxTokens: 100_000, encoding: 'estimate' });
const window = await store.getContextWindow({ maxTokens: 4000, encoding: 'estimate' });
console.log(window.tokens);

const agent = new ChatAgent({
  chatClient: new OpenAIChatClient({ baseURL: 'http://127.0.0.1:1/v1', model: 'm' }),
  contextWindow: { maxTokens: 8000, reserveTokens: 1000, encoding: 'cl100k_base' },
});
const result = await agent.run('Hi');
if (result.window) console.log(result.window.historySent, result.window.historyDropped);

// One message is a list of one; a bare string is a text to count, and one user message to fit.
const one: number = await countTokens({ role: 'user', text: 'Hello' });
const alone: WindowResult = await fitWindow('Hello', { maxTokens: 100 });
console.log(one, alone.tokens);
