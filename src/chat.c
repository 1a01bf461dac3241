/*
 * The chat-completions protocol (see chat.h).
 *
 * Mapping choices, where OpenAI's format has no direct equivalent:
 *  - text_reasoning contents are never sent: they are the model's own notes.
 *  - data/uri contents are sent only in user messages. Images become
 *    "image_url" parts; any other media becomes a text part naming it
 *    ("[attachment: <uri> (<media type>)]"; a data: URI is not repeated,
 *    only its media type is named) because chat completions has no
 *    general file part every compatible server accepts.
 *  - A function_result becomes its own "tool" message wherever it sits,
 *    after the message that carried it.
 *  - author_name is sent as "name" only on user messages (telling the
 *    people of a conversation apart), and only when OpenAI would accept it.
 *    An assistant's is the agent's own name, which Agent Framework never
 *    sends either, and some compatible servers refuse "name" outright.
 *  - A refusal ("refusal" instead of "content") is the reply's text, as
 *    Agent Framework reads it.
 *  - A tool call's "extra_content" (Gemini keeps its thought signature
 *    there, and refuses a next request without it) is kept in the
 *    function_call content's additional_properties and sent back with it.
 */
#include "chat.h"

#include <math.h>
#include <string.h>

#include "store.h"

/* ---- message lists ---- */

static const tm_message *vec_at(const void *src, size_t i) {
  return &((const tm_message *)src)[i];
}

static const tm_message *store_at(const void *src, size_t i) {
  return tm_store_at((const tm_store *)src, i);
}

tm_msglist tm_msglist_vec(const tm_msgvec *v, size_t from, size_t len) {
  tm_msglist l = {NULL, 0, 0, vec_at};
  if (v && len) {
    l.src = v->items + from;
    l.len = len;
  }
  return l;
}

tm_msglist tm_msglist_store(const tm_store *s) {
  tm_msglist l = {s, 0, s ? tm_store_len(s) : 0, store_at};
  return l;
}

tm_msglist tm_msglist_sub(const tm_msglist *l, size_t from, size_t len) {
  tm_msglist sub = *l;
  sub.off += from;
  sub.len = len;
  return sub;
}

/* ---- small helpers ---- */

bool tm_chat_name_ok(const char *name) {
  size_t n = 0;
  if (!name) return false;
  for (; name[n]; n++) {
    char c = name[n];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok || n >= 64) return false;
  }
  return n > 0;
}

static int oom(tm_base *b) { return tm_fail(b, TM_ENOMEM, "out of memory"); }

/* Adds a string member; the copy is made by cJSON with our allocator. */
static int add_str(tm_base *b, cJSON *obj, const char *key, const char *val) {
  if (!cJSON_AddStringToObject(obj, key, val)) return oom(b);
  return TM_OK;
}

static const char *str_of(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- tools ---- */

int tm_chat_tool_read(tm_base *b, const cJSON *tool, const char *path, cJSON *out) {
  char p[TM_PATH_MAX];
  cJSON *copy = NULL;
  if (!cJSON_IsObject(tool)) return tm_fail(b, TM_EFORMAT, "%s must be an object", path);
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(tool, "name");
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(tool, "description");
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(tool, "parameters");
  if (!cJSON_IsString(name)) {
    tm_path_field(p, path, "name");
    return tm_fail(b, TM_EFORMAT, "%s must be a string", p);
  }
  if (!tm_chat_name_ok(name->valuestring)) {
    tm_path_field(p, path, "name");
    return tm_fail(b, TM_EFORMAT, "%s must match ^[A-Za-z0-9_-]{1,64}$", p);
  }
  if (desc && !cJSON_IsNull(desc) && !cJSON_IsString(desc)) {
    tm_path_field(p, path, "description");
    return tm_fail(b, TM_EFORMAT, "%s must be a string", p);
  }
  if (params && !cJSON_IsNull(params) && !cJSON_IsObject(params)) {
    tm_path_field(p, path, "parameters");
    return tm_fail(b, TM_EFORMAT, "%s must be an object", p);
  }
  copy = cJSON_CreateObject();
  if (!copy || !cJSON_AddStringToObject(copy, "name", name->valuestring)) goto nomem;
  if (cJSON_IsString(desc) && !cJSON_AddStringToObject(copy, "description", desc->valuestring))
    goto nomem;
  if (cJSON_IsObject(params)) {
    cJSON *pc = cJSON_Duplicate(params, 1);
    if (!pc) goto nomem;
    if (!cJSON_AddItemToObject(copy, "parameters", pc)) {
      cJSON_Delete(pc);
      goto nomem;
    }
  }
  if (!cJSON_AddItemToArray(out, copy)) goto nomem;
  return TM_OK;
nomem:
  cJSON_Delete(copy);
  return oom(b);
}

int tm_chat_tools_read(tm_base *b, const cJSON *tools, const char *path, cJSON *out) {
  char p[TM_PATH_MAX];
  size_t i = 0;
  int before = cJSON_GetArraySize(out), rc = TM_OK;
  if (!cJSON_IsArray(tools)) return tm_fail(b, TM_EFORMAT, "%s must be an array", path);
  const cJSON *t;
  cJSON_ArrayForEach(t, tools) {
    if (i >= TM_MAX_TOOLS) {
      rc = tm_fail(b, TM_ERANGE, "%s has more than %d tools", path, TM_MAX_TOOLS);
      goto fail;
    }
    tm_path_index(p, path, i++);
    rc = tm_chat_tool_read(b, t, p, out);
    if (rc) goto fail;
  }
  return TM_OK;
fail:
  /* All or nothing: drop what this call appended. */
  while (cJSON_GetArraySize(out) > before) cJSON_DeleteItemFromArray(out, before);
  return rc;
}

static bool tools_has(const cJSON *arr, const char *name) {
  const cJSON *t;
  cJSON_ArrayForEach(t, arr) {
    const char *n = str_of(t, "name");
    if (n && strcmp(n, name) == 0) return true;
  }
  return false;
}

int tm_chat_tools_merged(tm_base *b, const tm_chat_request *req, cJSON **out) {
  size_t n = 0;
  cJSON *arr = cJSON_CreateArray();
  *out = NULL;
  if (!arr) return oom(b);
  for (int l = 0; l < TM_CHAT_TOOL_LISTS; l++) {
    const cJSON *t;
    cJSON_ArrayForEach(t, req->tools[l]) {
      const char *name = str_of(t, "name");
      if (!name || tools_has(arr, name)) continue;
      if (n >= TM_MAX_TOOLS) {
        cJSON_Delete(arr);
        return tm_fail(b, TM_ERANGE, "more than %d tools offered to the model", TM_MAX_TOOLS);
      }
      cJSON *c = cJSON_Duplicate(t, 1);
      if (!c || !cJSON_AddItemToArray(arr, c)) {
        cJSON_Delete(c);
        cJSON_Delete(arr);
        return oom(b);
      }
      n++;
    }
  }
  *out = arr;
  return TM_OK;
}

/* {"type":"function","function":{"name","description","parameters"}} */
static int tool_to_openai(tm_base *b, const cJSON *tool, cJSON *out) {
  cJSON *o = cJSON_CreateObject(), *f = NULL;
  if (!o || !cJSON_AddStringToObject(o, "type", "function")) goto nomem;
  f = cJSON_AddObjectToObject(o, "function");
  if (!f) goto nomem;
  const cJSON *it;
  cJSON_ArrayForEach(it, tool) {
    cJSON *c = cJSON_Duplicate(it, 1);
    if (!c) goto nomem;
    if (!cJSON_AddItemToObject(f, it->string, c)) {
      cJSON_Delete(c);
      goto nomem;
    }
  }
  if (!cJSON_AddItemToArray(out, o)) goto nomem;
  return TM_OK;
nomem:
  cJSON_Delete(o);
  return oom(b);
}

/* ---- messages ---- */

static bool is_image(const char *media_type) {
  return media_type && strncmp(media_type, "image/", 6) == 0;
}

/* Text of a function_result as the "content" of a tool message. */
static int result_text(tm_base *b, const cJSON *content, char **out) {
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(content, "result");
  *out = NULL;
  if (!r || cJSON_IsNull(r)) {
    *out = tm_strdup("");
    return *out ? TM_OK : oom(b);
  }
  if (cJSON_IsString(r)) {
    *out = tm_strdup(r->valuestring);
    return *out ? TM_OK : oom(b);
  }
  return tm_json_print(b, r, out);
}

/* Arguments of a function_call as the string OpenAI expects. */
static int arguments_text(tm_base *b, const cJSON *content, char **out) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(content, "arguments");
  *out = NULL;
  if (!a || cJSON_IsNull(a) || (cJSON_IsString(a) && a->valuestring[0] == '\0')) {
    *out = tm_strdup("{}");
    return *out ? TM_OK : oom(b);
  }
  if (cJSON_IsString(a)) {
    *out = tm_strdup(a->valuestring);
    return *out ? TM_OK : oom(b);
  }
  return tm_json_print(b, a, out);
}

static int add_tool_message(tm_base *b, const cJSON *content, cJSON *out) {
  char *text = NULL;
  const char *id = str_of(content, "call_id");
  cJSON *o = cJSON_CreateObject();
  int rc = TM_OK;
  if (!o) return oom(b);
  if ((rc = add_str(b, o, "role", "tool")) != TM_OK) goto fail;
  if ((rc = add_str(b, o, "tool_call_id", id ? id : "")) != TM_OK) goto fail;
  if ((rc = result_text(b, content, &text)) != TM_OK) goto fail;
  if ((rc = add_str(b, o, "content", text)) != TM_OK) goto fail;
  if (!cJSON_AddItemToArray(out, o)) {
    rc = oom(b);
    goto fail;
  }
  tm_free(text);
  return TM_OK;
fail:
  tm_free(text);
  cJSON_Delete(o);
  return rc;
}

/* One media content as a user content part. */
static int add_media_part(tm_base *b, const cJSON *content, bool is_data, cJSON *parts) {
  const char *uri = str_of(content, "uri");
  const char *mt = str_of(content, "media_type");
  cJSON *part = cJSON_CreateObject();
  tm_sbuf s = {0};
  int rc = TM_OK;
  if (!part) return oom(b);
  if (uri && (is_image(mt) || (!mt && is_data && strncmp(uri, "data:image/", 11) == 0))) {
    cJSON *iu;
    if ((rc = add_str(b, part, "type", "image_url")) != TM_OK) goto fail;
    if (!(iu = cJSON_AddObjectToObject(part, "image_url"))) goto nomem;
    if ((rc = add_str(b, iu, "url", uri)) != TM_OK) goto fail;
  } else {
    const char *what = is_data || !uri ? "" : uri;
    if ((rc = tm_sbuf_add(b, &s, "[attachment: ", 13)) != TM_OK) goto fail;
    if ((rc = tm_sbuf_add(b, &s, what, strlen(what))) != TM_OK) goto fail;
    if (mt) {
      if ((rc = tm_sbuf_add(b, &s, *what ? " (" : "(", *what ? 2 : 1)) != TM_OK) goto fail;
      if ((rc = tm_sbuf_add(b, &s, mt, strlen(mt))) != TM_OK) goto fail;
      if ((rc = tm_sbuf_add(b, &s, ")", 1)) != TM_OK) goto fail;
    }
    if ((rc = tm_sbuf_add(b, &s, "]", 1)) != TM_OK) goto fail;
    if ((rc = add_str(b, part, "type", "text")) != TM_OK) goto fail;
    if ((rc = add_str(b, part, "text", s.p)) != TM_OK) goto fail;
  }
  if (!cJSON_AddItemToArray(parts, part)) goto nomem;
  tm_free(s.p);
  return TM_OK;
nomem:
  rc = oom(b);
fail:
  tm_free(s.p);
  cJSON_Delete(part);
  return rc;
}

int tm_chat_map_message(tm_base *b, const tm_message *m, cJSON *out) {
  const cJSON *contents = tm_message_contents(m);
  const cJSON *c;
  size_t n_text = 0, n_media = 0, n_calls = 0, n_results = 0;
  bool user = m->role == TM_ROLE_USER;
  tm_sbuf text = {0};
  cJSON *msg = NULL, *parts = NULL;
  char *args = NULL;
  int rc = TM_OK;

  cJSON_ArrayForEach(c, contents) {
    const char *type = str_of(c, "type");
    if (!type) continue;
    if (strcmp(type, "text") == 0) {
      const char *t = str_of(c, "text");
      n_text++;
      if (t && (rc = tm_sbuf_add(b, &text, t, strlen(t))) != TM_OK) goto fail;
    } else if (strcmp(type, "data") == 0 || strcmp(type, "uri") == 0) {
      if (user) n_media++;
    } else if (strcmp(type, "function_call") == 0) {
      if (m->role == TM_ROLE_ASSISTANT) n_calls++;
    } else if (strcmp(type, "function_result") == 0) {
      n_results++;
    }
  }

  /* The message itself, unless it only carried function results. */
  bool emit = n_text || n_media || n_calls || n_results == 0;
  if (emit) {
    msg = cJSON_CreateObject();
    if (!msg) goto nomem;
    if ((rc = add_str(b, msg, "role", tm_role_name(m->role))) != TM_OK) goto fail;
    if (n_media) {
      /* Content parts, in the order of the contents. */
      if (!(parts = cJSON_AddArrayToObject(msg, "content"))) goto nomem;
      cJSON_ArrayForEach(c, contents) {
        const char *type = str_of(c, "type");
        if (!type) continue;
        if (strcmp(type, "text") == 0) {
          cJSON *part = cJSON_CreateObject();
          const char *t = str_of(c, "text");
          if (!part || !cJSON_AddItemToArray(parts, part)) {
            cJSON_Delete(part);
            goto nomem;
          }
          if ((rc = add_str(b, part, "type", "text")) != TM_OK) goto fail;
          if ((rc = add_str(b, part, "text", t ? t : "")) != TM_OK) goto fail;
        } else if (strcmp(type, "data") == 0 || strcmp(type, "uri") == 0) {
          rc = add_media_part(b, c, type[0] == 'd', parts);
          if (rc) goto fail;
        }
      }
    } else if (n_calls && !n_text) {
      if (!cJSON_AddNullToObject(msg, "content")) goto nomem;
    } else {
      if ((rc = add_str(b, msg, "content", text.p ? text.p : "")) != TM_OK) goto fail;
    }
    if (n_calls) {
      cJSON *calls = cJSON_AddArrayToObject(msg, "tool_calls");
      if (!calls) goto nomem;
      cJSON_ArrayForEach(c, contents) {
        const char *type = str_of(c, "type");
        if (!type || strcmp(type, "function_call") != 0) continue;
        const char *id = str_of(c, "call_id"), *name = str_of(c, "name");
        cJSON *call = cJSON_CreateObject(), *fn;
        if (!call || !cJSON_AddItemToArray(calls, call)) {
          cJSON_Delete(call);
          goto nomem;
        }
        if ((rc = add_str(b, call, "id", id ? id : "")) != TM_OK) goto fail;
        if ((rc = add_str(b, call, "type", "function")) != TM_OK) goto fail;
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(c, "additional_properties");
        const cJSON *extra = cJSON_GetObjectItemCaseSensitive(props, "extra_content");
        if (cJSON_IsObject(extra)) {
          cJSON *copy = cJSON_Duplicate(extra, true);
          if (!copy || !cJSON_AddItemToObject(call, "extra_content", copy)) {
            cJSON_Delete(copy);
            goto nomem;
          }
        }
        if (!(fn = cJSON_AddObjectToObject(call, "function"))) goto nomem;
        if ((rc = add_str(b, fn, "name", name ? name : "")) != TM_OK) goto fail;
        if ((rc = arguments_text(b, c, &args)) != TM_OK) goto fail;
        if ((rc = add_str(b, fn, "arguments", args)) != TM_OK) goto fail;
        tm_free(args);
        args = NULL;
      }
    }
    const char *author = str_of(m->json, "author_name");
    if (m->role == TM_ROLE_USER && tm_chat_name_ok(author) &&
        (rc = add_str(b, msg, "name", author)) != TM_OK)
      goto fail;
    if (!cJSON_AddItemToArray(out, msg)) goto nomem;
    msg = NULL;
  }

  cJSON_ArrayForEach(c, contents) {
    const char *type = str_of(c, "type");
    if (type && strcmp(type, "function_result") == 0 && (rc = add_tool_message(b, c, out)))
      goto fail;
  }
  tm_free(text.p);
  return TM_OK;
nomem:
  rc = oom(b);
fail:
  tm_free(args);
  tm_free(text.p);
  cJSON_Delete(msg);
  return rc;
}

/* ---- the request ---- */

static bool reserved_key(const char *key) {
  return strcmp(key, "messages") == 0 || strcmp(key, "tools") == 0;
}

int tm_chat_build(tm_base *b, const tm_chat_request *req, cJSON **out) {
  cJSON *body = cJSON_CreateObject(), *msgs, *merged = NULL;
  int rc = TM_OK;
  *out = NULL;
  if (!body) return oom(b);

  /* Options first, so the protocol fields below always win. */
  for (int i = 0; i < 2; i++) {
    const cJSON *it;
    cJSON_ArrayForEach(it, req->options[i]) {
      if (!it->string || reserved_key(it->string)) continue;
      cJSON *c = cJSON_Duplicate(it, 1);
      if (!c) goto nomem;
      /* A later options object overrides an earlier one. */
      cJSON_DeleteItemFromObjectCaseSensitive(body, it->string);
      if (!cJSON_AddItemToObject(body, it->string, c)) {
        cJSON_Delete(c);
        goto nomem;
      }
    }
  }

  if (!(msgs = cJSON_AddArrayToObject(body, "messages"))) goto nomem;
  if (req->instructions && req->instructions[0]) {
    cJSON *sys = cJSON_CreateObject();
    if (!sys || !cJSON_AddItemToArray(msgs, sys)) {
      cJSON_Delete(sys);
      goto nomem;
    }
    if ((rc = add_str(b, sys, "role", "system")) != TM_OK) goto fail;
    if ((rc = add_str(b, sys, "content", req->instructions)) != TM_OK) goto fail;
  }
  for (int s = 0; s < TM_CHAT_SEGMENTS; s++) {
    const tm_msglist *l = &req->segments[s];
    size_t i = 0;
    /* A sequence cut from the front (eviction) may start on the results
     * of a call that is gone; endpoints reject a tool result without its
     * call, so such leading results of the context or history are not
     * sent. (The input may answer a call on purpose.) */
    while (s <= 2 && i < l->len && tm_msglist_get(l, i)->role == TM_ROLE_TOOL) i++;
    for (; i < l->len; i++) {
      rc = tm_chat_map_message(b, tm_msglist_get(l, i), msgs);
      if (rc) goto fail;
    }
  }

  if ((rc = tm_chat_tools_merged(b, req, &merged)) != TM_OK) goto fail;
  if (cJSON_GetArraySize(merged) > 0) {
    cJSON *tools = cJSON_AddArrayToObject(body, "tools");
    const cJSON *t;
    if (!tools) goto nomem;
    cJSON_ArrayForEach(t, merged) {
      if ((rc = tool_to_openai(b, t, tools)) != TM_OK) goto fail;
    }
    /* The agent's choice wins over one given in options; "auto" when
     * neither says. */
    if (req->tool_choice || !cJSON_GetObjectItemCaseSensitive(body, "tool_choice")) {
      cJSON *tc = req->tool_choice ? cJSON_Duplicate(req->tool_choice, 1)
                                   : cJSON_CreateString("auto");
      if (!tc) goto nomem;
      cJSON_DeleteItemFromObjectCaseSensitive(body, "tool_choice");
      if (!cJSON_AddItemToObject(body, "tool_choice", tc)) {
        cJSON_Delete(tc);
        goto nomem;
      }
    }
  } else {
    /* Endpoints reject a tool_choice without tools. */
    cJSON_DeleteItemFromObjectCaseSensitive(body, "tool_choice");
  }
  cJSON_Delete(merged);
  merged = NULL;

  cJSON_DeleteItemFromObjectCaseSensitive(body, "stream");
  if (req->stream) {
    /* Options' stream_options are kept, with usage always asked for: the
     * run reports it. */
    cJSON *so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");
    if (!cJSON_IsObject(so)) {
      cJSON_DeleteItemFromObjectCaseSensitive(body, "stream_options");
      if (!(so = cJSON_AddObjectToObject(body, "stream_options"))) goto nomem;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(so, "include_usage");
    if (!cJSON_AddBoolToObject(so, "include_usage", 1) || !cJSON_AddBoolToObject(body, "stream", 1))
      goto nomem;
  } else {
    cJSON_DeleteItemFromObjectCaseSensitive(body, "stream_options");
  }

  if (req->service_thread_id) {
    cJSON_DeleteItemFromObjectCaseSensitive(body, "conversation");
    if ((rc = add_str(b, body, "conversation", req->service_thread_id)) != TM_OK) goto fail;
  }
  *out = body;
  return TM_OK;
nomem:
  rc = oom(b);
fail:
  cJSON_Delete(merged);
  cJSON_Delete(body);
  return rc;
}

/* ---- the response ---- */

void tm_chat_response_free(tm_chat_response *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n_calls; i++) {
    tm_free(r->calls[i].id);
    tm_free(r->calls[i].name);
    tm_free(r->calls[i].arguments);
    cJSON_Delete(r->calls[i].extra);
  }
  tm_free(r->calls);
  tm_free(r->content);
  tm_free(r->finish_reason);
  tm_free(r->id);
  tm_free(r->conversation);
  memset(r, 0, sizeof *r);
}

static int64_t usage_int(const cJSON *usage, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, key);
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0) return 0;
  /* Beyond 2^53 a count is no longer exact in JSON anyway. */
  if (v->valuedouble > 9007199254740992.0) return INT64_C(9007199254740992);
  return (int64_t)v->valuedouble;
}

/* Duplicates a string member into *out when it is a string. */
static int dup_member(tm_base *b, const cJSON *obj, const char *key, char **out) {
  const char *s = str_of(obj, key);
  if (!s) return TM_OK;
  *out = tm_strdup(s);
  return *out ? TM_OK : oom(b);
}

int tm_chat_content_text(tm_base *b, const cJSON *content, char **out) {
  if (cJSON_IsString(content)) {
    *out = tm_strdup(content->valuestring);
    return *out ? TM_OK : oom(b);
  }
  if (cJSON_IsArray(content)) {
    /* Text parts, as some compatible servers send them. */
    tm_sbuf s = {0};
    const cJSON *part;
    int rc = tm_sbuf_add(b, &s, "", 0);
    if (rc) return rc;
    cJSON_ArrayForEach(part, content) {
      const char *t = cJSON_IsString(part) ? part->valuestring : str_of(part, "text");
      if (t && (rc = tm_sbuf_add(b, &s, t, strlen(t))) != TM_OK) {
        tm_free(s.p);
        return rc;
      }
    }
    *out = s.p;
  }
  return TM_OK;
}

static int parse_call(tm_base *b, const cJSON *call, size_t index, tm_chat_call *out) {
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
  const char *id = str_of(call, "id");
  const char *name = str_of(fn, "name");
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
  if (!cJSON_IsObject(call))
    return tm_fail(b, TM_ERESPONSE, "response tool_calls[%zu] is not an object", index);
  if (!id || !id[0])
    return tm_fail(b, TM_ERESPONSE, "response tool_calls[%zu] has no id", index);
  if (!name || !name[0])
    return tm_fail(b, TM_ERESPONSE, "response tool call \"%s\" has no function name", id);
  if (strlen(id) > TM_MAX_ID_BYTES || strlen(name) > TM_MAX_ID_BYTES)
    return tm_fail(b, TM_ERESPONSE, "response tool_calls[%zu] has an id or name longer than %d bytes",
                   index, TM_MAX_ID_BYTES);
  if (!(out->id = tm_strdup(id)) || !(out->name = tm_strdup(name))) return oom(b);
  const cJSON *extra = cJSON_GetObjectItemCaseSensitive(call, "extra_content");
  if (cJSON_IsObject(extra) && !(out->extra = cJSON_Duplicate(extra, true))) return oom(b);
  if (!args || cJSON_IsNull(args) || (cJSON_IsString(args) && args->valuestring[0] == '\0')) {
    out->arguments = tm_strdup("{}");
    return out->arguments ? TM_OK : oom(b);
  }
  if (!cJSON_IsString(args)) {
    /* Some servers send the arguments as an object already. */
    return tm_json_print(b, args, &out->arguments);
  }
  tm_base scratch = {0};
  cJSON *parsed = NULL;
  int rc = tm_json_parse(&scratch, args->valuestring, "arguments", &parsed);
  cJSON_Delete(parsed);
  if (rc == TM_ENOMEM) {
    tm_base_free(&scratch);
    return oom(b);
  }
  if (rc) {
    rc = tm_fail(b, TM_ERESPONSE, "tool call \"%s\" (%s): arguments are not valid JSON: %s", id,
                 name, scratch.msg ? scratch.msg : "");
    tm_base_free(&scratch);
    return rc;
  }
  tm_base_free(&scratch);
  out->arguments = tm_strdup(args->valuestring);
  return out->arguments ? TM_OK : oom(b);
}

int tm_chat_parse(tm_base *b, const char *body, tm_chat_response *out) {
  cJSON *root = NULL;
  int rc;
  memset(out, 0, sizeof *out);
  if (!body) return tm_fail(b, TM_ERESPONSE, "empty response");
  /* Whatever the endpoint sent, an unreadable body is an unusable
   * response, not a caller's malformed input. */
  if ((rc = tm_json_parse(b, body, "response", &root)) != TM_OK) {
    return rc == TM_ENOMEM ? rc : tm_fail(b, TM_ERESPONSE, "%s", tm_errmsg(b));
  }
  rc = tm_chat_read(b, root, out);
  cJSON_Delete(root);
  return rc;
}

int tm_chat_read(tm_base *b, const cJSON *root, tm_chat_response *out) {
  tm_chat_response r;
  int rc;
  memset(&r, 0, sizeof r);
  memset(out, 0, sizeof *out);
  if (!cJSON_IsObject(root)) {
    rc = tm_fail(b, TM_ERESPONSE, "response is not a JSON object");
    goto fail;
  }
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
  if (err && !cJSON_IsNull(err)) {
    const char *msg = cJSON_IsString(err) ? err->valuestring : str_of(err, "message");
    rc = tm_fail(b, TM_ERESPONSE, "the model returned an error: %s", msg ? msg : "(no message)");
    goto fail;
  }
  const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
  if (!cJSON_IsArray(choices) || cJSON_GetArraySize(choices) == 0) {
    rc = tm_fail(b, TM_ERESPONSE, "response has no choices");
    goto fail;
  }
  const cJSON *choice = cJSON_GetArrayItem(choices, 0);
  const cJSON *message = cJSON_GetObjectItemCaseSensitive(choice, "message");
  if (!cJSON_IsObject(message)) {
    rc = tm_fail(b, TM_ERESPONSE, "response choices[0] has no message");
    goto fail;
  }
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(message, "content");
  if ((rc = tm_chat_content_text(b, content, &r.content)) != TM_OK) goto fail;
  const cJSON *refusal = cJSON_GetObjectItemCaseSensitive(message, "refusal");
  if (!r.content && cJSON_IsString(refusal) && !(r.content = tm_strdup(refusal->valuestring))) {
    rc = oom(b);
    goto fail;
  }

  const cJSON *calls = cJSON_GetObjectItemCaseSensitive(message, "tool_calls");
  if (calls && !cJSON_IsNull(calls)) {
    if (!cJSON_IsArray(calls)) {
      rc = tm_fail(b, TM_ERESPONSE, "response tool_calls is not an array");
      goto fail;
    }
    size_t n = (size_t)cJSON_GetArraySize(calls);
    if (n) {
      r.calls = tm_malloc(n * sizeof *r.calls);
      if (!r.calls) {
        rc = oom(b);
        goto fail;
      }
      memset(r.calls, 0, n * sizeof *r.calls);
      const cJSON *call;
      cJSON_ArrayForEach(call, calls) {
        /* Counted first, so a half-filled entry is freed too. */
        r.n_calls++;
        rc = parse_call(b, call, r.n_calls - 1, &r.calls[r.n_calls - 1]);
        if (rc) goto fail;
      }
    }
  }
  if ((rc = dup_member(b, choice, "finish_reason", &r.finish_reason)) != TM_OK) goto fail;
  if ((rc = dup_member(b, root, "id", &r.id)) != TM_OK) goto fail;
  const cJSON *conv = cJSON_GetObjectItemCaseSensitive(root, "conversation");
  if (cJSON_IsString(conv)) {
    rc = dup_member(b, root, "conversation", &r.conversation);
  } else if (cJSON_IsObject(conv)) {
    rc = dup_member(b, conv, "id", &r.conversation);
  }
  if (rc) goto fail;
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
  r.prompt_tokens = usage_int(usage, "prompt_tokens");
  r.completion_tokens = usage_int(usage, "completion_tokens");
  r.total_tokens = usage_int(usage, "total_tokens");
  *out = r;
  return TM_OK;
fail:
  tm_chat_response_free(&r);
  return rc;
}
