// A static file server for the demo, bound to 127.0.0.1. From the repository root:
//
//   node examples/browser/serve.mjs [--port 8080] [--models DIR]
//
// serves dist/, examples/ and the flatbuffers module that the demo's import map
// names, and DIR (if given) under /models/. The end-to-end test reuses startStaticServer.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.bmp': 'image/bmp',
  '.txt': 'text/plain; charset=utf-8',
};

/** Maps a request path to a file under the mount with the longest matching URL prefix, or null. */
function resolveFile(mounts, pathname) {
  let best = null;
  for (const [prefix, directory] of mounts) {
    if (pathname.startsWith(prefix) && (best === null || prefix.length > best[0].length)) best = [prefix, directory];
  }
  if (best === null) return null;
  const [prefix, directory] = best;
  const file = path.resolve(directory, '.' + path.posix.normalize('/' + pathname.slice(prefix.length)));
  const relative = path.relative(directory, file);
  if (relative.startsWith('..') || path.isAbsolute(relative)) return null;
  return file;
}

/**
 * Starts an HTTP server on host (default 127.0.0.1) that serves each [urlPrefix, directory]
 * mount read-only, with index.html for folders. Port 0 picks a free port.
 * Returns { url, close }, where url is the origin with no trailing slash.
 */
export async function startStaticServer({ mounts, host = '127.0.0.1', port = 0 }) {
  const server = createServer(async (request, response) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    } catch {
      response.writeHead(400).end('Invalid URL encoding.');
      return;
    }
    let file = resolveFile(mounts, pathname);
    try {
      if (file === null) throw Object.assign(new Error('not mounted'), { code: 'ENOENT' });
      let info = await stat(file);
      if (info.isDirectory()) {
        file = path.join(file, 'index.html');
        info = await stat(file);
      }
      response.writeHead(200, {
        'content-type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': info.size,
        'cache-control': 'no-store',
      });
      if (request.method === 'HEAD') response.end();
      else createReadStream(file).pipe(response);
    } catch (error) {
      const missing = error.code === 'ENOENT' || error.code === 'ENOTDIR';
      response.writeHead(missing ? 404 : 500, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(missing ? `Not found: ${pathname}` : `Failed to read ${pathname}: ${error.message}`);
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const { port: boundPort } = server.address();
  return {
    url: `http://${host}:${boundPort}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '8080' }, models: { type: 'string' } },
  });
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const mounts = [
    ['/dist/', path.join(root, 'dist')],
    ['/examples/', path.join(root, 'examples')],
    ['/node_modules/flatbuffers/', path.join(root, 'node_modules', 'flatbuffers')],
  ];
  if (values.models) mounts.push(['/models/', path.resolve(values.models)]);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`Invalid --port: expected an integer from 0 to 65535, but got ${values.port}.`);
    process.exit(1);
  }
  const { url } = await startStaticServer({ mounts, port });
  console.log(`Serving the demo at ${url}/examples/browser/${values.models ? ` and ${values.models} under ${url}/models/` : ''}`);
}
