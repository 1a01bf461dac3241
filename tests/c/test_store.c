/*
 * The in-memory store: adding (lenient, all or nothing, stamped), listing
 * with queries, eviction, clearing, the internal append, and allocation
 * failure at every step.
 */
#include "host_native.h"
#include "store.h"
#include "test.h"

/* The store's messages as a JSON array (NULL on failure; free it). */
static char *list(tm_store *s, const char *query) {
  char *out = NULL;
  if (tm_store_list(s, query, &out) != TM_OK) {
    fprintf(stderr, "list %s: %s\n", query ? query : "(all)", tm_errmsg(s));
    return NULL;
  }
  return out;
}

/* The texts of a JSON array of messages joined with ",", e.g. "a,b,c". */
static void texts(const char *json, char *dst, size_t n) {
  cJSON *arr = cJSON_Parse(json);
  size_t o = 0;
  dst[0] = '\0';
  for (cJSON *m = arr ? arr->child : NULL; m; m = m->next) {
    cJSON *c = cJSON_GetObjectItem(m, "contents");
    cJSON *t = c && c->child ? cJSON_GetObjectItem(c->child, "text") : NULL;
    o += (size_t)snprintf(dst + o, n - o, "%s%s", o ? "," : "", t ? t->valuestring : "?");
  }
  cJSON_Delete(arr);
}

static int list_is(tm_store *s, const char *query, const char *want, int line) {
  char *out = list(s, query);
  char got[4096] = "(failed)";
  if (out) texts(out, got, sizeof got);
  tm_free(out);
  if (strcmp(got, want) != 0) {
    fprintf(stderr, "line %d: list %s gave \"%s\", want \"%s\"\n", line, query ? query : "(all)",
            got, want);
    return 0;
  }
  return 1;
}
#define LIST_IS(s, q, want) CHECK(list_is(s, q, want, __LINE__))

/* Adds messages with texts "<prefix>0".."<prefix>n-1" and role `role`. */
static int add_n(tm_store *s, const char *role, const char *prefix, int n) {
  size_t cap = (size_t)n * 64 + 8;
  char *json = malloc(cap);
  size_t o = 0;
  json[o++] = '[';
  for (int i = 0; i < n; i++)
    o += (size_t)snprintf(json + o, cap - o, "%s{\"role\":\"%s\",\"text\":\"%s%d\"}", i ? "," : "",
                          role, prefix, i);
  json[o++] = ']';
  json[o] = '\0';
  int rc = tm_store_add(s, json);
  free(json);
  return rc;
}

TEST(add_count_list_clear) {
  tm_store *s = tm_store_new(0);
  CHECK_EQ_INT(tm_store_count(s), 0);
  LIST_IS(s, NULL, "");
  char *out = list(s, NULL);
  CHECK_STR(out, "[]");
  tm_free(out);
  CHECK_EQ_INT(tm_store_add(s, "[{\"role\":\"user\",\"text\":\"a\"},"
                               "{\"type\":\"chat_message\",\"role\":{\"type\":\"role\",\"value\":"
                               "\"assistant\"},\"contents\":[{\"type\":\"text\",\"text\":\"b\"}],"
                               "\"message_id\":\"keep\",\"created_at\":\"then\"}]"),
               TM_OK);
  CHECK_EQ_INT(tm_store_add(s, "[]"), TM_OK);
  CHECK_EQ_INT(tm_store_count(s), 2);
  LIST_IS(s, NULL, "a,b");
  out = list(s, NULL);
  /* Stamped where missing, kept where given. */
  CHECK_CONTAINS(out, "\"text\":\"a\"}],\"message_id\":\"");
  CHECK_CONTAINS(out, "\"created_at\":\"2026-01-01T00:00:00.000Z\"}");
  CHECK_CONTAINS(out, "\"message_id\":\"keep\",\"created_at\":\"then\"}]");
  tm_free(out);
  tm_store_clear(s);
  CHECK_EQ_INT(tm_store_count(s), 0);
  LIST_IS(s, NULL, "");
  CHECK_EQ_INT(add_n(s, "user", "x", 3), TM_OK);
  LIST_IS(s, NULL, "x0,x1,x2");
  tm_store_free(s);
  tm_store_free(NULL);
  tm_store_clear(NULL);
  CHECK_EQ_INT(tm_store_count(NULL), 0);
}

TEST(add_is_all_or_nothing) {
  tm_store *s = tm_store_new(0);
  CHECK_EQ_INT(add_n(s, "user", "a", 2), TM_OK);
  CHECK_EQ_INT(tm_store_add(s, "[{\"role\":\"user\"},{\"role\":\"user\"},{\"role\":\"ghost\"}]"),
               TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(s), "messages[2].role: unknown role \"ghost\"");
  CHECK_EQ_INT(tm_store_add(s, "[{\"role\":\"user\",\"contents\":[{\"type\":\"video\"}]}]"),
               TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(s), "messages[0].contents[0].type: unknown content type");
  CHECK_EQ_INT(tm_store_add(s, "{\"role\":\"user\"}"), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(s), "messages: expected an array of messages");
  CHECK_EQ_INT(tm_store_add(s, "[{\"role\":\"user\"},]"), TM_EPARSE);
  CHECK_CONTAINS(tm_errmsg(s), "messages: invalid JSON at byte");
  CHECK_EQ_INT(tm_store_add(s, NULL), TM_EINVAL);
  CHECK_EQ_INT(tm_store_add(NULL, "[]"), TM_EINVAL);
  CHECK_EQ_INT(tm_store_count(s), 2);
  LIST_IS(s, NULL, "a0,a1");
  /* The next success clears the error. */
  CHECK_EQ_INT(tm_store_add(s, "[]"), TM_OK);
  CHECK_EQ_INT(tm_errcode(s), TM_OK);
  CHECK_STR(tm_errmsg(s), "");
  tm_store_free(s);
}

TEST(list_queries) {
  tm_store *s = tm_store_new(0);
  CHECK_EQ_INT(tm_store_add(s, "[{\"role\":\"system\",\"text\":\"s\"},"
                               "{\"role\":\"user\",\"text\":\"u1\"},"
                               "{\"role\":\"assistant\",\"text\":\"a1\"},"
                               "{\"role\":\"tool\",\"text\":\"t1\"},"
                               "{\"role\":\"user\",\"text\":\"u2\"},"
                               "{\"role\":\"assistant\",\"text\":\"a2\"}]"),
               TM_OK);
  LIST_IS(s, "{}", "s,u1,a1,t1,u2,a2");
  LIST_IS(s, "null", "s,u1,a1,t1,u2,a2");
  LIST_IS(s, "{\"limit\":2}", "u2,a2");
  LIST_IS(s, "{\"limit\":0}", "");
  LIST_IS(s, "{\"limit\":100}", "s,u1,a1,t1,u2,a2");
  LIST_IS(s, "{\"offset\":2}", "s,u1,a1,t1");
  LIST_IS(s, "{\"offset\":2,\"limit\":2}", "a1,t1");
  LIST_IS(s, "{\"offset\":6}", "");
  LIST_IS(s, "{\"offset\":60,\"limit\":1}", "");
  LIST_IS(s, "{\"roles\":[\"user\"]}", "u1,u2");
  LIST_IS(s, "{\"roles\":[\"user\",\"Assistant\"],\"limit\":3}", "a1,u2,a2");
  LIST_IS(s, "{\"roles\":[\"user\",\"assistant\"],\"offset\":1,\"limit\":2}", "a1,u2");
  LIST_IS(s, "{\"roles\":[],\"limit\":1}", "a2");
  LIST_IS(s, "{\"roles\":null,\"limit\":null,\"offset\":null}", "s,u1,a1,t1,u2,a2");
  LIST_IS(s, "{\"roles\":[\"tool\"]}", "t1");
  LIST_IS(s, "{\"limit\":1e0}", "a2");

  static const struct {
    const char *q;
    int code;
    const char *msg;
  } bad[] = {
      {"{\"limit\":-1}", TM_EINVAL, "query.limit: expected a non-negative integer"},
      {"{\"limit\":1.5}", TM_EINVAL, "query.limit"},
      {"{\"limit\":\"3\"}", TM_EINVAL, "query.limit"},
      {"{\"offset\":-2}", TM_EINVAL, "query.offset"},
      {"{\"offset\":true}", TM_EINVAL, "query.offset"},
      {"{\"roles\":\"user\"}", TM_EINVAL, "query.roles: expected an array"},
      {"{\"roles\":[\"user\",1]}", TM_EINVAL, "query.roles[1]: expected a role name"},
      {"{\"roles\":[\"user\",\"bot\"]}", TM_EFORMAT, "query.roles[1]: unknown role"},
      {"{\"limt\":1}", TM_EINVAL, "query: unknown option"},
      {"[1]", TM_EINVAL, "query: expected an object"},
      {"{\"limit\":", TM_EPARSE, "query: invalid JSON at byte 9"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *out = (char *)"x";
    int rc = tm_store_list(s, bad[i].q, &out);
    CHECK_EQ_INT(rc, bad[i].code);
    CHECK(out == NULL);
    CHECK_CONTAINS(tm_errmsg(s), bad[i].msg);
  }
  char *out = NULL;
  CHECK_EQ_INT(tm_store_list(s, NULL, NULL), TM_EINVAL);
  CHECK_EQ_INT(tm_store_list(NULL, NULL, &out), TM_EINVAL);
  tm_store_free(s);
}

TEST(eviction_keeps_the_newest) {
  tm_store *s = tm_store_new(3);
  for (int i = 0; i < 5; i++) {
    char json[64];
    snprintf(json, sizeof json, "[{\"role\":\"user\",\"text\":\"m%d\"}]", i);
    CHECK_EQ_INT(tm_store_add(s, json), TM_OK);
  }
  CHECK_EQ_INT(tm_store_count(s), 3);
  LIST_IS(s, NULL, "m2,m3,m4");
  /* A batch larger than the store keeps its own newest. */
  CHECK_EQ_INT(add_n(s, "user", "b", 5), TM_OK);
  LIST_IS(s, NULL, "b2,b3,b4");
  CHECK_EQ_INT(add_n(s, "user", "c", 2), TM_OK);
  LIST_IS(s, NULL, "b4,c0,c1");
  tm_store_clear(s);
  CHECK_EQ_INT(add_n(s, "user", "d", 1), TM_OK);
  LIST_IS(s, NULL, "d0");
  tm_store_free(s);
}

/* A long life at max_messages: eviction must not cost O(n) per append (this
 * test would take minutes if it did) and the window must stay right. */
TEST(long_eviction_run) {
  tm_store *s = tm_store_new(1000);
  tm_base b = {0};
  for (int i = 0; i < 200000; i++) {
    tm_msgvec v = {0};
    tm_message m;
    char text[32];
    snprintf(text, sizeof text, "%d", i);
    CHECK_EQ_INT(tm_message_new_text(&b, TM_ROLE_USER, text, &m), TM_OK);
    CHECK_EQ_INT(tm_msgvec_reserve(&b, &v, 1), TM_OK);
    tm_msgvec_push(&v, m);
    if (tm_store_append(s, &b, &v) != TM_OK) CHECK(0);
    CHECK_EQ_INT(v.len, 0);
    tm_msgvec_free(&v);
  }
  CHECK_EQ_INT(tm_store_len(s), 1000);
  char *t = NULL;
  CHECK_EQ_INT(tm_message_text(&b, tm_store_at(s, 0), &t), TM_OK);
  CHECK_STR(t, "199000");
  tm_free(t);
  CHECK_EQ_INT(tm_message_text(&b, tm_store_at(s, 999), &t), TM_OK);
  CHECK_STR(t, "199999");
  tm_free(t);
  CHECK(tm_store_at(s, 1000) == NULL);
  LIST_IS(s, "{\"limit\":2}", "199998,199999");
  tm_store_free(s);
  tm_base_free(&b);
}

TEST(append_takes_ownership) {
  tm_store *s = tm_store_new(0);
  tm_base b = {0};
  tm_msgvec v = {0};
  CHECK_EQ_INT(tm_msgvec_reserve(&b, &v, 3), TM_OK);
  for (int i = 0; i < 3; i++) {
    tm_message m;
    CHECK_EQ_INT(tm_message_new_text(&b, i == 1 ? TM_ROLE_ASSISTANT : TM_ROLE_USER, "x", &m),
                 TM_OK);
    tm_msgvec_push(&v, m);
  }
  CHECK_EQ_INT(tm_store_append(s, &b, &v), TM_OK);
  CHECK_EQ_INT(v.len, 0);
  CHECK_EQ_INT(tm_store_len(s), 3);
  CHECK_EQ_INT(tm_store_at(s, 1)->role, TM_ROLE_ASSISTANT);
  CHECK(cJSON_GetObjectItem(tm_store_at(s, 2)->json, "message_id") != NULL);
  CHECK_EQ_INT(tm_store_append(s, &b, &v), TM_OK); /* empty: nothing */
  CHECK_EQ_INT(tm_store_len(s), 3);

  /* Past TM_MAX_MESSAGES: refused before anything is touched. */
  tm_msgvec huge = {NULL, TM_MAX_MESSAGES - 2, 0};
  CHECK_EQ_INT(tm_store_append(s, &b, &huge), TM_ERANGE);
  CHECK_CONTAINS(tm_errmsg(&b), "limit of 10000000 messages");
  CHECK_EQ_INT(tm_store_len(s), 3);

  /* Replace swaps everything at once. */
  tm_message m;
  CHECK_EQ_INT(tm_message_new_text(&b, TM_ROLE_TOOL, "r", &m), TM_OK);
  tm_msgvec_push(&v, m);
  CHECK_EQ_INT(tm_store_replace(s, &b, &v), TM_OK);
  CHECK_EQ_INT(tm_store_len(s), 1);
  CHECK_EQ_INT(tm_store_at(s, 0)->role, TM_ROLE_TOOL);
  CHECK(tm_store_base(s) == (tm_base *)s);
  tm_msgvec_free(&v);
  tm_base_free(&b);
  tm_store_free(s);
}

/* ---- Allocation failure: every failing call reports TM_ENOMEM, leaks
 *      nothing and leaves the store as it was. ---- */

static long pause_injection(void) {
  long n = test_fail_after;
  test_fail_after = -1;
  return n;
}

/* tm_store_add on a store that already holds messages (max 4, so the add
 * also evicts), checking the store is unchanged after a failure. */
static int add_on_full_store(void) {
  long n = pause_injection();
  tm_store *s = tm_store_new(4);
  add_n(s, "user", "old", 3);
  char *before = list(s, NULL);
  test_fail_after = n;
  int rc = tm_store_add(s, "[{\"role\":\"user\",\"text\":\"n1\",\"x\":{\"y\":[1]}},"
                           "{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\","
                           "\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"{}\"}]}]");
  pause_injection();
  char *after = list(s, NULL);
  if (rc != TM_OK) {
    CHECK_STR(after, before);
  } else {
    char t[256];
    texts(after, t, sizeof t);
    CHECK_STR(t, "old1,old2,n1,?");
  }
  tm_free(before);
  tm_free(after);
  tm_store_free(s);
  return rc;
}

static int list_under_failure(void) {
  long n = pause_injection();
  tm_store *s = tm_store_new(0);
  add_n(s, "user", "m", 5);
  test_fail_after = n;
  char *out = NULL;
  int rc = tm_store_list(s, "{\"limit\":3,\"roles\":[\"user\"]}", &out);
  pause_injection();
  if (rc == TM_OK) {
    char t[256];
    texts(out, t, sizeof t);
    CHECK_STR(t, "m2,m3,m4");
  } else {
    CHECK(out == NULL);
  }
  tm_free(out);
  tm_store_free(s);
  return rc;
}

/* The first append into an empty store grows its array; later ones slide
 * the window; both must fail cleanly. */
static int append_under_failure(size_t preload) {
  long n = pause_injection();
  tm_store *s = tm_store_new(6);
  tm_base b = {0};
  tm_msgvec v = {0};
  for (size_t i = 0; i < preload; i++) add_n(s, "user", "p", 1);
  tm_msgvec_reserve(&b, &v, 3);
  for (int i = 0; i < 3; i++) {
    tm_message m;
    tm_message_new_text(&b, TM_ROLE_USER, "x", &m);
    tm_msgvec_push(&v, m);
  }
  test_fail_after = n;
  int rc = tm_store_append(s, &b, &v);
  pause_injection();
  if (rc == TM_OK) {
    CHECK_EQ_INT(v.len, 0);
    CHECK_EQ_INT(tm_store_len(s), preload + 3 > 6 ? 6 : preload + 3);
  } else {
    CHECK_EQ_INT(v.len, 3);
    CHECK_EQ_INT(tm_store_len(s), preload);
    for (size_t i = 0; i < v.len; i++)
      CHECK(cJSON_GetObjectItem(v.items[i].json, "message_id") == NULL);
  }
  tm_msgvec_free(&v);
  tm_base_free(&b);
  tm_store_free(s);
  return rc;
}

TEST(allocation_failures) {
  CHECK_OOM_SAFE(add_on_full_store(), (void)0);
  CHECK_OOM_SAFE(list_under_failure(), (void)0);
  CHECK_OOM_SAFE(append_under_failure(0), (void)0);
  CHECK_OOM_SAFE(append_under_failure(5), (void)0);
  tm_store *s = NULL;
  CHECK_OOM_SAFE((s = tm_store_new(0)) ? TM_OK : TM_ENOMEM, tm_store_free(s));
}

int main(void) {
  test_init();
  hn_reset();
  RUN(add_count_list_clear);
  RUN(add_is_all_or_nothing);
  RUN(list_queries);
  RUN(eviction_keeps_the_newest);
  RUN(long_eviction_run);
  RUN(append_takes_ownership);
  RUN(allocation_failures);
  return test_summary();
}
