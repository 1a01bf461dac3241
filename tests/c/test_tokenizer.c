/*
 * The tokenizer: known ids in both encodings (taken from js-tiktoken), round
 * trips, special tokens on and off, invalid UTF-8, empty input, long words,
 * bad assets and ids, and allocation failure at every step.
 */
#include "host_native.h"
#include "test.h"
#include "tokenizer.h"

#ifndef TM_VOCAB_DIR
#error "TM_VOCAB_DIR must name the directory of the vocabulary assets"
#endif

/* Reads dist/vocab/<name>.tmv into a tm_malloc'd buffer (NULL on failure). */
static uint8_t *read_asset(const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.tmv", TM_VOCAB_DIR, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s (run scripts/build.sh)\n", path);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = size > 0 ? tm_malloc((size_t)size) : NULL;
  if (data && fread(data, 1, (size_t)size, f) != (size_t)size) {
    tm_free(data);
    data = NULL;
  }
  fclose(f);
  *len = data ? (size_t)size : 0;
  return data;
}

/* Loads encoding `enc` from its asset: TM_ENOMEM when reading it fails. */
static int load(tm_ctx *ctx, int enc) {
  size_t len;
  uint8_t *data = read_asset(tm_encoding_name(enc), &len);
  if (!data) return TM_ENOMEM;
  return tm_encoding_load(ctx, enc, data, len);
}

/* Checks that `text` encodes to `want` (n ids) with encoding `enc`, that it
 * counts as many, and that the ids decode back to `text` when `round_trip`. */
static void check_ids(tm_ctx *ctx, int enc, const char *text, int special, const uint32_t *want,
                      size_t n, int round_trip, int line) {
  uint32_t *ids = NULL;
  size_t n_ids = 0, count = 0;
  int rc = tm_encode(ctx, enc, text, strlen(text), special, &ids, &n_ids);
  CHECK_EQ_INT(rc, TM_OK);
  int same = rc == TM_OK && n_ids == n && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
  if (!same) {
    fprintf(stderr, "line %d: %s ids of \"%s\":", line, tm_encoding_name(enc), text);
    for (size_t i = 0; i < n_ids; i++) fprintf(stderr, " %u", ids[i]);
    fprintf(stderr, "\n");
  }
  CHECK(same);
  if (!special) {
    CHECK_EQ_INT(tm_count(ctx, enc, text, strlen(text), &count), TM_OK);
    CHECK_EQ_INT(count, n);
  }
  if (round_trip && rc == TM_OK) {
    char *back = NULL;
    size_t back_len = 0;
    CHECK_EQ_INT(tm_decode(ctx, enc, ids, n_ids, &back, &back_len), TM_OK);
    CHECK_STR(back, text);
    CHECK_EQ_INT(back_len, strlen(text));
    tm_free(back);
  }
  tm_free(ids);
}

/* Checks that `bad` encodes as `good` does with encoding `enc`. */
static void same_ids(tm_ctx *ctx, int enc, const char *bad, const char *good) {
  uint32_t *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  CHECK_EQ_INT(tm_encode(ctx, enc, bad, strlen(bad), 0, &a, &na), TM_OK);
  CHECK_EQ_INT(tm_encode(ctx, enc, good, strlen(good), 0, &b, &nb), TM_OK);
  CHECK(na == nb && na > 0 && memcmp(a, b, na * sizeof *a) == 0);
  tm_free(a);
  tm_free(b);
}

#define IDS(...) ((const uint32_t[]){__VA_ARGS__})
#define N_IDS(...) (sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))
#define EXPECT(ctx, enc, text, special, ...)                                                       \
  check_ids(ctx, enc, text, special, IDS(__VA_ARGS__), N_IDS(__VA_ARGS__), 1, __LINE__)
#define EXPECT_NO_TRIP(ctx, enc, text, ...)                                                        \
  check_ids(ctx, enc, text, 0, IDS(__VA_ARGS__), N_IDS(__VA_ARGS__), 0, __LINE__)

enum { O200K = TM_ENC_O200K_BASE, CL100K = TM_ENC_CL100K_BASE };

TEST(names_and_numbers) {
  CHECK_EQ_INT(tm_encoding_id("o200k_base"), O200K);
  CHECK_EQ_INT(tm_encoding_id("cl100k_base"), CL100K);
  CHECK_EQ_INT(tm_encoding_id("estimate"), TM_ENC_ESTIMATE);
  CHECK_EQ_INT(tm_encoding_id("gpt2"), -1);
  CHECK_EQ_INT(tm_encoding_id(NULL), -1);
  CHECK_STR(tm_encoding_name(CL100K), "cl100k_base");
  CHECK(tm_encoding_name(TM_ENC_COUNT) == NULL);
  CHECK(tm_encoding_name(-1) == NULL);
  CHECK_EQ_INT(tm_encoding_loaded(O200K), 1);
  CHECK_EQ_INT(tm_encoding_loaded(CL100K), 1);
  CHECK_EQ_INT(tm_encoding_loaded(TM_ENC_ESTIMATE), 1);
  CHECK_EQ_INT(tm_encoding_loaded(7), 0);
}

TEST(known_ids_o200k) {
  tm_ctx *ctx = tm_ctx_new();
  EXPECT(ctx, O200K, "Hello, world!", 0, 13225, 11, 2375, 0);
  EXPECT(ctx, O200K, "I'M here and they'RE not, we'll see", 0, 40, 95346, 2105, 326, 1023, 6, 1099,
         625, 11, 22782, 1921);
  EXPECT(ctx, O200K, "  leading\r\n\r\n  trailing   ", 0, 220, 8117, 1414, 220, 57985, 271);
  EXPECT(ctx, O200K, "12345678 3.14159", 0, 7633, 19354, 4388, 220, 18, 13, 16926, 4621);
  EXPECT(ctx, O200K,
         "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF\xE4\xB8\x96\xE7\x95\x8C "
         "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xD0\xBC\xD0\xB8\xD1\x80 "
         "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7",
         0, 95839, 28428, 14917, 131903, 37934, 60397, 26537);
  EXPECT(ctx, O200K,
         "cafe\xCC\x81 \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7", 0,
         66, 6903, 13430, 61138, 101, 2524, 28823, 102, 2524, 28823, 100);
  tm_ctx_free(ctx);
}

TEST(known_ids_cl100k) {
  tm_ctx *ctx = tm_ctx_new();
  EXPECT(ctx, CL100K, "Hello, world!", 0, 9906, 11, 1917, 0);
  EXPECT(ctx, CL100K, "I'M here and they'RE not, we'll see", 0, 40, 28703, 1618, 323, 814, 95253,
         539, 11, 584, 3358, 1518);
  EXPECT(ctx, CL100K, "  leading\r\n\r\n  trailing   ", 0, 220, 6522, 881, 220, 28848, 262);
  EXPECT(ctx, CL100K, "12345678 3.14159", 0, 4513, 10961, 2495, 220, 18, 13, 9335, 2946);
  EXPECT(ctx, CL100K,
         "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF\xE4\xB8\x96\xE7\x95\x8C "
         "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xD0\xBC\xD0\xB8\xD1\x80 "
         "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7",
         0, 90115, 3574, 244, 98220, 80584, 28089, 8341, 11562, 78746, 24252, 11318, 30925, 22071,
         5821);
  EXPECT(ctx, CL100K,
         "cafe\xCC\x81 \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7", 0,
         936, 1897, 54939, 62904, 101, 378, 235, 9468, 239, 102, 378, 235, 9468, 239, 100);
  tm_ctx_free(ctx);
}

TEST(special_tokens_only_when_asked) {
  tm_ctx *ctx = tm_ctx_new();
  EXPECT(ctx, O200K, "a<|endoftext|>b", 0, 64, 27, 91, 419, 1440, 919, 91, 29, 65);
  EXPECT(ctx, O200K, "a<|endoftext|>b", 1, 64, 199999, 65);
  EXPECT(ctx, O200K, "<|endofprompt|>", 1, 200018);
  EXPECT(ctx, CL100K, "a<|endoftext|>b", 0, 64, 27, 91, 8862, 728, 428, 91, 29, 65);
  EXPECT(ctx, CL100K, "a<|endoftext|>b", 1, 64, 100257, 65);
  EXPECT(ctx, CL100K, "<|endofprompt|>", 1, 100276);
  EXPECT(ctx, CL100K, "<|fim_prefix|><|fim_middle|><|fim_suffix|>", 1, 100258, 100259, 100260);
  /* Counting never recognises them. */
  size_t n = 0;
  CHECK_EQ_INT(tm_count(ctx, CL100K, "<|endoftext|>", 13, &n), TM_OK);
  CHECK(n > 1);
  tm_ctx_free(ctx);
}

TEST(invalid_utf8_reads_as_replacement_characters) {
  tm_ctx *ctx = tm_ctx_new();
  /* U+FFFD alone, then one per maximal subpart of each bad sequence. */
  EXPECT(ctx, O200K, "\xEF\xBF\xBD", 0, 3251);
  EXPECT_NO_TRIP(ctx, O200K, "x\xFFy", 87, 3251, 88);
  EXPECT_NO_TRIP(ctx, O200K, "x\xE3\x81y", 87, 3251, 88);  /* truncated: one */
  EXPECT_NO_TRIP(ctx, O200K, "x\xF0\x80y", 87, 10123, 88); /* F0 80: two */
  same_ids(ctx, O200K, "x\xED\xA0\x80y",
           "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDy"); /* a surrogate */
  same_ids(ctx, CL100K, "\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  same_ids(ctx, CL100K, "ab\xF0\x9F\x98", "ab\xEF\xBF\xBD"); /* cut at the end: one */
  EXPECT_NO_TRIP(ctx, CL100K, "x\xC0\xAFy", 87, 10178, 88);  /* overlong: two */
  EXPECT_NO_TRIP(ctx, CL100K, "x\x80y", 87, 5809, 88);
  tm_ctx_free(ctx);
}

TEST(empty_input) {
  tm_ctx *ctx = tm_ctx_new();
  uint32_t *ids = (uint32_t *)1;
  size_t n = 9;
  CHECK_EQ_INT(tm_encode(ctx, O200K, "", 0, 1, &ids, &n), TM_OK);
  CHECK(ids == NULL);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(tm_encode(ctx, CL100K, NULL, 0, 0, &ids, &n), TM_OK);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(tm_count(ctx, O200K, "", 0, &n), TM_OK);
  CHECK_EQ_INT(n, 0);
  char *out = NULL;
  size_t len = 5;
  CHECK_EQ_INT(tm_decode(ctx, O200K, NULL, 0, &out, &len), TM_OK);
  CHECK_STR(out, "");
  CHECK_EQ_INT(len, 0);
  tm_free(out);
  tm_ctx_free(ctx);
}

/* The count of `len` bytes of `unit` repeated, checked against encode and
 * a round trip. */
static size_t long_word(tm_ctx *ctx, int enc, const char *prefix, const char *unit, size_t times) {
  size_t pl = strlen(prefix), ul = strlen(unit), len = pl + ul * times;
  char *text = malloc(len + 1);
  memcpy(text, prefix, pl);
  for (size_t i = 0; i < times; i++) memcpy(text + pl + i * ul, unit, ul);
  text[len] = '\0';
  uint32_t *ids = NULL;
  size_t n = 0, count = 0;
  CHECK_EQ_INT(tm_encode(ctx, enc, text, len, 0, &ids, &n), TM_OK);
  CHECK_EQ_INT(tm_count(ctx, enc, text, len, &count), TM_OK);
  CHECK_EQ_INT(count, n);
  char *back = NULL;
  size_t back_len = 0;
  CHECK_EQ_INT(tm_decode(ctx, enc, ids, n, &back, &back_len), TM_OK);
  CHECK(back && back_len == len && memcmp(back, text, len) == 0);
  tm_free(back);
  tm_free(ids);
  free(text);
  return n;
}

TEST(long_words) {
  tm_ctx *ctx = tm_ctx_new();
  CHECK_EQ_INT(long_word(ctx, O200K, "", "a", 10000), 1250);
  CHECK_EQ_INT(long_word(ctx, CL100K, "", "a", 10000), 1250);
  CHECK_EQ_INT(long_word(ctx, O200K, "", "ab", 5000), 2500);
  CHECK_EQ_INT(long_word(ctx, CL100K, "", "ab", 5000), 5000);
  CHECK_EQ_INT(long_word(ctx, O200K, " Zebra", "qxz", 3000), 6001);
  CHECK_EQ_INT(long_word(ctx, CL100K, " Zebra", "qxz", 3000), 6002);
  tm_ctx_free(ctx);
}

/* Found by fuzz_tokenizer: merging a piece of exactly TM_BPE_SHORT_PIECE
 * bytes read one token past the end of its stack array. */
TEST(regression_piece_of_the_short_limit) {
  tm_ctx *ctx = tm_ctx_new();
  EXPECT(ctx, O200K, "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr", 0, 176445, 176445, 176445, 176445, 176445,
         176445, 176445, 176445);
  EXPECT(ctx, CL100K, "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr", 0, 637, 637, 637, 637, 637, 637, 637, 637,
         637, 637, 637, 637, 637, 637, 637, 637);
  EXPECT(ctx, O200K, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 0, 92984, 92984, 92984, 92984);
  tm_ctx_free(ctx);
}

TEST(bad_calls) {
  tm_ctx *ctx = tm_ctx_new();
  uint32_t *ids = NULL;
  size_t n = 0;
  char *out = NULL;
  CHECK_EQ_INT(tm_encode(ctx, 9, "a", 1, 0, &ids, &n), TM_EENCODING);
  CHECK_CONTAINS(tm_errmsg(ctx), "unknown encoding");
  CHECK_EQ_INT(tm_encode(ctx, TM_ENC_ESTIMATE, "a", 1, 0, &ids, &n), TM_EENCODING);
  CHECK_EQ_INT(tm_count(ctx, TM_ENC_ESTIMATE, "abcdefgh", 8, &n), TM_OK);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(tm_encode(ctx, O200K, NULL, 3, 0, &ids, &n), TM_EINVAL);
  uint32_t bad[] = {1, 200017};
  CHECK_EQ_INT(tm_decode(ctx, O200K, bad, 2, &out, &n), TM_ERANGE);
  CHECK_CONTAINS(tm_errmsg(ctx), "200017");
  CHECK(out == NULL);
  uint32_t special[] = {100257, 9906};
  CHECK_EQ_INT(tm_decode(ctx, CL100K, special, 2, &out, &n), TM_OK);
  CHECK_STR(out, "<|endoftext|>Hello");
  tm_free(out);
  /* Bad assets; loading an already loaded encoding frees its argument. */
  uint8_t *junk = tm_malloc(64);
  memset(junk, 'x', 64);
  CHECK_EQ_INT(tm_encoding_load(ctx, O200K, junk, 64), TM_OK);
  junk = tm_malloc(64);
  memset(junk, 'x', 64);
  CHECK_EQ_INT(tm_encoding_load(ctx, TM_ENC_ESTIMATE, junk, 64), TM_EENCODING);
  tm_encodings_unload();
  CHECK_EQ_INT(tm_encoding_loaded(O200K), 0);
  CHECK_EQ_INT(tm_count(ctx, O200K, "a", 1, &n), TM_EENCODING);
  CHECK_CONTAINS(tm_errmsg(ctx), "not loaded");
  junk = tm_malloc(64);
  memset(junk, 'x', 64);
  CHECK_EQ_INT(tm_encoding_load(ctx, O200K, junk, 64), TM_EFORMAT);
  size_t len;
  uint8_t *cl = read_asset("cl100k_base", &len);
  CHECK_EQ_INT(tm_encoding_load(ctx, O200K, cl, len), TM_EFORMAT); /* another encoding's */
  cl = read_asset("cl100k_base", &len);
  CHECK_EQ_INT(tm_encoding_load(ctx, CL100K, cl, len - 1), TM_EFORMAT); /* cut short */
  CHECK_EQ_INT(load(ctx, O200K), TM_OK);
  CHECK_EQ_INT(load(ctx, CL100K), TM_OK);
  tm_ctx_free(ctx);
}

TEST(allocation_failures) {
  tm_ctx *ctx = tm_ctx_new();
  tm_encodings_unload();
  CHECK_OOM_SAFE(load(ctx, CL100K), tm_encodings_unload());
  CHECK_EQ_INT(load(ctx, O200K), TM_OK);
  CHECK_EQ_INT(load(ctx, CL100K), TM_OK);
  /* Invalid UTF-8 (a repaired copy), a long piece (scratch), many ids
   * (growth). */
  size_t len = 3000;
  char *text = malloc(len);
  for (size_t i = 0; i < len; i++) text[i] = (char)('a' + (i * 7) % 26);
  text[10] = (char)0xFF;
  memcpy(text + 2000, " 1, 2, 3, 4, 5, 6", 17);
  uint32_t *ids = NULL;
  size_t n = 0;
  CHECK_OOM_SAFE(tm_encode(ctx, O200K, text, len, 1, &ids, &n), tm_free(ids));
  CHECK_OOM_SAFE(tm_count(ctx, CL100K, text, len, &n), (void)0);
  CHECK_EQ_INT(tm_encode(ctx, CL100K, text, len, 0, &ids, &n), TM_OK);
  char *out = NULL;
  size_t out_len;
  CHECK_OOM_SAFE(tm_decode(ctx, CL100K, ids, n, &out, &out_len), tm_free(out));
  tm_free(ids);
  free(text);
  tm_ctx_free(ctx);
}

int main(void) {
  test_init();
  hn_reset();
  tm_ctx *ctx = tm_ctx_new();
  if (!ctx || load(ctx, O200K) != TM_OK || load(ctx, CL100K) != TM_OK) {
    fprintf(stderr, "cannot load the vocabularies: %s\n", ctx ? tm_errmsg(ctx) : "no context");
    return 1;
  }
  tm_ctx_free(ctx);
  RUN(names_and_numbers);
  RUN(known_ids_o200k);
  RUN(known_ids_cl100k);
  RUN(special_tokens_only_when_asked);
  RUN(invalid_utf8_reads_as_replacement_characters);
  RUN(empty_input);
  RUN(long_words);
  RUN(regression_piece_of_the_short_limit);
  RUN(bad_calls);
  RUN(allocation_failures);
  tm_encodings_unload();
  return test_summary();
}
