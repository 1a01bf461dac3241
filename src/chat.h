/*
 * The chat-completions protocol: building the request body that the host
 * sends to an OpenAI-compatible endpoint, and reading its response.
 *
 * Only the core talks this protocol; the host moves bytes. Keeping both
 * directions here means the JS layer never re-implements the mapping between
 * our canonical messages (message.h) and OpenAI's.
 */
#ifndef THREADMEM_CHAT_H
#define THREADMEM_CHAT_H

#include <stdint.h>

#include "message.h"

/* A read-only view of a sequence of messages, whatever holds them (a msgvec,
 * the native store), so the request builder needs no copy of the history. */
typedef struct tm_msglist {
  const void *src;
  size_t off, len; /* the view is src's messages [off, off + len) */
  const tm_message *(*at)(const void *src, size_t i);
} tm_msglist;

/* Message i of the view (i < l->len). */
static inline const tm_message *tm_msglist_get(const tm_msglist *l, size_t i) {
  return l->at(l->src, l->off + i);
}

/* Views of a vector (the range [from, from+len) of it) and of a store. The
 * vector must not grow while the view is used. */
tm_msglist tm_msglist_vec(const tm_msgvec *v, size_t from, size_t len);
tm_msglist tm_msglist_store(const tm_store *s);
/* The part [from, from+len) of a view (within it). */
tm_msglist tm_msglist_sub(const tm_msglist *l, size_t from, size_t len);

/* Checks a tool definition {"name","description","parameters"} (name matching
 * ^[A-Za-z0-9_-]{1,64}$, description a string, parameters an object; other
 * keys ignored) and appends its canonical copy to `out` (a JSON array).
 * `path` names it in errors ("tools[2]"). TM_EFORMAT on a bad shape. */
int tm_chat_tool_read(tm_base *b, const cJSON *tool, const char *path, cJSON *out);

/* Checks a JSON array of tool definitions and appends them to `out`, all or
 * nothing. */
int tm_chat_tools_read(tm_base *b, const cJSON *tools, const char *path, cJSON *out);

/* True when `name` may be sent as an OpenAI "name" (tool or author):
 * ^[A-Za-z0-9_-]{1,64}$. */
bool tm_chat_name_ok(const char *name);

/* Everything one request is made of. Every part may be empty or NULL. */
#define TM_CHAT_SEGMENTS 5
#define TM_CHAT_TOOL_LISTS 3
typedef struct tm_chat_request {
  /* Joined system instructions; NULL or "" sends no system message. */
  const char *instructions;
  /* Message sequences sent in order after the instructions: provider
   * context, the history's leading system messages, the rest of the
   * history (or its window), the new input, the turn's rounds so far. */
  tm_msglist segments[TM_CHAT_SEGMENTS];
  /* Canonical tool arrays (see tm_chat_tool_read): deduplicated by name,
   * the first wins, at most TM_MAX_TOOLS in all. */
  const cJSON *tools[TM_CHAT_TOOL_LISTS];
  /* "auto" when NULL; sent only when there are tools. */
  const cJSON *tool_choice;
  /* Extra top-level fields (model, temperature); later objects override
   * earlier ones; they never replace "messages" or "tools". */
  const cJSON *options[2];
  /* Sent as "conversation" when not NULL. */
  const char *service_thread_id;
  /* Asks for a streamed reply: "stream":true with
   * "stream_options":{"include_usage":true}. When false, any "stream" or
   * "stream_options" given in options is dropped: the reply is parsed as
   * one body. */
  bool stream;
} tm_chat_request;

/* Builds the request body into a new cJSON object (*out, freed by the
 * caller with cJSON_Delete). */
int tm_chat_build(tm_base *b, const tm_chat_request *req, cJSON **out);

/* The tools of a request after deduplication, as a new cJSON array of the
 * canonical definitions (copies), in the order they are offered. */
int tm_chat_tools_merged(tm_base *b, const tm_chat_request *req, cJSON **out);

/* Appends the OpenAI messages for one canonical message to `out` (0, 1 or
 * more: function results become "tool" messages of their own). */
int tm_chat_map_message(tm_base *b, const tm_message *m, cJSON *out);

/* One tool call asked for by the model. */
typedef struct tm_chat_call {
  char *id;
  char *name;
  char *arguments; /* the JSON text as the model sent it; "" becomes "{}" */
  cJSON *extra;    /* the call's "extra_content" object (Gemini's thought
                      signature), which must go back with the call; or NULL */
} tm_chat_call;

/* What a response says. Owned strings; NULL when absent. */
typedef struct tm_chat_response {
  char *content;         /* the text, or NULL when the model sent null */
  tm_chat_call *calls;   /* n_calls entries */
  size_t n_calls;
  char *finish_reason;
  char *id;
  char *conversation;    /* a new service thread id */
  int64_t prompt_tokens, completion_tokens, total_tokens;
} tm_chat_response;

/* Parses a chat-completions response body. TM_EPARSE when it is not JSON;
 * TM_ERESPONSE when it is unusable (an "error" object, no choices, no
 * message, tool calls without id or name or with arguments that are not
 * JSON). On failure *out is left zeroed. */
int tm_chat_parse(tm_base *b, const char *body, tm_chat_response *out);

/* The same for a response already parsed (`root` is only read). */
int tm_chat_read(tm_base *b, const cJSON *root, tm_chat_response *out);

/* The text of a message's "content": a string, or the text of an array of
 * parts (a string part, or a part's "text"; other parts, such as thinking,
 * are skipped). *out stays NULL for anything else (null, absent). */
int tm_chat_content_text(tm_base *b, const cJSON *content, char **out);

/* Frees what tm_chat_parse filled in and zeroes it. */
void tm_chat_response_free(tm_chat_response *r);

#endif /* THREADMEM_CHAT_H */
