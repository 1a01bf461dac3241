/*
 * Host imports: the only way the core reaches the world.
 *
 * This table is implemented twice and the two must match it exactly:
 *   - wasm/library_threadmem.js   for the package (JavaScript, Asyncify)
 *   - tests/c/host_native.c       for the native C tests (scriptable fake)
 *
 * Rules for every import:
 *   - It never throws into C. On failure it returns TM_EHOST and the host
 *     keeps the cause (the JS layer rethrows it from the public call); when
 *     only its result could not be allocated it returns TM_ENOMEM.
 *   - `ctx` is the host_ctx given to tm_agent_run: it tells the host which
 *     run (agent, thread, providers, tools) is calling.
 *   - A `char **out` result is NUL-terminated JSON allocated with tm_malloc;
 *     the core frees it with tm_free. On failure *out is left NULL.
 *   - The imports marked async suspend the core (Asyncify in the package);
 *     only they are listed in wasm/asyncify_imports.json.
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

/* Sends a chat-completions request body and writes the response body.
 * Async. Retries, timeouts and HTTP errors are the host's business. */
int tm_host_llm(uint32_t ctx, const char *request_json, char **out);

/* Sends a chat-completions request body that asks for a streamed reply
 * ("stream":true) and waits until the endpoint has accepted it. The chunks
 * are then read with tm_host_llm_next. Async. Retries before the reply
 * starts, timeouts and HTTP errors are the host's business, as for
 * tm_host_llm. */
int tm_host_llm_open(uint32_t ctx, const char *request_json);

/* Writes the next chunk of the streamed reply opened last: the JSON text
 * of one server-sent "data:" event. At the end of the stream ("data:
 * [DONE]" or the end of the body) it returns TM_OK with *out NULL. A broken
 * connection or a stalled stream is TM_EHOST. Async. */
int tm_host_llm_next(uint32_t ctx, char **out);

/* Hands one update of a streamed run to the host, as JSON: a text delta
 * {"type":"text_delta","text"}, a complete tool call {"type":"tool_call",
 * "call_id","name","arguments"} or a tool result {"type":"tool_result",
 * "call_id","name","result"}. Sync: the host queues it for its consumer
 * and never calls back into the core. */
void tm_host_emit(uint32_t ctx, const char *event_json);

/* Executes a JSON array of tool calls [{"call_id","name","arguments"}]
 * (concurrently where the host can) and writes a JSON array of results in
 * the same order [{"call_id","result"}]. Async. */
int tm_host_tools(uint32_t ctx, const char *calls_json, char **out);

/* Lists the messages of the run's host (custom) store as a JSON array,
 * oldest first. Async. */
int tm_host_store_list(uint32_t ctx, char **out);

/* Appends a JSON array of messages to the run's host store, in one call.
 * Async. */
int tm_host_store_add(uint32_t ctx, const char *messages_json);

/* Calls the context providers' invoking with {"messages":[...new input...]}
 * and writes a JSON array of their contexts, in provider order:
 * [{"instructions":"...","messages":[...],"tools":[...]}]. Async. */
int tm_host_invoking(uint32_t ctx, const char *request_json, char **out);

/* Calls the context providers' invoked with {"request_messages":[...],
 * "response_messages":[...], "failed":false}. Async. When "failed" is true
 * the core ignores the result. */
int tm_host_invoked(uint32_t ctx, const char *json);

#endif /* THREADMEM_HOST_H */
