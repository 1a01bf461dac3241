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
import { rng as prng } from '../../bench/util.js';

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/tokenizer/edge-cases.json', import.meta.url), 'utf8'),
);
const edgeCases = fixture.cases.map((c) =>
  typeof c === 'string' ? c : (c.prefix ?? '') + c.repeat.repeat(c.times) + (c.suffix ?? ''),
);
const corpus = makeCorpus();
const messages = makeMessages();

// Short random strings over the characters where the patterns' branches
// meet: every letter category, marks, digits of several kinds, each kind of
// white space, apostrophes and contraction letters, slashes, emoji, a BOM,
// NEL, lone surrogates, NUL and special-token text.
const TRICKY = [
  'a', 'b', 's', 't', 'd', 'm', 'l', 'r', 'e', 'v', 'S', 'T', 'D', 'M', 'L', 'R', 'E', 'V', 'A',
  "'", "'", "'", ' ', ' ', '  ', '\t', '\n', '\r', '\r\n', '/', '/', '!', '.', ',', '1', '2', '3',
  '\u0663', '\u00bd', '\u216b', '\u01c5', '\u01c8', '\u02b0', '\u02c8', '\u3042', '\u8a9e',
  '\u30fc', '\u0301', '\u0303', '\u093f', '\u0928', '\u0e01', '\u0e31', '\u00a0', '\u3000',
  '\u2028', '\ufeff', '\u0085', '\u000b', '\u200b', '\u200d', '\u{1F600}', '\u{1F469}', '\ud800',
  '\udc00', '\u00e9', '\u00c9', '\u00df', '\u017f', '\u03a9', '\u03c9', '\ufb01', '\u0000',
  '<|endoftext|>', '$', '_', '-', '?', '"', '(', '@', '\u01f2', '\u1f88', "'ll", "'RE",
];
function randomStrings(count, seed) {
  const rnd = prng(seed);
  const out = [];
  for (let i = 0; i < count; i++) {
    const len = 1 + Math.floor(rnd() * 25);
    let s = '';
    for (let k = 0; k < len; k++) s += TRICKY[Math.floor(rnd() * TRICKY.length)];
    out.push(s);
  }
  return out;
}
const randomCases = randomStrings(5000, 12345);

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

  test('5000 random strings of tricky characters, with and without special tokens', () => {
    for (const text of randomCases) {
      const diff = context(text, tok.encode(text), ref.encode(text, [], []), ref);
      if (diff) expect({ text, diff }).toBeNull();
      const special = context(text, tok.encode(text, { allowedSpecial: 'all' }), ref.encode(text, 'all'), ref);
      if (special) expect({ text, special }).toBeNull();
    }
  }, 120000);

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
