/*
 * The in-memory chat message store (tm_store of threadmem.h), seen from the
 * inside: the calls the agent's run loop and serialization make on it.
 */
#ifndef THREADMEM_STORE_H
#define THREADMEM_STORE_H

#include <stddef.h>

#include "message.h"

/* Appends msgs to the store all or nothing, stamping missing message_id and
 * created_at (tm_message_stamp). On success the store takes ownership of
 * every message's json and msgs is left empty (len 0; its array stays with
 * the caller, who still frees it with tm_msgvec_free); on failure msgs is
 * untouched and the error is on `err`. Applies max_messages FIFO eviction
 * (when msgs alone holds more than max_messages, only its newest are kept).
 * TM_ERANGE when the store would pass TM_MAX_MESSAGES. O(msgs->len)
 * amortized. */
int tm_store_append(tm_store *s, tm_base *err, tm_msgvec *msgs);

/* Replaces every message of the store with msgs, under the same rules and
 * ownership as tm_store_append; on failure the store and msgs are
 * untouched. */
int tm_store_replace(tm_store *s, tm_base *err, tm_msgvec *msgs);

/* Number of messages and the i-th (0 = oldest), borrowed until the next
 * change of the store. tm_store_at returns NULL when i >= the length. */
size_t tm_store_len(const tm_store *s);
const tm_message *tm_store_at(const tm_store *s, size_t i);

/* The store's error holder (the same as the handle's). */
tm_base *tm_store_base(tm_store *s);

#endif /* THREADMEM_STORE_H */
