/*
 * The run's step machine against any host: the first byte picks the run
 * (streamed, providers, a host store with or without its copy in memory, a
 * context window), then each line of
 * the input is the outcome of one step: "!" the action failed (TM_EHOST),
 * "~" the host could not hand its answer over (TM_ENOMEM), "-" no answer,
 * anything else the answer's text. When the lines run out every step gets
 * no answer. Whatever the answers, every action has the documented shape,
 * the run ends (done, or a failure with a message) within a bounded number
 * of steps, a failure leaves the store as it was, a success adds the turn
 * (to the host store, never to its copy, which is read in place without a
 * store_list), and nothing leaks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "threadmem.h"

#define MAX_STEPS 4096

static const char *const types[] = {"store_list", "invoking", "llm",    "llm_open", "llm_next",
                                    "tools",      "emit",     "invoked", "store_add", "done"};

/* The type of a well-formed action; aborts on anything else. */
static const char *check_action(const char *action) {
  static const char prefix[] = "{\"type\":\"";
  if (!action || strncmp(action, prefix, sizeof prefix - 1) != 0) abort();
  const char *t = action + sizeof prefix - 1;
  size_t n = strcspn(t, "\"");
  const char *type = NULL;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    if (strlen(types[i]) == n && strncmp(t, types[i], n) == 0) type = types[i];
  }
  if (!type) abort();
  const char *rest = t + n + 1;
  if (strcmp(rest, "}") != 0 && strncmp(rest, ",\"", 2) != 0) abort();
  cJSON *j = cJSON_Parse(action);
  if (j) {
    if (!cJSON_IsObject(j)) abort();
    cJSON_Delete(j);
  }
  /* (NULL only when cJSON's allocation failed: the hooks are the core's.) */
  return type;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t pick = data[0];
  char *text = malloc(size);
  if (!text) abort();
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';

  bool stream = pick & 1, providers = pick & 2, host_store = pick & 4, windowed = pick & 8;
  bool copy = host_store && (pick & 16);
  tm_agent *agent = tm_agent_new(
      NULL, windowed ? "{\"instructions\":\"i\",\"tools\":[{\"name\":\"weather\"}],"
                       "\"context_window\":{\"max_tokens\":200,\"encoding\":\"estimate\"}}"
                     : "{\"instructions\":\"i\",\"tools\":[{\"name\":\"weather\"}]}");
  tm_store *store = host_store && !copy ? NULL : tm_store_new(0);
  if (!agent || (!store && (!host_store || copy))) abort();
  if (store && tm_store_add(store, "[{\"role\":\"user\",\"text\":\"old\"},{\"role\":\"assistant\","
                                   "\"text\":\"reply\"}]") != TM_OK)
    abort();
  char run_json[160];
  snprintf(run_json, sizeof run_json,
           "{\"stream\":%s,\"providers\":%s,\"host_store\":%s,\"messages\":[{\"role\":\"user\","
           "\"text\":\"Weather?\"}]}",
           stream ? "true" : "false", providers ? "true" : "false", host_store ? "true" : "false");
  tm_run *run = NULL;
  if (tm_run_start(agent, store, run_json, &run) != TM_OK) abort();

  char *line = text;
  bool lines_left = true;
  int host_rc = TM_OK, rc = TM_OK;
  const char *input = NULL;
  const char *type = NULL;
  char *action = NULL;
  for (int steps = 0;; steps++) {
    if (steps > MAX_STEPS) abort(); /* a run must end */
    rc = tm_run_step(run, host_rc, input, &action);
    if (rc != TM_OK) {
      if (action) abort();
      break;
    }
    type = check_action(action);
    if (copy && strcmp(type, "store_list") == 0) abort();
    tm_free(action);
    action = NULL;
    if (strcmp(type, "done") == 0) break;
    /* The outcome of this action: the next line. */
    host_rc = TM_OK;
    input = NULL;
    if (lines_left) {
      char *end = strchr(line, '\n');
      if (end) *end = '\0';
      if (strcmp(line, "!") == 0) host_rc = TM_EHOST;
      else if (strcmp(line, "~") == 0) host_rc = TM_ENOMEM;
      else if (strcmp(line, "-") != 0) input = line;
      if (end) line = end + 1;
      else lines_left = false;
    }
  }

  if (rc == TM_OK) {
    /* The old two, input and reply; a host store's copy keeps the old two. */
    if (store && (copy ? tm_store_count(store) != 2 : tm_store_count(store) < 4)) abort();
  } else {
    const char *msg = tm_errmsg(run);
    if (!msg || !msg[0] || tm_errcode(run) != rc) abort();
    if (store && tm_store_count(store) != 2) abort();
  }
  /* After the end every step is refused. */
  if (tm_run_step(run, TM_OK, NULL, &action) != TM_ESTATE || action) abort();
  tm_run_free(run);
  tm_store_free(store);
  tm_agent_free(agent);
  free(text);
  return 0;
}
