/*
 * The message model: roles, contents and the canonical JSON form of a
 * message, shared by the store, serialization and the chat request builder.
 *
 * A message is held as a cJSON tree in canonical form (Agent Framework's
 * serialized chat_message, nulls omitted):
 *   {"type":"chat_message","role":{"type":"role","value":"assistant"},
 *    "contents":[{"type":"text","text":"Hi"},
 *                {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
 *                {"type":"function_result","call_id":"c1","result":...},
 *                {"type":"data","uri":"data:...","media_type":"image/png"},
 *                {"type":"uri","uri":"https://...","media_type":"image/png"},
 *                {"type":"text_reasoning","text":"..."}],
 *    "author_name":"...","message_id":"...","created_at":"2026-01-01T00:00:00.000Z",
 *    "additional_properties":{...}}
 * Content-level extras live in the content's own "additional_properties".
 */
#ifndef THREADMEM_MESSAGE_H
#define THREADMEM_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

typedef enum tm_role { TM_ROLE_SYSTEM, TM_ROLE_USER, TM_ROLE_ASSISTANT, TM_ROLE_TOOL } tm_role;

/* "system", "user", "assistant", "tool". */
const char *tm_role_name(tm_role role);
/* Parses a role name; false when unknown. */
bool tm_role_parse(const char *name, tm_role *out);

/* One message as the core holds it. `json` is canonical and owned; it never
 * changes once the message is in a store, so its token counts are cached
 * (count.h): tokens[enc] is the count plus one, 0 until counted, so that a
 * zeroed message is simply uncounted. */
typedef struct tm_message {
  cJSON *json;
  tm_role role;
  uint32_t tokens[TM_ENC_COUNT];
} tm_message;

/* A growable array of messages (amortized O(1) append). */
typedef struct tm_msgvec {
  tm_message *items;
  size_t len, cap;
} tm_msgvec;

/* Makes sure `v` can hold `extra` more messages without allocating. */
int tm_msgvec_reserve(tm_base *b, tm_msgvec *v, size_t extra);
/* Appends `m` (taking ownership of m.json); room must have been reserved. */
void tm_msgvec_push(tm_msgvec *v, tm_message m);
/* Frees every message and the array; leaves `v` empty and reusable. */
void tm_msgvec_free(tm_msgvec *v);

/* Reads one message given leniently (role as string or tagged object,
 * missing "type", "text" or a string "contents" instead of a contents array,
 * every-null form, unknown message keys kept in additional_properties) and
 * makes its canonical form. `path` names it in errors ("messages[3]").
 * Fails with TM_EFORMAT (shape), TM_ERANGE (size limits) or TM_ENOMEM. */
int tm_message_read(tm_base *b, const cJSON *in, const char *path, tm_message *out);

/* Reads a JSON array of messages into `out` (appended), all or nothing. */
int tm_messages_read(tm_base *b, const cJSON *array, const char *path, tm_msgvec *out);

/* Creates a canonical message with one text content (text may be NULL for
 * no content). */
int tm_message_new_text(tm_base *b, tm_role role, const char *text, tm_message *out);

/* Frees the message's JSON. */
void tm_message_free(tm_message *m);

/* Deep copy. */
int tm_message_copy(tm_base *b, const tm_message *m, tm_message *out);

/* Gives a message without message_id a new id and one without created_at the
 * host clock's time (ISO 8601, UTC, milliseconds). */
int tm_message_stamp(tm_base *b, tm_message *m);

/* A stamp made ahead of time, so that a store can stamp many messages all
 * or nothing: prepare every stamp (may fail), then apply them (cannot). */
typedef struct tm_stamp {
  cJSON *id, *created_at; /* NULL when the message already has one */
} tm_stamp;
int tm_stamp_prepare(tm_base *b, const tm_message *m, tm_stamp *out);
/* Puts the stamp's fields in their canonical places in m; the stamp is
 * consumed (left empty). */
void tm_stamp_apply(tm_message *m, tm_stamp *s);
void tm_stamp_discard(tm_stamp *s);

/* The message's contents array (never NULL for a canonical message). */
const cJSON *tm_message_contents(const tm_message *m);

/* True when `m` is an assistant message that calls functions: the head of
 * the unit its tool messages belong to (windows and eviction keep or drop
 * them together). */
bool tm_message_calls(const tm_message *m);

/* Joins the message's text contents (no separator, as Agent Framework's
 * .text does) into a tm_malloc'd string. */
int tm_message_text(tm_base *b, const tm_message *m, char **out);

/* New UUID v4 text from the host's randomness into `dst` (37 bytes). */
void tm_uuid(char dst[37]);
/* The host clock as ISO 8601 UTC with milliseconds into `dst` (25 bytes). */
void tm_now_iso(char dst[25]);
/* Milliseconds since the epoch as ISO 8601 UTC (clamped to years 0 to
 * 9999) into `dst` (25 bytes). */
void tm_iso_from_ms(double ms, char dst[25]);

#endif /* THREADMEM_MESSAGE_H */
