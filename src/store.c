/*
 * The in-memory chat message store.
 *
 * Messages live in one array as the window items[head, head + len). Appends
 * go at the end (the array doubles as it fills), evictions advance head, and
 * the window slides back to the start only when the end is reached with at
 * least a third of the array free, so both appends and evictions cost O(1)
 * amortized however long the store lives at its max_messages.
 */
#include <stdint.h>
#include <string.h>

#include "chat.h"
#include "count.h"
#include "store.h"
#include "window.h"

struct tm_store {
  tm_base base; /* first: tm_errmsg() reads it */
  tm_message *items;
  size_t head, len, cap;
  size_t max_messages; /* 0: unbounded */
  size_t max_tokens;   /* 0: unbounded; counted with `enc` */
  int enc;
  size_t tokens;       /* the messages' total with `enc`, kept when max_tokens */
};

tm_store *tm_store_new(size_t max_messages) {
  tm_install_json_hooks();
  tm_store *s = tm_malloc(sizeof *s);
  if (!s) return NULL;
  memset(s, 0, sizeof *s);
  s->max_messages = max_messages;
  return s;
}

static void free_messages(tm_store *s) {
  for (size_t i = 0; i < s->len; i++) tm_message_free(&s->items[s->head + i]);
  tm_free(s->items);
  s->items = NULL;
  s->head = s->len = s->cap = 0;
  s->tokens = 0;
}

void tm_store_free(tm_store *store) {
  if (!store) return;
  free_messages(store);
  tm_base_free(&store->base);
  tm_free(store);
}

tm_base *tm_store_base(tm_store *s) { return &s->base; }

size_t tm_store_len(const tm_store *s) { return s ? s->len : 0; }

size_t tm_store_count(const tm_store *store) { return tm_store_len(store); }

const tm_message *tm_store_at(const tm_store *s, size_t i) {
  return s && i < s->len ? &s->items[s->head + i] : NULL;
}

void tm_store_clear(tm_store *store) {
  if (!store) return;
  tm_base_reset(&store->base);
  free_messages(store);
}

/* The store's messages followed by msgs, as one sequence (the eviction
 * walks it before anything moves). */
typedef struct joined {
  const tm_store *s;
  const tm_msgvec *v;
} joined;

static const tm_message *joined_at(const joined *j, size_t i) {
  return i < j->s->len ? &j->s->items[j->s->head + i] : &j->v->items[i - j->s->len];
}

/* How many messages to evict from the front of the joined sequence so that
 * it keeps to max_messages and max_tokens (`tokens` is its total): whole
 * units (window.h), the oldest first, never the newest unit, then any tool
 * results left leading without their call. */
static size_t eviction(const tm_store *s, const joined *j, size_t total, size_t tokens) {
  size_t cut = 0;
  for (;;) {
    bool over = (s->max_messages && total - cut > s->max_messages) ||
                (s->max_tokens && tokens > s->max_tokens);
    size_t end = cut + 1;
    if (tm_message_calls(joined_at(j, cut)))
      while (end < total && joined_at(j, end)->role == TM_ROLE_TOOL) end++;
    if (!over || end >= total) break;
    if (s->max_tokens)
      for (size_t i = cut; i < end; i++) tokens -= joined_at(j, i)->tokens[s->enc] - 1u;
    cut = end;
  }
  while (cut + 1 < total && joined_at(j, cut)->role == TM_ROLE_TOOL) cut++;
  return cut;
}

int tm_store_append(tm_store *s, tm_base *err, tm_msgvec *msgs) {
  size_t n = msgs->len;
  if (n == 0) return TM_OK;
  if (n > TM_MAX_MESSAGES || s->len > TM_MAX_MESSAGES - n) {
    if (!s->max_messages || s->max_messages > TM_MAX_MESSAGES)
      return tm_fail(err, TM_ERANGE,
                     "store: %zu messages added to %zu would pass the limit of %zu messages", n,
                     s->len, TM_MAX_MESSAGES);
  }
  int rc = TM_OK;
  size_t tokens = s->tokens;
  if (s->max_tokens) {
    /* Counted once, here, and cached on the messages. */
    for (size_t i = 0; i < n; i++) {
      size_t t;
      if ((rc = tm_message_tokens(err, &msgs->items[i], s->enc, &t))) return rc;
      tokens += t;
    }
  }
  joined j = {s, msgs};
  size_t total = s->len + n;
  size_t cut = s->max_messages || s->max_tokens ? eviction(s, &j, total, tokens) : 0;
  size_t evict_old = cut < s->len ? cut : s->len;
  size_t drop_new = cut - evict_old; /* the oldest of msgs, evicted at once */
  size_t keep_new = n - drop_new;
  size_t after = total - cut;
  if (s->max_tokens)
    for (size_t i = 0; i < cut; i++) tokens -= joined_at(&j, i)->tokens[s->enc] - 1u;

  /* Everything that can fail happens before the store changes. */
  tm_stamp *stamps = tm_malloc(keep_new * sizeof(tm_stamp));
  if (!stamps) return tm_fail(err, TM_ENOMEM, "out of memory");
  size_t prepared = 0;
  for (; prepared < keep_new; prepared++) {
    if ((rc = tm_stamp_prepare(err, &msgs->items[drop_new + prepared], &stamps[prepared])))
      goto fail;
  }
  bool slide = s->head + evict_old + after > s->cap;
  if (slide && after + after / 2 > s->cap) {
    size_t cap = s->cap * 2;
    if (cap < after + after / 2) cap = after + after / 2;
    if (cap < 16) cap = 16;
    if (cap > SIZE_MAX / sizeof(tm_message)) {
      rc = tm_fail(err, TM_ENOMEM, "out of memory");
      goto fail;
    }
    tm_message *items = tm_realloc(s->items, cap * sizeof(tm_message));
    if (!items) {
      rc = tm_fail(err, TM_ENOMEM, "out of memory");
      goto fail;
    }
    s->items = items;
    s->cap = cap;
  }

  /* From here on nothing fails. */
  for (size_t i = 0; i < evict_old; i++) tm_message_free(&s->items[s->head + i]);
  s->head += evict_old;
  s->len -= evict_old;
  if (slide) {
    memmove(s->items, s->items + s->head, s->len * sizeof(tm_message));
    s->head = 0;
  }
  for (size_t i = 0; i < drop_new; i++) tm_message_free(&msgs->items[i]);
  for (size_t i = 0; i < keep_new; i++) {
    tm_message m = msgs->items[drop_new + i];
    tm_stamp_apply(&m, &stamps[i]);
    s->items[s->head + s->len++] = m;
  }
  if (s->len == 0) s->head = 0;
  s->tokens = tokens;
  msgs->len = 0;
  tm_free(stamps);
  return TM_OK;
fail:
  for (size_t i = 0; i < prepared; i++) tm_stamp_discard(&stamps[i]);
  tm_free(stamps);
  return rc;
}

int tm_store_replace(tm_store *s, tm_base *err, tm_msgvec *msgs) {
  tm_store fresh;
  memset(&fresh, 0, sizeof fresh);
  fresh.max_messages = s->max_messages;
  fresh.max_tokens = s->max_tokens;
  fresh.enc = s->enc;
  int rc = tm_store_append(&fresh, err, msgs);
  if (rc) return rc;
  free_messages(s);
  s->items = fresh.items;
  s->head = fresh.head;
  s->len = fresh.len;
  s->cap = fresh.cap;
  s->tokens = fresh.tokens;
  return TM_OK;
}

int tm_store_add(tm_store *store, const char *messages_json) {
  if (!store) return TM_EINVAL;
  tm_base *b = &store->base;
  tm_base_reset(b);
  if (!messages_json) return tm_fail(b, TM_EINVAL, "messages: no input");
  cJSON *json = NULL;
  tm_msgvec v = {0};
  int rc = tm_json_parse(b, messages_json, "messages", &json);
  if (rc) return rc;
  if ((rc = tm_messages_read(b, json, "messages", &v))) goto fail;
  rc = tm_store_append(store, b, &v);
fail:
  tm_msgvec_free(&v);
  cJSON_Delete(json);
  return rc;
}

/* ---- Listing. ---- */

typedef struct query {
  size_t limit, offset;
  unsigned roles; /* bit per tm_role; 0 matches every role */
} query;

/* A non-negative integer, as JSON gives it (a double). */
static int read_count(tm_base *b, const cJSON *v, const char *path, size_t *out) {
  double d = v->valuedouble;
  if (!cJSON_IsNumber(v) || !(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d)
    return tm_fail(b, TM_EINVAL, "%s: expected a non-negative integer", path);
  *out = (double)SIZE_MAX < d ? SIZE_MAX : (size_t)d;
  return TM_OK;
}

static int read_query(tm_base *b, const char *json, query *q) {
  q->limit = SIZE_MAX;
  q->offset = 0;
  q->roles = 0;
  if (!json) return TM_OK;
  cJSON *root = NULL;
  int rc = tm_json_parse(b, json, "query", &root);
  if (rc) return rc;
  if (cJSON_IsNull(root)) goto done;
  if (!cJSON_IsObject(root)) {
    rc = tm_fail(b, TM_EINVAL, "query: expected an object");
    goto done;
  }
  for (const cJSON *c = root->child; c; c = c->next) {
    if (cJSON_IsNull(c)) continue; /* null: as if absent */
    if (strcmp(c->string, "limit") == 0) {
      if ((rc = read_count(b, c, "query.limit", &q->limit))) goto done;
    } else if (strcmp(c->string, "offset") == 0) {
      if ((rc = read_count(b, c, "query.offset", &q->offset))) goto done;
    } else if (strcmp(c->string, "roles") == 0) {
      if (!cJSON_IsArray(c)) {
        rc = tm_fail(b, TM_EINVAL, "query.roles: expected an array of role names");
        goto done;
      }
      size_t i = 0;
      for (const cJSON *r = c->child; r; r = r->next, i++) {
        tm_role role;
        if (!cJSON_IsString(r)) {
          rc = tm_fail(b, TM_EINVAL, "query.roles[%zu]: expected a role name", i);
          goto done;
        }
        if (!tm_role_parse(r->valuestring, &role)) {
          rc = tm_fail(b, TM_EFORMAT, "query.roles[%zu]: unknown role", i);
          goto done;
        }
        q->roles |= 1u << role;
      }
    } else {
      rc = tm_fail(b, TM_EINVAL, "query: unknown option (expected limit, offset, roles)");
      goto done;
    }
  }
done:
  cJSON_Delete(root);
  return rc;
}

static bool matches(const query *q, const tm_message *m) {
  return !q->roles || (q->roles & (1u << m->role));
}

int tm_store_list(tm_store *store, const char *query_json, char **out) {
  if (!store) return TM_EINVAL;
  tm_base *b = &store->base;
  tm_base_reset(b);
  if (!out) return tm_fail(b, TM_EINVAL, "no output pointer");
  *out = NULL;
  query q;
  int rc = read_query(b, query_json, &q);
  if (rc) return rc;

  /* Walk back from the newest: skip `offset` matches, take `limit`; the
   * taken ones are exactly the matches in [lo, hi]. Costs O(offset + limit)
   * without a role filter. */
  size_t skipped = 0, taken = 0, lo = 0, hi = 0;
  for (size_t i = store->len; i-- > 0 && taken < q.limit;) {
    const tm_message *m = &store->items[store->head + i];
    if (!matches(&q, m)) continue;
    if (skipped < q.offset) {
      skipped++;
      continue;
    }
    if (taken++ == 0) hi = i;
    lo = i;
  }
  cJSON *arr = cJSON_CreateArray();
  if (!arr) return tm_fail(b, TM_ENOMEM, "out of memory");
  for (size_t i = lo; taken && i <= hi; i++) {
    const tm_message *m = &store->items[store->head + i];
    /* References print the messages without copying them. */
    if (matches(&q, m) && !cJSON_AddItemReferenceToArray(arr, m->json)) {
      rc = tm_fail(b, TM_ENOMEM, "out of memory");
      goto done;
    }
  }
  rc = tm_json_print(b, arr, out);
done:
  cJSON_Delete(arr);
  return rc;
}

/* ---- Tokens and the context window. ---- */

int tm_store_limit_tokens(tm_store *store, size_t max_tokens, int enc) {
  if (!store) return TM_EINVAL;
  tm_base *b = &store->base;
  tm_base_reset(b);
  if (enc < 0 || enc >= TM_ENC_COUNT)
    return tm_fail(b, TM_EENCODING, "a store's token limit needs a built-in encoding");
  size_t tokens = 0;
  for (size_t i = 0; max_tokens && i < store->len; i++) {
    size_t t;
    int rc = tm_message_tokens(b, &store->items[store->head + i], enc, &t);
    if (rc) return rc;
    tokens += t;
  }
  store->max_tokens = max_tokens;
  store->enc = enc;
  store->tokens = tokens;
  if (!max_tokens || store->len == 0) return TM_OK;
  /* Evict now, through the append path: an empty append of the tail. */
  tm_msgvec none = {0};
  joined j = {store, &none};
  size_t cut = eviction(store, &j, store->len, tokens);
  for (size_t i = 0; i < cut; i++) {
    tm_message *m = &store->items[store->head + i];
    store->tokens -= m->tokens[enc] - 1u;
    tm_message_free(m);
  }
  store->head += cut;
  store->len -= cut;
  if (store->len == 0) store->head = 0;
  return TM_OK;
}

int tm_store_window_bounds(tm_store *store, const char *spec_json, size_t bounds[4]) {
  if (!store) return TM_EINVAL;
  tm_base *b = &store->base;
  tm_base_reset(b);
  tm_window_spec spec;
  tm_window w;
  int rc = tm_window_spec_parse(b, spec_json, &spec);
  if (rc) return rc;
  tm_msglist h = tm_msglist_store(store);
  if ((rc = tm_window_fit(b, &h, 0, true, &spec, &w))) return rc;
  bounds[0] = w.lead;
  bounds[1] = w.start;
  bounds[2] = w.end;
  bounds[3] = w.tokens;
  return TM_OK;
}

/* Adds references to the store's messages [from, to) to `arr`. */
static bool add_refs(cJSON *arr, const tm_store *s, size_t from, size_t to) {
  for (size_t i = from; i < to; i++)
    if (!cJSON_AddItemReferenceToArray(arr, s->items[s->head + i].json)) return false;
  return true;
}

int tm_store_window(tm_store *store, const char *spec_json, char **out) {
  if (!store || !out) return TM_EINVAL;
  *out = NULL;
  size_t w[4];
  int rc = tm_store_window_bounds(store, spec_json, w);
  if (rc) return rc;
  tm_base *b = &store->base;
  /* References print the messages without copying them. */
  cJSON *res = cJSON_CreateObject(), *sent, *dropped;
  if (!res || !(sent = cJSON_AddArrayToObject(res, "messages")) ||
      !(dropped = cJSON_AddArrayToObject(res, "dropped")) || !add_refs(sent, store, 0, w[0]) ||
      !add_refs(sent, store, w[1], w[2]) || !add_refs(dropped, store, w[0], w[1]) ||
      !add_refs(dropped, store, w[2], store->len) ||
      !cJSON_AddNumberToObject(res, "dropped_before", (double)(w[1] - w[0])) ||
      !cJSON_AddNumberToObject(res, "tokens", (double)w[3])) {
    cJSON_Delete(res);
    return tm_fail(b, TM_ENOMEM, "out of memory");
  }
  rc = tm_json_print(b, res, out);
  cJSON_Delete(res);
  return rc;
}
