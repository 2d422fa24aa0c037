/** A model's origin: a file path (Node), a URL, or the file's bytes. */
export type ModelSource = string | URL | Uint8Array | ArrayBuffer;

/** What a resource is, for error messages. */
export type ResourceKind = 'model' | 'image';

/** The bytes of a model file and a name for messages. */
export interface LoadedBytes {
  bytes: Uint8Array;
  name: string;
}

const URL_PATTERN = /^(https?|file|blob|data):/i;

// Node built-ins are imported through variables so that browser bundlers do not
// try to resolve them; these imports run only in Node.
const FS_MODULE = 'node:fs/promises';
const URL_MODULE = 'node:url';

/** Returns true for a string that names a URL rather than a file path. */
export function isUrlString(value: string): boolean {
  return URL_PATTERN.test(value);
}

function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

/**
 * Reads a model (or an image given by URL) into memory: fetches URLs, and reads
 * paths and file: URLs from disk in Node.
 */
export async function readSource(source: ModelSource, kind: ResourceKind = 'model'): Promise<LoadedBytes> {
  if (source instanceof Uint8Array) return { bytes: source, name: `${kind} bytes` };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name: `${kind} bytes` };
  if (source instanceof URL) return readUrl(source, kind);
  if (typeof source !== 'string') {
    throw new TypeError(
      `Invalid ${kind} source: expected a path, a URL, a Uint8Array or an ArrayBuffer, but got ${describe(source)}.`,
    );
  }
  if (isUrlString(source)) return readUrl(new URL(source), kind);
  if (isNode()) return readFile(source, kind);
  // In a browser a bare string is a URL relative to the page.
  return fetchBytes(new URL(source, globalThis.location?.href), kind);
}

async function readUrl(url: URL, kind: ResourceKind): Promise<LoadedBytes> {
  if (url.protocol === 'file:' && isNode()) {
    const { fileURLToPath } = (await import(/* @vite-ignore */ URL_MODULE)) as typeof import('node:url');
    return readFile(fileURLToPath(url), kind);
  }
  return fetchBytes(url, kind);
}

async function readFile(path: string, kind: ResourceKind): Promise<LoadedBytes> {
  const fs = (await import(/* @vite-ignore */ FS_MODULE)) as typeof import('node:fs/promises');
  try {
    const buffer = await fs.readFile(path);
    return { bytes: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), name: path };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const title = kind === 'model' ? 'Model' : 'Image';
    if (code === 'ENOENT') throw new Error(`${title} file not found: ${path}. Check the path.`);
    if (code === 'EISDIR') throw new Error(`Failed to load ${kind} ${path}: it is a directory, not a ${kind} file.`);
    throw new Error(`Failed to read ${kind} file ${path}: ${(error as Error).message}`);
  }
}

async function fetchBytes(url: URL, kind: ResourceKind): Promise<LoadedBytes> {
  const name = url.href;
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`Failed to download ${kind} ${name}: ${(error as Error).message}. Check the URL and the network.`);
  }
  if (!response.ok) {
    throw new Error(`Failed to download ${kind} ${name}: the server returned HTTP ${response.status} ${response.statusText}.`);
  }
  return { bytes: new Uint8Array(await response.arrayBuffer()), name };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return typeof value;
}
