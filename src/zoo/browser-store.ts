/**
 * The model cache outside Node: the Cache API (caches.open) in browsers and
 * workers, keyed by each file's URL, with the same size and checksum checks as
 * the Node cache. Where the runtime has no Cache API, files are downloaded into
 * memory on every load.
 */
import type { TfjsModelFiles } from '../formats/tfjs/index.js';
import { downloadFile, MemorySink, ProgressTracker, verifyChecksum, type ProgressCallback } from './download.js';
import { fileUrl, shardPaths, type ZooEntry, type ZooFile } from './registry.js';

/** Name of the Cache API cache that contains the model files. */
export const BROWSER_CACHE_NAME = 'efficientnet-wasm-models';

export interface BrowserStoreOptions {
  onProgress?: ProgressCallback;
}

/** Returns the Cache API of this runtime, or null when it has none. */
function cacheStorage(): CacheStorage | null {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  return storage && typeof storage.open === 'function' ? storage : null;
}

/**
 * Returns the model's bytes (a .tflite or .safetensors file) or its model.json
 * with shards, from the Cache API when present and valid, else downloaded,
 * verified and stored there.
 */
export async function fetchCachedModel(entry: ZooEntry, options: BrowserStoreOptions): Promise<Uint8Array | TfjsModelFiles> {
  const storage = cacheStorage();
  const cache = storage ? await storage.open(BROWSER_CACHE_NAME) : null;
  const progress = new ProgressTracker(entry.name, options.onProgress);
  const main = entry.files[0];
  const contents = new Map<string, Uint8Array>();
  for (const file of entry.files) progress.expect(file.path, file.size);
  for (const file of entry.files) contents.set(file.path, await ensureFile(entry, file, cache, progress));
  const mainBytes = contents.get(main.path)!;
  if (entry.format !== 'tfjs') return mainBytes;

  const folder = main.path.includes('/') ? main.path.slice(0, main.path.lastIndexOf('/') + 1) : '';
  const weights: Record<string, Uint8Array> = {};
  for (const shard of shardPaths(new TextDecoder().decode(mainBytes), entry.name)) {
    const path = folder + shard;
    const bytes = contents.get(path) ?? (await ensureFile(entry, { path, size: null, sha256: null }, cache, progress));
    weights[shard] = bytes;
  }
  return { modelJson: mainBytes, weights };
}

/** Reports whether each of the model's listed files is in the Cache API cache. */
export async function isCachedInBrowser(entry: ZooEntry): Promise<boolean> {
  const storage = cacheStorage();
  if (!storage) return false;
  const cache = await storage.open(BROWSER_CACHE_NAME);
  for (const file of entry.files) {
    if (!(await cache.match(fileUrl(entry, file).href))) return false;
  }
  return true;
}

async function ensureFile(entry: ZooEntry, file: ZooFile, cache: Cache | null, progress: ProgressTracker): Promise<Uint8Array> {
  const url = fileUrl(entry, file);
  const cached = await cache?.match(url.href);
  if (cached) {
    const bytes = new Uint8Array(await cached.arrayBuffer());
    const valid =
      (file.size === null || bytes.length === file.size) &&
      (await verifyChecksum(bytes, file, entry.name, url.href, 'cached copy').then(() => true, () => false));
    if (valid) {
      progress.complete(file.path, bytes.length);
      return bytes;
    }
    await cache!.delete(url.href);
  }

  const sink = new MemorySink();
  await downloadFile({ model: entry.name, url, file, sink, progress });
  const bytes = sink.bytes();
  await verifyChecksum(bytes, file, entry.name, url.href, `downloaded from ${url.href}`);
  if (cache) {
    try {
      const headers = { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) };
      await cache.put(url.href, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
    } catch (error) {
      // A full quota should not fail a load whose bytes are already here.
      console.warn(`efficientnet-wasm: could not store model ${entry.name} in the Cache API (${(error as Error).message}); it will be downloaded again next time.`);
    }
  }
  return bytes;
}
