// The options object a public call takes: absent (undefined, or null as in
// Node's own APIs) reads as no options; anything else that is not an object
// (a string, a number, an array) is the caller's error, never a value that
// is silently ignored.

import { ThreadmemError } from './errors.js';

export function optionsOf(value, where) {
  if (value == null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ThreadmemError('INVALID_ARGUMENT', `${where}: the options must be an object`);
  }
  return value;
}
