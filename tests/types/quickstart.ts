// Type-checks the README's flows against js/index.d.ts (tsc --noEmit).
import {
  ChatAgent, OpenAIChatClient, ChatMessage, ChatMessageStore, AgentThread, ContextProvider,
  Context, AggregateContextProvider, ThreadmemError, init, Tokenizer, type MessageStore, type Tool,
} from 'threadmem';

class UserNameProvider extends ContextProvider {
  name?: string;
  override async invoking(messages: ChatMessage[]): Promise<Context> {
    const text = messages.map((m) => m.text).join(' ');
    const match = /my name is (\w+)/i.exec(text);
    if (match) this.name = match[1];
    return new Context({ instructions: this.name ? `The user is ${this.name}.` : undefined });
  }
}

class ArrayStore implements MessageStore {
  messages: ChatMessage[] = [];
  async addMessages(messages: ChatMessage[]) { this.messages.push(...messages); }
  async listMessages() { return this.messages; }
  async serialize() { return { messages: this.messages.map((m) => m.toJSON()) }; }
  async updateFromState(state: any) { this.messages = state.messages.map(ChatMessage.fromJSON); }
}

const weather: Tool = {
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  execute: async ({ city }: { city: string }) => ({ city, forecast: 'sunny' }),
};

export async function main(): Promise<string> {
  await init({ wasmUrl: '/dist/threadmem-core.wasm' });
  const agent = new ChatAgent({
    chatClient: new OpenAIChatClient({ baseURL: 'http://127.0.0.1:1/v1', apiKey: 'k', model: 'm', maxRetries: 2 }),
    instructions: 'You are a helpful assistant.',
    name: 'Assistant',
    tools: [weather],
    chatMessageStoreFactory: () => new ArrayStore(),
    contextProviders: [new UserNameProvider(), new AggregateContextProvider([])],
    maxToolRounds: 4,
  });
  const thread: AgentThread = agent.getNewThread();
  const r = await agent.run('Hello, my name is Alice', { thread });
  const first: string = r.text;
  const usage: number = r.usage.totalTokens;
  const state = await thread.serialize();
  const resumed = await agent.deserializeThread(JSON.parse(JSON.stringify(state)));
  await agent.run([new ChatMessage('user', 'Remind me of my name.')], { thread: resumed });

  const store = new ChatMessageStore({ maxMessages: 100 });
  await store.addMessages([new ChatMessage('user', 'Hola'), { role: 'assistant', text: 'Hi' }]);
  const history: ChatMessage[] = await store.getHistory({ limit: 10, roles: ['user'] });
  const again = await ChatMessageStore.deserialize(await store.serialize());
  store.close();
  again.close();
  try {
    await agent.deserializeThread('{');
  } catch (err) {
    if (err instanceof ThreadmemError && err.code === 'INVALID_JSON') return `${first} ${usage} ${history.length}`;
  }
  return '';
}

// Exact tokens: load once (a fetch in browsers), then synchronous.
export async function tokens(text: string): Promise<number> {
  await init({ vocabUrl: '/assets/vocab/' });
  const tok: Tokenizer = await Tokenizer.load('o200k_base');
  const ids: Uint32Array = tok.encode(text, { allowedSpecial: 'all' });
  const back: string = tok.decode(ids);
  const again: string = new Tokenizer('cl100k_base').decode([9906, 11]);
  return tok.count(back + again) + new Tokenizer('estimate').count(text);
}
