/**
 * The Node model cache: one folder per model under the cache folder, each file
 * downloaded to a temporary file beside its final name, verified, then renamed,
 * so a failed or mismatched download never leaves a file under the final name.
 */
import type { FileHandle } from 'node:fs/promises';
import { downloadFile, ProgressTracker, verifyChecksum, type DownloadSink, type ProgressCallback } from './download.js';
import { fileUrl, shardPaths, type ZooEntry, type ZooFile } from './registry.js';

// Node built-ins are imported through variables so that browser bundlers do not
// try to resolve them; this module runs only in Node.
const FS_MODULE = 'node:fs/promises';
const PATH_MODULE = 'node:path';
const OS_MODULE = 'node:os';

type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');

async function modules(): Promise<{ fs: Fs; path: Path }> {
  const [fs, path] = await Promise.all([import(/* @vite-ignore */ FS_MODULE), import(/* @vite-ignore */ PATH_MODULE)]);
  return { fs: fs as Fs, path: path as Path };
}

/**
 * Returns the cache folder: EFFNET_CACHE_DIR, else $XDG_CACHE_HOME/efficientnet-wasm,
 * else the platform's user cache folder (~/.cache, ~/Library/Caches, %LOCALAPPDATA%).
 */
export async function defaultCacheDir(): Promise<string> {
  const { path } = await modules();
  const env = process.env;
  if (env.EFFNET_CACHE_DIR) return path.resolve(env.EFFNET_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'efficientnet-wasm');
  const os = (await import(/* @vite-ignore */ OS_MODULE)) as typeof import('node:os');
  const home = os.homedir();
  if (process.platform === 'win32') return path.join(env.LOCALAPPDATA ?? path.join(home, 'AppData', 'Local'), 'efficientnet-wasm', 'Cache');
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Caches', 'efficientnet-wasm');
  return path.join(home, '.cache', 'efficientnet-wasm');
}

/** Writes a download to an open file, at explicit positions so that reset() can start over. */
class FileSink implements DownloadSink {
  private written = 0;

  constructor(private readonly handle: FileHandle) {}

  get length(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, done, chunk.length - done, this.written + done);
      done += bytesWritten;
    }
    this.written += chunk.length;
  }

  async reset(): Promise<void> {
    await this.handle.truncate(0);
    this.written = 0;
  }
}

export interface NodeStoreOptions {
  cacheDir: string;
  onProgress?: ProgressCallback;
}

/** Location of a model's files in the cache, and whether all of them are there. */
export interface CacheStatus {
  /** Path of the file loadModel opens. */
  path: string;
  cached: boolean;
  /** Bytes of the model's files present in the cache. */
  bytes: number;
}

/**
 * Returns the path of the model's main file in the cache, downloading and
 * verifying whatever is missing or fails the size or checksum check.
 */
export async function ensureCached(entry: ZooEntry, options: NodeStoreOptions): Promise<string> {
  const { path } = await modules();
  const folder = path.join(options.cacheDir, entry.name);
  const progress = new ProgressTracker(entry.name, options.onProgress);
  const main = entry.files[0];
  for (const file of entry.files) progress.expect(file.path, file.size);
  for (const file of entry.files) await ensureFile(entry, file, folder, progress);
  const mainPath = path.join(folder, localPath(entry, main.path));

  if (entry.format === 'tfjs' && entry.files.length === 1) {
    for (const file of await manifestShards(entry, mainPath)) await ensureFile(entry, file, folder, progress);
  }
  return mainPath;
}

/** Reports what of a model is in the cache, without reading whole files. */
export async function cacheStatus(entry: ZooEntry, cacheDir: string): Promise<CacheStatus> {
  const { fs, path } = await modules();
  const folder = path.join(cacheDir, entry.name);
  const mainPath = path.join(folder, localPath(entry, entry.files[0].path));
  let files: ZooFile[] = entry.files;
  let cached = true;
  if (entry.format === 'tfjs' && entry.files.length === 1) {
    try {
      files = [entry.files[0], ...(await manifestShards(entry, mainPath))];
    } catch {
      // No readable model.json in the cache, so its shards are unknown.
      cached = false;
    }
  }
  let bytes = 0;
  for (const file of files) {
    const stats = await fs.stat(path.join(folder, localPath(entry, file.path))).catch(() => null);
    if (!stats?.isFile() || (file.size !== null && stats.size !== file.size)) {
      cached = false;
      continue;
    }
    bytes += stats.size;
  }
  return { path: mainPath, cached, bytes };
}

/** Path of a file inside the model's cache folder: its path relative to the main file's folder. */
function localPath(entry: ZooEntry, filePath: string): string {
  const main = entry.files[0].path;
  const prefix = main.includes('/') ? main.slice(0, main.lastIndexOf('/') + 1) : '';
  return filePath.startsWith(prefix) ? filePath.slice(prefix.length) : filePath;
}

/** Reads the shards that a cached model.json names, as files of the entry with unknown size and checksum. */
async function manifestShards(entry: ZooEntry, modelJsonPath: string): Promise<ZooFile[]> {
  const { fs } = await modules();
  const main = entry.files[0].path;
  const prefix = main.includes('/') ? main.slice(0, main.lastIndexOf('/') + 1) : '';
  return shardPaths(await fs.readFile(modelJsonPath, 'utf8'), entry.name).map((shard) => ({ path: prefix + shard, size: null, sha256: null }));
}

/** Makes one file present and verified in the cache folder. */
async function ensureFile(entry: ZooEntry, file: ZooFile, folder: string, progress: ProgressTracker): Promise<void> {
  const { fs, path } = await modules();
  const target = path.join(folder, localPath(entry, file.path));
  const url = fileUrl(entry, file);
  const cachedSize = await validCachedSize(entry, file, target);
  if (cachedSize !== null) {
    progress.complete(file.path, cachedSize);
    return;
  }

  await fs.mkdir(path.dirname(target), { recursive: true });
  const temporary = `${target}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.part`;
  const handle = await fs.open(temporary, 'w');
  try {
    await downloadFile({ model: entry.name, url, file, sink: new FileSink(handle), progress });
    await handle.close();
    const bytes = await fs.readFile(temporary);
    await verifyChecksum(bytes, file, entry.name, url.href, `downloaded from ${url.href}`);
    await fs.rename(temporary, target);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temporary, { force: true });
    // Removes the folders made for this file when they are empty; rmdir fails on a folder with files in it.
    await fs.rmdir(path.dirname(target)).catch(() => undefined);
    await fs.rmdir(folder).catch(() => undefined);
    throw error;
  }
}

/**
 * Returns the size of the cached file when it exists and matches the registry's
 * size and checksum, else null. A file that does not match is deleted, so it is
 * downloaded again.
 */
async function validCachedSize(entry: ZooEntry, file: ZooFile, target: string): Promise<number | null> {
  const { fs } = await modules();
  const stats = await fs.stat(target).catch(() => null);
  if (!stats) return null;
  if (!stats.isFile()) {
    throw new Error(`Failed to use the model cache: ${target} is not a file. Remove it, or set EFFNET_CACHE_DIR to another folder.`);
  }
  let valid = file.size === null || stats.size === file.size;
  if (valid && file.sha256 !== null) {
    valid = await verifyChecksum(await fs.readFile(target), file, entry.name, target, `cached file ${target}`).then(
      () => true,
      () => false,
    );
  }
  if (!valid) await fs.rm(target, { force: true });
  return valid ? stats.size : null;
}
