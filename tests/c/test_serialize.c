/*
 * Serialization in Agent Framework's shapes: the hand-written fixtures in
 * tests/fixtures/af (good ones normalize to their .normalized.json, bad ones
 * fail with their code and path), store round trips, thread state building,
 * and allocation failure in each.
 */
#include "host_native.h"
#include "store.h"
#include "test.h"

#ifndef TM_FIXTURES_DIR
/* This file is tests/c/test_serialize.c; the fixtures are tests/fixtures/af. */
static char fixtures_dir[1024];
static const char *fixture_dir(void) {
  if (!fixtures_dir[0]) {
    const char *f = __FILE__;
    const char *cut = strstr(f, "c/test_serialize.c");
    size_t n = cut ? (size_t)(cut - f) : 0;
    snprintf(fixtures_dir, sizeof fixtures_dir, "%.*sfixtures/af/", (int)n, f);
  }
  return fixtures_dir;
}
#else
static const char *fixture_dir(void) { return TM_FIXTURES_DIR "/af/"; }
#endif

/* The fixture's text (malloc'd, trailing newline removed), or NULL. */
static char *fixture(const char *name) {
  char path[1200];
  snprintf(path, sizeof path, "%s%s", fixture_dir(), name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open fixture %s\n", path);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  size_t got = fread(s, 1, (size_t)n, f);
  fclose(f);
  while (got > 0 && (s[got - 1] == '\n' || s[got - 1] == '\r')) got--;
  s[got] = '\0';
  return s;
}

static const char *const good_fixtures[] = {
    "compact",   "every_null",      "plain_roles", "tool_calls", "service_thread",
    "service_thread_empty_store", "empty", "store_reference",
};

TEST(good_fixtures_normalize) {
  for (size_t i = 0; i < sizeof good_fixtures / sizeof good_fixtures[0]; i++) {
    char in_name[128], want_name[128];
    snprintf(in_name, sizeof in_name, "%s.json", good_fixtures[i]);
    snprintf(want_name, sizeof want_name, "%s.normalized.json", good_fixtures[i]);
    char *in = fixture(in_name), *want = fixture(want_name);
    CHECK(in && want);
    if (!in || !want) {
      free(in);
      free(want);
      continue;
    }
    tm_ctx *ctx = tm_ctx_new();
    char *out = NULL, *again = NULL;
    int rc = tm_thread_state_normalize(ctx, in, &out);
    if (rc) fprintf(stderr, "%s: %s\n", in_name, tm_errmsg(ctx));
    CHECK_EQ_INT(rc, TM_OK);
    CHECK_STR(out, want);
    /* The canonical form is a fixed point. */
    if (out) {
      CHECK_EQ_INT(tm_thread_state_normalize(ctx, out, &again), TM_OK);
      CHECK_STR(again, out);
    }
    tm_free(out);
    tm_free(again);
    tm_ctx_free(ctx);
    free(in);
    free(want);
  }
}

TEST(bad_fixtures_fail_with_their_path) {
  static const struct {
    const char *name;
    int code;
    const char *msg;
  } bad[] = {
      {"bad_both.json", TM_ESTATE, "thread state has both service_thread_id and messages"},
      {"bad_content_type.json", TM_EFORMAT,
       "chat_message_store_state.messages[12].contents[0].type: unknown content type "
       "\"hosted_file\""},
      {"bad_type_tag.json", TM_EFORMAT, "type: expected \"agent_thread_state\""},
      {"bad_role_type.json", TM_EFORMAT, "chat_message_store_state.messages[1].role: expected"},
      {"bad_json.json", TM_EPARSE, "thread state: invalid JSON at byte"},
      {"bad_messages_not_array.json", TM_EFORMAT,
       "chat_message_store_state.messages: expected an array of messages"},
      {"bad_service_id_type.json", TM_EFORMAT, "service_thread_id: expected a string"},
      {"bad_message_type_tag.json", TM_EFORMAT,
       "chat_message_store_state.messages[2].type: expected \"chat_message\""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *in = fixture(bad[i].name);
    CHECK(in != NULL);
    if (!in) continue;
    tm_ctx *ctx = tm_ctx_new();
    char *out = (char *)"x";
    int rc = tm_thread_state_normalize(ctx, in, &out);
    if (rc != bad[i].code) fprintf(stderr, "%s: %s\n", bad[i].name, tm_errmsg(ctx));
    CHECK_EQ_INT(rc, bad[i].code);
    CHECK(out == NULL);
    CHECK_CONTAINS(tm_errmsg(ctx), bad[i].msg);
    if (rc == TM_OK) tm_free(out);
    tm_ctx_free(ctx);
    free(in);
  }
}

static int normalize_is(const char *in, int code, const char *want, int line) {
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL;
  int rc = tm_thread_state_normalize(ctx, in, &out);
  const char *got = rc == TM_OK ? out : tm_errmsg(ctx);
  int ok = rc == code && got && strstr(got, want) != NULL;
  if (!ok)
    fprintf(stderr, "line %d: %s \"%s\", want %s \"%s\"\n", line, tm_code_name(rc), got,
            tm_code_name(code), want);
  tm_free(out);
  tm_ctx_free(ctx);
  return ok;
}
#define NORMALIZE_IS(in, code, want) CHECK(normalize_is(in, code, want, __LINE__))

TEST(thread_state_edges) {
  NORMALIZE_IS("{}", TM_OK, "{}");
  NORMALIZE_IS("[]", TM_EFORMAT, "thread state: expected an object");
  NORMALIZE_IS("{\"type\":null}", TM_OK, "{}");
  NORMALIZE_IS("{\"chat_message_store_state\":{}}", TM_OK,
               "{\"chat_message_store_state\":{\"type\":\"chat_message_store_state\","
               "\"messages\":[]}}");
  NORMALIZE_IS("{\"chat_message_store_state\":{\"messages\":null}}", TM_OK,
               "{\"chat_message_store_state\":{\"type\":\"chat_message_store_state\","
               "\"messages\":[]}}");
  NORMALIZE_IS("{\"chat_message_store_state\":7}", TM_EFORMAT,
               "chat_message_store_state: expected an object");
  /* A custom store's own state is kept as it is. */
  NORMALIZE_IS("{\"chat_message_store_state\":{\"type\":\"my_store\",\"rows\":[1,null]}}", TM_OK,
               "{\"chat_message_store_state\":{\"type\":\"my_store\",\"rows\":[1,null]}}");
  NORMALIZE_IS("{\"chat_message_store_state\":{\"key\":\"k\"}}", TM_OK,
               "{\"chat_message_store_state\":{\"key\":\"k\"}}");
  NORMALIZE_IS("{\"service_thread_id\":\"t\",\"chat_message_store_state\":{\"key\":\"k\"}}",
               TM_ESTATE, "both service_thread_id and messages");
  NORMALIZE_IS("{\"chat_message_store_state\":{\"key\":\"\xFF\"}}", TM_EFORMAT,
               "chat_message_store_state: a string is not valid UTF-8");
  NORMALIZE_IS("{\"service_thread_id\":\"t\",\"store_reference\":{}}", TM_ESTATE,
               "both service_thread_id and store_reference");
  NORMALIZE_IS("{\"store_reference\":[]}", TM_EFORMAT, "store_reference: expected an object");
  NORMALIZE_IS("{\"store_reference\":{\"k\":\"\xC3\"}}", TM_EFORMAT,
               "store_reference: a string is not valid UTF-8");
  NORMALIZE_IS("{\"service_thread_id\":\"\xFF\"}", TM_EFORMAT,
               "service_thread_id: not valid UTF-8");
  NORMALIZE_IS("{\"type\":\"agent_thread_state\",\"chat_message_store_state\":"
               "{\"type\":\"chat_message_store_state\",\"messages\":[{\"role\":\"user\"}]},"
               "\"store_reference\":{\"kind\":\"file\"}}",
               TM_OK, "\"messages\":[{\"type\":\"chat_message\"");
  char id[TM_MAX_ID_BYTES + 64];
  snprintf(id, sizeof id, "{\"service_thread_id\":\"%0*d\"}", TM_MAX_ID_BYTES + 1, 0);
  NORMALIZE_IS(id, TM_ERANGE, "service_thread_id: longer than the limit of 256 bytes");
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL;
  CHECK_EQ_INT(tm_thread_state_normalize(ctx, NULL, &out), TM_EINVAL);
  CHECK_EQ_INT(tm_thread_state_normalize(ctx, "{}", NULL), TM_EINVAL);
  CHECK_EQ_INT(tm_thread_state_normalize(NULL, "{}", &out), TM_EINVAL);
  tm_ctx_free(ctx);
}

TEST(build_thread_state) {
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL;
  CHECK_EQ_INT(tm_thread_state_build(ctx, NULL, NULL, &out), TM_OK);
  CHECK_STR(out, "{\"type\":\"agent_thread_state\"}");
  tm_free(out);
  CHECK_EQ_INT(tm_thread_state_build(ctx, "thread_1", NULL, &out), TM_OK);
  CHECK_STR(out, "{\"type\":\"agent_thread_state\",\"service_thread_id\":\"thread_1\"}");
  tm_free(out);
  CHECK_EQ_INT(tm_thread_state_build(ctx, NULL, " {\"x\": [1, {\"y\": null}]} ", &out), TM_OK);
  CHECK_STR(out, "{\"type\":\"agent_thread_state\",\"chat_message_store_state\":"
                 "{\"x\":[1,{\"y\":null}]}}");
  tm_free(out);
  CHECK_EQ_INT(tm_thread_state_build(ctx, "t", "{}", &out), TM_ESTATE);
  CHECK(out == NULL);
  CHECK_EQ_INT(tm_thread_state_build(ctx, NULL, "[1]", &out), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(ctx), "chat_message_store_state: expected an object");
  CHECK_EQ_INT(tm_thread_state_build(ctx, NULL, "{", &out), TM_EPARSE);
  CHECK_CONTAINS(tm_errmsg(ctx), "store state: invalid JSON at byte 1");
  CHECK_EQ_INT(tm_thread_state_build(ctx, NULL, "{\"a\":\"\xFF\"}", &out), TM_EFORMAT);
  CHECK_EQ_INT(tm_thread_state_build(ctx, "\xFF", NULL, &out), TM_EINVAL);
  char id[TM_MAX_ID_BYTES + 2];
  memset(id, 'x', sizeof id - 1);
  id[sizeof id - 1] = '\0';
  CHECK_EQ_INT(tm_thread_state_build(ctx, id, NULL, &out), TM_ERANGE);
  CHECK_EQ_INT(tm_thread_state_build(ctx, NULL, NULL, NULL), TM_EINVAL);
  CHECK_EQ_INT(tm_thread_state_build(NULL, NULL, NULL, &out), TM_EINVAL);
  tm_ctx_free(ctx);
}

TEST(store_serialize_and_load) {
  tm_store *s = tm_store_new(0);
  char *out = NULL;
  CHECK_EQ_INT(tm_store_serialize(s, &out), TM_OK);
  CHECK_STR(out, "{\"type\":\"chat_message_store_state\",\"messages\":[]}");
  tm_free(out);

  /* Every accepted shape of a store state. */
  static const struct {
    const char *in;
    size_t count;
  } good[] = {
      {"{\"type\":\"chat_message_store_state\",\"messages\":[{\"role\":\"user\",\"text\":\"a\"}]}",
       1},
      {"{\"messages\":[{\"role\":\"user\"},{\"role\":\"assistant\"}]}", 2},
      {"{}", 0},
      {"{\"type\":null,\"messages\":null}", 0},
      {"{\"type\":\"chat_message_store_state\",\"messages\":[{\"type\":\"chat_message\",\"role\":"
       "{\"type\":\"role\",\"value\":\"user\"},\"contents\":[{\"type\":\"text\",\"text\":\"x\","
       "\"annotations\":null,\"additional_properties\":null,\"raw_representation\":null}],"
       "\"author_name\":null,\"message_id\":null,\"additional_properties\":null,"
       "\"raw_representation\":null}]}",
       1},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    CHECK_EQ_INT(tm_store_add(s, "[{\"role\":\"user\",\"text\":\"old\"}]"), TM_OK);
    CHECK_EQ_INT(tm_store_load(s, good[i].in), TM_OK);
    CHECK_EQ_INT(tm_store_count(s), good[i].count);
  }
  /* Loaded messages are stamped like added ones. */
  CHECK_EQ_INT(tm_store_serialize(s, &out), TM_OK);
  CHECK_CONTAINS(out, "\"text\":\"x\"}],\"message_id\":\"");
  CHECK_CONTAINS(out, "\"created_at\":\"2026-01-01T00:00:00.000Z\"}]}");
  tm_free(out);

  static const struct {
    const char *in;
    int code;
    const char *msg;
  } bad[] = {
      {"{\"type\":\"agent_thread_state\"}", TM_EFORMAT,
       "type: expected \"chat_message_store_state\""},
      {"[]", TM_EFORMAT, "chat_message_store_state: expected an object"},
      {"{\"messages\":[{\"role\":\"user\"},{\"role\":[]}]}", TM_EFORMAT,
       "messages[1].role: expected a role name"},
      {"{\"messages\":{}}", TM_EFORMAT, "messages: expected an array of messages"},
      {"{\"messages\":[", TM_EPARSE, "store state: invalid JSON at byte 13"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_EQ_INT(tm_store_load(s, bad[i].in), bad[i].code);
    CHECK_CONTAINS(tm_errmsg(s), bad[i].msg);
    CHECK_EQ_INT(tm_store_count(s), 1); /* unchanged */
  }
  CHECK_EQ_INT(tm_store_load(s, NULL), TM_EINVAL);
  CHECK_EQ_INT(tm_store_load(NULL, "{}"), TM_EINVAL);
  CHECK_EQ_INT(tm_store_serialize(s, NULL), TM_EINVAL);
  CHECK_EQ_INT(tm_store_serialize(NULL, &out), TM_EINVAL);
  tm_store_free(s);
}

TEST(load_respects_max_messages) {
  tm_store *s = tm_store_new(2);
  CHECK_EQ_INT(tm_store_load(s, "{\"messages\":[{\"role\":\"user\",\"text\":\"1\"},"
                                "{\"role\":\"user\",\"text\":\"2\"},"
                                "{\"role\":\"user\",\"text\":\"3\"}]}"),
               TM_OK);
  CHECK_EQ_INT(tm_store_count(s), 2);
  char *out = NULL;
  CHECK_EQ_INT(tm_store_list(s, NULL, &out), TM_OK);
  CHECK_CONTAINS(out, "\"text\":\"2\"");
  CHECK_CONTAINS(out, "\"text\":\"3\"");
  CHECK(strstr(out, "\"text\":\"1\"") == NULL);
  tm_free(out);
  tm_store_free(s);
}

/* A rich thread: every content type, extras at both levels, odd text. */
static const char rich_messages[] =
    "[{\"role\":\"system\",\"text\":\"Be kind.\"},"
    "{\"role\":\"user\",\"contents\":[{\"type\":\"text\",\"text\":\"caf\xC3\xA9 \\\"q\\\" \\n\\t\\u0001 "
    "\xF0\x9F\x98\x80\"},{\"type\":\"data\",\"uri\":\"data:image/png;base64,AAAA\","
    "\"media_type\":\"image/png\"}],\"author_name\":\"al\",\"tags\":[\"x\"]},"
    "{\"role\":\"assistant\",\"contents\":[{\"type\":\"text_reasoning\",\"text\":\"think\"},"
    "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":{\"n\":1.5e300,"
    "\"i\":-7,\"big\":12345678901234567890,\"s\":\"\"}}],\"additional_properties\":{\"k\":null}},"
    "{\"role\":\"tool\",\"contents\":[{\"type\":\"function_result\",\"call_id\":\"c1\","
    "\"result\":[0.1,true,false,null,{}],\"x\":1}],\"created_at\":1709210096789},"
    "{\"role\":\"assistant\",\"contents\":[{\"type\":\"uri\",\"uri\":\"https://x.test/\"}],"
    "\"message_id\":\"given\",\"created_at\":\"2020-01-01T00:00:00Z\"}]";

TEST(round_trips_are_byte_identical) {
  tm_store *a = tm_store_new(0), *b = tm_store_new(0);
  CHECK_EQ_INT(tm_store_add(a, rich_messages), TM_OK);
  char *s1 = NULL, *s2 = NULL, *s3 = NULL;
  CHECK_EQ_INT(tm_store_serialize(a, &s1), TM_OK);
  CHECK_EQ_INT(tm_store_load(b, s1), TM_OK);
  CHECK_EQ_INT(tm_store_serialize(b, &s2), TM_OK);
  CHECK_STR(s2, s1);
  /* Loading its own state back into a store changes nothing either. */
  CHECK_EQ_INT(tm_store_load(b, s2), TM_OK);
  CHECK_EQ_INT(tm_store_serialize(b, &s3), TM_OK);
  CHECK_STR(s3, s1);
  tm_free(s3);

  /* Through a thread state: build, normalize, load. */
  tm_ctx *ctx = tm_ctx_new();
  char *thread = NULL, *norm = NULL;
  CHECK_EQ_INT(tm_thread_state_build(ctx, NULL, s1, &thread), TM_OK);
  CHECK_EQ_INT(tm_thread_state_normalize(ctx, thread, &norm), TM_OK);
  cJSON *j = cJSON_Parse(norm);
  char *inner = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "chat_message_store_state"));
  CHECK_STR(inner, s1);
  tm_store *c = tm_store_new(0);
  CHECK_EQ_INT(tm_store_load(c, inner), TM_OK);
  CHECK_EQ_INT(tm_store_serialize(c, &s3), TM_OK);
  CHECK_STR(s3, s1);
  CHECK_EQ_INT(tm_store_count(c), 5);
  tm_free(inner);
  cJSON_Delete(j);
  tm_free(s1);
  tm_free(s2);
  tm_free(s3);
  tm_free(thread);
  tm_free(norm);
  tm_ctx_free(ctx);
  tm_store_free(a);
  tm_store_free(b);
  tm_store_free(c);
}

TEST(fixture_store_states_load) {
  const char *names[] = {"compact.json", "every_null.json", "plain_roles.json", "tool_calls.json"};
  for (size_t i = 0; i < 4; i++) {
    char *in = fixture(names[i]);
    if (!in) {
      CHECK(0);
      continue;
    }
    cJSON *j = cJSON_Parse(in);
    char *state = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "chat_message_store_state"));
    tm_store *s = tm_store_new(0);
    CHECK_EQ_INT(tm_store_load(s, state), TM_OK);
    CHECK(tm_store_count(s) > 0);
    tm_store_free(s);
    tm_free(state);
    cJSON_Delete(j);
    free(in);
  }
}

/* ---- Allocation failure. ---- */

static long pause_injection(void) {
  long n = test_fail_after;
  test_fail_after = -1;
  return n;
}

/* tm_store_load over a store holding two messages: a failure must leave
 * them exactly as they were. */
static int load_under_failure(const char *state) {
  long n = pause_injection();
  tm_store *s = tm_store_new(0);
  tm_store_add(s, "[{\"role\":\"user\",\"text\":\"keep\"},{\"role\":\"assistant\",\"text\":\"me\"}]");
  char *before = NULL, *after = NULL;
  tm_store_serialize(s, &before);
  test_fail_after = n;
  int rc = tm_store_load(s, state);
  pause_injection();
  tm_store_serialize(s, &after);
  if (rc != TM_OK) CHECK_STR(after, before);
  else CHECK(strstr(after, "keep") == NULL);
  tm_free(before);
  tm_free(after);
  tm_store_free(s);
  return rc;
}

static int serialize_under_failure(void) {
  long n = pause_injection();
  tm_store *s = tm_store_new(0);
  tm_store_add(s, rich_messages);
  char *out = NULL;
  test_fail_after = n;
  int rc = tm_store_serialize(s, &out);
  pause_injection();
  CHECK(rc == TM_OK ? out != NULL : out == NULL);
  tm_free(out);
  tm_store_free(s);
  return rc;
}

TEST(allocation_failures) {
  CHECK_OOM_SAFE(load_under_failure("{\"type\":\"chat_message_store_state\",\"messages\":"
                                    "[{\"role\":\"user\",\"text\":\"new\",\"z\":[1]}]}"),
                 (void)0);
  tm_store *s = tm_store_new(0);
  CHECK_EQ_INT(tm_store_add(s, rich_messages), TM_OK);
  char *rich_state = NULL;
  CHECK_EQ_INT(tm_store_serialize(s, &rich_state), TM_OK);
  tm_store_free(s);
  CHECK_OOM_SAFE(load_under_failure(rich_state), (void)0);
  CHECK_OOM_SAFE(serialize_under_failure(), (void)0);

  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL;
  for (size_t i = 0; i < sizeof good_fixtures / sizeof good_fixtures[0]; i++) {
    char name[128];
    snprintf(name, sizeof name, "%s.json", good_fixtures[i]);
    char *in = fixture(name);
    if (!in) continue;
    CHECK_OOM_SAFE(tm_thread_state_normalize(ctx, in, &out), tm_free(out));
    free(in);
  }
  CHECK_OOM_SAFE(tm_thread_state_build(ctx, NULL, rich_state, &out), tm_free(out));
  CHECK_OOM_SAFE(tm_thread_state_build(ctx, "thread_1", NULL, &out), tm_free(out));
  CHECK_OOM_SAFE(tm_new_id(ctx, &out), tm_free(out));
  tm_ctx_free(ctx);
  tm_free(rich_state);
  tm_ctx *c2 = NULL;
  CHECK_OOM_SAFE((c2 = tm_ctx_new()) ? TM_OK : TM_ENOMEM, tm_ctx_free(c2));
}

int main(void) {
  test_init();
  hn_reset();
  RUN(good_fixtures_normalize);
  RUN(bad_fixtures_fail_with_their_path);
  RUN(thread_state_edges);
  RUN(build_thread_state);
  RUN(store_serialize_and_load);
  RUN(load_respects_max_messages);
  RUN(round_trips_are_byte_identical);
  RUN(fixture_store_states_load);
  RUN(allocation_failures);
  return test_summary();
}
