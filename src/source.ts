import type { TfjsModelFiles } from './formats/tfjs/index.js';

/**
 * A model's origin: a file path (Node), a URL, the file's bytes, or a TF.js
 * model.json with its shards in memory.
 */
export type ModelSource = string | URL | Uint8Array | ArrayBuffer | TfjsModelFiles;

/** Kind of a resource, named in error messages. */
export type ResourceKind = 'model' | 'image' | 'weight shard';

/** The bytes of a model file and a name for messages. */
export interface LoadedBytes {
  bytes: Uint8Array;
  name: string;
  /**
   * Reads a file named relative to this one (the weight shards next to a
   * model.json); absent when the source was bytes.
   */
  readRelative?: (path: string) => Promise<Uint8Array>;
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
  if (source instanceof URL) return withRelative(await readUrl(source, kind), source);
  if (typeof source !== 'string') {
    throw new TypeError(
      `Invalid ${kind} source: expected a path, a URL, a Uint8Array or an ArrayBuffer, but got ${describe(source)}.`,
    );
  }
  if (isUrlString(source)) return withRelative(await readUrl(new URL(source), kind), new URL(source));
  if (isNode()) return withRelative(await readFile(source, kind), source);
  // In a browser a bare string is a URL relative to the page.
  const url = new URL(source, globalThis.location?.href);
  return withRelative(await fetchBytes(url, kind), url);
}

/** Adds a reader for files next to the source: same folder for a path, URL resolution for a URL. */
function withRelative(loaded: LoadedBytes, base: string | URL): LoadedBytes {
  const readRelative = async (path: string): Promise<Uint8Array> => {
    if (typeof base === 'string') {
      const folder = base.slice(0, Math.max(base.lastIndexOf('/'), base.lastIndexOf('\\')) + 1);
      return (await readFile(folder + path, 'weight shard')).bytes;
    }
    let url: URL;
    try {
      url = new URL(path, base);
    } catch {
      throw new Error(`Invalid weight shard path '${path}': it cannot be resolved against ${base.href}. Serve model.json from an http(s) or file URL.`);
    }
    return (await readUrl(url, 'weight shard')).bytes;
  };
  return { ...loaded, readRelative };
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
    const title = kind === 'model' ? 'Model' : kind === 'image' ? 'Image' : 'Weight shard';
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
