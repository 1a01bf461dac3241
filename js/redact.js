// Keeping a client's secrets (its API key, its credential headers) out of
// everything threadmem reports: error messages, their causes and stacks,
// and so the warnings that carry them.

import { describe } from './errors.js';

// A header is a credential when a word of its name says so ("x-api-key",
// "Proxy-Authorization", "X-AuthToken", "Cookie"); others (versions, ids,
// "x-portkey-provider") are not taken out, since a short common value would
// mangle every message.
const CREDENTIAL_WORD = /^(auth|authorization|key|apikey|signature|\w*(token|secret|password|passwd|cookie|credentials?))$/i;
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
 * in it, else an Error of the same name with its texts redacted (message,
 * stack, string fields), its other plain fields, and its causes (`cause`, an
 * AggregateError's `errors`) kept the same way; a field that is an object
 * holding a secret, or one that cannot be looked into, is left out. The
 * original may quote a secret (a rejected header value, a request's headers).
 */
export function redactedCause(err, redact, depth = 0) {
  const message = read(() => err.message);
  if (typeof message !== 'string') return holdsSecret(err, redact) ? redact(describe(err)) : err;
  const fields = (read(() => Object.getOwnPropertyNames(err)) ?? []).map((key) => [key, read(() => err[key])]);
  const kept = fields.map(([key, value]) => {
    if (typeof value === 'string') return [key, redact(value)];
    if (value === null || typeof value !== 'object') return [key, value];
    if (depth < 8 && key === 'cause') return [key, redactedCause(value, redact, depth + 1)];
    if (depth < 8 && key === 'errors' && Array.isArray(value)) {
      const errors = value.map((e) => redactedCause(e, redact, depth + 1));
      return [key, errors.every((e, i) => e === value[i]) ? value : errors];
    }
    return [key, holdsSecret(value, redact) ? undefined : value];
  });
  if (kept.every(([, value], i) => value === fields[i][1])) return err;
  // A plain Error: a copy on the original's prototype may trip its brand
  // checks (DOMException) or private fields.
  const copy = new Error(redact(message));
  const name = read(() => err.name);
  if (typeof name === 'string') copy.name = name;
  for (const [key, value] of kept) {
    if (key !== 'message' && value !== undefined) Object.defineProperty(copy, key, { value, writable: true, configurable: true });
  }
  return copy;
}

// Whether a value may quote a secret: its JSON holds one, or it has no JSON
// to look into (a cycle, a getter that throws).
function holdsSecret(value, redact) {
  let text;
  try {
    text = JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? String(v) : v));
  } catch {
    return true;
  }
  const shown = typeof text === 'string' ? text : describe(value);
  return redact(shown) !== shown;
}

// A property read that may throw (a getter): undefined then.
function read(get) {
  try {
    return get();
  } catch {
    return undefined;
  }
}
