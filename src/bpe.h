/*
 * Byte-pair encoding over a loaded vocabulary: the vocabulary asset's index
 * (built once at load), and the resumable encoding loop that tokenizer.c
 * drives.
 *
 * The loop never allocates and makes no indirect call, which keeps the hot
 * path tight: when it needs more output room or more scratch space it stops
 * and says so, and its caller grows the buffers and resumes.
 */
#ifndef THREADMEM_BPE_H
#define THREADMEM_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* Limits of a vocabulary asset (dist/vocab/<name>.tmv, scripts/gen-vocab.mjs). */
#define TM_VOCAB_MAGIC "TMVB"
#define TM_VOCAB_FORMAT 1
/* Most ordinary tokens in one vocabulary (o200k_base has 199,998): ranks
 * must fit the 18 bits a hash slot gives them. */
#define TM_VOCAB_MAX_TOKENS ((((uint32_t)1) << 18) - 2)
#define TM_VOCAB_MAX_SPECIAL 16
/* Pieces at most this long are merged with the simple quadratic method on
 * the stack; longer ones with a heap in scratch space (O(n log n)). */
#define TM_BPE_SHORT_PIECE 32
/* Scratch bytes the heap method needs per byte of a piece. */
#define TM_BPE_SCRATCH_PER_BYTE 40

typedef struct tm_vocab tm_vocab;

/* Checks and indexes the asset of encoding `enc` (`len` bytes at `data`).
 * Takes ownership of `data` in every case. TM_EFORMAT names what is wrong
 * when the bytes are not that encoding's asset; TM_ENOMEM when the index
 * cannot be allocated. */
int tm_vocab_build(tm_base *b, int enc, uint8_t *data, size_t len, tm_vocab **out);
void tm_vocab_free(tm_vocab *v);

/* The bytes of token `id` (ordinary or special) into *bytes, *len; false
 * when `id` is not in the vocabulary. Borrowed from the vocabulary. */
bool tm_vocab_token(const tm_vocab *v, uint32_t id, const uint8_t **bytes, size_t *len);

/* The state of one encoding run over valid UTF-8. */
typedef struct tm_bpe_job {
  const tm_vocab *v;
  int style; /* TM_PRETOK_* */
  bool allow_special;
  const uint8_t *s;
  size_t len;
  size_t pos;     /* where the next piece starts */
  size_t seg_end; /* where the next special token starts (len when none) */
  uint32_t *out;  /* NULL: count only */
  size_t n_out;   /* ids written (or counted) so far */
  size_t cap_out;
  void *scratch; /* for pieces longer than TM_BPE_SHORT_PIECE */
  size_t scratch_bytes;
  size_t need; /* the room the stopping piece wants: ids, or bytes of piece */
} tm_bpe_job;

enum { TM_BPE_DONE = 0, TM_BPE_NEED_OUT = 1, TM_BPE_NEED_SCRATCH = 2 };

/* Starts a job (pos 0, nothing written). */
void tm_bpe_start(tm_bpe_job *j, const tm_vocab *v, int enc, const uint8_t *s, size_t len,
                  bool allow_special);

/* Encodes until the text ends (TM_BPE_DONE) or until the next piece needs
 * more output room than cap_out - n_out (TM_BPE_NEED_OUT: make room for
 * j->need more ids) or more
 * scratch than scratch_bytes (TM_BPE_NEED_SCRATCH: give it
 * j->need * TM_BPE_SCRATCH_PER_BYTE bytes). Resuming continues exactly
 * where it stopped. */
int tm_bpe_run(tm_bpe_job *j);

#endif /* THREADMEM_BPE_H */
