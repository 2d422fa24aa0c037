/**
 * Keras EfficientNet applications written as TensorFlow.js LayersModel files
 * (model.json and binary shards), loaded with loadModel and compared with
 * tfjs predicting on the same model and input. The models are built by
 * test/support/keras-efficientnet.ts with seeded random weights and saved
 * through tfjs's own save API into a temporary folder.
 *
 * B5-B7 are in test/heavy/keras-efficientnet-b5-b7.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel } from '../../src/index.js';
import {
  KERAS_PARAMETER_COUNTS,
  KERAS_SCALING,
  NORMALIZATION_WEIGHT_COUNT,
  buildKerasEfficientNet,
  buildTransferModel,
  expectInputSensitive,
  expectLogProbabilitiesMatch,
  expectMatchesTfjs,
  float16Bits,
  loadWrittenModel,
  predictTfjs,
  randomizeWeights,
  seededPixels,
  toKeras3ModelJson,
  writeLayersModel,
  writeModelJson,
  type KerasEfficientNetOptions,
  type KerasVariant,
  type TfjsReference,
  type WeightEncoding,
  type WriteOptions,
  type WrittenModel,
} from '../support/keras-efficientnet.js';
import { baseSeed } from '../support/prng.js';

const SEED = baseSeed();
/** The converter's default shard size. */
const CONVERTER_SHARD_BYTES = 4 * 1024 * 1024;

let directory: string;

// The pure-JavaScript CPU backend is the only tfjs backend that runs here:
// tfjs-node needs native binaries, and webgl needs a browser.
beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
  directory = await mkdtemp(path.join(os.tmpdir(), 'keras-efficientnet-'));
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
  expect(tf.memory().numTensors, 'tfjs tensors left undisposed').toBe(0);
});

/** Loads a model.json with our package, runs one input and returns the output. */
async function predictOurs(modelJsonPath: string, build: 'simd' | 'scalar', input: Float32Array, height: number, width: number): Promise<Float32Array> {
  const model = await loadModel(modelJsonPath, { wasmPath: build });
  try {
    expect(model.info.wasmPath, `${modelJsonPath}: kernel build in use`).toBe(build);
    return model.predict(input, { height, width });
  } finally {
    model.dispose();
  }
}

async function timed<T>(what: string, run: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await run();
  console.log(`${what}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return result;
}

describe('Keras EfficientNet builder', () => {
  it.each(Object.keys(KERAS_SCALING) as KerasVariant[])('%s has Keras parameter count', (variant) => {
    const model = buildKerasEfficientNet(variant);
    try {
      expect(model.countParams(), `efficientnet${variant} parameters`).toBe(KERAS_PARAMETER_COUNTS[variant]);
    } finally {
      model.dispose();
    }
  });

  it('Normalization in config form has no weights', () => {
    const model = buildKerasEfficientNet('b0', { normalization: 'config' });
    try {
      expect(model.countParams()).toBe(KERAS_PARAMETER_COUNTS.b0 - NORMALIZATION_WEIGHT_COUNT);
      expect(model.getLayer('normalization').getWeights()).toHaveLength(0);
    } finally {
      model.dispose();
    }
  });

  it('float16 rounding matches known bit patterns', () => {
    expect(float16Bits(1)).toBe(0x3c00);
    expect(float16Bits(-2)).toBe(0xc000);
    expect(float16Bits(65504)).toBe(0x7bff);
    expect(float16Bits(1e6)).toBe(0x7c00);
    expect(float16Bits(2 ** -24)).toBe(0x0001);
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 and rounds to even.
    expect(float16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(float16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });
});

/** One model written to files, with the tfjs reference computed once. */
interface Fixture {
  name: string;
  seed: number;
  height: number;
  width: number;
  builds: Array<'simd' | 'scalar'>;
  build: () => tf.LayersModel;
  write?: WriteOptions;
}

/** Builds a model with seeded weights, writes it, and predicts two inputs with tfjs. The model stays alive for further writes. */
async function prepare(fixture: Fixture, taps: string[] = []) {
  const model = fixture.build();
  try {
    await randomizeWeights(model, fixture.seed, { height: fixture.height, width: fixture.width });
    const written = await writeLayersModel(model, path.join(directory, fixture.name), fixture.write);
    const count = fixture.height * fixture.width * 3;
    const inputs = [seededPixels(count, fixture.seed + 1), seededPixels(count, fixture.seed + 2)];
    const reference = await timed(`${fixture.name}: tfjs prediction of ${inputs.length} inputs`, () =>
      predictTfjs(model, inputs, fixture.height, fixture.width, taps),
    );
    return { model, written, inputs, reference };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

function variantFixture(variant: KerasVariant, index: number, options: KerasEfficientNetOptions, write: WriteOptions, label: string): Fixture {
  const size = KERAS_SCALING[variant].resolution;
  return {
    name: `efficientnet${variant} ${label}`,
    seed: SEED + 100 * index,
    height: size,
    width: size,
    builds: variant === 'b0' ? ['simd', 'scalar'] : ['simd'],
    build: () => buildKerasEfficientNet(variant, options),
    write,
  };
}

const VARIANT_FIXTURES: Fixture[] = [
  variantFixture('b0', 0, { normalization: 'config' }, {}, '(Normalization statistics in its config)'),
  variantFixture(
    'b1',
    1,
    { normalization: 'weights' },
    { shardBytes: CONVERTER_SHARD_BYTES, converterLayout: true },
    '(Normalization weights, converter layout, 4 MiB shards)',
  ),
  variantFixture('b2', 2, { normalization: 'weights' }, {}, '(Normalization weights)'),
  variantFixture('b3', 3, { normalization: 'weights' }, {}, '(Normalization weights)'),
  variantFixture('b4', 4, { normalization: 'weights' }, {}, '(Normalization weights)'),
];

describe.each(VARIANT_FIXTURES)('$name against tfjs', (fixture) => {
  let model: tf.LayersModel;
  let written: WrittenModel;
  let inputs: Float32Array[];
  let reference: TfjsReference;

  beforeAll(async () => {
    ({ model, written, inputs, reference } = await prepare(fixture));
  });

  afterAll(() => model?.dispose());

  it('tfjs logits depend on the input', () => {
    expectInputSensitive(reference, fixture.name, fixture.seed);
  });

  it('files hold the weights tfjs reloads', async () => {
    const shards = written.modelJson.weightsManifest[0].paths;
    console.log(`${fixture.name}: ${shards.length} shard(s), ${written.weightData.length} weight bytes`);
    const reloaded = await loadWrittenModel(written);
    try {
      const original = model.getWeights();
      const loaded = reloaded.getWeights();
      expect(loaded.length).toBe(original.length);
      original.forEach((tensor, index) => {
        expect(Array.from(loaded[index].dataSync()), `${fixture.name}: weight ${index} after reload`).toEqual(Array.from(tensor.dataSync()));
      });
    } finally {
      reloaded.dispose();
    }
  });

  it.each(fixture.builds)('outputs match on the %s build', async (build) => {
    const actual = await predictOurs(written.modelJsonPath, build, inputs[0], fixture.height, fixture.width);
    const label = { model: fixture.name, build, seed: fixture.seed };
    expectMatchesTfjs(actual, reference.outputs[0], label);
    expectLogProbabilitiesMatch(actual, reference.outputs[0], reference.logits[0], label);
  });
});

describe('efficientnetb0 weight encodings and Keras 3 JSON', () => {
  const fixture = variantFixture('b0', 10, { normalization: 'weights' }, {}, 'encodings');
  let model: tf.LayersModel;
  let written: WrittenModel;
  let inputs: Float32Array[];
  let reference: TfjsReference;

  beforeAll(async () => {
    ({ model, written, inputs, reference } = await prepare(fixture));
  });

  afterAll(() => model?.dispose());

  it('tfjs decodes float16 and quantized manifests', async () => {
    // Decode the first float weight of each encoding with tfjs's own decodeWeights and compare with the rounding rule.
    const kernel = model.getLayer('stem_conv').getWeights()[0].dataSync() as Float32Array;
    for (const encoding of ['float16', 'uint8', 'uint16'] as const) {
      const encoded = await writeLayersModel(model, path.join(directory, `decode-${encoding}`), { encoding });
      const spec = encoded.modelJson.weightsManifest[0].weights[0];
      expect(spec.name).toBe('stem_conv/kernel');
      const bytes = (encoding === 'uint8' ? 1 : 2) * kernel.length;
      const decoded = tf.io.decodeWeights(encoded.weightData.slice(0, bytes).buffer, [spec as tf.io.WeightsManifestEntry]);
      const values = decoded[spec.name].dataSync();
      tf.dispose(Object.values(decoded));
      const quantization = spec.quantization!;
      const step = encoding === 'float16' ? 0 : quantization.scale!;
      for (let i = 0; i < kernel.length; i++) {
        const limit = encoding === 'float16' ? Math.abs(kernel[i]) * 2 ** -11 + 2 ** -25 : step / 2 + 1e-7;
        expect(Math.abs(values[i] - kernel[i]), `${encoding}: stem_conv/kernel[${i}] decoded ${values[i]}, original ${kernel[i]}`).toBeLessThanOrEqual(limit);
      }
    }
  });

  it.each(['float16', 'uint8', 'uint16'] as WeightEncoding[])('%s weights match tfjs on the same weights', async (encoding) => {
    const encoded = await writeLayersModel(model, path.join(directory, `b0-${encoding}`), { encoding });
    // tfjs runs the weights it decodes itself from the same files.
    const dequantized = await loadWrittenModel(encoded);
    let expected: TfjsReference;
    try {
      expected = await timed(`efficientnetb0 ${encoding}: tfjs prediction`, () => predictTfjs(dequantized, [inputs[0]], fixture.height, fixture.width));
    } finally {
      dequantized.dispose();
    }
    const actual = await predictOurs(encoded.modelJsonPath, 'simd', inputs[0], fixture.height, fixture.width);
    const label = { model: `efficientnetb0 ${encoding}`, build: 'simd', seed: fixture.seed };
    expectMatchesTfjs(actual, expected.outputs[0], label);
    expectLogProbabilitiesMatch(actual, expected.outputs[0], expected.logits[0], label);
  });

  it('Keras 3 JSON gives the same output', async () => {
    const keras3 = await writeLayersModel(model, path.join(directory, 'b0-keras3'));
    const keras3Path = await writeModelJson(keras3.directory, toKeras3ModelJson(keras3.modelJson, model));
    const fromKeras2 = await predictOurs(written.modelJsonPath, 'simd', inputs[0], fixture.height, fixture.width);
    const fromKeras3 = await predictOurs(keras3Path, 'simd', inputs[0], fixture.height, fixture.width);
    const label = { model: 'efficientnetb0 Keras 3 JSON', build: 'simd', seed: fixture.seed };
    expectMatchesTfjs(fromKeras3, reference.outputs[0], label);
    expectLogProbabilitiesMatch(fromKeras3, reference.outputs[0], reference.logits[0], label);
    expect(Array.from(fromKeras3), 'Keras 3 and Keras 2 JSON of the same model').toEqual(Array.from(fromKeras2));
  });
});

describe('transfer model on a nested efficientnetb0 against tfjs', () => {
  const fixture: Fixture = {
    name: 'efficientnetb0 backbone with ImageNet rescaling + GlobalAveragePooling2D + Dropout + Dense(5)',
    seed: SEED + 20,
    height: 224,
    width: 224,
    builds: ['simd'],
    build: () => buildTransferModel('b0', 5),
  };
  let model: tf.LayersModel;
  let written: WrittenModel;
  let inputs: Float32Array[];
  let reference: TfjsReference;

  beforeAll(async () => {
    ({ model, written, inputs, reference } = await prepare(fixture));
  });

  afterAll(() => model?.dispose());

  it('tfjs logits depend on the input', () => {
    expectInputSensitive(reference, fixture.name, fixture.seed);
  });

  it('outputs match on the simd build', async () => {
    const actual = await predictOurs(written.modelJsonPath, 'simd', inputs[0], fixture.height, fixture.width);
    expect(actual.length).toBe(5);
    const label = { model: fixture.name, build: 'simd', seed: fixture.seed };
    expectMatchesTfjs(actual, reference.outputs[0], label);
    expectLogProbabilitiesMatch(actual, reference.outputs[0], reference.logits[0], label);
  });
});

describe('efficientnetb0 without top, max pooling, against tfjs', () => {
  const fixture: Fixture = {
    name: 'efficientnetb0 include_top false, pooling max',
    seed: SEED + 30,
    height: 224,
    width: 224,
    builds: ['simd'],
    build: () => buildKerasEfficientNet('b0', { includeTop: false, pooling: 'max' }),
  };
  let model: tf.LayersModel;
  let written: WrittenModel;
  let inputs: Float32Array[];
  let reference: TfjsReference;

  beforeAll(async () => {
    ({ model, written, inputs, reference } = await prepare(fixture));
  });

  afterAll(() => model?.dispose());

  it('tfjs features depend on the input', () => {
    expectInputSensitive(reference, fixture.name, fixture.seed);
  });

  it('features match on the simd build', async () => {
    const actual = await predictOurs(written.modelJsonPath, 'simd', inputs[0], fixture.height, fixture.width);
    expect(actual.length).toBe(1280);
    expectMatchesTfjs(actual, reference.outputs[0], { model: fixture.name, build: 'simd', seed: fixture.seed });
  });
});

/**
 * Layers at the end of each stage of B0, with the [height, width] that Keras's
 * correct_pad gives on a 193x257 input to a None x None model. With an unknown
 * size, correct_pad pads (k // 2 - 1, k // 2) before every stride-2
 * convolution. Each one then maps n to floor(n / 2), where SAME padding would
 * give ceil(n / 2): 97x129 at the stem and 7x9 at the top.
 */
const ANY_SIZE_STAGES: Array<[string, number, number]> = [
  ['stem_activation', 96, 128],
  ['block1a_project_bn', 96, 128],
  ['block2b_add', 48, 64],
  ['block3b_add', 24, 32],
  ['block4c_add', 12, 16],
  ['block5c_add', 12, 16],
  ['block6d_add', 6, 8],
  ['block7a_project_bn', 6, 8],
  ['top_activation', 6, 8],
];

describe('efficientnetb0 for None x None input on 193x257 against tfjs', () => {
  const fixture: Fixture = {
    name: 'efficientnetb0 None x None input, pooling avg, at 193x257',
    seed: SEED + 40,
    height: 193,
    width: 257,
    builds: ['simd'],
    build: () => buildKerasEfficientNet('b0', { includeTop: false, pooling: 'avg', inputShape: [null, null, 3] }),
  };
  let model: tf.LayersModel;
  let written: WrittenModel;
  let inputs: Float32Array[];
  let reference: TfjsReference;

  beforeAll(async () => {
    ({ model, written, inputs, reference } = await prepare(
      fixture,
      ANY_SIZE_STAGES.map(([name]) => name),
    ));
  });

  afterAll(() => model?.dispose());

  it('tfjs feature maps follow correct_pad', () => {
    for (const [name, height, width] of ANY_SIZE_STAGES) {
      const shape = reference.tapShapes.get(name)!;
      console.log(`${fixture.name}: ${name} is ${shape.slice(1).join('x')}`);
      expect(shape.slice(1, 3), `${name} height and width`).toEqual([height, width]);
    }
  });

  it('tfjs features depend on the input', () => {
    expectInputSensitive(reference, fixture.name, fixture.seed);
  });

  it('layer-by-layer tfjs run equals predict', () => {
    // predictTfjs runs one layer at a time, so check that model.predict gives the same bits.
    const x = tf.tensor4d(inputs[0], [1, fixture.height, fixture.width, 3]);
    const y = model.predict(x) as tf.Tensor;
    const predicted = y.dataSync();
    tf.dispose([x, y]);
    expect(Array.from(reference.outputs[0])).toEqual(Array.from(predicted));
  });

  it('features match on the simd build', async () => {
    const actual = await predictOurs(written.modelJsonPath, 'simd', inputs[0], fixture.height, fixture.width);
    expect(actual.length).toBe(1280);
    expectMatchesTfjs(actual, reference.outputs[0], { model: fixture.name, build: 'simd', seed: fixture.seed });
  });
});
