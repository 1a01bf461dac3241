// Context providers: long-term memory and other context around a run, with
// Agent Framework's contract (threadCreated, invoking, invoked).

import { ThreadmemError } from './errors.js';
import { messageValues } from './message.js';
import { optionsOf } from './options.js';

/** What a provider adds to one model call. */
export class Context {
  /** @param {{instructions?: string, messages?: Array, tools?: Array}} [options] */
  constructor(options) {
    const { instructions, messages, tools } = optionsOf(options, 'Context');
    this.instructions = instructions;
    this.messages = messages ?? [];
    this.tools = tools ?? [];
  }
}

/**
 * The messages a provider hook was given: an array, or none (null or
 * undefined reads as no messages); anything else is the caller's error.
 */
export function hookMessages(messages, hook) {
  if (messages == null) return [];
  if (!Array.isArray(messages)) throw new ThreadmemError('INVALID_ARGUMENT', `${hook}() takes an array of messages`);
  return messages;
}

/**
 * A finished turn as the chat-completions conversation a memory extractor
 * reads: the user's and the assistant's texts, in order.
 */
export function turnConversation(requestMessages, responseMessages) {
  return [...hookMessages(requestMessages, 'invoked'), ...hookMessages(responseMessages, 'invoked')]
    .filter((m) => (m?.role === 'user' || m?.role === 'assistant') && m.text)
    .map((m) => ({ role: m.role, content: m.text }));
}

/**
 * The id under which a provider keeps what is a thread's own (its summary,
 * its memories): its store's thread id, which a resumed thread keeps, else
 * the thread's own id (a thread resumed from its state has a new one).
 */
export function threadKey(thread) {
  return thread?.messageStore?.threadId ?? thread?.id;
}

/** The base class of context providers; every hook is optional. */
export class ContextProvider {
  /** Called once for a new thread, before its first run. */
  async threadCreated(_threadId) {}

  /** Called before the model is invoked with the run's new input messages;
   *  returns a Context (or nothing). */
  async invoking(_messages, _options) {
    return undefined;
  }

  /** Called after the model answered (or the run failed: `error` is set). */
  async invoked(_requestMessages, _responseMessages, _options) {}
}

/**
 * Several providers acting as one: hooks are called in order; instructions
 * are joined with a newline, messages and tools concatenated in order.
 */
export class AggregateContextProvider extends ContextProvider {
  /** @param {ContextProvider|ContextProvider[]} [providers] */
  constructor(providers = []) {
    super();
    this.providers = Array.isArray(providers) ? [...providers] : [providers];
    for (const p of this.providers) {
      if (!p || typeof p !== 'object') {
        throw new ThreadmemError('INVALID_ARGUMENT', 'a context provider must be an object');
      }
    }
  }

  add(provider) {
    this.providers.push(provider);
  }

  async threadCreated(threadId) {
    for (const p of this.providers) if (p.threadCreated) await p.threadCreated(threadId);
  }

  // Each provider is also given (as `context`) what the ones before it gave,
  // so that one that budgets the request (SummaryProvider) counts it.
  async invoking(messages, options) {
    const instructions = [];
    const contextMessages = [];
    const tools = [];
    for (const p of this.providers) {
      if (!p.invoking) continue;
      const before = new Context({
        instructions: instructions.length ? instructions.join('\n') : undefined,
        messages: [...contextMessages],
        tools: [...tools],
      });
      const c = await p.invoking(messages, { ...options, context: before });
      if (c == null) continue;
      checkContext(c);
      if (c.instructions) instructions.push(c.instructions);
      if (c.messages) contextMessages.push(...c.messages);
      if (c.tools) tools.push(...c.tools);
    }
    return new Context({
      instructions: instructions.length ? instructions.join('\n') : undefined,
      messages: contextMessages,
      tools,
    });
  }

  async invoked(requestMessages, responseMessages, options) {
    for (const p of this.providers) {
      if (p.invoked) await p.invoked(requestMessages, responseMessages, options);
    }
  }
}

/** The JSON form of a Context that the core reads (tools as definitions). */
export function contextValue(context) {
  const value = { messages: messageValues(context.messages ?? []) };
  if (context.instructions) value.instructions = context.instructions;
  value.tools = (context.tools ?? []).map(toolDefinition);
  return value;
}

/** Returns what a provider's invoking() returned, or throws INVALID_ARGUMENT
 *  when it is not a Context (its messages are the core's to check). */
export function checkContext(context) {
  if (typeof context !== 'object' || context === null) {
    throw new ThreadmemError('INVALID_ARGUMENT', 'invoking() must return a Context or nothing');
  }
  if (context.instructions != null && typeof context.instructions !== 'string') {
    throw new ThreadmemError('INVALID_ARGUMENT', "a context's instructions must be a string");
  }
  for (const field of ['messages', 'tools']) {
    if (context[field] != null && !Array.isArray(context[field])) {
      throw new ThreadmemError('INVALID_ARGUMENT', `a context's ${field} must be an array`);
    }
  }
  for (const tool of context.tools ?? []) toolDefinition(tool);
  return context;
}

/** A tool's definition as the core and the model see it. */
export function toolDefinition(tool) {
  if (!tool || typeof tool.name !== 'string') {
    throw new ThreadmemError('INVALID_ARGUMENT', 'a tool needs a string name');
  }
  const def = { name: tool.name };
  if (tool.description !== undefined) def.description = tool.description;
  if (tool.parameters !== undefined) def.parameters = tool.parameters;
  return def;
}
