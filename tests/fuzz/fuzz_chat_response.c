/*
 * Chat-completions response bodies: any input is parsed into a response
 * whose parts are consistent, or refused with TM_EPARSE / TM_ERESPONSE.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) abort();
  memcpy(text, data, size);
  text[size] = '\0';
  tm_install_json_hooks();
  tm_base b = {0};
  tm_chat_response r;
  memset(&r, 0, sizeof r);
  int rc = tm_chat_parse(&b, text, &r);
  if (rc == TM_OK) {
    if (r.n_calls && !r.calls) abort();
    for (size_t i = 0; i < r.n_calls; i++) {
      if (!r.calls[i].id || !r.calls[i].id[0] || !r.calls[i].name || !r.calls[i].arguments) abort();
    }
  } else if (rc != TM_EPARSE && rc != TM_ERESPONSE && rc != TM_ERANGE && rc != TM_EFORMAT) {
    abort();
  } else if (r.calls || r.content || r.id) {
    abort(); /* a failure leaves nothing behind */
  }
  tm_chat_response_free(&r);
  tm_base_free(&b);
  free(text);
  return 0;
}
