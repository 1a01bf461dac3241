// Keeping a client's secrets (its API key, its credential headers) out of
// everything threadmem reports: error messages, their causes and stacks,
// and so the warnings that carry them.

import { describe } from './errors.js';

// A header is a credential when a word of its name ends as one does
// ("x-api-key", "Proxy-Authorization", "X-AuthToken", "CF-Access-Jwt-
// Assertion", "Cookie"). Values shorter than MIN_PART are not taken out
// ("x-portkey-provider: openai", "X-Cache-Key: v1"): a short common value
// would mangle every message.
const CREDENTIAL_WORD = /^\w*(auth|authorization|key|token|secret|password|passwd|cookie|credentials?|jwt)$/i;
const MIN_PART = 8;
const isCredentialName = (name) => name.split(/[-_]/).some((word) => CREDENTIAL_WORD.test(word));

// A credential header's value, and the parts a server may quote alone: the
// credentials after an auth scheme ("Bearer <token>"), each cookie's value.
function credentialParts(value) {
  const parts = [value, value.replace(/^[A-Za-z]+\s+/, '')];
  for (const cookie of value.split(';')) parts.push(cookie.slice(cookie.indexOf('=') + 1).trim());
  return parts.filter((part) => part.length >= MIN_PART);
}

// The credentials inside a header whose value is JSON, as gateways' config
// headers are ('x-portkey-config: {"api_key": …}'): every text under a field
// named as a credential, and in a text that is JSON itself (a service
// account's), to a depth no real config reaches.
const MAX_DEPTH = 32;

function credentialsInJSON(value, depth = 0) {
  if (depth >= MAX_DEPTH || !/^\s*[[{]/.test(value)) return [];
  let parsed;
  try {
    parsed = JSON.parse(value);
  } catch {
    return [];
  }
  const found = [];
  const walk = (node, level, secret) => {
    for (const [key, field] of Object.entries(node)) {
      const under = secret || isCredentialName(key);
      if (typeof field === 'string') {
        if (under) found.push(...credentialParts(field));
        found.push(...credentialsInJSON(field, level + 1));
      } else if (field !== null && typeof field === 'object' && level < MAX_DEPTH) {
        walk(field, level + 1, under);
      }
    }
  };
  walk(parsed, depth, false);
  return found;
}

/**
 * The function that takes `apiKey` and the credentials in headers out of a
 * text, and then, given `max`, cuts it to that many characters: cutting
 * first could leave the start of a secret that no longer matches.
 */
export function redactor(apiKey, headers = {}) {
  const credentials = Object.entries(headers)
    .filter(([, value]) => typeof value === 'string')
    .flatMap(([name, value]) => [...(isCredentialName(name) ? credentialParts(value) : []), ...credentialsInJSON(value)]);
  const secrets = [apiKey, ...credentials]
    .filter((s) => typeof s === 'string' && s !== '')
    .sort((a, b) => b.length - a.length); // a secret inside a longer one goes after it
  return (text, max = Infinity) => {
    let s = typeof text === 'string' ? text : describe(text);
    for (const secret of secrets) s = s.split(secret).join('[redacted]');
    return s.length > max ? s.slice(0, max) : s;
  };
}

/**
 * What to keep of `err` as an error's cause: `err` itself when all it holds
 * is texts without a secret, numbers and such, and causes kept as they are;
 * else an Error of the same name with its texts redacted, its other
 * primitive fields, and its causes (`cause`, an AggregateError's `errors`)
 * kept the same way, while fields that are objects (headers, a request, a
 * config: they may hold a secret JSON does not show) are left out. A thrown
 * value that is no error becomes its redacted text.
 */
export function redactedCause(err, redact, depth = 0) {
  if (err === null || (typeof err !== 'object' && typeof err !== 'function')) {
    return typeof err === 'string' ? redact(err) : err;
  }
  const message = read(() => err.message);
  if (typeof message !== 'string') return redact(textOf(err));
  const fields = (read(() => Object.getOwnPropertyNames(err)) ?? []).map((key) => [key, read(() => err[key])]);
  const kept = fields.map(([key, value]) => {
    if (typeof value === 'string') return [key, redact(value)];
    if (value === null || typeof value !== 'object') return [key, value];
    if (depth >= 8) return [key, undefined];
    if (key === 'cause') return [key, redactedCause(value, redact, depth + 1)];
    if (key === 'errors' && Array.isArray(value)) {
      const errors = value.map((e) => redactedCause(e, redact, depth + 1));
      return [key, errors.every((e, i) => e === value[i]) ? value : errors];
    }
    return [key, undefined];
  });
  const symbols = read(() => Object.getOwnPropertySymbols(err).length) ?? 1;
  if (!symbols && kept.every(([, value], i) => value === fields[i][1])) return err;
  // A plain Error: a copy on the original's prototype may trip its brand
  // checks (DOMException) or private fields.
  const copy = new Error(redact(message));
  const name = read(() => err.name);
  if (typeof name === 'string') copy.name = name;
  for (const [key, value] of kept) {
    if (key === 'message' || value === undefined) continue;
    Object.defineProperty(copy, key, { value, writable: true, configurable: true });
  }
  return copy;
}

// The text of a thrown value that is no error: its JSON, else its string form.
function textOf(value) {
  try {
    return JSON.stringify(value) ?? describe(value);
  } catch {
    return describe(value);
  }
}

// A property read that may throw (a getter): undefined then.
function read(get) {
  try {
    return get();
  } catch {
    return undefined;
  }
}
