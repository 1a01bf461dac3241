/*
 * Word splitting and case folding for the memory search (see words.h).
 */
#include "words.h"

#include "pretokenize.h"
#include "tm_casefold_table.h"

/* Decodes the character at s[pos] (valid UTF-8) and sets *next. */
static uint32_t decode(const uint8_t *s, size_t pos, size_t *next) {
  uint32_t c = s[pos];
  if (c < 0x80) {
    *next = pos + 1;
    return c;
  }
  if (c < 0xE0) {
    *next = pos + 2;
    return ((c & 0x1Fu) << 6) | (s[pos + 1] & 0x3Fu);
  }
  if (c < 0xF0) {
    *next = pos + 3;
    return ((c & 0x0Fu) << 12) | ((s[pos + 1] & 0x3Fu) << 6) | (s[pos + 2] & 0x3Fu);
  }
  *next = pos + 4;
  return ((c & 0x07u) << 18) | ((s[pos + 1] & 0x3Fu) << 12) | ((s[pos + 2] & 0x3Fu) << 6) |
         (s[pos + 3] & 0x3Fu);
}

static size_t encode(uint32_t cp, char *dst) {
  if (cp < 0x80) {
    dst[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    dst[0] = (char)(0xC0 | (cp >> 6));
    dst[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    dst[0] = (char)(0xE0 | (cp >> 12));
    dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  dst[0] = (char)(0xF0 | (cp >> 18));
  dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  dst[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static uint32_t fold(uint32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  size_t lo = 0, hi = TM_CASEFOLD_COUNT;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (tm_casefold_from[mid] < cp) lo = mid + 1;
    else hi = mid;
  }
  return lo < TM_CASEFOLD_COUNT && tm_casefold_from[lo] == cp ? tm_casefold_to[lo] : cp;
}

/* Scripts written without spaces between words: each character is a word. */
static int unspaced(uint32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) ||   /* Hiragana, Katakana */
         (cp >= 0x3400 && cp <= 0x4DBF) ||   /* CJK Extension A */
         (cp >= 0x4E00 && cp <= 0x9FFF) ||   /* CJK Unified Ideographs */
         (cp >= 0xF900 && cp <= 0xFAFF) ||   /* CJK Compatibility Ideographs */
         (cp >= 0x0E00 && cp <= 0x0EFF) ||   /* Thai, Lao */
         (cp >= 0x1000 && cp <= 0x109F) ||   /* Myanmar */
         (cp >= 0x1780 && cp <= 0x17FF) ||   /* Khmer */
         (cp >= 0x20000 && cp <= 0x3FFFF);   /* CJK Extensions B and later */
}

int tm_words(const char *text, size_t len, tm_word_fn fn, void *user) {
  const uint8_t *s = (const uint8_t *)text;
  char word[TM_WORD_BUF];
  size_t pos = 0;
  while (pos < len) {
    size_t next;
    uint32_t cp = decode(s, pos, &next);
    if (!tm_pretok_is_word(cp)) {
      pos = next;
      continue;
    }
    size_t n = 0, chars = 0;
    if (unspaced(cp)) {
      n = encode(fold(cp), word);
      pos = next;
      /* A combining mark belongs to the character before it. */
      while (pos < len) {
        uint32_t m = decode(s, pos, &next);
        if (!tm_pretok_is_mark(m)) break;
        if (n + 4 < TM_WORD_BUF) n += encode(m, word + n);
        pos = next;
      }
    } else {
      while (pos < len) {
        cp = decode(s, pos, &next);
        if (!tm_pretok_is_word(cp) || unspaced(cp)) break;
        if (chars < TM_MAX_WORD_CHARS) {
          n += encode(fold(cp), word + n);
          chars++;
        }
        pos = next;
      }
    }
    word[n] = '\0';
    int rc = fn(user, word, n);
    if (rc) return rc;
  }
  return 0;
}
