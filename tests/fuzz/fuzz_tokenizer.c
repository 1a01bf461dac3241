/*
 * The tokenizer, both encodings: any bytes encode without trapping; well
 * formed UTF-8 decodes back to exactly its bytes (invalid input reads as
 * U+FFFD, so it decodes to that reading); count equals the number of ids;
 * with special tokens allowed, decoding still gives the input back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "threadmem.h"

static tm_ctx *ctx;

static void load(int enc) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.tmv", TM_VOCAB_DIR, tm_encoding_name(enc));
  FILE *f = fopen(path, "rb");
  if (!f) abort();
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = tm_malloc((size_t)size);
  if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) abort();
  fclose(f);
  if (tm_encoding_load(ctx, enc, data, (size_t)size) != TM_OK) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  ctx = tm_ctx_new();
  load(TM_ENC_O200K_BASE);
  load(TM_ENC_CL100K_BASE);
  return 0;
}

static void check(int enc, const char *text, size_t len, int special) {
  uint32_t *ids = NULL;
  size_t n = 0, counted = 0, out_len = 0;
  char *back = NULL;
  if (tm_encode(ctx, enc, text, len, special, &ids, &n) != TM_OK) abort();
  if (!special && (tm_count(ctx, enc, text, len, &counted) != TM_OK || counted != n)) abort();
  if (tm_decode(ctx, enc, ids, n, &back, &out_len) != TM_OK) abort();
  if (tm_utf8_valid(text, len) && (out_len != len || memcmp(back, text, len) != 0)) abort();
  tm_free(ids);
  tm_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  for (int enc = TM_ENC_O200K_BASE; enc <= TM_ENC_CL100K_BASE; enc++) {
    check(enc, text, size, 0);
    check(enc, text, size, 1);
  }
  size_t estimate;
  if (tm_count(ctx, TM_ENC_ESTIMATE, text, size, &estimate) != TM_OK) abort();
  return 0;
}
