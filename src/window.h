/*
 * The context window: which messages of a history are sent to the model
 * under a token budget (DESIGN.md section 4).
 *
 * The rules, in order:
 *  - the history's leading system messages are always sent, with whatever
 *    else the caller sends besides the history (instructions, provider
 *    context, the new input: `fixed` tokens); if they alone do not fit, the
 *    window fails with TM_EWINDOW;
 *  - strategy "last" sends the newest history that fits, "first" the
 *    oldest, each a contiguous run of whole units: an assistant message with
 *    function calls and the tool messages that follow it are one unit, kept
 *    or dropped together; a unit that cannot be sent (a tool result without
 *    its call, a call without all its results) never is, and ends the run;
 *  - "last" never starts mid-turn: once anything older was dropped, the
 *    window starts at a user message (unless the history has none);
 *  - with keep_last_turn (a plain list, where the newest turn is part of the
 *    history) the last user message and everything after it must fit, or the
 *    window fails with TM_EWINDOW rather than sending less (TM_ESTATE when
 *    that turn holds a unit that cannot be sent).
 *
 * Cost: the counts are cached on the messages (count.h), so after the first
 * window a turn costs O(messages in the window), whatever the history's
 * length.
 */
#ifndef THREADMEM_WINDOW_H
#define THREADMEM_WINDOW_H

#include <stdbool.h>
#include <stddef.h>

#include "chat.h"

typedef enum tm_window_strategy { TM_KEEP_LAST, TM_KEEP_FIRST } tm_window_strategy;

/* What the caller asks for. */
typedef struct tm_window_spec {
  int enc;               /* TM_ENC_* or TM_ENC_HOST */
  size_t max_tokens;     /* the model's context length */
  size_t reserve_tokens; /* kept free for the reply (and tool definitions) */
  tm_window_strategy strategy;
} tm_window_spec;

/* What is sent: the history's messages [0, lead) and [start, end). */
typedef struct tm_window {
  size_t lead; /* leading system messages */
  size_t start, end;
  size_t tokens; /* the whole request: fixed, lead, [start, end), reply priming */
} tm_window;

/* Reads {"max_tokens":n, "reserve_tokens":n, "encoding":"o200k_base",
 * "strategy":"last"|"first"} (reserve_tokens, encoding and strategy
 * optional: 0, o200k_base, last). The encoding "host" is the host's
 * counter. `path` names the object in errors. TM_EFORMAT on a bad shape,
 * TM_EENCODING on an unknown encoding, TM_EWINDOW when reserve_tokens leaves
 * no room. */
int tm_window_spec_read(tm_base *b, const cJSON *obj, const char *path, tm_window_spec *out);

/* The same from JSON text (NULL reads as no text), named "window" in
 * errors. */
int tm_window_spec_parse(tm_base *b, const char *spec_json, tm_window_spec *out);

/* Fits history `h` into the window of `spec`, `fixed` tokens being sent
 * besides it. Counts (and caches) the tokens of the messages it looks at.
 * Fails with TM_EWINDOW (what must be sent does not fit), or as counting
 * does (TM_EENCODING, TM_EHOST, TM_ENOMEM). */
int tm_window_fit(tm_base *b, const tm_msglist *h, size_t fixed, bool keep_last_turn,
                  const tm_window_spec *spec, tm_window *out);

#endif /* THREADMEM_WINDOW_H */
