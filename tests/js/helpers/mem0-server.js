// A local server with the two Mem0 REST endpoints Mem0Provider uses, with
// real filtering, for the Jest tests.
//
//   POST /v1/memories/         {messages, user_id?, agent_id?, app_id?, run_id?, infer?}
//     Each user message becomes one memory (its text) holding every id given
//     on the request; answers the list of added memories.
//   POST /v2/memories/search/  {query, filters, top_k?}
//     filters: {field: value} | {AND: [filters...]} | {OR: [filters...]};
//     a memory matches {field: value} when it holds that field with that
//     value. Matches sharing a word with the query, best first (shared
//     words / query words), as {results: [...]}.
//
// Requests need `Authorization: Token <apiKey>` (else 401, whose body
// quotes the key it got, as careless servers do). Every request is
// recorded; `fail(status, path?)` makes the next request (to path) fail.

import http from 'node:http';

const IDS = ['user_id', 'agent_id', 'app_id', 'run_id'];

export async function startMem0Server({ apiKey }) {
  const memories = [];
  const requests = [];
  let failNext = null;
  let counter = 0;

  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = undefined;
    }
    requests.push({ method: req.method, path: req.url, headers: { ...req.headers }, body });
    const send = (status, value) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.headers.authorization !== `Token ${apiKey}`) {
      return send(401, { detail: `Invalid API key: ${req.headers.authorization}` });
    }
    if (failNext && (!failNext.path || failNext.path === req.url)) {
      const { status } = failNext;
      failNext = null;
      return send(status, { detail: 'scripted failure' });
    }
    if (req.method === 'POST' && req.url === '/v1/memories/') {
      if (!body || !Array.isArray(body.messages)) return send(400, { detail: 'messages required' });
      if (!IDS.some((k) => body[k])) return send(400, { detail: 'one of user_id, agent_id, app_id, run_id required' });
      const added = [];
      for (const m of body.messages) {
        if (m.role !== 'user' || !m.content) continue;
        const mem = { id: `mem-${++counter}`, memory: m.content, created_at: new Date().toISOString() };
        for (const k of IDS) if (body[k]) mem[k] = body[k];
        memories.push(mem);
        added.push({ id: mem.id, memory: mem.memory, event: 'ADD' });
      }
      return send(200, added);
    }
    if (req.method === 'POST' && req.url === '/v2/memories/search/') {
      if (!body || typeof body.query !== 'string' || !body.filters) return send(400, { detail: 'query and filters required' });
      const words = new Set(body.query.toLowerCase().match(/\p{L}+|\p{N}+/gu) ?? []);
      const results = memories
        .filter((m) => matches(m, body.filters))
        .map((m) => {
          const own = new Set(m.memory.toLowerCase().match(/\p{L}+|\p{N}+/gu) ?? []);
          const shared = [...words].filter((w) => own.has(w)).length;
          return { ...m, score: words.size ? shared / words.size : 0 };
        })
        .filter((m) => m.score > 0)
        .sort((a, b) => b.score - a.score)
        .slice(0, body.top_k ?? 10);
      return send(200, { results });
    }
    send(404, { detail: `no route ${req.method} ${req.url}` });
  });

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    memories,
    requests,
    /** The next request (to `path` only, when given) fails with `status`. */
    fail(status, path) {
      failNext = { status, path };
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

function matches(m, f) {
  if (Array.isArray(f.AND)) return f.AND.every((g) => matches(m, g));
  if (Array.isArray(f.OR)) return f.OR.some((g) => matches(m, g));
  return Object.entries(f).every(([k, v]) => m[k] === v);
}
