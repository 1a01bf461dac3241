// The Tokenizer API: names and errors, special tokens, lone surrogates,
// decode, the estimate, loading from a base URL (file: and http:), and a
// re-init() that forgets the loaded vocabularies.

import { afterAll, expect, test } from '@jest/globals';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { Tokenizer, ThreadmemError, init } from '../../js/index.js';
import { ensureEncoding, encodingIdSync } from '../../js/tokenizer.js';

const VOCAB_DIR = new URL('../../dist/vocab/', import.meta.url);

function codeOf(fn) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ThreadmemError);
    return err.code;
  }
  return 'no error';
}

afterAll(() => init());

test('unknown encodings are UNKNOWN_ENCODING', async () => {
  expect(codeOf(() => new Tokenizer('gpt2'))).toBe('UNKNOWN_ENCODING');
  expect(codeOf(() => new Tokenizer(undefined))).toBe('UNKNOWN_ENCODING');
  expect(codeOf(() => encodingIdSync('toString'))).toBe('UNKNOWN_ENCODING');
  await expect(ensureEncoding('p50k_base')).rejects.toMatchObject({ code: 'UNKNOWN_ENCODING' });
  await expect(Tokenizer.load('nope')).rejects.toMatchObject({ code: 'UNKNOWN_ENCODING' });
});

test('encodings by number', async () => {
  expect(await ensureEncoding('o200k_base')).toBe(0);
  expect(await ensureEncoding('cl100k_base')).toBe(1);
  expect(await ensureEncoding('estimate')).toBe(2);
  expect(encodingIdSync('cl100k_base')).toBe(1);
});

test('encode, count and decode', () => {
  const tok = new Tokenizer('cl100k_base');
  expect(tok.name).toBe('cl100k_base');
  expect(Array.from(tok.encode('Hello, world!'))).toEqual([9906, 11, 1917, 0]);
  expect(tok.encode('')).toEqual(new Uint32Array(0));
  expect(tok.count('Hello, world!')).toBe(4);
  expect(tok.count('')).toBe(0);
  expect(tok.decode([9906, 11, 1917, 0])).toBe('Hello, world!');
  expect(tok.decode(new Uint32Array([9906]))).toBe('Hello');
  expect(tok.decode([])).toBe('');
  // Ids that cut a character decode as U+FFFD, as TextDecoder reads them.
  const ids = tok.encode('\u{1F600}');
  expect(ids.length).toBeGreaterThan(1);
  expect(tok.decode(ids.slice(0, 1))).toBe('\uFFFD');
  expect(codeOf(() => tok.decode([1e9]))).toBe('LIMIT_EXCEEDED');
  // Ids that are not whole numbers from 0 to 2^32 - 1 are refused, never wrapped or rounded.
  for (const ids of [[-1], [1.5], ['a'], [2 ** 32], [NaN], [10n], null, undefined, 'abc', 7]) {
    expect(codeOf(() => tok.decode(ids))).toBe('INVALID_ARGUMENT');
  }
  expect(codeOf(() => new Tokenizer(10n))).toBe('UNKNOWN_ENCODING');
  expect(codeOf(() => tok.encode(42))).toBe('INVALID_ARGUMENT');
  expect(codeOf(() => tok.count(null))).toBe('INVALID_ARGUMENT');
});

test('lone surrogates read as U+FFFD', () => {
  for (const name of ['o200k_base', 'cl100k_base']) {
    const tok = new Tokenizer(name);
    expect(tok.encode('a\uD800b')).toEqual(tok.encode('a\uFFFDb'));
    expect(tok.count('\uDFFF')).toBe(tok.count('\uFFFD'));
  }
});

test('special tokens only when allowed', () => {
  const tok = new Tokenizer('o200k_base');
  const text = 'a<|endoftext|>b<|endofprompt|>';
  expect(Array.from(tok.encode(text, { allowedSpecial: 'all' }))).toEqual([64, 199999, 65, 200018]);
  const plain = tok.encode(text);
  expect(plain.length).toBeGreaterThan(4);
  expect(Array.from(tok.encode(text, { allowedSpecial: [] }))).toEqual(Array.from(plain));
  const some = Array.from(tok.encode(text, { allowedSpecial: ['<|endoftext|>'] }));
  expect(some.slice(0, 3)).toEqual([64, 199999, 65]);
  expect(some).not.toContain(200018);
  expect(tok.count(text)).toBe(plain.length);
  expect(tok.decode([199999])).toBe('<|endoftext|>');
  expect(codeOf(() => tok.encode(text, { allowedSpecial: 'some' }))).toBe('INVALID_ARGUMENT');
  // Only the encoding's special tokens: not an ordinary word, not a non-string.
  for (const bad of ['<|x|>', 'hello', '', 1, null]) {
    expect(codeOf(() => tok.encode('hello <|x|>', { allowedSpecial: [bad] }))).toBe('INVALID_ARGUMENT');
  }
  expect(codeOf(() => tok.encode(5, { allowedSpecial: ['<|endoftext|>'] }))).toBe('INVALID_ARGUMENT');
  expect(codeOf(() => tok.encode(5))).toBe('INVALID_ARGUMENT');
});

test('the estimate counts without a vocabulary but has no ids', () => {
  const est = new Tokenizer('estimate');
  expect(est.count('abcdefgh')).toBe(2);
  expect(codeOf(() => est.encode('abc'))).toBe('UNKNOWN_ENCODING');
});

test('re-init forgets vocabularies and the tokenizer loads them again', async () => {
  const tok = new Tokenizer('o200k_base');
  const before = Array.from(tok.encode('threadmem remembers'));
  await init();
  expect(Array.from(tok.encode('threadmem remembers'))).toEqual(before);
  expect(new Tokenizer('cl100k_base').count('hello')).toBe(1);
});

test('vocabularies from a base URL: file: and http:, missing ones are clear errors', async () => {
  await init({ vocabUrl: VOCAB_DIR });
  expect((await Tokenizer.load('cl100k_base')).count('hello world')).toBe(2);

  const server = createServer((req, res) => {
    const match = /^\/assets\/vocab\/((o200k_base|cl100k_base)\.tmv)$/.exec(req.url);
    const name = match?.[1];
    if (!name) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(readFileSync(new URL(name, VOCAB_DIR)));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const base = `http://127.0.0.1:${server.address().port}/assets/vocab`;
    await init({ vocabUrl: base });
    // Not loaded, and not readable synchronously from an http: URL.
    expect(codeOf(() => new Tokenizer('o200k_base'))).toBe('ENCODING_NOT_LOADED');
    const tok = await Tokenizer.load('o200k_base');
    expect(Array.from(tok.encode('Hello, world!'))).toEqual([13225, 11, 2375, 0]);
    expect(encodingIdSync('o200k_base')).toBe(0);
    // A re-init with the same base reloads from the bytes already fetched.
    await init({ vocabUrl: base });
    expect(new Tokenizer('o200k_base').count('Hello, world!')).toBe(4);

    await init({ vocabUrl: `http://127.0.0.1:${server.address().port}/missing/` });
    await expect(Tokenizer.load('cl100k_base')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  } finally {
    await new Promise((resolve) => server.close(resolve));
    await init();
  }
  expect(new Tokenizer('cl100k_base').count('hello')).toBe(1);
});
