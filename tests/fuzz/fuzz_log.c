/*
 * Persistent record recovery (record.h, tm_log_scan): any bytes are read
 * into messages or refused, never a crash; and a log the core wrote, then
 * torn or corrupted at a point the input picks, reads back as the records
 * before the damage (a torn or corrupt tail reported), or is refused when
 * intact records follow the damage.
 *
 * The first input byte picks the mode: even, the rest is a log (scanned
 * both without and with a key); odd, the next two bytes place the damage (a
 * cut, or a flipped byte) and the rest is a JSON array of messages for
 * tm_log_encode to write first, or, with bit 5 set, for tm_log_stamp and
 * tm_log_frame_sealed to write as encrypted records (sealed here by a stand-in
 * that prefixes the envelope's bytes), read back through tm_log_read_unsealed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "threadmem.h"

#define SEAL_BYTES 44 /* TM_RECORD_SEAL_BYTES of src/record.h */

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
static cJSON *unseal(tm_ctx *ctx, const uint8_t *buf, const cJSON *spans, double first_seq);

static cJSON *scan(tm_ctx *ctx, const uint8_t *buf, size_t n, int flags) {
  char *out = NULL;
  if (tm_log_scan(ctx, buf, n, flags, &out) != TM_OK) {
    if (out) abort();
    return NULL;
  }
  cJSON *r = cJSON_Parse(out);
  tm_free(out);
  if (!r) abort();
  double count = num(r, "count"), valid = num(r, "valid_bytes"), tail = num(r, "tail_bytes");
  cJSON *messages = cJSON_GetObjectItemCaseSensitive(r, "messages");
  if (flags & TM_LOG_SEALED) {
    /* Each sealed payload lies inside the valid bytes, in order, whole. */
    const cJSON *spans = cJSON_GetObjectItemCaseSensitive(r, "sealed");
    if (cJSON_GetArraySize(messages) != 0 || cJSON_GetArraySize(spans) != (int)count) abort();
    double end = 0;
    for (const cJSON *sp = spans ? spans->child : NULL; sp; sp = sp->next) {
      double off = cJSON_GetArrayItem(sp, 0)->valuedouble, len = cJSON_GetArrayItem(sp, 1)->valuedouble;
      if (off < end || len < SEAL_BYTES || off + len > num(r, "valid_bytes")) abort();
      end = off + len;
    }
    /* Stand in for the host: what was sealed reads back as messages, or is
     * refused; either way the report keeps its shape. */
    cJSON *opened = unseal(ctx, buf, spans, count > 0 ? num(r, "first_seq") : 1);
    if (opened) {
      if (cJSON_GetArraySize(opened) != (int)count) abort();
      cJSON_ReplaceItemInObjectCaseSensitive(r, "messages", opened);
      messages = opened;
    }
  } else if (cJSON_GetObjectItemCaseSensitive(r, "sealed")) {
    abort();
  }
  if (!cJSON_IsArray(messages)) abort();
  if (valid < 0 || valid > (double)n || valid + tail != (double)n) abort();
  const char *t = str(r, "tail");
  if (strcmp(t, "clean") == 0 ? tail != 0 : strcmp(t, "torn") && strcmp(t, "corrupt")) abort();
  if (count > 0 && num(r, "last_seq") - num(r, "first_seq") + 1 != count) abort();
  if (strcmp(t, "clean") != 0) {
    char *again = NULL;
    if (tm_log_scan(ctx, buf, (size_t)valid, flags, &again) != TM_OK) abort();
    cJSON *a = cJSON_Parse(again);
    tm_free(again);
    if (!a || strcmp(str(a, "tail"), "clean") || num(a, "count") != count) abort();
    if (!(flags & TM_LOG_SEALED) &&
        !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(a, "messages"), messages, 1))
      abort();
    cJSON_Delete(a);
  }
  return r;
}

/* Strips the stand-in envelope off each sealed payload and reads the rest
 * as messages: the array, or NULL when refused. */
static cJSON *unseal(tm_ctx *ctx, const uint8_t *buf, const cJSON *spans, double first_seq) {
  int count = cJSON_GetArraySize(spans);
  size_t total = 0;
  for (const cJSON *sp = spans->child; sp; sp = sp->next)
    total += (size_t)cJSON_GetArrayItem(sp, 1)->valuedouble - SEAL_BYTES;
  uint8_t *plain = malloc(total + 1);
  uint32_t *lens = malloc(sizeof *lens * (size_t)(count + 1));
  if (!plain || !lens) abort();
  size_t at = 0;
  int i = 0;
  for (const cJSON *sp = spans->child; sp; sp = sp->next, i++) {
    size_t off = (size_t)cJSON_GetArrayItem(sp, 0)->valuedouble;
    size_t len = (size_t)cJSON_GetArrayItem(sp, 1)->valuedouble - SEAL_BYTES;
    memcpy(plain + at, buf + off + SEAL_BYTES, len);
    lens[i] = (uint32_t)len;
    at += len;
  }
  char *out = NULL;
  cJSON *r = NULL;
  if (tm_log_read_unsealed(ctx, plain, total, lens, (size_t)count, first_seq, &out) == TM_OK) {
    if (!(r = cJSON_Parse(out))) abort();
  } else if (out) {
    abort();
  }
  tm_free(out);
  free(plain);
  free(lens);
  return r;
}

/* Writes messages_json as encrypted records from seq 1 through the
 * stand-in sealing; *written gets the messages as stamped. */
static int encode_sealed(tm_ctx *ctx, const char *json, unsigned char **log, size_t *len,
                         cJSON **written) {
  char *texts = NULL;
  if (tm_log_stamp(ctx, json, &texts) != TM_OK) {
    if (texts) abort();
    return -1;
  }
  cJSON *arr = cJSON_Parse(texts);
  tm_free(texts);
  if (!arr || !(*written = cJSON_CreateArray())) abort();
  *log = NULL;
  *len = 0;
  double seq = 1;
  for (const cJSON *t = arr->child; t; t = t->next, seq++) {
    if (!cJSON_IsString(t)) abort();
    cJSON *m = cJSON_Parse(t->valuestring);
    if (!m) abort();
    cJSON_AddItemToArray(*written, m);
    size_t n = strlen(t->valuestring);
    unsigned char *sealed = malloc(SEAL_BYTES + n);
    if (!sealed) abort();
    memset(sealed, 0x5A, SEAL_BYTES);
    memcpy(sealed + SEAL_BYTES, t->valuestring, n);
    unsigned char *rec = NULL;
    size_t rec_len = 0;
    if (tm_log_frame_sealed(ctx, seq, sealed, SEAL_BYTES + n, &rec, &rec_len) != TM_OK) abort();
    free(sealed);
    unsigned char *grown = tm_realloc(*log, *len + rec_len);
    if (!grown) abort();
    memcpy(grown + *len, rec, rec_len);
    *log = grown;
    *len += rec_len;
    tm_free(rec);
  }
  cJSON_Delete(arr);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  tm_ctx *ctx = tm_ctx_new();
  if (!ctx) abort();
  if ((data[0] & 1) == 0) {
    cJSON_Delete(scan(ctx, data + 1, size - 1, 0));
    cJSON_Delete(scan(ctx, data + 1, size - 1, TM_LOG_SEALED));
    tm_ctx_free(ctx);
    return 0;
  }
  if (size < 3) {
    tm_ctx_free(ctx);
    return 0;
  }
  size_t where = (size_t)data[1] << 8 | data[2];
  bool flip = data[0] & 2;
  int flags = (data[0] & 0x20) ? TM_LOG_SEALED : 0;
  char *json = malloc(size - 2);
  if (!json) abort();
  memcpy(json, data + 3, size - 3);
  json[size - 3] = '\0';
  unsigned char *log = NULL;
  size_t len = 0;
  char *canonical = NULL;
  cJSON *written = NULL;
  int encoded = flags ? encode_sealed(ctx, json, &log, &len, &written)
                      : tm_log_encode(ctx, json, 1, &log, &len, &canonical);
  if (encoded == TM_OK) {
    if (!flags) written = cJSON_Parse(canonical);
    if (!written) abort();
    /* Intact, it reads back exactly as written. */
    cJSON *r = scan(ctx, log, len, flags);
    if (!r || strcmp(str(r, "tail"), "clean") ||
        !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(r, "messages"), written, 1))
      abort();
    cJSON_Delete(r);
    if (len > 0) {
      where %= len;
      if (flip) log[where] ^= (unsigned char)(1u << (data[0] >> 2 & 7));
      /* Damaged: a prefix of what was written, never anything else. */
      r = scan(ctx, log, flip ? len : where, flags);
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
