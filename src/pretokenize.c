/*
 * The pre-tokenizer as a hand-written scanner. Each function below follows
 * one alternative of the encoding's pattern, tried in the pattern's order,
 * with the backtracking a regular-expression engine would do spelled out.
 *
 * cl100k_base:
 *   '(s|t|re|ve|m|ll|d) (ASCII case-insensitive)
 *   | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3} | ' '?[^\s\p{L}\p{N}]+[\r\n]*
 *   | \s*[\r\n]+ | \s+(?!\S) | \s+
 * o200k_base:
 *   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(contraction)?
 *   | [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(contraction)?
 *   | \p{N}{1,3} | ' '?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *
 * Every character is matched by some alternative, so pieces are contiguous
 * and the scanner only ever asks "where does the piece at `pos` end".
 */
#include "pretokenize.h"

#include "tm_unicode_table.h"

/* Character classes; the values are those of scripts/gen-unicode.mjs. */
enum {
  UC_OTHER = 0, /* punctuation, symbols, controls, format, unassigned */
  UC_LU = 1,
  UC_LL = 2,
  UC_LT = 3,
  UC_LM = 4,
  UC_LO = 5,
  UC_M = 6,  /* Mn, Mc, Me */
  UC_N = 7,  /* Nd, Nl, No */
  UC_WS = 8, /* JavaScript's \s apart from CR and LF */
  UC_NL = 9  /* CR, LF */
};

#define BIT(c) (1u << (c))
/* \p{L} */
#define SET_L (BIT(UC_LU) | BIT(UC_LL) | BIT(UC_LT) | BIT(UC_LM) | BIT(UC_LO))
/* \p{L} or \p{M} */
#define SET_LM (SET_L | BIT(UC_M))
/* \s */
#define SET_SPACE (BIT(UC_WS) | BIT(UC_NL))
/* [^\r\n\p{L}\p{N}] */
#define SET_PREFIX (BIT(UC_OTHER) | BIT(UC_M) | BIT(UC_WS))
/* [^\s\p{L}\p{N}] */
#define SET_PUNCT (BIT(UC_OTHER) | BIT(UC_M))
/* o200k's [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] */
#define SET_UPPER (BIT(UC_LU) | BIT(UC_LT) | BIT(UC_LM) | BIT(UC_LO) | BIT(UC_M))
/* o200k's [\p{Ll}\p{Lm}\p{Lo}\p{M}] */
#define SET_LOWER (BIT(UC_LL) | BIT(UC_LM) | BIT(UC_LO) | BIT(UC_M))
/* In both of o200k's sets. */
#define SET_BOTH (BIT(UC_LM) | BIT(UC_LO) | BIT(UC_M))

const char *tm_pretok_unicode_version(void) { return TM_UC_VERSION; }

/* The class of the character at `pos` (< len, valid UTF-8); *next is where
 * the following character starts. */
static inline unsigned class_at(const uint8_t *s, size_t pos, size_t *next) {
  uint32_t c = s[pos];
  uint32_t cp;
  if (c < 0x80) {
    *next = pos + 1;
    return tm_uc_ascii[c];
  }
  if (c < 0xE0) {
    cp = ((c & 0x1Fu) << 6) | (s[pos + 1] & 0x3Fu);
    *next = pos + 2;
  } else if (c < 0xF0) {
    cp = ((c & 0x0Fu) << 12) | ((s[pos + 1] & 0x3Fu) << 6) | (s[pos + 2] & 0x3Fu);
    *next = pos + 3;
  } else {
    cp = ((c & 0x07u) << 18) | ((s[pos + 1] & 0x3Fu) << 12) | ((s[pos + 2] & 0x3Fu) << 6) |
         (s[pos + 3] & 0x3Fu);
    *next = pos + 4;
  }
  unsigned b =
      tm_uc_stage2[((size_t)tm_uc_stage1[cp >> TM_UC_BLOCK_SHIFT] << (TM_UC_BLOCK_SHIFT - 1)) +
                   ((cp & ((1u << TM_UC_BLOCK_SHIFT) - 1)) >> 1)];
  return (cp & 1) ? b >> 4 : b & 15;
}

/* The class of code point `cp` (at most U+10FFFF). */
static inline unsigned class_of(uint32_t cp) {
  if (cp < 0x80) return tm_uc_ascii[cp];
  unsigned b =
      tm_uc_stage2[((size_t)tm_uc_stage1[cp >> TM_UC_BLOCK_SHIFT] << (TM_UC_BLOCK_SHIFT - 1)) +
                   ((cp & ((1u << TM_UC_BLOCK_SHIFT) - 1)) >> 1)];
  return (cp & 1) ? b >> 4 : b & 15;
}

int tm_pretok_is_word(uint32_t cp) {
  return cp <= 0x10FFFF && ((BIT(class_of(cp)) & (SET_LM | BIT(UC_N))) != 0);
}

int tm_pretok_is_mark(uint32_t cp) { return cp <= 0x10FFFF && class_of(cp) == UC_M; }

/* The end of the longest run of characters in `set` from `pos`. */
static inline size_t run_of(const uint8_t *s, size_t len, size_t pos, unsigned set) {
  while (pos < len) {
    /* Letters of ASCII text are the common case: no decoding. */
    uint8_t c = s[pos];
    if (c < 0x80 && (set & SET_L) == SET_L && (unsigned)((c | 0x20) - 'a') < 26u) {
      pos++;
      continue;
    }
    size_t n;
    if (!(BIT(class_at(s, pos, &n)) & set)) break;
    pos = n;
  }
  return pos;
}

/* The length of a contraction ('s 't 're 've 'm 'll 'd in any ASCII case)
 * at `pos`, where s[pos] is an apostrophe, or 0. */
static inline size_t contraction(const uint8_t *s, size_t len, size_t pos) {
  if (pos + 1 >= len) return 0;
  unsigned a = s[pos + 1] | 0x20u;
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (pos + 2 >= len) return 0;
  unsigned b = s[pos + 2] | 0x20u;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

/* o200k's first letter alternative without its prefix, from `p`:
 * UPPER* LOWER+. Greedy UPPER* gives characters back until LOWER can
 * start: either right after the UPPER run (a lowercase letter, then the
 * longest LOWER run) or at the last character of the run that is in both
 * sets (then LOWER+ is that one character). 0 when it cannot match. */
static size_t o200k_letters1(const uint8_t *s, size_t len, size_t p) {
  size_t q = p, both_end = 0, n;
  while (q < len) {
    unsigned c = class_at(s, q, &n);
    if (!(BIT(c) & SET_UPPER)) {
      if (c == UC_LL) return run_of(s, len, n, SET_LOWER);
      break;
    }
    if (BIT(c) & SET_BOTH) both_end = n;
    q = n;
  }
  return both_end;
}

/* o200k's second letter alternative without its prefix: UPPER+ LOWER*. */
static size_t o200k_letters2(const uint8_t *s, size_t len, size_t p) {
  size_t q = run_of(s, len, p, SET_UPPER);
  if (q == p) return 0;
  return run_of(s, len, q, SET_LOWER);
}

/* ' '?PUNCT+ then [\r\n]* (or [\r\n/]* for o200k), from `q`, which is just
 * past the first punctuation character. */
static size_t punct_tail(const uint8_t *s, size_t len, size_t q, int style) {
  q = run_of(s, len, q, SET_PUNCT);
  while (q < len && (s[q] == '\r' || s[q] == '\n' || (style == TM_PRETOK_O200K && s[q] == '/')))
    q++;
  return q;
}

/* \s*[\r\n]+ | \s+(?!\S) | \s+ from `pos`, a white-space character. */
static size_t space_run(const uint8_t *s, size_t len, size_t pos) {
  size_t q = pos, nl_end = 0, last = pos, n;
  while (q < len) {
    unsigned c = class_at(s, q, &n);
    if (!(BIT(c) & SET_SPACE)) break;
    if (c == UC_NL) nl_end = n;
    last = q;
    q = n;
  }
  if (nl_end) return nl_end;   /* \s*[\r\n]+ ends after the last newline */
  if (q == len) return q;      /* \s+(?!\S) at the end of the text */
  if (last > pos) return last; /* \s+(?!\S) leaves the last space to the next piece */
  return q;                    /* \s+ */
}

static size_t next_o200k(const uint8_t *s, size_t len, size_t pos) {
  size_t p1, p2, r;
  unsigned c0 = class_at(s, pos, &p1);
  unsigned b0 = BIT(c0);
  /* The two letter alternatives, each first with the optional prefix
   * character taken, then without it. */
  if (!(r = (b0 & SET_PREFIX) && p1 < len ? o200k_letters1(s, len, p1) : 0) &&
      !(r = (b0 & SET_LM) ? o200k_letters1(s, len, pos) : 0) &&
      !(r = (b0 & SET_PREFIX) && p1 < len ? o200k_letters2(s, len, p1) : 0))
    r = (b0 & SET_LM) ? o200k_letters2(s, len, pos) : 0;
  if (r) {
    if (r < len && s[r] == '\'') r += contraction(s, len, r);
    return r;
  }
  if (c0 == UC_N) {
    r = p1;
    for (int k = 1; k < 3 && r < len && class_at(s, r, &p2) == UC_N; k++) r = p2;
    return r;
  }
  if (s[pos] == ' ' && p1 < len && (BIT(class_at(s, p1, &p2)) & SET_PUNCT))
    return punct_tail(s, len, p2, TM_PRETOK_O200K);
  if (b0 & SET_PUNCT) return punct_tail(s, len, p1, TM_PRETOK_O200K);
  return space_run(s, len, pos);
}

static size_t next_cl100k(const uint8_t *s, size_t len, size_t pos) {
  size_t p1, p2, r;
  if (s[pos] == '\'' && (r = contraction(s, len, pos))) return pos + r;
  unsigned c0 = class_at(s, pos, &p1);
  unsigned b0 = BIT(c0);
  if (b0 & SET_L) return run_of(s, len, p1, SET_L);
  if ((b0 & SET_PREFIX) && p1 < len && (BIT(class_at(s, p1, &p2)) & SET_L))
    return run_of(s, len, p2, SET_L);
  if (c0 == UC_N) {
    r = p1;
    for (int k = 1; k < 3 && r < len && class_at(s, r, &p2) == UC_N; k++) r = p2;
    return r;
  }
  if (s[pos] == ' ' && p1 < len && (BIT(class_at(s, p1, &p2)) & SET_PUNCT))
    return punct_tail(s, len, p2, TM_PRETOK_CL100K);
  if (b0 & SET_PUNCT) return punct_tail(s, len, p1, TM_PRETOK_CL100K);
  return space_run(s, len, pos);
}

size_t tm_pretok_next(int style, const uint8_t *s, size_t len, size_t pos) {
  return style == TM_PRETOK_O200K ? next_o200k(s, len, pos) : next_cl100k(s, len, pos);
}
