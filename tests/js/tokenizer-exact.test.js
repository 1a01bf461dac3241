// Exactness: threadmem's tokenizer gives js-tiktoken's ids, for both
// encodings, on the edge-case fixture and on the benchmark's generated
// corpus and chat messages; counts equal encode().length and well-formed
// text survives a round trip.

import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { Tiktoken } from 'js-tiktoken/lite';
import o200kRanks from 'js-tiktoken/ranks/o200k_base';
import cl100kRanks from 'js-tiktoken/ranks/cl100k_base';
import { Tokenizer } from '../../js/index.js';
import { makeCorpus, makeMessages } from '../../bench/corpus.js';

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/tokenizer/edge-cases.json', import.meta.url), 'utf8'),
);
const edgeCases = fixture.cases.map((c) =>
  typeof c === 'string' ? c : (c.prefix ?? '') + c.repeat.repeat(c.times) + (c.suffix ?? ''),
);
const corpus = makeCorpus();
const messages = makeMessages();

const REFERENCE = { o200k_base: o200kRanks, cl100k_base: cl100kRanks };

// The first index where two id lists differ, or -1.
function firstDifference(ours, theirs) {
  const n = Math.max(ours.length, theirs.length);
  for (let i = 0; i < n; i++) if (ours[i] !== theirs[i]) return i;
  return -1;
}

// Where two id lists first differ, with the text just before it, or null.
function context(text, ours, theirs, ref) {
  const i = firstDifference(ours, theirs);
  if (i < 0) return null;
  const upTo = ref.decode(Array.from(theirs.slice(Math.max(0, i - 16), i)));
  const at = Array.from(theirs.slice(i, i + 8));
  return {
    index: i,
    ours: Array.from(ours.slice(i, i + 8)),
    theirs: at,
    around: JSON.stringify(upTo.slice(-40) + '⟦' + ref.decode(at) + '⟧'),
  };
}

describe.each(Object.keys(REFERENCE))('%s', (name) => {
  const ref = new Tiktoken(REFERENCE[name]);
  const tok = new Tokenizer(name);

  test('special token ids are js-tiktoken\'s', () => {
    for (const [text, id] of Object.entries(REFERENCE[name].special_tokens)) {
      expect(Array.from(tok.encode(text, { allowedSpecial: 'all' }))).toEqual([id]);
      expect(tok.decode([id])).toBe(text);
    }
  });

  test('edge cases: same ids, counts and round trips', () => {
    for (const text of edgeCases) {
      const ours = tok.encode(text);
      const theirs = ref.encode(text, [], []);
      expect({ text: text.slice(0, 60), diff: context(text, ours, theirs, ref) }).toEqual({
        text: text.slice(0, 60),
        diff: null,
      });
      expect(tok.count(text)).toBe(ours.length);
      if (text.isWellFormed()) expect(tok.decode(ours)).toBe(text);
    }
  }, 120000);

  test('edge cases with special tokens allowed', () => {
    for (const text of edgeCases.filter((t) => t.length < 200)) {
      const ours = tok.encode(text, { allowedSpecial: 'all' });
      const theirs = ref.encode(text, 'all');
      expect(context(text, ours, theirs, ref)).toBeNull();
    }
  });

  test(`generated corpus (${(new TextEncoder().encode(corpus).length / 1048576).toFixed(1)} MB): same ids`, () => {
    const ours = tok.encode(corpus);
    const theirs = ref.encode(corpus, [], []);
    expect(context(corpus, ours, theirs, ref)).toBeNull();
    expect(ours.length).toBe(theirs.length);
    expect(tok.count(corpus)).toBe(ours.length);
    expect(tok.decode(ours)).toBe(corpus);
  }, 120000);

  test(`${messages.length} short chat messages: same ids`, () => {
    for (const text of messages) {
      const ours = tok.encode(text);
      const theirs = ref.encode(text, [], []);
      const diff = context(text, ours, theirs, ref);
      if (diff) expect({ text, diff }).toBeNull();
      expect(tok.count(text)).toBe(ours.length);
    }
  }, 120000);
});
