/*
 * The agent's configuration, shared by agent.c (which reads it) and run.c
 * (the run loop that follows it). Internal: the public handle is opaque.
 */
#ifndef THREADMEM_AGENT_H
#define THREADMEM_AGENT_H

#include "core.h"
#include "window.h"

struct tm_agent {
  tm_base base;
  char *name;          /* author_name of the agent's messages; NULL: none */
  char *instructions;  /* NULL: none */
  cJSON *tools;        /* canonical tool definitions (chat.h) */
  cJSON *tool_choice;  /* NULL: "auto" */
  cJSON *options;      /* extra request fields; NULL: none */
  int max_rounds;
  bool windowed;       /* the history is fitted into `window` */
  tm_window_spec window;
};

#endif /* THREADMEM_AGENT_H */
