/*
 * OpenAI's chat counting rule (count.h), applied to the wire form that
 * chat.c makes of a message, so that what is counted is what is sent.
 */
#include <string.h>

#include "chat.h"
#include "count.h"
#include "host.h"
#include "tokenizer.h"

static int text_tokens(tm_base *b, int enc, const char *text, size_t *out) {
  if (enc != TM_ENC_HOST) return tm_token_count(b, enc, text, strlen(text), out);
  int rc = tm_host_count(text, strlen(text), out);
  if (rc == TM_EHOST) return tm_fail(b, rc, "the token counter failed");
  if (rc) return tm_fail(b, rc, "out of memory");
  return TM_OK;
}

/* The tokens of the string values under `v` (object members, array items),
 * the keys themselves being free, as in OpenAI's rule. An image part costs
 * a fixed TM_TOKENS_PER_IMAGE: its URL (often a data: URL) is not text the
 * model reads. */
static int count_values(tm_base *b, const cJSON *v, int enc, size_t *sum) {
  if (cJSON_IsString(v)) {
    size_t n;
    int rc = text_tokens(b, enc, v->valuestring, &n);
    if (rc) return rc;
    *sum += n;
    return TM_OK;
  }
  if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) return TM_OK;
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "type");
  if (cJSON_IsObject(v) && cJSON_IsString(type) && strcmp(type->valuestring, "image_url") == 0) {
    *sum += TM_TOKENS_PER_IMAGE;
    return TM_OK;
  }
  const cJSON *it;
  cJSON_ArrayForEach(it, v) {
    int rc = count_values(b, it, enc, sum);
    if (rc) return rc;
  }
  return TM_OK;
}

int tm_message_tokens(tm_base *b, const tm_message *m, int enc, size_t *out) {
  *out = 0;
  bool cached = enc >= 0 && enc < TM_ENC_COUNT;
  if (cached && m->tokens[enc]) {
    *out = m->tokens[enc] - 1;
    return TM_OK;
  }
  cJSON *wire = cJSON_CreateArray();
  if (!wire) return tm_fail(b, TM_ENOMEM, "out of memory");
  size_t sum = 0;
  int rc = tm_chat_map_message(b, m, wire);
  const cJSON *msg;
  cJSON_ArrayForEach(msg, wire) {
    if (rc) break;
    sum += TM_TOKENS_PER_MESSAGE;
    if (cJSON_GetObjectItemCaseSensitive(msg, "name")) sum += TM_TOKENS_PER_NAME;
    rc = count_values(b, msg, enc, &sum);
  }
  cJSON_Delete(wire);
  if (rc) return rc;
  /* A message is at most TM_MAX_MESSAGE_BYTES, far below this; the check
   * keeps the cache's +1 encoding honest. */
  if (sum >= UINT32_MAX) return tm_fail(b, TM_ERANGE, "message: too many tokens to count");
  /* Messages are never const objects (they live in allocated arrays); the
   * cache is not part of their value. */
  if (cached) ((tm_message *)m)->tokens[enc] = (uint32_t)sum + 1;
  *out = sum;
  return TM_OK;
}
