// Keeping a client's secrets (its API key, its credential headers) out of
// everything threadmem reports: error messages, their causes and stacks,
// and so the warnings that carry them.

import { describe } from './errors.js';

// A header is a credential when a word of its name says so ("x-api-key",
// "Proxy-Authorization", "Cookie"); others (versions, ids, "x-portkey-
// provider") are not taken out, since a short common value would mangle
// every message.
const CREDENTIAL_WORD = /^(auth|authorization|key|apikey|token|secret|password|passwd|cookie|credentials?)$/i;
// Parts of a credential shorter than this are not taken out on their own.
const MIN_PART = 8;

// A credential header's value, and the parts a server may quote alone: the
// credentials after an auth scheme ("Bearer <token>"), each cookie's value.
function credentialParts(value) {
  const parts = [value, value.replace(/^[A-Za-z]+\s+/, '')];
  for (const cookie of value.split(';')) parts.push(cookie.slice(cookie.indexOf('=') + 1).trim());
  return parts.filter((part, i) => i === 0 || part.length >= MIN_PART);
}

/**
 * The function that takes `apiKey` and the credential headers' values out
 * of a text, and then, given `max`, cuts it to that many characters:
 * cutting first could leave the start of a secret that no longer matches.
 */
export function redactor(apiKey, headers = {}) {
  const credentials = Object.entries(headers)
    .filter(([name, value]) => typeof value === 'string' && name.split(/[-_]/).some((w) => CREDENTIAL_WORD.test(w)))
    .flatMap(([, value]) => credentialParts(value));
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
 * What to keep of `err` as an error's cause: `err` itself when no secret is
 * in it, else a copy of the same class with its own properties (the chain
 * of causes, an AggregateError's errors) and every text redacted. The
 * original may quote a secret (a rejected header value, a request's headers).
 */
export function redactedCause(err, redact, depth = 0) {
  if (typeof read(() => err.message) !== 'string') {
    const text = describe(err);
    return redact(text) === text ? err : redact(text);
  }
  const safe = (key, value) => {
    if (typeof value === 'string') return redact(value);
    if (depth >= 8) return value;
    if (key === 'cause') return redactedCause(value, redact, depth + 1);
    if (key === 'errors' && Array.isArray(value)) {
      const errors = value.map((e) => redactedCause(e, redact, depth + 1));
      return errors.every((e, i) => e === value[i]) ? value : errors;
    }
    return value;
  };
  const own = (read(() => Object.getOwnPropertyNames(err)) ?? []).map((key) => {
    const value = read(() => err[key]);
    return [key, value, safe(key, value)];
  });
  if (own.every(([, value, kept]) => kept === value)) return err;
  const copy = new Error();
  Object.setPrototypeOf(copy, Object.getPrototypeOf(err) ?? Error.prototype);
  for (const [key, , kept] of own) {
    const enumerable = read(() => Object.getOwnPropertyDescriptor(err, key)?.enumerable) ?? true;
    Object.defineProperty(copy, key, { value: kept, writable: true, configurable: true, enumerable });
  }
  return copy;
}

// A property read that may throw (a getter): undefined then.
function read(get) {
  try {
    return get();
  } catch {
    return undefined;
  }
}
