/*
 * The context window's invariants on random message lists (window.h):
 * within budget, the reported tokens exact, the system messages first, a
 * contiguous run of the newest history holding the newest user turn, no
 * tool result without its call, no call without its results, never
 * starting mid-turn, and maximal (the turn before would not fit unless it
 * holds something unsendable). A refusal (TM_EWINDOW, or TM_ESTATE for an
 * unsendable newest turn) must be right too.
 *
 * The input drives a generator: two bytes of budget, one of reserve and
 * strategy, then one byte per message (its kind and length).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "threadmem.h"

#define MAX_MSGS 200

typedef enum kind { SYSTEM, USER, REPLY, CALLS, RESULT, ORPHAN } kind;

typedef struct gen {
  kind kinds[MAX_MSGS];
  int n_calls[MAX_MSGS]; /* CALLS: how many; RESULT: which call message */
  bool broken[MAX_MSGS]; /* cannot be sent: an orphan, or in an incomplete group */
  size_t n;
  char *json;
  size_t len, cap;
} gen;

static void put(gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(gen *g, const char *fmt, ...) {
  va_list ap;
  if (!g->json) {
    g->cap = 1024;
    if (!(g->json = malloc(g->cap))) abort();
  }
  for (;;) {
    va_start(ap, fmt);
    int k = vsnprintf(g->json + g->len, g->cap - g->len, fmt, ap);
    va_end(ap);
    if (k < 0) abort();
    if ((size_t)k < g->cap - g->len) {
      g->len += (size_t)k;
      return;
    }
    g->cap = g->cap * 2 + (size_t)k + 64;
    g->json = realloc(g->json, g->cap);
    if (!g->json) abort();
  }
}

static void text(gen *g, unsigned len) {
  for (unsigned i = 0; i < len; i++) put(g, "%s", i % 3 ? "ab" : " w");
}

/* Builds the message list: results answer the calls of the last CALLS
 * message when there is one pending, else they are orphans. */
static void generate(gen *g, const uint8_t *data, size_t size) {
  int pending = -1, answered = 0;
  put(g, "[");
  for (size_t i = 0; i < size && g->n < MAX_MSGS; i++) {
    unsigned b = data[i], len = (b >> 3) % 24;
    kind k = (kind)(b % 6);
    if (k == RESULT && pending < 0) k = ORPHAN;
    size_t m = g->n++;
    g->kinds[m] = k;
    put(g, "%s{\"message_id\":\"m%zu\",", m ? "," : "", m);
    switch (k) {
      case SYSTEM:
      case USER:
      case REPLY:
        put(g, "\"role\":\"%s\",\"text\":\"", k == SYSTEM ? "system" : k == USER ? "user" : "assistant");
        text(g, len);
        put(g, "\"}");
        pending = -1;
        break;
      case CALLS:
        g->n_calls[m] = 1 + (int)(len % 3);
        put(g, "\"role\":\"assistant\",\"contents\":[");
        for (int c = 0; c < g->n_calls[m]; c++)
          put(g, "%s{\"type\":\"function_call\",\"call_id\":\"c%zu_%d\",\"name\":\"f\",\"arguments\":\"{}\"}",
              c ? "," : "", m, c);
        put(g, "]}");
        pending = (int)m;
        answered = 0;
        break;
      case RESULT:
        g->n_calls[m] = pending;
        put(g, "\"role\":\"tool\",\"contents\":[{\"type\":\"function_result\",\"call_id\":\"c%d_%d\","
               "\"result\":\"",
            pending, answered);
        text(g, len);
        put(g, "\"}]}");
        if (++answered >= g->n_calls[pending]) pending = -1;
        break;
      case ORPHAN:
        put(g, "\"role\":\"tool\",\"contents\":[{\"type\":\"function_result\",\"call_id\":\"gone\","
               "\"result\":1}]}");
        break;
    }
  }
  put(g, "]");
  /* A group is complete when its call message is followed by one result
   * per call and nothing else of the tool role. */
  for (size_t m = 0; m < g->n; m++) {
    if (g->kinds[m] == ORPHAN) g->broken[m] = true;
    if (g->kinds[m] != CALLS) continue;
    size_t e = m + 1;
    while (e < g->n && (g->kinds[e] == RESULT || g->kinds[e] == ORPHAN)) e++;
    bool ok = e - m - 1 == (size_t)g->n_calls[m];
    for (size_t i = m + 1; i < e; i++) ok &= g->kinds[i] == RESULT;
    for (size_t i = m; !ok && i < e; i++) g->broken[i] = true;
  }
}

/* The tokens of each generated message, counted alone (without the reply
 * priming), so that sums of them are what the window must report. */
static size_t msg_tokens[MAX_MSGS];

static size_t tokens_of(size_t from, size_t to) {
  size_t sum = 0;
  for (size_t i = from; i < to; i++) sum += msg_tokens[i];
  return sum;
}

/* Counts each message of the list on its own, in one pass over its text:
 * each message is a balanced {...} and no generated string holds a
 * bracket. */
static void count_all(tm_ctx *ctx, const char *list_json, size_t n) {
  char *one = malloc(strlen(list_json) + 3);
  if (!one) abort();
  const char *p = list_json + 1;
  for (size_t idx = 0; idx < n; idx++) {
    const char *start = p;
    int depth = 0;
    do {
      if (*p == '{' || *p == '[') depth++;
      if (*p == '}' || *p == ']') depth--;
      p++;
    } while (depth > 0);
    size_t len = (size_t)(p - start), tokens = 0;
    one[0] = '[';
    memcpy(one + 1, start, len);
    one[len + 1] = ']';
    one[len + 2] = '\0';
    if (tm_count_messages(ctx, one, "estimate", &tokens) != TM_OK) abort();
    msg_tokens[idx] = tokens - 3;
    if (*p == ',') p++;
  }
  free(one);
}

/* The input index of a sent message ("m<i>"). */
static size_t index_of(const char *json_obj_start) {
  const char *id = strstr(json_obj_start, "\"message_id\":\"m");
  if (!id) abort();
  return (size_t)strtoul(id + 15, NULL, 10);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  size_t max_tokens = 1 + (((size_t)data[0] << 8 | data[1]) % 1500);
  size_t reserve = (data[2] >> 1) % 8 == 0 ? max_tokens / 2 : 0;
  bool first = data[2] & 1;
  gen g = {0};
  generate(&g, data + 3, size - 3);

  char spec[128];
  snprintf(spec, sizeof spec,
           "{\"max_tokens\":%zu,\"reserve_tokens\":%zu,\"encoding\":\"estimate\",\"strategy\":\"%s\"}",
           max_tokens, reserve, first ? "first" : "last");
  size_t budget = max_tokens - reserve;
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL;
  int rc = tm_fit_window(ctx, g.json, spec, &out);

  count_all(ctx, g.json, g.n);
  size_t lead = 0, last_user = g.n;
  while (lead < g.n && g.kinds[lead] == SYSTEM) lead++;
  for (size_t i = g.n; i-- > lead;)
    if (g.kinds[i] == USER) {
      last_user = i;
      break;
    }
  size_t must = tokens_of(0, lead) + 3;
  bool turn_broken = false;
  if (!first && last_user < g.n) {
    must += tokens_of(last_user, g.n);
    for (size_t i = last_user; i < g.n; i++) turn_broken |= g.broken[i];
  }

  if (rc == TM_ESTATE) {
    if (!turn_broken) abort();
  } else if (rc == TM_EWINDOW) {
    if (must <= budget) abort(); /* refused what fits */
  } else if (rc != TM_OK) {
    abort();
  } else {
    if (must > budget || turn_broken) abort(); /* sent what cannot fit, or be sent */
    /* The sent messages' input indexes. */
    size_t sent[MAX_MSGS], n_sent = 0;
    const char *msgs = strstr(out, "\"messages\":[");
    const char *dropped = strstr(out, "\"dropped\":[");
    for (const char *p = strstr(msgs, "{\"type\":\"chat_message\""); p && p < dropped;
         p = strstr(p + 1, "{\"type\":\"chat_message\""))
      sent[n_sent++] = index_of(p);
    size_t tokens = (size_t)strtoul(strstr(out, "\"tokens\":") + 9, NULL, 10);
    /* Within budget, and exactly what the rule counts. */
    if (tokens > budget) abort();
    size_t counted = 3;
    for (size_t i = 0; i < n_sent; i++) counted += tokens_of(sent[i], sent[i] + 1);
    if (counted != tokens) abort();
    /* The system messages first, then one contiguous run. */
    size_t s = 0;
    for (; s < lead; s++)
      if (s >= n_sent || sent[s] != s) abort();
    for (size_t i = s + 1; i < n_sent; i++)
      if (sent[i] != sent[i - 1] + 1) abort();
    size_t start = s < n_sent ? sent[s] : (first ? lead : g.n);
    size_t end = s < n_sent ? sent[n_sent - 1] + 1 : start;
    if (!first && end != g.n && s < n_sent) abort();
    if (first && start != lead) abort();
    /* No orphan, no call without its results, no split group. */
    for (size_t i = start; i < end; i++) {
      if (g.broken[i]) abort();
      if (g.kinds[i] == RESULT && (i == start || (g.kinds[i - 1] != CALLS && g.kinds[i - 1] != RESULT)))
        abort();
    }
    if (end > start && g.kinds[end - 1] == CALLS) abort(); /* its results cut off */
    if (!first) {
      /* The newest user turn is in, and a cut window starts on a user. */
      if (last_user < g.n && (start > last_user)) abort();
      bool any_user = last_user < g.n;
      if (start > lead && any_user && g.kinds[start] != USER) abort();
      /* Maximal: the turn before the window would not fit, or holds an
       * orphan that ends the walk. */
      if (start > lead && any_user) {
        size_t p = start;
        while (p > lead && g.kinds[p - 1] != USER) p--;
        if (p > lead) {
          size_t prev = p - 1;
          bool broken = false;
          for (size_t i = prev; i < start; i++) broken |= g.broken[i];
          if (!broken && tokens + tokens_of(prev, start) <= budget) abort();
        }
      }
    }
  }
  tm_free(out);
  tm_ctx_free(ctx);
  free(g.json);
  return 0;
}
