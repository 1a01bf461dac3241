/*
 * Host imports: the only way the core reaches the world.
 *
 * This table is implemented twice and the two must match it exactly:
 *   - wasm/library_threadmem.js   for the package (JavaScript)
 *   - tests/c/host_native.c       for the native C tests (scriptable fake)
 *
 * Every import is synchronous and never throws into C. What takes time
 * (the model, tools, async stores, context providers) is not an import: the
 * run loop hands it to the host as an action and takes the outcome at its
 * next step (tm_run_step in threadmem.h), so the core never waits.
 */
#ifndef THREADMEM_HOST_H
#define THREADMEM_HOST_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch. Sync. */
double tm_host_now_ms(void);

/* Fills buf with n cryptographically random bytes. Sync. */
void tm_host_random(uint8_t *buf, size_t n);

/* Counts the tokens of `len` bytes of UTF-8 text with the counter function
 * the host has made current (the TM_ENC_HOST encoding). Sync. TM_EHOST when
 * the counter throws or gives anything but a non-negative integer. */
int tm_host_count(const char *text, size_t len, size_t *out);

#endif /* THREADMEM_HOST_H */
