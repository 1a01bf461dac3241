/*
 * The message model: lenient reading of Agent Framework's chat_message (and
 * the plain shapes users write by hand) into one canonical cJSON form, plus
 * stamping, copying and text extraction.
 *
 * Reading never trusts its input: every kept string is checked as UTF-8, JSON
 * types are checked before use, and the size of what is kept is bounded
 * before it is copied, so a bad message fails with its path and a big one
 * fails before it costs memory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "message.h"

/* Room for the fixed parts of a canonical message: tags, the role object,
 * punctuation. Only an upper bound matters. */
#define MESSAGE_OVERHEAD 128
#define CONTENT_OVERHEAD 48

/* Role and content-type values are quoted in errors only when short and
 * printable as they are. */
#define QUOTE_MAX 40

static const char *const role_names[] = {"system", "user", "assistant", "tool"};

const char *tm_role_name(tm_role role) {
  return (unsigned)role < 4 ? role_names[role] : "user";
}

/* Roles compare without regard to ASCII case, as Agent Framework's do. */
static bool ascii_ieq(const char *a, const char *b) {
  for (;; a++, b++) {
    char ca = *a, cb = *b;
    if (ca >= 'A' && ca <= 'Z') ca = (char)(ca - 'A' + 'a');
    if (cb >= 'A' && cb <= 'Z') cb = (char)(cb - 'A' + 'a');
    if (ca != cb) return false;
    if (!ca) return true;
  }
}

bool tm_role_parse(const char *name, tm_role *out) {
  if (!name) return false;
  for (unsigned i = 0; i < 4; i++) {
    if (ascii_ieq(name, role_names[i])) {
      if (out) *out = (tm_role)i;
      return true;
    }
  }
  return false;
}

/* ---- Vectors. ---- */

int tm_msgvec_reserve(tm_base *b, tm_msgvec *v, size_t extra) {
  if (extra <= v->cap - v->len) return TM_OK;
  size_t max = SIZE_MAX / sizeof(tm_message);
  if (extra > max - v->len) return tm_fail(b, TM_ENOMEM, "out of memory");
  size_t need = v->len + extra;
  size_t cap = v->cap ? v->cap : 8;
  while (cap < need) cap = cap > max / 2 ? need : cap * 2;
  tm_message *items = tm_realloc(v->items, cap * sizeof(tm_message));
  if (!items) return tm_fail(b, TM_ENOMEM, "out of memory");
  v->items = items;
  v->cap = cap;
  return TM_OK;
}

void tm_msgvec_push(tm_msgvec *v, tm_message m) { v->items[v->len++] = m; }

void tm_msgvec_free(tm_msgvec *v) {
  for (size_t i = 0; i < v->len; i++) tm_message_free(&v->items[i]);
  tm_free(v->items);
  v->items = NULL;
  v->len = v->cap = 0;
}

void tm_message_free(tm_message *m) {
  if (!m) return;
  cJSON_Delete(m->json);
  m->json = NULL;
}

/* ---- Building blocks. ---- */

/* Adds `item` under a static key; no allocation, so it cannot fail once the
 * item exists. A NULL item (a failed create) is freed nowhere: the caller
 * checks it first. */
static void put(cJSON *obj, const char *static_key, cJSON *item) {
  cJSON_AddItemToObjectCS(obj, static_key, item);
}

/* Inserts `item` before `at` (or last when `at` is NULL) without allocating.
 * cJSON 1.7.15's cJSON_InsertItemInArray refuses new items in the middle. */
static void insert_before(cJSON *obj, cJSON *at, const char *static_key, cJSON *item) {
  item->string = (char *)static_key;
  item->type |= cJSON_StringIsConst;
  if (!at) {
    cJSON_AddItemToArray(obj, item);
    return;
  }
  item->next = at;
  item->prev = at->prev;
  if (at == obj->child)
    obj->child = item;
  else
    at->prev->next = item;
  at->prev = item;
}

static cJSON *role_object(tm_role role) {
  cJSON *o = cJSON_CreateObject();
  cJSON *t = cJSON_CreateStringReference("role");
  cJSON *v = cJSON_CreateStringReference(tm_role_name(role));
  if (!o || !t || !v) {
    cJSON_Delete(o);
    cJSON_Delete(t);
    cJSON_Delete(v);
    return NULL;
  }
  put(o, "type", t);
  put(o, "value", v);
  return o;
}

/* A message with its tag and role and an empty contents array (returned in
 * *contents), in the canonical key order. */
static cJSON *new_message(tm_role role, cJSON **contents) {
  cJSON *msg = cJSON_CreateObject();
  cJSON *tag = cJSON_CreateStringReference("chat_message");
  cJSON *ro = role_object(role);
  *contents = cJSON_CreateArray();
  if (!msg || !tag || !ro || !*contents) {
    cJSON_Delete(msg);
    cJSON_Delete(tag);
    cJSON_Delete(ro);
    cJSON_Delete(*contents);
    return NULL;
  }
  put(msg, "type", tag);
  put(msg, "role", ro);
  put(msg, "contents", *contents);
  return msg;
}

static bool is_key(const cJSON *item, const char *key) {
  return item->string && strcmp(item->string, key) == 0;
}

/* The state of reading one message: where it is, for errors, and how big
 * what is kept so far would print. */
typedef struct reader {
  tm_base *b;
  const char *path;
  size_t size;
  size_t n_contents;
} reader;

static int grow(reader *r, size_t n) {
  r->size = n > SIZE_MAX - r->size ? SIZE_MAX : r->size + n;
  if (r->size > TM_MAX_MESSAGE_BYTES)
    return tm_fail(r->b, TM_ERANGE, "%s: the message is larger than the limit of %zu bytes",
                   r->path, TM_MAX_MESSAGE_BYTES);
  return TM_OK;
}

/* Walks a value kept as given (arguments, results, extra properties): every
 * string and key must be UTF-8, and its printed size counts. */
static const char *quotable(const char *s);

static int by_key(const void *x, const void *y) {
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* An object names each key once: a repeated key would be kept twice in the
 * canonical form, and read back as one. O(k log k) for k keys. */
static int check_unique_keys(reader *r, const cJSON *obj, const char *path) {
  size_t n = 0;
  for (const cJSON *c = obj->child; c; c = c->next) n++;
  if (n < 2) return TM_OK;
  const char **keys = tm_malloc(n * sizeof *keys);
  if (!keys) return tm_fail(r->b, TM_ENOMEM, "out of memory");
  size_t k = 0;
  for (const cJSON *c = obj->child; c; c = c->next) keys[k++] = c->string ? c->string : "";
  qsort(keys, n, sizeof *keys, by_key);
  int rc = TM_OK;
  for (size_t i = 1; i < n && rc == TM_OK; i++) {
    if (strcmp(keys[i - 1], keys[i]) == 0) {
      char kp[TM_PATH_MAX];
      tm_path_field(kp, path, quotable(keys[i]));
      rc = tm_fail(r->b, TM_EFORMAT, "%s: duplicate key", kp);
    }
  }
  tm_free((void *)keys);
  return rc;
}

static int check_value(reader *r, const cJSON *v, const char *path, int depth) {
  if (depth > TM_MAX_NESTING)
    return tm_fail(r->b, TM_ERANGE, "%s: nesting deeper than %d levels", path, TM_MAX_NESTING);
  int rc;
  if (cJSON_IsString(v)) {
    size_t n = strlen(v->valuestring);
    if (!tm_utf8_valid(v->valuestring, n))
      return tm_fail(r->b, TM_EFORMAT, "%s: a string is not valid UTF-8", path);
    return grow(r, n + 2);
  }
  if (cJSON_IsNumber(v) || cJSON_IsBool(v) || cJSON_IsNull(v)) return grow(r, 24);
  if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
    return tm_fail(r->b, TM_EFORMAT, "%s: not a JSON value", path);
  if ((rc = grow(r, 2))) return rc;
  if (cJSON_IsObject(v) && (rc = check_unique_keys(r, v, path))) return rc;
  for (const cJSON *c = v->child; c; c = c->next) {
    if (cJSON_IsObject(v)) {
      size_t n = c->string ? strlen(c->string) : 0;
      if (!c->string || !tm_utf8_valid(c->string, n))
        return tm_fail(r->b, TM_EFORMAT, "%s: a key is not valid UTF-8", path);
      if ((rc = grow(r, n + 3))) return rc;
    }
    if ((rc = check_value(r, c, path, depth + 1))) return rc;
    if ((rc = grow(r, 1))) return rc;
  }
  return TM_OK;
}

/* Checks a string to keep: UTF-8, and at most max_len bytes when max_len is
 * not 0. */
static int check_string(reader *r, const cJSON *v, const char *path, size_t max_len) {
  if (!cJSON_IsString(v)) return tm_fail(r->b, TM_EFORMAT, "%s: expected a string", path);
  size_t n = strlen(v->valuestring);
  if (max_len && n > max_len)
    return tm_fail(r->b, TM_ERANGE, "%s: longer than the limit of %zu bytes", path, max_len);
  if (!tm_utf8_valid(v->valuestring, n))
    return tm_fail(r->b, TM_EFORMAT, "%s: not valid UTF-8", path);
  return grow(r, n + 16);
}

static int put_copy(reader *r, cJSON *obj, const char *static_key, const cJSON *v) {
  cJSON *c = cJSON_Duplicate(v, 1);
  if (!c) return tm_fail(r->b, TM_ENOMEM, "out of memory");
  put(obj, static_key, c);
  return TM_OK;
}

static int put_string(reader *r, cJSON *obj, const char *static_key, const char *s) {
  cJSON *c = cJSON_CreateString(s);
  if (!c) return tm_fail(r->b, TM_ENOMEM, "out of memory");
  put(obj, static_key, c);
  return TM_OK;
}

/* A short quotable excerpt of an unexpected value, or "" when it is not
 * safe to print. */
static const char *quotable(const char *s) {
  size_t n = strlen(s);
  return n <= QUOTE_MAX && tm_utf8_valid(s, n) ? s : "";
}

/* Collects the extras of an object: `given` is its own
 * "additional_properties" (an object or NULL), `in` the object whose keys
 * outside `known` are extras. Null extras are dropped; a key given in both
 * places keeps the explicit additional_properties value. *out is NULL when
 * there is nothing to keep. */
static int read_extras(reader *r, const cJSON *in, const char *const *known, const cJSON *given,
                       const char *path, cJSON **out) {
  *out = NULL;
  cJSON *ap = NULL;
  int rc;
  char p[TM_PATH_MAX];
  if ((rc = check_unique_keys(r, in, path))) return rc;
  tm_path_field(p, path, "additional_properties");
  if (given) {
    if ((rc = check_value(r, given, p, 1))) return rc;
    if (!(ap = cJSON_Duplicate(given, 1))) return tm_fail(r->b, TM_ENOMEM, "out of memory");
  }
  for (const cJSON *c = in->child; c; c = c->next) {
    if (cJSON_IsNull(c)) continue;
    bool is_known = false;
    for (const char *const *k = known; *k && !is_known; k++) is_known = is_key(c, *k);
    if (is_known) continue;
    if (!c->string) {
      rc = tm_fail(r->b, TM_EFORMAT, "%s: a member has no key", path);
      goto fail;
    }
    if (given && cJSON_GetObjectItemCaseSensitive(given, c->string)) continue;
    size_t n = strlen(c->string);
    if (!tm_utf8_valid(c->string, n)) {
      rc = tm_fail(r->b, TM_EFORMAT, "%s: a key is not valid UTF-8", path);
      goto fail;
    }
    char kp[TM_PATH_MAX];
    tm_path_field(kp, path, c->string);
    if ((rc = check_value(r, c, kp, 1)) || (rc = grow(r, n + 3))) goto fail;
    if (!ap && !(ap = cJSON_CreateObject())) goto oom;
    /* The copy keeps its own copy of the key, so it goes in as it is. */
    cJSON *copy = cJSON_Duplicate(c, 1);
    if (!copy) goto oom;
    cJSON_AddItemToArray(ap, copy);
  }
  if (ap && !ap->child) {
    cJSON_Delete(ap);
    ap = NULL;
  }
  *out = ap;
  return TM_OK;
oom:
  rc = tm_fail(r->b, TM_ENOMEM, "out of memory");
fail:
  cJSON_Delete(ap);
  return rc;
}

/* ---- Contents. ---- */

enum { F_REQ_STRING, F_OPT_STRING, F_REQ_ID, F_ARGUMENTS, F_ANY };

typedef struct field_spec {
  const char *name;
  int kind;
} field_spec;

/* The fields of each content type, in canonical order. */
typedef struct content_spec {
  const char *type;
  field_spec fields[3];
} content_spec;

static const content_spec content_specs[] = {
    {"text", {{"text", F_REQ_STRING}}},
    {"function_call", {{"call_id", F_REQ_ID}, {"name", F_REQ_ID}, {"arguments", F_ARGUMENTS}}},
    {"function_result", {{"call_id", F_REQ_ID}, {"result", F_ANY}}},
    {"data", {{"uri", F_REQ_STRING}, {"media_type", F_OPT_STRING}}},
    {"uri", {{"uri", F_REQ_STRING}, {"media_type", F_OPT_STRING}}},
    {"text_reasoning", {{"text", F_OPT_STRING}}},
};
#define N_CONTENT_SPECS (sizeof(content_specs) / sizeof(content_specs[0]))

static const cJSON *field(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNull(v) ? NULL : v;
}

static int read_field(reader *r, const cJSON *in, const field_spec *f, const char *cpath,
                      cJSON *out) {
  char p[TM_PATH_MAX];
  tm_path_field(p, cpath, f->name);
  const cJSON *v = field(in, f->name);
  int rc;
  if (!v) {
    if (f->kind == F_REQ_STRING || f->kind == F_REQ_ID)
      return tm_fail(r->b, TM_EFORMAT, "%s: missing", p);
    return TM_OK;
  }
  switch (f->kind) {
    case F_REQ_STRING:
    case F_OPT_STRING:
    case F_REQ_ID:
      if ((rc = check_string(r, v, p, f->kind == F_REQ_ID ? TM_MAX_ID_BYTES : 0))) return rc;
      return put_string(r, out, f->name, v->valuestring);
    case F_ARGUMENTS:
      /* Kept as given: the model's text, or an object a caller built. */
      if (!cJSON_IsString(v) && !cJSON_IsObject(v))
        return tm_fail(r->b, TM_EFORMAT, "%s: expected a string or an object", p);
      if ((rc = check_value(r, v, p, 1))) return rc;
      return put_copy(r, out, f->name, v);
    default:
      if ((rc = check_value(r, v, p, 1))) return rc;
      return put_copy(r, out, f->name, v);
  }
}

static const char *const content_common_keys[] = {"type", "annotations", "additional_properties",
                                                  "raw_representation", NULL};

static int read_content(reader *r, const cJSON *in, const char *cpath, cJSON *contents) {
  cJSON *out = NULL, *ap = NULL;
  int rc;
  char p[TM_PATH_MAX];
  if (r->n_contents >= TM_MAX_CONTENTS)
    return tm_fail(r->b, TM_ERANGE, "%s: the message has more than the limit of %d contents",
                   r->path, TM_MAX_CONTENTS);
  r->n_contents++;
  if ((rc = grow(r, CONTENT_OVERHEAD))) return rc;
  if (cJSON_IsString(in)) {
    /* A bare string in a contents array is a text content. */
    if ((rc = check_string(r, in, cpath, 0))) return rc;
    cJSON *text_tag = NULL;
    if (!(out = cJSON_CreateObject()) || !(text_tag = cJSON_CreateStringReference("text")))
      goto oom;
    put(out, "type", text_tag);
    if ((rc = put_string(r, out, "text", in->valuestring))) goto fail;
    cJSON_AddItemToArray(contents, out);
    return TM_OK;
  }
  if (!cJSON_IsObject(in)) return tm_fail(r->b, TM_EFORMAT, "%s: expected a content object", cpath);

  tm_path_field(p, cpath, "type");
  const cJSON *t = field(in, "type");
  const content_spec *spec = NULL;
  if (!t) {
    /* Untagged: a content with text is a text content. */
    if (!field(in, "text")) return tm_fail(r->b, TM_EFORMAT, "%s: missing", p);
    spec = &content_specs[0];
  } else if (!cJSON_IsString(t)) {
    return tm_fail(r->b, TM_EFORMAT, "%s: expected a string", p);
  } else {
    for (size_t i = 0; i < N_CONTENT_SPECS && !spec; i++)
      if (strcmp(t->valuestring, content_specs[i].type) == 0) spec = &content_specs[i];
    if (!spec)
      return tm_fail(r->b, TM_EFORMAT, "%s: unknown content type \"%s\"", p,
                     quotable(t->valuestring));
  }

  if (!(out = cJSON_CreateObject())) goto oom;
  cJSON *tag = cJSON_CreateStringReference(spec->type);
  if (!tag) goto oom;
  put(out, "type", tag);
  const char *known[8];
  size_t nk = 0;
  for (const char *const *k = content_common_keys; *k; k++) known[nk++] = *k;
  for (size_t i = 0; i < 3 && spec->fields[i].name; i++) {
    if ((rc = read_field(r, in, &spec->fields[i], cpath, out))) goto fail;
    known[nk++] = spec->fields[i].name;
  }
  known[nk] = NULL;

  const cJSON *ann = field(in, "annotations");
  if (ann) {
    tm_path_field(p, cpath, "annotations");
    if ((rc = check_value(r, ann, p, 1)) || (rc = put_copy(r, out, "annotations", ann))) goto fail;
  }
  const cJSON *given = field(in, "additional_properties");
  tm_path_field(p, cpath, "additional_properties");
  if (given && !cJSON_IsObject(given)) {
    rc = tm_fail(r->b, TM_EFORMAT, "%s: expected an object", p);
    goto fail;
  }
  if ((rc = read_extras(r, in, known, given, cpath, &ap))) goto fail;
  if (ap) put(out, "additional_properties", ap);
  cJSON_AddItemToArray(contents, out);
  return TM_OK;
oom:
  rc = tm_fail(r->b, TM_ENOMEM, "out of memory");
fail:
  cJSON_Delete(out);
  return rc;
}

/* Reads a "contents" (or "content") value: an array of contents, or one
 * string standing for one text content. */
static int read_contents(reader *r, const cJSON *v, const char *path, cJSON *contents) {
  int rc;
  char p[TM_PATH_MAX];
  if (cJSON_IsString(v)) return read_content(r, v, path, contents);
  if (!cJSON_IsArray(v)) return tm_fail(r->b, TM_EFORMAT, "%s: expected an array", path);
  size_t i = 0;
  for (const cJSON *c = v->child; c; c = c->next, i++) {
    tm_path_index(p, path, i);
    if ((rc = read_content(r, c, p, contents))) return rc;
  }
  return TM_OK;
}

/* ---- Time. ---- */

/* Milliseconds of 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z:
 * the range that prints as four-digit years. */
#define MS_MIN (-62167219200000.0)
#define MS_MAX (253402300799999.0)

/* Proleptic Gregorian date of a day count from 1970-01-01, computed in
 * 400-year eras (146097 days each) counted from 0000-03-01 so that leap
 * days fall at the end of a year. */
static void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d) {
  int64_t z = days + 719468; /* days from 0000-03-01 */
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);                            /* [0, 146096] */
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  /* [0, 399] */
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                 /* [0, 365] */
  unsigned mp = (5 * doy + 2) / 153;                                      /* March = 0 */
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void iso_from_ms(double ms, char dst[25]) {
  if (!(ms >= MS_MIN)) ms = MS_MIN; /* also NaN */
  if (ms > MS_MAX) ms = MS_MAX;
  int64_t t = (int64_t)ms;
  if ((double)t > ms) t--; /* floor for negative times */
  int64_t days = t / 86400000, rem = t % 86400000;
  if (rem < 0) {
    rem += 86400000;
    days--;
  }
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, &y, &mo, &d);
  unsigned r = (unsigned)rem;
  snprintf(dst, 25, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", (int)y, mo, d, r / 3600000,
           r / 60000 % 60, r / 1000 % 60, r % 1000);
}

void tm_now_iso(char dst[25]) { iso_from_ms(tm_host_now_ms(), dst); }

void tm_iso_from_ms(double ms, char dst[25]) { iso_from_ms(ms, dst); }

void tm_uuid(char dst[37]) {
  static const char hex[] = "0123456789abcdef";
  uint8_t r[16];
  tm_host_random(r, sizeof r);
  r[6] = (uint8_t)((r[6] & 0x0F) | 0x40); /* version 4 */
  r[8] = (uint8_t)((r[8] & 0x3F) | 0x80); /* RFC 4122 variant */
  size_t o = 0;
  for (size_t i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) dst[o++] = '-';
    dst[o++] = hex[r[i] >> 4];
    dst[o++] = hex[r[i] & 15];
  }
  dst[o] = '\0';
}

/* ---- Messages. ---- */

enum { K_TYPE, K_ROLE, K_CONTENTS, K_CONTENT, K_TEXT, K_AUTHOR, K_ID, K_CREATED, K_EXTRA, K_RAW, K_N };
static const char *const message_keys[K_N + 1] = {
    "type",       "role",       "contents",              "content",            "text",
    "author_name", "message_id", "created_at", "additional_properties", "raw_representation",
    NULL};

static int read_role(reader *r, const cJSON *v, tm_role *role) {
  char p[TM_PATH_MAX];
  tm_path_field(p, r->path, "role");
  if (!v) return tm_fail(r->b, TM_EFORMAT, "%s: missing", p);
  const cJSON *name = v;
  if (cJSON_IsObject(v)) {
    const cJSON *t = field(v, "type");
    if (t && !(cJSON_IsString(t) && strcmp(t->valuestring, "role") == 0))
      return tm_fail(r->b, TM_EFORMAT, "%s.type: expected \"role\"", p);
    name = field(v, "value");
    tm_path_field(p, r->path, "role.value");
    if (!name) return tm_fail(r->b, TM_EFORMAT, "%s: missing", p);
  }
  if (!cJSON_IsString(name))
    return tm_fail(r->b, TM_EFORMAT, "%s: expected a role name (\"user\", \"assistant\", ...)", p);
  if (!tm_role_parse(name->valuestring, role))
    return tm_fail(r->b, TM_EFORMAT, "%s: unknown role \"%s\"", p, quotable(name->valuestring));
  return TM_OK;
}

int tm_message_read(tm_base *b, const cJSON *in, const char *path, tm_message *out) {
  reader r = {b, path && path[0] ? path : "message", 0, 0};
  const cJSON *k[K_N] = {0};
  cJSON *msg = NULL, *contents = NULL, *ap = NULL;
  char p[TM_PATH_MAX];
  int rc;
  out->json = NULL;
  if (!cJSON_IsObject(in)) return tm_fail(b, TM_EFORMAT, "%s: expected a message object", r.path);
  for (const cJSON *c = in->child; c; c = c->next) {
    if (cJSON_IsNull(c)) continue; /* every-null form: a null is an absent field */
    for (int i = 0; i < K_N; i++) {
      if (!is_key(c, message_keys[i])) continue;
      if (k[i]) {
        tm_path_field(p, r.path, message_keys[i]);
        return tm_fail(b, TM_EFORMAT, "%s: duplicate key", p);
      }
      k[i] = c;
    }
  }
  if (k[K_TYPE] && !(cJSON_IsString(k[K_TYPE]) &&
                     strcmp(k[K_TYPE]->valuestring, "chat_message") == 0)) {
    tm_path_field(p, r.path, "type");
    return tm_fail(b, TM_EFORMAT, "%s: expected \"chat_message\"", p);
  }
  tm_role role;
  if ((rc = read_role(&r, k[K_ROLE], &role))) return rc;
  if (k[K_CONTENTS] && k[K_CONTENT])
    return tm_fail(b, TM_EFORMAT, "%s: both \"contents\" and \"content\" given", r.path);
  if ((rc = grow(&r, MESSAGE_OVERHEAD))) return rc;

  if (!(msg = new_message(role, &contents))) goto oom;

  const cJSON *cv = k[K_CONTENTS] ? k[K_CONTENTS] : k[K_CONTENT];
  if (cv) {
    tm_path_field(p, r.path, k[K_CONTENTS] ? "contents" : "content");
    if ((rc = read_contents(&r, cv, p, contents))) goto fail;
  }
  if (k[K_TEXT]) {
    /* "text" adds one text content after the others, as Agent Framework's
     * ChatMessage(text=...) does. */
    tm_path_field(p, r.path, "text");
    if (!cJSON_IsString(k[K_TEXT])) {
      rc = tm_fail(b, TM_EFORMAT, "%s: expected a string", p);
      goto fail;
    }
    if ((rc = read_content(&r, k[K_TEXT], p, contents))) goto fail;
  }
  if (k[K_AUTHOR]) {
    tm_path_field(p, r.path, "author_name");
    if ((rc = check_string(&r, k[K_AUTHOR], p, TM_MAX_ID_BYTES)) ||
        (rc = put_string(&r, msg, "author_name", k[K_AUTHOR]->valuestring)))
      goto fail;
  }
  if (k[K_ID]) {
    tm_path_field(p, r.path, "message_id");
    if ((rc = check_string(&r, k[K_ID], p, TM_MAX_ID_BYTES)) ||
        (rc = put_string(&r, msg, "message_id", k[K_ID]->valuestring)))
      goto fail;
  }
  if (k[K_CREATED]) {
    const cJSON *v = k[K_CREATED];
    tm_path_field(p, r.path, "created_at");
    if (cJSON_IsNumber(v)) {
      /* Milliseconds since the epoch, as JavaScript's Date.now() gives. */
      if (!(v->valuedouble >= MS_MIN && v->valuedouble <= MS_MAX)) {
        rc = tm_fail(b, TM_EFORMAT, "%s: time out of range (years 0 to 9999)", p);
        goto fail;
      }
      char iso[25];
      iso_from_ms(v->valuedouble, iso);
      if ((rc = put_string(&r, msg, "created_at", iso))) goto fail;
    } else if (cJSON_IsString(v)) {
      if ((rc = check_string(&r, v, p, TM_MAX_ID_BYTES)) ||
          (rc = put_string(&r, msg, "created_at", v->valuestring)))
        goto fail;
    } else {
      rc = tm_fail(b, TM_EFORMAT, "%s: expected an ISO 8601 string or milliseconds", p);
      goto fail;
    }
  }
  if (k[K_EXTRA] && !cJSON_IsObject(k[K_EXTRA])) {
    tm_path_field(p, r.path, "additional_properties");
    rc = tm_fail(b, TM_EFORMAT, "%s: expected an object", p);
    goto fail;
  }
  if ((rc = read_extras(&r, in, message_keys, k[K_EXTRA], r.path, &ap))) goto fail;
  if (ap) put(msg, "additional_properties", ap);
  *out = (tm_message){.json = msg, .role = role};
  return TM_OK;
oom:
  rc = tm_fail(b, TM_ENOMEM, "out of memory");
fail:
  cJSON_Delete(msg);
  return rc;
}

int tm_messages_read(tm_base *b, const cJSON *array, const char *path, tm_msgvec *out) {
  if (!path || !path[0]) path = "messages";
  if (!cJSON_IsArray(array))
    return tm_fail(b, TM_EFORMAT, "%s: expected an array of messages", path);
  size_t n = 0;
  for (const cJSON *c = array->child; c; c = c->next) n++;
  if (n > TM_MAX_MESSAGES)
    return tm_fail(b, TM_ERANGE, "%s: %zu messages is more than the limit of %zu", path, n,
                   TM_MAX_MESSAGES);
  int rc = tm_msgvec_reserve(b, out, n);
  if (rc) return rc;
  size_t start = out->len, i = 0;
  char p[TM_PATH_MAX];
  for (const cJSON *c = array->child; c; c = c->next, i++) {
    tm_message m;
    tm_path_index(p, path, i);
    if ((rc = tm_message_read(b, c, p, &m))) {
      for (size_t j = start; j < out->len; j++) tm_message_free(&out->items[j]);
      out->len = start;
      return rc;
    }
    tm_msgvec_push(out, m);
  }
  return TM_OK;
}

int tm_message_new_text(tm_base *b, tm_role role, const char *text, tm_message *out) {
  reader r = {b, "message", 0, 0};
  int rc;
  cJSON *msg = NULL;
  out->json = NULL;
  if ((rc = grow(&r, MESSAGE_OVERHEAD))) return rc;
  cJSON *contents;
  if (!(msg = new_message(role, &contents))) goto oom;
  if (text) {
    cJSON *t = cJSON_CreateStringReference(text);
    if (!t) goto oom;
    rc = read_content(&r, t, "message.text", contents);
    cJSON_Delete(t);
    if (rc) goto fail;
  }
  *out = (tm_message){.json = msg, .role = role};
  return TM_OK;
oom:
  rc = tm_fail(b, TM_ENOMEM, "out of memory");
fail:
  cJSON_Delete(msg);
  return rc;
}

bool tm_message_calls(const tm_message *m) {
  if (m->role != TM_ROLE_ASSISTANT) return false;
  const cJSON *c;
  cJSON_ArrayForEach(c, tm_message_contents(m)) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(c, "type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "function_call") == 0) return true;
  }
  return false;
}

int tm_message_copy(tm_base *b, const tm_message *m, tm_message *out) {
  *out = *m; /* the same contents: the cached counts hold too */
  out->json = cJSON_Duplicate(m->json, 1);
  if (!out->json) return tm_fail(b, TM_ENOMEM, "out of memory");
  return TM_OK;
}

/* ---- Stamping. ---- */

/* The canonical order of a message's keys; stamps go in their place so a
 * stamped message prints exactly as it reads back. */
static int key_rank(const char *key) {
  static const char *const order[] = {"type",       "role",       "contents",
                                      "author_name", "message_id", "created_at",
                                      "additional_properties"};
  for (int i = 0; i < 7; i++)
    if (key && strcmp(key, order[i]) == 0) return i;
  return 7;
}

static void insert_ranked(cJSON *obj, const char *static_key, cJSON *item) {
  int rank = key_rank(static_key);
  cJSON *at = obj->child;
  while (at && key_rank(at->string) <= rank) at = at->next;
  insert_before(obj, at, static_key, item);
}

int tm_stamp_prepare(tm_base *b, const tm_message *m, tm_stamp *out) {
  out->id = out->created_at = NULL;
  if (!cJSON_GetObjectItemCaseSensitive(m->json, "message_id")) {
    char id[37];
    tm_uuid(id);
    if (!(out->id = cJSON_CreateString(id))) goto oom;
  }
  if (!cJSON_GetObjectItemCaseSensitive(m->json, "created_at")) {
    char iso[25];
    tm_now_iso(iso);
    if (!(out->created_at = cJSON_CreateString(iso))) goto oom;
  }
  return TM_OK;
oom:
  tm_stamp_discard(out);
  return tm_fail(b, TM_ENOMEM, "out of memory");
}

void tm_stamp_apply(tm_message *m, tm_stamp *s) {
  if (s->id) insert_ranked(m->json, "message_id", s->id);
  if (s->created_at) insert_ranked(m->json, "created_at", s->created_at);
  s->id = s->created_at = NULL;
}

void tm_stamp_discard(tm_stamp *s) {
  cJSON_Delete(s->id);
  cJSON_Delete(s->created_at);
  s->id = s->created_at = NULL;
}

int tm_message_stamp(tm_base *b, tm_message *m) {
  tm_stamp s;
  int rc = tm_stamp_prepare(b, m, &s);
  if (rc) return rc;
  tm_stamp_apply(m, &s);
  return TM_OK;
}

/* ---- Access. ---- */

const cJSON *tm_message_contents(const tm_message *m) {
  return cJSON_GetObjectItemCaseSensitive(m->json, "contents");
}

static const char *text_of(const cJSON *c) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
  if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") != 0) return NULL;
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(c, "text");
  return cJSON_IsString(s) ? s->valuestring : NULL;
}

int tm_message_text(tm_base *b, const tm_message *m, char **out) {
  const cJSON *contents = tm_message_contents(m);
  size_t n = 0;
  for (const cJSON *c = contents ? contents->child : NULL; c; c = c->next) {
    const char *t = text_of(c);
    if (t) n += strlen(t);
  }
  char *s = tm_malloc(n + 1);
  *out = s;
  if (!s) return tm_fail(b, TM_ENOMEM, "out of memory");
  size_t o = 0;
  for (const cJSON *c = contents ? contents->child : NULL; c; c = c->next) {
    const char *t = text_of(c);
    if (!t) continue;
    size_t len = strlen(t);
    memcpy(s + o, t, len);
    o += len;
  }
  s[o] = '\0';
  return TM_OK;
}
