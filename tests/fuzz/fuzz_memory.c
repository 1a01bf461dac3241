/*
 * The memory index under random operations and random index JSON. The
 * input's first byte picks the mode:
 *   even: the rest is a serialized index for tm_memory_load; when it loads,
 *         serializing and loading again must give the same text.
 *   odd:  the rest drives add / update / delete / search / history / forget ops on short
 *         texts from a small vocabulary (with optional vectors of 3, 4 or
 *         64 dimensions: 64 lets hybrid search's first pass stop half way);
 *         after them, the index must equal one rebuilt from its own
 *         serialization (same search results, same serialized text). Every
 *         search must give what scoring every record exactly gives.
 * Any failure other than the documented codes aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "threadmem.h"

static const char *const words[] = {"tea", "Café", "oslo", "猫", "jazz", "x1", "RED", "red", "?", "the"};

static void check_rc(int rc) {
  if (rc != TM_OK && rc != TM_EINVAL && rc != TM_EFORMAT && rc != TM_EPARSE && rc != TM_ERANGE &&
      rc != TM_ENOTFOUND && rc != TM_EEMPTY && rc != TM_EDIMENSION)
    abort();
}

static void same_after_reload(tm_memory *m) {
  char *a = NULL, *b = NULL;
  if (tm_memory_serialize(m, &a) != TM_OK) abort();
  tm_memory *again = tm_memory_new();
  if (tm_memory_load(again, a) != TM_OK) abort();
  if (tm_memory_serialize(again, &b) != TM_OK || strcmp(a, b) != 0) abort();
  const char *q = "{\"query\":\"tea red oslo jazz 猫 café\",\"top_k\":50}";
  char *r1 = NULL, *r2 = NULL;
  int rc1 = tm_memory_search(m, q, &r1), rc2 = tm_memory_search(again, q, &r2);
  if (rc1 != rc2 || (rc1 == TM_OK && strcmp(r1, r2) != 0)) abort();
  if (tm_memory_count(m) != tm_memory_count(again)) abort();
  tm_free(r1);
  tm_free(r2);
  tm_free(a);
  tm_free(b);
  tm_memory_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  tm_memory *m = tm_memory_new();
  if (!(data[0] & 1)) {
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    int rc = tm_memory_load(m, text);
    check_rc(rc);
    if (rc == TM_OK) same_after_reload(m);
    free(text);
    tm_memory_free(m);
    return 0;
  }
  char buf[1024], id[32], *out = NULL;
  for (size_t i = 1; i + 2 < size; i += 3) {
    unsigned op = data[i] % 6, a = data[i + 1], b = data[i + 2];
    size_t o = 0;
    for (unsigned w = 0; w < 1 + (a & 3); w++)
      o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", w ? " " : "", words[(a >> w) % 10 ^ (b & 1)]);
    char text[128];
    snprintf(text, sizeof text, "%s", buf);
    snprintf(id, sizeof id, "r%u", b % 16);
    char vec[400] = "";
    if ((b & 2) && (b & 128)) {
      size_t v = (size_t)snprintf(vec, sizeof vec, ",\"embedding\":[");
      for (unsigned k = 0; k < 64; k++)
        v += (size_t)snprintf(vec + v, sizeof vec - v, "%s%d", k ? "," : "", (int)((a + 7 * k) * (b | 1) % 5) - 2);
      snprintf(vec + v, sizeof vec - v, "]");
    } else if (b & 2) {
      snprintf(vec, sizeof vec, ",\"embedding\":[%d,%d,1%s]", a % 3 - 1, b % 5 - 2, (b & 64) ? ",0" : "");
    }
    int rc;
    if (op == 0) {
      snprintf(buf, sizeof buf, "[{\"id\":\"%s\",\"text\":\"%s\",\"scope\":{\"user_id\":\"u%u\"%s}%s}]", id,
               text, a % 2, (b & 4) ? ",\"agent_id\":\"g\"" : "", vec);
      rc = tm_memory_add(m, buf, &out);
    } else if (op == 1) {
      snprintf(buf, sizeof buf, "{\"text\":\"%s\"%s}", text, vec);
      rc = tm_memory_update(m, id, buf, &out);
    } else if (op == 2) {
      rc = tm_memory_delete(m, id);
    } else if (op == 3) {
      snprintf(buf, sizeof buf, "{\"query\":\"%s\",\"top_k\":%u,\"filter\":{\"scope\":{\"user_id\":\"u%u\"}}%s}",
               text, 1 + b % 20, a % 2, vec);
      rc = tm_memory_search(m, buf, &out);
      /* The first pass of hybrid search changes nothing in the results. */
      char *exact = NULL;
      if (tm_memory_search_exact(m, buf, &exact) != rc || (rc == TM_OK && strcmp(out, exact) != 0)) abort();
      tm_free(exact);
    } else {
      /* Unscoped, or scoped as the adds are (their user, sometimes their
       * agent): a record of another scope, live or deleted, is not found. */
      snprintf(buf, sizeof buf, "{\"user_id\":\"u%u\"%s}", a % 2, (b & 4) ? ",\"agent_id\":\"g\"" : "");
      const char *scope = (a & 4) ? buf : NULL;
      if (op == 4) {
        rc = tm_memory_history(m, id, scope, &out);
      } else if ((rc = tm_memory_forget(m, id, scope)) == TM_OK) {
        /* Forgotten: gone, and not a word of it left in its history. */
        if (tm_memory_get(m, id, &out) != TM_ENOTFOUND || tm_memory_history(m, id, NULL, &out) != TM_OK) abort();
        if (strstr(out, "text")) abort();
        tm_free(out);
        out = NULL;
      }
    }
    check_rc(rc);
    if ((rc == TM_OK) != (out != NULL) && op != 2 && op != 5) abort();
    tm_free(out);
    out = NULL;
  }
  same_after_reload(m);
  tm_memory_free(m);
  return 0;
}
