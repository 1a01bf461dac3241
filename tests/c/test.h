/*
 * A tiny test harness for the C tests: checks that report file and line, a
 * counting allocator that proves nothing leaks, and allocation-failure
 * injection to prove every error path frees what it took.
 *
 * Each test file defines its tests with TEST(name) and lists them in main
 * through RUN(name); main returns test_summary().
 */
#ifndef THREADMEM_TEST_H
#define THREADMEM_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "threadmem.h"

static int test_failures;
static int test_checks;
static long test_live_allocs;
static long test_fail_after = -1; /* -1: never inject */

static void *test_malloc(size_t n) {
  if (test_fail_after == 0) return NULL;
  if (test_fail_after > 0) test_fail_after--;
  void *p = malloc(n);
  if (p) test_live_allocs++;
  return p;
}
static void *test_realloc(void *p, size_t n) {
  if (test_fail_after == 0) return NULL;
  if (test_fail_after > 0) test_fail_after--;
  void *q = realloc(p, n);
  if (q && !p) test_live_allocs++;
  return q;
}
static void test_free(void *p) {
  if (p) test_live_allocs--;
  free(p);
}

/* Installs the counting allocator; call first in main. */
static void test_init(void) { tm_set_allocator(test_malloc, test_realloc, test_free); }

#define CHECK(cond)                                                              \
  do {                                                                           \
    test_checks++;                                                               \
    if (!(cond)) {                                                               \
      test_failures++;                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
    }                                                                            \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                       \
  do {                                                                           \
    long long va_ = (long long)(a), vb_ = (long long)(b);                        \
    test_checks++;                                                               \
    if (va_ != vb_) {                                                            \
      test_failures++;                                                           \
      fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__,  \
              #a, va_, vb_);                                                     \
    }                                                                            \
  } while (0)

#define CHECK_STR(a, b)                                                          \
  do {                                                                           \
    const char *sa_ = (a), *sb_ = (b);                                           \
    test_checks++;                                                               \
    if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                 \
      test_failures++;                                                           \
      fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__,        \
              __LINE__, #a, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");         \
    }                                                                            \
  } while (0)

/* Checks that `haystack` contains `needle` (for error messages and JSON). */
#define CHECK_CONTAINS(haystack, needle)                                         \
  do {                                                                           \
    const char *sh_ = (haystack), *sn_ = (needle);                               \
    test_checks++;                                                               \
    if (!sh_ || !strstr(sh_, sn_)) {                                             \
      test_failures++;                                                           \
      fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,       \
              __LINE__, sh_ ? sh_ : "(null)", sn_);                              \
    }                                                                            \
  } while (0)

#define TEST(name) static void name(void)

/* Runs one test and checks that it freed everything it allocated. */
#define RUN(name)                                                                \
  do {                                                                           \
    long before_ = test_live_allocs;                                             \
    name();                                                                      \
    if (test_live_allocs != before_) {                                           \
      test_failures++;                                                           \
      fprintf(stderr, "%s: leaked %ld allocations\n", #name,                     \
              test_live_allocs - before_);                                       \
    }                                                                            \
  } while (0)

/* Runs `body` with an allocation failure injected at every allocation in
 * turn, until it succeeds without one: each failing run must report
 * TM_ENOMEM (or succeed), and must leak nothing. `body` is an expression
 * returning a result code; `cleanup` releases what a success produced. */
#define CHECK_OOM_SAFE(body, cleanup)                                            \
  do {                                                                           \
    for (long n_ = 0;; n_++) {                                                   \
      long before_ = test_live_allocs;                                           \
      test_fail_after = n_;                                                      \
      int rc_ = (body);                                                          \
      test_fail_after = -1;                                                      \
      if (rc_ == TM_OK) {                                                        \
        cleanup;                                                                 \
        CHECK_EQ_INT(test_live_allocs, before_);                                 \
        break;                                                                   \
      }                                                                          \
      CHECK_EQ_INT(rc_, TM_ENOMEM);                                              \
      CHECK_EQ_INT(test_live_allocs, before_);                                   \
      if (rc_ != TM_ENOMEM || n_ > 100000) break;                                \
    }                                                                            \
  } while (0)

/* Prints the plain closing line and returns main's exit code. */
static int test_summary(void) {
  printf("%d passed, %d failed\n", test_checks - test_failures, test_failures);
  return test_failures ? 1 : 0;
}

#endif /* THREADMEM_TEST_H */
