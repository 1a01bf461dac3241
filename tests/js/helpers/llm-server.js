// A small OpenAI-compatible chat-completions server for the Jest tests.
//
// It answers from the messages it actually receives, deterministically, so a
// test can prove what the model saw (the history, the instructions, the
// provider context, the tool results). Every request is recorded (headers,
// query, parsed body) and tests can script faults for the next requests.
//
//   const llm = await startLLMServer();
//   llm.url            // 'http://127.0.0.1:PORT/v1' (a baseURL)
//   llm.requests       // [{ method, path, query, headers, rawBody, body, at }]
//   llm.script({...})  // queue a scripted answer (see below)
//   llm.reset()        // forget requests and scripts; ids count from 1 again
//   await llm.close()
//
// Bodies OpenAI would refuse (a tool message without its call, a call without
// its results, empty tools, tool_choice without tools, null content) get
// OpenAI's 400, and the record says why (`rejected`).
//
// Rules of the default answer, from the received messages:
//   - last message(s) are tool results   -> "NAME returned: RESULT; NAME2 returned: ..."
//   - last user text has `call NAME {json}` (several allowed, each with its
//     own `call`)                        -> tool_calls, one per `call`
//   - "what's my name" / "remind me of my name" -> "Your name is X." where X is
//     the last "my name is X" in any received user or system message, else
//     "I don't know your name."
//   - "what are your instructions"       -> "My instructions are: " + system texts
//   - "what tools"                        -> "My tools are: a, b" (or "none")
//   - "what context"                      -> the non-final messages, role: text
//   - anything else                       -> "Echo: TEXT [system=N user=N assistant=N tool=N]"
//   - a memory extraction request (response_format json_object, the user
//     message the JSON {existing_memories, conversation}) -> the JSON
//     {"memories":[...]} that extractMemories() derives from it (below)
//
// Scripts (llm.script(entry), consumed in order; an entry applies to the next
// request whose body `when(body, request)` accepts, default any):
//   { times = 1, delayMs }               wait before answering (combines with the rest)
//   { status, headers, error }            an HTTP error with OpenAI's error body
//                                         (error: string message or object)
//   { raw, status = 200, headers }        this exact body text
//   { json }                              this JSON body (object or fn(body) -> object)
//   { text }                              an assistant text answer
//   { toolCalls: [{ name, arguments, id }] }  tool calls (arguments: string sent
//                                         as is, or a value that is JSON-encoded)
//   { destroy: true }                     close the socket without an answer
// For a streamed request ("stream": true) the answer is sent as server-sent
// events, one chunk per word of the text and two per tool call; these
// misbehave on demand:
//   { chunkDelayMs }                      wait between chunks
//   { breakAfter: n }                     reset the connection after n chunks
//   { stallAfter: n }                     stop sending after n chunks (socket kept open)
//   { corruptAt: n }                      chunk n is cut in half (not JSON)
//   { noDone: true }                      end the body after the last chunk without [DONE]
//   { events: ['raw data', ...] }         these exact data lines instead (then [DONE])
// `times: Infinity` keeps an entry forever (a model that always calls tools).

import http from 'node:http';

export async function startLLMServer() {
  const requests = [];
  let scripts = [];
  let responseCounter = 0;
  const sockets = new Set();

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `test server bug: ${err.message}`, type: 'server_error' } }));
      } else {
        res.destroy();
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, 'http://127.0.0.1');
    let body;
    try {
      body = JSON.parse(rawBody);
    } catch {
      body = undefined;
    }
    const record = {
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...req.headers },
      rawBody,
      body,
      at: Date.now(),
    };
    requests.push(record);

    if (req.method !== 'POST' || !/\/chat\/completions$/.test(url.pathname)) {
      return sendError(res, 404, { message: `no route ${req.method} ${url.pathname}`, type: 'invalid_request_error' });
    }
    if (body === undefined || typeof body !== 'object' || !Array.isArray(body.messages)) {
      return sendError(res, 400, { message: 'request body must be JSON with a messages array', type: 'invalid_request_error' });
    }

    const invalid = validate(body);
    if (invalid) {
      record.rejected = invalid;
      return sendError(res, 400, { message: invalid, type: 'invalid_request_error' });
    }

    const entry = takeScript(body, record);
    if (entry?.delayMs) await sleep(entry.delayMs, res);
    if (res.destroyed || res.writableEnded || req.socket.destroyed) return;

    if (entry?.destroy) {
      req.socket.destroy();
      return;
    }
    if (entry?.status && entry.status >= 400) {
      const err = typeof entry.error === 'string' ? { message: entry.error } : entry.error;
      return sendError(res, entry.status, err ?? { message: `scripted HTTP ${entry.status}` }, entry.headers);
    }
    if (entry?.events !== undefined) {
      res.writeHead(200, { 'content-type': 'text/event-stream', ...entry.headers });
      for (const e of entry.events) res.write(`data: ${e}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    if (entry?.raw !== undefined) {
      res.writeHead(entry.status ?? 200, { 'content-type': 'application/json', ...entry.headers });
      res.end(entry.raw);
      return;
    }
    if (entry?.json !== undefined) {
      const json = typeof entry.json === 'function' ? entry.json(body) : entry.json;
      res.writeHead(entry.status ?? 200, { 'content-type': 'application/json', ...entry.headers });
      res.end(JSON.stringify(json));
      return;
    }

    let answer;
    if (entry?.toolCalls) answer = { toolCalls: entry.toolCalls };
    else if (entry?.text !== undefined) answer = { text: entry.text };
    else answer = respond(body.messages, body.tools, body);

    const completion = buildCompletion(body, answer);
    if (body.stream) return sendStream(req, res, completion, entry ?? {});
    res.writeHead(200, { 'content-type': 'application/json', ...entry?.headers });
    res.end(JSON.stringify(completion));
  }

  function takeScript(body, record) {
    const i = scripts.findIndex((s) => !s.when || s.when(body, record));
    if (i < 0) return undefined;
    const entry = scripts[i];
    entry.left -= 1;
    if (entry.left <= 0) scripts.splice(i, 1);
    return entry;
  }

  function buildCompletion(body, answer) {
    responseCounter += 1;
    const message = { role: 'assistant', content: null };
    let finish = 'stop';
    if (answer.toolCalls) {
      finish = 'tool_calls';
      message.tool_calls = answer.toolCalls.map((c, i) => ({
        id: c.id ?? `call_${responseCounter}_${i}`,
        type: 'function',
        function: {
          name: c.name,
          arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? {}),
        },
      }));
    } else {
      message.content = answer.text;
    }
    const promptTokens = body.messages.reduce((n, m) => n + wordCount(textOf(m)) + 4, 0);
    const completionTokens = answer.text !== undefined ? wordCount(answer.text) : 10 * answer.toolCalls.length;
    const out = {
      id: `chatcmpl-test-${responseCounter}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model ?? 'unknown-model',
      choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    };
    if (body.conversation !== undefined) out.conversation = body.conversation;
    return out;
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();

  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    /** Queues a scripted answer (see the file comment). */
    script(entry) {
      scripts.push({ ...entry, left: entry.times ?? 1 });
    },
    /** The chat-completions requests' parsed bodies. */
    bodies() {
      return requests.map((r) => r.body);
    },
    /** The last recorded request. */
    last() {
      return requests[requests.length - 1];
    },
    pendingScripts() {
      return scripts.length;
    },
    reset() {
      requests.length = 0;
      scripts = [];
      responseCounter = 0;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- OpenAI's request checks (those a malformed history trips) ----

/** Why OpenAI would reject this body with a 400, or null. */
export function validate(body) {
  const roles = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
  if (Array.isArray(body.tools) && body.tools.length === 0) return "'tools' must not be an empty array";
  if (body.tool_choice !== undefined && !body.tools) return "'tool_choice' is only allowed when 'tools' are specified";
  let pending = null; // call ids of the last assistant message still awaiting results
  for (let i = 0; i < body.messages.length; i++) {
    const m = body.messages[i];
    const where = `messages[${i}]`;
    if (!m || !roles.has(m.role)) return `Invalid value for '${where}.role'`;
    if (m.role === 'tool') {
      if (!pending || !pending.has(m.tool_call_id)) {
        return `Invalid parameter: ${where} with role 'tool' must be a response to a preceding message with 'tool_calls'`;
      }
      pending.delete(m.tool_call_id);
      continue;
    }
    if (pending && pending.size) {
      return `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. Missing: ${[...pending].join(', ')}`;
    }
    pending = null;
    if (m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length) {
      pending = new Set();
      for (const c of m.tool_calls) {
        if (!c?.id || c.type !== 'function' || typeof c.function?.name !== 'string' || typeof c.function?.arguments !== 'string') {
          return `Invalid tool call in ${where}`;
        }
        pending.add(c.id);
      }
    } else if (m.content == null) {
      return `Invalid value for '${where}.content': expected a string or an array, got null`;
    }
  }
  if (pending && pending.size) {
    return `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. Missing: ${[...pending].join(', ')}`;
  }
  return null;
}

// ---- the deterministic model ----

/** The text of an OpenAI message: a string content, or its text parts. */
export function textOf(m) {
  if (m == null) return '';
  if (typeof m.content === 'string') return m.content;
  if (Array.isArray(m.content)) {
    return m.content.map((p) => (typeof p === 'string' ? p : p?.text ?? '')).join('');
  }
  return '';
}

function respond(messages, tools, body) {
  const extraction = extractionInput(body);
  if (extraction) return { text: JSON.stringify({ memories: extractMemories(extraction) }) };
  const last = messages[messages.length - 1];
  if (last?.role === 'tool') return { text: summarizeToolResults(messages) };

  const userText = textOf([...messages].reverse().find((m) => m.role === 'user'));
  const calls = parseCalls(userText);
  if (calls.length) return { toolCalls: calls };

  if (/what'?s my name|what is my name|remind me of my name/i.test(userText)) {
    let name;
    for (const m of messages) {
      if (m.role !== 'user' && m.role !== 'system') continue;
      for (const match of textOf(m).matchAll(/my name is ([\p{L}\p{N}_-]+)/giu)) name = match[1];
    }
    return { text: name ? `Your name is ${name}.` : "I don't know your name." };
  }
  if (/what are your instructions/i.test(userText)) {
    const sys = messages.filter((m) => m.role === 'system' || m.role === 'developer').map(textOf);
    return { text: sys.length ? `My instructions are: ${sys.join('\n')}` : 'I have no instructions.' };
  }
  if (/what tools/i.test(userText)) {
    const names = (tools ?? []).map((t) => t?.function?.name ?? t?.name);
    return { text: `My tools are: ${names.length ? names.join(', ') : 'none'}` };
  }
  if (/what context/i.test(userText)) {
    const lines = messages.slice(0, -1).map((m) => `${m.role}: ${textOf(m)}`);
    return { text: `Context:\n${lines.join('\n')}` };
  }
  const counts = { system: 0, user: 0, assistant: 0, tool: 0 };
  for (const m of messages) counts[m.role] = (counts[m.role] ?? 0) + 1;
  const summary = Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(' ');
  return { text: `Echo: ${userText} [${summary}]` };
}

// ---- memory extraction ----

/** The {existing_memories, conversation} of an extraction request, or null. */
export function extractionInput(body) {
  if (body?.response_format?.type !== 'json_object') return null;
  const user = [...(body.messages ?? [])].reverse().find((m) => m.role === 'user');
  try {
    const v = JSON.parse(textOf(user));
    return Array.isArray(v?.conversation) && Array.isArray(v?.existing_memories) ? v : null;
  } catch {
    return null;
  }
}

/** True for a memory extraction request (for scripts' `when`). */
export function isExtractionRequest(body) {
  return extractionInput(body) !== null;
}

/**
 * The decisions a careful model would make, from the user's sentences only:
 *   "forget (that) X"                    -> DELETE of the memory containing X
 *   a statement with "my" or "I" in it   -> its text from that word on
 *     ("Hello, my name is Alice" -> "my name is Alice"); NONE when a memory
 *     says exactly that, UPDATE of the memory with the same subject (the
 *     words before " is "/" am "/" live in ") when one differs, else ADD
 *   questions and anything else          -> nothing
 */
export function extractMemories({ existing_memories: existing, conversation }) {
  const out = [];
  const subject = (t) => /^.*? (?:is|am|live in|work at) /.exec(t.toLowerCase())?.[0] ?? t.toLowerCase();
  for (const m of conversation) {
    if (m.role !== 'user') continue;
    for (const raw of String(m.content).split(/(?<=[.!?\n])\s*/)) {
      const sentence = raw.trim();
      if (!sentence || sentence.endsWith('?')) continue;
      const forget = /^forget (?:that )?(.+?)[.!]?$/i.exec(sentence);
      if (forget) {
        const hit = existing.find((e) => e.text.toLowerCase().includes(forget[1].toLowerCase()));
        if (hit) out.push({ event: 'DELETE', id: hit.id });
        continue;
      }
      const at = sentence.search(/\b(?:my|I)\b/i);
      if (at < 0) continue;
      const fact = sentence.slice(at).replace(/[.!]+$/, '');
      const same = existing.find((e) => e.text.toLowerCase() === fact.toLowerCase());
      if (same) {
        out.push({ event: 'NONE', id: same.id });
        continue;
      }
      const related = existing.find((e) => subject(e.text) === subject(fact));
      out.push(related ? { event: 'UPDATE', id: related.id, text: fact } : { event: 'ADD', text: fact });
    }
  }
  return out;
}

// "get_weather returned: {...}; other returned: ..." for the tool results
// after the last assistant message with tool calls.
function summarizeToolResults(messages) {
  let i = messages.length - 1;
  while (i >= 0 && messages[i].role === 'tool') i--;
  const names = new Map();
  for (const c of messages[i]?.tool_calls ?? []) names.set(c.id, c.function?.name);
  const parts = messages.slice(i + 1).map((m) => `${names.get(m.tool_call_id) ?? m.tool_call_id} returned: ${textOf(m)}`);
  return parts.join('; ');
}

// Every `call NAME {json}` in the text; the JSON is taken by brace matching
// (strings respected) so arguments may nest.
function parseCalls(text) {
  const calls = [];
  const re = /\bcall ([A-Za-z_][\w-]*)\s*/g;
  let m;
  while ((m = re.exec(text))) {
    let args = '{}';
    const start = re.lastIndex;
    if (text[start] === '{') {
      const end = matchBrace(text, start);
      if (end > 0) {
        args = text.slice(start, end + 1);
        re.lastIndex = end + 1;
      }
    }
    calls.push({ name: m[1], arguments: args });
  }
  return calls;
}

function matchBrace(text, start) {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return i;
  }
  return -1;
}

function wordCount(s) {
  return (s.match(/\S+/g) ?? []).length;
}

// ---- transport ----

function sendError(res, status, error, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: { type: 'invalid_request_error', param: null, code: null, ...error } }));
}

// Server-sent events in OpenAI's chunk format, for streaming requests (with
// include_usage: the usage in a last chunk without choices), misbehaving as
// the script entry says.
async function sendStream(req, res, completion, entry) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...entry.headers });
  const base = { id: completion.id, object: 'chat.completion.chunk', created: completion.created, model: completion.model };
  const msg = completion.choices[0].message;
  const chunks = [];
  const add = (delta, finish = null) => chunks.push({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] });
  add({ role: 'assistant', content: '' });
  if (msg.content) for (const word of msg.content.match(/\S+\s*/g) ?? []) add({ content: word });
  (msg.tool_calls ?? []).forEach((c, index) => {
    add({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } }] });
    add({ tool_calls: [{ index, function: { arguments: c.function.arguments } }] });
  });
  add({}, completion.choices[0].finish_reason);
  chunks.push({ ...base, choices: [], usage: completion.usage });
  for (let i = 0; i < chunks.length; i++) {
    if (i === entry.breakAfter) {
      // What was written reaches the client first: the reply has begun.
      await new Promise((resolve) => setTimeout(resolve, 30));
      return req.socket.destroy();
    }
    if (i === entry.stallAfter) return; // the socket stays open, silent
    let text = JSON.stringify(chunks[i]);
    if (i === entry.corruptAt) text = text.slice(0, text.length >> 1);
    res.write(`data: ${text}\n\n`);
    if (entry.chunkDelayMs) await sleep(entry.chunkDelayMs, res);
    if (res.destroyed) return;
  }
  res.end(entry.noDone ? '' : 'data: [DONE]\n\n');
}

function sleep(ms, res) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      res.off('close', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    res.on('close', done);
  });
}

// ---- small helpers for the tests (no dependency on the package) ----

/** The error a promise (or a function, sync or async) fails with; throws when
 *  it succeeds, so a test cannot pass by accident. */
export async function caught(p) {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure, but the call succeeded');
}

/** A value nested `depth` levels deep: {"a":{"a":...{"a":1}}}. */
export function deepObject(depth) {
  let v = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

/** Waits until `count` callers have arrived, or `timeoutMs` has passed;
 *  resolves true when all arrived (they ran concurrently). */
export function barrier(count, timeoutMs = 2000) {
  let arrived = 0;
  let release;
  const all = new Promise((r) => (release = r));
  return async () => {
    arrived += 1;
    if (arrived >= count) release(true);
    let timer;
    const late = new Promise((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    try {
      return await Promise.race([all, late]);
    } finally {
      clearTimeout(timer); // a pending timer would keep the test process alive
    }
  };
}
