/*
 * The decisions of a persistent thread (tm_journal_* of threadmem.h): what a
 * turn appends, drops, rewrites and expires, and whether a read of stored
 * records may be believed. Every storage backend carries these out the same
 * way; none has a rule of its own.
 */
#include <math.h>

#include "core.h"

static int is_seq(double v) { return v >= 0 && v <= TM_MAX_LOG_SEQ && floor(v) == v; }

int tm_journal_plan(tm_ctx *ctx, tm_journal_turn *t) {
  if (!ctx) return TM_EINVAL;
  tm_base *b = tm_ctx_base(ctx);
  tm_base_reset(b);
  if (!t) return tm_fail(b, TM_EINVAL, "no turn");
  if (!is_seq(t->first_seq) || !is_seq(t->next_seq) || !is_seq(t->turn) || !is_seq(t->kept) ||
      !is_seq(t->ttl_seconds) || t->next_seq < 1)
    return tm_fail(b, TM_EINVAL, "turn: seqs and counts must be integers in [0, 2^53-1]");
  if (t->first_seq > t->next_seq)
    return tm_fail(b, TM_EINVAL, "turn: first_seq %.0f is past next_seq %.0f", t->first_seq,
                   t->next_seq);
  if (t->turn > TM_MAX_LOG_SEQ - t->next_seq)
    return tm_fail(b, TM_ERANGE, "turn: log sequence above 2^53-1");
  double next = t->next_seq + t->turn;
  double first = t->first_seq > 0 ? t->first_seq : (t->turn > 0 ? t->next_seq : 0);
  double held = first > 0 ? next - first : 0;
  if (t->kept > held)
    return tm_fail(b, TM_EINVAL, "turn: %.0f kept of %.0f held", t->kept, held);

  t->drop_before = 0;
  t->rewrite_from = 0;
  t->expire = t->ttl_seconds;
  t->first_after = first;
  t->next_after = next;
  if (t->limited == 0 || t->kept == held) return TM_OK;
  double keep_from = next - t->kept;
  if (t->in_place != 0) {
    /* The newest record always stays: it carries the sequence on for the
     * next writer, even when the limits evicted every message. */
    if (keep_from > next - 1) keep_from = next - 1;
    if (keep_from > first) {
      t->drop_before = keep_from;
      t->first_after = keep_from;
    }
  } else if (t->kept > 0 && held > TM_JOURNAL_COMPACT_FACTOR * t->kept) {
    /* Rewriting is O(kept): doing it only once storage holds a multiple of
     * what is kept keeps appends O(turn) on average and storage bounded. */
    t->rewrite_from = keep_from;
  }
  return TM_OK;
}

enum { TAIL_CLEAN = 0, TAIL_TORN = 1, TAIL_CORRUPT = 2 };

int tm_journal_verdict(tm_ctx *ctx, tm_journal_read *r) {
  if (!ctx) return TM_EINVAL;
  tm_base *b = tm_ctx_base(ctx);
  tm_base_reset(b);
  if (!r) return tm_fail(b, TM_EINVAL, "no read");
  int stream = r->entries == -1;
  if (!is_seq(r->expect_seq) || !is_seq(r->key_seq) || !is_seq(r->count) ||
      !is_seq(r->first_seq) || !is_seq(r->last_seq) || !is_seq(r->valid_bytes) ||
      !is_seq(r->offset) || (!stream && !is_seq(r->entries)) ||
      !(r->tail == TAIL_CLEAN || r->tail == TAIL_TORN || r->tail == TAIL_CORRUPT))
    return tm_fail(b, TM_EINVAL, "read: fields must be integers in range");
  if (r->count > 0 && r->last_seq - r->first_seq + 1 != r->count)
    return tm_fail(b, TM_EINVAL, "read: %.0f records from seq %.0f to %.0f", r->count,
                   r->first_seq, r->last_seq);

  r->skip = 0;
  r->cut_at = -1;
  if (r->tail == TAIL_CORRUPT)
    return tm_fail(b, TM_EFORMAT, "the record at byte %.0f fails its integrity check",
                   r->offset + r->valid_bytes);
  if (r->tail == TAIL_TORN) {
    /* In a stream, a record cut short is an append that never finished, so
     * never acknowledged; where each record was stored whole it is damage. */
    if (!stream) return tm_fail(b, TM_EFORMAT, "a record fails its integrity check");
    r->cut_at = r->offset + r->valid_bytes;
  }
  if (!stream && (r->count != r->entries || (r->count > 0 && r->key_seq > 0 && r->first_seq != r->key_seq)))
    return tm_fail(b, TM_EFORMAT, "records out of sequence");

  if (r->expect_seq == 0) {
    r->first_after = r->count > 0 ? r->first_seq : 0;
    r->next_after = r->count > 0 ? r->last_seq + 1 : 1;
    return TM_OK;
  }
  r->first_after = 0; /* unchanged by an incremental read */
  r->next_after = r->expect_seq;
  if (r->count == 0) return TM_OK;
  /* Records the mirror already holds may come first (a backend that cannot
   * seek to a seq); a gap, or records older than those, is damage. */
  if (r->first_seq > r->expect_seq || r->last_seq + 1 < r->expect_seq)
    return tm_fail(b, TM_EFORMAT, "records out of sequence: seqs %.0f-%.0f after %.0f",
                   r->first_seq, r->last_seq, r->expect_seq - 1);
  r->skip = r->expect_seq - r->first_seq;
  r->next_after = r->last_seq + 1;
  return TM_OK;
}
