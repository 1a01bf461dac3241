/*
 * Streamed replies: the chunk accumulator (stream.c) gives the same response
 * as the equivalent non-streamed body, refuses broken streams, and the
 * agent's streamed runs emit their updates and change nothing on failure.
 */
#include <stdbool.h>

#include "cJSON.h"
#include "host_native.h"
#include "stream.h"
#include "test.h"

#define CTX 2u

/* Chunks in OpenAI's chat.completion.chunk shape. */
#define CHUNK(choices) "{\"id\":\"chatcmpl-s1\",\"object\":\"chat.completion.chunk\",\"choices\":[" choices "]}"
#define DELTA(delta, finish) "{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}"
#define USAGE_CHUNK                                                                         \
  "{\"id\":\"chatcmpl-s1\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3," \
  "\"total_tokens\":10}}"

static const char *text_chunks[] = {
    CHUNK(DELTA("{\"role\":\"assistant\",\"content\":\"\"}", "null")),
    CHUNK(DELTA("{\"content\":\"Hel\"}", "null")),
    CHUNK(DELTA("{\"content\":\"lo, \\u00e9t\\u00e9!\"}", "null")),
    CHUNK(DELTA("{}", "\"stop\"")),
    USAGE_CHUNK,
};
static const char *text_body =
    "{\"id\":\"chatcmpl-s1\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":"
    "\"Hello, \\u00e9t\\u00e9!\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":7,"
    "\"completion_tokens\":3,\"total_tokens\":10}}";

static const char *call_chunks[] = {
    CHUNK(DELTA("{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":"
                "\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":"
                "\"\"}}]}",
                "null")),
    CHUNK(DELTA("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]}", "null")),
    CHUNK(DELTA("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\":\\\"Oslo\\\"}\"}}]}",
                "null")),
    CHUNK(DELTA("{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"time\"}}]}",
                "null")),
    CHUNK(DELTA("{}", "\"tool_calls\"")),
    USAGE_CHUNK,
};
static const char *call_body =
    "{\"id\":\"chatcmpl-s1\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,"
    "\"tool_calls\":[{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"weather\","
    "\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}},{\"id\":\"call_b\",\"type\":\"function\","
    "\"function\":{\"name\":\"time\",\"arguments\":\"\"}}]},\"finish_reason\":\"tool_calls\"}],"
    "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}";

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool same_str(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The two responses say the same thing. */
static bool same_response(const tm_chat_response *a, const tm_chat_response *b) {
  if (!same_str(a->content, b->content) || !same_str(a->finish_reason, b->finish_reason) ||
      !same_str(a->id, b->id) || !same_str(a->conversation, b->conversation) ||
      a->n_calls != b->n_calls || a->prompt_tokens != b->prompt_tokens ||
      a->completion_tokens != b->completion_tokens || a->total_tokens != b->total_tokens)
    return false;
  for (size_t i = 0; i < a->n_calls; i++) {
    if (!same_str(a->calls[i].id, b->calls[i].id) || !same_str(a->calls[i].name, b->calls[i].name) ||
        !same_str(a->calls[i].arguments, b->calls[i].arguments) ||
        !a->calls[i].extra != !b->calls[i].extra ||
        (a->calls[i].extra && !cJSON_Compare(a->calls[i].extra, b->calls[i].extra, true)))
      return false;
  }
  return true;
}

/* Feeds every chunk, collecting the deltas, then finishes. */
static int accumulate(tm_base *b, const char **chunks, size_t n, tm_sbuf *deltas,
                      tm_chat_response *out) {
  tm_stream s;
  int rc = TM_OK;
  memset(&s, 0, sizeof s);
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < n && rc == TM_OK; i++) {
    const char *d;
    size_t len;
    rc = tm_stream_feed(b, &s, chunks[i], &d, &len);
    if (rc == TM_OK && len && deltas) rc = tm_sbuf_add(b, deltas, d, len);
  }
  if (rc == TM_OK) rc = tm_stream_finish(b, &s, out);
  tm_stream_free(&s);
  return rc;
}

static void check_same_as_body(const char **chunks, size_t n, const char *body,
                               const char *deltas_expected) {
  tm_base b = {0};
  tm_sbuf deltas = {0};
  tm_chat_response streamed, whole;
  CHECK_EQ_INT(accumulate(&b, chunks, n, &deltas, &streamed), TM_OK);
  CHECK_EQ_INT(tm_chat_parse(&b, body, &whole), TM_OK);
  CHECK(same_response(&streamed, &whole));
  if (deltas_expected) {
    CHECK_STR(deltas.p, deltas_expected);
  } else {
    CHECK(deltas.p == NULL);
  }
  tm_chat_response_free(&streamed);
  tm_chat_response_free(&whole);
  tm_free(deltas.p);
  tm_base_free(&b);
}

TEST(text_reply_equals_the_whole_body) {
  check_same_as_body(text_chunks, COUNT(text_chunks), text_body, "Hello, \xc3\xa9t\xc3\xa9!");
}

TEST(tool_calls_by_index_equal_the_whole_body) {
  check_same_as_body(call_chunks, COUNT(call_chunks), call_body, NULL);
}

/* A whole (non-streamed) body with this message and finish reason. */
#define WHOLE(message, finish) \
  "{\"id\":\"chatcmpl-s1\",\"choices\":[{\"message\":" message ",\"finish_reason\":" finish "}]}"

/* Text as arrays of parts (thinking parts skipped), a streamed refusal and a
 * signed tool call (Gemini's thought signature in extra_content, in its first
 * fragment) say what the same whole bodies say. */
TEST(text_parts_refusals_and_signed_calls_equal_the_whole_body) {
  static const char *parts[] = {
      CHUNK(DELTA("{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":"
                  "[{\"type\":\"text\",\"text\":\"hmm\"}]}]}",
                  "null")),
      CHUNK(DELTA("{\"content\":[{\"type\":\"text\",\"text\":\"Hel\"}]}", "null")),
      CHUNK(DELTA("{\"content\":\"lo!\"}", "\"stop\"")),
  };
  static const char *refusal[] = {
      CHUNK(DELTA("{\"role\":\"assistant\",\"content\":null,\"refusal\":\"I can't\"}", "null")),
      CHUNK(DELTA("{\"refusal\":\" help.\"}", "\"stop\"")),
  };
  static const char *signed_call[] = {
      CHUNK(DELTA("{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"c\","
                  "\"extra_content\":{\"google\":{\"thought_signature\":\"sig\"}},"
                  "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}",
                  "\"tool_calls\"")),
  };
  static const struct {
    const char **chunks;
    size_t n;
    const char *body, *deltas;
  } cases[] = {
      {parts, COUNT(parts),
       WHOLE("{\"content\":[{\"type\":\"text\",\"text\":\"Hello!\"}]}", "\"stop\""), "Hello!"},
      {refusal, COUNT(refusal),
       WHOLE("{\"content\":null,\"refusal\":\"I can't help.\"}", "\"stop\""), "I can't help."},
      {signed_call, COUNT(signed_call),
       WHOLE("{\"content\":null,\"tool_calls\":[{\"id\":\"c\",\"extra_content\":{\"google\":"
             "{\"thought_signature\":\"sig\"}},\"function\":{\"name\":\"f\","
             "\"arguments\":\"{}\"}}]}",
             "\"tool_calls\""),
       NULL},
  };
  for (size_t i = 0; i < COUNT(cases); i++)
    check_same_as_body(cases[i].chunks, cases[i].n, cases[i].body, cases[i].deltas);
}

TEST(each_feed_returns_only_its_own_text) {
  tm_base b = {0};
  tm_stream s;
  const char *d;
  size_t n;
  memset(&s, 0, sizeof s);
  CHECK_EQ_INT(tm_stream_feed(&b, &s, text_chunks[0], &d, &n), TM_OK);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(tm_stream_feed(&b, &s, text_chunks[1], &d, &n), TM_OK);
  CHECK_EQ_INT(n, 3);
  CHECK_STR(d, "Hel");
  CHECK_EQ_INT(tm_stream_feed(&b, &s, text_chunks[2], &d, &n), TM_OK);
  CHECK_STR(d, "lo, \xc3\xa9t\xc3\xa9!");
  CHECK_EQ_INT(n, strlen("lo, \xc3\xa9t\xc3\xa9!"));
  /* Choices other than 0 are not the agent's. */
  CHECK_EQ_INT(tm_stream_feed(&b, &s, CHUNK("{\"index\":1,\"delta\":{\"content\":\"other\"}}"), &d, &n),
               TM_OK);
  CHECK_EQ_INT(n, 0);
  tm_stream_free(&s);
  tm_base_free(&b);
}

TEST(calls_without_index_are_whole_calls) {
  static const char *chunks[] = {
      CHUNK(DELTA("{\"tool_calls\":[{\"id\":\"c1\",\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}}]}",
                  "null")),
      CHUNK(DELTA("{\"tool_calls\":[{\"id\":\"c2\",\"function\":{\"name\":\"b\",\"arguments\":\"{\\\"x\\\"\"}}]}",
                  "null")),
      CHUNK(DELTA("{\"tool_calls\":[{\"function\":{\"arguments\":\":1}\"}}]}", "\"tool_calls\"")),
  };
  tm_base b = {0};
  tm_chat_response r;
  CHECK_EQ_INT(accumulate(&b, chunks, COUNT(chunks), NULL, &r), TM_OK);
  CHECK_EQ_INT(r.n_calls, 2);
  if (r.n_calls == 2) {
    CHECK_STR(r.calls[0].arguments, "{}");
    CHECK_STR(r.calls[1].id, "c2");
    CHECK_STR(r.calls[1].arguments, "{\"x\":1}");
  }
  CHECK(r.content == NULL);
  tm_chat_response_free(&r);
  tm_base_free(&b);
}

/* The code a chunk sequence fails with, and its message in *msg. */
static int failure_of(const char **chunks, size_t n, char *msg, size_t cap) {
  tm_base b = {0};
  tm_chat_response r;
  int rc = accumulate(&b, chunks, n, NULL, &r);
  snprintf(msg, cap, "%s", tm_errmsg(&b));
  if (rc != TM_OK) CHECK(r.content == NULL && r.calls == NULL && r.id == NULL);
  tm_chat_response_free(&r);
  tm_base_free(&b);
  return rc;
}

TEST(broken_streams_are_refused) {
  char msg[512];
  /* Cut before the model finished. */
  CHECK_EQ_INT(failure_of(text_chunks, 3, msg, sizeof msg), TM_ERESPONSE);
  CHECK_CONTAINS(msg, "without a finish_reason");
  CHECK_EQ_INT(failure_of(NULL, 0, msg, sizeof msg), TM_ERESPONSE);

  static const char *not_json[] = {CHUNK(DELTA("{\"content\":\"a\"}", "null")), "{\"choices\":[{\"del"};
  CHECK_EQ_INT(failure_of(not_json, 2, msg, sizeof msg), TM_ERESPONSE);
  CHECK_CONTAINS(msg, "stream chunk");

  static const char *error[] = {"{\"error\":{\"message\":\"overloaded\"}}"};
  CHECK_EQ_INT(failure_of(error, 1, msg, sizeof msg), TM_ERESPONSE);
  CHECK_CONTAINS(msg, "overloaded");

  static const char *not_object[] = {"[1,2]"};
  CHECK_EQ_INT(failure_of(not_object, 1, msg, sizeof msg), TM_ERESPONSE);

  static const char *bad_content[] = {CHUNK(DELTA("{\"content\":5}", "null"))};
  CHECK_EQ_INT(failure_of(bad_content, 1, msg, sizeof msg), TM_ERESPONSE);

  static const char *huge_index[] = {
      CHUNK(DELTA("{\"tool_calls\":[{\"index\":1e9,\"id\":\"c\"}]}", "null"))};
  CHECK_EQ_INT(failure_of(huge_index, 1, msg, sizeof msg), TM_ERESPONSE);
  static const char *neg_index[] = {CHUNK(DELTA("{\"tool_calls\":[{\"index\":-1}]}", "null"))};
  CHECK_EQ_INT(failure_of(neg_index, 1, msg, sizeof msg), TM_ERESPONSE);

  static const char *renamed[] = {
      CHUNK(DELTA("{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"a\"}}]}", "null")),
      CHUNK(DELTA("{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"b\"}}]}", "null")),
  };
  CHECK_EQ_INT(failure_of(renamed, 2, msg, sizeof msg), TM_ERESPONSE);
  CHECK_CONTAINS(msg, "changes its name");

  /* A gap in the indexes leaves a call without id: refused as in a body. */
  static const char *gap[] = {
      CHUNK(DELTA("{\"tool_calls\":[{\"index\":1,\"id\":\"c1\",\"function\":{\"name\":\"a\"}}]}",
                  "\"tool_calls\"")),
  };
  CHECK_EQ_INT(failure_of(gap, 1, msg, sizeof msg), TM_ERESPONSE);
  CHECK_CONTAINS(msg, "has no id");

  /* Arguments that never became JSON. */
  static const char *bad_args[] = {
      CHUNK(DELTA("{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"a\","
                  "\"arguments\":\"{\\\"x\\\":\"}}]}",
                  "\"tool_calls\"")),
  };
  CHECK_EQ_INT(failure_of(bad_args, 1, msg, sizeof msg), TM_ERESPONSE);
  CHECK_CONTAINS(msg, "not valid JSON");
}

static int oom_accumulate(void) {
  tm_base b = {0};
  tm_chat_response r;
  int rc = accumulate(&b, call_chunks, COUNT(call_chunks), NULL, &r);
  tm_chat_response_free(&r);
  if (rc == TM_OK) rc = accumulate(&b, text_chunks, COUNT(text_chunks), NULL, &r);
  tm_chat_response_free(&r);
  tm_base_free(&b);
  return rc;
}

TEST(out_of_memory_while_accumulating) { CHECK_OOM_SAFE(oom_accumulate(), (void)0); }

/* ---- streamed runs of the agent ---- */

static const char *text_stream =
    CHUNK(DELTA("{\"role\":\"assistant\",\"content\":\"\"}", "null")) "\n"
    CHUNK(DELTA("{\"content\":\"It is \"}", "null")) "\n"
    CHUNK(DELTA("{\"content\":\"sunny.\"}", "\"stop\"")) "\n" USAGE_CHUNK;

static const char *call_stream =
    CHUNK(DELTA("{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"function\":{\"name\":\"weather\","
                "\"arguments\":\"{\\\"city\\\"\"}}]}",
                "null")) "\n"
    CHUNK(DELTA("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":\\\"Oslo\\\"}\"}}]}",
                "\"tool_calls\"")) "\n" USAGE_CHUNK;

static tm_agent *weather_agent(void) {
  tm_agent *a = tm_agent_new(NULL, "{\"tools\":[{\"name\":\"weather\"}],\"options\":{\"model\":\"m\"}}");
  if (!a) abort();
  return a;
}

#define RUN_JSON "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"text\":\"Weather?\"}]}"

TEST(streamed_run_emits_and_stores_the_turn) {
  hn_reset();
  tm_agent *a = weather_agent();
  tm_store *s = tm_store_new(0);
  char *out = NULL;
  hn_llm_push_stream(CTX, call_stream);
  hn_llm_push_stream(CTX, text_stream);
  CHECK_EQ_INT(hn_agent_run(a, s, CTX, RUN_JSON, &out), TM_OK);
  CHECK_CONTAINS(out, "\"text\":\"It is sunny.\"");
  CHECK_CONTAINS(out, "\"prompt_tokens\":14");
  CHECK_EQ_INT(tm_store_count(s), 4);
  /* Both requests asked for a stream with usage; none went the plain way. */
  CHECK_EQ_INT(hn_calls(CTX, HN_LLM), 0);
  CHECK_EQ_INT(hn_calls(CTX, HN_LLM_OPEN), 2);
  CHECK_CONTAINS(hn_recorded(CTX, HN_LLM_OPEN, 0), "\"stream\":true");
  CHECK_CONTAINS(hn_recorded(CTX, HN_LLM_OPEN, 0), "\"stream_options\":{\"include_usage\":true}");
  /* The second request carries the streamed call, reassembled. */
  CHECK_CONTAINS(hn_recorded(CTX, HN_LLM_OPEN, 1), "\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"");
  CHECK_EQ_INT(hn_calls(CTX, HN_EMIT), 4);
  CHECK_STR(hn_recorded(CTX, HN_EMIT, 0),
            "{\"type\":\"tool_call\",\"call_id\":\"call_a\",\"name\":\"weather\",\"arguments\":"
            "\"{\\\"city\\\":\\\"Oslo\\\"}\"}");
  CHECK_STR(hn_recorded(CTX, HN_EMIT, 1),
            "{\"type\":\"tool_result\",\"call_id\":\"call_a\",\"name\":\"weather\",\"result\":"
            "\"weather({\\\"city\\\":\\\"Oslo\\\"})\"}");
  CHECK_STR(hn_recorded(CTX, HN_EMIT, 2), "{\"type\":\"text_delta\",\"text\":\"It is \"}");
  CHECK_STR(hn_recorded(CTX, HN_EMIT, 3), "{\"type\":\"text_delta\",\"text\":\"sunny.\"}");
  tm_free(out);
  tm_store_free(s);
  tm_agent_free(a);
}

TEST(plain_runs_never_stream) {
  hn_reset();
  tm_agent *a = weather_agent();
  char *out = NULL;
  hn_llm_push(CTX, "{\"choices\":[{\"message\":{\"content\":\"ok\"}}]}");
  CHECK_EQ_INT(hn_agent_run(a, NULL, CTX,
                            "{\"options\":{\"stream\":true,\"stream_options\":{}},\"messages\":[{\"role\":"
                            "\"user\",\"text\":\"x\"}]}",
                            &out),
               TM_OK);
  CHECK(strstr(hn_recorded(CTX, HN_LLM, 0), "stream") == NULL);
  CHECK_EQ_INT(hn_calls(CTX, HN_EMIT), 0);
  tm_free(out);
  tm_agent_free(a);
}

/* A streamed run that fails as `script` sets up leaves the store as it was. */
static void check_failure(void (*script)(void), int code) {
  hn_reset();
  tm_agent *a = weather_agent();
  tm_store *s = tm_store_new(0);
  char *out = NULL, *before = NULL, *after = NULL;
  if (!s || tm_store_add(s, "[{\"role\":\"user\",\"text\":\"old\"}]") != TM_OK) abort();
  tm_store_list(s, NULL, &before);
  script();
  CHECK_EQ_INT(hn_agent_run(a, s, CTX, RUN_JSON, &out), code);
  CHECK(out == NULL);
  tm_store_list(s, NULL, &after);
  CHECK_STR(after, before);
  tm_free(before);
  tm_free(after);
  tm_store_free(s);
  tm_agent_free(a);
}

static void f_reset_mid_reply(void) {
  hn_llm_push_stream(CTX, CHUNK(DELTA("{\"content\":\"It is \"}", "null")) "\n!");
}
static void f_open_fails(void) { hn_fail_at(CTX, HN_LLM_OPEN, 0); }
static void f_malformed_chunk(void) {
  hn_llm_push_stream(CTX, CHUNK(DELTA("{\"content\":\"It\"}", "null")) "\n{\"choices\":[");
}
static void f_cut_short(void) {
  hn_llm_push_stream(CTX, CHUNK(DELTA("{\"content\":\"It is\"}", "null")));
}
static void f_second_round_breaks(void) {
  hn_llm_push_stream(CTX, call_stream);
  hn_llm_push_stream(CTX, CHUNK(DELTA("{\"content\":\"It\"}", "null")) "\n!");
}
static void f_always_calls(void) {
  for (int i = 0; i < 12; i++) hn_llm_push_stream(CTX, call_stream);
}

TEST(failed_streamed_runs_change_nothing) {
  check_failure(f_reset_mid_reply, TM_EHOST);
  CHECK_EQ_INT(hn_calls(CTX, HN_EMIT), 1); /* the text seen before the reset */
  check_failure(f_open_fails, TM_EHOST);
  check_failure(f_malformed_chunk, TM_ERESPONSE);
  check_failure(f_cut_short, TM_ERESPONSE);
  check_failure(f_second_round_breaks, TM_EHOST);
  check_failure(f_always_calls, TM_EROUNDS);
}

static tm_agent *oom_agent;

static int oom_streamed_run(void) {
  hn_reset();
  tm_agent *a = oom_agent;
  tm_store *s = tm_store_new(0);
  char *out = NULL;
  int rc = TM_ENOMEM;
  if (s) {
    hn_llm_push_stream(CTX, call_stream);
    hn_llm_push_stream(CTX, text_stream);
    rc = hn_agent_run(a, s, CTX, RUN_JSON, &out);
    CHECK_EQ_INT(tm_store_count(s), rc == TM_OK ? 4 : 0);
    if (rc != TM_OK && rc != TM_ENOMEM) rc = TM_EHOST; /* reported by the macro */
  }
  tm_free(out);
  tm_store_free(s);
  return rc;
}

TEST(out_of_memory_in_a_streamed_run) {
  oom_agent = weather_agent();
  CHECK_OOM_SAFE(oom_streamed_run(), (void)0);
  tm_agent_free(oom_agent);
}

int main(void) {
  test_init();
  RUN(text_reply_equals_the_whole_body);
  RUN(tool_calls_by_index_equal_the_whole_body);
  RUN(text_parts_refusals_and_signed_calls_equal_the_whole_body);
  RUN(each_feed_returns_only_its_own_text);
  RUN(calls_without_index_are_whole_calls);
  RUN(broken_streams_are_refused);
  RUN(out_of_memory_while_accumulating);
  RUN(streamed_run_emits_and_stores_the_turn);
  RUN(plain_runs_never_stream);
  RUN(failed_streamed_runs_change_nothing);
  RUN(out_of_memory_in_a_streamed_run);
  hn_reset();
  return test_summary();
}
