/*
 * Compact JSON printing for every JSON text the core writes.
 *
 * The core does not print through cJSON because cJSON prints a number with
 * 15 significant digits whenever that is "close" to the value, so
 * 0.30000000000000004 came back as 0.3 and 2^53-1 as 9007199254740990. Here
 * a number gets the fewest digits (15, 16 or 17) that read back as exactly
 * the same double, so every number survives a round trip.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

typedef struct out_buf {
  char *p;
  size_t len, cap;
  bool oom;
} out_buf;

/* Makes room for n more bytes (and a final NUL), doubling the capacity. */
static bool reserve(out_buf *o, size_t n) {
  if (o->oom) return false;
  if (o->len + n + 1 <= o->cap) return true;
  size_t cap = o->cap ? o->cap : 256;
  while (cap < o->len + n + 1) {
    if (cap > SIZE_MAX / 2) {
      o->oom = true;
      return false;
    }
    cap *= 2;
  }
  char *p = tm_realloc(o->p, cap);
  if (!p) {
    o->oom = true;
    return false;
  }
  o->p = p;
  o->cap = cap;
  return true;
}

static void put(out_buf *o, const char *s, size_t n) {
  if (!reserve(o, n)) return;
  memcpy(o->p + o->len, s, n);
  o->len += n;
}

static void put_char(out_buf *o, char c) { put(o, &c, 1); }

static void put_number(out_buf *o, double v) {
  char tmp[32];
  /* JSON has no NaN or infinity; cJSON prints them as null too. */
  if (isnan(v) || isinf(v)) {
    put(o, "null", 4);
    return;
  }
  int n = 0;
  for (int digits = 15; digits <= 17; digits++) {
    n = snprintf(tmp, sizeof tmp, "%.*g", digits, v);
    if (n > 0 && strtod(tmp, NULL) == v) break;
  }
  if (n > 0) put(o, tmp, (size_t)n);
}

static void put_string(out_buf *o, const char *s) {
  static const char hex[] = "0123456789abcdef";
  put_char(o, '"');
  if (s) {
    const char *run = s; /* bytes copied as they are, in one go */
    for (; *s; s++) {
      unsigned char c = (unsigned char)*s;
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      put(o, run, (size_t)(s - run));
      run = s + 1;
      switch (c) {
        case '"': put(o, "\\\"", 2); break;
        case '\\': put(o, "\\\\", 2); break;
        case '\b': put(o, "\\b", 2); break;
        case '\f': put(o, "\\f", 2); break;
        case '\n': put(o, "\\n", 2); break;
        case '\r': put(o, "\\r", 2); break;
        case '\t': put(o, "\\t", 2); break;
        default: {
          char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
          put(o, esc, sizeof esc);
        }
      }
    }
    put(o, run, (size_t)(s - run));
  }
  put_char(o, '"');
}

/* Recursion is bounded: parsed input is at most TM_MAX_NESTING deep, and
 * the core only wraps it in a few levels of its own. */
static void put_value(out_buf *o, const cJSON *j) {
  switch (j->type & 0xFF) {
    case cJSON_False: put(o, "false", 5); break;
    case cJSON_True: put(o, "true", 4); break;
    case cJSON_NULL: put(o, "null", 4); break;
    case cJSON_Number: put_number(o, j->valuedouble); break;
    case cJSON_String: put_string(o, j->valuestring); break;
    case cJSON_Raw:
      if (j->valuestring) put(o, j->valuestring, strlen(j->valuestring));
      break;
    case cJSON_Array:
    case cJSON_Object: {
      bool object = (j->type & 0xFF) == cJSON_Object;
      put_char(o, object ? '{' : '[');
      for (const cJSON *c = j->child; c; c = c->next) {
        if (c != j->child) put_char(o, ',');
        if (object) {
          put_string(o, c->string);
          put_char(o, ':');
        }
        put_value(o, c);
      }
      put_char(o, object ? '}' : ']');
      break;
    }
    default: put(o, "null", 4); break; /* cJSON_Invalid: never built */
  }
}

int tm_json_print(tm_base *b, const cJSON *json, char **out) {
  if (!out) return tm_fail(b, TM_EINVAL, "no output pointer");
  *out = NULL;
  if (!json) return tm_fail(b, TM_EINVAL, "nothing to print");
  out_buf o = {NULL, 0, 0, false};
  put_value(&o, json);
  if (!reserve(&o, 0)) {
    tm_free(o.p);
    return tm_fail(b, TM_ENOMEM, "out of memory");
  }
  o.p[o.len] = '\0';
  *out = o.p;
  return TM_OK;
}
