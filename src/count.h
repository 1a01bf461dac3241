/*
 * OpenAI's chat counting rule: the tokens a message costs in a
 * chat-completions request.
 *
 * A message costs TM_TOKENS_PER_MESSAGE, plus the tokens of every string it
 * becomes on the wire (role, content, name, tool_call_id, each tool call's
 * id, type, function name and arguments), plus TM_TOKENS_PER_NAME when it
 * carries a name; a message that becomes several wire messages (one tool
 * message per function result) costs each of them. A request adds
 * TM_TOKENS_REPLY_PRIMING for the reply's start.
 */
#ifndef THREADMEM_COUNT_H
#define THREADMEM_COUNT_H

#include <stddef.h>

#include "message.h"

#define TM_TOKENS_PER_MESSAGE 3
#define TM_TOKENS_PER_NAME 1
#define TM_TOKENS_REPLY_PRIMING 3

/* The tokens message `m` costs with encoding `enc`. Cached on the message
 * (m->tokens[enc]) after the first count, so later calls are O(1); `m` is
 * not const for that reason only. Fails as tm_token_count does. */
int tm_message_tokens(tm_base *b, tm_message *m, int enc, size_t *out);

#endif /* THREADMEM_COUNT_H */
