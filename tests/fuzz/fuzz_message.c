/*
 * Messages given leniently: any input is read into a canonical message
 * (which reads back to itself) or refused; a store takes a batch all or
 * nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "threadmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) abort();
  memcpy(text, data, size);
  text[size] = '\0';
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL, *again = NULL;
  if (tm_message_normalize(ctx, text, &out) == TM_OK) {
    if (tm_message_normalize(ctx, out, &again) != TM_OK || strcmp(out, again) != 0) abort();
  }
  tm_free(out);
  tm_free(again);

  tm_store *store = tm_store_new(3);
  if (!store) abort();
  size_t before = tm_store_count(store);
  if (tm_store_add(store, text) != TM_OK && tm_store_count(store) != before) abort();
  if (tm_store_count(store) > 3 + 64) abort(); /* max_messages, plus the newest group */
  size_t tokens = 0;
  (void)tm_count_messages(ctx, text, "estimate", &tokens);
  tm_store_free(store);
  tm_ctx_free(ctx);
  free(text);
  return 0;
}
