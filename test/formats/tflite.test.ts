import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelDescription } from '../../src/graph/spec.js';
import { importTflite, isTflite, TfliteFormatError } from '../../src/formats/tflite/index.js';
import { readTfliteModel, type TfliteModel, type TfliteTensor } from '../../src/formats/tflite/schema.js';
import { Random } from '../support/prng.js';
import {
  ACT,
  buildMetadata,
  buildTflite,
  buildZip,
  float16Bytes,
  float32Bytes,
  int32Bytes,
  OP,
  options,
  PADDING,
  TYPE,
  type ModelSpec,
  type TensorSpec,
} from '../support/tflite-builder.js';
import {
  FLOWERS_MODEL,
  MOBILENET_MODEL,
  modelFixturesAvailable,
  modelFixturesSkipNote,
  readFixtureModel,
} from '../support/tflite-fixtures.js';

/** Dyadic values (multiples of 1/16), exact in float16 and float32. */
function weights(count: number, seed: number): number[] {
  return Array.from({ length: count }, (_, i) => (((i * 7 + seed) % 17) - 8) / 16);
}

function constant(shape: number[], seed: number): TensorSpec {
  const count = shape.reduce((a, b) => a * b, 1);
  return { shape, type: TYPE.FLOAT32, data: float32Bytes(weights(count, seed)) };
}

function activation(shape: number[]): TensorSpec {
  return { shape, type: TYPE.FLOAT32 };
}

/**
 * Builds a float model with every supported pattern the fixtures lack: a float16 weight behind
 * DEQUANTIZE, PAD merged into a VALID depthwise conv, swish as LOGISTIC + MUL, squeeze-excite,
 * a residual, RESHAPE before FULLY_CONNECTED, and SOFTMAX.
 */
function syntheticFloatModel(): ModelSpec {
  const tensors: TensorSpec[] = [
    activation([1, 8, 8, 3]), // 0 input
    constant([4, 3, 3, 3], 1), // 1 stem weights
    constant([4], 2), // 2 stem bias
    activation([1, 4, 4, 4]), // 3 stem output
    { shape: [4, 2], type: TYPE.INT32, data: int32Bytes([0, 0, 1, 1, 1, 1, 0, 0]) }, // 4 paddings
    activation([1, 6, 6, 4]), // 5 padded
    { shape: [1, 3, 3, 4], type: TYPE.FLOAT16, data: float16Bytes(weights(36, 3)) }, // 6 depthwise weights, float16
    activation([1, 3, 3, 4]), // 7 depthwise weights after DEQUANTIZE
    constant([4], 4), // 8 depthwise bias
    activation([1, 4, 4, 4]), // 9 depthwise output
    activation([1, 4, 4, 4]), // 10 sigmoid of it
    activation([1, 4, 4, 4]), // 11 swish
    { shape: [2], type: TYPE.INT32, data: int32Bytes([1, 2]) }, // 12 MEAN axes
    activation([1, 1, 1, 4]), // 13 SE pooled
    constant([2, 1, 1, 4], 5), // 14 SE reduce weights
    constant([2], 6), // 15 SE reduce bias
    activation([1, 1, 1, 2]), // 16 SE reduced
    constant([4, 1, 1, 2], 7), // 17 SE expand weights
    constant([4], 8), // 18 SE expand bias
    activation([1, 1, 1, 4]), // 19 SE expanded
    activation([1, 1, 1, 4]), // 20 SE gate
    activation([1, 4, 4, 4]), // 21 SE scaled features
    constant([4, 1, 1, 4], 9), // 22 project weights
    constant([4], 10), // 23 project bias
    activation([1, 4, 4, 4]), // 24 projected
    activation([1, 4, 4, 4]), // 25 residual sum
    constant([8, 1, 1, 4], 11), // 26 expand weights
    constant([8], 12), // 27 expand bias
    activation([1, 4, 4, 8]), // 28 expanded
    constant([1, 3, 3, 8], 13), // 29 depthwise 2 weights
    constant([8], 14), // 30 depthwise 2 bias
    activation([1, 2, 2, 8]), // 31 depthwise 2 output
    constant([6, 1, 1, 8], 15), // 32 project 2 weights
    constant([6], 16), // 33 project 2 bias
    activation([1, 2, 2, 6]), // 34 projected 2
    constant([10, 1, 1, 6], 17), // 35 head weights
    constant([10], 18), // 36 head bias
    activation([1, 2, 2, 10]), // 37 head output
    activation([1, 1, 1, 10]), // 38 pooled
    { shape: [2], type: TYPE.INT32, data: int32Bytes([1, 10]) }, // 39 reshape target
    activation([1, 10]), // 40 features
    constant([3, 10], 19), // 41 classifier weights
    constant([3], 20), // 42 classifier bias
    activation([1, 3]), // 43 logits
    activation([1, 3]), // 44 probabilities
  ];
  return {
    tensors,
    inputs: [0],
    outputs: [44],
    operators: [
      { code: OP.DEQUANTIZE, inputs: [6], outputs: [7] },
      { code: OP.CONV_2D, inputs: [0, 1, 2], outputs: [3], options: options.conv(2, PADDING.SAME, ACT.RELU6) },
      { code: OP.PAD, inputs: [3, 4], outputs: [5] },
      { code: OP.DEPTHWISE_CONV_2D, inputs: [5, 7, 8], outputs: [9], options: options.depthwise(1, PADDING.VALID, ACT.NONE) },
      { code: OP.LOGISTIC, inputs: [9], outputs: [10] },
      { code: OP.MUL, inputs: [9, 10], outputs: [11], options: options.mul() },
      { code: OP.MEAN, inputs: [11, 12], outputs: [13], options: options.reducer(true) },
      { code: OP.CONV_2D, inputs: [13, 14, 15], outputs: [16], options: options.conv(1, PADDING.SAME, ACT.RELU) },
      { code: OP.CONV_2D, inputs: [16, 17, 18], outputs: [19], options: options.conv(1, PADDING.SAME, ACT.NONE) },
      { code: OP.LOGISTIC, inputs: [19], outputs: [20] },
      { code: OP.MUL, inputs: [11, 20], outputs: [21], options: options.mul() },
      { code: OP.CONV_2D, inputs: [21, 22, 23], outputs: [24], options: options.conv(1, PADDING.SAME, ACT.NONE) },
      { code: OP.ADD, inputs: [24, 3], outputs: [25], options: options.add() },
      { code: OP.CONV_2D, inputs: [25, 26, 27], outputs: [28], options: options.conv(1, PADDING.SAME, ACT.RELU6) },
      { code: OP.DEPTHWISE_CONV_2D, inputs: [28, 29, 30], outputs: [31], options: options.depthwise(2, PADDING.SAME, ACT.RELU6) },
      { code: OP.CONV_2D, inputs: [31, 32, 33], outputs: [34], options: options.conv(1, PADDING.SAME, ACT.NONE) },
      { code: OP.CONV_2D, inputs: [34, 35, 36], outputs: [37], options: options.conv(1, PADDING.SAME, ACT.RELU6) },
      { code: OP.AVERAGE_POOL_2D, inputs: [37], outputs: [38], options: options.pool(2) },
      { code: OP.RESHAPE, inputs: [38, 39], outputs: [40], options: options.reshape([1, 10]) },
      { code: OP.FULLY_CONNECTED, inputs: [40, 41, 42], outputs: [43], options: options.fullyConnected(ACT.NONE) },
      { code: OP.SOFTMAX, inputs: [43], outputs: [44], options: options.softmax() },
    ],
  };
}

/** Imports and returns the rejection, failing the test when the import succeeds. */
async function importError(bytes: Uint8Array, source: string): Promise<Error> {
  try {
    await importTflite(bytes, { source });
  } catch (error) {
    return error as Error;
  }
  throw new Error(`importTflite(${source}) succeeded, but it must reject`);
}

describe('TFLite importer on a synthetic float model', () => {
  let model: ModelDescription;
  const spec = syntheticFloatModel();

  beforeAll(async () => {
    model = await importTflite(buildTflite(spec), { source: 'models/synthetic.tflite' });
  });

  it('maps the stem with HWIO weights', () => {
    const stem = model.graph.stem;
    expect(stem.kernel).toBe(3);
    expect(stem.stride).toBe(2);
    expect(stem.padding).toBe('same');
    expect(stem.inChannels).toBe(3);
    expect(stem.outChannels).toBe(4);
    expect(stem.activation).toBe('relu6');
    const ohwi = weights(108, 1);
    for (let o = 0; o < 4; o++) {
      for (let y = 0; y < 3; y++) {
        for (let x = 0; x < 3; x++) {
          for (let i = 0; i < 3; i++) {
            expect(stem.weight[((y * 3 + x) * 3 + i) * 4 + o], `stem weight o=${o} y=${y} x=${x} i=${i}`).toBe(ohwi[((o * 3 + y) * 3 + x) * 3 + i]);
          }
        }
      }
    }
    expect(Array.from(stem.bias!)).toEqual(weights(4, 2));
  });

  it('merges PAD into the depthwise conv', () => {
    const depthwise = model.graph.blocks[0].depthwise;
    expect(depthwise.padding).toEqual({ top: 1, bottom: 1, left: 1, right: 1 });
    expect(depthwise.stride).toBe(1);
    expect(depthwise.kernel).toBe(3);
  });

  it('decodes float16 weights behind DEQUANTIZE', () => {
    expect(Array.from(model.graph.blocks[0].depthwise.weight)).toEqual(weights(36, 3));
  });

  it('maps swish, squeeze-excite and residual', () => {
    const block = model.graph.blocks[0];
    expect(block.expand).toBeNull();
    expect(block.depthwise.activation).toBe('swish');
    expect(block.se).not.toBeNull();
    expect(block.se!.reduce.inChannels).toBe(4);
    expect(block.se!.reduce.outChannels).toBe(2);
    expect(block.se!.reduce.activation).toBe('relu');
    expect(block.se!.expand.inChannels).toBe(2);
    expect(block.se!.expand.outChannels).toBe(4);
    expect(block.se!.expand.activation).toBe('sigmoid');
    expect(block.project.activation).toBe('linear');
    expect(block.residual).toBe(true);
    expect(block.residualGrid).toBeUndefined();
  });

  it('maps an expanding stride-2 block', () => {
    const block = model.graph.blocks[1];
    expect(model.graph.blocks).toHaveLength(2);
    expect(block.inChannels).toBe(4);
    expect(block.outChannels).toBe(6);
    expect(block.expand?.outChannels).toBe(8);
    expect(block.expand?.activation).toBe('relu6');
    expect(block.depthwise.stride).toBe(2);
    expect(block.depthwise.padding).toBe('same');
    expect(block.se).toBeNull();
    expect(block.residual).toBe(false);
  });

  it('maps head, pool and classifier', () => {
    const { head, pool, classifier } = model.graph;
    expect(head?.inChannels).toBe(6);
    expect(head?.outChannels).toBe(10);
    expect(pool?.type).toBe('avg');
    expect(classifier?.inChannels).toBe(10);
    expect(classifier?.outChannels).toBe(3);
    expect(classifier?.output).toBe('softmax');
    const outIn = weights(30, 19);
    for (let o = 0; o < 3; o++) {
      for (let i = 0; i < 10; i++) expect(classifier!.weight[i * 3 + o], `classifier weight o=${o} i=${i}`).toBe(outIn[o * 10 + i]);
    }
  });

  it('describes a float model without metadata', () => {
    expect(model.name).toBe('synthetic');
    expect(model.format).toBe('tflite');
    expect(model.quantized).toBe(false);
    expect(model.labels).toBeNull();
    expect(model.normalization).toEqual({ mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] });
    expect(model.outputGrid).toBeUndefined();
    expect(model.graph.inputGrid).toBeUndefined();
    expect(model.graph.stem.outputGrid).toBeUndefined();
    expect([model.graph.inputHeight, model.graph.inputWidth, model.graph.inputChannels]).toEqual([8, 8, 3]);
  });
});

describe('TFLite metadata', () => {
  function withMetadata(labels: string, labelFile = 'labels.txt'): Uint8Array {
    const spec = syntheticFloatModel();
    const metadata = buildMetadata({ name: 'Tiny classifier', mean: [123.675, 116.28, 103.53], std: [58.395], labelFile });
    spec.metadata = [{ name: 'TFLITE_METADATA', data: metadata }];
    spec.appendix = buildZip([
      { name: 'readme.txt', data: new TextEncoder().encode('not labels') },
      { name: 'labels.txt', data: new TextEncoder().encode(labels) },
    ]);
    return buildTflite(spec);
  }

  it('reads name, normalization and deflated labels', async () => {
    const model = await importTflite(withMetadata('cat\r\ndog\nbird\n\n'), { source: 'tiny.tflite' });
    expect(model.name).toBe('Tiny classifier');
    expect(model.labels).toEqual(['cat', 'dog', 'bird']);
    expect(model.normalization.mean[0]).toBeCloseTo(123.675, 4);
    expect(model.normalization.mean[1]).toBeCloseTo(116.28, 4);
    expect(model.normalization.mean[2]).toBeCloseTo(103.53, 4);
    expect(model.normalization.std.map((value) => Math.fround(value))).toEqual([58.395, 58.395, 58.395].map(Math.fround));
  });

  it('rejects a label count mismatch', async () => {
    const error = await importError(withMetadata('cat\ndog\n'), 'tiny.tflite');
    expect(error).toBeInstanceOf(TfliteFormatError);
    expect(error.message).toContain('labels.txt must have one line per class (3), but it has 2');
  });

  it('rejects a missing label file', async () => {
    const error = await importError(withMetadata('cat\ndog\nbird\n', 'classes.txt'), 'tiny.tflite');
    expect(error.message).toContain('the metadata names classes.txt as the output labels');
    expect(error.message).toContain('[readme.txt, labels.txt]');
  });

  it('rejects a corrupted label entry', async () => {
    const bytes = withMetadata('cat\ndog\nbird\n');
    const text = new TextDecoder('latin1').decode(bytes);
    // Flip one byte of the second entry's compressed data, after its local header and name.
    const dataStart = text.lastIndexOf('labels.txt', text.lastIndexOf('PK\x01\x02')) + 'labels.txt'.length;
    bytes[dataStart] ^= 0xff;
    const error = await importError(bytes, 'tiny.tflite');
    expect(error).toBeInstanceOf(TfliteFormatError);
    expect(error.message).toContain('Invalid associated-file archive in tiny.tflite');
  });
});

describe('TFLite importer errors on synthetic models', () => {
  it('names an unsupported operator and its index', async () => {
    const spec: ModelSpec = {
      tensors: [activation([1, 8, 8, 3]), activation([1, 8, 8, 3])],
      inputs: [0],
      outputs: [1],
      operators: [{ code: OP.LSTM, inputs: [0], outputs: [1] }],
    };
    const error = await importError(buildTflite(spec), 'lstm.tflite');
    expect(error).toBeInstanceOf(TfliteFormatError);
    expect(error.message).toMatch(/^Unsupported TFLite operator LSTM \(operator 0 of lstm\.tflite\)\. Supported: CONV_2D, DEPTHWISE_CONV_2D, /);
  });

  it('names an operator inside a model', async () => {
    const spec = syntheticFloatModel();
    spec.operators[4] = { code: OP.TANH, inputs: [9], outputs: [10] };
    const error = await importError(buildTflite(spec), 'tanh.tflite');
    expect(error.message).toContain('Unsupported TFLite operator TANH (operator 4 of tanh.tflite)');
  });

  it('reads operator codes above 127', async () => {
    const spec = syntheticFloatModel();
    spec.operators[4] = { code: OP.GELU, inputs: [9], outputs: [10] };
    const error = await importError(buildTflite(spec), 'gelu.tflite');
    expect(error.message).toContain('Unsupported TFLite operator GELU (operator 4 of gelu.tflite)');
  });

  it('names a custom operator', async () => {
    const spec = syntheticFloatModel();
    spec.operators[4] = { code: OP.CUSTOM, customCode: 'MyActivation', inputs: [9], outputs: [10] };
    const error = await importError(buildTflite(spec), 'custom.tflite');
    expect(error.message).toContain("Unsupported TFLite operator CUSTOM 'MyActivation' (operator 4 of custom.tflite)");
  });

  it('rejects an unsupported fused activation', async () => {
    const spec = syntheticFloatModel();
    spec.operators[1].options = options.conv(2, PADDING.SAME, ACT.TANH);
    const error = await importError(buildTflite(spec), 'fused.tflite');
    expect(error).toBeInstanceOf(TfliteFormatError);
    expect(error.message).toContain('operator 1 (CONV_2D) of fused.tflite uses the fused activation TANH');
    expect(error.message).toContain('supported fused activations are NONE, RELU and RELU6');
  });

  it('rejects a non-linear projection', async () => {
    const spec = syntheticFloatModel();
    spec.operators[11].options = options.conv(1, PADDING.SAME, ACT.RELU);
    const error = await importError(buildTflite(spec), 'project.tflite');
    expect(error.message).toContain('is the projection of block 0 but has activation relu');
  });

  it('rejects batch size 2', async () => {
    const spec = syntheticFloatModel();
    spec.tensors[0] = activation([2, 8, 8, 3]);
    const error = await importError(buildTflite(spec), 'batch.tflite');
    expect(error.message).toContain('the model input must have batch size 1, but it has 2');
  });

  it('rejects a one-channel input', async () => {
    const spec = syntheticFloatModel();
    spec.tensors[0] = activation([1, 8, 8, 1]);
    const error = await importError(buildTflite(spec), 'gray.tflite');
    expect(error.message).toContain('the model input must have 3 channels (RGB), but it has 1');
  });

  it('rejects weights of the wrong byte size', async () => {
    const spec = syntheticFloatModel();
    spec.tensors[1] = { ...spec.tensors[1], data: spec.tensors[1].data!.subarray(0, 400) };
    const error = await importError(buildTflite(spec), 'short.tflite');
    expect(error.message).toContain('needs 432 bytes, but its buffer 1 has 400');
  });

  it('rejects missing weight data', async () => {
    const spec = syntheticFloatModel();
    spec.tensors[1] = { shape: [4, 3, 3, 3], type: TYPE.FLOAT32 };
    const error = await importError(buildTflite(spec), 'nodata.tflite');
    expect(error.message).toContain('operator 1 (CONV_2D) of nodata.tflite has no constant weight tensor (input 1)');
  });

  it('rejects an unsupported weight dtype', async () => {
    const spec = syntheticFloatModel();
    spec.tensors[1] = { shape: [4, 3, 3, 3], type: TYPE.INT16, data: new Uint8Array(216) };
    const error = await importError(buildTflite(spec), 'int16.tflite');
    expect(error.message).toContain('must be FLOAT32, FLOAT16, INT8, UINT8 or INT32, but it is INT16');
  });

  it('rejects shapes that do not chain', async () => {
    const spec = syntheticFloatModel();
    spec.tensors[3] = activation([1, 5, 5, 4]);
    const error = await importError(buildTflite(spec), 'shapes.tflite');
    expect(error.message).toContain('outputs [1,5,5,4], but a 3x3 kernel with stride 2 and SAME padding on [1,8,8,3] gives 4x4');
  });

  it('rejects a model without subgraphs', async () => {
    const spec = syntheticFloatModel();
    spec.subgraphCount = 0;
    const error = await importError(buildTflite(spec), 'empty-graph.tflite');
    expect(error.message).toContain('it must have at least 1 subgraph, but it has none');
  });
});

describe('TFLite importer on invalid bytes', () => {
  it('rejects an empty buffer', async () => {
    const error = await importError(new Uint8Array(0), 'empty.tflite');
    expect(error).toBeInstanceOf(TfliteFormatError);
    expect(error.message).toBe('Invalid TFLite file empty.tflite: the file is empty. Check the path or download it again.');
  });

  it('rejects a PNG header', async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    const error = await importError(png, 'photo.png');
    expect(isTflite(png)).toBe(false);
    expect(error.message).toContain('Invalid TFLite file photo.png: bytes 4..8 must be the identifier "TFL3"');
    expect(error.message).toContain('the file starts with 89 50 4e 47 0d 0a 1a 0a (".PNG....", 12 bytes in all)');
  });

  it('rejects random bytes', async () => {
    const random = new Random(20240611);
    const bytes = Uint8Array.from({ length: 4096 }, () => Math.floor(random.next() * 256));
    bytes[4] = 0;
    const error = await importError(bytes, 'noise.bin');
    expect(error.message).toContain('Invalid TFLite file noise.bin: bytes 4..8 must be the identifier "TFL3"');
  });

  it('rejects random bytes behind the identifier', async () => {
    const seed = 7;
    const random = new Random(seed);
    for (let trial = 0; trial < 200; trial++) {
      const bytes = Uint8Array.from({ length: 64 + Math.floor(random.next() * 2048) }, () => Math.floor(random.next() * 256));
      bytes.set([0x54, 0x46, 0x4c, 0x33], 4);
      const error = await importError(bytes, 'noise.tflite');
      expect(error, `trial ${trial} (seed ${seed}): ${error.message}`).toBeInstanceOf(TfliteFormatError);
    }
  });

  it('rejects every truncation of a synthetic model', async () => {
    const bytes = buildTflite(syntheticFloatModel());
    for (let length = 8; length < bytes.length; length += 7) {
      const error = await importError(bytes.subarray(0, length), 'cut.tflite');
      expect(error, `length ${length}: ${error.message}`).toBeInstanceOf(TfliteFormatError);
    }
  });

  it('detects the TFL3 identifier', () => {
    expect(isTflite(buildTflite(syntheticFloatModel()))).toBe(true);
    expect(isTflite(new Uint8Array([0, 0, 0, 0, 0x54, 0x46, 0x4c]))).toBe(false);
  });
});

/** Reads the raw quantized element at a flat index of a constant tensor, bypassing the importer's dequantization. */
function rawElement(model: TfliteModel, tensor: TfliteTensor, index: number): number {
  const data = model.buffers[tensor.buffer];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (tensor.type === TYPE.INT8) return view.getInt8(index);
  if (tensor.type === TYPE.UINT8) return view.getUint8(index);
  if (tensor.type === TYPE.INT32) return view.getInt32(4 * index, true);
  throw new Error(`rawElement: unexpected type ${tensor.type}`);
}

function dequantizedByHand(model: TfliteModel, tensorId: number, index: number, channel: number): number {
  const tensor = model.subgraphs[0].tensors[tensorId];
  const quantization = tensor.quantization!;
  const scale = quantization.scale.length > 1 ? quantization.scale[channel] : quantization.scale[0];
  const zeroPoint = quantization.zeroPoint.length > 1 ? quantization.zeroPoint[channel] : quantization.zeroPoint[0];
  return Math.fround((rawElement(model, tensor, index) - zeroPoint) * scale);
}

interface BlockExpectation {
  kernel: number;
  stride: number;
  inChannels: number;
  outChannels: number;
  expand: boolean;
  residual: boolean;
}

function blockTable(rows: [number, number, number, number, boolean, boolean][]): BlockExpectation[] {
  return rows.map(([kernel, stride, inChannels, outChannels, expand, residual]) => ({ kernel, stride, inChannels, outChannels, expand, residual }));
}

function summarizeBlocks(model: ModelDescription): BlockExpectation[] {
  return model.graph.blocks.map((block) => ({
    kernel: block.depthwise.kernel,
    stride: block.depthwise.stride,
    inChannels: block.inChannels,
    outChannels: block.outChannels,
    expand: block.expand !== null,
    residual: block.residual,
  }));
}

function expectPlausibleGrid(grid: unknown, qmin: number, qmax: number, label: string): void {
  expect(grid, `${label} grid`).toBeDefined();
  const { scale, zeroPoint, qmin: min, qmax: max } = grid as { scale: number; zeroPoint: number; qmin: number; qmax: number };
  expect(scale, `${label} scale`).toBeGreaterThan(0);
  expect(Number.isFinite(scale), `${label} scale finite`).toBe(true);
  expect(min, `${label} qmin`).toBe(qmin);
  expect(max, `${label} qmax`).toBe(qmax);
  expect(zeroPoint, `${label} zero point`).toBeGreaterThanOrEqual(qmin);
  expect(zeroPoint, `${label} zero point`).toBeLessThanOrEqual(qmax);
}

function expectAllLayerGrids(model: ModelDescription, qmin: number, qmax: number): void {
  const { graph } = model;
  expectPlausibleGrid(graph.stem.outputGrid, qmin, qmax, 'stem');
  graph.blocks.forEach((block, index) => {
    if (block.expand) expectPlausibleGrid(block.expand.outputGrid, qmin, qmax, `block ${index} expand`);
    expectPlausibleGrid(block.depthwise.outputGrid, qmin, qmax, `block ${index} depthwise`);
    expectPlausibleGrid(block.project.outputGrid, qmin, qmax, `block ${index} project`);
    if (block.residual) expectPlausibleGrid(block.residualGrid, qmin, qmax, `block ${index} residual`);
    else expect(block.residualGrid, `block ${index} residual grid`).toBeUndefined();
  });
  expectPlausibleGrid(graph.head?.outputGrid, qmin, qmax, 'head');
  expectPlausibleGrid(graph.pool?.outputGrid, qmin, qmax, 'pool');
  expectPlausibleGrid(graph.classifier?.logitsGrid, qmin, qmax, 'logits');
}

describe.skipIf(!modelFixturesAvailable)(`TFLite importer on EfficientNet-Lite0 flowers${modelFixturesSkipNote}`, () => {
  let bytes: Uint8Array;
  let raw: TfliteModel;
  let model: ModelDescription;

  beforeAll(async () => {
    bytes = readFixtureModel(FLOWERS_MODEL);
    raw = readTfliteModel(bytes, FLOWERS_MODEL);
    model = await importTflite(bytes, { source: FLOWERS_MODEL });
  });

  it('maps stem, blocks, head and classifier', () => {
    const { graph } = model;
    expect(graph.stem).toMatchObject({ kernel: 3, stride: 2, padding: 'same', inChannels: 3, outChannels: 32, activation: 'relu6' });
    expect(summarizeBlocks(model)).toEqual(
      blockTable([
        [3, 1, 32, 16, false, false],
        [3, 2, 16, 24, true, false],
        [3, 1, 24, 24, true, true],
        [5, 2, 24, 40, true, false],
        [5, 1, 40, 40, true, true],
        [3, 2, 40, 80, true, false],
        [3, 1, 80, 80, true, true],
        [3, 1, 80, 80, true, true],
        [5, 1, 80, 112, true, false],
        [5, 1, 112, 112, true, true],
        [5, 1, 112, 112, true, true],
        [5, 2, 112, 192, true, false],
        [5, 1, 192, 192, true, true],
        [5, 1, 192, 192, true, true],
        [5, 1, 192, 192, true, true],
        [3, 1, 192, 320, true, false],
      ]),
    );
    expect(graph.blocks.every((block) => block.se === null)).toBe(true);
    expect(graph.head).toMatchObject({ inChannels: 320, outChannels: 1280, activation: 'relu6' });
    expect(graph.pool?.type).toBe('avg');
    expect(graph.classifier).toMatchObject({ inChannels: 1280, outChannels: 5, activation: 'linear', output: 'softmax' });
  });

  it('reads labels and name from metadata', () => {
    expect(model.name).toBe('efficientnet_lite0');
    expect(model.labels).toEqual(['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']);
  });

  it('folds the input scaling into normalization', () => {
    // uint8 input at scale 1/255, then MUL by 255 and ADD -127 before the stem: stem input = pixel - 127.
    expect(model.normalization).toEqual({ mean: [127, 127, 127], std: [1, 1, 1] });
    expect(model.graph.inputGrid).toEqual({ scale: 1, zeroPoint: -1, qmin: -128, qmax: 127 });
  });

  it('records int8 grids and the uint8 output grid', () => {
    expect(model.quantized).toBe(true);
    expectAllLayerGrids(model, -128, 127);
    expect(model.outputGrid).toEqual({ scale: 1 / 256, zeroPoint: 0, qmin: 0, qmax: 255 });
    expect(model.graph.classifier?.logitsGrid?.zeroPoint).toBe(-24);
  });

  it('dequantizes per-channel stem weights', () => {
    // Operator 3 is the stem CONV_2D: weights tensor 4 [32, 3, 3, 3], per-channel along dimension 0.
    const op = raw.subgraphs[0].operators[3];
    const [o, y, x, i] = [5, 1, 2, 1];
    const expected = dequantizedByHand(raw, op.inputs[1], ((o * 3 + y) * 3 + x) * 3 + i, o);
    expect(model.graph.stem.weight[((y * 3 + x) * 3 + i) * 32 + o]).toBe(expected);
    const bias = dequantizedByHand(raw, op.inputs[2], 7, 7);
    expect(model.graph.stem.bias![7]).toBe(bias);
  });

  it('dequantizes per-channel depthwise weights', () => {
    // Operator 4 is block 0's DEPTHWISE_CONV_2D: weights [1, 3, 3, 32], per-channel along dimension 3.
    const op = raw.subgraphs[0].operators[4];
    const [y, x, c] = [2, 0, 17];
    const index = (y * 3 + x) * 32 + c;
    expect(raw.subgraphs[0].tensors[op.inputs[1]].quantization?.quantizedDimension).toBe(3);
    expect(model.graph.blocks[0].depthwise.weight[index]).toBe(dequantizedByHand(raw, op.inputs[1], index, c));
  });

  it('dequantizes per-tensor classifier weights', () => {
    // Operator 62 is the FULLY_CONNECTED: weights [5, 1280] with one scale.
    const op = raw.subgraphs[0].operators[62];
    const [o, i] = [3, 1000];
    expect(model.graph.classifier!.weight[i * 5 + o]).toBe(dequantizedByHand(raw, op.inputs[1], o * 1280 + i, 0));
  });

  it('rejects the first 10000 bytes', async () => {
    const error = await importError(bytes.subarray(0, 10_000), 'truncated.tflite');
    expect(error).toBeInstanceOf(TfliteFormatError);
    expect(error.message).toMatch(/^Invalid TFLite model in truncated\.tflite: .* The file is truncated or corrupt; download or export it again\.$/);
  });

  it('rejects truncations across the file', async () => {
    for (let step = 1; step < 16; step++) {
      const length = Math.floor((bytes.length * step) / 16);
      const error = await importError(bytes.subarray(0, length), 'cut.tflite');
      expect(error, `length ${length}: ${error.message}`).toBeInstanceOf(TfliteFormatError);
    }
  });
});

describe.skipIf(!modelFixturesAvailable)(`TFLite importer on MobileNetV2 quant${modelFixturesSkipNote}`, () => {
  let raw: TfliteModel;
  let model: ModelDescription;

  beforeAll(async () => {
    const bytes = readFixtureModel(MOBILENET_MODEL);
    raw = readTfliteModel(bytes, MOBILENET_MODEL);
    model = await importTflite(bytes, { source: MOBILENET_MODEL });
  });

  it('maps stem, blocks, head and classifier', () => {
    const { graph } = model;
    expect(graph.stem).toMatchObject({ kernel: 3, stride: 2, padding: 'same', inChannels: 3, outChannels: 32, activation: 'relu6' });
    expect(summarizeBlocks(model)).toEqual(
      blockTable([
        [3, 1, 32, 16, false, false],
        [3, 2, 16, 24, true, false],
        [3, 1, 24, 24, true, true],
        [3, 2, 24, 32, true, false],
        [3, 1, 32, 32, true, true],
        [3, 1, 32, 32, true, true],
        [3, 2, 32, 64, true, false],
        [3, 1, 64, 64, true, true],
        [3, 1, 64, 64, true, true],
        [3, 1, 64, 64, true, true],
        [3, 1, 64, 96, true, false],
        [3, 1, 96, 96, true, true],
        [3, 1, 96, 96, true, true],
        [3, 2, 96, 160, true, false],
        [3, 1, 160, 160, true, true],
        [3, 1, 160, 160, true, true],
        [3, 1, 160, 320, true, false],
      ]),
    );
    expect(graph.head).toMatchObject({ inChannels: 320, outChannels: 1280, activation: 'relu6' });
    expect(graph.pool?.type).toBe('avg');
    // The classifier is a 1x1 CONV_2D on the pooled 1x1 map, then RESHAPE and SOFTMAX.
    expect(graph.classifier).toMatchObject({ inChannels: 1280, outChannels: 1001, activation: 'linear', output: 'softmax' });
  });

  it('keeps background as label 0', () => {
    expect(model.labels).toHaveLength(1001);
    expect(model.labels![0]).toBe('background');
    expect(model.labels![1]).toBe('tench, Tinca tinca');
    expect(model.labels![1000]).toBe('toilet tissue, toilet paper, bathroom tissue');
  });

  it('derives normalization from the input grid', () => {
    // uint8 input with scale 1/128 and zero point 128: real = (pixel - 128) / 128.
    expect(model.normalization).toEqual({ mean: [128, 128, 128], std: [128, 128, 128] });
    expect(model.graph.inputGrid).toEqual({ scale: 1 / 128, zeroPoint: 128, qmin: 0, qmax: 255 });
  });

  it('records uint8 grids', () => {
    expect(model.quantized).toBe(true);
    expectAllLayerGrids(model, 0, 255);
    expect(model.outputGrid).toEqual({ scale: 1 / 256, zeroPoint: 0, qmin: 0, qmax: 255 });
  });

  it('dequantizes uint8 pointwise weights', () => {
    // Operator 2 is block 0's projection: weights [16, 1, 1, 32] with one scale and zero point.
    const op = raw.subgraphs[0].operators[2];
    const [o, i] = [9, 30];
    expect(model.graph.blocks[0].project.weight[i * 16 + o]).toBe(dequantizedByHand(raw, op.inputs[1], o * 32 + i, 0));
  });

  it('dequantizes the classifier conv', () => {
    // Operator 63 is the 1x1 CONV_2D classifier: weights [1001, 1, 1, 1280] and an INT32 bias.
    const op = raw.subgraphs[0].operators[63];
    const [o, i] = [817, 1279];
    expect(model.graph.classifier!.weight[i * 1001 + o]).toBe(dequantizedByHand(raw, op.inputs[1], o * 1280 + i, 0));
    expect(model.graph.classifier!.bias![o]).toBe(dequantizedByHand(raw, op.inputs[2], o, 0));
  });
});
