/*
 * The vector arithmetic of hybrid search: the exact float dot product that
 * scores a record, and the integer copies (int8 codes and 4-bit nibbles,
 * with their error bounds) that let a first pass skip most of those dot
 * products.
 *
 * With WebAssembly SIMD (-msimd128) the integer dot product runs on
 * wasm_simd128.h intrinsics; elsewhere (the native test build) the portable
 * loop computes the same integer, so both builds rank identically.
 */
#include <math.h>

#include "memory.h"

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

float tm_dot(const float *a, const float *b, uint32_t n) {
  /* Eight accumulators let the compiler use vector instructions without
   * reassociating one sum, so every build gives the same bits. */
  float s[8] = {0};
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) s[k] += a[i + (uint32_t)k] * b[i + (uint32_t)k];
  float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < n; i++) sum += a[i] * b[i];
  return sum;
}

float tm_quantize(const float *v, uint32_t n, int32_t max, int8_t *c8, int16_t *c16, float *err) {
  float top = 0;
  for (uint32_t i = 0; i < n; i++) top = fmaxf(top, fabsf(v[i]));
  /* The error is measured against the float scale the search multiplies by. */
  float scale = top / (float)max;
  double inv = top > 0 ? (double)max / top : 0, e2 = 0;
  for (uint32_t i = 0; i < n; i++) {
    double c = nearbyint(v[i] * inv);
    if (c > max) c = max; /* only by rounding at the top value */
    if (c < -max) c = -max;
    double d = v[i] - c * scale;
    e2 += d * d;
    if (c8) c8[i] = (int8_t)c;
    if (c16) c16[i] = (int16_t)c;
  }
  /* Rounded up, so it stays a bound after the conversion to float. */
  *err = nextafterf((float)sqrt(e2), INFINITY);
  return scale;
}

/* The layout of a record's codes: byte i is code i, with the sign bit of the
 * even ones flipped (code + 128, read as unsigned). Two codes then read as
 * one int16 lane, even + 128 + 256 * odd, from which one arithmetic shift
 * gives the odd code: a block of 16 codes costs one load, one shift and two
 * multiply-adds, where sign-extending 8 codes at a time costs a shuffle per
 * 8 codes (one shuffle unit on x86, the first pass's bottleneck). */
static int32_t record_code(const uint8_t *a, uint32_t i) {
  return i & 1 ? (int32_t)(int8_t)a[i] : (int32_t)a[i] - 128;
}

float tm_record_codes(const float *v, uint32_t n, uint8_t *codes, float *err) {
  float scale = tm_quantize(v, n, TM_CODE_MAX, (int8_t *)codes, NULL, err);
  for (uint32_t i = 0; i < n; i += 2) codes[i] ^= 0x80;
  return scale;
}

int32_t tm_query_pairs(const int16_t *q, uint32_t n, int16_t *pairs) {
  int32_t bias = 0;
  for (uint32_t i = 0; i + 16 <= n; i += 16)
    for (uint32_t k = 0; k < 8; k++) {
      int16_t even = q[i + 2 * k], odd = q[i + 2 * k + 1];
      pairs[i + k] = even;
      /* |odd - 256 * even| <= 257 * TM_CODE_MAX: an int16. */
      pairs[i + 8 + k] = (int16_t)(odd - 256 * even);
      bias += 128 * even;
    }
  return bias;
}

#ifdef __wasm_simd128__
/* The lanes of one block of 16 codes at a, times the query's pairs pe, po:
 * (even + 128 + 256 * odd) * even_q + odd * (odd_q - 256 * even_q)
 * = (even + 128) * even_q + odd * odd_q per pair of codes. */
#define TM_BLOCK(a, pe, po)                                                                  \
  (__extension__({                                                                           \
    v128_t v_ = wasm_v128_load(a);                                                           \
    wasm_i32x4_add(wasm_i32x4_dot_i16x8(v_, pe),                                             \
                   wasm_i32x4_dot_i16x8(wasm_i16x8_shr(v_, 8), po));                         \
  }))
#endif

int32_t tm_dot_codes(const uint8_t *a, const tm_query_codes *q) {
  int32_t sum = 0;
  uint32_t i = 0, n = q->n;
#ifdef __wasm_simd128__
  v128_t s = wasm_i32x4_splat(0);
  for (; i + 16 <= n; i += 16)
    s = wasm_i32x4_add(s, TM_BLOCK(a + i, wasm_v128_load(q->pairs + i), wasm_v128_load(q->pairs + i + 8)));
  sum = wasm_i32x4_extract_lane(s, 0) + wasm_i32x4_extract_lane(s, 1) +
        wasm_i32x4_extract_lane(s, 2) + wasm_i32x4_extract_lane(s, 3) - q->bias;
#endif
  for (; i < n; i++) sum += record_code(a, i) * q->codes[i];
  return sum;
}

void tm_dot_codes4(const uint8_t *a, size_t stride, const tm_query_codes *q, int32_t out[4]) {
  uint32_t i = 0, n = q->n;
#ifdef __wasm_simd128__
  /* Each load of the query serves four records. */
  const uint8_t *a1 = a + stride, *a2 = a1 + stride, *a3 = a2 + stride;
  v128_t s0 = wasm_i32x4_splat(0), s1 = s0, s2 = s0, s3 = s0;
  for (; i + 16 <= n; i += 16) {
    v128_t pe = wasm_v128_load(q->pairs + i), po = wasm_v128_load(q->pairs + i + 8);
    s0 = wasm_i32x4_add(s0, TM_BLOCK(a + i, pe, po));
    s1 = wasm_i32x4_add(s1, TM_BLOCK(a1 + i, pe, po));
    s2 = wasm_i32x4_add(s2, TM_BLOCK(a2 + i, pe, po));
    s3 = wasm_i32x4_add(s3, TM_BLOCK(a3 + i, pe, po));
  }
  /* Lane r of the sum is record r's total. */
  v128_t lo = wasm_i32x4_add(wasm_i32x4_shuffle(s0, s1, 0, 4, 1, 5), wasm_i32x4_shuffle(s0, s1, 2, 6, 3, 7));
  v128_t hi = wasm_i32x4_add(wasm_i32x4_shuffle(s2, s3, 0, 4, 1, 5), wasm_i32x4_shuffle(s2, s3, 2, 6, 3, 7));
  v128_t sum = wasm_i32x4_add(wasm_i32x4_shuffle(lo, hi, 0, 1, 4, 5), wasm_i32x4_shuffle(lo, hi, 2, 3, 6, 7));
  wasm_v128_store(out, wasm_i32x4_sub(sum, wasm_i32x4_splat(q->bias)));
#else
  out[0] = out[1] = out[2] = out[3] = 0;
#endif
  for (int r = 0; r < 4; r++) {
    const uint8_t *ar = a + (size_t)r * stride;
    for (uint32_t k = i; k < n; k++) out[r] += record_code(ar, k) * q->codes[k];
  }
}
#undef TM_BLOCK

/* ---- Nibbles: 4-bit codes for the first pass (half the int8 traffic). ---- */

/* The layout of a record's nibbles: code i is nibble i & 1 (low first) of
 * byte i / 2, stored as code + 8, except every fourth (i % 4 == 3), stored
 * as its own two's complement. Four codes then read as one int16 lane
 * n0 + 16 n1 + 256 n2 + 4096 n3 (n3 signed), from which arithmetic shifts by
 * 4, 8 and 12 give the others' sums (see tm_query_quads). */
static int32_t record_nibble(const uint8_t *a, uint32_t i) {
  int32_t v = (a[i >> 1] >> (4 * (i & 1))) & 15;
  return (i & 3) == 3 ? (v ^ 8) - 8 : v - 8;
}

/* The squared error of v[0..n) as scale * codes in [-7, 7] (clipped), and
 * the codes (in the layout above) into head, those from `split` on into
 * tail, when they are not NULL. */
static double nibble_error(const float *v, uint32_t n, float scale, uint32_t split, uint8_t *head,
                           uint8_t *tail) {
  double inv = scale > 0 ? 1.0 / scale : 0, e2 = 0;
  for (uint32_t i = 0; i < n; i++) {
    double k = nearbyint(v[i] * inv);
    if (k > 7) k = 7;
    if (k < -7) k = -7;
    double d = v[i] - k * scale;
    e2 += d * d;
    if (!tail) continue;
    int c = (int)k;
    uint8_t stored = (uint8_t)((i & 3) == 3 ? (unsigned)c & 15u : (unsigned)(c + 8));
    uint8_t *nib = i < split ? head + (i >> 1) : tail + ((i - split) >> 1);
    if (i & 1) *nib |= (uint8_t)(stored << 4);
    else *nib = stored;
  }
  return e2;
}

float tm_record_nibbles(const float *v, uint32_t n, uint32_t split, uint8_t *head, uint8_t *tail,
                        float *err) {
  float top = 0;
  for (uint32_t i = 0; i < n; i++) top = fmaxf(top, fabsf(v[i]));
  /* With 15 levels the step matters more than clipping the few largest
   * values: of the scales top / 7 to top / 11, the one of least error. */
  float scale = top / 7;
  if (top > 0) {
    double best = nibble_error(v, n, scale, split, NULL, NULL);
    for (int m = 8; m <= 11; m++) {
      float s = top / (float)m;
      double e = nibble_error(v, n, s, split, NULL, NULL);
      if (e < best) {
        best = e;
        scale = s;
      }
    }
  }
  double e2 = nibble_error(v, n, scale, split, head, tail);
  /* Rounded up, so it stays a bound after the conversion to float. */
  *err = nextafterf((float)sqrt(e2), INFINITY);
  return scale;
}

int32_t tm_query_quads(const int16_t *q, uint32_t n, int16_t *quads) {
  int32_t bias = 0;
  for (uint32_t i = 0; i + 32 <= n; i += 32)
    for (uint32_t k = 0; k < 8; k++) {
      const int16_t *c = q + i + 4 * k;
      /* Lane k holds L = n0 + 16 n1 + 256 n2 + 4096 n3; with L >> 4,
       * L >> 8 and L >> 12 weighted by these, n_j is weighted by c[j]:
       * each |c[j] - 16 c[j - 1]| <= 17 * TM_CODE_MAX is an int16. */
      quads[i + k] = c[0];
      quads[i + 8 + k] = (int16_t)(c[1] - 16 * c[0]);
      quads[i + 16 + k] = (int16_t)(c[2] - 16 * c[1]);
      quads[i + 24 + k] = (int16_t)(c[3] - 16 * c[2]);
      bias += 8 * (c[0] + c[1] + c[2]); /* the + 8 of n0, n1 and n2 */
    }
  return bias;
}

#ifdef __wasm_simd128__
/* One block of 32 nibbles at a times the query's quads c0..c3. */
#define TM_QUAD(a, c0, c1, c2, c3)                                                           \
  (__extension__({                                                                           \
    v128_t v_ = wasm_v128_load(a);                                                           \
    wasm_i32x4_add(wasm_i32x4_add(wasm_i32x4_dot_i16x8(v_, c0),                              \
                                  wasm_i32x4_dot_i16x8(wasm_i16x8_shr(v_, 4), c1)),          \
                   wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_i16x8_shr(v_, 8), c2),           \
                                  wasm_i32x4_dot_i16x8(wasm_i16x8_shr(v_, 12), c3)));        \
  }))
#endif

int32_t tm_dot_nibbles(const uint8_t *a, const tm_query_codes *q, uint32_t from, uint32_t to,
                       int32_t bias) {
  int32_t sum = 0;
  uint32_t i = from;
#ifdef __wasm_simd128__
  v128_t s = wasm_i32x4_splat(0);
  for (; i + 32 <= to; i += 32) {
    const int16_t *c = q->quads + i;
    s = wasm_i32x4_add(s, TM_QUAD(a + (i - from) / 2, wasm_v128_load(c), wasm_v128_load(c + 8),
                                  wasm_v128_load(c + 16), wasm_v128_load(c + 24)));
  }
  sum = wasm_i32x4_extract_lane(s, 0) + wasm_i32x4_extract_lane(s, 1) +
        wasm_i32x4_extract_lane(s, 2) + wasm_i32x4_extract_lane(s, 3) - bias;
#else
  (void)bias;
#endif
  for (; i < to; i++) sum += record_nibble(a, i - from) * q->codes[i];
  return sum;
}

void tm_dot_nibbles4(const uint8_t *a, size_t stride, const tm_query_codes *q, uint32_t from,
                     uint32_t to, int32_t bias, int32_t out[4]) {
  uint32_t i = from;
#ifdef __wasm_simd128__
  const uint8_t *a1 = a + stride, *a2 = a1 + stride, *a3 = a2 + stride;
  v128_t s0 = wasm_i32x4_splat(0), s1 = s0, s2 = s0, s3 = s0;
  for (; i + 32 <= to; i += 32) {
    const int16_t *c = q->quads + i;
    size_t o = (i - from) / 2;
    v128_t c0 = wasm_v128_load(c), c1 = wasm_v128_load(c + 8), c2 = wasm_v128_load(c + 16),
           c3 = wasm_v128_load(c + 24);
    s0 = wasm_i32x4_add(s0, TM_QUAD(a + o, c0, c1, c2, c3));
    s1 = wasm_i32x4_add(s1, TM_QUAD(a1 + o, c0, c1, c2, c3));
    s2 = wasm_i32x4_add(s2, TM_QUAD(a2 + o, c0, c1, c2, c3));
    s3 = wasm_i32x4_add(s3, TM_QUAD(a3 + o, c0, c1, c2, c3));
  }
  v128_t lo = wasm_i32x4_add(wasm_i32x4_shuffle(s0, s1, 0, 4, 1, 5), wasm_i32x4_shuffle(s0, s1, 2, 6, 3, 7));
  v128_t hi = wasm_i32x4_add(wasm_i32x4_shuffle(s2, s3, 0, 4, 1, 5), wasm_i32x4_shuffle(s2, s3, 2, 6, 3, 7));
  v128_t sum = wasm_i32x4_add(wasm_i32x4_shuffle(lo, hi, 0, 1, 4, 5), wasm_i32x4_shuffle(lo, hi, 2, 3, 6, 7));
  int32_t lanes[4];
  wasm_v128_store(lanes, wasm_i32x4_sub(sum, wasm_i32x4_splat(bias)));
  for (int r = 0; r < 4; r++) out[r] += lanes[r];
#else
  (void)bias;
#endif
  for (int r = 0; r < 4; r++) {
    const uint8_t *ar = a + (size_t)r * stride;
    for (uint32_t k = i; k < to; k++) out[r] += record_nibble(ar, k - from) * q->codes[k];
  }
}
#undef TM_QUAD
