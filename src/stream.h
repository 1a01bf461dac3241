/*
 * Streamed chat-completions replies: the accumulator that turns the chunks
 * of a server-sent-events reply ("data: {...}" lines, split by the host)
 * into the same tm_chat_response a non-streamed reply parses into.
 *
 * The host only splits the event stream into chunks and stops at
 * "data: [DONE]"; every rule about what a chunk means lives here: content
 * and tool-call fragments are accumulated by choice and call index, usage,
 * id and finish reason are kept, and a reply that ends before the model
 * said why it finished is refused.
 */
#ifndef THREADMEM_STREAM_H
#define THREADMEM_STREAM_H

#include "chat.h"

/* One tool call being assembled from its fragments. */
typedef struct tm_stream_call {
  tm_sbuf id, name, arguments;
  cJSON *extra; /* the first "extra_content" object of its fragments, or NULL */
} tm_stream_call;

/* The state of one streamed reply. Zero it (or tm_stream_free it) before the
 * first chunk; fields are private to stream.c. */
typedef struct tm_stream {
  tm_sbuf content;
  tm_stream_call *calls; /* n_calls entries, by index; cap allocated */
  size_t n_calls, cap;
  char *finish_reason, *id, *conversation;
  int64_t prompt_tokens, completion_tokens, total_tokens;
  bool has_usage;
  size_t chunks;
} tm_stream;

/* Feeds one chunk (the JSON text of one "data:" event). On success *delta
 * points at the text this chunk added to the reply's content and *delta_len
 * is its length (0 when it added none); the pointer is borrowed, valid
 * until the next call on `s`, and NUL-terminated. TM_ERESPONSE when the
 * chunk is not JSON, is an error object, or has the wrong shape (a tool-call
 * index out of range or missing where it is needed, a call that changes its
 * id or name); TM_ERANGE past TM_MAX_MESSAGE_BYTES of content or arguments;
 * TM_ENOMEM. After a failure only tm_stream_free may be called on `s`. */
int tm_stream_feed(tm_base *b, tm_stream *s, const char *chunk, const char **delta,
                   size_t *delta_len);

/* Ends the reply and fills *out exactly as tm_chat_parse would for the
 * equivalent non-streamed response (an empty content is no content; calls
 * are checked the same way). TM_ERESPONSE when no chunk gave a
 * finish_reason: the stream was cut before the model finished. *out is
 * left zeroed on failure. `s` is left as it was; free it after. */
int tm_stream_finish(tm_base *b, const tm_stream *s, tm_chat_response *out);

/* Frees what the stream holds and zeroes it, ready for another reply. */
void tm_stream_free(tm_stream *s);

#endif /* THREADMEM_STREAM_H */
