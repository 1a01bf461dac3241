/*
 * Token counts of chat messages and the context window: the counting rule,
 * every window rule (system first, whole tool groups, never mid-turn, the
 * newest turn or an error, strategies), store windows at O(window) cost,
 * token-limited stores, and the agent's context_window.
 *
 * Counting uses the host's counter (the "host" encoding) with every string
 * costing one token, so a plain message costs 3 + role + content = 5, an
 * assistant message with one call 3 + role + id + type + name + arguments =
 * 8, and a tool message 3 + role + tool_call_id + content = 6.
 */
#include "host_native.h"
#include "store.h"
#include "test.h"

static long counter_calls;

static long one_per_string(void *user, const char *text, size_t len) {
  (void)user, (void)text, (void)len;
  counter_calls++;
  return 1;
}

static long failing_counter(void *user, const char *text, size_t len) {
  (void)user, (void)text, (void)len;
  return -1;
}

#define U(t) "{\"role\":\"user\",\"text\":\"" t "\"}"
#define A(t) "{\"role\":\"assistant\",\"text\":\"" t "\"}"
#define S(t) "{\"role\":\"system\",\"text\":\"" t "\"}"
#define CALL(id)                                                                                   \
  "{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\",\"call_id\":\"" id            \
  "\",\"name\":\"f\",\"arguments\":\"{}\"}]}"
#define RESULT(id)                                                                                 \
  "{\"role\":\"tool\",\"contents\":[{\"type\":\"function_result\",\"call_id\":\"" id               \
  "\",\"result\":\"r\"}]}"

/* The texts (or "call"/"result") of a JSON array of messages, joined by ",". */
static void labels(const cJSON *arr, char *dst, size_t n) {
  size_t o = 0;
  dst[0] = '\0';
  for (const cJSON *m = arr ? arr->child : NULL; m; m = m->next) {
    const cJSON *c = cJSON_GetObjectItem(m, "contents");
    const cJSON *first = c ? c->child : NULL;
    const cJSON *type = first ? cJSON_GetObjectItem(first, "type") : NULL;
    const char *label = "?";
    if (type && strcmp(type->valuestring, "text") == 0)
      label = cJSON_GetObjectItem(first, "text")->valuestring;
    else if (type && strcmp(type->valuestring, "function_call") == 0)
      label = "call";
    else if (type && strcmp(type->valuestring, "function_result") == 0)
      label = "result";
    o += (size_t)snprintf(dst + o, n - o, "%s%s", o ? "," : "", label);
  }
}

/* Fits `messages` with a host-counted window of max_tokens and checks the
 * labels sent and dropped and the tokens. */
static int fits(tm_ctx *ctx, const char *messages, const char *spec, const char *want_sent,
                const char *want_dropped, long want_tokens, int line) {
  char *out = NULL, sent[1024], dropped[1024];
  int rc = tm_fit_window(ctx, messages, spec, &out);
  if (rc != TM_OK) {
    fprintf(stderr, "line %d: fit failed: %s\n", line, tm_errmsg(ctx));
    return 0;
  }
  cJSON *res = cJSON_Parse(out);
  tm_free(out);
  labels(cJSON_GetObjectItem(res, "messages"), sent, sizeof sent);
  labels(cJSON_GetObjectItem(res, "dropped"), dropped, sizeof dropped);
  long tokens = (long)cJSON_GetObjectItem(res, "tokens")->valuedouble;
  cJSON_Delete(res);
  if (strcmp(sent, want_sent) != 0 || strcmp(dropped, want_dropped) != 0 ||
      (want_tokens >= 0 && tokens != want_tokens)) {
    fprintf(stderr, "line %d: sent \"%s\" dropped \"%s\" tokens %ld; want \"%s\" \"%s\" %ld\n",
            line, sent, dropped, tokens, want_sent, want_dropped, want_tokens);
    return 0;
  }
  return 1;
}
#define FITS(ctx, msgs, spec, sent, dropped, tokens)                                               \
  CHECK(fits(ctx, msgs, spec, sent, dropped, tokens, __LINE__))

#define WIN(n) "{\"max_tokens\":" #n ",\"encoding\":\"host\"}"

TEST(test_count_rule) {
  tm_ctx *ctx = tm_ctx_new();
  size_t n = 0;
  hn_count_set_fn(one_per_string, NULL);
  CHECK_EQ_INT(tm_count_messages(ctx, "[" U("a") "," A("b") "]", "host", &n), TM_OK);
  CHECK_EQ_INT((long)n, 5 + 5 + 3);
  /* A name: its string and one more. */
  CHECK_EQ_INT(tm_count_messages(ctx, "[{\"role\":\"user\",\"text\":\"a\",\"author_name\":\"Al\"}]",
                                 "host", &n),
               TM_OK);
  CHECK_EQ_INT((long)n, 5 + 2 + 3);
  CHECK_EQ_INT(tm_count_messages(ctx, "[" CALL("c1") "," RESULT("c1") "]", "host", &n), TM_OK);
  CHECK_EQ_INT((long)n, 8 + 6 + 3);
  /* Two results in one tool message are two wire messages. */
  CHECK_EQ_INT(tm_count_messages(ctx,
                                 "[{\"role\":\"tool\",\"contents\":["
                                 "{\"type\":\"function_result\",\"call_id\":\"a\",\"result\":1},"
                                 "{\"type\":\"function_result\",\"call_id\":\"b\",\"result\":2}]}]",
                                 "host", &n),
               TM_OK);
  CHECK_EQ_INT((long)n, 6 + 6 + 3);
  /* An image part costs a fixed price, whatever its URL. */
  CHECK_EQ_INT(tm_count_messages(ctx,
                                 "[{\"role\":\"user\",\"contents\":[{\"type\":\"uri\",\"uri\":"
                                 "\"https://x/a.png\",\"media_type\":\"image/png\"}]}]",
                                 "host", &n),
               TM_OK);
  CHECK_EQ_INT((long)n, 3 + 1 + 85 + 3);
  CHECK_EQ_INT(tm_count_messages(ctx, "[]", "host", &n), TM_OK);
  CHECK_EQ_INT((long)n, 3);

  /* The estimate needs no vocabulary; a BPE encoding does until loaded. */
  CHECK_EQ_INT(tm_count_messages(ctx, "[" U("hello there") "]", "estimate", &n), TM_OK);
  CHECK(n > 3);
  CHECK_EQ_INT(tm_count_messages(ctx, "[" U("a") "]", "nope", &n), TM_EENCODING);
  CHECK_EQ_INT(tm_count_messages(ctx, "[{\"role\":\"robot\"}]", "host", &n), TM_EFORMAT);
  CHECK_EQ_INT(tm_count_messages(ctx, "[", "host", &n), TM_EPARSE);
  hn_count_set_fn(failing_counter, NULL);
  CHECK_EQ_INT(tm_count_messages(ctx, "[" U("a") "]", "host", &n), TM_EHOST);
  hn_count_set_fn(NULL, NULL);
  tm_ctx_free(ctx);
}

TEST(test_window_last) {
  tm_ctx *ctx = tm_ctx_new();
  hn_count_set_fn(one_per_string, NULL);
  const char *thread = "[" S("sys") "," U("u1") "," A("a1") "," U("u2") "," A("a2") "," U("u3") "]";
  /* Everything: 5 * 6 + priming 3 = 33. */
  FITS(ctx, thread, WIN(100), "sys,u1,a1,u2,a2,u3", "", 33);
  FITS(ctx, thread, WIN(33), "sys,u1,a1,u2,a2,u3", "", 33);
  /* One token less: the oldest turn goes, whole. */
  FITS(ctx, thread, WIN(32), "sys,u2,a2,u3", "u1,a1", 23);
  FITS(ctx, thread, WIN(27), "sys,u2,a2,u3", "u1,a1", 23);
  /* a2 would fit alone, but the window never starts mid-turn. */
  FITS(ctx, thread, WIN(22), "sys,u3", "u1,a1,u2,a2", 13);
  /* reserve_tokens is taken from the budget. */
  FITS(ctx, thread, "{\"max_tokens\":32,\"reserve_tokens\":10,\"encoding\":\"host\"}", "sys,u3",
       "u1,a1,u2,a2", 13);
  /* The newest user turn (with its replies) must fit: an error, not less. */
  CHECK_EQ_INT(tm_fit_window(ctx, thread, WIN(12), &(char *){NULL}), TM_EWINDOW);
  CHECK_CONTAINS(tm_errmsg(ctx), "newest user turn");
  /* The system message alone does not fit: an error, never an empty window. */
  CHECK_EQ_INT(tm_fit_window(ctx, thread, WIN(7), &(char *){NULL}), TM_EWINDOW);
  CHECK_CONTAINS(tm_errmsg(ctx), "system messages");
  /* No user message at all: the newest that fits. */
  FITS(ctx, "[" A("x") "," A("y") "]", WIN(8), "y", "x", 8);
  FITS(ctx, "[]", WIN(8), "", "", 3);
  hn_count_set_fn(NULL, NULL);
  tm_ctx_free(ctx);
}

TEST(test_window_tool_groups) {
  tm_ctx *ctx = tm_ctx_new();
  hn_count_set_fn(one_per_string, NULL);
  /* u1 a1 | u2 call result a2 | u3 : 5+5 | 5+8+6+5 | 5 (+3) = 42 */
  const char *thread = "[" U("u1") "," A("a1") "," U("u2") "," CALL("c1") "," RESULT("c1") "," A(
      "a2") "," U("u3") "]";
  FITS(ctx, thread, WIN(42), "u1,a1,u2,call,result,a2,u3", "", 42);
  FITS(ctx, thread, WIN(41), "u2,call,result,a2,u3", "u1,a1", 32);
  /* The group does not fit with u2: it goes whole, and a2 goes with its
   * turn; never a result without its call. */
  FITS(ctx, thread, WIN(31), "u3", "u1,a1,u2,call,result,a2", 8);
  FITS(ctx, thread, WIN(22), "u3", "u1,a1,u2,call,result,a2", 8);
  /* The newest turn holds a group: it is sent whole or not at all. */
  const char *open_turn = "[" U("u1") "," A("a1") "," U("u2") "," CALL("c1") "," RESULT("c1") "]";
  FITS(ctx, open_turn, WIN(27), "u2,call,result", "u1,a1", 22);
  CHECK_EQ_INT(tm_fit_window(ctx, open_turn, WIN(21), &(char *){NULL}), TM_EWINDOW);
  /* An orphan result (its call is gone) is never sent, and ends the walk. */
  const char *orphan = "[" U("u0") "," RESULT("gone") "," A("a0") "," U("u1") "," A("a1") "]";
  FITS(ctx, orphan, WIN(100), "u1,a1", "u0,result,a0", 13);
  /* Two parallel calls in one message, their results in two messages. */
  const char *parallel = "[" U(
      "u1") ",{\"role\":\"assistant\",\"contents\":["
            "{\"type\":\"function_call\",\"call_id\":\"a\",\"name\":\"f\",\"arguments\":\"{}\"},"
            "{\"type\":\"function_call\",\"call_id\":\"b\",\"name\":\"f\",\"arguments\":\"{}\"}]},"
            "" RESULT("a") "," RESULT("b") "," A("done") "," U("u2") "]";
  FITS(ctx, parallel, WIN(100), "u1,call,result,result,done,u2", "", -1);
  FITS(ctx, parallel, WIN(20), "u2", "u1,call,result,result,done", 8);
  /* A call without all its results, or a result answering another call,
   * cannot be sent: the walk stops before it. */
  const char *unanswered = "[" U("u0") "," CALL("c1") "," A("a0") "," U("u1") "," A("a1") "]";
  FITS(ctx, unanswered, WIN(100), "u1,a1", "u0,call,a0", 13);
  const char *mismatched = "[" U("u0") "," CALL("c1") "," RESULT("c9") "," U("u1") "]";
  FITS(ctx, mismatched, WIN(100), "u1", "u0,call,result", 8);
  /* In the newest turn, which must be sent, it is an error. */
  CHECK_EQ_INT(tm_fit_window(ctx, "[" U("u1") "," CALL("c1") "," RESULT("c2") "]", WIN(100),
                             &(char *){NULL}),
               TM_ESTATE);
  CHECK_CONTAINS(tm_errmsg(ctx), "messages[1]");
  hn_count_set_fn(NULL, NULL);
  tm_ctx_free(ctx);
}

TEST(test_window_first) {
  tm_ctx *ctx = tm_ctx_new();
  hn_count_set_fn(one_per_string, NULL);
  const char *thread =
      "[" S("sys") "," U("u1") "," CALL("c1") "," RESULT("c1") "," A("a1") "," U("u2") "]";
  const char *spec = "{\"max_tokens\":%d,\"encoding\":\"host\",\"strategy\":\"first\"}";
  char s[128];
  snprintf(s, sizeof s, spec, 100);
  FITS(ctx, thread, s, "sys,u1,call,result,a1,u2", "", -1);
  /* sys 5 + u1 5 + priming 3 = 13; the group (14) does not fit in 26. */
  snprintf(s, sizeof s, spec, 26);
  FITS(ctx, thread, s, "sys,u1", "call,result,a1,u2", 13);
  snprintf(s, sizeof s, spec, 27);
  FITS(ctx, thread, s, "sys,u1,call,result", "a1,u2", 27);
  snprintf(s, sizeof s, spec, 7);
  CHECK_EQ_INT(tm_fit_window(ctx, thread, s, &(char *){NULL}), TM_EWINDOW);
  hn_count_set_fn(NULL, NULL);
  tm_ctx_free(ctx);
}

TEST(test_window_spec_errors) {
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL;
  const char *one = "[" U("a") "]";
  CHECK_EQ_INT(tm_fit_window(ctx, one, "{}", &out), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(ctx), "window.max_tokens");
  CHECK_EQ_INT(tm_fit_window(ctx, one, "{\"max_tokens\":-1}", &out), TM_EFORMAT);
  CHECK_EQ_INT(tm_fit_window(ctx, one, "{\"max_tokens\":1.5}", &out), TM_EFORMAT);
  CHECK_EQ_INT(tm_fit_window(ctx, one, "{\"max_tokens\":10,\"reserve_tokens\":10}", &out),
               TM_EWINDOW);
  CHECK_EQ_INT(tm_fit_window(ctx, one, "{\"max_tokens\":10,\"encoding\":\"p50k\"}", &out),
               TM_EENCODING);
  CHECK_EQ_INT(tm_fit_window(ctx, one, "{\"max_tokens\":10,\"strategy\":\"middle\"}", &out),
               TM_EFORMAT);
  CHECK_EQ_INT(tm_fit_window(ctx, one, "[1]", &out), TM_EFORMAT);
  CHECK_EQ_INT(tm_fit_window(ctx, "{}", "{\"max_tokens\":10}", &out), TM_EFORMAT);
  CHECK(out == NULL);
  tm_ctx_free(ctx);
}

TEST(test_window_oom) {
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL;
  const char *thread = "[" S("sys") "," U("u1") "," CALL("c1") "," RESULT("c1") "," U("u2") "]";
  CHECK_OOM_SAFE(tm_fit_window(ctx, thread, "{\"max_tokens\":30,\"encoding\":\"estimate\"}", &out),
                 tm_free(out));
  size_t n;
  CHECK_OOM_SAFE(tm_count_messages(ctx, thread, "estimate", &n), (void)0);
  tm_ctx_free(ctx);
}

/* A store of `turns` turns: user, assistant, and every seventh turn a tool
 * call with its result in between. */
static tm_store *long_store(int turns) {
  tm_store *s = tm_store_new(0);
  char buf[512];
  for (int i = 0; i < turns; i++) {
    if (i % 7 == 3)
      snprintf(buf, sizeof buf,
               "[" U("q%d") ",{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\","
                            "\"call_id\":\"c%d\",\"name\":\"f\",\"arguments\":\"{}\"}]},{\"role\":"
                            "\"tool\","
                            "\"contents\":[{\"type\":\"function_result\",\"call_id\":\"c%d\","
                            "\"result\":1}]},"
                            "" A("a%d") "]",
               i, i, i, i);
    else
      snprintf(buf, sizeof buf, "[" U("q%d") "," A("a%d") "]", i, i);
    if (tm_store_add(s, buf) != TM_OK) abort();
  }
  return s;
}

TEST(test_store_window_cost) {
  hn_count_set_fn(one_per_string, NULL);
  tm_store *s = long_store(2500); /* about 5,700 messages */
  size_t w[4];
  counter_calls = 0;
  CHECK_EQ_INT(tm_store_window_bounds(s, WIN(200), w), TM_OK);
  /* The host counter is never cached, so its calls show what was looked at:
   * the window and one unit beyond, not the thread. */
  CHECK(counter_calls < 200);
  CHECK(w[3] <= 200);
  CHECK_EQ_INT((long)w[2], (long)tm_store_count(s));
  CHECK(w[1] > 0 && w[1] < w[2]);
  /* The window starts on a user message, and is what tm_store_window
   * lists. */
  char *out = NULL;
  CHECK_EQ_INT(tm_store_window(s, WIN(200), &out), TM_OK);
  cJSON *res = cJSON_Parse(out);
  const cJSON *msgs = cJSON_GetObjectItem(res, "messages");
  CHECK_EQ_INT(cJSON_GetArraySize(msgs), (int)(w[2] - w[1]));
  CHECK_STR(cJSON_GetObjectItem(msgs->child, "role")->child->next->valuestring, "user");
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(res, "dropped")), (int)w[1]);
  CHECK_EQ_INT((long)cJSON_GetObjectItem(res, "tokens")->valuedouble, (long)w[3]);
  cJSON_Delete(res);
  tm_free(out);
  /* Trimming never deletes stored history. */
  CHECK(tm_store_count(s) > 5000);

  /* With a built-in encoding, counts are cached on the messages: a second
   * window on the same store gives the same answer. */
  size_t w2[4], w3[4];
  CHECK_EQ_INT(tm_store_window_bounds(s, "{\"max_tokens\":500,\"encoding\":\"estimate\"}", w2),
               TM_OK);
  CHECK_EQ_INT(tm_store_window_bounds(s, "{\"max_tokens\":500,\"encoding\":\"estimate\"}", w3),
               TM_OK);
  CHECK(memcmp(w2, w3, sizeof w2) == 0);
  CHECK_EQ_INT(tm_store_window_bounds(s, "{\"max_tokens\":0}", w2), TM_EFORMAT);
  tm_store_free(s);
  hn_count_set_fn(NULL, NULL);
}

/* The labels of the store's messages. */
static void store_labels(tm_store *s, char *dst, size_t n) {
  char *out = NULL;
  if (tm_store_list(s, NULL, &out) != TM_OK) abort();
  cJSON *arr = cJSON_Parse(out);
  labels(arr, dst, n);
  cJSON_Delete(arr);
  tm_free(out);
}

TEST(test_store_max_tokens) {
  tm_ctx *ctx = tm_ctx_new();
  tm_store *s = tm_store_new(0);
  char got[1024];
  size_t user, reply;
  CHECK_EQ_INT(tm_count_messages(ctx, "[" U("u2") "]", "estimate", &user), TM_OK);
  CHECK_EQ_INT(tm_count_messages(ctx, "[" A("a1") "]", "estimate", &reply), TM_OK);
  size_t limit = user + reply - 2 * 3; /* without the reply priming */

  CHECK_EQ_INT(tm_store_limit_tokens(s, 10, TM_ENC_HOST), TM_EENCODING);
  CHECK_EQ_INT(tm_store_add(s, "[" U("u1") "," CALL("c1") "," RESULT("c1") "," A("a1") "]"), TM_OK);
  /* Limiting evicts at once: whole groups, then no leading result. */
  CHECK_EQ_INT(tm_store_limit_tokens(s, limit, TM_ENC_ESTIMATE), TM_OK);
  store_labels(s, got, sizeof got);
  CHECK_STR(got, "a1");
  CHECK_EQ_INT(tm_store_add(s, "[" U("u2") "]"), TM_OK);
  store_labels(s, got, sizeof got);
  CHECK_STR(got, "a1,u2");
  CHECK_EQ_INT(tm_store_add(s, "[" U("u3") "," CALL("c2") "," RESULT("c2") "]"), TM_OK);
  /* The newest group is never evicted, even beyond the limit. */
  store_labels(s, got, sizeof got);
  CHECK_STR(got, "call,result");
  CHECK_EQ_INT(tm_store_add(s, "[" A("a3") "]"), TM_OK);
  store_labels(s, got, sizeof got);
  CHECK_STR(got, "a3");

  /* maxMessages is group-aware too: a result never leads the store. */
  tm_store *m = tm_store_new(2);
  CHECK_EQ_INT(tm_store_add(m, "[" U("u1") "," CALL("c1") "," RESULT("c1") "]"), TM_OK);
  store_labels(m, got, sizeof got);
  CHECK_STR(got, "call,result");
  CHECK_EQ_INT(tm_store_add(m, "[" A("a1") "]"), TM_OK);
  store_labels(m, got, sizeof got);
  CHECK_STR(got, "a1");
  tm_store_free(m);

  /* Replacing the messages (a loaded state) keeps the limit. */
  CHECK_EQ_INT(tm_store_load(s, "{\"messages\":[" U("x1") "," U("x2") "," U("x3") "]}"), TM_OK);
  store_labels(s, got, sizeof got);
  CHECK_STR(got, "x2,x3");
  CHECK_EQ_INT(tm_store_limit_tokens(s, 0, TM_ENC_ESTIMATE), TM_OK);
  CHECK_EQ_INT(tm_store_add(s, "[" U("x4") "," U("x5") "]"), TM_OK);
  CHECK_EQ_INT((long)tm_store_count(s), 4);
  tm_store_free(s);
  tm_ctx_free(ctx);
}

#define ANSWER(text)                                                                               \
  "{\"id\":\"r\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"" text            \
  "\"},\"finish_reason\":\"stop\"}]}"

/* The contents of the messages of a recorded request, joined by ",". */
static void sent_contents(const char *request, char *dst, size_t n) {
  cJSON *q = cJSON_Parse(request);
  size_t o = 0;
  dst[0] = '\0';
  for (const cJSON *m = cJSON_GetObjectItem(q, "messages")->child; m; m = m->next) {
    const cJSON *c = cJSON_GetObjectItem(m, "content");
    o += (size_t)snprintf(dst + o, n - o, "%s%s", o ? "," : "",
                          cJSON_IsString(c) ? c->valuestring : "null");
  }
  cJSON_Delete(q);
}

TEST(test_agent_window) {
  hn_reset();
  hn_count_set_fn(one_per_string, NULL);
  tm_ctx *ctx = tm_ctx_new();
  /* Instructions 5 + input 5 + priming 3 = 13; each old turn costs 10. */
  tm_agent *a = tm_agent_new(ctx, "{\"instructions\":\"sys\",\"context_window\":{\"max_tokens\":33,"
                                  "\"encoding\":\"host\"}}");
  CHECK(a != NULL);
  tm_store *s = tm_store_new(0);
  CHECK_EQ_INT(
      tm_store_add(s, "[" U("u1") "," A("a1") "," U("u2") "," A("a2") "," U("u3") "," A("a3") "]"),
      TM_OK);
  hn_llm_push(1, ANSWER("ok"));
  char *out = NULL, got[512];
  CHECK_EQ_INT(hn_agent_run(a, s, 1, "{\"messages\":[" U("now") "]}", &out), TM_OK);
  sent_contents(hn_recorded(1, HN_LLM, 0), got, sizeof got);
  CHECK_STR(got, "sys,u2,a2,u3,a3,now");
  cJSON *r = cJSON_Parse(out);
  CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "window"), "tokens")->valueint, 33);
  CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "window"), "history_sent")->valueint, 4);
  CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "window"), "history_dropped")->valueint,
               2);
  cJSON_Delete(r);
  tm_free(out);
  /* Nothing stored was deleted: the turn was added to all of it. */
  CHECK_EQ_INT((long)tm_store_count(s), 8);

  /* An input that cannot fit fails before any request, and adds nothing. */
  CHECK_EQ_INT(hn_agent_run(a, s, 1,
                            "{\"messages\":[" U("a") "," U("b") "," U("c") "," U("d") "," U(
                                "e") "," U("f") "]}",
                            &out),
               TM_EWINDOW);
  CHECK(out == NULL);
  CHECK_EQ_INT((long)hn_calls(1, HN_LLM), 1);
  CHECK_EQ_INT((long)tm_store_count(s), 8);

  /* A bad window in the config is the agent's error. */
  CHECK(tm_agent_new(ctx, "{\"context_window\":{\"max_tokens\":\"big\"}}") == NULL);
  CHECK_EQ_INT(tm_errcode(ctx), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(ctx), "context_window.max_tokens");
  tm_store_free(s);
  tm_agent_free(a);
  tm_ctx_free(ctx);
  hn_count_set_fn(NULL, NULL);
}

/* A message with an id, for summaries to name. */
#define UI(t) "{\"role\":\"user\",\"text\":\"" t "\",\"message_id\":\"" t "\"}"
#define AI(t) "{\"role\":\"assistant\",\"text\":\"" t "\",\"message_id\":\"" t "\"}"

/* What the request sends of the history when a provider's summary names
 * `last` as the last message it covers. */
static void summarized(tm_agent *a, tm_store *s, const char *last, const char *want) {
  char *out = NULL, got[512];
  size_t before = hn_calls(1, HN_LLM);
  char contexts[256];
  snprintf(contexts, sizeof contexts,
           "[{\"messages\":[{\"role\":\"system\",\"text\":\"sum\",\"additional_properties\":"
           "{\"summary_of\":{\"last_message_id\":\"%s\"}}}]}]",
           last);
  hn_invoking_set(1, contexts);
  hn_llm_push(1, ANSWER("ok"));
  CHECK_EQ_INT(hn_agent_run(a, s, 1, "{\"providers\":true,\"messages\":[" U("now") "]}", &out),
               TM_OK);
  sent_contents(hn_recorded(1, HN_LLM, before), got, sizeof got);
  CHECK_STR(got, want);
  tm_free(out);
}

TEST(test_agent_window_after_summary) {
  hn_reset();
  hn_count_set_fn(one_per_string, NULL);
  tm_ctx *ctx = tm_ctx_new();
  tm_agent *a = tm_agent_new(ctx, "{\"instructions\":\"sys\",\"context_window\":{\"max_tokens\":1000,"
                                  "\"encoding\":\"host\"}}");
  CHECK(a != NULL);
  const char *six = "[" UI("u1") "," AI("a1") "," UI("u2") "," AI("a2") "," UI("u3") "," AI("a3") "]";
  /* The history the summary covers is not sent again, though it fits. */
  tm_store *s = tm_store_new(0);
  CHECK_EQ_INT(tm_store_add(s, six), TM_OK);
  summarized(a, s, "a1", "sys,sum,u2,a2,u3,a3,now");
  tm_store_free(s);
  /* A summary that would leave the window mid-turn, or names no message of
   * the window, changes nothing. */
  s = tm_store_new(0);
  CHECK_EQ_INT(tm_store_add(s, six), TM_OK);
  summarized(a, s, "u2", "sys,sum,u1,a1,u2,a2,u3,a3,now");
  tm_store_free(s);
  s = tm_store_new(0);
  CHECK_EQ_INT(tm_store_add(s, six), TM_OK);
  summarized(a, s, "elsewhere", "sys,sum,u1,a1,u2,a2,u3,a3,now");
  tm_store_free(s);
  /* Covering the whole history sends none of it. */
  s = tm_store_new(0);
  CHECK_EQ_INT(tm_store_add(s, six), TM_OK);
  summarized(a, s, "a3", "sys,sum,now");
  tm_store_free(s);
  tm_agent_free(a);
  tm_ctx_free(ctx);
  hn_count_set_fn(NULL, NULL);
}

int main(void) {
  test_init();
  hn_reset();
  RUN(test_count_rule);
  RUN(test_window_last);
  RUN(test_window_tool_groups);
  RUN(test_window_first);
  RUN(test_window_spec_errors);
  RUN(test_window_oom);
  RUN(test_store_window_cost);
  RUN(test_store_max_tokens);
  RUN(test_agent_window);
  RUN(test_agent_window_after_summary);
  return test_summary();
}
