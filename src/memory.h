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

/* The exact sum of a[i] * b[i]; the caller keeps it within int32 (n * 127 *
 * max|b| below 2^31). */
int32_t tm_dot_codes(const int8_t *a, const int16_t *b, uint32_t n);

/* tm_dot_codes of the four records a, a + stride, a + 2 * stride and
 * a + 3 * stride, into out[0..4). */
void tm_dot_codes4(const int8_t *a, size_t stride, const int16_t *b, uint32_t n, int32_t out[4]);

/* ---- For the tests: the search the first pass must agree with. ---- */

/* tm_memory_search with every record of the filter scored exactly (no
 * first pass): the reference hybrid search. */
int tm_memory_search_exact(tm_memory *mem, const char *query_json, char **out);

/* How the last hybrid search went: `candidates` records kept by its first
 * pass, and `rescored` more whose bound still reached the results. */
void tm_memory_search_stats(const tm_memory *mem, size_t *candidates, size_t *rescored);

#endif /* THREADMEM_MEMORY_H */
