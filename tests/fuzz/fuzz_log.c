/*
 * Persistent record recovery (record.h, tm_log_scan): any bytes are read
 * into messages or refused, never a crash; and a log the core wrote, then
 * torn or corrupted at a point the input picks, reads back as the records
 * before the damage (a torn or corrupt tail reported), or is refused when
 * intact records follow the damage.
 *
 * The first input byte picks the mode: even, the rest is a log; odd, the
 * next two bytes place the damage (a cut, or a flipped byte) and the rest
 * is a JSON array of messages for tm_log_encode to write first.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "threadmem.h"

static double num(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v)) abort();
  return v->valuedouble;
}

static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsString(v)) abort();
  return v->valuestring;
}

/* Scans buf[0..n); on success checks the report against itself, and that
 * its valid part reads back clean with the same records. Returns the
 * report (cJSON, the caller frees) or NULL when refused. */
static cJSON *scan(tm_ctx *ctx, const uint8_t *buf, size_t n) {
  char *out = NULL;
  if (tm_log_scan(ctx, buf, n, &out) != TM_OK) {
    if (out) abort();
    return NULL;
  }
  cJSON *r = cJSON_Parse(out);
  tm_free(out);
  if (!r) abort();
  double count = num(r, "count"), valid = num(r, "valid_bytes"), tail = num(r, "tail_bytes");
  const cJSON *messages = cJSON_GetObjectItemCaseSensitive(r, "messages");
  if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) != (int)count) abort();
  if (valid < 0 || valid > (double)n || valid + tail != (double)n) abort();
  const char *t = str(r, "tail");
  if (strcmp(t, "clean") == 0 ? tail != 0 : strcmp(t, "torn") && strcmp(t, "corrupt")) abort();
  if (count > 0 && num(r, "last_seq") - num(r, "first_seq") + 1 != count) abort();
  if (strcmp(t, "clean") != 0) {
    char *again = NULL;
    if (tm_log_scan(ctx, buf, (size_t)valid, &again) != TM_OK) abort();
    cJSON *a = cJSON_Parse(again);
    tm_free(again);
    if (!a || strcmp(str(a, "tail"), "clean") || num(a, "count") != count ||
        !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(a, "messages"), messages, 1))
      abort();
    cJSON_Delete(a);
  }
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  tm_ctx *ctx = tm_ctx_new();
  if (!ctx) abort();
  if ((data[0] & 1) == 0) {
    cJSON_Delete(scan(ctx, data + 1, size - 1));
    tm_ctx_free(ctx);
    return 0;
  }
  if (size < 3) {
    tm_ctx_free(ctx);
    return 0;
  }
  size_t where = (size_t)data[1] << 8 | data[2];
  bool flip = data[0] & 2;
  char *json = malloc(size - 2);
  if (!json) abort();
  memcpy(json, data + 3, size - 3);
  json[size - 3] = '\0';
  unsigned char *log = NULL;
  size_t len = 0;
  char *canonical = NULL;
  if (tm_log_encode(ctx, json, 1, &log, &len, &canonical) == TM_OK) {
    cJSON *written = cJSON_Parse(canonical);
    if (!written) abort();
    /* Intact, it reads back exactly as written. */
    cJSON *r = scan(ctx, log, len);
    if (!r || strcmp(str(r, "tail"), "clean") ||
        !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(r, "messages"), written, 1))
      abort();
    cJSON_Delete(r);
    if (len > 0) {
      where %= len;
      if (flip) log[where] ^= (unsigned char)(1u << (data[0] >> 2 & 7));
      /* Damaged: a prefix of what was written, never anything else. */
      r = scan(ctx, log, flip ? len : where);
      if (r) {
        const cJSON *got = cJSON_GetObjectItemCaseSensitive(r, "messages");
        int n = cJSON_GetArraySize(got);
        if (n > cJSON_GetArraySize(written)) abort();
        for (int i = 0; i < n; i++)
          if (!cJSON_Compare(cJSON_GetArrayItem(got, i), cJSON_GetArrayItem(written, i), 1)) abort();
        cJSON_Delete(r);
      }
    }
    cJSON_Delete(written);
  }
  tm_free(log);
  tm_free(canonical);
  free(json);
  tm_ctx_free(ctx);
  return 0;
}
