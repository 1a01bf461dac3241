/*
 * The core's one allocator. Every allocation of the core and of cJSON goes
 * through here, so tests can count allocations (to prove nothing leaks) and
 * inject failures (to prove every error path cleans up).
 */
#include <stdlib.h>

#include "core.h"

static void *(*alloc_malloc)(size_t) = malloc;
static void *(*alloc_realloc)(void *, size_t) = realloc;
static void (*alloc_free)(void *) = free;
/* Counts failed allocations: cJSON reports an allocation failure and a
 * syntax error the same way (NULL), and this tells them apart. */
static unsigned long alloc_failures;
static bool hooks_installed;

void *tm_malloc(size_t size) {
  /* A zero-byte request still gets a unique pointer, as callers expect. */
  void *p = alloc_malloc(size ? size : 1);
  if (!p) alloc_failures++;
  return p;
}

void *tm_realloc(void *ptr, size_t size) {
  void *p = alloc_realloc(ptr, size ? size : 1);
  if (!p) alloc_failures++;
  return p;
}

void tm_free(void *ptr) {
  if (ptr) alloc_free(ptr);
}

unsigned long tm_alloc_failures(void) { return alloc_failures; }

void tm_install_json_hooks(void) {
  if (hooks_installed) return;
  /* cJSON keeps plain function pointers: give it our dispatchers, so a later
   * tm_set_allocator() needs no re-install. */
  cJSON_Hooks hooks = {tm_malloc, tm_free};
  cJSON_InitHooks(&hooks);
  hooks_installed = true;
}

void tm_set_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
                      void (*free_fn)(void *)) {
  alloc_malloc = malloc_fn ? malloc_fn : malloc;
  alloc_realloc = realloc_fn ? realloc_fn : realloc;
  alloc_free = free_fn ? free_fn : free;
  tm_install_json_hooks();
}
