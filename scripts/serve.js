// A small static file server for the web demo: serves the repository root
// read-only on 127.0.0.1, so the demo imports the package exactly as a page
// on any static host would (../js/index.js, ../dist/threadmem-core.wasm).
// Of the repository only the folders the pages need are served: never
// node_modules, whose HTML pages would run on the demo's origin, where it
// keeps the API key. Another `root` (an app of the package's own tests) is
// served whole.
//
//   node scripts/serve.js            PORT=8080 by default; PORT=0 picks a free port
//   import { start } from './serve.js'; const { url, close } = await start({ port: 0 });

import http from 'node:http';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The demo and what it imports; the browser tests' and benchmarks' pages.
const SERVED = new Set(['web-demo', 'js', 'dist', 'tests', 'bench']);

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

// The page may fetch any model endpoint the person types in (connect-src),
// and nothing else may run: no inline script or style, no plugins, no framing.
export const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "connect-src 'self' http: https:",
  "style-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/**
 * Starts the server. Resolves with { server, port, url, close }.
 * @param {{port?: number, host?: string, root?: string, log?: boolean}} [options]
 */
export async function start({ port = 8080, host = '127.0.0.1', root = ROOT, log = false } = {}) {
  const realRoot = await realpath(root);
  const folders = realRoot === (await realpath(ROOT)) ? SERVED : null;
  const server = http.createServer((req, res) => {
    handle(realRoot, folders, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error');
      else res.destroy();
    });
  });
  if (log) {
    server.on('request', (req, res) => {
      res.on('finish', () => console.log(`${res.statusCode} ${req.method} ${req.url}`));
    });
  }
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = server.address().port;
  const url = `http://${host}:${actual}/`;
  return {
    server,
    port: actual,
    url,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

// Serves one request from `root`, within `folders` (its top-level folders
// that may be served; null: all).
async function handle(root, folders, req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
  }
  let pathname;
  try {
    pathname = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
  } catch {
    return send(res, 400, 'bad request');
  }
  if (pathname.includes('\0')) return send(res, 400, 'bad request');
  if (pathname === '/' || pathname === '/web-demo') {
    return send(res, 302, 'see /web-demo/', { location: '/web-demo/' });
  }

  // Resolve inside the root, then again after symlinks: neither "..", an
  // encoded "%2e%2e", nor a link may lead out of the repository.
  let file = path.resolve(root, '.' + path.posix.normalize(pathname));
  if (!inside(root, file)) return send(res, 403, 'forbidden');
  const rel = path.relative(root, file).split(path.sep);
  // Within `folders`, and no dot-folder or dotfile on the way.
  const served = (parts) =>
    (!folders || folders.has(parts[0])) && !parts.some((part) => part.startsWith('.') && part.length > 0);
  if (!served(rel)) return send(res, 404, 'not found');

  // The file a path resolves to after links, or null when that is outside.
  const resolved = async (p) => {
    const real = await realpath(p);
    return inside(root, real) && served(path.relative(root, real).split(path.sep)) ? real : null;
  };
  let info;
  try {
    file = await resolved(file);
    if (!file) return send(res, 404, 'not found');
    info = await stat(file);
    if (info.isDirectory()) {
      // Redirected to the directory it resolved to, re-encoded: never to
      // the decoded request path, whose "%2f%2f" would name another host.
      const location = `/${rel.map(encodeURIComponent).join('/')}/`;
      if (!pathname.endsWith('/')) return send(res, 301, 'moved', { location });
      file = await resolved(path.join(file, 'index.html'));
      if (!file) return send(res, 404, 'not found');
      info = await stat(file);
    }
  } catch {
    return send(res, 404, 'not found');
  }
  if (!info.isFile()) return send(res, 404, 'not found');

  const type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  const headers = { ...COMMON_HEADERS, 'content-type': type, 'content-length': info.size };
  if (type.startsWith('text/html')) {
    headers['content-security-policy'] = CSP;
    headers['x-frame-options'] = 'DENY';
  }
  res.writeHead(200, headers);
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

function inside(root, file) {
  return file === root || file.startsWith(root + path.sep);
}

function send(res, status, text, extra = {}) {
  const body = `${text}\n`;
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    ...extra,
  });
  res.end(body);
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  const port = process.env.PORT === undefined || process.env.PORT === '' ? 8080 : Number(process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve.js: PORT must be a port number, not "${process.env.PORT}"`);
    process.exit(2);
  }
  start({ port, log: process.env.LOG === '1' }).then(
    ({ port: actual, close }) => {
      console.log(`threadmem demo: http://127.0.0.1:${actual}/web-demo/`);
      const stop = () => close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (err) => {
      console.error(`serve.js: cannot listen on 127.0.0.1:${port}: ${err.message}`);
      process.exit(1);
    },
  );
}
