/*
 * The long-term memory index: records, their history, an inverted index for
 * BM25 kept up to date on every change, and cosine similarity over unit
 * embeddings for hybrid search (the rules are in threadmem.h).
 *
 * Layout. Every id ever stored has an entry, in insertion order; a deleted
 * entry keeps its id, scope (whose it was) and history but no text, terms or
 * embedding. An
 * entry's position is its document number in the postings. Two hash maps
 * (open addressing, linear probing) find an entry by id and a term by word.
 * Each term has a posting list (document, term frequency); each live entry
 * lists its distinct terms, so an update or delete removes exactly its
 * postings (swap-remove: the order of a posting list does not matter).
 *
 * Hybrid search. Every embedding is also kept as int8 codes and as 4-bit
 * codes (nibbles), each with one scale and a bound of its rounding error, in
 * arenas with a slot per document (contiguous, so that a pass streams
 * through memory); the nibbles of the first and second halves of a vector
 * are in separate arenas. A search scores the records of best BM25 score
 * exactly first: the k-th of their scores is a floor for the results'. The
 * first pass then bounds every other record of the filter from the integer
 * dot product of its nibbles with the query's codes and the error bounds;
 * it stops after the first half when that half, with the norms of the rest
 * (|u.v| <= |u| |v|), keeps the record below the floor. The best bounds are
 * re-scored exactly in float, then every other record whose bound still
 * reaches the k-th exact score gets the tighter bound of its int8 codes,
 * and is re-scored if that reaches it too. So the results (and scores) are
 * those of scoring every record exactly. The codes are rebuilt from the
 * floats on load, never serialized.
 *
 * All or nothing: every change first makes room for everything it will
 * write (the only steps that can fail), then writes. A batch of adds that
 * fails part way removes what it added, which never allocates.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "memory.h"
#include "message.h"
#include "words.h"

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#define BM25_K1 1.2
#define BM25_B 0.75
#define HYBRID_WEIGHT 0.5 /* of the normalized BM25 score; the rest is cosine */
/* Records re-scored exactly after the first pass, at least (of top_k * 8). */
#define HYBRID_CANDIDATES 64
/* Records of best BM25 score scored exactly before the first pass (of
 * top_k), for the floor of the results' scores that prunes it. */
#define HYBRID_LEAD 4

enum { S_USER, S_AGENT, S_APP, S_THREAD, N_SCOPE };
static const char *const scope_keys[N_SCOPE] = {"user_id", "agent_id", "application_id",
                                                "thread_id"};
enum { EV_ADD, EV_UPDATE, EV_DELETE };
static const char *const event_names[] = {"ADD", "UPDATE", "DELETE"};

typedef struct event {
  int kind;
  char *old_text, *new_text;
  double at;
} event;

typedef struct entry {
  char *id;
  char *text; /* NULL once deleted */
  char *scope[N_SCOPE]; /* shared strings (see shared_str) */
  cJSON *metadata; /* an object */
  double created, updated;
  float *vec; /* unit vector of the index's dimension, or NULL */
  float qscale, qerr; /* of the vector's codes: vec ~ qscale * codes, |error| <= qerr */
  float nscale, nerr; /* the same of its 4-bit codes (nibbles) */
  float ntail; /* the norm of vec past nib_split(dim), rounded up */
  uint32_t *terms, *tfs, n_terms, length;
  event *events;
  uint32_t n_events, cap_events;
} entry;

/* What the first pass of hybrid search reads of an entry is kept apart, in
 * columns, so that it streams a few bytes per record instead of the whole
 * entry (memory traffic is most of its cost): a state byte, the scopes the
 * filter names (one column per kind), and the nibbles' scale, error bound
 * and tail norm (four records' in one load). keep_hot() copies them after
 * every change of the entry's text, scopes or vector. */
enum { HOT_LIVE = 1, HOT_VEC = 2 };
enum { HOT_SCALE, HOT_ERR, HOT_TAIL, N_HOT };

/* Where the first pass may stop half way through a record's nibbles (see
 * hybrid_rank): half its whole blocks of 32 codes; 0 (never) below 64. */
static uint32_t nib_split(uint32_t dim) { return dim / 64 * 32; }

/* The bytes of a record's head and tail nibbles (tm_record_nibbles). */
static size_t head_size(uint32_t dim) { return nib_split(dim) / 2; }
static size_t tail_size(uint32_t dim) { return ((size_t)dim - nib_split(dim) + 1) / 2; }

/* The codes of the embeddings, slot d (document d) of each at d times its
 * size: int8 (in the layout of tm_record_codes, `dim` bytes) in `codes`,
 * and 4-bit (tm_record_nibbles) in `head` and `tail`, apart so that the
 * first pass streams the heads alone and reads the tails of the few records
 * it does not leave half way. A slot of a document without a vector is
 * unused. */
typedef struct arena {
  uint8_t *codes, *head, *tail;
  size_t cap; /* slots */
  uint32_t dim;
} arena;

/* Reallocates *p to n bytes (at least one); false when out of memory. */
static bool resize_bytes(uint8_t **p, size_t n) {
  uint8_t *q = tm_realloc(*p, n ? n : 1);
  if (!q) return false;
  *p = q;
  return true;
}

/* The norm of v[from..n), rounded up to a float. */
static float tail_norm(const float *v, uint32_t from, uint32_t n) {
  double s = 0;
  for (uint32_t i = from; i < n; i++) s += (double)v[i] * v[i];
  return nextafterf((float)sqrt(s), INFINITY);
}

typedef struct posting {
  uint32_t doc, tf;
} posting;

typedef struct term {
  char *word;
  posting *p;
  uint32_t n, cap;
} term;

/* A scope value, held once for all the records that have it (a user's
 * records all name the same user), so that a filter compares pointers. A
 * free slot has no string and `refs` is the next free slot + 1 (0: none). */
typedef struct shared_str {
  char *s;
  uint32_t refs;
} shared_str;

/* Slots hold value + 1 (0 is empty) and the key's hash. */
typedef struct map {
  uint32_t *vals, *hashes;
  size_t cap, n;
} map;

struct tm_memory {
  tm_base base;
  entry *e;
  /* The first pass's copies (see HOT_LIVE), cap_e of each. */
  uint8_t *state;                 /* HOT_LIVE | HOT_VEC */
  const char **scope_of[N_SCOPE]; /* the entries' scopes, by kind */
  float *hot[N_HOT];              /* the nibbles' numbers, by kind */
  size_t n_e, cap_e, n_live, n_vecs;
  double total_length; /* words of the live records */
  map ids, words, scopes;
  shared_str *ss;
  size_t n_ss, cap_ss;
  uint32_t free_ss; /* first free slot of ss + 1, or 0 */
  term *t;
  size_t n_t, cap_t;
  uint32_t dim;
  float *scratch; /* per-document BM25 accumulators, zero between searches */
  float *bounds;  /* per-document score bounds of a hybrid search */
  size_t cap_scratch, cap_bounds;
  arena codes;
  tm_search_stats last; /* of the last hybrid search */
};

/* ---------------------------------------------------------------- maps -- */

static uint32_t hash_of(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

typedef const char *(*key_fn)(const tm_memory *mem, uint32_t value);
static const char *entry_key(const tm_memory *mem, uint32_t v) { return mem->e[v].id; }
static const char *term_key(const tm_memory *mem, uint32_t v) { return mem->t[v].word; }
static const char *scope_key(const tm_memory *mem, uint32_t v) { return mem->ss[v].s; }

/* The slot holding `key`, or the empty slot where it would go. */
static size_t map_slot(const tm_memory *mem, const map *m, key_fn key, const char *k, uint32_t h) {
  size_t mask = m->cap - 1, i = h & mask;
  while (m->vals[i]) {
    if (m->hashes[i] == h && strcmp(key(mem, m->vals[i] - 1), k) == 0) return i;
    i = (i + 1) & mask;
  }
  return i;
}

/* The value of `k`, or -1. */
static long map_get(const tm_memory *mem, const map *m, key_fn key, const char *k) {
  if (!m->cap) return -1;
  size_t i = map_slot(mem, m, key, k, hash_of(k, strlen(k)));
  return m->vals[i] ? (long)(m->vals[i] - 1) : -1;
}

/* Makes room for `more` insertions (load at most one half). */
static int map_reserve(tm_memory *mem, map *m, key_fn key, size_t more) {
  if ((m->n + more) * 2 <= m->cap) return TM_OK;
  size_t cap = m->cap ? m->cap : 64;
  while ((m->n + more) * 2 > cap) cap *= 2;
  uint32_t *vals = tm_malloc(cap * sizeof *vals), *hashes = tm_malloc(cap * sizeof *hashes);
  if (!vals || !hashes) {
    tm_free(vals);
    tm_free(hashes);
    return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
  }
  memset(vals, 0, cap * sizeof *vals);
  map old = *m;
  m->vals = vals;
  m->hashes = hashes;
  m->cap = cap;
  for (size_t i = 0; i < old.cap; i++) {
    if (!old.vals[i]) continue;
    size_t j = map_slot(mem, m, key, key(mem, old.vals[i] - 1), old.hashes[i]);
    m->vals[j] = old.vals[i];
    m->hashes[j] = old.hashes[i];
  }
  tm_free(old.vals);
  tm_free(old.hashes);
  return TM_OK;
}

/* Inserts `v` under its key; room was reserved. */
static void map_put(const tm_memory *mem, map *m, key_fn key, uint32_t v) {
  const char *k = key(mem, v);
  uint32_t h = hash_of(k, strlen(k));
  size_t i = map_slot(mem, m, key, k, h);
  if (!m->vals[i]) m->n++;
  m->vals[i] = v + 1;
  m->hashes[i] = h;
}

/* Removes `k` (backward-shift deletion keeps probes unbroken). */
static void map_remove(const tm_memory *mem, map *m, key_fn key, const char *k) {
  if (!m->cap) return;
  size_t mask = m->cap - 1, i = map_slot(mem, m, key, k, hash_of(k, strlen(k)));
  if (!m->vals[i]) return;
  m->vals[i] = 0;
  m->n--;
  for (size_t j = (i + 1) & mask; m->vals[j]; j = (j + 1) & mask) {
    size_t home = m->hashes[j] & mask;
    /* Move j into the hole when its home is not in (i, j]. */
    if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
      m->vals[i] = m->vals[j];
      m->hashes[i] = m->hashes[j];
      m->vals[j] = 0;
      i = j;
    }
  }
}

/* ------------------------------------------------------------- entries -- */

static void free_event(event *ev) {
  tm_free(ev->old_text);
  tm_free(ev->new_text);
}

/* Makes room for sharing `more` new scope values. */
static int reserve_shared(tm_memory *mem, size_t more) {
  if (mem->n_ss + more > mem->cap_ss) {
    size_t cap = mem->cap_ss ? mem->cap_ss * 2 : 16;
    while (cap < mem->n_ss + more) cap *= 2;
    shared_str *ss = tm_realloc(mem->ss, cap * sizeof *ss);
    if (!ss) return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
    mem->ss = ss;
    mem->cap_ss = cap;
  }
  return map_reserve(mem, &mem->scopes, scope_key, more);
}

/* The shared string equal to `copy` (a tm_malloc'd string, consumed); room
 * was reserved. */
static char *share(tm_memory *mem, char *copy) {
  long v = map_get(mem, &mem->scopes, scope_key, copy);
  if (v >= 0) {
    tm_free(copy);
    mem->ss[v].refs++;
    return mem->ss[v].s;
  }
  uint32_t slot;
  if (mem->free_ss) {
    slot = mem->free_ss - 1;
    mem->free_ss = mem->ss[slot].refs;
  } else {
    slot = (uint32_t)mem->n_ss++;
  }
  mem->ss[slot] = (shared_str){copy, 1};
  map_put(mem, &mem->scopes, scope_key, slot);
  return copy;
}

static void unshare(tm_memory *mem, const char *s) {
  long v = map_get(mem, &mem->scopes, scope_key, s);
  if (v < 0 || --mem->ss[v].refs) return;
  map_remove(mem, &mem->scopes, scope_key, s);
  tm_free(mem->ss[v].s);
  mem->ss[v] = (shared_str){NULL, mem->free_ss};
  mem->free_ss = (uint32_t)v + 1;
}

/* Frees what only a live entry has (a deleted one keeps its id, scope and
 * history). */
static void clear_content(entry *en) {
  tm_free(en->text);
  cJSON_Delete(en->metadata);
  tm_free(en->vec);
  tm_free(en->terms);
  tm_free(en->tfs);
  en->text = NULL;
  en->metadata = NULL;
  en->vec = NULL;
  en->terms = en->tfs = NULL;
  en->n_terms = en->length = 0;
}

static void free_entry(tm_memory *mem, entry *en) {
  clear_content(en);
  for (int s = 0; s < N_SCOPE; s++)
    if (en->scope[s]) unshare(mem, en->scope[s]);
  for (uint32_t i = 0; i < en->n_events; i++) free_event(&en->events[i]);
  tm_free(en->events);
  tm_free(en->id);
  memset(en, 0, sizeof *en);
}

static int reserve_event(tm_memory *mem, entry *en) {
  if (en->n_events < en->cap_events) return TM_OK;
  uint32_t cap = en->cap_events ? en->cap_events * 2 : 2;
  event *ev = tm_realloc(en->events, cap * sizeof *ev);
  if (!ev) return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
  en->events = ev;
  en->cap_events = cap;
  return TM_OK;
}

/* --------------------------------------------------------------- codes -- */

static void free_arena(arena *a) {
  tm_free(a->codes);
  tm_free(a->head);
  tm_free(a->tail);
  memset(a, 0, sizeof *a);
}

/* Makes room for the codes of documents [0, docs) of dimension `dim`. The
 * arena grows in place when `dim` is its own. Another dimension is possible
 * only when no other record has a vector: then a new arena is made in
 * *fresh, which write_codes installs once nothing can fail any more (the
 * caller frees it on failure). */
static int reserve_codes(tm_memory *mem, size_t docs, uint32_t dim, arena *fresh) {
  arena *a = &mem->codes;
  memset(fresh, 0, sizeof *fresh);
  if (dim == a->dim && docs <= a->cap) return TM_OK;
  size_t cap = dim == a->dim && a->cap ? a->cap : 64;
  while (cap < docs) cap *= 2;
  if (cap > SIZE_MAX / dim) return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
  /* In place, any may grow alone: a larger buffer than `cap` says is
   * harmless. */
  arena *to = dim == a->dim ? a : fresh;
  if (!resize_bytes(&to->codes, cap * dim) || !resize_bytes(&to->head, cap * head_size(dim)) ||
      !resize_bytes(&to->tail, cap * tail_size(dim))) {
    if (to == fresh) free_arena(fresh);
    return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
  }
  if (to == a) {
    a->cap = cap;
    return TM_OK;
  }
  fresh->cap = cap;
  fresh->dim = dim;
  return TM_OK;
}

/* Installs the arena of reserve_codes, if it made one, and writes the codes
 * of `doc`'s vector. */
static void write_codes(tm_memory *mem, arena *fresh, uint32_t doc) {
  if (fresh->codes) {
    free_arena(&mem->codes);
    mem->codes = *fresh;
    memset(fresh, 0, sizeof *fresh);
  }
  entry *en = &mem->e[doc];
  const arena *a = &mem->codes;
  uint32_t dim = a->dim;
  en->qscale = tm_record_codes(en->vec, dim, a->codes + (size_t)doc * dim, &en->qerr);
  en->nscale = tm_record_nibbles(en->vec, dim, nib_split(dim), a->head + doc * head_size(dim),
                                 a->tail + doc * tail_size(dim), &en->nerr);
  en->ntail = tail_norm(en->vec, nib_split(dim), dim);
}

static void keep_hot(tm_memory *mem, uint32_t doc) {
  const entry *en = &mem->e[doc];
  mem->hot[HOT_SCALE][doc] = en->nscale;
  mem->hot[HOT_ERR][doc] = en->nerr;
  mem->hot[HOT_TAIL][doc] = en->ntail;
  mem->state[doc] = (uint8_t)((en->text ? HOT_LIVE : 0) | (en->vec ? HOT_VEC : 0));
  for (int s = 0; s < N_SCOPE; s++) mem->scope_of[s][doc] = en->scope[s];
}

/* ---------------------------------------------------------- the terms -- */

/* The words of a text as term numbers, found or created. */
typedef struct word_list {
  tm_memory *mem;
  uint32_t *ids;
  size_t n, cap; /* term numbers kept */
  size_t words;  /* words seen, known or not */
  bool create;   /* false: unknown words are skipped (queries) */
  int rc;
} word_list;

static int add_word(void *user, const char *w, size_t len) {
  word_list *wl = user;
  tm_memory *mem = wl->mem;
  uint32_t h = hash_of(w, len);
  long id = -1;
  if (mem->words.cap) {
    size_t i = map_slot(mem, &mem->words, term_key, w, h);
    if (mem->words.vals[i]) id = (long)mem->words.vals[i] - 1;
  }
  wl->words++;
  if (id < 0 && !wl->create) return 0; /* no record holds it */
  if (id < 0) {
    if (mem->n_t == mem->cap_t) {
      size_t cap = mem->cap_t ? mem->cap_t * 2 : 256;
      term *t = tm_realloc(mem->t, cap * sizeof *t);
      if (!t) return wl->rc = tm_fail(&mem->base, TM_ENOMEM, "out of memory");
      mem->t = t;
      mem->cap_t = cap;
    }
    if (map_reserve(mem, &mem->words, term_key, 1)) return wl->rc = mem->base.code;
    char *copy = tm_strndup(w, len);
    if (!copy) return wl->rc = tm_fail(&mem->base, TM_ENOMEM, "out of memory");
    term *t = &mem->t[mem->n_t];
    memset(t, 0, sizeof *t);
    t->word = copy;
    map_put(mem, &mem->words, term_key, (uint32_t)mem->n_t);
    id = (long)mem->n_t++;
  }
  if (wl->n == wl->cap) {
    size_t cap = wl->cap ? wl->cap * 2 : 32;
    uint32_t *ids = tm_realloc(wl->ids, cap * sizeof *ids);
    if (!ids) return wl->rc = tm_fail(&mem->base, TM_ENOMEM, "out of memory");
    wl->ids = ids;
    wl->cap = cap;
  }
  wl->ids[wl->n++] = (uint32_t)id;
  return 0;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* The distinct terms of `text` and their counts, into *terms / *tfs. New
 * words become terms (with no postings until a document holds them). */
static int text_terms(tm_memory *mem, const char *text, uint32_t **terms, uint32_t **tfs,
                      uint32_t *n_terms, uint32_t *length) {
  word_list wl = {.mem = mem, .create = true};
  *terms = *tfs = NULL;
  *n_terms = *length = 0;
  if (tm_words(text, strlen(text), add_word, &wl)) {
    tm_free(wl.ids);
    return wl.rc;
  }
  if (!wl.n) {
    tm_free(wl.ids);
    return TM_OK;
  }
  qsort(wl.ids, wl.n, sizeof *wl.ids, cmp_u32);
  uint32_t *counts = tm_malloc(wl.n * sizeof *counts);
  if (!counts) {
    tm_free(wl.ids);
    return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; i < wl.n; i++) {
    if (k && wl.ids[k - 1] == wl.ids[i]) {
      counts[k - 1]++;
    } else {
      wl.ids[k] = wl.ids[i];
      counts[k++] = 1;
    }
  }
  *terms = wl.ids;
  *tfs = counts;
  *n_terms = (uint32_t)k;
  *length = (uint32_t)wl.words;
  return TM_OK;
}

/* Makes room for one more posting in each of `terms`. */
static int reserve_postings(tm_memory *mem, const uint32_t *terms, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    term *t = &mem->t[terms[i]];
    if (t->n < t->cap) continue;
    uint32_t cap = t->cap ? t->cap * 2 : 4;
    posting *p = tm_realloc(t->p, cap * sizeof *p);
    if (!p) return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
    t->p = p;
    t->cap = cap;
  }
  return TM_OK;
}

static void post(tm_memory *mem, uint32_t doc) {
  entry *en = &mem->e[doc];
  for (uint32_t i = 0; i < en->n_terms; i++) {
    term *t = &mem->t[en->terms[i]];
    t->p[t->n++] = (posting){doc, en->tfs[i]};
  }
  mem->total_length += en->length;
}

static void unpost(tm_memory *mem, uint32_t doc) {
  entry *en = &mem->e[doc];
  for (uint32_t i = 0; i < en->n_terms; i++) {
    term *t = &mem->t[en->terms[i]];
    for (uint32_t k = 0; k < t->n; k++) {
      if (t->p[k].doc == doc) {
        t->p[k] = t->p[--t->n];
        break;
      }
    }
  }
  mem->total_length -= en->length;
}

/* ------------------------------------------------------------- inputs -- */

static int check_text(tm_memory *mem, const cJSON *v, const char *path) {
  if (!cJSON_IsString(v)) return tm_fail(&mem->base, TM_EFORMAT, "%s: expected a string", path);
  size_t len = strlen(v->valuestring);
  if (len > TM_MAX_MEMORY_TEXT_BYTES)
    return tm_fail(&mem->base, TM_ERANGE,
                   "%s: %zu bytes is more than TM_MAX_MEMORY_TEXT_BYTES (%zu bytes)", path, len,
                   TM_MAX_MEMORY_TEXT_BYTES);
  if (!tm_utf8_valid(v->valuestring, len))
    return tm_fail(&mem->base, TM_EFORMAT, "%s: not valid UTF-8", path);
  bool blank = true;
  for (size_t i = 0; i < len && blank; i++) blank = strchr(" \t\r\n", v->valuestring[i]) != NULL;
  if (blank) return tm_fail(&mem->base, TM_EINVAL, "%s: a memory needs some text", path);
  return TM_OK;
}

static int check_id(tm_memory *mem, const cJSON *v, const char *path) {
  if (!cJSON_IsString(v)) return tm_fail(&mem->base, TM_EFORMAT, "%s: expected a string", path);
  size_t len = strlen(v->valuestring);
  if (!len || len > TM_MAX_ID_BYTES || !tm_utf8_valid(v->valuestring, len))
    return tm_fail(&mem->base, TM_EINVAL, "%s: an id is 1 to %d bytes of UTF-8", path,
                   TM_MAX_ID_BYTES);
  return TM_OK;
}

/* A time given as ISO 8601 text or milliseconds. */
static int read_time(tm_memory *mem, const cJSON *v, const char *path, double *ms) {
  if (cJSON_IsNumber(v) && v->valuedouble >= -62167219200000.0 &&
      v->valuedouble <= 253402300799999.0) {
    *ms = floor(v->valuedouble);
    return TM_OK;
  }
  if (cJSON_IsString(v) && tm_iso_to_ms(v->valuestring, ms)) return TM_OK;
  return tm_fail(&mem->base, TM_EFORMAT,
                 "%s: expected an ISO 8601 UTC time (2026-01-01T00:00:00.000Z) or milliseconds "
                 "(years 0 to 9999)",
                 path);
}

/* Rejects keys of `obj` outside `allowed` (NULL-terminated). */
static int only_keys(tm_memory *mem, const cJSON *obj, const char *const *allowed,
                     const char *path) {
  for (const cJSON *k = obj->child; k; k = k->next) {
    bool ok = false;
    for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(k->string, *a) == 0;
    if (!ok) return tm_fail(&mem->base, TM_EINVAL, "%s: unknown key \"%s\"", path, k->string);
  }
  return TM_OK;
}

/* Reads a scope object into copies (absent or null fields stay NULL). */
static int read_scope(tm_memory *mem, const cJSON *v, const char *path, char *out[N_SCOPE],
                      bool copy) {
  memset(out, 0, N_SCOPE * sizeof *out);
  if (!cJSON_IsObject(v)) return tm_fail(&mem->base, TM_EFORMAT, "%s: expected an object", path);
  static const char *const keys[] = {"user_id", "agent_id", "application_id", "thread_id", NULL};
  int rc = only_keys(mem, v, keys, path);
  if (rc) return rc;
  for (int s = 0; s < N_SCOPE; s++) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, scope_keys[s]);
    if (!f || cJSON_IsNull(f)) continue;
    char p[TM_PATH_MAX];
    tm_path_field(p, path, scope_keys[s]);
    if ((rc = check_id(mem, f, p))) goto fail;
    out[s] = copy ? tm_strdup(f->valuestring) : f->valuestring;
    if (!out[s]) {
      rc = tm_fail(&mem->base, TM_ENOMEM, "out of memory");
      goto fail;
    }
  }
  return TM_OK;
fail:
  if (copy)
    for (int s = 0; s < N_SCOPE; s++) tm_free(out[s]);
  memset(out, 0, N_SCOPE * sizeof *out);
  return rc;
}

static int check_metadata(tm_memory *mem, const cJSON *v, const char *path) {
  if (!cJSON_IsObject(v)) return tm_fail(&mem->base, TM_EFORMAT, "%s: expected an object", path);
  char *text = NULL;
  int rc = tm_json_print(&mem->base, v, &text);
  if (rc) return rc;
  size_t len = strlen(text);
  tm_free(text);
  if (len > TM_MAX_MEMORY_METADATA_BYTES)
    return tm_fail(&mem->base, TM_ERANGE,
                   "%s: %zu bytes is more than TM_MAX_MEMORY_METADATA_BYTES (%zu bytes)", path, len,
                   TM_MAX_MEMORY_METADATA_BYTES);
  return TM_OK;
}

/* An embedding (array of numbers, or base64 of float32) as a unit vector.
 * `*dim` is the index's dimension (0: not yet set; set here). A zero
 * vector stays zero (its cosine with anything is 0). */
static int read_vector(tm_memory *mem, const cJSON *v, const char *path, uint32_t *dim,
                       float **out) {
  *out = NULL;
  float *vec = NULL;
  size_t n = 0;
  if (cJSON_IsString(v)) {
    bool oom;
    if (!tm_floats_from_base64(v->valuestring, &vec, &n, &oom))
      return oom ? tm_fail(&mem->base, TM_ENOMEM, "out of memory")
                 : tm_fail(&mem->base, TM_EFORMAT,
                           "%s: not the base64 of finite float32 values", path);
  } else if (cJSON_IsArray(v)) {
    n = (size_t)cJSON_GetArraySize(v);
    if (n > TM_MAX_EMBEDDING_DIM)
      return tm_fail(&mem->base, TM_ERANGE, "%s: %zu values is more than TM_MAX_EMBEDDING_DIM (%d)",
                     path, n, TM_MAX_EMBEDDING_DIM);
    if (!(vec = tm_malloc((n ? n : 1) * sizeof *vec)))
      return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
    size_t i = 0;
    for (const cJSON *x = v->child; x; x = x->next, i++) {
      float f = cJSON_IsNumber(x) ? (float)x->valuedouble : NAN;
      if (!isfinite(f)) {
        tm_free(vec);
        return tm_fail(&mem->base, TM_EFORMAT, "%s[%zu]: expected a finite number", path, i);
      }
      vec[i] = f;
    }
  } else {
    return tm_fail(&mem->base, TM_EFORMAT, "%s: expected an array of numbers", path);
  }
  int rc = TM_OK;
  if (n == 0 || n > TM_MAX_EMBEDDING_DIM) {
    rc = tm_fail(&mem->base, n ? TM_ERANGE : TM_EDIMENSION, "%s: %zu values (1 to %d allowed)",
                 path, n, TM_MAX_EMBEDDING_DIM);
  } else if (*dim && n != *dim) {
    rc = tm_fail(&mem->base, TM_EDIMENSION,
                 "%s: an embedding of dimension %zu, but this index holds dimension %u", path, n,
                 *dim);
  }
  if (rc) {
    tm_free(vec);
    return rc;
  }
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)vec[i] * vec[i];
  /* A unit vector (a serialized index's) is kept bit for bit. */
  if (sum > 0 && fabs(sum - 1.0) > 1e-6) {
    double inv = 1.0 / sqrt(sum);
    for (size_t i = 0; i < n; i++) vec[i] = (float)(vec[i] * inv);
  }
  *dim = (uint32_t)n;
  *out = vec;
  return TM_OK;
}

/* ---------------------------------------------------------- outputs -- */

/* Adds `item` to object `o` under `k`; 1 (and `item` freed) on failure. */
static int add_item(cJSON *o, const char *k, cJSON *item) {
  if (!item) return 1;
  if (cJSON_AddItemToObject(o, k, item)) return 0;
  cJSON_Delete(item);
  return 1;
}

static int add_str(cJSON *o, const char *k, const char *v) {
  return add_item(o, k, cJSON_CreateString(v));
}

static int add_time(cJSON *o, const char *k, double ms) {
  char iso[25];
  tm_iso_from_ms(ms, iso);
  return add_str(o, k, iso);
}

/* An entry's scope as JSON, or NULL when out of memory. */
static cJSON *scope_json(const entry *en) {
  cJSON *scope = cJSON_CreateObject();
  for (int s = 0; scope && s < N_SCOPE; s++)
    if (en->scope[s] && add_str(scope, scope_keys[s], en->scope[s])) {
      cJSON_Delete(scope);
      scope = NULL;
    }
  return scope;
}

/* A record as JSON (`vec_b64`: with its embedding, for serialization). */
static cJSON *record_json(const tm_memory *mem, const entry *en, bool vec_b64) {
  cJSON *o = cJSON_CreateObject();
  int bad;
  if (!o) goto oom;
  if (add_str(o, "id", en->id) || add_str(o, "text", en->text)) goto oom;
  if (add_item(o, "scope", scope_json(en))) goto oom;
  if (add_item(o, "metadata", cJSON_Duplicate(en->metadata, true))) goto oom;
  if (add_time(o, "created_at", en->created) || add_time(o, "updated_at", en->updated)) goto oom;
  if (vec_b64 && en->vec) {
    char *b = tm_floats_to_base64(en->vec, mem->dim);
    bad = !b || add_str(o, "embedding", b);
    tm_free(b);
    if (bad) goto oom;
  }
  return o;
oom:
  cJSON_Delete(o);
  return NULL;
}

static cJSON *history_json(const entry *en) {
  cJSON *arr = cJSON_CreateArray();
  if (!arr) return NULL;
  for (uint32_t i = 0; i < en->n_events; i++) {
    const event *ev = &en->events[i];
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o) || add_str(o, "event", event_names[ev->kind]) ||
        (ev->old_text && add_str(o, "old_text", ev->old_text)) ||
        (ev->new_text && add_str(o, "new_text", ev->new_text)) || add_time(o, "at", ev->at)) {
      cJSON_Delete(arr); /* holds o when o exists */
      return NULL;
    }
  }
  return arr;
}

/* Prints `json` (consumed) into *out; NULL json means out of memory. */
static int finish(tm_memory *mem, cJSON *json, char **out) {
  if (!json) return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
  int rc = tm_json_print(&mem->base, json, out);
  cJSON_Delete(json);
  return rc;
}

/* ----------------------------------------------------------- lifetime -- */

tm_memory *tm_memory_new(void) {
  tm_install_json_hooks();
  tm_memory *mem = tm_malloc(sizeof *mem);
  if (mem) memset(mem, 0, sizeof *mem);
  return mem;
}

/* Frees everything but the handle's error. */
static void release(tm_memory *mem) {
  for (size_t i = 0; i < mem->n_e; i++) free_entry(mem, &mem->e[i]);
  tm_free(mem->e);
  for (int k = 0; k < N_HOT; k++) tm_free(mem->hot[k]);
  tm_free(mem->state);
  for (int s = 0; s < N_SCOPE; s++) tm_free(mem->scope_of[s]);
  for (size_t i = 0; i < mem->n_t; i++) {
    tm_free(mem->t[i].word);
    tm_free(mem->t[i].p);
  }
  tm_free(mem->t);
  tm_free(mem->ids.vals);
  tm_free(mem->ids.hashes);
  tm_free(mem->words.vals);
  tm_free(mem->words.hashes);
  tm_free(mem->scopes.vals);
  tm_free(mem->scopes.hashes);
  tm_free(mem->ss); /* every string went with its last record */
  tm_free(mem->scratch);
  tm_free(mem->bounds);
  free_arena(&mem->codes);
  tm_base keep = mem->base;
  memset(mem, 0, sizeof *mem);
  mem->base = keep;
}

void tm_memory_free(tm_memory *mem) {
  if (!mem) return;
  release(mem);
  tm_base_free(&mem->base);
  tm_free(mem);
}

size_t tm_memory_count(const tm_memory *mem) { return mem ? mem->n_live : 0; }

/* --------------------------------------------------------------- adding -- */

/* A record read from JSON, not yet in the index. */
typedef struct draft {
  char *id, *text, *scope[N_SCOPE];
  cJSON *metadata;
  double created, updated;
  float *vec;
  uint32_t dim; /* of vec */
  bool deleted;
  event *events;
  uint32_t n_events;
} draft;

static void free_draft(draft *d) {
  tm_free(d->id);
  tm_free(d->text);
  for (int s = 0; s < N_SCOPE; s++) tm_free(d->scope[s]);
  cJSON_Delete(d->metadata);
  tm_free(d->vec);
  for (uint32_t i = 0; i < d->n_events; i++) free_event(&d->events[i]);
  tm_free(d->events);
  memset(d, 0, sizeof *d);
}

/* Reads a record of tm_memory_add (or, with `stored`, of a serialized
 * index: times and history required, "deleted" allowed). */
static int read_draft(tm_memory *mem, const cJSON *r, const char *path, bool stored, uint32_t *dim,
                      draft *d) {
  memset(d, 0, sizeof *d);
  char p[TM_PATH_MAX];
  int rc;
  if (!cJSON_IsObject(r)) return tm_fail(&mem->base, TM_EFORMAT, "%s: expected an object", path);
  static const char *const add_keys[] = {"id",       "text",       "scope",     "metadata",
                                         "embedding", "created_at", NULL};
  static const char *const stored_keys[] = {"id",         "text",       "scope",   "metadata",
                                            "embedding",  "created_at", "updated_at",
                                            "history",    "deleted",    NULL};
  if ((rc = only_keys(mem, r, stored ? stored_keys : add_keys, path))) return rc;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
  if (id || stored) {
    tm_path_field(p, path, "id");
    if (!id) return tm_fail(&mem->base, TM_EFORMAT, "%s: missing", p);
    if ((rc = check_id(mem, id, p))) return rc;
    d->id = tm_strdup(id->valuestring);
  } else {
    char uuid[37];
    tm_uuid(uuid);
    d->id = tm_strdup(uuid);
  }
  if (!d->id) goto oom;
  const cJSON *deleted = cJSON_GetObjectItemCaseSensitive(r, "deleted");
  if (deleted && !cJSON_IsBool(deleted)) {
    tm_path_field(p, path, "deleted");
    rc = tm_fail(&mem->base, TM_EFORMAT, "%s: expected true or false", p);
    goto fail;
  }
  d->deleted = cJSON_IsTrue(deleted);
  if (stored) {
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(r, "history");
    tm_path_field(p, path, "history");
    if (!cJSON_IsArray(h) || !cJSON_GetArraySize(h)) {
      rc = tm_fail(&mem->base, TM_EFORMAT, "%s: expected a non-empty array", p);
      goto fail;
    }
    size_t n = (size_t)cJSON_GetArraySize(h);
    if (n > UINT32_MAX / 2 || !(d->events = tm_malloc(n * sizeof *d->events))) goto oom;
    size_t i = 0;
    for (const cJSON *ev = h->child; ev; ev = ev->next, i++) {
      char ep[TM_PATH_MAX], fp[TM_PATH_MAX];
      tm_path_index(ep, p, i);
      static const char *const ev_keys[] = {"event", "old_text", "new_text", "at", NULL};
      if (!cJSON_IsObject(ev)) {
        rc = tm_fail(&mem->base, TM_EFORMAT, "%s: expected an object", ep);
        goto fail;
      }
      if ((rc = only_keys(mem, ev, ev_keys, ep))) goto fail;
      event e = {0};
      const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ev, "event");
      e.kind = -1;
      for (int k = 0; k < 3 && cJSON_IsString(kind); k++)
        if (strcmp(kind->valuestring, event_names[k]) == 0) e.kind = k;
      if (e.kind < 0) {
        tm_path_field(fp, ep, "event");
        rc = tm_fail(&mem->base, TM_EFORMAT, "%s: expected \"ADD\", \"UPDATE\" or \"DELETE\"", fp);
        goto fail;
      }
      tm_path_field(fp, ep, "at");
      if ((rc = read_time(mem, cJSON_GetObjectItemCaseSensitive(ev, "at"), fp, &e.at))) goto fail;
      const char *names[2] = {"old_text", "new_text"};
      char **dst[2] = {&e.old_text, &e.new_text};
      for (int k = 0; k < 2; k++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, names[k]);
        if (!t) continue;
        tm_path_field(fp, ep, names[k]);
        if ((rc = check_text(mem, t, fp))) {
          free_event(&e);
          goto fail;
        }
        if (!(*dst[k] = tm_strdup(t->valuestring))) {
          free_event(&e);
          goto oom;
        }
      }
      d->events[d->n_events++] = e;
    }
    if (d->deleted) {
      /* Whose it was (an index written before deleted records kept their
       * scope has none: then no scoped history call finds it). */
      const cJSON *scope = cJSON_GetObjectItemCaseSensitive(r, "scope");
      tm_path_field(p, path, "scope");
      if (scope && (rc = read_scope(mem, scope, p, d->scope, true))) goto fail;
      return TM_OK;
    }
  }
  tm_path_field(p, path, "text");
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(r, "text");
  if (!text) {
    rc = tm_fail(&mem->base, TM_EFORMAT, "%s: missing", p);
    goto fail;
  }
  if ((rc = check_text(mem, text, p))) goto fail;
  if (!(d->text = tm_strdup(text->valuestring))) goto oom;
  tm_path_field(p, path, "scope");
  const cJSON *scope = cJSON_GetObjectItemCaseSensitive(r, "scope");
  if (!scope) {
    rc = tm_fail(&mem->base, TM_EFORMAT, "%s: missing", p);
    goto fail;
  }
  if ((rc = read_scope(mem, scope, p, d->scope, true))) goto fail;
  if (!d->scope[S_USER] && !d->scope[S_AGENT] && !d->scope[S_APP] && !d->scope[S_THREAD]) {
    rc = tm_fail(&mem->base, TM_EINVAL,
                 "%s: a memory needs a user_id, agent_id, application_id or thread_id", p);
    goto fail;
  }
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(r, "metadata");
  if (md && !cJSON_IsNull(md)) {
    tm_path_field(p, path, "metadata");
    if ((rc = check_metadata(mem, md, p))) goto fail;
    d->metadata = cJSON_Duplicate(md, true);
  } else {
    d->metadata = cJSON_CreateObject();
  }
  if (!d->metadata) goto oom;
  const cJSON *emb = cJSON_GetObjectItemCaseSensitive(r, "embedding");
  if (emb && !cJSON_IsNull(emb)) {
    tm_path_field(p, path, "embedding");
    if ((rc = read_vector(mem, emb, p, dim, &d->vec))) goto fail;
    d->dim = *dim;
  }
  const cJSON *created = cJSON_GetObjectItemCaseSensitive(r, "created_at");
  if (created || stored) {
    tm_path_field(p, path, "created_at");
    if ((rc = read_time(mem, created, p, &d->created))) goto fail;
  } else {
    d->created = floor(tm_host_now_ms());
  }
  d->updated = d->created;
  if (stored) {
    tm_path_field(p, path, "updated_at");
    if ((rc = read_time(mem, cJSON_GetObjectItemCaseSensitive(r, "updated_at"), p, &d->updated)))
      goto fail;
  }
  return TM_OK;
oom:
  rc = tm_fail(&mem->base, TM_ENOMEM, "out of memory");
fail:
  free_draft(d);
  return rc;
}

/* Removes the newest entry (a failed batch's), which must be live. */
static void drop_last(tm_memory *mem) {
  uint32_t doc = (uint32_t)(mem->n_e - 1);
  entry *en = &mem->e[doc];
  if (en->text) {
    unpost(mem, doc);
    mem->n_live--;
    if (en->vec) mem->n_vecs--;
  }
  map_remove(mem, &mem->ids, entry_key, en->id);
  free_entry(mem, en);
  mem->n_e--;
}

/* Moves a draft into the index as a new entry (room in mem->e and the id
 * map was reserved). On failure the draft is left as it was. `add_event`
 * records the ADD (new records; a loaded one brings its history). */
static int insert(tm_memory *mem, draft *d, bool add_event) {
  entry en = {0};
  arena fresh = {0};
  int rc;
  if (d->vec && (rc = reserve_codes(mem, mem->n_e + 1, d->dim, &fresh))) return rc;
  if ((rc = reserve_shared(mem, N_SCOPE))) goto fail;
  if (d->text) {
    if ((rc = text_terms(mem, d->text, &en.terms, &en.tfs, &en.n_terms, &en.length))) goto fail;
    if ((rc = reserve_postings(mem, en.terms, en.n_terms))) goto fail;
  }
  if (add_event) {
    if (!(en.events = tm_malloc(2 * sizeof *en.events))) goto oom;
    en.cap_events = 2;
    char *copy = tm_strdup(d->text);
    if (!copy) goto oom;
    en.events[en.n_events++] = (event){EV_ADD, NULL, copy, d->created};
  } else {
    en.events = d->events;
    en.n_events = en.cap_events = d->n_events;
    d->events = NULL;
    d->n_events = 0;
  }
  en.id = d->id;
  en.text = d->text;
  for (int s = 0; s < N_SCOPE; s++)
    if (d->scope[s]) en.scope[s] = share(mem, d->scope[s]);
  en.metadata = d->metadata;
  en.created = d->created;
  en.updated = d->updated;
  en.vec = d->vec;
  memset(d, 0, sizeof *d);
  uint32_t doc = (uint32_t)mem->n_e++;
  mem->e[doc] = en;
  map_put(mem, &mem->ids, entry_key, doc);
  if (en.vec) write_codes(mem, &fresh, doc);
  if (en.text) {
    post(mem, doc);
    mem->n_live++;
    if (en.vec) mem->n_vecs++;
  }
  keep_hot(mem, doc);
  return TM_OK;
oom:
  rc = tm_fail(&mem->base, TM_ENOMEM, "out of memory");
fail:
  free_arena(&fresh);
  tm_free(en.terms);
  tm_free(en.tfs);
  if (add_event) {
    for (uint32_t i = 0; i < en.n_events; i++) free_event(&en.events[i]);
    tm_free(en.events);
  }
  return rc;
}

static int reserve_entries(tm_memory *mem, size_t more) {
  if (more > TM_MAX_MEMORY_RECORDS || mem->n_e > TM_MAX_MEMORY_RECORDS - more)
    return tm_fail(&mem->base, TM_ERANGE, "more than TM_MAX_MEMORY_RECORDS (%zu) records",
                   TM_MAX_MEMORY_RECORDS);
  if (mem->n_e + more > mem->cap_e) {
    size_t cap = mem->cap_e ? mem->cap_e : 64;
    while (cap < mem->n_e + more) cap *= 2;
    entry *e = tm_realloc(mem->e, cap * sizeof *e);
    if (!e) return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
    mem->e = e; /* larger is harmless: cap_e counts what both arrays hold */
    for (int k = 0; k < N_HOT; k++) {
      float *col = tm_realloc(mem->hot[k], cap * sizeof *col);
      if (!col) return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
      mem->hot[k] = col;
    }
    uint8_t *st = tm_realloc(mem->state, cap);
    if (!st) return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
    mem->state = st;
    for (int s = 0; s < N_SCOPE; s++) {
      const char **col = tm_realloc(mem->scope_of[s], cap * sizeof *col);
      if (!col) return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
      mem->scope_of[s] = col;
    }
    mem->cap_e = cap;
  }
  return map_reserve(mem, &mem->ids, entry_key, more);
}

int tm_memory_add(tm_memory *mem, const char *records_json, char **out) {
  if (out) *out = NULL;
  if (!mem || !out) return TM_EINVAL;
  tm_base_reset(&mem->base);
  cJSON *arr = NULL, *result = NULL;
  draft *drafts = NULL;
  size_t n = 0, added = 0;
  uint32_t dim = mem->n_vecs ? mem->dim : 0;
  int rc = tm_json_parse(&mem->base, records_json, "memory records", &arr);
  if (rc) return rc;
  if (!cJSON_IsArray(arr)) {
    rc = tm_fail(&mem->base, TM_EFORMAT, "memory records: expected an array");
    goto done;
  }
  n = (size_t)cJSON_GetArraySize(arr);
  if ((rc = reserve_entries(mem, n))) goto done;
  if (!(drafts = tm_malloc((n ? n : 1) * sizeof *drafts))) goto oom;
  memset(drafts, 0, (n ? n : 1) * sizeof *drafts);
  size_t i = 0;
  for (const cJSON *r = arr->child; r; r = r->next, i++) {
    char p[TM_PATH_MAX];
    tm_path_index(p, "", i);
    if ((rc = read_draft(mem, r, p, false, &dim, &drafts[i]))) goto done;
    if (map_get(mem, &mem->ids, entry_key, drafts[i].id) >= 0) {
      rc = tm_fail(&mem->base, TM_EINVAL, "%s.id: \"%s\" is already used", p, drafts[i].id);
      goto done;
    }
    for (size_t k = 0; k < i; k++)
      if (strcmp(drafts[k].id, drafts[i].id) == 0) {
        rc = tm_fail(&mem->base, TM_EINVAL, "%s.id: \"%s\" is given twice", p, drafts[i].id);
        goto done;
      }
  }
  if (!(result = cJSON_CreateArray())) goto oom;
  for (i = 0; i < n; i++) {
    if ((rc = insert(mem, &drafts[i], true))) goto done;
    added++;
  }
  for (i = 0; i < n; i++) {
    cJSON *o = record_json(mem, &mem->e[mem->n_e - n + i], false);
    if (!o || !cJSON_AddItemToArray(result, o)) {
      cJSON_Delete(o);
      goto oom;
    }
  }
  if ((rc = tm_json_print(&mem->base, result, out))) goto done;
  if (dim) mem->dim = dim;
  goto done;
oom:
  rc = tm_fail(&mem->base, TM_ENOMEM, "out of memory");
done:
  if (rc)
    while (added--) drop_last(mem);
  for (i = 0; drafts && i < n; i++) free_draft(&drafts[i]);
  tm_free(drafts);
  cJSON_Delete(result);
  cJSON_Delete(arr);
  return rc;
}

/* ------------------------------------------------------ update, delete -- */

static entry *live_entry(tm_memory *mem, const char *id) {
  long doc = id ? map_get(mem, &mem->ids, entry_key, id) : -1;
  entry *en = doc >= 0 ? &mem->e[doc] : NULL;
  if (!en || !en->text) {
    tm_fail(&mem->base, TM_ENOTFOUND, "no memory with id \"%s\"", id ? id : "(null)");
    return NULL;
  }
  return en;
}

int tm_memory_update(tm_memory *mem, const char *id, const char *patch_json, char **out) {
  if (out) *out = NULL;
  if (!mem || !out) return TM_EINVAL;
  tm_base_reset(&mem->base);
  cJSON *patch = NULL, *md = NULL;
  char *text = NULL, *old_copy = NULL, *new_copy = NULL;
  uint32_t *terms = NULL, *tfs = NULL, n_terms = 0, length = 0;
  float *vec = NULL;
  arena fresh = {0};
  entry *en = live_entry(mem, id);
  if (!en) return mem->base.code;
  uint32_t doc = (uint32_t)(en - mem->e);
  int rc = tm_json_parse(&mem->base, patch_json, "memory update", &patch);
  if (rc) return rc;
  if (!cJSON_IsObject(patch)) {
    rc = tm_fail(&mem->base, TM_EFORMAT, "memory update: expected an object");
    goto done;
  }
  static const char *const keys[] = {"text", "metadata", "embedding", NULL};
  if ((rc = only_keys(mem, patch, keys, "memory update"))) goto done;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(patch, "text");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(patch, "metadata");
  const cJSON *emb = cJSON_GetObjectItemCaseSensitive(patch, "embedding");
  bool new_text = false;
  if (t) {
    if ((rc = check_text(mem, t, "text"))) goto done;
    new_text = strcmp(t->valuestring, en->text) != 0;
  }
  if (m && (rc = check_metadata(mem, m, "metadata"))) goto done;
  uint32_t dim = mem->n_vecs - (en->vec ? 1 : 0) ? mem->dim : 0;
  if (emb && !cJSON_IsNull(emb) && (rc = read_vector(mem, emb, "embedding", &dim, &vec))) goto done;
  if (vec && (rc = reserve_codes(mem, (size_t)doc + 1, dim, &fresh))) goto done;
  if (m && !(md = cJSON_Duplicate(m, true))) goto oom;
  if (new_text) {
    if (!(text = tm_strdup(t->valuestring)) || !(old_copy = tm_strdup(en->text)) ||
        !(new_copy = tm_strdup(text)))
      goto oom;
    if ((rc = text_terms(mem, text, &terms, &tfs, &n_terms, &length))) goto done;
    if ((rc = reserve_postings(mem, terms, n_terms))) goto done;
    if ((rc = reserve_event(mem, en))) goto done;
  }
  double now = floor(tm_host_now_ms());
  /* The answer is written before the change, so that failing to write it
   * changes nothing; nothing after it fails. */
  entry view = *en;
  if (new_text) view.text = text;
  if (md) view.metadata = md;
  view.updated = now;
  if ((rc = finish(mem, record_json(mem, &view, false), out))) goto done;
  if (new_text) {
    unpost(mem, doc);
    tm_free(en->terms);
    tm_free(en->tfs);
    en->terms = terms;
    en->tfs = tfs;
    en->n_terms = n_terms;
    en->length = length;
    terms = tfs = NULL;
    post(mem, doc);
    en->events[en->n_events++] = (event){EV_UPDATE, old_copy, new_copy, now};
    old_copy = new_copy = NULL;
    tm_free(en->text);
    en->text = text;
    text = NULL;
  }
  if (md) {
    cJSON_Delete(en->metadata);
    en->metadata = md;
    md = NULL;
  }
  if (vec || (new_text && en->vec) || (emb && cJSON_IsNull(emb))) {
    if (en->vec) mem->n_vecs--;
    tm_free(en->vec);
    en->vec = vec;
    if (vec) {
      mem->n_vecs++;
      mem->dim = dim;
      write_codes(mem, &fresh, doc);
    }
    vec = NULL;
  }
  keep_hot(mem, doc);
  en->updated = now;
  goto done;
oom:
  rc = tm_fail(&mem->base, TM_ENOMEM, "out of memory");
done:
  cJSON_Delete(patch);
  cJSON_Delete(md);
  tm_free(text);
  tm_free(old_copy);
  tm_free(new_copy);
  tm_free(terms);
  tm_free(tfs);
  tm_free(vec);
  free_arena(&fresh);
  return rc;
}

/* The entry of `id`, live or deleted, whose scope has each field of
 * `scope_json` (NULL: any); else NULL, failed with TM_ENOTFOUND (another
 * scope's record is as unknown as one never stored) or the scope's error. */
static entry *scoped_entry(tm_memory *mem, const char *id, const char *scope_json) {
  const char *want[N_SCOPE] = {0};
  cJSON *j = NULL;
  long doc = -1;
  int rc = TM_OK;
  if (scope_json && !(rc = tm_json_parse(&mem->base, scope_json, "scope", &j)))
    rc = read_scope(mem, j, "scope", (char **)want, false);
  if (rc == TM_OK) {
    doc = id ? map_get(mem, &mem->ids, entry_key, id) : -1;
    for (int s = 0; doc >= 0 && s < N_SCOPE; s++)
      if (want[s] && (!mem->e[doc].scope[s] || strcmp(want[s], mem->e[doc].scope[s]) != 0)) doc = -1;
    if (doc < 0) tm_fail(&mem->base, TM_ENOTFOUND, "no memory with id \"%s\"", id ? id : "(null)");
  }
  cJSON_Delete(j);
  return doc >= 0 ? &mem->e[doc] : NULL;
}

/* Deletes a live entry: its text moves into a DELETE event. */
static int delete_entry(tm_memory *mem, entry *en) {
  int rc = reserve_event(mem, en);
  if (rc) return rc;
  unpost(mem, (uint32_t)(en - mem->e));
  en->events[en->n_events++] = (event){EV_DELETE, en->text, NULL, floor(tm_host_now_ms())};
  en->text = NULL; /* moved into the event */
  if (en->vec) mem->n_vecs--;
  clear_content(en);
  keep_hot(mem, (uint32_t)(en - mem->e));
  mem->n_live--;
  return TM_OK;
}

int tm_memory_delete(tm_memory *mem, const char *id) {
  if (!mem) return TM_EINVAL;
  tm_base_reset(&mem->base);
  entry *en = live_entry(mem, id);
  return en ? delete_entry(mem, en) : mem->base.code;
}

int tm_memory_forget(tm_memory *mem, const char *id, const char *scope_json) {
  if (!mem) return TM_EINVAL;
  tm_base_reset(&mem->base);
  entry *en = scoped_entry(mem, id, scope_json);
  if (!en) return mem->base.code;
  int rc = en->text ? delete_entry(mem, en) : TM_OK;
  if (rc) return rc;
  /* The events stay (what happened, and when), without a word of the text. */
  for (uint32_t i = 0; i < en->n_events; i++) {
    free_event(&en->events[i]);
    en->events[i].old_text = en->events[i].new_text = NULL;
  }
  return TM_OK;
}

/* ------------------------------------------------------------ reading -- */

int tm_memory_get(tm_memory *mem, const char *id, char **out) {
  if (out) *out = NULL;
  if (!mem || !out) return TM_EINVAL;
  tm_base_reset(&mem->base);
  entry *en = live_entry(mem, id);
  if (!en) return mem->base.code;
  return finish(mem, record_json(mem, en, false), out);
}

int tm_memory_history(tm_memory *mem, const char *id, const char *scope_json, char **out) {
  if (out) *out = NULL;
  if (!mem || !out) return TM_EINVAL;
  tm_base_reset(&mem->base);
  entry *en = scoped_entry(mem, id, scope_json);
  return en ? finish(mem, history_json(en), out) : mem->base.code;
}

/* A parsed filter; strings borrowed from the JSON it was read from. */
typedef struct filter {
  const char *scope[N_SCOPE];
  const char *shared[N_SCOPE]; /* the index's string equal to scope[s] */
  bool none;                   /* a scope value no record has */
  const cJSON *metadata;
  double from, to;
} filter;

static int read_filter(tm_memory *mem, const cJSON *f, const char *path, filter *out) {
  memset(out, 0, sizeof *out);
  out->from = -INFINITY;
  out->to = INFINITY;
  if (!f || cJSON_IsNull(f)) return TM_OK;
  if (!cJSON_IsObject(f)) return tm_fail(&mem->base, TM_EFORMAT, "%s: expected an object", path);
  static const char *const keys[] = {"scope", "metadata", "created_from", "created_to", NULL};
  int rc = only_keys(mem, f, keys, path);
  if (rc) return rc;
  char p[TM_PATH_MAX];
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(f, "scope");
  if (s && !cJSON_IsNull(s)) {
    tm_path_field(p, path, "scope");
    if ((rc = read_scope(mem, s, p, (char **)out->scope, false))) return rc;
    for (int k = 0; k < N_SCOPE; k++) {
      long v = out->scope[k] ? map_get(mem, &mem->scopes, scope_key, out->scope[k]) : -1;
      if (v >= 0) out->shared[k] = mem->ss[v].s;
      else if (out->scope[k]) out->none = true;
    }
  }
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(f, "metadata");
  if (m && !cJSON_IsNull(m)) {
    tm_path_field(p, path, "metadata");
    if (!cJSON_IsObject(m)) return tm_fail(&mem->base, TM_EFORMAT, "%s: expected an object", p);
    out->metadata = m;
  }
  const char *names[2] = {"created_from", "created_to"};
  double *dst[2] = {&out->from, &out->to};
  for (int k = 0; k < 2; k++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, names[k]);
    if (!v || cJSON_IsNull(v)) continue;
    tm_path_field(p, path, names[k]);
    if ((rc = read_time(mem, v, p, dst[k]))) return rc;
  }
  return TM_OK;
}

static bool matches(const entry *en, const filter *f) {
  if (!en->text || f->none) return false;
  for (int s = 0; s < N_SCOPE; s++)
    if (f->scope[s] && en->scope[s] != f->shared[s]) return false;
  if (en->created < f->from || en->created > f->to) return false;
  if (f->metadata)
    for (const cJSON *k = f->metadata->child; k; k = k->next) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(en->metadata, k->string);
      if (!v || !cJSON_Compare(v, k, true)) return false;
    }
  return true;
}

int tm_memory_list(tm_memory *mem, const char *filter_json, char **out) {
  if (out) *out = NULL;
  if (!mem || !out) return TM_EINVAL;
  tm_base_reset(&mem->base);
  cJSON *fj = NULL, *arr = NULL;
  filter f;
  int rc;
  if (filter_json && (rc = tm_json_parse(&mem->base, filter_json, "memory filter", &fj))) return rc;
  if ((rc = read_filter(mem, fj, "filter", &f))) goto done;
  if (!(arr = cJSON_CreateArray())) goto oom;
  for (size_t i = 0; i < mem->n_e; i++) {
    if (!matches(&mem->e[i], &f)) continue;
    cJSON *o = record_json(mem, &mem->e[i], false);
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      goto oom;
    }
  }
  rc = finish(mem, arr, out);
  arr = NULL;
  goto done;
oom:
  rc = tm_fail(&mem->base, TM_ENOMEM, "out of memory");
done:
  cJSON_Delete(arr);
  cJSON_Delete(fj);
  return rc;
}

/* ------------------------------------------------------------- search -- */

typedef struct hit {
  float score;
  uint32_t doc;
} hit;

/* True when a ranks after b: lower score, or equal and newer. */
static bool worse(hit a, hit b) { return a.score < b.score || (a.score == b.score && a.doc > b.doc); }

/* A bounded min-heap (the worst kept hit on top) of at most k hits. */
typedef struct heap {
  hit *h;
  size_t n, k;
} heap;

static void heap_push(heap *hp, hit x) {
  if (hp->n == hp->k) {
    if (!worse(hp->h[0], x)) return;
    hp->h[0] = x; /* replace the worst, then sift down */
    for (size_t i = 0;;) {
      size_t l = 2 * i + 1, r = l + 1, w = i;
      if (l < hp->n && worse(hp->h[l], hp->h[w])) w = l;
      if (r < hp->n && worse(hp->h[r], hp->h[w])) w = r;
      if (w == i) break;
      hit tmp = hp->h[i];
      hp->h[i] = hp->h[w];
      hp->h[w] = tmp;
      i = w;
    }
    return;
  }
  size_t i = hp->n++;
  hp->h[i] = x;
  while (i && worse(hp->h[i], hp->h[(i - 1) / 2])) {
    hit tmp = hp->h[i];
    hp->h[i] = hp->h[(i - 1) / 2];
    hp->h[(i - 1) / 2] = tmp;
    i = (i - 1) / 2;
  }
}

static int cmp_hits(const void *a, const void *b) {
  hit x = *(const hit *)a, y = *(const hit *)b;
  return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

static int cmp_docs(const void *a, const void *b) {
  uint32_t x = ((const hit *)a)->doc, y = ((const hit *)b)->doc;
  return (x > y) - (x < y);
}

/* Keeps the first occurrence of each of ids[0..n) in place, in order, and
 * returns how many: the query's terms are summed in the query's order, so
 * equal indexes give bit-equal scores whatever their term numbering. */
static size_t distinct_in_order(uint32_t *ids, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    bool seen = false;
    for (size_t j = 0; j < k && !seen; j++) seen = ids[j] == ids[i];
    if (!seen) ids[k++] = ids[i];
  }
  return k;
}

/* The hybrid score of a record from its BM25 score and its cosine (or a
 * bound of it: the score only grows with `cos`). */
static float fuse(float bm, float best, float cos) {
  return (float)(HYBRID_WEIGHT * (best > 0 ? bm / best : 0) +
                 (1 - HYBRID_WEIGHT) * (cos > 0 ? cos : 0));
}

/* What a hybrid search compares the records with. */
typedef struct hybrid_query {
  const float *vec;      /* the unit query vector */
  tm_query_codes codes;  /* its codes, vec ~ scale * codes, with |error| <= err */
  float scale, err;
  uint32_t split;        /* nib_split of the dimension */
  int32_t bias_head;     /* tm_query_quads of the codes before `split` */
  float tail;            /* the norm of vec past `split`, rounded up */
  const hit *lead;       /* the records of best BM25 score, by document */
  size_t n_lead;
  float best;            /* the best BM25 score in the filter */
  double min_score;
  bool exact;            /* no first pass: every record is scored exactly */
} hybrid_query;

/* The bound of a record's cosine from the dot product of its codes (scale
 * `scale`, error `err`) with the query's: with v ~ v' and u ~ u' (the
 * codes), |u.v - u'.v'| <= |u.(v - v')| + |(u - u').v'| <= err + q->err *
 * |v'|, and |v'| <= 1 + err. `slack` is above float rounding. */
static float cos_bound(const hybrid_query *q, int32_t dot, float scale, float err, float slack) {
  return (float)dot * q->scale * scale + err + q->err * (1 + err) + slack;
}

/* Whether any of the four records from d0 (live, with vectors) may reach
 * `kth`, from the dot products of their first q->split codes: over the
 * rest, |u.v| is at most |u| |v| there. cos_bound and the fusion of the
 * first pass, four records at a time. */
static bool head_may_reach(const tm_memory *mem, const hybrid_query *q, size_t d0,
                           const int32_t dots[4], float bm_weight, float slack, float kth) {
  const float *scale = mem->hot[HOT_SCALE] + d0, *err = mem->hot[HOT_ERR] + d0,
              *tail = mem->hot[HOT_TAIL] + d0, *bm = mem->scratch + d0;
  float cos_weight = (float)(1 - HYBRID_WEIGHT);
#ifdef __wasm_simd128__
  v128_t e = wasm_v128_load(err);
  v128_t cos = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_v128_load(dots)),
                                             wasm_f32x4_splat(q->scale)),
                              wasm_v128_load(scale));
  cos = wasm_f32x4_add(wasm_f32x4_add(cos, e),
                       wasm_f32x4_mul(wasm_f32x4_splat(q->err), wasm_f32x4_add(wasm_f32x4_splat(1), e)));
  cos = wasm_f32x4_add(wasm_f32x4_add(cos, wasm_f32x4_splat(slack)),
                       wasm_f32x4_mul(wasm_f32x4_splat(q->tail), wasm_v128_load(tail)));
  cos = wasm_f32x4_pmax(cos, wasm_f32x4_splat(0));
  v128_t ub = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(bm), wasm_f32x4_splat(bm_weight)),
                                            wasm_f32x4_mul(wasm_f32x4_splat(cos_weight), cos)),
                             wasm_f32x4_splat(slack));
  return wasm_v128_any_true(wasm_f32x4_ge(ub, wasm_f32x4_splat(kth)));
#else
  bool reach = false;
  for (int j = 0; j < 4; j++) {
    float cos = cos_bound(q, dots[j], scale[j], err[j], slack) + q->tail * tail[j];
    reach |= bm[j] * bm_weight + cos_weight * (cos > 0 ? cos : 0) + slack >= kth;
  }
  return reach;
#endif
}

static void score_into(tm_memory *mem, const hybrid_query *q, uint32_t d, heap *hp) {
  const float *v = mem->e[d].vec;
  float s = fuse(mem->scratch[d], q->best, v ? tm_dot(q->vec, v, mem->dim) : 0);
  if (s > 0 && s >= q->min_score) heap_push(hp, (hit){s, d});
}

/* Ranks the records of the filter by hybrid score into hp (the method is
 * at the top of this file); `cand` has room for the first pass's picks.
 * Leaves the BM25 accumulators zero. Never fails. */
static void hybrid_rank(tm_memory *mem, const filter *f, const hybrid_query *q, heap *cand,
                        heap *hp) {
  float *bound = mem->bounds;
  uint32_t cdim = mem->codes.dim;
  size_t hstride = head_size(cdim), tstride = tail_size(cdim);
  /* Above the rounding of float arithmetic (the dot product's included),
   * far below the codes' error. */
  float slack = 1e-4f + 1e-7f * (float)mem->dim;
  float bm_weight = q->best > 0 ? (float)HYBRID_WEIGHT / q->best : 0;
  float cos_weight = (float)(1 - HYBRID_WEIGHT);
  /* The records of best BM25 score first: the k-th of their exact scores
   * is a floor for the results' that lets the first pass stop half way
   * through a record (below). */
  for (size_t i = 0; i < q->n_lead; i++) score_into(mem, q, q->lead[i].doc, hp);
  const float lead_kth = hp->n == hp->k ? hp->h[0].score : -INFINITY;
  size_t lead = 0, pruned = 0;
  /* The first pass reads the copies in columns; the exact search (what the
   * tests compare it with) the entries, so that a stale copy shows. */
  bool deep = f->metadata || f->from > -INFINITY || f->to < INFINITY;
  /* Four records at a time, so that four dot products share the query's
   * loads when all four have a vector (the usual case). */
  for (size_t d0 = 0; d0 < mem->n_e; d0 += 4) {
    size_t n = mem->n_e - d0 < 4 ? mem->n_e - d0 : 4, with_vec = 0;
    bool in[4] = {false};
    int32_t dots[4] = {0};
    /* Four live records with vectors (the usual case) whose heads cannot
     * reach the floor are left there, before their filter is even read. */
    bool heads = !q->exact && q->split && lead_kth > -INFINITY && n == 4 &&
                 (mem->state[d0] & mem->state[d0 + 1] & mem->state[d0 + 2] & mem->state[d0 + 3]) ==
                     (HOT_LIVE | HOT_VEC);
    if (heads) {
      tm_dot_nibbles4(mem->codes.head + d0 * hstride, hstride, &q->codes, 0, q->split, q->bias_head, dots);
      if (!head_may_reach(mem, q, d0, dots, bm_weight, slack, lead_kth)) {
        for (size_t j = 0; j < 4; j++) bound[d0 + j] = -INFINITY;
        while (lead < q->n_lead && q->lead[lead].doc < d0 + 4) lead++; /* scored already */
        pruned += 4;
        continue;
      }
    }
    for (size_t j = 0; j < n; j++) {
      size_t d = d0 + j;
      if (q->exact) {
        const entry *en = &mem->e[d];
        in[j] = en->text && matches(en, f);
        continue;
      }
      if (lead < q->n_lead && q->lead[lead].doc == d) {
        lead++; /* scored already */
        continue;
      }
      in[j] = (mem->state[d] & HOT_LIVE) && !f->none;
      for (int s = 0; s < N_SCOPE && in[j]; s++)
        in[j] = !f->scope[s] || mem->scope_of[s][d] == f->shared[s];
      if (in[j] && deep) in[j] = matches(&mem->e[d], f);
      with_vec += in[j] && (mem->state[d] & HOT_VEC);
    }
    if (!q->exact && with_vec == 4) {
      if (!heads)
        tm_dot_nibbles4(mem->codes.head + d0 * hstride, hstride, &q->codes, 0, q->split, q->bias_head, dots);
      tm_dot_nibbles4(mem->codes.tail + d0 * tstride, tstride, &q->codes, q->split, cdim,
                      q->codes.bias4 - q->bias_head, dots);
    } else if (!q->exact) {
      if (heads) memset(dots, 0, sizeof dots);
      for (size_t j = 0; j < n; j++)
        if (in[j] && mem->e[d0 + j].vec)
          dots[j] = tm_dot_nibbles(mem->codes.head + (d0 + j) * hstride, &q->codes, 0, q->split, q->bias_head) +
                    tm_dot_nibbles(mem->codes.tail + (d0 + j) * tstride, &q->codes, q->split, cdim,
                                   q->codes.bias4 - q->bias_head);
    }
    for (size_t j = 0; j < n; j++) {
      size_t d = d0 + j;
      float ub = -INFINITY, bm = mem->scratch[d];
      if (in[j] && q->exact) {
        ub = INFINITY;
      } else if (in[j] && (bm > 0 || (mem->state[d] & HOT_VEC))) {
        float cos = mem->state[d] & HOT_VEC
                        ? cos_bound(q, dots[j], mem->hot[HOT_SCALE][d], mem->hot[HOT_ERR][d], slack)
                        : 0;
        /* fuse() in float arithmetic; `slack` is far above its rounding. */
        ub = bm * bm_weight + cos_weight * (cos > 0 ? cos : 0) + slack;
        if (ub >= q->min_score && ub >= lead_kth &&
            (cand->n < cand->k || !worse((hit){ub, (uint32_t)d}, cand->h[0])))
          heap_push(cand, (hit){ub, (uint32_t)d});
      }
      bound[d] = ub;
    }
  }
  for (size_t i = 0; i < cand->n; i++) {
    bound[cand->h[i].doc] = -INFINITY; /* scored now */
    score_into(mem, q, cand->h[i].doc, hp);
  }
  mem->last = (tm_search_stats){.lead = q->n_lead, .pruned = pruned, .candidates = cand->n};
  /* The k-th score only rises, so this scores every record that can still
   * enter the results (usually none). `kth` is a local copy of the k-th
   * score, so that the scan is a tight loop over the bounds. A record whose
   * nibbles' bound reaches it gets the tighter bound of its int8 codes
   * first. The bound of a record the candidates left out is at most their
   * worst's (or below the floor), so without the exact search the scan is
   * needed only when that reaches the k-th score. */
  float kth = hp->n == hp->k ? hp->h[0].score : -INFINITY;
  bool scan = q->exact || (cand->n == cand->k && !(cand->h[0].score < kth));
  for (size_t d = 0; scan && d < mem->n_e; d++) {
    float ub = bound[d];
    if (ub < kth || !(ub > 0 && ub >= q->min_score)) continue;
    const entry *en = &mem->e[d];
    if (!q->exact && en->vec) {
      mem->last.checked++;
      int32_t dot = tm_dot_codes(mem->codes.codes + d * cdim, &q->codes);
      float cos = cos_bound(q, dot, en->qscale, en->qerr, slack);
      ub = mem->scratch[d] * bm_weight + cos_weight * (cos > 0 ? cos : 0) + slack;
      if (ub < kth || !(ub > 0 && ub >= q->min_score)) continue;
    }
    score_into(mem, q, (uint32_t)d, hp);
    if (!q->exact) mem->last.rescored++;
    if (hp->n == hp->k) kth = hp->h[0].score;
  }
  memset(mem->scratch, 0, mem->n_e * sizeof *mem->scratch);
}

void tm_memory_search_stats(const tm_memory *mem, tm_search_stats *stats) {
  *stats = mem->last;
}

static int search(tm_memory *mem, const char *query_json, bool exact, char **out) {
  if (out) *out = NULL;
  if (!mem || !out) return TM_EINVAL;
  tm_base_reset(&mem->base);
  cJSON *q = NULL, *arr = NULL;
  word_list wl = {.mem = mem, .create = false};
  float *qvec = NULL;
  int16_t *qcodes = NULL;
  heap hp = {0}, cand = {0}, lead = {0};
  filter f;
  bool accumulated = false;
  size_t n_known = 0;
  int rc = tm_json_parse(&mem->base, query_json, "memory search", &q);
  if (rc) return rc;
  if (!cJSON_IsObject(q)) {
    rc = tm_fail(&mem->base, TM_EFORMAT, "memory search: expected an object");
    goto done;
  }
  static const char *const keys[] = {"query", "filter", "top_k", "min_score", "embedding", NULL};
  if ((rc = only_keys(mem, q, keys, "memory search"))) goto done;
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(q, "query");
  if (!cJSON_IsString(text)) {
    rc = tm_fail(&mem->base, TM_EFORMAT, "query: expected a string");
    goto done;
  }
  size_t qlen = strlen(text->valuestring);
  if (qlen > TM_MAX_MEMORY_TEXT_BYTES) {
    rc = tm_fail(&mem->base, TM_ERANGE, "query: %zu bytes is more than TM_MAX_MEMORY_TEXT_BYTES (%zu)",
                 qlen, TM_MAX_MEMORY_TEXT_BYTES);
    goto done;
  }
  if (!tm_utf8_valid(text->valuestring, qlen)) {
    rc = tm_fail(&mem->base, TM_EFORMAT, "query: not valid UTF-8");
    goto done;
  }
  size_t top_k = TM_DEFAULT_TOP_K;
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(q, "top_k");
  if (k && !cJSON_IsNull(k)) {
    if (!cJSON_IsNumber(k) || k->valuedouble != floor(k->valuedouble) || k->valuedouble < 1 ||
        k->valuedouble > TM_MAX_TOP_K) {
      rc = tm_fail(&mem->base, TM_EINVAL, "top_k: expected an integer from 1 to %d", TM_MAX_TOP_K);
      goto done;
    }
    top_k = (size_t)k->valuedouble;
  }
  double min_score = 0;
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(q, "min_score");
  if (ms && !cJSON_IsNull(ms)) {
    if (!cJSON_IsNumber(ms) || !isfinite(ms->valuedouble)) {
      rc = tm_fail(&mem->base, TM_EINVAL, "min_score: expected a finite number");
      goto done;
    }
    min_score = ms->valuedouble;
  }
  if ((rc = read_filter(mem, cJSON_GetObjectItemCaseSensitive(q, "filter"), "filter", &f))) goto done;
  const cJSON *emb = cJSON_GetObjectItemCaseSensitive(q, "embedding");
  if (emb && !cJSON_IsNull(emb)) {
    uint32_t dim = mem->n_vecs ? mem->dim : 0;
    if ((rc = read_vector(mem, emb, "embedding", &dim, &qvec))) goto done;
    if (!mem->n_vecs) { /* nothing to compare with: BM25 alone */
      tm_free(qvec);
      qvec = NULL;
    }
  }
  if (tm_words(text->valuestring, qlen, add_word, &wl)) {
    rc = wl.rc;
    goto done;
  }
  if (!wl.words) {
    rc = tm_fail(&mem->base, TM_EEMPTY, "query: no word to search for");
    goto done;
  }
  if (mem->cap_scratch < mem->n_e) {
    float *s = tm_malloc(mem->n_e * sizeof *s);
    if (!s) goto oom;
    memset(s, 0, mem->n_e * sizeof *s);
    tm_free(mem->scratch);
    mem->scratch = s;
    mem->cap_scratch = mem->n_e;
  }
  if (!(hp.h = tm_malloc(top_k * sizeof *hp.h))) goto oom;
  hp.k = top_k;
  hybrid_query hq = {.vec = qvec, .min_score = min_score, .exact = exact};
  if (qvec) {
    /* The bounds array is sized like the accumulators, but only here. */
    if (mem->cap_bounds < mem->n_e) {
      float *b = tm_malloc(mem->cap_scratch * sizeof *b);
      if (!b) goto oom;
      tm_free(mem->bounds);
      mem->bounds = b;
      mem->cap_bounds = mem->cap_scratch;
    }
    cand.k = top_k * 8 > HYBRID_CANDIDATES ? top_k * 8 : HYBRID_CANDIDATES;
    if (!(cand.h = tm_malloc(cand.k * sizeof *cand.h))) goto oom;
    lead.k = exact ? 0 : HYBRID_LEAD * top_k;
    if (!(lead.h = tm_malloc(HYBRID_LEAD * top_k * sizeof *lead.h))) goto oom;
    /* The codes, then their pairs (tm_query_pairs) and quads (tm_query_quads). */
    if (!(qcodes = tm_malloc(3 * (size_t)mem->dim * sizeof *qcodes))) goto oom;
    hq.scale = tm_quantize(qvec, mem->dim, TM_CODE_MAX, NULL, qcodes, &hq.err);
    int16_t *quads = qcodes + 2 * (size_t)mem->dim;
    hq.split = nib_split(mem->dim);
    hq.bias_head = tm_query_quads(qcodes, hq.split, quads);
    hq.tail = tail_norm(qvec, hq.split, mem->dim);
    hq.codes = (tm_query_codes){.codes = qcodes, .pairs = qcodes + mem->dim, .quads = quads,
                                .n = mem->dim,
                                .bias = tm_query_pairs(qcodes, mem->dim, qcodes + mem->dim),
                                .bias4 = tm_query_quads(qcodes, mem->dim, quads)};
  }

  /* BM25 into the scratch accumulators; each query term counts once. */
  float *acc = mem->scratch;
  n_known = distinct_in_order(wl.ids, wl.n);
  accumulated = true;
  double n_docs = (double)mem->n_live;
  double avgdl = mem->n_live ? mem->total_length / n_docs : 1;
  if (avgdl <= 0) avgdl = 1;
  for (size_t i = 0; i < n_known; i++) {
    const term *t = &mem->t[wl.ids[i]];
    if (!t->n) continue;
    double idf = log(1.0 + (n_docs - t->n + 0.5) / (t->n + 0.5));
    for (uint32_t p = 0; p < t->n; p++) {
      const entry *en = &mem->e[t->p[p].doc];
      double tf = t->p[p].tf;
      double norm = BM25_K1 * (1.0 - BM25_B + BM25_B * en->length / avgdl);
      acc[t->p[p].doc] += (float)(idf * tf * (BM25_K1 + 1.0) / (tf + norm));
    }
  }
  if (!qvec) {
    for (size_t i = 0; i < n_known; i++) {
      const term *t = &mem->t[wl.ids[i]];
      for (uint32_t p = 0; p < t->n; p++) {
        uint32_t doc = t->p[p].doc;
        float s = acc[doc];
        if (s == 0) continue; /* already taken by an earlier term */
        acc[doc] = 0;
        if (s >= min_score && matches(&mem->e[doc], &f)) heap_push(&hp, (hit){s, doc});
      }
    }
  } else {
    /* The best BM25 score of the filter, and the records that lead by it. */
    for (size_t d = 0; d < mem->n_e; d++) {
      hit x = {acc[d], (uint32_t)d};
      if (!(x.score > 0)) continue;
      bool leads = lead.k && (lead.n < lead.k || worse(lead.h[0], x));
      if ((x.score > hq.best || leads) && matches(&mem->e[d], &f)) {
        if (x.score > hq.best) hq.best = x.score;
        if (leads) heap_push(&lead, x);
      }
    }
    qsort(lead.h, lead.n, sizeof *lead.h, cmp_docs);
    hq.lead = lead.h;
    hq.n_lead = lead.n;
    hybrid_rank(mem, &f, &hq, &cand, &hp);
  }
  qsort(hp.h, hp.n, sizeof *hp.h, cmp_hits);
  if (!(arr = cJSON_CreateArray())) goto oom;
  for (size_t i = 0; i < hp.n; i++) {
    cJSON *o = record_json(mem, &mem->e[hp.h[i].doc], false);
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      goto oom;
    }
    if (add_item(o, "score", cJSON_CreateNumber((double)hp.h[i].score))) goto oom;
  }
  rc = finish(mem, arr, out);
  arr = NULL;
  goto done;
oom:
  rc = tm_fail(&mem->base, TM_ENOMEM, "out of memory");
done:
  /* The accumulators are zero again whatever happened. */
  if (accumulated && rc)
    for (size_t i = 0; i < n_known; i++) {
      const term *t = &mem->t[wl.ids[i]];
      for (uint32_t p = 0; p < t->n; p++) mem->scratch[t->p[p].doc] = 0;
    }
  tm_free(hp.h);
  tm_free(cand.h);
  tm_free(lead.h);
  tm_free(qcodes);
  tm_free(qvec);
  tm_free(wl.ids);
  cJSON_Delete(arr);
  cJSON_Delete(q);
  return rc;
}

int tm_memory_search(tm_memory *mem, const char *query_json, char **out) {
  return search(mem, query_json, false, out);
}

int tm_memory_search_exact(tm_memory *mem, const char *query_json, char **out) {
  return search(mem, query_json, true, out);
}

/* ------------------------------------------------------ serialization -- */

int tm_memory_serialize(tm_memory *mem, char **out) {
  if (out) *out = NULL;
  if (!mem || !out) return TM_EINVAL;
  tm_base_reset(&mem->base);
  cJSON *o = cJSON_CreateObject(), *records = cJSON_CreateArray();
  if (!o || !records || add_str(o, "type", "memory_index") ||
      add_item(o, "version", cJSON_CreateNumber(1)) ||
      add_item(o, "dimension", cJSON_CreateNumber(mem->n_vecs ? mem->dim : 0)))
    goto oom;
  int bad = add_item(o, "records", records);
  records = NULL;
  if (bad) goto oom;
  cJSON *recs = cJSON_GetObjectItemCaseSensitive(o, "records");
  for (size_t i = 0; i < mem->n_e; i++) {
    const entry *en = &mem->e[i];
    cJSON *r;
    if (en->text) {
      r = record_json(mem, en, true);
    } else {
      r = cJSON_CreateObject();
      if (r && (add_str(r, "id", en->id) || add_item(r, "deleted", cJSON_CreateTrue()) ||
                add_item(r, "scope", scope_json(en)))) {
        cJSON_Delete(r);
        r = NULL;
      }
    }
    if (!r || !cJSON_AddItemToArray(recs, r)) {
      cJSON_Delete(r);
      goto oom;
    }
    if (add_item(r, "history", history_json(en))) goto oom;
  }
  return finish(mem, o, out);
oom:
  cJSON_Delete(records);
  cJSON_Delete(o);
  return tm_fail(&mem->base, TM_ENOMEM, "out of memory");
}

int tm_memory_load(tm_memory *mem, const char *index_json) {
  if (!mem) return TM_EINVAL;
  tm_base_reset(&mem->base);
  cJSON *j = NULL;
  tm_memory *fresh = NULL;
  draft d = {0};
  int rc = tm_json_parse(&mem->base, index_json, "memory index", &j);
  if (rc) return rc;
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  const cJSON *version = cJSON_GetObjectItemCaseSensitive(j, "version");
  const cJSON *dimension = cJSON_GetObjectItemCaseSensitive(j, "dimension");
  const cJSON *records = cJSON_GetObjectItemCaseSensitive(j, "records");
  if (!cJSON_IsObject(j) || !cJSON_IsString(type) || strcmp(type->valuestring, "memory_index") != 0) {
    rc = tm_fail(&mem->base, TM_EFORMAT, "type: expected \"memory_index\"");
    goto done;
  }
  if (!cJSON_IsNumber(version) || version->valuedouble != 1) {
    rc = tm_fail(&mem->base, TM_EFORMAT, "version: expected 1");
    goto done;
  }
  if (!cJSON_IsNumber(dimension) || dimension->valuedouble < 0 ||
      dimension->valuedouble > TM_MAX_EMBEDDING_DIM ||
      dimension->valuedouble != floor(dimension->valuedouble)) {
    rc = tm_fail(&mem->base, TM_EFORMAT, "dimension: expected an integer from 0 to %d",
                 TM_MAX_EMBEDDING_DIM);
    goto done;
  }
  if (!cJSON_IsArray(records)) {
    rc = tm_fail(&mem->base, TM_EFORMAT, "records: expected an array");
    goto done;
  }
  if (!(fresh = tm_memory_new())) {
    rc = tm_fail(&mem->base, TM_ENOMEM, "out of memory");
    goto done;
  }
  uint32_t dim = (uint32_t)dimension->valuedouble;
  size_t n = (size_t)cJSON_GetArraySize(records), i = 0;
  if ((rc = reserve_entries(fresh, n))) {
    tm_fail_from(&mem->base, &fresh->base);
    goto done;
  }
  for (const cJSON *r = records->child; r; r = r->next, i++) {
    char p[TM_PATH_MAX];
    tm_path_index(p, "records", i);
    if ((rc = read_draft(fresh, r, p, true, &dim, &d))) break;
    if (map_get(fresh, &fresh->ids, entry_key, d.id) >= 0) {
      rc = tm_fail(&fresh->base, TM_EFORMAT, "%s.id: \"%s\" appears twice", p, d.id);
      break;
    }
    if ((rc = insert(fresh, &d, false))) break;
  }
  if (rc) {
    tm_fail_from(&mem->base, &fresh->base);
    goto done;
  }
  fresh->dim = dim;
  /* Swap the contents; the old ones are freed with `fresh`. */
  tm_memory tmp = *mem;
  *mem = *fresh;
  mem->base = tmp.base;
  tmp.base = fresh->base;
  *fresh = tmp;
done:
  free_draft(&d);
  tm_memory_free(fresh);
  cJSON_Delete(j);
  return rc;
}
