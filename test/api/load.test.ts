import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { createModel, efficientNetArchitecture, loadModel, randomGraph, wasmSupport } from '../../src/index.js';
import { FIXTURES, FIXTURES_MISSING, FLOWER_MODEL, fixturesPresent } from '../support/fixtures.js';
import { RELAXED_SIMD_FLAG, probeNodeSupport, relaxedSimdNodeFlags } from '../support/wasm-builds.js';

describe('wasmSupport', () => {
  test('test workers pick relaxed SIMD', () => {
    const support = wasmSupport();
    expect(support.webAssembly).toBe(true);
    expect(support.simd).toBe(true);
    // vitest.config.ts passes Node 20 the flag it needs, and Node 22 validates relaxed SIMD by default.
    expect(support.relaxedSimd).toBe(true);
    expect(support.path).toBe('relaxed-simd');
    // Node has SharedArrayBuffer, shared wasm memory and worker_threads.
    expect(support.threads).toBe(true);
  });

  test('plain node picks what it validates', () => {
    const support = probeNodeSupport([]);
    expect(support.simd).toBe(true);
    // Where V8 still lists the flag (Node 20), relaxed SIMD is off without it.
    const needsFlag = relaxedSimdNodeFlags().length > 0;
    expect(support.relaxedSimd, `relaxed SIMD in node ${process.version} without ${RELAXED_SIMD_FLAG}`).toBe(!needsFlag);
    expect(support.path).toBe(needsFlag ? 'simd' : 'relaxed-simd');
  });

  test.skipIf(relaxedSimdNodeFlags().length === 0)('flag turns on relaxed SIMD (Node 20)', () => {
    // Skipped where V8 no longer lists the flag: relaxed SIMD is on by default there.
    const support = probeNodeSupport([RELAXED_SIMD_FLAG]);
    expect(support.relaxedSimd).toBe(true);
    expect(support.path).toBe('relaxed-simd');
  });
});

describe('loadModel sources', () => {
  test('invalid source type is rejected', async () => {
    await expect(loadModel(42 as unknown as string)).rejects.toThrow(
      'Invalid model source: expected a path, a URL, a Uint8Array or an ArrayBuffer, but got number.',
    );
  });

  test('empty bytes are rejected', async () => {
    await expect(loadModel(new Uint8Array(0))).rejects.toThrow('Failed to load model: the model bytes are empty. Pass a whole model file.');
  });

  test('unknown format lists supported ones', async () => {
    await expect(loadModel(new TextEncoder().encode('GIF89a and more'))).rejects.toThrow(
      /unrecognized file format \(first bytes 47 49 46 38 .*\)\. Supported formats: TFLite \(\.tflite\), TF\.js LayersModel/,
    );
  });

  test('JSON that is not a LayersModel is named', async () => {
    await expect(loadModel(new TextEncoder().encode('{"format": "graph-model"}'))).rejects.toThrow(
      'it is a JSON file, but not a TF.js LayersModel, which has modelTopology and weightsManifest (its fields are format)',
    );
  });

  test('missing file is named', async () => {
    await expect(loadModel('/nonexistent/model.tflite')).rejects.toThrow('Model file not found: /nonexistent/model.tflite. Check the path.');
  });
});

describe.skipIf(!fixturesPresent)('loadModel over HTTP and from bytes', () => {
  let server: Server;
  let base: string;
  let requests = 0;
  beforeAll(async () => {
    const bytes = readFileSync(FLOWER_MODEL);
    const photo = readFileSync(path.join(FIXTURES, 'images', 'sunflower.bmp'));
    server = createServer((request, response) => {
      requests++;
      if (request.url === '/models/flowers.tflite') {
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
        response.end(bytes);
      } else if (request.url === '/images/sunflower.bmp') {
        response.writeHead(200, { 'content-type': 'image/bmp', 'content-length': photo.length });
        response.end(photo);
      } else {
        response.writeHead(404);
        response.end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('same model from path, bytes, URL and file URL', async () => {
    const input = new Float32Array(224 * 224 * 3).fill(128);
    const fromPath = await loadModel(FLOWER_MODEL);
    const expected = fromPath.predict(input);
    const sources = [
      new Uint8Array(readFileSync(FLOWER_MODEL)),
      readFileSync(FLOWER_MODEL).buffer.slice(0) as ArrayBuffer,
      `${base}/models/flowers.tflite`,
      new URL(`${base}/models/flowers.tflite`),
      pathToFileURL(FLOWER_MODEL).href,
    ];
    for (const source of sources) {
      const model = await loadModel(source);
      expect(model.predict(input)).toEqual(expected);
      expect(model.info.numClasses).toBe(5);
      model.dispose();
    }
    expect(requests).toBeGreaterThanOrEqual(2);
    fromPath.dispose();
  });

  test('classify fetches an image URL', async () => {
    const model = await loadModel(FLOWER_MODEL);
    const fromFile = await model.classify(path.join(FIXTURES, 'images', 'sunflower.bmp'));
    const fromUrl = await model.classify(`${base}/images/sunflower.bmp`);
    const fromUrlObject = await model.classify(new URL(`${base}/images/sunflower.bmp`));
    expect(fromUrl.predictions).toEqual(fromFile.predictions);
    expect(fromUrlObject.predictions).toEqual(fromFile.predictions);
    expect(fromUrl.predictions[0].label).toBe('sunflowers');
    await expect(model.classify(`${base}/images/missing.jpg`)).rejects.toThrow(
      `Failed to download image ${base}/images/missing.jpg: the server returned HTTP 404`,
    );
    model.dispose();
  });

  test('unit-range input to a pixel model warns once', async () => {
    const model = await loadModel(FLOWER_MODEL);
    expect(model.info.inputSpace).toBe('pixels');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    model.predict(new Float32Array(224 * 224 * 3).fill(0.5));
    model.predict(new Float32Array(224 * 224 * 3).fill(0.25));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toContain('looks scaled to 0-1 (largest value 0.5), but this model takes 0-255 pixel values');
    warn.mockRestore();
    model.dispose();
  });

  test('HTTP error is reported', async () => {
    await expect(loadModel(`${base}/models/missing.tflite`)).rejects.toThrow(
      `Failed to download model ${base}/models/missing.tflite: the server returned HTTP 404`,
    );
  });

  test('labels option must match the classes', async () => {
    await expect(loadModel(FLOWER_MODEL, { labels: ['a', 'b'] })).rejects.toThrow(
      'Invalid labels option: the model has 5 classes, but 2 labels were given.',
    );
    const model = await loadModel(FLOWER_MODEL, { labels: ['one', 'two', 'three', 'four', 'five'] });
    const result = await model.classify({ data: new Uint8Array(8 * 8 * 3).fill(200), width: 8, height: 8, channels: 3 });
    expect(['one', 'two', 'three', 'four', 'five']).toContain(result.predictions[0].label);
    model.dispose();
  });
});

if (!fixturesPresent) console.warn(`HTTP and byte loading of the fixture model ${FIXTURES_MISSING}`);

describe('classify', () => {
  const architecture = efficientNetArchitecture('b0', { numClasses: 4, scaling: { width: 0.25, depth: 0.34, resolution: 32 } });
  const description = (numClasses = 4) => ({
    name: 'tiny',
    format: 'builtin' as const,
    graph: randomGraph({ ...architecture, numClasses }, 3),
    labels: numClasses ? ['red', 'green', 'blue', 'gray'] : null,
    normalization: { mean: [127.5, 127.5, 127.5] as [number, number, number], std: [127.5, 127.5, 127.5] as [number, number, number] },
    quantized: false,
  });
  const pixels = { data: new Uint8Array(50 * 40 * 4).map((_, i) => (i * 37) % 256), width: 50, height: 40, channels: 4 as const };

  test('pixel object gives sorted predictions', async () => {
    const model = await createModel(description());
    const result = await model.classify(pixels, { topK: 3 });
    expect(result.predictions.length).toBe(3);
    for (let i = 1; i < 3; i++) expect(result.predictions[i - 1].score).toBeGreaterThanOrEqual(result.predictions[i].score);
    expect(['red', 'green', 'blue', 'gray']).toContain(result.predictions[0].label);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.inferenceMs);
    model.dispose();
  });

  test('classify equals predict on the same tensor', async () => {
    const model = await createModel(description());
    const gray = { data: new Uint8Array(32 * 32).fill(255), width: 32, height: 32, channels: 1 as const };
    const result = await model.classify(gray, { topK: 4 });
    const scores = model.predict(new Float32Array(32 * 32 * 3).fill(1));
    for (const prediction of result.predictions) expect(prediction.score).toBeCloseTo(scores[prediction.index], 6);
    model.dispose();
  });

  test('score threshold drops low scores', async () => {
    const model = await createModel(description());
    const result = await model.classify(pixels, { topK: 4, scoreThreshold: 0.99 });
    expect(result.predictions.every((p) => p.score >= 0.99)).toBe(true);
    model.dispose();
  });

  test('non-finite input is rejected', async () => {
    const model = await createModel(description());
    const input = new Float32Array(32 * 32 * 3);
    input[100] = Number.NaN;
    expect(() => model.predict(input)).toThrow('Invalid input: value NaN at index 100; every input value must be a finite number.');
    model.dispose();
  });

  test('invalid options are rejected', async () => {
    const model = await createModel(description());
    await expect(model.classify(pixels, { topK: 0 })).rejects.toThrow('Invalid topK: expected a positive integer, but got 0.');
    await expect(model.classify(pixels, { scoreThreshold: Number.NaN })).rejects.toThrow('Invalid scoreThreshold');
    model.dispose();
  });

  test('feature model cannot classify', async () => {
    const model = await createModel(description(0));
    await expect(model.classify(pixels)).rejects.toThrow('tiny has no classifier (it outputs features), so it cannot classify. Use predict().');
    model.dispose();
  });
});
