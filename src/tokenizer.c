/*
 * Encodings: their names, their vocabularies (process-global, immutable once
 * loaded), the public encode/decode/count calls, and the fast estimate that
 * needs no vocabulary.
 *
 * Everything that allocates lives here; the hot loop (bpe.c, pretokenize.c)
 * only reads the text and writes into buffers this file gives it.
 */
#include <stdint.h>
#include <string.h>

#include "bpe.h"
#include "tokenizer.h"

/* Most bytes one call encodes: token ids must fit the 32-bit offsets the
 * merging uses. */
#define TM_MAX_TOKENIZE_BYTES ((size_t)0xFFFFFFF0u)
/* Room for ids allocated first, before growth: about one id per 3 bytes. */
#define TM_IDS_FIRST(len) ((len) / 3 + 16)

static const char *const encoding_names[TM_ENC_COUNT] = {"o200k_base", "cl100k_base", "estimate"};

/* Indexed by TM_ENC_O200K_BASE and TM_ENC_CL100K_BASE. */
static tm_vocab *vocabs[TM_ENC_ESTIMATE];

int tm_encoding_id(const char *name) {
  if (!name) return -1;
  for (int i = 0; i < TM_ENC_COUNT; i++)
    if (strcmp(name, encoding_names[i]) == 0) return i;
  return -1;
}

const char *tm_encoding_name(int enc) {
  return enc >= 0 && enc < TM_ENC_COUNT ? encoding_names[enc] : NULL;
}

bool tm_encoding_ready(int enc) {
  if (enc == TM_ENC_ESTIMATE) return true;
  return enc >= 0 && enc < TM_ENC_ESTIMATE && vocabs[enc] != NULL;
}

int tm_encoding_loaded(int enc) { return tm_encoding_ready(enc) ? 1 : 0; }

int tm_encoding_load(tm_ctx *ctx, int enc, uint8_t *data, size_t len) {
  if (!ctx) {
    tm_free(data);
    return TM_EINVAL;
  }
  tm_base *b = (tm_base *)ctx; /* a tm_ctx starts with its tm_base */
  tm_base_reset(b);
  if (enc < 0 || enc >= TM_ENC_ESTIMATE) {
    tm_free(data);
    return tm_fail(b, TM_EENCODING, "encoding %d has no vocabulary to load", enc);
  }
  if (vocabs[enc]) {
    tm_free(data);
    return TM_OK;
  }
  tm_vocab *v = NULL;
  int rc = tm_vocab_build(b, enc, data, len, &v);
  if (rc != TM_OK) return rc;
  vocabs[enc] = v;
  return TM_OK;
}

void tm_encodings_unload(void) {
  for (int i = 0; i < TM_ENC_ESTIMATE; i++) {
    tm_vocab_free(vocabs[i]);
    vocabs[i] = NULL;
  }
}

/* ---- UTF-8: invalid sequences become U+FFFD, one per maximal subpart of
 *      an ill-formed sequence, as the Encoding Standard's decoder does. ---- */

/* Reads the `n` bytes at `s` and writes their repaired form to `dst` when it
 * is not NULL. Returns the repaired length; *changed tells whether anything
 * was replaced. */
static size_t utf8_repair(const uint8_t *s, size_t n, uint8_t *dst, bool *changed) {
  size_t i = 0, o = 0;
  *changed = false;
  while (i < n) {
    /* Runs of ASCII, eight bytes at a time. */
    while (n - i >= 8) {
      uint64_t x;
      memcpy(&x, s + i, 8);
      if (x & 0x8080808080808080ull) break;
      if (dst) memcpy(dst + o, s + i, 8);
      i += 8;
      o += 8;
    }
    if (i >= n) break;
    uint8_t c = s[i];
    if (c < 0x80) {
      if (dst) dst[o] = c;
      i++;
      o++;
      continue;
    }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      need = 0;
    }
    size_t j = i + 1, k = 0;
    while (k < need && j < n && s[j] >= lo && s[j] <= hi) {
      j++;
      k++;
      lo = 0x80;
      hi = 0xBF;
    }
    if (need && k == need) {
      if (dst) memcpy(dst + o, s + i, j - i);
      o += j - i;
    } else {
      if (dst) memcpy(dst + o, "\xEF\xBF\xBD", 3);
      o += 3;
      *changed = true;
    }
    i = j;
  }
  return o;
}

/* ---- the estimate ---- */

/* About four bytes of ASCII make a token in both BPE encodings; other
 * scripts take roughly one token per one or two characters. */
static size_t estimate(const char *text, size_t len) {
  size_t ascii = 0, other = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c < 0x80)
      ascii++;
    else if (c >= 0xC0)
      other++; /* a lead byte: one character */
  }
  return (ascii + 3) / 4 + (other * 3 + 4) / 5;
}

/* ---- encoding ---- */

/* Encodes (ids != NULL) or counts the `len` bytes at `text`; the error goes
 * on `b`. */
static int tokenize(tm_base *b, int enc, const char *text, size_t len, bool allow_special,
                    uint32_t **ids, size_t *n_out) {
  int rc = TM_OK;
  uint8_t *fixed = NULL;
  uint32_t *out = NULL;
  void *scratch = NULL;
  if (ids) *ids = NULL;
  *n_out = 0;
  if (!text && len) return tm_fail(b, TM_EINVAL, "text is NULL");
  if (enc == TM_ENC_ESTIMATE && !ids) {
    *n_out = estimate(text, len);
    return TM_OK;
  }
  if (!tm_encoding_ready(enc) || enc == TM_ENC_ESTIMATE) {
    const char *name = tm_encoding_name(enc);
    if (!name) return tm_fail(b, TM_EENCODING, "unknown encoding %d", enc);
    if (enc == TM_ENC_ESTIMATE)
      return tm_fail(b, TM_EENCODING, "the estimate counts tokens but has no token ids");
    return tm_fail(b, TM_EENCODING, "the vocabulary of %s is not loaded", name);
  }
  if (len > TM_MAX_TOKENIZE_BYTES)
    return tm_fail(b, TM_ERANGE, "text of %zu bytes is too long to tokenize", len);
  const uint8_t *s = (const uint8_t *)text;
  bool changed;
  size_t fixed_len = utf8_repair(s, len, NULL, &changed);
  if (changed) {
    if (fixed_len > TM_MAX_TOKENIZE_BYTES) {
      rc = tm_fail(b, TM_ERANGE, "text of %zu bytes is too long to tokenize", fixed_len);
      goto fail;
    }
    fixed = tm_malloc(fixed_len);
    if (!fixed) {
      rc = tm_fail(b, TM_ENOMEM, "out of memory repairing UTF-8");
      goto fail;
    }
    utf8_repair(s, len, fixed, &changed);
    s = fixed;
    len = fixed_len;
  }
  tm_bpe_job job;
  tm_bpe_start(&job, vocabs[enc], enc, s, len, allow_special);
  if (ids && len) {
    job.cap_out = TM_IDS_FIRST(len);
    if (job.cap_out > SIZE_MAX / sizeof *out) {
      rc = tm_fail(b, TM_ERANGE, "text of %zu bytes has too many tokens to hold", len);
      goto fail;
    }
    out = tm_malloc(job.cap_out * sizeof *out);
    if (!out) {
      rc = tm_fail(b, TM_ENOMEM, "out of memory for token ids");
      goto fail;
    }
    job.out = out;
  }
  for (;;) {
    int r = tm_bpe_run(&job);
    if (r == TM_BPE_DONE) break;
    if (r == TM_BPE_NEED_OUT) {
      size_t cap = job.cap_out * 2;
      if (cap < job.n_out + job.need) cap = job.n_out + job.need;
      if (cap > SIZE_MAX / sizeof *out) {
        rc = tm_fail(b, TM_ERANGE, "too many tokens to hold");
        goto fail;
      }
      uint32_t *grown = tm_realloc(out, cap * sizeof *out);
      if (!grown) {
        rc = tm_fail(b, TM_ENOMEM, "out of memory for token ids");
        goto fail;
      }
      out = job.out = grown;
      job.cap_out = cap;
    } else {
      if (job.need > SIZE_MAX / TM_BPE_SCRATCH_PER_BYTE) {
        rc = tm_fail(b, TM_ERANGE, "a piece of %zu bytes is too long to merge", job.need);
        goto fail;
      }
      tm_free(scratch);
      job.scratch = NULL;
      job.scratch_bytes = 0;
      scratch = tm_malloc(job.need * TM_BPE_SCRATCH_PER_BYTE);
      if (!scratch) {
        rc = tm_fail(b, TM_ENOMEM, "out of memory merging a piece of %zu bytes", job.need);
        goto fail;
      }
      job.scratch = scratch;
      job.scratch_bytes = job.need * TM_BPE_SCRATCH_PER_BYTE;
    }
  }
  *n_out = job.n_out;
  if (ids) {
    if (job.n_out == 0) {
      tm_free(out);
      out = NULL;
    }
    *ids = out;
    out = NULL;
  }
fail:
  tm_free(scratch);
  tm_free(fixed);
  tm_free(out);
  return rc;
}

int tm_token_count(tm_base *b, int enc, const char *text, size_t len, size_t *out) {
  return tokenize(b, enc, text, len, false, NULL, out);
}

int tm_encode(tm_ctx *ctx, int enc, const char *text, size_t len, int allow_special, uint32_t **ids,
              size_t *n_ids) {
  if (!ctx || !ids || !n_ids) return TM_EINVAL;
  tm_base *b = (tm_base *)ctx;
  tm_base_reset(b);
  return tokenize(b, enc, text, len, allow_special != 0, ids, n_ids);
}

int tm_count(tm_ctx *ctx, int enc, const char *text, size_t len, size_t *out) {
  if (!ctx || !out) return TM_EINVAL;
  tm_base *b = (tm_base *)ctx;
  tm_base_reset(b);
  return tokenize(b, enc, text, len, false, NULL, out);
}

int tm_decode(tm_ctx *ctx, int enc, const uint32_t *ids, size_t n_ids, char **out,
              size_t *out_len) {
  if (!ctx || !out || !out_len || (!ids && n_ids)) return TM_EINVAL;
  tm_base *b = (tm_base *)ctx;
  tm_base_reset(b);
  *out = NULL;
  *out_len = 0;
  const char *name = tm_encoding_name(enc);
  if (!name) return tm_fail(b, TM_EENCODING, "unknown encoding %d", enc);
  if (enc == TM_ENC_ESTIMATE)
    return tm_fail(b, TM_EENCODING, "the estimate has no token ids to decode");
  const tm_vocab *v = vocabs[enc];
  if (!v) return tm_fail(b, TM_EENCODING, "the vocabulary of %s is not loaded", name);
  size_t total = 0;
  for (size_t i = 0; i < n_ids; i++) {
    const uint8_t *t;
    size_t n;
    if (!tm_vocab_token(v, ids[i], &t, &n))
      return tm_fail(b, TM_ERANGE, "token id %u (at %zu) is not in %s", ids[i], i, name);
    if (n > SIZE_MAX - 1 - total) return tm_fail(b, TM_ERANGE, "decoded text too long");
    total += n;
  }
  char *s = tm_malloc(total + 1);
  if (!s) return tm_fail(b, TM_ENOMEM, "out of memory decoding %zu tokens", n_ids);
  size_t o = 0;
  for (size_t i = 0; i < n_ids; i++) {
    const uint8_t *t;
    size_t n;
    tm_vocab_token(v, ids[i], &t, &n);
    memcpy(s + o, t, n);
    o += n;
  }
  s[o] = '\0';
  *out = s;
  *out_len = o;
  return TM_OK;
}
