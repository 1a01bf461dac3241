/*
 * Internals of the memory index (memory.c) shared with its sibling files:
 * the ISO 8601 reader and the base64 codec of serialized embeddings
 * (memory_codec.c), the vector arithmetic of hybrid search
 * (memory_vector.c), and what the tests compare the search with.
 */
#ifndef THREADMEM_MEMORY_H
#define THREADMEM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* Reads "YYYY-MM-DDTHH:MM:SS[.fff]Z" (years 0 to 9999) into *ms. */
bool tm_iso_to_ms(const char *s, double *ms);

/* The base64 text (standard alphabet, padded) of n float32 values stored
 * little-endian, into a tm_malloc'd string; NULL when out of memory. */
char *tm_floats_to_base64(const float *v, size_t n);

/* Decodes the base64 of float32 values into a tm_malloc'd array (*out, *n).
 * False when the text is not well-formed base64 of whole float32 values
 * (a non-finite value included), or when out of memory (*oom set). */
bool tm_floats_from_base64(const char *text, float **out, size_t *n, bool *oom);

/* ---- The vector arithmetic of hybrid search (memory_vector.c). ---- */

/* The dot product of a[0..n) and b[0..n), summed in one fixed order. */
float tm_dot(const float *a, const float *b, uint32_t n);

/* Integer codes of v[0..n) in [-max, max] (into c8 or c16, whichever is not
 * NULL) with one scale, v ~ scale * code; returns the scale and sets *err to
 * a bound of the Euclidean norm of v - scale * code. */
float tm_quantize(const float *v, uint32_t n, int32_t max, int8_t *c8, int16_t *c16, float *err);

/* Largest code of a record or query: with int16 pairs of query codes (see
 * tm_query_pairs) the first pass's sums stay exact in int32. */
#define TM_CODE_MAX 127

/* The codes of a record's vector v[0..n) into codes[0..n), in the layout
 * tm_dot_codes reads (memory_vector.c); returns the scale and sets *err as
 * tm_quantize does. */
float tm_record_codes(const float *v, uint32_t n, uint8_t *codes, float *err);

/* A query's codes (in [-TM_CODE_MAX, TM_CODE_MAX]) as the first pass reads
 * them: `codes`, and `pairs` and `bias` from tm_query_pairs. */
typedef struct tm_query_codes {
  const int16_t *codes, *pairs, *quads;
  int32_t bias, bias4;
  uint32_t n;
} tm_query_codes;

/* Fills pairs[0..n rounded down to 16) from q[0..n) and returns the bias. */
int32_t tm_query_pairs(const int16_t *q, uint32_t n, int16_t *pairs);

/* The exact sum of record code i times query code i over the n codes of the
 * record at a (SIMD or portable: the same integer). */
int32_t tm_dot_codes(const uint8_t *a, const tm_query_codes *q);

/* tm_dot_codes of the four records a, a + stride, a + 2 * stride and
 * a + 3 * stride, into out[0..4). */
void tm_dot_codes4(const uint8_t *a, size_t stride, const tm_query_codes *q, int32_t out[4]);

/* The 4-bit codes (in [-7, 7]) of a record's vector v[0..n), in the
 * layout tm_dot_nibbles reads: codes [0, split) into head[0..split / 2)
 * and the rest into tail[0..(n - split + 1) / 2) (`split` even). Returns
 * the scale (chosen for the least error) and sets *err as tm_quantize does. */
float tm_record_nibbles(const float *v, uint32_t n, uint32_t split, uint8_t *head, uint8_t *tail,
                        float *err);

/* Fills quads[0..n rounded down to 32) from the query's codes q[0..n) and
 * returns the bias: tm_query_codes.quads and .bias4, and with n the end of
 * a range of whole blocks, the bias of the codes before it. */
int32_t tm_query_quads(const int16_t *q, uint32_t n, int16_t *quads);

/* The exact sum of record nibble i times query code i over the codes
 * [from, to) of a record whose nibbles from `from` on are at a (SIMD or
 * portable: the same integer). `from` is a multiple of 32 and `bias` the
 * bias of the whole blocks of 32 codes in [from, to): the difference of
 * tm_query_quads up to their end and up to `from`. */
int32_t tm_dot_nibbles(const uint8_t *a, const tm_query_codes *q, uint32_t from, uint32_t to,
                       int32_t bias);

/* Adds tm_dot_nibbles of the four records at a + r * stride (r < 4) to out[r]. */
void tm_dot_nibbles4(const uint8_t *a, size_t stride, const tm_query_codes *q, uint32_t from,
                     uint32_t to, int32_t bias, int32_t out[4]);

/* ---- For the tests: the search the first pass must agree with. ---- */

/* tm_memory_search with every record of the filter scored exactly (no
 * first pass): the reference hybrid search. */
int tm_memory_search_exact(tm_memory *mem, const char *query_json, char **out);

/* How the last hybrid search went: `lead` records of best BM25 score
 * scored exactly first, `pruned` records the first pass left half way,
 * `candidates` picked by its bounds and scored exactly, `checked` more
 * whose nibbles' bound reached the results and whose int8 bound was
 * computed, and `rescored` of those whose int8 bound still reached them. */
typedef struct tm_search_stats {
  size_t lead, pruned, candidates, checked, rescored;
} tm_search_stats;
void tm_memory_search_stats(const tm_memory *mem, tm_search_stats *stats);

#endif /* THREADMEM_MEMORY_H */
