// Every way the model endpoint can fail, through run() and runStream():
// the error code, the retries, a thread exactly as it was before the run
// (serialized before and after), and the API key nowhere: not in the error,
// not in the thread, not in anything written to the console. The server
// quotes the key back wherever it can, as real ones do.

import { afterAll, afterEach, beforeAll, beforeEach, expect, jest, test } from '@jest/globals';
import { inspect } from 'node:util';
import { ChatAgent, Mem0Provider, OpenAIChatClient, ThreadmemError } from '../../js/index.js';
import { caught, startLLMServer } from './helpers/llm-server.js';

const KEY = 'sk-faults-SECRET-9f8e7d6c5b4a';

let llm;
let logged;

beforeAll(async () => {
  llm = await startLLMServer();
});
afterAll(() => llm.close());
beforeEach(() => {
  llm.reset();
  logged = [];
  for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace']) {
    jest.spyOn(console, level).mockImplementation((...args) => logged.push(args.map((a) => inspect(a, { depth: 8 })).join(' ')));
  }
});
afterEach(() => jest.restoreAllMocks());

const loop = {
  name: 'again',
  description: 'Asks to be called again',
  parameters: { type: 'object' },
  execute: async () => `call again, key ${KEY}`,
};

function agentWith(client = {}) {
  const chatClient = new OpenAIChatClient({ baseURL: llm.url, apiKey: KEY, model: 'm', retryBaseDelayMs: 5, maxRetries: 2, ...client });
  return new ChatAgent({ chatClient, instructions: 'Test.', tools: [loop], maxToolRounds: 2 });
}

const chunk = (delta, finish = null) => JSON.stringify({ id: 'c', choices: [{ index: 0, delta, finish_reason: finish }] });

// name, client options, scripts, expected code, requests made (null: not checked), modes
const faults = [
  ['timeout', { timeoutMs: 150, maxRetries: 0 }, [{ delayMs: 3000 }], 'LLM_TIMEOUT', 1],
  ['connection reset mid-reply', {}, [{ breakAfter: 3 }], 'LLM_STREAM_ERROR', 1, ['stream']],
  ['connection reset before any answer, every time', {}, [{ destroy: true, times: Infinity }], 'LLM_NETWORK_ERROR', 3],
  ['429 with Retry-After, every time', {}, [{ status: 429, times: Infinity, headers: { 'retry-after': '0' }, error: `Rate limit reached for key ${KEY}` }], 'LLM_HTTP_ERROR', 3],
  ['502, every time', {}, [{ status: 502, times: Infinity, error: `bad gateway (${KEY})` }], 'LLM_HTTP_ERROR', 3],
  ['invalid JSON body', {}, [{ raw: `{"choices":[{"message":{"content":"${KEY}` }], 'INVALID_RESPONSE', 1, ['run']],
  ['malformed chunk', {}, [{ corruptAt: 2 }], 'INVALID_RESPONSE', 1, ['stream']],
  ['error object quoting the key', {}, [{ json: { error: { message: `invalid key ${KEY}` } } }], 'INVALID_RESPONSE', 1, ['run']],
  ['error chunk quoting the key', {}, [{ events: [chunk({ content: 'Hi' }), JSON.stringify({ error: { message: `invalid key ${KEY}` } })] }], 'INVALID_RESPONSE', 1, ['stream']],
  ['tool call id quoting the key, arguments not JSON', {}, [{ toolCalls: [{ id: KEY, name: 'again', arguments: '{"x":' }] }], 'INVALID_RESPONSE', 1],
  ['a model that loops on tool calls', {}, [{ times: Infinity, toolCalls: [{ name: 'again', arguments: {} }] }], 'MAX_TOOL_ROUNDS', 3],
];

async function runOnce(agent, mode, thread) {
  if (mode === 'run') return agent.run(`go (${KEY} must not leak)`, { thread });
  for await (const _ of agent.runStream(`go (${KEY} must not leak)`, { thread })) {
    // read to the end
  }
}

function expectNoKey(text) {
  expect(text).not.toContain(KEY);
  expect(text).not.toContain('SECRET-9f8e7d6c5b4a');
}

for (const [name, client, scripts, code, requests, modes = ['run', 'stream']] of faults) {
  for (const mode of modes) {
    test(`${mode}: ${name} -> ${code}, thread unchanged, key nowhere`, async () => {
      const agent = agentWith(client);
      const thread = agent.getNewThread();
      await agent.run('a first good turn', { thread });
      const before = await thread.serialize();
      llm.reset();
      for (const s of scripts) llm.script(s);

      const err = await caught(runOnce(agent, mode, thread));
      expect(err).toBeInstanceOf(ThreadmemError);
      expect(err.code).toBe(code);
      if (requests !== null) expect(llm.requests).toHaveLength(requests);
      if (code === 'LLM_HTTP_ERROR') expect(err.status).toBe(scripts[0].status);
      const after = await thread.serialize();
      expect(after).toEqual(before);

      // What a user would log of it.
      console.error(err);
      console.log(`run failed: ${err.message}`, err.stack);
      const shown = [err.message, String(err), err.stack, inspect(err, { depth: 8 }), JSON.stringify(err), JSON.stringify(after), logged.join('\n')];
      for (const text of shown) expectNoKey(text);
      expect(logged).toHaveLength(2); // the library itself logged nothing
      // The key was sent, so its absence above means something.
      expect(llm.requests[0].headers.authorization).toBe(`Bearer ${KEY}`);

      llm.reset();
      expect((await agent.run('recovered', { thread })).text).toMatch(/^Echo: recovered/);
      agent.close();
    });
  }
}

// No run of 12 characters of `secret` is in `text`: a cut may keep a part.
function expectNoPart(text, secret) {
  for (let i = 0; i + 12 <= secret.length; i++) expect(text).not.toContain(secret.slice(i, i + 12));
}

test('a key that fetch refuses to send, quoted whole by its error: redacted in the cause chain too', async () => {
  const badKey = `${KEY}\nX`; // not a valid header value
  const agent = new ChatAgent({ chatClient: new OpenAIChatClient({ baseURL: llm.url, apiKey: badKey, model: 'm', maxRetries: 0 }) });
  const err = await caught(agent.run('hi'));
  expect(err.code).toBe('LLM_NETWORK_ERROR');
  expect(err.cause.message).toContain('[redacted]'); // fetch's own error, the key taken out
  expect(inspect(err, { depth: 8 })).toContain('[redacted]');
  const shown = [err.message, err.stack, inspect(err, { depth: 8 }), inspect(err.cause, { depth: 8, showHidden: true })];
  for (const text of shown) expectNoPart(text, KEY);
  expect(llm.requests).toHaveLength(0);
  agent.close();
});

test('a server quoting the key across the cut of its message, or a credential header: no part of either shows', async () => {
  const header = 'hdr-SECRET-0a1b2c3d4e5f6a7b';
  const agent = agentWith({ maxRetries: 0, headers: { 'x-api-key': header, 'x-client-name': 'faults-suite' } });
  llm.script({ status: 401, error: `${'.'.repeat(490)}${KEY}` });
  const cut = await caught(agent.run('hi'));
  expect([cut.code, cut.status]).toEqual(['LLM_HTTP_ERROR', 401]);
  expect(cut.message).toContain('[redacted]');
  expectNoPart(cut.message, KEY);
  llm.script({ status: 400, error: `unknown header value ${header} from faults-suite` });
  const quoted = await caught(agent.run('hi'));
  expect(quoted.message).toContain('[redacted] from faults-suite'); // only credentials are taken out
  expectNoPart(quoted.message, header);
  expect(llm.requests.at(-1).headers['x-api-key']).toBe(header);
  const shown = inspect(agent.chatClient, { depth: 8, showHidden: true });
  expectNoPart(shown, KEY);
  expectNoPart(shown, header);
  agent.close();
});

test('credential headers: the token after its scheme and each cookie value are taken out too, other headers are not', async () => {
  const token = 'tok-SECRET-1a2b3c4d5e';
  const sid = 'sid-SECRET-6f7a8b9c';
  const agent = agentWith({ maxRetries: 0, headers: { 'Proxy-Authorization': `Bearer ${token}`, Cookie: `a=1; sid=${sid}`, 'x-portkey-provider': 'openai' } });
  llm.script({ status: 401, error: `invalid token ${token} for session ${sid} via openai` });
  const err = await caught(agent.run('hi'));
  expect(err.message).toContain('invalid token [redacted] for session [redacted] via openai');
  agent.close();
});

test('credentials inside a JSON header (a gateway config) are taken out; its other fields are not', async () => {
  const config = { provider: 'openai', api_key: 'cfg-SECRET-1a2b3c4d', targets: [{ virtualKey: 'cfg-SECRET-5e6f7a8b', weight: 1 }] };
  const headers = {
    'x-portkey-config': JSON.stringify(config),
    'x-gateway-config': JSON.stringify({
      auth: { token: 'cfg-SECRET-9c0d1e2f' },
      credentials: ['cfg-SECRET-aaaa0001', { value: 'cfg-SECRET-aaaa0002' }], // all under a credential's name
      account_json: JSON.stringify({ private_key: 'cfg-SECRET-aaaa0003' }), // JSON inside a text
      trace: 'trace-0001',
    }),
  };
  const agent = agentWith({ maxRetries: 0, headers });
  const secrets = ['1a2b3c4d', '5e6f7a8b', '9c0d1e2f', 'aaaa0001', 'aaaa0002', 'aaaa0003'].map((s) => `cfg-SECRET-${s}`);
  llm.script({ status: 400, error: `bad: ${secrets.join(' / ')} (openai, trace-0001)` });
  const { message } = await caught(agent.run('hi'));
  expect(message).toContain(`bad: ${secrets.map(() => '[redacted]').join(' / ')} (openai, trace-0001)`);
  agent.close();
});

test('a cause holding the key in a field, a DOMException quoting it, a thrown object: redacted, still a ThreadmemError', async () => {
  const withConfig = Object.assign(new Error('request failed'), { config: { headers: { authorization: `Bearer ${KEY}` } }, port: 443 });
  const quoting = new DOMException(`bad header ${KEY}`, 'SyntaxError');
  const plain = { headers: { authorization: KEY } };
  const hidden = Object.assign(new Error('request failed'), {
    request: new Request('http://127.0.0.1:9/', { headers: { authorization: `Bearer ${KEY}` } }), // JSON shows {}
    originalError: new Error(`denied ${KEY}`),
  });
  let deep = new Error(`innermost ${KEY}`);
  for (let i = 0; i < 12; i++) deep = new Error(`level ${i}`, { cause: deep });
  for (const thrown of [withConfig, quoting, plain, hidden, deep]) {
    const client = new OpenAIChatClient({ apiKey: KEY, maxRetries: 0, fetch: async () => { throw thrown; } });
    const err = await caught(client.getResponse('{}'));
    expect(err).toBeInstanceOf(ThreadmemError);
    expect(err.code).toBe('LLM_NETWORK_ERROR');
    expectNoKey(inspect(err, { depth: 8, showHidden: true }));
  }
  const err = await caught(new OpenAIChatClient({ apiKey: KEY, maxRetries: 0, fetch: async () => { throw withConfig; } }).getResponse('{}'));
  expect([err.cause.message, err.cause.port]).toEqual(['request failed', 443]); // what holds no key is kept
});

test('credential headers named as one word (X-AuthToken, AccessKey, CF-Access-Jwt-Assertion); short values left alone', async () => {
  const headers = {
    'X-AuthToken': 'hdr-SECRET-aaaa1111',
    AccessKey: 'hdr-SECRET-bbbb2222',
    'CF-Access-Jwt-Assertion': 'hdr-SECRET-cccc3333',
    'X-Cache-Key': 'v1',
    'x-portkey-provider': 'openai',
  };
  const agent = agentWith({ maxRetries: 0, headers });
  llm.script({ status: 401, error: 'bad hdr-SECRET-aaaa1111, hdr-SECRET-bbbb2222, hdr-SECRET-cccc3333 (v1, openai)' });
  expect((await caught(agent.run('hi'))).message).toContain('bad [redacted], [redacted], [redacted] (v1, openai)');
  agent.close();
});

test('an error without a secret is kept as the cause as it was thrown', async () => {
  const refused = Object.assign(new TypeError('fetch failed'), { code: 'ECONNREFUSED' });
  const client = new OpenAIChatClient({ apiKey: KEY, maxRetries: 0, fetch: async () => { throw refused; } });
  const err = await caught(client.getResponse('{}'));
  expect(err.code).toBe('LLM_NETWORK_ERROR');
  expect(err.cause).toBe(refused);
});

test('a URL with credentials in it is refused at once, without quoting them; a user name alone too', async () => {
  const password = 'pw-SECRET-0a1b2c3d';
  const urls = [
    `${llm.url.replace('//', `//user:${password}@`)}/v1`,
    `https:user:${password}@api.example.com`, // parsed as https://user:…@api.example.com
    ` https://us\ner:${password}@api.example.com`, // the parser drops the newline
    'https://someone@api.example.com/v1',
    `//user:${password}@api.example.com/v1`, // relative to the page's scheme
    `https://user:pw/${password}@api.example.com/v1`, // a password fetch cannot parse, which it would quote
    `https://user:${password}#x@api.example.com/v1`,
  ];
  for (const baseURL of urls) {
    const err = await caught((async () => new OpenAIChatClient({ baseURL, apiKey: KEY }))());
    expect(err.code).toBe('INVALID_ARGUMENT');
    const host = await caught((async () => new Mem0Provider({ apiKey: KEY, userId: 'u', host: baseURL }))());
    expect(host.code).toBe('INVALID_ARGUMENT');
    for (const text of [err.message, err.stack, host.message]) expectNoPart(text, password);
  }
  expect(llm.requests).toHaveLength(0);
  for (const baseURL of [`${llm.url}/v1?user=a@b`, 'http://[::1]:8080/v1/x@y', '/api/x@y', 'https://api.example.com/v1']) {
    expect(new OpenAIChatClient({ baseURL, apiKey: KEY }).baseURL).toBe(baseURL);
  }
});

test('429 waits as long as Retry-After says before each retry', async () => {
  const agent = agentWith({ maxRetries: 1 });
  llm.script({ status: 429, times: Infinity, headers: { 'retry-after': '1' } });
  const t0 = Date.now();
  const err = await caught(runOnce(agent, 'stream', agent.getNewThread()));
  expect(err.code).toBe('LLM_HTTP_ERROR');
  expect(err.status).toBe(429);
  expect(llm.requests).toHaveLength(2);
  expect(llm.requests[1].at - llm.requests[0].at).toBeGreaterThanOrEqual(900);
  expect(Date.now() - t0).toBeLessThan(5000);
  agent.close();
});

test('5xx retries back off: each wait is longer than none, bounded by maxRetryDelayMs', async () => {
  const agent = agentWith({ maxRetries: 3, retryBaseDelayMs: 100, maxRetryDelayMs: 150 });
  llm.script({ status: 503, times: 3 });
  const r = await agent.run('eventually');
  expect(r.text).toMatch(/^Echo: eventually/);
  const gaps = llm.requests.slice(1).map((q, i) => q.at - llm.requests[i].at);
  expect(gaps).toHaveLength(3);
  for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(45); // half the base, jitter's floor
  expect(Math.max(...gaps)).toBeLessThan(1000);
  agent.close();
});
