/**
 * Models by name, downloaded from a local HTTP server on 127.0.0.1 only:
 * progress, the cache, resumption and restarts after dropped connections,
 * checksum and size checks, HTTP errors, name resolution and the environment
 * overrides. No test reaches the internet: every registry entry used here
 * points at the local server.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model.js';
import { downloadFile, MemorySink, ProgressTracker, type DownloadProgress } from '../../src/zoo/download.js';
import { cacheFolder, downloadModel, listModels, ModelDownloadError, type ZooEntry } from '../../src/zoo/index.js';
import { ModelServer, testBytes } from './model-server.js';

const ENV_NAMES = ['EFFNET_CACHE_DIR', 'EFFNET_MODEL_BASE_URL', 'EFFNET_MODEL_REGISTRY', 'XDG_CACHE_HOME'];
const SIZE = 300_000;

let server: ModelServer;
let baseUrl: string;
let cacheDir: string;
let savedEnv: Record<string, string | undefined>;
let fileCounter = 0;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Serves fresh random bytes at a new path and returns a registry entry for them. */
function servedEntry(options: { size?: number; registrySize?: number | null; sha?: string | null; served?: Partial<import('./model-server.js').ServedFile> } = {}) {
  fileCounter++;
  const bytes = testBytes(options.size ?? SIZE, fileCounter);
  const filePath = `files/model-${fileCounter}.tflite`;
  server.serve(filePath, { bytes, ...options.served });
  const entry: ZooEntry = {
    name: `test-model-${fileCounter}`,
    description: 'random bytes',
    format: 'tflite',
    baseUrl,
    files: [{ path: filePath, size: options.registrySize === undefined ? bytes.length : options.registrySize, sha256: options.sha === undefined ? sha256(bytes) : options.sha }],
    license: 'CC0-1.0',
    source: 'test',
  };
  return { entry, bytes, filePath, cachedPath: path.join(cacheDir, entry.name, path.basename(filePath)) };
}

/** Lists every file under a folder, relative to it. */
function listFiles(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)));
}

function expectMonotonicProgress(events: DownloadProgress[], total: number): void {
  expect(events.length).toBeGreaterThan(0);
  for (let i = 1; i < events.length; i++) {
    expect(events[i].loaded, `event ${i} loaded`).toBeGreaterThanOrEqual(events[i - 1].loaded);
  }
  const last = events[events.length - 1];
  expect(last.loaded).toBe(total);
  expect(last.total).toBe(total);
}

beforeAll(async () => {
  server = new ModelServer();
  baseUrl = await server.start();
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  savedEnv = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]]));
  for (const name of ENV_NAMES) delete process.env[name];
  cacheDir = mkdtempSync(path.join(tmpdir(), 'effnet-zoo-'));
});

afterEach(() => {
  for (const name of ENV_NAMES) {
    if (savedEnv[name] === undefined) delete process.env[name];
    else process.env[name] = savedEnv[name];
  }
  rmSync(cacheDir, { recursive: true, force: true });
});

describe('model download', () => {
  it('progress is monotonic and ends at the total', async () => {
    const { entry, bytes, cachedPath } = servedEntry();
    const events: DownloadProgress[] = [];
    const result = await downloadModel(entry.name, { registry: [entry], cacheDir, onProgress: (event) => events.push(event) });
    expect(result).toBe(cachedPath);
    expect(sha256(readFileSync(cachedPath))).toBe(sha256(bytes));
    expectMonotonicProgress(events, SIZE);
    expect(events.every((event) => event.name === entry.name)).toBe(true);
    expect(events.every((event) => event.total === SIZE)).toBe(true);
  });

  it('second load is a cache hit', async () => {
    const { entry, filePath } = servedEntry();
    await downloadModel(entry.name, { registry: [entry], cacheDir });
    expect(server.requestsFor(filePath)).toHaveLength(1);
    const events: DownloadProgress[] = [];
    await downloadModel(entry.name, { registry: [entry], cacheDir, onProgress: (event) => events.push(event) });
    expect(server.requestsFor(filePath)).toHaveLength(1);
    expect(events).toEqual([]);
    const [listing] = (await listModels({ registry: [entry], cacheDir })).filter((model) => model.name === entry.name);
    expect(listing.cached).toBe(true);
    expect(listing.size).toBe(SIZE);
  });

  it('dropped connection resumes with Range', async () => {
    const { entry, bytes, filePath, cachedPath } = servedEntry({ served: { dropAfter: 100_000 } });
    const events: DownloadProgress[] = [];
    await downloadModel(entry.name, { registry: [entry], cacheDir, onProgress: (event) => events.push(event) });
    const requests = server.requestsFor(filePath);
    expect(requests).toHaveLength(2);
    expect(requests[0].range).toBeNull();
    const offset = Number(/^bytes=(\d+)-$/.exec(requests[1].range ?? '')?.[1]);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(100_000);
    expect(requests[1].ifRange).toBe(`"${SIZE}-test"`);
    expect(sha256(readFileSync(cachedPath))).toBe(sha256(bytes));
    expectMonotonicProgress(events, SIZE);
  });

  it('server ignoring Range restarts cleanly', async () => {
    const { entry, bytes, filePath, cachedPath } = servedEntry({ served: { dropAfter: 150_000, ignoreRange: true } });
    const events: DownloadProgress[] = [];
    await downloadModel(entry.name, { registry: [entry], cacheDir, onProgress: (event) => events.push(event) });
    const requests = server.requestsFor(filePath);
    expect(requests).toHaveLength(2);
    expect(requests[1].range).toMatch(/^bytes=\d+-$/);
    // The server sent the whole file again with HTTP 200; the cached copy must be exactly that file.
    expect(readFileSync(cachedPath).length).toBe(SIZE);
    expect(sha256(readFileSync(cachedPath))).toBe(sha256(bytes));
    expectMonotonicProgress(events, SIZE);
  });

  it('repeated drops give up after bounded retries', async () => {
    const { entry, filePath, cachedPath } = servedEntry({ served: { dropAfter: 1000, failures: 100, ignoreRange: true } });
    const error = await downloadModel(entry.name, { registry: [entry], cacheDir }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelDownloadError);
    expect((error as Error).message).toContain(`Failed to download model ${entry.name} from ${baseUrl}${filePath}`);
    expect((error as Error).message).toContain('gave up after 4 attempts');
    expect(server.requestsFor(filePath)).toHaveLength(4);
    expect(existsSync(cachedPath)).toBe(false);
    expect(listFiles(cacheDir)).toEqual([]);
  });

  it('stalled connection times out and resumes', async () => {
    const bytes = testBytes(50_000, 777);
    server.serve('files/stall.bin', { bytes, stallAfter: 20_000 });
    const sink = new MemorySink();
    const events: DownloadProgress[] = [];
    const size = await downloadFile({
      model: 'stall-test',
      url: new URL('files/stall.bin', baseUrl),
      file: { path: 'files/stall.bin', size: bytes.length, sha256: null },
      sink,
      progress: new ProgressTracker('stall-test', (event) => events.push(event)),
      idleTimeoutMs: 300,
      retryDelayMs: 10,
    });
    expect(size).toBe(bytes.length);
    expect(sha256(sink.bytes())).toBe(sha256(bytes));
    const requests = server.requestsFor('files/stall.bin');
    expect(requests).toHaveLength(2);
    expect(requests[1].range).toMatch(/^bytes=[1-9]\d*-$/);
    expectMonotonicProgress(events, bytes.length);
  });

  it('wrong checksum is rejected and not kept', async () => {
    const wrong = 'ab'.repeat(32);
    const { entry, bytes, cachedPath } = servedEntry({ sha: wrong });
    const error = await downloadModel(entry.name, { registry: [entry], cacheDir }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelDownloadError);
    const message = (error as Error).message;
    expect(message).toContain(`Checksum mismatch for model ${entry.name}`);
    expect(message).toContain(`expected sha256 ${wrong}`);
    expect(message).toContain(`but got ${sha256(bytes)}`);
    expect(existsSync(cachedPath)).toBe(false);
    expect(listFiles(cacheDir)).toEqual([]);
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('wrong registry size is rejected', async () => {
    const { entry, filePath, cachedPath } = servedEntry({ registrySize: SIZE + 10 });
    await expect(downloadModel(entry.name, { registry: [entry], cacheDir })).rejects.toThrow(
      `Size mismatch for model ${entry.name} from ${baseUrl}${filePath}: the registry gives ${SIZE + 10} bytes, but the server sent ${SIZE} bytes.`,
    );
    expect(existsSync(cachedPath)).toBe(false);
    expect(listFiles(cacheDir)).toEqual([]);
  });

  it('wrong size without Content-Length is rejected', async () => {
    const { entry, cachedPath } = servedEntry({ registrySize: SIZE - 10, sha: null, served: { chunked: true } });
    await expect(downloadModel(entry.name, { registry: [entry], cacheDir })).rejects.toThrow(
      `the registry gives ${SIZE - 10} bytes, but more than that arrived`,
    );
    expect(existsSync(cachedPath)).toBe(false);
    expect(listFiles(cacheDir)).toEqual([]);
  });

  it('unknown size and checksum use Content-Length', async () => {
    const { entry, bytes, cachedPath } = servedEntry({ registrySize: null, sha: null });
    const events: DownloadProgress[] = [];
    await downloadModel(entry.name, { registry: [entry], cacheDir, onProgress: (event) => events.push(event) });
    expect(sha256(readFileSync(cachedPath))).toBe(sha256(bytes));
    expectMonotonicProgress(events, SIZE);
  });

  it('HTTP 404 fails at once', async () => {
    const { entry, filePath } = servedEntry({ served: { status: 404 } });
    const error = await downloadModel(entry.name, { registry: [entry], cacheDir }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelDownloadError);
    expect((error as ModelDownloadError).status).toBe(404);
    expect((error as Error).message).toBe(
      `Failed to download model ${entry.name} from ${baseUrl}${filePath}: the server returned HTTP 404 Not Found. ` +
        'The file is not at that address: check the model base URL (EFFNET_MODEL_BASE_URL, modelBaseUrl) or update the package.',
    );
    expect(server.requestsFor(filePath)).toHaveLength(1);
    expect(listFiles(cacheDir)).toEqual([]);
  });

  it('HTTP 500 fails after retries', async () => {
    const { entry, filePath } = servedEntry({ served: { status: 500 } });
    await expect(downloadModel(entry.name, { registry: [entry], cacheDir })).rejects.toThrow(
      `Failed to download model ${entry.name} from ${baseUrl}${filePath}: the server returned HTTP 500 Internal Server Error (gave up after 4 attempts).`,
    );
    expect(server.requestsFor(filePath)).toHaveLength(4);
    expect(listFiles(cacheDir)).toEqual([]);
  });

  it('corrupted cached file is downloaded again', async () => {
    const { entry, bytes, filePath, cachedPath } = servedEntry();
    await downloadModel(entry.name, { registry: [entry], cacheDir });
    writeFileSync(cachedPath, new Uint8Array(SIZE));
    await downloadModel(entry.name, { registry: [entry], cacheDir });
    expect(server.requestsFor(filePath)).toHaveLength(2);
    expect(sha256(readFileSync(cachedPath))).toBe(sha256(bytes));
  });
});

describe('model names', () => {
  it('unknown name lists the known names', async () => {
    const { entry } = servedEntry();
    await expect(loadModel('no-such-model', { registry: [entry], cacheDir })).rejects.toThrow(
      `Unknown model "no-such-model": there is no such file, and it is not a registry name. Known names: ` +
        `efficientnet-lite0, efficientnet-lite0-int8, efficientnet-lite2, efficientnet-lite2-int8, ${entry.name}. ` +
        'Pass one of them, a file path or a URL.',
    );
  });

  it('missing file with an extension stays a file error', async () => {
    await expect(loadModel('no-such-model.tflite', { cacheDir })).rejects.toThrow('Model file not found: no-such-model.tflite. Check the path.');
  });

  it('existing file wins over a registry name', async () => {
    const { entry, filePath } = servedEntry();
    const folder = mkdtempSync(path.join(tmpdir(), 'effnet-name-'));
    const previous = process.cwd();
    try {
      writeFileSync(path.join(folder, entry.name), 'not a model');
      process.chdir(folder);
      await expect(loadModel(entry.name, { registry: [entry], cacheDir })).rejects.toThrow(`Failed to load model ${entry.name}: unrecognized file format`);
      expect(server.requestsFor(filePath)).toHaveLength(0);
    } finally {
      process.chdir(previous);
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('invalid registry entries are rejected', async () => {
    const { entry } = servedEntry();
    const badSha = { ...entry, files: [{ ...entry.files[0], sha256: 'xyz' }] };
    await expect(downloadModel(entry.name, { registry: [badSha], cacheDir })).rejects.toThrow(
      `Invalid model registry entry "${entry.name}" in the registry option: the sha256 of ${entry.files[0].path} must be 64 hex digits or null, but got "xyz".`,
    );
    const escaping = { ...entry, files: [{ ...entry.files[0], path: '../outside.tflite' }] };
    await expect(downloadModel(entry.name, { registry: [escaping], cacheDir })).rejects.toThrow(
      `file path "../outside.tflite" must be relative, without '..' or a leading '/'`,
    );
    const pathLike = { ...entry, name: 'model.tflite' };
    await expect(downloadModel('model.tflite', { registry: [pathLike], cacheDir })).rejects.toThrow('so that it cannot be read as a path');
  });
});

describe('environment overrides', () => {
  it('EFFNET_CACHE_DIR and XDG_CACHE_HOME select the cache', async () => {
    process.env.XDG_CACHE_HOME = path.join(cacheDir, 'xdg');
    expect(await cacheFolder()).toBe(path.join(cacheDir, 'xdg', 'efficientnet-wasm'));
    process.env.EFFNET_CACHE_DIR = path.join(cacheDir, 'effnet');
    expect(await cacheFolder()).toBe(path.join(cacheDir, 'effnet'));
    expect(await cacheFolder({ cacheDir: path.join(cacheDir, 'option') })).toBe(path.join(cacheDir, 'option'));

    const { entry, bytes } = servedEntry();
    await downloadModel(entry.name, { registry: [entry] });
    expect(sha256(readFileSync(path.join(cacheDir, 'effnet', entry.name, `model-${fileCounter}.tflite`)))).toBe(sha256(bytes));
  });

  it('EFFNET_MODEL_BASE_URL rebases the built-in registry', async () => {
    // The mirror has the published layout, but serves other bytes, so the built-in size check fails on a local URL.
    const mirrored = 'image_classifier/efficientnet_lite0/int8/1/efficientnet_lite0.tflite';
    server.serve(`mirror/${mirrored}`, { bytes: testBytes(1000, 5) });
    process.env.EFFNET_CACHE_DIR = cacheDir;
    process.env.EFFNET_MODEL_BASE_URL = `${baseUrl}mirror`;
    await expect(loadModel('efficientnet-lite0-int8')).rejects.toThrow(
      `Size mismatch for model efficientnet-lite0-int8 from ${baseUrl}mirror/${mirrored}: the registry gives 5434517 bytes, but the server sent 1000 bytes.`,
    );
    expect(server.requestsFor(`mirror/${mirrored}`)).toHaveLength(1);

    // The option takes precedence over the variable.
    const { entry, bytes } = servedEntry();
    server.serve(`other/${entry.files[0].path}`, { bytes });
    const result = await downloadModel(entry.name, { registry: [entry], modelBaseUrl: `${baseUrl}other/` });
    expect(server.requestsFor(`other/${entry.files[0].path}`)).toHaveLength(1);
    expect(result).toBe(path.join(cacheDir, entry.name, `model-${fileCounter}.tflite`));
  });

  it('EFFNET_MODEL_REGISTRY adds entries from a file', async () => {
    const { entry, bytes, filePath } = servedEntry();
    const registryPath = path.join(cacheDir, 'registry.json');
    const { baseUrl: entryBase, ...rest } = entry;
    writeFileSync(registryPath, JSON.stringify({ baseUrl: entryBase, models: [rest] }));
    process.env.EFFNET_MODEL_REGISTRY = registryPath;
    const result = await downloadModel(entry.name, { cacheDir });
    expect(sha256(readFileSync(result as string))).toBe(sha256(bytes));
    expect(server.requestsFor(filePath)).toHaveLength(1);

    writeFileSync(registryPath, '{ "models": 3 }');
    await expect(downloadModel(entry.name, { cacheDir })).rejects.toThrow(
      `Invalid model registry ${registryPath}: expected an object with a "models" array, as in { "models": [ ... ] }.`,
    );
    process.env.EFFNET_MODEL_REGISTRY = path.join(cacheDir, 'missing.json');
    await expect(downloadModel(entry.name, { cacheDir })).rejects.toThrow(
      `Failed to read the model registry ${path.join(cacheDir, 'missing.json')} named by EFFNET_MODEL_REGISTRY`,
    );
  });
});
