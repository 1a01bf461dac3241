// ChatMessage: the message users build and read. Its canonical form is Agent
// Framework's serialized chat_message, checked by the core
// (tm_message_normalize); this file only maps fields to and from it.

import { call, ctx, mod, toJSONText } from './core.js';
import { ThreadmemError } from './errors.js';
import { optionsOf } from './options.js';

export class ChatMessage {
  /**
   * @param {string} role 'system' | 'user' | 'assistant' | 'tool'
   * @param {string|object[]} [textOrContents]
   * @param {{authorName?: string, messageId?: string, createdAt?: string|Date,
   *          metadata?: object}} [options]
   */
  constructor(role, textOrContents, options) {
    const { authorName, messageId, createdAt, metadata } = optionsOf(options, 'ChatMessage');
    const raw = { role };
    if (typeof textOrContents === 'string') raw.contents = [{ type: 'text', text: textOrContents }];
    else if (Array.isArray(textOrContents)) raw.contents = textOrContents;
    else if (textOrContents != null) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'ChatMessage: text must be a string or an array of contents');
    }
    if (authorName != null) raw.author_name = authorName;
    if (messageId != null) raw.message_id = messageId;
    if (createdAt instanceof Date && Number.isNaN(createdAt.getTime())) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'ChatMessage: createdAt is an invalid Date');
    }
    if (createdAt != null) raw.created_at = createdAt instanceof Date ? createdAt.toISOString() : createdAt;
    if (metadata != null) raw.additional_properties = metadata;
    assign(this, normalize(raw));
  }

  /** The text contents joined, as Agent Framework's `.text`. */
  get text() {
    let s = '';
    for (const c of this.contents) if (c.type === 'text') s += c.text;
    return s;
  }

  /** Agent Framework's serialized form (nulls omitted). */
  toJSON() {
    const out = { type: 'chat_message', role: { type: 'role', value: this.role }, contents: this.contents };
    if (this.authorName !== undefined) out.author_name = this.authorName;
    if (this.messageId !== undefined) out.message_id = this.messageId;
    if (this.createdAt !== undefined) out.created_at = this.createdAt;
    if (this.metadata !== undefined) out.additional_properties = this.metadata;
    return out;
  }

  /** Reads any accepted message form (Agent Framework's, lenient, or a plain
   *  { role, text } / { role, content }). */
  static fromJSON(value) {
    return fromCanonical(normalize(value));
  }
}

// Checks and canonicalizes one message in the core.
function normalize(value) {
  return JSON.parse(call(ctx(), mod()._tm_message_normalize, [toJSONText(value)], { extra: [ctx()] }));
}

function assign(msg, c) {
  msg.role = c.role.value;
  msg.contents = c.contents;
  msg.authorName = c.author_name;
  msg.messageId = c.message_id;
  msg.createdAt = c.created_at;
  msg.metadata = c.additional_properties;
  return msg;
}

/** A ChatMessage from a canonical form the core produced (no re-check). */
export function fromCanonical(c) {
  return assign(Object.create(ChatMessage.prototype), c);
}

/**
 * The JSON-ready form of one message-like input: a ChatMessage, a string (a
 * user message), or a plain object the core will read leniently ({ role,
 * text }, { role, content } or Agent Framework's shape).
 */
export function messageValue(input) {
  if (input instanceof ChatMessage) return input.toJSON();
  if (typeof input === 'string') return { role: 'user', contents: [{ type: 'text', text: input }] };
  if (input && typeof input === 'object') {
    // OpenAI's { role, content } shape: a string, or text parts that are
    // already contents of type 'text'.
    if (input.content !== undefined && input.contents === undefined && input.text === undefined) {
      const { content, ...rest } = input;
      return typeof content === 'string' ? { ...rest, text: content } : { ...rest, contents: content };
    }
    return input;
  }
  throw new ThreadmemError('INVALID_ARGUMENT', `a message must be a ChatMessage, a string or an object, not ${typeof input}`);
}

/** The JSON-ready forms of one message-like input or an array of them. */
export function messageValues(input) {
  return (Array.isArray(input) ? input : [input]).map(messageValue);
}
