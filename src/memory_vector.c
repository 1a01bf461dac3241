/*
 * The vector arithmetic of hybrid search: the exact float dot product that
 * scores a record, and the integer copies (and their error bounds) that let
 * a first pass skip most of those dot products.
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

int32_t tm_dot_codes(const int8_t *a, const int16_t *b, uint32_t n) {
  int32_t sum = 0;
  uint32_t i = 0;
#ifdef __wasm_simd128__
  /* Eight int8 codes widened to int16 per load; dot_i16x8 multiplies and
   * adds pairs into int32 lanes. Two accumulators keep two loads in flight. */
  v128_t s0 = wasm_i32x4_splat(0), s1 = wasm_i32x4_splat(0);
  for (; i + 16 <= n; i += 16) {
    s0 = wasm_i32x4_add(s0, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(a + i), wasm_v128_load(b + i)));
    s1 = wasm_i32x4_add(s1, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(a + i + 8),
                                                 wasm_v128_load(b + i + 8)));
  }
  v128_t s = wasm_i32x4_add(s0, s1);
  sum = wasm_i32x4_extract_lane(s, 0) + wasm_i32x4_extract_lane(s, 1) +
        wasm_i32x4_extract_lane(s, 2) + wasm_i32x4_extract_lane(s, 3);
#endif
  for (; i < n; i++) sum += (int32_t)a[i] * b[i];
  return sum;
}

void tm_dot_codes4(const int8_t *a, size_t stride, const int16_t *b, uint32_t n, int32_t out[4]) {
  uint32_t i = 0;
#ifdef __wasm_simd128__
  /* Each load of the query serves four records: the pass is bound by
   * instructions, not memory. */
  const int8_t *a1 = a + stride, *a2 = a1 + stride, *a3 = a2 + stride;
  v128_t s0 = wasm_i32x4_splat(0), s1 = s0, s2 = s0, s3 = s0;
#define TM_DOT4_STEP(k)                                                                  \
  do {                                                                                   \
    v128_t q = wasm_v128_load(b + i + (k));                                              \
    s0 = wasm_i32x4_add(s0, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(a + i + (k)), q));   \
    s1 = wasm_i32x4_add(s1, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(a1 + i + (k)), q));  \
    s2 = wasm_i32x4_add(s2, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(a2 + i + (k)), q));  \
    s3 = wasm_i32x4_add(s3, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(a3 + i + (k)), q));  \
  } while (0)
  for (; i + 32 <= n; i += 32) {
    TM_DOT4_STEP(0);
    TM_DOT4_STEP(8);
    TM_DOT4_STEP(16);
    TM_DOT4_STEP(24);
  }
  for (; i + 8 <= n; i += 8) TM_DOT4_STEP(0);
#undef TM_DOT4_STEP
  /* Lane r of the sum is record r's total. */
  v128_t lo = wasm_i32x4_add(wasm_i32x4_shuffle(s0, s1, 0, 4, 1, 5), wasm_i32x4_shuffle(s0, s1, 2, 6, 3, 7));
  v128_t hi = wasm_i32x4_add(wasm_i32x4_shuffle(s2, s3, 0, 4, 1, 5), wasm_i32x4_shuffle(s2, s3, 2, 6, 3, 7));
  v128_t sum = wasm_i32x4_add(wasm_i32x4_shuffle(lo, hi, 0, 1, 4, 5), wasm_i32x4_shuffle(lo, hi, 2, 3, 6, 7));
  wasm_v128_store(out, sum);
#else
  out[0] = out[1] = out[2] = out[3] = 0;
#endif
  for (int r = 0; r < 4; r++) {
    const int8_t *ar = a + (size_t)r * stride;
    for (uint32_t k = i; k < n; k++) out[r] += (int32_t)ar[k] * b[k];
  }
}
