// Threads, batches and the batching queue through the public Model API. Every
// thread count, batch size and concurrency must give the same bits as one
// thread running one image at a time. The pool's workers must all end once the
// models are disposed, and invalid options must fail with errors that name the fix.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { serializeModel } from '../../src/formats/safetensors/index.js';
import { efficientNetArchitecture, randomGraph } from '../../src/graph/configs.js';
import type { Graph, ModelDescription } from '../../src/graph/spec.js';
import type { PixelData } from '../../src/image/types.js';
import { createModel, loadModel, type Classification, type LoadModelOptions, type Model } from '../../src/model.js';
import { compileKernels, wasmSupport } from '../../src/wasm/instantiate.js';
import { poolWorkerCount } from '../../src/wasm/threads.js';
import { FIXTURES, FIXTURES_MISSING, FLOWER_MODEL, fixturesPresent, readInput } from '../support/fixtures.js';
import { describeGraph, expectSameBits, waveImage, waveInput } from './support.js';

const THREAD_COUNTS = [1, 2, 3, 4] as const;
const BATCH_SIZES = [1, 3, 8] as const;
/** The SIMD build with fused multiply-adds where the runtime validates it, else plain SIMD. */
const SIMD_BUILD = wasmSupport().relaxedSimd ? 'relaxed-simd' : 'simd';
const flowerModelPresent = fixturesPresent && existsSync(FLOWER_MODEL);
const IMAGES = path.join(FIXTURES, 'images');
const FIXTURE_PHOTOS = ['cat.bmp', 'chelsea.png', 'coffee.png', 'grace_hopper.bmp', 'hot_dog.jpg', 'sunflower.bmp'];

/** A model under test: how to create it, and the inputs and size its predict() takes. */
interface ModelKind {
  name: string;
  create(options: LoadModelOptions): Promise<Model>;
  /** Inputs in the model's input space, one per seed. */
  inputs(count: number, seed: number): Float32Array[];
  size?: { height: number; width: number };
}

const liveModels = new Set<Model>();

/** Awaits a model and records it, so afterEach can dispose what a failed test left behind. */
async function track(model: Promise<Model>): Promise<Model> {
  const created = await model;
  liveModels.add(created);
  return created;
}

function dispose(...models: Model[]): void {
  for (const model of models) {
    model.dispose();
    liveModels.delete(model);
  }
}

afterEach(() => {
  for (const model of liveModels) model.dispose();
  liveModels.clear();
});

let b0Graph: Graph;
let anySizeGraph: Graph;

beforeAll(() => {
  // Gain 2 keeps the signal alive through swish and squeeze-excite, so outputs depend on the input.
  b0Graph = randomGraph(efficientNetArchitecture('b0'), 17, { gain: 2 });
  b0Graph.classifier!.output = 'logits';
  anySizeGraph = randomGraph(efficientNetArchitecture('b0', { numClasses: 10, scaling: { width: 0.25, depth: 0.34, resolution: 33 } }), 5, { gain: 2 });
  anySizeGraph.inputHeight = null;
  anySizeGraph.inputWidth = null;
});

const b0: ModelKind = {
  name: 'random B0 224x224',
  create: (options) => createModel(describeGraph(b0Graph, 'random B0'), options),
  inputs: (count, seed) => Array.from({ length: count }, (_, i) => waveInput(224, 224, seed + i)),
};

/** The small any-size model at a size whose layers still split between threads. */
const anySize: ModelKind = {
  name: 'small any-size model at 57x43',
  create: (options) => createModel(describeGraph(anySizeGraph, 'small any-size'), options),
  inputs: (count, seed) => Array.from({ length: count }, (_, i) => waveInput(57, 43, seed + i)),
  size: { height: 57, width: 43 },
};

const FIXTURE_INPUTS = ['cat', 'chelsea', 'coffee', 'grace_hopper', 'hot_dog', 'sunflower'];

/** The int8 TFLite flower model, which takes 0-255 pixels and runs as an integer pipeline. */
const flowers: ModelKind = {
  name: 'int8 TFLite flower model',
  create: (options) => loadModel(FLOWER_MODEL, options),
  inputs: (count, seed) =>
    Array.from({ length: count }, (_, i) =>
      Float32Array.from(readInput(`inputs/${FIXTURE_INPUTS[(seed + i) % FIXTURE_INPUTS.length]}.224x224x3.u8.bin`))),
};

const KINDS: ModelKind[] = [b0, anySize, ...(flowerModelPresent ? [flowers] : [])];
if (!flowerModelPresent) console.warn(`Thread tests of the int8 flower model ${FIXTURES_MISSING}`);

/** Fails unless two outputs differ somewhere, so that a comparison of outputs means something. */
function expectInputMatters(first: Float32Array, second: Float32Array, context: string): void {
  expect(first.some((value, i) => value !== second[i]), `${context}: outputs of two different inputs are equal`).toBe(true);
}

describe.each(KINDS)('$name', (kind) => {
  test('predict is bit-identical on 1 to 4 threads', async () => {
    const inputs = kind.inputs(2, 100);
    const single = await track(kind.create({ numThreads: 1, wasmPath: SIMD_BUILD }));
    expect(single.info.threads).toBe(1);
    const expected = inputs.map((input) => single.predict(input, kind.size));
    expectInputMatters(expected[0], expected[1], kind.name);
    dispose(single);

    for (const threads of THREAD_COUNTS.slice(1)) {
      const model = await track(kind.create({ numThreads: threads, wasmPath: SIMD_BUILD }));
      expect(model.info.threads, `info.threads with numThreads ${threads}`).toBe(threads);
      expect(model.info.wasmPath).toBe(SIMD_BUILD);
      expect(poolWorkerCount(), `pool workers for one model on ${threads} threads`).toBe(threads - 1);
      // Twice, so the second run also meets workers that have run before.
      for (const round of [1, 2]) {
        inputs.forEach((input, i) => {
          expectSameBits(model.predict(input, kind.size), expected[i], `${kind.name}, input ${i}, ${threads} threads, run ${round}`);
        });
      }
      dispose(model);
      expect(poolWorkerCount(), `pool workers after disposing the ${threads}-thread model`).toBe(0);
    }
  });

  test('predictBatch equals predict per image', async () => {
    const inputs = kind.inputs(Math.max(...BATCH_SIZES), 200);
    for (const threads of [1, 3]) {
      const model = await track(kind.create({ numThreads: threads, wasmPath: SIMD_BUILD }));
      const expected = inputs.map((input) => model.predict(input, kind.size));
      for (const size of BATCH_SIZES) {
        const outputs = model.predictBatch(inputs.slice(0, size), kind.size);
        expect(outputs.length, `predictBatch of ${size}: output count`).toBe(size);
        outputs.forEach((output, i) => {
          expectSameBits(output, expected[i], `${kind.name}, ${threads} threads, image ${i} of a batch of ${size}`);
        });
      }
      // predict after a batch reuses the one-image plan and must still match.
      expectSameBits(model.predict(inputs[5], kind.size), expected[5], `${kind.name}, ${threads} threads, predict after predictBatch`);
      dispose(model);
    }
    expect(poolWorkerCount()).toBe(0);
  });
});

describe('small any-size model', () => {
  test('thread counts agree at every size', async () => {
    // 1x1 and 7x5 leave nothing to split, and 200x150 grows the shared memory while workers are attached.
    const sizes = [[17, 23], [1, 1], [7, 5], [200, 150], [33, 33]] as const;
    const models = await Promise.all(THREAD_COUNTS.map((threads) => track(anySize.create({ numThreads: threads }))));
    expect(models.map((model) => model.info.threads)).toEqual([...THREAD_COUNTS]);
    sizes.forEach(([height, width], index) => {
      const input = waveInput(height, width, 300 + index);
      const expected = models[0].predict(input, { height, width });
      for (const model of models.slice(1)) {
        expectSameBits(model.predict(input, { height, width }), expected, `${height}x${width} on ${model.info.threads} threads`);
      }
    });
    dispose(...models);
    expect(poolWorkerCount()).toBe(0);
  });
});

/** Returns the predictions of a classification after checking that every score is finite. */
function predictionsOf(result: Classification, context: string): Classification['predictions'] {
  for (const prediction of result.predictions) {
    expect(Number.isFinite(prediction.score), `${context}: score of ${prediction.label} is ${prediction.score}`).toBe(true);
  }
  return result.predictions;
}

/** Images of several sizes (RGB and RGBA) as decoded pixel objects. */
function waveImages(count: number, seed: number): PixelData[] {
  const sizes = [[64, 48], [31, 57], [64, 48], [100, 100], [23, 29]] as const;
  return Array.from({ length: count }, (_, i) => waveImage(sizes[i % sizes.length][0], sizes[i % sizes.length][1], i % 2 === 0 ? 3 : 4, seed + i));
}

describe('classifyBatch', () => {
  test.skipIf(!flowerModelPresent)(`equals classify on fixture photos${flowerModelPresent ? '' : ` (${FIXTURES_MISSING})`}`, async () => {
    const model = await track(loadModel(FLOWER_MODEL, { numThreads: 2 }));
    const photos = FIXTURE_PHOTOS.map((file) => path.join(IMAGES, file));
    const expected = [];
    for (const photo of photos) expected.push(predictionsOf(await model.classify(photo, { topK: 5 }), photo));
    expect(expected.map((predictions) => predictions[0].label)).toContain('sunflowers');
    for (const batchSize of [1, 4, 8]) {
      const results = await model.classifyBatch(photos, { topK: 5, batchSize });
      results.forEach((result, i) => {
        expect(predictionsOf(result, photos[i]), `${FIXTURE_PHOTOS[i]} in batches of ${batchSize}`).toEqual(expected[i]);
      });
    }
    dispose(model);
  });

  test('equals classify on images of mixed sizes', async () => {
    // Without a fixed size, each image runs at its own size, so one call contains batches of several sizes.
    const model = await track(anySize.create({ numThreads: 3 }));
    const images = waveImages(7, 400);
    const expected = [];
    for (const image of images) expected.push(predictionsOf(await model.classify(image, { topK: 10 }), `${image.width}x${image.height}`));
    const results = await model.classifyBatch(images, { topK: 10, batchSize: 2 });
    results.forEach((result, i) => {
      expect(predictionsOf(result, `image ${i}`), `image ${i} (${images[i].width}x${images[i].height})`).toEqual(expected[i]);
    });
    dispose(model);
  });
});

describe('concurrent classify()', () => {
  const variants: { name: string; options: LoadModelOptions }[] = [
    { name: 'no batching', options: { numThreads: 2 } },
    { name: 'batching up to 4', options: { numThreads: 2, batching: { maxBatch: 4, maxDelayMs: 5 } } },
    { name: 'batching up to 8, no delay', options: { numThreads: 3, batching: { maxBatch: 8 } } },
  ];

  test.each(variants)('B0 calls equal sequential ones ($name)', async ({ options }) => {
    const images = waveImages(8, 500);
    const model = await track(b0.create(options));
    // One call at a time: with batching, each of them runs as a batch of one.
    const expected = [];
    for (const image of images) expected.push(predictionsOf(await model.classify(image, { topK: 10 }), 'sequential'));
    expect(new Set(expected.map((predictions) => predictions[0].index)).size, 'distinct top-1 classes').toBeGreaterThan(1);
    for (const count of [2, 8]) {
      const results = await Promise.all(images.slice(0, count).map((image) => model.classify(image, { topK: 10 })));
      results.forEach((result, i) => {
        expect(predictionsOf(result, `concurrent ${i}`), `image ${i} of ${count} concurrent calls`).toEqual(expected[i]);
      });
    }
    dispose(model);
    expect(poolWorkerCount()).toBe(0);
  });

  test('any-size calls of several sizes batch by size', async () => {
    const model = await track(anySize.create({ numThreads: 2, batching: { maxBatch: 3, maxDelayMs: 1 } }));
    const images = waveImages(8, 600);
    const expected = [];
    for (const image of images) expected.push(predictionsOf(await model.classify(image, { topK: 10 }), 'sequential'));
    const results = await Promise.all(images.map((image) => model.classify(image, { topK: 10 })));
    results.forEach((result, i) => {
      expect(predictionsOf(result, `concurrent ${i}`), `image ${i} (${images[i].width}x${images[i].height})`).toEqual(expected[i]);
    });
    dispose(model);
  });
});

describe('many models in one process', () => {
  test('interleaved runs equal each model alone', async () => {
    const settings: LoadModelOptions[] = [
      { numThreads: 1, wasmPath: 'simd' },
      { numThreads: 2, wasmPath: 'simd' },
      { numThreads: 3, wasmPath: SIMD_BUILD },
      { numThreads: 1, wasmPath: 'scalar' },
      { numThreads: 'auto' },
      { numThreads: 4, wasmPath: 'simd' },
    ];
    const inputs = anySize.inputs(4, 700);
    const images = waveImages(3, 800);
    const size = anySize.size;

    // Each model alone, disposed before the next one starts.
    const alone: { outputs: Float32Array[]; predictions: Classification['predictions'][] }[] = [];
    for (const options of settings) {
      const model = await track(anySize.create(options));
      const outputs = inputs.map((input) => model.predict(input, size));
      const predictions = [];
      for (const image of images) predictions.push(predictionsOf(await model.classify(image, { topK: 10 }), 'alone'));
      alone.push({ outputs, predictions });
      dispose(model);
    }
    expect(poolWorkerCount()).toBe(0);
    // The same build gives the same bits on every thread count.
    expectSameBits(alone[1].outputs[0], alone[0].outputs[0], 'simd build on 2 threads against 1');
    expectSameBits(alone[5].outputs[0], alone[0].outputs[0], 'simd build on 4 threads against 1');

    const models = await Promise.all(settings.map((options) => track(anySize.create(options))));
    const cores = os.availableParallelism();
    expect(models.map((model) => model.info.threads)).toEqual([1, 2, 3, 1, wasmSupport().threads ? cores : 1, 4]);
    expect(poolWorkerCount(), 'pool workers for the largest model').toBe(3);
    for (let round = 0; round < 2; round++) {
      inputs.forEach((input, i) => {
        models.forEach((model, m) => {
          expectSameBits(model.predict(input, size), alone[m].outputs[i], `model ${m} (${JSON.stringify(settings[m])}), input ${i}, round ${round}`);
        });
      });
      // Every model's classify() calls in flight at once.
      const results = await Promise.all(models.flatMap((model) => images.map((image) => model.classify(image, { topK: 10 }))));
      results.forEach((result, index) => {
        const m = Math.floor(index / images.length);
        const i = index % images.length;
        expect(predictionsOf(result, `model ${m}`), `model ${m} (${JSON.stringify(settings[m])}), image ${i}, round ${round}`).toEqual(
          alone[m].predictions[i],
        );
      });
    }

    // Dropping the 4-thread model leaves the pool to the others, which keep their results.
    dispose(models[5]);
    expect(poolWorkerCount(), 'pool workers once the 4-thread model is gone').toBeGreaterThanOrEqual(2);
    models.slice(0, 5).forEach((model, m) => {
      expectSameBits(model.predict(inputs[0], size), alone[m].outputs[0], `model ${m} after another model was disposed`);
    });
    dispose(...models.slice(0, 5));
    expect(poolWorkerCount(), 'pool workers after every model is disposed').toBe(0);

    // A new model after the pool has shut down starts it again.
    const again = await track(anySize.create({ numThreads: 2, wasmPath: 'simd' }));
    expect(poolWorkerCount()).toBe(1);
    expectSameBits(again.predict(inputs[1], size), alone[1].outputs[1], 'a 2-thread model on a restarted pool');
    dispose(again);
    expect(poolWorkerCount()).toBe(0);
  });
});

describe('thread pool', () => {
  test('concurrent loads share workers', async () => {
    // Models created in the same tick reach the pool together. The largest needs 2 workers, which serve all three.
    const models = await Promise.all([3, 3, 2].map((threads) => track(anySize.create({ numThreads: threads, wasmPath: 'simd' }))));
    expect(models.map((model) => model.info.threads)).toEqual([3, 3, 2]);
    expect(poolWorkerCount(), 'pool workers for models of 3, 3 and 2 threads').toBe(2);
    const input = waveInput(33, 33, 77);
    const expected = models[0].predict(input, { height: 33, width: 33 });
    for (const model of models.slice(1)) expectSameBits(model.predict(input, { height: 33, width: 33 }), expected, `${model.info.threads} threads`);
    dispose(...models);
    expect(poolWorkerCount()).toBe(0);
  });

  test('one thread starts no worker', async () => {
    const model = await track(anySize.create({ numThreads: 1 }));
    expect(poolWorkerCount()).toBe(0);
    expect(model.info.threads).toBe(1);
    dispose(model);
  });

  test("'auto' takes every core without a warning", async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const model = await track(anySize.create({}));
      expect(model.info.threads).toBe(wasmSupport().threads ? os.availableParallelism() : 1);
      dispose(model);
      // The scalar build runs on one thread, which 'auto' accepts silently.
      const scalar = await track(anySize.create({ wasmPath: 'scalar' }));
      expect(scalar.info.threads).toBe(1);
      dispose(scalar);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });
});

describe('dispose', () => {
  test('queued classify() is rejected', async () => {
    // A delay far beyond the test, so only dispose() can end the wait.
    const model = await track(anySize.create({ numThreads: 2, batching: { maxBatch: 4, maxDelayMs: 600_000 } }));
    const queued = model.classify(waveImage(40, 30, 3, 900), { topK: 3 });
    // Decoding a pixel object takes a few microtasks, so after a macrotask the call waits in the queue.
    await new Promise((resolve) => setImmediate(resolve));
    dispose(model);
    await expect(queued).rejects.toThrow('small any-size was disposed before its queued classify() ran.');
    expect(poolWorkerCount()).toBe(0);
    await expect(model.classify(waveImage(40, 30, 3, 901))).rejects.toThrow('small any-size was disposed; load the model again to use it.');
    expect(() => model.predictBatch([waveInput(8, 8, 1)], { height: 8, width: 8 })).toThrow('small any-size was disposed');
  });

  test('failed load leaves no worker', async () => {
    await expect(loadModel(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), { numThreads: 2 })).rejects.toThrow();
    // The kernels leave the pool once their start-up, which ran alongside the read, has finished.
    await vi.waitFor(() => expect(poolWorkerCount()).toBe(0), { timeout: 20_000 });
  });
});

describe('invalid options', () => {
  const description = (): ModelDescription => describeGraph(anySizeGraph, 'small any-size');

  const cases: { name: string; options: LoadModelOptions; fragments: string[] }[] = [
    { name: 'numThreads 0', options: { numThreads: 0 }, fragments: ['Invalid numThreads', 'got 0', "'auto' or a positive integer"] },
    { name: 'numThreads 1.5', options: { numThreads: 1.5 }, fragments: ['Invalid numThreads', 'got 1.5', 'positive integer'] },
    { name: 'numThreads -1', options: { numThreads: -1 }, fragments: ['Invalid numThreads', 'got -1', 'positive integer'] },
    { name: "numThreads 'many'", options: { numThreads: 'many' as never }, fragments: ['Invalid numThreads', 'many', "'auto'"] },
    { name: 'numThreads NaN', options: { numThreads: Number.NaN }, fragments: ['Invalid numThreads', 'NaN', 'positive integer'] },
    {
      name: 'batching maxBatch 0',
      options: { batching: { maxBatch: 0 } },
      fragments: ['Invalid batching option', '"maxBatch":0', 'maxBatch: a positive integer'],
    },
    {
      name: 'batching maxDelayMs -1',
      options: { batching: { maxBatch: 4, maxDelayMs: -1 } },
      fragments: ['Invalid batching option', 'maxDelayMs', '-1', '0 or more'],
    },
    {
      name: 'scalar build on 2 threads',
      options: { wasmPath: 'scalar', numThreads: 2 },
      fragments: ['Invalid numThreads', 'scalar', 'numThreads: 1'],
    },
  ];

  test.each(cases)('$name', async ({ options, fragments }) => {
    const failure = createModel(description(), options);
    for (const fragment of fragments) await expect(failure, `message names ${fragment}`).rejects.toThrow(fragment);
    expect(poolWorkerCount()).toBe(0);
  });

  test('loadModel checks options before fetching', async () => {
    // A model name or URL may mean a download of many megabytes, which an invalid option should not wait for.
    const bytes = serializeModel(description());
    const requests: string[] = [];
    const server = createServer((request, response) => {
      requests.push(request.url ?? '');
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.safetensors`;
      const failures: string[] = [];
      for (const { name, options, fragments } of cases) {
        const message = await loadModel(url, options).then(
          (model) => {
            dispose(model);
            return 'no error';
          },
          (error: Error) => error.message,
        );
        if (!message.includes(fragments[0])) failures.push(`${name}: ${message}`);
        if (poolWorkerCount() !== 0) failures.push(`${name}: ${poolWorkerCount()} pool workers left running`);
      }
      expect(failures, 'loadModel errors that are not the option error, and workers left behind').toEqual([]);
      expect(requests, 'requests made for models with invalid options').toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    expect(poolWorkerCount()).toBe(0);
  });

  test('single-threaded wasmModule on 2 threads', async () => {
    const single = await compileKernels('simd');
    const failure = createModel(description(), { wasmModule: single, numThreads: 2 });
    for (const fragment of ['Invalid numThreads', 'wasmModule', 'single-threaded', 'numThreads: 1', 'kernels-simd-threads.wasm']) {
      await expect(failure, `message names ${fragment}`).rejects.toThrow(fragment);
    }
    expect(poolWorkerCount()).toBe(0);
    // 'auto' falls back to one thread on the same module.
    const model = await track(createModel(description(), { wasmModule: single }));
    expect(model.info.threads).toBe(1);
    dispose(model);
  });

  test('thread build as wasmModule runs on threads', async () => {
    const threaded = await compileKernels('simd-threads');
    const model = await track(createModel(description(), { wasmModule: threaded, numThreads: 2 }));
    expect(model.info.threads).toBe(2);
    expect(model.info.wasmPath).toBe('simd');
    const input = waveInput(20, 20, 5);
    const reference = await track(createModel(description(), { wasmPath: 'simd', numThreads: 1 }));
    expectSameBits(model.predict(input, { height: 20, width: 20 }), reference.predict(input, { height: 20, width: 20 }), 'thread build module');
    dispose(model, reference);
  });

  test('predictBatch rejects bad inputs', async () => {
    const model = await track(anySize.create({ numThreads: 2 }));
    const size = { height: 10, width: 12 };
    const good = waveInput(10, 12, 1);
    expect(() => model.predictBatch([], size)).toThrow('Invalid inputs: predictBatch() takes a non-empty array');
    expect(() => model.predictBatch(good as never, size)).toThrow('Invalid inputs: predictBatch() takes a non-empty array');
    expect(() => model.predictBatch([good, new Float32Array(10)], size)).toThrow(
      'Invalid inputs[1] input length: a 10x12x3 tensor has 360 values, but got 10.',
    );
    expect(() => model.predictBatch([good, waveInput(12, 10, 2).subarray(0, 359)], size)).toThrow('inputs[1]');
    expect(() => model.predictBatch([[1, 2, 3] as never], size)).toThrow('Invalid inputs[0]: predictBatch() takes Float32Array tensors');
    expect(() => model.predictBatch([good])).toThrow('Missing input size: this model accepts any size, so pass { height, width } to predictBatch().');
    expect(() => model.predict(new Float32Array(5), size)).toThrow('Invalid input length: a 10x12x3 tensor has 360 values, but got 5.');
    await expect(model.classifyBatch([waveImage(8, 8, 3, 1)], { batchSize: 0 })).rejects.toThrow('Invalid batchSize: expected a positive integer, but got 0.');
    // After the errors, the model still runs.
    expect(model.predictBatch([good], size)[0].every(Number.isFinite)).toBe(true);
    dispose(model);
  });
});

afterAll(() => {
  expect(poolWorkerCount(), 'pool workers left after the file').toBe(0);
});
