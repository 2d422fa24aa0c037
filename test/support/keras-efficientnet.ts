/**
 * Builds TensorFlow.js LayersModels laid out exactly like Keras's
 * `tf.keras.applications.EfficientNetB0`..`B7` (tf_keras/applications/efficientnet.py
 * in tf-keras): the same layer classes, names, order and wiring, with seeded
 * random weights. It also writes them as TensorFlow.js LayersModel files
 * (model.json and binary shards). The weights can be float32 or in the
 * converter's float16, uint8 and uint16 encodings, and model.json can take
 * the Keras 3 JSON shape. Tests load these files with our package and
 * compare with tfjs predicting on the same model.
 *
 * The models follow Keras's `weights=None` path unless `imagenetRescaling`
 * adds the third Rescaling layer that Keras puts after Normalization
 * for `weights='imagenet'`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import * as tf from '@tensorflow/tfjs';

import { expect } from 'vitest';

import { Random } from './prng.js';

export type KerasVariant = 'b0' | 'b1' | 'b2' | 'b3' | 'b4' | 'b5' | 'b6' | 'b7';

/** Compound scaling and top dropout rate of each Keras application. */
export const KERAS_SCALING: Readonly<Record<KerasVariant, { width: number; depth: number; resolution: number; dropout: number }>> = {
  b0: { width: 1.0, depth: 1.0, resolution: 224, dropout: 0.2 },
  b1: { width: 1.0, depth: 1.1, resolution: 240, dropout: 0.2 },
  b2: { width: 1.1, depth: 1.2, resolution: 260, dropout: 0.3 },
  b3: { width: 1.2, depth: 1.4, resolution: 300, dropout: 0.3 },
  b4: { width: 1.4, depth: 1.8, resolution: 380, dropout: 0.4 },
  b5: { width: 1.6, depth: 2.2, resolution: 456, dropout: 0.4 },
  b6: { width: 1.8, depth: 2.6, resolution: 528, dropout: 0.5 },
  b7: { width: 2.0, depth: 3.1, resolution: 600, dropout: 0.5 },
};

/**
 * Keras's `model.count_params()` of each application with its 1000-class
 * top. The totals include the 7 weights of Normalization (mean 3, variance 3,
 * count 1).
 */
export const KERAS_PARAMETER_COUNTS: Readonly<Record<KerasVariant, number>> = {
  b0: 5_330_571,
  b1: 7_856_239,
  b2: 9_177_569,
  b3: 12_320_535,
  b4: 19_466_823,
  b5: 30_562_527,
  b6: 43_265_143,
  b7: 66_658_687,
};

/** Weights of Normalization in Keras 2's form: mean [3], variance [3] and a scalar count. */
export const NORMALIZATION_WEIGHT_COUNT = 7;

/** ImageNet channel means, the mean of Keras's EfficientNet Normalization. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
/**
 * Keras's EfficientNet Normalization stores the ImageNet standard deviations
 * as its variance, so it divides by their square roots.
 */
export const IMAGENET_VARIANCE = [0.229, 0.224, 0.225];

/** One stage of DEFAULT_BLOCKS_ARGS in Keras's efficientnet.py. */
interface StageArgs {
  kernel: number;
  repeats: number;
  filtersIn: number;
  filtersOut: number;
  expandRatio: number;
  stride: 1 | 2;
  seRatio: number;
}

const DEFAULT_STAGES: readonly StageArgs[] = [
  { kernel: 3, repeats: 1, filtersIn: 32, filtersOut: 16, expandRatio: 1, stride: 1, seRatio: 0.25 },
  { kernel: 3, repeats: 2, filtersIn: 16, filtersOut: 24, expandRatio: 6, stride: 2, seRatio: 0.25 },
  { kernel: 5, repeats: 2, filtersIn: 24, filtersOut: 40, expandRatio: 6, stride: 2, seRatio: 0.25 },
  { kernel: 3, repeats: 3, filtersIn: 40, filtersOut: 80, expandRatio: 6, stride: 2, seRatio: 0.25 },
  { kernel: 5, repeats: 3, filtersIn: 80, filtersOut: 112, expandRatio: 6, stride: 1, seRatio: 0.25 },
  { kernel: 5, repeats: 4, filtersIn: 112, filtersOut: 192, expandRatio: 6, stride: 2, seRatio: 0.25 },
  { kernel: 3, repeats: 1, filtersIn: 192, filtersOut: 320, expandRatio: 6, stride: 1, seRatio: 0.25 },
];

/** Keras's drop_connect_rate: the residual Dropout rate grows linearly to this over the blocks. */
const DROP_CONNECT_RATE = 0.2;
const DEPTH_DIVISOR = 8;

/** Scales a filter count by width, rounds to a multiple of 8, and never goes more than 10 % below the scaled count. */
export function roundFilters(filters: number, width: number): number {
  const scaled = filters * width;
  let rounded = Math.max(DEPTH_DIVISOR, Math.floor((scaled + DEPTH_DIVISOR / 2) / DEPTH_DIVISOR) * DEPTH_DIVISOR);
  if (rounded < 0.9 * scaled) rounded += DEPTH_DIVISOR;
  return rounded;
}

/** Scales a stage's repeat count by depth, rounding up. */
export function roundRepeats(repeats: number, depth: number): number {
  return Math.ceil(depth * repeats);
}

/**
 * Returns Keras's correct_pad for a stride-2 convolution: [[top, bottom],
 * [left, right]] zero padding. An even or unknown (null) size is padded one
 * less at the start than at the end, an odd size evenly.
 */
export function correctPad(height: number | null, width: number | null, kernel: number): [[number, number], [number, number]] {
  const half = Math.floor(kernel / 2);
  // Keras looks only at the height to decide whether the size is unknown.
  const adjustHeight = height === null ? 1 : 1 - (height % 2);
  const adjustWidth = height === null || width === null ? 1 : 1 - (width % 2);
  return [
    [half - adjustHeight, half],
    [half - adjustWidth, half],
  ];
}

// ---------------------------------------------------------------------------
// Normalization, which tfjs-layers 4.22 lacks.

interface NormalizationArgs {
  name?: string;
  trainable?: boolean;
  dtype?: tf.DataType;
  /** Keras stores the normalized axes as a list, [3] for channels-last images. */
  axis?: number | number[];
  invert?: boolean;
  /** Per-channel mean and variance in the config; null keeps them as weights. */
  mean?: number[] | null;
  variance?: number[] | null;
}

/**
 * Keras's Normalization layer for channels-last input: (x - mean) /
 * max(sqrt(variance), 1e-7). With mean and variance in its config it has no
 * weights. Without them it has the weights mean [C], variance [C] and an
 * int32 scalar count, as Keras 2 saves an adapted layer. tfjs saves them as
 * `<name>/mean`, `<name>/variance` and `<name>/count`.
 */
export class KerasNormalization extends tf.layers.Layer {
  static className = 'Normalization';

  private readonly axis: number[];
  private readonly configMean: number[] | null;
  private readonly configVariance: number[] | null;
  private meanWeight: ReturnType<tf.layers.Layer['addWeight']> | null = null;
  private varianceWeight: ReturnType<tf.layers.Layer['addWeight']> | null = null;

  constructor(args: NormalizationArgs) {
    super(args);
    this.axis = args.axis === undefined ? [-1] : Array.isArray(args.axis) ? args.axis : [args.axis];
    if (args.invert) throw new Error('Invalid Normalization config: invert must be false, because only the forward form is built here.');
    this.configMean = args.mean ?? null;
    this.configVariance = args.variance ?? null;
    if ((this.configMean === null) !== (this.configVariance === null)) {
      throw new Error('Invalid Normalization config: mean and variance must both be set or both be null.');
    }
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const channels = shape[shape.length - 1];
    const lastAxis = shape.length - 1;
    if (this.axis.length !== 1 || (this.axis[0] !== -1 && this.axis[0] !== lastAxis) || channels === null) {
      throw new Error(`Invalid Normalization axis ${JSON.stringify(this.axis)}: only the last, known axis is supported here.`);
    }
    if (this.configMean === null) {
      this.meanWeight = this.addWeight('mean', [channels], 'float32', tf.initializers.zeros(), undefined, false);
      this.varianceWeight = this.addWeight('variance', [channels], 'float32', tf.initializers.ones(), undefined, false);
      this.addWeight('count', [], 'int32', tf.initializers.zeros(), undefined, false);
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const mean = this.meanWeight ? this.meanWeight.read() : tf.tensor1d(this.configMean!);
      const variance = this.varianceWeight ? this.varianceWeight.read() : tf.tensor1d(this.configVariance!);
      return tf.div(tf.sub(x, mean), tf.maximum(tf.sqrt(variance), 1e-7));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      axis: this.axis,
      invert: false,
      mean: this.configMean,
      variance: this.configVariance,
    };
  }
}
tf.serialization.registerClass(KerasNormalization);

// ---------------------------------------------------------------------------
// The network.

export interface KerasEfficientNetOptions {
  /** The Keras application name, e.g. efficientnetb0. */
  name?: string;
  /** Keras's include_top: GAP, top_dropout and the predictions Dense. Default true. */
  includeTop?: boolean;
  /** Keras's pooling when includeTop is false: 'avg', 'max' or null (the 4D feature map). */
  pooling?: 'avg' | 'max' | null;
  classes?: number;
  /** Activation of the predictions layer. Default 'softmax', as in Keras. */
  classifierActivation?: 'softmax' | 'linear';
  /** [height, width, channels]; null sizes accept any input size. Default the variant's resolution. */
  inputShape?: [number | null, number | null, 3];
  /** Name of the InputLayer: Keras 2 calls the first one input_1. */
  inputName?: string;
  /**
   * Where Normalization keeps the ImageNet statistics: 'config' (mean and
   * variance in the layer config) or 'weights' (mean, variance and count as
   * weights, the way Keras 2 saves the application). Default 'weights'.
   */
  normalization?: 'config' | 'weights';
  /**
   * Adds Keras's `rescaling_1` after Normalization, which multiplies each
   * channel by 1/sqrt(std) as `weights='imagenet'` builds it, so that the
   * stored standard deviations act as standard deviations. Default false.
   */
  imagenetRescaling?: boolean;
}

/** Block arguments after compound scaling, as Keras's block() receives them. */
interface BlockArgs {
  name: string;
  kernel: number;
  filtersIn: number;
  filtersOut: number;
  expandRatio: number;
  stride: 1 | 2;
  seRatio: number;
  dropRate: number;
}

/** Returns the scaled blocks of a variant in order, with Keras's names block1a_, block2a_, block2b_ and so on. */
export function kerasBlocks(variant: KerasVariant): BlockArgs[] {
  const { width, depth } = KERAS_SCALING[variant];
  const total = DEFAULT_STAGES.reduce((sum, stage) => sum + roundRepeats(stage.repeats, depth), 0);
  const blocks: BlockArgs[] = [];
  DEFAULT_STAGES.forEach((stage, stageIndex) => {
    const filtersIn = roundFilters(stage.filtersIn, width);
    const filtersOut = roundFilters(stage.filtersOut, width);
    for (let repeat = 0; repeat < roundRepeats(stage.repeats, depth); repeat++) {
      blocks.push({
        name: `block${stageIndex + 1}${String.fromCharCode(97 + repeat)}_`,
        kernel: stage.kernel,
        filtersIn: repeat === 0 ? filtersIn : filtersOut,
        filtersOut,
        expandRatio: stage.expandRatio,
        stride: repeat === 0 ? stage.stride : 1,
        seRatio: stage.seRatio,
        dropRate: (DROP_CONNECT_RATE * blocks.length) / total,
      });
    }
  });
  return blocks;
}

type Symbolic = tf.SymbolicTensor;

function apply(layer: tf.layers.Layer, x: Symbolic | Symbolic[]): Symbolic {
  return layer.apply(x) as Symbolic;
}

/** Adds one MBConv block in the layer order of Keras's block(). */
function addBlock(inputs: Symbolic, args: BlockArgs): Symbolic {
  const { name } = args;
  const filters = args.filtersIn * args.expandRatio;
  let x = inputs;
  if (args.expandRatio !== 1) {
    x = apply(tf.layers.conv2d({ filters, kernelSize: 1, padding: 'same', useBias: false, name: `${name}expand_conv` }), x);
    x = apply(tf.layers.batchNormalization({ axis: 3, name: `${name}expand_bn` }), x);
    x = apply(tf.layers.activation({ activation: 'swish', name: `${name}expand_activation` }), x);
  }

  let convPadding: 'same' | 'valid' = 'same';
  if (args.stride === 2) {
    const padding = correctPad(x.shape[1], x.shape[2], args.kernel);
    x = apply(tf.layers.zeroPadding2d({ padding, name: `${name}dwconv_pad` }), x);
    convPadding = 'valid';
  }
  x = apply(
    tf.layers.depthwiseConv2d({ kernelSize: args.kernel, strides: args.stride, padding: convPadding, useBias: false, name: `${name}dwconv` }),
    x,
  );
  x = apply(tf.layers.batchNormalization({ axis: 3, name: `${name}bn` }), x);
  x = apply(tf.layers.activation({ activation: 'swish', name: `${name}activation` }), x);

  if (args.seRatio > 0 && args.seRatio <= 1) {
    const filtersSe = Math.max(1, Math.floor(args.filtersIn * args.seRatio));
    let se = apply(tf.layers.globalAveragePooling2d({ name: `${name}se_squeeze` }), x);
    se = apply(tf.layers.reshape({ targetShape: [1, 1, filters], name: `${name}se_reshape` }), se);
    se = apply(tf.layers.conv2d({ filters: filtersSe, kernelSize: 1, padding: 'same', activation: 'swish', name: `${name}se_reduce` }), se);
    se = apply(tf.layers.conv2d({ filters, kernelSize: 1, padding: 'same', activation: 'sigmoid', name: `${name}se_expand` }), se);
    x = apply(tf.layers.multiply({ name: `${name}se_excite` }), [x, se]);
  }

  x = apply(tf.layers.conv2d({ filters: args.filtersOut, kernelSize: 1, padding: 'same', useBias: false, name: `${name}project_conv` }), x);
  x = apply(tf.layers.batchNormalization({ axis: 3, name: `${name}project_bn` }), x);
  if (args.stride === 1 && args.filtersIn === args.filtersOut) {
    if (args.dropRate > 0) {
      // Keras drops whole samples with noise_shape (None, 1, 1, 1). tfjs types noiseShape as number[], but stores and writes null as given.
      const noiseShape = [null, 1, 1, 1] as unknown as number[];
      x = apply(tf.layers.dropout({ rate: args.dropRate, noiseShape, name: `${name}drop` }), x);
    }
    x = apply(tf.layers.add({ name: `${name}add` }), [x, inputs]);
  }
  return x;
}

/**
 * Builds a Keras EfficientNet application with weights still at tfjs's
 * initializers; call randomizeWeights next.
 */
export function buildKerasEfficientNet(variant: KerasVariant, options: KerasEfficientNetOptions = {}): tf.LayersModel {
  const scaling = KERAS_SCALING[variant];
  const includeTop = options.includeTop ?? true;
  const inputShape = options.inputShape ?? [scaling.resolution, scaling.resolution, 3];
  if (includeTop && (inputShape[0] === null || inputShape[1] === null)) {
    throw new Error('Invalid Keras EfficientNet options: Keras needs a fixed inputShape when includeTop is true.');
  }

  const input = tf.input({ shape: inputShape, name: options.inputName ?? 'input_1' });
  let x = apply(tf.layers.rescaling({ scale: 1 / 255, offset: 0, name: 'rescaling' }), input);
  const inConfig = options.normalization === 'config';
  x = apply(
    new KerasNormalization({
      name: 'normalization',
      axis: [3],
      mean: inConfig ? IMAGENET_MEAN : null,
      variance: inConfig ? IMAGENET_VARIANCE : null,
    }),
    x,
  );
  if (options.imagenetRescaling) {
    x = apply(tf.layers.rescaling({ scale: IMAGENET_VARIANCE.map((std) => 1 / Math.sqrt(std)) as unknown as number, offset: 0, name: 'rescaling_1' }), x);
  }

  x = apply(tf.layers.zeroPadding2d({ padding: correctPad(x.shape[1], x.shape[2], 3), name: 'stem_conv_pad' }), x);
  x = apply(
    tf.layers.conv2d({ filters: roundFilters(32, scaling.width), kernelSize: 3, strides: 2, padding: 'valid', useBias: false, name: 'stem_conv' }),
    x,
  );
  x = apply(tf.layers.batchNormalization({ axis: 3, name: 'stem_bn' }), x);
  x = apply(tf.layers.activation({ activation: 'swish', name: 'stem_activation' }), x);

  for (const block of kerasBlocks(variant)) x = addBlock(x, block);

  x = apply(tf.layers.conv2d({ filters: roundFilters(1280, scaling.width), kernelSize: 1, padding: 'same', useBias: false, name: 'top_conv' }), x);
  x = apply(tf.layers.batchNormalization({ axis: 3, name: 'top_bn' }), x);
  x = apply(tf.layers.activation({ activation: 'swish', name: 'top_activation' }), x);

  if (includeTop) {
    x = apply(tf.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
    if (scaling.dropout > 0) x = apply(tf.layers.dropout({ rate: scaling.dropout, name: 'top_dropout' }), x);
    x = apply(
      tf.layers.dense({ units: options.classes ?? 1000, activation: options.classifierActivation ?? 'softmax', name: 'predictions' }),
      x,
    );
  } else if (options.pooling === 'avg') {
    x = apply(tf.layers.globalAveragePooling2d({ name: 'avg_pool' }), x);
  } else if (options.pooling === 'max') {
    x = apply(tf.layers.globalMaxPooling2d({ name: 'max_pool' }), x);
  }
  return tf.model({ inputs: input, outputs: x, name: options.name ?? `efficientnet${variant}` });
}

/**
 * Builds the transfer-learning model that Keras users write around a
 * backbone: EfficientNet without its top as one nested layer, then
 * GlobalAveragePooling2D, Dropout and a softmax Dense, with Keras's automatic
 * layer names. The backbone is built as `weights='imagenet'` builds it (with
 * the third Rescaling), since transfer learning starts from those weights.
 */
export function buildTransferModel(variant: KerasVariant, classes: number, normalization: 'config' | 'weights' = 'weights'): tf.LayersModel {
  const size = KERAS_SCALING[variant].resolution;
  const backbone = buildKerasEfficientNet(variant, { includeTop: false, pooling: null, normalization, imagenetRescaling: true });
  const input = tf.input({ shape: [size, size, 3], name: 'input_2' });
  let x = apply(backbone, input);
  x = apply(tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }), x);
  x = apply(tf.layers.dropout({ rate: 0.2, name: 'dropout' }), x);
  x = apply(tf.layers.dense({ units: classes, activation: 'softmax', name: 'dense' }), x);
  return tf.model({ inputs: input, outputs: x, name: 'model' });
}

// ---------------------------------------------------------------------------
// Seeded weights.

/**
 * Variance gain of convolution kernels over 1/fanIn. calibrateBatchNorm
 * normalizes the output of every convolution that BatchNorm follows, so this gain matters only
 * for the squeeze-excite convolutions. There a larger gain lets the gates move
 * away from sigmoid(0) = 1/2 and depend on the input.
 */
const CONV_KERNEL_GAIN = 2;
/** Standard deviation of the logits that calibrateBatchNorm gives a classifier, small enough that the softmax does not saturate. */
const LOGIT_STD = 3;
/** Height and width of the calibration image for a model that accepts any size, unless the caller passes one. */
const DEFAULT_CALIBRATION_SIZE = 224;

/** Draws count roughly standard normal values (Box-Muller over mulberry32). */
export function seededNormal(count: number, random: Random): Float32Array {
  const values = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random.next()));
    const angle = 2 * Math.PI * random.next();
    values[i] = radius * Math.cos(angle);
    if (i + 1 < count) values[i + 1] = radius * Math.sin(angle);
  }
  return values;
}

/** Returns count values uniform in [center - spread, center + spread). */
function uniformAround(count: number, center: number, spread: number, random: Random): Float32Array {
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = center + spread * (2 * random.next() - 1);
  return values;
}

/** Returns normal values with variance gain / fanIn. */
function kernelValues(count: number, fanIn: number, gain: number, random: Random): Float32Array {
  const values = seededNormal(count, random);
  const std = Math.sqrt(gain / fanIn);
  for (let i = 0; i < count; i++) values[i] *= std;
  return values;
}

/** Computes the new values of one layer's weights, in the layer's weight order, or null to leave them. */
function layerValues(layer: tf.layers.Layer, shapes: number[][], random: Random): Float32Array[] | null {
  const sizes = shapes.map((shape) => shape.reduce((a, b) => a * b, 1));
  switch (layer.getClassName()) {
    case 'Conv2D': {
      const [kh, kw, cin] = shapes[0];
      const kernel = kernelValues(sizes[0], kh * kw * cin, CONV_KERNEL_GAIN, random);
      // Only the squeeze-excite convolutions have a bias.
      return sizes.length > 1 ? [kernel, uniformAround(sizes[1], 0, 0.1, random)] : [kernel];
    }
    case 'DepthwiseConv2D': {
      const [kh, kw] = shapes[0];
      return [kernelValues(sizes[0], kh * kw, CONV_KERNEL_GAIN, random)];
    }
    case 'BatchNormalization': {
      // gamma, beta, moving mean, moving variance. calibrateBatchNorm replaces the moving statistics.
      const channels = sizes[0];
      return [
        uniformAround(channels, 1, 0.1, random),
        uniformAround(channels, 0, 0.05, random),
        new Float32Array(channels),
        new Float32Array(channels).fill(1),
      ];
    }
    case 'Dense':
      return [kernelValues(sizes[0], shapes[0][0], 1, random), uniformAround(sizes[1], 0, 0.1, random)];
    case 'Normalization':
      if (sizes.length === 0) return null;
      // Keras 2 keeps count as int64, which the tfjs converter writes as int32.
      return [Float32Array.from(IMAGENET_MEAN), Float32Array.from(IMAGENET_VARIANCE), new Float32Array([1281167])];
    default:
      if (sizes.length > 0) throw new Error(`randomizeWeights: layer ${layer.name} of class ${layer.getClassName()} has weights but no rule.`);
      return null;
  }
}

/**
 * Sets every weight of model (and of nested models) to seeded random values,
 * then calibrates the BatchNorm statistics (see calibrateBatchNorm). The same
 * seed and calibration size always give the same weights.
 */
export async function randomizeWeights(model: tf.LayersModel, seed: number, calibrationSize?: { height: number; width: number }): Promise<void> {
  const random = new Random(seed);
  const visit = (layer: tf.layers.Layer) => {
    if (layer instanceof tf.LayersModel) {
      layer.layers.forEach(visit);
      return;
    }
    // getWeights returns the variables' own tensors, so they must not be disposed here.
    const current = layer.getWeights();
    const shapes = current.map((tensor) => tensor.shape);
    const dtypes = current.map((tensor) => tensor.dtype);
    const values = layerValues(layer, shapes, random);
    if (values === null) return;
    const tensors = values.map((data, index) => tf.tensor(dtypes[index] === 'int32' ? Int32Array.from(data) : data, shapes[index], dtypes[index]));
    layer.setWeights(tensors);
    tf.dispose(tensors);
  };
  model.layers.forEach(visit);
  await calibrateBatchNorm(model, random, calibrationSize);
}

/**
 * Sets each BatchNorm's moving mean and variance to the per-channel statistics
 * of its input on one seeded random image, in one forward pass in layer
 * order, so each BatchNorm is measured on the output of the calibrated layers
 * before it. Dense layers are rescaled to logits of standard deviation LOGIT_STD.
 *
 * Without this, kernels drawn at a fixed gain either shrink the signal until
 * the logits barely depend on the input, or grow it without bound along the
 * residual stages: a gain that keeps B0 in range overflows B7 by 10^10. A
 * trained network's statistics normalize its activations in the same way.
 * The image should have the size the model will run at (by default the
 * model's own input size): on B0, statistics from 160x160 left the features
 * at 224x224 3.6 times larger, because small mismatches compound over the blocks.
 */
export async function calibrateBatchNorm(model: tf.LayersModel, random: Random, size?: { height: number; width: number }): Promise<void> {
  const [, modelHeight, modelWidth] = model.inputs[0].shape;
  const height = size?.height ?? modelHeight ?? DEFAULT_CALIBRATION_SIZE;
  const width = size?.width ?? modelWidth ?? DEFAULT_CALIBRATION_SIZE;
  const pixels = tf.tensor4d(Float32Array.from({ length: height * width * 3 }, () => 255 * random.next()), [1, height, width, 3]);
  const createdTensors: tf.Tensor[] = [pixels];
  try {
    await runLayers(model, pixels, { before: calibrateLayer }, createdTensors);
  } finally {
    tf.dispose(createdTensors);
  }
}

/** A node of a tfjs layer: its symbolic input and output tensors. tfjs-layers does not export the Node type. */
interface LayerNode {
  inputTensors: tf.SymbolicTensor[];
  outputTensors: tf.SymbolicTensor[];
}

/** Hooks that runLayers calls around each layer, nested models' layers included. */
interface LayerHooks {
  /** Runs just before the layer, with its input values. */
  before?: (layer: tf.layers.Layer, inputs: tf.Tensor[]) => void;
  /** Runs just after the layer, with its output value. */
  after?: (layer: tf.layers.Layer, output: tf.Tensor) => void;
}

/** Lets the event loop run, so the test runner's messages are not held up by a long tfjs computation. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs model eagerly on input, one layer at a time in the order that
 * model.predict uses, through the same layer apply calls, and yields to the
 * event loop after each layer. One synchronous predict of B4 or larger blocks
 * the worker for minutes, and vitest then fails the run with "Timeout calling
 * onTaskUpdate". Every tensor this makes is pushed to createdTensors for the
 * caller to dispose; values whose consumers have all run are disposed on the
 * way (disposing a tensor twice does nothing in tfjs).
 */
async function runLayers(model: tf.LayersModel, input: tf.Tensor, hooks: LayerHooks, createdTensors: tf.Tensor[]): Promise<tf.Tensor> {
  const inputId = model.inputs[0].id;
  const outputId = model.outputs[0].id;
  const values = new Map<number, tf.Tensor>([[inputId, input]]);
  // A nested model's last node is its call in the outer model. Every other layer has one node.
  const lastNode = (layer: tf.layers.Layer) => {
    const nodes = (layer as unknown as { inboundNodes: LayerNode[] }).inboundNodes;
    return nodes[nodes.length - 1];
  };
  // Consumers left for each value. A value is freed when its last consumer has
  // run: keeping every activation of B7 at 600x600 alive until the end needs
  // more memory than tfjs's wasm backend can hold.
  const consumers = new Map<number, number>([[outputId, 1]]);
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    for (const symbolic of lastNode(layer).inputTensors) consumers.set(symbolic.id, (consumers.get(symbolic.id) ?? 0) + 1);
  }
  const release = (id: number) => {
    const left = consumers.get(id)! - 1;
    consumers.set(id, left);
    const value = values.get(id);
    if (left > 0 || id === inputId || !value) return;
    values.delete(id);
    // Layers such as Dropout at inference return their input, so a tensor can stand for several values.
    if (![...values.values()].includes(value)) value.dispose();
  };
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    const node = lastNode(layer);
    const inputs = node.inputTensors.map((symbolic) => {
      const value = values.get(symbolic.id);
      if (!value) throw new Error(`runLayers: the input of layer ${layer.name} was not computed yet.`);
      return value;
    });
    let output: tf.Tensor;
    if (layer instanceof tf.LayersModel) {
      output = await runLayers(layer, inputs[0], hooks, createdTensors);
    } else {
      hooks.before?.(layer, inputs);
      output = layer.apply(inputs.length === 1 ? inputs[0] : inputs) as tf.Tensor;
      createdTensors.push(output);
      await yieldToEventLoop();
    }
    hooks.after?.(layer, output);
    values.set(node.outputTensors[0].id, output);
    for (const symbolic of node.inputTensors) release(symbolic.id);
  }
  return values.get(outputId)!;
}

/** Sets BatchNorm statistics and Dense scales from the layer's input, just before the layer runs. */
function calibrateLayer(layer: tf.layers.Layer, inputs: tf.Tensor[]): void {
  tf.tidy(() => {
    if (layer.getClassName() === 'BatchNormalization') setBatchStatistics(layer, inputs[0]);
    if (layer.getClassName() === 'Dense') scaleToLogitStd(layer, inputs[0]);
  });
}

/**
 * Scales a Dense layer's kernel and bias so that its pre-activation outputs on
 * x have standard deviation LOGIT_STD. Deep residual stages leave the
 * features of B2 and larger with rms in the tens, and logits of that size
 * saturate the softmax: every probability but one rounds to 0 or 1, and the
 * comparison of probabilities no longer sees errors.
 */
function scaleToLogitStd(layer: tf.layers.Layer, x: tf.Tensor): void {
  const [kernel, bias] = layer.getWeights();
  const logits = tf.add(tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D), bias);
  const std = Math.sqrt(tf.moments(logits).variance.dataSync()[0]);
  const factor = std > 0 ? LOGIT_STD / std : 1;
  layer.setWeights([tf.mul(kernel, factor), tf.mul(bias, factor)]);
}

/** Replaces a BatchNorm's moving mean and variance with the per-channel statistics of x [N, H, W, C]. */
function setBatchStatistics(layer: tf.layers.Layer, x: tf.Tensor): void {
  // getWeights returns the variables themselves; writing a variable's own tensor back into it would free it.
  const [gamma, beta] = layer.getWeights().map((tensor) => tensor.clone());
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  layer.setWeights([gamma, beta, mean, variance]);
}

// ---------------------------------------------------------------------------
// LayersModel files.

export type WeightEncoding = 'float32' | 'float16' | 'uint8' | 'uint16';

/** One weight in a manifest, as tfjs and its converter write it. */
export interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  quantization?: { dtype: 'float16' | 'uint8' | 'uint16'; min?: number; scale?: number; original_dtype?: string };
}

/** The model.json of a TensorFlow.js LayersModel. */
export interface LayersModelJson {
  format: 'layers-model';
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology: Record<string, unknown>;
  weightsManifest: Array<{ paths: string[]; weights: ManifestEntry[] }>;
}

/**
 * Returns the functional model's {class_name, config} from a model.json.
 * tfjs writes it as the modelTopology itself, and the converter nests it under
 * modelTopology.model_config.
 */
export function modelConfigOf(modelJson: LayersModelJson): { class_name: string; config: Record<string, unknown> } {
  const topology = modelJson.modelTopology as { model_config?: { class_name: string; config: Record<string, unknown> } };
  return topology.model_config ?? (modelJson.modelTopology as { class_name: string; config: Record<string, unknown> });
}

/** Renames tfjs's functional class Model to Keras 2's Functional, in nested models too. */
function renameModelClasses(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(renameModelClasses);
  if (value === null || typeof value !== 'object') return value;
  const renamed: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) renamed[key] = renameModelClasses(item);
  if (renamed.class_name === 'Model' && typeof renamed.config === 'object' && renamed.config !== null && 'layers' in renamed.config) {
    renamed.class_name = 'Functional';
  }
  return renamed;
}

export interface WriteOptions {
  /** How float32 weights are stored; int32 weights (Normalization's count) stay int32. Default 'float32'. */
  encoding?: WeightEncoding;
  /** Largest shard size in bytes, or null for one shard. The converter's default is 4 MiB. */
  shardBytes?: number | null;
  /**
   * Lay model.json out as the tfjs converter writes it from a Keras 2 model:
   * the config under modelTopology.model_config, class Functional in place of
   * tfjs's Model, and Keras's version and backend. Default false, which keeps
   * what tfjs's own save writes.
   */
  converterLayout?: boolean;
}

export interface WrittenModel {
  directory: string;
  modelJsonPath: string;
  modelJson: LayersModelJson;
  /** The weight data as one buffer, before it was split into shards. */
  weightData: Uint8Array;
}

/** Saves model through tfjs's own save API and returns the topology, the weight specs and the weight bytes. */
export async function saveArtifacts(model: tf.LayersModel): Promise<{ topology: Record<string, unknown>; specs: ManifestEntry[]; data: Uint8Array; generatedBy?: string }> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  const artifacts = saved as tf.io.ModelArtifacts | null;
  if (!artifacts?.modelTopology || !artifacts.weightSpecs || !artifacts.weightData) {
    throw new Error('tfjs save returned no topology or weights.');
  }
  const buffers = Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData];
  const data = new Uint8Array(buffers.reduce((total, buffer) => total + buffer.byteLength, 0));
  let offset = 0;
  for (const buffer of buffers) {
    data.set(new Uint8Array(buffer), offset);
    offset += buffer.byteLength;
  }
  return {
    topology: artifacts.modelTopology as Record<string, unknown>,
    specs: artifacts.weightSpecs as ManifestEntry[],
    data,
    generatedBy: artifacts.generatedBy,
  };
}

/** Rounds a float32 value to the nearest float16 (ties to even) and returns its bits. */
export function float16Bits(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half: shift the full mantissa (with its implicit 1) into 10 bits, rounding to even.
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    const rounded = full >>> shift;
    const remainder = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    const up = remainder > halfway || (remainder === halfway && (rounded & 1) === 1);
    return sign | (rounded + (up ? 1 : 0));
  }
  const rounded = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  const up = remainder > 0x1000 || (remainder === 0x1000 && (rounded & 1) === 1);
  // A carry out of the mantissa correctly moves to the next exponent (or to infinity).
  return sign | (rounded + (up ? 1 : 0));
}

/** Rounds half to even, as numpy's round does. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Quantizes values as the tfjs converter's quantize_weights does for uint8
 * and uint16: an affine range from the weight's min to max, nudged so that 0
 * is exact when the range covers it, then round(clip(x) - min) / scale.
 */
export function quantizeAffine(values: Float32Array, dtype: 'uint8' | 'uint16'): { codes: Uint8Array | Uint16Array; min: number; scale: number } {
  const levels = dtype === 'uint8' ? 255 : 65535;
  const codes = dtype === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
  let low = Infinity;
  let high = -Infinity;
  for (const value of values) {
    low = Math.min(low, value);
    high = Math.max(high, value);
  }
  if (low === high) return { codes, min: low, scale: 1 };
  const scale = (high - low) / levels;
  let min = low;
  let max = high;
  if (low <= 0 && 0 <= high) {
    const zeroPoint = roundHalfEven(-low / scale);
    min = -zeroPoint * scale;
    max = levels * scale + min;
  }
  for (let i = 0; i < values.length; i++) {
    const clipped = Math.min(max, Math.max(min, values[i]));
    codes[i] = roundHalfEven((clipped - min) / scale);
  }
  return { codes, min, scale };
}

/** Re-encodes float32 weight data in one of the converter's encodings and returns the new specs and bytes. */
export function encodeWeights(specs: ManifestEntry[], data: Uint8Array, encoding: WeightEncoding): { specs: ManifestEntry[]; data: Uint8Array } {
  if (encoding === 'float32') return { specs, data };
  const parts: Uint8Array[] = [];
  const encodedSpecs: ManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (spec.quantization) throw new Error(`encodeWeights: weight ${spec.name} is already quantized.`);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = data.slice(offset, offset + count * 4);
    offset += count * 4;
    if (spec.dtype !== 'float32') {
      // The converter quantizes only float weights.
      parts.push(bytes);
      encodedSpecs.push(spec);
      continue;
    }
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, count);
    if (encoding === 'float16') {
      const halves = Uint16Array.from(values, float16Bits);
      parts.push(new Uint8Array(halves.buffer));
      encodedSpecs.push({ ...spec, quantization: { dtype: 'float16', original_dtype: 'float32' } });
    } else {
      const { codes, min, scale } = quantizeAffine(values, encoding);
      parts.push(new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength));
      encodedSpecs.push({ ...spec, quantization: { dtype: encoding, min, scale, original_dtype: 'float32' } });
    }
  }
  if (offset !== data.length) throw new Error(`encodeWeights: the specs cover ${offset} bytes, but the data has ${data.length}.`);
  const joined = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let position = 0;
  for (const part of parts) {
    joined.set(part, position);
    position += part.length;
  }
  return { specs: encodedSpecs, data: joined };
}

/**
 * Writes model as model.json and binary shards into directory, as tfjs's file
 * format and its converter lay them out. Shards split the concatenated weight
 * bytes at fixed sizes, so one weight may span two shards.
 */
export async function writeLayersModel(model: tf.LayersModel, directory: string, options: WriteOptions = {}): Promise<WrittenModel> {
  const saved = await saveArtifacts(model);
  const { specs, data } = encodeWeights(saved.specs, saved.data, options.encoding ?? 'float32');

  const shardBytes = options.shardBytes ?? data.length;
  const shardCount = Math.max(1, Math.ceil(data.length / shardBytes));
  const paths = Array.from({ length: shardCount }, (_, index) => `group1-shard${index + 1}of${shardCount}.bin`);
  const modelJson: LayersModelJson = options.converterLayout
    ? {
        format: 'layers-model',
        generatedBy: 'keras v2.15.0',
        convertedBy: 'TensorFlow.js Converter v4.22.0',
        modelTopology: { keras_version: '2.15.0', backend: 'tensorflow', model_config: renameModelClasses(saved.topology) as Record<string, unknown> },
        weightsManifest: [{ paths, weights: specs }],
      }
    : {
        format: 'layers-model',
        generatedBy: saved.generatedBy,
        convertedBy: null,
        modelTopology: saved.topology,
        weightsManifest: [{ paths, weights: specs }],
      };

  await mkdir(directory, { recursive: true });
  for (let index = 0; index < shardCount; index++) {
    await writeFile(path.join(directory, paths[index]), data.subarray(index * shardBytes, (index + 1) * shardBytes));
  }
  const modelJsonPath = path.join(directory, 'model.json');
  await writeFile(modelJsonPath, JSON.stringify(modelJson));
  return { directory, modelJsonPath, modelJson, weightData: data };
}

/** Writes a model.json next to existing shards, e.g. the Keras 3 form of a written model. */
export async function writeModelJson(directory: string, modelJson: LayersModelJson, fileName = 'model.json'): Promise<string> {
  const filePath = path.join(directory, fileName);
  await writeFile(filePath, JSON.stringify(modelJson));
  return filePath;
}

/**
 * Loads a written model back into tfjs through a custom IOHandler, so tfjs
 * decodes the manifest and shards itself (float16 and affine quantization
 * included).
 */
export async function loadWrittenModel(written: Pick<WrittenModel, 'modelJson' | 'weightData'>): Promise<tf.LayersModel> {
  const { modelJson, weightData } = written;
  const handler: tf.io.IOHandler = {
    load: async () => ({
      modelTopology: modelJson.modelTopology,
      format: modelJson.format,
      generatedBy: modelJson.generatedBy,
      convertedBy: modelJson.convertedBy ?? undefined,
      weightSpecs: modelJson.weightsManifest.flatMap((group) => group.weights) as tf.io.WeightsManifestEntry[],
      weightData: weightData.slice().buffer,
    }),
  };
  return tf.loadLayersModel(handler);
}

// ---------------------------------------------------------------------------
// Keras 3 JSON.

/** A Keras 2 inbound connection as tfjs writes it: [layer name, node index, tensor index, kwargs]. */
type Keras2Connection = [string, number, number, Record<string, unknown>?];

interface Keras2Layer {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: Keras2Connection[][];
}

const KERAS3_FLOAT32_POLICY = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };

/** Layers whose call takes a list of tensors as its one positional argument. */
const MERGE_LAYERS = new Set(['Add', 'Multiply', 'Concatenate', 'Average', 'Maximum', 'Minimum', 'Subtract']);

/**
 * Rewrites the Keras 2 topology that tfjs writes for a flat functional model
 * into the JSON shape that Keras 3 writes: class Functional with module,
 * registered_name and build_config fields, InputLayer's batch_shape in place
 * of batch_input_shape, DTypePolicy objects as layer dtypes, and inbound nodes
 * as {args, kwargs} holding __keras_tensor__ objects with shape, dtype and
 * keras_history. Shapes come from model, which must be the model that
 * produced the topology.
 */
export function toKeras3ModelJson(modelJson: LayersModelJson, model: tf.LayersModel): LayersModelJson {
  const modelConfig = modelConfigOf(modelJson).config as {
    name: string;
    layers: Keras2Layer[];
    input_layers: Array<[string, number, number]>;
    output_layers: Array<[string, number, number]>;
  };

  const outputShape = (name: string, tensorIndex: number): (number | null)[] => {
    const layer = model.getLayer(name);
    if (layer instanceof tf.LayersModel) throw new Error(`toKeras3ModelJson: nested model ${name} is not supported.`);
    const shape = layer.outputShape;
    return (Array.isArray(shape[0]) ? (shape as tf.Shape[])[tensorIndex] : shape) as (number | null)[];
  };
  const keras3Tensor = ([name, nodeIndex, tensorIndex]: Keras2Connection) => ({
    class_name: '__keras_tensor__',
    config: { shape: outputShape(name, tensorIndex), dtype: 'float32', keras_history: [name, nodeIndex, tensorIndex] },
  });

  const layers = modelConfig.layers.map((layer) => {
    if (layer.class_name === 'InputLayer') {
      const { batch_input_shape: batchShape, ...rest } = layer.config;
      return {
        module: 'keras.layers',
        class_name: 'InputLayer',
        config: { ...rest, batch_shape: batchShape, dtype: 'float32', sparse: false, ragged: false },
        registered_name: null,
        name: layer.name,
        inbound_nodes: [],
      };
    }
    if (layer.inbound_nodes.length !== 1) throw new Error(`toKeras3ModelJson: layer ${layer.name} is called ${layer.inbound_nodes.length} times; only one call is supported.`);
    const connections = layer.inbound_nodes[0];
    const inputShapes = connections.map(([name, , tensorIndex]) => outputShape(name, tensorIndex));
    const merge = MERGE_LAYERS.has(layer.class_name);
    return {
      module: 'keras.layers',
      class_name: layer.class_name,
      config: { ...layer.config, dtype: KERAS3_FLOAT32_POLICY },
      registered_name: null,
      build_config: { input_shape: merge ? inputShapes : inputShapes[0] },
      name: layer.name,
      inbound_nodes: [{ args: merge ? [connections.map(keras3Tensor)] : [keras3Tensor(connections[0])], kwargs: {} }],
    };
  });

  if (modelConfig.input_layers.length !== 1 || modelConfig.output_layers.length !== 1) {
    throw new Error('toKeras3ModelJson: only models with one input and one output are supported.');
  }
  const keras3Topology = {
    class_name: 'Functional',
    config: {
      name: modelConfig.name,
      trainable: true,
      layers,
      // Keras 3 keeps the structure the model was called with: one tensor, not a list of one.
      input_layers: modelConfig.input_layers[0],
      output_layers: modelConfig.output_layers[0],
    },
    module: 'keras.src.models.functional',
    registered_name: 'Functional',
    build_config: { input_shape: null },
  };
  return {
    ...modelJson,
    generatedBy: 'keras v3.6.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: { keras_version: '3.6.0', backend: 'tensorflow', model_config: keras3Topology },
  };
}

// ---------------------------------------------------------------------------
// Comparing our outputs with tfjs.

/** Largest allowed |ours - tfjs| of an output value, relative to max(1, |tfjs value|). */
export const OUTPUT_TOLERANCE = 1e-4;

/**
 * Smallest relative change of the largest-moving logit when the input is
 * replaced by a second random input. Below 50 times OUTPUT_TOLERANCE, an error
 * in an early layer could reach the logits under the tolerance and pass.
 */
export const MIN_INPUT_SENSITIVITY = 50 * OUTPUT_TOLERANCE;

/** Returns count seeded pixel values uniform in [0, 255), the range Keras's EfficientNet takes. */
export function seededPixels(count: number, seed: number): Float32Array {
  const random = new Random(seed);
  return Float32Array.from({ length: count }, () => 255 * random.next());
}

/** Outputs of one batched tfjs prediction, one row per input. */
export interface TfjsReference {
  outputs: Float32Array[];
  /**
   * Logits per input: for a model that ends in a softmax Dense, its input times
   * its kernel plus bias in f64; otherwise the outputs themselves.
   */
  logits: Float64Array[];
  /** Shapes of the layers named in taps, [1, height, width, channels]. */
  tapShapes: Map<string, number[]>;
}

/**
 * Runs each input ([height, width, 3]) through model with tfjs, one layer at
 * a time (see runLayers), and disposes every tensor it made. Shapes of the
 * layers named in taps are recorded.
 */
export async function predictTfjs(model: tf.LayersModel, inputs: Float32Array[], height: number, width: number, taps: string[] = []): Promise<TfjsReference> {
  const last = model.layers[model.layers.length - 1];
  const softmaxDense = last.getClassName() === 'Dense' && (last.getConfig().activation as string) === 'softmax';
  const reference: TfjsReference = { outputs: [], logits: [], tapShapes: new Map() };

  for (const input of inputs) {
    const hooks: LayerHooks = {
      before: (layer, layerInputs) => {
        if (layer === last && softmaxDense) reference.logits.push(denseLogits(last, layerInputs[0]));
      },
      after: (layer, output) => {
        if (taps.includes(layer.name)) reference.tapShapes.set(layer.name, output.shape);
      },
    };
    const x = tf.tensor4d(input, [1, height, width, 3]);
    const createdTensors: tf.Tensor[] = [x];
    try {
      const output = await runLayers(model, x, hooks, createdTensors);
      reference.outputs.push(output.dataSync().slice() as Float32Array);
    } finally {
      tf.dispose(createdTensors);
    }
    if (!softmaxDense) reference.logits.push(Float64Array.from(reference.outputs[reference.outputs.length - 1]));
  }
  return reference;
}

/** Computes a Dense layer's pre-activation outputs for features [1, C] in f64. */
function denseLogits(layer: tf.layers.Layer, features: tf.Tensor): Float64Array {
  const values = features.dataSync();
  const [kernel, bias] = layer.getWeights().map((tensor) => tensor.dataSync());
  const classes = bias.length;
  const logits = Float64Array.from(bias);
  for (let c = 0; c < values.length; c++) {
    for (let k = 0; k < classes; k++) logits[k] += values[c] * kernel[c * classes + k];
  }
  return logits;
}

/** What a failure message names. */
export interface ComparisonLabel {
  model: string;
  build: string;
  seed: number;
}

/**
 * Checks that both outputs are finite and that every value is within
 * OUTPUT_TOLERANCE * max(1, |tfjs value|), and prints the largest difference.
 * Returns the largest |difference|.
 */
export function expectMatchesTfjs(actual: Float32Array, expected: Float32Array, label: ComparisonLabel): number {
  const context = `${label.model}, ${label.build} build, seed ${label.seed}`;
  expect(actual.length, `${context}: output length`).toBe(expected.length);
  const badExpected = expected.findIndex((value) => !Number.isFinite(value));
  expect(badExpected, `${context}: tfjs output at index ${badExpected} is ${expected[badExpected]}`).toBe(-1);
  const badActual = actual.findIndex((value) => !Number.isFinite(value));
  expect(badActual, `${context}: our output at index ${badActual} is ${actual[badActual]}`).toBe(-1);

  let largest = 0;
  let largestIndex = 0;
  let worstRatio = 0;
  let worstIndex = 0;
  for (let i = 0; i < expected.length; i++) {
    const difference = Math.abs(actual[i] - expected[i]);
    if (difference > largest) {
      largest = difference;
      largestIndex = i;
    }
    const ratio = difference / (OUTPUT_TOLERANCE * Math.max(1, Math.abs(expected[i])));
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worstIndex = i;
    }
  }
  console.log(
    `${context}: largest |ours - tfjs| ${largest.toExponential(3)} at index ${largestIndex} ` +
      `(ours ${actual[largestIndex]}, tfjs ${expected[largestIndex]}); largest difference / tolerance ${worstRatio.toFixed(4)}`,
  );
  const allowed = OUTPUT_TOLERANCE * Math.max(1, Math.abs(expected[worstIndex]));
  expect(
    worstRatio,
    `${context}: output ${worstIndex} differs by ${Math.abs(actual[worstIndex] - expected[worstIndex])}, more than the allowed ${allowed} ` +
      `(ours ${actual[worstIndex]}, tfjs ${expected[worstIndex]})`,
  ).toBeLessThanOrEqual(1);
  return largest;
}

/**
 * Checks the log-probabilities of a softmax output against tfjs's, which a
 * saturated softmax needs: when one probability is near 1, every difference
 * in the others is far below OUTPUT_TOLERANCE, whatever the logits did. If
 * every logit is within OUTPUT_TOLERANCE * max(1, |logit|), each
 * log-probability moves by at most twice that bound at the largest |logit|.
 * Probabilities below 1e-30 are skipped, because f32 softmax loses their bits.
 */
export function expectLogProbabilitiesMatch(actual: Float32Array, expected: Float32Array, logits: Float64Array, label: ComparisonLabel): void {
  const context = `${label.model}, ${label.build} build, seed ${label.seed}`;
  const largestLogit = logits.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
  const allowed = 2 * OUTPUT_TOLERANCE * Math.max(1, largestLogit);
  let worst = 0;
  let worstIndex = -1;
  let compared = 0;
  for (let i = 0; i < expected.length; i++) {
    if (expected[i] < 1e-30) continue;
    compared++;
    expect(actual[i], `${context}: our probability ${i} is ${actual[i]}, tfjs ${expected[i]}`).toBeGreaterThan(0);
    const difference = Math.abs(Math.log(actual[i]) - Math.log(expected[i]));
    if (difference > worst) {
      worst = difference;
      worstIndex = i;
    }
  }
  console.log(
    `${context}: largest |log p ours - log p tfjs| ${worst.toExponential(3)} at index ${worstIndex} over ${compared} classes ` +
      `(allowed ${allowed.toExponential(3)}, largest |logit| ${largestLogit.toFixed(3)})`,
  );
  expect(
    worst,
    `${context}: log-probability ${worstIndex} differs by ${worst}, more than the allowed ${allowed} ` +
      `(ours ${actual[worstIndex]}, tfjs ${expected[worstIndex]})`,
  ).toBeLessThanOrEqual(allowed);
}

/** Checks that a second input moves some tfjs logit by at least MIN_INPUT_SENSITIVITY relative to max(1, |logit|). */
export function expectInputSensitive(reference: TfjsReference, model: string, seed: number): void {
  const [first, second] = reference.logits;
  let largest = 0;
  let largestIndex = 0;
  for (let i = 0; i < first.length; i++) {
    const change = Math.abs(first[i] - second[i]) / Math.max(1, Math.abs(first[i]));
    if (change > largest) {
      largest = change;
      largestIndex = i;
    }
  }
  console.log(`${model}, seed ${seed}: a second input moves logit ${largestIndex} by ${largest.toExponential(3)} (relative)`);
  expect(
    largest,
    `${model}, seed ${seed}: the tfjs logits barely depend on the input (largest relative change ${largest} at index ${largestIndex}), ` +
      'so the comparison cannot see errors in early layers.',
  ).toBeGreaterThanOrEqual(MIN_INPUT_SENSITIVITY);
}
