/* The decisions of a persistent thread (src/journal.c): the plan of a turn
 * (what it drops, rewrites, expires) and the verdict of a read. */
#include "host_native.h"
#include "test.h"

static tm_journal_turn turn(double first, double next, double n, double kept, int limited,
                            int in_place) {
  tm_journal_turn t = {0};
  t.first_seq = first;
  t.next_seq = next;
  t.turn = n;
  t.kept = kept;
  t.limited = limited;
  t.in_place = in_place;
  return t;
}

TEST(an_unlimited_turn_appends_and_drops_nothing) {
  tm_ctx *c = tm_ctx_new();
  tm_journal_turn t = turn(0, 1, 2, 2, 0, 1);
  t.ttl_seconds = 60;
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_OK);
  CHECK_EQ_INT(t.drop_before, 0);
  CHECK_EQ_INT(t.rewrite_from, 0);
  CHECK_EQ_INT(t.expire, 60);
  CHECK_EQ_INT(t.first_after, 1);
  CHECK_EQ_INT(t.next_after, 3);
  t = turn(5, 9, 1, 5, 0, 0);
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_OK);
  CHECK_EQ_INT(t.first_after, 5);
  CHECK_EQ_INT(t.next_after, 10);
  CHECK_EQ_INT(t.expire, 0);
  tm_ctx_free(c);
}

TEST(storage_that_drops_in_place_holds_exactly_what_is_kept) {
  tm_ctx *c = tm_ctx_new();
  /* Records 1-3 held, one more, three kept: record 1 goes with the append. */
  tm_journal_turn t = turn(1, 4, 1, 3, 1, 1);
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_OK);
  CHECK_EQ_INT(t.drop_before, 2);
  CHECK_EQ_INT(t.rewrite_from, 0);
  CHECK_EQ_INT(t.first_after, 2);
  CHECK_EQ_INT(t.next_after, 5);
  /* Nothing evicted: nothing dropped. */
  t = turn(2, 5, 1, 4, 1, 1);
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_OK);
  CHECK_EQ_INT(t.drop_before, 0);
  CHECK_EQ_INT(t.first_after, 2);
  tm_ctx_free(c);
}

TEST(the_newest_record_stays_when_every_message_is_evicted) {
  tm_ctx *c = tm_ctx_new();
  tm_journal_turn t = turn(1, 4, 1, 0, 1, 1);
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_OK);
  CHECK_EQ_INT(t.drop_before, 4);
  CHECK_EQ_INT(t.first_after, 4);
  CHECK_EQ_INT(t.next_after, 5);
  /* A rewriting storage never rewrites to nothing. */
  t = turn(1, 9, 1, 0, 1, 0);
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_OK);
  CHECK_EQ_INT(t.rewrite_from, 0);
  tm_ctx_free(c);
}

TEST(a_rewriting_storage_compacts_past_the_factor_only) {
  tm_ctx *c = tm_ctx_new();
  /* 3 kept: up to 2 * 3 = 6 held stay; the 7th record triggers the rewrite. */
  tm_journal_turn t = turn(1, 6, 1, 3, 1, 0);
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_OK);
  CHECK_EQ_INT(t.rewrite_from, 0);
  CHECK_EQ_INT(t.drop_before, 0);
  CHECK_EQ_INT(t.first_after, 1);
  t = turn(1, 7, 1, 3, 1, 0);
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_OK);
  CHECK_EQ_INT(t.rewrite_from, 5);
  CHECK_EQ_INT(t.drop_before, 0);
  CHECK_EQ_INT(t.first_after, 1); /* until the rewrite has succeeded */
  CHECK_EQ_INT(t.next_after, 8);
  CHECK_EQ_INT(TM_JOURNAL_COMPACT_FACTOR, 2);
  tm_ctx_free(c);
}

TEST(a_bad_turn_is_rejected_with_its_outputs_unchanged) {
  tm_ctx *c = tm_ctx_new();
  tm_journal_turn t = turn(1, 4, 1, 5, 1, 1); /* 5 kept of 4 held */
  t.drop_before = 77;
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_EINVAL);
  CHECK_EQ_INT(t.drop_before, 77);
  CHECK_CONTAINS(tm_errmsg(c), "kept");
  t = turn(5, 4, 1, 1, 1, 1);
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_EINVAL);
  t = turn(0, 0, 1, 1, 0, 1);
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_EINVAL);
  t = turn(0, 1.5, 1, 1, 0, 1);
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_EINVAL);
  t = turn(0, TM_MAX_LOG_SEQ, 2, 2, 0, 1);
  CHECK_EQ_INT(tm_journal_plan(c, &t), TM_ERANGE);
  CHECK_EQ_INT(tm_journal_plan(c, NULL), TM_EINVAL);
  CHECK_EQ_INT(tm_journal_plan(NULL, &t), TM_EINVAL);
  tm_ctx_free(c);
}

static tm_journal_read scanned(double expect, double entries, double count, double first,
                               double last) {
  tm_journal_read r = {0};
  r.expect_seq = expect;
  r.entries = entries;
  r.key_seq = first;
  r.count = count;
  r.first_seq = first;
  r.last_seq = last;
  return r;
}

TEST(a_full_load_takes_the_records_as_they_are) {
  tm_ctx *c = tm_ctx_new();
  tm_journal_read r = scanned(0, 3, 3, 7, 9);
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_OK);
  CHECK_EQ_INT(r.skip, 0);
  CHECK_EQ_INT(r.cut_at, -1);
  CHECK_EQ_INT(r.first_after, 7);
  CHECK_EQ_INT(r.next_after, 10);
  r = scanned(0, 0, 0, 0, 0); /* nothing stored: the sequence starts at 1 */
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_OK);
  CHECK_EQ_INT(r.first_after, 0);
  CHECK_EQ_INT(r.next_after, 1);
  tm_ctx_free(c);
}

TEST(a_catch_up_continues_the_sequence_and_skips_what_is_mirrored) {
  tm_ctx *c = tm_ctx_new();
  tm_journal_read r = scanned(5, 2, 2, 5, 6);
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_OK);
  CHECK_EQ_INT(r.skip, 0);
  CHECK_EQ_INT(r.next_after, 7);
  r = scanned(5, 4, 4, 3, 6); /* 3 and 4 are mirrored already */
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_OK);
  CHECK_EQ_INT(r.skip, 2);
  CHECK_EQ_INT(r.next_after, 7);
  r = scanned(5, 0, 0, 0, 0); /* nothing new */
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_OK);
  CHECK_EQ_INT(r.next_after, 5);
  r = scanned(5, 2, 2, 6, 7); /* seq 5 is missing */
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(c), "out of sequence");
  r = scanned(5, 2, 2, 1, 2); /* older than what is mirrored */
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_EFORMAT);
  tm_ctx_free(c);
}

TEST(a_torn_tail_is_cut_in_a_stream_and_damage_elsewhere) {
  tm_ctx *c = tm_ctx_new();
  tm_journal_read r = scanned(4, -1, 2, 4, 5);
  r.offset = 100;
  r.valid_bytes = 80;
  r.tail = 1;
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_OK);
  CHECK_EQ_INT(r.cut_at, 180);
  CHECK_EQ_INT(r.next_after, 6);
  /* Where each record was stored whole, a torn one is damage. */
  r = scanned(0, 3, 2, 1, 2);
  r.tail = 1;
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_EFORMAT);
  /* A corrupt last record is never cut, in a stream either. */
  r = scanned(0, -1, 2, 1, 2);
  r.valid_bytes = 64;
  r.tail = 2;
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(c), "byte 64");
  tm_ctx_free(c);
}

TEST(entries_must_be_the_records_their_keys_name) {
  tm_ctx *c = tm_ctx_new();
  tm_journal_read r = scanned(0, 3, 3, 2, 4);
  r.key_seq = 1; /* keyed from 1, records from 2 */
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_EFORMAT);
  r = scanned(0, 3, 3, 2, 4);
  r.key_seq = 0; /* entries without keys (a list): no key to check */
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_OK);
  r = scanned(0, 3, 2, 1, 2); /* an entry that is no record */
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_EFORMAT);
  r = scanned(0, 2, 3, 1, 2); /* count and seqs disagree */
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_EINVAL);
  r = scanned(0, 2, 2, 1, 2);
  r.tail = 3;
  CHECK_EQ_INT(tm_journal_verdict(c, &r), TM_EINVAL);
  CHECK_EQ_INT(tm_journal_verdict(c, NULL), TM_EINVAL);
  tm_ctx_free(c);
}

int main(void) {
  test_init();
  hn_reset();
  RUN(an_unlimited_turn_appends_and_drops_nothing);
  RUN(storage_that_drops_in_place_holds_exactly_what_is_kept);
  RUN(the_newest_record_stays_when_every_message_is_evicted);
  RUN(a_rewriting_storage_compacts_past_the_factor_only);
  RUN(a_bad_turn_is_rejected_with_its_outputs_unchanged);
  RUN(a_full_load_takes_the_records_as_they_are);
  RUN(a_catch_up_continues_the_sequence_and_skips_what_is_mirrored);
  RUN(a_torn_tail_is_cut_in_a_stream_and_damage_elsewhere);
  RUN(entries_must_be_the_records_their_keys_name);
  return test_summary();
}
