/*
 * The run loop as a step machine (tm_run_start, tm_run_step, tm_run_free;
 * contract in threadmem.h).
 *
 * The core never waits: wherever the loop needs the world (the model, the
 * tools, a host store, the context providers) it hands the host an action
 * and returns; the host performs it, for as long as that takes, and gives
 * the answer to the next step. Each step is a short synchronous call, so a
 * host can keep many runs going at once and hold the core only while one
 * of them steps.
 *
 * A run is a transaction: everything it produces (the stamped input, the
 * assistant and tool messages of every round) is collected in one vector
 * and appended to the store in one call at the very end, so a failure at
 * any step leaves the thread exactly as it was.
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "chat.h"
#include "count.h"
#include "message.h"
#include "store.h"
#include "stream.h"
#include "window.h"

/* What the run waits for: the answer to the action it handed out last. */
typedef enum phase {
  P_START,          /* nothing asked yet */
  P_STORE_LIST,     /* the host store's messages */
  P_INVOKING,       /* the providers' contexts */
  P_LLM,            /* the model's reply */
  P_LLM_OPEN,       /* the start of a streamed reply */
  P_LLM_NEXT,       /* its next chunk, or its end */
  P_TOOLS,          /* the tool results */
  P_INVOKED,        /* the providers' invoked */
  P_STORE_ADD,      /* the host store's append of the turn */
  P_INVOKED_FAILED, /* the providers heard of the failure: report it next */
  P_FAILED,         /* the failure is reported once the updates are out */
  P_OVER            /* done or failed, and said so */
} phase;

typedef struct tm_run run;

struct tm_run {
  tm_base base;                /* the run's error (the handle's header) */
  tm_agent *agent;
  tm_base *b;                  /* &base */
  tm_store *store;
  cJSON *root;                 /* the parsed run_json */
  const char *thread_id;       /* the service thread id given, borrowed */
  bool host_store, providers;
  bool stream;                 /* streamed replies, updates emitted to the host */
  const cJSON *options;        /* borrowed from root */
  cJSON *run_tools;            /* canonical */
  tm_msgvec turn;              /* input [0, n_input), then the rounds */
  size_t n_input;
  tm_msgvec history;           /* read from a host store */
  tm_msgvec context;           /* the providers' messages */
  cJSON *provider_tools;       /* canonical */
  cJSON *known;                /* every tool offered, deduplicated */
  char *instructions;          /* agent's and providers', joined */
  size_t fixed_tokens;         /* windowed: the instructions' and context's */
  tm_window window;            /* windowed: the last request's */
  bool tell_failure;           /* invoking succeeded: invoked must hear a failure */
  tm_chat_response resp;
  tm_stream reply;             /* the streamed reply being read */
  cJSON *sent;                 /* the tool calls handed to the host */
  int rounds;
  int64_t usage[3];
  char *response_id, *finish_reason, *conversation;
  char *text;

  phase phase;
  int failure;                 /* the code the run failed with, kept on base */
  /* The actions not handed out yet: the updates of a streamed run first,
   * in order, then `next`. While an update is out (`emitting`) the step
   * that follows answers it and reads no input. */
  char **updates;
  size_t n_updates, updates_out, updates_cap;
  bool emitting;
  char *next;
  char *done;                  /* the done action, until a host store has the turn */
};

static void run_release(run *r) {
  cJSON_Delete(r->root);
  cJSON_Delete(r->run_tools);
  tm_msgvec_free(&r->turn);
  tm_msgvec_free(&r->history);
  tm_msgvec_free(&r->context);
  cJSON_Delete(r->provider_tools);
  cJSON_Delete(r->known);
  tm_free(r->instructions);
  tm_chat_response_free(&r->resp);
  tm_stream_free(&r->reply);
  cJSON_Delete(r->sent);
  tm_free(r->response_id);
  tm_free(r->finish_reason);
  tm_free(r->conversation);
  tm_free(r->text);
  for (size_t i = r->updates_out; i < r->n_updates; i++) tm_free(r->updates[i]);
  tm_free(r->updates);
  tm_free(r->next);
  tm_free(r->done);
  tm_base_free(&r->base);
}

static bool absent(const cJSON *v) { return !v || cJSON_IsNull(v); }

static int oom(tm_base *b) { return tm_fail(b, TM_ENOMEM, "out of memory"); }

/* A failed action: out of memory stays out of memory (the host could not
 * allocate its answer), anything else is the host's (it keeps the cause). */
static int host_fail(tm_base *b, int rc, const char *what) {
  if (rc == TM_ENOMEM) return oom(b);
  return tm_fail(b, TM_EHOST, "%s failed in the host", what);
}

/* An answer the action needs and the host did not give. */
static int no_answer(tm_base *b, const char *what) {
  return tm_fail(b, TM_EINVAL, "the host gave no answer to %s", what);
}

/* ---- actions ---- */

/* The text {"type":"<type>","<key>":<payload>} (or {"type":"<type>"} when
 * key is NULL), payload being JSON text written as is; NULL when out of
 * memory. */
static char *action_text(const char *type, const char *key, const char *payload) {
  size_t nt = strlen(type), nk = key ? strlen(key) : 0, np = key ? strlen(payload) : 0;
  size_t n = 10 + nt + 1 + (key ? 4 + nk + np : 0) + 2;
  char *s = tm_malloc(n);
  if (!s) return NULL;
  if (key) snprintf(s, n, "{\"type\":\"%s\",\"%s\":%s}", type, key, payload);
  else snprintf(s, n, "{\"type\":\"%s\"}", type);
  return s;
}

/* Makes {"type":type,key:payload} the next action and waits in `then`. */
static int act(run *r, phase then, const char *type, const char *key, const char *payload) {
  char *s = action_text(type, key, payload);
  if (!s) return oom(r->b);
  tm_free(r->next);
  r->next = s;
  r->phase = then;
  return TM_OK;
}

/* Queues `event` (taken) as an update for the host, handed out before the
 * next action. */
static int emit(run *r, cJSON *event) {
  char *text = NULL, *s;
  int rc = event ? tm_json_print(r->b, event, &text) : oom(r->b);
  cJSON_Delete(event);
  if (rc) return rc;
  s = action_text("emit", "event", text);
  tm_free(text);
  if (!s) return oom(r->b);
  if (r->n_updates == r->updates_cap) {
    size_t cap = r->updates_cap ? r->updates_cap * 2 : 8;
    char **grown = tm_realloc(r->updates, cap * sizeof *grown);
    if (!grown) {
      tm_free(s);
      return oom(r->b);
    }
    r->updates = grown;
    r->updates_cap = cap;
  }
  r->updates[r->n_updates++] = s;
  return TM_OK;
}

static int read_run(run *r, const char *run_json) {
  tm_base *b = r->b;
  int rc = tm_json_parse(b, run_json, "run", &r->root);
  if (rc) return rc;
  const cJSON *root = r->root;
  if (!cJSON_IsObject(root)) return tm_fail(b, TM_EFORMAT, "run must be a JSON object");

  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "service_thread_id");
  if (!absent(v)) {
    if (!cJSON_IsString(v) || !v->valuestring[0])
      return tm_fail(b, TM_EFORMAT, "service_thread_id must be a non-empty string");
    if (strlen(v->valuestring) > TM_MAX_ID_BYTES)
      return tm_fail(b, TM_ERANGE, "service_thread_id is longer than %d bytes", TM_MAX_ID_BYTES);
    r->thread_id = v->valuestring;
  }
  v = cJSON_GetObjectItemCaseSensitive(root, "host_store");
  if (!absent(v)) {
    if (!cJSON_IsBool(v)) return tm_fail(b, TM_EFORMAT, "host_store must be a boolean");
    r->host_store = cJSON_IsTrue(v);
  }
  v = cJSON_GetObjectItemCaseSensitive(root, "providers");
  if (!absent(v)) {
    if (!cJSON_IsBool(v)) return tm_fail(b, TM_EFORMAT, "providers must be a boolean");
    r->providers = cJSON_IsTrue(v);
  }
  v = cJSON_GetObjectItemCaseSensitive(root, "stream");
  if (!absent(v)) {
    if (!cJSON_IsBool(v)) return tm_fail(b, TM_EFORMAT, "stream must be a boolean");
    r->stream = cJSON_IsTrue(v);
  }
  if (r->thread_id && (r->store || r->host_store))
    return tm_fail(b, TM_ESTATE,
                   "a run cannot have both a service thread id and a message store");

  v = cJSON_GetObjectItemCaseSensitive(root, "options");
  if (!absent(v)) {
    if (!cJSON_IsObject(v)) return tm_fail(b, TM_EFORMAT, "options must be an object");
    r->options = v;
  }
  if (!(r->run_tools = cJSON_CreateArray())) return oom(b);
  v = cJSON_GetObjectItemCaseSensitive(root, "tools");
  if (!absent(v) && (rc = tm_chat_tools_read(b, v, "tools", r->run_tools)) != TM_OK) return rc;

  v = cJSON_GetObjectItemCaseSensitive(root, "messages");
  if (!absent(v)) {
    if (!cJSON_IsArray(v)) return tm_fail(b, TM_EFORMAT, "messages must be an array");
    if ((rc = tm_messages_read(b, v, "messages", &r->turn)) != TM_OK) return rc;
  }
  r->n_input = r->turn.len;
  for (size_t i = 0; i < r->turn.len; i++) {
    if ((rc = tm_message_stamp(b, &r->turn.items[i])) != TM_OK) return rc;
  }
  return TM_OK;
}

static int ask_history(run *r) { return act(r, P_STORE_LIST, "store_list", NULL, NULL); }

static int got_history(run *r, const char *text) {
  cJSON *arr = NULL;
  int rc = tm_json_parse(r->b, text, "host store messages", &arr);
  if (rc) return rc;
  if (!cJSON_IsArray(arr)) {
    cJSON_Delete(arr);
    return tm_fail(r->b, TM_EFORMAT, "host store messages must be an array");
  }
  rc = tm_messages_read(r->b, arr, "host store messages", &r->history);
  cJSON_Delete(arr);
  return rc;
}

/* A JSON array referencing the messages [from, from+len) of `v`, or NULL
 * when out of memory. References: deleting the array frees no message. */
static cJSON *message_refs(const tm_msgvec *v, size_t from, size_t len) {
  cJSON *arr = cJSON_CreateArray();
  if (!arr) return NULL;
  for (size_t i = from; i < from + len; i++) {
    if (!cJSON_AddItemReferenceToArray(arr, v->items[i].json)) {
      cJSON_Delete(arr);
      return NULL;
    }
  }
  return arr;
}

static int join_instructions(run *r, const char *more) {
  if (!more || !more[0]) return TM_OK;
  size_t have = r->instructions ? strlen(r->instructions) : 0, add = strlen(more);
  char *s = tm_realloc(r->instructions, have + (have ? 1 : 0) + add + 1);
  if (!s) return oom(r->b);
  if (have) s[have++] = '\n';
  memcpy(s + have, more, add + 1);
  r->instructions = s;
  return TM_OK;
}

static int read_contexts(run *r, const cJSON *arr) {
  tm_base *b = r->b;
  char path[TM_PATH_MAX], p2[TM_PATH_MAX];
  size_t i = 0;
  int rc;
  if (!cJSON_IsArray(arr)) return tm_fail(b, TM_EFORMAT, "provider contexts must be an array");
  const cJSON *c;
  cJSON_ArrayForEach(c, arr) {
    tm_path_index(path, "provider context", i++);
    if (cJSON_IsNull(c)) continue; /* a provider with nothing to add */
    if (!cJSON_IsObject(c)) return tm_fail(b, TM_EFORMAT, "%s must be an object", path);
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(c, "instructions");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(c, "messages");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(c, "tools");
    if (!absent(ins) && !cJSON_IsString(ins)) {
      tm_path_field(p2, path, "instructions");
      return tm_fail(b, TM_EFORMAT, "%s must be a string", p2);
    }
    if (!absent(msgs)) {
      tm_path_field(p2, path, "messages");
      if (!cJSON_IsArray(msgs)) return tm_fail(b, TM_EFORMAT, "%s must be an array", p2);
      if ((rc = tm_messages_read(b, msgs, p2, &r->context)) != TM_OK) return rc;
    }
    if (!absent(tools)) {
      tm_path_field(p2, path, "tools");
      if ((rc = tm_chat_tools_read(b, tools, p2, r->provider_tools)) != TM_OK) return rc;
    }
    if (cJSON_IsString(ins) && (rc = join_instructions(r, ins->valuestring)) != TM_OK) return rc;
  }
  return TM_OK;
}

/* The providers' invoking, when the run has providers. */
static int ask_invoking(run *r) {
  cJSON *req = NULL;
  char *text = NULL;
  int rc;
  if (!(req = cJSON_CreateObject())) return oom(r->b);
  cJSON *msgs = message_refs(&r->turn, 0, r->n_input);
  if (!msgs || !cJSON_AddItemToObject(req, "messages", msgs)) {
    cJSON_Delete(msgs);
    cJSON_Delete(req);
    return oom(r->b);
  }
  rc = tm_json_print(r->b, req, &text);
  cJSON_Delete(req);
  if (rc == TM_OK) rc = act(r, P_INVOKING, "invoking", "request", text);
  tm_free(text);
  return rc;
}

static int got_contexts(run *r, const char *answer) {
  cJSON *arr = NULL;
  int rc = tm_json_parse(r->b, answer, "provider contexts", &arr);
  if (rc == TM_OK) rc = read_contexts(r, arr);
  cJSON_Delete(arr);
  return rc;
}

/* The tokens of what every request of the run sends besides the history
 * and the turn: the instructions (as the system message they become) and
 * the providers' context. Counted once, after invoking. */
static int count_fixed(run *r) {
  tm_message sys = {0};
  size_t n = 0;
  int rc = TM_OK;
  r->fixed_tokens = 0;
  if (r->instructions && r->instructions[0]) {
    if ((rc = tm_message_new_text(r->b, TM_ROLE_SYSTEM, r->instructions, &sys))) return rc;
    rc = tm_message_tokens(r->b, &sys, r->agent->window.enc, &r->fixed_tokens);
    tm_message_free(&sys);
  }
  for (size_t i = 0; rc == TM_OK && i < r->context.len; i++) {
    if ((rc = tm_message_tokens(r->b, &r->context.items[i], r->agent->window.enc, &n)) == TM_OK)
      r->fixed_tokens += n;
  }
  return rc;
}

static const char *message_id(const tm_message *m) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->json, "message_id");
  return cJSON_IsString(id) ? id->valuestring : NULL;
}

/* The id of the last history message that a provider's context message
 * summarizes ("additional_properties": {"summary_of": {"last_message_id":
 * id}}), or NULL. */
static const char *summarized_through(const tm_message *m) {
  const cJSON *props = cJSON_GetObjectItemCaseSensitive(m->json, "additional_properties");
  const cJSON *of = cJSON_GetObjectItemCaseSensitive(props, "summary_of");
  const cJSON *last = cJSON_GetObjectItemCaseSensitive(of, "last_message_id");
  return cJSON_IsString(last) ? last->valuestring : NULL;
}

/* A summary in the providers' context stands in for the history it covers:
 * when the window still reaches back into that history, it starts right
 * after the summary's last message instead, so nothing is sent twice. Only
 * where a user message follows, so the window never starts mid-turn; a
 * summary that names no message of the window changes nothing. O(window). */
static int skip_summarized(run *r, const tm_msglist *h) {
  tm_window *w = &r->window;
  for (size_t c = 0; c < r->context.len; c++) {
    const char *last = summarized_through(&r->context.items[c]);
    if (!last) continue;
    for (size_t i = w->start; i < w->end; i++) {
      const char *id = message_id(tm_msglist_get(h, i));
      if (!id || strcmp(id, last) != 0) continue;
      if (i + 1 < w->end && tm_msglist_get(h, i + 1)->role != TM_ROLE_USER) break;
      for (size_t k = w->start; k <= i; k++) {
        size_t n;
        int rc = tm_message_tokens(r->b, tm_msglist_get(h, k), r->agent->window.enc, &n);
        if (rc) return rc;
        w->tokens -= n;
      }
      w->start = i + 1;
      break;
    }
  }
  return TM_OK;
}

/* The request of the next round, every part viewed in place; with a
 * context window, only the history that fits beside the rest. */
static int make_request(run *r, tm_chat_request *q) {
  memset(q, 0, sizeof *q);
  tm_msglist history = r->store ? tm_msglist_store(r->store)
                                : tm_msglist_vec(&r->history, 0, r->history.len);
  if (r->agent->windowed) {
    size_t fixed = r->fixed_tokens, n;
    for (size_t i = 0; i < r->turn.len; i++) {
      int rc = tm_message_tokens(r->b, &r->turn.items[i], r->agent->window.enc, &n);
      if (rc) return rc;
      fixed += n;
    }
    int rc = tm_window_fit(r->b, &history, fixed, false, &r->agent->window, &r->window);
    if (rc || (rc = skip_summarized(r, &history))) return rc;
    q->segments[1] = tm_msglist_sub(&history, 0, r->window.lead);
    q->segments[2] = tm_msglist_sub(&history, r->window.start, r->window.end - r->window.start);
  } else {
    q->segments[2] = history;
  }
  q->instructions = r->instructions;
  q->segments[0] = tm_msglist_vec(&r->context, 0, r->context.len);
  q->segments[3] = tm_msglist_vec(&r->turn, 0, r->n_input);
  q->segments[4] = tm_msglist_vec(&r->turn, r->n_input, r->turn.len - r->n_input);
  q->tools[0] = r->agent->tools;
  q->tools[1] = r->provider_tools;
  q->tools[2] = r->run_tools;
  q->tool_choice = r->agent->tool_choice;
  q->options[0] = r->agent->options;
  q->options[1] = r->options;
  q->service_thread_id = r->conversation ? r->conversation : r->thread_id;
  q->stream = r->stream;
  return TM_OK;
}

/* Makes a canonical message from a lenient JSON one, stamps it and appends
 * it to the turn. Takes ownership of `json`. */
static int push_turn(run *r, cJSON *json, const char *what) {
  tm_message m = {0};
  int rc = tm_msgvec_reserve(r->b, &r->turn, 1);
  if (rc == TM_OK) rc = tm_message_read(r->b, json, what, &m);
  cJSON_Delete(json);
  if (rc) return rc;
  if ((rc = tm_message_stamp(r->b, &m)) != TM_OK) {
    tm_message_free(&m);
    return rc;
  }
  tm_msgvec_push(&r->turn, m);
  return TM_OK;
}

/* {"role":role,"contents":[],"author_name":agent name} with its contents
 * array in *contents. */
static cJSON *new_message(const run *r, const char *role, cJSON **contents) {
  cJSON *m = cJSON_CreateObject();
  if (!m || !cJSON_AddStringToObject(m, "role", role) ||
      !(*contents = cJSON_AddArrayToObject(m, "contents")) ||
      (r->agent->name && strcmp(role, "assistant") == 0 &&
       !cJSON_AddStringToObject(m, "author_name", r->agent->name))) {
    cJSON_Delete(m);
    return NULL;
  }
  return m;
}

static cJSON *new_content(cJSON *contents, const char *type) {
  cJSON *c = cJSON_CreateObject();
  if (!c || !cJSON_AddItemToArray(contents, c)) {
    cJSON_Delete(c);
    return NULL;
  }
  return cJSON_AddStringToObject(c, "type", type) ? c : NULL;
}

static int push_text_message(run *r, const char *text, bool with_calls) {
  cJSON *contents, *m = new_message(r, "assistant", &contents);
  if (!m) return oom(r->b);
  if (text) {
    cJSON *c = new_content(contents, "text");
    if (!c || !cJSON_AddStringToObject(c, "text", text)) goto nomem;
  }
  for (size_t i = 0; with_calls && i < r->resp.n_calls; i++) {
    const tm_chat_call *call = &r->resp.calls[i];
    cJSON *c = new_content(contents, "function_call"), *props, *extra;
    if (!c || !cJSON_AddStringToObject(c, "call_id", call->id) ||
        !cJSON_AddStringToObject(c, "name", call->name) ||
        !cJSON_AddStringToObject(c, "arguments", call->arguments))
      goto nomem;
    /* What goes back to the model with the call (see chat.c). */
    if (call->extra) {
      if (!(props = cJSON_AddObjectToObject(c, "additional_properties"))) goto nomem;
      extra = cJSON_Duplicate(call->extra, true);
      if (!extra || !cJSON_AddItemToObject(props, "extra_content", extra)) {
        cJSON_Delete(extra);
        goto nomem;
      }
    }
  }
  return push_turn(r, m, "assistant message");
nomem:
  cJSON_Delete(m);
  return oom(r->b);
}

static bool known_tool(const run *r, const char *name) {
  const cJSON *t;
  cJSON_ArrayForEach(t, r->known) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");
    if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) return true;
  }
  return false;
}

/* Checks the host's tool results against the calls sent. */
static int check_results(tm_base *b, const cJSON *results, const cJSON *sent) {
  char path[TM_PATH_MAX];
  int want = cJSON_GetArraySize(sent);
  if (!cJSON_IsArray(results)) return tm_fail(b, TM_EFORMAT, "tool results must be an array");
  if (cJSON_GetArraySize(results) != want)
    return tm_fail(b, TM_EFORMAT, "tool results has %d entries for %d calls",
                   cJSON_GetArraySize(results), want);
  const cJSON *res = results->child, *call = sent->child;
  for (size_t i = 0; res && call; i++, res = res->next, call = call->next) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(res, "call_id");
    const char *expect = cJSON_GetObjectItemCaseSensitive(call, "call_id")->valuestring;
    tm_path_index(path, "tool results", i);
    if (!cJSON_IsObject(res)) return tm_fail(b, TM_EFORMAT, "%s must be an object", path);
    if (!cJSON_IsString(id))
      return tm_fail(b, TM_EFORMAT, "%s.call_id must be a string", path);
    if (strcmp(id->valuestring, expect) != 0)
      return tm_fail(b, TM_EFORMAT, "%s.call_id is \"%s\", expected \"%s\"", path,
                     id->valuestring, expect);
  }
  return TM_OK;
}

static int got_tools(run *r, const char *answer);

/* Hands the round's calls of known tools to the host, in one action; the
 * unknown ones are answered here. With none known, the round's tool message
 * is made at once. */
static int ask_tools(run *r) {
  tm_base *b = r->b;
  char *text = NULL;
  int rc;
  cJSON_Delete(r->sent);
  if (!(r->sent = cJSON_CreateArray())) return oom(b);
  for (size_t i = 0; i < r->resp.n_calls; i++) {
    const tm_chat_call *call = &r->resp.calls[i];
    if (!known_tool(r, call->name)) continue;
    cJSON *o = cJSON_CreateObject(), *args = NULL;
    if (!o || !cJSON_AddItemToArray(r->sent, o)) {
      cJSON_Delete(o);
      return oom(b);
    }
    if (!cJSON_AddStringToObject(o, "call_id", call->id) ||
        !cJSON_AddStringToObject(o, "name", call->name))
      return oom(b);
    /* Parsed, so the host's tools receive the arguments as JSON values. */
    if ((rc = tm_json_parse(b, call->arguments, "tool call arguments", &args)) != TM_OK) return rc;
    if (!cJSON_AddItemToObject(o, "arguments", args)) {
      cJSON_Delete(args);
      return oom(b);
    }
  }
  if (cJSON_GetArraySize(r->sent) == 0) return got_tools(r, NULL);
  if ((rc = tm_json_print(b, r->sent, &text)) != TM_OK) return rc;
  rc = act(r, P_TOOLS, "tools", "calls", text);
  tm_free(text);
  return rc;
}

/* One tool message with every result of the round in call order, from the
 * host's answer (NULL when no call went to the host). */
static int tool_message(run *r, const char *answer) {
  tm_base *b = r->b;
  cJSON *results = NULL, *msg = NULL, *contents;
  char *err = NULL;
  int rc = TM_OK;
  if (answer) {
    if ((rc = tm_json_parse(b, answer, "tool results", &results)) != TM_OK) goto fail;
    if ((rc = check_results(b, results, r->sent)) != TM_OK) goto fail;
  }

  if (!(msg = new_message(r, "tool", &contents))) goto nomem;
  const cJSON *res = results ? results->child : NULL;
  for (size_t i = 0; i < r->resp.n_calls; i++) {
    const tm_chat_call *call = &r->resp.calls[i];
    cJSON *c = new_content(contents, "function_result");
    if (!c || !cJSON_AddStringToObject(c, "call_id", call->id)) goto nomem;
    if (known_tool(r, call->name)) {
      const cJSON *value = cJSON_GetObjectItemCaseSensitive(res, "result");
      res = res->next;
      if (value) {
        cJSON *copy = cJSON_Duplicate(value, 1);
        if (!copy || !cJSON_AddItemToObject(c, "result", copy)) {
          cJSON_Delete(copy);
          goto nomem;
        }
      }
    } else {
      size_t n = strlen(call->name) + 32;
      if (!(err = tm_malloc(n))) goto nomem;
      snprintf(err, n, "Error: no tool named \"%s\"", call->name);
      if (!cJSON_AddStringToObject(c, "result", err)) goto nomem;
      tm_free(err);
      err = NULL;
    }
  }
  rc = push_turn(r, msg, "tool message");
  msg = NULL;
  goto fail;
nomem:
  rc = oom(b);
fail:
  cJSON_Delete(msg);
  cJSON_Delete(results);
  tm_free(err);
  return rc;
}

/* Keeps a string of the response (stealing it) when present. */
static void keep(char **dst, char **src) {
  if (!*src) return;
  tm_free(*dst);
  *dst = *src;
  *src = NULL;
}

/* ---- updates of a streamed run ---- */

/* {"type":type, key:value, ...} with string values; NULL when out of
 * memory. */
static cJSON *event_of(const char *type, const char *k1, const char *v1, const char *k2,
                       const char *v2, const char *k3, const char *v3) {
  cJSON *e = cJSON_CreateObject();
  if (!e || !cJSON_AddStringToObject(e, "type", type) || !cJSON_AddStringToObject(e, k1, v1) ||
      (k2 && !cJSON_AddStringToObject(e, k2, v2)) || (k3 && !cJSON_AddStringToObject(e, k3, v3))) {
    cJSON_Delete(e);
    return NULL;
  }
  return e;
}

static int emit_calls(run *r) {
  int rc = TM_OK;
  for (size_t i = 0; rc == TM_OK && i < r->resp.n_calls; i++) {
    const tm_chat_call *c = &r->resp.calls[i];
    rc = emit(r, event_of("tool_call", "call_id", c->id, "name", c->name, "arguments",
                          c->arguments));
  }
  return rc;
}

/* The results of the round just run: the contents of the turn's last
 * message, in call order. */
static int emit_results(run *r) {
  const cJSON *c, *contents = tm_message_contents(&r->turn.items[r->turn.len - 1]);
  size_t i = 0;
  int rc = TM_OK;
  cJSON_ArrayForEach(c, contents) {
    if (i >= r->resp.n_calls) break;
    const tm_chat_call *call = &r->resp.calls[i++];
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(c, "result");
    cJSON *e = event_of("tool_result", "call_id", call->id, "name", call->name, NULL, NULL);
    cJSON *copy = result ? cJSON_Duplicate(result, 1) : cJSON_CreateNull();
    if (!e || !copy || !cJSON_AddItemToObject(e, "result", copy)) {
      cJSON_Delete(copy);
      cJSON_Delete(e);
      return oom(r->b);
    }
    if ((rc = emit(r, e)) != TM_OK) return rc;
  }
  return rc;
}

/* ---- asking the model ---- */

/* The request of the next round, handed to the host: whole (llm), or as
 * the start of a streamed reply (llm_open) read chunk by chunk after. */
static int ask_model(run *r) {
  tm_chat_request q;
  cJSON *body = NULL;
  char *text = NULL;
  int rc;
  tm_chat_response_free(&r->resp);
  if ((rc = make_request(r, &q)) != TM_OK) return rc;
  if ((rc = tm_chat_build(r->b, &q, &body)) != TM_OK) return rc;
  rc = tm_json_print(r->b, body, &text);
  cJSON_Delete(body);
  if (rc) return rc;
  if (r->stream) {
    tm_stream_free(&r->reply);
    rc = act(r, P_LLM_OPEN, "llm_open", "request", text);
  } else {
    rc = act(r, P_LLM, "llm", "request", text);
  }
  tm_free(text);
  return rc;
}

/* After the providers (if any) answered: the first request. */
static int begin_rounds(run *r) {
  tm_chat_request q;
  int rc;
  if (r->agent->windowed && (rc = count_fixed(r)) != TM_OK) return rc;
  if ((rc = make_request(r, &q)) != TM_OK) return rc;
  if ((rc = tm_chat_tools_merged(r->b, &q, &r->known)) != TM_OK) return rc;
  return ask_model(r);
}

static int got_reply(run *r);

/* Takes the next chunk of a streamed reply; NULL is its end. */
static int got_chunk(run *r, const char *chunk) {
  const char *delta;
  size_t n;
  int rc;
  if (!chunk) {
    rc = tm_stream_finish(r->b, &r->reply, &r->resp);
    tm_stream_free(&r->reply);
    return rc ? rc : got_reply(r);
  }
  if ((rc = tm_stream_feed(r->b, &r->reply, chunk, &delta, &n)) != TM_OK) return rc;
  if (n && (rc = emit(r, event_of("text_delta", "text", delta, NULL, NULL, NULL, NULL))))
    return rc;
  return act(r, P_LLM_NEXT, "llm_next", NULL, NULL);
}

static int finish(run *r);

/* The model's reply is in r->resp: the end of the loop, or a tool round. */
static int got_reply(run *r) {
  tm_base *b = r->b;
  int rc;
  r->usage[0] += r->resp.prompt_tokens;
  r->usage[1] += r->resp.completion_tokens;
  r->usage[2] += r->resp.total_tokens;
  keep(&r->response_id, &r->resp.id);
  keep(&r->finish_reason, &r->resp.finish_reason);
  keep(&r->conversation, &r->resp.conversation);

  if (r->resp.n_calls == 0) {
    r->text = r->resp.content ? r->resp.content : tm_strdup("");
    if (!r->text) return oom(b);
    r->resp.content = NULL;
    if ((rc = push_text_message(r, r->text[0] ? r->text : NULL, false)) != TM_OK) return rc;
    return finish(r);
  }
  if (r->rounds >= r->agent->max_rounds)
    return tm_fail(b, TM_EROUNDS, "model still calling tools after %d rounds", r->rounds);
  if (r->stream && (rc = emit_calls(r)) != TM_OK) return rc;
  if ((rc = push_text_message(r, r->resp.content, true)) != TM_OK) return rc;
  return ask_tools(r);
}

static int got_tools(run *r, const char *answer) {
  int rc = tool_message(r, answer);
  if (rc == TM_OK && r->stream) rc = emit_results(r);
  if (rc) return rc;
  r->rounds++;
  return ask_model(r);
}

/* ---- the end of a run ---- */

/* {"request_messages":[input],"response_messages":[turn],"failed":...}; on
 * failure also the error's code and message. */
static int invoked_payload(run *r, tm_base *b, const tm_base *error, char **out) {
  cJSON *o = cJSON_CreateObject(), *req, *resp;
  int rc;
  if (!o) return oom(b);
  req = message_refs(&r->turn, 0, r->n_input);
  if (!req || !cJSON_AddItemToObject(o, "request_messages", req)) {
    cJSON_Delete(req);
    goto nomem;
  }
  resp = message_refs(&r->turn, r->n_input, r->turn.len - r->n_input);
  if (!resp || !cJSON_AddItemToObject(o, "response_messages", resp)) {
    cJSON_Delete(resp);
    goto nomem;
  }
  if (!cJSON_AddBoolToObject(o, "failed", error != NULL)) goto nomem;
  if (error) {
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    if (!e || !cJSON_AddStringToObject(e, "code", tm_code_name(error->code)) ||
        !cJSON_AddStringToObject(e, "message", error->msg ? error->msg : ""))
      goto nomem;
  }
  rc = tm_json_print(b, o, out);
  cJSON_Delete(o);
  return rc;
nomem:
  cJSON_Delete(o);
  return oom(b);
}

static int add_usage(cJSON *u, const char *key, int64_t v) {
  return cJSON_AddNumberToObject(u, key, (double)v) != NULL;
}

static int add_str_or_null(cJSON *o, const char *key, const char *v) {
  return (v ? cJSON_AddStringToObject(o, key, v) : cJSON_AddNullToObject(o, key)) != NULL;
}

static int result_json(run *r, char **out) {
  cJSON *o = cJSON_CreateObject(), *msgs, *u;
  int rc;
  if (!o || !cJSON_AddStringToObject(o, "text", r->text)) goto nomem;
  msgs = message_refs(&r->turn, r->n_input, r->turn.len - r->n_input);
  if (!msgs || !cJSON_AddItemToObject(o, "messages", msgs)) {
    cJSON_Delete(msgs);
    goto nomem;
  }
  if (!(u = cJSON_AddObjectToObject(o, "usage")) ||
      !add_usage(u, "prompt_tokens", r->usage[0]) ||
      !add_usage(u, "completion_tokens", r->usage[1]) ||
      !add_usage(u, "total_tokens", r->usage[2]) ||
      !add_str_or_null(o, "response_id", r->response_id) ||
      !add_str_or_null(o, "finish_reason", r->finish_reason))
    goto nomem;
  if (r->conversation && !cJSON_AddStringToObject(o, "service_thread_id", r->conversation))
    goto nomem;
  if (r->agent->windowed) {
    /* What the last request sent of the history, for a window view. The
     * store may have changed since (other calls between steps): never
     * less than nothing dropped. */
    const tm_window *w = &r->window;
    size_t len = r->store ? tm_store_len(r->store) : r->history.len;
    size_t sent = w->lead + (w->end - w->start);
    cJSON *wo = cJSON_AddObjectToObject(o, "window");
    if (!wo || !cJSON_AddNumberToObject(wo, "tokens", (double)w->tokens) ||
        !cJSON_AddNumberToObject(wo, "history_sent", (double)sent) ||
        !cJSON_AddNumberToObject(wo, "history_dropped", (double)(len > sent ? len - sent : 0)))
      goto nomem;
  }
  rc = tm_json_print(r->b, o, out);
  cJSON_Delete(o);
  return rc;
nomem:
  cJSON_Delete(o);
  return oom(r->b);
}

/* The done action, made before the commit, which gives the messages
 * away. */
static int done_action(run *r) {
  char *result = NULL;
  int rc = result_json(r, &result);
  if (rc) return rc;
  rc = act(r, P_OVER, "done", "result", result);
  tm_free(result);
  return rc;
}

/* After the providers' invoked: the result, then the turn appended in one
 * call (a host store by an action, even when the history was read from an
 * in-memory store; else the in-memory store here). */
static int commit(run *r) {
  char *text = NULL;
  int rc;
  if ((rc = done_action(r)) != TM_OK) return rc;
  if (!r->host_store) return r->store ? tm_store_append(r->store, r->b, &r->turn) : TM_OK;
  /* The done action waits until the host store has the turn. */
  r->done = r->next;
  r->next = NULL;
  cJSON *arr = message_refs(&r->turn, 0, r->turn.len);
  if (!arr) return oom(r->b);
  rc = tm_json_print(r->b, arr, &text);
  cJSON_Delete(arr);
  if (rc == TM_OK) rc = act(r, P_STORE_ADD, "store_add", "messages", text);
  tm_free(text);
  return rc;
}

static int finish(run *r) {
  char *text = NULL;
  int rc;
  if (!r->providers) return commit(r);
  if ((rc = invoked_payload(r, r->b, NULL, &text)) != TM_OK) return rc;
  rc = act(r, P_INVOKED, "invoked", "outcome", text);
  tm_free(text);
  return rc;
}

/* The run failed with `rc` (kept on the run): the providers hear of it when
 * invoking had answered, and the failure is reported after that. */
static void failed(run *r, int rc) {
  tm_base scratch = {0};
  char *text = NULL;
  r->failure = rc;
  r->phase = P_FAILED;
  tm_free(r->next);
  r->next = NULL;
  if (r->tell_failure && invoked_payload(r, &scratch, r->b, &text) == TM_OK) {
    r->next = action_text("invoked", "outcome", text);
    if (r->next) r->phase = P_INVOKED_FAILED;
  }
  tm_free(text);
  tm_base_free(&scratch);
}

/* ---- the steps ---- */

static int after_history(run *r) {
  int rc;
  if (!(r->provider_tools = cJSON_CreateArray())) return oom(r->b);
  if ((rc = join_instructions(r, r->agent->instructions)) != TM_OK) return rc;
  return r->providers ? ask_invoking(r) : begin_rounds(r);
}

/* Takes the host's answer to the action handed out last and makes the next
 * one (or fails). `host_rc` is the host's result for that action. */
static int advance(run *r, int host_rc, const char *input) {
  tm_base *b = r->b;
  int rc;
  switch (r->phase) {
  case P_START:
    /* With a store too, the history is read from it in place. */
    return r->host_store && !r->store ? ask_history(r) : after_history(r);
  case P_STORE_LIST:
    if (host_rc) return host_fail(b, host_rc, "listing the host store's messages");
    if (!input) return no_answer(b, "store_list");
    if ((rc = got_history(r, input)) != TM_OK) return rc;
    return after_history(r);
  case P_INVOKING:
    if (host_rc) return host_fail(b, host_rc, "the context providers' invoking");
    /* From here on the providers expect to hear how the run ended. */
    r->tell_failure = true;
    if (!input) return no_answer(b, "invoking");
    if ((rc = got_contexts(r, input)) != TM_OK) return rc;
    return begin_rounds(r);
  case P_LLM:
    if (host_rc) return host_fail(b, host_rc, "the LLM request");
    if (!input) return no_answer(b, "llm");
    if ((rc = tm_chat_parse(b, input, &r->resp)) != TM_OK) return rc;
    return got_reply(r);
  case P_LLM_OPEN:
    if (host_rc) return host_fail(b, host_rc, "the LLM request");
    return act(r, P_LLM_NEXT, "llm_next", NULL, NULL);
  case P_LLM_NEXT:
    if (host_rc) return host_fail(b, host_rc, "reading the streamed reply");
    return got_chunk(r, input);
  case P_TOOLS:
    if (host_rc) return host_fail(b, host_rc, "running the tools");
    if (!input) return no_answer(b, "tools");
    return got_tools(r, input);
  case P_INVOKED:
    if (host_rc) {
      /* The providers have just heard of this failure themselves. */
      r->tell_failure = false;
      return host_fail(b, host_rc, "the context providers' invoked");
    }
    return commit(r);
  case P_STORE_ADD:
    if (host_rc) return host_fail(b, host_rc, "adding the turn to the host store");
    r->next = r->done;
    r->done = NULL;
    r->phase = P_OVER;
    return TM_OK;
  case P_INVOKED_FAILED:
    /* What the providers answer about a failure changes nothing. */
    r->phase = P_FAILED;
    return TM_OK;
  case P_FAILED:
  case P_OVER:
    break;
  }
  return tm_fail(b, TM_ESTATE, "the run is over");
}

/* ---- the public calls ---- */

int tm_run_start(tm_agent *agent, tm_store *store, const char *run_json, tm_run **out) {
  run *r;
  int rc;
  if (out) *out = NULL;
  if (!agent) return TM_EINVAL;
  tm_base_reset(&agent->base);
  if (!run_json || !out) return tm_fail(&agent->base, TM_EINVAL, "no run or no output pointer");
  if (!(r = tm_malloc(sizeof *r))) return oom(&agent->base);
  memset(r, 0, sizeof *r);
  r->agent = agent;
  r->b = &r->base;
  r->store = store;
  if ((rc = read_run(r, run_json)) != TM_OK) {
    tm_fail_from(&agent->base, r->b);
    run_release(r);
    tm_free(r);
    return rc;
  }
  *out = r;
  return TM_OK;
}

int tm_run_step(tm_run *r, int host_rc, const char *input, char **action) {
  if (action) *action = NULL;
  if (!r) return TM_EINVAL;
  if (!action) return tm_fail(r->b, TM_EINVAL, "no output pointer");
  if (r->emitting) {
    r->emitting = false; /* an update needs no answer */
  } else {
    if (r->phase == P_OVER || r->phase == P_FAILED)
      return tm_fail(r->b, TM_ESTATE, "the run is over");
    int rc = advance(r, host_rc, input);
    if (rc != TM_OK) failed(r, rc);
  }
  if (r->updates_out < r->n_updates) {
    *action = r->updates[r->updates_out];
    r->updates[r->updates_out++] = NULL;
    if (r->updates_out == r->n_updates) r->updates_out = r->n_updates = 0;
    r->emitting = true;
    return TM_OK;
  }
  if (r->next) {
    *action = r->next;
    r->next = NULL;
    return TM_OK;
  }
  /* Nothing left to ask: the run failed, and the error is on it. */
  r->phase = P_OVER;
  return r->failure;
}

void tm_run_free(tm_run *r) {
  if (!r) return;
  run_release(r);
  tm_free(r);
}
