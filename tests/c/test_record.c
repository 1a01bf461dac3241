/* The persistent record layout (src/record.h): encoding, checksums and the
 * recovery scan over torn, corrupted and truncated logs. */
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
  CHECK_EQ_INT(tm_log_scan(ctx, bytes, n, &scan), TM_OK);
  CHECK_CONTAINS(scan, "\"count\":2");
  CHECK_CONTAINS(scan, "\"first_seq\":5");
  CHECK_CONTAINS(scan, "\"last_seq\":6");
  CHECK_CONTAINS(scan, "\"tail\":\"clean\"");
  CHECK_CONTAINS(scan, "\"text\":\"yo\"");
  tm_free(scan);
  CHECK_EQ_INT(tm_log_scan(ctx, bytes, n - 1, &scan), TM_OK);
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
  CHECK_EQ_INT(tm_log_scan(ctx, log.data, log.len, &scan), TM_EFORMAT);
  CHECK(scan == NULL);
  tm_recbuf_free(&log);
  CHECK_EQ_INT(tm_record_encode(&err, &log, 1, TM_RECORD_F_MESSAGE, "{\"role\":1}", 10),
               TM_OK);
  CHECK_EQ_INT(tm_log_scan(ctx, log.data, log.len, &scan), TM_EFORMAT);
  tm_recbuf_free(&log);
  tm_base_free(&err);
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
  return test_summary();
}
