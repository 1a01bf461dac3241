// A deterministic generated corpus for the tokenizer's exactness test and
// benchmark: mixed prose, code, JSON, numbers, whitespace runs, CJK, Arabic,
// Cyrillic, Thai, Hindi and emoji, from a seeded PRNG (the same seed always
// gives the same text), plus short chat messages.
//
//   import { makeCorpus, makeMessages } from './corpus.js';
//   const text = makeCorpus({ bytes: 3 << 20 });      // about 3 MB of UTF-8
//   const msgs = makeMessages({ count: 10000 });      // short chat messages

import { rng as prng } from './util.js';

const WORDS = (
  'the of and to in is was for that on with as by it at from his her they this be are or an ' +
  'which not have has had but were their one all been who would more when there can will about ' +
  'memory thread message token window context agent model tool call result store history ' +
  'serialize provider browser node server request response function value string number array ' +
  'object error retry timeout stream buffer cache index query vector embedding summary user ' +
  'assistant system instructions conversation remember forgot weather tomorrow yesterday ' +
  'beautiful extraordinary internationalization misunderstanding responsibility ' +
  'photosynthesis Mississippi Kubernetes JavaScript WebAssembly PostgreSQL OpenAI'
).split(' ');
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'RE", "'Ve", "'D"];
const PUNCT = ['.', ',', ';', ':', '!', '?', '...', ' -', ' —', '?!', '"', ')', ' ('];
const CYRILLIC = 'Привет мир как дела сегодня хорошая погода память разговор модель Москва'.split(' ');
const ARABIC = 'مرحبا بالعالم كيف حالك اليوم الذاكرة المحادثة العَرَبِيَّة النموذج'.split(' ');
const THAI = 'สวัสดีครับ ภาษาไทย ความจำ การสนทนา วันนี้'.split(' ');
const HINDI = 'नमस्ते दुनिया हिन्दी स्मृति बातचीत आज मौसम'.split(' ');
const EMOJI = [
  '😀', '😂', '👍', '🎉', '🚀', '❤️', '🔥', '✨', '🙏🏽', '👩‍💻', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇯🇵', '🇫🇷',
  '❤️‍🔥', '1️⃣', '🧑🏾‍🚀',
];
const CODE_LINES = [
  'function add(a, b) {', '  return a + b;', '}', 'const x = arr.map((v) => v * 2);',
  'if (err != null && err.code === "ENOENT") {', '\tfor (let i = 0; i < n; i++) sum += i;',
  'def tokenize(text: str) -> list[int]:', '    return [ord(c) for c in text]',
  '#include <stdio.h>', 'int main(void) { printf("%d\\n", 42); }', '// TODO: handle the edge case',
  '/* block comment */', 'SELECT id, name FROM users WHERE age >= 21;', '    }', '  ]);',
  'git commit -m "fix: off-by-one in the window"', 'https://example.com/api/v1/items?id=42&sort=desc',
];

function pick(rnd, list) {
  return list[Math.floor(rnd() * list.length)];
}

function int(rnd, lo, hi) {
  return lo + Math.floor(rnd() * (hi - lo + 1));
}

function sentence(rnd) {
  const n = int(rnd, 4, 18);
  const words = [];
  for (let i = 0; i < n; i++) {
    let w = pick(rnd, WORDS);
    const r = rnd();
    if (i === 0 || r < 0.05) w = w[0].toUpperCase() + w.slice(1);
    else if (r < 0.07) w = w.toUpperCase();
    if (rnd() < 0.06) w += pick(rnd, CONTRACTIONS);
    if (rnd() < 0.08) w += pick(rnd, PUNCT);
    words.push(w);
  }
  return `${words.join(' ')}${pick(rnd, ['.', '.', '.', '!', '?', '...'])}`;
}

function cjk(rnd) {
  let s = '';
  const n = int(rnd, 5, 40);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.6) s += String.fromCodePoint(int(rnd, 0x4e00, 0x9fa5));
    else if (r < 0.8) s += String.fromCodePoint(int(rnd, 0x3041, 0x3093));
    else if (r < 0.9) s += String.fromCodePoint(int(rnd, 0x30a1, 0x30f3));
    else if (r < 0.95) s += String.fromCodePoint(int(rnd, 0xac00, 0xd7a3));
    else s += pick(rnd, ['、', '。', '「', '」', '！', '？', ' ', '\u3000']);
  }
  return s;
}

function numbers(rnd) {
  const parts = [];
  const n = int(rnd, 1, 8);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.3) parts.push(String(int(rnd, 0, 10 ** int(rnd, 1, 12))));
    else if (r < 0.5) parts.push((rnd() * 10000).toFixed(int(rnd, 1, 6)));
    else if (r < 0.65) parts.push(`${int(rnd, 1990, 2030)}-${String(int(rnd, 1, 12)).padStart(2, '0')}-${String(int(rnd, 1, 28)).padStart(2, '0')}`);
    else if (r < 0.8) parts.push(`+1 (${int(rnd, 200, 999)}) ${int(rnd, 200, 999)}-${int(rnd, 1000, 9999)}`);
    else if (r < 0.9) parts.push(int(rnd, 1000, 99999999).toLocaleString('en-US'));
    else parts.push(`${int(rnd, 1, 99)}%`);
  }
  return parts.join(pick(rnd, [' ', ', ', '; ', '\n', ' and ']));
}

function whitespace(rnd) {
  return pick(rnd, [
    '  ', '   ', '\t', '\t\t', '\n\n', '\n\n\n', '\r\n', '\r\n\r\n', '  \n', ' \r\n  ', '    \n    ',
    '\u00a0', '\u3000', ' \t \n', '\n   ', '        ',
  ]);
}

function jsonBlock(rnd) {
  const obj = {
    id: int(rnd, 1, 1e6),
    role: pick(rnd, ['user', 'assistant', 'tool', 'system']),
    text: sentence(rnd),
    score: Math.round(rnd() * 1e6) / 1e3,
    tags: [pick(rnd, WORDS), pick(rnd, CYRILLIC), pick(rnd, EMOJI)],
    nested: { ok: rnd() < 0.5, list: [int(rnd, 0, 99), int(rnd, 0, 99), null] },
  };
  return rnd() < 0.5 ? JSON.stringify(obj) : JSON.stringify(obj, null, int(rnd, 1, 4));
}

function code(rnd) {
  const lines = [];
  const n = int(rnd, 3, 14);
  for (let i = 0; i < n; i++) lines.push(pick(rnd, CODE_LINES));
  return lines.join(rnd() < 0.2 ? '\r\n' : '\n');
}

function foreign(rnd) {
  const list = pick(rnd, [CYRILLIC, ARABIC, THAI, HINDI]);
  const n = int(rnd, 3, 15);
  const words = [];
  for (let i = 0; i < n; i++) words.push(pick(rnd, list) + (rnd() < 0.1 ? pick(rnd, PUNCT) : ''));
  return words.join(' ');
}

function emoji(rnd) {
  let s = '';
  const n = int(rnd, 1, 6);
  for (let i = 0; i < n; i++) s += pick(rnd, EMOJI) + (rnd() < 0.4 ? ' ' : '');
  return s;
}

/** One block of mixed text. */
function block(rnd) {
  const r = rnd();
  if (r < 0.4) {
    const n = int(rnd, 1, 6);
    const out = [];
    for (let i = 0; i < n; i++) out.push(sentence(rnd));
    return out.join(' ');
  }
  if (r < 0.52) return code(rnd);
  if (r < 0.62) return jsonBlock(rnd);
  if (r < 0.7) return numbers(rnd);
  if (r < 0.78) return cjk(rnd);
  if (r < 0.9) return foreign(rnd);
  return emoji(rnd) + ' ' + sentence(rnd);
}

/**
 * About `bytes` bytes of UTF-8 (the result is a JS string; it ends at a
 * block boundary at or past `bytes`).
 */
export function makeCorpus({ seed = 20260101, bytes = 3 * 1024 * 1024 } = {}) {
  const rnd = prng(seed);
  const enc = new TextEncoder();
  const parts = [];
  let size = 0;
  while (size < bytes) {
    const s = block(rnd) + whitespace(rnd);
    parts.push(s);
    size += enc.encode(s).length;
  }
  return parts.join('');
}

/** `count` short chat messages (a few words to a few sentences each). */
export function makeMessages({ seed = 7, count = 10000 } = {}) {
  const rnd = prng(seed);
  const out = [];
  for (let i = 0; i < count; i++) {
    const r = rnd();
    if (r < 0.6) out.push(sentence(rnd));
    else if (r < 0.75) out.push(`${sentence(rnd)} ${sentence(rnd)}`);
    else if (r < 0.85) out.push(foreign(rnd));
    else if (r < 0.92) out.push(`${emoji(rnd)} ${pick(rnd, WORDS)}`);
    else out.push(code(rnd));
  }
  return out;
}
