/*
 * Internal helpers shared by the core's files: the hidden handle header that
 * carries errors, small string utilities and JSON parsing with our limits.
 * Nothing here is exported from the package.
 */
#ifndef THREADMEM_CORE_H
#define THREADMEM_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "cJSON.h"
#include "threadmem.h"

/* The first member of every handle, so tm_errmsg() works on any of them. */
typedef struct tm_base {
  int code;
  char *msg;      /* owned unless it points at a static string */
  bool msg_owned;
} tm_base;

/* The error holder of a context (the handle of calls on no other handle). */
tm_base *tm_ctx_base(tm_ctx *ctx);

/* Records a failure on `b` and returns `code`. The message is formatted
 * like printf; when formatting runs out of memory the message degrades to a
 * static one, never to NULL. */
int tm_fail(tm_base *b, int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Clears the last error of `b`: every public call starts with it. */
void tm_base_reset(tm_base *b);
/* Releases the message of `b` (handle destructors call it). */
void tm_base_free(tm_base *b);
/* Copies the error of `from` onto `to` and returns its code. */
int tm_fail_from(tm_base *to, const tm_base *from);

/* A growable NUL-terminated text buffer (capacity doubling). `p` is
 * tm_malloc'd (NULL until the first append); the owner frees it. */
typedef struct tm_sbuf {
  char *p;
  size_t len, cap;
} tm_sbuf;

/* Appends `n` bytes of `text`. TM_ERANGE past TM_MAX_JSON_BYTES, TM_ENOMEM
 * when it cannot grow; the buffer is unchanged on failure. */
int tm_sbuf_add(tm_base *b, tm_sbuf *s, const char *text, size_t n);

/* Copies of strings with the core's allocator; NULL in gives NULL out. */
char *tm_strdup(const char *s);
char *tm_strndup(const char *s, size_t n);

/* Parses `text` as JSON under TM_MAX_JSON_BYTES and TM_MAX_NESTING.
 * TM_EPARSE names the byte offset of the error; what="thread state" etc.
 * prefixes the message. Too long or too deep input is TM_ERANGE; a string
 * holding \u0000 (which would silently cut it short) is TM_EFORMAT; an
 * allocation failure is TM_ENOMEM. */
int tm_json_parse(tm_base *b, const char *text, const char *what, cJSON **out);
/* Prints `json` compactly into a tm_malloc'd string (*out). */
int tm_json_print(tm_base *b, const cJSON *json, char **out);

/* Builds a JSON path for error messages: tm_path_index(p, "messages", 3)
 * gives "messages[3]"; returned in a caller-provided buffer of TM_PATH_MAX
 * bytes (not overlapping base), always terminated, cut on a whole UTF-8
 * character when too long. */
#define TM_PATH_MAX 256
void tm_path_index(char *dst, const char *base, size_t index);
void tm_path_field(char *dst, const char *base, const char *field);

/* Installs the core's allocator into cJSON; idempotent. */
void tm_install_json_hooks(void);

/* How many allocations have failed so far. cJSON returns NULL both for bad
 * input and for an allocation failure; comparing this before and after a
 * cJSON call tells the two apart (TM_ENOMEM versus TM_EPARSE). */
unsigned long tm_alloc_failures(void);

/* True when the n bytes at s are well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF, no NUL). */
bool tm_utf8_valid(const char *s, size_t n);

#endif /* THREADMEM_CORE_H */
