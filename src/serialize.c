/*
 * Serialization in Agent Framework's shapes: the chat_message_store_state of
 * a store and the agent_thread_state of a thread, written canonically (nulls
 * omitted) and read leniently (every-null form, missing type tags).
 *
 *   {"type":"agent_thread_state","service_thread_id":"...",
 *    "chat_message_store_state":{"type":"chat_message_store_state",
 *                                "messages":[...chat_message...]},
 *    "store_reference":{...a persistent store's kind, thread id, prefix...}}
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"

struct tm_ctx {
  tm_base base;
};

tm_base *tm_ctx_base(tm_ctx *ctx) { return &ctx->base; }

tm_ctx *tm_ctx_new(void) {
  tm_install_json_hooks();
  tm_ctx *ctx = tm_malloc(sizeof *ctx);
  if (!ctx) return NULL;
  memset(ctx, 0, sizeof *ctx);
  return ctx;
}

void tm_ctx_free(tm_ctx *ctx) {
  if (!ctx) return;
  tm_base_free(&ctx->base);
  tm_free(ctx);
}

int tm_new_id(tm_ctx *ctx, char **out) {
  if (!ctx) return TM_EINVAL;
  tm_base_reset(&ctx->base);
  if (!out) return tm_fail(&ctx->base, TM_EINVAL, "no output pointer");
  char id[37];
  tm_uuid(id);
  *out = tm_strdup(id);
  return *out ? TM_OK : tm_fail(&ctx->base, TM_ENOMEM, "out of memory");
}

/* Starts a ctx call: checks the arguments every such call has. */
static int begin(tm_ctx *ctx, const char *json, char **out) {
  if (!ctx) return TM_EINVAL;
  tm_base_reset(&ctx->base);
  if (out) *out = NULL;
  if (!out) return tm_fail(&ctx->base, TM_EINVAL, "no output pointer");
  if (!json) return tm_fail(&ctx->base, TM_EINVAL, "no input");
  return TM_OK;
}

int tm_message_normalize(tm_ctx *ctx, const char *json, char **out) {
  int rc = begin(ctx, json, out);
  if (rc) return rc;
  tm_base *b = &ctx->base;
  cJSON *in = NULL;
  tm_message m = {0};
  if ((rc = tm_json_parse(b, json, "message", &in))) return rc;
  if ((rc = tm_message_read(b, in, "message", &m))) goto done;
  rc = tm_json_print(b, m.json, out);
done:
  tm_message_free(&m);
  cJSON_Delete(in);
  return rc;
}

/* Strings kept as given (a store reference, a custom store's state) must
 * still be UTF-8, or the host could not read them back. */
static int check_utf8_children(tm_base *b, const cJSON *v, const char *path) {
  for (const cJSON *c = v->child; c; c = c->next) {
    if (c->string && !tm_utf8_valid(c->string, strlen(c->string)))
      return tm_fail(b, TM_EFORMAT, "%s: a key is not valid UTF-8", path);
    if (cJSON_IsString(c) && !tm_utf8_valid(c->valuestring, strlen(c->valuestring)))
      return tm_fail(b, TM_EFORMAT, "%s: a string is not valid UTF-8", path);
    int rc = check_utf8_children(b, c, path);
    if (rc) return rc;
  }
  return TM_OK;
}

static const cJSON *field(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNull(v) ? NULL : v;
}

static int check_tag(tm_base *b, const cJSON *obj, const char *path, const char *tag) {
  const cJSON *t = field(obj, "type");
  if (t && !(cJSON_IsString(t) && strcmp(t->valuestring, tag) == 0)) {
    char p[TM_PATH_MAX];
    tm_path_field(p, path, "type");
    return tm_fail(b, TM_EFORMAT, "%s: expected \"%s\"", p, tag);
  }
  return TM_OK;
}

typedef struct id_at {
  const char *id;
  size_t at;
} id_at;

static int by_id(const void *x, const void *y) {
  const id_at *a = x, *b = y;
  int c = strcmp(a->id, b->id);
  return c ? c : (a->at > b->at) - (a->at < b->at);
}

/* A message id names one message of a thread: windows, summaries and
 * persistent records find messages by it, so a state that repeats one is
 * inconsistent (TM_ESTATE, naming both places). O(n log n). */
static int check_unique_ids(tm_base *b, const tm_msgvec *v, const char *path) {
  if (v->len < 2) return TM_OK;
  id_at *ids = tm_malloc(v->len * sizeof *ids);
  if (!ids) return tm_fail(b, TM_ENOMEM, "out of memory");
  size_t n = 0;
  for (size_t i = 0; i < v->len; i++) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(v->items[i].json, "message_id");
    if (cJSON_IsString(id)) ids[n++] = (id_at){id->valuestring, i};
  }
  qsort(ids, n, sizeof *ids, by_id);
  int rc = TM_OK;
  for (size_t i = 1; i < n && rc == TM_OK; i++) {
    if (strcmp(ids[i - 1].id, ids[i].id) == 0)
      rc = tm_fail(b, TM_ESTATE, "%s[%zu].message_id: repeats the id of %s[%zu]", path, ids[i].at,
                   path, ids[i - 1].at);
  }
  tm_free(ids);
  return rc;
}

/* Reads a chat_message_store_state (type optional, messages missing or
 * null meaning none) into `out`. `path` is where it sits ("" at the top). */
static int read_store_state(tm_base *b, const cJSON *state, const char *path, tm_msgvec *out) {
  if (!cJSON_IsObject(state))
    return tm_fail(b, TM_EFORMAT, "%s: expected an object",
                   path[0] ? path : "chat_message_store_state");
  int rc = check_tag(b, state, path, "chat_message_store_state");
  if (rc) return rc;
  const cJSON *messages = field(state, "messages");
  if (!messages) return TM_OK;
  char p[TM_PATH_MAX];
  tm_path_field(p, path, "messages");
  if ((rc = tm_messages_read(b, messages, p, out))) return rc;
  return check_unique_ids(b, out, p);
}

/* {"type":"chat_message_store_state","messages":[...]}, the messages by
 * reference (the result must be freed before they are). */
static cJSON *store_state_json(const tm_message *const *msgs, size_t n, const tm_store *s) {
  cJSON *state = cJSON_CreateObject();
  cJSON *tag = cJSON_CreateStringReference("chat_message_store_state");
  cJSON *arr = cJSON_CreateArray();
  if (!state || !tag || !arr) {
    cJSON_Delete(state);
    cJSON_Delete(tag);
    cJSON_Delete(arr);
    return NULL;
  }
  cJSON_AddItemToObjectCS(state, "type", tag);
  cJSON_AddItemToObjectCS(state, "messages", arr);
  size_t len = s ? tm_store_len(s) : n;
  for (size_t i = 0; i < len; i++) {
    const tm_message *m = s ? tm_store_at(s, i) : msgs[i];
    if (!cJSON_AddItemReferenceToArray(arr, m->json)) {
      cJSON_Delete(state);
      return NULL;
    }
  }
  return state;
}

int tm_store_serialize(tm_store *store, char **out) {
  if (!store) return TM_EINVAL;
  tm_base *b = tm_store_base(store);
  tm_base_reset(b);
  if (!out) return tm_fail(b, TM_EINVAL, "no output pointer");
  *out = NULL;
  cJSON *state = store_state_json(NULL, 0, store);
  if (!state) return tm_fail(b, TM_ENOMEM, "out of memory");
  int rc = tm_json_print(b, state, out);
  cJSON_Delete(state);
  return rc;
}

int tm_store_load(tm_store *store, const char *state_json) {
  if (!store) return TM_EINVAL;
  tm_base *b = tm_store_base(store);
  tm_base_reset(b);
  if (!state_json) return tm_fail(b, TM_EINVAL, "store state: no input");
  cJSON *state = NULL;
  tm_msgvec v = {0};
  int rc = tm_json_parse(b, state_json, "store state", &state);
  if (rc) return rc;
  if ((rc = read_store_state(b, state, "", &v))) goto done;
  rc = tm_store_replace(store, b, &v);
done:
  tm_msgvec_free(&v);
  cJSON_Delete(state);
  return rc;
}

/* A store state is ours when it says so, or says nothing and holds at most
 * "messages"; anything else is a custom store's own state, kept as it is. */
static bool is_custom_store_state(const cJSON *state) {
  const cJSON *t = field(state, "type");
  if (t) return !(cJSON_IsString(t) && strcmp(t->valuestring, "chat_message_store_state") == 0);
  for (const cJSON *c = state->child; c; c = c->next)
    if (strcmp(c->string, "messages") != 0 && !cJSON_IsNull(c)) return true;
  return false;
}

int tm_thread_state_normalize(tm_ctx *ctx, const char *json, char **out) {
  int rc = begin(ctx, json, out);
  if (rc) return rc;
  tm_base *b = &ctx->base;
  cJSON *in = NULL, *res = NULL, *store_out = NULL;
  tm_msgvec v = {0};
  if ((rc = tm_json_parse(b, json, "thread state", &in))) return rc;
  if (!cJSON_IsObject(in)) {
    rc = tm_fail(b, TM_EFORMAT, "thread state: expected an object");
    goto done;
  }
  if ((rc = check_tag(b, in, "", "agent_thread_state"))) goto done;

  const cJSON *sid = field(in, "service_thread_id");
  if (sid) {
    if (!cJSON_IsString(sid)) {
      rc = tm_fail(b, TM_EFORMAT, "service_thread_id: expected a string");
      goto done;
    }
    size_t n = strlen(sid->valuestring);
    if (n > TM_MAX_ID_BYTES) {
      rc = tm_fail(b, TM_ERANGE, "service_thread_id: longer than the limit of %d bytes",
                   TM_MAX_ID_BYTES);
      goto done;
    }
    if (!tm_utf8_valid(sid->valuestring, n)) {
      rc = tm_fail(b, TM_EFORMAT, "service_thread_id: not valid UTF-8");
      goto done;
    }
  }

  const cJSON *state = field(in, "chat_message_store_state");
  bool has_messages = false;
  if (state) {
    if (!cJSON_IsObject(state)) {
      rc = tm_fail(b, TM_EFORMAT, "chat_message_store_state: expected an object");
      goto done;
    }
    if (is_custom_store_state(state)) {
      if ((rc = check_utf8_children(b, state, "chat_message_store_state"))) goto done;
      has_messages = state->child != NULL;
      if (!(store_out = cJSON_Duplicate(state, 1))) goto oom;
    } else {
      if ((rc = read_store_state(b, state, "chat_message_store_state", &v))) goto done;
      has_messages = v.len > 0;
      const tm_message **refs = NULL;
      if (v.len) {
        if (!(refs = tm_malloc(v.len * sizeof *refs))) goto oom;
        for (size_t i = 0; i < v.len; i++) refs[i] = &v.items[i];
      }
      store_out = store_state_json(refs, v.len, NULL);
      tm_free((void *)refs);
      if (!store_out) goto oom;
    }
  }
  if (sid && has_messages) {
    rc = tm_fail(b, TM_ESTATE,
                 "thread state has both service_thread_id and messages "
                 "(chat_message_store_state)");
    goto done;
  }

  const cJSON *ref = field(in, "store_reference");
  if (ref) {
    if (!cJSON_IsObject(ref)) {
      rc = tm_fail(b, TM_EFORMAT, "store_reference: expected an object");
      goto done;
    }
    if (sid) {
      rc = tm_fail(b, TM_ESTATE, "thread state has both service_thread_id and store_reference");
      goto done;
    }
    if ((rc = check_utf8_children(b, ref, "store_reference"))) goto done;
  }

  if (!(res = cJSON_CreateObject())) goto oom;
  if (sid) {
    cJSON *s = cJSON_CreateString(sid->valuestring);
    if (!s) goto oom;
    cJSON_AddItemToObjectCS(res, "service_thread_id", s);
    /* A service thread keeps its history on the service: an empty local
     * store state next to it says nothing and is dropped. */
  } else if (store_out) {
    cJSON_AddItemToObjectCS(res, "chat_message_store_state", store_out);
    store_out = NULL;
  }
  if (ref) {
    cJSON *r = cJSON_Duplicate(ref, 1);
    if (!r) goto oom;
    cJSON_AddItemToObjectCS(res, "store_reference", r);
  }
  rc = tm_json_print(b, res, out);
  goto done;
oom:
  rc = tm_fail(b, TM_ENOMEM, "out of memory");
done:
  /* The result refers to v's messages: it goes first. */
  cJSON_Delete(res);
  cJSON_Delete(store_out);
  tm_msgvec_free(&v);
  cJSON_Delete(in);
  return rc;
}

int tm_thread_state_build(tm_ctx *ctx, const char *service_thread_id,
                          const char *store_state_json, char **out) {
  if (!ctx) return TM_EINVAL;
  tm_base *b = &ctx->base;
  tm_base_reset(b);
  if (!out) return tm_fail(b, TM_EINVAL, "no output pointer");
  *out = NULL;
  if (service_thread_id && store_state_json)
    return tm_fail(b, TM_ESTATE, "a thread has either a service_thread_id or a store state");
  cJSON *res = NULL, *state = NULL;
  int rc = TM_OK;
  if (service_thread_id) {
    size_t n = strlen(service_thread_id);
    if (n > TM_MAX_ID_BYTES)
      return tm_fail(b, TM_ERANGE, "service_thread_id: longer than the limit of %d bytes",
                     TM_MAX_ID_BYTES);
    if (!tm_utf8_valid(service_thread_id, n))
      return tm_fail(b, TM_EINVAL, "service_thread_id: not valid UTF-8");
  }
  if (store_state_json) {
    if ((rc = tm_json_parse(b, store_state_json, "store state", &state))) return rc;
    if (!cJSON_IsObject(state)) {
      rc = tm_fail(b, TM_EFORMAT, "chat_message_store_state: expected an object");
      goto done;
    }
    if ((rc = check_utf8_children(b, state, "chat_message_store_state"))) goto done;
  }
  cJSON *tag = NULL;
  if (!(res = cJSON_CreateObject()) || !(tag = cJSON_CreateStringReference("agent_thread_state")))
    goto oom;
  cJSON_AddItemToObjectCS(res, "type", tag);
  if (service_thread_id) {
    cJSON *s = cJSON_CreateString(service_thread_id);
    if (!s) goto oom;
    cJSON_AddItemToObjectCS(res, "service_thread_id", s);
  }
  if (state) {
    cJSON_AddItemToObjectCS(res, "chat_message_store_state", state);
    state = NULL;
  }
  rc = tm_json_print(b, res, out);
  goto done;
oom:
  rc = tm_fail(b, TM_ENOMEM, "out of memory");
done:
  cJSON_Delete(res);
  cJSON_Delete(state);
  return rc;
}
