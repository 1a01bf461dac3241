// Keeping a client's secrets (its API key, its credential headers) out of
// everything threadmem reports: error messages, their causes and stacks,
// and so the warnings that carry them.

import { describe } from './errors.js';

// Headers whose values are credentials; others (versions, ids) are not
// taken out, since a short common value would mangle every message.
const CREDENTIAL_HEADER = /auth|key|token|secret|password|cookie/i;

/**
 * The function that takes `apiKey` and the values of the credential headers
 * out of a text, and then, given `max`, cuts it to that many characters:
 * cutting first could leave the start of a secret that no longer matches.
 */
export function redactor(apiKey, headers = {}) {
  const secrets = [apiKey, ...Object.entries(headers).filter(([name]) => CREDENTIAL_HEADER.test(name)).map(([, v]) => v)]
    .filter((s) => typeof s === 'string' && s !== '')
    .sort((a, b) => b.length - a.length); // a secret inside a longer one goes after it
  return (text, max = Infinity) => {
    let s = typeof text === 'string' ? text : describe(text);
    for (const secret of secrets) s = s.split(secret).join('[redacted]');
    return s.length > max ? s.slice(0, max) : s;
  };
}

/**
 * What to keep of `err` as an error's cause: a copy with the same name, code
 * and chain of causes, every message and stack redacted. The original may
 * quote a secret (a rejected header value, a request's headers).
 */
export function redactedCause(err, redact, depth = 0) {
  // Not `instanceof Error`: fetch's errors may come from another realm.
  if (typeof err?.message !== 'string') return redact(err);
  const copy = new Error(redact(err.message));
  copy.name = err.name;
  if (err.code !== undefined) copy.code = typeof err.code === 'string' ? redact(err.code) : err.code;
  copy.stack = redact(err.stack ?? '');
  if (err.cause !== undefined && depth < 8) copy.cause = redactedCause(err.cause, redact, depth + 1);
  return copy;
}
