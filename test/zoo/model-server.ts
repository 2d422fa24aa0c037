/**
 * A local HTTP server on 127.0.0.1 for the model download tests: serves files
 * from memory with Range and If-Range support, logs every request, and can
 * misbehave on purpose (drop or stall a connection midway, ignore Range,
 * respond with an error status, or send no Content-Length).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface ServedFile {
  bytes: Uint8Array;
  /** Closes the connection after this many body bytes, on the first `failures` requests. */
  dropAfter?: number;
  /** Sends this many body bytes and then nothing more, on the first `failures` requests. */
  stallAfter?: number;
  /** Requests that drop or stall before the file is served whole; default 1. */
  failures?: number;
  /** Responds to every request with HTTP 200 and the whole file, as servers without Range support do. */
  ignoreRange?: boolean;
  /** Responds with this status and no body. */
  status?: number;
  /** Sends the body chunked, without Content-Length. */
  chunked?: boolean;
}

export interface LoggedRequest {
  path: string;
  range: string | null;
  ifRange: string | null;
}

export class ModelServer {
  readonly files = new Map<string, ServedFile>();
  readonly requests: LoggedRequest[] = [];
  private server: Server | null = null;
  private url = '';

  /** Starts listening on an ephemeral loopback port and returns the base URL, ending with '/'. */
  async start(): Promise<string> {
    const server = createServer((request, response) => this.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('The test server has no TCP address.');
    this.server = server;
    this.url = `http://127.0.0.1:${address.port}/`;
    return this.url;
  }

  get baseUrl(): string {
    return this.url;
  }

  /** Serves bytes at a path (no leading '/'). */
  serve(path: string, file: ServedFile): void {
    this.files.set(path, { failures: 1, ...file });
  }

  /** Requests for one path, in order. */
  requestsFor(path: string): LoggedRequest[] {
    return this.requests.filter((request) => request.path === path);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname.slice(1));
    const range = request.headers.range ?? null;
    const ifRange = (request.headers['if-range'] as string | undefined) ?? null;
    this.requests.push({ path, range, ifRange });
    const file = this.files.get(path);
    if (!file) {
      response.writeHead(404, 'Not Found').end();
      return;
    }
    if (file.status !== undefined) {
      response.writeHead(file.status).end();
      return;
    }

    const size = file.bytes.length;
    const etag = `"${size}-test"`;
    let start = 0;
    let status = 200;
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', etag, 'accept-ranges': 'bytes' };
    const match = /^bytes=(\d+)-$/.exec(range ?? '');
    if (match && !file.ignoreRange && (ifRange === null || ifRange === etag)) {
      start = Number(match[1]);
      if (start >= size) {
        response.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${size - 1}/${size}`;
    }
    const body = file.bytes.subarray(start);
    if (!file.chunked) headers['content-length'] = body.length;
    response.writeHead(status, headers);

    const failing = (file.failures ?? 0) > 0 && (file.dropAfter !== undefined || file.stallAfter !== undefined);
    if (failing) {
      file.failures = (file.failures ?? 0) - 1;
      const cut = Math.min(body.length, file.dropAfter ?? file.stallAfter ?? 0);
      response.write(body.subarray(0, cut), () => {
        // Dropping destroys the socket once the first part is flushed; stalling leaves it open and silent.
        if (file.dropAfter !== undefined) response.socket?.destroy();
      });
      return;
    }
    response.end(body);
  }
}

/** Deterministic pseudo-random bytes (xorshift32), so a file's checksum is stable across runs. */
export function testBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
  }
  return bytes;
}
