// Hybrid search in the WASM build, whose first pass runs on WebAssembly
// SIMD (the native C tests run the portable path): the results are those of
// scoring every record exactly. The queries' words are in no record, so each
// score is 0.5 × cosine and the exact ranking is computed here from the
// vectors alone.

import { expect, test } from '@jest/globals';
import '../../js/index.js';
import { MemoryIndex } from '../../js/memory-index.js';
import { rng } from '../../bench/util.js';

function exactTop(vectors, query, k) {
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const qn = norm(query);
  return vectors
    .map((v, i) => ({ i, cos: v.reduce((s, x, j) => s + x * query[j], 0) / (norm(v) * qn) }))
    .filter((r) => r.cos > 0)
    .sort((a, b) => b.cos - a.cos)
    .slice(0, k);
}

// The SIMD loops take blocks of 16 int8 codes and of 32 nibbles (4-bit
// codes) and leave the rest to the scalar ones. 40 dimensions: two int8
// blocks and one nibble block, tails of 8; 41: an odd tail, half a byte of
// nibbles; 384: whole blocks only.
test.each([40, 41, 384])('the first pass picks the exact top k (%i dimensions)', (dim) => {
  const next = rng(dim);
  const vector = () => Float32Array.from({ length: dim }, () => next() * 2 - 1);
  const vectors = Array.from({ length: 1500 }, vector);
  // Near-twins of one vector, which the codes cannot tell apart.
  for (let t = 0; t < 20; t++) vectors.push(vectors[7].map((x) => x * (1 + (next() - 0.5) * 1e-4)));
  const index = new MemoryIndex();
  try {
    const added = index.add(vectors.map((embedding, i) => ({ text: `record ${i}`, scope: { userId: 'u' }, embedding })));
    for (let q = 0; q < 40; q++) {
      const query = q % 4 === 0 ? vectors[7].map((x) => x + (next() - 0.5) * 1e-3) : vector();
      const topK = q % 2 ? 5 : 30;
      const got = index.search('zzzunknown', { filter: { scope: { userId: 'u' } }, topK, embedding: query });
      const want = exactTop(vectors, query, topK);
      // Near-twins tie in float32; the ranking is checked where scores differ.
      expect(got.map((r) => r.score)).toHaveLength(want.length);
      got.forEach((r, j) => {
        expect(r.score).toBeCloseTo(0.5 * want[j].cos, 5);
        if (j === 0 || Math.abs(want[j].cos - want[j - 1].cos) > 1e-5) {
          if (j + 1 >= want.length || Math.abs(want[j + 1].cos - want[j].cos) > 1e-5) expect(r.id).toBe(added[want[j].i].id);
        }
      });
    }
  } finally {
    index.close();
  }
});
