/*
 * Token counting inside the core: what the window, the chat counting rule
 * and store eviction use. The public face (tm_encode, tm_decode, tm_count,
 * tm_encoding_load) is in threadmem.h; this is the cheap internal path that
 * works on a tm_base and never copies its input.
 *
 * Encodings are identified by the TM_ENC_* numbers of threadmem.h. A BPE
 * encoding counts only once its vocabulary has been loaded
 * (tm_encoding_load); TM_ENC_ESTIMATE needs no vocabulary.
 */
#ifndef THREADMEM_TOKENIZER_H
#define THREADMEM_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>

#include "core.h"

/* True when `enc` is a known encoding whose data is ready to count. */
bool tm_encoding_ready(int enc);

/* Counts the tokens of the `len` bytes at `text` (UTF-8; invalid sequences
 * are counted as U+FFFD, as TextDecoder reads them) with encoding `enc`, no
 * special tokens recognised. Fails with TM_EENCODING when `enc` is unknown
 * or its vocabulary is not loaded, TM_ENOMEM when scratch space cannot be
 * had; the error is on `b`. */
int tm_token_count(tm_base *b, int enc, const char *text, size_t len, size_t *out);

/* Frees every loaded vocabulary, so that tests can prove loading leaks
 * nothing and exercise it again. Not for use while another call runs. */
void tm_encodings_unload(void);

#endif /* THREADMEM_TOKENIZER_H */
