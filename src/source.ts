/** A model's origin: a file path (Node), a URL, or the file's bytes. */
export type ModelSource = string | URL | Uint8Array | ArrayBuffer;

/** The bytes of a model file and a name for messages. */
export interface LoadedBytes {
  bytes: Uint8Array;
  name: string;
}

const URL_PATTERN = /^(https?|file|blob|data):/i;

function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

/** Reads a model source into memory: fetches URLs, reads paths from disk in Node. */
export async function readSource(source: ModelSource): Promise<LoadedBytes> {
  if (source instanceof Uint8Array) return { bytes: source, name: 'model bytes' };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name: 'model bytes' };
  if (source instanceof URL) return fetchBytes(source);
  if (typeof source !== 'string') {
    throw new TypeError(
      `Invalid model source: expected a path, a URL, a Uint8Array or an ArrayBuffer, but got ${describe(source)}.`,
    );
  }
  if (URL_PATTERN.test(source)) {
    if (source.toLowerCase().startsWith('file:') && isNode()) {
      const { fileURLToPath } = await import('node:url');
      return readFile(fileURLToPath(source));
    }
    return fetchBytes(new URL(source));
  }
  if (isNode()) return readFile(source);
  // In a browser a bare string is a URL relative to the page.
  return fetchBytes(new URL(source, globalThis.location?.href));
}

async function readFile(path: string): Promise<LoadedBytes> {
  const fs = await import('node:fs/promises');
  try {
    const buffer = await fs.readFile(path);
    return { bytes: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), name: path };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`Model file not found: ${path}. Check the path.`);
    if (code === 'EISDIR') throw new Error(`Failed to load model ${path}: it is a directory, not a model file.`);
    throw new Error(`Failed to read model file ${path}: ${(error as Error).message}`);
  }
}

async function fetchBytes(url: URL): Promise<LoadedBytes> {
  const name = url.href;
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`Failed to download model ${name}: ${(error as Error).message}. Check the URL and the network.`);
  }
  if (!response.ok) {
    throw new Error(`Failed to download model ${name}: the server returned HTTP ${response.status} ${response.statusText}.`);
  }
  return { bytes: new Uint8Array(await response.arrayBuffer()), name };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return typeof value;
}
