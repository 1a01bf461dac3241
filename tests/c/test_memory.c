/*
 * The memory index: records and their history, scope / metadata / date
 * filters, BM25 ranking, hybrid search, serialization round trips, limits,
 * bad input, and allocation failure at every step.
 */
#include <math.h>

#include "cJSON.h"
#include "host_native.h"
#include "memory.h"
#include "test.h"

/* Adds one record, returns its id in `id` (64 bytes) or "" on failure. */
static int add1(tm_memory *m, const char *json_record, char *id) {
  char buf[20000];
  snprintf(buf, sizeof buf, "[%s]", json_record);
  char *out = NULL;
  int rc = tm_memory_add(m, buf, &out);
  if (id) id[0] = '\0';
  if (rc == TM_OK && id) {
    cJSON *arr = cJSON_Parse(out);
    cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id");
    snprintf(id, 64, "%s", v ? v->valuestring : "");
    cJSON_Delete(arr);
  }
  tm_free(out);
  return rc;
}

/* The texts of a JSON array of records joined with "|", in order. */
static void texts_of(const char *json, char *dst, size_t n) {
  cJSON *arr = cJSON_Parse(json);
  size_t o = 0;
  dst[0] = '\0';
  for (cJSON *r = arr ? arr->child : NULL; r; r = r->next) {
    cJSON *t = cJSON_GetObjectItem(r, "text");
    o += (size_t)snprintf(dst + o, n - o, "%s%s", o ? "|" : "", t ? t->valuestring : "?");
  }
  cJSON_Delete(arr);
}

static int search_is(tm_memory *m, const char *query, const char *want, int line) {
  char *out = NULL;
  char got[4096] = "(failed)";
  int rc = tm_memory_search(m, query, &out);
  if (rc == TM_OK) texts_of(out, got, sizeof got);
  else snprintf(got, sizeof got, "(failed: %s)", tm_errmsg(m));
  tm_free(out);
  if (strcmp(got, want) != 0) {
    fprintf(stderr, "line %d: search %s gave \"%s\", want \"%s\"\n", line, query, got, want);
    return 0;
  }
  return 1;
}
#define SEARCH_IS(m, q, want) CHECK(search_is(m, q, want, __LINE__))

static int list_is(tm_memory *m, const char *filter, const char *want, int line) {
  char *out = NULL;
  char got[4096] = "(failed)";
  int rc = tm_memory_list(m, filter, &out);
  if (rc == TM_OK) texts_of(out, got, sizeof got);
  else snprintf(got, sizeof got, "(failed: %s)", tm_errmsg(m));
  tm_free(out);
  if (strcmp(got, want) != 0) {
    fprintf(stderr, "line %d: list %s gave \"%s\", want \"%s\"\n", line, filter ? filter : "(all)",
            got, want);
    return 0;
  }
  return 1;
}
#define LIST_IS(m, f, want) CHECK(list_is(m, f, want, __LINE__))

#define U(t) "{\"text\":\"" t "\",\"scope\":{\"user_id\":\"u1\"}}"

TEST(add_get_update_delete_history) {
  hn_reset();
  hn_set_now(1767225600000.0); /* 2026-01-01 */
  tm_memory *m = tm_memory_new();
  char id[64], id2[64];
  CHECK_EQ_INT(add1(m, "{\"text\":\"I like tea\",\"scope\":{\"user_id\":\"u1\",\"agent_id\":\"a\"},"
                       "\"metadata\":{\"topic\":\"drinks\"}}",
                    id),
               TM_OK);
  CHECK_EQ_INT(strlen(id), 36); /* a UUID */
  CHECK_EQ_INT(add1(m, "{\"id\":\"mine\",\"text\":\"I live in Oslo\",\"scope\":{\"user_id\":\"u1\"},"
                       "\"created_at\":\"2025-06-01T12:00:00Z\"}",
                    id2),
               TM_OK);
  CHECK_STR(id2, "mine");
  CHECK_EQ_INT(tm_memory_count(m), 2);

  char *out = NULL;
  CHECK_EQ_INT(tm_memory_get(m, "mine", &out), TM_OK);
  CHECK_STR(out, "{\"id\":\"mine\",\"text\":\"I live in Oslo\",\"scope\":{\"user_id\":\"u1\"},"
                 "\"metadata\":{},\"created_at\":\"2025-06-01T12:00:00.000Z\","
                 "\"updated_at\":\"2025-06-01T12:00:00.000Z\"}");
  tm_free(out);

  hn_set_now(1767225660000.0);
  CHECK_EQ_INT(tm_memory_update(m, "mine", "{\"text\":\"I live in Bergen\",\"metadata\":{\"k\":1}}", &out),
               TM_OK);
  CHECK_CONTAINS(out, "\"text\":\"I live in Bergen\"");
  CHECK_CONTAINS(out, "\"metadata\":{\"k\":1}");
  CHECK_CONTAINS(out, "\"updated_at\":\"2026-01-01T00:01:00.000Z\"");
  tm_free(out);
  SEARCH_IS(m, "{\"query\":\"Bergen\"}", "I live in Bergen");
  SEARCH_IS(m, "{\"query\":\"Oslo\"}", "");

  CHECK_EQ_INT(tm_memory_delete(m, "mine"), TM_OK);
  CHECK_EQ_INT(tm_memory_count(m), 1);
  CHECK_EQ_INT(tm_memory_get(m, "mine", &out), TM_ENOTFOUND);
  CHECK(out == NULL);
  CHECK_EQ_INT(tm_memory_delete(m, "mine"), TM_ENOTFOUND);
  CHECK_EQ_INT(tm_memory_update(m, "mine", "{\"text\":\"x\"}", &out), TM_ENOTFOUND);
  SEARCH_IS(m, "{\"query\":\"Bergen live\"}", "");

  CHECK_EQ_INT(tm_memory_history(m, "mine", NULL, &out), TM_OK);
  CHECK_STR(out, "[{\"event\":\"ADD\",\"new_text\":\"I live in Oslo\",\"at\":\"2025-06-01T12:00:00.000Z\"},"
                 "{\"event\":\"UPDATE\",\"old_text\":\"I live in Oslo\",\"new_text\":\"I live in Bergen\","
                 "\"at\":\"2026-01-01T00:01:00.000Z\"},"
                 "{\"event\":\"DELETE\",\"old_text\":\"I live in Bergen\",\"at\":\"2026-01-01T00:01:00.000Z\"}]");
  tm_free(out);
  CHECK_EQ_INT(tm_memory_history(m, "never", NULL, &out), TM_ENOTFOUND);
  /* A deleted record keeps its scope: another scope's history call finds
   * nothing, as for an id never stored. */
  CHECK_EQ_INT(tm_memory_history(m, "mine", "{\"user_id\":\"u1\"}", &out), TM_OK);
  CHECK_CONTAINS(out, "\"event\":\"DELETE\"");
  tm_free(out);
  CHECK_EQ_INT(tm_memory_history(m, "mine", "{\"user_id\":\"u2\"}", &out), TM_ENOTFOUND);
  CHECK(out == NULL);
  CHECK_EQ_INT(tm_memory_history(m, "mine", "{\"user_id\":\"u1\",\"agent_id\":\"a\"}", &out), TM_ENOTFOUND);
  CHECK_EQ_INT(tm_memory_history(m, id, "{\"user_id\":\"u1\",\"agent_id\":\"a\"}", &out), TM_OK);
  tm_free(out);
  CHECK_EQ_INT(tm_memory_history(m, id, "{\"agent_id\":\"b\"}", &out), TM_ENOTFOUND);
  CHECK_EQ_INT(tm_memory_history(m, "mine", "{\"user\":\"u1\"}", &out), TM_EINVAL);
  CHECK_EQ_INT(tm_memory_history(m, "mine", "[]", &out), TM_EFORMAT);
  CHECK_EQ_INT(tm_memory_history(m, "mine", "{", &out), TM_EPARSE);
  CHECK(out == NULL);
  /* A deleted id stays taken: its history would be ambiguous. */
  CHECK_EQ_INT(add1(m, "{\"id\":\"mine\",\"text\":\"again\",\"scope\":{\"user_id\":\"u1\"}}", NULL),
               TM_EINVAL);
  /* The same text is no UPDATE event. */
  CHECK_EQ_INT(tm_memory_update(m, id, "{\"text\":\"I like tea\"}", &out), TM_OK);
  tm_free(out);
  CHECK_EQ_INT(tm_memory_history(m, id, NULL, &out), TM_OK);
  CHECK(strstr(out, "UPDATE") == NULL);
  tm_free(out);
  tm_memory_free(m);
}

TEST(forget_keeps_no_text) {
  hn_reset();
  hn_set_now(1767225600000.0);
  tm_memory *m = tm_memory_new();
  CHECK_EQ_INT(add1(m, "{\"id\":\"pin\",\"text\":\"my PIN is 4321\",\"scope\":{\"user_id\":\"u1\"}}", NULL), TM_OK);
  CHECK_EQ_INT(add1(m, "{\"id\":\"old\",\"text\":\"I live in Oslo\",\"scope\":{\"user_id\":\"u1\"}}", NULL), TM_OK);
  CHECK_EQ_INT(add1(m, "{\"id\":\"bob\",\"text\":\"Bob likes tea\",\"scope\":{\"user_id\":\"u2\"}}", NULL), TM_OK);
  char *out = NULL;
  CHECK_EQ_INT(tm_memory_update(m, "pin", "{\"text\":\"my PIN is 9876\"}", &out), TM_OK);
  tm_free(out);
  CHECK_EQ_INT(tm_memory_delete(m, "old"), TM_OK);

  /* Another scope's record, or one never stored, is not found; nothing changes. */
  CHECK_EQ_INT(tm_memory_forget(m, "bob", "{\"user_id\":\"u1\"}"), TM_ENOTFOUND);
  CHECK_EQ_INT(tm_memory_forget(m, "never", NULL), TM_ENOTFOUND);
  CHECK_EQ_INT(tm_memory_forget(m, "pin", "{\"user_id\":"), TM_EPARSE);
  CHECK_EQ_INT(tm_memory_count(m), 2);

  /* A live record and an already deleted one: gone, their history without text. */
  CHECK_EQ_INT(tm_memory_forget(m, "pin", "{\"user_id\":\"u1\"}"), TM_OK);
  CHECK_EQ_INT(tm_memory_forget(m, "old", NULL), TM_OK);
  CHECK_EQ_INT(tm_memory_count(m), 1);
  CHECK_EQ_INT(tm_memory_get(m, "pin", &out), TM_ENOTFOUND);
  SEARCH_IS(m, "{\"query\":\"PIN Oslo tea\"}", "Bob likes tea");
  CHECK_EQ_INT(tm_memory_history(m, "pin", "{\"user_id\":\"u1\"}", &out), TM_OK);
  CHECK_STR(out, "[{\"event\":\"ADD\",\"at\":\"2026-01-01T00:00:00.000Z\"},"
                 "{\"event\":\"UPDATE\",\"at\":\"2026-01-01T00:00:00.000Z\"},"
                 "{\"event\":\"DELETE\",\"at\":\"2026-01-01T00:00:00.000Z\"}]");
  tm_free(out);
  CHECK_EQ_INT(tm_memory_serialize(m, &out), TM_OK);
  CHECK(strstr(out, "PIN") == NULL && strstr(out, "Oslo") == NULL);
  CHECK_CONTAINS(out, "Bob likes tea");
  /* It loads back as it was; the id stays taken. */
  tm_memory *again = tm_memory_new();
  char *out2 = NULL;
  CHECK_EQ_INT(tm_memory_load(again, out), TM_OK);
  CHECK_EQ_INT(tm_memory_serialize(again, &out2), TM_OK);
  CHECK_STR(out2, out);
  CHECK_EQ_INT(add1(again, "{\"id\":\"pin\",\"text\":\"x\",\"scope\":{\"user_id\":\"u1\"}}", NULL), TM_EINVAL);
  tm_free(out);
  tm_free(out2);
  tm_memory_free(again);
  tm_memory_free(m);
}

TEST(batch_is_all_or_nothing) {
  hn_reset();
  tm_memory *m = tm_memory_new();
  char *out = NULL;
  CHECK_EQ_INT(tm_memory_add(m, "[" U("one") "," U("two") "]", &out), TM_OK);
  tm_free(out);
  /* The third record is bad: none of the batch is kept. */
  CHECK_EQ_INT(tm_memory_add(m, "[" U("three") "," U("four") ",{\"text\":\"x\"}]", &out), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(m), "[2].scope: missing");
  CHECK(out == NULL);
  CHECK_EQ_INT(tm_memory_count(m), 2);
  SEARCH_IS(m, "{\"query\":\"three four\"}", "");
  CHECK_EQ_INT(tm_memory_add(m, "[{\"id\":\"d\",\"text\":\"a\",\"scope\":{\"user_id\":\"u\"}},"
                                "{\"id\":\"d\",\"text\":\"b\",\"scope\":{\"user_id\":\"u\"}}]",
                             &out),
               TM_EINVAL);
  CHECK_CONTAINS(tm_errmsg(m), "given twice");
  LIST_IS(m, NULL, "one|two");
  tm_memory_free(m);
}

TEST(filters_by_scope_metadata_and_dates) {
  hn_reset();
  tm_memory *m = tm_memory_new();
  CHECK_EQ_INT(add1(m, "{\"text\":\"alice plain\",\"scope\":{\"user_id\":\"alice\"},\"created_at\":\"2025-01-10T00:00:00Z\"}", NULL), TM_OK);
  CHECK_EQ_INT(add1(m, "{\"text\":\"alice with agent\",\"scope\":{\"user_id\":\"alice\",\"agent_id\":\"helper\"},"
                       "\"metadata\":{\"kind\":\"pref\",\"n\":[1,2]},\"created_at\":\"2025-02-10T00:00:00Z\"}", NULL), TM_OK);
  CHECK_EQ_INT(add1(m, "{\"text\":\"alice agent thread\",\"scope\":{\"user_id\":\"alice\",\"agent_id\":\"helper\","
                       "\"thread_id\":\"t1\"},\"metadata\":{\"kind\":\"fact\"},\"created_at\":\"2025-03-10T00:00:00Z\"}", NULL), TM_OK);
  CHECK_EQ_INT(add1(m, "{\"text\":\"bob with agent\",\"scope\":{\"user_id\":\"bob\",\"agent_id\":\"helper\"},"
                       "\"metadata\":{\"kind\":\"pref\"},\"created_at\":\"2025-04-10T00:00:00Z\"}", NULL), TM_OK);
  CHECK_EQ_INT(add1(m, "{\"text\":\"agent only\",\"scope\":{\"agent_id\":\"helper\",\"application_id\":\"app\"},"
                       "\"created_at\":1746835200000}", NULL), TM_OK);

  LIST_IS(m, "{\"scope\":{\"user_id\":\"alice\"}}", "alice plain|alice with agent|alice agent thread");
  /* User and agent together: that scope's records, never nothing (Agent
   * Framework #6237), never another user's. */
  LIST_IS(m, "{\"scope\":{\"user_id\":\"alice\",\"agent_id\":\"helper\"}}",
          "alice with agent|alice agent thread");
  LIST_IS(m, "{\"scope\":{\"user_id\":\"bob\",\"agent_id\":\"helper\"}}", "bob with agent");
  LIST_IS(m, "{\"scope\":{\"agent_id\":\"helper\"}}",
          "alice with agent|alice agent thread|bob with agent|agent only");
  LIST_IS(m, "{\"scope\":{\"user_id\":\"alice\",\"thread_id\":\"t1\"}}", "alice agent thread");
  LIST_IS(m, "{\"scope\":{\"user_id\":\"carol\"}}", "");
  LIST_IS(m, "{\"scope\":{\"application_id\":\"app\",\"user_id\":null}}", "agent only");
  SEARCH_IS(m, "{\"query\":\"agent\",\"filter\":{\"scope\":{\"user_id\":\"alice\",\"agent_id\":\"helper\"}}}",
            "alice with agent|alice agent thread");
  SEARCH_IS(m, "{\"query\":\"agent\",\"filter\":{\"scope\":{\"user_id\":\"bob\"}}}", "bob with agent");

  LIST_IS(m, "{\"metadata\":{\"kind\":\"pref\"}}", "alice with agent|bob with agent");
  LIST_IS(m, "{\"metadata\":{\"n\":[1,2]}}", "alice with agent");
  LIST_IS(m, "{\"metadata\":{\"n\":[2,1]}}", "");
  LIST_IS(m, "{\"metadata\":{\"kind\":\"pref\"},\"scope\":{\"user_id\":\"bob\"}}", "bob with agent");

  LIST_IS(m, "{\"created_from\":\"2025-02-10T00:00:00Z\",\"created_to\":\"2025-04-10T00:00:00.000Z\"}",
          "alice with agent|alice agent thread|bob with agent");
  LIST_IS(m, "{\"created_from\":1746835200000}", "agent only");
  LIST_IS(m, "{\"created_to\":\"2025-01-31T23:59:59.999Z\"}", "alice plain");

  char *out = NULL;
  CHECK_EQ_INT(tm_memory_list(m, "{\"scope\":{\"user\":\"alice\"}}", &out), TM_EINVAL);
  CHECK_CONTAINS(tm_errmsg(m), "filter.scope: unknown key \"user\"");
  CHECK_EQ_INT(tm_memory_list(m, "{\"created_from\":\"yesterday\"}", &out), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(m), "filter.created_from");
  CHECK_EQ_INT(tm_memory_list(m, "{\"created_to\":\"2025-02-30T00:00:00Z\"}", &out), TM_EFORMAT);
  CHECK_EQ_INT(tm_memory_list(m, "{\"scope\":{\"user_id\":5}}", &out), TM_EFORMAT);
  CHECK_EQ_INT(tm_memory_list(m, "[]", &out), TM_EFORMAT);
  CHECK(out == NULL);
  tm_memory_free(m);
}

TEST(bm25_ranking) {
  hn_reset();
  tm_memory *m = tm_memory_new();
  CHECK_EQ_INT(add1(m, U("the cat sat on the mat"), NULL), TM_OK);
  CHECK_EQ_INT(add1(m, U("the dog chased the cat around the garden for a very long time"), NULL), TM_OK);
  CHECK_EQ_INT(add1(m, U("the dog barked"), NULL), TM_OK);
  CHECK_EQ_INT(add1(m, U("the the the the"), NULL), TM_OK);
  CHECK_EQ_INT(add1(m, U("zebra"), NULL), TM_OK);
  /* Same term frequency: the shorter record first. */
  SEARCH_IS(m, "{\"query\":\"cat\"}", "the cat sat on the mat|the dog chased the cat around the garden for a very long time");
  /* Both terms beat one; among one-term matches the shortest wins; a rare
   * term outweighs a common one. */
  SEARCH_IS(m, "{\"query\":\"dog cat\",\"top_k\":2}",
            "the dog chased the cat around the garden for a very long time|the dog barked");
  SEARCH_IS(m, "{\"query\":\"zebra the\",\"top_k\":1}", "zebra");
  /* Case, punctuation and repeated query words do not matter. */
  SEARCH_IS(m, "{\"query\":\"ZEBRA?! zebra, Zebra\"}", "zebra");
  SEARCH_IS(m, "{\"query\":\"unknownword\"}", "");

  /* Exact BM25 for one hit: idf ln(1 + (5 - 1 + 0.5) / 1.5), tf 1,
   * |d| 1, avgdl (6 + 13 + 3 + 4 + 1) / 5. */
  char *out = NULL;
  CHECK_EQ_INT(tm_memory_search(m, "{\"query\":\"zebra\"}", &out), TM_OK);
  cJSON *arr = cJSON_Parse(out);
  double score = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "score")->valuedouble;
  double avgdl = 27.0 / 5, idf = log(1 + 4.5 / 1.5);
  double want = idf * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 1 / avgdl));
  CHECK(fabs(score - want) < 1e-5);
  cJSON_Delete(arr);
  tm_free(out);

  /* minScore cuts; topK bounds. */
  SEARCH_IS(m, "{\"query\":\"cat\",\"min_score\":100}", "");
  CHECK_EQ_INT(tm_memory_search(m, "{\"query\":\"cat\",\"top_k\":0}", &out), TM_EINVAL);
  CHECK_EQ_INT(tm_memory_search(m, "{\"query\":\"cat\",\"top_k\":1.5}", &out), TM_EINVAL);
  CHECK_EQ_INT(tm_memory_search(m, "{\"query\":\"cat\",\"top_k\":1001}", &out), TM_EINVAL);
  tm_memory_free(m);
}

TEST(words_of_any_script) {
  hn_reset();
  tm_memory *m = tm_memory_new();
  CHECK_EQ_INT(add1(m, U("Ich trinke gern CAFÉ in Zürich"), NULL), TM_OK);
  CHECK_EQ_INT(add1(m, U("Я ЛЮБЛЮ чай"), NULL), TM_OK);
  CHECK_EQ_INT(add1(m, U("我喜欢喝茶"), NULL), TM_OK);
  CHECK_EQ_INT(add1(m, U("room 101 is on floor 3"), NULL), TM_OK);
  SEARCH_IS(m, "{\"query\":\"café zürich\"}", "Ich trinke gern CAFÉ in Zürich");
  SEARCH_IS(m, "{\"query\":\"люблю\"}", "Я ЛЮБЛЮ чай");
  SEARCH_IS(m, "{\"query\":\"茶\"}", "我喜欢喝茶");
  SEARCH_IS(m, "{\"query\":\"101\"}", "room 101 is on floor 3");
  /* "cafe" without the accent is another word. */
  SEARCH_IS(m, "{\"query\":\"cafe\"}", "");
  tm_memory_free(m);
}

TEST(empty_query_is_its_own_code) {
  hn_reset();
  tm_memory *m = tm_memory_new();
  CHECK_EQ_INT(add1(m, U("something"), NULL), TM_OK);
  char *out = NULL;
  const char *empties[] = {"{\"query\":\"\"}", "{\"query\":\"   \"}", "{\"query\":\"?! ... --\"}"};
  for (size_t i = 0; i < 3; i++) {
    CHECK_EQ_INT(tm_memory_search(m, empties[i], &out), TM_EEMPTY);
    CHECK(out == NULL);
  }
  CHECK_STR(tm_code_name(TM_EEMPTY), "TM_EEMPTY");
  CHECK_EQ_INT(tm_memory_search(m, "{}", &out), TM_EFORMAT);
  CHECK_EQ_INT(tm_memory_search(m, "{\"query\":\"a\",\"bogus\":1}", &out), TM_EINVAL);
  /* An empty index still answers a real query, with nothing. */
  tm_memory *empty = tm_memory_new();
  SEARCH_IS(empty, "{\"query\":\"anything\"}", "");
  SEARCH_IS(empty, "{\"query\":\"anything\",\"embedding\":[1,0]}", "");
  tm_memory_free(empty);
  tm_memory_free(m);
}

#define V(t, v) "{\"text\":\"" t "\",\"scope\":{\"user_id\":\"u1\"},\"embedding\":" v "}"

TEST(hybrid_search) {
  hn_reset();
  tm_memory *m = tm_memory_new();
  CHECK_EQ_INT(add1(m, V("I own a golden retriever", "[1,0,0]"), NULL), TM_OK);
  CHECK_EQ_INT(add1(m, V("My favourite food is sushi", "[0,1,0]"), NULL), TM_OK);
  CHECK_EQ_INT(add1(m, V("I have a pet", "[0.6,0,0.8]"), NULL), TM_OK);
  CHECK_EQ_INT(add1(m, U("no vector about a dog"), NULL), TM_OK);
  /* "dog" is in one text only; the vector finds the retriever too (0.5 by
   * cosine, the same as the text's 0.5 by BM25: the older first), then the
   * pet (0.5 * 0.6). */
  SEARCH_IS(m, "{\"query\":\"dog\"}", "no vector about a dog");
  SEARCH_IS(m, "{\"query\":\"dog\",\"embedding\":[2,0,0]}",
            "I own a golden retriever|no vector about a dog|I have a pet");
  /* Scores: 0.5 * bm25/best + 0.5 * cosine. */
  char *out = NULL;
  CHECK_EQ_INT(tm_memory_search(m, "{\"query\":\"pet\",\"embedding\":[0,0,1],\"top_k\":3}", &out), TM_OK);
  cJSON *arr = cJSON_Parse(out);
  CHECK_EQ_INT(cJSON_GetArraySize(arr), 1);
  double s0 = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "score")->valuedouble;
  CHECK(fabs(s0 - (0.5 + 0.5 * 0.8)) < 1e-6);
  cJSON_Delete(arr);
  tm_free(out);

  CHECK_EQ_INT(tm_memory_search(m, "{\"query\":\"dog\",\"embedding\":[1,0]}", &out), TM_EDIMENSION);
  CHECK_CONTAINS(tm_errmsg(m), "dimension 2, but this index holds dimension 3");
  CHECK_EQ_INT(add1(m, V("four", "[1,0,0,0]"), NULL), TM_EDIMENSION);
  CHECK_EQ_INT(add1(m, V("none", "[]"), NULL), TM_EDIMENSION);
  CHECK_EQ_INT(add1(m, V("nan", "[1,\"x\",0]"), NULL), TM_EFORMAT);
  CHECK_EQ_INT(add1(m, V("b64", "\"!!!!\""), NULL), TM_EFORMAT);
  CHECK_EQ_INT(tm_memory_count(m), 4);
  /* A new text without a new vector drops the old vector. */
  CHECK_EQ_INT(tm_memory_list(m, NULL, &out), TM_OK);
  arr = cJSON_Parse(out);
  char id[64];
  snprintf(id, sizeof id, "%s", cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuestring);
  cJSON_Delete(arr);
  tm_free(out);
  CHECK_EQ_INT(tm_memory_update(m, id, "{\"text\":\"I own a cat\"}", &out), TM_OK);
  tm_free(out);
  SEARCH_IS(m, "{\"query\":\"sushi\",\"embedding\":[1,0,0]}", "My favourite food is sushi|I have a pet");
  tm_memory_free(m);

  /* The dimension is free again once no record holds a vector. */
  m = tm_memory_new();
  CHECK_EQ_INT(add1(m, "{\"id\":\"x\",\"text\":\"a\",\"scope\":{\"user_id\":\"u\"},\"embedding\":[1,2]}", NULL), TM_OK);
  CHECK_EQ_INT(tm_memory_delete(m, "x"), TM_OK);
  CHECK_EQ_INT(add1(m, V("b", "[1,2,3]"), NULL), TM_OK);
  tm_memory_free(m);
}

TEST(serialization_round_trip) {
  hn_reset();
  hn_set_now(1767225600000.0);
  tm_memory *m = tm_memory_new();
  CHECK_EQ_INT(add1(m, "{\"id\":\"a\",\"text\":\"I like tea\",\"scope\":{\"user_id\":\"u\",\"thread_id\":\"t\"},"
                       "\"metadata\":{\"x\":{\"y\":[1,null,\"z\"]}},\"embedding\":[0.1,0.2,0.3]}", NULL), TM_OK);
  CHECK_EQ_INT(add1(m, "{\"id\":\"b\",\"text\":\"Ünïcödé and 日本\",\"scope\":{\"agent_id\":\"g\"}}", NULL), TM_OK);
  CHECK_EQ_INT(add1(m, "{\"id\":\"c\",\"text\":\"gone soon\",\"scope\":{\"user_id\":\"u\"}}", NULL), TM_OK);
  char *out = NULL, *s1 = NULL, *s2 = NULL;
  CHECK_EQ_INT(tm_memory_update(m, "a", "{\"text\":\"I like green tea\",\"embedding\":[0.3,0.2,0.1]}", &out), TM_OK);
  tm_free(out);
  CHECK_EQ_INT(tm_memory_delete(m, "c"), TM_OK);
  CHECK_EQ_INT(tm_memory_serialize(m, &s1), TM_OK);
  CHECK_CONTAINS(s1, "{\"type\":\"memory_index\",\"version\":1,\"dimension\":3,\"records\":[");
  CHECK_CONTAINS(s1, "{\"id\":\"c\",\"deleted\":true,\"scope\":{\"user_id\":\"u\"},\"history\":[{\"event\":\"ADD\"");

  tm_memory *again = tm_memory_new();
  CHECK_EQ_INT(tm_memory_load(again, s1), TM_OK);
  CHECK_EQ_INT(tm_memory_serialize(again, &s2), TM_OK);
  CHECK_STR(s2, s1);
  CHECK_EQ_INT(tm_memory_count(again), 2);
  SEARCH_IS(again, "{\"query\":\"tea\",\"embedding\":[0.3,0.2,0.1]}", "I like green tea");
  SEARCH_IS(again, "{\"query\":\"日本\"}", "Ünïcödé and 日本");
  CHECK_EQ_INT(tm_memory_history(again, "c", "{\"user_id\":\"u\"}", &out), TM_OK);
  CHECK_CONTAINS(out, "\"event\":\"DELETE\",\"old_text\":\"gone soon\"");
  tm_free(out);
  CHECK_EQ_INT(tm_memory_history(again, "c", "{\"agent_id\":\"g\"}", &out), TM_ENOTFOUND);
  /* An index written before deleted records kept their scope still loads;
   * only an unscoped history call finds such a record. */
  tm_memory *older = tm_memory_new();
  CHECK_EQ_INT(tm_memory_load(older, "{\"type\":\"memory_index\",\"version\":1,\"dimension\":0,\"records\":"
                                     "[{\"id\":\"d\",\"deleted\":true,\"history\":[{\"event\":\"ADD\","
                                     "\"new_text\":\"x\",\"at\":\"2026-01-01T00:00:00Z\"}]}]}"),
               TM_OK);
  CHECK_EQ_INT(tm_memory_history(older, "d", NULL, &out), TM_OK);
  tm_free(out);
  CHECK_EQ_INT(tm_memory_history(older, "d", "{\"user_id\":\"u\"}", &out), TM_ENOTFOUND);
  tm_memory_free(older);
  /* The loaded index goes on working: ids stay taken, new adds index. */
  CHECK_EQ_INT(add1(again, "{\"id\":\"c\",\"text\":\"x\",\"scope\":{\"user_id\":\"u\"}}", NULL), TM_EINVAL);
  CHECK_EQ_INT(add1(again, V("new tea", "[1,1,1]"), NULL), TM_OK);
  SEARCH_IS(again, "{\"query\":\"tea\"}", "new tea|I like green tea");

  /* A bad index changes nothing and names the place. */
  struct { const char *json; int code; const char *msg; } bad[] = {
    {"{\"type\":\"x\"}", TM_EFORMAT, "type"},
    {"{\"type\":\"memory_index\",\"version\":2,\"dimension\":0,\"records\":[]}", TM_EFORMAT, "version"},
    {"{\"type\":\"memory_index\",\"version\":1,\"dimension\":0,\"records\":[{\"id\":\"a\"}]}", TM_EFORMAT, "records[0].history"},
    {"{\"type\":\"memory_index\",\"version\":1,\"dimension\":2,\"records\":[{\"id\":\"a\",\"text\":\"t\","
     "\"scope\":{\"user_id\":\"u\"},\"metadata\":{},\"created_at\":\"2025-01-01T00:00:00.000Z\","
     "\"updated_at\":\"2025-01-01T00:00:00.000Z\",\"embedding\":\"AACAPwAAAAAAAAAA\","
     "\"history\":[{\"event\":\"ADD\",\"new_text\":\"t\",\"at\":\"2025-01-01T00:00:00.000Z\"}]}]}",
     TM_EDIMENSION, "records[0].embedding"},
    {"{\"type\":\"memory_index\",\"version\":1,\"dimension\":0,\"records\":[{\"id\":\"a\",\"deleted\":true,"
     "\"history\":[{\"event\":\"MOVE\",\"at\":0}]}]}", TM_EFORMAT, "records[0].history[0].event"},
    {"{\"type\":\"memory_index\",\"version\":1,\"dimension\":0,\"records\":[{\"id\":\"a\",\"deleted\":true,"
     "\"history\":[{\"event\":\"ADD\",\"at\":0}]},{\"id\":\"a\",\"deleted\":true,"
     "\"history\":[{\"event\":\"ADD\",\"at\":0}]}]}", TM_EFORMAT, "appears twice"},
    {"{\"type\":\"memory_index\"", TM_EPARSE, "invalid JSON"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_EQ_INT(tm_memory_load(again, bad[i].json), bad[i].code);
    CHECK_CONTAINS(tm_errmsg(again), bad[i].msg);
  }
  CHECK_EQ_INT(tm_memory_count(again), 3);
  SEARCH_IS(again, "{\"query\":\"tea\"}", "new tea|I like green tea");
  tm_free(s1);
  tm_free(s2);
  tm_memory_free(again);
  tm_memory_free(m);
}

TEST(limits) {
  hn_reset();
  tm_memory *m = tm_memory_new();
  size_t n = TM_MAX_MEMORY_TEXT_BYTES;
  char *rec = malloc(n + 200);
  for (int over = 0; over <= 1; over++) {
    size_t len = n + (size_t)over, o = 0;
    o += (size_t)sprintf(rec, "[{\"text\":\"");
    for (size_t i = 0; i < len; i++) rec[o++] = i % 5 == 4 ? ' ' : 'a';
    o += (size_t)sprintf(rec + o, "\",\"scope\":{\"user_id\":\"u\"}}]");
    char *out = NULL;
    CHECK_EQ_INT(tm_memory_add(m, rec, &out), over ? TM_ERANGE : TM_OK);
    if (over) CHECK_CONTAINS(tm_errmsg(m), "TM_MAX_MEMORY_TEXT_BYTES");
    tm_free(out);
  }
  free(rec);
  CHECK_EQ_INT(tm_memory_count(m), 1);
  char *out = NULL;
  CHECK_EQ_INT(add1(m, "{\"text\":\"x\",\"scope\":{}}", NULL), TM_EINVAL);
  CHECK_EQ_INT(add1(m, "{\"text\":\"  \",\"scope\":{\"user_id\":\"u\"}}", NULL), TM_EINVAL);
  CHECK_EQ_INT(add1(m, "{\"text\":\"x\",\"scope\":{\"user_id\":\"\"}}", NULL), TM_EINVAL);
  CHECK_EQ_INT(add1(m, "{\"text\":\"x\",\"scope\":{\"user_id\":\"u\"},\"metadata\":[]}", NULL), TM_EFORMAT);
  CHECK_EQ_INT(add1(m, "{\"text\":\"x\",\"scope\":{\"user_id\":\"u\"},\"color\":1}", NULL), TM_EINVAL);
  CHECK_EQ_INT(add1(m, "{\"text\":7,\"scope\":{\"user_id\":\"u\"}}", NULL), TM_EFORMAT);
  CHECK_EQ_INT(tm_memory_add(m, "{\"text\":\"x\"}", &out), TM_EFORMAT);
  CHECK_EQ_INT(tm_memory_add(m, "not json", &out), TM_EPARSE);
  CHECK_EQ_INT(tm_memory_update(m, NULL, "{}", &out), TM_ENOTFOUND);
  CHECK_EQ_INT(tm_memory_add(NULL, "[]", &out), TM_EINVAL);
  CHECK(out == NULL);
  CHECK_EQ_INT(tm_memory_count(m), 1);
  tm_memory_free(m);
}

/* Every step of a life of an index under allocation failure: each failing
 * call reports TM_ENOMEM, changes nothing (the serialized index is the
 * same), and nothing leaks. */
static int oom_life(void) {
  tm_memory *m = tm_memory_new();
  if (!m) return TM_ENOMEM;
  char *out = NULL;
  int rc = tm_memory_add(m, "[{\"id\":\"a\",\"text\":\"alpha beta\",\"scope\":{\"user_id\":\"u\"},"
                            "\"metadata\":{\"k\":[1]},\"embedding\":[1,0]},"
                            "{\"id\":\"b\",\"text\":\"beta gamma\",\"scope\":{\"user_id\":\"u\"}}]",
                         &out);
  tm_free(out);
  if (!rc && !(rc = tm_memory_update(m, "a", "{\"text\":\"alpha delta\",\"embedding\":[0,1]}", &out)))
    tm_free(out);
  if (!rc) rc = tm_memory_delete(m, "b");
  if (!rc && !(rc = tm_memory_search(m, "{\"query\":\"alpha\",\"embedding\":[1,1]}", &out))) tm_free(out);
  if (!rc && !(rc = tm_memory_list(m, "{\"scope\":{\"user_id\":\"u\"}}", &out))) tm_free(out);
  if (!rc && !(rc = tm_memory_history(m, "a", "{\"user_id\":\"u\"}", &out))) tm_free(out);
  if (!rc && !(rc = tm_memory_history(m, "b", "{\"user_id\":\"u\"}", &out))) tm_free(out);
  if (!rc) rc = tm_memory_forget(m, "b", "{\"user_id\":\"u\"}");
  if (!rc) rc = tm_memory_forget(m, "a", NULL);
  char *state = NULL;
  if (!rc) rc = tm_memory_serialize(m, &state);
  if (!rc) rc = tm_memory_load(m, state);
  tm_free(state);
  tm_memory_free(m);
  return rc;
}

TEST(allocation_failures) {
  hn_reset();
  CHECK_OOM_SAFE(oom_life(), (void)0);

  /* Each kind of change, failing at each allocation, leaves the index as
   * it was. */
  const char *ops[] = {"add", "update", "delete", "load"};
  for (int op = 0; op < 4; op++) {
    for (long n = 0; n < 100000; n++) {
      tm_memory *m = tm_memory_new();
      char *out = NULL, *before = NULL, *after = NULL;
      int rc = tm_memory_add(m, "[{\"id\":\"a\",\"text\":\"one two\",\"scope\":{\"user_id\":\"u\"},\"embedding\":[1,0]}]", &out);
      tm_free(out);
      out = NULL;
      CHECK_EQ_INT(rc, TM_OK);
      tm_memory_serialize(m, &before);
      test_fail_after = n;
      if (op == 0) rc = tm_memory_add(m, "[{\"text\":\"two three\",\"scope\":{\"user_id\":\"u\"},\"embedding\":[0,1]},"
                                         "{\"text\":\"four five six\",\"scope\":{\"user_id\":\"v\"}}]", &out);
      else if (op == 1) rc = tm_memory_update(m, "a", "{\"text\":\"seven eight\",\"metadata\":{\"z\":1}}", &out);
      else if (op == 2) rc = tm_memory_delete(m, "a");
      else rc = tm_memory_load(m, before);
      test_fail_after = -1;
      tm_free(out);
      if (rc != TM_OK) {
        CHECK_EQ_INT(rc, TM_ENOMEM);
        tm_memory_serialize(m, &after);
        if (!before || !after || strcmp(before, after) != 0) {
          fprintf(stderr, "%s failing at allocation %ld changed the index\n", ops[op], n);
          CHECK(0);
        }
        SEARCH_IS(m, "{\"query\":\"one\"}", "one two");
      }
      tm_free(before);
      tm_free(after);
      tm_memory_free(m);
      if (rc == TM_OK) break;
    }
  }
}

/* Many adds, updates and deletes: the incremental index answers as an
 * index built from scratch over the same records. */
TEST(incremental_index_matches_rebuilt) {
  hn_reset();
  const char *words[] = {"red", "green", "blue", "cat", "dog", "tea", "oslo", "rome", "jazz", "rock"};
  tm_memory *m = tm_memory_new();
  unsigned seed = 7;
  char buf[512], id[64], *out = NULL;
  for (int i = 0; i < 400; i++) {
    seed = seed * 1103515245u + 12345u;
    unsigned r = seed >> 16;
    size_t o = (size_t)snprintf(buf, sizeof buf, "{\"id\":\"r%d\",\"text\":\"", i);
    for (unsigned w = 0; w < 1 + r % 6; w++) o += (size_t)snprintf(buf + o, sizeof buf - o, "%s ", words[(r >> (w + 3)) % 10]);
    snprintf(buf + o, sizeof buf - o, "\",\"scope\":{\"user_id\":\"u%u\"}}", r % 3);
    CHECK_EQ_INT(add1(m, buf, NULL), TM_OK);
    if (i % 3 == 1) {
      snprintf(id, sizeof id, "r%u", r % (unsigned)(i + 1));
      if (tm_memory_delete(m, id) != TM_OK) CHECK_EQ_INT(tm_errcode(m), TM_ENOTFOUND);
    } else if (i % 5 == 2) {
      snprintf(id, sizeof id, "r%u", (r >> 4) % (unsigned)(i + 1));
      snprintf(buf, sizeof buf, "{\"text\":\"%s %s\"}", words[r % 10], words[(r >> 5) % 10]);
      if (tm_memory_update(m, id, buf, &out) == TM_OK) tm_free(out);
      else CHECK_EQ_INT(tm_errcode(m), TM_ENOTFOUND);
    }
  }
  char *state = NULL;
  CHECK_EQ_INT(tm_memory_serialize(m, &state), TM_OK);
  tm_memory *fresh = tm_memory_new();
  CHECK_EQ_INT(tm_memory_load(fresh, state), TM_OK);
  const char *queries[] = {"{\"query\":\"red cat\",\"top_k\":20}",
                           "{\"query\":\"jazz\",\"top_k\":50,\"filter\":{\"scope\":{\"user_id\":\"u1\"}}}",
                           "{\"query\":\"tea oslo rome\",\"top_k\":7}"};
  for (size_t q = 0; q < 3; q++) {
    char *a = NULL, *b = NULL;
    CHECK_EQ_INT(tm_memory_search(m, queries[q], &a), TM_OK);
    CHECK_EQ_INT(tm_memory_search(fresh, queries[q], &b), TM_OK);
    CHECK_STR(a, b);
    CHECK(a && strlen(a) > 2);
    tm_free(a);
    tm_free(b);
  }
  tm_free(state);
  tm_memory_free(fresh);
  tm_memory_free(m);
}

/* ---- hybrid search's first pass (4-bit and int8 codes) against exact scoring ---- */

static uint64_t prng_state;
static double prng(void) { /* xorshift64*, in [0, 1) */
  prng_state ^= prng_state >> 12;
  prng_state ^= prng_state << 25;
  prng_state ^= prng_state >> 27;
  return (double)((prng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* Appends ",\"embedding\":[...]" of `dim` values to buf at *o; `base`, when
 * given, is the vector and `noise` the size of what is added to it. */
static void put_vector(char *buf, size_t n, size_t *o, const double *base, double noise,
                       uint32_t dim) {
  *o += (size_t)snprintf(buf + *o, n - *o, ",\"embedding\":[");
  for (uint32_t i = 0; i < dim; i++) {
    double x = base ? base[i] + noise * (prng() * 2 - 1) : prng() * 2 - 1;
    *o += (size_t)snprintf(buf + *o, n - *o, "%s%.9g", i ? "," : "", x);
  }
  *o += (size_t)snprintf(buf + *o, n - *o, "]");
}

/* Searches with and without the first pass: both must write the same text
 * (same records, order and scores). Returns how the first pass went in *st
 * (st.rescored: what it had to re-score beyond its candidates). */
static int same_as_exact(tm_memory *m, const char *query, tm_search_stats *stats, int line) {
  char *fast = NULL, *exact = NULL;
  int rc1 = tm_memory_search(m, query, &fast);
  tm_search_stats st;
  tm_memory_search_stats(m, &st);
  *stats = st;
  int rc2 = tm_memory_search_exact(m, query, &exact);
  int ok = rc1 == TM_OK && rc2 == TM_OK && strcmp(fast, exact) == 0 && st.lead + st.candidates > 0;
  if (!ok)
    fprintf(stderr, "line %d: first pass %d (%zu candidates) gave %.300s\n  exact %d gave %.300s\n",
            line, rc1, st.lead + st.candidates, fast ? fast : "-", rc2, exact ? exact : "-");
  tm_free(fast);
  tm_free(exact);
  return ok;
}
#define SAME_AS_EXACT(m, q, stats) CHECK(same_as_exact(m, q, stats, __LINE__))

TEST(hybrid_first_pass_agrees_with_exact_scoring) {
  hn_reset();
  enum { N = 3000, DIM = 100 }; /* 100: the vector loops' tails too */
  static const char *const vocab[] = {"tea", "jazz", "oslo", "cat", "piano", "rain",
                                      "chess", "river", "bread", "kite", "moss", "salt"};
  static char buf[1 << 20]; /* a batch of 100 records */
  prng_state = 0x9E3779B97F4A7C15ull;
  tm_memory *m = tm_memory_new();
  for (int i = 0; i < N; i += 100) {
    size_t o = (size_t)snprintf(buf, sizeof buf, "[");
    for (int k = i; k < i + 100; k++) {
      o += (size_t)snprintf(buf + o, sizeof buf - o, "%s{\"id\":\"r%d\",\"text\":\"", k > i ? "," : "", k);
      for (int w = 0; w < 3 + k % 5; w++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", w ? " " : "",
                              vocab[(size_t)(prng() * prng() * 12)]);
      o += (size_t)snprintf(buf + o, sizeof buf - o, "\",\"scope\":{\"user_id\":\"u%d\"}", k % 3 == 0);
      if (k % 7) put_vector(buf, sizeof buf, &o, NULL, 0, DIM); /* every 7th has none */
      o += (size_t)snprintf(buf + o, sizeof buf - o, "}");
    }
    snprintf(buf + o, sizeof buf - o, "]");
    char *out = NULL;
    CHECK_EQ_INT(tm_memory_add(m, buf, &out), TM_OK);
    tm_free(out);
  }
  /* Random queries: the first pass's candidates always held the results
   * (nothing re-scored past them), and the results are exact. */
  static const char *const queries[] = {"moss", "tea jazz", "kite salt river", "nothing known"};
  static const int top_ks[] = {1, 5, 10, 50};
  tm_search_stats st = {0};
  size_t total = 0, pruned = 0;
  for (int q = 0; q < 16; q++) {
    size_t o = (size_t)snprintf(buf, sizeof buf, "{\"query\":\"%s\",\"top_k\":%d%s", queries[q % 4],
                                top_ks[q / 4], q % 3 ? ",\"filter\":{\"scope\":{\"user_id\":\"u0\"}}" : "");
    put_vector(buf, sizeof buf, &o, NULL, 0, DIM);
    snprintf(buf + o, sizeof buf - o, "}");
    SAME_AS_EXACT(m, buf, &st);
    total += st.rescored;
    pruned += st.pruned;
  }
  CHECK_EQ_INT((int)total, 0);
  /* The queries with words: the records that lead by BM25 give a floor
   * below which the first pass leaves most records half way. */
  CHECK(pruned > 0);

  /* A score is the exact one: a record no word of the query is in scores
   * 0.5 * cosine, here of a record's own vector (cosine 1). */
  size_t o = (size_t)snprintf(buf, sizeof buf, "[{\"id\":\"own\",\"text\":\"zebra\",\"scope\":{\"user_id\":\"u9\"}");
  double own[DIM];
  for (int i = 0; i < DIM; i++) own[i] = prng() * 2 - 1;
  put_vector(buf, sizeof buf, &o, own, 0, DIM);
  snprintf(buf + o, sizeof buf - o, "}]");
  char *out = NULL;
  CHECK_EQ_INT(tm_memory_add(m, buf, &out), TM_OK);
  tm_free(out);
  o = (size_t)snprintf(buf, sizeof buf, "{\"query\":\"unknown\",\"top_k\":1");
  put_vector(buf, sizeof buf, &o, own, 0, DIM);
  snprintf(buf + o, sizeof buf - o, "}");
  CHECK_EQ_INT(tm_memory_search(m, buf, &out), TM_OK);
  cJSON *arr = cJSON_Parse(out);
  cJSON *top = cJSON_GetArrayItem(arr, 0);
  CHECK(top && strcmp(cJSON_GetObjectItem(top, "id")->valuestring, "own") == 0);
  CHECK(top && fabs(cJSON_GetObjectItem(top, "score")->valuedouble - 0.5) < 1e-6);
  cJSON_Delete(arr);
  tm_free(out);

  /* Records whose vectors point away from the query but hold its rare word
   * are found by BM25 alone (0.5 * bm25 / best) and fused with the rest. */
  o = (size_t)snprintf(buf, sizeof buf, "[");
  double away[DIM];
  for (int i = 0; i < DIM; i++) away[i] = -own[i];
  for (int k = 0; k < 3; k++) {
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s{\"id\":\"word%d\",\"text\":\"quasar%s\",\"scope\":{\"user_id\":\"u9\"}",
                          k ? "," : "", k, k == 2 ? " quasar" : "");
    put_vector(buf, sizeof buf, &o, away, 0.01, DIM);
    o += (size_t)snprintf(buf + o, sizeof buf - o, "}");
  }
  snprintf(buf + o, sizeof buf - o, "]");
  CHECK_EQ_INT(tm_memory_add(m, buf, &out), TM_OK);
  tm_free(out);
  o = (size_t)snprintf(buf, sizeof buf, "{\"query\":\"quasar\",\"top_k\":60");
  put_vector(buf, sizeof buf, &o, own, 0, DIM);
  snprintf(buf + o, sizeof buf - o, "}");
  SAME_AS_EXACT(m, buf, &st);
  CHECK_EQ_INT(tm_memory_search(m, buf, &out), TM_OK);
  CHECK_CONTAINS(out, "\"id\":\"word2\"");
  CHECK_CONTAINS(out, "\"id\":\"word0\"");
  tm_free(out);
  tm_memory_free(m);

  /* Near-twins the codes cannot tell apart: the first pass keeps 64
   * of 400 alike bounds, so the records whose bounds still reach the k-th
   * score are re-scored too, and the results stay exact. */
  m = tm_memory_new();
  for (int i = 0; i < 400; i += 100) {
    o = (size_t)snprintf(buf, sizeof buf, "[");
    for (int k = i; k < i + 100; k++) {
      o += (size_t)snprintf(buf + o, sizeof buf - o, "%s{\"text\":\"twin\",\"scope\":{\"user_id\":\"u\"}",
                            k > i ? "," : "");
      put_vector(buf, sizeof buf, &o, own, 1e-4, DIM);
      o += (size_t)snprintf(buf + o, sizeof buf - o, "}");
    }
    snprintf(buf + o, sizeof buf - o, "]");
    CHECK_EQ_INT(tm_memory_add(m, buf, &out), TM_OK);
    tm_free(out);
  }
  o = (size_t)snprintf(buf, sizeof buf, "{\"query\":\"other\",\"top_k\":3");
  put_vector(buf, sizeof buf, &o, own, 0, DIM);
  snprintf(buf + o, sizeof buf - o, "}");
  SAME_AS_EXACT(m, buf, &st);
  CHECK(st.rescored > 0);
  tm_memory_free(m);
}

/* The first pass reads a copy of each record's scale, error bound, scopes
 * and liveness: updates and deletes must keep it in step. A record updated
 * to a spiky vector (a scale far from its old one) is the query's best. */
TEST(hybrid_first_pass_follows_updates_and_deletes) {
  hn_reset();
  enum { N = 2000, DIM = 100 };
  static char buf[1 << 22];
  prng_state = 0x2545F4914F6CDD1Dull;
  tm_memory *m = tm_memory_new();
  char *out = NULL;
  /* r17 starts flat (all components alike: the smallest scale), so a stale
   * scale would bound its new cosine far too low. */
  double flat[DIM];
  for (int i = 0; i < DIM; i++) flat[i] = i % 2 ? 1 : -1;
  size_t o = (size_t)snprintf(buf, sizeof buf, "[");
  for (int k = 0; k < N; k++) {
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s{\"id\":\"r%d\",\"text\":\"note %d\",\"scope\":{\"user_id\":\"u\"}",
                          k ? "," : "", k, k);
    put_vector(buf, sizeof buf, &o, k == 17 ? flat : NULL, 0, DIM);
    o += (size_t)snprintf(buf + o, sizeof buf - o, "}");
  }
  snprintf(buf + o, sizeof buf - o, "]");
  CHECK_EQ_INT(tm_memory_add(m, buf, &out), TM_OK);
  tm_free(out);
  double spike[DIM];
  for (int i = 0; i < DIM; i++) spike[i] = i == 3 ? 1 : 0.01 * (prng() * 2 - 1);
  o = (size_t)snprintf(buf, sizeof buf, "{");
  put_vector(buf, sizeof buf, &o, spike, 0.001, DIM);
  snprintf(buf + o, sizeof buf - o, "}");
  buf[1] = ' '; /* the comma put_vector starts with */
  CHECK_EQ_INT(tm_memory_update(m, "r17", buf, &out), TM_OK);
  tm_free(out);
  CHECK_EQ_INT(tm_memory_update(m, "r18", "{\"text\":\"note again\"}", &out), TM_OK); /* drops its vector */
  tm_free(out);
  CHECK_EQ_INT(tm_memory_delete(m, "r19"), TM_OK);
  tm_search_stats st;
  o = (size_t)snprintf(buf, sizeof buf, "{\"query\":\"note\",\"top_k\":5");
  put_vector(buf, sizeof buf, &o, spike, 0, DIM);
  snprintf(buf + o, sizeof buf - o, "}");
  SAME_AS_EXACT(m, buf, &st);
  CHECK_EQ_INT(tm_memory_search(m, buf, &out), TM_OK);
  cJSON *arr = cJSON_Parse(out);
  cJSON *top = cJSON_GetArrayItem(arr, 0);
  CHECK(top && strcmp(cJSON_GetObjectItem(top, "id")->valuestring, "r17") == 0);
  CHECK(strstr(out, "\"id\":\"r19\"") == NULL);
  cJSON_Delete(arr);
  tm_free(out);
  tm_memory_free(m);
}

/* A record's vector may change dimension when it is the only one with a
 * vector: its codes move to an arena of the new dimension. */
TEST(hybrid_codes_follow_a_new_dimension) {
  hn_reset();
  tm_memory *m = tm_memory_new();
  char *out = NULL;
  CHECK_EQ_INT(add1(m, "{\"id\":\"a\",\"text\":\"alpha\",\"scope\":{\"user_id\":\"u\"},\"embedding\":[1,0,0]}", NULL), TM_OK);
  CHECK_EQ_INT(add1(m, "{\"id\":\"b\",\"text\":\"beta\",\"scope\":{\"user_id\":\"u\"}}", NULL), TM_OK);
  CHECK_EQ_INT(tm_memory_update(m, "a", "{\"embedding\":[0,0,0,0,1]}", &out), TM_OK);
  tm_free(out);
  tm_search_stats st;
  SAME_AS_EXACT(m, "{\"query\":\"beta\",\"embedding\":[0,0,0,0,1]}", &st);
  SEARCH_IS(m, "{\"query\":\"beta\",\"embedding\":[0,0,0,0,1]}", "alpha|beta");
  CHECK_EQ_INT(add1(m, "{\"text\":\"gamma\",\"scope\":{\"user_id\":\"u\"},\"embedding\":[0,0,0,1,1]}", NULL), TM_OK);
  SEARCH_IS(m, "{\"query\":\"nothing\",\"embedding\":[0,0,0,1,0]}", "gamma");
  tm_memory_free(m);
}

int main(void) {
  test_init();
  RUN(add_get_update_delete_history);
  RUN(forget_keeps_no_text);
  RUN(batch_is_all_or_nothing);
  RUN(filters_by_scope_metadata_and_dates);
  RUN(bm25_ranking);
  RUN(words_of_any_script);
  RUN(empty_query_is_its_own_code);
  RUN(hybrid_search);
  RUN(hybrid_first_pass_agrees_with_exact_scoring);
  RUN(hybrid_first_pass_follows_updates_and_deletes);
  RUN(hybrid_codes_follow_a_new_dimension);
  RUN(serialization_round_trip);
  RUN(limits);
  RUN(allocation_failures);
  RUN(incremental_index_matches_rebuilt);
  return test_summary();
}
