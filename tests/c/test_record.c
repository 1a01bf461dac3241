/* The persistent record layout (src/record.h): encoding, checksums and the
 * recovery scan over torn, corrupted and truncated logs. */
#include "cJSON.h"
#include "host_native.h"
#include "record.h"
#include "test.h"

static uint8_t *realloc_bytes(tm_recbuf *b, size_t need) {
  if (need > b->cap) {
    uint8_t *d = tm_realloc(b->data, need);
    if (!d) return NULL;
    b->data = d;
    b->cap = need;
  }
  return b->data;
}

static void build_log(tm_recbuf *log, uint64_t first_seq, int n) {
  tm_base err = {0, NULL, false};
  char payload[64];
  for (int i = 0; i < n; i++) {
    int len = snprintf(payload, sizeof payload, "{\"role\":\"user\",\"text\":\"m%d\"}", i);
    CHECK_EQ_INT(tm_record_encode(&err, log, first_seq + (uint64_t)i, TM_RECORD_F_MESSAGE,
                                  payload, (size_t)len),
                 TM_OK);
  }
  tm_base_free(&err);
}

/* Appends n zero bytes to b (what a crash can leave after a grown file). */
static int recbuf_pad_zero(tm_recbuf *b, size_t n) {
  uint8_t *d = realloc_bytes(b, b->len + n);
  if (!d) return TM_ENOMEM;
  memset(d + b->len, 0, n);
  b->len += n;
  return TM_OK;
}

typedef struct seen {
  int count;
  uint64_t seqs[16];
} seen;

static int collect(void *arg, const tm_record *rec) {
  seen *s = arg;
  if (s->count < 16) s->seqs[s->count] = rec->seq;
  s->count++;
  return TM_OK;
}

TEST(crc32_matches_the_standard_check_value) {
  CHECK_EQ_INT(tm_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
  uint32_t part = tm_crc32(0, (const uint8_t *)"1234", 4);
  CHECK_EQ_INT(tm_crc32(part, (const uint8_t *)"56789", 5), 0xCBF43926u);
}

TEST(encode_then_decode_round_trips) {
  tm_base err = {0, NULL, false};
  tm_recbuf b = {0};
  const char *p = "{\"role\":\"assistant\"}";
  CHECK_EQ_INT(tm_record_encode(&err, &b, 42, TM_RECORD_F_MESSAGE, p, strlen(p)), TM_OK);
  CHECK_EQ_INT(b.len, TM_RECORD_HEADER_BYTES + strlen(p));
  CHECK(memcmp(b.data, "TMR1", 4) == 0);
  tm_record rec;
  size_t used = 0;
  CHECK_EQ_INT(tm_record_decode(&err, b.data, b.len, &rec, &used), TM_OK);
  CHECK_EQ_INT(used, b.len);
  CHECK_EQ_INT(rec.seq, 42);
  CHECK_EQ_INT(rec.flags, TM_RECORD_F_MESSAGE);
  CHECK_EQ_INT(rec.len, strlen(p));
  CHECK(memcmp(rec.payload, p, rec.len) == 0);
  tm_recbuf_free(&b);
  tm_base_free(&err);
}

TEST(encode_rejects_bad_input_and_leaves_the_batch_unchanged) {
  tm_base err = {0, NULL, false};
  tm_recbuf b = {0};
  CHECK_EQ_INT(tm_record_encode(&err, &b, 1, 0x80, "x", 1), TM_EINVAL);
  CHECK_EQ_INT(tm_record_encode(&err, &b, 1, 0, NULL, 3), TM_EINVAL);
  CHECK_EQ_INT(tm_record_encode(&err, &b, 1, 0, "x", TM_MAX_MESSAGE_BYTES + 1), TM_ERANGE);
  CHECK_EQ_INT(b.len, 0);
  tm_base_free(&err);
  CHECK_OOM_SAFE(tm_record_encode(&err, &b, 1, 0, "x", 1), tm_recbuf_free(&b));
  tm_recbuf_free(&b);
  tm_base_free(&err);
}

TEST(scan_reads_every_record_in_order) {
  tm_base err = {0, NULL, false};
  tm_recbuf log = {0};
  build_log(&log, 7, 5);
  seen s = {0};
  tm_record_scan_result res;
  CHECK_EQ_INT(tm_record_scan(&err, log.data, log.len, collect, &s, &res), TM_OK);
  CHECK_EQ_INT(s.count, 5);
  CHECK_EQ_INT(s.seqs[0], 7);
  CHECK_EQ_INT(s.seqs[4], 11);
  CHECK_EQ_INT(res.count, 5);
  CHECK_EQ_INT(res.first_seq, 7);
  CHECK_EQ_INT(res.last_seq, 11);
  CHECK_EQ_INT(res.valid_bytes, log.len);
  CHECK_EQ_INT(res.tail, TM_TAIL_CLEAN);
  CHECK_EQ_INT(tm_record_scan(&err, NULL, 0, NULL, NULL, &res), TM_OK);
  CHECK_EQ_INT(res.count, 0);
  tm_recbuf_free(&log);
  tm_base_free(&err);
}

TEST(scan_reports_a_torn_tail_at_every_cut) {
  tm_base err = {0, NULL, false};
  tm_recbuf log = {0};
  build_log(&log, 1, 3);
  size_t last_start = 0;
  {
    tm_recbuf first2 = {0};
    build_log(&first2, 1, 2);
    last_start = first2.len;
    tm_recbuf_free(&first2);
  }
  /* Every cut inside the last record keeps the first two and reports torn. */
  for (size_t cut = last_start + 1; cut < log.len; cut++) {
    tm_record_scan_result res;
    CHECK_EQ_INT(tm_record_scan(&err, log.data, cut, NULL, NULL, &res), TM_OK);
    CHECK_EQ_INT(res.count, 2);
    CHECK_EQ_INT(res.valid_bytes, last_start);
    CHECK_EQ_INT(res.tail, TM_TAIL_TORN);
    CHECK_EQ_INT(res.tail_bytes, cut - last_start);
  }
  tm_recbuf_free(&log);
  tm_base_free(&err);
}

TEST(scan_reports_a_corrupt_last_record) {
  tm_base err = {0, NULL, false};
  tm_recbuf log = {0};
  build_log(&log, 1, 3);
  log.data[log.len - 2] ^= 0x20; /* flip a payload bit of the last record */
  tm_record_scan_result res;
  CHECK_EQ_INT(tm_record_scan(&err, log.data, log.len, NULL, NULL, &res), TM_OK);
  CHECK_EQ_INT(res.count, 2);
  CHECK_EQ_INT(res.tail, TM_TAIL_CORRUPT);
  CHECK(res.tail_bytes > 0);
  /* Zeros where a record should be (a crash after the length grew). */
  tm_recbuf z = {0};
  build_log(&z, 1, 1);
  size_t good = z.len;
  CHECK_EQ_INT(recbuf_pad_zero(&z, 40), TM_OK);
  CHECK_EQ_INT(tm_record_scan(&err, z.data, z.len, NULL, NULL, &res), TM_OK);
  CHECK_EQ_INT(res.count, 1);
  CHECK_EQ_INT(res.valid_bytes, good);
  CHECK_EQ_INT(res.tail, TM_TAIL_CORRUPT);
  tm_recbuf_free(&z);
  tm_recbuf_free(&log);
  tm_base_free(&err);
}

TEST(damage_before_a_valid_record_is_an_error_not_a_cut) {
  tm_base err = {0, NULL, false};
  tm_recbuf log = {0};
  build_log(&log, 1, 3);
  log.data[TM_RECORD_HEADER_BYTES + 3] ^= 0x01; /* payload of the first record */
  tm_record_scan_result res;
  CHECK_EQ_INT(tm_record_scan(&err, log.data, log.len, NULL, NULL, &res), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(&err), "damaged at byte 0");
  CHECK_CONTAINS(tm_errmsg(&err), "checksum");
  log.data[TM_RECORD_HEADER_BYTES + 3] ^= 0x01;
  log.data[16] = 0xFF; /* the first record's length: tampered header */
  CHECK_EQ_INT(tm_record_scan(&err, log.data, log.len, NULL, NULL, &res), TM_EFORMAT);
  tm_recbuf_free(&log);
  tm_base_free(&err);
}

TEST(sequence_gaps_and_repeats_are_format_errors) {
  tm_base err = {0, NULL, false};
  tm_recbuf log = {0};
  build_log(&log, 1, 2);
  build_log(&log, 4, 1); /* 1, 2, 4 */
  tm_record_scan_result res;
  CHECK_EQ_INT(tm_record_scan(&err, log.data, log.len, NULL, NULL, &res), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(&err), "jumps from 2 to 4");
  tm_recbuf_free(&log);
  build_log(&log, 1, 2);
  build_log(&log, 2, 1); /* 1, 2, 2 */
  CHECK_EQ_INT(tm_record_scan(&err, log.data, log.len, NULL, NULL, &res), TM_EFORMAT);
  tm_recbuf_free(&log);
  tm_base_free(&err);
}

TEST(decode_rejects_other_versions_and_flags) {
  tm_base err = {0, NULL, false};
  tm_recbuf log = {0};
  build_log(&log, 1, 1);
  tm_record rec;
  size_t used;
  log.data[4] = 2;
  CHECK_EQ_INT(tm_record_decode(&err, log.data, log.len, &rec, &used), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(&err), "version 2");
  log.data[4] = 1;
  log.data[5] = 0x40;
  CHECK_EQ_INT(tm_record_decode(&err, log.data, log.len, &rec, &used), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(&err), "flags");
  log.data[5] = TM_RECORD_F_MESSAGE;
  CHECK_EQ_INT(tm_record_decode(&err, (const uint8_t *)"XMR1", 4, &rec, &used), TM_EFORMAT);
  CHECK_EQ_INT(tm_record_decode(&err, log.data, 3, &rec, &used), TM_OK);
  CHECK_EQ_INT(used, 0);
  tm_recbuf_free(&log);
  tm_base_free(&err);
}

static int stop_at_second(void *arg, const tm_record *rec) {
  (void)arg;
  return rec->seq == 2 ? TM_ENOMEM : TM_OK;
}

TEST(a_callback_error_stops_the_scan) {
  tm_base err = {0, NULL, false};
  tm_recbuf log = {0};
  build_log(&log, 1, 3);
  tm_record_scan_result res;
  CHECK_EQ_INT(tm_record_scan(&err, log.data, log.len, stop_at_second, NULL, &res), TM_ENOMEM);
  tm_recbuf_free(&log);
  tm_base_free(&err);
}

TEST(log_encode_stamps_and_scan_reads_back) {
  tm_ctx *ctx = tm_ctx_new();
  unsigned char *bytes = NULL;
  size_t n = 0;
  char *canon = NULL, *scan = NULL;
  CHECK_EQ_INT(tm_log_encode(ctx, "[{\"role\":\"user\",\"text\":\"hi\"},"
                                  "{\"role\":\"assistant\",\"text\":\"yo\","
                                  "\"message_id\":\"m2\"}]",
                             5, &bytes, &n, &canon),
               TM_OK);
  CHECK_CONTAINS(canon, "\"message_id\":\"m2\"");
  CHECK_CONTAINS(canon, "\"created_at\":\"2026-01-01T00:00:00.000Z\"");
  CHECK_EQ_INT(tm_log_scan(ctx, bytes, n, 0, &scan), TM_OK);
  CHECK_CONTAINS(scan, "\"count\":2");
  CHECK_CONTAINS(scan, "\"first_seq\":5");
  CHECK_CONTAINS(scan, "\"last_seq\":6");
  CHECK_CONTAINS(scan, "\"tail\":\"clean\"");
  CHECK_CONTAINS(scan, "\"text\":\"yo\"");
  tm_free(scan);
  CHECK_EQ_INT(tm_log_scan(ctx, bytes, n - 1, 0, &scan), TM_OK);
  CHECK_CONTAINS(scan, "\"count\":1");
  CHECK_CONTAINS(scan, "\"tail\":\"torn\"");
  tm_free(scan);
  tm_free(bytes);
  tm_free(canon);
  CHECK_EQ_INT(tm_log_encode(ctx, "[{\"role\":7}]", 0, &bytes, &n, &canon), TM_EFORMAT);
  CHECK_EQ_INT(tm_log_encode(ctx, "[]", -1, &bytes, &n, &canon), TM_EINVAL);
  CHECK_EQ_INT(tm_log_encode(ctx, "[]", 1.5, &bytes, &n, &canon), TM_EINVAL);
  tm_ctx_free(ctx);
}

TEST(log_scan_rejects_a_record_that_is_not_a_message) {
  tm_ctx *ctx = tm_ctx_new();
  tm_base err = {0, NULL, false};
  tm_recbuf log = {0};
  CHECK_EQ_INT(tm_record_encode(&err, &log, 1, TM_RECORD_F_MESSAGE, "{nope", 5), TM_OK);
  char *scan = NULL;
  CHECK_EQ_INT(tm_log_scan(ctx, log.data, log.len, 0, &scan), TM_EFORMAT);
  CHECK(scan == NULL);
  tm_recbuf_free(&log);
  CHECK_EQ_INT(tm_record_encode(&err, &log, 1, TM_RECORD_F_MESSAGE, "{\"role\":1}", 10),
               TM_OK);
  CHECK_EQ_INT(tm_log_scan(ctx, log.data, log.len, 0, &scan), TM_EFORMAT);
  tm_recbuf_free(&log);
  tm_base_free(&err);
  tm_ctx_free(ctx);
}

/* A stand-in for the host's sealing: the envelope's size, the text inside. */
static size_t fake_seal(const char *text, uint8_t *out) {
  size_t n = strlen(text);
  memset(out, 0xA5, TM_RECORD_SEAL_BYTES);
  memcpy(out + TM_RECORD_SEAL_BYTES, text, n);
  return TM_RECORD_SEAL_BYTES + n;
}

TEST(encrypted_records_need_a_whole_envelope) {
  tm_base err = {0, NULL, false};
  tm_recbuf log = {0};
  uint8_t flags = TM_RECORD_F_MESSAGE | TM_RECORD_F_ENCRYPTED;
  char short_payload[TM_RECORD_SEAL_BYTES] = {0};
  CHECK_EQ_INT(tm_record_encode(&err, &log, 1, flags, short_payload, TM_RECORD_SEAL_BYTES - 1),
               TM_EINVAL);
  CHECK(log.len == 0);
  CHECK_EQ_INT(tm_record_encode(&err, &log, 1, flags, short_payload, TM_RECORD_SEAL_BYTES),
               TM_OK);
  tm_record rec;
  size_t used = 0;
  CHECK_EQ_INT(tm_record_decode(&err, log.data, log.len, &rec, &used), TM_OK);
  CHECK(used == log.len && rec.flags == flags && rec.len == TM_RECORD_SEAL_BYTES);
  /* A record claiming encryption with a payload too short for it fails even
   * with a good checksum. */
  tm_recbuf bad = {0};
  CHECK_EQ_INT(tm_record_encode(&err, &bad, 1, TM_RECORD_F_MESSAGE, "{}", 2), TM_OK);
  bad.data[5] = (uint8_t)flags;
  uint32_t crc = tm_crc32(tm_crc32(0, bad.data, 20), bad.data + TM_RECORD_HEADER_BYTES, 2);
  for (int i = 0; i < 4; i++) bad.data[20 + i] = (uint8_t)(crc >> (8 * i));
  CHECK_EQ_INT(tm_record_decode(&err, bad.data, bad.len, &rec, &used), TM_EFORMAT);
  CHECK_CONTAINS(err.msg, "too short");
  /* Sealing may take a message of the full size past TM_MAX_MESSAGE_BYTES. */
  size_t big = TM_MAX_MESSAGE_BYTES + TM_RECORD_SEAL_BYTES;
  char *payload = tm_malloc(big + 1);
  CHECK(payload != NULL);
  memset(payload, 'x', big + 1);
  tm_recbuf_free(&log);
  CHECK_EQ_INT(tm_record_encode(&err, &log, 1, flags, payload, big), TM_OK);
  CHECK_EQ_INT(tm_record_decode(&err, log.data, log.len, &rec, &used), TM_OK);
  CHECK(used == log.len);
  CHECK_EQ_INT(tm_record_encode(&err, &log, 2, flags, payload, big + 1), TM_ERANGE);
  CHECK_EQ_INT(tm_record_encode(&err, &log, 2, TM_RECORD_F_MESSAGE, payload,
                                TM_MAX_MESSAGE_BYTES + 1),
               TM_ERANGE);
  tm_free(payload);
  tm_recbuf_free(&bad);
  tm_recbuf_free(&log);
  tm_base_free(&err);
}

TEST(log_scan_hands_back_sealed_payloads_and_refuses_the_other_kind) {
  tm_ctx *ctx = tm_ctx_new();
  const char *texts[] = {"{\"role\":\"user\",\"text\":\"a\"}", "{\"role\":\"user\",\"text\":\"bc\"}"};
  uint8_t sealed[2][128];
  size_t lens[2];
  tm_recbuf log = {0};
  for (int i = 0; i < 2; i++) {
    lens[i] = fake_seal(texts[i], sealed[i]);
    unsigned char *rec = NULL;
    size_t n = 0;
    CHECK_EQ_INT(tm_log_frame_sealed(ctx, 7 + i, sealed[i], lens[i], &rec, &n), TM_OK);
    uint8_t *d = tm_realloc(log.data, log.len + n);
    CHECK(d != NULL);
    memcpy(d + log.len, rec, n);
    log.data = d;
    log.len += n;
    tm_free(rec);
  }
  char *scan = NULL;
  CHECK_EQ_INT(tm_log_scan(ctx, log.data, log.len, 0, &scan), TM_ESEALED);
  CHECK(scan == NULL);
  CHECK_CONTAINS(tm_errmsg(ctx), "record 7 is encrypted");
  CHECK_EQ_INT(tm_log_scan(ctx, log.data, log.len, 2, &scan), TM_EINVAL);
  CHECK_EQ_INT(tm_log_scan(ctx, log.data, log.len, TM_LOG_SEALED, &scan), TM_OK);
  char want[128];
  snprintf(want, sizeof want, "\"sealed\":[[%u,%zu],[%zu,%zu]]", TM_RECORD_HEADER_BYTES,
           lens[0], 2 * TM_RECORD_HEADER_BYTES + lens[0], lens[1]);
  CHECK_CONTAINS(scan, want);
  CHECK_CONTAINS(scan, "\"messages\":[]");
  CHECK_CONTAINS(scan, "\"first_seq\":7");
  CHECK_CONTAINS(scan, "\"last_seq\":8");
  tm_free(scan);
  /* The payload a scan points at is what was framed. */
  CHECK(memcmp(log.data + TM_RECORD_HEADER_BYTES, sealed[0], lens[0]) == 0);
  /* A plaintext record among them, or a plaintext log, with a key. */
  unsigned char *plain = NULL;
  size_t plain_len = 0;
  char *canon = NULL;
  CHECK_EQ_INT(tm_log_encode(ctx, "[{\"role\":\"user\",\"text\":\"p\"}]", 9, &plain, &plain_len,
                             &canon),
               TM_OK);
  uint8_t *d = tm_realloc(log.data, log.len + plain_len);
  CHECK(d != NULL);
  memcpy(d + log.len, plain, plain_len);
  log.data = d;
  CHECK_EQ_INT(tm_log_scan(ctx, log.data, log.len + plain_len, TM_LOG_SEALED, &scan), TM_EPLAIN);
  CHECK_EQ_INT(tm_log_scan(ctx, plain, plain_len, TM_LOG_SEALED, &scan), TM_EPLAIN);
  CHECK_CONTAINS(tm_errmsg(ctx), "not encrypted");
  tm_free(plain);
  CHECK_EQ_INT(tm_log_frame_sealed(ctx, 1, sealed[0], TM_RECORD_SEAL_BYTES - 1, &plain, &plain_len),
               TM_EINVAL);
  CHECK_EQ_INT(tm_log_frame_sealed(ctx, -1, sealed[0], lens[0], &plain, &plain_len), TM_EINVAL);
  CHECK(plain == NULL);
  tm_free(canon);
  tm_recbuf_free(&log);
  tm_ctx_free(ctx);
}

TEST(log_stamp_and_read_unsealed_round_trip_as_messages) {
  tm_ctx *ctx = tm_ctx_new();
  char *texts = NULL;
  CHECK_EQ_INT(tm_log_stamp(ctx, "[{\"role\":\"user\",\"text\":\"hi\"},"
                                 "{\"role\":\"assistant\",\"text\":\"yo\",\"message_id\":\"m2\"}]",
                            &texts),
               TM_OK);
  cJSON *arr = cJSON_Parse(texts);
  tm_free(texts);
  CHECK(cJSON_GetArraySize(arr) == 2);
  const char *one = cJSON_GetArrayItem(arr, 0)->valuestring;
  const char *two = cJSON_GetArrayItem(arr, 1)->valuestring;
  CHECK_CONTAINS(one, "\"created_at\":\"2026-01-01T00:00:00.000Z\"");
  CHECK_CONTAINS(two, "\"message_id\":\"m2\"");
  size_t n1 = strlen(one), n2 = strlen(two);
  unsigned char *buf = tm_malloc(n1 + n2);
  CHECK(buf != NULL);
  memcpy(buf, one, n1);
  memcpy(buf + n1, two, n2);
  uint32_t lens[2] = {(uint32_t)n1, (uint32_t)n2};
  char *msgs = NULL;
  CHECK_EQ_INT(tm_log_read_unsealed(ctx, buf, n1 + n2, lens, 2, 3, &msgs), TM_OK);
  cJSON *got = cJSON_Parse(msgs);
  CHECK(cJSON_GetArraySize(got) == 2);
  cJSON *want = cJSON_Parse(one);
  CHECK(cJSON_Compare(cJSON_GetArrayItem(got, 0), want, 1));
  cJSON_Delete(want);
  cJSON_Delete(got);
  tm_free(msgs);
  /* Lengths that do not cover the bytes, or a payload that is no message. */
  uint32_t wrong[2] = {(uint32_t)n1, (uint32_t)n2 - 1};
  CHECK_EQ_INT(tm_log_read_unsealed(ctx, buf, n1 + n2, wrong, 2, 3, &msgs), TM_EINVAL);
  wrong[1] = (uint32_t)n2 + 1;
  CHECK_EQ_INT(tm_log_read_unsealed(ctx, buf, n1 + n2, wrong, 2, 3, &msgs), TM_EINVAL);
  buf[0] = '[';
  CHECK_EQ_INT(tm_log_read_unsealed(ctx, buf, n1 + n2, lens, 2, 3, &msgs), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(ctx), "record 3");
  CHECK(msgs == NULL);
  CHECK_EQ_INT(tm_log_read_unsealed(ctx, buf, 0, lens, 0, 1, &msgs), TM_OK);
  CHECK_STR(msgs, "[]");
  tm_free(msgs);
  CHECK_EQ_INT(tm_log_stamp(ctx, "[{\"role\":7}]", &texts), TM_EFORMAT);
  tm_free(buf);
  cJSON_Delete(arr);
  tm_ctx_free(ctx);
}

int main(void) {
  test_init();
  hn_reset();
  RUN(crc32_matches_the_standard_check_value);
  RUN(encode_then_decode_round_trips);
  RUN(encode_rejects_bad_input_and_leaves_the_batch_unchanged);
  RUN(scan_reads_every_record_in_order);
  RUN(scan_reports_a_torn_tail_at_every_cut);
  RUN(scan_reports_a_corrupt_last_record);
  RUN(damage_before_a_valid_record_is_an_error_not_a_cut);
  RUN(sequence_gaps_and_repeats_are_format_errors);
  RUN(decode_rejects_other_versions_and_flags);
  RUN(a_callback_error_stops_the_scan);
  RUN(log_encode_stamps_and_scan_reads_back);
  RUN(log_scan_rejects_a_record_that_is_not_a_message);
  RUN(encrypted_records_need_a_whole_envelope);
  RUN(log_scan_hands_back_sealed_payloads_and_refuses_the_other_kind);
  RUN(log_stamp_and_read_unsealed_round_trip_as_messages);
  return test_summary();
}
