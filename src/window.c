/*
 * The context window (window.h): choosing, under a token budget, the
 * messages of a history that are sent.
 */
#include <string.h>

#include "count.h"
#include "window.h"

int tm_window_spec_read(tm_base *b, const cJSON *obj, const char *path, tm_window_spec *out) {
  *out = (tm_window_spec){.enc = TM_ENC_O200K_BASE, .strategy = TM_KEEP_LAST};
  if (!cJSON_IsObject(obj)) return tm_fail(b, TM_EFORMAT, "%s: expected an object", path);
  const cJSON *max = cJSON_GetObjectItemCaseSensitive(obj, "max_tokens");
  const cJSON *reserve = cJSON_GetObjectItemCaseSensitive(obj, "reserve_tokens");
  const cJSON *enc = cJSON_GetObjectItemCaseSensitive(obj, "encoding");
  const cJSON *strategy = cJSON_GetObjectItemCaseSensitive(obj, "strategy");
  /* Integers that a double holds exactly, and that fit a size_t anywhere. */
  const double limit = 4294967295.0;
  if (!cJSON_IsNumber(max) || max->valuedouble < 1 || max->valuedouble > limit ||
      max->valuedouble != (double)(size_t)max->valuedouble)
    return tm_fail(b, TM_EFORMAT, "%s.max_tokens: expected a positive integer", path);
  out->max_tokens = (size_t)max->valuedouble;
  if (reserve && !cJSON_IsNull(reserve)) {
    if (!cJSON_IsNumber(reserve) || reserve->valuedouble < 0 || reserve->valuedouble > limit ||
        reserve->valuedouble != (double)(size_t)reserve->valuedouble)
      return tm_fail(b, TM_EFORMAT, "%s.reserve_tokens: expected a non-negative integer", path);
    out->reserve_tokens = (size_t)reserve->valuedouble;
  }
  if (out->reserve_tokens >= out->max_tokens)
    return tm_fail(b, TM_EWINDOW, "%s: reserve_tokens (%zu) leaves nothing of max_tokens (%zu)",
                   path, out->reserve_tokens, out->max_tokens);
  if (enc && !cJSON_IsNull(enc)) {
    if (!cJSON_IsString(enc)) return tm_fail(b, TM_EFORMAT, "%s.encoding: expected a string", path);
    if (strcmp(enc->valuestring, "host") == 0) {
      out->enc = TM_ENC_HOST;
    } else if ((out->enc = tm_encoding_id(enc->valuestring)) < 0) {
      return tm_fail(b, TM_EENCODING, "%s.encoding: unknown encoding \"%s\"", path,
                     enc->valuestring);
    }
  }
  if (strategy && !cJSON_IsNull(strategy)) {
    if (cJSON_IsString(strategy) && strcmp(strategy->valuestring, "last") == 0)
      out->strategy = TM_KEEP_LAST;
    else if (cJSON_IsString(strategy) && strcmp(strategy->valuestring, "first") == 0)
      out->strategy = TM_KEEP_FIRST;
    else
      return tm_fail(b, TM_EFORMAT, "%s.strategy: expected \"last\" or \"first\"", path);
  }
  return TM_OK;
}

int tm_window_spec_parse(tm_base *b, const char *spec_json, tm_window_spec *out) {
  cJSON *json = NULL;
  int rc = tm_json_parse(b, spec_json ? spec_json : "", "window", &json);
  if (rc) return rc;
  rc = tm_window_spec_read(b, json, "window", out);
  cJSON_Delete(json);
  return rc;
}

/* The walk over a history: its messages and the counting of them. */
typedef struct walk {
  tm_base *b;
  const tm_msglist *h;
  int enc;
} walk;

static const tm_message *at(const walk *w, size_t i) { return tm_msglist_get(w->h, i); }

static bool is_tool(const walk *w, size_t i) { return at(w, i)->role == TM_ROLE_TOOL; }

/* Adds the tokens of messages [from, to) to *sum. */
static int add_tokens(const walk *w, size_t from, size_t to, size_t *sum) {
  for (size_t i = from; i < to; i++) {
    size_t n;
    int rc = tm_message_tokens(w->b, at(w, i), w->enc, &n);
    if (rc) return rc;
    *sum += n;
  }
  return TM_OK;
}

static const char *content_str(const cJSON *content, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(content, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* True when content `c` of a message is of type `type`. */
static bool content_is(const cJSON *c, const char *type) {
  const char *t = content_str(c, "type");
  return t && strcmp(t, type) == 0;
}

/* True when `id` is answered by a function result of the messages [from, to). */
static bool answered(const walk *w, const char *id, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) {
    const cJSON *c;
    cJSON_ArrayForEach(c, tm_message_contents(at(w, i))) {
      const char *cid = content_str(c, "call_id");
      if (content_is(c, "function_result") && cid && strcmp(cid, id) == 0) return true;
    }
  }
  return false;
}

/* True when the tool messages [head + 1, end) answer every call of `head`
 * and nothing else: only then may the group be sent (endpoints refuse a
 * result without its call, and a call without its results). */
static bool group_complete(const walk *w, size_t head, size_t end) {
  const cJSON *calls = tm_message_contents(at(w, head)), *c;
  cJSON_ArrayForEach(c, calls) {
    const char *id = content_str(c, "call_id");
    if (content_is(c, "function_call") && (!id || !answered(w, id, head + 1, end))) return false;
  }
  for (size_t i = head + 1; i < end; i++) {
    const cJSON *r;
    cJSON_ArrayForEach(r, tm_message_contents(at(w, i))) {
      const char *id = content_str(r, "call_id");
      if (!content_is(r, "function_result")) continue;
      bool found = false;
      cJSON_ArrayForEach(c, calls) {
        const char *cid = content_str(c, "call_id");
        found |= content_is(c, "function_call") && id && cid && strcmp(cid, id) == 0;
      }
      if (!found) return false;
    }
  }
  return true;
}

/* The unit that ends just before `end` (and starts at or after `floor`):
 * its first message, or `end` itself when the messages before it cannot be
 * sent (tool results without their call, a call without all its results):
 * the walk stops there. */
static size_t unit_before(const walk *w, size_t floor, size_t end) {
  size_t i = end - 1;
  if (!is_tool(w, i)) return tm_message_calls(at(w, i)) && !group_complete(w, i, end) ? end : i;
  while (i > floor && is_tool(w, i - 1)) i--;
  if (i > floor && tm_message_calls(at(w, i - 1)) && group_complete(w, i - 1, end)) return i - 1;
  return end;
}

/* The end of the unit that starts at `start` (before `limit`), or `start`
 * itself when it cannot be sent. */
static size_t unit_after(const walk *w, size_t start, size_t limit) {
  if (is_tool(w, start)) return start;
  size_t i = start + 1;
  if (!tm_message_calls(at(w, start))) return i;
  while (i < limit && is_tool(w, i)) i++;
  return group_complete(w, start, i) ? i : start;
}

static int fit_last(const walk *w, size_t lead, bool keep_last_turn, size_t budget, size_t *used,
                    tm_window *out) {
  size_t n = w->h->len, start = n;
  bool turns = true; /* the history has user turns not to start inside */
  int rc;
  if (keep_last_turn) {
    /* The newest turn: the last user message and what follows it. */
    size_t u = n;
    while (u > lead && at(w, u - 1)->role != TM_ROLE_USER) u--;
    if (u > lead) {
      start = u - 1;
      for (size_t i = start; i < n;) {
        size_t next = unit_after(w, i, n);
        if (next == i)
          return tm_fail(w->b, TM_ESTATE,
                         "messages[%zu]: a tool result without its call, or a call without all "
                         "its results, in the newest turn",
                         i);
        i = next;
      }
      size_t turn = 0;
      if ((rc = add_tokens(w, start, n, &turn))) return rc;
      if (*used + turn > budget)
        return tm_fail(w->b, TM_EWINDOW,
                       "the newest user turn needs %zu tokens with the system messages; the "
                       "window has %zu",
                       *used + turn, budget);
      *used += turn;
    }
    turns = u > lead;
  }
  size_t floor = start; /* everything from here on is sent */
  while (start > lead) {
    size_t first = unit_before(w, lead, start);
    if (first == start) break;
    size_t t = 0;
    if ((rc = add_tokens(w, first, start, &t))) return rc;
    if (*used + t > budget) break;
    *used += t;
    start = first;
  }
  if (start > lead && turns) {
    /* Something older was dropped: do not start in the middle of a turn. */
    while (start < floor && at(w, start)->role != TM_ROLE_USER) {
      size_t end = unit_after(w, start, floor), t = 0;
      if (end == start) end++; /* (an orphan is never inside the window) */
      if ((rc = add_tokens(w, start, end, &t))) return rc;
      *used -= t;
      start = end;
    }
  }
  out->start = start;
  out->end = n;
  return TM_OK;
}

static int fit_first(const walk *w, size_t lead, size_t budget, size_t *used, tm_window *out) {
  size_t n = w->h->len, end = lead;
  while (end < n) {
    size_t next = unit_after(w, end, n), t = 0;
    if (next == end) break;
    int rc = add_tokens(w, end, next, &t);
    if (rc) return rc;
    if (*used + t > budget) break;
    *used += t;
    end = next;
  }
  out->start = lead;
  out->end = end;
  return TM_OK;
}

int tm_window_fit(tm_base *b, const tm_msglist *h, size_t fixed, bool keep_last_turn,
                  const tm_window_spec *spec, tm_window *out) {
  walk w = {b, h, spec->enc};
  size_t budget = spec->max_tokens - spec->reserve_tokens; /* spec_read keeps it positive */
  size_t used = fixed + TM_TOKENS_REPLY_PRIMING, lead = 0;
  int rc;
  *out = (tm_window){0};
  while (lead < h->len && at(&w, lead)->role == TM_ROLE_SYSTEM) lead++;
  if ((rc = add_tokens(&w, 0, lead, &used))) return rc;
  if (used > budget)
    return tm_fail(b, TM_EWINDOW,
                   "the instructions, system messages and input need %zu tokens; the window has "
                   "%zu (max_tokens %zu, reserve_tokens %zu)",
                   used, budget, spec->max_tokens, spec->reserve_tokens);
  out->lead = lead;
  rc = spec->strategy == TM_KEEP_FIRST ? fit_first(&w, lead, budget, &used, out)
                                       : fit_last(&w, lead, keep_last_turn, budget, &used, out);
  if (rc) return rc;
  out->tokens = used;
  return TM_OK;
}

/* ---- On a plain JSON array of messages. ---- */

/* Reads the messages of `messages_json` into `v`. */
static int read_messages(tm_base *b, const char *messages_json, tm_msgvec *v) {
  cJSON *json = NULL;
  int rc = tm_json_parse(b, messages_json ? messages_json : "", "messages", &json);
  if (rc) return rc;
  rc = tm_messages_read(b, json, "messages", v);
  cJSON_Delete(json);
  return rc;
}

int tm_count_messages(tm_ctx *ctx, const char *messages_json, const char *encoding, size_t *out) {
  if (!ctx || !out) return TM_EINVAL;
  tm_base *b = tm_ctx_base(ctx);
  tm_base_reset(b);
  *out = 0;
  int enc = encoding && strcmp(encoding, "host") == 0 ? TM_ENC_HOST : tm_encoding_id(encoding);
  if (enc < 0) return tm_fail(b, TM_EENCODING, "unknown encoding \"%s\"", encoding ? encoding : "");
  tm_msgvec v = {0};
  int rc = read_messages(b, messages_json, &v);
  size_t sum = TM_TOKENS_REPLY_PRIMING;
  for (size_t i = 0; rc == TM_OK && i < v.len; i++) {
    size_t n;
    if ((rc = tm_message_tokens(b, &v.items[i], enc, &n)) == TM_OK) sum += n;
  }
  tm_msgvec_free(&v);
  if (rc == TM_OK) *out = sum;
  return rc;
}

/* Adds references to messages [from, to) of `v` to `arr`. */
static bool add_refs(cJSON *arr, const tm_msgvec *v, size_t from, size_t to) {
  for (size_t i = from; i < to; i++)
    if (!cJSON_AddItemReferenceToArray(arr, v->items[i].json)) return false;
  return true;
}

int tm_fit_window(tm_ctx *ctx, const char *messages_json, const char *spec_json, char **out) {
  if (!ctx || !out) return TM_EINVAL;
  tm_base *b = tm_ctx_base(ctx);
  tm_base_reset(b);
  *out = NULL;
  tm_msgvec v = {0};
  cJSON *res = NULL, *sent, *dropped;
  tm_window_spec spec;
  tm_window w;
  int rc = tm_window_spec_parse(b, spec_json, &spec);
  if (rc) return rc;
  if ((rc = read_messages(b, messages_json, &v))) goto done;
  tm_msglist h = tm_msglist_vec(&v, 0, v.len);
  if ((rc = tm_window_fit(b, &h, 0, true, &spec, &w))) goto done;
  res = cJSON_CreateObject();
  if (!res || !(sent = cJSON_AddArrayToObject(res, "messages")) ||
      !(dropped = cJSON_AddArrayToObject(res, "dropped")) || !add_refs(sent, &v, 0, w.lead) ||
      !add_refs(sent, &v, w.start, w.end) || !add_refs(dropped, &v, w.lead, w.start) ||
      !add_refs(dropped, &v, w.end, v.len) ||
      !cJSON_AddNumberToObject(res, "dropped_before", (double)(w.start - w.lead)) ||
      !cJSON_AddNumberToObject(res, "tokens", (double)w.tokens)) {
    rc = tm_fail(b, TM_ENOMEM, "out of memory");
    goto done;
  }
  rc = tm_json_print(b, res, out);
done:
  cJSON_Delete(res);
  tm_msgvec_free(&v);
  return rc;
}
