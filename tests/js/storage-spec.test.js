// The shared storage spec (tests/storage/spec.js) against the Node backends:
// FileChatMessageStore in a temporary directory, RedisChatMessageStore on a
// real redis-server. The browser backends run the same cases in Chromium
// (tests/e2e/storage.e2e.js).

import { afterAll, beforeAll, describe, test } from '@jest/globals';
import * as nodeFs from 'node:fs/promises';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import * as lib from '../../js/node.js';
import { scanLog } from '../../js/log.js';
import { cases, runCase, tracked } from '../storage/spec.js';
import { instrument } from '../storage/faults.js';
import { startRedis } from './helpers/redis-server.js';

let redis;
let admin;
let n = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  admin.on('error', () => {});
  await admin.connect();
}, 30_000);
afterAll(async () => {
  await admin?.quit().catch(() => {});
  await redis?.stop();
});

// One byte inside the first record's payload (its header is 24 bytes), or
// three bytes before the end of the last one.
function flip(bytes, which) {
  bytes[which === 'first' ? 30 : bytes.length - 3] ^= 1;
  return bytes;
}

// The sequence numbers of a log's records, encrypted or not (never decrypted).
function seqs(bytes) {
  let log;
  try {
    log = scanLog(bytes);
  } catch (err) {
    if (err.code !== 'ENCRYPTION_REQUIRED') throw err;
    log = scanLog(bytes, { sealed: true });
  }
  return { first: log.first_seq, last: log.last_seq };
}

async function fileBackend() {
  const dir = await mkdtemp(join(tmpdir(), 'threadmem-spec-'));
  const { open, track, closeAll } = tracked((o) => new lib.FileChatMessageStore({ directory: dir, ...o }));
  // A thread's file, as the store names it.
  const path = (threadId) => {
    const s = new lib.FileChatMessageStore({ directory: dir, threadId });
    s.close();
    return s.path;
  };
  return {
    kind: 'file',
    lib,
    open,
    // Every call of the file system and of the file handles it opens.
    openFaulty: async (o, plan) =>
      track(new lib.FileChatMessageStore({
        directory: dir,
        ...o,
        fs: instrument({ ...nodeFs }, plan, { rejects: true, deep: (v) => typeof v.sync === 'function' }),
      })),
    async tamper(id, which) {
      await writeFile(path(id), flip(await readFile(path(id)), which));
    },
    async seqRange(id) {
      return seqs(await readFile(path(id)));
    },
    async snapshot(id) {
      return (await readFile(path(id))).toString('base64');
    },
    rawBytes: async (id) => [new Uint8Array(await readFile(path(id)))],
    copyThread: (from, to) => copyFile(path(from), path(to)),
    async dispose() {
      await closeAll();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function redisBackend() {
  const keyPrefix = `spec${++n}`;
  const { open, track, closeAll } = tracked((o) => new lib.RedisChatMessageStore({ redisUrl: redis.url, keyPrefix, ...o }));
  const key = (id) => `${keyPrefix}:{${id}}`;
  const clients = [];
  return {
    kind: 'redis',
    lib,
    open,
    // Every command sent to Redis (a MULTI's commands go together in exec).
    async openFaulty(o, plan) {
      const client = createClient({ url: redis.url });
      client.on('error', () => {});
      await client.connect();
      clients.push(client);
      const queued = new Set(['multi', 'rPush', 'lTrim', 'expire', 'on', 'once', 'off', 'removeListener']);
      return track(new lib.RedisChatMessageStore({
        keyPrefix,
        ...o,
        client: instrument(client, plan, { rejects: true, ops: (name) => !queued.has(name), deep: (v) => typeof v.exec === 'function' }),
      }));
    },
    async tamper(id, which) {
      const index = which === 'first' ? 0 : -1;
      const bytes = Buffer.from(await admin.lIndex(key(id), index), 'base64');
      await admin.lSet(key(id), index, flip(bytes, which).toString('base64'));
    },
    async seqRange(id) {
      const entries = await admin.lRange(key(id), 0, -1);
      return seqs(Buffer.concat(entries.map((e) => Buffer.from(e, 'base64'))));
    },
    snapshot: (id) => admin.lRange(key(id), 0, -1),
    rawBytes: async (id) => (await admin.lRange(key(id), 0, -1)).map((e) => new Uint8Array(Buffer.from(e, 'base64'))),
    async copyThread(from, to) {
      await admin.rPush(key(to), await admin.lRange(key(from), 0, -1));
    },
    async dispose() {
      await closeAll();
      for (const c of clients) await c.quit().catch(() => {});
      for await (const keys of admin.scanIterator({ MATCH: `${keyPrefix}:*` })) {
        const list = Array.isArray(keys) ? keys : [keys];
        if (list.length) await admin.del(list);
      }
    },
  };
}

for (const [name, make] of [['file', fileBackend], ['redis', redisBackend]]) {
  describe(`storage spec: ${name}`, () => {
    for (const c of cases) test(c.name, () => runCase(make, c));
  });
}
