// The few assertions the shared storage spec needs, the same in Jest and in a
// browser page (no test framework is loaded in the page).

export function ok(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

/** Deep equality of JSON-like values. */
export function equal(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

/** Resolves with the ThreadmemError that `work` (a promise or a function)
 *  fails with, after checking its code. */
export async function rejects(work, code, what) {
  let err;
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (e) {
    err = e;
  }
  if (!err) throw new Error(`${what}: expected ${code}, but it succeeded`);
  if (err.name !== 'ThreadmemError' || err.code !== code) {
    throw new Error(`${what}: expected ThreadmemError ${code}, got ${err.name} ${err.code ?? ''}: ${err.message}`);
  }
  return err;
}
