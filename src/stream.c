/*
 * The accumulator of streamed replies (see stream.h).
 *
 * Chunk rules, from OpenAI's chat.completion.chunk and what compatible
 * servers send:
 *  - Only choice 0 is read (an agent asks for one choice); a choice without
 *    "index" is choice 0.
 *  - delta.content fragments are appended in order; null adds nothing.
 *  - delta.tool_calls fragments carry "index"; the first fragment of a call
 *    has its id and name, later ones append to "arguments". A server that
 *    omits "index" sends whole calls: a fragment with a new id starts a new
 *    call, one without continues the last.
 *  - The usage chunk (include_usage) has no choices; id, usage and
 *    conversation may come in any chunk, the last one wins.
 * At the end the accumulated reply is read by tm_chat_read, so a streamed
 * reply obeys exactly the rules of a non-streamed one.
 */
#include "stream.h"

#include <math.h>
#include <string.h>

static int oom(tm_base *b) { return tm_fail(b, TM_ENOMEM, "out of memory"); }

static void call_free(tm_stream_call *c) {
  tm_free(c->id.p);
  tm_free(c->name.p);
  tm_free(c->arguments.p);
  cJSON_Delete(c->extra);
}

void tm_stream_free(tm_stream *s) {
  if (!s) return;
  tm_free(s->content.p);
  for (size_t i = 0; i < s->n_calls; i++) call_free(&s->calls[i]);
  tm_free(s->calls);
  tm_free(s->finish_reason);
  tm_free(s->id);
  tm_free(s->conversation);
  memset(s, 0, sizeof *s);
}

/* Replaces *dst with a copy of the string `v` when it is one. */
static int keep_string(tm_base *b, const cJSON *v, char **dst) {
  if (!cJSON_IsString(v)) return TM_OK;
  char *copy = tm_strdup(v->valuestring);
  if (!copy) return oom(b);
  tm_free(*dst);
  *dst = copy;
  return TM_OK;
}

/* Appends a fragment, keeping the text under TM_MAX_MESSAGE_BYTES. */
static int append(tm_base *b, tm_sbuf *s, const char *text, const char *what) {
  size_t n = strlen(text);
  if (n > TM_MAX_MESSAGE_BYTES || s->len > TM_MAX_MESSAGE_BYTES - n)
    return tm_fail(b, TM_ERANGE, "streamed %s above %zu bytes", what, TM_MAX_MESSAGE_BYTES);
  if (n == 0 && s->p) return TM_OK;
  return tm_sbuf_add(b, s, text, n);
}

/* Makes call `index` exist (zeroed calls fill any gap before it). */
static int reach_call(tm_base *b, tm_stream *s, size_t index) {
  if (index < s->n_calls) return TM_OK;
  if (index >= s->cap) {
    size_t cap = s->cap ? s->cap : 4;
    while (cap <= index) cap *= 2; /* bounded: index < TM_MAX_CONTENTS */
    tm_stream_call *calls = tm_realloc(s->calls, cap * sizeof *calls);
    if (!calls) return oom(b);
    s->calls = calls;
    s->cap = cap;
  }
  memset(&s->calls[s->n_calls], 0, (index + 1 - s->n_calls) * sizeof *s->calls);
  s->n_calls = index + 1;
  return TM_OK;
}

/* The call a fragment without "index" belongs to. */
static size_t implicit_index(const tm_stream *s, const char *id) {
  if (s->n_calls == 0) return 0;
  const tm_sbuf *last = &s->calls[s->n_calls - 1].id;
  if (id && id[0] && last->len && strcmp(last->p, id) != 0) return s->n_calls;
  return s->n_calls - 1;
}

/* Sets an identifying field (id, name) of a call: the first non-empty value
 * sticks, repeats of it are accepted, another value is refused. */
static int set_once(tm_base *b, tm_sbuf *field, const cJSON *v, size_t index, const char *what) {
  if (v == NULL || cJSON_IsNull(v)) return TM_OK;
  if (!cJSON_IsString(v))
    return tm_fail(b, TM_ERESPONSE, "streamed tool_calls[%zu].%s is not a string", index, what);
  const char *text = v->valuestring;
  if (!text[0]) return TM_OK;
  if (field->len) {
    if (strcmp(field->p, text) == 0) return TM_OK;
    return tm_fail(b, TM_ERESPONSE, "streamed tool_calls[%zu] changes its %s", index, what);
  }
  if (strlen(text) > TM_MAX_ID_BYTES)
    return tm_fail(b, TM_ERESPONSE, "streamed tool_calls[%zu].%s is longer than %d bytes", index,
                   what, TM_MAX_ID_BYTES);
  return tm_sbuf_add(b, field, text, strlen(text));
}

static int feed_call(tm_base *b, tm_stream *s, const cJSON *frag) {
  if (!cJSON_IsObject(frag)) return tm_fail(b, TM_ERESPONSE, "a streamed tool call is not an object");
  const cJSON *idx = cJSON_GetObjectItemCaseSensitive(frag, "index");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(frag, "id");
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(frag, "function");
  size_t index;
  int rc;
  if (idx == NULL || cJSON_IsNull(idx)) {
    index = implicit_index(s, cJSON_IsString(id) ? id->valuestring : NULL);
  } else {
    double d = cJSON_IsNumber(idx) ? idx->valuedouble : -1;
    if (!isfinite(d) || d < 0 || d != floor(d) || d >= TM_MAX_CONTENTS)
      return tm_fail(b, TM_ERESPONSE, "a streamed tool call has an index that is not 0 to %d",
                     TM_MAX_CONTENTS - 1);
    index = (size_t)d;
  }
  if (index >= TM_MAX_CONTENTS)
    return tm_fail(b, TM_ERANGE, "more than %d streamed tool calls", TM_MAX_CONTENTS);
  if ((rc = reach_call(b, s, index)) != TM_OK) return rc;
  tm_stream_call *c = &s->calls[index];
  if ((rc = set_once(b, &c->id, id, index, "id")) != TM_OK) return rc;
  const cJSON *extra = cJSON_GetObjectItemCaseSensitive(frag, "extra_content");
  if (!c->extra && cJSON_IsObject(extra) && !(c->extra = cJSON_Duplicate(extra, true)))
    return oom(b);
  if (fn == NULL || cJSON_IsNull(fn)) return TM_OK;
  if (!cJSON_IsObject(fn))
    return tm_fail(b, TM_ERESPONSE, "streamed tool_calls[%zu].function is not an object", index);
  if ((rc = set_once(b, &c->name, cJSON_GetObjectItemCaseSensitive(fn, "name"), index, "name")))
    return rc;
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
  if (args == NULL || cJSON_IsNull(args)) return TM_OK;
  if (!cJSON_IsString(args))
    return tm_fail(b, TM_ERESPONSE, "streamed tool_calls[%zu].function.arguments is not a string",
                   index);
  return append(b, &c->arguments, args->valuestring, "tool-call arguments");
}

static int feed_choice(tm_base *b, tm_stream *s, const cJSON *choice) {
  int rc;
  if (!cJSON_IsObject(choice)) return tm_fail(b, TM_ERESPONSE, "a streamed choice is not an object");
  const cJSON *idx = cJSON_GetObjectItemCaseSensitive(choice, "index");
  if (idx && !cJSON_IsNull(idx) && !(cJSON_IsNumber(idx) && idx->valuedouble == 0)) return TM_OK;
  const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
  if (delta && !cJSON_IsNull(delta)) {
    if (!cJSON_IsObject(delta)) return tm_fail(b, TM_ERESPONSE, "a streamed delta is not an object");
    /* Text comes as a string or an array of parts; a refusal is text too. */
    static const char *const texts[] = {"content", "refusal"};
    for (int k = 0; k < 2; k++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(delta, texts[k]);
      char *text = NULL;
      if (!v || cJSON_IsNull(v)) continue;
      if (!cJSON_IsString(v) && !cJSON_IsArray(v))
        return tm_fail(b, TM_ERESPONSE, "a streamed delta.%s is not a string", texts[k]);
      if ((rc = tm_chat_content_text(b, v, &text)) != TM_OK) return rc;
      rc = append(b, &s->content, text, "content");
      tm_free(text);
      if (rc) return rc;
    }
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
    if (calls && !cJSON_IsNull(calls)) {
      if (!cJSON_IsArray(calls))
        return tm_fail(b, TM_ERESPONSE, "a streamed delta.tool_calls is not an array");
      const cJSON *frag;
      cJSON_ArrayForEach(frag, calls) {
        if ((rc = feed_call(b, s, frag)) != TM_OK) return rc;
      }
    }
  }
  return keep_string(b, cJSON_GetObjectItemCaseSensitive(choice, "finish_reason"),
                     &s->finish_reason);
}

static int64_t usage_count(const cJSON *usage, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, key);
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0) return 0;
  if (v->valuedouble > 9007199254740992.0) return INT64_C(9007199254740992);
  return (int64_t)v->valuedouble;
}

int tm_stream_feed(tm_base *b, tm_stream *s, const char *chunk, const char **delta,
                   size_t *delta_len) {
  cJSON *root = NULL;
  size_t before = s->content.len;
  int rc;
  *delta = "";
  *delta_len = 0;
  if (!chunk) return tm_fail(b, TM_ERESPONSE, "an empty stream chunk");
  /* An unreadable chunk is an unusable reply, as an unreadable body is. */
  if ((rc = tm_json_parse(b, chunk, "stream chunk", &root)) != TM_OK)
    return rc == TM_ENOMEM ? rc : tm_fail(b, TM_ERESPONSE, "%s", tm_errmsg(b));
  if (!cJSON_IsObject(root)) {
    rc = tm_fail(b, TM_ERESPONSE, "stream chunk %zu is not a JSON object", s->chunks);
    goto done;
  }
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
  if (err && !cJSON_IsNull(err)) {
    const cJSON *m = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message") : err;
    rc = tm_fail(b, TM_ERESPONSE, "the model returned an error mid-stream: %s",
                 cJSON_IsString(m) ? m->valuestring : "(no message)");
    goto done;
  }
  const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
  if (choices && !cJSON_IsNull(choices)) {
    if (!cJSON_IsArray(choices)) {
      rc = tm_fail(b, TM_ERESPONSE, "stream chunk %zu: choices is not an array", s->chunks);
      goto done;
    }
    const cJSON *choice;
    cJSON_ArrayForEach(choice, choices) {
      if ((rc = feed_choice(b, s, choice)) != TM_OK) goto done;
    }
  }
  if ((rc = keep_string(b, cJSON_GetObjectItemCaseSensitive(root, "id"), &s->id)) != TM_OK) goto done;
  const cJSON *conv = cJSON_GetObjectItemCaseSensitive(root, "conversation");
  if (cJSON_IsObject(conv)) conv = cJSON_GetObjectItemCaseSensitive(conv, "id");
  if ((rc = keep_string(b, conv, &s->conversation)) != TM_OK) goto done;
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
  if (cJSON_IsObject(usage)) {
    s->has_usage = true;
    s->prompt_tokens = usage_count(usage, "prompt_tokens");
    s->completion_tokens = usage_count(usage, "completion_tokens");
    s->total_tokens = usage_count(usage, "total_tokens");
  }
  s->chunks++;
  if (s->content.len > before) {
    *delta = s->content.p + before;
    *delta_len = s->content.len - before;
  }
done:
  cJSON_Delete(root);
  return rc;
}

/* The reply as the non-streamed response it stands for. */
static cJSON *as_response(const tm_stream *s) {
  cJSON *root = cJSON_CreateObject(), *choices, *choice, *msg, *u;
  if (!root) return NULL;
  if (s->id && !cJSON_AddStringToObject(root, "id", s->id)) goto nomem;
  if (s->conversation && !cJSON_AddStringToObject(root, "conversation", s->conversation)) goto nomem;
  if (!(choices = cJSON_AddArrayToObject(root, "choices"))) goto nomem;
  if (!(choice = cJSON_CreateObject()) || !cJSON_AddItemToArray(choices, choice)) {
    cJSON_Delete(choice);
    goto nomem;
  }
  if (!cJSON_AddStringToObject(choice, "finish_reason", s->finish_reason)) goto nomem;
  if (!(msg = cJSON_AddObjectToObject(choice, "message"))) goto nomem;
  /* An empty content is no content: servers open every streamed reply
   * with "content":"", also one that only calls tools. */
  if (s->content.len ? !cJSON_AddStringToObject(msg, "content", s->content.p)
                     : !cJSON_AddNullToObject(msg, "content"))
    goto nomem;
  if (s->n_calls) {
    cJSON *calls = cJSON_AddArrayToObject(msg, "tool_calls");
    if (!calls) goto nomem;
    for (size_t i = 0; i < s->n_calls; i++) {
      const tm_stream_call *c = &s->calls[i];
      cJSON *o = cJSON_CreateObject(), *fn;
      if (!o || !cJSON_AddItemToArray(calls, o)) {
        cJSON_Delete(o);
        goto nomem;
      }
      /* Missing parts stay missing, for tm_chat_read to name. */
      if (c->id.len && !cJSON_AddStringToObject(o, "id", c->id.p)) goto nomem;
      if (!cJSON_AddStringToObject(o, "type", "function")) goto nomem;
      if (!(fn = cJSON_AddObjectToObject(o, "function"))) goto nomem;
      if (c->name.len && !cJSON_AddStringToObject(fn, "name", c->name.p)) goto nomem;
      if (!cJSON_AddStringToObject(fn, "arguments", c->arguments.p ? c->arguments.p : ""))
        goto nomem;
      if (c->extra) {
        cJSON *extra = cJSON_Duplicate(c->extra, true);
        if (!extra || !cJSON_AddItemToObject(o, "extra_content", extra)) {
          cJSON_Delete(extra);
          goto nomem;
        }
      }
    }
  }
  if (s->has_usage) {
    if (!(u = cJSON_AddObjectToObject(root, "usage")) ||
        !cJSON_AddNumberToObject(u, "prompt_tokens", (double)s->prompt_tokens) ||
        !cJSON_AddNumberToObject(u, "completion_tokens", (double)s->completion_tokens) ||
        !cJSON_AddNumberToObject(u, "total_tokens", (double)s->total_tokens))
      goto nomem;
  }
  return root;
nomem:
  cJSON_Delete(root);
  return NULL;
}

int tm_stream_finish(tm_base *b, const tm_stream *s, tm_chat_response *out) {
  memset(out, 0, sizeof *out);
  if (!s->finish_reason)
    return tm_fail(b, TM_ERESPONSE,
                   "the streamed reply ended after %zu chunks without a finish_reason: it was cut short",
                   s->chunks);
  cJSON *root = as_response(s);
  if (!root) return oom(b);
  int rc = tm_chat_read(b, root, out);
  cJSON_Delete(root);
  return rc;
}
