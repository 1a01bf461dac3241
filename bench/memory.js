// Memory search at scale: 100,000 records in one user's scope (the worst
// case: the filter keeps every record), searched by BM25 and by hybrid
// search with 384-dimension vectors, through the package's binding (JSON in
// and out of the WASM core included).
//
//   node bench/memory.js                 writes bench/results/memory.{md,json}
//   BENCH_QUICK=1 node bench/memory.js   10,000 records, fewer queries
//
// Each search is first warmed up with 30 untimed queries (the first queries
// are slower: the engine tiers up the WASM code and the operating system
// maps the index's memory), then timed query by query.
//
// Texts: 8 to 24 words drawn with a skewed (Zipf-like) distribution from a
// generated vocabulary of 20,000 words, so common words have long posting
// lists as in real text. Vectors: uniform random in [-1, 1). Queries: 3 to 6
// words from the same distribution, and random vectors. Everything comes
// from the seeded PRNG of bench/util.js.

import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { MemoryIndex } from '../js/memory-index.js';
import '../js/index.js';
import { machine, median, rng, table } from './util.js';

const QUICK = !!process.env.BENCH_QUICK;
const N = QUICK ? 10_000 : 100_000;
const QUERIES = QUICK ? 50 : 300;
const WARMUP = 30;
const HYBRID_LEAD = 4; // src/memory.c
const DIM = 384;
const VOCAB = 20_000;
const BATCH = 1_000;

const next = rng(20260101);
const syllables = 'ka to ri na mo su le pa vi do ne ga hu ro li ma se ta ku fe'.split(' ');
const vocab = Array.from({ length: VOCAB }, (_, i) => {
  let w = '';
  for (let n = i + 1; n > 0; n = Math.floor(n / syllables.length)) w += syllables[n % syllables.length];
  return w;
});
const word = () => vocab[Math.floor(Math.pow(next(), 3) * VOCAB)];
const words = (min, max) => Array.from({ length: min + Math.floor(next() * (max - min + 1)) }, word).join(' ');
const vector = () => {
  const v = new Float32Array(DIM);
  for (let i = 0; i < DIM; i++) v[i] = next() * 2 - 1;
  return v;
};

function build(withVectors) {
  const index = new MemoryIndex();
  const gen = rng(7); // the same texts for both indexes
  const saved = [];
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    const batch = [];
    for (let k = 0; k < BATCH && i + k < N; k++) {
      const len = 8 + Math.floor(gen() * 17);
      const text = Array.from({ length: len }, () => vocab[Math.floor(Math.pow(gen(), 3) * VOCAB)]).join(' ');
      batch.push({ text, scope: { userId: 'u1' }, embedding: withVectors ? vector() : undefined });
    }
    index.add(batch);
    saved.push(batch.length);
  }
  return { index, buildMs: performance.now() - t0 };
}

function time(fn) {
  for (let q = 0; q < WARMUP; q++) fn.run(fn.prepare());
  const times = [];
  let hits = 0;
  for (let q = 0; q < QUERIES; q++) {
    const args = fn.prepare();
    const t = performance.now();
    const r = fn.run(args);
    times.push(performance.now() - t);
    hits += r.length;
  }
  times.sort((a, b) => a - b);
  return { median: median(times), p95: times[Math.floor(times.length * 0.95)], mean: times.reduce((a, b) => a + b, 0) / times.length, hits: hits / QUERIES };
}

// On a shared machine the timings move with the load: say what it was.
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(', ');
const loadBefore = load();

const filter = { scope: { userId: 'u1' } };
const rows = [];
const results = {};
const row = (key, label, r, buildMs) => {
  results[key] = { medianMs: +r.median.toFixed(3), p95Ms: +r.p95.toFixed(3), meanMs: +r.mean.toFixed(3), hitsPerQuery: r.hits, buildS: +(buildMs / 1000).toFixed(1) };
  rows.push([label, N.toLocaleString('en'), r.median.toFixed(3), r.p95.toFixed(3), r.mean.toFixed(3), r.hits.toFixed(1), (buildMs / 1000).toFixed(1)]);
};

const bm = build(false);
row('bm25', 'BM25', time({ prepare: () => words(3, 6), run: (q) => bm.index.search(q, { filter, topK: 10 }) }), bm.buildMs);
bm.index.close();

const hy = build(true);
row('hybrid', `hybrid (${DIM} dimensions)`, time({
  prepare: () => ({ q: words(3, 6), v: vector() }),
  run: ({ q, v }) => hy.index.search(q, { filter, topK: 10, embedding: v }),
}), hy.buildMs);
// The worst case of the first pass: no word of the query is in any record,
// so no BM25 score gives it a floor to stop half way with.
row('hybridVectorOnly', 'hybrid, vector only (no word found)', time({
  prepare: () => ({ q: 'zzqx', v: vector() }),
  run: ({ q, v }) => hy.index.search(q, { filter, topK: 10, embedding: v }),
}), hy.buildMs);
hy.index.close();
const loadAfter = load();

const report = `# Memory search

${machine()}
Load average (1, 5, 15 minutes): ${loadBefore} before the run, ${loadAfter} after it.

${N.toLocaleString('en')} records in one user's scope, ${QUERIES} timed queries of 3 to 6 words (after ${WARMUP} untimed
ones), top 10, through \`MemoryIndex.search\` (the binding MemoryProvider uses: JSON in and out of the
WASM core included). Target: under 5 ms per query.

${table(['search', 'records', 'median ms', 'p95 ms', 'mean ms', 'hits per query', 'build s'], rows)}

Hybrid search fuses BM25 and cosine by normalized score fusion (0.5 × BM25 / best BM25 + 0.5 ×
cosine), and its results and scores are exactly those of scoring every record in float32:
1. The ${HYBRID_LEAD} × top k records of best BM25 score are scored exactly first; the k-th of their scores is
   a floor the results' k-th score can only rise from.
2. A first pass bounds every other record of the filter from 4-bit copies of the vectors (integer dot
   products on WebAssembly SIMD, 32 codes per load, four records per query load, with the codes'
   error bounds). It reads the first half of a record's codes, bounds the rest by the norms of the
   two halves (|u·v| ≤ |u| |v|), and stops there when the bound stays below the floor (four records
   at a time; the halves are stored apart, so the second halves of those records are never read).
3. The best max(8 × top k, 64) bounds of the others are scored exactly; then every record whose
   bound still reaches the k-th score gets the tighter bound of its int8 copy, and is scored exactly
   if that reaches it too.

Memory per record with a ${DIM}-dimension vector: ${DIM * 4} bytes of float32 (persisted) + ${DIM} bytes of int8
codes + ${DIM / 2} bytes of 4-bit codes + 20 bytes of their scales, error bounds and the norm of the second
half (rebuilt on load) + 29 bytes of the columns the first pass reads instead of the record (a state
byte, four 4-byte scope columns, three of the numbers above) + 8 bytes of search scratch. The first
pass streams the first halves and those columns, so it slows down when other work on the machine
competes for memory bandwidth and cache.
Run: \`node bench/memory.js\` (\`BENCH_QUICK=1\` for a smaller run).
`;
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
if (!QUICK) {
  writeFileSync(new URL('./results/memory.md', import.meta.url), report);
  const out = { date: new Date().toISOString(), machine: machine(), node: process.version, loadAverageBefore: loadBefore,
    loadAverageAfter: loadAfter, records: N, dimensions: DIM, queries: QUERIES, warmupQueries: WARMUP, topK: 10, results };
  writeFileSync(new URL('./results/memory.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
}
console.log(report);
