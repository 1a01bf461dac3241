// The options object a public call takes: absent (undefined, or null as in
// Node's own APIs) reads as no options; anything else that is not an object
// (a string, a number, an array) is the caller's error, never a value that
// is silently ignored. And the kinds an option may have.

import { ThreadmemError } from './errors.js';

export function optionsOf(value, where) {
  if (value == null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ThreadmemError('INVALID_ARGUMENT', `${where}: the options must be an object`);
  }
  return value;
}

// The longest wait a timer holds: past it, setTimeout fires at once.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Returns `ms`, or throws INVALID_ARGUMENT unless it is a number of
 *  milliseconds a timer can wait: positive, or zero where `zero` allows. */
export function durationOf(ms, where, { zero = false } = {}) {
  if (typeof ms !== 'number' || !(zero ? ms >= 0 : ms > 0) || ms > MAX_TIMER_MS) {
    throw new ThreadmemError(
      'INVALID_ARGUMENT',
      `${where} must be a ${zero ? 'non-negative' : 'positive'} number of milliseconds, at most ${MAX_TIMER_MS}`,
    );
  }
  return ms;
}

// Whether a URL names a user or password ("https://user:pass@host"): fetch
// refuses such a URL and quotes it whole in its error, password and all, as
// it quotes a URL it cannot parse. So an absolute URL that does not parse
// and has an "@" ("https://user:pa/ss@host") is taken to hold them too.
function hasCredentials(url) {
  try {
    const parsed = new URL(url, globalThis.location?.href);
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return /^\s*([a-z][\w+.-]*:|[/\\]{2})/i.test(url) && url.includes('@');
  }
}

// What an option of each kind must be, and how an error names it (given
// the value, where that tells more). A text, a function or a client given
// as null is left out, as the options object itself may be; a number must
// be one.
const KINDS = {
  string: [(v) => v === null || typeof v === 'string', 'a string'],
  url: [
    (v) => v === null || (typeof v === 'string' && v !== '' && !hasCredentials(v)),
    (v) => (typeof v === 'string' && v !== '' ? 'a URL without credentials: send them in headers'
      : "a URL (a non-empty string; '/' for the page's origin)"),
  ],
  function: [(v) => v === null || typeof v === 'function', 'a function'],
  chatClient: [(v) => v === null || typeof v?.getResponse === 'function', 'a chat client (with getResponse)'],
  count: [(v) => Number.isSafeInteger(v) && v >= 0, 'a non-negative integer'],
  number: [(v) => Number.isFinite(v), 'a finite number'],
};

/** Throws INVALID_ARGUMENT for the first option given (not undefined) that
 *  is not of its kind: `checkKinds('X', { topK: [topK, 'count'] })`. Caught
 *  here, a wrong kind never fails later, midway through a run. */
export function checkKinds(where, options) {
  for (const [name, [value, kind]] of Object.entries(options)) {
    const [ok, what] = KINDS[kind];
    if (value !== undefined && !ok(value)) {
      const expected = typeof what === 'function' ? what(value) : what;
      throw new ThreadmemError('INVALID_ARGUMENT', `${where}: ${name} must be ${expected}`);
    }
  }
}
