/*
 * The pre-tokenizer: splits text into the pieces that byte-pair merging then
 * works on, exactly as each encoding's regular expression does (as run by
 * js-tiktoken: JavaScript's \s, Unicode general categories from the table
 * that scripts/gen-unicode.mjs generates).
 */
#ifndef THREADMEM_PRETOKENIZE_H
#define THREADMEM_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

/* The two pattern families. */
enum {
  TM_PRETOK_O200K = 0, /* o200k_base: case-aware letter runs, contractions as suffixes */
  TM_PRETOK_CL100K = 1 /* cl100k_base: letter runs, contractions as their own pieces */
};

/* The end of the piece that starts at `pos` (< len) in the `len` bytes at
 * `s`, which must be valid UTF-8. The text ends at `len` for the pattern's
 * lookahead, as if nothing followed. Always returns a value in
 * (pos, len]. */
size_t tm_pretok_next(int style, const uint8_t *s, size_t len, size_t pos);

/* 1 when `cp` is a letter, a combining mark or a digit (\p{L}, \p{M},
 * \p{N}) in the same table, else 0: the word characters of words.h. */
int tm_pretok_is_word(uint32_t cp);
/* 1 when `cp` is a combining mark (\p{M}), else 0. */
int tm_pretok_is_mark(uint32_t cp);

/* The Unicode version of the class table, such as "15.0.0". */
const char *tm_pretok_unicode_version(void);

#endif /* THREADMEM_PRETOKENIZE_H */
