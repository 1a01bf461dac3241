/*
 * Internals of the memory index (memory.c) shared with its sibling files:
 * the ISO 8601 reader and the base64 codec of serialized embeddings.
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

#endif /* THREADMEM_MEMORY_H */
