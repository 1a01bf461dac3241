/*
 * Streamed replies: any sequence of chunks (the input split on '\n', one
 * "data:" event's JSON per line) is accumulated into a consistent response
 * or refused with TM_ERESPONSE / TM_ERANGE. On success the deltas handed out
 * along the way add up to the response's content, and every call has an
 * id, a name and JSON arguments.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

static void check_failure(int rc, const tm_base *b) {
  if (rc != TM_ERESPONSE && rc != TM_ERANGE) abort();
  if (!b->msg || !b->msg[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) abort();
  memcpy(text, data, size);
  text[size] = '\0';
  tm_install_json_hooks();
  tm_base b = {0};
  tm_stream s;
  tm_sbuf deltas = {0};
  tm_chat_response r;
  int rc = TM_OK;
  memset(&s, 0, sizeof s);
  memset(&r, 0, sizeof r);

  /* A NUL inside the input ends it, as it would end a C string. */
  for (char *line = text; rc == TM_OK;) {
    char *end = strchr(line, '\n');
    if (end) *end = '\0';
    const char *d = "";
    size_t n = 0;
    /* Blank lines separate events; the host never hands one over. */
    rc = line[0] ? tm_stream_feed(&b, &s, line, &d, &n) : TM_OK;
    if (rc == TM_OK) {
      if (n && (d[n] != '\0' || strlen(d) != n)) abort(); /* the tail of the content */
      if (n && tm_sbuf_add(&b, &deltas, d, n) != TM_OK) abort();
    } else {
      check_failure(rc, &b);
    }
    if (!end) break;
    line = end + 1;
  }
  if (rc == TM_OK) {
    rc = tm_stream_finish(&b, &s, &r);
    if (rc == TM_OK) {
      /* Empty content is no content; otherwise exactly the deltas. */
      if (deltas.len ? !r.content || strcmp(r.content, deltas.p) != 0 : r.content != NULL) abort();
      if (!r.finish_reason) abort();
      if (r.n_calls && !r.calls) abort();
      for (size_t i = 0; i < r.n_calls; i++) {
        if (!r.calls[i].id || !r.calls[i].id[0] || !r.calls[i].name || !r.calls[i].name[0] ||
            !r.calls[i].arguments || !r.calls[i].arguments[0])
          abort();
      }
    } else {
      check_failure(rc, &b);
      if (r.calls || r.content || r.id) abort(); /* a failure leaves nothing behind */
    }
  }
  tm_chat_response_free(&r);
  tm_stream_free(&s);
  tm_free(deltas.p);
  tm_base_free(&b);
  free(text);
  return 0;
}
