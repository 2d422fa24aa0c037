/**
 * Models by name: resolves a registry name given to loadModel or the CLI to a
 * cached, verified copy of the published file, downloading it the first time.
 */
import type { ModelSource } from '../source.js';
import { isUrlString } from '../source.js';
import { fetchCachedModel, isCachedInBrowser } from './browser-store.js';
import type { ProgressCallback } from './download.js';
import { cacheStatus, defaultCacheDir, ensureCached } from './node-store.js';
import { buildRegistry, DEFAULT_MODEL_NAME, fileUrl, findEntry, knownSize, looksLikeModelName, parseRegistryFile, type ZooEntry } from './registry.js';

export { ModelDownloadError, type DownloadProgress, type ProgressCallback } from './download.js';
export { DEFAULT_MODEL_NAME, MODEL_ZOO, type ZooEntry, type ZooFile, type ZooFormat } from './registry.js';

/** Options of loadModel that apply when the source is a registry name. */
export interface ModelDownloadOptions {
  /** Called while a named model downloads, with the bytes received and expected. */
  onProgress?: ProgressCallback;
  /**
   * Node: folder of the model cache. Default: EFFNET_CACHE_DIR, else
   * $XDG_CACHE_HOME/efficientnet-wasm, else the user cache folder.
   */
  cacheDir?: string;
  /**
   * Base URL that replaces the published location of every registry entry, for
   * a mirror with the same file layout. Default: EFFNET_MODEL_BASE_URL.
   */
  modelBaseUrl?: string;
  /**
   * Entries added to the registry; an entry with a built-in name replaces it.
   * In Node, EFFNET_MODEL_REGISTRY may name a JSON file of more entries
   * ({ "baseUrl": ..., "models": [...] }), which these override.
   */
  registry?: ZooEntry[];
}

/** A registry entry with the state of its files in the cache. */
export interface ModelListing extends ZooEntry {
  /** Sum of the file sizes, or null when one is unknown. */
  size: number | null;
  /** URL of the file that loadModel opens. */
  url: string;
  /** True when every file of the model is in the cache. */
  cached: boolean;
  /** Node: path of the cached main file (present or not); null elsewhere. */
  cachePath: string | null;
}

const FS_MODULE = 'node:fs/promises';

function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

function environment(name: string): string | undefined {
  return isNode() ? process.env[name] || undefined : undefined;
}

/**
 * Returns the registry: the built-in entries, those of the EFFNET_MODEL_REGISTRY
 * file (Node), then options.registry, rebased on modelBaseUrl or
 * EFFNET_MODEL_BASE_URL when set.
 */
export async function modelRegistry(options: ModelDownloadOptions = {}): Promise<ZooEntry[]> {
  const extra: ZooEntry[] = [];
  const registryFile = environment('EFFNET_MODEL_REGISTRY');
  if (registryFile) {
    const fs = (await import(/* @vite-ignore */ FS_MODULE)) as typeof import('node:fs/promises');
    let text: string;
    try {
      text = await fs.readFile(registryFile, 'utf8');
    } catch (error) {
      throw new Error(`Failed to read the model registry ${registryFile} named by EFFNET_MODEL_REGISTRY: ${(error as Error).message}`);
    }
    extra.push(...parseRegistryFile(text, registryFile));
  }
  // Copies, so that validation and rebasing never change the caller's objects.
  extra.push(...(options.registry ?? []).map((entry) => ({ ...entry, files: entry.files.map((file) => ({ ...file })) })));
  const baseUrl = options.modelBaseUrl ?? environment('EFFNET_MODEL_BASE_URL');
  return buildRegistry(extra, baseUrl, options.registry ? 'the registry option' : 'EFFNET_MODEL_REGISTRY');
}

/**
 * Returns the source unchanged unless it is a string shaped like a registry
 * name that is not an existing file; then returns the cached model (a path in
 * Node, the bytes or { modelJson, weights } elsewhere), downloading it first
 * if needed. An unknown name throws an error that lists the known names.
 */
export async function resolveModelSource(source: ModelSource, options: ModelDownloadOptions = {}): Promise<ModelSource> {
  if (typeof source !== 'string' || isUrlString(source) || !looksLikeModelName(source)) return source;
  if (isNode() && (await fileExists(source))) return source;
  const registry = await modelRegistry(options);
  const entry = findEntry(registry, source);
  if (!entry) {
    const names = registry.map((known) => known.name).join(', ');
    throw new Error(
      `Unknown model ${JSON.stringify(source)}: there is no such file, and it is not a registry name. ` +
        `Known names: ${names}. Pass one of them, a file path or a URL.`,
    );
  }
  return fetchEntry(entry, options);
}

/** Downloads a model of the registry into the cache unless it is there, and returns what loadModel reads. */
export async function downloadModel(name: string = DEFAULT_MODEL_NAME, options: ModelDownloadOptions = {}): Promise<ModelSource> {
  const registry = await modelRegistry(options);
  const entry = findEntry(registry, name);
  if (!entry) {
    throw new Error(`Unknown model ${JSON.stringify(name)}: known names are ${registry.map((known) => known.name).join(', ')}.`);
  }
  return fetchEntry(entry, options);
}

/** Lists the registry and whether each model is cached (Node: in the cache folder; elsewhere: in the Cache API). */
export async function listModels(options: ModelDownloadOptions = {}): Promise<ModelListing[]> {
  const registry = await modelRegistry(options);
  const listings: ModelListing[] = [];
  for (const entry of registry) {
    let cached = false;
    let cachePath: string | null = null;
    if (isNode()) {
      const status = await cacheStatus(entry, await cacheFolder(options));
      cached = status.cached;
      cachePath = status.path;
    } else {
      cached = await isCachedInBrowser(entry);
    }
    listings.push({ ...entry, size: knownSize(entry), url: fileUrl(entry, entry.files[0]).href, cached, cachePath });
  }
  return listings;
}

/** Returns the Node cache folder that these options select. */
export async function cacheFolder(options: ModelDownloadOptions = {}): Promise<string> {
  return options.cacheDir ?? (await defaultCacheDir());
}

async function fetchEntry(entry: ZooEntry, options: ModelDownloadOptions): Promise<ModelSource> {
  if (isNode()) {
    return ensureCached(entry, { cacheDir: await cacheFolder(options), onProgress: options.onProgress });
  }
  return fetchCachedModel(entry, { onProgress: options.onProgress });
}

async function fileExists(path: string): Promise<boolean> {
  const fs = (await import(/* @vite-ignore */ FS_MODULE)) as typeof import('node:fs/promises');
  return fs.stat(path).then(
    () => true,
    () => false,
  );
}
