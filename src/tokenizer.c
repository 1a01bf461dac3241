/*
 * Encodings: their names, and the fast estimate that needs no vocabulary.
 */
#include <string.h>

#include "tokenizer.h"

static const char *const encoding_names[TM_ENC_COUNT] = {"o200k_base", "cl100k_base",
                                                         "estimate"};

int tm_encoding_id(const char *name) {
  if (!name) return -1;
  for (int i = 0; i < TM_ENC_COUNT; i++)
    if (strcmp(name, encoding_names[i]) == 0) return i;
  return -1;
}

const char *tm_encoding_name(int enc) {
  return enc >= 0 && enc < TM_ENC_COUNT ? encoding_names[enc] : NULL;
}

bool tm_encoding_ready(int enc) { return enc == TM_ENC_ESTIMATE; }

int tm_encoding_loaded(int enc) { return tm_encoding_ready(enc) ? 1 : 0; }

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

int tm_token_count(tm_base *b, int enc, const char *text, size_t len, size_t *out) {
  *out = 0;
  if (enc == TM_ENC_ESTIMATE) {
    *out = estimate(text, len);
    return TM_OK;
  }
  const char *name = tm_encoding_name(enc);
  if (!name) return tm_fail(b, TM_EENCODING, "unknown encoding %d", enc);
  return tm_fail(b, TM_EENCODING, "the vocabulary of %s is not loaded", name);
}
