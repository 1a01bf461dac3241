// Type-checks the streaming flow of the README against js/index.d.ts.
import { ChatAgent, OpenAIChatClient, ThreadmemError, type ChatClient, type RunResult } from 'threadmem';

const agent = new ChatAgent({
  chatClient: new OpenAIChatClient({ baseURL: 'http://127.0.0.1:1/v1', apiKey: 'k', model: 'm', timeoutMs: 30_000, maxRetries: 2 }),
});
const thread = agent.getNewThread();
const controller = new AbortController();

async function show(): Promise<RunResult | undefined> {
  let text = '';
  try {
    for await (const update of agent.runStream('Hello', { thread, signal: controller.signal })) {
      if (update.type === 'text_delta') text += update.text;
      else if (update.type === 'tool_call') JSON.parse(update.arguments) as unknown;
      else if (update.type === 'tool_result') void update.result;
      else return update.response;
    }
  } catch (err) {
    if (err instanceof ThreadmemError && (err.code === 'ABORTED' || err.code === 'LLM_STREAM_ERROR')) return undefined;
    throw err;
  }
  return text ? undefined : undefined;
}

// A chat client of one's own can stream too.
const local: ChatClient = {
  async getResponse() {
    return '{}';
  },
  async *getStreamingResponse() {
    yield JSON.stringify({ choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: 'stop' }] });
  },
};
void new ChatAgent({ chatClient: local });
void show;
