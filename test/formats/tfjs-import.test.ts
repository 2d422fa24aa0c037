/**
 * The TF.js LayersModel importer end to end: hand-written model.json files in
 * both Keras JSON forms, run through loadModel and compared with tfjs-layers
 * loading the same files, and each load error with its message.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { importTfjsFiles, TfjsFormatError } from '../../src/formats/tfjs/index.js';
import { loadModel } from '../../src/model.js';
import { Random } from '../support/prng.js';
import {
  allWeights,
  denseHead,
  encodeWeights,
  keras2Model,
  keras3Model,
  LayerFactory,
  modelJson,
  tinyEfficientNet,
  type TestLayer,
  type TestWeight,
} from '../support/tfjs-import-builder.js';

/** Maximum |ours - tfjs| of an output value (probabilities near 1/classes and pooled features near 1). */
const OUTPUT_TOLERANCE = 2e-5;

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

afterEach(() => {
  vi.restoreAllMocks();
});

function pixels(count: number, seed: number): Float32Array {
  const random = new Random(seed);
  return Float32Array.from({ length: count }, () => random.int(0, 255));
}

/** Keras 3 files name each weight by its layer and position: layers/<layer>/vars/<index>, under nested models' names. */
function keras3Names(layers: TestLayer[], prefix = ''): Map<TestWeight, string> {
  const names = new Map<TestWeight, string>();
  for (const layer of layers) {
    (layer.weights ?? []).forEach((weight, index) => names.set(weight, `${prefix}layers/${layer.name}/vars/${index}`));
    if (layer.layers) for (const [weight, name] of keras3Names(layer.layers, `${prefix}layers/${layer.name}/`)) names.set(weight, name);
  }
  return names;
}

async function tfjsPredict(json: Record<string, unknown>, files: Record<string, Uint8Array>, input: Float32Array, shape: number[]): Promise<Float32Array> {
  const manifest = json.weightsManifest as Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  const data = manifest[0].paths.map((path) => files[path]);
  const joined = new Uint8Array(data.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of data) {
    joined.set(part, offset);
    offset += part.length;
  }
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs: manifest[0].weights, weightData: joined.buffer }),
  );
  const output = tf.tidy(() => model.predict(tf.tensor(input, [1, ...shape])) as tf.Tensor);
  const values = (await output.data()) as Float32Array;
  output.dispose();
  model.dispose();
  return values;
}

/** Checks that a second input moves some output by far more than the tolerance, so that the comparison can fail. */
function expectSensitive(first: Float32Array, second: Float32Array, what: string): void {
  const largest = Math.max(...first.map((value, i) => Math.abs(value - second[i])));
  expect(largest, `${what}: largest output change between two inputs`).toBeGreaterThan(100 * OUTPUT_TOLERANCE);
}

function expectClose(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, `${what}: output length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i]), `${what}: output ${i} is ${actual[i]}, tfjs has ${expected[i]}`).toBeLessThanOrEqual(OUTPUT_TOLERANCE);
  }
}

const CLASSIFIER_LAYERS = (): TestLayer[] => [...tinyEfficientNet(11), ...denseHead(12, 16, 5)];

describe('tfjs import: parity with tfjs-layers', () => {
  it('EfficientNet-shaped Keras 2 model', async () => {
    const layers = CLASSIFIER_LAYERS();
    const { manifest, files } = encodeWeights(allWeights(layers));
    const json = modelJson(keras2Model('tiny', layers), manifest);
    const input = pixels(9 * 9 * 3, 1);
    const model = await loadModel({ modelJson: json, weights: files }, { wasmPath: 'scalar' });
    expect(model.info.format).toBe('tfjs');
    expect(model.info.inputSize).toEqual({ height: 9, width: 9 });
    expect(model.info.inputSpace).toBe('pixels');
    expect(model.info.blocks).toBe(3);
    expect(model.info.numClasses).toBe(5);
    expectClose(model.predict(input), await tfjsPredict(json, files, input, [9, 9, 3]), 'keras 2 classifier');
    expectSensitive(model.predict(input), model.predict(pixels(9 * 9 * 3, 101)), 'keras 2 classifier');
  });

  it('relu6, depth multiplier, max pool and BatchNorm before Dense', async () => {
    const f = new LayerFactory(21);
    const layers: TestLayer[] = [
      f.input('input', [null, 8, 8, 3]),
      f.conv('conv1', 3, 4, 3, { stride: 2, padding: 'same' }),
      f.batchNorm('bn1', 4, 1e-5),
      { className: 'ReLU', name: 'relu1', config: { max_value: 6, negative_slope: 0, threshold: 0 } },
      f.depthwise('dw', 4, 3, { multiplier: 2 }),
      f.batchNorm('dw_bn', 8),
      { className: 'ReLU', name: 'dw_relu', config: { max_value: null } },
      f.conv('project', 8, 4, 1),
      f.batchNorm('project_bn', 4),
      { className: 'Add', name: 'add', config: {}, inputs: ['project_bn', 'relu1'] },
      f.conv('head', 4, 10, 1, { bias: true, activation: 'relu6' }),
      { className: 'GlobalMaxPooling2D', name: 'pool', config: {} },
      { className: 'Reshape', name: 'reshape', config: { target_shape: [1, 1, 10] } },
      { className: 'Flatten', name: 'flatten', config: {} },
      f.batchNorm('head_bn', 10),
      f.dense('logits', 10, 3),
      f.activation('softmax', 'softmax'),
    ];
    const { manifest, files } = encodeWeights(allWeights(layers), 3);
    const json = modelJson(keras2Model('mobile', layers), manifest, false);
    const input = pixels(8 * 8 * 3, 2).map((value) => value / 127.5 - 1);
    const model = await loadModel({ modelJson: JSON.stringify(json), weights: files }, { wasmPath: 'scalar' });
    expect(model.info.inputSpace).toBe('normalized');
    expect(model.info.normalization).toEqual({ mean: [0, 0, 0], std: [1, 1, 1] });
    expectClose(model.predict(input), await tfjsPredict(json, files, input, [8, 8, 3]), 'relu6 network');
    expectSensitive(model.predict(input), model.predict(pixels(8 * 8 * 3, 102).map((value) => value / 127.5 - 1)), 'relu6 network');
  });

  it('Keras 3 form gives identical output', async () => {
    const layers = CLASSIFIER_LAYERS();
    const keras2 = encodeWeights(allWeights(layers));
    const names = keras3Names(layers);
    const keras3 = encodeWeights(allWeights(layers), 2, (weight) => names.get(weight)!);
    const input = pixels(9 * 9 * 3, 3);
    const first = await loadModel({ modelJson: modelJson(keras2Model('tiny', layers), keras2.manifest), weights: keras2.files }, { wasmPath: 'scalar' });
    const second = await loadModel({ modelJson: modelJson(keras3Model('tiny', layers), keras3.manifest), weights: keras3.files }, { wasmPath: 'scalar' });
    expect(Array.from(second.predict(input))).toEqual(Array.from(first.predict(input)));
  });

  it('nested backbone inlines in both forms', async () => {
    const backbone = tinyEfficientNet(11);
    const outer: TestLayer[] = [
      new LayerFactory(0).input('image', [null, 9, 9, 3]),
      { className: 'Functional', name: 'efficientnetb0', layers: backbone },
      ...denseHead(12, 16, 5),
    ];
    const flat = encodeWeights(allWeights(CLASSIFIER_LAYERS()));
    const input = pixels(9 * 9 * 3, 4);
    const reference = (await loadModel({ modelJson: modelJson(keras2Model('tiny', CLASSIFIER_LAYERS()), flat.manifest), weights: flat.files })).predict(input);

    // Keras 2 converter output names nested weights without the model name; the prefixed form also occurs.
    const plain = encodeWeights(allWeights(outer));
    const prefixed = encodeWeights(allWeights(outer), 1, (weight) =>
      allWeights(backbone).includes(weight) ? `efficientnetb0/${weight.name}:0` : weight.name,
    );
    const names = keras3Names(outer);
    const keras3 = encodeWeights(allWeights(outer), 1, (weight) => names.get(weight)!);
    const cases = [
      { what: 'keras 2', json: modelJson(keras2Model('transfer', outer), plain.manifest), files: plain.files },
      { what: 'keras 2 with prefixed names', json: modelJson(keras2Model('transfer', outer), prefixed.manifest), files: prefixed.files },
      { what: 'keras 3', json: modelJson(keras3Model('transfer', outer), keras3.manifest), files: keras3.files },
    ];
    for (const { what, json, files } of cases) {
      const model = await loadModel({ modelJson: json, weights: files });
      expect(model.info.name, what).toBe('transfer');
      expect(Array.from(model.predict(input)), what).toEqual(Array.from(reference));
    }
  });

  it('nested model inside a Sequential', async () => {
    const backbone = tinyEfficientNet(11);
    const head = denseHead(12, 16, 5);
    const sequential = {
      class_name: 'Sequential',
      config: {
        name: 'sequential',
        layers: [
          { class_name: 'InputLayer', config: { name: 'image', batch_input_shape: [null, 9, 9, 3] } },
          { class_name: 'Functional', config: (keras2Model('efficientnetb0', backbone).config as object) },
          ...head.map((layer) => ({ class_name: layer.className, config: { name: layer.name, ...layer.config } })),
        ],
      },
    };
    (sequential.config.layers[1].config as Record<string, unknown>).name = 'efficientnetb0';
    const { manifest, files } = encodeWeights(allWeights([...backbone, ...head]));
    const flat = encodeWeights(allWeights(CLASSIFIER_LAYERS()));
    const input = pixels(9 * 9 * 3, 5);
    const reference = (await loadModel({ modelJson: modelJson(keras2Model('tiny', CLASSIFIER_LAYERS()), flat.manifest), weights: flat.files })).predict(input);
    const model = await loadModel({ modelJson: modelJson(sequential, manifest), weights: files });
    expect(Array.from(model.predict(input))).toEqual(Array.from(reference));
  });
});

describe('tfjs import: preprocessing', () => {
  const IMAGENET_MEAN = [0.485, 0.456, 0.406];
  const IMAGENET_STD = [0.229, 0.224, 0.225];

  function withStem(preprocessing: TestLayer[], weights: TestWeight[] = []): { json: Record<string, unknown>; files: Record<string, Uint8Array> } {
    const f = new LayerFactory(3);
    const layers = [f.input('input_1', [null, null, null, 3]), ...preprocessing, f.conv('stem_conv', 3, 4, 3, { stride: 2 })];
    const encoded = encodeWeights([...weights, ...allWeights(layers)]);
    return { json: modelJson(keras2Model('pre', layers), encoded.manifest), files: encoded.files };
  }

  it('Keras EfficientNet statistics from weights', async () => {
    // Keras EfficientNet stores the ImageNet standard deviations in the variance slot, so they are used as variances.
    const { json, files } = withStem(
      [
        { className: 'Rescaling', name: 'rescaling', config: { scale: 1 / 255, offset: 0 } },
        { className: 'Normalization', name: 'normalization', config: { axis: -1, mean: null, variance: null } },
      ],
      [
        { name: 'normalization/mean', shape: [3], values: Float32Array.from(IMAGENET_MEAN) },
        { name: 'normalization/variance', shape: [3], values: Float32Array.from(IMAGENET_STD) },
        { name: 'normalization/count', shape: [], values: Float32Array.of(0), dtype: 'int32' },
      ],
    );
    const description = await importTfjsFiles({ modelJson: json, weights: files });
    expect(description.inputSpace).toBe('pixels');
    expect(description.graph.inputHeight).toBeNull();
    const { mean, std } = description.normalization;
    const white = [0, 1, 2].map((c) => (255 - mean[c]) / std[c]);
    [1.0762, 1.1494, 1.2523].forEach((value, c) => expect(white[c], `channel ${c}`).toBeCloseTo(value, 4));
    [0, 1, 2].forEach((c) => expect(mean[c], `mean ${c}`).toBeCloseTo(255 * IMAGENET_MEAN[c], 3));
  });

  it('second Rescaling and config statistics', async () => {
    const { json, files } = withStem([
      { className: 'Rescaling', name: 'rescaling', config: { scale: 1 / 255, offset: 0 } },
      { className: 'Normalization', name: 'normalization', config: { axis: -1, mean: [[[IMAGENET_MEAN]]], variance: [[[IMAGENET_STD]]] } },
      { className: 'Rescaling', name: 'rescaling_1', config: { scale: IMAGENET_STD.map((s) => 1 / Math.sqrt(s)), offset: 0 } },
    ]);
    const { normalization } = await importTfjsFiles({ modelJson: json, weights: files });
    [0, 1, 2].forEach((c) => {
      expect(normalization.std[c], `std ${c}`).toBeCloseTo(255 * IMAGENET_STD[c], 3);
      expect(normalization.mean[c], `mean ${c}`).toBeCloseTo(255 * IMAGENET_MEAN[c], 3);
    });
  });

  it('Rescaling to [-1, 1] with offset', async () => {
    const { json, files } = withStem([{ className: 'Rescaling', name: 'rescaling', config: { scale: 1 / 127.5, offset: -1 } }]);
    const { normalization } = await importTfjsFiles({ modelJson: json, weights: files });
    [0, 1, 2].forEach((c) => {
      expect(normalization.mean[c]).toBeCloseTo(127.5, 4);
      expect(normalization.std[c]).toBeCloseTo(127.5, 4);
    });
  });

  it('missing Normalization statistics', async () => {
    const { json, files } = withStem([{ className: 'Normalization', name: 'normalization', config: { axis: -1 } }]);
    await expect(importTfjsFiles({ modelJson: json, weights: files })).rejects.toThrow(
      /Missing Normalization statistics in .*layer 'normalization' \(Normalization\) has no mean and variance .*adapt\(\)/,
    );
  });
});

describe('tfjs import: errors', () => {
  function classifier(edit: (layers: TestLayer[]) => TestLayer[] = (layers) => layers) {
    const layers = edit(CLASSIFIER_LAYERS());
    const encoded = encodeWeights(allWeights(layers));
    return { json: modelJson(keras2Model('tiny', layers), encoded.manifest), files: encoded.files };
  }

  it('unknown layer class', async () => {
    const { json, files } = classifier((layers) => {
      const index = layers.findIndex((layer) => layer.name === 'top_dropout');
      layers.splice(index, 0, { className: 'LayerNormalization', name: 'odd_norm', config: { axis: -1 } });
      return layers;
    });
    await expect(importTfjsFiles({ modelJson: json, weights: files })).rejects.toThrow(
      /layer 'odd_norm' \(LayerNormalization\) has a layer class the importer does not support\. Supported classes: InputLayer, .*Dense/,
    );
  });

  it('unsupported activation', async () => {
    const { json, files } = classifier((layers) => {
      layers.find((layer) => layer.name === 'stem_activation')!.config = { activation: 'gelu' };
      return layers;
    });
    await expect(importTfjsFiles({ modelJson: json, weights: files })).rejects.toThrow(
      /layer 'stem_activation' \(Activation\) uses the activation 'gelu'; supported activations are linear, relu/,
    );
  });

  it('unsupported branch', async () => {
    const { json, files } = classifier((layers) => {
      const f = new LayerFactory(5);
      const index = layers.findIndex((layer) => layer.name === 'block1a_dwconv');
      layers.splice(index, 0, { ...f.conv('side_conv', 8, 8, 1), inputs: ['stem_activation'] });
      const add = layers.find((layer) => layer.name === 'block1a_add')!;
      add.inputs = ['block1a_drop', 'side_conv'];
      layers[layers.findIndex((layer) => layer.name === 'block1a_dwconv')].inputs = ['stem_activation'];
      return layers;
    });
    await expect(importTfjsFiles({ modelJson: json, weights: files })).rejects.toThrow(
      /the output of layer 'stem_activation' \(Activation\) is read by 2 layers \(.*'side_conv'.*\), a branch the graph cannot express/,
    );
  });

  it('weight shape mismatch', async () => {
    const { json, files } = classifier();
    const specs = (json.weightsManifest as Array<{ weights: Array<{ name: string; shape: number[] }> }>)[0].weights;
    // The same element count, so the shard size still fits.
    specs.find((spec) => spec.name === 'block2a_se_reduce/kernel')!.shape = [1, 1, 12, 4];
    await expect(importTfjsFiles({ modelJson: json, weights: files })).rejects.toThrow(
      /weight 'block2a_se_reduce\/kernel' of layer 'block2a_se_reduce' \(Conv2D\) must have shape \[1,1,24,2\] to fit the layer, but it has \[1,1,12,4\]/,
    );
  });

  it('missing weight', async () => {
    const { json, files } = classifier();
    const specs = (json.weightsManifest as Array<{ weights: Array<{ name: string }> }>)[0].weights;
    specs.find((spec) => spec.name === 'top_bn/moving_mean')!.name = 'unrelated/moving_mean';
    await expect(importTfjsFiles({ modelJson: json, weights: files })).rejects.toThrow(
      /Missing weight in .*layer 'top_bn' \(BatchNormalization\) needs its moving_mean, named 'top_bn\/moving_mean'/,
    );
  });

  it('missing shard in memory', async () => {
    const { json } = classifier();
    await expect(importTfjsFiles({ modelJson: json, weights: {} })).rejects.toThrow(
      /Missing weight shard 'group1-shard1of1\.bin' .*its keys are none/,
    );
  });

  it('truncated shard', async () => {
    const layers = CLASSIFIER_LAYERS();
    const { manifest, files } = encodeWeights(allWeights(layers), 3);
    files['group1-shard2of3.bin'] = files['group1-shard2of3.bin'].subarray(0, 100);
    await expect(importTfjsFiles({ modelJson: modelJson(keras2Model('tiny', layers), manifest), weights: files })).rejects.toThrow(
      /Invalid weight shard 'group1-shard2of3\.bin' of .*need \d+ bytes, but its shards hold \d+ .*The shard is truncated/,
    );
  });

  it('NaN weights warn once', async () => {
    const layers = CLASSIFIER_LAYERS();
    for (const name of ['stem_conv', 'top_conv']) layers.find((layer) => layer.name === name)!.weights![0].values[3] = NaN;
    const { manifest, files } = encodeWeights(allWeights(layers));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const description = await importTfjsFiles({ modelJson: modelJson(keras2Model('tiny', layers), manifest), weights: files });
    expect(description.graph.blocks).toHaveLength(3);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/weights 'stem_conv\/kernel', 'top_conv\/kernel' of .* contain NaN or infinity/);
  });

  it('projection with activation', async () => {
    const { json, files } = classifier((layers) => {
      const index = layers.findIndex((layer) => layer.name === 'block2a_project_bn');
      layers.splice(index + 1, 0, { className: 'Activation', name: 'odd_activation', config: { activation: 'relu' } });
      layers.find((layer) => layer.name === 'block2b_expand_conv')!.inputs = ['odd_activation'];
      layers.find((layer) => layer.name === 'block2b_add')!.inputs = ['block2b_drop', 'odd_activation'];
      return layers;
    });
    await expect(importTfjsFiles({ modelJson: json, weights: files })).rejects.toThrow(/does not fit the MBConv pattern here|must be linear/);
  });

  it('graph model format', async () => {
    await expect(
      importTfjsFiles({ modelJson: { format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }, weights: {} }),
    ).rejects.toThrow(/it is a graph model, but only LayersModel files can be imported/);
  });

  it('model.json bytes without shards', async () => {
    const { json } = classifier();
    const bytes = new TextEncoder().encode(JSON.stringify(json));
    await expect(loadModel(bytes)).rejects.toThrow(/model was passed as bytes.*Pass the path or URL of model\.json, or \{ modelJson, weights \}/);
  });

  it('errors are TfjsFormatError', async () => {
    await expect(importTfjsFiles({ modelJson: '{"modelTopology": 3, "weightsManifest": []}', weights: {} })).rejects.toBeInstanceOf(TfjsFormatError);
  });
});
