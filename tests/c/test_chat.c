/*
 * The chat-completions protocol: canonical messages to OpenAI's format, the
 * request body, and every way a response can be unusable.
 */
#include "chat.h"
#include "host_native.h"
#include "test.h"

/* Reads one lenient message; aborts the test program on a bad fixture. */
static tm_message msg(const char *json) {
  tm_base b = {0};
  cJSON *in = NULL;
  tm_message m = {0};
  if (tm_json_parse(&b, json, "fixture", &in) || tm_message_read(&b, in, "fixture", &m)) {
    fprintf(stderr, "bad fixture %s: %s\n", json, b.msg);
    abort();
  }
  cJSON_Delete(in);
  tm_base_free(&b);
  return m;
}

/* The OpenAI messages for one canonical message, printed compactly. */
static char *mapped(const char *json) {
  tm_base b = {0};
  tm_message m = msg(json);
  cJSON *out = cJSON_CreateArray();
  char *text = NULL;
  CHECK_EQ_INT(tm_chat_map_message(&b, &m, out), TM_OK);
  CHECK_EQ_INT(tm_json_print(&b, out, &text), TM_OK);
  cJSON_Delete(out);
  tm_message_free(&m);
  tm_base_free(&b);
  return text;
}

#define CHECK_MAPPED(in, expected)  \
  do {                              \
    char *t_ = mapped(in);          \
    CHECK_STR(t_, expected);        \
    tm_free(t_);                    \
  } while (0)

TEST(map_text_messages) {
  CHECK_MAPPED("{\"role\":\"user\",\"text\":\"Hi\",\"author_name\":\"Alice\"}",
               "[{\"role\":\"user\",\"content\":\"Hi\",\"name\":\"Alice\"}]");
  /* A name OpenAI would reject is left out rather than failing the request. */
  CHECK_MAPPED("{\"role\":\"user\",\"text\":\"Hi\",\"author_name\":\"Alice Smith\"}",
               "[{\"role\":\"user\",\"content\":\"Hi\"}]");
  CHECK_MAPPED("{\"role\":\"system\",\"contents\":[{\"type\":\"text\",\"text\":\"a\"},"
               "{\"type\":\"text\",\"text\":\"b\"}]}",
               "[{\"role\":\"system\",\"content\":\"ab\"}]");
  /* Reasoning is the model's own and is never sent back; nor is the
   * agent's name, which some servers refuse as "name". */
  CHECK_MAPPED("{\"role\":\"assistant\",\"contents\":[{\"type\":\"text_reasoning\","
               "\"text\":\"hmm\"},{\"type\":\"text\",\"text\":\"ok\"}],\"author_name\":\"Bot\"}",
               "[{\"role\":\"assistant\",\"content\":\"ok\"}]");
  CHECK_MAPPED("{\"role\":\"system\",\"text\":\"s\",\"author_name\":\"Ops\"}",
               "[{\"role\":\"system\",\"content\":\"s\"}]");
  CHECK_MAPPED("{\"role\":\"user\",\"contents\":[]}", "[{\"role\":\"user\",\"content\":\"\"}]");
}

TEST(map_media) {
  CHECK_MAPPED(
      "{\"role\":\"user\",\"contents\":[{\"type\":\"text\",\"text\":\"look\"},"
      "{\"type\":\"uri\",\"uri\":\"https://x.test/a.png\",\"media_type\":\"image/png\"},"
      "{\"type\":\"data\",\"uri\":\"data:image/jpeg;base64,AAAA\",\"media_type\":\"image/jpeg\"},"
      "{\"type\":\"uri\",\"uri\":\"https://x.test/a.pdf\",\"media_type\":\"application/pdf\"},"
      "{\"type\":\"data\",\"uri\":\"data:text/plain;base64,QQ==\",\"media_type\":\"text/plain\"}]}",
      "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},"
      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x.test/a.png\"}},"
      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/jpeg;base64,AAAA\"}},"
      "{\"type\":\"text\",\"text\":\"[attachment: https://x.test/a.pdf (application/pdf)]\"},"
      "{\"type\":\"text\",\"text\":\"[attachment: (text/plain)]\"}]}]");
}

TEST(map_tool_calls_and_results) {
  CHECK_MAPPED(
      "{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\",\"call_id\":\"c1\","
      "\"name\":\"weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"},"
      "{\"type\":\"function_call\",\"call_id\":\"c2\",\"name\":\"time\",\"arguments\":{\"tz\":\"UTC\"}}]}",
      "[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
      "{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"weather\","
      "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
      "{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"time\","
      "\"arguments\":\"{\\\"tz\\\":\\\"UTC\\\"}\"}}]}]");
  /* A call's extra_content (a thought signature) goes back with it. */
  CHECK_MAPPED(
      "{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\",\"call_id\":\"c1\","
      "\"name\":\"f\",\"arguments\":\"{}\",\"additional_properties\":{\"extra_content\":"
      "{\"google\":{\"thought_signature\":\"sig==\"}}}}]}",
      "[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
      "\"function\",\"extra_content\":{\"google\":{\"thought_signature\":\"sig==\"}},"
      "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]");
  /* Text alongside calls is kept as the content. */
  CHECK_MAPPED(
      "{\"role\":\"assistant\",\"contents\":[{\"type\":\"text\",\"text\":\"Checking\"},"
      "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\"}]}",
      "[{\"role\":\"assistant\",\"content\":\"Checking\",\"tool_calls\":[{\"id\":\"c1\","
      "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]");
  CHECK_MAPPED(
      "{\"role\":\"tool\",\"contents\":[{\"type\":\"function_result\",\"call_id\":\"c1\","
      "\"result\":\"sunny\"},{\"type\":\"function_result\",\"call_id\":\"c2\","
      "\"result\":{\"h\":12}},{\"type\":\"function_result\",\"call_id\":\"c3\"}]}",
      "[{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sunny\"},"
      "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"{\\\"h\\\":12}\"},"
      "{\"role\":\"tool\",\"tool_call_id\":\"c3\",\"content\":\"\"}]");
  /* A result carried by another role is still sent as a tool message. */
  CHECK_MAPPED(
      "{\"role\":\"user\",\"contents\":[{\"type\":\"text\",\"text\":\"here\"},"
      "{\"type\":\"function_result\",\"call_id\":\"c9\",\"result\":7}]}",
      "[{\"role\":\"user\",\"content\":\"here\"},"
      "{\"role\":\"tool\",\"tool_call_id\":\"c9\",\"content\":\"7\"}]");
  CHECK_MAPPED(
      "{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_result\",\"call_id\":\"c9\","
      "\"result\":\"r\"}]}",
      "[{\"role\":\"tool\",\"tool_call_id\":\"c9\",\"content\":\"r\"}]");
}

/* Reads a JSON array of tool definitions into a new canonical array. */
static cJSON *tools(const char *json) {
  tm_base b = {0};
  cJSON *in = NULL, *out = cJSON_CreateArray();
  if (tm_json_parse(&b, json, "tools", &in) || tm_chat_tools_read(&b, in, "tools", out)) {
    fprintf(stderr, "bad tools fixture: %s\n", b.msg);
    abort();
  }
  cJSON_Delete(in);
  tm_base_free(&b);
  return out;
}

static cJSON *obj(const char *json) {
  cJSON *o = cJSON_Parse(json);
  if (!o) abort();
  return o;
}

TEST(tool_definitions_checked) {
  static const struct {
    const char *json, *msg;
  } bad[] = {
      {"[{\"name\":\"a b\"}]", "tools[0].name must match"},
      {"[{\"name\":\"ok\"},{\"description\":\"x\"}]", "tools[1].name must be a string"},
      {"[{\"name\":\"ok\",\"description\":3}]", "tools[0].description must be a string"},
      {"[{\"name\":\"ok\",\"parameters\":[]}]", "tools[0].parameters must be an object"},
      {"[7]", "tools[0] must be an object"},
      {"{}", "tools must be an array"},
      {"[{\"name\":\"x12345678901234567890123456789012345678901234567890123456789012345\"}]",
       "tools[0].name must match"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tm_base b = {0};
    cJSON *in = obj(bad[i].json), *out = cJSON_CreateArray();
    cJSON_AddItemToArray(out, cJSON_CreateString("kept"));
    CHECK_EQ_INT(tm_chat_tools_read(&b, in, "tools", out), TM_EFORMAT);
    CHECK_CONTAINS(b.msg, bad[i].msg);
    CHECK_EQ_INT(cJSON_GetArraySize(out), 1); /* all or nothing */
    cJSON_Delete(in);
    cJSON_Delete(out);
    tm_base_free(&b);
  }
  CHECK(tm_chat_name_ok("get_weather-2"));
  CHECK(!tm_chat_name_ok(""));
  CHECK(!tm_chat_name_ok("é"));
  CHECK(!tm_chat_name_ok(NULL));
}

/* The request of build_request, printed; 0 on success. */
static int build_printed(tm_base *b, const tm_chat_request *q, char **out) {
  cJSON *body = NULL;
  *out = NULL;
  int rc = tm_chat_build(b, q, &body);
  if (rc) return rc;
  rc = tm_json_print(b, body, out);
  cJSON_Delete(body);
  return rc;
}

TEST(build_request) {
  tm_base b = {0};
  tm_message hist[2] = {msg("{\"role\":\"user\",\"text\":\"old\"}"),
                        msg("{\"role\":\"assistant\",\"text\":\"reply\"}")};
  tm_msgvec ctx = {0}, input = {0};
  tm_msgvec_reserve(&b, &ctx, 1);
  tm_msgvec_push(&ctx, msg("{\"role\":\"user\",\"text\":\"fact: likes tea\"}"));
  tm_msgvec_reserve(&b, &input, 2);
  tm_msgvec_push(&input, msg("{\"role\":\"user\",\"text\":\"new\"}"));
  tm_msgvec_push(&input, msg("{\"role\":\"assistant\",\"contents\":[{\"type\":\"function_call\","
                             "\"call_id\":\"c1\",\"name\":\"a\",\"arguments\":\"{}\"}]}"));
  tm_msgvec hv = {hist, 2, 2};
  cJSON *t_agent = tools("[{\"name\":\"a\",\"description\":\"agent a\",\"parameters\":"
                         "{\"type\":\"object\"}}]");
  cJSON *t_prov = tools("[{\"name\":\"a\",\"description\":\"provider a\"},{\"name\":\"b\"}]");
  cJSON *t_run = tools("[{\"name\":\"b\",\"description\":\"run b\"},{\"name\":\"c\"}]");
  cJSON *o1 = obj("{\"model\":\"m1\",\"temperature\":0.5,\"messages\":[],\"tools\":7}");
  cJSON *o2 = obj("{\"model\":\"m2\"}");
  tm_chat_request q;
  memset(&q, 0, sizeof q);
  q.instructions = "Be brief.\nKnow facts.";
  q.segments[0] = tm_msglist_vec(&ctx, 0, ctx.len);
  q.segments[2] = tm_msglist_vec(&hv, 0, hv.len);
  q.segments[3] = tm_msglist_vec(&input, 0, 1);
  q.segments[4] = tm_msglist_vec(&input, 1, 1);
  q.tools[0] = t_agent;
  q.tools[1] = t_prov;
  q.tools[2] = t_run;
  q.options[0] = o1;
  q.options[1] = o2;
  q.service_thread_id = "conv_1";
  char *text = NULL;
  CHECK_EQ_INT(build_printed(&b, &q, &text), TM_OK);
  CHECK_STR(text,
            "{\"temperature\":0.5,\"model\":\"m2\",\"messages\":["
            "{\"role\":\"system\",\"content\":\"Be brief.\\nKnow facts.\"},"
            "{\"role\":\"user\",\"content\":\"fact: likes tea\"},"
            "{\"role\":\"user\",\"content\":\"old\"},"
            "{\"role\":\"assistant\",\"content\":\"reply\"},"
            "{\"role\":\"user\",\"content\":\"new\"},"
            "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
            "\"function\",\"function\":{\"name\":\"a\",\"arguments\":\"{}\"}}]}],"
            "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"description\":"
            "\"agent a\",\"parameters\":{\"type\":\"object\"}}},"
            "{\"type\":\"function\",\"function\":{\"name\":\"b\"}},"
            "{\"type\":\"function\",\"function\":{\"name\":\"c\"}}],"
            "\"tool_choice\":\"auto\",\"conversation\":\"conv_1\"}");
  tm_free(text);

  /* The agent's tool_choice is sent as given. */
  cJSON *choice = obj("\"required\"");
  q.tool_choice = choice;
  CHECK_EQ_INT(build_printed(&b, &q, &text), TM_OK);
  CHECK_CONTAINS(text, "\"tool_choice\":\"required\"");
  tm_free(text);

  /* Without tools no tool_choice is sent, even one given in options. */
  cJSON *o3 = obj("{\"tool_choice\":\"none\"}");
  memset(&q, 0, sizeof q);
  q.options[0] = o3;
  q.tool_choice = choice;
  CHECK_EQ_INT(build_printed(&b, &q, &text), TM_OK);
  CHECK_STR(text, "{\"messages\":[]}");
  tm_free(text);

  /* Allocation failure anywhere in the build leaks nothing. */
  memset(&q, 0, sizeof q);
  q.instructions = "x";
  q.segments[2] = tm_msglist_vec(&hv, 0, hv.len);
  q.segments[3] = tm_msglist_vec(&input, 0, 2);
  q.tools[0] = t_agent;
  q.tools[1] = t_run;
  q.options[0] = o1;
  q.service_thread_id = "conv";
  CHECK_OOM_SAFE(build_printed(&b, &q, &text), tm_free(text));

  cJSON_Delete(o1);
  cJSON_Delete(o2);
  cJSON_Delete(o3);
  cJSON_Delete(choice);
  cJSON_Delete(t_agent);
  cJSON_Delete(t_prov);
  cJSON_Delete(t_run);
  tm_message_free(&hist[0]);
  tm_message_free(&hist[1]);
  tm_msgvec_free(&ctx);
  tm_msgvec_free(&input);
  tm_base_free(&b);
}

TEST(tool_limit) {
  tm_base b = {0};
  cJSON *a = cJSON_CreateArray(), *c = NULL;
  char name[32];
  for (int i = 0; i < TM_MAX_TOOLS; i++) {
    cJSON *t = cJSON_CreateObject();
    snprintf(name, sizeof name, "t%d", i);
    cJSON_AddStringToObject(t, "name", name);
    cJSON_AddItemToArray(a, t);
  }
  cJSON *extra = obj("[{\"name\":\"t0\"},{\"name\":\"one_more\"}]");
  tm_chat_request q;
  memset(&q, 0, sizeof q);
  q.tools[0] = a;
  q.tools[1] = extra;
  CHECK_EQ_INT(tm_chat_build(&b, &q, &c), TM_ERANGE);
  CHECK(c == NULL);
  CHECK_CONTAINS(b.msg, "more than 512 tools");
  /* Exactly the limit is fine: duplicates do not count. */
  cJSON_DeleteItemFromArray(extra, 1);
  CHECK_EQ_INT(tm_chat_build(&b, &q, &c), TM_OK);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(c, "tools")), TM_MAX_TOOLS);
  cJSON_Delete(c);
  cJSON_Delete(a);
  cJSON_Delete(extra);
  tm_base_free(&b);
}

TEST(parse_answers) {
  tm_base b = {0};
  tm_chat_response r;
  CHECK_EQ_INT(tm_chat_parse(&b,
                             "{\"id\":\"resp_1\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                             "\"assistant\",\"content\":\"Hello!\"},\"finish_reason\":\"stop\"}],"
                             "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,"
                             "\"total_tokens\":15}}",
                             &r),
               TM_OK);
  CHECK_STR(r.content, "Hello!");
  CHECK_STR(r.id, "resp_1");
  CHECK_STR(r.finish_reason, "stop");
  CHECK_EQ_INT(r.n_calls, 0);
  CHECK_EQ_INT(r.prompt_tokens, 12);
  CHECK_EQ_INT(r.completion_tokens, 3);
  CHECK_EQ_INT(r.total_tokens, 15);
  CHECK(r.conversation == NULL);
  tm_chat_response_free(&r);

  /* Tool calls, null content, missing usage, a string conversation. */
  CHECK_EQ_INT(tm_chat_parse(&b,
                             "{\"conversation\":\"conv_9\",\"choices\":[{\"message\":{\"content\":"
                             "null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
                             "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}},"
                             "{\"id\":\"c2\",\"function\":{\"name\":\"g\",\"arguments\":\"\"}},"
                             "{\"id\":\"c3\",\"function\":{\"name\":\"h\",\"arguments\":{\"y\":2}}}"
                             "]},\"finish_reason\":\"tool_calls\"}]}",
                             &r),
               TM_OK);
  CHECK(r.content == NULL);
  CHECK_EQ_INT(r.n_calls, 3);
  CHECK_STR(r.calls[0].id, "c1");
  CHECK_STR(r.calls[0].name, "f");
  CHECK_STR(r.calls[0].arguments, "{\"x\":1}");
  CHECK_STR(r.calls[1].arguments, "{}");
  CHECK_STR(r.calls[2].arguments, "{\"y\":2}");
  CHECK(r.calls[0].extra == NULL);
  CHECK_STR(r.conversation, "conv_9");
  CHECK_EQ_INT(r.total_tokens, 0);
  tm_chat_response_free(&r);

  /* Content as text parts; conversation as an object. */
  CHECK_EQ_INT(tm_chat_parse(&b,
                             "{\"conversation\":{\"id\":\"conv_2\"},\"choices\":[{\"message\":{"
                             "\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
                             "\"text\":\"b\"}]}}],\"usage\":{\"prompt_tokens\":\"x\"}}",
                             &r),
               TM_OK);
  CHECK_STR(r.content, "ab");
  CHECK_STR(r.conversation, "conv_2");
  CHECK_EQ_INT(r.prompt_tokens, 0);
  tm_chat_response_free(&r);

  /* A call's extra_content is kept, to be sent back with it. */
  CHECK_EQ_INT(tm_chat_parse(&b,
                             "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{\"id\":"
                             "\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"},"
                             "\"extra_content\":{\"google\":{\"thought_signature\":\"sig\"}}}]},"
                             "\"finish_reason\":\"tool_calls\"}]}",
                             &r),
               TM_OK);
  char *extra = NULL;
  CHECK_EQ_INT(tm_json_print(&b, r.calls[0].extra, &extra), TM_OK);
  CHECK_STR(extra, "{\"google\":{\"thought_signature\":\"sig\"}}");
  tm_free(extra);
  tm_chat_response_free(&r);

  /* A refusal is the reply's text when there is no content. */
  CHECK_EQ_INT(tm_chat_parse(&b,
                             "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,"
                             "\"refusal\":\"I can't help with that.\"},\"finish_reason\":\"stop\"}]}",
                             &r),
               TM_OK);
  CHECK_STR(r.content, "I can't help with that.");
  tm_chat_response_free(&r);
  CHECK_EQ_INT(tm_chat_parse(&b,
                             "{\"choices\":[{\"message\":{\"content\":\"fine\",\"refusal\":null},"
                             "\"finish_reason\":\"stop\"}]}",
                             &r),
               TM_OK);
  CHECK_STR(r.content, "fine");
  tm_chat_response_free(&r);
  tm_base_free(&b);
}

TEST(parse_bad_responses) {
  static const struct {
    const char *body;
    int code;
    const char *msg;
  } bad[] = {
      {"{\"choices\":[", TM_ERESPONSE, "response: invalid JSON"},
      {"", TM_ERESPONSE, "invalid JSON"},
      {"[1]", TM_ERESPONSE, "not a JSON object"},
      {"{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\"}}", TM_ERESPONSE,
       "Rate limit reached"},
      {"{\"error\":\"boom\"}", TM_ERESPONSE, "boom"},
      {"{\"id\":\"x\"}", TM_ERESPONSE, "no choices"},
      {"{\"choices\":[]}", TM_ERESPONSE, "no choices"},
      {"{\"choices\":{}}", TM_ERESPONSE, "no choices"},
      {"{\"choices\":[{\"finish_reason\":\"stop\"}]}", TM_ERESPONSE, "has no message"},
      {"{\"choices\":[{\"message\":\"hi\"}]}", TM_ERESPONSE, "has no message"},
      {"{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"call_7\",\"function\":{\"name\":"
       "\"weather\",\"arguments\":\"{city:\"}}]}}]}",
       TM_ERESPONSE, "tool call \"call_7\" (weather): arguments are not valid JSON"},
      {"{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"f\"}}]}}]}",
       TM_ERESPONSE, "tool_calls[0] has no id"},
      {"{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"c1\",\"function\":{\"name\":\"f\"}},"
       "{\"id\":\"c2\",\"function\":{\"arguments\":\"{}\"}}]}}]}",
       TM_ERESPONSE, "tool call \"c2\" has no function name"},
      {"{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"c1\"}]}}]}", TM_ERESPONSE,
       "tool call \"c1\" has no function name"},
      {"{\"choices\":[{\"message\":{\"tool_calls\":[7]}}]}", TM_ERESPONSE,
       "tool_calls[0] is not an object"},
      {"{\"choices\":[{\"message\":{\"tool_calls\":{}}}]}", TM_ERESPONSE,
       "tool_calls is not an array"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tm_base b = {0};
    tm_chat_response r;
    CHECK_EQ_INT(tm_chat_parse(&b, bad[i].body, &r), bad[i].code);
    CHECK_CONTAINS(b.msg, bad[i].msg);
    CHECK(r.content == NULL && r.calls == NULL && r.n_calls == 0 && r.id == NULL);
    tm_base_free(&b);
  }
}

static int parse_once(tm_base *b, tm_chat_response *r) {
  return tm_chat_parse(b,
                       "{\"id\":\"r\",\"conversation\":{\"id\":\"c\"},\"choices\":[{\"message\":"
                       "{\"content\":[{\"type\":\"text\",\"text\":\"a\"}],\"tool_calls\":[{\"id\":"
                       "\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"q\\\":[1,2]}\"}},"
                       "{\"id\":\"c2\",\"function\":{\"name\":\"g\",\"arguments\":{\"z\":0}}}]},"
                       "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"total_tokens\":4}}",
                       r);
}

TEST(parse_out_of_memory) {
  tm_base b = {0};
  tm_chat_response r;
  CHECK_OOM_SAFE(parse_once(&b, &r), tm_chat_response_free(&r));
  tm_base_free(&b);
}

int main(void) {
  test_init();
  hn_reset();
  RUN(map_text_messages);
  RUN(map_media);
  RUN(map_tool_calls_and_results);
  RUN(tool_definitions_checked);
  RUN(build_request);
  RUN(tool_limit);
  RUN(parse_answers);
  RUN(parse_bad_responses);
  RUN(parse_out_of_memory);
  hn_reset();
  return test_summary();
}
