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

/* Stamps and prints messages: the payloads records hold, one per message.
 * On success the caller owns v (tm_msgvec_free). */
static int stamp_all(tm_base *b, const char *messages_json, cJSON **json, tm_msgvec *v) {
  int rc = tm_json_parse(b, messages_json, "messages", json);
  if (rc) return rc;
  if ((rc = tm_messages_read(b, *json, "messages", v))) return rc;
  for (size_t i = 0; i < v->len; i++)
    if ((rc = tm_message_stamp(b, &v->items[i]))) return rc;
  return TM_OK;
}

static int check_seq(tm_base *b, double seq) {
  if (!(seq >= 0 && seq <= TM_MAX_LOG_SEQ) || floor(seq) != seq)
    return tm_fail(b, TM_EINVAL, "seq must be an integer in [0, 2^53-1]");
  return TM_OK;
}

int tm_log_stamp(tm_ctx *ctx, const char *messages_json, char **out) {
  if (!ctx) return TM_EINVAL;
  tm_base *b = tm_ctx_base(ctx);
  tm_base_reset(b);
  if (!out) return tm_fail(b, TM_EINVAL, "no output pointer");
  *out = NULL;
  if (!messages_json) return tm_fail(b, TM_EINVAL, "messages: no input");
  cJSON *json = NULL;
  cJSON *texts = NULL;
  tm_msgvec v = {0};
  char *payload = NULL;
  int rc = stamp_all(b, messages_json, &json, &v);
  if (rc) goto fail;
  if (!(texts = cJSON_CreateArray())) {
    rc = tm_fail(b, TM_ENOMEM, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < v.len; i++) {
    if ((rc = tm_json_print(b, v.items[i].json, &payload))) goto fail;
    if (strlen(payload) > TM_MAX_MESSAGE_BYTES) {
      rc = tm_fail(b, TM_ERANGE, "message of %zu bytes is above %zu", strlen(payload),
                   TM_MAX_MESSAGE_BYTES);
      goto fail;
    }
    cJSON *item = cJSON_CreateString(payload);
    if (!item || !cJSON_AddItemToArray(texts, item)) {
      cJSON_Delete(item);
      rc = tm_fail(b, TM_ENOMEM, "out of memory");
      goto fail;
    }
    tm_free(payload);
    payload = NULL;
  }
  rc = tm_json_print(b, texts, out);
fail:
  tm_free(payload);
  cJSON_Delete(texts);
  tm_msgvec_free(&v);
  cJSON_Delete(json);
  return rc;
}

int tm_log_frame_sealed(tm_ctx *ctx, double seq, const unsigned char *payload, size_t n,
                        unsigned char **out, size_t *out_len) {
  if (!ctx) return TM_EINVAL;
  tm_base *b = tm_ctx_base(ctx);
  tm_base_reset(b);
  if (!out || !out_len) return tm_fail(b, TM_EINVAL, "no output pointer");
  *out = NULL;
  *out_len = 0;
  if (!payload && n) return tm_fail(b, TM_EINVAL, "payload: no input");
  int rc = check_seq(b, seq);
  if (rc) return rc;
  tm_recbuf rec = {0};
  rc = tm_record_encode(b, &rec, (uint64_t)seq, TM_RECORD_F_MESSAGE | TM_RECORD_F_ENCRYPTED,
                        (const char *)payload, n);
  if (rc) return rc;
  *out = rec.data;
  *out_len = rec.len;
  return TM_OK;
}

/* Reads one record's plaintext payload as a message onto `messages`. A
 * well-formed record whose payload is not a message is damage (TM_EFORMAT). */
static int read_payload(tm_base *b, const uint8_t *p, size_t len, uint64_t seq,
                        cJSON *messages) {
  char *text = tm_strndup((const char *)p, len);
  if (!text) return tm_fail(b, TM_ENOMEM, "out of memory");
  cJSON *json = NULL;
  tm_message m;
  memset(&m, 0, sizeof m);
  char path[TM_PATH_MAX];
  snprintf(path, sizeof path, "record %llu", (unsigned long long)seq);
  int rc = tm_json_parse(b, text, path, &json);
  if (rc) goto fail;
  if ((rc = tm_message_read(b, json, path, &m))) goto fail;
  if (!cJSON_AddItemToArray(messages, m.json)) {
    rc = tm_fail(b, TM_ENOMEM, "out of memory");
    goto fail;
  }
  m.json = NULL;
fail:
  if (rc == TM_EPARSE) rc = TM_EFORMAT, b->code = TM_EFORMAT;
  tm_message_free(&m);
  cJSON_Delete(json);
  tm_free(text);
  return rc;
}

typedef struct scan_state {
  tm_base *b;
  const uint8_t *buf;
  bool sealed;     /* the reader has a key: records must be encrypted */
  cJSON *messages; /* plaintext records, read */
  cJSON *spans;    /* encrypted records: [offset, length] of each payload */
} scan_state;

static int add_record(void *arg, const tm_record *r) {
  scan_state *st = arg;
  bool encrypted = r->flags & TM_RECORD_F_ENCRYPTED;
  if (encrypted && !st->sealed)
    return tm_fail(st->b, TM_ESEALED, "record %llu is encrypted: a key is needed to read it",
                   (unsigned long long)r->seq);
  if (!encrypted && st->sealed)
    return tm_fail(st->b, TM_EPLAIN, "record %llu is not encrypted, but a key was given",
                   (unsigned long long)r->seq);
  if (!encrypted) return read_payload(st->b, r->payload, r->len, r->seq, st->messages);
  cJSON *span = cJSON_CreateArray();
  if (!span || !cJSON_AddItemToArray(st->spans, span)) {
    cJSON_Delete(span);
    return tm_fail(st->b, TM_ENOMEM, "out of memory");
  }
  if (!cJSON_AddItemToArray(span, cJSON_CreateNumber((double)(r->payload - st->buf))) ||
      !cJSON_AddItemToArray(span, cJSON_CreateNumber((double)r->len)))
    return tm_fail(st->b, TM_ENOMEM, "out of memory");
  return TM_OK;
}

int tm_log_read_unsealed(tm_ctx *ctx, const unsigned char *buf, size_t n,
                         const uint32_t *lens, size_t count, double first_seq, char **out) {
  if (!ctx) return TM_EINVAL;
  tm_base *b = tm_ctx_base(ctx);
  tm_base_reset(b);
  if (!out) return tm_fail(b, TM_EINVAL, "no output pointer");
  *out = NULL;
  if ((!buf && n) || (!lens && count)) return tm_fail(b, TM_EINVAL, "no input");
  int rc = check_seq(b, first_seq);
  if (rc) return rc;
  if ((double)count > TM_MAX_LOG_SEQ - first_seq + 1)
    return tm_fail(b, TM_ERANGE, "log sequence above 2^53-1");
  cJSON *msgs = cJSON_CreateArray();
  if (!msgs) return tm_fail(b, TM_ENOMEM, "out of memory");
  size_t total = 0, whole = 0;
  while (whole < count && lens[whole] <= n - total) total += lens[whole++];
  if (whole < count || total != n) {
    rc = tm_fail(b, TM_EINVAL, "payload lengths do not cover the %zu bytes given", n);
    goto fail;
  }
  for (size_t i = 0, off = 0; i < count; off += lens[i], i++)
    if ((rc = read_payload(b, buf + off, lens[i], (uint64_t)first_seq + i, msgs))) goto fail;
  rc = tm_json_print(b, msgs, out);
fail:
  cJSON_Delete(msgs);
  return rc;
}

int tm_log_scan(tm_ctx *ctx, const unsigned char *buf, size_t n, int flags, char **out) {
  if (!ctx) return TM_EINVAL;
  tm_base *b = tm_ctx_base(ctx);
  tm_base_reset(b);
  if (!out) return tm_fail(b, TM_EINVAL, "no output pointer");
  *out = NULL;
  if (flags & ~TM_LOG_SEALED) return tm_fail(b, TM_EINVAL, "unknown scan flags %d", flags);
  static const char *const tails[] = {"clean", "torn", "corrupt"};
  cJSON *res = cJSON_CreateObject();
  cJSON *msgs = cJSON_CreateArray();
  cJSON *spans = cJSON_CreateArray();
  int rc = TM_OK;
  if (!res || !msgs || !spans) {
    rc = tm_fail(b, TM_ENOMEM, "out of memory");
    goto fail;
  }
  scan_state st = {b, buf, (flags & TM_LOG_SEALED) != 0, msgs, spans};
  tm_record_scan_result r;
  if ((rc = tm_record_scan(b, buf, n, add_record, &st, &r))) goto fail;
  cJSON_AddItemToObject(res, "messages", msgs);
  msgs = NULL;
  if (st.sealed) {
    cJSON_AddItemToObject(res, "sealed", spans);
    spans = NULL;
  }
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
  cJSON_Delete(spans);
  cJSON_Delete(msgs);
  cJSON_Delete(res);
  return rc;
}
