/*
 * Errors on handles, small string helpers and JSON parsing under the core's
 * limits.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* When the message itself cannot be allocated, the code still tells what
 * happened; the message says why it is vague. */
static const char oom_message[] = "out of memory";
static const char vague_message[] = "error (no memory left to describe it)";

void tm_base_reset(tm_base *b) {
  if (!b) return;
  if (b->msg_owned) tm_free(b->msg);
  b->code = TM_OK;
  b->msg = NULL;
  b->msg_owned = false;
}

void tm_base_free(tm_base *b) { tm_base_reset(b); }

static void set_static(tm_base *b, int code, const char *msg) {
  tm_base_reset(b);
  b->code = code;
  b->msg = (char *)msg;
  b->msg_owned = false;
}

int tm_fail(tm_base *b, int code, const char *fmt, ...) {
  if (!b) return code;
  /* An allocation just failed: allocating the message would most likely
   * fail too, and a static message keeps the allocation count of a failed
   * call at zero. */
  if (code == TM_ENOMEM) {
    set_static(b, code, oom_message);
    return code;
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *msg = n >= 0 ? tm_malloc((size_t)n + 1) : NULL;
  if (!msg) {
    set_static(b, code, vague_message);
    return code;
  }
  va_start(ap, fmt);
  vsnprintf(msg, (size_t)n + 1, fmt, ap);
  va_end(ap);
  tm_base_reset(b);
  b->code = code;
  b->msg = msg;
  b->msg_owned = true;
  return code;
}

int tm_fail_from(tm_base *to, const tm_base *from) {
  if (!to || !from || to == from) return from ? from->code : TM_EINVAL;
  int code = from->code;
  if (!from->msg_owned) {
    set_static(to, code, from->msg);
    return code;
  }
  return tm_fail(to, code, "%s", from->msg);
}

int tm_errcode(const void *handle) {
  /* A NULL handle comes from a constructor that ran out of memory. */
  if (!handle) return TM_ENOMEM;
  return ((const tm_base *)handle)->code;
}

const char *tm_errmsg(const void *handle) {
  if (!handle) return oom_message;
  const tm_base *b = handle;
  return b->msg ? b->msg : "";
}

const char *tm_code_name(int code) {
  switch (code) {
    case TM_OK: return "TM_OK";
    case TM_ENOMEM: return "TM_ENOMEM";
    case TM_EINVAL: return "TM_EINVAL";
    case TM_EPARSE: return "TM_EPARSE";
    case TM_EFORMAT: return "TM_EFORMAT";
    case TM_ESTATE: return "TM_ESTATE";
    case TM_ERANGE: return "TM_ERANGE";
    case TM_EHOST: return "TM_EHOST";
    case TM_ERESPONSE: return "TM_ERESPONSE";
    case TM_EROUNDS: return "TM_EROUNDS";
    case TM_ENOTFOUND: return "TM_ENOTFOUND";
    case TM_EENCODING: return "TM_EENCODING";
    case TM_EWINDOW: return "TM_EWINDOW";
    case TM_EEMPTY: return "TM_EEMPTY";
    case TM_EDIMENSION: return "TM_EDIMENSION";
    case TM_ESEALED: return "TM_ESEALED";
    case TM_EPLAIN: return "TM_EPLAIN";
    default: return "TM_EUNKNOWN";
  }
}

int tm_sbuf_add(tm_base *b, tm_sbuf *s, const char *text, size_t n) {
  if (n > TM_MAX_JSON_BYTES || s->len > TM_MAX_JSON_BYTES - n)
    return tm_fail(b, TM_ERANGE, "text above %zu bytes", TM_MAX_JSON_BYTES);
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->len + n + 1) cap *= 2; /* bounded: len + n <= TM_MAX_JSON_BYTES */
    char *p = tm_realloc(s->p, cap);
    if (!p) return tm_fail(b, TM_ENOMEM, "out of memory");
    s->p = p;
    s->cap = cap;
  }
  memcpy(s->p + s->len, text, n);
  s->len += n;
  s->p[s->len] = '\0';
  return TM_OK;
}

char *tm_strndup(const char *s, size_t n) {
  if (!s) return NULL;
  char *d = tm_malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *tm_strdup(const char *s) { return s ? tm_strndup(s, strlen(s)) : NULL; }

bool tm_utf8_valid(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c == 0) return false;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      unsigned cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

static bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool in_number(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* One cheap pass before cJSON: it finds what cJSON would accept silently
 * or report vaguely. Nesting past TM_MAX_NESTING is a limit (TM_ERANGE), not
 * a syntax error; "\uZZZZ" and "\u0000" would both become a NUL byte that
 * silently cuts the string short; a number beyond a double's range would
 * become infinity, which JSON cannot carry (it would be written back as
 * null), so it is a limit too. */
static int prescan(tm_base *b, const char *text, size_t len, const char *what) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        if (i + 1 < len && text[i + 1] == 'u' && i + 5 < len) {
          const char *h = text + i + 2;
          if (!is_hex(h[0]) || !is_hex(h[1]) || !is_hex(h[2]) || !is_hex(h[3]))
            return tm_fail(b, TM_EPARSE, "%s: invalid JSON at byte %zu (bad \\u escape)", what, i);
          if (h[0] == '0' && h[1] == '0' && h[2] == '0' && h[3] == '0')
            return tm_fail(b, TM_EFORMAT,
                           "%s: a string at byte %zu contains \\u0000, which is not supported",
                           what, i);
        }
        i++; /* the escaped character cannot end the string */
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > TM_MAX_NESTING)
        return tm_fail(b, TM_ERANGE, "%s: nesting deeper than %d levels at byte %zu", what,
                       TM_MAX_NESTING, i);
    } else if ((c == ']' || c == '}') && depth > 0) {
      depth--;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t end = i;
      bool exponent = false;
      for (; end < len && in_number(text[end]); end++) exponent |= text[end] == 'e' || text[end] == 'E';
      /* Only an exponent or more digits than DBL_MAX has can overflow. */
      if ((exponent || end - i > DBL_MAX_10_EXP) && !isfinite(strtod(text + i, NULL)))
        return tm_fail(b, TM_ERANGE, "%s: the number at byte %zu is beyond the range of a double",
                       what, i);
      i = end - 1;
    }
  }
  return TM_OK;
}

int tm_json_parse(tm_base *b, const char *text, const char *what, cJSON **out) {
  if (out) *out = NULL;
  if (!what) what = "JSON";
  if (!text || !out) return tm_fail(b, TM_EINVAL, "%s: no input", what);
  size_t len = strlen(text);
  if (len > TM_MAX_JSON_BYTES)
    return tm_fail(b, TM_ERANGE, "%s: %zu bytes is more than the limit of %zu bytes", what, len,
                   TM_MAX_JSON_BYTES);
  int rc = prescan(b, text, len, what);
  if (rc) return rc;
  tm_install_json_hooks();
  unsigned long failures = tm_alloc_failures();
  const char *end = NULL;
  cJSON *json = cJSON_ParseWithOpts(text, &end, 1);
  if (!json) {
    if (tm_alloc_failures() != failures) return tm_fail(b, TM_ENOMEM, "out of memory");
    size_t at = end && end >= text ? (size_t)(end - text) : 0;
    return tm_fail(b, TM_EPARSE, "%s: invalid JSON at byte %zu", what, at);
  }
  *out = json;
  return TM_OK;
}


/* Ends a path that snprintf may have cut short on a whole UTF-8 character,
 * so an error message never carries half of one. */
static void path_terminate(char *dst, size_t n) {
  if (n < TM_PATH_MAX) return; /* it fit */
  const unsigned char *u = (const unsigned char *)dst;
  size_t end = TM_PATH_MAX - 1, k = end;
  while (k > 0 && (u[k - 1] & 0xC0) == 0x80) k--;
  if (k > 0) {
    unsigned c = u[k - 1];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (end - (k - 1) < need) end = k - 1;
  }
  dst[end] = '\0';
}

void tm_path_index(char *dst, const char *base, size_t index) {
  int n = snprintf(dst, TM_PATH_MAX, "%s[%zu]", base ? base : "", index);
  if (n < 0) {
    dst[0] = '\0';
    return;
  }
  path_terminate(dst, (size_t)n);
}

void tm_path_field(char *dst, const char *base, const char *field) {
  int n = (base && base[0]) ? snprintf(dst, TM_PATH_MAX, "%s.%s", base, field)
                            : snprintf(dst, TM_PATH_MAX, "%s", field);
  if (n < 0) {
    dst[0] = '\0';
    return;
  }
  path_terminate(dst, (size_t)n);
}
