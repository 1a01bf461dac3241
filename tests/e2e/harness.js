// What the browser tests share: Debian's Chromium, started headless the one
// way this project drives it (never a downloaded browser), and named checks
// that print one "ok" or "not ok" line each and set the exit code.
//
//   CHROMIUM=/usr/bin/chromium        the browser

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches the browser; `args` are flags beyond the usual ones. */
export function launch(args = []) {
  return chromium.launch({ executablePath: EXECUTABLE, args: [...FLAGS, ...args] });
}

let passed = 0;
let failed = 0;

/** Runs one named check: an error thrown fails it, and the test goes on. */
export async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`not ok - ${name}\n    ${String(err && err.stack ? err.stack : err).split('\n').slice(0, 6).join('\n    ')}`);
  }
}

/** Counts an error that stops the test from going on. */
export function stopped(err) {
  failed += 1;
  console.log(`not ok - the test could not go on: ${err && err.stack ? err.stack : err}`);
}

/** Prints the tally and sets the exit code. */
export function report() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

export function assert(ok, what) {
  if (!ok) throw new Error(what);
}

/** Equal as JSON (values, arrays and plain objects). */
export function assertEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}
