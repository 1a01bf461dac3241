/*
 * The agent's run loop against the scripted native host: what the model
 * sees, tool rounds, service threads, host stores, context providers, the
 * round limit, and that a failed run leaves the thread exactly as it was.
 */
#include <stdbool.h>

#include "cJSON.h"
#include "host_native.h"
#include "test.h"

#define CTX 1u

/* A final answer with usage 10/2/12. */
#define TEXT_RESP(text)                                                                     \
  "{\"id\":\"resp_t\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"" text \
  "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2," \
  "\"total_tokens\":12}}"
/* A tool-calling answer (calls: the tool_calls array) with usage 5/1/6. */
#define CALLS_RESP(calls)                                                                    \
  "{\"id\":\"resp_c\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,"  \
  "\"tool_calls\":" calls "},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":5," \
  "\"completion_tokens\":1,\"total_tokens\":6}}"
#define CALL(id, name, args)                                                             \
  "{\"id\":\"" id "\",\"type\":\"function\",\"function\":{\"name\":\"" name "\",\"arguments\":" \
  "\"" args "\"}}"

#define HI "{\"messages\":[{\"role\":\"user\",\"text\":\"Hi\"}]}"

static const char *tools_cfg =
    "{\"instructions\":\"Be nice.\",\"name\":\"Bot\",\"tools\":["
    "{\"name\":\"weather\",\"description\":\"Weather\",\"parameters\":{\"type\":\"object\"}},"
    "{\"name\":\"time\"}]}";

static tm_agent *agent(const char *cfg) {
  tm_agent *a = tm_agent_new(NULL, cfg);
  if (!a) {
    fprintf(stderr, "agent config rejected: %s\n", cfg);
    abort();
  }
  return a;
}

static tm_store *store_with(const char *messages_json) {
  tm_store *s = tm_store_new(0);
  if (!s || tm_store_add(s, messages_json) != TM_OK) abort();
  return s;
}

static char *listed(tm_store *s) {
  char *out = NULL;
  if (tm_store_list(s, NULL, &out) != TM_OK) abort();
  return out;
}

static cJSON *parsed(const char *text) {
  cJSON *j = text ? cJSON_Parse(text) : NULL;
  if (!j) {
    fprintf(stderr, "not JSON: %s\n", text ? text : "(null)");
    abort();
  }
  return j;
}

/* A string member at a path of keys and indexes, e.g. at(j, "messages", 0,
 * "content") is spelled with at_s(j, "messages/0/content"). */
static const cJSON *at(const cJSON *j, const char *path) {
  char key[64];
  while (j && *path) {
    size_t n = strcspn(path, "/");
    if (n >= sizeof key) return NULL;
    memcpy(key, path, n);
    key[n] = '\0';
    path += n + (path[n] == '/');
    if (cJSON_IsArray(j)) j = cJSON_GetArrayItem(j, atoi(key));
    else j = cJSON_GetObjectItemCaseSensitive(j, key);
  }
  return j;
}
static const char *at_s(const cJSON *j, const char *path) {
  const cJSON *v = at(j, path);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}
static int at_n(const cJSON *j, const char *path) {
  const cJSON *v = at(j, path);
  return cJSON_IsNumber(v) ? v->valueint : cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
}

TEST(plain_answer) {
  hn_reset();
  tm_agent *a = agent("{\"instructions\":\"Be nice.\",\"name\":\"Bot\"}");
  tm_store *s = store_with("[{\"role\":\"user\",\"text\":\"Earlier\"},"
                           "{\"role\":\"assistant\",\"text\":\"Noted\"}]");
  hn_llm_push(CTX, TEXT_RESP("Hello!"));
  char *out = NULL;
  CHECK_EQ_INT(hn_agent_run(a, s, CTX, HI, &out), TM_OK);
  cJSON *r = parsed(out);
  CHECK_STR(at_s(r, "text"), "Hello!");
  CHECK_EQ_INT(at_n(r, "messages"), 1);
  CHECK_STR(at_s(r, "messages/0/role/value"), "assistant");
  CHECK_STR(at_s(r, "messages/0/author_name"), "Bot");
  CHECK_STR(at_s(r, "messages/0/contents/0/text"), "Hello!");
  CHECK(at_s(r, "messages/0/message_id") != NULL);
  CHECK_STR(at_s(r, "messages/0/created_at"), "2026-01-01T00:00:00.000Z");
  CHECK_EQ_INT(at_n(r, "usage/prompt_tokens"), 10);
  CHECK_EQ_INT(at_n(r, "usage/completion_tokens"), 2);
  CHECK_EQ_INT(at_n(r, "usage/total_tokens"), 12);
  CHECK_STR(at_s(r, "response_id"), "resp_t");
  CHECK_STR(at_s(r, "finish_reason"), "stop");
  CHECK(at(r, "service_thread_id") == NULL);
  cJSON_Delete(r);
  tm_free(out);

  /* What the model saw: instructions, history, the new input; no tools. */
  CHECK_EQ_INT(hn_calls(CTX, HN_LLM), 1);
  cJSON *q = parsed(hn_recorded(CTX, HN_LLM, 0));
  CHECK_STR(at_s(q, "messages/0/role"), "system");
  CHECK_STR(at_s(q, "messages/0/content"), "Be nice.");
  CHECK_STR(at_s(q, "messages/1/content"), "Earlier");
  CHECK_STR(at_s(q, "messages/2/content"), "Noted");
  CHECK_STR(at_s(q, "messages/3/content"), "Hi");
  CHECK_EQ_INT(at_n(q, "messages"), 4);
  CHECK(at(q, "tools") == NULL && at(q, "tool_choice") == NULL && at(q, "conversation") == NULL);
  cJSON_Delete(q);

  /* The turn was committed: the stamped input, then the answer. */
  CHECK_EQ_INT(tm_store_count(s), 4);
  char *all = listed(s);
  cJSON *l = parsed(all);
  CHECK_STR(at_s(l, "2/contents/0/text"), "Hi");
  CHECK(at_s(l, "2/message_id") != NULL);
  CHECK(at_s(l, "2/created_at") != NULL);
  CHECK_STR(at_s(l, "3/contents/0/text"), "Hello!");
  cJSON_Delete(l);
  tm_free(all);

  /* Without a store nothing is kept and nothing is asked of a host store. */
  hn_llm_push(CTX, TEXT_RESP("Hi again"));
  CHECK_EQ_INT(hn_agent_run(a, NULL, CTX, HI, &out), TM_OK);
  CHECK_EQ_INT(hn_calls(CTX, HN_STORE_LIST) + hn_calls(CTX, HN_STORE_ADD), 0);
  q = parsed(hn_recorded(CTX, HN_LLM, 1));
  CHECK_EQ_INT(at_n(q, "messages"), 2);
  cJSON_Delete(q);
  tm_free(out);
  tm_store_free(s);
  tm_agent_free(a);
}

/* The scripted model of the tool tests: two parallel calls, then a round
 * with an unknown tool and a known one, then the answer. The callback sees
 * each request, so it can check what the model was sent. */
static const char *tool_model(void *user, const char *request, size_t i) {
  (void)user;
  (void)request;
  switch (i) {
    case 0:
      return CALLS_RESP("[" CALL("c1", "weather", "{\\\"city\\\":\\\"Paris\\\"}") ","
                        CALL("c2", "time", "") "]");
    case 1:
      return CALLS_RESP("[" CALL("c3", "ghost", "{}") "," CALL("c4", "weather",
                                                                 "{\\\"city\\\":\\\"Oslo\\\"}") "]");
    default: return TEXT_RESP("Sunny in Paris, rainy in Oslo.");
  }
}

TEST(tool_rounds) {
  hn_reset();
  tm_agent *a = agent(tools_cfg);
  tm_store *s = tm_store_new(0);
  hn_llm_set_fn(CTX, tool_model, NULL);
  char *out = NULL;
  CHECK_EQ_INT(hn_agent_run(a, s, CTX, HI, &out), TM_OK);
  CHECK_EQ_INT(hn_calls(CTX, HN_LLM), 3);
  CHECK_EQ_INT(hn_calls(CTX, HN_TOOLS), 2);

  /* Both calls of round one went to the host in one call, arguments parsed;
   * the unknown tool of round two never reached it. */
  CHECK_STR(hn_recorded(CTX, HN_TOOLS, 0),
            "[{\"call_id\":\"c1\",\"name\":\"weather\",\"arguments\":{\"city\":\"Paris\"}},"
            "{\"call_id\":\"c2\",\"name\":\"time\",\"arguments\":{}}]");
  CHECK_STR(hn_recorded(CTX, HN_TOOLS, 1),
            "[{\"call_id\":\"c4\",\"name\":\"weather\",\"arguments\":{\"city\":\"Oslo\"}}]");

  /* The first request offers the tools with tool_choice auto. */
  cJSON *q = parsed(hn_recorded(CTX, HN_LLM, 0));
  CHECK_EQ_INT(at_n(q, "tools"), 2);
  CHECK_STR(at_s(q, "tools/0/type"), "function");
  CHECK_STR(at_s(q, "tools/0/function/name"), "weather");
  CHECK_STR(at_s(q, "tools/0/function/description"), "Weather");
  CHECK_STR(at_s(q, "tools/1/function/name"), "time");
  CHECK_STR(at_s(q, "tool_choice"), "auto");
  cJSON_Delete(q);

  /* The last request carries both rounds: calls, then results in order. */
  q = parsed(hn_recorded(CTX, HN_LLM, 2));
  CHECK_EQ_INT(at_n(q, "messages"), 8);
  CHECK_STR(at_s(q, "messages/1/content"), "Hi");
  CHECK_STR(at_s(q, "messages/2/role"), "assistant");
  CHECK(cJSON_IsNull(at(q, "messages/2/content")));
  CHECK(at(q, "messages/2/name") == NULL); /* the agent's name is not sent */
  CHECK_STR(at_s(q, "messages/2/tool_calls/0/id"), "c1");
  CHECK_STR(at_s(q, "messages/2/tool_calls/0/function/arguments"), "{\"city\":\"Paris\"}");
  CHECK_STR(at_s(q, "messages/2/tool_calls/1/function/arguments"), "{}");
  CHECK_STR(at_s(q, "messages/3/role"), "tool");
  CHECK_STR(at_s(q, "messages/3/tool_call_id"), "c1");
  CHECK_STR(at_s(q, "messages/3/content"), "weather({\"city\":\"Paris\"})");
  CHECK_STR(at_s(q, "messages/4/tool_call_id"), "c2");
  CHECK_STR(at_s(q, "messages/4/content"), "time({})");
  CHECK_STR(at_s(q, "messages/5/tool_calls/0/function/name"), "ghost");
  CHECK_STR(at_s(q, "messages/6/tool_call_id"), "c3");
  CHECK_STR(at_s(q, "messages/6/content"), "Error: no tool named \"ghost\"");
  CHECK_STR(at_s(q, "messages/7/tool_call_id"), "c4");
  CHECK_STR(at_s(q, "messages/7/content"), "weather({\"city\":\"Oslo\"})");
  cJSON_Delete(q);

  /* The result: five messages, usage summed over the three rounds. */
  cJSON *r = parsed(out);
  CHECK_STR(at_s(r, "text"), "Sunny in Paris, rainy in Oslo.");
  CHECK_EQ_INT(at_n(r, "messages"), 5);
  CHECK_STR(at_s(r, "messages/0/contents/0/type"), "function_call");
  CHECK_STR(at_s(r, "messages/0/contents/1/call_id"), "c2");
  CHECK_STR(at_s(r, "messages/0/contents/1/arguments"), "{}");
  CHECK_STR(at_s(r, "messages/1/role/value"), "tool");
  CHECK_EQ_INT(at_n(r, "messages/1/contents"), 2);
  CHECK_STR(at_s(r, "messages/1/contents/0/type"), "function_result");
  CHECK_STR(at_s(r, "messages/1/contents/1/result"), "time({})");
  CHECK_STR(at_s(r, "messages/3/contents/0/result"), "Error: no tool named \"ghost\"");
  CHECK_STR(at_s(r, "messages/4/author_name"), "Bot");
  CHECK_EQ_INT(at_n(r, "usage/prompt_tokens"), 20);
  CHECK_EQ_INT(at_n(r, "usage/completion_tokens"), 4);
  CHECK_EQ_INT(at_n(r, "usage/total_tokens"), 24);
  CHECK_STR(at_s(r, "finish_reason"), "stop");
  cJSON_Delete(r);
  tm_free(out);
  CHECK_EQ_INT(tm_store_count(s), 6);
  tm_store_free(s);
  tm_agent_free(a);
}

static const char *tools_results_object(void *user, const char *calls, size_t i) {
  (void)user;
  (void)calls;
  (void)i;
  return "[{\"call_id\":\"c1\",\"result\":{\"temp\":21}}]";
}

TEST(unknown_tool_only_and_object_results) {
  hn_reset();
  tm_agent *a = agent(tools_cfg);
  hn_llm_push(CTX, CALLS_RESP("[" CALL("c9", "ghost", "{}") "]"));
  hn_llm_push(CTX, CALLS_RESP("[" CALL("c1", "weather", "{}") "]"));
  hn_llm_push(CTX, TEXT_RESP("done"));
  hn_tools_set_fn(CTX, tools_results_object, NULL);
  char *out = NULL;
  CHECK_EQ_INT(hn_agent_run(a, NULL, CTX, HI, &out), TM_OK);
  /* Only the known tool reached the host. */
  CHECK_EQ_INT(hn_calls(CTX, HN_TOOLS), 1);
  cJSON *q = parsed(hn_recorded(CTX, HN_LLM, 2));
  CHECK_STR(at_s(q, "messages/3/content"), "Error: no tool named \"ghost\"");
  CHECK_STR(at_s(q, "messages/5/content"), "{\"temp\":21}");
  cJSON_Delete(q);
  cJSON *r = parsed(out);
  CHECK_EQ_INT(at_n(r, "messages/3/contents/0/result/temp"), 21);
  cJSON_Delete(r);
  tm_free(out);
  tm_agent_free(a);
}

TEST(options_and_run_tools) {
  hn_reset();
  tm_agent *a = agent("{\"tools\":[{\"name\":\"a\"}],\"tool_choice\":\"required\","
                      "\"options\":{\"model\":\"gpt-test\",\"temperature\":1}}");
  hn_llm_push(CTX, TEXT_RESP("ok"));
  char *out = NULL;
  CHECK_EQ_INT(hn_agent_run(a, NULL, CTX,
                            "{\"messages\":[{\"role\":\"user\",\"text\":\"x\"}],"
                            "\"tools\":[{\"name\":\"a\",\"description\":\"dup\"},{\"name\":\"b\"}],"
                            "\"options\":{\"temperature\":0,\"messages\":[],\"tools\":[]}}",
                            &out),
               TM_OK);
  cJSON *q = parsed(hn_recorded(CTX, HN_LLM, 0));
  CHECK_STR(at_s(q, "model"), "gpt-test");
  CHECK_EQ_INT(at_n(q, "temperature"), 0);
  CHECK_EQ_INT(at_n(q, "messages"), 1);
  CHECK_EQ_INT(at_n(q, "tools"), 2);
  CHECK(at(q, "tools/0/function/description") == NULL); /* the agent's "a" wins */
  CHECK_STR(at_s(q, "tools/1/function/name"), "b");
  CHECK_STR(at_s(q, "tool_choice"), "required");
  cJSON_Delete(q);
  tm_free(out);
  tm_agent_free(a);
}

TEST(service_thread) {
  hn_reset();
  tm_agent *a = agent(tools_cfg);
  hn_llm_push(CTX, "{\"id\":\"r1\",\"conversation\":{\"id\":\"conv_2\"},\"choices\":[{\"message\":"
                   "{\"tool_calls\":[" CALL("c1", "time", "{}") "]}}]}");
  hn_llm_push(CTX, "{\"id\":\"r2\",\"choices\":[{\"message\":{\"content\":\"noon\"}}]}");
  char *out = NULL;
  CHECK_EQ_INT(hn_agent_run(a, NULL, CTX,
                            "{\"service_thread_id\":\"conv_1\",\"messages\":[{\"role\":\"user\","
                            "\"text\":\"time?\"}]}",
                            &out),
               TM_OK);
  cJSON *q = parsed(hn_recorded(CTX, HN_LLM, 0));
  CHECK_STR(at_s(q, "conversation"), "conv_1");
  CHECK_EQ_INT(at_n(q, "messages"), 2);
  cJSON_Delete(q);
  /* The id the service returned is used from then on, and reported. */
  q = parsed(hn_recorded(CTX, HN_LLM, 1));
  CHECK_STR(at_s(q, "conversation"), "conv_2");
  cJSON_Delete(q);
  cJSON *r = parsed(out);
  CHECK_STR(at_s(r, "service_thread_id"), "conv_2");
  CHECK_STR(at_s(r, "response_id"), "r2");
  CHECK(cJSON_IsNull(at(r, "finish_reason")));
  CHECK_EQ_INT(at_n(r, "usage/total_tokens"), 0);
  cJSON_Delete(r);
  tm_free(out);
  CHECK_EQ_INT(hn_calls(CTX, HN_STORE_ADD), 0);

  /* A service thread has no store of its own. */
  tm_store *s = tm_store_new(0);
  CHECK_EQ_INT(hn_agent_run(a, s, CTX, "{\"service_thread_id\":\"conv_1\",\"messages\":[]}", &out),
               TM_ESTATE);
  CHECK(out == NULL);
  CHECK_EQ_INT(tm_errcode(a), TM_ESTATE);
  CHECK_EQ_INT(hn_agent_run(a, NULL, CTX,
                            "{\"service_thread_id\":\"conv_1\",\"host_store\":true,"
                            "\"messages\":[]}",
                            &out),
               TM_ESTATE);
  CHECK_CONTAINS(tm_errmsg(a), "service thread id");
  CHECK_EQ_INT(tm_store_count(s), 0);
  CHECK_EQ_INT(hn_calls(CTX, HN_LLM), 2);
  tm_store_free(s);
  tm_agent_free(a);
}

#define ALICE_HISTORY                                                                              \
  "[{\"role\":\"user\",\"text\":\"My name is Alice\"},"                                            \
  "{\"role\":\"assistant\",\"text\":\"Hi Alice\"}]"

/* Asks "Name?" on a host store's thread whose history is ALICE_HISTORY (in
 * `copy`, or listed by the host when it is NULL): the model sees it. */
static void ask_name(tm_agent *a, tm_store *copy) {
  hn_llm_push(CTX, TEXT_RESP("Alice"));
  char *out = NULL;
  CHECK_EQ_INT(hn_agent_run(a, copy, CTX,
                            "{\"host_store\":true,\"messages\":[{\"role\":\"user\",\"text\":"
                            "\"Name?\"}]}",
                            &out),
               TM_OK);
  cJSON *q = parsed(hn_recorded(CTX, HN_LLM, 0));
  CHECK_EQ_INT(at_n(q, "messages"), 3);
  CHECK_STR(at_s(q, "messages/0/content"), "My name is Alice");
  CHECK_STR(at_s(q, "messages/2/content"), "Name?");
  cJSON_Delete(q);
  tm_free(out);
}

TEST(host_store) {
  hn_reset();
  tm_agent *a = agent("{}");
  hn_store_set(CTX, ALICE_HISTORY);
  ask_name(a, NULL);
  CHECK_EQ_INT(hn_calls(CTX, HN_STORE_LIST), 1);
  /* One add with the whole turn, stamped. */
  CHECK_EQ_INT(hn_calls(CTX, HN_STORE_ADD), 1);
  CHECK_EQ_INT(hn_store_len(CTX), 4);
  cJSON *m = parsed(hn_store_at(CTX, 2));
  CHECK_STR(at_s(m, "contents/0/text"), "Name?");
  CHECK(at_s(m, "message_id") != NULL && at_s(m, "created_at") != NULL);
  cJSON_Delete(m);
  m = parsed(hn_store_at(CTX, 3));
  CHECK_STR(at_s(m, "role/value"), "assistant");
  cJSON_Delete(m);

  /* Bad history from the host names its path. */
  char *out = NULL;
  hn_store_set(CTX, "[{\"role\":\"robot\",\"text\":\"?\"}]");
  CHECK_EQ_INT(hn_agent_run(a, NULL, CTX, "{\"host_store\":true,\"messages\":[]}", &out),
               TM_EFORMAT);
  CHECK_CONTAINS(hn_errmsg(), "host store messages[0].role");
  tm_agent_free(a);
}

/* A host store's copy in memory: the history is read from it (no
 * store_list), the turn goes to the host (store_add), never into the copy. */
TEST(host_store_with_copy) {
  hn_reset();
  tm_agent *a = agent("{}");
  tm_store *copy = store_with(ALICE_HISTORY);
  hn_store_set(CTX, "[{\"role\":\"user\",\"text\":\"not the history\"}]");
  ask_name(a, copy);
  CHECK_EQ_INT(hn_calls(CTX, HN_STORE_LIST), 0);
  CHECK_EQ_INT(hn_calls(CTX, HN_STORE_ADD), 1);
  CHECK_EQ_INT(hn_store_len(CTX), 3);
  cJSON *m = parsed(hn_store_at(CTX, 2));
  CHECK_STR(at_s(m, "role/value"), "assistant");
  CHECK_STR(at_s(m, "contents/0/text"), "Alice");
  cJSON_Delete(m);
  CHECK_EQ_INT(tm_store_count(copy), 2);

  /* The host failing to take the turn fails the run; the copy is as it was. */
  char *out = NULL;
  hn_llm_push(CTX, TEXT_RESP("Alice"));
  hn_fail_at(CTX, HN_STORE_ADD, 1);
  CHECK_EQ_INT(hn_agent_run(a, copy, CTX, "{\"host_store\":true,\"messages\":[]}", &out), TM_EHOST);
  CHECK(out == NULL);
  CHECK_EQ_INT(tm_store_count(copy), 2);
  tm_store_free(copy);
  tm_agent_free(a);
}

#define PROVIDERS                                                                              \
  "[{\"instructions\":\"The user likes tea.\",\"messages\":[{\"role\":\"user\",\"text\":"     \
  "\"memory: tea\"}],\"tools\":[{\"name\":\"recall\",\"parameters\":{\"type\":\"object\"}}]}," \
  "null,{\"instructions\":\"Answer in French.\",\"tools\":[{\"name\":\"weather\","            \
  "\"description\":\"provider's\"}]}]"

TEST(providers) {
  hn_reset();
  tm_agent *a = agent(tools_cfg);
  tm_store *s = store_with("[{\"role\":\"user\",\"text\":\"old\"}]");
  hn_invoking_set(CTX, PROVIDERS);
  hn_llm_push(CTX, CALLS_RESP("[" CALL("c1", "recall", "{}") "]"));
  hn_llm_push(CTX, TEXT_RESP("Du thé"));
  char *out = NULL;
  CHECK_EQ_INT(hn_agent_run(a, s, CTX,
                            "{\"providers\":true,\"messages\":[{\"role\":\"user\",\"text\":"
                            "\"Drink?\"}]}",
                            &out),
               TM_OK);
  /* invoking saw the new input only. */
  CHECK_EQ_INT(hn_calls(CTX, HN_INVOKING), 1);
  cJSON *v = parsed(hn_recorded(CTX, HN_INVOKING, 0));
  CHECK_EQ_INT(at_n(v, "messages"), 1);
  CHECK_STR(at_s(v, "messages/0/contents/0/text"), "Drink?");
  cJSON_Delete(v);

  /* Instructions joined, context messages before history, tools merged. */
  cJSON *q = parsed(hn_recorded(CTX, HN_LLM, 0));
  CHECK_STR(at_s(q, "messages/0/content"), "Be nice.\nThe user likes tea.\nAnswer in French.");
  CHECK_STR(at_s(q, "messages/1/content"), "memory: tea");
  CHECK_STR(at_s(q, "messages/2/content"), "old");
  CHECK_STR(at_s(q, "messages/3/content"), "Drink?");
  CHECK_EQ_INT(at_n(q, "tools"), 3);
  CHECK_STR(at_s(q, "tools/2/function/name"), "recall");
  CHECK_STR(at_s(q, "tools/0/function/description"), "Weather");
  cJSON_Delete(q);
  /* A provider's tool is a known tool. */
  CHECK_STR(hn_recorded(CTX, HN_TOOLS, 0), "[{\"call_id\":\"c1\",\"name\":\"recall\",\"arguments\":{}}]");

  /* invoked saw the request and the response of the turn. */
  CHECK_EQ_INT(hn_calls(CTX, HN_INVOKED), 1);
  v = parsed(hn_recorded(CTX, HN_INVOKED, 0));
  CHECK(cJSON_IsFalse(at(v, "failed")));
  CHECK_EQ_INT(at_n(v, "request_messages"), 1);
  CHECK_STR(at_s(v, "request_messages/0/contents/0/text"), "Drink?");
  CHECK_EQ_INT(at_n(v, "response_messages"), 3);
  CHECK_STR(at_s(v, "response_messages/0/contents/0/name"), "recall");
  CHECK_STR(at_s(v, "response_messages/1/role/value"), "tool");
  CHECK_STR(at_s(v, "response_messages/2/contents/0/text"), "Du thé");
  cJSON_Delete(v);
  /* Provider context is not part of the thread. */
  CHECK_EQ_INT(tm_store_count(s), 5);
  tm_free(out);
  tm_store_free(s);
  tm_agent_free(a);
}

TEST(provider_context_checked) {
  static const struct {
    const char *contexts, *msg;
  } bad[] = {
      {"{}", "provider contexts must be an array"},
      {"[{},{\"messages\":[{\"role\":\"wizard\"}]}]", "provider context[1].messages[0].role"},
      {"[{\"instructions\":7}]", "provider context[0].instructions must be a string"},
      {"[{\"messages\":{}}]", "provider context[0].messages must be an array"},
      {"[{\"tools\":[{\"name\":\"no spaces\"}]}]", "provider context[0].tools[0].name"},
      {"[3]", "provider context[0] must be an object"},
  };
  tm_agent *a = agent(tools_cfg);
  tm_store *s = store_with("[{\"role\":\"user\",\"text\":\"old\"}]");
  char *before = listed(s);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *out = NULL;
    hn_reset();
    hn_invoking_set(CTX, bad[i].contexts);
    hn_llm_push(CTX, TEXT_RESP("never"));
    CHECK_EQ_INT(hn_agent_run(a, s, CTX, "{\"providers\":true,\"messages\":[]}", &out),
                 TM_EFORMAT);
    CHECK_CONTAINS(hn_errmsg(), bad[i].msg);
    CHECK(out == NULL);
    CHECK_EQ_INT(hn_calls(CTX, HN_LLM), 0);
    /* invoking answered, so the providers hear that the run failed. */
    CHECK_EQ_INT(hn_calls(CTX, HN_INVOKED), 1);
    CHECK_CONTAINS(hn_recorded(CTX, HN_INVOKED, 0), "\"failed\":true");
    char *after = listed(s);
    CHECK_STR(after, before);
    tm_free(after);
  }
  hn_reset();
  /* A provider returning invalid JSON. */
  hn_invoking_set(CTX, "[{");
  char *out = NULL;
  CHECK_EQ_INT(hn_agent_run(a, s, CTX, "{\"providers\":true}", &out), TM_EPARSE);
  CHECK_CONTAINS(hn_errmsg(), "provider contexts");
  tm_free(before);
  tm_store_free(s);
  tm_agent_free(a);
}

static const char *always_tools(void *user, const char *request, size_t i) {
  (void)user;
  (void)request;
  (void)i;
  return CALLS_RESP("[" CALL("c1", "time", "{}") "]");
}

TEST(round_limit) {
  static const struct {
    const char *cfg;
    size_t rounds;
  } cases[] = {
      {"{\"tools\":[{\"name\":\"time\"}]}", TM_DEFAULT_TOOL_ROUNDS},
      {"{\"tools\":[{\"name\":\"time\"}],\"max_tool_rounds\":2}", 2},
      {"{\"tools\":[{\"name\":\"time\"}],\"max_tool_rounds\":0}", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char msg[80], *out = NULL;
    hn_reset();
    tm_agent *a = agent(cases[i].cfg);
    tm_store *s = tm_store_new(0);
    hn_llm_set_fn(CTX, always_tools, NULL);
    CHECK_EQ_INT(hn_agent_run(a, s, CTX, HI, &out), TM_EROUNDS);
    snprintf(msg, sizeof msg, "model still calling tools after %zu rounds", cases[i].rounds);
    CHECK_STR(hn_errmsg(), msg);
    CHECK_EQ_INT(hn_calls(CTX, HN_LLM), cases[i].rounds + 1);
    CHECK_EQ_INT(hn_calls(CTX, HN_TOOLS), cases[i].rounds);
    CHECK_EQ_INT(tm_store_count(s), 0);
    tm_store_free(s);
    tm_agent_free(a);
  }
  /* Exactly max rounds of tools and then an answer is fine. */
  hn_reset();
  tm_agent *a = agent("{\"tools\":[{\"name\":\"time\"}],\"max_tool_rounds\":1}");
  hn_llm_push(CTX, CALLS_RESP("[" CALL("c1", "time", "{}") "]"));
  hn_llm_push(CTX, TEXT_RESP("12:00"));
  char *out = NULL;
  CHECK_EQ_INT(hn_agent_run(a, NULL, CTX, HI, &out), TM_OK);
  tm_free(out);
  tm_agent_free(a);
}

/* ---- atomicity: every failure leaves the thread as it was ---- */

static const char *wrong_call_id(void *user, const char *calls, size_t i) {
  (void)user;
  (void)calls;
  (void)i;
  return "[{\"call_id\":\"zzz\",\"result\":1},{\"call_id\":\"c2\",\"result\":2}]";
}
static const char *too_few_results(void *user, const char *calls, size_t i) {
  (void)user;
  (void)calls;
  (void)i;
  return "[]";
}
static const char *not_json_results(void *user, const char *calls, size_t i) {
  (void)user;
  (void)calls;
  (void)i;
  return "[{";
}

typedef struct failure {
  const char *name;
  int code;
  const char *msg;
  bool host_store; /* the thread lives in the host store */
  void (*script)(void);
} failure;

static void calls_then_text(void) {
  hn_llm_push(CTX, CALLS_RESP("[" CALL("c1", "weather", "{}") "," CALL("c2", "time", "{}") "]"));
  hn_llm_push(CTX, TEXT_RESP("done"));
}
static void f_llm(void) { hn_fail_at(CTX, HN_LLM, 0); }
static void f_llm_round2(void) {
  calls_then_text();
  hn_fail_at(CTX, HN_LLM, 1);
}
static void f_not_json(void) { hn_llm_push(CTX, "{\"choices\":"); }
static void f_no_choices(void) { hn_llm_push(CTX, "{\"choices\":[]}"); }
static void f_error_obj(void) {
  hn_llm_push(CTX, "{\"error\":{\"message\":\"model overloaded\"}}");
}
static void f_bad_args(void) {
  hn_llm_push(CTX, CALLS_RESP("[" CALL("c1", "weather", "{\\\"city\\\":") "]"));
}
static void f_bad_response_round2(void) {
  hn_llm_push(CTX, CALLS_RESP("[" CALL("c1", "weather", "{}") "]"));
  hn_llm_push(CTX, "[]");
}
static void f_tools(void) {
  calls_then_text();
  hn_fail_at(CTX, HN_TOOLS, 0);
}
static void f_tool_id(void) {
  calls_then_text();
  hn_tools_set_fn(CTX, wrong_call_id, NULL);
}
static void f_tool_count(void) {
  calls_then_text();
  hn_tools_set_fn(CTX, too_few_results, NULL);
}
static void f_tool_json(void) {
  calls_then_text();
  hn_tools_set_fn(CTX, not_json_results, NULL);
}
static void f_rounds(void) { hn_llm_set_fn(CTX, always_tools, NULL); }
static void f_invoking(void) {
  calls_then_text();
  hn_fail_at(CTX, HN_INVOKING, 0);
}
static void f_invoked(void) {
  calls_then_text();
  hn_fail_at(CTX, HN_INVOKED, 0);
}
static void f_store_add(void) {
  calls_then_text();
  hn_fail_at(CTX, HN_STORE_ADD, 0);
}
static void f_store_list(void) {
  calls_then_text();
  hn_fail_at(CTX, HN_STORE_LIST, 0);
}

static const failure failures[] = {
    {"llm host error", TM_EHOST, "the LLM request failed in the host", false, f_llm},
    {"llm host error in round 2", TM_EHOST, "the LLM request", false, f_llm_round2},
    {"response not JSON", TM_ERESPONSE, "response: invalid JSON", false, f_not_json},
    {"no choices", TM_ERESPONSE, "no choices", false, f_no_choices},
    {"error object", TM_ERESPONSE, "model overloaded", false, f_error_obj},
    {"bad tool arguments", TM_ERESPONSE, "tool call \"c1\" (weather)", false, f_bad_args},
    {"bad response in round 2", TM_ERESPONSE, "not a JSON object", false, f_bad_response_round2},
    {"tool host error", TM_EHOST, "running the tools failed", false, f_tools},
    {"tool result call id", TM_EFORMAT, "tool results[0].call_id is \"zzz\", expected \"c1\"",
     false, f_tool_id},
    {"tool result count", TM_EFORMAT, "tool results has 0 entries for 2 calls", false,
     f_tool_count},
    {"tool results not JSON", TM_EPARSE, "tool results", false, f_tool_json},
    {"rounds exceeded", TM_EROUNDS, "after 8 rounds", false, f_rounds},
    {"provider invoking error", TM_EHOST, "invoking failed", false, f_invoking},
    {"provider invoked error", TM_EHOST, "invoked failed", false, f_invoked},
    {"host store add error", TM_EHOST, "adding the turn to the host store", true, f_store_add},
    {"host store list error", TM_EHOST, "listing the host store", true, f_store_list},
    {"llm error, host store", TM_EHOST, "the LLM request", true, f_llm_round2},
    {"rounds exceeded, host store", TM_EROUNDS, "after 8 rounds", true, f_rounds},
};

TEST(failed_runs_change_nothing) {
  tm_agent *a = agent(tools_cfg);
  tm_store *s = store_with("[{\"role\":\"user\",\"text\":\"one\"},"
                           "{\"role\":\"assistant\",\"text\":\"two\"}]");
  char *before = listed(s);
  for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
    const failure *f = &failures[i];
    char *out = (char *)"untouched";
    hn_reset();
    hn_invoking_set(CTX, "[{\"instructions\":\"ctx\"}]");
    if (f->host_store)
      hn_store_set(CTX, "[{\"role\":\"user\",\"text\":\"one\"},{\"role\":\"assistant\","
                        "\"text\":\"two\"}]");
    f->script();
    int rc = hn_agent_run(a, f->host_store ? NULL : s, CTX,
                          f->host_store ? "{\"providers\":true,\"host_store\":true,\"messages\":"
                                          "[{\"role\":\"user\",\"text\":\"three\"}]}"
                                        : "{\"providers\":true,\"messages\":[{\"role\":\"user\","
                                          "\"text\":\"three\"}]}",
                          &out);
    if (rc != f->code) fprintf(stderr, "failure case: %s\n", f->name);
    CHECK_EQ_INT(rc, f->code);
    CHECK_EQ_INT(hn_errcode(), f->code);
    CHECK_CONTAINS(hn_errmsg(), f->msg);
    CHECK(out == NULL);
    char *after = listed(s);
    CHECK_STR(after, before);
    tm_free(after);
    if (f->host_store) {
      CHECK_EQ_INT(hn_store_len(CTX), 2);
    } else {
      CHECK_EQ_INT(hn_calls(CTX, HN_STORE_ADD), 0);
    }
    /* The providers hear about the failure once invoking has answered,
     * but invoked is not called again about its own failure. */
    size_t told = hn_calls(CTX, HN_INVOKED);
    if (f->script == f_invoking || f->script == f_store_list) {
      CHECK_EQ_INT(told, 0);
    } else if (f->script == f_invoked) {
      CHECK_EQ_INT(told, 1);
    } else if (f->script == f_store_add) {
      /* invoked heard success, then the commit failed. */
      CHECK_EQ_INT(told, 2);
      CHECK_CONTAINS(hn_recorded(CTX, HN_INVOKED, 1), "\"failed\":true");
    } else {
      CHECK_EQ_INT(told, 1);
      const char *last = hn_recorded(CTX, HN_INVOKED, 0);
      CHECK_CONTAINS(last, "\"failed\":true");
      CHECK_CONTAINS(last, tm_code_name(f->code));
      CHECK_CONTAINS(last, "\"request_messages\":[{");
    }
  }
  tm_free(before);
  tm_store_free(s);
  tm_agent_free(a);
}

TEST(bad_config) {
  static const struct {
    const char *cfg;
    int code;
    const char *msg;
  } bad[] = {
      {"{", TM_EPARSE, "agent config"},
      {"[]", TM_EFORMAT, "agent config must be a JSON object"},
      {"{\"tools\":[{\"name\":\"a\"},{\"name\":\"b c\"}]}", TM_EFORMAT, "tools[1].name"},
      {"{\"tools\":[{\"name\":\"a\",\"parameters\":\"x\"}]}", TM_EFORMAT,
       "tools[0].parameters must be an object"},
      {"{\"tools\":{}}", TM_EFORMAT, "tools must be an array"},
      {"{\"max_tool_rounds\":65}", TM_ERANGE, "between 0 and 64"},
      {"{\"max_tool_rounds\":-1}", TM_ERANGE, "between 0 and 64"},
      {"{\"max_tool_rounds\":1.5}", TM_EFORMAT, "max_tool_rounds must be an integer"},
      {"{\"max_tool_rounds\":\"3\"}", TM_EFORMAT, "max_tool_rounds must be an integer"},
      {"{\"instructions\":1}", TM_EFORMAT, "instructions must be a string"},
      {"{\"name\":[]}", TM_EFORMAT, "name must be a string"},
      {"{\"tool_choice\":1}", TM_EFORMAT, "tool_choice must be a string or an object"},
      {"{\"options\":[]}", TM_EFORMAT, "options must be an object"},
  };
  tm_ctx *ctx = tm_ctx_new();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(tm_agent_new(ctx, bad[i].cfg) == NULL);
    CHECK_EQ_INT(tm_errcode(ctx), bad[i].code);
    CHECK_CONTAINS(tm_errmsg(ctx), bad[i].msg);
    CHECK(tm_agent_new(NULL, bad[i].cfg) == NULL);
  }
  CHECK(tm_agent_new(ctx, NULL) == NULL);
  CHECK_EQ_INT(tm_errcode(ctx), TM_EINVAL);
  /* Unknown keys are ignored; nulls are absent. */
  tm_agent *a = tm_agent_new(ctx, "{\"color\":\"blue\",\"instructions\":null,"
                                  "\"max_tool_rounds\":64}");
  CHECK(a != NULL);
  CHECK_EQ_INT(tm_errcode(ctx), TM_OK);
  tm_agent_free(a);
  tm_agent_free(NULL);
  tm_ctx_free(ctx);
}

TEST(bad_run) {
  static const struct {
    const char *run;
    int code;
    const char *msg;
  } bad[] = {
      {"{\"messages\":[", TM_EPARSE, "run"},
      {"7", TM_EFORMAT, "run must be a JSON object"},
      {"{\"messages\":{}}", TM_EFORMAT, "messages must be an array"},
      {"{\"messages\":[{\"role\":\"user\"},{\"role\":\"bard\"}]}", TM_EFORMAT,
       "messages[1].role"},
      {"{\"tools\":[{}]}", TM_EFORMAT, "tools[0].name must be a string"},
      {"{\"options\":1}", TM_EFORMAT, "options must be an object"},
      {"{\"providers\":1}", TM_EFORMAT, "providers must be a boolean"},
      {"{\"host_store\":\"yes\"}", TM_EFORMAT, "host_store must be a boolean"},
      {"{\"service_thread_id\":5}", TM_EFORMAT, "service_thread_id must be a non-empty string"},
  };
  hn_reset();
  tm_agent *a = agent("{}");
  tm_store *s = store_with("[{\"role\":\"user\",\"text\":\"one\"}]");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *out = NULL;
    CHECK_EQ_INT(hn_agent_run(a, s, CTX, bad[i].run, &out), bad[i].code);
    CHECK_CONTAINS(tm_errmsg(a), bad[i].msg);
    CHECK(out == NULL);
  }
  char *out = NULL;
  CHECK_EQ_INT(hn_agent_run(a, s, CTX, NULL, &out), TM_EINVAL);
  CHECK_EQ_INT(hn_agent_run(a, s, CTX, HI, NULL), TM_EINVAL);
  CHECK_EQ_INT(hn_agent_run(NULL, s, CTX, HI, &out), TM_EINVAL);
  CHECK_EQ_INT(tm_store_count(s), 1);
  CHECK_EQ_INT(hn_calls(CTX, HN_LLM), 0);
  tm_store_free(s);
  tm_agent_free(a);
}

/* ---- allocation failure at every step of a full run ---- */

static tm_agent *oom_agent;

/* One full run (providers, two tool rounds, a native or a host store),
 * with the host script reset; checks that a failed run left the store as it
 * was. */
static int full_run(bool host_store) {
  char *out = NULL;
  int rc;
  hn_reset();
  hn_invoking_set(CTX, PROVIDERS);
  hn_llm_set_fn(CTX, tool_model, NULL);
  if (host_store) {
    hn_store_set(CTX, "[{\"role\":\"user\",\"text\":\"old\"}]");
    rc = hn_agent_run(oom_agent, NULL, CTX,
                      "{\"providers\":true,\"host_store\":true,\"options\":{\"model\":\"m\"},"
                      "\"messages\":[{\"role\":\"user\",\"text\":\"Weather?\"}]}",
                      &out);
    if (rc == TM_OK) {
      CHECK_EQ_INT(hn_store_len(CTX), 7);
    } else {
      CHECK_EQ_INT(hn_store_len(CTX), 1);
    }
    tm_free(out);
    return rc;
  }
  tm_store *s = tm_store_new(0);
  if (!s) return TM_ENOMEM;
  rc = tm_store_add(s, "[{\"role\":\"user\",\"text\":\"old\"}]");
  if (rc == TM_OK) {
    rc = hn_agent_run(oom_agent, s, CTX,
                      "{\"providers\":true,\"service_thread_id\":null,\"messages\":[{\"role\":"
                      "\"user\",\"text\":\"Weather?\"}]}",
                      &out);
    CHECK_EQ_INT(tm_store_count(s), rc == TM_OK ? 7 : 1);
    if (rc == TM_OK) {
      CHECK_CONTAINS(out, "rainy in Oslo");
    } else {
      CHECK(out == NULL);
      CHECK(rc == TM_ENOMEM);
    }
  }
  tm_free(out);
  tm_store_free(s);
  return rc;
}

/* The same run reading its history from a host store's copy in memory:
 * the turn reaches the host store only, never the copy. */
static int copy_run(void) {
  char *out = NULL;
  hn_reset();
  hn_invoking_set(CTX, PROVIDERS);
  hn_llm_set_fn(CTX, tool_model, NULL);
  hn_store_set(CTX, "[{\"role\":\"user\",\"text\":\"old\"}]");
  tm_store *copy = tm_store_new(0);
  if (!copy) return TM_ENOMEM;
  int rc = tm_store_add(copy, "[{\"role\":\"user\",\"text\":\"old\"}]");
  if (rc == TM_OK) {
    rc = hn_agent_run(oom_agent, copy, CTX,
                      "{\"providers\":true,\"host_store\":true,\"messages\":[{\"role\":"
                      "\"user\",\"text\":\"Weather?\"}]}",
                      &out);
    CHECK_EQ_INT(hn_store_len(CTX), rc == TM_OK ? 7 : 1);
    CHECK_EQ_INT(tm_store_count(copy), 1);
  }
  tm_free(out);
  tm_store_free(copy);
  return rc;
}

static int service_run(void) {
  char *out = NULL;
  hn_reset();
  hn_llm_push(CTX, "{\"id\":\"r1\",\"conversation\":{\"id\":\"conv_2\"},\"choices\":[{\"message\":"
                   "{\"content\":\"thinking\",\"tool_calls\":[" CALL("c1", "time", "{}") ","
                   CALL("c2", "nope", "") "]}}]}");
  hn_llm_push(CTX, TEXT_RESP("noon"));
  int rc = hn_agent_run(oom_agent, NULL, CTX,
                        "{\"service_thread_id\":\"conv_1\",\"tools\":[{\"name\":\"x\"}],"
                        "\"messages\":[{\"role\":\"user\",\"contents\":[{\"type\":\"text\","
                        "\"text\":\"look\"},{\"type\":\"uri\",\"uri\":\"https://x.test/a.png\","
                        "\"media_type\":\"image/png\"}]}]}",
                        &out);
  tm_free(out);
  return rc;
}

TEST(out_of_memory_everywhere) {
  oom_agent = agent(tools_cfg);
  CHECK_OOM_SAFE(full_run(false), (void)0);
  CHECK_OOM_SAFE(full_run(true), (void)0);
  CHECK_OOM_SAFE(copy_run(), (void)0);
  CHECK_OOM_SAFE(service_run(), (void)0);
  tm_agent_free(oom_agent);
  tm_ctx *ctx = tm_ctx_new();
  tm_agent *a = NULL;
  CHECK_OOM_SAFE((a = tm_agent_new(ctx, "{\"instructions\":\"i\",\"name\":\"n\",\"tools\":"
                                        "[{\"name\":\"t\",\"description\":\"d\",\"parameters\":"
                                        "{}}],\"tool_choice\":{\"type\":\"function\"},"
                                        "\"options\":{\"model\":\"m\"}}"))
                     ? TM_OK
                     : tm_errcode(ctx),
                 tm_agent_free(a));
  tm_ctx_free(ctx);
}

int main(void) {
  test_init();
  RUN(plain_answer);
  RUN(tool_rounds);
  RUN(unknown_tool_only_and_object_results);
  RUN(options_and_run_tools);
  RUN(service_thread);
  RUN(host_store);
  RUN(host_store_with_copy);
  RUN(providers);
  RUN(provider_context_checked);
  RUN(round_limit);
  RUN(failed_runs_change_nothing);
  RUN(bad_config);
  RUN(bad_run);
  RUN(out_of_memory_everywhere);
  hn_reset();
  return test_summary();
}
