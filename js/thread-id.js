// The rule for persistent thread ids, shared by every backend: an id becomes
// part of a file name or a storage key, so it is limited to characters that
// can never name another thread's file or key (no separators, no "..").

import { ThreadmemError } from './errors.js';

export const THREAD_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Returns threadId, or throws INVALID_ARGUMENT when it breaks the rule. */
export function checkThreadId(threadId) {
  if (typeof threadId !== 'string' || !THREAD_ID.test(threadId) || threadId.includes('..')) {
    throw new ThreadmemError(
      'INVALID_ARGUMENT',
      'threadId must be 1-128 characters of A-Z a-z 0-9 . _ - (no "..")',
    );
  }
  return threadId;
}

/** True for an id checkThreadId accepts (listing skips anything else). */
export function isThreadId(threadId) {
  return typeof threadId === 'string' && THREAD_ID.test(threadId) && !threadId.includes('..');
}
