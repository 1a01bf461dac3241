/*
 * The agent: its configuration (tm_agent_new; contract in threadmem.h). The
 * run loop that follows it is in run.c.
 */
#include <string.h>

#include "agent.h"
#include "chat.h"

/* ---- configuration ---- */

static void agent_release(tm_agent *a) {
  tm_free(a->name);
  tm_free(a->instructions);
  cJSON_Delete(a->tools);
  cJSON_Delete(a->tool_choice);
  cJSON_Delete(a->options);
  tm_base_free(&a->base);
  tm_free(a);
}

void tm_agent_free(tm_agent *agent) {
  if (agent) agent_release(agent);
}

static bool absent(const cJSON *v) { return !v || cJSON_IsNull(v); }

/* An optional string member copied into *out. */
static int opt_string(tm_base *b, const cJSON *obj, const char *key, char **out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (absent(v)) return TM_OK;
  if (!cJSON_IsString(v)) return tm_fail(b, TM_EFORMAT, "%s must be a string", key);
  *out = tm_strdup(v->valuestring);
  return *out ? TM_OK : tm_fail(b, TM_ENOMEM, "out of memory");
}

static int configure(tm_base *b, tm_agent *a, const cJSON *cfg) {
  int rc;
  if (!cJSON_IsObject(cfg)) return tm_fail(b, TM_EFORMAT, "agent config must be a JSON object");
  if ((rc = opt_string(b, cfg, "instructions", &a->instructions)) != TM_OK) return rc;
  if ((rc = opt_string(b, cfg, "name", &a->name)) != TM_OK) return rc;

  const cJSON *tools = cJSON_GetObjectItemCaseSensitive(cfg, "tools");
  if (!absent(tools) && (rc = tm_chat_tools_read(b, tools, "tools", a->tools)) != TM_OK)
    return rc;

  const cJSON *rounds = cJSON_GetObjectItemCaseSensitive(cfg, "max_tool_rounds");
  if (!absent(rounds)) {
    double d = cJSON_IsNumber(rounds) ? rounds->valuedouble : -1.5;
    if (!cJSON_IsNumber(rounds) || d != (double)(long long)d)
      return tm_fail(b, TM_EFORMAT, "max_tool_rounds must be an integer");
    if (d < 0 || d > TM_MAX_TOOL_ROUNDS)
      return tm_fail(b, TM_ERANGE, "max_tool_rounds must be between 0 and %d",
                     TM_MAX_TOOL_ROUNDS);
    a->max_rounds = (int)d;
  }

  const cJSON *choice = cJSON_GetObjectItemCaseSensitive(cfg, "tool_choice");
  if (!absent(choice)) {
    if (!cJSON_IsString(choice) && !cJSON_IsObject(choice))
      return tm_fail(b, TM_EFORMAT, "tool_choice must be a string or an object");
    if (!(a->tool_choice = cJSON_Duplicate(choice, 1))) return tm_fail(b, TM_ENOMEM, "oom");
  }

  const cJSON *window = cJSON_GetObjectItemCaseSensitive(cfg, "context_window");
  if (!absent(window)) {
    if ((rc = tm_window_spec_read(b, window, "context_window", &a->window)) != TM_OK) return rc;
    a->windowed = true;
  }

  const cJSON *options = cJSON_GetObjectItemCaseSensitive(cfg, "options");
  if (!absent(options)) {
    if (!cJSON_IsObject(options)) return tm_fail(b, TM_EFORMAT, "options must be an object");
    if (!(a->options = cJSON_Duplicate(options, 1))) return tm_fail(b, TM_ENOMEM, "oom");
  }
  return TM_OK;
}

tm_agent *tm_agent_new(tm_ctx *ctx, const char *config_json) {
  /* Every handle starts with its tm_base, so the context's error holder is
   * the start of the context. */
  tm_base scratch = {0};
  tm_base *eb = ctx ? (tm_base *)(void *)ctx : &scratch;
  tm_agent *a = NULL;
  cJSON *cfg = NULL;
  tm_install_json_hooks();
  tm_base_reset(eb);
  if (!config_json) {
    tm_fail(eb, TM_EINVAL, "no agent config");
    goto fail;
  }
  if (!(a = tm_malloc(sizeof *a))) {
    tm_fail(eb, TM_ENOMEM, "out of memory");
    goto fail;
  }
  memset(a, 0, sizeof *a);
  a->max_rounds = TM_DEFAULT_TOOL_ROUNDS;
  if (!(a->tools = cJSON_CreateArray())) {
    tm_fail(eb, TM_ENOMEM, "out of memory");
    goto fail;
  }
  if (tm_json_parse(eb, config_json, "agent config", &cfg) != TM_OK) goto fail;
  if (configure(eb, a, cfg) != TM_OK) goto fail;
  cJSON_Delete(cfg);
  tm_base_free(&scratch);
  return a;
fail:
  cJSON_Delete(cfg);
  if (a) agent_release(a);
  tm_base_free(&scratch);
  return NULL;
}
