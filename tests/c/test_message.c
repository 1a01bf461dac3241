/*
 * The message model: lenient reading into the canonical form, every bad
 * shape with its code and path, limits, stamping and time formatting.
 */
#include <stdint.h>

#include "host_native.h"
#include "message.h"
#include "test.h"

/* Normalizes `in` and checks the canonical output. */
static int norm_ok(const char *in, const char *want, int line) {
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL;
  int rc = tm_message_normalize(ctx, in, &out);
  int ok = rc == TM_OK && out && strcmp(out, want) == 0;
  if (!ok)
    fprintf(stderr, "line %d: rc %s (%s)\n  got  %s\n  want %s\n", line, tm_code_name(rc),
            tm_errmsg(ctx), out ? out : "(null)", want);
  tm_free(out);
  tm_ctx_free(ctx);
  return ok;
}

/* Normalizes `in` and checks it fails with `code` and a message holding
 * `part`, and that *out is NULL. */
static int norm_err(const char *in, int code, const char *part, int line) {
  tm_ctx *ctx = tm_ctx_new();
  char *out = (char *)"x";
  int rc = tm_message_normalize(ctx, in, &out);
  int ok = rc == code && tm_errcode(ctx) == code && out == NULL &&
           strstr(tm_errmsg(ctx), part) != NULL;
  if (!ok)
    fprintf(stderr, "line %d: got %s \"%s\", want %s \"...%s...\" for %s\n", line,
            tm_code_name(rc), tm_errmsg(ctx), tm_code_name(code), part, in);
  if (rc == TM_OK) tm_free(out);
  tm_ctx_free(ctx);
  return ok;
}

#define NORM_OK(in, want) CHECK(norm_ok(in, want, __LINE__))
#define NORM_ERR(in, code, part) CHECK(norm_err(in, code, part, __LINE__))

#define ROLE_USER "{\"type\":\"role\",\"value\":\"user\"}"
#define ROLE_ASSISTANT "{\"type\":\"role\",\"value\":\"assistant\"}"
#define HI "[{\"type\":\"text\",\"text\":\"Hi\"}]"

TEST(canonical_reads_back_unchanged) {
  const char *full =
      "{\"type\":\"chat_message\",\"role\":" ROLE_ASSISTANT ",\"contents\":["
      "{\"type\":\"text\",\"text\":\"Hi\"},"
      "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"},"
      "{\"type\":\"function_result\",\"call_id\":\"c1\",\"result\":{\"a\":[1,2.5,true,null]}},"
      "{\"type\":\"data\",\"uri\":\"data:image/png;base64,AA==\",\"media_type\":\"image/png\"},"
      "{\"type\":\"uri\",\"uri\":\"https://x.test/a.png\",\"media_type\":\"image/png\"},"
      "{\"type\":\"text_reasoning\",\"text\":\"hmm\"}],"
      "\"author_name\":\"bob\",\"message_id\":\"m1\",\"created_at\":\"2026-01-01T00:00:00.000Z\","
      "\"additional_properties\":{\"k\":\"v\"}}";
  NORM_OK(full, full);
}

TEST(roles_in_every_form) {
  const char *want = "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":" HI "}";
  NORM_OK("{\"role\":\"user\",\"contents\":" HI "}", want);
  NORM_OK("{\"role\":\"User\",\"contents\":" HI "}", want);
  NORM_OK("{\"role\":" ROLE_USER ",\"contents\":" HI "}", want);
  NORM_OK("{\"role\":{\"value\":\"user\"},\"contents\":" HI "}", want);
  NORM_OK("{\"type\":null,\"role\":{\"type\":null,\"value\":\"user\"},\"contents\":" HI "}", want);
  NORM_OK("{\"role\":\"system\"}",
          "{\"type\":\"chat_message\",\"role\":{\"type\":\"role\",\"value\":\"system\"},"
          "\"contents\":[]}");
  NORM_OK("{\"role\":\"tool\"}",
          "{\"type\":\"chat_message\",\"role\":{\"type\":\"role\",\"value\":\"tool\"},"
          "\"contents\":[]}");
}

TEST(every_null_form) {
  NORM_OK("{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":[{\"type\":\"text\","
          "\"text\":\"Hi\",\"annotations\":null,\"additional_properties\":null,"
          "\"raw_representation\":null}],\"author_name\":null,\"message_id\":null,"
          "\"created_at\":null,\"additional_properties\":null,\"raw_representation\":null}",
          "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":" HI "}");
}

TEST(text_and_content_shortcuts) {
  const char *want = "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":" HI "}";
  NORM_OK("{\"role\":\"user\",\"text\":\"Hi\"}", want);
  NORM_OK("{\"role\":\"user\",\"contents\":\"Hi\"}", want);
  NORM_OK("{\"role\":\"user\",\"content\":\"Hi\"}", want);
  NORM_OK("{\"role\":\"user\",\"content\":[\"Hi\"]}", want);
  NORM_OK("{\"role\":\"user\",\"contents\":[{\"text\":\"Hi\"}]}", want);
  NORM_OK("{\"role\":\"user\",\"contents\":null,\"text\":\"Hi\"}", want);
  /* text comes after the contents, as in Agent Framework. */
  NORM_OK("{\"role\":\"user\",\"text\":\"B\",\"contents\":\"A\"}",
          "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":[{\"type\":\"text\","
          "\"text\":\"A\"},{\"type\":\"text\",\"text\":\"B\"}]}");
}

TEST(unknown_message_keys_become_additional_properties) {
  NORM_OK("{\"role\":\"user\",\"foo\":1,\"bar\":{\"x\":[1]},\"nul\":null}",
          "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":[],"
          "\"additional_properties\":{\"foo\":1,\"bar\":{\"x\":[1]}}}");
  /* Merged with the given object; the given value wins a clash. */
  NORM_OK("{\"role\":\"user\",\"foo\":1,\"additional_properties\":{\"a\":2,\"foo\":3}}",
          "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":[],"
          "\"additional_properties\":{\"a\":2,\"foo\":3}}");
  NORM_OK("{\"additional_properties\":{},\"role\":\"user\"}",
          "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":[]}");
}

TEST(content_types) {
  const char *pre = "{\"type\":\"chat_message\",\"role\":" ROLE_ASSISTANT ",\"contents\":[";
  char want[512];
  snprintf(want, sizeof want, "%s%s", pre,
           "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":{\"a\":1}}]}");
  NORM_OK("{\"role\":\"assistant\",\"contents\":[{\"arguments\":{\"a\":1},\"name\":\"f\","
          "\"type\":\"function_call\",\"call_id\":\"c\"}]}",
          want);
  snprintf(want, sizeof want, "%s%s", pre,
           "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\"}]}");
  NORM_OK("{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\",\"call_id\":\"c\","
          "\"name\":\"f\",\"arguments\":null,\"exception\":null}]}",
          want);
  snprintf(want, sizeof want, "%s%s", pre,
           "{\"type\":\"function_result\",\"call_id\":\"c\"},"
           "{\"type\":\"function_result\",\"call_id\":\"d\",\"result\":\"ok\"}]}");
  NORM_OK("{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_result\",\"call_id\":\"c\","
          "\"result\":null},{\"type\":\"function_result\",\"call_id\":\"d\",\"result\":\"ok\"}]}",
          want);
  snprintf(want, sizeof want, "%s%s", pre,
           "{\"type\":\"text_reasoning\"},{\"type\":\"uri\",\"uri\":\"u\"},"
           "{\"type\":\"data\",\"uri\":\"data:,\"}]}");
  NORM_OK("{\"role\":\"assistant\",\"contents\":[{\"type\":\"text_reasoning\"},"
          "{\"type\":\"uri\",\"uri\":\"u\",\"media_type\":null},{\"type\":\"data\",\"uri\":\"data:,\"}]}",
          want);
}

TEST(content_extras) {
  NORM_OK("{\"role\":\"user\",\"contents\":[{\"type\":\"text\",\"text\":\"Hi\",\"x\":1,\"y\":null,"
          "\"annotations\":[{\"k\":1}],\"additional_properties\":{\"z\":2}}]}",
          "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":[{\"type\":\"text\","
          "\"text\":\"Hi\",\"annotations\":[{\"k\":1}],\"additional_properties\":{\"z\":2,\"x\":1}}]}");
}

TEST(created_at_forms) {
  const char *pre = "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":[],\"created_at\":";
  static const struct {
    const char *in, *iso;
  } cases[] = {
      {"0", "1970-01-01T00:00:00.000Z"},
      {"-1", "1969-12-31T23:59:59.999Z"},
      {"951782400000", "2000-02-29T00:00:00.000Z"},
      {"1709210096789", "2024-02-29T12:34:56.789Z"},
      {"1709210096789.9", "2024-02-29T12:34:56.789Z"},
      {"-2203891200000", "1900-03-01T00:00:00.000Z"},
      {"-11644473600001", "1600-12-31T23:59:59.999Z"},
      {"1767225600000", "2026-01-01T00:00:00.000Z"},
      {"253402300799999", "9999-12-31T23:59:59.999Z"},
      {"-62167219200000", "0000-01-01T00:00:00.000Z"},
      {"\"yesterday\"", "yesterday"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char in[128], want[256];
    snprintf(in, sizeof in, "{\"role\":\"user\",\"created_at\":%s}", cases[i].in);
    snprintf(want, sizeof want, "%s\"%s\"}", pre, cases[i].iso);
    NORM_OK(in, want);
  }
  NORM_ERR("{\"role\":\"user\",\"created_at\":253402300800000}", TM_EFORMAT,
           "message.created_at: time out of range");
  NORM_ERR("{\"role\":\"user\",\"created_at\":true}", TM_EFORMAT, "message.created_at: expected");
}

TEST(bad_shapes_name_their_path) {
  NORM_ERR("[]", TM_EFORMAT, "message: expected a message object");
  NORM_ERR("{\"type\":\"chat\",\"role\":\"user\"}", TM_EFORMAT,
           "message.type: expected \"chat_message\"");
  NORM_ERR("{\"type\":3,\"role\":\"user\"}", TM_EFORMAT, "message.type: expected");
  NORM_ERR("{\"contents\":[]}", TM_EFORMAT, "message.role: missing");
  NORM_ERR("{\"role\":null}", TM_EFORMAT, "message.role: missing");
  NORM_ERR("{\"role\":7}", TM_EFORMAT, "message.role: expected a role name");
  NORM_ERR("{\"role\":\"robot\"}", TM_EFORMAT, "message.role: unknown role \"robot\"");
  NORM_ERR("{\"role\":{\"type\":\"rol\",\"value\":\"user\"}}", TM_EFORMAT,
           "message.role.type: expected \"role\"");
  NORM_ERR("{\"role\":{\"type\":\"role\"}}", TM_EFORMAT, "message.role.value: missing");
  NORM_ERR("{\"role\":{\"value\":1}}", TM_EFORMAT, "message.role.value: expected a role name");
  NORM_ERR("{\"role\":\"user\",\"role\":\"tool\"}", TM_EFORMAT, "message.role: duplicate key");
  /* Repeated keys anywhere: among the extras, and nested in them. */
  NORM_ERR("{\"role\":\"user\",\"x\":1,\"x\":2}", TM_EFORMAT, "message.x: duplicate key");
  NORM_ERR("{\"role\":\"user\",\"additional_properties\":{\"a\":{\"b\":1,\"b\":2}}}",
           TM_EFORMAT, "duplicate key");
  NORM_ERR("{\"role\":\"user\",\"contents\":5}", TM_EFORMAT, "message.contents: expected an array");
  NORM_ERR("{\"role\":\"user\",\"contents\":[],\"content\":[]}", TM_EFORMAT, "both");
  NORM_ERR("{\"role\":\"user\",\"text\":5}", TM_EFORMAT, "message.text: expected a string");
  NORM_ERR("{\"role\":\"user\",\"contents\":[{\"type\":\"text\"}]}", TM_EFORMAT,
           "message.contents[0].text: missing");
  NORM_ERR("{\"role\":\"user\",\"contents\":[{\"type\":\"text\",\"text\":1}]}", TM_EFORMAT,
           "message.contents[0].text: expected a string");
  NORM_ERR("{\"role\":\"user\",\"contents\":[\"a\",{\"type\":\"hosted_file\"}]}", TM_EFORMAT,
           "message.contents[1].type: unknown content type \"hosted_file\"");
  NORM_ERR("{\"role\":\"user\",\"contents\":[{\"type\":1}]}", TM_EFORMAT,
           "message.contents[0].type: expected a string");
  NORM_ERR("{\"role\":\"user\",\"contents\":[{\"uri\":\"u\"}]}", TM_EFORMAT,
           "message.contents[0].type: missing");
  NORM_ERR("{\"role\":\"user\",\"contents\":[3]}", TM_EFORMAT,
           "message.contents[0]: expected a content object");
  NORM_ERR("{\"role\":\"user\",\"content\":[3]}", TM_EFORMAT,
           "message.content[0]: expected a content object");
  NORM_ERR("{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\",\"call_id\":\"c\"}]}",
           TM_EFORMAT, "message.contents[0].name: missing");
  NORM_ERR("{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\",\"name\":\"f\"}]}",
           TM_EFORMAT, "message.contents[0].call_id: missing");
  NORM_ERR("{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\",\"call_id\":\"c\","
           "\"name\":\"f\",\"arguments\":[1]}]}",
           TM_EFORMAT, "message.contents[0].arguments: expected a string or an object");
  NORM_ERR("{\"role\":\"tool\",\"contents\":[{\"type\":\"function_result\",\"call_id\":5}]}",
           TM_EFORMAT, "message.contents[0].call_id: expected a string");
  NORM_ERR("{\"role\":\"user\",\"contents\":[{\"type\":\"data\",\"uri\":\"u\",\"media_type\":1}]}",
           TM_EFORMAT, "message.contents[0].media_type: expected a string");
  NORM_ERR("{\"role\":\"user\",\"contents\":[{\"type\":\"text\",\"text\":\"a\","
           "\"additional_properties\":[]}]}",
           TM_EFORMAT, "message.contents[0].additional_properties: expected an object");
  NORM_ERR("{\"role\":\"user\",\"author_name\":1}", TM_EFORMAT, "message.author_name: expected");
  NORM_ERR("{\"role\":\"user\",\"message_id\":[]}", TM_EFORMAT, "message.message_id: expected");
  NORM_ERR("{\"role\":\"user\",\"additional_properties\":\"x\"}", TM_EFORMAT,
           "message.additional_properties: expected an object");
}

TEST(bad_json) {
  NORM_ERR("{\"role\":", TM_EPARSE, "message: invalid JSON at byte 8");
  NORM_ERR("{\"role\":\"user\"} x", TM_EPARSE, "message: invalid JSON at byte 16");
  NORM_ERR("", TM_EPARSE, "invalid JSON at byte 0");
  NORM_ERR("{\"role\":\"user\",\"n\":NaN}", TM_EPARSE, "invalid JSON");
  NORM_ERR("{\"role\":\"user\",\"n\":Infinity}", TM_EPARSE, "invalid JSON");
  NORM_ERR("{\"role\":\"user\",\"text\":\"\\uZZZZ\"}", TM_EPARSE, "bad \\u escape");
  /* Lone surrogates cannot become UTF-8: rejected as bad JSON. */
  NORM_ERR("{\"role\":\"user\",\"text\":\"\\ud800\"}", TM_EPARSE, "invalid JSON");
  NORM_ERR("{\"role\":\"user\",\"text\":\"\\udc00x\"}", TM_EPARSE, "invalid JSON");
  NORM_ERR("{\"role\":\"user\",\"text\":\"a\\u0000b\"}", TM_EFORMAT, "\\u0000");
  /* A number beyond a double would come back as null: a limit, not data. */
  NORM_ERR("{\"role\":\"user\",\"x\":-1e309}", TM_ERANGE, "the number at byte 19 is beyond the range");
  NORM_ERR("{\"role\":\"user\",\"x\":[1E+400]}", TM_ERANGE, "beyond the range of a double");
  NORM_OK("{\"role\":\"user\",\"text\":\"1e999\",\"n\":[1e308,-2.5E-400,1e-999]}",
          "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":[{\"type\":\"text\","
          "\"text\":\"1e999\"}],\"additional_properties\":{\"n\":[1e+308,-0,0]}}");
  /* A valid pair becomes one 4-byte character. */
  NORM_OK("{\"role\":\"user\",\"text\":\"\\ud83d\\ude00\"}",
          "{\"type\":\"chat_message\",\"role\":" ROLE_USER
          ",\"contents\":[{\"type\":\"text\",\"text\":\"\xF0\x9F\x98\x80\"}]}");
  /* Brackets inside strings do not count as nesting. */
  NORM_OK("{\"role\":\"user\",\"text\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
          "[[[[[[[[[[[[[[[[\\\"\"}",
          "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":[{\"type\":\"text\","
          "\"text\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"\"}]}");
}

TEST(invalid_utf8_is_named) {
  NORM_ERR("{\"role\":\"user\",\"text\":\"a\xFF\"}", TM_EFORMAT, "message.text: not valid UTF-8");
  NORM_ERR("{\"role\":\"user\",\"contents\":[{\"type\":\"text\",\"text\":\"\xC0\x80\"}]}",
           TM_EFORMAT, "message.contents[0].text: not valid UTF-8");
  NORM_ERR("{\"role\":\"user\",\"contents\":[{\"type\":\"text\",\"text\":\"\xED\xA0\x80\"}]}",
           TM_EFORMAT, "message.contents[0].text: not valid UTF-8");
  NORM_ERR("{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\",\"call_id\":\"c\","
           "\"name\":\"f\",\"arguments\":{\"a\":[\"\xF5\"]}}]}",
           TM_EFORMAT, "message.contents[0].arguments: a string is not valid UTF-8");
  NORM_ERR("{\"role\":\"user\",\"x\xFE\":1}", TM_EFORMAT, "message: a key is not valid UTF-8");
  NORM_ERR("{\"role\":\"user\",\"author_name\":\"\xE2\x82\"}", TM_EFORMAT,
           "message.author_name: not valid UTF-8");
  NORM_OK("{\"role\":\"user\",\"text\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}",
          "{\"type\":\"chat_message\",\"role\":" ROLE_USER ",\"contents\":[{\"type\":\"text\","
          "\"text\":\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}]}");
}

/* Nested arguments so the whole document is `depth` levels deep (the
 * message, contents and content take three). */
static char *nested_message(int depth) {
  size_t n = (size_t)depth * 2 + 256;
  char *s = malloc(n);
  int o = snprintf(s, n, "{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\","
                         "\"call_id\":\"c\",\"name\":\"f\",\"arguments\":{\"a\":");
  for (int i = 4; i < depth; i++) s[o++] = '[';
  for (int i = 4; i < depth; i++) s[o++] = ']';
  snprintf(s + o, n - (size_t)o, "}}]}");
  return s;
}

TEST(nesting_limit) {
  char *ok = nested_message(TM_MAX_NESTING);
  char *deep = nested_message(TM_MAX_NESTING + 1);
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL;
  CHECK_EQ_INT(tm_message_normalize(ctx, ok, &out), TM_OK);
  tm_free(out);
  CHECK_EQ_INT(tm_message_normalize(ctx, deep, &out), TM_ERANGE);
  CHECK_CONTAINS(tm_errmsg(ctx), "nesting deeper than 64 levels at byte");
  tm_ctx_free(ctx);
  free(ok);
  free(deep);
}

TEST(size_limits) {
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL;
  /* More contents than TM_MAX_CONTENTS. */
  size_t n = (TM_MAX_CONTENTS + 1) * 4 + 64;
  char *s = malloc(n);
  int o = snprintf(s, n, "{\"role\":\"user\",\"contents\":[");
  for (int i = 0; i <= TM_MAX_CONTENTS; i++) o += snprintf(s + o, n - (size_t)o, "\"\",");
  s[o - 1] = ']';
  s[o++] = '}';
  s[o] = '\0';
  CHECK_EQ_INT(tm_message_normalize(ctx, s, &out), TM_ERANGE);
  CHECK_CONTAINS(tm_errmsg(ctx), "more than the limit of 4096 contents");
  /* Exactly the limit is fine. */
  memcpy(s + strlen("{\"role\":\"user\",\"contents\":["), "   ", 3);
  CHECK_EQ_INT(tm_message_normalize(ctx, s, &out), TM_OK);
  tm_free(out);
  free(s);

  /* A text larger than TM_MAX_MESSAGE_BYTES. */
  n = TM_MAX_MESSAGE_BYTES + 64;
  s = malloc(n);
  o = snprintf(s, n, "{\"role\":\"user\",\"text\":\"");
  memset(s + o, 'a', TM_MAX_MESSAGE_BYTES);
  o += (int)TM_MAX_MESSAGE_BYTES;
  snprintf(s + o, n - (size_t)o, "\"}");
  CHECK_EQ_INT(tm_message_normalize(ctx, s, &out), TM_ERANGE);
  CHECK_CONTAINS(tm_errmsg(ctx), "message: the message is larger than the limit of 16777216");
  free(s);

  /* Identifiers longer than TM_MAX_ID_BYTES. */
  char id[TM_MAX_ID_BYTES + 2];
  memset(id, 'i', sizeof id - 1);
  id[sizeof id - 1] = '\0';
  char msg[1024];
  snprintf(msg, sizeof msg, "{\"role\":\"user\",\"message_id\":\"%s\"}", id);
  CHECK(norm_err(msg, TM_ERANGE, "message.message_id: longer than the limit of 256", __LINE__));
  snprintf(msg, sizeof msg, "{\"role\":\"user\",\"author_name\":\"%s\"}", id);
  CHECK(norm_err(msg, TM_ERANGE, "message.author_name: longer", __LINE__));
  snprintf(msg, sizeof msg,
           "{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\",\"call_id\":\"%s\","
           "\"name\":\"f\"}]}",
           id);
  CHECK(norm_err(msg, TM_ERANGE, "message.contents[0].call_id: longer", __LINE__));
  id[TM_MAX_ID_BYTES] = '\0';
  snprintf(msg, sizeof msg, "{\"role\":\"user\",\"message_id\":\"%s\"}", id);
  CHECK_EQ_INT(tm_message_normalize(ctx, msg, &out), TM_OK);
  tm_free(out);
  tm_ctx_free(ctx);
}

TEST(stamp_fills_missing_fields_in_place) {
  hn_reset();
  tm_base b = {0};
  tm_message m;
  const char *in = "{\"role\":\"user\",\"author_name\":\"al\",\"x\":1}";
  cJSON *j = cJSON_Parse(in);
  CHECK_EQ_INT(tm_message_read(&b, j, "m", &m), TM_OK);
  cJSON_Delete(j);
  CHECK_EQ_INT(tm_message_stamp(&b, &m), TM_OK);
  char *s = NULL;
  CHECK_EQ_INT(tm_json_print(&b, m.json, &s), TM_OK);
  /* message_id and created_at sit where a read puts them, so the stamped
   * message prints as it will read back. */
  CHECK(s && strncmp(s, "{\"type\":\"chat_message\",\"role\":" ROLE_USER
                        ",\"contents\":[],\"author_name\":\"al\",\"message_id\":\"",
                     strlen("{\"type\":\"chat_message\",\"role\":" ROLE_USER
                            ",\"contents\":[],\"author_name\":\"al\",\"message_id\":\"")) == 0);
  CHECK_CONTAINS(s, "\",\"created_at\":\"2026-01-01T00:00:00.000Z\","
                    "\"additional_properties\":{\"x\":1}}");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(m.json, "message_id");
  CHECK(cJSON_IsString(id) && strlen(id->valuestring) == 36);
  if (cJSON_IsString(id) && strlen(id->valuestring) == 36) {
    const char *u = id->valuestring;
    CHECK(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-');
    CHECK(u[14] == '4');
    CHECK(strchr("89ab", u[19]) != NULL);
  }
  char *again = NULL;
  tm_message m2;
  j = cJSON_Parse(s);
  CHECK_EQ_INT(tm_message_read(&b, j, "m", &m2), TM_OK);
  CHECK_EQ_INT(tm_message_stamp(&b, &m2), TM_OK); /* nothing to add */
  CHECK_EQ_INT(tm_json_print(&b, m2.json, &again), TM_OK);
  CHECK_STR(again, s);
  cJSON_Delete(j);
  tm_free(again);
  tm_free(s);
  tm_message_free(&m2);
  tm_message_free(&m);

  /* Into an empty object and at the head of one. */
  tm_message e = {.json = cJSON_CreateObject(), .role = TM_ROLE_USER};
  CHECK_EQ_INT(tm_message_stamp(&b, &e), TM_OK);
  CHECK_EQ_INT(tm_json_print(&b, e.json, &s), TM_OK);
  CHECK_CONTAINS(s, "{\"message_id\":\"");
  tm_free(s);
  tm_message_free(&e);
  e.json = cJSON_Parse("{\"additional_properties\":{}}");
  CHECK_EQ_INT(tm_message_stamp(&b, &e), TM_OK);
  CHECK_EQ_INT(tm_json_print(&b, e.json, &s), TM_OK);
  CHECK(s && strncmp(s, "{\"message_id\":", 14) == 0);
  CHECK_CONTAINS(s, "\"created_at\":\"2026-01-01T00:00:00.000Z\",\"additional_properties\":{}}");
  tm_free(s);
  tm_message_free(&e);
  tm_base_free(&b);
}

TEST(uuids_differ) {
  char a[37], c[37];
  tm_uuid(a);
  tm_uuid(c);
  CHECK(strcmp(a, c) != 0);
  tm_ctx *ctx = tm_ctx_new();
  char *id = NULL;
  CHECK_EQ_INT(tm_new_id(ctx, &id), TM_OK);
  CHECK(id && strlen(id) == 36 && id[14] == '4');
  tm_free(id);
  CHECK_EQ_INT(tm_new_id(ctx, NULL), TM_EINVAL);
  tm_ctx_free(ctx);
  CHECK_EQ_INT(tm_new_id(NULL, &id), TM_EINVAL);
}

TEST(now_iso_follows_the_clock) {
  char iso[25];
  hn_set_now(1709210096789.0);
  tm_now_iso(iso);
  CHECK_STR(iso, "2024-02-29T12:34:56.789Z");
  hn_set_now(-1e300); /* clamped, never garbage */
  tm_now_iso(iso);
  CHECK_STR(iso, "0000-01-01T00:00:00.000Z");
  hn_reset();
}

TEST(new_text_copy_and_text) {
  tm_base b = {0};
  tm_message m, c;
  CHECK_EQ_INT(tm_message_new_text(&b, TM_ROLE_ASSISTANT, "Hello", &m), TM_OK);
  CHECK_EQ_INT(m.role, TM_ROLE_ASSISTANT);
  CHECK_EQ_INT(tm_message_copy(&b, &m, &c), TM_OK);
  cJSON *contents = (cJSON *)tm_message_contents(&c);
  cJSON *more = cJSON_Parse("[{\"type\":\"text_reasoning\",\"text\":\"no\"},"
                            "{\"type\":\"text\",\"text\":\" world\"}]");
  while (more->child) cJSON_AddItemToArray(contents, cJSON_DetachItemFromArray(more, 0));
  cJSON_Delete(more);
  char *t = NULL;
  CHECK_EQ_INT(tm_message_text(&b, &c, &t), TM_OK);
  CHECK_STR(t, "Hello world");
  tm_free(t);
  CHECK_EQ_INT(tm_message_text(&b, &m, &t), TM_OK);
  CHECK_STR(t, "Hello");
  tm_free(t);
  tm_message_free(&c);
  tm_message_free(&m);
  CHECK_EQ_INT(tm_message_new_text(&b, TM_ROLE_USER, NULL, &m), TM_OK);
  CHECK_EQ_INT(cJSON_GetArraySize(tm_message_contents(&m)), 0);
  CHECK_EQ_INT(tm_message_text(&b, &m, &t), TM_OK);
  CHECK_STR(t, "");
  tm_free(t);
  tm_message_free(&m);
  CHECK_EQ_INT(tm_message_new_text(&b, TM_ROLE_USER, "\xFF", &m), TM_EFORMAT);
  CHECK(m.json == NULL);
  tm_base_free(&b);
}

TEST(roles_and_vectors) {
  tm_role r;
  CHECK(tm_role_parse("assistant", &r) && r == TM_ROLE_ASSISTANT);
  CHECK(tm_role_parse("TOOL", &r) && r == TM_ROLE_TOOL);
  CHECK(!tm_role_parse("users", &r));
  CHECK(!tm_role_parse(NULL, &r));
  CHECK_STR(tm_role_name(TM_ROLE_SYSTEM), "system");
  tm_base b = {0};
  tm_msgvec v = {0};
  for (int i = 0; i < 100; i++) {
    tm_message m;
    CHECK_EQ_INT(tm_message_new_text(&b, TM_ROLE_USER, "x", &m), TM_OK);
    CHECK_EQ_INT(tm_msgvec_reserve(&b, &v, 1), TM_OK);
    tm_msgvec_push(&v, m);
  }
  CHECK_EQ_INT(v.len, 100);
  CHECK(v.cap >= 100 && v.cap < 256);
  tm_msgvec_free(&v);
  CHECK(v.items == NULL && v.len == 0);
  tm_base_free(&b);
}

TEST(messages_read_is_all_or_nothing) {
  tm_base b = {0};
  tm_msgvec v = {0};
  cJSON *j = cJSON_Parse("[{\"role\":\"user\"}]");
  CHECK_EQ_INT(tm_messages_read(&b, j, "messages", &v), TM_OK);
  cJSON_Delete(j);
  j = cJSON_Parse("[{\"role\":\"user\"},{\"role\":\"user\"},{\"role\":\"x\"}]");
  CHECK_EQ_INT(tm_messages_read(&b, j, "messages", &v), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(&b), "messages[2].role: unknown role");
  CHECK_EQ_INT(v.len, 1);
  cJSON_Delete(j);
  j = cJSON_Parse("{}");
  CHECK_EQ_INT(tm_messages_read(&b, j, "messages", &v), TM_EFORMAT);
  CHECK_CONTAINS(tm_errmsg(&b), "messages: expected an array of messages");
  cJSON_Delete(j);
  tm_msgvec_free(&v);
  tm_base_free(&b);
}

TEST(errors_and_codes) {
  CHECK_STR(tm_code_name(TM_EFORMAT), "TM_EFORMAT");
  CHECK_STR(tm_code_name(TM_OK), "TM_OK");
  CHECK_STR(tm_code_name(TM_ENOTFOUND), "TM_ENOTFOUND");
  CHECK_STR(tm_code_name(99), "TM_EUNKNOWN");
  CHECK_EQ_INT(tm_errcode(NULL), TM_ENOMEM);
  CHECK(tm_errmsg(NULL) != NULL);
  tm_ctx *ctx = tm_ctx_new();
  CHECK_EQ_INT(tm_errcode(ctx), TM_OK);
  CHECK_STR(tm_errmsg(ctx), "");
  char *out = NULL;
  CHECK_EQ_INT(tm_message_normalize(ctx, NULL, &out), TM_EINVAL);
  CHECK_EQ_INT(tm_message_normalize(ctx, "{}", NULL), TM_EINVAL);
  CHECK_EQ_INT(tm_message_normalize(NULL, "{}", &out), TM_EINVAL);
  /* A success clears the last error. */
  CHECK_EQ_INT(tm_message_normalize(ctx, "{\"role\":\"user\"}", &out), TM_OK);
  CHECK_EQ_INT(tm_errcode(ctx), TM_OK);
  CHECK_STR(tm_errmsg(ctx), "");
  tm_free(out);
  tm_ctx_free(ctx);

  /* Formatting a message without memory degrades to a static one. */
  tm_base b = {0};
  long before = test_live_allocs;
  test_fail_after = 0;
  CHECK_EQ_INT(tm_fail(&b, TM_EFORMAT, "x %d", 1), TM_EFORMAT);
  test_fail_after = -1;
  CHECK_EQ_INT(test_live_allocs, before);
  CHECK_EQ_INT(tm_errcode(&b), TM_EFORMAT);
  CHECK(strlen(tm_errmsg(&b)) > 0);
  CHECK_EQ_INT(tm_fail(&b, TM_ERANGE, "y %s", "z"), TM_ERANGE);
  CHECK_STR(tm_errmsg(&b), "y z");
  tm_base c = {0};
  CHECK_EQ_INT(tm_fail_from(&c, &b), TM_ERANGE);
  CHECK_STR(tm_errmsg(&c), "y z");
  CHECK_EQ_INT(tm_fail(&b, TM_ENOMEM, "ignored"), TM_ENOMEM);
  CHECK_STR(tm_errmsg(&b), "out of memory");
  CHECK_EQ_INT(tm_fail_from(&c, &b), TM_ENOMEM);
  CHECK_STR(tm_errmsg(&c), "out of memory");
  tm_base_free(&b);
  tm_base_free(&c);
}

TEST(paths) {
  char p[TM_PATH_MAX];
  tm_path_index(p, "messages", 12);
  CHECK_STR(p, "messages[12]");
  tm_path_field(p, "messages[12]", "contents");
  CHECK_STR(p, "messages[12].contents");
  tm_path_field(p, "", "type");
  CHECK_STR(p, "type");
  /* Cut short on a whole character. */
  char base[TM_PATH_MAX + 8];
  memset(base, 'a', TM_PATH_MAX - 2);
  memcpy(base + TM_PATH_MAX - 2, "\xE2\x82\xAC", 4);
  tm_path_field(p, "", base);
  CHECK_EQ_INT(strlen(p), TM_PATH_MAX - 2);
  CHECK(tm_utf8_valid(p, strlen(p)));
  tm_path_index(p, base, 1);
  CHECK_EQ_INT(strlen(p), TM_PATH_MAX - 2);
}

TEST(utf8_validation) {
  CHECK(tm_utf8_valid("", 0));
  CHECK(tm_utf8_valid("\xF4\x8F\xBF\xBF", 4));
  CHECK(!tm_utf8_valid("\xF4\x90\x80\x80", 4)); /* above U+10FFFF */
  CHECK(!tm_utf8_valid("\xE0\x80\x80", 3));     /* overlong */
  CHECK(!tm_utf8_valid("\xC3", 1));             /* cut short */
  CHECK(!tm_utf8_valid("a\0b", 3));
  CHECK(!tm_utf8_valid("\x80", 1));
}

/* Stamps a copy of m: a failed stamp must leave the message as it was. */
static int stamp_copy(tm_base *b, const tm_message *m) {
  tm_message c;
  int rc = tm_message_copy(b, m, &c);
  if (rc) return rc;
  rc = tm_message_stamp(b, &c);
  bool stamped = cJSON_GetObjectItemCaseSensitive(c.json, "message_id") &&
                 cJSON_GetObjectItemCaseSensitive(c.json, "created_at");
  bool untouched = cJSON_GetArraySize(c.json) == cJSON_GetArraySize(m->json);
  CHECK(rc == TM_OK ? stamped : untouched);
  tm_message_free(&c);
  return rc;
}

TEST(normalize_survives_allocation_failure) {
  tm_ctx *ctx = tm_ctx_new();
  char *out = NULL;
  const char *in =
      "{\"role\":{\"type\":\"role\",\"value\":\"assistant\"},\"contents\":[\"a\","
      "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":{\"q\":[1,\"x\"]},"
      "\"extra\":{\"deep\":[true]}},{\"type\":\"function_result\",\"call_id\":\"c\",\"result\":[1]},"
      "{\"type\":\"text\",\"text\":\"t\",\"annotations\":[],\"additional_properties\":{\"z\":1},"
      "\"w\":2}],\"text\":\"b\",\"author_name\":\"n\",\"message_id\":\"id\",\"created_at\":5,"
      "\"additional_properties\":{\"k\":\"v\"},\"other\":[1,2]}";
  CHECK_OOM_SAFE(tm_message_normalize(ctx, in, &out), tm_free(out));
  CHECK_EQ_INT(tm_message_normalize(ctx, in, &out), TM_OK);
  CHECK_CONTAINS(out, "\"created_at\":\"1970-01-01T00:00:00.005Z\",\"additional_properties\":"
                      "{\"k\":\"v\",\"other\":[1,2]}}");
  tm_free(out);

  tm_base b = {0};
  tm_message m = {0};
  CHECK_EQ_INT(tm_message_new_text(&b, TM_ROLE_USER, "hi", &m), TM_OK);
  CHECK_OOM_SAFE(stamp_copy(&b, &m), (void)0);
  tm_message c = {0};
  CHECK_OOM_SAFE(tm_message_copy(&b, &m, &c), tm_message_free(&c));
  char *t = NULL;
  CHECK_OOM_SAFE(tm_message_text(&b, &m, &t), tm_free(t));
  tm_message_free(&m);
  CHECK_OOM_SAFE(tm_message_new_text(&b, TM_ROLE_USER, "hi", &m), tm_message_free(&m));
  tm_base_free(&b);
  tm_ctx_free(ctx);
}

int main(void) {
  test_init();
  hn_reset();
  RUN(canonical_reads_back_unchanged);
  RUN(roles_in_every_form);
  RUN(every_null_form);
  RUN(text_and_content_shortcuts);
  RUN(unknown_message_keys_become_additional_properties);
  RUN(content_types);
  RUN(content_extras);
  RUN(created_at_forms);
  RUN(bad_shapes_name_their_path);
  RUN(bad_json);
  RUN(invalid_utf8_is_named);
  RUN(nesting_limit);
  RUN(size_limits);
  RUN(stamp_fills_missing_fields_in_place);
  RUN(uuids_differ);
  RUN(now_iso_follows_the_clock);
  RUN(new_text_copy_and_text);
  RUN(roles_and_vectors);
  RUN(messages_read_is_all_or_nothing);
  RUN(errors_and_codes);
  RUN(paths);
  RUN(utf8_validation);
  RUN(normalize_survives_allocation_failure);
  return test_summary();
}
