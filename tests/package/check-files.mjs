// The tarball holds what a user needs and nothing else: the entry points and
// their types, the built core, the vocabularies, the README and the licence.
//
//   node check-files.mjs <output of npm pack --json>

import { readFileSync } from 'node:fs';

const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^js\/[a-z0-9-]+\.js$/,
  /^js\/[a-z0-9-]+\.d\.ts$/,
  /^dist\/threadmem-core\.(mjs|wasm)$/,
  /^dist\/vocab\/[a-z0-9_]+\.tmv$/,
];
const REQUIRED = ['package.json', 'README.md', 'LICENSE', 'js/index.js', 'js/index.d.ts', 'js/node.js',
  'js/node.d.ts', 'dist/threadmem-core.mjs', 'dist/threadmem-core.wasm', 'dist/vocab/o200k_base.tmv',
  'dist/vocab/cl100k_base.tmv'];

const files = JSON.parse(readFileSync(process.argv[2], 'utf8'))[0].files.map((f) => f.path);
const extra = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
const missing = REQUIRED.filter((f) => !files.includes(f));
if (extra.length || missing.length) {
  console.log(`package: the tarball is wrong\n  unexpected: ${extra.join(', ') || '-'}\n  missing: ${missing.join(', ') || '-'}`);
  process.exit(1);
}
console.log(`package: ${files.length} files, as expected`);
