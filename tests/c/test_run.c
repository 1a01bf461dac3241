/*
 * The run as a step machine (tm_run_start, tm_run_step, tm_run_free): the
 * shape of its actions, runs of one agent interleaved step by step, a run
 * cancelled half-way, the host's missing answers and failures, and steps
 * after the end.
 */
#include <stdbool.h>

#include "cJSON.h"
#include "host_native.h"
#include "test.h"

#define TEXT_RESP(text)                                                                     \
  "{\"id\":\"r\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"" text \
  "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1," \
  "\"total_tokens\":4}}"
#define CALL_RESP                                                                          \
  "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"   \
  "\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"{}\"}}]}}]}"
#define INPUT(text) "{\"messages\":[{\"role\":\"user\",\"text\":\"" text "\"}]}"

static tm_agent *weather_agent(void) {
  tm_agent *a = tm_agent_new(NULL, "{\"tools\":[{\"name\":\"weather\"}]}");
  if (!a) abort();
  return a;
}

static bool starts(const char *s, const char *prefix) {
  return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Steps `run` once with the given outcome and returns the action (the
 * caller frees it), checking that the step succeeded. */
static char *step(tm_run *run, int host_rc, const char *input) {
  char *action = NULL;
  int rc = tm_run_step(run, host_rc, input, &action);
  if (rc != TM_OK) {
    fprintf(stderr, "step failed: %s\n", tm_errmsg(run));
    abort();
  }
  return action;
}

TEST(actions_have_the_documented_shape) {
  hn_reset();
  tm_agent *a = weather_agent();
  tm_store *s = tm_store_new(0);
  tm_run *run = NULL;
  CHECK_EQ_INT(tm_run_start(a, s, "{\"providers\":true,\"messages\":[{\"role\":\"user\","
                                  "\"text\":\"Weather?\"}]}",
                            &run),
               TM_OK);
  char *act = step(run, TM_OK, NULL);
  CHECK(starts(act, "{\"type\":\"invoking\",\"request\":{\"messages\":["));
  tm_free(act);
  act = step(run, TM_OK, "[null]");
  CHECK(starts(act, "{\"type\":\"llm\",\"request\":{"));
  /* The payload, taken by position, is the request body itself. */
  cJSON *whole = cJSON_Parse(act);
  CHECK(whole != NULL);
  CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(whole, "request")));
  cJSON_Delete(whole);
  tm_free(act);
  act = step(run, TM_OK, CALL_RESP);
  CHECK_STR(act, "{\"type\":\"tools\",\"calls\":[{\"call_id\":\"c1\",\"name\":\"weather\","
                 "\"arguments\":{}}]}");
  tm_free(act);
  act = step(run, TM_OK, "[{\"call_id\":\"c1\",\"result\":\"sunny\"}]");
  CHECK(starts(act, "{\"type\":\"llm\",\"request\":"));
  CHECK_CONTAINS(act, "sunny");
  tm_free(act);
  act = step(run, TM_OK, TEXT_RESP("Sunny."));
  CHECK(starts(act, "{\"type\":\"invoked\",\"outcome\":{\"request_messages\":["));
  CHECK_CONTAINS(act, "\"failed\":false");
  tm_free(act);
  /* Nothing is stored before the very end. */
  CHECK_EQ_INT(tm_store_count(s), 0);
  act = step(run, TM_OK, NULL);
  CHECK(starts(act, "{\"type\":\"done\",\"result\":{\"text\":\"Sunny.\""));
  tm_free(act);
  CHECK_EQ_INT(tm_store_count(s), 4);
  /* After done every step is refused. */
  char *more = (char *)"untouched";
  CHECK_EQ_INT(tm_run_step(run, TM_OK, NULL, &more), TM_ESTATE);
  CHECK(more == NULL);
  CHECK_CONTAINS(tm_errmsg(run), "the run is over");
  tm_run_free(run);
  tm_store_free(s);
  tm_agent_free(a);
}

TEST(runs_of_one_agent_interleave) {
  enum { N = 4 };
  hn_reset();
  tm_agent *a = weather_agent();
  tm_store *stores[N];
  tm_run *runs[N];
  char *answers[N] = {0}, *outs[N] = {0};
  int host_rc[N], rc[N];
  bool over[N] = {false};
  char input[64];
  for (uint32_t i = 0; i < N; i++) {
    stores[i] = tm_store_new(0);
    snprintf(input, sizeof input, "{\"messages\":[{\"role\":\"user\",\"text\":\"run %u\"}]}", i);
    /* Each run calls the tool once, then answers: two model round trips. */
    hn_llm_push(i, CALL_RESP);
    hn_llm_push(i, i % 2 ? TEXT_RESP("odd") : TEXT_RESP("even"));
    CHECK_EQ_INT(tm_run_start(a, stores[i], input, &runs[i]), TM_OK);
    host_rc[i] = TM_OK;
  }
  /* One step of each in turn, as a host does while their answers come in. */
  for (int left = N; left > 0;) {
    for (uint32_t i = 0; i < N; i++) {
      if (over[i]) continue;
      rc[i] = hn_run_step(runs[i], i, &host_rc[i], &answers[i], &outs[i]);
      if (rc[i] >= 0) {
        over[i] = true;
        left--;
      }
    }
  }
  for (uint32_t i = 0; i < N; i++) {
    CHECK_EQ_INT(rc[i], TM_OK);
    CHECK_CONTAINS(outs[i], i % 2 ? "\"text\":\"odd\"" : "\"text\":\"even\"");
    CHECK_EQ_INT(tm_store_count(stores[i]), 4);
    /* Each run's second request carried its own input only. */
    snprintf(input, sizeof input, "run %u", i);
    CHECK_CONTAINS(hn_recorded(i, HN_LLM, 1), input);
    CHECK_EQ_INT(hn_llm_pending(i), 0);
    tm_free(outs[i]);
    tm_run_free(runs[i]);
    tm_store_free(stores[i]);
  }
  tm_agent_free(a);
}

TEST(a_run_freed_half_way_changes_nothing) {
  hn_reset();
  tm_agent *a = weather_agent();
  tm_store *s = tm_store_new(0);
  tm_run *run = NULL;
  CHECK_EQ_INT(tm_store_add(s, "[{\"role\":\"user\",\"text\":\"old\"}]"), TM_OK);
  CHECK_EQ_INT(tm_run_start(a, s, INPUT("new"), &run), TM_OK);
  char *act = step(run, TM_OK, NULL);
  tm_free(act);
  act = step(run, TM_OK, CALL_RESP);
  CHECK(starts(act, "{\"type\":\"tools\""));
  tm_free(act);
  tm_run_free(run); /* cancelled while its tools run */
  CHECK_EQ_INT(tm_store_count(s), 1);
  tm_run_free(NULL);
  tm_store_free(s);
  tm_agent_free(a);
}

TEST(streamed_updates_come_before_the_next_action) {
  hn_reset();
  tm_agent *a = weather_agent();
  tm_run *run = NULL;
  CHECK_EQ_INT(tm_run_start(a, NULL, "{\"stream\":true,\"messages\":[{\"role\":\"user\","
                                     "\"text\":\"x\"}]}",
                            &run),
               TM_OK);
  char *act = step(run, TM_OK, NULL);
  CHECK(starts(act, "{\"type\":\"llm_open\",\"request\":{"));
  tm_free(act);
  act = step(run, TM_OK, NULL);
  CHECK_STR(act, "{\"type\":\"llm_next\"}");
  tm_free(act);
  act = step(run, TM_OK, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}");
  CHECK_STR(act, "{\"type\":\"emit\",\"event\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}");
  tm_free(act);
  /* An update needs no answer: what comes with its step is not read. */
  act = step(run, TM_EHOST, "ignored");
  CHECK_STR(act, "{\"type\":\"llm_next\"}");
  tm_free(act);
  act = step(run, TM_OK, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},"
                         "\"finish_reason\":\"stop\"}]}");
  CHECK_STR(act, "{\"type\":\"emit\",\"event\":{\"type\":\"text_delta\",\"text\":\"lo\"}}");
  tm_free(act);
  act = step(run, TM_OK, NULL);
  CHECK_STR(act, "{\"type\":\"llm_next\"}");
  tm_free(act);
  act = step(run, TM_OK, NULL); /* the end of the stream */
  CHECK(starts(act, "{\"type\":\"done\",\"result\":{\"text\":\"Hello\""));
  tm_free(act);
  tm_run_free(run);
  tm_agent_free(a);
}

/* The step after `action` fails with `host_rc` and `input`; returns the
 * failure's code. */
static int fail_after(const char *run_json, int host_rc, const char *input) {
  tm_agent *a = weather_agent();
  tm_run *run = NULL;
  char *act = NULL;
  int rc = tm_run_start(a, NULL, run_json, &run);
  if (rc == TM_OK) {
    act = step(run, TM_OK, NULL);
    tm_free(act);
    act = (char *)"untouched";
    rc = tm_run_step(run, host_rc, input, &act);
    CHECK(act == NULL);
  }
  tm_run_free(run);
  tm_agent_free(a);
  return rc;
}

TEST(missing_answers_and_host_failures) {
  hn_reset();
  CHECK_EQ_INT(fail_after(INPUT("x"), TM_OK, NULL), TM_EINVAL);
  CHECK_EQ_INT(fail_after(INPUT("x"), TM_EHOST, NULL), TM_EHOST);
  CHECK_EQ_INT(fail_after(INPUT("x"), TM_ENOMEM, NULL), TM_ENOMEM);
  CHECK_EQ_INT(fail_after(INPUT("x"), TM_OK, "{\"choices\":[]}"), TM_ERESPONSE);
  CHECK_EQ_INT(fail_after("{\"host_store\":true}", TM_OK, NULL), TM_EINVAL);
  CHECK_EQ_INT(fail_after("{\"host_store\":true}", TM_OK, "{}"), TM_EFORMAT);

  /* A failure after the providers' invoking: they hear of it first, then
   * the step after reports it, whatever the host says. */
  tm_agent *a = weather_agent();
  tm_run *run = NULL;
  char *act = NULL;
  CHECK_EQ_INT(tm_run_start(a, NULL, "{\"providers\":true}", &run), TM_OK);
  tm_free(step(run, TM_OK, NULL));
  tm_free(step(run, TM_OK, "[]"));
  act = step(run, TM_EHOST, NULL);
  CHECK(starts(act, "{\"type\":\"invoked\",\"outcome\":"));
  CHECK_CONTAINS(act, "\"failed\":true,\"error\":{\"code\":\"TM_EHOST\",\"message\":\"the LLM "
                      "request failed in the host\"}");
  tm_free(act);
  CHECK_EQ_INT(tm_run_step(run, TM_EHOST, NULL, &act), TM_EHOST);
  CHECK(act == NULL);
  CHECK_STR(tm_errmsg(run), "the LLM request failed in the host");
  CHECK_EQ_INT(tm_run_step(run, TM_OK, NULL, &act), TM_ESTATE);
  tm_run_free(run);

  /* Bad arguments. */
  CHECK_EQ_INT(tm_run_start(NULL, NULL, INPUT("x"), &run), TM_EINVAL);
  CHECK_EQ_INT(tm_run_start(a, NULL, NULL, &run), TM_EINVAL);
  CHECK(run == NULL);
  CHECK_EQ_INT(tm_run_start(a, NULL, INPUT("x"), NULL), TM_EINVAL);
  CHECK_EQ_INT(tm_run_start(a, NULL, "[", &run), TM_EPARSE);
  CHECK_CONTAINS(tm_errmsg(a), "run");
  CHECK_EQ_INT(tm_run_step(NULL, TM_OK, NULL, &act), TM_EINVAL);
  CHECK_EQ_INT(tm_run_start(a, NULL, INPUT("x"), &run), TM_OK);
  CHECK_EQ_INT(tm_run_step(run, TM_OK, NULL, NULL), TM_EINVAL);
  tm_run_free(run);
  tm_agent_free(a);
}

int main(void) {
  test_init();
  RUN(actions_have_the_documented_shape);
  RUN(runs_of_one_agent_interleave);
  RUN(a_run_freed_half_way_changes_nothing);
  RUN(streamed_updates_come_before_the_next_action);
  RUN(missing_answers_and_host_failures);
  hn_reset();
  return test_summary();
}
