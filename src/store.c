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

#include "store.h"

struct tm_store {
  tm_base base; /* first: tm_errmsg() reads it */
  tm_message *items;
  size_t head, len, cap;
  size_t max_messages; /* 0: unbounded */
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

int tm_store_append(tm_store *s, tm_base *err, tm_msgvec *msgs) {
  size_t n = msgs->len;
  if (n == 0) return TM_OK;
  size_t max = s->max_messages;
  size_t keep_new = max && n > max ? max : n; /* the newest of msgs that stay */
  size_t drop_new = n - keep_new;
  if (keep_new > TM_MAX_MESSAGES || s->len > TM_MAX_MESSAGES - keep_new) {
    if (!max || max > TM_MAX_MESSAGES)
      return tm_fail(err, TM_ERANGE,
                     "store: %zu messages added to %zu would pass the limit of %zu messages", n,
                     s->len, TM_MAX_MESSAGES);
  }
  size_t total = s->len + keep_new; /* no overflow: both are bounded above */
  size_t after = max && total > max ? max : total;
  size_t evict_old = total - after;

  /* Everything that can fail happens before the store changes. */
  tm_stamp *stamps = tm_malloc(keep_new * sizeof(tm_stamp));
  if (!stamps) return tm_fail(err, TM_ENOMEM, "out of memory");
  size_t prepared = 0;
  int rc = TM_OK;
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
  int rc = tm_store_append(&fresh, err, msgs);
  if (rc) return rc;
  free_messages(s);
  s->items = fresh.items;
  s->head = fresh.head;
  s->len = fresh.len;
  s->cap = fresh.cap;
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
