/*
 * The native host for the C tests: a scriptable fake (see host_native.h for
 * how tests drive it).
 *
 * This file implements the table of src/host.h; it and
 * wasm/library_threadmem.js must both match that table exactly. It also
 * performs the actions of a run (tm_run_step), as js/agent.js does for the
 * package, through a driver that steps one run to its end.
 */
#include "host_native.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "threadmem.h"

/* ---- the fake's own bookkeeping (C library malloc: invisible to the
 *      counting allocator of the tests) ---- */

typedef struct strlist {
  char **items;
  size_t len, cap;
} strlist;

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "host_native: out of memory\n");
    abort();
  }
  return p;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = xmalloc(n);
  memcpy(p, s, n);
  return p;
}

/* Takes ownership of s (may be NULL, recorded as such). */
static void strlist_push(strlist *l, char *s) {
  if (l->len == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    char **items = realloc(l->items, cap * sizeof *items);
    if (!items) {
      fprintf(stderr, "host_native: out of memory\n");
      abort();
    }
    l->items = items;
    l->cap = cap;
  }
  l->items[l->len++] = s;
}

static void strlist_free(strlist *l) {
  for (size_t i = 0; i < l->len; i++) free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

typedef struct script {
  strlist llm_queue; /* canned bodies; llm_next is the next to serve */
  size_t llm_next;
  strlist streams; /* canned streamed replies; stream_next is the next */
  size_t stream_next;
  strlist chunks; /* the chunks of the reply being read */
  size_t chunk_next;
  hn_llm_fn llm_fn;
  void *llm_user;
  hn_tools_fn tools_fn;
  void *tools_user;
  char *invoking; /* NULL: "[]" */
  strlist store;  /* compact message JSON, oldest first */
  long fail_at[HN_IMPORTS];
  strlist recorded[HN_IMPORTS];
} script;

#define HN_DEFAULT_NOW 1767225600000.0 /* 2026-01-01T00:00:00.000Z */
#define HN_DEFAULT_SEED UINT64_C(0x5eed5eed5eed5eed)

static script scripts[HN_MAX_CTX];
static bool scripts_ready;
static double clock_now = HN_DEFAULT_NOW;
static double clock_step;
static uint64_t prng_state = HN_DEFAULT_SEED;

static void script_init(script *s) {
  memset(s, 0, sizeof *s);
  for (int i = 0; i < HN_IMPORTS; i++) s->fail_at[i] = -1;
}

static void script_free(script *s) {
  strlist_free(&s->llm_queue);
  strlist_free(&s->streams);
  strlist_free(&s->chunks);
  free(s->invoking);
  strlist_free(&s->store);
  for (int i = 0; i < HN_IMPORTS; i++) strlist_free(&s->recorded[i]);
  script_init(s);
}

static script *get(uint32_t ctx) {
  if (!scripts_ready) {
    for (int i = 0; i < HN_MAX_CTX; i++) script_init(&scripts[i]);
    scripts_ready = true;
  }
  return &scripts[ctx % HN_MAX_CTX];
}

void hn_reset_ctx(uint32_t ctx) { script_free(get(ctx)); }

void hn_reset(void) {
  for (uint32_t i = 0; i < HN_MAX_CTX; i++) hn_reset_ctx(i);
  clock_now = HN_DEFAULT_NOW;
  clock_step = 0;
  prng_state = HN_DEFAULT_SEED;
  hn_count_set_fn(NULL, NULL);
}

void hn_set_now(double ms) { clock_now = ms; }
void hn_set_clock_step(double step) { clock_step = step; }
void hn_seed(uint64_t seed) { prng_state = seed; }

void hn_llm_push(uint32_t ctx, const char *response_json) {
  strlist_push(&get(ctx)->llm_queue, xstrdup(response_json));
}

void hn_llm_set_fn(uint32_t ctx, hn_llm_fn fn, void *user) {
  script *s = get(ctx);
  s->llm_fn = fn;
  s->llm_user = user;
}

void hn_llm_push_stream(uint32_t ctx, const char *chunks) {
  strlist_push(&get(ctx)->streams, xstrdup(chunks));
}

size_t hn_llm_pending(uint32_t ctx) {
  script *s = get(ctx);
  return s->llm_queue.len - s->llm_next;
}

void hn_tools_set_fn(uint32_t ctx, hn_tools_fn fn, void *user) {
  script *s = get(ctx);
  s->tools_fn = fn;
  s->tools_user = user;
}

void hn_invoking_set(uint32_t ctx, const char *contexts_json) {
  script *s = get(ctx);
  free(s->invoking);
  s->invoking = contexts_json ? xstrdup(contexts_json) : NULL;
}

/* Splits a JSON array into the texts of its items, without cJSON: test
 * set-up must not depend on the core's allocator, which a test may be
 * failing on purpose. Whitespace around items is dropped. False when the
 * text is not an array; `out` is untouched then. Validating the items is
 * not its job: the core validates what it reads. */
static bool split_array(const char *json, strlist *out) {
  strlist tmp = {0};
  const char *p = json;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  if (*p++ != '[') return false;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (*p == ']' && tmp.len == 0) break;
    const char *start = p;
    size_t depth = 0;
    bool in_string = false;
    for (; *p; p++) {
      if (in_string) {
        if (*p == '\\' && p[1]) p++;
        else if (*p == '"') in_string = false;
      } else if (*p == '"') {
        in_string = true;
      } else if (*p == '[' || *p == '{') {
        depth++;
      } else if (*p == ']' || *p == '}') {
        if (depth == 0) break;
        depth--;
      } else if (*p == ',' && depth == 0) {
        break;
      }
    }
    const char *end = p;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
                           end[-1] == '\r'))
      end--;
    if (end == start || (*p != ',' && *p != ']')) {
      strlist_free(&tmp);
      return false;
    }
    char *item = xmalloc((size_t)(end - start) + 1);
    memcpy(item, start, (size_t)(end - start));
    item[end - start] = '\0';
    strlist_push(&tmp, item);
    if (*p++ == ']') break;
  }
  for (size_t i = 0; i < tmp.len; i++) strlist_push(out, tmp.items[i]);
  free(tmp.items);
  return true;
}

void hn_store_set(uint32_t ctx, const char *messages_json) {
  script *s = get(ctx);
  strlist fresh = {0};
  if (!split_array(messages_json, &fresh)) {
    fprintf(stderr, "host_native: hn_store_set needs a JSON array\n");
    abort();
  }
  strlist_free(&s->store);
  s->store = fresh;
}

size_t hn_store_len(uint32_t ctx) { return get(ctx)->store.len; }

const char *hn_store_at(uint32_t ctx, size_t i) {
  script *s = get(ctx);
  return i < s->store.len ? s->store.items[i] : NULL;
}

void hn_fail_at(uint32_t ctx, hn_import imp, long call_index) {
  get(ctx)->fail_at[imp] = call_index;
}

size_t hn_calls(uint32_t ctx, hn_import imp) { return get(ctx)->recorded[imp].len; }

const char *hn_recorded(uint32_t ctx, hn_import imp, size_t i) {
  script *s = get(ctx);
  return i < s->recorded[imp].len ? s->recorded[imp].items[i] : NULL;
}

/* Counts and records one call; true when the test armed it to fail. */
static bool enter(script *s, hn_import imp, const char *input) {
  size_t index = s->recorded[imp].len;
  strlist_push(&s->recorded[imp], input ? xstrdup(input) : NULL);
  return s->fail_at[imp] >= 0 && (size_t)s->fail_at[imp] == index;
}

/* Hands a result to the core in its allocator. */
static int give(const char *text, char **out) {
  size_t n = strlen(text) + 1;
  char *p = tm_malloc(n);
  if (!p) return TM_ENOMEM;
  memcpy(p, text, n);
  *out = p;
  return TM_OK;
}

/* ---- the imports of host.h (all synchronous) ---- */

double tm_host_now_ms(void) {
  double t = clock_now;
  clock_now += clock_step;
  return t;
}

static hn_count_fn count_fn;
static void *count_user;

void hn_count_set_fn(hn_count_fn fn, void *user) {
  count_fn = fn;
  count_user = user;
}

int tm_host_count(const char *text, size_t len, size_t *out) {
  *out = 0;
  long n = count_fn ? count_fn(count_user, text, len) : (long)len;
  if (n < 0) return TM_EHOST;
  *out = (size_t)n;
  return TM_OK;
}

/* splitmix64: deterministic, so ids in tests are reproducible. */
void tm_host_random(uint8_t *buf, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint64_t z = (prng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    buf[i] = (uint8_t)(z & 0xff);
  }
}

/* ---- the actions of a run (tm_run_step), performed for the driver ---- */

static int hn_do_llm(uint32_t ctx, const char *request_json, char **out) {
  script *s = get(ctx);
  size_t index = s->recorded[HN_LLM].len;
  *out = NULL;
  if (enter(s, HN_LLM, request_json)) return TM_EHOST;
  if (s->llm_next < s->llm_queue.len) {
    int rc = give(s->llm_queue.items[s->llm_next], out);
    /* A body is used up only once the core has it, so an allocation
     * failure leaves the script as it was. */
    if (rc == TM_OK) s->llm_next++;
    return rc;
  }
  if (s->llm_fn) {
    const char *body = s->llm_fn(s->llm_user, request_json, index);
    return body ? give(body, out) : TM_EHOST;
  }
  return TM_EHOST;
}

static int hn_do_llm_open(uint32_t ctx, const char *request_json) {
  script *s = get(ctx);
  if (enter(s, HN_LLM_OPEN, request_json)) return TM_EHOST;
  if (s->stream_next >= s->streams.len) return TM_EHOST;
  strlist_free(&s->chunks);
  s->chunk_next = 0;
  const char *p = s->streams.items[s->stream_next++];
  while (*p) {
    const char *end = strchr(p, '\n');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char *chunk = xmalloc(n + 1);
    memcpy(chunk, p, n);
    chunk[n] = '\0';
    strlist_push(&s->chunks, chunk);
    p += n + (end ? 1 : 0);
  }
  return TM_OK;
}

static int hn_do_llm_next(uint32_t ctx, char **out) {
  script *s = get(ctx);
  *out = NULL;
  if (enter(s, HN_LLM_NEXT, NULL)) return TM_EHOST;
  if (s->chunk_next >= s->chunks.len) return TM_OK;
  const char *chunk = s->chunks.items[s->chunk_next];
  if (strcmp(chunk, "!") == 0) return TM_EHOST;
  int rc = give(chunk, out);
  if (rc == TM_OK) s->chunk_next++;
  return rc;
}

static void hn_do_emit(uint32_t ctx, const char *event_json) {
  (void)enter(get(ctx), HN_EMIT, event_json);
}

/* Default tools: each call's result is the string "name(arguments)". */
static int default_tools(const char *calls_json, char **out) {
  cJSON *calls = cJSON_Parse(calls_json), *results = NULL;
  char *args = NULL, *text = NULL, *printed = NULL;
  const cJSON *c;
  int rc = TM_ENOMEM;
  if (!calls) return TM_ENOMEM;
  if (!cJSON_IsArray(calls)) {
    rc = TM_EHOST;
    goto done;
  }
  if (!(results = cJSON_CreateArray())) goto done;
  cJSON_ArrayForEach(c, calls) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "call_id");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, "arguments");
    cJSON *r = cJSON_CreateObject();
    if (!r || !cJSON_AddItemToArray(results, r)) {
      cJSON_Delete(r);
      goto done;
    }
    if (!cJSON_IsString(id) || !cJSON_IsString(name)) {
      rc = TM_EHOST;
      goto done;
    }
    if (!cJSON_AddStringToObject(r, "call_id", id->valuestring)) goto done;
    if (!(args = a ? cJSON_PrintUnformatted(a) : NULL) && a) goto done;
    size_t n = strlen(name->valuestring) + (args ? strlen(args) : 0) + 3;
    text = xmalloc(n);
    snprintf(text, n, "%s(%s)", name->valuestring, args ? args : "");
    if (!cJSON_AddStringToObject(r, "result", text)) goto done;
    free(text);
    text = NULL;
    cJSON_free(args);
    args = NULL;
  }
  if (!(printed = cJSON_PrintUnformatted(results))) goto done;
  rc = give(printed, out);
done:
  free(text);
  cJSON_free(args);
  cJSON_free(printed);
  cJSON_Delete(results);
  cJSON_Delete(calls);
  return rc;
}

static int hn_do_tools(uint32_t ctx, const char *calls_json, char **out) {
  script *s = get(ctx);
  size_t index = s->recorded[HN_TOOLS].len;
  *out = NULL;
  if (enter(s, HN_TOOLS, calls_json)) return TM_EHOST;
  if (s->tools_fn) {
    const char *body = s->tools_fn(s->tools_user, calls_json, index);
    return body ? give(body, out) : TM_EHOST;
  }
  return default_tools(calls_json, out);
}

static int hn_do_store_list(uint32_t ctx, char **out) {
  script *s = get(ctx);
  size_t n = 3;
  *out = NULL;
  if (enter(s, HN_STORE_LIST, NULL)) return TM_EHOST;
  for (size_t i = 0; i < s->store.len; i++) n += strlen(s->store.items[i]) + 1;
  char *p = tm_malloc(n), *w = p;
  if (!p) return TM_ENOMEM;
  *w++ = '[';
  for (size_t i = 0; i < s->store.len; i++) {
    size_t k = strlen(s->store.items[i]);
    if (i) *w++ = ',';
    memcpy(w, s->store.items[i], k);
    w += k;
  }
  *w++ = ']';
  *w = '\0';
  *out = p;
  return TM_OK;
}

static int hn_do_store_add(uint32_t ctx, const char *messages_json) {
  script *s = get(ctx);
  if (enter(s, HN_STORE_ADD, messages_json)) return TM_EHOST;
  return split_array(messages_json, &s->store) ? TM_OK : TM_EHOST;
}

static int hn_do_invoking(uint32_t ctx, const char *request_json, char **out) {
  script *s = get(ctx);
  *out = NULL;
  if (enter(s, HN_INVOKING, request_json)) return TM_EHOST;
  return give(s->invoking ? s->invoking : "[]", out);
}

static int hn_do_invoked(uint32_t ctx, const char *json) {
  script *s = get(ctx);
  return enter(s, HN_INVOKED, json) ? TM_EHOST : TM_OK;
}

/* ---- the driver ---- */

static int last_code;
static char *last_msg;

static void keep_error(int code, const char *msg) {
  free(last_msg);
  last_code = code;
  last_msg = xstrdup(msg ? msg : "");
}

int hn_errcode(void) { return last_code; }
const char *hn_errmsg(void) { return last_msg ? last_msg : ""; }

/* Splits an action (tm_run_step's text, {"type":"T"} or
 * {"type":"T","K":PAYLOAD}) in place: *type and *payload point into it,
 * NUL-terminated; *payload is NULL when it has none. No cJSON: the driver
 * must not allocate through the core, which a test may be failing. */
static bool split_action(char *action, const char **type, const char **payload) {
  static const char prefix[] = "{\"type\":\"";
  size_t n = strlen(action);
  if (strncmp(action, prefix, sizeof prefix - 1) != 0 || n < sizeof prefix + 1 ||
      action[n - 1] != '}')
    return false;
  char *t = action + sizeof prefix - 1, *end = strchr(t, '"');
  if (!end) return false;
  *end = '\0';
  *type = t;
  *payload = NULL;
  if (end[1] == '}') return true;
  if (end[1] != ',' || end[2] != '"') return false;
  char *colon = strchr(end + 3, '"');
  if (!colon || colon[1] != ':') return false;
  action[n - 1] = '\0';
  *payload = colon + 2;
  return true;
}

/* Performs one action; *answer is what the next step takes (tm_malloc'd by
 * give(), or NULL). Returns the host's result code. */
static int perform(uint32_t ctx, const char *type, const char *payload, char **answer) {
  *answer = NULL;
  if (strcmp(type, "llm") == 0) return hn_do_llm(ctx, payload, answer);
  if (strcmp(type, "llm_open") == 0) return hn_do_llm_open(ctx, payload);
  if (strcmp(type, "llm_next") == 0) return hn_do_llm_next(ctx, answer);
  if (strcmp(type, "tools") == 0) return hn_do_tools(ctx, payload, answer);
  if (strcmp(type, "store_list") == 0) return hn_do_store_list(ctx, answer);
  if (strcmp(type, "store_add") == 0) return hn_do_store_add(ctx, payload);
  if (strcmp(type, "invoking") == 0) return hn_do_invoking(ctx, payload, answer);
  if (strcmp(type, "invoked") == 0) return hn_do_invoked(ctx, payload);
  if (strcmp(type, "emit") == 0) {
    hn_do_emit(ctx, payload);
    return TM_OK;
  }
  fprintf(stderr, "host_native: unknown action %s\n", type);
  abort();
}

int hn_run_step(tm_run *run, uint32_t ctx, int *host_rc, char **answer, char **out) {
  char *action = NULL;
  const char *type, *payload;
  int rc = tm_run_step(run, *host_rc, *answer, &action);
  tm_free(*answer);
  *answer = NULL;
  *host_rc = TM_OK;
  if (rc != TM_OK) {
    keep_error(rc, tm_errmsg(run));
    return rc;
  }
  if (!split_action(action, &type, &payload)) {
    fprintf(stderr, "host_native: malformed action %s\n", action);
    abort();
  }
  if (strcmp(type, "done") == 0) {
    /* The result, moved to the start of the action's own buffer: handing
     * it out must not allocate once the turn is stored. */
    memmove(action, payload, strlen(payload) + 1);
    *out = action;
    return TM_OK;
  }
  *host_rc = perform(ctx, type, payload, answer);
  tm_free(action);
  return -1;
}

int hn_agent_run(tm_agent *agent, tm_store *store, uint32_t ctx, const char *run_json,
                 char **out) {
  tm_run *run = NULL;
  char *answer = NULL;
  int host_rc = TM_OK, rc;
  if (out) *out = NULL;
  rc = tm_run_start(agent, store, run_json, out ? &run : NULL);
  if (rc != TM_OK) {
    keep_error(rc, agent ? tm_errmsg(agent) : "no agent");
    return rc;
  }
  while ((rc = hn_run_step(run, ctx, &host_rc, &answer, out)) < 0) {
  }
  tm_run_free(run);
  return rc;
}
