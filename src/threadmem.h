/*
 * threadmem: conversation memory for LLM agents.
 *
 * The one public header of the C core. The core is portable C11 and talks to
 * the world only through the host imports declared in host.h.
 *
 * Conventions (they hold for every function below):
 *
 *  - Handles are opaque. Every handle starts with the same hidden header, so
 *    tm_errcode() and tm_errmsg() accept any of them.
 *  - Functions that can fail return an int result code (TM_OK or TM_E*). On
 *    failure the code and a human message are kept on the handle passed in;
 *    the message names the problem (for JSON input: its path, such as
 *    "messages[12].contents[0].type") and is valid until the next call on
 *    that handle. A failed call changes nothing.
 *  - Ownership: inputs are copied. A `char **out` result is a NUL-terminated
 *    UTF-8 string allocated with tm_malloc; the caller frees it with tm_free.
 *    On failure *out is set to NULL.
 *  - All text is UTF-8 JSON. Messages use Agent Framework's serialized shape
 *    (see serialize.c): {"type":"chat_message","role":{"type":"role",
 *    "value":"user"},"contents":[...],"message_id":"...", ...}.
 *  - Handles are not thread-safe; one call at a time per handle.
 */
#ifndef THREADMEM_H
#define THREADMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TM_VERSION_MAJOR 0
#define TM_VERSION_MINOR 1
#define TM_VERSION_PATCH 0
#define TM_VERSION_STRING "0.1.0"

/* ---- Limits: checked before they are exceeded, failing with TM_ERANGE. ---- */

/* Largest JSON document the core parses (a whole thread state). */
#define TM_MAX_JSON_BYTES ((size_t)256 * 1024 * 1024)
/* Largest single message, measured as its serialized JSON. */
#define TM_MAX_MESSAGE_BYTES ((size_t)16 * 1024 * 1024)
/* Deepest nesting of arrays and objects accepted in any JSON input. */
#define TM_MAX_NESTING 64
/* Most contents in one message. */
#define TM_MAX_CONTENTS 4096
/* Most messages in one store. */
#define TM_MAX_MESSAGES ((size_t)10 * 1000 * 1000)
/* Most tools offered to the model in one request. */
#define TM_MAX_TOOLS 512
/* Most model round trips in one run (the first answer plus tool rounds). */
#define TM_MAX_TOOL_ROUNDS 64
/* Tool rounds allowed when the agent's config does not say. */
#define TM_DEFAULT_TOOL_ROUNDS 8
/* Longest identifier (thread id, message id, call id, tool name). */
#define TM_MAX_ID_BYTES 256

/* ---- Result codes. Their names are stable; the JS layer maps them to
 *      ThreadmemError codes. ---- */
enum {
  TM_OK = 0,
  TM_ENOMEM = 1,     /* an allocation failed */
  TM_EINVAL = 2,     /* a bad argument from the caller (NULL, unknown option) */
  TM_EPARSE = 3,     /* input is not well-formed JSON */
  TM_EFORMAT = 4,    /* well-formed JSON of the wrong shape: wrong type tag,
                        unknown role or content type, wrong JSON type */
  TM_ESTATE = 5,     /* an inconsistent state: both a service thread id and
                        messages, a tool result without its call */
  TM_ERANGE = 6,     /* a limit above was exceeded */
  TM_EHOST = 7,      /* a host import failed; the host keeps the cause */
  TM_ERESPONSE = 8,  /* the model's response is unusable: no choices,
                        tool-call arguments that are not JSON */
  TM_EROUNDS = 9,    /* the model kept calling tools past the round limit */
  TM_ENOTFOUND = 10, /* no such item */
  TM_EENCODING = 11, /* an unknown encoding, or one whose vocabulary is not
                        loaded */
  TM_EWINDOW = 12,   /* the context window cannot hold what must be sent:
                        the system messages, or the newest user turn */
  TM_EEMPTY = 13,    /* a memory search whose query holds no word (empty,
                        blank, or punctuation only) */
  TM_EDIMENSION = 14, /* an embedding whose dimension differs from the
                        memory index's */
  TM_ESEALED = 15,   /* a log holds encrypted records and the reader has no
                        key (tm_log_scan without TM_LOG_SEALED) */
  TM_EPLAIN = 16     /* a log holds plaintext records and the reader has a
                        key (tm_log_scan with TM_LOG_SEALED) */
};

/* ---- Memory. ---- */

/* The one allocator of the core, also installed into cJSON. Defaults to the
 * C library. tm_set_allocator() must be called before any handle exists;
 * passing NULLs restores the defaults. Tests use it to count allocations and
 * to inject failures. */
void *tm_malloc(size_t size);
void *tm_realloc(void *ptr, size_t size);
void tm_free(void *ptr);
void tm_set_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
                      void (*free_fn)(void *));

/* ---- Errors, for any handle. ---- */

/* The code of the last failed call on `handle`, or TM_OK. */
int tm_errcode(const void *handle);
/* The message of the last failed call on `handle` ("" when none). Borrowed:
 * valid until the next call on that handle. */
const char *tm_errmsg(const void *handle);
/* The stable name of a code: "TM_EFORMAT" for TM_EFORMAT. Static storage. */
const char *tm_code_name(int code);

/* ---- Context: the error holder for calls that work on no other handle. ---- */

typedef struct tm_ctx tm_ctx;

/* A new context, or NULL when out of memory. Free it with tm_ctx_free. */
tm_ctx *tm_ctx_new(void);
void tm_ctx_free(tm_ctx *ctx);

/* A new random identifier (UUID v4 text, from the host's randomness) into
 * *out. */
int tm_new_id(tm_ctx *ctx, char **out);

/* Checks one message given leniently (role as a string or {"type":"role",...},
 * missing "type", "text" instead of "contents", unknown keys) and writes its
 * canonical compact JSON to *out. */
int tm_message_normalize(tm_ctx *ctx, const char *json, char **out);

/* Checks a thread state (Agent Framework's agent_thread_state, leniently) and
 * writes its canonical form: {"service_thread_id":"..."} or
 * {"chat_message_store_state":{...canonical store state...}} or
 * {"store_reference":{...}} or {} for an empty thread. Never both a service
 * thread id and messages (TM_ESTATE). */
int tm_thread_state_normalize(tm_ctx *ctx, const char *json, char **out);

/* Builds a thread state from its parts; NULL parts are omitted. The store
 * state is a JSON object (a canonical store state, or a custom store's own
 * JSON). Both a service thread id and a non-NULL store state is TM_ESTATE. */
int tm_thread_state_build(tm_ctx *ctx, const char *service_thread_id,
                          const char *store_state_json, char **out);

/* ---- In-memory chat message store. ---- */

typedef struct tm_store tm_store;

/* A new empty store. max_messages > 0 keeps only the newest max_messages
 * (oldest evicted first); 0 means unbounded. NULL when out of memory. */
tm_store *tm_store_new(size_t max_messages);
void tm_store_free(tm_store *store);

/* Appends a JSON array of messages (lenient, as tm_message_normalize), all or
 * nothing, in O(added) amortized. Messages without a message_id get a new
 * one; messages without created_at get the host clock's time. */
int tm_store_add(tm_store *store, const char *messages_json);

/* Number of messages held. */
size_t tm_store_count(const tm_store *store);

/* Writes a JSON array of messages, oldest first, to *out. `query_json` may
 * be NULL (all) or {"limit":n,"offset":n,"roles":["user",...]}: offset skips
 * the newest n matching messages, limit keeps at most the newest n of the
 * rest, and the result stays oldest first. */
int tm_store_list(tm_store *store, const char *query_json, char **out);

/* Removes every message. */
void tm_store_clear(tm_store *store);

/* Writes the store's Agent Framework state ({"type":"chat_message_store_state",
 * "messages":[...]}) to *out. */
int tm_store_serialize(tm_store *store, char **out);

/* Replaces the store's messages with those of a serialized state (lenient,
 * Agent Framework's shapes), all or nothing. */
int tm_store_load(tm_store *store, const char *state_json);

/* ---- Persistent record log: what the persistent stores write. ---- */

/* Largest sequence number a log may hold (exact as a JS number). */
#define TM_MAX_LOG_SEQ 9007199254740991.0

/* Encodes a JSON array of messages (lenient, as tm_message_normalize;
 * missing message_id and created_at are stamped) as consecutive records
 * numbered from first_seq (an integer in [0, TM_MAX_LOG_SEQ]). Writes the
 * records to *out / *out_len (tm_malloc'd bytes) and the canonical messages
 * exactly as written to *canonical (a JSON array), so that a store mirrors
 * what it wrote. All or nothing: on failure nothing is written. */
int tm_log_encode(tm_ctx *ctx, const char *messages_json, double first_seq,
                  unsigned char **out, size_t *out_len, char **canonical);

/* Reads the log buf[0..n) and writes {"messages":[...],"count":n,
 * "first_seq":n,"last_seq":n,"valid_bytes":n,"tail":"clean"|"torn"|"corrupt",
 * "tail_bytes":n} to *out. A torn or corrupt last record is reported in
 * "tail" (the caller truncates to valid_bytes and tells the user); damage
 * with a valid record after it, a sequence gap, or a record whose payload
 * is not a message is TM_EFORMAT.
 *
 * `flags` says whether the reader holds a key: 0, every record must be
 * plaintext (an encrypted one is TM_ESEALED); TM_LOG_SEALED, every record
 * must be encrypted (a plaintext one is TM_EPLAIN), and instead of parsing
 * them the scan writes "messages":[] and "sealed":[[offset,length],...],
 * where each record's sealed payload lies in buf, one pair per record in
 * order. The host decrypts those and reads them with tm_log_read_unsealed. */
#define TM_LOG_SEALED 1
int tm_log_scan(tm_ctx *ctx, const unsigned char *buf, size_t n, int flags, char **out);

/* Encryption at rest, the host's part being the crypto: tm_log_stamp
 * normalizes and stamps messages as tm_log_encode does and writes a JSON
 * array of strings to *out, each the canonical JSON one record would hold;
 * the host seals each and frames it with tm_log_frame_sealed. All or
 * nothing. */
int tm_log_stamp(tm_ctx *ctx, const char *messages_json, char **out);

/* Writes one encrypted record numbered `seq` (an integer in [0,
 * TM_MAX_LOG_SEQ]) whose payload is the sealed bytes payload[0..n) to *out /
 * *out_len (tm_malloc'd). TM_EINVAL for a bad seq or a payload shorter than
 * a sealed envelope; TM_ERANGE above the record limit. */
int tm_log_frame_sealed(tm_ctx *ctx, double seq, const unsigned char *payload, size_t n,
                        unsigned char **out, size_t *out_len);

/* Reads the decrypted payloads of `count` records numbered from first_seq,
 * lying back to back in buf[0..n) with lengths lens[0..count), as messages,
 * under the rules tm_log_scan applies to plaintext records (one that is not
 * a message is TM_EFORMAT). Writes the JSON array of messages to *out. */
int tm_log_read_unsealed(tm_ctx *ctx, const unsigned char *buf, size_t n,
                         const uint32_t *lens, size_t count, double first_seq, char **out);

/* ---- Journal: the decisions of a persistent thread. A persistent store
 *      (js/persistent-store.js) keeps a thread as records numbered by seq in
 *      some storage (a file, a Redis list, IndexedDB, localStorage) and
 *      mirrors the messages it keeps in a tm_store, whose limits decide
 *      eviction. These two calls decide, from what storage holds, what a turn
 *      writes and drops and what a read may believe; the storage only
 *      carries the plan out. Seqs are integers in [0, TM_MAX_LOG_SEQ], 0
 *      meaning none. Every field is a double so that the host lays the
 *      structs out without padding rules. ---- */

/* A storage that can only append and rewrite (a file) is compacted once it
 * holds more than this many times the records the core keeps. */
#define TM_JOURNAL_COMPACT_FACTOR 2

typedef struct tm_journal_turn {
  /* in */
  double first_seq;   /* the oldest record storage holds (0: none) */
  double next_seq;    /* the seq the turn's first record gets */
  double turn;        /* records in the turn */
  double kept;        /* messages the store keeps once the turn is added */
  double limited;     /* 1: the store has a limit (maxMessages, maxTokens) */
  double in_place;    /* 1: storage drops records with the append (a list,
                         keyed records); 0: it can only rewrite (a file) */
  double ttl_seconds; /* the thread's time to live (0: none) */
  /* out */
  double drop_before;  /* records below this seq go with the append (0: none) */
  double rewrite_from; /* after the append, rewrite storage as the kept
                          records from this seq (0: no compaction) */
  double expire;       /* the TTL to set with the append (0: none) */
  double first_after;  /* the oldest record storage holds after the append
                          (rewrite_from once a rewrite has succeeded) */
  double next_after;   /* the seq after the turn */
} tm_journal_turn;

/* Plans a turn: fills the outputs of *t. TM_EINVAL for a seq or count out
 * of range or more kept messages than storage would hold, TM_ERANGE for a
 * turn that would pass TM_MAX_LOG_SEQ; the outputs are then unchanged. */
int tm_journal_plan(tm_ctx *ctx, tm_journal_turn *t);

typedef struct tm_journal_read {
  /* in: what the host asked for */
  double expect_seq; /* the seq the mirror expects next; 0: a full load,
                        the read is the whole thread */
  double key_seq;    /* storage of entries: the seq of the first entry by
                        its key (0: entries without keys, such as a list);
                        unused for a stream */
  double entries;    /* storage of entries: how many were read; -1: the read
                        is a byte stream (a file), where a write cut short
                        leaves a torn tail */
  double offset;     /* a stream: the byte the read started at */
  /* in: the scan of the bytes read (tm_log_scan's fields) */
  double count, first_seq, last_seq, valid_bytes;
  double tail;       /* 0 clean, 1 torn, 2 corrupt */
  /* out */
  double skip;       /* leading records the mirror already holds */
  double cut_at;     /* a stream with a torn tail: truncate to this byte
                        (-1: nothing to cut) */
  double first_after; /* a full load: the oldest seq held (0: none) */
  double next_after; /* the seq the next record gets */
} tm_journal_read;

/* Judges a read: TM_OK when its records follow what the mirror holds (or,
 * for a full load, follow each other), with what to skip and cut; TM_EFORMAT
 * (the message says where) for a corrupt record, one out of sequence, or a
 * torn record where every record was stored whole. A torn tail of a stream
 * is never acknowledged data: the verdict cuts it. */
int tm_journal_verdict(tm_ctx *ctx, tm_journal_read *r);

/* ---- Tokenizer: exact BPE (OpenAI's tiktoken encodings) and an estimate. ---- */

/* Encodings by number. The BPE ones need their vocabulary loaded first. */
enum {
  TM_ENC_O200K_BASE = 0,
  TM_ENC_CL100K_BASE = 1,
  TM_ENC_ESTIMATE = 2, /* fast, approximate; needs no vocabulary */
  TM_ENC_COUNT = 3,    /* how many of the above (their counts are cached) */
  TM_ENC_HOST = 255    /* the host's own counter function (tm_host_count of
                          host.h); its counts are never cached */
};

/* The number of an encoding name ("o200k_base", "cl100k_base", "estimate"),
 * or -1 when unknown. */
int tm_encoding_id(const char *name);

/* The name of encoding `enc` (static storage), or NULL when unknown. */
const char *tm_encoding_name(int enc);

/* Loads the vocabulary of `enc` from the bytes of its asset
 * (dist/vocab/<name>.tmv). Takes ownership of `data` (tm_malloc'd) in every
 * case, also on failure. Loading an already loaded encoding is a no-op that
 * frees `data`. TM_EFORMAT when the bytes are not that encoding's asset. */
int tm_encoding_load(tm_ctx *ctx, int enc, uint8_t *data, size_t len);

/* 1 when `enc` can encode and count now (its vocabulary is loaded, or it
 * needs none), else 0. */
int tm_encoding_loaded(int enc);

/* Encodes `len` bytes of UTF-8 (invalid sequences read as U+FFFD) into a
 * tm_malloc'd array of token ids (*ids, *n_ids; *ids may be NULL when
 * *n_ids is 0). With allow_special, the encoding's special tokens
 * (<|endoftext|> and the others) are recognised; otherwise they are plain
 * text. */
int tm_encode(tm_ctx *ctx, int enc, const char *text, size_t len, int allow_special,
              uint32_t **ids, size_t *n_ids);

/* Decodes token ids into their bytes (*out, tm_malloc'd, NUL-terminated,
 * *out_len bytes before the NUL; not necessarily valid UTF-8 when the ids
 * cut a character). An id outside the vocabulary is TM_ERANGE. */
int tm_decode(tm_ctx *ctx, int enc, const uint32_t *ids, size_t n_ids, char **out,
              size_t *out_len);

/* Counts the tokens of `len` bytes of UTF-8 as tm_encode would (no special
 * tokens), without building the ids. */
int tm_count(tm_ctx *ctx, int enc, const char *text, size_t len, size_t *out);

/* ---- Token counts of chat messages, and the context window. ----
 *
 * A window spec is {"max_tokens":n, "reserve_tokens":n, "encoding":"...",
 * "strategy":"last"|"first"}; "encoding" is a name of tm_encoding_id or
 * "host" (the host's counter, tm_host_count). The rules of the window are
 * in window.h: system messages first and always kept, whole tool-call
 * groups, never starting mid-turn, TM_EWINDOW when what must be sent does
 * not fit. */

/* The tokens a JSON array of messages costs in a chat-completions request
 * (OpenAI's rule: per message, per name, plus the reply priming) with
 * encoding `encoding` (a name, or "host"). */
int tm_count_messages(tm_ctx *ctx, const char *messages_json, const char *encoding,
                      size_t *out);

/* Fits a JSON array of messages into a window (the newest user turn must
 * fit) and writes {"messages":[...sent...],"dropped":[...not sent...],
 * "tokens":n}, both arrays oldest first, messages in canonical form. */
int tm_fit_window(tm_ctx *ctx, const char *messages_json, const char *spec_json, char **out);

/* Also keeps the store within `max_tokens` tokens counted with encoding
 * `enc` (TM_ENC_*: counts are cached): whole tool-call groups are evicted,
 * the oldest first, now and after every append (never the newest group).
 * 0 removes the limit. Counts every message held once. */
int tm_store_limit_tokens(tm_store *store, size_t max_tokens, int enc);

/* The context window of the store's messages (the newest user turn must
 * fit), written as tm_fit_window writes it. Trimming never deletes stored
 * messages. Choosing the window costs O(messages sent) once their counts
 * are cached; writing the dropped ones costs what they are. */
int tm_store_window(tm_store *store, const char *spec_json, char **out);

/* The same window as positions, without writing any message: bounds[0]
 * leading system messages sent, then the messages [bounds[1], bounds[2])
 * sent after them, bounds[3] the tokens of the request. O(messages sent)
 * once their counts are cached. */
int tm_store_window_bounds(tm_store *store, const char *spec_json, size_t bounds[4]);

/* ---- Long-term memory: records and their search. ----
 *
 * A memory index holds records
 *   {"id":"...", "text":"...", "scope":{"user_id","agent_id",
 *    "application_id","thread_id"}, "metadata":{...}, "created_at":"ISO",
 *    "updated_at":"ISO"}
 * (scope fields absent when not given; at least one is required) with an
 * optional embedding per record, and the history of every id: events
 * {"event":"ADD"|"UPDATE"|"DELETE","old_text","new_text","at":"ISO"}, kept
 * after a delete. Times in inputs are ISO 8601 UTC strings
 * ("2026-01-01T00:00:00.000Z") or milliseconds since the epoch.
 *
 * A filter is {"scope":{...}, "metadata":{...}, "created_from":t,
 * "created_to":t}, every part optional. A record matches when each scope
 * field the filter gives is present in the record and equal (fields the
 * filter omits are not looked at: {"user_id":"u"} matches all of u's
 * records, {"user_id":"u","agent_id":"a"} only those of u with agent a),
 * each metadata key the filter gives has an equal value (JSON equality),
 * and created_at lies in [created_from, created_to].
 *
 * Search: BM25 (k1 1.2, b 0.75, idf ln(1 + (N - df + 0.5) / (df + 0.5))
 * over the live records) on the words of words.h, through an inverted
 * index kept up to date by every add, update and delete. With a query
 * embedding the search is hybrid, by normalized score fusion: each record
 * in the filter scores 0.5 * bm25 / (best bm25 in the filter) + 0.5 *
 * max(0, cosine(query, record)); a record without an embedding has cosine
 * 0. Embeddings are stored as unit vectors (cosine is a dot product); every
 * embedding of an index has one dimension, set by the first one stored.
 * Int8 copies of them (rebuilt on load, never serialized) let a first pass
 * skip most exact cosines without changing any result or score. */

/* Longest record text, in bytes (TM_ERANGE past it). */
#define TM_MAX_MEMORY_TEXT_BYTES ((size_t)16 * 1024)
/* Largest metadata object of a record, as compact JSON. */
#define TM_MAX_MEMORY_METADATA_BYTES ((size_t)64 * 1024)
/* Most records (live or deleted) in one index. */
#define TM_MAX_MEMORY_RECORDS ((size_t)10 * 1000 * 1000)
/* Largest embedding dimension. */
#define TM_MAX_EMBEDDING_DIM 8192
/* Most results of one search. */
#define TM_MAX_TOP_K 1000
/* Results of a search that does not say. */
#define TM_DEFAULT_TOP_K 5

typedef struct tm_memory tm_memory;

/* A new empty index, or NULL when out of memory. */
tm_memory *tm_memory_new(void);
void tm_memory_free(tm_memory *mem);

/* Live records held. */
size_t tm_memory_count(const tm_memory *mem);

/* Adds a JSON array of records {"text", "scope", "metadata"?, "embedding"?
 * (array of numbers), "id"? (a new UUID when absent), "created_at"? (the
 * host clock when absent)}, all or nothing, and writes the stored records
 * (a JSON array, in order) to *out. A used id is TM_EINVAL; a text over
 * TM_MAX_MEMORY_TEXT_BYTES is TM_ERANGE; an embedding of another dimension
 * is TM_EDIMENSION. */
int tm_memory_add(tm_memory *mem, const char *records_json, char **out);

/* Changes the live record `id` with {"text"?, "metadata"?, "embedding"?}
 * and writes it to *out. A new text without a new embedding drops the old
 * one (it described the old text). An UPDATE event is kept when the text
 * changes. TM_ENOTFOUND when there is no such live record. */
int tm_memory_update(tm_memory *mem, const char *id, const char *patch_json, char **out);

/* Deletes the live record `id` (its history stays). TM_ENOTFOUND when there
 * is no such live record. */
int tm_memory_delete(tm_memory *mem, const char *id);

/* Forgets the record `id`: deletes it if live and erases every text its
 * history holds (the events stay, with their times), so that the index
 * keeps nothing of what it said. `scope_json` as in tm_memory_history.
 * TM_ENOTFOUND for an id never stored, or of another scope. */
int tm_memory_forget(tm_memory *mem, const char *id, const char *scope_json);

/* Writes the live record `id` to *out; TM_ENOTFOUND when absent. */
int tm_memory_get(tm_memory *mem, const char *id, char **out);

/* Writes the live records that match `filter_json` (NULL: all) as a JSON
 * array, oldest first. */
int tm_memory_list(tm_memory *mem, const char *filter_json, char **out);

/* Writes the events of `id` (live or deleted), oldest first, as a JSON
 * array. `scope_json` is NULL (any record) or a scope object, as in a
 * filter: the record's scope must have each of its fields, else the record
 * is TM_ENOTFOUND, as an id never stored is (a deleted record keeps its
 * scope for this). */
int tm_memory_history(tm_memory *mem, const char *id, const char *scope_json, char **out);

/* Searches with {"query":"...", "filter":{...}?, "top_k":n? (1 to
 * TM_MAX_TOP_K, default TM_DEFAULT_TOP_K), "min_score":x?, "embedding":[...]?}
 * and writes the best records, each with "score", best first (ties: oldest
 * first), as a JSON array. Only records with a score above 0 and at least
 * min_score are returned. A query with no word is TM_EEMPTY; an embedding
 * whose dimension differs from the index's is TM_EDIMENSION. */
int tm_memory_search(tm_memory *mem, const char *query_json, char **out);

/* Writes the whole index, history and embeddings included, to *out:
 * {"type":"memory_index","version":1,"dimension":n,"records":[...]}, where
 * a deleted record is {"id","deleted":true,"scope","history":[...]} and an
 * embedding is the base64 of its float32 values, little-endian. */
int tm_memory_serialize(tm_memory *mem, char **out);

/* Replaces the index with one written by tm_memory_serialize, all or
 * nothing. */
int tm_memory_load(tm_memory *mem, const char *index_json);

/* ---- Agent and its run loop. ---- */

typedef struct tm_agent tm_agent;

/* A new agent from its configuration:
 *   {"instructions":"...", "name":"...", "tools":[{"name","description",
 *    "parameters"}], "max_tool_rounds":8, "tool_choice":"auto",
 *    "options":{...extra request fields: model, temperature...}}
 * On failure returns NULL and, when ctx is not NULL, keeps the error on it. */
tm_agent *tm_agent_new(tm_ctx *ctx, const char *config_json);
void tm_agent_free(tm_agent *agent);

/* One turn of an agent, run as a step machine: the core never waits on the
 * world. Each tm_run_step is a short synchronous call that returns the next
 * action for the host; the host performs it (for as long as that takes:
 * the model, the tools, a store, the providers) and passes the outcome to
 * the next step. A host can so keep many runs going at once, on one agent
 * or several, stepping whichever has its answer.
 *
 * The loop: history → providers' invoking → request → model → tool rounds
 * → providers' invoked → the turn (input, assistant and tool messages)
 * appended to the store in one call. On any failure nothing is appended.
 *
 * Two runs on one thread (one store, or one host store) must not overlap:
 * each reads the history when it starts and appends its turn when it ends,
 * so the second would not see the first. The host runs them one after the
 * other (the package queues them per thread). */
typedef struct tm_run tm_run;

/* Starts a run and writes its handle to *out (free it with tm_run_free).
 *
 * `run_json`:
 *   {"messages":[...new input messages...],
 *    "service_thread_id":"..." (optional),
 *    "host_store":true (optional: the thread lives in a host store, which
 *                       lists the history (store_list) and takes the turn
 *                       (store_add)),
 *    "providers":true (optional: ask the host's context providers),
 *    "tools":[...] (optional: extra tools for this run),
 *    "options":{...} (optional: extra request fields for this run),
 *    "stream":true (optional: ask for streamed replies, read them chunk by
 *                   chunk (llm_open, llm_next), and hand every text delta,
 *                   tool call and tool result to the host as it completes)}
 * `store` is the thread's in-memory store, or NULL (host store, service
 * thread, or no history at all). With "host_store", a store is the host
 * store's copy in memory (a persistent store's): the history is read from it
 * in place, with no store_list, and the turn still goes to the host by
 * store_add, never into the copy. The agent and the store must outlive the
 * run; the run is the only writer of neither, so other calls on them may
 * come between its steps. A bad run_json fails here, the error kept on the
 * agent. */
int tm_run_start(tm_agent *agent, tm_store *store, const char *run_json, tm_run **out);

/* Takes the outcome of the action handed out last and writes the next
 * action to *action (tm_malloc'd; the caller frees it). The first step has
 * no outcome (host_rc TM_OK, input NULL).
 *
 * The outcome: `host_rc` is TM_OK when the host performed the action, then
 * `input` is its answer (below; NULL for actions that have none); TM_EHOST
 * when it failed (the host keeps the cause); TM_ENOMEM when it could not
 * hand over its answer. Inputs are copied.
 *
 * Every action is exactly the text {"type":"<type>"} or
 * {"type":"<type>","<key>":<payload>}, in that order, without whitespace,
 * the payload being JSON, so a host may take the payload by position.
 *   {"type":"store_list"}            answer: the host store's messages, a
 *                                    JSON array, oldest first
 *   {"type":"invoking","request":{"messages":[...input]}}
 *                                    answer: the providers' contexts, a JSON
 *                                    array in provider order of null or
 *                                    {"instructions","messages","tools"}
 *   {"type":"llm","request":BODY}    send the chat-completions body; answer:
 *                                    the response body
 *   {"type":"llm_open","request":BODY}  send it asking for a streamed reply
 *                                    ("stream":true); no answer once the
 *                                    endpoint accepted it
 *   {"type":"llm_next"}              answer: the JSON text of the reply's
 *                                    next "data:" event, or NULL at its end
 *                                    ("data: [DONE]" or the end of the body)
 *   {"type":"tools","calls":[{"call_id","name","arguments"}]}
 *                                    run the calls (concurrently where the
 *                                    host can); answer: [{"call_id",
 *                                    "result"}] in the same order
 *   {"type":"emit","event":UPDATE}   an update of a streamed run for the
 *                                    host's consumer: {"type":"text_delta",
 *                                    "text"}, {"type":"tool_call","call_id",
 *                                    "name","arguments"} or {"type":
 *                                    "tool_result","call_id","name","result"};
 *                                    no answer, and it cannot fail
 *   {"type":"invoked","outcome":{"request_messages":[...],
 *    "response_messages":[...],"failed":false}}
 *                                    tell the providers how the run ended;
 *                                    no answer. When "failed" is true (with
 *                                    "error":{"code","message"}) the run has
 *                                    failed and what the host says changes
 *                                    nothing: the next step reports the
 *                                    failure
 *   {"type":"store_add","messages":[...the turn]}
 *                                    append to the host store in one call;
 *                                    no answer
 *   {"type":"done","result":RESULT}  the run is over: RESULT is
 *          {"text":"...", "messages":[...assistant and tool messages...],
 *           "usage":{"prompt_tokens","completion_tokens","total_tokens"},
 *           "response_id":"...", "finish_reason":"...",
 *           "service_thread_id":"..." (when the service returned one),
 *           "window":{"tokens","history_sent","history_dropped"} (windowed)}
 *
 * When the run fails, the step returns the failure's code (and *action is
 * NULL), the message kept on the run; the providers, if their invoking had
 * answered, were told with a failed invoked first. After done or a failure
 * every step is TM_ESTATE. */
int tm_run_step(tm_run *run, int host_rc, const char *input, char **action);

/* Frees a run. Freeing one that is not over cancels it: nothing of its turn
 * is appended (and the providers are not told). */
void tm_run_free(tm_run *run);

#ifdef __cplusplus
}
#endif

#endif /* THREADMEM_H */
