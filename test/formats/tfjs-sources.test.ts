/**
 * Loading TF.js models from where users keep them: a model.json path with its
 * shards in the same folder, a file: URL, an http URL served on loopback, and
 * the in-memory { modelJson, weights } form.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, readModelDescription } from '../../src/model.js';
import { allWeights, denseHead, encodeWeights, keras2Model, modelJson, tinyEfficientNet } from '../support/tfjs-import-builder.js';

const layers = [...tinyEfficientNet(31), ...denseHead(32, 16, 4)];
const { manifest, files } = encodeWeights(allWeights(layers), 2);
const json = modelJson(keras2Model('served', layers), manifest);
const input = Float32Array.from({ length: 9 * 9 * 3 }, (_, i) => (i * 37) % 256);

let folder: string;
let server: Server;
let baseUrl: string;
const requests: string[] = [];

beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), 'tfjs-sources-'));
  mkdirSync(join(folder, 'model'));
  writeFileSync(join(folder, 'model', 'model.json'), JSON.stringify(json));
  for (const [path, bytes] of Object.entries(files)) writeFileSync(join(folder, 'model', path), bytes);
  writeFileSync(join(folder, 'model', 'partial.json'), JSON.stringify({ ...json, weightsManifest: [{ ...manifest[0], paths: ['group1-shard1of2.bin', 'gone.bin'] }] }));

  server = createServer((request, response) => {
    requests.push(request.url ?? '');
    const name = (request.url ?? '').replace(/^\/model\//, '');
    const bytes = name === 'model.json' ? Buffer.from(JSON.stringify(json)) : files[name];
    if (!bytes) {
      response.writeHead(404, 'Not Found').end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('The test server has no TCP address.');
  baseUrl = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(folder, { recursive: true, force: true });
});

describe('tfjs sources', () => {
  it('path, file URL, http URL and memory agree', async () => {
    const reference = (await loadModel({ modelJson: json, weights: files })).predict(input);
    const fromPath = await loadModel(join(folder, 'model', 'model.json'));
    expect(Array.from(fromPath.predict(input)), 'path').toEqual(Array.from(reference));
    const fromFileUrl = await loadModel(pathToFileURL(join(folder, 'model', 'model.json')));
    expect(Array.from(fromFileUrl.predict(input)), 'file URL').toEqual(Array.from(reference));
    const fromHttp = await loadModel(`${baseUrl}/model/model.json`);
    expect(Array.from(fromHttp.predict(input)), 'http URL').toEqual(Array.from(reference));
    expect(requests).toEqual(expect.arrayContaining(['/model/model.json', '/model/group1-shard1of2.bin', '/model/group1-shard2of2.bin']));
  });

  it('in-memory JSON as bytes and ArrayBuffer shards', async () => {
    const buffers = Object.fromEntries(Object.entries(files).map(([path, bytes]) => [`./${path}`, bytes.slice().buffer]));
    const text = new TextEncoder().encode(JSON.stringify(json));
    const description = await readModelDescription({ modelJson: text, weights: buffers });
    expect(description.format).toBe('tfjs');
    expect(description.graph.classifier?.outChannels).toBe(4);
  });

  it('missing shard next to model.json', async () => {
    const path = join(folder, 'model', 'partial.json');
    await expect(loadModel(path)).rejects.toThrow(
      `Failed to load weight shard 'gone.bin' of ${path}: Weight shard file not found: ${join(folder, 'model', 'gone.bin')}.`,
    );
  });

  it('missing shard over http', async () => {
    const partial = { ...json, weightsManifest: [{ ...manifest[0], paths: ['group1-shard1of2.bin', 'gone.bin'] }] };
    const bytes = new TextEncoder().encode(JSON.stringify(partial));
    await expect(loadModel({ modelJson: bytes, weights: files })).rejects.toThrow(/Missing weight shard 'gone\.bin'/);
    await expect(loadModel(`${baseUrl}/model/gone.json`)).rejects.toThrow(/HTTP 404/);
  });
});
