/**
 * Loading whole models by name from a local HTTP server on 127.0.0.1: a TF.js
 * model.json whose shards come from its manifest or from the registry, and the
 * fixture TFLite model. The Cache API store that browsers use runs here against
 * an in-memory CacheStorage.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model.js';
import { BROWSER_CACHE_NAME, fetchCachedModel } from '../../src/zoo/browser-store.js';
import type { DownloadProgress } from '../../src/zoo/download.js';
import { ModelDownloadError, type ZooEntry } from '../../src/zoo/index.js';
import { FIXTURES, FIXTURES_MISSING, FLOWER_MODEL, fixturesPresent } from '../support/fixtures.js';
import { allWeights, denseHead, encodeWeights, keras2Model, modelJson, tinyEfficientNet } from '../support/tfjs-import-builder.js';
import { ModelServer, testBytes } from './model-server.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const layers = [...tinyEfficientNet(41), ...denseHead(42, 16, 4)];
const { manifest, files: shards } = encodeWeights(allWeights(layers), 2);
const modelJsonBytes = new TextEncoder().encode(JSON.stringify(modelJson(keras2Model('named', layers), manifest)));
const input = Float32Array.from({ length: 9 * 9 * 3 }, (_, i) => (i * 53) % 256);
const shardTotal = Object.values(shards).reduce((sum, bytes) => sum + bytes.length, 0);

let server: ModelServer;
let baseUrl: string;
let cacheDir: string;

function entry(name: string, format: ZooEntry['format'], files: ZooEntry['files']): ZooEntry {
  return { name, description: 'test model', format, baseUrl, files, license: 'CC0-1.0', source: 'test' };
}

/** A registry entry for the served model.json alone, so its shards come from its manifest. */
const manifestEntry = () => entry('tiny-tfjs', 'tfjs', [{ path: 'tfjs/model.json', size: modelJsonBytes.length, sha256: sha256(modelJsonBytes) }]);

beforeAll(async () => {
  server = new ModelServer();
  baseUrl = await server.start();
  server.serve('tfjs/model.json', { bytes: modelJsonBytes });
  for (const [shard, bytes] of Object.entries(shards)) server.serve(`tfjs/${shard}`, { bytes });
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  cacheDir = mkdtempSync(path.join(tmpdir(), 'effnet-named-'));
  server.requests.length = 0;
});

afterEach(() => {
  rmSync(cacheDir, { recursive: true, force: true });
});

describe('tfjs model by name', () => {
  it('shards from the manifest', async () => {
    const reference = (await loadModel({ modelJson: modelJsonBytes, weights: shards })).predict(input);
    const events: DownloadProgress[] = [];
    const model = await loadModel('tiny-tfjs', { registry: [manifestEntry()], cacheDir, onProgress: (event) => events.push(event) });
    expect(Array.from(model.predict(input))).toEqual(Array.from(reference));
    expect(server.requests.map((request) => request.path).sort()).toEqual(['tfjs/group1-shard1of2.bin', 'tfjs/group1-shard2of2.bin', 'tfjs/model.json']);
    const last = events[events.length - 1];
    expect(last.loaded).toBe(modelJsonBytes.length + shardTotal);
    expect(last.total).toBe(modelJsonBytes.length + shardTotal);
    for (let i = 1; i < events.length; i++) expect(events[i].loaded).toBeGreaterThanOrEqual(events[i - 1].loaded);

    await loadModel('tiny-tfjs', { registry: [manifestEntry()], cacheDir });
    expect(server.requests).toHaveLength(3);
  });

  it('shards listed in the registry', async () => {
    const listed = entry('tiny-tfjs-listed', 'tfjs', [
      { path: 'tfjs/model.json', size: modelJsonBytes.length, sha256: sha256(modelJsonBytes) },
      ...Object.entries(shards).map(([shard, bytes]) => ({ path: `tfjs/${shard}`, size: bytes.length, sha256: sha256(bytes) })),
    ]);
    const events: DownloadProgress[] = [];
    const model = await loadModel(listed.name, { registry: [listed], cacheDir, onProgress: (event) => events.push(event) });
    expect(model.info.format).toBe('tfjs');
    // Every size is known up front, so every event carries the whole total.
    expect(events.every((event) => event.total === modelJsonBytes.length + shardTotal)).toBe(true);
    expect(readFileSync(path.join(cacheDir, listed.name, 'group1-shard2of2.bin'))).toEqual(Buffer.from(shards['group1-shard2of2.bin']));
  });

  it('shard path leaving the folder is rejected', async () => {
    const escaping = new TextEncoder().encode(JSON.stringify({ ...modelJson(keras2Model('bad', layers), manifest), weightsManifest: [{ paths: ['../x.bin'], weights: [] }] }));
    server.serve('bad/model.json', { bytes: escaping });
    const bad = entry('bad-tfjs', 'tfjs', [{ path: 'bad/model.json', size: null, sha256: null }]);
    await expect(loadModel(bad.name, { registry: [bad], cacheDir })).rejects.toThrow(
      `Invalid model.json of model bad-tfjs: shard path "../x.bin" must be relative, without '..'.`,
    );
  });
});

describe.skipIf(!fixturesPresent)(`fixture TFLite by name${fixturesPresent ? '' : ` (${FIXTURES_MISSING})`}`, () => {
  it('classifies like the file', async () => {
    const bytes = new Uint8Array(readFileSync(FLOWER_MODEL));
    server.serve('tflite/flowers.tflite', { bytes });
    const flowers = entry('flowers', 'tflite', [{ path: 'tflite/flowers.tflite', size: bytes.length, sha256: sha256(bytes) }]);
    const photo = path.join(FIXTURES, 'images', 'sunflower.bmp');

    const byName = await loadModel('flowers', { registry: [flowers], cacheDir });
    const byFile = await loadModel(FLOWER_MODEL);
    const named = await byName.classify(photo);
    const direct = await byFile.classify(photo);
    expect(named.predictions[0].label).toBe('sunflowers');
    expect(named.predictions).toEqual(direct.predictions);
    expect(byName.info.quantized).toBe(true);
    expect(server.requestsFor('tflite/flowers.tflite')).toHaveLength(1);
  });
});

/** An in-memory CacheStorage with the part of the Cache API the store uses. */
class MemoryCacheStorage {
  readonly caches = new Map<string, Map<string, Uint8Array>>();

  async open(name: string) {
    const entries = this.caches.get(name) ?? new Map<string, Uint8Array>();
    this.caches.set(name, entries);
    return {
      match: async (key: string) => (entries.has(key) ? new Response(entries.get(key)!.slice()) : undefined),
      put: async (key: string, response: Response) => {
        entries.set(key, new Uint8Array(await response.arrayBuffer()));
      },
      delete: async (key: string) => entries.delete(key),
    };
  }
}

describe('Cache API store', () => {
  let storage: MemoryCacheStorage;

  beforeEach(() => {
    storage = new MemoryCacheStorage();
    (globalThis as { caches?: unknown }).caches = storage;
  });

  afterEach(() => {
    delete (globalThis as { caches?: unknown }).caches;
  });

  it('downloads once, then reads the cache', async () => {
    const bytes = testBytes(70_000, 11);
    server.serve('browser/a.tflite', { bytes, dropAfter: 30_000 });
    const model = entry('browser-a', 'tflite', [{ path: 'browser/a.tflite', size: bytes.length, sha256: sha256(bytes) }]);
    const events: DownloadProgress[] = [];
    const first = await fetchCachedModel(model, { onProgress: (event) => events.push(event) });
    expect(sha256(first as Uint8Array)).toBe(sha256(bytes));
    expect(server.requestsFor('browser/a.tflite')).toHaveLength(2);
    expect(events[events.length - 1]).toEqual({ name: 'browser-a', file: 'browser/a.tflite', loaded: bytes.length, total: bytes.length });
    expect(storage.caches.get(BROWSER_CACHE_NAME)?.has(`${baseUrl}browser/a.tflite`)).toBe(true);

    const second = await fetchCachedModel(model, {});
    expect(sha256(second as Uint8Array)).toBe(sha256(bytes));
    expect(server.requestsFor('browser/a.tflite')).toHaveLength(2);
  });

  it('wrong checksum is not stored', async () => {
    const bytes = testBytes(5_000, 12);
    server.serve('browser/b.tflite', { bytes });
    const model = entry('browser-b', 'tflite', [{ path: 'browser/b.tflite', size: bytes.length, sha256: '0'.repeat(64) }]);
    const error = await fetchCachedModel(model, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelDownloadError);
    expect((error as Error).message).toContain(`expected sha256 ${'0'.repeat(64)}, but got ${sha256(bytes)}`);
    expect(storage.caches.get(BROWSER_CACHE_NAME)?.size).toBe(0);
  });

  it('tfjs model comes back as files', async () => {
    const result = await fetchCachedModel(manifestEntry(), {});
    const reference = (await loadModel({ modelJson: modelJsonBytes, weights: shards })).predict(input);
    const model = await loadModel(result as Exclude<typeof result, Uint8Array>);
    expect(Array.from(model.predict(input))).toEqual(Array.from(reference));
    expect(storage.caches.get(BROWSER_CACHE_NAME)?.size).toBe(3);
  });

  it('without the Cache API downloads each time', async () => {
    delete (globalThis as { caches?: unknown }).caches;
    const bytes = testBytes(1_000, 13);
    server.serve('browser/c.tflite', { bytes });
    const model = entry('browser-c', 'tflite', [{ path: 'browser/c.tflite', size: bytes.length, sha256: sha256(bytes) }]);
    await fetchCachedModel(model, {});
    await fetchCachedModel(model, {});
    expect(server.requestsFor('browser/c.tflite')).toHaveLength(2);
  });
});
