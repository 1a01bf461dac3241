/*
 * The persistent record log as the package sees it (tm_log_* of
 * threadmem.h): messages in, records out, and back. The record layout and
 * its recovery are in record.c; this file adds the message rules.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "record.h"

int tm_log_encode(tm_ctx *ctx, const char *messages_json, double first_seq,
                  unsigned char **out, size_t *out_len, char **canonical) {
  if (!ctx) return TM_EINVAL;
  tm_base *b = tm_ctx_base(ctx);
  tm_base_reset(b);
  if (!out || !out_len || !canonical) return tm_fail(b, TM_EINVAL, "no output pointer");
  *out = NULL;
  *out_len = 0;
  *canonical = NULL;
  if (!messages_json) return tm_fail(b, TM_EINVAL, "messages: no input");
  if (!(first_seq >= 0 && first_seq <= TM_MAX_LOG_SEQ) || floor(first_seq) != first_seq)
    return tm_fail(b, TM_EINVAL, "first_seq must be an integer in [0, 2^53-1]");
  cJSON *json = NULL;
  tm_msgvec v = {0};
  tm_recbuf rec = {0};
  tm_sbuf text = {0};
  char *payload = NULL;
  int rc = tm_json_parse(b, messages_json, "messages", &json);
  if (rc) return rc;
  if ((rc = tm_messages_read(b, json, "messages", &v))) goto fail;
  if ((double)v.len > TM_MAX_LOG_SEQ - first_seq) {
    rc = tm_fail(b, TM_ERANGE, "log sequence above 2^53-1");
    goto fail;
  }
  if ((rc = tm_sbuf_add(b, &text, "[", 1))) goto fail;
  for (size_t i = 0; i < v.len; i++) {
    if ((rc = tm_message_stamp(b, &v.items[i]))) goto fail;
    if ((rc = tm_json_print(b, v.items[i].json, &payload))) goto fail;
    size_t n = strlen(payload);
    if ((rc = tm_record_encode(b, &rec, (uint64_t)first_seq + i, TM_RECORD_F_MESSAGE,
                               payload, n)))
      goto fail;
    if (i && (rc = tm_sbuf_add(b, &text, ",", 1))) goto fail;
    if ((rc = tm_sbuf_add(b, &text, payload, n))) goto fail;
    tm_free(payload);
    payload = NULL;
  }
  if ((rc = tm_sbuf_add(b, &text, "]", 1))) goto fail;
  *out = rec.data;
  *out_len = rec.len;
  rec.data = NULL;
  *canonical = text.p;
  text.p = NULL;
fail:
  tm_free(payload);
  tm_free(text.p);
  tm_recbuf_free(&rec);
  tm_msgvec_free(&v);
  cJSON_Delete(json);
  return rc;
}

typedef struct scan_state {
  tm_base *b;
  cJSON *messages;
} scan_state;

static int add_record(void *arg, const tm_record *r) {
  scan_state *st = arg;
  char *text = tm_strndup((const char *)r->payload, r->len);
  if (!text) return tm_fail(st->b, TM_ENOMEM, "out of memory");
  cJSON *json = NULL;
  tm_message m;
  memset(&m, 0, sizeof m);
  char path[TM_PATH_MAX];
  snprintf(path, sizeof path, "record %llu", (unsigned long long)r->seq);
  int rc = tm_json_parse(st->b, text, path, &json);
  if (rc) goto fail;
  if ((rc = tm_message_read(st->b, json, path, &m))) goto fail;
  if (!cJSON_AddItemToArray(st->messages, m.json)) {
    rc = tm_fail(st->b, TM_ENOMEM, "out of memory");
    goto fail;
  }
  m.json = NULL;
fail:
  /* A well-formed record whose payload is not a message is damage too. */
  if (rc == TM_EPARSE) rc = TM_EFORMAT, st->b->code = TM_EFORMAT;
  tm_message_free(&m);
  cJSON_Delete(json);
  tm_free(text);
  return rc;
}

int tm_log_scan(tm_ctx *ctx, const unsigned char *buf, size_t n, char **out) {
  if (!ctx) return TM_EINVAL;
  tm_base *b = tm_ctx_base(ctx);
  tm_base_reset(b);
  if (!out) return tm_fail(b, TM_EINVAL, "no output pointer");
  *out = NULL;
  static const char *const tails[] = {"clean", "torn", "corrupt"};
  cJSON *res = cJSON_CreateObject();
  cJSON *msgs = cJSON_CreateArray();
  int rc = TM_OK;
  if (!res || !msgs) {
    rc = tm_fail(b, TM_ENOMEM, "out of memory");
    goto fail;
  }
  scan_state st = {b, msgs};
  tm_record_scan_result r;
  if ((rc = tm_record_scan(b, buf, n, add_record, &st, &r))) goto fail;
  cJSON_AddItemToObject(res, "messages", msgs);
  msgs = NULL;
  if (!cJSON_AddNumberToObject(res, "count", (double)r.count) ||
      !cJSON_AddNumberToObject(res, "first_seq", (double)r.first_seq) ||
      !cJSON_AddNumberToObject(res, "last_seq", (double)r.last_seq) ||
      !cJSON_AddNumberToObject(res, "valid_bytes", (double)r.valid_bytes) ||
      !cJSON_AddStringToObject(res, "tail", tails[r.tail]) ||
      !cJSON_AddNumberToObject(res, "tail_bytes", (double)r.tail_bytes)) {
    rc = tm_fail(b, TM_ENOMEM, "out of memory");
    goto fail;
  }
  rc = tm_json_print(b, res, out);
fail:
  cJSON_Delete(msgs);
  cJSON_Delete(res);
  return rc;
}
