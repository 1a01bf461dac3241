/*
 * OpenAI's chat counting rule: the tokens a message costs in a
 * chat-completions request.
 *
 * A message costs TM_TOKENS_PER_MESSAGE, plus the tokens of every string it
 * becomes on the wire (role, content, name, tool_call_id, each tool call's
 * id, type, function name and arguments), plus TM_TOKENS_PER_NAME when it
 * carries a name; a message that becomes several wire messages (one tool
 * message per function result) costs each of them. A request adds
 * TM_TOKENS_REPLY_PRIMING for the reply's start. Keys cost nothing; an image
 * part costs TM_TOKENS_PER_IMAGE whatever its URL.
 */
#ifndef THREADMEM_COUNT_H
#define THREADMEM_COUNT_H

#include <stddef.h>

#include "message.h"

#define TM_TOKENS_PER_MESSAGE 3
#define TM_TOKENS_PER_NAME 1
#define TM_TOKENS_REPLY_PRIMING 3
/* An image part, counted at OpenAI's low-detail price. */
#define TM_TOKENS_PER_IMAGE 85

/* The tokens message `m` costs with encoding `enc` (TM_ENC_HOST: the host's
 * counter). A TM_ENC_* count is cached on the message (m->tokens) after the
 * first call, so later calls are O(1): the cache is the only thing written,
 * which is why `m` may be const. Fails as tm_token_count does. */
int tm_message_tokens(tm_base *b, const tm_message *m, int enc, size_t *out);

#endif /* THREADMEM_COUNT_H */
