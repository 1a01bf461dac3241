/*
 * The agent and its run loop (tm_agent_new, tm_agent_run; contract in
 * threadmem.h).
 *
 * A run is a transaction: everything it produces (the stamped input, the
 * assistant and tool messages of every round) is collected in one vector
 * and appended to the store in one call at the very end, so a failure at
 * any step leaves the thread exactly as it was.
 */
#include <stdio.h>
#include <string.h>

#include "chat.h"
#include "count.h"
#include "host.h"
#include "message.h"
#include "store.h"
#include "stream.h"
#include "window.h"

struct tm_agent {
  tm_base base;
  char *name;          /* author_name of the agent's messages; NULL: none */
  char *instructions;  /* NULL: none */
  cJSON *tools;        /* canonical tool definitions (chat.h) */
  cJSON *tool_choice;  /* NULL: "auto" */
  cJSON *options;      /* extra request fields; NULL: none */
  int max_rounds;
  bool windowed;       /* the history is fitted into `window` */
  tm_window_spec window;
};

/* ---- configuration ---- */

static void agent_release(tm_agent *a) {
  tm_free(a->name);
  tm_free(a->instructions);
  cJSON_Delete(a->tools);
  cJSON_Delete(a->tool_choice);
  cJSON_Delete(a->options);
  tm_base_free(&a->base);
  tm_free(a);
}

void tm_agent_free(tm_agent *agent) {
  if (agent) agent_release(agent);
}

static bool absent(const cJSON *v) { return !v || cJSON_IsNull(v); }

/* An optional string member copied into *out. */
static int opt_string(tm_base *b, const cJSON *obj, const char *key, char **out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (absent(v)) return TM_OK;
  if (!cJSON_IsString(v)) return tm_fail(b, TM_EFORMAT, "%s must be a string", key);
  *out = tm_strdup(v->valuestring);
  return *out ? TM_OK : tm_fail(b, TM_ENOMEM, "out of memory");
}

static int configure(tm_base *b, tm_agent *a, const cJSON *cfg) {
  int rc;
  if (!cJSON_IsObject(cfg)) return tm_fail(b, TM_EFORMAT, "agent config must be a JSON object");
  if ((rc = opt_string(b, cfg, "instructions", &a->instructions)) != TM_OK) return rc;
  if ((rc = opt_string(b, cfg, "name", &a->name)) != TM_OK) return rc;

  const cJSON *tools = cJSON_GetObjectItemCaseSensitive(cfg, "tools");
  if (!absent(tools) && (rc = tm_chat_tools_read(b, tools, "tools", a->tools)) != TM_OK)
    return rc;

  const cJSON *rounds = cJSON_GetObjectItemCaseSensitive(cfg, "max_tool_rounds");
  if (!absent(rounds)) {
    double d = cJSON_IsNumber(rounds) ? rounds->valuedouble : -1.5;
    if (!cJSON_IsNumber(rounds) || d != (double)(long long)d)
      return tm_fail(b, TM_EFORMAT, "max_tool_rounds must be an integer");
    if (d < 0 || d > TM_MAX_TOOL_ROUNDS)
      return tm_fail(b, TM_ERANGE, "max_tool_rounds must be between 0 and %d",
                     TM_MAX_TOOL_ROUNDS);
    a->max_rounds = (int)d;
  }

  const cJSON *choice = cJSON_GetObjectItemCaseSensitive(cfg, "tool_choice");
  if (!absent(choice)) {
    if (!cJSON_IsString(choice) && !cJSON_IsObject(choice))
      return tm_fail(b, TM_EFORMAT, "tool_choice must be a string or an object");
    if (!(a->tool_choice = cJSON_Duplicate(choice, 1))) return tm_fail(b, TM_ENOMEM, "oom");
  }

  const cJSON *window = cJSON_GetObjectItemCaseSensitive(cfg, "context_window");
  if (!absent(window)) {
    if ((rc = tm_window_spec_read(b, window, "context_window", &a->window)) != TM_OK) return rc;
    a->windowed = true;
  }

  const cJSON *options = cJSON_GetObjectItemCaseSensitive(cfg, "options");
  if (!absent(options)) {
    if (!cJSON_IsObject(options)) return tm_fail(b, TM_EFORMAT, "options must be an object");
    if (!(a->options = cJSON_Duplicate(options, 1))) return tm_fail(b, TM_ENOMEM, "oom");
  }
  return TM_OK;
}

tm_agent *tm_agent_new(tm_ctx *ctx, const char *config_json) {
  /* Every handle starts with its tm_base, so the context's error holder is
   * the start of the context. */
  tm_base scratch = {0};
  tm_base *eb = ctx ? (tm_base *)(void *)ctx : &scratch;
  tm_agent *a = NULL;
  cJSON *cfg = NULL;
  tm_install_json_hooks();
  tm_base_reset(eb);
  if (!config_json) {
    tm_fail(eb, TM_EINVAL, "no agent config");
    goto fail;
  }
  if (!(a = tm_malloc(sizeof *a))) {
    tm_fail(eb, TM_ENOMEM, "out of memory");
    goto fail;
  }
  memset(a, 0, sizeof *a);
  a->max_rounds = TM_DEFAULT_TOOL_ROUNDS;
  if (!(a->tools = cJSON_CreateArray())) {
    tm_fail(eb, TM_ENOMEM, "out of memory");
    goto fail;
  }
  if (tm_json_parse(eb, config_json, "agent config", &cfg) != TM_OK) goto fail;
  if (configure(eb, a, cfg) != TM_OK) goto fail;
  cJSON_Delete(cfg);
  tm_base_free(&scratch);
  return a;
fail:
  cJSON_Delete(cfg);
  if (a) agent_release(a);
  tm_base_free(&scratch);
  return NULL;
}

/* ---- one run ---- */

typedef struct run {
  tm_agent *agent;
  tm_base *b;
  uint32_t ctx;
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
  int64_t usage[3];
  char *response_id, *finish_reason, *conversation;
  char *text;
} run;

static void run_free(run *r) {
  cJSON_Delete(r->root);
  cJSON_Delete(r->run_tools);
  tm_msgvec_free(&r->turn);
  tm_msgvec_free(&r->history);
  tm_msgvec_free(&r->context);
  cJSON_Delete(r->provider_tools);
  cJSON_Delete(r->known);
  tm_free(r->instructions);
  tm_chat_response_free(&r->resp);
  tm_free(r->response_id);
  tm_free(r->finish_reason);
  tm_free(r->conversation);
  tm_free(r->text);
}

static int oom(tm_base *b) { return tm_fail(b, TM_ENOMEM, "out of memory"); }

/* A host import's failure: out of memory stays out of memory (the host
 * could not allocate the result), anything else is the host's. */
static int host_fail(tm_base *b, int rc, const char *what) {
  if (rc == TM_ENOMEM) return oom(b);
  return tm_fail(b, TM_EHOST, "%s failed in the host", what);
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
  if (r->store && r->host_store)
    return tm_fail(b, TM_EINVAL, "a run cannot use both an in-memory store and a host store");

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

static int load_history(run *r) {
  char *text = NULL;
  cJSON *arr = NULL;
  int rc;
  if (!r->host_store) return TM_OK;
  rc = tm_host_store_list(r->ctx, &text);
  if (rc) return host_fail(r->b, rc, "listing the host store's messages");
  rc = tm_json_parse(r->b, text, "host store messages", &arr);
  tm_free(text);
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

static int invoking(run *r) {
  cJSON *req = NULL, *arr = NULL;
  char *text = NULL, *answer = NULL;
  int rc;
  if (!(r->provider_tools = cJSON_CreateArray())) return oom(r->b);
  if ((rc = join_instructions(r, r->agent->instructions)) != TM_OK) return rc;
  if (!r->providers) return TM_OK;
  if (!(req = cJSON_CreateObject())) return oom(r->b);
  cJSON *msgs = message_refs(&r->turn, 0, r->n_input);
  if (!msgs || !cJSON_AddItemToObject(req, "messages", msgs)) {
    cJSON_Delete(msgs);
    rc = oom(r->b);
    goto done;
  }
  if ((rc = tm_json_print(r->b, req, &text)) != TM_OK) goto done;
  if ((rc = tm_host_invoking(r->ctx, text, &answer)) != TM_OK) {
    rc = host_fail(r->b, rc, "the context providers' invoking");
    goto done;
  }
  /* From here on the providers expect to hear how the run ended. */
  r->tell_failure = true;
  if ((rc = tm_json_parse(r->b, answer, "provider contexts", &arr)) != TM_OK) goto done;
  rc = read_contexts(r, arr);
done:
  cJSON_Delete(req);
  cJSON_Delete(arr);
  tm_free(text);
  tm_free(answer);
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
    cJSON *c = new_content(contents, "function_call");
    if (!c || !cJSON_AddStringToObject(c, "call_id", call->id) ||
        !cJSON_AddStringToObject(c, "name", call->name) ||
        !cJSON_AddStringToObject(c, "arguments", call->arguments))
      goto nomem;
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

/* Runs the round's tool calls: unknown tools answered here, the rest in one
 * host call, then one tool message with every result in call order. */
static int run_tools(run *r) {
  tm_base *b = r->b;
  cJSON *sent = cJSON_CreateArray(), *results = NULL, *msg = NULL, *contents;
  char *text = NULL, *answer = NULL, *err = NULL;
  int rc = TM_OK;
  if (!sent) return oom(b);
  for (size_t i = 0; i < r->resp.n_calls; i++) {
    const tm_chat_call *call = &r->resp.calls[i];
    if (!known_tool(r, call->name)) continue;
    cJSON *o = cJSON_CreateObject(), *args = NULL;
    if (!o || !cJSON_AddItemToArray(sent, o)) {
      cJSON_Delete(o);
      goto nomem;
    }
    if (!cJSON_AddStringToObject(o, "call_id", call->id) ||
        !cJSON_AddStringToObject(o, "name", call->name))
      goto nomem;
    /* Parsed, so the host's tools receive the arguments as JSON values. */
    if ((rc = tm_json_parse(b, call->arguments, "tool call arguments", &args)) != TM_OK) goto fail;
    if (!cJSON_AddItemToObject(o, "arguments", args)) {
      cJSON_Delete(args);
      goto nomem;
    }
  }
  if (cJSON_GetArraySize(sent) > 0) {
    if ((rc = tm_json_print(b, sent, &text)) != TM_OK) goto fail;
    if ((rc = tm_host_tools(r->ctx, text, &answer)) != TM_OK) {
      rc = host_fail(b, rc, "running the tools");
      goto fail;
    }
    if ((rc = tm_json_parse(b, answer, "tool results", &results)) != TM_OK) goto fail;
    if ((rc = check_results(b, results, sent)) != TM_OK) goto fail;
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
  cJSON_Delete(sent);
  cJSON_Delete(results);
  tm_free(text);
  tm_free(answer);
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

/* Hands `event` (taken) to the host. */
static int emit(run *r, cJSON *event) {
  char *text = NULL;
  int rc = event ? tm_json_print(r->b, event, &text) : oom(r->b);
  cJSON_Delete(event);
  if (rc) return rc;
  tm_host_emit(r->ctx, text);
  tm_free(text);
  return TM_OK;
}

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

/* Sends one request and reads a streamed reply into r->resp, handing each
 * piece of text to the host as it arrives. */
static int ask_streamed(run *r, const char *request) {
  tm_stream s;
  int rc;
  memset(&s, 0, sizeof s);
  if ((rc = tm_host_llm_open(r->ctx, request)) != TM_OK) return host_fail(r->b, rc, "the LLM request");
  for (;;) {
    char *chunk = NULL;
    const char *delta;
    size_t n;
    if ((rc = tm_host_llm_next(r->ctx, &chunk)) != TM_OK) {
      rc = host_fail(r->b, rc, "reading the streamed reply");
      goto done;
    }
    if (!chunk) break;
    rc = tm_stream_feed(r->b, &s, chunk, &delta, &n);
    tm_free(chunk);
    if (rc) goto done;
    if (n && (rc = emit(r, event_of("text_delta", "text", delta, NULL, NULL, NULL, NULL))))
      goto done;
  }
  rc = tm_stream_finish(r->b, &s, &r->resp);
done:
  tm_stream_free(&s);
  return rc;
}

/* Sends one request and reads its reply into r->resp. */
static int ask(run *r, const char *request) {
  char *answer = NULL;
  int rc;
  tm_chat_response_free(&r->resp);
  if (r->stream) return ask_streamed(r, request);
  if ((rc = tm_host_llm(r->ctx, request, &answer)) != TM_OK) return host_fail(r->b, rc, "the LLM request");
  rc = tm_chat_parse(r->b, answer, &r->resp);
  tm_free(answer);
  return rc;
}

static int loop(run *r) {
  tm_base *b = r->b;
  int rounds = 0, rc;
  tm_chat_request q;
  if (r->agent->windowed && (rc = count_fixed(r)) != TM_OK) return rc;
  if ((rc = make_request(r, &q)) != TM_OK) return rc;
  if ((rc = tm_chat_tools_merged(b, &q, &r->known)) != TM_OK) return rc;
  for (;;) {
    cJSON *body = NULL;
    char *text = NULL;
    if ((rc = make_request(r, &q)) != TM_OK) return rc;
    if ((rc = tm_chat_build(b, &q, &body)) != TM_OK) return rc;
    rc = tm_json_print(b, body, &text);
    cJSON_Delete(body);
    if (rc) return rc;
    rc = ask(r, text);
    tm_free(text);
    if (rc) return rc;

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
      return push_text_message(r, r->text[0] ? r->text : NULL, false);
    }
    if (rounds >= r->agent->max_rounds)
      return tm_fail(b, TM_EROUNDS, "model still calling tools after %d rounds", rounds);
    if (r->stream && (rc = emit_calls(r)) != TM_OK) return rc;
    if ((rc = push_text_message(r, r->resp.content, true)) != TM_OK) return rc;
    if ((rc = run_tools(r)) != TM_OK) return rc;
    if (r->stream && (rc = emit_results(r)) != TM_OK) return rc;
    rounds++;
  }
}

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

static int invoked(run *r) {
  char *text = NULL;
  int rc;
  if (!r->providers) return TM_OK;
  if ((rc = invoked_payload(r, r->b, NULL, &text)) != TM_OK) return rc;
  rc = tm_host_invoked(r->ctx, text);
  tm_free(text);
  if (rc) {
    /* The providers have just heard of this failure themselves. */
    r->tell_failure = false;
    return host_fail(r->b, rc, "the context providers' invoked");
  }
  return TM_OK;
}

/* Tells the providers the run failed; what they answer changes nothing. */
static void invoked_failed(run *r) {
  tm_base scratch = {0};
  char *text = NULL;
  if (invoked_payload(r, &scratch, r->b, &text) == TM_OK) (void)tm_host_invoked(r->ctx, text);
  tm_free(text);
  tm_base_free(&scratch);
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
    /* What the last request sent of the history, for a window view. */
    const tm_window *w = &r->window;
    size_t len = r->store ? tm_store_len(r->store) : r->history.len;
    size_t sent = w->lead + (w->end - w->start);
    cJSON *wo = cJSON_AddObjectToObject(o, "window");
    if (!wo || !cJSON_AddNumberToObject(wo, "tokens", (double)w->tokens) ||
        !cJSON_AddNumberToObject(wo, "history_sent", (double)sent) ||
        !cJSON_AddNumberToObject(wo, "history_dropped", (double)(len - sent)))
      goto nomem;
  }
  rc = tm_json_print(r->b, o, out);
  cJSON_Delete(o);
  return rc;
nomem:
  cJSON_Delete(o);
  return oom(r->b);
}

static int commit(run *r) {
  int rc = TM_OK;
  if (r->store) return tm_store_append(r->store, r->b, &r->turn);
  if (r->host_store) {
    char *text = NULL;
    cJSON *arr = message_refs(&r->turn, 0, r->turn.len);
    if (!arr) return oom(r->b);
    rc = tm_json_print(r->b, arr, &text);
    cJSON_Delete(arr);
    if (rc) return rc;
    rc = tm_host_store_add(r->ctx, text);
    tm_free(text);
    if (rc) return host_fail(r->b, rc, "adding the turn to the host store");
  }
  return rc;
}

int tm_agent_run(tm_agent *agent, tm_store *store, uint32_t host_ctx, const char *run_json,
                 char **out) {
  run r;
  char *result = NULL;
  int rc;
  if (out) *out = NULL;
  if (!agent) return TM_EINVAL;
  tm_base_reset(&agent->base);
  if (!run_json || !out) return tm_fail(&agent->base, TM_EINVAL, "no run or no output pointer");
  memset(&r, 0, sizeof r);
  r.agent = agent;
  r.b = &agent->base;
  r.ctx = host_ctx;
  r.store = store;

  if ((rc = read_run(&r, run_json)) != TM_OK) goto fail;
  if ((rc = load_history(&r)) != TM_OK) goto fail;
  if ((rc = invoking(&r)) != TM_OK) goto fail;
  if ((rc = loop(&r)) != TM_OK) goto fail;
  if ((rc = invoked(&r)) != TM_OK) goto fail;
  /* The result is made before the commit, which gives the messages away. */
  if ((rc = result_json(&r, &result)) != TM_OK) goto fail;
  if ((rc = commit(&r)) != TM_OK) goto fail;
  run_free(&r);
  *out = result;
  return TM_OK;
fail:
  if (r.tell_failure) invoked_failed(&r);
  tm_free(result);
  run_free(&r);
  return rc;
}
