/**
 * Keras EfficientNet-B5, B6 and B7 at their native resolutions (456, 528 and
 * 600), written as TensorFlow.js LayersModel files, loaded with loadModel on
 * the build that wasmPath 'auto' picks (relaxed SIMD in the test workers) and
 * on the SIMD build, and compared with tfjs predicting on the same model. These
 * are the checks of test/formats/keras-efficientnet.test.ts, in a group of
 * their own because they are the slowest (`npm run test:heavy` runs only this
 * group; `npm run test:quick` runs everything else).
 *
 * tfjs runs on its wasm backend (XNNPACK) here, not on the pure-JavaScript
 * CPU backend of the B0-B4 comparisons. On the CPU backend, B5 took 289 s and
 * B6 494 s on the 2-core development machine, and B7 would take an estimated
 * 15 minutes. The wasm backend is TensorFlow.js's own kernel library,
 * independent of ours, and it accumulates in f32 as we do. With it the group
 * took about 7 minutes (B5 80 s, B6 100 s, B7 200 s) while other tests shared
 * the machine.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, wasmSupport } from '../../src/index.js';
import {
  KERAS_SCALING,
  buildKerasEfficientNet,
  expectInputSensitive,
  expectLogProbabilitiesMatch,
  expectMatchesTfjs,
  predictTfjs,
  randomizeWeights,
  seededPixels,
  writeLayersModel,
  type KerasVariant,
  type TfjsReference,
  type WrittenModel,
} from '../support/keras-efficientnet.js';
import { baseSeed } from '../support/prng.js';

const SEED = baseSeed();
const HEAVY_VARIANTS: KerasVariant[] = ['b5', 'b6', 'b7'];
/** The build users get by default, then the SIMD build where that is another one. */
const HEAVY_BUILDS = [...new Set([wasmSupport().path, 'simd' as const])];

let directory: string;

beforeAll(async () => {
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs failed to start its wasm backend (@tensorflow/tfjs-backend-wasm).');
  await tf.ready();
  directory = await mkdtemp(path.join(os.tmpdir(), 'keras-efficientnet-heavy-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
  expect(tf.memory().numTensors, 'tfjs tensors left undisposed').toBe(0);
});

describe.each(HEAVY_VARIANTS)('efficientnet%s against tfjs', (variant) => {
  const name = `efficientnet${variant}`;
  const seed = SEED + 1000 + HEAVY_VARIANTS.indexOf(variant);
  const size = KERAS_SCALING[variant].resolution;
  let written: WrittenModel;
  let inputs: Float32Array[];
  let reference: TfjsReference;

  beforeAll(async () => {
    const start = performance.now();
    const model = buildKerasEfficientNet(variant, { normalization: 'weights' });
    try {
      await randomizeWeights(model, seed);
      written = await writeLayersModel(model, path.join(directory, name));
      inputs = [seededPixels(size * size * 3, seed + 1), seededPixels(size * size * 3, seed + 2)];
      const predictStart = performance.now();
      reference = await predictTfjs(model, inputs, size, size);
      console.log(`${name}: tfjs prediction of 2 inputs at ${size}x${size}: ${((performance.now() - predictStart) / 1000).toFixed(1)} s`);
    } finally {
      model.dispose();
    }
    console.log(`${name}: build, weights, files and tfjs: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  });

  it('tfjs logits depend on the input', () => {
    expectInputSensitive(reference, name, seed);
  });

  it.each(HEAVY_BUILDS)('outputs match on the %s build', async (build) => {
    const start = performance.now();
    const model = await loadModel(written.modelJsonPath, { wasmPath: build });
    try {
      expect(model.info.wasmPath).toBe(build);
      const actual = model.predict(inputs[0], { height: size, width: size });
      const label = { model: name, build, seed };
      expectMatchesTfjs(actual, reference.outputs[0], label);
      expectLogProbabilitiesMatch(actual, reference.outputs[0], reference.logits[0], label);
    } finally {
      model.dispose();
    }
    console.log(`${name}: loadModel and predict on the ${build} build: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  });
});
