import { describe, expect, test } from 'vitest';
import { buildGraph, efficientNetArchitecture, randomGraph, seededRandom } from '../../src/graph/configs.js';
import type { Graph, QuantGrid } from '../../src/graph/spec.js';
import { createModel } from '../../src/model.js';
import { referenceForward } from '../reference/graph-reference.js';
import { BUILDS, buildOptions } from '../support/buffers.js';
import { describeGraph, waveInput } from '../support/graphs.js';

// Whole-network outputs compared elementwise: |ours - reference| <= NETWORK_RELATIVE * max(1, |reference|).
const NETWORK_RELATIVE = 1e-4;

function randomInput(count: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: count }, () => random() * 4 - 2);
}

function expectClose(actual: Float32Array, expected: Float64Array, context: string): number {
  expect(actual.length, `${context}: output length`).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    if (!Number.isFinite(actual[i]) || !Number.isFinite(expected[i])) {
      throw new Error(`${context}: output ${i} is not finite (ours ${actual[i]}, reference ${expected[i]})`);
    }
    const error = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (error > NETWORK_RELATIVE) {
      throw new Error(`${context}: output ${i} is ${actual[i]}, reference ${expected[i]} (relative error ${error.toExponential(2)})`);
    }
    worst = Math.max(worst, error);
  }
  return worst;
}

/** Small networks that exercise every graph feature at odd sizes. */
function cases(): { name: string; graph: Graph; height: number; width: number }[] {
  const tiny = efficientNetArchitecture('b0', { numClasses: 10, scaling: { width: 0.25, depth: 0.34, resolution: 33 } });
  const lite = efficientNetArchitecture('lite0', { numClasses: 7, scaling: { width: 0.25, depth: 0.34, resolution: 29 } });
  const features = efficientNetArchitecture('b0', { numClasses: 0, scaling: { width: 0.25, depth: 0.34, resolution: 24 } });

  // Gain 2 keeps the signal alive through swish and squeeze-excite (see RandomGraphOptions).
  const options = { gain: 2 };
  const maxPool = randomGraph(tiny, 5, options);
  maxPool.pool = { type: 'max' };
  const explicit = randomGraph(lite, 6, options);
  explicit.stem.padding = { top: 0, bottom: 2, left: 1, right: 0 };
  explicit.blocks[1].depthwise.padding = { top: 1, bottom: 0, left: 0, right: 1 };
  const noHead = randomGraph(tiny, 7, options);
  noHead.head = null;
  noHead.classifier = buildGraph(
    { ...tiny, headChannels: noHead.blocks[noHead.blocks.length - 1].outChannels },
    (_name, shape) => randomInput(shape.reduce((a, b) => a * b, 1), 8),
  ).classifier;
  const featureMap = randomGraph(features, 9, options);
  featureMap.pool = null;
  featureMap.classifier = null;
  featureMap.inputHeight = null;
  featureMap.inputWidth = null;

  const tinyB0 = randomGraph(tiny, 1, options);
  const tinyLite = randomGraph(lite, 2, options);
  // Logits, not probabilities, so small outputs are compared at full precision.
  for (const graph of [tinyB0, tinyLite, maxPool, explicit, noHead]) graph.classifier!.output = 'logits';
  // A depth multiplier of 3 in block 1 (its SE and projection then read 3x the channels),
  // and two hidden dense layers between the pool and the classifier.
  const multiplied = randomGraph(tiny, 13, options);
  const block = multiplied.blocks[1];
  const random = seededRandom(14);
  const uniform = (count: number, limit: number) => Float32Array.from({ length: count }, () => (random() * 2 - 1) * limit);
  const dwOut = block.depthwise.channels * 3;
  block.depthwise.depthMultiplier = 3;
  block.depthwise.weight = uniform(block.depthwise.kernel ** 2 * dwOut, 0.6);
  block.depthwise.batchNorm = undefined;
  block.depthwise.bias = uniform(dwOut, 0.1);
  const seChannels = block.se!.reduce.outChannels;
  block.se!.reduce = { ...block.se!.reduce, inChannels: dwOut, weight: uniform(dwOut * seChannels, Math.sqrt(6 / dwOut)) };
  block.se!.expand = { ...block.se!.expand, outChannels: dwOut, weight: uniform(seChannels * dwOut, 1), bias: uniform(dwOut, 0.1) };
  block.project = { ...block.project, inChannels: dwOut, weight: uniform(dwOut * block.outChannels, Math.sqrt(6 / dwOut)) };
  const headChannels = multiplied.head!.outChannels;
  multiplied.hidden = [
    { inChannels: headChannels, outChannels: 24, activation: 'relu', weight: uniform(headChannels * 24, 3 * Math.sqrt(6 / headChannels)), bias: uniform(24, 0.1) },
    { inChannels: 24, outChannels: 9, activation: 'swish', weight: uniform(24 * 9, 2), bias: null },
  ];
  multiplied.classifier = { ...multiplied.classifier!, inChannels: 9, weight: uniform(9 * 10, 3), output: 'logits' };

  return [
    { name: 'tiny b0, 33x33', graph: tinyB0, height: 33, width: 33 },
    { name: 'depth multiplier and dense head', graph: multiplied, height: 33, width: 33 },
    { name: 'tiny lite, 29x29', graph: tinyLite, height: 29, width: 29 },
    { name: 'max pool', graph: maxPool, height: 33, width: 33 },
    { name: 'explicit padding', graph: explicit, height: 29, width: 29 },
    { name: 'no head conv', graph: noHead, height: 33, width: 33 },
    { name: 'feature map output, 23x31', graph: featureMap, height: 23, width: 31 },
  ];
}

describe.each(BUILDS)('GraphExecutor on the %s build', (build) => {
  test.each(cases())('$name matches the f64 reference', async ({ name, graph, height, width }) => {
    const model = await createModel(describeGraph(graph, name), buildOptions(build));
    const input = waveInput(height, width, 11);
    const ours = model.predict(input, { height, width });
    const expected = referenceForward(graph, input, height, width, { quantizationGrid: false });
    const worst = expectClose(ours, expected, `${name} (${build})`);
    console.log(`${name} (${build}): largest relative error ${worst.toExponential(2)} over ${expected.length} outputs`);
    // The comparison only means something if the output depends on the input well above the tolerance.
    const other = referenceForward(graph, waveInput(height, width, 12), height, width, { quantizationGrid: false });
    let sensitivity = 0;
    for (let i = 0; i < expected.length; i++) {
      sensitivity = Math.max(sensitivity, Math.abs(other[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
    }
    expect(sensitivity, `${name}: output change between two inputs`).toBeGreaterThan(100 * NETWORK_RELATIVE);
    model.dispose();
  });

  test('softmax output sums to one', async () => {
    const graph = randomGraph(efficientNetArchitecture('b0', { numClasses: 10, scaling: { width: 0.25, depth: 0.34, resolution: 32 } }), 3);
    const model = await createModel(describeGraph(graph), buildOptions(build));
    const scores = model.predict(randomInput(32 * 32 * 3, 4));
    expect(scores.length).toBe(10);
    expect(scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    model.dispose();
  });

  test('repeated runs reuse memory', async () => {
    const graph = randomGraph(efficientNetArchitecture('b0', { numClasses: 10, scaling: { width: 0.25, depth: 0.34, resolution: 40 } }), 3);
    const model = await createModel(describeGraph(graph), buildOptions(build));
    const input = randomInput(40 * 40 * 3, 4);
    const first = model.predict(input);
    const memory = model.info.memoryBytes;
    for (let i = 0; i < 5; i++) {
      expect(model.predict(input)).toEqual(first);
      expect(model.info.memoryBytes).toBe(memory);
    }
    model.dispose();
  });

  test('any-size graph runs several sizes', async () => {
    const graph = randomGraph(efficientNetArchitecture('b0', { numClasses: 5, scaling: { width: 0.25, depth: 0.34, resolution: 32 } }), 12);
    graph.inputHeight = null;
    graph.inputWidth = null;
    const model = await createModel(describeGraph(graph), buildOptions(build));
    for (const [height, width] of [[17, 23], [40, 9], [17, 23], [1, 1]]) {
      const input = randomInput(height * width * 3, height * 100 + width);
      const expected = referenceForward(graph, input, height, width, { quantizationGrid: false });
      expectClose(model.predict(input, { height, width }), expected, `${height}x${width} (${build})`);
    }
    model.dispose();
  });
});

describe('quantization grid emulation', () => {
  /** Puts a grid on every tensor of the graph, wide enough to hold its values. */
  function withGrids(graph: Graph): { graph: Graph; outputGrid: QuantGrid } {
    const grid = (range: number): QuantGrid => ({ scale: range / 255, zeroPoint: 128, qmin: 0, qmax: 255 });
    graph.inputGrid = grid(4);
    graph.stem.outputGrid = grid(12);
    for (const block of graph.blocks) {
      if (block.expand) block.expand.outputGrid = grid(12);
      block.depthwise.outputGrid = grid(12);
      block.project.outputGrid = grid(16);
      if (block.residual) block.residualGrid = grid(20);
    }
    if (graph.head) graph.head.outputGrid = grid(12);
    if (graph.pool) graph.pool.outputGrid = grid(8);
    if (graph.classifier) {
      // An importer sets both: the classifier's own output grid is the grid of the logits.
      graph.classifier.logitsGrid = grid(16);
      graph.classifier.outputGrid = graph.classifier.logitsGrid;
    }
    return { graph, outputGrid: { scale: 1 / 256, zeroPoint: 0, qmin: 0, qmax: 255 } };
  }

  /** Rounds every weighted layer's weights onto an int8 per-channel grid and records the scales. */
  function quantizeWeights(graph: Graph): void {
    const quantize = (layer: { weight: Float32Array; weightScales?: Float32Array }, outChannels: number) => {
      const scales = new Float32Array(outChannels);
      for (let i = 0; i < layer.weight.length; i++) {
        scales[i % outChannels] = Math.max(scales[i % outChannels], Math.abs(layer.weight[i]) / 127);
      }
      for (let i = 0; i < layer.weight.length; i++) {
        layer.weight[i] = Math.round(layer.weight[i] / scales[i % outChannels]) * scales[i % outChannels];
      }
      layer.weightScales = scales;
    };
    quantize(graph.stem, graph.stem.outChannels);
    for (const block of graph.blocks) {
      if (block.expand) quantize(block.expand, block.expand.outChannels);
      quantize(block.depthwise, block.depthwise.channels);
      quantize(block.project, block.project.outChannels);
    }
    if (graph.head) quantize(graph.head, graph.head.outChannels);
    if (graph.classifier) quantize(graph.classifier, graph.classifier.outChannels);
  }

  /** Folds BatchNorm into weight and bias in place, as a TFLite export does. */
  function foldAll(graph: Graph): void {
    const fold = (layer: { weight: Float32Array; bias: Float32Array | null; batchNorm?: import('../../src/graph/spec.js').BatchNorm }) => {
      const bn = layer.batchNorm;
      if (!bn) return;
      const channels = bn.gamma.length;
      const bias = new Float32Array(channels);
      for (let c = 0; c < channels; c++) {
        const scale = bn.gamma[c] / Math.sqrt(bn.variance[c] + bn.epsilon);
        bias[c] = (layer.bias ? layer.bias[c] : 0) * scale + bn.beta[c] - bn.mean[c] * scale;
        for (let i = c; i < layer.weight.length; i += channels) layer.weight[i] *= scale;
      }
      layer.bias = bias;
      delete layer.batchNorm;
    };
    fold(graph.stem);
    for (const block of graph.blocks) {
      if (block.expand) fold(block.expand);
      fold(block.depthwise);
      fold(block.project);
    }
    if (graph.head) fold(graph.head);
  }

  test.each(BUILDS)('integer pipeline follows the grid reference (%s)', async (build) => {
    const architecture = efficientNetArchitecture('lite0', { numClasses: 10, scaling: { width: 0.25, depth: 0.34, resolution: 32 } });
    const graph = randomGraph(architecture, 31);
    foldAll(graph);
    quantizeWeights(graph);
    // Logits, so the comparison is in logit steps rather than amplified by softmax.
    graph.classifier!.output = 'logits';
    const { outputGrid } = withGrids(graph);
    const step = graph.classifier!.logitsGrid!.scale;
    const description = { ...describeGraph(graph), quantized: true, outputGrid };
    const model = await createModel(description, buildOptions(build));
    expect(model.info.integerPipeline).toBe(true);
    const input = randomInput(32 * 32 * 3, 32);
    const ours = model.predict(input);
    const expected = referenceForward(graph, input, 32, 32, { quantizationGrid: true, outputGrid });
    let worst = 0;
    for (let i = 0; i < ours.length; i++) {
      expect(Number.isFinite(ours[i]), `output ${i} is finite`).toBe(true);
      worst = Math.max(worst, Math.abs(ours[i] - expected[i]) / step);
    }
    console.log(`integer pipeline (${build}): largest difference from the f64 grid reference ${worst.toFixed(2)} logit steps`);
    // The f64 reference rounds exact real values and the pipeline rounds f32 products, so a value
    // within float error of a rounding boundary may land one step apart and carry that forward.
    expect(worst).toBeLessThanOrEqual(1.001);
    model.dispose();
  });

  test.each(BUILDS)('outputs land on the grid (%s)', async (build) => {
    const architecture = efficientNetArchitecture('lite0', { numClasses: 10, scaling: { width: 0.25, depth: 0.34, resolution: 32 } });
    const { graph, outputGrid } = withGrids(randomGraph(architecture, 21));
    const description = { ...describeGraph(graph), quantized: true, outputGrid };
    const model = await createModel(description, buildOptions(build));
    const input = randomInput(32 * 32 * 3, 22);
    const ours = model.predict(input);
    const expected = referenceForward(graph, input, 32, 32, { quantizationGrid: true, outputGrid });
    for (let i = 0; i < ours.length; i++) {
      const q = ours[i] * 256;
      expect(Math.abs(q - Math.round(q)), `output ${i} = ${ours[i]} is not on the 1/256 grid`).toBeLessThan(1e-3);
      // A value that lands on a rounding boundary may fall one step apart; more would be a bug.
      expect(Math.abs(ours[i] - expected[i]), `output ${i}: ours ${ours[i]}, reference ${expected[i]}`).toBeLessThanOrEqual(2 / 256 + 1e-6);
    }
    model.dispose();

    const float = await createModel(description, { ...buildOptions(build), quantizationGrid: false });
    const plain = float.predict(input);
    expectClose(plain, referenceForward(graph, input, 32, 32, { quantizationGrid: false }), `grid off (${build})`);
    float.dispose();
  });
});

describe('Model lifecycle and errors', () => {
  const graph = () => randomGraph(efficientNetArchitecture('b0', { numClasses: 3, scaling: { width: 0.25, depth: 0.34, resolution: 16 } }), 1);

  test('disposed model rejects calls', async () => {
    const model = await createModel(describeGraph(graph(), 'tiny'));
    model.dispose();
    expect(() => model.predict(new Float32Array(16 * 16 * 3))).toThrow('tiny was disposed; load the model again to use it.');
    expect(() => model.info).toThrow(/was disposed/);
  });

  test('wrong input length is rejected', async () => {
    const model = await createModel(describeGraph(graph()));
    expect(() => model.predict(new Float32Array(10))).toThrow('Invalid input length: a 16x16x3 tensor has 768 values, but got 10.');
    expect(() => model.predict(new Float32Array(20 * 20 * 3), { height: 20, width: 20 })).toThrow(
      'Invalid input height: this model takes 16 pixels, but got 20. Resize the image first.',
    );
  });

  test('inconsistent graph fails to load', async () => {
    const broken = graph();
    broken.blocks[2].project.weight = new Float32Array(5);
    await expect(createModel(describeGraph(broken))).rejects.toThrow(/Invalid model graph at block 2 project: the weight size must be \d+, but got 5/);
    const chained = graph();
    chained.blocks[1].inChannels += 1;
    await expect(createModel(describeGraph(chained))).rejects.toThrow(/Invalid model graph at block 1: the input channel count must be/);
  });

  test('info describes the model', async () => {
    const model = await createModel(describeGraph(graph(), 'tiny'), { wasmPath: 'scalar' });
    const info = model.info;
    expect(info.name).toBe('tiny');
    expect(info.inputSize).toEqual({ height: 16, width: 16 });
    expect(info.numClasses).toBe(3);
    expect(info.wasmPath).toBe('scalar');
    expect(info.parameters).toBeGreaterThan(0);
  });
});
