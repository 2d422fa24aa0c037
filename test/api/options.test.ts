// Option and input mistakes a JavaScript caller can make without a type
// checker: each must fail with a message that names the mistake and the fix.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createModel, efficientNetArchitecture, randomGraph, type Model, type ModelDescription } from '../../src/index.js';
import { describeGraph, waveImage } from '../threads/support.js';

const graph = randomGraph(efficientNetArchitecture('b0'), 7);
graph.inputHeight = 32;
graph.inputWidth = 32;
const description = (): ModelDescription => describeGraph(graph, 'tiny b0');

describe('load options', () => {
  test('misspelled option names the fix', async () => {
    await expect(createModel(description(), { numThread: 2 } as never)).rejects.toThrow(
      'Unknown loadModel option "numThread": did you mean numThreads?',
    );
  });

  test('unknown option lists the options', async () => {
    await expect(createModel(description(), { gpu: true } as never)).rejects.toThrow(
      'Unknown loadModel option "gpu". The options are wasmPath, numThreads, batching,',
    );
  });

  test('misspelled batching option', async () => {
    await expect(createModel(description(), { batching: { maxBatch: 8, maxDelay: 5 } as never })).rejects.toThrow(
      'Unknown batching option "maxDelay": did you mean maxDelayMs?',
    );
  });

  test('infinite maxDelayMs', async () => {
    await expect(createModel(description(), { batching: { maxBatch: 8, maxDelayMs: Infinity } })).rejects.toThrow(
      'maxDelayMs must be a finite number of milliseconds, 0 or more, but got Infinity.',
    );
  });

  test('null numThreads', async () => {
    await expect(createModel(description(), { numThreads: null as never })).rejects.toThrow(
      "Invalid numThreads: expected 'auto' or a positive integer, but got null. Leave it out for 'auto'.",
    );
  });

  test('description without normalization', async () => {
    const { normalization, ...rest } = description();
    expect(normalization).toBeDefined();
    await expect(createModel(rest as ModelDescription, { numThreads: 1 })).rejects.toThrow(
      'Invalid model description: tiny b0 has no normalization, which classify() needs.',
    );
  });
});

describe('inputs', () => {
  let model: Model;
  beforeAll(async () => {
    model = await createModel(description(), { numThreads: 1 });
  });
  afterAll(() => model.dispose());

  test('predict names the array type', () => {
    expect(() => model.predict(new Uint8Array(32 * 32 * 3) as never)).toThrow(
      'Invalid input: predict() takes a Float32Array, but got Uint8Array. Convert it with Float32Array.from(values).',
    );
  });

  test('predictBatch names the array type', () => {
    expect(() => model.predictBatch([new Float32Array(32 * 32 * 3), [1, 2, 3] as never])).toThrow(
      'Invalid inputs[1]: predictBatch() takes Float32Array tensors, but got Array.',
    );
  });

  test('classifyBatch names the bad image', async () => {
    const images = [waveImage(32, 32, 3, 1), 'no/such/image.jpg'];
    await expect(model.classifyBatch(images)).rejects.toThrow('classifyBatch() image 1: Image file not found: no/such/image.jpg');
  });

  test('batchSize given as a string', async () => {
    await expect(model.classifyBatch([waveImage(32, 32, 3, 1)], { batchSize: '4' as never })).rejects.toThrow(
      'Invalid batchSize: expected a positive integer, but got "4".',
    );
  });
});
