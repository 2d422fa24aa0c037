import type { Activation, BatchNorm, Graph, MBConvBlock, PointwiseLayer } from './spec.js';

/** Built-in EfficientNet variants. */
export const EFFICIENTNET_VARIANTS = [
  'b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7',
  'lite0', 'lite1', 'lite2', 'lite3', 'lite4',
] as const;
export type EfficientNetVariant = (typeof EFFICIENTNET_VARIANTS)[number];

/** Width, depth and resolution of one variant under compound scaling. */
export interface ScalingCoefficients {
  width: number;
  depth: number;
  resolution: number;
}

export const COMPOUND_SCALING: Readonly<Record<EfficientNetVariant, ScalingCoefficients>> = {
  b0: { width: 1.0, depth: 1.0, resolution: 224 },
  b1: { width: 1.0, depth: 1.1, resolution: 240 },
  b2: { width: 1.1, depth: 1.2, resolution: 260 },
  b3: { width: 1.2, depth: 1.4, resolution: 300 },
  b4: { width: 1.4, depth: 1.8, resolution: 380 },
  b5: { width: 1.6, depth: 2.2, resolution: 456 },
  b6: { width: 1.8, depth: 2.6, resolution: 528 },
  b7: { width: 2.0, depth: 3.1, resolution: 600 },
  lite0: { width: 1.0, depth: 1.0, resolution: 224 },
  lite1: { width: 1.0, depth: 1.1, resolution: 240 },
  lite2: { width: 1.1, depth: 1.2, resolution: 260 },
  lite3: { width: 1.2, depth: 1.4, resolution: 280 },
  lite4: { width: 1.4, depth: 1.8, resolution: 300 },
};

/** One stage of the unscaled EfficientNet-B0 (the MnasNet-like baseline). */
interface StageArguments {
  kernel: number;
  repeats: number;
  inChannels: number;
  outChannels: number;
  expandRatio: number;
  stride: number;
}

const B0_STAGES: readonly StageArguments[] = [
  { kernel: 3, repeats: 1, inChannels: 32, outChannels: 16, expandRatio: 1, stride: 1 },
  { kernel: 3, repeats: 2, inChannels: 16, outChannels: 24, expandRatio: 6, stride: 2 },
  { kernel: 5, repeats: 2, inChannels: 24, outChannels: 40, expandRatio: 6, stride: 2 },
  { kernel: 3, repeats: 3, inChannels: 40, outChannels: 80, expandRatio: 6, stride: 2 },
  { kernel: 5, repeats: 3, inChannels: 80, outChannels: 112, expandRatio: 6, stride: 1 },
  { kernel: 5, repeats: 4, inChannels: 112, outChannels: 192, expandRatio: 6, stride: 2 },
  { kernel: 3, repeats: 1, inChannels: 192, outChannels: 320, expandRatio: 6, stride: 1 },
];

const STEM_CHANNELS = 32;
const HEAD_CHANNELS = 1280;
const SE_RATIO = 0.25;
const CHANNEL_DIVISOR = 8;

/** Shape of one MBConv block, without weights. */
export interface BlockArchitecture {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  expandRatio: number;
  /** Channels of the squeeze-excite bottleneck, 0 for none. */
  seChannels: number;
  activation: Activation;
  residual: boolean;
}

/** Shape of a whole MBConv network, without weights. */
export interface Architecture {
  name: string;
  resolution: number;
  activation: Activation;
  stemChannels: number;
  blocks: BlockArchitecture[];
  headChannels: number;
  /** 0 for a network without a classifier (the pooled features are the output). */
  numClasses: number;
}

export interface ArchitectureOptions {
  /** Classifier size; 1000 by default, 0 for no classifier. */
  numClasses?: number;
  /** Overrides the variant's coefficients, for custom or test-sized networks. */
  scaling?: Partial<ScalingCoefficients>;
}

/**
 * Scales a channel count by the width coefficient and rounds it to a multiple
 * of 8, never going below 90 % of the scaled value.
 */
export function roundChannels(channels: number, width: number, divisor = CHANNEL_DIVISOR): number {
  const scaled = channels * width;
  let rounded = Math.max(divisor, Math.floor((scaled + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * scaled) rounded += divisor;
  return rounded;
}

/** Scales a stage's repeat count by the depth coefficient, rounding up. */
export function roundRepeats(repeats: number, depth: number): number {
  return Math.ceil(depth * repeats);
}

/**
 * Returns the architecture of an EfficientNet variant by compound scaling of B0.
 * Lite variants use ReLU6, have no squeeze-excite, and keep the stem, the head
 * and the repeats of the first and last stages fixed while scaling.
 */
export function efficientNetArchitecture(variant: EfficientNetVariant, options: ArchitectureOptions = {}): Architecture {
  if (!EFFICIENTNET_VARIANTS.includes(variant)) {
    throw new Error(
      `Unknown EfficientNet variant ${JSON.stringify(variant)}: expected one of ${EFFICIENTNET_VARIANTS.join(', ')}.`,
    );
  }
  const scaling = { ...COMPOUND_SCALING[variant], ...options.scaling };
  const lite = variant.startsWith('lite');
  const activation: Activation = lite ? 'relu6' : 'swish';
  const numClasses = options.numClasses ?? 1000;
  if (!Number.isInteger(numClasses) || numClasses < 0) {
    throw new Error(`Invalid numClasses: expected a non-negative integer, but got ${numClasses}.`);
  }

  const stemChannels = lite ? STEM_CHANNELS : roundChannels(STEM_CHANNELS, scaling.width);
  const blocks: BlockArchitecture[] = [];
  let previousChannels = stemChannels;
  B0_STAGES.forEach((stage, index) => {
    const fixed = lite && (index === 0 || index === B0_STAGES.length - 1);
    const repeats = fixed ? stage.repeats : roundRepeats(stage.repeats, scaling.depth);
    const outChannels = roundChannels(stage.outChannels, scaling.width);
    for (let repeat = 0; repeat < repeats; repeat++) {
      const inChannels = previousChannels;
      const stride = repeat === 0 ? stage.stride : 1;
      blocks.push({
        inChannels,
        outChannels,
        kernel: stage.kernel,
        stride,
        expandRatio: stage.expandRatio,
        seChannels: lite ? 0 : Math.max(1, Math.floor(inChannels * SE_RATIO)),
        activation,
        residual: stride === 1 && inChannels === outChannels,
      });
      previousChannels = outChannels;
    }
  });

  return {
    name: `efficientnet-${variant}`,
    resolution: scaling.resolution,
    activation,
    stemChannels,
    blocks,
    headChannels: lite ? HEAD_CHANNELS : roundChannels(HEAD_CHANNELS, scaling.width),
    numClasses,
  };
}

/** Supplies a weight tensor of a given shape for a named parameter. */
export type WeightSource = (name: string, shape: number[], kind: 'kernel' | 'bias' | 'gamma' | 'beta' | 'mean' | 'variance') => Float32Array;

/**
 * Builds a graph from an architecture, taking every parameter from source.
 * Convolutions have no bias and are followed by BatchNorm (epsilon 1e-3, as in
 * Keras); squeeze-excite convolutions and the classifier have biases.
 */
export function buildGraph(architecture: Architecture, source: WeightSource, batchNormEpsilon = 1e-3): Graph {
  const batchNorm = (prefix: string, channels: number): BatchNorm => ({
    gamma: source(`${prefix}/gamma`, [channels], 'gamma'),
    beta: source(`${prefix}/beta`, [channels], 'beta'),
    mean: source(`${prefix}/moving_mean`, [channels], 'mean'),
    variance: source(`${prefix}/moving_variance`, [channels], 'variance'),
    epsilon: batchNormEpsilon,
  });
  const pointwise = (prefix: string, inChannels: number, outChannels: number, activation: Activation, withBatchNorm: boolean): PointwiseLayer => ({
    inChannels,
    outChannels,
    activation,
    weight: source(`${prefix}/kernel`, [inChannels, outChannels], 'kernel'),
    bias: withBatchNorm ? null : source(`${prefix}/bias`, [outChannels], 'bias'),
    ...(withBatchNorm ? { batchNorm: batchNorm(`${prefix}_bn`, outChannels) } : {}),
  });

  const { activation } = architecture;
  const stemChannels = architecture.stemChannels;
  const blocks: MBConvBlock[] = architecture.blocks.map((block, index) => {
    const prefix = `block${index}`;
    const mid = block.inChannels * block.expandRatio;
    return {
      inChannels: block.inChannels,
      outChannels: block.outChannels,
      expand: block.expandRatio === 1 ? null : pointwise(`${prefix}_expand`, block.inChannels, mid, activation, true),
      depthwise: {
        kernel: block.kernel,
        stride: block.stride,
        padding: 'same',
        channels: mid,
        activation,
        weight: source(`${prefix}_dwconv/depthwise_kernel`, [block.kernel, block.kernel, mid], 'kernel'),
        bias: null,
        batchNorm: batchNorm(`${prefix}_dwconv_bn`, mid),
      },
      se: block.seChannels === 0 ? null : {
        reduce: pointwise(`${prefix}_se_reduce`, mid, block.seChannels, activation, false),
        expand: pointwise(`${prefix}_se_expand`, block.seChannels, mid, 'sigmoid', false),
      },
      project: pointwise(`${prefix}_project`, mid, block.outChannels, 'linear', true),
      residual: block.residual,
    };
  });

  const lastChannels = blocks.length ? blocks[blocks.length - 1].outChannels : stemChannels;
  return {
    inputHeight: architecture.resolution,
    inputWidth: architecture.resolution,
    inputChannels: 3,
    stem: {
      kernel: 3,
      stride: 2,
      padding: 'same',
      inChannels: 3,
      outChannels: stemChannels,
      activation,
      weight: source('stem_conv/kernel', [3, 3, 3, stemChannels], 'kernel'),
      bias: null,
      batchNorm: batchNorm('stem_bn', stemChannels),
    },
    blocks,
    head: pointwise('top_conv', lastChannels, architecture.headChannels, activation, true),
    pool: { type: 'avg' },
    classifier: architecture.numClasses === 0 ? null : {
      ...pointwise('predictions', architecture.headChannels, architecture.numClasses, 'linear', false),
      output: 'softmax',
    },
  };
}

/** A seeded generator of uniform floats in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomGraphOptions {
  /**
   * Variance of each kernel in units of 1/fanIn. 1 keeps a linear layer's output
   * scale. Swish and squeeze-excite shrink the signal, so deep swish networks
   * need about 2 before their output depends on the input.
   */
  gain?: number;
}

/**
 * Builds a graph with seeded random weights: kernels uniform with variance
 * gain/fanIn and BatchNorm statistics near identity. For benchmarks and tests,
 * not for predictions.
 */
export function randomGraph(architecture: Architecture, seed = 1, options: RandomGraphOptions = {}): Graph {
  const random = seededRandom(seed);
  const gain = options.gain ?? 1;
  const uniform = (low: number, high: number) => low + (high - low) * random();
  return buildGraph(architecture, (name, shape, kind) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(count);
    // Depthwise kernels [k, k, C] have a fan-in of k*k, the others [..., in, out] of all but the last axis.
    const fanIn = name.includes('depthwise') ? shape[0] * shape[1] : count / shape[shape.length - 1];
    const limit = Math.sqrt((3 * gain) / fanIn);
    for (let i = 0; i < count; i++) {
      switch (kind) {
        case 'kernel': values[i] = uniform(-limit, limit); break;
        case 'bias': values[i] = uniform(-0.1, 0.1); break;
        case 'gamma': values[i] = uniform(0.5, 1.5); break;
        case 'beta': values[i] = uniform(-0.2, 0.2); break;
        case 'mean': values[i] = uniform(-0.2, 0.2); break;
        case 'variance': values[i] = uniform(0.5, 1.5); break;
      }
    }
    return values;
  });
}
