/*
 * Thread and store state deserialization: any input either fails with a
 * result code and changes nothing, or reads into a state that writes back
 * and reads again to the very same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "threadmem.h"

static char *text_of(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) abort();
  memcpy(text, data, size);
  text[size] = '\0';
  return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = text_of(data, size);
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL, *again = NULL;

  if (tm_thread_state_normalize(ctx, text, &out) == TM_OK) {
    if (tm_thread_state_normalize(ctx, out, &again) != TM_OK || strcmp(out, again) != 0) abort();
  } else if (out != NULL || tm_errmsg(ctx)[0] == '\0') {
    abort(); /* a failure leaves no result and says why */
  }
  tm_free(out);
  tm_free(again);
  out = again = NULL;

  tm_store *store = tm_store_new(0), *copy = tm_store_new(0);
  if (!store || !copy) abort();
  if (tm_store_add(store, "[{\"role\":\"user\",\"text\":\"kept\"}]") != TM_OK) abort();
  if (tm_store_load(store, text) == TM_OK) {
    if (tm_store_serialize(store, &out) != TM_OK) abort();
    if (tm_store_load(copy, out) != TM_OK) abort();
    if (tm_store_serialize(copy, &again) != TM_OK || strcmp(out, again) != 0) abort();
  } else if (tm_store_count(store) != 1) {
    abort(); /* all or nothing */
  }
  tm_free(out);
  tm_free(again);
  tm_store_free(store);
  tm_store_free(copy);
  tm_ctx_free(ctx);
  free(text);
  return 0;
}
