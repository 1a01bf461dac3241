/*
 * Vocabularies and byte-pair merging.
 *
 * A vocabulary is the asset's bytes (kept as loaded) plus two things built
 * at load: each token's offset and first eight bytes, and an open-addressing
 * hash table (linear probing, at most half full) from token bytes to rank.
 *
 * Merging follows tiktoken's rule: repeatedly merge the adjacent pair whose
 * concatenated bytes have the lowest rank, the leftmost one on ties, until
 * no pair is a token. Short pieces use arrays on the stack (quadratic in the
 * piece, fast for the few bytes most pieces have); long ones a binary heap
 * of candidate pairs with lazy deletion and a linked list of parts.
 */
#include "bpe.h"

#include <string.h>

#include "pretokenize.h"

#define SLOT_EMPTY 0xFFFFFFFFu
#define RANK_BITS 18
#define RANK_MASK ((((uint32_t)1) << RANK_BITS) - 1)
#define TAG_OF(h) ((uint32_t)((h) >> (64 - (32 - RANK_BITS))))
/* A one-hash Bloom filter in front of the table: 128 KiB stay in cache,
 * and most strings that are no token (most lookups while merging) stop
 * there. Its bits come from the hash bits the table index does not use. */
#define TM_FILTER_BITS ((uint32_t)1 << 20)
#define FILTER_BIT(h) ((uint32_t)((h) >> 20) & (TM_FILTER_BITS - 1))
#define NO_RANK 0xFFFFFFFFu
#define HEADER_BYTES 32

/* The loop stays out of line, apart from its callers, which allocate. */
#if defined(__GNUC__) || defined(__clang__)
#define TM_NOINLINE __attribute__((noinline))
#else
#define TM_NOINLINE
#endif

typedef struct {
  uint32_t id;
  uint32_t len;
  const uint8_t *bytes;
} special_token;

struct tm_vocab {
  uint8_t *data;        /* the asset, owned */
  const uint8_t *lens;  /* length of each token, by rank */
  const uint8_t *bytes; /* the tokens' bytes, by rank */
  uint32_t *offs;       /* n + 1 offsets into bytes */
  uint32_t *slots;      /* hash table: tag << RANK_BITS | rank */
  uint64_t *heads;      /* each token's first eight bytes (head_of), by rank */
  uint64_t *filter;     /* TM_FILTER_BITS bits: set for the hashes of tokens */
  uint32_t mask;        /* slots - 1 */
  uint32_t n;           /* ordinary tokens */
  uint32_t max_len;     /* longest token */
  uint32_t byte_rank[256];
  uint32_t *pair_rank; /* 65536 entries: the rank of each two-byte string */
  uint32_t n_special;
  special_token special[TM_VOCAB_MAX_SPECIAL];
};

static uint32_t read_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TM_LITTLE_ENDIAN 1
#else
#define TM_LITTLE_ENDIAN 0
#endif

/* The first min(n, 8) bytes at p, little-endian, zero-padded. `lo` is the
 * lowest address that may be read: when the 8 bytes that end at p + n are
 * all readable, one load and a shift replace the byte loop. */
static inline uint64_t head_of(const uint8_t *p, size_t n, const uint8_t *lo) {
  uint64_t x = 0;
  if (TM_LITTLE_ENDIAN && n >= 8) {
    memcpy(&x, p, 8);
    return x;
  }
  if (TM_LITTLE_ENDIAN && n > 0 && (size_t)(p - lo) + n >= 8) {
    memcpy(&x, p + n - 8, 8);
    return x >> (8 * (8 - n));
  }
  size_t k = n < 8 ? n : 8;
  for (size_t i = 0; i < k; i++) x |= (uint64_t)p[i] << (8 * i);
  return x;
}

/* Hashes n bytes whose head (head_of) is already known. */
static inline uint64_t hash_rest(uint64_t head, const uint8_t *p, size_t n) {
  uint64_t h = (head ^ ((uint64_t)n << 58)) * 0x9E3779B97F4A7C15ull;
  for (size_t i = 8; i < n; i += 8) {
    h ^= h >> 29;
    h = (h ^ head_of(p + i, n - i, p)) * 0xBF58476D1CE4E5B9ull;
  }
  h ^= h >> 32;
  h *= 0x94D049BB133111EBull;
  h ^= h >> 29;
  return h;
}

/* The rank of the `n` bytes at `p`, or NO_RANK. A slot is 4 bytes (the
 * table stays small enough for the caches) and carries 14 bits of the hash
 * besides the rank, so most probes for strings that are no token stop at
 * the slot; a candidate is confirmed by its first eight bytes. */
static inline uint32_t rank_of(const tm_vocab *v, const uint8_t *p, size_t n, const uint8_t *lo) {
  if (n > v->max_len) return NO_RANK;
  uint64_t head = head_of(p, n, lo);
  uint64_t h = hash_rest(head, p, n);
  uint32_t fb = FILTER_BIT(h);
  if (!((v->filter[fb >> 6] >> (fb & 63)) & 1)) return NO_RANK;
  uint32_t tag = TAG_OF(h);
  uint32_t i = (uint32_t)h & v->mask;
  for (;;) {
    uint32_t slot = v->slots[i];
    if (slot == SLOT_EMPTY) return NO_RANK;
    if (slot >> RANK_BITS == tag) {
      uint32_t r = slot & RANK_MASK;
      if (v->heads[r] == head && v->lens[r] == n) {
        if (n <= 8) return r;
        const uint8_t *t = v->bytes + v->offs[r];
        size_t k = 8;
        while (k < n && t[k] == p[k]) k++;
        if (k == n) return r;
      }
    }
    i = (i + 1) & v->mask;
  }
}

void tm_vocab_free(tm_vocab *v) {
  if (!v) return;
  tm_free(v->pair_rank);
  tm_free(v->slots);
  tm_free(v->heads);
  tm_free(v->filter);
  tm_free(v->offs);
  tm_free(v->data);
  tm_free(v);
}

int tm_vocab_build(tm_base *b, int enc, uint8_t *data, size_t len, tm_vocab **out) {
  int rc = TM_OK;
  tm_vocab *v = NULL;
  *out = NULL;
  if (!data || len < HEADER_BYTES || memcmp(data, TM_VOCAB_MAGIC, 4) != 0) {
    rc = tm_fail(b, TM_EFORMAT, "not a threadmem vocabulary (bad magic)");
    goto fail;
  }
  if (read_u32(data + 4) != TM_VOCAB_FORMAT) {
    rc = tm_fail(b, TM_EFORMAT, "vocabulary format %u, expected %d", read_u32(data + 4),
                 TM_VOCAB_FORMAT);
    goto fail;
  }
  if (read_u32(data + 8) != (uint32_t)enc) {
    rc =
        tm_fail(b, TM_EFORMAT, "the vocabulary is of encoding %u, not %d", read_u32(data + 8), enc);
    goto fail;
  }
  uint32_t n = read_u32(data + 12), n_special = read_u32(data + 16);
  uint32_t token_bytes = read_u32(data + 20), special_bytes = read_u32(data + 24);
  if (n < 256 || n > TM_VOCAB_MAX_TOKENS || n_special > TM_VOCAB_MAX_SPECIAL ||
      (uint64_t)HEADER_BYTES + n + token_bytes + 5ull * n_special + special_bytes != len) {
    rc = tm_fail(b, TM_EFORMAT, "vocabulary sizes do not match its length (%zu bytes)", len);
    goto fail;
  }
  v = tm_malloc(sizeof *v);
  if (!v) {
    rc = tm_fail(b, TM_ENOMEM, "out of memory loading a vocabulary");
    goto fail;
  }
  memset(v, 0, sizeof *v);
  v->data = data;
  data = NULL; /* owned by v from here */
  v->n = n;
  v->lens = v->data + HEADER_BYTES;
  v->bytes = v->lens + n;
  uint32_t slots = 1;
  while (slots < 2 * n) slots <<= 1;
  v->mask = slots - 1;
  v->offs = tm_malloc(((size_t)n + 1) * sizeof *v->offs);
  v->slots = tm_malloc((size_t)slots * sizeof *v->slots);
  v->heads = tm_malloc((size_t)n * sizeof *v->heads);
  v->filter = tm_malloc(TM_FILTER_BITS / 8);
  v->pair_rank = tm_malloc(65536 * sizeof *v->pair_rank);
  if (!v->offs || !v->slots || !v->heads || !v->filter || !v->pair_rank) {
    rc = tm_fail(b, TM_ENOMEM, "out of memory indexing a vocabulary");
    goto fail;
  }
  uint64_t at = 0;
  for (uint32_t r = 0; r < n; r++) {
    v->offs[r] = (uint32_t)at;
    if (v->lens[r] == 0) {
      rc = tm_fail(b, TM_EFORMAT, "vocabulary token %u is empty", r);
      goto fail;
    }
    if (v->lens[r] > v->max_len) v->max_len = v->lens[r];
    at += v->lens[r];
  }
  v->offs[n] = (uint32_t)at;
  if (at != token_bytes) {
    rc = tm_fail(b, TM_EFORMAT, "vocabulary token lengths do not add up");
    goto fail;
  }
  memset(v->slots, 0xFF, (size_t)slots * sizeof *v->slots);
  memset(v->filter, 0, TM_FILTER_BITS / 8);
  for (uint32_t r = 0; r < n; r++) {
    const uint8_t *t = v->bytes + v->offs[r];
    size_t tl = v->lens[r];
    if (rank_of(v, t, tl, v->data) != NO_RANK) {
      rc = tm_fail(b, TM_EFORMAT, "vocabulary token %u is a duplicate", r);
      goto fail;
    }
    uint64_t head = head_of(t, tl, v->data);
    uint64_t h = hash_rest(head, t, tl);
    uint32_t i = (uint32_t)h & v->mask;
    while (v->slots[i] != SLOT_EMPTY) i = (i + 1) & v->mask;
    v->slots[i] = TAG_OF(h) << RANK_BITS | r;
    v->heads[r] = head;
    uint32_t fb = FILTER_BIT(h);
    v->filter[fb >> 6] |= (uint64_t)1 << (fb & 63);
  }
  for (unsigned c = 0; c < 256; c++) {
    uint8_t byte = (uint8_t)c;
    v->byte_rank[c] = rank_of(v, &byte, 1, &byte);
    if (v->byte_rank[c] == NO_RANK) {
      rc = tm_fail(b, TM_EFORMAT, "vocabulary lacks the byte 0x%02x", c);
      goto fail;
    }
  }
  for (unsigned c = 0; c < 65536; c++) {
    uint8_t two[2] = {(uint8_t)(c >> 8), (uint8_t)c};
    v->pair_rank[c] = rank_of(v, two, 2, two);
  }
  const uint8_t *p = v->bytes + token_bytes, *end = v->data + len;
  for (uint32_t k = 0; k < n_special; k++) {
    if (end - p < 5 || (size_t)(end - p - 5) < p[4] || p[4] == 0) {
      rc = tm_fail(b, TM_EFORMAT, "vocabulary special token %u is cut short", k);
      goto fail;
    }
    special_token *st = &v->special[k];
    st->id = read_u32(p);
    st->len = p[4];
    st->bytes = p + 5;
    if (st->id < n) {
      rc = tm_fail(b, TM_EFORMAT, "special token %u has an ordinary rank", st->id);
      goto fail;
    }
    p += 5 + st->len;
  }
  v->n_special = n_special;
  *out = v;
  return TM_OK;
fail:
  tm_free(data);
  tm_vocab_free(v);
  return rc;
}

bool tm_vocab_token(const tm_vocab *v, uint32_t id, const uint8_t **bytes, size_t *len) {
  if (id < v->n) {
    *bytes = v->bytes + v->offs[id];
    *len = v->lens[id];
    return true;
  }
  for (uint32_t k = 0; k < v->n_special; k++) {
    if (v->special[k].id == id) {
      *bytes = v->special[k].bytes;
      *len = v->special[k].len;
      return true;
    }
  }
  return false;
}

/* ---- special tokens in the text ---- */

/* The special token that starts at `pos`, or NULL. */
static const special_token *special_at(const tm_vocab *v, const uint8_t *s, size_t len,
                                       size_t pos) {
  for (uint32_t k = 0; k < v->n_special; k++) {
    const special_token *st = &v->special[k];
    if (len - pos >= st->len && memcmp(s + pos, st->bytes, st->len) == 0) return st;
  }
  return NULL;
}

/* Where the first special token at or after `from` starts, or len. */
static size_t next_special(const tm_vocab *v, const uint8_t *s, size_t len, size_t from) {
  for (size_t i = from; i < len; i++) {
    const uint8_t *lt = memchr(s + i, '<', len - i);
    if (!lt) break;
    i = (size_t)(lt - s);
    if (special_at(v, s, len, i)) return i;
  }
  return len;
}

/* ---- merging ---- */

/* Merges a short piece (2 <= n <= TM_BPE_SHORT_PIECE bytes) into out (or
 * only counts when out is NULL); returns the number of tokens. `lo` is the
 * start of the text (readable up to the piece). */
static size_t merge_short(const tm_vocab *v, const uint8_t *p, size_t n, uint32_t *out,
                          const uint8_t *lo) {
  uint32_t start[TM_BPE_SHORT_PIECE + 1];
  uint32_t pair[TM_BPE_SHORT_PIECE];
  uint32_t tok[TM_BPE_SHORT_PIECE];
  size_t m = n;
  for (size_t i = 0; i < n; i++) {
    start[i] = (uint32_t)i;
    tok[i] = v->byte_rank[p[i]];
  }
  start[n] = (uint32_t)n;
  for (size_t i = 0; i + 1 < n; i++) pair[i] = v->pair_rank[p[i] << 8 | p[i + 1]];
  while (m > 1) {
    uint32_t best = NO_RANK;
    size_t at = 0;
    for (size_t i = 0; i + 1 < m; i++) {
      if (pair[i] < best) {
        best = pair[i];
        at = i;
      }
    }
    if (best == NO_RANK) break;
    /* Part at+1 joins part at. */
    tok[at] = best;
    for (size_t i = at + 1; i < m; i++) start[i] = start[i + 1];
    for (size_t i = at + 1; i + 1 < m; i++) tok[i] = tok[i + 1];
    for (size_t i = at + 1; i + 1 < m; i++) pair[i] = pair[i + 1];
    m--;
    if (at + 1 < m) pair[at] = rank_of(v, p + start[at], start[at + 2] - start[at], lo);
    if (at > 0) pair[at - 1] = rank_of(v, p + start[at - 1], start[at + 1] - start[at - 1], lo);
  }
  if (out) memcpy(out, tok, m * sizeof *tok);
  return m;
}

/* A min-heap of (rank << 32 | part start): the lowest rank, then the
 * leftmost part, comes first. */
static void heap_push(uint64_t *h, size_t *n, uint64_t x) {
  size_t i = (*n)++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h[parent] <= x) break;
    h[i] = h[parent];
    i = parent;
  }
  h[i] = x;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
  uint64_t top = h[0], x = h[--*n];
  size_t i = 0, count = *n;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= count) break;
    if (c + 1 < count && h[c + 1] < h[c]) c++;
    if (x <= h[c]) break;
    h[i] = h[c];
    i = c;
  }
  if (count) h[i] = x;
  return top;
}

#define DEAD 0xFFFFFFFFu

/* Merges a long piece with the heap method; `scratch` holds
 * n * TM_BPE_SCRATCH_PER_BYTE bytes. Returns the number of tokens. */
static size_t merge_long(const tm_vocab *v, const uint8_t *p, size_t n, uint32_t *out,
                         void *scratch, const uint8_t *lo) {
  uint64_t *heap = scratch; /* at most 3n entries: n-1, then 2 per merge */
  uint32_t *next = (uint32_t *)(heap + 3 * n);
  uint32_t *prev = next + n;
  uint32_t *tok = prev + n;
  uint32_t *pair = tok + n;
  size_t hn = 0;
  for (size_t i = 0; i < n; i++) {
    next[i] = (uint32_t)(i + 1);
    prev[i] = (uint32_t)i - 1u; /* DEAD for the first */
    tok[i] = v->byte_rank[p[i]];
  }
  for (size_t i = 0; i + 1 < n; i++) {
    pair[i] = v->pair_rank[p[i] << 8 | p[i + 1]];
    if (pair[i] != NO_RANK) heap_push(heap, &hn, (uint64_t)pair[i] << 32 | i);
  }
  pair[n - 1] = NO_RANK;
  while (hn) {
    uint64_t e = heap_pop(heap, &hn);
    uint32_t r = (uint32_t)(e >> 32), i = (uint32_t)e;
    if (tok[i] == DEAD || pair[i] != r) continue; /* stale */
    uint32_t j = next[i], k = next[j];
    tok[i] = r;
    tok[j] = DEAD;
    pair[j] = NO_RANK;
    next[i] = k;
    if (k < n) prev[k] = i;
    pair[i] = k < n ? rank_of(v, p + i, next[k] - i, lo) : NO_RANK;
    if (pair[i] != NO_RANK) heap_push(heap, &hn, (uint64_t)pair[i] << 32 | i);
    uint32_t h = prev[i];
    if (h != DEAD) {
      pair[h] = rank_of(v, p + h, k - h, lo);
      if (pair[h] != NO_RANK) heap_push(heap, &hn, (uint64_t)pair[h] << 32 | h);
    }
  }
  size_t m = 0;
  for (uint32_t i = 0; i < n; i = next[i]) {
    if (out) out[m] = tok[i];
    m++;
  }
  return m;
}

/* ---- the loop ---- */

void tm_bpe_start(tm_bpe_job *j, const tm_vocab *v, int enc, const uint8_t *s, size_t len,
                  bool allow_special) {
  memset(j, 0, sizeof *j);
  j->v = v;
  j->style = enc == TM_ENC_O200K_BASE ? TM_PRETOK_O200K : TM_PRETOK_CL100K;
  j->allow_special = allow_special;
  j->s = s;
  j->len = len;
  j->seg_end = allow_special ? next_special(v, s, len, 0) : len;
}

TM_NOINLINE int tm_bpe_run(tm_bpe_job *j) {
  const tm_vocab *v = j->v;
  const uint8_t *s = j->s;
  const size_t len = j->len;
  size_t pos = j->pos, seg_end = j->seg_end, n_out = j->n_out;
  uint32_t *out = j->out;
  int rc = TM_BPE_DONE;
  while (pos < len) {
    if (pos == seg_end) {
      const special_token *st = special_at(v, s, len, pos);
      if (out) {
        if (n_out == j->cap_out) {
          j->need = 1;
          rc = TM_BPE_NEED_OUT;
          break;
        }
        out[n_out] = st->id;
      }
      n_out++;
      pos += st->len;
      seg_end = next_special(v, s, len, pos);
      continue;
    }
    size_t end = tm_pretok_next(j->style, s, seg_end, pos);
    size_t n = end - pos;
    if (out && j->cap_out - n_out < n) {
      j->need = n;
      rc = TM_BPE_NEED_OUT;
      break;
    }
    uint32_t r = rank_of(v, s + pos, n, s);
    if (r != NO_RANK) {
      if (out) out[n_out] = r;
      n_out++;
    } else if (n <= TM_BPE_SHORT_PIECE) {
      n_out += merge_short(v, s + pos, n, out ? out + n_out : NULL, s);
    } else if (n * TM_BPE_SCRATCH_PER_BYTE <= j->scratch_bytes) {
      n_out += merge_long(v, s + pos, n, out ? out + n_out : NULL, j->scratch, s);
    } else {
      j->need = n;
      rc = TM_BPE_NEED_SCRATCH;
      break;
    }
    pos = end;
  }
  j->pos = pos;
  j->seg_end = seg_end;
  j->n_out = n_out;
  return rc;
}
