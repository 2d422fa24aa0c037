/**
 * Whole-network parity with TensorFlow.js: the same randomly initialised
 * graphs run through tfjs-layers (BatchNorm unfolded, Keras layout, built by
 * test/support/tfjs-efficientnet.ts) and through createModel on every kernel
 * build that the runtime validates (BUILDS in test/support/buffers.ts). Every
 * output must agree within LOGIT_TOLERANCE.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  efficientNetArchitecture,
  randomGraph,
  seededRandom,
  type ArchitectureOptions,
  type EfficientNetVariant,
} from '../../src/graph/configs.js';
import type { Activation, Graph, PointwiseLayer } from '../../src/graph/spec.js';
import { createModel } from '../../src/model.js';
import { BUILDS, buildOptions, buildPath, type TestBuild } from '../support/buffers.js';
import { buildTfjsModel } from '../support/tfjs-efficientnet.js';
import { describeGraph } from '../support/graphs.js';

/** Maximum |ours - tfjs| of a logit, relative to max(1, |tfjs logit|). */
const LOGIT_TOLERANCE = 1e-4;

/**
 * Smallest relative change of the largest-moving logit when the input is
 * replaced by a second random input, so that errors in early layers reach the
 * logits above LOGIT_TOLERANCE.
 */
const MIN_INPUT_SENSITIVITY = 50 * LOGIT_TOLERANCE;

/**
 * Variance gain of the kernels over randomGraph's 1/fanIn. With 1/fanIn, a
 * swish network loses most of its signal in every block, because swish has
 * slope 1/2 near zero and the squeeze-excite gates sit near sigmoid(0) = 1/2.
 * The B0 logits then move by under 1e-5 when the input changes, so an error in
 * the stem would pass. Too much gain makes the network chaotic instead: with
 * gain 2.2 on B0, the simd and scalar builds already differ by 12 times
 * LOGIT_TOLERANCE. These values were measured on the seeds below with
 * createModel, and expectInputSensitive checks the lower side on every run.
 */
const SWISH_KERNEL_GAIN = 1.8;
/** Hard swish keeps less signal than swish, so the small hard-swish network (depth 0.5) needs more gain. */
const HARDSWISH_KERNEL_GAIN = 2.2;
/** ReLU6 and ReLU networks keep enough signal at randomGraph's own scale. */
const RELU_KERNEL_GAIN = 1;

const WEIGHT_SEED = 20250611;
const INPUT_SEED = 977;

// The pure-JavaScript CPU backend is the only tfjs backend that runs here:
// tfjs-node needs native binaries and is not a dependency, and the webgl
// backend needs a browser. Setting it explicitly keeps tfjs from probing others.
beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

afterAll(() => {
  expect(tf.memory().numTensors, 'tfjs tensors left undisposed after the parity tests').toBe(0);
});

/** Draws count roughly standard normal values (Box-Muller over a seeded uniform source). */
function seededNormal(count: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    values[i] = radius * Math.cos(angle);
    if (i + 1 < count) values[i + 1] = radius * Math.sin(angle);
  }
  return values;
}

/** Returns a copy of graph whose classifier returns logits or probabilities. */
function withOutput(graph: Graph, output: 'logits' | 'softmax'): Graph {
  if (!graph.classifier) throw new Error('Invalid graph for withOutput: the classifier is null, but setting an output needs one.');
  return { ...graph, classifier: { ...graph.classifier, output } };
}

/** Fields that every layer of a graph has (stem, block layers, head and classifier). */
type AnyLayer = { activation: Activation; weight: Float32Array };

/** Returns a copy of graph with map applied to every layer. To change a layer, map must return a new object. */
function mapLayers(graph: Graph, map: <T extends AnyLayer>(layer: T) => T): Graph {
  const mapOrNull = (layer: PointwiseLayer | null) => (layer ? map(layer) : null);
  return {
    ...graph,
    stem: map(graph.stem),
    blocks: graph.blocks.map((block) => ({
      ...block,
      expand: mapOrNull(block.expand),
      depthwise: map(block.depthwise),
      se: block.se ? { reduce: map(block.se.reduce), expand: map(block.se.expand) } : null,
      project: map(block.project),
    })),
    head: mapOrNull(graph.head),
    classifier: graph.classifier ? map(graph.classifier) : null,
  };
}

/** Returns a copy of graph in which every layer with activation from uses to instead. */
function withActivation(graph: Graph, from: Activation, to: Activation): Graph {
  return mapLayers(graph, (layer) => (layer.activation === from ? { ...layer, activation: to } : layer));
}

/** Returns a copy of graph with every convolution and dense weight multiplied by factor (biases and BatchNorm unchanged). */
function scaleKernels(graph: Graph, factor: number): Graph {
  if (factor === 1) return graph;
  return mapLayers(graph, (layer) => ({ ...layer, weight: layer.weight.map((value) => value * factor) }));
}

/** Outputs of one batched tfjs prediction, one row per input. */
interface Reference {
  /** Final output of the model, per input. */
  rows: Float32Array[];
  /** Outputs of the layers named in taps, per input, with the batched shape. */
  taps: Map<string, { rows: Float32Array[]; shape: number[] }>;
}

/**
 * Builds the tfjs model of graph, runs all inputs ([height, width, 3] each) in
 * one batched prediction, and disposes every tensor and the model. Layers
 * named in taps become extra outputs of the same prediction.
 */
function predictReference(graph: Graph, network: string, inputs: Float32Array[], height: number, width: number, taps: string[] = []): Reference {
  const { model } = buildTfjsModel(graph, network);
  let all: tf.LayersModel = model;
  const batch = new Float32Array(inputs.length * height * width * 3);
  inputs.forEach((input, index) => batch.set(input, index * input.length));
  const x = tf.tensor4d(batch, [inputs.length, height, width, 3]);
  try {
    if (taps.length > 0) {
      const tapped = taps.map((name) => model.getLayer(name).output as tf.SymbolicTensor);
      all = tf.model({ inputs: model.inputs, outputs: [model.outputs[0], ...tapped] });
    }
    const result = all.predict(x);
    const outputs = Array.isArray(result) ? result : [result];
    try {
      const split = outputs.map((tensor) => {
        const values = tensor.dataSync();
        const rowLength = values.length / inputs.length;
        const rows = inputs.map((_, index) => Float32Array.from(values.subarray(index * rowLength, (index + 1) * rowLength)));
        return { rows, shape: tensor.shape };
      });
      return { rows: split[0].rows, taps: new Map(taps.map((name, index) => [name, split[index + 1]])) };
    } finally {
      tf.dispose(outputs);
    }
  } finally {
    x.dispose();
    // Disposing a LayersModel disposes its layers, and the tapped model shares every layer with model, so one call frees them.
    all.dispose();
  }
}

interface Comparison {
  network: string;
  build: string;
  seed: number;
  /** Allowed |actual - expected| at one index. */
  allowed: (expected: number, index: number) => number;
}

/**
 * Checks that both outputs are finite and agree element by element, and
 * prints the largest difference seen and its index.
 */
function expectClose(actual: Float32Array, expected: Float32Array, comparison: Comparison): void {
  const { network, build, seed } = comparison;
  const context = `${network}, ${build} build, weight seed ${seed}, input seed ${INPUT_SEED}`;
  expect(actual.length, `${context}: output length`).toBe(expected.length);

  const nonFiniteExpected = expected.findIndex((value) => !Number.isFinite(value));
  expect(nonFiniteExpected, `${context}: tfjs output at index ${nonFiniteExpected} is ${expected[nonFiniteExpected]}`).toBe(-1);
  const nonFiniteActual = actual.findIndex((value) => !Number.isFinite(value));
  expect(nonFiniteActual, `${context}: our output at index ${nonFiniteActual} is ${actual[nonFiniteActual]}`).toBe(-1);

  let largestDifference = 0;
  let largestIndex = 0;
  let worstRatio = 0;
  let worstIndex = 0;
  for (let i = 0; i < expected.length; i++) {
    const difference = Math.abs(actual[i] - expected[i]);
    if (difference > largestDifference) {
      largestDifference = difference;
      largestIndex = i;
    }
    const ratio = difference / comparison.allowed(expected[i], i);
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worstIndex = i;
    }
  }
  console.log(
    `${context}: largest |difference| ${largestDifference.toExponential(3)} at index ${largestIndex} ` +
      `(ours ${actual[largestIndex]}, tfjs ${expected[largestIndex]}); ` +
      `largest difference / tolerance ${worstRatio.toFixed(4)} at index ${worstIndex}`,
  );
  expect(
    worstRatio,
    `${context}: index ${worstIndex} differs by ${Math.abs(actual[worstIndex] - expected[worstIndex])}, ` +
      `more than the allowed ${comparison.allowed(expected[worstIndex], worstIndex)} ` +
      `(ours ${actual[worstIndex]}, tfjs ${expected[worstIndex]})`,
  ).toBeLessThanOrEqual(1);
}

const logitTolerance = (expected: number) => LOGIT_TOLERANCE * Math.max(1, Math.abs(expected));

/**
 * Checks that replacing the input by a second random input moves some logit
 * by at least MIN_INPUT_SENSITIVITY relative to max(1, |logit|). Below that,
 * an error in the early layers would change the logits by less than the
 * tolerance and the parity checks could not see it.
 */
function expectInputSensitive(network: string, seed: number, logits: Float32Array, secondLogits: Float32Array): void {
  let largestChange = 0;
  let largestIndex = 0;
  for (let i = 0; i < logits.length; i++) {
    const change = Math.abs(logits[i] - secondLogits[i]) / Math.max(1, Math.abs(logits[i]));
    if (change > largestChange) {
      largestChange = change;
      largestIndex = i;
    }
  }
  console.log(`${network}, weight seed ${seed}: a second input moves logit ${largestIndex} by ${largestChange.toExponential(3)} (relative)`);
  expect(
    largestChange,
    `${network}, weight seed ${seed}: the tfjs logits barely depend on the input (largest relative change ` +
      `${largestChange} at index ${largestIndex}), so the parity checks cannot see errors in early layers. ` +
      'Raise the kernel gain of this network.',
  ).toBeGreaterThanOrEqual(MIN_INPUT_SENSITIVITY);
}

/** Runs our model on one build and returns its output, disposing the model. */
async function predictOurs(graph: Graph, name: string, build: TestBuild, input: Float32Array, height: number, width: number): Promise<Float32Array> {
  const model = await createModel(describeGraph(graph, name), buildOptions(build));
  try {
    expect(model.info.wasmPath, `${name}: kernel build in use`).toBe(buildPath(build));
    return model.predict(input, { height, width });
  } finally {
    model.dispose();
  }
}

/** Builds a random EfficientNet graph with logits output and its kernels scaled by sqrt(gain). */
function parityGraph(variant: EfficientNetVariant, options: ArchitectureOptions, seed: number, gain: number): Graph {
  return withOutput(scaleKernels(randomGraph(efficientNetArchitecture(variant, options), seed), Math.sqrt(gain)), 'logits');
}

describe('EfficientNet-B0 against tfjs', () => {
  const network = 'efficientnet-b0';
  const graph = parityGraph('b0', { numClasses: 1000 }, WEIGHT_SEED, SWISH_KERNEL_GAIN);
  const size = 224;
  const inputs = [seededNormal(size * size * 3, INPUT_SEED), seededNormal(size * size * 3, INPUT_SEED + 1)];
  let expectedLogits: Float32Array[];
  let expectedProbabilities: Float32Array[];

  beforeAll(() => {
    // One tfjs prediction gives both outputs: the model ends in softmax and
    // a tap on the Dense layer before it returns the logits.
    const reference = predictReference(withOutput(graph, 'softmax'), network, inputs, size, size, ['predictions']);
    expectedProbabilities = reference.rows;
    expectedLogits = reference.taps.get('predictions')!.rows;
  });

  it('tfjs logits depend on the input', () => {
    expectInputSensitive(network, WEIGHT_SEED, expectedLogits[0], expectedLogits[1]);
  });

  it.each(BUILDS)('logits match on the %s build', async (build) => {
    const actual = await predictOurs(graph, network, build, inputs[0], size, size);
    expectClose(actual, expectedLogits[0], { network, build, seed: WEIGHT_SEED, allowed: logitTolerance });
  });

  it.each(BUILDS)('probabilities match on the %s build', async (build) => {
    // When every logit z_j moves by at most LOGIT_TOLERANCE * max(1, |z_j|),
    // log p_i moves by at most twice the largest of those bounds, so p_i may
    // move by about that much relative to p_i itself.
    const largestLogit = expectedLogits[0].reduce((max, value) => Math.max(max, Math.abs(value)), 0);
    const relative = 2 * LOGIT_TOLERANCE * Math.max(1, largestLogit);
    const actual = await predictOurs(withOutput(graph, 'softmax'), network, build, inputs[0], size, size);
    expectClose(actual, expectedProbabilities[0], {
      network: `${network} softmax`,
      build,
      seed: WEIGHT_SEED,
      allowed: (expected) => relative * expected,
    });
  });
});

interface SmallNetwork {
  network: string;
  seed: number;
  graph: (seed: number) => Graph;
}

const SMALL = { numClasses: 37, scaling: { width: 0.5, depth: 0.5, resolution: 96 } };

const SMALL_NETWORKS: SmallNetwork[] = [
  {
    network: 'b0 at width 0.5, depth 0.5, 96x96 (swish, squeeze-excite)',
    seed: WEIGHT_SEED + 1,
    graph: (seed) => parityGraph('b0', SMALL, seed, SWISH_KERNEL_GAIN),
  },
  {
    network: 'lite0 at width 0.5, depth 0.5, 96x96 (relu6, no squeeze-excite)',
    seed: WEIGHT_SEED + 2,
    graph: (seed) => parityGraph('lite0', SMALL, seed, RELU_KERNEL_GAIN),
  },
  {
    // No built-in variant uses hard swish or plain ReLU, so these two swap them in.
    network: 'b0 at width 0.5, depth 0.5, 96x96 with hardswish',
    seed: WEIGHT_SEED + 3,
    graph: (seed) => withActivation(parityGraph('b0', SMALL, seed, HARDSWISH_KERNEL_GAIN), 'swish', 'hardswish'),
  },
  {
    network: 'lite0 at width 0.5, depth 0.5, 96x96 with relu',
    seed: WEIGHT_SEED + 4,
    graph: (seed) => withActivation(parityGraph('lite0', SMALL, seed, RELU_KERNEL_GAIN), 'relu6', 'relu'),
  },
];

describe.each(SMALL_NETWORKS)('$network against tfjs', ({ network, seed, graph: makeGraph }) => {
  const graph = makeGraph(seed);
  const size = SMALL.scaling.resolution;
  const inputs = [seededNormal(size * size * 3, INPUT_SEED), seededNormal(size * size * 3, INPUT_SEED + 1)];
  let expectedLogits: Float32Array[];

  beforeAll(() => {
    expectedLogits = predictReference(graph, network, inputs, size, size).rows;
  });

  it('tfjs logits depend on the input', () => {
    expectInputSensitive(network, seed, expectedLogits[0], expectedLogits[1]);
  });

  it.each(BUILDS)('logits match on the %s build', async (build) => {
    const actual = await predictOurs(graph, network, build, inputs[0], size, size);
    expectClose(actual, expectedLogits[0], { network, build, seed, allowed: logitTolerance });
  });
});

describe('EfficientNet-B0 with any input size against tfjs', () => {
  const network = 'efficientnet-b0, any-size input, 193x257';
  const graph: Graph = {
    ...parityGraph('b0', { numClasses: 1000 }, WEIGHT_SEED, SWISH_KERNEL_GAIN),
    inputHeight: null,
    inputWidth: null,
  };
  const height = 193;
  const width = 257;
  const inputs = [seededNormal(height * width * 3, INPUT_SEED), seededNormal(height * width * 3, INPUT_SEED + 1)];
  let reference: Reference;

  beforeAll(() => {
    // The stem and head outputs come from the same prediction, to check the odd sizes the SAME rule produces.
    reference = predictReference(graph, network, inputs, height, width, ['stem_activation', 'top_activation']);
  });

  it('tfjs feature maps run from 97x129 down to 7x9', () => {
    expect(reference.taps.get('stem_activation')!.shape).toEqual([inputs.length, 97, 129, 32]);
    expect(reference.taps.get('top_activation')!.shape).toEqual([inputs.length, 7, 9, 1280]);
  });

  it('tfjs logits depend on the input', () => {
    expectInputSensitive(network, WEIGHT_SEED, reference.rows[0], reference.rows[1]);
  });

  it.each(BUILDS)('logits match on the %s build', async (build) => {
    const actual = await predictOurs(graph, network, build, inputs[0], height, width);
    expectClose(actual, reference.rows[0], { network, build, seed: WEIGHT_SEED, allowed: logitTolerance });
  });
});
