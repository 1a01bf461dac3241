/*
 * The native host for the C tests: a scriptable fake. It implements every
 * import of src/host.h (and must match that table and
 * wasm/library_threadmem.js, the package's implementation), and performs the
 * actions of a run (tm_run_step) as js/agent.js does for the package.
 *
 * With no set-up: the clock is fixed at 2026-01-01T00:00:00.000Z, random
 * bytes come from a fixed-seed PRNG, and every action fails with TM_EHOST
 * except the host store (empty), the providers (invoking returns [], invoked
 * succeeds) and the tools (each call's result is the string
 * "name(arguments)").
 *
 * The actions are scripted per host_ctx (the value a test passes to
 * hn_agent_run). Every action performed is counted and its JSON payload
 * recorded, so a test can prove what the model, the tools or the providers
 * saw. The fake's own bookkeeping uses the C library's malloc, so
 * it never shows in the counting allocator; only the results it hands to
 * the core come from tm_malloc (and a failure there is reported as
 * TM_ENOMEM, which keeps allocation-failure injection meaningful).
 */
#ifndef THREADMEM_HOST_NATIVE_H
#define THREADMEM_HOST_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "host.h"
#include "threadmem.h"

/* Scripts are kept for host_ctx values 0..HN_MAX_CTX-1 (others wrap). */
#define HN_MAX_CTX 16

/* The actions of a run, for failure switches and recordings. */
typedef enum hn_import {
  HN_LLM,
  HN_TOOLS,
  HN_STORE_LIST,
  HN_STORE_ADD,
  HN_INVOKING,
  HN_INVOKED,
  HN_LLM_OPEN, /* streamed replies: the request */
  HN_LLM_NEXT, /* streamed replies: each chunk read (recorded as NULL) */
  HN_EMIT,     /* the updates of streamed runs */
  HN_IMPORTS
} hn_import;

/* Computes an LLM response body from the request (call_index counts this
 * ctx's LLM calls since the reset, from 0). Returns a borrowed string that
 * must stay valid until the callback is called again; NULL makes the import
 * fail with TM_EHOST. */
typedef const char *(*hn_llm_fn)(void *user, const char *request_json, size_t call_index);

/* Computes the tool results array from the calls array; same rules. */
typedef const char *(*hn_tools_fn)(void *user, const char *calls_json, size_t call_index);

/* Forgets every script, recording and host store, and restores the default
 * clock and seed. Tests call it first. */
void hn_reset(void);
/* Like hn_reset, for one ctx only (the clock and PRNG are kept). */
void hn_reset_ctx(uint32_t ctx);

/* The fake clock: tm_host_now_ms() returns `ms`, then advances by `step`
 * (0 by default: a fixed clock). */
void hn_set_now(double ms);
void hn_set_clock_step(double step);
/* Reseeds the deterministic PRNG behind tm_host_random(). */
void hn_seed(uint64_t seed);

/* Queues a canned LLM response body (copied). Queued bodies are served
 * first, oldest first; when the queue is empty the callback answers; with
 * neither, the import fails with TM_EHOST. */
void hn_llm_push(uint32_t ctx, const char *response_json);
void hn_llm_set_fn(uint32_t ctx, hn_llm_fn fn, void *user);
/* Responses still queued (to check that a test used up its script). */
size_t hn_llm_pending(uint32_t ctx);

/* Queues a canned streamed reply: its chunks separated by '\n' (copied;
 * JSON text never holds a raw newline). tm_host_llm_open takes the next
 * queued reply (TM_EHOST when none is left); tm_host_llm_next serves its
 * chunks, then NULL. A chunk that is exactly "!" makes that
 * tm_host_llm_next fail with TM_EHOST (a connection broken mid-reply). */
void hn_llm_push_stream(uint32_t ctx, const char *chunks);

/* Replaces the default tool behaviour with a callback; NULL restores it. */
void hn_tools_set_fn(uint32_t ctx, hn_tools_fn fn, void *user);

/* The token counter behind tm_host_count (the TM_ENC_HOST encoding):
 * returns the count, or -1 to make the import fail with TM_EHOST. NULL (the
 * default) counts one token per byte. */
typedef long (*hn_count_fn)(void *user, const char *text, size_t len);
void hn_count_set_fn(hn_count_fn fn, void *user);

/* The providers: the JSON array tm_host_invoking returns (copied; "[]" by
 * default). */
void hn_invoking_set(uint32_t ctx, const char *contexts_json);

/* The host store: replaces its messages with those of a JSON array
 * (each kept as the JSON text it had, trimmed), or reads them back. */
void hn_store_set(uint32_t ctx, const char *messages_json);
size_t hn_store_len(uint32_t ctx);
/* Borrowed compact JSON of message i (0 = oldest), or NULL. */
const char *hn_store_at(uint32_t ctx, size_t i);

/* Makes call number `call_index` (0-based, counted per import since the
 * reset) of `imp` fail with TM_EHOST; -1 disarms it. A failing call is still
 * counted and recorded. */
void hn_fail_at(uint32_t ctx, hn_import imp, long call_index);

/* How many calls `imp` received, and the JSON input of call i (borrowed;
 * NULL for HN_STORE_LIST, which takes none). */
size_t hn_calls(uint32_t ctx, hn_import imp);
const char *hn_recorded(uint32_t ctx, hn_import imp, size_t i);

/* Runs one turn to its end (tm_run_start, then tm_run_step until done or a
 * failure), performing each action with the script of `ctx`, and writes the
 * result (the done action's payload) to *out. Returns TM_OK, or the
 * failure's code, kept with its message for hn_errcode/hn_errmsg. */
int hn_agent_run(tm_agent *agent, tm_store *store, uint32_t ctx, const char *run_json,
                 char **out);

/* One step of `run` for tests that interleave runs: passes the outcome in
 * *host_rc and *answer (freed here) to tm_run_step and performs the action
 * it returns, leaving its outcome there for the next call. Returns -1 while
 * the run goes on, TM_OK with the result in *out when it is done, else the
 * failure's code. Start with *host_rc TM_OK and *answer NULL. */
int hn_run_step(tm_run *run, uint32_t ctx, int *host_rc, char **answer, char **out);

/* The failure of the last hn_agent_run or hn_run_step that failed. */
int hn_errcode(void);
const char *hn_errmsg(void);

#endif /* THREADMEM_HOST_NATIVE_H */
