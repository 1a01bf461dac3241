// The offline demo model: a chat client (the shape ChatAgent expects:
// { model, getResponse(body), getStreamingResponse(body) }) that needs no API. It answers only from the
// messages in the request it is sent, so what it "remembers" is exactly what
// threadmem put in the request: a thread's history, the instructions, the
// notes and long-term memories providers added, a summary of turns that left
// the window. Nothing is kept between calls. It also does the two chores the
// providers ask a model for: extracting facts (JSON) and summarizing turns.

export const OFFLINE_MODEL = 'offline-demo';

/**
 * @param {{delayMs?: number, chunkDelayMs?: number}} [options] a short pause
 *   before the reply, and between the words of a streamed one, so the page
 *   shows a reply being awaited and arriving as it would with a real model
 */
export function createOfflineModel({ delayMs = 150, chunkDelayMs = 25 } = {}) {
  let counter = 0;
  // The reply to a request body, and what it costs.
  function reply(body) {
    const request = typeof body === 'string' ? JSON.parse(body) : body;
    const messages = Array.isArray(request?.messages) ? request.messages : [];
    const content = answer(messages);
    const promptTokens = estimateTokens(messages.map(textOf).join('\n')) + 3 * messages.length;
    const completionTokens = estimateTokens(content);
    counter += 1;
    return {
      id: `offline-${Date.now().toString(36)}-${counter}`,
      created: Math.floor(Date.now() / 1000),
      content,
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
  }
  return {
    model: OFFLINE_MODEL,
    async getResponse(body, { signal } = {}) {
      if (delayMs > 0) await pause(delayMs, signal);
      const { id, created, content, usage } = reply(body);
      return JSON.stringify({
        id,
        object: 'chat.completion',
        created,
        model: OFFLINE_MODEL,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage,
      });
    },
    // The same reply as the chunks of a server-sent-events stream, word by
    // word: what an OpenAI-compatible endpoint sends for "stream": true.
    async getStreamingResponse(body, { signal } = {}) {
      if (delayMs > 0) await pause(delayMs, signal);
      const { id, created, content, usage } = reply(body);
      const chunk = (delta, finish = null, extra = {}) =>
        JSON.stringify({ id, object: 'chat.completion.chunk', created, model: OFFLINE_MODEL, choices: delta ? [{ index: 0, delta, finish_reason: finish }] : [], ...extra });
      return (async function* words() {
        yield chunk({ role: 'assistant', content: '' });
        for (const word of content.match(/\S+\s*/g) ?? []) {
          if (chunkDelayMs > 0) await pause(chunkDelayMs, signal);
          yield chunk({ content: word });
        }
        yield chunk({}, 'stop');
        yield chunk(null, null, { usage });
      })();
    },
  };
}

/** The reply to a request, from its messages alone. Exported for tests. */
export function answer(messages) {
  const task = textOf(messages[0]);
  if (task.startsWith('You maintain long-term memory')) return extractFacts(textOf(messages[1]));
  if (task.startsWith('You maintain the running summary')) return summarize(textOf(messages[1]));
  return chat(messages);
}

// The memory extraction request: {existing_memories, conversation} in, the
// facts the user stated out, each decided against the existing ones.
function extractFacts(input) {
  let request;
  try {
    request = JSON.parse(input);
  } catch {
    return JSON.stringify({ memories: [] });
  }
  const existing = Array.isArray(request?.existing_memories) ? request.existing_memories : [];
  const memories = [];
  for (const turn of Array.isArray(request?.conversation) ? request.conversation : []) {
    if (turn?.role !== 'user' || typeof turn.content !== 'string') continue;
    for (const fact of factsIn(turn.content)) {
      const same = existing.find((m) => m.text === fact.text);
      const older = existing.find((m) => typeof m.text === 'string' && m.text.startsWith(fact.subject));
      if (same) memories.push({ event: 'NONE', id: same.id });
      else if (older && fact.single) memories.push({ event: 'UPDATE', id: older.id, text: fact.text });
      else memories.push({ event: 'ADD', text: fact.text });
    }
  }
  return JSON.stringify({ memories });
}

// Statements about the user, in the third person. `single`: a newer one
// replaces the old (a name), else they add up (likes).
function factsIn(text) {
  const facts = [];
  const name = nameIn(text);
  if (name) facts.push({ subject: "The user's name is", text: `The user's name is ${name}.`, single: true });
  const phrase = (re) => re.exec(text)?.[1]?.replace(/[.!?,;]+$/, '').trim();
  const city = phrase(/\bI live in ([\p{L}\p{M} '-]{2,40})/iu);
  if (city) facts.push({ subject: 'The user lives in', text: `The user lives in ${city}.`, single: true });
  const age = /\bI am (\d{1,3}) years? old\b/i.exec(text)?.[1];
  if (age) facts.push({ subject: 'The user is', text: `The user is ${age} years old.`, single: true });
  const likes = phrase(/\bI (?:like|love|enjoy) ([\p{L}\p{M}\d ,'-]{2,60})/iu);
  if (likes) facts.push({ subject: 'The user likes', text: `The user likes ${likes}.`, single: false });
  return facts;
}

// The summary request: the previous summary kept, each new user message
// condensed to a line.
function summarize(input) {
  const previous = /^Previous summary:\n([\s\S]*?)\n\nNew messages:/.exec(input)?.[1] ?? '';
  const fresh = input.slice(input.lastIndexOf('New messages:\n') + 'New messages:\n'.length);
  const said = fresh.split('\n').filter((l) => l.startsWith('user: ')).map((l) => `The user said: "${clip(l.slice(6), 80)}"`);
  return [previous, ...said].filter(Boolean).join('\n');
}

function chat(messages) {
  const counts = { system: 0, user: 0, assistant: 0, tool: 0 };
  for (const m of messages) if (m && m.role in counts) counts[m.role] += 1;
  const userTurns = messages.filter((m) => m && m.role === 'user').map(textOf);
  const last = userTurns.length ? userTurns[userTurns.length - 1] : '';
  const earlier = userTurns.slice(0, -1);
  const said = normalize(last);
  const seen =
    `(This request carried ${plural(messages.length, 'message')}: ` +
    `${counts.system} system, ${counts.user} user, ${counts.assistant} assistant` +
    `${counts.tool ? `, ${counts.tool} tool` : ''}.)`;

  if (/\bwho am i\b/.test(said) || /\b(what'?s|what is|do you know|tell me|remind me of|say)\b.*\bmy name\b/.test(said)) {
    // The newest "my name is X" anywhere in what was sent, other than this question.
    const sources = [
      ...messages.filter((m) => m && m.role === 'system').map(textOf),
      ...earlier,
    ];
    let name = null;
    let source = '';
    for (const text of sources) {
      const found = nameIn(text);
      if (found) {
        name = found;
        source = text.startsWith('Summary of the earlier conversation')
          ? 'the summary of turns that left the context window'
          : /memor/i.test(text) && !earlier.includes(text)
            ? 'the long-term memory this request carried'
            : 'the earlier messages of this thread';
      }
    }
    return name
      ? `Your name is ${name}. I can tell from ${source}, which was sent to me. ${seen}`
      : `I don't know your name: nothing in the messages I was sent says it. ${seen}`;
  }

  const introduced = nameIn(last);
  if (introduced) {
    return `Nice to meet you, ${introduced}! Ask me "What's my name?" in this thread, then in a new one. ${seen}`;
  }

  if (/\bhow many messages\b/.test(said)) {
    return `I was sent ${plural(messages.length, 'message')}: ${counts.system} system, ` +
      `${counts.user} user, ${counts.assistant} assistant, ${counts.tool} tool.`;
  }

  if (/\b(what did i (say|ask|write)|what have i (said|asked)|list my messages|my messages)\b/.test(said)) {
    if (!earlier.length) return `This is the first thing you said to me in this thread. ${seen}`;
    const lines = earlier.map((t, i) => `${i + 1}. ${clip(t, 120)}`);
    return `Before this message you said ${plural(earlier.length, 'thing')}:\n${lines.join('\n')}`;
  }

  if (/\b(what are your instructions|your instructions|system prompt)\b/.test(said)) {
    const system = messages.filter((m) => m && m.role === 'system').map(textOf);
    return system.length
      ? `I was given these instructions:\n${system.join('\n')}`
      : 'I was given no instructions.';
  }

  return `You said: "${clip(last, 400)}". ${seen}`;
}

function nameIn(text) {
  const m = /\b(?:my name is|my name's|call me|user's name is)\s+([\p{L}\p{M}][\p{L}\p{M}'’-]*)/iu.exec(text || '');
  if (!m) return null;
  const name = m[1].replace(/['’-]+$/, '');
  return name.charAt(0).toUpperCase() + name.slice(1);
}

// A message's text: OpenAI's content is a string or a list of parts.
function textOf(message) {
  const c = message && message.content;
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((p) => (p && p.type === 'text' ? p.text : '')).join('');
  return '';
}

function normalize(text) {
  return text.toLowerCase().replace(/[’‘]/g, "'");
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function clip(text, max) {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

// Roughly four characters a token: enough for a usage line in a demo.
function estimateTokens(text) {
  return Math.max(1, Math.ceil(text.length / 4));
}

function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason ?? new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
