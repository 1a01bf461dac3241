/*
 * The word splitter of the memory search (BM25 terms). Not the BPE: words
 * are maximal runs of letters, combining marks and digits of any script,
 * case-folded (Unicode simple folding), so "Café", "CAFÉ" and "café" are one
 * term. Han ideographs, kana and other scripts written without spaces would
 * make a whole sentence one word; each of their characters is a word of its
 * own instead (unigrams), which is what a simple search engine does for them.
 */
#ifndef THREADMEM_WORDS_H
#define THREADMEM_WORDS_H

#include <stddef.h>
#include <stdint.h>

/* Longest word kept, in characters: the rest of a longer run is cut off
 * (it is one word still, compared on its first TM_MAX_WORD_CHARS). */
#define TM_MAX_WORD_CHARS 64
/* Room for one folded word (4 bytes per character) and its NUL. */
#define TM_WORD_BUF (TM_MAX_WORD_CHARS * 4 + 1)

/* Called with each folded word (NUL-terminated, `len` bytes) in order; a
 * non-zero return stops the walk and is returned by tm_words. */
typedef int (*tm_word_fn)(void *user, const char *word, size_t len);

/* Walks the words of `len` bytes of valid UTF-8. Returns 0, or what `fn`
 * returned to stop. */
int tm_words(const char *text, size_t len, tm_word_fn fn, void *user);

#endif /* THREADMEM_WORDS_H */
