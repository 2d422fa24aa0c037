/**
 * HTTP download of one model file into a sink: a temporary file in Node, memory
 * elsewhere. A dropped connection resumes with a Range request, or restarts
 * cleanly when the server ignores Range, within a bounded number of retries.
 * Sizes and SHA-256 checksums are checked against the registry.
 */
import type { ZooFile } from './registry.js';

/** Progress of a model download, aggregated over the model's files. */
export interface DownloadProgress {
  /** Registry name of the model. */
  name: string;
  /** Path of the file being downloaded, relative to the model's base URL. */
  file: string;
  /** Bytes received so far; never decreases, also when a download restarts. */
  loaded: number;
  /**
   * Bytes expected for the files known so far, or null while the size of one of
   * them is unknown. It grows when a model.json names shards not in the registry.
   */
  total: number | null;
}

export type ProgressCallback = (progress: DownloadProgress) => void;

/** A failed model download; the message names the model, the URL and what to do next. */
export class ModelDownloadError extends Error {
  override readonly name = 'ModelDownloadError';
  /** Registry name of the model. */
  readonly model: string;
  readonly url: string;
  /** HTTP status of the failing response, when there was one. */
  readonly status: number | null;

  constructor(message: string, model: string, url: string, status: number | null = null) {
    super(message);
    this.model = model;
    this.url = url;
    this.status = status;
  }
}

/** Destination of downloaded bytes. */
export interface DownloadSink {
  /** Bytes written so far. */
  readonly length: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Drops everything written, before a restart from byte 0. */
  reset(): Promise<void>;
}

/** Collects a download in memory. */
export class MemorySink implements DownloadSink {
  private chunks: Uint8Array[] = [];
  private written = 0;

  get length(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk.slice());
    this.written += chunk.length;
  }

  async reset(): Promise<void> {
    this.chunks = [];
    this.written = 0;
  }

  bytes(): Uint8Array {
    const all = new Uint8Array(this.written);
    let offset = 0;
    for (const chunk of this.chunks) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    return all;
  }
}

/**
 * Sums the progress of a model's files and reports it. A file that restarts
 * from byte 0 does not move `loaded` back, which stays put until the new
 * transfer passes the bytes already reported.
 */
export class ProgressTracker {
  private readonly sizes = new Map<string, number | null>();
  private readonly reported = new Map<string, number>();

  constructor(
    private readonly name: string,
    private readonly callback: ProgressCallback | undefined,
  ) {}

  /** Adds a file to the total, with its size when known. */
  expect(path: string, size: number | null): void {
    if (!this.sizes.has(path) || size !== null) this.sizes.set(path, size);
  }

  /** Records a file found whole in the cache, without reporting. */
  complete(path: string, bytes: number): void {
    this.sizes.set(path, bytes);
    this.reported.set(path, bytes);
  }

  /**
   * Records that `path` now has `bytes` bytes and reports the sum. Bytes at or
   * below those already reported for the file (a restart catching up) report
   * nothing, unless `always` is set, as for the closing report of a file.
   */
  update(path: string, bytes: number, always = false): void {
    const previous = this.reported.get(path);
    if (previous !== undefined && bytes <= previous && !always) return;
    this.reported.set(path, Math.max(bytes, previous ?? 0));
    this.callback?.({ name: this.name, file: path, loaded: this.loaded(), total: this.total() });
  }

  private loaded(): number {
    let sum = 0;
    for (const bytes of this.reported.values()) sum += bytes;
    return sum;
  }

  private total(): number | null {
    let sum = 0;
    for (const size of this.sizes.values()) {
      if (size === null) return null;
      sum += size;
    }
    return sum;
  }
}

export interface DownloadFileOptions {
  /** Registry name of the model, for messages and progress. */
  model: string;
  url: URL;
  file: ZooFile;
  sink: DownloadSink;
  progress: ProgressTracker;
  /** Retries after a failed connection or a 5xx response; default 3. */
  retries?: number;
  /** Milliseconds without a byte before the connection counts as dropped; default 30000. */
  idleTimeoutMs?: number;
  /** Delay before the first retry in milliseconds, doubled for each further one; default 250. */
  retryDelayMs?: number;
}

/** A failure worth another attempt: a dropped connection or a server error. */
class RetryableError extends Error {}

/**
 * Downloads one file into options.sink, resuming or restarting after a dropped
 * connection, and checks its size (the registry's, else Content-Length).
 * Returns the size. The caller checks the SHA-256.
 */
export async function downloadFile(options: DownloadFileOptions): Promise<number> {
  const { model, url, file, sink, progress } = options;
  const retries = options.retries ?? 3;
  const retryDelayMs = options.retryDelayMs ?? 250;
  const state: TransferState = { expectedSize: file.size, validator: null };
  progress.expect(file.path, file.size);

  for (let attempt = 0; ; attempt++) {
    try {
      await transfer(options, state);
      break;
    } catch (error) {
      if (!(error instanceof RetryableError)) throw error;
      if (attempt >= retries) {
        throw new ModelDownloadError(
          `Failed to download model ${model} from ${url.href}: ${error.message} (gave up after ${attempt + 1} attempts). ` +
            'Check the network, or set EFFNET_MODEL_BASE_URL (modelBaseUrl) to a mirror.',
          model,
          url.href,
        );
      }
      await delay(retryDelayMs * 2 ** attempt);
    }
  }

  if (state.expectedSize !== null && sink.length !== state.expectedSize) {
    throw sizeError(model, url, state.expectedSize, sink.length, file.size !== null);
  }
  progress.expect(file.path, sink.length);
  progress.update(file.path, sink.length, true);
  return sink.length;
}

interface TransferState {
  /** The registry's size, or the size the server announced on the first response. */
  expectedSize: number | null;
  /** ETag or Last-Modified of the first response, sent as If-Range so a resumed part comes from the same file. */
  validator: string | null;
}

/** Sends one request, which continues from sink.length when the sink already contains bytes. */
async function transfer(options: DownloadFileOptions, state: TransferState): Promise<void> {
  const { model, url, file, sink, progress } = options;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const offset = sink.length;
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    if (state.validator) headers['if-range'] = state.validator;
  }

  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const armTimer = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), idleTimeoutMs);
  };
  armTimer();
  try {
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: controller.signal, redirect: 'follow' });
    } catch (error) {
      throw new RetryableError(describeNetworkError(error, controller.signal.aborted, idleTimeoutMs));
    }

    const announced = await acceptResponse(response, options, state, offset);
    if (state.expectedSize === null && announced !== null) {
      state.expectedSize = announced;
      progress.expect(file.path, announced);
    } else if (state.expectedSize !== null && announced !== null && announced !== state.expectedSize) {
      await response.body?.cancel();
      throw sizeError(model, url, state.expectedSize, announced, file.size !== null);
    }
    if (offset === 0) state.validator = response.headers.get('etag') ?? response.headers.get('last-modified');

    if (!response.body) return;
    const reader = response.body.getReader();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw new RetryableError(`the connection dropped after ${sink.length} bytes (${describeNetworkError(error, controller.signal.aborted, idleTimeoutMs)})`);
      }
      if (chunk.done) break;
      armTimer();
      await sink.write(chunk.value);
      if (state.expectedSize !== null && sink.length > state.expectedSize) {
        await reader.cancel();
        throw sizeError(model, url, state.expectedSize, sink.length, file.size !== null, true);
      }
      progress.update(file.path, sink.length);
    }
    if (state.expectedSize !== null && sink.length < state.expectedSize) {
      throw new RetryableError(`the connection closed after ${sink.length} of ${state.expectedSize} bytes`);
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks a response's status, prepares the sink for it (keep the bytes for a
 * matching 206, drop them for a 200), and returns the whole file's size when
 * the response states it.
 */
async function acceptResponse(response: Response, options: DownloadFileOptions, state: TransferState, offset: number): Promise<number | null> {
  const { model, url, sink } = options;
  const status = response.status;
  if (status >= 500 || status === 429 || status === 408) {
    await response.body?.cancel();
    throw new RetryableError(`the server returned HTTP ${status} ${response.statusText}`.trim());
  }
  if (status === 416 && offset > 0) {
    // The part already held does not fit the file on the server: start over.
    await response.body?.cancel();
    await sink.reset();
    throw new RetryableError('the server rejected the Range request (HTTP 416), so the download restarts from the beginning');
  }
  if (status !== 200 && status !== 206) {
    await response.body?.cancel();
    const hint = status === 404 || status === 410
      ? 'The file is not at that address: check the model base URL (EFFNET_MODEL_BASE_URL, modelBaseUrl) or update the package.'
      : 'Check the URL and the network.';
    throw new ModelDownloadError(
      `Failed to download model ${model} from ${url.href}: the server returned HTTP ${status} ${response.statusText}`.trim() + `. ${hint}`,
      model,
      url.href,
      status,
    );
  }

  const encoded = (response.headers.get('content-encoding') ?? 'identity').toLowerCase() !== 'identity';
  const contentLength = encoded ? null : parseLength(response.headers.get('content-length'));
  if (status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
    if (!range || Number(range[1]) !== offset) {
      // A partial response that does not continue where the sink stops is useless: start over.
      await response.body?.cancel();
      await sink.reset();
      throw new RetryableError(`the server responded to the Range request for byte ${offset} with Content-Range ${JSON.stringify(response.headers.get('content-range'))}`);
    }
    if (range[3] !== '*') return Number(range[3]);
    return contentLength === null ? null : offset + contentLength;
  }
  // HTTP 200 carries the whole file: a server that ignores Range restarts the download.
  if (offset > 0) await sink.reset();
  return contentLength;
}

function sizeError(model: string, url: URL, expected: number, actual: number, fromRegistry: boolean, partial = false): ModelDownloadError {
  const what = fromRegistry ? `the registry gives ${expected} bytes` : `the server announced ${expected} bytes`;
  const got = partial ? `more than that arrived (${actual} bytes so far)` : `the server sent ${actual} bytes`;
  return new ModelDownloadError(
    `Size mismatch for model ${model} from ${url.href}: ${what}, but ${got}. ` +
      'The file was not kept. The file on the server may have changed: update the package, or check the mirror.',
    model,
    url.href,
  );
}

function parseLength(value: string | null): number | null {
  if (value === null || !/^\d+$/.test(value.trim())) return null;
  return Number(value.trim());
}

function describeNetworkError(error: unknown, timedOut: boolean, idleTimeoutMs: number): string {
  if (timedOut) return `no data for ${idleTimeoutMs / 1000} s`;
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  const message = (error as Error).message ?? String(error);
  return cause?.message ? `${message}: ${cause.message}` : message;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Returns the lowercase hex SHA-256 of bytes, with the Web Crypto API (Node 20+, browsers in a secure context). */
export async function sha256Hex(bytes: Uint8Array, model: string): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new Error(
      `Failed to verify model ${model}: checking its SHA-256 needs the Web Crypto API (crypto.subtle), which this runtime ` +
        'does not provide. Browsers provide it only on https:// pages and localhost.',
    );
  }
  const digest = await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Throws when the SHA-256 of a downloaded or cached file differs from the registry's. */
export async function verifyChecksum(bytes: Uint8Array, file: ZooFile, model: string, url: string, where: string): Promise<void> {
  if (file.sha256 === null) return;
  const actual = await sha256Hex(bytes, model);
  if (actual !== file.sha256) {
    throw new ModelDownloadError(
      `Checksum mismatch for model ${model} (${where}): expected sha256 ${file.sha256}, but got ${actual}. ` +
        'The file was not kept. The file on the server may have changed or been corrupted: try again, or update the package.',
      model,
      url,
    );
  }
}
